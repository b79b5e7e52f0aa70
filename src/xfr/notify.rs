//! NOTIFY (RFC 1996): tells a zone's secondaries that its serial changed,
//! so they transfer it now rather than at their next refresh.
//!
//! Each target gets its own task: a UDP message with the zone's SOA, resent
//! until the secondary answers, at most [`ATTEMPTS`] times [`WAIT`] apart
//! (§3.6 asks for retries; the secondary then queries the SOA and
//! transfers). A change that comes while an older NOTIFY is still being
//! retried sends a new one; a secondary that answers the first NOTIFY just
//! transfers the newest serial. With `notify_key`, each NOTIFY is signed
//! with TSIG (through `domain::tsig`) and only a correctly signed answer
//! counts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use domain::base::iana::{Class, Opcode, Rtype};
use domain::base::message_builder::PushError;
use domain::base::{Message, MessageBuilder, Ttl};
use domain::rdata::tsig::Time48;
use domain::tsig::{ClientTransaction, Key};
use tokio::net::UdpSocket;

use crate::model::{DName, RData};

/// How many times a NOTIFY is sent when no answer comes.
pub const ATTEMPTS: usize = 5;
/// How long to wait for an answer before sending again.
pub const WAIT: Duration = Duration::from_secs(2);

/// Checks the TSIG of the answer to a signed NOTIFY.
type Signed = ClientTransaction<Arc<Key>>;

/// Sends NOTIFY for the zone at `apex`, whose SOA is now `soa`, to every
/// one of `targets`, signed with `key` when given, in the background. Does
/// nothing outside a tokio runtime (tools and tests that serve nothing).
pub fn spawn(apex: &DName, soa: &(Ttl, RData), targets: &[SocketAddr], key: Option<Arc<Key>>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    for &target in targets {
        let (apex, soa, key) = (apex.clone(), soa.clone(), key.clone());
        runtime.spawn(async move {
            match notify(&apex, &soa, target, key).await {
                Ok(attempts) => tracing::info!(zone = %apex, %target, attempts, "NOTIFY answered"),
                Err(e) => tracing::warn!(zone = %apex, %target, error = %e, "NOTIFY of zone {apex} to {target} failed: {e}"),
            }
        });
    }
}

/// One NOTIFY exchange; the number of messages it took.
async fn notify(
    apex: &DName,
    soa: &(Ttl, RData),
    target: SocketAddr,
    key: Option<Arc<Key>>,
) -> std::io::Result<usize> {
    let id: u16 = rand::random();
    let (message, signed) = message(apex, soa, id, key).map_err(std::io::Error::other)?;
    let local: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().expect("valid")
    } else {
        "[::]:0".parse().expect("valid")
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(target).await?;
    let mut buf = vec![0u8; 4096];
    for attempt in 1..=ATTEMPTS {
        socket.send(&message).await?;
        let deadline = tokio::time::Instant::now() + WAIT;
        // Read until our answer or the deadline: stray datagrams (a late
        // answer to nothing) are skipped.
        while let Ok(received) = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
            let Ok(n) = received else { break };
            if let Ok(reply) = Message::from_octets(&buf[..n])
                && reply.header().qr()
                && reply.header().id() == id
                && reply.header().opcode() == Opcode::NOTIFY
            {
                let rcode = reply.header().rcode();
                if rcode != domain::base::iana::Rcode::NOERROR {
                    return Err(std::io::Error::other(format!(
                        "the secondary answered {rcode}"
                    )));
                }
                if let Some(signed) = &signed {
                    check_signed(signed, &buf[..n])?;
                }
                return Ok(attempt);
            }
        }
    }
    Err(std::io::Error::other(format!(
        "no answer after {ATTEMPTS} attempts {} s apart",
        WAIT.as_secs()
    )))
}

/// A signed NOTIFY wants a signed answer (RFC 8945 §5.3.1).
fn check_signed(signed: &Signed, reply: &[u8]) -> std::io::Result<()> {
    let mut reply = Message::from_octets(reply.to_vec()).map_err(std::io::Error::other)?;
    signed
        .answer(&mut reply, Time48::now())
        .map_err(|e| std::io::Error::other(format!("the TSIG of its answer: {e}")))
}

/// The NOTIFY message: opcode NOTIFY, AA, the zone's SOA as question and
/// as answer (§3.7: the new serial, a hint the secondary may use), signed
/// with `key` when given (the transaction then checks the answer).
fn message(
    apex: &DName,
    soa: &(Ttl, RData),
    id: u16,
    key: Option<Arc<Key>>,
) -> Result<(Vec<u8>, Option<Signed>), PushError> {
    let mut builder = MessageBuilder::new_vec();
    let header = builder.header_mut();
    header.set_id(id);
    header.set_opcode(Opcode::NOTIFY);
    header.set_aa(true);
    let mut question = builder.question();
    question.push((apex, Rtype::SOA, Class::IN))?;
    let mut answer = question.answer();
    answer.push((apex, Class::IN, soa.0, &soa.1))?;
    let mut additional = answer.additional();
    let signed = match key {
        Some(key) => Some(ClientTransaction::request(
            key,
            &mut additional,
            Time48::now(),
        )?),
        None => None,
    };
    Ok((additional.finish(), signed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn a_notify_names_the_zone_and_carries_its_soa() {
        let apex = DName::from_str("example.test.").unwrap();
        let soa = RData::Soa(domain::rdata::Soa::new(
            apex.clone(),
            apex.clone(),
            domain::base::Serial(42),
            Ttl::from_secs(1),
            Ttl::from_secs(1),
            Ttl::from_secs(1),
            Ttl::from_secs(1),
        ));
        let (wire, signed) = message(&apex, &(Ttl::from_secs(60), soa), 7, None).unwrap();
        assert!(signed.is_none());
        let msg = Message::from_octets(wire.as_slice()).unwrap();
        assert_eq!(msg.header().opcode(), Opcode::NOTIFY);
        assert!(msg.header().aa() && !msg.header().qr());
        let q = msg.sole_question().unwrap();
        assert_eq!(
            (q.qtype(), q.qname().to_string()),
            (Rtype::SOA, "example.test".into())
        );
        let answer = msg.answer().unwrap().next().unwrap().unwrap();
        let soa = answer
            .to_record::<domain::rdata::Soa<_>>()
            .unwrap()
            .unwrap();
        assert_eq!(soa.data().serial(), domain::base::Serial(42));
    }
}
