//! What only the Route 53 API keeps: settings eightfold's schema has no
//! field for, and the ids of applied changes (for GetChange).

use super::Service;
use super::error::ServiceError;
use super::ids::new_change_id;
use super::views::{ChangeInfo, rfc3339};
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

    /// Remembers an applied change so that GetChange finds it.
    pub fn route53_record_change(&self, info: &ChangeInfo) -> Result<(), ServiceError> {
        let at =
            humantime::parse_rfc3339_weak(&info.submitted_at).unwrap_or_else(|_| SystemTime::now());
        self.lock()
            .store
            .put_route53_change(&info.id, at, info.comment.as_deref())?;
        Ok(())
    }

    /// A new, recorded change: Route 53 returns one for zone creation and
    /// deletion too.
    pub fn route53_new_change(&self, comment: Option<String>) -> Result<ChangeInfo, ServiceError> {
        let info = ChangeInfo {
            id: new_change_id(),
            status: self.change_status(self.served_version()),
            submitted_at: rfc3339(SystemTime::now()),
            comment,
        };
        self.route53_record_change(&info)?;
        Ok(info)
    }

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
            submitted_at: rfc3339(at),
            comment,
        })
    }
}
