//! eightfold as a secondary (issue 16 item 3): stock NSD and Knot as real
//! primaries of a zone that eightfold takes by AXFR, TSIG-signed or not,
//! and follows when the primary's zone changes and it sends NOTIFY; a
//! wrong key and a NOTIFY from elsewhere are refused and logged; what
//! eightfold answers for every name is what the primary answers. And
//! eightfold as the primary of another eightfold.
//!
//! Needs `/usr/sbin/nsd` and `/usr/sbin/knotd` (Debian: `apt-get install
//! nsd knot`) and `dig`. Both run in the foreground, as the current user,
//! from temp folders, on loopback ports; they reload their zone file on
//! SIGHUP and then send NOTIFY to eightfold.
mod common;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use common::Server;

const SECRET: &str = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0";
const OTHER_SECRET: &str = "b3RoZXJvdGhlcm90aGVyb3RoZXJvdGhlcg==";
const APEX: &str = "sec.test.";
/// How long eightfold may take to follow a change: the primary's reload,
/// its NOTIFY, the SOA query and the transfer.
const FOLLOW_WITHIN: Duration = Duration::from_secs(15);

/// The zone the primaries serve, at `serial`, with `www` at `www`.
fn zone(serial: u32, www: &str) -> String {
    zone_with_timers(serial, www, "3600 600 86400")
}

/// The same with the SOA's refresh, retry and expire `timers`.
fn zone_with_timers(serial: u32, www: &str, timers: &str) -> String {
    format!(
        r#"$ORIGIN sec.test.
$TTL 3600
@   IN SOA ns1 hostmaster ( {serial} {timers} 300 )
@           NS      ns1
@           NS      ns2.example.net.
ns1         A       192.0.2.53
@           A       192.0.2.1
@           MX      10 mail
@           TXT     "v=spf1 -all"
mail        A       192.0.2.25
mail        AAAA    2001:db8::25
www     300 IN A    {www}
www         AAAA    2001:db8::10
blog        CNAME   www
_sip._tcp   SRV     10 60 5060 mail
*.wild      A       192.0.2.99
host.ent    TXT     "empty non-terminal above"
sub         NS      ns.sub
ns.sub      A       192.0.2.153
"#
    )
}

/// (name, type) asked of the primary and of eightfold.
const QUERIES: &[(&str, &str)] = &[
    ("sec.test", "SOA"),
    ("sec.test", "NS"),
    ("sec.test", "A"),
    ("sec.test", "MX"),
    ("sec.test", "TXT"),
    ("ns1.sec.test", "A"),
    ("mail.sec.test", "A"),
    ("mail.sec.test", "AAAA"),
    ("www.sec.test", "A"),
    ("www.sec.test", "AAAA"),
    ("www.sec.test", "MX"),
    ("blog.sec.test", "A"),
    ("_sip._tcp.sec.test", "SRV"),
    ("a.wild.sec.test", "A"),
    ("host.ent.sec.test", "TXT"),
    ("ent.sec.test", "A"),
    ("nothere.sec.test", "A"),
    ("www.sub.sec.test", "A"),
];

/// A port free for both UDP and TCP on 127.0.0.1 (bound, then released).
fn free_port() -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP");
}

/// A primary server, stopped on drop.
use common::reference::Reference as Primary;

impl Primary {
    /// NSD serving the zone at `serial`, transfers allowed to 127.0.0.1
    /// (signed with xfr.key when `signed`), NOTIFY to `notify`.
    fn nsd(serial: u32, signed: bool, notify: SocketAddr) -> Primary {
        Primary::nsd_with(&zone(serial, "192.0.2.10"), signed, Some(notify))
    }

    /// NSD serving `zone_text`, NOTIFY to `notify` when given.
    fn nsd_with(zone_text: &str, signed: bool, notify: Option<SocketAddr>) -> Primary {
        Primary::nsd_on(free_port(), zone_text, signed, notify)
    }

    /// The same on `port` (a primary back where it was).
    fn nsd_on(port: u16, zone_text: &str, signed: bool, notify: Option<SocketAddr>) -> Primary {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sec.test.zone"), zone_text).unwrap();
        let d = dir.path().display();
        let key = if signed { "xfr.key" } else { "NOKEY" };
        let conf = format!(
            "server:\n  ip-address: 127.0.0.1\n  port: {port}\n  do-ip6: no\n  server-count: 1\n  \
             username: \"\"\n  chroot: \"\"\n  zonesdir: \"{d}\"\n  pidfile: \"{d}/nsd.pid\"\n  \
             xfrdfile: \"{d}/xfrd.state\"\n  xfrdir: \"{d}\"\n  zonelistfile: \"{d}/zone.list\"\n  \
             database: \"\"\n  logfile: \"{d}/server.log\"\n  verbosity: 2\n  rrl-ratelimit: 0\n  \
             xfrd-reload-timeout: 0\n\
             remote-control:\n  control-enable: no\n\
             key:\n  name: \"xfr.key\"\n  algorithm: hmac-sha256\n  secret: \"{SECRET}\"\n\
             zone:\n  name: \"{APEX}\"\n  zonefile: \"sec.test.zone\"\n  \
             provide-xfr: 127.0.0.1 {key}\n{notify}",
            notify = notify.map_or(String::new(), |n| format!(
                "  notify: {}@{} {key}\n",
                n.ip(),
                n.port()
            ))
        );
        Primary::serving("NSD", "/usr/sbin/nsd", &["-d"], dir, port, conf)
    }

    /// Knot serving the zone at `serial`, transfers allowed to 127.0.0.1
    /// unsigned, NOTIFY to `notify`.
    fn knot(serial: u32, notify: SocketAddr) -> Primary {
        Primary::knot_with(serial, notify, false)
    }

    /// The same; with `journal`, Knot keeps the differences between
    /// versions of its zone file and answers IXFR with them.
    fn knot_with(serial: u32, notify: SocketAddr, journal: bool) -> Primary {
        let journal = if journal {
            "journal-content: changes\n    zonefile-load: difference"
        } else {
            "journal-content: none"
        };
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sec.test.zone"), zone(serial, "192.0.2.10")).unwrap();
        let d = dir.path().display();
        let conf = format!(
            "server:\n  rundir: \"{d}\"\n  listen: 127.0.0.1@{port}\n  background-workers: 1\n  \
             udp-workers: 1\n  tcp-workers: 1\n\
             log:\n  - target: \"{d}/server.log\"\n    any: info\n\
             database:\n  storage: \"{d}\"\n\
             remote:\n  - id: eightfold\n    address: {ip}@{p}\n\
             acl:\n  - id: transfer\n    address: 127.0.0.1\n    action: transfer\n\
             template:\n  - id: default\n    storage: \"{d}\"\n    zonefile-sync: -1\n    \
             {journal}\n\
             zone:\n  - domain: \"{APEX}\"\n    file: \"sec.test.zone\"\n    notify: eightfold\n    \
             acl: transfer\n",
            ip = notify.ip(),
            p = notify.port()
        );
        Primary::serving("Knot", "/usr/sbin/knotd", &[], dir, port, conf)
    }

    /// Started as [`Reference::start`] does, once it answers for the zone.
    fn serving(
        name: &'static str,
        binary: &str,
        args: &[&str],
        dir: tempfile::TempDir,
        port: u16,
        conf: String,
    ) -> Primary {
        let primary = Primary::start(name, binary, args, dir, port, conf);
        // Serving once it answers for the zone.
        let deadline = Instant::now() + Duration::from_secs(10);
        while status(primary.addr, "sec.test", "SOA") != "NOERROR" {
            assert!(
                Instant::now() < deadline,
                "{name} does not serve the zone\n{}",
                primary.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        primary
    }

    /// Writes the zone at `serial` with `www` and has the primary reload it
    /// (SIGHUP), after which it sends NOTIFY.
    fn change(&self, serial: u32, www: &str) {
        self.change_to(&zone(serial, www));
    }

    /// Writes `zone_text` as the zone and has the primary reload it.
    fn change_to(&self, zone_text: &str) {
        std::fs::write(self.dir.path().join("sec.test.zone"), zone_text).unwrap();
        let pid = self.child.as_ref().unwrap().id().to_string();
        let ok = Command::new("kill")
            .args(["-s", "HUP", &pid])
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

fn status(addr: SocketAddr, name: &str, rtype: &str) -> String {
    let out = common::dig(addr, &[name, rtype, "+norec"]);
    match out.find("status: ") {
        Some(_) => common::status(&out),
        None => "no answer".into(),
    }
}

/// Status and answer section, as dig shows them.
fn answer(addr: SocketAddr, name: &str, rtype: &str) -> (String, Vec<String>) {
    let out = common::dig(addr, &[name, rtype, "+norec"]);
    let status = match out.find("status: ") {
        Some(_) => common::status(&out),
        None => "no answer".into(),
    };
    let answer = common::dig(addr, &[name, rtype, "+norec", "+noall", "+answer"]);
    (status, common::records(&answer))
}

/// eightfold's config for a secondary of `primary`, with `extra` lines in
/// its `[[zone]]` and `server` lines in `[server]`.
fn secondary_config(primary: SocketAddr, zone_extra: &str, server: &str) -> String {
    format!(
        r#"[server]
api = "127.0.0.1:0"
data = "eightfold.db"
{server}

[[tsig_key]]
name = "xfr.key"
secret = "{SECRET}"

[[zone]]
name = "{APEX}"
primaries = ["{primary}"]
{zone_extra}
"#
    )
}

/// Starts eightfold with `config` on `port`.
fn eightfold_on(port: u16, config: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eightfold.toml");
    std::fs::write(&path, config).unwrap();
    let path = path.to_str().unwrap().to_string();
    let dns = format!("127.0.0.1:{port}");
    Server::spawn(dir, &["serve", "--config", &path, "--dns", &dns])
}

/// Waits until eightfold answers `want` for `name`'s A records.
fn wait_for(eightfold: &Server, name: &str, want: &[&str], primary: &dyn Fn() -> String) {
    let start = Instant::now();
    let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    loop {
        let out = common::dig(eightfold.addr(), &[name, "A", "+norec", "+short"]);
        let mut got: Vec<String> = out.lines().map(str::to_string).collect();
        got.sort();
        if got == want {
            eprintln!(
                "eightfold answers {want:?} for {name} after {:?}",
                start.elapsed()
            );
            return;
        }
        assert!(
            start.elapsed() < FOLLOW_WITHIN,
            "eightfold did not answer {want:?} for {name} within {FOLLOW_WITHIN:?} (it answers {got:?})\neightfold:\n{}\n{}",
            eightfold.logs(),
            primary()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every query answered the same by both.
fn assert_same_answers(primary: SocketAddr, eightfold: SocketAddr) {
    for (name, rtype) in QUERIES {
        let theirs = answer(primary, name, rtype);
        let ours = answer(eightfold, name, rtype);
        assert_eq!(
            ours, theirs,
            "{name} {rtype}: eightfold (left) and the primary (right) differ"
        );
    }
}

/// A NOTIFY for the zone sent from `from` (UDP), signed with `key` when
/// given; the rcode of the answer.
fn send_notify(from: &str, to: SocketAddr, key: Option<(&str, &str)>) -> String {
    let mut args = vec![
        format!("@{}", to.ip()),
        "-p".into(),
        to.port().to_string(),
        "-b".into(),
        from.into(),
        "+opcode=notify".into(),
        "+norec".into(),
        "+time=2".into(),
        "+tries=1".into(),
        "sec.test".into(),
        "SOA".into(),
    ];
    if let Some((name, secret)) = key {
        args.push("-y".into());
        args.push(format!("hmac-sha256:{name}:{secret}"));
    }
    let out = Command::new("dig").args(&args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    match text.find("status: ") {
        Some(_) => common::status(&text),
        None => format!("no answer: {text}"),
    }
}

#[test]
fn eightfold_takes_a_zone_from_nsd_with_tsig_follows_its_notify_and_refuses_strangers() {
    let port = free_port();
    let me = SocketAddr::from(([127, 0, 0, 1], port));
    let nsd = Primary::nsd(2024010101, true, me);
    let update_key = format!(
        "primary_key = \"xfr.key\"\n\n[[tsig_key]]\nname = \"upd.key\"\nsecret = \"{SECRET}\"\n\
         update = [{{ name = \"x.sec.test.\", types = [\"A\"] }}]\n"
    );
    let eightfold = eightfold_on(port, &secondary_config(nsd.addr, &update_key, ""));
    let nsd_logs = || nsd.logs();
    wait_for(&eightfold, "www.sec.test", &["192.0.2.10"], &nsd_logs);
    assert_same_answers(nsd.addr, eightfold.addr());

    // The primary's zone changes; it reloads and sends NOTIFY.
    nsd.change(2024010102, "192.0.2.11");
    wait_for(&eightfold, "www.sec.test", &["192.0.2.11"], &nsd_logs);
    assert_same_answers(nsd.addr, eightfold.addr());
    let logs = eightfold.logs();
    assert!(
        logs.contains("NOTIFY for zone sec.test from 127.0.0.1 accepted"),
        "{logs}"
    );

    // NOTIFY from an address that is not a primary, and from the
    // primary's address unsigned, are refused and logged.
    assert_eq!(
        send_notify("127.0.0.2", eightfold.addr(), Some(("xfr.key", SECRET))),
        "REFUSED"
    );
    assert_eq!(send_notify("127.0.0.1", eightfold.addr(), None), "REFUSED");
    // Signed with the key's name but another secret: BADSIG.
    assert_eq!(
        send_notify(
            "127.0.0.1",
            eightfold.addr(),
            Some(("xfr.key", OTHER_SECRET))
        ),
        "NOTAUTH"
    );
    // Signed with a key not configured here: BADKEY, not taken as
    // unsigned (RFC 8945 §5.2.2).
    assert_eq!(
        send_notify("127.0.0.1", eightfold.addr(), Some(("nobody.key", SECRET))),
        "NOTAUTH"
    );
    assert_eq!(
        send_notify("127.0.0.1", eightfold.addr(), Some(("xfr.key", SECRET))),
        "NOERROR"
    );
    let logs = eightfold.logs();
    assert!(
        logs.contains("signed with a key not configured here (BADKEY)"),
        "{logs}"
    );
    assert!(
        logs.contains("from 127.0.0.2 refused: not one of its primaries"),
        "{logs}"
    );
    assert!(
        logs.contains("refused: not signed with its key xfr.key"),
        "{logs}"
    );

    // A transferred zone is read-only through the API.
    let url = eightfold.api_url();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .post(format!("{url}/v1/zones/{APEX}/changes"))
        .send_json(serde_json::json!({"changes": [{"action": "UPSERT",
            "record": {"name": "www", "type": "A", "ttl": 60, "values": ["192.0.2.99"]}}]}))
        .unwrap();
    assert_eq!(response.status().as_u16(), 409);
    let body = response.body_mut().read_to_string().unwrap();
    assert!(body.contains("secondary zone"), "{body}");
    // And to dynamic update, even with a key allowed to change the name.
    let script = format!(
        "server 127.0.0.1 {port}\nzone sec.test\nupdate add x.sec.test. 60 A 192.0.2.1\nsend\n"
    );
    let file = eightfold.path("nsupdate.txt");
    std::fs::write(&file, script).unwrap();
    let out = Command::new("nsupdate")
        .args(["-y", &format!("hmac-sha256:upd.key:{SECRET}")])
        .arg(&file)
        .output()
        .expect("nsupdate (apt install dnsutils)");
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success() && text.contains("NOTAUTH"), "{text}");
}

#[test]
fn a_wrong_key_is_refused_logged_and_the_zone_answers_servfail() {
    let port = free_port();
    let me = SocketAddr::from(([127, 0, 0, 1], port));
    let nsd = Primary::nsd(2024010101, true, me);
    let config =
        secondary_config(nsd.addr, "primary_key = \"xfr.key\"", "").replace(SECRET, OTHER_SECRET);
    let eightfold = eightfold_on(port, &config);
    eightfold.wait_for_log("refresh from primary", Duration::from_secs(10));
    let logs = eightfold.logs();
    assert!(
        logs.contains(&format!(
            "zone sec.test: refresh from primary {} failed",
            nsd.addr
        )) && logs.contains("NOTAUTH"),
        "{logs}"
    );
    assert_eq!(status(eightfold.addr(), "www.sec.test", "A"), "SERVFAIL");
    // Nor is a zone it does not have handed on.
    let axfr = common::dig(eightfold.addr(), &["sec.test", "AXFR"]);
    assert!(!axfr.contains("192.0.2.10"), "{axfr}");
}

#[test]
fn eightfold_takes_a_zone_from_knot_and_follows_its_notify() {
    let port = free_port();
    let me = SocketAddr::from(([127, 0, 0, 1], port));
    let knot = Primary::knot(7, me);
    let eightfold = eightfold_on(port, &secondary_config(knot.addr, "", ""));
    let knot_logs = || knot.logs();
    wait_for(&eightfold, "www.sec.test", &["192.0.2.10"], &knot_logs);
    assert_same_answers(knot.addr, eightfold.addr());
    knot.change(8, "192.0.2.12");
    wait_for(&eightfold, "www.sec.test", &["192.0.2.12"], &knot_logs);
    assert_same_answers(knot.addr, eightfold.addr());
    // The primary's serial, unchanged.
    let soa = common::dig(eightfold.addr(), &["sec.test", "SOA", "+short"]);
    assert_eq!(soa.split_whitespace().nth(2), Some("8"), "{soa}");

    // A reload that keeps the zone keeps its data: no SERVFAIL meanwhile.
    eightfold.signal("HUP");
    eightfold.wait_for_log("reloaded", Duration::from_secs(10));
    assert_eq!(status(eightfold.addr(), "www.sec.test", "A"), "NOERROR");
    // Pointed at another primary, it takes that one's zone.
    let nsd = Primary::nsd_with(&zone(2024010101, "192.0.2.16"), false, None);
    std::fs::write(
        eightfold.path("eightfold.toml"),
        secondary_config(nsd.addr, "", ""),
    )
    .unwrap();
    eightfold.signal("HUP");
    wait_for(&eightfold, "www.sec.test", &["192.0.2.16"], &|| nsd.logs());
    assert_same_answers(nsd.addr, eightfold.addr());
}

#[test]
fn eightfold_follows_another_eightfold_and_hands_the_zone_on() {
    let secondary_port = free_port();
    let primary_config = format!(
        r#"[server]
api = "127.0.0.1:0"
data = "eightfold.db"

[[tsig_key]]
name = "xfr.key"
secret = "{SECRET}"

[[zone]]
name = "{APEX}"
file = "sec.test.zone"
allow_transfer = [{{ from = "127.0.0.1", key = "xfr.key" }}]
notify = ["127.0.0.1:{secondary_port}"]
notify_key = "xfr.key"
"#
    );
    let primary = Server::start_with_files(
        &primary_config,
        &[("sec.test.zone", &zone(2024010101, "192.0.2.10"))],
    );
    // The secondary hands the zone on to anyone from loopback.
    let eightfold = eightfold_on(
        secondary_port,
        &secondary_config(
            primary.addr(),
            "primary_key = \"xfr.key\"\nallow_transfer = [{ from = \"127.0.0.1\" }]",
            "",
        ),
    );
    let primary_logs = || primary.logs();
    wait_for(&eightfold, "www.sec.test", &["192.0.2.10"], &primary_logs);
    assert_same_answers(primary.addr(), eightfold.addr());

    // A change on the primary (its zone file, SIGHUP) reaches the
    // secondary by NOTIFY.
    std::fs::write(
        primary.path("sec.test.zone"),
        zone(2024010102, "192.0.2.13"),
    )
    .unwrap();
    primary.signal("HUP");
    wait_for(&eightfold, "www.sec.test", &["192.0.2.13"], &primary_logs);
    assert_same_answers(primary.addr(), eightfold.addr());

    // Its AXFR holds what the primary's holds, serial included.
    let axfr = |addr: SocketAddr, key: Option<&str>| {
        let mut args = vec!["sec.test", "AXFR", "+noall", "+answer"];
        let y;
        if let Some(k) = key {
            y = format!("hmac-sha256:xfr.key:{k}");
            args.extend(["-y", y.as_str()]);
        }
        let mut records: Vec<String> = common::records(&common::dig(addr, &args))
            .into_iter()
            .filter(|l| !l.contains("TSIG"))
            .collect();
        records.dedup();
        records
    };
    let theirs = axfr(primary.addr(), Some(SECRET));
    assert!(
        theirs.iter().any(|l| l.contains("2024010102")),
        "{theirs:?}"
    );
    assert_eq!(axfr(eightfold.addr(), None), theirs);
}

#[test]
fn without_notify_the_soa_refresh_finds_changes_expire_ends_the_zone_and_retry_brings_it_back() {
    // Refresh and retry every second, expire after four: no NOTIFY.
    let timers = "1 1 4";
    let nsd = Primary::nsd_with(&zone_with_timers(1, "192.0.2.10", timers), false, None);
    let eightfold = Server::start(&secondary_config(nsd.addr, "", ""));
    let nsd_logs = || nsd.logs();
    wait_for(&eightfold, "www.sec.test", &["192.0.2.10"], &nsd_logs);
    nsd.change_to(&zone_with_timers(2, "192.0.2.14", timers));
    wait_for(&eightfold, "www.sec.test", &["192.0.2.14"], &nsd_logs);
    assert!(!eightfold.logs().contains("NOTIFY"), "{}", eightfold.logs());

    // The primary goes away: the data is served until the expire, then
    // the zone answers SERVFAIL.
    let addr = nsd.addr;
    drop(nsd);
    eightfold.wait_for_log(
        &format!("zone sec.test: refresh from primary {addr} failed"),
        Duration::from_secs(5),
    );
    let start = Instant::now();
    while status(eightfold.addr(), "www.sec.test", "A") != "SERVFAIL" {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still answering after the SOA expire\n{}",
            eightfold.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        eightfold.logs().contains("past the SOA expire"),
        "{}",
        eightfold.logs()
    );

    // The primary comes back where it was: the SOA retry finds it and the
    // zone answers again, with what the primary serves now.
    let nsd = Primary::nsd_on(
        addr.port(),
        &zone_with_timers(3, "192.0.2.16", timers),
        false,
        None,
    );
    let nsd_logs = || nsd.logs();
    wait_for(&eightfold, "www.sec.test", &["192.0.2.16"], &nsd_logs);
}

/// How the fake primary answers an AXFR.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// SOA, www A, SOA.
    Good,
    /// A record of another zone in the stream.
    OutsideZone,
    /// An answer with another message ID.
    WrongId,
    /// The stream stops before the closing SOA and the connection closes.
    Unfinished,
    /// Bytes that are no DNS message.
    Garbage,
}

/// A primary that answers SOA queries with `serial` and AXFR as `mode`
/// says, over TCP on 127.0.0.1, built with `domain` (eightfold's own wire
/// crate, which the malformed answers bypass where they must).
fn fake_primary(state: std::sync::Arc<std::sync::Mutex<(u32, Mode)>>) -> SocketAddr {
    use domain::base::iana::{Class, Rtype};
    use domain::base::{Message, MessageBuilder, Name, Serial, Ttl};
    use domain::rdata::{A, Soa};
    use std::io::{Read, Write};
    use std::str::FromStr;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut len = [0u8; 2];
            if stream.read_exact(&mut len).is_err() {
                continue;
            }
            let mut request = vec![0u8; usize::from(u16::from_be_bytes(len))];
            if stream.read_exact(&mut request).is_err() {
                continue;
            }
            let request = Message::from_octets(request).unwrap();
            let qtype = request.sole_question().unwrap().qtype();
            let (serial, mode) = *state.lock().unwrap();
            let apex = Name::<Vec<u8>>::from_str(APEX).unwrap();
            let soa = Soa::new(
                Name::<Vec<u8>>::from_str("ns1.sec.test.").unwrap(),
                Name::<Vec<u8>>::from_str("hostmaster.sec.test.").unwrap(),
                Serial(serial),
                Ttl::from_secs(3600),
                Ttl::from_secs(600),
                Ttl::from_secs(86400),
                Ttl::from_secs(300),
            );
            let message = |records: &[(&str, Option<std::net::Ipv4Addr>)], id_offset: u16| {
                let mut builder = MessageBuilder::new_vec();
                builder.header_mut().set_aa(true);
                let mut answer = builder
                    .start_answer(&request, domain::base::iana::Rcode::NOERROR)
                    .unwrap();
                answer
                    .header_mut()
                    .set_id(request.header().id().wrapping_add(id_offset));
                for (owner, a) in records {
                    let owner = Name::<Vec<u8>>::from_str(owner).unwrap();
                    match a {
                        Some(ip) => answer
                            .push((owner, Class::IN, Ttl::from_secs(300), A::new(*ip)))
                            .unwrap(),
                        None => answer
                            .push((owner, Class::IN, Ttl::from_secs(3600), soa.clone()))
                            .unwrap(),
                    }
                }
                answer.finish()
            };
            let www = Some(std::net::Ipv4Addr::new(
                192,
                0,
                2,
                20 + (serial % 200) as u8,
            ));
            let mut frames: Vec<Vec<u8>> = Vec::new();
            if qtype == Rtype::SOA {
                frames.push(message(&[(APEX, None)], 0));
            } else {
                match mode {
                    Mode::Good => frames.push(message(
                        &[(APEX, None), ("www.sec.test.", www), (APEX, None)],
                        0,
                    )),
                    Mode::OutsideZone => frames.push(message(
                        &[(APEX, None), ("www.other.test.", www), (APEX, None)],
                        0,
                    )),
                    Mode::WrongId => frames.push(message(
                        &[(APEX, None), ("www.sec.test.", www), (APEX, None)],
                        1,
                    )),
                    Mode::Unfinished => {
                        frames.push(message(&[(APEX, None), ("www.sec.test.", www)], 0))
                    }
                    Mode::Garbage => frames.push(vec![0xff; 7]),
                }
            }
            let _ = apex;
            for f in frames {
                let mut framed = (f.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&f);
                let _ = stream.write_all(&framed);
            }
        }
    });
    addr
}

#[test]
fn a_hostile_primary_is_logged_precisely_and_the_zone_keeps_its_data() {
    let state = std::sync::Arc::new(std::sync::Mutex::new((1u32, Mode::Good)));
    let primary = fake_primary(state.clone());
    let eightfold = Server::start(&secondary_config(primary, "", ""));
    let no_logs = || String::new();
    wait_for(&eightfold, "www.sec.test", &["192.0.2.21"], &no_logs);
    for (i, (mode, says)) in [
        (
            Mode::OutsideZone,
            "record www.other.test. A is outside the zone",
        ),
        (Mode::WrongId, "not a response to our request"),
        (Mode::Unfinished, "closed the connection mid-answer"),
        (Mode::Garbage, "shorter than a DNS header"),
    ]
    .into_iter()
    .enumerate()
    {
        *state.lock().unwrap() = (2 + i as u32, mode);
        assert_eq!(send_notify("127.0.0.1", eightfold.addr(), None), "NOERROR");
        eightfold.wait_for_log(says, Duration::from_secs(10));
        // Still the first transfer's data, and its serial.
        let www = common::dig(eightfold.addr(), &["www.sec.test", "A", "+short"]);
        assert_eq!(www.trim(), "192.0.2.21", "{mode:?}");
        let soa = common::dig(eightfold.addr(), &["sec.test", "SOA", "+short"]);
        assert_eq!(soa.split_whitespace().nth(2), Some("1"), "{mode:?}: {soa}");
    }
    let logs = eightfold.logs();
    assert!(
        logs.contains(&format!(
            "zone sec.test: refresh from primary {primary} failed"
        )),
        "{logs}"
    );
    assert!(logs.contains("still serving serial 1"), "{logs}");
    // A good transfer again is taken.
    *state.lock().unwrap() = (9, Mode::Good);
    assert_eq!(send_notify("127.0.0.1", eightfold.addr(), None), "NOERROR");
    wait_for(&eightfold, "www.sec.test", &["192.0.2.29"], &no_logs);
}

#[test]
fn a_restart_serves_the_kept_copy_while_the_primary_is_away() {
    let nsd = Primary::nsd_with(&zone(2024010105, "192.0.2.15"), false, None);
    let config = secondary_config(nsd.addr, "", "");
    let eightfold = Server::start(&config);
    wait_for(&eightfold, "www.sec.test", &["192.0.2.15"], &|| nsd.logs());
    let dir = eightfold.kill();
    assert!(dir.path().join("secondaries/sec.test.zone").exists());
    drop(nsd);
    let path = dir.path().join("eightfold.toml");
    let path = path.to_str().unwrap().to_string();
    let eightfold = Server::spawn(dir, &["serve", "--config", &path, "--dns", "127.0.0.1:0"]);
    wait_for(&eightfold, "www.sec.test", &["192.0.2.15"], &String::new);
    let soa = common::dig(eightfold.addr(), &["sec.test", "SOA", "+short"]);
    assert_eq!(soa.split_whitespace().nth(2), Some("2024010105"), "{soa}");
    assert!(
        eightfold
            .logs()
            .contains("zone sec.test served from its kept copy: serial 2024010105"),
        "{}",
        eightfold.logs()
    );

    // A copy last refreshed longer ago than the SOA expire (86400 s) is
    // not served: the zone answers SERVFAIL until a primary answers.
    let dir = eightfold.kill();
    let copy = dir.path().join("secondaries/sec.test.zone");
    let day_ago = std::time::SystemTime::now() - Duration::from_secs(86_401);
    std::fs::File::options()
        .append(true)
        .open(&copy)
        .unwrap()
        .set_modified(day_ago)
        .unwrap();
    let eightfold = Server::spawn(dir, &["serve", "--config", &path, "--dns", "127.0.0.1:0"]);
    eightfold.wait_for_log("past the SOA expire; not served", Duration::from_secs(10));
    assert_eq!(status(eightfold.addr(), "www.sec.test", "A"), "SERVFAIL");
}

#[test]
fn eightfold_follows_knot_by_ixfr() {
    let port = free_port();
    let me = SocketAddr::from(([127, 0, 0, 1], port));
    let knot = Primary::knot_with(7, me, true);
    let eightfold = eightfold_on(port, &secondary_config(knot.addr, "", ""));
    let knot_logs = || knot.logs();
    wait_for(&eightfold, "www.sec.test", &["192.0.2.10"], &knot_logs);
    for (serial, www) in [(8, "192.0.2.17"), (9, "192.0.2.18")] {
        knot.change(serial, www);
        wait_for(&eightfold, "www.sec.test", &[www], &knot_logs);
        assert_same_answers(knot.addr, eightfold.addr());
    }
    let logs = eightfold.logs();
    assert!(logs.contains("(AXFR): serial 7"), "{logs}");
    assert!(logs.contains("(IXFR): serial 9"), "{logs}\n{}", knot.logs());
}
