//! The IXFR journal (RFC 1995): for each zone some client may transfer,
//! what it transferred at its current serial and the differences between
//! its last versions, so that an IXFR from a recent serial is answered with
//! the records that changed instead of the whole zone.
//!
//! Memory only: after a restart the journal is empty and an IXFR from any
//! older serial gets the whole zone, which RFC 1995 §4 allows. Bounded per
//! zone: at most [`MAX_STEPS`] differences, and no more bytes of them than
//! the zone's own content (or [`MIN_BUDGET`]): past that a full transfer
//! costs no more than the differences would, so the oldest are dropped.
//!
//! Records are kept as uncompressed wire data (owner, type, class, TTL,
//! data), sorted, so that two versions are compared by a merge and a
//! difference is sent as it is stored.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use domain::base::iana::Class;
use domain::base::record::ComposeRecord;

use crate::model::DName;
use crate::routing::Current;
use crate::snapshot::name_key;

/// Most differences kept per zone: a secondary more than this many versions
/// behind takes the whole zone.
pub const MAX_STEPS: usize = 64;

/// The least byte budget of a zone's differences, so that a small zone
/// still keeps a few versions.
pub const MIN_BUDGET: usize = 64 * 1024;

/// One record as uncompressed wire data, shared between the content it is
/// part of and the differences that name it.
pub type Wire = Arc<[u8]>;

/// `record` (owner, IN, TTL, data) as uncompressed wire data.
pub fn wire(record: &Current<'_>) -> Wire {
    let mut out = Vec::new();
    let _ = (record.owner, Class::IN, record.ttl, record.data).compose_record(&mut out);
    out.into()
}

/// What a zone transfers at one serial: its SOA and its other records,
/// sorted and without duplicates.
#[derive(Debug, Clone)]
pub struct Version {
    /// The serial.
    pub serial: u32,
    /// The SOA record.
    pub soa: Wire,
    /// Every other record, sorted by wire data.
    pub records: Arc<[Wire]>,
}

impl Version {
    /// The version of `records` (in any order) with SOA `soa`.
    pub fn new(serial: u32, soa: Wire, mut records: Vec<Wire>) -> Version {
        records.sort_unstable();
        records.dedup();
        Version {
            serial,
            soa,
            records: records.into(),
        }
    }

    fn bytes(&self) -> usize {
        self.records.iter().map(|r| r.len()).sum::<usize>() + self.soa.len()
    }
}

/// The difference between two consecutive versions: RFC 1995 §4's
/// "old SOA, deletions, new SOA, additions".
#[derive(Debug)]
pub struct Step {
    /// The SOA of the older version (its serial first in the step).
    pub old_soa: Wire,
    pub old_serial: u32,
    /// Records of the older version not in the newer.
    pub deleted: Vec<Wire>,
    /// The SOA of the newer version.
    pub new_soa: Wire,
    pub new_serial: u32,
    /// Records of the newer version not in the older.
    pub added: Vec<Wire>,
}

impl Step {
    fn bytes(&self) -> usize {
        let sum = |v: &[Wire]| v.iter().map(|r| r.len()).sum::<usize>();
        self.old_soa.len() + self.new_soa.len() + sum(&self.deleted) + sum(&self.added)
    }
}

/// One zone's current version and its last differences, oldest first.
#[derive(Debug)]
struct ZoneLog {
    current: Version,
    steps: VecDeque<Arc<Step>>,
    step_bytes: usize,
}

/// Every journaled zone's log, by lower-cased wire name. A lock, not the
/// answer path's lock-free snapshot: only publications (the service, under
/// its own lock) and outgoing transfers take it, each briefly.
#[derive(Debug, Default)]
pub struct Journal {
    zones: Mutex<HashMap<Box<[u8]>, ZoneLog>>,
}

impl Journal {
    /// Records that the zone at `apex` now transfers `version`: the
    /// difference from the version recorded before becomes a step. The
    /// same version again changes nothing; the same serial with other
    /// content, or a lower serial, replaces the version and drops the
    /// steps.
    pub fn record(&self, apex: &DName, version: Version) {
        let mut zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        let key = name_key(apex);
        let Some(log) = zones.get_mut(&key) else {
            zones.insert(
                key,
                ZoneLog {
                    current: version,
                    steps: VecDeque::new(),
                    step_bytes: 0,
                },
            );
            return;
        };
        let newer = domain::base::Serial(version.serial)
            .partial_cmp(&domain::base::Serial(log.current.serial))
            == Some(std::cmp::Ordering::Greater);
        if !newer {
            if log.current.serial == version.serial
                && log.current.records == version.records
                && log.current.soa == version.soa
            {
                return;
            }
            // The same serial again, or a lower one (a secondary zone
            // serves its primary's serial as it is, and follows a primary
            // that starts over): a client at such a serial may hold
            // either version, so no step is safe to send any more.
            log.steps.clear();
            log.step_bytes = 0;
            log.current = version;
            return;
        }
        let step = diff(&log.current, &version);
        log.step_bytes += step.bytes();
        log.steps.push_back(Arc::new(step));
        log.current = version;
        let budget = log.current.bytes().max(MIN_BUDGET);
        while log.steps.len() > MAX_STEPS || (log.step_bytes > budget && log.steps.len() > 1) {
            let old = log.steps.pop_front().expect("not empty");
            log.step_bytes -= old.bytes();
        }
    }

    /// Forgets the zone at `apex` (its content could not be recorded):
    /// IXFR for it gets the whole zone until its next recorded version.
    pub fn forget(&self, apex: &DName) {
        let mut zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        zones.remove(&name_key(apex));
    }

    /// Keeps the zones whose key ([`name_key`]) `keep` accepts and forgets
    /// the others: after a reload, those no longer served or no longer
    /// transferable would otherwise hold their versions until the process
    /// ends.
    pub fn retain(&self, keep: impl Fn(&[u8]) -> bool) {
        let mut zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        zones.retain(|key, _| keep(key));
    }

    /// The version of the zone at `apex` recorded for `serial`, when that
    /// is its current one.
    pub fn version(&self, apex: &DName, serial: u32) -> Option<Version> {
        let zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        let log = zones.get(&name_key(apex))?;
        (log.current.serial == serial).then(|| log.current.clone())
    }

    /// The steps that take the zone at `apex` from serial `from` to `to`,
    /// in order; `None` when the journal does not hold them all (a serial
    /// from before the journal, or one it never recorded).
    pub fn steps(&self, apex: &DName, from: u32, to: u32) -> Option<Vec<Arc<Step>>> {
        let zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        let log = zones.get(&name_key(apex))?;
        let start = log.steps.iter().position(|s| s.old_serial == from)?;
        let mut out = Vec::new();
        let mut at = from;
        for step in log.steps.iter().skip(start) {
            if at == to {
                break;
            }
            if step.old_serial != at {
                return None;
            }
            at = step.new_serial;
            out.push(step.clone());
        }
        (at == to && !out.is_empty()).then_some(out)
    }
}

/// The step from `old` to `new`, by a merge of their sorted records.
fn diff(old: &Version, new: &Version) -> Step {
    let (mut deleted, mut added) = (Vec::new(), Vec::new());
    let (mut a, mut b) = (old.records.iter().peekable(), new.records.iter().peekable());
    loop {
        match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => match x.cmp(y) {
                std::cmp::Ordering::Less => deleted.push(a.next().expect("peeked").clone()),
                std::cmp::Ordering::Greater => added.push(b.next().expect("peeked").clone()),
                std::cmp::Ordering::Equal => {
                    a.next();
                    b.next();
                }
            },
            (Some(_), None) => deleted.push(a.next().expect("peeked").clone()),
            (None, Some(_)) => added.push(b.next().expect("peeked").clone()),
            (None, None) => break,
        }
    }
    Step {
        old_soa: old.soa.clone(),
        old_serial: old.serial,
        deleted,
        new_soa: new.soa.clone(),
        new_serial: new.serial,
        added,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn w(text: &str) -> Wire {
        text.as_bytes().into()
    }

    fn v(serial: u32, records: &[&str]) -> Version {
        Version::new(
            serial,
            w(&format!("soa{serial}")),
            records.iter().map(|r| w(r)).collect(),
        )
    }

    #[test]
    fn retain_forgets_only_the_zones_it_is_not_told_to_keep() {
        let kept = DName::from_str("kept.test.").unwrap();
        let gone = DName::from_str("gone.test.").unwrap();
        let journal = Journal::default();
        journal.record(&kept, v(1, &["a"]));
        journal.record(&gone, v(1, &["a"]));
        journal.retain(|key| key == &name_key(&kept)[..]);
        assert!(journal.version(&kept, 1).is_some());
        assert!(journal.version(&gone, 1).is_none());
    }

    #[test]
    fn steps_chain_from_a_kept_serial_to_the_current_one() {
        let apex = DName::from_str("example.test.").unwrap();
        let journal = Journal::default();
        journal.record(&apex, v(1, &["a", "b"]));
        journal.record(&apex, v(2, &["b", "c"]));
        journal.record(&apex, v(3, &["c"]));
        let steps = journal.steps(&apex, 1, 3).unwrap();
        assert_eq!(steps.len(), 2);
        assert_eq!(
            (steps[0].deleted.clone(), steps[0].added.clone()),
            (vec![w("a")], vec![w("c")])
        );
        assert_eq!(
            (steps[1].deleted.clone(), steps[1].added.len()),
            (vec![w("b")], 0)
        );
        assert_eq!(steps[1].old_soa, w("soa2"));
        // From the middle; to an older target (a transfer of an older
        // publication); from serials never recorded.
        assert_eq!(journal.steps(&apex, 2, 3).unwrap().len(), 1);
        assert_eq!(journal.steps(&apex, 1, 2).unwrap().len(), 1);
        assert!(journal.steps(&apex, 0, 3).is_none());
        assert!(journal.steps(&apex, 3, 3).is_none());
        assert_eq!(journal.version(&apex, 3).unwrap().records.len(), 1);
        assert!(journal.version(&apex, 2).is_none());
        // The same version again changes nothing; the same serial with
        // other records drops the steps to it.
        journal.record(&apex, v(3, &["c"]));
        assert_eq!(journal.steps(&apex, 2, 3).unwrap().len(), 1);
        journal.record(&apex, v(3, &["d"]));
        assert!(journal.steps(&apex, 2, 3).is_none());
        journal.forget(&apex);
        assert!(journal.version(&apex, 3).is_none());
    }

    #[test]
    fn the_journal_keeps_at_most_max_steps() {
        let apex = DName::from_str("example.test.").unwrap();
        let journal = Journal::default();
        for serial in 0..(MAX_STEPS as u32 + 10) {
            journal.record(&apex, v(serial, &[&serial.to_string()]));
        }
        let last = MAX_STEPS as u32 + 9;
        assert!(journal.steps(&apex, 8, last).is_none());
        assert_eq!(journal.steps(&apex, 9, last).unwrap().len(), MAX_STEPS);
    }
}
