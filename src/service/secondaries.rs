//! Secondary zones in the service: a zone declared with `primaries` sits
//! among the file's zones, without records, until its task
//! (`xfr::secondary`) transfers it; the transferred data then takes the
//! placeholder's place and is published like a file zone, read-only
//! (the API and dynamic update are refused, as for file zones). Until the
//! first transfer, and after the SOA expire passes without a refresh, the
//! zone is marked unavailable in the snapshot (SERVFAIL).

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use super::{Inner, Service, key_text, slot_map};
use domain::base::ToName;

use crate::config::Config;
use crate::model::DName;
use crate::snapshot::{NameKey, Snapshot};
use crate::xfr::secondary::{Publisher, Secondary, Update};

/// Which secondary zones have current data.
#[derive(Debug, Default)]
pub(super) struct Transferred {
    /// Zones (by key) whose data in the file's zones came from a transfer.
    pub(super) zones: HashSet<String>,
    /// Of those, the ones past their SOA expire.
    pub(super) expired: HashSet<String>,
}

impl Transferred {
    fn available(&self, key: &str) -> bool {
        self.zones.contains(key) && !self.expired.contains(key)
    }
}

/// `snapshot` with every secondary zone of `file` that has no current
/// data marked unavailable.
pub(super) fn mark_unavailable(
    file: &Config,
    transferred: &Transferred,
    snapshot: Snapshot,
) -> Snapshot {
    let mut out = snapshot;
    for s in &file.secondaries {
        if transferred.available(&key_text(&s.zone)) {
            continue;
        }
        if let Some((zone, 0)) = out.find_zone(&NameKey::new(&s.zone)) {
            let mut zone = zone.clone();
            zone.unavailable = true;
            out = out.with_built_zone(zone);
        }
    }
    out
}

impl Inner {
    /// After the file's zones were replaced (start, reload): the secondary
    /// zones that stay secondaries keep the data transferred before
    /// (moved from `old`), the others are forgotten; serials of secondary
    /// zones are the primary's.
    pub(super) fn keep_transferred(&mut self, old: Option<&mut Config>) {
        let keys: HashSet<String> = self
            .file
            .secondaries
            .iter()
            .map(|s| key_text(&s.zone))
            .collect();
        self.transferred.zones.retain(|k| keys.contains(k));
        self.transferred.expired.retain(|k| keys.contains(k));
        if let Some(old) = old {
            for zone in &mut self.file.zones {
                let key = key_text(&zone.name);
                if !self.transferred.zones.contains(&key) {
                    continue;
                }
                if let Some(before) = old.zones.iter_mut().find(|z| key_text(&z.name) == key) {
                    std::mem::swap(zone, before);
                }
            }
        }
        self.serials
            .set_verbatim(self.file.secondaries.iter().map(|s| &s.zone));
    }

    /// The secondary declaration of the zone `name_or_id`, when it is one.
    pub(super) fn secondary_of(&self, apex: &DName) -> Option<&Secondary> {
        self.file.secondaries.iter().find(|s| s.zone.name_eq(apex))
    }
}

impl Service {
    /// Publishes the secondary zone at `apex` alone, as its data is now.
    fn publish_secondary(&self, inner: &mut Inner, apex: &DName) {
        let Some(spec) = inner.file.zones.iter().find(|z| z.name.name_eq(apex)) else {
            return;
        };
        let current = inner.live.published.load_full();
        let ids = slot_map(&inner.live.checker);
        let snapshot = current.snapshot.with_zone(
            spec,
            &|id| ids.get(id).copied(),
            crate::publish::soa_serial(),
            &inner.nameservers,
        );
        let snapshot = mark_unavailable(&inner.file, &inner.transferred, snapshot);
        inner.store_published(current.with_snapshot(snapshot), Some(apex));
        self.generation.fetch_add(1, Ordering::Relaxed);
    }
}

impl Publisher for Service {
    fn serve(&self, zone: &DName, update: Update) -> Result<(), String> {
        let mut inner = self.lock();
        // A reload may have made it something else meanwhile.
        if inner.secondary_of(zone).is_none() {
            return Ok(());
        }
        let key = key_text(zone);
        let Some(slot) = inner.file.zones.iter().position(|z| z.name.name_eq(zone)) else {
            return Ok(());
        };
        match update {
            Update::Transferred(spec) => {
                inner.file.zones[slot] = spec;
                inner.transferred.zones.insert(key.clone());
                inner.transferred.expired.remove(&key);
            }
            Update::Changed(diffs) => {
                if !inner.transferred.zones.contains(&key) {
                    return Err("there is no zone to apply changes to".into());
                }
                let changed = crate::xfr::secondary::apply(&inner.file.zones[slot], &diffs)?;
                inner.file.zones[slot] = changed;
                inner.transferred.expired.remove(&key);
            }
            Update::Expired => {
                inner.transferred.expired.insert(key);
            }
        }
        self.publish_secondary(&mut inner, zone);
        Ok(())
    }

    fn copy(&self, zone: &DName) -> Option<crate::model::ZoneSpec> {
        let inner = self.lock();
        inner.secondary_of(zone)?;
        inner
            .file
            .zones
            .iter()
            .find(|z| z.name.name_eq(zone))
            .cloned()
    }
}
