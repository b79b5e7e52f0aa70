//! Attacks through the health checker (issue 17), each test named after the
//! attack it stops, against the real binary on loopback: a descriptor
//! storm on this host must not fail over a healthy endpoint elsewhere, and
//! a check must not become a way to reach the cloud metadata service, a
//! multicast group or eightfold's own listeners.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::Server;
use serde_json::Value;

/// One HTTP/1.1 exchange on a fresh connection: status and body. `None`
/// when the server could not be reached or did not answer.
fn try_http(addr: SocketAddr, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let content_type = if path.starts_with("/v1") {
        "application/json"
    } else {
        "text/xml"
    };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Some((status, body.to_string()))
}

fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    try_http(addr, method, path, body)
        .unwrap_or_else(|| panic!("no answer to {method} {path} from {addr}"))
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// A loopback HTTP endpoint answering 200 to every request, counting them.
struct Backend {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Backend {
    fn start() -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (flag, count) = (stop.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let count = count.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 2048];
                    if stream.read(&mut buf).is_ok_and(|n| n > 0) {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nOK\n",
                    );
                });
            }
        });
        Backend {
            addr,
            requests,
            stop,
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

const PRIMARY: &str = "www.atk.test. 5 IN A 192.0.2.1";
const SECONDARY: &str = "www.atk.test. 5 IN A 192.0.2.2";

fn answer(server: &Server) -> Vec<String> {
    common::records(&server.dig(&["+noall", "+answer", "www.atk.test", "A"]))
}

/// The check's status as the API shows it.
fn status(api: SocketAddr, id: &str) -> Value {
    let (code, body) = http(api, "GET", &format!("/v1/health-checks/{id}/status"), "");
    assert_eq!(code, 200, "{body}");
    json(&body)
}

/// Polls `cond` every 50 ms; panics with `what` after `limit`.
fn within(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// User plus system CPU time of process `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses and may
    // hold spaces: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as u64
}

fn rlimit(soft: libc::rlim_t, hard: libc::rlim_t) -> libc::rlimit {
    libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    }
}

/// Sets the open-files limit (soft and hard) of the running process `pid`.
fn limit_descriptors(pid: u32, n: u64) {
    let limit = rlimit(n, n);
    // SAFETY: prlimit reads the struct given and writes nothing back (null).
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// `Max open files` (soft, hard) of process `pid`.
fn descriptor_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let mut words = line["Max open files".len()..].split_whitespace();
    (
        words.next().unwrap().to_string(),
        words.next().unwrap().to_string(),
    )
}

/// Opens up to `n` connections to `addr`, keeping the ones that open.
fn hold_connections(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok())
        .collect()
}

#[test]
fn descriptor_exhaustion_does_not_fail_a_healthy_check() {
    let backend = Backend::start();
    let server = Server::start(&common::failover_config(
        "",
        &format!("ip = \"127.0.0.1\"\nport = {}", backend.addr.port()),
    ));
    let api = server.api.unwrap();
    let pid = server.pid();
    within(Duration::from_secs(10), "a first passing probe", || {
        status(api, "primary")["last_results"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["healthy"] == true))
    });
    assert_eq!(answer(&server), [PRIMARY]);

    // A few descriptors left, then more clients than that: every listener
    // runs out, and so does the next probe's socket.
    let limit = open_descriptors(pid) as u64 + 12;
    limit_descriptors(pid, limit);
    let mut held = hold_connections(api, 150);
    held.extend(hold_connections(server.addr(), 40));
    assert!(held.len() >= 100, "only {} connections opened", held.len());
    within(
        Duration::from_secs(10),
        "the server out of descriptors",
        || open_descriptors(pid) as u64 >= limit,
    );

    // Several intervals of exhaustion: the answer stays the primary, the
    // process stays idle and its log stays short.
    let lines_before = server.logs().lines().count();
    let (cpu_before, started) = (cpu_ticks(pid), Instant::now());
    while started.elapsed() < Duration::from_secs(5) {
        assert_eq!(answer(&server), [PRIMARY], "failed over during the storm");
        std::thread::sleep(Duration::from_millis(250));
    }
    let cpu = (cpu_ticks(pid) - cpu_before) as f64
        / (started.elapsed().as_secs_f64() * ticks_per_second() as f64);
    let logged = server.logs().lines().count() - lines_before;
    assert!(open_descriptors(pid) as u64 >= limit - 1, "still exhausted");
    assert!(
        cpu < 0.2,
        "the server used {:.0} % of a core while out of descriptors",
        cpu * 100.0
    );
    assert!(logged < 60, "{logged} log lines in 5 s:\n{}", server.logs());

    // Once the clients leave, the status tells what happened.
    drop(held);
    let mut shown = Value::Null;
    within(Duration::from_secs(15), "the API back", || {
        match try_http(api, "GET", "/v1/health-checks/primary/status", "") {
            Some((200, body)) => {
                shown = json(&body);
                true
            }
            _ => false,
        }
    });
    assert_eq!(shown["status"], "healthy", "{shown:#}");
    assert!(shown.get("last_change").is_none(), "{shown:#}");
    let results = shown["last_results"].as_array().unwrap();
    let local: Vec<&Value> = results
        .iter()
        .filter(|r| r["local_fault"] == true)
        .collect();
    assert!(!local.is_empty(), "no local fault recorded: {shown:#}");
    for r in &local {
        let reason = r["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("local fault, not counted toward the check's state: ")
                && reason.contains("open files"),
            "{reason}"
        );
        assert_eq!(r["healthy"], false);
    }
    assert!(
        results
            .iter()
            .all(|r| r["healthy"] == true || r["local_fault"] == true),
        "an endpoint failure was recorded: {shown:#}"
    );
    let (_, metrics) = http(api, "GET", "/metrics", "");
    let count = |result: &str| -> u64 {
        let key = format!(
            "eightfold_health_check_results_total{{check=\"primary\",result=\"{result}\"}} "
        );
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&key))
            .unwrap_or_else(|| panic!("no {key} in\n{metrics}"))
            .parse()
            .unwrap()
    };
    assert!(count("local_fault") >= local.len() as u64);
    assert_eq!(count("failure"), 0);
    assert!(
        server
            .logs()
            .contains("local fault, not counted toward the check's state"),
        "the local fault was not logged"
    );
    assert_eq!(answer(&server), [PRIMARY]);
}

#[test]
fn a_low_soft_descriptor_limit_is_raised_to_the_hard_one_at_start() {
    let mut own = rlimit(0, 0);
    // SAFETY: getrlimit writes only the struct given.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut own) }, 0);
    let hard = own.rlim_max;
    assert!(hard > 512, "the hard limit is {hard}; nothing to raise to");
    // The server inherits a soft limit of 512 from this process.
    let low = rlimit(512, hard);
    // SAFETY: setrlimit reads only the struct given.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
    let server = Server::start("");
    // SAFETY: as above.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &own) };
    let (soft, hard_seen) = descriptor_limits(server.pid());
    assert_eq!(soft, hard_seen, "soft limit left below the hard one");
    assert_ne!(soft, "512");
    assert!(
        server
            .logs()
            .contains(&format!("open files limit raised soft={soft} was=512")),
        "{}",
        server.logs()
    );
}

/// A health check body in the JSON API's schema.
fn check_json(id: &str, ip: &str, port: u16) -> String {
    format!(r#"{{"id": "{id}", "type": "tcp", "ip": "{ip}", "port": {port}, "interval": "300s"}}"#)
}

/// POSTs a check; the status and the error message, if any.
fn create_check(api: SocketAddr, id: &str, ip: &str, port: u16) -> (u16, String) {
    let (code, body) = http(api, "POST", "/v1/health-checks", &check_json(id, ip, port));
    let message = match code {
        201 => String::new(),
        _ => {
            let v = json(&body);
            assert_eq!(v["error"]["code"], "InvalidInput", "{body}");
            v["error"]["message"].as_str().unwrap().to_string()
        }
    };
    (code, message)
}

/// `eightfold check` on `config` written into a fresh folder: its exit
/// code and everything it printed.
fn check_file(config: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("eightfold.toml"), config).unwrap();
    let out = common::run(&["check", "eightfold.toml"], dir.path());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn api_only() -> Server {
    Server::start("[server]\napi = \"127.0.0.1:0\"\ndata = \"eightfold.db\"\n")
}

/// The text of the first `<tag>` in `xml`.
fn xml_text<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        + open.len();
    &xml[start..start + xml[start..].find('<').unwrap()]
}

#[test]
fn metadata_address_check_is_refused() {
    let server = api_only();
    let api = server.api.unwrap();

    // The JSON API, as written and in IPv4-mapped IPv6 form.
    for ip in ["169.254.169.254", "::ffff:169.254.169.254"] {
        let (code, message) = create_check(api, "meta", ip, 80);
        assert_eq!(code, 400, "{ip}");
        assert!(
            message.contains("field ip")
                && message.contains(&format!("checks may not target {ip} (link-local")),
            "{message}"
        );
    }
    // Nor can a harmless check be moved there.
    assert_eq!(create_check(api, "web", "192.0.2.10", 80).0, 201);
    let (code, body) = http(
        api,
        "PUT",
        "/v1/health-checks/web",
        &check_json("web", "169.254.169.254", 80),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("link-local"), "{body}");

    // The Route 53 API: CreateHealthCheck and UpdateHealthCheck.
    let create = |ip: &str, reference: &str| {
        http(
            api,
            "POST",
            "/2013-04-01/healthcheck",
            &format!(
                "<CreateHealthCheckRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">\
                 <CallerReference>{reference}</CallerReference><HealthCheckConfig>\
                 <IPAddress>{ip}</IPAddress><Port>80</Port><Type>HTTP</Type>\
                 <ResourcePath>/</ResourcePath></HealthCheckConfig></CreateHealthCheckRequest>"
            ),
        )
    };
    let (code, body) = create("169.254.169.254", "r53-meta");
    assert_eq!(code, 400, "{body}");
    assert_eq!(xml_text(&body, "Code"), "InvalidInput");
    assert!(
        xml_text(&body, "Message").contains("169.254.169.254"),
        "{body}"
    );
    let (code, body) = create("192.0.2.20", "r53-web");
    assert_eq!(code, 201, "{body}");
    let id = xml_text(&body, "Id").to_string();
    let (code, body) = http(
        api,
        "POST",
        &format!("/2013-04-01/healthcheck/{id}"),
        "<UpdateHealthCheckRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">\
         <IPAddress>169.254.169.254</IPAddress></UpdateHealthCheckRequest>",
    );
    assert_eq!(code, 400, "{body}");
    assert_eq!(xml_text(&body, "Code"), "InvalidInput");

    // The config file: located at the ip value, and the server does not
    // start with it.
    let config = common::failover_config("", "ip = \"169.254.169.254\"");
    let (code, text) = check_file(&config);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains(
            "eightfold.toml:11:6: health check \"primary\": checks may not target 169.254.169.254 (link-local"
        ),
        "{text}"
    );
    // Nothing refused was stored.
    let (_, body) = http(api, "GET", "/v1/health-checks", "");
    assert!(!body.contains("169.254"), "{body}");
}

#[test]
fn multicast_unspecified_broadcast_and_own_listener_checks_are_refused() {
    let server = api_only();
    let api = server.api.unwrap();
    let dns = server.addr();
    let cases = [
        ("224.0.0.251", 80, "(multicast)"),
        ("ff02::fb", 80, "(multicast)"),
        ("0.0.0.0", 80, "(unspecified"),
        ("::", 80, "(unspecified"),
        ("::ffff:0.0.0.0", 80, "(unspecified"),
        ("255.255.255.255", 80, "(broadcast)"),
        ("fe80::1", 80, "(link-local"),
    ];
    for (ip, port, why) in cases {
        let (code, message) = create_check(api, "bad", ip, port);
        assert_eq!(code, 400, "{ip}");
        assert!(message.contains(why), "{ip}: {message}");
    }
    // The ports were chosen at bind time (port 0 in the config): the
    // bound addresses are what is refused.
    let (code, message) = create_check(api, "self", "127.0.0.1", api.port());
    assert_eq!(code, 400);
    assert!(
        message.contains(&format!("(eightfold's own API listener {api})")),
        "{message}"
    );
    let (code, message) = create_check(api, "self", "::ffff:127.0.0.1", dns.port());
    assert_eq!(code, 400);
    assert!(
        message.contains(&format!("(eightfold's own DNS listener {dns})")),
        "{message}"
    );
    // Loopback on another port is a neighbour, and allowed.
    let neighbour = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = neighbour.local_addr().unwrap().port();
    assert_eq!(create_check(api, "next-door", "127.0.0.1", port).0, 201);

    // In the config file, against the listeners it declares.
    let (code, text) = check_file(
        "[server]\ndns = [\"127.0.0.1:5353\"]\napi = \"0.0.0.0:8053\"\n\
         [[health_check]]\nid = \"loop\"\ntype = \"tcp\"\nip = \"127.0.0.1\"\nport = 5353\n\
         [[health_check]]\nid = \"wild\"\ntype = \"tcp\"\nip = \"127.0.0.1\"\nport = 8053\n\
         [[health_check]]\nid = \"mc\"\ntype = \"tcp\"\nip = \"239.255.255.250\"\nport = 1900\n",
    );
    assert_eq!(code, 2, "{text}");
    for want in [
        "eightfold.toml:7:6: health check \"loop\": checks may not target 127.0.0.1:5353 (eightfold's own DNS listener 127.0.0.1:5353)",
        "eightfold.toml:12:6: health check \"wild\": checks may not target 127.0.0.1:8053 (eightfold's own API listener 0.0.0.0:8053)",
        "eightfold.toml:17:6: health check \"mc\": checks may not target 239.255.255.250 (multicast)",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

#[test]
fn check_targets_confine_checks_and_a_reload_changes_them() {
    let config = |targets: &str| {
        format!(
            "[server]\napi = \"127.0.0.1:0\"\ndata = \"eightfold.db\"\ncheck_targets = [{targets}]\n"
        )
    };
    let server = Server::start(&config("\"192.0.2.0/24\""));
    let api = server.api.unwrap();
    let (code, message) = create_check(api, "lo", "127.0.0.1", 8080);
    assert_eq!(code, 400);
    assert!(
        message.contains("checks may not target 127.0.0.1 (outside server.check_targets)"),
        "{message}"
    );
    assert_eq!(create_check(api, "in", "192.0.2.10", 80).0, 201);
    assert_eq!(create_check(api, "mapped", "::ffff:192.0.2.11", 80).0, 201);
    assert_eq!(create_check(api, "v6", "2001:db8::1", 80).0, 400);
    // Listing a range never opens the always-refused ones.
    std::fs::write(
        server.path("eightfold.toml"),
        config("\"127.0.0.0/8\", \"192.0.2.0/24\", \"169.254.0.0/16\""),
    )
    .unwrap();
    server.signal("HUP");
    server.wait_for_log("reloaded", Duration::from_secs(10));
    assert_eq!(create_check(api, "lo", "127.0.0.1", 8080).0, 201);
    let (code, message) = create_check(api, "meta", "169.254.169.254", 80);
    assert_eq!(code, 400);
    assert!(message.contains("(link-local"), "{message}");

    // The config file's own checks are held to its check_targets.
    let (code, text) = check_file(&common::failover_config(
        "check_targets = [\"10.0.0.0/8\"]",
        "ip = \"127.0.0.1\"",
    ));
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains(
            "eightfold.toml:11:6: health check \"primary\": checks may not target 127.0.0.1 (outside server.check_targets)"
        ),
        "{text}"
    );
    let (code, text) = check_file(&common::failover_config(
        "check_targets = [\"10.0.0.0/8\"]",
        "ip = \"10.1.2.3\"",
    ));
    assert_eq!(code, 0, "{text}");
}

#[test]
fn an_fqdn_resolving_only_to_a_forbidden_address_is_not_probed() {
    // localhost is allowed by default; here check_targets leaves it out,
    // so the name passes the declaration and is refused at probe time.
    let backend = Backend::start();
    let server = Server::start(&common::failover_config(
        "check_targets = [\"192.0.2.0/24\"]",
        &format!("fqdn = \"localhost\"\nport = {}", backend.addr.port()),
    ));
    let api = server.api.unwrap();
    let mut shown = Value::Null;
    within(Duration::from_secs(10), "the check down", || {
        shown = status(api, "primary");
        shown["status"] == "unhealthy"
    });
    let last = shown["last_results"].as_array().unwrap().last().unwrap();
    let reason = last["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("localhost resolves only to")
            && reason.contains("127.0.0.1")
            && reason.contains("outside server.check_targets"),
        "{reason}"
    );
    // An endpoint failure, counted: not a local fault.
    assert!(last.get("local_fault").is_none(), "{last}");
    assert_eq!(answer(&server), [SECONDARY]);
    assert_eq!(
        backend.requests.load(Ordering::Relaxed),
        0,
        "the forbidden address was probed"
    );
}
