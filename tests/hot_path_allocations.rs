//! The hot path allocates nothing: `handler::respond` is driven directly
//! (no sockets) under a counting global allocator, for every kind of answer
//! the server gives, and must make zero heap allocations per query once its
//! buffers are warm (ARCHITECTURE.md, "Architecture invariants").
//!
//! The counter is per thread, so tests running in parallel in this binary
//! (and the test harness itself) do not disturb each other's counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use eightfold::config::Config;
use eightfold::dns::handler::{self, Published, Scratch, Transport};
use eightfold::publish::publish;

struct Counting;

thread_local! {
    // `const` initialisers without destructors: touching them never
    // allocates, so the allocator may read them.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: the slot may already be gone while a thread exits.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
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

/// The config: the zone file above plus routed groups over checks that
/// are never run (publish only builds the table; tests set it by hand).
fn config(dir: &Path) -> Config {
    let mut zone = ZONE_FILE.to_owned();
    for i in 0..1000 {
        zone.push_str(&format!("h{i} A 10.0.{}.{}\n", i / 256, i % 256));
    }
    // Forty 100-byte strings: far more than 512 or 1232 bytes.
    for i in 0..40 {
        zone.push_str(&format!("big TXT \"{i:02}{}\"\n", "x".repeat(98)));
    }
    std::fs::write(dir.join("example.test.zone"), zone).unwrap();

    let mut toml = String::new();
    for i in 0..16 {
        toml.push_str(&format!(
            "[[health_check]]\nid = \"c{i}\"\ntype = \"tcp\"\nip = \"127.0.0.1\"\nport = 9\n\n"
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
    let path = dir.join("eightfold.toml");
    match Config::from_toml(&path, &toml) {
        Ok(c) => c,
        Err(d) => panic!("bad test config: {d:?}"),
    }
}

fn published() -> (Published, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let published = publish(&config(dir.path()));
    // Three of the twelve multivalue records down, the failover primary
    // down, one weighted record down.
    for id in [1, 5, 9, 12, 14] {
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
