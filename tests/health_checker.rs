//! The health checker against real backends on loopback: tiny HTTP(S)
//! servers written here, switchable between answers, plus ones that never
//! answer or never stop. Timing assertions poll the health table against a
//! deadline; nothing synchronises by sleeping.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eightfold::health::{Checker, HealthTable, Prober};
use eightfold::model::{CheckKind, HealthCheckSpec, Target};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_util::sync::CancellationToken;

/// What a backend answers.
#[derive(Debug, Clone)]
enum Mode {
    /// This status with this body.
    Answer(u16, String),
    /// A 302 to elsewhere.
    Redirect,
    /// Accept, read the request, never answer.
    Silent,
    /// 200, then body bytes until the client goes away.
    Endless,
}

/// A loopback HTTP backend (TLS when built with [`Backend::tls`]).
#[derive(Clone)]
struct Backend {
    addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    /// Every request head received, in order.
    requests: Arc<Mutex<Vec<String>>>,
    /// SNI names seen by the TLS backend.
    sni: Arc<Mutex<Vec<Option<String>>>>,
    /// Connections whose handler has finished (client gone or answered).
    finished: Arc<AtomicUsize>,
}

impl Backend {
    async fn plain(mode: Mode) -> Backend {
        Backend::start(mode, None).await
    }

    async fn tls(mode: Mode) -> Backend {
        let cert = rcgen::generate_simple_self_signed(vec!["tls.test".to_string()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
        Backend::start(
            mode,
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
        )
        .await
    }

    async fn start(mode: Mode, tls: Option<tokio_rustls::TlsAcceptor>) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let backend = Backend {
            addr: listener.local_addr().unwrap(),
            mode: Arc::new(Mutex::new(mode)),
            requests: Arc::default(),
            sni: Arc::default(),
            finished: Arc::default(),
        };
        let b = backend.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let b = b.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => b.serve(stream).await,
                        Some(acceptor) => {
                            if let Ok(s) = acceptor.accept(stream).await {
                                let name = s.get_ref().1.server_name().map(str::to_string);
                                b.sni.lock().unwrap().push(name);
                                b.serve(s).await;
                            }
                        }
                    }
                    b.finished.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        backend
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn last_request(&self) -> String {
        self.requests
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default()
    }

    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(&self, mut s: S) {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        self.requests
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&head).into_owned());
        let mode = self.mode.lock().unwrap().clone();
        match mode {
            Mode::Answer(status, body) => {
                let r = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(r.as_bytes()).await;
                let _ = s.shutdown().await;
            }
            Mode::Redirect => {
                let r = "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 0\r\n\r\n";
                let _ = s.write_all(r.as_bytes()).await;
                let _ = s.shutdown().await;
            }
            Mode::Silent => {
                // Hold the connection until the client drops it.
                let _ = s.read(&mut buf).await;
            }
            Mode::Endless => {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                    .await;
                let chunk = [b'x'; 1024];
                while s.write_all(&chunk).await.is_ok() {}
            }
        }
    }
}

fn spec(id: &str, kind: CheckKind, port: u16) -> HealthCheckSpec {
    HealthCheckSpec {
        id: id.into(),
        kind,
        target: Some(Target::Ip("127.0.0.1".parse().unwrap())),
        port,
        path: "/health".into(),
        host: None,
        sni: true,
        search: None,
        interval: Duration::from_secs(1),
        failure_threshold: 2,
        timeout: Duration::from_secs(1),
        invert: false,
        disabled: false,
        healthy_percent: None,
    }
}

fn http(id: &str, b: &Backend) -> HealthCheckSpec {
    spec(id, CheckKind::Http, b.addr.port())
}

fn ok(body: &str) -> Mode {
    Mode::Answer(200, body.into())
}

async fn probe(s: &HealthCheckSpec) -> eightfold::health::ProbeResult {
    Prober::new(s).unwrap().probe().await
}

/// Polls `cond` every 20 ms; fails after `deadline`. Returns the time taken.
async fn within(deadline: Duration, what: &str, cond: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < deadline,
            "{what}: not within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

/// interval × threshold + 1 s, the SPEC's bound.
fn bound(s: &HealthCheckSpec) -> Duration {
    s.interval * u32::from(s.failure_threshold) + Duration::from_secs(1)
}

fn start(specs: Vec<HealthCheckSpec>) -> (Checker, Arc<HealthTable>, CancellationToken) {
    let shutdown = CancellationToken::new();
    let c = Checker::start(specs, shutdown.clone());
    let table = c.table();
    (c, table, shutdown)
}

#[tokio::test]
async fn http_check_follows_the_backend_within_the_bound() {
    let b = Backend::plain(ok("fine")).await;
    let s = http("web", &b);
    let (c, table, shutdown) = start(vec![s.clone()]);
    // Checks start at load: a first result arrives within one interval.
    within(s.interval + Duration::from_secs(1), "first probe", || {
        c.status(0).is_some_and(|st| !st.last_results.is_empty())
    })
    .await;
    assert!(table.is_healthy(0));
    assert_eq!(c.status(0).unwrap().last_results[0].reason, "HTTP 200");

    b.set(Mode::Answer(503, "down".into()));
    within(bound(&s), "healthy → unhealthy", || !table.is_healthy(0)).await;
    let change = c.status(0).unwrap().last_change.unwrap();
    assert_eq!((change.old, change.new), (true, false));
    assert_eq!(change.reason, "HTTP 503 (2 consecutive results)");

    b.set(ok("fine"));
    within(bound(&s), "unhealthy → healthy", || table.is_healthy(0)).await;
    shutdown.cancel();
    c.stopped().await;
}

#[tokio::test]
async fn search_string_must_lie_within_the_first_5120_bytes() {
    let b = Backend::plain(ok("status: ALL-GOOD")).await;
    let s = HealthCheckSpec {
        search: Some("ALL-GOOD".into()),
        ..http("s", &b)
    };
    let r = probe(&s).await;
    assert!(r.healthy, "{r:?}");
    assert_eq!(r.reason, "HTTP 200, search string found");

    b.set(ok("status: degraded"));
    let r = probe(&s).await;
    assert!(!r.healthy);
    assert_eq!(r.reason, "HTTP 200, search string not found");

    // Ends exactly at byte 5120: found. One byte later: not.
    b.set(ok(&("x".repeat(5120 - 8) + "ALL-GOOD")));
    assert!(probe(&s).await.healthy);
    b.set(ok(&("x".repeat(5120 - 7) + "ALL-GOOD")));
    assert!(!probe(&s).await.healthy);

    // A 503 fails whatever the body says.
    b.set(Mode::Answer(503, "ALL-GOOD".into()));
    assert_eq!(probe(&s).await.reason, "HTTP 503");

    // And through the checker: a mismatch takes the check down.
    b.set(ok("nothing here"));
    let (_c, table, shutdown) = start(vec![s.clone()]);
    within(bound(&s), "mismatch → unhealthy", || !table.is_healthy(0)).await;
    shutdown.cancel();
}

#[tokio::test]
async fn tcp_checks_connect_or_are_refused() {
    let b = Backend::plain(ok("")).await;
    let r = probe(&spec("t", CheckKind::Tcp, b.addr.port())).await;
    assert!(r.healthy);
    assert_eq!(r.reason, "TCP connected");

    // A port nobody listens on.
    let gone = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = gone.local_addr().unwrap().port();
    drop(gone);
    let s = HealthCheckSpec {
        failure_threshold: 1,
        ..spec("t", CheckKind::Tcp, port)
    };
    let r = probe(&s).await;
    assert!(!r.healthy);
    assert_eq!(r.reason, "connection refused");
    let (_c, table, shutdown) = start(vec![s.clone()]);
    within(bound(&s), "refused → unhealthy", || !table.is_healthy(0)).await;
    shutdown.cancel();
}

#[tokio::test]
async fn a_silent_backend_costs_one_timeout() {
    let b = Backend::plain(Mode::Silent).await;
    let s = http("silent", &b);
    let r = probe(&s).await;
    assert!(!r.healthy);
    assert_eq!(r.reason, "no response within 1 s");
    assert!(
        r.latency >= s.timeout && r.latency < s.timeout + Duration::from_millis(500),
        "{:?}",
        r.latency
    );
    // The probe hung up: the backend's read ended.
    within(Duration::from_secs(2), "connection closed", || {
        b.finished.load(Ordering::SeqCst) == 1
    })
    .await;
}

#[tokio::test]
async fn an_endless_body_is_read_no_further_than_5120_bytes() {
    let b = Backend::plain(Mode::Endless).await;
    // Without a search string the status alone decides.
    let r = probe(&http("e", &b)).await;
    assert!(r.healthy);
    assert_eq!(r.reason, "HTTP 200");
    let s = HealthCheckSpec {
        search: Some("never".into()),
        ..http("e", &b)
    };
    let r = probe(&s).await;
    assert_eq!(r.reason, "HTTP 200, search string not found");
    assert!(r.latency < Duration::from_millis(500), "{:?}", r.latency);
    // Both connections were dropped by the prober, so the endless writers
    // stopped.
    within(Duration::from_secs(2), "endless writers stopped", || {
        b.finished.load(Ordering::SeqCst) == 2
    })
    .await;
}

#[tokio::test]
async fn host_header_path_and_redirects() {
    let b = Backend::plain(Mode::Redirect).await;
    let port = b.addr.port();
    let r = probe(&http("h", &b)).await;
    assert!(r.healthy, "3xx is healthy");
    assert_eq!(r.reason, "HTTP 302");
    assert_eq!(b.requests.lock().unwrap().len(), 1, "redirect not followed");
    let head = b.last_request();
    assert!(head.starts_with("GET /health HTTP/1.1\r\n"), "{head}");
    assert!(
        head.contains(&format!("host: 127.0.0.1:{port}\r\n")),
        "{head}"
    );

    let s = HealthCheckSpec {
        host: Some("www.example.test".into()),
        ..http("h", &b)
    };
    probe(&s).await;
    assert!(
        b.last_request()
            .contains(&format!("host: www.example.test:{port}\r\n"))
    );

    // An fqdn target is resolved at check time and is the default host.
    let s = HealthCheckSpec {
        target: Some(Target::Fqdn("localhost".into())),
        ..http("h", &b)
    };
    // localhost may resolve to ::1 first, where nothing listens.
    let r = probe(&s).await;
    if r.healthy {
        assert!(
            b.last_request()
                .contains(&format!("host: localhost:{port}\r\n"))
        );
    } else {
        assert_eq!(r.reason, "connection refused");
    }
    let s = HealthCheckSpec {
        target: Some(Target::Fqdn("no-such-name.invalid".into())),
        ..http("h", &b)
    };
    let r = probe(&s).await;
    assert!(
        r.reason.starts_with("cannot resolve no-such-name.invalid"),
        "{}",
        r.reason
    );
}

#[tokio::test]
async fn https_sends_sni_and_accepts_a_self_signed_certificate() {
    let b = Backend::tls(ok("secure OK")).await;
    let s = HealthCheckSpec {
        host: Some("tls.test".into()),
        search: Some("OK".into()),
        ..spec("tls", CheckKind::Https, b.addr.port())
    };
    let r = probe(&s).await;
    assert!(r.healthy, "{r:?}");
    assert_eq!(
        b.sni.lock().unwrap().as_slice(),
        [Some("tls.test".to_string())]
    );
    assert!(
        b.last_request()
            .contains(&format!("host: tls.test:{}\r\n", b.addr.port()))
    );
    b.set(Mode::Answer(500, String::new()));
    assert_eq!(probe(&s).await.reason, "HTTP 500");

    // Route 53's EnableSNI false: the same name in the Host header, none
    // in the handshake.
    b.set(ok("secure OK"));
    let without = HealthCheckSpec {
        sni: false,
        ..s.clone()
    };
    assert!(probe(&without).await.healthy);
    assert_eq!(
        b.sni.lock().unwrap().last(),
        Some(&None),
        "{:?}",
        b.sni.lock().unwrap()
    );
    assert!(
        b.last_request()
            .contains(&format!("host: tls.test:{}\r\n", b.addr.port()))
    );

    // https against a plain HTTP port that waits for a request line: the
    // handshake never completes, and it counts against `timeout`.
    let plain = Backend::plain(ok("")).await;
    let r = probe(&spec("x", CheckKind::Https, plain.addr.port())).await;
    assert_eq!(r.reason, "no response within 1 s");
    // One that answers garbage fails the handshake at once.
    let garbage = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = garbage.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = garbage.accept().await {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    let r = probe(&spec("x", CheckKind::Https, port)).await;
    assert!(r.reason.starts_with("TLS handshake failed"), "{}", r.reason);
    assert!(r.latency < Duration::from_millis(500));
}

#[tokio::test]
async fn calculated_inverted_and_disabled_checks() {
    let up = Backend::plain(ok("")).await;
    let down = Backend::plain(ok("")).await;
    let calc = |id: &str, needed| HealthCheckSpec {
        kind: CheckKind::Calculated {
            children: vec!["up".into(), "down".into()],
            healthy_threshold: needed,
        },
        target: None,
        ..spec(id, CheckKind::Tcp, 0)
    };
    let specs = vec![
        http("up", &up),
        http("down", &down),
        calc("both", 2),
        calc("either", 1),
        HealthCheckSpec {
            invert: true,
            ..http("down-inverted", &down)
        },
        HealthCheckSpec {
            disabled: true,
            ..http("down-disabled", &down)
        },
        HealthCheckSpec {
            disabled: true,
            invert: true,
            ..http("up-disabled-inverted", &up)
        },
    ];
    let s = specs[1].clone();
    let (c, table, shutdown) = start(specs);
    let state = |id| table.is_healthy(id);
    assert!(state(0) && state(1) && state(2) && state(3));
    assert!(!state(4), "an inverted check starts unhealthy");
    assert!(state(5) && !state(6));

    down.set(Mode::Answer(503, String::new()));
    within(bound(&s), "down and its dependents", || {
        !state(1) && !state(2) && state(4)
    })
    .await;
    assert!(state(0) && state(3), "one of two is enough for `either`");
    assert!(state(5) && !state(6), "disabled checks never move");
    let both = c.status(2).unwrap().last_change.unwrap();
    assert_eq!(both.reason, "1 of 2 children healthy, 2 needed");
    assert!(!c.status(5).unwrap().probed);

    // A drill: force the healthy child down; `either` follows at once.
    c.set_override(0, Some(false));
    assert!(!state(0) && !state(3));
    c.set_override(0, None);
    assert!(state(0) && state(3));
    shutdown.cancel();
    c.stopped().await;
}

#[tokio::test]
async fn a_full_accept_queue_is_a_connect_timeout() {
    // A listener that never accepts, its queue filled: further SYNs are
    // dropped, so the connection never opens.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(s)) => fillers.push(s),
            _ => break, // the queue is full
        }
    }
    let r = probe(&spec("slow", CheckKind::Http, addr.port())).await;
    assert!(!r.healthy);
    assert_eq!(r.reason, "connect timeout after 4 s");
    assert!(r.latency >= Duration::from_secs(4) && r.latency < Duration::from_millis(4500));
    drop(listener);
}
