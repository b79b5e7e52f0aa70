//! NOTIFY (RFC 1996): tells a zone's secondaries that its serial changed,
//! so they transfer it now rather than at their next refresh.
//!
//! Each target gets its own task: a UDP message with the zone's SOA, resent
//! until the secondary answers, at most [`ATTEMPTS`] times [`WAIT`] apart
//! (§3.6 asks for retries; the secondary then queries the SOA and
//! transfers). A change that comes while an older NOTIFY is still being
//! retried sends a new one; a secondary that answers the first NOTIFY just
//! transfers the newest serial.

use std::net::SocketAddr;
use std::time::Duration;

use domain::base::iana::{Class, Opcode, Rtype};
use domain::base::{Message, MessageBuilder, Ttl};
use tokio::net::UdpSocket;

use crate::model::{DName, RData};

/// How many times a NOTIFY is sent when no answer comes.
pub const ATTEMPTS: usize = 5;
/// How long to wait for an answer before sending again.
pub const WAIT: Duration = Duration::from_secs(2);

/// Sends NOTIFY for the zone at `apex`, whose SOA is now `soa`, to every
/// one of `targets`, in the background. Does nothing outside a tokio
/// runtime (tools and tests that serve nothing).
pub fn spawn(apex: &DName, soa: &(Ttl, RData), targets: &[SocketAddr]) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    for &target in targets {
        let (apex, soa) = (apex.clone(), soa.clone());
        runtime.spawn(async move {
            match notify(&apex, &soa, target).await {
                Ok(attempts) => tracing::info!(zone = %apex, %target, attempts, "NOTIFY answered"),
                Err(e) => tracing::warn!(zone = %apex, %target, error = %e, "NOTIFY of zone {apex} to {target} failed: {e}"),
            }
        });
    }
}

/// One NOTIFY exchange; the number of messages it took.
async fn notify(apex: &DName, soa: &(Ttl, RData), target: SocketAddr) -> std::io::Result<usize> {
    let id: u16 = rand::random();
    let message = message(apex, soa, id).map_err(std::io::Error::other)?;
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
                return Ok(attempt);
            }
        }
    }
    Err(std::io::Error::other(format!(
        "no answer after {ATTEMPTS} attempts {} s apart",
        WAIT.as_secs()
    )))
}

/// The NOTIFY message: opcode NOTIFY, AA, the zone's SOA as question and
/// as answer (§3.7: the new serial, a hint the secondary may use).
fn message(
    apex: &DName,
    soa: &(Ttl, RData),
    id: u16,
) -> Result<Vec<u8>, domain::base::message_builder::PushError> {
    let mut builder = MessageBuilder::new_vec();
    let header = builder.header_mut();
    header.set_id(id);
    header.set_opcode(Opcode::NOTIFY);
    header.set_aa(true);
    let mut question = builder.question();
    question.push((apex, Rtype::SOA, Class::IN))?;
    let mut answer = question.answer();
    answer.push((apex, Class::IN, soa.0, &soa.1))?;
    Ok(answer.finish())
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
        let wire = message(&apex, &(Ttl::from_secs(60), soa), 7).unwrap();
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
