//! A snapshot's zones by key, in shards that snapshots share.
//!
//! Why shards: a change to one zone publishes a new snapshot that shares
//! every other zone. With one map, each change copied a pointer to every
//! zone (10,000 at 10,000 zones, 100,000 at 100,000) into one ~400 KB
//! allocation; allocations of that size share the allocator's 4 MiB
//! pages, and a page that still held the live map kept the freed copies
//! resident (BENCHMARKS.md, memory after change batches). Split into
//! [`SHARDS`] maps behind `Arc`s, a change copies the table of shards and
//! the one shard its zone is in, each a small allocation.

use std::hash::BuildHasher;
use std::sync::Arc;

use super::{FastMap, Zone};

/// Number of shards: at 10,000 zones ~40 zones each (a 1.5 KB map), at
/// 100,000 ~400 (12 KB).
const SHARDS: usize = 256;

/// The seed of the hash that picks a key's shard. Any value other than
/// the maps' own (`FixedState::default`): the shards' maps then still see
/// keys whose own hashes are spread over all their bits.
const SHARD_SEED: u64 = 0x8f0d_6c1e_2b47_a935;

type Shard = FastMap<Arc<[u8]>, Arc<Zone>>;

/// Zones by key ([`super::name_key`]).
#[derive(Debug, Clone)]
pub(super) struct ZoneMap {
    shards: Box<[Arc<Shard>]>,
    len: usize,
}

impl Default for ZoneMap {
    fn default() -> Self {
        ZoneMap {
            shards: (0..SHARDS).map(|_| Arc::new(Shard::default())).collect(),
            len: 0,
        }
    }
}

/// The shard of `key`.
fn shard_of(key: &[u8]) -> usize {
    let hash = foldhash::fast::FixedState::with_seed(SHARD_SEED).hash_one(key);
    // The top bits: `SHARDS` is a power of two below 2^8.
    (hash >> 56) as usize % SHARDS
}

impl ZoneMap {
    /// The zone at `key`.
    pub(super) fn get(&self, key: &[u8]) -> Option<&Arc<Zone>> {
        self.shards[shard_of(key)].get(key)
    }

    /// Puts `zone` at `key`, in place of the zone there. The shard is
    /// copied first when another snapshot shares it.
    pub(super) fn insert(&mut self, key: Arc<[u8]>, zone: Arc<Zone>) {
        let shard = Arc::make_mut(&mut self.shards[shard_of(&key)]);
        if shard.insert(key, zone).is_none() {
            self.len += 1;
        }
    }

    /// Removes the zone at `key`, if any.
    pub(super) fn remove(&mut self, key: &[u8]) {
        let shard = &mut self.shards[shard_of(key)];
        if !shard.contains_key(key) {
            return;
        }
        Arc::make_mut(shard).remove(key);
        self.len -= 1;
    }

    /// Every zone, in no particular order.
    pub(super) fn values(&self) -> impl Iterator<Item = &Arc<Zone>> {
        self.shards.iter().flat_map(|s| s.values())
    }

    /// Number of zones.
    pub(super) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::model::{DName, ZoneSpec};
    use crate::nameservers::NameServers;

    fn key(name: &str) -> Arc<[u8]> {
        super::super::name_key(&DName::from_str(name).unwrap()).into()
    }

    fn zone(name: &str) -> Arc<Zone> {
        let spec = ZoneSpec {
            name: DName::from_str(name).unwrap(),
            records: Vec::new(),
        };
        Arc::new(Zone::build(&spec, &|_| None, 1, &NameServers::default()))
    }

    #[test]
    fn a_copy_shares_every_shard_but_the_one_changed() {
        let mut map = ZoneMap::default();
        for i in 0..1000 {
            let name = format!("z{i}.test.");
            map.insert(key(&name), zone(&name));
        }
        assert_eq!(map.len(), 1000);
        let mut copy = map.clone();
        let key = key("z7.test.");
        copy.insert(key.clone(), zone("z7.test."));
        let own = shard_of(&key);
        for (i, (a, b)) in map.shards.iter().zip(copy.shards.iter()).enumerate() {
            assert_eq!(Arc::ptr_eq(a, b), i != own, "shard {i}");
        }
        assert_eq!(copy.len(), 1000);
        assert!(!Arc::ptr_eq(
            map.get(&key).unwrap(),
            copy.get(&key).unwrap()
        ));
        copy.remove(&key);
        copy.remove(&key);
        assert_eq!(copy.len(), 999);
        assert!(copy.get(&key).is_none() && map.get(&key).is_some());
        assert_eq!(copy.values().count(), 999);
    }

    #[test]
    fn keys_spread_over_the_shards() {
        let mut counts = [0usize; SHARDS];
        for i in 0..SHARDS * 100 {
            counts[shard_of(format!("\x05zone{i}\x04test").as_bytes())] += 1;
        }
        // 100 expected per shard; a shard far off would mean a bad pick.
        assert!(
            counts.iter().all(|&c| (40..=200).contains(&c)),
            "{counts:?}"
        );
    }
}
