//! The config file's rules, each error located as `check` prints it.

use super::*;

fn load(text: &str) -> Result<Config, Diagnostics> {
    Config::from_toml(Path::new("e.toml"), text)
}

fn errors(text: &str) -> String {
    load(text).unwrap_err().to_string()
}

#[test]
fn empty_file_gives_defaults_without_api() {
    let c = load("").unwrap();
    assert_eq!(c.dns, vec!["127.0.0.1:5353".parse().unwrap()]);
    assert_eq!(c.api, None);
    assert_eq!(
        c.data,
        crate::store::Location::Sqlite(PathBuf::from("eightfold.db"))
    );
}

#[test]
fn the_node_name_defaults_to_the_host_name_and_must_be_printable() {
    assert_eq!(load("").unwrap().node, crate::cluster::host_name());
    assert_eq!(load("[server]\nnode = \"ns1\"\n").unwrap().node, "ns1");
    for bad in ["\"\"", "\"a\\tb\"", &format!("\"{}\"", "n".repeat(65))] {
        let e = errors(&format!("[server]\nnode = {bad}\n"));
        assert!(e.starts_with("e.toml:2:8: server.node: "), "{e}");
        assert!(e.contains("is not a node name"), "{e}");
    }
}

#[test]
fn healthy_percent_is_a_percentage_in_server_and_per_check() {
    assert_eq!(load("").unwrap().healthy_percent, 18);
    let c = load(
        "[server]\nhealthy_percent = 50\n[[health_check]]\nid = \"a\"\ntype = \"tcp\"\nip = \"192.0.2.1\"\nport = 80\nhealthy_percent = 0\n[[health_check]]\nid = \"b\"\ntype = \"tcp\"\nip = \"192.0.2.1\"\nport = 80\n",
    )
    .unwrap();
    assert_eq!(c.healthy_percent, 50);
    let percents: Vec<Option<u8>> = c.health_checks.iter().map(|h| h.healthy_percent).collect();
    assert_eq!(percents, [Some(0), None]);
    for bad in ["101", "-1"] {
        let e = errors(&format!("[server]\nhealthy_percent = {bad}\n"));
        assert_eq!(
            e,
            format!("e.toml:2:19: server.healthy_percent: {bad} is not a percentage from 0 to 100"),
        );
    }
    let e = errors(
        "[[health_check]]\nid = \"a\"\ntype = \"tcp\"\nip = \"192.0.2.1\"\nport = 80\nhealthy_percent = 101\n",
    );
    assert!(
        e.contains("e.toml:6:19: health check \"a\": healthy_percent must be 0 to 100, not 101"),
        "{e}"
    );
}

#[test]
fn a_postgresql_url_selects_postgres_and_a_bad_one_is_located() {
    let c = load("[server]\ndata = \"postgresql://dns:pw@db.internal:5432/eightfold\"\n").unwrap();
    assert_eq!(
        c.data.to_string(),
        "postgresql://dns:***@db.internal:5432/eightfold"
    );
    let e = errors("[server]\ndata = \"postgresql://dns:pw@db:port/x\"\n");
    assert!(
        e.starts_with("e.toml:2:8: invalid PostgreSQL URL postgresql://dns:***@db:port/x: "),
        "{e}"
    );
    assert!(!e.contains(":pw@"), "{e}");
}

#[test]
fn unknown_field_is_located() {
    let e = errors("[server]\ndns = [\"127.0.0.1:53\"]\nbogus = 1\n");
    assert!(
        e.starts_with("e.toml:3:1: unknown field `bogus`, expected one of `dns`, `api`, "),
        "{e}"
    );
}

#[test]
fn a_secondary_zone_names_its_primaries_and_a_declared_key() {
    let keys = "[[tsig_key]]\nname = \"xfr.key\"\nsecret = \"c2VjcmV0\"\n";
    let c = load(&format!(
        "{keys}[[zone]]\nname = \"sec.test\"\nprimaries = [\"192.0.2.1\", \"[2001:db8::1]:5353\"]\nprimary_key = \"xfr.key\"\n"
    ))
    .unwrap();
    let s = &c.secondaries[0];
    assert_eq!(s.zone.to_string(), "sec.test");
    let shown: Vec<String> = s.primaries.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["192.0.2.1:53", "[2001:db8::1]:5353"]);
    assert_eq!(
        s.key.as_ref().map(ToString::to_string).as_deref(),
        Some("xfr.key")
    );
    assert!(
        c.zones[0].records.is_empty(),
        "records come from the primary"
    );
    let e = errors("[[zone]]\nname = \"sec.test\"\nprimaries = [\"nowhere\"]\n");
    assert!(
        e.contains("zone sec.test: primaries: \"nowhere\" is not an address"),
        "{e}"
    );
    let e = errors(
        "[[zone]]\nname = \"sec.test\"\nprimaries = [\"192.0.2.1\"]\nprimary_key = \"nokey\"\n",
    );
    assert!(
        e.contains("primary_key: no tsig_key is named \"nokey\""),
        "{e}"
    );
    let e = errors("[[zone]]\nname = \"sec.test\"\nprimaries = []\n");
    assert!(e.contains("primaries is empty"), "{e}");
    let e = errors(
        "[[zone]]\nname = \"sec.test\"\nprimaries = [\"192.0.2.1\"]\n[[zone.record]]\nname = \"www\"\ntype = \"A\"\nvalues = [\"192.0.2.1\"]\n",
    );
    assert!(e.contains("takes its records from its primaries"), "{e}");
}

#[test]
fn api_tls_files_go_in_pairs_and_lists_are_checked() {
    let e = errors("[server]\napi_tls_cert = \"c.pem\"\n");
    assert!(
        e.starts_with("e.toml:2:16: server.api_tls_cert and server.api_tls_key go together"),
        "{e}"
    );
    let c = load("[server]\napi_tls_cert = \"c.pem\"\napi_tls_key = \"k.pem\"\n").unwrap();
    assert_eq!(
        c.api_tls,
        Some(ApiTls {
            cert: PathBuf::from("c.pem"),
            key: PathBuf::from("k.pem")
        })
    );
    let e = errors("[server]\ncheck_targets = [\"10.0.0.0/8\", \"10.0.0.0/33\"]\n");
    assert!(
        e.starts_with(
            "e.toml:2:32: server.check_targets: \"10.0.0.0/33\" is not an address prefix"
        ),
        "{e}"
    );
    let c = load("[server]\ncheck_targets = [\"10.1.2.3/8\", \"192.0.2.7\"]\napi_hosts = [\"DNS.Example.NET.\"]\n").unwrap();
    let shown: Vec<String> = c.check_targets.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["10.0.0.0/8", "192.0.2.7/32"]);
    assert_eq!(c.api_hosts, ["dns.example.net"]);
    let c = load("[server]\nhistory_max_age = \"7d\"\nhistory_max_rows = 500\n").unwrap();
    assert_eq!(
        c.retention.max_age,
        std::time::Duration::from_secs(7 * 86400)
    );
    assert_eq!(c.retention.max_rows, 500);
    assert_eq!(load("").unwrap().retention, DEFAULT_RETENTION);
    let e = errors("[server]\nhistory_max_age = \"5m\"\nhistory_max_rows = 3\n");
    assert!(
        e.contains("an hour or more") && e.contains("below 100"),
        "{e}"
    );
    let e = errors("[server]\napi_hosts = [\"http://x\"]\n");
    assert!(e.contains("is not a host name"), "{e}");
}

#[test]
fn bad_toml_is_located() {
    let e = errors("[server\n");
    assert!(e.starts_with("e.toml:1:"), "{e}");
}

#[test]
fn bad_ip_in_a_record_is_located_at_the_value() {
    let e = errors(
        "[[zone]]\nname = \"example.test.\"\n[[zone.record]]\nname = \"www\"\ntype = \"A\"\nvalues = [\"10.0.0.300\"]\n",
    );
    assert_eq!(e, "e.toml:6:11: www A: invalid IPv4 address \"10.0.0.300\"");
}

#[test]
fn bad_listen_address_is_reported() {
    let e = errors("[server]\ndns = [\"localhost\"]\n");
    assert!(
        e.starts_with("e.toml:2:8: invalid DNS listen address \"localhost\""),
        "{e}"
    );
}

#[test]
fn cname_beside_other_data_is_rejected() {
    let e = errors(
        "[[zone]]\nname = \"example.test\"\n\
         [[zone.record]]\nname = \"www\"\ntype = \"CNAME\"\nvalues = [\"other\"]\n\
         [[zone.record]]\nname = \"www\"\ntype = \"A\"\nvalues = [\"192.0.2.1\"]\n",
    );
    assert!(
        e.contains("www.example.test. has a CNAME and other data"),
        "{e}"
    );
    assert!(e.starts_with("e.toml:"), "{e}");
}

#[test]
fn record_outside_zone_is_rejected() {
    let e = errors(
        "[[zone]]\nname = \"example.test.\"\n[[zone.record]]\nname = \"www.other.\"\ntype = \"A\"\nvalues = [\"192.0.2.1\"]\n",
    );
    assert_eq!(
        e,
        "e.toml:4:8: record name \"www.other.\" (www.other) is outside the zone example.test"
    );
}

#[test]
fn missing_zone_file_names_the_file() {
    let e = errors("[[zone]]\nname = \"example.test.\"\nfile = \"nope.zone\"\n");
    assert!(
        e.starts_with("e.toml:3:8: zone example.test: nope.zone: cannot read zone file"),
        "{e}"
    );
}

#[test]
fn health_check_fields_are_validated() {
    let e = errors(
        "[[health_check]]\nid = \"a\"\ntype = \"http\"\nip = \"1.2.3.4\"\ninterval = \"500s\"\nfailure_threshold = 11\n",
    );
    assert!(
        e.contains("e.toml:5:12: health check \"a\": interval must be between 1s and 300s"),
        "{e}"
    );
    assert!(
        e.contains("e.toml:6:21: health check \"a\": failure_threshold must be 1 to 10, not 11"),
        "{e}"
    );
}

#[test]
fn a_check_aimed_where_checks_may_not_aim_is_located_at_its_ip() {
    let e = errors(
        "[server]\ndns = [\"127.0.0.1:5353\"]\n\
         [[health_check]]\nid = \"meta\"\ntype = \"http\"\nip = \"169.254.169.254\"\n\
         [[health_check]]\nid = \"self\"\ntype = \"tcp\"\nip = \"127.0.0.1\"\nport = 5353\n",
    );
    assert!(
        e.contains(
            "e.toml:6:6: health check \"meta\": checks may not target 169.254.169.254 (link-local"
        ),
        "{e}"
    );
    assert!(
        e.contains("e.toml:10:6: health check \"self\": checks may not target 127.0.0.1:5353 (eightfold's own DNS listener 127.0.0.1:5353)"),
        "{e}"
    );
    let e = errors(
        "[server]\ncheck_targets = [\"10.0.0.0/8\"]\n\
         [[health_check]]\nid = \"lo\"\ntype = \"http\"\nip = \"127.0.0.1\"\n",
    );
    assert_eq!(
        e,
        "e.toml:6:6: health check \"lo\": checks may not target 127.0.0.1 (outside server.check_targets)"
    );
    assert!(
        load("[server]\ncheck_targets = [\"10.0.0.0/8\"]\n[[health_check]]\nid = \"in\"\ntype = \"http\"\nip = \"10.1.2.3\"\n")
            .is_ok()
    );
}

#[test]
fn routing_fields_are_checked_per_policy() {
    let e = errors(
        "[[zone]]\nname = \"example.test.\"\n[[zone.record]]\nname = \"www\"\ntype = \"A\"\nrouting = \"multivalue\"\nvalue = \"192.0.2.1\"\n",
    );
    assert!(
        e.contains("www A: a multivalue record needs a set identifier"),
        "{e}"
    );
}

#[test]
fn full_example_loads() {
    let c = load(
        "[server]\ndns = [\"127.0.0.1:5353\"]\napi = \"127.0.0.1:8053\"\n\
         [[health_check]]\nid = \"web-a\"\ntype = \"http\"\nip = \"127.0.0.1\"\nport = 8081\npath = \"/health\"\n\
         [[zone]]\nname = \"example.test.\"\n\
         [[zone.record]]\nname = \"www\"\ntype = \"A\"\nttl = 60\nrouting = \"multivalue\"\nset = \"web-a\"\nvalue = \"127.0.0.10\"\nhealth_check = \"web-a\"\n",
    )
    .unwrap();
    assert_eq!(c.api, Some("127.0.0.1:8053".parse().unwrap()));
    assert_eq!(c.health_checks[0].port, 8081);
    assert_eq!(c.zones[0].records[0].set.as_deref(), Some("web-a"));
}

#[test]
fn an_in_zone_name_server_taken_by_a_zone_needs_an_address() {
    let e = errors(
        "[server]\nnameservers = [\"ns2.example.net.\", \"ns1.example.com.\"]\n[[zone]]\nname = \"example.com.\"\n",
    );
    assert_eq!(
        e.trim(),
        "e.toml:2:36: server.nameservers: ns1.example.com is inside zone example.com, which takes it as its name server; give its addresses, such as addresses = [\"192.0.2.53\"]"
    );
    // Addresses in the entry, the zone's own record, or the zone's own NS
    // set (it takes no name server then): each is enough.
    for fine in [
        "[server]\nnameservers = [{ name = \"ns1.example.com.\", addresses = [\"192.0.2.53\"] }]\n[[zone]]\nname = \"example.com.\"\n",
        "[server]\nnameservers = [\"ns1.example.com.\"]\n[[zone]]\nname = \"example.com.\"\n[[zone.record]]\nname = \"ns1\"\ntype = \"AAAA\"\nvalue = \"2001:db8::53\"\n",
        "[server]\nnameservers = [\"ns1.example.com.\"]\n[[zone]]\nname = \"example.com.\"\n[[zone.record]]\nname = \"@\"\ntype = \"NS\"\nvalue = \"ns.elsewhere.net.\"\n",
        "[server]\nnameservers = [\"ns1.example.com.\"]\n[[zone]]\nname = \"other.test.\"\n",
    ] {
        load(fine).unwrap();
    }
}
