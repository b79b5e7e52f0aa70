//! Durability and liveness of API changes over real sockets: acknowledged
//! changes survive SIGKILL, health history, states and operator overrides
//! survive a restart,
//! and DNS never fails while batches are applied.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Data, Server};
use serde_json::{Value, json};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn call(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let agent = agent();
    let mut response = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        ("POST", Some(b)) => agent.post(url).send_json(&b),
        ("DELETE", _) => agent.delete(url).call(),
        (m, _) => panic!("unsupported {m}"),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

const CONFIG: &str = "[server]\napi = \"127.0.0.1:0\"\n";

fn start(dir: tempfile::TempDir) -> Server {
    let config = dir.path().join("eightfold.toml");
    let config = config.to_str().unwrap().to_string();
    Server::spawn(dir, &["serve", "--config", &config, "--dns", "127.0.0.1:0"])
}

fn fresh() -> Server {
    fresh_on(Data::Sqlite)
}

fn fresh_on(data: Data) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("{CONFIG}data = \"{}\"\n", data.value());
    std::fs::write(dir.path().join("eightfold.toml"), config).unwrap();
    start(dir)
}

fn multivalue(set: &str, value: &str, check: Option<&str>) -> Value {
    let mut r = json!({"name": "www", "type": "A", "ttl": 60, "routing": "multivalue", "set": set, "value": value});
    if let Some(c) = check {
        r["health_check"] = json!(c);
    }
    r
}

#[test]
fn an_acknowledged_change_survives_sigkill_on_sqlite() {
    an_acknowledged_change_survives_sigkill(Data::Sqlite);
}

#[test]
fn an_acknowledged_change_survives_sigkill_on_postgres() {
    an_acknowledged_change_survives_sigkill(Data::Postgres);
}

fn an_acknowledged_change_survives_sigkill(data: Data) {
    let s = fresh_on(data);
    let api = s.api_url();
    let (status, body) = call(
        "POST",
        &format!("{api}/v1/zones"),
        Some(json!({"name": "dur.test."})),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        "POST",
        &format!("{api}/v1/zones/dur.test/changes"),
        Some(
            json!({"changes": [{"action": "CREATE", "record": multivalue("a", "192.0.2.1", None)}]}),
        ),
    );
    assert_eq!(status, 200, "{body}");
    // The reply came after the commit: kill at once, as a crash would.
    let dir = s.kill();
    let s = start(dir);
    let (status, body) = call(
        "GET",
        &format!("{}/v1/zones/dur.test/records", s.api_url()),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["records"], json!([multivalue("a", "192.0.2.1", None)]));
    let answer = s.dig(&["www.dur.test", "A", "+short"]);
    assert_eq!(answer.trim(), "192.0.2.1");
}

/// An HTTP backend answering 200 or 503 as `up` says.
fn backend(up: Arc<AtomicBool>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let reply: &[u8] = if up.load(Ordering::SeqCst) {
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK"
            } else {
                b"HTTP/1.1 503 Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\nDOWN"
            };
            let _ = stream.write_all(reply);
        }
    });
    addr
}

/// Creates check `web`: HTTP to `addr` every second.
fn create_web_check(api: &str, addr: SocketAddr, failure_threshold: u32) {
    let (status, body) = call(
        "POST",
        &format!("{api}/v1/health-checks"),
        Some(
            json!({"id": "web", "type": "http", "ip": "127.0.0.1", "port": addr.port(),
                    "interval": "1s", "failure_threshold": failure_threshold, "timeout": "1s"}),
        ),
    );
    assert_eq!(status, 201, "{body}");
}

fn check_status(api: &str) -> Value {
    call("GET", &format!("{api}/v1/health-checks/web/status"), None).1
}

#[test]
fn health_history_and_state_survive_a_restart_on_sqlite() {
    health_history_and_state_survive_a_restart(Data::Sqlite);
}

#[test]
fn health_history_and_state_survive_a_restart_on_postgres() {
    health_history_and_state_survive_a_restart(Data::Postgres);
}

fn health_history_and_state_survive_a_restart(data: Data) {
    let up = Arc::new(AtomicBool::new(false));
    let addr = backend(up.clone());
    let s = fresh_on(data);
    let api = s.api_url();
    create_web_check(&api, addr, 3);
    let deadline = Instant::now() + Duration::from_secs(10);
    while check_status(&api)["status"] != "unhealthy" {
        assert!(
            Instant::now() < deadline,
            "never unhealthy: {}",
            check_status(&api)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The event reaches the database through a background writer.
    let events_url = format!("{api}/v1/health-events?check=web");
    while call("GET", &events_url, None).1["events"]
        .as_array()
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "no event recorded");
        std::thread::sleep(Duration::from_millis(50));
    }
    let dir = s.kill();
    // The endpoint recovers while we are down. A check that forgot its
    // state would start healthy; one that resumes stays unhealthy until
    // three probes (two seconds at least) say otherwise.
    up.store(true, Ordering::SeqCst);
    let s = start(dir);
    let api = s.api_url();
    assert_eq!(check_status(&api)["status"], "unhealthy");
    let (_, events) = call("GET", &format!("{api}/v1/health-events?check=web"), None);
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["new"], "unhealthy");
    assert!(
        events[0]["reason"].as_str().unwrap().contains("HTTP 503"),
        "{events:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while check_status(&api)["status"] != "healthy" {
        assert!(Instant::now() < deadline, "never healthy again");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_override_survives_a_restart_and_so_does_its_release_on_sqlite() {
    an_override_survives_a_restart_and_so_does_its_release(Data::Sqlite);
}

#[test]
fn an_override_survives_a_restart_and_so_does_its_release_on_postgres() {
    an_override_survives_a_restart_and_so_does_its_release(Data::Postgres);
}

fn an_override_survives_a_restart_and_so_does_its_release(data: Data) {
    let addr = backend(Arc::new(AtomicBool::new(true)));
    let s = fresh_on(data);
    let api = s.api_url();
    create_web_check(&api, addr, 1);
    call(
        "POST",
        &format!("{api}/v1/zones"),
        Some(json!({"name": "drill.test."})),
    );
    let (status, body) = call(
        "POST",
        &format!("{api}/v1/zones/drill.test/changes"),
        Some(json!({"changes": [
            {"action": "CREATE", "record": multivalue("a", "192.0.2.1", Some("web"))},
            {"action": "CREATE", "record": multivalue("b", "192.0.2.2", None)},
        ]})),
    );
    assert_eq!(status, 200, "{body}");
    // A failover drill: the primary forced out, then the process dies.
    let (status, body) = call(
        "POST",
        &format!("{api}/v1/health-checks/web/override"),
        Some(json!({"status": "unhealthy"})),
    );
    assert_eq!(status, 200, "{body}");
    let dir = s.kill();

    let s = start(dir);
    let api = s.api_url();
    let status = check_status(&api);
    assert_eq!(status["override_status"], "unhealthy", "{status}");
    assert_eq!(status["status"], "unhealthy", "{status}");
    assert_eq!(
        s.dig(&["www.drill.test", "A", "+short"]).trim(),
        "192.0.2.2"
    );
    // Probes keep succeeding; the override still holds.
    let probed = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < probed {
        assert_eq!(check_status(&api)["status"], "unhealthy");
        std::thread::sleep(Duration::from_millis(100));
    }

    let (status, body) = call(
        "POST",
        &format!("{api}/v1/health-checks/web/override"),
        Some(json!({"status": null})),
    );
    assert_eq!(status, 200, "{body}");
    let dir = s.kill();
    let s = start(dir);
    let api = s.api_url();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = check_status(&api);
        assert!(status.get("override_status").is_none(), "{status}");
        if status["status"] == "healthy" {
            break;
        }
        assert!(Instant::now() < deadline, "never healthy again: {status}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut answer: Vec<String> = s
        .dig(&["www.drill.test", "A", "+short"])
        .lines()
        .map(str::to_string)
        .collect();
    answer.sort();
    assert_eq!(answer, ["192.0.2.1", "192.0.2.2"]);
}

/// A query for `name` A with `id`, built by hand (RFC 1035 §4.1).
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

// One test for both backends, one after the other: each run floods the
// server's UDP threads from a querier thread, and two at once on a small
// machine starve the API's writes for seconds.
#[test]
fn dns_never_fails_while_batches_apply_on_sqlite_then_postgres() {
    dns_never_fails_while_batches_apply(Data::Sqlite);
    dns_never_fails_while_batches_apply(Data::Postgres);
}

fn dns_never_fails_while_batches_apply(data: Data) {
    let s = fresh_on(data);
    let api = s.api_url();
    call(
        "POST",
        &format!("{api}/v1/zones"),
        Some(json!({"name": "busy.test."})),
    );
    let (status, body) = call(
        "POST",
        &format!("{api}/v1/zones/busy.test/changes"),
        Some(
            json!({"changes": [{"action": "CREATE", "record": multivalue("a", "192.0.2.1", None)}]}),
        ),
    );
    assert_eq!(status, 200, "{body}");

    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let dns = s.addr();
    let querier = {
        let stop = stop.clone();
        let answered = answered.clone();
        std::thread::spawn(move || {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let mut failures = Vec::new();
            let mut id = 0u16;
            let mut buf = [0u8; 1500];
            while !stop.load(Ordering::SeqCst) {
                id = id.wrapping_add(1);
                socket.send_to(&query(id, "www.busy.test"), dns).unwrap();
                match socket.recv(&mut buf) {
                    Ok(n) => {
                        let rcode = buf[3] & 0x0f;
                        let ancount = u16::from_be_bytes([buf[6], buf[7]]);
                        if n < 12
                            || u16::from_be_bytes([buf[0], buf[1]]) != id
                            || rcode != 0
                            || ancount == 0
                        {
                            failures.push(format!("id {id}: rcode {rcode}, {ancount} answers"));
                        } else {
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Err(e) => failures.push(format!("id {id}: {e}")),
                }
            }
            failures
        })
    };
    for i in 0..200u32 {
        let value = format!("192.0.2.{}", 2 + i % 200);
        let changes = json!({"changes": [
            {"action": "UPSERT", "record": multivalue("b", &value, None)},
            {"action": "UPSERT", "record": {"name": format!("n{}", i % 20), "type": "TXT", "ttl": 60, "values": [format!("\"{i}\"")]}},
        ]});
        let (status, body) = call(
            "POST",
            &format!("{api}/v1/zones/busy.test/changes"),
            Some(changes),
        );
        assert_eq!(status, 200, "batch {i}: {body}");
    }
    stop.store(true, Ordering::SeqCst);
    let failures = querier.join().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed queries: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        answered.load(Ordering::SeqCst) > 100,
        "only {} answers",
        answered.load(Ordering::SeqCst)
    );
}

#[test]
fn history_past_its_retention_is_pruned_at_start() {
    let s = fresh();
    let dir = s.kill();
    // History written long ago, straight into the real database file: 150
    // events a year old and 150 recent ones, with a Route 53 change each.
    {
        let db = rusqlite::Connection::open(dir.path().join("eightfold.db")).unwrap();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let year_ms = 365 * 24 * 3600 * 1000i64;
        for i in 0..300i64 {
            let at = if i < 150 {
                now_ms - year_ms + i
            } else {
                now_ms - 1000 + i
            };
            db.execute(
                "INSERT INTO health_events (check_id, at, seq, old_healthy, new_healthy, reason)
                 VALUES ('web', ?1, 0, 1, 0, ?2)",
                rusqlite::params![at, format!("event {i}")],
            )
            .unwrap();
            db.execute(
                "INSERT INTO route53_changes (id, submitted_at) VALUES (?1, ?2)",
                rusqlite::params![format!("C{i:013}"), at],
            )
            .unwrap();
        }
    }
    // 90 days by default; at most 200 rows here.
    std::fs::write(
        dir.path().join("eightfold.toml"),
        format!("{CONFIG}history_max_rows = 200\n"),
    )
    .unwrap();
    let s = start(dir);
    s.wait_for_log("history pruned", Duration::from_secs(10));
    let db = rusqlite::Connection::open(s.path("eightfold.db")).unwrap();
    let count = |table: &str| -> i64 {
        db.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count("health_events"), 150, "the year-old events go");
    assert_eq!(count("route53_changes"), 150);
    let logs = s.logs();
    assert!(
        logs.contains("events=150") && logs.contains("changes=150"),
        "{logs}"
    );
    let api = s.api_url();
    let (status, body) = call("GET", &format!("{api}/2013-04-01/change/C{:013}", 0), None);
    assert_eq!(status, 404, "{body}");
    let (status, _) = call(
        "GET",
        &format!("{api}/2013-04-01/change/C{:013}", 299),
        None,
    );
    assert_eq!(status, 200);
}

/// A server on SQLite with `n` HTTP checks (`c0`...) probing every
/// second, against a backend that answers 200 while `up`, else 503.
fn start_with_checks(n: usize, up: &Arc<AtomicBool>) -> Server {
    let addr = backend(up.clone());
    let dir = tempfile::tempdir().unwrap();
    let mut config = String::from(CONFIG);
    for i in 0..n {
        config.push_str(&format!(
            "\n[[health_check]]\nid = \"c{i}\"\ntype = \"http\"\nip = \"127.0.0.1\"\nport = {}\ninterval = \"1s\"\nfailure_threshold = 1\n",
            addr.port()
        ));
    }
    std::fs::write(dir.path().join("eightfold.toml"), config).unwrap();
    start(dir)
}

#[test]
fn transitions_queued_at_sigterm_are_written_before_exit() {
    const CHECKS: usize = 20;
    let up = Arc::new(AtomicBool::new(true));
    let s = start_with_checks(CHECKS, &up);
    // The database is busy (a backup, say) while every check fails at
    // once: the writer waits on it and the transitions queue up.
    let db = rusqlite::Connection::open(s.path("eightfold.db")).unwrap();
    db.execute_batch("BEGIN EXCLUSIVE").unwrap();
    up.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.logs().matches("healthy → unhealthy").count() < CHECKS {
        assert!(
            Instant::now() < deadline,
            "not every check failed:\n{}",
            s.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    s.signal("TERM");
    // Longer than a stop takes, shorter than the store's busy timeout (5 s
    // from the first transition): the process must wait for the writer.
    std::thread::sleep(Duration::from_secs(2));
    db.execute_batch("COMMIT").unwrap();
    let (status, logs) = s.wait();
    assert!(status.success(), "{status}: {logs}");
    let written: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM health_events WHERE new_healthy = 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        written, CHECKS as i64,
        "transitions lost at the stop: {logs}"
    );
}

/// The store refuses the transitions (locked past its busy timeout by a
/// backup, say, or full): they are kept, said once, and written when it
/// takes writes again, with no new transition needed.
#[test]
fn transitions_the_store_refused_are_written_when_it_takes_them_again() {
    const CHECKS: usize = 5;
    let up = Arc::new(AtomicBool::new(true));
    let s = start_with_checks(CHECKS, &up);
    let db = rusqlite::Connection::open(s.path("eightfold.db")).unwrap();
    db.execute_batch("BEGIN EXCLUSIVE").unwrap();
    up.store(false, Ordering::SeqCst);
    // The writer waits out the busy timeout (5 s), then gives up.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !s.logs().contains("cannot record health events") {
        assert!(Instant::now() < deadline, "no refusal:\n{}", s.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    db.execute_batch("COMMIT").unwrap();
    let written = || -> i64 {
        db.query_row(
            "SELECT COUNT(*) FROM health_events WHERE new_healthy = 0",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while written() < CHECKS as i64 || !s.logs().contains("health events recorded again") {
        assert!(
            Instant::now() < deadline,
            "{} of {CHECKS} written:\n{}",
            written(),
            s.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let logs = s.logs();
    assert_eq!(
        logs.matches("cannot record health events").count(),
        1,
        "{logs}"
    );
    // Written once each, and the state to resume from with them.
    assert_eq!(written(), CHECKS as i64);
    let states: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM health_states WHERE NOT healthy",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(states, CHECKS as i64);
}

/// A node killed after its check's transition was recorded but before its
/// own observation of it was written (two writers, a few milliseconds
/// apart) resumes the state, not the older observation that contradicts
/// it: a restart does not move the vote by itself.
#[test]
fn an_observation_older_than_the_last_transition_does_not_move_a_restarted_node() {
    let up = Arc::new(AtomicBool::new(false));
    let addr = backend(up.clone());
    let url = common::postgres::fresh_database();
    let database = url.rsplit('/').next().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let config = format!("{CONFIG}data = \"{url}\"\n");
    std::fs::write(dir.path().join("eightfold.toml"), config).unwrap();
    let s = start(dir);
    let api = s.api_url();
    create_web_check(&api, addr, 3);
    let deadline = Instant::now() + Duration::from_secs(10);
    let pg = common::postgres::server();
    let recorded = || {
        pg.psql(
            &database,
            "SELECT count(*) FROM health_observations WHERE NOT healthy",
        )
        .trim()
            == "1"
            && pg
                .psql(&database, "SELECT healthy FROM health_states")
                .trim()
                == "f"
    };
    while !recorded() {
        assert!(Instant::now() < deadline, "never recorded unhealthy");
        std::thread::sleep(Duration::from_millis(50));
    }
    let dir = s.kill();
    // The lost write: the stored observation is still the healthy one the
    // check started with, from before the transition.
    pg.psql(
        &database,
        "UPDATE health_observations SET healthy = true, at = at - 60000",
    );
    let s = start(dir);
    let api = s.api_url();
    // Through the revotes of the next two seconds too (one a second; the
    // backend is still down, so the probes agree): a resumed healthy
    // observation would have flipped it within the first.
    let watched = Instant::now();
    while watched.elapsed() < Duration::from_secs(2) {
        assert_eq!(check_status(&api)["status"], "unhealthy", "{}", s.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
}
