//! Route 53's error replies: `<ErrorResponse><Error><Type/><Code/>
//! <Message/></Error><RequestId/></ErrorResponse>` with the HTTP status of
//! the botocore model, which is how boto3 and the aws CLI pick the
//! exception (`e.response["Error"]["Code"]`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::xml::Doc;
use crate::service::ServiceError;

/// An error in Route 53's shape.
#[derive(Debug)]
pub struct R53Error {
    /// HTTP status.
    pub status: StatusCode,
    /// Route 53 error code, e.g. `NoSuchHostedZone`.
    pub code: &'static str,
    /// Every message (InvalidChangeBatch: one per problem).
    pub messages: Vec<String>,
}

impl R53Error {
    /// `InvalidInput` (400) with one message.
    pub fn invalid_input(message: impl Into<String>) -> R53Error {
        R53Error {
            status: StatusCode::BAD_REQUEST,
            code: "InvalidInput",
            messages: vec![message.into()],
        }
    }

    /// An error with one message and the status Route 53 uses for `code`.
    pub fn new(code: &'static str, message: impl Into<String>) -> R53Error {
        R53Error {
            status: status_of(code),
            code,
            messages: vec![message.into()],
        }
    }
}

/// The HTTP status of each Route 53 error code (botocore's model; 400 for
/// the ones it leaves unset, as Route 53 answers).
fn status_of(code: &str) -> StatusCode {
    match code {
        "NoSuchHostedZone" | "NoSuchHealthCheck" | "NoSuchChange" => StatusCode::NOT_FOUND,
        "HostedZoneAlreadyExists" | "HealthCheckAlreadyExists" | "HealthCheckVersionMismatch" => {
            StatusCode::CONFLICT
        }
        "ServiceUnavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl From<ServiceError> for R53Error {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid { code, details, .. } => R53Error {
                status: StatusCode::BAD_REQUEST,
                code,
                messages: details,
            },
            ServiceError::NotFound { code, message } => R53Error::new(code, message),
            // Route 53 has no "managed elsewhere": the request is invalid.
            ServiceError::Conflict {
                code: "FileManaged",
                message,
            } => R53Error::invalid_input(message),
            ServiceError::Conflict { code, message } => R53Error::new(code, message),
            ServiceError::Store(e) => {
                tracing::error!("{e}");
                R53Error::new(
                    "ServiceUnavailable",
                    format!("{e}; nothing was changed and DNS keeps answering from memory"),
                )
            }
        }
    }
}

/// A fresh request id, sent in the body and the `x-amzn-RequestId` header.
pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl IntoResponse for R53Error {
    fn into_response(self) -> Response {
        let id = request_id();
        let mut doc = Doc::new("ErrorResponse");
        doc.open("Error");
        doc.text(
            "Type",
            if self.status.is_server_error() {
                "Receiver"
            } else {
                "Sender"
            },
        );
        doc.text("Code", self.code);
        // InvalidChangeBatch: Route 53 lists the problems in brackets in
        // Message, and one by one in Messages (the model's shape).
        if self.code == "InvalidChangeBatch" {
            doc.text("Message", format!("[{}]", self.messages.join(", ")));
            doc.open("Messages");
            for m in &self.messages {
                doc.text("Message", m);
            }
            doc.close();
        } else {
            doc.text("Message", self.messages.join("; "));
        }
        doc.close();
        doc.text("RequestId", &id);
        let mut response = (self.status, doc.finish()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
        if let Ok(v) = HeaderValue::from_str(&id) {
            headers.insert("x-amzn-RequestId", v);
        }
        response
    }
}
