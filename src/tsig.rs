//! TSIG keys (RFC 8945): the `[[tsig_key]]` declarations, and the key ring
//! that verifies signed requests and signs their responses.
//!
//! The cryptography, the signed-data layout and the time check are
//! `domain`'s (`domain::tsig`); this module only turns declarations into
//! its keys and finds them by name.

use std::sync::Arc;

use domain::base::ToName;
use domain::tsig::{Algorithm, Key, KeyName, KeyStore};

use crate::model::DName;

/// The algorithm of a key that names none.
pub const DEFAULT_ALGORITHM: Algorithm = Algorithm::Sha256;

/// A declared key, checked: what the config holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsigKey {
    /// The key's name, as written (compared case-insensitively).
    pub name: DName,
    /// The HMAC algorithm.
    pub algorithm: Algorithm,
    /// The shared secret.
    pub secret: Vec<u8>,
    /// What it may change by dynamic update; nothing when empty.
    pub update: Vec<crate::update::UpdateRule>,
}

/// Reads an algorithm as BIND, NSD and Knot write it (`hmac-sha256`, any
/// case, with or without the final dot). HMAC-MD5 and GSS-TSIG are refused
/// by name, with what to use instead.
pub fn parse_algorithm(text: &str) -> Result<Algorithm, String> {
    let name = text.trim_end_matches('.').to_ascii_lowercase();
    match name.as_str() {
        "hmac-sha1" => Ok(Algorithm::Sha1),
        "hmac-sha256" => Ok(Algorithm::Sha256),
        "hmac-sha384" => Ok(Algorithm::Sha384),
        "hmac-sha512" => Ok(Algorithm::Sha512),
        "hmac-md5" | "hmac-md5.sig-alg.reg.int" => Err(format!(
            "algorithm {text:?} (HMAC-MD5) is refused: MD5 is broken (RFC 8945 §6 no longer \
             recommends it); make a new secret with hmac-sha256"
        )),
        _ => Err(format!(
            "unknown TSIG algorithm {text:?}; use hmac-sha256 (the default), hmac-sha384, \
             hmac-sha512 or hmac-sha1"
        )),
    }
}

/// Decodes a base64 secret (as `tsig-keygen`, `keymgr` and `ldns-keygen`
/// print it); whitespace inside is ignored.
pub fn parse_secret(text: &str) -> Result<Vec<u8>, String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Err("the secret is empty; give the base64 secret, e.g. from `tsig-keygen`".into());
    }
    domain::utils::base64::decode::<Vec<u8>>(&compact)
        .map_err(|_| "the secret is not base64 (as `tsig-keygen` prints it)".to_string())
}

/// Every configured key, ready to verify and sign. Cheap to share.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    keys: Arc<Vec<Arc<Key>>>,
}

impl KeyRing {
    /// The ring of `keys` (already validated: a bad secret length cannot
    /// happen, as HMAC takes any).
    pub fn new(keys: &[TsigKey]) -> KeyRing {
        let keys = keys
            .iter()
            .filter_map(|k| {
                let name: KeyName = k.name.try_to_name().ok()?;
                Key::new(k.algorithm, &k.secret, name, None, None)
                    .ok()
                    .map(Arc::new)
            })
            .collect();
        KeyRing {
            keys: Arc::new(keys),
        }
    }

    /// True when no key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key named `name`, whatever its algorithm (for signing NOTIFY).
    pub fn named(&self, name: &impl ToName) -> Option<Arc<Key>> {
        self.keys.iter().find(|k| k.name().name_eq(name)).cloned()
    }
}

impl KeyStore for KeyRing {
    type Key = Arc<Key>;

    fn get_key<N: ToName>(&self, name: &N, algorithm: Algorithm) -> Option<Arc<Key>> {
        // A handful of keys: a scan, comparing names without case.
        self.keys
            .iter()
            .find(|k| k.algorithm() == algorithm && k.name().name_eq(name))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn algorithms_are_read_as_other_servers_write_them_and_md5_is_refused_by_name() {
        assert_eq!(parse_algorithm("hmac-sha256"), Ok(Algorithm::Sha256));
        assert_eq!(parse_algorithm("HMAC-SHA512."), Ok(Algorithm::Sha512));
        assert_eq!(parse_algorithm("hmac-sha1"), Ok(Algorithm::Sha1));
        let md5 = parse_algorithm("hmac-md5").unwrap_err();
        assert!(
            md5.contains("\"hmac-md5\"") && md5.contains("refused"),
            "{md5}"
        );
        assert!(
            parse_algorithm("hmac-sha3")
                .unwrap_err()
                .contains("unknown")
        );
    }

    #[test]
    fn keys_are_found_by_name_without_case_and_by_algorithm() {
        let key = TsigKey {
            name: DName::from_str("Xfr.Example.").unwrap(),
            algorithm: Algorithm::Sha256,
            secret: parse_secret("c2VjcmV0c2VjcmV0c2VjcmV0").unwrap(),
            update: Vec::new(),
        };
        let ring = KeyRing::new(&[key]);
        let name = DName::from_str("xfr.example.").unwrap();
        assert!(ring.get_key(&name, Algorithm::Sha256).is_some());
        assert!(ring.get_key(&name, Algorithm::Sha512).is_none());
        assert!(ring.named(&name).is_some());
        assert!(parse_secret("not base64!").is_err());
        assert!(parse_secret("  ").is_err());
    }
}
