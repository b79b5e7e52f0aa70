//! The change-batch rule engine: records built from fuzzed fields, the
//! way the API will build them (`config::owner_name` for the name,
//! `zonefile::parse_value` for each value), checked by
//! `validate::zone`. Whatever it accepts must then build a snapshot and
//! be served without a panic and with well-formed responses.
#![no_main]

use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use arbitrary::Arbitrary;
use domain::base::iana::Rtype;
use domain::base::{MessageBuilder, Ttl};
use eightfold::dns::handler::{Published, Transport};
use eightfold::health::HealthTable;
use eightfold::model::{DName, FailoverRole, Policy, RecordSpec, ZoneSpec};
use eightfold::snapshot::Snapshot;
use libfuzzer_sys::fuzz_target;

/// Owner names the fuzzer picks by index, so that groups and CNAME
/// conflicts form often; `Owner::Text` covers the name parser.
const OWNERS: &[&str] = &[
    "@", "www", "WWW", "a.b", "*", "*.w", "x.www", "sub", "ns.sub",
];
/// Types picked by index; `Type::Code` covers the rest.
const TYPES: &[Rtype] = &[
    Rtype::A,
    Rtype::AAAA,
    Rtype::CNAME,
    Rtype::MX,
    Rtype::TXT,
    Rtype::SRV,
    Rtype::CAA,
    Rtype::PTR,
    Rtype::NAPTR,
    Rtype::NS,
    Rtype::SOA,
    Rtype::DNAME,
    Rtype::DS,
    Rtype::HINFO,
];
/// Values that parse for some of the types above.
const VALUES: &[&str] = &[
    "192.0.2.1",
    "192.0.2.2",
    "2001:db8::1",
    "www",
    "target.example.net.",
    "10 mail",
    "\"text\"",
    "10 20 443 www",
    "0 issue \"ca.example\"",
    "100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp",
    "ns1 hostmaster 1 2 3 4 5",
    "12345 8 2 0123456789abcdef",
    "\"PC\" \"Linux\"",
];

#[derive(Arbitrary, Debug)]
enum Owner {
    Pick(u8),
    Text(String),
}

#[derive(Arbitrary, Debug)]
enum Type {
    Pick(u8),
    Code(u16),
}

#[derive(Arbitrary, Debug)]
enum Value {
    Pick(u8),
    Text(String),
}

#[derive(Arbitrary, Debug)]
struct Rec {
    owner: Owner,
    rtype: Type,
    ttl: u32,
    policy: u8,
    set: Option<String>,
    values: Vec<Value>,
    health_check: Option<u8>,
    failover: Option<bool>,
    weight: Option<u8>,
}

#[derive(Arbitrary, Debug)]
struct Batch {
    records: Vec<Rec>,
    health: u8,
}

fn apex() -> &'static DName {
    static APEX: OnceLock<DName> = OnceLock::new();
    APEX.get_or_init(|| DName::from_str("example.test.").unwrap())
}

fn build(r: &Rec) -> Option<RecordSpec> {
    let owner = match &r.owner {
        Owner::Pick(i) => OWNERS[usize::from(*i) % OWNERS.len()],
        Owner::Text(s) => s.as_str(),
    };
    let owner = eightfold::config::owner_name(apex(), owner).ok()?;
    let rtype = match r.rtype {
        Type::Pick(i) => TYPES[usize::from(i) % TYPES.len()],
        Type::Code(c) => Rtype::from_int(c),
    };
    let mut values = Vec::new();
    for v in r.values.iter().take(12) {
        let text = match v {
            Value::Pick(i) => VALUES[usize::from(*i) % VALUES.len()],
            Value::Text(s) => s.as_str(),
        };
        values.push(eightfold::zonefile::parse_value(apex(), rtype, text).ok()?);
    }
    let policy = [
        Policy::Simple,
        Policy::Multivalue,
        Policy::Failover,
        Policy::Weighted,
    ][usize::from(r.policy % 4)];
    Some(RecordSpec {
        owner,
        rtype,
        ttl: Ttl::from_secs(r.ttl),
        policy,
        set: r.set.clone(),
        values,
        health_check: r.health_check.map(|h| format!("h{}", h % 4)),
        failover: r.failover.map(|p| {
            if p {
                FailoverRole::Primary
            } else {
                FailoverRole::Secondary
            }
        }),
        weight: r.weight,
        origin: None,
    })
}

fuzz_target!(|batch: Batch| {
    let records: Vec<RecordSpec> = batch.records.iter().take(64).filter_map(build).collect();
    let spec = ZoneSpec {
        name: apex().clone(),
        records,
    };
    let problems = eightfold::validate::zone(&spec);
    if !problems.is_empty() {
        return;
    }
    let health = Arc::new(HealthTable::new((0..4).map(|i| batch.health >> i & 1 == 1)));
    let published = Published {
        snapshot: Snapshot::build(
            std::slice::from_ref(&spec),
            &|id| id.strip_prefix('h').and_then(|n| n.parse().ok()),
            1,
        ),
        health,
        ..Default::default()
    };
    for (i, r) in spec.records.iter().enumerate().take(16) {
        for qtype in [r.rtype, Rtype::A, Rtype::ANY] {
            let mut msg = MessageBuilder::new_vec();
            msg.header_mut().set_id(i as u16);
            let mut q = msg.question();
            if q.push((&r.owner, qtype)).is_err() {
                continue;
            }
            let query = q.into_message().into_octets();
            eightfold_fuzz::check(&published, &query, Transport::Udp);
            eightfold_fuzz::check(&published, &query, Transport::Tcp);
        }
    }
});
