//! Health transitions on PostgreSQL: a batch recorded in rounds of one
//! event per check, in check-id order, so that nodes recording the same
//! flip at once record each transition once and cannot deadlock.

use std::collections::{HashMap, HashSet};

use super::{PostgresBackend, millis};
use crate::store::{HealthEvent, StoreError};

/// Moves the saved state of each check of one round (at most one event
/// per check), with `$4` false only when it differs and the event is not
/// older than the state's last move (a transition written late, after an
/// outage of the store, never undoes a newer one); returns the checks
/// moved. The row lock of each state orders racing nodes: the second waits
/// for the first to commit, then finds the state already moved; and it
/// stays held to the commit, so no other node adds an event of those
/// checks before [`RECORD_EVENTS`] counts them.
const MOVE_STATES: &str = "
    INSERT INTO health_states (check_id, healthy, changed_at)
    SELECT c, h, a FROM UNNEST($1::text[], $2::bool[], $3::int8[]) WITH ORDINALITY AS e(c, h, a, n)
        ORDER BY n
    ON CONFLICT (check_id) DO UPDATE
    SET healthy = EXCLUDED.healthy, changed_at = EXCLUDED.changed_at
    WHERE $4 OR (health_states.healthy <> EXCLUDED.healthy
        AND (health_states.changed_at IS NULL OR health_states.changed_at <= EXCLUDED.changed_at))
    RETURNING check_id";

/// Adds the events of the checks that [`MOVE_STATES`] moved, each with the
/// next `seq` of its millisecond. A statement of its own: its snapshot is
/// taken after the row locks were granted, so it counts what the node that
/// held them committed.
const RECORD_EVENTS: &str = "
    INSERT INTO health_events (check_id, at, seq, old_healthy, new_healthy, reason)
    SELECT c, a,
        (SELECT COUNT(*) FROM health_events h WHERE h.check_id = e.c AND h.at = e.a),
        o, h, r
    FROM UNNEST($1::text[], $2::bool[], $3::bool[], $4::text[], $5::int8[]) AS e(c, o, h, r, a)";

/// One round of events (see [`rounds`]) as the columns its statements
/// take.
struct Round {
    checks: Vec<String>,
    old: Vec<bool>,
    new: Vec<bool>,
    reasons: Vec<String>,
    at: Vec<i64>,
}

impl Round {
    fn of<'a>(events: impl Iterator<Item = &'a HealthEvent> + Clone) -> Round {
        Round {
            checks: events.clone().map(|e| e.check.clone()).collect(),
            old: events.clone().map(|e| e.old_healthy).collect(),
            new: events.clone().map(|e| e.new_healthy).collect(),
            reasons: events.clone().map(|e| e.reason.clone()).collect(),
            at: events.map(|e| millis(e.at)).collect(),
        }
    }

    /// The events of the checks in `moved`.
    fn only(&self, moved: &HashSet<String>) -> Round {
        let keep: Vec<usize> = (0..self.checks.len())
            .filter(|&i| moved.contains(&self.checks[i]))
            .collect();
        Round {
            checks: keep.iter().map(|&i| self.checks[i].clone()).collect(),
            old: keep.iter().map(|&i| self.old[i]).collect(),
            new: keep.iter().map(|&i| self.new[i]).collect(),
            reasons: keep.iter().map(|&i| self.reasons[i].clone()).collect(),
            at: keep.iter().map(|&i| self.at[i]).collect(),
        }
    }
}

/// Events split into rounds that name each check at most once, the k-th
/// event of every check in round k (so one check's events keep their
/// order), each round sorted by check id: nodes recording the same flip
/// lock the same rows in the same order and cannot deadlock.
fn rounds(events: &[HealthEvent]) -> Vec<Vec<usize>> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    for (i, event) in events.iter().enumerate() {
        let k = seen.entry(&event.check).or_insert(0);
        if rounds.len() <= *k {
            rounds.push(Vec::new());
        }
        rounds[*k].push(i);
        *k += 1;
    }
    for round in &mut rounds {
        round.sort_by(|&a, &b| events[a].check.cmp(&events[b].check));
    }
    rounds
}

impl PostgresBackend {
    /// Records events in one transaction, two statements per round (see
    /// [`rounds`]); each only when it moves its check's state if
    /// `transitions_only`.
    pub(super) fn record(
        &mut self,
        events: &[HealthEvent],
        transitions_only: bool,
    ) -> Result<Vec<bool>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let pool = self.pool.clone();
        let rounds = rounds(events);
        let columns: Vec<Round> = rounds
            .iter()
            .map(|round| Round::of(round.iter().map(|&i| &events[i])))
            .collect();
        let recorded = self.run(async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            let move_states = tx.prepare_cached(MOVE_STATES).await?;
            let record_events = tx.prepare_cached(RECORD_EVENTS).await?;
            let mut recorded = Vec::with_capacity(columns.len());
            for round in &columns {
                let moved: HashSet<String> = tx
                    .query(
                        &move_states,
                        &[&round.checks, &round.new, &round.at, &!transitions_only],
                    )
                    .await?
                    .into_iter()
                    .map(|r| r.get(0))
                    .collect();
                if !moved.is_empty() {
                    let r = round.only(&moved);
                    tx.execute(
                        &record_events,
                        &[&r.checks, &r.old, &r.new, &r.reasons, &r.at],
                    )
                    .await?;
                }
                recorded.push(moved);
            }
            tx.commit().await?;
            Ok(recorded)
        })?;
        let mut out = vec![false; events.len()];
        for (round, moved) in rounds.iter().zip(&recorded) {
            for &i in round {
                out[i] = moved.contains(&events[i].check);
            }
        }
        Ok(out)
    }
}
