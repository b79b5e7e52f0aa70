//! TTLs and SOA timers as BIND, NSD and Knot write them: seconds (`3600`)
//! or a sum of numbers with units (`1h30m`, `1W2d`, units `s m h d w` in
//! either case; a number without a unit at the end counts seconds).
//!
//! By hand because `domain` 0.12 reads these fields as plain `u32`s only,
//! and no crate on crates.io reads exactly this BIND syntax (humantime, in
//! the tree, wants spaces and knows no bare-number tail).

/// Why a TTL does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TtlError {
    /// A character other than a digit or a unit, or a unit without a number.
    #[error("invalid TTL: use seconds or units s, m, h, d, w (e.g. 1h30m)")]
    Syntax,
    /// The sum is above 4294967295 seconds.
    #[error("TTL too large: at most 4294967295 seconds")]
    Overflow,
}

/// Seconds of `text`, e.g. `90`, `1h30m`, `2D`.
pub fn parse(text: &str) -> Result<u32, TtlError> {
    if text.is_empty() {
        return Err(TtlError::Syntax);
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            let n = number.unwrap_or(0) * 10 + u64::from(d);
            if n > u64::from(u32::MAX) {
                return Err(TtlError::Overflow);
            }
            number = Some(n);
            continue;
        }
        let unit: u64 = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(TtlError::Syntax),
        };
        total += number.take().ok_or(TtlError::Syntax)? * unit;
        if total > u64::from(u32::MAX) {
            return Err(TtlError::Overflow);
        }
    }
    total += number.unwrap_or(0);
    u32::try_from(total).map_err(|_| TtlError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_seconds_and_units() {
        assert_eq!(parse("3600"), Ok(3600));
        assert_eq!(parse("1h30m"), Ok(5400));
        assert_eq!(parse("1H"), Ok(3600));
        assert_eq!(parse("1w2d3h4m5s"), Ok(788_645));
        assert_eq!(parse("1h30"), Ok(3630));
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("4294967295"), Ok(u32::MAX));
    }

    #[test]
    fn refuses_what_is_not_a_ttl() {
        assert_eq!(parse(""), Err(TtlError::Syntax));
        assert_eq!(parse("h"), Err(TtlError::Syntax));
        assert_eq!(parse("1x"), Err(TtlError::Syntax));
        assert_eq!(parse("1hh"), Err(TtlError::Syntax));
        assert_eq!(parse("4294967296"), Err(TtlError::Overflow));
        assert_eq!(parse("9999999w"), Err(TtlError::Overflow));
    }
}
