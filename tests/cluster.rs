//! Several real `eightfold serve` nodes on one real PostgreSQL database
//! (tests/common/postgres.rs): they register, beat, and see each other.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::str::FromStr;
use std::time::{Duration, Instant};

use common::{Data, Server};
use domain::base::{Message, MessageBuilder, Name, Rtype};
use domain::rdata::A;
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

/// The status and body of `DELETE url`.
fn delete(url: &str) -> (u16, String) {
    let mut response = agent().delete(url).call().unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

#[test]
fn a_stopped_node_is_listed_as_no_longer_live_and_can_then_be_forgotten() {
    let data = Data::Postgres.value();
    let a = node("a", &data);
    let b = node("b", &data);
    nodes_until(&a, "B live", |nodes| {
        nodes.len() == 2 && nodes.iter().all(|n| n["live"] == true)
    });
    let forget = |name: &str| delete(&format!("{}/v1/nodes/{name}", a.api_url()));
    // Neither a live node nor the one answering; nor one never seen.
    let (status, body) = forget("b");
    assert_eq!(status, 409, "{body}");
    assert!(
        body.contains("NodeLive") && body.contains("stop it first"),
        "{body}"
    );
    assert_eq!(forget("a").0, 409);
    let (status, body) = forget("nobody");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("NoSuchNode"), "{body}");
    b.kill();
    // Three missed 2 s beats.
    let nodes = nodes_until(&a, "B no longer live", |nodes| nodes[1]["live"] == false);
    assert_eq!(nodes[1]["store_reachable"], false, "{nodes:?}");
    assert_eq!(nodes[0]["live"], true, "{nodes:?}");
    // Stopped for good: forgotten, and listed no more, now or after the
    // next beats.
    assert_eq!(forget("b").0, 204);
    let listed = nodes_until(&a, "B gone", |nodes| nodes.len() == 1);
    assert_eq!(names(&listed), ["a"]);
    a.wait_for_log("node b forgotten", Duration::from_secs(1));
    // A's next beats read every node's row again: b's is gone from the
    // store, not only from a's list.
    let beat = listed[0]["last_seen"].clone();
    let nodes = nodes_until(&a, "A's next beat", |nodes| nodes[0]["last_seen"] != beat);
    assert_eq!(names(&nodes), ["a"]);
    assert_eq!(forget("b").0, 404);
}

#[test]
fn a_single_node_on_sqlite_lists_itself_by_the_name_the_command_line_gives() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("eightfold.toml");
    std::fs::write(
        &config,
        "[server]\napi = \"127.0.0.1:0\"\nnode = \"from-file\"\n",
    )
    .unwrap();
    let config = config.to_str().unwrap().to_string();
    let server = Server::spawn(
        dir,
        &[
            "serve",
            "--config",
            &config,
            "--dns",
            "127.0.0.1:0",
            "--node",
            "solo",
        ],
    );
    let nodes = nodes_until(&server, "reachable", |nodes| {
        nodes[0]["store_reachable"] == true
    });
    assert_eq!(names(&nodes), ["solo"]);
    assert_eq!(nodes[0]["this_node"], true);
}

/// The A records `server` answers for `name` now, over UDP.
fn answer_a(socket: &UdpSocket, server: SocketAddr, name: &str, id: u16) -> Vec<String> {
    let mut msg = MessageBuilder::new_vec();
    msg.header_mut().set_id(id);
    let mut q = msg.question();
    q.push((Name::<Vec<u8>>::from_str(name).unwrap(), Rtype::A))
        .unwrap();
    socket.send_to(&q.finish(), server).unwrap();
    let mut buf = [0u8; 2048];
    loop {
        let n = socket.recv(&mut buf).expect("an answer within the timeout");
        let response = Message::from_octets(&buf[..n]).unwrap();
        // A late answer to an earlier query: wait for ours.
        if response.header().id() != id {
            continue;
        }
        return response
            .answer()
            .unwrap()
            .limit_to::<A>()
            .map(|r| r.unwrap().data().addr().to_string())
            .collect();
    }
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[test]
fn a_change_through_one_node_is_answered_by_the_others_within_a_second() {
    let data = Data::Postgres.value();
    let servers = [node("a", &data), node("b", &data), node("c", &data)];
    let api = format!("{}/v1", servers[0].api_url());
    let (status, body) = post(&format!("{api}/zones"), json!({"name": "prop.test."}));
    assert_eq!(status, 201, "{body}");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut id = 0u16;
    let mut delays = Vec::new();
    for i in 0..100u32 {
        let value = format!("10.0.{}.{}", i / 250, 1 + i % 250);
        let (status, body) = post(
            &format!("{api}/zones/prop.test/changes"),
            json!({"changes": [{"action": "UPSERT", "record":
                {"name": "www", "type": "A", "ttl": 60, "values": [value]}}]}),
        );
        assert_eq!(status, 200, "change {i}: {body}");
        let replied = Instant::now();
        // The node that took the change answers it at once.
        id = id.wrapping_add(1);
        assert_eq!(
            answer_a(&socket, servers[0].addr(), "www.prop.test.", id),
            [value.as_str()]
        );
        for other in &servers[1..] {
            loop {
                id = id.wrapping_add(1);
                if answer_a(&socket, other.addr(), "www.prop.test.", id) == [value.as_str()] {
                    break;
                }
                assert!(
                    replied.elapsed() < Duration::from_secs(5),
                    "change {i} never reached {}",
                    other.addr()
                );
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        delays.push(replied.elapsed());
    }
    delays.sort();
    let (p50, p99, max) = (
        quantile(&delays, 0.5),
        quantile(&delays, 0.99),
        delays[delays.len() - 1],
    );
    println!("propagation over 100 changes, 3 nodes: p50 {p50:?}, p99 {p99:?}, max {max:?}");
    assert!(
        max < Duration::from_secs(1),
        "p50 {p50:?}, p99 {p99:?}, max {max:?}"
    );

    // The others read only the zones written since they last did; a zone
    // deleted through A is gone from them too, and the one made beside it
    // arrives.
    let (status, body) = post(&format!("{api}/zones"), json!({"name": "next.test."}));
    assert_eq!(status, 201, "{body}");
    let (status, body) = post(
        &format!("{api}/zones/next.test/changes"),
        json!({"changes": [{"action": "CREATE", "record":
            {"name": "www", "type": "A", "ttl": 60, "values": ["192.0.2.77"]}}]}),
    );
    assert_eq!(status, 200, "{body}");
    let last = "10.0.0.100";
    let (status, body) = post(
        &format!("{api}/zones/prop.test/changes"),
        json!({"changes": [{"action": "DELETE", "record":
            {"name": "www", "type": "A", "ttl": 60, "values": [last]}}]}),
    );
    assert_eq!(status, 200, "{body}");
    let deleted = agent()
        .delete(format!("{api}/zones/prop.test"))
        .call()
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 200);
    let since = Instant::now();
    for other in &servers[1..] {
        loop {
            id = id.wrapping_add(1);
            let gone = answer_a(&socket, other.addr(), "www.prop.test.", id).is_empty();
            id = id.wrapping_add(1);
            let arrived = answer_a(&socket, other.addr(), "www.next.test.", id) == ["192.0.2.77"];
            if gone && arrived {
                break;
            }
            assert!(
                since.elapsed() < Duration::from_secs(5),
                "{}: prop.test gone {gone}, next.test arrived {arrived}",
                other.addr()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    // Checks and records routed on them, made through A: every node
    // probes, votes, and answers with the same healthy record. The check
    // on a port that listens passes; the one on a port that refuses fails.
    let listening = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open_port = listening.local_addr().unwrap().port();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for (id, port) in [("up", open_port), ("down", closed_port)] {
        let (status, body) = post(
            &format!("{api}/health-checks"),
            json!({"id": id, "type": "tcp", "ip": "127.0.0.1", "port": port,
                   "interval": "1s", "failure_threshold": 1}),
        );
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = post(
        &format!("{api}/zones/next.test/changes"),
        json!({"changes": [
            {"action": "CREATE", "record": {"name": "mv", "type": "A", "ttl": 60,
             "routing": "multivalue", "set": "up", "value": "192.0.2.10", "health_check": "up"}},
            {"action": "CREATE", "record": {"name": "mv", "type": "A", "ttl": 60,
             "routing": "multivalue", "set": "down", "value": "192.0.2.11", "health_check": "down"}}]}),
    );
    assert_eq!(status, 200, "{body}");
    let since = Instant::now();
    for server in &servers {
        loop {
            id = id.wrapping_add(1);
            let got = answer_a(&socket, server.addr(), "mv.next.test.", id);
            if got == ["192.0.2.10"] {
                break;
            }
            assert!(
                since.elapsed() < Duration::from_secs(15),
                "{} answers mv.next.test. with {got:?}",
                server.addr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    drop(listening);
}

/// Route 53's GetChange status of `change` through `server`.
fn get_change(server: &Server, change: &str) -> String {
    let url = format!("{}/2013-04-01/change/{change}", server.api_url());
    let mut response = agent().get(&url).call().unwrap();
    let text = response.body_mut().read_to_string().unwrap();
    assert_eq!(response.status().as_u16(), 200, "{text}");
    let status = text
        .split("<Status>")
        .nth(1)
        .and_then(|rest| rest.split("</Status>").next())
        .unwrap_or_else(|| panic!("no Status in {text}"));
    status.to_string()
}

#[test]
fn get_change_is_pending_while_a_live_node_lags_and_insync_once_it_serves_the_change() {
    let data = Data::Postgres.value();
    let a = node("a", &data);
    let b = node("b", &data);
    nodes_until(&a, "B live", |nodes| {
        nodes.len() == 2 && nodes.iter().all(|n| n["live"] == true)
    });
    let (status, body) = post(
        &format!("{}/v1/zones", a.api_url()),
        json!({"name": "sync.test."}),
    );
    assert_eq!(status, 201, "{body}");
    let created = body.clone();
    nodes_until(&a, "B serving the zone", |nodes| {
        nodes[0]["config_version"] == nodes[1]["config_version"]
    });
    let zone_id = created["id"].as_str().unwrap().to_string();
    // B stops reading (but its last heartbeat keeps it live for 6 s).
    b.signal("STOP");
    let (status, text) = a.route53_a_change(&zone_id, "CREATE", "www.sync.test.", "192.0.2.1");
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("<Status>PENDING</Status>"), "{text}");
    let change = common::route53_change_id(&text);
    assert_eq!(get_change(&a, &change), "PENDING");
    b.signal("CONT");
    let deadline = Instant::now() + Duration::from_secs(10);
    while get_change(&a, &change) != "INSYNC" {
        assert!(Instant::now() < deadline, "never INSYNC");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(b.dig(&["www.sync.test", "A", "+short"]).trim(), "192.0.2.1");
}

#[test]
fn without_a_notification_the_version_poll_catches_up_within_seconds() {
    let data = Data::Postgres.value();
    let a = node("a", &data);
    // A write that announces nothing, as if its notification were lost:
    // straight into the database, counted in the store version and
    // marked as the zone's last write (as a node's write is).
    let database = data.rsplit('/').next().unwrap();
    common::postgres::server().psql(
        database,
        "BEGIN;
         UPDATE store_version SET version = version + 1 WHERE id = 1;
         INSERT INTO zones (name, display_name, id, comment, created_at, changed_version)
             VALUES ('quiet.test.', 'quiet.test.', 'ZQUIET', '', 0,
                     (SELECT version FROM store_version WHERE id = 1));
         COMMIT;",
    );
    let written = Instant::now();
    let deadline = written + Duration::from_secs(5);
    let url = format!("{}/v1/zones/quiet.test", a.api_url());
    while agent().get(&url).call().unwrap().status().as_u16() != 200 {
        assert!(Instant::now() < deadline, "never caught up: {}", a.logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    // One poll interval, and then some for a loaded machine.
    assert!(
        written.elapsed() < Duration::from_secs(3),
        "{:?}",
        written.elapsed()
    );
    assert!(
        !a.dig(&["quiet.test", "SOA", "+short"]).trim().is_empty(),
        "the zone is served"
    );
}

#[test]
fn two_nodes_writing_at_once_never_both_win_a_conflict() {
    let data = Data::Postgres.value();
    let a = node("a", &data);
    let b = node("b", &data);
    let (status, body) = post(
        &format!("{}/v1/zones", a.api_url()),
        json!({"name": "race.test."}),
    );
    assert_eq!(status, 201, "{body}");
    let apis = [a.api_url(), b.api_url()];
    let mut outcomes = std::collections::BTreeMap::<(u16, u16), u32>::new();
    for round in 0..20 {
        // The same name as a CNAME on one node and an A on the other: at
        // most one of them may be stored.
        let name = format!("n{round}");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let writers: Vec<_> = apis
            .iter()
            .zip([
                json!({"name": name, "type": "CNAME", "ttl": 60, "values": ["target.example."]}),
                json!({"name": name, "type": "A", "ttl": 60, "values": ["192.0.2.1"]}),
            ])
            .map(|(api, record)| {
                let url = format!("{api}/v1/zones/race.test/changes");
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    post(
                        &url,
                        json!({"changes": [{"action": "CREATE", "record": record}]}),
                    )
                })
            })
            .collect();
        let results: Vec<(u16, Value)> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        let (sa, sb) = (results[0].0, results[1].0);
        assert!(
            !(sa == 200 && sb == 200),
            "both won round {round}: {results:?}"
        );
        for (status, body) in &results {
            assert!(
                [200, 400, 409].contains(status),
                "round {round}: {status} {body}"
            );
            if *status == 409 {
                assert_eq!(body["error"]["code"], "ConcurrentModification", "{body}");
            }
        }
        *outcomes.entry((sa, sb)).or_default() += 1;
    }
    // Both nodes end up serving the same records, one per name.
    let records = |api: &str| get(&format!("{api}/v1/zones/race.test/records"))["records"].clone();
    let deadline = Instant::now() + Duration::from_secs(5);
    while records(&apis[0]) != records(&apis[1]) {
        assert!(Instant::now() < deadline, "the nodes disagree");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(records(&apis[0]).as_array().unwrap().len(), 20);
    println!("outcomes (A, B) over 20 rounds: {outcomes:?}");
}

#[test]
fn a_killed_node_leaves_the_others_answering_and_catches_up_when_restarted() {
    let data = Data::Postgres.value();
    let a = node("a", &data);
    let b = node("b", &data);
    let c = node("c", &data);
    let api = format!("{}/v1", a.api_url());
    let (status, body) = post(&format!("{api}/zones"), json!({"name": "kill.test."}));
    assert_eq!(status, 201, "{body}");
    let upsert = |value: &str| {
        post(
            &format!("{api}/zones/kill.test/changes"),
            json!({"changes": [{"action": "UPSERT", "record":
                {"name": "www", "type": "A", "ttl": 60, "values": [value]}}]}),
        )
    };
    assert_eq!(upsert("192.0.2.1").0, 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.dig(&["www.kill.test", "A", "+short"]).trim() != "192.0.2.1" {
        assert!(Instant::now() < deadline, "C never served the record");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A and C are queried without a pause while B dies and comes back.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let queriers: Vec<_> = [a.addr(), c.addr()]
        .into_iter()
        .map(|addr| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                socket
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .unwrap();
                let (mut answered, mut id) = (0u32, 0u16);
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    id = id.wrapping_add(1);
                    let got = answer_a(&socket, addr, "www.kill.test.", id);
                    assert_eq!(got.len(), 1, "{addr} answered {got:?}");
                    answered += 1;
                }
                answered
            })
        })
        .collect();
    let config = b.path("eightfold.toml");
    let config = config.to_str().unwrap().to_string();
    let dir = b.kill();
    assert_eq!(upsert("192.0.2.2").0, 200);
    let b = Server::spawn(dir, &["serve", "--config", &config, "--dns", "127.0.0.1:0"]);
    // Ready means it read the store: it answers the change it missed.
    assert_eq!(b.dig(&["www.kill.test", "A", "+short"]).trim(), "192.0.2.2");
    nodes_until(&a, "B live again", |nodes| {
        nodes.len() == 3 && nodes.iter().all(|n| n["live"] == true)
    });
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for q in queriers {
        assert!(q.join().unwrap() > 10, "too few queries to mean anything");
    }
    // C follows too (a notification, else the next version poll).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = c.dig(&["www.kill.test", "A", "+short"]);
        if answer.trim() == "192.0.2.2" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "C answers {answer:?}; its log:\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A TSIG key made through one node's API signs updates on every node:
/// keys live in the store like zones, and reach the others the same way.
#[test]
fn a_tsig_key_made_on_one_node_signs_updates_and_transfers_on_another() {
    let data = Data::Postgres.value();
    let a = node("a", &data);
    let b = node("b", &data);
    let (status, body) = post(
        &format!("{}/v1/zones", a.api_url()),
        json!({"name": "keys.test."}),
    );
    assert_eq!(status, 201, "{body}");
    let (status, made) = post(
        &format!("{}/v1/tsig-keys", a.api_url()),
        json!({"name": "shared.key", "update": [{"name": "*.keys.test.", "types": ["TXT"]}]}),
    );
    assert_eq!(status, 201, "{made}");
    let secret = made["secret"].as_str().unwrap();
    let script = b.path("nsupdate.txt");
    std::fs::write(
        &script,
        format!(
            "server {} {}\nzone keys.test.\nupdate add hello.keys.test. 60 TXT \"from b\"\nsend\n",
            b.addr().ip(),
            b.addr().port()
        ),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = std::process::Command::new("nsupdate")
            .args(["-y", &format!("hmac-sha256:shared.key:{secret}")])
            .arg(&script)
            .output()
            .expect("nsupdate (apt install dnsutils)");
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node b never took the key: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            b.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // And the update, made through b, is answered by a.
    let deadline = Instant::now() + Duration::from_secs(5);
    while a.dig(&["hello.keys.test", "TXT", "+short"]).trim() != "\"from b\"" {
        assert!(Instant::now() < deadline, "a never served b's update");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Transfer settings given to the zone through a, naming the key, are
    // served by b: a signed AXFR from b gets the zone.
    let axfr = |server: &Server| {
        server
            .dig(&[
                "-y",
                &format!("hmac-sha256:shared.key:{secret}"),
                "keys.test",
                "AXFR",
            ])
            .contains("from b")
    };
    assert!(!axfr(&b), "nobody may transfer the zone yet");
    let settings = json!({"allow_transfer": [{"from": "127.0.0.0/8", "key": "shared.key."}]});
    let mut reply = agent()
        .put(&format!("{}/v1/zones/keys.test./transfers", a.api_url()))
        .send_json(&settings)
        .unwrap();
    assert_eq!(
        reply.status().as_u16(),
        200,
        "{}",
        reply.body_mut().read_to_string().unwrap()
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !axfr(&b) {
        assert!(
            Instant::now() < deadline,
            "b never took a's transfer settings\n{}",
            b.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A zone that node B declares in its config file, created afterwards
/// through node A's API: the store owns it now. B serves the store's
/// zone instead of its file's, keeps following every later change, and
/// Route 53's GetChange reaches INSYNC on both.
#[test]
fn a_file_zone_that_another_node_creates_through_the_api_is_given_up_for_the_stores() {
    let data = Data::Postgres.value();
    let a = node("a", &data);
    let b = Server::start(&format!(
        "[server]\napi = \"127.0.0.1:0\"\ndata = \"{data}\"\nnode = \"b\"\n\n\
         [[zone]]\nname = \"owned.test.\"\n\n\
         [[zone.record]]\nname = \"www\"\ntype = \"A\"\nvalues = [\"192.0.2.1\"]\n"
    ));
    nodes_until(&a, "B live", |nodes| {
        nodes.len() == 2 && nodes.iter().all(|n| n["live"] == true)
    });
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    assert_eq!(
        answer_a(&socket, b.addr(), "www.owned.test.", 1),
        ["192.0.2.1"]
    );

    let api = format!("{}/v1", a.api_url());
    let (status, body) = post(&format!("{api}/zones"), json!({"name": "owned.test."}));
    assert_eq!(status, 201, "{body}");
    let (status, body) = post(
        &format!("{api}/zones/owned.test./changes"),
        json!({"changes": [{"action": "CREATE", "record":
            {"name": "www", "type": "A", "ttl": 60, "values": ["192.0.2.2"]}}]}),
    );
    assert_eq!(status, 200, "{body}");
    let until_b_answers = |name: &str, want: &[&str]| {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut id = 2;
        loop {
            id += 1;
            let got = answer_a(&socket, b.addr(), name, id);
            if got == want {
                return;
            }
            assert!(Instant::now() < deadline, "B answers {name} with {got:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    until_b_answers("www.owned.test.", &["192.0.2.2"]);
    assert!(
        b.logs().contains("zone owned.test. is in this node's config file and was created through the API of another node"),
        "{}",
        b.logs()
    );

    // B still follows: a later change to another zone, through A, and a
    // Route 53 change through A that both nodes serve.
    let (status, body) = post(&format!("{api}/zones"), json!({"name": "later.test."}));
    assert_eq!(status, 201, "{body}");
    let zone_id = body["id"].as_str().unwrap().to_string();
    let (status, text) = a.route53_a_change(&zone_id, "CREATE", "www.later.test.", "192.0.2.3");
    assert_eq!(status, 200, "{text}");
    let change = common::route53_change_id(&text);
    until_b_answers("www.later.test.", &["192.0.2.3"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while get_change(&a, &change) != "INSYNC" {
        assert!(Instant::now() < deadline, "the change never INSYNC");
        std::thread::sleep(Duration::from_millis(100));
    }
    // And a write through B itself is taken.
    let (status, body) = post(
        &format!("{}/v1/zones/later.test./changes", b.api_url()),
        json!({"changes": [{"action": "UPSERT", "record":
            {"name": "www", "type": "A", "ttl": 60, "values": ["192.0.2.4"]}}]}),
    );
    assert_eq!(status, 200, "{body}");
}

/// The SOA serial `server` serves for `zone` now (`None`: no SOA).
fn soa_serial(server: &Server, zone: &str) -> Option<u32> {
    let soa = server.dig(&[zone, "SOA", "+short"]);
    soa.split_whitespace().nth(2)?.parse().ok()
}

/// Polls both nodes until each answers `value` for `www.<zone>` (nothing
/// for `None`) with the same SOA serial, and returns that serial.
fn agreed_serial(nodes: [&Server; 2], zone: &str, value: Option<&str>) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen: Vec<(String, Option<u32>)> = nodes
            .iter()
            .map(|n| {
                let www = n.dig(&[&format!("www.{zone}"), "A", "+short"]);
                (www.trim().to_string(), soa_serial(n, zone))
            })
            .collect();
        let served = seen
            .iter()
            .all(|(www, serial)| www == value.unwrap_or("") && serial.is_some());
        if served && seen[0].1 == seen[1].1 {
            return seen[0].1.unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the nodes never agreed on {value:?}: (answer, serial) {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Serials come from the shared store: the same content gets the same
/// serial on every node, each change one more, whichever node makes it,
/// and a restart changes nothing (docs/dns.md#soa-serials).
#[test]
fn nodes_on_one_database_serve_the_same_serial_for_each_change() {
    let data = Data::Postgres.value();
    let a = node("a", &data);
    let b = node("b", &data);
    let zone = "serial.test";
    // B is held still while A makes the zone, until the clock has passed
    // A's first serial (the Unix time A made it at): a node that took its
    // own clock for a zone new to it would start elsewhere.
    b.signal("STOP");
    let (status, body) = post(
        &format!("{}/v1/zones", a.api_url()),
        json!({"name": format!("{zone}.")}),
    );
    assert_eq!(status, 201, "{body}");
    let first = soa_serial(&a, zone).expect("A serves the zone at once");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        <= u64::from(first)
    {
        assert!(Instant::now() < deadline, "the clock never passed {first}");
        std::thread::sleep(Duration::from_millis(20));
    }
    b.signal("CONT");
    let mut last = agreed_serial([&a, &b], zone, None);
    assert_eq!(last, first);
    // Changes through either node: both serve one serial each time, and
    // it only goes up.
    for (i, via) in [&a, &b, &b, &a, &b].into_iter().enumerate() {
        let value = format!("192.0.2.{}", i + 1);
        let (status, body) = post(
            &format!("{}/v1/zones/{zone}/changes", via.api_url()),
            json!({"changes": [{"action": "UPSERT", "record":
                {"name": "www", "type": "A", "ttl": 60, "values": [value]}}]}),
        );
        assert_eq!(status, 200, "{body}");
        let now = agreed_serial([&a, &b], zone, Some(&value));
        assert!(now > last, "change {i}: serial {now} after {last}");
        last = now;
    }
    // B restarted with no change: the serial both served.
    let config = b.path("eightfold.toml");
    let config = config.to_str().unwrap().to_string();
    let dir = b.kill();
    let b = Server::spawn(dir, &["serve", "--config", &config, "--dns", "127.0.0.1:0"]);
    assert_eq!(soa_serial(&b, zone), Some(last), "B after its restart");
    assert_eq!(agreed_serial([&a, &b], zone, Some("192.0.2.5")), last);
}
