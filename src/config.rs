//! The TOML configuration file: raw parse, then a validated [`Config`].
//!
//! Parsing is separate from reading a file ([`Config::from_toml`]) so tests
//! and `eightfold check` share one path. Every problem is reported with its
//! location, and all of them at once rather than the first only.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use toml::Spanned;

use crate::diag::{Diagnostic, Diagnostics};
use crate::health::targets::{Listener, Role, TargetPolicy};
use crate::input::{FieldError, HealthCheckInput, RecordInput};
use crate::model::{DName, HealthCheckSpec, Origin, RecordSpec, ZoneSpec};
use crate::nameservers::NameServer;
use crate::tsig::TsigKey;
use crate::xfr::{Rule, Settings as XfrSettings, Transfers};
use crate::{validate, zonefile};

mod sources;
pub use sources::{Built, ZoneSources};
use sources::{Parsed, built};

/// DNS address when neither the config nor the command line gives one.
pub const DEFAULT_DNS: &str = "127.0.0.1:5353";
/// API address when there is no config file and no `--api`.
pub const DEFAULT_API: &str = "127.0.0.1:8053";
/// With rate limiting on, every limited query gets a truncated answer
/// (Knot's default): eightfold's budget is shared by a whole client
/// prefix, so a dropped answer would fall on an innocent neighbour of a
/// spoofed victim; a truncated one sends it to TCP instead, and is no
/// larger than the query (bench/amplification.sh measures both).
pub const DEFAULT_RATE_LIMIT_SLIP: u32 = 1;
/// History kept when the config says nothing: 90 days, and at most
/// 100,000 rows of each kind (a few tens of MiB).
pub const DEFAULT_RETENTION: crate::store::Retention = crate::store::Retention {
    max_age: std::time::Duration::from_secs(90 * 24 * 3600),
    max_rows: 100_000,
};
/// IPv6 TCP clients are counted per /64 unless the config says otherwise.
pub const DEFAULT_TCP_IPV6_CLIENT_PREFIX: u8 = 64;
/// Longest `[server] node` name, in characters.
pub const MAX_NODE_NAME: usize = 64;

/// Checks a node name (`[server] node`, `--node`).
pub fn node_name(text: &str) -> Result<String, String> {
    let length = text.chars().count();
    if length == 0 || length > MAX_NODE_NAME || text.chars().any(|c| c.is_control()) {
        return Err(format!(
            "{text:?} is not a node name; give 1 to {MAX_NODE_NAME} printable characters"
        ));
    }
    Ok(text.to_string())
}

/// SQLite file when none is given.
pub const DEFAULT_DATA: &str = "eightfold.db";
/// Longest `[server] nsid`: an identifier, not a message.
pub const MAX_NSID: usize = 128;

/// Where secondary zones' copies are kept, relative to the config file's
/// folder (the working directory without a config file).
pub const DEFAULT_SECONDARY_DIR: &str = "secondaries";

/// The NSID when the config gives none: the node's name (by default the
/// host name, as Knot's `nsid` is), so each server of a fleet tells itself
/// apart.
fn default_nsid(node: &str) -> Option<Vec<u8>> {
    (!node.is_empty() && node.len() <= MAX_NSID).then(|| node.as_bytes().to_vec())
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// DNS listen addresses, UDP and TCP on each.
    pub dns: Vec<SocketAddr>,
    /// API listen address; `None` runs without the API.
    pub api: Option<SocketAddr>,
    /// Where the data lives: a SQLite file, or a PostgreSQL database that
    /// several nodes share.
    pub data: crate::store::Location,
    /// File holding the API bearer token.
    pub api_token_file: Option<PathBuf>,
    /// UDP answers per second per client prefix; 0 turns limiting off.
    pub rate_limit: u32,
    /// Every `rate_limit_slip`-th limited query gets a truncated answer.
    pub rate_limit_slip: u32,
    /// Certificate chain and private key (PEM files) that turn the API
    /// into HTTPS; `None` serves plain HTTP.
    pub api_tls: Option<ApiTls>,
    /// Host names the API answers to besides its own address and
    /// `localhost` (DNS rebinding protection: any other `Host` is refused).
    pub api_hosts: Vec<String>,
    /// Address prefixes health checks may aim at; empty allows any address
    /// outside the always-refused ranges (link-local, multicast, ...).
    pub check_targets: Vec<ipnet::IpNet>,
    /// How much health-event and Route 53 change history is kept.
    pub retention: crate::store::Retention,
    /// TCP connections from IPv6 clients are counted per prefix of this
    /// many bits (one host usually holds a whole /64).
    pub tcp_ipv6_client_prefix: u8,
    /// This node's name among the nodes that share a store (default: the
    /// host name).
    pub node: String,
    /// The cluster's vote: a check is healthy when more than this
    /// percentage of the live nodes' observations are, unless the check
    /// sets its own (`health::vote`).
    pub healthy_percent: u8,
    /// File-managed health checks.
    pub health_checks: Vec<HealthCheckSpec>,
    /// File-managed zones with all their records.
    pub zones: Vec<ZoneSpec>,
    /// TSIG keys (`[[tsig_key]]`).
    pub tsig_keys: Vec<TsigKey>,
    /// Who may transfer which zone, and whom to notify.
    pub transfers: XfrSettings,
    /// Zones taken from primaries (`primaries`); each is also in `zones`,
    /// without records, until transferred.
    pub secondaries: Vec<crate::xfr::secondary::Secondary>,
    /// Where secondary zones' last transferred copies are kept.
    pub secondary_dir: PathBuf,
    /// The key of DNS server cookies (`[server] cookie_secret`, 32 hex
    /// digits), shared by a fleet; `None`: random for each process.
    pub cookie_secret: Option<[u8; 16]>,
    /// The identifier answered to NSID requests; `None`: none.
    pub nsid: Option<Vec<u8>>,
    /// The name servers of zones that declare none (`[server]
    /// nameservers`); empty: `ns1.<zone>` at the DNS addresses.
    pub nameservers: Vec<NameServer>,
    /// The geolocation database (`[server] geoip_database`), read when
    /// the config is loaded; `None`: geolocation groups answer every
    /// client with their default (`*`) record.
    pub geoip: Option<std::sync::Arc<crate::geo::GeoDatabase>>,
    /// What the file zones' files held when read, and which were found as
    /// they were at the last load ([`Config::load_to_serve`]).
    pub zone_sources: ZoneSources,
}

impl Default for Config {
    /// What `eightfold serve` runs with no config file and no flags.
    fn default() -> Self {
        Config {
            dns: vec![DEFAULT_DNS.parse().expect("valid default")],
            api: Some(DEFAULT_API.parse().expect("valid default")),
            data: crate::store::Location::Sqlite(PathBuf::from(DEFAULT_DATA)),
            api_token_file: None,
            rate_limit: 0,
            rate_limit_slip: DEFAULT_RATE_LIMIT_SLIP,
            api_tls: None,
            api_hosts: Vec::new(),
            check_targets: Vec::new(),
            retention: DEFAULT_RETENTION,
            tcp_ipv6_client_prefix: DEFAULT_TCP_IPV6_CLIENT_PREFIX,
            node: crate::cluster::host_name(),
            healthy_percent: crate::health::vote::DEFAULT_HEALTHY_PERCENT,
            health_checks: Vec::new(),
            zones: Vec::new(),
            tsig_keys: Vec::new(),
            transfers: XfrSettings::default(),
            secondaries: Vec::new(),
            secondary_dir: PathBuf::from(DEFAULT_SECONDARY_DIR),
            cookie_secret: None,
            nsid: default_nsid(&crate::cluster::host_name()),
            nameservers: Vec::new(),
            geoip: None,
            zone_sources: ZoneSources::default(),
        }
    }
}

/// The API's TLS files (`[server] api_tls_cert` and `api_tls_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTls {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl Config {
    /// Reads and validates the config file at `path`, and the zone files it
    /// names (relative paths are relative to the config file's folder).
    pub fn load(path: &Path) -> Result<Config, Diagnostics> {
        Config::read(path, &HashMap::new(), false)
    }

    /// As [`Config::load`], for `serve` (at start, and at each SIGHUP with
    /// `known`, the last load's [`ZoneSources::read`]); `eightfold check`
    /// uses [`Config::load`], which keeps every record. Of the zones that
    /// a file alone declares (no `[[zone.record]]`, no primaries):
    /// - those whose file still holds what `known` says are not parsed
    ///   again but listed in [`ZoneSources::unchanged`];
    /// - those that can be are built as their files are read
    ///   ([`Built`]) and listed in [`ZoneSources::built`];
    ///
    /// either way with no records.
    pub fn load_to_serve(
        path: &Path,
        known: &HashMap<Box<[u8]>, zonefile::Source>,
    ) -> Result<Config, Diagnostics> {
        Config::read(path, known, true)
    }

    fn read(
        path: &Path,
        known: &HashMap<Box<[u8]>, zonefile::Source>,
        build: bool,
    ) -> Result<Config, Diagnostics> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Diagnostics::from(Diagnostic {
                file: path.to_owned(),
                line: 1,
                col: 1,
                message: format!("cannot read config file: {e}"),
            })
        })?;
        Config::parse(path, &text, known, build)
    }

    /// Validates config `text`; `path` names it in messages and anchors
    /// relative paths.
    pub fn from_toml(path: &Path, text: &str) -> Result<Config, Diagnostics> {
        Config::parse(path, text, &HashMap::new(), false)
    }

    fn parse(
        path: &Path,
        text: &str,
        known: &HashMap<Box<[u8]>, zonefile::Source>,
        build: bool,
    ) -> Result<Config, Diagnostics> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            Diagnostics::from(Diagnostic::at_offset(path, text, offset, toml_message(&e)))
        })?;
        let mut cx = Cx {
            path,
            text,
            base: path.parent().unwrap_or(Path::new("")),
            diags: Diagnostics::default(),
            known,
            build,
            sources: ZoneSources::default(),
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
    #[serde(default)]
    tsig_key: Vec<RawTsigKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTsigKey {
    name: Spanned<String>,
    algorithm: Option<Spanned<String>>,
    secret: Option<Spanned<String>>,
    secret_file: Option<Spanned<PathBuf>>,
    /// What the key may change by dynamic update (RFC 2136).
    #[serde(default)]
    update: Vec<Spanned<RawUpdateRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpdateRule {
    name: String,
    types: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    from: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    dns: Option<Spanned<Vec<Spanned<String>>>>,
    api: Option<Spanned<String>>,
    data: Option<Spanned<String>>,
    api_token_file: Option<PathBuf>,
    rate_limit: Option<u32>,
    rate_limit_slip: Option<u32>,
    api_tls_cert: Option<Spanned<PathBuf>>,
    api_tls_key: Option<Spanned<PathBuf>>,
    api_hosts: Option<Vec<Spanned<String>>>,
    check_targets: Option<Vec<Spanned<String>>>,
    history_max_age: Option<Spanned<String>>,
    history_max_rows: Option<Spanned<i64>>,
    tcp_ipv6_client_prefix: Option<Spanned<i64>>,
    allow_transfer: Option<Vec<Spanned<RawRule>>>,
    notify: Option<Vec<Spanned<String>>>,
    cookie_secret: Option<Spanned<String>>,
    node: Option<Spanned<String>>,
    healthy_percent: Option<Spanned<i64>>,
    notify_key: Option<Spanned<String>>,
    nsid: Option<Spanned<String>>,
    secondary_dir: Option<PathBuf>,
    geoip_database: Option<Spanned<PathBuf>>,
    nameservers: Option<Vec<Spanned<RawNameServer>>>,
}

/// A name server: its name alone, or a table with its addresses.
enum RawNameServer {
    Name(String),
    Table(RawNameServerTable),
}

/// By hand rather than `#[serde(untagged)]`, whose one message for every
/// mistake ("did not match any variant") names neither the field nor
/// what to write.
impl<'de> Deserialize<'de> for RawNameServer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawNameServer;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a name server's name, or a table { name = \"...\", addresses = [\"...\"] }",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawNameServer, E> {
                Ok(RawNameServer::Name(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawNameServer, A::Error> {
                RawNameServerTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawNameServer::Table)
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNameServerTable {
    name: String,
    #[serde(default)]
    addresses: Vec<String>,
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
    sni: Option<Spanned<bool>>,
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
    healthy_percent: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZone {
    name: Spanned<String>,
    file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    record: Vec<Spanned<RawRecord>>,
    allow_transfer: Option<Vec<Spanned<RawRule>>>,
    notify: Option<Vec<Spanned<String>>>,
    notify_key: Option<Spanned<String>>,
    primaries: Option<Spanned<Vec<Spanned<String>>>>,
    primary_key: Option<Spanned<String>>,
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
    absolute_names: Option<Spanned<bool>>,
    alias: Option<Spanned<String>>,
    evaluate_target_health: Option<Spanned<bool>>,
    continent: Option<Spanned<String>>,
    country: Option<Spanned<String>>,
    subdivision: Option<Spanned<String>>,
}

/// An address prefix (`10.0.0.0/8`), or one address as a prefix of its
/// full length.
fn parse_prefix(text: &str) -> Option<ipnet::IpNet> {
    text.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| {
            text.parse::<std::net::IpAddr>()
                .ok()
                .map(ipnet::IpNet::from)
        })
        .map(|n| n.trunc())
}

/// A zone's `primaries` and `primary_key` as read.
type RawPrimaries = (
    Option<Spanned<Vec<Spanned<String>>>>,
    Option<Spanned<String>>,
);

/// A DNS server's address: `IP:PORT`, or an IP alone for port 53.
fn parse_server(text: &str) -> Option<SocketAddr> {
    text.parse::<SocketAddr>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

/// Validation context: the file being read and the problems found so far.
struct Cx<'a> {
    path: &'a Path,
    text: &'a str,
    base: &'a Path,
    diags: Diagnostics,
    /// What each zone file held at the last load, by zone key.
    known: &'a HashMap<Box<[u8]>, zonefile::Source>,
    /// Whether zones are built as their files are read ([`Built`]).
    build: bool,
    /// What each zone file holds now.
    sources: ZoneSources,
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
            file: self.path.into(),
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
        let data = match raw.server.data {
            Some(value) => match crate::store::Location::parse(value.get_ref(), self.base) {
                Ok(location) => location,
                Err(message) => {
                    self.error(value.span(), message);
                    crate::store::Location::Sqlite(self.base.join(DEFAULT_DATA))
                }
            },
            None => crate::store::Location::Sqlite(self.base.join(DEFAULT_DATA)),
        };
        let api_token_file = raw.server.api_token_file.map(|p| self.resolve(&p));
        let api_tls = match (raw.server.api_tls_cert, raw.server.api_tls_key) {
            (Some(cert), Some(key)) => Some(ApiTls {
                cert: self.resolve(cert.get_ref()),
                key: self.resolve(key.get_ref()),
            }),
            (None, None) => None,
            (Some(one), None) | (None, Some(one)) => {
                self.error(
                    one.span(),
                    "server.api_tls_cert and server.api_tls_key go together: give both files or neither",
                );
                None
            }
        };
        let mut api_hosts = Vec::new();
        for h in raw.server.api_hosts.unwrap_or_default() {
            let name = h.get_ref().trim_end_matches('.').to_ascii_lowercase();
            if name.is_empty() || name.contains(['/', ' ', '@']) {
                self.error(
                    h.span(),
                    format!(
                        "server.api_hosts: {:?} is not a host name such as \"dns.example.net\"",
                        h.get_ref()
                    ),
                );
            } else {
                api_hosts.push(name);
            }
        }
        let mut retention = DEFAULT_RETENTION;
        if let Some(age) = &raw.server.history_max_age {
            match humantime::parse_duration(age.get_ref()) {
                Ok(d) if d >= std::time::Duration::from_secs(3600) => retention.max_age = d,
                _ => self.error(
                    age.span(),
                    format!(
                        "server.history_max_age: {:?} is not a duration of an hour or more, such as \"90d\" or \"12h\"",
                        age.get_ref()
                    ),
                ),
            }
        }
        if let Some(rows) = &raw.server.history_max_rows {
            match u64::try_from(*rows.get_ref()) {
                Ok(n) if n >= 100 => retention.max_rows = n,
                _ => self.error(
                    rows.span(),
                    format!(
                        "server.history_max_rows: {} is below 100; keep at least 100 rows of history",
                        rows.get_ref()
                    ),
                ),
            }
        }
        let mut tcp_ipv6_client_prefix = DEFAULT_TCP_IPV6_CLIENT_PREFIX;
        if let Some(bits) = &raw.server.tcp_ipv6_client_prefix {
            match u8::try_from(*bits.get_ref()) {
                Ok(n) if n <= 128 => tcp_ipv6_client_prefix = n,
                _ => self.error(
                    bits.span(),
                    format!(
                        "server.tcp_ipv6_client_prefix: {} is not a prefix length from 0 to 128",
                        bits.get_ref()
                    ),
                ),
            }
        }
        let mut cookie_secret = None;
        if let Some(text) = &raw.server.cookie_secret {
            match crate::dns::cookie::CookieSecret::parse_hex(text.get_ref()) {
                Some(secret) => cookie_secret = Some(secret),
                None => self.error(
                    text.span(),
                    "server.cookie_secret: give 32 hexadecimal digits (16 random bytes, e.g. from `openssl rand -hex 16`), the same on every server of a fleet",
                ),
            }
        }
        let node = match raw.server.node {
            Some(name) => {
                if let Err(message) = node_name(name.get_ref()) {
                    self.error(name.span(), format!("server.node: {message}"));
                }
                name.get_ref().clone()
            }
            None => crate::cluster::host_name(),
        };
        let mut healthy_percent = crate::health::vote::DEFAULT_HEALTHY_PERCENT;
        if let Some(p) = &raw.server.healthy_percent {
            match u8::try_from(*p.get_ref()) {
                Ok(n) if n <= 100 => healthy_percent = n,
                _ => self.error(
                    p.span(),
                    format!(
                        "server.healthy_percent: {} is not a percentage from 0 to 100",
                        p.get_ref()
                    ),
                ),
            }
        }
        let mut check_targets = Vec::new();
        for t in raw.server.check_targets.unwrap_or_default() {
            match parse_prefix(t.get_ref()) {
                Some(net) => check_targets.push(net),
                None => self.error(
                    t.span(),
                    format!("server.check_targets: {:?} is not an address prefix such as \"10.0.0.0/8\" or \"2001:db8::/32\"", t.get_ref()),
                ),
            }
        }

        // The file's own listeners; one given port 0 is only known once
        // bound, and the probe refuses it then.
        let listeners = dns
            .iter()
            .map(|&addr| Listener {
                role: Role::Dns,
                addr,
            })
            .chain(api.map(|addr| Listener {
                role: Role::Api,
                addr,
            }))
            .collect();
        let targets = TargetPolicy::new(check_targets.clone(), listeners);
        let health_checks = self.health_checks(raw.health_check, &targets);
        let check_ids: HashSet<&str> = health_checks.iter().map(|c| c.id.as_str()).collect();
        let tsig_keys = self.tsig_keys(raw.tsig_key);
        let nsid = match &raw.server.nsid {
            None => default_nsid(&node),
            Some(text) if text.get_ref().is_empty() => None,
            Some(text) if text.get_ref().len() > MAX_NSID => {
                self.error(
                    text.span(),
                    format!("server.nsid is {} bytes long; keep it to {MAX_NSID} (or \"\" to send none)", text.get_ref().len()),
                );
                None
            }
            Some(text) => Some(text.get_ref().as_bytes().to_vec()),
        };
        let nameservers = self.nameservers(raw.server.nameservers.unwrap_or_default());
        let geoip =
            raw.server.geoip_database.and_then(|file| {
                match crate::geo::GeoDatabase::open(&self.resolve(file.get_ref())) {
                    Ok(db) => Some(std::sync::Arc::new(db)),
                    Err(e) => {
                        self.error(file.span(), format!("server.geoip_database: {e}"));
                        None
                    }
                }
            });
        let mut transfers = XfrSettings {
            server: self.transfers(
                "server",
                raw.server.allow_transfer,
                (raw.server.notify, raw.server.notify_key),
                &tsig_keys,
            ),
            zones: Vec::new(),
        };
        let mut zones: Vec<ZoneSpec> = Vec::new();
        let mut name_spans = Vec::new();
        let jobs: Vec<Option<zonefile::Job<'_>>> = raw
            .zone
            .iter()
            .map(|z| {
                let apex = parse_absolute(z.name.get_ref()).ok()?;
                let path = self.resolve(z.file.as_ref()?.get_ref());
                // Inline records and primaries are not in the file: such
                // a zone is always read again.
                let known =
                    (z.record.is_empty() && z.primaries.is_none() && z.primary_key.is_none())
                        .then(|| self.known.get(&crate::snapshot::name_key(&apex)))
                        .flatten();
                Some((path, apex, known))
            })
            .collect();
        // Zones with [[zone.record]] tables are built with them, later.
        let inline: HashSet<Box<[u8]>> = raw
            .zone
            .iter()
            .filter(|z| !z.record.is_empty())
            .filter_map(|z| parse_absolute(z.name.get_ref()).ok())
            .map(|apex| crate::snapshot::name_key(&apex))
            .collect();
        let build = self.build;
        let finish = |apex: &DName, records: Vec<RecordSpec>| match build
            && !inline.contains(&crate::snapshot::name_key(apex))
        {
            true => built(apex, records),
            false => Parsed::Records(records),
        };
        let mut loaded = zonefile::load_files(&jobs, &finish).into_iter();
        drop(jobs);
        let mut seen: HashSet<Box<[u8]>> = HashSet::new();
        let mut secondaries = Vec::new();
        for mut z in raw.zone {
            let allow = z.allow_transfer.take();
            let notify = (z.notify.take(), z.notify_key.take());
            let own = allow.is_some() || notify.0.is_some() || notify.1.is_some();
            let file = loaded.next().flatten();
            let primaries = (z.primaries.take(), z.primary_key.take());
            let secondary = primaries.0.is_some() || primaries.1.is_some();
            if secondary && (z.file.is_some() || !z.record.is_empty()) {
                self.error(
                    z.name.span(),
                    format!(
                        "zone {}: a secondary zone (primaries) takes its records from its primaries; remove `file` and its [[zone.record]] tables",
                        z.name.get_ref()
                    ),
                );
                continue;
            }
            let name_span = z.name.span();
            if let Some(zone) = self.zone(z, &check_ids, &mut seen, file) {
                if secondary && let Some(s) = self.secondary(&zone.name, primaries, &tsig_keys) {
                    secondaries.push(s);
                }
                if own {
                    let what = format!("zone {}", zone.name);
                    let t = self.transfers(&what, allow, notify, &tsig_keys);
                    transfers.zones.push((zone.name.clone(), t));
                }
                zones.push(zone);
                name_spans.push(name_span);
            }
        }
        self.validate_zones(&zones, name_spans);
        Config {
            dns,
            api,
            data,
            api_token_file,
            rate_limit: raw.server.rate_limit.unwrap_or(0),
            rate_limit_slip: raw
                .server
                .rate_limit_slip
                .unwrap_or(DEFAULT_RATE_LIMIT_SLIP),
            api_tls,
            api_hosts,
            check_targets,
            retention,
            tcp_ipv6_client_prefix,
            node,
            healthy_percent,
            health_checks,
            zones,
            tsig_keys,
            transfers,
            secondaries,
            secondary_dir: self.resolve(
                &raw.server
                    .secondary_dir
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_SECONDARY_DIR)),
            ),
            cookie_secret,
            nsid,
            nameservers,
            geoip,
            zone_sources: std::mem::take(&mut self.sources),
        }
    }

    /// `[server] nameservers`: absolute names, each once, with addresses
    /// that parse.
    fn nameservers(&mut self, raws: Vec<Spanned<RawNameServer>>) -> Vec<NameServer> {
        let mut out: Vec<NameServer> = Vec::new();
        for raw in raws {
            let span = raw.span();
            let (text, addresses) = match raw.into_inner() {
                RawNameServer::Name(n) => (n, Vec::new()),
                RawNameServer::Table(t) => (t.name, t.addresses),
            };
            let name = match parse_absolute(&text) {
                Ok(n) => n,
                Err(e) => {
                    self.error(span, format!("server.nameservers: {text:?}: {e}"));
                    continue;
                }
            };
            if out.iter().any(|s| s.name.as_ref() == Some(&name)) {
                self.error(
                    span,
                    format!("server.nameservers: {text:?} is listed twice"),
                );
                continue;
            }
            let mut ips = Vec::new();
            for a in &addresses {
                match a.parse::<IpAddr>() {
                    Ok(ip) => ips.push(ip),
                    Err(_) => self.error(
                        span.clone(),
                        format!(
                            "server.nameservers: {text:?}: {a:?} is not an IPv4 or IPv6 address"
                        ),
                    ),
                }
            }
            out.push(NameServer {
                name: Some(name),
                addresses: ips,
            });
        }
        out
    }

    /// The `primaries` and `primary_key` of the zone at `apex`.
    fn secondary(
        &mut self,
        apex: &DName,
        (primaries, key): RawPrimaries,
        keys: &[TsigKey],
    ) -> Option<crate::xfr::secondary::Secondary> {
        let what = format!("zone {apex}");
        let Some(primaries) = primaries else {
            let span = key.as_ref().map_or(0..0, Spanned::span);
            self.error(
                span,
                format!("{what}: primary_key without primaries; list the primaries to transfer the zone from, such as primaries = [\"192.0.2.1\"]"),
            );
            return None;
        };
        if primaries.get_ref().is_empty() {
            self.error(
                primaries.span(),
                format!("{what}: primaries is empty; give at least one address such as \"192.0.2.1\" or \"192.0.2.1:5353\""),
            );
            return None;
        }
        let mut addrs = Vec::new();
        for p in primaries.into_inner() {
            let text = p.get_ref();
            match parse_server(text) {
                Some(a) => addrs.push(a),
                None => self.error(
                    p.span(),
                    format!("{what}: primaries: {text:?} is not an address such as \"192.0.2.1\" or \"[2001:db8::1]:5353\""),
                ),
            }
        }
        let key = match &key {
            None => None,
            Some(k) => match parse_absolute(k.get_ref()) {
                Ok(name) if keys.iter().any(|t| t.name.name_eq(&name)) => Some(name),
                _ => {
                    self.error(
                        k.span(),
                        format!("{what}: primary_key: no tsig_key is named {:?}; declare it with [[tsig_key]]", k.get_ref()),
                    );
                    return None;
                }
            },
        };
        Some(crate::xfr::secondary::Secondary {
            zone: apex.clone(),
            primaries: addrs,
            key,
        })
    }

    /// The `[[tsig_key]]` tables: each named once, with a known algorithm
    /// (HMAC-MD5 refused) and exactly one of `secret` and `secret_file`.
    fn tsig_keys(&mut self, raws: Vec<RawTsigKey>) -> Vec<TsigKey> {
        let mut out: Vec<TsigKey> = Vec::new();
        for raw in raws {
            let label = raw.name.get_ref().clone();
            let name = match parse_absolute(&label) {
                Ok(n) => n,
                Err(msg) => {
                    self.error(raw.name.span(), format!("tsig_key {label:?}: {msg}"));
                    continue;
                }
            };
            if out.iter().any(|k| k.name.name_eq(&name)) {
                self.error(
                    raw.name.span(),
                    format!("tsig_key {label:?} is declared twice"),
                );
                continue;
            }
            let algorithm = match &raw.algorithm {
                None => crate::tsig::DEFAULT_ALGORITHM,
                Some(a) => match crate::tsig::parse_algorithm(a.get_ref()) {
                    Ok(a) => a,
                    Err(msg) => {
                        self.error(a.span(), format!("tsig_key {label:?}: {msg}"));
                        continue;
                    }
                },
            };
            let (text, span) = match (&raw.secret, &raw.secret_file) {
                (Some(s), None) => (s.get_ref().clone(), s.span()),
                (None, Some(f)) => {
                    let path = self.resolve(f.get_ref());
                    match std::fs::read_to_string(&path) {
                        Ok(t) => (t, f.span()),
                        Err(e) => {
                            self.error(
                                f.span(),
                                format!(
                                    "tsig_key {label:?}: cannot read secret_file {}: {e}",
                                    path.display()
                                ),
                            );
                            continue;
                        }
                    }
                }
                _ => {
                    self.error(
                        raw.name.span(),
                        format!(
                            "tsig_key {label:?}: give the secret either inline (secret) or in a file (secret_file), not both or neither"
                        ),
                    );
                    continue;
                }
            };
            let mut update = Vec::new();
            for rule in &raw.update {
                let r = rule.get_ref();
                match crate::update::UpdateRule::parse(&r.name, &r.types) {
                    Ok(rule) => update.push(rule),
                    Err(msg) => self.error(rule.span(), format!("tsig_key {label:?}: {msg}")),
                }
            }
            match crate::tsig::parse_secret(&text) {
                Ok(secret) => out.push(TsigKey {
                    name,
                    algorithm,
                    secret,
                    update,
                }),
                Err(msg) => self.error(span, format!("tsig_key {label:?}: {msg}")),
            }
        }
        out
    }

    /// One `allow_transfer` list and one `notify` list (of `what`: the
    /// server or a zone).
    fn transfers(
        &mut self,
        what: &str,
        allow: Option<Vec<Spanned<RawRule>>>,
        (notify, notify_key): (Option<Vec<Spanned<String>>>, Option<Spanned<String>>),
        keys: &[TsigKey],
    ) -> Transfers {
        let mut out = Transfers::default();
        for rule in allow.unwrap_or_default() {
            let span = rule.span();
            let rule = rule.into_inner();
            let from = match &rule.from {
                None => None,
                Some(f) => match parse_prefix(f.get_ref()) {
                    Some(net) => Some(net),
                    None => {
                        self.error(
                            f.span(),
                            format!("{what}: allow_transfer: {:?} is not an address prefix such as \"192.0.2.0/24\" or \"2001:db8::1\"", f.get_ref()),
                        );
                        continue;
                    }
                },
            };
            let key = match &rule.key {
                None => None,
                Some(k) => match parse_absolute(k.get_ref()) {
                    Ok(name) if keys.iter().any(|t| t.name.name_eq(&name)) => Some(name),
                    _ => {
                        self.error(
                            k.span(),
                            format!("{what}: allow_transfer: no tsig_key is named {:?}; declare it with [[tsig_key]]", k.get_ref()),
                        );
                        continue;
                    }
                },
            };
            if from.is_none() && key.is_none() {
                self.error(
                    span,
                    format!("{what}: allow_transfer: an entry needs `from` (an address prefix), `key` (a TSIG key name) or both; to allow everyone say from = \"0.0.0.0/0\" and from = \"::/0\""),
                );
                continue;
            }
            out.allow.push(Rule { from, key });
        }
        if let Some(k) = &notify_key {
            match parse_absolute(k.get_ref()) {
                Ok(name) if keys.iter().any(|t| t.name.name_eq(&name)) => {
                    out.notify_key = Some(name)
                }
                _ => self.error(
                    k.span(),
                    format!(
                        "{what}: notify_key: no tsig_key is named {:?}; declare it with [[tsig_key]]",
                        k.get_ref()
                    ),
                ),
            }
        }
        for n in notify.unwrap_or_default() {
            let text = n.get_ref();
            match parse_server(text) {
                Some(a) => out.notify.push(a),
                None => self.error(
                    n.span(),
                    format!("{what}: notify: {text:?} is not an address such as \"192.0.2.53\" or \"[2001:db8::53]:5353\""),
                ),
            }
        }
        out
    }

    fn report(&mut self, spans: &Spans, errors: Vec<FieldError>) {
        for e in errors {
            let span = spans.of(&e);
            self.error(span, e.message);
        }
    }

    fn health_checks(
        &mut self,
        raws: Vec<RawHealthCheck>,
        targets: &TargetPolicy,
    ) -> Vec<HealthCheckSpec> {
        // Children may be declared after their parent: know every kind first.
        let kinds: HashMap<String, bool> = raws
            .iter()
            .map(|r| (r.id.get_ref().clone(), r.kind.get_ref() == "calculated"))
            .collect();
        let mut out: Vec<HealthCheckSpec> = Vec::new();
        for raw in raws {
            let (input, spans) = raw.split();
            if out.iter().any(|c| c.id == input.id) {
                let span = spans.field("id");
                self.error(
                    span,
                    format!("health check {:?} is declared twice", input.id),
                );
                continue;
            }
            match input.to_spec(&|id| kinds.get(id).copied()) {
                Ok(spec) => {
                    if let Err(e) = crate::input::check_target(&spec, targets) {
                        self.report(&spans, vec![e]);
                    }
                    // Kept even when refused: the file fails anyway, and
                    // records using it should not add "unknown check".
                    out.push(spec);
                }
                Err(errors) => self.report(&spans, errors),
            }
        }
        out
    }

    fn zone(
        &mut self,
        raw: RawZone,
        check_ids: &HashSet<&str>,
        seen: &mut HashSet<Box<[u8]>>,
        loaded: Option<zonefile::Loaded<Parsed>>,
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
        if !seen.insert(crate::snapshot::name_key(&apex)) {
            self.error(raw.name.span(), format!("zone {apex} is declared twice"));
            return None;
        }
        let mut records = Vec::new();
        if let Some(file) = &raw.file {
            let path = self.resolve(file.get_ref());
            // load_files read every zone with a file and a valid name.
            let loaded = loaded.expect("a zone file read with the others");
            let key = crate::snapshot::name_key(&apex);
            match loaded {
                Ok((read, source)) => {
                    match read {
                        zonefile::Read::Parsed(Parsed::Records(recs)) => records.extend(recs),
                        zonefile::Read::Parsed(Parsed::Built(built)) => {
                            self.sources.built.insert(key.clone(), built);
                        }
                        zonefile::Read::Unchanged => {
                            self.sources.unchanged.insert(key.clone());
                        }
                    }
                    // Only a zone its file alone declares may be kept
                    // as it was at the next reload.
                    // A copy made here: kept for the life of the config,
                    // it must not pin a page among the parser's garbage.
                    if raw.record.is_empty() {
                        self.sources.read.insert(key, source.clone());
                    }
                }
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
        // Validated by the caller, every zone at once on every core.
        Some(ZoneSpec {
            name: apex,
            records,
        })
    }

    /// Reports what [`validate::zone`] finds in `zones` (declared at
    /// `name_spans`), validating them on every core: with 10,000 zone
    /// files this reads every record once more.
    fn validate_zones(&mut self, zones: &[ZoneSpec], name_spans: Vec<Range<usize>>) {
        use rayon::prelude::*;
        let found: Vec<Vec<validate::Problem>> = zones.par_iter().map(validate::zone).collect();
        for (problems, span) in found.into_iter().zip(name_spans) {
            for problem in problems {
                let origin = problem.origin.unwrap_or_else(|| self.origin(span.clone()));
                self.diags.push(Diagnostic {
                    file: origin.file.to_path_buf(),
                    line: origin.line,
                    col: origin.col,
                    message: problem.message,
                });
            }
        }
    }

    fn record(
        &mut self,
        apex: &DName,
        raw: RawRecord,
        span: Range<usize>,
        check_ids: &HashSet<&str>,
    ) -> Option<RecordSpec> {
        let (input, mut spans) = raw.split();
        spans.whole = span.clone();
        match input.to_spec(apex, &|id| check_ids.contains(id)) {
            Ok(mut spec) => {
                spec.origin = Some(self.origin(span));
                Some(spec)
            }
            Err(errors) => {
                self.report(&spans, errors);
                None
            }
        }
    }
}

/// Where each field of one TOML table is, to locate a [`FieldError`].
#[derive(Default)]
struct Spans {
    whole: Range<usize>,
    fields: Vec<(&'static str, Range<usize>)>,
    items: Vec<(&'static str, Vec<Range<usize>>)>,
}

impl Spans {
    fn add<T>(&mut self, field: &'static str, value: &Option<Spanned<T>>) {
        if let Some(v) = value {
            self.fields.push((field, v.span()));
        }
    }

    fn add_list(&mut self, field: &'static str, value: &Option<Spanned<Vec<Spanned<String>>>>) {
        if let Some(v) = value {
            self.fields.push((field, v.span()));
            self.items
                .push((field, v.get_ref().iter().map(Spanned::span).collect()));
        }
    }

    fn field(&self, field: &str) -> Range<usize> {
        self.fields
            .iter()
            .find(|(f, _)| *f == field)
            .map_or_else(|| self.whole.clone(), |(_, s)| s.clone())
    }

    fn of(&self, e: &FieldError) -> Range<usize> {
        let item = e.index.and_then(|i| {
            self.items
                .iter()
                .find(|(f, _)| *f == e.field)
                .and_then(|(_, spans)| spans.get(i).cloned())
        });
        item.unwrap_or_else(|| self.field(e.field))
    }
}

fn plain<T: Clone>(v: &Option<Spanned<T>>) -> Option<T> {
    v.as_ref().map(|s| s.get_ref().clone())
}

fn plain_list(v: &Option<Spanned<Vec<Spanned<String>>>>) -> Option<Vec<String>> {
    v.as_ref()
        .map(|l| l.get_ref().iter().map(|s| s.get_ref().clone()).collect())
}

impl RawRecord {
    fn split(self) -> (RecordInput, Spans) {
        let mut spans = Spans::default();
        spans.fields.push(("name", self.name.span()));
        spans.fields.push(("type", self.rtype.span()));
        spans.add("ttl", &self.ttl);
        spans.add("routing", &self.routing);
        spans.add("set", &self.set);
        spans.add("value", &self.value);
        spans.add_list("values", &self.values);
        spans.add("health_check", &self.health_check);
        spans.add("failover", &self.failover);
        spans.add("weight", &self.weight);
        spans.add("alias", &self.alias);
        spans.add("continent", &self.continent);
        spans.add("country", &self.country);
        spans.add("subdivision", &self.subdivision);
        let input = RecordInput {
            name: self.name.get_ref().clone(),
            rtype: self.rtype.get_ref().clone(),
            ttl: plain(&self.ttl),
            routing: plain(&self.routing),
            set: plain(&self.set),
            value: plain(&self.value),
            values: plain_list(&self.values),
            health_check: plain(&self.health_check),
            failover: plain(&self.failover),
            weight: plain(&self.weight),
            absolute_names: plain(&self.absolute_names).unwrap_or(false),
            alias: plain(&self.alias),
            evaluate_target_health: plain(&self.evaluate_target_health).unwrap_or(false),
            continent: plain(&self.continent),
            country: plain(&self.country),
            subdivision: plain(&self.subdivision),
        };
        (input, spans)
    }
}

impl RawHealthCheck {
    fn split(self) -> (HealthCheckInput, Spans) {
        let mut spans = Spans {
            whole: self.id.span(),
            ..Spans::default()
        };
        spans.fields.push(("id", self.id.span()));
        spans.fields.push(("type", self.kind.span()));
        spans.add("ip", &self.ip);
        spans.add("fqdn", &self.fqdn);
        spans.add("sni", &self.sni);
        spans.add("search", &self.search);
        spans.add("interval", &self.interval);
        spans.add("failure_threshold", &self.failure_threshold);
        spans.add("timeout", &self.timeout);
        spans.add_list("children", &self.children);
        spans.add("healthy_threshold", &self.healthy_threshold);
        spans.add("healthy_percent", &self.healthy_percent);
        let input = HealthCheckInput {
            id: self.id.get_ref().clone(),
            kind: self.kind.get_ref().clone(),
            ip: plain(&self.ip),
            fqdn: plain(&self.fqdn),
            port: self.port,
            path: self.path,
            host: self.host,
            sni: plain(&self.sni),
            search: plain(&self.search),
            interval: plain(&self.interval),
            failure_threshold: plain(&self.failure_threshold),
            timeout: plain(&self.timeout),
            invert: self.invert,
            disabled: self.disabled,
            children: plain_list(&self.children),
            healthy_threshold: plain(&self.healthy_threshold),
            healthy_percent: plain(&self.healthy_percent),
        };
        (input, spans)
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
        assert_eq!(
            c.data,
            crate::store::Location::Sqlite(PathBuf::from("eightfold.db"))
        );
    }

    #[test]
    fn the_node_name_defaults_to_the_host_name_and_must_be_printable() {
        assert_eq!(load("").unwrap().node, crate::cluster::host_name());
        assert_eq!(load("[server]\nnode = \"ns1\"\n").unwrap().node, "ns1");
        for bad in ["\"\"", "\"a\\tb\"", &format!("\"{}\"", "n".repeat(65))] {
            let e = errors(&format!("[server]\nnode = {bad}\n"));
            assert!(e.starts_with("e.toml:2:8: server.node: "), "{e}");
            assert!(e.contains("is not a node name"), "{e}");
        }
    }

    #[test]
    fn healthy_percent_is_a_percentage_in_server_and_per_check() {
        assert_eq!(load("").unwrap().healthy_percent, 18);
        let c = load(
            "[server]\nhealthy_percent = 50\n[[health_check]]\nid = \"a\"\ntype = \"tcp\"\nip = \"192.0.2.1\"\nport = 80\nhealthy_percent = 0\n[[health_check]]\nid = \"b\"\ntype = \"tcp\"\nip = \"192.0.2.1\"\nport = 80\n",
        )
        .unwrap();
        assert_eq!(c.healthy_percent, 50);
        let percents: Vec<Option<u8>> = c.health_checks.iter().map(|h| h.healthy_percent).collect();
        assert_eq!(percents, [Some(0), None]);
        for bad in ["101", "-1"] {
            let e = errors(&format!("[server]\nhealthy_percent = {bad}\n"));
            assert_eq!(
                e,
                format!(
                    "e.toml:2:19: server.healthy_percent: {bad} is not a percentage from 0 to 100"
                ),
            );
        }
        let e = errors(
            "[[health_check]]\nid = \"a\"\ntype = \"tcp\"\nip = \"192.0.2.1\"\nport = 80\nhealthy_percent = 101\n",
        );
        assert!(
            e.contains(
                "e.toml:6:19: health check \"a\": healthy_percent must be 0 to 100, not 101"
            ),
            "{e}"
        );
    }

    #[test]
    fn a_postgresql_url_selects_postgres_and_a_bad_one_is_located() {
        let c =
            load("[server]\ndata = \"postgresql://dns:pw@db.internal:5432/eightfold\"\n").unwrap();
        assert_eq!(
            c.data.to_string(),
            "postgresql://dns:***@db.internal:5432/eightfold"
        );
        let e = errors("[server]\ndata = \"postgresql://dns:pw@db:port/x\"\n");
        assert!(
            e.starts_with("e.toml:2:8: invalid PostgreSQL URL postgresql://dns:***@db:port/x: "),
            "{e}"
        );
        assert!(!e.contains(":pw@"), "{e}");
    }

    #[test]
    fn unknown_field_is_located() {
        let e = errors("[server]\ndns = [\"127.0.0.1:53\"]\nbogus = 1\n");
        assert!(
            e.starts_with("e.toml:3:1: unknown field `bogus`, expected one of `dns`, `api`, "),
            "{e}"
        );
    }

    #[test]
    fn a_secondary_zone_names_its_primaries_and_a_declared_key() {
        let keys = "[[tsig_key]]\nname = \"xfr.key\"\nsecret = \"c2VjcmV0\"\n";
        let c = load(&format!(
            "{keys}[[zone]]\nname = \"sec.test\"\nprimaries = [\"192.0.2.1\", \"[2001:db8::1]:5353\"]\nprimary_key = \"xfr.key\"\n"
        ))
        .unwrap();
        let s = &c.secondaries[0];
        assert_eq!(s.zone.to_string(), "sec.test");
        let shown: Vec<String> = s.primaries.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["192.0.2.1:53", "[2001:db8::1]:5353"]);
        assert_eq!(
            s.key.as_ref().map(ToString::to_string).as_deref(),
            Some("xfr.key")
        );
        assert!(
            c.zones[0].records.is_empty(),
            "records come from the primary"
        );
        let e = errors("[[zone]]\nname = \"sec.test\"\nprimaries = [\"nowhere\"]\n");
        assert!(
            e.contains("zone sec.test: primaries: \"nowhere\" is not an address"),
            "{e}"
        );
        let e = errors(
            "[[zone]]\nname = \"sec.test\"\nprimaries = [\"192.0.2.1\"]\nprimary_key = \"nokey\"\n",
        );
        assert!(
            e.contains("primary_key: no tsig_key is named \"nokey\""),
            "{e}"
        );
        let e = errors("[[zone]]\nname = \"sec.test\"\nprimaries = []\n");
        assert!(e.contains("primaries is empty"), "{e}");
        let e = errors(
            "[[zone]]\nname = \"sec.test\"\nprimaries = [\"192.0.2.1\"]\n[[zone.record]]\nname = \"www\"\ntype = \"A\"\nvalues = [\"192.0.2.1\"]\n",
        );
        assert!(e.contains("takes its records from its primaries"), "{e}");
    }

    #[test]
    fn api_tls_files_go_in_pairs_and_lists_are_checked() {
        let e = errors("[server]\napi_tls_cert = \"c.pem\"\n");
        assert!(
            e.starts_with("e.toml:2:16: server.api_tls_cert and server.api_tls_key go together"),
            "{e}"
        );
        let c = load("[server]\napi_tls_cert = \"c.pem\"\napi_tls_key = \"k.pem\"\n").unwrap();
        assert_eq!(
            c.api_tls,
            Some(ApiTls {
                cert: PathBuf::from("c.pem"),
                key: PathBuf::from("k.pem")
            })
        );
        let e = errors("[server]\ncheck_targets = [\"10.0.0.0/8\", \"10.0.0.0/33\"]\n");
        assert!(
            e.starts_with(
                "e.toml:2:32: server.check_targets: \"10.0.0.0/33\" is not an address prefix"
            ),
            "{e}"
        );
        let c = load("[server]\ncheck_targets = [\"10.1.2.3/8\", \"192.0.2.7\"]\napi_hosts = [\"DNS.Example.NET.\"]\n").unwrap();
        let shown: Vec<String> = c.check_targets.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.0.0.0/8", "192.0.2.7/32"]);
        assert_eq!(c.api_hosts, ["dns.example.net"]);
        let c = load("[server]\nhistory_max_age = \"7d\"\nhistory_max_rows = 500\n").unwrap();
        assert_eq!(
            c.retention.max_age,
            std::time::Duration::from_secs(7 * 86400)
        );
        assert_eq!(c.retention.max_rows, 500);
        assert_eq!(load("").unwrap().retention, DEFAULT_RETENTION);
        let e = errors("[server]\nhistory_max_age = \"5m\"\nhistory_max_rows = 3\n");
        assert!(
            e.contains("an hour or more") && e.contains("below 100"),
            "{e}"
        );
        let e = errors("[server]\napi_hosts = [\"http://x\"]\n");
        assert!(e.contains("is not a host name"), "{e}");
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
    fn a_check_aimed_where_checks_may_not_aim_is_located_at_its_ip() {
        let e = errors(
            "[server]\ndns = [\"127.0.0.1:5353\"]\n\
             [[health_check]]\nid = \"meta\"\ntype = \"http\"\nip = \"169.254.169.254\"\n\
             [[health_check]]\nid = \"self\"\ntype = \"tcp\"\nip = \"127.0.0.1\"\nport = 5353\n",
        );
        assert!(
            e.contains("e.toml:6:6: health check \"meta\": checks may not target 169.254.169.254 (link-local"),
            "{e}"
        );
        assert!(
            e.contains("e.toml:10:6: health check \"self\": checks may not target 127.0.0.1:5353 (eightfold's own DNS listener 127.0.0.1:5353)"),
            "{e}"
        );
        let e = errors(
            "[server]\ncheck_targets = [\"10.0.0.0/8\"]\n\
             [[health_check]]\nid = \"lo\"\ntype = \"http\"\nip = \"127.0.0.1\"\n",
        );
        assert_eq!(
            e,
            "e.toml:6:6: health check \"lo\": checks may not target 127.0.0.1 (outside server.check_targets)"
        );
        assert!(
            load("[server]\ncheck_targets = [\"10.0.0.0/8\"]\n[[health_check]]\nid = \"in\"\ntype = \"http\"\nip = \"10.1.2.3\"\n")
                .is_ok()
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
