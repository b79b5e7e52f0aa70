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
//!
//! One file per use case: `zones` (zones and change batches), `checks`
//! (health checks, states, overrides), `history` (events and retention),
//! `explain` (what DNS answers and why), `route53` (what only that API
//! keeps), `declarations` (file and store validated together); `views`
//! holds what the service returns, `error` why it refuses, `ids` the
//! object ids. This file holds the state and its publication.

mod checks;
mod declarations;
mod error;
mod explain;
mod history;
mod ids;
mod route53;
mod views;
mod zones;

pub use error::ServiceError;
pub use views::{
    ChangeInfo, CheckInfo, CheckState, EventInfo, HealthMetrics, RecordExplanation, ResultInfo,
    RoutedName, TestAnswer, ZoneInfo,
};
pub use zones::{Action, Change, ChangeBatch};

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::dns::handler::Published;
use crate::health::{Checker, Listener, OnChange, Seed, SharedPolicy, TargetPolicy, Transition};
use crate::model::{DName, HealthCheckSpec, ZoneSpec};
use crate::store::{HealthEvent, Store, StoredCheck, StoredZone};
use declarations::{api_zone_specs, declared_problems, merged_checks, without_origins};

/// Most changes one batch may carry (Route 53's limit).
pub const MAX_CHANGES_PER_BATCH: usize = 1000;
/// Most events one request returns.
pub const MAX_EVENTS: usize = 1000;

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
    /// The store version the published snapshot holds (docs/api.md#nodes).
    served_version: std::sync::atomic::AtomicI64,
    /// This node, and the others it last heard of.
    cluster: Arc<crate::cluster::Registry>,
}

/// The lower-cased absolute text of a name: the key of zones and records.
fn key_text(name: &DName) -> String {
    name.fmt_with_dot().to_string().to_ascii_lowercase()
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
        let cluster = Arc::new(crate::cluster::Registry::new(crate::cluster::Identity {
            name: file.node.clone(),
            address: listeners
                .iter()
                .find(|l| l.role == crate::health::Role::Dns)
                .map(|l| l.addr),
            api: listeners
                .iter()
                .find(|l| l.role == crate::health::Role::Api)
                .map(|l| l.addr),
            started_at: std::time::SystemTime::now(),
        }));
        let targets: SharedPolicy = Arc::new(ArcSwap::from_pointee(TargetPolicy::new(
            file.check_targets.clone(),
            listeners,
        )));
        let file = without_origins(file);
        // Read before the objects: a write in between makes this node
        // claim less than it serves, never more.
        let version = store.version()?;
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
            served_version: std::sync::atomic::AtomicI64::new(version),
            cluster,
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

    /// Notes a write of this node's that made store version `version`: it
    /// is served when it directly follows what this node served. When not,
    /// another node wrote in between, and this node does not serve that
    /// write yet.
    fn wrote(&self, version: i64) {
        let _ = self.served_version.compare_exchange(
            version - 1,
            version,
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
        );
    }

    /// The store, set to take the next write only on top of the version
    /// this node serves: the version its validation saw.
    fn store_on_top<'a>(&self, inner: &'a mut Inner) -> &'a mut Store {
        inner.store.expect_version(self.served_version());
        &mut inner.store
    }

    /// The store version the published snapshot holds: every write to the
    /// store up to this one is answered by DNS.
    pub fn served_version(&self) -> i64 {
        self.served_version
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// This node and the others of its store (docs/api.md#nodes).
    pub fn cluster(&self) -> Arc<crate::cluster::Registry> {
        self.cluster.clone()
    }

    /// `INSYNC` when every live node serves store version `version` (as
    /// their last heartbeats say; this node as it is now), else `PENDING`.
    pub fn change_status(&self, version: i64) -> &'static str {
        if crate::cluster::in_sync(&self.nodes(), version) {
            "INSYNC"
        } else {
            "PENDING"
        }
    }

    /// Every node known, this one among them.
    pub fn nodes(&self) -> Vec<crate::cluster::NodeStatus> {
        self.cluster
            .nodes(self.served_version(), std::time::SystemTime::now())
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
}

impl crate::cluster::Follower for Service {
    fn served(&self) -> i64 {
        self.served_version()
    }

    fn catch_up(&self) -> Result<i64, String> {
        Service::catch_up(self).map_err(|e| e.to_string())
    }
}

impl Service {
    /// Serves what other nodes wrote: when the store holds a newer version
    /// than this node serves, reads the API-managed zones, checks and
    /// overrides again and publishes them. Returns the version served.
    ///
    /// What the store holds was validated by the node that wrote it; if
    /// it no longer validates together with this node's config file (two
    /// nodes with different files), this node keeps serving what it has
    /// and says why, as a reload would.
    pub fn catch_up(&self) -> Result<i64, ServiceError> {
        let mut inner = self.lock();
        let version = inner.store.version()?;
        if version <= self.served_version() {
            return Ok(self.served_version());
        }
        // Version first: a write in between makes this node claim less
        // than it serves, never more.
        let zones = inner.store.zones()?;
        let checks = inner.store.checks()?;
        let overrides: HashMap<String, bool> = inner.store.overrides()?.into_iter().collect();
        let problems = declared_problems(&inner.file, &zones, &checks);
        if !problems.is_empty() {
            tracing::error!(
                version,
                "cannot serve what the store holds with this node's config file; serving what it had:\n  {}",
                problems.join("\n  ")
            );
            return Ok(self.served_version());
        }
        inner.zones = zones;
        inner.checks = checks;
        inner.refresh_specs();
        self.publish(&mut inner);
        let checker = inner.live.checker.clone();
        for (index, id) in inner.live.check_ids.iter().enumerate() {
            let index = index as crate::snapshot::HealthId;
            let wanted = overrides.get(id).copied();
            if checker.status(index).is_some_and(|s| s.forced != wanted) {
                checker.set_override(index, wanted);
            }
        }
        self.served_version
            .fetch_max(version, std::sync::atomic::Ordering::SeqCst);
        tracing::info!(version, "serving the store's changes from other nodes");
        Ok(version)
    }
}

impl Inner {
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
