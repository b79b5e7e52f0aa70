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
        "NoSuchHostedZone" | "NoSuchHealthCheck" | "NoSuchChange" | "NoSuchGeoLocation" => {
            StatusCode::NOT_FOUND
        }
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
                messages: details.iter().map(|d| route53_words(d)).collect(),
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

/// The service names fields as eightfold's schema spells them (`field
/// ttl:`); a Route 53 user sent them under Route 53's names.
const FIELD_NAMES: &[(&str, &str)] = &[
    ("field name:", "Name:"),
    ("field type:", "Type:"),
    ("field ttl:", "TTL:"),
    ("field routing:", "routing policy:"),
    ("field set:", "SetIdentifier:"),
    ("field value:", "ResourceRecords:"),
    ("field values:", "ResourceRecords:"),
    ("field values[", "ResourceRecords["),
    ("field health_check:", "HealthCheckId:"),
    ("field failover:", "Failover:"),
    ("field weight:", "Weight:"),
    ("field ip:", "IPAddress:"),
    ("field fqdn:", "FullyQualifiedDomainName:"),
    ("field port:", "Port:"),
    ("field path:", "ResourcePath:"),
    ("field host:", "FullyQualifiedDomainName:"),
    ("field search:", "SearchString:"),
    ("field interval:", "RequestInterval:"),
    ("field failure_threshold:", "FailureThreshold:"),
    ("field children:", "ChildHealthChecks:"),
    ("field children[", "ChildHealthChecks["),
    ("field healthy_threshold:", "HealthThreshold:"),
];

/// A service message with Route 53's field names.
pub fn route53_words(message: &str) -> String {
    FIELD_NAMES
        .iter()
        .fold(message.to_string(), |m, (ours, theirs)| {
            m.replace(ours, theirs)
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_are_route53_names() {
        assert_eq!(
            route53_words("change 2 (create www A): field values[0]: www A: invalid IPv4 address"),
            "change 2 (create www A): ResourceRecords[0]: www A: invalid IPv4 address"
        );
        assert_eq!(
            route53_words("health check: field interval: must be between 1s and 300s"),
            "health check: RequestInterval: must be between 1s and 300s"
        );
    }
}
