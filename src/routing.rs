//! Answer selection: which records of a group a query gets, given their
//! health and a random source (SPEC §3, Route 53's semantics).
//!
//! Architecture invariant: pure. No I/O, no clock, no global RNG: the
//! caller passes the health lookup and the RNG, so tests are deterministic.

use rand::Rng;

use crate::model::{FailoverRole, MULTIVALUE_MAX_ANSWERS, Policy};
use domain::base::Ttl;
use domain::base::iana::Rtype;

use crate::model::{DName, Location, Place};
use crate::snapshot::{Alias, HealthId, Record, RecordSet, Snapshot, Zone};

/// Where the client asking is, for geolocation routing.
pub trait Locate {
    /// The client's place; `None` when it is not known. Asked only by a
    /// geolocation group with a location other than the default, so an
    /// implementation may look it up lazily (and note that the answer
    /// depended on it).
    fn place(&self) -> Option<Place>;
}

/// A client whose place is not known: geolocation groups answer with
/// their default (`*`) record. What zone transfers and the explain
/// endpoint see.
pub struct Unlocated;

impl Locate for Unlocated {
    fn place(&self) -> Option<Place> {
        None
    }
}

/// A client at a known place (tests, the explain endpoint).
impl Locate for Place {
    fn place(&self) -> Option<Place> {
        Some(*self)
    }
}
/// Whether a record counts as healthy for routing.
pub trait Health {
    /// The health of `record`; a record without a check is healthy.
    fn record(&self, record: &Record) -> bool;
}

/// Health by check id alone: aliases count as healthy.
impl<F: Fn(HealthId) -> bool> Health for F {
    fn record(&self, record: &Record) -> bool {
        record.health.is_none_or(self)
    }
}

/// Most aliases followed for one answer, or one health evaluation: a
/// loop of aliases answers nothing instead of spinning.
pub const MAX_ALIAS_HOPS: u8 = 8;

/// Where alias targets are looked up: the whole snapshot (queries), or one
/// zone (what the zone transfers; aliases point within their zone).
pub trait AliasTargets {
    /// The record set `alias` answers with, if it exists.
    fn alias_target(&self, alias: &Alias) -> Option<&RecordSet>;
}

impl AliasTargets for Snapshot {
    fn alias_target(&self, alias: &Alias) -> Option<&RecordSet> {
        Snapshot::alias_target(self, alias)
    }
}

impl AliasTargets for Zone {
    fn alias_target(&self, alias: &Alias) -> Option<&RecordSet> {
        Zone::alias_target(self, alias)
    }
}

/// Health as a query sees it: checks by id, and, for an alias that
/// evaluates its target, whether the target has a healthy answer at that
/// moment (Route 53's EvaluateTargetHealth).
pub struct Live<'a, F, T: ?Sized = Snapshot> {
    targets: &'a T,
    checks: &'a F,
    /// Where the client is: an alias to a geolocation group is healthy
    /// when the target's record for this client is.
    client: &'a dyn Locate,
    depth: u8,
}

// By hand: a derive would ask `F: Copy`, and only references are held.
impl<F, T: ?Sized> Clone for Live<'_, F, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<F, T: ?Sized> Copy for Live<'_, F, T> {}

impl<'a, F: Fn(HealthId) -> bool, T: AliasTargets + ?Sized> Live<'a, F, T> {
    /// Health with aliases looked up in `targets`, with `checks` telling
    /// whether a check passes.
    pub fn new(targets: &'a T, checks: &'a F) -> Live<'a, F, T> {
        Live::for_client(targets, checks, &Unlocated)
    }

    /// As [`Live::new`], for a client at the place `client` knows.
    pub fn for_client(targets: &'a T, checks: &'a F, client: &'a dyn Locate) -> Live<'a, F, T> {
        Live {
            targets,
            checks,
            client,
            depth: 0,
        }
    }

    /// Whether `set` has a record that answers and is healthy.
    fn has_healthy_answer(&self, set: &RecordSet) -> bool {
        let group = Group::of(set, self, self.client);
        set.records.iter().enumerate().any(|(i, r)| {
            let healthy = self.record(r);
            healthy && group.standing(i, r, healthy).eligible()
        })
    }
}

impl<F: Fn(HealthId) -> bool, T: AliasTargets + ?Sized> Health for Live<'_, F, T> {
    fn record(&self, record: &Record) -> bool {
        if !record.health.is_none_or(self.checks) {
            return false;
        }
        match &record.alias {
            Some(alias) if alias.evaluate_target_health => {
                let deeper = Live {
                    depth: self.depth + 1,
                    ..*self
                };
                self.depth < MAX_ALIAS_HOPS
                    && self
                        .targets
                        .alias_target(alias)
                        .is_some_and(|target| deeper.has_healthy_answer(target))
            }
            _ => true,
        }
    }
}

/// [`select`], following aliases: the picks in `out` are of the returned
/// set, the one that answers. `None` (and no picks) when an alias leads
/// to no records of its type, or past [`MAX_ALIAS_HOPS`].
pub fn select_through_aliases<'s, R: Rng + ?Sized, F: Fn(HealthId) -> bool>(
    snapshot: &'s Snapshot,
    mut set: &'s RecordSet,
    checks: &F,
    client: &dyn Locate,
    rng: &mut R,
    out: &mut Vec<Pick>,
) -> Option<&'s RecordSet> {
    let live = Live::for_client(snapshot, checks, client);
    for _ in 0..=MAX_ALIAS_HOPS {
        select(set, live, client, rng, out);
        let chosen = match set.policy {
            Policy::Simple => set.records.first(),
            _ => out.first().map(|p| &set.records[p.record as usize]),
        };
        let Some(alias) = chosen.and_then(|r| r.alias.as_ref()) else {
            return Some(set);
        };
        match snapshot.alias_target(alias) {
            Some(target) => set = target,
            None => break,
        }
    }
    out.clear();
    None
}

/// One chosen value: `records[record].values[value]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    /// Index of the record in its set.
    pub record: u16,
    /// Index of the value in the record.
    pub value: u16,
}

/// Upper bound on records in a group that selection works over on the
/// stack; validation caps groups at 100.
const MAX_CANDIDATES: usize = 128;

/// Where one record of a group stands right now: whether the next query
/// may be answered with it, and why. The one statement of the routing
/// rules: [`select`] answers from it and the explain endpoint reports it,
/// so the two cannot disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Simple routing: every value is answered.
    Simple,
    /// Multivalue or weighted: healthy, so a candidate.
    Healthy,
    /// Multivalue or weighted: unhealthy, but so is every record, so all
    /// are candidates (fail open, as Route 53).
    FailOpen,
    /// Multivalue or weighted: unhealthy while others are healthy.
    Unhealthy,
    /// Weighted: weight 0, left out while a record of non-zero weight is a
    /// candidate.
    WeightZero,
    /// Failover: the record answering now (`healthy` tells whether it is
    /// answering because it is healthy or because everything failed).
    Active {
        /// Its own health.
        healthy: bool,
    },
    /// Failover: not answering (the other record is active).
    Standby {
        /// Its own health.
        healthy: bool,
    },
}

impl Standing {
    /// Whether a query can be answered with this record.
    pub fn eligible(self) -> bool {
        matches!(
            self,
            Standing::Simple | Standing::Healthy | Standing::FailOpen | Standing::Active { .. }
        )
    }
}

/// What the rules need to know of the whole group, computed once.
#[derive(Debug, Clone, Copy)]
pub struct Group {
    policy: Policy,
    any_healthy: bool,
    /// Failover and geolocation: the active record.
    active: Option<usize>,
    /// Weighted: whether a candidate of non-zero weight exists.
    weighted_positive: bool,
}

impl Group {
    /// Looks at every record of `set` once; a geolocation group asks
    /// `client` where the client is.
    pub fn of(set: &RecordSet, healthy: &impl Health, client: &dyn Locate) -> Group {
        let records = &set.records[..set.records.len().min(MAX_CANDIDATES)];
        let is_healthy = |r: &Record| healthy.record(r);
        // Simple and failover routing never ask it; failover finds its
        // own active record below.
        let any_healthy = matches!(set.policy, Policy::Multivalue | Policy::Weighted)
            && records.iter().any(is_healthy);
        let active = if set.policy == Policy::Geolocation {
            geolocation_active(records, client, is_healthy)
        } else if set.policy == Policy::Failover {
            let find = |role| records.iter().position(|r| r.failover == Some(role));
            match (find(FailoverRole::Primary), find(FailoverRole::Secondary)) {
                (Some(p), _) if is_healthy(&records[p]) => Some(p),
                (_, Some(s)) if is_healthy(&records[s]) => Some(s),
                // Both unhealthy: the primary answers (Route 53).
                (Some(p), _) => Some(p),
                (None, s) => s,
            }
        } else {
            None
        };
        // Only weighted routing needs it: a pass less on the hot path for
        // the others.
        let weighted_positive = set.policy == Policy::Weighted
            && records
                .iter()
                .any(|r| r.weight > 0 && (!any_healthy || is_healthy(r)));
        Group {
            policy: set.policy,
            any_healthy,
            active,
            weighted_positive,
        }
    }

    /// The standing of record `index`, whose own health is `healthy`.
    pub fn standing(&self, index: usize, record: &Record, healthy: bool) -> Standing {
        match self.policy {
            Policy::Simple => Standing::Simple,
            Policy::Failover | Policy::Geolocation if self.active == Some(index) => {
                Standing::Active { healthy }
            }
            Policy::Failover | Policy::Geolocation => Standing::Standby { healthy },
            Policy::Multivalue | Policy::Weighted => {
                if !healthy && self.any_healthy {
                    Standing::Unhealthy
                } else if self.policy == Policy::Weighted
                    && record.weight == 0
                    && self.weighted_positive
                {
                    Standing::WeightZero
                } else if healthy {
                    Standing::Healthy
                } else {
                    Standing::FailOpen
                }
            }
        }
    }
}

/// The record of a geolocation group that answers a client: of the
/// records whose location holds the client, the smallest region's that
/// is healthy (subdivision, then country, continent, the default `*`);
/// when none is healthy, the smallest region's (Route 53 then takes every
/// record as healthy). `None` when no record holds the client (no `*`).
fn geolocation_active(
    records: &[Record],
    client: &dyn Locate,
    is_healthy: impl Fn(&Record) -> bool,
) -> Option<usize> {
    // A group of the default location alone answers the same anywhere:
    // it does not ask where the client is.
    let located = records.iter().any(|r| {
        r.location
            .as_deref()
            .is_some_and(|l| *l != Location::Default)
    });
    let place = if located { client.place() } else { None };
    // By rank: at most one record per location (validation).
    let mut fitting: [Option<usize>; 4] = [None; 4];
    for (i, r) in records.iter().enumerate() {
        if let Some(rank) = r.location.as_deref().and_then(|l| l.rank(place.as_ref())) {
            fitting[usize::from(rank)].get_or_insert(i);
        }
    }
    let mut candidates = fitting.iter().flatten().copied();
    let smallest = candidates.clone().next();
    candidates.find(|&i| is_healthy(&records[i])).or(smallest)
}

/// One record of a zone as the zone answers now.
#[derive(Debug, Clone, Copy)]
pub struct Current<'a> {
    /// Owner name.
    pub owner: &'a DName,
    /// TTL.
    pub ttl: Ttl,
    /// The value.
    pub data: &'a crate::snapshot::Value,
}

/// Every record of `zone` but its SOA that a query may be answered with
/// now: each value of a simple record, the eligible records of a routed
/// group ([`Standing::eligible`]). What a zone transfer carries, and what
/// its serial follows.
pub fn zone_now<'a>(zone: &'a Zone, healthy: &impl Fn(HealthId) -> bool) -> Vec<Current<'a>> {
    let live = Live::new(zone, healthy);
    let mut out = Vec::new();
    for node in zone.nodes() {
        for set in &node.sets {
            if set.rtype == Rtype::SOA {
                continue;
            }
            current_of(zone, &node.name, set, live, 0, &mut out);
        }
    }
    out
}

/// The eligible records of `set`, as `owner`'s; an alias stands for what
/// its target answers now (with the target's TTLs, as Route 53 answers
/// an alias), so a secondary serves the alias name as queries see it.
fn current_of<'a, F: Fn(HealthId) -> bool>(
    zone: &'a Zone,
    owner: &'a DName,
    set: &'a RecordSet,
    live: Live<'_, F, Zone>,
    depth: u8,
    out: &mut Vec<Current<'a>>,
) {
    let group = Group::of(set, &live, &Unlocated);
    for (i, record) in set.records.iter().enumerate() {
        if !group.standing(i, record, live.record(record)).eligible() {
            continue;
        }
        match &record.alias {
            Some(alias) => {
                if let Some(target) = zone.alias_target(alias).filter(|_| depth < MAX_ALIAS_HOPS) {
                    current_of(zone, owner, target, live, depth + 1, out);
                }
            }
            None => out.extend(record.values.iter().map(|data| Current {
                owner,
                ttl: record.ttl,
                data,
            })),
        }
    }
}

/// Fills `out` with the values `set` answers with right now, for the
/// client `client` locates.
///
/// `healthy` tells whether a health check passes; records without one are
/// healthy. `out` is cleared first and, once grown, never reallocates.
pub fn select<R: Rng + ?Sized>(
    set: &RecordSet,
    healthy: impl Health,
    client: &dyn Locate,
    rng: &mut R,
    out: &mut Vec<Pick>,
) {
    out.clear();
    let group = Group::of(set, &healthy, client);
    let records = &set.records[..set.records.len().min(MAX_CANDIDATES)];
    let eligible = |(i, r): &(usize, &Record)| group.standing(*i, r, healthy.record(r)).eligible();
    let pick = |i: usize| Pick {
        record: i as u16,
        value: 0,
    };
    match set.policy {
        Policy::Simple => {
            let Some(record) = set.records.first() else {
                return;
            };
            out.extend((0..record.values.len()).map(|v| Pick {
                record: 0,
                value: v as u16,
            }));
            let n = out.len();
            shuffle_prefix(out, n, rng);
        }
        Policy::Multivalue => {
            out.extend(
                records
                    .iter()
                    .enumerate()
                    .filter(eligible)
                    .map(|(i, _)| pick(i)),
            );
            let n = out.len().min(MULTIVALUE_MAX_ANSWERS);
            shuffle_prefix(out, n, rng);
            out.truncate(n);
        }
        Policy::Failover | Policy::Geolocation => out.extend(group.active.map(pick)),
        Policy::Weighted => {
            let total: u32 = records
                .iter()
                .enumerate()
                .filter(eligible)
                .map(|(_, r)| u32::from(r.weight))
                .sum();
            let chosen = if total > 0 {
                let mut ticket = rng.random_range(0..total);
                records
                    .iter()
                    .enumerate()
                    .filter(eligible)
                    .find_map(|(i, r)| {
                        let w = u32::from(r.weight);
                        if ticket < w {
                            Some(i)
                        } else {
                            ticket -= w;
                            None
                        }
                    })
            } else {
                // Every candidate weighs zero: uniform among them.
                let n = records.iter().enumerate().filter(eligible).count();
                (n > 0).then(|| {
                    let k = rng.random_range(0..n);
                    records
                        .iter()
                        .enumerate()
                        .filter(eligible)
                        .nth(k)
                        .map_or(0, |(i, _)| i)
                })
            };
            out.extend(chosen.map(pick));
        }
    }
}

/// Moves a uniformly random `n`-permutation of `items` to its front
/// (the first `n` steps of Fisher-Yates).
fn shuffle_prefix<T, R: Rng + ?Sized>(items: &mut [T], n: usize, rng: &mut R) {
    let len = items.len();
    for i in 0..n.min(len.saturating_sub(1)) {
        let j = rng.random_range(i..len);
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::base::Ttl;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn record(i: usize, health: Option<HealthId>) -> Record {
        Record {
            set: Some(format!("r{i}").into()),
            ttl: Ttl::from_secs(60),
            values: crate::snapshot::Values::One(crate::snapshot::Value::A(
                std::net::Ipv4Addr::new(192, 0, 2, i as u8).into(),
            )),
            health,
            failover: None,
            weight: 0,
            alias: None,
            location: None,
        }
    }

    fn set(policy: Policy, records: Vec<Record>) -> RecordSet {
        RecordSet {
            rtype: domain::base::iana::Rtype::A,
            policy,
            records: records.into(),
        }
    }

    /// Group of `n` records, each with its own check id = index.
    fn multivalue(n: usize) -> RecordSet {
        set(
            Policy::Multivalue,
            (0..n).map(|i| record(i, Some(i as HealthId))).collect(),
        )
    }

    fn run(set: &RecordSet, unhealthy: &[HealthId], seed: u64) -> Vec<u16> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut out = Vec::new();
        select(
            set,
            |h| !unhealthy.contains(&h),
            &Unlocated,
            &mut rng,
            &mut out,
        );
        out.iter().map(|p| p.record).collect()
    }

    #[test]
    fn multivalue_table() {
        // (records, unhealthy ids, expected answer count, must all be healthy)
        let cases: &[(usize, &[HealthId], usize, bool)] = &[
            (3, &[], 3, true),
            (8, &[], 8, true),
            (12, &[], 8, true),
            (12, &[0, 1, 2], 8, true),
            (10, &[0, 1, 2, 3, 4], 5, true),
            (4, &[0, 1, 2, 3], 4, false), // fail open: all of them
            (12, &(0..12).collect::<Vec<_>>(), 8, false),
            (0, &[], 0, true),
        ];
        for (i, &(n, bad, want, only_healthy)) in cases.iter().enumerate() {
            for seed in 0..50 {
                let got = run(&multivalue(n), bad, seed);
                assert_eq!(got.len(), want, "case {i} seed {seed}");
                let mut dedup = got.clone();
                dedup.sort();
                dedup.dedup();
                assert_eq!(dedup.len(), got.len(), "case {i}: duplicates in {got:?}");
                if only_healthy {
                    assert!(
                        got.iter().all(|r| !bad.contains(&u32::from(*r))),
                        "case {i}: {got:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn multivalue_choice_is_uniform_over_healthy_records() {
        let group = multivalue(12);
        let mut rng = SmallRng::seed_from_u64(7);
        let mut out = Vec::new();
        let mut counts = [0u32; 12];
        let mut first = [0u32; 12];
        let rounds = 6000;
        for _ in 0..rounds {
            select(&group, |h| h >= 3, &Unlocated, &mut rng, &mut out);
            for p in &out {
                counts[p.record as usize] += 1;
            }
            first[out[0].record as usize] += 1;
        }
        // 9 healthy, 8 chosen each time: each appears in 8/9 of answers.
        let expected = rounds as f64 * 8.0 / 9.0;
        for (i, &c) in counts.iter().enumerate() {
            if i < 3 {
                assert_eq!(c, 0, "unhealthy record {i} answered");
            } else {
                assert!(
                    (c as f64 - expected).abs() < expected * 0.05,
                    "record {i}: {c} vs {expected}"
                );
            }
        }
        // Order is random too: each healthy record leads about 1/9 of the time.
        for &f in &first[3..] {
            let e = rounds as f64 / 9.0;
            assert!((f as f64 - e).abs() < e * 0.25, "first position {f} vs {e}");
        }
    }

    #[test]
    fn simple_returns_every_value_in_random_order() {
        let mut r = record(0, None);
        r.values = (1..=4)
            .map(|i| crate::model::RData::A(std::net::Ipv4Addr::new(192, 0, 2, i).into()))
            .collect();
        let group = set(Policy::Simple, vec![r]);
        let mut rng = SmallRng::seed_from_u64(1);
        let mut out = Vec::new();
        let mut orders = std::collections::HashSet::new();
        for _ in 0..200 {
            select(&group, |_| true, &Unlocated, &mut rng, &mut out);
            let mut values: Vec<u16> = out.iter().map(|p| p.value).collect();
            orders.insert(values.clone());
            values.sort();
            assert_eq!(values, [0, 1, 2, 3]);
        }
        assert!(orders.len() > 12, "only {} orders seen", orders.len());
    }

    fn failover(primary_check: Option<HealthId>, secondary_check: Option<HealthId>) -> RecordSet {
        let mut p = record(0, primary_check);
        p.failover = Some(FailoverRole::Primary);
        let mut s = record(1, secondary_check);
        s.failover = Some(FailoverRole::Secondary);
        set(Policy::Failover, vec![p, s])
    }

    #[test]
    fn failover_table() {
        // (primary check, secondary check, unhealthy ids, expected record)
        type Case<'a> = (Option<HealthId>, Option<HealthId>, &'a [HealthId], u16);
        let cases: &[Case] = &[
            (Some(0), Some(1), &[], 0),
            (Some(0), Some(1), &[0], 1),
            (Some(0), Some(1), &[0, 1], 0), // both down: primary
            (Some(0), None, &[0], 1),       // unchecked secondary is healthy
            (Some(0), Some(1), &[1], 0),
        ];
        for (i, &(p, s, bad, want)) in cases.iter().enumerate() {
            assert_eq!(run(&failover(p, s), bad, 0), [want], "case {i}");
        }
    }

    fn weighted(weights: &[u8]) -> RecordSet {
        set(
            Policy::Weighted,
            weights
                .iter()
                .enumerate()
                .map(|(i, &w)| {
                    let mut r = record(i, Some(i as HealthId));
                    r.weight = w;
                    r
                })
                .collect(),
        )
    }

    fn shares(group: &RecordSet, unhealthy: &[HealthId], rounds: u32) -> Vec<f64> {
        let mut rng = SmallRng::seed_from_u64(42);
        let mut out = Vec::new();
        let mut counts = vec![0u32; group.records.len()];
        for _ in 0..rounds {
            select(
                group,
                |h| !unhealthy.contains(&h),
                &Unlocated,
                &mut rng,
                &mut out,
            );
            assert_eq!(out.len(), 1);
            counts[out[0].record as usize] += 1;
        }
        counts.iter().map(|&c| c as f64 / rounds as f64).collect()
    }

    #[test]
    fn weighted_shares_follow_weights() {
        let s = shares(&weighted(&[1, 3, 0]), &[], 20_000);
        assert!((s[0] - 0.25).abs() < 0.02, "{s:?}");
        assert!((s[1] - 0.75).abs() < 0.02, "{s:?}");
        assert_eq!(s[2], 0.0);
    }

    #[test]
    fn weight_zero_answers_only_when_nonzero_records_are_down() {
        let s = shares(&weighted(&[5, 0, 0]), &[0], 10_000);
        assert_eq!(s[0], 0.0);
        assert!((s[1] - 0.5).abs() < 0.03, "{s:?}");
    }

    #[test]
    fn all_zero_weights_are_uniform() {
        let s = shares(&weighted(&[0, 0]), &[], 10_000);
        assert!((s[0] - 0.5).abs() < 0.03, "{s:?}");
    }

    #[test]
    fn all_unhealthy_weighted_acts_as_all_healthy() {
        let s = shares(&weighted(&[1, 1]), &[0, 1], 10_000);
        assert!((s[0] - 0.5).abs() < 0.03, "{s:?}");
    }

    #[test]
    fn select_answers_exactly_from_the_records_classify_calls_eligible() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        let policy = prop_oneof![
            Just(Policy::Multivalue),
            Just(Policy::Failover),
            Just(Policy::Weighted)
        ];
        // Up to 14 records: (healthy, weight, role), health id = index.
        let group = proptest::collection::vec((any::<bool>(), 0u8..4, any::<bool>()), 0..14);
        let mut runner = TestRunner::new(Config {
            cases: 500,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&(policy, group, any::<u64>()), |(policy, spec, seed)| {
                let mut records: Vec<Record> = Vec::new();
                for (i, (_, weight, primary)) in spec.iter().enumerate() {
                    let mut r = record(i, Some(i as HealthId));
                    r.weight = *weight;
                    if policy == Policy::Failover {
                        let taken = |role| records.iter().any(|r| r.failover == Some(role));
                        let role = if *primary {
                            FailoverRole::Primary
                        } else {
                            FailoverRole::Secondary
                        };
                        if taken(role) {
                            continue;
                        }
                        r.failover = Some(role);
                    }
                    records.push(r);
                }
                let healthy_of = |h: HealthId| spec[h as usize].0;
                let group_set = set(policy, records);
                let group = Group::of(&group_set, &healthy_of, &Unlocated);
                let eligible: Vec<u16> = group_set
                    .records
                    .iter()
                    .enumerate()
                    .filter(|(i, r)| {
                        group
                            .standing(*i, r, r.health.is_none_or(healthy_of))
                            .eligible()
                    })
                    .map(|(i, _)| i as u16)
                    .collect();
                let mut rng = SmallRng::seed_from_u64(seed);
                let mut out = Vec::new();
                let mut seen = std::collections::BTreeSet::new();
                for _ in 0..64 {
                    select(&group_set, healthy_of, &Unlocated, &mut rng, &mut out);
                    let want = match policy {
                        Policy::Multivalue => eligible.len().min(MULTIVALUE_MAX_ANSWERS),
                        _ => usize::from(!eligible.is_empty()),
                    };
                    prop_assert_eq!(out.len(), want, "{:?} {:?}", policy, spec);
                    seen.extend(out.iter().map(|p| p.record));
                }
                prop_assert!(
                    seen.iter().all(|r| eligible.contains(r)),
                    "{:?}: {:?} not within {:?}",
                    policy,
                    seen,
                    eligible
                );
                // Every eligible record of positive weight (or any, outside
                // weighted routing) turns up in 64 draws of at most 14.
                if policy != Policy::Weighted {
                    let all: std::collections::BTreeSet<u16> = eligible.iter().copied().collect();
                    prop_assert_eq!(seen, all);
                }
                Ok(())
            })
            .unwrap();
    }

    fn geolocation(with_default: bool) -> RecordSet {
        use crate::model::Location;
        let mut locations = vec![
            Location::Subdivision("US".into(), "CA".into()),
            Location::Country("US".into()),
            Location::Continent("NA".into()),
            Location::Country("JP".into()),
        ];
        if with_default {
            locations.push(Location::Default);
        }
        let records = locations
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                let mut r = record(i, Some(i as HealthId));
                r.location = Some(Box::new(l));
                r
            })
            .collect();
        set(Policy::Geolocation, records)
    }

    fn at(place: &str) -> crate::model::Place {
        let mut parts = place.split('/').map(crate::model::Code::new);
        let mut next = || parts.next().unwrap_or_default();
        crate::model::Place {
            continent: next(),
            country: next(),
            subdivision: next(),
        }
    }

    #[test]
    fn geolocation_table() {
        // (client place, unhealthy ids, with a default, expected record)
        // Records: 0 US-CA, 1 US, 2 NA, 3 JP, 4 *.
        type Case<'a> = (Option<&'a str>, &'a [HealthId], bool, Option<u16>);
        let cases: &[Case] = &[
            (Some("NA/US/CA"), &[], true, Some(0)),
            (Some("NA/US/NY"), &[], true, Some(1)),
            (Some("NA/CA"), &[], true, Some(2)),
            (Some("AS/JP"), &[], true, Some(3)),
            (Some("EU/DE"), &[], true, Some(4)),
            (None, &[], true, Some(4)),
            // Unhealthy: the next broader region that is healthy.
            (Some("NA/US/CA"), &[0], true, Some(1)),
            (Some("NA/US/CA"), &[0, 1], true, Some(2)),
            (Some("NA/US/CA"), &[0, 1, 2], true, Some(4)),
            (Some("AS/JP"), &[3], true, Some(4)),
            // Every fitting record unhealthy: the smallest region's.
            (Some("NA/US/CA"), &[0, 1, 2, 4], true, Some(0)),
            (Some("AS/JP"), &[3, 4], true, Some(3)),
            // A record for another region never answers, healthy or not.
            (Some("EU/DE"), &[4], true, Some(4)),
            // No default: places no record holds get nothing.
            (Some("EU/DE"), &[], false, None),
            (None, &[], false, None),
            (Some("AS/JP"), &[3], false, Some(3)),
        ];
        for (i, &(place, bad, with_default, want)) in cases.iter().enumerate() {
            let group = geolocation(with_default);
            let mut rng = SmallRng::seed_from_u64(1);
            let mut out = Vec::new();
            let client: &dyn Locate = match place {
                Some(p) => &at(p),
                None => &Unlocated,
            };
            select(&group, |h| !bad.contains(&h), client, &mut rng, &mut out);
            assert_eq!(out.first().map(|p| p.record), want, "case {i}");
            assert!(out.len() <= 1, "case {i}");
        }
    }

    #[test]
    fn a_group_of_the_default_alone_does_not_ask_where_the_client_is() {
        struct Refuses;
        impl Locate for Refuses {
            fn place(&self) -> Option<crate::model::Place> {
                panic!("asked");
            }
        }
        let mut only_default = record(0, None);
        only_default.location = Some(Box::new(crate::model::Location::Default));
        let group = set(Policy::Geolocation, vec![only_default]);
        let mut out = Vec::new();
        select(
            &group,
            |_| true,
            &Refuses,
            &mut SmallRng::seed_from_u64(1),
            &mut out,
        );
        assert_eq!(out.len(), 1);
    }

    /// A zone as octoDNS builds a dynamic record: two multivalue pools,
    /// a failover pair of aliases to them evaluating their health, and
    /// the name aliased to the pair.
    fn aliased_zone() -> Snapshot {
        use std::str::FromStr;
        let apex = crate::model::DName::from_str("z.test.").unwrap();
        let records = [
            r#"{"name":"pa","type":"A","routing":"multivalue","set":"1","value":"192.0.2.1","health_check":"a"}"#,
            r#"{"name":"pb","type":"A","routing":"multivalue","set":"1","value":"192.0.2.2","health_check":"b"}"#,
            r#"{"name":"fo","type":"A","routing":"failover","set":"p","failover":"primary","alias":"pa","evaluate_target_health":true}"#,
            r#"{"name":"fo","type":"A","routing":"failover","set":"s","failover":"secondary","alias":"pb","evaluate_target_health":true}"#,
            r#"{"name":"@","type":"A","alias":"fo"}"#,
        ]
        .iter()
        .map(|json| {
            serde_json::from_str::<crate::input::RecordInput>(json)
                .unwrap()
                .to_spec(&apex, &|_| true)
                .unwrap()
        })
        .collect();
        let zone = crate::model::ZoneSpec {
            name: apex,
            records,
        };
        assert_eq!(crate::validate::zone(&zone), []);
        let ids = |id: &str| Some(if id == "a" { 0 } else { 1 });
        Snapshot::build(&[zone], &ids, 1)
    }

    #[test]
    fn aliases_answer_with_their_target_and_follow_its_health() {
        use crate::snapshot::{Found, NameKey};
        use std::str::FromStr;
        let snapshot = aliased_zone();
        let apex = crate::model::DName::from_str("z.test.").unwrap();
        let key = NameKey::new(&apex);
        let (zone, labels) = snapshot.find_zone(&key).unwrap();
        let Found::Node { node, .. } = zone.find(&key, labels, domain::base::iana::Rtype::A) else {
            panic!("no apex");
        };
        let set = node.set(domain::base::iana::Rtype::A).unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        let mut out = Vec::new();
        let answer = |(a_up, b_up): (bool, bool), rng: &mut SmallRng, out: &mut Vec<Pick>| {
            let checks = move |id: HealthId| if id == 0 { a_up } else { b_up };
            let answering =
                select_through_aliases(&snapshot, set, &checks, &Unlocated, rng, out).unwrap();
            out.iter()
                .map(|p| answering.records[p.record as usize].values[p.value as usize].to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(answer((true, true), &mut rng, &mut out), ["192.0.2.1"]);
        assert_eq!(answer((false, true), &mut rng, &mut out), ["192.0.2.2"]);
        // Both pools down: the primary answers (Route 53), and its pool
        // fails open.
        assert_eq!(answer((false, false), &mut rng, &mut out), ["192.0.2.1"]);
    }

    #[test]
    fn a_zone_transfers_each_alias_name_as_it_answers_now() {
        use crate::snapshot::NameKey;
        use domain::base::ToName;
        use std::str::FromStr;
        let snapshot = aliased_zone();
        let apex = crate::model::DName::from_str("z.test.").unwrap();
        let (zone, _) = snapshot.find_zone(&NameKey::new(&apex)).unwrap();
        let now = |(a_up, b_up): (bool, bool), name: &str| {
            let checks = move |id: HealthId| if id == 0 { a_up } else { b_up };
            let owner = crate::model::DName::from_str(name).unwrap();
            let mut values: Vec<String> = zone_now(zone, &checks)
                .iter()
                .filter(|c| {
                    c.owner.name_eq(&owner) && matches!(c.data, crate::snapshot::Value::A(_))
                })
                .map(|c| c.data.to_string())
                .collect();
            values.sort();
            values
        };
        // The apex and the failover pair stand for the active pool.
        assert_eq!(now((true, true), "z.test."), ["192.0.2.1"]);
        assert_eq!(now((true, true), "fo.z.test."), ["192.0.2.1"]);
        assert_eq!(now((false, true), "z.test."), ["192.0.2.2"]);
        assert_eq!(now((false, true), "fo.z.test."), ["192.0.2.2"]);
        // The pools themselves, as ever.
        assert_eq!(
            now((false, true), "pa.z.test."),
            ["192.0.2.1"],
            "fails open"
        );
        assert_eq!(now((true, true), "pb.z.test."), ["192.0.2.2"]);
    }
}
