//! Recorded health events and their retention.

use super::error::ServiceError;
use super::{MAX_EVENTS, Service};
use crate::store::HealthEvent;
use std::time::SystemTime;

impl Service {
    /// Recorded state changes, oldest first. Read on a connection of its
    /// own: the service lock is held only to check that `check` exists, so
    /// a long read never holds up a change, a publish or a health event.
    pub fn events(
        &self,
        check: Option<&str>,
        since: Option<SystemTime>,
        limit: Option<usize>,
    ) -> Result<Vec<HealthEvent>, ServiceError> {
        let limit = limit.unwrap_or(MAX_EVENTS).min(MAX_EVENTS);
        if let Some(id) = check
            && !self.lock().check_kinds().contains_key(id)
        {
            return Err(ServiceError::no_check(id));
        }
        Ok(match &self.history {
            Some(reader) => reader.events(check, since, limit)?,
            None => self.lock().store.events(check, since, limit)?,
        })
    }
}

/// History retention (`[server] history_max_age`, `history_max_rows`).
impl Service {
    /// Deletes health events and Route 53 change records past the
    /// configured retention; the config file's current values apply.
    pub fn prune_history(&self) -> Result<crate::store::Pruned, ServiceError> {
        let mut inner = self.lock();
        let retention = inner.file.retention;
        Ok(inner.store.prune_history(SystemTime::now(), retention)?)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::mpsc;
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    use crate::config::Config;
    use crate::snapshot::NameKey;
    use crate::store::Store;

    const CONFIG: &str = r#"
[[health_check]]
id = "web"
type = "tcp"
ip = "127.0.0.1"
port = 9
interval = "300s"
"#;

    /// How many events the history holds before the test.
    const HISTORY: i64 = 20_000;

    /// Writes `HISTORY` events straight into the database, in one
    /// transaction (one fsync instead of twenty thousand).
    fn fill(path: &Path) {
        let mut conn = rusqlite::Connection::open(path).unwrap();
        let tx = conn.transaction().unwrap();
        for i in 0..HISTORY {
            tx.execute(
                "INSERT INTO health_events VALUES ('old', ?1, 0, ?2, ?3, 'filler')",
                rusqlite::params![1_000 + i, i % 2 == 0, i % 2 == 1],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }

    /// A history read stopped in the middle of its scan (its statement
    /// open, so SQLite holds its read snapshot) holds up neither a change
    /// and its publication nor the recording of a health event; the scan
    /// then finishes on the snapshot it started with.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_history_read_in_progress_holds_up_no_write() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("e.db");
        drop(Store::open(&db).unwrap());
        fill(&db);
        let config = Config::from_toml(Path::new("eightfold.toml"), CONFIG).unwrap();
        let store = Store::open(&db).unwrap();
        let service = super::Service::start(config, None, store, CancellationToken::new()).unwrap();

        let (started_tx, started) = mpsc::channel();
        let (go_on, go_on_rx) = mpsc::channel::<()>();
        let reader = service.clone();
        let scan = std::thread::spawn(move || {
            let history = reader.history.as_ref().expect("a file has a reader");
            history.with_connection(|conn| {
                let mut stmt = conn
                    .prepare("SELECT reason FROM health_events ORDER BY at")
                    .unwrap();
                let mut rows = stmt.query([]).unwrap();
                let mut seen = 0;
                while rows.next().unwrap().is_some() {
                    seen += 1;
                    if seen == 1 {
                        started_tx.send(()).unwrap();
                        go_on_rx.recv().unwrap();
                    }
                }
                seen
            })
        });
        started.recv().unwrap();

        // Meanwhile: a zone with a record, published; an override, whose
        // transition the background writer records. Run apart so that a
        // change waiting for the scan fails the test instead of hanging it.
        let (done_tx, done) = mpsc::channel();
        let writer = service.clone();
        std::thread::spawn(move || {
            writer.create_zone("new.test.", None, None).unwrap();
            writer.set_override("web", Some(false)).unwrap();
            let recorded = loop {
                let events = writer.lock().store.events(Some("web"), None, 10).unwrap();
                if !events.is_empty() {
                    break events;
                }
                std::thread::sleep(Duration::from_millis(10));
            };
            done_tx.send(recorded).unwrap();
        });
        let recorded = done
            .recv_timeout(Duration::from_secs(30))
            .expect("the change and the event waited for the history scan");
        assert_eq!(recorded[0].reason, "operator override: unhealthy");
        let apex = crate::config::parse_absolute("new.test.").unwrap();
        let published = service.published().load_full();
        assert!(published.snapshot.find_zone(&NameKey::new(&apex)).is_some());

        // The scan, let go, ends on the history it started with.
        go_on.send(()).unwrap();
        assert_eq!(scan.join().unwrap(), HISTORY);
        let events = service.events(None, None, None).unwrap();
        assert_eq!(events.last().unwrap().check, "web");

        // And the other way round: a read runs while a change holds the
        // service lock.
        let (read_tx, read) = mpsc::channel();
        let held = service.lock();
        let reader = service.clone();
        std::thread::spawn(move || {
            let events = reader.events(None, None, Some(5)).unwrap();
            read_tx.send(events.len()).unwrap();
        });
        let n = read
            .recv_timeout(Duration::from_secs(30))
            .expect("the history read waited for the service lock");
        assert_eq!(n, 5);
        drop(held);
    }
}
