//! The rule for SOA serials (docs/dns.md#soa-serials): a zone's serial
//! increases with every published change of what the zone transfers (its
//! records, or which records of a routed group answer), and only then;
//! nodes that share a store serve the same serial for the same content.
//!
//! A change is told by a fingerprint of the zone's current content
//! (`routing::zone_now` plus the SOA without its serial): publishing the
//! same content again keeps the serial. The store holds one row per zone
//! (serial, fingerprint, declared serial) that every node sharing it reads
//! and writes through [`Shared`]; [`next`] is the whole rule for one zone:
//!
//! - the row stands for this content (and is not below what this node
//!   served): serve its serial, write nothing;
//! - else this node's content is what it already serves: keep its serial,
//!   and write it only when the row is below it (a restored backup, a
//!   write lost to an outage);
//! - else the content changed: the later of the row's and this node's
//!   serials plus one (RFC 1982 addition), or the serial the SOA declares
//!   when that is greater; a zone nobody has a serial for starts at its
//!   declared serial, or at the current Unix time for a generated SOA (so
//!   that a zone deleted and made again, elsewhere, still moves forward).
//!
//! Writes are compare-and-set on the row read: of two nodes that decide
//! the same zone's next serial at once, one writes and the other adopts
//! the winner's row when it stands for the same content, or decides again
//! from it (a few times at most). A node that cannot reach the store moves
//! on from its own serials and writes them when it next stamps the zone.

use std::collections::HashMap;
use std::sync::Arc;

use domain::base::{Serial, ToName};

use crate::model::{DName, RData};
use crate::snapshot::{HealthId, Snapshot, Value, Zone, name_key};

/// A zone's serial and the fingerprint of the content it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The serial served.
    pub serial: u32,
    /// SHA-256 of the content, first 8 bytes.
    pub fingerprint: u64,
    /// The serial the zone's SOA declared then.
    pub declared: Option<u32>,
}

/// The serial of every zone seen so far, by lower-cased wire name (kept
/// for removed zones too, so a zone made again carries on upwards).
#[derive(Debug, Default)]
pub struct SerialBook {
    zones: HashMap<Box<[u8]>, Entry>,
    /// Secondary zones: they serve their primary's serial as it is.
    verbatim: std::collections::HashSet<Box<[u8]>>,
}

impl SerialBook {
    /// Makes the zones at `apexes` (secondary zones) serve the serial
    /// their SOA declares, the primary's, without this rule.
    pub fn set_verbatim<'a>(&mut self, apexes: impl IntoIterator<Item = &'a DName>) {
        self.verbatim = apexes.into_iter().map(name_key).collect();
    }

    /// Whether `zone`, under health `healthy`, transfers the content its
    /// serial was stamped for: false when health moved after the stamp,
    /// which the next stamp follows with a new serial. A secondary zone's
    /// content is its primary's and always is.
    pub fn stands_for(&self, zone: &Zone, healthy: &impl Fn(HealthId) -> bool) -> bool {
        let key = name_key(&zone.apex);
        if self.verbatim.contains(&key) {
            return true;
        }
        self.zones.get(&key).is_some_and(|e| {
            e.serial == zone.serial() && e.fingerprint == fingerprint(zone, healthy)
        })
    }

    /// The entry of the zone at `apex`.
    pub fn entry(&self, apex: &DName) -> Option<Entry> {
        self.zones.get(&name_key(apex)).copied()
    }
}

/// What [`SerialBook::stamp`] did.
#[derive(Debug)]
pub struct Stamped {
    /// The snapshot to publish.
    pub snapshot: Snapshot,
    /// The zones whose serial moved (or that were seen for the first time).
    pub changed: Vec<Changed>,
    /// Whether any zone's SOA had to be rewritten (false: `snapshot` is the
    /// one given).
    pub rewritten: bool,
}

/// A zone whose serial changed in [`SerialBook::stamp`].
#[derive(Debug, Clone)]
pub struct Changed {
    /// The zone's apex.
    pub apex: DName,
    /// Its new serial.
    pub serial: u32,
}

/// A zone's row as the shared store holds it, to be replaced by `new`
/// only if it is still `expected` (compare-and-set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The zone, lower-cased, absolute, as the store names it.
    pub zone: String,
    /// The row read (`None`: there was none).
    pub expected: Option<Entry>,
    /// The row to write.
    pub new: Entry,
}

/// What became of a [`Claim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Written.
    Won,
    /// Another node wrote first: its row.
    Lost(Option<Entry>),
}

/// The store every node reads serials from (`service::transfers` puts
/// the real one behind it). Errors are text: a serial is served whatever
/// the store says, so they are only logged.
pub trait Shared {
    /// The rows of the zones named (every row when `None`).
    fn read(&mut self, zones: Option<&[String]>) -> Result<HashMap<String, Entry>, String>;
    /// Writes the claims in one transaction; an outcome per claim, in order.
    fn claim(&mut self, claims: &[Claim]) -> Result<Vec<Outcome>, String>;
}

/// What [`next`] decided for one zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    /// The serial to serve.
    pub serial: u32,
    /// Whether to write it (over the row read).
    pub claim: bool,
}

/// The rule for one zone of content `fingerprint` with declared serial
/// `declared`: `served` is what this node served last (this process),
/// `stored` the shared row. Pure: the table in the tests is the rule.
pub fn next(
    served: Option<Entry>,
    stored: Option<Entry>,
    fingerprint: u64,
    declared: Option<u32>,
    now: u32,
) -> Next {
    let same = |e: &Entry| e.fingerprint == fingerprint && e.declared == declared;
    // The row stands for this content: every node serves it, unless this
    // node served a later serial (a restored store) or served this very
    // serial for other content (two nodes that moved apart while the store
    // was away): then secondaries that have it would never move.
    if let Some(s) = stored.filter(same) {
        let above = served.is_none_or(|v| v == s || Serial(s.serial) > Serial(v.serial));
        if above {
            return Next {
                serial: s.serial,
                claim: false,
            };
        }
    }
    // Nothing changed here: another node's newer row is another node's
    // newer content, which this one serves once it catches up.
    if let Some(v) = served.filter(same) {
        let behind = stored.is_none_or(|s| Serial(s.serial) < Serial(v.serial));
        return Next {
            serial: v.serial,
            claim: behind,
        };
    }
    let base = match (served, stored) {
        (Some(v), Some(s)) if Serial(s.serial) > Serial(v.serial) => s.serial,
        (Some(v), _) => v.serial,
        (None, Some(s)) => s.serial,
        (None, None) => {
            return Next {
                serial: declared.unwrap_or(now),
                claim: true,
            };
        }
    };
    let bumped = Serial(base).add(1);
    let serial = match declared.map(Serial) {
        Some(d) if d > bumped => d,
        _ => bumped,
    };
    Next {
        serial: serial.into_int(),
        claim: true,
    }
}

/// How many times a zone's serial is decided again after losing its
/// claim to another node before it is served unwritten: each loss means
/// another node wrote that zone in between, so more than a few is a zone
/// changing faster than nodes can agree, and the next stamp tries again.
const CLAIM_ROUNDS: usize = 4;

/// A zone under the rule (not a secondary zone), being stamped.
struct Ruled<'a> {
    zone: &'a Arc<Zone>,
    /// Its key in the book.
    key: Box<[u8]>,
    /// Its name in the store.
    name: String,
    fingerprint: u64,
}

/// The zone's name as the store keys it (`service::key_text`).
fn store_name(apex: &DName) -> String {
    apex.fmt_with_dot().to_string().to_ascii_lowercase()
}

impl SerialBook {
    /// Gives every zone of `snapshot` its serial under the rule, with
    /// health `healthy`; returns the snapshot to publish (zones whose
    /// serial is already right are shared) and the zones whose serial
    /// changed.
    pub fn stamp(
        &mut self,
        snapshot: &Snapshot,
        healthy: &(impl Fn(HealthId) -> bool + Sync),
        now: u32,
        shared: &mut dyn Shared,
    ) -> Stamped {
        self.stamp_only(snapshot, None, healthy, now, shared)
    }

    /// As [`SerialBook::stamp`], for the zone at `only` alone when given
    /// (a change to one zone costs that zone's fingerprint and row, not
    /// all).
    pub fn stamp_only(
        &mut self,
        snapshot: &Snapshot,
        only: Option<&DName>,
        healthy: &(impl Fn(HealthId) -> bool + Sync),
        now: u32,
        shared: &mut dyn Shared,
    ) -> Stamped {
        self.stamp_where(
            snapshot,
            |z| only.is_none_or(|apex| apex.name_eq(&z.apex)),
            only.is_none(),
            healthy,
            (now, shared),
        )
    }

    /// After a health transition: only the zones whose answers follow
    /// health can have changed ([`Zone::follows_health`]), so only they are
    /// fingerprinted again.
    pub fn stamp_health(
        &mut self,
        snapshot: &Snapshot,
        healthy: &(impl Fn(HealthId) -> bool + Sync),
        now: u32,
        shared: &mut dyn Shared,
    ) -> Stamped {
        self.stamp_where(
            snapshot,
            Zone::follows_health,
            false,
            healthy,
            (now, shared),
        )
    }

    /// `every`: the filter passes every zone, so the store's rows are
    /// read in one query of them all rather than by name.
    fn stamp_where(
        &mut self,
        snapshot: &Snapshot,
        filter: impl Fn(&Zone) -> bool,
        every: bool,
        healthy: &(impl Fn(HealthId) -> bool + Sync),
        (now, shared): (u32, &mut dyn Shared),
    ) -> Stamped {
        let mut out = snapshot.clone();
        let mut changed = Vec::new();
        let mut rewritten = false;
        let zones: Vec<&Arc<Zone>> = snapshot.zones().filter(|z| filter(z)).collect();
        // Every zone's content is hashed on every core: at start, with
        // 10,000 zones, that reads every record once more. Secondary
        // zones serve their primary's serial and are not hashed.
        let fingerprints: Vec<u64> = {
            use rayon::prelude::*;
            let verbatim = &self.verbatim;
            zones
                .par_iter()
                .map(|z| match verbatim.contains(&name_key(&z.apex)) {
                    true => 0,
                    false => fingerprint(z, healthy),
                })
                .collect()
        };
        let mut ruled = Vec::new();
        for (zone, fingerprint) in zones.into_iter().zip(fingerprints) {
            let key = name_key(&zone.apex);
            if !self.verbatim.contains(&key) {
                let name = store_name(&zone.apex);
                ruled.push(Ruled {
                    zone,
                    key,
                    name,
                    fingerprint,
                });
                continue;
            }
            // Not transferred yet (a generated SOA): nothing to stamp.
            // Kept in this node's book alone: each node transfers it
            // from the primaries itself.
            let Some(serial) = zone.declared_serial else {
                continue;
            };
            if self.zones.get(&key).map(|e| e.serial) != Some(serial) {
                changed.push(Changed {
                    apex: zone.apex.clone(),
                    serial,
                });
            }
            let entry = Entry {
                serial,
                fingerprint: 0,
                declared: Some(serial),
            };
            self.zones.insert(key, entry);
        }
        let serials = self.agree(&ruled, every, now, shared);
        for (Ruled { zone, key, .. }, entry) in ruled.into_iter().zip(serials) {
            let previous = self.zones.get(&key).copied();
            if let (Some(d), Some(p)) = (entry.declared, previous)
                && d != entry.serial
                && d != p.serial
                && Some(d) != p.declared
            {
                tracing::warn!(zone = %zone.apex, declared = d, serving = entry.serial,
                    "the SOA of zone {} declares serial {}, not above the {} served before; serving {} so secondaries follow",
                    zone.apex, d, p.serial, entry.serial);
            }
            if previous.map(|e| e.serial) != Some(entry.serial) {
                changed.push(Changed {
                    apex: zone.apex.clone(),
                    serial: entry.serial,
                });
            }
            self.zones.insert(key, entry);
            if zone.serial() != entry.serial {
                out.put_zone(zone.with_serial(entry.serial));
                rewritten = true;
            }
        }
        Stamped {
            snapshot: out,
            changed,
            rewritten,
        }
    }

    /// Each ruled zone's entry under [`next`], agreed through the store:
    /// one read of the rows, then one batch of claims for the zones whose
    /// serial moved, again for those another node claimed first.
    fn agree(
        &self,
        ruled: &[Ruled<'_>],
        every: bool,
        now: u32,
        shared: &mut dyn Shared,
    ) -> Vec<Entry> {
        if ruled.is_empty() {
            return Vec::new();
        }
        let read = match every {
            true => shared.read(None),
            false => {
                let names: Vec<String> = ruled.iter().map(|r| r.name.clone()).collect();
                shared.read(Some(&names))
            }
        };
        // Unreachable: each zone moves on from this node's own serial.
        let (mut rows, mut reachable) = match read {
            Ok(rows) => (rows, true),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the zone serials from the store; serving this node's own until it is back: {e}");
                (HashMap::new(), false)
            }
        };
        let decide = |i: usize, rows: &HashMap<String, Entry>| {
            let r = &ruled[i];
            let next = next(
                self.zones.get(&r.key).copied(),
                rows.get(&r.name).copied(),
                r.fingerprint,
                r.zone.declared_serial,
                now,
            );
            let entry = Entry {
                serial: next.serial,
                fingerprint: r.fingerprint,
                declared: r.zone.declared_serial,
            };
            (entry, next.claim)
        };
        let mut entries = Vec::with_capacity(ruled.len());
        let mut pending = Vec::new();
        for i in 0..ruled.len() {
            let (entry, claim) = decide(i, &rows);
            entries.push(entry);
            if claim {
                pending.push(i);
            }
        }
        for _ in 0..CLAIM_ROUNDS {
            if pending.is_empty() || !reachable {
                break;
            }
            let claims: Vec<Claim> = pending
                .iter()
                .map(|&i| Claim {
                    zone: ruled[i].name.clone(),
                    expected: rows.get(&ruled[i].name).copied(),
                    new: entries[i],
                })
                .collect();
            let outcomes = match shared.claim(&claims) {
                Ok(outcomes) => outcomes,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot write zone serials to the store; serving this node's own until it is back: {e}");
                    reachable = false;
                    break;
                }
            };
            let mut lost = Vec::new();
            for (i, outcome) in pending.into_iter().zip(outcomes) {
                let Outcome::Lost(row) = outcome else {
                    continue;
                };
                let name = &ruled[i].name;
                match row {
                    Some(row) => rows.insert(name.clone(), row),
                    None => rows.remove(name),
                };
                let (entry, claim) = decide(i, &rows);
                entries[i] = entry;
                if claim {
                    lost.push(i);
                }
            }
            pending = lost;
        }
        if reachable && !pending.is_empty() {
            tracing::warn!(
                zones = pending.len(),
                "other nodes kept changing the serials of {} zones; serving this node's until their next change",
                pending.len()
            );
        }
        entries
    }
}

/// `owner` as `fmt_with_dot` writes it, lower-cased (the fingerprint's
/// text): written a byte at a time here, as `domain`'s `Label` display
/// escapes, because through `Display` a write call per character was most
/// of the fingerprint's cost at a million records.
fn push_owner(text: &mut String, owner: &DName) {
    use std::fmt::Write;
    if owner.is_root() {
        let _ = write!(text, "{}", owner.fmt_with_dot());
        return;
    }
    for label in owner.iter().filter(|l| !l.is_root()) {
        for &ch in label.as_slice() {
            match ch {
                b' ' | b'.' | b'\\' => {
                    text.push('\\');
                    text.push(ch as char);
                }
                0x20..=0x7e => text.push(ch.to_ascii_lowercase() as char),
                _ => {
                    let _ = write!(text, "\\{ch:03}");
                }
            }
        }
        text.push('.');
    }
}

/// Writes ` <ttl> <type> <data>` as `write!` with `Display` would; the
/// numbers, the type's mnemonic and an address's octets without the
/// formatting machinery, which was a third of the fingerprint's cost at a
/// million records.
fn push_rest(text: &mut String, ttl: u32, data: &Value) {
    use std::fmt::Write;
    let mut number = itoa::Buffer::new();
    text.push(' ');
    text.push_str(number.format(ttl));
    text.push(' ');
    let rtype = domain::base::rdata::RecordData::rtype(data);
    match rtype.to_mnemonic_str() {
        Some(mnemonic) => text.push_str(mnemonic),
        None => {
            let _ = write!(text, "{rtype}");
        }
    }
    text.push(' ');
    match data {
        Value::A(a) => {
            for (i, octet) in a.addr().octets().into_iter().enumerate() {
                if i > 0 {
                    text.push('.');
                }
                text.push_str(number.format(octet));
            }
        }
        _ => {
            let _ = write!(text, "{data}");
        }
    }
}

/// SHA-256 over the zone's content as it answers now, in a canonical
/// order: the same content gives the same fingerprint in any process.
fn fingerprint(zone: &Zone, healthy: &impl Fn(HealthId) -> bool) -> u64 {
    use std::fmt::Write;
    // Every line in one buffer (a string per record was a third of this
    // function's cost at a million records); the bytes hashed are as
    // before, so stored fingerprints stay valid.
    let mut text = String::new();
    let mut lines: Vec<std::ops::Range<usize>> = Vec::new();
    for r in crate::routing::zone_now(zone, healthy).iter() {
        let start = text.len();
        push_owner(&mut text, r.owner);
        push_rest(&mut text, r.ttl.as_secs(), r.data);
        lines.push(start..text.len());
    }
    if let (ttl, Some(RData::Soa(soa))) = (&zone.soa.0, zone.soa.1.other()) {
        // Every field but the serial.
        let start = text.len();
        let _ = write!(
            text,
            "SOA {} {} {} {} {} {} {}",
            ttl.as_secs(),
            soa.mname(),
            soa.rname(),
            soa.refresh().as_secs(),
            soa.retry().as_secs(),
            soa.expire().as_secs(),
            soa.minimum().as_secs()
        );
        lines.push(start..text.len());
    }
    lines.sort_unstable_by(|a, b| text[a.clone()].cmp(&text[b.clone()]));
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for line in &lines {
        ctx.update(text[line.clone()].as_bytes());
        ctx.update(b"\n");
    }
    let digest = ctx.finish();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_ref()[..8]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Policy, RecordSpec, ZoneSpec};
    use domain::base::Ttl;
    use domain::base::iana::Rtype;
    use std::str::FromStr;

    fn spec(values: &[&str], soa: Option<u32>) -> ZoneSpec {
        let name = DName::from_str("example.test.").unwrap();
        let mut records = vec![RecordSpec {
            owner: DName::from_str("www.example.test.").unwrap(),
            rtype: Rtype::A,
            ttl: Ttl::from_secs(60),
            policy: Policy::Multivalue,
            set: Some("a".into()),
            values: vec![RData::A(domain::rdata::A::new(values[0].parse().unwrap()))],
            health_check: Some("0".into()),
            failover: None,
            weight: None,
            origin: None,
            alias: None,
            location: None,
        }];
        for (i, v) in values.iter().enumerate().skip(1) {
            let mut r = records[0].clone();
            r.set = Some(format!("s{i}"));
            r.values = vec![RData::A(domain::rdata::A::new(v.parse().unwrap()))];
            r.health_check = Some(i.to_string());
            records.push(r);
        }
        if let Some(serial) = soa {
            records.push(RecordSpec {
                owner: name.clone(),
                rtype: Rtype::SOA,
                ttl: Ttl::from_secs(3600),
                policy: Policy::Simple,
                set: None,
                values: vec![RData::Soa(domain::rdata::Soa::new(
                    DName::from_str("ns.example.test.").unwrap(),
                    DName::from_str("h.example.test.").unwrap(),
                    Serial(serial),
                    Ttl::from_secs(1),
                    Ttl::from_secs(1),
                    Ttl::from_secs(1),
                    Ttl::from_secs(1),
                ))],
                health_check: None,
                failover: None,
                weight: None,
                origin: None,
                alias: None,
                location: None,
            });
        }
        ZoneSpec { name, records }
    }

    /// The shared store: a map, which a test can take away.
    #[derive(Default)]
    struct Map {
        rows: HashMap<String, Entry>,
        down: bool,
    }

    impl Shared for Map {
        fn read(&mut self, zones: Option<&[String]>) -> Result<HashMap<String, Entry>, String> {
            if self.down {
                return Err("down".into());
            }
            Ok(self
                .rows
                .iter()
                .filter(|(z, _)| zones.is_none_or(|named| named.contains(z)))
                .map(|(z, e)| (z.clone(), *e))
                .collect())
        }

        fn claim(&mut self, claims: &[Claim]) -> Result<Vec<Outcome>, String> {
            if self.down {
                return Err("down".into());
            }
            Ok(claims
                .iter()
                .map(|c| match self.rows.get(&c.zone) == c.expected.as_ref() {
                    true => {
                        self.rows.insert(c.zone.clone(), c.new);
                        Outcome::Won
                    }
                    false => Outcome::Lost(self.rows.get(&c.zone).copied()),
                })
                .collect())
        }
    }

    fn build(spec: &ZoneSpec) -> Snapshot {
        // The placeholder serial a build gives changes nothing.
        Snapshot::build(std::slice::from_ref(spec), &|id| id.parse().ok(), 7)
    }

    fn serial_of(snapshot: &Snapshot) -> u32 {
        snapshot.zones().next().unwrap().serial()
    }

    /// The fingerprint as first written (a string per line): stored
    /// fingerprints were made this way, so the one in use must agree.
    fn fingerprint_as_first_written(zone: &Zone, healthy: &impl Fn(HealthId) -> bool) -> u64 {
        let mut lines: Vec<String> = crate::routing::zone_now(zone, healthy)
            .iter()
            .map(|r| {
                format!(
                    "{} {} {} {}",
                    r.owner.fmt_with_dot().to_string().to_ascii_lowercase(),
                    r.ttl.as_secs(),
                    domain::base::rdata::RecordData::rtype(r.data),
                    r.data
                )
            })
            .collect();
        if let (ttl, Some(RData::Soa(soa))) = (&zone.soa.0, zone.soa.1.other()) {
            lines.push(format!(
                "SOA {} {} {} {} {} {} {}",
                ttl.as_secs(),
                soa.mname(),
                soa.rname(),
                soa.refresh().as_secs(),
                soa.retry().as_secs(),
                soa.expire().as_secs(),
                soa.minimum().as_secs()
            ));
        }
        lines.sort_unstable();
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for line in &lines {
            ctx.update(line.as_bytes());
            ctx.update(b"\n");
        }
        let mut first = [0u8; 8];
        first.copy_from_slice(&ctx.finish().as_ref()[..8]);
        u64::from_be_bytes(first)
    }

    #[test]
    fn the_fingerprint_hashes_what_it_always_did() {
        let mut mixed = spec(&["192.0.2.1", "192.0.2.2", "192.0.2.3"], Some(5));
        // Upper case in an owner: lower-cased in the text, as before.
        mixed.records[1].owner = DName::from_str("WWW.Example.TEST.").unwrap();
        // Octets the text escapes: a dot, a space, a backslash, a byte
        // outside ASCII.
        let mut odd = spec(&["192.0.2.4"], None);
        odd.records[0].owner = DName::from_str("A\\.b\\032C\\\\d\\200\\009.example.test.").unwrap();
        // Other types: an address of each family, a name, an unknown type.
        for (rtype, text) in [
            (Rtype::AAAA, "2001:db8::7"),
            (Rtype::MX, "10 mail.example.test."),
            (Rtype::from_int(65534), "\\# 3 010203"),
        ] {
            let mut r = odd.records[0].clone();
            r.rtype = rtype;
            r.policy = Policy::Simple;
            r.set = None;
            r.health_check = None;
            r.values = vec![crate::zonefile::parse_value(&odd.name, rtype, text).unwrap()];
            odd.records.push(r);
        }
        for zone_spec in [spec(&["192.0.2.9"], None), mixed, odd] {
            let snapshot = build(&zone_spec);
            let zone = snapshot.zones().next().unwrap();
            for healthy in [|_: HealthId| true, |h: HealthId| h != 1] {
                assert_eq!(
                    fingerprint(zone, &healthy),
                    fingerprint_as_first_written(zone, &healthy)
                );
            }
        }
    }

    #[test]
    fn a_serial_moves_with_the_content_and_only_with_it() {
        let mut book = SerialBook::default();
        let mut store = Map::default();
        let all = |_| true;
        let Stamped {
            snapshot: first,
            changed,
            ..
        } = book.stamp(&build(&spec(&["192.0.2.1"], None)), &all, 1000, &mut store);
        assert_eq!(serial_of(&first), 1000);
        assert_eq!(changed.len(), 1);
        // Published again, later, unchanged: same serial, nothing to tell.
        let Stamped {
            snapshot: again,
            changed,
            ..
        } = book.stamp(&build(&spec(&["192.0.2.1"], None)), &all, 5000, &mut store);
        assert_eq!(serial_of(&again), 1000);
        assert!(changed.is_empty());
        // Three changes within one second: three serials.
        for (i, v) in ["192.0.2.2", "192.0.2.3", "192.0.2.4"].iter().enumerate() {
            let Stamped {
                snapshot: next,
                changed,
                ..
            } = book.stamp(&build(&spec(&[v], None)), &all, 1000, &mut store);
            assert_eq!(serial_of(&next), 1001 + i as u32);
            assert_eq!(changed[0].serial, 1001 + i as u32);
        }
        // A health change that changes what answers is a change; one that
        // does not (the other record of a pair, both failing) is not.
        let two = build(&spec(&["192.0.2.4", "192.0.2.5"], None));
        book.stamp(&two, &all, 0, &mut store);
        let s = book.zones.values().next().unwrap().serial;
        let Stamped {
            snapshot: after,
            changed,
            ..
        } = book.stamp(&two, &|id| id != 1, 0, &mut store);
        assert_eq!(serial_of(&after), s + 1);
        assert_eq!(changed.len(), 1);
        // Both down: fail open, the same records as both up.
        let Stamped {
            snapshot: after, ..
        } = book.stamp(&two, &|_| false, 0, &mut store);
        assert_eq!(serial_of(&after), s + 2);
        let Stamped {
            snapshot: after,
            changed,
            ..
        } = book.stamp(&two, &|_| true, 0, &mut store);
        assert_eq!(serial_of(&after), s + 2, "the same content as before");
        assert!(changed.is_empty());
    }

    #[test]
    fn after_a_health_transition_only_zones_that_follow_health_are_stamped() {
        let plain = ZoneSpec {
            name: DName::from_str("plain.test.").unwrap(),
            records: Vec::new(),
        };
        let plain = Snapshot::build(std::slice::from_ref(&plain), &|_| None, 7);
        let mut book = SerialBook::default();
        let mut store = Map::default();
        assert!(
            book.stamp_health(&plain, &|_| true, 5, &mut store)
                .changed
                .is_empty()
        );
        assert_eq!(
            book.stamp(&plain, &|_| true, 5, &mut store).changed.len(),
            1
        );
        let routed = build(&spec(&["192.0.2.1"], None));
        assert_eq!(
            book.stamp_health(&routed, &|_| true, 5, &mut store)
                .changed
                .len(),
            1
        );
    }

    #[test]
    fn a_declared_serial_is_served_and_overtaken_when_it_does_not_rise() {
        let mut book = SerialBook::default();
        let mut store = Map::default();
        let all = |_| true;
        let Stamped { snapshot: s, .. } = book.stamp(
            &build(&spec(&["192.0.2.1"], Some(2024))),
            &all,
            9,
            &mut store,
        );
        assert_eq!(serial_of(&s), 2024);
        // The records change, the declared serial does not: bumped.
        let Stamped { snapshot: s, .. } = book.stamp(
            &build(&spec(&["192.0.2.2"], Some(2024))),
            &all,
            9,
            &mut store,
        );
        assert_eq!(serial_of(&s), 2025);
        // The declared serial jumps ahead: it is served.
        let Stamped { snapshot: s, .. } = book.stamp(
            &build(&spec(&["192.0.2.2"], Some(3000))),
            &all,
            9,
            &mut store,
        );
        assert_eq!(serial_of(&s), 3000);
        // It is lowered: bumped from the served one instead, with a warning.
        let Stamped { snapshot: s, .. } =
            book.stamp(&build(&spec(&["192.0.2.2"], Some(5))), &all, 9, &mut store);
        assert_eq!(serial_of(&s), 3001);
        // RFC 1982: from the top of the space it wraps to 0.
        let mut book = SerialBook::default();
        let mut store = Map::default();
        book.stamp(
            &build(&spec(&["192.0.2.1"], None)),
            &all,
            u32::MAX,
            &mut store,
        );
        let Stamped { snapshot: s, .. } =
            book.stamp(&build(&spec(&["192.0.2.2"], None)), &all, 9, &mut store);
        assert_eq!(serial_of(&s), 0);
    }

    #[test]
    fn a_secondary_zone_serves_its_primarys_serial_even_when_it_goes_down() {
        let mut book = SerialBook::default();
        let mut store = Map::default();
        let apex = DName::from_str("example.test.").unwrap();
        book.set_verbatim([&apex]);
        let all = |_| true;
        let Stamped {
            snapshot: s,
            changed,
            ..
        } = book.stamp(
            &build(&spec(&["192.0.2.1"], Some(2024))),
            &all,
            9,
            &mut store,
        );
        assert_eq!((serial_of(&s), changed.len()), (2024, 1));
        // Other records, the same serial: still the primary's.
        let Stamped {
            snapshot: s,
            changed,
            ..
        } = book.stamp(
            &build(&spec(&["192.0.2.2"], Some(2024))),
            &all,
            9,
            &mut store,
        );
        assert_eq!((serial_of(&s), changed.len()), (2024, 0));
        // A primary that starts over lower is followed, not overtaken.
        let Stamped {
            snapshot: s,
            changed,
            ..
        } = book.stamp(&build(&spec(&["192.0.2.2"], Some(5))), &all, 9, &mut store);
        assert_eq!((serial_of(&s), changed[0].serial), (5, 5));
        // Before its first transfer (a generated SOA) it is not stamped.
        let mut book = SerialBook::default();
        let mut store = Map::default();
        book.set_verbatim([&apex]);
        assert!(
            book.stamp(&build(&spec(&["192.0.2.1"], None)), &all, 9, &mut store)
                .changed
                .is_empty()
        );
        assert!(book.entry(&apex).is_none());
    }

    fn e(serial: u32, fingerprint: u64, declared: Option<u32>) -> Entry {
        Entry {
            serial,
            fingerprint,
            declared,
        }
    }

    #[test]
    fn the_rule_for_one_zone() {
        const NOW: u32 = 1000;
        let max = u32::MAX;
        type Row = (
            &'static str,
            Option<Entry>,
            Option<Entry>,
            u64,
            Option<u32>,
            (u32, bool),
        );
        #[rustfmt::skip]
        let table: &[Row] = &[
            // what, served by this node, stored, content, declared, (serve, write)
            ("new anywhere, generated SOA: the clock", None, None, 1, None, (NOW, true)),
            ("new anywhere, declared SOA: its serial", None, None, 1, Some(2024), (2024, true)),
            ("new here, another node's row for it", None, Some(e(50, 1, None)), 1, None, (50, false)),
            ("new here, changed since the row", None, Some(e(50, 2, None)), 1, None, (51, true)),
            ("nothing changed", Some(e(50, 1, None)), Some(e(50, 1, None)), 1, None, (50, false)),
            ("another node moved first to this content", Some(e(50, 1, None)), Some(e(51, 2, None)), 2, None, (51, false)),
            ("another node moved, this one not yet", Some(e(50, 1, None)), Some(e(51, 2, None)), 1, None, (50, false)),
            ("changed past another node's change", Some(e(50, 1, None)), Some(e(51, 2, None)), 3, None, (52, true)),
            ("a restored row below this node: written up", Some(e(60, 1, None)), Some(e(50, 1, None)), 1, None, (60, true)),
            ("a restored row, content changed", Some(e(60, 1, None)), Some(e(50, 2, None)), 2, None, (61, true)),
            ("a row lost: written back", Some(e(60, 1, None)), None, 1, None, (60, true)),
            ("moved apart while the store was away", Some(e(51, 1, None)), Some(e(51, 2, None)), 2, None, (52, true)),
            ("a declared serial that rises is served", Some(e(50, 1, None)), Some(e(50, 1, None)), 1, Some(3000), (3000, true)),
            ("a declared serial that falls is overtaken", Some(e(3000, 1, Some(3000))), Some(e(3000, 1, Some(3000))), 2, Some(5), (3001, true)),
            ("RFC 1982: after the top comes 0", Some(e(max, 1, None)), Some(e(max, 1, None)), 2, None, (0, true)),
            ("RFC 1982: 0 is later than the top", Some(e(max, 1, None)), Some(e(0, 2, None)), 2, None, (0, false)),
        ];
        for &(what, served, stored, fingerprint, declared, (serial, claim)) in table {
            assert_eq!(
                next(served, stored, fingerprint, declared, NOW),
                Next { serial, claim },
                "{what}"
            );
        }
    }

    /// A store on which another node writes just before this one's
    /// claim (`before_claim`), as when two nodes stamp the same zone at
    /// once.
    type Other<'a> = Box<dyn FnOnce(&mut Map) + 'a>;

    struct Racing<'a> {
        map: &'a mut Map,
        before_claim: Option<Other<'a>>,
    }

    impl Shared for Racing<'_> {
        fn read(&mut self, zones: Option<&[String]>) -> Result<HashMap<String, Entry>, String> {
            self.map.read(zones)
        }

        fn claim(&mut self, claims: &[Claim]) -> Result<Vec<Outcome>, String> {
            if let Some(other) = self.before_claim.take() {
                other(self.map);
            }
            self.map.claim(claims)
        }
    }

    #[test]
    fn nodes_sharing_a_store_serve_the_same_serial_for_the_same_content() {
        let all = |_| true;
        let mut store = Map::default();
        let (mut a, mut b) = (SerialBook::default(), SerialBook::default());
        let v = |n: u8| build(&spec(&[&format!("192.0.2.{n}")], None));
        // B sees the zone a second after A: A's first serial, not its clock.
        assert_eq!(
            serial_of(&a.stamp(&v(1), &all, 1000, &mut store).snapshot),
            1000
        );
        assert_eq!(
            serial_of(&b.stamp(&v(1), &all, 1001, &mut store).snapshot),
            1000
        );
        // Changes through either node, the other following: one serial each.
        for (n, expected) in [(2, 1001), (3, 1002), (4, 1003)] {
            let (first, second) = match n % 2 {
                0 => (&mut a, &mut b),
                _ => (&mut b, &mut a),
            };
            assert_eq!(
                serial_of(&first.stamp(&v(n), &all, 9, &mut store).snapshot),
                expected
            );
            let followed = second.stamp(&v(n), &all, 9, &mut store);
            assert_eq!(
                (serial_of(&followed.snapshot), followed.changed.len()),
                (expected, 1)
            );
        }
        // Both stamp the same change at once: B claims first, A adopts.
        {
            let mut racing = Racing {
                map: &mut store,
                before_claim: Some(Box::new(|map: &mut Map| {
                    assert_eq!(serial_of(&b.stamp(&v(5), &all, 9, map).snapshot), 1004);
                })),
            };
            assert_eq!(
                serial_of(&a.stamp(&v(5), &all, 9, &mut racing).snapshot),
                1004
            );
        }
        // At once, other content: B's 1005 (v6) is there first; A's
        // change (v7) goes past it, and B follows when it has v7.
        {
            let mut racing = Racing {
                map: &mut store,
                before_claim: Some(Box::new(|map: &mut Map| {
                    assert_eq!(serial_of(&b.stamp(&v(6), &all, 9, map).snapshot), 1005);
                })),
            };
            assert_eq!(
                serial_of(&a.stamp(&v(7), &all, 9, &mut racing).snapshot),
                1006
            );
        }
        assert_eq!(
            serial_of(&b.stamp(&v(7), &all, 9, &mut store).snapshot),
            1006
        );
        // The store away: A moves on from its own serial, and writes it
        // when it next stamps the zone with the store back; B adopts it.
        store.down = true;
        assert_eq!(
            serial_of(&a.stamp(&v(8), &all, 9, &mut store).snapshot),
            1007
        );
        store.down = false;
        assert_eq!(store.rows.values().next().unwrap().serial, 1006);
        assert!(a.stamp(&v(8), &all, 9, &mut store).changed.is_empty());
        assert_eq!(store.rows.values().next().unwrap().serial, 1007);
        assert_eq!(
            serial_of(&b.stamp(&v(8), &all, 9, &mut store).snapshot),
            1007
        );
        // A restart (a new book) with no change serves the same serial
        // and writes nothing.
        let before = store.rows.clone();
        let stamped = SerialBook::default().stamp(&v(8), &all, 5000, &mut store);
        assert_eq!(serial_of(&stamped.snapshot), 1007);
        assert_eq!(store.rows, before);
        // A store restored to an older row: no node goes back.
        store.rows.values_mut().next().unwrap().serial = 900;
        assert_eq!(
            serial_of(&a.stamp(&v(8), &all, 9, &mut store).snapshot),
            1007
        );
        assert_eq!(store.rows.values().next().unwrap().serial, 1007);
    }
}
