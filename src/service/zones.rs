//! Zones and change batches: create, delete, list, apply.

use std::str::FromStr;
use std::time::SystemTime;

use super::error::{ServiceError, field_problem};
use super::ids::{file_zone_id, new_zone_id};
use super::route53::TagResource;
use super::route53::new_change;
use super::views::{ChangeInfo, ManagedBy, ZoneInfo, api_zone_info};
use super::{Inner, MAX_CHANGES_PER_BATCH, Service, key_text};
use crate::config::parse_absolute;
use crate::input::RecordInput;
use crate::model::{DName, RecordSpec, ZoneSpec};
use crate::store::{RecordWrite, StoredZone};

/// What a change does (Route 53's actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Add a record; fails if it exists.
    Create,
    /// Remove a record; fails unless it exists exactly as given.
    Delete,
    /// Add or replace a record.
    Upsert,
}

impl Action {
    pub(super) fn verb(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Delete => "delete",
            Action::Upsert => "upsert",
        }
    }
}

/// One change of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// What to do.
    pub action: Action,
    /// The record, in the TOML file's schema.
    pub record: RecordInput,
}

/// A change batch: applied whole or not at all.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeBatch {
    /// The changes, applied in order.
    pub changes: Vec<Change>,
    /// Free text, kept in the change info.
    pub comment: Option<String>,
}

impl Service {
    /// Every zone, file-managed first, then by name.
    pub fn zones(&self) -> Vec<ZoneInfo> {
        let inner = self.lock();
        let mut out: Vec<ZoneInfo> = inner
            .file
            .zones
            .iter()
            .map(|z| inner.file_zone_info(z))
            .collect();
        out.extend(inner.zones.iter().map(api_zone_info));
        out
    }

    /// One zone by name (with or without the trailing dot) or id.
    pub fn zone(&self, name_or_id: &str) -> Result<ZoneInfo, ServiceError> {
        let inner = self.lock();
        if let Some(z) = inner.find_file_zone(name_or_id) {
            return Ok(inner.file_zone_info(z));
        }
        inner
            .find_zone(name_or_id)
            .map(api_zone_info)
            .ok_or_else(|| ServiceError::no_zone(name_or_id))
    }

    /// Creates an empty zone.
    pub fn create_zone(
        &self,
        name: &str,
        comment: Option<String>,
        caller_reference: Option<String>,
    ) -> Result<ZoneInfo, ServiceError> {
        Ok(self.create_zone_changed(name, comment, caller_reference)?.0)
    }

    /// [`Service::create_zone`], with the change recorded in the same
    /// transaction for Route 53's GetChange (`None` when the same
    /// CallerReference found the zone made already: nothing written).
    pub fn create_zone_changed(
        &self,
        name: &str,
        comment: Option<String>,
        caller_reference: Option<String>,
    ) -> Result<(ZoneInfo, Option<ChangeInfo>), ServiceError> {
        let apex = parse_absolute(name).map_err(|m| {
            ServiceError::invalid("InvalidDomainName", vec![format!("name {name:?}: {m}")])
        })?;
        let key = key_text(&apex);
        self.catch_up()?;
        let mut inner = self.lock();
        // A new zone is empty, so it takes the name servers: one inside it
        // given no addresses would be an NS that does not resolve.
        let empty = ZoneSpec {
            name: apex.clone(),
            records: Vec::new(),
        };
        if let Some(ns) = inner.nameservers.unaddressed(&empty) {
            return Err(ServiceError::invalid(
                "InvalidInput",
                vec![format!(
                    "zone {apex} would take name server {ns}, which lies inside it and has no address there; give it addresses in the config's [server] nameservers, such as {{ name = \"{ns}.\", addresses = [\"192.0.2.53\"] }}, or name a server outside the zone"
                )],
            ));
        }
        if inner.find_file_zone(&key).is_some() {
            return Err(ServiceError::Conflict {
                code: "ConflictingDomainExists",
                message: format!(
                    "zone {key} is managed by the config file {}",
                    inner.file_name()
                ),
            });
        }
        if let Some(existing) = inner.find_zone(&key) {
            // Route 53: the same CallerReference means "the same request".
            if caller_reference.is_some() && existing.caller_reference == caller_reference {
                return Ok((api_zone_info(existing), None));
            }
            return Err(ServiceError::Conflict {
                code: "HostedZoneAlreadyExists",
                message: format!("zone {key} already exists"),
            });
        }
        let zone = StoredZone {
            name: key.clone(),
            display_name: format!("{apex}."),
            id: new_zone_id(),
            comment: comment.unwrap_or_default(),
            caller_reference,
            created_at: SystemTime::now(),
            records: Vec::new(),
            transfers: None,
        };
        let change = new_change(None);
        let store = self.store_on_top_recording(&mut inner, &change);
        let version = store.create_zone(&zone)?;
        let info = api_zone_info(&zone);
        inner.api_specs.insert(
            zone.name.clone(),
            ZoneSpec {
                name: apex,
                records: Vec::new(),
            },
        );
        let key = zone.name.clone();
        inner.zones.push(zone);
        self.publish_zone(&mut inner, &key);
        // Served once published: a heartbeat in between would claim it
        // before DNS answers it.
        self.wrote(version);
        Ok((info, Some(self.change_info(change, version))))
    }

    /// Deletes an API-managed zone; it must hold no records (Route 53).
    pub fn delete_zone(&self, name_or_id: &str) -> Result<ZoneInfo, ServiceError> {
        Ok(self.delete_zone_changed(name_or_id)?.0)
    }

    /// [`Service::delete_zone`], with the change recorded in the same
    /// transaction for Route 53's GetChange.
    pub fn delete_zone_changed(
        &self,
        name_or_id: &str,
    ) -> Result<(ZoneInfo, ChangeInfo), ServiceError> {
        self.catch_up()?;
        let mut inner = self.lock();
        inner.refuse_file_zone(name_or_id)?;
        let zone = inner
            .find_zone(name_or_id)
            .ok_or_else(|| ServiceError::no_zone(name_or_id))?
            .clone();
        if !zone.records.is_empty() {
            return Err(ServiceError::Conflict {
                code: "HostedZoneNotEmpty",
                message: format!(
                    "zone {} still has {} records; delete them first",
                    zone.name,
                    zone.records.len()
                ),
            });
        }
        let change = new_change(None);
        let store = self.store_on_top_recording(&mut inner, &change);
        let version = store.delete_zone(&zone.name)?;
        inner.zones.retain(|z| z.name != zone.name);
        inner.api_specs.remove(&zone.name);
        self.publish_zone(&mut inner, &zone.name);
        self.wrote(version);
        inner.forget_route53_extras(TagResource::HostedZone, &zone.id);
        Ok((api_zone_info(&zone), self.change_info(change, version)))
    }

    /// Every record of a zone, in the TOML file's schema.
    pub fn records(&self, name_or_id: &str) -> Result<Vec<RecordInput>, ServiceError> {
        let inner = self.lock();
        if let Some(z) = inner.find_file_zone(name_or_id) {
            return Ok(inner
                .file_records(z)
                .iter()
                .map(|r| RecordInput::from_spec(r, &z.name))
                .collect());
        }
        inner
            .find_zone(name_or_id)
            .map(|z| z.records.clone())
            .ok_or_else(|| ServiceError::no_zone(name_or_id))
    }

    /// Applies a change batch to an API-managed zone: all or nothing,
    /// durable before it returns, live in DNS when it returns.
    pub fn apply(&self, name_or_id: &str, batch: ChangeBatch) -> Result<ChangeInfo, ServiceError> {
        self.catch_up()?;
        let mut inner = self.lock();
        self.apply_locked(&mut inner, name_or_id, batch)
    }

    /// Plans a change batch from an API-managed zone's records and applies
    /// it under one hold of the lock, so nothing changes the zone between
    /// the look and the write (dynamic update's prerequisites). `plan`
    /// gets the zone's records; `Ok(None)` from it changes nothing.
    pub fn apply_planned<E>(
        &self,
        name_or_id: &str,
        plan: impl FnOnce(&[RecordInput]) -> Result<Option<ChangeBatch>, E>,
    ) -> Result<Result<Option<ChangeInfo>, E>, ServiceError> {
        // As `apply`: the prerequisites are judged on what the store holds.
        self.catch_up()?;
        let mut inner = self.lock();
        inner.refuse_file_zone(name_or_id)?;
        let zone = inner
            .find_zone(name_or_id)
            .ok_or_else(|| ServiceError::no_zone(name_or_id))?;
        match plan(&zone.records) {
            Ok(Some(batch)) => self
                .apply_locked(&mut inner, name_or_id, batch)
                .map(|info| Ok(Some(info))),
            Ok(None) => Ok(Ok(None)),
            Err(e) => Ok(Err(e)),
        }
    }

    /// The name servers that zones without an apex NS get, for dynamic
    /// update to see a zone's generated records as it serves them.
    pub fn nameservers(&self) -> crate::nameservers::NameServers {
        self.lock().nameservers.clone()
    }

    /// The dynamic update rules of the key named `key` (the config
    /// file's or the API's).
    pub fn update_rules(&self, key: &impl domain::base::ToName) -> Vec<crate::update::UpdateRule> {
        let inner = self.lock();
        inner
            .all_keys()
            .iter()
            .find(|k| domain::base::ToName::name_eq(&k.name, key))
            .map(|k| k.update.clone())
            .unwrap_or_default()
    }

    fn apply_locked(
        &self,
        inner: &mut std::sync::MutexGuard<'_, Inner>,
        name_or_id: &str,
        batch: ChangeBatch,
    ) -> Result<ChangeInfo, ServiceError> {
        inner.refuse_file_zone(name_or_id)?;
        let zone = inner
            .find_zone(name_or_id)
            .ok_or_else(|| ServiceError::no_zone(name_or_id))?
            .clone();
        let apex = DName::from_str(&zone.name).expect("stored zone names parse");
        if batch.changes.is_empty() {
            return Err(ServiceError::invalid(
                "InvalidChangeBatch",
                vec!["the batch has no changes".into()],
            ));
        }
        if batch.changes.len() > MAX_CHANGES_PER_BATCH {
            return Err(ServiceError::invalid(
                "InvalidChangeBatch",
                vec![format!(
                    "the batch has {} changes; at most {MAX_CHANGES_PER_BATCH} are allowed",
                    batch.changes.len()
                )],
            ));
        }
        let known = inner.check_kinds();
        let check_exists = |id: &str| known.contains_key(id);
        // The zone as it would be, by record key: every record's spec is
        // computed once, whatever the size of the batch.
        let mut working: std::collections::BTreeMap<RecordKey, (RecordInput, RecordSpec)> = zone
            .records
            .iter()
            .filter_map(|r| {
                let spec = r.to_spec(&apex, &|_| true).ok()?;
                Some((record_key(&spec), (r.clone(), spec)))
            })
            .collect();
        let mut writes = Vec::new();
        let mut problems = Vec::new();
        for (i, change) in batch.changes.iter().enumerate() {
            let at = format!(
                "change {} ({} {})",
                i + 1,
                change.action.verb(),
                change.record.label()
            );
            let spec = match change.record.to_spec(&apex, &check_exists) {
                Ok(spec) => spec,
                Err(errors) => {
                    problems.extend(errors.iter().map(|e| field_problem(&at, e)));
                    continue;
                }
            };
            let key = record_key(&spec);
            let described = describe(&key);
            match (change.action, working.get(&key)) {
                (Action::Create, Some(_)) => problems.push(format!(
                    "{at}: Tried to create resource record set {described} but it already exists"
                )),
                (Action::Delete, None) => problems.push(format!(
                    "{at}: Tried to delete resource record set {described} but it was not found"
                )),
                (Action::Delete, Some((_, current))) => {
                    if same_record(current, &spec) {
                        working.remove(&key);
                        writes.push(RecordWrite::Delete { key });
                    } else {
                        problems.push(format!(
                            "{at}: Tried to delete resource record set {described} but the values provided do not match the current values"
                        ));
                    }
                }
                (Action::Create | Action::Upsert, _) => {
                    writes.push(RecordWrite::Put {
                        key: key.clone(),
                        record: Box::new(change.record.clone()),
                    });
                    working.insert(key, (change.record.clone(), spec));
                }
            }
        }
        let (records, specs): (Vec<RecordInput>, Vec<RecordSpec>) = working.into_values().unzip();
        let candidate = ZoneSpec {
            name: apex.clone(),
            records: specs,
        };
        if problems.is_empty() {
            // The group rules over the zone as it would be.
            problems.extend(
                crate::validate::zone(&candidate)
                    .into_iter()
                    .map(|p| p.message),
            );
        }
        if !problems.is_empty() {
            return Err(ServiceError::invalid("InvalidChangeBatch", problems));
        }
        let change = new_change(batch.comment);
        let version = self
            .store_on_top_recording(inner, &change)
            .write_records(&zone.name, &writes)?;
        if let Some(z) = inner.zones.iter_mut().find(|z| z.name == zone.name) {
            z.records = records;
        }
        inner.api_specs.insert(zone.name.clone(), candidate);
        self.publish_zone(inner, &zone.name);
        self.wrote(version);
        Ok(self.change_info(change, version))
    }
}

/// The identity of a record in its zone: owner, type, set identifier.
pub(super) type RecordKey = (String, String, String);

/// The key of `spec` (lower-cased owner, type, set or "").
pub(super) fn record_key(spec: &RecordSpec) -> RecordKey {
    (
        key_text(&spec.owner),
        spec.rtype.to_string(),
        spec.set.clone().unwrap_or_default(),
    )
}

pub(super) fn describe(key: &(String, String, String)) -> String {
    if key.2.is_empty() {
        format!("[name='{}', type='{}']", key.0, key.1)
    } else {
        format!(
            "[name='{}', type='{}', set_identifier='{}']",
            key.0, key.1, key.2
        )
    }
}

/// Same record data and routing (Route 53's DELETE must match exactly).
pub(super) fn same_record(a: &RecordSpec, b: &RecordSpec) -> bool {
    a.ttl == b.ttl
        && a.policy == b.policy
        && a.values == b.values
        && a.health_check == b.health_check
        && a.failover == b.failover
        && a.weight == b.weight
        && a.alias
            .as_ref()
            .map(|x| (key_text(&x.target), x.evaluate_target_health))
            == b.alias
                .as_ref()
                .map(|x| (key_text(&x.target), x.evaluate_target_health))
}

impl Inner {
    /// The config file as messages name it: its file name only, since
    /// an absolute path tells an API client about this machine's layout
    /// and helps nobody fix the request.
    pub(super) fn file_name(&self) -> String {
        self.file_path
            .as_ref()
            .and_then(|p| p.file_name())
            .map_or_else(|| "(none)".into(), |n| n.to_string_lossy().into_owned())
    }

    pub(super) fn find_file_zone(&self, name_or_id: &str) -> Option<&ZoneSpec> {
        let wanted = parse_absolute(name_or_id).ok().map(|n| key_text(&n));
        self.file.zones.iter().find(|z| {
            let key = key_text(&z.name);
            Some(&key) == wanted.as_ref() || file_zone_id(&key) == name_or_id
        })
    }

    pub(super) fn find_zone(&self, name_or_id: &str) -> Option<&StoredZone> {
        let wanted = parse_absolute(name_or_id).ok().map(|n| key_text(&n));
        self.zones
            .iter()
            .find(|z| Some(&z.name) == wanted.as_ref() || z.id == name_or_id)
    }

    pub(super) fn file_zone_info(&self, z: &ZoneSpec) -> ZoneInfo {
        let key = key_text(&z.name);
        ZoneInfo {
            name: format!("{}.", z.name),
            id: file_zone_id(&key),
            managed_by: if self.secondary_of(&z.name).is_some() {
                ManagedBy::Secondary
            } else {
                ManagedBy::File
            },
            file: Some(self.file_name()),
            record_count: self
                .file_counts
                .get(&crate::snapshot::name_key(&z.name))
                .copied()
                .unwrap_or(z.records.len()),
            comment: String::new(),
            caller_reference: None,
        }
    }

    pub(super) fn refuse_file_zone(&self, name_or_id: &str) -> Result<(), ServiceError> {
        let zone = self.find_file_zone(name_or_id);
        if let Some(s) = zone.and_then(|z| self.secondary_of(&z.name)) {
            let primaries: Vec<String> = s.primaries.iter().map(ToString::to_string).collect();
            return Err(ServiceError::Conflict {
                code: "SecondaryZone",
                message: format!(
                    "zone {}. is a secondary zone, transferred from {} (config file {}); change it on its primary",
                    s.zone,
                    primaries.join(", "),
                    self.file_name()
                ),
            });
        }
        match zone {
            Some(z) => Err(ServiceError::Conflict {
                code: "FileManaged",
                message: format!(
                    "zone {}. is managed by the config file {}; change it there and send SIGHUP",
                    z.name,
                    self.file_name()
                ),
            }),
            None => Ok(()),
        }
    }
}
