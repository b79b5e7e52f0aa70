//! The rules a zone's records must follow, whoever declares them (config
//! file today, the API later): one routing policy per group, unique set
//! identifiers, group size, CNAME exclusivity, SOA at the apex.
//!
//! Architecture invariant: pure; returns every problem with the origin of
//! the record it concerns, never stops at the first.

use crate::snapshot::FastMap;

use domain::base::ToName;
use domain::base::iana::Rtype;

use crate::model::{
    FailoverRole, MAX_RECORDS_PER_GROUP, Origin, Policy, RecordSpec, ZoneSpec, multivalue_allows,
};

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The record it concerns, when it came from a file.
    pub origin: Option<Origin>,
    /// What is wrong, naming the group.
    pub message: String,
}

/// A group's name in messages: `owner. TYPE`.
struct GroupName<'a>(&'a RecordSpec);

impl std::fmt::Display for GroupName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}. {}", self.0.owner, self.0.rtype)
    }
}

/// Checks every record of `zone`, in declaration order.
pub fn zone(zone: &ZoneSpec) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut report = |r: &RecordSpec, message: String| {
        problems.push(Problem {
            origin: r.origin.clone(),
            message,
        })
    };
    // Groups keyed by lower-cased owner and type, in first-seen order.
    let mut groups: Vec<Vec<&RecordSpec>> = Vec::new();
    let mut index: FastMap<(Box<[u8]>, Rtype), usize> = FastMap::default();
    // Types present at each owner, for CNAME exclusivity.
    let mut owners: FastMap<Box<[u8]>, Vec<&RecordSpec>> = FastMap::default();

    for r in &zone.records {
        let key = crate::snapshot::name_key(&r.owner);
        // Written out only into a problem's message: formatting every
        // owner name costs a tenth of the start-up at a million records.
        let group_name = GroupName(r);
        if r.rtype == Rtype::SOA && !r.owner.name_eq(&zone.name) {
            report(
                r,
                format!("{group_name}: SOA belongs at the zone apex {}.", zone.name),
            );
        }
        if r.rtype == Rtype::CNAME && r.owner.name_eq(&zone.name) {
            report(
                r,
                format!("{group_name}: a CNAME cannot be at the zone apex"),
            );
        }
        if matches!(r.rtype, Rtype::SOA | Rtype::NS) && r.policy != Policy::Simple {
            report(
                r,
                format!("{group_name}: {} records take simple routing only", r.rtype),
            );
        }
        if r.values.is_empty() && r.alias.is_none() {
            report(r, format!("{group_name}: a record has at least one value"));
            continue;
        }
        if matches!(r.rtype, Rtype::CNAME | Rtype::SOA | Rtype::DNAME) && r.values.len() > 1 {
            report(
                r,
                format!("{group_name}: a {} record has exactly one value", r.rtype),
            );
        }
        if r.policy != Policy::Simple && r.values.len() != 1 && r.alias.is_none() {
            report(
                r,
                format!(
                    "{group_name}: a {} record has exactly one value",
                    r.policy.as_str()
                ),
            );
        }
        if r.policy == Policy::Multivalue && !multivalue_allows(r.rtype) {
            report(
                r,
                format!(
                    "{group_name}: multivalue routing does not apply to {} records",
                    r.rtype
                ),
            );
        }
        let g = match index.entry((key.clone(), r.rtype)) {
            std::collections::hash_map::Entry::Occupied(e) => *e.get(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(groups.len());
                groups.push(vec![r]);
                owners.entry(key).or_default().push(r);
                continue;
            }
        };
        owners.entry(key).or_default().push(r);
        let group = &mut groups[g];
        let first = group[0];
        if first.policy != r.policy {
            report(
                r,
                format!(
                    "{group_name}: a {} group exists; cannot add a {} record",
                    first.policy.as_str(),
                    r.policy.as_str()
                ),
            );
            continue;
        }
        if r.policy == Policy::Simple {
            report(
                r,
                format!("{group_name}: a simple record exists; put every value in that one record"),
            );
            continue;
        }
        if group.iter().any(|o| o.set == r.set) {
            report(
                r,
                format!(
                    "{group_name}: set identifier {:?} is used twice in the group",
                    r.set.as_deref().unwrap_or_default()
                ),
            );
            continue;
        }
        if let Some(location) = &r.location
            && group.iter().any(|o| o.location.as_ref() == Some(location))
        {
            report(
                r,
                format!("{group_name}: location {location} has a record already"),
            );
            continue;
        }
        if group.len() >= MAX_RECORDS_PER_GROUP {
            report(
                r,
                format!("{group_name}: a group holds at most {MAX_RECORDS_PER_GROUP} records"),
            );
            continue;
        }
        if let Some(role) = r.failover
            && group.iter().any(|o| o.failover == Some(role))
        {
            let which = match role {
                FailoverRole::Primary => "primary",
                FailoverRole::Secondary => "secondary",
            };
            report(
                r,
                format!("{group_name}: the failover group already has a {which}"),
            );
            continue;
        }
        group.push(r);
    }

    // An alias answers with its target's records: they must exist, and
    // following aliases must not come back to where it started.
    let group_of = |name: &crate::model::DName, rtype: Rtype| {
        index
            .get(&(crate::snapshot::name_key(name), rtype))
            .copied()
    };
    for (g, group) in groups.iter().enumerate() {
        for r in group {
            let Some(alias) = &r.alias else { continue };
            let Some(target) = group_of(&alias.target, r.rtype) else {
                problems.push(Problem {
                    origin: r.origin.clone(),
                    message: format!(
                        "{}. {}: alias target {}. has no {} records in the zone",
                        r.owner, r.rtype, alias.target, r.rtype
                    ),
                });
                continue;
            };
            let mut seen = vec![false; groups.len()];
            let mut stack = vec![target];
            let mut looped = false;
            while let Some(next) = stack.pop() {
                if next == g {
                    looped = true;
                    break;
                }
                if std::mem::replace(&mut seen[next], true) {
                    continue;
                }
                stack.extend(
                    groups[next]
                        .iter()
                        .filter_map(|o| o.alias.as_ref())
                        .filter_map(|a| group_of(&a.target, r.rtype)),
                );
            }
            if looped {
                problems.push(Problem {
                    origin: r.origin.clone(),
                    message: format!(
                        "{}. {}: following alias target {}. leads back to it; aliases cannot form a loop",
                        r.owner, r.rtype, alias.target
                    ),
                });
            }
        }
    }

    for records in owners.values() {
        let cname = records.iter().find(|r| r.rtype == Rtype::CNAME);
        if let Some(c) = cname {
            let mut others: Vec<String> = records
                .iter()
                .filter(|r| r.rtype != Rtype::CNAME)
                .map(|r| r.rtype.to_string())
                .collect();
            others.dedup();
            if !others.is_empty() {
                let culprit = records
                    .iter()
                    .find(|r| r.rtype != Rtype::CNAME)
                    .unwrap_or(c);
                problems.push(Problem {
                    origin: culprit.origin.clone(),
                    message: format!(
                        "{}. has a CNAME and other data ({}); a CNAME must stand alone",
                        c.owner,
                        others.join(", ")
                    ),
                });
            }
        }
    }
    problems.sort_by(|a, b| {
        let key = |p: &Problem| p.origin.as_ref().map(|o| (o.file.clone(), o.line, o.col));
        key(a).cmp(&key(b))
    });
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DName;
    use domain::base::Ttl;
    use std::str::FromStr;

    fn rec(name: &str, rtype: Rtype, policy: Policy, set: Option<&str>, value: &str) -> RecordSpec {
        let apex = DName::from_str("example.test.").unwrap();
        RecordSpec {
            alias: None,
            location: None,
            owner: DName::from_str(name).unwrap(),
            rtype,
            ttl: Ttl::from_secs(60),
            policy,
            set: set.map(Into::into),
            values: vec![crate::zonefile::parse_value(&apex, rtype, value).unwrap()],
            health_check: None,
            failover: None,
            weight: if policy == Policy::Weighted {
                Some(1)
            } else {
                None
            },
            origin: None,
        }
    }

    fn check(records: Vec<RecordSpec>) -> Vec<String> {
        let z = ZoneSpec {
            name: DName::from_str("example.test.").unwrap(),
            records,
        };
        zone(&z).into_iter().map(|p| p.message).collect()
    }

    fn alias(name: &str, target: &str) -> RecordSpec {
        RecordSpec {
            values: Vec::new(),
            alias: Some(crate::model::AliasSpec {
                target: DName::from_str(target).unwrap(),
                evaluate_target_health: true,
            }),
            ..rec(name, Rtype::A, Policy::Simple, None, "192.0.2.1")
        }
    }

    #[test]
    fn an_alias_needs_its_target_and_no_loop() {
        let ok = check(vec![
            alias("a.example.test.", "b.example.test."),
            rec(
                "b.example.test.",
                Rtype::A,
                Policy::Simple,
                None,
                "192.0.2.1",
            ),
        ]);
        assert_eq!(ok, Vec::<String>::new());
        let missing = check(vec![alias("a.example.test.", "c.example.test.")]);
        assert_eq!(
            missing,
            ["a.example.test. A: alias target c.example.test. has no A records in the zone"]
        );
        let looped = check(vec![
            alias("a.example.test.", "b.example.test."),
            alias("b.example.test.", "c.example.test."),
            alias("c.example.test.", "a.example.test."),
        ]);
        assert_eq!(looped.len(), 3, "{looped:?}");
        assert!(
            looped[0].ends_with("aliases cannot form a loop"),
            "{looped:?}"
        );
    }

    #[test]
    fn mixing_policies_names_the_existing_group() {
        let got = check(vec![
            rec(
                "www.example.test.",
                Rtype::A,
                Policy::Multivalue,
                Some("a"),
                "192.0.2.1",
            ),
            rec(
                "www.example.test.",
                Rtype::A,
                Policy::Weighted,
                Some("b"),
                "192.0.2.2",
            ),
        ]);
        assert_eq!(
            got,
            ["www.example.test. A: a multivalue group exists; cannot add a weighted record"]
        );
    }

    #[test]
    fn duplicate_set_identifier_is_rejected() {
        let got = check(vec![
            rec(
                "www.example.test.",
                Rtype::A,
                Policy::Multivalue,
                Some("a"),
                "192.0.2.1",
            ),
            rec(
                "WWW.example.test.",
                Rtype::A,
                Policy::Multivalue,
                Some("a"),
                "192.0.2.2",
            ),
        ]);
        assert_eq!(
            got,
            ["WWW.example.test. A: set identifier \"a\" is used twice in the group"]
        );
    }

    #[test]
    fn group_size_is_capped_at_100() {
        let records = (0..101)
            .map(|i| {
                let set = format!("s{i}");
                let value = format!("192.0.2.{}", i % 250);
                rec(
                    "www.example.test.",
                    Rtype::A,
                    Policy::Multivalue,
                    Some(&set),
                    &value,
                )
            })
            .collect();
        assert_eq!(
            check(records),
            ["www.example.test. A: a group holds at most 100 records"]
        );
    }

    #[test]
    fn multivalue_cname_is_rejected() {
        let got = check(vec![rec(
            "x.example.test.",
            Rtype::CNAME,
            Policy::Multivalue,
            Some("a"),
            "www",
        )]);
        assert_eq!(
            got,
            ["x.example.test. CNAME: multivalue routing does not apply to CNAME records"]
        );
    }

    #[test]
    fn two_primaries_are_rejected() {
        let mut a = rec(
            "f.example.test.",
            Rtype::A,
            Policy::Failover,
            Some("a"),
            "192.0.2.1",
        );
        a.failover = Some(FailoverRole::Primary);
        let mut b = rec(
            "f.example.test.",
            Rtype::A,
            Policy::Failover,
            Some("b"),
            "192.0.2.2",
        );
        b.failover = Some(FailoverRole::Primary);
        assert_eq!(
            check(vec![a, b]),
            ["f.example.test. A: the failover group already has a primary"]
        );
    }

    #[test]
    fn cname_beside_other_data_is_rejected() {
        let got = check(vec![
            rec("x.example.test.", Rtype::CNAME, Policy::Simple, None, "www"),
            rec("x.example.test.", Rtype::TXT, Policy::Simple, None, "\"t\""),
        ]);
        assert_eq!(
            got,
            ["x.example.test. has a CNAME and other data (TXT); a CNAME must stand alone"]
        );
    }

    #[test]
    fn a_valid_zone_has_no_problems() {
        let got = check(vec![
            rec(
                "www.example.test.",
                Rtype::A,
                Policy::Multivalue,
                Some("a"),
                "192.0.2.1",
            ),
            rec(
                "www.example.test.",
                Rtype::A,
                Policy::Multivalue,
                Some("b"),
                "192.0.2.2",
            ),
            rec("x.example.test.", Rtype::CNAME, Policy::Simple, None, "www"),
        ]);
        assert!(got.is_empty(), "{got:?}");
    }
}
