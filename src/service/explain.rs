//! What DNS answers now, and why: the test-answer explanation and the
//! routed names of the status page.

use domain::base::iana::Rtype;

use super::error::ServiceError;
use super::views::{RecordExplanation, RoutedName, TestAnswer};
use super::{Service, key_text};
use crate::config::parse_absolute;
use crate::dns::handler::Published;
use crate::model::{DName, FailoverRole, MULTIVALUE_MAX_ANSWERS, Policy, ZoneSpec};
use crate::routing::{Health, Standing};
use crate::snapshot::{Found, NameKey};

impl Service {
    /// What DNS answers right now for `name` and `rtype`, and why.
    pub fn test_answer(&self, name: &str, rtype: &str) -> Result<TestAnswer, ServiceError> {
        let qname = parse_absolute(name).map_err(|m| {
            ServiceError::invalid("InvalidInput", vec![format!("name {name:?}: {m}")])
        })?;
        let qtype = crate::zonefile::parse_rtype(rtype).ok_or_else(|| {
            ServiceError::invalid(
                "InvalidInput",
                vec![format!("type: unknown record type {rtype:?}")],
            )
        })?;
        let check_ids: std::collections::HashMap<crate::snapshot::HealthId, String> =
            self.lock().live.checker.slots().into_iter().collect();
        let published = self.published.load();
        let (rcode, answer) = ask(&published, &qname, qtype);
        let mut out = TestAnswer {
            name: format!("{qname}."),
            rtype: qtype,
            rcode,
            answer,
            routing: None,
            records: Vec::new(),
        };
        let key = NameKey::new(&qname);
        let Some((zone, apex)) = published.snapshot.find_zone(&key) else {
            return Ok(out);
        };
        let Found::Node { node, .. } = zone.find(&key, apex, qtype) else {
            return Ok(out);
        };
        let Some(set) = node.set(qtype) else {
            return Ok(out);
        };
        out.routing = Some(set.policy);
        let health = &published.health;
        let health_of = |h| health.is_healthy(h);
        // As DNS judges: an alias evaluating its target is healthy while
        // the target has a healthy answer.
        let live = crate::routing::Live::new(&published.snapshot, &health_of);
        let healthy: Vec<bool> = set.records.iter().map(|r| live.record(r)).collect();
        // The test answer has no client: a geolocation group is
        // explained for a client no location but the default holds.
        let group = crate::routing::Group::of(set, &live, &crate::routing::Unlocated);
        let candidates = set
            .records
            .iter()
            .enumerate()
            .filter(|(i, r)| group.standing(*i, r, healthy[*i]).eligible())
            .count();
        for (i, (r, &ok)) in set.records.iter().zip(&healthy).enumerate() {
            let standing = group.standing(i, r, ok);
            let eligible = standing.eligible();
            let mut why = explain(standing, r, set.policy, candidates);
            if let Some(alias) = &r.alias {
                let evaluating = if alias.evaluate_target_health {
                    ", healthy while it has a healthy answer"
                } else {
                    ""
                };
                why = format!("alias to {}.{evaluating}; {why}", alias.target);
            }
            out.records.push(RecordExplanation {
                set: r.set.as_deref().map(String::from),
                values: r.values.iter().map(|v| v.to_string()).collect(),
                ttl: r.ttl.as_secs(),
                health_check: r.health.and_then(|h| check_ids.get(&h).cloned()),
                healthy: ok,
                eligible,
                why,
                weight: (set.policy == Policy::Weighted).then_some(r.weight),
                failover: r.failover,
            });
        }
        Ok(out)
    }

    /// Every routed group (name and type with a policy other than simple)
    /// of every served zone, by zone, then name, then type.
    pub fn routed_names(&self) -> Vec<RoutedName> {
        let inner = self.lock();
        let file: Vec<ZoneSpec> = inner
            .file
            .zones
            .iter()
            .map(|z| ZoneSpec {
                name: z.name.clone(),
                records: inner.file_records(z),
            })
            .collect();
        let zones = file.iter().chain(
            inner
                .zones
                .iter()
                .filter_map(|z| inner.api_specs.get(&z.name)),
        );
        let mut out = Vec::new();
        for zone in zones {
            let mut seen = std::collections::HashSet::new();
            for r in &zone.records {
                if r.policy == Policy::Simple || !seen.insert((key_text(&r.owner), r.rtype)) {
                    continue;
                }
                out.push(RoutedName {
                    zone: format!("{}.", zone.name),
                    name: format!("{}.", r.owner),
                    rtype: r.rtype,
                    routing: r.policy,
                });
            }
        }
        // Types by their mnemonics, as people read the list.
        out.sort_by_cached_key(|n| {
            (
                n.zone.to_ascii_lowercase(),
                n.name.to_ascii_lowercase(),
                n.rtype.to_string(),
            )
        });
        out
    }
}

/// Why a record stands where it does, for people; `candidates` is how
/// many records of its group are eligible.
pub(super) fn explain(
    standing: Standing,
    r: &crate::snapshot::Record,
    policy: Policy,
    candidates: usize,
) -> String {
    let detail = |base: &str| match policy {
        Policy::Weighted => format!("{base}, weight {}", r.weight),
        _ if candidates > MULTIVALUE_MAX_ANSWERS => format!(
            "{base}; one of {candidates} candidates, of which {MULTIVALUE_MAX_ANSWERS} are chosen at random for each query"
        ),
        _ => base.to_string(),
    };
    let primary = r.failover == Some(FailoverRole::Primary);
    match standing {
        Standing::Simple => "simple: every value is answered".into(),
        Standing::Healthy => detail("healthy"),
        Standing::FailOpen => {
            detail("unhealthy, but so is every record: answering from all (fail open)")
        }
        Standing::Unhealthy => "unhealthy".into(),
        Standing::WeightZero => {
            "weight 0: chosen only when every record of non-zero weight is unhealthy".into()
        }
        Standing::Active { .. } if policy == Policy::Geolocation => {
            "default location (*): answers clients no other location of the group holds (and this test, which has no client)".into()
        }
        Standing::Standby { .. } if policy == Policy::Geolocation => {
            "a specific location: answers the clients the geolocation database places there (this test has no client)"
                .into()
        }
        Standing::Active { healthy: true } if primary => "primary, healthy".into(),
        Standing::Active { healthy: false } if primary => {
            "primary, unhealthy, but no healthy secondary can take over".into()
        }
        Standing::Active { .. } => "secondary, answering because the primary is unhealthy".into(),
        Standing::Standby { .. } if primary => "primary, unhealthy".into(),
        Standing::Standby { .. } => "secondary, standing by while the primary answers".into(),
    }
}

/// Runs a query through the real handler and renders its answer section.
pub(super) fn ask(published: &Published, qname: &DName, qtype: Rtype) -> (String, Vec<String>) {
    use domain::base::{Message, MessageBuilder};
    let mut query = MessageBuilder::new_vec().question();
    query.header_mut().set_id(1);
    if query.push((qname, qtype)).is_err() {
        return ("FORMERR".into(), Vec::new());
    }
    let query = query.finish();
    let mut out = Vec::new();
    let mut scratch = crate::dns::handler::Scratch::new();
    let Some(_) = crate::dns::handler::respond(
        published,
        &query,
        crate::dns::handler::Transport::Tcp,
        &mut out,
        &mut scratch,
    ) else {
        return ("NONE".into(), Vec::new());
    };
    let Ok(msg) = Message::from_octets(out.as_slice()) else {
        return ("SERVFAIL".into(), Vec::new());
    };
    let rcode = msg.opt_rcode().to_string();
    let mut answer = Vec::new();
    if let Ok(section) = msg.answer() {
        for record in section
            .limit_to::<domain::rdata::AllRecordData<_, _>>()
            .flatten()
        {
            answer.push(format!(
                "{}. {} IN {} {}",
                record.owner(),
                record.ttl().as_secs(),
                record.rtype(),
                record.data()
            ));
        }
    }
    (rcode, answer)
}
