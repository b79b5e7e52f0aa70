//! RFC 1035 master files and single record values, read as BIND, NSD and
//! Knot read them (docs/zone-files.md).
//!
//! In three steps. [`lexer`] splits the text into entries of tokens (comments,
//! parentheses, quotes, escapes, blank owners), with each token's line and
//! column. This module then reads each entry as NSD and Knot do: `$ORIGIN`,
//! `$TTL` and `$INCLUDE`; the owner (`@`, relative, absolute, or the previous
//! one); TTL (with units, [`ttl`]) and class in either order; the type.
//! [`rdata`] reads the record data through `domain`'s zone-file scanner.
//! Finally the records are grouped into one simple record per name and type
//! and checked against their zone.

mod lexer;
mod rdata;
mod source;
mod ttl;

use source::Reading;
pub use source::Source;

use crate::snapshot::FastMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use bytes::Bytes;
use domain::base::iana::{Class, Rtype};
use domain::base::name::UncertainName;
use domain::base::{ToName, Ttl};

use crate::diag::{Diagnostic, Diagnostics};
use crate::model::{DName, Origin, Policy, RData, RecordSpec};
use lexer::{Entry, Lexer, Token};

/// TTL of a record that gives none when no `$TTL` came before it: what NSD
/// 4.6 and Knot 3.2 both use (observed). Neither falls back to the previous
/// record's TTL nor to the SOA minimum (RFC 2308 §4's old rule).
pub const DEFAULT_TTL: u32 = 3600;

/// How deep `$INCLUDE`s may nest (the zone's own file is depth 0). A file
/// that includes itself, directly or not, is refused before this.
pub const MAX_INCLUDE_DEPTH: usize = 8;

/// Reads the master file at `path` for the zone `apex`, and the files it
/// `$INCLUDE`s (relative to the including file's folder, at most
/// [`MAX_INCLUDE_DEPTH`] deep, never a file already being read).
///
/// Records of the same owner and type become one simple record; when their
/// TTLs differ the smallest is used (RFC 2181 §5.2).
pub fn load_file(path: &Path, apex: &DName) -> Result<Vec<RecordSpec>, Diagnostics> {
    read_file(path, apex).map(|(records, _)| records)
}

/// As [`load_file`], with what the files held when read ([`Source`]).
fn read_file(path: &Path, apex: &DName) -> Result<(Vec<RecordSpec>, Source), Diagnostics> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostics::from(Diagnostic {
            file: path.to_owned(),
            line: 1,
            col: 1,
            message: format!("cannot read zone file: {e}"),
        })
    })?;
    let mut source = Reading::new(path);
    source.add(text.as_bytes());
    let records = load(path, &text, apex, Some(&mut source))?;
    Ok((records, source.finish()))
}

/// What reading one zone file gave: what was made of its records, or
/// only that it holds what it held before ([`Source::unchanged`]).
#[derive(Debug)]
pub enum Read<T> {
    /// The file was parsed, and its records given to the caller's
    /// `finish` (see [`load_files`]).
    Parsed(T),
    /// The file and its includes are as they were: not parsed again.
    Unchanged,
}

/// What [`load_files`] gives for one file.
pub type Loaded<T> = Result<(Read<T>, Source), Diagnostics>;

/// One zone file for [`load_files`]: its path, the zone's apex, and what
/// it held when last read, if known.
pub type Job<'a> = (PathBuf, DName, Option<&'a Source>);

/// Reads every zone file given, on every core the process may use
/// (rayon's pool), skipping the parse of each file that still holds what
/// its known [`Source`] says; the results in the order given (`None` for
/// `None`). At 10,000 zone files parsing is most of the start-up time.
///
/// Each file's records go to `finish` on the thread that parsed them, so
/// that the caller can turn them into what it keeps (a built zone) while
/// they are fresh, and no more than one file's records per core are held
/// at once.
pub fn load_files<T: Send>(
    jobs: &[Option<Job<'_>>],
    finish: &(dyn Fn(&DName, Vec<RecordSpec>) -> T + Sync),
) -> Vec<Option<Loaded<T>>> {
    use rayon::prelude::*;
    jobs.par_iter()
        .map(|job| {
            let (path, apex, known) = job.as_ref()?;
            Some(match known {
                Some(source) if source.unchanged(path) => Ok((Read::Unchanged, (*source).clone())),
                _ => read_file(path, apex)
                    .map(|(records, source)| (Read::Parsed(finish(apex, records)), source)),
            })
        })
        .collect()
}

/// Parses master-file `text` (named `path` in messages) for the zone `apex`.
/// `$INCLUDE` is an error here: only [`load_file`] reads other files, so
/// text from elsewhere (a fuzzer, a test) never makes this read the disk.
pub fn parse_text(path: &Path, text: &str, apex: &DName) -> Result<Vec<RecordSpec>, Diagnostics> {
    load(path, text, apex, None)
}

/// Parses `text`; `$INCLUDE`s are read only with a `source` to note them
/// in.
fn load(
    path: &Path,
    text: &str,
    apex: &DName,
    source: Option<&mut Reading>,
) -> Result<Vec<RecordSpec>, Diagnostics> {
    let mut loader = Loader {
        apex,
        source,
        diags: Diagnostics::default(),
        records: Vec::new(),
        index: FastMap::default(),
        last_owner: None,
        including: vec![std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())],
        line: String::new(),
    };
    let scope = Scope {
        origin: apex.clone(),
        ttl: None,
    };
    loader.read(path, text, scope, 0);
    loader.diags.into_result(loader.records)
}

/// What a file's directives set; an included file starts with a copy, and
/// its changes end with it (as in Knot; NSD keeps an included `$TTL`).
#[derive(Clone)]
struct Scope {
    origin: DName,
    /// The last `$TTL`.
    ttl: Option<u32>,
}

/// The state of one load, across included files.
struct Loader<'a> {
    apex: &'a DName,
    /// What the files read so far held; `None` when `$INCLUDE` may not
    /// read files.
    source: Option<&'a mut Reading>,
    diags: Diagnostics,
    records: Vec<RecordSpec>,
    /// (lower-cased owner, type) → index in `records`.
    index: FastMap<(Box<[u8]>, u16), usize>,
    /// The owner an entry starting with a blank continues.
    last_owner: Option<DName>,
    /// Canonical paths of the files being read, outermost first.
    including: Vec<PathBuf>,
    /// Reused buffer for the record line handed to `domain`.
    line: String,
}

impl Loader<'_> {
    fn error(&mut self, file: &Path, token: &Token<'_>, message: String) {
        self.diags.push(Diagnostic {
            file: file.to_owned(),
            line: token.line,
            col: token.col,
            message,
        });
    }

    fn read(&mut self, path: &Path, text: &str, mut scope: Scope, depth: usize) {
        let file: std::sync::Arc<Path> = path.into();
        for entry in Lexer::new(text) {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    // Token boundaries are lost: nothing after is read.
                    self.diags.push(Diagnostic {
                        file: path.to_owned(),
                        line: e.line,
                        col: e.col,
                        message: format!("zone file syntax: {}", e.message),
                    });
                    return;
                }
            };
            let first = &entry.tokens[0];
            if !entry.blank_owner && !first.quoted && first.text.starts_with('$') {
                self.directive(path, &entry, &mut scope, depth);
            } else {
                self.record(&file, &entry, &scope);
            }
        }
    }

    fn directive(&mut self, path: &Path, entry: &Entry<'_>, scope: &mut Scope, depth: usize) {
        let directive = &entry.tokens[0];
        let args = &entry.tokens[1..];
        let name = directive.text.to_ascii_uppercase();
        match name.as_str() {
            "$ORIGIN" => {
                let [arg] = args else {
                    return self.error(path, directive, "$ORIGIN takes one name".into());
                };
                match owner_name(arg, &scope.origin) {
                    Ok(origin) => scope.origin = origin,
                    Err(why) => self.error(
                        path,
                        arg,
                        format!("$ORIGIN {}: malformed owner name: {why}", arg.text),
                    ),
                }
            }
            "$TTL" => {
                let [arg] = args else {
                    return self.error(path, directive, "$TTL takes one TTL".into());
                };
                match ttl::parse(arg.text) {
                    Ok(ttl) if !arg.quoted => scope.ttl = Some(ttl),
                    Ok(_) => self.error(path, arg, "$TTL: a TTL is not quoted".into()),
                    Err(e) => self.error(path, arg, format!("$TTL {}: {e}", arg.text)),
                }
            }
            "$INCLUDE" => self.include(path, directive, args, scope, depth),
            _ => self.error(
                path,
                directive,
                format!(
                    "unknown directive {}: eightfold reads $ORIGIN, $TTL and $INCLUDE",
                    directive.text
                ),
            ),
        }
    }

    /// `$INCLUDE file [origin]`: `file` relative to the including file's
    /// folder, as Knot reads it (NSD reads it relative to its working
    /// folder). Any readable regular file may be named: zone files are the
    /// operator's, like the config that names them.
    fn include(
        &mut self,
        path: &Path,
        directive: &Token<'_>,
        args: &[Token<'_>],
        scope: &Scope,
        depth: usize,
    ) {
        let (file, origin) = match args {
            [file] => (file, None),
            [file, origin] => (file, Some(origin)),
            _ => {
                return self.error(
                    path,
                    directive,
                    "$INCLUDE takes a file name and an optional origin".into(),
                );
            }
        };
        let origin = match origin.map(|o| owner_name(o, &scope.origin)) {
            None => scope.origin.clone(),
            Some(Ok(origin)) => origin,
            Some(Err(why)) => {
                let token = &args[1];
                return self.error(
                    path,
                    token,
                    format!("$INCLUDE origin {}: {why}", token.text),
                );
            }
        };
        if self.source.is_none() {
            return self.error(
                path,
                directive,
                "$INCLUDE is only read from zone files on disk".into(),
            );
        }
        let target = path.parent().unwrap_or(Path::new("")).join(unescape(file));
        if depth + 1 > MAX_INCLUDE_DEPTH {
            return self.error(
                path,
                directive,
                format!(
                    "$INCLUDE {}: includes nested deeper than {MAX_INCLUDE_DEPTH} files",
                    target.display()
                ),
            );
        }
        let canonical = match std::fs::canonicalize(&target) {
            Ok(c) => c,
            Err(e) => {
                return self.error(
                    path,
                    file,
                    format!("$INCLUDE {}: cannot read it: {e}", target.display()),
                );
            }
        };
        if self.including.contains(&canonical) {
            return self.error(
                path,
                file,
                format!("$INCLUDE {}: the file includes itself", target.display()),
            );
        }
        // Not /dev/zero, a FIFO or a folder: only what ends.
        if !std::fs::metadata(&canonical).is_ok_and(|m| m.is_file()) {
            return self.error(
                path,
                file,
                format!("$INCLUDE {}: not a regular file", target.display()),
            );
        }
        let text = match std::fs::read_to_string(&canonical) {
            Ok(text) => text,
            Err(e) => {
                return self.error(
                    path,
                    file,
                    format!("$INCLUDE {}: cannot read it: {e}", target.display()),
                );
            }
        };
        if let Some(source) = self.source.as_deref_mut() {
            // The path as written, not the canonical one: a symbolic link
            // moved to another file is a change.
            source.includes.push(target.clone());
            source.add(text.as_bytes());
        }
        self.including.push(canonical);
        let scope = Scope {
            origin,
            ttl: scope.ttl,
        };
        self.read(&target, &text, scope, depth + 1);
        self.including.pop();
    }

    fn record(&mut self, path: &std::sync::Arc<Path>, entry: &Entry<'_>, scope: &Scope) {
        let tokens = &entry.tokens;
        let mut next = 0;
        let owner = if entry.blank_owner {
            match &self.last_owner {
                Some(owner) => owner.clone(),
                None => {
                    return self.error(
                        path,
                        &tokens[0],
                        "this record starts with a blank, so it continues the previous \
                         owner, but no record comes before it"
                            .into(),
                    );
                }
            }
        } else {
            next = 1;
            match owner_name(&tokens[0], &scope.origin) {
                Ok(owner) => owner,
                Err(why) => {
                    return self.error(
                        path,
                        &tokens[0],
                        format!("{}: malformed owner name: {why}", tokens[0].text),
                    );
                }
            }
        };
        self.last_owner = Some(owner.clone());
        // Where the record is said to be: its first token.
        let start = &tokens[0];

        // [TTL] [class] type, or [class] [TTL] type.
        let mut ttl = None;
        let mut class = None;
        let rtype = loop {
            let Some(token) = tokens.get(next) else {
                let last = tokens.last().expect("an entry has a token");
                return self.error(path, last, format!("{owner}: no record type"));
            };
            next += 1;
            if token.quoted {
                return self.error(
                    path,
                    token,
                    format!(
                        "{owner}: expected a TTL, class or type, found {}",
                        token.text
                    ),
                );
            }
            if ttl.is_none() && token.text.starts_with(|c: char| c.is_ascii_digit()) {
                match ttl::parse(token.text) {
                    Ok(t) => ttl = Some(t),
                    Err(e) => return self.error(path, token, format!("{owner}: {e}")),
                }
                continue;
            }
            if class.is_none()
                && let Some(c) = parse_class(token.text)
            {
                class = Some((c, token));
                continue;
            }
            match parse_rtype(token.text) {
                Some(rtype) => break rtype,
                None => {
                    return self.error(
                        path,
                        token,
                        format!("{owner}: unknown record type {}", token.text),
                    );
                }
            }
        };
        if let Some((class, token)) = class
            && class != Class::IN
        {
            return self.error(
                path,
                token,
                format!("{owner}: class {class} is not served; use IN"),
            );
        }
        // An `$ORIGIN` with an empty label (`a..b`) can yield a name with a
        // root label inside it: refuse it here (FUZZING.md, F4).
        if domain::base::Name::from_slice(owner.as_slice()).is_err() {
            return self.error(
                path,
                start,
                format!(
                    "{owner}: malformed owner name (an empty label such as `a..b` in it or in $ORIGIN?)"
                ),
            );
        }
        if !owner.ends_with(self.apex) {
            let apex = self.apex;
            return self.error(path, start, format!("{owner} is outside the zone {apex}"));
        }
        let data_tokens = &tokens[next..];
        let data = match rdata::scan(&scope.origin, rtype, data_tokens, &mut self.line) {
            Ok(data) => data,
            Err(e) => {
                let at = e
                    .token
                    .and_then(|i| data_tokens.get(i))
                    .unwrap_or(&tokens[next - 1]);
                return self.error(
                    path,
                    at,
                    format!("zone file syntax: {owner} {rtype}: {}", e.message),
                );
            }
        };
        let ttl = Ttl::from_secs(ttl.or(scope.ttl).unwrap_or(DEFAULT_TTL));
        let key = (crate::snapshot::name_key(&owner), rtype.to_int());
        if let Some(&i) = self.index.get(&key) {
            let existing = &mut self.records[i];
            existing.ttl = existing.ttl.min(ttl);
            if !existing.values.contains(&data) {
                existing.values.push(data);
            }
            return;
        }
        self.index.insert(key, self.records.len());
        self.records.push(RecordSpec {
            alias: None,
            location: None,
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
                file: path.clone(),
                line: start.line,
                col: start.col,
            }),
        });
    }
}

/// A name token read against `origin`: `@` is the origin, a name without
/// a final dot is relative to it.
fn owner_name(token: &Token<'_>, origin: &DName) -> Result<DName, String> {
    if token.is("@") {
        return Ok(origin.clone());
    }
    let text = if token.quoted {
        &token.text[1..token.text.len() - 1]
    } else {
        if let Some(name) = plain_name(token.text, origin) {
            return Ok(name);
        }
        token.text
    };
    read_name(text, origin)
}

/// `text` read as a name by `domain`, relative to `origin` unless it ends
/// with a dot.
fn read_name(text: &str, origin: &DName) -> Result<DName, String> {
    match UncertainName::<Bytes>::from_str(text).map_err(|e| e.to_string())? {
        UncertainName::Absolute(name) => Ok(name),
        UncertainName::Relative(relative) => relative
            .chain(origin)
            .map_err(|_| "longer than 255 octets with the origin".to_string())
            .map(|chain| chain.to_name()),
    }
}

/// A name of letters, digits, `-`, `_` and `*` in dot-separated labels,
/// relative to `origin` unless it ends with a dot, put together in wire
/// form directly: `UncertainName` and `chain` build it in three steps
/// with an allocation each, a tenth of a zone file's parse time. Anything
/// else (escapes, an empty or long label, a name too long) is `None`, for
/// `domain` to read or refuse with its message.
fn plain_name(text: &str, origin: &DName) -> Option<DName> {
    let (relative, tail) = match text.strip_suffix('.') {
        Some(absolute) => (absolute, &[0u8][..]),
        None => (text, origin.as_slice()),
    };
    let mut wire = bytes::BytesMut::with_capacity(relative.len() + 1 + tail.len());
    for label in relative.split('.') {
        let plain = label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'*'));
        if label.is_empty() || label.len() > 63 || !plain {
            return None;
        }
        wire.extend_from_slice(&[label.len() as u8]);
        wire.extend_from_slice(label.as_bytes());
    }
    wire.extend_from_slice(tail);
    DName::from_octets(wire.freeze()).ok()
}

/// The text of a file-name token: quotes removed, `\x` read as `x`.
fn unescape(token: &Token<'_>) -> String {
    let text = if token.quoted {
        &token.text[1..token.text.len() - 1]
    } else {
        token.text
    };
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// A class mnemonic (`IN`, `ch`, `CLASS1`, ...).
fn parse_class(text: &str) -> Option<Class> {
    if let Ok(class) = Class::from_str(text) {
        return Some(class);
    }
    let number = text
        .get(..5)?
        .eq_ignore_ascii_case("CLASS")
        .then(|| &text[5..])?;
    number.parse::<u16>().ok().map(Class::from_int)
}

/// Parses a record type name such as `A`, `mx` or `TYPE65534`.
pub fn parse_rtype(s: &str) -> Option<Rtype> {
    // Upper-cased on the stack: this runs once per record.
    let mut upper = [0u8; 16];
    let bytes = s.as_bytes();
    if bytes.len() > upper.len() {
        return s.to_ascii_uppercase().parse::<Rtype>().ok();
    }
    let upper = &mut upper[..bytes.len()];
    upper.copy_from_slice(bytes);
    upper.make_ascii_uppercase();
    std::str::from_utf8(upper).ok()?.parse::<Rtype>().ok()
}

/// Parses one record value in master-file syntax (`10 mail`, `"text"`,
/// `192.0.2.1`, `@`) for a record of type `rtype` in zone `apex`. Relative
/// names in the value are relative to the zone.
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
    let bad = |why: &str| format!("invalid {rtype} value {value:?}: {why}");
    if value.contains(['\n', '\r']) {
        return Err(bad("one value, on one line"));
    }
    let mut entries = Lexer::new(value);
    let tokens = match entries.next() {
        None => return Err(bad("no value")),
        Some(Err(e)) => return Err(bad(e.message)),
        Some(Ok(entry)) => entry.tokens,
    };
    rdata::scan(apex, rtype, &tokens, &mut String::new()).map_err(|e| bad(&e.message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::base::Ttl;
    use domain::base::rdata::RecordData;
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
        // A known type in either form: generic data, or a generic type name.
        let recs = parse("a A \\# 4 c0000201\nb TYPE1 192.0.2.2\n").unwrap();
        assert_eq!(values(&recs, "a.example.test.", Rtype::A), ["192.0.2.1"]);
        assert_eq!(values(&recs, "b.example.test.", Rtype::A), ["192.0.2.2"]);
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

    fn values(recs: &[RecordSpec], owner: &str, rtype: Rtype) -> Vec<String> {
        let owner = DName::from_str(owner).unwrap();
        recs.iter()
            .find(|r| r.rtype == rtype && r.owner.name_eq(&owner))
            .unwrap_or_else(|| panic!("no {owner} {rtype}"))
            .values
            .iter()
            .map(|v| v.to_string())
            .collect()
    }

    fn ttl_of(recs: &[RecordSpec], owner: &str, rtype: Rtype) -> u32 {
        let owner = DName::from_str(owner).unwrap();
        recs.iter()
            .find(|r| r.rtype == rtype && r.owner.name_eq(&owner))
            .unwrap_or_else(|| panic!("no {owner} {rtype}"))
            .ttl
            .as_secs()
    }

    #[test]
    fn at_sign_in_record_data_is_the_origin() {
        let recs = parse(
            "@ SOA @ hostmaster.@ 1 2 3 4 5\nwww CNAME @\n@ MX 10 @\n@ NS @\n\
             _s._tcp SRV 0 0 80 @\np PTR @\nd DNAME @\nn NAPTR 1 1 \"S\" \"\" \"\" @\n\
             rp RP @ @\nt TXT @\n$ORIGIN sub.example.test.\nc CNAME @\n",
        )
        .unwrap();
        let e = "example.test.example.test.";
        assert_eq!(
            values(&recs, "example.test.", Rtype::SOA),
            ["example.test. hostmaster.@.example.test. 1 2 3 4 5"]
        );
        assert_eq!(
            values(&recs, "www.example.test.", Rtype::CNAME),
            ["example.test."]
        );
        assert_eq!(
            values(&recs, "example.test.", Rtype::MX),
            ["10 example.test."]
        );
        assert_eq!(values(&recs, "example.test.", Rtype::NS), ["example.test."]);
        assert_eq!(
            values(&recs, "_s._tcp.example.test.", Rtype::SRV),
            ["0 0 80 example.test"]
        );
        assert_eq!(
            values(&recs, "p.example.test.", Rtype::PTR),
            ["example.test."]
        );
        assert_eq!(
            values(&recs, "d.example.test.", Rtype::DNAME),
            ["example.test."]
        );
        assert!(values(&recs, "n.example.test.", Rtype::NAPTR)[0].ends_with(" example.test."));
        assert_eq!(
            values(&recs, "rp.example.test.", Rtype::RP),
            ["example.test. example.test."]
        );
        // Not a name field: the text "@", as Knot reads it.
        assert_eq!(values(&recs, "t.example.test.", Rtype::TXT), ["\"@\""]);
        assert_eq!(
            values(&recs, "c.sub.example.test.", Rtype::CNAME),
            ["sub.example.test."]
        );
        assert!(!values(&recs, "www.example.test.", Rtype::CNAME)[0].contains(e));
    }

    #[test]
    fn relative_names_follow_origin_changes_and_blank_owners_continue() {
        let recs = parse(
            "a MX 10 mail\n$ORIGIN sub.example.test.\nb CNAME target\n  TXT \"same owner\"\n\
             $ORIGIN example.test.\n\tAAAA ::1\n",
        )
        .unwrap();
        assert_eq!(
            values(&recs, "a.example.test.", Rtype::MX),
            ["10 mail.example.test."]
        );
        assert_eq!(
            values(&recs, "b.sub.example.test.", Rtype::CNAME),
            ["target.sub.example.test."]
        );
        assert_eq!(
            values(&recs, "b.sub.example.test.", Rtype::TXT),
            ["\"same owner\""]
        );
        // The owner continues across the $ORIGIN change; it is a name, not text.
        assert_eq!(values(&recs, "b.sub.example.test.", Rtype::AAAA), ["::1"]);
    }

    #[test]
    fn ttl_and_class_in_either_order_with_units() {
        let recs = parse(
            "a 1h30m IN A 192.0.2.1\nb IN 2d A 192.0.2.2\nc in a 192.0.2.3\nd CLASS1 60 A 192.0.2.4\n\
             @ SOA ns hm 1 1H 10m 1w 5M\n",
        )
        .unwrap();
        assert_eq!(ttl_of(&recs, "a.example.test.", Rtype::A), 5400);
        assert_eq!(ttl_of(&recs, "b.example.test.", Rtype::A), 172_800);
        assert_eq!(ttl_of(&recs, "d.example.test.", Rtype::A), 60);
        assert_eq!(
            values(&recs, "example.test.", Rtype::SOA),
            ["ns.example.test. hm.example.test. 1 3600 600 604800 300"]
        );
    }

    #[test]
    fn default_ttl_is_dollar_ttl_else_3600_never_the_previous_ttl() {
        // NSD 4.6 and Knot 3.2 both answer 3600 for `c` and `d` (observed).
        let recs = parse(
            "@ SOA ns hm 1 2 3 4 300\nb 60 A 192.0.2.1\nc A 192.0.2.2\n$TTL 2h\nd A 192.0.2.3\n\
             e 5 A 192.0.2.4\nf A 192.0.2.5\n",
        )
        .unwrap();
        assert_eq!(ttl_of(&recs, "example.test.", Rtype::SOA), DEFAULT_TTL);
        assert_eq!(ttl_of(&recs, "c.example.test.", Rtype::A), DEFAULT_TTL);
        assert_eq!(ttl_of(&recs, "d.example.test.", Rtype::A), 7200);
        assert_eq!(ttl_of(&recs, "f.example.test.", Rtype::A), 7200);
    }

    #[test]
    fn quoted_strings_escapes_and_decimal_escapes() {
        let recs = parse(
            "t TXT \"a;b\" \"c\\\"d\" \"\\065\\066\" x\\ y \"two\nlines\"\n\\065bc A 192.0.2.1\n\
             esc\\.dot A 192.0.2.2\n",
        )
        .unwrap();
        assert_eq!(
            values(&recs, "t.example.test.", Rtype::TXT),
            ["\"a;b\" \"c\\\"d\" \"AB\" \"x y\" \"two\\010lines\""]
        );
        assert!(
            recs.iter()
                .any(|r| r.owner.to_string() == "Abc.example.test")
        );
        assert!(
            recs.iter()
                .any(|r| r.owner.label_count() == 4 && r.rtype == Rtype::A)
        );
    }

    #[test]
    fn every_bad_record_is_reported_at_its_token() {
        let err = parse(
            "a A 192.0.2.1\nb 60 A not-an-ip\nc 1x A 192.0.2.1\nd TXT ok\ne CH A 192.0.2.1\n",
        )
        .unwrap_err();
        let lines: Vec<String> = err.0.iter().map(|d| d.to_string()).collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(
            lines[0].starts_with("z.zone:2:8: zone file syntax: b.example.test A:"),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with("z.zone:3:3: c.example.test: invalid TTL"),
            "{lines:?}"
        );
        assert_eq!(
            lines[2],
            "z.zone:5:3: e.example.test: class CH is not served; use IN"
        );
    }

    #[test]
    fn text_without_a_file_reads_no_include() {
        let err = parse("$INCLUDE /etc/hostname\n").unwrap_err().to_string();
        assert_eq!(
            err,
            "z.zone:1:1: $INCLUDE is only read from zone files on disk"
        );
    }

    #[test]
    fn unknown_directives_and_blank_first_records_are_errors() {
        let err = parse("$GENERATE 1-2 a$ A 192.0.2.$\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("z.zone:1:1: unknown directive $GENERATE"),
            "{err}"
        );
        let err = parse("  A 192.0.2.1\n").unwrap_err().to_string();
        assert!(
            err.starts_with("z.zone:1:3: this record starts with a blank"),
            "{err}"
        );
    }

    /// Writes `files` into a temp folder; returns it and the first file's path.
    fn files(files: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let first = dir.path().join(files[0].0);
        (dir, first)
    }

    #[test]
    fn include_is_relative_to_the_including_file_and_scopes_its_directives() {
        let (_dir, main) = files(&[
            (
                "main.zone",
                "$TTL 120\n$INCLUDE inc/a.zone\n$INCLUDE \"inc/a.zone\" other.example.test.\nafter A 192.0.2.9\n",
            ),
            (
                "inc/a.zone",
                "x A 192.0.2.1\n@ TXT \"at\"\n$TTL 77\n$ORIGIN elsewhere.example.test.\ny A 192.0.2.2\n$INCLUDE b.zone\n",
            ),
            ("inc/b.zone", "z CNAME @\n"),
        ]);
        let recs = load_file(&main, &apex()).unwrap();
        assert_eq!(ttl_of(&recs, "x.example.test.", Rtype::A), 120);
        assert_eq!(values(&recs, "example.test.", Rtype::TXT), ["\"at\""]);
        assert_eq!(ttl_of(&recs, "y.elsewhere.example.test.", Rtype::A), 77);
        assert_eq!(
            values(&recs, "z.elsewhere.example.test.", Rtype::CNAME),
            ["elsewhere.example.test."]
        );
        assert_eq!(values(&recs, "other.example.test.", Rtype::TXT), ["\"at\""]);
        assert!(
            recs.iter()
                .any(|r| r.owner.to_string() == "x.other.example.test")
        );
        // The included $TTL and $ORIGIN ended with the included file.
        assert_eq!(ttl_of(&recs, "after.example.test.", Rtype::A), 120);
        let y = recs
            .iter()
            .find(|r| r.owner.to_string() == "y.elsewhere.example.test")
            .unwrap();
        let origin = y.origin.as_ref().unwrap();
        assert!(origin.file.ends_with("inc/a.zone"), "{origin:?}");
        assert_eq!((origin.line, origin.col), (5, 1));
    }

    #[test]
    fn include_loops_depth_and_missing_files_are_located_errors() {
        let (_dir, main) = files(&[
            (
                "main.zone",
                "a A 192.0.2.1\n$INCLUDE loop.zone\n$INCLUDE missing.zone\n",
            ),
            ("loop.zone", "b A 192.0.2.2\n$INCLUDE main.zone\n"),
        ]);
        let err = load_file(&main, &apex()).unwrap_err();
        let lines: Vec<String> = err.0.iter().map(|d| d.to_string()).collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].contains("loop.zone:2:10: $INCLUDE")
                && lines[0].ends_with("the file includes itself"),
            "{lines:?}"
        );
        assert!(
            lines[1].contains("main.zone:3:10: $INCLUDE") && lines[1].contains("cannot read it"),
            "{lines:?}"
        );

        let chain: Vec<(String, String)> = (0..=MAX_INCLUDE_DEPTH + 1)
            .map(|i| {
                (
                    format!("f{i}.zone"),
                    format!("r{i} A 192.0.2.1\n$INCLUDE f{}.zone\n", i + 1),
                )
            })
            .collect();
        let refs: Vec<(&str, &str)> = chain
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let (_dir, main) = files(&refs);
        let err = load_file(&main, &apex()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("f{MAX_INCLUDE_DEPTH}.zone:2:1: $INCLUDE")),
            "{err}"
        );
        assert!(err.contains("nested deeper than 8 files"), "{err}");

        let (_dir, main) = files(&[("main.zone", "$INCLUDE /dev/zero\n")]);
        let err = load_file(&main, &apex()).unwrap_err().to_string();
        assert!(err.ends_with("not a regular file"), "{err}");
    }

    #[test]
    fn plain_names_and_addresses_read_as_domain_reads_them() {
        let origin = apex();
        let long_label = "a".repeat(63);
        let too_long_label = "a".repeat(64);
        let near_limit = [long_label.as_str(); 3].join(".");
        let over_limit = [long_label.as_str(); 4].join(".");
        // Read directly: the same name, octet for octet (case kept).
        for text in [
            "www",
            "WwW.Sub",
            "h0",
            "*",
            "*.wild",
            "_sip._tcp",
            "a-b.c_d",
            "x.example.org.",
            "Example.ORG.",
            &long_label,
            &near_limit,
        ] {
            let fast = plain_name(text, &origin).unwrap_or_else(|| panic!("{text}: not plain"));
            let slow = read_name(text, &origin).unwrap();
            assert_eq!(fast.as_slice(), slow.as_slice(), "{text}");
        }
        // Left to domain: escapes, other characters, empty or long
        // labels, the root, a name too long with the origin.
        for text in [
            "a\\.b",
            "a\\032b",
            "a..b",
            ".",
            "a/b",
            "é",
            "a b",
            &too_long_label,
            &over_limit,
        ] {
            assert!(plain_name(text, &origin).is_none(), "{text}");
        }
        // Addresses: one plain token, as the scanner reads it; anything
        // else goes through the scanner, with its message for bad ones.
        let mut line = String::new();
        let token = |text: &'static str, quoted: bool| Token {
            text,
            quoted,
            joined: false,
            line: 1,
            col: 1,
        };
        // Marked quoted (with no quotes in its text), a token skips the
        // direct read and is written out for the scanner as it is.
        for (rtype, text) in [
            (Rtype::A, "192.0.2.1"),
            (Rtype::AAAA, "2001:db8::1"),
            (Rtype::AAAA, "::ffff:192.0.2.1"),
        ] {
            let fast = rdata::address(rtype, &[token(text, false)]).expect("read directly");
            let scanned = rdata::scan(&origin, rtype, &[token(text, true)], &mut line)
                .unwrap_or_else(|e| panic!("{text}: {}", e.message));
            assert_eq!(fast, scanned, "{text}");
        }
        for (rtype, text) in [
            (Rtype::A, "192.0.2"),
            (Rtype::A, "01.2.3.4"),
            (Rtype::A, "2001:db8::1"),
            (Rtype::AAAA, "192.0.2.1"),
            (Rtype::A, "\\049.2.3.4"),
        ] {
            assert!(
                rdata::address(rtype, &[token(text, false)]).is_none(),
                "{text}"
            );
        }
    }

    #[test]
    fn parses_single_values() {
        let mx = parse_value(&apex(), Rtype::MX, "10 mail").unwrap();
        assert_eq!(
            parse_value(&apex(), Rtype::CNAME, "@").unwrap().to_string(),
            "example.test."
        );
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
