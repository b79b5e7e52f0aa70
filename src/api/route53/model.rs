//! Route 53's request shapes (botocore's `service-2.json`, 2013-04-01) and
//! their translation to and from eightfold's one schema ([`RecordInput`],
//! [`HealthCheckInput`]). Only translation lives here: every rule about
//! what is valid stays in the service, which reports it in its own words.

use std::cmp::Ordering;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::error::R53Error;
use crate::input::{HealthCheckInput, RecordInput};
use crate::model::DEFAULT_RECORD_TTL;
use crate::service::Action;

// ----- requests -----

/// CreateHostedZoneRequest.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateHostedZoneRequest {
    pub name: String,
    pub caller_reference: String,
    #[serde(default)]
    pub hosted_zone_config: Option<HostedZoneConfig>,
    #[serde(default, rename = "VPC")]
    pub vpc: Option<IgnoredAny>,
    #[serde(default)]
    pub delegation_set_id: Option<String>,
}

/// HostedZoneConfig.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostedZoneConfig {
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub private_zone: Option<bool>,
}

/// ChangeResourceRecordSetsRequest.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangeResourceRecordSetsRequest {
    pub change_batch: ChangeBatch,
}

/// ChangeBatch.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangeBatch {
    #[serde(default)]
    pub comment: Option<String>,
    pub changes: Changes,
}

/// Changes: a list of Change.
#[derive(Debug, Deserialize)]
pub struct Changes {
    #[serde(rename = "Change", default)]
    pub items: Vec<Change>,
}

/// Change.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Change {
    pub action: String,
    pub resource_record_set: ResourceRecordSet,
}

/// ResourceRecordSet, as sent.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceRecordSet {
    pub name: String,
    #[serde(rename = "Type")]
    pub rtype: String,
    #[serde(default)]
    pub set_identifier: Option<String>,
    #[serde(default)]
    pub weight: Option<i64>,
    #[serde(default)]
    pub region: Option<IgnoredAny>,
    #[serde(default)]
    pub geo_location: Option<GeoLocation>,
    #[serde(default)]
    pub failover: Option<String>,
    #[serde(default)]
    pub multi_value_answer: Option<bool>,
    #[serde(default, rename = "TTL")]
    pub ttl: Option<i64>,
    #[serde(default)]
    pub resource_records: Option<ResourceRecords>,
    #[serde(default)]
    pub alias_target: Option<AliasTarget>,
    #[serde(default)]
    pub health_check_id: Option<String>,
    #[serde(default)]
    pub traffic_policy_instance_id: Option<IgnoredAny>,
    #[serde(default)]
    pub cidr_routing_config: Option<IgnoredAny>,
    #[serde(default)]
    pub geo_proximity_location: Option<IgnoredAny>,
}

/// GeoLocation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GeoLocation {
    #[serde(default)]
    pub continent_code: Option<String>,
    #[serde(default)]
    pub country_code: Option<String>,
    #[serde(default)]
    pub subdivision_code: Option<String>,
}

/// AliasTarget.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasTarget {
    pub hosted_zone_id: String,
    #[serde(rename = "DNSName")]
    pub dns_name: String,
    #[serde(default)]
    pub evaluate_target_health: bool,
}

/// ResourceRecords: a list of ResourceRecord.
#[derive(Debug, Deserialize)]
pub struct ResourceRecords {
    #[serde(rename = "ResourceRecord", default)]
    pub items: Vec<ResourceRecord>,
}

/// ResourceRecord.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceRecord {
    pub value: String,
}

/// CreateHealthCheckRequest.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateHealthCheckRequest {
    pub caller_reference: String,
    pub health_check_config: HealthCheckConfig,
}

/// HealthCheckConfig, as sent: kept whole (as JSON) so that GetHealthCheck
/// returns it as it came.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthCheckConfig {
    #[serde(default, rename = "IPAddress", skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fully_qualified_domain_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_string: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure_latency: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inverted: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_threshold: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_health_checks: Option<ChildHealthChecks>,
    #[serde(default, rename = "EnableSNI", skip_serializing_if = "Option::is_none")]
    pub enable_sni: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<Regions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_identifier: Option<AlarmIdentifier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insufficient_data_health_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_control_arn: Option<String>,
}

/// HealthCheckRegionList.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Regions {
    #[serde(rename = "Region", default)]
    pub items: Vec<String>,
}

/// AlarmIdentifier (CLOUDWATCH_METRIC checks).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AlarmIdentifier {
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub name: String,
}

/// ChildHealthCheckList.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct ChildHealthChecks {
    #[serde(rename = "ChildHealthCheck", default)]
    pub items: Vec<String>,
}

/// UpdateHealthCheckRequest.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateHealthCheckRequest {
    #[serde(default)]
    pub health_check_version: Option<i64>,
    #[serde(default, rename = "IPAddress")]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub port: Option<i64>,
    #[serde(default)]
    pub resource_path: Option<String>,
    #[serde(default)]
    pub fully_qualified_domain_name: Option<String>,
    #[serde(default)]
    pub search_string: Option<String>,
    #[serde(default)]
    pub failure_threshold: Option<i64>,
    #[serde(default)]
    pub inverted: Option<bool>,
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    pub health_threshold: Option<i64>,
    #[serde(default)]
    pub child_health_checks: Option<ChildHealthChecks>,
    #[serde(default, rename = "EnableSNI")]
    pub enable_sni: Option<bool>,
    #[serde(default)]
    pub regions: Option<Regions>,
    #[serde(default)]
    pub alarm_identifier: Option<AlarmIdentifier>,
    #[serde(default)]
    pub insufficient_data_health_status: Option<String>,
    #[serde(default)]
    pub reset_elements: Option<ResetElements>,
}

/// ResettableElementNameList.
#[derive(Debug, Default, Deserialize)]
pub struct ResetElements {
    #[serde(rename = "ResettableElementName", default)]
    pub items: Vec<String>,
}

fn unsupported(field: &str) -> R53Error {
    R53Error::invalid_input(format!(
        "{field} is not supported by eightfold; docs/route53.md lists the fields it implements"
    ))
}

// ----- names -----

fn safe(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
}

/// A name as Route 53 returns it: absolute, lower-case, and every byte but
/// a-z, 0-9, `-` and `_` as a three-digit octal escape (`*` is `\052`).
/// `name` is in master-file syntax (decimal escapes `\DDD`, or `\c`).
pub fn route53_name(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(name.len() + 1);
    let mut i = 0;
    let push = |out: &mut String, b: u8| {
        let b = b.to_ascii_lowercase();
        if safe(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\{b:03o}"));
        }
    };
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if i + 3 < bytes.len() && bytes[i + 1..i + 4].iter().all(u8::is_ascii_digit) => {
                let v: u32 = name[i + 1..i + 4].parse().unwrap_or(0);
                push(&mut out, v.min(255) as u8);
                i += 4;
            }
            b'\\' if i + 1 < bytes.len() => {
                push(&mut out, bytes[i + 1]);
                i += 2;
            }
            b'.' => {
                out.push('.');
                i += 1;
            }
            b => {
                push(&mut out, b);
                i += 1;
            }
        }
    }
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// A name as sent to Route 53 (absolute with or without the final dot,
/// octal escapes `\052`) in master-file syntax, absolute.
pub fn from_route53_name(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(name.len() + 1);
    let mut i = 0;
    while i < bytes.len() {
        let octal = i + 3 < bytes.len()
            && bytes[i] == b'\\'
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b));
        if octal {
            let v = u32::from_str_radix(&name[i + 1..i + 4], 8)
                .unwrap_or(0)
                .min(255) as u8;
            if safe(v.to_ascii_lowercase()) || v == b'*' {
                out.push(v as char);
            } else {
                out.push_str(&format!("\\{v:03}"));
            }
            i += 4;
        } else if bytes[i] == b'\\' && i + 1 < bytes.len() {
            // The escaped character may be longer than a byte: `\é`.
            let c = name[i + 1..].chars().next().unwrap_or('\\');
            out.push('\\');
            out.push(c);
            i += 1 + c.len_utf8();
        } else {
            let c = name[i..].chars().next().unwrap_or('.');
            out.push(c);
            i += c.len_utf8();
        }
    }
    if !out.ends_with('.') || out.ends_with("\\.") {
        out.push('.');
    }
    out
}

/// A record name of eightfold's schema (`@`, relative, or absolute) made
/// absolute in zone `apex` (absolute, with the dot).
pub fn absolute(name: &str, apex: &str) -> String {
    if name == "@" {
        apex.to_string()
    } else if name.ends_with('.') && !name.ends_with("\\.") {
        name.to_string()
    } else {
        format!("{name}.{apex}")
    }
}

/// Route 53's order of record sets: by name with its labels reversed
/// (`test.example.www.`, trailing dot included), then type, then set
/// identifier. `name` is in Route 53's form.
pub fn order_key(name: &str, rtype: &str, set: &str) -> (String, String, String) {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    let mut reversed: Vec<&str> = trimmed.split('.').collect();
    reversed.reverse();
    let mut key = reversed.join(".");
    key.push('.');
    (key, rtype.to_ascii_uppercase(), set.to_string())
}

/// Compares two order keys.
pub fn compare(a: &(String, String, String), b: &(String, String, String)) -> Ordering {
    a.0.as_bytes()
        .cmp(b.0.as_bytes())
        .then_with(|| a.1.cmp(&b.1))
        .then_with(|| a.2.cmp(&b.2))
}

// ----- record sets -----

/// A record set as Route 53 shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSetOut {
    pub name: String,
    pub rtype: String,
    pub set_identifier: Option<String>,
    pub weight: Option<i64>,
    pub failover: Option<String>,
    pub multi_value_answer: bool,
    /// None for an alias, which has its target's.
    pub ttl: Option<i64>,
    pub values: Vec<String>,
    /// For an alias: the target's name (Route 53's form) and
    /// EvaluateTargetHealth; its HostedZoneId is the record's own zone.
    pub alias: Option<(String, bool)>,
    /// GeoLocation: ContinentCode, CountryCode, SubdivisionCode.
    pub geo_location: Option<[Option<String>; 3]>,
    pub health_check_id: Option<String>,
}

impl RecordSetOut {
    /// Its place in Route 53's order.
    pub fn key(&self) -> (String, String, String) {
        order_key(
            &self.name,
            &self.rtype,
            self.set_identifier.as_deref().unwrap_or(""),
        )
    }
}

/// A stored record of zone `apex` in Route 53's shape.
pub fn record_out(r: &RecordInput, apex: &str) -> RecordSetOut {
    let routing = r.routing.as_deref().unwrap_or("simple");
    RecordSetOut {
        name: route53_name(&absolute(&r.name, apex)),
        rtype: r.rtype.to_ascii_uppercase(),
        set_identifier: r.set.clone(),
        weight: r.weight,
        failover: r.failover.as_ref().map(|f| f.to_ascii_uppercase()),
        multi_value_answer: routing == "multivalue",
        ttl: r
            .alias
            .is_none()
            .then(|| r.ttl.unwrap_or(i64::from(DEFAULT_RECORD_TTL))),
        alias: r
            .alias
            .as_ref()
            .map(|a| (route53_name(&absolute(a, apex)), r.evaluate_target_health)),
        geo_location: (routing == "geolocation").then(|| {
            [
                r.continent.clone(),
                r.country.clone(),
                r.subdivision.clone(),
            ]
        }),
        values: match (&r.value, &r.values) {
            (_, Some(values)) => values.iter().map(|v| value_out(r, apex, v)).collect(),
            (Some(v), None) => vec![value_out(r, apex, v)],
            (None, None) => Vec::new(),
        },
        health_check_id: r.health_check.clone(),
    }
}

/// Types whose values hold a domain name.
fn name_valued(rtype: &str) -> bool {
    matches!(
        rtype.to_ascii_uppercase().as_str(),
        "CNAME" | "NS" | "PTR" | "MX" | "SRV" | "DNAME" | "SVCB" | "HTTPS" | "NAPTR"
    )
}

/// A stored value as Route 53 shows it: as sent when it came through
/// Route 53 (`absolute_names`); otherwise, for a record of eightfold's own
/// schema whose names may be relative to the zone, with its names made
/// absolute as DNS serves them, since a Route 53 client reads every name
/// as absolute.
fn value_out(r: &RecordInput, apex: &str, value: &str) -> String {
    if r.absolute_names || !name_valued(&r.rtype) {
        return value.to_string();
    }
    let parsed = crate::config::parse_absolute(apex)
        .ok()
        .zip(crate::zonefile::parse_rtype(&r.rtype))
        .and_then(|(origin, rtype)| crate::zonefile::parse_value(&origin, rtype, value).ok());
    parsed.map_or_else(|| value.to_string(), |data| data.to_string())
}

/// One change of a Route 53 batch for zone `zone_id` in eightfold's
/// schema.
pub fn change_in(change: &Change, zone_id: &str) -> Result<crate::service::Change, R53Error> {
    let action = match change.action.as_str() {
        "CREATE" => Action::Create,
        "DELETE" => Action::Delete,
        "UPSERT" => Action::Upsert,
        other => {
            return Err(R53Error::invalid_input(format!(
                "Action {other:?} is not CREATE, DELETE or UPSERT"
            )));
        }
    };
    let rr = &change.resource_record_set;
    let fields = [
        ("Region", rr.region.is_some()),
        (
            "TrafficPolicyInstanceId",
            rr.traffic_policy_instance_id.is_some(),
        ),
        ("CidrRoutingConfig", rr.cidr_routing_config.is_some()),
        ("GeoProximityLocation", rr.geo_proximity_location.is_some()),
    ];
    if let Some((field, _)) = fields.iter().find(|(_, given)| *given) {
        return Err(unsupported(field));
    }
    // The policy is told by which routing field is present; the service
    // reports any field that does not fit it.
    let routing = if rr.geo_location.is_some() {
        Some("geolocation")
    } else if rr.failover.is_some() {
        Some("failover")
    } else if rr.weight.is_some() {
        Some("weighted")
    } else if rr.multi_value_answer == Some(true) {
        Some("multivalue")
    } else {
        None
    };
    let values: Vec<String> = rr
        .resource_records
        .as_ref()
        .map(|r| r.items.iter().map(|v| v.value.clone()).collect())
        .unwrap_or_default();
    let (value, values) = match (routing, rr.resource_records.is_some()) {
        (_, false) => (None, None),
        (Some(_), true) if values.len() == 1 => (values.into_iter().next(), None),
        (_, true) => (None, Some(values)),
    };
    let record = RecordInput {
        name: from_route53_name(&rr.name),
        rtype: rr.rtype.clone(),
        ttl: rr.ttl,
        routing: routing.map(String::from),
        set: rr.set_identifier.clone(),
        value,
        values,
        health_check: rr.health_check_id.clone(),
        failover: rr.failover.as_ref().map(|f| f.to_ascii_lowercase()),
        weight: rr.weight,
        // Kept as sent, read as Route 53 reads them.
        absolute_names: true,
        alias: rr
            .alias_target
            .as_ref()
            .map(|a| alias_in(a, zone_id))
            .transpose()?,
        evaluate_target_health: rr
            .alias_target
            .as_ref()
            .is_some_and(|a| a.evaluate_target_health),
        continent: rr
            .geo_location
            .as_ref()
            .and_then(|g| g.continent_code.clone()),
        country: rr
            .geo_location
            .as_ref()
            .and_then(|g| g.country_code.clone()),
        subdivision: rr
            .geo_location
            .as_ref()
            .and_then(|g| g.subdivision_code.clone()),
    };
    Ok(crate::service::Change { action, record })
}

/// An AliasTarget's name, if it names the record's own zone: eightfold
/// answers aliases from the records it serves, and AWS resources (load
/// balancers, CloudFront, S3 websites) are not among them.
fn alias_in(a: &AliasTarget, zone_id: &str) -> Result<String, R53Error> {
    let target_zone = a
        .hosted_zone_id
        .strip_prefix("/hostedzone/")
        .unwrap_or(&a.hosted_zone_id);
    if target_zone != zone_id {
        return Err(R53Error::invalid_input(format!(
            "AliasTarget: HostedZoneId {target_zone} is not this hosted zone ({zone_id}); eightfold answers aliases to record sets of the same hosted zone only, not to AWS resources or other zones"
        )));
    }
    Ok(from_route53_name(&a.dns_name))
}

// ----- health checks -----

/// A health check's configuration as Route 53 shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckConfigOut {
    pub ip_address: Option<String>,
    pub port: Option<u16>,
    pub kind: &'static str,
    pub resource_path: Option<String>,
    pub fully_qualified_domain_name: Option<String>,
    pub search_string: Option<String>,
    pub request_interval: Option<u64>,
    pub failure_threshold: Option<i64>,
    pub inverted: bool,
    pub disabled: bool,
    pub health_threshold: Option<i64>,
    pub child_health_checks: Option<Vec<String>>,
    pub enable_sni: Option<bool>,
    pub measure_latency: bool,
    pub regions: Option<Vec<String>>,
}

/// Route 53's default RequestInterval, used when a request gives none.
pub const DEFAULT_REQUEST_INTERVAL: i64 = 30;

/// A check of eightfold's schema in Route 53's shape. For https checks
/// EnableSNI is the check's own `sni`; for others, `enable_sni`, the value
/// a Route 53 request sent and the service kept, if any.
pub fn check_out(c: &HealthCheckInput, enable_sni: Option<bool>) -> CheckConfigOut {
    let search = c.search.is_some();
    let kind = match (c.kind.as_str(), search) {
        ("http", false) => "HTTP",
        ("http", true) => "HTTP_STR_MATCH",
        ("https", false) => "HTTPS",
        ("https", true) => "HTTPS_STR_MATCH",
        ("calculated", _) => "CALCULATED",
        _ => "TCP",
    };
    if kind == "CALCULATED" {
        return CheckConfigOut {
            kind,
            inverted: c.invert,
            disabled: c.disabled,
            health_threshold: Some(c.healthy_threshold.unwrap_or(1)),
            child_health_checks: Some(c.children.clone().unwrap_or_default()),
            ..CheckConfigOut::default()
        };
    }
    let https = kind.starts_with("HTTPS");
    let http = kind.starts_with("HTTP");
    // With an address, Route 53's FullyQualifiedDomainName is the Host
    // header and SNI name: eightfold's `host`.
    let fqdn = if c.ip.is_some() {
        c.host.clone()
    } else {
        c.fqdn.clone()
    };
    let interval = c
        .interval
        .as_deref()
        .and_then(|i| humantime::parse_duration(i).ok())
        .unwrap_or(crate::input::DEFAULT_INTERVAL)
        .as_secs();
    CheckConfigOut {
        ip_address: c.ip.clone(),
        port: Some(c.port.unwrap_or(if https { 443 } else { 80 })),
        kind,
        resource_path: if http { c.path.clone() } else { None },
        fully_qualified_domain_name: fqdn,
        search_string: c.search.clone(),
        request_interval: Some(interval),
        failure_threshold: Some(
            c.failure_threshold
                .unwrap_or(i64::from(crate::input::DEFAULT_FAILURE_THRESHOLD)),
        ),
        inverted: c.invert,
        disabled: c.disabled,
        health_threshold: None,
        child_health_checks: None,
        // An https check's own setting is what its probes do; others
        // echo what was sent, as Route 53 does, false by default.
        enable_sni: Some(if https {
            c.sni.unwrap_or(true)
        } else {
            enable_sni.unwrap_or(false)
        }),
        measure_latency: false,
        regions: None,
    }
}

/// A check of eightfold's schema as a Route 53 request would have sent
/// it: what an update starts from when no config was kept.
pub fn config_of(c: &HealthCheckInput, enable_sni: Option<bool>) -> HealthCheckConfig {
    let out = check_out(c, enable_sni);
    HealthCheckConfig {
        ip_address: out.ip_address,
        port: out.port.map(i64::from),
        kind: out.kind.to_string(),
        resource_path: out.resource_path,
        fully_qualified_domain_name: out.fully_qualified_domain_name,
        search_string: out.search_string,
        request_interval: out.request_interval.and_then(|i| i64::try_from(i).ok()),
        failure_threshold: out.failure_threshold,
        inverted: Some(out.inverted),
        disabled: Some(out.disabled),
        health_threshold: out.health_threshold,
        child_health_checks: out
            .child_health_checks
            .map(|items| ChildHealthChecks { items }),
        enable_sni: out.enable_sni,
        ..HealthCheckConfig::default()
    }
}

/// `out` with every field `sent` gave, as it was sent: Route 53 returns a
/// check's config as it came, its defaults filling the rest. `sent` must
/// be the config of the check's current version, which `out` was made
/// from.
pub fn as_sent(mut out: CheckConfigOut, sent: &HealthCheckConfig) -> CheckConfigOut {
    let keep = |target: &mut Option<String>, given: &Option<String>| {
        if given.is_some() {
            target.clone_from(given);
        }
    };
    keep(&mut out.ip_address, &sent.ip_address);
    keep(&mut out.resource_path, &sent.resource_path);
    keep(
        &mut out.fully_qualified_domain_name,
        &sent.fully_qualified_domain_name,
    );
    keep(&mut out.search_string, &sent.search_string);
    if let Some(p) = sent.port.and_then(|p| u16::try_from(p).ok()) {
        out.port = Some(p);
    }
    if let Some(i) = sent.request_interval.and_then(|i| u64::try_from(i).ok()) {
        out.request_interval = Some(i);
    }
    out.failure_threshold = sent.failure_threshold.or(out.failure_threshold);
    out.health_threshold = sent.health_threshold.or(out.health_threshold);
    if let Some(children) = &sent.child_health_checks {
        out.child_health_checks = Some(children.items.clone());
    }
    out.enable_sni = sent.enable_sni.or(out.enable_sni);
    out.measure_latency = sent.measure_latency.unwrap_or(false);
    out.regions = sent.regions.as_ref().map(|r| r.items.clone());
    out
}

/// The regions Route 53 health checkers run in (HealthCheckRegion).
pub const CHECKER_REGIONS: [&str; 8] = [
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
];

/// Route 53's rule for Regions: 3 to 64 of [`CHECKER_REGIONS`], each once.
fn check_regions(regions: &Regions) -> Result<(), R53Error> {
    let items = &regions.items;
    let unknown = items
        .iter()
        .find(|r| !CHECKER_REGIONS.contains(&r.as_str()));
    let repeated = items
        .iter()
        .enumerate()
        .find(|(i, r)| items[..*i].contains(r));
    let problem = if let Some(r) = unknown {
        Some(format!("{r:?} is not a health-checker region"))
    } else if let Some((_, r)) = repeated {
        Some(format!("{r:?} is listed twice"))
    } else if !(3..=64).contains(&items.len()) {
        Some(format!("{} regions given, at least 3 needed", items.len()))
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(p) => Err(R53Error::invalid_input(format!(
            "Regions: {p}; choose at least 3 of {}",
            CHECKER_REGIONS.join(", ")
        ))),
    }
}

/// Route 53's rules for the fields of other check types: CloudWatch
/// alarms and recovery controls, which eightfold does not implement.
fn refuse_other_types(
    alarm: bool,
    insufficient_data: bool,
    routing_control: bool,
) -> Result<(), R53Error> {
    let field = [
        ("AlarmIdentifier", alarm, "CLOUDWATCH_METRIC"),
        (
            "InsufficientDataHealthStatus",
            insufficient_data,
            "CLOUDWATCH_METRIC",
        ),
        ("RoutingControlArn", routing_control, "RECOVERY_CONTROL"),
    ]
    .into_iter()
    .find(|(_, given, _)| *given);
    match field {
        None => Ok(()),
        Some((field, _, kind)) => Err(R53Error::invalid_input(format!(
            "{field} applies to {kind} health checks only, a type eightfold does not support; docs/route53.md lists the fields it implements"
        ))),
    }
}

/// Longest ResourcePath Route 53 takes, in characters.
pub const MAX_RESOURCE_PATH: usize = 255;
/// Most ChildHealthChecks a CALCULATED check can have in Route 53.
pub const MAX_CHILD_HEALTH_CHECKS: usize = 256;

/// Route 53's bounds on fields that eightfold's own schema allows wider
/// (any interval of 1 to 300 s, any path and number of children): a
/// check made through this API is one Route 53 would make too. `at` is
/// where the fields sit in the request (`healthCheckConfig.` in a
/// create, nothing in an update), as Route 53's validation names them.
fn check_route53_bounds(
    at: &str,
    interval: Option<i64>,
    path: Option<&str>,
    children: Option<&ChildHealthChecks>,
) -> Result<(), R53Error> {
    if let Some(i) = interval
        && i != 10
        && i != 30
    {
        return Err(R53Error::invalid_input(format!(
            "Invalid value for RequestInterval: {i}. Route 53 health checkers check every 10 or 30 seconds"
        )));
    }
    if let Some(p) = path
        && p.chars().count() > MAX_RESOURCE_PATH
    {
        return Err(R53Error::invalid_input(format!(
            "1 validation error detected: Value '{p}' at '{at}resourcePath' failed to satisfy constraint: Member must have length less than or equal to {MAX_RESOURCE_PATH}"
        )));
    }
    if let Some(c) = children
        && c.items.len() > MAX_CHILD_HEALTH_CHECKS
    {
        return Err(R53Error::invalid_input(format!(
            "1 validation error detected: Value of {} ids at '{at}childHealthChecks' failed to satisfy constraint: Member must have length less than or equal to {MAX_CHILD_HEALTH_CHECKS}",
            c.items.len()
        )));
    }
    Ok(())
}

/// The config a check keeps after an UpdateHealthCheck: `sent` (what
/// created or last updated it) with the update's fields and resets.
pub fn config_update(sent: &HealthCheckConfig, u: &UpdateHealthCheckRequest) -> HealthCheckConfig {
    let mut next = sent.clone();
    for element in u.reset_elements.iter().flat_map(|r| &r.items) {
        match element.as_str() {
            "FullyQualifiedDomainName" => next.fully_qualified_domain_name = None,
            "ResourcePath" => next.resource_path = None,
            "ChildHealthChecks" => next.child_health_checks = Some(ChildHealthChecks::default()),
            "Regions" => next.regions = None,
            _ => {}
        }
    }
    let set = |target: &mut Option<String>, given: &Option<String>| {
        if given.is_some() {
            target.clone_from(given);
        }
    };
    set(&mut next.ip_address, &u.ip_address);
    set(&mut next.resource_path, &u.resource_path);
    set(
        &mut next.fully_qualified_domain_name,
        &u.fully_qualified_domain_name,
    );
    set(&mut next.search_string, &u.search_string);
    next.port = u.port.or(next.port);
    next.failure_threshold = u.failure_threshold.or(next.failure_threshold);
    next.inverted = u.inverted.or(next.inverted);
    next.disabled = u.disabled.or(next.disabled);
    next.health_threshold = u.health_threshold.or(next.health_threshold);
    next.enable_sni = u.enable_sni.or(next.enable_sni);
    if u.child_health_checks.is_some() {
        next.child_health_checks.clone_from(&u.child_health_checks);
    }
    if u.regions.is_some() {
        next.regions.clone_from(&u.regions);
    }
    next
}

/// The fields a CALCULATED check has no use for, which Route 53 refuses.
fn refuse_unsupported_for_calculated(c: &HealthCheckConfig) -> Result<(), R53Error> {
    let given = [
        ("Regions", c.regions.is_some()),
        ("MeasureLatency", c.measure_latency == Some(true)),
    ]
    .into_iter()
    .find(|(_, given)| *given);
    match given {
        None => Ok(()),
        Some((field, _)) => Err(R53Error::invalid_input(format!(
            "{field} does not apply to CALCULATED health checks"
        ))),
    }
}

fn port(p: Option<i64>) -> Result<Option<u16>, R53Error> {
    p.map(|p| {
        u16::try_from(p)
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| R53Error::invalid_input(format!("Port {p} is not 1 to 65535")))
    })
    .transpose()
}

/// A new check from Route 53's HealthCheckConfig, under id `id`.
pub fn check_in(id: &str, c: &HealthCheckConfig) -> Result<HealthCheckInput, R53Error> {
    check_route53_bounds(
        "healthCheckConfig.",
        c.request_interval,
        c.resource_path.as_deref(),
        c.child_health_checks.as_ref(),
    )?;
    refuse_other_types(
        c.alarm_identifier.is_some(),
        c.insufficient_data_health_status.is_some(),
        c.routing_control_arn.is_some(),
    )?;
    if c.kind == "CALCULATED" {
        refuse_unsupported_for_calculated(c)?;
    }
    if let Some(regions) = &c.regions {
        check_regions(regions)?;
    }
    let (kind, str_match) = match c.kind.as_str() {
        "HTTP" => ("http", false),
        "HTTPS" => ("https", false),
        "HTTP_STR_MATCH" => ("http", true),
        "HTTPS_STR_MATCH" => ("https", true),
        "TCP" => ("tcp", false),
        "CALCULATED" => ("calculated", false),
        other => {
            return Err(R53Error::invalid_input(format!(
                "Type {other:?} is not supported; use HTTP, HTTPS, HTTP_STR_MATCH, HTTPS_STR_MATCH, TCP or CALCULATED"
            )));
        }
    };
    match (str_match, &c.search_string) {
        (true, None) => {
            return Err(R53Error::invalid_input(format!(
                "a {} health check needs a SearchString",
                c.kind
            )));
        }
        (false, Some(_)) => {
            return Err(R53Error::invalid_input(format!(
                "SearchString applies to HTTP_STR_MATCH and HTTPS_STR_MATCH checks, not {}",
                c.kind
            )));
        }
        _ => {}
    }
    let calculated = kind == "calculated";
    let (ip, fqdn, host) = match (&c.ip_address, &c.fully_qualified_domain_name) {
        (Some(ip), fqdn) => (Some(ip.clone()), None, fqdn.clone()),
        (None, fqdn) => (None, fqdn.clone(), None),
    };
    let https = kind == "https";
    let port = match port(c.port)? {
        Some(p) => Some(p),
        None if calculated || kind == "tcp" => None,
        None => Some(if https { 443 } else { 80 }),
    };
    Ok(HealthCheckInput {
        id: id.to_string(),
        kind: kind.to_string(),
        ip,
        fqdn,
        port,
        path: c.resource_path.clone(),
        host,
        // Route 53 keeps EnableSNI for any type; only https probes use it,
        // and eightfold's schema refuses it elsewhere.
        sni: if https { c.enable_sni } else { None },
        search: c.search_string.clone(),
        interval: (!calculated).then(|| {
            format!(
                "{}s",
                c.request_interval.unwrap_or(DEFAULT_REQUEST_INTERVAL)
            )
        }),
        failure_threshold: if calculated {
            c.failure_threshold
        } else {
            Some(
                c.failure_threshold
                    .unwrap_or(i64::from(crate::input::DEFAULT_FAILURE_THRESHOLD)),
            )
        },
        timeout: None,
        // Route 53 has no such setting: the server's applies.
        healthy_percent: None,
        invert: c.inverted.unwrap_or(false),
        disabled: c.disabled.unwrap_or(false),
        children: c.child_health_checks.as_ref().map(|l| l.items.clone()),
        healthy_threshold: c.health_threshold,
    })
}

/// `current` changed by an UpdateHealthCheck request: fields it gives
/// replace, ResetElements clear, the rest stays.
pub fn check_update(
    current: &HealthCheckInput,
    u: &UpdateHealthCheckRequest,
) -> Result<HealthCheckInput, R53Error> {
    // UpdateHealthCheck has no RequestInterval: Route 53 keeps it.
    check_route53_bounds(
        "",
        None,
        u.resource_path.as_deref(),
        u.child_health_checks.as_ref(),
    )?;
    refuse_other_types(
        u.alarm_identifier.is_some(),
        u.insufficient_data_health_status.is_some(),
        false,
    )?;
    if let Some(regions) = &u.regions {
        if current.kind == "calculated" {
            return Err(R53Error::invalid_input(
                "Regions does not apply to CALCULATED health checks",
            ));
        }
        check_regions(regions)?;
    }
    let mut next = current.clone();
    // The one endpoint name of eightfold's schema: `host` beside an
    // address, `fqdn` alone.
    let mut fqdn = if current.ip.is_some() {
        current.host.clone()
    } else {
        current.fqdn.clone()
    };
    for element in u.reset_elements.iter().flat_map(|r| &r.items) {
        match element.as_str() {
            "FullyQualifiedDomainName" => fqdn = None,
            "ResourcePath" => next.path = None,
            "ChildHealthChecks" => next.children = Some(Vec::new()),
            "Regions" => {}
            other => {
                return Err(R53Error::invalid_input(format!(
                    "ResetElements: {other:?} is not FullyQualifiedDomainName, Regions, ResourcePath or ChildHealthChecks"
                )));
            }
        }
    }
    if let Some(ip) = &u.ip_address {
        next.ip = Some(ip.clone());
    }
    if let Some(sni) = u.enable_sni
        && next.kind == "https"
    {
        next.sni = Some(sni);
    }
    if let Some(f) = &u.fully_qualified_domain_name {
        fqdn = Some(f.clone());
    }
    if next.ip.is_some() {
        next.host = fqdn;
        next.fqdn = None;
    } else {
        next.fqdn = fqdn;
    }
    if let Some(p) = port(u.port)? {
        next.port = Some(p);
    }
    if let Some(p) = &u.resource_path {
        next.path = Some(p.clone());
    }
    if let Some(s) = &u.search_string {
        if current.search.is_none() {
            return Err(R53Error::invalid_input(
                "SearchString applies to HTTP_STR_MATCH and HTTPS_STR_MATCH checks; the Type of a check cannot change",
            ));
        }
        next.search = Some(s.clone());
    }
    if let Some(t) = u.failure_threshold {
        next.failure_threshold = Some(t);
    }
    if let Some(b) = u.inverted {
        next.invert = b;
    }
    if let Some(b) = u.disabled {
        next.disabled = b;
    }
    if let Some(t) = u.health_threshold {
        next.healthy_threshold = Some(t);
    }
    if let Some(children) = &u.child_health_checks {
        next.children = Some(children.items.clone());
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `\\` before a character longer than a byte once sliced inside it
    /// (a panic from a query string such as `?name=%5C%C3%A9`).
    #[test]
    fn an_escaped_multibyte_character_is_kept_whole() {
        assert_eq!(from_route53_name("a\\\u{e9}b"), "a\\\u{e9}b.");
        assert_eq!(
            from_route53_name("\\\u{20ac}\\\u{20ac}"),
            "\\\u{20ac}\\\u{20ac}."
        );
        assert_eq!(from_route53_name("x\\"), "x\\.");
    }

    /// Bodies exactly as boto3 sends them.
    const CHANGE_BODY: &str = r#"<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Comment>c</Comment><Changes><Change><Action>UPSERT</Action><ResourceRecordSet><Name>\052.x.test</Name><Type>TXT</Type><SetIdentifier>a</SetIdentifier><Weight>5</Weight><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>"a &amp; b"</Value></ResourceRecord></ResourceRecords><HealthCheckId>h</HealthCheckId></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"#;
    const UPDATE_BODY: &str = r#"<UpdateHealthCheckRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><HealthCheckVersion>2</HealthCheckVersion><ResetElements><ResettableElementName>ResourcePath</ResettableElementName><ResettableElementName>ChildHealthChecks</ResettableElementName></ResetElements><ChildHealthChecks /></UpdateHealthCheckRequest>"#;

    #[test]
    fn values_are_listed_as_sent_or_with_their_names_made_absolute() {
        let json = RecordInput {
            name: "@".into(),
            rtype: "MX".into(),
            values: Some(vec!["10 mail".into(), "20 mx.other.test.".into()]),
            ..RecordInput::default()
        };
        assert_eq!(
            record_out(&json, "api.test.").values,
            ["10 mail.api.test.", "20 mx.other.test."]
        );
        let route53 = RecordInput {
            values: Some(vec!["10 mail.other.test".into()]),
            absolute_names: true,
            ..json.clone()
        };
        assert_eq!(
            record_out(&route53, "api.test.").values,
            ["10 mail.other.test"]
        );
        let txt = RecordInput {
            rtype: "TXT".into(),
            values: Some(vec!["\"a  b\"".into()]),
            ..json
        };
        assert_eq!(record_out(&txt, "api.test.").values, ["\"a  b\""]);
    }

    #[test]
    fn a_boto3_change_batch_becomes_a_service_change() {
        let req: ChangeResourceRecordSetsRequest =
            super::super::xml::parse(CHANGE_BODY.as_bytes()).unwrap();
        assert_eq!(req.change_batch.comment.as_deref(), Some("c"));
        let change = change_in(&req.change_batch.changes.items[0], "Z").unwrap();
        assert_eq!(change.action, Action::Upsert);
        assert_eq!(
            change.record,
            RecordInput {
                name: "*.x.test.".into(),
                rtype: "TXT".into(),
                ttl: Some(60),
                routing: Some("weighted".into()),
                set: Some("a".into()),
                value: Some("\"a & b\"".into()),
                values: None,
                health_check: Some("h".into()),
                failover: None,
                weight: Some(5),
                absolute_names: true,
                alias: None,
                evaluate_target_health: false,
                continent: None,
                country: None,
                subdivision: None,
            }
        );
        let out = record_out(&change.record, "x.test.");
        assert_eq!(out.name, "\\052.x.test.");
        assert_eq!(out.values, ["\"a & b\""]);
    }

    #[test]
    fn a_boto3_update_resets_and_keeps() {
        let req: UpdateHealthCheckRequest =
            super::super::xml::parse(UPDATE_BODY.as_bytes()).unwrap();
        assert_eq!(req.health_check_version, Some(2));
        let current = HealthCheckInput {
            id: "h".into(),
            kind: "http".into(),
            ip: Some("192.0.2.1".into()),
            host: Some("www.x.test".into()),
            path: Some("/health".into()),
            ..HealthCheckInput::default()
        };
        let next = check_update(&current, &req).unwrap();
        assert_eq!(next.path, None);
        assert_eq!(next.host.as_deref(), Some("www.x.test"));
        assert_eq!(next.children, Some(Vec::new()));
    }

    #[test]
    fn unsupported_fields_are_refused_by_name() {
        let body = CHANGE_BODY.replace(
            "<HealthCheckId>",
            "<Region>eu-west-1</Region><HealthCheckId>",
        );
        let req: ChangeResourceRecordSetsRequest =
            super::super::xml::parse(body.as_bytes()).unwrap();
        let e = change_in(&req.change_batch.changes.items[0], "Z").unwrap_err();
        assert_eq!(e.code, "InvalidInput");
        assert!(e.messages[0].starts_with("Region"), "{:?}", e.messages);
    }

    #[test]
    fn names_take_route53_form_and_back() {
        assert_eq!(route53_name("WWW.Example.test."), "www.example.test.");
        assert_eq!(route53_name("*.example.test."), "\\052.example.test.");
        assert_eq!(
            route53_name("a\\032b.example.test."),
            "a\\040b.example.test."
        );
        assert_eq!(from_route53_name("\\052.example.test"), "*.example.test.");
        assert_eq!(
            from_route53_name("a\\040b.example.test."),
            "a\\032b.example.test."
        );
        assert_eq!(
            route53_name(&from_route53_name("\\052.example.test.")),
            "\\052.example.test."
        );
    }

    #[test]
    fn order_is_by_reversed_labels_then_type_then_set() {
        let mut names = vec![
            ("www.example.test.", "A", ""),
            ("example.test.", "SOA", ""),
            ("example.test.", "NS", ""),
            ("a.www.example.test.", "A", ""),
            ("example-a.test.", "A", ""),
            ("www.example.test.", "A", "b"),
            ("www.example.test.", "A", "a"),
        ];
        names.sort_by(|a, b| compare(&order_key(a.0, a.1, a.2), &order_key(b.0, b.1, b.2)));
        assert_eq!(
            names,
            [
                ("example-a.test.", "A", ""),
                ("example.test.", "NS", ""),
                ("example.test.", "SOA", ""),
                ("www.example.test.", "A", ""),
                ("www.example.test.", "A", "a"),
                ("www.example.test.", "A", "b"),
                ("a.www.example.test.", "A", ""),
            ]
        );
    }

    #[test]
    fn a_check_round_trips_through_route53_shape() {
        let config = HealthCheckConfig {
            ip_address: Some("192.0.2.1".into()),
            port: Some(8443),
            kind: "HTTPS_STR_MATCH".into(),
            resource_path: Some("/health".into()),
            fully_qualified_domain_name: Some("www.example.test".into()),
            search_string: Some("OK".into()),
            request_interval: Some(10),
            failure_threshold: Some(2),
            enable_sni: Some(false),
            ..HealthCheckConfig::default()
        };
        let input = check_in("id", &config).unwrap();
        assert_eq!(input.host.as_deref(), Some("www.example.test"));
        let out = check_out(&input, config.enable_sni);
        assert_eq!(out.kind, "HTTPS_STR_MATCH");
        assert_eq!(out.ip_address.as_deref(), Some("192.0.2.1"));
        assert_eq!(out.port, Some(8443));
        assert_eq!(
            out.fully_qualified_domain_name.as_deref(),
            Some("www.example.test")
        );
        assert_eq!(out.request_interval, Some(10));
        assert_eq!(out.failure_threshold, Some(2));
        assert_eq!(out.enable_sni, Some(false));
        assert_eq!(input.sni, Some(false), "the probe sends no SNI");

        let on = UpdateHealthCheckRequest {
            enable_sni: Some(true),
            ..UpdateHealthCheckRequest::default()
        };
        let updated = check_update(&input, &on).unwrap();
        assert_eq!(updated.sni, Some(true));
        assert_eq!(check_out(&updated, None).enable_sni, Some(true));
        // Route 53 keeps EnableSNI on an HTTP check; it changes nothing there.
        let http = HealthCheckConfig {
            kind: "HTTP".into(),
            search_string: None,
            ..config
        };
        let input = check_in("id", &http).unwrap();
        assert_eq!(input.sni, None);
        assert_eq!(check_out(&input, Some(false)).enable_sni, Some(false));
    }
}
