//! What `eightfold check` warns about, where BIND's `named-checkzone` does
//! (docs/configuration.md#check): zones that load and answer, but that
//! resolvers will trip on. Warnings never refuse a zone.
//!
//! - an NS naming a host inside the zone that has no A or AAAA record;
//! - a delegation whose name servers are below its cut without glue;
//! - an MX or NS naming a CNAME (RFC 2181 §10.3).
//!
//! Architecture invariant: pure, as `validate`.

use std::collections::HashMap;

use domain::base::ToName;
use domain::base::iana::Rtype;

use crate::model::{DName, RData, RecordSpec, ZoneSpec};
use crate::snapshot::name_key;
use crate::validate::Problem;

/// Every warning for `zone`, in declaration order.
pub fn zone(zone: &ZoneSpec) -> Vec<Problem> {
    let mut types: HashMap<Box<[u8]>, Vec<Rtype>> = HashMap::new();
    for r in &zone.records {
        types.entry(name_key(&r.owner)).or_default().push(r.rtype);
    }
    let has = |name: &DName, rtype: Rtype| {
        types
            .get(&name_key(name))
            .is_some_and(|t| t.contains(&rtype))
    };
    let has_address = |name: &DName| has(name, Rtype::A) || has(name, Rtype::AAAA);
    // Delegation points: NS owners below the apex.
    let cuts: Vec<&DName> = zone
        .records
        .iter()
        .filter(|r| r.rtype == Rtype::NS && !r.owner.name_eq(&zone.name))
        .map(|r| &r.owner)
        .collect();
    let mut out = Vec::new();
    let mut warn = |r: &RecordSpec, message: String| {
        out.push(Problem {
            origin: r.origin.clone(),
            message: format!("warning: {message}"),
        })
    };
    for r in &zone.records {
        for value in &r.values {
            let (target, what) = match value {
                RData::Ns(ns) => (ns.nsdname(), "NS"),
                RData::Mx(mx) => (mx.exchange(), "MX"),
                _ => continue,
            };
            let label = format!("{}. {what}", r.owner);
            if has(target, Rtype::CNAME) {
                warn(
                    r,
                    format!(
                        "{label}: {target}. is a CNAME; an {what} must name a host's own name (RFC 2181 §10.3)"
                    ),
                );
            }
            if what != "NS" || !target.ends_with(&zone.name) || has_address(target) {
                continue;
            }
            let below_cut = cuts
                .iter()
                .find(|cut| target.ends_with(*cut) && !target.name_eq(&zone.name));
            match below_cut {
                Some(cut) if !r.owner.name_eq(&zone.name) && r.owner.name_eq(*cut) => warn(
                    r,
                    format!(
                        "{label}: the delegation names {target}., below its cut, without glue; add an A or AAAA record for it"
                    ),
                ),
                Some(_) => {}
                None => warn(
                    r,
                    format!("{label}: {target}. is in the zone but has no A or AAAA record"),
                ),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::str::FromStr;

    fn warnings(text: &str) -> Vec<String> {
        let apex = DName::from_str("example.test.").unwrap();
        let records = crate::zonefile::parse_text(Path::new("z"), text, &apex).unwrap();
        zone(&ZoneSpec {
            name: apex,
            records,
        })
        .into_iter()
        .map(|p| p.message)
        .collect()
    }

    #[test]
    fn what_named_checkzone_warns_about_is_warned() {
        let w = warnings(
            "@ NS ns1\n@ NS ns2\n@ NS ns.example.net.\nns1 A 192.0.2.1\nns2 CNAME ns1\n\
             @ MX 10 mail\nmail CNAME www\nwww A 192.0.2.2\n@ MX 20 mx\nmx A 192.0.2.3\n\
             sub NS ns.sub\nsub NS ns1\nglued NS ns.glued\nns.glued A 192.0.2.4\n\
             lame NS ns9\n",
        );
        assert_eq!(
            w,
            [
                "warning: example.test. NS: ns2.example.test. is a CNAME; an NS must name a host's own name (RFC 2181 §10.3)",
                "warning: example.test. NS: ns2.example.test. is in the zone but has no A or AAAA record",
                "warning: example.test. MX: mail.example.test. is a CNAME; an MX must name a host's own name (RFC 2181 §10.3)",
                "warning: sub.example.test. NS: the delegation names ns.sub.example.test., below its cut, without glue; add an A or AAAA record for it",
                "warning: lame.example.test. NS: ns9.example.test. is in the zone but has no A or AAAA record",
            ]
        );
        assert!(warnings("@ NS ns.example.net.\n@ MX 10 mx.example.net.\n").is_empty());
    }
}
