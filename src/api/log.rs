//! The request log: one line per API request at info (method, path, Route 53
//! operation, status, duration), and the body of an error reply at debug,
//! so an operator can see which call a tool failed on and why.
//!
//! One middleware around the whole router, outermost, so refusals by the
//! browser guard, the token check and the extractors are logged like any
//! answer.

use std::time::Instant;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;

use super::route53::operation;

/// Largest error body logged at debug; a larger one is noted, not read
/// (every error eightfold writes is far smaller).
const MAX_LOGGED_ERROR_BODY: u64 = 16 * 1024;

/// Logs `request` and its response; see the module documentation.
pub async fn requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    // The path only: a query string may carry a session's values.
    let path = request.uri().path().to_owned();
    let op = operation::name(method.as_str(), &path);
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        method = %method,
        path = %path,
        operation = %op.unwrap_or("-"),
        status,
        duration_ms = format_args!("{duration_ms:.1}"),
        "api request"
    );
    if status < 400 || !tracing::enabled!(tracing::Level::DEBUG) {
        return response;
    }
    let (parts, body) = response.into_parts();
    match body.size_hint().exact() {
        Some(len) if len <= MAX_LOGGED_ERROR_BODY => {
            // A body of known small size is already in memory: reading
            // it waits on nothing.
            let bytes = match body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) => {
                    tracing::debug!(status, error = %e, "api error body unreadable");
                    return Response::from_parts(parts, Body::empty());
                }
            };
            tracing::debug!(
                status,
                body = %String::from_utf8_lossy(&bytes),
                "api error reply"
            );
            Response::from_parts(parts, Body::from(bytes))
        }
        len => {
            tracing::debug!(status, length = ?len, "api error reply (body not logged)");
            Response::from_parts(parts, body)
        }
    }
}
