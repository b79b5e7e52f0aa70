//! The PostgreSQL backend: one database that every node of a cluster
//! shares (`data = "postgresql://user:password@host:port/dbname"`).
//!
//! # Client
//!
//! tokio-postgres with a deadpool-postgres pool. We looked at sqlx too; we
//! chose tokio-postgres because it is one focused crate that exposes the
//! connection's own message stream (the LISTEN/NOTIFY notifications the
//! cluster waits on come out of `Connection::poll_message`), keeps SQL as
//! plain strings with `$n` parameters and no build-time database or
//! macros, and does not bring a second SQLite driver beside rusqlite.
//! deadpool-postgres adds what a long-running node needs around it: a
//! broken connection (PostgreSQL restarted, a network cut) is noticed and
//! replaced on the next use, so the node rejoins by itself.
//!
//! # Sync interface over an async client
//!
//! The service calls the store synchronously, under its mutex, from
//! blocking threads (`spawn_blocking`; never from the DNS path). Rather than
//! make the service async, this backend owns a small tokio runtime of its
//! own (one worker thread, `eightfold-pg`) that runs the client and the
//! pool; each call spawns its query there and waits on a plain channel.
//! Waiting on a std channel works from any thread, inside another runtime
//! or not (tokio's own `block_on` would panic there), and the DNS listeners
//! never wait on it.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod events;
mod listen;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use super::{
    Backend, Claimed, HealthEvent, MIGRATIONS, NewChange, NextWrite, NodeRecord, Notifications,
    PostgresUrl, Pruned, RecordWrite, Retention, SerialClaim, StoreError, StoredCheck,
    StoredObservation, StoredSerial, StoredState, StoredZone, TransfersInput, VoteChange,
    VoteCursor, VoteRead, decode_check, decode_record, decode_transfers, encode_check,
    encode_record, encode_transfers, from_millis, millis,
};

/// Connections one node keeps at most: writes are serialised by the
/// service, so a few cover reads beside a write.
const POOL_SIZE: usize = 4;

/// How long a call waits to connect or for a free connection before it
/// fails (and the API answers 503): long enough for a loaded server,
/// short enough that a client is not left hanging when PostgreSQL is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Key of the advisory lock that serialises migrations when several nodes
/// start at once ("8f" for eightfold).
const MIGRATION_LOCK: i64 = 0x0008_f000_0001;

/// The pool and the runtime that drives it.
pub struct PostgresBackend {
    /// `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    /// For messages: the URL with its password hidden.
    url: Arc<str>,
    /// Where the listener is to connect.
    config: tokio_postgres::Config,
    /// See [`Backend::expect_version`], [`Backend::record_with_next_write`].
    next: NextWrite,
}

/// A failure inside a call, before it is told with the URL.
enum Fail {
    Pool(PoolError),
    Db(tokio_postgres::Error),
    Store(StoreError),
}

impl From<PoolError> for Fail {
    fn from(e: PoolError) -> Fail {
        Fail::Pool(e)
    }
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Fail {
        Fail::Db(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Fail {
        Fail::Store(e)
    }
}

/// The server's own message (tokio-postgres's `Display` says only "db
/// error"), with its SQLSTATE so that a user can look it up.
fn db_message(e: &tokio_postgres::Error) -> Option<String> {
    e.as_db_error().map(|db| {
        let mut m = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            m.push_str(": ");
            m.push_str(detail);
        }
        m
    })
}

fn describe(fail: Fail, url: &str) -> StoreError {
    let url = url.to_owned();
    match fail {
        Fail::Store(e) => e,
        Fail::Db(e) => match db_message(&e) {
            Some(message) => StoreError::Postgres { url, message },
            // No server message: the connection itself failed.
            None => StoreError::Unreachable {
                url,
                reason: error_chain(&e),
            },
        },
        Fail::Pool(PoolError::Backend(e)) => match db_message(&e) {
            // Refused at login (wrong password, no such database).
            Some(message) => StoreError::Unreachable {
                url,
                reason: message,
            },
            None => StoreError::Unreachable {
                url,
                reason: error_chain(&e),
            },
        },
        Fail::Pool(e) => StoreError::Unreachable {
            url,
            reason: e.to_string(),
        },
    }
}

/// An error and its sources on one line ("error connecting to server:
/// Connection refused (os error 111)").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !s.contains(&next) {
            s.push_str(": ");
            s.push_str(&next);
        }
        source = cause.source();
    }
    s
}

/// The channel every node LISTENs on; the payload is the new store version.
pub const CHANGES_CHANNEL: &str = "eightfold_changes";

/// The channel of health votes; the payload is the check whose vote changed.
pub const VOTES_CHANNEL: &str = "eightfold_votes";

/// Counts a write that changes what nodes serve, tells every listening
/// node (delivered at commit, and only if it commits), then commits;
/// returns the store version it made.
async fn commit_bumped(
    tx: deadpool_postgres::Transaction<'_>,
    next: NextWrite,
) -> Result<i64, Fail> {
    commit_bumped_zone(tx, next, None).await
}

/// [`commit_bumped`], the new version also marked on `zone` as its last
/// write (what [`Backend::zones_since`] reads).
async fn commit_bumped_zone(
    tx: deadpool_postgres::Transaction<'_>,
    next: NextWrite,
    zone: Option<&str>,
) -> Result<i64, Fail> {
    let expected = next.expected;
    // The row lock makes a second writer wait for the first to commit;
    // the WHERE then sees the first one's version and matches nothing.
    let row = tx
        .query_opt(
            "UPDATE store_version SET version = version + 1
             WHERE id = 1 AND ($1::BIGINT IS NULL OR version = $1) RETURNING version",
            &[&expected],
        )
        .await?;
    let version: i64 = match (row, expected) {
        (Some(row), _) => row.get(0),
        // Dropping the transaction rolls it back.
        (None, Some(expected)) => return Err(Fail::Store(StoreError::Conflict { expected })),
        (None, None) => {
            return Err(Fail::Store(StoreError::Postgres {
                url: String::new(),
                message: "the store_version row is missing".into(),
            }));
        }
    };
    if let Some(zone) = zone {
        tx.execute(
            "UPDATE zones SET changed_version = $1 WHERE name = $2",
            &[&version, &zone],
        )
        .await?;
    }
    if let Some(change) = next.change {
        tx.execute(
            "INSERT INTO route53_changes (id, submitted_at, comment, version)
             VALUES ($1, $2, $3, $4)",
            &[
                &change.id,
                &millis(change.submitted_at),
                &change.comment,
                &version,
            ],
        )
        .await?;
    }
    tx.execute(
        "SELECT pg_notify($1, $2)",
        &[&CHANGES_CHANNEL, &version.to_string()],
    )
    .await?;
    tx.commit().await?;
    Ok(version)
}

impl PostgresBackend {
    /// The zones written after `version` (all with `None`), with their
    /// records, and the name of every zone, read in one snapshot.
    fn zones_after(
        &self,
        version: Option<i64>,
    ) -> Result<(Vec<StoredZone>, Vec<String>), StoreError> {
        let pool = self.pool.clone();
        self.run(async move {
            let mut client = pool.get().await?;
            // One snapshot for zones and records: a zone deleted between
            // the two reads cannot leave records without their zone.
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let mut zones: Vec<StoredZone> = tx
                .query(
                    r#"SELECT name, display_name, id, comment, caller_reference, created_at, transfers
                     FROM zones WHERE $1::BIGINT IS NULL OR changed_version > $1
                     ORDER BY name COLLATE "C""#,
                    &[&version],
                )
                .await?
                .into_iter()
                .map(|r| {
                    let name: String = r.get(0);
                    let transfers = decode_transfers(&name, r.get(6))?;
                    Ok(StoredZone {
                        name,
                        display_name: r.get(1),
                        id: r.get(2),
                        comment: r.get(3),
                        caller_reference: r.get(4),
                        created_at: from_millis(r.get(5)),
                        records: Vec::new(),
                        transfers,
                    })
                })
                .collect::<Result<_, StoreError>>()?;
            let rows = tx
                .query(
                    // COLLATE "C": byte order, as SQLite sorts, whatever
                    // the database's locale.
                    r#"SELECT zone, owner, rtype, set_id, body FROM records
                     WHERE zone IN (SELECT name FROM zones
                                    WHERE $1::BIGINT IS NULL OR changed_version > $1)
                     ORDER BY zone COLLATE "C", owner COLLATE "C", rtype COLLATE "C", set_id COLLATE "C""#,
                    &[&version],
                )
                .await?;
            let names: Vec<String> = tx
                .query(r#"SELECT name FROM zones ORDER BY name COLLATE "C""#, &[])
                .await?
                .into_iter()
                .map(|r| r.get(0))
                .collect();
            tx.commit().await?;
            let mut zone_index = 0;
            for row in rows {
                let zone: &str = row.get(0);
                while zone_index < zones.len() && zones[zone_index].name != zone {
                    zone_index += 1;
                }
                let Some(z) = zones.get_mut(zone_index) else {
                    break;
                };
                let record = decode_record(zone, (row.get(1), row.get(2), row.get(3)), row.get(4))?;
                z.records.push(record);
            }
            Ok((zones, names))
        })
    }

    /// Connects, checks that the server answers, and migrates the schema.
    pub fn connect(url: &PostgresUrl) -> Result<PostgresBackend, StoreError> {
        let shown: Arc<str> = url.to_string().into();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("eightfold-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unreachable {
                url: shown.to_string(),
                reason: format!("cannot start the client's runtime: {e}"),
            })?;
        let mut config = url.config().clone();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("eightfold");
        }
        let manager_config = config.clone();
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // `Fast` notices a closed connection and replaces it; a
                // query on a half-open one fails once and is retried by
                // the caller's next request.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = {
            // The pool's timers belong to the runtime that drives it.
            let _enter = runtime.enter();
            Pool::builder(manager)
                .max_size(POOL_SIZE)
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(CONNECT_TIMEOUT))
                .create_timeout(Some(CONNECT_TIMEOUT))
                .recycle_timeout(Some(CONNECT_TIMEOUT))
                .build()
                .map_err(|e| StoreError::Unreachable {
                    url: shown.to_string(),
                    reason: e.to_string(),
                })?
        };
        let mut backend = PostgresBackend {
            runtime: Some(runtime),
            pool,
            url: shown,
            config: manager_config,
            next: NextWrite::default(),
        };
        backend.migrate()?;
        Ok(backend)
    }

    /// Runs `call` on the backend's runtime and waits for its result.
    fn run<T: Send + 'static>(
        &self,
        call: impl Future<Output = Result<T, Fail>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let runtime = self.runtime.as_ref().expect("runtime lives until drop");
        runtime.spawn(async move {
            let _ = tx.send(call.await);
        });
        match rx.recv() {
            Ok(result) => result.map_err(|fail| describe(fail, &self.url)),
            Err(_) => Err(StoreError::Unreachable {
                url: self.url.to_string(),
                reason: "the client's runtime stopped".into(),
            }),
        }
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        self.run(async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            // Nodes that start together wait here for the first one's
            // migrations rather than race to apply them twice.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            // "already exists, skipping" is the normal case, not news.
            tx.batch_execute("SET LOCAL client_min_messages = warning")
                .await?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                    version BIGINT PRIMARY KEY,
                    applied_at BIGINT NOT NULL
                )",
            )
            .await?;
            let done: i64 = tx
                .query_one(
                    "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                    &[],
                )
                .await?
                .get(0);
            for (i, sql) in MIGRATIONS.iter().enumerate() {
                let version = i as i64 + 1;
                if version > done {
                    tx.batch_execute(sql).await?;
                    tx.execute(
                        "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                        &[&version, &millis(SystemTime::now())],
                    )
                    .await?;
                }
            }
            tx.commit().await?;
            Ok(())
        })
    }
}

impl Drop for PostgresBackend {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which tokio forbids inside another
        // runtime (the service may be dropped there): let it wind down
        // on its own thread instead.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Backend for PostgresBackend {
    fn zones(&self) -> Result<Vec<StoredZone>, StoreError> {
        self.zones_after(None).map(|(zones, _)| zones)
    }

    fn zones_since(&self, version: i64) -> Result<(Vec<StoredZone>, Vec<String>), StoreError> {
        self.zones_after(Some(version))
    }

    fn create_zone(&mut self, zone: &StoredZone) -> Result<i64, StoreError> {
        let expected = std::mem::take(&mut self.next);
        let pool = self.pool.clone();
        let zone = zone.clone();
        self.run(async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            tx.execute(
                "INSERT INTO zones (name, display_name, id, comment, caller_reference, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &zone.name,
                    &zone.display_name,
                    &zone.id,
                    &zone.comment,
                    &zone.caller_reference,
                    &millis(zone.created_at),
                ],
            )
            .await?;
            commit_bumped_zone(tx, expected, Some(&zone.name)).await
        })
    }

    fn set_zone_transfers(
        &mut self,
        zone: &str,
        transfers: Option<&TransfersInput>,
    ) -> Result<i64, StoreError> {
        let expected = std::mem::take(&mut self.next);
        let pool = self.pool.clone();
        let zone = zone.to_owned();
        let body = encode_transfers(transfers);
        self.run(async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            tx.execute(
                "UPDATE zones SET transfers = $2 WHERE name = $1",
                &[&zone, &body],
            )
            .await?;
            commit_bumped_zone(tx, expected, Some(&zone)).await
        })
    }

    fn delete_zone(&mut self, name: &str) -> Result<i64, StoreError> {
        let expected = std::mem::take(&mut self.next);
        let pool = self.pool.clone();
        let name = name.to_owned();
        self.run(async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            tx.execute("DELETE FROM records WHERE zone = $1", &[&name])
                .await?;
            tx.execute("DELETE FROM zones WHERE name = $1", &[&name])
                .await?;
            commit_bumped(tx, expected).await
        })
    }

    fn write_records(&mut self, zone: &str, writes: &[RecordWrite]) -> Result<i64, StoreError> {
        let expected = std::mem::take(&mut self.next);
        let pool = self.pool.clone();
        let zone = zone.to_owned();
        let writes = writes.to_vec();
        self.run(async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            let delete = tx
                .prepare(
                    "DELETE FROM records WHERE zone = $1 AND owner = $2 AND rtype = $3 AND set_id = $4",
                )
                .await?;
            let insert = tx
                .prepare(
                    "INSERT INTO records (zone, owner, rtype, set_id, body) VALUES ($1, $2, $3, $4, $5)",
                )
                .await?;
            for w in &writes {
                match w {
                    RecordWrite::Put { key, record } => {
                        let body = encode_record(record);
                        tx.execute(&delete, &[&zone, &key.0, &key.1, &key.2])
                            .await?;
                        tx.execute(&insert, &[&zone, &key.0, &key.1, &key.2, &body])
                            .await?;
                    }
                    RecordWrite::Delete { key } => {
                        tx.execute(&delete, &[&zone, &key.0, &key.1, &key.2])
                            .await?;
                    }
                }
            }
            commit_bumped_zone(tx, expected, Some(&zone)).await
        })
    }

    fn checks(&self) -> Result<Vec<StoredCheck>, StoreError> {
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    r#"SELECT id, body, version, caller_reference FROM health_checks
                     ORDER BY id COLLATE "C""#,
                    &[],
                )
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(StoredCheck {
                    input: decode_check(r.get(0), r.get(1))?,
                    version: r.get(2),
                    caller_reference: r.get(3),
                });
            }
            Ok(out)
        })
    }

    fn put_check(&mut self, check: &StoredCheck) -> Result<i64, StoreError> {
        let expected = std::mem::take(&mut self.next);
        let pool = self.pool.clone();
        let body = encode_check(&check.input);
        let id = check.input.id.clone();
        let version = check.version;
        let caller_reference = check.caller_reference.clone();
        self.run(async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            tx.execute("DELETE FROM health_checks WHERE id = $1", &[&id])
                .await?;
            tx.execute(
                "INSERT INTO health_checks (id, body, version, caller_reference, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &id,
                    &body,
                    &version,
                    &caller_reference,
                    &millis(SystemTime::now()),
                ],
            )
            .await?;
            commit_bumped(tx, expected).await
        })
    }

    fn delete_check(&mut self, id: &str) -> Result<i64, StoreError> {
        let expected = std::mem::take(&mut self.next);
        let pool = self.pool.clone();
        let id = id.to_owned();
        self.run(async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            for table in [
                "DELETE FROM health_checks WHERE id = $1",
                "DELETE FROM health_states WHERE check_id = $1",
                "DELETE FROM health_overrides WHERE check_id = $1",
            ] {
                tx.execute(table, &[&id]).await?;
            }
            let votes = tx
                .execute(
                    "DELETE FROM health_observations WHERE check_id = $1",
                    &[&id],
                )
                .await?;
            if votes > 0 {
                // Readers of the votes see only what is written, never
                // what is deleted: this sends them back to a full read.
                tx.execute(super::OBSERVATIONS_DELETED, &[]).await?;
            }
            commit_bumped(tx, expected).await
        })
    }

    fn set_override(&mut self, id: &str, forced: Option<bool>) -> Result<i64, StoreError> {
        let expected = std::mem::take(&mut self.next);
        let pool = self.pool.clone();
        let id = id.to_owned();
        self.run(async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            match forced {
                Some(healthy) => {
                    tx
                        .execute(
                            "INSERT INTO health_overrides (check_id, forced_healthy, set_at)
                             VALUES ($1, $2, $3)
                             ON CONFLICT (check_id) DO UPDATE
                             SET forced_healthy = EXCLUDED.forced_healthy, set_at = EXCLUDED.set_at",
                            &[&id, &healthy, &millis(SystemTime::now())],
                        )
                        .await?
                }
                None => {
                    tx.execute("DELETE FROM health_overrides WHERE check_id = $1", &[&id])
                        .await?
                }
            };
            commit_bumped(tx, expected).await
        })
    }

    fn overrides(&self) -> Result<Vec<(String, bool)>, StoreError> {
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    r#"SELECT check_id, forced_healthy FROM health_overrides
                     ORDER BY check_id COLLATE "C""#,
                    &[],
                )
                .await?;
            Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn record_events(&mut self, events: &[HealthEvent]) -> Result<(), StoreError> {
        self.record(events, false)?;
        Ok(())
    }

    fn record_transitions(&mut self, events: &[HealthEvent]) -> Result<Vec<bool>, StoreError> {
        self.record(events, true)
    }

    fn states(&self) -> Result<Vec<(String, StoredState)>, StoreError> {
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    "SELECT check_id, healthy, changed_at FROM health_states",
                    &[],
                )
                .await?;
            Ok(rows
                .into_iter()
                .map(|r| {
                    (
                        r.get(0),
                        StoredState {
                            healthy: r.get(1),
                            changed_at: r.get::<_, Option<i64>>(2).map(from_millis),
                        },
                    )
                })
                .collect())
        })
    }

    fn events(
        &self,
        check: Option<&str>,
        since: Option<SystemTime>,
        limit: usize,
    ) -> Result<Vec<HealthEvent>, StoreError> {
        let pool = self.pool.clone();
        let check = check.map(str::to_owned);
        let since = since.map_or(0, millis);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    "SELECT check_id, at, old_healthy, new_healthy, reason FROM health_events
                     WHERE ($1::TEXT IS NULL OR check_id = $1) AND at >= $2
                     ORDER BY at DESC, seq DESC LIMIT $3",
                    &[&check, &since, &limit],
                )
                .await?;
            let mut events: Vec<HealthEvent> = rows
                .into_iter()
                .map(|r| HealthEvent {
                    check: r.get(0),
                    at: from_millis(r.get(1)),
                    old_healthy: r.get(2),
                    new_healthy: r.get(3),
                    reason: r.get(4),
                })
                .collect();
            events.reverse();
            Ok(events)
        })
    }

    fn route53_check_settings(&self) -> Result<Vec<(String, i64, Option<bool>)>, StoreError> {
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    "SELECT check_id, version, enable_sni FROM route53_check_settings",
                    &[],
                )
                .await?;
            Ok(rows
                .into_iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect())
        })
    }

    fn put_route53_check_settings(
        &mut self,
        check: &str,
        settings: Option<(i64, Option<bool>)>,
    ) -> Result<i64, StoreError> {
        let expected = std::mem::take(&mut self.next);
        let pool = self.pool.clone();
        let check = check.to_owned();
        self.run(async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            tx.execute(
                "DELETE FROM route53_check_settings WHERE check_id = $1",
                &[&check],
            )
            .await?;
            if let Some((version, enable_sni)) = settings {
                tx.execute(
                    "INSERT INTO route53_check_settings (check_id, version, enable_sni)
                     VALUES ($1, $2, $3)",
                    &[&check, &version, &enable_sni],
                )
                .await?;
            }
            commit_bumped(tx, expected).await
        })
    }

    fn route53_check_configs(&self) -> Result<Vec<(String, i64, String)>, StoreError> {
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    "SELECT check_id, version, config FROM route53_check_configs",
                    &[],
                )
                .await?;
            Ok(rows
                .into_iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect())
        })
    }

    fn put_route53_check_config(
        &mut self,
        id: &str,
        config: Option<(i64, &str)>,
    ) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        let id = id.to_owned();
        let config = config.map(|(v, json)| (v, json.to_owned()));
        self.run(async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            tx.execute(
                "DELETE FROM route53_check_configs WHERE check_id = $1",
                &[&id],
            )
            .await?;
            if let Some((version, json)) = config {
                tx.execute(
                    "INSERT INTO route53_check_configs (check_id, version, config)
                     VALUES ($1, $2, $3)",
                    &[&id, &version, &json],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn route53_tags(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let pool = self.pool.clone();
        let (resource_type, id) = (resource_type.to_owned(), id.to_owned());
        self.run(async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    "SELECT tag_key, tag_value FROM route53_tags
                     WHERE resource_type = $1 AND resource_id = $2 ORDER BY tag_key",
                    &[&resource_type, &id],
                )
                .await?;
            Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn put_route53_tags(
        &mut self,
        resource_type: &str,
        id: &str,
        tags: &[(String, String)],
    ) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        let (resource_type, id) = (resource_type.to_owned(), id.to_owned());
        let tags = tags.to_vec();
        self.run(async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            tx.execute(
                "DELETE FROM route53_tags WHERE resource_type = $1 AND resource_id = $2",
                &[&resource_type, &id],
            )
            .await?;
            for (key, value) in &tags {
                tx.execute(
                    "INSERT INTO route53_tags (resource_type, resource_id, tag_key, tag_value)
                     VALUES ($1, $2, $3, $4)",
                    &[&resource_type, &id, key, value],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn tsig_keys(&self) -> Result<Vec<(String, String)>, StoreError> {
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await?;
            let rows = client
                .query("SELECT name, body FROM tsig_keys ORDER BY name", &[])
                .await?;
            Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn create_tsig_key(&mut self, name: &str, body: &str) -> Result<i64, StoreError> {
        let expected = std::mem::take(&mut self.next);
        let pool = self.pool.clone();
        let (name, body) = (name.to_owned(), body.to_owned());
        self.run(async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            tx.execute(
                "INSERT INTO tsig_keys (name, body, created_at) VALUES ($1, $2, $3)",
                &[&name, &body, &millis(SystemTime::now())],
            )
            .await?;
            commit_bumped(tx, expected).await
        })
    }

    fn delete_tsig_key(&mut self, name: &str) -> Result<i64, StoreError> {
        let expected = std::mem::take(&mut self.next);
        let pool = self.pool.clone();
        let name = name.to_owned();
        self.run(async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            tx.execute("DELETE FROM tsig_keys WHERE name = $1", &[&name])
                .await?;
            commit_bumped(tx, expected).await
        })
    }

    fn zone_serials(
        &self,
        zones: Option<&[String]>,
    ) -> Result<Vec<(String, StoredSerial)>, StoreError> {
        let pool = self.pool.clone();
        let zones = zones.map(<[String]>::to_vec);
        self.run(async move {
            let client = pool.get().await?;
            const SELECT: &str = "SELECT zone, serial, fingerprint, declared FROM zone_serials";
            // One query either way: the named zones as one array.
            let rows = match &zones {
                None => client.query(SELECT, &[]).await?,
                Some(zones) => {
                    client
                        .query(&format!("{SELECT} WHERE zone = ANY($1)"), &[zones])
                        .await?
                }
            };
            Ok(rows.iter().map(serial_row).collect())
        })
    }

    fn claim_zone_serials(&mut self, claims: &[SerialClaim]) -> Result<Vec<Claimed>, StoreError> {
        let pool = self.pool.clone();
        let claims = claims.to_vec();
        self.run(async move {
            // Zone order: two nodes claiming many zones lock their rows in
            // the same order, so neither waits on the other in a cycle.
            let mut order: Vec<usize> = (0..claims.len()).collect();
            order.sort_by(|&a, &b| claims[a].zone.cmp(&claims[b].zone));
            let mut out = vec![Claimed::Won; claims.len()];
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            // Each prepared once: a start may claim every zone. Under READ
            // COMMITTED, an UPDATE whose row another node changed meanwhile
            // checks its WHERE again on the new row, and an INSERT that
            // meets another node's waits for it and then does nothing:
            // either way the loser writes nothing and reads the winner's.
            let update = tx
                .prepare(
                    "UPDATE zone_serials SET serial = $2, fingerprint = $3, declared = $4
                     WHERE zone = $1 AND serial = $5 AND fingerprint = $6
                       AND declared IS NOT DISTINCT FROM $7",
                )
                .await?;
            let insert = tx
                .prepare(
                    "INSERT INTO zone_serials (zone, serial, fingerprint, declared)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (zone) DO NOTHING",
                )
                .await?;
            let select = tx
                .prepare(
                    "SELECT zone, serial, fingerprint, declared FROM zone_serials WHERE zone = $1",
                )
                .await?;
            for i in order {
                let c = &claims[i];
                let serial = i64::from(c.new.serial);
                let fingerprint = c.new.fingerprint as i64;
                let declared = c.new.declared.map(i64::from);
                let written = match &c.expected {
                    Some(old) => {
                        tx.execute(
                            &update,
                            &[
                                &c.zone,
                                &serial,
                                &fingerprint,
                                &declared,
                                &i64::from(old.serial),
                                &(old.fingerprint as i64),
                                &old.declared.map(i64::from),
                            ],
                        )
                        .await?
                    }
                    None => {
                        tx.execute(&insert, &[&c.zone, &serial, &fingerprint, &declared])
                            .await?
                    }
                };
                if written == 0 {
                    let now = tx.query_opt(&select, &[&c.zone]).await?;
                    out[i] = Claimed::Lost(now.as_ref().map(|r| serial_row(r).1));
                }
            }
            tx.commit().await?;
            Ok(out)
        })
    }

    fn prune_history(
        &mut self,
        now: SystemTime,
        retention: Retention,
    ) -> Result<Pruned, StoreError> {
        let pool = self.pool.clone();
        let cutoff = millis(now.checked_sub(retention.max_age).unwrap_or(UNIX_EPOCH));
        let keep = i64::try_from(retention.max_rows).unwrap_or(i64::MAX);
        self.run(async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            let mut events = tx
                .execute("DELETE FROM health_events WHERE at < $1", &[&cutoff])
                .await?;
            events += tx
                .execute(
                    "DELETE FROM health_events WHERE (check_id, at, seq) IN (
                         SELECT check_id, at, seq FROM health_events
                         ORDER BY at DESC, seq DESC OFFSET $1)",
                    &[&keep],
                )
                .await?;
            let mut changes = tx
                .execute(
                    "DELETE FROM route53_changes WHERE submitted_at < $1",
                    &[&cutoff],
                )
                .await?;
            changes += tx
                .execute(
                    "DELETE FROM route53_changes WHERE id IN (
                         SELECT id FROM route53_changes ORDER BY submitted_at DESC OFFSET $1)",
                    &[&keep],
                )
                .await?;
            tx.commit().await?;
            Ok(Pruned { events, changes })
        })
    }

    fn put_route53_change(
        &mut self,
        id: &str,
        submitted_at: SystemTime,
        comment: Option<&str>,
    ) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        let id = id.to_owned();
        let comment = comment.map(str::to_owned);
        let at = millis(submitted_at);
        self.run(async move {
            let client = pool.get().await?;
            client
                .execute(
                    "INSERT INTO route53_changes (id, submitted_at, comment, version)
                     VALUES ($1, $2, $3, (SELECT version FROM store_version WHERE id = 1))",
                    &[&id, &at, &comment],
                )
                .await?;
            Ok(())
        })
    }

    fn route53_change(
        &self,
        id: &str,
    ) -> Result<Option<(SystemTime, Option<String>, i64)>, StoreError> {
        let pool = self.pool.clone();
        let id = id.to_owned();
        self.run(async move {
            let client = pool.get().await?;
            let row = client
                .query_opt(
                    "SELECT submitted_at, comment, COALESCE(version, 0) FROM route53_changes WHERE id = $1",
                    &[&id],
                )
                .await?;
            Ok(row.map(|r| (from_millis(r.get(0)), r.get(1), r.get(2))))
        })
    }

    fn expect_version(&mut self, version: i64) {
        self.next.expected = Some(version);
    }

    fn record_with_next_write(&mut self, change: NewChange) {
        self.next.change = Some(change);
    }

    fn version(&self) -> Result<i64, StoreError> {
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await?;
            Ok(client
                .query_one("SELECT version FROM store_version WHERE id = 1", &[])
                .await?
                .get(0))
        })
    }

    fn heartbeat(&mut self, node: &NodeRecord) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        let node = node.clone();
        self.run(async move {
            let client = pool.get().await?;
            let heartbeat = i64::try_from(node.heartbeat.as_millis()).unwrap_or(i64::MAX);
            client
                .execute(
                    "INSERT INTO nodes (name, address, api, version, config_version, started_at, last_seen, heartbeat_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (name) DO UPDATE SET address = EXCLUDED.address, api = EXCLUDED.api,
                         version = EXCLUDED.version, config_version = EXCLUDED.config_version,
                         started_at = EXCLUDED.started_at, last_seen = EXCLUDED.last_seen,
                         heartbeat_ms = EXCLUDED.heartbeat_ms",
                    &[
                        &node.name,
                        &node.address,
                        &node.api,
                        &node.version,
                        &node.config_version,
                        &millis(node.started_at),
                        &millis(node.last_seen),
                        &heartbeat,
                    ],
                )
                .await?;
            Ok(())
        })
    }

    fn forget_node(&mut self, name: &str, seen_before: SystemTime) -> Result<bool, StoreError> {
        let pool = self.pool.clone();
        let name = name.to_owned();
        self.run(async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            let removed = tx
                .execute(
                    "DELETE FROM nodes WHERE name = $1 AND last_seen < $2",
                    &[&name, &millis(seen_before)],
                )
                .await?
                > 0;
            if removed
                && tx
                    .execute("DELETE FROM health_observations WHERE node = $1", &[&name])
                    .await?
                    > 0
            {
                // As for a deleted check: readers go back to a full read.
                tx.execute(super::OBSERVATIONS_DELETED, &[]).await?;
            }
            tx.commit().await?;
            Ok(removed)
        })
    }

    fn nodes(&self) -> Result<Vec<NodeRecord>, StoreError> {
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    r#"SELECT name, address, api, version, config_version, started_at, last_seen, heartbeat_ms
                     FROM nodes ORDER BY name COLLATE "C""#,
                    &[],
                )
                .await?;
            Ok(rows
                .into_iter()
                .map(|r| NodeRecord {
                    name: r.get(0),
                    address: r.get(1),
                    api: r.get(2),
                    version: r.get(3),
                    config_version: r.get(4),
                    started_at: from_millis(r.get(5)),
                    last_seen: from_millis(r.get(6)),
                    heartbeat: Duration::from_millis(r.get::<_, i64>(7).max(0) as u64),
                })
                .collect())
        })
    }

    fn changes(&self) -> Option<Notifications> {
        let (tx, versions) = tokio::sync::watch::channel(0);
        let (votes_tx, votes) = tokio::sync::watch::channel(0);
        let (listening_tx, listening) = tokio::sync::watch::channel(0);
        let runtime = self.runtime.as_ref()?;
        let url = self.url.clone();
        runtime.spawn(listen::listen(
            self.config.clone(),
            url,
            tx,
            votes_tx,
            listening_tx,
        ));
        Some(Notifications {
            versions,
            votes,
            listening,
        })
    }

    fn write_votes(&mut self, changes: &[VoteChange]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let pool = self.pool.clone();
        // Columns for one statement each: a flip of many checks is one
        // round trip and one commit, not one per check.
        let (mut checks, mut nodes, mut healthy, mut reasons, mut at) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut gone_checks, mut gone_nodes) = (Vec::new(), Vec::new());
        for change in changes {
            match change {
                VoteChange::Observed(o) => {
                    checks.push(o.check.clone());
                    nodes.push(o.node.clone());
                    healthy.push(o.healthy);
                    reasons.push(o.reason.clone());
                    at.push(millis(o.at));
                }
                VoteChange::Withdrawn { check, node } => {
                    gone_checks.push(check.clone());
                    gone_nodes.push(node.clone());
                }
            }
        }
        self.run(async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            if !gone_checks.is_empty() {
                let deleted = tx
                    .execute(
                        "DELETE FROM health_observations
                         WHERE (check_id, node) IN
                             (SELECT * FROM UNNEST($1::text[], $2::text[]))",
                        &[&gone_checks, &gone_nodes],
                    )
                    .await?;
                if deleted > 0 {
                    // Readers see only what is written: back to a full read.
                    tx.execute(super::OBSERVATIONS_DELETED, &[]).await?;
                }
            }
            if !checks.is_empty() {
                // `seq` is the writing transaction's id (64 bits, never
                // wrapping): unlike a sequence's next value, no
                // transaction can still commit one below a reader's
                // snapshot xmin, which is what `observations_since`
                // relies on. And nodes do not queue on one counter row
                // to get it.
                tx.execute(
                    "INSERT INTO health_observations (check_id, node, healthy, reason, at, seq)
                     SELECT c, n, h, r, a, txid_current()
                     FROM UNNEST($1::text[], $2::text[], $3::bool[], $4::text[], $5::int8[])
                         AS o(c, n, h, r, a)
                     ON CONFLICT (check_id, node) DO UPDATE SET healthy = EXCLUDED.healthy,
                         reason = EXCLUDED.reason, at = EXCLUDED.at, seq = EXCLUDED.seq",
                    &[&checks, &nodes, &healthy, &reasons, &at],
                )
                .await?;
            }
            // Readers read what changed since their last read: which
            // checks is not needed, so one notification says it all.
            tx.execute("SELECT pg_notify($1, '')", &[&VOTES_CHANNEL])
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn observations_since(&self, since: Option<VoteCursor>) -> Result<VoteRead, StoreError> {
        let pool = self.pool.clone();
        self.run(async move {
            let mut client = pool.get().await?;
            // One snapshot: the xmin taken is that of the snapshot the
            // rows are read in.
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            // Every transaction below the snapshot's xmin has ended, so
            // every observation written with a lower `seq` is visible now
            // and read by this read or an earlier one; those at or above
            // it (visible or not yet committed) are read again next time.
            let row = tx
                .query_one(
                    "SELECT txid_snapshot_xmin(txid_current_snapshot()), observations_deleted
                     FROM store_version WHERE id = 1",
                    &[],
                )
                .await?;
            let cursor = VoteCursor {
                seq: row.get(0),
                deleted: row.get(1),
            };
            let from = since
                .filter(|s| s.deleted == cursor.deleted && s.seq <= cursor.seq)
                .map(|s| s.seq);
            let rows = tx
                .query(
                    r#"SELECT check_id, node, healthy, reason, at FROM health_observations
                     WHERE $1::BIGINT IS NULL OR seq >= $1
                     ORDER BY check_id COLLATE "C", node COLLATE "C""#,
                    &[&from],
                )
                .await?;
            tx.commit().await?;
            let observations = rows
                .into_iter()
                .map(|r| StoredObservation {
                    check: r.get(0),
                    node: r.get(1),
                    healthy: r.get(2),
                    reason: r.get(3),
                    at: from_millis(r.get(4)),
                })
                .collect();
            Ok(VoteRead {
                full: from.is_none(),
                observations,
                cursor,
            })
        })
    }

    #[cfg(test)]
    fn migrations_applied(&self) -> Result<i64, StoreError> {
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await?;
            Ok(client
                .query_one("SELECT COUNT(*) FROM schema_migrations", &[])
                .await?
                .get(0))
        })
    }

    #[cfg(test)]
    fn execute_batch(&mut self, sql: &str) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        let sql = sql.to_owned();
        self.run(async move {
            pool.get().await?.batch_execute(&sql).await?;
            Ok(())
        })
    }
}
/// A `zone_serials` row (zone, serial, fingerprint, declared).
fn serial_row(r: &tokio_postgres::Row) -> (String, StoredSerial) {
    let declared: Option<i64> = r.get(3);
    (
        r.get(0),
        StoredSerial {
            serial: r.get::<_, i64>(1) as u32,
            fingerprint: r.get::<_, i64>(2) as u64,
            declared: declared.map(|d| d as u32),
        },
    )
}
