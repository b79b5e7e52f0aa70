//! DNS cookies (RFC 7873) with server cookies in RFC 9018's interoperable
//! format, so that every server of a fleet given the same secret accepts
//! the others' cookies.
//!
//! A request with a COOKIE option gets a fresh server cookie back in every
//! response (errors included): version 1, the time, and SipHash-2-4 over the
//! client cookie, those fields and the client's address, keyed with the
//! secret. The hashing is `domain`'s (`StandardServerCookie`), not ours.
//!
//! BADCOOKIE is never sent: RFC 7873 §5.2.3 lets a server answer a request
//! whose server cookie is missing or wrong as if it carried only a client
//! cookie, and a server that does not require cookies does exactly that
//! (as BIND and Knot do by default). What a valid server cookie earns is an
//! exemption from response-rate limiting: it proves the source address is
//! not spoofed, which is what the limit guards against.

use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use domain::base::opt::cookie::{Cookie, StandardServerCookie};
use domain::base::{Message, Serial};
use rand::RngCore;

/// Length of a client cookie and the standard server cookie together.
pub const RESPONSE_LEN: usize = 8 + 16;

/// A server cookie older than this is not valid (RFC 9018 §4.3: one hour).
const MAX_AGE_SECS: u32 = 3600;
/// A server cookie this far in the future is still valid (RFC 9018 §4.3:
/// five minutes of clock skew between the servers of a fleet).
const MAX_AHEAD_SECS: u32 = 300;

/// The server secret: from the config (`[server] cookie_secret`, shared by
/// a fleet) or random for this process (the default).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CookieSecret(pub [u8; 16]);

impl Default for CookieSecret {
    fn default() -> Self {
        *PROCESS_SECRET
    }
}

impl std::fmt::Debug for CookieSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieSecret(..)")
    }
}

/// The secret of a process whose config sets none: drawn once, so that a
/// reload does not invalidate every client's cookie.
static PROCESS_SECRET: LazyLock<CookieSecret> = LazyLock::new(|| {
    let mut secret = [0; 16];
    rand::rng().fill_bytes(&mut secret);
    CookieSecret(secret)
});

impl CookieSecret {
    /// `configured`, or this process's random secret.
    pub fn or_random(configured: Option<[u8; 16]>) -> CookieSecret {
        configured.map_or_else(CookieSecret::default, CookieSecret)
    }

    /// Parses the config's 32 hexadecimal digits.
    pub fn parse_hex(text: &str) -> Option<[u8; 16]> {
        let text = text.trim();
        if text.len() != 32 || !text.is_ascii() {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(out)
    }
}

/// What to answer a request's cookie with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// The COOKIE option's data for the response: the client cookie and a
    /// new server cookie.
    pub data: [u8; RESPONSE_LEN],
    /// The request carried a server cookie this server (or one sharing its
    /// secret) made for this client within the last hour.
    pub valid: bool,
}

/// The COOKIE option's data answering `request`'s cookie from `client`,
/// when the request carries one: for the responses written off the answer
/// path (transfers, updates), which need no rate-limit exemption.
pub fn for_request(
    request: &Message<&[u8]>,
    client: IpAddr,
    secret: &CookieSecret,
) -> Option<[u8; RESPONSE_LEN]> {
    let cookie = request.opt()?.opt().first::<Cookie>()?;
    Some(answer(&cookie, client.to_canonical(), secret, SystemTime::now()).data)
}

/// The answer to `cookie`, sent from `client`, at `now`.
pub fn answer(cookie: &Cookie, client: IpAddr, secret: &CookieSecret, now: SystemTime) -> Answer {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32);
    let valid = cookie.check_server_hash(client, &secret.0, |stamp| {
        // RFC 1982 distance, both ways, in whole seconds.
        let age = now.wrapping_sub(stamp.into_int());
        age <= MAX_AGE_SECS || age.wrapping_neg() <= MAX_AHEAD_SECS
    });
    let server = StandardServerCookie::calculate(cookie.client(), Serial(now), client, &secret.0);
    let mut data = [0u8; RESPONSE_LEN];
    data[..8].copy_from_slice(&cookie.client().into_octets());
    data[8] = server.version();
    data[9..12].copy_from_slice(&server.reserved());
    data[12..16].copy_from_slice(&server.timestamp().into_int().to_be_bytes());
    data[16..].copy_from_slice(&server.hash());
    Answer { data, valid }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::base::opt::cookie::{ClientCookie, ServerCookie};
    use std::time::Duration;

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn returned(a: &Answer) -> Cookie {
        Cookie::new(
            ClientCookie::from_octets(a.data[..8].try_into().unwrap()),
            Some(ServerCookie::from_octets(&a.data[8..])),
        )
    }

    #[test]
    fn a_returned_cookie_is_valid_for_an_hour_from_the_same_address_only() {
        let secret = CookieSecret([7; 16]);
        let first = Cookie::new(ClientCookie::from_octets([1; 8]), None);
        let a = answer(&first, CLIENT, &secret, at(0));
        assert!(!a.valid, "no server cookie yet");
        assert_eq!(a.data[..8], [1; 8], "the client cookie is echoed");
        assert_eq!(a.data[8], 1, "RFC 9018 version 1");
        let back = returned(&a);
        assert!(answer(&back, CLIENT, &secret, at(10)).valid);
        assert!(answer(&back, CLIENT, &secret, at(3600)).valid);
        assert!(!answer(&back, CLIENT, &secret, at(3601)).valid, "too old");
        let elsewhere = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 8));
        assert!(!answer(&back, elsewhere, &secret, at(10)).valid);
        assert!(!answer(&back, CLIENT, &CookieSecret([8; 16]), at(10)).valid);
        // Made by a fleet member whose clock is a little ahead.
        assert!(answer(&back, CLIENT, &secret, at(0) - Duration::from_secs(300)).valid);
        assert!(!answer(&back, CLIENT, &secret, at(0) - Duration::from_secs(301)).valid);
    }

    #[test]
    fn the_secret_is_32_hex_digits() {
        assert_eq!(
            CookieSecret::parse_hex("000102030405060708090a0b0c0d0e0F"),
            Some([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])
        );
        for bad in [
            "",
            "00",
            "000102030405060708090a0b0c0d0e0g",
            "é00102030405060708090a0b0c0d0e",
        ] {
            assert_eq!(CookieSecret::parse_hex(bad), None, "{bad:?}");
        }
        assert_eq!(CookieSecret::or_random(None), CookieSecret::or_random(None));
        assert_eq!(CookieSecret::or_random(Some([3; 16])).0, [3; 16]);
    }
}
