//! What a Route 53 request carries, taken apart with authentication
//! first: [`Signed`] (the body, once the caller is known), [`R53Path`] and
//! [`R53Query`] (Route 53-shaped 400s for malformed escapes).

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::error::R53Error;
use super::sigv4;
use crate::api::ApiState;

/// Kibibytes of body that requests whose signature is not verified yet
/// may hold at once: 8 bodies of the largest size. A SigV4 signature
/// covers the body, so it can only be checked once the body is read, and
/// a stranger can forge headers that pass [`sigv4::precheck`]; such
/// uploads share this budget instead of each taking up to
/// [`crate::api::MAX_BODY_BYTES`]. The bearer token, checked before the body,
/// needs no budget.
pub(super) const UNVERIFIED_BODY_BUDGET_KIB: usize = 8 * crate::api::MAX_BODY_BYTES / 1024;

pub(super) static UNVERIFIED_BODIES: Semaphore = Semaphore::const_new(UNVERIFIED_BODY_BUDGET_KIB);

/// A request body whose signature passed: with a token configured, the
/// bearer token or an AWS SigV4 signature made with the token as the secret
/// access key ([`sigv4`]); without one, anything (signatures unchecked).
///
/// Authentication comes before work: the bearer token, or every SigV4
/// check that needs no body ([`sigv4::precheck`]), runs before a byte of
/// the body is read; a declared body over the size limit is refused
/// unread; the body of a pre-checked SigV4 request is read within
/// [`UNVERIFIED_BODY_BUDGET_KIB`], then its signature verified.
pub struct Signed(pub Bytes);

/// Authenticates what can be from the headers alone (no body read).
/// `None`: nothing is left to check (no token, or the bearer token
/// matched); else a SigV4 header that passed every check but the
/// signature, which needs the body.
fn authenticate<'a>(
    parts: &'a Parts,
    state: &ApiState,
) -> Result<Option<sigv4::Prechecked<'a>>, R53Error> {
    let Some(token) = &state.token else {
        return Ok(None);
    };
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(given) = bearer {
        if crate::api::constant_time_eq(given.as_bytes(), token.as_bytes()) {
            return Ok(None);
        }
        return Err(R53Error {
            status: StatusCode::FORBIDDEN,
            code: "InvalidClientTokenId",
            messages: vec!["wrong bearer token".into()],
        });
    }
    sigv4::precheck(
        &parts.method,
        &parts.uri,
        &parts.headers,
        std::time::SystemTime::now(),
    )
    .map(Some)
    .map_err(forbidden)
}

fn forbidden(refused: sigv4::Refused) -> R53Error {
    R53Error {
        status: StatusCode::FORBIDDEN,
        code: refused.code,
        messages: vec![refused.message],
    }
}

fn too_large() -> R53Error {
    R53Error {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: "InvalidInput",
        messages: vec![format!(
            "the body is over {} bytes; split the change batch",
            crate::api::MAX_BODY_BYTES
        )],
    }
}

/// Whether `error` or one of its sources is a `T`.
fn caused_by<T: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(error);
    while let Some(e) = cur {
        if e.is::<T>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// Reads the whole body, at most [`crate::api::MAX_BODY_BYTES`].
async fn read_body(body: Body) -> Result<Bytes, R53Error> {
    axum::body::to_bytes(body, crate::api::MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            if crate::api::serve::is_body_timeout(&e) {
                R53Error {
                    status: StatusCode::REQUEST_TIMEOUT,
                    code: "RequestTimeout",
                    messages: vec![e.to_string()],
                }
            } else if caused_by::<http_body_util::LengthLimitError>(&e) {
                too_large()
            } else {
                R53Error::invalid_input(format!("cannot read the body: {e}"))
            }
        })
}

/// A share of [`UNVERIFIED_BODIES`] for a body of at most `bytes`.
fn reserve(bytes: u64) -> Result<SemaphorePermit<'static>, R53Error> {
    let kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
    UNVERIFIED_BODIES.try_acquire_many(kib).map_err(|_| {
        R53Error::new(
            "Throttling",
            "too many uploads are waiting for their signature to be checked; retry shortly",
        )
    })
}

impl FromRequest<ApiState> for Signed {
    type Rejection = R53Error;

    async fn from_request(request: Request, state: &ApiState) -> Result<Self, R53Error> {
        let (parts, body) = request.into_parts();
        let caller = authenticate(&parts, state)?;
        // Content-Length past the limit: refused unread.
        let max = crate::api::MAX_BODY_BYTES as u64;
        let hint = body.size_hint();
        if hint.lower() > max {
            return Err(too_large());
        }
        let Some(checked) = caller else {
            return read_body(body).await.map(Signed);
        };
        let _permit = reserve(hint.upper().unwrap_or(max).min(max))?;
        let bytes = read_body(body).await?;
        let token = state.token.as_deref().unwrap_or_default();
        checked.verify(&bytes, token).map_err(forbidden)?;
        Ok(Signed(bytes))
    }
}

/// Whether every `%` of `path` starts an escape `%XX`.
fn escapes_are_valid(path: &str) -> bool {
    let b = path.as_bytes();
    b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

/// A path parameter, with Route 53's `400 InvalidInput` when the path
/// holds a `%` that starts no escape or decodes to something other than
/// UTF-8 (axum alone would pass the first through and answer the second in
/// plain text). A caller the headers do not authenticate gets the
/// authentication error instead.
pub struct R53Path<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<ApiState> for R53Path<T> {
    type Rejection = R53Error;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, R53Error> {
        let problem = if escapes_are_valid(parts.uri.path()) {
            match Path::<T>::from_request_parts(parts, state).await {
                Ok(Path(value)) => return Ok(R53Path(value)),
                Err(e) => e.body_text(),
            }
        } else {
            "a `%` that is not followed by two hexadecimal digits".to_string()
        };
        authenticate(parts, state)?;
        Err(R53Error::invalid_input(format!(
            "the path does not decode: {problem}; percent-encode it as UTF-8"
        )))
    }
}

/// A query string, with Route 53's `400 InvalidInput` when it does not
/// parse (after authentication, as [`R53Path`]).
pub struct R53Query<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<ApiState> for R53Query<T> {
    type Rejection = R53Error;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, R53Error> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(R53Query(value)),
            Err(e) => {
                authenticate(parts, state)?;
                Err(R53Error::invalid_input(format!(
                    "the query string is not valid: {}",
                    e.body_text()
                )))
            }
        }
    }
}
