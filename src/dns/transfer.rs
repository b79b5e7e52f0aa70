//! One outgoing transfer: AXFR (RFC 5936), and IXFR (RFC 1995) answered
//! with the differences the journal (`xfr::journal`) holds from the
//! client's serial, or with the whole zone when it holds none (RFC 1995
//! §4 allows it), as a sequence of TCP messages, each signed when the
//! request was (RFC 8945 §5.3.1). Over UDP an allowed IXFR gets the SOA
//! alone, so the client asks again over TCP (RFC 1995 §2).
//!
//! What a secondary receives is what the zone answers now: simple records
//! as declared; of a routed group, the records a query may be answered with
//! at this moment, by the one rule of `routing::Group` (through [`routing::zone_now`]) (multivalue:
//! every healthy record, or all when none is; failover: the active record;
//! weighted: the healthy records of weight above 0). docs/dns.md says what
//! this means for a secondary's answers.

use std::net::IpAddr;

use domain::base::iana::{Class, Opcode, OptRcode, OptionCode, Rcode, Rtype, TsigRcode};
use domain::base::message_builder::StaticCompressor;
use domain::base::wire::Compose;
use domain::base::{Message, MessageBuilder, Serial, UnknownRecordData};
use domain::rdata::tsig::Time48;
use domain::tsig::ServerError;

use super::handler::Published;
use super::signed::{self, SequenceSigner};
use crate::model::DName;
use crate::routing::{self, Current};
use crate::snapshot::NameKey;
use crate::xfr::journal::Wire;

/// Extended DNS Error 18, Prohibited (RFC 8914 §4.19).
const EDE_PROHIBITED: u16 = 18;

/// Largest message of a transfer: the TCP maximum.
const MAX_MESSAGE: usize = u16::MAX as usize;

/// Whether `request` asks for a transfer (AXFR or IXFR, opcode QUERY):
/// what the TCP listener hands to [`Transfer`] instead of the responder.
pub fn is_transfer(request: &[u8]) -> bool {
    let Ok(msg) = Message::from_octets(request) else {
        return false;
    };
    !msg.header().qr()
        && msg.header().opcode() == Opcode::QUERY
        && msg.header_counts().qdcount() == 1
        && msg
            .first_question()
            .is_some_and(|q| matches!(q.qtype(), Rtype::AXFR | Rtype::IXFR))
}

/// One record to send.
enum Item<'a> {
    /// Read from the snapshot now.
    Now(Current<'a>),
    /// As the journal keeps it (uncompressed wire data).
    Kept(Wire),
}

/// What a transfer request is answered with.
enum Plan<'a> {
    /// One error message (REFUSED, NOTAUTH, FORMERR), signed when the
    /// request was verified.
    Refuse(OptRcode),
    /// A TSIG error written by `domain` (BADTIME) or as RFC 8945 §5.2.2
    /// says (BADKEY, BADSIG: unsigned).
    BadTsig(Box<ServerError<std::sync::Arc<domain::tsig::Key>>>),
    /// The zone: its SOA, every record, its SOA again.
    Zone(Vec<Item<'a>>),
}

/// A transfer in progress: [`Transfer::next_message`] writes its messages
/// one at a time, so a large zone is never held whole as wire data.
pub struct Transfer<'a> {
    request: Message<&'a [u8]>,
    plan: Plan<'a>,
    signer: Option<SequenceSigner>,
    /// The COOKIE option's data for a refusal (RFC 7873), when the request
    /// had a cookie: the same cookie the answer path gives.
    cookie: Option<[u8; super::cookie::RESPONSE_LEN]>,
    /// The next record of `Plan::Zone` to send.
    next: usize,
    /// Messages written so far.
    sent: usize,
    /// Whether the plan is an incremental IXFR.
    incremental: bool,
    done: bool,
    /// The zone's apex when the transfer was allowed, for the log.
    pub zone: Option<DName>,
}

impl<'a> Transfer<'a> {
    /// Decides how `request` (a transfer request, see [`is_transfer`])
    /// from `client` is answered; over UDP (`udp`), an IXFR only, with
    /// the SOA alone when allowed.
    pub fn start(
        published: &'a Published,
        request: &'a [u8],
        client: IpAddr,
        udp: bool,
    ) -> Transfer<'a> {
        let msg = Message::from_octets(request).expect("checked by is_transfer");
        let cookie = super::cookie::for_request(&msg, client, &published.cookie_secret);
        let mut transfer = Transfer {
            request: msg,
            plan: Plan::Refuse(OptRcode::FORMERR),
            signer: None,
            cookie,
            next: 0,
            sent: 0,
            incremental: false,
            done: false,
            zone: None,
        };
        let Ok(question) = msg.sole_question() else {
            return transfer;
        };
        let mut key_name = None;
        if has_tsig(&msg) {
            match signed::verify_sequence(&published.keys, request) {
                Ok(Some(signer)) => {
                    key_name = Some(signer.key().name().clone());
                    transfer.signer = Some(signer);
                }
                Ok(None) => {}
                Err(e) => {
                    transfer.plan = Plan::BadTsig(e);
                    return transfer;
                }
            }
        }
        if question.qclass() != Class::IN {
            transfer.plan = Plan::Refuse(OptRcode::REFUSED);
            return transfer;
        }
        let key = NameKey::new(question.qname());
        // Only a zone's apex can be transferred (RFC 5936 §2.2.1: NOTAUTH
        // when this server is not authoritative for the zone named).
        let Some((zone, 0)) = published.snapshot.find_zone(&key) else {
            transfer.plan = Plan::Refuse(OptRcode::NOTAUTH);
            return transfer;
        };
        // A secondary zone with no current data has nothing to hand on.
        if zone.unavailable {
            transfer.plan = Plan::Refuse(OptRcode::SERVFAIL);
            return transfer;
        }
        if !published
            .transfers
            .of(&zone.apex)
            .allows(client, key_name.as_ref())
        {
            // Refused by policy, as NSD answers (RFC 5936 §2.2.1).
            transfer.plan = Plan::Refuse(OptRcode::REFUSED);
            return transfer;
        }
        transfer.zone = Some(zone.apex.clone());
        let health = &*published.health;
        let (soa_ttl, soa) = &zone.soa;
        let apex_soa = || {
            Item::Now(Current {
                owner: &zone.apex,
                ttl: *soa_ttl,
                data: soa,
            })
        };
        let ours = zone.serial();
        if question.qtype() == Rtype::IXFR
            && let Some(theirs) = ixfr_serial(&msg)
        {
            // From a serial at or past ours: up to date, our SOA alone
            // (RFC 1995 §2). Over UDP, the SOA alone too: the client then
            // asks over TCP (RFC 1995 §4), and a UDP answer stays small.
            if udp
                || matches!(
                    Serial(ours).partial_cmp(&theirs),
                    Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
                )
            {
                transfer.plan = Plan::Zone(vec![apex_soa()]);
                return transfer;
            }
            // From a serial the journal holds: each step's old SOA,
            // deletions, new SOA and additions, between our SOA twice
            // (RFC 1995 §4).
            if let Some(steps) = published.journal.steps(&zone.apex, theirs.into_int(), ours) {
                let mut items = vec![apex_soa()];
                for step in steps {
                    items.push(Item::Kept(step.old_soa.clone()));
                    items.extend(step.deleted.iter().cloned().map(Item::Kept));
                    items.push(Item::Kept(step.new_soa.clone()));
                    items.extend(step.added.iter().cloned().map(Item::Kept));
                }
                items.push(apex_soa());
                transfer.incremental = true;
                transfer.plan = Plan::Zone(items);
                return transfer;
            }
        } else if udp {
            // AXFR is not a UDP query; the answer path says so first and
            // never gets here.
            transfer.plan = Plan::Refuse(OptRcode::NOTIMP);
            return transfer;
        }
        let mut items = vec![apex_soa()];
        // The whole zone: as the journal recorded it at this serial when
        // it did, so that a client that takes it holds exactly what later
        // steps start from, even if health moved since (the next stamp
        // gives that a serial of its own).
        match published.journal.version(&zone.apex, ours) {
            Some(version) => items.extend(version.records.iter().cloned().map(Item::Kept)),
            None => items.extend(
                routing::zone_now(zone, &|id| health.is_healthy(id))
                    .into_iter()
                    .map(Item::Now),
            ),
        }
        items.push(apex_soa());
        transfer.plan = Plan::Zone(items);
        transfer
    }

    /// Whether the transfer sends differences (an incremental IXFR), not
    /// the whole zone (for the log).
    pub fn is_incremental(&self) -> bool {
        self.incremental
    }

    /// The rcode of the answer (for the counters and the log).
    pub fn rcode(&self) -> OptRcode {
        match &self.plan {
            Plan::Refuse(rcode) => *rcode,
            Plan::BadTsig(e) if e.error() == TsigRcode::FORMERR => OptRcode::NOTAUTH,
            Plan::BadTsig(_) => OptRcode::NOTAUTH,
            Plan::Zone(_) => OptRcode::NOERROR,
        }
    }

    /// Records sent so far.
    pub fn records_sent(&self) -> usize {
        self.next
    }

    /// Writes the next message into `out` (cleared first); false when the
    /// transfer is complete and nothing was written.
    pub fn next_message(&mut self, out: &mut Vec<u8>) -> bool {
        out.clear();
        if self.done {
            return false;
        }
        match std::mem::replace(&mut self.plan, Plan::Refuse(OptRcode::SERVFAIL)) {
            Plan::Refuse(rcode) => {
                self.write_error(rcode, out);
                self.plan = Plan::Refuse(rcode);
                self.done = true;
            }
            Plan::BadTsig(e) => {
                let error = e.error();
                if matches!(error, TsigRcode::BADKEY | TsigRcode::FORMERR) {
                    // `domain` 0.12 calls a wrong MAC FORMERR (see
                    // dns::signed::Verified::BadSignature).
                    let error = if error == TsigRcode::BADKEY {
                        TsigRcode::BADKEY
                    } else {
                        TsigRcode::BADSIG
                    };
                    signed::write_unsigned_error(&self.request, error, out);
                    self.plan = Plan::BadTsig(e);
                } else {
                    signed::write_refusal(*e, &self.request, out);
                    self.plan = Plan::Refuse(OptRcode::NOTAUTH);
                }
                self.done = true;
            }
            Plan::Zone(items) => {
                self.write_records(&items, out);
                self.done = self.next >= items.len();
                self.plan = Plan::Zone(items);
            }
        }
        self.sent += 1;
        true
    }

    fn write_error(&mut self, rcode: OptRcode, out: &mut Vec<u8>) {
        let mut builder =
            MessageBuilder::from_target(StaticCompressor::new(&mut *out)).expect("empty buffer");
        self.header(&mut builder, rcode.rcode());
        let mut question = builder.question();
        if rcode != OptRcode::FORMERR
            && let Ok(q) = self.request.sole_question()
        {
            let _ = question.push(q);
        }
        let mut additional = question.additional();
        // An OPT when the request had one (RFC 6891 §7), as the responder
        // writes it; a refusal by policy says so with Extended DNS Error 18,
        // Prohibited (RFC 8914 §4.19), as NSD does.
        if let Some(opt) = self.request.opt() {
            let cookie = self.cookie;
            let _ = additional.opt(|out| {
                out.set_udp_payload_size(super::handler::MAX_UDP_PAYLOAD);
                out.set_dnssec_ok(opt.dnssec_ok());
                if rcode == OptRcode::REFUSED {
                    out.push_raw_option(OptionCode::EXTENDED_ERROR, 2, |target| {
                        EDE_PROHIBITED.compose(target)
                    })?;
                }
                super::handler::push_cookie(out, cookie.as_ref())
            });
        }
        if let Some(signer) = &mut self.signer {
            let _ = signer.answer(&mut additional, Time48::now());
        }
    }

    fn write_records(&mut self, items: &[Item<'_>], out: &mut Vec<u8>) {
        let mut builder =
            MessageBuilder::from_target(StaticCompressor::new(&mut *out)).expect("empty buffer");
        let reserve = self
            .signer
            .as_ref()
            .map_or(0, |s| usize::from(s.key().compose_len()));
        builder.set_push_limit(MAX_MESSAGE - reserve);
        self.header(&mut builder, Rcode::NOERROR);
        let mut question = builder.question();
        // The question goes in the first message only (RFC 5936 §2.2).
        if self.sent == 0
            && let Ok(q) = self.request.sole_question()
        {
            let _ = question.push(q);
        }
        let mut answer = question.answer();
        let first = self.next;
        while let Some(item) = items.get(self.next) {
            let pushed = match item {
                Item::Now(r) => answer.push((r.owner, Class::IN, r.ttl, r.data)),
                Item::Kept(wire) => match kept_record(wire) {
                    Some(r) => answer.push(r),
                    None => Ok(()),
                },
            };
            if pushed.is_err() {
                if self.next == first {
                    // Larger than any message: cannot be sent at all.
                    tracing::warn!("record too large for a transfer message; left out");
                    self.next += 1;
                    continue;
                }
                break;
            }
            self.next += 1;
        }
        let mut additional = answer.additional();
        if let Some(signer) = &mut self.signer {
            additional.set_push_limit(usize::MAX);
            let _ = signer.answer(&mut additional, Time48::now());
        }
    }

    fn header<T: domain::base::wire::Composer>(
        &self,
        builder: &mut MessageBuilder<StaticCompressor<T>>,
        rcode: Rcode,
    ) {
        let header = builder.header_mut();
        header.set_id(self.request.header().id());
        header.set_qr(true);
        header.set_opcode(Opcode::QUERY);
        header.set_rd(self.request.header().rd());
        header.set_aa(rcode == Rcode::NOERROR);
        header.set_rcode(rcode);
    }
}

/// A journal record as read back: its owner parsed, its data as it is.
type KeptRecord<'a> =
    domain::base::Record<domain::base::ParsedName<&'a [u8]>, UnknownRecordData<&'a [u8]>>;

/// A record the journal keeps, read back for sending: its data as it is
/// (uncompressed), its owner compressed as the message goes.
fn kept_record(wire: &[u8]) -> Option<KeptRecord<'_>> {
    let mut parser = domain::dep::octseq::Parser::from_ref(wire);
    domain::base::ParsedRecord::parse(&mut parser)
        .and_then(|r| r.into_record())
        .ok()
        .flatten()
}

/// Whether the request's last additional record is a TSIG.
fn has_tsig(msg: &Message<&[u8]>) -> bool {
    msg.additional()
        .ok()
        .and_then(|section| section.filter_map(Result::ok).last())
        .is_some_and(|r| r.rtype() == Rtype::TSIG)
}

/// The serial of the SOA in an IXFR request's authority section.
fn ixfr_serial(msg: &Message<&[u8]>) -> Option<Serial> {
    let authority = msg.authority().ok()?;
    authority
        .filter_map(Result::ok)
        .filter_map(|r| {
            r.to_record::<domain::rdata::Soa<domain::base::ParsedName<&[u8]>>>()
                .ok()
                .flatten()
        })
        .map(|r| r.data().serial())
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::HealthTable;
    use crate::model::RData;
    use crate::model::{FailoverRole, Policy, RecordSpec, ZoneSpec};
    use crate::snapshot::Snapshot;
    use domain::base::{ToName, Ttl};
    use std::str::FromStr;

    fn record(name: &str, policy: Policy, set: &str, value: &str, check: u32) -> RecordSpec {
        RecordSpec {
            owner: DName::from_str(name).unwrap(),
            rtype: Rtype::A,
            ttl: Ttl::from_secs(60),
            policy,
            set: Some(set.into()),
            values: vec![RData::A(domain::rdata::A::new(value.parse().unwrap()))],
            health_check: Some(format!("c{check}")),
            failover: None,
            weight: None,
            origin: None,
            alias: None,
            location: None,
        }
    }

    /// The values of `name` that a transfer carries, sorted.
    fn transferred(snapshot: &Snapshot, health: &HealthTable, name: &str) -> Vec<String> {
        let key = NameKey::new(&DName::from_str("example.test.").unwrap());
        let (zone, _) = snapshot.find_zone(&key).unwrap();
        let owner = DName::from_str(name).unwrap();
        let mut out: Vec<String> = routing::zone_now(zone, &|id| health.is_healthy(id))
            .into_iter()
            .filter(|i| i.owner.name_eq(&owner))
            .map(|i| i.data.to_string())
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_transfer_carries_what_the_routing_rule_answers_now() {
        let mut records = vec![
            record("mv.example.test.", Policy::Multivalue, "a", "192.0.2.1", 0),
            record("mv.example.test.", Policy::Multivalue, "b", "192.0.2.2", 1),
        ];
        let mut primary = record("fo.example.test.", Policy::Failover, "p", "192.0.2.3", 2);
        primary.failover = Some(FailoverRole::Primary);
        let mut secondary = record("fo.example.test.", Policy::Failover, "s", "192.0.2.4", 3);
        secondary.failover = Some(FailoverRole::Secondary);
        records.extend([primary, secondary]);
        for (set, value, weight, check) in [("x", "192.0.2.5", 1, 4), ("z", "192.0.2.6", 0, 5)] {
            let mut r = record("w.example.test.", Policy::Weighted, set, value, check);
            r.weight = Some(weight);
            records.push(r);
        }
        let spec = ZoneSpec {
            name: DName::from_str("example.test.").unwrap(),
            records,
        };
        assert!(crate::validate::zone(&spec).is_empty());
        let snapshot = Snapshot::build(
            std::slice::from_ref(&spec),
            &|id| id.strip_prefix('c').and_then(|n| n.parse().ok()),
            1,
        );
        let health = HealthTable::new([true; 6]);
        assert_eq!(
            transferred(&snapshot, &health, "mv.example.test."),
            ["192.0.2.1", "192.0.2.2"]
        );
        assert_eq!(
            transferred(&snapshot, &health, "fo.example.test."),
            ["192.0.2.3"]
        );
        assert_eq!(
            transferred(&snapshot, &health, "w.example.test."),
            ["192.0.2.5"]
        );
        // One multivalue record fails, the primary fails.
        health.set(0, false);
        health.set(2, false);
        assert_eq!(
            transferred(&snapshot, &health, "mv.example.test."),
            ["192.0.2.2"]
        );
        assert_eq!(
            transferred(&snapshot, &health, "fo.example.test."),
            ["192.0.2.4"]
        );
        // Every multivalue record fails: all of them (fail open).
        health.set(1, false);
        assert_eq!(
            transferred(&snapshot, &health, "mv.example.test."),
            ["192.0.2.1", "192.0.2.2"]
        );
        // The weighted record of weight 1 fails: the healthy weight-0 one.
        health.set(4, false);
        assert_eq!(
            transferred(&snapshot, &health, "w.example.test."),
            ["192.0.2.6"]
        );
    }
}
