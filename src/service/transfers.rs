//! Serials and NOTIFY: every snapshot the service publishes passes through
//! here, so each zone's SOA serial follows the rule of `xfr::serial` and
//! the zone's secondaries are told when it moves. Health transitions come
//! here too: one that changes what a zone transfers is a change of the
//! zone.

use std::collections::HashMap;
use std::sync::Arc;

use crate::dns::handler::Published;
use crate::model::DName;
use crate::routing::{self, Current};
use crate::snapshot::NameKey;
use crate::store::{Claimed, SerialClaim, Store, StoredSerial};
use crate::xfr::journal::{self, Version};
use crate::xfr::notify;
use crate::xfr::serial::{self, Changed, Claim, Entry, Outcome, Stamped};

use super::Inner;

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

/// The store as `xfr::serial` shares serials through it.
struct Shared<'a>(&'a mut Store);

fn entry(s: StoredSerial) -> Entry {
    Entry {
        serial: s.serial,
        fingerprint: s.fingerprint,
        declared: s.declared,
    }
}

fn stored(e: Entry) -> StoredSerial {
    StoredSerial {
        serial: e.serial,
        fingerprint: e.fingerprint,
        declared: e.declared,
    }
}

impl serial::Shared for Shared<'_> {
    fn read(&mut self, zones: Option<&[String]>) -> Result<HashMap<String, Entry>, String> {
        let rows = self.0.zone_serials(zones).map_err(|e| e.to_string())?;
        Ok(rows.into_iter().map(|(zone, s)| (zone, entry(s))).collect())
    }

    fn claim(&mut self, claims: &[Claim]) -> Result<Vec<Outcome>, String> {
        let claims: Vec<SerialClaim> = claims
            .iter()
            .map(|c| SerialClaim {
                zone: c.zone.clone(),
                expected: c.expected.map(stored),
                new: stored(c.new),
            })
            .collect();
        let claimed = self
            .0
            .claim_zone_serials(&claims)
            .map_err(|e| e.to_string())?;
        Ok(claimed
            .into_iter()
            .map(|c| match c {
                Claimed::Won => Outcome::Won,
                Claimed::Lost(row) => Outcome::Lost(row.map(entry)),
            })
            .collect())
    }
}

impl Inner {
    /// Stamps the serials of `next` (of the zone at `only` alone when
    /// given) and publishes it; sends NOTIFY for the zones whose serial
    /// moved.
    ///
    /// The serials are agreed through the store (`xfr::serial`) before the
    /// snapshot is published, under the service lock: a node publishes a
    /// serial only once it is the store's, or the store is unreachable.
    pub(super) fn store_published(&mut self, next: Published, only: Option<&DName>) {
        let health = next.health.clone();
        let Stamped {
            snapshot, changed, ..
        } = self.serials.stamp_only(
            &next.snapshot,
            only,
            &|id| health.is_healthy(id),
            unix_now(),
            &mut Shared(&mut self.store),
        );
        // One journal for the process: a reload builds `next` afresh.
        let journal = self.live.published.load().journal.clone();
        let published = Arc::new(Published {
            snapshot,
            journal,
            ..next
        });
        if only.is_none() {
            // A whole publication (a start, a reload): zones it no longer
            // serves, or that nobody may transfer any more, leave the
            // journal.
            let (snapshot, transfers) = (&published.snapshot, &published.transfers);
            published.journal.retain(|key| {
                snapshot
                    .zone_at_key(key)
                    .is_some_and(|z| !transfers.of(&z.apex).allow.is_empty())
            });
        }
        self.record_versions(&published, changed.iter().map(|c| &c.apex));
        self.live.published.store(published.clone());
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

    /// Publishes and notifies only when a zone's serial moved or had
    /// to be written.
    fn restamp_with(&mut self, health_only: bool) {
        let current = self.live.published.load_full();
        let health = current.health.clone();
        let healthy = |id| health.is_healthy(id);
        let stamped = if health_only {
            self.serials.stamp_health(
                &current.snapshot,
                &healthy,
                unix_now(),
                &mut Shared(&mut self.store),
            )
        } else {
            self.serials.stamp(
                &current.snapshot,
                &healthy,
                unix_now(),
                &mut Shared(&mut self.store),
            )
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
