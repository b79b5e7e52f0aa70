//! Incoming transfers on the wire: the SOA query and the AXFR (RFC 5936)
//! or IXFR (RFC 1995) of a secondary zone from one primary, over TCP, TSIG-signed when the
//! zone has a key (the response then must verify, message by message, as
//! RFC 8945 §5.3.1 says).
//!
//! Messages are built and read with `domain`; the transfer stream is read
//! by `domain`'s `XfrResponseInterpreter` (first and last SOA, record
//! order, IXFR difference sequences and the fallback to a whole zone), and `domain::tsig`'s `ClientSequence` checks the signatures.
//! What is left here is the framing, the deadlines and the bounds a hostile
//! primary could otherwise abuse (a stream without end, a message ID or a
//! question that is not ours).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use domain::base::iana::{Class, Opcode, Rcode, Rtype};
use domain::base::name::FlattenInto;
use domain::base::{Message, MessageBuilder, ParsedName, Serial, ToName, Ttl};
use domain::net::xfr::protocol::XfrResponseInterpreter;
use domain::rdata::tsig::Time48;
use domain::rdata::{Tsig, ZoneRecordData};
use domain::tsig::{ClientSequence, Key};
use domain::zonetree::types::ZoneUpdate;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::model::{DName, RData};

/// How long connecting to a primary may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the primary may stay silent within an exchange.
pub const READ_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a whole transfer may take: a primary that trickles messages
/// just inside [`READ_TIMEOUT`] is cut off here.
pub const TRANSFER_DEADLINE: Duration = Duration::from_secs(600);
/// The most records one transfer may carry: a primary that streams
/// without end is cut off here.
pub const MAX_RECORDS: usize = 2_000_000;

/// Checks the TSIG of each response message to a signed request.
type Signed = ClientSequence<Arc<Key>>;

/// One record of a transferred zone.
pub type Rr = (DName, Ttl, RData);

/// Why a SOA query or a transfer from a primary failed; each says what
/// the operator can check.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Connecting, writing or reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The primary stayed silent.
    #[error("no answer within {} s", READ_TIMEOUT.as_secs())]
    Timeout,
    /// The transfer took too long as a whole.
    #[error("the transfer took more than {} s; abandoned", TRANSFER_DEADLINE.as_secs())]
    TooSlow,
    /// The primary answered with an error rcode.
    #[error("the primary answered {rcode}{tsig}")]
    Refused {
        /// Its rcode.
        rcode: Rcode,
        /// The TSIG error it gave, as text (empty when none).
        tsig: String,
    },
    /// The response is not a valid answer to our request.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The response's TSIG does not verify with the zone's key.
    #[error(
        "the response's TSIG does not verify with key {key}: {error}; is primary_key the primary's key?"
    )]
    BadSignature {
        /// The key's name.
        key: String,
        /// What `domain` found wrong.
        error: String,
    },
    /// The primary sent more than [`MAX_RECORDS`] records.
    #[error("more than {MAX_RECORDS} records; transfer abandoned")]
    TooLarge,
}

/// A TCP connection to a primary exchanging framed messages.
struct Connection {
    stream: TcpStream,
}

impl Connection {
    async fn open(primary: SocketAddr) -> Result<Connection, FetchError> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(primary))
            .await
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("cannot connect within {} s", CONNECT_TIMEOUT.as_secs()),
                )
            })??;
        Ok(Connection { stream })
    }

    async fn send(&mut self, message: &[u8]) -> Result<(), FetchError> {
        let mut frame = Vec::with_capacity(message.len() + 2);
        frame.extend_from_slice(&(message.len() as u16).to_be_bytes());
        frame.extend_from_slice(message);
        tokio::time::timeout(READ_TIMEOUT, self.stream.write_all(&frame))
            .await
            .map_err(|_| FetchError::Timeout)??;
        Ok(())
    }

    async fn receive(&mut self) -> Result<Vec<u8>, FetchError> {
        let read = async {
            let len = self.stream.read_u16().await?;
            let mut buf = vec![0u8; usize::from(len)];
            self.stream.read_exact(&mut buf).await?;
            Ok::<_, std::io::Error>(buf)
        };
        match tokio::time::timeout(READ_TIMEOUT, read).await {
            Ok(Ok(buf)) => Ok(buf),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(
                FetchError::Malformed("the primary closed the connection mid-answer".into()),
            ),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(FetchError::Timeout),
        }
    }
}

/// A request for `apex` of type `qtype`, signed with `key` when given;
/// an IXFR carries the serial it asks from in a SOA in its authority
/// section (RFC 1995 §3: only the serial matters to the primary).
fn request(
    apex: &DName,
    qtype: Rtype,
    since: Option<Serial>,
    id: u16,
    key: Option<Arc<Key>>,
) -> Result<(Vec<u8>, Option<Signed>), FetchError> {
    let malformed = |e: domain::base::message_builder::PushError| {
        FetchError::Malformed(format!("cannot build the request: {e}"))
    };
    let mut builder = MessageBuilder::new_vec();
    builder.header_mut().set_id(id);
    builder.header_mut().set_opcode(Opcode::QUERY);
    let mut question = builder.question();
    question.push((apex, qtype, Class::IN)).map_err(malformed)?;
    let mut authority = question.authority();
    if let Some(serial) = since {
        let zero = Ttl::from_secs(0);
        let soa = domain::rdata::Soa::new(apex, apex, serial, zero, zero, zero, zero);
        authority
            .push((apex, Class::IN, zero, soa))
            .map_err(malformed)?;
    }
    let mut additional = authority.additional();
    let signed = match key {
        Some(key) => {
            Some(ClientSequence::request(key, &mut additional, Time48::now()).map_err(malformed)?)
        }
        None => None,
    };
    Ok((additional.finish(), signed))
}

/// Checks one response message of the exchange for request `id` about
/// `apex` and `qtype`, and its TSIG when the request was signed; returns
/// it with the TSIG record removed.
fn check(
    wire: Vec<u8>,
    id: u16,
    apex: &DName,
    qtype: Rtype,
    first: bool,
    signed: Option<&mut Signed>,
) -> Result<Message<Bytes>, FetchError> {
    let mut msg = Message::from_octets(wire)
        .map_err(|_| FetchError::Malformed("shorter than a DNS header".into()))?;
    let header = msg.header();
    if !header.qr() || header.id() != id || header.opcode() != Opcode::QUERY {
        return Err(FetchError::Malformed(format!(
            "not a response to our request (id {}, qr {}, opcode {})",
            header.id(),
            header.qr(),
            header.opcode()
        )));
    }
    if header.rcode() != Rcode::NOERROR {
        return Err(FetchError::Refused {
            rcode: header.rcode(),
            tsig: tsig_error(&msg),
        });
    }
    let questions = msg.header_counts().qdcount();
    if (first && questions != 1) || questions > 1 {
        return Err(FetchError::Malformed(format!(
            "{questions} questions in a response"
        )));
    }
    if questions == 1 {
        let q = msg
            .sole_question()
            .map_err(|e| FetchError::Malformed(format!("unreadable question: {e}")))?;
        if q.qtype() != qtype || !q.qname().name_eq(apex) {
            return Err(FetchError::Malformed(format!(
                "the question is {} {}, not {} {qtype}",
                q.qname(),
                q.qtype(),
                apex.fmt_with_dot()
            )));
        }
    }
    if let Some(sequence) = signed {
        sequence
            .answer(&mut msg, Time48::now())
            .map_err(|e| FetchError::BadSignature {
                key: sequence.key().name().to_string(),
                error: e.to_string(),
            })?;
    }
    Ok(Message::from_octets(Bytes::from(msg.into_octets())).expect("parsed before"))
}

/// The TSIG error of an error response, as text for the log.
fn tsig_error(msg: &Message<Vec<u8>>) -> String {
    let Ok(section) = msg.additional() else {
        return String::new();
    };
    let mut error = String::new();
    for record in section.flatten() {
        if let Ok(Some(tsig)) = record.to_record::<Tsig<_, _>>() {
            error = format!(" (TSIG error {})", tsig.data().error());
        }
    }
    error
}

/// The serial of the SOA the primary serves for `apex`.
pub async fn soa_serial(
    apex: &DName,
    primary: SocketAddr,
    key: Option<Arc<Key>>,
) -> Result<Serial, FetchError> {
    let id: u16 = rand::random();
    let (message, mut signed) = request(apex, Rtype::SOA, None, id, key)?;
    let mut conn = Connection::open(primary).await?;
    conn.send(&message).await?;
    let reply = check(
        conn.receive().await?,
        id,
        apex,
        Rtype::SOA,
        true,
        signed.as_mut(),
    )?;
    if !reply.header().aa() {
        return Err(FetchError::Malformed(format!(
            "the answer is not authoritative: the primary does not serve {}",
            apex.fmt_with_dot()
        )));
    }
    let answer = reply
        .answer()
        .map_err(|e| FetchError::Malformed(format!("unreadable answer: {e}")))?;
    for record in answer.limit_to::<domain::rdata::Soa<ParsedName<Bytes>>>() {
        let record =
            record.map_err(|e| FetchError::Malformed(format!("unreadable SOA record: {e}")))?;
        if record.owner().name_eq(apex) {
            return Ok(record.data().serial());
        }
    }
    Err(FetchError::Malformed(format!(
        "no SOA record for {} in the answer",
        apex.fmt_with_dot()
    )))
}

/// What a transfer brought.
#[derive(Debug)]
pub enum Transfer {
    /// The whole zone, its SOA first (an AXFR, or an IXFR answered as one).
    Whole(Vec<Rr>),
    /// What changed since the serial asked from, one difference sequence
    /// per serial, in order (RFC 1995 §4).
    Changes(Vec<Diff>),
    /// An IXFR answered with the SOA alone: nothing newer.
    Current,
}

/// One difference sequence of an IXFR.
#[derive(Debug)]
pub struct Diff {
    /// The serial it applies to.
    pub from: Serial,
    /// The SOA after it.
    pub soa: Option<Rr>,
    /// Records it removes.
    pub removed: Vec<Rr>,
    /// Records it adds.
    pub added: Vec<Rr>,
}

/// The zone at `apex`: by AXFR without `since`, else by IXFR from serial
/// `since` (which the primary may answer with the whole zone).
pub async fn transfer(
    apex: &DName,
    primary: SocketAddr,
    key: Option<Arc<Key>>,
    since: Option<Serial>,
) -> Result<Transfer, FetchError> {
    tokio::time::timeout(
        TRANSFER_DEADLINE,
        transfer_unbounded(apex, primary, key, since),
    )
    .await
    .map_err(|_| FetchError::TooSlow)?
}

async fn transfer_unbounded(
    apex: &DName,
    primary: SocketAddr,
    key: Option<Arc<Key>>,
    since: Option<Serial>,
) -> Result<Transfer, FetchError> {
    let qtype = if since.is_some() {
        Rtype::IXFR
    } else {
        Rtype::AXFR
    };
    let id: u16 = rand::random();
    let (message, mut signed) = request(apex, qtype, since, id, key)?;
    let mut conn = Connection::open(primary).await?;
    conn.send(&message).await?;
    let mut interpreter = XfrResponseInterpreter::new();
    let mut whole: Option<Vec<Rr>> = None;
    let mut diffs: Vec<Diff> = Vec::new();
    let mut count = 0usize;
    let mut closing = None;
    let mut first = true;
    while !interpreter.is_finished() {
        let reply = check(
            conn.receive().await?,
            id,
            apex,
            qtype,
            first,
            signed.as_mut(),
        )?;
        first = false;
        let updates = interpreter
            .interpret_response(reply)
            .map_err(|e| FetchError::Malformed(e.to_string()))?;
        for update in updates {
            let update = match update {
                Ok(update) => update,
                // The SOA alone: the zone is current (over TCP, RFC 1995 §2).
                Err(domain::net::xfr::protocol::IterationError::SingleSoaIxfrTcpRetrySignal) => {
                    return Ok(Transfer::Current);
                }
                Err(e) => return Err(FetchError::Malformed(format!("{e:?}"))),
            };
            count += 1;
            if count > MAX_RECORDS {
                return Err(FetchError::TooLarge);
            }
            match update {
                ZoneUpdate::DeleteAllRecords => whole = Some(Vec::new()),
                ZoneUpdate::AddRecord(r) => {
                    let r = owned(&r, apex)?;
                    match (&mut whole, diffs.last_mut()) {
                        (Some(records), _) => records.push(r),
                        (None, Some(diff)) => diff.added.push(r),
                        (None, None) => whole = Some(vec![r]),
                    }
                }
                ZoneUpdate::BeginBatchDelete(r) => {
                    let from = match owned(&r, apex)?.2 {
                        RData::Soa(soa) => soa.serial(),
                        _ => {
                            return Err(FetchError::Malformed(
                                "a difference sequence without its SOA".into(),
                            ));
                        }
                    };
                    diffs.push(Diff {
                        from,
                        soa: None,
                        removed: Vec::new(),
                        added: Vec::new(),
                    });
                }
                ZoneUpdate::DeleteRecord(r) => match diffs.last_mut() {
                    Some(diff) => diff.removed.push(owned(&r, apex)?),
                    None => {
                        return Err(FetchError::Malformed(
                            "a removal outside a difference sequence".into(),
                        ));
                    }
                },
                ZoneUpdate::BeginBatchAdd(r) => match diffs.last_mut() {
                    Some(diff) => diff.soa = Some(owned(&r, apex)?),
                    None => {
                        return Err(FetchError::Malformed(
                            "an addition outside a difference sequence".into(),
                        ));
                    }
                },
                ZoneUpdate::Finished(r) => closing = Some(owned(&r, apex)?),
                other => {
                    return Err(FetchError::Malformed(format!(
                        "unexpected in a transfer: {other:?}"
                    )));
                }
            }
        }
    }
    if let Some(sequence) = signed {
        sequence.done().map_err(|e| FetchError::BadSignature {
            key: "of the zone".into(),
            error: e.to_string(),
        })?;
    }
    let closing =
        closing.ok_or_else(|| FetchError::Malformed("the transfer has no closing SOA".into()))?;
    if let Some(mut records) = whole {
        records.insert(0, closing);
        return Ok(Transfer::Whole(records));
    }
    match (diffs.first(), since) {
        (None, _) => Ok(Transfer::Current),
        (Some(d), Some(since)) if d.from == since => {
            if diffs.iter().any(|d| d.soa.is_none()) {
                return Err(FetchError::Malformed(
                    "a difference sequence without its new SOA".into(),
                ));
            }
            Ok(Transfer::Changes(diffs))
        }
        (Some(d), _) => Err(FetchError::Malformed(format!(
            "the IXFR starts from serial {}, not from ours",
            d.from
        ))),
    }
}

/// A transferred record as the server keeps it; a record outside the
/// zone is refused (RFC 5936 §3.1 asks to drop it; a primary that sends
/// one is broken or hostile, and its zone is not taken).
fn owned(
    record: &domain::base::Record<ParsedName<Bytes>, ZoneRecordData<Bytes, ParsedName<Bytes>>>,
    apex: &DName,
) -> Result<Rr, FetchError> {
    let owner: DName = record.owner().to_name();
    if !owner.ends_with(apex) {
        return Err(FetchError::Malformed(format!(
            "record {} {} is outside the zone",
            owner.fmt_with_dot(),
            record.rtype()
        )));
    }
    if record.class() != Class::IN {
        return Err(FetchError::Malformed(format!(
            "record {} {} has class {}, not IN",
            owner.fmt_with_dot(),
            record.rtype(),
            record.class()
        )));
    }
    let data: RData = record.data().clone().try_flatten_into().map_err(|_| {
        FetchError::Malformed(format!(
            "record {} {}: unreadable data",
            owner.fmt_with_dot(),
            record.rtype()
        ))
    })?;
    Ok((owner, record.ttl(), data))
}
