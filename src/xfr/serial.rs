//! The rule for SOA serials (docs/dns.md#soa-serials): a zone's serial
//! increases with every published change of what the zone transfers (its
//! records, or which records of a routed group answer), and only then.
//!
//! A change is told by a fingerprint of the zone's current content
//! (`routing::zone_now` plus the SOA without its serial): publishing the
//! same content again keeps the serial. A changed zone gets its previous
//! serial plus one (RFC 1982 addition), or the serial its SOA declares
//! when that is greater. A zone seen for the first time starts at its
//! declared serial, or at the current Unix time for a generated SOA (so
//! that a zone deleted and made again still moves forward for secondaries
//! that knew it).

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
    /// A book holding the saved `entries` (zone name text, entry); names
    /// that do not parse are skipped.
    pub fn from_saved(entries: impl IntoIterator<Item = (String, Entry)>) -> SerialBook {
        let zones = entries
            .into_iter()
            .filter_map(|(name, e)| {
                let name = <DName as std::str::FromStr>::from_str(&name).ok()?;
                Some((name_key(&name), e))
            })
            .collect();
        SerialBook {
            zones,
            verbatim: Default::default(),
        }
    }

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
    ) -> Stamped {
        self.stamp_only(snapshot, None, healthy, now)
    }

    /// As [`SerialBook::stamp`], for the zone at `only` alone when given
    /// (a change to one zone costs that zone's fingerprint, not all).
    pub fn stamp_only(
        &mut self,
        snapshot: &Snapshot,
        only: Option<&DName>,
        healthy: &(impl Fn(HealthId) -> bool + Sync),
        now: u32,
    ) -> Stamped {
        self.stamp_where(
            snapshot,
            |z| only.is_none_or(|apex| apex.name_eq(&z.apex)),
            healthy,
            now,
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
    ) -> Stamped {
        self.stamp_where(snapshot, Zone::follows_health, healthy, now)
    }

    fn stamp_where(
        &mut self,
        snapshot: &Snapshot,
        filter: impl Fn(&Zone) -> bool,
        healthy: &(impl Fn(HealthId) -> bool + Sync),
        now: u32,
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
        for (zone, fingerprint) in zones.into_iter().zip(fingerprints) {
            let key = name_key(&zone.apex);
            if self.verbatim.contains(&key) {
                // Not transferred yet (a generated SOA): nothing to stamp.
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
                continue;
            }
            let declared = zone.declared_serial;
            let entry = match self.zones.get(&key) {
                Some(e) if e.fingerprint == fingerprint && e.declared == declared => *e,
                Some(e) => {
                    let bumped = Serial(e.serial).add(1);
                    let serial = match declared.map(Serial) {
                        Some(d) if d > bumped => d,
                        Some(d) => {
                            if d != Serial(e.serial) && Some(d.into_int()) != e.declared {
                                tracing::warn!(zone = %zone.apex, declared = d.into_int(), serving = bumped.into_int(),
                                    "the SOA of zone {} declares serial {}, not above the {} served before; serving {} so secondaries follow",
                                    zone.apex, d.into_int(), e.serial, bumped.into_int());
                            }
                            bumped
                        }
                        None => bumped,
                    };
                    Entry {
                        serial: serial.into_int(),
                        fingerprint,
                        declared,
                    }
                }
                None => Entry {
                    serial: declared.unwrap_or(now),
                    fingerprint,
                    declared,
                },
            };
            if self.zones.get(&key).map(|e| e.serial) != Some(entry.serial) {
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
        let all = |_| true;
        let Stamped {
            snapshot: first,
            changed,
            ..
        } = book.stamp(&build(&spec(&["192.0.2.1"], None)), &all, 1000);
        assert_eq!(serial_of(&first), 1000);
        assert_eq!(changed.len(), 1);
        // Published again, later, unchanged: same serial, nothing to tell.
        let Stamped {
            snapshot: again,
            changed,
            ..
        } = book.stamp(&build(&spec(&["192.0.2.1"], None)), &all, 5000);
        assert_eq!(serial_of(&again), 1000);
        assert!(changed.is_empty());
        // Three changes within one second: three serials.
        for (i, v) in ["192.0.2.2", "192.0.2.3", "192.0.2.4"].iter().enumerate() {
            let Stamped {
                snapshot: next,
                changed,
                ..
            } = book.stamp(&build(&spec(&[v], None)), &all, 1000);
            assert_eq!(serial_of(&next), 1001 + i as u32);
            assert_eq!(changed[0].serial, 1001 + i as u32);
        }
        // A health change that changes what answers is a change; one that
        // does not (the other record of a pair, both failing) is not.
        let two = build(&spec(&["192.0.2.4", "192.0.2.5"], None));
        book.stamp(&two, &all, 0);
        let s = book.zones.values().next().unwrap().serial;
        let Stamped {
            snapshot: after,
            changed,
            ..
        } = book.stamp(&two, &|id| id != 1, 0);
        assert_eq!(serial_of(&after), s + 1);
        assert_eq!(changed.len(), 1);
        // Both down: fail open, the same records as both up.
        let Stamped {
            snapshot: after, ..
        } = book.stamp(&two, &|_| false, 0);
        assert_eq!(serial_of(&after), s + 2);
        let Stamped {
            snapshot: after,
            changed,
            ..
        } = book.stamp(&two, &|_| true, 0);
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
        assert!(book.stamp_health(&plain, &|_| true, 5).changed.is_empty());
        assert_eq!(book.stamp(&plain, &|_| true, 5).changed.len(), 1);
        let routed = build(&spec(&["192.0.2.1"], None));
        assert_eq!(book.stamp_health(&routed, &|_| true, 5).changed.len(), 1);
    }

    #[test]
    fn a_declared_serial_is_served_and_overtaken_when_it_does_not_rise() {
        let mut book = SerialBook::default();
        let all = |_| true;
        let Stamped { snapshot: s, .. } =
            book.stamp(&build(&spec(&["192.0.2.1"], Some(2024))), &all, 9);
        assert_eq!(serial_of(&s), 2024);
        // The records change, the declared serial does not: bumped.
        let Stamped { snapshot: s, .. } =
            book.stamp(&build(&spec(&["192.0.2.2"], Some(2024))), &all, 9);
        assert_eq!(serial_of(&s), 2025);
        // The declared serial jumps ahead: it is served.
        let Stamped { snapshot: s, .. } =
            book.stamp(&build(&spec(&["192.0.2.2"], Some(3000))), &all, 9);
        assert_eq!(serial_of(&s), 3000);
        // It is lowered: bumped from the served one instead, with a warning.
        let Stamped { snapshot: s, .. } =
            book.stamp(&build(&spec(&["192.0.2.2"], Some(5))), &all, 9);
        assert_eq!(serial_of(&s), 3001);
        // RFC 1982: from the top of the space it wraps to 0.
        let mut book = SerialBook::default();
        book.stamp(&build(&spec(&["192.0.2.1"], None)), &all, u32::MAX);
        let Stamped { snapshot: s, .. } = book.stamp(&build(&spec(&["192.0.2.2"], None)), &all, 9);
        assert_eq!(serial_of(&s), 0);
    }

    #[test]
    fn a_secondary_zone_serves_its_primarys_serial_even_when_it_goes_down() {
        let mut book = SerialBook::default();
        let apex = DName::from_str("example.test.").unwrap();
        book.set_verbatim([&apex]);
        let all = |_| true;
        let Stamped {
            snapshot: s,
            changed,
            ..
        } = book.stamp(&build(&spec(&["192.0.2.1"], Some(2024))), &all, 9);
        assert_eq!((serial_of(&s), changed.len()), (2024, 1));
        // Other records, the same serial: still the primary's.
        let Stamped {
            snapshot: s,
            changed,
            ..
        } = book.stamp(&build(&spec(&["192.0.2.2"], Some(2024))), &all, 9);
        assert_eq!((serial_of(&s), changed.len()), (2024, 0));
        // A primary that starts over lower is followed, not overtaken.
        let Stamped {
            snapshot: s,
            changed,
            ..
        } = book.stamp(&build(&spec(&["192.0.2.2"], Some(5))), &all, 9);
        assert_eq!((serial_of(&s), changed[0].serial), (5, 5));
        // Before its first transfer (a generated SOA) it is not stamped.
        let mut book = SerialBook::default();
        book.set_verbatim([&apex]);
        assert!(
            book.stamp(&build(&spec(&["192.0.2.1"], None)), &all, 9)
                .changed
                .is_empty()
        );
        assert!(book.entry(&apex).is_none());
    }
}
