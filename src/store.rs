//! The durable store: zones, records and health checks created through the
//! API, health states and the health event log, in one SQLite file.
//!
//! Every write is one transaction, committed with `synchronous = FULL`
//! before the caller replies, so an acknowledged change survives a crash.
//! Records and checks are kept as the JSON the user sent ([`RecordInput`],
//! [`HealthCheckInput`]), so a round trip returns exactly what was stored.
//!
//! The SQL is plain and portable (TEXT, BIGINT, BOOLEAN, composite keys, no
//! rowid or AUTOINCREMENT), so the same schema can run on PostgreSQL later;
//! only the PRAGMAs at open are SQLite's own.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};

use crate::input::{HealthCheckInput, RecordInput};

/// Schema migrations, applied in order; a database records the ones it has.
/// Never edit one that has shipped: add another.
const MIGRATIONS: &[&str] = &[
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
    // 5: each zone's SOA serial and the fingerprint of the content it
    // stands for (xfr::serial), so a restart with no change keeps it.
    "CREATE TABLE zone_serials (
        zone TEXT PRIMARY KEY,        -- lower-cased, absolute, with the dot
        serial BIGINT NOT NULL,
        fingerprint BIGINT NOT NULL,  -- 64 bits of SHA-256, as signed
        declared BIGINT               -- the SOA's own serial; NULL: generated
    );",
];

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

/// Zone serials: derived state, saved after they are published.
impl Store {
    /// Every saved serial, by lower-cased zone name.
    pub fn zone_serials(&self) -> Result<Vec<(String, StoredSerial)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT zone, serial, fingerprint, declared FROM zone_serials")?;
        let rows = stmt.query_map([], |r| {
            let declared: Option<i64> = r.get(3)?;
            Ok((
                r.get::<_, String>(0)?,
                StoredSerial {
                    serial: r.get::<_, i64>(1)? as u32,
                    fingerprint: r.get::<_, i64>(2)? as u64,
                    declared: declared.map(|d| d as u32),
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Saves the serials of `zones` (lower-cased names), in one
    /// transaction.
    pub fn put_zone_serials(&mut self, zones: &[(String, StoredSerial)]) -> Result<(), StoreError> {
        let tx = self.write()?;
        for (zone, s) in zones {
            tx.execute(
                "INSERT INTO zone_serials (zone, serial, fingerprint, declared) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (zone) DO UPDATE SET serial = ?2, fingerprint = ?3, declared = ?4",
                params![
                    zone,
                    i64::from(s.serial),
                    s.fingerprint as i64,
                    s.declared.map(i64::from)
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

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
    /// The file could not be opened or migrated.
    #[error("cannot open database {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// A query failed (disk full, read-only file, corruption...).
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

/// The database connection. Not shared: the service serialises writes.
pub struct Store {
    conn: Connection,
}

/// Milliseconds since the epoch; saturates, so a time far in the future
/// (an API `since`) still compares after every stored one.
fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// SQLite's `PRAGMA synchronous` value for FULL: every commit is fsynced.
const SYNCHRONOUS_FULL: i64 = 2;

fn from_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

impl Store {
    /// Opens (creating when missing) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(open)?;
        let store = Store::init(conn).map_err(open)?;
        // SQLite keeps its old journal mode, without an error, where WAL
        // is impossible (some network file systems): refuse rather than
        // acknowledge writes on weaker terms than documented.
        let (journal, synchronous) = store.durability().map_err(open)?;
        if journal != "wal" || synchronous != SYNCHRONOUS_FULL {
            return Err(StoreError::Durability {
                path: path.to_owned(),
                journal,
                synchronous,
            });
        }
        Ok(store)
    }

    /// An in-memory database, for tests.
    pub fn in_memory() -> Result<Store, StoreError> {
        Ok(Store::init(Connection::open_in_memory()?)?)
    }

    fn init(conn: Connection) -> Result<Store, rusqlite::Error> {
        // WAL keeps readers off the writer's back; FULL makes a commit
        // durable before it returns; the busy timeout rides out a backup
        // tool holding a lock.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let mut store = Store { conn };
        store.migrate()?;
        Ok(store)
    }

    /// A write transaction that takes the write lock at once (`BEGIN
    /// IMMEDIATE`). A deferred one that has read first cannot wait for a
    /// lock another connection holds (SQLite returns "database is
    /// locked" at once rather than risk a deadlock), so a backup tool's
    /// brief lock would fail the write; this one waits out the busy
    /// timeout instead.
    fn write(&mut self) -> Result<rusqlite::Transaction<'_>, rusqlite::Error> {
        self.conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
    }

    /// The journal mode and `synchronous` level the connection really runs
    /// with (`wal` and 2 for a file; `memory` for an in-memory database).
    pub fn durability(&self) -> Result<(String, i64), rusqlite::Error> {
        let journal: String = self
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        let synchronous: i64 = self
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))?;
        Ok((journal.to_ascii_lowercase(), synchronous))
    }

    fn migrate(&mut self) -> Result<(), rusqlite::Error> {
        let tx = self.write()?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY,
                applied_at BIGINT NOT NULL
            )",
        )?;
        let done: i64 = tx.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )?;
        for (i, sql) in MIGRATIONS.iter().enumerate() {
            let version = i as i64 + 1;
            if version > done {
                tx.execute_batch(sql)?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                    params![version, millis(SystemTime::now())],
                )?;
            }
        }
        tx.commit()
    }

    /// Every stored zone with its records, by name.
    pub fn zones(&self) -> Result<Vec<StoredZone>, StoreError> {
        let mut zones = Vec::new();
        let mut stmt = self.conn.prepare(
            "SELECT name, display_name, id, comment, caller_reference, created_at
             FROM zones ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(StoredZone {
                name: r.get(0)?,
                display_name: r.get(1)?,
                id: r.get(2)?,
                comment: r.get(3)?,
                caller_reference: r.get(4)?,
                created_at: from_millis(r.get(5)?),
                records: Vec::new(),
            })
        })?;
        for z in rows {
            zones.push(z?);
        }
        let mut stmt = self.conn.prepare(
            "SELECT owner, rtype, set_id, body FROM records WHERE zone = ?1
             ORDER BY owner, rtype, set_id",
        )?;
        for zone in &mut zones {
            let rows = stmt.query_map([&zone.name], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            for row in rows {
                let (owner, rtype, set, body) = row?;
                let record = serde_json::from_str(&body).map_err(|source| StoreError::Corrupt {
                    what: format!("record {owner} {rtype} {set:?} in zone {}", zone.name),
                    source,
                })?;
                zone.records.push(record);
            }
        }
        Ok(zones)
    }

    /// Adds an empty zone.
    pub fn create_zone(&mut self, zone: &StoredZone) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO zones (name, display_name, id, comment, caller_reference, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                zone.name,
                zone.display_name,
                zone.id,
                zone.comment,
                zone.caller_reference,
                millis(zone.created_at)
            ],
        )?;
        Ok(())
    }

    /// Removes a zone and its records.
    pub fn delete_zone(&mut self, name: &str) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.execute("DELETE FROM records WHERE zone = ?1", [name])?;
        tx.execute("DELETE FROM zones WHERE name = ?1", [name])?;
        tx.commit()?;
        Ok(())
    }

    /// Applies every write of one change batch to `zone`, all or nothing.
    pub fn write_records(&mut self, zone: &str, writes: &[RecordWrite]) -> Result<(), StoreError> {
        let tx = self.write()?;
        for w in writes {
            match w {
                RecordWrite::Put { key, record } => {
                    let body = serde_json::to_string(record).expect("records serialise");
                    tx.execute(
                        "DELETE FROM records WHERE zone = ?1 AND owner = ?2 AND rtype = ?3 AND set_id = ?4",
                        params![zone, key.0, key.1, key.2],
                    )?;
                    tx.execute(
                        "INSERT INTO records (zone, owner, rtype, set_id, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![zone, key.0, key.1, key.2, body],
                    )?;
                }
                RecordWrite::Delete { key } => {
                    tx.execute(
                        "DELETE FROM records WHERE zone = ?1 AND owner = ?2 AND rtype = ?3 AND set_id = ?4",
                        params![zone, key.0, key.1, key.2],
                    )?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every stored health check, by id.
    pub fn checks(&self) -> Result<Vec<StoredCheck>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, body, version, caller_reference FROM health_checks ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, body, version, caller_reference) = row?;
            let input = serde_json::from_str(&body).map_err(|source| StoreError::Corrupt {
                what: format!("health check {id}"),
                source,
            })?;
            out.push(StoredCheck {
                input,
                version,
                caller_reference,
            });
        }
        Ok(out)
    }

    /// Inserts or replaces a health check.
    pub fn put_check(&mut self, check: &StoredCheck) -> Result<(), StoreError> {
        let body = serde_json::to_string(&check.input).expect("checks serialise");
        let tx = self.write()?;
        tx.execute("DELETE FROM health_checks WHERE id = ?1", [&check.input.id])?;
        tx.execute(
            "INSERT INTO health_checks (id, body, version, caller_reference, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                check.input.id,
                body,
                check.version,
                check.caller_reference,
                millis(SystemTime::now())
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Removes a health check, its saved state and its events.
    pub fn delete_check(&mut self, id: &str) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.execute("DELETE FROM health_checks WHERE id = ?1", [id])?;
        tx.execute("DELETE FROM health_states WHERE check_id = ?1", [id])?;
        tx.execute("DELETE FROM health_overrides WHERE check_id = ?1", [id])?;
        tx.commit()?;
        Ok(())
    }

    /// Saves the operator's override of a check, or (`None`) removes it.
    pub fn set_override(&mut self, id: &str, forced: Option<bool>) -> Result<(), StoreError> {
        match forced {
            Some(healthy) => self.conn.execute(
                "INSERT INTO health_overrides (check_id, forced_healthy, set_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (check_id) DO UPDATE SET forced_healthy = ?2, set_at = ?3",
                params![id, healthy, millis(SystemTime::now())],
            )?,
            None => self
                .conn
                .execute("DELETE FROM health_overrides WHERE check_id = ?1", [id])?,
        };
        Ok(())
    }

    /// Saved overrides, by check id: true when forced healthy.
    pub fn overrides(&self) -> Result<Vec<(String, bool)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT check_id, forced_healthy FROM health_overrides ORDER BY check_id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a state change: the event, and the state to resume from.
    pub fn record_event(&mut self, event: &HealthEvent) -> Result<(), StoreError> {
        let tx = self.write()?;
        let at = millis(event.at);
        let seq: i64 = tx.query_row(
            "SELECT COUNT(*) FROM health_events WHERE check_id = ?1 AND at = ?2",
            params![event.check, at],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO health_events (check_id, at, seq, old_healthy, new_healthy, reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                event.check,
                at,
                seq,
                event.old_healthy,
                event.new_healthy,
                event.reason
            ],
        )?;
        tx.execute(
            "DELETE FROM health_states WHERE check_id = ?1",
            [&event.check],
        )?;
        tx.execute(
            "INSERT INTO health_states (check_id, healthy, changed_at) VALUES (?1, ?2, ?3)",
            params![event.check, event.new_healthy, at],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Saved states, by check id.
    pub fn states(&self) -> Result<Vec<(String, StoredState)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT check_id, healthy, changed_at FROM health_states")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                StoredState {
                    healthy: r.get(1)?,
                    changed_at: r.get::<_, Option<i64>>(2)?.map(from_millis),
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Events, oldest first, optionally of one check and since a time; at
    /// most `limit`, the newest ones when there are more.
    pub fn events(
        &self,
        check: Option<&str>,
        since: Option<SystemTime>,
        limit: usize,
    ) -> Result<Vec<HealthEvent>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT check_id, at, old_healthy, new_healthy, reason FROM health_events
             WHERE (?1 IS NULL OR check_id = ?1) AND at >= ?2
             ORDER BY at DESC, seq DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![check, since.map_or(0, millis), limit as i64], |r| {
            Ok(HealthEvent {
                check: r.get(0)?,
                at: from_millis(r.get(1)?),
                old_healthy: r.get(2)?,
                new_healthy: r.get(3)?,
                reason: r.get(4)?,
            })
        })?;
        let mut events: Vec<HealthEvent> = rows.collect::<Result<_, _>>()?;
        events.reverse();
        Ok(events)
    }

    /// Route 53's EnableSNI of each check, at the version it was set for.
    pub fn route53_check_settings(&self) -> Result<Vec<(String, i64, Option<bool>)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT check_id, version, enable_sni FROM route53_check_settings")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Replaces the Route 53 settings of a check (`None`: forgets them).
    pub fn put_route53_check_settings(
        &mut self,
        check: &str,
        settings: Option<(i64, Option<bool>)>,
    ) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.execute(
            "DELETE FROM route53_check_settings WHERE check_id = ?1",
            [check],
        )?;
        if let Some((version, enable_sni)) = settings {
            tx.execute(
                "INSERT INTO route53_check_settings (check_id, version, enable_sni)
                 VALUES (?1, ?2, ?3)",
                params![check, version, enable_sni],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes history past `retention`, in one transaction; both
    /// deletions walk an index on time.
    pub fn prune_history(
        &mut self,
        now: SystemTime,
        retention: Retention,
    ) -> Result<Pruned, StoreError> {
        let cutoff = millis(now.checked_sub(retention.max_age).unwrap_or(UNIX_EPOCH));
        let keep = i64::try_from(retention.max_rows).unwrap_or(i64::MAX);
        let tx = self.write()?;
        let mut events = tx.execute("DELETE FROM health_events WHERE at < ?1", [cutoff])?;
        events += tx.execute(
            "DELETE FROM health_events WHERE rowid IN (
                 SELECT rowid FROM health_events ORDER BY at DESC, seq DESC LIMIT -1 OFFSET ?1)",
            [keep],
        )?;
        let mut changes = tx.execute(
            "DELETE FROM route53_changes WHERE submitted_at < ?1",
            [cutoff],
        )?;
        changes += tx.execute(
            "DELETE FROM route53_changes WHERE id IN (
                 SELECT id FROM route53_changes ORDER BY submitted_at DESC LIMIT -1 OFFSET ?1)",
            [keep],
        )?;
        tx.commit()?;
        Ok(Pruned {
            events: events as u64,
            changes: changes as u64,
        })
    }

    /// Remembers an applied change, for Route 53's GetChange.
    pub fn put_route53_change(
        &mut self,
        id: &str,
        submitted_at: SystemTime,
        comment: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO route53_changes (id, submitted_at, comment) VALUES (?1, ?2, ?3)",
            params![id, millis(submitted_at), comment],
        )?;
        Ok(())
    }

    /// An applied change by id: when, and its comment.
    pub fn route53_change(
        &self,
        id: &str,
    ) -> Result<Option<(SystemTime, Option<String>)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT submitted_at, comment FROM route53_changes WHERE id = ?1",
                [id],
                |r| Ok((from_millis(r.get(0)?), r.get(1)?)),
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> StoredZone {
        StoredZone {
            name: name.into(),
            display_name: name.into(),
            id: format!("Z{}", name.len()),
            comment: String::new(),
            caller_reference: None,
            created_at: SystemTime::now(),
            records: vec![],
        }
    }

    fn record(name: &str, value: &str) -> RecordInput {
        RecordInput {
            name: name.into(),
            rtype: "A".into(),
            values: Some(vec![value.into()]),
            ..Default::default()
        }
    }

    fn key(owner: &str) -> (String, String, String) {
        (owner.into(), "A".into(), String::new())
    }

    #[test]
    fn history_is_pruned_by_age_and_by_count() {
        let mut s = Store::in_memory().unwrap();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        for i in 0..10u64 {
            s.record_event(&HealthEvent {
                check: format!("c{}", i % 3),
                at: t0 + Duration::from_secs(i * 60),
                old_healthy: true,
                new_healthy: false,
                reason: format!("e{i}"),
            })
            .unwrap();
            s.put_route53_change(&format!("C{i}"), t0 + Duration::from_secs(i * 60), None)
                .unwrap();
        }
        let now = t0 + Duration::from_secs(9 * 60);
        // Older than 5 minutes: events 0..=3 go.
        let pruned = s
            .prune_history(
                now,
                Retention {
                    max_age: Duration::from_secs(5 * 60),
                    max_rows: 100,
                },
            )
            .unwrap();
        assert_eq!(
            pruned,
            Pruned {
                events: 4,
                changes: 4
            }
        );
        assert!(s.route53_change("C3").unwrap().is_none());
        assert!(s.route53_change("C4").unwrap().is_some());
        // Then only the newest 2 of each.
        let pruned = s
            .prune_history(
                now,
                Retention {
                    max_age: Duration::from_secs(3600),
                    max_rows: 2,
                },
            )
            .unwrap();
        assert_eq!(
            pruned,
            Pruned {
                events: 4,
                changes: 4
            }
        );
        let left: Vec<String> = s
            .events(None, None, 100)
            .unwrap()
            .into_iter()
            .map(|e| e.reason)
            .collect();
        assert_eq!(left, ["e8", "e9"]);
        assert!(s.route53_change("C9").unwrap().is_some());
        assert!(s.route53_change("C7").unwrap().is_none());
        // The resume states are not history: every check keeps its state.
        assert_eq!(s.states().unwrap().len(), 3);
    }

    #[test]
    fn a_file_store_runs_with_wal_and_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("e.db")).unwrap();
        assert_eq!(
            s.durability().unwrap(),
            ("wal".to_string(), SYNCHRONOUS_FULL)
        );
    }

    #[test]
    fn records_survive_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        {
            let mut s = Store::open(&path).unwrap();
            s.create_zone(&zone("example.test.")).unwrap();
            s.write_records(
                "example.test.",
                &[RecordWrite::Put {
                    key: key("www.example.test."),
                    record: Box::new(record("www", "192.0.2.1")),
                }],
            )
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        let zones = s.zones().unwrap();
        assert_eq!(zones.len(), 1);
        assert_eq!(zones[0].records, vec![record("www", "192.0.2.1")]);
    }

    #[test]
    fn a_batch_whose_last_write_fails_leaves_every_earlier_write_unwritten() {
        let mut s = Store::in_memory().unwrap();
        s.create_zone(&zone("example.test.")).unwrap();
        let put = |owner: &str, value: &str| RecordWrite::Put {
            key: key(owner),
            record: Box::new(record(owner.split('.').next().unwrap(), value)),
        };
        s.write_records("example.test.", &[put("old.example.test.", "192.0.2.9")])
            .unwrap();
        let before = s.zones().unwrap()[0].records.clone();
        // The database refuses the batch's last write, after a put, a
        // replacement and a delete have run in the same transaction.
        s.conn
            .execute_batch(
                "CREATE TEMP TRIGGER refuse_bad BEFORE INSERT ON records
                 WHEN NEW.owner = 'bad.example.test.'
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
            )
            .unwrap();
        let err = s
            .write_records(
                "example.test.",
                &[
                    put("new.example.test.", "192.0.2.1"),
                    put("old.example.test.", "192.0.2.2"),
                    RecordWrite::Delete {
                        key: key("old.example.test."),
                    },
                    put("bad.example.test.", "192.0.2.3"),
                ],
            )
            .unwrap_err();
        assert!(err.to_string().contains("injected failure"), "{err}");
        assert_eq!(s.zones().unwrap()[0].records, before);
        // A write to a zone that does not exist is refused by the foreign key.
        let err = s
            .write_records("nope.test.", &[put("a.nope.test.", "192.0.2.1")])
            .unwrap_err();
        assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
    }

    #[test]
    fn events_come_back_in_order_and_set_the_resume_state() {
        let mut s = Store::in_memory().unwrap();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
        for (i, healthy) in [false, true, false].into_iter().enumerate() {
            s.record_event(&HealthEvent {
                check: "web".into(),
                at: t0 + Duration::from_secs(i as u64),
                old_healthy: !healthy,
                new_healthy: healthy,
                reason: format!("r{i}"),
            })
            .unwrap();
        }
        let events = s.events(Some("web"), None, 10).unwrap();
        let reasons: Vec<&str> = events.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons, ["r0", "r1", "r2"]);
        let since = s
            .events(None, Some(t0 + Duration::from_secs(1)), 10)
            .unwrap();
        assert_eq!(since.len(), 2);
        assert_eq!(s.events(None, None, 1).unwrap()[0].reason, "r2");
        let states = s.states().unwrap();
        assert!(!states[0].1.healthy);
    }

    #[test]
    fn overrides_are_saved_replaced_released_and_go_with_their_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        let mut s = Store::open(&path).unwrap();
        s.set_override("a", Some(false)).unwrap();
        s.set_override("b", Some(true)).unwrap();
        s.set_override("a", Some(true)).unwrap();
        drop(s);
        let mut s = Store::open(&path).unwrap();
        assert_eq!(
            s.overrides().unwrap(),
            vec![("a".to_string(), true), ("b".to_string(), true)]
        );
        s.set_override("a", None).unwrap();
        s.delete_check("b").unwrap();
        assert!(s.overrides().unwrap().is_empty());
    }

    #[test]
    fn migrations_run_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        Store::open(&path).unwrap();
        Store::open(&path).unwrap();
        let conn = Connection::open(&path).unwrap();
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, MIGRATIONS.len() as i64);
    }
}
