//! Counters for `/metrics`: DNS queries by type and rcode, answer latency,
//! health-check state changes. Written lock-free (relaxed atomics) by the
//! listeners and the checker, read by the API.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use domain::base::iana::{Rcode, Rtype};

/// Query types counted on their own; the rest count as `other`.
pub const QTYPES: [Rtype; 13] = [
    Rtype::A,
    Rtype::AAAA,
    Rtype::CNAME,
    Rtype::MX,
    Rtype::TXT,
    Rtype::SRV,
    Rtype::CAA,
    Rtype::PTR,
    Rtype::NAPTR,
    Rtype::NS,
    Rtype::SOA,
    Rtype::DS,
    Rtype::ANY,
];
/// Response codes counted, by their 4-bit value.
pub const RCODES: usize = 16;
/// Upper bounds of the latency histogram buckets, in microseconds.
pub const LATENCY_BUCKETS_US: [u64; 10] =
    [10, 25, 50, 100, 250, 500, 1_000, 5_000, 25_000, 100_000];

/// Process-wide DNS counters.
pub struct Metrics {
    /// `[qtype][rcode]`, qtype index `QTYPES.len()` for other types.
    queries: Vec<[AtomicU64; RCODES]>,
    /// Cumulative counts per bucket, plus +Inf.
    latency: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    latency_sum_ns: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            queries: (0..=QTYPES.len()).map(|_| Default::default()).collect(),
            latency: Default::default(),
            latency_sum_ns: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Counts one answered query. Called on the hot path: no allocation,
    /// no lock.
    #[inline]
    pub fn record(&self, qtype: Option<Rtype>, rcode: Rcode, elapsed: Duration) {
        let t = qtype
            .and_then(|q| QTYPES.iter().position(|&x| x == q))
            .unwrap_or(QTYPES.len());
        let r = usize::from(rcode.to_int()) % RCODES;
        self.queries[t][r].fetch_add(1, Ordering::Relaxed);
        let us = elapsed.as_micros() as u64;
        let bucket = LATENCY_BUCKETS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ns
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Non-zero query counts as (qtype name, rcode name, count).
    pub fn queries(&self) -> Vec<(String, String, u64)> {
        let mut out = Vec::new();
        for (t, row) in self.queries.iter().enumerate() {
            for (r, count) in row.iter().enumerate() {
                let n = count.load(Ordering::Relaxed);
                if n > 0 {
                    let qtype = QTYPES
                        .get(t)
                        .map_or_else(|| "other".into(), |q| q.to_string());
                    let rcode = Rcode::checked_from_int(r as u8)
                        .map_or_else(|| r.to_string(), |c| c.to_string());
                    out.push((qtype, rcode, n));
                }
            }
        }
        out
    }

    /// Per-bucket (not cumulative) latency counts, the sum in seconds.
    pub fn latency(&self) -> (Vec<u64>, f64) {
        let counts = self
            .latency
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let sum = self.latency_sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        (counts, sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_type_and_rcode_and_buckets_latency() {
        let m = Metrics::default();
        m.record(Some(Rtype::A), Rcode::NOERROR, Duration::from_micros(20));
        m.record(Some(Rtype::A), Rcode::NOERROR, Duration::from_micros(20));
        m.record(Some(Rtype::HINFO), Rcode::NXDOMAIN, Duration::from_secs(1));
        let q = m.queries();
        assert!(q.contains(&("A".into(), "NOERROR".into(), 2)), "{q:?}");
        assert!(q.contains(&("other".into(), "NXDOMAIN".into(), 1)), "{q:?}");
        let (buckets, sum) = m.latency();
        assert_eq!(buckets[1], 2);
        assert_eq!(buckets[LATENCY_BUCKETS_US.len()], 1);
        assert!((sum - 1.00004).abs() < 1e-6);
    }
}
