//! The health vote across three real `eightfold serve` nodes on one real
//! PostgreSQL (issue 11): a real HTTP backend that fails only the probes
//! of the nodes it is told to (it reads the probe's User-Agent), and the
//! DNS answers of every node, polled with deadlines.

mod common;

use std::time::{Duration, Instant};

use common::votes::Backend;
use common::{Data, Server};
use serde_json::Value;

/// Two checks on `port`, "web" at the server's percentage (18) and
/// "web50" at 50 %, each guarding the primary of a failover pair.
fn config(node: &str, data: &str, port: u16) -> String {
    config_with(node, data, port, true)
}

/// The same, without "web50" and its pair unless `web50`.
fn config_with(node: &str, data: &str, port: u16, web50: bool) -> String {
    let pair = |name: &str, check: &str| {
        format!(
            r#"
[[zone.record]]
name = "{name}"
type = "A"
ttl = 5
routing = "failover"
set = "p"
failover = "primary"
value = "192.0.2.1"
health_check = "{check}"

[[zone.record]]
name = "{name}"
type = "A"
ttl = 5
routing = "failover"
set = "s"
failover = "secondary"
value = "192.0.2.2"
"#
        )
    };
    format!(
        r#"[server]
api = "127.0.0.1:0"
data = "{data}"
node = "{node}"

[[health_check]]
id = "web"
type = "http"
ip = "127.0.0.1"
port = {port}
interval = "1s"
failure_threshold = 2

{}
[[zone]]
name = "vote.test."
{}{}"#,
        if web50 {
            format!(
                "[[health_check]]\nid = \"web50\"\ntype = \"http\"\nip = \"127.0.0.1\"\n\
                 port = {port}\ninterval = \"1s\"\nfailure_threshold = 2\nhealthy_percent = 50\n"
            )
        } else {
            String::new()
        },
        pair("www", "web"),
        if web50 {
            pair("www50", "web50")
        } else {
            String::new()
        }
    )
}

fn three_nodes(port: u16) -> Vec<Server> {
    let data = Data::Postgres.value();
    ["a", "b", "c"]
        .iter()
        .map(|n| Server::start(&config(n, &data, port)))
        .collect()
}

fn get(url: &str) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut response = agent.get(url).call().unwrap();
    serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
}

fn status(server: &Server, check: &str) -> Value {
    get(&format!(
        "{}/v1/health-checks/{check}/status",
        server.api_url()
    ))
}

/// The votes on `check` as `server` lists them: (node, healthy, live).
fn votes(server: &Server, check: &str) -> Vec<(String, bool, bool)> {
    status(server, check)["votes"]
        .as_array()
        .map(|votes| {
            votes
                .iter()
                .map(|v| {
                    (
                        v["node"].as_str().unwrap().to_string(),
                        v["healthy"] == true,
                        v["live"] == true,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Polls until `done`, failing after `within` with `what`.
fn until(what: &str, within: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < within, "never {what} within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

/// What `server` answers for `name` in vote.test.
fn answer(server: &Server, name: &str) -> String {
    server
        .dig(&[&format!("{name}.vote.test"), "A", "+short"])
        .trim()
        .to_string()
}

const PRIMARY: &str = "192.0.2.1";
const SECONDARY: &str = "192.0.2.2";

/// Every node lists `expected` (node, healthy) as the live votes on
/// `check`.
fn votes_are(nodes: &[Server], check: &str, expected: &[(&str, bool)]) {
    let expected: Vec<(String, bool, bool)> = expected
        .iter()
        .map(|&(n, h)| (n.to_string(), h, true))
        .collect();
    until(
        &format!("the votes on {check} to be {expected:?}"),
        Duration::from_secs(15),
        || nodes.iter().all(|s| votes(s, check) == expected),
    );
}

#[test]
fn the_nodes_vote_and_all_answer_alike() {
    let backend = Backend::start();
    let nodes = three_nodes(backend.port);
    let healthy = [("a", true), ("b", true), ("c", true)];
    votes_are(&nodes, "web", &healthy);
    for s in &nodes {
        assert_eq!(answer(s, "www"), PRIMARY);
        assert_eq!(answer(s, "www50"), PRIMARY);
    }

    // One node's probes fail: its vote says so everywhere, and 2 of 3
    // healthy keeps both checks in on all three nodes.
    backend.fail_for(&["c"]);
    let c_out = [("a", true), ("b", true), ("c", false)];
    votes_are(&nodes, "web", &c_out);
    votes_are(&nodes, "web50", &c_out);
    for s in &nodes {
        assert_eq!(answer(s, "www"), PRIMARY, "{}", s.logs());
        assert_eq!(answer(s, "www50"), PRIMARY, "{}", s.logs());
    }

    // Two of three: 1 of 3 is not more than 50 %, but is more than 18 %.
    backend.fail_for(&["b", "c"]);
    until(
        "www50 to fail over on every node",
        Duration::from_secs(15),
        || nodes.iter().all(|s| answer(s, "www50") == SECONDARY),
    );
    votes_are(&nodes, "web", &[("a", true), ("b", false), ("c", false)]);
    for s in &nodes {
        assert_eq!(answer(s, "www"), PRIMARY);
        let consensus = &status(s, "web50")["consensus"];
        assert_eq!(
            (
                consensus["healthy_votes"].as_u64(),
                consensus["live_votes"].as_u64(),
                consensus["healthy_percent"].as_u64()
            ),
            (Some(1), Some(3), Some(50)),
            "{consensus}"
        );
    }
    // The event log keeps the votes behind the transition, once for the
    // three nodes that decided it (recorded a moment after it was
    // decided).
    let events_url = format!("{}/v1/health-events?check=web50", nodes[0].api_url());
    until("the transition recorded", Duration::from_secs(5), || {
        !get(&events_url)["events"].as_array().unwrap().is_empty()
    });
    let events = get(&events_url);
    let reasons: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert_eq!(reasons.len(), 1, "{events}");
    assert!(
        reasons[0].contains("1 of 3 nodes healthy, more than 50 % needed"),
        "{events}"
    );

    // All three: out everywhere within interval × threshold + 2 s.
    backend.fail_for(&["a", "b", "c"]);
    let took = until(
        "www to fail over on every node",
        Duration::from_secs(2 + 2),
        || nodes.iter().all(|s| answer(s, "www") == SECONDARY),
    );
    eprintln!("all nodes failing: www out everywhere after {took:?}");

    // And back: one healthy node of three is enough at 18 %.
    backend.fail_for(&["b", "c"]);
    until(
        "www to come back on every node",
        Duration::from_secs(15),
        || nodes.iter().all(|s| answer(s, "www") == PRIMARY),
    );
}

#[test]
fn the_status_and_route53_list_one_observation_per_node() {
    let backend = Backend::start();
    let nodes = three_nodes(backend.port);
    backend.fail_for(&["b"]);
    votes_are(&nodes, "web", &[("a", true), ("b", false), ("c", true)]);
    let body = status(&nodes[2], "web");
    let listed = body["votes"].as_array().unwrap();
    for (vote, node) in listed.iter().zip(&nodes) {
        assert_eq!(vote["address"], node.addr().to_string(), "{body}");
        assert!(
            vote["at"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{body}"
        );
    }
    assert_eq!(
        listed[1]["reason"], "HTTP 503 (2 consecutive results)",
        "{body}"
    );
    assert_eq!(
        body["votes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["this_node"] == true)
            .collect::<Vec<_>>(),
        [false, false, true]
    );
    assert_eq!(body["consensus"]["measured"], "healthy", "{body}");
    assert_eq!(
        body["consensus"]["summary"],
        "2 of 3 nodes healthy, more than 18 % needed"
    );

    // Route 53's GetHealthCheckStatus through boto3: one observation per
    // node, each from its node's address (known once A has read every
    // node's heartbeat).
    until("A to know every node", Duration::from_secs(10), || {
        get(&format!("{}/v1/nodes", nodes[0].api_url()))["nodes"]
            .as_array()
            .is_some_and(|n| n.len() == 3)
    });
    let mut lines = route53_observations(&nodes[0]);
    lines.sort();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let failures = lines.iter().filter(|l| l.ends_with(" Failure")).count();
    assert_eq!(failures, 1, "{lines:?}");
    assert!(
        lines.iter().all(|l| l.starts_with("127.0.0.1 ")),
        "{lines:?}"
    );

    // The JSON API takes a check's percentage, 0 to 100, and says what
    // is wrong with another.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let create = |percent: i64| {
        let body = serde_json::json!({"id": "api50", "type": "tcp", "ip": "127.0.0.1",
            "port": backend.port, "healthy_percent": percent});
        let mut r = agent
            .post(&format!("{}/v1/health-checks", nodes[1].api_url()))
            .send_json(&body)
            .unwrap();
        let text = r.body_mut().read_to_string().unwrap();
        (
            r.status().as_u16(),
            serde_json::from_str::<Value>(&text).unwrap(),
        )
    };
    let (code, body) = create(101);
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("healthy_percent must be 0 to 100, not 101"),
        "{body}"
    );
    let (code, body) = create(50);
    assert_eq!(
        (code, &body["healthy_percent"]),
        (201, &Value::from(50)),
        "{body}"
    );
    until(
        "the new check's consensus at 50 %",
        Duration::from_secs(10),
        || status(&nodes[2], "api50")["consensus"]["healthy_percent"] == 50,
    );
}

/// Route 53's GetHealthCheckStatus of check `web` through boto3, one
/// line per observation: its address and `Success` or `Failure`.
fn route53_observations(node: &Server) -> Vec<String> {
    let script = r#"
import sys, boto3
r53 = boto3.client("route53", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="x", aws_secret_access_key="x")
for o in r53.get_health_check_status(HealthCheckId="web")["HealthCheckObservations"]:
    print(o["IPAddress"], o["StatusReport"]["Status"].split(":")[0])
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &node.api_url()])
        .output()
        .expect("python3 with boto3 (pip install boto3)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_killed_nodes_vote_drops_out_after_three_heartbeats() {
    let backend = Backend::start();
    let mut nodes = three_nodes(backend.port);
    // b is the only node whose probes pass: 1 of 3 is more than 18 %.
    backend.fail_for(&["a", "c"]);
    votes_are(&nodes, "web", &[("a", false), ("b", true), ("c", false)]);
    for s in &nodes {
        assert_eq!(answer(s, "www"), PRIMARY);
    }
    let b = nodes.remove(1);
    let config = b.path("eightfold.toml");
    let config = config.to_str().unwrap().to_string();
    let killed = Instant::now();
    let dir = b.kill();
    // Its vote stops counting after 3 missed 2 s heartbeats, and with it
    // the only healthy one: www fails over on a and c.
    until(
        "www to fail over on a and c",
        Duration::from_secs(15),
        || nodes.iter().all(|s| answer(s, "www") == SECONDARY),
    );
    let dropped = killed.elapsed();
    // Not at once: its vote counts until its last beat is 6 s old, and
    // that beat was about 2 s old at most when it died (a late beat on a
    // loaded machine makes it older, hence the margin).
    assert!(
        dropped >= Duration::from_secs(2),
        "b's vote dropped out after only {dropped:?}"
    );
    for s in &nodes {
        let listed = votes(s, "web");
        assert!(
            listed.contains(&("b".to_string(), true, false)),
            "{listed:?}"
        );
        let consensus = &status(s, "web")["consensus"];
        assert_eq!(consensus["live_votes"], 2, "{consensus}");
        assert_eq!(consensus["healthy_votes"], 0, "{consensus}");
    }
    // Route 53 shows only the checkers that report: b's last "Success"
    // is no longer among them.
    assert_eq!(
        route53_observations(&nodes[0]),
        ["127.0.0.1 Failure", "127.0.0.1 Failure"]
    );
    // Restarted, b votes again with no manual step, and its healthy vote
    // brings www back on every node.
    let b = Server::spawn(dir, &["serve", "--config", &config, "--dns", "127.0.0.1:0"]);
    nodes.insert(1, b);
    votes_are(&nodes, "web", &[("a", false), ("b", true), ("c", false)]);
    until("www back on every node", Duration::from_secs(15), || {
        nodes.iter().all(|s| answer(s, "www") == PRIMARY)
    });
}

/// A node that stops probing a check (gone from its config) withdraws its
/// vote: the others count only their own, instead of its last one as a
/// live node's forever.
#[test]
fn a_check_removed_from_one_node_loses_that_nodes_vote_everywhere() {
    let backend = Backend::start();
    let data = Data::Postgres.value();
    let nodes: Vec<Server> = ["a", "b", "c"]
        .iter()
        .map(|n| Server::start(&config(n, &data, backend.port)))
        .collect();
    votes_are(&nodes, "web50", &[("a", true), ("b", true), ("c", true)]);
    // c's probes fail, then c drops web50: 2 of 2 healthy, not 2 of 3.
    backend.fail_for(&["c"]);
    votes_are(&nodes, "web50", &[("a", true), ("b", true), ("c", false)]);
    let c = &nodes[2];
    std::fs::write(
        c.path("eightfold.toml"),
        config_with("c", &data, backend.port, false),
    )
    .unwrap();
    c.signal("HUP");
    c.wait_for_log("reloaded", Duration::from_secs(10));
    votes_are(&nodes[..2], "web50", &[("a", true), ("b", true)]);
    for s in &nodes[..2] {
        let consensus = &status(s, "web50")["consensus"];
        assert_eq!(consensus["live_votes"], 2, "{consensus}");
        assert_eq!(consensus["healthy_votes"], 2, "{consensus}");
    }
    // The check c still probes keeps c's vote.
    votes_are(&nodes, "web", &[("a", true), ("b", true), ("c", false)]);
}

/// A node stopped cleanly writes the observations the store refused until
/// then, rather than wait for its next retry (which a stop cuts short):
/// the other nodes count them, and a restart resumes from them.
#[test]
fn a_clean_stop_writes_the_observations_the_store_refused() {
    let backend = Backend::start();
    let data = Data::Postgres.value();
    let database = data.rsplit('/').next().unwrap().to_string();
    let pg = common::postgres::server();
    let a = Server::start(&config_with("a", &data, backend.port, false));
    let published = || {
        pg.psql(
            &database,
            "SELECT healthy FROM health_observations WHERE check_id = 'web' AND node = 'a'",
        )
        .trim()
        .to_string()
    };
    until("a's vote published", Duration::from_secs(10), || {
        published() == "t"
    });

    // The store refuses the next observation; the publisher keeps it and
    // tries again every second.
    pg.psql(
        &database,
        "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$ \
         LANGUAGE plpgsql; \
         CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON health_observations \
         FOR EACH ROW EXECUTE FUNCTION refuse()",
    );
    backend.fail_for(&["a"]);
    a.wait_for_log(
        "cannot publish this node's health observations",
        Duration::from_secs(10),
    );
    pg.psql(&database, "DROP TRIGGER refuse ON health_observations");
    a.signal("TERM");
    let (exit, logs) = a.wait();
    assert!(exit.success(), "{exit}: {logs}");
    assert_eq!(published(), "f", "{logs}");
}
