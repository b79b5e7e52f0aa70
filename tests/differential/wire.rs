//! Queries on the wire and responses in a form that compares: packets are
//! built by hand (the malformed ones have to be), sent over raw UDP or TCP
//! sockets, and parsed with `domain` into text, section by section.
//!
//! What legitimately varies is normalised away: the order of records in a
//! section, the case of names other than the question (RFC 4343; the
//! question itself must come back as sent), the message ID (checked, not
//! compared).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use domain::base::Message;
use domain::base::iana::Rtype;
use domain::base::name::ParsedName;
use domain::base::rdata::ComposeRecordData;
use domain::rdata::AllRecordData;

/// How long to wait for an answer; also the wait that shows there is none.
pub const TIMEOUT: Duration = Duration::from_millis(700);

/// `name` in wire form, case kept (`\.` and `\DDD` escapes read).
pub fn wire_name(name: &str) -> Vec<u8> {
    let parsed: domain::base::Name<Vec<u8>> = name.parse().expect("a valid name");
    parsed.as_slice().to_vec()
}

/// One resource record in wire form.
pub fn rr(owner: &[u8], rtype: u16, class: u16, ttl: u32, rdata: &[u8]) -> Vec<u8> {
    let mut out = owner.to_vec();
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&class.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
    out
}

/// An OPT record: payload size, version, DO, raw option bytes.
pub fn opt(payload: u16, version: u8, dnssec_ok: bool, options: &[u8]) -> Vec<u8> {
    let ttl = (u32::from(version) << 16) | if dnssec_ok { 0x8000 } else { 0 };
    rr(&[0], 41, payload, ttl, options)
}

/// A TSIG record signed with a key the servers do not know: hmac-sha256,
/// a 32-octet MAC of zeros, original ID `id`.
pub fn tsig(key: &str, id: u16) -> Vec<u8> {
    let mut rdata = wire_name("hmac-sha256.");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    rdata.extend_from_slice(&now.to_be_bytes()[2..]);
    rdata.extend_from_slice(&300u16.to_be_bytes());
    rdata.extend_from_slice(&32u16.to_be_bytes());
    rdata.extend_from_slice(&[0; 32]);
    rdata.extend_from_slice(&id.to_be_bytes());
    rdata.extend_from_slice(&[0, 0, 0, 0]);
    rr(&wire_name(key), 250, 255, 0, &rdata)
}

/// A message: header fields, questions and records in wire form.
#[derive(Debug, Clone, Default)]
pub struct Packet {
    /// Message ID.
    pub id: u16,
    /// The 16 flag bits (QR, opcode, AA, TC, RD, RA, Z, AD, CD, rcode).
    pub flags: u16,
    /// Question entries, each name + type + class.
    pub questions: Vec<Vec<u8>>,
    /// Answer records.
    pub answer: Vec<Vec<u8>>,
    /// Authority records.
    pub authority: Vec<Vec<u8>>,
    /// Additional records.
    pub additional: Vec<Vec<u8>>,
}

/// A question entry.
pub fn question(name: &str, qtype: u16, qclass: u16) -> Vec<u8> {
    let mut q = wire_name(name);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&qclass.to_be_bytes());
    q
}

impl Packet {
    /// The wire form.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        for count in [
            self.questions.len(),
            self.answer.len(),
            self.authority.len(),
            self.additional.len(),
        ] {
            out.extend_from_slice(&(count as u16).to_be_bytes());
        }
        for part in self
            .questions
            .iter()
            .chain(&self.answer)
            .chain(&self.authority)
            .chain(&self.additional)
        {
            out.extend_from_slice(part);
        }
        out
    }
}

/// Sends `packet` and returns the response with the same ID, or `None`
/// when none comes within TIMEOUT.
pub fn exchange(addr: SocketAddr, packet: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let id = packet.get(..2).map(|b| [b[0], b[1]]);
    if tcp {
        let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).ok()?;
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(packet);
        stream.write_all(&framed).ok()?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).ok()?;
        let mut response = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut response).ok()?;
        return Some(response);
    }
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.send_to(packet, addr).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let mut buf = vec![0u8; 65_535];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let (n, from) = socket.recv_from(&mut buf).ok()?;
        if from == addr && (id.is_none() || buf.get(..2) == id.as_ref().map(|i| &i[..])) {
            return Some(buf[..n].to_vec());
        }
    }
}

/// A response as compared: `None` for no response at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Nothing came back.
    Silent,
    /// Bytes that do not parse as a DNS message.
    Unparsable(String),
    /// A message, normalised.
    Message(Normal),
}

/// A message, normalised for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normal {
    /// Opcode number, full rcode and flags, e.g. `op0 NOERROR qr aa rd`.
    pub header: String,
    /// The question entries, exactly (case kept).
    pub question: Vec<String>,
    /// Answer records, sorted, names lower-cased.
    pub answer: Vec<String>,
    /// Authority records.
    pub authority: Vec<String>,
    /// Additional records, OPT apart.
    pub additional: Vec<String>,
    /// The OPT record: version, DO, payload, options.
    pub opt: Option<String>,
}

impl Reply {
    /// Normalises raw response bytes.
    pub fn from_bytes(bytes: Option<Vec<u8>>) -> Reply {
        let Some(bytes) = bytes else {
            return Reply::Silent;
        };
        match normalise(&bytes) {
            Some(n) => Reply::Message(n),
            None => Reply::Unparsable(hex(&bytes)),
        }
    }

    /// The parts in which `self` and `other` differ: `response` (one is
    /// silent or unparsable), `header`, `question`, `answer`, `authority`,
    /// `additional`, `opt`.
    pub fn differences(&self, other: &Reply) -> Vec<&'static str> {
        match (self, other) {
            (Reply::Message(a), Reply::Message(b)) => {
                let mut out = Vec::new();
                let pairs = [
                    ("header", a.header == b.header),
                    ("question", a.question == b.question),
                    ("answer", a.answer == b.answer),
                    ("authority", a.authority == b.authority),
                    ("additional", a.additional == b.additional),
                    ("opt", a.opt == b.opt),
                ];
                for (part, same) in pairs {
                    if !same {
                        out.push(part);
                    }
                }
                out
            }
            (a, b) if a == b => Vec::new(),
            _ => vec!["response"],
        }
    }

    /// Multi-line text for failure messages.
    pub fn render(&self) -> String {
        match self {
            Reply::Silent => "    (no response)\n".into(),
            Reply::Unparsable(hex) => format!("    (unparsable) {hex}\n"),
            Reply::Message(n) => {
                let mut out = format!(
                    "    {}  opt: {}\n    question: {}\n",
                    n.header,
                    n.opt.as_deref().unwrap_or("none"),
                    n.question.join(" | ")
                );
                for (name, section) in [
                    ("answer", &n.answer),
                    ("authority", &n.authority),
                    ("additional", &n.additional),
                ] {
                    for rr in section {
                        out.push_str(&format!("    {name}: {rr}\n"));
                    }
                }
                out
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn normalise(bytes: &[u8]) -> Option<Normal> {
    let msg = Message::from_octets(bytes).ok()?;
    let header = msg.header();
    let mut flags = Vec::new();
    for (set, name) in [
        (header.qr(), "qr"),
        (header.aa(), "aa"),
        (header.tc(), "tc"),
        (header.rd(), "rd"),
        (header.ra(), "ra"),
        (header.z(), "z"),
        (header.ad(), "ad"),
        (header.cd(), "cd"),
    ] {
        if set {
            flags.push(name);
        }
    }
    let mut question = Vec::new();
    for q in msg.question() {
        let q = q.ok()?;
        question.push(format!("{}. {} {}", q.qname(), q.qclass(), q.qtype()));
    }
    let mut sections: [Vec<String>; 3] = Default::default();
    let mut opt = None;
    let mut section = msg.answer().ok()?;
    for (index, part) in sections.iter_mut().enumerate() {
        for record in section.by_ref() {
            let record = record.ok()?;
            if index == 2 && record.rtype() == Rtype::OPT {
                let data = record
                    .to_record::<domain::base::opt::Opt<_>>()
                    .ok()??
                    .into_data();
                let mut options = Vec::new();
                for option in data.iter::<domain::base::opt::UnknownOptData<_>>() {
                    let option = option.ok()?;
                    options.push(format!(
                        "{}:{}",
                        option.code().to_int(),
                        hex(option.as_slice())
                    ));
                }
                let ttl = record.ttl().as_secs();
                opt = Some(format!(
                    "version {} do {} udp {} options [{}]",
                    (ttl >> 16) & 0xff,
                    u8::from(ttl & 0x8000 != 0),
                    u16::from(record.class()),
                    options.join(" ")
                ));
                continue;
            }
            part.push(record_text(&record)?);
        }
        part.sort();
        if index < 2 {
            section = section.next_section().ok()??;
        }
    }
    let rcode = msg.opt_rcode();
    let [answer, authority, additional] = sections;
    Some(Normal {
        header: format!(
            "op{} {} {}",
            header.opcode().to_int(),
            rcode,
            flags.join(" ")
        ),
        question,
        answer,
        authority,
        additional,
        opt,
    })
}

/// `owner TTL CLASS TYPE data`, names lower-cased where RFC 4034 §6.2 puts
/// them in canonical form.
fn record_text(record: &domain::base::ParsedRecord<'_, &[u8]>) -> Option<String> {
    let owner = lower(&record.owner().to_string());
    let head = format!(
        "{owner}. {} {} {}",
        record.ttl().as_secs(),
        record.class(),
        record.rtype()
    );
    let parsed = record
        .to_record::<AllRecordData<&[u8], ParsedName<&[u8]>>>()
        .ok()??;
    let mut canonical = Vec::new();
    parsed.data().compose_canonical_rdata(&mut canonical).ok()?;
    let mut parser = domain::dep::octseq::Parser::from_ref(canonical.as_slice());
    let reparsed =
        <AllRecordData<&[u8], ParsedName<&[u8]>> as domain::base::rdata::ParseRecordData<
            '_,
            [u8],
        >>::parse_rdata(record.rtype(), &mut parser)
        .ok()??;
    Some(format!("{head} {reparsed}"))
}

fn lower(s: &str) -> String {
    s.to_ascii_lowercase()
}
