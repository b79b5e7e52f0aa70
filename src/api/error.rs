//! API errors: an HTTP status, a stable machine-readable code and a
//! message that says what to fix, as `{"error": {"code", "message"}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::service::ServiceError;

/// An error reply of the JSON API.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code, e.g. `InvalidChangeBatch`.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// Every problem, when there are several.
    pub details: Vec<String>,
}

impl ApiError {
    /// An error with one message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let message = e.to_string();
        match e {
            ServiceError::Invalid { code, details, .. } => ApiError {
                status: StatusCode::BAD_REQUEST,
                code,
                message,
                details,
            },
            ServiceError::NotFound { code, .. } => {
                ApiError::new(StatusCode::NOT_FOUND, code, message)
            }
            ServiceError::Conflict { code, .. } => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            // Two nodes wrote at once and this one lost: the message says
            // to send again, which then applies on top of the other write.
            ServiceError::Store(crate::store::StoreError::Conflict { .. }) => {
                ApiError::new(StatusCode::CONFLICT, "ConcurrentModification", message)
            }
            // Nothing was changed; the database may come back (disk space,
            // permissions), so this is "unavailable", not a bug.
            ServiceError::Store(_) => {
                tracing::error!("{message}");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "StorageUnavailable",
                    format!("{message}; nothing was changed and DNS keeps answering from memory"),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = serde_json::json!({ "code": self.code, "message": self.message });
        if self.details.len() > 1 {
            error["details"] = serde_json::json!(self.details);
        }
        (self.status, Json(serde_json::json!({ "error": error }))).into_response()
    }
}
