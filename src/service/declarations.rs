//! The config file and the stored objects taken together: the one
//! validator run at start and at every reload, and the merged specs.

use std::collections::HashMap;
use std::str::FromStr;

use super::error::field_problem;
use super::key_text;
use crate::config::Config;
use crate::model::{CheckKind, DName, HealthCheckSpec, ZoneSpec};
use crate::nameservers::NameServers;
use crate::store::{StoredCheck, StoredZone};

/// The config as the service keeps it, its zones' warnings logged
/// ([`crate::lint`], as served with `nameservers`).
pub(super) fn prepared(mut file: Config, nameservers: &NameServers) -> Config {
    for warning in crate::lint::served(&file.zones, nameservers) {
        tracing::warn!("{warning}");
    }
    // Zones built as their files were read were linted then; their
    // warnings are logged in the config's order.
    for zone in &file.zones {
        let key = crate::snapshot::name_key(&zone.name);
        if let Some(built) = file.zone_sources.built.get_mut(&key) {
            for warning in std::mem::take(&mut built.warnings) {
                tracing::warn!("{warning}");
            }
        }
    }
    file
}

/// Every check id, with whether it is calculated.
pub(super) fn kinds_of(file: &Config, checks: &[StoredCheck]) -> HashMap<String, bool> {
    file.health_checks
        .iter()
        .map(|c| (c.id.clone(), matches!(c.kind, CheckKind::Calculated { .. })))
        .chain(
            checks
                .iter()
                .map(|c| (c.input.id.clone(), c.input.kind == "calculated")),
        )
        .collect()
}

/// Everything wrong with the config file and the stored objects taken
/// together: the one check run at start, at every reload, and (through
/// the per-change rules it shares) on every API change. Empty when all is
/// well; nothing is ever skipped with only a warning.
pub(super) fn declared_problems(
    file: &Config,
    zones: &[StoredZone],
    checks: &[StoredCheck],
) -> Vec<String> {
    let mut problems = Vec::new();
    for z in &file.zones {
        let key = key_text(&z.name);
        if zones.iter().any(|s| s.name == key) {
            problems.push(format!(
                "zone {key} is in the config file and was created through the API; a zone has one owner: remove it from the config file, or delete it through the API first"
            ));
        }
    }
    for c in &file.health_checks {
        if checks.iter().any(|s| s.input.id == c.id) {
            problems.push(format!(
                "health check {:?} is in the config file and was created through the API; a check has one owner: rename or remove one of them",
                c.id
            ));
        }
    }
    let kinds = kinds_of(file, checks);
    for c in checks {
        if let Err(errors) = c.input.to_spec(&|id| kinds.get(id).copied()) {
            for e in errors {
                problems.push(format!(
                    "stored {}",
                    field_problem(&format!("health check {:?}", c.input.id), &e)
                ));
            }
        }
    }
    for z in zones {
        let Ok(apex) = DName::from_str(&z.name) else {
            problems.push(format!("stored zone {:?} has an unreadable name", z.name));
            continue;
        };
        for r in &z.records {
            if let Err(errors) = r.to_spec(&apex, &|id| kinds.contains_key(id)) {
                // The record's own messages start with its label already.
                let set = r
                    .set
                    .as_deref()
                    .map_or(String::new(), |s| format!(" (set {s:?})"));
                for e in errors {
                    problems.push(format!(
                        "zone {} (API){set}: {}; declare what it needs again, or change the record through the API",
                        z.name, e.message
                    ));
                }
            }
        }
    }
    problems
}

/// File checks, then the stored ones that still validate; a check's
/// health-table index is its position here.
pub(super) fn merged_checks(file: &Config, checks: &[StoredCheck]) -> Vec<HealthCheckSpec> {
    let kinds = kinds_of(file, checks);
    let mut specs = file.health_checks.clone();
    for c in checks {
        match c.input.to_spec(&|id| kinds.get(id).copied()) {
            Ok(spec) => specs.push(spec),
            Err(e) => tracing::warn!(check = %c.input.id, "stored health check skipped: {e:?}"),
        }
    }
    specs
}

/// The spec of a stored zone: the records that still validate.
pub(super) fn api_zone_spec(z: &StoredZone, kinds: &HashMap<String, bool>) -> Option<ZoneSpec> {
    let apex = DName::from_str(&z.name).ok()?;
    let records = z
        .records
        .iter()
        .filter_map(|r| match r.to_spec(&apex, &|id| kinds.contains_key(id)) {
            Ok(spec) => Some(spec),
            Err(e) => {
                tracing::warn!(zone = %z.name, record = %r.label(), "stored record skipped: {e:?}");
                None
            }
        })
        .collect();
    Some(ZoneSpec {
        name: apex,
        records,
    })
}

/// Specs of every stored zone, by zone key.
pub(super) fn api_zone_specs(
    file: &Config,
    zones: &[StoredZone],
    checks: &[StoredCheck],
) -> HashMap<String, ZoneSpec> {
    let kinds = kinds_of(file, checks);
    zones
        .iter()
        .filter_map(|z| Some((z.name.clone(), api_zone_spec(z, &kinds)?)))
        .collect()
}
