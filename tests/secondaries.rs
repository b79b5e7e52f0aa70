//! Stock NSD and Knot as secondaries of eightfold (issue 16): AXFR, then
//! incremental IXFR for every change, with TSIG, and NOTIFY signed with the same key on every change (both
//! accept only signed NOTIFY here), so that both follow a record
//! changed through the API and a health transition within seconds, long
//! before their SOA refresh (an hour) would.
//!
//! An API zone can be handed to a secondary the same way, with its own
//! transfer settings and a TSIG key made through the API.
//!
//! Needs `/usr/sbin/nsd` and `/usr/sbin/knotd` (Debian: `apt-get install
//! nsd knot`) and `dig`. Both run in the foreground, as the current user,
//! from temp folders, on loopback ports, as tests/differential.rs runs them.
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::Server;
use serde_json::{Value, json};

const SECRET: &str = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0";
const APEX: &str = "example.test.";
/// How long a secondary may take to follow a change: NOTIFY, its SOA
/// query, the transfer and its reload (NSD reloads after up to 1 s).
const FOLLOW_WITHIN: Duration = Duration::from_secs(15);

/// A port free for both UDP and TCP on 127.0.0.1 (bound, then released).
fn free_port() -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP");
}

/// An HTTP backend answering 200 while `up`, 503 otherwise.
fn backend(up: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 1024];
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.read(&mut buf);
            let status = if up.load(Ordering::SeqCst) {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            let _ = stream.write_all(
                format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                    .as_bytes(),
            );
        }
    });
    port
}

fn api(method: &str, url: &str, body: Value) -> u16 {
    call(method, url, body).0
}

/// The status and the body of one JSON API request.
fn call(method: &str, url: &str, body: Value) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let response = match method {
        "POST" => agent.post(url).send_json(&body),
        "PUT" => agent.put(url).send_json(&body),
        "GET" => agent.get(url).call(),
        "DELETE" => agent.delete(url).call(),
        m => panic!("unsupported {m}"),
    };
    let mut response = response.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

/// A secondary server, stopped on drop.
use common::reference::Reference as Secondary;

impl Secondary {
    fn nsd(port: u16, primary: SocketAddr) -> Secondary {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let conf = format!(
            "server:\n  ip-address: 127.0.0.1\n  port: {port}\n  do-ip6: no\n  server-count: 1\n  \
             username: \"\"\n  chroot: \"\"\n  zonesdir: \"{d}\"\n  pidfile: \"{d}/nsd.pid\"\n  \
             xfrdfile: \"{d}/xfrd.state\"\n  xfrdir: \"{d}\"\n  zonelistfile: \"{d}/zone.list\"\n  \
             database: \"\"\n  logfile: \"{d}/server.log\"\n  verbosity: 2\n  rrl-ratelimit: 0\n  \
             xfrd-reload-timeout: 0\n\
             remote-control:\n  control-enable: no\n\
             key:\n  name: \"xfr.key\"\n  algorithm: hmac-sha256\n  secret: \"{SECRET}\"\n\
             zone:\n  name: \"{APEX}\"\n  zonefile: \"example.test.zone\"\n  \
             request-xfr: {ip}@{p} xfr.key\n  allow-notify: 127.0.0.1 xfr.key\n",
            ip = primary.ip(),
            p = primary.port()
        );
        Secondary::start("NSD", "/usr/sbin/nsd", &["-d"], dir, port, conf)
    }

    fn knot(port: u16, primary: SocketAddr) -> Secondary {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let conf = format!(
            "server:\n  rundir: \"{d}\"\n  listen: 127.0.0.1@{port}\n  background-workers: 1\n  \
             udp-workers: 1\n  tcp-workers: 1\n\
             log:\n  - target: \"{d}/server.log\"\n    any: info\n\
             database:\n  storage: \"{d}\"\n\
             key:\n  - id: xfr.key\n    algorithm: hmac-sha256\n    secret: {SECRET}\n\
             remote:\n  - id: primary\n    address: {ip}@{p}\n    key: xfr.key\n\
             acl:\n  - id: notify\n    address: 127.0.0.1\n    key: xfr.key\n    action: notify\n\
             template:\n  - id: default\n    storage: \"{d}\"\n    zonefile-sync: -1\n    \
             journal-content: none\n\
             zone:\n  - domain: \"{APEX}\"\n    master: primary\n    acl: notify\n",
            ip = primary.ip(),
            p = primary.port()
        );
        Secondary::start("Knot", "/usr/sbin/knotd", &[], dir, port, conf)
    }

    /// The sorted A records of `name` it answers with authoritatively.
    fn answers(&self, name: &str) -> Vec<String> {
        let out = common::dig(self.addr, &[name, "A", "+norec", "+noall", "+answer"]);
        let mut values: Vec<String> = out
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
            .collect();
        values.sort();
        values
    }

    /// Waits until it answers `want` for `name`; how long it took.
    fn wait_for(&self, name: &str, want: &[&str], primary: &Server) -> Duration {
        let start = Instant::now();
        loop {
            if self.answers(name) == want {
                return start.elapsed();
            }
            if start.elapsed() > FOLLOW_WITHIN {
                panic!(
                    "{} did not answer {want:?} for {name} within {FOLLOW_WITHIN:?} (it answers {:?})\n{}\neightfold:\n{}",
                    self.name,
                    self.answers(name),
                    self.logs(),
                    primary.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn nsd_and_knot_follow_an_api_change_and_a_health_transition_by_notify() {
    let up = Arc::new(AtomicBool::new(true));
    let backend_port = backend(up.clone());
    let (nsd_port, knot_port) = (free_port(), free_port());
    let config = format!(
        r#"[server]
api = "127.0.0.1:0"
data = "eightfold.db"
allow_transfer = [{{ from = "127.0.0.1", key = "xfr.key" }}]
notify = ["127.0.0.1:{nsd_port}", "127.0.0.1:{knot_port}"]
notify_key = "xfr.key"

[[tsig_key]]
name = "xfr.key"
secret = "{SECRET}"

[[health_check]]
id = "web"
type = "http"
ip = "127.0.0.1"
port = {backend_port}
interval = "1s"
failure_threshold = 1
"#
    );
    let eightfold = Server::start(&config);
    let url = eightfold.api_url();
    assert_eq!(
        api("POST", &format!("{url}/v1/zones"), json!({"name": APEX})),
        201
    );
    let record = |name: &str, extra: Value| {
        let mut r = json!({"name": name, "type": "A", "ttl": 60});
        r.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"action": "UPSERT", "record": r})
    };
    let changes = json!({"changes": [
        record("www", json!({"values": ["192.0.2.1"]})),
        record("fo", json!({"routing": "failover", "set": "p", "failover": "primary", "value": "192.0.2.10", "health_check": "web"})),
        record("fo", json!({"routing": "failover", "set": "s", "failover": "secondary", "value": "192.0.2.20"})),
    ]});
    let changes_url = format!("{url}/v1/zones/{APEX}/changes");
    assert_eq!(api("POST", &changes_url, changes), 200);

    let primary = eightfold.addr();
    let nsd = Secondary::nsd(nsd_port, primary);
    let knot = Secondary::knot(knot_port, primary);
    let secondaries = [&nsd, &knot];
    for s in secondaries {
        s.wait_for("www.example.test", &["192.0.2.1"], &eightfold);
        s.wait_for("fo.example.test", &["192.0.2.10"], &eightfold);
    }

    // A record changed through the API.
    let change = json!({"changes": [record("www", json!({"values": ["192.0.2.2", "192.0.2.3"]}))]});
    assert_eq!(api("POST", &changes_url, change), 200);
    for s in secondaries {
        let took = s.wait_for("www.example.test", &["192.0.2.2", "192.0.2.3"], &eightfold);
        eprintln!("{} followed the API change in {took:?}", s.name);
    }

    // The backend fails: the failover group's secondary record is active,
    // and so is it on the secondaries.
    up.store(false, Ordering::SeqCst);
    for s in secondaries {
        let took = s.wait_for("fo.example.test", &["192.0.2.20"], &eightfold);
        eprintln!("{} followed the health transition in {took:?}", s.name);
    }
    // And back.
    up.store(true, Ordering::SeqCst);
    for s in secondaries {
        s.wait_for("fo.example.test", &["192.0.2.10"], &eightfold);
    }
    let logs = eightfold.logs();
    assert!(logs.contains("NOTIFY answered"), "{logs}");
    // After the first transfers every change went as differences (RFC
    // 1995): three changes, two secondaries, each an incremental IXFR.
    assert!(logs.matches(r#"kind="incremental""#).count() >= 6, "{logs}");
    // Knot says so too: one AXFR to start, then IXFR (NSD's log does not
    // name the kind; eightfold's count above includes it).
    let knot_log = knot.logs();
    let finished = |kind: &str| {
        knot_log
            .lines()
            .filter(|l| l.contains(&format!("{kind}, incoming")) && l.contains("finished"))
            .count()
    };
    assert_eq!(finished("AXFR"), 1, "{knot_log}");
    assert!(finished("IXFR") >= 3, "{knot_log}");
    assert!(logs.contains("zone transferred"), "{logs}");
}

/// Whether a TSIG-signed AXFR of `APEX` from `server` gets the zone.
fn axfr_allowed(server: &Server) -> bool {
    let out = server.dig(&["-y", &format!("hmac-sha256:xfr.key:{SECRET}"), APEX, "AXFR"]);
    out.contains("\tSOA\t") || out.contains(" SOA ")
}

#[test]
fn knot_follows_an_api_zone_whose_transfer_settings_and_key_were_made_through_the_api() {
    let knot_port = free_port();
    // No transfer settings and no key in the file: all of it through the API.
    let eightfold = Server::start("[server]\napi = \"127.0.0.1:0\"\ndata = \"eightfold.db\"\n");
    let url = eightfold.api_url();
    let key = json!({"name": "xfr.key.", "secret": SECRET});
    assert_eq!(api("POST", &format!("{url}/v1/tsig-keys"), key), 201);
    assert_eq!(
        api("POST", &format!("{url}/v1/zones"), json!({"name": APEX})),
        201
    );
    let www = |value: &str| json!({"changes": [{"action": "UPSERT", "record": {"name": "www", "type": "A", "ttl": 60, "value": value}}]});
    let changes_url = format!("{url}/v1/zones/{APEX}/changes");
    assert_eq!(api("POST", &changes_url, www("192.0.2.1")), 200);
    let transfers_url = format!("{url}/v1/zones/{APEX}/transfers");
    let (status, body) = call("GET", &transfers_url, Value::Null);
    assert_eq!(status, 200, "{body}");
    let shown: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(shown["source"], "server", "{body}");
    assert_eq!(shown["allow_transfer"], json!([]), "{body}");
    assert!(
        !axfr_allowed(&eightfold),
        "nobody may transfer a zone by default"
    );

    // A key nobody made, an address that is not one: refused, naming both.
    let wrong = json!({"allow_transfer": [{"key": "missing.key."}], "notify": ["nowhere"]});
    let (status, body) = call("PUT", &transfers_url, wrong);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("missing.key.") && body.contains("\\\"nowhere\\\""),
        "{body}"
    );
    assert!(!axfr_allowed(&eightfold));

    let settings = json!({
        "allow_transfer": [{"from": "127.0.0.1", "key": "xfr.key."}],
        "notify": [format!("127.0.0.1:{knot_port}")],
        "notify_key": "xfr.key.",
    });
    let (status, body) = call("PUT", &transfers_url, settings);
    assert_eq!(status, 200, "{body}");
    let shown: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(shown["source"], "api", "{body}");
    assert_eq!(
        shown["allow_transfer"],
        json!([{"from": "127.0.0.1/32", "key": "xfr.key."}]),
        "{body}"
    );
    assert_eq!(
        shown["notify"],
        json!([format!("127.0.0.1:{knot_port}")]),
        "{body}"
    );
    assert!(axfr_allowed(&eightfold));

    // Knot takes the zone, then follows a change by the NOTIFY signed
    // with the API's key.
    let knot = Secondary::knot(knot_port, eightfold.addr());
    knot.wait_for("www.example.test", &["192.0.2.1"], &eightfold);
    assert_eq!(api("POST", &changes_url, www("192.0.2.2")), 200);
    let took = knot.wait_for("www.example.test", &["192.0.2.2"], &eightfold);
    eprintln!("Knot followed the API change in {took:?}");
    let logs = eightfold.logs();
    assert!(logs.contains("NOTIFY answered"), "{logs}");

    // The key is in use: it stays until the settings stop naming it.
    let key_url = format!("{url}/v1/tsig-keys/xfr.key.");
    let (status, body) = call("DELETE", &key_url, Value::Null);
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("example.test."), "{body}");
    let (status, body) = call("DELETE", &transfers_url, Value::Null);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"source\":\"server\""), "{body}");
    assert!(
        !axfr_allowed(&eightfold),
        "the zone went back to the server's settings"
    );
    assert_eq!(call("DELETE", &key_url, Value::Null).0, 204);
}
