//! The status page (issue 15): server-rendered HTML on the API listener
//! at `/`, `/checks`, `/checks/{id}` and `/names`, answering an
//! operator's first questions in an incident: which endpoints are out,
//! since when, and what DNS answers now.
//!
//! Every asset is compiled in ([`assets`]); the tables are plain HTML and
//! work without JavaScript; the one script only polls the same URL and
//! swaps the regions marked `data-live`, applies filters without a
//! reload, and drives the override switch. docs/status-page.md has the
//! design and its reasons.
//!
//! Like the rest of `api`, it holds no rule: states come from the
//! checker, answers and their reasons from `Service::test_answer`.
//! Access is its own ([`auth`]): the bearer token or a session cookie.

pub mod assets;
pub mod auth;
pub mod data;
pub mod history;
pub mod html;
pub mod session;
pub mod timeline;
pub mod views;

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use self::auth::{Viewer, Writer};
use self::history::History;
use self::html::{Frame, Section, page};
use self::session::{Rights, Sessions};
use super::json::AsJson;
use super::{ApiError, ApiState};
use crate::service::{Service, ServiceError};

/// The policy on every page: this origin's files only, no inline script
/// or style, no framing, forms posting only here.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Largest override request body.
const OVERRIDE_BODY_BYTES: usize = 1024;
/// Largest sign-in form body.
const LOGIN_BODY_BYTES: usize = 4096;
/// Transitions on the overview.
const OVERVIEW_EVENTS: usize = 15;
/// Transitions in a check's event log.
const CHECK_EVENTS: usize = 50;

/// What the page handlers share.
#[derive(Clone)]
pub struct PageState {
    /// The API's state: the service and the token.
    pub api: ApiState,
    /// Sign-in sessions.
    pub sessions: Arc<Sessions>,
    /// The timelines' results.
    pub history: Arc<History>,
}

/// The page's routes, for `api::router` to merge. They check access
/// themselves ([`auth`]), so they go outside the bearer-only layer;
/// starts the timeline collector when a runtime is running.
pub fn router<S: Clone + Send + Sync + 'static>(api: &ApiState) -> Router<S> {
    let history = Arc::new(History::default());
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(history::collect(
            Arc::downgrade(&api.service),
            Arc::downgrade(&history),
        ));
    }
    let state = PageState {
        api: api.clone(),
        sessions: Arc::new(Sessions::default()),
        history,
    };
    Router::new()
        .route("/", get(overview))
        .route("/checks", get(checks))
        .route("/checks/{id}", get(check))
        .route(
            "/checks/{id}/override",
            post(set_override).layer(DefaultBodyLimit::max(OVERRIDE_BODY_BYTES)),
        )
        .route("/names", get(names))
        .route(
            "/login",
            get(auth::login_form)
                .post(auth::login)
                .layer(DefaultBodyLimit::max(LOGIN_BODY_BYTES)),
        )
        .route("/logout", post(auth::logout))
        .route("/assets/{file}", get(assets::serve))
        .layer(middleware::map_response(security_headers))
        .with_state(state)
}

/// The headers every page and asset carries.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    // Pages show live state (and, with a token, what a session may see):
    // never kept by a cache. Assets say otherwise themselves.
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// An HTML response.
pub fn html_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// A page that could not be made: an HTML page saying why.
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    message: String,
}

impl From<ServiceError> for PageError {
    fn from(e: ServiceError) -> Self {
        let message = e.to_string();
        PageError {
            status: ApiError::from(e).status,
            message,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let frame = Frame {
            title: "Error",
            section: Section::Overview,
            signed_in: false,
            now: SystemTime::now(),
        };
        let heading = if self.status == StatusCode::NOT_FOUND {
            "Not found"
        } else {
            "Something went wrong"
        };
        let body = format!(
            r#"<h1>{heading}</h1><p class="error">{}</p><p><a href="/">Back to the overview</a></p>"#,
            html::esc(&self.message)
        );
        html_response(self.status, page(&frame, &body))
    }
}

/// Runs service reads on a blocking thread ([`super::on_blocking_thread`]).
async fn blocking<T: Send + 'static>(
    state: &PageState,
    f: impl FnOnce(&Service) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, PageError> {
    super::on_blocking_thread(&state.api.service, f)
        .await
        .map_err(|e| PageError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("the request failed: {e}"),
        })?
        .map_err(PageError::from)
}

fn frame(title: &str, section: Section, viewer: Viewer) -> Frame<'_> {
    Frame {
        title,
        section,
        signed_in: viewer.by_cookie,
        now: SystemTime::now(),
    }
}

async fn overview(State(s): State<PageState>, viewer: Viewer) -> Result<Response, PageError> {
    let (zones, rows, events, routed) = blocking(&s, |svc| {
        Ok((
            svc.zones(),
            data::check_rows(svc),
            data::recent_events(svc, OVERVIEW_EVENTS)?,
            svc.routed_names(),
        ))
    })
    .await?;
    let f = frame("Overview", Section::Overview, viewer);
    let content = views::overview::render(&views::overview::Overview {
        zones: &zones,
        rows: &rows,
        events: &events,
        routed: &routed,
        now: f.now,
    });
    Ok(html_response(StatusCode::OK, page(&f, &content)))
}

async fn checks(
    State(s): State<PageState>,
    viewer: Viewer,
    Query(params): Query<views::checks::Params>,
) -> Result<Response, PageError> {
    let rows = blocking(&s, |svc| Ok(data::check_rows(svc))).await?;
    let f = frame("Checks", Section::Checks, viewer);
    let content = views::checks::render(&rows, &params, f.now);
    Ok(html_response(StatusCode::OK, page(&f, &content)))
}

async fn check(
    State(s): State<PageState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let now = SystemTime::now();
    let history = s.history.clone();
    let (row, window, events, points) = blocking(&s, move |svc| {
        let info = svc.check(&id)?;
        // A stored check that no longer validates is listed but not run.
        let state = svc.check_state(&id).ok();
        if let Some(state) = &state {
            history.absorb_one(state, now);
        }
        let start = now.checked_sub(history::WINDOW);
        let window = svc.events(Some(&id), start, None)?;
        let mut events = svc.events(Some(&id), None, Some(CHECK_EVENTS))?;
        events.reverse();
        Ok((
            data::CheckRow { info, state },
            window,
            events,
            history.points(&id),
        ))
    })
    .await?;
    let first = points.first().map(|p| p.at);
    let band = timeline::band(&window, row.standing().healthy(), first, now);
    let svg = timeline::svg(row.id(), &points, &band, now);
    let title = format!("Check {}", row.id());
    let f = frame(&title, Section::Checks, viewer);
    let content = views::check::render(&views::check::CheckPage {
        row: &row,
        timeline: &svg,
        events: &events,
        can_write: viewer.rights >= Rights::Write,
        now,
    });
    Ok(html_response(StatusCode::OK, page(&f, &content)))
}

async fn names(
    State(s): State<PageState>,
    viewer: Viewer,
    Query(params): Query<views::names::Params>,
) -> Result<Response, PageError> {
    use views::names::{Asked, MAX_NAMES, SAMPLES};
    let p = params.clone();
    let (views, matched, total, asked) = blocking(&s, move |svc| {
        let routed = svc.routed_names();
        let total = routed.len();
        let needle = p.q.trim().to_ascii_lowercase();
        let matching: Vec<_> = routed
            .into_iter()
            .filter(|r| needle.is_empty() || r.name.to_ascii_lowercase().contains(&needle))
            .collect();
        let matched = matching.len();
        let mut views = Vec::new();
        for routed in matching.into_iter().take(MAX_NAMES) {
            let rtype = routed.rtype.to_string();
            let (answer, samples) = data::sample(svc, &routed.name, &rtype, SAMPLES)?;
            views.push(data::NameView {
                routed,
                answer,
                samples,
            });
        }
        let rtype = if p.rtype.trim().is_empty() {
            "A"
        } else {
            p.rtype.trim()
        };
        let asked = if p.ask.trim().is_empty() {
            Asked::Nothing
        } else {
            match data::sample(svc, p.ask.trim(), rtype, SAMPLES) {
                Ok((answer, samples)) => Asked::Answers(answer, samples),
                Err(ServiceError::Invalid { message, .. }) => Asked::Invalid(message),
                Err(e) => return Err(e),
            }
        };
        Ok((views, matched, total, asked))
    })
    .await?;
    let f = frame("Names", Section::Names, viewer);
    let content = views::names::render(&views::names::NamesPage {
        params: &params,
        names: &views,
        matched,
        total,
        asked: &asked,
    });
    Ok(html_response(StatusCode::OK, page(&f, &content)))
}

/// The override switch's request: `healthy`, `unhealthy`, or `release`
/// (or null) to let the probes decide again.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideBody {
    status: Option<String>,
}

/// POST /checks/{id}/override: the page's switch, with the JSON API's
/// rules (a JSON body, which a cross-site form cannot send) plus the
/// origin check a cookie needs.
async fn set_override(
    State(s): State<PageState>,
    _writer: Writer,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "send the body as Content-Type: application/json",
        ));
    }
    let o: OverrideBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            format!("invalid JSON body: {e}"),
        )
    })?;
    let forced = match o.status.as_deref() {
        None | Some("release") => None,
        Some("healthy") => Some(true),
        Some("unhealthy") => Some(false),
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidInput",
                format!("status: {other:?} is not \"healthy\", \"unhealthy\" or \"release\""),
            ));
        }
    };
    let service = s.api.service.clone();
    let state = tokio::task::spawn_blocking(move || service.set_override(&id, forced))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                format!("request failed: {e}"),
            )
        })??;
    tracing::info!(check = %state.status.id, status = ?o.status, "override set from the status page");
    Ok((StatusCode::OK, axum::Json(AsJson(&state))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    const TOKEN: &str = "t0ken-for-tests";

    struct Page {
        router: Router,
        _dir: tempfile::TempDir,
    }

    fn page(token: Option<&str>) -> Page {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::config::Config::from_toml(
            std::path::Path::new("e.toml"),
            "[[health_check]]\nid = \"c\"\ntype = \"tcp\"\nip = \"127.0.0.1\"\nport = 9\ndisabled = true\n",
        )
        .unwrap();
        let store = crate::store::Store::open(&dir.path().join("e.db")).unwrap();
        let service = Service::start(
            config,
            None,
            store,
            tokio_util::sync::CancellationToken::new(),
        )
        .unwrap();
        let api = ApiState {
            service,
            metrics: Arc::new(crate::metrics::Metrics::default()),
            token: token.map(Into::into),
            api_hosts: Vec::new().into(),
        };
        Page {
            router: crate::api::router(api),
            _dir: dir,
        }
    }

    struct Reply {
        status: StatusCode,
        headers: HeaderMap,
        body: String,
    }

    async fn send(p: &Page, request: Request<Body>, tls: bool) -> Reply {
        let mut request = request;
        if tls {
            request.extensions_mut().insert(crate::api::serve::Tls);
        }
        let response = p.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    fn get(path: &str, extra: &[(&str, &str)]) -> Request<Body> {
        let mut r = Request::get(path).header("host", "127.0.0.1:8053");
        for (k, v) in extra {
            r = r.header(*k, *v);
        }
        r.body(Body::empty()).unwrap()
    }

    fn sign_in(token: &str, site: &str) -> Request<Body> {
        Request::post("/login")
            .header("host", "127.0.0.1:8053")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("sec-fetch-site", site)
            .header("origin", "null")
            .body(Body::from(format!("token={token}&next=%2Fchecks")))
            .unwrap()
    }

    fn cookie_of(reply: &Reply) -> String {
        let set = reply.headers[header::SET_COOKIE].to_str().unwrap();
        set.split(';').next().unwrap().to_string()
    }

    #[tokio::test]
    async fn over_tls_the_session_cookie_is_secure_and_host_only_and_works() {
        let p = page(Some(TOKEN));
        let reply = send(&p, sign_in(TOKEN, "same-origin"), true).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER);
        assert_eq!(reply.headers[header::LOCATION], "/checks");
        let set = reply.headers[header::SET_COOKIE].to_str().unwrap();
        assert!(set.starts_with("__Host-eightfold_session="), "{set}");
        for attribute in ["; Secure", "; HttpOnly", "; SameSite=Strict", "; Path=/"] {
            assert!(set.contains(attribute), "{set}");
        }
        assert!(!set.contains(TOKEN));
        let cookie = cookie_of(&reply);
        let ok = send(&p, get("/checks", &[("cookie", &cookie)]), true).await;
        assert_eq!(ok.status, StatusCode::OK);
        assert!(ok.body.contains(r#"data-check="c""#));
        assert!(
            ok.body.contains(r#"action="/logout""#),
            "a session offers sign-out"
        );
        // The __Host- cookie means nothing over plain HTTP.
        let plain = send(&p, get("/checks", &[("cookie", &cookie)]), false).await;
        assert_eq!(plain.status, StatusCode::SEE_OTHER);
    }

    #[tokio::test]
    async fn sign_in_refuses_other_sites_and_wrong_tokens_and_sign_out_ends_the_session() {
        let p = page(Some(TOKEN));
        let cross = send(&p, sign_in(TOKEN, "cross-site"), false).await;
        assert_eq!(cross.status, StatusCode::FORBIDDEN);
        assert!(!cross.headers.contains_key(header::SET_COOKIE));
        let wrong = send(&p, sign_in("nope", "same-origin"), false).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert!(wrong.body.contains("not the API token"));
        let reply = send(&p, sign_in(TOKEN, "same-origin"), false).await;
        let cookie = cookie_of(&reply);
        assert!(cookie.starts_with("eightfold_session="));
        let out = Request::post("/logout")
            .header("host", "127.0.0.1:8053")
            .header("sec-fetch-site", "same-origin")
            .header("cookie", &cookie)
            .body(Body::empty())
            .unwrap();
        let out = send(&p, out, false).await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
        assert!(
            out.headers[header::SET_COOKIE]
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
        let after = send(&p, get("/", &[("cookie", &cookie)]), false).await;
        assert_eq!(after.status, StatusCode::SEE_OTHER, "the session is gone");
    }

    #[tokio::test]
    async fn every_page_has_the_security_headers_and_assets_need_no_session() {
        let p = page(Some(TOKEN));
        let bearer = format!("Bearer {TOKEN}");
        for path in ["/", "/checks", "/checks/c", "/names", "/login"] {
            let r = send(&p, get(path, &[("authorization", &bearer)]), false).await;
            assert!(r.status.is_success() || r.status.is_redirection(), "{path}");
            assert_eq!(r.headers[header::CONTENT_SECURITY_POLICY], CSP, "{path}");
            assert_eq!(r.headers[header::X_FRAME_OPTIONS], "DENY");
            assert_eq!(r.headers[header::REFERRER_POLICY], "no-referrer");
            assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        }
        let css = send(&p, get("/assets/page.css", &[]), false).await;
        assert_eq!(css.status, StatusCode::OK);
        assert_eq!(css.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
        let missing = send(
            &p,
            get("/checks/nope", &[("authorization", &bearer)]),
            false,
        )
        .await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert!(missing.body.contains("no health check"));
        let unknown = send(&p, get("/assets/nope.js", &[]), false).await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        let outside = send(&p, get("/assets/../Cargo.toml", &[]), false).await;
        assert!(!outside.status.is_success(), "only the embedded files");
    }
}
