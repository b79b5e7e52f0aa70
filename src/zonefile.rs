//! RFC 1035 master files and single record values, read with `domain`'s
//! zone-file scanner.
//!
//! The scanner handles `$ORIGIN`, `$TTL`, `@`, relative names, parentheses,
//! quoted strings, escapes and RFC 3597 `\#` data. This module adds what it
//! does not: locations for errors found after scanning, grouping of the
//! records into one simple record per name and type, and the checks that a
//! record belongs to its zone.

use std::path::Path;

use bytes::Bytes;
use domain::base::ToName;
use domain::base::iana::{Class, Rtype};
use domain::base::name::FlattenInto;
use domain::base::rdata::RecordData;
use domain::zonefile::inplace::{Entry, Zonefile};

use crate::diag::{Diagnostic, Diagnostics, line_col};
use crate::model::{DName, Origin, Policy, RData, RecordSpec};

/// Reads the master file at `path` for the zone `apex`.
///
/// Records of the same owner and type become one simple record; when their
/// TTLs differ the smallest is used (RFC 2181 §5.2).
pub fn load_file(path: &Path, apex: &DName) -> Result<Vec<RecordSpec>, Diagnostics> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostics::from(Diagnostic {
            file: path.to_owned(),
            line: 1,
            col: 1,
            message: format!("cannot read zone file: {e}"),
        })
    })?;
    parse_text(path, &text, apex)
}

/// Parses master-file `text` (named `path` in messages) for the zone `apex`.
pub fn parse_text(path: &Path, text: &str, apex: &DName) -> Result<Vec<RecordSpec>, Diagnostics> {
    if let Err((offset, message)) = check_delimiters(text) {
        return Err(Diagnostic::at_offset(
            path,
            text,
            offset,
            format!("zone file syntax: {message}"),
        )
        .into());
    }
    // domain 0.12.3's scanner can panic on a token that runs into the end
    // of the input (FUZZING.md, F2); a final newline always ends it first.
    let owned;
    let text = if text.ends_with('\n') {
        text
    } else {
        owned = format!("{text}\n");
        owned.as_str()
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scan_text(path, text, apex))) {
        Ok(result) => result,
        // A last defence for scanner panics we have not met yet: an error,
        // never a crash of `check`, a reload or an API request.
        Err(_) => Err(Diagnostic::at_offset(
            path,
            text,
            0,
            "zone file syntax: the scanner failed on this file; check quotes, parentheses and escapes",
        )
        .into()),
    }
}

fn scan_text(path: &Path, text: &str, apex: &DName) -> Result<Vec<RecordSpec>, Diagnostics> {
    let mut scanner = Zonefile::from(text);
    scanner.set_origin(apex.clone());
    scanner.set_default_class(Class::IN);
    let mut diags = Diagnostics::default();
    let mut records: Vec<RecordSpec> = Vec::new();
    loop {
        let before = scanner.current_offset();
        let entry = match scanner.next_entry() {
            Ok(Some(entry)) => entry,
            Ok(None) => break,
            Err(e) => {
                // The scanner's own position is where it gave up, often the
                // next line; the start of the entry is what a user looks for.
                let rendered = e.to_string();
                diags.push(Diagnostic::at_offset(
                    path,
                    text,
                    entry_start(text, before),
                    format!("zone file syntax: {}", strip_position(&rendered)),
                ));
                break;
            }
        };
        let (line, col) = line_col(text, entry_start(text, before));
        let at = |message: String| Diagnostic {
            file: path.to_owned(),
            line,
            col,
            message,
        };
        let record = match entry {
            Entry::Record(record) => record,
            Entry::Include { .. } => {
                diags.push(at(
                    "$INCLUDE is not supported; put the records in this file".into(),
                ));
                continue;
            }
        };
        let owner: DName = record.owner().to_name::<Bytes>();
        // An `$ORIGIN` with an empty label (`a..b`) yields a name with a
        // root label inside it: refuse it here (FUZZING.md, F4).
        if domain::base::Name::from_slice(owner.as_slice()).is_err() {
            diags.push(at(format!(
                "{owner}: malformed owner name (an empty label such as `a..b` in it or in $ORIGIN?)"
            )));
            continue;
        }
        if record.class() != Class::IN {
            diags.push(at(format!(
                "{owner}: class {} is not served; use IN",
                record.class()
            )));
            continue;
        }
        if !owner.ends_with(apex) {
            diags.push(at(format!("{owner} is outside the zone {apex}")));
            continue;
        }
        let data: RData = record.data().clone().flatten_into();
        let rtype = data.rtype();
        if !well_formed(&data) {
            diags.push(at(format!(
                "{owner} {rtype}: malformed record data (an empty label such as `a..b` in a name?)"
            )));
            continue;
        }
        let ttl = record.ttl();
        if let Some(existing) = records
            .iter_mut()
            .find(|r| r.rtype == rtype && r.owner.name_eq(&owner))
        {
            existing.ttl = existing.ttl.min(ttl);
            if !existing.values.contains(&data) {
                existing.values.push(data);
            }
            continue;
        }
        records.push(RecordSpec {
            owner,
            rtype,
            ttl,
            policy: Policy::Simple,
            set: None,
            values: vec![data],
            health_check: None,
            failover: None,
            weight: None,
            origin: Some(Origin {
                file: path.to_owned(),
                line,
                col,
            }),
        });
    }
    diags.into_result(records)
}

/// Parses one record value in master-file syntax (`10 mail`, `"text"`,
/// `192.0.2.1`) for a record of type `rtype` in zone `apex`. Relative names
/// in the value are relative to the zone.
pub fn parse_value(apex: &DName, rtype: Rtype, value: &str) -> Result<RData, String> {
    // A and AAAA get std's parser for a precise message about the address.
    match rtype {
        Rtype::A => {
            return value
                .parse::<std::net::Ipv4Addr>()
                .map(|a| RData::A(a.into()))
                .map_err(|_| format!("invalid IPv4 address {value:?}"));
        }
        Rtype::AAAA => {
            return value
                .parse::<std::net::Ipv6Addr>()
                .map(|a| RData::Aaaa(a.into()))
                .map_err(|_| format!("invalid IPv6 address {value:?}"));
        }
        _ => {}
    }
    if value.contains(['\n', '\r']) {
        return Err(format!(
            "invalid {rtype} value {value:?}: one value, on one line"
        ));
    }
    if let Err((_, why)) = check_delimiters(value) {
        return Err(format!("invalid {rtype} value {value:?}: {why}"));
    }
    let line = format!("@ 0 IN {rtype} {value}\n");
    let bad = |why: String| format!("invalid {rtype} value {value:?}: {why}");
    let scanned = std::panic::catch_unwind(|| {
        let mut scanner = Zonefile::from(line.as_str());
        scanner.set_origin(apex.clone());
        let first = scanner.next_entry();
        let rest = scanner.next_entry().map(|e| e.is_none());
        (first, rest)
    });
    let Ok((first, rest)) = scanned else {
        return Err(bad(
            "the scanner failed on it; check quotes, parentheses and escapes".into(),
        ));
    };
    match first {
        Ok(Some(Entry::Record(record))) => {
            let data: RData = record.data().clone().flatten_into();
            if !well_formed(&data) {
                return Err(bad(
                    "malformed (an empty label such as `a..b` in a name?)".into()
                ));
            }
            match rest {
                Ok(true) => Ok(data),
                _ => Err(bad("more than one value".into())),
            }
        }
        Ok(_) => Err(bad("no value".into())),
        Err(e) => {
            let msg = e.to_string();
            Err(bad(strip_position(&msg).to_owned()))
        }
    }
}

/// True when `data` survives a trip through the wire format unchanged in
/// length: what the scanner accepts is not always valid (FUZZING.md, F3:
/// `a..b` becomes a name with a root label inside it).
fn well_formed(data: &RData) -> bool {
    use domain::base::name::ParsedName;
    use domain::base::rdata::{ComposeRecordData, ParseRecordData};
    use domain::rdata::ZoneRecordData;
    let mut wire = Vec::new();
    if data.compose_rdata(&mut wire).is_err() {
        return false;
    }
    let mut parser = domain::dep::octseq::Parser::from_ref(wire.as_slice());
    matches!(
        ZoneRecordData::<&[u8], ParsedName<&[u8]>>::parse_rdata(data.rtype(), &mut parser),
        Ok(Some(_))
    ) && parser.remaining() == 0
}

/// Finds an unclosed quote or parenthesis before the scanner does: it can
/// panic on those (FUZZING.md, F2). Returns the offset and what is wrong.
fn check_delimiters(text: &str) -> Result<(), (usize, &'static str)> {
    let mut depth = 0usize;
    let mut open_at = 0;
    let mut quote_at = None;
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' => quote_at = if quote_at.is_some() { None } else { Some(i) },
            _ if quote_at.is_some() => {}
            ';' => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '(' => {
                if depth == 0 {
                    open_at = i;
                }
                depth += 1;
            }
            ')' if depth == 0 => return Err((i, "`)` without `(`")),
            ')' => depth -= 1,
            _ => {}
        }
    }
    if let Some(at) = quote_at {
        return Err((at, "a quoted string is never closed"));
    }
    if depth > 0 {
        return Err((open_at, "`(` is never closed"));
    }
    Ok(())
}

/// Parses a record type name such as `A`, `mx` or `TYPE65534`.
pub fn parse_rtype(s: &str) -> Option<Rtype> {
    s.to_ascii_uppercase().parse::<Rtype>().ok()
}

/// Where the entry scanned after `from` starts: past blanks, comments and
/// `$` directives, which the scanner consumes without reporting.
fn entry_start(text: &str, from: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = from.min(bytes.len());
    let mut line_start = i == 0 || bytes.get(i.wrapping_sub(1)) == Some(&b'\n');
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\r' => i += 1,
            b'\n' => {
                i += 1;
                line_start = true;
            }
            b';' => skip_line(bytes, &mut i),
            b'$' if line_start => skip_line(bytes, &mut i),
            _ => return i,
        }
        if i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b' ' && bytes[i] != b'\t' {
            line_start = line_start && i > 0 && bytes[i - 1] == b'\n';
        }
    }
    i
}

fn skip_line(bytes: &[u8], i: &mut usize) {
    while *i < bytes.len() && bytes[*i] != b'\n' {
        *i += 1;
    }
}

fn strip_position(rendered: &str) -> &str {
    let mut parts = rendered.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(l), Some(c), Some(msg))
            if l.trim().parse::<usize>().is_ok() && c.trim().parse::<usize>().is_ok() =>
        {
            msg.trim()
        }
        _ => rendered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::base::Ttl;
    use std::str::FromStr;

    fn apex() -> DName {
        DName::from_str("example.test.").unwrap()
    }

    fn parse(text: &str) -> Result<Vec<RecordSpec>, Diagnostics> {
        parse_text(Path::new("z.zone"), text, &apex())
    }

    #[test]
    fn reads_origin_ttl_relative_names_and_multiline_soa() {
        let recs = parse(
            "$ORIGIN example.test.\n$TTL 120\n@ IN SOA ns1 hostmaster (\n  1 ; serial\n  3600 600 86400 60 )\n\
             www A 192.0.2.1\nwww 30 A 192.0.2.2\ntxt TXT \"hello world\" \"two\"\n",
        )
        .unwrap();
        assert_eq!(recs.len(), 3);
        let soa = &recs[0];
        assert_eq!(soa.rtype, Rtype::SOA);
        assert_eq!(soa.ttl, Ttl::from_secs(120));
        let www = &recs[1];
        assert_eq!(www.owner.to_string(), "www.example.test");
        assert_eq!(www.values.len(), 2);
        assert_eq!(
            www.ttl,
            Ttl::from_secs(30),
            "smallest TTL of the RRset wins"
        );
        assert_eq!(recs[2].origin.as_ref().unwrap().line, 8);
    }

    #[test]
    fn keeps_case_and_escaped_dots() {
        let recs = parse("MiXeD\\.dot 60 A 192.0.2.1\n").unwrap();
        assert_eq!(recs[0].owner.to_string(), "MiXeD\\.dot.example.test");
        assert_eq!(recs[0].owner.label_count(), 4);
    }

    #[test]
    fn reads_unknown_types_in_rfc3597_syntax() {
        let recs = parse("x 60 TYPE65534 \\# 2 abcd\n").unwrap();
        assert_eq!(recs[0].rtype, Rtype::from_int(65534));
    }

    #[test]
    fn record_outside_the_zone_is_an_error_with_its_line() {
        let err = parse("www 60 A 192.0.2.1\nwww.other.test. 60 A 192.0.2.1\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "z.zone:2:1: www.other.test is outside the zone example.test"
        );
    }

    #[test]
    fn syntax_error_carries_line_and_column() {
        let err = parse("www 60 A 192.0.2.1\nbad 60 A not-an-ip\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("z.zone:2:"), "{msg}");
        assert!(msg.contains("zone file syntax"), "{msg}");
    }

    #[test]
    fn include_is_refused_clearly() {
        let err = parse("$INCLUDE other.zone\n").unwrap_err();
        assert!(
            err.to_string().contains("$INCLUDE is not supported"),
            "{err}"
        );
    }

    #[test]
    fn parses_single_values() {
        let mx = parse_value(&apex(), Rtype::MX, "10 mail").unwrap();
        assert_eq!(mx.to_string(), "10 mail.example.test.");
        let txt = parse_value(&apex(), Rtype::TXT, "\"v=spf1 -all\"").unwrap();
        assert_eq!(txt.rtype(), Rtype::TXT);
        assert_eq!(
            parse_value(&apex(), Rtype::A, "1.2.3").unwrap_err(),
            "invalid IPv4 address \"1.2.3\""
        );
        assert!(
            parse_value(&apex(), Rtype::MX, "mail")
                .unwrap_err()
                .starts_with("invalid MX value \"mail\"")
        );
    }
}
