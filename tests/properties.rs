//! Property tests (proptest): wire round-trips through the query handler,
//! the routing invariants of SPEC §3 on generated record groups, and
//! lookups on arbitrary names. Also the regression tests of what fuzzing
//! found (FUZZING.md), named after the finding.
//!
//! Case counts are kept low enough for the whole file to run in a few
//! seconds in a debug build; `PROPTEST_CASES=10000 cargo test --test
//! properties` runs more.

use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use domain::base::iana::{Class, OptRcode, Rcode, Rtype};
use domain::base::name::ToLabelIter;
use domain::base::{Message, MessageBuilder, Name, Ttl};
use domain::rdata::AllRecordData;
use eightfold::config::Config;
use eightfold::dns::handler::{MAX_UDP_PAYLOAD, Published, Scratch, Transport, respond};
use eightfold::health::HealthTable;
use eightfold::model::{
    DName, FailoverRole, MULTIVALUE_MAX_ANSWERS, Policy, RData, RecordSpec, ZoneSpec,
};
use eightfold::routing::{Pick, select};
use eightfold::snapshot::{HealthId, NameKey, Record, RecordSet, Snapshot};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;

// ---------------------------------------------------------------------------
// A zone with every kind of answer.

const ZONE: &str = r#"
$ORIGIN example.test.
$TTL 3600
@       SOA   ns1 hostmaster 1 7200 900 1209600 300
@       NS    ns1
ns1     A     192.0.2.53
@       A     192.0.2.10
@       MX    10 mail
mail    A     192.0.2.25
www     A     192.0.2.10
www     A     192.0.2.11
www     AAAA  2001:db8::10
WwW.Mixed A   192.0.2.12
dot\.label A  192.0.2.13
blog    CNAME www
loop1   CNAME loop2
loop2   CNAME loop1
*.apps  A     192.0.2.80
*.apps  TXT   "wildcard"
sub     NS    ns.sub
ns.sub  A     192.0.2.153
dn      DNAME target.example.test.
host.target A 192.0.2.70
unknown TYPE65534 \# 2 abcd
big     TXT   "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big     TXT   "1123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
big     TXT   "2123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
"#;

const CONFIG: &str = r#"
[[health_check]]
id = "h0"
type = "tcp"
ip = "127.0.0.1"
port = 1
[[health_check]]
id = "h1"
type = "tcp"
ip = "127.0.0.1"
port = 2

[[zone]]
name = "example.test."
file = "example.test.zone"

[[zone.record]]
name = "mv"
type = "A"
routing = "multivalue"
set = "a"
value = "10.0.0.1"
health_check = "h0"
[[zone.record]]
name = "mv"
type = "A"
routing = "multivalue"
set = "b"
value = "10.0.0.2"
health_check = "h1"
[[zone.record]]
name = "mv"
type = "A"
routing = "multivalue"
set = "c"
value = "10.0.0.3"
[[zone.record]]
name = "fo"
type = "A"
routing = "failover"
set = "p"
failover = "primary"
value = "10.1.0.1"
health_check = "h0"
[[zone.record]]
name = "fo"
type = "A"
routing = "failover"
set = "s"
failover = "secondary"
value = "10.1.0.2"
[[zone.record]]
name = "wt"
type = "A"
routing = "weighted"
set = "w0"
weight = 0
value = "10.2.0.0"
[[zone.record]]
name = "wt"
type = "A"
routing = "weighted"
set = "w1"
weight = 5
value = "10.2.0.1"
health_check = "h1"

[[zone]]
name = "Other.TEST."
[[zone.record]]
name = "@"
type = "A"
values = ["192.0.2.1"]
"#;

static PUBLISHED: LazyLock<Published> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("example.test.zone"), ZONE).expect("write zone");
    let config = Config::from_toml(&dir.path().join("eightfold.toml"), CONFIG)
        .unwrap_or_else(|d| panic!("test zone invalid:\n{d}"));
    eightfold::publish::publish(&config)
});

/// Labels the generated names are built from: the zone's own, so that most
/// queries hit data, and arbitrary octets for the rest.
const LABELS: &[&[u8]] = &[
    b"example",
    b"test",
    b"www",
    b"mixed",
    b"dot.label",
    b"blog",
    b"loop1",
    b"apps",
    b"x",
    b"sub",
    b"ns",
    b"dn",
    b"host",
    b"target",
    b"unknown",
    b"big",
    b"mv",
    b"fo",
    b"wt",
    b"other",
    b"mail",
    b"*",
    b"nx",
];

/// One label: a zone label in random case, or 1..63 arbitrary octets.
fn label() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => (proptest::sample::select(LABELS), any::<u64>()).prop_map(|(l, case)| {
            l.iter()
                .enumerate()
                .map(|(i, &c)| if case >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c })
                .collect()
        }),
        1 => proptest::collection::vec(any::<u8>(), 1..=63),
    ]
}

/// A name of up to 6 labels ending in one of the zones or in anything,
/// within the 255-octet limit.
fn name() -> impl Strategy<Value = Name<Vec<u8>>> {
    const SUFFIXES: &[&[&[u8]]] = &[
        &[b"example", b"test"],
        &[b"Other", b"TEST"],
        &[b"sub", b"EXAMPLE", b"test"],
        &[b"invalid"],
        &[],
    ];
    let suffix = proptest::sample::select(SUFFIXES);
    (proptest::collection::vec(label(), 0..6), suffix).prop_map(|(labels, suffix)| {
        let mut wire = Vec::new();
        for l in labels
            .iter()
            .map(Vec::as_slice)
            .chain(suffix.iter().copied())
        {
            if wire.len() + l.len() + 2 > 255 {
                break;
            }
            wire.push(l.len() as u8);
            wire.extend_from_slice(l);
        }
        wire.push(0);
        Name::from_octets(wire).expect("valid wire name")
    })
}

fn qtype() -> impl Strategy<Value = Rtype> {
    prop_oneof![
        3 => proptest::sample::select(vec![
            Rtype::A, Rtype::AAAA, Rtype::CNAME, Rtype::MX, Rtype::TXT, Rtype::NS, Rtype::SOA,
            Rtype::DNAME, Rtype::DS, Rtype::ANY, Rtype::AXFR, Rtype::IXFR, Rtype::from_int(65534),
        ]),
        1 => any::<u16>().prop_map(Rtype::from_int),
    ]
}

/// A well-formed query: id, name, type, optional EDNS (payload, DO).
fn query(id: u16, qname: &Name<Vec<u8>>, qtype: Rtype, edns: Option<(u16, bool)>) -> Vec<u8> {
    let mut msg = MessageBuilder::new_vec();
    msg.header_mut().set_id(id);
    msg.header_mut().set_rd(id & 1 == 1);
    let mut q = msg.question();
    q.push((qname, qtype)).expect("question fits");
    let mut add = q.additional();
    if let Some((payload, dnssec_ok)) = edns {
        add.opt(|opt| {
            opt.set_udp_payload_size(payload);
            opt.set_dnssec_ok(dnssec_ok);
            Ok(())
        })
        .expect("opt fits");
    }
    add.into_message().into_octets()
}

fn labels_of<N: ToLabelIter>(n: &N) -> Vec<Vec<u8>> {
    n.iter_labels().map(|l| l.as_slice().to_vec()).collect()
}

/// Parses every section and record of `response`; panics on any error.
fn parse_all(response: &Message<&[u8]>) {
    for q in response.question() {
        q.expect("question parses");
    }
    let mut section = response.answer().expect("answer section parses");
    loop {
        for record in &mut section {
            record
                .expect("record parses")
                .to_any_record::<AllRecordData<_, _>>()
                .expect("record data parses");
        }
        match section.next_section().expect("section parses") {
            Some(next) => section = next,
            None => break,
        }
    }
}

fn answer(
    published: &Published,
    query: &[u8],
    transport: Transport,
    seed: u64,
) -> (Option<Rcode>, Vec<u8>) {
    let mut out = Vec::new();
    let rcode = respond(
        published,
        query,
        transport,
        &mut out,
        &mut Scratch::seeded(seed),
    )
    .map(|a| a.rcode.rcode());
    (rcode, out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    /// Any well-formed query gets a response that parses completely, with
    /// QR set, the ID and RD echoed, the question echoed octet for octet
    /// (case preserved), within the transport's size limit, with an OPT
    /// exactly when the query had one.
    #[test]
    fn any_query_round_trips(
        id in any::<u16>(),
        qname in name(),
        qtype in qtype(),
        edns in proptest::option::of((any::<u16>(), any::<bool>())),
        tcp in any::<bool>(),
        health in any::<[bool; 2]>(),
        seed in any::<u64>(),
    ) {
        let published = &*PUBLISHED;
        published.health.set(0, health[0]);
        published.health.set(1, health[1]);
        let transport = if tcp { Transport::Tcp } else { Transport::Udp };
        let q = query(id, &qname, qtype, edns);
        let (rcode, out) = answer(published, &q, transport, seed);
        let rcode = rcode.expect("a query always gets a response");

        let limit = match (transport, edns) {
            (Transport::Tcp, _) => 65_535,
            (Transport::Udp, None) => 512,
            (Transport::Udp, Some((p, _))) => usize::from(p.clamp(512, MAX_UDP_PAYLOAD)),
        };
        prop_assert!(out.len() <= limit, "{} bytes over {limit}", out.len());

        let response = Message::from_octets(out.as_slice()).expect("header");
        parse_all(&response);
        let header = response.header();
        prop_assert!(header.qr());
        prop_assert_eq!(header.id(), id);
        prop_assert_eq!(header.rd(), id & 1 == 1);
        prop_assert_eq!(header.rcode(), rcode);
        prop_assert_eq!(response.opt().is_some(), edns.is_some());

        let echoed = response.sole_question().expect("question echoed");
        prop_assert_eq!(labels_of(&echoed.qname()), labels_of(&qname));
        prop_assert_eq!(echoed.qtype(), qtype);
        prop_assert_eq!(echoed.qclass(), Class::IN);

        let key = NameKey::new(&qname);
        let in_zone = published.snapshot.find_zone(&key).is_some();
        // No zone transfers, answered as Knot does (docs/dns.md).
        if qtype == Rtype::AXFR && transport == Transport::Udp {
            prop_assert_eq!(response.opt_rcode(), OptRcode::NOTIMP);
        } else if matches!(qtype, Rtype::AXFR | Rtype::IXFR) {
            prop_assert_eq!(response.opt_rcode(), OptRcode::NOTAUTH);
        } else if !in_zone {
            prop_assert_eq!(response.opt_rcode(), OptRcode::REFUSED);
        } else {
            prop_assert!(
                matches!(rcode, Rcode::NOERROR | Rcode::NXDOMAIN | Rcode::YXDOMAIN),
                "{rcode} for {qname} {qtype}"
            );
            // Authoritative, except on a referral (no AA below a cut).
            if header.aa() {
                prop_assert!(!header.tc() || transport == Transport::Udp);
            }
        }
    }

    /// Arbitrary bytes: a response exactly when the packet is at least a
    /// header long with QR clear, and then one that parses with the ID.
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600), tcp in any::<bool>()) {
        let transport = if tcp { Transport::Tcp } else { Transport::Udp };
        let (rcode, out) = answer(&PUBLISHED, &data, transport, 0);
        prop_assert_eq!(rcode.is_some(), data.len() >= 12 && data[2] & 0x80 == 0);
        if rcode.is_some() {
            let response = Message::from_octets(out.as_slice()).expect("header");
            parse_all(&response);
            prop_assert!(response.header().qr());
            prop_assert_eq!(&out[..2], &data[..2]);
            if transport == Transport::Udp {
                prop_assert!(out.len() <= usize::from(MAX_UDP_PAYLOAD));
            }
        }
    }

    /// Lookups on any name, in any zone position, never panic.
    #[test]
    fn snapshot_lookups_never_panic(qname in name(), qtype in qtype()) {
        let key = NameKey::new(&qname);
        prop_assert_eq!(key.as_bytes(), &eightfold::snapshot::name_key(&qname)[..]);
        if let Some((zone, apex)) = PUBLISHED.snapshot.find_zone(&key) {
            let _ = zone.find(&key, apex, qtype);
            let _ = zone.node(&key);
        }
    }
}

// ---------------------------------------------------------------------------
// Routing invariants on generated groups.

/// A generated group: records with an optional check id (into `health`),
/// a weight, and, for failover, distinct roles.
#[derive(Debug, Clone)]
struct Group {
    set: RecordSetDesc,
    health: Vec<bool>,
}

#[derive(Debug, Clone)]
struct RecordSetDesc {
    policy: Policy,
    records: Vec<(Option<HealthId>, u8, Option<FailoverRole>, usize)>,
}

impl RecordSetDesc {
    fn build(&self) -> RecordSet {
        RecordSet {
            rtype: Rtype::A,
            policy: self.policy,
            records: self
                .records
                .iter()
                .enumerate()
                .map(|(i, &(health, weight, failover, values))| Record {
                    set: Some(format!("r{i}").into()),
                    ttl: Ttl::from_secs(60),
                    values: (0..values)
                        .map(|v| RData::A(std::net::Ipv4Addr::new(10, 0, i as u8, v as u8).into()))
                        .collect(),
                    health,
                    failover,
                    weight,
                    alias: None,
                    location: None,
                })
                .collect(),
        }
    }
}

fn group() -> impl Strategy<Value = Group> {
    let health = proptest::collection::vec(any::<bool>(), 1..6);
    health.prop_flat_map(|health| {
        let checks = health.len() as HealthId;
        let check = proptest::option::of(0..checks);
        let weight = prop_oneof![1 => Just(0u8), 3 => any::<u8>()];
        let multi = proptest::collection::vec(
            (check.clone(), Just(0u8), Just(None), Just(1usize)),
            0..=100,
        )
        .prop_map(|r| RecordSetDesc {
            policy: Policy::Multivalue,
            records: r,
        });
        let weighted =
            proptest::collection::vec((check.clone(), weight, Just(None), Just(1usize)), 0..=100)
                .prop_map(|r| RecordSetDesc {
                    policy: Policy::Weighted,
                    records: r,
                });
        let simple = (1usize..=20).prop_map(|n| RecordSetDesc {
            policy: Policy::Simple,
            records: vec![(None, 0, None, n)],
        });
        // Zero, one or both roles, in either order.
        let failover = (check.clone(), check, 0u8..5).prop_map(|(p, s, shape)| {
            let primary = (p, 0, Some(FailoverRole::Primary), 1);
            let secondary = (s, 0, Some(FailoverRole::Secondary), 1);
            let records = match shape {
                0 => vec![],
                1 => vec![primary],
                2 => vec![secondary],
                3 => vec![primary, secondary],
                _ => vec![secondary, primary],
            };
            RecordSetDesc {
                policy: Policy::Failover,
                records,
            }
        });
        let set = prop_oneof![multi, weighted, simple, failover];
        (set, Just(health)).prop_map(|(set, health)| Group { set, health })
    })
}

fn is_healthy(record: &Record, health: &[bool]) -> bool {
    record.health.is_none_or(|h| health[h as usize])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// SPEC §3, checked over several random draws per group.
    #[test]
    fn routing_invariants(g in group(), seed in any::<u64>()) {
        let set = g.set.build();
        let health = &g.health;
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut out: Vec<Pick> = Vec::new();
        let healthy: Vec<bool> = set.records.iter().map(|r| is_healthy(r, health)).collect();
        let any_healthy = healthy.iter().any(|&h| h);
        for _ in 0..8 {
            select(&set, |h| health[h as usize], &eightfold::routing::Unlocated, &mut rng, &mut out);
            for p in &out {
                let r = set.records.get(usize::from(p.record));
                prop_assert!(r.is_some_and(|r| usize::from(p.value) < r.values.len()), "pick out of range {p:?}");
            }
            let mut picked: Vec<(u16, u16)> = out.iter().map(|p| (p.record, p.value)).collect();
            picked.sort_unstable();
            picked.dedup();
            prop_assert_eq!(picked.len(), out.len(), "duplicate pick in {:?}", out);

            match set.policy {
                Policy::Simple => {
                    let n = set.records[0].values.len();
                    prop_assert_eq!(out.len(), n);
                }
                Policy::Multivalue => {
                    prop_assert!(out.len() <= MULTIVALUE_MAX_ANSWERS);
                    let eligible = if any_healthy {
                        healthy.iter().filter(|&&h| h).count()
                    } else {
                        set.records.len()
                    };
                    prop_assert_eq!(out.len(), eligible.min(MULTIVALUE_MAX_ANSWERS));
                    if any_healthy {
                        prop_assert!(out.iter().all(|p| healthy[usize::from(p.record)]), "unhealthy record answered");
                    }
                }
                Policy::Geolocation => {
                    // A client of unknown place gets the default alone.
                    let default = set.records.iter().position(|r| r.location.as_deref() == Some(&eightfold::model::Location::Default));
                    prop_assert_eq!(out.first().map(|p| usize::from(p.record)), default);
                }
                Policy::Failover => {
                    let find = |role| set.records.iter().position(|r| r.failover == Some(role));
                    let (p, s) = (find(FailoverRole::Primary), find(FailoverRole::Secondary));
                    let want = match (p, s) {
                        (Some(p), _) if healthy[p] => Some(p),
                        (_, Some(s)) if healthy[s] => Some(s),
                        (Some(p), _) => Some(p),
                        (None, s) => s,
                    };
                    let got = out.first().map(|p| usize::from(p.record));
                    prop_assert!(out.len() <= 1);
                    prop_assert_eq!(got, want);
                }
                Policy::Weighted => {
                    if set.records.is_empty() {
                        prop_assert!(out.is_empty());
                        continue;
                    }
                    prop_assert_eq!(out.len(), 1);
                    let i = usize::from(out[0].record);
                    let candidate = |j: usize| !any_healthy || healthy[j];
                    prop_assert!(candidate(i), "record {i} is not a candidate");
                    let nonzero = (0..set.records.len()).any(|j| candidate(j) && set.records[j].weight > 0);
                    if nonzero {
                        prop_assert!(set.records[i].weight > 0, "weight-0 record {i} chosen while a non-zero candidate exists");
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Regressions found by fuzzing (FUZZING.md), fixed in `zonefile` (F2, F3)
// and `validate` (F1).

fn apex() -> DName {
    DName::from_str("example.test.").unwrap()
}

fn record_without_values(owner: &str, rtype: Rtype) -> RecordSpec {
    RecordSpec {
        alias: None,
        location: None,
        owner: DName::from_str(owner).unwrap(),
        rtype,
        ttl: Ttl::from_secs(60),
        policy: Policy::Simple,
        set: None,
        values: vec![],
        health_check: None,
        failover: None,
        weight: None,
        origin: None,
    }
}

/// Validates `records`; when accepted, builds the snapshot and answers
/// `qname`/`qtype` over UDP. Must not panic either way.
fn validate_then_serve(records: Vec<RecordSpec>, qname: &str, qtype: Rtype) {
    let spec = ZoneSpec {
        name: apex(),
        records,
    };
    if !eightfold::validate::zone(&spec).is_empty() {
        return;
    }
    let published = Published {
        snapshot: Snapshot::build(std::slice::from_ref(&spec), &|_| None, 1),
        health: Arc::new(HealthTable::new([])),
        ..Default::default()
    };
    let qname = Name::<Vec<u8>>::from_str(qname).unwrap();
    let (rcode, out) = answer(
        &published,
        &query(7, &qname, qtype, None),
        Transport::Udp,
        0,
    );
    assert!(rcode.is_some());
    parse_all(&Message::from_octets(out.as_slice()).unwrap());
}

/// F1 (fuzz target `validate`): `validate::zone` accepts a simple DNAME
/// record with no value; a query below it then panics in the handler
/// (`src/dns/handler.rs`, `&record.values[0]` in the DNAME branch:
/// "index out of bounds: the len is 0 but the index is 0").
#[test]
fn f1_dname_without_value_is_rejected_or_served() {
    validate_then_serve(
        vec![record_without_values("dn.example.test.", Rtype::DNAME)],
        "x.dn.example.test.",
        Rtype::A,
    );
}

/// F1, second face: an SOA with no value at the apex passes validation and
/// panics the snapshot builder (`src/snapshot.rs`, `Zone::build`).
#[test]
fn f1_soa_without_value_is_rejected_or_served() {
    validate_then_serve(
        vec![record_without_values("example.test.", Rtype::SOA)],
        "example.test.",
        Rtype::SOA,
    );
}

/// F1, the rule itself: every record has at least one value.
#[test]
fn f1_validator_rejects_records_without_values() {
    for rtype in [
        Rtype::A,
        Rtype::CNAME,
        Rtype::DNAME,
        Rtype::SOA,
        Rtype::NS,
        Rtype::TXT,
    ] {
        let owner = if rtype == Rtype::SOA {
            "example.test."
        } else {
            "x.example.test."
        };
        let spec = ZoneSpec {
            name: apex(),
            records: vec![record_without_values(owner, rtype)],
        };
        assert!(
            !eightfold::validate::zone(&spec).is_empty(),
            "{rtype} with no value accepted"
        );
    }
}

/// F2 (fuzz target `zonefile`, 8-byte inputs `o TXT(d\n`, `i TXT m;`,
/// `G TXT 2 `): a character string that runs into the end of the input,
/// inside a parenthesis left open or followed by a blank or a comment with
/// no final newline, panics `domain` 0.12.3's scanner (`zonefile/inplace.rs:1076`,
/// "index out of bounds: the len is 3 but the index is 3") instead of
/// returning an error. `eightfold check` prints a panic backtrace for such
/// a file, e.g. one whose last line is `info TXT "hello" ; comment` with no
/// final newline.
#[test]
fn f2_zone_file_string_running_into_the_end_is_an_error() {
    // Unclosed delimiters are errors with a location.
    for text in [
        "o TXT(d\n",
        "o TXT (d\n",
        "o TXT(dd\n",
        "o TXT \"a\"(d\n",
        "o TXT(\"d\"\n",
        ";)\nn TXT(n\n",
        "o TXT \"open\n",
    ] {
        let result = std::panic::catch_unwind(|| {
            eightfold::zonefile::parse_text(Path::new("fuzz.zone"), text, &apex())
        });
        assert!(
            matches!(result, Ok(Err(_))),
            "{text:?}: expected a located error, got {}",
            if result.is_err() {
                "a panic"
            } else {
                "success"
            }
        );
    }
    // A last record with no final newline is fine: it is read, not a panic.
    for (text, want) in [
        ("i TXT m;", "\"m\""),
        ("G TXT 2 ", "\"2\""),
        ("i TXT \"m\";", "\"m\""),
        (
            "$ORIGIN example.test.\nwww A 192.0.2.1\ninfo TXT \"hello\" ; last line, no newline",
            "\"hello\"",
        ),
    ] {
        let result = std::panic::catch_unwind(|| {
            eightfold::zonefile::parse_text(Path::new("fuzz.zone"), text, &apex())
        });
        let records = match result {
            Ok(Ok(records)) => records,
            Ok(Err(e)) => panic!("{text:?}: {e}"),
            Err(_) => panic!("{text:?}: a panic"),
        };
        let txt = records.iter().find(|r| r.rtype == Rtype::TXT).unwrap();
        assert_eq!(txt.values[0].to_string(), want, "{text:?}");
    }
}

/// F2 through the API's path: `zonefile::parse_value` (which the change
/// batch and `[[zone.record]]` values go through) lets a value with a
/// quote and an open parenthesis reach the scanner, which panics. One
/// JSON change `{"type": "TXT", "values": ["\"a\"(d"]}` is enough.
#[test]
fn f2_record_value_with_unclosed_parenthesis_is_an_error() {
    for value in ["\"a\"(d", "\"a\" (d", "(\"d\"", "\"\"(d"] {
        let result = std::panic::catch_unwind(|| {
            eightfold::zonefile::parse_value(&apex(), Rtype::TXT, value)
        });
        assert!(
            matches!(result, Ok(Err(_))),
            "{value:?}: expected an error, got {}",
            if result.is_err() {
                "a panic"
            } else {
                "success"
            }
        );
    }
}

/// F3 (fuzz target `zonefile`, minimised input `s NAPTR 0 1"""". _..\n`):
/// a name with an empty label (`a..`, `a..b`) in record data is accepted
/// by `domain`'s scanner, through `zonefile::parse_text` and
/// `zonefile::parse_value`, and kept as a name whose wire form has a root
/// label in the middle (`a..b` composes as `01 61 00 01 62 ...`). The
/// record is served with RDATA that no client can parse ("trailing data"),
/// so the whole response is unreadable. Owner names are not affected
/// (`config::owner_name` reports "empty label").
#[test]
fn f3_record_data_name_with_empty_label_is_rejected() {
    let cases = [
        (Rtype::CNAME, "a.."),
        (Rtype::CNAME, "a..b"),
        (Rtype::CNAME, "a..b."),
        (Rtype::MX, "10 a.."),
        (Rtype::PTR, "x.."),
        (Rtype::NS, "ns.."),
        (Rtype::SRV, "1 2 3 t.."),
        (Rtype::DNAME, "d.."),
        (Rtype::NAPTR, "0 1 \"\" \"\" \".\" _.."),
    ];
    for (rtype, value) in cases {
        assert!(
            eightfold::zonefile::parse_value(&apex(), rtype, value).is_err(),
            "{rtype} {value:?} accepted"
        );
    }
}

/// F3 end to end: the zone file the fuzzer found, when accepted, must be
/// served with a response that parses.
#[test]
fn f3_zone_file_name_with_empty_label_is_rejected_or_served_well_formed() {
    for text in [
        "s NAPTR 0 1\"\"\"\". _..\n",
        "c CNAME a..b\n",
        "m MX 10 a..\n",
    ] {
        let Ok(records) = eightfold::zonefile::parse_text(Path::new("fuzz.zone"), text, &apex())
        else {
            continue;
        };
        let (owner, rtype) = (records[0].owner.to_string(), records[0].rtype);
        validate_then_serve(records, &format!("{owner}."), rtype);
    }
}

/// F4 (fuzz target `zonefile`): an `$ORIGIN` with an empty label made
/// owner names with a root label inside them, which panicked later in
/// `domain`'s name handling. Now a located error.
#[test]
fn f4_origin_with_an_empty_label_is_an_error() {
    let text = "$ORIGIN sub.2..0137.example.test.\nmanyaddr A 192.0.2.138\n";
    let result = eightfold::zonefile::parse_text(Path::new("fuzz.zone"), text, &apex());
    let err = result
        .expect_err("a malformed owner is refused")
        .to_string();
    assert!(err.contains("malformed owner name"), "{err}");
}
