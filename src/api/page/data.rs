//! What the pages show, gathered from the service's public reads and put
//! in the shape the views render. No routing or health rule is decided
//! here: states come from the checker, answers and their reasons from
//! [`Service::test_answer`].

use std::collections::HashMap;

use crate::health::ProbeResult;
use crate::health::state::Transition;
use crate::service::{CheckInfo, CheckState, RoutedName, Service, ServiceError, TestAnswer};
use crate::store::HealthEvent;

/// Where a check stands, as the overview counts it: an override or
/// `disabled` says more than the state they produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Probed, and healthy.
    Healthy,
    /// Probed, and unhealthy.
    Unhealthy,
    /// The operator forced it (`true`: healthy).
    Forced(bool),
    /// Not probed (`disabled`); `true` when that makes it healthy.
    Disabled(bool),
}

impl Standing {
    /// The filter and overview key: `healthy`, `unhealthy`, `forced`,
    /// `disabled`.
    pub fn key(self) -> &'static str {
        match self {
            Standing::Healthy => "healthy",
            Standing::Unhealthy => "unhealthy",
            Standing::Forced(_) => "forced",
            Standing::Disabled(_) => "disabled",
        }
    }

    /// In words, for the state cell.
    pub fn words(self) -> &'static str {
        match self {
            Standing::Healthy => "healthy",
            Standing::Unhealthy => "unhealthy",
            Standing::Forced(true) => "forced healthy",
            Standing::Forced(false) => "forced unhealthy",
            Standing::Disabled(true) => "disabled (healthy)",
            Standing::Disabled(false) => "disabled (unhealthy)",
        }
    }

    /// Whether DNS treats the check as healthy.
    pub fn healthy(self) -> bool {
        match self {
            Standing::Healthy => true,
            Standing::Unhealthy => false,
            Standing::Forced(h) | Standing::Disabled(h) => h,
        }
    }

    /// Sort order: what needs attention first.
    pub fn rank(self) -> u8 {
        match self {
            Standing::Unhealthy => 0,
            Standing::Forced(_) => 1,
            Standing::Disabled(_) => 2,
            Standing::Healthy => 3,
        }
    }

    /// Every filter key, in display order.
    pub const KEYS: [&'static str; 4] = ["healthy", "unhealthy", "forced", "disabled"];
}

/// One check with its live state.
#[derive(Debug, Clone)]
pub struct CheckRow {
    /// Its settings.
    pub info: CheckInfo,
    /// Its state; `None` for a stored check that no longer validates and
    /// so is not run.
    pub state: Option<CheckState>,
}

impl CheckRow {
    /// Its id.
    pub fn id(&self) -> &str {
        &self.info.input.id
    }

    /// Where it stands; a check that is not run counts as unhealthy.
    pub fn standing(&self) -> Standing {
        let Some(state) = &self.state else {
            return Standing::Unhealthy;
        };
        let healthy = state.status.healthy;
        if state.status.forced.is_some() {
            Standing::Forced(healthy)
        } else if self.info.input.disabled {
            Standing::Disabled(healthy)
        } else if healthy {
            Standing::Healthy
        } else {
            Standing::Unhealthy
        }
    }

    /// The most recent probe result, local faults aside (they say
    /// nothing about the endpoint).
    pub fn last_result(&self) -> Option<&ProbeResult> {
        self.results().iter().rev().find(|r| !r.local)
    }

    /// The latency of the most recent result, in milliseconds.
    pub fn latency_ms(&self) -> Option<f64> {
        self.last_result().map(crate::api::words::latency_ms)
    }

    /// The most recent result that counted against the check (with
    /// `invert`, an endpoint that passed).
    pub fn last_failure(&self) -> Option<&ProbeResult> {
        let invert = self.info.input.invert;
        self.results()
            .iter()
            .rev()
            .find(|r| !r.local && r.healthy == invert)
    }

    /// The last change of state.
    pub fn last_change(&self) -> Option<&Transition> {
        self.state.as_ref()?.status.last_change.as_ref()
    }

    /// The recent results, oldest first.
    pub fn results(&self) -> &[ProbeResult] {
        self.state.as_ref().map_or(&[], |s| &s.status.last_results)
    }

    /// `http 127.0.0.1:8080/health`, `calculated (a, b)`.
    pub fn target(&self) -> String {
        let i = &self.info.input;
        if i.kind == "calculated" {
            return format!(
                "calculated ({})",
                i.children.clone().unwrap_or_default().join(", ")
            );
        }
        let host = i.ip.as_deref().or(i.fqdn.as_deref()).unwrap_or("?");
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let port = i.port.map_or_else(String::new, |p| format!(":{p}"));
        let path = if i.kind == "tcp" {
            ""
        } else {
            i.path.as_deref().unwrap_or("/")
        };
        format!("{} {host}{port}{path}", i.kind)
    }
}

/// Every check with its state: file-managed first, as the service lists
/// them.
pub fn check_rows(svc: &Service) -> Vec<CheckRow> {
    let mut states: HashMap<String, CheckState> = svc
        .check_states()
        .into_iter()
        .map(|s| (s.status.id.clone(), s))
        .collect();
    svc.checks()
        .into_iter()
        .map(|info| CheckRow {
            state: states.remove(&info.input.id),
            info,
        })
        .collect()
}

/// One routed name: its group explained, and answers sampled from the
/// same code path DNS answers from.
#[derive(Debug, Clone)]
pub struct NameView {
    /// Which name and type.
    pub routed: RoutedName,
    /// The answer now, and every record's standing.
    pub answer: TestAnswer,
    /// More answers to the same question (random choices differ).
    pub samples: Vec<Vec<String>>,
}

/// Asks the service `count` times; the first answer keeps the
/// explanation, the rest are samples.
pub fn sample(
    svc: &Service,
    name: &str,
    rtype: &str,
    count: usize,
) -> Result<(TestAnswer, Vec<Vec<String>>), ServiceError> {
    let first = svc.test_answer(name, rtype)?;
    let mut samples = vec![first.answer.clone()];
    for _ in 1..count {
        samples.push(svc.test_answer(name, rtype)?.answer);
    }
    Ok((first, samples))
}

/// The data of an answer line (`www.x. 60 IN A 192.0.2.1` → `192.0.2.1`),
/// or the line when it is not in that shape.
pub fn answer_data(line: &str) -> &str {
    let mut rest = line;
    for _ in 0..4 {
        match rest.trim_start().split_once(char::is_whitespace) {
            Some((_, after)) => rest = after,
            None => return line,
        }
    }
    rest.trim()
}

/// Whether an answer line carries `value` (a record value as written).
pub fn carries(line: &str, value: &str) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches('.').to_ascii_lowercase();
    norm(answer_data(line)) == norm(value)
}

/// Recorded transitions of every check, newest first.
pub fn recent_events(svc: &Service, limit: usize) -> Result<Vec<HealthEvent>, ServiceError> {
    let mut events = svc.events(None, None, Some(limit))?;
    events.reverse();
    Ok(events)
}

/// States as the checker reports them, for the page's tests.
#[cfg(test)]
pub mod fixtures {
    use std::time::{Duration, SystemTime};

    use crate::health::{CheckStatus, ProbeResult};
    use crate::service::CheckState;

    /// A probed check's state, measured as it is published, no votes.
    pub fn state(
        id: &str,
        healthy: bool,
        forced: Option<bool>,
        last_results: Vec<ProbeResult>,
    ) -> CheckState {
        CheckState {
            status: CheckStatus {
                id: id.into(),
                healthy,
                measured: healthy,
                observed: healthy,
                healthy_percent: None,
                forced,
                probed: true,
                streak: 0,
                last_results,
                last_change: None,
            },
            votes: Vec::new(),
            consensus: None,
        }
    }

    /// One probe result.
    pub fn result(at: SystemTime, healthy: bool, reason: &str, latency_ms: f64) -> ProbeResult {
        ProbeResult {
            healthy,
            local: false,
            reason: reason.into(),
            latency: Duration::from_secs_f64(latency_ms / 1000.0),
            at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::HealthCheckInput;
    use crate::service::ManagedBy;
    use std::time::{Duration, SystemTime};

    fn row(kind: &str, disabled: bool, invert: bool, state: Option<CheckState>) -> CheckRow {
        CheckRow {
            info: CheckInfo {
                input: HealthCheckInput {
                    id: "c".into(),
                    kind: kind.into(),
                    ip: Some("::1".into()),
                    fqdn: None,
                    port: Some(8080),
                    path: Some("/h".into()),
                    host: None,
                    sni: None,
                    search: None,
                    interval: None,
                    failure_threshold: None,
                    timeout: None,
                    invert,
                    disabled,
                    children: None,
                    healthy_threshold: None,
                    healthy_percent: None,
                },
                managed_by: ManagedBy::Api,
                version: 1,
                caller_reference: None,
            },
            state,
        }
    }

    fn state(status: &'static str, forced: Option<&'static str>, results: &[bool]) -> CheckState {
        let results = results
            .iter()
            .enumerate()
            .map(|(i, &healthy)| {
                let at = SystemTime::UNIX_EPOCH + Duration::from_secs(i as u64);
                fixtures::result(at, healthy, &format!("r{i}"), i as f64)
            })
            .collect();
        fixtures::state(
            "c",
            status == "healthy",
            forced.map(|f| f == "healthy"),
            results,
        )
    }

    #[test]
    fn standing_puts_overrides_and_disabled_before_the_state() {
        let s = |st, f| Some(state(st, f, &[]));
        assert_eq!(
            row("http", false, false, s("healthy", None)).standing(),
            Standing::Healthy
        );
        assert_eq!(
            row("http", false, false, s("unhealthy", None)).standing(),
            Standing::Unhealthy
        );
        assert_eq!(
            row("http", true, false, s("unhealthy", Some("unhealthy"))).standing(),
            Standing::Forced(false)
        );
        assert_eq!(
            row("http", true, false, s("healthy", None)).standing(),
            Standing::Disabled(true)
        );
        assert_eq!(
            row("http", false, false, None).standing(),
            Standing::Unhealthy
        );
        assert!(Standing::Unhealthy.rank() < Standing::Healthy.rank());
    }

    #[test]
    fn the_last_failure_follows_invert() {
        let plain = row(
            "http",
            false,
            false,
            Some(state("healthy", None, &[false, true, true])),
        );
        assert_eq!(plain.last_failure().unwrap().reason, "r0");
        assert_eq!(plain.latency_ms(), Some(2.0));
        let inverted = row(
            "http",
            false,
            true,
            Some(state("healthy", None, &[false, true, false])),
        );
        assert_eq!(inverted.last_failure().unwrap().reason, "r1");
        assert_eq!(plain.target(), "http [::1]:8080/h");
    }

    #[test]
    fn answer_lines_are_matched_by_their_data() {
        assert_eq!(answer_data("www.x. 60 IN A 192.0.2.1"), "192.0.2.1");
        assert_eq!(answer_data("x. 60 IN MX 10 mail.x."), "10 mail.x.");
        assert_eq!(answer_data("odd"), "odd");
        assert!(carries("www.x. 60 IN A 192.0.2.1", "192.0.2.1"));
        assert!(!carries("www.x. 60 IN A 192.0.2.10", "192.0.2.1"));
        assert!(carries("a.x. 60 IN CNAME B.X.", "b.x"));
    }
}
