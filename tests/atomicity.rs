//! "A query sees the old zones or the new ones, never a mix" (ARCHITECTURE
//! invariants), shown on the real binary: while multi-change batches
//! (through the API) and reloads (SIGHUP with a rewritten zone file) are
//! applied back to back, queries run without pause, and every answer must
//! come entirely from one version.

mod common;

use std::collections::BTreeSet;
use std::net::{SocketAddr, UdpSocket};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Data, Server};
use domain::base::{Message, MessageBuilder, Name, Rtype};
use domain::rdata::A;

/// Records in each group: one batch or one reload changes all of them.
const GROUP: u8 = 6;

/// The file zone at version `v`: a multivalue group whose every record
/// carries `v` in its third octet.
fn file_zone(v: u8) -> String {
    let mut text = String::from(
        "$ORIGIN file.test.\n$TTL 60\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.53\n",
    );
    for i in 1..=GROUP {
        text.push_str(&format!("www A 10.1.{v}.{i}\n"));
    }
    text
}

/// The versions seen in one answer: the third octet of every A record.
fn versions(
    socket: &UdpSocket,
    server: SocketAddr,
    name: &str,
    id: u16,
) -> Option<(usize, BTreeSet<u8>)> {
    let mut msg = MessageBuilder::new_vec();
    msg.header_mut().set_id(id);
    let mut q = msg.question();
    q.push((Name::<Vec<u8>>::from_str(name).unwrap(), Rtype::A))
        .unwrap();
    socket.send_to(&q.finish(), server).unwrap();
    let mut buf = [0u8; 2048];
    let n = socket.recv(&mut buf).ok()?;
    let response = Message::from_octets(&buf[..n]).unwrap();
    assert_eq!(response.header().id(), id);
    let mut count = 0;
    let mut seen = BTreeSet::new();
    for record in response.answer().unwrap().limit_to::<A>() {
        let record = record.unwrap();
        count += 1;
        seen.insert(record.data().addr().octets()[2]);
    }
    Some((count, seen))
}

// Both backends one after the other: each run floods the server with
// queries, and two at once on a small machine starve each other.
#[test]
fn queries_see_a_whole_batch_or_a_whole_reload_never_a_mix_on_sqlite_then_postgres() {
    queries_see_a_whole_batch_or_a_whole_reload_never_a_mix(Data::Sqlite);
    queries_see_a_whole_batch_or_a_whole_reload_never_a_mix(Data::Postgres);
}

fn queries_see_a_whole_batch_or_a_whole_reload_never_a_mix(data: Data) {
    let config = format!(
        r#"
[server]
api = "127.0.0.1:0"
data = "{}"

[[zone]]
name = "file.test."
file = "file.test.zone"
"#,
        data.value()
    );
    let server = Server::start_with_files(&config, &[("file.test.zone", &file_zone(0))]);
    let api = format!("{}/v1", server.api_url());
    let agent = ureq::Agent::new_with_defaults();
    let post = |path: &str, body: serde_json::Value| {
        agent
            .post(format!("{api}{path}"))
            .send_json(&body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    };
    post("/zones", serde_json::json!({"name": "api.test."}));
    let batch = |v: u8, action: &str| {
        let changes: Vec<serde_json::Value> = (1..=GROUP)
            .map(|i| {
                serde_json::json!({"action": action, "record": {
                    "name": "www", "type": "A", "ttl": 60, "routing": "multivalue",
                    "set": format!("s{i}"), "value": format!("10.2.{v}.{i}")}})
            })
            .collect();
        serde_json::json!({ "changes": changes })
    };
    post("/zones/api.test/changes", batch(0, "CREATE"));

    let running = Arc::new(AtomicBool::new(true));
    let dns = server.addr();
    let queriers: Vec<_> = ["www.api.test.", "www.file.test."]
        .into_iter()
        .map(|name| {
            let running = running.clone();
            std::thread::spawn(move || {
                let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                socket
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .unwrap();
                let mut answers = 0u32;
                let mut all_seen = BTreeSet::new();
                let mut id = 0u16;
                while running.load(Ordering::Relaxed) {
                    id = id.wrapping_add(1);
                    let Some((count, seen)) = versions(&socket, dns, name, id) else {
                        continue;
                    };
                    assert_eq!(
                        count, GROUP as usize,
                        "{name}: a whole group in every answer"
                    );
                    assert_eq!(seen.len(), 1, "{name}: an answer mixes versions {seen:?}");
                    all_seen.extend(seen);
                    answers += 1;
                }
                (answers, all_seen)
            })
        })
        .collect();

    // Forty batches and ten reloads, back to back, while the queries run.
    for v in 1..=40u8 {
        post("/zones/api.test/changes", batch(v, "UPSERT"));
        if v % 4 == 0 {
            std::fs::write(server.path("file.test.zone"), file_zone(v / 4)).unwrap();
            server.signal("HUP");
        }
    }
    // The last reload is in once its version is answered.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while versions(&socket, dns, "www.file.test.", 1).map(|(_, s)| s) != Some([10].into()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the last reload never took effect"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    running.store(false, Ordering::Relaxed);
    for (q, name) in queriers.into_iter().zip(["api", "file"]) {
        let (answers, seen) = q.join().expect("no mixed answer");
        assert!(answers > 100, "{name}: only {answers} answers");
        // The queries really ran across the changes.
        assert!(seen.len() >= 3, "{name}: saw only versions {seen:?}");
    }
}
