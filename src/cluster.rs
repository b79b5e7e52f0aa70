//! Nodes: each eightfold server that shares a store registers itself and
//! beats every [`HEARTBEAT_INTERVAL`]; `GET /v1/nodes` lists them. Each
//! also follows the others' writes: a PostgreSQL notification, or the
//! version poll every [`POLL_INTERVAL`], makes it read the store again and
//! publish what it holds (`Service::catch_up`).
//!
//! The heartbeat runs on a store handle of its own, never under the
//! service's lock, so a slow or unreachable database delays no API call
//! and no DNS answer. After each beat it reads every node's row, and the
//! API answers from that copy: listing nodes never waits on the database
//! and still works, with this node marked as cut off, while it is down.
//!
//! A node is live while its last heartbeat is at most [`MISSED_BEATS`] of
//! its own intervals old. Heartbeats carry the writer's clock: nodes are
//! expected to keep their clocks in sync (NTP).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::store::{NodeRecord, Store};

pub mod votes;

/// How often a node reads the health votes written since its last read
/// even without a notification: a lost one costs at most this long.
pub const VOTE_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// How often a node writes its heartbeat.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);

/// A node whose last heartbeat is older than this many of its intervals
/// is no longer live: the vote's rule, one source for both.
pub const MISSED_BEATS: u32 = crate::health::vote::HEARTBEATS_UNTIL_GONE;

/// This node: who it is and what it last learnt of the others.
pub struct Registry {
    identity: Identity,
    state: Mutex<Seen>,
}

/// What a node says of itself in its heartbeat, besides the time.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `[server] node`.
    pub name: String,
    /// Its first DNS address.
    pub address: Option<SocketAddr>,
    /// Its API address.
    pub api: Option<SocketAddr>,
    /// When it started.
    pub started_at: SystemTime,
}

#[derive(Default)]
struct Seen {
    /// Whether the last heartbeat reached the store; `None` before the first.
    reachable: Option<bool>,
    /// Every node's row as the last successful beat read them.
    nodes: Vec<NodeRecord>,
}

/// One node as `GET /v1/nodes` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// Its name.
    pub name: String,
    /// Its DNS address.
    pub address: String,
    /// Its API address, when it runs one.
    pub api: Option<String>,
    /// eightfold's version.
    pub version: String,
    /// The store version it serves.
    pub config_version: i64,
    /// When it started.
    pub started_at: SystemTime,
    /// Its last heartbeat.
    pub last_seen: SystemTime,
    /// Heartbeat recent enough ([`is_live`]).
    pub live: bool,
    /// Whether it reaches the store: this node says so from its last
    /// heartbeat; another one did when it is live.
    pub store_reachable: bool,
    /// The node that answers.
    pub this_node: bool,
}

/// Whether `node` counts as live at `now` (pure, for the table tests):
/// the rule by which its votes count ([`crate::health::vote`]).
pub fn is_live(node: &NodeRecord, now: SystemTime) -> bool {
    crate::health::vote::Observation {
        healthy: true,
        last_seen: node.last_seen,
        heartbeat: node.heartbeat,
    }
    .is_live(now)
}

/// Whether every live node serves store version `version` (Route 53's
/// INSYNC); nodes that are not live do not hold a change back.
pub fn in_sync(nodes: &[NodeStatus], version: i64) -> bool {
    nodes
        .iter()
        .filter(|n| n.live)
        .all(|n| n.config_version >= version)
}

/// The host name, the default node name.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..end]) {
        Ok(name) if ok && !name.is_empty() => name.to_string(),
        _ => "eightfold".to_string(),
    }
}

impl Registry {
    /// A node that has not beaten yet.
    pub fn new(identity: Identity) -> Registry {
        Registry {
            identity,
            state: Mutex::new(Seen::default()),
        }
    }

    /// This node's name.
    pub fn name(&self) -> &str {
        &self.identity.name
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This node's heartbeat row at `now`, serving `config_version`.
    fn record(&self, config_version: i64, now: SystemTime) -> NodeRecord {
        NodeRecord {
            name: self.identity.name.clone(),
            address: self
                .identity
                .address
                .map(|a| a.to_string())
                .unwrap_or_default(),
            api: self.identity.api.map(|a| a.to_string()),
            version: env!("CARGO_PKG_VERSION").to_string(),
            config_version,
            started_at: self.identity.started_at,
            last_seen: now,
            heartbeat: HEARTBEAT_INTERVAL,
        }
    }

    /// Every node's row as the last successful beat read them.
    pub fn records(&self) -> Vec<NodeRecord> {
        self.seen().nodes.clone()
    }

    /// Every node known, by name, this one always among them (with what
    /// it serves now, `config_version`), as seen at `now`.
    pub fn nodes(&self, config_version: i64, now: SystemTime) -> Vec<NodeStatus> {
        let seen = self.seen();
        let reachable = seen.reachable.unwrap_or(false);
        let me = self.record(config_version, now);
        let mut out: Vec<NodeStatus> = seen
            .nodes
            .iter()
            .filter(|n| n.name != me.name)
            .map(|n| {
                let live = is_live(n, now);
                status(n, live, live, false)
            })
            .collect();
        out.push(status(&me, true, reachable, true));
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Drops node `name` from the nodes last read (it was forgotten in
    /// the store), so that the list shows it gone before the next beat.
    pub fn forget(&self, name: &str) {
        self.seen().nodes.retain(|n| n.name != name);
    }

    /// One beat: writes this node's row, then reads every node's. Returns
    /// whether the store was reached, and logs when that changes.
    pub fn beat(&self, store: &mut Store, config_version: i64) -> bool {
        let result = store
            .heartbeat(&self.record(config_version, SystemTime::now()))
            .and_then(|()| store.nodes());
        let mut seen = self.seen();
        let was = seen.reachable;
        match result {
            Ok(nodes) => {
                seen.nodes = nodes;
                seen.reachable = Some(true);
                if was == Some(false) {
                    tracing::info!(node = %self.identity.name, "the store is reachable again");
                }
                true
            }
            Err(e) => {
                seen.reachable = Some(false);
                if was != Some(false) {
                    tracing::warn!(
                        node = %self.identity.name,
                        error = %e,
                        "cannot reach the store: DNS keeps answering from memory, API writes fail until it is back"
                    );
                }
                false
            }
        }
    }
}

fn status(n: &NodeRecord, live: bool, store_reachable: bool, this_node: bool) -> NodeStatus {
    NodeStatus {
        name: n.name.clone(),
        address: n.address.clone(),
        api: n.api.clone(),
        version: n.version.clone(),
        config_version: n.config_version,
        started_at: n.started_at,
        last_seen: n.last_seen,
        live,
        store_reachable,
        this_node,
    }
}

/// How often a node asks the store for its version, in case a
/// notification was lost (or the backend has none): a lost notification
/// costs at most this long.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// What the cluster task asks of the service.
pub trait Follower: Send + Sync + 'static {
    /// The store version this node serves.
    fn served(&self) -> i64;
    /// Reads and serves what other nodes wrote (blocking); returns the
    /// version now served.
    fn catch_up(&self) -> Result<i64, String>;
    /// Decides every check again from the votes (blocking).
    fn revote(&self);
}

/// The node's background duty until `shutdown`, on its own store handle
/// and on blocking threads: a heartbeat every [`HEARTBEAT_INTERVAL`], and
/// catching up with other nodes' writes as soon as a notification says
/// there are some, or the version poll every [`POLL_INTERVAL`] finds them.
/// With a `ballot` (a shared store), also reads the health votes written
/// since its last read when a notification says one changed (or every
/// [`VOTE_POLL_INTERVAL`]), every vote when the listener (re)connects or
/// the store is back from an outage, and has the checks decided again
/// after that and at every tick, since nodes age out with time alone.
pub async fn run(
    registry: Arc<Registry>,
    store: Store,
    follower: Arc<dyn Follower>,
    ballot: Option<Arc<votes::Ballot>>,
    shutdown: CancellationToken,
) {
    let (mut changes, mut voted, mut listening) = match store.changes() {
        Some(n) => (Some(n.versions), Some(n.votes), Some(n.listening)),
        None => (None, None, None),
    };
    let store = Arc::new(Mutex::new(store));
    let mut ticks = tokio::time::interval(POLL_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_beat = tokio::time::Instant::now();
    let mut next_vote_poll = tokio::time::Instant::now();
    loop {
        let mut announced = None;
        let mut votes_changed = false;
        // Every vote read again, not only those written since the last
        // read: the store's notifications may have been lost meanwhile.
        let mut all_votes = false;
        // Whether to read the store's version: at each poll, not at each
        // vote notification (during a flip, dozens a second that say
        // nothing about what nodes serve).
        let mut poll = false;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => poll = true,
            Some(version) = notified(&mut changes) => announced = Some(version),
            true = vote_notified(&mut voted) => votes_changed = true,
            true = vote_notified(&mut listening) => {
                votes_changed = true;
                all_votes = true;
                poll = true;
            }
        }
        let now = tokio::time::Instant::now();
        let beat = now >= next_beat;
        if beat {
            next_beat += HEARTBEAT_INTERVAL;
        }
        if now >= next_vote_poll {
            next_vote_poll = now + VOTE_POLL_INTERVAL;
            votes_changed = true;
        }
        let (registry, store, follower) = (registry.clone(), store.clone(), follower.clone());
        let ballot = ballot.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
            let behind = match announced {
                Some(version) => version > follower.served(),
                None => poll && store.version().is_ok_and(|v| v > follower.served()),
            };
            let mut caught_up = false;
            if behind {
                match follower.catch_up() {
                    Ok(_) => caught_up = true,
                    Err(e) => tracing::warn!(error = %e, "cannot read other nodes' changes"),
                }
            }
            // Beat at once after catching up: the other nodes learn that
            // this one serves the change (Route 53's INSYNC) without
            // waiting for the next beat.
            if beat || caught_up {
                let was = registry.seen().reachable;
                let reached = registry.beat(&mut store, follower.served());
                // Back from an outage: what the others voted meanwhile.
                let back = reached && was == Some(false);
                votes_changed |= back;
                all_votes |= back;
            }
            if let Some(ballot) = ballot {
                if votes_changed {
                    votes::refresh(&ballot, &store, all_votes);
                }
                ballot.set_nodes(&registry.records());
                follower.revote();
            }
        })
        .await;
    }
}

/// Whether a vote notification (or a connection of the listener) came;
/// pending forever without them.
async fn vote_notified(votes: &mut Option<tokio::sync::watch::Receiver<u64>>) -> bool {
    match votes {
        Some(rx) => match rx.changed().await {
            Ok(()) => {
                rx.borrow_and_update();
                true
            }
            Err(_) => {
                *votes = None;
                false
            }
        },
        None => std::future::pending().await,
    }
}

/// The next announced version; pending forever without notifications.
async fn notified(changes: &mut Option<tokio::sync::watch::Receiver<i64>>) -> Option<i64> {
    match changes {
        Some(rx) => match rx.changed().await {
            Ok(()) => Some(*rx.borrow_and_update()),
            // The listener stopped: polling goes on alone.
            Err(_) => {
                *changes = None;
                None
            }
        },
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, last_seen: SystemTime) -> NodeRecord {
        NodeRecord {
            name: name.into(),
            address: "127.0.0.1:53".into(),
            api: None,
            version: "0".into(),
            config_version: 1,
            started_at: last_seen,
            last_seen,
            heartbeat: Duration::from_secs(2),
        }
    }

    #[test]
    fn a_node_is_live_for_three_of_its_intervals() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let cases = [
            (Duration::ZERO, true),
            (Duration::from_secs(6), true),
            (Duration::from_millis(6001), false),
            (Duration::from_secs(60), false),
        ];
        for (age, live) in cases {
            assert_eq!(is_live(&node("a", t), t + age), live, "{age:?}");
        }
        // A clock a little ahead of ours is not dead.
        assert!(is_live(&node("a", t + Duration::from_secs(1)), t));
    }

    #[test]
    fn this_node_is_listed_before_its_first_beat_and_others_by_their_heartbeat() {
        let t = SystemTime::now();
        let registry = Registry::new(Identity {
            name: "b".into(),
            address: None,
            api: None,
            started_at: t,
        });
        let only = registry.nodes(7, t);
        assert_eq!(only.len(), 1);
        assert!(only[0].this_node && only[0].live && !only[0].store_reachable);
        assert_eq!(only[0].config_version, 7);
        registry.seen().nodes = vec![
            node("a", t),
            node("c", t - Duration::from_secs(60)),
            node("b", t),
        ];
        registry.seen().reachable = Some(true);
        let all = registry.nodes(7, t);
        let names: Vec<(&str, bool, bool)> = all
            .iter()
            .map(|n| (n.name.as_str(), n.live, n.store_reachable))
            .collect();
        assert_eq!(
            names,
            [("a", true, true), ("b", true, true), ("c", false, false)]
        );
    }
}
