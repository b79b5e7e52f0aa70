//! Geolocation routing end to end: the real binary with a MaxMind-format
//! database that mmdb-writer builds (tests/geo/make_db.py: 192.0.2.0/25
//! is US-CA, 192.0.2.128/25 US-NY, 100.64.0.0/16 Canada, 198.51.100.0/24
//! DE, 203.0.113.0/24 JP, 2001:db8::/32 GB, 127.0.0.1 FR, 127.0.0.2 BR),
//! `dig` as the client, with EDNS Client Subnet options and from two
//! loopback source addresses; real HTTP backends as the health checks.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Backend, Server};

/// Writes the test database to `path`; `networks` (JSON) replaces the
/// fixture when given.
fn make_database(path: &Path, networks: Option<&str>) {
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/geo/make_db.py"))
        .arg(path);
    if let Some(n) = networks {
        cmd.arg(n);
    }
    let status = cmd.status().expect("python3 runs");
    assert!(status.success(), "pip install mmdb-writer");
}

/// One geolocation record of `www` (A, TTL 5); `place` is its location
/// lines, `extra` any more.
fn record(set: &str, place: &str, value: &str, extra: &str) -> String {
    format!(
        "[[zone.record]]\nname = \"www\"\ntype = \"A\"\nttl = 5\nrouting = \"geolocation\"\n\
         set = \"{set}\"\nvalue = \"{value}\"\n{place}\n{extra}\n"
    )
}

/// A state, a country, three continents and the default.
fn regions(default: bool) -> String {
    let mut zone = String::from("[[zone]]\nname = \"g.test.\"\n\n");
    zone += &record(
        "ca",
        "country = \"US\"\nsubdivision = \"CA\"",
        "192.0.2.1",
        "",
    );
    zone += &record("us", "country = \"US\"", "192.0.2.2", "");
    zone += &record("na", "continent = \"NA\"", "192.0.2.3", "");
    zone += &record("jp", "country = \"JP\"", "192.0.2.4", "");
    zone += &record("eu", "continent = \"EU\"", "192.0.2.5", "");
    zone += &record("sa", "continent = \"SA\"", "192.0.2.6", "");
    if default {
        zone += &record("any", "country = \"*\"", "192.0.2.9", "");
    }
    zone
}

/// A server with the fixture database and `zone`.
fn start(zone: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    make_database(&dir.path().join("geo.mmdb"), None);
    let config = format!("[server]\ngeoip_database = \"geo.mmdb\"\n\n{zone}");
    std::fs::write(dir.path().join("eightfold.toml"), config).unwrap();
    let path = dir.path().join("eightfold.toml");
    let path = path.to_str().unwrap().to_owned();
    Server::spawn(dir, &["serve", "--config", &path, "--dns", "127.0.0.1:0"])
}

/// The addresses answered for `www.g.test` A with `args` added, and the
/// client subnet dig read in the response (`a.b.c.d/source/scope`).
fn ask(s: &Server, args: &[&str]) -> (Vec<String>, Option<String>) {
    let mut all = vec!["www.g.test", "A"];
    all.extend_from_slice(args);
    let out = s.dig(&all);
    let answer = common::records(
        &out.lines()
            .skip_while(|l| !l.starts_with(";; ANSWER SECTION"))
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .iter()
    .map(|l| l.rsplit(' ').next().unwrap().to_string())
    .collect();
    let subnet = out
        .lines()
        .find_map(|l| l.strip_prefix("; CLIENT-SUBNET: "))
        .map(|s| s.trim().to_string());
    (answer, subnet)
}

#[test]
fn each_client_subnet_gets_its_regions_answer_with_the_scope_used() {
    let s = start(&regions(true));
    // (subnet sent, address answered, subnet echoed with the scope)
    let cases = [
        ("192.0.2.0/24", "192.0.2.1", "192.0.2.0/24/25"), // US-CA
        ("192.0.2.128/25", "192.0.2.2", "192.0.2.128/25/25"), // US-NY: the country
        ("100.64.7.0/24", "192.0.2.3", "100.64.7.0/24/16"), // Canada: NA
        ("203.0.113.0/24", "192.0.2.4", "203.0.113.0/24/24"), // JP
        ("198.51.100.0/24", "192.0.2.5", "198.51.100.0/24/24"), // DE: EU
        ("2001:db8:1::/48", "192.0.2.5", "2001:db8:1::/48/32"), // GB: EU
        ("10.1.0.0/16", "192.0.2.9", "10.1.0.0/16/2"),    // unknown: *
    ];
    for (subnet, want, echoed) in cases {
        let (answer, got) = ask(&s, &[&format!("+subnet={subnet}")]);
        assert_eq!(answer, [want], "from {subnet}; logs:\n{}", s.logs());
        assert_eq!(got.as_deref(), Some(echoed), "from {subnet}");
    }
    // A name whose answer is the same everywhere holds for every client:
    // scope 0.
    let out = s.dig(&["g.test", "SOA", "+subnet=192.0.2.0/24"]);
    assert!(out.contains("; CLIENT-SUBNET: 192.0.2.0/24/0"), "{out}");
}

#[test]
fn without_a_subnet_the_source_address_locates_the_client() {
    let s = start(&regions(true));
    // 127.0.0.1 is FR (EU), 127.0.0.2 BR (SA).
    let (answer, subnet) = ask(&s, &["-b", "127.0.0.1"]);
    assert_eq!(answer, ["192.0.2.5"]);
    assert_eq!(subnet, None, "no option asked, none answered");
    let (answer, _) = ask(&s, &["-b", "127.0.0.2"]);
    assert_eq!(answer, ["192.0.2.6"]);
    // A subnet of prefix 0 gives no address (RFC 7871): the source
    // address locates, and the answer is scoped 0.
    let (answer, subnet) = ask(&s, &["-b", "127.0.0.2", "+subnet=0.0.0.0/0"]);
    assert_eq!(answer, ["192.0.2.6"]);
    assert_eq!(subnet.as_deref(), Some("0.0.0.0/0/0"));
}

#[test]
fn a_place_no_record_holds_gets_no_data_without_a_default() {
    let s = start(&regions(false));
    let out = s.dig(&["www.g.test", "A", "+subnet=10.1.0.0/16"]);
    assert_eq!(common::status(&out), "NOERROR", "{out}");
    assert!(out.contains("ANSWER: 0,"), "{out}");
    assert!(out.contains("AUTHORITY: 1,"), "the SOA: {out}");
    let (answer, _) = ask(&s, &["+subnet=203.0.113.0/24"]);
    assert_eq!(answer, ["192.0.2.4"]);
}

/// Polls the answer from `subnet` until it is `want`.
fn wait_for(s: &Server, subnet: &str, want: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut last = Vec::new();
    while Instant::now() < deadline {
        last = ask(s, &[&format!("+subnet={subnet}")]).0;
        if last == [want] {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: still {last:?}; logs:\n{}", s.logs());
}

#[test]
fn an_unhealthy_region_falls_back_to_the_broader_one_then_the_default() {
    let backends: Vec<Backend> = (0..4).map(|_| Backend::start(true)).collect();
    let mut config = String::new();
    for (i, b) in backends.iter().enumerate() {
        config += &format!(
            "[[health_check]]\nid = \"c{i}\"\ntype = \"http\"\nip = \"127.0.0.1\"\nport = {}\n\
             path = \"/\"\ninterval = \"1s\"\nfailure_threshold = 1\ntimeout = \"1s\"\n\n",
            b.port
        );
    }
    config += "[[zone]]\nname = \"g.test.\"\n\n";
    let check = |i: usize| format!("health_check = \"c{i}\"");
    config += &record(
        "ca",
        "country = \"US\"\nsubdivision = \"CA\"",
        "192.0.2.1",
        &check(0),
    );
    config += &record("us", "country = \"US\"", "192.0.2.2", &check(1));
    config += &record("na", "continent = \"NA\"", "192.0.2.3", &check(2));
    config += &record("any", "country = \"*\"", "192.0.2.9", &check(3));
    config += &record("jp", "country = \"JP\"", "192.0.2.4", "");
    let s = start(&config);
    let ca = "192.0.2.0/24";
    wait_for(&s, ca, "192.0.2.1", "the state answers");
    backends[0].set_up(false);
    wait_for(&s, ca, "192.0.2.2", "state down: the country");
    backends[1].set_up(false);
    wait_for(&s, ca, "192.0.2.3", "country down: the continent");
    backends[2].set_up(false);
    wait_for(&s, ca, "192.0.2.9", "continent down: the default");
    // Every region that holds the client down: the smallest answers, as
    // Route 53 then takes every record as healthy.
    backends[3].set_up(false);
    wait_for(&s, ca, "192.0.2.1", "all down: the state");
    // Another region's record is never answered, healthy as it is.
    assert_eq!(ask(&s, &["+subnet=198.51.100.0/24"]).0, ["192.0.2.9"]);
    backends[1].set_up(true);
    wait_for(&s, ca, "192.0.2.2", "the country back");
}

#[test]
fn without_a_database_only_the_default_answers() {
    let s = Server::start(&regions(true));
    for subnet in ["192.0.2.0/24", "203.0.113.0/24"] {
        let (answer, echoed) = ask(&s, &[&format!("+subnet={subnet}")]);
        assert_eq!(answer, ["192.0.2.9"], "from {subnet}");
        assert_eq!(echoed, Some(format!("{subnet}/0")), "from {subnet}");
    }
    assert_eq!(ask(&s, &["-b", "127.0.0.1"]).0, ["192.0.2.9"]);
}

#[test]
fn a_database_that_cannot_be_read_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("text.mmdb"), "not a database\n").unwrap();
    for (file, problem) in [
        ("missing.mmdb", "cannot read the geolocation database"),
        ("text.mmdb", "is not a MaxMind DB (MMDB) file"),
    ] {
        let config = format!("[server]\ngeoip_database = \"{file}\"\n");
        std::fs::write(dir.path().join("eightfold.toml"), config).unwrap();
        let out = common::run(&["check", "eightfold.toml"], dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file}: {stderr}");
        assert!(
            stderr.contains("eightfold.toml:2:18: server.geoip_database:"),
            "{file}: {stderr}"
        );
        assert!(stderr.contains(problem), "{file}: {stderr}");
        assert!(stderr.contains(file), "{file}: {stderr}");
    }
}

#[test]
fn sighup_reads_the_database_again() {
    let s = start(&regions(true));
    assert!(
        s.logs().contains("kind=\"GeoIP2-City\"") && s.logs().contains("geolocation database read"),
        "{}",
        s.logs()
    );
    assert_eq!(ask(&s, &["-b", "127.0.0.1"]).0, ["192.0.2.5"], "FR: EU");
    // A database that does not read leaves the one being served.
    std::fs::write(s.path("geo.mmdb"), "garbage").unwrap();
    s.signal("HUP");
    s.wait_for_log("reload failed", Duration::from_secs(10));
    assert!(
        s.logs().contains("is not a MaxMind DB (MMDB) file"),
        "{}",
        s.logs()
    );
    assert_eq!(ask(&s, &["-b", "127.0.0.1"]).0, ["192.0.2.5"]);
    // 127.0.0.1 moves to Japan.
    make_database(&s.path("geo.mmdb"), Some(r#"{"127.0.0.1/32": "AS/JP"}"#));
    s.signal("HUP");
    s.wait_for_log("reloaded", Duration::from_secs(10));
    assert_eq!(ask(&s, &["-b", "127.0.0.1"]).0, ["192.0.2.4"]);
}

#[test]
fn a_malformed_client_subnet_is_formerr() {
    let s = start(&regions(true));
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    // (what is wrong, the option's data: family, source, scope, address)
    let cases: [(&str, &[u8]); 3] = [
        ("unknown family", &[0, 3, 24, 0, 192, 0, 2]),
        ("address longer than the prefix", &[0, 1, 8, 0, 192, 0]),
        ("bits set past the prefix", &[0, 1, 20, 0, 192, 0, 2]),
    ];
    for (what, data) in cases {
        let mut packet = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1];
        packet.extend_from_slice(b"\x03www\x01g\x04test\x00\x00\x01\x00\x01");
        packet.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0]);
        packet.extend_from_slice(&((data.len() + 4) as u16).to_be_bytes());
        packet.extend_from_slice(&[0, 8]);
        packet.extend_from_slice(&(data.len() as u16).to_be_bytes());
        packet.extend_from_slice(data);
        socket.send_to(&packet, s.addr()).unwrap();
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).unwrap();
        assert!(n >= 12, "{what}");
        assert_eq!(buf[3] & 0x0f, 1, "{what}: FORMERR");
    }
}
