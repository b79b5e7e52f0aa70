//! The validation context: the file being read and the problems found so
//! far, and the `[server]` section, which sends every other table to its
//! own file of this module.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::raw::{RawConfig, RawNameServer, Spans};
use super::{
    ApiTls, Config, DEFAULT_DATA, DEFAULT_DNS, DEFAULT_RATE_LIMIT_SLIP, DEFAULT_RETENTION,
    DEFAULT_SECONDARY_DIR, DEFAULT_TCP_IPV6_CLIENT_PREFIX, MAX_NSID, Nsid, ZoneSources, node_name,
    parse_absolute,
};
use crate::diag::{Diagnostic, Diagnostics};
use crate::health::targets::{Listener, Role, TargetPolicy};
use crate::input::FieldError;
use crate::model::Origin;
use crate::model::{DName, ZoneSpec};
use crate::nameservers::{NameServer, NameServers};
use crate::xfr::Settings as XfrSettings;
use crate::xfr::acl::parse_prefix;
use crate::zonefile;

/// Validation context: the file being read and the problems found so far.
pub(super) struct Cx<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
    pub(super) base: &'a Path,
    pub(super) diags: Diagnostics,
    /// What each zone file held at the last load, by zone key.
    pub(super) known: &'a HashMap<Box<[u8]>, zonefile::Source>,
    /// Whether zones are built as their files are read ([`Built`](super::Built)).
    pub(super) build: bool,
    /// What each zone file holds now.
    pub(super) sources: ZoneSources,
}

impl Cx<'_> {
    pub(super) fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diags.push(Diagnostic::at_offset(
            self.path, self.text, span.start, message,
        ));
    }

    pub(super) fn origin(&self, span: Range<usize>) -> Origin {
        let (line, col) = crate::diag::line_col(self.text, span.start);
        Origin {
            file: self.path.into(),
            line,
            col,
        }
    }

    pub(super) fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base.join(p)
        }
    }

    pub(super) fn report(&mut self, spans: &Spans, errors: Vec<FieldError>) {
        for e in errors {
            let span = spans.of(&e);
            self.error(span, e.message);
        }
    }

    pub(super) fn config(&mut self, raw: RawConfig) -> Config {
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
            None => Nsid::NodeName,
            Some(text) if text.get_ref().is_empty() => Nsid::Off,
            Some(text) if text.get_ref().len() > MAX_NSID => {
                self.error(
                    text.span(),
                    format!("server.nsid is {} bytes long; keep it to {MAX_NSID} (or \"\" to send none)", text.get_ref().len()),
                );
                Nsid::Off
            }
            Some(text) => Nsid::Given(text.get_ref().as_bytes().to_vec()),
        };
        let (nameservers, nameserver_spans) =
            self.nameservers(raw.server.nameservers.unwrap_or_default());
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
            zones: Default::default(),
        };
        let (zones, secondaries) = self.zones(
            raw.zone,
            &check_ids,
            &tsig_keys,
            &mut transfers,
            &nameservers,
        );
        self.unaddressed_nameservers(&zones, &nameservers, &nameserver_spans);
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
    /// that parse; each with the span of its entry.
    fn nameservers(
        &mut self,
        raws: Vec<Spanned<RawNameServer>>,
    ) -> (Vec<NameServer>, Vec<Range<usize>>) {
        let mut out: Vec<NameServer> = Vec::new();
        let mut spans = Vec::new();
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
            spans.push(span);
        }
        (out, spans)
    }

    /// Reports each zone that takes an in-zone name server (it declares
    /// no NS) with no address to serve for it: its NS would name a name
    /// that does not resolve. Zones built as read declare their NS set.
    fn unaddressed_nameservers(
        &mut self,
        zones: &[ZoneSpec],
        nameservers: &[NameServer],
        spans: &[Range<usize>],
    ) {
        if nameservers.is_empty() {
            return;
        }
        let set = NameServers {
            servers: nameservers.to_vec(),
        };
        for zone in zones {
            if self
                .sources
                .built
                .contains_key(&crate::snapshot::name_key(&zone.name))
            {
                continue;
            }
            let Some(name) = set.unaddressed(zone) else {
                continue;
            };
            let i = nameservers
                .iter()
                .position(|s| s.name.as_ref() == Some(name))
                .expect("a configured name server");
            self.error(spans[i].clone(), unaddressed_message(name, &zone.name));
        }
    }
}

/// Why a zone that takes in-zone name server `name` cannot be served
/// without its addresses, and what to add.
fn unaddressed_message(name: &DName, zone: &DName) -> String {
    format!(
        "server.nameservers: {name} is inside zone {zone}, which takes it as its name server; give its addresses, such as addresses = [\"192.0.2.53\"]"
    )
}
