//! The file of known differences (`known_differences.toml`): every way in
//! which eightfold's answer may differ from NSD's or Knot's, with its reason.
//!
//! An entry matches a case when each of its given fields matches (a list
//! matches when any of its items does); a field left out matches anything. `eightfold` says what eightfold's answer is
//! equal to: `nsd` (NSD and Knot disagree and eightfold answers as NSD),
//! `knot`, or `neither`. `parts` bounds what may differ: every part in
//! which eightfold's answer differs from the server(s) it does not follow
//! must be listed.

use serde::Deserialize;

/// The file, next to this module.
const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/differential/known_differences.toml"
);

/// What eightfold's answer equals when the three do not all agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Follows {
    /// Equal to NSD's, not to Knot's.
    Nsd,
    /// Equal to Knot's, not to NSD's.
    Knot,
    /// Equal to neither.
    Neither,
}

/// One known difference.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Known {
    /// A short name, unique in the file.
    pub id: String,
    /// Query variants (see `generate::Case::variant`), any of them.
    pub variant: Option<Vec<String>>,
    /// What the name is (see `generate::Case::situation`), any of them.
    pub situation: Option<Vec<String>>,
    /// Query type mnemonics, any of them.
    pub qtype: Option<Vec<String>>,
    /// The transport, `udp` or `tcp`.
    pub transport: Option<String>,
    /// What eightfold's answer equals.
    pub eightfold: Follows,
    /// The parts that may differ (`response`, `header`, `question`,
    /// `answer`, `authority`, `additional`, `opt`).
    pub parts: Option<Vec<String>>,
    /// Why: the servers' behaviours and the reason for eightfold's.
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    difference: Vec<Known>,
}

/// Reads the file; panics with the parse error (a broken file must fail
/// the test, not pass it).
pub fn load() -> Vec<Known> {
    let text = std::fs::read_to_string(PATH).unwrap_or_else(|e| panic!("read {PATH}: {e}"));
    let file: File = toml::from_str(&text).unwrap_or_else(|e| panic!("{PATH}: {e}"));
    for entry in &file.difference {
        assert!(
            !entry.reason.trim().is_empty(),
            "{PATH}: {} has no reason",
            entry.id
        );
    }
    file.difference
}

/// The facts of one case an entry is matched against.
pub struct Facts<'a> {
    /// Query variant.
    pub variant: &'a str,
    /// What the name is.
    pub situation: &'a str,
    /// Query type.
    pub qtype: &'a str,
    /// `udp` or `tcp`.
    pub transport: &'a str,
    /// What eightfold's answer equals.
    pub follows: Follows,
    /// The parts that differ.
    pub parts: &'a [&'static str],
}

impl Known {
    /// True when this entry explains `facts`.
    pub fn matches(&self, facts: &Facts<'_>) -> bool {
        let any = |want: &Option<Vec<String>>, got: &str| {
            want.as_ref()
                .is_none_or(|w| w.iter().any(|w| w.eq_ignore_ascii_case(got)))
        };
        self.eightfold == facts.follows
            && any(&self.variant, facts.variant)
            && any(&self.situation, facts.situation)
            && any(&self.qtype, facts.qtype)
            && self
                .transport
                .as_deref()
                .is_none_or(|t| t.eq_ignore_ascii_case(facts.transport))
            && self
                .parts
                .as_ref()
                .is_none_or(|allowed| facts.parts.iter().all(|p| allowed.iter().any(|a| a == p)))
    }
}
