//! Which names and types a TSIG key may change by dynamic update: the
//! `update = [...]` rules of its `[[tsig_key]]`.

use domain::base::ToName;
use domain::base::iana::Rtype;

/// One rule: names matching `name`, records of one of `types`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateRule {
    /// Lower-cased labels of the pattern, root last-but-absent: `*` is any
    /// one label, and a leading `*` any one or more.
    labels: Vec<String>,
    /// The types it may change; `ANY` lets it change every type.
    pub types: Vec<Rtype>,
    /// The pattern as written, for log lines.
    pub pattern: String,
}

impl UpdateRule {
    /// Reads a rule: `pattern` an absolute name whose labels may be `*`,
    /// `types` record type names.
    pub fn parse(pattern: &str, types: &[String]) -> Result<UpdateRule, String> {
        let Some(trimmed) = pattern.strip_suffix('.') else {
            return Err(format!(
                "update rule name {pattern:?} must be absolute (end with a dot)"
            ));
        };
        if trimmed.is_empty() || trimmed.split('.').any(str::is_empty) {
            return Err(format!("update rule name {pattern:?} has an empty label"));
        }
        if types.is_empty() {
            return Err(format!(
                "update rule {pattern:?} names no types; give e.g. types = [\"TXT\"]"
            ));
        }
        let types = types
            .iter()
            .map(|t| {
                let rtype = t
                    .to_ascii_uppercase()
                    .parse::<Rtype>()
                    .map_err(|_| format!("update rule {pattern:?}: unknown record type {t:?}"))?;
                if rtype == Rtype::SOA {
                    return Err(format!(
                        "update rule {pattern:?}: SOA cannot be updated (eightfold writes it)"
                    ));
                }
                Ok(rtype)
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(UpdateRule {
            labels: trimmed.split('.').map(str::to_ascii_lowercase).collect(),
            types,
            pattern: pattern.to_string(),
        })
    }

    /// Whether this rule lets a key change records of `rtype` at `name`
    /// (`Rtype::ANY`: every type at the name, so only an `ANY` rule does).
    pub fn allows(&self, name: &impl ToName, rtype: Rtype) -> bool {
        let type_ok = self.types.contains(&Rtype::ANY) || self.types.contains(&rtype);
        type_ok && self.matches(name)
    }

    fn matches(&self, name: &impl ToName) -> bool {
        let labels: Vec<String> = name
            .iter_labels()
            .filter(|l| !l.is_root())
            .map(|l| l.to_string().to_ascii_lowercase())
            .collect();
        let leading_any = self.labels.first().is_some_and(|l| l == "*");
        let fixed = &self.labels[usize::from(leading_any)..];
        let enough = if leading_any {
            labels.len() > fixed.len()
        } else {
            labels.len() == fixed.len()
        };
        enough
            && labels[labels.len() - fixed.len()..]
                .iter()
                .zip(fixed)
                .all(|(l, p)| p == "*" || l == p)
    }
}

/// Whether any of `rules` allows `rtype` at `name`.
pub fn allowed(rules: &[UpdateRule], name: &impl ToName, rtype: Rtype) -> bool {
    rules.iter().any(|r| r.allows(name, rtype))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DName;
    use std::str::FromStr;

    fn name(s: &str) -> DName {
        DName::from_str(s).unwrap()
    }

    #[test]
    fn a_star_is_one_label_and_a_leading_star_one_or_more() {
        let acme = UpdateRule::parse("_acme-challenge.*.example.test.", &["txt".into()]).unwrap();
        assert!(acme.allows(&name("_ACME-challenge.www.example.test."), Rtype::TXT));
        assert!(!acme.allows(&name("_acme-challenge.www.example.test."), Rtype::A));
        assert!(!acme.allows(&name("_acme-challenge.a.b.example.test."), Rtype::TXT));
        assert!(!acme.allows(&name("www.example.test."), Rtype::TXT));
        // Deleting every type at a name needs a rule that allows ANY.
        assert!(!acme.allows(&name("_acme-challenge.www.example.test."), Rtype::ANY));

        let below = UpdateRule::parse("*.dyn.example.test.", &["A".into(), "ANY".into()]).unwrap();
        assert!(below.allows(&name("a.b.dyn.example.test."), Rtype::TXT));
        assert!(below.allows(&name("a.dyn.example.test."), Rtype::ANY));
        assert!(!below.allows(&name("dyn.example.test."), Rtype::A));

        let exact = UpdateRule::parse("host.example.test.", &["AAAA".into()]).unwrap();
        assert!(exact.allows(&name("HOST.example.test."), Rtype::AAAA));
        assert!(!exact.allows(&name("x.host.example.test."), Rtype::AAAA));
    }

    #[test]
    fn bad_rules_say_what_to_fix() {
        let e = |p: &str, t: &[&str]| {
            UpdateRule::parse(p, &t.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap_err()
        };
        assert!(e("example.test", &["TXT"]).contains("absolute"));
        assert!(e("a..example.test.", &["TXT"]).contains("empty label"));
        assert!(e("example.test.", &[]).contains("no types"));
        assert!(e("example.test.", &["BOGUS"]).contains("unknown record type"));
        assert!(e("example.test.", &["SOA"]).contains("SOA"));
    }
}
