//! The name servers of zones that declare none (`[server] nameservers`,
//! docs/dns.md#generated-soa-and-ns), through the real server and dig:
//! generated in-zone name servers always have their address, in answers
//! and in transfers; `check` refuses one that has none, and the API a
//! zone that would take it.
mod common;

use std::time::Duration;

use common::Server;
use serde_json::json;

fn create_zone(s: &Server, name: &str) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let r = agent
        .post(&format!("{}/v1/zones", s.api_url()))
        .send_json(json!({ "name": name }))
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
}

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

#[test]
fn without_nameservers_an_api_zone_gets_ns1_at_the_address_it_is_served_on() {
    let s = Server::start("[server]\napi = \"127.0.0.1:0\"\n");
    create_zone(&s, "fresh.test.");
    let ns = s.dig(&["fresh.test", "NS", "+norec"]);
    // The NS, and its address in the additional section.
    assert_eq!(
        common::records(&ns),
        [
            "fresh.test. 3600 IN NS ns1.fresh.test.".to_string(),
            format!("ns1.fresh.test. 3600 IN A {}", s.addr().ip())
        ],
        "{ns}"
    );
    // The name server resolves, at the address this server answers on.
    assert_eq!(
        s.dig(&["ns1.fresh.test", "A", "+short"]).trim(),
        s.addr().ip().to_string()
    );
    let soa = s.dig(&["fresh.test", "SOA", "+short"]);
    assert!(
        soa.starts_with("ns1.fresh.test. hostmaster.fresh.test. "),
        "{soa}"
    );
}

#[test]
fn configured_nameservers_are_every_undeclared_zones_ns_with_in_zone_addresses() {
    let config = "[server]\napi = \"127.0.0.1:0\"\n\
        nameservers = [{ name = \"ns1.example.com.\", addresses = [\"192.0.2.53\", \"2001:db8::53\"] }, \"ns2.elsewhere.net.\"]\n\
        allow_transfer = [{ from = \"127.0.0.1\" }]\n\n\
        [[zone]]\nname = \"example.com.\"\n\
        [[zone.record]]\nname = \"www\"\ntype = \"A\"\nvalue = \"192.0.2.80\"\n\n\
        [[zone]]\nname = \"own.test.\"\n\
        [[zone.record]]\nname = \"@\"\ntype = \"NS\"\nvalue = \"ns.own-provider.net.\"\n";
    let s = Server::start(config);
    create_zone(&s, "api.test.");
    for zone in ["example.com.", "api.test."] {
        let ns = s.dig(&[zone, "NS", "+short"]);
        let names: Vec<String> = ns.lines().map(str::to_string).collect();
        assert_eq!(
            sorted(names),
            ["ns1.example.com.", "ns2.elsewhere.net."],
            "{zone}: {ns}"
        );
        let soa = s.dig(&[zone, "SOA", "+short"]);
        assert!(soa.starts_with("ns1.example.com. "), "{zone}: {soa}");
    }
    // In its own zone the name server has its addresses ...
    assert_eq!(
        s.dig(&["ns1.example.com", "A", "+short"]).trim(),
        "192.0.2.53"
    );
    assert_eq!(
        s.dig(&["ns1.example.com", "AAAA", "+short"]).trim(),
        "2001:db8::53"
    );
    // ... and a zone with its own NS keeps it.
    let own = s.dig(&["own.test", "NS", "+short"]);
    assert_eq!(own.trim(), "ns.own-provider.net.");
    // A secondary receives the same records.
    let axfr = s.dig(&["example.com", "AXFR"]);
    let transferred = common::records(&axfr);
    for line in [
        "example.com. 3600 IN NS ns1.example.com.",
        "example.com. 3600 IN NS ns2.elsewhere.net.",
        "ns1.example.com. 3600 IN A 192.0.2.53",
        "ns1.example.com. 3600 IN AAAA 2001:db8::53",
    ] {
        assert!(
            transferred.iter().any(|l| l == line),
            "{line} not in {axfr}"
        );
    }
}

#[test]
fn check_refuses_an_in_zone_nameserver_without_addresses() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("eightfold.toml"),
        "[server]\nnameservers = [\"ns.example.com.\", \"ns.elsewhere.net.\"]\n\n\
         [[zone]]\nname = \"example.com.\"\n",
    )
    .unwrap();
    let out = common::run(&["check", "eightfold.toml"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        stderr.contains(
            "eightfold.toml:2:16: server.nameservers: ns.example.com is inside zone example.com, which takes it as its name server; give its addresses, such as addresses = [\"192.0.2.53\"]"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("elsewhere"), "{stderr}");
    // The zone's own address for the name is enough.
    std::fs::write(
        dir.path().join("eightfold.toml"),
        "[server]\nnameservers = [\"ns.example.com.\"]\n\n\
         [[zone]]\nname = \"example.com.\"\n\
         [[zone.record]]\nname = \"ns\"\ntype = \"A\"\nvalue = \"192.0.2.53\"\n",
    )
    .unwrap();
    let out = common::run(&["check", "eightfold.toml"], dir.path());
    assert!(out.status.success(), "{out:?}");
    // Addresses that do not parse are errors, named.
    std::fs::write(
        dir.path().join("eightfold.toml"),
        "[server]\nnameservers = [{ name = \"ns.example.com.\", addresses = [\"192.0.2.300\"] }]\n",
    )
    .unwrap();
    let out = common::run(&["check", "eightfold.toml"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("eightfold.toml:2:")
            && stderr.contains("\"192.0.2.300\" is not an IPv4 or IPv6 address"),
        "{stderr}"
    );
}

#[test]
fn the_api_refuses_a_zone_that_would_take_an_in_zone_nameserver_without_addresses() {
    let s = Server::start("[server]\napi = \"127.0.0.1:0\"\nnameservers = [\"ns.api.test.\"]\n");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut r = agent
        .post(&format!("{}/v1/zones", s.api_url()))
        .send_json(json!({ "name": "api.test." }))
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body = r.body_mut().read_to_string().unwrap();
    assert!(
        body.contains("zone api.test would take name server ns.api.test, which lies inside it and has no address there; give it addresses in the config's [server] nameservers"),
        "{body}"
    );
    // A zone the name server lies outside of is created as before.
    create_zone(&s, "other.test.");
}

/// A SIGHUP whose config takes the addresses away from an in-zone name
/// server is refused with the same message, even though the zone's file
/// did not change (such a zone is read again to tell), and the running
/// config stays.
#[test]
fn a_reload_that_leaves_an_in_zone_nameserver_without_addresses_is_refused() {
    let config = |addresses: &str| {
        format!(
            "[server]\nnameservers = [{{ name = \"ns.example.com.\"{addresses} }}]\n\n\
             [[zone]]\nname = \"example.com.\"\nfile = \"example.com.zone\"\n"
        )
    };
    let zone = "$ORIGIN example.com.\n$TTL 60\nwww A 192.0.2.1\n";
    let s = Server::start_with_files(
        &config(", addresses = [\"192.0.2.53\"]"),
        &[("example.com.zone", zone)],
    );
    assert_eq!(
        s.dig(&["ns.example.com", "A", "+short"]).trim(),
        "192.0.2.53"
    );
    std::fs::write(s.path("eightfold.toml"), config("")).unwrap();
    s.signal("HUP");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let logs = loop {
        let logs = s.logs();
        if logs.contains("reload failed") {
            break logs;
        }
        assert!(std::time::Instant::now() < deadline, "no reload:\n{logs}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        logs.contains("eightfold.toml:2:16: server.nameservers: ns.example.com is inside zone example.com, which takes it as its name server"),
        "{logs}"
    );
    assert_eq!(
        s.dig(&["ns.example.com", "A", "+short"]).trim(),
        "192.0.2.53"
    );
}
