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

/// The serial of generated SOA records: the time, so it grows with every
/// change (RFC 1982 arithmetic wraps in 2106).
pub fn soa_serial() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() as u32)
}

/// Builds what the responder reads from a validated config.
pub fn publish(config: &Config) -> Published {
    publish_parts(&config.zones, &config.health_checks)
}

/// Builds what the responder reads from zones and health checks; a check's
/// health-table slot is its position in `checks` (as `Checker::start`
/// numbers them).
pub fn publish_parts(zones: &[ZoneSpec], checks: &[HealthCheckSpec]) -> Published {
    let ids: HashMap<&str, HealthId> = checks
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i as HealthId))
        .collect();
    // A new check starts healthy; inverted or disabled+inverted ones
    // unhealthy (SPEC §4). The checker takes over from there.
    let health = HealthTable::new(checks.iter().map(|c| !c.invert));
    publish_with(zones, &|id| ids.get(id).copied(), Arc::new(health))
}

/// Builds what the responder reads from zones, each record's check found
/// in its slot by `slot`, and the checker's table.
pub fn publish_with(
    zones: &[ZoneSpec],
    slot: &dyn Fn(&str) -> Option<HealthId>,
    health: Arc<HealthTable>,
) -> Published {
    Published {
        snapshot: Snapshot::build(zones, slot, soa_serial()),
        health,
    }
}
