//! NSID (RFC 5001) with dig and kdig: the node's name by default, the
//! configured identifier, none when turned off, and only when asked;
//! with a DNS cookie in the same query (kdig +nsid +cookie).
mod common;

use common::Server;

const ZONE: &str = "[[zone]]\nname = \"example.test\"\n\
    [[zone.record]]\nname = \"www\"\ntype = \"A\"\nvalue = \"192.0.2.1\"\n";

/// The NSID text dig prints (`; NSID: 76 6d ("vm")`), if any.
fn nsid(out: &str) -> Option<String> {
    let line = out.lines().find(|l| l.contains("NSID:"))?;
    let start = line.find("(\"")? + 2;
    let end = line.rfind("\")")?;
    Some(line[start..end].to_string())
}

#[test]
fn the_host_name_is_the_default_nsid_and_only_sent_when_asked() {
    let s = Server::start(ZONE);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let out = s.dig(&["www.example.test", "+nsid"]);
    assert_eq!(common::status(&out), "NOERROR", "{out}");
    assert_eq!(nsid(&out).as_deref(), Some(host.trim()), "{out}");
    let out = s.dig(&["www.example.test"]);
    assert!(!out.contains("NSID"), "not asked, not sent: {out}");
    // Over TCP and for a refused name too.
    let out = s.dig(&["www.other.invalid", "+nsid", "+tcp"]);
    assert_eq!(common::status(&out), "REFUSED", "{out}");
    assert_eq!(nsid(&out).as_deref(), Some(host.trim()), "{out}");
}

/// A fleet started on one machine names its nodes (`serve --node`, as the
/// README's cluster does, or `[server] node`): each answers with its own
/// name, not the machine's.
#[test]
fn the_node_name_is_the_default_nsid_from_the_config_or_the_command_line() {
    let named = Server::start(&format!("[server]\nnode = \"ns-config\"\n\n{ZONE}"));
    let out = named.dig(&["www.example.test", "+nsid"]);
    assert_eq!(nsid(&out).as_deref(), Some("ns-config"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("eightfold.toml");
    std::fs::write(&config, format!("[server]\nnode = \"ns-config\"\n\n{ZONE}")).unwrap();
    let config = config.to_str().unwrap().to_string();
    let flagged = Server::spawn(
        dir,
        &[
            "serve",
            "--config",
            &config,
            "--dns",
            "127.0.0.1:0",
            "--node",
            "ns2",
        ],
    );
    let out = flagged.dig(&["www.example.test", "+nsid"]);
    assert_eq!(nsid(&out).as_deref(), Some("ns2"), "{out}");
    // A reload keeps the command line's name.
    flagged.signal("HUP");
    flagged.wait_for_log("reloaded", std::time::Duration::from_secs(10));
    let out = flagged.dig(&["www.example.test", "+nsid"]);
    assert_eq!(nsid(&out).as_deref(), Some("ns2"), "{out}");
}

#[test]
fn a_configured_nsid_is_sent_and_an_empty_one_turns_it_off() {
    let s = Server::start(&format!("[server]\nnsid = \"dns-fra-1\"\n\n{ZONE}"));
    let out = s.dig(&["www.example.test", "+nsid"]);
    assert_eq!(nsid(&out).as_deref(), Some("dns-fra-1"), "{out}");
    let kdig = std::process::Command::new("kdig")
        .arg(format!("@{}", s.addr().ip()))
        .args([
            "-p",
            &s.addr().port().to_string(),
            "www.example.test",
            "+nsid",
        ])
        .output()
        .expect("kdig is installed (apt-get install knot-dnsutils)");
    let kdig = String::from_utf8_lossy(&kdig.stdout);
    assert!(
        kdig.contains("NSID: 646E732D6672612D31 \"dns-fra-1\""),
        "{kdig}"
    );

    let off = Server::start(&format!("[server]\nnsid = \"\"\n\n{ZONE}"));
    let out = off.dig(&["www.example.test", "+nsid"]);
    assert_eq!(common::status(&out), "NOERROR", "{out}");
    assert!(!out.contains("NSID"), "{out}");
}

#[test]
fn check_refuses_an_nsid_that_is_too_long() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("[server]\nnsid = \"{}\"\n", "x".repeat(129));
    std::fs::write(dir.path().join("eightfold.toml"), config).unwrap();
    let out = common::run(&["check", "eightfold.toml"], dir.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("eightfold.toml:2:8: server.nsid is 129 bytes long; keep it to 128"),
        "{err}"
    );
}

/// NSID and a cookie in one query, as `kdig +nsid +cookie` sends them:
/// both options come back, and the server cookie is good. kdig 3.2 prints
/// no verdict on a good cookie, only a warning on a bad one ("bad cookie
/// from ..."), so the cookie is judged as a resolver would: the response
/// echoes the client cookie with a server cookie, and that server cookie
/// sent back is taken (no BADCOOKIE; `+nobadcookie` keeps kdig from
/// retrying one silently).
#[test]
fn kdig_nsid_and_cookie_together_get_both_and_a_good_server_cookie() {
    let s = Server::start(&format!("[server]\nnsid = \"dns-fra-1\"\n\n{ZONE}"));
    let client = "0011223344556677";
    let first = s.kdig(&[
        "www.example.test",
        "+nsid",
        &format!("+cookie={client}"),
        "+nobadcookie",
    ]);
    assert!(first.contains("status: NOERROR"), "{first}");
    assert!(
        first.contains(";; NSID: 646E732D6672612D31 \"dns-fra-1\""),
        "{first}"
    );
    assert!(!first.to_lowercase().contains("bad cookie"), "{first}");
    assert!(!first.contains("BADCOOKIE"), "{first}");
    let cookie = first
        .lines()
        .find_map(|l| l.strip_prefix(";; COOKIE: "))
        .unwrap_or_else(|| panic!("no COOKIE in {first}"))
        .trim()
        .to_string();
    // Client cookie echoed, then a 16-byte server cookie (RFC 9018).
    assert!(cookie.starts_with("0011223344556677"), "{first}");
    assert_eq!(cookie.len(), 16 + 32, "{first}");
    let again = s.kdig(&[
        "www.example.test",
        "+nsid",
        &format!("+cookie={cookie}"),
        "+nobadcookie",
    ]);
    assert!(again.contains("status: NOERROR"), "{again}");
    assert!(!again.contains("BADCOOKIE"), "{again}");
    assert!(!again.to_lowercase().contains("bad cookie"), "{again}");
    assert!(again.contains("\"dns-fra-1\""), "{again}");
    // And kdig's own cookie, as `+cookie` alone makes it.
    let plain = s.kdig(&["www.example.test", "+nsid", "+cookie"]);
    assert!(plain.contains("status: NOERROR"), "{plain}");
    assert!(plain.contains(";; COOKIE: "), "{plain}");
    assert!(!plain.to_lowercase().contains("bad cookie"), "{plain}");
}
