//! The query handler: one request packet in, one response packet out.
//!
//! This is the hot path. It parses the request in place with `domain`'s
//! zero-copy [`Message`], resolves it against the immutable [`Snapshot`],
//! asks [`routing`] which records to answer with, and writes the response
//! into the caller's reused buffer through a name-compressing builder. It
//! allocates nothing: a DNAME-synthesised name lives in a stack buffer, and
//! `tests/hot_path_allocations.rs` counts allocations to keep it so.
//!
//! ```text
//!   bytes ─► parse (header, question, OPT) ─► find zone ─► find name ─┐
//!   bytes ◄─ OPT ◄─ additional ◄─ authority ◄─ answer (routing) ◄─────┘
//! ```

use std::cell::Cell;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use domain::base::iana::{Class, Opcode, OptRcode, OptionCode, Rcode, Rtype};
use domain::base::message::RecordSection;
use domain::base::message_builder::{
    AdditionalBuilder, AnswerBuilder, AuthorityBuilder, PushError, StaticCompressor,
};
use domain::base::name::{ParsedName, ToLabelIter};
use domain::base::opt::cookie::Cookie;
use domain::base::opt::{ClientSubnet, ComposeOptData};
use domain::base::record::ComposeRecord;
use domain::base::wire::{Compose, Composer};
use domain::base::{Message, MessageBuilder, Name, Record, Ttl};
use domain::dep::octseq::Array;
use domain::rdata::Tsig;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::cookie::{self, CookieSecret};
use super::signed::{self, Signer, Verified};
use crate::geo::{GeoDatabase, Located};
use crate::health::HealthTable;
use crate::metrics::ZoneCounters;
use crate::model::{DName, Place, RData};
use crate::routing::{self, Locate, Pick};
use crate::snapshot::{Found, NameKey, Node, RecordSet, Snapshot, Value, Zone};
use crate::tsig::KeyRing;

/// What the responder reads: zones and the health of their checks, swapped
/// together when the configuration changes.
#[derive(Debug, Default)]
pub struct Published {
    /// Zone data.
    pub snapshot: Snapshot,
    /// Health states, indexed by the snapshot's health ids.
    pub health: Arc<HealthTable>,
    /// TSIG keys that requests may be signed with.
    pub keys: KeyRing,
    /// Who may transfer which zone, and whom to notify.
    pub transfers: Arc<crate::xfr::Settings>,
    /// What zones transferred at their recent serials, for incremental
    /// IXFR: one journal for the process, shared by every publication.
    pub journal: Arc<crate::xfr::journal::Journal>,
    /// The key of the server cookies (RFC 7873).
    pub cookie_secret: CookieSecret,
    /// The server's identifier for NSID (RFC 5001); `None`: not sent.
    pub nsid: Option<Arc<[u8]>>,
    /// Where clients are, for geolocation routing (`[server]
    /// geoip_database`); `None`: every client is where no location but
    /// the default (`*`) holds.
    pub geo: Option<Arc<GeoDatabase>>,
}

impl Published {
    /// This publication with `snapshot` in its place; the health table,
    /// keys and settings are shared, not copied.
    pub fn with_snapshot(&self, snapshot: Snapshot) -> Published {
        Published {
            snapshot,
            health: self.health.clone(),
            keys: self.keys.clone(),
            transfers: self.transfers.clone(),
            journal: self.journal.clone(),
            cookie_secret: self.cookie_secret,
            nsid: self.nsid.clone(),
            geo: self.geo.clone(),
        }
    }
}

/// How the request arrived; decides the size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: 512 bytes, or the EDNS size up to [`MAX_UDP_PAYLOAD`].
    Udp,
    /// TCP: up to 65,535 bytes.
    Tcp,
}

/// Largest UDP response we send, and the size we advertise (the DNS Flag
/// Day 2020 value, safe from IP fragmentation).
pub const MAX_UDP_PAYLOAD: u16 = 1232;
/// Longest CNAME chain followed inside a zone.
pub const MAX_CHAIN: usize = 8;
/// Size of an OPT record without options.
const OPT_LEN: usize = 11;

/// Per-worker state reused across queries so the hot path does not
/// allocate: the routing picks and a fast RNG.
pub struct Scratch {
    /// Picks of the set being answered.
    picks: Vec<Pick>,
    /// Picks of the additional-section addresses, kept apart so the answer's
    /// picks stay readable while they are chosen.
    extra_picks: Vec<Pick>,
    /// `SmallRng` (xoshiro): a few nanoseconds per draw, no locking, one
    /// per worker; unpredictability is not needed to spread load.
    rng: SmallRng,
}

/// Capacity of each picks buffer: more than any group holds (validation
/// caps groups at 100 records), so it never grows on the hot path.
const PICKS_CAPACITY: usize = 128;

impl Scratch {
    /// Scratch space seeded from the OS.
    pub fn new() -> Scratch {
        Scratch {
            picks: Vec::with_capacity(PICKS_CAPACITY),
            extra_picks: Vec::with_capacity(PICKS_CAPACITY),
            rng: SmallRng::from_os_rng(),
        }
    }

    /// Scratch space with a fixed seed, for tests.
    pub fn seeded(seed: u64) -> Scratch {
        Scratch {
            picks: Vec::with_capacity(PICKS_CAPACITY),
            extra_picks: Vec::with_capacity(PICKS_CAPACITY),
            rng: SmallRng::seed_from_u64(seed),
        }
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch::new()
    }
}

/// The EDNS(0) facts of a request.
#[derive(Debug, Clone, Copy)]
struct Edns {
    payload: u16,
    dnssec_ok: bool,
    /// The COOKIE option's data for the response (RFC 7873), when the
    /// request had a cookie and its source address is known.
    cookie: Option<[u8; cookie::RESPONSE_LEN]>,
    /// The request asks for the server's identifier (RFC 5001).
    nsid: bool,
    /// The request's EDNS Client Subnet option (RFC 7871), answered
    /// with the scope the answer holds for.
    subnet: Option<ClientSubnet>,
}

impl Edns {
    /// Bytes the response's OPT record takes.
    fn opt_len(&self) -> usize {
        OPT_LEN
            + self.cookie.map_or(0, |c| 4 + c.len())
            + self
                .subnet
                .map_or(0, |s| 4 + usize::from(ComposeOptData::compose_len(&s)))
    }
}

/// The client as geolocation routing sees it: the address of the EDNS
/// Client Subnet option when the request has one with a non-zero source
/// prefix (a prefix of 0 gives no address, RFC 7871), else the
/// request's source. Looked up at most once, and only when a geolocation
/// group asks; that it was asked is what sets the response's scope.
struct Client<'a> {
    geo: Option<&'a GeoDatabase>,
    addr: Option<IpAddr>,
    located: Cell<Option<Located>>,
}

impl Client<'_> {
    /// The scope prefix of the response's client subnet option: the
    /// database network's length when the answer depended on the client's
    /// place, else 0 (the answer holds for every client).
    fn scope(&self) -> u8 {
        self.located.get().map_or(0, |l| l.prefix)
    }
}

impl Locate for Client<'_> {
    fn place(&self) -> Option<Place> {
        if let Some(located) = self.located.get() {
            return located.place;
        }
        let located = match (self.geo, self.addr) {
            (Some(geo), Some(addr)) => geo.locate(addr),
            _ => Located::default(),
        };
        self.located.set(Some(located));
        located.place
    }
}

/// What [`respond`] answered: what the listeners count for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct Answered<'p> {
    /// The response's full rcode (BADVERS included, which the header alone
    /// reads as NOERROR).
    pub rcode: OptRcode,
    /// The type asked for, when the request's first question was readable.
    pub qtype: Option<Rtype>,
    /// The counters of the zone that answered, when one did.
    pub zone: Option<&'p ZoneCounters>,
    /// The request carried a valid server cookie (RFC 7873): its source
    /// address is not spoofed, so rate limiting need not apply.
    pub cookie_valid: bool,
}

/// Writes the response to `query` into `out` (cleared first). Returns what
/// was answered, or `None` when the packet must get no response at all
/// (shorter than a header, or itself a response). Without the client's
/// address, a cookie is not answered (see [`respond_from`]).
pub fn respond<'p>(
    published: &'p Published,
    query: &[u8],
    transport: Transport,
    out: &mut Vec<u8>,
    scratch: &mut Scratch,
) -> Option<Answered<'p>> {
    respond_from(published, query, transport, None, out, scratch)
}

/// As [`respond`], for a request from `client`: a DNS cookie in the
/// request gets a server cookie back.
pub fn respond_from<'p>(
    published: &'p Published,
    query: &[u8],
    transport: Transport,
    client: Option<IpAddr>,
    out: &mut Vec<u8>,
    scratch: &mut Scratch,
) -> Option<Answered<'p>> {
    out.clear();
    let msg = Message::from_octets(query).ok()?;
    if msg.header().qr() {
        return None;
    }
    // Errors are rare: the question is read again only for them.
    let error = |rcode, edns, out: &mut Vec<u8>| {
        Some(Answered {
            rcode: write_error(&msg, rcode, edns, out),
            qtype: msg.first_question().map(|q| q.qtype()),
            zone: None,
            cookie_valid: false,
        })
    };
    // Malformed EDNS or TSIG gets FORMERR before anything else, without
    // the question and without an OPT (NSD 4.6 does so; Knot 3.2 adds the
    // question): the OPT that could not be read cannot be answered.
    let extras = match request_extras(&msg) {
        Ok(extras) => extras,
        Err(ExtrasError::Malformed) => return error(OptRcode::FORMERR, None, out),
        Err(ExtrasError::BadVersion(edns)) => return error(OptRcode::BADVERS, Some(edns), out),
    };
    let mut edns = extras.edns;
    let mut cookie_valid = false;
    if let (Some(edns), Some(request), Some(client)) = (&mut edns, &extras.cookie, client) {
        let answer = cookie::answer(request, client, &published.cookie_secret, SystemTime::now());
        edns.cookie = Some(answer.data);
        cookie_valid = answer.valid;
    }
    // From here every response carries an OPT when the request had one
    // (RFC 6891 §7), error responses included.
    if msg.header().opcode() != Opcode::QUERY {
        return error(OptRcode::NOTIMP, edns, out);
    }
    if msg.header_counts().qdcount() != 1 {
        return error(OptRcode::FORMERR, edns, out);
    }
    let Ok(question) = msg.sole_question() else {
        return error(OptRcode::FORMERR, edns, out);
    };
    let qtype = Some(question.qtype());
    // QCLASS ANY (255) is answered as IN, as Knot does (the question keeps
    // its class; NSD answers too, but without AA or the SOA).
    let class_served = matches!(question.qclass(), Class::IN | Class::ANY);
    if !class_served {
        return error(OptRcode::REFUSED, edns, out);
    }
    // Transfers over TCP go to `dns::transfer` before this. Over UDP, AXFR
    // is not a query (NOTIMP, as Knot 3.2 answers), and an IXFR is judged
    // as over TCP and, when allowed, answered with the SOA alone so the
    // client asks again over TCP (RFC 1995 §2, §4). Without the client's
    // address no rule can allow it: NOTAUTH, RFC 8945 §5.2.
    match (question.qtype(), transport, client) {
        (Rtype::AXFR, Transport::Udp, _) => return error(OptRcode::NOTIMP, edns, out),
        (Rtype::IXFR, Transport::Udp, Some(client)) => {
            let mut transfer = super::transfer::Transfer::start(published, query, client, true);
            transfer.next_message(out);
            return Some(Answered {
                rcode: transfer.rcode(),
                qtype,
                zone: None,
                cookie_valid,
            });
        }
        (Rtype::AXFR | Rtype::IXFR, _, _) => return error(OptRcode::NOTAUTH, edns, out),
        _ => {}
    }
    let limit = match (transport, edns) {
        (Transport::Tcp, _) => usize::from(u16::MAX),
        (Transport::Udp, None) => 512,
        (Transport::Udp, Some(e)) => usize::from(e.payload.clamp(512, MAX_UDP_PAYLOAD)),
    };
    // A signed request is verified before anything is answered; a known
    // key signs every response to it, errors included.
    let mut signer = None;
    let mut tsig_error = TSIG_BADKEY;
    if extras.tsig.is_some() {
        match signed::verify(&published.keys, msg.as_slice()) {
            Verified::Signed(s) => signer = Some(s),
            Verified::UnknownKey => {}
            Verified::BadSignature => tsig_error = TSIG_BADSIG,
            Verified::Refused(e) => {
                return Some(Answered {
                    rcode: signed::write_refusal(*e, &msg, out),
                    qtype,
                    zone: None,
                    cookie_valid,
                });
            }
        }
    }
    let signed = signer.is_some();
    let subnet = edns
        .and_then(|e| e.subnet)
        .filter(|s| s.source_prefix_len() > 0);
    let client_place = Client {
        geo: published.geo.as_deref(),
        addr: subnet.map(|s| s.addr()).or(client),
        located: Cell::new(None),
    };
    let reserve = signer
        .as_ref()
        .map_or(0, |s| usize::from(s.key().compose_len()));
    let query = Query {
        msg: &msg,
        qname: question.qname(),
        qtype: question.qtype(),
        edns,
        tsig: extras.tsig.as_ref().filter(|_| !signed),
        tsig_error,
        signer: Cell::new(signer),
        nsid: published
            .nsid
            .as_deref()
            .filter(|_| edns.is_some_and(|e| e.nsid)),
        client: client_place,
        limit: limit - reserve,
    };
    let mut zone = None;
    let rcode = match write_answer(published, &query, out, scratch, &mut zone) {
        Ok(rcode) => rcode,
        Err(_) => {
            write_truncated(&query, out);
            Rcode::NOERROR
        }
    };
    Some(Answered {
        rcode: rcode.into(),
        qtype,
        zone: zone.map(|z| &*z.counters),
        cookie_valid,
    })
}

/// A parsed request, as the answer writer needs it.
struct Query<'a> {
    msg: &'a Message<&'a [u8]>,
    qname: &'a ParsedName<&'a [u8]>,
    qtype: Rtype,
    edns: Option<Edns>,
    /// The request's TSIG when it failed (key unknown or MAC wrong).
    tsig: Option<&'a RequestTsig<'a>>,
    /// Why it failed: [`TSIG_BADKEY`] or [`TSIG_BADSIG`].
    tsig_error: u16,
    /// Signs the response when the request was verified; taken by the
    /// first [`finish_with`], which ends every response.
    signer: Cell<Option<Box<Signer>>>,
    /// The server's identifier, when the request asked for it and one is
    /// configured.
    nsid: Option<&'a [u8]>,
    /// Where the client is, for geolocation groups.
    client: Client<'a>,
    /// Size limit, less the room the response's TSIG takes.
    limit: usize,
}

/// A request's TSIG record: owner (the key name) and data.
type RequestTsig<'a> = Record<ParsedName<&'a [u8]>, Tsig<&'a [u8], ParsedName<&'a [u8]>>>;

/// What the request carries after its question.
#[derive(Default)]
struct Extras<'a> {
    /// Its OPT record.
    edns: Option<Edns>,
    /// Its TSIG record, last in the additional section.
    tsig: Option<RequestTsig<'a>>,
    /// The first COOKIE option of its OPT.
    cookie: Option<Cookie>,
}

enum ExtrasError {
    Malformed,
    BadVersion(Edns),
}

/// Reads the request's OPT and TSIG records. Malformed: an OPT or TSIG in
/// the answer or authority section, more than one OPT, an OPT not owned by
/// the root or whose options run past its data (RFC 6891 §6.1.1-6.1.2), a
/// TSIG that is not the last record (RFC 8945 §5.1), a record that does
/// not parse.
fn request_extras<'a>(msg: &'a Message<&'a [u8]>) -> Result<Extras<'a>, ExtrasError> {
    use ExtrasError::Malformed;
    // Most queries carry nothing after the question but the OPT: skip the
    // walk when the header says every section is empty.
    let counts = msg.header_counts();
    if counts.ancount() == 0 && counts.nscount() == 0 && counts.arcount() == 0 {
        return Ok(Extras::default());
    }
    let answer = msg.answer().map_err(|_| Malformed)?;
    let authority = without_meta_records(answer)?;
    let mut additional = without_meta_records(authority)?;
    let mut extras = Extras::default();
    let mut opt = None;
    let total = usize::from(counts.arcount());
    for (i, record) in additional.by_ref().enumerate() {
        let record = record.map_err(|_| Malformed)?;
        match record.rtype() {
            Rtype::OPT => {
                if opt.is_some() || !record.owner().is_root() {
                    return Err(Malformed);
                }
                // Parsing the data checks each option's length.
                let parsed = record
                    .to_record::<domain::base::opt::Opt<_>>()
                    .map_err(|_| Malformed)?
                    .ok_or(Malformed)?;
                opt = Some(domain::base::opt::OptRecord::from(parsed));
            }
            Rtype::TSIG => {
                if i + 1 != total {
                    return Err(Malformed);
                }
                let tsig = record
                    .to_record::<Tsig<_, _>>()
                    .map_err(|_| Malformed)?
                    .ok_or(Malformed)?;
                extras.tsig = Some(tsig);
            }
            _ => {}
        }
    }
    let Some(opt) = opt else {
        return Ok(extras);
    };
    let mut edns = Edns {
        payload: opt.udp_payload_size(),
        dnssec_ok: opt.dnssec_ok(),
        cookie: None,
        // RFC 5001 §2.1: an NSID option, empty, asks for it.
        nsid: opt.opt().first::<domain::base::opt::Nsid<_>>().is_some(),
        subnet: None,
    };
    // RFC 7871 §6: an option whose family is unknown, whose prefix is
    // longer than its address or whose address has bits set past the
    // prefix is FORMERR (the parser refuses each).
    edns.subnet = match opt.opt().iter::<ClientSubnet>().next() {
        Some(Ok(subnet)) => Some(subnet),
        Some(Err(_)) => return Err(Malformed),
        None => None,
    };
    // A cookie of a length RFC 7873 §5.2.2 does not allow (client part
    // not 8 bytes, server part not 8 to 32) is FORMERR.
    extras.cookie = match opt.opt().iter::<Cookie>().next() {
        Some(Ok(cookie)) => Some(cookie),
        Some(Err(_)) => return Err(Malformed),
        None => None,
    };
    if opt.version() > 0 {
        return Err(ExtrasError::BadVersion(edns));
    }
    extras.edns = Some(edns);
    Ok(extras)
}

/// Walks `section`, refusing OPT and TSIG records in it; returns the next
/// section.
fn without_meta_records<'a>(
    mut section: RecordSection<'a, &'a [u8]>,
) -> Result<RecordSection<'a, &'a [u8]>, ExtrasError> {
    for record in section.by_ref() {
        let record = record.map_err(|_| ExtrasError::Malformed)?;
        if matches!(record.rtype(), Rtype::OPT | Rtype::TSIG) {
            return Err(ExtrasError::Malformed);
        }
    }
    section
        .next_section()
        .map_err(|_| ExtrasError::Malformed)?
        .ok_or(ExtrasError::Malformed)
}

/// What the resolution loop ended on, deciding authority and additional.
enum Outcome<'a> {
    /// Records were answered; `Some` holds the final set for additional
    /// processing, with its picks left in the scratch space.
    Positive(Option<&'a RecordSet>),
    /// The name exists without data of the type.
    NoData,
    /// The name does not exist.
    NxDomain,
    /// The name is delegated.
    Referral(&'a Node),
}

/// The owner name a record is written with.
// The synthesised name is kept inline on purpose: boxing it would put an
// allocation back on the DNAME path, and an `Owner` is never copied around.
#[allow(clippy::large_enum_variant)]
enum Owner<'a> {
    /// The query name, as the client wrote it (case preserved).
    Query(&'a ParsedName<&'a [u8]>),
    /// A name from the zone data.
    Zone(&'a DName),
    /// A name from the zone data that ends the query name (the apex, a
    /// delegation point), written as a pointer into the question.
    InQuestion(&'a DName, u16),
    /// A name synthesised from a DNAME, in a stack buffer.
    Synthesised(StackName),
}

/// A domain name held on the stack (names are at most 255 octets).
type StackName = Name<Array<255>>;

/// Writes the answer; `answering` is set to the zone it comes from as
/// soon as that is known, so that a truncated answer is counted too.
fn write_answer<'p>(
    published: &'p Published,
    query: &Query<'_>,
    out: &mut Vec<u8>,
    scratch: &mut Scratch,
    answering: &mut Option<&'p Zone>,
) -> Result<Rcode, PushError> {
    let snapshot = &published.snapshot;
    let health = &*published.health;
    let mut builder =
        MessageBuilder::from_target(StaticCompressor::new(&mut *out)).expect("empty buffer");
    // `push` fails once the message reaches the limit; keep room for OPT.
    let reserve = match query.edns {
        None => 0,
        Some(e) => e.opt_len() + query.nsid.map_or(0, |nsid| 4 + nsid.len()),
    };
    builder.set_push_limit(query.limit - reserve + 1);
    // CD is not copied: NSD 4.6 and Knot 3.2 clear it (and AD) in every
    // response from a zone that is not signed, and eightfold signs none
    // (RFC 4035 §3.1.6 asks a security-aware server to copy it).
    let mut answer = builder.start_answer(query.msg, Rcode::NOERROR)?;

    // A signed request whose key is not configured (BADKEY) or whose MAC
    // is wrong (BADSIG): NOTAUTH with the TSIG error, RFC 8945 §5.2.2,
    // whatever the name. NSD does so for any name; Knot answers REFUSED
    // outside its zones, which tells a client with a broken key nothing
    // about its key. The question is echoed, as both do in a zone.
    if let Some(tsig) = query.tsig {
        answer.header_mut().set_rcode(Rcode::NOTAUTH);
        let mut additional = answer.additional();
        finish(&mut additional, query);
        let _ = additional.push(TsigError {
            request: tsig,
            id: query.msg.header().id(),
            error: query.tsig_error,
        });
        return Ok(Rcode::NOTAUTH);
    }
    let mut key = NameKey::new(query.qname);
    let Some((zone, apex)) = snapshot.find_zone(&key) else {
        answer.header_mut().set_rcode(Rcode::REFUSED);
        finish_with(&mut answer.additional(), query, Some(EDE_NOT_AUTHORITATIVE));
        return Ok(Rcode::REFUSED);
    };
    *answering = Some(zone);
    if zone.unavailable {
        // A secondary zone with no current data (xfr::secondary).
        answer.header_mut().set_rcode(Rcode::SERVFAIL);
        finish(&mut answer.additional(), query);
        return Ok(Rcode::SERVFAIL);
    }
    let zone_labels = key.labels() - apex;
    let mut apex = apex;
    let mut owner = Owner::Query(query.qname);
    let mut outcome = Outcome::Positive(None);
    let healthy = |id| health.is_healthy(id);

    for hop in 0..=MAX_CHAIN {
        match zone.find(&key, apex, query.qtype) {
            Found::Node { node, .. } => {
                // ANY at a CNAME is answered with the CNAME alone, not
                // followed (NSD and Knot agree).
                let cname = (!matches!(query.qtype, Rtype::CNAME | Rtype::ANY))
                    .then(|| node.set(Rtype::CNAME))
                    .flatten();
                if let Some(set) = cname {
                    // A CNAME alias answers with its target's CNAME (the
                    // picks are of the set that answers); an alias that
                    // leads nowhere answers nothing, as for other types.
                    let Some(cname) = routing::select_through_aliases(
                        snapshot,
                        set,
                        &healthy,
                        &query.client,
                        &mut scratch.rng,
                        &mut scratch.picks,
                    ) else {
                        outcome = Outcome::NoData;
                        break;
                    };
                    push_picks(&mut answer, &owner, cname, &scratch.picks)?;
                    let target = scratch.picks.first().and_then(|p| {
                        match cname.records[p.record as usize].values[p.value as usize].other() {
                            Some(RData::Cname(c)) => Some(c.cname()),
                            _ => None,
                        }
                    });
                    match target {
                        Some(t) if hop < MAX_CHAIN && t.ends_with(&zone.apex) => {
                            owner = Owner::Zone(t);
                            key = NameKey::new(t);
                            apex = key.labels() - zone_labels;
                            continue;
                        }
                        _ => break,
                    }
                }
                let set = if query.qtype == Rtype::ANY {
                    // RFC 8482: one RRset stands for all of them.
                    node.sets.first()
                } else {
                    node.set(query.qtype)
                };
                // An alias answers with its target's records, under the
                // name asked for.
                let answering = set.and_then(|set| {
                    routing::select_through_aliases(
                        snapshot,
                        set,
                        &healthy,
                        &query.client,
                        &mut scratch.rng,
                        &mut scratch.picks,
                    )
                });
                outcome = match answering {
                    // Nothing picked: a geolocation group with no record
                    // for the client's place and no default.
                    Some(set) if !scratch.picks.is_empty() => {
                        push_picks(&mut answer, &owner, set, &scratch.picks)?;
                        Outcome::Positive(Some(set))
                    }
                    _ => Outcome::NoData,
                };
                break;
            }
            Found::NxDomain => {
                outcome = Outcome::NxDomain;
                break;
            }
            Found::Referral(cut) => {
                if hop == 0 {
                    outcome = Outcome::Referral(cut);
                }
                break;
            }
            Found::Dname(node) => {
                let Some(dname) = node.set(Rtype::DNAME) else {
                    break;
                };
                let record = &dname.records[0];
                let Some(RData::Dname(target)) = record.values.first().and_then(Value::other)
                else {
                    break;
                };
                push_value(
                    &mut answer,
                    &Owner::Zone(&node.name),
                    record.ttl,
                    &record.values[0],
                )?;
                let Some(synth) = substitute(&owner, &node.name, target.dname()) else {
                    // RFC 6672 §2.2: the result would be too long.
                    answer.header_mut().set_rcode(Rcode::YXDOMAIN);
                    finish(&mut answer.additional(), query);
                    return Ok(Rcode::YXDOMAIN);
                };
                let cname = domain::rdata::Cname::new(synth.clone());
                push_data(&mut answer, &owner, record.ttl, &cname)?;
                // A CNAME query is answered by the synthesised CNAME
                // itself: its target is not looked up (NSD and Knot agree).
                let chase = query.qtype != Rtype::CNAME;
                if chase && hop < MAX_CHAIN && synth.ends_with(&zone.apex) {
                    key = NameKey::new(&synth);
                    apex = key.labels() - zone_labels;
                    owner = Owner::Synthesised(synth);
                    continue;
                }
                break;
            }
        }
    }

    let rcode = if matches!(outcome, Outcome::NxDomain) {
        Rcode::NXDOMAIN
    } else {
        Rcode::NOERROR
    };
    answer.header_mut().set_rcode(rcode);
    answer
        .header_mut()
        .set_aa(!matches!(outcome, Outcome::Referral(_)));
    let mut authority = answer.authority();
    match &outcome {
        Outcome::NoData | Outcome::NxDomain => {
            let (_, soa) = &zone.soa;
            push_value(
                &mut authority,
                &in_question(query, &zone.apex),
                zone.negative_ttl,
                soa,
            )?;
        }
        Outcome::Referral(cut) => {
            if let Some(ns) = cut.set(Rtype::NS) {
                routing::select(
                    ns,
                    healthy,
                    &query.client,
                    &mut scratch.rng,
                    &mut scratch.picks,
                );
                // Referrals are only given for the query name itself
                // (hop 0), so the cut is one of its ancestors.
                let owner = in_question(query, &cut.name);
                push_picks(&mut authority, &owner, ns, &scratch.picks)?;
            }
        }
        Outcome::Positive(_) => {}
    }
    let mut additional = authority.additional();
    // Additional data is optional: what does not fit is left out, not
    // truncated (RFC 2181 §9).
    match &outcome {
        Outcome::Positive(Some(set)) => {
            add_addresses(&mut additional, zone, set, health, &query.client, scratch);
        }
        Outcome::Referral(cut) => {
            if let Some(ns) = cut.set(Rtype::NS) {
                add_addresses(&mut additional, zone, ns, health, &query.client, scratch);
            }
        }
        _ => {}
    }
    finish(&mut additional, query);
    Ok(rcode)
}

/// Extended DNS Error 20, Not Authoritative (RFC 8914 §4.21): what NSD and
/// Knot put in the OPT of a REFUSED for a name outside their zones.
const EDE_NOT_AUTHORITATIVE: u16 = 20;

/// Adds the OPT record when the request had one.
fn finish<T: Composer>(additional: &mut AdditionalBuilder<T>, query: &Query<'_>) {
    finish_with(additional, query, None);
}

/// Adds the OPT record when the request had one, with an Extended DNS
/// Error when `ede` is given.
fn finish_with<T: Composer>(
    additional: &mut AdditionalBuilder<T>,
    query: &Query<'_>,
    ede: Option<u16>,
) {
    // The TSIG goes last, after the OPT (RFC 8945 §5.3): room for it was
    // kept out of the limit.
    let sign = |additional: &mut AdditionalBuilder<T>| {
        if let Some(signer) = query.signer.take() {
            additional.set_push_limit(usize::MAX);
            let _ = (*signer).answer(additional, domain::rdata::tsig::Time48::now());
        }
    };
    let Some(edns) = query.edns else {
        sign(additional);
        return;
    };
    {
        additional.set_push_limit(query.limit + 1);
        // Cannot fail: room for it was reserved (an EDE only goes into
        // answers that hold nothing else).
        let _ = additional.opt(|opt| {
            opt.set_udp_payload_size(MAX_UDP_PAYLOAD);
            opt.set_dnssec_ok(edns.dnssec_ok);
            if let Some(code) = ede {
                opt.push_raw_option(OptionCode::EXTENDED_ERROR, 2, |target| code.compose(target))?;
            }
            if let Some(nsid) = query.nsid {
                opt.push_raw_option(OptionCode::NSID, nsid.len() as u16, |target| {
                    target.append_slice(nsid)
                })?;
            }
            if let Some(subnet) = edns.subnet {
                // RFC 7871: family, source prefix and address as
                // asked, with the scope the answer holds for.
                // A source prefix of 0 located nothing by the option.
                let scope = if subnet.source_prefix_len() > 0 {
                    query.client.scope()
                } else {
                    0
                };
                opt.push(&ClientSubnet::new(
                    subnet.source_prefix_len(),
                    scope,
                    subnet.addr(),
                ))?;
            }
            push_cookie(opt, edns.cookie.as_ref())
        });
    }
    sign(additional);
}

/// The TSIG record of a BADKEY error (RFC 8945 §5.2.2, §5.3.2): unsigned,
/// with the request's algorithm, time and fudge, the key name lower-cased
/// and the response's ID as original ID, exactly as Knot 3.2 writes it
/// (NSD 4.6 differs only in copying the request's original ID).
struct TsigError<'a> {
    request: &'a RequestTsig<'a>,
    id: u16,
    error: u16,
}

/// Writes the NOTAUTH response to a request (any opcode) signed with an
/// unknown key (`bad_signature` false: BADKEY) or a bad MAC (BADSIG):
/// header, first section copied, and the unsigned TSIG error record, as
/// queries get it. For dynamic update, which is answered off this path.
pub(crate) fn write_tsig_error(msg: &Message<&[u8]>, bad_signature: bool, out: &mut Vec<u8>) {
    out.clear();
    let Ok(extras) = request_extras(msg) else {
        return;
    };
    let Some(tsig) = extras.tsig.as_ref() else {
        return;
    };
    let builder =
        MessageBuilder::from_target(StaticCompressor::new(&mut *out)).expect("empty buffer");
    let Ok(answer) = builder.start_answer(msg, Rcode::NOTAUTH) else {
        return;
    };
    let mut additional = answer.additional();
    let _ = additional.push(TsigError {
        request: tsig,
        id: msg.header().id(),
        error: if bad_signature {
            TSIG_BADSIG
        } else {
            TSIG_BADKEY
        },
    });
}

/// TSIG error BADKEY (RFC 8945 §4.3).
const TSIG_BADKEY: u16 = 17;
/// TSIG error BADSIG (RFC 8945 §4.3).
const TSIG_BADSIG: u16 = 16;

impl ComposeRecord for TsigError<'_> {
    fn compose_record<Target: Composer + ?Sized>(
        &self,
        target: &mut Target,
    ) -> Result<(), Target::AppendError> {
        let key = self.request.owner();
        let data = self.request.data();
        let algorithm = data.algorithm();
        for label in key.iter_labels() {
            target.append_slice(&[label.len() as u8])?;
            for b in label.as_slice() {
                target.append_slice(&[b.to_ascii_lowercase()])?;
            }
        }
        Rtype::TSIG.compose(target)?;
        Class::ANY.compose(target)?;
        0u32.compose(target)?;
        // Algorithm name, time (6), fudge, MAC size, original ID, error,
        // other length: 2 each.
        let rdlen = algorithm.compose_len() + 6 + 2 * 5;
        rdlen.compose(target)?;
        for label in algorithm.iter_labels() {
            target.append_slice(&[label.len() as u8])?;
            target.append_slice(label.as_slice())?;
        }
        target.append_slice(&data.time_signed().into_octets())?;
        data.fudge().compose(target)?;
        0u16.compose(target)?;
        self.id.compose(target)?;
        self.error.compose(target)?;
        0u16.compose(target)
    }
}

/// A, AAAA of the in-zone targets of the NS, MX and SRV records picked
/// for `set` (in `scratch.picks`).
fn add_addresses<T: Composer>(
    additional: &mut AdditionalBuilder<T>,
    zone: &Zone,
    set: &RecordSet,
    health: &HealthTable,
    client: &dyn Locate,
    scratch: &mut Scratch,
) {
    for pick in &scratch.picks {
        let target = match set.records[pick.record as usize].values[pick.value as usize].other() {
            Some(RData::Ns(ns)) => ns.nsdname(),
            Some(RData::Mx(mx)) => mx.exchange(),
            Some(RData::Srv(srv)) => srv.target(),
            _ => continue,
        };
        if !target.ends_with(&zone.apex) {
            continue;
        }
        let Some(node) = zone.node(&NameKey::new(target)) else {
            continue;
        };
        for rtype in [Rtype::A, Rtype::AAAA] {
            let Some(addrs) = node.set(rtype) else {
                continue;
            };
            routing::select(
                addrs,
                |id| health.is_healthy(id),
                client,
                &mut scratch.rng,
                &mut scratch.extra_picks,
            );
            let owner = Owner::Zone(&node.name);
            if push_picks(additional, &owner, addrs, &scratch.extra_picks).is_err() {
                return;
            }
        }
    }
}

/// `owner` with its `suffix` replaced by `target` (DNAME substitution);
/// `None` when the result would be longer than 255 octets.
fn substitute(owner: &Owner<'_>, suffix: &DName, target: &DName) -> Option<StackName> {
    let mut wire = Array::<255>::new();
    let mut len = 0;
    let mut append = |bytes: &[u8]| {
        let end = len + bytes.len();
        wire.resize_raw(end).ok()?;
        wire.as_slice_mut()[len..end].copy_from_slice(bytes);
        len = end;
        Some(())
    };
    let owner_labels = match owner {
        Owner::Query(n) => n.label_count(),
        Owner::Zone(n) | Owner::InQuestion(n, _) => n.label_count(),
        Owner::Synthesised(n) => n.label_count(),
    };
    let keep = owner_labels - suffix.label_count();
    let mut push_labels = |labels: &mut dyn Iterator<Item = &domain::base::name::Label>| {
        for label in labels.take(keep) {
            append(&[label.len() as u8])?;
            append(label.as_slice())?;
        }
        Some(())
    };
    match owner {
        Owner::Query(n) => push_labels(&mut n.iter_labels())?,
        Owner::Zone(n) | Owner::InQuestion(n, _) => push_labels(&mut n.iter_labels())?,
        Owner::Synthesised(n) => push_labels(&mut n.iter_labels())?,
    }
    append(target.as_slice())?;
    Name::from_octets(wire).ok()
}

/// A section a record can be pushed into.
trait Section {
    fn push_record(&mut self, record: impl ComposeRecord) -> Result<(), PushError>;
}

impl<T: Composer> Section for AnswerBuilder<T> {
    fn push_record(&mut self, record: impl ComposeRecord) -> Result<(), PushError> {
        self.push(record)
    }
}

impl<T: Composer> Section for AuthorityBuilder<T> {
    fn push_record(&mut self, record: impl ComposeRecord) -> Result<(), PushError> {
        self.push(record)
    }
}

impl<T: Composer> Section for AdditionalBuilder<T> {
    fn push_record(&mut self, record: impl ComposeRecord) -> Result<(), PushError> {
        self.push(record)
    }
}

fn push_value(
    section: &mut impl Section,
    owner: &Owner<'_>,
    ttl: Ttl,
    data: &Value,
) -> Result<(), PushError> {
    push_data(section, owner, ttl, data)
}

fn push_data(
    section: &mut impl Section,
    owner: &Owner<'_>,
    ttl: Ttl,
    data: &impl domain::base::rdata::ComposeRecordData,
) -> Result<(), PushError> {
    match owner {
        Owner::Query(_) => section.push_record(AtPointer {
            pointer: QUESTION_NAME_POINTER,
            ttl,
            data,
        }),
        Owner::InQuestion(_, pointer) => section.push_record(AtPointer {
            pointer: *pointer,
            ttl,
            data,
        }),
        Owner::Zone(name) => section.push_record((*name, Class::IN, ttl, data)),
        Owner::Synthesised(name) => section.push_record((name, Class::IN, ttl, data)),
    }
}

/// Where every response's question name starts: right after the header.
const QUESTION_NAME_POINTER: u16 = 0xC000 | 12;

/// `name`, which ends the query name, as an owner pointing into the
/// question: the question is written uncompressed at offset 12, so the
/// suffix starts after the query name's first labels.
fn in_question<'a>(query: &Query<'_>, name: &'a DName) -> Owner<'a> {
    debug_assert!(
        query.qname.ends_with(name),
        "{name} does not end the query name"
    );
    let skip = query.qname.label_count() - name.label_count();
    let offset: usize = query
        .qname
        .iter_labels()
        .take(skip)
        .map(|l| l.len() + 1)
        .sum();
    // At most 12 + 255: always a valid 14-bit offset.
    Owner::InQuestion(name, 0xC000 | (12 + offset) as u16)
}

/// A record owned by a name of the question, written with a pointer to it
/// rather than through the compressor. The compressor would compare the
/// name label by label against every name it holds, for every record: the
/// largest user-space cost of a multivalue answer in the profile
/// (BENCHMARKS.md), for a result known in advance.
struct AtPointer<'a, D> {
    pointer: u16,
    ttl: Ttl,
    data: &'a D,
}

impl<D: domain::base::rdata::ComposeRecordData> ComposeRecord for AtPointer<'_, D> {
    fn compose_record<Target: Composer + ?Sized>(
        &self,
        target: &mut Target,
    ) -> Result<(), Target::AppendError> {
        self.pointer.compose(target)?;
        self.data.rtype().compose(target)?;
        Class::IN.compose(target)?;
        self.ttl.compose(target)?;
        self.data.compose_len_rdata(target)
    }
}

fn push_picks(
    section: &mut impl Section,
    owner: &Owner<'_>,
    set: &RecordSet,
    picks: &[Pick],
) -> Result<(), PushError> {
    for pick in picks {
        let record = &set.records[pick.record as usize];
        // An alias has no values of its own: where it is not followed
        // (additional-section addresses), it adds nothing.
        if let Some(value) = record.values.get(pick.value as usize) {
            push_value(section, owner, record.ttl, value)?;
        }
    }
    Ok(())
}

/// A response with the question only, TC set: the client retries on TCP.
fn write_truncated(query: &Query<'_>, out: &mut Vec<u8>) {
    out.clear();
    let builder =
        MessageBuilder::from_target(StaticCompressor::new(&mut *out)).expect("empty buffer");
    let Ok(mut answer) = builder.start_answer(query.msg, Rcode::NOERROR) else {
        return;
    };
    answer.header_mut().set_tc(true);
    answer.header_mut().set_aa(true);
    finish(&mut answer.additional(), query);
}

/// An error response: header, the question when it parses (not for
/// FORMERR), and OPT when the request had one. Extended rcodes (BADVERS)
/// go into the OPT record, as RFC 6891 §6.1.3 says.
fn write_error(
    msg: &Message<&[u8]>,
    rcode: OptRcode,
    edns: Option<Edns>,
    out: &mut Vec<u8>,
) -> OptRcode {
    out.clear();
    let mut builder =
        MessageBuilder::from_target(StaticCompressor::new(&mut *out)).expect("empty buffer");
    {
        let header = builder.header_mut();
        header.set_id(msg.header().id());
        header.set_qr(true);
        header.set_opcode(msg.header().opcode());
        header.set_rd(msg.header().rd());
        header.set_rcode(rcode.rcode());
    }
    let mut question = builder.question();
    if rcode != OptRcode::FORMERR
        && msg.header_counts().qdcount() == 1
        && let Ok(q) = msg.sole_question()
    {
        let _ = question.push(q);
    }
    let mut additional = question.additional();
    if let Some(edns) = edns {
        let _ = additional.opt(|opt| {
            opt.set_udp_payload_size(MAX_UDP_PAYLOAD);
            opt.set_dnssec_ok(edns.dnssec_ok);
            opt.set_rcode(rcode);
            push_cookie(opt, edns.cookie.as_ref())
        });
    }
    rcode
}

/// Adds the response's COOKIE option, when there is one.
pub(crate) fn push_cookie<T: Composer>(
    opt: &mut domain::base::message_builder::OptBuilder<'_, T>,
    cookie: Option<&[u8; cookie::RESPONSE_LEN]>,
) -> Result<(), T::AppendError> {
    match cookie {
        Some(data) => opt.push_raw_option(OptionCode::COOKIE, data.len() as u16, |target| {
            target.append_slice(data)
        }),
        None => Ok(()),
    }
}
