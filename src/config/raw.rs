//! The config file's TOML as serde reads it, spans kept, before any
//! check: the shapes `Cx` validates, and the per-table field spans that
//! locate what the shared input rules refuse.

use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use crate::input::{FieldError, HealthCheckInput, RecordInput};

pub(super) fn toml_message(e: &toml::de::Error) -> String {
    // toml's own rendering repeats the source line; the message alone reads
    // better after our `file:line:col:` prefix.
    e.message().trim().replace('\n', " ")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) server: RawServer,
    #[serde(default)]
    pub(super) health_check: Vec<RawHealthCheck>,
    #[serde(default)]
    pub(super) zone: Vec<RawZone>,
    #[serde(default)]
    pub(super) tsig_key: Vec<RawTsigKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTsigKey {
    pub(super) name: Spanned<String>,
    pub(super) algorithm: Option<Spanned<String>>,
    pub(super) secret: Option<Spanned<String>>,
    pub(super) secret_file: Option<Spanned<PathBuf>>,
    /// What the key may change by dynamic update (RFC 2136).
    #[serde(default)]
    pub(super) update: Vec<Spanned<RawUpdateRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUpdateRule {
    pub(super) name: String,
    pub(super) types: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub(super) from: Option<Spanned<String>>,
    pub(super) key: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub(super) dns: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) api: Option<Spanned<String>>,
    pub(super) data: Option<Spanned<String>>,
    pub(super) api_token_file: Option<PathBuf>,
    pub(super) rate_limit: Option<u32>,
    pub(super) rate_limit_slip: Option<u32>,
    pub(super) api_tls_cert: Option<Spanned<PathBuf>>,
    pub(super) api_tls_key: Option<Spanned<PathBuf>>,
    pub(super) api_hosts: Option<Vec<Spanned<String>>>,
    pub(super) check_targets: Option<Vec<Spanned<String>>>,
    pub(super) history_max_age: Option<Spanned<String>>,
    pub(super) history_max_rows: Option<Spanned<i64>>,
    pub(super) tcp_ipv6_client_prefix: Option<Spanned<i64>>,
    pub(super) allow_transfer: Option<Vec<Spanned<RawRule>>>,
    pub(super) notify: Option<Vec<Spanned<String>>>,
    pub(super) cookie_secret: Option<Spanned<String>>,
    pub(super) node: Option<Spanned<String>>,
    pub(super) healthy_percent: Option<Spanned<i64>>,
    pub(super) notify_key: Option<Spanned<String>>,
    pub(super) nsid: Option<Spanned<String>>,
    pub(super) secondary_dir: Option<PathBuf>,
    pub(super) geoip_database: Option<Spanned<PathBuf>>,
    pub(super) nameservers: Option<Vec<Spanned<RawNameServer>>>,
}

/// A name server: its name alone, or a table with its addresses.
pub(super) enum RawNameServer {
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
pub(super) struct RawNameServerTable {
    pub(super) name: String,
    #[serde(default)]
    pub(super) addresses: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHealthCheck {
    pub(super) id: Spanned<String>,
    #[serde(rename = "type")]
    pub(super) kind: Spanned<String>,
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
pub(super) struct RawZone {
    pub(super) name: Spanned<String>,
    pub(super) file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    pub(super) record: Vec<Spanned<RawRecord>>,
    pub(super) allow_transfer: Option<Vec<Spanned<RawRule>>>,
    pub(super) notify: Option<Vec<Spanned<String>>>,
    pub(super) notify_key: Option<Spanned<String>>,
    pub(super) primaries: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) primary_key: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRecord {
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

/// A zone's `primaries` and `primary_key` as read.
pub(super) type RawPrimaries = (
    Option<Spanned<Vec<Spanned<String>>>>,
    Option<Spanned<String>>,
);

/// Where each field of one TOML table is, to locate a [`FieldError`].
#[derive(Default)]
pub(super) struct Spans {
    pub(super) whole: Range<usize>,
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

    pub(super) fn field(&self, field: &str) -> Range<usize> {
        self.fields
            .iter()
            .find(|(f, _)| *f == field)
            .map_or_else(|| self.whole.clone(), |(_, s)| s.clone())
    }

    pub(super) fn of(&self, e: &FieldError) -> Range<usize> {
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
    pub(super) fn split(self) -> (RecordInput, Spans) {
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
    pub(super) fn split(self) -> (HealthCheckInput, Spans) {
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
