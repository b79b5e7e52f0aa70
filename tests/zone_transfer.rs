//! Outgoing zone transfers with dig: allowed by key and/or prefix, refused
//! otherwise; a routed group transferred as it answers now; IXFR answered
//! with the differences from the client's serial when the journal holds
//! them, else the whole zone, or the SOA alone when the client is current
//! (and over UDP).
mod common;

use std::time::Duration;

use common::Server;

const SECRET: &str = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0";

fn config(allow: &str) -> String {
    format!(
        r#"[server]
data = "eightfold.db"
allow_transfer = {allow}

[[tsig_key]]
name = "xfr.key"
secret = "{SECRET}"

[[health_check]]
id = "down"
type = "tcp"
ip = "127.0.0.1"
port = 1
interval = "1s"
failure_threshold = 1

[[zone]]
name = "example.test"

[[zone.record]]
name = "www"
type = "A"
values = ["192.0.2.1", "192.0.2.2"]

[[zone.record]]
name = "fo"
type = "A"
routing = "failover"
set = "p"
failover = "primary"
value = "192.0.2.10"
health_check = "down"

[[zone.record]]
name = "fo"
type = "A"
routing = "failover"
set = "s"
failover = "secondary"
value = "192.0.2.20"

[[zone]]
name = "private.test"
allow_transfer = [{{ from = "192.0.2.0/24" }}]

[[zone.record]]
name = "www"
type = "A"
value = "192.0.2.3"
"#
    )
}

/// Waits until the check on port 1 has failed and the zone's serial has
/// moved for it (once at start, once for the transition): from then on
/// the zone stays as it is.
fn settle(s: &Server) {
    s.wait_for_log(
        "health check down: healthy → unhealthy",
        Duration::from_secs(10),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while s.logs().matches("zone example.test now has serial").count() < 2 {
        assert!(std::time::Instant::now() < deadline, "{}", s.logs());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn key() -> String {
    format!("hmac-sha256:xfr.key:{SECRET}")
}

/// The records of a dig AXFR/IXFR, whitespace-normalised, TSIG left out.
fn transferred(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty() && !l.contains("\tTSIG\t"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn a_keyed_rule_transfers_signed_and_refuses_the_unsigned_and_other_zones() {
    let s = Server::start(&config(r#"[{ from = "127.0.0.0/8", key = "xfr.key" }]"#));
    // The check on port 1 fails: the secondary is the active record.
    settle(&s);
    let out = s.dig(&["example.test", "AXFR", "-y", &key()]);
    let records = transferred(&out);
    assert!(!out.contains("failed"), "{out}");
    assert!(records.first().unwrap().contains("SOA"), "{out}");
    assert!(records.last().unwrap().contains("SOA"), "{out}");
    assert_eq!(records.first(), records.last());
    for want in [
        "www.example.test. 300 IN A 192.0.2.1",
        "www.example.test. 300 IN A 192.0.2.2",
        "fo.example.test. 300 IN A 192.0.2.20",
        "example.test. 3600 IN NS ns1.example.test.",
        // The generated name server's address (docs/dns.md#generated-soa-and-ns).
        "ns1.example.test. 3600 IN A 127.0.0.1",
    ] {
        assert!(records.iter().any(|r| r == want), "missing {want}: {out}");
    }
    assert!(
        !out.contains("192.0.2.10"),
        "the failed primary is not transferred: {out}"
    );
    assert_eq!(records.len(), 7, "{out}");
    // The TSIG of every message verified (dig says so when one does not).
    assert!(!out.contains("verify"), "{out}");
    // An incremental IXFR is signed as AXFR is (the step of the health
    // transition: 6 records), and dig verifies it.
    let serial: u32 = records[0]
        .split_whitespace()
        .nth(6)
        .unwrap()
        .parse()
        .unwrap();
    let signed = s.dig(&[
        "example.test",
        &format!("IXFR={}", serial - 1),
        "-y",
        &key(),
    ]);
    assert_eq!(transferred(&signed).len(), 6, "{signed}");
    assert!(
        !signed.contains("verify") && !signed.contains("failed"),
        "{signed}"
    );
    assert!(
        signed.contains("\tTSIG\t") || signed.contains(" TSIG "),
        "{signed}"
    );

    let unsigned = s.dig(&["example.test", "AXFR"]);
    assert!(unsigned.contains("Transfer failed"), "{unsigned}");
    assert!(transferred(&unsigned).is_empty(), "{unsigned}");
    // The zone with its own rule: loopback is not in it.
    let other = s.dig(&["private.test", "AXFR", "-y", &key()]);
    assert!(other.contains("Transfer failed"), "{other}");
    // Not a zone apex here.
    let below = s.dig(&["www.example.test", "AXFR", "-y", &key()]);
    assert!(below.contains("Transfer failed"), "{below}");
    // A wrong secret: BADSIG, nothing transferred.
    let wrong = s.dig(&[
        "example.test",
        "AXFR",
        "-y",
        "hmac-sha256:xfr.key:d3Jvbmd3cm9uZ3dyb25nd3Jvbmd3cm9uZw==",
    ]);
    assert!(transferred(&wrong).is_empty(), "{wrong}");
    assert!(s.logs().contains("zone transfer refused"), "{}", s.logs());
}

#[test]
fn an_address_rule_transfers_unsigned_and_ixfr_gets_the_difference_the_zone_or_the_soa_alone() {
    let s = Server::start(&config(r#"[{ from = "127.0.0.1" }]"#));
    settle(&s);
    let axfr = transferred(&s.dig(&["example.test", "AXFR"]));
    assert!(axfr.len() >= 6, "{axfr:?}");
    let serial: u32 = axfr[0].split_whitespace().nth(6).unwrap().parse().unwrap();
    // The serial before the health transition: the journal holds the
    // step (RFC 1995 §4), the failed primary out, the secondary in.
    let ixfr = transferred(&s.dig(&["example.test", &format!("IXFR={}", serial - 1)]));
    let soa = |n: u32| axfr[0].replace(&format!(" {serial} "), &format!(" {n} "));
    assert_eq!(
        ixfr,
        [
            axfr[0].clone(),
            soa(serial - 1),
            "fo.example.test. 300 IN A 192.0.2.10".into(),
            axfr[0].clone(),
            "fo.example.test. 300 IN A 192.0.2.20".into(),
            axfr[0].clone(),
        ]
    );
    // A serial the journal never saw: the whole zone, as AXFR sends it.
    let ixfr = transferred(&s.dig(&["example.test", &format!("IXFR={}", serial - 100)]));
    let mut sorted_axfr = axfr.clone();
    let mut sorted_ixfr = ixfr.clone();
    sorted_axfr.sort();
    sorted_ixfr.sort();
    assert_eq!(sorted_ixfr, sorted_axfr);
    // The current serial: the SOA alone.
    let current = transferred(&s.dig(&["example.test", &format!("IXFR={serial}")]));
    assert_eq!(current, [axfr[0].clone()]);
    // Over UDP, from an old serial: the SOA alone, so the client asks
    // again over TCP (RFC 1995 §2).
    let udp = s.dig(&["example.test", &format!("IXFR={}", serial - 1), "+notcp"]);
    assert!(udp.contains("(UDP)"), "{udp}");
    assert_eq!(common::records(&udp).len(), 1, "{udp}");
    assert!(udp.contains("SOA"), "{udp}");
    // A zone this client may not take: refused over UDP too.
    let refused = s.dig(&["private.test", "IXFR=1", "+notcp"]);
    assert!(common::records(&refused).is_empty(), "{refused}");
    assert!(refused.contains("MSG SIZE"), "an answer, empty: {refused}");
}

#[test]
fn after_a_record_change_ixfr_sends_only_the_changed_records() {
    let zone = |value: &str| {
        format!(
            "[server]\ndata = \"eightfold.db\"\nallow_transfer = [{{ from = \"127.0.0.1\" }}]\n\n\
             [[zone]]\nname = \"ixfr.test\"\n\
             [[zone.record]]\nname = \"www\"\ntype = \"A\"\nvalue = \"{value}\"\n\
             [[zone.record]]\nname = \"mail\"\ntype = \"A\"\nvalue = \"192.0.2.50\"\n"
        )
    };
    let s = Server::start(&zone("192.0.2.1"));
    let old = serial(&s, "ixfr.test");
    std::fs::write(s.path("eightfold.toml"), zone("192.0.2.2")).unwrap();
    s.signal("HUP");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while serial(&s, "ixfr.test") == old {
        assert!(std::time::Instant::now() < deadline, "{}", s.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    let new = old.wrapping_add(1);
    let ixfr = transferred(&s.dig(&["ixfr.test", &format!("IXFR={old}")]));
    assert_eq!(ixfr.len(), 6, "{ixfr:?}");
    let serial_of = |line: &str| {
        line.split_whitespace()
            .nth(6)
            .unwrap()
            .parse::<u32>()
            .unwrap()
    };
    assert_eq!(
        [0, 1, 3, 5].map(|i| serial_of(&ixfr[i])),
        [new, old, new, new],
        "{ixfr:?}"
    );
    assert_eq!(ixfr[2], "www.ixfr.test. 300 IN A 192.0.2.1");
    assert_eq!(ixfr[4], "www.ixfr.test. 300 IN A 192.0.2.2");
    assert!(
        s.logs().contains("kind=\"incremental\"") || s.logs().contains("kind=incremental"),
        "{}",
        s.logs()
    );
    // kdig reads it as an incremental transfer too.
    let out = s.kdig(&["ixfr.test", &format!("IXFR={old}")]);
    assert!(
        out.contains("192.0.2.2") && !out.contains("192.0.2.50"),
        "{out}"
    );
    // An unknown serial: the whole zone; the current one: its SOA.
    let whole = transferred(&s.dig(&["ixfr.test", &format!("IXFR={}", old.wrapping_sub(50))]));
    assert!(whole.iter().any(|r| r.contains("192.0.2.50")), "{whole:?}");
    assert!(!whole.iter().any(|r| r.contains("192.0.2.1")), "{whole:?}");
    let current = transferred(&s.dig(&["ixfr.test", &format!("IXFR={new}")]));
    assert_eq!(current.len(), 1, "{current:?}");
    assert_eq!(serial_of(&current[0]), new);
}

#[test]
fn kdig_transfers_with_the_key_and_is_refused_without_it() {
    let s = Server::start(&config(r#"[{ key = "xfr.key" }]"#));
    let out = s.kdig(&["example.test", "AXFR", "-y", &key()]);
    let soa = out
        .lines()
        .filter(|l| l.contains("\tSOA\t") || l.contains(" SOA "))
        .count();
    assert_eq!(soa, 2, "the SOA first and last: {out}");
    assert!(out.contains("192.0.2.1"), "{out}");
    assert!(!out.to_lowercase().contains("failed"), "{out}");
    // kdig checks every message's TSIG and says so when one fails.
    assert!(!out.contains("BADSIG") && !out.contains("invalid"), "{out}");
    let refused = s.kdig(&["example.test", "AXFR"]);
    assert!(refused.contains("REFUSED"), "{refused}");
    assert!(!refused.contains("192.0.2.1"), "{refused}");
    // IXFR with an old serial: the whole zone, which kdig takes as AXFR.
    let ixfr = s.kdig(&["example.test", "IXFR=1", "-y", &key()]);
    assert!(ixfr.contains("192.0.2.1"), "{ixfr}");
}

/// The serial of the zone's SOA, as dig reads it.
fn serial(s: &Server, zone: &str) -> u32 {
    let out = s.dig(&[zone, "SOA", "+short"]);
    out.split_whitespace()
        .nth(2)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no SOA serial in {out:?}"))
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn a_restart_with_no_change_keeps_the_serial_and_a_change_moves_it_by_one() {
    let zone = |value: &str| {
        format!(
            "[server]\ndata = \"eightfold.db\"\n\n[[zone]]\nname = \"serial.test\"\n\
             [[zone.record]]\nname = \"www\"\ntype = \"A\"\nvalue = \"{value}\"\n"
        )
    };
    let s = Server::start(&zone("192.0.2.1"));
    let first = serial(&s, "serial.test");
    let config = s.path("eightfold.toml");
    // A later second: a serial taken from the clock would differ.
    let started = now_secs();
    while now_secs() == started {
        std::thread::sleep(Duration::from_millis(20));
    }
    let args = |config: &std::path::Path| {
        vec![
            "serve".to_string(),
            "--config".into(),
            config.to_str().unwrap().into(),
            "--dns".into(),
            "127.0.0.1:0".into(),
        ]
    };
    let dir = s.kill();
    let argv = args(&config);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let s = Server::spawn(dir, &argv);
    assert_eq!(serial(&s, "serial.test"), first, "{}", s.logs());
    // A SIGHUP with the same file: the same serial.
    s.signal("HUP");
    s.wait_for_log("reloaded", Duration::from_secs(10));
    assert_eq!(serial(&s, "serial.test"), first);
    // A changed record: one more, and it stays across a restart.
    std::fs::write(&config, zone("192.0.2.2")).unwrap();
    s.signal("HUP");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while serial(&s, "serial.test") == first && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(serial(&s, "serial.test"), first.wrapping_add(1));
    let dir = s.kill();
    let s = Server::spawn(dir, &argv);
    assert_eq!(serial(&s, "serial.test"), first.wrapping_add(1));
}

#[test]
fn a_zone_larger_than_a_message_streams_in_signed_messages_that_dig_and_kdig_verify() {
    // 3,000 records of about 120 bytes: some 6 messages of 64 KiB.
    let mut zone = String::from("$TTL 300\n");
    for i in 0..3000 {
        zone.push_str(&format!("r{i} TXT \"{i:04}{}\"\n", "x".repeat(100)));
    }
    let config = format!(
        "[server]\ndata = \"eightfold.db\"\nallow_transfer = [{{ key = \"xfr.key\" }}]\n\n\
         [[tsig_key]]\nname = \"xfr.key\"\nsecret = \"{SECRET}\"\n\n\
         [[zone]]\nname = \"big.test\"\nfile = \"big.test.zone\"\n"
    );
    let s = Server::start_with_files(&config, &[("big.test.zone", &zone)]);
    let out = s.dig(&["big.test", "AXFR", "-y", &key(), "+stats"]);
    assert!(
        !out.contains("verify") && !out.contains("failed"),
        "{}",
        &out[out.len().saturating_sub(2000)..]
    );
    let records = transferred(&out);
    // SOA, 3,000 TXT, NS, the name server's address, SOA.
    assert_eq!(
        records.len(),
        3004,
        "{}",
        &out[out.len().saturating_sub(2000)..]
    );
    let messages: usize = out
        .lines()
        .find_map(|l| l.strip_prefix(";; XFR size: "))
        .and_then(|l| l.split("(messages ").nth(1))
        .and_then(|l| l.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no XFR size line: {}",
                &out[out.len().saturating_sub(500)..]
            )
        });
    assert!(messages > 1, "{messages} message(s)");
    let kdig = s.kdig(&["big.test", "AXFR", "-y", &key()]);
    let tail = &kdig[kdig.len().saturating_sub(1000)..];
    assert!(kdig.contains("messages, 3004 records)"), "{tail}");
    // kdig warns when a message's TSIG does not verify.
    assert!(
        !kdig.contains("WARNING") && !kdig.contains("failed"),
        "{tail}"
    );
}

/// An API change of the SOA that would lower the serial is overtaken, with
/// a warning naming both serials (docs/dns.md#soa-serials); one that raises
/// it is served as declared.
#[test]
fn an_api_soa_with_a_lower_serial_is_overtaken_with_a_warning_and_a_higher_one_is_served() {
    let s = Server::start("[server]\napi = \"127.0.0.1:0\"\n");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let post = |path: &str, body: serde_json::Value| {
        let mut r = agent
            .post(&format!("{}{path}", s.api_url()))
            .send_json(body)
            .unwrap();
        let status = r.status().as_u16();
        (status, r.body_mut().read_to_string().unwrap())
    };
    let created = post("/v1/zones", serde_json::json!({ "name": "soa.test." }));
    assert_eq!(created.0, 201, "{}", created.1);
    let before = serial(&s, "soa.test");
    let soa = |serial: u32| {
        serde_json::json!({ "changes": [{ "action": "UPSERT", "record": {
            "name": "@", "type": "SOA", "ttl": 3600,
            "value": format!("ns1.soa.test. hostmaster.soa.test. {serial} 3600 600 86400 60"),
        }}]})
    };
    let lowered = post("/v1/zones/soa.test./changes", soa(5));
    assert_eq!(lowered.0, 200, "{}", lowered.1);
    assert_eq!(serial(&s, "soa.test"), before.wrapping_add(1));
    s.wait_for_log(
        &format!("declares serial 5, not above the {before} served before"),
        Duration::from_secs(5),
    );
    let raised = before.wrapping_add(1000);
    let r = post("/v1/zones/soa.test./changes", soa(raised));
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!(serial(&s, "soa.test"), raised);
}
