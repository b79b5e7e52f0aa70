//! Route 53 health-check operations: create, read, list, update and
//! delete, status and last failure. A check's HealthCheckConfig is kept as
//! sent ([`model::HealthCheckConfig`] as JSON, per version) and returned
//! so, eightfold's own fields filling what was not sent.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::error::R53Error;
use super::model::{self, HealthCheckConfig};
use super::xml::{self, Doc};
use super::{
    DEFAULT_LIST_ITEMS, MAX_LIST_ITEMS, R53Path, R53Query, Signed, call, created, max_items, reply,
};
use crate::api::{ApiState, words};
use crate::input::HealthCheckInput;
use crate::service::{CheckInfo, Service};

/// A check with what the Route 53 API kept about it.
struct Check {
    info: CheckInfo,
    /// EnableSNI as sent before configs were kept whole (migration 2).
    enable_sni: Option<bool>,
    /// The config sent for the check's current version, if any.
    sent: Option<HealthCheckConfig>,
}

/// What the Route 53 API kept, by check id.
struct Kept {
    enable_sni: HashMap<String, Option<bool>>,
    configs: HashMap<String, String>,
}

impl Kept {
    fn load(svc: &Service) -> Result<Kept, R53Error> {
        Ok(Kept {
            enable_sni: svc.route53_enable_sni()?,
            configs: svc.route53_check_configs()?,
        })
    }

    fn check(&self, info: CheckInfo) -> Check {
        let id = &info.input.id;
        Check {
            enable_sni: self.enable_sni.get(id).copied().flatten(),
            // A stored config that no longer reads (an older layout) only
            // loses what eightfold's schema cannot say.
            sent: self
                .configs
                .get(id)
                .and_then(|json| serde_json::from_str(json).ok()),
            info,
        }
    }
}

fn write_check(doc: &mut Doc, c: &Check) {
    let mut config = model::check_out(&c.info.input, c.enable_sni);
    if let Some(sent) = &c.sent {
        config = model::as_sent(config, sent);
    }
    doc.open("HealthCheck").text("Id", &c.info.input.id).text(
        "CallerReference",
        c.info.caller_reference.as_deref().unwrap_or(""),
    );
    doc.open("HealthCheckConfig")
        .opt("IPAddress", config.ip_address.as_ref())
        .opt("Port", config.port)
        .text("Type", config.kind)
        .opt("ResourcePath", config.resource_path.as_ref())
        .opt(
            "FullyQualifiedDomainName",
            config.fully_qualified_domain_name.as_ref(),
        )
        .opt("SearchString", config.search_string.as_ref())
        .opt("RequestInterval", config.request_interval)
        .opt("FailureThreshold", config.failure_threshold)
        .text("MeasureLatency", config.measure_latency)
        .text("Inverted", config.inverted)
        .text("Disabled", config.disabled)
        .opt("HealthThreshold", config.health_threshold);
    if let Some(children) = &config.child_health_checks {
        doc.open("ChildHealthChecks");
        for child in children {
            doc.text("ChildHealthCheck", child);
        }
        doc.close();
    }
    doc.opt("EnableSNI", config.enable_sni);
    if let Some(regions) = &config.regions {
        doc.open("Regions");
        for region in regions {
            doc.text("Region", region);
        }
        doc.close();
    }
    doc.close();
    doc.text("HealthCheckVersion", c.info.version).close();
}

pub(super) async fn create_health_check(
    State(s): State<ApiState>,
    tls: Option<axum::Extension<crate::api::serve::Tls>>,
    headers: HeaderMap,
    Signed(body): Signed,
) -> Result<Response, R53Error> {
    let req: model::CreateHealthCheckRequest =
        xml::parse(&body).map_err(R53Error::invalid_input)?;
    let id = uuid::Uuid::new_v4().to_string();
    let input = model::check_in(&id, &req.health_check_config)?;
    let sent = req.health_check_config;
    let json = serde_json::to_string(&sent).expect("configs serialise");
    let check = call(&s, move |svc| {
        let info = svc.create_check(input, Some(req.caller_reference))?;
        if info.input.id == id {
            svc.set_route53_enable_sni(&id, Some(info.version), sent.enable_sni)?;
            svc.set_route53_check_config(&id, info.version, &json)?;
            return Ok(Check {
                enable_sni: sent.enable_sni,
                sent: Some(sent),
                info,
            });
        }
        // The same request again: the check it created, unless a field
        // only Route 53 keeps differs (Route 53 compares the whole config).
        let existing = Kept::load(svc)?.check(info);
        if existing.sent.as_ref().is_some_and(|kept| *kept != sent) {
            return Err(R53Error::new(
                "HealthCheckAlreadyExists",
                format!(
                    "caller reference was used for health check {:?} with other settings",
                    existing.info.input.id
                ),
            ));
        }
        Ok(existing)
    })
    .await?;
    let mut doc = Doc::new("CreateHealthCheckResponse");
    write_check(&mut doc, &check);
    Ok(created(
        doc,
        &headers,
        tls.is_some(),
        &format!("/2013-04-01/healthcheck/{}", check.info.input.id),
    ))
}

pub(super) async fn get_health_check(
    State(s): State<ApiState>,
    R53Path(id): R53Path<String>,
    _signed: Signed,
) -> Result<Response, R53Error> {
    let check = call(&s, move |svc| Ok(Kept::load(svc)?.check(svc.check(&id)?))).await?;
    let mut doc = Doc::new("GetHealthCheckResponse");
    write_check(&mut doc, &check);
    Ok(reply(StatusCode::OK, doc))
}

pub(super) async fn list_health_checks(
    State(s): State<ApiState>,
    R53Query(query): R53Query<HashMap<String, String>>,
    _signed: Signed,
) -> Result<Response, R53Error> {
    let max = max_items(&query, DEFAULT_LIST_ITEMS, MAX_LIST_ITEMS)?;
    let (checks, kept) = call(&s, |svc| Ok((svc.checks(), Kept::load(svc)?))).await?;
    let marker = query.get("marker");
    let start = match marker {
        None => 0,
        Some(m) => checks
            .iter()
            .position(|c| &c.input.id == m)
            .ok_or_else(|| {
                R53Error::invalid_input(format!("Marker {m:?} is no health check id"))
            })?,
    };
    let page = &checks[start..(start + max).min(checks.len())];
    let next = checks.get(start + max);
    let mut doc = Doc::new("ListHealthChecksResponse");
    doc.open("HealthChecks");
    for c in page {
        write_check(&mut doc, &kept.check(c.clone()));
    }
    doc.close();
    doc.text("Marker", marker.map_or("", String::as_str))
        .text("IsTruncated", next.is_some())
        .opt("NextMarker", next.map(|c| &c.input.id))
        .text("MaxItems", max);
    Ok(reply(StatusCode::OK, doc))
}

pub(super) async fn update_health_check(
    State(s): State<ApiState>,
    R53Path(id): R53Path<String>,
    Signed(body): Signed,
) -> Result<Response, R53Error> {
    let req: model::UpdateHealthCheckRequest =
        xml::parse(&body).map_err(R53Error::invalid_input)?;
    let check = call(&s, move |svc| {
        let current = Kept::load(svc)?.check(svc.check(&id)?);
        let next = model::check_update(&current.info.input, &req)?;
        // What was sent before (or eightfold's view of it) with the update.
        let before = current
            .sent
            .clone()
            .unwrap_or_else(|| model::config_of(&current.info.input, current.enable_sni));
        let sent = model::config_update(&before, &req);
        let info = svc.update_check(&id, next, req.health_check_version)?;
        let enable_sni = req.enable_sni.or(current.enable_sni);
        svc.set_route53_enable_sni(&id, Some(info.version), enable_sni)?;
        let json = serde_json::to_string(&sent).expect("configs serialise");
        svc.set_route53_check_config(&id, info.version, &json)?;
        Ok(Check {
            info,
            enable_sni,
            sent: Some(sent),
        })
    })
    .await?;
    let mut doc = Doc::new("UpdateHealthCheckResponse");
    write_check(&mut doc, &check);
    Ok(reply(StatusCode::OK, doc))
}

pub(super) async fn delete_health_check(
    State(s): State<ApiState>,
    R53Path(id): R53Path<String>,
    _signed: Signed,
) -> Result<Response, R53Error> {
    call(&s, move |svc| {
        svc.delete_check(&id)?;
        svc.set_route53_enable_sni(&id, None, None)?;
        Ok(())
    })
    .await?;
    Ok(reply(StatusCode::OK, Doc::new("DeleteHealthCheckResponse")))
}

/// A probe's reason as Route 53 words a StatusReport: `HTTP 200` is
/// `Success: HTTP Status Code 200, OK`; other reasons start with a
/// capital (`Failure: Connection refused`).
pub fn status_report(healthy: bool, reason: &str) -> String {
    let word = if healthy { "Success" } else { "Failure" };
    let http = reason.strip_prefix("HTTP ").and_then(|rest| {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let code = StatusCode::from_u16(rest[..digits].parse().ok()?).ok()?;
        Some((code, &rest[digits..]))
    });
    match http {
        Some((code, rest)) => format!(
            "{word}: HTTP Status Code {}, {}{rest}",
            code.as_u16(),
            code.canonical_reason().unwrap_or("Unknown")
        ),
        None => {
            let mut chars = reason.chars();
            let first = chars.next().map(|c| c.to_uppercase().to_string());
            format!("{word}: {}{}", first.unwrap_or_default(), chars.as_str())
        }
    }
}

/// The address eightfold's checker sends probes of `check` from: the
/// source the routing table picks for the endpoint (a UDP `connect`
/// sends nothing). None for calculated checks and unresolvable names.
pub(super) fn checker_address(check: &HealthCheckInput) -> Option<IpAddr> {
    let port = check.port.unwrap_or(80);
    let target: SocketAddr = match (&check.ip, &check.fqdn) {
        (Some(ip), _) => SocketAddr::new(ip.parse().ok()?, port),
        (None, Some(name)) => (name.as_str(), port).to_socket_addrs().ok()?.next()?,
        (None, None) => return None,
    };
    let any: IpAddr = if target.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    let socket = UdpSocket::bind((any, 0)).ok()?;
    socket.connect(target).ok()?;
    Some(socket.local_addr().ok()?.ip())
}

pub(super) async fn health_check_status(
    State(s): State<ApiState>,
    R53Path(id): R53Path<String>,
    _signed: Signed,
) -> Result<Response, R53Error> {
    let (state, address) = call(&s, move |svc| {
        let check = svc.check(&id)?;
        Ok((svc.check_state(&id)?, checker_address(&check.input)))
    })
    .await?;
    // This node's report is its latest probe, as a Route 53 checker's is;
    // with none yet, the state and its last change.
    let checked = &state.status;
    let (status, at) = match checked.last_results.last() {
        Some(r) => (status_report(r.healthy, &r.reason), Some(r.at)),
        None => (
            status_report(
                checked.healthy,
                checked
                    .last_change
                    .as_ref()
                    .map_or("no probe result yet", |c| c.reason.as_str()),
            ),
            checked.last_change.as_ref().map(|c| c.at),
        ),
    };
    let mut doc = Doc::new("GetHealthCheckStatusResponse");
    doc.open("HealthCheckObservations");
    // One observation per live node, as Route 53 gives one per checker
    // that reports: the other nodes' are their published votes, from
    // their addresses. A node whose heartbeat stopped no longer counts in
    // the vote, so its last observation is not shown as current.
    let others = state.votes.iter().filter(|v| !v.this_node && v.live);
    doc.open("HealthCheckObservation")
        .opt("IPAddress", address)
        .open("StatusReport")
        .text("Status", status)
        .opt("CheckedTime", at.map(words::time))
        .close()
        .close();
    for v in others {
        // A node listening on every address (0.0.0.0, ::) names none.
        let ip = v
            .address
            .parse::<std::net::SocketAddr>()
            .ok()
            .map(|a| a.ip())
            .filter(|ip| !ip.is_unspecified());
        doc.open("HealthCheckObservation")
            .opt("IPAddress", ip)
            .open("StatusReport")
            .text("Status", status_report(v.vote.healthy, &v.vote.reason))
            .text("CheckedTime", words::time(v.vote.at))
            .close()
            .close();
    }
    Ok(reply(StatusCode::OK, doc))
}

pub(super) async fn health_check_last_failure(
    State(s): State<ApiState>,
    R53Path(id): R53Path<String>,
    _signed: Signed,
) -> Result<Response, R53Error> {
    let (state, address) = call(&s, move |svc| {
        let check = svc.check(&id)?;
        Ok((svc.check_state(&id)?, checker_address(&check.input)))
    })
    .await?;
    let mut doc = Doc::new("GetHealthCheckLastFailureReasonResponse");
    doc.open("HealthCheckObservations");
    // The most recent failed probe among the results kept, if any.
    if let Some(r) = state.status.last_results.iter().rev().find(|r| !r.healthy) {
        doc.open("HealthCheckObservation")
            .opt("IPAddress", address)
            .open("StatusReport")
            .text("Status", status_report(false, &r.reason))
            .text("CheckedTime", words::time(r.at))
            .close()
            .close();
    }
    Ok(reply(StatusCode::OK, doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reports_read_like_route53() {
        let cases = [
            (true, "HTTP 200", "Success: HTTP Status Code 200, OK"),
            (
                false,
                "HTTP 503",
                "Failure: HTTP Status Code 503, Service Unavailable",
            ),
            (
                true,
                "HTTP 200, search string found",
                "Success: HTTP Status Code 200, OK, search string found",
            ),
            (false, "connection refused", "Failure: Connection refused"),
            (false, "HTTP error: x", "Failure: HTTP error: x"),
            (true, "TCP connected", "Success: TCP connected"),
        ];
        for (healthy, reason, want) in cases {
            assert_eq!(status_report(healthy, reason), want);
        }
    }

    #[test]
    fn the_checker_address_is_the_source_towards_the_endpoint() {
        let check = HealthCheckInput {
            kind: "http".into(),
            ip: Some("127.0.0.1".into()),
            port: Some(80),
            ..HealthCheckInput::default()
        };
        assert_eq!(
            checker_address(&check),
            Some(IpAddr::from(Ipv4Addr::LOCALHOST))
        );
        let calculated = HealthCheckInput {
            kind: "calculated".into(),
            ..HealthCheckInput::default()
        };
        assert_eq!(checker_address(&calculated), None);
    }
}
