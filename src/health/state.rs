//! The health state machine: turns probe results, child changes and operator
//! overrides into published states and transitions (SPEC §4).
//!
//! Pure: no I/O, no clock. Callers pass the time and get back the
//! [`Transition`]s to publish and log, so every rule is table-tested here.

use std::collections::HashMap;
use std::time::SystemTime;

use crate::model::{CheckKind, HealthCheckSpec};
use crate::snapshot::HealthId;

/// A change of a check's published state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// Which check (its index in the spec list).
    pub id: HealthId,
    /// Published state before.
    pub old: bool,
    /// Published state after.
    pub new: bool,
    /// Why, for humans: the deciding probe result, the children count, or
    /// the override.
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

/// A state carried over from an earlier [`States`] (see
/// [`States::new_seeded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seed {
    /// The measured state (after `invert`).
    pub measured: bool,
    /// The operator's override.
    pub forced: Option<bool>,
    /// When the published state last changed.
    pub last_change: Option<SystemTime>,
}

/// What a calculated check counts.
#[derive(Debug, Clone)]
struct Calculated {
    children: Vec<HealthId>,
    healthy_threshold: u32,
}

/// One check's state.
#[derive(Debug, Clone)]
struct CheckState {
    /// What the results say, after `invert` and the threshold.
    measured: bool,
    /// Consecutive results that disagree with `measured`.
    streak: u8,
    threshold: u8,
    invert: bool,
    disabled: bool,
    forced: Option<bool>,
    calculated: Option<Calculated>,
    last_change: Option<SystemTime>,
}

impl CheckState {
    fn published(&self) -> bool {
        match self.forced {
            Some(forced) => forced,
            None if self.disabled => !self.invert,
            None => self.measured,
        }
    }
}

/// The states of every check of one spec list.
#[derive(Debug, Clone)]
pub struct States {
    checks: Vec<CheckState>,
    /// For each check, the calculated checks that count it.
    parents: Vec<Vec<HealthId>>,
}

impl States {
    /// Every check in its starting state: healthy, unhealthy if inverted;
    /// calculated checks computed from their children at once. Returns the
    /// transitions of calculated checks whose first computation disagrees
    /// with the starting state (the health table starts at `!invert`).
    pub fn new(specs: &[HealthCheckSpec], at: SystemTime) -> (States, Vec<Transition>) {
        States::new_seeded(specs, at, |_| None)
    }

    /// As [`States::new`], but checks for which `seed` answers start from
    /// that state instead (a reload keeps what was already known, so a dead
    /// endpoint does not come back as healthy for interval × threshold).
    /// Calculated checks are then recomputed; only real changes are
    /// returned as transitions.
    pub fn new_seeded(
        specs: &[HealthCheckSpec],
        at: SystemTime,
        seed: impl Fn(HealthId) -> Option<Seed>,
    ) -> (States, Vec<Transition>) {
        let index: HashMap<&str, HealthId> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i as HealthId))
            .collect();
        let mut parents = vec![Vec::new(); specs.len()];
        let checks = specs
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let calculated = match &spec.kind {
                    CheckKind::Calculated {
                        children,
                        healthy_threshold,
                    } => {
                        let children: Vec<HealthId> = children
                            .iter()
                            .filter_map(|c| {
                                let id = *index.get(c.as_str())?;
                                // Children are endpoint checks (SPEC §4; the
                                // config enforces it): skipping others keeps
                                // propagation one level deep and cycle-free.
                                let endpoint = !matches!(
                                    specs[id as usize].kind,
                                    CheckKind::Calculated { .. }
                                );
                                endpoint.then_some(id)
                            })
                            .collect();
                        for &c in &children {
                            parents[c as usize].push(i as HealthId);
                        }
                        Some(Calculated {
                            children,
                            healthy_threshold: *healthy_threshold,
                        })
                    }
                    _ => None,
                };
                let seed = seed(i as HealthId);
                CheckState {
                    measured: seed.map_or(!spec.invert, |s| s.measured),
                    streak: 0,
                    threshold: spec.failure_threshold.max(1),
                    invert: spec.invert,
                    disabled: spec.disabled,
                    forced: seed.and_then(|s| s.forced),
                    calculated,
                    last_change: seed.and_then(|s| s.last_change),
                }
            })
            .collect();
        let mut states = States { checks, parents };
        let mut out = Vec::new();
        for id in 0..states.checks.len() as HealthId {
            if states.checks[id as usize].calculated.is_some() {
                states.recompute(id, at, &mut out);
            }
        }
        (states, out)
    }

    /// Number of checks.
    pub fn len(&self) -> usize {
        self.checks.len()
    }

    /// True when there are no checks.
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// The state DNS answers should follow.
    pub fn published(&self, id: HealthId) -> bool {
        self.checks
            .get(id as usize)
            .is_none_or(CheckState::published)
    }

    /// The state the results alone give (after `invert`), override aside.
    pub fn measured(&self, id: HealthId) -> bool {
        self.checks.get(id as usize).is_none_or(|c| c.measured)
    }

    /// The operator's override, if any.
    pub fn forced(&self, id: HealthId) -> Option<bool> {
        self.checks.get(id as usize).and_then(|c| c.forced)
    }

    /// When the published state last changed; `None` if never.
    pub fn last_change(&self, id: HealthId) -> Option<SystemTime> {
        self.checks.get(id as usize).and_then(|c| c.last_change)
    }

    /// What a successor should start from for check `id`.
    pub fn seed(&self, id: HealthId) -> Option<Seed> {
        self.checks.get(id as usize).map(|c| Seed {
            measured: c.measured,
            forced: c.forced,
            last_change: c.last_change,
        })
    }

    /// Whether `id` is probed: an endpoint check that is not disabled.
    pub fn is_probed(&self, id: HealthId) -> bool {
        self.checks
            .get(id as usize)
            .is_some_and(|c| c.calculated.is_none() && !c.disabled)
    }

    /// Feeds one probe result of endpoint check `id` (before `invert`; a
    /// `bool` is healthy or not). Returns the transitions it causes, the
    /// check's own first, then its calculated parents'. A
    /// [`Verdict::LocalFault`] changes nothing.
    pub fn record(
        &mut self,
        id: HealthId,
        verdict: impl Into<Verdict>,
        reason: &str,
        at: SystemTime,
    ) -> Vec<Transition> {
        let mut out = Vec::new();
        let healthy = match verdict.into() {
            Verdict::Healthy => true,
            Verdict::Unhealthy => false,
            Verdict::LocalFault => return out,
        };
        if !self.is_probed(id) {
            return out;
        }
        let c = &mut self.checks[id as usize];
        let result = healthy != c.invert;
        if result == c.measured {
            c.streak = 0;
            return out;
        }
        c.streak += 1;
        if c.streak < c.threshold {
            return out;
        }
        let old = c.published();
        c.measured = result;
        c.streak = 0;
        let why = format!(
            "{reason}{} ({} consecutive result{})",
            if c.invert { ", inverted" } else { "" },
            c.threshold,
            if c.threshold == 1 { "" } else { "s" }
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
        let Some(c) = self.checks.get_mut(id as usize) else {
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
        let c = &mut self.checks[id as usize];
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
        let Some(calc) = &self.checks[id as usize].calculated else {
            return;
        };
        let healthy = calc
            .children
            .iter()
            .filter(|&&c| self.checks[c as usize].published())
            .count();
        let needed = calc.healthy_threshold;
        let total = calc.children.len();
        let c = &mut self.checks[id as usize];
        let result = (healthy as u64 >= u64::from(needed)) != c.invert;
        if result == c.measured {
            return;
        }
        let old = c.published();
        c.measured = result;
        let why = format!(
            "{healthy} of {total} children healthy, {needed} needed{}",
            if c.invert { ", inverted" } else { "" }
        );
        self.changed(id, old, why, at, out);
    }
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
        let (new, tr) = States::new_seeded(&specs, t(5), |id| old.seed(id));
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
            id => old.seed(id),
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
}
