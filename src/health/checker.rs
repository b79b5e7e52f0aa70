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

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use rand::Rng;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::HealthTable;
use super::probe::{ProbeResult, Prober};
use super::state::{Seed, States, Transition, Verdict};
use super::targets::{SharedPolicy, TargetPolicy};
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
    /// The state the probe results alone give, override aside.
    pub measured: bool,
    /// The operator's override, if any.
    pub forced: Option<bool>,
    /// Whether the checker probes it (not calculated, not disabled).
    pub probed: bool,
    /// The most recent probe results, oldest first, at most [`HISTORY`].
    pub last_results: Vec<ProbeResult>,
    /// The last change of `healthy`, with its reason; `None` if it has
    /// kept its starting state.
    pub last_change: Option<Transition>,
}

/// Runs one probe; boxed so tests can stand in for the network.
pub(crate) type ProbeFn =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ProbeResult> + Send>> + Send + Sync>;

/// The running health checker. Cheap to clone; every clone is the same
/// checker.
#[derive(Clone)]
pub struct Checker {
    inner: Arc<Inner>,
    tasks: TaskTracker,
}

/// State inherited by a restarted checker for one check.
#[derive(Clone)]
struct Carried {
    seed: Seed,
    history: VecDeque<ProbeResult>,
    last_change: Option<Transition>,
}

/// Called with the check id and every transition, e.g. to persist it.
pub type OnChange = Arc<dyn Fn(&str, &Transition) + Send + Sync>;

struct Inner {
    /// Told of every transition after the start.
    on_change: Option<OnChange>,
    /// Probe results so far per check, indexed by [`count_index`], for
    /// metrics.
    results: Vec<[std::sync::atomic::AtomicU64; 3]>,
    /// Where probes may connect; shared with successors and swapped by
    /// the service when `check_targets` change.
    targets: SharedPolicy,
    /// Rate limit of the local-fault warning.
    fault_log: Mutex<FaultLog>,
    ids: Vec<String>,
    specs: Vec<HealthCheckSpec>,
    table: Arc<HealthTable>,
    /// Short critical sections only, never held across an await: one probe
    /// result or one override at a time, so the table and the states agree
    /// even when a calculated check's children change at once.
    shared: Mutex<Shared>,
}

/// When local faults were last logged, and how many since.
#[derive(Default)]
struct FaultLog {
    last: Option<std::time::Instant>,
    unlogged: u64,
}

/// Where a verdict is counted in `Inner::results`.
fn count_index(v: Verdict) -> usize {
    match v {
        Verdict::Unhealthy => 0,
        Verdict::Healthy => 1,
        Verdict::LocalFault => 2,
    }
}

struct Shared {
    states: States,
    history: Vec<VecDeque<ProbeResult>>,
    last_change: Vec<Option<Transition>>,
}

impl Checker {
    /// Starts probing every endpoint check of `specs` until `shutdown`.
    ///
    /// A check's [`HealthId`] is its position in `specs`, as in
    /// `publish::publish`, and `table` must have one entry per spec. The table
    /// is brought in line with the starting states at once (a calculated
    /// check whose children cannot meet its threshold starts unhealthy).
    /// Must be called within a tokio runtime.
    /// Probes connect under the default [`TargetPolicy`] (the
    /// always-refused ranges only); see [`Checker::resume`] for another.
    pub fn start(
        specs: Vec<HealthCheckSpec>,
        table: Arc<HealthTable>,
        shutdown: CancellationToken,
    ) -> Checker {
        let targets: SharedPolicy = Arc::default();
        let carried = vec![None; specs.len()];
        let probes = real_probes(targets.clone());
        Checker::start_full(specs, table, shutdown, carried, None, targets, probes)
    }

    /// Starts the successor of this checker after a reload: checks with
    /// the same id and an unchanged spec keep their state, last change and
    /// recent results, so a reload never briefly revives a dead endpoint;
    /// operator overrides are kept by id even when the spec changed. The
    /// caller stops this checker (cancels its token). The new table is
    /// brought in line before this returns, so start the successor before
    /// publishing its table.
    pub fn restart(
        &self,
        specs: Vec<HealthCheckSpec>,
        table: Arc<HealthTable>,
        shutdown: CancellationToken,
    ) -> Checker {
        let probes = real_probes(self.inner.targets.clone());
        Checker::start_with(specs, table, shutdown, Some(self), probes)
    }

    /// Starts like [`Checker::start`], resuming each check from `seeds`
    /// (by check id: the states saved before a restart of the process), and
    /// calling `on_change` with every transition from then on, also in the
    /// checkers that [`Checker::restart`] makes from this one. Probes
    /// connect only where `targets` allows at the time of each probe.
    pub fn resume(
        specs: Vec<HealthCheckSpec>,
        table: Arc<HealthTable>,
        shutdown: CancellationToken,
        seeds: &HashMap<String, Seed>,
        on_change: Option<OnChange>,
        targets: SharedPolicy,
    ) -> Checker {
        let carried = specs
            .iter()
            .map(|spec| {
                seeds.get(&spec.id).map(|&seed| Carried {
                    seed,
                    history: VecDeque::new(),
                    last_change: None,
                })
            })
            .collect();
        let probes = real_probes(targets.clone());
        Checker::start_full(specs, table, shutdown, carried, on_change, targets, probes)
    }

    /// As [`Checker::start`], with `make_probe` building each check's probe
    /// and `previous` (if any) seeding the states and lending its policy.
    pub(crate) fn start_with(
        specs: Vec<HealthCheckSpec>,
        table: Arc<HealthTable>,
        shutdown: CancellationToken,
        previous: Option<&Checker>,
        make_probe: impl Fn(&HealthCheckSpec) -> Option<ProbeFn>,
    ) -> Checker {
        let (carried, on_change, targets) = match previous {
            None => (vec![None; specs.len()], None, Arc::default()),
            Some(prev) => (
                prev.carry(&specs),
                prev.inner.on_change.clone(),
                prev.inner.targets.clone(),
            ),
        };
        Checker::start_full(
            specs, table, shutdown, carried, on_change, targets, make_probe,
        )
    }

    fn start_full(
        specs: Vec<HealthCheckSpec>,
        table: Arc<HealthTable>,
        shutdown: CancellationToken,
        carried: Vec<Option<Carried>>,
        on_change: Option<OnChange>,
        targets: SharedPolicy,
        make_probe: impl Fn(&HealthCheckSpec) -> Option<ProbeFn>,
    ) -> Checker {
        let (states, initial) = States::new_seeded(&specs, SystemTime::now(), |id| {
            carried[id as usize].as_ref().map(|c| c.seed)
        });
        for id in 0..specs.len() as HealthId {
            table.set(id, states.published(id));
        }
        let mut history = Vec::with_capacity(specs.len());
        let mut last_change = Vec::with_capacity(specs.len());
        for (i, c) in carried.into_iter().enumerate() {
            let (h, t) = c.map_or((VecDeque::new(), None), |c| (c.history, c.last_change));
            history.push(h);
            last_change.push(t.map(|mut t| {
                t.id = i as HealthId;
                t
            }));
        }
        for t in &initial {
            last_change[t.id as usize] = Some(t.clone());
        }
        let probed: Vec<(HealthId, Duration)> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| (i as HealthId, s.interval))
            .filter(|&(id, _)| states.is_probed(id))
            .collect();
        let inner = Arc::new(Inner {
            on_change,
            results: specs.iter().map(|_| Default::default()).collect(),
            targets,
            fault_log: Mutex::default(),
            ids: specs.iter().map(|s| s.id.clone()).collect(),
            specs,
            table,
            shared: Mutex::new(Shared {
                history,
                states,
                last_change,
            }),
        });
        // Starting states are logged but not reported as changes.
        inner.log(&initial, false);
        let tasks = TaskTracker::new();
        let mut rng = rand::rng();
        for (id, interval) in probed {
            let Some(probe) = make_probe(&inner.specs[id as usize]) else {
                continue;
            };
            let interval = interval.max(Duration::from_millis(1));
            let offset = rng.random_range(Duration::ZERO..interval);
            tasks.spawn(run_check(
                inner.clone(),
                id,
                probe,
                offset,
                interval,
                shutdown.clone(),
            ));
        }
        tasks.close();
        tracing::info!(
            checks = inner.ids.len(),
            probed = tasks.len(),
            "health checker started"
        );
        Checker { inner, tasks }
    }

    /// What a successor running `specs` inherits from this checker, per
    /// spec.
    fn carry(&self, specs: &[HealthCheckSpec]) -> Vec<Option<Carried>> {
        let old = self.inner.lock();
        specs
            .iter()
            .map(|spec| {
                let i = self.id_of(&spec.id)?;
                let mut seed = old.states.seed(i)?;
                let i = i as usize;
                if self.inner.specs[i] == *spec {
                    return Some(Carried {
                        seed,
                        history: old.history[i].clone(),
                        last_change: old.last_change[i].clone(),
                    });
                }
                // A changed spec (another port, another threshold...) is a
                // new check; only the operator's word carries over.
                seed.measured = !spec.invert;
                seed.last_change = None;
                Some(Carried {
                    seed,
                    history: VecDeque::new(),
                    last_change: None,
                })
            })
            .collect()
    }

    /// Probe results of check `id` since this checker started:
    /// `(passed, failed)`, local faults apart.
    pub fn result_counts(&self, id: HealthId) -> (u64, u64) {
        (
            self.count(id, Verdict::Healthy),
            self.count(id, Verdict::Unhealthy),
        )
    }

    /// Probes of check `id` since this checker started that failed through
    /// a local fault (and were not counted as results).
    pub fn local_faults(&self, id: HealthId) -> u64 {
        self.count(id, Verdict::LocalFault)
    }

    fn count(&self, id: HealthId, verdict: Verdict) -> u64 {
        self.inner.results.get(id as usize).map_or(0, |c| {
            c[count_index(verdict)].load(std::sync::atomic::Ordering::Relaxed)
        })
    }

    /// Number of checks (probed or not).
    pub fn len(&self) -> usize {
        self.inner.ids.len()
    }

    /// True when there are no checks.
    pub fn is_empty(&self) -> bool {
        self.inner.ids.is_empty()
    }

    /// The [`HealthId`] of the check called `name`.
    pub fn id_of(&self, name: &str) -> Option<HealthId> {
        self.inner
            .ids
            .iter()
            .position(|i| i == name)
            .map(|p| p as HealthId)
    }

    /// The current status of check `id`.
    pub fn status(&self, id: HealthId) -> Option<CheckStatus> {
        let name = self.inner.ids.get(id as usize)?.clone();
        let shared = self.inner.lock();
        Some(CheckStatus {
            id: name,
            healthy: shared.states.published(id),
            measured: shared.states.measured(id),
            forced: shared.states.forced(id),
            probed: shared.states.is_probed(id),
            last_results: shared.history[id as usize].iter().cloned().collect(),
            last_change: shared.last_change[id as usize].clone(),
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

    /// Waits until every probe task has stopped (after shutdown).
    pub async fn stopped(&self) {
        self.tasks.wait().await;
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic while holding the lock leaves consistent-enough data
        // (each field is updated whole); keep checking rather than stop.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Feeds one result; publishes and logs what it changes. A local
    /// fault is kept in the history (so the status shows it) and logged,
    /// but changes no state.
    fn record(&self, id: HealthId, result: ProbeResult) {
        let verdict = result.verdict();
        if let Some(counts) = self.results.get(id as usize) {
            counts[count_index(verdict)].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if verdict == Verdict::LocalFault {
            self.log_local_fault(id, &result.reason);
        }
        let transitions = {
            let mut shared = self.lock();
            // A transition is stamped when the table changes, not when
            // the deciding probe started: that is when DNS answers change.
            let t = shared
                .states
                .record(id, verdict, &result.reason, SystemTime::now());
            let history = &mut shared.history[id as usize];
            if history.len() == HISTORY {
                history.pop_front();
            }
            history.push_back(result);
            self.apply(&mut shared, &t);
            t
        };
        self.log(&transitions, true);
    }

    /// Warns of a local fault, at most once per [`LOCAL_FAULT_LOG_EVERY`]
    /// for all checks together; the line counts those left unlogged.
    fn log_local_fault(&self, id: HealthId, reason: &str) {
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
        let check = self.ids.get(id as usize).map_or("?", String::as_str);
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
            shared.last_change[t.id as usize] = Some(t.clone());
        }
    }

    fn log(&self, transitions: &[Transition], report: bool) {
        for t in transitions {
            let check = self.ids.get(t.id as usize).map_or("?", String::as_str);
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
fn real_probes(targets: SharedPolicy) -> impl Fn(&HealthCheckSpec) -> Option<ProbeFn> {
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

fn word(healthy: bool) -> &'static str {
    if healthy { "healthy" } else { "unhealthy" }
}

/// Probes check `id` every `interval`, the first time after `offset`.
async fn run_check(
    inner: Arc<Inner>,
    id: HealthId,
    probe: ProbeFn,
    offset: Duration,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval_at(Instant::now() + offset, interval);
    // A probe that overruns its interval (a 10 s tcp connect on a 5 s
    // interval) delays the next one rather than firing a burst.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let result = tokio::select! {
            () = shutdown.cancelled() => return,
            r = probe() => r,
        };
        inner.record(id, result);
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
        let table = Arc::new(HealthTable::new(specs.iter().map(|_| true)));
        let start = Instant::now();
        let _c = Checker::start_with(specs, table, CancellationToken::new(), None, |_| {
            Some(fake(up.clone(), calls.clone()))
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
        let table = Arc::new(HealthTable::new([true]));
        let c = Checker::start_with(specs, table.clone(), CancellationToken::new(), None, |_| {
            Some(fake(up.clone(), calls.clone()))
        });
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
        // As publish::publish builds it: `!invert` for every check.
        let table = Arc::new(HealthTable::new([true, true, false, true]));
        let c = Checker::start_with(specs, table.clone(), CancellationToken::new(), None, |_| {
            Some(fake(up.clone(), calls.clone()))
        });
        assert!(
            !table.is_healthy(3),
            "a calculated check that cannot pass starts down"
        );
        assert!(!table.is_healthy(2));
        assert_eq!(c.id_of("calc"), Some(1));
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

    #[tokio::test(start_paused = true)]
    async fn a_restart_keeps_what_is_known() {
        let up = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let probe = |_: &HealthCheckSpec| Some(fake(up.clone(), calls.clone()));
        let specs = vec![spec("a", 1, 1), spec("b", 1, 1), spec("c", 1, 1)];
        let first = CancellationToken::new();
        let table = Arc::new(HealthTable::new([true; 3]));
        let old = Checker::start_with(specs.clone(), table.clone(), first.clone(), None, probe);
        until(Duration::from_secs(2), || {
            (0..3).all(|i| !table.is_healthy(i))
        })
        .await;
        old.set_override(2, Some(true));
        first.cancel();
        old.stopped().await;

        // "b" moved to another port: a new check. "d" is new.
        let mut specs2 = specs.clone();
        specs2[1].port = 8080;
        specs2.push(spec("d", 1, 1));
        up.store(true, Ordering::SeqCst);
        let fresh = Arc::new(HealthTable::new([true; 4]));
        let new = Checker::start_with(
            specs2,
            fresh.clone(),
            CancellationToken::new(),
            Some(&old),
            probe,
        );
        // Before any probe: "a" is still known down, "c" still forced.
        assert!(!fresh.is_healthy(0), "kept down across the restart");
        assert!(fresh.is_healthy(1) && fresh.is_healthy(2) && fresh.is_healthy(3));
        let a = new.status(0).unwrap();
        assert!(!a.last_results.is_empty() && a.last_change.is_some());
        assert!(new.status(1).unwrap().last_results.is_empty());
        assert_eq!(new.status(2).unwrap().forced, Some(true));
        until(Duration::from_secs(2), || fresh.is_healthy(0)).await;
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
        let table = Arc::new(HealthTable::new([true]));
        let c = Checker::start_with(
            vec![spec("a", 1, 2)],
            table.clone(),
            CancellationToken::new(),
            None,
            |_| Some(probe.clone()),
        );
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

    #[tokio::test(start_paused = true)]
    async fn shutdown_stops_every_task() {
        let up = Arc::new(AtomicBool::new(true));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let shutdown = CancellationToken::new();
        let specs: Vec<_> = (0..10).map(|i| spec(&format!("c{i}"), 1, 1)).collect();
        let table = Arc::new(HealthTable::new([true; 10]));
        let c = Checker::start_with(specs, table, shutdown.clone(), None, |_| {
            Some(fake(up.clone(), calls.clone()))
        });
        tokio::time::sleep(Duration::from_secs(3)).await;
        shutdown.cancel();
        c.stopped().await;
        let n = calls.lock().unwrap().len();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(calls.lock().unwrap().len(), n);
    }
}
