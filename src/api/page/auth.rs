//! Who may see and change what through the pages.
//!
//! Without a token everything is open, as the JSON API is, and the
//! browser guard (`api::browser`) keeps other sites' pages and rebound
//! names out. With a token a request counts when it carries the token as
//! a bearer (curl, scripts) or a session cookie got by signing in
//! (`/login`, a form: the tables work without JavaScript). A cookie is
//! sent by the browser on its own, so every write that may ride on one
//! (the override switch, signing out) must also come from this origin:
//! `Origin` naming the host the request was sent to.

use std::time::SystemTime;

use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, RequestPartsExt};
use ring::digest;
use serde::Deserialize;

use super::PageState;
use super::html::{Frame, Section, page};
use super::session::{self, Rights};
use super::views;

/// The person behind a request, once let in.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    /// What they may do.
    pub rights: Rights,
    /// Whether a session cookie let them in (then "Sign out" is offered,
    /// and writes must prove their origin).
    pub by_cookie: bool,
}

/// Whether the request came over TLS (the listener marks it).
pub fn is_tls(parts: &Parts) -> bool {
    parts.extensions.get::<crate::api::serve::Tls>().is_some()
}

/// Compares secrets through their digests: equal-length inputs to a
/// comparison without an early exit, so timing tells nothing.
fn same_secret(a: &str, b: &str) -> bool {
    let da = digest::digest(&digest::SHA256, a.as_bytes());
    let db = digest::digest(&digest::SHA256, b.as_bytes());
    da.as_ref()
        .iter()
        .zip(db.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Who sent `headers`, or `None` when a token is set and neither it nor
/// a live session came with them.
pub fn viewer(state: &PageState, headers: &HeaderMap, tls: bool) -> Option<Viewer> {
    let Some(token) = &state.api.token else {
        return Some(Viewer {
            rights: Rights::Write,
            by_cookie: false,
        });
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(given) = bearer {
        return same_secret(given, token).then_some(Viewer {
            rights: Rights::Write,
            by_cookie: false,
        });
    }
    let name = if tls {
        session::COOKIE_TLS
    } else {
        session::COOKIE
    };
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| session::from_cookie_header(h, name))
        .and_then(|id| state.sessions.rights(id))
        .map(|rights| Viewer {
            rights,
            by_cookie: true,
        })
}

impl FromRequestParts<PageState> for Viewer {
    type Rejection = Response;

    /// Lets a known viewer in; sends a browser asking for a page to the
    /// sign-in form, and anything else away with 401.
    async fn from_request_parts(parts: &mut Parts, state: &PageState) -> Result<Self, Response> {
        if let Some(v) = viewer(state, &parts.headers, is_tls(parts)) {
            return Ok(v);
        }
        if parts.method == axum::http::Method::GET || parts.method == axum::http::Method::HEAD {
            let here = parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string();
            let to = super::html::href("/login", &[("next", &here)]);
            return Err(Redirect::to(&to).into_response());
        }
        Err((
            StatusCode::UNAUTHORIZED,
            "sign in first (/login), or send Authorization: Bearer <token>\n",
        )
            .into_response())
    }
}

/// A viewer allowed to change things, whose request came from this
/// origin when a cookie carried it.
pub struct Writer;

impl FromRequestParts<PageState> for Writer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &PageState) -> Result<Self, Response> {
        let v: Viewer = parts.extract_with_state(state).await?;
        if v.rights < Rights::Write {
            return Err((StatusCode::FORBIDDEN, "this session may only read\n").into_response());
        }
        same_origin(&parts.headers, v.by_cookie)
            .map_err(|why| (StatusCode::FORBIDDEN, why).into_response())?;
        Ok(Writer)
    }
}

/// Refuses a write another origin's page sent. A browser says where a
/// request comes from in `Sec-Fetch-Site` (which no page can set) and in
/// `Origin`; a form posted under `Referrer-Policy: no-referrer` carries
/// `Origin: null`, so `Sec-Fetch-Site: same-origin` is enough. Without
/// it, a write that rides on a cookie must name this origin in `Origin`;
/// a bearer client (curl) sends neither.
pub fn same_origin(headers: &HeaderMap, by_cookie: bool) -> Result<(), String> {
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some("same-origin") => return Ok(()),
        Some("none") | None => {}
        Some(site) => {
            return Err(format!(
                "refused: a change sent from another site (Sec-Fetch-Site: {site})\n"
            ));
        }
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match headers.get(header::ORIGIN).map(HeaderValue::to_str) {
        Some(Ok(origin)) => {
            let authority = origin.split_once("://").map_or("", |(_, a)| a);
            if host.is_empty() || !authority.eq_ignore_ascii_case(host) {
                return Err(format!(
                    "refused: a change sent from another origin ({origin})\n"
                ));
            }
            Ok(())
        }
        Some(Err(_)) => Err("refused: an unreadable Origin\n".into()),
        None if by_cookie => {
            Err("refused: a change with a session cookie must carry Origin\n".into())
        }
        None => Ok(()),
    }
}

/// Where to go after signing in: a path of this site only (no
/// `//other.example`, no scheme), else the overview.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.starts_with("/login")
                && n.len() <= 2048
                && !n.chars().any(|c| c.is_control() || c == '\\') =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

/// `?next=` of the sign-in form.
#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// GET /login: the form, or straight on when there is nothing to sign
/// in to, or when already signed in.
pub async fn login_form(
    State(state): State<PageState>,
    Query(q): Query<NextQuery>,
    parts: Parts,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if viewer(&state, &parts.headers, is_tls(&parts)).is_some() {
        return Redirect::to(&next).into_response();
    }
    login_page(StatusCode::OK, &next, None)
}

fn login_page(status: StatusCode, next: &str, error: Option<&str>) -> Response {
    let frame = Frame {
        title: "Sign in",
        section: Section::Login,
        signed_in: false,
        now: SystemTime::now(),
    };
    super::html_response(status, page(&frame, &views::login::render(next, error)))
}

/// The sign-in form's fields.
#[derive(Deserialize)]
pub struct SignIn {
    token: String,
    next: Option<String>,
}

/// POST /login: the token for a session cookie. The token arrives in the
/// body only, and is logged nowhere.
pub async fn login(State(state): State<PageState>, parts: Parts, form: Form<SignIn>) -> Response {
    let next = safe_next(form.next.as_deref());
    if let Err(why) = same_origin(&parts.headers, true) {
        return (StatusCode::FORBIDDEN, why).into_response();
    }
    let Some(token) = &state.api.token else {
        return Redirect::to(&next).into_response();
    };
    if !same_secret(form.token.trim(), token) {
        tracing::info!("status page: sign-in refused (wrong token)");
        return login_page(
            StatusCode::UNAUTHORIZED,
            &next,
            Some("That is not the API token. Try again."),
        );
    }
    let id = match state.sessions.create(Rights::Write) {
        Ok(id) => id,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    };
    tracing::info!("status page: signed in");
    let cookie = session::set_cookie(&id, state.sessions.lifetime(), is_tls(&parts));
    see_other(&next, Some(cookie))
}

/// POST /logout: ends the session and deletes the cookie.
pub async fn logout(State(state): State<PageState>, parts: Parts) -> Response {
    if let Err(why) = same_origin(&parts.headers, true) {
        return (StatusCode::FORBIDDEN, why).into_response();
    }
    let tls = is_tls(&parts);
    let name = if tls {
        session::COOKIE_TLS
    } else {
        session::COOKIE
    };
    for value in parts.headers.get_all(header::COOKIE) {
        if let Some(id) = value
            .to_str()
            .ok()
            .and_then(|h| session::from_cookie_header(h, name))
        {
            state.sessions.remove(id);
        }
    }
    let to = if state.api.token.is_some() {
        "/login"
    } else {
        "/"
    };
    see_other(to, Some(session::clear_cookie(tls)))
}

fn see_other(to: &str, cookie: Option<String>) -> Response {
    let mut response = Redirect::to(to).into_response();
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, c);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn writes_must_come_from_this_origin_and_cookie_writes_must_say_so() {
        let host = ("host", "127.0.0.1:8053");
        assert!(same_origin(&headers(&[host, ("origin", "http://127.0.0.1:8053")]), true).is_ok());
        assert!(
            same_origin(&headers(&[host]), false).is_ok(),
            "curl with a bearer"
        );
        assert!(
            same_origin(&headers(&[host]), true).is_err(),
            "cookie without Origin"
        );
        let form = [host, ("origin", "null"), ("sec-fetch-site", "same-origin")];
        assert!(
            same_origin(&headers(&form), true).is_ok(),
            "a form under no-referrer"
        );
        for bad in [
            ("origin", "http://evil.example"),
            ("origin", "null"),
            ("origin", "http://127.0.0.1:9999"),
            ("sec-fetch-site", "same-site"),
            ("sec-fetch-site", "cross-site"),
        ] {
            assert!(
                same_origin(&headers(&[host, bad]), false).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/checks/web-1?q=x")), "/checks/web-1?q=x");
        for bad in [
            None,
            Some(""),
            Some("https://evil.example/"),
            Some("//evil.example/"),
            Some("/\\evil.example"),
            Some("/login?next=/"),
            Some("/a\nb"),
            Some("checks"),
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
    }

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(same_secret("token", "token"));
        assert!(!same_secret("token", "token2"));
        assert!(!same_secret("", "token"));
    }
}
