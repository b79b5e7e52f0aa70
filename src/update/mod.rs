//! Dynamic update (RFC 2136), TSIG only: an UPDATE signed with a
//! configured key whose `update` rules allow every name and type it
//! touches becomes one change batch, applied through
//! [`Service::apply_planned`] (one store transaction, all or nothing), so
//! the change shows in the JSON and Route 53 APIs like any other.
//!
//! ```text
//!   UPDATE ─► TSIG verified ─► sections read (FORMERR, NOTZONE)
//!          ─► key's rules (REFUSED) ─► under the service lock:
//!             prerequisites (§3.2) ─► updates (§3.4) ─► one batch
//! ```
//!
//! Only simple record sets change this way: a name and type with a
//! routing policy is refused whole (Route 53's rule that routed and
//! simple sets do not mix), and file zones are the config file's
//! (NOTAUTH).

mod rules;

pub use rules::{UpdateRule, allowed};

use std::collections::BTreeMap;
use std::net::IpAddr;

use bytes::Bytes;
use domain::base::iana::{Class, Rcode, Rtype};
use domain::base::message_builder::StaticCompressor;
use domain::base::name::FlattenInto;
use domain::base::{Message, MessageBuilder, ParsedName, ToName};
use domain::rdata::ZoneRecordData;
use domain::rdata::tsig::Time48;

use crate::dns::cookie;
use crate::dns::handler::{MAX_UDP_PAYLOAD, push_cookie, write_tsig_error};
use crate::dns::signed::{self, Verified};
use crate::dns::update::Updater;
use crate::input::RecordInput;
use crate::model::{DName, Policy, RData, RecordSpec, ZoneSpec};
use crate::nameservers::NameServers;
use crate::service::{Action, Change, ChangeBatch, Service, ServiceError};

impl Updater for Service {
    fn update(&self, request: &[u8], client: IpAddr) -> Vec<u8> {
        respond(self, request, client)
    }
}

/// Why an update is not applied: the rcode, and a line for the log.
type Refusal = (Rcode, String);

/// One record of the update or prerequisite section, read.
struct Rr {
    owner: DName,
    rtype: Rtype,
    class: Class,
    ttl: u32,
    /// `None` when the record has no data (rdlength 0).
    data: Option<RData>,
}

/// What the response's OPT carries: written when the request had an OPT
/// (RFC 6891 §7), as the answer path writes it.
struct Edns {
    dnssec_ok: bool,
    cookie: Option<[u8; cookie::RESPONSE_LEN]>,
}

/// The response to the UPDATE `request` from `client`; empty when it is
/// not a message.
pub fn respond(service: &Service, request: &[u8], client: IpAddr) -> Vec<u8> {
    let mut out = Vec::new();
    let Ok(msg) = Message::from_octets(request) else {
        return out;
    };
    let published = service.published().load_full();
    let keys = published.keys.clone();
    let edns = msg.opt().map(|opt| Edns {
        dnssec_ok: opt.dnssec_ok(),
        cookie: cookie::for_request(&msg, client, &published.cookie_secret),
    });
    let signed = msg
        .additional()
        .ok()
        .and_then(|mut a| a.find_map(|r| r.ok().filter(|r| r.rtype() == Rtype::TSIG)))
        .is_some();
    // Refusals before a key is known are logged at debug only: anyone
    // can send them, from any (spoofed) address, to flood the log.
    let signer = match signed::verify(&keys, request) {
        Verified::Signed(s) => *s,
        Verified::UnknownKey if signed => {
            tracing::debug!(
                "dynamic update refused: signed with a key that is not configured (BADKEY)"
            );
            write_tsig_error(&msg, false, &mut out);
            return out;
        }
        Verified::UnknownKey => {
            tracing::debug!(
                "dynamic update refused: not signed; sign it with a [[tsig_key]] that has update rules"
            );
            write_response(&msg, Rcode::REFUSED, edns.as_ref(), None, &mut out);
            return out;
        }
        Verified::BadSignature => {
            tracing::debug!("dynamic update refused: bad TSIG signature (BADSIG)");
            write_tsig_error(&msg, true, &mut out);
            return out;
        }
        Verified::Refused(e) => {
            tracing::debug!("dynamic update refused: {e:?}");
            signed::write_refusal(*e, &msg, &mut out);
            return out;
        }
    };
    let key: DName = signer.key().name().to_name();
    let rcode = match apply(service, &msg, &key) {
        Ok(zone) => {
            tracing::info!(key = %key, zone = %zone, "dynamic update applied");
            Rcode::NOERROR
        }
        Err((rcode, why)) => {
            tracing::info!(key = %key, %rcode, "dynamic update not applied: {why}");
            rcode
        }
    };
    write_response(&msg, rcode, edns.as_ref(), Some(signer), &mut out);
    out
}

/// Writes the response: header, zone section, an OPT when the request had
/// one, the signature (last, RFC 8945 §5.3) if any.
fn write_response(
    msg: &Message<&[u8]>,
    rcode: Rcode,
    edns: Option<&Edns>,
    signer: Option<signed::Signer>,
    out: &mut Vec<u8>,
) {
    out.clear();
    let builder =
        MessageBuilder::from_target(StaticCompressor::new(&mut *out)).expect("empty buffer");
    let Ok(answer) = builder.start_answer(msg, rcode) else {
        return;
    };
    let mut additional = answer.additional();
    if let Some(edns) = edns {
        let _ = additional.opt(|opt| {
            opt.set_udp_payload_size(MAX_UDP_PAYLOAD);
            opt.set_dnssec_ok(edns.dnssec_ok);
            push_cookie(opt, edns.cookie.as_ref())
        });
    }
    if let Some(signer) = signer {
        let _ = signer.answer(&mut additional, Time48::now());
    }
}

/// Checks and applies the update signed by `key`; returns the zone.
fn apply(service: &Service, msg: &Message<&[u8]>, key: &DName) -> Result<String, Refusal> {
    let formerr = |why: &str| (Rcode::FORMERR, why.to_string());
    if msg.header_counts().qdcount() != 1 {
        return Err(formerr("the zone section must hold exactly one zone"));
    }
    let zone = msg
        .sole_question()
        .map_err(|_| formerr("unreadable zone section"))?;
    if zone.qtype() != Rtype::SOA || zone.qclass() != Class::IN {
        return Err(formerr(
            "the zone section must name the zone with type SOA, class IN",
        ));
    }
    let apex: DName = zone.qname().to_name();
    let zone_text = apex.fmt_with_dot().to_string();
    let owned = Message::from_octets(Bytes::copy_from_slice(msg.as_slice()))
        .map_err(|_| formerr("unreadable message"))?;
    let prerequisites = read_section(&owned, Section::Prerequisite, &apex)?;
    let updates = read_section(&owned, Section::Update, &apex)?;
    let rules = service.update_rules(key);
    for u in &updates {
        let rtype = u.rtype;
        if !allowed(&rules, &u.owner, rtype) {
            return Err((
                Rcode::REFUSED,
                format!(
                    "key {key} may not change {} {rtype} (no update rule of its [[tsig_key]] allows it)",
                    u.owner.fmt_with_dot()
                ),
            ));
        }
    }
    let nameservers = service.nameservers();
    let planned = service.apply_planned(&zone_text, |records| {
        plan(&apex, records, &nameservers, &prerequisites, &updates, key)
    });
    match planned {
        Ok(Ok(_)) => Ok(zone_text),
        Ok(Err(refusal)) => Err(refusal),
        Err(ServiceError::Conflict { message, .. }) => Err((
            Rcode::NOTAUTH,
            format!("{message}; dynamic update changes only API-managed zones"),
        )),
        Err(ServiceError::NotFound { .. }) => {
            Err((Rcode::NOTAUTH, format!("no API-managed zone {zone_text}")))
        }
        Err(ServiceError::Invalid { details, .. }) => Err((
            Rcode::REFUSED,
            format!("the zone would be invalid: {}", details.join("; ")),
        )),
        Err(e) => Err((Rcode::SERVFAIL, e.to_string())),
    }
}

#[derive(Clone, Copy)]
enum Section {
    Prerequisite,
    Update,
}

/// Reads the prerequisite or update section, with RFC 2136's checks on
/// class, TTL and data (§3.2, §3.4.1.2): FORMERR, or NOTZONE for a name
/// outside the zone.
fn read_section(msg: &Message<Bytes>, section: Section, apex: &DName) -> Result<Vec<Rr>, Refusal> {
    let formerr = |why: String| (Rcode::FORMERR, why);
    let records = match section {
        Section::Prerequisite => msg.answer(),
        Section::Update => msg.authority(),
    }
    .map_err(|_| formerr("unreadable message".into()))?;
    let mut out = Vec::new();
    for record in records {
        let record = record.map_err(|_| formerr("unreadable record".into()))?;
        let owner: DName = record.owner().to_name();
        let rtype = record.rtype();
        let class = record.class();
        let ttl = record.ttl().as_secs();
        let shown = format!("{} {rtype}", owner.fmt_with_dot());
        if !owner.ends_with(apex) {
            return Err((
                Rcode::NOTZONE,
                format!("{shown} is outside zone {}", apex.fmt_with_dot()),
            ));
        }
        let data = if record.rdlen() == 0 {
            None
        } else {
            let parsed = record
                .to_record::<ZoneRecordData<Bytes, ParsedName<Bytes>>>()
                .ok()
                .flatten()
                .ok_or_else(|| formerr(format!("{shown}: unreadable data")))?;
            let data: RData = parsed
                .data()
                .clone()
                .try_flatten_into()
                .map_err(|_| formerr(format!("{shown}: unreadable data")))?;
            Some(data)
        };
        let meta = matches!(
            rtype,
            Rtype::ANY | Rtype::AXFR | Rtype::IXFR | Rtype::MAILA | Rtype::MAILB
        );
        let ok = match (section, class) {
            (Section::Prerequisite, Class::IN) => ttl == 0 && !meta && data.is_some(),
            (Section::Update, Class::IN) => !meta && data.is_some(),
            (Section::Prerequisite, Class::ANY | Class::NONE) => ttl == 0 && data.is_none(),
            (Section::Update, Class::ANY) => {
                ttl == 0
                    && data.is_none()
                    && !matches!(
                        rtype,
                        Rtype::AXFR | Rtype::IXFR | Rtype::MAILA | Rtype::MAILB
                    )
            }
            (Section::Update, Class::NONE) => ttl == 0 && !meta && data.is_some(),
            _ => false,
        };
        if !ok {
            return Err(formerr(format!(
                "{shown} class {class} is not a valid {} record",
                match section {
                    Section::Prerequisite => "prerequisite",
                    Section::Update => "update",
                }
            )));
        }
        out.push(Rr {
            owner,
            rtype,
            class,
            ttl,
            data,
        });
    }
    Ok(out)
}

/// One name and type as the update goes.
struct Group {
    /// Its simple record before the update, if it has one.
    before: Option<RecordInput>,
    ttl: u32,
    values: Vec<RData>,
    touched: bool,
}

/// Checks the prerequisites against the zone as served (its `records`
/// and what `nameservers` adds to a zone without an apex NS) and turns
/// the updates into a change batch (`None`: nothing changes).
fn plan(
    apex: &DName,
    records: &[RecordInput],
    nameservers: &NameServers,
    prerequisites: &[Rr],
    updates: &[Rr],
    key: &DName,
) -> Result<Option<ChangeBatch>, Refusal> {
    let specs: Vec<(&RecordInput, RecordSpec)> = records
        .iter()
        .filter_map(|r| Some((r, r.to_spec(apex, &|_| true).ok()?)))
        .collect();
    // Prerequisites are about what the zone serves (RFC 2136 §3.2): the
    // NS set and in-zone name server addresses it is given count as its
    // own records do. Updates touch only the declared records.
    let generated = nameservers.generated(&ZoneSpec {
        name: apex.clone(),
        records: specs.iter().map(|(_, s)| s.clone()).collect(),
    });
    let served = || specs.iter().map(|(_, s)| s).chain(generated.iter());
    let lower = |n: &DName| n.fmt_with_dot().to_string().to_ascii_lowercase();
    let apex_key = lower(apex);
    let name_in_use = |owner: &DName| {
        let k = lower(owner);
        k == apex_key || served().any(|s| lower(&s.owner) == k)
    };
    let values_of = |owner: &DName, rtype: Rtype| -> Vec<&RData> {
        let k = lower(owner);
        served()
            .filter(|s| lower(&s.owner) == k && s.rtype == rtype)
            .flat_map(|s| s.values.iter())
            .collect()
    };
    // The apex's SOA is generated, not a record: it always exists.
    let set_exists = |owner: &DName, rtype: Rtype| {
        (rtype == Rtype::SOA && lower(owner) == apex_key) || !values_of(owner, rtype).is_empty()
    };
    // §3.2: value-independent prerequisites one by one, value-dependent
    // ones compared as whole sets per name and type.
    let mut wanted: BTreeMap<(String, Rtype), (DName, Vec<&RData>)> = BTreeMap::new();
    for p in prerequisites {
        let shown = format!("{} {}", p.owner.fmt_with_dot(), p.rtype);
        match (p.class, p.rtype) {
            (Class::ANY, Rtype::ANY) if !name_in_use(&p.owner) => {
                return Err((
                    Rcode::NXDOMAIN,
                    format!(
                        "prerequisite failed: {} is not in use",
                        p.owner.fmt_with_dot()
                    ),
                ));
            }
            (Class::ANY, t) if t != Rtype::ANY && !set_exists(&p.owner, t) => {
                return Err((
                    Rcode::NXRRSET,
                    format!("prerequisite failed: {shown} does not exist"),
                ));
            }
            (Class::NONE, Rtype::ANY) if name_in_use(&p.owner) => {
                return Err((
                    Rcode::YXDOMAIN,
                    format!("prerequisite failed: {} is in use", p.owner.fmt_with_dot()),
                ));
            }
            (Class::NONE, t) if t != Rtype::ANY && set_exists(&p.owner, t) => {
                return Err((
                    Rcode::YXRRSET,
                    format!("prerequisite failed: {shown} exists"),
                ));
            }
            (Class::IN, t) => {
                let entry = wanted
                    .entry((lower(&p.owner), t))
                    .or_insert_with(|| (p.owner.clone(), Vec::new()));
                if let Some(d) = &p.data
                    && !entry.1.contains(&d)
                {
                    entry.1.push(d);
                }
            }
            _ => {}
        }
    }
    for ((_, rtype), (owner, values)) in &wanted {
        let have = values_of(owner, *rtype);
        let same = have.len() == values.len() && have.iter().all(|v| values.contains(v));
        if !same {
            return Err((
                Rcode::NXRRSET,
                format!(
                    "prerequisite failed: {} {rtype} does not hold exactly the values given",
                    owner.fmt_with_dot()
                ),
            ));
        }
    }
    // §3.4.2: the updates, in order, on the groups they touch.
    let mut groups: BTreeMap<(String, Rtype), (DName, Group)> = BTreeMap::new();
    let group = |groups: &mut BTreeMap<(String, Rtype), (DName, Group)>,
                 owner: &DName,
                 rtype: Rtype|
     -> Result<(), Refusal> {
        let k = (lower(owner), rtype);
        if groups.contains_key(&k) {
            return Ok(());
        }
        let here: Vec<&(&RecordInput, RecordSpec)> = specs
            .iter()
            .filter(|(_, s)| lower(&s.owner) == k.0 && s.rtype == rtype)
            .collect();
        if let Some((_, routed)) = here.iter().find(|(_, s)| s.policy != Policy::Simple) {
            return Err((
                Rcode::REFUSED,
                format!(
                    "{} {rtype} has {} routing; routed record sets change through the API only",
                    owner.fmt_with_dot(),
                    routed.policy.as_str()
                ),
            ));
        }
        let g = match here.first() {
            Some((input, spec)) => Group {
                before: Some((*input).clone()),
                ttl: spec.ttl.as_secs(),
                values: spec.values.clone(),
                touched: false,
            },
            None => Group {
                before: None,
                ttl: 0,
                values: Vec::new(),
                touched: false,
            },
        };
        groups.insert(k, (owner.clone(), g));
        Ok(())
    };
    for u in updates {
        let types: Vec<Rtype> = if u.rtype == Rtype::ANY {
            // Every type at the name, but the apex's NS and SOA (§3.4.2.3).
            let k = lower(&u.owner);
            let mut t: Vec<Rtype> = specs
                .iter()
                .filter(|(_, s)| lower(&s.owner) == k)
                .map(|(_, s)| s.rtype)
                .filter(|t| k != apex_key || !matches!(*t, Rtype::NS | Rtype::SOA))
                .collect();
            t.sort_by_key(|t| t.to_int());
            t.dedup();
            t
        } else {
            vec![u.rtype]
        };
        for rtype in types {
            if rtype == Rtype::SOA {
                return Err((
                    Rcode::REFUSED,
                    "the SOA is eightfold's and cannot be updated".into(),
                ));
            }
            group(&mut groups, &u.owner, rtype)?;
            let (_, g) = groups
                .get_mut(&(lower(&u.owner), rtype))
                .expect("just made");
            g.touched = true;
            match (u.class, &u.data) {
                (Class::IN, Some(d)) => {
                    if !g.values.contains(d) {
                        g.values.push(d.clone());
                    }
                    g.ttl = u.ttl;
                }
                (Class::ANY, _) => g.values.clear(),
                (Class::NONE, Some(d)) => g.values.retain(|v| v != d),
                _ => {}
            }
        }
    }
    let mut changes = Vec::new();
    for ((_, rtype), (owner, g)) in groups {
        if !g.touched {
            continue;
        }
        let after = |action| Change {
            action,
            record: RecordInput {
                name: owner.fmt_with_dot().to_string(),
                rtype: rtype.to_string(),
                ttl: Some(i64::from(g.ttl)),
                routing: None,
                set: None,
                value: None,
                values: Some(g.values.iter().map(|v| v.to_string()).collect()),
                health_check: None,
                failover: None,
                weight: None,
                ..RecordInput::default()
            },
        };
        match (&g.before, g.values.is_empty()) {
            (None, true) => {}
            (None, false) => changes.push(after(Action::Create)),
            (Some(before), true) => changes.push(Change {
                action: Action::Delete,
                record: before.clone(),
            }),
            (Some(_), false) => changes.push(after(Action::Upsert)),
        }
    }
    if changes.is_empty() {
        return Ok(None);
    }
    Ok(Some(ChangeBatch {
        changes,
        comment: Some(format!("dynamic update signed by {}", key.fmt_with_dot())),
    }))
}
