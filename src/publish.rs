//! Builds what the responder reads ([`Published`]: the snapshot and the
//! health table) from validated zones and checks. The service publishes
//! through it; tests, fuzz targets and benchmarks build answers with it.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::Config;
use crate::dns::handler::Published;
use crate::health::HealthTable;
use crate::model::{HealthCheckSpec, ZoneSpec};
use crate::snapshot::{HealthId, Snapshot};
use crate::tsig::KeyRing;

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
    with_access(publish_parts(&config.zones, &config.health_checks), config)
}

/// `published` with the TSIG keys and transfer settings of `config`.
pub fn with_access(mut published: Published, config: &Config) -> Published {
    published.keys = KeyRing::new(&config.tsig_keys);
    published.transfers = Arc::new(config.transfers.clone());
    published.nsid = config.nsid.as_deref().map(Arc::from);
    published
}

/// Builds what the responder reads from zones and health checks; a check's
/// health-table index is its position in `checks`.
pub fn publish_parts(zones: &[ZoneSpec], checks: &[HealthCheckSpec]) -> Published {
    let ids: HashMap<&str, HealthId> = checks
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i as HealthId))
        .collect();
    // A new check starts healthy; inverted or disabled+inverted ones
    // unhealthy (SPEC §4). The checker takes over from there.
    let health = HealthTable::new(checks.iter().map(|c| !c.invert));
    let serial = soa_serial();
    Published {
        snapshot: Snapshot::build(zones, &|id| ids.get(id).copied(), serial),
        health: Arc::new(health),
        keys: KeyRing::default(),
        transfers: Arc::default(),
        nsid: None,
    }
}
