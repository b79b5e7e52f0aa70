//! Parity with NSD: for a plain zone (simple records only), eightfold must
//! answer exactly as NSD answers for the same master file — rcode, header
//! flags, EDNS, and every record of the answer, authority and additional
//! sections.
//!
//! NSD is the reference for "what an authoritative server does" (SPEC §5:
//! "where it is silent, do what a user of Route 53, NSD or PowerDNS would
//! expect"). Both servers run on loopback; `dig` queries both.
//!
//! Needs `/usr/sbin/nsd` (Debian: `apt-get install nsd`) and `dig`
//! (`apt-get install dnsutils`). Without NSD the test fails rather than
//! skipping, so a missing tool never passes for parity.

mod common;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{Server, dig};

const APEX: &str = "parity.test.";

/// Every kind of record an authoritative server meets in a plain zone.
const ZONE: &str = r#"; parity zone: served by NSD and by eightfold
$ORIGIN parity.test.
$TTL 3600
@   IN SOA ns1 hostmaster (
        2024010101 ; serial
        7200       ; refresh
        900        ; retry
        1209600    ; expire
        300 )      ; minimum: negative TTL below the SOA's own TTL
@           NS      ns1
@           NS      ns2
ns1         A       192.0.2.53
ns2         A       192.0.2.54
ns2         AAAA    2001:db8::54

@           A       192.0.2.1
@           AAAA    2001:db8::1
@           MX      10 mail
@           MX      20 mail2.example.net.
@           TXT     "v=spf1 -all"
@           CAA     0 issue "ca.example.net"
@           CAA     0 iodef "mailto:security@parity.test"
mail        A       192.0.2.25
mail        AAAA    2001:db8::25

www     300 IN A    192.0.2.10
www     300 IN A    192.0.2.11
www     300 IN AAAA 2001:db8::10
txt         TXT     "hello world" "second string" "with \"quotes\" and ; semicolon"
_sip._tcp   SRV     10 60 5060 sip
            SRV     20 40 5061 sip2.example.net.
sip         A       192.0.2.60
sip         NAPTR   100 10 "S" "SIP+D2T" "" _sip._tcp.parity.test.
sip         NAPTR   102 10 "U" "E2U+sip" "!^.*$!sip:info@parity.test!" .
ptr         PTR     www.parity.test.
host        HINFO   "PC-Intel" "Linux"
host        SSHFP   1 1 da39a3ee5e6b4b0d3255bfef95601890afd80709
host        SSHFP   4 2 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
_443._tcp.www TLSA  3 1 1 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
unknown     TYPE65534 \# 2 abcd

blog        CNAME   www
chain       CNAME   blog
ext         CNAME   www.example.net.
dangling    CNAME   nothere

*.wild      A       192.0.2.99
*.wild      MX      10 mail
static.wild A       192.0.2.98

host.ent    A       192.0.2.77

sub         NS      ns.sub
sub         NS      ns.example.net.
ns.sub      A       192.0.2.153
ns.sub      AAAA    2001:db8::153
signed      NS      ns.example.net.
signed      DS      12345 13 2 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

svc         HTTPS   1 . alpn="h2,h3" port=8443
_dns.svc    SVCB    1 dns.example.net. alpn="dot"
old         DNAME   new
www.new     A       192.0.2.111
"#;

/// (name, type) pairs asked of both servers; names are relative to APEX
/// unless they end with a dot.
const QUERIES: &[(&str, &str)] = &[
    // Every type at its name.
    ("@", "SOA"),
    ("@", "NS"),
    ("@", "A"),
    ("@", "AAAA"),
    ("@", "MX"), // additional: mail A and AAAA
    ("@", "TXT"),
    ("@", "CAA"),
    ("ns2", "AAAA"),
    ("www", "A"),
    ("www", "AAAA"),
    ("txt", "TXT"),
    ("_sip._tcp", "SRV"),
    ("sip", "NAPTR"),
    ("ptr", "PTR"),
    ("host", "HINFO"),
    ("host", "SSHFP"),
    ("_443._tcp.www", "TLSA"),
    ("unknown", "TYPE65534"),
    ("blog", "CNAME"),
    // Case is preserved in the question.
    ("WwW.PaRiTy.TeSt.", "A"),
    // Negative answers: NXDOMAIN and NODATA with the SOA (RFC 2308 TTL).
    ("nothere", "A"),
    ("deep.nothere", "AAAA"),
    ("www", "MX"),
    ("www", "TXT"),
    ("mail", "CAA"),
    ("host", "A"),
    // Empty non-terminals: NODATA, not NXDOMAIN.
    ("ent", "A"),
    ("_tcp.www", "TLSA"),
    ("host.ent", "A"),
    // CNAME chased inside the zone, out of it, through a chain, to nowhere.
    ("blog", "A"),
    ("blog", "AAAA"),
    ("blog", "MX"),
    ("chain", "A"),
    ("ext", "A"),
    ("dangling", "A"),
    // Wildcards (RFC 4592).
    ("a.wild", "A"),
    ("a.b.wild", "A"),
    ("a.wild", "MX"),
    ("a.wild", "TXT"),
    ("wild", "A"),
    ("static.wild", "A"),
    ("static.wild", "MX"),
    ("*.wild", "A"),
    // The delegation point and below it: referrals with glue.
    ("sub", "NS"),
    ("sub", "A"),
    ("sub", "DS"),
    ("www.sub", "A"),
    ("ns.sub", "A"),
    ("a.b.sub", "MX"),
    ("signed", "DS"),
    ("signed", "NS"),
    // Service bindings are data like any other.
    ("svc", "HTTPS"),
    ("_dns.svc", "SVCB"),
    // DNAME (RFC 6672): the DNAME, a synthesised CNAME, then the target.
    ("old", "DNAME"),
    ("www.old", "A"),
    ("nothere.old", "A"),
    ("old", "A"),
    // Outside every zone.
    ("other.test.", "A"),
];

/// One response as dig shows it, each section sorted and
/// whitespace-normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Response {
    status: String,
    flags: Vec<String>,
    edns: Option<String>,
    answer: Vec<String>,
    authority: Vec<String>,
    additional: Vec<String>,
}

impl Response {
    fn parse(output: &str) -> Result<Response, String> {
        let mut status = None;
        let mut flags = None;
        let mut edns = None;
        let mut sections: [Vec<String>; 3] = Default::default();
        let mut current: Option<usize> = None;
        for line in output.lines() {
            let line = line.trim_end();
            if let Some(rest) = line.strip_prefix(";; ->>HEADER<<-") {
                let s = rest.split("status: ").nth(1).ok_or("no status")?;
                status = Some(s.split(',').next().unwrap_or_default().to_string());
            } else if let Some(rest) = line.strip_prefix(";; flags:") {
                let mut f: Vec<String> = rest
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_string)
                    .collect();
                f.sort();
                flags = Some(f);
            } else if line.starts_with("; EDNS:") {
                edns = Some(normalise(line));
            } else if line == ";; ANSWER SECTION:" {
                current = Some(0);
            } else if line == ";; AUTHORITY SECTION:" {
                current = Some(1);
            } else if line == ";; ADDITIONAL SECTION:" {
                current = Some(2);
            } else if line.starts_with(';') || line.trim().is_empty() {
                continue;
            } else {
                let index = current.ok_or_else(|| format!("record outside a section: {line}"))?;
                sections[index].push(normalise(line));
            }
        }
        for s in &mut sections {
            s.sort();
        }
        let [answer, authority, additional] = sections;
        Ok(Response {
            status: status.ok_or("no header: no answer?")?,
            flags: flags.ok_or("no flags line")?,
            edns,
            answer,
            authority,
            additional,
        })
    }

    fn render(&self) -> String {
        let mut out = format!(
            "  status: {}  flags: {}  edns: {}\n",
            self.status,
            self.flags.join(" "),
            self.edns.as_deref().unwrap_or("none")
        );
        for (name, section) in [
            ("answer", &self.answer),
            ("authority", &self.authority),
            ("additional", &self.additional),
        ] {
            out.push_str(&format!("  {name}:\n"));
            for rr in section {
                out.push_str(&format!("    {rr}\n"));
            }
        }
        out
    }
}

/// NSD's one optional addition, removed from its response before comparing.
///
/// With its default `minimal-responses: no`, NSD puts the zone's NS RRset in
/// the authority section of every positive authoritative answer, and the
/// addresses of those name servers in the additional section. Both are
/// optional (RFC 2181 §5.4.1 ranks them lowest; resolvers do not need them)
/// and eightfold leaves them out to keep answers small. NSD's
/// `minimal-responses: yes` is no reference either: it also drops the
/// addresses of MX, SRV and NS targets, which both servers otherwise give.
///
/// So, on an authoritative NOERROR answer with records, and only when the
/// authority section holds nothing but the apex NS RRset: drop that RRset,
/// and drop the A/AAAA records of its targets from the additional section
/// unless a target is also an MX, SRV or NS target in the answer.
fn without_optional_apex_ns(r: &mut Response) {
    let positive =
        r.status == "NOERROR" && r.flags.iter().any(|f| f == "aa") && !r.answer.is_empty();
    let fields = |rr: &String| {
        rr.split(' ')
            .map(str::to_ascii_lowercase)
            .collect::<Vec<_>>()
    };
    let apex_ns = |rr: &String| {
        let f = fields(rr);
        f.len() == 5 && f[0] == APEX && f[2] == "in" && f[3] == "ns"
    };
    if !positive || r.authority.is_empty() || !r.authority.iter().all(apex_ns) {
        return;
    }
    let ns_targets: Vec<String> = r.authority.iter().map(|rr| fields(rr)[4].clone()).collect();
    let answer_targets: Vec<String> = r
        .answer
        .iter()
        .map(fields)
        .filter_map(|f| match f.get(3).map(String::as_str) {
            Some("mx") => f.get(5).cloned(),
            Some("srv") => f.get(7).cloned(),
            Some("ns") => f.get(4).cloned(),
            _ => None,
        })
        .collect();
    r.authority.clear();
    r.additional.retain(|rr| {
        let f = fields(rr);
        let address = matches!(f.get(3).map(String::as_str), Some("a" | "aaaa"));
        !(address && ns_targets.contains(&f[0]) && !answer_targets.contains(&f[0]))
    });
}

fn normalise(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn absolute(name: &str) -> String {
    if name == "@" {
        APEX.to_string()
    } else if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.{APEX}")
    }
}

/// Asks `addr` for `name type` without recursion, all sections shown,
/// over UDP or (with `+tcp`) TCP.
fn ask(addr: SocketAddr, transport: &str, name: &str, rtype: &str) -> Result<Response, String> {
    let out = dig(
        addr,
        &[
            transport,
            "+norec",
            "+noall",
            "+comments",
            "+answer",
            "+authority",
            "+additional",
            &absolute(name),
            rtype,
        ],
    );
    Response::parse(&out).map_err(|e| format!("{e}; dig printed:\n{out}"))
}

/// A port free for both UDP and TCP on 127.0.0.1 (bound, then released).
fn free_port() -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind a TCP port");
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP");
}

/// NSD's binary, or a failure telling how to install it.
fn nsd_binary() -> PathBuf {
    for candidate in ["/usr/sbin/nsd", "/usr/local/sbin/nsd"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    if Command::new("nsd")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return PathBuf::from("nsd");
    }
    panic!(
        "NSD is not installed; this test compares eightfold's answers with NSD's. \
         Install it with `apt-get install nsd` (Debian/Ubuntu)."
    );
}

/// NSD serving ZONE in the foreground, unprivileged, from a temp folder.
struct Nsd {
    child: Option<Child>,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Nsd {
    fn start(zone: &str) -> Nsd {
        let binary = nsd_binary();
        let mut last_failure = String::new();
        // The port is released before NSD binds it; another process may take
        // it in between, so a failed start is retried on a fresh port.
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("tempdir");
            let d = dir.path().display();
            let port = free_port();
            std::fs::write(dir.path().join("parity.zone"), zone).unwrap();
            // Everything NSD writes goes to the temp folder; no user switch,
            // no chroot, no database file, no control socket, one server
            // process. These options exist in NSD 4.x on Debian 11 to 13.
            let conf = format!(
                "server:\n\
                 \x20 ip-address: 127.0.0.1\n\
                 \x20 port: {port}\n\
                 \x20 do-ip6: no\n\
                 \x20 server-count: 1\n\
                 \x20 username: \"\"\n\
                 \x20 chroot: \"\"\n\
                 \x20 zonesdir: \"{d}\"\n\
                 \x20 pidfile: \"{d}/nsd.pid\"\n\
                 \x20 xfrdfile: \"{d}/xfrd.state\"\n\
                 \x20 xfrdir: \"{d}\"\n\
                 \x20 zonelistfile: \"{d}/zone.list\"\n\
                 \x20 database: \"\"\n\
                 \x20 logfile: \"{d}/nsd.log\"\n\
                 \x20 verbosity: 1\n\
                 remote-control:\n\
                 \x20 control-enable: no\n\
                 zone:\n\
                 \x20 name: \"{APEX}\"\n\
                 \x20 zonefile: \"parity.zone\"\n"
            );
            let child = common::reference::spawn(&binary, &["-d"], dir.path(), &conf);
            let mut nsd = Nsd {
                child: Some(child),
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                dir,
            };
            match nsd.wait_ready(Duration::from_secs(10)) {
                Ok(()) => return nsd,
                Err(e) => last_failure = format!("{e}\n{}", nsd.logs()),
            }
        }
        panic!("NSD did not start: {last_failure}");
    }

    /// Polls with dig until NSD answers for the zone authoritatively.
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return Err(format!("NSD exited with {status}"));
            }
            if let Ok(r) = ask(self.addr, "+notcp", "@", "SOA")
                && r.status == "NOERROR"
                && r.flags.iter().any(|f| f == "aa")
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "NSD did not answer on {} within {timeout:?}",
                    self.addr
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn logs(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!(
            "NSD stderr:\n{}\nNSD log:\n{}",
            read("stderr.txt"),
            read("nsd.log")
        )
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        common::stop_gracefully(&mut child);
    }
}

#[test]
fn answers_match_nsd_for_a_plain_zone() {
    let nsd = Nsd::start(ZONE);
    let config = format!(
        "[server]\ndata = \"eightfold.db\"\n\n[[zone]]\nname = \"{APEX}\"\nfile = \"parity.zone\"\n"
    );
    let server = Server::start_with_files(&config, &[("parity.zone", ZONE)]);

    let mut differences = Vec::new();
    let asked = QUERIES.len() * 2;
    for transport in ["+notcp", "+tcp"] {
        for &(name, rtype) in QUERIES {
            let query = format!("{} {rtype} ({})", absolute(name), &transport[1..]);
            let mut theirs = ask(nsd.addr, transport, name, rtype)
                .unwrap_or_else(|e| panic!("NSD, {query}: {e}"));
            without_optional_apex_ns(&mut theirs);
            let ours = match ask(server.addr(), transport, name, rtype) {
                Ok(r) => r,
                Err(e) => {
                    differences.push(format!("{query}: eightfold gave no usable answer: {e}"));
                    continue;
                }
            };
            if ours != theirs {
                differences.push(format!(
                    "{query}\n NSD:\n{} eightfold:\n{}",
                    theirs.render(),
                    ours.render()
                ));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {asked} queries differ from NSD:\n\n{}",
        differences.len(),
        differences.join("\n")
    );
}
