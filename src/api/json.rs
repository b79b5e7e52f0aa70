//! The JSON of `/v1` (docs/api.md): request bodies read into the
//! service's types, and the service's domain types written out. Field
//! names, their order, and which are left out when empty are the API's
//! contract, and are set here only; the spellings shared with the other
//! APIs (times, states, owners) come from [`super::words`].
//!
//! Replies are written by hand (`impl Serialize for AsJson<'_, T>`), not
//! derived on the service's types: the service speaks the domain
//! (`SystemTime`, `bool`, enums) and knows no wire format, and a second
//! struct per type would copy every field.

use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

use super::words;
use crate::cluster::NodeStatus;
use crate::health::ProbeResult;
use crate::health::state::Transition;
use crate::input::{HealthCheckInput, RecordInput};
use crate::service::{
    Action, Change, ChangeBatch, ChangeInfo, CheckInfo, CheckState, ConsensusInfo, KeyInfo,
    RecordExplanation, TestAnswer, VoteInfo, ZoneInfo,
};
use crate::store::HealthEvent;

/// A service value as the JSON API writes it.
pub struct AsJson<'a, T>(pub &'a T);

/// Every item of `items` as the JSON API writes it, for a JSON array.
pub fn list<T>(items: &[T]) -> Vec<AsJson<'_, T>> {
    items.iter().map(AsJson).collect()
}

/// A change batch as `POST /v1/zones/{zone}/changes` sends it. Named as
/// the service's type, so serde's messages about a malformed body name
/// `ChangeBatch` as they always have.
#[derive(Deserialize)]
#[serde(rename = "ChangeBatch", deny_unknown_fields)]
pub struct ChangeBatchBody {
    changes: Vec<ChangeBody>,
    #[serde(default)]
    comment: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename = "Change", deny_unknown_fields)]
struct ChangeBody {
    action: ActionWord,
    record: RecordInput,
}

/// Route 53's action names, upper case.
#[derive(Deserialize)]
#[serde(rename = "Action", rename_all = "UPPERCASE")]
enum ActionWord {
    Create,
    Delete,
    Upsert,
}

impl From<ChangeBatchBody> for ChangeBatch {
    fn from(body: ChangeBatchBody) -> ChangeBatch {
        let changes = body
            .changes
            .into_iter()
            .map(|c| Change {
                action: match c.action {
                    ActionWord::Create => Action::Create,
                    ActionWord::Delete => Action::Delete,
                    ActionWord::Upsert => Action::Upsert,
                },
                record: c.record,
            })
            .collect();
        ChangeBatch {
            changes,
            comment: body.comment,
        }
    }
}

impl Serialize for AsJson<'_, ChangeInfo> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut out = s.serialize_struct("ChangeInfo", 4)?;
        out.serialize_field("id", &c.id)?;
        out.serialize_field("status", words::change_status(c.status))?;
        out.serialize_field("submitted_at", &words::time(c.submitted_at))?;
        if let Some(comment) = &c.comment {
            out.serialize_field("comment", comment)?;
        }
        out.end()
    }
}

impl Serialize for AsJson<'_, ZoneInfo> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let z = self.0;
        let mut out = s.serialize_struct("ZoneInfo", 7)?;
        out.serialize_field("name", &z.name)?;
        out.serialize_field("id", &z.id)?;
        out.serialize_field("managed_by", words::managed_by(z.managed_by))?;
        if let Some(file) = &z.file {
            out.serialize_field("file", file)?;
        }
        out.serialize_field("record_count", &z.record_count)?;
        out.serialize_field("comment", &z.comment)?;
        if let Some(reference) = &z.caller_reference {
            out.serialize_field("caller_reference", reference)?;
        }
        out.end()
    }
}

impl Serialize for AsJson<'_, CheckInfo> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        /// Derived, unlike the others: the check's own fields come first,
        /// flattened, which only serde's `flatten` does for another type.
        #[derive(Serialize)]
        struct Check<'a> {
            #[serde(flatten)]
            input: &'a HealthCheckInput,
            managed_by: &'static str,
            version: i64,
            #[serde(skip_serializing_if = "Option::is_none")]
            caller_reference: Option<&'a str>,
        }
        let c = self.0;
        Check {
            input: &c.input,
            managed_by: words::managed_by(c.managed_by),
            version: c.version,
            caller_reference: c.caller_reference.as_deref(),
        }
        .serialize(s)
    }
}

impl Serialize for AsJson<'_, CheckState> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let state = self.0;
        let c = &state.status;
        let mut out = s.serialize_struct("CheckState", 9)?;
        out.serialize_field("id", &c.id)?;
        out.serialize_field("status", words::health(c.healthy))?;
        out.serialize_field("measured", words::health(c.measured))?;
        if let Some(forced) = c.forced {
            out.serialize_field("override_status", words::health(forced))?;
        }
        out.serialize_field("streak", &c.streak)?;
        out.serialize_field("last_results", &list(&c.last_results))?;
        if let Some(t) = &c.last_change {
            out.serialize_field("last_change", &Event::of_transition(&c.id, t))?;
        }
        if !state.votes.is_empty() {
            out.serialize_field("votes", &list(&state.votes))?;
        }
        if let Some(consensus) = &state.consensus {
            out.serialize_field("consensus", &AsJson(consensus))?;
        }
        out.end()
    }
}

impl Serialize for AsJson<'_, ProbeResult> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut out = s.serialize_struct("ResultInfo", 5)?;
        out.serialize_field("at", &words::time(r.at))?;
        out.serialize_field("healthy", &r.healthy)?;
        out.serialize_field("reason", &r.reason)?;
        out.serialize_field("latency_ms", &words::latency_ms(r))?;
        if r.local {
            out.serialize_field("local_fault", &true)?;
        }
        out.end()
    }
}

/// One change of a check's state, recorded ([`HealthEvent`]) or the
/// checker's last ([`Transition`]): one shape for both.
struct Event<'a> {
    check: &'a str,
    at: std::time::SystemTime,
    old: bool,
    new: bool,
    reason: &'a str,
}

impl<'a> Event<'a> {
    fn of_transition(check: &'a str, t: &'a Transition) -> Event<'a> {
        Event {
            check,
            at: t.at,
            old: t.old,
            new: t.new,
            reason: &t.reason,
        }
    }
}

impl Serialize for Event<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_struct("EventInfo", 5)?;
        out.serialize_field("check", self.check)?;
        out.serialize_field("at", &words::time(self.at))?;
        out.serialize_field("old", words::health(self.old))?;
        out.serialize_field("new", words::health(self.new))?;
        out.serialize_field("reason", self.reason)?;
        out.end()
    }
}

impl Serialize for AsJson<'_, HealthEvent> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        Event {
            check: &e.check,
            at: e.at,
            old: e.old_healthy,
            new: e.new_healthy,
            reason: &e.reason,
        }
        .serialize(s)
    }
}

impl Serialize for AsJson<'_, VoteInfo> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        let mut out = s.serialize_struct("VoteInfo", 7)?;
        out.serialize_field("node", &*v.vote.node)?;
        out.serialize_field("address", &v.address)?;
        out.serialize_field("healthy", &v.vote.healthy)?;
        out.serialize_field("reason", &*v.vote.reason)?;
        out.serialize_field("at", &words::time(v.vote.at))?;
        out.serialize_field("live", &v.live)?;
        out.serialize_field("this_node", &v.this_node)?;
        out.end()
    }
}

impl Serialize for AsJson<'_, ConsensusInfo> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut out = s.serialize_struct("ConsensusInfo", 5)?;
        out.serialize_field("measured", words::health(c.tally.healthy))?;
        out.serialize_field("healthy_votes", &c.tally.healthy_votes)?;
        out.serialize_field("live_votes", &c.tally.live_votes)?;
        out.serialize_field("healthy_percent", &c.healthy_percent)?;
        out.serialize_field("summary", &c.tally.describe(c.healthy_percent))?;
        out.end()
    }
}

impl Serialize for AsJson<'_, TestAnswer> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = self.0;
        let mut out = s.serialize_struct("TestAnswer", 6)?;
        out.serialize_field("name", &a.name)?;
        out.serialize_field("type", &a.rtype.to_string())?;
        out.serialize_field("rcode", &a.rcode)?;
        out.serialize_field("answer", &a.answer)?;
        if let Some(policy) = a.routing {
            out.serialize_field("routing", policy.as_str())?;
        }
        out.serialize_field("records", &list(&a.records))?;
        out.end()
    }
}

impl Serialize for AsJson<'_, RecordExplanation> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut out = s.serialize_struct("RecordExplanation", 9)?;
        if let Some(set) = &r.set {
            out.serialize_field("set", set)?;
        }
        out.serialize_field("values", &r.values)?;
        out.serialize_field("ttl", &r.ttl)?;
        if let Some(check) = &r.health_check {
            out.serialize_field("health_check", check)?;
        }
        out.serialize_field("healthy", &r.healthy)?;
        out.serialize_field("eligible", &r.eligible)?;
        out.serialize_field("why", &r.why)?;
        if let Some(weight) = r.weight {
            out.serialize_field("weight", &weight)?;
        }
        if let Some(role) = r.failover {
            out.serialize_field("failover", role.as_str())?;
        }
        out.end()
    }
}

impl Serialize for AsJson<'_, KeyInfo> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let k = self.0;
        let mut out = s.serialize_struct("KeyInfo", 5)?;
        out.serialize_field("name", &k.name)?;
        out.serialize_field("algorithm", &k.algorithm)?;
        out.serialize_field("source", words::key_source(k.managed_by))?;
        out.serialize_field("update", &k.update)?;
        if let Some(secret) = &k.secret {
            out.serialize_field("secret", secret)?;
        }
        out.end()
    }
}

/// One node in `GET /v1/nodes` (docs/api.md#nodes).
impl Serialize for AsJson<'_, NodeStatus> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.0;
        let mut out = s.serialize_struct("NodeJson", 10)?;
        out.serialize_field("name", &n.name)?;
        out.serialize_field("address", &n.address)?;
        out.serialize_field("api", &n.api)?;
        out.serialize_field("version", &n.version)?;
        out.serialize_field("config_version", &n.config_version)?;
        out.serialize_field("started_at", &words::time(n.started_at))?;
        out.serialize_field("last_seen", &words::time(n.last_seen))?;
        out.serialize_field("live", &n.live)?;
        out.serialize_field("store_reachable", &n.store_reachable)?;
        out.serialize_field("this_node", &n.this_node)?;
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::health::CheckStatus;
    use crate::health::vote::{Tally, Vote};
    use crate::model::{FailoverRole, Policy};
    use crate::service::{ChangeStatus, ManagedBy};

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn json<T>(value: &T) -> String
    where
        for<'a> AsJson<'a, T>: Serialize,
    {
        serde_json::to_string(&AsJson(value)).unwrap()
    }

    fn status(id: &str) -> CheckStatus {
        CheckStatus {
            id: id.into(),
            healthy: true,
            measured: true,
            observed: true,
            healthy_percent: None,
            forced: None,
            probed: false,
            streak: 0,
            last_results: Vec::new(),
            last_change: None,
        }
    }

    #[test]
    fn a_check_state_keeps_its_names_order_and_omissions() {
        let bare = CheckState {
            status: status("calc"),
            votes: Vec::new(),
            consensus: None,
        };
        assert_eq!(
            json(&bare),
            r#"{"id":"calc","status":"healthy","measured":"healthy","streak":0,"last_results":[]}"#
        );
        let result = |healthy, local, reason: &str, ms, secs| ProbeResult {
            healthy,
            local,
            reason: reason.into(),
            latency: Duration::from_millis(ms),
            at: at(secs),
        };
        let full = CheckState {
            status: CheckStatus {
                healthy: false,
                forced: Some(false),
                probed: true,
                streak: 1,
                last_results: vec![
                    result(true, false, "HTTP 200", 2, 1),
                    result(false, true, "EMFILE", 0, 2),
                ],
                last_change: Some(Transition {
                    id: 0,
                    old: true,
                    new: false,
                    reason: "operator override: unhealthy".into(),
                    at: at(3),
                }),
                ..status("web")
            },
            votes: vec![VoteInfo {
                vote: Vote {
                    node: "ns1".into(),
                    healthy: true,
                    reason: "HTTP 200".into(),
                    at: at(1),
                },
                live: true,
                address: "127.0.0.1:53".into(),
                this_node: true,
            }],
            consensus: Some(ConsensusInfo {
                tally: Tally {
                    healthy: true,
                    healthy_votes: 1,
                    live_votes: 1,
                    own_only: false,
                },
                healthy_percent: 18,
            }),
        };
        assert_eq!(
            json(&full),
            concat!(
                r#"{"id":"web","status":"unhealthy","measured":"healthy","override_status":"unhealthy","streak":1,"#,
                r#""last_results":[{"at":"1970-01-01T00:00:01.000Z","healthy":true,"reason":"HTTP 200","latency_ms":2.0},"#,
                r#"{"at":"1970-01-01T00:00:02.000Z","healthy":false,"reason":"EMFILE","latency_ms":0.0,"local_fault":true}],"#,
                r#""last_change":{"check":"web","at":"1970-01-01T00:00:03.000Z","old":"healthy","new":"unhealthy","reason":"operator override: unhealthy"},"#,
                r#""votes":[{"node":"ns1","address":"127.0.0.1:53","healthy":true,"reason":"HTTP 200","at":"1970-01-01T00:00:01.000Z","live":true,"this_node":true}],"#,
                r#""consensus":{"measured":"healthy","healthy_votes":1,"live_votes":1,"healthy_percent":18,"summary":"1 of 1 node healthy, more than 18 % needed"}}"#
            )
        );
    }

    #[test]
    fn zones_checks_changes_and_answers_keep_their_names_order_and_omissions() {
        let zone = ZoneInfo {
            name: "example.test.".into(),
            id: "Z1".into(),
            managed_by: ManagedBy::Secondary,
            file: Some("eightfold.toml".into()),
            record_count: 2,
            comment: String::new(),
            caller_reference: None,
        };
        assert_eq!(
            json(&zone),
            r#"{"name":"example.test.","id":"Z1","managed_by":"secondary","file":"eightfold.toml","record_count":2,"comment":""}"#
        );
        let check = CheckInfo {
            input: HealthCheckInput {
                id: "web".into(),
                kind: "tcp".into(),
                port: Some(80),
                ..HealthCheckInput::default()
            },
            managed_by: ManagedBy::Api,
            version: 2,
            caller_reference: Some("r".into()),
        };
        assert_eq!(
            json(&check),
            r#"{"id":"web","type":"tcp","port":80,"managed_by":"api","version":2,"caller_reference":"r"}"#
        );
        let change = ChangeInfo {
            id: "C1".into(),
            status: ChangeStatus::InSync,
            submitted_at: at(1),
            comment: None,
        };
        assert_eq!(
            json(&change),
            r#"{"id":"C1","status":"INSYNC","submitted_at":"1970-01-01T00:00:01.000Z"}"#
        );
        let answer = TestAnswer {
            name: "www.x.".into(),
            rtype: domain::base::iana::Rtype::A,
            rcode: "NOERROR".into(),
            answer: Vec::new(),
            routing: Some(Policy::Failover),
            records: vec![RecordExplanation {
                set: Some("a".into()),
                values: vec!["192.0.2.1".into()],
                ttl: 60,
                health_check: None,
                healthy: true,
                eligible: true,
                why: "primary, healthy".into(),
                weight: None,
                failover: Some(FailoverRole::Primary),
            }],
        };
        assert_eq!(
            json(&answer),
            concat!(
                r#"{"name":"www.x.","type":"A","rcode":"NOERROR","answer":[],"routing":"failover","#,
                r#""records":[{"set":"a","values":["192.0.2.1"],"ttl":60,"healthy":true,"eligible":true,"why":"primary, healthy","failover":"primary"}]}"#
            )
        );
    }

    #[test]
    fn a_change_batch_body_is_read_and_refused_as_before() {
        let body = r#"{"changes":[{"action":"UPSERT","record":{"name":"www","type":"A","value":"192.0.2.1"}}],"comment":"c"}"#;
        let batch: ChangeBatch = serde_json::from_str::<ChangeBatchBody>(body)
            .unwrap()
            .into();
        assert_eq!(batch.changes[0].action, Action::Upsert);
        assert_eq!(batch.comment.as_deref(), Some("c"));
        let refused = |body: &str| {
            serde_json::from_str::<ChangeBatchBody>(body)
                .err()
                .unwrap()
                .to_string()
        };
        assert!(refused("1").contains("expected struct ChangeBatch"));
        assert!(
            refused(r#"{"changes":[{"action":"create","record":{}}]}"#)
                .contains("unknown variant `create`, expected one of `CREATE`, `DELETE`, `UPSERT`")
        );
        assert!(refused(r#"{"changes":[],"x":1}"#).contains("unknown field `x`"));
    }
}
