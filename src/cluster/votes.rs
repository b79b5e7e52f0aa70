//! The health vote's plumbing (issue 11): this node's observations go out
//! to the store, every node's come back into a [`Book`], and the checker
//! decides each check from it ([`crate::health::vote`] counts).
//!
//! The checker never waits on the database: [`Ballot::observed`] only
//! queues the observation for [`publish`], a task with a store handle of
//! its own that keeps the latest observation of each check until the
//! store takes it (a store outage costs nothing but the delay; the vote
//! meanwhile counts this node's current observation from memory).
//! [`refresh`] reads the votes written since its last read when a
//! notification says one changed (or at the poll), and
//! [`crate::cluster::run`] asks the checker to decide again whenever the
//! votes or the live nodes change. It reads them all on start, when the
//! listener (re)connects, back from an outage, and whenever the store
//! cannot rule out that a read missed something (a check's votes were
//! deleted): a node's memory then holds one copy of the votes, not a
//! second one at every read.
//!
//! Only a shared store (PostgreSQL) runs this: on SQLite there is one
//! node, whose observation is its vote, and the checker decides alone.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::HEARTBEAT_INTERVAL;
use crate::health::checker::{Decided, Electorate};
use crate::health::vote::{Book, Counted, Tally, Vote};
use crate::store::{NodeRecord, Store, StoredObservation, VoteChange, VoteCursor};

/// The most observations the publisher writes in one transaction: a flip
/// of every check is a few commits, and none holds rows locked for long.
const BATCH: usize = 500;

/// How long the publisher lets observations gather after the first before
/// it writes them: a backend that fails takes its checks down one by one
/// over their interval, and written as they come each would be a commit
/// (and a read on every other node). Other nodes see a vote this much
/// later; this node's own decision does not wait.
const GATHER: Duration = Duration::from_millis(50);

/// How long the publisher waits before trying the store again after a
/// failed write.
const RETRY: Duration = Duration::from_secs(1);

/// This node's side of the vote: the book it counts from and the queue
/// its observations leave by.
pub struct Ballot {
    node: Arc<str>,
    /// `[server] healthy_percent`; a reload may change it.
    healthy_percent: AtomicU8,
    /// Every node's votes: the other nodes' as published ([`refresh`]
    /// writes them), and this node's latest observation of each check as
    /// the status shows it (the checker writes it; the store may not have
    /// it yet, and what the store has of it is never read back over it).
    book: Mutex<Book>,
    /// The one copy of each node name and reason the votes hold. Taken
    /// before `book` when both are.
    strings: Mutex<Strings>,
    /// Where [`refresh`]'s last read left off; `None`: the next one reads
    /// every vote.
    cursor: Mutex<Option<VoteCursor>>,
    outbox: mpsc::UnboundedSender<VoteChange>,
}

/// Shared copies of the strings votes repeat: node names, and reasons,
/// which come from a small vocabulary ("connection refused (1 consecutive
/// result)"). Without them a book holds a copy of each per vote, three
/// votes per check on three nodes.
#[derive(Default)]
struct Strings {
    set: HashSet<Arc<str>>,
    /// How many were kept at the last pruning.
    kept: usize,
}

impl Strings {
    /// The shared copy of `s`.
    fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(shared) = self.set.get(s) {
            return shared.clone();
        }
        let shared: Arc<str> = s.into();
        self.set.insert(shared.clone());
        shared
    }

    /// Forgets the strings no vote holds any more (reasons may name
    /// addresses, and checks come and go), once they are twice as many
    /// as after the last pruning: pruning stays rare and the set bounded.
    fn prune(&mut self) {
        if self.set.len() > 2 * self.kept + 64 {
            self.set.retain(|s| Arc::strong_count(s) > 1);
            self.kept = self.set.len();
        }
    }
}

/// The queue [`publish`] empties.
pub type Outbox = mpsc::UnboundedReceiver<VoteChange>;

impl Ballot {
    /// The ballot of node `node`, and the queue of its observations.
    pub fn new(node: &str, healthy_percent: u8) -> (Arc<Ballot>, Outbox) {
        let (tx, rx) = mpsc::unbounded_channel();
        let ballot = Ballot {
            node: node.into(),
            healthy_percent: AtomicU8::new(healthy_percent),
            book: Mutex::default(),
            strings: Mutex::default(),
            cursor: Mutex::default(),
            outbox: tx,
        };
        (Arc::new(ballot), rx)
    }

    /// Takes a reloaded `[server] healthy_percent`.
    pub fn set_healthy_percent(&self, percent: u8) {
        self.healthy_percent.store(percent, Ordering::Relaxed);
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn strings(&self) -> MutexGuard<'_, Strings> {
        self.strings.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cursor(&self) -> MutexGuard<'_, Option<VoteCursor>> {
        self.cursor.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes published votes as the store holds them: every node's
    /// (`full`), replacing what the book had, or those written since the
    /// last read, each replacing its node's earlier vote on its check.
    /// This node's own are skipped: the book has them first-hand.
    pub fn take_votes(&self, stored: Vec<StoredObservation>, full: bool) {
        let mut strings = self.strings();
        let me = &*self.node;
        let votes = stored.into_iter().filter(|o| o.node != me).map(|o| {
            let vote = Vote {
                node: strings.get(&o.node),
                healthy: o.healthy,
                reason: strings.get(&o.reason),
                at: o.at,
            };
            (o.check, vote)
        });
        {
            let mut book = self.book();
            if full {
                let mine = book.votes_of(me);
                book.set_votes(votes.chain(mine));
            } else {
                book.update_votes(votes);
            }
        }
        strings.prune();
    }

    /// Takes the nodes' heartbeats, as the last beat read them.
    pub fn set_nodes(&self, nodes: &[NodeRecord]) {
        let heard = nodes
            .iter()
            .map(|n| (n.name.clone(), n.last_seen, n.heartbeat));
        self.book().set_nodes(heard);
    }

    /// The percentage that applies to a check that sets `own` (or not).
    pub fn healthy_percent(&self, own: Option<u8>) -> u8 {
        own.unwrap_or_else(|| self.healthy_percent.load(Ordering::Relaxed))
    }

    /// Every node's vote on `check` at `now`, this node's as it observes
    /// now, and what they decide with this node's observation `own`.
    pub fn votes(
        &self,
        check: &str,
        own: bool,
        percent: u8,
        now: SystemTime,
    ) -> (Vec<Counted>, Tally) {
        let book = self.book();
        let mine = book
            .vote(check, &self.node)
            .cloned()
            .unwrap_or_else(|| Vote {
                node: self.node.clone(),
                healthy: own,
                reason: "starting state".into(),
                at: now,
            });
        let counted = book.counted(check, Some(&mine), now, HEARTBEAT_INTERVAL);
        let tally = book.decide(check, &self.node, own, now, HEARTBEAT_INTERVAL, percent);
        (counted, tally)
    }
}

impl Electorate for Ballot {
    fn node(&self) -> &str {
        &self.node
    }

    fn observed(&self, check: &str, healthy: bool, reason: &str, at: SystemTime) {
        let vote = Vote {
            node: self.node.clone(),
            healthy,
            reason: self.strings().get(reason),
            at,
        };
        self.book().set_vote(check, vote);
        // Unbounded, and never full: the publisher keeps only the latest
        // observation of each check, so what waits is at most one per
        // check however long the store is away.
        let _ = self.outbox.send(VoteChange::Observed(StoredObservation {
            check: check.to_string(),
            node: self.node.to_string(),
            healthy,
            reason: reason.to_string(),
            at,
        }));
    }

    fn withdrawn(&self, check: &str) {
        self.book().remove_vote(check, &self.node);
        let _ = self.outbox.send(VoteChange::Withdrawn {
            check: check.to_string(),
            node: self.node.to_string(),
        });
    }

    fn decide(
        &self,
        check: &str,
        own: bool,
        healthy_percent: Option<u8>,
        now: SystemTime,
    ) -> Decided {
        let percent = self.healthy_percent(healthy_percent);
        let tally = self
            .book()
            .decide(check, &self.node, own, now, HEARTBEAT_INTERVAL, percent);
        Decided {
            tally,
            healthy_percent: percent,
        }
    }
}

/// Ends [`publish`]: it writes what is pending once more, then says so.
#[derive(Clone, Default)]
pub struct Flush {
    stop: CancellationToken,
    done: CancellationToken,
}

impl Flush {
    /// Has the publisher write what is pending (once the checker has
    /// stopped, so nothing comes after) and stop; returns when it has
    /// written it or failed to.
    pub async fn flush(&self) {
        tracing::info!("writing this node's last health observations before stopping");
        self.stop.cancel();
        self.done.cancelled().await;
    }
}

/// Writes this node's observations to `store` as they come, on blocking
/// threads, until `flush` asks for a last write. Keeps the latest of each
/// check that the store has not taken yet and tries again every [`RETRY`]
/// while it fails, saying so once, so nothing is lost to an outage and
/// the checker never waits.
pub async fn publish(mut outbox: Outbox, store: Store, flush: Flush) {
    let store = Arc::new(Mutex::new(store));
    // Shared with the blocking writer, which removes what the store took:
    // the observations are never copied, and a flip of every check keeps
    // one copy of each until written. Only one of the two holds it at a
    // time: the writer runs while this task waits for it.
    type Pending = HashMap<String, VoteChange>;
    let pending: Arc<Mutex<Pending>> = Arc::default();
    fn lock(p: &Mutex<Pending>) -> MutexGuard<'_, Pending> {
        let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
        // What a flip of many checks left: not kept for the next.
        if p.is_empty() && p.capacity() > 64 {
            p.shrink_to_fit();
        }
        p
    }
    let mut failing = false;
    // Asked to stop: what is pending is written once more, failing or not.
    let mut stopping = false;
    loop {
        // Something to write: a new observation, or the retry of what
        // the store refused.
        if !stopping && (lock(&pending).is_empty() || failing) {
            tokio::select! {
                _ = flush.stop.cancelled() => stopping = true,
                next = outbox.recv() => match next {
                    Some(c) => {
                        lock(&pending).insert(c.check().to_string(), c);
                        if !failing {
                            tokio::time::sleep(GATHER).await;
                        }
                    }
                    None => stopping = true,
                },
                _ = tokio::time::sleep(RETRY), if failing => {}
            }
        }
        {
            let mut pending = lock(&pending);
            while let Ok(c) = outbox.try_recv() {
                pending.insert(c.check().to_string(), c);
            }
            if pending.is_empty() {
                match stopping {
                    true => break,
                    false => continue,
                }
            }
        }
        let (store, batch) = (store.clone(), pending.clone());
        let written = tokio::task::spawn_blocking(move || {
            let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
            // Moved out in transactions of at most BATCH, put back when
            // refused. Newer observations wait in the outbox meanwhile,
            // and replace these only once they are written (or not).
            loop {
                let taken: Vec<VoteChange> = lock(&batch)
                    .extract_if(|_, _| true)
                    .take(BATCH)
                    .map(|(_, o)| o)
                    .collect();
                if taken.is_empty() {
                    return None;
                }
                if let Err(e) = store.write_votes(&taken) {
                    let mut pending = lock(&batch);
                    for c in taken {
                        pending.insert(c.check().to_string(), c);
                    }
                    return Some(e.to_string());
                }
            }
        })
        .await;
        let error = written.unwrap_or_else(|e| Some(e.to_string()));
        let pending_len = lock(&pending).len();
        match error {
            Some(e) if !failing => {
                tracing::warn!(error = %e, pending = pending_len, "cannot publish this node's health observations; routing on its own until the store is back");
                failing = true;
            }
            Some(_) => {}
            None => {
                if failing {
                    tracing::info!("health observations published again");
                }
                failing = false;
            }
        }
        if stopping {
            if failing {
                tracing::error!(
                    pending = pending_len,
                    "stopping with health observations unpublished"
                );
            }
            break;
        }
    }
    flush.done.cancel();
}

/// Reads into `ballot` the votes written since its last read, or every
/// node's votes when `full` (or when the store cannot tell what changed);
/// false when the store cannot be read (the book keeps what it had, and
/// nodes that are not heard from age out of it).
pub fn refresh(ballot: &Ballot, store: &Store, full: bool) -> bool {
    let since = if full { None } else { *ballot.cursor() };
    match store.observations_since(since) {
        Ok(read) => {
            ballot.take_votes(read.observations, read.full);
            *ballot.cursor() = Some(read.cursor);
            true
        }
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the nodes' health votes");
            false
        }
    }
}
