//! The management service: the one place where zones, records and health
//! checks change, whoever asks (SIGHUP, the JSON API, the Route 53 layer).
//!
//! ```text
//!   request ─► validate (input, validate) ─► store (one transaction)
//!           ─► publish: new snapshot + health table, checker restarted
//! ```
//!
//! Every change is validated whole before anything is written, written in
//! one transaction, and only then published; a failure at any step leaves
//! both the database and the running answers as they were.
//!
//! Architecture invariant: knows nothing of HTTP. Methods are synchronous
//! (SQLite is); async callers run them on a blocking thread.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use domain::base::iana::Rtype;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, parse_absolute};
use crate::dns::handler::Published;
use crate::health::{
    CheckStatus, Checker, Listener, OnChange, Seed, SharedPolicy, TargetPolicy, Transition,
};
use crate::input::{FieldError, HealthCheckInput, RecordInput};
use crate::model::{
    CheckKind, DName, FailoverRole, HealthCheckSpec, MULTIVALUE_MAX_ANSWERS, Policy, RecordSpec,
    ZoneSpec,
};
use crate::routing::Standing;
use crate::snapshot::{Found, NameKey};
use crate::store::{HealthEvent, RecordWrite, Store, StoreError, StoredCheck, StoredZone};

/// Most changes one batch may carry (Route 53's limit).
pub const MAX_CHANGES_PER_BATCH: usize = 1000;
/// Most events one request returns.
pub const MAX_EVENTS: usize = 1000;

/// Why a request was refused; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is wrong (HTTP 400).
    #[error("{message}")]
    Invalid {
        /// Stable machine-readable code, e.g. `InvalidChangeBatch`.
        code: &'static str,
        /// What to fix.
        message: String,
        /// Every problem, one per change or field.
        details: Vec<String>,
    },
    /// No such object (HTTP 404).
    #[error("{message}")]
    NotFound {
        /// `NoSuchHostedZone` or `NoSuchHealthCheck`.
        code: &'static str,
        /// Which object.
        message: String,
    },
    /// The request conflicts with what exists (HTTP 409).
    #[error("{message}")]
    Conflict {
        /// Stable machine-readable code.
        code: &'static str,
        /// What conflicts and how to resolve it.
        message: String,
    },
    /// The database failed; nothing was changed (HTTP 500/503).
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl ServiceError {
    fn invalid(code: &'static str, details: Vec<String>) -> ServiceError {
        ServiceError::Invalid {
            code,
            message: details.join("; "),
            details,
        }
    }

    fn no_zone(name: &str) -> ServiceError {
        ServiceError::NotFound {
            code: "NoSuchHostedZone",
            message: format!("no zone {name}"),
        }
    }

    fn no_check(id: &str) -> ServiceError {
        ServiceError::NotFound {
            code: "NoSuchHealthCheck",
            message: format!("no health check {id:?}"),
        }
    }
}

/// What a change does (Route 53's actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Action {
    /// Add a record; fails if it exists.
    Create,
    /// Remove a record; fails unless it exists exactly as given.
    Delete,
    /// Add or replace a record.
    Upsert,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Delete => "delete",
            Action::Upsert => "upsert",
        }
    }
}

/// One change of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// What to do.
    pub action: Action,
    /// The record, in the TOML file's schema.
    pub record: RecordInput,
}

/// A change batch: applied whole or not at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeBatch {
    /// The changes, applied in order.
    pub changes: Vec<Change>,
    /// Free text, kept in the change info.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The outcome of an applied batch (Route 53's ChangeInfo).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeInfo {
    /// Change id, `C...`.
    pub id: String,
    /// Always `INSYNC`: the change is durable and live when we reply.
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
    /// `"file"` or `"api"`.
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
    /// Most recent results, oldest first.
    pub last_results: Vec<ResultInfo>,
    /// The last change, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_change: Option<EventInfo>,
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

fn word(healthy: bool) -> &'static str {
    if healthy { "healthy" } else { "unhealthy" }
}

fn rfc3339(t: SystemTime) -> String {
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

/// What DNS reads, and the checker that keeps its health table current.
struct Live {
    published: Arc<ArcSwap<Published>>,
    /// The checks the published health table is indexed by.
    check_specs: Vec<HealthCheckSpec>,
    /// Check ids by health-table index of the published snapshot.
    check_ids: Vec<String>,
    checker: Checker,
    checker_token: CancellationToken,
}

struct Inner {
    /// The file-managed part; replaced on SIGHUP.
    file: Config,
    file_path: Option<PathBuf>,
    /// API-managed zones, by lower-cased name.
    zones: Vec<StoredZone>,
    /// Their validated specs, by zone key: rebuilt only for the zone a
    /// change touches, so a batch costs what its zone costs.
    api_specs: HashMap<String, ZoneSpec>,
    /// API-managed health checks.
    checks: Vec<StoredCheck>,
    store: Store,
    /// Where checks may aim; the checker's probes read it too.
    targets: SharedPolicy,
    live: Live,
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

/// The management service. Cheap to share (`Arc`).
pub struct Service {
    inner: Mutex<Inner>,
    /// State changes per check since the start, for metrics.
    changes: Mutex<HashMap<String, u64>>,
    /// Snapshots published so far.
    generation: std::sync::atomic::AtomicU64,
    published: Arc<ArcSwap<Published>>,
    shutdown: CancellationToken,
    /// Cancelled once every health transition queued at shutdown is
    /// written.
    events_flushed: CancellationToken,
}

/// The lower-cased absolute text of a name: the key of zones and records.
fn key_text(name: &DName) -> String {
    name.fmt_with_dot().to_string().to_ascii_lowercase()
}

/// A stable pseudo-random hosted-zone id for a file-managed zone.
fn file_zone_id(name: &str) -> String {
    // FNV-1a: stable across runs and releases, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("ZF{}", base32(h, 13))
}

/// `n` upper-case base-32 characters of `v` (Route 53 ids use [A-Z0-9]).
fn base32(mut v: u64, n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    (0..n)
        .map(|_| {
            let c = ALPHABET[(v % 32) as usize] as char;
            v /= 32;
            c
        })
        .collect()
}

fn new_zone_id() -> String {
    format!("Z{}", base32(rand::rng().random(), 13))
}

/// What each check resumes from after a restart: its saved state and the
/// operator's saved override. A state is saved as published, so it seeds
/// the measured state too; the probes correct that within a threshold's
/// worth of results. An override whose check no longer exists is dropped.
fn saved_seeds(
    store: &mut Store,
    specs: &[HealthCheckSpec],
) -> Result<HashMap<String, Seed>, ServiceError> {
    let invert: HashMap<&str, bool> = specs.iter().map(|s| (s.id.as_str(), s.invert)).collect();
    let mut seeds: HashMap<String, Seed> = store
        .states()?
        .into_iter()
        .map(|(id, s)| {
            let seed = Seed {
                measured: s.healthy,
                forced: None,
                last_change: s.changed_at,
            };
            (id, seed)
        })
        .collect();
    for (id, forced) in store.overrides()? {
        let Some(&inverted) = invert.get(id.as_str()) else {
            tracing::info!(check = %id, "dropping the override of a check that no longer exists");
            store.set_override(&id, None)?;
            continue;
        };
        seeds
            .entry(id)
            .or_insert(Seed {
                measured: !inverted,
                forced: None,
                last_change: None,
            })
            .forced = Some(forced);
    }
    Ok(seeds)
}

/// The live checker and check `id`'s index in it.
fn checker_index(
    inner: &Inner,
    id: &str,
) -> Result<(Checker, crate::snapshot::HealthId), ServiceError> {
    let index = inner
        .live
        .check_ids
        .iter()
        .position(|c| c == id)
        .ok_or_else(|| ServiceError::no_check(id))?;
    Ok((
        inner.live.checker.clone(),
        index as crate::snapshot::HealthId,
    ))
}

fn new_change_id() -> String {
    format!("C{}", base32(rand::rng().random(), 13))
}

impl Service {
    /// As [`Service::start_guarding`], with no listeners of its own to
    /// keep checks away from (tests and tools that serve nothing).
    pub fn start(
        file: Config,
        file_path: Option<PathBuf>,
        store: Store,
        shutdown: CancellationToken,
    ) -> Result<Arc<Service>, ServiceError> {
        Service::start_guarding(file, file_path, store, shutdown, Vec::new())
    }

    /// Opens the store, merges its objects with the file-managed ones,
    /// publishes the first snapshot and starts the checker, resuming each
    /// check from its saved state. Checks may not aim at `listeners`,
    /// eightfold's own bound sockets, nor outside the file's
    /// `check_targets` (docs/security.md).
    pub fn start_guarding(
        file: Config,
        file_path: Option<PathBuf>,
        mut store: Store,
        shutdown: CancellationToken,
        listeners: Vec<Listener>,
    ) -> Result<Arc<Service>, ServiceError> {
        let targets: SharedPolicy = Arc::new(ArcSwap::from_pointee(TargetPolicy::new(
            file.check_targets.clone(),
            listeners,
        )));
        let file = without_origins(file);
        let zones = store.zones()?;
        let checks = store.checks()?;
        let problems = declared_problems(&file, &zones, &checks);
        if !problems.is_empty() {
            return Err(ServiceError::Invalid {
                code: "InvalidDeclarations",
                message: format!(
                    "the config file and the database disagree; fix the config file (or restore what it lost) and start again:\n  {}",
                    problems.join("\n  ")
                ),
                details: problems,
            });
        }
        let check_specs = merged_checks(&file, &checks);
        let seeds = saved_seeds(&mut store, &check_specs)?;
        let api_specs = api_zone_specs(&file, &zones, &checks);
        let zone_specs: Vec<ZoneSpec> = file
            .zones
            .iter()
            .chain(zones.iter().filter_map(|z| api_specs.get(&z.name)))
            .cloned()
            .collect();
        let first = crate::publish::publish_parts(&zone_specs, &check_specs);
        let published = Arc::new(ArcSwap::from_pointee(first));
        // Transitions are written by a task of their own: the checker must
        // never wait on the database.
        let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel::<HealthEvent>();
        let on_change: OnChange = Arc::new(move |check: &str, t: &Transition| {
            let _ = events_tx.send(HealthEvent {
                check: check.to_string(),
                at: t.at,
                old_healthy: t.old,
                new_healthy: t.new,
                reason: t.reason.clone(),
            });
        });
        let checker_token = shutdown.child_token();
        let checker = Checker::resume(
            check_specs.clone(),
            published.load().health.clone(),
            checker_token.clone(),
            &seeds,
            Some(on_change),
            targets.clone(),
        );
        let service = Arc::new(Service {
            inner: Mutex::new(Inner {
                file,
                file_path,
                zones,
                api_specs,
                checks,
                store,
                targets,
                live: Live {
                    published: published.clone(),
                    check_specs: check_specs.clone(),
                    check_ids: check_specs.iter().map(|c| c.id.clone()).collect(),
                    checker,
                    checker_token,
                },
            }),
            published,
            shutdown,
            changes: Mutex::new(HashMap::new()),
            generation: std::sync::atomic::AtomicU64::new(1),
            events_flushed: CancellationToken::new(),
        });
        let writer = service.clone();
        tokio::spawn(async move { writer.persist_events(events_rx).await });
        Ok(service)
    }

    /// Writes health transitions as they come. At shutdown, once the
    /// checker has stopped, it writes what is still queued and then says
    /// so ([`Service::events_flushed`]): a transition the checker saw is
    /// never lost to a clean stop.
    async fn persist_events(
        self: Arc<Self>,
        mut rx: tokio::sync::mpsc::UnboundedReceiver<HealthEvent>,
    ) {
        loop {
            tokio::select! {
                biased;
                event = rx.recv() => match event {
                    Some(event) => self.clone().persist_event(event).await,
                    None => break,
                },
                _ = self.shutdown.cancelled() => {
                    let checker = self.lock().live.checker.clone();
                    checker.stopped().await;
                    rx.close();
                    while let Some(event) = rx.recv().await {
                        self.clone().persist_event(event).await;
                    }
                    break;
                }
            }
        }
        self.events_flushed.cancel();
    }

    /// Waits until the health transitions queued at shutdown are written.
    pub async fn events_flushed(&self) {
        self.events_flushed.cancelled().await;
    }

    async fn persist_event(self: Arc<Self>, event: HealthEvent) {
        *self
            .changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(event.check.clone())
            .or_default() += 1;
        let service = self.clone();
        let result =
            tokio::task::spawn_blocking(move || service.lock().store.record_event(&event)).await;
        match result {
            Ok(Err(e)) => tracing::error!(error = %e, "cannot record a health event"),
            Err(e) => tracing::error!(error = %e, "health event writer failed"),
            Ok(Ok(())) => {}
        }
    }

    fn publish(&self, inner: &mut Inner) {
        inner.publish(&self.shutdown);
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Publishes a change to one API-managed zone (key `key`) alone: the
    /// other zones and the health table are shared with the current
    /// snapshot, so the cost is that zone's, not the whole data set's.
    fn publish_zone(&self, inner: &mut Inner, key: &str) {
        let current = inner.live.published.load_full();
        let ids: HashMap<&str, crate::snapshot::HealthId> = inner
            .live
            .check_specs
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.as_str(), i as crate::snapshot::HealthId))
            .collect();
        let snapshot = match inner.api_specs.get(key) {
            Some(spec) => current.snapshot.with_zone(
                spec,
                &|id| ids.get(id).copied(),
                crate::publish::soa_serial(),
            ),
            None => match DName::from_str(key) {
                Ok(apex) => current.snapshot.without_zone(&apex),
                Err(_) => return,
            },
        };
        inner.live.published.store(Arc::new(Published {
            snapshot,
            health: current.health.clone(),
        }));
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Health figures for `/metrics`.
    pub fn health_metrics(&self) -> HealthMetrics {
        let (ids, checker) = {
            let inner = self.lock();
            (inner.live.check_ids.clone(), inner.live.checker.clone())
        };
        let changes = self
            .changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let published = self.published.load();
        HealthMetrics {
            checks: ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    let (passed, failed) = checker.result_counts(i as crate::snapshot::HealthId);
                    (
                        id.clone(),
                        published.health.is_healthy(i as crate::snapshot::HealthId),
                        passed,
                        failed,
                        changes.get(id).copied().unwrap_or(0),
                    )
                })
                .collect(),
            local_faults: (0..ids.len())
                .map(|i| checker.local_faults(i as crate::snapshot::HealthId))
                .collect(),
            generation: self.generation.load(std::sync::atomic::Ordering::Relaxed),
            zones: published.snapshot.zone_count(),
        }
    }

    /// What the DNS listeners read.
    pub fn published(&self) -> Arc<ArcSwap<Published>> {
        self.published.clone()
    }

    /// Replaces the file-managed part (SIGHUP) and republishes.
    ///
    /// The new file is validated together with everything stored: a reload
    /// that would leave a zone with two owners, or stored records and
    /// checks that no longer validate, is refused whole, naming each
    /// problem, and the running configuration stays.
    pub fn reload_file(&self, file: Config) -> Result<(), Vec<String>> {
        let file = without_origins(file);
        let mut inner = self.lock();
        let problems = declared_problems(&file, &inner.zones, &inner.checks);
        if !problems.is_empty() {
            return Err(problems);
        }
        let targets = inner
            .targets
            .load()
            .with_allowed(file.check_targets.clone());
        inner.targets.store(Arc::new(targets));
        inner.file = file;
        inner.refresh_specs();
        self.publish(&mut inner);
        Ok(())
    }

    // ----- zones -----

    /// Every zone, file-managed first, then by name.
    pub fn zones(&self) -> Vec<ZoneInfo> {
        let inner = self.lock();
        let mut out: Vec<ZoneInfo> = inner
            .file
            .zones
            .iter()
            .map(|z| inner.file_zone_info(z))
            .collect();
        out.extend(inner.zones.iter().map(api_zone_info));
        out
    }

    /// One zone by name (with or without the trailing dot) or id.
    pub fn zone(&self, name_or_id: &str) -> Result<ZoneInfo, ServiceError> {
        let inner = self.lock();
        if let Some(z) = inner.find_file_zone(name_or_id) {
            return Ok(inner.file_zone_info(z));
        }
        inner
            .find_zone(name_or_id)
            .map(api_zone_info)
            .ok_or_else(|| ServiceError::no_zone(name_or_id))
    }

    /// Creates an empty zone.
    pub fn create_zone(
        &self,
        name: &str,
        comment: Option<String>,
        caller_reference: Option<String>,
    ) -> Result<ZoneInfo, ServiceError> {
        let apex = parse_absolute(name).map_err(|m| {
            ServiceError::invalid("InvalidDomainName", vec![format!("name {name:?}: {m}")])
        })?;
        let key = key_text(&apex);
        let mut inner = self.lock();
        if inner.find_file_zone(&key).is_some() {
            return Err(ServiceError::Conflict {
                code: "ConflictingDomainExists",
                message: format!(
                    "zone {key} is managed by the config file {}",
                    inner.file_name()
                ),
            });
        }
        if let Some(existing) = inner.find_zone(&key) {
            // Route 53: the same CallerReference means "the same request".
            if caller_reference.is_some() && existing.caller_reference == caller_reference {
                return Ok(api_zone_info(existing));
            }
            return Err(ServiceError::Conflict {
                code: "HostedZoneAlreadyExists",
                message: format!("zone {key} already exists"),
            });
        }
        let zone = StoredZone {
            name: key.clone(),
            display_name: format!("{apex}."),
            id: new_zone_id(),
            comment: comment.unwrap_or_default(),
            caller_reference,
            created_at: SystemTime::now(),
            records: Vec::new(),
        };
        inner.store.create_zone(&zone)?;
        let info = api_zone_info(&zone);
        inner.api_specs.insert(
            zone.name.clone(),
            ZoneSpec {
                name: apex,
                records: Vec::new(),
            },
        );
        let key = zone.name.clone();
        inner.zones.push(zone);
        self.publish_zone(&mut inner, &key);
        Ok(info)
    }

    /// Deletes an API-managed zone; it must hold no records (Route 53).
    pub fn delete_zone(&self, name_or_id: &str) -> Result<ZoneInfo, ServiceError> {
        let mut inner = self.lock();
        inner.refuse_file_zone(name_or_id)?;
        let zone = inner
            .find_zone(name_or_id)
            .ok_or_else(|| ServiceError::no_zone(name_or_id))?
            .clone();
        if !zone.records.is_empty() {
            return Err(ServiceError::Conflict {
                code: "HostedZoneNotEmpty",
                message: format!(
                    "zone {} still has {} records; delete them first",
                    zone.name,
                    zone.records.len()
                ),
            });
        }
        inner.store.delete_zone(&zone.name)?;
        inner.zones.retain(|z| z.name != zone.name);
        inner.api_specs.remove(&zone.name);
        self.publish_zone(&mut inner, &zone.name);
        Ok(api_zone_info(&zone))
    }

    /// Every record of a zone, in the TOML file's schema.
    pub fn records(&self, name_or_id: &str) -> Result<Vec<RecordInput>, ServiceError> {
        let inner = self.lock();
        if let Some(z) = inner.find_file_zone(name_or_id) {
            return Ok(z
                .records
                .iter()
                .map(|r| RecordInput::from_spec(r, &z.name))
                .collect());
        }
        inner
            .find_zone(name_or_id)
            .map(|z| z.records.clone())
            .ok_or_else(|| ServiceError::no_zone(name_or_id))
    }

    /// Applies a change batch to an API-managed zone: all or nothing,
    /// durable before it returns, live in DNS when it returns.
    pub fn apply(&self, name_or_id: &str, batch: ChangeBatch) -> Result<ChangeInfo, ServiceError> {
        let mut inner = self.lock();
        inner.refuse_file_zone(name_or_id)?;
        let zone = inner
            .find_zone(name_or_id)
            .ok_or_else(|| ServiceError::no_zone(name_or_id))?
            .clone();
        let apex = DName::from_str(&zone.name).expect("stored zone names parse");
        if batch.changes.is_empty() {
            return Err(ServiceError::invalid(
                "InvalidChangeBatch",
                vec!["the batch has no changes".into()],
            ));
        }
        if batch.changes.len() > MAX_CHANGES_PER_BATCH {
            return Err(ServiceError::invalid(
                "InvalidChangeBatch",
                vec![format!(
                    "the batch has {} changes; at most {MAX_CHANGES_PER_BATCH} are allowed",
                    batch.changes.len()
                )],
            ));
        }
        let known = inner.check_kinds();
        let check_exists = |id: &str| known.contains_key(id);
        // The zone as it would be, by record key: every record's spec is
        // computed once, whatever the size of the batch.
        let mut working: std::collections::BTreeMap<RecordKey, (RecordInput, RecordSpec)> = zone
            .records
            .iter()
            .filter_map(|r| {
                let spec = r.to_spec(&apex, &|_| true).ok()?;
                Some((record_key(&spec), (r.clone(), spec)))
            })
            .collect();
        let mut writes = Vec::new();
        let mut problems = Vec::new();
        for (i, change) in batch.changes.iter().enumerate() {
            let at = format!(
                "change {} ({} {})",
                i + 1,
                change.action.verb(),
                change.record.label()
            );
            let spec = match change.record.to_spec(&apex, &check_exists) {
                Ok(spec) => spec,
                Err(errors) => {
                    problems.extend(errors.iter().map(|e| field_problem(&at, e)));
                    continue;
                }
            };
            let key = record_key(&spec);
            let described = describe(&key);
            match (change.action, working.get(&key)) {
                (Action::Create, Some(_)) => problems.push(format!(
                    "{at}: Tried to create resource record set {described} but it already exists"
                )),
                (Action::Delete, None) => problems.push(format!(
                    "{at}: Tried to delete resource record set {described} but it was not found"
                )),
                (Action::Delete, Some((_, current))) => {
                    if same_record(current, &spec) {
                        working.remove(&key);
                        writes.push(RecordWrite::Delete { key });
                    } else {
                        problems.push(format!(
                            "{at}: Tried to delete resource record set {described} but the values provided do not match the current values"
                        ));
                    }
                }
                (Action::Create | Action::Upsert, _) => {
                    writes.push(RecordWrite::Put {
                        key: key.clone(),
                        record: Box::new(change.record.clone()),
                    });
                    working.insert(key, (change.record.clone(), spec));
                }
            }
        }
        let (records, specs): (Vec<RecordInput>, Vec<RecordSpec>) = working.into_values().unzip();
        let candidate = ZoneSpec {
            name: apex.clone(),
            records: specs,
        };
        if problems.is_empty() {
            // The group rules over the zone as it would be.
            problems.extend(
                crate::validate::zone(&candidate)
                    .into_iter()
                    .map(|p| p.message),
            );
        }
        if !problems.is_empty() {
            return Err(ServiceError::invalid("InvalidChangeBatch", problems));
        }
        inner.store.write_records(&zone.name, &writes)?;
        if let Some(z) = inner.zones.iter_mut().find(|z| z.name == zone.name) {
            z.records = records;
        }
        inner.api_specs.insert(zone.name.clone(), candidate);
        self.publish_zone(&mut inner, &zone.name);
        Ok(ChangeInfo {
            id: new_change_id(),
            status: "INSYNC",
            submitted_at: rfc3339(SystemTime::now()),
            comment: batch.comment,
        })
    }

    // ----- health checks -----

    /// Every health check, file-managed first.
    pub fn checks(&self) -> Vec<CheckInfo> {
        let inner = self.lock();
        let mut out: Vec<CheckInfo> = inner
            .file_check_inputs()
            .into_iter()
            .map(|input| CheckInfo {
                input,
                managed_by: "file",
                version: 1,
                caller_reference: None,
            })
            .collect();
        out.extend(inner.checks.iter().map(api_check_info));
        out
    }

    /// One health check.
    pub fn check(&self, id: &str) -> Result<CheckInfo, ServiceError> {
        self.checks()
            .into_iter()
            .find(|c| c.input.id == id)
            .ok_or_else(|| ServiceError::no_check(id))
    }

    /// Creates a health check. With a `caller_reference` seen before and
    /// the same settings, returns the existing check (Route 53's
    /// idempotency); with other settings, a conflict.
    pub fn create_check(
        &self,
        input: HealthCheckInput,
        caller_reference: Option<String>,
    ) -> Result<CheckInfo, ServiceError> {
        let mut inner = self.lock();
        if let Some(reference) = &caller_reference
            && let Some(existing) = inner
                .checks
                .iter()
                .find(|c| c.caller_reference.as_ref() == Some(reference))
        {
            let same = HealthCheckInput {
                id: existing.input.id.clone(),
                ..input.clone()
            } == existing.input;
            if same {
                return Ok(api_check_info(existing));
            }
            return Err(ServiceError::Conflict {
                code: "HealthCheckAlreadyExists",
                message: format!(
                    "caller reference {reference:?} was used for health check {:?} with other settings",
                    existing.input.id
                ),
            });
        }
        if inner.check_kinds().contains_key(&input.id) {
            return Err(ServiceError::Conflict {
                code: "HealthCheckAlreadyExists",
                message: format!("health check {:?} already exists", input.id),
            });
        }
        inner.validate_check(&input)?;
        let stored = StoredCheck {
            input,
            version: 1,
            caller_reference,
        };
        inner.store.put_check(&stored)?;
        let info = api_check_info(&stored);
        inner.checks.push(stored);
        self.publish(&mut inner);
        Ok(info)
    }

    /// Replaces an API-managed check. With `version`, fails unless it is
    /// the current one (Route 53's HealthCheckVersion).
    pub fn update_check(
        &self,
        id: &str,
        input: HealthCheckInput,
        version: Option<i64>,
    ) -> Result<CheckInfo, ServiceError> {
        let mut inner = self.lock();
        inner.refuse_file_check(id)?;
        let Some(index) = inner.checks.iter().position(|c| c.input.id == id) else {
            return Err(ServiceError::no_check(id));
        };
        if input.id != id {
            return Err(ServiceError::invalid(
                "InvalidInput",
                vec![format!(
                    "id: the body names {:?}, the path {id:?}; ids cannot change",
                    input.id
                )],
            ));
        }
        let current = inner.checks[index].version;
        if let Some(v) = version
            && v != current
        {
            return Err(ServiceError::Conflict {
                code: "HealthCheckVersionMismatch",
                message: format!("health check {id:?} is at version {current}, not {v}"),
            });
        }
        inner.validate_check(&input)?;
        let stored = StoredCheck {
            input,
            version: current + 1,
            caller_reference: inner.checks[index].caller_reference.clone(),
        };
        inner.store.put_check(&stored)?;
        let info = api_check_info(&stored);
        inner.checks[index] = stored;
        self.publish(&mut inner);
        Ok(info)
    }

    /// Deletes an API-managed check no record uses.
    pub fn delete_check(&self, id: &str) -> Result<(), ServiceError> {
        let mut inner = self.lock();
        inner.refuse_file_check(id)?;
        if !inner.checks.iter().any(|c| c.input.id == id) {
            return Err(ServiceError::no_check(id));
        }
        if let Some(user) = inner.check_users(id).first() {
            return Err(ServiceError::Conflict {
                code: "HealthCheckInUse",
                message: format!("health check {id:?} is used by {user}; change that record first"),
            });
        }
        if let Some(parent) = inner.calculated_parents(id).first() {
            return Err(ServiceError::Conflict {
                code: "HealthCheckInUse",
                message: format!(
                    "health check {id:?} is a child of calculated check {parent:?}; change that check first"
                ),
            });
        }
        inner.store.delete_check(id)?;
        inner.checks.retain(|c| c.input.id != id);
        self.publish(&mut inner);
        Ok(())
    }

    /// State, recent results and last change of a check.
    pub fn check_state(&self, id: &str) -> Result<CheckState, ServiceError> {
        let (checker, index) = self.checker_index(id)?;
        let status = checker
            .status(index)
            .ok_or_else(|| ServiceError::no_check(id))?;
        Ok(state_info(&status))
    }

    /// Forces a check healthy or unhealthy, or (`None`) releases it. The
    /// override is stored first, so it holds across restarts; when the
    /// store fails, nothing changes.
    pub fn set_override(&self, id: &str, forced: Option<bool>) -> Result<CheckState, ServiceError> {
        // Written and applied under one lock: two overrides of a check reach
        // the store and the checker in the same order, and no change swaps
        // the checker in between.
        let (checker, index) = {
            let mut inner = self.lock();
            let (checker, index) = checker_index(&inner, id)?;
            inner.store.set_override(id, forced)?;
            checker.set_override(index, forced);
            (checker, index)
        };
        let status = checker
            .status(index)
            .ok_or_else(|| ServiceError::no_check(id))?;
        Ok(state_info(&status))
    }

    fn checker_index(
        &self,
        id: &str,
    ) -> Result<(Checker, crate::snapshot::HealthId), ServiceError> {
        checker_index(&self.lock(), id)
    }

    /// Recorded state changes, oldest first.
    pub fn events(
        &self,
        check: Option<&str>,
        since: Option<SystemTime>,
        limit: Option<usize>,
    ) -> Result<Vec<EventInfo>, ServiceError> {
        let limit = limit.unwrap_or(MAX_EVENTS).min(MAX_EVENTS);
        let inner = self.lock();
        if let Some(id) = check
            && !inner.check_kinds().contains_key(id)
        {
            return Err(ServiceError::no_check(id));
        }
        Ok(inner
            .store
            .events(check, since, limit)?
            .iter()
            .map(EventInfo::from)
            .collect())
    }

    // ----- explained answers -----

    /// What DNS answers right now for `name` and `rtype`, and why.
    pub fn test_answer(&self, name: &str, rtype: &str) -> Result<TestAnswer, ServiceError> {
        let qname = parse_absolute(name).map_err(|m| {
            ServiceError::invalid("InvalidInput", vec![format!("name {name:?}: {m}")])
        })?;
        let qtype = crate::zonefile::parse_rtype(rtype).ok_or_else(|| {
            ServiceError::invalid(
                "InvalidInput",
                vec![format!("type: unknown record type {rtype:?}")],
            )
        })?;
        let check_ids = self.lock().live.check_ids.clone();
        let published = self.published.load();
        let (rcode, answer) = ask(&published, &qname, qtype);
        let mut out = TestAnswer {
            name: format!("{qname}."),
            rtype: qtype.to_string(),
            rcode,
            answer,
            routing: None,
            records: Vec::new(),
        };
        let key = NameKey::new(&qname);
        let Some((zone, apex)) = published.snapshot.find_zone(&key) else {
            return Ok(out);
        };
        let Found::Node { node, .. } = zone.find(&key, apex, qtype) else {
            return Ok(out);
        };
        let Some(set) = node.set(qtype) else {
            return Ok(out);
        };
        out.routing = Some(set.policy.as_str());
        let health = &published.health;
        let healthy: Vec<bool> = set
            .records
            .iter()
            .map(|r| r.health.is_none_or(|h| health.is_healthy(h)))
            .collect();
        let health_of = |h| health.is_healthy(h);
        let group = crate::routing::Group::of(set, &health_of);
        let candidates = set
            .records
            .iter()
            .enumerate()
            .filter(|(i, r)| group.standing(*i, r, healthy[*i]).eligible())
            .count();
        for (i, (r, &ok)) in set.records.iter().zip(&healthy).enumerate() {
            let standing = group.standing(i, r, ok);
            let eligible = standing.eligible();
            let why = explain(standing, r, set.policy, candidates);
            out.records.push(RecordExplanation {
                set: r.set.as_deref().map(String::from),
                values: r.values.iter().map(|v| v.to_string()).collect(),
                ttl: r.ttl.as_secs(),
                health_check: r.health.and_then(|h| check_ids.get(h as usize).cloned()),
                healthy: ok,
                eligible,
                why,
                weight: (set.policy == Policy::Weighted).then_some(r.weight),
                failover: r.failover.map(|f| match f {
                    FailoverRole::Primary => "primary",
                    FailoverRole::Secondary => "secondary",
                }),
            });
        }
        Ok(out)
    }
}

/// Why a record stands where it does, for people; `candidates` is how
/// many records of its group are eligible.
fn explain(
    standing: Standing,
    r: &crate::snapshot::Record,
    policy: Policy,
    candidates: usize,
) -> String {
    let detail = |base: &str| match policy {
        Policy::Weighted => format!("{base}, weight {}", r.weight),
        _ if candidates > MULTIVALUE_MAX_ANSWERS => format!(
            "{base}; one of {candidates} candidates, of which {MULTIVALUE_MAX_ANSWERS} are chosen at random for each query"
        ),
        _ => base.to_string(),
    };
    let primary = r.failover == Some(FailoverRole::Primary);
    match standing {
        Standing::Simple => "simple: every value is answered".into(),
        Standing::Healthy => detail("healthy"),
        Standing::FailOpen => {
            detail("unhealthy, but so is every record: answering from all (fail open)")
        }
        Standing::Unhealthy => "unhealthy".into(),
        Standing::WeightZero => {
            "weight 0: chosen only when every record of non-zero weight is unhealthy".into()
        }
        Standing::Active { healthy: true } if primary => "primary, healthy".into(),
        Standing::Active { healthy: false } if primary => {
            "primary, unhealthy, but no healthy secondary can take over".into()
        }
        Standing::Active { .. } => "secondary, answering because the primary is unhealthy".into(),
        Standing::Standby { .. } if primary => "primary, unhealthy".into(),
        Standing::Standby { .. } => "secondary, standing by while the primary answers".into(),
    }
}

/// Runs a query through the real handler and renders its answer section.
fn ask(published: &Published, qname: &DName, qtype: Rtype) -> (String, Vec<String>) {
    use domain::base::{Message, MessageBuilder};
    let mut query = MessageBuilder::new_vec().question();
    query.header_mut().set_id(1);
    if query.push((qname, qtype)).is_err() {
        return ("FORMERR".into(), Vec::new());
    }
    let query = query.finish();
    let mut out = Vec::new();
    let mut scratch = crate::dns::handler::Scratch::new();
    let Some(_) = crate::dns::handler::respond(
        published,
        &query,
        crate::dns::handler::Transport::Tcp,
        &mut out,
        &mut scratch,
    ) else {
        return ("NONE".into(), Vec::new());
    };
    let Ok(msg) = Message::from_octets(out.as_slice()) else {
        return ("SERVFAIL".into(), Vec::new());
    };
    let rcode = msg.opt_rcode().to_string();
    let mut answer = Vec::new();
    if let Ok(section) = msg.answer() {
        for record in section
            .limit_to::<domain::rdata::AllRecordData<_, _>>()
            .flatten()
        {
            answer.push(format!(
                "{}. {} IN {} {}",
                record.owner(),
                record.ttl().as_secs(),
                record.rtype(),
                record.data()
            ));
        }
    }
    (rcode, answer)
}

fn state_info(status: &CheckStatus) -> CheckState {
    CheckState {
        id: status.id.clone(),
        status: word(status.healthy),
        measured: word(status.measured),
        override_status: status.forced.map(word),
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
    }
}

fn field_problem(at: &str, e: &FieldError) -> String {
    match (e.field, e.index) {
        ("", _) => format!("{at}: {}", e.message),
        (field, Some(i)) => format!("{at}: field {field}[{i}]: {}", e.message),
        (field, None) => format!("{at}: field {field}: {}", e.message),
    }
}

/// The identity of a record in its zone: owner, type, set identifier.
type RecordKey = (String, String, String);

/// The key of `spec` (lower-cased owner, type, set or "").
fn record_key(spec: &RecordSpec) -> RecordKey {
    (
        key_text(&spec.owner),
        spec.rtype.to_string(),
        spec.set.clone().unwrap_or_default(),
    )
}

fn describe(key: &(String, String, String)) -> String {
    if key.2.is_empty() {
        format!("[name='{}', type='{}']", key.0, key.1)
    } else {
        format!(
            "[name='{}', type='{}', set_identifier='{}']",
            key.0, key.1, key.2
        )
    }
}

/// Same record data and routing (Route 53's DELETE must match exactly).
fn same_record(a: &RecordSpec, b: &RecordSpec) -> bool {
    a.ttl == b.ttl
        && a.policy == b.policy
        && a.values == b.values
        && a.health_check == b.health_check
        && a.failover == b.failover
        && a.weight == b.weight
}

fn api_zone_info(z: &StoredZone) -> ZoneInfo {
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

fn api_check_info(c: &StoredCheck) -> CheckInfo {
    CheckInfo {
        input: c.input.clone(),
        managed_by: "api",
        version: c.version,
        caller_reference: c.caller_reference.clone(),
    }
}

/// The config with its records' file positions dropped: they matter only
/// for `check`'s messages, and at a million records they weigh ~100 MiB.
fn without_origins(mut file: Config) -> Config {
    for zone in &mut file.zones {
        for record in &mut zone.records {
            record.origin = None;
        }
    }
    file
}

/// Every check id, with whether it is calculated.
fn kinds_of(file: &Config, checks: &[StoredCheck]) -> HashMap<String, bool> {
    file.health_checks
        .iter()
        .map(|c| (c.id.clone(), matches!(c.kind, CheckKind::Calculated { .. })))
        .chain(
            checks
                .iter()
                .map(|c| (c.input.id.clone(), c.input.kind == "calculated")),
        )
        .collect()
}

/// Everything wrong with the config file and the stored objects taken
/// together: the one check run at start, at every reload, and (through
/// the per-change rules it shares) on every API change. Empty when all is
/// well; nothing is ever skipped with only a warning.
fn declared_problems(file: &Config, zones: &[StoredZone], checks: &[StoredCheck]) -> Vec<String> {
    let mut problems = Vec::new();
    for z in &file.zones {
        let key = key_text(&z.name);
        if zones.iter().any(|s| s.name == key) {
            problems.push(format!(
                "zone {key} is in the config file and was created through the API; a zone has one owner: remove it from the config file, or delete it through the API first"
            ));
        }
    }
    for c in &file.health_checks {
        if checks.iter().any(|s| s.input.id == c.id) {
            problems.push(format!(
                "health check {:?} is in the config file and was created through the API; a check has one owner: rename or remove one of them",
                c.id
            ));
        }
    }
    let kinds = kinds_of(file, checks);
    for c in checks {
        if let Err(errors) = c.input.to_spec(&|id| kinds.get(id).copied()) {
            for e in errors {
                problems.push(format!(
                    "stored {}",
                    field_problem(&format!("health check {:?}", c.input.id), &e)
                ));
            }
        }
    }
    for z in zones {
        let Ok(apex) = DName::from_str(&z.name) else {
            problems.push(format!("stored zone {:?} has an unreadable name", z.name));
            continue;
        };
        for r in &z.records {
            if let Err(errors) = r.to_spec(&apex, &|id| kinds.contains_key(id)) {
                // The record's own messages start with its label already.
                let set = r
                    .set
                    .as_deref()
                    .map_or(String::new(), |s| format!(" (set {s:?})"));
                for e in errors {
                    problems.push(format!(
                        "zone {} (API){set}: {}; declare what it needs again, or change the record through the API",
                        z.name, e.message
                    ));
                }
            }
        }
    }
    problems
}

/// File checks, then the stored ones that still validate; a check's
/// health-table index is its position here.
fn merged_checks(file: &Config, checks: &[StoredCheck]) -> Vec<HealthCheckSpec> {
    let kinds = kinds_of(file, checks);
    let mut specs = file.health_checks.clone();
    for c in checks {
        match c.input.to_spec(&|id| kinds.get(id).copied()) {
            Ok(spec) => specs.push(spec),
            Err(e) => tracing::warn!(check = %c.input.id, "stored health check skipped: {e:?}"),
        }
    }
    specs
}

/// The spec of a stored zone: the records that still validate.
fn api_zone_spec(z: &StoredZone, kinds: &HashMap<String, bool>) -> Option<ZoneSpec> {
    let apex = DName::from_str(&z.name).ok()?;
    let records = z
        .records
        .iter()
        .filter_map(|r| match r.to_spec(&apex, &|id| kinds.contains_key(id)) {
            Ok(spec) => Some(spec),
            Err(e) => {
                tracing::warn!(zone = %z.name, record = %r.label(), "stored record skipped: {e:?}");
                None
            }
        })
        .collect();
    Some(ZoneSpec {
        name: apex,
        records,
    })
}

/// Specs of every stored zone, by zone key.
fn api_zone_specs(
    file: &Config,
    zones: &[StoredZone],
    checks: &[StoredCheck],
) -> HashMap<String, ZoneSpec> {
    let kinds = kinds_of(file, checks);
    zones
        .iter()
        .filter_map(|z| Some((z.name.clone(), api_zone_spec(z, &kinds)?)))
        .collect()
}

impl Inner {
    /// The config file as messages name it: its file name only, since
    /// an absolute path tells an API client about this machine's layout
    /// and helps nobody fix the request.
    fn file_name(&self) -> String {
        self.file_path
            .as_ref()
            .and_then(|p| p.file_name())
            .map_or_else(|| "(none)".into(), |n| n.to_string_lossy().into_owned())
    }

    fn find_file_zone(&self, name_or_id: &str) -> Option<&ZoneSpec> {
        let wanted = parse_absolute(name_or_id).ok().map(|n| key_text(&n));
        self.file.zones.iter().find(|z| {
            let key = key_text(&z.name);
            Some(&key) == wanted.as_ref() || file_zone_id(&key) == name_or_id
        })
    }

    fn find_zone(&self, name_or_id: &str) -> Option<&StoredZone> {
        let wanted = parse_absolute(name_or_id).ok().map(|n| key_text(&n));
        self.zones
            .iter()
            .find(|z| Some(&z.name) == wanted.as_ref() || z.id == name_or_id)
    }

    fn file_zone_info(&self, z: &ZoneSpec) -> ZoneInfo {
        let key = key_text(&z.name);
        ZoneInfo {
            name: format!("{}.", z.name),
            id: file_zone_id(&key),
            managed_by: "file",
            file: Some(self.file_name()),
            record_count: z.records.len(),
            comment: String::new(),
            caller_reference: None,
        }
    }

    fn refuse_file_zone(&self, name_or_id: &str) -> Result<(), ServiceError> {
        match self.find_file_zone(name_or_id) {
            Some(z) => Err(ServiceError::Conflict {
                code: "FileManaged",
                message: format!(
                    "zone {}. is managed by the config file {}; change it there and send SIGHUP",
                    z.name,
                    self.file_name()
                ),
            }),
            None => Ok(()),
        }
    }

    fn refuse_file_check(&self, id: &str) -> Result<(), ServiceError> {
        if self.file.health_checks.iter().any(|c| c.id == id) {
            return Err(ServiceError::Conflict {
                code: "FileManaged",
                message: format!(
                    "health check {id:?} is managed by the config file {}; change it there and send SIGHUP",
                    self.file_name()
                ),
            });
        }
        Ok(())
    }

    /// Every check id, with whether it is calculated.
    fn check_kinds(&self) -> HashMap<String, bool> {
        kinds_of(&self.file, &self.checks)
    }

    /// The calculated checks, file or API, that list `id` as a child.
    fn calculated_parents(&self, id: &str) -> Vec<String> {
        let file = self
            .file
            .health_checks
            .iter()
            .filter_map(|c| match &c.kind {
                CheckKind::Calculated { children, .. } if children.iter().any(|x| x == id) => {
                    Some(c.id.clone())
                }
                _ => None,
            });
        let api = self.checks.iter().filter_map(|c| {
            let listed = c.input.children.as_ref()?.iter().any(|x| x == id);
            (c.input.kind == "calculated" && listed).then(|| c.input.id.clone())
        });
        file.chain(api).collect()
    }

    fn validate_check(&self, input: &HealthCheckInput) -> Result<HealthCheckSpec, ServiceError> {
        if input.kind == "calculated"
            && let Some(parent) = self.calculated_parents(&input.id).first()
        {
            return Err(ServiceError::invalid(
                "InvalidInput",
                vec![format!(
                    "type: health check {:?} is a child of calculated check {parent:?}, and a calculated check's children cannot be calculated; change {parent:?} first",
                    input.id
                )],
            ));
        }
        let kinds = self.check_kinds();
        input
            .to_spec(&|id| kinds.get(id).copied())
            .map_err(|errors| {
                ServiceError::invalid(
                    "InvalidInput",
                    errors
                        .iter()
                        .map(|e| field_problem("health check", e))
                        .collect(),
                )
            })
            .and_then(|spec| self.check_target(spec))
    }

    /// Refuses a check aimed where checks may not aim (docs/security.md).
    fn check_target(&self, spec: HealthCheckSpec) -> Result<HealthCheckSpec, ServiceError> {
        crate::input::check_target(&spec, &self.targets.load()).map_err(|e| {
            ServiceError::invalid("InvalidInput", vec![field_problem("health check", &e)])
        })?;
        Ok(spec)
    }

    /// Records (by description) that use check `id`.
    fn check_users(&self, id: &str) -> Vec<String> {
        let mut users = Vec::new();
        for z in &self.file.zones {
            for r in &z.records {
                if r.health_check.as_deref() == Some(id) {
                    users.push(format!("{}. {} in zone {}.", r.owner, r.rtype, z.name));
                }
            }
        }
        for z in &self.zones {
            for r in &z.records {
                if r.health_check.as_deref() == Some(id) {
                    users.push(format!("{} in zone {}", r.label(), z.name));
                }
            }
        }
        users
    }

    fn file_check_inputs(&self) -> Vec<HealthCheckInput> {
        self.file.health_checks.iter().map(check_input_of).collect()
    }

    /// Builds and swaps in a new snapshot. When the health checks changed,
    /// a new health table and checker come with it (checks whose spec did
    /// not change keep their state); otherwise both carry on untouched.
    fn publish(&mut self, shutdown: &CancellationToken) {
        let checks = merged_checks(&self.file, &self.checks);
        let zones: Vec<ZoneSpec> = self
            .file
            .zones
            .iter()
            .chain(
                self.zones
                    .iter()
                    .filter_map(|z| self.api_specs.get(&z.name)),
            )
            .cloned()
            .collect();
        let mut next = crate::publish::publish_parts(&zones, &checks);
        if checks == self.live.check_specs {
            next.health = self.live.published.load().health.clone();
            self.live.published.store(Arc::new(next));
            return;
        }
        let token = shutdown.child_token();
        // The successor writes its table before the table is published.
        let checker = self
            .live
            .checker
            .restart(checks.clone(), next.health.clone(), token.clone());
        self.live.published.store(Arc::new(next));
        self.live.checker = checker;
        self.live.check_ids = checks.iter().map(|c| c.id.clone()).collect();
        self.live.check_specs = checks;
        std::mem::replace(&mut self.live.checker_token, token).cancel();
    }

    /// Recomputes every stored zone's spec (after the checks they may
    /// refer to changed under them, e.g. a file reload).
    fn refresh_specs(&mut self) {
        self.api_specs = api_zone_specs(&self.file, &self.zones, &self.checks);
    }
}

/// The input that describes a (file-managed) check spec.
fn check_input_of(c: &HealthCheckSpec) -> HealthCheckInput {
    let secs = |d: Duration| format!("{}s", d.as_secs());
    let (kind, children, threshold) = match &c.kind {
        CheckKind::Tcp => ("tcp", None, None),
        CheckKind::Http => ("http", None, None),
        CheckKind::Https => ("https", None, None),
        CheckKind::Calculated {
            children,
            healthy_threshold,
        } => (
            "calculated",
            Some(children.clone()),
            Some(i64::from(*healthy_threshold)),
        ),
    };
    let (ip, fqdn) = match &c.target {
        Some(crate::model::Target::Ip(ip)) => (Some(ip.to_string()), None),
        Some(crate::model::Target::Fqdn(f)) => (None, Some(f.clone())),
        None => (None, None),
    };
    HealthCheckInput {
        id: c.id.clone(),
        kind: kind.into(),
        ip,
        fqdn,
        port: Some(c.port),
        path: Some(c.path.clone()),
        host: c.host.clone(),
        sni: (!c.sni).then_some(false),
        search: c.search.clone(),
        interval: Some(secs(c.interval)),
        failure_threshold: Some(i64::from(c.failure_threshold)),
        timeout: Some(secs(c.timeout)),
        invert: c.invert,
        disabled: c.disabled,
        children,
        healthy_threshold: threshold,
    }
}

/// What only the Route 53 API keeps: settings eightfold's schema has no
/// field for, and the ids of applied changes (for GetChange).
impl Service {
    /// Route 53's EnableSNI by check id, for the checks whose current
    /// version it was set for (`None`: the request did not send it).
    pub fn route53_enable_sni(&self) -> Result<HashMap<String, Option<bool>>, ServiceError> {
        let inner = self.lock();
        let versions: HashMap<&str, i64> = inner
            .checks
            .iter()
            .map(|c| (c.input.id.as_str(), c.version))
            .collect();
        Ok(inner
            .store
            .route53_check_settings()?
            .into_iter()
            .filter(|(id, version, _)| versions.get(id.as_str()) == Some(version))
            .map(|(id, _, sni)| (id, sni))
            .collect())
    }

    /// Keeps Route 53's EnableSNI for version `version` of check `id`;
    /// `None` for `version` forgets the check's Route 53 settings.
    pub fn set_route53_enable_sni(
        &self,
        id: &str,
        version: Option<i64>,
        enable_sni: Option<bool>,
    ) -> Result<(), ServiceError> {
        let mut inner = self.lock();
        inner
            .store
            .put_route53_check_settings(id, version.map(|v| (v, enable_sni)))?;
        Ok(())
    }

    /// Remembers an applied change so that GetChange finds it.
    pub fn route53_record_change(&self, info: &ChangeInfo) -> Result<(), ServiceError> {
        let at =
            humantime::parse_rfc3339_weak(&info.submitted_at).unwrap_or_else(|_| SystemTime::now());
        self.lock()
            .store
            .put_route53_change(&info.id, at, info.comment.as_deref())?;
        Ok(())
    }

    /// A new, recorded change: Route 53 returns one for zone creation and
    /// deletion too.
    pub fn route53_new_change(&self, comment: Option<String>) -> Result<ChangeInfo, ServiceError> {
        let info = ChangeInfo {
            id: new_change_id(),
            status: "INSYNC",
            submitted_at: rfc3339(SystemTime::now()),
            comment,
        };
        self.route53_record_change(&info)?;
        Ok(info)
    }

    /// A change by id; every change is `INSYNC` once it has been answered.
    pub fn route53_change(&self, id: &str) -> Result<ChangeInfo, ServiceError> {
        let found = self.lock().store.route53_change(id)?;
        let (at, comment) = found.ok_or_else(|| ServiceError::NotFound {
            code: "NoSuchChange",
            message: format!("no change {id:?}"),
        })?;
        Ok(ChangeInfo {
            id: id.to_string(),
            status: "INSYNC",
            submitted_at: rfc3339(at),
            comment,
        })
    }
}

/// History retention (`[server] history_max_age`, `history_max_rows`).
impl Service {
    /// Deletes health events and Route 53 change records past the
    /// configured retention; the config file's current values apply.
    pub fn prune_history(&self) -> Result<crate::store::Pruned, ServiceError> {
        let mut inner = self.lock();
        let retention = inner.file.retention;
        Ok(inner.store.prune_history(SystemTime::now(), retention)?)
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

/// Bulk reads for the status page (`api::page`, issue 15): one lock for
/// every check or zone, where the per-object methods would take one each.
impl Service {
    /// State of every check, in health-table order. `check_state` per id
    /// would search the id list once per check.
    pub fn check_states(&self) -> Vec<CheckState> {
        let (ids, checker) = {
            let inner = self.lock();
            (inner.live.check_ids.clone(), inner.live.checker.clone())
        };
        (0..ids.len())
            .filter_map(|i| checker.status(i as crate::snapshot::HealthId))
            .map(|status| state_info(&status))
            .collect()
    }

    /// Every routed group (name and type with a policy other than simple)
    /// of every served zone, by zone, then name, then type.
    pub fn routed_names(&self) -> Vec<RoutedName> {
        let inner = self.lock();
        let zones = inner.file.zones.iter().chain(
            inner
                .zones
                .iter()
                .filter_map(|z| inner.api_specs.get(&z.name)),
        );
        let mut out = Vec::new();
        for zone in zones {
            let mut seen = std::collections::HashSet::new();
            for r in &zone.records {
                if r.policy == Policy::Simple || !seen.insert((key_text(&r.owner), r.rtype)) {
                    continue;
                }
                out.push(RoutedName {
                    zone: format!("{}.", zone.name),
                    name: format!("{}.", r.owner),
                    rtype: r.rtype.to_string(),
                    routing: r.policy.as_str(),
                });
            }
        }
        let key = |n: &RoutedName| (n.zone.to_ascii_lowercase(), n.name.to_ascii_lowercase());
        out.sort_by(|a, b| key(a).cmp(&key(b)).then_with(|| a.rtype.cmp(&b.rtype)));
        out
    }
}
