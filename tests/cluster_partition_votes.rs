//! The health vote while PostgreSQL is away (issue 11): each node routes
//! on its own observations, keeps the latest of each check it could not
//! publish, and the shared vote resumes by itself when the database is
//! back. A test binary of its own, since it stops the server that
//! tests/common/postgres.rs starts once per binary.

mod common;

use std::time::{Duration, Instant};

use common::votes::Backend;
use common::{Data, Server};
use serde_json::Value;

const PRIMARY: &str = "192.0.2.1";
const SECONDARY: &str = "192.0.2.2";

/// A failover pair behind check "web", decided at 50 %.
fn node(name: &str, data: &str, port: u16) -> Server {
    Server::start(&format!(
        r#"[server]
api = "127.0.0.1:0"
data = "{data}"
node = "{name}"
healthy_percent = 50

[[health_check]]
id = "web"
type = "http"
ip = "127.0.0.1"
port = {port}
interval = "1s"
failure_threshold = 1

[[zone]]
name = "away.test."

[[zone.record]]
name = "www"
type = "A"
ttl = 5
routing = "failover"
set = "p"
failover = "primary"
value = "{PRIMARY}"
health_check = "web"

[[zone.record]]
name = "www"
type = "A"
ttl = 5
routing = "failover"
set = "s"
failover = "secondary"
value = "{SECONDARY}"
"#
    ))
}

fn answer(server: &Server) -> String {
    server
        .dig(&["www.away.test", "A", "+short"])
        .trim()
        .to_string()
}

fn until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < within, "never {what} within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// GETs `path` of `server`'s API as JSON.
fn get(server: &Server, path: &str) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let text = agent
        .get(format!("{}{path}", server.api_url()))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The recorded reasons of "web"'s transitions, oldest first.
fn recorded(server: &Server) -> Vec<String> {
    get(server, "/v1/health-events?check=web")["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap().to_string())
        .collect()
}

/// The votes on "web" as `server` lists them: (node, healthy, live).
fn votes(server: &Server) -> Vec<(String, bool, bool)> {
    get(server, "/v1/health-checks/web/status")["votes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["node"].as_str().unwrap().to_string(),
                v["healthy"] == true,
                v["live"] == true,
            )
        })
        .collect()
}

fn vote(node: &str, healthy: bool, live: bool) -> (String, bool, bool) {
    (node.to_string(), healthy, live)
}

#[test]
fn cut_off_nodes_route_on_their_own_observations_and_vote_together_again() {
    let backend = Backend::start();
    let data = Data::Postgres.value();
    let nodes = [
        node("a", &data, backend.port),
        node("b", &data, backend.port),
    ];
    // a's probes fail: 1 of 2 healthy is not more than 50 %, on both.
    backend.fail_for(&["a"]);
    until("www out on both", Duration::from_secs(15), || {
        nodes.iter().all(|s| answer(s) == SECONDARY)
    });
    assert_eq!(
        votes(&nodes[1]),
        [vote("a", false, true), vote("b", true, true)]
    );

    let pg = common::postgres::server();
    pg.stop();
    // Each node's view of the other ages out: b routes on its own
    // healthy observation, a on its failing one.
    until(
        "b routing on its own observation",
        Duration::from_secs(20),
        || answer(&nodes[1]) == PRIMARY,
    );
    assert_eq!(answer(&nodes[0]), SECONDARY);
    // Observations change while they cannot be published: each node
    // follows its own at once.
    backend.fail_for(&["b"]);
    until("a and b swapping", Duration::from_secs(10), || {
        answer(&nodes[0]) == PRIMARY && answer(&nodes[1]) == SECONDARY
    });
    // The publisher gathers for a moment before it writes: the store must
    // still be away when it tries.
    until("a failing to publish", Duration::from_secs(5), || {
        nodes[0]
            .logs()
            .contains("cannot publish this node's health observations")
    });

    pg.start_again();
    // What each node kept is published, and both decide together again:
    // a healthy, b failing, 1 of 2 is not more than 50 %.
    until(
        "the shared vote on both nodes",
        Duration::from_secs(30),
        || {
            nodes
                .iter()
                .all(|s| votes(s) == [vote("a", true, true), vote("b", false, true)])
        },
    );
    until("www out on both again", Duration::from_secs(10), || {
        nodes.iter().all(|s| answer(s) == SECONDARY)
    });
    // What the nodes decided alone (counting one live node: their own)
    // could not be recorded then, and is now.
    until(
        "the transitions of the outage recorded",
        Duration::from_secs(10),
        || {
            recorded(&nodes[1])
                .iter()
                .any(|r| r.contains("of 1 node healthy"))
        },
    );
    let logs = nodes[0].logs();
    assert!(
        logs.contains("health observations published again"),
        "{logs}"
    );
}
