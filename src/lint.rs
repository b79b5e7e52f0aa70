//! Warnings about zone data that loads but will not work as meant, where
//! BIND's `named-checkzone` warns (the check operators already know):
//! a name server or mail exchanger inside the zone with no address, one
//! that is a CNAME (RFC 2181 §10.3 forbids it), and a delegation whose
//! name servers lie below it with no glue.
//!
//! Only names inside the zone are judged: what lies outside needs lookups
//! `eightfold check` does not make. Pure: a zone in, warnings out.

use domain::base::ToName;
use domain::base::iana::Rtype;

use crate::model::{DName, Origin, RData, RecordSpec, ZoneSpec};
use crate::nameservers::NameServers;
use crate::snapshot::{FastMap, name_key};

/// One warning, located where the record that causes it was declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The declaration of the NS, MX or SRV record, when it came from a
    /// file.
    pub origin: Option<Origin>,
    /// What is wrong and what to add.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.origin {
            Some(o) => write!(
                f,
                "{}:{}:{}: warning: {}",
                o.file.display(),
                o.line,
                o.col,
                self.message
            ),
            None => write!(f, "warning: {}", self.message),
        }
    }
}

/// The types present at each name of a zone.
struct Names {
    types: FastMap<Box<[u8]>, Vec<Rtype>>,
    /// Delegation points: names below the apex holding NS.
    cuts: Vec<DName>,
}

impl Names {
    fn of<'a>(apex: &DName, records: impl Iterator<Item = &'a RecordSpec>) -> Names {
        let mut types: FastMap<Box<[u8]>, Vec<Rtype>> = FastMap::default();
        let mut cuts = Vec::new();
        let apex = name_key(apex);
        for r in records {
            let key = name_key(&r.owner);
            if r.rtype == Rtype::NS && key != apex && !cuts.contains(&r.owner) {
                cuts.push(r.owner.clone());
            }
            types.entry(key).or_default().push(r.rtype);
        }
        Names { types, cuts }
    }

    /// Whether `name` has a record of `rtype`, itself or through a
    /// wildcard of one of its ancestors (as an answer would find it).
    fn has(&self, name: &DName, rtype: Rtype) -> bool {
        let holds = |key: &[u8]| self.types.get(key).is_some_and(|t| t.contains(&rtype));
        if self.types.contains_key(&name_key(name)) {
            return holds(&name_key(name));
        }
        let mut parent = name.parent();
        while let Some(p) = parent {
            let wildcard = [&b"\x01*"[..], &name_key(&p)].concat();
            if self.types.contains_key(&wildcard[..]) {
                return holds(&wildcard);
            }
            parent = p.parent();
        }
        false
    }

    fn has_address(&self, name: &DName) -> bool {
        self.has(name, Rtype::A) || self.has(name, Rtype::AAAA)
    }

    /// The delegation `name` lies at or below, if any.
    fn cut_above(&self, name: &DName) -> Option<&DName> {
        self.cuts.iter().find(|cut| name.ends_with(*cut))
    }
}

/// Every warning for every zone of `zones`, as served: with the name
/// servers a zone without an NS gets from `nameservers`.
///
/// Zones are linted on every core: at start with 10,000 zone files this
/// reads every record once more.
pub fn served(zones: &[ZoneSpec], nameservers: &NameServers) -> Vec<Warning> {
    use rayon::prelude::*;
    zones
        .par_iter()
        .flat_map_iter(|spec| {
            let generated = nameservers.generated(spec);
            records(&spec.name, spec.records.iter().chain(&generated))
        })
        .collect()
}

/// Every warning for `spec`, as declared.
pub fn zone(spec: &ZoneSpec) -> Vec<Warning> {
    records(&spec.name, spec.records.iter())
}

/// Every warning for the zone at `apex` holding `records`.
fn records<'a>(
    apex: &DName,
    records: impl Iterator<Item = &'a RecordSpec> + Clone,
) -> Vec<Warning> {
    let names = Names::of(apex, records.clone());
    let mut out = Vec::new();
    for r in records {
        for value in &r.values {
            let (kind, target) = match value {
                RData::Ns(ns) => ("NS", ns.nsdname().to_name::<bytes::Bytes>()),
                RData::Mx(mx) => ("MX", mx.exchange().to_name()),
                RData::Srv(srv) => ("SRV", srv.target().to_name()),
                _ => continue,
            };
            if !target.ends_with(apex) || (kind == "SRV" && target.is_root()) {
                continue;
            }
            let warn = |message: String| Warning {
                origin: r.origin.clone(),
                message: format!("{}./{kind} '{target}.': {message}", r.owner),
            };
            if let Some(cut) = names.cut_above(&target) {
                // Below a delegation only glue is served: a delegation's
                // own name servers need it, anything else is not ours.
                let own_delegation = kind == "NS" && target.ends_with(&r.owner);
                if own_delegation && !names.has_address(&target) {
                    out.push(warn(format!(
                        "is below the delegation {cut}. and has no glue (A or AAAA at {target}.); resolvers cannot reach the delegated zone"
                    )));
                }
                continue;
            }
            if names.has(&target, Rtype::CNAME) {
                out.push(warn(format!(
                    "is a CNAME (illegal, RFC 2181 §10.3); point the {kind} at the name the CNAME leads to"
                )));
            } else if !names.has_address(&target) {
                out.push(warn(format!(
                    "has no address records (A or AAAA); add them at {target}."
                )));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zonefile;

    fn warnings(text: &str) -> Vec<String> {
        let apex = DName::from_str("example.").unwrap();
        let path = std::path::Path::new("t.zone");
        let records = zonefile::parse_text(path, text, &apex).expect("zone parses");
        zone(&ZoneSpec {
            name: apex,
            records,
        })
        .into_iter()
        .map(|w| w.message)
        .collect()
    }

    use std::str::FromStr;

    #[test]
    fn in_zone_servers_without_addresses_and_cnames_are_named() {
        let found = warnings(
            "@ 3600 IN SOA ns1 host 1 2 3 4 5\n\
             @ NS ns1\n@ NS ns2\n@ NS ns.elsewhere.net.\n\
             ns1 A 192.0.2.1\n\
             @ MX 10 mail\n@ MX 20 alias\n@ MX 30 *.wild\n\
             alias CNAME mail\n\
             *.wild AAAA 2001:db8::1\n\
             _sip._tcp SRV 0 0 5060 alias\n",
        );
        assert_eq!(
            found,
            [
                "example./NS 'ns2.example.': has no address records (A or AAAA); add them at ns2.example.",
                "example./MX 'mail.example.': has no address records (A or AAAA); add them at mail.example.",
                "example./MX 'alias.example.': is a CNAME (illegal, RFC 2181 §10.3); point the MX at the name the CNAME leads to",
                "_sip._tcp.example./SRV 'alias.example.': is a CNAME (illegal, RFC 2181 §10.3); point the SRV at the name the CNAME leads to",
            ]
        );
    }

    #[test]
    fn a_delegation_needs_glue_only_for_servers_below_it() {
        let found = warnings(
            "@ 3600 IN SOA ns1 host 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n\
             sub NS ns.sub\nsub NS ns.other.net.\n\
             glued NS ns.glued\nns.glued A 192.0.2.2\n\
             sideways NS ns1\n",
        );
        assert_eq!(
            found,
            [
                "sub.example./NS 'ns.sub.example.': is below the delegation sub.example. and has no glue (A or AAAA at ns.sub.example.); resolvers cannot reach the delegated zone"
            ]
        );
    }

    #[test]
    fn a_clean_zone_has_no_warnings() {
        assert!(
            warnings(
                "@ 3600 IN SOA ns1 host 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n@ MX 0 .\n@ MX 10 ns1\n"
            )
            .is_empty()
        );
    }
}
