//! Record data through `domain`'s zone-file scanner, one record at a time,
//! after the two rewrites domain 0.12 needs to read it as NSD and Knot do:
//! `@` in a field that holds a name becomes the origin (domain reads it as
//! a label `\@`), and SOA timers with units become seconds (domain reads
//! plain numbers only). What the scanner accepts is then checked and put in
//! its typed form.

use std::fmt::Write as _;

use bytes::Bytes;
use domain::base::iana::{Class, Rtype};
use domain::base::name::{FlattenInto, ToLabelIter};
use domain::base::rdata::{ComposeRecordData, RecordData, UnknownRecordData};
use domain::rdata::ZoneRecordData;
use domain::zonefile::inplace::{Entry as ScannedEntry, Zonefile};

use super::lexer::Token;
use super::ttl;
use crate::model::{DName, RData};

/// Indexes of the record-data fields that hold a domain name, where `@`
/// means the origin (RFC 1035 §5.1: "@" denotes the current origin, in
/// any name field). Every field before them is one token.
fn name_fields(rtype: Rtype) -> &'static [usize] {
    match rtype {
        Rtype::NS
        | Rtype::CNAME
        | Rtype::DNAME
        | Rtype::PTR
        | Rtype::MB
        | Rtype::MD
        | Rtype::MF
        | Rtype::MG
        | Rtype::MR
        | Rtype::NSEC => &[0],
        Rtype::SOA | Rtype::MINFO | Rtype::RP => &[0, 1],
        Rtype::MX | Rtype::KX | Rtype::RT | Rtype::AFSDB | Rtype::SVCB | Rtype::HTTPS => &[1],
        Rtype::SRV => &[3],
        Rtype::NAPTR => &[5],
        Rtype::RRSIG => &[7],
        _ => &[],
    }
}

/// Why record data does not parse, and at which of its tokens.
pub(super) struct RdataError {
    /// Index of the token at fault, when known.
    pub token: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// Parses the record-data `tokens` of a record of type `rtype` with
/// relative names under `origin`, through `domain`'s scanner.
pub(super) fn scan(
    origin: &DName,
    rtype: Rtype,
    tokens: &[Token<'_>],
    line: &mut String,
) -> Result<RData, RdataError> {
    if let Some(data) = address(rtype, tokens) {
        return Ok(data);
    }
    let generic = tokens.first().is_some_and(|t| t.is("\\#"));
    // SPF (RFC 4408 §3.1.1, type 99) has TXT's syntax and wire form;
    // domain's scanner knows it only in RFC 3597 form.
    let spf = rtype == Rtype::SPF && !generic;
    let scanned_type = if spf { Rtype::TXT } else { rtype };
    let names = if generic { &[][..] } else { name_fields(rtype) };
    line.clear();
    let _ = write!(line, "@ 0 IN {scanned_type}");
    let mut starts = Vec::with_capacity(tokens.len());
    for (i, token) in tokens.iter().enumerate() {
        if i == 0 || !token.joined {
            line.push(' ');
        }
        starts.push(line.len());
        if !token.quoted && token.text == "@" && names.contains(&i) {
            push_absolute(line, origin);
        } else if rtype == Rtype::SOA && !generic && (3..=6).contains(&i) && !token.quoted {
            match ttl::parse(token.text) {
                Ok(seconds) => {
                    let _ = write!(line, "{seconds}");
                }
                Err(e) => {
                    return Err(RdataError {
                        token: Some(i),
                        message: format!("SOA timer {}: {e}", token.text),
                    });
                }
            }
        } else if token.quoted {
            // One record, one line: a line break inside quotes (NSD reads
            // it as part of the string) is written as its escape.
            for c in token.text.chars() {
                match c {
                    '\n' => line.push_str("\\010"),
                    '\r' => line.push_str("\\013"),
                    c => line.push(c),
                }
            }
        } else {
            line.push_str(token.text);
        }
    }
    line.push('\n');
    let scanned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut scanner = Zonefile::from(line.as_str());
        scanner.set_origin(origin.clone());
        scanner.set_default_class(Class::IN);
        scanner.next_entry().map_err(|e| e.to_string())
    }));
    let record = match scanned {
        Ok(Ok(Some(ScannedEntry::Record(record)))) => record,
        Ok(Ok(_)) => {
            return Err(RdataError {
                token: None,
                message: "no record data".into(),
            });
        }
        Ok(Err(rendered)) => {
            let (position, message) = split_position(&rendered);
            // The scanner reports the end of the token it refused, or the
            // next line when that token ended the line: the last token
            // starting before that column, or the last one.
            let token = position.and_then(|(line, col)| match line {
                1 => starts.iter().rposition(|&s| s < col),
                _ => starts.len().checked_sub(1),
            });
            return Err(RdataError {
                token,
                message: message.to_owned(),
            });
        }
        // A last defence for scanner panics we have not met yet
        // (FUZZING.md, F2): an error, never a crash.
        Err(_) => {
            return Err(RdataError {
                token: None,
                message: "the scanner failed on it; check quotes, parentheses and escapes".into(),
            });
        }
    };
    let mut data: RData = typed(record.data().clone().flatten_into());
    if spf && let ZoneRecordData::Txt(txt) = &data {
        let mut octets = Vec::new();
        let spf_data = txt
            .compose_rdata(&mut octets)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                UnknownRecordData::from_octets(Rtype::SPF, Bytes::from(octets))
                    .map_err(|e| e.to_string())
            });
        data = ZoneRecordData::Unknown(spf_data.map_err(|message| RdataError {
            token: None,
            message,
        })?);
    }
    if !well_formed(&data) {
        return Err(RdataError {
            token: None,
            message: "malformed record data (an empty label such as `a..b` in a name?)".into(),
        });
    }
    Ok(data)
}

/// An A or AAAA record's address read without the scanner, when it is
/// one plain token: the same `FromStr` that domain's `A::scan` and
/// `Aaaa::scan` call on the token, minus writing the record out as a
/// line and scanning it back, which was most of the parse time of a zone
/// of addresses. Anything else (quotes, escapes, RFC 3597 form, a second
/// token, a bad address) goes through the scanner and its messages.
pub(super) fn address(rtype: Rtype, tokens: &[Token<'_>]) -> Option<RData> {
    use domain::rdata::{A, Aaaa};
    let [token] = tokens else { return None };
    if token.quoted || token.text.contains('\\') {
        return None;
    }
    match rtype {
        Rtype::A => token.text.parse::<A>().ok().map(ZoneRecordData::A),
        Rtype::AAAA => token.text.parse::<Aaaa>().ok().map(ZoneRecordData::Aaaa),
        _ => None,
    }
}

/// Writes `name` as an absolute master-file name that reads back the same:
/// letters, digits, `-`, `_` and `*` as they are, every other octet as
/// `\DDD` (domain's `Display` leaves `;`, `(` and `"` bare, which a
/// master file reads as syntax).
fn push_absolute(out: &mut String, name: &DName) {
    if name.is_root() {
        out.push('.');
        return;
    }
    for label in name.iter_labels() {
        if label.is_root() {
            continue;
        }
        for &b in label.as_slice() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'*') {
                out.push(b as char);
            } else {
                let _ = write!(out, "\\{b:03}");
            }
        }
        out.push('.');
    }
}

/// `data` in its typed form when it was written in RFC 3597 form for a
/// type `domain` knows (`A \# 4 c0000201` is `192.0.2.1`): the same wire
/// data either way, so it must compare, deduplicate and validate the same.
fn typed(data: RData) -> RData {
    use domain::base::name::ParsedName;
    use domain::base::rdata::ParseRecordData;
    if !matches!(data, ZoneRecordData::Unknown(_)) {
        return data;
    }
    let mut wire = Vec::new();
    if data.compose_rdata(&mut wire).is_err() {
        return data;
    }
    let wire = Bytes::from(wire);
    let mut parser = domain::dep::octseq::Parser::from_ref(&wire);
    let parsed = ZoneRecordData::<Bytes, ParsedName<Bytes>>::parse_rdata(data.rtype(), &mut parser);
    let typed: Option<RData> = match parsed {
        Ok(Some(parsed))
            if parser.remaining() == 0 && !matches!(parsed, ZoneRecordData::Unknown(_)) =>
        {
            Some(parsed.flatten_into())
        }
        _ => None,
    };
    typed.unwrap_or(data)
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

/// Splits domain's `line:col: message` into the position and the message.
fn split_position(rendered: &str) -> (Option<(usize, usize)>, &str) {
    let mut parts = rendered.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(l), Some(c), Some(msg)) => match (l.trim().parse(), c.trim().parse()) {
            (Ok(line), Ok(col)) => (Some((line, col)), msg.trim()),
            _ => (None, rendered),
        },
        _ => (None, rendered),
    }
}
