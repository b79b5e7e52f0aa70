//! Nodes while their PostgreSQL is away: DNS keeps answering, writes get
//! 503 with nothing changed, and everything resumes by itself when the
//! database is back. A test binary of its own, since it stops the server
//! that tests/common/postgres.rs starts once per binary.

mod common;

use std::time::{Duration, Instant};

use common::{Data, Server};
use serde_json::{Value, json};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

fn call(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let agent = agent();
    let mut response = match body {
        Some(b) => agent.post(url).send_json(&b),
        None if method == "GET" => agent.get(url).call(),
        None => panic!("unsupported {method}"),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn node(name: &str, data: &str) -> Server {
    Server::start(&format!(
        "[server]\napi = \"127.0.0.1:0\"\ndata = \"{data}\"\nnode = \"{name}\"\n"
    ))
}

fn upsert(value: &str) -> Value {
    json!({"changes": [{"action": "UPSERT", "record":
        {"name": "www", "type": "A", "ttl": 60, "values": [value]}}]})
}

/// Waits until `what` holds, polling.
fn wait_until(what: &str, timeout: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "never {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn while_postgres_is_away_dns_answers_writes_get_503_and_all_resumes_when_it_is_back() {
    let data = Data::Postgres.value();
    let a = node("a", &data);
    let b = node("b", &data);
    let c = node("c", &data);
    let changes = format!("{}/v1/zones/away.test/changes", a.api_url());
    let (status, body) = call(
        "POST",
        &format!("{}/v1/zones", a.api_url()),
        Some(json!({"name": "away.test."})),
    );
    assert_eq!(status, 201, "{body}");
    let zone_id = body["id"].as_str().unwrap().to_string();
    let (status, body) = call("POST", &changes, Some(upsert("192.0.2.1")));
    assert_eq!(status, 200, "{body}");
    wait_until("B and C serving the record", Duration::from_secs(5), || {
        [&b, &c]
            .iter()
            .all(|s| s.dig(&["www.away.test", "A", "+short"]).trim() == "192.0.2.1")
    });

    let pg = common::postgres::server();
    pg.stop();
    // All keep answering from memory.
    for _ in 0..20 {
        for s in [&a, &b, &c] {
            assert_eq!(s.dig(&["www.away.test", "A", "+short"]).trim(), "192.0.2.1");
        }
    }
    // A write is refused whole, with the reason.
    let (status, body) = call("POST", &changes, Some(upsert("192.0.2.2")));
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "StorageUnavailable", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach PostgreSQL"),
        "{body}"
    );
    // Through Route 53's API on another node too, in its error shape.
    let (status, text) = b.route53_a_change(&zone_id, "UPSERT", "www.away.test.", "192.0.2.9");
    assert_eq!(status, 503, "{text}");
    assert!(
        text.contains("<ErrorResponse") && text.contains("cannot reach PostgreSQL"),
        "{text}"
    );
    for s in [&a, &b, &c] {
        assert_eq!(s.dig(&["www.away.test", "A", "+short"]).trim(), "192.0.2.1");
    }
    // The node says it is cut off.
    let nodes = format!("{}/v1/nodes", a.api_url());
    wait_until(
        "A reporting the store unreachable",
        Duration::from_secs(15),
        || {
            let (_, body) = call("GET", &nodes, None);
            body["nodes"][0]["store_reachable"] == false
        },
    );

    pg.start_again();
    // Writes resume without restarting anything (the first may still meet
    // a connection the pool has not found broken yet).
    wait_until("a write accepted again", Duration::from_secs(15), || {
        call("POST", &changes, Some(upsert("192.0.2.3"))).0 == 200
    });
    assert_eq!(a.dig(&["www.away.test", "A", "+short"]).trim(), "192.0.2.3");
    // And reach the other nodes again.
    wait_until(
        "B and C serving the new record",
        Duration::from_secs(10),
        || {
            [&b, &c]
                .iter()
                .all(|s| s.dig(&["www.away.test", "A", "+short"]).trim() == "192.0.2.3")
        },
    );
    wait_until(
        "A reporting the store reachable",
        Duration::from_secs(10),
        || {
            let (_, body) = call("GET", &nodes, None);
            body["nodes"][0]["store_reachable"] == true
        },
    );
    let logs = a.logs();
    assert!(logs.contains("cannot reach the store"), "{logs}");
    assert!(logs.contains("the store is reachable again"), "{logs}");
}
