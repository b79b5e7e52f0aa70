//! Browser sessions of the status page, when the API has a token.
//!
//! Signing in trades the token for a session id in an `HttpOnly`,
//! `SameSite=Strict` cookie (`Secure` over TLS): the token itself never
//! goes into a cookie, a URL or a script. Ids are 256 random bits from the
//! system's generator; the store keeps only their SHA-256, so looking one
//! up compares digests (no timing leak of stored ids) and a memory dump
//! yields nothing to replay. Sessions live in memory: a restart signs
//! everyone out, which is also how a changed token takes effect.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};

/// How long a session lasts after sign-in.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Most sessions held at once; past it the one closest to expiry goes.
pub const MAX_SESSIONS: usize = 256;
/// The cookie's name over plain HTTP.
pub const COOKIE: &str = "eightfold_session";
/// The cookie's name over TLS: the `__Host-` prefix makes the browser
/// refuse it unless it is `Secure`, for this host only, on path `/`.
pub const COOKIE_TLS: &str = "__Host-eightfold_session";

/// What a session (or a credential) may do. The token grants
/// [`Rights::Write`]; every view asks only for [`Rights::Read`], so a
/// read-only credential, once there is one, sees the pages too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rights {
    /// See every page.
    Read,
    /// Also change things (the override switch).
    Write,
}

/// The system's generator failed: no session can be made safely.
#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed; cannot start a session")]
pub struct NoRandom;

struct Session {
    expires: Instant,
    rights: Rights,
}

/// The live sessions.
pub struct Sessions {
    by_digest: Mutex<HashMap<[u8; 32], Session>>,
    random: SystemRandom,
    lifetime: Duration,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::with_lifetime(LIFETIME)
    }
}

fn digest_of(id: &str) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, id.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl Sessions {
    /// Sessions that last `lifetime` (tests shorten it).
    pub fn with_lifetime(lifetime: Duration) -> Sessions {
        Sessions {
            by_digest: Mutex::new(HashMap::new()),
            random: SystemRandom::new(),
            lifetime,
        }
    }

    /// How long a new session lasts (the cookie's `Max-Age`).
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Starts a session; returns its id (64 hex digits), for the cookie.
    pub fn create(&self, rights: Rights) -> Result<String, NoRandom> {
        let mut bytes = [0u8; 32];
        self.random.fill(&mut bytes).map_err(|_| NoRandom)?;
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(
            digest_of(&id),
            Session {
                expires: now + self.lifetime,
                rights,
            },
        );
        Ok(id)
    }

    /// The rights of a live session, `None` for an unknown or expired id.
    pub fn rights(&self, id: &str) -> Option<Rights> {
        let key = digest_of(id);
        let mut map = self.lock();
        match map.get(&key) {
            Some(s) if s.expires > Instant::now() => Some(s.rights),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends a session (sign out).
    pub fn remove(&self, id: &str) {
        self.lock().remove(&digest_of(id));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.by_digest.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The session id in a `Cookie` header, under `name`.
pub fn from_cookie_header<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// The `Set-Cookie` value that stores `id`; over TLS the cookie is
/// `Secure` and `__Host-` prefixed.
pub fn set_cookie(id: &str, max_age: Duration, tls: bool) -> String {
    let (name, secure) = if tls {
        (COOKIE_TLS, "; Secure")
    } else {
        (COOKIE, "")
    };
    format!(
        "{name}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age.as_secs()
    )
}

/// The `Set-Cookie` value that deletes the cookie.
pub fn clear_cookie(tls: bool) -> String {
    set_cookie("", Duration::ZERO, tls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_long_random_and_unknown_ids_have_no_rights() {
        let s = Sessions::default();
        let a = s.create(Rights::Write).unwrap();
        let b = s.create(Rights::Read).unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(s.rights(&a), Some(Rights::Write));
        assert_eq!(s.rights(&b), Some(Rights::Read));
        assert_eq!(s.rights(&a[..63]), None);
        assert_eq!(s.rights(""), None);
        s.remove(&a);
        assert_eq!(s.rights(&a), None);
        assert_eq!(s.rights(&b), Some(Rights::Read));
    }

    #[test]
    fn sessions_expire_and_their_number_is_bounded() {
        let s = Sessions::with_lifetime(Duration::ZERO);
        let id = s.create(Rights::Write).unwrap();
        assert_eq!(s.rights(&id), None, "expired at once");
        let s = Sessions::default();
        let first = s.create(Rights::Write).unwrap();
        for _ in 0..MAX_SESSIONS {
            s.create(Rights::Write).unwrap();
        }
        assert_eq!(s.lock().len(), MAX_SESSIONS);
        assert_eq!(s.rights(&first), None, "the oldest made room");
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_over_tls() {
        let plain = set_cookie("abc", LIFETIME, false);
        assert_eq!(
            plain,
            "eightfold_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200"
        );
        let tls = set_cookie("abc", LIFETIME, true);
        assert!(tls.starts_with("__Host-eightfold_session=abc;"));
        assert!(tls.ends_with("; Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
        let header = "a=1; eightfold_session=abc ; __Host-eightfold_session=\"def\"";
        assert_eq!(from_cookie_header(header, COOKIE), Some("abc"));
        assert_eq!(from_cookie_header(header, COOKIE_TLS), Some("def"));
        assert_eq!(from_cookie_header("x=y", COOKIE), None);
    }
}
