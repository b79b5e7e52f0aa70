//! The Route 53 API (REST-XML, version 2013-04-01): the same service as
//! `/v1`, in Route 53's own shapes, so that `aws route53 --endpoint-url`
//! and boto3 work unchanged (SPEC §6).
//!
//! A thin layer like `/v1`: it parses Route 53's XML ([`model`]), calls the
//! [`Service`] on a blocking thread and writes Route 53's XML ([`xml`]).
//! No rule about records or checks lives here; the service's errors are
//! only renamed into Route 53's shape ([`error`]).
//!
//! Request signatures (AWS SigV4) are accepted without being checked when
//! no token is configured: the API then runs on a trusted address. With
//! `api_token_file` set, every handler takes [`Signed`] ([`extract`]), which accepts the
//! bearer token or a SigV4 signature made with the token as the secret
//! access key ([`sigv4`]); the JSON API's bearer middleware lets
//! `/2013-04-01/` through to it. [`Signed`] checks the headers before it
//! reads the body: a stranger is refused before any upload is read.

mod checks;
pub mod error;
pub mod extract;
mod geo;
pub mod model;
pub mod operation;
mod reads;
pub mod sigv4;
mod tags;
pub mod xml;

use std::collections::HashMap;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, post};

use self::checks::{
    create_health_check, delete_health_check, get_health_check, health_check_last_failure,
    health_check_status, list_health_checks, update_health_check,
};
use self::error::{R53Error, request_id};
pub use self::extract::{R53Path, R53Query, Signed};
use self::model::{RecordSetOut, route53_name};
use self::xml::Doc;
use super::ApiState;
use crate::api::words;
use crate::service::{ChangeBatch, ChangeInfo, Service, ZoneInfo};

/// Most record sets one ListResourceRecordSets page returns (Route 53's).
pub const MAX_RECORD_SETS_PER_PAGE: usize = 300;
/// Most zones or checks one list page returns.
const MAX_LIST_ITEMS: usize = 1000;
/// Zones or checks per list page when MaxItems is not given (Route 53's).
const DEFAULT_LIST_ITEMS: usize = 100;

/// The Route 53 routes, under `/2013-04-01/`. Any other method or path
/// there gets a Route 53 error, not a bare 404 or 405.
pub fn router() -> Router<ApiState> {
    let op = |m: MethodRouter<ApiState>| m.fallback(unsupported_operation);
    let rrset = || op(get(list_record_sets).post(change_record_sets));
    Router::new()
        .route(
            "/2013-04-01/hostedzone",
            op(post(create_hosted_zone).get(list_hosted_zones)),
        )
        .route(
            "/2013-04-01/hostedzone/{id}",
            op(get(get_hosted_zone).delete(delete_hosted_zone)),
        )
        .route("/2013-04-01/hostedzone/{id}/rrset", rrset())
        .route("/2013-04-01/hostedzone/{id}/rrset/", rrset())
        .route("/2013-04-01/change/{id}", op(get(get_change)))
        .route(
            "/2013-04-01/healthcheck",
            op(post(create_health_check).get(list_health_checks)),
        )
        .route(
            "/2013-04-01/healthcheck/{id}",
            op(get(get_health_check)
                .post(update_health_check)
                .delete(delete_health_check)),
        )
        .route(
            "/2013-04-01/healthcheck/{id}/status",
            op(get(health_check_status)),
        )
        .route(
            "/2013-04-01/healthcheck/{id}/lastfailurereason",
            op(get(health_check_last_failure)),
        )
        .route("/2013-04-01/testdnsanswer", op(get(test_dns_answer)))
        .route(
            "/2013-04-01/hostedzonesbyname",
            op(get(list_hosted_zones_by_name)),
        )
        .route("/2013-04-01/hostedzonecount", op(get(hosted_zone_count)))
        .route("/2013-04-01/healthcheckcount", op(get(health_check_count)))
        .route(
            "/2013-04-01/tags/{type}/{id}",
            op(get(tags::list_tags).post(tags::change_tags)),
        )
        .route(
            "/2013-04-01/hostedzone/{id}/dnssec",
            op(get(reads::get_dnssec)),
        )
        .route(
            "/2013-04-01/hostedzonelimit/{id}/{type}",
            op(get(reads::get_hosted_zone_limit)),
        )
        .route(
            "/2013-04-01/checkeripranges",
            op(get(reads::get_checker_ip_ranges)),
        )
        .route(
            "/2013-04-01/tags/{type}",
            op(post(tags::list_tags_for_resources)),
        )
        .route("/2013-04-01/geolocation", op(get(geo::get_geo_location)))
        .route("/2013-04-01/geolocations", op(get(geo::list_geo_locations)))
        .route("/2013-04-01/{*rest}", any(unsupported_operation))
}

/// Any other Route 53 operation: an error in Route 53's shape, once the
/// caller is authenticated.
async fn unsupported_operation(method: Method, uri: Uri, _signed: Signed) -> R53Error {
    let path = uri.path();
    match operation::name(method.as_str(), path) {
        Some(op) => R53Error::invalid_input(format!(
            "{op} ({method} {path}) is not an operation eightfold implements; docs/route53.md lists those it does"
        )),
        None => R53Error::invalid_input(format!(
            "{method} {path} is no Route 53 operation; docs/route53.md lists those eightfold implements"
        )),
    }
}

/// Runs a service call on a blocking thread ([`super::on_blocking_thread`]).
async fn call<T: Send + 'static>(
    state: &ApiState,
    f: impl FnOnce(&Service) -> Result<T, R53Error> + Send + 'static,
) -> Result<T, R53Error> {
    super::on_blocking_thread(&state.service, f)
        .await
        .map_err(|e| R53Error::new("ServiceUnavailable", format!("request failed: {e}")))?
}

/// A reply: the document, `text/xml`, a request id.
fn reply(status: StatusCode, doc: Doc) -> Response {
    let mut response = (status, doc.finish()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(&request_id()) {
        headers.insert("x-amzn-RequestId", v);
    }
    response
}

/// A 201 reply with the `Location` of what was created.
fn created(doc: Doc, headers: &HeaderMap, tls: bool, path: &str) -> Response {
    let mut response = reply(StatusCode::CREATED, doc);
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if tls { "https" } else { "http" };
    if let Ok(v) = HeaderValue::from_str(&format!("{scheme}://{host}{path}")) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// `/hostedzone/Z123` or `Z123` → `Z123`.
fn bare_id<'a>(id: &'a str, prefix: &str) -> &'a str {
    id.strip_prefix(prefix).unwrap_or(id)
}

fn max_items(
    query: &HashMap<String, String>,
    default: usize,
    max: usize,
) -> Result<usize, R53Error> {
    match query.get("maxitems") {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n.min(max)),
            _ => Err(R53Error::invalid_input(format!(
                "MaxItems {text:?} is not a positive number"
            ))),
        },
    }
}

// ----- zones -----

/// A zone and the number of record sets Route 53 would list for it.
struct Zone {
    info: ZoneInfo,
    record_sets: usize,
}

/// The zone `id` with its record-set count.
fn zone_with_count(svc: &Service, id: &str) -> Result<Zone, R53Error> {
    let info = svc.zone(id)?;
    let records = svc.records(id)?;
    let record_sets = records.len() + generated_apex_sets(svc, &info, &records).len();
    Ok(Zone { info, record_sets })
}

/// Every zone with its record-set count.
fn zones_with_counts(svc: &Service) -> Result<Vec<Zone>, R53Error> {
    svc.zones()
        .iter()
        .map(|z| zone_with_count(svc, &z.id))
        .collect()
}

/// The apex SOA and NS that eightfold generates for a zone that does not
/// give its own: Route 53 lists them like any record set.
fn generated_apex_sets(
    svc: &Service,
    zone: &ZoneInfo,
    records: &[crate::input::RecordInput],
) -> Vec<RecordSetOut> {
    let apex = route53_name(&zone.name);
    let mut out = Vec::new();
    for rtype in ["NS", "SOA"] {
        let stored = records.iter().any(|r| {
            r.rtype.eq_ignore_ascii_case(rtype)
                && route53_name(&model::absolute(&r.name, &zone.name)) == apex
        });
        if stored {
            continue;
        }
        let Ok(answer) = svc.test_answer(&zone.name, rtype) else {
            continue;
        };
        let mut ttl = 0;
        let values: Vec<String> = answer
            .answer
            .iter()
            .filter_map(|line| {
                ttl = line
                    .split(' ')
                    .nth(1)
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(ttl);
                rdata(line, rtype)
            })
            .collect();
        if !values.is_empty() {
            out.push(RecordSetOut {
                name: apex.clone(),
                rtype: rtype.to_string(),
                set_identifier: None,
                weight: None,
                failover: None,
                multi_value_answer: false,
                ttl: Some(ttl),
                values,
                alias: None,
                geo_location: None,
                health_check_id: None,
            });
        }
    }
    out
}

fn write_zone(doc: &mut Doc, zone: &Zone) {
    let z = &zone.info;
    doc.open("HostedZone")
        .text("Id", format!("/hostedzone/{}", z.id))
        .text("Name", route53_name(&z.name))
        .text(
            "CallerReference",
            z.caller_reference.as_deref().unwrap_or(""),
        );
    doc.open("Config")
        .opt("Comment", (!z.comment.is_empty()).then_some(&z.comment))
        .text("PrivateZone", "false")
        .close();
    doc.text("ResourceRecordSetCount", zone.record_sets).close();
}

fn write_change(doc: &mut Doc, c: &ChangeInfo) {
    doc.open("ChangeInfo")
        .text("Id", format!("/change/{}", c.id))
        .text("Status", words::change_status(c.status))
        .text("SubmittedAt", words::time(c.submitted_at))
        .opt("Comment", c.comment.as_ref())
        .close();
}

/// The name servers DNS answers for the zone's apex, written as Route 53
/// writes a delegation set's (`ns-2048.awsdns-64.com`, no final dot), the
/// form operators copy to their registrar.
fn name_servers(service: &Service, zone: &ZoneInfo) -> Vec<String> {
    let relative = |mut ns: String| {
        if ns.len() > 1 && ns.ends_with('.') {
            ns.pop();
        }
        ns
    };
    service
        .test_answer(&zone.name, "NS")
        .map(|a| {
            a.answer
                .iter()
                .filter_map(|l| rdata(l, "NS"))
                .map(relative)
                .collect()
        })
        .unwrap_or_default()
}

/// The data of an answer line `owner ttl IN type data`, if of `rtype`.
fn rdata(line: &str, rtype: &str) -> Option<String> {
    let mut parts = line.splitn(5, ' ');
    let (_, _, _, t, data) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (rtype.is_empty() || t.eq_ignore_ascii_case(rtype)).then(|| data.to_string())
}

fn write_delegation_set(doc: &mut Doc, servers: &[String]) {
    doc.open("DelegationSet").open("NameServers");
    for ns in servers {
        doc.text("NameServer", ns);
    }
    doc.close().close();
}

async fn create_hosted_zone(
    State(s): State<ApiState>,
    tls: Option<axum::Extension<crate::api::serve::Tls>>,
    headers: HeaderMap,
    Signed(body): Signed,
) -> Result<Response, R53Error> {
    let req: model::CreateHostedZoneRequest = xml::parse(&body).map_err(R53Error::invalid_input)?;
    let private = req
        .hosted_zone_config
        .as_ref()
        .and_then(|c| c.private_zone)
        .unwrap_or(false);
    if req.vpc.is_some() || private {
        return Err(R53Error::invalid_input(
            "private hosted zones (VPC, PrivateZone) are not supported by eightfold",
        ));
    }
    if req.delegation_set_id.is_some() {
        return Err(R53Error::invalid_input(
            "DelegationSetId is not supported by eightfold",
        ));
    }
    let name = model::from_route53_name(&req.name);
    let comment = req.hosted_zone_config.and_then(|c| c.comment);
    let reference = req.caller_reference;
    let (zone, change, servers) = call(&s, move |svc| {
        let (info, change) = svc.create_zone_changed(&name, comment, Some(reference))?;
        let change = match change {
            Some(change) => change,
            None => svc.route53_new_change(None)?,
        };
        let servers = name_servers(svc, &info);
        Ok((zone_with_count(svc, &info.id)?, change, servers))
    })
    .await?;
    let mut doc = Doc::new("CreateHostedZoneResponse");
    write_zone(&mut doc, &zone);
    write_change(&mut doc, &change);
    write_delegation_set(&mut doc, &servers);
    Ok(created(
        doc,
        &headers,
        tls.is_some(),
        &format!("/2013-04-01/hostedzone/{}", zone.info.id),
    ))
}

async fn list_hosted_zones(
    State(s): State<ApiState>,
    R53Query(query): R53Query<HashMap<String, String>>,
    _signed: Signed,
) -> Result<Response, R53Error> {
    let max = max_items(&query, DEFAULT_LIST_ITEMS, MAX_LIST_ITEMS)?;
    let zones = call(&s, zones_with_counts).await?;
    let marker = query
        .get("marker")
        .map(|m| bare_id(m, "/hostedzone/").to_string());
    let start = match &marker {
        None => 0,
        Some(m) => zones
            .iter()
            .position(|z| &z.info.id == m)
            .ok_or_else(|| R53Error::invalid_input(format!("Marker {m:?} is no hosted zone id")))?,
    };
    let page = &zones[start..(start + max).min(zones.len())];
    let next = zones.get(start + max);
    let mut doc = Doc::new("ListHostedZonesResponse");
    doc.open("HostedZones");
    for z in page {
        write_zone(&mut doc, z);
    }
    doc.close();
    doc.text("Marker", marker.as_deref().unwrap_or(""))
        .text("IsTruncated", next.is_some())
        .opt("NextMarker", next.map(|z| &z.info.id))
        .text("MaxItems", max);
    Ok(reply(StatusCode::OK, doc))
}

async fn get_hosted_zone(
    State(s): State<ApiState>,
    R53Path(id): R53Path<String>,
    _signed: Signed,
) -> Result<Response, R53Error> {
    let id = bare_id(&id, "/hostedzone/").to_string();
    let (zone, servers) = call(&s, move |svc| {
        let zone = zone_with_count(svc, &id)?;
        let servers = name_servers(svc, &zone.info);
        Ok((zone, servers))
    })
    .await?;
    let mut doc = Doc::new("GetHostedZoneResponse");
    write_zone(&mut doc, &zone);
    write_delegation_set(&mut doc, &servers);
    Ok(reply(StatusCode::OK, doc))
}

async fn delete_hosted_zone(
    State(s): State<ApiState>,
    R53Path(id): R53Path<String>,
    _signed: Signed,
) -> Result<Response, R53Error> {
    let id = bare_id(&id, "/hostedzone/").to_string();
    let change = call(&s, move |svc| Ok(svc.delete_zone_changed(&id)?.1)).await?;
    let mut doc = Doc::new("DeleteHostedZoneResponse");
    write_change(&mut doc, &change);
    Ok(reply(StatusCode::OK, doc))
}

// ----- record sets -----

/// One record set of zone `zone_id`.
fn write_record_set(doc: &mut Doc, zone_id: &str, r: &RecordSetOut) {
    doc.open("ResourceRecordSet")
        .text("Name", &r.name)
        .text("Type", &r.rtype)
        .opt("SetIdentifier", r.set_identifier.as_ref())
        .opt("Weight", r.weight);
    if let Some([continent, country, subdivision]) = &r.geo_location {
        doc.open("GeoLocation")
            .opt("ContinentCode", continent.as_ref())
            .opt("CountryCode", country.as_ref())
            .opt("SubdivisionCode", subdivision.as_ref())
            .close();
    }
    doc.opt("Failover", r.failover.as_ref())
        .opt("MultiValueAnswer", r.multi_value_answer.then_some(true))
        .opt("TTL", r.ttl);
    if let Some((target, evaluate)) = &r.alias {
        doc.open("AliasTarget")
            .text("HostedZoneId", zone_id)
            .text("DNSName", target)
            .text("EvaluateTargetHealth", evaluate)
            .close();
    } else {
        doc.open("ResourceRecords");
        for v in &r.values {
            doc.open("ResourceRecord").text("Value", v).close();
        }
        doc.close();
    }
    doc.opt("HealthCheckId", r.health_check_id.as_ref()).close();
}

async fn change_record_sets(
    State(s): State<ApiState>,
    R53Path(id): R53Path<String>,
    Signed(body): Signed,
) -> Result<Response, R53Error> {
    let id = bare_id(&id, "/hostedzone/").to_string();
    let req: model::ChangeResourceRecordSetsRequest =
        xml::parse(&body).map_err(R53Error::invalid_input)?;
    let changes = req
        .change_batch
        .changes
        .items
        .iter()
        .map(|c| model::change_in(c, &id))
        .collect::<Result<Vec<_>, _>>()?;
    let batch = ChangeBatch {
        changes,
        comment: req.change_batch.comment,
    };
    let change = call(&s, move |svc| Ok(svc.apply(&id, batch)?)).await?;
    let mut doc = Doc::new("ChangeResourceRecordSetsResponse");
    write_change(&mut doc, &change);
    Ok(reply(StatusCode::OK, doc))
}

async fn list_record_sets(
    State(s): State<ApiState>,
    R53Path(id): R53Path<String>,
    R53Query(query): R53Query<HashMap<String, String>>,
    _signed: Signed,
) -> Result<Response, R53Error> {
    let id = bare_id(&id, "/hostedzone/").to_string();
    let max = max_items(&query, MAX_RECORD_SETS_PER_PAGE, MAX_RECORD_SETS_PER_PAGE)?;
    let start = match (
        query.get("name"),
        query.get("type"),
        query.get("identifier"),
    ) {
        (None, Some(_), _) => {
            return Err(R53Error::invalid_input(
                "StartRecordType requires StartRecordName",
            ));
        }
        (None, None, Some(_)) => {
            return Err(R53Error::invalid_input(
                "StartRecordIdentifier requires StartRecordName and StartRecordType",
            ));
        }
        (Some(_), None, Some(_)) => {
            return Err(R53Error::invalid_input(
                "StartRecordIdentifier requires StartRecordType",
            ));
        }
        (None, None, None) => None,
        (Some(name), rtype, identifier) => Some(model::order_key(
            &route53_name(&model::from_route53_name(name)),
            rtype.map_or("", String::as_str),
            identifier.map_or("", String::as_str),
        )),
    };
    let (zone, records, generated) = call(&s, move |svc| {
        let zone = svc.zone(&id)?;
        let records = svc.records(&id)?;
        let generated = generated_apex_sets(svc, &zone, &records);
        Ok((zone, records, generated))
    })
    .await?;
    let mut sets: Vec<(_, RecordSetOut)> = records
        .iter()
        .map(|r| model::record_out(r, &zone.name))
        .chain(generated)
        .map(|out| (out.key(), out))
        .collect();
    sets.sort_by(|a, b| model::compare(&a.0, &b.0));
    let first = match &start {
        None => 0,
        Some(start) => sets.partition_point(|(key, _)| model::compare(key, start).is_lt()),
    };
    let rest = &sets[first..];
    let page = &rest[..max.min(rest.len())];
    let next = rest.get(max).map(|(_, r)| r);
    let mut doc = Doc::new("ListResourceRecordSetsResponse");
    doc.open("ResourceRecordSets");
    for (_, r) in page {
        write_record_set(&mut doc, &zone.id, r);
    }
    doc.close();
    doc.text("IsTruncated", next.is_some());
    if let Some(next) = next {
        doc.text("NextRecordName", &next.name)
            .text("NextRecordType", &next.rtype)
            .opt("NextRecordIdentifier", next.set_identifier.as_ref());
    }
    doc.text("MaxItems", max);
    Ok(reply(StatusCode::OK, doc))
}

async fn get_change(
    State(s): State<ApiState>,
    R53Path(id): R53Path<String>,
    _signed: Signed,
) -> Result<Response, R53Error> {
    let id = bare_id(&id, "/change/").to_string();
    let change = call(&s, move |svc| Ok(svc.route53_change(&id)?)).await?;
    let mut doc = Doc::new("GetChangeResponse");
    write_change(&mut doc, &change);
    Ok(reply(StatusCode::OK, doc))
}

// ----- answers -----

async fn test_dns_answer(
    State(s): State<ApiState>,
    R53Query(query): R53Query<HashMap<String, String>>,
    _signed: Signed,
) -> Result<Response, R53Error> {
    let get = |key: &str, field: &str| {
        query
            .get(key)
            .cloned()
            .ok_or_else(|| R53Error::invalid_input(format!("{field} is required")))
    };
    let zone_id = get("hostedzoneid", "HostedZoneId")?;
    let name = get("recordname", "RecordName")?;
    let rtype = get("recordtype", "RecordType")?.to_ascii_uppercase();
    let zone_id = bare_id(&zone_id, "/hostedzone/").to_string();
    let qname = model::from_route53_name(&name);
    let qtype = rtype.clone();
    let (answer, servers) = call(&s, move |svc| {
        let zone = svc.zone(&zone_id)?;
        let answer = svc.test_answer(&qname, &qtype)?;
        Ok((answer, name_servers(svc, &zone)))
    })
    .await?;
    let mut doc = Doc::new("TestDNSAnswerResponse");
    doc.text(
        "Nameserver",
        servers.first().map_or("eightfold", String::as_str),
    )
    .text("RecordName", &name)
    .text("RecordType", &rtype)
    .open("RecordData");
    for line in &answer.answer {
        if let Some(data) = rdata(line, "") {
            doc.text("RecordDataEntry", data);
        }
    }
    doc.close()
        .text("ResponseCode", &answer.rcode)
        .text("Protocol", "UDP");
    Ok(reply(StatusCode::OK, doc))
}

async fn list_hosted_zones_by_name(
    State(s): State<ApiState>,
    R53Query(query): R53Query<HashMap<String, String>>,
    _signed: Signed,
) -> Result<Response, R53Error> {
    let max = max_items(&query, DEFAULT_LIST_ITEMS, MAX_LIST_ITEMS)?;
    let dns_name = query.get("dnsname");
    let zone_id = query
        .get("hostedzoneid")
        .map(|z| bare_id(z, "/hostedzone/").to_string());
    if zone_id.is_some() && dns_name.is_none() {
        return Err(R53Error::invalid_input("HostedZoneId requires DNSName"));
    }
    let mut zones = call(&s, zones_with_counts).await?;
    let key = |name: &str, id: &str| model::order_key(&route53_name(name), "", id);
    zones.sort_by(|a, b| {
        model::compare(
            &key(&a.info.name, &a.info.id),
            &key(&b.info.name, &b.info.id),
        )
    });
    let first = match dns_name {
        None => 0,
        Some(name) => {
            let start = key(
                &model::from_route53_name(name),
                zone_id.as_deref().unwrap_or(""),
            );
            zones
                .partition_point(|z| model::compare(&key(&z.info.name, &z.info.id), &start).is_lt())
        }
    };
    let rest = &zones[first..];
    let page = &rest[..max.min(rest.len())];
    let next = rest.get(max);
    let mut doc = Doc::new("ListHostedZonesByNameResponse");
    doc.open("HostedZones");
    for z in page {
        write_zone(&mut doc, z);
    }
    doc.close();
    doc.opt("DNSName", dns_name)
        .opt("HostedZoneId", zone_id.as_ref())
        .text("IsTruncated", next.is_some())
        .opt("NextDNSName", next.map(|z| route53_name(&z.info.name)))
        .opt(
            "NextHostedZoneId",
            next.map(|z| format!("/hostedzone/{}", z.info.id)),
        )
        .text("MaxItems", max);
    Ok(reply(StatusCode::OK, doc))
}

async fn hosted_zone_count(
    State(s): State<ApiState>,
    _signed: Signed,
) -> Result<Response, R53Error> {
    let n = call(&s, |svc| Ok(svc.zones().len())).await?;
    let mut doc = Doc::new("GetHostedZoneCountResponse");
    doc.text("HostedZoneCount", n);
    Ok(reply(StatusCode::OK, doc))
}

async fn health_check_count(
    State(s): State<ApiState>,
    _signed: Signed,
) -> Result<Response, R53Error> {
    let n = call(&s, |svc| Ok(svc.checks().len())).await?;
    let mut doc = Doc::new("GetHealthCheckCountResponse");
    doc.text("HealthCheckCount", n);
    Ok(reply(StatusCode::OK, doc))
}

#[cfg(test)]
mod tests {
    use super::extract::{UNVERIFIED_BODIES, UNVERIFIED_BODY_BUDGET_KIB};
    use std::sync::Arc;
    use std::time::SystemTime;

    use axum::body::{Body, Bytes, HttpBody};
    use axum::extract::Request;
    use http_body_util::BodyExt;
    use tokio_util::sync::CancellationToken;
    use tower::ServiceExt;

    use super::*;
    use crate::config::Config;
    use crate::store::Store;

    /// This layer alone, as it runs when the router lets Route 53
    /// requests through to it.
    fn app(token: Option<&str>) -> Router {
        let service = Service::start(
            Config::default(),
            None,
            Store::in_memory().unwrap(),
            CancellationToken::new(),
        )
        .unwrap();
        router().with_state(ApiState {
            service,
            metrics: Arc::new(crate::api::metrics::Metrics::default()),
            token: token.map(Into::into),
            api_hosts: Vec::new().into(),
        })
    }

    async fn send(
        app: &Router,
        authorization: Option<String>,
        date: Option<String>,
    ) -> (u16, String) {
        let mut request = axum::http::Request::builder()
            .method("GET")
            .uri("/2013-04-01/hostedzone?maxitems=5")
            .header("host", "127.0.0.1:8053");
        if let Some(a) = authorization {
            request = request.header("authorization", a);
        }
        if let Some(d) = date {
            request = request.header("x-amz-date", d);
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn signed(secret: &str) -> (String, String) {
        let date = sigv4::amz_date(SystemTime::now());
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:8053".parse().unwrap());
        headers.insert("x-amz-date", date.parse().unwrap());
        let uri: Uri = "/2013-04-01/hostedzone?maxitems=5".parse().unwrap();
        (sigv4::sign(&Method::GET, &uri, &headers, b"", secret), date)
    }

    /// A body that declares `0` bytes and never sends one: a request that
    /// waits on it did read before answering.
    struct Stalled(u64);

    impl HttpBody for Stalled {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
            std::task::Poll::Pending
        }

        fn size_hint(&self) -> hyper::body::SizeHint {
            hyper::body::SizeHint::with_exact(self.0)
        }
    }

    /// A CreateHostedZone POST declaring `size` bytes it never sends.
    fn stalled_post(authorization: Option<&str>, date: &str, size: u64) -> Request {
        let mut request = axum::http::Request::builder()
            .method("POST")
            .uri("/2013-04-01/hostedzone")
            .header("host", "127.0.0.1:8053")
            .header("x-amz-date", date);
        if let Some(a) = authorization {
            request = request.header("authorization", a);
        }
        request.body(Body::new(Stalled(size))).unwrap()
    }

    /// The answer to `request`, which must come within 5 s.
    async fn answer_now(app: &Router, request: Request) -> (u16, String) {
        let response = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            app.clone().oneshot(request),
        )
        .await
        .expect("answered without waiting for the body")
        .unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// A SigV4 header for [`stalled_post`] made with `secret`.
    fn post_signature(secret: &str, date: &str) -> String {
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:8053".parse().unwrap());
        headers.insert("x-amz-date", date.parse().unwrap());
        let uri: Uri = "/2013-04-01/hostedzone".parse().unwrap();
        sigv4::sign(&Method::POST, &uri, &headers, b"", secret)
    }

    #[tokio::test]
    async fn a_stranger_is_refused_before_the_body_is_read() {
        let app = app(Some("the-token"));
        let date = sigv4::amz_date(SystemTime::now());
        let good = post_signature("the-token", &date);
        let repeated = good.replace("host;x-amz-date", "host;host;x-amz-date");
        let old = sigv4::amz_date(SystemTime::now() - std::time::Duration::from_secs(3600));
        let cases = [
            (None, date.as_str(), "MissingAuthenticationToken"),
            (Some("Bearer nope"), &date, "InvalidClientTokenId"),
            (Some("AWS4-HMAC-SHA256 junk"), &date, "IncompleteSignature"),
            (Some(repeated.as_str()), &date, "IncompleteSignature"),
            (Some(good.as_str()), &old, "RequestExpired"),
        ];
        for (authorization, date, code) in cases {
            let request = stalled_post(authorization, date, 4 << 20);
            let (status, body) = answer_now(&app, request).await;
            assert_eq!(status, 403, "{authorization:?}: {body}");
            assert!(body.contains(&format!("<Code>{code}</Code>")), "{body}");
        }
    }

    #[tokio::test]
    async fn a_body_declared_over_the_limit_is_refused_unread() {
        let date = sigv4::amz_date(SystemTime::now());
        let size = super::super::MAX_BODY_BYTES as u64 + 1;
        let (status, body) = answer_now(&app(None), stalled_post(None, &date, size)).await;
        assert_eq!(status, 413, "{body}");
        assert!(body.contains("<Code>InvalidInput</Code>"), "{body}");
    }

    /// Headers that pass the pre-check can be forged; their uploads share
    /// a budget, so only 8 full-size ones are read at once.
    #[tokio::test]
    async fn forged_signatures_share_a_bounded_body_budget() {
        let app = app(Some("the-token"));
        let date = sigv4::amz_date(SystemTime::now());
        let forged = post_signature("not-the-token", &date);
        let size = super::super::MAX_BODY_BYTES as u64;
        let held: Vec<_> = (0..8)
            .map(|_| {
                let app = app.clone();
                let request = stalled_post(Some(&forged), &date, size);
                tokio::spawn(async move { app.oneshot(request).await })
            })
            .collect();
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while UNVERIFIED_BODIES.available_permits() > 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("8 uploads hold the whole budget");
        let (status, body) = answer_now(&app, stalled_post(Some(&forged), &date, size)).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("<Code>Throttling</Code>"), "{body}");
        // Bearer callers are authenticated before the body: no budget.
        let request = axum::http::Request::builder()
            .method("GET")
            .uri("/2013-04-01/hostedzonecount")
            .header("authorization", "Bearer the-token")
            .body(Body::empty())
            .unwrap();
        assert_eq!(answer_now(&app, request).await.0, 200);
        for task in held {
            task.abort();
            assert!(task.await.unwrap_err().is_cancelled());
        }
        assert_eq!(
            UNVERIFIED_BODIES.available_permits(),
            UNVERIFIED_BODY_BUDGET_KIB
        );
    }

    #[tokio::test]
    async fn malformed_percent_paths_get_invalid_input() {
        let get = |uri: &str, authorization: Option<String>| {
            let mut request = axum::http::Request::builder()
                .method("GET")
                .uri(uri)
                .header("host", "127.0.0.1:8053")
                .header("x-amz-date", sigv4::amz_date(SystemTime::now()));
            if let Some(a) = authorization {
                request = request.header("authorization", a);
            }
            request.body(Body::empty()).unwrap()
        };
        for uri in [
            "/2013-04-01/hostedzone/%€€",
            "/2013-04-01/hostedzone/%FF",
            "/2013-04-01/hostedzone/Z%",
            "/2013-04-01/healthcheck/%E2%82/status",
            "/2013-04-01/hostedzone/%C3%28/rrset",
        ] {
            let (status, body) = answer_now(&app(None), get(uri, None)).await;
            assert_eq!(status, 400, "{uri}: {body}");
            assert!(body.contains("<Code>InvalidInput</Code>"), "{body}");
            // With a token: the stranger learns nothing about the path.
            let app = app(Some("the-token"));
            let (status, body) = answer_now(&app, get(uri, None)).await;
            assert_eq!(status, 403, "{uri}: {body}");
            // A signed caller is told what is wrong with it.
            let mut headers = HeaderMap::new();
            headers.insert("host", "127.0.0.1:8053".parse().unwrap());
            headers.insert(
                "x-amz-date",
                sigv4::amz_date(SystemTime::now()).parse().unwrap(),
            );
            let parsed: Uri = uri.parse().unwrap();
            let auth = sigv4::sign(&Method::GET, &parsed, &headers, b"", "the-token");
            let (status, body) = answer_now(&app, get(uri, Some(auth))).await;
            assert_eq!(status, 400, "{uri}: {body}");
            assert!(body.contains("the path does not decode"), "{body}");
        }
    }

    #[tokio::test]
    async fn other_operations_get_route53_errors() {
        let app = app(None);
        for (method, uri, named) in [
            (
                "POST",
                "/2013-04-01/hostedzone/Z1",
                "UpdateHostedZoneComment (",
            ),
            (
                "GET",
                "/2013-04-01/trafficpolicies",
                "ListTrafficPolicies (",
            ),
            ("GET", "/2013-04-01/nothing", "is no Route 53 operation"),
        ] {
            let request = axum::http::Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status().as_u16(), 400);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let body = String::from_utf8_lossy(&body);
            assert!(body.contains("<Code>InvalidInput</Code>"), "{body}");
            assert!(body.contains(uri), "{body}");
            assert!(body.contains(named), "{body}");
        }
    }

    #[tokio::test]
    async fn without_a_token_any_signature_passes() {
        let app = app(None);
        let (status, body) = send(&app, Some("AWS4-HMAC-SHA256 junk".into()), None).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("<ListHostedZonesResponse"), "{body}");
    }

    #[tokio::test]
    async fn with_a_token_the_signature_or_the_bearer_must_match() {
        let app = app(Some("the-token"));
        let (auth, date) = signed("the-token");
        assert_eq!(send(&app, Some(auth), Some(date)).await.0, 200);
        let (auth, date) = signed("not-the-token");
        let (status, body) = send(&app, Some(auth), Some(date)).await;
        assert_eq!(status, 403);
        assert!(
            body.contains("<Code>SignatureDoesNotMatch</Code>"),
            "{body}"
        );
        let (status, body) = send(&app, None, None).await;
        assert_eq!(status, 403);
        assert!(
            body.contains("<Code>MissingAuthenticationToken</Code>"),
            "{body}"
        );
        assert_eq!(
            send(&app, Some("Bearer the-token".into()), None).await.0,
            200
        );
        assert_eq!(send(&app, Some("Bearer nope".into()), None).await.0, 403);
    }

    /// A zone that would take an in-zone name server with no address is
    /// refused as InvalidInput naming the server and what to add.
    #[tokio::test]
    async fn create_hosted_zone_refuses_an_in_zone_name_server_without_addresses() {
        let config = Config {
            nameservers: vec![crate::nameservers::NameServer {
                name: Some(crate::config::parse_absolute("ns.api.test.").unwrap()),
                addresses: Vec::new(),
            }],
            ..Config::default()
        };
        let service = Service::start(
            config,
            None,
            Store::in_memory().unwrap(),
            CancellationToken::new(),
        )
        .unwrap();
        let app = router().with_state(ApiState {
            service,
            metrics: Arc::new(crate::api::metrics::Metrics::default()),
            token: None,
            api_hosts: Vec::new().into(),
        });
        let create = |zone: &str| {
            axum::http::Request::builder()
                .method("POST")
                .uri("/2013-04-01/hostedzone")
                .header("host", "127.0.0.1:8053")
                .body(Body::from(format!(
                    "<CreateHostedZoneRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Name>{zone}</Name><CallerReference>{zone}</CallerReference></CreateHostedZoneRequest>"
                )))
                .unwrap()
        };
        let (status, body) = answer_now(&app, create("api.test.")).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("<Code>InvalidInput</Code>"), "{body}");
        assert!(
            body.contains("zone api.test would take name server ns.api.test, which lies inside it and has no address there"),
            "{body}"
        );
        let (status, body) = answer_now(&app, create("other.test.")).await;
        assert_eq!(status, 201, "{body}");
    }
}
