//! What the service returns: plain, serializable descriptions of zones,
//! checks, states, events and explained answers, and their conversions.

use std::time::SystemTime;

use serde::Serialize;

use crate::health::CheckStatus;
use crate::input::HealthCheckInput;
use crate::store::{HealthEvent, StoredCheck, StoredZone};

/// The outcome of an applied batch (Route 53's ChangeInfo).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeInfo {
    /// Change id, `C...`.
    pub id: String,
    /// `INSYNC` when every live node answers it (this one does when we
    /// reply; the change is durable), `PENDING` while another lags.
    pub status: &'static str,
    /// When it was applied, RFC 3339.
    pub submitted_at: String,
    /// The batch comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A zone as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZoneInfo {
    /// Absolute name with the trailing dot.
    pub name: String,
    /// Hosted zone id (`Z...`); file-managed zones get one derived from
    /// their name, stable across restarts.
    pub id: String,
    /// `"file"`, `"secondary"` (a file zone taken from its primaries) or
    /// `"api"`.
    pub managed_by: &'static str,
    /// The config file, for file-managed zones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Number of record groups (records for routed groups).
    pub record_count: usize,
    /// Free text.
    pub comment: String,
    /// Route 53 CallerReference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_reference: Option<String>,
}

/// A health check as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckInfo {
    /// The check, in the TOML file's schema.
    #[serde(flatten)]
    pub input: HealthCheckInput,
    /// `"file"` or `"api"`.
    pub managed_by: &'static str,
    /// Route 53's HealthCheckVersion.
    pub version: i64,
    /// Route 53's CallerReference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_reference: Option<String>,
}

/// Why one record of a group was or was not eligible for the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordExplanation {
    /// Set identifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set: Option<String>,
    /// The values, in master-file syntax.
    pub values: Vec<String>,
    /// TTL in seconds.
    pub ttl: u32,
    /// Health check id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<String>,
    /// Its health right now (true without a check).
    pub healthy: bool,
    /// Whether the routing policy could choose it for this query.
    pub eligible: bool,
    /// Why, in words.
    pub why: String,
    /// Weight, for weighted records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u8>,
    /// `primary`/`secondary`, for failover records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover: Option<&'static str>,
}

/// What DNS answers now for a name and type, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestAnswer {
    /// The query name.
    pub name: String,
    /// The query type.
    #[serde(rename = "type")]
    pub rtype: String,
    /// Response code, e.g. `NOERROR`.
    pub rcode: String,
    /// Answer records in master-file syntax.
    pub answer: Vec<String>,
    /// Routing policy of the group, when the name has one of this type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing: Option<&'static str>,
    /// Every record of the group, with its eligibility.
    pub records: Vec<RecordExplanation>,
}

/// The last results and state of one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckState {
    /// Check id.
    pub id: String,
    /// `"healthy"` or `"unhealthy"`: what DNS follows.
    pub status: &'static str,
    /// What the probes alone say.
    pub measured: &'static str,
    /// The operator's override, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_status: Option<&'static str>,
    /// Consecutive probe results so far that disagree with `measured`; at
    /// the check's failure threshold, the state changes.
    pub streak: u8,
    /// Most recent results, oldest first.
    pub last_results: Vec<ResultInfo>,
    /// The last change, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_change: Option<EventInfo>,
    /// Each node's latest observation, by node (this node's as it is
    /// now); empty for a check that is not probed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub votes: Vec<VoteInfo>,
    /// What the votes decide (before invert and overrides).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consensus: Option<ConsensusInfo>,
}

/// One node's latest observation of a check (its vote).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VoteInfo {
    /// The node.
    pub node: String,
    /// Its DNS address, as its heartbeat says; empty when unknown.
    pub address: String,
    /// Whether it observes the endpoint healthy (threshold applied,
    /// before `invert`).
    pub healthy: bool,
    /// Why, as its probes said.
    pub reason: String,
    /// When its observation last changed, RFC 3339, its clock.
    pub at: String,
    /// Whether the vote counts: its node beat within 3 heartbeats.
    pub live: bool,
    /// The node that answers.
    pub this_node: bool,
}

/// The outcome of the vote on a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsensusInfo {
    /// `"healthy"` or `"unhealthy"`, before `invert` and overrides.
    pub measured: &'static str,
    /// Live votes that say healthy.
    pub healthy_votes: usize,
    /// Live votes counted.
    pub live_votes: usize,
    /// Healthy when more than this percentage of live votes are.
    pub healthy_percent: u8,
    /// The same in words ("2 of 3 nodes healthy, more than 18 % needed").
    pub summary: String,
}

/// One probe result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResultInfo {
    /// When the probe started, RFC 3339.
    pub at: String,
    /// Whether the endpoint passed (before `invert`).
    pub healthy: bool,
    /// Why.
    pub reason: String,
    /// How long the probe took, in milliseconds.
    pub latency_ms: f64,
    /// The probe failed through this machine's fault and was not counted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub local_fault: bool,
}

/// One state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventInfo {
    /// Check id.
    pub check: String,
    /// When, RFC 3339.
    pub at: String,
    /// State before.
    pub old: &'static str,
    /// State after.
    pub new: &'static str,
    /// Why.
    pub reason: String,
}

pub(super) fn word(healthy: bool) -> &'static str {
    if healthy { "healthy" } else { "unhealthy" }
}

pub(super) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

impl From<&HealthEvent> for EventInfo {
    fn from(e: &HealthEvent) -> Self {
        EventInfo {
            check: e.check.clone(),
            at: rfc3339(e.at),
            old: word(e.old_healthy),
            new: word(e.new_healthy),
            reason: e.reason.clone(),
        }
    }
}

/// Health figures for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct HealthMetrics {
    /// Per check: id, healthy now, probes passed, probes failed, state
    /// changes recorded since the start.
    pub checks: Vec<(String, bool, u64, u64, u64)>,
    /// Per check, in the order of `checks`: probes that failed through a
    /// local fault, counted apart from failures.
    pub local_faults: Vec<u64>,
    /// Snapshots published since the start (1 is the first).
    pub generation: u64,
    /// Zones served.
    pub zones: usize,
}

pub(super) fn state_info(status: &CheckStatus) -> CheckState {
    CheckState {
        id: status.id.clone(),
        status: word(status.healthy),
        measured: word(status.measured),
        override_status: status.forced.map(word),
        streak: status.streak,
        last_results: status
            .last_results
            .iter()
            .map(|r| ResultInfo {
                at: rfc3339(r.at),
                healthy: r.healthy,
                reason: r.reason.clone(),
                latency_ms: r.latency.as_secs_f64() * 1000.0,
                local_fault: r.local,
            })
            .collect(),
        last_change: status.last_change.as_ref().map(|t| EventInfo {
            check: status.id.clone(),
            at: rfc3339(t.at),
            old: word(t.old),
            new: word(t.new),
            reason: t.reason.clone(),
        }),
        votes: Vec::new(),
        consensus: None,
    }
}

pub(super) fn api_zone_info(z: &StoredZone) -> ZoneInfo {
    ZoneInfo {
        name: z.display_name.clone(),
        id: z.id.clone(),
        managed_by: "api",
        file: None,
        record_count: z.records.len(),
        comment: z.comment.clone(),
        caller_reference: z.caller_reference.clone(),
    }
}

pub(super) fn api_check_info(c: &StoredCheck) -> CheckInfo {
    CheckInfo {
        input: c.input.clone(),
        managed_by: "api",
        version: c.version,
        caller_reference: c.caller_reference.clone(),
    }
}

/// One routed name and type: a group whose policy is not simple.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoutedName {
    /// The zone, with the trailing dot.
    pub zone: String,
    /// The owner name, absolute, with the trailing dot.
    pub name: String,
    /// The record type, e.g. `A`.
    #[serde(rename = "type")]
    pub rtype: String,
    /// `multivalue`, `failover` or `weighted`.
    pub routing: &'static str,
}
