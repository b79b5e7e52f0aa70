//! The hot path allocates nothing: `handler::respond` is driven directly
//! (no sockets) under a counting global allocator, for every kind of answer
//! the server gives, and must make zero heap allocations per query once its
//! buffers are warm (ARCHITECTURE.md, "Architecture invariants").
//!
//! The counter is per thread, so tests running in parallel in this binary
//! (and the test harness itself) do not disturb each other's counts.
//!
//! The worker loops are driven for real too: `udp::serve` on a thread of
//! its own and `tcp::serve` on a single-threaded runtime of its own, fed
//! over loopback sockets, with EDNS options (cookie, client subnet), the
//! rate limiter slipping answers, and health checks the real checker
//! found down. Those threads count into one shared counter.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use eightfold::dns::listen::Shared;
use eightfold::dns::rrl::RateLimiter;
use eightfold::dns::{tcp, udp};
use eightfold::health::Checker;
use tokio_util::sync::CancellationToken;

use eightfold::config::Config;
use eightfold::dns::handler::{self, Published, Scratch, Transport};
use eightfold::publish::publish;

struct Counting;

thread_local! {
    // `const` initialisers without destructors: touching them never
    // allocates, so the allocator may read them.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    /// Set on the threads that run a worker loop.
    static WORKER: Cell<bool> = const { Cell::new(false) };
}

/// Allocations made on worker-loop threads, all together: read from the
/// test's thread while the workers run.
static WORKER_ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

fn note_allocation() {
    // `try_with`: the slot may already be gone while a thread exits.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
    let _ = WORKER.try_with(|on| {
        if on.get() {
            WORKER_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap allocations (including reallocations) made by `f` on this thread.
fn allocations_in(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    ALLOCATIONS.with(|n| n.get())
}

const ZONE_FILE: &str = r#"$TTL 300
@       SOA   ns1 hostmaster 1 3600 600 604800 60
@       NS    ns1
ns1     A     192.0.2.53
www     A     192.0.2.1
www     A     192.0.2.2
alias   CNAME alias2
alias2  CNAME www
out     CNAME www.elsewhere.example.
*.wild  A     192.0.2.9
sub     NS    ns.sub
ns.sub  A     192.0.2.54
mail    MX    10 mx1
mx1     A     192.0.2.25
mx1     AAAA  2001:db8::25
srv     SRV   0 5 443 mx1
old     DNAME new.example.test.
x.new   A     192.0.2.77
"#;

/// Checks whose endpoint is down (see [`config`]).
const DOWN: [u32; 5] = [1, 5, 9, 12, 14];

/// The config: the zone file above plus routed groups over sixteen tcp
/// checks, those in [`DOWN`] aimed at `down_port`, the others at
/// `up_port`. Most tests never run them (publish only builds the table;
/// they set it by hand).
fn config(dir: &Path, up_port: u16, down_port: u16) -> Config {
    let mut zone = ZONE_FILE.to_owned();
    for i in 0..1000 {
        zone.push_str(&format!("h{i} A 10.0.{}.{}\n", i / 256, i % 256));
    }
    // Forty 100-byte strings: far more than 512 or 1232 bytes.
    for i in 0..40 {
        zone.push_str(&format!("big TXT \"{i:02}{}\"\n", "x".repeat(98)));
    }
    std::fs::write(dir.join("example.test.zone"), zone).unwrap();

    // The geolocation database of tests/geo/make_db.py, looked up for the
    // geolocation group below.
    let status = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/geo/make_db.py"))
        .arg(dir.join("geo.mmdb"))
        .status()
        .expect("python3 runs");
    assert!(status.success(), "pip install mmdb-writer");
    let mut toml = String::from("[server]\ngeoip_database = \"geo.mmdb\"\n\n");
    for i in 0..16 {
        let port = if DOWN.contains(&i) {
            down_port
        } else {
            up_port
        };
        toml.push_str(&format!(
            "[[health_check]]\nid = \"c{i}\"\ntype = \"tcp\"\nip = \"127.0.0.1\"\nport = {port}\n\
             interval = \"1s\"\nfailure_threshold = 1\n\n"
        ));
    }
    toml.push_str("[[zone]]\nname = \"example.test.\"\nfile = \"example.test.zone\"\n\n");
    let mut record = |name: &str, routing: &str, set: &str, value: &str, extra: &str| {
        toml.push_str(&format!(
            "[[zone.record]]\nname = \"{name}\"\ntype = \"A\"\nttl = 30\nrouting = \"{routing}\"\n\
             set = \"{set}\"\nvalue = \"{value}\"\n{extra}\n"
        ));
    };
    for i in 0..12 {
        let check = format!("health_check = \"c{i}\"");
        record(
            "multi",
            "multivalue",
            &format!("m{i}"),
            &format!("192.0.2.{}", 100 + i),
            &check,
        );
    }
    record(
        "fo",
        "failover",
        "p",
        "192.0.2.201",
        "health_check = \"c12\"\nfailover = \"primary\"",
    );
    record(
        "fo",
        "failover",
        "s",
        "192.0.2.202",
        "health_check = \"c13\"\nfailover = \"secondary\"",
    );
    record(
        "wt",
        "weighted",
        "a",
        "192.0.2.211",
        "health_check = \"c14\"\nweight = 10",
    );
    record(
        "wt",
        "weighted",
        "b",
        "192.0.2.212",
        "health_check = \"c15\"\nweight = 30",
    );
    record("wt", "weighted", "z", "192.0.2.213", "weight = 0");
    // Geolocation: a US state, a country whose check is down, a
    // continent and the default.
    for (set, place, value) in [
        (
            "ca",
            "country = \"US\"\nsubdivision = \"CA\"",
            "192.0.2.221",
        ),
        (
            "de",
            "country = \"DE\"\nhealth_check = \"c1\"",
            "192.0.2.222",
        ),
        ("eu", "continent = \"EU\"", "192.0.2.223"),
        ("as", "continent = \"AS\"", "192.0.2.224"),
        ("any", "country = \"*\"", "192.0.2.225"),
    ] {
        record("geo", "geolocation", set, value, place);
    }
    // Aliases: a failover pair of aliases to the multivalue and weighted
    // groups, evaluating their health, and a simple alias to the pair.
    for (set, role, target) in [("p", "primary", "multi"), ("s", "secondary", "wt")] {
        toml.push_str(&format!(
            "[[zone.record]]\nname = \"afo\"\ntype = \"A\"\nrouting = \"failover\"\n\
             set = \"{set}\"\nfailover = \"{role}\"\nalias = \"{target}\"\n\
             evaluate_target_health = true\n\n"
        ));
    }
    toml.push_str("[[zone.record]]\nname = \"ap\"\ntype = \"A\"\nalias = \"afo\"\n\n");
    // CNAME aliases as octoDNS builds a dynamic CNAME: a failover pair of
    // aliases to CNAME records (one the start of a chain), evaluating
    // their health, and a simple alias to the pair.
    for (set, role, target) in [("p", "primary", "alias"), ("s", "secondary", "out")] {
        toml.push_str(&format!(
            "[[zone.record]]\nname = \"cfo\"\ntype = \"CNAME\"\nrouting = \"failover\"\n\
             set = \"{set}\"\nfailover = \"{role}\"\nalias = \"{target}\"\n\
             evaluate_target_health = true\n\n"
        ));
    }
    toml.push_str("[[zone.record]]\nname = \"cap\"\ntype = \"CNAME\"\nalias = \"cfo\"\n\n");
    let path = dir.join("eightfold.toml");
    match Config::from_toml(&path, &toml) {
        Ok(c) => c,
        Err(d) => panic!("bad test config: {d:?}"),
    }
}

fn published() -> (Published, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let published = publish(&config(dir.path(), 9, 9));
    // Three of the twelve multivalue records down, the failover primary
    // down, one weighted record down.
    for id in DOWN {
        published.health.set(id, false);
    }
    (published, dir)
}

const A: u16 = 1;
const NS: u16 = 2;
const CNAME: u16 = 5;
const MX: u16 = 15;
const TXT: u16 = 16;
const AAAA: u16 = 28;
const SRV: u16 = 33;
const ANY: u16 = 255;

/// A query for `name`/`qtype` with RD set; with an OPT record advertising
/// `edns` bytes when given.
fn query(id: u16, name: &str, qtype: u16, edns: Option<u16>) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&0x0100u16.to_be_bytes());
    p.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())]);
    for label in name.trim_end_matches('.').split('.') {
        p.push(label.len() as u8);
        p.extend_from_slice(label.as_bytes());
    }
    p.push(0);
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&1u16.to_be_bytes());
    if let Some(size) = edns {
        p.push(0);
        p.extend_from_slice(&41u16.to_be_bytes());
        p.extend_from_slice(&size.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0x80, 0, 0, 0]); // DO set, no options
    }
    p
}

/// Answers every query once to warm the buffers, then `ROUNDS` more times
/// counting allocations; returns (rcode of the first answer, allocations).
fn measure(published: &Published, queries: &[Vec<u8>], transport: Transport) -> (u8, u64) {
    const ROUNDS: usize = 200;
    let mut out = Vec::with_capacity(usize::from(u16::MAX));
    let mut scratch = Scratch::seeded(7);
    let mut first_rcode = None;
    for q in queries {
        let rcode = handler::respond(published, q, transport, &mut out, &mut scratch);
        first_rcode.get_or_insert(rcode.map_or(255, |a| a.rcode.rcode().to_int()));
        assert!(rcode.is_some(), "no response");
    }
    let n = allocations_in(|| {
        for _ in 0..ROUNDS {
            for q in queries {
                let rcode = handler::respond(published, q, transport, &mut out, &mut scratch);
                std::hint::black_box(rcode);
            }
        }
    });
    (first_rcode.unwrap(), n)
}

/// Every kind of answer, with and without EDNS: (label, qname, qtype).
const KINDS: &[(&str, &str, u16)] = &[
    ("static www", "www.example.test.", A),
    ("static, mixed case", "WwW.ExAmPlE.tEsT.", A),
    ("multivalue 12, 3 down", "multi.example.test.", A),
    ("failover, primary down", "fo.example.test.", A),
    ("weighted, one down", "wt.example.test.", A),
    ("CNAME chain", "alias.example.test.", A),
    ("CNAME out of zone", "out.example.test.", A),
    ("wildcard", "anything.wild.example.test.", A),
    ("NXDOMAIN", "nope.example.test.", A),
    ("NODATA", "www.example.test.", AAAA),
    ("empty non-terminal", "new.example.test.", A),
    ("referral with glue", "host.sub.example.test.", A),
    ("MX with additional", "mail.example.test.", MX),
    ("SRV with additional", "srv.example.test.", SRV),
    ("apex NS", "example.test.", NS),
    ("ANY", "www.example.test.", ANY),
    ("ANY at a CNAME", "alias.example.test.", ANY),
    ("CNAME below a DNAME", "x.old.example.test.", CNAME),
    ("TC-sized TXT", "big.example.test.", TXT),
    ("alias to a failover pair of aliases", "ap.example.test.", A),
    (
        "CNAME alias to a failover pair of CNAME aliases",
        "cap.example.test.",
        A,
    ),
    ("CNAME query at a CNAME alias", "cap.example.test.", CNAME),
    ("geolocation, unlocated client", "geo.example.test.", A),
    ("REFUSED", "www.other.example.", A),
];

#[test]
fn every_kind_of_answer_is_allocation_free() {
    let (published, _dir) = published();
    let mut failures = Vec::new();
    for &(label, name, qtype) in KINDS {
        for edns in [None, Some(1232), Some(4096)] {
            for transport in [Transport::Udp, Transport::Tcp] {
                let queries = [query(0x1234, name, qtype, edns)];
                let (_, n) = measure(&published, &queries, transport);
                if n != 0 {
                    failures.push(format!(
                        "{label} (edns {edns:?}, {transport:?}): {n} allocations"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn random_host_names_are_allocation_free() {
    let (published, _dir) = published();
    let queries: Vec<Vec<u8>> = (0..1000u16)
        .map(|i| {
            // Every seventh name is missing: NXDOMAIN mixed in.
            let name = if i % 7 == 0 {
                format!("missing{i}.example.test.")
            } else {
                format!("h{}.example.test.", (i * 37) % 1000)
            };
            query(i, &name, A, (i % 2 == 0).then_some(1232))
        })
        .collect();
    let (_, n) = measure(&published, &queries, Transport::Udp);
    assert_eq!(n, 0);
}

#[test]
fn error_responses_are_allocation_free() {
    let (published, _dir) = published();
    let mut notimp = query(1, "www.example.test.", A, None);
    notimp[2] |= 0x20; // opcode 4, NOTIFY
    let mut badvers = query(2, "www.example.test.", A, Some(1232));
    let version = badvers.len() - 5;
    badvers[version] = 1;
    let mut two_questions = query(3, "www.example.test.", A, None);
    two_questions[5] = 2;
    for (label, q) in [
        ("NOTIMP", notimp),
        ("BADVERS", badvers),
        ("FORMERR", two_questions),
    ] {
        let (_, n) = measure(&published, &[q], Transport::Udp);
        assert_eq!(n, 0, "{label}");
    }
}

/// `packet` with an OPT (1232 bytes, DO) whose data is `options`.
fn with_opt_options(mut packet: Vec<u8>, options: &[u8]) -> Vec<u8> {
    packet[11] += 1;
    packet.push(0);
    packet.extend_from_slice(&41u16.to_be_bytes());
    packet.extend_from_slice(&1232u16.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0x80, 0]);
    packet.extend_from_slice(&(options.len() as u16).to_be_bytes());
    packet.extend_from_slice(options);
    packet
}

/// `packet` signed (badly) with a TSIG record for key `key.`.
fn with_tsig(mut packet: Vec<u8>) -> Vec<u8> {
    packet[11] += 1;
    packet.extend_from_slice(b"\x03KeY\x00");
    packet.extend_from_slice(&250u16.to_be_bytes());
    packet.extend_from_slice(&255u16.to_be_bytes());
    packet.extend_from_slice(&0u32.to_be_bytes());
    let mut rdata = b"\x0bhmac-sha256\x00".to_vec();
    rdata.extend_from_slice(&[0, 0, 0x6b, 0x12, 0x3a, 0x20, 1, 0x2c, 0, 4, 1, 2, 3, 4]);
    rdata.extend_from_slice(&[0x12, 0x34, 0, 0, 0, 0]);
    packet.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    packet.extend_from_slice(&rdata);
    packet
}

/// The protocol cases of issue 12: each with the rcode it must get, so a
/// case that stopped reaching its path would be seen.
fn protocol_cases() -> Vec<(&'static str, Vec<u8>, u8)> {
    let www = |edns| query(1, "www.example.test.", A, edns);
    let mut qclass_any = www(None);
    let class_at = qclass_any.len() - 2;
    qclass_any[class_at..].copy_from_slice(&255u16.to_be_bytes());
    let mut cd = www(Some(1232));
    cd[3] |= 0x10;
    let mut notimp = www(Some(1232));
    notimp[2] |= 2 << 3; // opcode STATUS
    let mut no_question = www(Some(1232));
    no_question[5] = 0;
    let question_len = no_question.len() - 12 - 11;
    no_question.drain(12..12 + question_len);
    let mut opt_in_answer = www(Some(1232));
    opt_in_answer[7] = 1;
    opt_in_answer[11] = 0;
    let axfr = query(1, "example.test.", 252, Some(1232));
    vec![
        ("QCLASS ANY", qclass_any, 0),
        ("CD set", cd, 0),
        ("NOTIMP with OPT", notimp, 4),
        ("FORMERR with OPT (no question)", no_question, 1),
        (
            "REFUSED with EDE",
            query(1, "www.other.example.", A, Some(1232)),
            5,
        ),
        (
            "option past the OPT data",
            with_opt_options(www(None), &[0, 10, 0, 16, 1, 2]),
            1,
        ),
        (
            "option header cut",
            with_opt_options(www(None), &[0, 10, 0]),
            1,
        ),
        ("OPT in the answer section", opt_in_answer, 1),
        // The config's NSID is the host name: written into the OPT.
        ("NSID asked", with_opt_options(www(None), &[0, 3, 0, 0]), 0),
        ("TSIG without keys", with_tsig(www(None)), 9),
        ("TSIG without keys, with OPT", with_tsig(www(Some(1232))), 9),
        ("AXFR over UDP", axfr, 4),
    ]
}

#[test]
fn protocol_cases_are_allocation_free_and_answered_as_expected() {
    let (published, _dir) = published();
    for (label, packet, rcode) in protocol_cases() {
        for transport in [Transport::Udp, Transport::Tcp] {
            let (got, n) = measure(&published, std::slice::from_ref(&packet), transport);
            let want = if label == "AXFR over UDP" && transport == Transport::Tcp {
                9
            } else {
                rcode
            };
            assert_eq!(got, want, "{label} ({transport:?}): rcode");
            assert_eq!(n, 0, "{label} ({transport:?}): allocations");
        }
    }
}

#[test]
fn answers_are_the_ones_expected() {
    // Guards the test itself: each query reaches the case it is named for.
    let (published, _dir) = published();
    let rcode = |name, qtype| measure(&published, &[query(9, name, qtype, None)], Transport::Udp).0;
    assert_eq!(rcode("www.example.test.", A), 0);
    assert_eq!(rcode("nope.example.test.", A), 3);
    assert_eq!(rcode("www.other.example.", A), 5);

    let mut out = Vec::new();
    let mut scratch = Scratch::seeded(1);
    let mut answer_count = |name: &str, qtype, edns, transport| {
        handler::respond(
            &published,
            &query(9, name, qtype, edns),
            transport,
            &mut out,
            &mut scratch,
        )
        .unwrap();
        (u16::from_be_bytes([out[6], out[7]]), out[2] & 0x02 != 0)
    };
    // Nine healthy records: eight answered.
    assert_eq!(
        answer_count("multi.example.test.", A, None, Transport::Udp),
        (8, false)
    );
    assert_eq!(
        answer_count("fo.example.test.", A, None, Transport::Udp),
        (1, false)
    );
    // ap -> afo (primary, multi healthy) -> multi: its eight answers.
    assert_eq!(
        answer_count("ap.example.test.", A, None, Transport::Udp),
        (8, false)
    );
    assert_eq!(
        answer_count("alias.example.test.", A, None, Transport::Udp),
        (4, false)
    );
    // cap -> cfo (primary) -> alias: "cap CNAME alias2", then alias2's
    // CNAME and www's two addresses.
    assert_eq!(
        answer_count("cap.example.test.", A, None, Transport::Udp),
        (4, false)
    );
    assert_eq!(
        answer_count("cap.example.test.", CNAME, None, Transport::Udp),
        (1, false)
    );
    assert_eq!(
        answer_count("big.example.test.", TXT, None, Transport::Udp),
        (0, true)
    );
    assert_eq!(
        answer_count("big.example.test.", TXT, Some(1232), Transport::Udp),
        (0, true)
    );
    assert_eq!(
        answer_count("big.example.test.", TXT, None, Transport::Tcp),
        (40, false)
    );
    // DNAME + synthesised CNAME + the target's A.
    assert_eq!(
        answer_count("x.old.example.test.", A, None, Transport::Udp),
        (3, false)
    );
}

#[test]
fn dname_synthesis_is_allocation_free() {
    let (published, _dir) = published();
    let (rcode, n) = measure(
        &published,
        &[query(5, "x.old.example.test.", A, Some(1232))],
        Transport::Udp,
    );
    assert_eq!(rcode, 0);
    assert_eq!(n, 0);
}

/// A client subnet option (RFC 7871) for `addr` (an IPv4 or IPv6
/// address) with source prefix `prefix`.
fn subnet(addr: &str, prefix: u8) -> Vec<u8> {
    let addr: std::net::IpAddr = addr.parse().unwrap();
    let (family, octets): (u16, Vec<u8>) = match addr {
        std::net::IpAddr::V4(a) => (1, a.octets().to_vec()),
        std::net::IpAddr::V6(a) => (2, a.octets().to_vec()),
    };
    let len = usize::from(prefix).div_ceil(8);
    let mut option = vec![0, 8];
    option.extend_from_slice(&(4 + len as u16).to_be_bytes());
    option.extend_from_slice(&family.to_be_bytes());
    option.extend_from_slice(&[prefix, 0]);
    option.extend_from_slice(&octets[..len]);
    option
}

/// The geolocation group asked for by clients of every kind the database
/// tells apart, by client subnet and by source address: (label, client
/// subnet option, source address, the address answered, scope).
fn geolocation_cases() -> Vec<(&'static str, Vec<u8>, &'static str, &'static str, u8)> {
    vec![
        (
            "subdivision US-CA",
            subnet("192.0.2.0", 24),
            "10.0.0.1",
            "192.0.2.221",
            25,
        ),
        (
            "country DE down: continent EU",
            subnet("198.51.100.0", 24),
            "10.0.0.1",
            "192.0.2.223",
            24,
        ),
        (
            "continent AS",
            subnet("203.0.113.0", 24),
            "10.0.0.1",
            "192.0.2.224",
            24,
        ),
        (
            "IPv6 subnet, continent EU",
            subnet("2001:db8::", 48),
            "10.0.0.1",
            "192.0.2.223",
            32,
        ),
        // The database holds nothing in 0.0.0.0/2.
        (
            "unknown subnet: default",
            subnet("10.9.0.0", 16),
            "127.0.0.1",
            "192.0.2.225",
            2,
        ),
        (
            "source address FR: continent EU",
            Vec::new(),
            "127.0.0.1",
            "192.0.2.223",
            0,
        ),
        (
            "subnet of prefix 0: source address BR, default",
            subnet("0.0.0.0", 0),
            "127.0.0.2",
            "192.0.2.225",
            0,
        ),
    ]
}

#[test]
fn geolocation_lookups_are_allocation_free() {
    use domain::base::Message;
    use domain::base::opt::ClientSubnet;
    let (published, _dir) = published();
    assert!(published.geo.is_some(), "database loaded");
    for (label, option, source, want, scope) in geolocation_cases() {
        let mut packet = query(3, "geo.example.test.", A, None);
        packet = with_opt_options(packet, &option);
        let source: std::net::IpAddr = source.parse().unwrap();
        let mut out = Vec::with_capacity(usize::from(u16::MAX));
        let mut scratch = Scratch::seeded(7);
        let answer = |out: &mut Vec<u8>, scratch: &mut Scratch| {
            let answered = handler::respond_from(
                &published,
                &packet,
                Transport::Udp,
                Some(source),
                out,
                scratch,
            );
            std::hint::black_box(answered.map(|a| a.rcode));
        };
        answer(&mut out, &mut scratch);
        // The case reaches what it is named for.
        let msg = Message::from_octets(out.as_slice()).unwrap();
        let values: Vec<String> = msg
            .answer()
            .unwrap()
            .limit_to::<domain::rdata::A>()
            .map(|r| r.unwrap().data().to_string())
            .collect();
        assert_eq!(values, [want], "{label}");
        let echoed = msg
            .opt()
            .and_then(|opt| opt.opt().first::<ClientSubnet>())
            .map(|s| s.scope_prefix_len());
        if option.is_empty() {
            assert_eq!(echoed, None, "{label}: no option asked, none answered");
        } else {
            assert_eq!(echoed, Some(scope), "{label}: scope");
        }
        let n = allocations_in(|| {
            for _ in 0..200 {
                answer(&mut out, &mut scratch);
            }
        });
        assert_eq!(n, 0, "{label}: allocations");
    }
}

/// EDNS options: a client cookie (RFC 7873) alone, and with a client
/// subnet (RFC 7871, 192.0.2.0/24).
const COOKIE: &[u8] = &[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
const COOKIE_AND_SUBNET: &[u8] = &[
    0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, // cookie
    0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2, // client subnet
];

/// Every kind of answer, bare and with EDNS options, and the protocol
/// cases, each with its own id.
fn worker_queries() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for &(_, name, qtype) in KINDS {
        out.push(query(0, name, qtype, None));
        out.push(with_opt_options(query(0, name, qtype, None), COOKIE));
        out.push(with_opt_options(
            query(0, name, qtype, None),
            COOKIE_AND_SUBNET,
        ));
    }
    out.extend(protocol_cases().into_iter().map(|(_, q, _)| q));
    for (i, q) in out.iter_mut().enumerate() {
        q[..2].copy_from_slice(&(i as u16).to_be_bytes());
    }
    out
}

/// Zones published over the table of a real checker whose checks in
/// [`DOWN`] probe a closed port, once it has found them down; the others
/// probe an open one and stay up. The runtime keeps the checker running.
fn published_with_checker() -> (
    Arc<ArcSwap<Published>>,
    tokio::runtime::Runtime,
    TcpListener,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let down = TcpListener::bind("127.0.0.1:0").unwrap();
    let down_port = down.local_addr().unwrap().port();
    drop(down);
    let config = config(dir.path(), up.local_addr().unwrap().port(), down_port);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let checker = {
        let _entered = runtime.enter();
        Checker::start(config.health_checks.clone(), CancellationToken::new())
    };
    let table = checker.table();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(0..16).all(|i| table.is_healthy(i) != DOWN.contains(&i)) {
        assert!(Instant::now() < deadline, "the checker did not find them");
        std::thread::sleep(Duration::from_millis(20));
    }
    let slots: std::collections::HashMap<String, u32> = checker
        .slots()
        .into_iter()
        .map(|(slot, id)| (id, slot))
        .collect();
    let published = eightfold::publish::publish_with(
        &config.zones,
        &|id| slots.get(id).copied(),
        table,
        &eightfold::nameservers::NameServers::default(),
    );
    (Arc::new(ArcSwap::from_pointee(published)), runtime, up, dir)
}

/// Allocations the worker threads make while `round` runs 20 times; it
/// runs twice first, so buffers have grown and the connection exists.
/// `started` is the count from before the worker started: its own
/// buffers must show, or the counter is not counting.
fn worker_allocations(started: u64, mut round: impl FnMut()) -> u64 {
    round();
    round();
    let before = WORKER_ALLOCATIONS.load(Ordering::SeqCst);
    assert!(before > started, "the worker's buffers were not counted");
    for _ in 0..20 {
        round();
    }
    WORKER_ALLOCATIONS.load(Ordering::SeqCst) - before
}

/// Sends `queries` to a UDP worker in bursts (so `recvmmsg` takes several
/// at once) and waits for every answer.
fn udp_round(client: &UdpSocket, server: SocketAddr, queries: &[Vec<u8>]) -> Vec<u8> {
    let mut rcodes = vec![0u8; queries.len()];
    let mut buf = [0u8; 65535];
    for (c, chunk) in queries.chunks(16).enumerate() {
        for q in chunk {
            client.send_to(q, server).unwrap();
        }
        for _ in chunk {
            let n = client
                .recv(&mut buf)
                .expect("an answer from the UDP worker");
            let id = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
            assert!(n >= 12 && id / 16 == c, "answer {id} in burst {c}");
            rcodes[id] = buf[3] & 0x0f;
        }
    }
    rcodes
}

/// Sends `queries` pipelined on one TCP connection and reads every
/// answer, in order.
fn tcp_round(stream: &mut TcpStream, queries: &[Vec<u8>]) -> Vec<u8> {
    let mut frames = Vec::new();
    for q in queries {
        frames.extend_from_slice(&(q.len() as u16).to_be_bytes());
        frames.extend_from_slice(q);
    }
    stream.write_all(&frames).unwrap();
    let mut rcodes = Vec::with_capacity(queries.len());
    let mut buf = vec![0u8; 65535];
    for i in 0..queries.len() {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).expect("an answer from TCP");
        let len = usize::from(u16::from_be_bytes(len));
        stream.read_exact(&mut buf[..len]).unwrap();
        assert_eq!(usize::from(u16::from_be_bytes([buf[0], buf[1]])), i);
        rcodes.push(buf[3] & 0x0f);
    }
    rcodes
}

/// Runs `udp::serve` on a worker thread until the token fires.
fn udp_worker(shared: Shared) -> (SocketAddr, CancellationToken, std::thread::JoinHandle<()>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let token = CancellationToken::new();
    let stop = token.clone();
    let thread = std::thread::spawn(move || {
        WORKER.with(|w| w.set(true));
        udp::serve(socket, shared, 0, stop);
    });
    (addr, token, thread)
}

/// The one test of the worker loops: they share the worker counter, so
/// they run one after the other.
#[test]
fn udp_and_tcp_worker_loops_are_allocation_free() {
    let (published, _runtime, _up, _dir) = published_with_checker();
    let queries = worker_queries();
    let expected: Vec<u8> = {
        let p = published.load();
        let mut scratch = Scratch::seeded(3);
        let mut out = Vec::new();
        queries
            .iter()
            .map(|q| {
                let a = handler::respond(&p, q, Transport::Udp, &mut out, &mut scratch);
                a.map_or(255, |a| a.rcode.rcode().to_int())
            })
            .collect()
    };
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();

    // UDP, then UDP with the rate limiter slipping all but the first
    // answer of each second (slip 1: every limited answer is a TC one).
    for limiter in [None, Some(Arc::new(RateLimiter::new(1, 1)))] {
        let limited = limiter.is_some();
        let started = WORKER_ALLOCATIONS.load(Ordering::SeqCst);
        let (addr, stop, thread) = udp_worker(Shared::new(published.clone(), limiter, 56));
        let mut rcodes = Vec::new();
        let n = worker_allocations(started, || rcodes = udp_round(&client, addr, &queries));
        if !limited {
            assert_eq!(rcodes, expected, "the UDP answers");
        }
        assert_eq!(
            n, 0,
            "UDP worker (rate limited: {limited}): {n} allocations"
        );
        stop.cancel();
        thread.join().unwrap();
    }

    // TCP: one connection, every query pipelined.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let shared = Shared::new(published.clone(), None, 56);
    let started = WORKER_ALLOCATIONS.load(Ordering::SeqCst);
    let stop = CancellationToken::new();
    let token = stop.clone();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        WORKER.with(|w| w.set(true));
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            tcp::serve(listener, shared, 0, token).await;
        });
    });
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // Over TCP, AXFR (the last query) goes to the zone-transfer path
    // (`dns::transfer`), which is not the answer path and may allocate;
    // everything else answers as over UDP.
    let answered = &queries[..queries.len() - 1];
    let mut rcodes = Vec::new();
    let n = worker_allocations(started, || rcodes = tcp_round(&mut stream, answered));
    assert_eq!(
        rcodes,
        expected[..answered.len()],
        "{rcodes:?} vs {expected:?}"
    );
    assert_eq!(n, 0, "TCP worker: {n} allocations");
    drop(stream);
    stop.cancel();
    thread.join().unwrap();
}
