//! The TOML configuration file: raw parse, then a validated [`Config`].
//!
//! Parsing is separate from reading a file ([`Config::from_toml`]) so tests
//! and `eightfold check` share one path. Every problem is reported with its
//! location, and all of them at once rather than the first only.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use domain::base::ToName;

use crate::diag::{Diagnostic, Diagnostics};
use crate::model::{DName, HealthCheckSpec, ZoneSpec};
use crate::nameservers::NameServer;
use crate::tsig::TsigKey;
use crate::xfr::Settings as XfrSettings;
use crate::zonefile;

mod checks;
mod cx;
mod keys;
mod raw;
mod sources;
#[cfg(test)]
mod tests;
mod transfers;
mod zones;

use cx::Cx;
use raw::{RawConfig, toml_message};
pub use sources::{Built, ZoneSources};

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

/// What is answered to NSID requests (`[server] nsid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nsid {
    /// Not set: the node's name (by default the host name, as Knot's
    /// `nsid` is), so each server of a fleet tells itself apart. Kept as
    /// a rule rather than a copy so that `serve --node` names it too.
    NodeName,
    /// `nsid = ""`: no NSID is sent.
    Off,
    /// The identifier the config gives.
    Given(Vec<u8>),
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
    /// The identifier answered to NSID requests; see [`Config::nsid`].
    pub nsid: Nsid,
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
            nsid: Nsid::NodeName,
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
    /// The identifier answered to NSID requests, if any: a node name too
    /// long for one (over [`MAX_NSID`] bytes) sends none.
    pub fn nsid(&self) -> Option<&[u8]> {
        match &self.nsid {
            Nsid::NodeName => {
                let node = self.node.as_bytes();
                (!node.is_empty() && node.len() <= MAX_NSID).then_some(node)
            }
            Nsid::Off => None,
            Nsid::Given(id) => Some(id),
        }
    }

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
