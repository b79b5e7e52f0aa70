//! The HTTP API: eightfold's own JSON API under `/v1`, `/metrics` and
//! `/healthz`. A thin layer: it parses requests, calls the [`Service`] on a
//! blocking thread, and renders results and errors; the JSON shapes are
//! in [`json`], the spellings every API shares in [`words`].
//!
//! Architecture invariant: no business rule lives here; the Route 53 layer
//! and this one call the same service methods.

pub mod browser;
pub mod error;
pub mod json;
pub mod log;
pub mod metrics;
pub mod page;
pub mod route53;
pub mod serve;
pub mod tls;
mod transfers;
pub mod words;

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use error::ApiError;

use crate::input::{HealthCheckInput, TsigKeyInput};
use crate::service::{Service, ServiceError};
use json::{AsJson, ChangeBatchBody, list};

/// Largest request body accepted: room for a full 1,000-change batch.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct ApiState {
    /// The management service.
    pub service: Arc<Service>,
    /// DNS query counters, for `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// The bearer token every request must carry, when set.
    pub token: Option<Arc<str>>,
    /// Host names accepted in `Host` besides addresses and `localhost`
    /// (`[server] api_hosts`).
    pub api_hosts: Arc<[String]>,
}

/// Builds the router: every route, the body limit, the token check,
/// before them the browser guard ([`browser`]), and around everything the
/// request log ([`log`]).
pub fn router(state: ApiState) -> Router {
    let guard = Arc::new(browser::BrowserGuard {
        token: state.token.is_some(),
        hosts: state.api_hosts.clone(),
    });
    let v1 = Router::new()
        .route("/zones", get(list_zones).post(create_zone))
        .route("/zones/{zone}", get(get_zone).delete(delete_zone))
        .route("/zones/{zone}/records", get(list_records))
        .route("/zones/{zone}/changes", post(apply_changes))
        .route(
            "/zones/{zone}/transfers",
            get(transfers::get_transfers)
                .put(transfers::put_transfers)
                .delete(transfers::delete_transfers),
        )
        .route("/health-checks", get(list_checks).post(create_check))
        .route(
            "/health-checks/{id}",
            get(get_check).put(update_check).delete(delete_check),
        )
        .route("/health-checks/{id}/status", get(check_status))
        .route("/health-checks/{id}/override", post(set_override))
        .route("/health-events", get(list_events))
        .route("/nodes", get(list_nodes))
        .route("/nodes/{name}", axum::routing::delete(forget_node))
        .route("/tsig-keys", get(list_keys).post(create_key))
        .route("/tsig-keys/{name}", get(get_key).delete(delete_key))
        .route("/test-answer", get(test_answer));
    Router::new()
        .nest("/v1", v1)
        .merge(route53::router())
        .route("/metrics", get(metrics::render))
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "NotFound", "no such endpoint") })
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        // The status page checks the token itself (bearer or session cookie).
        .merge(page::router(&state))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(guard, browser::guard))
        .layer(middleware::from_fn(log::requests))
        .with_state(state)
}

/// Rejects requests without the configured bearer token (401).
async fn require_token(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        return next.run(request).await;
    };
    // The Route 53 layer checks the token itself: as a bearer token, or
    // as the secret key of a SigV4 signature, which is what the aws CLI
    // and boto3 send.
    if request.uri().path().starts_with("/2013-04-01/") {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), token.as_bytes()) {
        next.run(request).await
    } else {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "missing or wrong bearer token: send `Authorization: Bearer <token>`",
        )
        .into_response()
    }
}

/// Compares without an early exit, so timing does not leak the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, &x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}

/// A JSON request body: 413 past [`MAX_BODY_BYTES`], 400 naming what is
/// wrong and where when it does not parse. Both as JSON errors, unlike
/// axum's own `Json` rejections (plain text).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state).await.map_err(|e| {
            if serve::is_body_timeout(&e) {
                ApiError::new(StatusCode::REQUEST_TIMEOUT, "RequestTimeout", e.body_text())
            } else if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestTooLarge",
                    format!("the body is over {MAX_BODY_BYTES} bytes; split the batch"),
                )
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "InvalidInput", e.body_text())
            }
        })?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidInput",
                format!("invalid JSON body: {e}"),
            )
        })
    }
}

/// A path parameter, with a JSON 400 when it does not decode (invalid
/// percent-encoding, not UTF-8) instead of axum's plain-text one.
pub struct JsonPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for JsonPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(JsonPath(value)),
            Err(e) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidInput",
                format!("the path does not decode: {}", e.body_text()),
            )),
        }
    }
}

/// A query string, with a JSON 400 naming what is wrong instead of axum's
/// plain-text one.
pub struct JsonQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for JsonQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(JsonQuery(value)),
            Err(e) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidInput",
                format!("the query string is not valid: {}", e.body_text()),
            )),
        }
    }
}

/// Runs `f` on a blocking thread (SQLite is synchronous), for the JSON
/// API, the Route 53 API and the page alike; then gives back the pages
/// that `f`'s garbage left free. Why: a change builds a snapshot beside
/// the published one on this thread (and stamps its serial on rayon's),
/// and mimalloc frees an emptied page only on its own thread, at that
/// thread's next allocation; these threads then idle, so each kept what
/// its last calls left. After 1,000 change batches memory stayed 4-5 MiB
/// above a fresh start's; with this, 2-3 (BENCHMARKS.md). It costs less
/// than the run-to-run noise of a change's round trip (~8 ms).
pub(crate) async fn on_blocking_thread<T: Send + 'static>(
    service: &Arc<Service>,
    f: impl FnOnce(&Service) -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    let service = service.clone();
    tokio::task::spawn_blocking(move || {
        let out = f(&service);
        crate::memory::trim();
        out
    })
    .await
}

/// Runs a service call on a blocking thread ([`on_blocking_thread`]).
async fn call<T: Send + 'static>(
    state: &ApiState,
    f: impl FnOnce(&Service) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ApiError> {
    on_blocking_thread(&state.service, f)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                format!("request failed: {e}"),
            )
        })?
        .map_err(ApiError::from)
}

fn ok<T: serde::Serialize>(status: StatusCode, body: T) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn list_zones(State(s): State<ApiState>) -> Result<Response, ApiError> {
    let zones = call(&s, |svc| Ok(svc.zones())).await?;
    Ok(ok(
        StatusCode::OK,
        serde_json::json!({ "zones": list(&zones) }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewZone {
    name: String,
    #[serde(default)]
    comment: Option<String>,
}

async fn create_zone(
    State(s): State<ApiState>,
    JsonBody(zone): JsonBody<NewZone>,
) -> Result<Response, ApiError> {
    let info = call(&s, move |svc| {
        svc.create_zone(&zone.name, zone.comment, None)
    })
    .await?;
    Ok(ok(StatusCode::CREATED, AsJson(&info)))
}

async fn get_zone(
    State(s): State<ApiState>,
    JsonPath(zone): JsonPath<String>,
) -> Result<Response, ApiError> {
    let (info, records) = call(&s, move |svc| Ok((svc.zone(&zone)?, svc.records(&zone)?))).await?;
    Ok(ok(
        StatusCode::OK,
        serde_json::json!({ "zone": AsJson(&info), "records": records }),
    ))
}

async fn delete_zone(
    State(s): State<ApiState>,
    JsonPath(zone): JsonPath<String>,
) -> Result<Response, ApiError> {
    let info = call(&s, move |svc| svc.delete_zone(&zone)).await?;
    Ok(ok(StatusCode::OK, AsJson(&info)))
}

async fn list_records(
    State(s): State<ApiState>,
    JsonPath(zone): JsonPath<String>,
) -> Result<Response, ApiError> {
    let records = call(&s, move |svc| svc.records(&zone)).await?;
    Ok(ok(
        StatusCode::OK,
        serde_json::json!({ "records": records }),
    ))
}

async fn apply_changes(
    State(s): State<ApiState>,
    JsonPath(zone): JsonPath<String>,
    JsonBody(batch): JsonBody<ChangeBatchBody>,
) -> Result<Response, ApiError> {
    let info = call(&s, move |svc| svc.apply(&zone, batch.into())).await?;
    Ok(ok(
        StatusCode::OK,
        serde_json::json!({ "change": AsJson(&info) }),
    ))
}

async fn list_checks(State(s): State<ApiState>) -> Result<Response, ApiError> {
    let checks = call(&s, |svc| Ok(svc.checks())).await?;
    Ok(ok(
        StatusCode::OK,
        serde_json::json!({ "health_checks": list(&checks) }),
    ))
}

async fn create_check(
    State(s): State<ApiState>,
    JsonBody(input): JsonBody<HealthCheckInput>,
) -> Result<Response, ApiError> {
    let info = call(&s, move |svc| svc.create_check(input, None)).await?;
    Ok(ok(StatusCode::CREATED, AsJson(&info)))
}

async fn get_check(
    State(s): State<ApiState>,
    JsonPath(id): JsonPath<String>,
) -> Result<Response, ApiError> {
    let info = call(&s, move |svc| svc.check(&id)).await?;
    Ok(ok(StatusCode::OK, AsJson(&info)))
}

async fn update_check(
    State(s): State<ApiState>,
    JsonPath(id): JsonPath<String>,
    JsonBody(input): JsonBody<HealthCheckInput>,
) -> Result<Response, ApiError> {
    let info = call(&s, move |svc| svc.update_check(&id, input, None)).await?;
    Ok(ok(StatusCode::OK, AsJson(&info)))
}

async fn delete_check(
    State(s): State<ApiState>,
    JsonPath(id): JsonPath<String>,
) -> Result<Response, ApiError> {
    call(&s, move |svc| svc.delete_check(&id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_keys(State(s): State<ApiState>) -> Result<Response, ApiError> {
    let keys = call(&s, |svc| Ok(svc.tsig_keys())).await?;
    Ok(ok(
        StatusCode::OK,
        serde_json::json!({ "tsig_keys": list(&keys) }),
    ))
}

async fn create_key(
    State(s): State<ApiState>,
    JsonBody(input): JsonBody<TsigKeyInput>,
) -> Result<Response, ApiError> {
    let info = call(&s, move |svc| svc.create_tsig_key(input)).await?;
    Ok(ok(StatusCode::CREATED, AsJson(&info)))
}

async fn get_key(
    State(s): State<ApiState>,
    JsonPath(name): JsonPath<String>,
) -> Result<Response, ApiError> {
    let info = call(&s, move |svc| svc.tsig_key(&name)).await?;
    Ok(ok(StatusCode::OK, AsJson(&info)))
}

async fn delete_key(
    State(s): State<ApiState>,
    JsonPath(name): JsonPath<String>,
) -> Result<Response, ApiError> {
    call(&s, move |svc| svc.delete_tsig_key(&name)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn check_status(
    State(s): State<ApiState>,
    JsonPath(id): JsonPath<String>,
) -> Result<Response, ApiError> {
    let state = call(&s, move |svc| svc.check_state(&id)).await?;
    Ok(ok(StatusCode::OK, AsJson(&state)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Override {
    status: Option<String>,
}

async fn set_override(
    State(s): State<ApiState>,
    JsonPath(id): JsonPath<String>,
    JsonBody(o): JsonBody<Override>,
) -> Result<Response, ApiError> {
    let forced = match o.status.as_deref() {
        None => None,
        Some("healthy") => Some(true),
        Some("unhealthy") => Some(false),
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidInput",
                format!("status: {other:?} is not \"healthy\", \"unhealthy\" or null"),
            ));
        }
    };
    let state = call(&s, move |svc| svc.set_override(&id, forced)).await?;
    Ok(ok(StatusCode::OK, AsJson(&state)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventQuery {
    check: Option<String>,
    since: Option<String>,
    limit: Option<usize>,
}

async fn list_events(
    State(s): State<ApiState>,
    JsonQuery(q): JsonQuery<EventQuery>,
) -> Result<Response, ApiError> {
    let since = match &q.since {
        None => None,
        Some(text) => Some(parse_time(text)?),
    };
    let events = call(&s, move |svc| {
        svc.events(q.check.as_deref(), since, q.limit)
    })
    .await?;
    Ok(ok(
        StatusCode::OK,
        serde_json::json!({ "events": list(&events) }),
    ))
}

/// Every node of the store, from this node's last heartbeat: never waits
/// on the database.
async fn list_nodes(State(s): State<ApiState>) -> Response {
    let nodes = s.service.nodes();
    ok(StatusCode::OK, serde_json::json!({ "nodes": list(&nodes) }))
}

async fn forget_node(
    State(s): State<ApiState>,
    JsonPath(name): JsonPath<String>,
) -> Result<Response, ApiError> {
    call(&s, move |svc| svc.forget_node(&name)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// RFC 3339 (`2026-11-25T12:00:00Z`) or seconds since the epoch.
fn parse_time(text: &str) -> Result<SystemTime, ApiError> {
    let invalid = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            format!("since: {text:?} is not an RFC 3339 time or a number of seconds"),
        )
    };
    if let Ok(secs) = text.parse::<u64>() {
        // Past the clock's range is a bad request, not a panic.
        return SystemTime::UNIX_EPOCH
            .checked_add(std::time::Duration::from_secs(secs))
            .ok_or_else(invalid);
    }
    humantime::parse_rfc3339_weak(text).map_err(|_| invalid())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerQuery {
    name: String,
    #[serde(rename = "type", default = "default_type")]
    rtype: String,
}

fn default_type() -> String {
    "A".into()
}

async fn test_answer(
    State(s): State<ApiState>,
    JsonQuery(q): JsonQuery<AnswerQuery>,
) -> Result<Response, ApiError> {
    let answer = call(&s, move |svc| svc.test_answer(&q.name, &q.rtype)).await?;
    Ok(ok(StatusCode::OK, AsJson(&answer)))
}
