//! Response-rate limiting (RRL) for UDP, per client prefix: off by default.
//!
//! A spoofed-source flood makes any UDP server an amplifier. With a limit
//! set, each client prefix (/24 for IPv4, /56 for IPv6, as BIND and NSD do)
//! gets `rate` answers per second; past that, every `slip`-th query gets a
//! truncated empty answer (so a real client retries over TCP, which cannot
//! be spoofed) and the others get nothing.
//!
//! The table is a fixed array of atomics indexed by a hash of the prefix:
//! no allocation and no lock per query. Two prefixes that share a slot
//! share a budget; with [`SLOTS`] slots that is rare and errs on the side
//! of limiting.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use domain::base::Message;

/// Slots in the table (a power of two).
pub const SLOTS: usize = 1 << 16;

/// What to do with one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it.
    Answer,
    /// Send a truncated empty answer instead.
    Slip,
    /// Send nothing.
    Drop,
}

/// The limiter, shared by every UDP worker.
pub struct RateLimiter {
    /// Answers per second per prefix.
    rate: u32,
    /// Every `slip`-th limited query gets a truncated answer; 0 never.
    slip: u32,
    /// Per slot: the second (high 32 bits) and the count in it (low 32).
    slots: Box<[AtomicU64]>,
}

impl RateLimiter {
    /// A limiter of `rate` answers per second per prefix.
    pub fn new(rate: u32, slip: u32) -> RateLimiter {
        RateLimiter {
            rate,
            slip,
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Counts one response to `client` at second `now` and says what to do.
    pub fn check(&self, client: IpAddr, now: u32) -> Verdict {
        let slot = &self.slots[prefix_hash(client) & (SLOTS - 1)];
        let mut current = slot.load(Ordering::Relaxed);
        let count = loop {
            let (second, count) = ((current >> 32) as u32, current as u32);
            let next_count = if second == now {
                count.saturating_add(1)
            } else {
                1
            };
            let next = (u64::from(now) << 32) | u64::from(next_count);
            match slot.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break next_count,
                Err(actual) => current = actual,
            }
        };
        if count <= self.rate {
            Verdict::Answer
        } else if self.slip > 0 && (count - self.rate).is_multiple_of(self.slip) {
            Verdict::Slip
        } else {
            Verdict::Drop
        }
    }
}

/// FNV-1a of the client's prefix.
fn prefix_hash(ip: IpAddr) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    match ip {
        IpAddr::V4(v4) => eat(&v4.octets()[..3]),
        IpAddr::V6(v6) => eat(&v6.octets()[..7]),
    }
    h as usize
}

/// Turns a built response into its truncated form in place: header and
/// question kept, TC set, every other section dropped (the OPT too, which
/// is allowed: the client learns the size over TCP).
pub fn slip(response: &mut Vec<u8>) {
    let question_end = {
        let Ok(msg) = Message::from_octets(response.as_slice()) else {
            return;
        };
        let mut question = msg.question();
        for item in question.by_ref() {
            if item.is_err() {
                return;
            }
        }
        question.pos()
    };
    response.truncate(question_end);
    response[2] |= 0x02; // TC
    for count in &mut response[6..12] {
        *count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_gets_its_rate_then_slips_and_drops() {
        let rrl = RateLimiter::new(3, 2);
        let client: IpAddr = "192.0.2.7".parse().unwrap();
        let verdicts: Vec<Verdict> = (0..7).map(|_| rrl.check(client, 100)).collect();
        use Verdict::*;
        assert_eq!(verdicts, [Answer, Answer, Answer, Drop, Slip, Drop, Slip]);
        // A new second restores the budget.
        assert_eq!(rrl.check(client, 101), Answer);
    }

    #[test]
    fn the_prefix_is_the_unit() {
        let rrl = RateLimiter::new(1, 0);
        assert_eq!(rrl.check("192.0.2.1".parse().unwrap(), 5), Verdict::Answer);
        // Same /24: same budget.
        assert_eq!(rrl.check("192.0.2.200".parse().unwrap(), 5), Verdict::Drop);
        // Another /24: its own.
        assert_eq!(
            rrl.check("198.51.100.1".parse().unwrap(), 5),
            Verdict::Answer
        );
    }

    #[test]
    fn slip_keeps_the_question_and_sets_tc() {
        use domain::base::iana::Rtype;
        use domain::base::{MessageBuilder, Name};
        let mut b = MessageBuilder::new_vec().question();
        b.header_mut().set_id(7);
        b.header_mut().set_qr(true);
        b.push((Name::vec_from_str("www.example.test.").unwrap(), Rtype::A))
            .unwrap();
        let mut answer = b.answer();
        answer
            .push((
                Name::vec_from_str("www.example.test.").unwrap(),
                60,
                domain::rdata::A::from_octets(192, 0, 2, 1),
            ))
            .unwrap();
        let mut bytes = answer.finish();
        slip(&mut bytes);
        let msg = Message::from_octets(bytes.as_slice()).unwrap();
        assert!(msg.header().tc());
        assert_eq!(msg.header().id(), 7);
        assert_eq!(msg.header_counts().ancount(), 0);
        assert_eq!(msg.sole_question().unwrap().qtype(), Rtype::A);
        assert_eq!(bytes.len(), 12 + 18 + 4);
    }
}
