//! Health checks: create, update, delete, state and overrides.

use std::collections::HashMap;
use std::time::Duration;

use super::declarations::kinds_of;
use super::error::{ServiceError, field_problem};
use super::route53::TagResource;
use super::views::{
    CheckInfo, CheckState, ConsensusInfo, ManagedBy, VoteInfo, api_check_info, state_info,
};
use super::{Inner, Service, checker_index};
use crate::health::Checker;
use crate::health::vote::{Counted, Tally, Vote};
use crate::input::HealthCheckInput;
use crate::model::{CheckKind, HealthCheckSpec};
use crate::store::StoredCheck;

impl Service {
    /// Every health check, file-managed first.
    pub fn checks(&self) -> Vec<CheckInfo> {
        let inner = self.lock();
        let mut out: Vec<CheckInfo> = inner
            .file_check_inputs()
            .into_iter()
            .map(|input| CheckInfo {
                input,
                managed_by: ManagedBy::File,
                version: 1,
                caller_reference: None,
            })
            .collect();
        out.extend(inner.checks.iter().map(api_check_info));
        out
    }

    /// One health check.
    pub fn check(&self, id: &str) -> Result<CheckInfo, ServiceError> {
        self.checks()
            .into_iter()
            .find(|c| c.input.id == id)
            .ok_or_else(|| ServiceError::no_check(id))
    }

    /// Creates a health check. With a `caller_reference` seen before and
    /// the same settings, returns the existing check (Route 53's
    /// idempotency); with other settings, a conflict.
    pub fn create_check(
        &self,
        input: HealthCheckInput,
        caller_reference: Option<String>,
    ) -> Result<CheckInfo, ServiceError> {
        self.catch_up()?;
        let mut inner = self.lock();
        if let Some(reference) = &caller_reference
            && let Some(existing) = inner
                .checks
                .iter()
                .find(|c| c.caller_reference.as_ref() == Some(reference))
        {
            let same = HealthCheckInput {
                id: existing.input.id.clone(),
                ..input.clone()
            } == existing.input;
            if same {
                return Ok(api_check_info(existing));
            }
            return Err(ServiceError::Conflict {
                code: "HealthCheckAlreadyExists",
                message: format!(
                    "caller reference {reference:?} was used for health check {:?} with other settings",
                    existing.input.id
                ),
            });
        }
        if inner.check_kinds().contains_key(&input.id) {
            return Err(ServiceError::Conflict {
                code: "HealthCheckAlreadyExists",
                message: format!("health check {:?} already exists", input.id),
            });
        }
        inner.validate_check(&input)?;
        let count = inner.file.health_checks.len() + inner.checks.len();
        if count >= crate::health::MAX_CHECKS {
            return Err(ServiceError::invalid(
                "TooManyHealthChecks",
                vec![format!(
                    "there are {count} health checks, the most eightfold runs at once; delete one first"
                )],
            ));
        }
        let stored = StoredCheck {
            input,
            version: 1,
            caller_reference,
        };
        self.wrote(self.store_on_top(&mut inner).put_check(&stored)?);
        // A check deleted with this id may have left its tags behind.
        inner.forget_route53_extras(TagResource::HealthCheck, &stored.input.id);
        let info = api_check_info(&stored);
        inner.checks.push(stored);
        inner.reconfigure_checks();
        Ok(info)
    }

    /// Replaces an API-managed check. With `version`, fails unless it is
    /// the current one (Route 53's HealthCheckVersion).
    pub fn update_check(
        &self,
        id: &str,
        input: HealthCheckInput,
        version: Option<i64>,
    ) -> Result<CheckInfo, ServiceError> {
        self.catch_up()?;
        let mut inner = self.lock();
        inner.refuse_file_check(id)?;
        let Some(index) = inner.checks.iter().position(|c| c.input.id == id) else {
            return Err(ServiceError::no_check(id));
        };
        if input.id != id {
            return Err(ServiceError::invalid(
                "InvalidInput",
                vec![format!(
                    "id: the body names {:?}, the path {id:?}; ids cannot change",
                    input.id
                )],
            ));
        }
        let current = inner.checks[index].version;
        if let Some(v) = version
            && v != current
        {
            return Err(ServiceError::Conflict {
                code: "HealthCheckVersionMismatch",
                message: format!("health check {id:?} is at version {current}, not {v}"),
            });
        }
        inner.validate_check(&input)?;
        let stored = StoredCheck {
            input,
            version: current + 1,
            caller_reference: inner.checks[index].caller_reference.clone(),
        };
        self.wrote(self.store_on_top(&mut inner).put_check(&stored)?);
        let info = api_check_info(&stored);
        inner.checks[index] = stored;
        inner.reconfigure_checks();
        Ok(info)
    }

    /// Deletes an API-managed check no record uses.
    pub fn delete_check(&self, id: &str) -> Result<(), ServiceError> {
        self.catch_up()?;
        let mut inner = self.lock();
        inner.refuse_file_check(id)?;
        if !inner.checks.iter().any(|c| c.input.id == id) {
            return Err(ServiceError::no_check(id));
        }
        if let Some(user) = inner.check_users(id).first() {
            return Err(ServiceError::Conflict {
                code: "HealthCheckInUse",
                message: format!("health check {id:?} is used by {user}; change that record first"),
            });
        }
        if let Some(parent) = inner.calculated_parents(id).first() {
            return Err(ServiceError::Conflict {
                code: "HealthCheckInUse",
                message: format!(
                    "health check {id:?} is a child of calculated check {parent:?}; change that check first"
                ),
            });
        }
        self.wrote(self.store_on_top(&mut inner).delete_check(id)?);
        inner.checks.retain(|c| c.input.id != id);
        inner.reconfigure_checks();
        inner.forget_route53_extras(TagResource::HealthCheck, id);
        Ok(())
    }

    /// State, recent results and last change of a check.
    pub fn check_state(&self, id: &str) -> Result<CheckState, ServiceError> {
        let (checker, index) = self.checker_index(id)?;
        let status = checker
            .status(index)
            .ok_or_else(|| ServiceError::no_check(id))?;
        if !status.probed {
            return Ok(state_info(status));
        }
        let (votes, consensus) = self.votes(&status);
        Ok(CheckState {
            status,
            votes,
            consensus: Some(consensus),
        })
    }

    /// Every node's vote on a probed check and what they decide; with no
    /// shared store, this node's observation alone.
    fn votes(&self, status: &crate::health::CheckStatus) -> (Vec<VoteInfo>, ConsensusInfo) {
        let now = std::time::SystemTime::now();
        let nodes = self.nodes();
        let address = |node: &str| {
            nodes
                .iter()
                .find(|n| n.name == node)
                .map_or_else(String::new, |n| n.address.clone())
        };
        let me = self.cluster.name().to_string();
        let (counted, tally, percent) = match &self.ballot {
            Some(ballot) => {
                let percent = ballot.healthy_percent(status.healthy_percent);
                let (counted, tally) = ballot.votes(&status.id, status.observed, percent, now);
                (counted, tally, percent)
            }
            None => {
                let last = status.last_results.iter().rev().find(|r| !r.local);
                let vote = Vote {
                    node: me.as_str().into(),
                    healthy: status.observed,
                    reason: last
                        .map_or_else(|| "starting state".into(), |r| r.reason.as_str().into()),
                    at: last.map_or(now, |r| r.at),
                };
                // One node: its observation decides, whatever the percentage.
                let tally = Tally {
                    healthy: status.observed,
                    healthy_votes: usize::from(status.observed),
                    live_votes: 1,
                    own_only: true,
                };
                let percent = status
                    .healthy_percent
                    .unwrap_or(self.lock().file.healthy_percent);
                (vec![Counted { vote, live: true }], tally, percent)
            }
        };
        let votes = counted
            .into_iter()
            .map(|c| VoteInfo {
                address: address(&c.vote.node),
                this_node: *c.vote.node == *me,
                vote: c.vote,
                live: c.live,
            })
            .collect();
        let consensus = ConsensusInfo {
            tally,
            healthy_percent: percent,
        };
        (votes, consensus)
    }

    /// Forces a check healthy or unhealthy, or (`None`) releases it. The
    /// override is stored first, so it holds across restarts; when the
    /// store fails, nothing changes.
    pub fn set_override(&self, id: &str, forced: Option<bool>) -> Result<CheckState, ServiceError> {
        // Written and applied under one lock: two overrides of a check reach
        // the store and the checker in the same order, and no change swaps
        // the checker in between.
        self.catch_up()?;
        let (checker, index) = {
            let mut inner = self.lock();
            let (checker, index) = checker_index(&inner, id)?;
            self.wrote(self.store_on_top(&mut inner).set_override(id, forced)?);
            checker.set_override(index, forced);
            (checker, index)
        };
        let status = checker
            .status(index)
            .ok_or_else(|| ServiceError::no_check(id))?;
        Ok(state_info(status))
    }

    pub(super) fn checker_index(
        &self,
        id: &str,
    ) -> Result<(Checker, crate::snapshot::HealthId), ServiceError> {
        checker_index(&self.lock(), id)
    }
}

/// Bulk reads for the status page (`api::page`, issue 15): one lock for
/// every check or zone, where the per-object methods would take one each.
impl Service {
    /// State of every check, in slot order. `check_state` per id
    /// would search the id list once per check.
    pub fn check_states(&self) -> Vec<CheckState> {
        let checker = self.lock().live.checker.clone();
        checker
            .slots()
            .into_iter()
            .filter_map(|(slot, _)| checker.status(slot))
            .map(state_info)
            .collect()
    }
}

impl Inner {
    pub(super) fn refuse_file_check(&self, id: &str) -> Result<(), ServiceError> {
        if self.file.health_checks.iter().any(|c| c.id == id) {
            return Err(ServiceError::Conflict {
                code: "FileManaged",
                message: format!(
                    "health check {id:?} is managed by the config file {}; change it there and send SIGHUP",
                    self.file_name()
                ),
            });
        }
        Ok(())
    }

    /// Every check id, with whether it is calculated.
    pub(super) fn check_kinds(&self) -> HashMap<String, bool> {
        kinds_of(&self.file, &self.checks)
    }

    /// The calculated checks, file or API, that list `id` as a child.
    pub(super) fn calculated_parents(&self, id: &str) -> Vec<String> {
        let file = self
            .file
            .health_checks
            .iter()
            .filter_map(|c| match &c.kind {
                CheckKind::Calculated { children, .. } if children.iter().any(|x| x == id) => {
                    Some(c.id.clone())
                }
                _ => None,
            });
        let api = self.checks.iter().filter_map(|c| {
            let listed = c.input.children.as_ref()?.iter().any(|x| x == id);
            (c.input.kind == "calculated" && listed).then(|| c.input.id.clone())
        });
        file.chain(api).collect()
    }

    pub(super) fn validate_check(
        &self,
        input: &HealthCheckInput,
    ) -> Result<HealthCheckSpec, ServiceError> {
        if input.kind == "calculated"
            && let Some(parent) = self.calculated_parents(&input.id).first()
        {
            return Err(ServiceError::invalid(
                "InvalidInput",
                vec![format!(
                    "type: health check {:?} is a child of calculated check {parent:?}, and a calculated check's children cannot be calculated; change {parent:?} first",
                    input.id
                )],
            ));
        }
        let kinds = self.check_kinds();
        input
            .to_spec(&|id| kinds.get(id).copied())
            .map_err(|errors| {
                ServiceError::invalid(
                    "InvalidInput",
                    errors
                        .iter()
                        .map(|e| field_problem("health check", e))
                        .collect(),
                )
            })
            .and_then(|spec| self.check_target(spec))
    }

    /// Refuses a check aimed where checks may not aim (docs/security.md).
    pub(super) fn check_target(
        &self,
        spec: HealthCheckSpec,
    ) -> Result<HealthCheckSpec, ServiceError> {
        crate::input::check_target(&spec, &self.targets.load()).map_err(|e| {
            ServiceError::invalid("InvalidInput", vec![field_problem("health check", &e)])
        })?;
        Ok(spec)
    }

    /// Records (by description) that use check `id`.
    pub(super) fn check_users(&self, id: &str) -> Vec<String> {
        let mut users = Vec::new();
        for z in &self.file.zones {
            for r in self.file_records(z) {
                if r.health_check.as_deref() == Some(id) {
                    users.push(format!("{}. {} in zone {}.", r.owner, r.rtype, z.name));
                }
            }
        }
        for z in &self.zones {
            for r in &z.records {
                if r.health_check.as_deref() == Some(id) {
                    users.push(format!("{} in zone {}", r.label(), z.name));
                }
            }
        }
        users
    }

    pub(super) fn file_check_inputs(&self) -> Vec<HealthCheckInput> {
        self.file.health_checks.iter().map(check_input_of).collect()
    }
}

/// The input that describes a (file-managed) check spec.
pub(super) fn check_input_of(c: &HealthCheckSpec) -> HealthCheckInput {
    let secs = |d: Duration| format!("{}s", d.as_secs());
    let (kind, children, threshold) = match &c.kind {
        CheckKind::Tcp => ("tcp", None, None),
        CheckKind::Http => ("http", None, None),
        CheckKind::Https => ("https", None, None),
        CheckKind::Calculated {
            children,
            healthy_threshold,
        } => (
            "calculated",
            Some(children.clone()),
            Some(i64::from(*healthy_threshold)),
        ),
    };
    let (ip, fqdn) = match &c.target {
        Some(crate::model::Target::Ip(ip)) => (Some(ip.to_string()), None),
        Some(crate::model::Target::Fqdn(f)) => (None, Some(f.clone())),
        None => (None, None),
    };
    HealthCheckInput {
        id: c.id.clone(),
        kind: kind.into(),
        ip,
        fqdn,
        port: Some(c.port),
        path: Some(c.path.clone()),
        host: c.host.clone(),
        sni: (!c.sni).then_some(false),
        search: c.search.clone(),
        interval: Some(secs(c.interval)),
        failure_threshold: Some(i64::from(c.failure_threshold)),
        timeout: Some(secs(c.timeout)),
        invert: c.invert,
        disabled: c.disabled,
        children,
        healthy_threshold: threshold,
        healthy_percent: c.healthy_percent.map(i64::from),
    }
}
