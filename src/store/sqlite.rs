//! The SQLite backend: one file, the embedded default for a single node.
//!
//! Commits are fsynced (`synchronous = FULL`, WAL) before a write returns.
//! Only the PRAGMAs at open are SQLite's own; the schema is the shared
//! [`MIGRATIONS`].

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};

use super::{
    Backend, Claimed, HealthEvent, MIGRATIONS, NewChange, NextWrite, NodeRecord, Pruned,
    RecordWrite, Retention, SerialClaim, StoreError, StoredCheck, StoredObservation, StoredSerial,
    StoredState, StoredZone, TransfersInput, VoteChange, VoteCursor, VoteRead, decode_check,
    decode_record, decode_transfers, encode_check, encode_record, encode_transfers, from_millis,
    millis,
};

/// Counts a write that changes what nodes serve, then commits; returns
/// the store version it made.
fn commit_bumped(tx: rusqlite::Transaction<'_>, next: NextWrite) -> Result<i64, StoreError> {
    commit_bumped_zone(tx, next, None)
}

/// [`commit_bumped`], the new version also marked on `zone` as its last
/// write (what [`Backend::zones_since`] reads).
fn commit_bumped_zone(
    tx: rusqlite::Transaction<'_>,
    next: NextWrite,
    zone: Option<&str>,
) -> Result<i64, StoreError> {
    let expected = next.expected;
    let version = tx
        .query_row(
            "UPDATE store_version SET version = version + 1
             WHERE id = 1 AND (?1 IS NULL OR version = ?1) RETURNING version",
            [expected],
            |r| r.get(0),
        )
        .optional()?;
    match (version, expected) {
        (Some(version), _) => {
            if let Some(zone) = zone {
                tx.execute(
                    "UPDATE zones SET changed_version = ?1 WHERE name = ?2",
                    params![version, zone],
                )?;
            }
            if let Some(change) = next.change {
                tx.execute(
                    "INSERT INTO route53_changes (id, submitted_at, comment, version)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![
                        change.id,
                        millis(change.submitted_at),
                        change.comment,
                        version
                    ],
                )?;
            }
            tx.commit()?;
            Ok(version)
        }
        // Dropping the transaction rolls it back.
        (None, Some(expected)) => Err(StoreError::Conflict { expected }),
        (None, None) => Err(StoreError::Sql(rusqlite::Error::QueryReturnedNoRows)),
    }
}

/// One SQLite connection. Not shared: the service serialises writes.
pub struct SqliteBackend {
    conn: Connection,
    /// See [`Backend::expect_version`], [`Backend::record_with_next_write`].
    next: NextWrite,
}

/// SQLite's `PRAGMA synchronous` value for FULL: every commit is fsynced.
const SYNCHRONOUS_FULL: i64 = 2;

impl SqliteBackend {
    /// The zones written after `version` (all with `None`), with their
    /// records.
    fn zones_after(&self, version: Option<i64>) -> Result<Vec<StoredZone>, StoreError> {
        let mut zones = Vec::new();
        let mut stmt = self.conn.prepare(
            "SELECT name, display_name, id, comment, caller_reference, created_at, transfers
             FROM zones WHERE ?1 IS NULL OR changed_version > ?1 ORDER BY name",
        )?;
        let rows = stmt.query_map([version], |r| {
            Ok((
                StoredZone {
                    name: r.get(0)?,
                    display_name: r.get(1)?,
                    id: r.get(2)?,
                    comment: r.get(3)?,
                    caller_reference: r.get(4)?,
                    created_at: from_millis(r.get(5)?),
                    records: Vec::new(),
                    transfers: None,
                },
                r.get::<_, Option<String>>(6)?,
            ))
        })?;
        for z in rows {
            let (mut zone, transfers) = z?;
            zone.transfers = decode_transfers(&zone.name, transfers)?;
            zones.push(zone);
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
                let record = decode_record(&zone.name, (&owner, &rtype, &set), &body)?;
                zone.records.push(record);
            }
        }
        Ok(zones)
    }

    /// Opens (creating when missing) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteBackend, StoreError> {
        let open = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(open)?;
        let store = SqliteBackend::init(conn).map_err(open)?;
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
    pub fn in_memory() -> Result<SqliteBackend, StoreError> {
        Ok(SqliteBackend::init(Connection::open_in_memory()?)?)
    }

    fn init(conn: Connection) -> Result<SqliteBackend, rusqlite::Error> {
        // WAL keeps readers off the writer's back; FULL makes a commit
        // durable before it returns; the busy timeout rides out a backup
        // tool holding a lock.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let mut store = SqliteBackend {
            conn,
            next: NextWrite::default(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Records events in one transaction, each only when it moves its
    /// check's saved state, and is not older than its last move, if
    /// `transitions_only`. One process writes a
    /// SQLite file (under the service's lock), so nothing can come between
    /// the read of a saved state and the write.
    fn record(
        &mut self,
        events: &[HealthEvent],
        transitions_only: bool,
    ) -> Result<Vec<bool>, StoreError> {
        let tx = self.write()?;
        let mut recorded = Vec::with_capacity(events.len());
        {
            let mut saved = tx.prepare_cached(
                "SELECT healthy, changed_at FROM health_states WHERE check_id = ?1",
            )?;
            let mut count = tx.prepare_cached(
                "SELECT COUNT(*) FROM health_events WHERE check_id = ?1 AND at = ?2",
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO health_events (check_id, at, seq, old_healthy, new_healthy, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut state = tx.prepare_cached(
                "INSERT OR REPLACE INTO health_states (check_id, healthy, changed_at)
                 VALUES (?1, ?2, ?3)",
            )?;
            for event in events {
                let at = millis(event.at);
                if transitions_only {
                    let was: Option<(bool, Option<i64>)> = saved
                        .query_row([&event.check], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()?;
                    if was.is_some_and(|(healthy, changed)| {
                        healthy == event.new_healthy || changed.is_some_and(|c| c > at)
                    }) {
                        recorded.push(false);
                        continue;
                    }
                }
                let seq: i64 = count.query_row(params![event.check, at], |r| r.get(0))?;
                insert.execute(params![
                    event.check,
                    at,
                    seq,
                    event.old_healthy,
                    event.new_healthy,
                    event.reason
                ])?;
                state.execute(params![event.check, event.new_healthy, at])?;
                recorded.push(true);
            }
        }
        tx.commit()?;
        Ok(recorded)
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
}

impl Backend for SqliteBackend {
    /// Every stored zone with its records, by name.
    fn zones(&self) -> Result<Vec<StoredZone>, StoreError> {
        self.zones_after(None)
    }

    fn zones_since(&self, version: i64) -> Result<(Vec<StoredZone>, Vec<String>), StoreError> {
        // One read transaction: the names and the zones agree.
        let tx = self.conn.unchecked_transaction()?;
        let changed = self.zones_after(Some(version))?;
        let mut stmt = tx.prepare("SELECT name FROM zones ORDER BY name")?;
        let names = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        drop(stmt);
        tx.commit()?;
        Ok((changed, names))
    }

    /// Adds an empty zone.
    fn create_zone(&mut self, zone: &StoredZone) -> Result<i64, StoreError> {
        let expected = std::mem::take(&mut self.next);
        let tx = self.write()?;
        tx.execute(
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
        commit_bumped_zone(tx, expected, Some(&zone.name))
    }

    /// Removes a zone and its records.
    fn delete_zone(&mut self, name: &str) -> Result<i64, StoreError> {
        let expected = std::mem::take(&mut self.next);
        let tx = self.write()?;
        tx.execute("DELETE FROM records WHERE zone = ?1", [name])?;
        tx.execute("DELETE FROM zones WHERE name = ?1", [name])?;
        commit_bumped(tx, expected)
    }

    fn set_zone_transfers(
        &mut self,
        zone: &str,
        transfers: Option<&TransfersInput>,
    ) -> Result<i64, StoreError> {
        let expected = std::mem::take(&mut self.next);
        let tx = self.write()?;
        tx.execute(
            "UPDATE zones SET transfers = ?2 WHERE name = ?1",
            params![zone, encode_transfers(transfers)],
        )?;
        commit_bumped_zone(tx, expected, Some(zone))
    }

    /// Applies every write of one change batch to `zone`, all or nothing.
    fn write_records(&mut self, zone: &str, writes: &[RecordWrite]) -> Result<i64, StoreError> {
        let expected = std::mem::take(&mut self.next);
        let tx = self.write()?;
        for w in writes {
            match w {
                RecordWrite::Put { key, record } => {
                    let body = encode_record(record);
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
        commit_bumped_zone(tx, expected, Some(zone))
    }

    /// Every stored health check, by id.
    fn checks(&self) -> Result<Vec<StoredCheck>, StoreError> {
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
            let input = decode_check(&id, &body)?;
            out.push(StoredCheck {
                input,
                version,
                caller_reference,
            });
        }
        Ok(out)
    }

    /// Inserts or replaces a health check.
    fn put_check(&mut self, check: &StoredCheck) -> Result<i64, StoreError> {
        let expected = std::mem::take(&mut self.next);
        let body = encode_check(&check.input);
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
        commit_bumped(tx, expected)
    }

    /// Removes a health check, its saved state and its events.
    fn delete_check(&mut self, id: &str) -> Result<i64, StoreError> {
        let expected = std::mem::take(&mut self.next);
        let tx = self.write()?;
        tx.execute("DELETE FROM health_checks WHERE id = ?1", [id])?;
        tx.execute("DELETE FROM health_states WHERE check_id = ?1", [id])?;
        tx.execute("DELETE FROM health_overrides WHERE check_id = ?1", [id])?;
        if tx.execute("DELETE FROM health_observations WHERE check_id = ?1", [id])? > 0 {
            // Readers of the votes see only what is written, never what
            // is deleted: this sends them back to a full read.
            tx.execute(super::OBSERVATIONS_DELETED, [])?;
        }
        commit_bumped(tx, expected)
    }

    /// Saves the operator's override of a check, or (`None`) removes it.
    fn set_override(&mut self, id: &str, forced: Option<bool>) -> Result<i64, StoreError> {
        let expected = std::mem::take(&mut self.next);
        let tx = self.write()?;
        match forced {
            Some(healthy) => tx.execute(
                "INSERT INTO health_overrides (check_id, forced_healthy, set_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (check_id) DO UPDATE SET forced_healthy = ?2, set_at = ?3",
                params![id, healthy, millis(SystemTime::now())],
            )?,
            None => tx.execute("DELETE FROM health_overrides WHERE check_id = ?1", [id])?,
        };
        commit_bumped(tx, expected)
    }

    /// Saved overrides, by check id: true when forced healthy.
    fn overrides(&self) -> Result<Vec<(String, bool)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT check_id, forced_healthy FROM health_overrides ORDER BY check_id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn record_events(&mut self, events: &[HealthEvent]) -> Result<(), StoreError> {
        self.record(events, false)?;
        Ok(())
    }

    fn record_transitions(&mut self, events: &[HealthEvent]) -> Result<Vec<bool>, StoreError> {
        self.record(events, true)
    }

    /// Saved states, by check id.
    fn states(&self) -> Result<Vec<(String, StoredState)>, StoreError> {
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
    fn events(
        &self,
        check: Option<&str>,
        since: Option<SystemTime>,
        limit: usize,
    ) -> Result<Vec<HealthEvent>, StoreError> {
        select_events(&self.conn, check, since, limit)
    }

    fn route53_check_configs(&self) -> Result<Vec<(String, i64, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT check_id, version, config FROM route53_check_configs")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn put_route53_check_config(
        &mut self,
        id: &str,
        config: Option<(i64, &str)>,
    ) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.execute(
            "DELETE FROM route53_check_configs WHERE check_id = ?1",
            [id],
        )?;
        if let Some((version, json)) = config {
            tx.execute(
                "INSERT INTO route53_check_configs (check_id, version, config) VALUES (?1, ?2, ?3)",
                params![id, version, json],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn route53_tags(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT tag_key, tag_value FROM route53_tags
             WHERE resource_type = ?1 AND resource_id = ?2 ORDER BY tag_key",
        )?;
        let rows = stmt.query_map([resource_type, id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn put_route53_tags(
        &mut self,
        resource_type: &str,
        id: &str,
        tags: &[(String, String)],
    ) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.execute(
            "DELETE FROM route53_tags WHERE resource_type = ?1 AND resource_id = ?2",
            [resource_type, id],
        )?;
        for (key, value) in tags {
            tx.execute(
                "INSERT INTO route53_tags (resource_type, resource_id, tag_key, tag_value)
                 VALUES (?1, ?2, ?3, ?4)",
                params![resource_type, id, key, value],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn tsig_keys(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, body FROM tsig_keys ORDER BY name")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn create_tsig_key(&mut self, name: &str, body: &str) -> Result<i64, StoreError> {
        let expected = std::mem::take(&mut self.next);
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO tsig_keys (name, body, created_at) VALUES (?1, ?2, ?3)",
            params![name, body, millis(SystemTime::now())],
        )?;
        commit_bumped(tx, expected)
    }

    fn delete_tsig_key(&mut self, name: &str) -> Result<i64, StoreError> {
        let expected = std::mem::take(&mut self.next);
        let tx = self.write()?;
        tx.execute("DELETE FROM tsig_keys WHERE name = ?1", [name])?;
        commit_bumped(tx, expected)
    }

    fn zone_serials(
        &self,
        zones: Option<&[String]>,
    ) -> Result<Vec<(String, StoredSerial)>, StoreError> {
        const SELECT: &str = "SELECT zone, serial, fingerprint, declared FROM zone_serials";
        let Some(zones) = zones else {
            let mut stmt = self.conn.prepare(SELECT)?;
            let rows = stmt.query_map([], serial_row)?;
            return Ok(rows.collect::<Result<_, _>>()?);
        };
        // Prepared once, run per zone: SQLite is in this process, so a
        // query per zone costs no round trip.
        let mut stmt = self.conn.prepare(&format!("{SELECT} WHERE zone = ?1"))?;
        let mut out = Vec::new();
        for zone in zones {
            if let Some(row) = stmt.query_row([zone], serial_row).optional()? {
                out.push(row);
            }
        }
        Ok(out)
    }

    fn claim_zone_serials(&mut self, claims: &[SerialClaim]) -> Result<Vec<Claimed>, StoreError> {
        let mut order: Vec<usize> = (0..claims.len()).collect();
        order.sort_by(|&a, &b| claims[a].zone.cmp(&claims[b].zone));
        let mut out = vec![Claimed::Won; claims.len()];
        let tx = self.write()?;
        {
            // Each statement prepared once: a start may claim every zone.
            let mut update = tx.prepare(
                "UPDATE zone_serials SET serial = ?2, fingerprint = ?3, declared = ?4
                 WHERE zone = ?1 AND serial = ?5 AND fingerprint = ?6 AND declared IS ?7",
            )?;
            let mut insert = tx.prepare(
                "INSERT INTO zone_serials (zone, serial, fingerprint, declared) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (zone) DO NOTHING",
            )?;
            let mut select = tx.prepare(
                "SELECT zone, serial, fingerprint, declared FROM zone_serials WHERE zone = ?1",
            )?;
            for i in order {
                let c = &claims[i];
                let new = (
                    i64::from(c.new.serial),
                    c.new.fingerprint as i64,
                    c.new.declared.map(i64::from),
                );
                let written = match &c.expected {
                    Some(old) => update.execute(params![
                        c.zone,
                        new.0,
                        new.1,
                        new.2,
                        i64::from(old.serial),
                        old.fingerprint as i64,
                        old.declared.map(i64::from)
                    ])?,
                    None => insert.execute(params![c.zone, new.0, new.1, new.2])?,
                };
                if written == 0 {
                    let now = select.query_row([&c.zone], serial_row).optional()?;
                    out[i] = Claimed::Lost(now.map(|(_, s)| s));
                }
            }
        }
        tx.commit()?;
        Ok(out)
    }

    fn history_reader(&self) -> Result<Option<HistoryReader>, StoreError> {
        let Some(path) = self.conn.path().filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(Some(HistoryReader {
            conn: std::sync::Mutex::new(conn),
        }))
    }

    /// Route 53's EnableSNI of each check, at the version it was set for.
    fn route53_check_settings(&self) -> Result<Vec<(String, i64, Option<bool>)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT check_id, version, enable_sni FROM route53_check_settings")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Replaces the Route 53 settings of a check (`None`: forgets them).
    fn put_route53_check_settings(
        &mut self,
        check: &str,
        settings: Option<(i64, Option<bool>)>,
    ) -> Result<i64, StoreError> {
        let expected = std::mem::take(&mut self.next);
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
        commit_bumped(tx, expected)
    }

    /// Deletes history past `retention`, in one transaction; both
    /// deletions walk an index on time.
    fn prune_history(
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
    fn put_route53_change(
        &mut self,
        id: &str,
        submitted_at: SystemTime,
        comment: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO route53_changes (id, submitted_at, comment, version)
             VALUES (?1, ?2, ?3, (SELECT version FROM store_version WHERE id = 1))",
            params![id, millis(submitted_at), comment],
        )?;
        Ok(())
    }

    /// An applied change by id: when, and its comment.
    fn route53_change(
        &self,
        id: &str,
    ) -> Result<Option<(SystemTime, Option<String>, i64)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT submitted_at, comment, COALESCE(version, 0) FROM route53_changes WHERE id = ?1",
                [id],
                |r| Ok((from_millis(r.get(0)?), r.get(1)?, r.get(2)?)),
            )
            .optional()?)
    }

    fn expect_version(&mut self, version: i64) {
        self.next.expected = Some(version);
    }

    fn record_with_next_write(&mut self, change: NewChange) {
        self.next.change = Some(change);
    }

    fn version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT version FROM store_version WHERE id = 1", [], |r| {
                r.get(0)
            })?)
    }

    fn heartbeat(&mut self, node: &NodeRecord) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO nodes (name, address, api, version, config_version, started_at, last_seen, heartbeat_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (name) DO UPDATE SET address = excluded.address, api = excluded.api,
                 version = excluded.version, config_version = excluded.config_version,
                 started_at = excluded.started_at, last_seen = excluded.last_seen,
                 heartbeat_ms = excluded.heartbeat_ms",
            params![
                node.name,
                node.address,
                node.api,
                node.version,
                node.config_version,
                millis(node.started_at),
                millis(node.last_seen),
                i64::try_from(node.heartbeat.as_millis()).unwrap_or(i64::MAX)
            ],
        )?;
        Ok(())
    }

    fn forget_node(&mut self, name: &str, seen_before: SystemTime) -> Result<bool, StoreError> {
        let tx = self.write()?;
        let removed = tx.execute(
            "DELETE FROM nodes WHERE name = ?1 AND last_seen < ?2",
            params![name, millis(seen_before)],
        )? > 0;
        if removed && tx.execute("DELETE FROM health_observations WHERE node = ?1", [name])? > 0 {
            // As for a deleted check: readers go back to a full read.
            tx.execute(super::OBSERVATIONS_DELETED, [])?;
        }
        tx.commit()?;
        Ok(removed)
    }

    fn nodes(&self) -> Result<Vec<NodeRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT name, address, api, version, config_version, started_at, last_seen, heartbeat_ms
             FROM nodes ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(NodeRecord {
                name: r.get(0)?,
                address: r.get(1)?,
                api: r.get(2)?,
                version: r.get(3)?,
                config_version: r.get(4)?,
                started_at: from_millis(r.get(5)?),
                last_seen: from_millis(r.get(6)?),
                heartbeat: Duration::from_millis(r.get::<_, i64>(7)?.max(0) as u64),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn write_votes(&mut self, changes: &[VoteChange]) -> Result<(), StoreError> {
        let tx = self.write()?;
        let mut deleted = 0;
        {
            let mut upsert = tx.prepare_cached(
                // One writer at a time, so one more than the highest
                // orders the writes as they commit.
                "INSERT INTO health_observations (check_id, node, healthy, reason, at, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5,
                         (SELECT COALESCE(MAX(seq), 0) + 1 FROM health_observations))
                 ON CONFLICT (check_id, node) DO UPDATE SET healthy = excluded.healthy,
                     reason = excluded.reason, at = excluded.at, seq = excluded.seq",
            )?;
            let mut delete = tx.prepare_cached(
                "DELETE FROM health_observations WHERE check_id = ?1 AND node = ?2",
            )?;
            for change in changes {
                match change {
                    VoteChange::Observed(o) => {
                        upsert.execute(params![
                            o.check,
                            o.node,
                            o.healthy,
                            o.reason,
                            millis(o.at)
                        ])?;
                    }
                    VoteChange::Withdrawn { check, node } => {
                        deleted += delete.execute(params![check, node])?;
                    }
                }
            }
        }
        if deleted > 0 {
            // Readers see only what is written: back to a full read.
            tx.execute(super::OBSERVATIONS_DELETED, [])?;
        }
        tx.commit()?;
        Ok(())
    }

    fn observations_since(&self, since: Option<VoteCursor>) -> Result<VoteRead, StoreError> {
        // One read transaction: the cursor and the rows agree.
        let tx = self.conn.unchecked_transaction()?;
        let cursor = tx.query_row(
            "SELECT (SELECT COALESCE(MAX(seq), 0) + 1 FROM health_observations),
                    observations_deleted
             FROM store_version WHERE id = 1",
            [],
            |r| {
                Ok(VoteCursor {
                    seq: r.get(0)?,
                    deleted: r.get(1)?,
                })
            },
        )?;
        // A deletion can also lower the highest seq, and so the next
        // write's: the deletion count catches that.
        let from = since
            .filter(|s| s.deleted == cursor.deleted && s.seq <= cursor.seq)
            .map(|s| s.seq);
        let mut stmt = tx.prepare(
            "SELECT check_id, node, healthy, reason, at FROM health_observations
             WHERE ?1 IS NULL OR seq >= ?1
             ORDER BY check_id, node",
        )?;
        let rows = stmt.query_map([from], |r| {
            Ok(StoredObservation {
                check: r.get(0)?,
                node: r.get(1)?,
                healthy: r.get(2)?,
                reason: r.get(3)?,
                at: from_millis(r.get(4)?),
            })
        })?;
        let observations = rows.collect::<Result<_, _>>()?;
        drop(stmt);
        tx.commit()?;
        Ok(VoteRead {
            full: from.is_none(),
            observations,
            cursor,
        })
    }

    #[cfg(test)]
    fn migrations_applied(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))?)
    }

    #[cfg(test)]
    fn execute_batch(&mut self, sql: &str) -> Result<(), StoreError> {
        Ok(self.conn.execute_batch(sql)?)
    }
}

/// A read-only connection for history reads (health events), held apart
/// from the [`super::Store`] and its caller's lock: in WAL mode it reads a
/// consistent snapshot while the store writes, so a long scan of a large
/// history never holds up a write, nor a write a scan. Reads through it
/// take turns (one connection); the writer does not wait for them.
pub struct HistoryReader {
    conn: std::sync::Mutex<Connection>,
}

impl HistoryReader {
    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panicked read leaves no state behind on the connection.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// As [`Backend::events`].
    pub fn events(
        &self,
        check: Option<&str>,
        since: Option<SystemTime>,
        limit: usize,
    ) -> Result<Vec<HealthEvent>, StoreError> {
        select_events(&self.conn(), check, since, limit)
    }

    /// Runs `read` on the reader's connection, holding it as a scan does:
    /// lets tests keep a read open while others write.
    #[cfg(test)]
    pub(crate) fn with_connection<T>(&self, read: impl FnOnce(&Connection) -> T) -> T {
        read(&self.conn())
    }
}

/// Events, oldest first: the store's own read and the history reader's.
fn select_events(
    conn: &Connection,
    check: Option<&str>,
    since: Option<SystemTime>,
    limit: usize,
) -> Result<Vec<HealthEvent>, StoreError> {
    let mut stmt = conn.prepare(
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

/// A `zone_serials` row (zone, serial, fingerprint, declared).
fn serial_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, StoredSerial)> {
    let declared: Option<i64> = r.get(3)?;
    Ok((
        r.get::<_, String>(0)?,
        StoredSerial {
            serial: r.get::<_, i64>(1)? as u32,
            fingerprint: r.get::<_, i64>(2)? as u64,
            declared: declared.map(|d| d as u32),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_store_runs_with_wal_and_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteBackend::open(&dir.path().join("e.db")).unwrap();
        assert_eq!(
            s.durability().unwrap(),
            ("wal".to_string(), SYNCHRONOUS_FULL)
        );
    }
}
