//! Why the service refuses a request, and the wording of field problems.

use crate::input::FieldError;
use crate::store::StoreError;

/// Why a request was refused; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is wrong (HTTP 400).
    #[error("{message}")]
    Invalid {
        /// Stable machine-readable code, e.g. `InvalidChangeBatch`.
        code: &'static str,
        /// What to fix.
        message: String,
        /// Every problem, one per change or field.
        details: Vec<String>,
    },
    /// No such object (HTTP 404).
    #[error("{message}")]
    NotFound {
        /// `NoSuchHostedZone` or `NoSuchHealthCheck`.
        code: &'static str,
        /// Which object.
        message: String,
    },
    /// The request conflicts with what exists (HTTP 409).
    #[error("{message}")]
    Conflict {
        /// Stable machine-readable code.
        code: &'static str,
        /// What conflicts and how to resolve it.
        message: String,
    },
    /// The database failed; nothing was changed (HTTP 500/503).
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl ServiceError {
    pub(super) fn invalid(code: &'static str, details: Vec<String>) -> ServiceError {
        ServiceError::Invalid {
            code,
            message: details.join("; "),
            details,
        }
    }

    pub(super) fn no_zone(name: &str) -> ServiceError {
        ServiceError::NotFound {
            code: "NoSuchHostedZone",
            message: format!("no zone {name}"),
        }
    }

    pub(super) fn no_check(id: &str) -> ServiceError {
        ServiceError::NotFound {
            code: "NoSuchHealthCheck",
            message: format!("no health check {id:?}"),
        }
    }
}

pub(super) fn field_problem(at: &str, e: &FieldError) -> String {
    match (e.field, e.index) {
        ("", _) => format!("{at}: {}", e.message),
        (field, Some(i)) => format!("{at}: field {field}[{i}]: {}", e.message),
        (field, None) => format!("{at}: field {field}: {}", e.message),
    }
}
