//! The health state machine: turns probe results, child changes, operator
//! overrides and changed declarations into published states and
//! transitions (SPEC §4).
//!
//! Pure: no I/O, no clock. Callers pass the time and get back the
//! [`Transition`]s to publish and log, so every rule is table-tested here.
//!
//! Each check lives in a slot (its [`HealthId`], its index in the
//! [`HealthTable`](super::HealthTable)) that it keeps for as long as it
//! exists: [`States::reconfigure`] adds, updates and removes checks one by
//! one, and the others keep their slot, state and streak.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use crate::model::{CheckKind, HealthCheckSpec};
use crate::snapshot::HealthId;

/// A change of a check's published state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// Which check (its slot).
    pub id: HealthId,
    /// Published state before.
    pub old: bool,
    /// Published state after.
    pub new: bool,
    /// Why, for humans: the deciding probe result, the children count,
    /// the override or the update.
    pub reason: String,
    /// When it happened.
    pub at: SystemTime,
}

/// What one probe result says, as the state machine counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The endpoint passed (before `invert`).
    Healthy,
    /// The endpoint failed (before `invert`).
    Unhealthy,
    /// The probe could not run because this machine failed (descriptors,
    /// memory, local ports): it says nothing about the endpoint, so it
    /// neither counts toward a change nor breaks a streak.
    LocalFault,
}

impl From<bool> for Verdict {
    fn from(healthy: bool) -> Verdict {
        if healthy {
            Verdict::Healthy
        } else {
            Verdict::Unhealthy
        }
    }
}

/// A state carried over from before a restart of the process (see
/// [`States::new_seeded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seed {
    /// The measured state (after `invert`).
    pub measured: bool,
    /// The operator's override.
    pub forced: Option<bool>,
    /// When the published state last changed.
    pub last_change: Option<SystemTime>,
    /// This node's own observation as it last published it (a cluster's
    /// vote); `None`: the measured state's, before `invert`.
    pub observed: Option<bool>,
}

/// What [`States::reconfigure`] did to one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A new check, in a slot of its own, in its starting state.
    Added,
    /// The check is gone; its slot is free (reused only after the next
    /// reconfiguration, so an answer still reading an older snapshot
    /// never sees another check's state there).
    Removed,
    /// Its settings changed but it probes the same thing (interval,
    /// threshold, timeout, invert, disabling, a calculated check's
    /// children): state, streak and recent results are kept.
    Kept,
    /// It probes something else now (type, address, port, path, host,
    /// SNI or search string), or was enabled again after being disabled:
    /// what was measured says nothing about it, so it starts over from
    /// the starting state (healthy, unhealthy if inverted) with no
    /// streak. The operator's override is kept.
    Restarted,
}

/// One check's part in a reconfiguration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotChange {
    /// Its slot.
    pub id: HealthId,
    /// Its id.
    pub name: String,
    /// What happened to it.
    pub change: Change,
    /// The settings that changed, for the log (empty unless updated).
    pub fields: Vec<&'static str>,
}

/// What [`States::reconfigure`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconfigured {
    /// Every check added, removed or updated; unchanged ones are absent.
    pub changes: Vec<SlotChange>,
    /// The published-state changes it caused, calculated parents included.
    pub transitions: Vec<Transition>,
}

/// One check's state.
#[derive(Debug, Clone)]
struct CheckState {
    spec: HealthCheckSpec,
    /// What the results say, after `invert` and the threshold: this
    /// node's observation alone, or the cluster's vote on it.
    measured: bool,
    /// This node's observation: its results after the threshold, before
    /// `invert` (what it publishes as its vote).
    observed: bool,
    /// Consecutive results that disagree with `observed`.
    streak: u8,
    forced: Option<bool>,
    /// A calculated check's children that exist and are endpoint checks.
    children: Vec<HealthId>,
    last_change: Option<SystemTime>,
}

impl CheckState {
    fn new(spec: &HealthCheckSpec, seed: Option<Seed>) -> CheckState {
        let measured = seed.map_or(!spec.invert, |s| s.measured);
        CheckState {
            spec: spec.clone(),
            measured,
            observed: seed
                .and_then(|s| s.observed)
                .unwrap_or(measured != spec.invert),
            streak: 0,
            forced: seed.and_then(|s| s.forced),
            children: Vec::new(),
            last_change: seed.and_then(|s| s.last_change),
        }
    }

    fn published(&self) -> bool {
        match self.forced {
            Some(forced) => forced,
            None if self.spec.disabled => !self.spec.invert,
            None => self.measured,
        }
    }

    fn threshold(&self) -> u8 {
        self.spec.failure_threshold.max(1)
    }

    fn is_calculated(&self) -> bool {
        matches!(self.spec.kind, CheckKind::Calculated { .. })
    }

    /// Takes `spec` in place of the current settings; returns whether the
    /// state starts over ([`Change::Restarted`]) and the changed fields.
    fn update(&mut self, spec: &HealthCheckSpec) -> (Change, Vec<&'static str>) {
        let fields = changed_fields(&self.spec, spec);
        let probes_another = fields.iter().any(|f| PROBE_FIELDS.contains(f));
        let enabled = self.spec.disabled && !spec.disabled && !self.is_calculated();
        let change = if probes_another || enabled {
            self.measured = !spec.invert;
            self.observed = true;
            self.streak = 0;
            Change::Restarted
        } else {
            if self.spec.invert != spec.invert {
                // The same raw results read the other way: the measured
                // state flips, and a streak of disagreeing results still
                // disagrees.
                self.measured = !self.measured;
            }
            Change::Kept
        };
        self.spec = spec.clone();
        (change, fields)
    }
}

/// The settings that say what a check probes; changing one starts the
/// check over.
const PROBE_FIELDS: [&str; 7] = ["type", "target", "port", "path", "host", "sni", "search"];

/// The settings that differ between `a` and `b`, by their user-facing
/// names.
fn changed_fields(a: &HealthCheckSpec, b: &HealthCheckSpec) -> Vec<&'static str> {
    let calculated = |s: &HealthCheckSpec| match &s.kind {
        CheckKind::Calculated {
            children,
            healthy_threshold,
        } => Some((children.clone(), *healthy_threshold)),
        _ => None,
    };
    let endpoint = |s: &HealthCheckSpec| calculated(s).is_none();
    let kind_changed = std::mem::discriminant(&a.kind) != std::mem::discriminant(&b.kind);
    let both_endpoints = endpoint(a) && endpoint(b);
    [
        ("type", kind_changed),
        ("target", a.target != b.target),
        ("port", both_endpoints && a.port != b.port),
        ("path", both_endpoints && a.path != b.path),
        ("host", both_endpoints && a.host != b.host),
        ("sni", both_endpoints && a.sni != b.sni),
        ("search", both_endpoints && a.search != b.search),
        (
            "children",
            !kind_changed && calculated(a).map(|c| c.0) != calculated(b).map(|c| c.0),
        ),
        (
            "healthy_threshold",
            !kind_changed && calculated(a).map(|c| c.1) != calculated(b).map(|c| c.1),
        ),
        ("interval", a.interval != b.interval),
        (
            "failure_threshold",
            a.failure_threshold != b.failure_threshold,
        ),
        ("timeout", a.timeout != b.timeout),
        ("invert", a.invert != b.invert),
        ("disabled", a.disabled != b.disabled),
        ("healthy_percent", a.healthy_percent != b.healthy_percent),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}

/// The states of every check, each in its slot.
#[derive(Debug, Clone, Default)]
pub struct States {
    /// By slot; `None` for a free slot.
    checks: Vec<Option<CheckState>>,
    /// Slot of each check, by id.
    slots: HashMap<String, HealthId>,
    /// For each slot, the calculated checks that count it.
    parents: Vec<Vec<HealthId>>,
    /// Free slots that may be handed out.
    free: Vec<HealthId>,
    /// Slots freed by the last reconfiguration: free from the next one on.
    freed: Vec<HealthId>,
}

impl States {
    /// Every check in its starting state: healthy, unhealthy if inverted;
    /// calculated checks computed from their children at once. Check `i`
    /// of `specs` is in slot `i`. Returns the transitions of calculated
    /// checks whose first computation disagrees with the starting state
    /// (the health table starts at `!invert`).
    pub fn new(specs: &[HealthCheckSpec], at: SystemTime) -> (States, Vec<Transition>) {
        States::new_seeded(specs, at, |_| None)
    }

    /// As [`States::new`], but checks for which `seed` answers (given the
    /// slot) start from that state instead (a restart keeps what was
    /// already known, so a dead endpoint does not come back as healthy for
    /// interval × threshold). Calculated checks are then recomputed; only
    /// real changes are returned as transitions.
    pub fn new_seeded(
        specs: &[HealthCheckSpec],
        at: SystemTime,
        seed: impl Fn(HealthId) -> Option<Seed>,
    ) -> (States, Vec<Transition>) {
        let mut states = States::default();
        for (i, spec) in specs.iter().enumerate() {
            states
                .checks
                .push(Some(CheckState::new(spec, seed(i as HealthId))));
            states.slots.insert(spec.id.clone(), i as HealthId);
        }
        states.link();
        let mut out = Vec::new();
        states.recompute_all(at, &mut out);
        (states, out)
    }

    /// Brings the checks in line with `specs`, check by check: a check
    /// whose id is new gets a free slot and its starting state; one no
    /// longer declared frees its slot; one whose settings changed keeps
    /// its slot and is [`Change::Kept`] or [`Change::Restarted`]. Checks
    /// whose settings did not change are untouched: same slot, state and
    /// streak. Every change of a published state this causes (the updated
    /// check's own, its calculated parents', a calculated check's first
    /// computation) is returned as a transition.
    ///
    /// Slots past `capacity` are never handed out: a check that would
    /// need one is left out and reported as not added.
    pub fn reconfigure(
        &mut self,
        specs: &[HealthCheckSpec],
        at: SystemTime,
        capacity: usize,
    ) -> Reconfigured {
        let mut result = Reconfigured::default();
        self.free.append(&mut self.freed);
        // Lowest slot first: the table stays dense.
        self.free.sort_unstable_by(|a, b| b.cmp(a));
        let wanted: HashSet<&str> = specs.iter().map(|s| s.id.as_str()).collect();
        let mut removed: Vec<(String, HealthId)> = self
            .slots
            .iter()
            .filter(|(name, _)| !wanted.contains(name.as_str()))
            .map(|(name, &id)| (name.clone(), id))
            .collect();
        removed.sort_unstable_by_key(|&(_, id)| id);
        for (name, id) in removed {
            self.slots.remove(&name);
            self.checks[id as usize] = None;
            self.freed.push(id);
            result.changes.push(SlotChange {
                id,
                name,
                change: Change::Removed,
                fields: Vec::new(),
            });
        }
        // Updated checks whose published state may have moved: (slot,
        // state before, why).
        let mut moved = Vec::new();
        for spec in specs {
            if let Some(&id) = self.slots.get(&spec.id) {
                let Some(c) = self.checks[id as usize].as_mut() else {
                    continue;
                };
                if c.spec == *spec {
                    continue;
                }
                let old = c.published();
                let (change, fields) = c.update(spec);
                let why = match change {
                    Change::Restarted => format!(
                        "check updated ({}): starts over {}",
                        fields.join(", "),
                        word(!spec.invert)
                    ),
                    _ => format!("check updated ({})", fields.join(", ")),
                };
                moved.push((id, old, why));
                result.changes.push(SlotChange {
                    id,
                    name: spec.id.clone(),
                    change,
                    fields,
                });
                continue;
            }
            let id = match self.free.pop() {
                Some(id) => id,
                None if self.checks.len() < capacity => {
                    self.checks.push(None);
                    (self.checks.len() - 1) as HealthId
                }
                None => continue,
            };
            self.checks[id as usize] = Some(CheckState::new(spec, None));
            self.slots.insert(spec.id.clone(), id);
            result.changes.push(SlotChange {
                id,
                name: spec.id.clone(),
                change: Change::Added,
                fields: Vec::new(),
            });
        }
        self.link();
        for (id, old, why) in moved {
            self.changed(id, old, why, at, &mut result.transitions);
        }
        self.recompute_all(at, &mut result.transitions);
        result
    }

    /// Resolves every calculated check's children to slots and rebuilds
    /// the parent lists.
    fn link(&mut self) {
        self.parents = vec![Vec::new(); self.checks.len()];
        for i in 0..self.checks.len() {
            let Some(CheckKind::Calculated { children, .. }) =
                self.checks[i].as_ref().map(|c| &c.spec.kind)
            else {
                continue;
            };
            let linked: Vec<HealthId> = children
                .iter()
                .filter_map(|name| {
                    let id = *self.slots.get(name)?;
                    // Children are endpoint checks (SPEC §4; the config
                    // and the service enforce it): skipping others keeps
                    // propagation one level deep and cycle-free.
                    let endpoint = self.checks[id as usize]
                        .as_ref()
                        .is_some_and(|c| !c.is_calculated());
                    endpoint.then_some(id)
                })
                .collect();
            for &c in &linked {
                self.parents[c as usize].push(i as HealthId);
            }
            if let Some(c) = self.checks[i].as_mut() {
                c.children = linked;
            }
        }
    }

    fn recompute_all(&mut self, at: SystemTime, out: &mut Vec<Transition>) {
        for id in 0..self.checks.len() as HealthId {
            self.recompute(id, at, out);
        }
    }

    fn get(&self, id: HealthId) -> Option<&CheckState> {
        self.checks.get(id as usize).and_then(Option::as_ref)
    }

    /// Number of checks.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when there are no checks.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The slot of check `name`.
    pub fn slot(&self, name: &str) -> Option<HealthId> {
        self.slots.get(name).copied()
    }

    /// The id of the check in slot `id`.
    pub fn name(&self, id: HealthId) -> Option<&str> {
        self.get(id).map(|c| c.spec.id.as_str())
    }

    /// The settings of the check in slot `id`.
    pub fn spec(&self, id: HealthId) -> Option<&HealthCheckSpec> {
        self.get(id).map(|c| &c.spec)
    }

    /// Every used slot, lowest first.
    pub fn ids(&self) -> impl Iterator<Item = HealthId> + '_ {
        self.checks
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_some())
            .map(|(i, _)| i as HealthId)
    }

    /// The state DNS answers should follow (healthy for a free slot).
    pub fn published(&self, id: HealthId) -> bool {
        self.get(id).is_none_or(CheckState::published)
    }

    /// The state the results alone give (after `invert`), override aside.
    pub fn measured(&self, id: HealthId) -> bool {
        self.get(id).is_none_or(|c| c.measured)
    }

    /// This node's own observation (threshold applied, before `invert`).
    pub fn observed(&self, id: HealthId) -> bool {
        self.get(id).is_none_or(|c| c.observed)
    }

    /// Consecutive results so far that disagree with this node's
    /// observation: at the failure threshold, it changes.
    pub fn streak(&self, id: HealthId) -> u8 {
        self.get(id).map_or(0, |c| c.streak)
    }

    /// The operator's override, if any.
    pub fn forced(&self, id: HealthId) -> Option<bool> {
        self.get(id).and_then(|c| c.forced)
    }

    /// When the published state last changed; `None` if never.
    pub fn last_change(&self, id: HealthId) -> Option<SystemTime> {
        self.get(id).and_then(|c| c.last_change)
    }

    /// Whether `id` is probed: an endpoint check that is not disabled.
    pub fn is_probed(&self, id: HealthId) -> bool {
        self.get(id)
            .is_some_and(|c| !c.is_calculated() && !c.spec.disabled)
    }

    /// Feeds one probe result of endpoint check `id` (before `invert`; a
    /// `bool` is healthy or not) as the only vote: this node's observation
    /// decides. Returns the transitions it causes, the check's own first,
    /// then its calculated parents'. A [`Verdict::LocalFault`] changes
    /// nothing.
    pub fn record(
        &mut self,
        id: HealthId,
        verdict: impl Into<Verdict>,
        reason: &str,
        at: SystemTime,
    ) -> Vec<Transition> {
        match self.observe(id, verdict) {
            Some(observed) => {
                let why = self.settled(id, reason);
                self.decide(id, observed, || why, at)
            }
            None => Vec::new(),
        }
    }

    /// The reason of a change of check `id`'s observation that `reason`
    /// settled: "HTTP 503 (3 consecutive results)".
    pub fn settled(&self, id: HealthId, reason: &str) -> String {
        let threshold = self.get(id).map_or(1, CheckState::threshold);
        format!(
            "{reason} ({threshold} consecutive result{})",
            if threshold == 1 { "" } else { "s" }
        )
    }

    /// Feeds one probe result of endpoint check `id` into this node's
    /// observation alone (threshold applied, before `invert`). Returns the
    /// new observation when it changed; the published state moves only by
    /// [`States::decide`]. A [`Verdict::LocalFault`] changes nothing.
    pub fn observe(&mut self, id: HealthId, verdict: impl Into<Verdict>) -> Option<bool> {
        let healthy = match verdict.into() {
            Verdict::Healthy => true,
            Verdict::Unhealthy => false,
            Verdict::LocalFault => return None,
        };
        if !self.is_probed(id) {
            return None;
        }
        let c = self.checks[id as usize].as_mut()?;
        if healthy == c.observed {
            c.streak = 0;
            return None;
        }
        c.streak = c.streak.saturating_add(1);
        if c.streak < c.threshold() {
            return None;
        }
        c.observed = healthy;
        c.streak = 0;
        Some(healthy)
    }

    /// Sets the measured state of endpoint check `id` to what the vote
    /// decided (`healthy`, before `invert`; with one node, its own
    /// observation), then applies `invert`, the override and `disabled`.
    /// Returns the transitions it causes, calculated parents included.
    pub fn decide(
        &mut self,
        id: HealthId,
        healthy: bool,
        reason: impl FnOnce() -> String,
        at: SystemTime,
    ) -> Vec<Transition> {
        let mut out = Vec::new();
        if !self.is_probed(id) {
            return out;
        }
        let Some(c) = self.checks[id as usize].as_mut() else {
            return out;
        };
        let result = healthy != c.spec.invert;
        if result == c.measured {
            return out;
        }
        let old = c.published();
        c.measured = result;
        let why = format!(
            "{}{}",
            reason(),
            if c.spec.invert { ", inverted" } else { "" }
        );
        self.changed(id, old, why, at, &mut out);
        out
    }

    /// Forces check `id` healthy or unhealthy (`Some`), or releases it to
    /// its measured state (`None`). Returns the transitions it causes.
    pub fn set_override(
        &mut self,
        id: HealthId,
        forced: Option<bool>,
        at: SystemTime,
    ) -> Vec<Transition> {
        let mut out = Vec::new();
        let Some(c) = self.checks.get_mut(id as usize).and_then(Option::as_mut) else {
            return out;
        };
        let old = c.published();
        c.forced = forced;
        let why = match forced {
            Some(true) => "operator override: healthy".to_string(),
            Some(false) => "operator override: unhealthy".to_string(),
            None => "operator override released".to_string(),
        };
        self.changed(id, old, why, at, &mut out);
        out
    }

    /// Emits a transition if `id`'s published state is no longer `old`,
    /// and recomputes the calculated checks that count it.
    fn changed(
        &mut self,
        id: HealthId,
        old: bool,
        reason: String,
        at: SystemTime,
        out: &mut Vec<Transition>,
    ) {
        let Some(c) = self.checks[id as usize].as_mut() else {
            return;
        };
        let new = c.published();
        if new == old {
            return;
        }
        c.last_change = Some(at);
        out.push(Transition {
            id,
            old,
            new,
            reason,
            at,
        });
        for p in self.parents[id as usize].clone() {
            self.recompute(p, at, out);
        }
    }

    /// Recomputes calculated check `id` from its children (no threshold:
    /// a child change is already a settled state).
    fn recompute(&mut self, id: HealthId, at: SystemTime, out: &mut Vec<Transition>) {
        let Some(c) = self.get(id) else {
            return;
        };
        let CheckKind::Calculated {
            healthy_threshold: needed,
            ..
        } = c.spec.kind
        else {
            return;
        };
        let healthy = c
            .children
            .iter()
            .filter(|&&child| self.published(child))
            .count();
        let total = c.children.len();
        let Some(c) = self.checks[id as usize].as_mut() else {
            return;
        };
        let result = (healthy as u64 >= u64::from(needed)) != c.spec.invert;
        if result == c.measured {
            return;
        }
        let old = c.published();
        c.measured = result;
        let why = format!(
            "{healthy} of {total} children healthy, {needed} needed{}",
            if c.spec.invert { ", inverted" } else { "" }
        );
        self.changed(id, old, why, at, out);
    }
}

/// A state in words.
pub fn word(healthy: bool) -> &'static str {
    if healthy { "healthy" } else { "unhealthy" }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::Target;

    fn endpoint(id: &str, threshold: u8) -> HealthCheckSpec {
        HealthCheckSpec {
            id: id.into(),
            kind: CheckKind::Tcp,
            target: Some(Target::Ip("192.0.2.1".parse().unwrap())),
            port: 80,
            path: "/".into(),
            host: None,
            sni: true,
            search: None,
            interval: Duration::from_secs(10),
            failure_threshold: threshold,
            timeout: Duration::from_secs(2),
            invert: false,
            disabled: false,
            healthy_percent: None,
        }
    }

    fn calculated(id: &str, children: &[&str], needed: u32) -> HealthCheckSpec {
        HealthCheckSpec {
            kind: CheckKind::Calculated {
                children: children.iter().map(|c| c.to_string()).collect(),
                healthy_threshold: needed,
            },
            target: None,
            ..endpoint(id, 3)
        }
    }

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(s)
    }

    /// Feeds `results` ('+' healthy, '-' unhealthy, '!' local fault) to
    /// one check and returns the published state after each, as '+'/'-'.
    fn run(spec: HealthCheckSpec, results: &str) -> String {
        let (mut s, start) = States::new(&[spec], t(0));
        assert!(start.is_empty());
        results
            .chars()
            .enumerate()
            .map(|(i, r)| {
                let verdict = match r {
                    '+' => Verdict::Healthy,
                    '-' => Verdict::Unhealthy,
                    _ => Verdict::LocalFault,
                };
                s.record(0, verdict, "probe", t(i as u64 + 1));
                if s.published(0) { '+' } else { '-' }
            })
            .collect()
    }

    #[test]
    fn threshold_table() {
        let inverted = |th| HealthCheckSpec {
            invert: true,
            ..endpoint("a", th)
        };
        let disabled = |invert| HealthCheckSpec {
            disabled: true,
            invert,
            ..endpoint("a", 1)
        };
        // (spec, results fed, published state after each)
        let cases = [
            // A new check starts healthy; it takes `threshold` disagreeing
            // results in a row to change, and one agreeing result resets.
            (endpoint("a", 3), "++--+---", "+++++++-"),
            (endpoint("a", 3), "---+++", "++---+"),
            (endpoint("a", 1), "-+-", "-+-"),
            (endpoint("a", 2), "-+-+--++", "+++++--+"),
            (endpoint("a", 10), "----------", "+++++++++-"),
            // Inverted: starts unhealthy; a failing endpoint is good news.
            (inverted(2), "++--", "---+"),
            (inverted(2), "--++", "-++-"),
            // Local faults are not results: a storm of them changes
            // nothing, and they neither break nor extend a streak.
            (endpoint("a", 1), "!!!!!!", "++++++"),
            (endpoint("a", 2), "-!-", "++-"),
            (endpoint("a", 2), "-!+-", "++++"),
            (endpoint("a", 3), "--!!!!-", "++++++-"),
            (endpoint("a", 1), "-!!+", "---+"),
            (inverted(1), "!!", "--"),
            // Disabled ignores every result.
            (disabled(false), "---", "+++"),
            (disabled(true), "+++", "---"),
        ];
        for (spec, results, want) in cases {
            assert_eq!(run(spec.clone(), results), want, "{results} on {spec:?}");
        }
    }

    #[test]
    fn the_observation_is_kept_apart_from_what_the_vote_decides() {
        let inverted = HealthCheckSpec {
            invert: true,
            ..endpoint("b", 2)
        };
        let (mut s, _) = States::new(&[endpoint("a", 2), inverted.clone()], t(0));
        // Observations follow the threshold, before invert, and move no
        // published state by themselves.
        assert_eq!(s.observe(0, false), None);
        assert_eq!(s.observe(0, false), Some(false));
        assert_eq!(s.observe(1, false), None);
        assert_eq!(s.observe(1, false), Some(false));
        assert!(s.published(0) && !s.published(1));
        assert!(!s.observed(0) && !s.observed(1));
        // The vote decides the measured state; invert applies after it.
        let t0 = s.decide(0, true, || "vote: 2 of 3 nodes healthy".into(), t(3));
        assert!(t0.is_empty() && s.published(0));
        let t1 = s.decide(1, false, || "vote: 0 of 3 nodes healthy".into(), t(3));
        assert_eq!(t1.len(), 1);
        assert!(s.published(1));
        assert_eq!(t1[0].reason, "vote: 0 of 3 nodes healthy, inverted");
        // An override still wins over the vote.
        s.set_override(0, Some(false), t(4));
        assert!(s.decide(0, true, || "vote".into(), t(5)).is_empty());
        assert!(!s.published(0));
        // Changing invert flips the decided state, not the observation.
        let flipped = HealthCheckSpec {
            invert: false,
            ..inverted
        };
        s.reconfigure(&[endpoint("a", 2), flipped], t(6), 10);
        assert!(!s.published(1) && !s.observed(1));
    }

    #[test]
    fn transition_names_the_deciding_result() {
        let (mut s, _) = States::new(&[endpoint("a", 2)], t(0));
        assert!(s.record(0, false, "HTTP 503", t(1)).is_empty());
        let tr = s.record(0, false, "HTTP 503", t(2));
        assert_eq!(
            tr,
            vec![Transition {
                id: 0,
                old: true,
                new: false,
                reason: "HTTP 503 (2 consecutive results)".into(),
                at: t(2),
            }]
        );
        assert_eq!(s.last_change(0), Some(t(2)));
    }

    #[test]
    fn override_forces_and_releases() {
        let (mut s, _) = States::new(&[endpoint("a", 1)], t(0));
        let tr = s.set_override(0, Some(false), t(1));
        assert_eq!(tr.len(), 1);
        assert_eq!(tr[0].reason, "operator override: unhealthy");
        assert!(!s.published(0));
        // Results keep being measured under the override but not published.
        s.record(0, false, "refused", t(2));
        assert!(!s.measured(0));
        assert!(s.record(0, true, "ok", t(3)).is_empty());
        assert!(!s.published(0) && s.measured(0));
        // Forcing what is already published changes nothing.
        assert!(s.set_override(0, Some(false), t(4)).is_empty());
        let tr = s.set_override(0, None, t(5));
        assert_eq!((tr[0].old, tr[0].new), (false, true));
        assert_eq!(tr[0].reason, "operator override released");
        assert_eq!(s.forced(0), None);
        // An override of a disabled check still wins.
        let (mut s, _) = States::new(
            &[HealthCheckSpec {
                disabled: true,
                ..endpoint("a", 1)
            }],
            t(0),
        );
        s.set_override(0, Some(false), t(1));
        assert!(!s.published(0));
    }

    #[test]
    fn calculated_counts_children() {
        // (children states, healthy_threshold, healthy?)
        let cases: &[(&[bool], u32, bool)] = &[
            (&[true, true, true], 2, true),
            (&[true, false, false], 2, false),
            (&[true, true, false], 2, true),
            (&[false, false, false], 0, true),
            (&[true, true, true], 4, false),
            (&[], 0, true),
            (&[], 1, false),
        ];
        for &(kids, needed, want) in cases {
            let mut specs: Vec<HealthCheckSpec> = (0..kids.len())
                .map(|i| endpoint(&format!("c{i}"), 1))
                .collect();
            let names: Vec<String> = specs.iter().map(|s| s.id.clone()).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            specs.push(calculated("calc", &names, needed));
            let calc = kids.len() as HealthId;
            let (mut s, _) = States::new(&specs, t(0));
            for (i, &k) in kids.iter().enumerate() {
                s.record(i as HealthId, k, "probe", t(1));
            }
            assert_eq!(s.published(calc), want, "{kids:?} need {needed}");
        }
    }

    #[test]
    fn calculated_follows_child_transitions_at_once() {
        let specs = [
            endpoint("a", 2),
            endpoint("b", 2),
            calculated("both", &["a", "b"], 2),
            HealthCheckSpec {
                invert: true,
                ..calculated("none", &["a", "b"], 1)
            },
        ];
        let (mut s, start) = States::new(&specs, t(0));
        // "none" is inverted: starts unhealthy, and computes unhealthy.
        assert!(start.is_empty());
        assert!(s.published(2) && !s.published(3));
        assert!(s.record(0, false, "refused", t(1)).is_empty());
        let tr = s.record(0, false, "refused", t(2));
        let ids: Vec<(HealthId, bool)> = tr.iter().map(|t| (t.id, t.new)).collect();
        assert_eq!(ids, vec![(0, false), (2, false)]);
        assert_eq!(tr[1].reason, "1 of 2 children healthy, 2 needed");
        s.record(1, false, "refused", t(3));
        let tr = s.record(1, false, "refused", t(4));
        let ids: Vec<(HealthId, bool)> = tr.iter().map(|t| (t.id, t.new)).collect();
        assert_eq!(ids, vec![(1, false), (3, true)]);
        // An override on a child counts as the child's state.
        let tr = s.set_override(0, Some(true), t(5));
        let ids: Vec<(HealthId, bool)> = tr.iter().map(|t| (t.id, t.new)).collect();
        assert_eq!(ids, vec![(0, true), (3, false)]);
    }

    fn seed_of(s: &States, id: HealthId) -> Option<Seed> {
        Some(Seed {
            measured: s.measured(id),
            forced: s.forced(id),
            last_change: s.last_change(id),
            observed: None,
        })
    }

    #[test]
    fn seeds_carry_state_over_and_recompute_calculated() {
        let specs = [
            endpoint("a", 3),
            endpoint("b", 3),
            calculated("c", &["a", "b"], 2),
        ];
        let (mut old, _) = States::new(&specs, t(0));
        for i in 1..=3 {
            old.record(0, false, "refused", t(i));
        }
        old.set_override(1, Some(false), t(4));
        assert!(!old.published(2));
        // The same checks again: nothing changes, nothing is reported.
        let (new, tr) = States::new_seeded(&specs, t(5), |id| seed_of(&old, id));
        assert!(tr.is_empty());
        assert!(!new.published(0) && !new.measured(0));
        assert_eq!(new.forced(1), Some(false));
        assert_eq!(new.last_change(0), Some(t(3)));
        assert!(!new.published(2));
        // `c` now needs one child only, but both are down: still down.
        // With `a` new (unseeded, healthy), `c` comes up at once.
        let mut specs2 = specs.clone();
        specs2[2] = calculated("c", &["a", "b"], 1);
        let (new, tr) = States::new_seeded(&specs2, t(6), |id| match id {
            0 => None,
            id => seed_of(&old, id),
        });
        assert!(new.published(0));
        assert_eq!(tr.len(), 1);
        assert_eq!((tr[0].id, tr[0].new), (2, true));
    }

    #[test]
    fn calculated_that_cannot_pass_goes_down_at_start() {
        let specs = [endpoint("a", 1), calculated("c", &["a"], 2)];
        let (s, start) = States::new(&specs, t(7));
        assert_eq!(start.len(), 1);
        assert_eq!((start[0].id, start[0].old, start[0].new), (1, true, false));
        assert_eq!(start[0].at, t(7));
        assert!(!s.published(1));
        // Probe results never move a calculated check directly.
        let mut s = s;
        assert!(s.record(1, true, "x", t(8)).is_empty());
    }

    /// The changes of a reconfiguration as `(slot, name, change)`.
    fn changes(r: &Reconfigured) -> Vec<(HealthId, &str, Change)> {
        r.changes
            .iter()
            .map(|c| (c.id, c.name.as_str(), c.change))
            .collect()
    }

    #[test]
    fn changing_one_check_leaves_the_others_streak_and_slot() {
        let specs = vec![endpoint("a", 3), endpoint("b", 3)];
        let (mut s, _) = States::new(&specs, t(0));
        s.record(0, false, "refused", t(1));
        s.record(0, false, "refused", t(2));
        assert_eq!(s.streak(0), 2);
        let mut specs2 = specs.clone();
        specs2[1].port = 8080;
        let r = s.reconfigure(&specs2, t(3), 100);
        assert_eq!(changes(&r), vec![(1, "b", Change::Restarted)]);
        assert_eq!(r.changes[0].fields, vec!["port"]);
        assert!(r.transitions.is_empty());
        // `a` is still at failure 2 of 3: the next failure decides.
        assert_eq!((s.slot("a"), s.streak(0)), (Some(0), 2));
        let tr = s.record(0, false, "refused", t(4));
        assert_eq!((tr[0].id, tr[0].new), (0, false));
        // The same specs again change nothing at all.
        let r = s.reconfigure(&specs2, t(5), 100);
        assert_eq!(r, Reconfigured::default());
    }

    #[test]
    fn freed_slots_are_reused_one_reconfiguration_later() {
        let (mut s, _) = States::new(&[endpoint("a", 1), endpoint("b", 1)], t(0));
        let r = s.reconfigure(&[endpoint("b", 1), endpoint("c", 1)], t(1), 100);
        assert_eq!(
            changes(&r),
            vec![(0, "a", Change::Removed), (2, "c", Change::Added)]
        );
        assert_eq!(s.name(0), None);
        assert!(s.published(0), "a free slot reads healthy");
        let specs = [endpoint("b", 1), endpoint("c", 1), endpoint("d", 1)];
        let r = s.reconfigure(&specs, t(2), 100);
        assert_eq!(changes(&r), vec![(0, "d", Change::Added)]);
        assert_eq!(s.ids().collect::<Vec<_>>(), vec![0, 1, 2]);
        // No slot past the capacity: the check is left out.
        let specs = [specs.as_slice(), &[endpoint("e", 1)]].concat();
        let r = s.reconfigure(&specs, t(3), 3);
        assert!(r.changes.is_empty() && s.slot("e").is_none());
    }

    #[test]
    fn an_update_keeps_or_restarts_and_says_so() {
        let down = |spec: HealthCheckSpec| {
            let (mut s, _) = States::new(&[spec], t(0));
            s.record(0, false, "refused", t(1));
            s.record(0, false, "refused", t(2));
            s
        };
        let base = endpoint("a", 2);
        // (what changes, change, published after, transition reason)
        let cases: Vec<(HealthCheckSpec, Change, bool, Option<&str>)> = vec![
            (
                HealthCheckSpec {
                    target: Some(Target::Ip("192.0.2.9".parse().unwrap())),
                    ..base.clone()
                },
                Change::Restarted,
                true,
                Some("check updated (target): starts over healthy"),
            ),
            (
                HealthCheckSpec {
                    kind: CheckKind::Http,
                    path: "/up".into(),
                    ..base.clone()
                },
                Change::Restarted,
                true,
                Some("check updated (type, path): starts over healthy"),
            ),
            (
                HealthCheckSpec {
                    interval: Duration::from_secs(30),
                    failure_threshold: 5,
                    timeout: Duration::from_secs(4),
                    ..base.clone()
                },
                Change::Kept,
                false,
                None,
            ),
            (
                HealthCheckSpec {
                    invert: true,
                    ..base.clone()
                },
                Change::Kept,
                true,
                Some("check updated (invert)"),
            ),
            (
                HealthCheckSpec {
                    disabled: true,
                    ..base.clone()
                },
                Change::Kept,
                true,
                Some("check updated (disabled)"),
            ),
            (
                HealthCheckSpec {
                    invert: true,
                    port: 81,
                    ..base.clone()
                },
                Change::Restarted,
                false,
                None,
            ),
        ];
        for (spec, change, healthy, reason) in cases {
            let mut s = down(base.clone());
            assert!(!s.published(0));
            let r = s.reconfigure(std::slice::from_ref(&spec), t(3), 10);
            assert_eq!(changes(&r), vec![(0, "a", change)], "{spec:?}");
            assert_eq!(s.published(0), healthy, "{spec:?}");
            let reasons: Vec<&str> = r.transitions.iter().map(|t| t.reason.as_str()).collect();
            assert_eq!(reasons, reason.into_iter().collect::<Vec<_>>(), "{spec:?}");
            if let Some(tr) = r.transitions.first() {
                assert_eq!((tr.old, tr.new, tr.at), (false, healthy, t(3)));
                assert_eq!(s.last_change(0), Some(t(3)));
            }
        }
        // Enabled again after being disabled: what it measured before is
        // stale, so it starts over.
        let (mut s, _) = States::new(
            &[HealthCheckSpec {
                disabled: true,
                ..base.clone()
            }],
            t(0),
        );
        let r = s.reconfigure(std::slice::from_ref(&base), t(1), 10);
        assert_eq!(changes(&r), vec![(0, "a", Change::Restarted)]);
        assert!(r.transitions.is_empty() && s.published(0));
        // An override outlives a restart.
        let mut s = down(base.clone());
        s.set_override(0, Some(false), t(3));
        let moved = HealthCheckSpec {
            port: 81,
            ..base.clone()
        };
        let r = s.reconfigure(&[moved], t(4), 10);
        assert!(r.transitions.is_empty());
        assert_eq!((s.forced(0), s.measured(0)), (Some(false), true));
    }

    #[test]
    fn updates_reach_calculated_parents() {
        let specs = vec![
            endpoint("a", 1),
            endpoint("b", 1),
            calculated("c", &["a"], 1),
        ];
        let (mut s, _) = States::new(&specs, t(0));
        s.record(0, false, "refused", t(1));
        assert!(!s.published(2));
        // `c` now counts `b` instead: it comes up, and says why.
        let mut specs2 = specs.clone();
        specs2[2] = calculated("c", &["b"], 1);
        let r = s.reconfigure(&specs2, t(2), 10);
        assert_eq!(changes(&r), vec![(2, "c", Change::Kept)]);
        assert_eq!(r.changes[0].fields, vec!["children"]);
        assert_eq!(r.transitions.len(), 1);
        assert_eq!(r.transitions[0].reason, "1 of 1 children healthy, 1 needed");
        // `b` moves and restarts healthy: nothing to report; `b` fails
        // again; restarted at another port, the child and its parent
        // both come back, each with a transition.
        specs2[1].port = 81;
        let r = s.reconfigure(&specs2, t(3), 10);
        assert!(r.transitions.is_empty());
        s.record(1, false, "refused", t(4));
        assert!(!s.published(1) && !s.published(2));
        specs2[1].port = 82;
        let r = s.reconfigure(&specs2, t(5), 10);
        let ids: Vec<(HealthId, bool)> = r.transitions.iter().map(|t| (t.id, t.new)).collect();
        assert_eq!(ids, vec![(1, true), (2, true)]);
        // A new calculated check computed down at once is a transition.
        specs2.push(calculated("d", &["a"], 1));
        let r = s.reconfigure(&specs2, t(6), 10);
        assert_eq!(changes(&r), vec![(3, "d", Change::Added)]);
        let ids: Vec<(HealthId, bool)> = r.transitions.iter().map(|t| (t.id, t.new)).collect();
        assert_eq!(ids, vec![(3, false)]);
    }
}
