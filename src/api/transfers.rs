//! `/v1/zones/{zone}/transfers`: the transfer settings a zone is served
//! with (read for any zone; set or cleared for API zones).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::{ApiError, ApiState, JsonBody, JsonPath, call, ok};
use crate::input::TransfersInput;
use crate::service::{TransfersSource, ZoneTransfers};

/// A zone's settings as the API shows them: the input's fields, the zone
/// and where they come from.
#[derive(Serialize)]
struct View {
    zone: String,
    /// `api`, `config` (the zone's `[[zone]]`) or `server`.
    source: &'static str,
    #[serde(flatten)]
    settings: TransfersInput,
}

fn view(t: ZoneTransfers) -> View {
    View {
        zone: format!("{}.", t.zone),
        source: match t.source {
            TransfersSource::Api => "api",
            TransfersSource::Config => "config",
            TransfersSource::Server => "server",
        },
        settings: TransfersInput::of(&t.settings),
    }
}

pub(super) async fn get_transfers(
    State(s): State<ApiState>,
    JsonPath(zone): JsonPath<String>,
) -> Result<Response, ApiError> {
    let t = call(&s, move |svc| svc.zone_transfers(&zone)).await?;
    Ok(ok(StatusCode::OK, view(t)))
}

pub(super) async fn put_transfers(
    State(s): State<ApiState>,
    JsonPath(zone): JsonPath<String>,
    JsonBody(input): JsonBody<TransfersInput>,
) -> Result<Response, ApiError> {
    let t = call(&s, move |svc| svc.set_zone_transfers(&zone, Some(input))).await?;
    Ok(ok(StatusCode::OK, view(t)))
}

pub(super) async fn delete_transfers(
    State(s): State<ApiState>,
    JsonPath(zone): JsonPath<String>,
) -> Result<Response, ApiError> {
    let t = call(&s, move |svc| svc.set_zone_transfers(&zone, None)).await?;
    Ok(ok(StatusCode::OK, view(t)))
}
