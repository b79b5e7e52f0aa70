//! The durable store: zones, records and health checks created through the
//! API, health states and the health event log.
//!
//! One interface ([`Store`]) over two backends that share one schema and
//! one list of migrations ([`MIGRATIONS`]):
//!
//! - [`sqlite`]: one file, the embedded default for a single node;
//! - [`postgres`]: a PostgreSQL database that several nodes share
//!   (`data = "postgresql://..."`).
//!
//! Every write is one transaction, durable before the caller replies, so an
//! acknowledged change survives a crash. Records and checks are kept as the
//! JSON the user sent ([`RecordInput`], [`HealthCheckInput`]), so a round
//! trip returns exactly what was stored. A node never answers DNS from the
//! database: the service reads it to build its in-memory snapshot.
//!
//! The interface is synchronous: the service calls it under its own mutex
//! from blocking threads (never from the DNS path), as it did when SQLite
//! was the only backend. The PostgreSQL backend keeps its async client on a
//! runtime of its own and waits for the answer (see [`postgres`]), so the
//! service did not change to gain it.

mod location;
pub mod postgres;
pub mod sqlite;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::input::{HealthCheckInput, RecordInput, TransfersInput, TsigKeyInput};

pub use location::{Location, PostgresUrl};
pub use sqlite::HistoryReader;

/// Schema migrations, applied in order by both backends; a database records
/// the ones it has in `schema_migrations`. Never edit one that has shipped:
/// add another. The SQL is plain and portable (TEXT, BIGINT, BOOLEAN,
/// composite keys, no rowid or AUTOINCREMENT) so that it runs unchanged on
/// SQLite and PostgreSQL.
pub const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE zones (
        name TEXT PRIMARY KEY,        -- lower-cased, absolute, with the dot
        display_name TEXT NOT NULL,   -- as the user wrote it
        id TEXT NOT NULL UNIQUE,      -- Route 53 style hosted zone id
        comment TEXT NOT NULL DEFAULT '',
        caller_reference TEXT,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE records (
        zone TEXT NOT NULL REFERENCES zones(name) ON DELETE CASCADE,
        owner TEXT NOT NULL,          -- lower-cased absolute owner
        rtype TEXT NOT NULL,
        set_id TEXT NOT NULL,         -- '' for simple records
        body TEXT NOT NULL,           -- the RecordInput, as JSON
        PRIMARY KEY (zone, owner, rtype, set_id)
    );
    CREATE TABLE health_checks (
        id TEXT PRIMARY KEY,
        body TEXT NOT NULL,           -- the HealthCheckInput, as JSON
        version BIGINT NOT NULL,
        caller_reference TEXT UNIQUE,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE health_states (
        check_id TEXT PRIMARY KEY,
        healthy BOOLEAN NOT NULL,
        changed_at BIGINT
    );
    CREATE TABLE health_events (
        check_id TEXT NOT NULL,
        at BIGINT NOT NULL,           -- milliseconds since the epoch
        seq BIGINT NOT NULL,          -- orders events of one millisecond
        old_healthy BOOLEAN NOT NULL,
        new_healthy BOOLEAN NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (check_id, at, seq)
    );
    CREATE INDEX health_events_by_time ON health_events (at);",
    // 2: what only the Route 53 API says: the settings of a health check
    // that eightfold's own schema has no field for (kept per version, so an
    // update through another API makes them fall back to their defaults),
    // and the change ids GetChange answers for.
    "CREATE TABLE route53_check_settings (
        check_id TEXT NOT NULL,
        version BIGINT NOT NULL,      -- the HealthCheckVersion they belong to
        enable_sni BOOLEAN,           -- EnableSNI as sent; NULL when not sent
        PRIMARY KEY (check_id, version)
    );
    CREATE TABLE route53_changes (
        id TEXT PRIMARY KEY,          -- C + 13 characters
        submitted_at BIGINT NOT NULL, -- milliseconds since the epoch
        comment TEXT
    );",
    // 3: operator overrides, so that a failover drill survives a restart.
    "CREATE TABLE health_overrides (
        check_id TEXT PRIMARY KEY,
        forced_healthy BOOLEAN NOT NULL,
        set_at BIGINT NOT NULL        -- milliseconds since the epoch
    );",
    // 4: history is pruned by age (health events have their index on
    // `at` from 1).
    "CREATE INDEX route53_changes_by_time ON route53_changes (submitted_at);",
    // 5: Route 53 health-check configurations as sent (per version, like
    // 2), and the tags of hosted zones and health checks.
    "CREATE TABLE route53_check_configs (
        check_id TEXT PRIMARY KEY,
        version BIGINT NOT NULL,      -- the HealthCheckVersion it belongs to
        config TEXT NOT NULL          -- the HealthCheckConfig, as JSON
    );
    CREATE TABLE route53_tags (
        resource_type TEXT NOT NULL,  -- hostedzone or healthcheck
        resource_id TEXT NOT NULL,
        tag_key TEXT NOT NULL,
        tag_value TEXT NOT NULL,
        PRIMARY KEY (resource_type, resource_id, tag_key)
    );",
    // 6: the cluster. `store_version` counts the writes that change what
    // nodes serve (zones, records, checks, overrides, Route 53 settings):
    // a node serving version N has every one of the first N. `nodes` is
    // each node's heartbeat.
    "CREATE TABLE store_version (
        id BIGINT PRIMARY KEY,        -- always 1: one row
        version BIGINT NOT NULL
    );
    INSERT INTO store_version (id, version) VALUES (1, 0);
    CREATE TABLE nodes (
        name TEXT PRIMARY KEY,
        address TEXT NOT NULL,        -- its DNS address, IP:PORT
        api TEXT,                     -- its API address, when it runs one
        version TEXT NOT NULL,        -- eightfold's version
        config_version BIGINT NOT NULL, -- the store version it serves
        started_at BIGINT NOT NULL,   -- milliseconds since the epoch
        last_seen BIGINT NOT NULL,    -- its last heartbeat, its own clock
        heartbeat_ms BIGINT NOT NULL  -- its heartbeat interval
    );
    -- The store version when the change was recorded: the change is in
    -- sync once every live node serves that version. NULL before 6.
    ALTER TABLE route53_changes ADD COLUMN version BIGINT;",
    // 7: each zone's SOA serial and the fingerprint of the content it
    // stands for (xfr::serial), so a restart with no change keeps it; one
    // row per zone for every node, written by compare-and-set only.
    "CREATE TABLE zone_serials (
        zone TEXT PRIMARY KEY,        -- lower-cased, absolute, with the dot
        serial BIGINT NOT NULL,
        fingerprint BIGINT NOT NULL,  -- 64 bits of SHA-256, as signed
        declared BIGINT               -- the SOA's own serial; NULL: generated
    );",
    // 8: health votes: each node's latest observation of each check, the
    // input of `health::vote` on every node.
    "CREATE TABLE health_observations (
        check_id TEXT NOT NULL,
        node TEXT NOT NULL,
        healthy BOOLEAN NOT NULL,     -- measured: threshold applied, before invert
        reason TEXT NOT NULL,
        at BIGINT NOT NULL,           -- when it changed, the node's clock
        PRIMARY KEY (check_id, node)
    );",
    // 9: TSIG keys made through the API (the config file's are not here).
    "CREATE TABLE tsig_keys (
        name TEXT PRIMARY KEY,        -- lower-cased, absolute, with the dot
        body TEXT NOT NULL,           -- the key as the API took it, JSON
        created_at BIGINT NOT NULL
    );",
    // 10: the store version of each zone's last write, so a node catching
    // up reads (and rebuilds) only the zones written since it last did.
    "ALTER TABLE zones ADD COLUMN changed_version BIGINT NOT NULL DEFAULT 0;",
    // 11: an API zone's own transfer settings (`input::TransfersInput`,
    // JSON); NULL: the server's apply.
    "ALTER TABLE zones ADD COLUMN transfers TEXT;",
    // 12: health votes read by what changed (`Backend::observations_since`):
    // `seq` orders each observation's last write, and deleting
    // observations (a check's) counts in `observations_deleted`, which
    // sends every reader back to a full read. Rows from before 12 have
    // seq 0, which a first (full) read covers.
    "ALTER TABLE health_observations ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
    CREATE INDEX health_observations_by_seq ON health_observations (seq);
    ALTER TABLE store_version ADD COLUMN observations_deleted BIGINT NOT NULL DEFAULT 0;",
];

/// How much history the store keeps (`[server] history_max_age`,
/// `history_max_rows`): health events and Route 53 change records older
/// than `max_age`, and past the newest `max_rows` of each, are deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Oldest history kept.
    pub max_age: Duration,
    /// Most rows kept per kind of history.
    pub max_rows: u64,
}

/// Rows one pruning deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// Health events.
    pub events: u64,
    /// Route 53 change records.
    pub changes: u64,
}

/// What can go wrong with the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The SQLite file could not be opened or migrated.
    #[error("cannot open database {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// A SQLite query failed (disk full, read-only file, corruption...).
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    /// The file system cannot give the documented durability.
    #[error(
        "database {path} runs with journal_mode={journal}, synchronous={synchronous}; \
         eightfold needs WAL and FULL (2): put the file on a local file system"
    )]
    Durability {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite kept.
        journal: String,
        /// The synchronous level SQLite kept.
        synchronous: i64,
    },
    /// PostgreSQL cannot be reached (down, refused, wrong credentials),
    /// or a connection broke mid-way.
    #[error("cannot reach PostgreSQL at {url}: {reason}")]
    Unreachable {
        /// The database URL, password hidden.
        url: String,
        /// Why, as the client tells it.
        reason: String,
    },
    /// PostgreSQL refused a statement (a constraint, a full disk...).
    #[error("database error (PostgreSQL at {url}): {message}")]
    Postgres {
        /// The database URL, password hidden.
        url: String,
        /// The server's message, with its SQLSTATE.
        message: String,
    },
    /// Another node wrote first: the write was validated against a store
    /// version that is no longer the latest, and nothing was changed.
    #[error(
        "another node changed the same data at the same moment (this node was at version {expected}); nothing was changed: send the request again"
    )]
    Conflict {
        /// The version the write expected to follow.
        expected: i64,
    },
    /// Stored JSON no longer parses.
    #[error("stored {what} is unreadable: {source}")]
    Corrupt {
        /// Which object.
        what: String,
        /// Why.
        source: serde_json::Error,
    },
}

/// A zone as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredZone {
    /// Lower-cased absolute name (the key).
    pub name: String,
    /// The name as the user wrote it.
    pub display_name: String,
    /// Hosted zone id (`Z...`).
    pub id: String,
    /// Free text.
    pub comment: String,
    /// Route 53 CallerReference, if created through that API.
    pub caller_reference: Option<String>,
    /// Creation time.
    pub created_at: SystemTime,
    /// Its records.
    pub records: Vec<RecordInput>,
    /// Its own transfer settings; `None`: the server's apply.
    pub transfers: Option<TransfersInput>,
}

/// A health check as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCheck {
    /// The check.
    pub input: HealthCheckInput,
    /// Incremented by every update (Route 53's HealthCheckVersion).
    pub version: i64,
    /// Route 53 CallerReference, if any.
    pub caller_reference: Option<String>,
}

/// A saved published state of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredState {
    /// Published state.
    pub healthy: bool,
    /// When it last changed.
    pub changed_at: Option<SystemTime>,
}

/// One recorded state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthEvent {
    /// Check id.
    pub check: String,
    /// When.
    pub at: SystemTime,
    /// State before.
    pub old_healthy: bool,
    /// State after.
    pub new_healthy: bool,
    /// Why.
    pub reason: String,
}

/// One record change of a batch, by key.
#[derive(Debug, Clone)]
pub enum RecordWrite {
    /// Insert or replace the record with this key.
    Put {
        /// Lower-cased absolute owner, type, set ('' for simple).
        key: (String, String, String),
        /// The record (boxed: the enum stays small).
        record: Box<RecordInput>,
    },
    /// Remove the record with this key.
    Delete {
        /// Lower-cased absolute owner, type, set.
        key: (String, String, String),
    },
}

/// A node of a cluster, as its last heartbeat wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// `[server] node`.
    pub name: String,
    /// Its DNS address (`IP:PORT`).
    pub address: String,
    /// Its API address, when it runs one.
    pub api: Option<String>,
    /// eightfold's version.
    pub version: String,
    /// The store version it serves ([`Backend::version`]).
    pub config_version: i64,
    /// When it started.
    pub started_at: SystemTime,
    /// Its last heartbeat, by its own clock.
    pub last_seen: SystemTime,
    /// How often it beats.
    pub heartbeat: Duration,
}

/// A node's latest observation of a check's endpoint (a health vote).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObservation {
    /// Check id.
    pub check: String,
    /// The node that observed.
    pub node: String,
    /// Measured healthy: probe results after the threshold, before invert.
    pub healthy: bool,
    /// Why, as the node's last probe said.
    pub reason: String,
    /// When the observation last changed, by the node's clock.
    pub at: SystemTime,
}

/// Counts a deletion of observations, in the deleting transaction:
/// readers of the votes see only what is written, never what is deleted,
/// and a moved count sends them back to a full read
/// ([`Backend::observations_since`]).
const OBSERVATIONS_DELETED: &str =
    "UPDATE store_version SET observations_deleted = observations_deleted + 1 WHERE id = 1";

/// A change to one node's vote on one check ([`Backend::write_votes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoteChange {
    /// The node's latest observation.
    Observed(StoredObservation),
    /// The node no longer probes the check: its vote goes.
    Withdrawn {
        /// Check id.
        check: String,
        /// The node that withdraws.
        node: String,
    },
}

impl VoteChange {
    /// The check it is about.
    pub fn check(&self) -> &str {
        match self {
            VoteChange::Observed(o) => &o.check,
            VoteChange::Withdrawn { check, .. } => check,
        }
    }
}

/// Where a reader of the health votes left off
/// ([`Backend::observations_since`]): what it has read, as the backend
/// that read it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoteCursor {
    /// Every observation written with a lower `seq` was read; those at or
    /// above it may not have been (on PostgreSQL, a transaction older
    /// than the read may still commit one).
    seq: i64,
    /// `store_version.observations_deleted` as of the read.
    deleted: i64,
}

/// What [`Backend::observations_since`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteRead {
    /// Every observation there is, to replace what the reader holds
    /// (`true`); or only those written since the cursor, to merge in
    /// (`false`): a node's vote on a check replaces its earlier one.
    pub full: bool,
    /// The observations, by check and node.
    pub observations: Vec<StoredObservation>,
    /// Where the next read starts.
    pub cursor: VoteCursor,
}

/// What a backend does; [`Store`] is the one handle the service holds.
/// A Route 53 change to record with the write that makes it
/// ([`Backend::record_with_next_write`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    /// The change id (`C...`).
    pub id: String,
    /// When it was submitted.
    pub submitted_at: SystemTime,
    /// The batch's comment.
    pub comment: Option<String>,
}

/// What the next write that changes what nodes serve carries besides its
/// own rows ([`Backend::expect_version`], [`Backend::record_with_next_write`]).
#[derive(Debug, Default)]
pub(crate) struct NextWrite {
    /// The version the store must still be at.
    pub(crate) expected: Option<i64>,
    /// The change to record in the same transaction.
    pub(crate) change: Option<NewChange>,
}

/// Reads take `&self`, writes `&mut self`: the service serialises writes.
/// Every write is one transaction: all of it or none of it. The writes
/// that change what nodes serve return the store version they made
/// ([`Backend::version`]).
pub trait Backend: Send {
    /// Every stored zone with its records, zones by name, records by key.
    fn zones(&self) -> Result<Vec<StoredZone>, StoreError>;
    /// The zones written after store version `version`, with their
    /// records, and the name of every zone there is now: what a node that
    /// serves `version` reads to catch up (a zone missing from the names
    /// was deleted).
    fn zones_since(&self, version: i64) -> Result<(Vec<StoredZone>, Vec<String>), StoreError>;
    /// Adds an empty zone.
    fn create_zone(&mut self, zone: &StoredZone) -> Result<i64, StoreError>;
    /// Removes a zone and its records.
    fn delete_zone(&mut self, name: &str) -> Result<i64, StoreError>;
    /// Sets zone `zone`'s own transfer settings, or (`None`) hands it
    /// back to the server's.
    fn set_zone_transfers(
        &mut self,
        zone: &str,
        transfers: Option<&TransfersInput>,
    ) -> Result<i64, StoreError>;
    /// Applies every write of one change batch to `zone`, all or nothing.
    fn write_records(&mut self, zone: &str, writes: &[RecordWrite]) -> Result<i64, StoreError>;
    /// Every stored health check, by id.
    fn checks(&self) -> Result<Vec<StoredCheck>, StoreError>;
    /// Inserts or replaces a health check.
    fn put_check(&mut self, check: &StoredCheck) -> Result<i64, StoreError>;
    /// Removes a health check, its saved state, its override and the
    /// nodes' observations of it (counted in `observations_deleted`, so
    /// that readers of the votes notice).
    fn delete_check(&mut self, id: &str) -> Result<i64, StoreError>;
    /// Saves the operator's override of a check, or (`None`) removes it.
    fn set_override(&mut self, id: &str, forced: Option<bool>) -> Result<i64, StoreError>;
    /// Saved overrides by check id: true when forced healthy.
    fn overrides(&self) -> Result<Vec<(String, bool)>, StoreError>;
    /// Records state changes in one transaction, in order: each event,
    /// and the state to resume from. A flip of many checks is one commit,
    /// not one per check.
    fn record_events(&mut self, events: &[HealthEvent]) -> Result<(), StoreError>;
    /// Records one state change, as [`Backend::record_events`] does.
    fn record_event(&mut self, event: &HealthEvent) -> Result<(), StoreError> {
        self.record_events(std::slice::from_ref(event))
    }
    /// As [`Backend::record_events`], skipping each event whose check's
    /// saved state already is the event's new state, or moved later than
    /// the event: nodes that share a store each decide the same
    /// transition, and the first to record it records it for all
    /// (atomically, however they race); a node that writes its
    /// transitions late (after an outage of the store) adds none that
    /// another node's newer one overtook. Returns, for each event, whether
    /// it was recorded.
    fn record_transitions(&mut self, events: &[HealthEvent]) -> Result<Vec<bool>, StoreError>;
    /// Records one transition, as [`Backend::record_transitions`] does.
    fn record_transition(&mut self, event: &HealthEvent) -> Result<bool, StoreError> {
        Ok(self.record_transitions(std::slice::from_ref(event))?[0])
    }
    /// Saved states, by check id.
    fn states(&self) -> Result<Vec<(String, StoredState)>, StoreError>;
    /// Events, oldest first, optionally of one check and since a time; at
    /// most `limit`, the newest ones when there are more.
    fn events(
        &self,
        check: Option<&str>,
        since: Option<SystemTime>,
        limit: usize,
    ) -> Result<Vec<HealthEvent>, StoreError>;
    /// A connection of its own for history reads, so that they need not
    /// hold the service's lock; `None` where the backend has none to give
    /// (an in-memory database; PostgreSQL, whose reads do not block its
    /// writes), and history is then read through the store.
    fn history_reader(&self) -> Result<Option<HistoryReader>, StoreError> {
        Ok(None)
    }
    /// Route 53's EnableSNI of each check, at the version it was set for.
    fn route53_check_settings(&self) -> Result<Vec<(String, i64, Option<bool>)>, StoreError>;
    /// Replaces the Route 53 settings of a check (`None`: forgets them).
    fn put_route53_check_settings(
        &mut self,
        check: &str,
        settings: Option<(i64, Option<bool>)>,
    ) -> Result<i64, StoreError>;
    /// Route 53 HealthCheckConfigs as sent: check id, the version they
    /// were sent for, and the config as JSON.
    fn route53_check_configs(&self) -> Result<Vec<(String, i64, String)>, StoreError>;
    /// Keeps the config sent for version `version` of check `id`, or
    /// (`None`) forgets the check's config. Read by whichever node is
    /// asked, so no node serves it from memory: no store version.
    fn put_route53_check_config(
        &mut self,
        id: &str,
        config: Option<(i64, &str)>,
    ) -> Result<(), StoreError>;
    /// The tags of a resource (`hostedzone` or `healthcheck`), by key.
    fn route53_tags(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Vec<(String, String)>, StoreError>;
    /// Replaces every tag of a resource with `tags` (none: removes them),
    /// in one transaction.
    fn put_route53_tags(
        &mut self,
        resource_type: &str,
        id: &str,
        tags: &[(String, String)],
    ) -> Result<(), StoreError>;
    /// The saved serial of every zone (lower-cased names), or of the
    /// zones named in `zones` alone: a change to one zone reads its row,
    /// a start reads them all in one query.
    fn zone_serials(
        &self,
        zones: Option<&[String]>,
    ) -> Result<Vec<(String, StoredSerial)>, StoreError>;
    /// Writes each claim's serial only where its zone's row is still the
    /// one the claim expects (compare-and-set: nodes sharing a store each
    /// decide a zone's next serial from the row they read, and only the
    /// first to write it wins; `xfr::serial` has the rule). All claims in
    /// one transaction, taken in zone order so two nodes claiming many
    /// zones at once never lock rows in opposite orders; the outcomes
    /// come back in the claims' order. Derived state, written after it is
    /// decided: no store version.
    fn claim_zone_serials(&mut self, claims: &[SerialClaim]) -> Result<Vec<Claimed>, StoreError>;
    /// Deletes history past `retention`, in one transaction.
    fn prune_history(
        &mut self,
        now: SystemTime,
        retention: Retention,
    ) -> Result<Pruned, StoreError>;
    /// Remembers an applied change, for Route 53's GetChange, with the
    /// store version it is recorded at (which includes the change).
    fn put_route53_change(
        &mut self,
        id: &str,
        submitted_at: SystemTime,
        comment: Option<&str>,
    ) -> Result<(), StoreError>;
    /// An applied change by id: when, its comment, and the store version
    /// that holds it (0 for changes recorded before versions existed).
    fn route53_change(
        &self,
        id: &str,
    ) -> Result<Option<(SystemTime, Option<String>, i64)>, StoreError>;
    /// Makes the next write that changes what nodes serve also record
    /// `change` (as [`Backend::put_route53_change`], at the version that
    /// write makes), in its own transaction: a reply that says the change
    /// failed then means it did. Applies to one write.
    fn record_with_next_write(&mut self, change: NewChange);
    /// How many writes that change what nodes serve the store has seen.
    fn version(&self) -> Result<i64, StoreError>;
    /// Makes the next write that changes what nodes serve succeed only if
    /// the store is still at `version` (else [`StoreError::Conflict`],
    /// nothing written): a node writes only on top of what it serves, which
    /// is what it validated the write against. Applies to one write.
    fn expect_version(&mut self, version: i64);
    /// Writes a node's heartbeat (inserted the first time).
    fn heartbeat(&mut self, node: &NodeRecord) -> Result<(), StoreError>;
    /// Every node that ever beat, by name (until forgotten).
    fn nodes(&self) -> Result<Vec<NodeRecord>, StoreError>;
    /// Removes node `name` and its observations, provided its last
    /// heartbeat is older than `seen_before` (so a node that beat again
    /// meanwhile stays). Returns whether it was removed. Not a change of
    /// what nodes serve: no store version.
    fn forget_node(&mut self, name: &str, seen_before: SystemTime) -> Result<bool, StoreError>;
    /// Writes changes to nodes' votes in one transaction, all or none:
    /// an observation replaces its node's previous one on its check; a
    /// withdrawal removes the node's vote (it no longer probes the check)
    /// and sends readers back to a full read, as a deletion does. On
    /// PostgreSQL the listening nodes are told that votes changed. At
    /// most one change per check and node. Not a change of what nodes
    /// serve: no store version.
    fn write_votes(&mut self, changes: &[VoteChange]) -> Result<(), StoreError>;
    /// Saves one observation, as [`Backend::write_votes`] does.
    fn observe(&mut self, observation: &StoredObservation) -> Result<(), StoreError> {
        self.write_votes(&[VoteChange::Observed(observation.clone())])
    }
    /// Every node's latest observation of every check, by check and node.
    fn observations(&self) -> Result<Vec<StoredObservation>, StoreError> {
        Ok(self.observations_since(None)?.observations)
    }
    /// The observations written since the read that returned `since`
    /// (some read before may come again), or all of them when `since` is
    /// `None` or the backend cannot rule out having missed one: some were
    /// deleted since, or the store's counter went back (a database
    /// restored or replaced). Reads in one snapshot, so the cursor and
    /// the rows agree.
    fn observations_since(&self, since: Option<VoteCursor>) -> Result<VoteRead, StoreError>;
    /// The TSIG keys made through the API: each one's lower-cased name and
    /// its body (JSON, the secret included), in name order.
    fn tsig_keys(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// Adds the key `name`; a key of that name already stored is an error.
    fn create_tsig_key(&mut self, name: &str, body: &str) -> Result<i64, StoreError>;
    /// Removes the key `name` (nothing when there is none).
    fn delete_tsig_key(&mut self, name: &str) -> Result<i64, StoreError>;
    /// Wakes when another node may have written: the store version a
    /// notification announced, and a count of health-vote notifications
    /// (PostgreSQL's LISTEN/NOTIFY, reconnecting by itself). `None` where
    /// the backend has no notifications (SQLite): polling is then the only
    /// way to learn.
    fn changes(&self) -> Option<Notifications> {
        None
    }
    /// How many migrations the database records, for tests.
    #[cfg(test)]
    fn migrations_applied(&self) -> Result<i64, StoreError>;
    /// Runs raw SQL, for tests that make the database fail on purpose.
    #[cfg(test)]
    fn execute_batch(&mut self, sql: &str) -> Result<(), StoreError>;
}

/// What a node hears of the others' writes ([`Backend::changes`]).
pub struct Notifications {
    /// The newest store version announced.
    pub versions: tokio::sync::watch::Receiver<i64>,
    /// Moves at every health-vote notification.
    pub votes: tokio::sync::watch::Receiver<u64>,
    /// Moves when the listener (re)connects: votes may have changed while
    /// it was away, or the server may be another one, so every vote is
    /// read again.
    pub listening: tokio::sync::watch::Receiver<u64>,
}

/// A zone's serial as saved (see `xfr::serial::Entry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredSerial {
    /// The serial served.
    pub serial: u32,
    /// Fingerprint of the content it stands for.
    pub fingerprint: u64,
    /// The serial the zone's SOA declared.
    pub declared: Option<u32>,
}

/// A zone's next serial, to be written only over the row it was decided
/// from ([`Backend::claim_zone_serials`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialClaim {
    /// The zone, lower-cased, absolute.
    pub zone: String,
    /// The row read (`None`: there was none, the claim inserts it).
    pub expected: Option<StoredSerial>,
    /// The row to write.
    pub new: StoredSerial,
}

/// What became of a [`SerialClaim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// The row was as expected and now holds the claim's serial.
    Won,
    /// Another node wrote first: the row as it is now.
    Lost(Option<StoredSerial>),
}

/// The store the service uses, whichever backend holds the data.
pub struct Store {
    backend: Box<dyn Backend>,
}

impl Store {
    /// Opens (creating when missing) and migrates the SQLite file at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Ok(Store::with(sqlite::SqliteBackend::open(path)?))
    }

    /// Connects to PostgreSQL at `url` and migrates its schema.
    pub fn connect(url: &PostgresUrl) -> Result<Store, StoreError> {
        Ok(Store::with(postgres::PostgresBackend::connect(url)?))
    }

    /// Opens whichever backend `location` names.
    pub fn open_location(location: &Location) -> Result<Store, StoreError> {
        match location {
            Location::Sqlite(path) => Store::open(path),
            Location::Postgres(url) => Store::connect(url),
        }
    }

    /// An in-memory SQLite database, for tests.
    pub fn in_memory() -> Result<Store, StoreError> {
        Ok(Store::with(sqlite::SqliteBackend::in_memory()?))
    }

    fn with(backend: impl Backend + 'static) -> Store {
        Store {
            backend: Box::new(backend),
        }
    }
}

// The service keeps calling `store.zones()` and friends: `Store` hands the
// interface's methods through rather than repeating each one.
impl std::ops::Deref for Store {
    type Target = dyn Backend;
    fn deref(&self) -> &(dyn Backend + 'static) {
        &*self.backend
    }
}

impl std::ops::DerefMut for Store {
    fn deref_mut(&mut self) -> &mut (dyn Backend + 'static) {
        &mut *self.backend
    }
}

/// Milliseconds since the epoch; saturates, so a time far in the future
/// (an API `since`) still compares after every stored one.
fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn from_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// A stored record's JSON back into its input; both backends decode here.
fn decode_record(
    zone: &str,
    (owner, rtype, set): (&str, &str, &str),
    body: &str,
) -> Result<RecordInput, StoreError> {
    serde_json::from_str(body).map_err(|source| StoreError::Corrupt {
        what: format!("record {owner} {rtype} {set:?} in zone {zone}"),
        source,
    })
}

/// A stored check's JSON back into its input.
fn decode_check(id: &str, body: &str) -> Result<HealthCheckInput, StoreError> {
    serde_json::from_str(body).map_err(|source| StoreError::Corrupt {
        what: format!("health check {id}"),
        source,
    })
}

/// A zone's stored transfer settings back into their input.
fn decode_transfers(
    zone: &str,
    body: Option<String>,
) -> Result<Option<TransfersInput>, StoreError> {
    body.map(|body| {
        serde_json::from_str(&body).map_err(|source| StoreError::Corrupt {
            what: format!("transfer settings of zone {zone}"),
            source,
        })
    })
    .transpose()
}

fn encode_transfers(transfers: Option<&TransfersInput>) -> Option<String> {
    transfers.map(|t| serde_json::to_string(t).expect("transfer settings serialise"))
}

fn encode_record(record: &RecordInput) -> String {
    serde_json::to_string(record).expect("records serialise")
}

fn encode_check(check: &HealthCheckInput) -> String {
    serde_json::to_string(check).expect("checks serialise")
}

/// The body [`Backend::create_tsig_key`] keeps for a key: its input's
/// JSON, as records and checks are kept. Here rather than in the
/// backends because the service holds keys that no longer decode aside
/// (logged, not a store error), so the backends pass bodies through.
pub fn encode_tsig_key(key: &TsigKeyInput) -> String {
    serde_json::to_string(key).expect("keys serialise")
}

/// A body [`Backend::tsig_keys`] returned, back into its input.
pub fn decode_tsig_key(body: &str) -> Result<TsigKeyInput, serde_json::Error> {
    serde_json::from_str(body)
}

#[cfg(test)]
mod tests;
