//! Plain data types for zones, record groups and their routing.
//!
//! Architecture invariant: nothing here does I/O. These types are what the
//! config loader (and later the API and store) produce, and what the
//! snapshot builder consumes.

use bytes::Bytes;
use domain::base::iana::Rtype;
use domain::base::{Name, Ttl};
use domain::rdata::ZoneRecordData;

/// Record data as the server keeps it: owned, uncompressed names.
pub type RData = ZoneRecordData<Bytes, Name<Bytes>>;

/// A domain name with owned octets.
pub type DName = Name<Bytes>;

/// TTL of config-file records that give none. Route 53 requires a TTL; we
/// default to a value short enough for health-based routing to matter.
pub const DEFAULT_RECORD_TTL: u32 = 300;

/// The most records one group (name + type) may hold, as in Route 53.
pub const MAX_RECORDS_PER_GROUP: usize = 100;

/// The most records a multivalue answer carries.
pub const MULTIVALUE_MAX_ANSWERS: usize = 8;

/// Where a record came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// File, line and column, rendered as `file:line:col`.
    pub file: std::path::PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

/// Routing policy of a record group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// One record, all values returned in random order.
    Simple,
    /// Up to eight healthy records, chosen at random.
    Multivalue,
    /// Primary while healthy, else secondary.
    Failover,
    /// One record chosen by weight among the healthy ones.
    Weighted,
    /// The record of the client's location; without location data, the
    /// default location's (`*`).
    Geolocation,
}

impl Policy {
    /// The name used in the config file and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Simple => "simple",
            Policy::Multivalue => "multivalue",
            Policy::Failover => "failover",
            Policy::Weighted => "weighted",
            Policy::Geolocation => "geolocation",
        }
    }

    /// Parses the config-file spelling.
    pub fn parse(s: &str) -> Option<Policy> {
        Some(match s {
            "simple" => Policy::Simple,
            "multivalue" => Policy::Multivalue,
            "failover" => Policy::Failover,
            "weighted" => Policy::Weighted,
            "geolocation" => Policy::Geolocation,
            _ => return None,
        })
    }
}

/// Role of a record in a failover group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailoverRole {
    /// Answers while healthy.
    Primary,
    /// Answers when the primary is unhealthy.
    Secondary,
}

/// One record of a group, as declared by the user.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSpec {
    /// Absolute owner name, case as written.
    pub owner: DName,
    /// Record type.
    pub rtype: Rtype,
    /// TTL of every value of this record.
    pub ttl: Ttl,
    /// Routing policy of the group this record belongs to.
    pub policy: Policy,
    /// Set identifier; `None` only for simple records.
    pub set: Option<String>,
    /// The values; exactly one for every policy but simple.
    pub values: Vec<RData>,
    /// Health check id, if any.
    pub health_check: Option<String>,
    /// Failover role, for failover records.
    pub failover: Option<FailoverRole>,
    /// Weight, for weighted records.
    pub weight: Option<u8>,
    /// For an alias: the name whose records of this type it answers with;
    /// `values` is then empty.
    pub alias: Option<AliasSpec>,
    /// Where a geolocation record applies.
    pub location: Option<Location>,
    /// Where it was declared, when it came from a file.
    pub origin: Option<Origin>,
}

/// Where a geolocation record applies (Route 53's GeoLocation).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    /// Every client no other record of the group matches (`*`).
    Default,
    /// A continent: AF, AN, AS, EU, NA, OC or SA.
    Continent(String),
    /// A country, by ISO 3166-1 alpha-2 code.
    Country(String),
    /// A subdivision of a country (ISO 3166-2 code without the country).
    Subdivision(String, String),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Default => f.write_str("*"),
            Location::Continent(c) => write!(f, "continent {c}"),
            Location::Country(c) => write!(f, "country {c}"),
            Location::Subdivision(c, s) => write!(f, "{c}-{s}"),
        }
    }
}

/// The continent codes of Route 53's GeoLocation.
pub const CONTINENTS: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];

/// What an alias record answers with (Route 53's AliasTarget within one
/// zone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasSpec {
    /// The target name, absolute, in the alias's own zone.
    pub target: DName,
    /// Whether the alias is healthy only while its target has a healthy
    /// answer.
    pub evaluate_target_health: bool,
}

/// One zone, as declared by the user.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneSpec {
    /// The apex, absolute.
    pub name: DName,
    /// Every record of the zone, from its zone file and the config.
    pub records: Vec<RecordSpec>,
}

/// Types a multivalue record may have (Route 53's list).
pub fn multivalue_allows(rtype: Rtype) -> bool {
    matches!(
        rtype,
        Rtype::A
            | Rtype::AAAA
            | Rtype::MX
            | Rtype::TXT
            | Rtype::SRV
            | Rtype::CAA
            | Rtype::PTR
            | Rtype::NAPTR
    )
}

/// How a health check probes its endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    /// Healthy when a TCP connection opens.
    Tcp,
    /// Healthy on a 2xx/3xx HTTP status (and the search string, if any).
    Http,
    /// As `Http`, over TLS with SNI and no certificate validation.
    Https,
    /// Healthy when at least `healthy_threshold` of `children` are.
    Calculated {
        /// Ids of the child checks.
        children: Vec<String>,
        /// How many children must be healthy.
        healthy_threshold: u32,
    },
}

/// Where an endpoint check connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A fixed address.
    Ip(std::net::IpAddr),
    /// A name resolved afresh at every check.
    Fqdn(String),
}

/// A health check, as declared by the user.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheckSpec {
    /// Unique id, referenced by records.
    pub id: String,
    /// What it probes.
    pub kind: CheckKind,
    /// Endpoint address; `None` for calculated checks.
    pub target: Option<Target>,
    /// TCP port.
    pub port: u16,
    /// HTTP path.
    pub path: String,
    /// Host header and TLS SNI.
    pub host: Option<String>,
    /// Whether https probes send SNI.
    pub sni: bool,
    /// String required in the first 5,120 bytes of the body.
    pub search: Option<String>,
    /// Time between checks.
    pub interval: std::time::Duration,
    /// Consecutive disagreeing results needed to change state.
    pub failure_threshold: u8,
    /// Response deadline after connecting.
    pub timeout: std::time::Duration,
    /// Flip the result.
    pub invert: bool,
    /// Always healthy (unhealthy when inverted).
    pub disabled: bool,
    /// The cluster's vote (`health::vote`): healthy when more than this
    /// percentage of the live nodes' observations are; `None` takes
    /// `[server] healthy_percent`.
    pub healthy_percent: Option<u8>,
}
