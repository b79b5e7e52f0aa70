//! Serials and NOTIFY: every snapshot the service publishes passes through
//! here, so each zone's SOA serial follows the rule of `xfr::serial` and
//! the zone's secondaries are told when it moves. Health transitions come
//! here too: one that changes what a zone transfers is a change of the
//! zone.

use std::sync::Arc;

use crate::dns::handler::Published;
use crate::model::DName;
use crate::xfr::notify;

use super::Inner;

/// Seconds since the Unix epoch: the first serial of a zone with a
/// generated SOA.
fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() as u32)
}

impl Inner {
    /// Stamps the serials of `next` (of the zone at `only` alone when
    /// given) and publishes it; sends NOTIFY for each zone whose serial
    /// moved.
    pub(super) fn store_published(&mut self, next: Published, only: Option<&DName>) {
        let health = next.health.clone();
        let (snapshot, changed) = self.serials.stamp_only(
            &next.snapshot,
            only,
            &|id| health.is_healthy(id),
            unix_now(),
        );
        let published = Arc::new(Published { snapshot, ..next });
        self.live.published.store(published.clone());
        send_notifies(&published, &changed);
    }

    /// Stamps the published snapshot again under the current health (after
    /// a health transition); publishes and notifies only when a zone's
    /// content, and so its serial, changed.
    pub(super) fn restamp(&mut self) {
        let current = self.live.published.load_full();
        let health = current.health.clone();
        let (snapshot, changed) =
            self.serials
                .stamp(&current.snapshot, &|id| health.is_healthy(id), unix_now());
        if changed.is_empty() {
            return;
        }
        let published = Arc::new(Published {
            snapshot,
            health: current.health.clone(),
            keys: current.keys.clone(),
            transfers: current.transfers.clone(),
        });
        self.live.published.store(published.clone());
        for c in &changed {
            tracing::info!(zone = %c.apex, serial = c.serial, "health changed what zone {} transfers; serial {}", c.apex, c.serial);
        }
        send_notifies(&published, &changed);
    }
}

fn send_notifies(published: &Published, changed: &[crate::xfr::serial::Changed]) {
    for c in changed {
        let targets = &published.transfers.of(&c.apex).notify;
        if targets.is_empty() {
            continue;
        }
        let key = crate::snapshot::NameKey::new(&c.apex);
        if let Some((zone, 0)) = published.snapshot.find_zone(&key) {
            notify::spawn(&zone.apex, &zone.soa, targets);
        }
    }
}
