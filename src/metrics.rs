//! Counters for `/metrics`: DNS queries by type and rcode, and the time the
//! handler takes per answer. Written lock-free by the listeners, one shard
//! per listener thread so that cores never share a cache line; read (and
//! summed) by the API.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use domain::base::iana::{OptRcode, Rcode, Rtype};

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
/// Response codes counted, by value: the sixteen header codes, and BADVERS
/// (16, the only extended code eightfold sends) in the last slot.
pub const RCODES: usize = 17;
/// Upper bounds of the latency histogram buckets, in microseconds.
pub const LATENCY_BUCKETS_US: [u64; 10] =
    [10, 25, 50, 100, 250, 500, 1_000, 5_000, 25_000, 100_000];

/// Process-wide DNS counters.
pub struct Metrics {
    shards: Box<[Shard]>,
}

/// One writer's counters, alone on its cache lines.
#[repr(align(128))]
struct Shard {
    /// `[qtype][rcode]`, qtype index `QTYPES.len()` for other types.
    queries: Vec<[AtomicU64; RCODES]>,
    /// Counts per bucket (not cumulative), plus +Inf.
    latency: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    latency_sum_ns: AtomicU64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard {
            queries: (0..=QTYPES.len()).map(|_| Default::default()).collect(),
            latency: Default::default(),
            latency_sum_ns: AtomicU64::new(0),
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::with_shards(1)
    }
}

impl Metrics {
    /// Counters for `shards` writers.
    pub fn with_shards(shards: usize) -> Metrics {
        Metrics {
            shards: (0..shards.max(1)).map(|_| Shard::default()).collect(),
        }
    }

    /// Counts one answered query, and the answering zone's, in shard
    /// `shard % shards`. Called on the hot path: no allocation, no lock.
    #[inline]
    pub fn record(
        &self,
        shard: usize,
        qtype: Option<Rtype>,
        rcode: OptRcode,
        zone: Option<&ZoneCounters>,
        elapsed: Duration,
    ) {
        if let Some(zone) = zone {
            zone.record(shard, rcode);
        }
        let s = &self.shards[shard % self.shards.len()];
        let t = qtype
            .and_then(|q| QTYPES.iter().position(|&x| x == q))
            .unwrap_or(QTYPES.len());
        let r = rcode_slot(rcode);
        s.queries[t][r].fetch_add(1, Ordering::Relaxed);
        let us = elapsed.as_micros() as u64;
        let bucket = LATENCY_BUCKETS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        s.latency[bucket].fetch_add(1, Ordering::Relaxed);
        s.latency_sum_ns
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Non-zero query counts as (qtype name, rcode name, count).
    pub fn queries(&self) -> Vec<(String, String, u64)> {
        let mut out = Vec::new();
        for t in 0..=QTYPES.len() {
            for r in 0..RCODES {
                let n: u64 = self
                    .shards
                    .iter()
                    .map(|s| s.queries[t][r].load(Ordering::Relaxed))
                    .sum();
                if n > 0 {
                    let qtype = QTYPES
                        .get(t)
                        .map_or_else(|| "other".into(), |q| q.to_string());
                    out.push((qtype, rcode_name(r), n));
                }
            }
        }
        out
    }

    /// Per-bucket (not cumulative) latency counts, and the sum in seconds.
    pub fn latency(&self) -> (Vec<u64>, f64) {
        let counts = (0..=LATENCY_BUCKETS_US.len())
            .map(|b| {
                self.shards
                    .iter()
                    .map(|s| s.latency[b].load(Ordering::Relaxed))
                    .sum()
            })
            .collect();
        let sum_ns: u64 = self
            .shards
            .iter()
            .map(|s| s.latency_sum_ns.load(Ordering::Relaxed))
            .sum();
        (counts, sum_ns as f64 / 1e9)
    }
}

/// The name of rcode slot `r`: the header's table, and BADVERS for the
/// last slot (domain's `OptRcode` has no mnemonic for extended code 16).
fn rcode_name(r: usize) -> String {
    match r {
        16 => "BADVERS".to_string(),
        _ => Rcode::checked_from_int(r as u8).map_or_else(|| r.to_string(), |c| c.to_string()),
    }
}

/// Slot of `rcode` in the counters.
fn rcode_slot(rcode: OptRcode) -> usize {
    usize::from(rcode.to_int()).min(RCODES - 1)
}

/// Queries answered from one zone, by response code, one shard per
/// writer. A zone's counters outlive the rebuilds of its zone (every API
/// change builds a new `Zone`): they are found again by name in a
/// process-wide registry, so they only start again from zero when the
/// zone has been removed and added back.
pub struct ZoneCounters {
    shards: Box<[ZoneShard]>,
}

/// One writer's counters of one zone, alone on its cache lines.
#[repr(align(64))]
#[derive(Default)]
struct ZoneShard([AtomicU64; RCODES]);

/// Writers of zone counters: the UDP workers (one per core) and TCP; a
/// writer beyond these shares a shard, which costs contention, not counts.
static ZONE_SHARDS: LazyLock<usize> =
    LazyLock::new(|| std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 64)) + 1);

/// Counters by zone key, held weakly: the snapshots own them.
type ZoneRegistry = Mutex<HashMap<Box<[u8]>, Weak<ZoneCounters>>>;
static ZONE_REGISTRY: LazyLock<ZoneRegistry> = LazyLock::new(Default::default);

impl ZoneCounters {
    /// The counters of the zone with key `key` (its lower-cased wire
    /// name), the same ones for as long as any snapshot holds that zone.
    /// Called when a zone is built, never on the answer path.
    pub fn of_zone(key: &[u8]) -> Arc<ZoneCounters> {
        let mut registry = ZONE_REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(live) = registry.get(key).and_then(Weak::upgrade) {
            return live;
        }
        let counters = Arc::new(ZoneCounters {
            shards: (0..*ZONE_SHARDS).map(|_| ZoneShard::default()).collect(),
        });
        // Forget removed zones now and then, not on every build.
        if registry.len() >= 1024 && registry.len().is_power_of_two() {
            registry.retain(|_, c| c.strong_count() > 0);
        }
        registry.insert(key.into(), Arc::downgrade(&counters));
        counters
    }

    /// Counts one answer. On the hot path: no allocation, no lock.
    #[inline]
    pub fn record(&self, shard: usize, rcode: OptRcode) {
        self.shards[shard % self.shards.len()].0[rcode_slot(rcode)].fetch_add(1, Ordering::Relaxed);
    }

    /// Non-zero counts as (rcode name, count).
    pub fn counts(&self) -> Vec<(String, u64)> {
        (0..RCODES)
            .filter_map(|r| {
                let n: u64 = self
                    .shards
                    .iter()
                    .map(|s| s.0[r].load(Ordering::Relaxed))
                    .sum();
                (n > 0).then(|| (rcode_name(r), n))
            })
            .collect()
    }
}

impl std::fmt::Debug for ZoneCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.counts()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_type_and_rcode_and_buckets_latency_across_shards() {
        let m = Metrics::with_shards(3);
        m.record(
            0,
            Some(Rtype::A),
            OptRcode::NOERROR,
            None,
            Duration::from_micros(20),
        );
        m.record(
            2,
            Some(Rtype::A),
            OptRcode::NOERROR,
            None,
            Duration::from_micros(20),
        );
        m.record(
            7,
            Some(Rtype::HINFO),
            OptRcode::NXDOMAIN,
            None,
            Duration::from_secs(1),
        );
        let q = m.queries();
        assert!(q.contains(&("A".into(), "NOERROR".into(), 2)), "{q:?}");
        assert!(q.contains(&("other".into(), "NXDOMAIN".into(), 1)), "{q:?}");
        m.record(1, Some(Rtype::A), OptRcode::BADVERS, None, Duration::ZERO);
        let q = m.queries();
        assert!(q.contains(&("A".into(), "BADVERS".into(), 1)), "{q:?}");
        let (buckets, sum) = m.latency();
        assert_eq!(buckets[1], 2);
        assert_eq!(buckets[LATENCY_BUCKETS_US.len()], 1);
        assert!((sum - 1.00004).abs() < 1e-6);
    }

    #[test]
    fn a_zones_counters_survive_its_rebuilds_and_are_kept_apart() {
        let a = ZoneCounters::of_zone(b"\x0dcounters-test\x04test\x00");
        a.record(0, OptRcode::NOERROR);
        a.record(5, OptRcode::NXDOMAIN);
        let again = ZoneCounters::of_zone(b"\x0dcounters-test\x04test\x00");
        again.record(1, OptRcode::NOERROR);
        assert_eq!(
            a.counts(),
            [("NOERROR".to_string(), 2), ("NXDOMAIN".to_string(), 1)]
        );
        let b = ZoneCounters::of_zone(b"\x0eother-counters\x04test\x00");
        assert!(b.counts().is_empty());
        drop((a, again));
        let fresh = ZoneCounters::of_zone(b"\x0dcounters-test\x04test\x00");
        assert!(fresh.counts().is_empty(), "a removed zone starts again");
    }
}
