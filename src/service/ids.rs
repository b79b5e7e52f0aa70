//! Route 53-shaped object ids: random for API zones and changes, derived
//! from the name for file zones.

use rand::Rng;

/// A stable pseudo-random hosted-zone id for a file-managed zone.
pub(super) fn file_zone_id(name: &str) -> String {
    // FNV-1a: stable across runs and releases, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("ZF{}", base32(h, 13))
}

/// `n` upper-case base-32 characters of `v` (Route 53 ids use [A-Z0-9]).
pub(super) fn base32(mut v: u64, n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    (0..n)
        .map(|_| {
            let c = ALPHABET[(v % 32) as usize] as char;
            v /= 32;
            c
        })
        .collect()
}

pub(super) fn new_zone_id() -> String {
    format!("Z{}", base32(rand::rng().random(), 13))
}

pub(super) fn new_change_id() -> String {
    format!("C{}", base32(rand::rng().random(), 13))
}
