//! Hot-path micro-benchmark: NLnet Labs `domain` vs `hickory-proto`.
//!
//! Per query, each implementation:
//!  1. parses an incoming query (`wWw.ExaMple.TEST. A IN` + EDNS OPT, payload
//!     1232) from a byte slice and extracts qname/qtype/qclass and the OPT
//!     UDP payload size;
//!  2. builds the response into a reused `Vec<u8>`: id copied, QR+AA set,
//!     question echoed with its original case, 2 A records owned by the qname
//!     (compressed against the question), and an OPT record.
//!
//! A counting `#[global_allocator]` reports heap allocations per query.
//! Before timing, every implementation's response is parsed back (with both
//! crates) and checked.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

// ---------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static REALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        REALLOCS.fetch_add(1, Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// (alloc + alloc_zeroed calls, realloc calls)
fn alloc_counts() -> (u64, u64) {
    (ALLOCS.load(Relaxed), REALLOCS.load(Relaxed))
}

// ---------------------------------------------------------------------------
// Test data
// ---------------------------------------------------------------------------

const QNAME_WIRE: &[u8] = b"\x03wWw\x07ExaMple\x04TEST\x00";
const ADDR1: [u8; 4] = [192, 0, 2, 1];
const ADDR2: [u8; 4] = [192, 0, 2, 2];
const TTL: u32 = 300;
const OUR_PAYLOAD: u16 = 1232;

/// A realistic query as a resolver would send it to an authoritative server:
/// RD=0, one question, one OPT RR (UDP payload 1232, no options).
fn query_packet() -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&0xbeefu16.to_be_bytes()); // ID
    p.extend_from_slice(&0x0000u16.to_be_bytes()); // flags: QUERY, RD=0
    p.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    p.extend_from_slice(&0u16.to_be_bytes()); // ANCOUNT
    p.extend_from_slice(&0u16.to_be_bytes()); // NSCOUNT
    p.extend_from_slice(&1u16.to_be_bytes()); // ARCOUNT
    p.extend_from_slice(QNAME_WIRE);
    p.extend_from_slice(&1u16.to_be_bytes()); // QTYPE A
    p.extend_from_slice(&1u16.to_be_bytes()); // QCLASS IN
    // OPT RR
    p.push(0); // root owner
    p.extend_from_slice(&41u16.to_be_bytes()); // TYPE OPT
    p.extend_from_slice(&1232u16.to_be_bytes()); // CLASS = UDP payload size
    p.extend_from_slice(&0u32.to_be_bytes()); // ext-rcode/version/flags
    p.extend_from_slice(&0u16.to_be_bytes()); // RDLEN
    p
}

// ---------------------------------------------------------------------------
// domain 0.12.3 — zero-copy path
// ---------------------------------------------------------------------------

mod dom {
    use super::*;
    use domain::base::iana::{Class, Rcode, Rtype};
    use domain::base::message_builder::{MessageBuilder, StaticCompressor};
    use domain::base::name::ParsedName;
    use domain::base::{Message, Ttl};
    use domain::rdata::A;

    pub struct Parsed<'a> {
        pub msg: Message<&'a [u8]>,
        pub qname: ParsedName<&'a [u8]>,
        pub qtype: Rtype,
        pub qclass: Class,
        pub payload: u16,
    }

    #[inline(never)]
    pub fn parse(pkt: &[u8]) -> Parsed<'_> {
        let msg = Message::from_octets(pkt).expect("short message");
        let q = msg.sole_question().expect("question");
        let payload = msg.opt().map(|o| o.udp_payload_size()).unwrap_or(512);
        Parsed {
            qname: *q.qname(),
            qtype: q.qtype(),
            qclass: q.qclass(),
            payload,
            msg,
        }
    }

    #[inline(never)]
    pub fn build(p: &Parsed<'_>, buf: &mut Vec<u8>) -> usize {
        buf.clear();
        let b = MessageBuilder::from_target(StaticCompressor::new(&mut *buf)).unwrap();
        // start_answer: copies ID/OPCODE/RD, sets QR, echoes the question(s).
        let mut ans = b.start_answer(&p.msg, Rcode::NOERROR).unwrap();
        ans.header_mut().set_aa(true);
        let ttl = Ttl::from_secs(TTL);
        ans.push((p.qname, Class::IN, ttl, A::new(Ipv4Addr::from(ADDR1)))).unwrap();
        ans.push((p.qname, Class::IN, ttl, A::new(Ipv4Addr::from(ADDR2)))).unwrap();
        let mut add = ans.additional();
        add.opt(|o| {
            o.set_udp_payload_size(OUR_PAYLOAD);
            Ok(())
        })
        .unwrap();
        add.finish().as_slice().len()
    }

    #[inline(never)]
    pub fn handle(pkt: &[u8], buf: &mut Vec<u8>) -> usize {
        let p = parse(pkt);
        black_box((&p.qname, p.qtype, p.qclass, p.payload));
        build(&p, buf)
    }
}

// ---------------------------------------------------------------------------
// hickory-proto 0.26 — low-level path (BinDecoder / BinEncoder, no Message)
// ---------------------------------------------------------------------------

mod hick_ll {
    use super::*;
    use hickory_proto::op::{Edns, Header, HeaderCounts, Metadata, Query};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
    use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};

    pub struct Parsed {
        pub header: Header,
        pub query: Query,
        pub payload: u16,
    }

    #[inline(never)]
    pub fn parse(pkt: &[u8]) -> Parsed {
        let mut dec = BinDecoder::new(pkt);
        let header = Header::read(&mut dec).expect("header");
        assert_eq!(header.counts.queries, 1);
        let query = Query::read(&mut dec).expect("question");
        let mut payload = 512;
        // Skip answer/authority (normally 0 in a query); find the OPT in additional.
        let others = header.counts.answers as usize + header.counts.authorities as usize;
        for _ in 0..others {
            Record::read(&mut dec).expect("record");
        }
        for _ in 0..header.counts.additionals {
            let rec = Record::read(&mut dec).expect("record");
            if rec.record_type() == RecordType::OPT {
                // Same as Edns::from(&rec).max_payload() without cloning the options.
                payload = u16::from(rec.dns_class).max(512);
            }
        }
        Parsed { header, query, payload }
    }

    #[inline(never)]
    pub fn build(p: &Parsed, buf: &mut Vec<u8>) -> usize {
        buf.clear();
        let mut enc = BinEncoder::new(buf);
        let place = enc.place::<Header>().unwrap();
        p.query.emit(&mut enc).unwrap();
        let name: &Name = p.query.name();
        let r1 = Record::from_rdata(name.clone(), TTL, RData::A(A(Ipv4Addr::from(ADDR1))));
        let r2 = Record::from_rdata(name.clone(), TTL, RData::A(A(Ipv4Addr::from(ADDR2))));
        debug_assert_eq!(r1.dns_class, DNSClass::IN);
        r1.emit(&mut enc).unwrap();
        r2.emit(&mut enc).unwrap();
        let mut edns = Edns::new();
        edns.set_max_payload(OUR_PAYLOAD);
        edns.emit(&mut enc).unwrap();

        let mut md = Metadata::response_from_request(&p.header.metadata);
        md.authoritative = true;
        let mut h = p.header;
        h.metadata = md;
        h.counts = HeaderCounts { queries: 1, answers: 2, authorities: 0, additionals: 1 };
        place.replace(&mut enc, h).unwrap();
        enc.len()
    }

    #[inline(never)]
    pub fn handle(pkt: &[u8], buf: &mut Vec<u8>) -> usize {
        let p = parse(pkt);
        black_box((p.query.name(), p.query.query_type(), p.query.query_class(), p.payload));
        build(&p, buf)
    }
}

// ---------------------------------------------------------------------------
// hickory-proto 0.26 — idiomatic Message path (Message::from_vec / emit)
// ---------------------------------------------------------------------------

mod hick_msg {
    use super::*;
    use hickory_proto::op::{Edns, Message};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record};
    use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

    #[inline(never)]
    pub fn parse(pkt: &[u8]) -> Message {
        Message::from_vec(pkt).expect("message")
    }

    #[inline(never)]
    pub fn build(req: &Message, buf: &mut Vec<u8>) -> usize {
        let q = &req.queries[0];
        let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
        resp.metadata.recursion_desired = req.metadata.recursion_desired;
        resp.metadata.checking_disabled = req.metadata.checking_disabled;
        resp.metadata.authoritative = true;
        resp.add_query(q.clone());
        let name = q.name();
        resp.add_answer(Record::from_rdata(name.clone(), TTL, RData::A(A(Ipv4Addr::from(ADDR1)))));
        resp.add_answer(Record::from_rdata(name.clone(), TTL, RData::A(A(Ipv4Addr::from(ADDR2)))));
        let mut edns = Edns::new();
        edns.set_max_payload(OUR_PAYLOAD);
        resp.set_edns(edns);
        buf.clear();
        let mut enc = BinEncoder::new(buf);
        resp.emit(&mut enc).unwrap();
        enc.len()
    }

    #[inline(never)]
    pub fn handle(pkt: &[u8], buf: &mut Vec<u8>) -> usize {
        let req = parse(pkt);
        let q = &req.queries[0];
        let payload = req.edns.as_ref().map(|e| e.max_payload()).unwrap_or(512);
        black_box((q.name(), q.query_type(), q.query_class(), payload));
        build(&req, buf)
    }
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

fn check_extracted(pkt: &[u8]) {
    let d = dom::parse(pkt);
    assert_eq!(d.qname.to_string(), "wWw.ExaMple.TEST");
    assert_eq!(d.qtype, domain::base::iana::Rtype::A);
    assert_eq!(d.qclass, domain::base::iana::Class::IN);
    assert_eq!(d.payload, 1232);

    let h = hick_ll::parse(pkt);
    assert_eq!(h.query.name().to_ascii(), "wWw.ExaMple.TEST.");
    assert_eq!(h.query.query_type(), hickory_proto::rr::RecordType::A);
    assert_eq!(h.query.query_class(), hickory_proto::rr::DNSClass::IN);
    assert_eq!(h.payload, 1232);

    let m = hick_msg::parse(pkt);
    assert_eq!(m.queries[0].name().to_ascii(), "wWw.ExaMple.TEST.");
    assert_eq!(m.edns.as_ref().unwrap().max_payload(), 1232);
}

fn verify_response(label: &str, resp: &[u8]) {
    // Wire-level checks.
    assert_eq!(&resp[0..2], &0xbeefu16.to_be_bytes(), "{label}: id");
    assert_eq!(resp[2] & 0x80, 0x80, "{label}: QR");
    assert_eq!(resp[2] & 0x04, 0x04, "{label}: AA");
    assert_eq!(&resp[12..12 + QNAME_WIRE.len()], QNAME_WIRE, "{label}: question case");
    // First answer owner must be a compression pointer to the question (offset 12).
    let ans0 = 12 + QNAME_WIRE.len() + 4;
    assert_eq!(&resp[ans0..ans0 + 2], &[0xc0, 0x0c], "{label}: answer owner compressed");

    // Parse back with domain.
    {
        use domain::base::iana::{Class, Rtype};
        use domain::base::Message;
        use domain::rdata::A;
        let msg = Message::from_octets(resp).unwrap();
        let h = msg.header();
        assert!(h.qr() && h.aa(), "{label}");
        assert_eq!(h.id(), 0xbeef);
        let q = msg.sole_question().unwrap();
        assert_eq!(q.qname().to_string(), "wWw.ExaMple.TEST");
        assert_eq!(q.qtype(), Rtype::A);
        let mut addrs = Vec::new();
        for rr in msg.answer().unwrap() {
            let rr = rr.unwrap().into_record::<A>().unwrap().unwrap();
            assert_eq!(rr.owner().to_string().to_ascii_lowercase(), "www.example.test");
            assert_eq!(rr.class(), Class::IN);
            assert_eq!(rr.ttl().as_secs(), TTL);
            addrs.push(rr.data().addr().octets());
        }
        assert_eq!(addrs, vec![ADDR1, ADDR2], "{label}: answers (domain parse)");
        assert_eq!(msg.opt().unwrap().udp_payload_size(), OUR_PAYLOAD);
        assert_eq!(msg.header_counts().arcount(), 1);
    }
    // Parse back with hickory.
    {
        use hickory_proto::op::{Message, MessageType};
        use hickory_proto::rr::RData;
        let m = Message::from_vec(resp).unwrap();
        assert_eq!(m.metadata.id, 0xbeef);
        assert_eq!(m.metadata.message_type, MessageType::Response);
        assert!(m.metadata.authoritative);
        assert_eq!(m.queries.len(), 1);
        assert_eq!(m.queries[0].name().to_ascii(), "wWw.ExaMple.TEST.");
        let addrs: Vec<[u8; 4]> = m
            .answers
            .iter()
            .map(|r| {
                assert_eq!(r.name.to_ascii().to_ascii_lowercase(), "www.example.test.");
                match &r.data {
                    RData::A(a) => a.0.octets(),
                    other => panic!("{label}: unexpected rdata {other:?}"),
                }
            })
            .collect();
        assert_eq!(addrs, vec![ADDR1, ADDR2], "{label}: answers (hickory parse)");
        assert_eq!(m.edns.as_ref().unwrap().max_payload(), OUR_PAYLOAD);
    }
}

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

type HandleFn = fn(&[u8], &mut Vec<u8>) -> usize;

struct Impl {
    name: &'static str,
    handle: HandleFn,
    parse_allocs: fn(&[u8], u64) -> (u64, u64),
    build_allocs: fn(&[u8], u64) -> (u64, u64),
}

fn measure_allocs<F: FnMut()>(iters: u64, mut f: F) -> (u64, u64) {
    let (a0, r0) = alloc_counts();
    for _ in 0..iters {
        f();
    }
    let (a1, r1) = alloc_counts();
    (a1 - a0, r1 - r0)
}

fn run_timed(handle: HandleFn, pkt: &[u8], buf: &mut Vec<u8>, iters: u64) -> f64 {
    let t = Instant::now();
    let mut acc = 0usize;
    for _ in 0..iters {
        acc = acc.wrapping_add(handle(black_box(pkt), buf));
        black_box(&buf);
    }
    let el = t.elapsed();
    black_box(acc);
    el.as_nanos() as f64 / iters as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let iters: u64 = std::env::var("ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(2_000_000);
    let runs: usize = 5;
    let pkt = query_packet();

    let impls = [
        Impl {
            name: "domain 0.12.3 (Message<&[u8]> + MessageBuilder<StaticCompressor<&mut Vec>>)",
            handle: dom::handle,
            parse_allocs: |pkt, n| measure_allocs(n, || {
                black_box(dom::parse(black_box(pkt)));
            }),
            build_allocs: |pkt, n| {
                let p = dom::parse(pkt);
                let mut buf = Vec::with_capacity(4096);
                measure_allocs(n, || {
                    black_box(dom::build(&p, &mut buf));
                })
            },
        },
        Impl {
            name: "hickory-proto 0.26.3 low-level (Header/Query/Record::read + BinEncoder)",
            handle: hick_ll::handle,
            parse_allocs: |pkt, n| measure_allocs(n, || {
                black_box(hick_ll::parse(black_box(pkt)));
            }),
            build_allocs: |pkt, n| {
                let p = hick_ll::parse(pkt);
                let mut buf = Vec::with_capacity(4096);
                measure_allocs(n, || {
                    black_box(hick_ll::build(&p, &mut buf));
                })
            },
        },
        Impl {
            name: "hickory-proto 0.26.3 Message (Message::from_vec + Message::emit)",
            handle: hick_msg::handle,
            parse_allocs: |pkt, n| measure_allocs(n, || {
                black_box(hick_msg::parse(black_box(pkt)));
            }),
            build_allocs: |pkt, n| {
                let p = hick_msg::parse(pkt);
                let mut buf = Vec::with_capacity(4096);
                measure_allocs(n, || {
                    black_box(hick_msg::build(&p, &mut buf));
                })
            },
        },
    ];

    // ---- correctness first ----
    check_extracted(&pkt);
    let mut reference: Option<Vec<u8>> = None;
    for im in &impls {
        let mut buf = Vec::with_capacity(4096);
        let n = (im.handle)(&pkt, &mut buf);
        assert_eq!(n, buf.len());
        verify_response(im.name, &buf);
        match &reference {
            None => reference = Some(buf.clone()),
            Some(r) => assert_eq!(r, &buf, "{}: response bytes differ from domain's", im.name),
        }
    }
    let resp_len = reference.as_ref().unwrap().len();
    println!(
        "verified: all implementations produce identical {resp_len}-byte responses \
         (query {} bytes) that parse back with both crates",
        pkt.len()
    );

    // ---- allocations (steady state, reused buffer) ----
    const ALLOC_ITERS: u64 = 100_000;
    let mut alloc_rows = Vec::new();
    for im in &impls {
        let mut buf = Vec::with_capacity(4096);
        (im.handle)(&pkt, &mut buf); // warm
        let (a, r) = measure_allocs(ALLOC_ITERS, || {
            black_box((im.handle)(black_box(&pkt), &mut buf));
        });
        let (pa, pr) = (im.parse_allocs)(&pkt, ALLOC_ITERS);
        let (ba, br) = (im.build_allocs)(&pkt, ALLOC_ITERS);
        let f = |x: u64| x as f64 / ALLOC_ITERS as f64;
        alloc_rows.push((f(a), f(r), f(pa) + f(pr), f(ba) + f(br)));
    }

    // ---- timing: warm-up, then `runs` interleaved runs ----
    println!("iterations per run: {iters}, runs: {runs} (interleaved), reported: median");
    let mut bufs: Vec<Vec<u8>> = impls.iter().map(|_| Vec::with_capacity(4096)).collect();
    for (im, buf) in impls.iter().zip(bufs.iter_mut()) {
        run_timed(im.handle, &pkt, buf, iters / 10);
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); impls.len()];
    for _ in 0..runs {
        for (i, im) in impls.iter().enumerate() {
            samples[i].push(run_timed(im.handle, &pkt, &mut bufs[i], iters));
        }
    }

    println!();
    println!(
        "| implementation | ns/query (median of {runs}) | min–max | allocs/query (alloc+realloc) | of which parse | of which build |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (i, im) in impls.iter().enumerate() {
        let mut s = samples[i].clone();
        let lo = s.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = s.iter().cloned().fold(0.0, f64::max);
        let med = median(&mut s);
        let (a, r, pa, ba) = alloc_rows[i];
        println!(
            "| {} | {:.1} | {:.1}–{:.1} | {:.2} ({:.2}+{:.2}) | {:.2} | {:.2} |",
            im.name,
            med,
            lo,
            hi,
            a + r,
            a,
            r,
            pa,
            ba
        );
    }
}
