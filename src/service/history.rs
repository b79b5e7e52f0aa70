//! Recorded health events and their retention.

use super::error::ServiceError;
use super::views::EventInfo;
use super::{MAX_EVENTS, Service};
use std::time::SystemTime;

impl Service {
    /// Recorded state changes, oldest first.
    pub fn events(
        &self,
        check: Option<&str>,
        since: Option<SystemTime>,
        limit: Option<usize>,
    ) -> Result<Vec<EventInfo>, ServiceError> {
        let limit = limit.unwrap_or(MAX_EVENTS).min(MAX_EVENTS);
        let inner = self.lock();
        if let Some(id) = check
            && !inner.check_kinds().contains_key(id)
        {
            return Err(ServiceError::no_check(id));
        }
        Ok(inner
            .store
            .events(check, since, limit)?
            .iter()
            .map(EventInfo::from)
            .collect())
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
