//! Attacks on the API listener and from the browser (issue 17), each test
//! named after the attack it stops. The first ones run the real binary on
//! loopback; the listener's timeouts are shown in process with short
//! limits on real sockets, since the shipped ones are tens of seconds.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::Server;

/// One HTTP/1.1 exchange on a fresh connection with exactly these headers
/// (plus Content-Length and Connection: close): status and body.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the API");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("a response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// A `Host` header value for `addr`, as a client that dialled it sends.
fn host(addr: SocketAddr) -> String {
    addr.to_string()
}

/// An HTTP endpoint that answers 200 to every request, until dropped.
struct Backend {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Backend {
    fn start() -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 2048];
                    let _ = stream.read(&mut buf);
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nOK\n",
                    );
                });
            }
        });
        Backend { addr, stop }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

/// The failover pair of `common::failover_config`, its primary checked
/// over HTTP at `backend`.
fn zone_config(backend: SocketAddr, extra_server: &str) -> String {
    common::failover_config(
        extra_server,
        &format!("ip = \"127.0.0.1\"\nport = {}", backend.port()),
    )
}

fn answer(server: &Server) -> Vec<String> {
    common::records(&server.dig(&["+noall", "+answer", "www.atk.test", "A"]))
}

/// Lets this test process hold thousands of sockets.
fn raise_descriptor_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct given.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[test]
fn idle_and_slowloris_flood_neither_starves_the_api_nor_fails_a_check() {
    raise_descriptor_limit();
    let backend = Backend::start();
    let server = Server::start(&zone_config(backend.addr, ""));
    let api = server.api.unwrap();
    let checks_url = "/v1/health-checks/primary/status";
    // The check has passed once before the flood: healthy, primary answered.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !http(api, "GET", checks_url, &[("Host", &host(api))], "")
        .1
        .contains("\"healthy\":true")
    {
        assert!(Instant::now() < deadline, "the check never turned healthy");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(answer(&server), ["www.atk.test. 5 IN A 192.0.2.1"]);

    let baseline_descriptors = open_descriptors(server.pid());
    // 2,000 connections: half idle, half trickling a header that never ends,
    // renewed for as long as the flood runs.
    let flooding = Arc::new(AtomicBool::new(true));
    let opened_so_far = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let flood = {
        let flooding = flooding.clone();
        let opened_so_far = opened_so_far.clone();
        std::thread::spawn(move || {
            let mut conns: Vec<TcpStream> = Vec::new();
            let mut opened = 0usize;
            while flooding.load(Ordering::Relaxed) {
                // Closed by the server: the slot is renewed below.
                conns.retain_mut(|c| {
                    let mut byte = [0u8; 64];
                    match c.read(&mut byte) {
                        Ok(0) => false,
                        Ok(_) => true,
                        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
                    }
                });
                while conns.len() < 2000 && flooding.load(Ordering::Relaxed) {
                    let mut c = match TcpStream::connect(api) {
                        Ok(c) => c,
                        Err(e) => {
                            eprintln!("flood connect: {e}");
                            break;
                        }
                    };
                    if opened % 2 == 1 {
                        let _ =
                            c.write_all(b"GET /v1/zones HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
                    }
                    let _ = c.set_nonblocking(true);
                    conns.push(c);
                    opened += 1;
                    opened_so_far.store(opened, Ordering::Relaxed);
                }
                for (i, c) in conns.iter_mut().enumerate() {
                    if i % 2 == 1 {
                        let _ = c.write_all(b"a");
                    }
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            opened
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while opened_so_far.load(Ordering::Relaxed) < 2000 {
        assert!(
            Instant::now() < deadline,
            "the flood could not open 2,000 connections"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = server.pid();
    let mut most_descriptors = 0;
    // What the server holds besides API connections (listeners, database,
    // log, runtime), measured before the flood's connections are counted in.
    let own = baseline_descriptors;
    let started = Instant::now();
    let mut served = 0;
    while started.elapsed() < Duration::from_secs(6) {
        let t = Instant::now();
        let (status, body) = http(api, "GET", "/v1/zones", &[("Host", &host(api))], "");
        assert_eq!(status, 200, "a legitimate request during the flood: {body}");
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "answered in {:?}",
            t.elapsed()
        );
        served += 1;
        most_descriptors = most_descriptors.max(open_descriptors(pid));
        std::thread::sleep(Duration::from_millis(200));
    }
    flooding.store(false, Ordering::Relaxed);
    let opened = flood.join().unwrap();
    assert!(
        opened > 2000,
        "the flood opened {opened} connections: none was renewed"
    );
    assert!(served >= 10);
    // The cap held: the server never had more than its 256 connections
    // over its own, with room for one being accepted, the legitimate
    // request and a probe or two.
    eprintln!("descriptors: {own} before the flood, at most {most_descriptors} during it");
    assert!(
        most_descriptors <= own + 256 + 8,
        "{most_descriptors} descriptors open during the flood, {own} before it"
    );
    // No false failover: the check never left healthy, DNS kept the primary.
    let (_, events) = http(
        api,
        "GET",
        "/v1/health-events?check=primary",
        &[("Host", &host(api))],
        "",
    );
    assert!(
        !events.contains("\"healthy\":false"),
        "a transition during the flood: {events}"
    );
    assert_eq!(answer(&server), ["www.atk.test. 5 IN A 192.0.2.1"]);
    drop(backend);
}

#[test]
fn cross_site_text_plain_post_cannot_change_dns() {
    let backend = Backend::start();
    let server = Server::start(&zone_config(backend.addr, ""));
    let api = server.api.unwrap();
    let h = host(api);
    let json = [("Host", h.as_str()), ("Content-Type", "application/json")];
    let (status, body) = http(api, "POST", "/v1/zones", &json, r#"{"name": "web.test."}"#);
    assert_eq!(status, 201, "{body}");
    let change = r#"{"changes": [{"action": "UPSERT", "record": {"name": "evil", "type": "A", "ttl": 60, "values": ["203.0.113.66"]}}]}"#;
    let path = "/v1/zones/web.test/changes";
    // A form or no-cors fetch from another site: a simple content type and
    // the page's Origin.
    for headers in [
        vec![
            ("Host", h.as_str()),
            ("Content-Type", "text/plain"),
            ("Origin", "https://evil.example"),
        ],
        vec![
            ("Host", h.as_str()),
            ("Content-Type", "application/json"),
            ("Origin", "https://evil.example"),
        ],
        vec![
            ("Host", h.as_str()),
            ("Content-Type", "application/json"),
            ("Origin", "null"),
        ],
        vec![
            ("Host", h.as_str()),
            ("Content-Type", "application/json"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
    ] {
        let (status, body) = http(api, "POST", path, &headers, change);
        assert_eq!(status, 403, "{headers:?}: {body}");
        assert!(body.contains("CrossSiteRequest"), "{body}");
    }
    let (status, body) = http(
        api,
        "POST",
        path,
        &[("Host", &h), ("Content-Type", "text/plain")],
        change,
    );
    assert_eq!(status, 415, "{body}");
    let (status, _) = http(
        api,
        "POST",
        "/v1/health-checks/primary/override",
        &[
            ("Host", &h),
            ("Content-Type", "text/plain"),
            ("Origin", "http://evil.example"),
        ],
        r#"{"status": "unhealthy"}"#,
    );
    assert_eq!(status, 403);
    assert!(common::records(&server.dig(&["+noall", "+answer", "evil.web.test", "A"])).is_empty());
    // The same change from the API's own origin, as JSON, goes through.
    let origin = format!("http://{h}");
    let (status, body) = http(
        api,
        "POST",
        path,
        &[
            ("Host", &h),
            ("Content-Type", "application/json"),
            ("Origin", &origin),
        ],
        change,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        common::records(&server.dig(&["+noall", "+answer", "evil.web.test", "A"])),
        ["evil.web.test. 60 IN A 203.0.113.66"]
    );
}

#[test]
fn dns_rebinding_cannot_read_zones_and_no_cors_is_granted() {
    let backend = Backend::start();
    let server = Server::start(&zone_config(
        backend.addr,
        r#"api_hosts = ["dns-api.example.net"]"#,
    ));
    let api = server.api.unwrap();
    let port = api.port();
    let rebound = format!("rebind.attacker.example:{port}");
    let (status, body) = http(api, "GET", "/v1/zones", &[("Host", &rebound)], "");
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("HostNotAllowed") && body.contains("api_hosts"),
        "{body}"
    );
    assert!(!body.contains("atk.test"));
    for allowed in [
        format!("localhost:{port}"),
        format!("dns-api.example.net:{port}"),
        host(api),
    ] {
        let (status, body) = http(api, "GET", "/v1/zones", &[("Host", &allowed)], "");
        assert_eq!(status, 200, "{allowed}: {body}");
        assert!(body.contains("atk.test"));
    }
    // A preflight gets no CORS grant, so no page may send JSON here.
    let mut stream = TcpStream::connect(api).unwrap();
    write!(
        stream,
        "OPTIONS /v1/zones HTTP/1.1\r\nHost: {}\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n",
        host(api)
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 "), "{response}");
    assert!(
        !response
            .to_ascii_lowercase()
            .contains("access-control-allow"),
        "{response}"
    );
}

#[test]
fn an_api_open_to_the_network_without_a_token_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("eightfold.toml"),
        "[server]\napi = \"0.0.0.0:0\"\ndns = [\"127.0.0.1:0\"]\n",
    )
    .unwrap();
    let out = common::run(&["serve", "--config", "eightfold.toml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("0.0.0.0:0") && stderr.contains("api_token_file"),
        "{stderr}"
    );
    // With a token it starts.
    std::fs::write(dir.path().join("token"), "t0ken\n").unwrap();
    std::fs::write(
        dir.path().join("eightfold.toml"),
        "[server]\napi = \"0.0.0.0:0\"\napi_token_file = \"token\"\ndata = \"e.db\"\n",
    )
    .unwrap();
    let server = Server::spawn(
        dir,
        &[
            "serve",
            "--config",
            "eightfold.toml",
            "--dns",
            "127.0.0.1:0",
        ],
    );
    assert!(server.api.is_some());
}

#[test]
fn a_conflict_names_the_config_file_not_this_machines_paths() {
    let backend = Backend::start();
    let server = Server::start(&zone_config(backend.addr, ""));
    let api = server.api.unwrap();
    let (status, body) = http(
        api,
        "DELETE",
        "/v1/zones/atk.test",
        &[("Host", &host(api))],
        "",
    );
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("eightfold.toml"), "{body}");
    let folder = server.dir.path().to_string_lossy().into_owned();
    assert!(
        !body.contains(&folder),
        "the error reveals {folder}: {body}"
    );
    let (_, zone) = http(
        api,
        "GET",
        "/v1/zones/atk.test",
        &[("Host", &host(api))],
        "",
    );
    assert!(!zone.contains(&folder), "the zone reveals {folder}: {zone}");
}

mod listener {
    //! The listener's bounds with short limits, in process.

    use std::time::{Duration, Instant};

    use axum::Router;
    use axum::routing::{get, post};
    use eightfold::api::JsonBody;
    use eightfold::api::serve::{Limits, serve};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_util::sync::CancellationToken;

    async fn start(limits: Limits) -> (std::net::SocketAddr, CancellationToken) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/", get(|| async { "ok" })).route(
            "/echo",
            post(|JsonBody(v): JsonBody<serde_json::Value>| async move { v.to_string() }),
        );
        let stop = CancellationToken::new();
        tokio::spawn(serve(listener, router, None, limits, stop.clone()));
        (addr, stop)
    }

    fn limits() -> Limits {
        Limits {
            max_connections: 4,
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(1),
        }
    }

    /// Reads until the peer closes; what it sent.
    async fn until_closed(stream: &mut TcpStream, within: Duration) -> String {
        let mut out = Vec::new();
        tokio::time::timeout(within, stream.read_to_end(&mut out))
            .await
            .expect("the server closed the connection in time")
            .ok();
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed_after_the_idle_timeout() {
        let (addr, _stop) = start(limits()).await;
        let mut idle = TcpStream::connect(addr).await.unwrap();
        let t = Instant::now();
        until_closed(&mut idle, Duration::from_secs(5)).await;
        assert!(
            t.elapsed() >= Duration::from_millis(900),
            "closed after {:?}",
            t.elapsed()
        );
        // A keep-alive connection idles out after its last request too.
        let mut kept = TcpStream::connect(addr).await.unwrap();
        kept.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let got = until_closed(&mut kept, Duration::from_secs(5)).await;
        assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    }

    #[tokio::test]
    async fn a_slowloris_header_is_cut_off() {
        let limits = Limits {
            idle_timeout: Duration::from_secs(60),
            ..limits()
        };
        let (addr, _stop) = start(limits).await;
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        let t = Instant::now();
        let mut closed = false;
        while t.elapsed() < Duration::from_secs(5) {
            if slow.write_all(b"a").await.is_err() {
                closed = true;
                break;
            }
            let mut buf = [0u8; 512];
            match tokio::time::timeout(Duration::from_millis(300), slow.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    closed = true;
                    break;
                }
                Ok(Ok(_)) => {} // a 408 on its way out
                Err(_) => {}
            }
        }
        assert!(closed, "a header trickled for 5 s was never cut off");
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "cut off after {:?}",
            t.elapsed()
        );
    }

    #[tokio::test]
    async fn a_stalled_body_gets_408_and_the_connection_is_freed() {
        let (addr, _stop) = start(limits()).await;
        let mut upload = TcpStream::connect(addr).await.unwrap();
        upload
            .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"a\":")
            .await
            .unwrap();
        let t = Instant::now();
        let got = until_closed(&mut upload, Duration::from_secs(5)).await;
        assert!(got.starts_with("HTTP/1.1 408"), "{got}");
        assert!(got.contains("RequestTimeout"), "{got}");
        assert!(t.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn at_the_cap_the_longest_idle_connection_makes_room() {
        let limits = Limits {
            idle_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(60),
            ..limits()
        };
        let (addr, _stop) = start(limits).await;
        let mut idle = Vec::new();
        for _ in 0..4 {
            idle.push(TcpStream::connect(addr).await.unwrap());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The fifth connection asks promptly and is answered.
        let mut fresh = TcpStream::connect(addr).await.unwrap();
        fresh
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let got = until_closed(&mut fresh, Duration::from_secs(3)).await;
        assert!(got.starts_with("HTTP/1.1 200"), "{got}");
        // The oldest idle one was closed to make room.
        until_closed(&mut idle[0], Duration::from_secs(3)).await;
    }
}
