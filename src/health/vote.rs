//! The cluster's health vote (issue 11): every node probes every check, as
//! Route 53's checkers do, and publishes its observation when it changes;
//! every node then derives a check's state from the same observations with
//! the same function, so all nodes answer alike.
//!
//! An observation is a node's measured state of an endpoint: its probe
//! results after the failure threshold, before `invert`. The vote decides
//! the measured state of the cluster; `invert`, `disabled`, overrides and
//! calculated checks are applied after it by [`super::state`], identically
//! everywhere.
//!
//! The rule (Route 53's, with its default): an endpoint is healthy when
//! more than `healthy_percent` percent of the live nodes' observations are
//! healthy. A node is live while it was heard from within
//! [`HEARTBEATS_UNTIL_GONE`] of its heartbeat intervals. With no live
//! observation at all (this node cut off from the store, or the first
//! moments of a cluster), a node routes on its own observation.
//!
//! Pure: no I/O, no clock; the caller passes the time, so every case is
//! table-tested below.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Route 53's rule: healthy when more than 18 % of checkers say so.
pub const DEFAULT_HEALTHY_PERCENT: u8 = 18;

/// A node's observations stop counting when it has not been heard from for
/// this many of its heartbeat intervals.
pub const HEARTBEATS_UNTIL_GONE: u32 = 3;

/// One node's latest observation of one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// The endpoint passed, as this node measures it (threshold applied,
    /// before `invert`).
    pub healthy: bool,
    /// When the node was last heard from (its heartbeat or this
    /// observation, whichever is later).
    pub last_seen: SystemTime,
    /// The node's heartbeat interval.
    pub heartbeat: Duration,
}

impl Observation {
    /// Whether the node still counts at `now`. A time ahead of `now` (clock
    /// skew between nodes) counts as just seen.
    pub fn is_live(&self, now: SystemTime) -> bool {
        let age = now.duration_since(self.last_seen).unwrap_or(Duration::ZERO);
        age <= self.heartbeat.saturating_mul(HEARTBEATS_UNTIL_GONE)
    }
}

/// The outcome of a vote, with its figures for the status and the event
/// log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// The measured state the cluster agrees on.
    pub healthy: bool,
    /// Live observations that say healthy.
    pub healthy_votes: usize,
    /// Live observations counted.
    pub live_votes: usize,
    /// No live observation was left, so this node's own decided.
    pub own_only: bool,
}

/// The measured state of one endpoint from every node's observation
/// (`own` is this node's, also present in `observations` while this node
/// reaches the store). `None` when there is nothing to go on at all.
pub fn tally(
    observations: &[Observation],
    own: Option<bool>,
    now: SystemTime,
    healthy_percent: u8,
) -> Option<Tally> {
    let live = observations.iter().filter(|o| o.is_live(now));
    let (live_votes, healthy_votes) =
        live.fold((0, 0), |(n, h), o| (n + 1, h + usize::from(o.healthy)));
    if live_votes == 0 {
        return own.map(|healthy| Tally {
            healthy,
            healthy_votes: usize::from(healthy),
            live_votes: 1,
            own_only: true,
        });
    }
    Some(Tally {
        healthy: healthy_votes * 100 > usize::from(healthy_percent) * live_votes,
        healthy_votes,
        live_votes,
        own_only: false,
    })
}

impl Tally {
    /// The votes behind the outcome, for reasons and the event log: "2 of
    /// 3 nodes healthy, more than 50 % needed".
    pub fn describe(&self, healthy_percent: u8) -> String {
        if self.own_only {
            return "no other node heard from: this node's own observation decides".into();
        }
        format!(
            "{} of {} node{} healthy, more than {healthy_percent} % needed",
            self.healthy_votes,
            self.live_votes,
            if self.live_votes == 1 { "" } else { "s" }
        )
    }
}

/// One node's latest published observation of one check.
///
/// The node and the reason are shared strings: a book holds a vote per
/// node per check, and the same few names and reasons recur in all of
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    /// The node that observed.
    pub node: Arc<str>,
    /// Measured healthy (threshold applied, before `invert`).
    pub healthy: bool,
    /// Why, as the node's probes said.
    pub reason: Arc<str>,
    /// When the observation last changed, by the node's clock.
    pub at: SystemTime,
}

/// A vote as a status lists it: whether it still counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// The vote.
    pub vote: Vote,
    /// Its node is live ([`Observation::is_live`]); this node always is.
    pub live: bool,
}

/// Puts `vote` in `list` (ordered by node), replacing its node's earlier
/// vote. A list grows by one vote at a time: a book holds one per check,
/// and a check rarely gains a node once the cluster runs.
fn put(list: &mut Vec<Vote>, vote: Vote) {
    match list.binary_search_by(|v| v.node.cmp(&vote.node)) {
        Ok(i) => list[i] = vote,
        Err(i) => {
            list.reserve_exact(1);
            list.insert(i, vote);
        }
    }
}

/// Every node's published observations and when each node was last heard
/// from: what a node votes over. Filled from the store by the caller; the
/// vote itself stays the pure [`tally`].
#[derive(Debug, Default, Clone)]
pub struct Book {
    /// Published votes, by check id, ordered by node.
    votes: HashMap<String, Vec<Vote>>,
    /// Each node's last heartbeat and its interval, by name.
    heard: HashMap<String, (SystemTime, Duration)>,
}

impl Book {
    /// Replaces every published vote with `votes` (check id and vote).
    pub fn set_votes(&mut self, votes: impl IntoIterator<Item = (String, Vote)>) {
        self.votes.clear();
        self.update_votes(votes);
        // Shrunk to what is left: a cluster that lost checks or nodes
        // keeps no room for them.
        self.votes.shrink_to_fit();
    }

    /// Takes the votes published since the book was last filled (check id
    /// and vote): each replaces its node's earlier vote on the check.
    pub fn update_votes(&mut self, votes: impl IntoIterator<Item = (String, Vote)>) {
        for (check, vote) in votes {
            put(self.votes.entry(check).or_default(), vote);
        }
    }

    /// Takes one vote on `check`, replacing its node's earlier one: as
    /// [`Book::update_votes`], without a copy of the id for a check the
    /// book already has.
    pub fn set_vote(&mut self, check: &str, vote: Vote) {
        match self.votes.get_mut(check) {
            Some(list) => put(list, vote),
            None => put(self.votes.entry(check.to_string()).or_default(), vote),
        }
    }

    /// Removes `node`'s vote on `check` (the node no longer probes it),
    /// and the check with its last vote.
    pub fn remove_vote(&mut self, check: &str, node: &str) {
        let Some(list) = self.votes.get_mut(check) else {
            return;
        };
        if let Ok(i) = list.binary_search_by(|v| (*v.node).cmp(node)) {
            list.remove(i);
        }
        if list.is_empty() {
            self.votes.remove(check);
        }
    }

    /// `node`'s vote on `check`, if the book has one.
    pub fn vote(&self, check: &str, node: &str) -> Option<&Vote> {
        let list = self.votes.get(check)?;
        let i = list.binary_search_by(|v| (*v.node).cmp(node)).ok()?;
        list.get(i)
    }

    /// Every vote of `node`, with its check id.
    pub fn votes_of(&self, node: &str) -> Vec<(String, Vote)> {
        self.votes
            .iter()
            .filter_map(|(check, list)| {
                let i = list.binary_search_by(|v| (*v.node).cmp(node)).ok()?;
                Some((check.clone(), list[i].clone()))
            })
            .collect()
    }

    /// Replaces what is known of the nodes' heartbeats: name, last seen,
    /// interval.
    pub fn set_nodes(&mut self, nodes: impl IntoIterator<Item = (String, SystemTime, Duration)>) {
        self.heard = nodes
            .into_iter()
            .map(|(name, seen, every)| (name, (seen, every)))
            .collect();
    }

    /// The votes on `check`, other nodes' as published and this node's
    /// (`own`) as it observes now, by node, each with whether it counts at
    /// `now`. A node with no heartbeat is judged by its vote's time and
    /// `heartbeat`.
    pub fn counted(
        &self,
        check: &str,
        own: Option<&Vote>,
        now: SystemTime,
        heartbeat: Duration,
    ) -> Vec<Counted> {
        let mut out: Vec<Counted> = self
            .votes
            .get(check)
            .into_iter()
            .flatten()
            .filter(|v| own.is_none_or(|o| o.node != v.node))
            .map(|v| Counted {
                live: self.observation(v, heartbeat).is_live(now),
                vote: v.clone(),
            })
            .collect();
        if let Some(own) = own {
            out.push(Counted {
                vote: own.clone(),
                live: true,
            });
        }
        out.sort_by(|a, b| a.vote.node.cmp(&b.vote.node));
        out
    }

    /// The vote on `check` at `now`: the other nodes' published votes and
    /// this node's (`me`) current observation `own`, which always counts.
    pub fn decide(
        &self,
        check: &str,
        me: &str,
        own: bool,
        now: SystemTime,
        heartbeat: Duration,
        healthy_percent: u8,
    ) -> Tally {
        let mut observations: Vec<Observation> = self
            .votes
            .get(check)
            .into_iter()
            .flatten()
            .filter(|v| *v.node != *me)
            .map(|v| self.observation(v, heartbeat))
            .collect();
        observations.push(Observation {
            healthy: own,
            last_seen: now,
            heartbeat,
        });
        tally(&observations, Some(own), now, healthy_percent).unwrap_or(Tally {
            healthy: own,
            healthy_votes: usize::from(own),
            live_votes: 1,
            own_only: true,
        })
    }

    /// A published vote as the rule counts it: its node last heard from
    /// at its heartbeat or the vote, whichever is later.
    fn observation(&self, v: &Vote, heartbeat: Duration) -> Observation {
        let (seen, every) = self
            .heard
            .get(&*v.node)
            .copied()
            .unwrap_or((v.at, heartbeat));
        Observation {
            healthy: v.healthy,
            last_seen: seen.max(v.at),
            heartbeat: every,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEAT: Duration = Duration::from_secs(10);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + secs)
    }

    /// Observations of nodes last seen `ago` seconds before `at(100)`.
    fn seen(votes: &[(bool, u64)]) -> Vec<Observation> {
        votes
            .iter()
            .map(|&(healthy, ago)| Observation {
                healthy,
                last_seen: at(100) - Duration::from_secs(ago),
                heartbeat: BEAT,
            })
            .collect()
    }

    #[test]
    fn more_than_the_percentage_of_live_nodes_decides() {
        // Observations as (healthy, seconds since seen), the percentage,
        // then the outcome: healthy, healthy votes, live votes.
        type Case = (&'static [(bool, u64)], u8, bool, usize, usize);
        let cases: &[Case] = &[
            // Route 53's 18 %: one healthy node of three is enough.
            (&[(true, 0), (false, 0), (false, 0)], 18, true, 1, 3),
            (&[(false, 0), (false, 0), (false, 0)], 18, false, 0, 3),
            (&[(true, 0), (true, 0), (true, 0)], 18, true, 3, 3),
            // 50 %: two of three failing takes it out, one does not.
            (&[(true, 0), (false, 0), (false, 0)], 50, false, 1, 3),
            (&[(true, 0), (true, 0), (false, 0)], 50, true, 2, 3),
            // Exactly the percentage is not more than it.
            (&[(true, 0), (false, 0)], 50, false, 1, 2),
            (
                &[(true, 0), (false, 0), (false, 0), (false, 0), (false, 0)],
                20,
                false,
                1,
                5,
            ),
            // 0 %: any healthy observation is enough.
            (
                &[(true, 0), (false, 0), (false, 0), (false, 0)],
                0,
                true,
                1,
                4,
            ),
            // One node alone decides for itself.
            (&[(true, 0)], 18, true, 1, 1),
            (&[(false, 0)], 18, false, 0, 1),
        ];
        for &(votes, percent, healthy, healthy_votes, live_votes) in cases {
            let t = tally(&seen(votes), Some(false), at(100), percent).unwrap();
            assert_eq!(
                (t.healthy, t.healthy_votes, t.live_votes, t.own_only),
                (healthy, healthy_votes, live_votes, false),
                "{votes:?} at {percent} %"
            );
        }
    }

    #[test]
    fn a_node_unheard_for_three_heartbeats_drops_out() {
        // The only healthy node was last seen 30 s ago: still live (3 × 10 s).
        let t = tally(&seen(&[(true, 30), (false, 0)]), None, at(100), 50).unwrap();
        assert_eq!((t.healthy_votes, t.live_votes), (1, 2));
        // 31 s: gone, and with it the only healthy vote.
        let t = tally(&seen(&[(true, 31), (false, 0)]), None, at(100), 18).unwrap();
        assert_eq!((t.healthy, t.healthy_votes, t.live_votes), (false, 0, 1));
        // A failing node gone leaves the healthy ones to decide.
        let t = tally(&seen(&[(false, 45), (true, 5)]), None, at(100), 50).unwrap();
        assert_eq!((t.healthy, t.live_votes), (true, 1));
    }

    #[test]
    fn a_clock_ahead_of_ours_counts_as_just_seen() {
        let ahead = Observation {
            healthy: true,
            last_seen: at(160),
            heartbeat: BEAT,
        };
        assert!(ahead.is_live(at(100)));
        let t = tally(&[ahead], None, at(100), 18).unwrap();
        assert_eq!((t.healthy, t.live_votes), (true, 1));
    }

    #[test]
    fn with_no_live_vote_a_node_routes_on_its_own_observation() {
        let stale = seen(&[(true, 300), (true, 300)]);
        for own in [true, false] {
            let t = tally(&stale, Some(own), at(100), 18).unwrap();
            assert_eq!((t.healthy, t.own_only), (own, true));
        }
        assert_eq!(tally(&stale, None, at(100), 18), None);
        assert_eq!(tally(&[], None, at(100), 18), None);
        assert_eq!(
            tally(&[], Some(true), at(100), 18).map(|t| t.healthy),
            Some(true)
        );
    }

    fn vote(node: &str, healthy: bool, secs: u64) -> (String, Vote) {
        let v = Vote {
            node: node.into(),
            healthy,
            reason: "r".into(),
            at: at(secs),
        };
        ("web".into(), v)
    }

    #[test]
    fn votes_taken_since_the_last_fill_replace_their_nodes_earlier_ones() {
        let mut book = Book::default();
        book.set_votes([vote("b", true, 0), vote("a", true, 0)]);
        let mut db = vote("c", false, 1);
        db.0 = "db".into();
        book.update_votes([vote("b", false, 5), vote("c", true, 5), db]);
        let mut filled = Book::default();
        filled.set_votes([
            vote("a", true, 0),
            vote("b", false, 5),
            vote("c", true, 5),
            ("db".into(), vote("c", false, 1).1),
        ]);
        assert_eq!(book.votes, filled.votes);
        assert_eq!(book.votes.values().map(Vec::len).sum::<usize>(), 4);
        // Filling again drops what the fill does not hold.
        book.set_votes([vote("a", true, 0)]);
        assert_eq!(book.votes.keys().collect::<Vec<_>>(), ["web"]);
        // One vote at a time, and read back by node.
        book.set_vote("web", vote("c", false, 7).1);
        book.set_vote("db", vote("a", true, 7).1);
        assert_eq!(book.vote("web", "c"), Some(&vote("c", false, 7).1));
        assert_eq!(book.vote("web", "b"), None);
        let mut of_a = book.votes_of("a");
        of_a.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            of_a,
            [
                ("db".to_string(), vote("a", true, 7).1),
                ("web".to_string(), vote("a", true, 0).1),
            ]
        );
    }

    #[test]
    fn the_book_counts_live_nodes_and_this_nodes_current_observation() {
        let mut book = Book::default();
        // b and c published long ago but beat recently; d fell silent.
        book.set_votes([
            vote("a", false, 0),
            vote("b", true, 0),
            vote("c", false, 0),
            vote("d", true, 0),
        ]);
        book.set_nodes([
            ("b".to_string(), at(95), BEAT),
            ("c".to_string(), at(99), BEAT),
            ("d".to_string(), at(50), BEAT),
        ]);
        // This node (a) observes healthy now, whatever it published.
        let t = book.decide("web", "a", true, at(100), BEAT, 50);
        assert_eq!((t.healthy, t.healthy_votes, t.live_votes), (true, 2, 3));
        assert_eq!(
            t.describe(50),
            "2 of 3 nodes healthy, more than 50 % needed"
        );
        let t = book.decide("web", "a", false, at(100), BEAT, 50);
        assert_eq!((t.healthy, t.healthy_votes, t.live_votes), (false, 1, 3));
        // A check nobody else voted on: this node alone.
        let t = book.decide("db", "a", false, at(100), BEAT, 18);
        assert_eq!((t.healthy, t.live_votes), (false, 1));
        // Cut off: every other node ages out, and this one decides.
        let t = book.decide("web", "a", false, at(200), BEAT, 18);
        assert_eq!((t.healthy, t.live_votes), (false, 1));
        // The status lists every vote, this node's as it is now.
        let own = vote("a", true, 100).1;
        let listed: Vec<(String, bool, bool)> = book
            .counted("web", Some(&own), at(100), BEAT)
            .into_iter()
            .map(|c| (c.vote.node.to_string(), c.vote.healthy, c.live))
            .collect();
        let expected = [
            ("a", true, true),
            ("b", true, true),
            ("c", false, true),
            ("d", true, false),
        ];
        assert_eq!(
            listed,
            expected.map(|(n, h, l)| (n.to_string(), h, l)).to_vec()
        );
    }
}
