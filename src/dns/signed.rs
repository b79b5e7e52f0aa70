//! TSIG on the answer path (RFC 8945): verifying a signed request and
//! signing its response, through `domain::tsig` (no hand-written crypto).
//!
//! Only signed requests come here. `domain`'s verifier strips the TSIG
//! record from the message in place, so a signed request costs a copy of
//! its bytes; unsigned queries, the hot path, never pay it.

use std::sync::Arc;

use domain::base::iana::{OptRcode, TsigRcode};
use domain::base::message_builder::StaticCompressor;
use domain::base::{Message, MessageBuilder};
use domain::rdata::tsig::Time48;
use domain::tsig::{Key, ServerError, ServerSequence, ServerTransaction};

use crate::tsig::KeyRing;

/// Signs the response to a verified request.
pub type Signer = ServerTransaction<Arc<Key>>;
/// Signs each message of a transfer to a verified request.
pub type SequenceSigner = ServerSequence<Arc<Key>>;
/// Why a signed request is refused, and how to say it.
pub type Refusal = Box<ServerError<Arc<Key>>>;

/// What a signed request turned out to be.
pub enum Verified {
    /// Signed with a known key, correctly and in time.
    Signed(Box<Signer>),
    /// Signed with a key that is not configured (BADKEY): answered as
    /// before keys existed, by the handler.
    UnknownKey,
    /// Signed with a known key, but the MAC is wrong (BADSIG): answered by
    /// the handler, unsigned, as BADKEY is. `domain` 0.12 reports this
    /// case as FORMERR in the TSIG error field, which RFC 8945 §5.2.2
    /// does not allow, so it is told apart here.
    BadSignature,
    /// Signed badly (BADSIG, BADTIME, a malformed TSIG): answered with the
    /// error response `domain` builds (unsigned for BADSIG, signed for
    /// BADTIME, as RFC 8945 §5.2 says).
    Refused(Refusal),
}

/// Verifies the TSIG of `request` against `keys`.
pub fn verify(keys: &KeyRing, request: &[u8]) -> Verified {
    if keys.is_empty() {
        return Verified::UnknownKey;
    }
    let Ok(mut msg) = Message::from_octets(request.to_vec()) else {
        return Verified::UnknownKey;
    };
    match ServerTransaction::request(keys, &mut msg, Time48::now()) {
        Ok(Some(signer)) => Verified::Signed(Box::new(signer)),
        // The handler saw a TSIG record, so this cannot happen; answering
        // as for an unknown key is the safe side.
        Ok(None) => Verified::UnknownKey,
        Err(e) if e.error() == TsigRcode::BADKEY => Verified::UnknownKey,
        // The handler parsed the TSIG record already, so the one FORMERR
        // left is `domain`'s bad MAC (see `BadSignature`).
        Err(e) if e.error() == TsigRcode::FORMERR => Verified::BadSignature,
        Err(e) => Verified::Refused(Box::new(e)),
    }
}

/// The same for the first message of a transfer, whose answers are a
/// signed sequence (RFC 8945 §5.3.1).
pub fn verify_sequence(keys: &KeyRing, request: &[u8]) -> Result<Option<SequenceSigner>, Refusal> {
    let Ok(mut msg) = Message::from_octets(request.to_vec()) else {
        return Ok(None);
    };
    ServerSequence::request(keys, &mut msg, Time48::now()).map_err(Box::new)
}

/// Writes the error response for a badly signed `request` into `out`;
/// returns its rcode (NOTAUTH, or FORMERR for a malformed TSIG).
pub fn write_refusal(
    error: ServerError<Arc<Key>>,
    request: &Message<&[u8]>,
    out: &mut Vec<u8>,
) -> OptRcode {
    out.clear();
    let builder = MessageBuilder::from_target(StaticCompressor::new(&mut *out)).expect("empty");
    let formerr = error.error() == TsigRcode::FORMERR;
    if error.build_message(request, builder).is_err() {
        out.clear();
    }
    if formerr {
        OptRcode::FORMERR
    } else {
        OptRcode::NOTAUTH
    }
}
