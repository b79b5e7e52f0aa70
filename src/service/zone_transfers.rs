//! An API zone's own transfer settings (`/v1/zones/{zone}/transfers`):
//! who may transfer it and whom it notifies, as a `[[zone]]` of the config
//! file says for a file zone. Kept with the zone in the store, so every
//! node of a cluster serves them; their TSIG keys may be the config
//! file's or keys made through the API (the key ring is one namespace).

use domain::base::ToName;
use std::str::FromStr;

use super::{Inner, Service, ServiceError};
use crate::config::parse_absolute;
use crate::input::TransfersInput;
use crate::model::DName;
use crate::store::StoredZone;
use crate::xfr::{Settings, Transfers};

/// Where the settings a zone is served with come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransfersSource {
    /// Its own, set through the API.
    Api,
    /// Its own `[[zone]]` in the config file.
    Config,
    /// `[server]`'s, for zones without their own.
    Server,
}

/// The transfer settings a zone is served with, and where they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneTransfers {
    /// The zone, absolute.
    pub zone: DName,
    /// The settings.
    pub settings: Transfers,
    /// Where they come from.
    pub source: TransfersSource,
}

/// An API zone's stored settings as served. Stored settings were checked
/// when set; should they no longer read (a store written by a later
/// version), nobody may transfer the zone rather than everyone whom the
/// server's settings allow.
fn served(zone: &StoredZone) -> Option<(DName, Transfers)> {
    let input = zone.transfers.as_ref()?;
    let apex = DName::from_str(&zone.name).ok()?;
    let settings = input.check(|_| true).unwrap_or_else(|problems| {
        tracing::error!(zone = %zone.name, "stored transfer settings do not read, nobody may transfer the zone: {}", problems.join("; "));
        Transfers::default()
    });
    Some((apex, settings))
}

impl Inner {
    /// Every zone's transfer settings: the config file's, and each API
    /// zone's own.
    pub(super) fn transfer_settings(&self) -> Settings {
        let mut settings = self.file.transfers.clone();
        settings.zones.extend(self.zones.iter().filter_map(served));
        settings
    }

    /// Whether the published settings of API zone `key` differ from its
    /// stored ones (set, changed, cleared, or the zone deleted).
    pub(super) fn transfers_moved(&self, published: &Settings, key: &str) -> bool {
        let Ok(apex) = DName::from_str(key) else {
            return false;
        };
        let stored = self
            .zones
            .iter()
            .find(|z| z.name == key)
            .and_then(served)
            .map(|(_, t)| t);
        let held = published.zones.get(&apex);
        stored.as_ref() != held
    }

    /// The API zones whose settings name TSIG key `name`.
    pub(super) fn zones_naming_key(&self, name: &DName) -> Vec<String> {
        let names = |t: &TransfersInput| {
            let keys = t.allow_transfer.iter().filter_map(|r| r.key.as_deref());
            let mut keys = keys.chain(t.notify_key.as_deref());
            keys.any(|k| parse_absolute(k).is_ok_and(|k| k.name_eq(name)))
        };
        self.zones
            .iter()
            .filter(|z| z.transfers.as_ref().is_some_and(names))
            .map(|z| z.display_name.clone())
            .collect()
    }
}

impl Service {
    /// The transfer settings zone `name_or_id` is served with.
    pub fn zone_transfers(&self, name_or_id: &str) -> Result<ZoneTransfers, ServiceError> {
        let inner = self.lock();
        let published = inner.live.published.load();
        let (zone, own) = if let Some(z) = inner.find_file_zone(name_or_id) {
            (z.name.clone(), TransfersSource::Config)
        } else {
            let z = inner
                .find_zone(name_or_id)
                .ok_or_else(|| ServiceError::no_zone(name_or_id))?;
            let apex = DName::from_str(&z.name).map_err(|_| ServiceError::no_zone(name_or_id))?;
            (apex, TransfersSource::Api)
        };
        let source = if published
            .transfers
            .zones
            .iter()
            .any(|(name, _)| name.name_eq(&zone))
        {
            own
        } else {
            TransfersSource::Server
        };
        Ok(ZoneTransfers {
            settings: published.transfers.of(&zone).clone(),
            zone,
            source,
        })
    }

    /// Sets API zone `name_or_id`'s own transfer settings, or (`None`)
    /// hands it back to `[server]`'s; durable and served when it returns.
    /// No NOTIFY is sent: the zone's serial has not moved (a config
    /// reload that changes only `notify` sends none either).
    pub fn set_zone_transfers(
        &self,
        name_or_id: &str,
        input: Option<TransfersInput>,
    ) -> Result<ZoneTransfers, ServiceError> {
        self.catch_up()?;
        let mut inner = self.lock();
        inner.refuse_file_zone(name_or_id)?;
        let key = inner
            .find_zone(name_or_id)
            .ok_or_else(|| ServiceError::no_zone(name_or_id))?
            .name
            .clone();
        if let Some(input) = &input {
            let ring = inner.all_keys();
            input
                .check(|name| ring.iter().any(|k| k.name.name_eq(name)))
                .map_err(|problems| {
                    let problems = problems
                        .into_iter()
                        .map(|p| format!("zone {key}: {p}"))
                        .collect();
                    ServiceError::invalid("InvalidInput", problems)
                })?;
        }
        let version = self
            .store_on_top(&mut inner)
            .set_zone_transfers(&key, input.as_ref())?;
        if let Some(z) = inner.zones.iter_mut().find(|z| z.name == key) {
            z.transfers = input;
        }
        self.publish_zone(&mut inner, &key);
        self.wrote(version);
        let published = inner.live.published.load();
        if let Ok(apex) = DName::from_str(&key)
            && published.transfers.of(&apex).allow.is_empty()
        {
            // Nobody may take it now: its versions would only take memory.
            published.journal.forget(&apex);
        }
        tracing::info!(zone = %key, "transfer settings of zone {key} set");
        drop(inner);
        self.zone_transfers(&key)
    }
}
