//! Many zones at once (issue 14): a SIGHUP reload of a large-ish zone set
//! keeps answering every query, and the API reads file zones' records
//! back from the compact snapshot.
//!
//! Real binary, real client (`dig`); the full-size figures (1 M records)
//! are in BENCHMARKS.md, not here.

mod common;

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Server;

const ZONES: usize = 300;
const HOSTS: usize = 100;

fn zone_file(z: usize, changed: bool) -> String {
    let mut out = format!(
        "$ORIGIN z{z}.large.test.\n$TTL 300\n@ 3600 SOA ns1 hostmaster 1 3600 600 604800 60\n\
         @ 3600 NS ns1\nns1 3600 A 127.0.0.53\n"
    );
    for i in 0..HOSTS {
        out.push_str(&format!("h{i} A {}\n", address(z, i, changed && i == 0)));
    }
    out
}

/// The address of host `i` of zone `z`; the reload changes host 0 of
/// zone 0.
fn address(z: usize, i: usize, changed: bool) -> Ipv4Addr {
    let last = if changed { 250 } else { i as u8 };
    Ipv4Addr::new(10, (z >> 8) as u8, z as u8, last)
}

fn config() -> String {
    (0..ZONES)
        .map(|z| format!("[[zone]]\nname = \"z{z}.large.test.\"\nfile = \"zones/z{z}.zone\"\n\n"))
        .collect()
}

/// One round of the client: `dig` with 20 queries, every answer checked.
/// Returns the problems found (empty when every query was answered with
/// an address it may have).
fn round(server: std::net::SocketAddr, n: usize) -> Vec<String> {
    let picks: Vec<(usize, usize)> = (0..20)
        .map(|k| {
            let z = (n * 7 + k * 13) % ZONES;
            // Host 0 of zone 0 is asked in every round: the changed name.
            if k == 0 {
                (0, 0)
            } else {
                (z, (n + k * 31) % HOSTS)
            }
        })
        .collect();
    let mut args = vec![
        format!("@{}", server.ip()),
        "-p".into(),
        server.port().to_string(),
        "+short".into(),
        "+tries=1".into(),
        "+time=2".into(),
    ];
    for (z, i) in &picks {
        args.push(format!("h{i}.z{z}.large.test"));
        args.push("A".into());
    }
    let out = std::process::Command::new("dig")
        .args(&args)
        .output()
        .expect("dig runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() != picks.len() {
        return vec![format!(
            "{} answers to {} queries:\n{text}",
            lines.len(),
            picks.len()
        )];
    }
    let mut problems = Vec::new();
    for ((z, i), line) in picks.iter().zip(&lines) {
        let ok = line.parse::<Ipv4Addr>().is_ok_and(|a| {
            a == address(*z, *i, false) || (*z == 0 && *i == 0 && a == address(0, 0, true))
        });
        if !ok {
            problems.push(format!("h{i}.z{z}: {line}"));
        }
    }
    problems
}

#[test]
fn a_sighup_reload_of_many_zones_keeps_answering_every_query() {
    let files: Vec<(String, String)> = (0..ZONES)
        .map(|z| (format!("zones/z{z}.zone"), zone_file(z, false)))
        .collect();
    let files: Vec<(&str, &str)> = files.iter().map(|(a, b)| (&a[..], &b[..])).collect();
    let s = Server::start_with_files(&config(), &files);
    let addr = s.addr();
    let stop = Arc::new(AtomicBool::new(false));
    // Each round: when it started and ended, what went wrong, and whether
    // it saw the changed address.
    type Round = (Instant, Instant, Vec<String>, bool);
    let rounds: Arc<Mutex<Vec<Round>>> = Arc::default();
    let client = {
        let (stop, rounds) = (stop.clone(), rounds.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let start = Instant::now();
                let problems = round(addr, n);
                let changed = common::dig(addr, &["h0.z0.large.test", "A", "+short"]).trim()
                    == address(0, 0, true).to_string();
                rounds
                    .lock()
                    .unwrap()
                    .push((start, Instant::now(), problems, changed));
                n += 1;
            }
        })
    };
    let wait_rounds = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while rounds.lock().unwrap().len() < n {
            assert!(Instant::now() < deadline, "the client stalled");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_rounds(3);
    std::fs::write(s.path("zones/z0.zone"), zone_file(0, true)).unwrap();
    let signalled = Instant::now();
    s.signal("HUP");
    s.wait_for_log("reloaded", Duration::from_secs(60));
    let reloaded = Instant::now();
    // Only zone 0's file changed: the others stand as built.
    assert!(
        s.logs().contains(&format!("unchanged={}", ZONES - 1)),
        "{}",
        s.logs()
    );
    // Until the change is answered, then three more rounds.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !rounds.lock().unwrap().iter().any(|r| r.3) {
        assert!(
            Instant::now() < deadline,
            "the reload's change is never answered"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Every zone's first serial in one line at start; the one zone that
    // changed in a line of its own.
    s.wait_for_log("now has serial", Duration::from_secs(10));
    let logs = s.logs();
    assert!(
        logs.contains(&format!("{ZONES} zones have new serials")),
        "{logs}"
    );
    let serial_lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("now has serial"))
        .collect();
    assert_eq!(serial_lines.len(), 1, "{serial_lines:#?}");
    assert!(
        serial_lines[0].contains("zone z0.large.test"),
        "{serial_lines:#?}"
    );
    let seen = rounds.lock().unwrap().len();
    wait_rounds(seen + 3);
    stop.store(true, Ordering::SeqCst);
    client.join().unwrap();

    let rounds = rounds.lock().unwrap();
    let problems: Vec<&String> = rounds.iter().flat_map(|r| &r.2).collect();
    assert!(problems.is_empty(), "failed queries: {problems:#?}");
    assert!(
        rounds.iter().any(|r| r.0 <= reloaded && r.1 >= signalled),
        "no query was in flight during the reload"
    );
    // Once the new address is answered, the old one never comes back.
    let first_new = rounds.iter().position(|r| r.3).unwrap();
    assert!(
        rounds[first_new..].iter().all(|r| r.3),
        "an old answer came back after the reload"
    );
}

/// Waits for the `n`th "reloaded" log line and returns it.
fn reloaded(s: &Server, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logs = s.logs();
        let lines: Vec<&str> = logs.lines().filter(|l| l.contains("reloaded")).collect();
        if let Some(line) = lines.get(n - 1) {
            return line.to_string();
        }
        assert!(Instant::now() < deadline, "no reload {n}:\n{logs}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A reload parses again only the zone files that changed, their own
/// text or a file they include; the other zones stand as built, unless
/// what they are built with changed too (`[server] nameservers`), and a
/// zone with `[[zone.record]]` tables is always built again.
#[test]
fn a_reload_rebuilds_only_the_zones_whose_files_changed() {
    let config = |ns: &str, extra: bool| {
        let mut c = format!("[server]\nnameservers = [\"{ns}\"]\n\n");
        for z in ["a", "b", "c", "d", "e"] {
            c.push_str(&format!(
                "[[zone]]\nname = \"{z}.test.\"\nfile = \"{z}.zone\"\n\n"
            ));
        }
        if extra {
            c.push_str("[[zone.record]]\nname = \"extra\"\ntype = \"TXT\"\nvalue = \"inline\"\n");
        }
        c
    };
    let zone = |z: &str, body: &str| format!("$ORIGIN {z}.test.\n$TTL 60\n{body}");
    let files = [
        ("a.zone", zone("a", "www A 192.0.2.1\n")),
        ("b.zone", zone("b", "www A 192.0.2.2\n")),
        ("c.zone", zone("c", "$INCLUDE c-hosts.inc\n")),
        ("c-hosts.inc", "www A 192.0.2.3\n".to_string()),
        ("d.zone", zone("d", "www A 192.0.2.4\n")),
        ("e.zone", zone("e", "www A 192.0.2.5\n")),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(a, b)| (*a, b.as_str())).collect();
    let s = Server::start_with_files(&config("ns1.example.net.", true), &files);
    let a = |name: &str, rtype: &str| s.dig(&[name, rtype, "+short"]).trim().to_string();
    assert_eq!(a("www.c.test", "A"), "192.0.2.3");
    assert_eq!(a("extra.e.test", "TXT"), "\"inline\"");

    // b's file and the file c includes change; a, d and e's files do not.
    std::fs::write(s.path("b.zone"), zone("b", "www A 198.51.100.2\n")).unwrap();
    std::fs::write(s.path("c-hosts.inc"), "www A 198.51.100.3\n").unwrap();
    s.signal("HUP");
    let line = reloaded(&s, 1);
    // a and d stand as built; e is built again for its inline record.
    assert!(line.contains("unchanged=2"), "{line}");
    assert_eq!(a("www.a.test", "A"), "192.0.2.1");
    assert_eq!(a("www.b.test", "A"), "198.51.100.2");
    assert_eq!(a("www.c.test", "A"), "198.51.100.3");
    assert_eq!(a("www.d.test", "A"), "192.0.2.4");
    assert_eq!(a("d.test", "NS"), "ns1.example.net.");
    assert_eq!(a("extra.e.test", "TXT"), "\"inline\"");

    // No file changes, but the generated NS does, and e loses its inline
    // record: every zone is built again.
    std::fs::write(s.path("eightfold.toml"), config("ns2.example.net.", false)).unwrap();
    s.signal("HUP");
    let line = reloaded(&s, 2);
    assert!(line.contains("unchanged=0"), "{line}");
    assert_eq!(a("d.test", "NS"), "ns2.example.net.");
    assert_eq!(a("a.test", "NS"), "ns2.example.net.");
    assert_eq!(a("www.a.test", "A"), "192.0.2.1");
    assert_eq!(a("www.c.test", "A"), "198.51.100.3");
    assert_eq!(a("extra.e.test", "TXT"), "");
    assert_eq!(a("www.e.test", "A"), "192.0.2.5");
}

/// The API lists a file zone's records from the snapshot (the config's
/// copy is dropped once built): every record comes back, the generated
/// SOA and NS do not, and the count is the declared one.
#[test]
fn the_api_reads_a_file_zones_records_from_the_snapshot() {
    let zone = "$ORIGIN f.test.\n$TTL 60\nwww A 192.0.2.1\nwww A 192.0.2.2\nv6 AAAA 2001:db8::1\n\
                mail MX 10 www\ntxt TXT \"a b\"\nc CNAME www\nsub NS ns.sub\nns.sub A 192.0.2.9\n\
                *.w A 192.0.2.3\nold DNAME new.example.\n";
    let config = "[server]\napi = \"127.0.0.1:0\"\ndata = \"eightfold.db\"\n\n\
                  [[health_check]]\nid = \"c1\"\ntype = \"tcp\"\nip = \"127.0.0.1\"\nport = 9\n\n\
                  [[zone]]\nname = \"f.test.\"\nfile = \"f.zone\"\n\n\
                  [[zone.record]]\nname = \"mv\"\ntype = \"A\"\nrouting = \"multivalue\"\nset = \"one\"\n\
                  value = \"192.0.2.20\"\nhealth_check = \"c1\"\n\n\
                  [[zone.record]]\nname = \"wt\"\ntype = \"A\"\nrouting = \"weighted\"\nset = \"heavy\"\n\
                  value = \"192.0.2.30\"\nweight = 7\n";
    let s = Server::start_with_files(config, &[("f.zone", zone)]);
    let base = s.api_url();
    let body: serde_json::Value = ureq::get(&format!("{base}/v1/zones/f.test./records"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let records = body["records"].as_array().unwrap();
    let seen: HashSet<String> = records
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["name"].as_str().unwrap(),
                r["type"].as_str().unwrap()
            )
        })
        .collect();
    let expected: HashSet<String> = [
        "www A",
        "v6 AAAA",
        "mail MX",
        "txt TXT",
        "c CNAME",
        "sub NS",
        "ns.sub A",
        "*.w A",
        "old DNAME",
        "mv A",
        "wt A",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(seen, expected, "{records:#?}");
    let www = records.iter().find(|r| r["name"] == "www").unwrap();
    assert_eq!(www["values"], serde_json::json!(["192.0.2.1", "192.0.2.2"]));
    let mv = records.iter().find(|r| r["name"] == "mv").unwrap();
    assert_eq!(mv["health_check"], "c1");
    assert_eq!(mv["routing"], "multivalue");
    assert_eq!(mv["set"], "one");
    let wt = records.iter().find(|r| r["name"] == "wt").unwrap();
    assert_eq!(wt["weight"], 7);
    let zone: serde_json::Value = ureq::get(&format!("{base}/v1/zones/f.test."))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_eq!(zone["zone"]["record_count"], 11, "{zone}");
}

/// `serve` logs what `eightfold check` warns about, with the file and
/// line, for a zone built as its file is read (it declares its NS set)
/// and for one built later (its NS set is generated) alike.
#[test]
fn serve_logs_the_warnings_of_every_zone_file() {
    let config = "[[zone]]\nname = \"own.test.\"\nfile = \"own.zone\"\n\n\
                  [[zone]]\nname = \"gen.test.\"\nfile = \"gen.zone\"\n";
    let own =
        "$ORIGIN own.test.\n$TTL 60\n@ NS ns1\nns1 A 192.0.2.1\n@ MX 10 alias\nalias CNAME ns1\n";
    let generated = "$ORIGIN gen.test.\n$TTL 60\nwww A 192.0.2.2\n@ MX 10 nowhere\n";
    let s = Server::start_with_files(config, &[("own.zone", own), ("gen.zone", generated)]);
    assert_eq!(
        s.dig(&["own.test", "MX", "+short"]).trim(),
        "10 alias.own.test."
    );
    let logs = s.logs();
    assert!(
        logs.contains("own.zone:5:") && logs.contains("is a CNAME"),
        "{logs}"
    );
    assert!(
        logs.contains("gen.zone:4:") && logs.contains("has no address records"),
        "{logs}"
    );
}
