//! Health state is kept per check: changing, adding or removing one check
//! through the API restarts that check's probe only, leaves every other
//! check's state and streak where they were, rebuilds no zone, and every
//! state change it causes is a recorded event and a log line. Against the
//! real binary, with TCP checks aimed at loopback ports this test opens
//! (up) or closes (down).

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::Server;
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
        ("PUT", Some(b)) => agent.put(url).send_json(&b),
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

fn start() -> Server {
    Server::start("[server]\napi = \"127.0.0.1:0\"\n")
}

/// A loopback port that accepts connections while the listener lives.
fn up() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

/// A loopback port nothing listens on: connections are refused.
fn down() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tcp_check(id: &str, port: u16, interval: u32, threshold: u32) -> Value {
    json!({"id": id, "type": "tcp", "ip": "127.0.0.1", "port": port,
           "interval": format!("{interval}s"), "failure_threshold": threshold, "timeout": "1s"})
}

struct Api(String);

impl Api {
    fn create(&self, check: Value) {
        let (status, body) = call("POST", &format!("{}/v1/health-checks", self.0), Some(check));
        assert_eq!(status, 201, "{body}");
    }

    fn update(&self, check: Value) {
        let id = check["id"].as_str().unwrap().to_string();
        let url = format!("{}/v1/health-checks/{id}", self.0);
        let (status, body) = call("PUT", &url, Some(check));
        assert_eq!(status, 200, "{body}");
    }

    fn delete(&self, id: &str) {
        let url = format!("{}/v1/health-checks/{id}", self.0);
        let (status, body) = call("DELETE", &url, None);
        assert_eq!(status, 204, "{body}");
    }

    fn status(&self, id: &str) -> Value {
        let (status, body) = call(
            "GET",
            &format!("{}/v1/health-checks/{id}/status", self.0),
            None,
        );
        assert_eq!(status, 200, "{body}");
        body
    }

    /// `(old, new, reason)` of every recorded event of check `id`.
    fn events(&self, id: &str) -> Vec<(String, String, String)> {
        let url = format!("{}/v1/health-events?check={id}", self.0);
        let (status, body) = call("GET", &url, None);
        assert_eq!(status, 200, "{body}");
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let s = |k: &str| e[k].as_str().unwrap().to_string();
                (s("old"), s("new"), s("reason"))
            })
            .collect()
    }

    /// Waits until check `id` has `n` recorded events (the writer is a
    /// background task) and returns them.
    fn wait_events(&self, id: &str, n: usize) -> Vec<(String, String, String)> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let events = self.events(id);
            if events.len() >= n {
                return events;
            }
            assert!(Instant::now() < deadline, "{n} events of {id}: {events:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn metric(&self, name: &str) -> String {
        let (_, body) = call("GET", &format!("{}/metrics", self.0), None);
        let text = body.as_str().unwrap().to_string();
        text.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    }
}

fn until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "not within {timeout:?}: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn changing_one_check_leaves_the_others_count_and_state() {
    let s = start();
    let api = Api(s.api_url());
    let b_up = up();
    let b_port = b_up.local_addr().unwrap().port();
    // "a" fails every 3 s and needs 3 failures in a row.
    api.create(tcp_check("a", down(), 3, 3));
    api.create(tcp_check("b", b_port, 1, 1));
    api.create(tcp_check("d", down(), 1, 1));
    until("a at failure 2 of 3", Duration::from_secs(10), || {
        api.status("a")["streak"] == 2
    });
    let generation = api.metric("eightfold_snapshot_generation");

    // Another check changes, one comes, one goes: "a" must not notice.
    let other = up();
    let mut b = tcp_check("b", other.local_addr().unwrap().port(), 1, 1);
    api.update(b.clone());
    api.create(tcp_check("c", b_port, 1, 1));
    api.delete("d");
    let a = api.status("a");
    assert_eq!(a["streak"], 2, "{a}");
    assert_eq!(a["status"], "healthy", "{a}");
    assert_eq!(a["last_results"].as_array().unwrap().len(), 2, "{a}");
    assert_eq!(
        api.metric("eightfold_snapshot_generation"),
        generation,
        "no zone is rebuilt for a check change"
    );
    // The third failure decides, at a's next probe: a reset would need
    // three more (six seconds at least).
    until(
        "a unhealthy at its next probe",
        Duration::from_secs(4),
        || api.status("a")["status"] == "unhealthy",
    );
    let events = api.wait_events("a", 1);
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(
        events[0].2.ends_with("(3 consecutive results)"),
        "{events:?}"
    );
    // A new interval probes the same endpoint: the state is kept.
    b["interval"] = json!("2s");
    api.update(b);
    assert_eq!(api.status("b")["status"], "healthy");
    s.wait_for_log(
        "health check b updated (interval): state kept",
        Duration::from_secs(1),
    );
    s.wait_for_log("health check d removed", Duration::from_secs(1));
    drop(b_up);
}

#[test]
fn an_update_that_moves_a_check_is_a_recorded_event() {
    let s = start();
    let api = Api(s.api_url());
    api.create(tcp_check("b", down(), 1, 1));
    until("b unhealthy", Duration::from_secs(5), || {
        api.status("b")["status"] == "unhealthy"
    });
    api.wait_events("b", 1);

    let listener = up();
    let moved = tcp_check("b", listener.local_addr().unwrap().port(), 1, 1);
    api.update(moved);
    // It probes another endpoint now: what was measured says nothing of
    // it, so it starts over healthy, at once, and says so.
    let b = api.status("b");
    assert_eq!(b["status"], "healthy", "{b}");
    assert_eq!(b["streak"], 0, "{b}");
    assert!(b["last_results"].as_array().unwrap().is_empty(), "{b}");
    let events = api.wait_events("b", 2);
    assert_eq!(
        events[1],
        (
            "unhealthy".into(),
            "healthy".into(),
            "check updated (port): starts over healthy".into()
        )
    );
    assert_eq!(b["last_change"]["reason"], events[1].2);
    s.wait_for_log(
        "health check b: unhealthy → healthy: check updated (port)",
        Duration::from_secs(1),
    );
    s.wait_for_log(
        "health check b updated (port): it probes something else now, state started over",
        Duration::from_secs(1),
    );
}

#[test]
fn no_state_change_from_an_update_is_silent() {
    let s = start();
    let api = Api(s.api_url());
    let listener = up();
    let port = listener.local_addr().unwrap().port();
    api.create(tcp_check("b", port, 1, 1));
    until("b probed healthy", Duration::from_secs(5), || {
        !api.status("b")["last_results"]
            .as_array()
            .unwrap()
            .is_empty()
    });
    // Each step: the settings, then the state DNS must follow. The
    // endpoint stays up, so only the updates move the state.
    let steps = [
        (json!({"invert": true}), "unhealthy"),
        (json!({"invert": true, "disabled": true}), "unhealthy"),
        (json!({"invert": false, "disabled": true}), "healthy"),
        (json!({"invert": false, "disabled": false}), "healthy"),
        (json!({"invert": true, "failure_threshold": 2}), "unhealthy"),
    ];
    for (settings, want) in steps {
        let mut check = tcp_check("b", port, 1, 1);
        for (k, v) in settings.as_object().unwrap() {
            check[k] = v.clone();
        }
        api.update(check);
        assert_eq!(api.status("b")["status"], want, "after {settings}");
    }
    let want = [
        ("healthy", "unhealthy", "check updated (invert)"),
        ("unhealthy", "healthy", "check updated (invert)"),
        (
            "healthy",
            "unhealthy",
            "check updated (failure_threshold, invert)",
        ),
    ];
    let events = api.wait_events("b", want.len());
    let events: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|(o, n, r)| (o.as_str(), n.as_str(), r.as_str()))
        .collect();
    assert_eq!(events, want);
    // Each recorded change is a log line too.
    let logged = s.logs().matches("health check b: ").count();
    assert_eq!(logged, want.len(), "{}", s.logs());
    assert_eq!(
        api.metric("eightfold_health_check_state_changes_total{check=\"b\"}"),
        "3"
    );
}

/// The config file with file-managed checks "a" (3 s, threshold 3, at
/// `a_port`) and "b" (at `b_port`).
fn file_config(a_port: u16, b_port: u16) -> String {
    format!(
        "[server]\napi = \"127.0.0.1:0\"\n\n\
         [[health_check]]\nid = \"a\"\ntype = \"tcp\"\nip = \"127.0.0.1\"\nport = {a_port}\n\
         interval = \"3s\"\nfailure_threshold = 3\ntimeout = \"1s\"\n\n\
         [[health_check]]\nid = \"b\"\ntype = \"tcp\"\nip = \"127.0.0.1\"\nport = {b_port}\n\
         interval = \"1s\"\nfailure_threshold = 1\ntimeout = \"1s\"\n"
    )
}

#[test]
fn a_reload_that_changes_one_file_check_leaves_the_other_alone() {
    let a_port = down();
    let first = up();
    let s = Server::start(&file_config(a_port, first.local_addr().unwrap().port()));
    let api = Api(s.api_url());
    until("a at failure 2 of 3", Duration::from_secs(10), || {
        api.status("a")["streak"] == 2
    });
    // "b" moves to a port nothing listens on.
    std::fs::write(s.path("eightfold.toml"), file_config(a_port, down())).unwrap();
    s.signal("HUP");
    s.wait_for_log(
        "health check b updated (port): it probes something else now",
        Duration::from_secs(5),
    );
    s.wait_for_log("reloaded", Duration::from_secs(5));
    let a = api.status("a");
    assert_eq!(
        (a["streak"].as_u64(), a["status"].as_str()),
        (Some(2), Some("healthy")),
        "{a}"
    );
    until(
        "a unhealthy at its next probe",
        Duration::from_secs(4),
        || api.status("a")["status"] == "unhealthy",
    );
    until(
        "b unhealthy at its new port",
        Duration::from_secs(5),
        || api.status("b")["status"] == "unhealthy",
    );
}
