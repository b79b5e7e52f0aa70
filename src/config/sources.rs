//! The zone files a config names, as the service takes them: what each
//! held ([`ZoneSources`], for reloads) and the zones built as they were
//! read ([`Built`]).

use std::collections::{HashMap, HashSet};

use domain::base::ToName;

use crate::model::{DName, RecordSpec, ZoneSpec};
use crate::{validate, zonefile};

/// What the file zones' files held, for the next reload to tell which of
/// them changed without parsing them again ([`zonefile::Source`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZoneSources {
    /// What each zone file (with its includes) held, by zone key
    /// ([`crate::snapshot::name_key`]).
    pub read: HashMap<Box<[u8]>, zonefile::Source>,
    /// The zones whose file held what the sources given to
    /// [`Config::load_to_serve`] said: not parsed again, so their `records`
    /// are empty, and the zone built from them at the last load stands.
    pub unchanged: HashSet<Box<[u8]>>,
    /// The zones built as their files were read ([`Config::load_to_serve`]),
    /// by zone key; their `records` are empty.
    pub built: HashMap<Box<[u8]>, Built>,
}

/// A zone built on the thread that parsed its file, its records dropped
/// there: at 10,000 zone files no more than one file's records per core
/// is held at once, instead of every record before any zone is built.
///
/// Only a zone its file alone declares, with its own NS set (so that
/// neither health checks nor `[server] nameservers` enter its build), and
/// that validates, is built so.
#[derive(Debug, Clone)]
pub struct Built {
    /// The zone, ready to serve.
    pub zone: std::sync::Arc<crate::snapshot::Zone>,
    /// How many records its file declared.
    pub records: usize,
    /// What `eightfold check` would warn about it ([`crate::lint::zone`]).
    pub warnings: Vec<crate::lint::Warning>,
}

impl PartialEq for Built {
    fn eq(&self, other: &Built) -> bool {
        std::sync::Arc::ptr_eq(&self.zone, &other.zone)
    }
}

/// What the parser makes of one zone file's records.
pub(super) enum Parsed {
    /// The records, for the zone to be validated and built later.
    Records(Vec<RecordSpec>),
    /// The zone, built already.
    Built(Built),
}

/// The zone at `apex` built from its file's `records` ([`Built`]), when it
/// declares its NS set and validates; else the records, for the caller to
/// report what is wrong or build it with the name servers.
pub(super) fn built(apex: &DName, records: Vec<RecordSpec>) -> Parsed {
    let spec = ZoneSpec {
        name: apex.clone(),
        records,
    };
    let own_ns = spec
        .records
        .iter()
        .any(|r| r.rtype == domain::base::iana::Rtype::NS && r.owner.name_eq(apex));
    if !own_ns || !validate::zone(&spec).is_empty() {
        return Parsed::Records(spec.records);
    }
    let no_checks = |_: &str| None;
    let zone = crate::snapshot::Zone::build(
        &spec,
        &no_checks,
        crate::publish::soa_serial(),
        &crate::nameservers::NameServers::default(),
    );
    Parsed::Built(Built {
        zone: std::sync::Arc::new(zone),
        records: spec.records.len(),
        warnings: crate::lint::zone(&spec),
    })
}
