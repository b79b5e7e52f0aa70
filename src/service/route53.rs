//! What only the Route 53 API keeps: settings eightfold's schema has no
//! field for, health-check configs as sent, tags, and the ids of applied
//! changes (for GetChange).

use super::error::ServiceError;
use super::ids::new_change_id;
use super::views::ChangeInfo;
use super::{Inner, Service};
use crate::store::NewChange;
use std::collections::HashMap;
use std::time::SystemTime;

impl Service {
    /// Route 53's EnableSNI by check id, for the checks whose current
    /// version it was set for (`None`: the request did not send it).
    pub fn route53_enable_sni(&self) -> Result<HashMap<String, Option<bool>>, ServiceError> {
        let inner = self.lock();
        let versions: HashMap<&str, i64> = inner
            .checks
            .iter()
            .map(|c| (c.input.id.as_str(), c.version))
            .collect();
        Ok(inner
            .store
            .route53_check_settings()?
            .into_iter()
            .filter(|(id, version, _)| versions.get(id.as_str()) == Some(version))
            .map(|(id, _, sni)| (id, sni))
            .collect())
    }

    /// Keeps Route 53's EnableSNI for version `version` of check `id`;
    /// `None` for `version` forgets the check's Route 53 settings.
    pub fn set_route53_enable_sni(
        &self,
        id: &str,
        version: Option<i64>,
        enable_sni: Option<bool>,
    ) -> Result<(), ServiceError> {
        self.catch_up()?;
        let mut inner = self.lock();
        let written = self
            .store_on_top(&mut inner)
            .put_route53_check_settings(id, version.map(|v| (v, enable_sni)))?;
        self.wrote(written);
        Ok(())
    }

    /// Route 53 HealthCheckConfigs as sent (JSON), by check id, for the
    /// checks whose current version they were sent for: an update through
    /// another API makes a check fall back to what eightfold's schema says.
    pub fn route53_check_configs(&self) -> Result<HashMap<String, String>, ServiceError> {
        let inner = self.lock();
        let versions: HashMap<&str, i64> = inner
            .checks
            .iter()
            .map(|c| (c.input.id.as_str(), c.version))
            .collect();
        Ok(inner
            .store
            .route53_check_configs()?
            .into_iter()
            .filter(|(id, version, _)| versions.get(id.as_str()) == Some(version))
            .map(|(id, _, config)| (id, config))
            .collect())
    }

    /// Keeps the Route 53 HealthCheckConfig (JSON) sent for version
    /// `version` of check `id`.
    pub fn set_route53_check_config(
        &self,
        id: &str,
        version: i64,
        config: &str,
    ) -> Result<(), ServiceError> {
        self.lock()
            .store
            .put_route53_check_config(id, Some((version, config)))?;
        Ok(())
    }

    /// A new change recorded on its own, for a request that wrote
    /// nothing but is answered with a change (CreateHostedZone repeated
    /// with its CallerReference).
    pub fn route53_new_change(&self, comment: Option<String>) -> Result<ChangeInfo, ServiceError> {
        let change = new_change(comment);
        self.lock().store.put_route53_change(
            &change.id,
            change.submitted_at,
            change.comment.as_deref(),
        )?;
        Ok(self.change_info(change, self.served_version()))
    }

    /// What the API tells of `change`, which the write that made store
    /// version `version` recorded.
    pub(super) fn change_info(&self, change: NewChange, version: i64) -> ChangeInfo {
        ChangeInfo {
            id: change.id,
            status: self.change_status(version),
            submitted_at: change.submitted_at,
            comment: change.comment,
        }
    }
}

impl Service {
    /// A change by id: `INSYNC` once every live node serves it, `PENDING`
    /// until then.
    pub fn route53_change(&self, id: &str) -> Result<ChangeInfo, ServiceError> {
        let found = self.lock().store.route53_change(id)?;
        let (at, comment, version) = found.ok_or_else(|| ServiceError::NotFound {
            code: "NoSuchChange",
            message: format!("no change {id:?}"),
        })?;
        Ok(ChangeInfo {
            id: id.to_string(),
            status: self.change_status(version),
            submitted_at: at,
            comment,
        })
    }
}

/// What Route 53 tags: a hosted zone or a health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagResource {
    /// A hosted zone, by id.
    HostedZone,
    /// A health check, by id.
    HealthCheck,
}

impl TagResource {
    /// Route 53's name (TagResourceType).
    pub fn as_str(self) -> &'static str {
        match self {
            TagResource::HostedZone => "hostedzone",
            TagResource::HealthCheck => "healthcheck",
        }
    }
}

impl Inner {
    /// Forgets what the Route 53 API kept about a deleted zone or check.
    /// The object is gone already; a failure here is logged, and a new
    /// object with the same id starts by forgetting again.
    pub(super) fn forget_route53_extras(&mut self, resource: TagResource, id: &str) {
        let config = match resource {
            TagResource::HealthCheck => self.store.put_route53_check_config(id, None),
            TagResource::HostedZone => Ok(()),
        };
        let tags = self.store.put_route53_tags(resource.as_str(), id, &[]);
        if let Err(e) = config.and(tags) {
            tracing::warn!(resource = resource.as_str(), id, error = %e, "could not forget the Route 53 settings of a deleted object");
        }
    }
}

/// Most tags one resource holds (Route 53's limit).
pub const MAX_TAGS_PER_RESOURCE: usize = 50;
/// Most tags one request adds, and most keys it removes (Route 53's).
pub const MAX_TAG_CHANGES: usize = 10;
/// Longest tag key, in characters (Route 53's).
pub const MAX_TAG_KEY: usize = 128;
/// Longest tag value, in characters (Route 53's).
pub const MAX_TAG_VALUE: usize = 256;

impl Inner {
    /// The id a resource's tags are kept under: a zone's own id (the
    /// request may name it by `/hostedzone/` id or name), a check's id.
    /// `writable`: refuses file-managed objects, which the file owns.
    fn tag_owner(
        &self,
        resource: TagResource,
        id: &str,
        writable: bool,
    ) -> Result<String, ServiceError> {
        match resource {
            TagResource::HostedZone => {
                let id = id.strip_prefix("/hostedzone/").unwrap_or(id);
                if let Some(z) = self.find_file_zone(id) {
                    if writable {
                        self.refuse_file_zone(id)?;
                    }
                    return Ok(self.file_zone_info(z).id);
                }
                self.find_zone(id)
                    .map(|z| z.id.clone())
                    .ok_or_else(|| ServiceError::no_zone(id))
            }
            TagResource::HealthCheck => {
                if writable {
                    self.refuse_file_check(id)?;
                }
                if self.check_kinds().contains_key(id) {
                    Ok(id.to_string())
                } else {
                    Err(ServiceError::no_check(id))
                }
            }
        }
    }
}

impl Service {
    /// The tags of a zone or check, by key; none for a file-managed one.
    /// Returns the id they are kept under with them.
    pub fn route53_tags(
        &self,
        resource: TagResource,
        id: &str,
    ) -> Result<(String, Vec<(String, String)>), ServiceError> {
        let inner = self.lock();
        let owner = inner.tag_owner(resource, id, false)?;
        let tags = inner.store.route53_tags(resource.as_str(), &owner)?;
        Ok((owner, tags))
    }

    /// Removes the keys `remove`, then adds or replaces `add`, in one
    /// write, under Route 53's limits: at most [`MAX_TAG_CHANGES`] of
    /// each, keys of 1 to [`MAX_TAG_KEY`] characters not starting with
    /// `aws:`, values of at most [`MAX_TAG_VALUE`], a key at most once, and
    /// at most [`MAX_TAGS_PER_RESOURCE`] tags afterwards.
    pub fn change_route53_tags(
        &self,
        resource: TagResource,
        id: &str,
        add: &[(String, String)],
        remove: &[String],
    ) -> Result<(), ServiceError> {
        let mut inner = self.lock();
        let owner = inner.tag_owner(resource, id, true)?;
        let mut problems = Vec::new();
        if add.len() > MAX_TAG_CHANGES {
            problems.push(format!(
                "AddTags: {} tags, at most {MAX_TAG_CHANGES} per request",
                add.len()
            ));
        }
        if remove.len() > MAX_TAG_CHANGES {
            problems.push(format!(
                "RemoveTagKeys: {} keys, at most {MAX_TAG_CHANGES} per request",
                remove.len()
            ));
        }
        let keys = add.iter().map(|(k, _)| k).chain(remove);
        for (i, key) in keys.clone().enumerate() {
            let length = key.chars().count();
            if length == 0 || length > MAX_TAG_KEY {
                problems.push(format!(
                    "tag key {key:?}: {length} characters, 1 to {MAX_TAG_KEY} allowed"
                ));
            } else if key.to_ascii_lowercase().starts_with("aws:") {
                problems.push(format!(
                    "tag key {key:?}: the prefix aws: is reserved for AWS"
                ));
            }
            if keys.clone().take(i).any(|k| k == key) {
                problems.push(format!(
                    "tag key {key:?} is named twice; add or remove each key once"
                ));
            }
        }
        for (key, value) in add {
            let length = value.chars().count();
            if length > MAX_TAG_VALUE {
                problems.push(format!(
                    "tag {key:?}: the value has {length} characters, at most {MAX_TAG_VALUE} allowed"
                ));
            }
        }
        if !problems.is_empty() {
            return Err(ServiceError::invalid("InvalidInput", problems));
        }
        let mut tags = inner.store.route53_tags(resource.as_str(), &owner)?;
        tags.retain(|(k, _)| !remove.contains(k) && !add.iter().any(|(a, _)| a == k));
        tags.extend(add.iter().cloned());
        if tags.len() > MAX_TAGS_PER_RESOURCE {
            return Err(ServiceError::invalid(
                "InvalidInput",
                vec![format!(
                    "{} {owner} would hold {} tags, at most {MAX_TAGS_PER_RESOURCE} allowed; remove some first",
                    resource.as_str(),
                    tags.len()
                )],
            ));
        }
        tags.sort();
        inner
            .store
            .put_route53_tags(resource.as_str(), &owner, &tags)?;
        Ok(())
    }
}

/// A change for the next write to record in its transaction
/// ([`crate::store::Backend::record_with_next_write`]): every change
/// batch and every zone made or deleted is one, so that Route 53's
/// GetChange finds it however the write was asked for, and a reply that
/// says the write failed means the change is not recorded either.
pub(super) fn new_change(comment: Option<String>) -> NewChange {
    NewChange {
        id: new_change_id(),
        submitted_at: SystemTime::now(),
        comment,
    }
}
