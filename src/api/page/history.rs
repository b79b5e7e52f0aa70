//! The last hour of probe results, for the check pages' timelines.
//!
//! The checker keeps only its last few results per check
//! (`health::checker::HISTORY`, 10). A collector reads them every
//! [`COLLECT_EVERY`] and keeps what is new: with the shortest interval
//! (1 s) ten results span 10 s, so a read every 5 s misses none. Points
//! are small (no reason text; the results table shows the recent
//! reasons), and older than [`WINDOW`] they go.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, Weak};
use std::time::{Duration, SystemTime};

use crate::service::{CheckState, Service};

/// How far back the timeline reaches.
pub const WINDOW: Duration = Duration::from_secs(3600);
/// How often the collector reads the checker's results.
pub const COLLECT_EVERY: Duration = Duration::from_secs(5);
/// Most points kept per check: one a second for the whole window.
const MAX_POINTS: usize = 3600;

/// One probe result on the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// When the probe started.
    pub at: SystemTime,
    /// Whether the endpoint passed (before `invert`).
    pub healthy: bool,
    /// A local fault, not counted toward the state.
    pub local: bool,
    /// How long the probe took.
    pub latency_ms: f64,
}

/// Recent results per check id.
#[derive(Default)]
pub struct History {
    points: Mutex<HashMap<String, VecDeque<Point>>>,
}

impl History {
    /// Adds the results in `states` not seen yet, forgets checks that are
    /// gone and points older than the window.
    pub fn absorb(&self, states: &[CheckState], now: SystemTime) {
        let ids: std::collections::HashSet<&str> =
            states.iter().map(|s| s.status.id.as_str()).collect();
        let mut map = self.lock();
        map.retain(|id, _| ids.contains(id.as_str()));
        for state in states {
            merge(map.entry(state.status.id.clone()).or_default(), state, now);
        }
    }

    /// Adds the results of one check not seen yet (a page view, between
    /// two collections).
    pub fn absorb_one(&self, state: &CheckState, now: SystemTime) {
        let id = state.status.id.clone();
        merge(self.lock().entry(id).or_default(), state, now);
    }

    /// The points of one check within the window, oldest first.
    pub fn points(&self, id: &str) -> Vec<Point> {
        self.lock()
            .get(id)
            .map(|p| p.iter().copied().collect())
            .unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Point>>> {
        self.points.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn merge(points: &mut VecDeque<Point>, state: &CheckState, now: SystemTime) {
    let horizon = now.checked_sub(WINDOW).unwrap_or(SystemTime::UNIX_EPOCH);
    let newest = points.back().map(|p| p.at);
    for r in &state.status.last_results {
        let at = r.at;
        if newest.is_some_and(|n| at <= n) || at < horizon {
            continue;
        }
        if points.len() == MAX_POINTS {
            points.pop_front();
        }
        points.push_back(Point {
            at,
            healthy: r.healthy,
            local: r.local,
            latency_ms: crate::api::words::latency_ms(r),
        });
    }
    while points.front().is_some_and(|p| p.at < horizon) {
        points.pop_front();
    }
}

/// Reads every check's results every [`COLLECT_EVERY`] until the service
/// or the history is dropped (the API stops).
pub async fn collect(service: Weak<Service>, history: Weak<History>) {
    let mut tick = tokio::time::interval(COLLECT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (Some(svc), Some(hist)) = (service.upgrade(), history.upgrade()) else {
            return;
        };
        // The service's lock is synchronous: off the async threads.
        let done = tokio::task::spawn_blocking(move || {
            hist.absorb(&svc.check_states(), SystemTime::now());
        })
        .await;
        if done.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::page::data::fixtures;

    fn state(id: &str, times: &[u64]) -> CheckState {
        let results = times
            .iter()
            .map(|&s| fixtures::result(at(s), s % 2 == 0, "", s as f64))
            .collect();
        fixtures::state(id, true, None, results)
    }

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn overlapping_reads_keep_each_result_once_and_the_window_only() {
        let h = History::default();
        h.absorb(&[state("a", &[10_000, 10_001, 10_002])], at(10_003));
        h.absorb(&[state("a", &[10_001, 10_002, 10_003, 10_004])], at(10_005));
        let got: Vec<u64> = h
            .points("a")
            .iter()
            .map(|p| {
                p.at.duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .as_secs()
            })
            .collect();
        assert_eq!(got, [10_000, 10_001, 10_002, 10_003, 10_004]);
        h.absorb(&[state("a", &[13_604])], at(13_604));
        assert_eq!(h.points("a").len(), 2, "older than an hour dropped");
        h.absorb(&[state("b", &[13_606])], at(13_606));
        assert!(
            h.points("a").is_empty(),
            "a check that is gone is forgotten"
        );
        assert_eq!(h.points("b").len(), 1);
    }

    #[test]
    fn a_read_every_collect_period_misses_nothing_at_the_shortest_interval() {
        let history = crate::health::checker::HISTORY as u64;
        assert!(
            COLLECT_EVERY.as_secs() < history,
            "1 s interval × HISTORY results"
        );
    }
}
