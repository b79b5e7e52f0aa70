//! The TOML configuration file: raw parse, then a validated [`Config`].
//!
//! Parsing is separate from reading a file ([`Config::from_toml`]) so tests
//! and `eightfold check` share one path. Every problem is reported with its
//! location, and all of them at once rather than the first only.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::diag::{Diagnostic, Diagnostics};
use crate::model::{
    CheckKind, DEFAULT_RECORD_TTL, DName, FailoverRole, HealthCheckSpec, Origin, Policy,
    RecordSpec, Target, ZoneSpec,
};
use crate::{validate, zonefile};

/// DNS address when neither the config nor the command line gives one.
pub const DEFAULT_DNS: &str = "127.0.0.1:5353";
/// API address when there is no config file and no `--api`.
pub const DEFAULT_API: &str = "127.0.0.1:8053";
/// SQLite file when none is given.
pub const DEFAULT_DATA: &str = "eightfold.db";
/// Health check interval when none is given.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// Consecutive results needed to change a check's state.
pub const DEFAULT_FAILURE_THRESHOLD: u8 = 3;
/// HTTP response deadline after connecting.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// DNS listen addresses, UDP and TCP on each.
    pub dns: Vec<SocketAddr>,
    /// API listen address; `None` runs without the API.
    pub api: Option<SocketAddr>,
    /// SQLite database file.
    pub data: PathBuf,
    /// File holding the API bearer token.
    pub api_token_file: Option<PathBuf>,
    /// File-managed health checks.
    pub health_checks: Vec<HealthCheckSpec>,
    /// File-managed zones with all their records.
    pub zones: Vec<ZoneSpec>,
}

impl Default for Config {
    /// What `eightfold serve` runs with no config file and no flags.
    fn default() -> Self {
        Config {
            dns: vec![DEFAULT_DNS.parse().expect("valid default")],
            api: Some(DEFAULT_API.parse().expect("valid default")),
            data: PathBuf::from(DEFAULT_DATA),
            api_token_file: None,
            health_checks: Vec::new(),
            zones: Vec::new(),
        }
    }
}

impl Config {
    /// Reads and validates the config file at `path`, and the zone files it
    /// names (relative paths are relative to the config file's folder).
    pub fn load(path: &Path) -> Result<Config, Diagnostics> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Diagnostics::from(Diagnostic {
                file: path.to_owned(),
                line: 1,
                col: 1,
                message: format!("cannot read config file: {e}"),
            })
        })?;
        Config::from_toml(path, &text)
    }

    /// Validates config `text`; `path` names it in messages and anchors
    /// relative paths.
    pub fn from_toml(path: &Path, text: &str) -> Result<Config, Diagnostics> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            Diagnostics::from(Diagnostic::at_offset(path, text, offset, toml_message(&e)))
        })?;
        let mut cx = Cx {
            path,
            text,
            base: path.parent().unwrap_or(Path::new("")),
            diags: Diagnostics::default(),
        };
        let config = cx.config(raw);
        cx.diags.into_result(config)
    }
}

fn toml_message(e: &toml::de::Error) -> String {
    // toml's own rendering repeats the source line; the message alone reads
    // better after our `file:line:col:` prefix.
    e.message().trim().replace('\n', " ")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    health_check: Vec<RawHealthCheck>,
    #[serde(default)]
    zone: Vec<RawZone>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    dns: Option<Spanned<Vec<Spanned<String>>>>,
    api: Option<Spanned<String>>,
    data: Option<PathBuf>,
    api_token_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealthCheck {
    id: Spanned<String>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    ip: Option<Spanned<String>>,
    fqdn: Option<Spanned<String>>,
    port: Option<u16>,
    path: Option<String>,
    host: Option<String>,
    search: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    failure_threshold: Option<Spanned<i64>>,
    timeout: Option<Spanned<String>>,
    #[serde(default)]
    invert: bool,
    #[serde(default)]
    disabled: bool,
    children: Option<Spanned<Vec<Spanned<String>>>>,
    healthy_threshold: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZone {
    name: Spanned<String>,
    file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    record: Vec<Spanned<RawRecord>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecord {
    name: Spanned<String>,
    #[serde(rename = "type")]
    rtype: Spanned<String>,
    ttl: Option<Spanned<i64>>,
    routing: Option<Spanned<String>>,
    set: Option<Spanned<String>>,
    value: Option<Spanned<String>>,
    values: Option<Spanned<Vec<Spanned<String>>>>,
    health_check: Option<Spanned<String>>,
    failover: Option<Spanned<String>>,
    weight: Option<Spanned<i64>>,
}

/// Validation context: the file being read and the problems found so far.
struct Cx<'a> {
    path: &'a Path,
    text: &'a str,
    base: &'a Path,
    diags: Diagnostics,
}

impl Cx<'_> {
    fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diags.push(Diagnostic::at_offset(
            self.path, self.text, span.start, message,
        ));
    }

    fn origin(&self, span: Range<usize>) -> Origin {
        let (line, col) = crate::diag::line_col(self.text, span.start);
        Origin {
            file: self.path.to_owned(),
            line,
            col,
        }
    }

    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base.join(p)
        }
    }

    fn config(&mut self, raw: RawConfig) -> Config {
        let mut dns = Vec::new();
        match raw.server.dns {
            Some(list) => {
                if list.get_ref().is_empty() {
                    self.error(
                        list.span(),
                        "server.dns is empty; give at least one address such as \"127.0.0.1:53\"",
                    );
                }
                for a in list.into_inner() {
                    match a.get_ref().parse::<SocketAddr>() {
                        Ok(addr) => dns.push(addr),
                        Err(_) => self.error(
                            a.span(),
                            format!("invalid DNS listen address {:?}; expected IP:PORT such as \"127.0.0.1:53\" or \"[::1]:53\"", a.get_ref()),
                        ),
                    }
                }
            }
            None => dns.push(DEFAULT_DNS.parse().expect("valid default")),
        }
        let api = raw.server.api.and_then(|a| match a.get_ref().parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.error(
                    a.span(),
                    format!("invalid API listen address {:?}; expected IP:PORT such as \"127.0.0.1:8053\"", a.get_ref()),
                );
                None
            }
        });
        let data = self.resolve(
            &raw.server
                .data
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA)),
        );
        let api_token_file = raw.server.api_token_file.map(|p| self.resolve(&p));

        let health_checks = self.health_checks(raw.health_check);
        let check_ids: HashSet<&str> = health_checks.iter().map(|c| c.id.as_str()).collect();
        let mut zones: Vec<ZoneSpec> = Vec::new();
        for z in raw.zone {
            if let Some(zone) = self.zone(z, &check_ids, &zones) {
                zones.push(zone);
            }
        }
        Config {
            dns,
            api,
            data,
            api_token_file,
            health_checks,
            zones,
        }
    }

    fn health_checks(&mut self, raws: Vec<RawHealthCheck>) -> Vec<HealthCheckSpec> {
        let mut out: Vec<HealthCheckSpec> = Vec::new();
        let mut calculated: Vec<(usize, Vec<Spanned<String>>)> = Vec::new();
        for raw in raws {
            let id = raw.id.get_ref().clone();
            if id.is_empty() || id.len() > 64 {
                self.error(raw.id.span(), "health check id must be 1 to 64 characters");
                continue;
            }
            if out.iter().any(|c| c.id == id) {
                self.error(
                    raw.id.span(),
                    format!("health check {id:?} is declared twice"),
                );
                continue;
            }
            let kind = match raw.kind.get_ref().as_str() {
                "tcp" => CheckKind::Tcp,
                "http" => CheckKind::Http,
                "https" => CheckKind::Https,
                "calculated" => CheckKind::Calculated {
                    children: Vec::new(),
                    healthy_threshold: 1,
                },
                other => {
                    self.error(
                        raw.kind.span(),
                        format!("health check {id:?}: unknown type {other:?}; use tcp, http, https or calculated"),
                    );
                    continue;
                }
            };
            let is_calculated = matches!(kind, CheckKind::Calculated { .. });
            let target = match (&raw.ip, &raw.fqdn) {
                (Some(ip), None) => match ip.get_ref().parse() {
                    Ok(addr) => Some(Target::Ip(addr)),
                    Err(_) => {
                        self.error(
                            ip.span(),
                            format!("health check {id:?}: invalid IP address {:?}", ip.get_ref()),
                        );
                        None
                    }
                },
                (None, Some(fqdn)) => {
                    if DName::from_str(fqdn.get_ref()).is_err() {
                        self.error(
                            fqdn.span(),
                            format!(
                                "health check {id:?}: invalid domain name {:?}",
                                fqdn.get_ref()
                            ),
                        );
                    }
                    Some(Target::Fqdn(fqdn.get_ref().clone()))
                }
                (Some(ip), Some(_)) => {
                    self.error(
                        ip.span(),
                        format!("health check {id:?}: give ip or fqdn, not both"),
                    );
                    None
                }
                (None, None) => {
                    if !is_calculated {
                        self.error(
                            raw.id.span(),
                            format!("health check {id:?}: needs ip or fqdn"),
                        );
                    }
                    None
                }
            };
            if is_calculated && target.is_some() {
                self.error(
                    raw.kind.span(),
                    format!("health check {id:?}: a calculated check has children, not ip or fqdn"),
                );
            }
            if let Some(s) = &raw.search {
                if s.get_ref().is_empty() || s.get_ref().len() > 255 {
                    self.error(
                        s.span(),
                        format!("health check {id:?}: search must be 1 to 255 characters"),
                    );
                }
                if !matches!(kind, CheckKind::Http | CheckKind::Https) {
                    self.error(
                        s.span(),
                        format!(
                            "health check {id:?}: search applies to http and https checks only"
                        ),
                    );
                }
            }
            let interval = self.duration(
                &id,
                "interval",
                raw.interval.as_ref(),
                DEFAULT_INTERVAL,
                1..=300,
            );
            let timeout = self.duration(
                &id,
                "timeout",
                raw.timeout.as_ref(),
                DEFAULT_TIMEOUT,
                1..=60,
            );
            let failure_threshold = match &raw.failure_threshold {
                None => DEFAULT_FAILURE_THRESHOLD,
                Some(t) if (1..=10).contains(t.get_ref()) => *t.get_ref() as u8,
                Some(t) => {
                    self.error(
                        t.span(),
                        format!(
                            "health check {id:?}: failure_threshold must be 1 to 10, not {}",
                            t.get_ref()
                        ),
                    );
                    DEFAULT_FAILURE_THRESHOLD
                }
            };
            let kind = match kind {
                CheckKind::Calculated { .. } => {
                    let threshold = match &raw.healthy_threshold {
                        None => 1,
                        Some(t) if (0..=256).contains(t.get_ref()) => *t.get_ref() as u32,
                        Some(t) => {
                            self.error(
                                t.span(),
                                format!("health check {id:?}: healthy_threshold must be 0 to 256"),
                            );
                            1
                        }
                    };
                    match raw.children {
                        Some(children) => {
                            calculated.push((out.len(), children.into_inner()));
                        }
                        None => self.error(
                            raw.id.span(),
                            format!(
                                "health check {id:?}: a calculated check needs children = [...]"
                            ),
                        ),
                    }
                    CheckKind::Calculated {
                        children: Vec::new(),
                        healthy_threshold: threshold,
                    }
                }
                other => {
                    if let Some(c) = &raw.children {
                        self.error(
                            c.span(),
                            format!(
                                "health check {id:?}: children apply to calculated checks only"
                            ),
                        );
                    }
                    other
                }
            };
            let default_port = if matches!(kind, CheckKind::Https) {
                443
            } else {
                80
            };
            if matches!(kind, CheckKind::Tcp) && raw.port.is_none() {
                self.error(
                    raw.id.span(),
                    format!("health check {id:?}: a tcp check needs a port"),
                );
            }
            out.push(HealthCheckSpec {
                id,
                kind,
                target,
                port: raw.port.unwrap_or(default_port),
                path: raw.path.unwrap_or_else(|| "/".into()),
                host: raw.host,
                search: raw.search.map(Spanned::into_inner),
                interval,
                failure_threshold,
                timeout,
                invert: raw.invert,
                disabled: raw.disabled,
            });
        }
        // Children are checked once every id is known.
        for (index, children) in calculated {
            let mut ids = Vec::new();
            for child in children {
                let name = child.get_ref();
                match out.iter().find(|c| &c.id == name) {
                    None => self.error(child.span(), format!("health check {:?}: unknown child {name:?}", out[index].id)),
                    Some(c) if matches!(c.kind, CheckKind::Calculated { .. }) => self.error(
                        child.span(),
                        format!("health check {:?}: child {name:?} is itself calculated; children must be endpoint checks", out[index].id),
                    ),
                    Some(_) => ids.push(name.clone()),
                }
            }
            if let CheckKind::Calculated { children, .. } = &mut out[index].kind {
                *children = ids;
            }
        }
        out
    }

    fn duration(
        &mut self,
        id: &str,
        field: &str,
        raw: Option<&Spanned<String>>,
        default: Duration,
        secs: std::ops::RangeInclusive<u64>,
    ) -> Duration {
        let Some(raw) = raw else { return default };
        match humantime::parse_duration(raw.get_ref()) {
            Ok(d)
                if d >= Duration::from_secs(*secs.start())
                    && d <= Duration::from_secs(*secs.end()) =>
            {
                d
            }
            Ok(_) => {
                self.error(
                    raw.span(),
                    format!(
                        "health check {id:?}: {field} must be between {}s and {}s",
                        secs.start(),
                        secs.end()
                    ),
                );
                default
            }
            Err(_) => {
                self.error(
                    raw.span(),
                    format!(
                        "health check {id:?}: invalid {field} {:?}; write it like \"10s\"",
                        raw.get_ref()
                    ),
                );
                default
            }
        }
    }

    fn zone(
        &mut self,
        raw: RawZone,
        check_ids: &HashSet<&str>,
        earlier: &[ZoneSpec],
    ) -> Option<ZoneSpec> {
        let apex = match parse_absolute(raw.name.get_ref()) {
            Ok(n) => n,
            Err(msg) => {
                self.error(
                    raw.name.span(),
                    format!("zone name {:?}: {msg}", raw.name.get_ref()),
                );
                return None;
            }
        };
        if earlier.iter().any(|z| z.name.name_eq(&apex)) {
            self.error(raw.name.span(), format!("zone {apex} is declared twice"));
            return None;
        }
        let mut records = Vec::new();
        if let Some(file) = &raw.file {
            let path = self.resolve(file.get_ref());
            match zonefile::load_file(&path, &apex) {
                Ok(recs) => records.extend(recs),
                Err(d) if d.0.len() == 1 && d.0[0].message.starts_with("cannot read zone file") => {
                    let msg = format!("zone {apex}: {}: {}", path.display(), d.0[0].message);
                    self.error(file.span(), msg);
                }
                Err(d) => self.diags.0.extend(d.0),
            }
        }
        for rec in raw.record {
            let span = rec.span();
            if let Some(r) = self.record(&apex, rec.into_inner(), span, check_ids) {
                records.push(r);
            }
        }
        let zone = ZoneSpec {
            name: apex,
            records,
        };
        for problem in validate::zone(&zone) {
            let origin = problem
                .origin
                .unwrap_or_else(|| self.origin(raw.name.span()));
            self.diags.push(Diagnostic {
                file: origin.file,
                line: origin.line,
                col: origin.col,
                message: problem.message,
            });
        }
        Some(zone)
    }

    fn record(
        &mut self,
        apex: &DName,
        raw: RawRecord,
        span: Range<usize>,
        check_ids: &HashSet<&str>,
    ) -> Option<RecordSpec> {
        let before = self.diags.0.len();
        let owner = match owner_name(apex, raw.name.get_ref()) {
            Ok(n) => Some(n),
            Err(msg) => {
                self.error(raw.name.span(), msg);
                None
            }
        };
        let rtype = zonefile::parse_rtype(raw.rtype.get_ref());
        if rtype.is_none() {
            self.error(
                raw.rtype.span(),
                format!("unknown record type {:?}", raw.rtype.get_ref()),
            );
        }
        let label = format!("{} {}", raw.name.get_ref(), raw.rtype.get_ref());
        let policy = match &raw.routing {
            None => Policy::Simple,
            Some(r) => Policy::parse(r.get_ref()).unwrap_or_else(|| {
                self.error(
                    r.span(),
                    format!("{label}: unknown routing {:?}; use simple, multivalue, failover or weighted", r.get_ref()),
                );
                Policy::Simple
            }),
        };
        let ttl = match &raw.ttl {
            None => DEFAULT_RECORD_TTL,
            Some(t) if (0..=i64::from(i32::MAX)).contains(t.get_ref()) => *t.get_ref() as u32,
            Some(t) => {
                self.error(
                    t.span(),
                    format!("{label}: ttl must be 0 to 2147483647 seconds"),
                );
                0
            }
        };
        // Values: `values = [...]` for simple records, `value = "..."` for the
        // others, as in the spec; a simple record may also use `value`.
        let texts: Vec<Spanned<String>> = match (raw.value, raw.values) {
            (Some(v), None) => vec![v],
            (None, Some(vs)) => {
                if policy != Policy::Simple {
                    self.error(
                        vs.span(),
                        format!(
                            "{label}: a {} record has one `value`, not `values`",
                            policy.as_str()
                        ),
                    );
                }
                if vs.get_ref().is_empty() {
                    self.error(vs.span(), format!("{label}: values is empty"));
                }
                vs.into_inner()
            }
            (Some(v), Some(_)) => {
                self.error(v.span(), format!("{label}: give value or values, not both"));
                vec![]
            }
            (None, None) => {
                self.error(span.clone(), format!("{label}: missing value"));
                vec![]
            }
        };
        let mut values = Vec::new();
        if let Some(rtype) = rtype {
            for t in &texts {
                match zonefile::parse_value(apex, rtype, t.get_ref()) {
                    Ok(v) => values.push(v),
                    Err(msg) => self.error(t.span(), format!("{label}: {msg}")),
                }
            }
        }
        let set = raw.set.map(|s| {
            let n = s.get_ref().chars().count();
            if !(1..=128).contains(&n) {
                self.error(
                    s.span(),
                    format!("{label}: set identifier must be 1 to 128 characters"),
                );
            }
            if policy == Policy::Simple {
                self.error(
                    s.span(),
                    format!(
                        "{label}: a simple record has no set identifier; choose a routing policy"
                    ),
                );
            }
            s.into_inner()
        });
        if set.is_none() && policy != Policy::Simple {
            self.error(
                span.clone(),
                format!(
                    "{label}: a {} record needs a set identifier (set = \"...\")",
                    policy.as_str()
                ),
            );
        }
        let health_check = raw.health_check.map(|h| {
            if !check_ids.contains(h.get_ref().as_str()) {
                self.error(h.span(), format!("{label}: unknown health check {:?}", h.get_ref()));
            }
            if policy == Policy::Simple {
                self.error(h.span(), format!("{label}: a simple record has no health check; use multivalue, failover or weighted routing"));
            }
            h.into_inner()
        });
        let failover = match (&raw.failover, policy) {
            (Some(f), Policy::Failover) => {
                match f.get_ref().as_str() {
                    "primary" => Some(FailoverRole::Primary),
                    "secondary" => Some(FailoverRole::Secondary),
                    other => {
                        self.error(f.span(), format!("{label}: failover must be \"primary\" or \"secondary\", not {other:?}"));
                        None
                    }
                }
            }
            (None, Policy::Failover) => {
                self.error(
                    span.clone(),
                    format!(
                        "{label}: a failover record needs failover = \"primary\" or \"secondary\""
                    ),
                );
                None
            }
            (Some(f), _) => {
                self.error(
                    f.span(),
                    format!("{label}: failover applies to routing = \"failover\" only"),
                );
                None
            }
            (None, _) => None,
        };
        let weight = match (&raw.weight, policy) {
            (Some(w), Policy::Weighted) => {
                if (0..=255).contains(w.get_ref()) {
                    Some(*w.get_ref() as u8)
                } else {
                    self.error(
                        w.span(),
                        format!("{label}: weight must be 0 to 255, not {}", w.get_ref()),
                    );
                    None
                }
            }
            (None, Policy::Weighted) => {
                self.error(
                    span.clone(),
                    format!("{label}: a weighted record needs a weight (0 to 255)"),
                );
                None
            }
            (Some(w), _) => {
                self.error(
                    w.span(),
                    format!("{label}: weight applies to routing = \"weighted\" only"),
                );
                None
            }
            (None, _) => None,
        };
        if self.diags.0.len() > before {
            return None;
        }
        Some(RecordSpec {
            owner: owner?,
            rtype: rtype?,
            ttl: zonefile::ttl(ttl),
            policy,
            set,
            values,
            health_check,
            failover,
            weight,
            origin: Some(self.origin(span)),
        })
    }
}

/// Parses a zone name; a missing trailing dot is accepted.
pub fn parse_absolute(s: &str) -> Result<DName, String> {
    if s.is_empty() {
        return Err("empty name".into());
    }
    let text = if s.ends_with('.') && !s.ends_with("\\.") {
        s.to_owned()
    } else {
        format!("{s}.")
    };
    DName::from_str(&text).map_err(|e| format!("invalid domain name: {e}"))
}

/// Resolves a record name: `@`, relative to the zone, or absolute.
pub fn owner_name(apex: &DName, s: &str) -> Result<DName, String> {
    let name = if s == "@" {
        apex.clone()
    } else if s.ends_with('.') && !s.ends_with("\\.") {
        DName::from_str(s).map_err(|e| format!("invalid record name {s:?}: {e}"))?
    } else {
        let rel = domain::base::RelativeName::<bytes::Bytes>::from_str(s)
            .map_err(|e| format!("invalid record name {s:?}: {e}"))?;
        rel.chain(apex)
            .map_err(|_| format!("record name {s:?} is too long"))?
            .to_name::<bytes::Bytes>()
    };
    if !name.ends_with(apex) {
        return Err(format!(
            "record name {s:?} ({name}) is outside the zone {apex}"
        ));
    }
    Ok(name)
}

use domain::base::ToName;

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, Diagnostics> {
        Config::from_toml(Path::new("e.toml"), text)
    }

    fn errors(text: &str) -> String {
        load(text).unwrap_err().to_string()
    }

    #[test]
    fn empty_file_gives_defaults_without_api() {
        let c = load("").unwrap();
        assert_eq!(c.dns, vec!["127.0.0.1:5353".parse().unwrap()]);
        assert_eq!(c.api, None);
        assert_eq!(c.data, PathBuf::from("eightfold.db"));
    }

    #[test]
    fn unknown_field_is_located() {
        assert_eq!(
            errors("[server]\ndns = [\"127.0.0.1:53\"]\nbogus = 1\n"),
            "e.toml:3:1: unknown field `bogus`, expected one of `dns`, `api`, `data`, `api_token_file`"
        );
    }

    #[test]
    fn bad_toml_is_located() {
        let e = errors("[server\n");
        assert!(e.starts_with("e.toml:1:"), "{e}");
    }

    #[test]
    fn bad_ip_in_a_record_is_located_at_the_value() {
        let e = errors(
            "[[zone]]\nname = \"example.test.\"\n[[zone.record]]\nname = \"www\"\ntype = \"A\"\nvalues = [\"10.0.0.300\"]\n",
        );
        assert_eq!(e, "e.toml:6:11: www A: invalid IPv4 address \"10.0.0.300\"");
    }

    #[test]
    fn bad_listen_address_is_reported() {
        let e = errors("[server]\ndns = [\"localhost\"]\n");
        assert!(
            e.starts_with("e.toml:2:8: invalid DNS listen address \"localhost\""),
            "{e}"
        );
    }

    #[test]
    fn cname_beside_other_data_is_rejected() {
        let e = errors(
            "[[zone]]\nname = \"example.test\"\n\
             [[zone.record]]\nname = \"www\"\ntype = \"CNAME\"\nvalues = [\"other\"]\n\
             [[zone.record]]\nname = \"www\"\ntype = \"A\"\nvalues = [\"192.0.2.1\"]\n",
        );
        assert!(
            e.contains("www.example.test. has a CNAME and other data"),
            "{e}"
        );
        assert!(e.starts_with("e.toml:"), "{e}");
    }

    #[test]
    fn record_outside_zone_is_rejected() {
        let e = errors(
            "[[zone]]\nname = \"example.test.\"\n[[zone.record]]\nname = \"www.other.\"\ntype = \"A\"\nvalues = [\"192.0.2.1\"]\n",
        );
        assert_eq!(
            e,
            "e.toml:4:8: record name \"www.other.\" (www.other) is outside the zone example.test"
        );
    }

    #[test]
    fn missing_zone_file_names_the_file() {
        let e = errors("[[zone]]\nname = \"example.test.\"\nfile = \"nope.zone\"\n");
        assert!(
            e.starts_with("e.toml:3:8: zone example.test: nope.zone: cannot read zone file"),
            "{e}"
        );
    }

    #[test]
    fn health_check_fields_are_validated() {
        let e = errors(
            "[[health_check]]\nid = \"a\"\ntype = \"http\"\nip = \"1.2.3.4\"\ninterval = \"500s\"\nfailure_threshold = 11\n",
        );
        assert!(
            e.contains("e.toml:5:12: health check \"a\": interval must be between 1s and 300s"),
            "{e}"
        );
        assert!(
            e.contains(
                "e.toml:6:21: health check \"a\": failure_threshold must be 1 to 10, not 11"
            ),
            "{e}"
        );
    }

    #[test]
    fn routing_fields_are_checked_per_policy() {
        let e = errors(
            "[[zone]]\nname = \"example.test.\"\n[[zone.record]]\nname = \"www\"\ntype = \"A\"\nrouting = \"multivalue\"\nvalue = \"192.0.2.1\"\n",
        );
        assert!(
            e.contains("www A: a multivalue record needs a set identifier"),
            "{e}"
        );
    }

    #[test]
    fn full_example_loads() {
        let c = load(
            "[server]\ndns = [\"127.0.0.1:5353\"]\napi = \"127.0.0.1:8053\"\n\
             [[health_check]]\nid = \"web-a\"\ntype = \"http\"\nip = \"127.0.0.1\"\nport = 8081\npath = \"/health\"\n\
             [[zone]]\nname = \"example.test.\"\n\
             [[zone.record]]\nname = \"www\"\ntype = \"A\"\nttl = 60\nrouting = \"multivalue\"\nset = \"web-a\"\nvalue = \"127.0.0.10\"\nhealth_check = \"web-a\"\n",
        )
        .unwrap();
        assert_eq!(c.api, Some("127.0.0.1:8053".parse().unwrap()));
        assert_eq!(c.health_checks[0].port, 8081);
        assert_eq!(c.zones[0].records[0].set.as_deref(), Some("web-a"));
    }
}
