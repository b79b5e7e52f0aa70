//! The user-facing shape of records and health checks, shared by the TOML
//! file and the JSON API ("one schema everywhere", SPEC §6), and the rules
//! that turn it into validated [`RecordSpec`]s and [`HealthCheckSpec`]s;
//! and the shape of a TSIG key made through the API ([`TsigKeyInput`]).
//! The store keeps each of them as the JSON of this shape.
//!
//! Problems are reported per field ([`FieldError`]); the config loader maps
//! a field to its place in the file, the API names it in its 400 reply.
//!
//! Architecture invariant: pure; no I/O.

use std::str::FromStr;
use std::time::Duration;

use domain::base::ToName;
use serde::{Deserialize, Serialize};

use crate::config::parse_absolute;
use crate::health::targets::{Refusal, TargetPolicy};
use crate::model::{
    AliasSpec, CONTINENTS, CheckKind, DEFAULT_RECORD_TTL, DName, FailoverRole, HealthCheckSpec,
    Location, Policy, RecordSpec, Target, is_country,
};
use crate::xfr::acl::{
    NEEDS_FROM_OR_KEY, not_a_notify_address, not_a_prefix, parse_prefix, parse_server,
};
use crate::xfr::{Rule, Transfers};
use crate::zonefile;
use domain::base::iana::Rtype;

/// Health check interval when none is given.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// Consecutive results needed to change a check's state.
pub const DEFAULT_FAILURE_THRESHOLD: u8 = 3;
/// HTTP response deadline after connecting.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest health check id.
pub const MAX_CHECK_ID_LEN: usize = 64;

/// One problem with one field of an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, as spelled in TOML and JSON (`""` for the whole input).
    pub field: &'static str,
    /// For list fields, which element.
    pub index: Option<usize>,
    /// What is wrong, starting with the record or check it concerns.
    pub message: String,
}

fn err(field: &'static str, message: String) -> FieldError {
    FieldError {
        field,
        index: None,
        message,
    }
}

/// A record as written by the user (TOML `[[zone.record]]` or JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordInput {
    /// Relative to the zone, `@`, or absolute with a trailing dot.
    pub name: String,
    /// Record type, e.g. `A`.
    #[serde(rename = "type")]
    pub rtype: String,
    /// TTL in seconds; [`DEFAULT_RECORD_TTL`] when missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    /// `simple` (default), `multivalue`, `failover` or `weighted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<String>,
    /// Set identifier, required for every policy but simple.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<String>,
    /// The one value of a routed record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The values of a simple record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// Health check id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<String>,
    /// `primary` or `secondary`, for failover records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<String>,
    /// 0 to 255, for weighted records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i64>,
    /// Names in the values are absolute with or without their final dot,
    /// as Route 53 reads them, instead of relative to the zone. The
    /// Route 53 API sets it, so a value is kept and listed as it was sent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub absolute_names: bool,
    /// An alias: the name of the same zone (relative, `@`, or absolute)
    /// whose records of this type the record answers with, as they are at
    /// query time; no `value`, no `ttl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// With `alias`: the record is healthy only while its target has a
    /// healthy answer (Route 53's EvaluateTargetHealth).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub evaluate_target_health: bool,
    /// Geolocation: the continent the record is for (AF, AN, AS, EU, NA,
    /// OC, SA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continent: Option<String>,
    /// Geolocation: the country (ISO 3166-1 alpha-2), or `*` for the
    /// default location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Geolocation: a subdivision of `country` (ISO 3166-2 code without
    /// the country).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdivision: Option<String>,
}

impl RecordInput {
    /// `name type` as the user wrote them, to start messages with.
    pub fn label(&self) -> String {
        format!("{} {}", self.name, self.rtype)
    }

    /// Validates the record for zone `apex`; `check_exists` tells whether a
    /// health check id is known. Group rules (one policy per name and type,
    /// unique sets, ...) are [`crate::validate`]'s job.
    pub fn to_spec(
        &self,
        apex: &DName,
        check_exists: &dyn Fn(&str) -> bool,
    ) -> Result<RecordSpec, Vec<FieldError>> {
        let mut errors = Vec::new();
        let label = self.label();
        let owner = crate::config::owner_name(apex, &self.name)
            .map_err(|m| errors.push(err("name", m)))
            .ok();
        let rtype = zonefile::parse_rtype(&self.rtype);
        if rtype.is_none() {
            errors.push(err("type", format!("unknown record type {:?}", self.rtype)));
        }
        let policy = match &self.routing {
            None => Policy::Simple,
            Some(r) => Policy::parse(r).unwrap_or_else(|| {
                errors.push(err(
                    "routing",
                    format!(
                        "{label}: unknown routing {r:?}; use simple, multivalue, failover or weighted"
                    ),
                ));
                Policy::Simple
            }),
        };
        let ttl = match self.ttl {
            None => DEFAULT_RECORD_TTL,
            Some(t) if (0..=i64::from(i32::MAX)).contains(&t) => t as u32,
            Some(_) => {
                errors.push(err(
                    "ttl",
                    format!("{label}: ttl must be 0 to 2147483647 seconds"),
                ));
                0
            }
        };
        // `values = [...]` for simple records, `value = "..."` for the
        // others, as in the spec; a simple record may also use `value`.
        let alias = self.alias_spec(apex, policy, rtype, owner.as_ref(), &mut errors);
        let location = self.location(policy, &mut errors);
        let (field, texts): (&'static str, Vec<&String>) = match (&self.value, &self.values) {
            _ if self.alias.is_some() => ("value", vec![]),
            (Some(v), None) => ("value", vec![v]),
            (None, Some(vs)) => {
                if policy != Policy::Simple {
                    errors.push(err(
                        "values",
                        format!(
                            "{label}: a {} record has one `value`, not `values`",
                            policy.as_str()
                        ),
                    ));
                }
                if vs.is_empty() {
                    errors.push(err("values", format!("{label}: values is empty")));
                }
                ("values", vs.iter().collect())
            }
            (Some(_), Some(_)) => {
                errors.push(err(
                    "value",
                    format!("{label}: give value or values, not both"),
                ));
                ("value", vec![])
            }
            (None, None) => {
                errors.push(err("", format!("{label}: missing value")));
                ("value", vec![])
            }
        };
        let mut values = Vec::new();
        // Route 53's reading: a name in a value is absolute, dot or not.
        let root = DName::root_bytes();
        let origin = if self.absolute_names { &root } else { apex };
        if let Some(rtype) = rtype {
            for (i, text) in texts.iter().enumerate() {
                match zonefile::parse_value(origin, rtype, text) {
                    Ok(v) => values.push(v),
                    Err(msg) => errors.push(FieldError {
                        field,
                        index: (field == "values").then_some(i),
                        message: format!("{label}: {msg}"),
                    }),
                }
            }
        }
        if let Some(s) = &self.set {
            if !(1..=128).contains(&s.chars().count()) {
                errors.push(err(
                    "set",
                    format!("{label}: set identifier must be 1 to 128 characters"),
                ));
            }
            if policy == Policy::Simple {
                errors.push(err(
                    "set",
                    format!(
                        "{label}: a simple record has no set identifier; choose a routing policy"
                    ),
                ));
            }
        } else if policy != Policy::Simple {
            errors.push(err(
                "set",
                format!(
                    "{label}: a {} record needs a set identifier (set = \"...\")",
                    policy.as_str()
                ),
            ));
        }
        if let Some(h) = &self.health_check {
            if !check_exists(h) {
                errors.push(err(
                    "health_check",
                    format!("{label}: unknown health check {h:?}"),
                ));
            }
            if policy == Policy::Simple {
                errors.push(err(
                    "health_check",
                    format!("{label}: a simple record has no health check; use multivalue, failover or weighted routing"),
                ));
            }
        }
        let failover = match (&self.failover, policy) {
            (Some(f), Policy::Failover) => {
                match f.as_str() {
                    "primary" => Some(FailoverRole::Primary),
                    "secondary" => Some(FailoverRole::Secondary),
                    other => {
                        errors.push(err(
                        "failover",
                        format!("{label}: failover must be \"primary\" or \"secondary\", not {other:?}"),
                    ));
                        None
                    }
                }
            }
            (None, Policy::Failover) => {
                errors.push(err(
                    "failover",
                    format!(
                        "{label}: a failover record needs failover = \"primary\" or \"secondary\""
                    ),
                ));
                None
            }
            (Some(_), _) => {
                errors.push(err(
                    "failover",
                    format!("{label}: failover applies to routing = \"failover\" only"),
                ));
                None
            }
            (None, _) => None,
        };
        let weight = match (self.weight, policy) {
            (Some(w), Policy::Weighted) if (0..=255).contains(&w) => Some(w as u8),
            (Some(w), Policy::Weighted) => {
                errors.push(err(
                    "weight",
                    format!("{label}: weight must be 0 to 255, not {w}"),
                ));
                None
            }
            (None, Policy::Weighted) => {
                errors.push(err(
                    "weight",
                    format!("{label}: a weighted record needs a weight (0 to 255)"),
                ));
                None
            }
            (Some(_), _) => {
                errors.push(err(
                    "weight",
                    format!("{label}: weight applies to routing = \"weighted\" only"),
                ));
                None
            }
            (None, _) => None,
        };
        match (owner, rtype) {
            (Some(owner), Some(rtype)) if errors.is_empty() => Ok(RecordSpec {
                owner,
                rtype,
                ttl: domain::base::Ttl::from_secs(ttl),
                policy,
                set: self.set.clone(),
                values,
                health_check: self.health_check.clone(),
                failover,
                weight,
                alias,
                location,
                origin: None,
            }),
            _ => Err(errors),
        }
    }

    /// Where a geolocation record applies, under Route 53's rules: a
    /// continent, a country (`*`: the default), or a country and one of
    /// its subdivisions; for geolocation records only.
    fn location(&self, policy: Policy, errors: &mut Vec<FieldError>) -> Option<Location> {
        let label = self.label();
        let mut problem = |field, message: String| {
            errors.push(err(field, format!("{label}: {message}")));
            None
        };
        let given = (
            self.continent.as_deref(),
            self.country.as_deref(),
            self.subdivision.as_deref(),
        );
        if policy != Policy::Geolocation {
            return match given {
                (None, None, None) => None,
                _ => problem(
                    "country",
                    "continent, country and subdivision apply to routing = \"geolocation\" only"
                        .into(),
                ),
            };
        }
        let code = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_uppercase());
        match given {
            (Some(c), None, None) if CONTINENTS.contains(&c) => {
                Some(Location::Continent(c.to_string()))
            }
            (Some(c), None, None) => problem(
                "continent",
                format!("continent {c:?} is not one of {}", CONTINENTS.join(", ")),
            ),
            (None, Some("*"), None) => Some(Location::Default),
            (None, Some(c), _) if code(c, 2) && !is_country(c) => problem(
                "country",
                format!("country {c:?} is not an ISO 3166-1 alpha-2 country code (such as DE or US)"),
            ),
            (None, Some(c), None) if code(c, 2) => Some(Location::Country(c.to_string())),
            (None, Some(c), Some(s))
                if code(c, 2)
                    && (1..=3).contains(&s.len())
                    && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) =>
            {
                Some(Location::Subdivision(c.to_string(), s.to_string()))
            }
            (None, None, None) => problem(
                "country",
                "a geolocation record needs continent, country (\"*\" for the default location) or country and subdivision".into(),
            ),
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => problem(
                "continent",
                "give a continent or a country, not both".into(),
            ),
            (None, None, Some(_)) => problem("subdivision", "a subdivision needs its country".into()),
            (None, Some(c), _) => problem(
                "country",
                format!("country {c:?} is not a two-letter upper-case code (with an optional subdivision of 1 to 3 letters or digits), or \"*\""),
            ),
        }
    }

    /// The alias of the record, if it is one, under Route 53's rules:
    /// no value or TTL of its own, not multivalue, not of a type that
    /// shapes the zone, a target in the same zone other than itself.
    fn alias_spec(
        &self,
        apex: &DName,
        policy: Policy,
        rtype: Option<Rtype>,
        owner: Option<&DName>,
        errors: &mut Vec<FieldError>,
    ) -> Option<AliasSpec> {
        let label = self.label();
        let Some(text) = &self.alias else {
            if self.evaluate_target_health {
                errors.push(err(
                    "evaluate_target_health",
                    format!("{label}: evaluate_target_health applies to an alias only"),
                ));
            }
            return None;
        };
        let mut problem =
            |field, message: String| errors.push(err(field, format!("{label}: {message}")));
        if self.value.is_some() || self.values.is_some() {
            problem(
                "alias",
                "an alias answers with its target's values; give alias or value(s), not both"
                    .into(),
            );
        }
        if self.ttl.is_some() {
            problem(
                "ttl",
                "an alias answers with its target's TTL; remove ttl".into(),
            );
        }
        if policy == Policy::Multivalue {
            problem("alias", "a multivalue record cannot be an alias (as in Route 53); use weighted or failover routing".into());
        }
        if let Some(t) = rtype
            && matches!(t, Rtype::NS | Rtype::SOA | Rtype::DNAME)
        {
            problem(
                "type",
                format!(
                    "an alias of type {t} is not supported; aliases answer for data types such as A, AAAA, CNAME, MX or TXT"
                ),
            );
        }
        // A CNAME alias answers with its target's CNAME, and a CNAME at
        // the apex would hide the SOA and NS; Route 53 refuses it there
        // in these words.
        if rtype == Some(Rtype::CNAME)
            && let Some(o) = owner
            && o.name_eq(apex)
        {
            problem(
                "type",
                format!(
                    "RRSet of type CNAME with DNS name {o}. is not permitted at apex in zone {apex}."
                ),
            );
        }
        let root = DName::root_bytes();
        let origin = if self.absolute_names { &root } else { apex };
        let target = match crate::config::owner_name(origin, text) {
            Ok(t) if !t.ends_with(apex) => {
                problem(
                    "alias",
                    format!(
                        "alias target {text:?} is outside the zone {apex}; eightfold answers aliases to names of the same zone only"
                    ),
                );
                return None;
            }
            Ok(t) if owner.is_some_and(|o| o.name_eq(&t)) => {
                problem("alias", "an alias cannot point at its own name".into());
                return None;
            }
            Ok(t) => t,
            Err(m) => {
                problem("alias", format!("alias target {text:?}: {m}"));
                return None;
            }
        };
        Some(AliasSpec {
            target,
            evaluate_target_health: self.evaluate_target_health,
        })
    }

    /// The input that describes `spec` in zone `apex`: names relative to the
    /// zone, values in master-file syntax.
    pub fn from_spec(spec: &RecordSpec, apex: &DName) -> RecordInput {
        let values: Vec<String> = spec.values.iter().map(|v| v.to_string()).collect();
        let simple = spec.policy == Policy::Simple;
        let has_values = spec.alias.is_none();
        RecordInput {
            name: relative_name(&spec.owner, apex),
            rtype: spec.rtype.to_string(),
            ttl: has_values.then(|| i64::from(spec.ttl.as_secs())),
            routing: (!simple).then(|| spec.policy.as_str().to_string()),
            set: spec.set.clone(),
            value: (has_values && !simple).then(|| values.first().cloned().unwrap_or_default()),
            values: (has_values && simple).then_some(values),
            health_check: spec.health_check.clone(),
            failover: spec.failover.map(|f| f.as_str().to_string()),
            weight: spec.weight.map(i64::from),
            absolute_names: false,
            alias: spec.alias.as_ref().map(|a| relative_name(&a.target, apex)),
            evaluate_target_health: spec
                .alias
                .as_ref()
                .is_some_and(|a| a.evaluate_target_health),
            continent: match &spec.location {
                Some(Location::Continent(c)) => Some(c.clone()),
                _ => None,
            },
            country: match &spec.location {
                Some(Location::Default) => Some("*".into()),
                Some(Location::Country(c) | Location::Subdivision(c, _)) => Some(c.clone()),
                _ => None,
            },
            subdivision: match &spec.location {
                Some(Location::Subdivision(_, s)) => Some(s.clone()),
                _ => None,
            },
        }
    }
}

/// `owner` relative to `apex` (`@` for the apex itself).
pub fn relative_name(owner: &DName, apex: &DName) -> String {
    if owner.name_eq(apex) {
        return "@".into();
    }
    match owner.clone().strip_suffix(apex) {
        Ok(rel) => rel.to_string(),
        Err(_) => format!("{owner}."),
    }
}

/// An API zone's transfer settings (`PUT /v1/zones/{zone}/transfers`):
/// the fields a `[[zone]]` of the config file sets, in the same words.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransfersInput {
    /// Who may transfer the zone; empty: nobody.
    #[serde(default)]
    pub allow_transfer: Vec<TransferRuleInput>,
    /// Secondaries told of every change (`IP` or `IP:PORT`).
    #[serde(default)]
    pub notify: Vec<String>,
    /// The TSIG key NOTIFY is signed with; unsigned when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_key: Option<String>,
}

/// One `allow_transfer` entry: an address prefix, a TSIG key name, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferRuleInput {
    /// An address prefix such as `192.0.2.0/24`, or one address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The TSIG key the request must be signed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl TransfersInput {
    /// The settings, checked by the rules of the config file's (the same
    /// messages), with TSIG key names that `known_key` must know; every
    /// problem.
    pub fn check(&self, known_key: impl Fn(&DName) -> bool) -> Result<Transfers, Vec<String>> {
        let mut problems = Vec::new();
        let key = |field: &str, text: &str, problems: &mut Vec<String>| match parse_absolute(text) {
            Ok(name) if known_key(&name) => Some(name),
            _ => {
                problems.push(format!(
                    "{field}: no TSIG key is named {text:?}; make it with POST /v1/tsig-keys or declare it with [[tsig_key]] in the config file"
                ));
                None
            }
        };
        let mut out = Transfers::default();
        for rule in &self.allow_transfer {
            let from = rule.from.as_deref().map(|f| parse_prefix(f).ok_or(f));
            let named = rule
                .key
                .as_deref()
                .map(|k| key("allow_transfer", k, &mut problems));
            match (from, named) {
                (Some(Err(text)), _) => problems.push(not_a_prefix(text)),
                (None, None) => problems.push(NEEDS_FROM_OR_KEY.to_string()),
                (_, Some(None)) => {}
                (from, key) => out.allow.push(Rule {
                    from: from.and_then(Result::ok),
                    key: key.flatten(),
                }),
            }
        }
        for text in &self.notify {
            match parse_server(text) {
                Some(a) => out.notify.push(a),
                None => problems.push(not_a_notify_address(text)),
            }
        }
        if let Some(k) = &self.notify_key {
            out.notify_key = key("notify_key", k, &mut problems);
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(problems)
        }
    }

    /// `settings` in this shape, as `GET /v1/zones/{zone}/transfers` shows
    /// them.
    pub fn of(settings: &Transfers) -> TransfersInput {
        TransfersInput {
            allow_transfer: settings
                .allow
                .iter()
                .map(|r| TransferRuleInput {
                    from: r.from.map(|net| net.to_string()),
                    key: r.key.as_ref().map(|k| format!("{k}.")),
                })
                .collect(),
            notify: settings.notify.iter().map(|a| a.to_string()).collect(),
            notify_key: settings.notify_key.as_ref().map(|k| format!("{k}.")),
        }
    }
}

/// A health check as written by the user (TOML `[[health_check]]` or JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckInput {
    /// Unique id, referenced by records.
    pub id: String,
    /// `tcp`, `http`, `https` or `calculated`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Endpoint address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Endpoint name, resolved at every check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<String>,
    /// Port; default 80, or 443 for https.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// HTTP path; default `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Host header and SNI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Whether an https check sends `host` (or `fqdn`) as TLS SNI; default
    /// true (Route 53's EnableSNI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<bool>,
    /// String required in the first 5,120 bytes of the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    /// Like `"10s"`; 1s to 300s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// 1 to 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i64>,
    /// Like `"2s"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Flip the result.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub invert: bool,
    /// Always healthy (unhealthy when inverted).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    /// Child check ids, for calculated checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<Vec<String>>,
    /// How many children must be healthy, for calculated checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_threshold: Option<i64>,
    /// 0 to 100: healthy when more than this percentage of the live
    /// nodes' observations are (the cluster's vote); default the server's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_percent: Option<i64>,
}

impl HealthCheckInput {
    /// Validates one check. `kind_of` tells the kind of another check by id
    /// (`Some(true)` calculated, `Some(false)` an endpoint check, `None`
    /// unknown), to check calculated children.
    pub fn to_spec(
        &self,
        kind_of: &dyn Fn(&str) -> Option<bool>,
    ) -> Result<HealthCheckSpec, Vec<FieldError>> {
        let mut errors = Vec::new();
        let id = &self.id;
        if id.is_empty() || id.len() > MAX_CHECK_ID_LEN {
            errors.push(err(
                "id",
                format!("health check id must be 1 to {MAX_CHECK_ID_LEN} characters"),
            ));
        }
        let calculated = self.kind == "calculated";
        let kind = match self.kind.as_str() {
            "tcp" => Some(CheckKind::Tcp),
            "http" => Some(CheckKind::Http),
            "https" => Some(CheckKind::Https),
            "calculated" => None,
            other => {
                errors.push(err(
                    "type",
                    format!("health check {id:?}: unknown type {other:?}; use tcp, http, https or calculated"),
                ));
                Some(CheckKind::Tcp)
            }
        };
        let target = match (&self.ip, &self.fqdn) {
            (Some(ip), None) => match ip.parse() {
                Ok(addr) => Some(Target::Ip(addr)),
                Err(_) => {
                    errors.push(err(
                        "ip",
                        format!("health check {id:?}: invalid IP address {ip:?}"),
                    ));
                    None
                }
            },
            (None, Some(fqdn)) => {
                if DName::from_str(fqdn).is_err() {
                    errors.push(err(
                        "fqdn",
                        format!("health check {id:?}: invalid domain name {fqdn:?}"),
                    ));
                }
                Some(Target::Fqdn(fqdn.clone()))
            }
            (Some(_), Some(_)) => {
                errors.push(err(
                    "ip",
                    format!("health check {id:?}: give ip or fqdn, not both"),
                ));
                None
            }
            (None, None) => {
                if !calculated {
                    errors.push(err("ip", format!("health check {id:?}: needs ip or fqdn")));
                }
                None
            }
        };
        if calculated && target.is_some() {
            errors.push(err(
                "type",
                format!("health check {id:?}: a calculated check has children, not ip or fqdn"),
            ));
        }
        if let Some(s) = &self.search {
            if s.is_empty() || s.len() > 255 {
                errors.push(err(
                    "search",
                    format!("health check {id:?}: search must be 1 to 255 characters"),
                ));
            }
            if !matches!(kind, Some(CheckKind::Http | CheckKind::Https)) {
                errors.push(err(
                    "search",
                    format!("health check {id:?}: search applies to http and https checks only"),
                ));
            }
        }
        let mut duration = |field, raw: &Option<String>, default, secs: (u64, u64)| {
            let Some(raw) = raw else { return default };
            match humantime::parse_duration(raw) {
                Ok(d) if d >= Duration::from_secs(secs.0) && d <= Duration::from_secs(secs.1) => d,
                Ok(_) => {
                    errors.push(err(
                        field,
                        format!(
                            "health check {id:?}: {field} must be between {}s and {}s",
                            secs.0, secs.1
                        ),
                    ));
                    default
                }
                Err(_) => {
                    errors.push(err(
                        field,
                        format!(
                            "health check {id:?}: invalid {field} {raw:?}; write it like \"10s\""
                        ),
                    ));
                    default
                }
            }
        };
        let interval = duration("interval", &self.interval, DEFAULT_INTERVAL, (1, 300));
        let timeout = duration("timeout", &self.timeout, DEFAULT_TIMEOUT, (1, 60));
        let failure_threshold = match self.failure_threshold {
            None => DEFAULT_FAILURE_THRESHOLD,
            Some(t) if (1..=10).contains(&t) => t as u8,
            Some(t) => {
                errors.push(err(
                    "failure_threshold",
                    format!("health check {id:?}: failure_threshold must be 1 to 10, not {t}"),
                ));
                DEFAULT_FAILURE_THRESHOLD
            }
        };
        let healthy_percent = match self.healthy_percent {
            None => None,
            Some(p) if (0..=100).contains(&p) => Some(p as u8),
            Some(p) => {
                errors.push(err(
                    "healthy_percent",
                    format!("health check {id:?}: healthy_percent must be 0 to 100, not {p}"),
                ));
                None
            }
        };
        let kind = match kind {
            Some(k) => {
                if self.children.is_some() {
                    errors.push(err(
                        "children",
                        format!("health check {id:?}: children apply to calculated checks only"),
                    ));
                }
                k
            }
            None => {
                let healthy_threshold = match self.healthy_threshold {
                    None => 1,
                    Some(t) if (0..=256).contains(&t) => t as u32,
                    Some(_) => {
                        errors.push(err(
                            "healthy_threshold",
                            format!("health check {id:?}: healthy_threshold must be 0 to 256"),
                        ));
                        1
                    }
                };
                let mut children = Vec::new();
                match &self.children {
                    None => errors.push(err(
                        "children",
                        format!("health check {id:?}: a calculated check needs children = [...]"),
                    )),
                    Some(list) => {
                        for (i, child) in list.iter().enumerate() {
                            let problem = match kind_of(child) {
                                None => {
                                    Some(format!("health check {id:?}: unknown child {child:?}"))
                                }
                                Some(true) => Some(format!(
                                    "health check {id:?}: child {child:?} is itself calculated; children must be endpoint checks"
                                )),
                                Some(false) => None,
                            };
                            match problem {
                                Some(message) => errors.push(FieldError {
                                    field: "children",
                                    index: Some(i),
                                    message,
                                }),
                                None => children.push(child.clone()),
                            }
                        }
                    }
                }
                CheckKind::Calculated {
                    children,
                    healthy_threshold,
                }
            }
        };
        if self.sni.is_some() && !matches!(kind, CheckKind::Https) {
            errors.push(err(
                "sni",
                format!("health check {id:?}: sni applies to https checks only"),
            ));
        }
        if matches!(kind, CheckKind::Tcp) && self.port.is_none() {
            errors.push(err(
                "port",
                format!("health check {id:?}: a tcp check needs a port"),
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let default_port = if matches!(kind, CheckKind::Https) {
            443
        } else {
            80
        };
        Ok(HealthCheckSpec {
            id: id.clone(),
            kind,
            target,
            port: self.port.unwrap_or(default_port),
            path: self.path.clone().unwrap_or_else(|| "/".into()),
            host: self.host.clone(),
            sni: self.sni.unwrap_or(true),
            search: self.search.clone(),
            interval,
            failure_threshold,
            timeout,
            invert: self.invert,
            disabled: self.disabled,
            healthy_percent,
        })
    }
}

/// Checks that `spec` aims where checks may aim (docs/security.md): its
/// `ip` on its port against `targets`, and an `fqdn` that is an address
/// literal likewise. Other names are judged at every probe, once resolved.
pub fn check_target(spec: &HealthCheckSpec, targets: &TargetPolicy) -> Result<(), FieldError> {
    let (field, ip) = match &spec.target {
        Some(Target::Ip(ip)) => ("ip", *ip),
        Some(Target::Fqdn(name)) => match name.parse::<std::net::IpAddr>() {
            Ok(ip) => ("fqdn", ip),
            Err(_) => return Ok(()),
        },
        None => return Ok(()),
    };
    targets.check(ip, spec.port).map_err(|why| {
        let shown = std::net::SocketAddr::new(ip, spec.port);
        let what = match why {
            Refusal::OwnListener { .. } => shown.to_string(),
            _ => ip.to_string(),
        };
        err(
            field,
            format!(
                "health check {:?}: checks may not target {what} ({why})",
                spec.id
            ),
        )
    })
}

/// A TSIG key as the API takes it (`POST /v1/tsig-keys`) and the store
/// keeps it (its JSON, as records and checks are kept), so a key reads
/// back as it was sent. The config file's `[[tsig_key]]` has its own,
/// located, form (`secret_file`, spans): `config::keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TsigKeyInput {
    /// The key's name, as BIND, NSD and Knot name keys (`acme.key`).
    pub name: String,
    /// `hmac-sha256` (the default), `hmac-sha384`, `hmac-sha512` or
    /// `hmac-sha1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// The base64 secret; made by the service when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// What it may change by dynamic update, as in the config file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub update: Vec<UpdateRuleInput>,
}

/// One update rule: names matching `name` (`*` labels), records of `types`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRuleInput {
    /// An absolute name pattern, e.g. `_acme-challenge.*.example.com.`.
    pub name: String,
    /// Record types, or `ANY`.
    pub types: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::base::iana::Rtype;
    use domain::base::rdata::{ComposeRecordData, RecordData};

    fn apex() -> DName {
        DName::from_str("example.test.").unwrap()
    }

    fn record(json: &str) -> Result<RecordSpec, Vec<FieldError>> {
        let input: RecordInput = serde_json::from_str(json).unwrap();
        input.to_spec(&apex(), &|id| id == "web-a")
    }

    #[test]
    fn a_routed_record_round_trips_through_its_spec() {
        let json = r#"{"name":"www","type":"A","ttl":60,"routing":"multivalue","set":"web-a","value":"192.0.2.1","health_check":"web-a"}"#;
        let input: RecordInput = serde_json::from_str(json).unwrap();
        let spec = input.to_spec(&apex(), &|_| true).unwrap();
        assert_eq!(RecordInput::from_spec(&spec, &apex()), input);
    }

    #[test]
    fn absolute_names_read_a_value_without_its_dot_as_absolute() {
        let relative =
            record(r#"{"name":"www","type":"MX","values":["10 mail.other.test"]}"#).unwrap();
        assert_eq!(
            relative.values[0].to_string(),
            "10 mail.other.test.example.test."
        );
        let absolute = record(
            r#"{"name":"www","type":"MX","values":["10 mail.other.test"],"absolute_names":true}"#,
        )
        .unwrap();
        assert_eq!(absolute.values[0].to_string(), "10 mail.other.test.");
    }

    #[test]
    fn spf_is_type_99_with_txt_data() {
        let spec = record(r#"{"name":"@","type":"SPF","values":["\"v=spf1 -all\""]}"#).unwrap();
        assert_eq!(spec.rtype, Rtype::SPF);
        assert_eq!(spec.rtype.to_int(), 99);
        let txt = record(r#"{"name":"@","type":"TXT","values":["\"v=spf1 -all\""]}"#).unwrap();
        let wire = |s: &RecordSpec| {
            let mut out = Vec::new();
            s.values[0].compose_rdata(&mut out).unwrap();
            out
        };
        assert_eq!(wire(&spec), wire(&txt));
        assert_eq!(spec.values[0].rtype(), Rtype::SPF);
    }

    #[test]
    fn a_geolocation_record_names_one_location() {
        let location = |json: &str| record(json).map(|s| s.location.unwrap());
        let base =
            r#""name":"www","type":"A","routing":"geolocation","set":"g","value":"192.0.2.1""#;
        assert_eq!(
            location(&format!("{{{base},\"country\":\"*\"}}")).unwrap(),
            Location::Default
        );
        assert_eq!(
            location(&format!("{{{base},\"continent\":\"EU\"}}")).unwrap(),
            Location::Continent("EU".into())
        );
        assert_eq!(
            location(&format!(
                "{{{base},\"country\":\"US\",\"subdivision\":\"CA\"}}"
            ))
            .unwrap(),
            Location::Subdivision("US".into(), "CA".into())
        );
        for (extra, says) in [
            ("", "needs continent, country"),
            (r#","continent":"XX""#, "is not one of AF"),
            (r#","continent":"EU","country":"DE""#, "not both"),
            (r#","subdivision":"CA""#, "needs its country"),
            (r#","country":"germany""#, "two-letter"),
            (
                r#","country":"QQ""#,
                "not an ISO 3166-1 alpha-2 country code",
            ),
            (r#","country":"ZZ","subdivision":"CA""#, "not an ISO 3166-1"),
        ] {
            let errors = record(&format!("{{{base}{extra}}}")).unwrap_err();
            assert!(
                errors.iter().any(|e| e.message.contains(says)),
                "{extra}: {errors:?}"
            );
        }
        let errors =
            record(r#"{"name":"www","type":"A","value":"192.0.2.1","country":"DE"}"#).unwrap_err();
        assert!(
            errors[0].message.contains("geolocation\" only"),
            "{errors:?}"
        );
    }

    #[test]
    fn an_alias_follows_route53s_rules() {
        let spec = record(r#"{"name":"@","type":"A","alias":"www","evaluate_target_health":true}"#)
            .unwrap();
        let alias = spec.alias.as_ref().unwrap();
        assert_eq!(alias.target.to_string(), "www.example.test");
        assert!(alias.evaluate_target_health);
        assert!(spec.values.is_empty());
        // Off the apex a CNAME can be an alias (of a CNAME record set).
        assert!(record(r#"{"name":"a","type":"CNAME","alias":"b"}"#).is_ok());
        assert_eq!(
            RecordInput::from_spec(&spec, &apex()),
            serde_json::from_str(
                r#"{"name":"@","type":"A","alias":"www","evaluate_target_health":true}"#
            )
            .unwrap()
        );
        let message = |json: &str| {
            record(json)
                .unwrap_err()
                .into_iter()
                .map(|e| e.message)
                .collect::<Vec<_>>()
                .join("; ")
        };
        for (json, says) in [
            (
                r#"{"name":"a","type":"A","alias":"b","value":"192.0.2.1"}"#,
                "give alias or value(s), not both",
            ),
            (
                r#"{"name":"a","type":"A","alias":"b","ttl":60}"#,
                "its target's TTL",
            ),
            (
                r#"{"name":"a","type":"A","alias":"b","routing":"multivalue","set":"x"}"#,
                "a multivalue record cannot be an alias",
            ),
            (
                r#"{"name":"a","type":"NS","alias":"b"}"#,
                "an alias of type NS is not supported",
            ),
            (
                r#"{"name":"@","type":"CNAME","alias":"b"}"#,
                "RRSet of type CNAME with DNS name example.test. is not permitted at apex in zone example.test.",
            ),
            (
                r#"{"name":"a","type":"A","alias":"b.other.test."}"#,
                "outside the zone",
            ),
            (
                r#"{"name":"a","type":"A","alias":"a"}"#,
                "cannot point at its own name",
            ),
            (
                r#"{"name":"a","type":"A","value":"192.0.2.1","evaluate_target_health":true}"#,
                "applies to an alias only",
            ),
        ] {
            let got = message(json);
            assert!(got.contains(says), "{json}: {got}");
        }
    }

    #[test]
    fn errors_name_the_field() {
        let errors = record(r#"{"name":"www","type":"A","routing":"weighted","set":"a","value":"1.2.3","weight":300}"#)
            .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["value", "weight"]);
        assert_eq!(errors[0].message, "www A: invalid IPv4 address \"1.2.3\"");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let e = serde_json::from_str::<RecordInput>(r#"{"name":"www","type":"A","bogus":1}"#)
            .unwrap_err();
        assert!(e.to_string().contains("unknown field `bogus`"), "{e}");
    }

    #[test]
    fn unknown_health_check_is_reported() {
        let errors = record(r#"{"name":"www","type":"A","routing":"multivalue","set":"a","value":"192.0.2.1","health_check":"nope"}"#)
            .unwrap_err();
        assert_eq!(errors[0].field, "health_check");
    }

    #[test]
    fn calculated_children_must_be_endpoint_checks() {
        let input = HealthCheckInput {
            id: "calc".into(),
            kind: "calculated".into(),
            children: Some(vec!["a".into(), "b".into(), "c".into()]),
            ..Default::default()
        };
        let kinds = |id: &str| match id {
            "a" => Some(false),
            "b" => Some(true),
            _ => None,
        };
        let errors = input.to_spec(&kinds).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].index, Some(1));
        assert!(errors[1].message.contains("unknown child \"c\""));
    }

    #[test]
    fn sni_is_on_by_default_can_be_turned_off_and_is_refused_outside_https() {
        let check: HealthCheckInput =
            serde_json::from_str(r#"{"id":"s","type":"https","ip":"192.0.2.1"}"#).unwrap();
        assert!(check.to_spec(&|_| None).unwrap().sni);
        let off = HealthCheckInput {
            sni: Some(false),
            ..check.clone()
        };
        assert!(!off.to_spec(&|_| None).unwrap().sni);
        let http = HealthCheckInput {
            kind: "http".into(),
            ..off
        };
        let errors = http.to_spec(&|_| None).unwrap_err();
        assert_eq!(errors[0].field, "sni");
        assert!(
            errors[0].message.contains("https checks only"),
            "{errors:?}"
        );
    }
    #[test]
    fn a_forbidden_target_is_reported_at_its_field() {
        use crate::health::targets::{Listener, Role};
        let api = Listener {
            role: Role::Api,
            addr: "127.0.0.1:8053".parse().unwrap(),
        };
        let policy = TargetPolicy::new(vec![], vec![api]);
        let spec = |json: &str| {
            serde_json::from_str::<HealthCheckInput>(json)
                .unwrap()
                .to_spec(&|_| None)
                .unwrap()
        };
        let e = check_target(
            &spec(r#"{"id":"m","type":"http","ip":"169.254.169.254"}"#),
            &policy,
        )
        .unwrap_err();
        assert_eq!(e.field, "ip");
        assert!(
            e.message.starts_with(
                "health check \"m\": checks may not target 169.254.169.254 (link-local"
            ),
            "{}",
            e.message
        );
        let e = check_target(
            &spec(r#"{"id":"a","type":"tcp","ip":"::ffff:127.0.0.1","port":8053}"#),
            &policy,
        )
        .unwrap_err();
        assert!(
            e.message
                .ends_with("(eightfold's own API listener 127.0.0.1:8053)"),
            "{}",
            e.message
        );
        let e = check_target(
            &spec(r#"{"id":"f","type":"http","fqdn":"224.0.0.1"}"#),
            &policy,
        )
        .unwrap_err();
        assert_eq!(e.field, "fqdn");
        for ok in [
            r#"{"id":"o","type":"http","ip":"127.0.0.1","port":8080}"#,
            r#"{"id":"o","type":"http","fqdn":"www.example.test"}"#,
            r#"{"id":"o","type":"calculated","children":[]}"#,
        ] {
            assert_eq!(check_target(&spec(ok), &policy), Ok(()), "{ok}");
        }
    }
}
