//! What the service returns: plain descriptions of zones, checks, states,
//! changes and explained answers, in the domain's own types (times as
//! `SystemTime`, states as `bool`, owners, statuses, policies and roles as
//! enums). How each API writes them (JSON, Route 53 XML, the status
//! page's HTML) is that API's business: `api::json`, `api::route53`,
//! `api::page`, with the spellings they share in `api::words`.

use std::time::SystemTime;

use domain::base::iana::Rtype;

use crate::health::CheckStatus;
use crate::health::vote::{Tally, Vote};
use crate::input::HealthCheckInput;
use crate::model::{FailoverRole, Policy};
use crate::store::{StoredCheck, StoredZone};

/// Who owns an object, and so where it is changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagedBy {
    /// The config file (zones, checks, TSIG keys): changed there, then
    /// SIGHUP.
    File,
    /// A file zone whose data comes from its primaries (zones only).
    Secondary,
    /// The API, kept in the store.
    Api,
}

/// Whether every live node serves a change yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeStatus {
    /// Another live node does not serve it yet (the change is durable).
    Pending,
    /// Every live node serves it (this one does when it replies).
    InSync,
}

/// The outcome of an applied batch (Route 53's ChangeInfo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeInfo {
    /// Change id, `C...`.
    pub id: String,
    /// Whether every live node answers it.
    pub status: ChangeStatus,
    /// When it was applied.
    pub submitted_at: SystemTime,
    /// The batch comment.
    pub comment: Option<String>,
}

/// A zone as the APIs show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneInfo {
    /// Absolute name with the trailing dot.
    pub name: String,
    /// Hosted zone id (`Z...`); file-managed zones get one derived from
    /// their name, stable across restarts.
    pub id: String,
    /// The config file, a secondary zone's primaries, or the API.
    pub managed_by: ManagedBy,
    /// The config file, for file-managed zones.
    pub file: Option<String>,
    /// Number of record groups (records for routed groups).
    pub record_count: usize,
    /// Free text.
    pub comment: String,
    /// Route 53 CallerReference.
    pub caller_reference: Option<String>,
}

/// A health check as the APIs show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckInfo {
    /// The check, in the TOML file's schema.
    pub input: HealthCheckInput,
    /// The config file or the API (never [`ManagedBy::Secondary`]).
    pub managed_by: ManagedBy,
    /// Route 53's HealthCheckVersion.
    pub version: i64,
    /// Route 53's CallerReference.
    pub caller_reference: Option<String>,
}

/// Why one record of a group was or was not eligible for the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordExplanation {
    /// Set identifier.
    pub set: Option<String>,
    /// The values, in master-file syntax.
    pub values: Vec<String>,
    /// TTL in seconds.
    pub ttl: u32,
    /// Health check id.
    pub health_check: Option<String>,
    /// Its health right now (true without a check).
    pub healthy: bool,
    /// Whether the routing policy could choose it for this query.
    pub eligible: bool,
    /// Why, in words.
    pub why: String,
    /// Weight, for weighted records.
    pub weight: Option<u8>,
    /// Role, for failover records.
    pub failover: Option<FailoverRole>,
}

/// What DNS answers now for a name and type, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestAnswer {
    /// The query name, absolute, with the trailing dot.
    pub name: String,
    /// The query type.
    pub rtype: Rtype,
    /// Response code, e.g. `NOERROR`.
    pub rcode: String,
    /// Answer records in master-file syntax.
    pub answer: Vec<String>,
    /// Routing policy of the group, when the name has one of this type.
    pub routing: Option<Policy>,
    /// Every record of the group, with its eligibility.
    pub records: Vec<RecordExplanation>,
}

/// The state, last results and last change of one check, as the checker
/// keeps them, with the cluster's votes on it.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckState {
    /// What the checker says: the state DNS follows, the measured state,
    /// the override, the streak, recent results (oldest first) and the
    /// last change.
    pub status: CheckStatus,
    /// Each node's latest observation, by node (this node's as it is
    /// now); empty for a check that is not probed.
    pub votes: Vec<VoteInfo>,
    /// What the votes decide (before invert and overrides); `None` for a
    /// check that is not probed.
    pub consensus: Option<ConsensusInfo>,
}

/// One node's latest observation of a check (its vote).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteInfo {
    /// The node, what it observes (threshold applied, before `invert`),
    /// why, and since when by its clock.
    pub vote: Vote,
    /// Whether the vote counts: its node beat within 3 heartbeats.
    pub live: bool,
    /// Its DNS address, as its heartbeat says; empty when unknown.
    pub address: String,
    /// The node that answers.
    pub this_node: bool,
}

/// The outcome of the vote on a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsensusInfo {
    /// The votes counted and the measured state they decide, before
    /// `invert` and overrides.
    pub tally: Tally,
    /// Healthy when more than this percentage of live votes are.
    pub healthy_percent: u8,
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

/// A check's state with no votes (the caller adds them for a probed
/// check).
pub(super) fn state_info(status: CheckStatus) -> CheckState {
    CheckState {
        status,
        votes: Vec::new(),
        consensus: None,
    }
}

pub(super) fn api_zone_info(z: &StoredZone) -> ZoneInfo {
    ZoneInfo {
        name: z.display_name.clone(),
        id: z.id.clone(),
        managed_by: ManagedBy::Api,
        file: None,
        record_count: z.records.len(),
        comment: z.comment.clone(),
        caller_reference: z.caller_reference.clone(),
    }
}

pub(super) fn api_check_info(c: &StoredCheck) -> CheckInfo {
    CheckInfo {
        input: c.input.clone(),
        managed_by: ManagedBy::Api,
        version: c.version,
        caller_reference: c.caller_reference.clone(),
    }
}

/// One routed name and type: a group whose policy is not simple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedName {
    /// The zone, with the trailing dot.
    pub zone: String,
    /// The owner name, absolute, with the trailing dot.
    pub name: String,
    /// The record type.
    pub rtype: Rtype,
    /// Any policy but simple.
    pub routing: Policy,
}
