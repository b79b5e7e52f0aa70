//! One probe of one endpoint: connect, ask, judge, as SPEC §4 says.
//!
//! Built on hyper's low-level HTTP/1 connection API and tokio-rustls rather
//! than reqwest because the SPEC's deadlines are per phase: the TCP
//! connection must open within 4 s (10 s for tcp checks) and the status must
//! arrive within `timeout` *after connecting*, then the body within another
//! `timeout`. reqwest only offers a connect timeout and a whole-request (or
//! per-read) timeout, so it cannot tell "slow to connect" from "slow to
//! answer", and its pooled, resolver-driven client hides which address was
//! dialled. Driving one connection ourselves also means a probe never
//! reuses a connection, never follows a redirect, and never reads more than
//! [`SEARCH_LIMIT`] bytes of body.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::header::{ACCEPT, CONNECTION, HOST, HeaderValue, USER_AGENT};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;

use super::state::Verdict;
use super::targets::{Refusal, TargetPolicy};
use crate::model::{CheckKind, HealthCheckSpec, Target};

/// A tcp check is healthy when the connection opens within this (SPEC §4).
pub const TCP_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An http/https check must connect within this (SPEC §4).
pub const HTTP_CONNECT_TIMEOUT: Duration = Duration::from_secs(4);

/// The search string must lie entirely within this many body bytes; no more
/// is ever read.
pub const SEARCH_LIMIT: usize = 5120;

/// The `User-Agent` of every probe, `eightfold/<version> (node <name>)`, so
/// that an endpoint's operator can tell probes from users, and which node
/// of a cluster probed. Process-wide because the node's name is: set once
/// at start ([`set_node`]), before any probe runs.
static USER_AGENT_VALUE: std::sync::OnceLock<HeaderValue> = std::sync::OnceLock::new();

/// Names this process's node in the probes' `User-Agent`; the first call
/// wins. A name a header cannot carry is left out.
pub fn set_node(name: &str) {
    let value = format!("eightfold/{} (node {name})", env!("CARGO_PKG_VERSION"));
    if let Ok(value) = HeaderValue::from_str(&value) {
        let _ = USER_AGENT_VALUE.set(value);
    }
}

fn user_agent() -> HeaderValue {
    USER_AGENT_VALUE.get().cloned().unwrap_or_else(|| {
        HeaderValue::from_static(concat!("eightfold/", env!("CARGO_PKG_VERSION")))
    })
}

/// The outcome of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    /// Whether the endpoint passed (before `invert`).
    pub healthy: bool,
    /// The probe failed through this machine's fault (no descriptor, no
    /// memory, no local port), so it says nothing about the endpoint and
    /// is not counted toward the check's state. Never set when `healthy`.
    pub local: bool,
    /// Why, for humans: "HTTP 200", "connection refused", ...
    pub reason: String,
    /// From the start of the probe (resolution included) to its verdict.
    pub latency: Duration,
    /// When the probe started.
    pub at: SystemTime,
}

impl ProbeResult {
    /// What this result means to the state machine.
    pub fn verdict(&self) -> Verdict {
        match (self.healthy, self.local) {
            (true, _) => Verdict::Healthy,
            (false, false) => Verdict::Unhealthy,
            (false, true) => Verdict::LocalFault,
        }
    }
}

/// Why a probe failed; its `Display` is the result's reason.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// This machine failed, not the endpoint: see [`LocalFault`].
    #[error("local fault, not counted toward the check's state: {0}")]
    Local(LocalFault),
    /// The address is one checks may not aim at (docs/security.md).
    #[error("checks may not target {addr} ({why})")]
    Forbidden {
        /// The address and port refused.
        addr: SocketAddr,
        /// Why.
        why: Refusal,
    },
    /// The fqdn resolved, but only to addresses checks may not aim at.
    #[error("{}", forbidden_only(name, refused))]
    ResolvesOnlyToForbidden {
        /// The name looked up.
        name: String,
        /// Every address it gave, with why it is refused.
        refused: Vec<(IpAddr, Refusal)>,
    },
    /// The check cannot be probed (calculated, or no target).
    #[error("not an endpoint check")]
    NotAnEndpoint,
    /// `host` or `path` do not make a valid HTTP request.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The fqdn did not resolve.
    #[error("cannot resolve {name}: {source}")]
    Resolve {
        /// The name looked up.
        name: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// The fqdn resolved to nothing.
    #[error("{0} has no address")]
    NoAddress(String),
    /// No TCP connection within the connect deadline.
    #[error("connect timeout after {}", secs(*.0))]
    ConnectTimeout(Duration),
    /// The endpoint refused the connection.
    #[error("connection refused")]
    Refused,
    /// Any other connect failure.
    #[error("connect failed: {0}")]
    Connect(std::io::Error),
    /// The TLS handshake failed.
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    /// HTTP protocol failure (malformed response, connection closed, ...).
    #[error("HTTP error: {0}")]
    Http(hyper::Error),
    /// No status within `timeout` after connecting.
    #[error("no response within {}", secs(*.0))]
    ResponseTimeout(Duration),
    /// A status outside 2xx/3xx.
    #[error("HTTP {0}")]
    Status(u16),
    /// The body ended, or reached [`SEARCH_LIMIT`], without the string.
    #[error("HTTP {0}, search string not found")]
    SearchNotFound(u16),
    /// The body did not bring the string within `timeout` after the status.
    #[error("HTTP {status}, search string not found within {}", secs(*.after))]
    SearchTimeout {
        /// The status that did arrive.
        status: u16,
        /// How long the body was waited for.
        after: Duration,
    },
}

/// A failure of the machine running the probe: out of descriptors
/// (EMFILE, ENFILE), memory (ENOMEM, ENOBUFS) or local ports
/// (EADDRNOTAVAIL, EADDRINUSE). A descriptor storm on this host must not
/// fail over a healthy endpoint elsewhere.
#[derive(Debug, thiserror::Error)]
#[error("{during}: {source}")]
pub struct LocalFault {
    /// What the probe was doing: "connecting", "resolving www.example.test", ...
    pub during: String,
    /// The system's error.
    pub source: std::io::Error,
}

/// Errors that say the local machine is out of something, whatever the
/// endpoint is doing.
const LOCAL_ERRNOS: [i32; 6] = [
    libc::EMFILE,
    libc::ENFILE,
    libc::ENOMEM,
    libc::ENOBUFS,
    libc::EADDRNOTAVAIL,
    libc::EADDRINUSE,
];

/// Whether `e` is this machine's fault rather than the endpoint's.
fn is_local(e: &std::io::Error) -> bool {
    e.raw_os_error().is_some_and(|n| LOCAL_ERRNOS.contains(&n))
        || e.kind() == std::io::ErrorKind::OutOfMemory
}

/// The local fault behind `e`, if any error in its source chain is one
/// (hyper wraps the socket's error).
fn local_cause(e: &(dyn std::error::Error + 'static)) -> Option<std::io::Error> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if is_local(io) {
                return Some(std::io::Error::new(io.kind(), io.to_string()));
            }
            // A wrapping io::Error's `source()` skips the error it wraps.
            if let Some(inner) = io.get_ref() {
                cause = Some(inner);
                continue;
            }
        }
        cause = c.source();
    }
    None
}

impl ProbeError {
    /// `e` from `during` as a local fault when it is one, else `otherwise`.
    fn io(
        during: impl Into<String>,
        e: std::io::Error,
        otherwise: impl FnOnce(std::io::Error) -> ProbeError,
    ) -> ProbeError {
        if is_local(&e) {
            ProbeError::Local(LocalFault {
                during: during.into(),
                source: e,
            })
        } else {
            otherwise(e)
        }
    }
}

impl From<hyper::Error> for ProbeError {
    fn from(e: hyper::Error) -> Self {
        match local_cause(&e) {
            Some(source) => ProbeError::Local(LocalFault {
                during: "during the HTTP exchange".into(),
                source,
            }),
            None => ProbeError::Http(e),
        }
    }
}

/// "www.x resolves only to 169.254.169.254, which checks may not target
/// (link-local…)".
fn forbidden_only(name: &str, refused: &[(IpAddr, Refusal)]) -> String {
    let name = name.strip_suffix('.').unwrap_or(name);
    let addrs: Vec<String> = refused.iter().map(|(a, _)| a.to_string()).collect();
    match refused {
        [(_, first), rest @ ..] if rest.iter().all(|(_, w)| w == first) => format!(
            "{name} resolves only to {}, which checks may not target ({first})",
            addrs.join(", ")
        ),
        _ => {
            let each: Vec<String> = refused.iter().map(|(a, w)| format!("{a} ({w})")).collect();
            format!(
                "{name} resolves only to addresses checks may not target: {}",
                each.join(", ")
            )
        }
    }
}

/// "4 s", "1.5 s": the unit spelled out for log readers.
fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// Probes one endpoint check; built once per check and reused.
#[derive(Debug)]
pub struct Prober {
    kind: Kind,
    target: Target,
    port: u16,
    timeout: Duration,
    search: Option<Box<[u8]>>,
}

#[derive(Debug)]
enum Kind {
    Tcp,
    Http {
        /// Host header and TLS server name; `Err` when they are invalid
        /// (reported at every probe, so the operator sees why it fails).
        request: Result<HttpRequest, String>,
        tls: bool,
    },
}

#[derive(Debug)]
struct HttpRequest {
    host_header: HeaderValue,
    path: hyper::Uri,
    server_name: rustls::pki_types::ServerName<'static>,
    /// Whether the server name is sent as SNI.
    sni: bool,
}

impl Prober {
    /// The prober for `spec`, or `NotAnEndpoint` for a calculated check.
    pub fn new(spec: &HealthCheckSpec) -> Result<Prober, ProbeError> {
        let target = spec.target.clone().ok_or(ProbeError::NotAnEndpoint)?;
        let kind = match &spec.kind {
            CheckKind::Calculated { .. } => return Err(ProbeError::NotAnEndpoint),
            CheckKind::Tcp => Kind::Tcp,
            CheckKind::Http => Kind::Http {
                request: HttpRequest::new(spec, &target, false),
                tls: false,
            },
            CheckKind::Https => Kind::Http {
                request: HttpRequest::new(spec, &target, true),
                tls: true,
            },
        };
        Ok(Prober {
            kind,
            target,
            port: spec.port,
            timeout: spec.timeout,
            search: spec
                .search
                .as_ref()
                .map(|s| s.as_bytes().to_vec().into_boxed_slice()),
        })
    }

    /// Runs one probe under the default [`TargetPolicy`] (the
    /// always-refused ranges only).
    pub async fn probe(&self) -> ProbeResult {
        self.probe_within(&TargetPolicy::default()).await
    }

    /// Runs one probe, connecting only where `targets` allows; never
    /// fails, never takes longer than the connect deadline plus twice
    /// `timeout` (status, then body).
    pub async fn probe_within(&self, targets: &TargetPolicy) -> ProbeResult {
        let at = SystemTime::now();
        let start = Instant::now();
        let outcome = self.run(targets).await;
        let latency = start.elapsed();
        match outcome {
            Ok(reason) => ProbeResult {
                healthy: true,
                local: false,
                reason,
                latency,
                at,
            },
            Err(e) => ProbeResult {
                healthy: false,
                local: matches!(e, ProbeError::Local(_)),
                reason: e.to_string(),
                latency,
                at,
            },
        }
    }

    async fn run(&self, targets: &TargetPolicy) -> Result<String, ProbeError> {
        match &self.kind {
            Kind::Tcp => {
                // Resolution counts against the connect deadline: a name
                // that takes 10 s to resolve is as unreachable as a port.
                let _stream = self.connect(TCP_CONNECT_TIMEOUT, targets).await?;
                Ok("TCP connected".into())
            }
            Kind::Http { request, tls } => {
                let request = request
                    .as_ref()
                    .map_err(|e| ProbeError::InvalidRequest(e.clone()))?;
                let stream = self.connect(HTTP_CONNECT_TIMEOUT, targets).await?;
                // From here on, everything up to the status is bounded by
                // `timeout` after connecting, TLS handshake included.
                let deadline = tokio::time::Instant::now() + self.timeout;
                if *tls {
                    let handshake =
                        tls_connector(request.sni).connect(request.server_name.clone(), stream);
                    let tls = match tokio::time::timeout_at(deadline, handshake).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            return Err(ProbeError::io(
                                "during the TLS handshake",
                                e,
                                ProbeError::Tls,
                            ));
                        }
                        Err(_) => return Err(ProbeError::ResponseTimeout(self.timeout)),
                    };
                    self.exchange(tls, request, deadline).await
                } else {
                    self.exchange(stream, request, deadline).await
                }
            }
        }
    }

    /// Opens a TCP connection to the target within `limit`, resolving an
    /// fqdn afresh (SPEC §4: resolved at every check) and skipping the
    /// addresses `targets` refuses.
    async fn connect(
        &self,
        limit: Duration,
        targets: &TargetPolicy,
    ) -> Result<TcpStream, ProbeError> {
        let work = async {
            let addr = match &self.target {
                Target::Ip(ip) => {
                    // Declarations are checked too, but a listener's port
                    // is only known once bound, and a stored check may
                    // predate a narrower check_targets.
                    let addr = SocketAddr::new(*ip, self.port);
                    targets
                        .check(*ip, self.port)
                        .map_err(|why| ProbeError::Forbidden { addr, why })?;
                    addr
                }
                Target::Fqdn(name) => self.resolve(name, targets).await?,
            };
            TcpStream::connect(addr).await.map_err(|e| {
                if e.kind() == std::io::ErrorKind::ConnectionRefused {
                    ProbeError::Refused
                } else {
                    ProbeError::io("connecting", e, ProbeError::Connect)
                }
            })
        };
        match tokio::time::timeout(limit, work).await {
            Ok(r) => r,
            Err(_) => Err(ProbeError::ConnectTimeout(limit)),
        }
    }

    /// The first address `name` resolves to that `targets` allows.
    async fn resolve(&self, name: &str, targets: &TargetPolicy) -> Result<SocketAddr, ProbeError> {
        let found = tokio::net::lookup_host((name, self.port))
            .await
            .map_err(|e| {
                ProbeError::io(format!("resolving {name}"), e, |source| {
                    ProbeError::Resolve {
                        name: name.to_string(),
                        source,
                    }
                })
            })?;
        let mut refused: Vec<(IpAddr, Refusal)> = Vec::new();
        for addr in found {
            match targets.check(addr.ip(), addr.port()) {
                Ok(()) => return Ok(addr),
                Err(why) => {
                    if !refused.iter().any(|(a, _)| *a == addr.ip()) {
                        refused.push((addr.ip(), why));
                    }
                }
            }
        }
        if refused.is_empty() {
            Err(ProbeError::NoAddress(name.to_string()))
        } else {
            Err(ProbeError::ResolvesOnlyToForbidden {
                name: name.to_string(),
                refused,
            })
        }
    }

    /// Sends the GET and judges the answer.
    async fn exchange<S>(
        &self,
        stream: S,
        request: &HttpRequest,
        deadline: tokio::time::Instant,
    ) -> Result<String, ProbeError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let timed_out = ProbeError::ResponseTimeout(self.timeout);
        let (mut sender, conn) = match tokio::time::timeout_at(
            deadline,
            hyper::client::conn::http1::handshake(TokioIo::new(stream)),
        )
        .await
        {
            Ok(r) => r?,
            Err(_) => return Err(timed_out),
        };
        // The connection is driven beside the exchange, not spawned, so
        // nothing outlives the probe: dropping this future closes the
        // socket, even on an endless body. Once the connection ends it
        // parks, and the exchange sees the error through `sender`.
        let conn = async move {
            let _ = conn.await;
            std::future::pending::<()>().await
        };
        let req = Request::get(request.path.clone())
            .header(HOST, request.host_header.clone())
            .header(USER_AGENT, user_agent())
            .header(ACCEPT, "*/*")
            .header(CONNECTION, "close")
            .body(Empty::<Bytes>::new())
            .map_err(|e| ProbeError::InvalidRequest(e.to_string()))?;
        let exchange = async {
            let response = match tokio::time::timeout_at(deadline, sender.send_request(req)).await {
                Ok(r) => r?,
                Err(_) => return Err(timed_out),
            };
            let status = response.status().as_u16();
            // 2xx and 3xx pass; redirects are not followed (SPEC §4).
            if !(200..400).contains(&status) {
                return Err(ProbeError::Status(status));
            }
            let Some(needle) = &self.search else {
                return Ok(format!("HTTP {status}"));
            };
            // The body gets its own `timeout` after the status, as Route 53
            // gives it.
            let body_deadline = tokio::time::Instant::now() + self.timeout;
            let mut body = response.into_body();
            let mut seen: Vec<u8> = Vec::with_capacity(SEARCH_LIMIT.min(1024));
            loop {
                let frame = match tokio::time::timeout_at(body_deadline, body.frame()).await {
                    Err(_) => {
                        return Err(ProbeError::SearchTimeout {
                            status,
                            after: self.timeout,
                        });
                    }
                    Ok(None) => return Err(ProbeError::SearchNotFound(status)),
                    Ok(Some(f)) => f?,
                };
                let Ok(data) = frame.into_data() else {
                    continue; // trailers
                };
                let room = SEARCH_LIMIT - seen.len();
                seen.extend_from_slice(&data[..data.len().min(room)]);
                if contains(&seen, needle) {
                    return Ok(format!("HTTP {status}, search string found"));
                }
                if seen.len() >= SEARCH_LIMIT {
                    return Err(ProbeError::SearchNotFound(status));
                }
            }
        };
        tokio::select! {
            r = exchange => r,
            () = conn => unreachable!("the connection future never completes"),
        }
    }
}

/// Whether `needle` occurs in `hay`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

impl HttpRequest {
    fn new(spec: &HealthCheckSpec, target: &Target, tls: bool) -> Result<HttpRequest, String> {
        let host = match (&spec.host, target) {
            (Some(h), _) => h.clone(),
            // A trailing dot would make many virtual hosts miss.
            (None, Target::Fqdn(name)) => name.strip_suffix('.').unwrap_or(name).to_string(),
            (None, Target::Ip(ip)) => ip.to_string(),
        };
        let default_port = if tls { 443 } else { 80 };
        let bracketed = match host.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => format!("[{host}]"),
            _ => host.clone(),
        };
        let header = if spec.port == default_port {
            bracketed
        } else {
            format!("{bracketed}:{}", spec.port)
        };
        let host_header =
            HeaderValue::from_str(&header).map_err(|_| format!("invalid host {host:?}"))?;
        let path: hyper::Uri = spec
            .path
            .parse()
            .map_err(|_| format!("invalid path {:?}", spec.path))?;
        if path.scheme().is_some() || path.path_and_query().is_none() {
            return Err(format!("invalid path {:?}", spec.path));
        }
        // An IP literal becomes an IP server name, for which rustls sends
        // no SNI, as RFC 6066 requires.
        let server_name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|_| format!("invalid TLS server name {host:?}"))?;
        Ok(HttpRequest {
            host_header,
            path,
            server_name,
            sni: spec.sni,
        })
    }
}

/// The TLS client configuration of https checks: no certificate
/// validation (as Route 53), HTTP/1.1 only; one with SNI, one without
/// (Route 53's EnableSNI false).
fn tls_connector(sni: bool) -> TlsConnector {
    static WITH_SNI: OnceLock<TlsConnector> = OnceLock::new();
    static WITHOUT_SNI: OnceLock<TlsConnector> = OnceLock::new();
    let connector = if sni { &WITH_SNI } else { &WITHOUT_SNI };
    connector
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            config.enable_sni = sni;
            TlsConnector::from(Arc::new(config))
        })
        .clone()
}

/// Accepts every certificate: a health check asks "does it answer", not
/// "is it who it claims", and expired or self-signed certificates on
/// backends must not take them out of DNS. Signatures are still checked
/// so the handshake itself is sound.
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: CheckKind, target: Target, port: u16, host: Option<&str>) -> HealthCheckSpec {
        HealthCheckSpec {
            id: "t".into(),
            kind,
            target: Some(target),
            port,
            path: "/health?x=1".into(),
            host: host.map(str::to_string),
            sni: true,
            search: None,
            interval: Duration::from_secs(10),
            failure_threshold: 3,
            timeout: Duration::from_secs(2),
            invert: false,
            disabled: false,
            healthy_percent: None,
        }
    }

    fn host_header(s: &HealthCheckSpec) -> String {
        let tls = matches!(s.kind, CheckKind::Https);
        let r = HttpRequest::new(s, s.target.as_ref().unwrap(), tls).unwrap();
        r.host_header.to_str().unwrap().to_string()
    }

    #[test]
    fn host_header_carries_the_port_only_when_not_default() {
        let ip = Target::Ip("192.0.2.1".parse().unwrap());
        let v6 = Target::Ip("2001:db8::1".parse().unwrap());
        let name = Target::Fqdn("www.example.test.".into());
        let cases = [
            (CheckKind::Http, ip.clone(), 80, None, "192.0.2.1"),
            (CheckKind::Http, ip.clone(), 8080, None, "192.0.2.1:8080"),
            (CheckKind::Https, ip.clone(), 443, None, "192.0.2.1"),
            (CheckKind::Https, ip.clone(), 80, None, "192.0.2.1:80"),
            (CheckKind::Http, v6, 8080, None, "[2001:db8::1]:8080"),
            (CheckKind::Http, name.clone(), 80, None, "www.example.test"),
            (CheckKind::Http, name, 80, Some("Other.test"), "Other.test"),
            (CheckKind::Http, ip, 81, Some("h.test"), "h.test:81"),
        ];
        for (kind, target, port, host, want) in cases {
            assert_eq!(host_header(&spec(kind, target, port, host)), want);
        }
    }

    #[test]
    fn bad_host_or_path_is_reported_not_panicked() {
        let ip = Target::Ip("192.0.2.1".parse().unwrap());
        let s = spec(CheckKind::Http, ip.clone(), 80, Some("bad\nhost"));
        assert!(
            HttpRequest::new(&s, &ip, false)
                .unwrap_err()
                .contains("invalid host")
        );
        let mut s = spec(CheckKind::Http, ip.clone(), 80, None);
        s.path = "no slash".into();
        assert!(
            HttpRequest::new(&s, &ip, false)
                .unwrap_err()
                .contains("invalid path")
        );
    }

    #[test]
    fn calculated_checks_have_no_prober() {
        let mut s = spec(
            CheckKind::Tcp,
            Target::Ip("192.0.2.1".parse().unwrap()),
            1,
            None,
        );
        s.kind = CheckKind::Calculated {
            children: vec![],
            healthy_threshold: 0,
        };
        assert!(matches!(Prober::new(&s), Err(ProbeError::NotAnEndpoint)));
    }

    #[test]
    fn search_matches_whole_string_only() {
        assert!(contains(b"all OK here", b"OK"));
        assert!(!contains(b"O", b"OK"));
        assert!(contains(b"x", b""));
    }

    #[test]
    fn local_faults_are_told_from_endpoint_failures() {
        use std::io::{Error, ErrorKind};
        for errno in LOCAL_ERRNOS {
            let e = ProbeError::io(
                "connecting",
                Error::from_raw_os_error(errno),
                ProbeError::Connect,
            );
            assert!(matches!(e, ProbeError::Local(_)), "{errno}: {e}");
        }
        for errno in [
            libc::ECONNRESET,
            libc::EHOSTUNREACH,
            libc::ENETUNREACH,
            libc::ETIMEDOUT,
        ] {
            let e = ProbeError::io(
                "connecting",
                Error::from_raw_os_error(errno),
                ProbeError::Connect,
            );
            assert!(matches!(e, ProbeError::Connect(_)), "{errno}: {e}");
        }
        assert!(is_local(&Error::from(ErrorKind::OutOfMemory)));
        let e = ProbeError::io(
            "connecting",
            Error::from_raw_os_error(libc::EMFILE),
            ProbeError::Connect,
        );
        assert!(
            e.to_string()
                .starts_with("local fault, not counted toward the check's state: connecting: "),
            "{e}"
        );
        // Wrapped, as hyper wraps a socket's error.
        let wrapped = Error::other(Error::from_raw_os_error(libc::ENOBUFS));
        assert!(local_cause(&wrapped).is_some());
        assert!(local_cause(&Error::other("closed")).is_none());
    }

    #[tokio::test]
    async fn forbidden_targets_are_never_dialled() {
        let meta = spec(
            CheckKind::Http,
            Target::Ip("::ffff:169.254.169.254".parse().unwrap()),
            80,
            None,
        );
        let r = Prober::new(&meta).unwrap().probe().await;
        assert!(!r.healthy && !r.local, "{r:?}");
        assert!(
            r.reason
                .starts_with("checks may not target [::ffff:169.254.169.254]:80 (link-local"),
            "{}",
            r.reason
        );
        // localhost with loopback left out of check_targets: refused once
        // resolved, an endpoint failure.
        let name = spec(CheckKind::Tcp, Target::Fqdn("localhost".into()), 9, None);
        let only_docs = TargetPolicy::new(vec!["192.0.2.0/24".parse().unwrap()], vec![]);
        let r = Prober::new(&name).unwrap().probe_within(&only_docs).await;
        assert!(!r.healthy && !r.local, "{r:?}");
        assert!(
            r.reason.starts_with("localhost resolves only to ")
                && r.reason.contains("127.0.0.1")
                && r.reason.contains("(outside server.check_targets)"),
            "{}",
            r.reason
        );
        assert_eq!(r.verdict(), Verdict::Unhealthy);
    }

    #[test]
    fn refused_addresses_of_a_name_are_listed_with_their_reasons() {
        let v4: IpAddr = "169.254.169.254".parse().unwrap();
        let v6: IpAddr = "fe80::1".parse().unwrap();
        assert_eq!(
            forbidden_only("www.x.", &[(v4, Refusal::Multicast)]),
            "www.x resolves only to 169.254.169.254, which checks may not target (multicast)"
        );
        assert_eq!(
            forbidden_only(
                "www.x",
                &[(v4, Refusal::NotListed), (v6, Refusal::Multicast)]
            ),
            "www.x resolves only to addresses checks may not target: 169.254.169.254 (outside server.check_targets), fe80::1 (multicast)"
        );
    }

    #[test]
    fn reasons_read_well() {
        assert_eq!(
            ProbeError::ConnectTimeout(Duration::from_secs(4)).to_string(),
            "connect timeout after 4 s"
        );
        assert_eq!(ProbeError::Status(503).to_string(), "HTTP 503");
        assert_eq!(
            ProbeError::ResponseTimeout(Duration::from_millis(1500)).to_string(),
            "no response within 1.5 s"
        );
    }
}
