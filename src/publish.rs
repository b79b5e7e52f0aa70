//! Builds what the responder reads ([`Published`]: the snapshot and the
//! health table) from validated zones and checks. The service publishes
//! through it; tests, fuzz targets and benchmarks build answers with it.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::Config;
use crate::dns::cookie::CookieSecret;
use crate::dns::handler::Published;
use crate::health::HealthTable;
use crate::model::{HealthCheckSpec, ZoneSpec};
use crate::nameservers::NameServers;
use crate::snapshot::{HealthId, Snapshot};
use crate::tsig::{KeyRing, TsigKey};

/// The serial a snapshot's generated SOA records are built with: the
/// time. The service then gives every zone its serial by the rule of
/// `xfr::serial` (docs/dns.md#soa-serials); tools and tests that publish
/// without the service keep this one.
pub fn soa_serial() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() as u32)
}

/// Builds what the responder reads from a validated config.
pub fn publish(config: &Config) -> Published {
    with_access(
        publish_parts(
            &config.zones,
            &config.health_checks,
            &NameServers::or_default(&config.nameservers, &config.dns),
        ),
        config,
        [],
    )
}

/// `published` with the TSIG keys (the config file's, then `api_keys`)
/// and transfer settings of `config`.
pub fn with_access<'a>(
    mut published: Published,
    config: &Config,
    api_keys: impl IntoIterator<Item = &'a TsigKey>,
) -> Published {
    let mut keys = config.tsig_keys.clone();
    keys.extend(api_keys.into_iter().cloned());
    published.keys = KeyRing::new(&keys);
    published.transfers = Arc::new(config.transfers.clone());
    published.cookie_secret = CookieSecret::or_random(config.cookie_secret);
    published.nsid = config.nsid().map(Arc::from);
    published.geo = config.geoip.clone();
    published
}

/// Builds what the responder reads from zones and health checks; a check's
/// health-table slot is its position in `checks` (as `Checker::start`
/// numbers them).
///
/// Takes the zones by reference: at a million records a copy of the specs
/// costs hundreds of MiB at its peak and a third of the start-up time in
/// the allocator.
pub fn publish_parts<'a>(
    zones: impl IntoIterator<Item = &'a ZoneSpec>,
    checks: &[HealthCheckSpec],
    nameservers: &NameServers,
) -> Published {
    let ids: HashMap<&str, HealthId> = checks
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i as HealthId))
        .collect();
    // A new check starts healthy; inverted or disabled+inverted ones
    // unhealthy (SPEC §4). The checker takes over from there.
    let health = HealthTable::new(checks.iter().map(|c| !c.invert));
    publish_with(
        zones,
        &|id| ids.get(id).copied(),
        Arc::new(health),
        nameservers,
    )
}

/// Builds what the responder reads from zones, each record's check found
/// in its slot by `slot`, and the checker's table; zones without an NS
/// get `nameservers`.
pub fn publish_with<'a>(
    zones: impl IntoIterator<Item = &'a ZoneSpec>,
    slot: &dyn Fn(&str) -> Option<HealthId>,
    health: Arc<HealthTable>,
    nameservers: &NameServers,
) -> Published {
    published(
        Snapshot::build_with(zones, slot, soa_serial(), nameservers),
        health,
    )
}

/// What the responder reads: `snapshot` over the checker's table.
pub fn published(snapshot: Snapshot, health: Arc<HealthTable>) -> Published {
    Published {
        snapshot,
        health,
        keys: KeyRing::default(),
        transfers: Arc::default(),
        journal: Arc::default(),
        cookie_secret: CookieSecret::or_random(None),
        nsid: None,
        geo: None,
    }
}
