//! Keeps web pages away from the API. A browser on the operator's machine
//! can reach a loopback API, and without a token nothing else stands
//! between a malicious page and DNS:
//! - a cross-site form or `fetch` with a "simple" content type (no CORS
//!   preflight) could change records: state-changing requests with a
//!   foreign `Origin` (or `Sec-Fetch-Site` other than same-origin) are
//!   refused, and `/v1` writes must say `Content-Type: application/json`,
//!   which a page cannot send cross-site without a preflight we never
//!   grant (no CORS headers are ever sent);
//! - DNS rebinding (a page's own name made to resolve to 127.0.0.1) reads
//!   as same-origin to the browser, but its `Host` is the page's name:
//!   `Host` must be an address, `localhost`, or a name in
//!   `[server] api_hosts`.
//!
//! With a token, a page cannot authenticate, so the `Origin` and `Host`
//! rules are not needed and names work without `api_hosts` (TLS
//! certificates are issued for names). The content-type rule holds
//! always, so a client that works with a token works without one.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// What the guard lets through.
#[derive(Debug, Clone, Default)]
pub struct BrowserGuard {
    /// Whether a token protects the API (then `Origin` and `Host` are not
    /// checked).
    pub token: bool,
    /// Extra host names accepted in `Host`, lower case, without a final dot.
    pub hosts: Arc<[String]>,
}

/// Why a request was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `Host` is a name that is not this API's.
    Host(String),
    /// The request comes from another site's page.
    CrossSite(String),
    /// A `/v1` write without a JSON content type.
    ContentType(String),
}

impl BrowserGuard {
    /// Checks one request's method, path and headers.
    pub fn check(&self, method: &Method, path: &str, headers: &HeaderMap) -> Result<(), Refusal> {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !self.token && !self.host_allowed(host) {
            return Err(Refusal::Host(host.to_string()));
        }
        let writes = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !writes {
            return Ok(());
        }
        if !self.token {
            if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
                && !matches!(site, "same-origin" | "none")
            {
                return Err(Refusal::CrossSite(format!("Sec-Fetch-Site: {site}")));
            }
            if let Some(origin) = headers.get(header::ORIGIN) {
                let origin = origin.to_str().unwrap_or("?");
                if !same_origin(origin, host) {
                    return Err(Refusal::CrossSite(format!("Origin: {origin}")));
                }
            }
        }
        let has_body = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
        if has_body && path.starts_with("/v1/") && !is_json(headers) {
            let given = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none");
            return Err(Refusal::ContentType(given.to_string()));
        }
        Ok(())
    }

    /// An address literal cannot be rebound; `localhost` names this
    /// machine; other names must be configured.
    fn host_allowed(&self, host: &str) -> bool {
        let name = strip_port(host).trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() {
            return false;
        }
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<IpAddr>().is_ok() || name == "localhost" || self.hosts.contains(&name)
    }
}

/// `example.net:8053` → `example.net`; `[::1]:8053` → `[::1]`.
fn strip_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(i)
            if !host[i..].contains(']')
                && (host.starts_with('[') || host.matches(':').count() == 1) =>
        {
            &host[..i]
        }
        _ => host,
    }
}

/// Whether `Origin: scheme://authority` names the authority the request
/// was sent to. The scheme is not compared: the listener speaks one.
fn same_origin(origin: &str, host: &str) -> bool {
    let authority = origin.split_once("://").map_or("", |(_, a)| a);
    !host.is_empty() && authority.eq_ignore_ascii_case(host)
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The middleware: runs [`BrowserGuard::check`] before anything else.
pub async fn guard(
    State(guard): State<Arc<BrowserGuard>>,
    request: Request,
    next: Next,
) -> Response {
    let refusal = match guard.check(request.method(), request.uri().path(), request.headers()) {
        Ok(()) => return next.run(request).await,
        Err(r) => r,
    };
    let (status, code, message) = match refusal {
        Refusal::Host(host) => (
            StatusCode::FORBIDDEN,
            "HostNotAllowed",
            format!(
                "Host {host:?} is not a name of this API (DNS rebinding protection): use its address or localhost, add the name to [server] api_hosts, or set an API token"
            ),
        ),
        Refusal::CrossSite(what) => (
            StatusCode::FORBIDDEN,
            "CrossSiteRequest",
            format!(
                "refused a change requested from another site's page ({what}); send it from a client, or set an API token"
            ),
        ),
        Refusal::ContentType(given) => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!("Content-Type is {given}: send the body as Content-Type: application/json"),
        ),
    };
    ApiError::new(status, code, message).into_response()
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

    fn open() -> BrowserGuard {
        BrowserGuard {
            token: false,
            hosts: vec!["dns.example.net".to_string()].into(),
        }
    }

    #[test]
    fn hosts_that_cannot_be_rebound_pass_and_names_need_configuring() {
        let g = open();
        for host in [
            "127.0.0.1:8053",
            "127.0.0.1",
            "[::1]:8053",
            "[::1]",
            "localhost:8053",
            "LOCALHOST",
            "dns.example.net:8053",
            "dns.example.net.",
            "192.0.2.7:80",
        ] {
            assert_eq!(
                g.check(&Method::GET, "/v1/zones", &headers(&[("host", host)])),
                Ok(()),
                "{host}"
            );
        }
        for host in [
            "attacker.example:8053",
            "127.0.0.1.attacker.example",
            "",
            "dns.example.net.evil",
        ] {
            assert!(
                matches!(
                    g.check(&Method::GET, "/v1/zones", &headers(&[("host", host)])),
                    Err(Refusal::Host(_))
                ),
                "{host}"
            );
        }
        assert!(
            g.check(&Method::GET, "/v1/zones", &HeaderMap::new())
                .is_err()
        );
    }

    #[test]
    fn cross_site_writes_are_refused_and_same_origin_ones_pass() {
        let g = open();
        let json = ("content-type", "application/json");
        let host = ("host", "127.0.0.1:8053");
        let ok = |h: &HeaderMap| g.check(&Method::POST, "/v1/zones", h);
        assert_eq!(ok(&headers(&[host, json])), Ok(()));
        assert_eq!(
            ok(&headers(&[host, json, ("origin", "http://127.0.0.1:8053")])),
            Ok(())
        );
        assert_eq!(
            ok(&headers(&[host, json, ("sec-fetch-site", "same-origin")])),
            Ok(())
        );
        for bad in [
            [("origin", "https://evil.example"), ("x-none", "")],
            [("origin", "null"), ("x-none", "")],
            [("origin", "http://127.0.0.1:9999"), ("x-none", "")],
            [("sec-fetch-site", "cross-site"), ("x-none", "")],
            [("sec-fetch-site", "same-site"), ("x-none", "")],
        ] {
            let h = headers(&[host, json, bad[0]]);
            assert!(matches!(ok(&h), Err(Refusal::CrossSite(_))), "{bad:?}");
        }
        // Reads are not writes.
        let h = headers(&[host, ("origin", "https://evil.example")]);
        assert_eq!(g.check(&Method::GET, "/v1/zones", &h), Ok(()));
    }

    #[test]
    fn v1_writes_need_json_always_and_route53_does_not() {
        for token in [false, true] {
            let g = BrowserGuard { token, ..open() };
            let host = ("host", "127.0.0.1:8053");
            for ct in [
                "text/plain",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x",
            ] {
                let h = headers(&[host, ("content-type", ct)]);
                assert!(matches!(
                    g.check(&Method::POST, "/v1/zones", &h),
                    Err(Refusal::ContentType(_))
                ));
            }
            let h = headers(&[host]);
            assert!(g.check(&Method::PUT, "/v1/health-checks/x", &h).is_err());
            let h = headers(&[host, ("content-type", "application/json; charset=utf-8")]);
            assert_eq!(g.check(&Method::POST, "/v1/zones", &h), Ok(()));
            assert_eq!(
                g.check(&Method::DELETE, "/v1/zones/x", &headers(&[host])),
                Ok(())
            );
            assert_eq!(
                g.check(
                    &Method::POST,
                    "/2013-04-01/hostedzone",
                    &headers(&[host, ("content-type", "text/xml")])
                ),
                Ok(())
            );
        }
    }

    #[test]
    fn with_a_token_names_and_origins_are_left_to_the_token() {
        let g = BrowserGuard {
            token: true,
            ..open()
        };
        let h = headers(&[
            ("host", "api.example.org"),
            ("origin", "https://elsewhere.example"),
            ("content-type", "application/json"),
        ]);
        assert_eq!(g.check(&Method::POST, "/v1/zones", &h), Ok(()));
    }
}
