//! Differential test: eightfold, NSD and Knot serve the same random zone
//! files and answer the same random queries; their responses are compared
//! section by section.
//!
//! Zones and queries come from a seed (`differential/generate.rs`): every
//! common record type, `@` and relative names in record data, wildcards,
//! delegations with and without glue, CNAME and DNAME chains, empty
//! non-terminals, mixed case, `$INCLUDE`, `$ORIGIN` and `$TTL` midway;
//! queries in, under and around each zone and outside them all, of every
//! type, with flag, class, opcode and EDNS variants, TSIG and malformed
//! packets, over UDP and TCP. The three servers run as real servers on
//! loopback (eightfold's binary through `tests/common`, NSD and Knot
//! through `differential/servers.rs`).
//!
//! A case passes when eightfold's response equals both references' after
//! normalisation (`differential/wire.rs`), or when an entry of
//! `differential/known_differences.toml` explains the difference, with its
//! reason. Where NSD and Knot disagree, eightfold may follow either, and an
//! entry records which. Anything else fails the test, printing the query,
//! the three responses and the seed.
//!
//! CI runs a fixed seed with a modest size. For a longer run by hand:
//!
//! ```sh
//! DIFF_SEED=7 DIFF_CASES=20000 DIFF_ZONES=8 cargo test --test differential -- --nocapture
//! ```
//!
//! `DIFF_SEED` (default 20261204), `DIFF_CASES` (default 1500 queries) and
//! `DIFF_ZONES` (default 4 zones) choose the run; `DIFF_KEEP=DIR` writes the
//! generated zone files there. docs/differential-testing.md says more.
//!
//! Needs `/usr/sbin/nsd` and `/usr/sbin/knotd` (Debian: `apt-get install
//! nsd knot`); without them the test fails rather than skipping.

mod common;
#[path = "differential/generate.rs"]
mod generate;
#[path = "differential/known.rs"]
mod known;
#[path = "differential/servers.rs"]
mod servers;
#[path = "differential/wire.rs"]
mod wire;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use common::Server;
use generate::{Case, Gen};
use known::{Facts, Follows, Known};
use servers::{Kind, Reference, ZoneFiles};
use wire::{Reply, exchange};

/// The CI run: fixed, and small enough for well under two minutes.
const DEFAULT_SEED: u64 = 20_261_204;
const DEFAULT_CASES: usize = 1500;
const DEFAULT_ZONES: usize = 4;
/// Cases in flight at once: most of the time is spent waiting on sockets
/// (a silent server costs a whole timeout).
const WORKERS: usize = 6;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// True when `addr` answers the SOA of `apex` authoritatively.
fn serves(addr: SocketAddr, apex: &str) -> bool {
    let packet = wire::Packet {
        id: 1,
        questions: vec![wire::question(apex, 6, 1)],
        ..wire::Packet::default()
    };
    match Reply::from_bytes(exchange(addr, &packet.bytes(), false)) {
        Reply::Message(m) => m.header.starts_with("op0 NOERROR qr aa") && !m.answer.is_empty(),
        _ => false,
    }
}

/// NSD's one optional addition, removed before comparing.
///
/// With its default `minimal-responses: no`, NSD puts the zone's NS RRset
/// in the authority section of positive answers and the addresses of those
/// name servers in the additional section; both are optional (RFC 2181
/// §5.4.1), and neither Knot nor eightfold adds them. NSD's
/// `minimal-responses: yes` is no reference either: it also drops the
/// addresses of MX, SRV and NS targets, which all three otherwise give.
/// (The same rule as tests/nsd_parity.rs.)
fn without_optional_apex_ns(reply: &mut Reply, apex: Option<&str>) {
    let (Reply::Message(m), Some(apex)) = (reply, apex) else {
        return;
    };
    let positive = m.header.starts_with("op0 NOERROR qr aa") && !m.answer.is_empty();
    // Names with their final dot removed: domain prints some record data
    // names with it and some without.
    let fields = |rr: &String| {
        rr.split(' ')
            .map(|f| f.trim_end_matches('.').to_string())
            .collect::<Vec<_>>()
    };
    let apex = apex.trim_end_matches('.');
    let apex_ns = |rr: &String| {
        let f = fields(rr);
        f.len() == 5 && f[0] == apex && f[3] == "NS"
    };
    if !positive || m.authority.is_empty() || !m.authority.iter().all(apex_ns) {
        return;
    }
    let ns_targets: Vec<String> = m.authority.iter().map(|rr| fields(rr)[4].clone()).collect();
    let answer_targets: Vec<String> = m
        .answer
        .iter()
        .map(fields)
        .filter_map(|f| match f.get(3).map(String::as_str) {
            Some("MX") => f.get(5).cloned(),
            Some("SRV") => f.get(7).cloned(),
            Some("NS") => f.get(4).cloned(),
            _ => None,
        })
        .collect();
    m.authority.clear();
    m.additional.retain(|rr| {
        let f = fields(rr);
        let address = matches!(f.get(3).map(String::as_str), Some("A" | "AAAA"));
        !(address && ns_targets.contains(&f[0]) && !answer_targets.contains(&f[0]))
    });
}

/// The three responses to one case.
struct Outcome {
    ours: Reply,
    nsd: Reply,
    knot: Reply,
}

/// Sets aside the server cookie eightfold returns for a query with a
/// client cookie (RFC 7873; docs/dns.md), after checking its form: the
/// client cookie echoed and a 16-byte RFC 9018 server cookie (version 1,
/// reserved zero). NSD 4.6 and Knot 3.2 in their default configuration
/// ignore cookies, so this is the one part of the OPT where eightfold is
/// expected to differ from both; the cookie's validity is tested in
/// tests/cookies.rs.
fn without_server_cookie(reply: &mut Reply, query: &[u8]) {
    let Some(at) = query.windows(4).position(|w| w == [0, 10, 0, 8]) else {
        return;
    };
    let client: String = query[at + 4..at + 12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let Reply::Message(m) = reply else {
        return;
    };
    let Some(opt) = &mut m.opt else {
        return;
    };
    let prefix = format!("10:{client}");
    let mut options: Vec<&str> = Vec::new();
    let mut seen = false;
    let (head, list) = opt.split_once('[').expect("an options list");
    for option in list.trim_end_matches(']').split_whitespace() {
        if let Some(server) = option.strip_prefix(&prefix) {
            assert!(
                server.len() == 32 && server.starts_with("01000000"),
                "a malformed server cookie: {opt}"
            );
            seen = true;
        } else {
            options.push(option);
        }
    }
    assert!(seen, "no server cookie for a client cookie: {opt}");
    *opt = format!("{head}[{}]", options.join(" "));
}

fn ask_all(case: &Case, ours: SocketAddr, nsd: SocketAddr, knot: SocketAddr) -> Outcome {
    let ask = |addr| Reply::from_bytes(exchange(addr, &case.packet, case.tcp));
    let mut outcome = Outcome {
        ours: ask(ours),
        nsd: ask(nsd),
        knot: ask(knot),
    };
    without_optional_apex_ns(&mut outcome.nsd, case.apex.as_deref());
    without_server_cookie(&mut outcome.ours, &case.packet);
    outcome
}

/// How one case ended.
enum Verdict {
    /// All three equal.
    Same,
    /// Explained by the entry with this id.
    Known(String),
    /// Not explained: a one-line kind (variant, what eightfold follows,
    /// the parts that differ) and the failure text.
    Unexpected(String, String),
}

fn judge(case: &Case, outcome: &Outcome, known: &[Known], seed: u64) -> Verdict {
    let vs_nsd = outcome.ours.differences(&outcome.nsd);
    let vs_knot = outcome.ours.differences(&outcome.knot);
    let (follows, mut parts) = match (vs_nsd.is_empty(), vs_knot.is_empty()) {
        (true, true) => return Verdict::Same,
        (true, false) => (Follows::Nsd, vs_knot),
        (false, true) => (Follows::Knot, vs_nsd),
        (false, false) => {
            let mut all = vs_nsd;
            all.extend(vs_knot);
            (Follows::Neither, all)
        }
    };
    parts.sort();
    parts.dedup();
    let facts = Facts {
        variant: case.variant,
        situation: case.situation,
        qtype: &case.qtype,
        transport: if case.tcp { "tcp" } else { "udp" },
        follows,
        parts: &parts,
    };
    if let Some(entry) = known.iter().find(|k| k.matches(&facts)) {
        return Verdict::Known(entry.id.clone());
    }
    let kind = format!("{} {:?} {follows:?} {parts:?}", case.variant, case.qtype);
    Verdict::Unexpected(
        kind,
        format!(
            "{} (seed {seed}): eightfold follows {follows:?}, differing in {parts:?}\n  \
         eightfold:\n{}  NSD:\n{}  Knot:\n{}",
            case.describe(),
            outcome.ours.render(),
            outcome.nsd.render(),
            outcome.knot.render()
        ),
    )
}

#[test]
fn eightfold_answers_as_nsd_and_knot_do() {
    let seed = env_or("DIFF_SEED", DEFAULT_SEED);
    let count = env_or("DIFF_CASES", DEFAULT_CASES);
    let zone_count = env_or("DIFF_ZONES", DEFAULT_ZONES);
    let known = known::load();

    let mut generator = Gen::new(seed);
    let zones: Vec<generate::Zone> = (0..zone_count).map(|i| generator.zone(i)).collect();
    let cases = generator.cases(&zones, count);
    if let Ok(dir) = std::env::var("DIFF_KEEP") {
        std::fs::create_dir_all(&dir).unwrap();
        for zone in &zones {
            for (name, text) in &zone.files {
                std::fs::write(std::path::Path::new(&dir).join(name), text).unwrap();
            }
        }
    }

    let files: Vec<ZoneFiles> = zones
        .iter()
        .map(|z| ZoneFiles {
            apex: z.apex.clone(),
            files: z.files.clone(),
        })
        .collect();
    let mut config = String::from("[server]\ndata = \"eightfold.db\"\n");
    let mut all_files = Vec::new();
    for zone in &zones {
        config.push_str(&format!(
            "\n[[zone]]\nname = \"{}\"\nfile = \"{}\"\n",
            zone.apex, zone.files[0].0
        ));
        all_files.extend(zone.files.iter().map(|(n, t)| (n.as_str(), t.as_str())));
    }
    let eightfold = Server::start_with_files(&config, &all_files);
    let nsd = Reference::start(Kind::Nsd, &files, &serves);
    let knot = Reference::start(Kind::Knot, &files, &serves);

    let (ours, nsd_addr, knot_addr) = (eightfold.addr(), nsd.addr, knot.addr);
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let chunk = cases.len().div_ceil(WORKERS).max(1);
        let handles: Vec<_> = cases
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|case| ask_all(case, ours, nsd_addr, knot_addr))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });

    let mut same = 0;
    let mut by_entry: BTreeMap<String, usize> = BTreeMap::new();
    // DIFF_SHOW=TEXT lists only the unexpected cases whose kind contains TEXT.
    let show = std::env::var("DIFF_SHOW").ok();
    let mut unexpected = Vec::new();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for (case, outcome) in cases.iter().zip(&outcomes) {
        match judge(case, outcome, &known, seed) {
            Verdict::Same => same += 1,
            Verdict::Known(id) => *by_entry.entry(id).or_default() += 1,
            Verdict::Unexpected(kind, text) => {
                if show.as_deref().is_none_or(|s| kind.contains(s)) {
                    unexpected.push(text);
                }
                *kinds.entry(kind).or_default() += 1;
            }
        }
    }
    // Guards the harness itself: the references must have answered most
    // queries, or the comparison compares nothing.
    let answered = outcomes
        .iter()
        .filter(|o| matches!(o.nsd, Reply::Message(_)) && matches!(o.knot, Reply::Message(_)))
        .count();
    assert!(
        answered * 10 >= cases.len() * 8,
        "only {answered} of {} cases were answered by both NSD and Knot\n{}\n{}",
        cases.len(),
        nsd.logs(),
        knot.logs()
    );

    let explained: usize = by_entry.values().sum();
    let unexplained: usize = kinds.values().sum();
    eprintln!(
        "differential: seed {seed}, {} zones, {} cases: {same} identical, {explained} known \
         differences ({} entries used of {}), {} unexpected",
        zones.len(),
        cases.len(),
        by_entry.len(),
        known.len(),
        unexplained
    );
    for (id, n) in &by_entry {
        eprintln!("  {n:5}  {id}");
    }
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("  {n:5}  {k}")).collect();
    assert!(
        unexplained == 0,
        "{} of {} cases differ from NSD and Knot without a known reason \
         (tests/differential/known_differences.toml); by kind (variant, qtype, \
         eightfold follows, parts):\n{}\nfirst ones:\n\n{}",
        unexplained,
        cases.len(),
        kinds.join("\n"),
        unexpected
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
