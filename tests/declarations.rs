//! One validator over everything declared (the config file and what the
//! API stored), at start, at every reload and on API changes: nothing is
//! dropped silently, through the real binary.

mod common;

use std::time::Duration;

use common::Server;
use serde_json::{Value, json};

fn call(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        ("DELETE", _) => agent.delete(url).call(),
        ("POST", Some(b)) => agent.post(url).send_json(&b),
        ("PUT", Some(b)) => agent.put(url).send_json(&b),
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

/// A config with the API on and `extra` after `[server]`.
fn config(extra: &str) -> String {
    format!("[server]\napi = \"127.0.0.1:0\"\ndata = \"e.db\"\n{extra}")
}

const WEB_CHECK: &str = "\n[[health_check]]\nid = \"web\"\ntype = \"tcp\"\nip = \"127.0.0.1\"\nport = 9\ninterval = \"300s\"\n";

fn answer(server: &Server, name: &str) -> Vec<String> {
    common::records(&server.dig(&["+noall", "+answer", name, "A"]))
}

/// Rewrites the config, sends SIGHUP and waits for the verdict.
fn reload(server: &Server, text: &str, verdict: &str) {
    let before = server.logs().matches(verdict).count();
    std::fs::write(server.path("eightfold.toml"), text).unwrap();
    server.signal("HUP");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.logs().matches(verdict).count() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "no {verdict:?}:\n{}",
            server.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_reload_adding_a_zone_the_api_owns_is_refused_and_the_running_config_kept() {
    let server = Server::start(&config(""));
    let api = format!("{}/v1", server.api_url());
    assert_eq!(
        call(
            "POST",
            &format!("{api}/zones"),
            Some(json!({"name": "dup.test."}))
        )
        .0,
        201
    );
    let (status, body) = call(
        "POST",
        &format!("{api}/zones/dup.test/changes"),
        Some(
            json!({"changes": [{"action": "CREATE", "record": {"name": "www", "type": "A", "ttl": 60, "values": ["192.0.2.1"]}}]}),
        ),
    );
    assert_eq!(status, 200, "{body}");
    let file_zone = "\n[[zone]]\nname = \"dup.test.\"\n\n[[zone.record]]\nname = \"www\"\ntype = \"A\"\nvalues = [\"203.0.113.9\"]\n";
    reload(&server, &config(file_zone), "reload refused");
    let logs = server.logs();
    assert!(
        logs.contains("zone dup.test. is in the config file and was created through the API"),
        "{logs}"
    );
    assert_eq!(
        answer(&server, "www.dup.test"),
        ["www.dup.test. 60 IN A 192.0.2.1"]
    );
    let (_, zones) = call("GET", &format!("{api}/zones"), None);
    assert_eq!(zones["zones"].as_array().unwrap().len(), 1, "{zones}");
    // A reload without the conflict goes through.
    reload(&server, &config(""), "reloaded");
}

#[test]
fn a_reload_removing_a_check_api_records_use_is_refused_naming_the_records() {
    let server = Server::start(&config(WEB_CHECK));
    let api = format!("{}/v1", server.api_url());
    call(
        "POST",
        &format!("{api}/zones"),
        Some(json!({"name": "use.test."})),
    );
    let (status, body) = call(
        "POST",
        &format!("{api}/zones/use.test/changes"),
        Some(
            json!({"changes": [{"action": "CREATE", "record": {"name": "www", "type": "A", "ttl": 60,
            "routing": "multivalue", "set": "a", "value": "192.0.2.7", "health_check": "web"}}]}),
        ),
    );
    assert_eq!(status, 200, "{body}");
    reload(&server, &config(""), "reload refused");
    let logs = server.logs();
    assert!(
        logs.contains(
            "zone use.test. (API) (set \"a\"): www A: unknown health check \"web\"; declare what it needs again"
        ),
        "{logs}"
    );
    assert_eq!(
        answer(&server, "www.use.test"),
        ["www.use.test. 60 IN A 192.0.2.7"]
    );
    let (status, _) = call("GET", &format!("{api}/health-checks/web"), None);
    assert_eq!(status, 200, "the file check is still served");
}

#[test]
fn a_calculated_checks_child_cannot_become_calculated_or_be_deleted() {
    let server = Server::start(&config(""));
    let api = format!("{}/v1", server.api_url());
    let child =
        json!({"id": "child", "type": "tcp", "ip": "127.0.0.1", "port": 9, "interval": "300s"});
    assert_eq!(
        call("POST", &format!("{api}/health-checks"), Some(child)).0,
        201
    );
    let parent = json!({"id": "parent", "type": "calculated", "children": ["child"], "healthy_threshold": 1});
    assert_eq!(
        call("POST", &format!("{api}/health-checks"), Some(parent)).0,
        201
    );
    let other =
        json!({"id": "other", "type": "tcp", "ip": "127.0.0.1", "port": 9, "interval": "300s"});
    assert_eq!(
        call("POST", &format!("{api}/health-checks"), Some(other)).0,
        201
    );
    let calculated_child =
        json!({"id": "child", "type": "calculated", "children": ["other"], "healthy_threshold": 1});
    let (status, body) = call(
        "PUT",
        &format!("{api}/health-checks/child"),
        Some(calculated_child),
    );
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("\"parent\"") && message.contains("cannot be calculated"),
        "{message}"
    );
    let (_, stored) = call("GET", &format!("{api}/health-checks/child"), None);
    assert_eq!(stored["type"], "tcp", "{stored}");
    let (status, body) = call("DELETE", &format!("{api}/health-checks/child"), None);
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"parent\""),
        "{body}"
    );
}

#[test]
fn stored_records_that_no_longer_validate_stop_the_start_naming_them() {
    let server = Server::start(&config(WEB_CHECK));
    let api = format!("{}/v1", server.api_url());
    call(
        "POST",
        &format!("{api}/zones"),
        Some(json!({"name": "gone.test."})),
    );
    let (status, body) = call(
        "POST",
        &format!("{api}/zones/gone.test/changes"),
        Some(
            json!({"changes": [{"action": "CREATE", "record": {"name": "www", "type": "A", "ttl": 60,
            "routing": "failover", "set": "p", "failover": "primary", "value": "192.0.2.7", "health_check": "web"}}]}),
        ),
    );
    assert_eq!(status, 200, "{body}");
    let dir = server.kill();
    // The check leaves the config file while the server is down.
    std::fs::write(dir.path().join("eightfold.toml"), config("")).unwrap();
    let out = common::run(
        &[
            "serve",
            "--config",
            "eightfold.toml",
            "--dns",
            "127.0.0.1:0",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("gone.test.") && stderr.contains("web"),
        "{stderr}"
    );
}
