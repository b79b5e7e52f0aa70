//! Reads Route 53 tools make on their usual path that have a true answer
//! in eightfold: a zone's DNSSEC status and limits, the checkers' ranges.

use std::collections::BTreeSet;
use std::net::IpAddr;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::checks::checker_address;
use super::error::R53Error;
use super::xml::Doc;
use super::{R53Path, Signed, bare_id, call, reply, zone_with_count};
use crate::api::ApiState;

/// The record sets a zone may hold, as GetHostedZoneLimit reports it:
/// eightfold sets no such limit (memory is the bound), so the largest
/// value Route 53's 32-bit quotas take.
pub const RECORD_SETS_LIMIT: i64 = i32::MAX as i64;

/// GetDNSSEC: eightfold does not sign zones, so NOT_SIGNING and no keys.
pub(super) async fn get_dnssec(
    State(s): State<ApiState>,
    R53Path(id): R53Path<String>,
    _signed: Signed,
) -> Result<Response, R53Error> {
    let id = bare_id(&id, "/hostedzone/").to_string();
    call(&s, move |svc| Ok(svc.zone(&id).map(drop)?)).await?;
    let mut doc = Doc::new("GetDNSSECResponse");
    doc.open("Status")
        .text("ServeSignature", "NOT_SIGNING")
        .close()
        .open("KeySigningKeys")
        .close();
    Ok(reply(StatusCode::OK, doc))
}

/// GetHostedZoneLimit: the zone's record sets against
/// [`RECORD_SETS_LIMIT`]; eightfold's zones are all public.
pub(super) async fn get_hosted_zone_limit(
    State(s): State<ApiState>,
    R53Path((id, kind)): R53Path<(String, String)>,
    _signed: Signed,
) -> Result<Response, R53Error> {
    let id = bare_id(&id, "/hostedzone/").to_string();
    let zone = call(&s, move |svc| zone_with_count(svc, &id)).await?;
    match kind.as_str() {
        "MAX_RRSETS_BY_ZONE" => {
            let mut doc = Doc::new("GetHostedZoneLimitResponse");
            doc.open("Limit")
                .text("Type", &kind)
                .text("Value", RECORD_SETS_LIMIT)
                .close()
                .text("Count", zone.record_sets);
            Ok(reply(StatusCode::OK, doc))
        }
        "MAX_VPCS_ASSOCIATED_BY_ZONE" => Err(R53Error::new(
            "HostedZoneNotPrivate",
            format!(
                "{} is a public zone; eightfold serves no private zones",
                zone.info.name
            ),
        )),
        other => Err(R53Error::invalid_input(format!(
            "Type {other:?} is not MAX_RRSETS_BY_ZONE or MAX_VPCS_ASSOCIATED_BY_ZONE"
        ))),
    }
}

/// GetCheckerIpRanges: the addresses eightfold's checker probes from, one
/// per source address its checks' endpoints are reached from, so that a
/// firewall can let exactly them in.
pub(super) async fn get_checker_ip_ranges(
    State(s): State<ApiState>,
    _signed: Signed,
) -> Result<Response, R53Error> {
    let addresses: BTreeSet<IpAddr> = call(&s, |svc| {
        Ok(svc
            .checks()
            .iter()
            .filter_map(|c| checker_address(&c.input))
            .collect())
    })
    .await?;
    let mut doc = Doc::new("GetCheckerIpRangesResponse");
    doc.open("CheckerIpRanges");
    for address in addresses {
        let bits = if address.is_ipv4() { 32 } else { 128 };
        doc.text("member", format!("{address}/{bits}"));
    }
    doc.close();
    Ok(reply(StatusCode::OK, doc))
}
