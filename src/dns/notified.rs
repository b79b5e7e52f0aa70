//! Where an incoming NOTIFY (RFC 1996) leaves the answer path: recognised
//! by its opcode in `dns::udp` and `dns::tcp`, read and TSIG-verified
//! here (through `dns::signed`), and handed to whatever keeps secondary
//! zones ([`Notifiable`], implemented by `xfr::secondary`), which says
//! whether it comes from one of the zone's primaries. The answer is a
//! NOTIFY response (NOERROR) when accepted, REFUSED otherwise; a badly
//! signed NOTIFY gets the TSIG error RFC 8945 §5.2 gives.

use std::net::IpAddr;

use domain::base::iana::{Opcode, Rcode, Rtype, TsigRcode};
use domain::base::message_builder::StaticCompressor;
use domain::base::{Message, MessageBuilder, ToName};
use domain::rdata::tsig::Time48;

use super::signed::{self, Verified};
use crate::model::DName;
use crate::tsig::KeyRing;

/// Whether a NOTIFY is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// From one of the zone's primaries, signed as the zone asks: a
    /// refresh is under way.
    Accepted,
    /// Not a secondary zone here, or not from one of its primaries, or
    /// not signed with its key.
    Refused,
}

/// Keeps secondary zones and decides on the NOTIFYs for them.
pub trait Notifiable: Send + Sync {
    /// A NOTIFY for `zone` came from `from`, signed with the key named
    /// `key` (verified; `None`: unsigned). Accepting it starts a refresh.
    fn notified(&self, zone: &DName, from: IpAddr, key: Option<&DName>) -> Verdict;
}

/// The opcode of a NOTIFY.
const OPCODE_NOTIFY: u8 = 4;

/// Whether `request` is a request (not a response) with opcode NOTIFY.
pub fn is_notify(request: &[u8]) -> bool {
    request
        .get(2)
        .is_some_and(|flags| flags & 0x80 == 0 && (flags >> 3) & 0x0f == OPCODE_NOTIFY)
}

/// The response to the NOTIFY `request` from `from`, verified against
/// `keys` and judged by `zones`; empty when it deserves none (it does not
/// parse).
pub fn answer(zones: &dyn Notifiable, keys: &KeyRing, request: &[u8], from: IpAddr) -> Vec<u8> {
    let mut out = Vec::new();
    let Ok(msg) = Message::from_octets(request) else {
        return out;
    };
    let question = match msg.sole_question() {
        Ok(q) if q.qtype() == Rtype::SOA => q,
        _ => {
            write(&msg, Rcode::FORMERR, &mut out);
            return out;
        }
    };
    let zone: DName = question.qname().to_name();
    // Any TSIG record, whether or not keys are configured: a NOTIFY
    // signed with a key not known here is answered BADKEY (RFC 8945
    // §5.2.2), not taken as unsigned, so its sender learns its key is
    // wrong instead of seeing the NOTIFY judged by address alone.
    let has_tsig = msg.additional().is_ok_and(|section| {
        section
            .into_iter()
            .any(|r| r.is_ok_and(|r| r.rtype() == Rtype::TSIG))
    });
    let signed_with = if has_tsig {
        match signed::verify(keys, request) {
            Verified::Signed(signer) => Some(signer),
            Verified::Refused(e) => {
                signed::write_refusal(*e, &msg, &mut out);
                return out;
            }
            Verified::BadSignature => {
                tracing::warn!(zone = %zone, %from, "NOTIFY for zone {zone} from {from} refused: its TSIG signature does not verify (BADSIG)");
                signed::write_unsigned_error(&msg, TsigRcode::BADSIG, &mut out);
                return out;
            }
            Verified::UnknownKey => {
                tracing::warn!(zone = %zone, %from, "NOTIFY for zone {zone} from {from} refused: it is signed with a key not configured here (BADKEY); add the key as a [[tsig_key]] or fix the sender's key");
                signed::write_unsigned_error(&msg, TsigRcode::BADKEY, &mut out);
                return out;
            }
        }
    } else {
        None
    };
    let key: Option<DName> = signed_with.as_ref().map(|s| s.key().name().to_name());
    let rcode = match zones.notified(&zone, from, key.as_ref()) {
        Verdict::Accepted => Rcode::NOERROR,
        Verdict::Refused => Rcode::REFUSED,
    };
    out.clear();
    let builder = MessageBuilder::from_target(StaticCompressor::new(&mut out)).expect("empty");
    let Ok(mut answer) = builder.start_answer(&msg, rcode) else {
        return Vec::new();
    };
    answer.header_mut().set_aa(rcode == Rcode::NOERROR);
    let mut additional = answer.additional();
    if let Some(signer) = signed_with
        && signer.answer(&mut additional, Time48::now()).is_err()
    {
        return Vec::new();
    }
    out
}

/// A bare response with `rcode` (FORMERR: the question is not read).
fn write(msg: &Message<&[u8]>, rcode: Rcode, out: &mut Vec<u8>) {
    out.clear();
    let mut builder = MessageBuilder::from_target(StaticCompressor::new(&mut *out)).expect("empty");
    let header = builder.header_mut();
    header.set_id(msg.header().id());
    header.set_qr(true);
    header.set_opcode(Opcode::NOTIFY);
    header.set_rcode(rcode);
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::base::iana::Class;
    use std::str::FromStr;

    /// Accepts NOTIFY for `ok.test.` from 192.0.2.1 only.
    struct One;

    impl Notifiable for One {
        fn notified(&self, zone: &DName, from: IpAddr, key: Option<&DName>) -> Verdict {
            let ok = zone.name_eq(&DName::from_str("ok.test.").unwrap())
                && from == IpAddr::from([192, 0, 2, 1])
                && key.is_none();
            if ok {
                Verdict::Accepted
            } else {
                Verdict::Refused
            }
        }
    }

    fn notify(zone: &str, qtype: Rtype) -> Vec<u8> {
        let mut builder = MessageBuilder::new_vec();
        builder.header_mut().set_id(77);
        builder.header_mut().set_opcode(Opcode::NOTIFY);
        builder.header_mut().set_aa(true);
        let mut q = builder.question();
        q.push((DName::from_str(zone).unwrap(), qtype, Class::IN))
            .unwrap();
        q.finish()
    }

    #[test]
    fn a_notify_is_answered_as_the_zones_keeper_decides() {
        let keys = KeyRing::default();
        let answered = |request: Vec<u8>, from: [u8; 4]| {
            let wire = answer(&One, &keys, &request, IpAddr::from(from));
            let msg = Message::from_octets(wire).unwrap();
            let h = msg.header();
            assert!(h.qr() && h.id() == 77 && h.opcode() == Opcode::NOTIFY);
            (h.rcode(), h.aa())
        };
        assert_eq!(
            answered(notify("ok.test.", Rtype::SOA), [192, 0, 2, 1]),
            (Rcode::NOERROR, true)
        );
        assert_eq!(
            answered(notify("ok.test.", Rtype::SOA), [192, 0, 2, 2]),
            (Rcode::REFUSED, false)
        );
        assert_eq!(
            answered(notify("no.test.", Rtype::SOA), [192, 0, 2, 1]),
            (Rcode::REFUSED, false)
        );
        assert_eq!(
            answered(notify("ok.test.", Rtype::A), [192, 0, 2, 1]).0,
            Rcode::FORMERR
        );
        assert!(answer(&One, &keys, &[1, 2, 3], IpAddr::from([192, 0, 2, 1])).is_empty());
    }

    #[test]
    fn only_notify_requests_are_taken() {
        let mut header = [0u8; 12];
        header[2] = OPCODE_NOTIFY << 3;
        assert!(is_notify(&header));
        header[2] |= 0x80;
        assert!(!is_notify(&header));
        header[2] = 5 << 3;
        assert!(!is_notify(&header));
        assert!(!is_notify(&[0]));
    }
}
