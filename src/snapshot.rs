//! The immutable in-memory zone data the responder answers from.
//!
//! A [`Snapshot`] is built once from validated [`ZoneSpec`]s and then only
//! read; a reload builds a new one and swaps it in whole. Names are keyed by
//! their lower-cased wire form so a lookup is a hash probe per label, with no
//! allocation: the query name is lower-cased into a stack [`NameKey`].
//!
//! ```text
//!   Snapshot ── zones: key(apex) → Zone
//!                 Zone ── nodes: key(owner) → Node   (every name, plus the
//!                                                     empty non-terminals)
//!                           Node ── sets: one RecordSet per type
//!                                     RecordSet ── policy + records
//! ```
//!
//! Built for a million records: a zone's nodes sit in one exact-size
//! slice (the map holds only their index) and their names in one buffer;
//! a node's sets, a set's records and a record's values are each a
//! [`Few`] (the usual one inline, more in an exact-size boxed slice);
//! addresses are stored inline ([`Value`]) and the rare routing fields
//! are boxed (BENCHMARKS.md, "Where the bytes and the time go").

use std::collections::HashMap;
use std::sync::Arc;

use domain::base::iana::Rtype;
use domain::base::name::{Label, ToLabelIter};
use domain::base::{ToName, Ttl};

use crate::metrics::ZoneCounters;
use crate::model::{DName, FailoverRole, Location, Policy, RData, RecordSpec, ZoneSpec};

mod value;
mod zone_map;
pub use value::Value;
use zone_map::ZoneMap;

/// Hash map with a fast non-cryptographic hasher: keys come from our own
/// zone data, and lookups are on the hot path.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Index of a health check in the health table.
pub type HealthId = u32;

/// SOA refresh/retry/expire/minimum of a generated SOA.
pub const GENERATED_SOA_TIMERS: [u32; 4] = [3600, 600, 604_800, 60];
/// TTL of generated SOA and NS records.
pub use crate::model::GENERATED_TTL;
use crate::model::prefixed;
use crate::nameservers::NameServers;

/// All zones at one moment. Cheap to share (`Arc`), never mutated.
///
/// Each zone sits behind its own `Arc` so that a change to one zone builds
/// a new snapshot that shares every other zone ([`Snapshot::with_zone`]):
/// with 10,000 zones, a change batch costs one zone's build plus copying
/// 10,000 pointers, not a rebuild of every record.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Keys shared between snapshots (`Arc`), in shards shared too: a
    /// change copies one shard's pointers, not 10,000 keys nor 10,000
    /// pointers (allocations whose churn at every change left memory
    /// behind, BENCHMARKS.md).
    zones: ZoneMap,
}

/// One zone of a snapshot.
#[derive(Debug, Clone)]
pub struct Zone {
    /// The apex, case as declared.
    pub apex: DName,
    /// The SOA's TTL and data, for negative answers.
    pub soa: (Ttl, Value),
    /// TTL of negative answers: min(SOA TTL, SOA MINIMUM) (RFC 2308 §5).
    pub negative_ttl: Ttl,
    /// The serial of the SOA the zone declares; `None` when generated.
    pub declared_serial: Option<u32>,
    /// The sets generated for the zone (its NS set and in-zone name
    /// servers' addresses, `nameservers`), by owner key and type: the
    /// API's listing of declared records leaves them out.
    generated: Box<[(Box<[u8]>, Rtype)]>,
    /// Node index in `node_list`, by key.
    nodes: FastMap<Box<[u8]>, u32>,
    node_list: Box<[Node]>,
    /// A secondary zone without current data (not transferred yet, or
    /// past its SOA expire): every query in it is answered SERVFAIL and it
    /// is not transferred out, as NSD and Knot do. Set by the service.
    pub unavailable: bool,
    /// Queries answered from this zone, for `/metrics`; shared by every
    /// build of the zone.
    pub counters: Arc<ZoneCounters>,
}

/// Every record set at one owner name.
#[derive(Debug, Clone)]
pub struct Node {
    /// The owner, case as declared.
    pub name: DName,
    /// One set per type, ordered by type.
    pub sets: Few<RecordSet>,
    /// True for a delegation point: NS records below the apex.
    pub is_cut: bool,
}

/// The records of one name and type, with their routing policy.
#[derive(Debug, Clone)]
pub struct RecordSet {
    /// Record type.
    pub rtype: Rtype,
    /// Routing policy shared by every record.
    pub policy: Policy,
    /// The records; one for simple groups.
    pub records: Few<Record>,
}

/// One record of a group.
#[derive(Debug, Clone)]
pub struct Record {
    /// Set identifier (not for simple records).
    pub set: Option<Box<str>>,
    /// TTL of every value.
    pub ttl: Ttl,
    /// The values; exactly one except for simple records.
    pub values: Values,
    /// Index into the health table; `None` is always healthy.
    pub health: Option<HealthId>,
    /// Failover role.
    pub failover: Option<FailoverRole>,
    /// Weight for weighted routing.
    pub weight: u8,
    /// For an alias: what it answers with (`values` is empty).
    pub alias: Option<Box<Alias>>,
    /// Where a geolocation record applies.
    pub location: Option<Box<Location>>,
}

/// A record's values: one inline (the common case, and every routed
/// record's), more in a boxed slice.
pub type Values = Few<Value>;

/// A list that is almost always of one: that one inline, more in an
/// exact-size boxed slice. Reads as a slice. Why: at a million names a
/// separate allocation for each node's one set and each set's one record
/// costs about 40 bytes a record (BENCHMARKS.md, issue 14).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Few<T> {
    /// None (an alias has no values).
    #[default]
    None,
    /// Exactly one.
    One(T),
    /// Two or more.
    Many(Box<[T]>),
}

impl<T> std::ops::Deref for Few<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match self {
            Few::None => &[],
            Few::One(v) => std::slice::from_ref(v),
            Few::Many(v) => v,
        }
    }
}

impl<T> std::ops::DerefMut for Few<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            Few::None => &mut [],
            Few::One(v) => std::slice::from_mut(v),
            Few::Many(v) => v,
        }
    }
}

impl<T> From<Vec<T>> for Few<T> {
    fn from(mut all: Vec<T>) -> Few<T> {
        match all.len() {
            0 => Few::None,
            1 => Few::One(all.pop().expect("one")),
            _ => Few::Many(all.into_boxed_slice()),
        }
    }
}

impl<T> FromIterator<T> for Few<T> {
    /// One item takes no allocation (a `Vec` first would, for each of a
    /// million records' values).
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Few<T> {
        let mut gathered = Gather::None;
        for item in iter {
            gathered.push(item);
        }
        gathered.into_few(|item| item)
    }
}

/// A list being gathered: one item inline, more in a `Vec`; it becomes a
/// [`Few`] allocating nothing for the common one.
#[derive(Debug, Default)]
enum Gather<T> {
    #[default]
    None,
    One(T),
    Many(Vec<T>),
}

impl<T> Gather<T> {
    fn push(&mut self, item: T) {
        *self = match std::mem::take(self) {
            Gather::None => Gather::One(item),
            Gather::One(first) => Gather::Many(vec![first, item]),
            Gather::Many(mut all) => {
                all.push(item);
                Gather::Many(all)
            }
        };
    }

    /// The items, each made a `U` by `f`.
    fn into_few<U>(self, mut f: impl FnMut(T) -> U) -> Few<U> {
        match self {
            Gather::None => Few::None,
            Gather::One(item) => Few::One(f(item)),
            Gather::Many(all) => Few::Many(all.into_iter().map(f).collect()),
        }
    }
}

impl<T> std::ops::Deref for Gather<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match self {
            Gather::None => &[],
            Gather::One(v) => std::slice::from_ref(v),
            Gather::Many(v) => v,
        }
    }
}

impl<T> std::ops::DerefMut for Gather<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            Gather::None => &mut [],
            Gather::One(v) => std::slice::from_mut(v),
            Gather::Many(v) => v,
        }
    }
}

impl<'a, T> IntoIterator for &'a Few<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl FromIterator<RData> for Few<Value> {
    fn from_iter<I: IntoIterator<Item = RData>>(iter: I) -> Values {
        iter.into_iter().map(Value::from).collect()
    }
}

impl<'a> FromIterator<&'a RData> for Few<Value> {
    fn from_iter<I: IntoIterator<Item = &'a RData>>(iter: I) -> Values {
        iter.into_iter().map(Value::from).collect()
    }
}

/// What an alias record answers with: the records of its own type at
/// another name of the snapshot, as they are at query time.
#[derive(Debug, Clone)]
pub struct Alias {
    /// The target name, absolute.
    pub target: DName,
    /// The type of the alias record, and so of the target's records.
    pub rtype: Rtype,
    /// Whether the alias is healthy only while the target has a healthy
    /// answer.
    pub evaluate_target_health: bool,
}

impl Node {
    /// The set of type `rtype`, if any.
    pub fn set(&self, rtype: Rtype) -> Option<&RecordSet> {
        self.sets.iter().find(|s| s.rtype == rtype)
    }
}

/// What a name resolves to inside one zone.
#[derive(Debug)]
pub enum Found<'a> {
    /// The name exists (possibly as an empty non-terminal, or through a
    /// wildcard when `wildcard` is true).
    Node {
        /// The node holding the data.
        node: &'a Node,
        /// True when synthesised from `*.<closest encloser>`.
        wildcard: bool,
    },
    /// The name does not exist.
    NxDomain,
    /// The name is at or below a delegation point.
    Referral(&'a Node),
    /// The name is below a DNAME owner.
    Dname(&'a Node),
}

impl Snapshot {
    /// Builds a snapshot; `health` maps health-check ids to table indexes.
    ///
    /// The specs must have passed [`crate::validate::zone`]; serial numbers
    /// of generated SOAs are `serial`.
    pub fn build<'a>(
        zones: impl IntoIterator<Item = &'a ZoneSpec>,
        health: &dyn Fn(&str) -> Option<HealthId>,
        serial: u32,
    ) -> Snapshot {
        Snapshot::build_with(zones, health, serial, &NameServers::default())
    }

    /// [`Snapshot::build`], zones without an NS given `nameservers`
    /// (with no name servers: `ns1.<zone>`, with no address).
    pub fn build_with<'a>(
        zones: impl IntoIterator<Item = &'a ZoneSpec>,
        health: &dyn Fn(&str) -> Option<HealthId>,
        serial: u32,
        nameservers: &NameServers,
    ) -> Snapshot {
        let mut out = Snapshot::default();
        for spec in zones {
            let zone = Zone::build(spec, health, serial, nameservers);
            out.zones
                .insert(name_key(&spec.name).into(), Arc::new(zone));
        }
        out
    }

    /// This snapshot with the zone of `spec` built anew (added, or
    /// replacing the zone of the same name); every other zone is shared,
    /// not rebuilt.
    ///
    /// The shared zones keep the health ids they were built with, so
    /// `health` must map every check id to the same index as before; when
    /// the health table is renumbered, use [`Snapshot::build`].
    pub fn with_zone(
        &self,
        spec: &ZoneSpec,
        health: &dyn Fn(&str) -> Option<HealthId>,
        serial: u32,
        nameservers: &NameServers,
    ) -> Snapshot {
        let mut out = self.clone();
        let zone = Zone::build(spec, health, serial, nameservers);
        out.zones
            .insert(name_key(&spec.name).into(), Arc::new(zone));
        out
    }

    /// Builds the zone of `spec` into this snapshot (one being prepared,
    /// not yet published), in place of the zone of the same name.
    pub fn put_spec(
        &mut self,
        spec: &ZoneSpec,
        health: &dyn Fn(&str) -> Option<HealthId>,
        serial: u32,
        nameservers: &NameServers,
    ) {
        let zone = Zone::build(spec, health, serial, nameservers);
        self.zones
            .insert(name_key(&spec.name).into(), Arc::new(zone));
    }

    /// The zone at exactly `apex`.
    pub fn zone(&self, apex: &DName) -> Option<&Arc<Zone>> {
        self.zones.get(NameKey::new(apex).as_bytes())
    }

    /// The zone whose apex has key `key` ([`name_key`]).
    pub fn zone_at_key(&self, key: &[u8]) -> Option<&Arc<Zone>> {
        self.zones.get(key)
    }

    /// Shares `zone` (from another snapshot) into this one, in place of
    /// the zone of the same apex.
    pub fn share_zone(&mut self, zone: Arc<Zone>) {
        self.zones.insert(name_key(&zone.apex).into(), zone);
    }

    /// This snapshot without the zone at `apex` (unchanged if absent).
    pub fn without_zone(&self, apex: &DName) -> Snapshot {
        let mut out = self.clone();
        out.zones.remove(NameKey::new(apex).as_bytes());
        out
    }

    /// Every zone, in no particular order.
    pub fn zones(&self) -> impl Iterator<Item = &Arc<Zone>> {
        self.zones.values()
    }

    /// This snapshot with `zone` in place of the zone of the same apex
    /// (added when absent); the others are shared.
    pub fn with_built_zone(&self, zone: Zone) -> Snapshot {
        let mut out = self.clone();
        out.zones
            .insert(name_key(&zone.apex).into(), Arc::new(zone));
        out
    }

    /// Puts `zone` in place of the zone of the same apex (added when
    /// absent), in this snapshot (one being prepared, not yet published).
    pub fn put_zone(&mut self, zone: Zone) {
        self.zones
            .insert(name_key(&zone.apex).into(), Arc::new(zone));
    }

    /// Number of zones.
    pub fn zone_count(&self) -> usize {
        self.zones.len()
    }

    /// The record set an alias answers with, if its target name exists
    /// in a zone of the snapshot and has records of the alias's type.
    pub fn alias_target(&self, alias: &Alias) -> Option<&RecordSet> {
        let key = NameKey::new(&alias.target);
        let (zone, apex) = self.find_zone(&key)?;
        match zone.find(&key, apex, alias.rtype) {
            Found::Node { node, .. } => node.set(alias.rtype),
            _ => None,
        }
    }

    /// The most specific zone containing `key`, and the label index of its
    /// apex within `key`.
    pub fn find_zone(&self, key: &NameKey) -> Option<(&Zone, usize)> {
        (0..key.labels()).find_map(|i| self.zones.get(key.suffix(i)).map(|z| (&**z, i)))
    }
}

/// A node while its zone is built: sets still growing.
struct Draft {
    name: DName,
    sets: Gather<(Rtype, Policy, Gather<Record>)>,
}

impl Draft {
    fn new(name: DName) -> Draft {
        Draft {
            name,
            sets: Gather::None,
        }
    }

    fn has(&self, rtype: Rtype) -> bool {
        self.sets.iter().any(|s| s.0 == rtype)
    }
}

impl Zone {
    /// Builds the zone of `spec` (validated by [`crate::validate::zone`]);
    /// `health` maps check ids to table indexes, `serial` is a generated
    /// SOA's serial, and `nameservers` the NS set of a zone without one.
    pub fn build(
        spec: &ZoneSpec,
        health: &dyn Fn(&str) -> Option<HealthId>,
        serial: u32,
        nameservers: &NameServers,
    ) -> Zone {
        let mut drafts: FastMap<Box<[u8]>, Draft> = FastMap::default();
        let apex_key = name_key(&spec.name);
        let generated = nameservers.generated(spec);
        let mut generated_sets: Vec<(Box<[u8]>, Rtype)> = Vec::new();
        for r in &generated {
            let set = (name_key(&r.owner), r.rtype);
            if !generated_sets.contains(&set) {
                generated_sets.push(set);
            }
        }
        for r in spec.records.iter().chain(&generated) {
            // The key on the stack: most records share an owner's node.
            let key = NameKey::new(&r.owner);
            if !drafts.contains_key(key.as_bytes()) {
                drafts.insert(key.as_bytes().into(), Draft::new(r.owner.clone()));
            }
            let draft = drafts.get_mut(key.as_bytes()).expect("inserted above");
            let record = Record {
                set: r.set.as_deref().map(Into::into),
                ttl: r.ttl,
                values: r.values.iter().collect(),
                health: r.health_check.as_deref().and_then(health),
                failover: r.failover,
                weight: r.weight.unwrap_or(0),
                alias: r.alias.as_ref().map(|a| {
                    Box::new(Alias {
                        target: a.target.clone(),
                        rtype: r.rtype,
                        evaluate_target_health: a.evaluate_target_health,
                    })
                }),
                location: r.location.clone().map(Box::new),
            };
            match draft.sets.iter_mut().find(|s| s.0 == r.rtype) {
                Some(set) => set.2.push(record),
                None => draft.sets.push((r.rtype, r.policy, Gather::One(record))),
            }
        }
        let apex = drafts
            .entry(apex_key.clone())
            .or_insert_with(|| Draft::new(spec.name.clone()));
        // The generated SOA names the zone's first name server as its
        // primary (as Route 53 does), or `ns1.<zone>` when it has none.
        let ns_name = match apex
            .sets
            .iter()
            .find(|s| s.0 == Rtype::NS)
            .and_then(|s| s.2[0].values.first())
            .and_then(Value::other)
        {
            Some(RData::Ns(ns)) => ns.nsdname().clone(),
            _ => generated_ns(&spec.name),
        };
        let declared_serial =
            apex.sets
                .iter()
                .find(|s| s.0 == Rtype::SOA)
                .and_then(|set| match set.2[0].values.first().and_then(Value::other) {
                    Some(RData::Soa(soa)) => Some(soa.serial().into_int()),
                    _ => None,
                });
        if !apex.has(Rtype::SOA) {
            let [refresh, retry, expire, minimum] = GENERATED_SOA_TIMERS;
            let rname = prefixed(&spec.name, "hostmaster");
            let soa = domain::rdata::Soa::new(
                ns_name.clone(),
                rname,
                domain::base::Serial(serial),
                Ttl::from_secs(refresh),
                Ttl::from_secs(retry),
                Ttl::from_secs(expire),
                Ttl::from_secs(minimum),
            );
            apex.sets.push(simple_set(Rtype::SOA, RData::Soa(soa)));
        }
        if !apex.has(Rtype::NS) {
            apex.sets.push(simple_set(
                Rtype::NS,
                RData::Ns(domain::rdata::Ns::new(ns_name)),
            ));
            generated_sets.push((apex_key.clone(), Rtype::NS));
        }
        let soa_set = apex.sets.iter().find(|s| s.0 == Rtype::SOA);
        let soa_record = &soa_set.expect("SOA present").2[0];
        let soa = (soa_record.ttl, soa_record.values[0].clone());
        let negative_ttl = match soa.1.other() {
            Some(RData::Soa(s)) => soa.0.min(s.minimum()),
            _ => soa.0,
        };
        // Empty non-terminals: the missing ancestors of every owner, up to
        // the apex. A walk up stops at the first ancestor present: its own
        // ancestors are walked from it (or already were).
        let apex_labels = spec.name.label_count();
        let owners: Vec<DName> = drafts.values().map(|n| n.name.clone()).collect();
        for owner in owners {
            let key = NameKey::new(&owner);
            let Some(below) = key.labels().checked_sub(apex_labels) else {
                continue;
            };
            if key.suffix(below) != &*apex_key {
                continue;
            }
            let mut name = owner;
            for i in 1..=below {
                if drafts.contains_key(key.suffix(i)) {
                    break;
                }
                let parent = parent_of(&name).expect("a name below the apex has a parent");
                drafts.insert(key.suffix(i).into(), Draft::new(parent.clone()));
                name = parent;
            }
        }
        // Every owner's octets in one buffer the nodes' names share: one
        // allocation per zone instead of one per name.
        let names = drafts
            .values()
            .map(|d| d.name.as_octets().len())
            .sum::<usize>();
        let mut arena = bytes::BytesMut::with_capacity(names);
        let mut list = Vec::with_capacity(drafts.len());
        let mut index = FastMap::default();
        index.reserve(drafts.len());
        for (key, draft) in drafts {
            let start = arena.len();
            arena.extend_from_slice(draft.name.as_octets());
            let is_cut = key != apex_key && draft.has(Rtype::NS);
            let mut sets = draft.sets.into_few(|(rtype, policy, records)| RecordSet {
                rtype,
                policy,
                records: records.into_few(|record| record),
            });
            sets.sort_by_key(|s| s.rtype.to_int());
            index.insert(key, list.len() as u32);
            list.push((start, sets, is_cut));
        }
        let arena = arena.freeze();
        let mut ends: Vec<usize> = list.iter().map(|n| n.0).skip(1).collect();
        ends.push(arena.len());
        let node_list = list
            .into_iter()
            .zip(ends)
            .map(|((start, sets, is_cut), end)| Node {
                name: DName::from_octets(arena.slice(start..end)).expect("a name's own octets"),
                sets,
                is_cut,
            })
            .collect();
        Zone {
            apex: spec.name.clone(),
            soa,
            negative_ttl,
            declared_serial,
            generated: generated_sets.into(),
            nodes: index,
            node_list,
            unavailable: false,
            counters: ZoneCounters::of_zone(&apex_key),
        }
    }

    /// The records the zone was built from, without the SOA and NS it
    /// generated, ordered by owner, type and set identifier; `check` names
    /// the check of a health-table slot. Declared positions are not kept.
    ///
    /// Why: file zones are not kept twice (docs/zone-files.md); the API's
    /// reads of them rebuild their records from here.
    pub fn declared_records(&self, check: &dyn Fn(HealthId) -> Option<String>) -> Vec<RecordSpec> {
        let apex = name_key(&self.apex);
        let mut nodes: Vec<(&[u8], &Node)> = self
            .nodes
            .iter()
            .map(|(key, &i)| (&key[..], &self.node_list[i as usize]))
            .collect();
        nodes.sort_by_cached_key(|(key, _)| labels_from_root(key));
        let mut out = Vec::new();
        for (key, node) in nodes {
            for set in &node.sets {
                let generated =
                    (key == &*apex && set.rtype == Rtype::SOA && self.declared_serial.is_none())
                        || self
                            .generated
                            .iter()
                            .any(|(k, rtype)| &**k == key && *rtype == set.rtype);
                if generated {
                    continue;
                }
                for r in &set.records {
                    out.push(RecordSpec {
                        owner: node.name.clone(),
                        rtype: set.rtype,
                        ttl: r.ttl,
                        policy: set.policy,
                        set: r.set.as_deref().map(String::from),
                        values: r.values.iter().map(Value::to_rdata).collect(),
                        health_check: r.health.and_then(check),
                        failover: r.failover,
                        weight: (set.policy == Policy::Weighted).then_some(r.weight),
                        alias: r.alias.as_ref().map(|a| crate::model::AliasSpec {
                            target: a.target.clone(),
                            evaluate_target_health: a.evaluate_target_health,
                        }),
                        location: r.location.as_deref().cloned(),
                        origin: None,
                    });
                }
            }
        }
        out
    }

    /// Whether any record's answer depends on a health check: only such
    /// a zone can change with a health transition. An alias that evaluates
    /// its target follows the target's checks, which are in this zone.
    pub fn follows_health(&self) -> bool {
        self.node_list
            .iter()
            .flat_map(|n| &n.sets)
            .flat_map(|s| &s.records)
            .any(|r| r.health.is_some())
    }

    /// The record set `alias` answers with, when its target is in this
    /// zone (aliases point within their zone).
    pub fn alias_target(&self, alias: &Alias) -> Option<&RecordSet> {
        let key = NameKey::new(&alias.target);
        let apex = key
            .labels()
            .checked_sub(NameKey::new(&self.apex).labels())?;
        if key.suffix(apex) != &*name_key(&self.apex) {
            return None;
        }
        match self.find(&key, apex, alias.rtype) {
            Found::Node { node, .. } => node.set(alias.rtype),
            _ => None,
        }
    }

    /// The SOA serial served now.
    pub fn serial(&self) -> u32 {
        match self.soa.1.other() {
            Some(RData::Soa(soa)) => soa.serial().into_int(),
            _ => 0,
        }
    }

    /// This zone with its SOA serial set to `serial` (the serial a zone
    /// serves is decided after it is built: `xfr::serial`).
    pub fn with_serial(&self, serial: u32) -> Zone {
        let mut zone = self.clone();
        let with = |data: &RData| match data {
            RData::Soa(soa) => RData::Soa(domain::rdata::Soa::new(
                soa.mname().clone(),
                soa.rname().clone(),
                domain::base::Serial(serial),
                soa.refresh(),
                soa.retry(),
                soa.expire(),
                soa.minimum(),
            )),
            other => other.clone(),
        };
        zone.soa.1 = Value::from(with(&zone.soa.1.to_rdata()));
        if let Some(&i) = zone.nodes.get(&name_key(&zone.apex)) {
            let mut list = zone.node_list.into_vec();
            if let Some(set) = list[i as usize]
                .sets
                .iter_mut()
                .find(|s| s.rtype == Rtype::SOA)
            {
                for value in set.records[0].values.iter_mut() {
                    *value = Value::from(with(&value.to_rdata()));
                }
            }
            zone.node_list = list.into_boxed_slice();
        }
        zone
    }

    /// Resolves `key`, whose label `apex` is this zone's apex, following
    /// RFC 1034 §4.3.2: delegations and DNAMEs on the way down, then the
    /// exact name, then the wildcard at the closest encloser. A DS query at
    /// a cut is answered here, by the parent (RFC 4035 §3.1.4.1).
    pub fn find(&self, key: &NameKey, apex: usize, qtype: Rtype) -> Found<'_> {
        if apex > 0
            && let Some(node) = self.get(key.suffix(apex))
            && node.set(Rtype::DNAME).is_some()
        {
            return Found::Dname(node);
        }
        for i in (0..apex).rev() {
            let Some(node) = self.get(key.suffix(i)) else {
                let mut wild = [0u8; 255];
                return match key.wildcard_of(i + 1, &mut wild).and_then(|w| self.get(w)) {
                    Some(node) => Found::Node {
                        node,
                        wildcard: true,
                    },
                    None => Found::NxDomain,
                };
            };
            if node.is_cut && !(i == 0 && qtype == Rtype::DS) {
                return Found::Referral(node);
            }
            if i > 0 && node.set(Rtype::DNAME).is_some() {
                return Found::Dname(node);
            }
        }
        match self.get(key.suffix(0)) {
            Some(node) => Found::Node {
                node,
                wildcard: false,
            },
            None => Found::NxDomain,
        }
    }

    /// Every node of the zone, in no particular order (for transfers).
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.node_list.iter()
    }

    /// The node at exactly `key`, without wildcard or delegation logic
    /// (for glue and additional-section addresses).
    pub fn node(&self, key: &NameKey) -> Option<&Node> {
        self.get(key.as_bytes())
    }

    /// The node keyed `key`.
    fn get(&self, key: &[u8]) -> Option<&Node> {
        self.nodes.get(key).map(|&i| &self.node_list[i as usize])
    }
}

fn simple_set(rtype: Rtype, data: RData) -> (Rtype, Policy, Gather<Record>) {
    let record = Record {
        set: None,
        ttl: Ttl::from_secs(GENERATED_TTL),
        values: Values::One(data.into()),
        health: None,
        failover: None,
        weight: 0,
        alias: None,
        location: None,
    };
    (rtype, Policy::Simple, Gather::One(record))
}

fn generated_ns(apex: &DName) -> DName {
    prefixed(apex, "ns1")
}

/// The labels of a name key, root side first: sorting by them orders
/// names as in a zone file (parents before children).
fn labels_from_root(key: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < key.len() && key[at] > 0 {
        out.push(&key[at + 1..at + 1 + key[at] as usize]);
        at += 1 + key[at] as usize;
    }
    out.reverse();
    out
}

fn parent_of(name: &DName) -> Option<DName> {
    name.parent().map(|p| p.to_name())
}

/// Lower-cased wire form of a name: the map key for zones and nodes.
pub fn name_key(name: &impl ToName) -> Box<[u8]> {
    // A name in one piece is lower-cased whole: label lengths are at most
    // 63, below every ASCII letter, so only the letters change. At a
    // million records this is called several times for each.
    if let Some(flat) = name.as_flat_slice() {
        return flat.to_ascii_lowercase().into_boxed_slice();
    }
    let mut out = Vec::with_capacity(name.compose_len() as usize);
    for label in name.iter_labels() {
        out.push(label.len() as u8);
        out.extend(label.as_slice().iter().map(u8::to_ascii_lowercase));
    }
    out.into_boxed_slice()
}

/// A name lower-cased into a stack buffer, with the start of each label, so
/// that every suffix is a slice: the allocation-free form of [`name_key`].
pub struct NameKey {
    buf: [u8; 255],
    len: u8,
    starts: [u8; 128],
    labels: u8,
}

impl NameKey {
    /// Lower-cases `name`. Names are at most 255 octets and 128 labels by
    /// RFC 1035, which every parsed name already satisfies.
    pub fn new<N: ToLabelIter + ?Sized>(name: &N) -> NameKey {
        let mut key = NameKey {
            buf: [0; 255],
            len: 0,
            starts: [0; 128],
            labels: 0,
        };
        for label in name.iter_labels() {
            key.push_label(label);
        }
        key
    }

    fn push_label(&mut self, label: &Label) {
        let at = self.len as usize;
        self.starts[self.labels as usize] = self.len;
        self.labels += 1;
        self.buf[at] = label.len() as u8;
        for (dst, src) in self.buf[at + 1..at + 1 + label.len()]
            .iter_mut()
            .zip(label.as_slice())
        {
            *dst = src.to_ascii_lowercase();
        }
        self.len += 1 + label.len() as u8;
    }

    /// The whole key.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }

    /// Number of labels, counting the root.
    pub fn labels(&self) -> usize {
        self.labels as usize
    }

    /// The name without its first `i` labels.
    pub fn suffix(&self, i: usize) -> &[u8] {
        &self.buf[self.starts[i] as usize..self.len as usize]
    }

    /// `*.` + the suffix from label `i`, written into `out`.
    fn wildcard_of<'b>(&self, i: usize, out: &'b mut [u8; 255]) -> Option<&'b [u8]> {
        let suffix = self.suffix(i);
        if suffix.len() + 2 > out.len() {
            return None;
        }
        out[0] = 1;
        out[1] = b'*';
        out[2..2 + suffix.len()].copy_from_slice(suffix);
        Some(&out[..2 + suffix.len()])
    }
}

/// Builds the specs' records into a zone map keyed by record owner, used by
/// tests to inspect what was built.
#[cfg(test)]
fn build_one(text: &str) -> Zone {
    use std::str::FromStr;
    let apex = DName::from_str("example.test.").unwrap();
    let records: Vec<crate::model::RecordSpec> =
        crate::zonefile::parse_text(std::path::Path::new("t.zone"), text, &apex).unwrap();
    Zone::build(
        &ZoneSpec {
            name: apex,
            records,
        },
        &|_| None,
        1,
        &NameServers::default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn key(s: &str) -> NameKey {
        NameKey::new(&DName::from_str(s).unwrap())
    }

    fn find<'a>(z: &'a Zone, name: &str) -> Found<'a> {
        let k = key(name);
        z.find(&k, k.labels() - 3, Rtype::A)
    }

    #[test]
    fn name_key_lowercases_and_slices_suffixes() {
        let k = key("WwW.Example.TEST.");
        assert_eq!(k.as_bytes(), b"\x03www\x07example\x04test\x00");
        assert_eq!(k.suffix(1), b"\x07example\x04test\x00");
        assert_eq!(k.suffix(3), b"\x00");
        assert_eq!(k.labels(), 4);
    }

    fn spec(apex: &str, text: &str) -> ZoneSpec {
        let apex = DName::from_str(apex).unwrap();
        let records =
            crate::zonefile::parse_text(std::path::Path::new("t.zone"), text, &apex).unwrap();
        ZoneSpec {
            name: apex,
            records,
        }
    }

    #[test]
    fn with_zone_replaces_one_zone_and_shares_the_others() {
        let a = spec("a.test.", "www 60 A 192.0.2.1\n");
        let b = spec("b.test.", "www 60 A 192.0.2.2\n");
        let first = Snapshot::build(&[a, b], &|_| None, 1);
        let a2 = spec("a.test.", "new 60 A 192.0.2.3\n");
        let second = first.with_zone(&a2, &|_| None, 2, &NameServers::default());
        let zone = |s: &Snapshot, name: &str| {
            let k = key(name);
            s.find_zone(&k).map(|(z, _)| z as *const Zone)
        };
        assert_eq!(zone(&first, "b.test."), zone(&second, "b.test."));
        assert_ne!(zone(&first, "a.test."), zone(&second, "a.test."));
        let k = key("new.a.test.");
        let (z, apex) = second.find_zone(&k).unwrap();
        assert!(matches!(z.find(&k, apex, Rtype::A), Found::Node { .. }));
        let (z, apex) = first.find_zone(&k).unwrap();
        assert!(matches!(z.find(&k, apex, Rtype::A), Found::NxDomain));

        let c = spec("c.test.", "www 60 A 192.0.2.4\n");
        let third = second.with_zone(&c, &|_| None, 3, &NameServers::default());
        assert_eq!(third.zone_count(), 3);
        let fourth = third.without_zone(&DName::from_str("a.test.").unwrap());
        assert_eq!(fourth.zone_count(), 2);
        assert!(fourth.find_zone(&key("www.a.test.")).is_none());
    }

    /// What the API reads back of a file zone (`declared_records`) is what
    /// the zone was built from, routing fields included, without the SOA
    /// and NS the build generated.
    #[test]
    fn declared_records_give_back_every_record_built() {
        use crate::model::{AliasSpec, FailoverRole, Location};
        let mut zone = spec(
            "example.test.",
            "www 60 A 192.0.2.1\nwww 60 A 192.0.2.2\nv6 60 AAAA 2001:db8::1\n\
             mail 60 MX 10 www\nt 60 TXT \"x y\"\nc 60 CNAME www\nsub 60 NS ns.sub\n\
             ns.sub 60 A 192.0.2.9\n*.w 60 A 192.0.2.3\nold 60 DNAME new.example.\n",
        );
        let base = zone.records[0].clone();
        let routed = |name: &str, policy: Policy, set: &str| RecordSpec {
            owner: DName::from_str(name).unwrap(),
            policy,
            set: Some(set.into()),
            values: vec![base.values[0].clone()],
            ..base.clone()
        };
        zone.records.push(RecordSpec {
            health_check: Some("c1".into()),
            failover: Some(FailoverRole::Primary),
            ..routed("fo.example.test.", Policy::Failover, "p")
        });
        zone.records.push(RecordSpec {
            weight: Some(7),
            ..routed("wt.example.test.", Policy::Weighted, "w")
        });
        zone.records.push(RecordSpec {
            location: Some(Location::Country("DE".into())),
            ..routed("geo.example.test.", Policy::Geolocation, "de")
        });
        zone.records.push(RecordSpec {
            values: Vec::new(),
            alias: Some(AliasSpec {
                target: DName::from_str("www.example.test.").unwrap(),
                evaluate_target_health: true,
            }),
            ..routed("al.example.test.", Policy::Simple, "x")
        });
        let built = Zone::build(
            &zone,
            &|id| (id == "c1").then_some(3),
            1,
            &NameServers::default(),
        );
        let back = built.declared_records(&|slot| (slot == 3).then(|| "c1".to_string()));
        let text = |records: &[RecordSpec]| {
            let mut out: Vec<String> = records
                .iter()
                .map(|r| {
                    format!(
                        "{:?}",
                        RecordSpec {
                            origin: None,
                            ..r.clone()
                        }
                    )
                })
                .collect();
            out.sort();
            out
        };
        assert_eq!(text(&back), text(&zone.records));
        // Parents before children.
        let names: Vec<String> = back.iter().map(|r| r.owner.to_string()).collect();
        let at = |n: &str| names.iter().position(|x| x == n).unwrap();
        assert!(at("sub.example.test") < at("ns.sub.example.test"));
    }

    #[test]
    fn generates_soa_and_ns_when_missing() {
        let z = build_one("www 60 A 192.0.2.1\n");
        let apex = z.node(&key("example.test.")).unwrap();
        assert!(apex.set(Rtype::SOA).is_some());
        assert!(apex.set(Rtype::NS).is_some());
        assert_eq!(z.negative_ttl, Ttl::from_secs(60));
    }

    #[test]
    fn finds_exact_wildcard_empty_nonterminal_and_nxdomain() {
        let z = build_one("a.b 60 A 192.0.2.1\n*.w 60 A 192.0.2.2\n");
        assert!(matches!(
            find(&z, "a.b.example.test."),
            Found::Node {
                wildcard: false,
                ..
            }
        ));
        assert!(
            matches!(find(&z, "B.example.test."), Found::Node { node, .. } if node.sets.is_empty())
        );
        assert!(matches!(
            find(&z, "x.y.w.example.test."),
            Found::Node { wildcard: true, .. }
        ));
        assert!(matches!(find(&z, "x.a.b.example.test."), Found::NxDomain));
        assert!(matches!(
            find(&z, "x.w.example.test."),
            Found::Node { wildcard: true, .. }
        ));
        assert!(matches!(find(&z, "nope.example.test."), Found::NxDomain));
    }

    #[test]
    fn names_at_and_below_a_cut_are_referrals() {
        let z = build_one("sub 60 NS ns.sub\nns.sub 60 A 192.0.2.1\n");
        assert!(matches!(find(&z, "sub.example.test."), Found::Referral(_)));
        assert!(matches!(
            find(&z, "deep.ns.sub.example.test."),
            Found::Referral(_)
        ));
        let k = key("sub.example.test.");
        assert!(matches!(z.find(&k, 1, Rtype::DS), Found::Node { .. }));
    }

    #[test]
    fn names_below_a_dname_are_redirected() {
        let z = build_one("old 60 DNAME new.example.\n");
        assert!(matches!(find(&z, "x.old.example.test."), Found::Dname(_)));
        assert!(matches!(find(&z, "old.example.test."), Found::Node { .. }));
    }
}
