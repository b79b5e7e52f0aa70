//! The active checker: probes every endpoint check on its interval, feeds
//! the state machine and writes the [`HealthTable`] the moment a state
//! changes.
//!
//! One tokio task per probed check, each a timer and a probe: ten thousand
//! of them are ten thousand small futures on one core, not threads. Each
//! task starts at a random offset within its first interval so checks that
//! were loaded together never probe together, then keeps a fixed period so
//! the SPEC's bound (a change reaches DNS within interval × threshold plus
//! one second) holds. Checks start when the checker starts, not at the
//! first query.
//!
//! One checker runs for the life of the process. Each check keeps its slot
//! in the table while it exists: [`Checker::reconfigure`] starts, stops or
//! restarts the probes of the checks that changed, one by one, and the
//! others never notice (docs/routing-and-health.md, "Changing checks").

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use rand::Rng;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::probe::{ProbeResult, Prober};
use super::state::{Change, Seed, SlotChange, States, Transition, Verdict, word};
use super::targets::{SharedPolicy, TargetPolicy};
use super::{HealthTable, MAX_CHECKS};
use crate::model::HealthCheckSpec;
use crate::snapshot::HealthId;

/// How many recent probe results each check keeps for its status.
pub const HISTORY: usize = 10;

/// At most one warning about local faults per this long, for all checks
/// together: a descriptor storm fails every probe at once, and the log must
/// not become a second storm.
pub const LOCAL_FAULT_LOG_EVERY: Duration = Duration::from_secs(10);

/// A check's state as an operator (or the API) sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckStatus {
    /// The check's id.
    pub id: String,
    /// The state DNS follows.
    pub healthy: bool,
    /// The state the probe results alone give (the cluster's vote on
    /// them, in a cluster), override aside.
    pub measured: bool,
    /// This node's own observation (threshold applied, before `invert`).
    pub observed: bool,
    /// The check's own `healthy_percent`, if it sets one.
    pub healthy_percent: Option<u8>,
    /// The operator's override, if any.
    pub forced: Option<bool>,
    /// Whether the checker probes it (not calculated, not disabled).
    pub probed: bool,
    /// Consecutive results so far that disagree with `measured`; at the
    /// failure threshold, the state changes.
    pub streak: u8,
    /// The most recent probe results, oldest first, at most [`HISTORY`].
    pub last_results: Vec<ProbeResult>,
    /// The last change of `healthy`, with its reason; `None` if it has
    /// kept its starting state.
    pub last_change: Option<Transition>,
}

/// Runs one probe; boxed so tests can stand in for the network.
pub(crate) type ProbeFn =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ProbeResult> + Send>> + Send + Sync>;

/// Builds the probe of a check; `None` when it cannot be probed.
type MakeProbe = Box<dyn Fn(&HealthCheckSpec) -> Option<ProbeFn> + Send + Sync>;

/// The running health checker. Cheap to clone; every clone is the same
/// checker.
#[derive(Clone)]
pub struct Checker {
    inner: Arc<Inner>,
}

/// Called with the check id and every transition, e.g. to persist it.
pub type OnChange = Arc<dyn Fn(&str, &Transition) + Send + Sync>;

/// The cluster's vote, as the checker sees it (issue 11): where this
/// node's observations go and what the nodes decide from them. Without
/// one (a single node), this node's observation decides alone.
pub trait Electorate: Send + Sync + 'static {
    /// This node's name, for the reasons of the transitions it decides
    /// (nodes of one store share an event log).
    fn node(&self) -> &str;
    /// This node's observation of `check` changed, or the check started
    /// here: publish it. Must not block (the checker holds its lock).
    fn observed(&self, check: &str, healthy: bool, reason: &str, at: SystemTime);
    /// This node no longer probes `check` (removed from its checks): its
    /// vote on it goes. Must not block.
    fn withdrawn(&self, check: &str);
    /// The measured state (before `invert`) the nodes' votes give `check`
    /// at `now`, this node's current observation being `own`, with the
    /// votes behind it (put in words only for a transition: every check
    /// is decided again each second).
    fn decide(
        &self,
        check: &str,
        own: bool,
        healthy_percent: Option<u8>,
        now: SystemTime,
    ) -> Decided;
}

/// What an [`Electorate`] decided for a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decided {
    /// The votes and their outcome (`tally.healthy`).
    pub tally: crate::health::vote::Tally,
    /// The percentage they were counted against.
    pub healthy_percent: u8,
}

impl Decided {
    /// The votes behind the outcome, in words.
    pub fn describe(&self) -> String {
        self.tally.describe(self.healthy_percent)
    }
}

struct Inner {
    /// Told of every transition after the start.
    on_change: Option<OnChange>,
    /// The cluster's vote; `None`: this node's observations decide.
    electorate: Option<Arc<dyn Electorate>>,
    /// Builds each check's probe (the network probes read the shared
    /// target policy at every probe).
    make_probe: MakeProbe,
    /// Rate limit of the local-fault warning.
    fault_log: Mutex<FaultLog>,
    /// Never replaced: slots keep their place for the checker's life.
    table: Arc<HealthTable>,
    /// Stops every probe; each probe task has a child token of its own.
    shutdown: CancellationToken,
    tasks: TaskTracker,
    /// Short critical sections only, never held across an await: one probe
    /// result, one override or one reconfiguration at a time, so the table
    /// and the states agree even when a calculated check's children change
    /// at once.
    shared: Mutex<Shared>,
}

/// When local faults were last logged, and how many since.
#[derive(Default)]
struct FaultLog {
    last: Option<std::time::Instant>,
    unlogged: u64,
}

/// Where a verdict is counted in [`Slot::counts`].
fn count_index(v: Verdict) -> usize {
    match v {
        Verdict::Unhealthy => 0,
        Verdict::Healthy => 1,
        Verdict::LocalFault => 2,
    }
}

/// What the checker keeps per check besides its state.
#[derive(Default)]
struct Slot {
    history: VecDeque<ProbeResult>,
    last_change: Option<Transition>,
    /// Probe results so far, indexed by [`count_index`], for metrics.
    counts: [u64; 3],
    /// Stops this check's probe task, if it has one.
    task: Option<CancellationToken>,
    /// Which probe task may report: results of a task stopped by a
    /// reconfiguration while its probe ran are dropped.
    generation: u64,
}

struct Shared {
    states: States,
    /// By slot, beside `states`.
    slots: Vec<Slot>,
    /// Last generation handed to a probe task.
    generation: u64,
}

impl Checker {
    /// Starts probing every endpoint check of `specs` until `shutdown`.
    ///
    /// Check `i` of `specs` starts in slot `i` of [`Checker::table`], as in
    /// `publish::publish_parts`; a calculated check whose children cannot
    /// meet its threshold starts unhealthy. Must be called within a tokio
    /// runtime. Probes connect under the default [`TargetPolicy`] (the
    /// always-refused ranges only); see [`Checker::resume`] for another.
    pub fn start(specs: Vec<HealthCheckSpec>, shutdown: CancellationToken) -> Checker {
        Checker::start_full(
            specs,
            shutdown,
            &HashMap::new(),
            (None, None),
            real_probes(Arc::default()),
        )
    }

    /// Starts like [`Checker::start`], resuming each check from `seeds`
    /// (by check id: the states saved before a restart of the process), and
    /// calling `on_change` with every transition from then on. Probes
    /// connect only where `targets` allows at the time of each probe.
    /// With an `electorate`, this node's observations are published to it
    /// and states follow its vote.
    pub fn resume(
        specs: Vec<HealthCheckSpec>,
        shutdown: CancellationToken,
        seeds: &HashMap<String, Seed>,
        hooks: (Option<OnChange>, Option<Arc<dyn Electorate>>),
        targets: SharedPolicy,
    ) -> Checker {
        Checker::start_full(specs, shutdown, seeds, hooks, real_probes(targets))
    }

    /// As [`Checker::start`], with `make_probe` building each check's probe.
    #[cfg(test)]
    pub(crate) fn start_with(
        specs: Vec<HealthCheckSpec>,
        shutdown: CancellationToken,
        on_change: Option<OnChange>,
        make_probe: impl Fn(&HealthCheckSpec) -> Option<ProbeFn> + Send + Sync + 'static,
    ) -> Checker {
        Checker::start_full(
            specs,
            shutdown,
            &HashMap::new(),
            (on_change, None),
            make_probe,
        )
    }

    fn start_full(
        mut specs: Vec<HealthCheckSpec>,
        shutdown: CancellationToken,
        seeds: &HashMap<String, Seed>,
        (on_change, electorate): (Option<OnChange>, Option<Arc<dyn Electorate>>),
        make_probe: impl Fn(&HealthCheckSpec) -> Option<ProbeFn> + Send + Sync + 'static,
    ) -> Checker {
        if specs.len() > MAX_CHECKS {
            tracing::error!(
                checks = specs.len(),
                "more than {MAX_CHECKS} health checks: the last ones are not run"
            );
            specs.truncate(MAX_CHECKS);
        }
        let (states, initial) = States::new_seeded(&specs, SystemTime::now(), |id| {
            seeds.get(&specs[id as usize].id).copied()
        });
        let table = Arc::new(HealthTable::default());
        let mut slots = Vec::with_capacity(specs.len());
        for id in 0..specs.len() as HealthId {
            table.set(id, states.published(id));
            slots.push(Slot::default());
        }
        for t in &initial {
            slots[t.id as usize].last_change = Some(t.clone());
        }
        let inner = Arc::new(Inner {
            on_change,
            electorate,
            make_probe: Box::new(make_probe),
            fault_log: Mutex::default(),
            table,
            shutdown,
            tasks: TaskTracker::new(),
            shared: Mutex::new(Shared {
                states,
                slots,
                generation: 0,
            }),
        });
        // Starting states are logged but not reported as changes: they
        // were the state before this process started.
        inner.log(&initial, false);
        {
            let mut shared = inner.lock();
            for id in 0..specs.len() as HealthId {
                inner.spawn(&mut shared, id);
                inner.announce(&shared, id);
            }
        }
        tracing::info!(
            checks = specs.len(),
            probed = inner.tasks.len(),
            "health checker started"
        );
        Checker { inner }
    }

    /// The table of published states, by slot. The same table for the
    /// checker's life.
    pub fn table(&self) -> Arc<HealthTable> {
        self.inner.table.clone()
    }

    /// Brings the checks in line with `specs`, touching only those that
    /// changed (by id): a new check gets a slot, its starting state and a
    /// probe; a removed one loses its probe and its slot reads healthy; an
    /// updated one keeps its slot, and its probe is restarted with the new
    /// settings, its state kept or started over (see
    /// [`Change`](super::state::Change)). Every other check keeps its slot,
    /// state, streak, recent results and probe schedule. Each change is
    /// logged, and every transition it causes is reported like a probe's.
    /// Returns what changed.
    pub fn reconfigure(&self, specs: &[HealthCheckSpec]) -> Vec<SlotChange> {
        let (changes, transitions, left_out) = {
            let mut shared = self.inner.lock();
            let r = shared
                .states
                .reconfigure(specs, SystemTime::now(), MAX_CHECKS);
            for c in &r.changes {
                let id = c.id as usize;
                if shared.slots.len() <= id {
                    shared.slots.resize_with(id + 1, Slot::default);
                }
                let slot = &mut shared.slots[id];
                if let Some(task) = slot.task.take() {
                    task.cancel();
                }
                match c.change {
                    Change::Added | Change::Removed => *slot = Slot::default(),
                    Change::Restarted => slot.history.clear(),
                    Change::Kept => {}
                }
                self.inner.table.set(c.id, shared.states.published(c.id));
                if c.change != Change::Removed {
                    self.inner.spawn(&mut shared, c.id);
                }
                // A check that starts over here has a new vote; a kept
                // one keeps the vote it published.
                if matches!(c.change, Change::Added | Change::Restarted) {
                    self.inner.announce(&shared, c.id);
                }
                // One this node stops probing: its vote must not outlive
                // it, counted by the others as a live node's.
                if c.change == Change::Removed
                    && let Some(electorate) = &self.inner.electorate
                {
                    electorate.withdrawn(&c.name);
                }
            }
            self.inner.apply(&mut shared, &r.transitions);
            let left_out = specs
                .iter()
                .filter(|s| shared.states.slot(&s.id).is_none())
                .count();
            (r.changes, r.transitions, left_out)
        };
        for c in &changes {
            self.inner.log_change(c);
        }
        if left_out > 0 {
            tracing::error!(
                left_out,
                "more than {MAX_CHECKS} health checks: the newest {left_out} are not run"
            );
        }
        self.inner.log(&transitions, true);
        changes
    }

    /// Probe results of check `id` so far: `(passed, failed)`, local
    /// faults apart.
    pub fn result_counts(&self, id: HealthId) -> (u64, u64) {
        (
            self.count(id, Verdict::Healthy),
            self.count(id, Verdict::Unhealthy),
        )
    }

    /// Probes of check `id` so far that failed through a local fault (and
    /// were not counted as results).
    pub fn local_faults(&self, id: HealthId) -> u64 {
        self.count(id, Verdict::LocalFault)
    }

    fn count(&self, id: HealthId, verdict: Verdict) -> u64 {
        let shared = self.inner.lock();
        shared
            .slots
            .get(id as usize)
            .map_or(0, |s| s.counts[count_index(verdict)])
    }

    /// Number of checks (probed or not).
    pub fn len(&self) -> usize {
        self.inner.lock().states.len()
    }

    /// True when there are no checks.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The slot ([`HealthId`]) of the check called `name`.
    pub fn slot_of(&self, name: &str) -> Option<HealthId> {
        self.inner.lock().states.slot(name)
    }

    /// Every check as `(slot, id)`, lowest slot first.
    pub fn slots(&self) -> Vec<(HealthId, String)> {
        let shared = self.inner.lock();
        shared
            .states
            .ids()
            .filter_map(|id| Some((id, shared.states.name(id)?.to_string())))
            .collect()
    }

    /// The current status of the check in slot `id`.
    pub fn status(&self, id: HealthId) -> Option<CheckStatus> {
        let shared = self.inner.lock();
        let name = shared.states.name(id)?.to_string();
        let slot = shared.slots.get(id as usize)?;
        Some(CheckStatus {
            id: name,
            healthy: shared.states.published(id),
            measured: shared.states.measured(id),
            observed: shared.states.observed(id),
            healthy_percent: shared.states.spec(id).and_then(|s| s.healthy_percent),
            forced: shared.states.forced(id),
            probed: shared.states.is_probed(id),
            streak: shared.states.streak(id),
            last_results: slot.history.iter().cloned().collect(),
            last_change: slot.last_change.clone(),
        })
    }

    /// Forces check `id` healthy or unhealthy, or releases it (`None`);
    /// the table follows at once. Returns the transitions it caused
    /// (calculated parents included).
    pub fn set_override(&self, id: HealthId, forced: Option<bool>) -> Vec<Transition> {
        let transitions = {
            let mut shared = self.inner.lock();
            let t = shared.states.set_override(id, forced, SystemTime::now());
            self.inner.apply(&mut shared, &t);
            t
        };
        self.inner.log(&transitions, true);
        transitions
    }

    /// Decides every probed check again from the electorate's vote (the
    /// votes or the live nodes changed); publishes, reports and logs what
    /// moved. Does nothing without an electorate.
    pub fn revote(&self) -> Vec<Transition> {
        let Some(electorate) = self.inner.electorate.clone() else {
            return Vec::new();
        };
        let transitions = {
            let mut shared = self.inner.lock();
            let now = SystemTime::now();
            let ids: Vec<HealthId> = shared
                .states
                .ids()
                .filter(|&id| shared.states.is_probed(id))
                .collect();
            let mut all = Vec::new();
            for id in ids {
                let Some(spec) = shared.states.spec(id) else {
                    continue;
                };
                let own = shared.states.observed(id);
                let decided = electorate.decide(&spec.id, own, spec.healthy_percent, now);
                let why = || {
                    format!(
                        "vote: {} (counted by {})",
                        decided.describe(),
                        electorate.node()
                    )
                };
                let t = shared.states.decide(id, decided.tally.healthy, why, now);
                self.inner.apply(&mut shared, &t);
                all.extend(t);
            }
            all
        };
        self.inner.log(&transitions, true);
        transitions
    }

    /// Waits until every probe task has stopped (after shutdown).
    pub async fn stopped(&self) {
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic while holding the lock leaves consistent-enough data
        // (each field is updated whole); keep checking rather than stop.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the probe task of check `id` if it is probed and has a
    /// probe, under a new generation; not once shutdown has begun.
    fn spawn(self: &Arc<Self>, shared: &mut Shared, id: HealthId) {
        if self.shutdown.is_cancelled() || !shared.states.is_probed(id) {
            return;
        }
        let Some(spec) = shared.states.spec(id) else {
            return;
        };
        let interval = spec.interval.max(Duration::from_millis(1));
        let Some(probe) = (self.make_probe)(spec) else {
            return;
        };
        shared.generation += 1;
        let generation = shared.generation;
        let token = self.shutdown.child_token();
        let slot = &mut shared.slots[id as usize];
        slot.generation = generation;
        slot.task = Some(token.clone());
        let offset = rand::rng().random_range(Duration::ZERO..interval);
        self.tasks.spawn(run_check(
            self.clone(),
            id,
            generation,
            probe,
            offset,
            interval,
            token,
        ));
    }

    /// Tells the electorate, if any, of check `id`'s observation as it
    /// starts on this node (new, restarted or resumed), so every live node
    /// has a vote on every check it probes.
    fn announce(&self, shared: &Shared, id: HealthId) {
        let Some(electorate) = &self.electorate else {
            return;
        };
        if !shared.states.is_probed(id) {
            return;
        }
        if let Some(name) = shared.states.name(id) {
            let observed = shared.states.observed(id);
            electorate.observed(name, observed, "starting state", SystemTime::now());
        }
    }

    /// Feeds one result of the probe task of `generation`; publishes and
    /// logs what it changes. A local fault is kept in the history (so the
    /// status shows it) and logged, but changes no state. A result from a
    /// task that a reconfiguration stopped is dropped.
    fn record(&self, id: HealthId, generation: u64, result: ProbeResult) {
        let verdict = result.verdict();
        let transitions = {
            let mut shared = self.lock();
            if shared
                .slots
                .get(id as usize)
                .is_none_or(|s| s.generation != generation)
            {
                return;
            }
            // A transition is stamped when the table changes, not when
            // the deciding probe started: that is when DNS answers change.
            let now = SystemTime::now();
            let t = match &self.electorate {
                None => shared.states.record(id, verdict, &result.reason, now),
                Some(electorate) => {
                    let states = &mut shared.states;
                    match (states.observe(id, verdict), states.spec(id)) {
                        (Some(observed), Some(spec)) => {
                            let (check, percent) = (spec.id.clone(), spec.healthy_percent);
                            let why = states.settled(id, &result.reason);
                            electorate.observed(&check, observed, &why, now);
                            let decided = electorate.decide(&check, observed, percent, now);
                            let reason = || {
                                let (node, vote) = (electorate.node(), decided.describe());
                                format!("{node} observed {why}; vote: {vote}")
                            };
                            states.decide(id, decided.tally.healthy, reason, now)
                        }
                        _ => Vec::new(),
                    }
                }
            };
            let slot = &mut shared.slots[id as usize];
            slot.counts[count_index(verdict)] += 1;
            if slot.history.len() == HISTORY {
                slot.history.pop_front();
            }
            let reason = (verdict == Verdict::LocalFault).then(|| result.reason.clone());
            slot.history.push_back(result);
            self.apply(&mut shared, &t);
            let name = shared.states.name(id).map(str::to_string);
            (t, reason.zip(name))
        };
        let (transitions, fault) = transitions;
        if let Some((reason, name)) = fault {
            self.log_local_fault(id, &name, &reason);
        }
        self.log(&transitions, true);
    }

    /// Warns of a local fault, at most once per [`LOCAL_FAULT_LOG_EVERY`]
    /// for all checks together; the line counts those left unlogged.
    fn log_local_fault(&self, id: HealthId, check: &str, reason: &str) {
        let unlogged = {
            let mut log = self.fault_log.lock().unwrap_or_else(|e| e.into_inner());
            let now = std::time::Instant::now();
            if log
                .last
                .is_some_and(|t| now.duration_since(t) < LOCAL_FAULT_LOG_EVERY)
            {
                log.unlogged += 1;
                return;
            }
            log.last = Some(now);
            std::mem::take(&mut log.unlogged)
        };
        tracing::warn!(
            check,
            id,
            unlogged,
            "health check {check}: {reason} ({unlogged} more local faults unlogged in the last {} s)",
            LOCAL_FAULT_LOG_EVERY.as_secs()
        );
    }

    /// Writes transitions to the table under the lock, so concurrent
    /// changes land in the table in the order the states saw them.
    fn apply(&self, shared: &mut Shared, transitions: &[Transition]) {
        for t in transitions {
            self.table.set(t.id, t.new);
            if let Some(slot) = shared.slots.get_mut(t.id as usize) {
                slot.last_change = Some(t.clone());
            }
        }
    }

    /// Logs one check added, removed or updated by a reconfiguration.
    fn log_change(&self, c: &SlotChange) {
        let (check, id, fields) = (c.name.as_str(), c.id, c.fields.join(", "));
        match c.change {
            Change::Added => tracing::info!(check, id, "health check {check} added"),
            Change::Removed => tracing::info!(check, id, "health check {check} removed"),
            Change::Kept => tracing::info!(
                check,
                id,
                fields,
                "health check {check} updated ({fields}): state kept"
            ),
            Change::Restarted => tracing::info!(
                check,
                id,
                fields,
                "health check {check} updated ({fields}): it probes something else now, state started over"
            ),
        }
    }

    fn log(&self, transitions: &[Transition], report: bool) {
        if transitions.is_empty() {
            return;
        }
        let names: Vec<String> = {
            let shared = self.lock();
            transitions
                .iter()
                .map(|t| shared.states.name(t.id).unwrap_or("?").to_string())
                .collect()
        };
        for (t, check) in transitions.iter().zip(&names) {
            let check = check.as_str();
            let at = humantime::format_rfc3339_millis(t.at);
            let (old, new) = (word(t.old), word(t.new));
            if let Some(on_change) = self.on_change.as_ref().filter(|_| report) {
                on_change(check, t);
            }
            if t.new {
                tracing::info!(check, id = t.id, old, new, reason = %t.reason, %at, "health check {check}: {old} → {new}: {}", t.reason);
            } else {
                tracing::warn!(check, id = t.id, old, new, reason = %t.reason, %at, "health check {check}: {old} → {new}: {}", t.reason);
            }
        }
    }
}

/// Builds network probes that connect only where `targets` allows.
fn real_probes(
    targets: SharedPolicy,
) -> impl Fn(&HealthCheckSpec) -> Option<ProbeFn> + Send + Sync + 'static {
    move |spec| real_probe(spec, &targets)
}

/// The network probe for `spec`; `None` (logged) when it has none.
fn real_probe(spec: &HealthCheckSpec, targets: &SharedPolicy) -> Option<ProbeFn> {
    match Prober::new(spec) {
        Ok(prober) => {
            let prober = Arc::new(prober);
            let targets = targets.clone();
            let probe: ProbeFn = Arc::new(move || {
                let prober = prober.clone();
                // Read at every probe: a reload's check_targets apply to
                // the next probe of every check.
                let policy: Arc<TargetPolicy> = targets.load_full();
                Box::pin(async move { prober.probe_within(&policy).await })
            });
            Some(probe)
        }
        Err(e) => {
            tracing::warn!(check = %spec.id, "health check not probed: {e}");
            None
        }
    }
}

/// Probes check `id` every `interval`, the first time after `offset`,
/// until `stop` (shutdown, or a reconfiguration of this check).
async fn run_check(
    inner: Arc<Inner>,
    id: HealthId,
    generation: u64,
    probe: ProbeFn,
    offset: Duration,
    interval: Duration,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval_at(Instant::now() + offset, interval);
    // A probe that overruns its interval (a 10 s tcp connect on a 5 s
    // interval) delays the next one rather than firing a burst.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let result = tokio::select! {
            () = stop.cancelled() => return,
            r = probe() => r,
        };
        inner.record(id, generation, result);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;
    use crate::model::{CheckKind, Target};

    fn spec(id: &str, interval: u64, threshold: u8) -> HealthCheckSpec {
        HealthCheckSpec {
            id: id.into(),
            kind: CheckKind::Tcp,
            target: Some(Target::Ip("192.0.2.1".parse().unwrap())),
            port: 80,
            path: "/".into(),
            host: None,
            sni: true,
            search: None,
            interval: Duration::from_secs(interval),
            failure_threshold: threshold,
            timeout: Duration::from_secs(2),
            invert: false,
            disabled: false,
            healthy_percent: None,
        }
    }

    /// A probe that answers from `up` and records when it ran.
    fn fake(up: Arc<AtomicBool>, calls: Arc<Mutex<Vec<Instant>>>) -> ProbeFn {
        Arc::new(move || {
            let healthy = up.load(Ordering::SeqCst);
            calls.lock().unwrap().push(Instant::now());
            Box::pin(async move {
                ProbeResult {
                    healthy,
                    local: false,
                    reason: if healthy { "up" } else { "down" }.into(),
                    latency: Duration::ZERO,
                    at: SystemTime::now(),
                }
            })
        })
    }

    async fn until(deadline: Duration, mut cond: impl FnMut() -> bool) -> Duration {
        let start = Instant::now();
        while !cond() {
            assert!(start.elapsed() <= deadline, "not within {deadline:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn first_probes_spread_over_the_first_interval() {
        let up = Arc::new(AtomicBool::new(true));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let specs: Vec<_> = (0..200).map(|i| spec(&format!("c{i}"), 10, 3)).collect();
        let start = Instant::now();
        let (up2, calls2) = (up.clone(), calls.clone());
        let _c = Checker::start_with(specs, CancellationToken::new(), None, move |_| {
            Some(fake(up2.clone(), calls2.clone()))
        });
        // Offsets lie in [0, 10 s) and timers round up to the millisecond,
        // so a first probe comes at 10 s at the latest, a second one later.
        tokio::time::sleep(Duration::from_millis(10_001)).await;
        let seen: Vec<Instant> = calls
            .lock()
            .unwrap()
            .iter()
            .copied()
            .filter(|t| *t - start <= Duration::from_secs(10))
            .collect();
        assert_eq!(
            seen.len(),
            200,
            "each check probed once in its first interval"
        );
        let mut seconds = [0usize; 10];
        for t in seen {
            seconds[((t - start).as_secs() as usize).min(9)] += 1;
        }
        // 200 uniform offsets over 10 s: no second empty, none crowded.
        assert!(
            seconds.iter().all(|&n| (5..=50).contains(&n)),
            "{seconds:?}"
        );
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(calls.lock().unwrap().len(), 400, "then once per interval");
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_reaches_the_table_within_interval_times_threshold() {
        let up = Arc::new(AtomicBool::new(true));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let specs = vec![spec("a", 10, 3)];
        let (up2, calls2) = (up.clone(), calls.clone());
        let c = Checker::start_with(specs, CancellationToken::new(), None, move |_| {
            Some(fake(up2.clone(), calls2.clone()))
        });
        let table = c.table();
        tokio::time::sleep(Duration::from_secs(25)).await;
        assert!(table.is_healthy(0));
        up.store(false, Ordering::SeqCst);
        let bound = Duration::from_secs(10 * 3 + 1);
        let took = until(bound, || !table.is_healthy(0)).await;
        // Never faster than threshold - 1 intervals: two more probes after
        // the first failing one.
        assert!(took > Duration::from_secs(20), "{took:?}");
        up.store(true, Ordering::SeqCst);
        until(bound, || table.is_healthy(0)).await;
        // Long enough for more than HISTORY results in all.
        tokio::time::sleep(Duration::from_secs(50)).await;
        let status = c.status(0).unwrap();
        assert!(status.healthy && status.measured && status.probed);
        assert_eq!(status.last_results.len(), HISTORY);
        let change = status.last_change.unwrap();
        assert_eq!((change.old, change.new), (false, true));
        assert_eq!(change.reason, "up (3 consecutive results)");
    }

    #[tokio::test(start_paused = true)]
    async fn overrides_calculated_and_disabled_reach_the_table() {
        let up = Arc::new(AtomicBool::new(true));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let specs = vec![
            spec("a", 1, 1),
            HealthCheckSpec {
                kind: CheckKind::Calculated {
                    children: vec!["a".into()],
                    healthy_threshold: 1,
                },
                target: None,
                ..spec("calc", 10, 1)
            },
            HealthCheckSpec {
                disabled: true,
                invert: true,
                ..spec("off", 1, 1)
            },
            HealthCheckSpec {
                kind: CheckKind::Calculated {
                    children: vec!["a".into()],
                    healthy_threshold: 2,
                },
                target: None,
                ..spec("never", 10, 1)
            },
        ];
        let (up2, calls2) = (up.clone(), calls.clone());
        let c = Checker::start_with(specs, CancellationToken::new(), None, move |_| {
            Some(fake(up2.clone(), calls2.clone()))
        });
        let table = c.table();
        assert!(
            !table.is_healthy(3),
            "a calculated check that cannot pass starts down"
        );
        assert!(!table.is_healthy(2));
        assert_eq!(c.slot_of("calc"), Some(1));
        let t = c.set_override(0, Some(false));
        assert_eq!(t.len(), 2);
        assert!(!table.is_healthy(0) && !table.is_healthy(1));
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!table.is_healthy(0), "the override holds against results");
        assert_eq!(c.status(0).unwrap().forced, Some(false));
        c.set_override(0, None);
        assert!(table.is_healthy(0) && table.is_healthy(1));
        assert!(calls.lock().unwrap().len() >= 5);
        assert!(!c.status(2).unwrap().probed);
    }

    /// Reported transitions as `(check, old, new, reason)`.
    type Reported = Arc<Mutex<Vec<(String, bool, bool, String)>>>;

    /// Records every reported transition.
    fn recorder() -> (OnChange, Reported) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let on_change: OnChange = Arc::new(move |check: &str, t: &Transition| {
            let event = (check.to_string(), t.old, t.new, t.reason.clone());
            sink.lock().unwrap().push(event);
        });
        (on_change, seen)
    }

    #[tokio::test(start_paused = true)]
    async fn a_reconfiguration_touches_only_the_checks_that_changed() {
        let up = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (up2, calls2) = (up.clone(), calls.clone());
        // Probes of "b" count apart, to see its probe restart.
        let b_probes = Arc::new(AtomicUsize::new(0));
        let b_count = b_probes.clone();
        let probe = move |s: &HealthCheckSpec| {
            if s.id == "b" {
                b_count.fetch_add(1, Ordering::SeqCst);
            }
            Some(fake(up2.clone(), calls2.clone()))
        };
        let (on_change, seen) = recorder();
        let specs = vec![spec("a", 10, 3), spec("b", 1, 1), spec("c", 1, 1)];
        let c = Checker::start_with(
            specs.clone(),
            CancellationToken::new(),
            Some(on_change),
            probe,
        );
        let table = c.table();
        // "a" probes every 10 s: wait for two failures of its three.
        until(Duration::from_secs(25), || {
            c.status(0).unwrap().last_results.len() == 2
        })
        .await;
        assert_eq!(c.status(0).unwrap().streak, 2);
        assert!(table.is_healthy(0));
        until(Duration::from_secs(2), || !table.is_healthy(1)).await;
        c.set_override(2, Some(true));

        // "b" moves to another port, "c" goes, "d" comes.
        let mut specs2 = vec![specs[0].clone(), specs[1].clone(), spec("d", 1, 1)];
        specs2[1].port = 8080;
        let changes = c.reconfigure(&specs2);
        let got: Vec<(HealthId, &str, Change)> = changes
            .iter()
            .map(|c| (c.id, c.name.as_str(), c.change))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, "c", Change::Removed),
                (1, "b", Change::Restarted),
                (3, "d", Change::Added)
            ]
        );
        assert_eq!(b_probes.load(Ordering::SeqCst), 2, "b's probe was rebuilt");
        // "a" is untouched: same slot, still at failure 2 of 3, results kept.
        let a = c.status(0).unwrap();
        assert_eq!((a.streak, a.healthy, a.last_results.len()), (2, true, 2));
        // "b" starts over healthy, and that is reported, not silent.
        assert!(table.is_healthy(1) && c.status(1).unwrap().last_results.is_empty());
        assert!(table.is_healthy(2), "a free slot reads healthy");
        assert_eq!(c.slot_of("c"), None);
        let reported = seen.lock().unwrap().clone();
        assert_eq!(
            reported.last().unwrap(),
            &(
                "b".to_string(),
                false,
                true,
                "check updated (port): starts over healthy".to_string()
            )
        );
        // The third failure of "a" decides, within its one interval.
        until(Duration::from_secs(11), || !table.is_healthy(0)).await;
        until(Duration::from_secs(2), || !table.is_healthy(1)).await;
        up.store(true, Ordering::SeqCst);
        until(Duration::from_secs(2), || table.is_healthy(3)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn local_faults_are_kept_and_counted_but_change_nothing() {
        let calls = Arc::new(AtomicUsize::new(0));
        let n = calls.clone();
        // Healthy, then nothing but local faults, then one real failure.
        let probe: ProbeFn = Arc::new(move || {
            let i = n.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                let (healthy, local) = match i {
                    0 => (true, false),
                    1..=20 => (false, true),
                    _ => (false, false),
                };
                ProbeResult {
                    healthy,
                    local,
                    reason: "r".into(),
                    latency: Duration::ZERO,
                    at: SystemTime::now(),
                }
            })
        });
        let c = Checker::start_with(
            vec![spec("a", 1, 2)],
            CancellationToken::new(),
            None,
            move |_| Some(probe.clone()),
        );
        let table = c.table();
        until(Duration::from_secs(30), || {
            calls.load(Ordering::SeqCst) > 21
        })
        .await;
        // Twenty local faults between two failures: still healthy, since
        // they neither count nor break the run; the next failure decides.
        let status = c.status(0).unwrap();
        assert!(table.is_healthy(0) && status.healthy && status.last_change.is_none());
        assert!(status.last_results.iter().filter(|r| r.local).count() >= HISTORY - 1);
        assert_eq!(c.local_faults(0), 20);
        assert_eq!(c.result_counts(0), (1, 1));
        until(Duration::from_secs(2), || !table.is_healthy(0)).await;
    }

    /// An electorate whose other nodes say what `others` holds.
    #[derive(Default)]
    struct Votes {
        published: Mutex<Vec<(String, bool, String)>>,
        withdrawn: Mutex<Vec<String>>,
        others: AtomicBool,
    }

    impl Electorate for Votes {
        fn node(&self) -> &str {
            "n1"
        }
        fn observed(&self, check: &str, healthy: bool, reason: &str, _: SystemTime) {
            let vote = (check.to_string(), healthy, reason.to_string());
            self.published.lock().unwrap().push(vote);
        }
        fn withdrawn(&self, check: &str) {
            self.withdrawn.lock().unwrap().push(check.to_string());
        }
        fn decide(&self, _: &str, own: bool, _: Option<u8>, _: SystemTime) -> Decided {
            // Two nodes: this one and the others, which say `others`;
            // healthy when either is (more than 18 % of 2).
            let others = self.others.load(Ordering::SeqCst);
            let healthy_votes = usize::from(own) + usize::from(others);
            Decided {
                tally: crate::health::vote::Tally {
                    healthy: healthy_votes > 0,
                    healthy_votes,
                    live_votes: 2,
                    own_only: false,
                },
                healthy_percent: 18,
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn with_an_electorate_observations_are_published_once_and_the_vote_decides() {
        let up = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let votes = Arc::new(Votes::default());
        votes.others.store(true, Ordering::SeqCst);
        let (up2, calls2) = (up.clone(), calls.clone());
        let electorate: Arc<dyn Electorate> = votes.clone();
        let c = Checker::start_full(
            vec![spec("a", 1, 2)],
            CancellationToken::new(),
            &HashMap::new(),
            (None, Some(electorate)),
            move |_| Some(fake(up2.clone(), calls2.clone())),
        );
        let table = c.table();
        until(Duration::from_secs(10), || calls.lock().unwrap().len() >= 6).await;
        // The start, then one change, however many probes failed.
        let published = votes.published.lock().unwrap().clone();
        assert_eq!(
            published,
            [
                ("a".to_string(), true, "starting state".to_string()),
                (
                    "a".to_string(),
                    false,
                    "down (2 consecutive results)".to_string()
                ),
            ]
        );
        // This node fails, the others hold it up.
        assert!(table.is_healthy(0) && !c.status(0).unwrap().observed);
        votes.others.store(false, Ordering::SeqCst);
        let t = c.revote();
        assert_eq!(t.len(), 1);
        assert_eq!(
            t[0].reason,
            "vote: 0 of 2 nodes healthy, more than 18 % needed (counted by n1)"
        );
        assert!(!table.is_healthy(0));
        // Its own recovery decides at once, and says why.
        up.store(true, Ordering::SeqCst);
        until(Duration::from_secs(5), || table.is_healthy(0)).await;
        let change = c.status(0).unwrap().last_change.unwrap();
        assert_eq!(
            change.reason,
            "n1 observed up (2 consecutive results); vote: 1 of 2 nodes healthy, more than 18 % needed"
        );
        assert_eq!(votes.published.lock().unwrap().len(), 3);
        // Removed from this node's checks: its vote is withdrawn, once.
        assert!(votes.withdrawn.lock().unwrap().is_empty());
        c.reconfigure(&[]);
        assert_eq!(*votes.withdrawn.lock().unwrap(), ["a"]);
        assert_eq!(votes.published.lock().unwrap().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_stops_every_task() {
        let up = Arc::new(AtomicBool::new(true));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let shutdown = CancellationToken::new();
        let specs: Vec<_> = (0..10).map(|i| spec(&format!("c{i}"), 1, 1)).collect();
        let (up2, calls2) = (up.clone(), calls.clone());
        let c = Checker::start_with(specs, shutdown.clone(), None, move |_| {
            Some(fake(up2.clone(), calls2.clone()))
        });
        tokio::time::sleep(Duration::from_secs(3)).await;
        shutdown.cancel();
        c.stopped().await;
        let n = calls.lock().unwrap().len();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(calls.lock().unwrap().len(), n);
    }
}
