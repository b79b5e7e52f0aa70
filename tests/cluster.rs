//! Several real `eightfold serve` nodes on one real PostgreSQL database
//! (tests/common/postgres.rs): they register, beat, and see each other.

mod common;

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

fn get(url: &str) -> Value {
    let mut response = agent().get(url).call().unwrap();
    serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
}

fn post(url: &str, body: Value) -> (u16, Value) {
    let mut response = agent().post(url).send_json(&body).unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A node named `name` on `data`.
fn node(name: &str, data: &str) -> Server {
    Server::start(&format!(
        "[server]\napi = \"127.0.0.1:0\"\ndata = \"{data}\"\nnode = \"{name}\"\n"
    ))
}

/// Polls `GET /v1/nodes` on `server` until `done` holds for its list
/// (heartbeats come every 2 s), and returns that list.
fn nodes_until(server: &Server, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let body = get(&format!("{}/v1/nodes", server.api_url()));
        let nodes = body["nodes"].as_array().unwrap().clone();
        if done(&nodes) {
            return nodes;
        }
        assert!(Instant::now() < deadline, "never {what}: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn names(nodes: &[Value]) -> Vec<&str> {
    nodes.iter().map(|n| n["name"].as_str().unwrap()).collect()
}

#[test]
fn three_nodes_on_one_database_list_each_other_live_with_what_they_serve() {
    let data = Data::Postgres.value();
    let servers = [node("a", &data), node("b", &data), node("c", &data)];
    let all_live = |nodes: &[Value]| {
        nodes.len() == 3
            && nodes
                .iter()
                .all(|n| n["live"] == true && n["store_reachable"] == true)
    };
    let nodes = nodes_until(&servers[1], "three live nodes", all_live);
    assert_eq!(names(&nodes), ["a", "b", "c"]);
    let this: Vec<bool> = nodes.iter().map(|n| n["this_node"] == true).collect();
    assert_eq!(this, [false, true, false]);
    for (n, s) in nodes.iter().zip(&servers) {
        assert_eq!(n["address"], s.addr().to_string(), "{n}");
        assert_eq!(n["api"], s.api.unwrap().to_string(), "{n}");
        assert_eq!(n["version"], env!("CARGO_PKG_VERSION"), "{n}");
        assert_eq!(n["config_version"], 0, "{n}");
    }
    // A write through A: A serves the version it made at once, and says
    // so in its next heartbeat.
    let (status, body) = post(
        &format!("{}/v1/zones", servers[0].api_url()),
        json!({"name": "nodes.test."}),
    );
    assert_eq!(status, 201, "{body}");
    let own = get(&format!("{}/v1/nodes", servers[0].api_url()));
    let a = &own["nodes"][0];
    assert_eq!(
        (a["name"].as_str(), a["config_version"].as_i64()),
        (Some("a"), Some(1))
    );
    nodes_until(&servers[2], "A's new version seen by C", |nodes| {
        nodes[0]["config_version"] == 1
    });
}

#[test]
fn a_stopped_node_is_listed_as_no_longer_live() {
    let data = Data::Postgres.value();
    let a = node("a", &data);
    let b = node("b", &data);
    nodes_until(&a, "B live", |nodes| {
        nodes.len() == 2 && nodes.iter().all(|n| n["live"] == true)
    });
    b.kill();
    // Three missed 2 s beats.
    let nodes = nodes_until(&a, "B no longer live", |nodes| nodes[1]["live"] == false);
    assert_eq!(nodes[1]["store_reachable"], false, "{nodes:?}");
    assert_eq!(nodes[0]["live"], true, "{nodes:?}");
}

#[test]
fn a_single_node_on_sqlite_lists_itself() {
    let server = node("solo", &Data::Sqlite.value());
    let nodes = nodes_until(&server, "reachable", |nodes| {
        nodes[0]["store_reachable"] == true
    });
    assert_eq!(names(&nodes), ["solo"]);
    assert_eq!(nodes[0]["this_node"], true);
}
