//! Writing health transitions to the store: gathered for a moment and
//! written in batches, kept and written again while the store refuses
//! them, and flushed at a clean stop.

use std::sync::Arc;

use super::{Inner, Service};
use crate::store::HealthEvent;

impl Service {
    /// Writes health transitions as they come. What the store refuses
    /// (busy, full, unreachable) is kept and written again every
    /// [`EVENT_RETRY`] until it takes it. At shutdown, once the checker has
    /// stopped, it writes what is still queued and then says so
    /// ([`Service::events_flushed`]): a transition the checker saw, and
    /// on a shared store its last observations, are never lost to a
    /// clean stop.
    pub(super) async fn persist_events(
        self: Arc<Self>,
        mut rx: tokio::sync::mpsc::UnboundedReceiver<HealthEvent>,
    ) {
        let mut unwritten = Unwritten::default();
        loop {
            tokio::select! {
                biased;
                event = rx.recv() => match event {
                    Some(event) => {
                        // Transitions come one by one as a failing backend's
                        // checks are probed; those of the next moment are
                        // written (and stamp serials) with this one.
                        tokio::time::sleep(EVENT_GATHER).await;
                        let batch = take_queued(event, &mut rx);
                        self.count_changes(&batch);
                        unwritten.add(batch);
                        self.clone().persist(&mut unwritten).await;
                    }
                    None => break,
                },
                _ = tokio::time::sleep(EVENT_RETRY), if !unwritten.events.is_empty() => {
                    self.clone().persist(&mut unwritten).await;
                }
                _ = self.shutdown.cancelled() => {
                    let checker = self.lock().live.checker.clone();
                    checker.stopped().await;
                    // The checker's last observations reach the other
                    // nodes: a restart resumes from them.
                    if self.ballot.is_some() {
                        self.votes_flush.flush().await;
                    }
                    rx.close();
                    while let Some(event) = rx.recv().await {
                        let batch = take_queued(event, &mut rx);
                        self.count_changes(&batch);
                        unwritten.add(batch);
                    }
                    self.clone().persist(&mut unwritten).await;
                    break;
                }
            }
        }
        self.events_flushed.cancel();
    }

    /// Waits until the health transitions queued at shutdown are written.
    pub async fn events_flushed(&self) {
        self.events_flushed.cancelled().await;
    }

    fn count_changes(&self, events: &[HealthEvent]) {
        let mut changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        for event in events {
            *changes.entry(event.check.clone()).or_default() += 1;
        }
    }

    /// Writes the transitions not yet written, [`EVENT_BATCH`] to a store
    /// transaction, with one serial stamp (a flip of 10,000 checks is a
    /// few commits and stamps, not 10,000 of each, each commit an fsync on
    /// SQLite); keeps what the store refuses.
    async fn persist(self: Arc<Self>, unwritten: &mut Unwritten) {
        let mut events = std::mem::take(&mut unwritten.events);
        let service = self.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut inner = service.lock();
            inner.restamp_health();
            // A backlog of an outage goes in transactions of EVENT_BATCH,
            // each kept only if refused.
            let mut written = 0;
            for chunk in events.chunks(EVENT_BATCH) {
                if let Err(e) = write_events(&mut inner, service.ballot.is_some(), chunk) {
                    events.drain(..written);
                    return (events, Err(e));
                }
                written += chunk.len();
            }
            (Vec::new(), Ok(()))
        })
        .await;
        match result {
            Ok((_, Ok(()))) => unwritten.written(),
            Ok((events, Err(e))) => unwritten.refused(events, &e),
            Err(e) => tracing::error!(error = %e, "health event writer failed"),
        }
    }
}

/// Most transitions written in one store transaction.
const EVENT_BATCH: usize = 1000;

/// How long transitions gather after the first before they are written.
/// DNS follows a transition at once; its record, its zones' serials and
/// their NOTIFYs follow this much later.
const EVENT_GATHER: std::time::Duration = std::time::Duration::from_millis(50);

/// How often transitions the store refused are written again.
const EVENT_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Most transitions kept while the store refuses them (a day of flapping
/// of a few thousand checks); the oldest go first, counted in the log.
const EVENT_KEEP: usize = 100_000;

/// Records `events` (nodes that share the store each decide these
/// transitions; the first records each for all); a check deleted while
/// its event was queued keeps the event (it happened) but leaves no state
/// behind: a check created later under its id must not resume from it.
fn write_events(
    inner: &mut Inner,
    shared: bool,
    events: &[HealthEvent],
) -> Result<(), crate::store::StoreError> {
    match shared {
        true => {
            inner.store.record_transitions(events)?;
        }
        false => inner.store.record_events(events)?,
    }
    for event in events {
        if inner.live.checker.slot_of(&event.check).is_none() {
            inner.store.delete_check(&event.check)?;
        }
    }
    Ok(())
}

/// Transitions not yet in the store, oldest first, and whether the store
/// refused the last attempt (said once per outage).
#[derive(Default)]
struct Unwritten {
    events: Vec<HealthEvent>,
    refusing: bool,
}

impl Unwritten {
    fn add(&mut self, batch: Vec<HealthEvent>) {
        self.events.extend(batch);
    }

    fn written(&mut self) {
        if std::mem::take(&mut self.refusing) {
            tracing::info!("health events recorded again");
        }
    }

    fn refused(&mut self, mut events: Vec<HealthEvent>, error: &crate::store::StoreError) {
        let dropped = events.len().saturating_sub(EVENT_KEEP);
        if dropped > 0 {
            tracing::error!(
                dropped,
                kept = EVENT_KEEP,
                "health events dropped unrecorded, the oldest first: the store has refused them too long"
            );
            events.drain(..dropped);
        }
        if !std::mem::replace(&mut self.refusing, true) {
            tracing::error!(error = %error, events = events.len(), "cannot record health events; kept, and written again every second until the store takes them");
        }
        self.events = events;
    }
}

/// `first` and whatever else is queued already (the caller waited
/// [`EVENT_GATHER`]), up to [`EVENT_BATCH`].
fn take_queued(
    first: HealthEvent,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<HealthEvent>,
) -> Vec<HealthEvent> {
    let mut batch = vec![first];
    while batch.len() < EVENT_BATCH {
        match rx.try_recv() {
            Ok(event) => batch.push(event),
            Err(_) => break,
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use tokio_util::sync::CancellationToken;

    use super::Service;
    use crate::config::Config;
    use crate::store::Store;

    const CONFIG: &str = r#"
[[health_check]]
id = "web"
type = "tcp"
ip = "127.0.0.1"
port = 9
interval = "300s"
"#;

    /// An event of a check deleted while it was queued is kept, but no
    /// state is left for a later check of the same id to resume from.
    #[tokio::test]
    async fn an_event_of_a_deleted_check_leaves_no_state() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::from_toml(Path::new("eightfold.toml"), CONFIG).unwrap();
        let store = Store::open(&dir.path().join("e.db")).unwrap();
        let service = Service::start(config, None, store, CancellationToken::new()).unwrap();
        let events = ["web", "gone"]
            .map(|check| crate::store::HealthEvent {
                check: check.into(),
                at: std::time::SystemTime::now(),
                old_healthy: true,
                new_healthy: false,
                reason: "refused".into(),
            })
            .to_vec();
        let mut unwritten = super::Unwritten::default();
        unwritten.add(events);
        service.clone().persist(&mut unwritten).await;
        assert!(unwritten.events.is_empty());
        let inner = service.lock();
        let states: Vec<String> = inner
            .store
            .states()
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(states, ["web"]);
        assert_eq!(inner.store.events(Some("gone"), None, 10).unwrap().len(), 1);
    }
}
