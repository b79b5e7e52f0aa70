//! Serials and NOTIFY: every snapshot the service publishes passes through
//! here, so each zone's SOA serial follows the rule of `xfr::serial` and
//! the zone's secondaries are told when it moves. Health transitions come
//! here too: one that changes what a zone transfers is a change of the
//! zone.

use std::sync::Arc;

use crate::dns::handler::Published;
use crate::model::DName;
use crate::routing::{self, Current};
use crate::snapshot::NameKey;
use crate::store::{Store, StoredSerial};
use crate::xfr::journal::{self, Version};
use crate::xfr::notify;
use crate::xfr::serial::{Changed, Entry, SerialBook, Stamped};

use super::{Inner, key_text};

/// Up to this many zones whose serial moved at once, each gets an `info`
/// line; more (a start or reload of many zones) get one line saying how
/// many, and each zone's at `debug`: 10,000 lines at every start said
/// nothing an operator reads, and wrote them on the start's one thread.
const SERIAL_LINES: usize = 100;

/// Seconds since the Unix epoch: the first serial of a zone with a
/// generated SOA.
fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() as u32)
}

/// The serials saved by the last run; none when they cannot be read (the
/// zones then start afresh, upwards: see `xfr::serial`).
pub(super) fn saved_serials(store: &Store) -> SerialBook {
    match store.zone_serials() {
        Ok(rows) => SerialBook::from_saved(rows.into_iter().map(|(zone, s)| {
            let entry = Entry {
                serial: s.serial,
                fingerprint: s.fingerprint,
                declared: s.declared,
            };
            (zone, entry)
        })),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the saved zone serials; zones start from new serials");
            SerialBook::default()
        }
    }
}

impl Inner {
    /// Stamps the serials of `next` (of the zone at `only` alone when
    /// given) and publishes it; saves the serials that moved and sends
    /// NOTIFY for their zones.
    pub(super) fn store_published(&mut self, next: Published, only: Option<&DName>) {
        let health = next.health.clone();
        let Stamped {
            snapshot, changed, ..
        } = self.serials.stamp_only(
            &next.snapshot,
            only,
            &|id| health.is_healthy(id),
            unix_now(),
        );
        // One journal for the process: a reload builds `next` afresh.
        let journal = self.live.published.load().journal.clone();
        let published = Arc::new(Published {
            snapshot,
            journal,
            ..next
        });
        self.record_versions(&published, changed.iter().map(|c| &c.apex));
        self.live.published.store(published.clone());
        self.save_serials(&changed);
        log_moved(&changed);
        send_notifies(&published, &changed);
    }

    /// Stamps every zone of the published snapshot (at start, under the
    /// health the checks resume from).
    pub(super) fn restamp(&mut self) {
        self.restamp_with(false);
    }

    /// Stamps again the zones whose answers follow health, after a health
    /// transition.
    pub(super) fn restamp_health(&mut self) {
        self.restamp_with(true);
    }

    /// Publishes, saves and notifies only when a zone's serial moved or had
    /// to be written.
    fn restamp_with(&mut self, health_only: bool) {
        let current = self.live.published.load_full();
        let health = current.health.clone();
        let healthy = |id| health.is_healthy(id);
        let stamped = if health_only {
            self.serials
                .stamp_health(&current.snapshot, &healthy, unix_now())
        } else {
            self.serials.stamp(&current.snapshot, &healthy, unix_now())
        };
        let Stamped {
            snapshot,
            changed,
            rewritten,
        } = stamped;
        if !rewritten && changed.is_empty() {
            if !health_only {
                // At start, zones keep the serials saved by the last run:
                // their versions start the journal all the same.
                self.record_versions(&current, current.snapshot.zones().map(|z| &z.apex));
            }
            return;
        }
        let published = Arc::new(current.with_snapshot(snapshot));
        if health_only {
            self.record_versions(&published, changed.iter().map(|c| &c.apex));
        } else {
            self.record_versions(&published, published.snapshot.zones().map(|z| &z.apex));
        }
        self.live.published.store(published.clone());
        self.save_serials(&changed);
        log_moved(&changed);
        send_notifies(&published, &changed);
    }

    /// Records in the IXFR journal what each zone at `apexes` transfers at
    /// its serial in `published`, when some rule lets a client transfer
    /// it (the journal costs memory for zones nobody can take otherwise).
    /// Recorded before `published` is served, so an IXFR that sees the
    /// new serial finds its version. A zone whose health moved since its
    /// stamp is
    /// forgotten (its content is not what the serial stands for; the next
    /// stamp gives it a new serial).
    fn record_versions<'a>(&self, published: &Published, apexes: impl Iterator<Item = &'a DName>) {
        let health = &published.health;
        let healthy = |id| health.is_healthy(id);
        for apex in apexes {
            if published.transfers.of(apex).allow.is_empty() {
                continue;
            }
            let Some((zone, 0)) = published.snapshot.find_zone(&NameKey::new(apex)) else {
                continue;
            };
            if zone.unavailable {
                continue;
            }
            if !self.serials.stands_for(zone, &healthy) {
                published.journal.forget(apex);
                continue;
            }
            let (soa_ttl, soa) = &zone.soa;
            let soa = journal::wire(&Current {
                owner: &zone.apex,
                ttl: *soa_ttl,
                data: soa,
            });
            let records = routing::zone_now(zone, &healthy)
                .iter()
                .map(journal::wire)
                .collect();
            published
                .journal
                .record(apex, Version::new(zone.serial(), soa, records));
        }
    }

    /// Saves the serials that moved. A failure is logged, not returned:
    /// the serial is already served, and after a restart the zone would
    /// only move up again.
    fn save_serials(&mut self, changed: &[Changed]) {
        let rows: Vec<(String, StoredSerial)> = changed
            .iter()
            .filter_map(|c| {
                let e = self.serials.entry(&c.apex)?;
                let saved = StoredSerial {
                    serial: e.serial,
                    fingerprint: e.fingerprint,
                    declared: e.declared,
                };
                Some((key_text(&c.apex), saved))
            })
            .collect();
        if rows.is_empty() {
            return;
        }
        if let Err(e) = self.store.put_zone_serials(&rows) {
            tracing::warn!(error = %e, "cannot save zone serials: {e}");
        }
    }
}

/// Logs the zones whose serial moved (see [`SERIAL_LINES`]).
fn log_moved(changed: &[Changed]) {
    if changed.len() <= SERIAL_LINES {
        for c in changed {
            tracing::info!(zone = %c.apex, serial = c.serial, "zone {} now has serial {}", c.apex, c.serial);
        }
    } else {
        for c in changed {
            tracing::debug!(zone = %c.apex, serial = c.serial, "zone {} now has serial {}", c.apex, c.serial);
        }
        tracing::info!(
            zones = changed.len(),
            "{} zones have new serials (each zone's at debug level)",
            changed.len()
        );
    }
}

fn send_notifies(published: &Published, changed: &[Changed]) {
    for c in changed {
        let settings = published.transfers.of(&c.apex);
        if settings.notify.is_empty() {
            continue;
        }
        let key = settings
            .notify_key
            .as_ref()
            .and_then(|name| published.keys.named(name));
        let apex = crate::snapshot::NameKey::new(&c.apex);
        if let Some((zone, 0)) = published.snapshot.find_zone(&apex) {
            notify::spawn(
                &zone.apex,
                &(zone.soa.0, zone.soa.1.to_rdata()),
                &settings.notify,
                key,
            );
        }
    }
}
