//! The management service: the one place where zones, records and health
//! checks change, whoever asks (SIGHUP, the JSON API, the Route 53 layer).
//!
//! ```text
//!   request ─► validate (input, validate) ─► store (one transaction)
//!           ─► publish: the zones it changed into a new snapshot;
//!                        the checks it changed into the running checker
//! ```
//!
//! Every change is validated whole before anything is written, written in
//! one transaction, and only then published; a failure at any step leaves
//! both the database and the running answers as they were.
//!
//! Architecture invariant: knows nothing of HTTP, nor of any wire format
//! (no `serde` here): it takes and returns domain types, and each API
//! writes them its own way. Methods are synchronous (SQLite is); async
//! callers run them on a blocking thread.
//!
//! One file per use case: `zones` (zones and change batches), `checks`
//! (health checks, states, overrides), `history` (events and retention),
//! `explain` (what DNS answers and why), `route53` (what only that API
//! keeps), `declarations` (file and store validated together); `views`
//! holds what the service returns (in domain types), `error` why it
//! refuses, `ids` the object ids. This file holds the state and its
//! publication.

mod checks;
mod declarations;
mod error;
mod explain;
mod history;
mod ids;
mod keys;
mod recording;
mod route53;
mod secondaries;
mod transfers;
mod views;
mod zone_transfers;
mod zones;

pub use error::ServiceError;
pub use keys::KeyInfo;
pub use route53::TagResource;
pub use views::{
    ChangeInfo, ChangeStatus, CheckInfo, CheckState, ConsensusInfo, HealthMetrics, ManagedBy,
    RecordExplanation, RoutedName, TestAnswer, VoteInfo, ZoneInfo,
};
pub use zone_transfers::{TransfersSource, ZoneTransfers};
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
use crate::nameservers::NameServers;
use crate::store::{HealthEvent, HistoryReader, Store, StoredCheck, StoredZone};
use declarations::{api_zone_specs, declared_problems, merged_checks, prepared};

/// Most changes one batch may carry (Route 53's limit).
pub const MAX_CHANGES_PER_BATCH: usize = 1000;
/// Most events one request returns.
pub const MAX_EVENTS: usize = 1000;

/// What DNS reads, and the checker that keeps its health table current.
struct Live {
    published: Arc<ArcSwap<Published>>,
    /// Runs for the life of the service; every check keeps its slot in its
    /// table (the published one) while it exists.
    checker: Checker,
}

struct Inner {
    /// The file-managed part; replaced on SIGHUP. Its zones' records are
    /// dropped once built into a snapshot (`file_built`): the snapshot is
    /// then their only copy (`Zone::declared_records`).
    file: Config,
    /// Whether `file`'s zones are built (and their records dropped);
    /// false from a reload until the next publication.
    file_built: bool,
    /// How many records each file zone declared, by zone key.
    file_counts: HashMap<Box<[u8]>, usize>,
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
    /// Each zone's SOA serial and the content it stands for.
    serials: crate::xfr::serial::SerialBook,
    /// Which secondary zones have current data.
    transferred: secondaries::Transferred,
    /// TSIG keys made through the API.
    keys: Vec<keys::ApiKey>,
    /// The DNS addresses this node answers on (for the default name
    /// server's address).
    dns_addrs: Vec<std::net::SocketAddr>,
    /// The name servers of zones that declare none.
    nameservers: NameServers,
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
    /// History reads, off the lock (`None` for an in-memory store: they
    /// go through the store, under the lock).
    history: Option<HistoryReader>,
    /// The store version the published snapshot holds (docs/api.md#nodes).
    served_version: std::sync::atomic::AtomicI64,
    /// This node, and the others it last heard of.
    cluster: Arc<crate::cluster::Registry>,
    /// The health vote, on a shared store; `None`: this node decides alone.
    ballot: Option<Arc<crate::cluster::votes::Ballot>>,
    /// Has the vote's publisher write this node's last observations at
    /// shutdown (with a ballot).
    votes_flush: crate::cluster::votes::Flush,
}

/// The lower-cased absolute text of a name: the key of zones and records.
fn key_text(name: &DName) -> String {
    name.fmt_with_dot().to_string().to_ascii_lowercase()
}

/// What each check resumes from after a restart: its saved state and the
/// operator's saved override. A state is saved as published, so it seeds
/// the measured state too; the probes correct that within a threshold's
/// worth of results. On a shared store, `node`'s own published
/// observations seed its observations (the saved state is the cluster's),
/// unless older than the state's last change.
/// An override whose check no longer exists is dropped.
fn saved_seeds(
    store: &mut Store,
    specs: &[HealthCheckSpec],
    node: Option<&str>,
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
                observed: None,
            };
            (id, seed)
        })
        .collect();
    if let Some(node) = node {
        for o in store.observations()?.into_iter().filter(|o| o.node == node) {
            let Some(&inverted) = invert.get(o.check.as_str()) else {
                continue;
            };
            // Older than the check's last transition, it may have been
            // followed by one that never reached the store (a process
            // killed between the two writes): seeded from the state
            // instead, a restart agrees with the vote rather than move it.
            let stale = seeds
                .get(&o.check)
                .and_then(|s| s.last_change)
                .is_some_and(|changed| o.at < changed);
            if stale {
                continue;
            }
            seeds
                .entry(o.check)
                .or_insert(Seed {
                    measured: !inverted,
                    forced: None,
                    last_change: None,
                    observed: None,
                })
                .observed = Some(o.healthy);
        }
    }
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
                observed: None,
            })
            .forced = Some(forced);
    }
    Ok(seeds)
}

/// Builds the file zones but those to `skip` (by key) into `snapshot`, on every core, dropping each
/// zone's records as soon as it is built, so that at no point are a
/// million records held twice; returns how many records each zone
/// declared, by zone key.
fn build_file_zones(
    zones: &mut [ZoneSpec],
    skip: &(dyn Fn(&[u8]) -> bool + Sync),
    secondaries: &[crate::xfr::secondary::Secondary],
    slot: &(dyn Fn(&str) -> Option<crate::snapshot::HealthId> + Sync),
    nameservers: &NameServers,
    snapshot: &mut crate::snapshot::Snapshot,
) -> HashMap<Box<[u8]>, usize> {
    use rayon::prelude::*;
    let serial = crate::publish::soa_serial();
    let built: Vec<(crate::snapshot::Zone, usize)> = zones
        .par_iter_mut()
        .filter(|z| !skip(&crate::snapshot::name_key(&z.name)))
        .map(|z| {
            let zone = crate::snapshot::Zone::build(z, slot, serial, nameservers);
            // A secondary zone keeps its records: the next IXFR applies
            // its differences to them.
            let kept = secondaries
                .iter()
                .any(|s| domain::base::ToName::name_eq(&s.zone, &z.name));
            let count = z.records.len();
            if !kept {
                drop(std::mem::take(&mut z.records));
            }
            (zone, count)
        })
        .collect();
    let counts = built
        .into_iter()
        .map(|(zone, count)| {
            let key = crate::snapshot::name_key(&zone.apex);
            snapshot.put_zone(zone);
            (key, count)
        })
        .collect();
    crate::memory::trim();
    counts
}

/// Puts the zones built as their files were read
/// ([`crate::config::Built`]) into `snapshot`; returns their record
/// counts by zone key.
fn put_built(
    file: &mut Config,
    snapshot: &mut crate::snapshot::Snapshot,
) -> HashMap<Box<[u8]>, usize> {
    std::mem::take(&mut file.zone_sources.built)
        .into_iter()
        .map(|(key, built)| {
            snapshot.share_zone(built.zone);
            (key, built.records)
        })
        .collect()
}

/// Parses the files of the zones `file` found unchanged after all, for a
/// reload that cannot keep what was built from them.
fn read_unchanged_again(file: &mut Config) -> Result<(), Vec<String>> {
    let unchanged = std::mem::take(&mut file.zone_sources.unchanged);
    for zone in file
        .zones
        .iter_mut()
        .filter(|z| unchanged.contains(&crate::snapshot::name_key(&z.name)))
    {
        let key = crate::snapshot::name_key(&zone.name);
        let Some(source) = file.zone_sources.read.get(&key) else {
            continue;
        };
        zone.records = crate::zonefile::load_file(source.path(), &zone.name)
            .map_err(|d| d.0.iter().map(ToString::to_string).collect::<Vec<_>>())?;
        // Changed since the config was read, perhaps: checked again.
        let problems = crate::validate::zone(zone);
        if !problems.is_empty() {
            return Err(problems.into_iter().map(|p| p.message).collect());
        }
    }
    Ok(())
}

/// The live checker and check `id`'s slot in it.
fn checker_index(
    inner: &Inner,
    id: &str,
) -> Result<(Checker, crate::snapshot::HealthId), ServiceError> {
    let slot = inner
        .live
        .checker
        .slot_of(id)
        .ok_or_else(|| ServiceError::no_check(id))?;
    Ok((inner.live.checker.clone(), slot))
}

/// Every check's slot, by check id, for building snapshots.
fn slot_map(checker: &Checker) -> HashMap<String, crate::snapshot::HealthId> {
    checker
        .slots()
        .into_iter()
        .map(|(slot, id)| (id, slot))
        .collect()
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
        crate::health::probe::set_node(&file.node);
        let dns_addrs: Vec<std::net::SocketAddr> = match listeners
            .iter()
            .filter(|l| l.role == crate::health::Role::Dns)
            .map(|l| l.addr)
            .collect::<Vec<_>>()
        {
            bound if bound.is_empty() => file.dns.clone(),
            bound => bound,
        };
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
        let nameservers = NameServers::or_default(&file.nameservers, &dns_addrs);
        let file = prepared(file, &nameservers);
        // Read before the objects: a write in between makes this node
        // claim less than it serves, never more.
        let version = store.version()?;
        let zones = store.zones()?;
        let checks = store.checks()?;
        let api_keys = keys::stored_keys(&store)?;
        let mut problems = declared_problems(&file, &zones, &checks);
        problems.extend(keys::key_problems(&file.tsig_keys, &api_keys));
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
        let history = store.history_reader()?;
        let check_specs = merged_checks(&file, &checks);
        let shared = matches!(file.data, crate::store::Location::Postgres(_));
        let seeds = saved_seeds(
            &mut store,
            &check_specs,
            shared.then_some(file.node.as_str()),
        )?;
        let api_specs = api_zone_specs(&file, &zones, &checks);
        let mut file = file;
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
        // Nodes that share a store vote; one alone decides for itself and
        // pays nothing for the vote.
        let votes_flush = crate::cluster::votes::Flush::default();
        let ballot = match &file.data {
            crate::store::Location::Postgres(_) => {
                let (ballot, outbox) =
                    crate::cluster::votes::Ballot::new(&file.node, file.healthy_percent);
                let publisher = Store::open_location(&file.data)?;
                tokio::spawn(crate::cluster::votes::publish(
                    outbox,
                    publisher,
                    votes_flush.clone(),
                ));
                Some(ballot)
            }
            crate::store::Location::Sqlite(_) => None,
        };
        let electorate = ballot
            .clone()
            .map(|b| b as Arc<dyn crate::health::checker::Electorate>);
        let checker = Checker::resume(
            check_specs,
            shutdown.child_token(),
            &seeds,
            (Some(on_change), electorate),
            targets.clone(),
        );
        let slots = slot_map(&checker);
        let slot = |id: &str| slots.get(id).copied();
        let mut snapshot = crate::snapshot::Snapshot::default();
        let built = put_built(&mut file, &mut snapshot);
        let mut file_counts = build_file_zones(
            &mut file.zones,
            &|key| built.contains_key(key),
            &file.secondaries,
            &slot,
            &nameservers,
            &mut snapshot,
        );
        file_counts.extend(built);
        let serial = crate::publish::soa_serial();
        for spec in zones.iter().filter_map(|z| api_specs.get(&z.name)) {
            snapshot.put_spec(spec, &slot, serial, &nameservers);
        }
        let mut first = crate::publish::with_access(
            crate::publish::published(snapshot, checker.table()),
            &file,
            api_keys.iter().map(keys::ApiKey::key),
        );
        // Secondary zones answer SERVFAIL until their first transfer.
        first.snapshot = secondaries::mark_unavailable(&file, &Default::default(), first.snapshot);
        let published = Arc::new(ArcSwap::from_pointee(first));
        let service = Arc::new(Service {
            inner: Mutex::new(Inner {
                file,
                file_built: true,
                file_counts,
                file_path,
                zones,
                api_specs,
                checks,
                // What this node served, empty at start: the store's rows
                // are read at the first stamp (`restamp` below).
                serials: Default::default(),
                transferred: Default::default(),
                keys: api_keys,
                dns_addrs,
                nameservers,
                store,
                targets,
                live: Live {
                    published: published.clone(),
                    checker,
                },
            }),
            published,
            shutdown,
            changes: Mutex::new(HashMap::new()),
            generation: std::sync::atomic::AtomicU64::new(1),
            events_flushed: CancellationToken::new(),
            history,
            served_version: std::sync::atomic::AtomicI64::new(version),
            cluster,
            ballot,
            votes_flush,
        });
        {
            let mut inner = service.lock();
            inner.keep_transferred(None);
            inner.restamp();
        }
        // Stamping fingerprints every record once; give back what the
        // parse, the build and the stamp freed.
        crate::memory::trim();
        let writer = service.clone();
        tokio::spawn(async move { writer.persist_events(events_rx).await });
        Ok(service)
    }

    /// Rebuilds and publishes every zone (a reload).
    fn publish(&self, inner: &mut Inner) {
        inner.publish();
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Publishes a change to one API-managed zone (key `key`) alone: the
    /// other zones and the health table are shared with the current
    /// snapshot, so the cost is that zone's, not the whole data set's.
    fn publish_zone(&self, inner: &mut Inner, key: &str) {
        let current = inner.live.published.load_full();
        let ids = slot_map(&inner.live.checker);
        let snapshot = match inner.api_specs.get(key) {
            Some(spec) => current.snapshot.with_zone(
                spec,
                &|id| ids.get(id).copied(),
                crate::publish::soa_serial(),
                &inner.nameservers,
            ),
            None => match DName::from_str(key) {
                Ok(apex) => {
                    // A deleted zone's versions would only take memory: made
                    // again, it starts a journal afresh (whole zone first).
                    current.journal.forget(&apex);
                    current.snapshot.without_zone(&apex)
                }
                Err(_) => return,
            },
        };
        let only = inner.api_specs.get(key).map(|spec| spec.name.clone());
        let mut next = current.with_snapshot(snapshot);
        if inner.transfers_moved(&current.transfers, key) {
            next.transfers = Arc::new(inner.transfer_settings());
        }
        match only {
            Some(apex) => inner.store_published(next, Some(&apex)),
            None => inner.live.published.store(Arc::new(next)),
        }
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// What the file zones' files held when last read
    /// ([`crate::config::ZoneSources::read`]).
    pub fn zone_sources(&self) -> HashMap<Box<[u8]>, crate::zonefile::Source> {
        self.lock().file.zone_sources.read.clone()
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

    /// [`Service::store_on_top`], the next write also recording `change`.
    fn store_on_top_recording<'a>(
        &self,
        inner: &'a mut Inner,
        change: &crate::store::NewChange,
    ) -> &'a mut Store {
        inner.store.record_with_next_write(change.clone());
        self.store_on_top(inner)
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

    /// The health vote, when this node shares its store.
    pub fn ballot(&self) -> Option<Arc<crate::cluster::votes::Ballot>> {
        self.ballot.clone()
    }

    /// In sync when every live node serves store version `version` (as
    /// their last heartbeats say; this node as it is now), else pending.
    pub fn change_status(&self, version: i64) -> ChangeStatus {
        if crate::cluster::in_sync(&self.nodes(), version) {
            ChangeStatus::InSync
        } else {
            ChangeStatus::Pending
        }
    }

    /// Every node known, this one among them.
    pub fn nodes(&self) -> Vec<crate::cluster::NodeStatus> {
        self.cluster
            .nodes(self.served_version(), std::time::SystemTime::now())
    }

    /// Forgets node `name`, which has stopped: it leaves `/v1/nodes` and
    /// its votes leave every check's status. A live node (or this one)
    /// is refused: it would only register again at its next heartbeat.
    pub fn forget_node(&self, name: &str) -> Result<(), ServiceError> {
        let registry = self.cluster();
        if registry.name() == name {
            return Err(ServiceError::Conflict {
                code: "NodeLive",
                message: format!(
                    "node {name:?} is the node answering; stop it and remove it through another node"
                ),
            });
        }
        let node = self
            .nodes()
            .into_iter()
            .find(|n| n.name == name)
            .ok_or_else(|| ServiceError::NotFound {
                code: "NoSuchNode",
                message: format!("no node named {name:?}; GET /v1/nodes lists them"),
            })?;
        if node.live {
            return Err(ServiceError::Conflict {
                code: "NodeLive",
                message: format!(
                    "node {name:?} is live (it beat within its last {} heartbeats); stop it first, and remove it once GET /v1/nodes lists it with \"live\": false",
                    crate::health::vote::HEARTBEATS_UNTIL_GONE
                ),
            });
        }
        // Only a row that is still stale goes: a node that came back
        // meanwhile beat after `node.last_seen`.
        let seen_before = node.last_seen + std::time::Duration::from_millis(1);
        let removed = self.lock().store.forget_node(name, seen_before)?;
        if !removed {
            return Err(ServiceError::Conflict {
                code: "NodeLive",
                message: format!("node {name:?} beat again while being removed; it is running"),
            });
        }
        registry.forget(name);
        tracing::info!(node = name, "node {name} forgotten");
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Health figures for `/metrics`.
    pub fn health_metrics(&self) -> HealthMetrics {
        let checker = self.lock().live.checker.clone();
        let slots = checker.slots();
        let changes = self
            .changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let published = self.published.load();
        HealthMetrics {
            checks: slots
                .iter()
                .map(|(slot, id)| {
                    let (passed, failed) = checker.result_counts(*slot);
                    (
                        id.clone(),
                        published.health.is_healthy(*slot),
                        passed,
                        failed,
                        changes.get(id).copied().unwrap_or(0),
                    )
                })
                .collect(),
            local_faults: slots
                .iter()
                .map(|(slot, _)| checker.local_faults(*slot))
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
    ///
    /// Returns how many zones were kept as built, their files unchanged
    /// ([`Config::load_to_serve`]).
    pub fn reload_file(&self, file: Config) -> Result<usize, Vec<String>> {
        let mut inner = self.lock();
        let nameservers = NameServers::or_default(&file.nameservers, &inner.dns_addrs);
        let mut file = file;
        if !inner.keeps_unchanged(&file, &nameservers) {
            read_unchanged_again(&mut file)?;
        }
        let file = prepared(file, &nameservers);
        let mut problems = declared_problems(&file, &inner.zones, &inner.checks);
        problems.extend(keys::key_problems(&file.tsig_keys, &inner.keys));
        if !problems.is_empty() {
            return Err(problems);
        }
        let targets = inner
            .targets
            .load()
            .with_allowed(file.check_targets.clone());
        inner.targets.store(Arc::new(targets));
        if let Some(ballot) = &self.ballot {
            ballot.set_healthy_percent(file.healthy_percent);
        }
        let mut old = std::mem::replace(&mut inner.file, file);
        inner.keep_transferred(Some(&mut old));
        inner.nameservers = nameservers;
        inner.file_built = false;
        inner.refresh_specs();
        // Checks first: a check the new file adds has its slot before the
        // zones that use it are built.
        inner.reconfigure_checks();
        let kept = inner.file.zone_sources.unchanged.len();
        self.publish(&mut inner);
        Ok(kept)
    }
}

impl crate::cluster::Follower for Service {
    fn served(&self) -> i64 {
        self.served_version()
    }

    fn catch_up(&self) -> Result<i64, String> {
        Service::catch_up(self).map_err(|e| e.to_string())
    }

    fn revote(&self) {
        let checker = self.lock().live.checker.clone();
        checker.revote();
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
        let since = self.served_version();
        if version <= since {
            return Ok(since);
        }
        // Version first: a write in between makes this node claim less
        // than it serves, never more.
        let checks = inner.store.checks()?;
        let overrides: HashMap<String, bool> = inner.store.overrides()?.into_iter().collect();
        let api_keys = keys::stored_keys(&inner.store)?;
        // Only the zones written since are read and rebuilt, unless what
        // every zone is built with (checks, keys) changed too: with many
        // zones, a change to one must not cost a read of them all.
        let whole = checks != inner.checks || api_keys != inner.keys;
        let (zones, names) = if whole {
            (inner.store.zones()?, None)
        } else {
            let (changed, names) = inner.store.zones_since(since)?;
            (changed, Some(names))
        };
        give_up_owned_file_zones(&mut inner, &zones);
        let mut problems = declared_problems(&inner.file, &zones, &checks);
        problems.extend(keys::key_problems(&inner.file.tsig_keys, &api_keys));
        if !problems.is_empty() {
            tracing::error!(
                version,
                "cannot serve what the store holds with this node's config file; serving what it had:\n  {}",
                problems.join("\n  ")
            );
            return Ok(self.served_version());
        }
        match names {
            None => {
                inner.zones = zones;
                inner.checks = checks;
                inner.keys = api_keys;
                inner.refresh_specs();
                // Checks first, as at a reload: a new check has its slot
                // before the zones that use it are built.
                inner.reconfigure_checks();
                self.publish(&mut inner);
            }
            Some(names) => self.merge_zones(&mut inner, zones, &names),
        }
        let checker = inner.live.checker.clone();
        for (slot, id) in checker.slots() {
            let wanted = overrides.get(&id).copied();
            if checker.status(slot).is_some_and(|s| s.forced != wanted) {
                checker.set_override(slot, wanted);
            }
        }
        self.served_version
            .fetch_max(version, std::sync::atomic::Ordering::SeqCst);
        tracing::info!(version, "serving the store's changes from other nodes");
        Ok(version)
    }

    /// Takes in the zones another node wrote (`changed`, with their
    /// records) and drops those no longer in `names`, rebuilding only
    /// them; past a few dozen, one publication of every zone is cheaper
    /// than a snapshot copy per zone.
    fn merge_zones(&self, inner: &mut Inner, changed: Vec<StoredZone>, names: &[String]) {
        let present: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
        let mut touched: Vec<String> = inner
            .zones
            .iter()
            .filter(|z| !present.contains(z.name.as_str()))
            .map(|z| z.name.clone())
            .collect();
        inner.zones.retain(|z| present.contains(z.name.as_str()));
        for zone in changed {
            touched.push(zone.name.clone());
            match inner.zones.iter_mut().find(|z| z.name == zone.name) {
                Some(held) => *held = zone,
                None => inner.zones.push(zone),
            }
        }
        inner.zones.sort_by(|a, b| a.name.cmp(&b.name));
        if touched.len() > 32 {
            inner.refresh_specs();
            self.publish(inner);
            return;
        }
        let kinds = declarations::kinds_of(&inner.file, &inner.checks);
        for key in &touched {
            let spec = inner
                .zones
                .iter()
                .find(|z| &z.name == key)
                .and_then(|z| declarations::api_zone_spec(z, &kinds));
            match spec {
                Some(spec) => inner.api_specs.insert(key.clone(), spec),
                None => inner.api_specs.remove(key),
            };
            self.publish_zone(inner, key);
        }
    }
}

/// Drops from this node's file zones those that another node has since
/// created through the API (`stored`): a zone has one owner, and on a
/// shared store the store's zone is the one every other node serves. Why
/// not refuse the store's instead, as a start or a reload does: this
/// node would then stop following every later change of every zone
/// (its API writes would all conflict), and Route 53's GetChange would
/// stay PENDING for every node, for one zone in a file.
fn give_up_owned_file_zones(inner: &mut Inner, stored: &[StoredZone]) {
    // Looked up by key among the built file zones: a catch-up brings a
    // few zones, and this node may have 10,000 in its file.
    let owned: Vec<(String, Box<[u8]>)> = stored
        .iter()
        .filter_map(|s| Some((s.name.clone(), DName::from_str(&s.name).ok()?)))
        .map(|(name, apex)| (name, crate::snapshot::name_key(&apex)))
        .filter(|(_, key)| inner.file_counts.contains_key(key))
        .collect();
    for (name, key) in &owned {
        tracing::error!(
            zone = %name,
            "zone {name} is in this node's config file and was created through the API of another node sharing the store; this node now serves the store's zone, not its file's: remove it from the config file (a reload is refused until then)"
        );
        inner.file_counts.remove(key);
    }
    if !owned.is_empty() {
        inner.file.zones.retain(|z| {
            let key = crate::snapshot::name_key(&z.name);
            !owned.iter().any(|(_, k)| *k == key)
        });
    }
}

impl Inner {
    /// Whether the zones that `file` found unchanged can be kept as built:
    /// each is served now, built with the same name servers.
    fn keeps_unchanged(&self, file: &Config, nameservers: &NameServers) -> bool {
        let unchanged = &file.zone_sources.unchanged;
        if unchanged.is_empty() {
            return true;
        }
        let current = self.live.published.load();
        *nameservers == self.nameservers
            && unchanged.iter().all(|key| {
                current.snapshot.zone_at_key(key).is_some() && self.file_counts.contains_key(key)
            })
    }

    /// Hands the declared checks to the running checker, which starts,
    /// stops or restarts only those that changed; no zone is rebuilt (a
    /// check keeps its slot, so the snapshot's references stay true).
    fn reconfigure_checks(&mut self) {
        let checks = merged_checks(&self.file, &self.checks);
        self.live.checker.reconfigure(&checks);
    }

    /// Builds every zone into a new snapshot over the checker's table and
    /// swaps it in.
    /// File zones already built are shared from the published snapshot:
    /// their records changed only if the file did (a reload builds them
    /// anew), and their checks keep their slots.
    fn publish(&mut self) {
        let slots = slot_map(&self.live.checker);
        let slot = |id: &str| slots.get(id).copied();
        let mut snapshot = crate::snapshot::Snapshot::default();
        if self.file_built {
            let current = self.live.published.load_full();
            for z in &self.file.zones {
                match current.snapshot.zone(&z.name) {
                    Some(zone) => snapshot.share_zone(zone.clone()),
                    None => {
                        tracing::error!(zone = %z.name, "file zone missing from the published snapshot")
                    }
                }
            }
        } else {
            // A reload: the zones whose files did not change stand as
            // built (`reload_file` made sure they can).
            let unchanged = std::mem::take(&mut self.file.zone_sources.unchanged);
            let current = self.live.published.load_full();
            let built = put_built(&mut self.file, &mut snapshot);
            let mut counts = HashMap::new();
            for key in &unchanged {
                if let Some(zone) = current.snapshot.zone_at_key(key) {
                    snapshot.share_zone(zone.clone());
                }
                let count = self.file_counts.get(key).copied().unwrap_or_default();
                counts.insert(key.clone(), count);
            }
            counts.extend(build_file_zones(
                &mut self.file.zones,
                &|key| unchanged.contains(key) || built.contains_key(key),
                &self.file.secondaries,
                &slot,
                &self.nameservers,
                &mut snapshot,
            ));
            counts.extend(built);
            self.file_counts = counts;
            self.file_built = true;
        }
        let serial = crate::publish::soa_serial();
        for spec in self
            .zones
            .iter()
            .filter_map(|z| self.api_specs.get(&z.name))
        {
            snapshot.put_spec(spec, &slot, serial, &self.nameservers);
        }
        let mut next = crate::publish::with_access(
            crate::publish::published(snapshot, self.live.checker.table()),
            &self.file,
            self.keys.iter().map(keys::ApiKey::key),
        );
        next.transfers = Arc::new(self.transfer_settings());
        next.snapshot = secondaries::mark_unavailable(&self.file, &self.transferred, next.snapshot);
        self.store_published(next, None);
        crate::memory::trim();
    }

    /// The records of file zone `zone`, from the snapshot that holds
    /// their only copy.
    fn file_records(&self, zone: &ZoneSpec) -> Vec<crate::model::RecordSpec> {
        let names: HashMap<crate::snapshot::HealthId, String> =
            self.live.checker.slots().into_iter().collect();
        match self.live.published.load().snapshot.zone(&zone.name) {
            Some(z) => z.declared_records(&|slot| names.get(&slot).cloned()),
            None => Vec::new(),
        }
    }

    /// Recomputes every stored zone's spec (after the checks they may
    /// refer to changed under them, e.g. a file reload).
    fn refresh_specs(&mut self) {
        self.api_specs = api_zone_specs(&self.file, &self.zones, &self.checks);
    }
}
