//! The store's tests, each run against both backends: a SQLite file and a
//! fresh database on a real PostgreSQL server (started once for this test
//! binary by the integration tests' own harness).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::input::TransferRuleInput;

#[path = "../../tests/common/postgres.rs"]
mod pg;

/// A place to keep data, and the directory that holds it (SQLite).
struct Fixture {
    location: Location,
    _dir: Option<tempfile::TempDir>,
}

impl Fixture {
    fn open(&self) -> Store {
        Store::open_location(&self.location).unwrap()
    }

    fn is_postgres(&self) -> bool {
        matches!(self.location, Location::Postgres(_))
    }
}

/// Runs `test` on a SQLite file, then on a PostgreSQL database.
fn each_backend(test: impl Fn(&Fixture)) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Fixture {
        location: Location::Sqlite(dir.path().join("e.db")),
        _dir: Some(dir),
    };
    let postgres = Fixture {
        location: Location::Postgres(PostgresUrl::parse(&pg::fresh_database()).unwrap()),
        _dir: None,
    };
    for fixture in [sqlite, postgres] {
        eprintln!("backend: {:?}", fixture.location);
        test(&fixture);
    }
}

fn zone(name: &str) -> StoredZone {
    StoredZone {
        name: name.into(),
        display_name: name.into(),
        id: format!("Z{}", name.trim_end_matches('.')),
        comment: String::new(),
        caller_reference: None,
        created_at: SystemTime::now(),
        records: vec![],
        transfers: None,
    }
}

fn record(name: &str, value: &str) -> RecordInput {
    RecordInput {
        name: name.into(),
        rtype: "A".into(),
        values: Some(vec![value.into()]),
        ..Default::default()
    }
}

fn key(owner: &str) -> (String, String, String) {
    (owner.into(), "A".into(), String::new())
}

#[test]
fn history_is_pruned_by_age_and_by_count() {
    each_backend(|f| {
        let mut s = f.open();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        for i in 0..10u64 {
            s.record_event(&HealthEvent {
                check: format!("c{}", i % 3),
                at: t0 + Duration::from_secs(i * 60),
                old_healthy: true,
                new_healthy: false,
                reason: format!("e{i}"),
            })
            .unwrap();
            s.put_route53_change(&format!("C{i}"), t0 + Duration::from_secs(i * 60), None)
                .unwrap();
        }
        let now = t0 + Duration::from_secs(9 * 60);
        // Older than 5 minutes: events 0..=3 go.
        let pruned = s
            .prune_history(
                now,
                Retention {
                    max_age: Duration::from_secs(5 * 60),
                    max_rows: 100,
                },
            )
            .unwrap();
        assert_eq!(
            pruned,
            Pruned {
                events: 4,
                changes: 4
            }
        );
        assert!(s.route53_change("C3").unwrap().is_none());
        assert!(s.route53_change("C4").unwrap().is_some());
        // Then only the newest 2 of each.
        let pruned = s
            .prune_history(
                now,
                Retention {
                    max_age: Duration::from_secs(3600),
                    max_rows: 2,
                },
            )
            .unwrap();
        assert_eq!(
            pruned,
            Pruned {
                events: 4,
                changes: 4
            }
        );
        let left: Vec<String> = s
            .events(None, None, 100)
            .unwrap()
            .into_iter()
            .map(|e| e.reason)
            .collect();
        assert_eq!(left, ["e8", "e9"]);
        assert!(s.route53_change("C9").unwrap().is_some());
        assert!(s.route53_change("C7").unwrap().is_none());
        // The resume states are not history: every check keeps its state.
        assert_eq!(s.states().unwrap().len(), 3);
    });
}

#[test]
fn records_survive_reopening() {
    each_backend(|f| {
        {
            let mut s = f.open();
            s.create_zone(&zone("example.test.")).unwrap();
            s.write_records(
                "example.test.",
                &[RecordWrite::Put {
                    key: key("www.example.test."),
                    record: Box::new(record("www", "192.0.2.1")),
                }],
            )
            .unwrap();
        }
        let s = f.open();
        let zones = s.zones().unwrap();
        assert_eq!(zones.len(), 1);
        assert_eq!(zones[0].records, vec![record("www", "192.0.2.1")]);
    });
}

#[test]
fn zones_and_records_come_back_in_byte_order() {
    each_backend(|f| {
        let mut s = f.open();
        // Upper case sorts before lower case in byte order, not in most
        // locales' collations.
        for name in ["b.test.", "a.test.", "B.test."] {
            s.create_zone(&zone(name)).unwrap();
        }
        let writes: Vec<RecordWrite> = ["z", "A", "a"]
            .into_iter()
            .map(|label| RecordWrite::Put {
                key: key(&format!("{label}.a.test.")),
                record: Box::new(record(label, "192.0.2.1")),
            })
            .collect();
        s.write_records("a.test.", &writes).unwrap();
        let zones = s.zones().unwrap();
        let names: Vec<&str> = zones.iter().map(|z| z.name.as_str()).collect();
        assert_eq!(names, ["B.test.", "a.test.", "b.test."]);
        let labels: Vec<&str> = zones[1].records.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(labels, ["A", "a", "z"]);
        assert!(zones[0].records.is_empty() && zones[2].records.is_empty());
    });
}

#[test]
fn zones_since_a_version_are_those_written_after_it_and_names_show_deletions() {
    each_backend(|f| {
        let mut s = f.open();
        for name in ["a.test.", "b.test.", "c.test."] {
            s.create_zone(&zone(name)).unwrap();
        }
        let put = |owner: &str| RecordWrite::Put {
            key: key(owner),
            record: Box::new(record(owner.split('.').next().unwrap(), "192.0.2.1")),
        };
        s.write_records("a.test.", &[put("www.a.test.")]).unwrap();
        let seen = s.version().unwrap();
        // Nothing written since: nothing to read, every name listed.
        let (changed, names) = s.zones_since(seen).unwrap();
        assert!(changed.is_empty(), "{changed:?}");
        assert_eq!(names, ["a.test.", "b.test.", "c.test."]);
        // A record written to b, c deleted, d created; a untouched.
        s.write_records("b.test.", &[put("www.b.test.")]).unwrap();
        s.delete_zone("c.test.").unwrap();
        s.create_zone(&zone("d.test.")).unwrap();
        let (changed, names) = s.zones_since(seen).unwrap();
        let changed_names: Vec<&str> = changed.iter().map(|z| z.name.as_str()).collect();
        assert_eq!(changed_names, ["b.test.", "d.test."]);
        assert_eq!(changed[0].records.len(), 1);
        assert_eq!(changed[0].records[0].name, "www");
        assert_eq!(names, ["a.test.", "b.test.", "d.test."]);
        // From version 0, every zone with its records.
        let (all, _) = s.zones_since(0).unwrap();
        assert_eq!(all, s.zones().unwrap());
    });
}

#[test]
fn a_zones_transfer_settings_round_trip_count_a_version_and_are_handed_back() {
    each_backend(|f| {
        let mut s = f.open();
        s.create_zone(&zone("a.test.")).unwrap();
        s.create_zone(&zone("b.test.")).unwrap();
        let seen = s.version().unwrap();
        let settings = TransfersInput {
            allow_transfer: vec![TransferRuleInput {
                from: Some("192.0.2.0/24".into()),
                key: Some("xfr.key.".into()),
            }],
            notify: vec!["192.0.2.53:5353".into()],
            notify_key: Some("xfr.key.".into()),
        };
        let version = s.set_zone_transfers("a.test.", Some(&settings)).unwrap();
        assert_eq!(version, seen + 1);
        // Another node catching up reads the zone again, settings and all.
        let (changed, _) = s.zones_since(seen).unwrap();
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].transfers.as_ref(), Some(&settings));
        let reopened = f.open().zones().unwrap();
        assert_eq!(reopened[0].transfers.as_ref(), Some(&settings));
        assert_eq!(reopened[1].transfers, None);
        s.set_zone_transfers("a.test.", None).unwrap();
        assert_eq!(s.zones().unwrap()[0].transfers, None);
    });
}

#[test]
fn a_forgotten_node_goes_with_its_observations_unless_it_beat_again() {
    each_backend(|f| {
        let mut s = f.open();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        for name in ["gone", "back"] {
            s.heartbeat(&NodeRecord {
                name: name.into(),
                address: "127.0.0.1:53".into(),
                api: None,
                version: "test".into(),
                config_version: 0,
                started_at: t0,
                last_seen: t0,
                heartbeat: Duration::from_secs(2),
            })
            .unwrap();
            s.observe(&StoredObservation {
                check: "web".into(),
                node: name.into(),
                healthy: true,
                reason: "ok".into(),
                at: t0,
            })
            .unwrap();
        }
        let before = s.observations_since(None).unwrap();
        assert!(s.forget_node("gone", t0 + Duration::from_secs(1)).unwrap());
        // "back" beat at t0 too, but the cut-off says it was seen since.
        assert!(!s.forget_node("back", t0).unwrap());
        let nodes: Vec<String> = s.nodes().unwrap().into_iter().map(|n| n.name).collect();
        assert_eq!(nodes, ["back"]);
        let votes: Vec<String> = s
            .observations()
            .unwrap()
            .into_iter()
            .map(|o| o.node)
            .collect();
        assert_eq!(votes, ["back"]);
        // Readers that held the old votes read them all again.
        assert!(s.observations_since(Some(before.cursor)).unwrap().full);
    });
}

#[test]
fn a_batch_whose_last_write_fails_leaves_every_earlier_write_unwritten() {
    each_backend(|f| {
        let mut s = f.open();
        s.create_zone(&zone("example.test.")).unwrap();
        let put = |owner: &str, value: &str| RecordWrite::Put {
            key: key(owner),
            record: Box::new(record(owner.split('.').next().unwrap(), value)),
        };
        s.write_records("example.test.", &[put("old.example.test.", "192.0.2.9")])
            .unwrap();
        let before = s.zones().unwrap()[0].records.clone();
        // The database refuses the batch's last write, after a put, a
        // replacement and a delete have run in the same transaction.
        let refuse = if f.is_postgres() {
            "CREATE FUNCTION refuse_bad() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.owner = 'bad.example.test.' THEN RAISE EXCEPTION 'injected failure'; END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER refuse_bad BEFORE INSERT ON records
             FOR EACH ROW EXECUTE FUNCTION refuse_bad();"
        } else {
            "CREATE TEMP TRIGGER refuse_bad BEFORE INSERT ON records
             WHEN NEW.owner = 'bad.example.test.'
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
        };
        s.execute_batch(refuse).unwrap();
        let err = s
            .write_records(
                "example.test.",
                &[
                    put("new.example.test.", "192.0.2.1"),
                    put("old.example.test.", "192.0.2.2"),
                    RecordWrite::Delete {
                        key: key("old.example.test."),
                    },
                    put("bad.example.test.", "192.0.2.3"),
                ],
            )
            .unwrap_err();
        assert!(err.to_string().contains("injected failure"), "{err}");
        assert_eq!(s.zones().unwrap()[0].records, before);
        // A write to a zone that does not exist is refused by the foreign key.
        let err = s
            .write_records("nope.test.", &[put("a.nope.test.", "192.0.2.1")])
            .unwrap_err();
        assert!(
            err.to_string().to_ascii_lowercase().contains("foreign key"),
            "{err}"
        );
    });
}

#[test]
fn a_transition_already_recorded_by_another_node_is_not_recorded_twice() {
    each_backend(|f| {
        let mut s = f.open();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
        let event = |node: &str, secs: u64, new_healthy: bool| HealthEvent {
            check: "web".into(),
            at: t0 + Duration::from_secs(secs),
            old_healthy: !new_healthy,
            new_healthy,
            reason: format!("{node} observed"),
        };
        // Three nodes decide the same fall, then the same recovery.
        let recorded: Vec<bool> = [
            event("a", 0, false),
            event("b", 0, false),
            event("c", 1, false),
            event("b", 5, true),
            event("a", 5, true),
        ]
        .iter()
        .map(|e| s.record_transition(e).unwrap())
        .collect();
        assert_eq!(recorded, [true, false, false, true, false]);
        let reasons: Vec<String> = s
            .events(Some("web"), None, 10)
            .unwrap()
            .into_iter()
            .map(|e| e.reason)
            .collect();
        assert_eq!(reasons, ["a observed", "b observed"]);
        let states = s.states().unwrap();
        assert_eq!(states.len(), 1);
        assert!(states[0].1.healthy);
    });
}

#[test]
fn a_batch_of_transitions_keeps_each_checks_order_and_skips_what_another_node_recorded() {
    each_backend(|f| {
        let mut s = f.open();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
        let event = |check: &str, ms: u64, new_healthy: bool, reason: &str| HealthEvent {
            check: check.into(),
            at: t0 + Duration::from_millis(ms),
            old_healthy: !new_healthy,
            new_healthy,
            reason: reason.into(),
        };
        // Another node already recorded the fall of "b".
        assert!(
            s.record_transition(&event("b", 0, false, "other node"))
                .unwrap()
        );
        // This node's batch: "web" falls and rises within one millisecond,
        // "b" falls (already recorded), "a" falls, "b" rises.
        let recorded = s
            .record_transitions(&[
                event("web", 5, false, "web down"),
                event("b", 1, false, "b down"),
                event("web", 5, true, "web up"),
                event("a", 2, false, "a down"),
                event("b", 3, true, "b up"),
            ])
            .unwrap();
        assert_eq!(recorded, [true, false, true, true, true]);
        let reasons = |s: &Store, check: &str| -> Vec<String> {
            s.events(Some(check), None, 10)
                .unwrap()
                .into_iter()
                .map(|e| e.reason)
                .collect()
        };
        assert_eq!(reasons(&s, "web"), ["web down", "web up"]);
        assert_eq!(reasons(&s, "b"), ["other node", "b up"]);
        assert_eq!(reasons(&s, "a"), ["a down"]);
        let mut states: Vec<(String, bool)> = s
            .states()
            .unwrap()
            .into_iter()
            .map(|(id, st)| (id, st.healthy))
            .collect();
        states.sort();
        assert_eq!(
            states,
            [
                ("a".into(), false),
                ("b".into(), true),
                ("web".into(), true)
            ]
        );
        // Written late (after an outage of the store), a node's fall of
        // "web" older than the rise recorded since: not recorded, and the
        // state stays.
        assert!(
            !s.record_transition(&event("web", 4, false, "late fall"))
                .unwrap()
        );
        assert_eq!(reasons(&s, "web"), ["web down", "web up"]);
        // The same batch again (a third node, later): nothing moves.
        let again = s
            .record_transitions(&[event("a", 9, false, "late"), event("b", 9, true, "late")])
            .unwrap();
        assert_eq!(again, [false, false]);
        // Plain events are always recorded, in order.
        s.record_events(&[event("a", 10, true, "x"), event("a", 10, false, "y")])
            .unwrap();
        assert_eq!(reasons(&s, "a"), ["a down", "x", "y"]);
    });
}

/// Nodes record the same flip of many checks at once, each in its own
/// order: every transition is recorded exactly once and no transaction
/// fails (two batches locking the same rows in opposite orders would
/// deadlock, and PostgreSQL would abort one with all of its events).
#[test]
fn nodes_recording_the_same_flips_at_once_record_each_once_without_deadlock() {
    let location = Location::Postgres(PostgresUrl::parse(&pg::fresh_database()).unwrap());
    const CHECKS: usize = 300;
    const FLIPS: usize = 6;
    let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
    let batch = |flip: usize, reversed: bool| -> Vec<HealthEvent> {
        let mut events: Vec<HealthEvent> = (0..CHECKS)
            .map(|c| HealthEvent {
                check: format!("c{c}"),
                at: t0 + Duration::from_secs(flip as u64),
                old_healthy: !flip.is_multiple_of(2),
                new_healthy: flip.is_multiple_of(2),
                reason: format!("flip {flip}"),
            })
            .collect();
        if reversed {
            events.reverse();
        }
        events
    };
    let recorded: Vec<usize> = std::thread::scope(|scope| {
        let nodes: Vec<_> = (0..3)
            .map(|node| {
                let location = &location;
                scope.spawn(move || {
                    let mut store = Store::open_location(location).unwrap();
                    (0..FLIPS)
                        .map(|flip| {
                            let events = batch(flip, node % 2 == 1);
                            store
                                .record_transitions(&events)
                                .unwrap()
                                .into_iter()
                                .filter(|&r| r)
                                .count()
                        })
                        .sum::<usize>()
                })
            })
            .collect();
        nodes.into_iter().map(|n| n.join().unwrap()).collect()
    });
    // Each flip of each check is recorded once, by whichever node came
    // first; a node that comes later, even after others went on to the
    // next flips, records none of it again.
    let s = Store::open_location(&location).unwrap();
    let events = s.events(None, None, CHECKS * FLIPS * 3).unwrap();
    assert_eq!(recorded.iter().sum::<usize>(), CHECKS * FLIPS);
    assert_eq!(events.len(), CHECKS * FLIPS);
    let states = s.states().unwrap();
    assert_eq!(states.len(), CHECKS);
}

#[test]
fn events_come_back_in_order_and_set_the_resume_state() {
    each_backend(|f| {
        let mut s = f.open();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
        for (i, healthy) in [false, true, false].into_iter().enumerate() {
            s.record_event(&HealthEvent {
                check: "web".into(),
                at: t0 + Duration::from_secs(i as u64),
                old_healthy: !healthy,
                new_healthy: healthy,
                reason: format!("r{i}"),
            })
            .unwrap();
        }
        // Two events of one millisecond keep their order.
        for reason in ["same-1", "same-2"] {
            s.record_event(&HealthEvent {
                check: "other".into(),
                at: t0,
                old_healthy: true,
                new_healthy: false,
                reason: reason.into(),
            })
            .unwrap();
        }
        let events = s.events(Some("web"), None, 10).unwrap();
        let reasons: Vec<&str> = events.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons, ["r0", "r1", "r2"]);
        let other: Vec<String> = s
            .events(Some("other"), None, 10)
            .unwrap()
            .into_iter()
            .map(|e| e.reason)
            .collect();
        assert_eq!(other, ["same-1", "same-2"]);
        let since = s
            .events(Some("web"), Some(t0 + Duration::from_secs(1)), 10)
            .unwrap();
        assert_eq!(since.len(), 2);
        assert_eq!(s.events(None, None, 1).unwrap()[0].reason, "r2");
        let states = s.states().unwrap();
        let web = states.iter().find(|(id, _)| id == "web").unwrap();
        assert!(!web.1.healthy);
        assert_eq!(web.1.changed_at, Some(t0 + Duration::from_secs(2)));
    });
}

#[test]
fn overrides_are_saved_replaced_released_and_go_with_their_check() {
    each_backend(|f| {
        let mut s = f.open();
        s.set_override("a", Some(false)).unwrap();
        s.set_override("b", Some(true)).unwrap();
        s.set_override("a", Some(true)).unwrap();
        drop(s);
        let mut s = f.open();
        assert_eq!(
            s.overrides().unwrap(),
            vec![("a".to_string(), true), ("b".to_string(), true)]
        );
        s.set_override("a", None).unwrap();
        s.delete_check("b").unwrap();
        assert!(s.overrides().unwrap().is_empty());
    });
}

#[test]
fn tsig_keys_round_trip_count_a_version_and_refuse_a_second_of_a_name() {
    each_backend(|f| {
        let mut s = f.open();
        let before = s.version().unwrap();
        assert_eq!(
            s.create_tsig_key("b.key.", "{\"b\":1}").unwrap(),
            before + 1
        );
        s.create_tsig_key("a.key.", "{}").unwrap();
        assert!(s.create_tsig_key("a.key.", "{}").is_err());
        drop(s);
        let mut s = f.open();
        assert_eq!(
            s.tsig_keys().unwrap(),
            vec![
                ("a.key.".to_string(), "{}".to_string()),
                ("b.key.".to_string(), "{\"b\":1}".to_string())
            ]
        );
        let version = s.version().unwrap();
        assert_eq!(s.delete_tsig_key("a.key.").unwrap(), version + 1);
        assert_eq!(s.tsig_keys().unwrap().len(), 1);
    });
}

#[test]
fn checks_and_their_route53_settings_round_trip() {
    each_backend(|f| {
        let mut s = f.open();
        let check = StoredCheck {
            input: serde_json::from_value(serde_json::json!({
                "id": "web", "type": "http", "ip": "192.0.2.1", "port": 80
            }))
            .unwrap(),
            version: 3,
            caller_reference: Some("ref-1".into()),
        };
        s.put_check(&check).unwrap();
        s.put_route53_check_settings("web", Some((3, Some(true))))
            .unwrap();
        let s = f.open();
        assert_eq!(s.checks().unwrap(), vec![check]);
        assert_eq!(
            s.route53_check_settings().unwrap(),
            vec![("web".to_string(), 3, Some(true))]
        );
    });
}

#[test]
fn route53_check_configs_and_tags_round_trip_and_are_replaced_whole() {
    each_backend(|f| {
        let mut s = f.open();
        s.put_route53_check_config("web", Some((2, r#"{"Type":"HTTP"}"#)))
            .unwrap();
        let tags = [
            ("env".to_string(), "prod".to_string()),
            ("a".into(), "1".into()),
        ];
        s.put_route53_tags("healthcheck", "web", &tags).unwrap();
        s.put_route53_tags("hostedzone", "Z1", &tags[..1]).unwrap();
        let mut s = f.open();
        assert_eq!(
            s.route53_check_configs().unwrap(),
            vec![("web".to_string(), 2, r#"{"Type":"HTTP"}"#.to_string())]
        );
        assert_eq!(
            s.route53_tags("healthcheck", "web").unwrap(),
            vec![
                ("a".to_string(), "1".to_string()),
                ("env".into(), "prod".into())
            ],
            "by key"
        );
        s.put_route53_tags("healthcheck", "web", &tags[1..])
            .unwrap();
        assert_eq!(s.route53_tags("healthcheck", "web").unwrap(), &tags[1..]);
        assert_eq!(s.route53_tags("hostedzone", "Z1").unwrap(), &tags[..1]);
        s.put_route53_tags("healthcheck", "web", &[]).unwrap();
        s.put_route53_check_config("web", None).unwrap();
        assert!(s.route53_tags("healthcheck", "web").unwrap().is_empty());
        assert!(s.route53_check_configs().unwrap().is_empty());
    });
}

#[test]
fn migrations_run_once() {
    each_backend(|f| {
        f.open();
        let s = f.open();
        assert_eq!(s.migrations_applied().unwrap(), MIGRATIONS.len() as i64);
    });
}

#[test]
fn stores_on_one_postgres_database_see_each_others_writes() {
    let url = PostgresUrl::parse(&pg::fresh_database()).unwrap();
    let mut a = Store::connect(&url).unwrap();
    let b = Store::connect(&url).unwrap();
    a.create_zone(&zone("shared.test.")).unwrap();
    assert_eq!(b.zones().unwrap()[0].name, "shared.test.");
}

#[test]
fn an_unreachable_postgres_is_named_without_its_password() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = PostgresUrl::parse(&format!("postgresql://u:s3cret@127.0.0.1:{port}/x")).unwrap();
    let err = Store::connect(&url).err().expect("nothing listens there");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "cannot reach PostgreSQL at postgresql://u:***@127.0.0.1:{port}/x: "
        )),
        "{message}"
    );
    assert!(message.contains("refused"), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
}

#[test]
fn a_database_that_does_not_exist_is_named() {
    let url = PostgresUrl::parse(&pg::server().url("no_such_database")).unwrap();
    let err = Store::connect(&url).err().expect("no such database");
    assert!(
        err.to_string()
            .contains("database \"no_such_database\" does not exist"),
        "{err}"
    );
}

#[test]
fn every_write_that_changes_what_nodes_serve_counts_one_version() {
    each_backend(|f| {
        let mut s = f.open();
        assert_eq!(s.version().unwrap(), 0);
        assert_eq!(s.create_zone(&zone("v.test.")).unwrap(), 1);
        let put = RecordWrite::Put {
            key: key("www.v.test."),
            record: Box::new(record("www", "192.0.2.1")),
        };
        assert_eq!(s.write_records("v.test.", &[put]).unwrap(), 2);
        assert_eq!(s.set_override("c", Some(true)).unwrap(), 3);
        assert_eq!(s.delete_zone("v.test.").unwrap(), 4);
        // History is not what nodes serve: it counts nothing.
        s.put_route53_change("C1", SystemTime::now(), None).unwrap();
        // A failed write counts nothing either.
        assert!(s.write_records("nope.test.", &[]).is_ok());
        let before = s.version().unwrap();
        let bad = RecordWrite::Put {
            key: key("a.nope.test."),
            record: Box::new(record("a", "192.0.2.1")),
        };
        assert!(s.write_records("nope.test.", &[bad]).is_err());
        assert_eq!(s.version().unwrap(), before);
        assert_eq!(f.open().version().unwrap(), before);
    });
}

#[test]
fn a_heartbeat_registers_a_node_and_the_next_one_updates_it() {
    each_backend(|f| {
        let mut s = f.open();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut a = NodeRecord {
            name: "a".into(),
            address: "127.0.0.1:53".into(),
            api: Some("127.0.0.1:8053".into()),
            version: "0.1.0".into(),
            config_version: 3,
            started_at: t0,
            last_seen: t0,
            heartbeat: Duration::from_secs(2),
        };
        let b = NodeRecord {
            name: "B".into(),
            api: None,
            ..a.clone()
        };
        s.heartbeat(&a).unwrap();
        s.heartbeat(&b).unwrap();
        a.last_seen = t0 + Duration::from_secs(2);
        a.config_version = 4;
        s.heartbeat(&a).unwrap();
        assert_eq!(f.open().nodes().unwrap(), vec![b, a]);
    });
}

#[test]
fn a_write_expecting_an_old_version_changes_nothing() {
    each_backend(|f| {
        let mut a = f.open();
        let mut b = f.open();
        assert_eq!(a.create_zone(&zone("one.test.")).unwrap(), 1);
        // B validated against version 0 and writes on top of it: refused.
        b.expect_version(0);
        let err = b.create_zone(&zone("two.test.")).unwrap_err();
        assert!(matches!(err, StoreError::Conflict { expected: 0 }), "{err}");
        assert!(err.to_string().contains("send the request again"), "{err}");
        assert_eq!(a.version().unwrap(), 1);
        assert_eq!(a.zones().unwrap().len(), 1);
        // On top of what is there: taken. The expectation was for one
        // write only.
        b.expect_version(1);
        assert_eq!(b.create_zone(&zone("two.test.")).unwrap(), 2);
        assert_eq!(b.set_override("x", Some(true)).unwrap(), 3);
    });
}

#[test]
fn a_change_recorded_with_a_write_is_kept_only_if_the_write_commits() {
    each_backend(|f| {
        let mut a = f.open();
        let mut b = f.open();
        let change = |id: &str| NewChange {
            id: id.into(),
            submitted_at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            comment: Some(format!("{id} comment")),
        };
        a.record_with_next_write(change("C1"));
        assert_eq!(a.create_zone(&zone("one.test.")).unwrap(), 1);
        let (at, comment, version) = a.route53_change("C1").unwrap().unwrap();
        assert_eq!(at, change("C1").submitted_at);
        assert_eq!((comment.as_deref(), version), (Some("C1 comment"), 1));
        // A write refused (B is behind) records nothing of its change.
        b.expect_version(0);
        b.record_with_next_write(change("C2"));
        assert!(b.create_zone(&zone("two.test.")).is_err());
        assert!(a.route53_change("C2").unwrap().is_none());
        // Nor does the next write carry it: one write only.
        assert_eq!(b.set_override("x", Some(true)).unwrap(), 2);
        assert!(a.route53_change("C2").unwrap().is_none());
        // Written with the records of a batch, at the version it makes.
        b.record_with_next_write(change("C3"));
        let put = RecordWrite::Put {
            key: key("www.one.test."),
            record: Box::new(record("www", "192.0.2.1")),
        };
        assert_eq!(b.write_records("one.test.", &[put]).unwrap(), 3);
        assert_eq!(a.route53_change("C3").unwrap().unwrap().2, 3);
    });
}

#[test]
fn a_nodes_observation_replaces_its_last_and_goes_with_its_check() {
    each_backend(|f| {
        let mut s = f.open();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let observation = |check: &str, node: &str, healthy: bool, secs: u64| StoredObservation {
            check: check.into(),
            node: node.into(),
            healthy,
            reason: format!("{node} says {healthy}"),
            at: t0 + Duration::from_secs(secs),
        };
        s.observe(&observation("web", "b", true, 0)).unwrap();
        s.observe(&observation("web", "a", true, 0)).unwrap();
        s.observe(&observation("db", "a", false, 1)).unwrap();
        // Node a changes its mind about web: one row per (check, node).
        s.observe(&observation("web", "a", false, 2)).unwrap();
        let version = s.version().unwrap();
        assert_eq!(
            f.open().observations().unwrap(),
            vec![
                observation("db", "a", false, 1),
                observation("web", "a", false, 2),
                observation("web", "b", true, 0),
            ]
        );
        // Votes are not what nodes serve: no version counted.
        assert_eq!(s.version().unwrap(), version);
        s.delete_check("web").unwrap();
        assert_eq!(
            s.observations().unwrap(),
            vec![observation("db", "a", false, 1)]
        );
        // A batch, as the publisher writes a flip: new rows and a
        // replaced one, read back whole and by what changed.
        let cursor = s.observations_since(None).unwrap().cursor;
        let batch: Vec<StoredObservation> = (0..700)
            .map(|i| observation(&format!("c{i:03}"), "a", i % 2 == 0, 3))
            .chain([observation("db", "a", true, 3)])
            .collect();
        s.write_votes(
            &batch
                .iter()
                .cloned()
                .map(VoteChange::Observed)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        s.write_votes(&[]).unwrap();
        let mut want = batch.clone();
        want.sort_by(|x, y| x.check.cmp(&y.check));
        assert_eq!(f.open().observations().unwrap(), want);
        let mut since = s.observations_since(Some(cursor)).unwrap().observations;
        since.sort_by(|x, y| x.check.cmp(&y.check));
        assert_eq!(since, want);
        // A node that stops probing a check withdraws its vote, with an
        // observation of another in the same batch: a reader that had
        // read up to here is sent back to a full read, which lacks it.
        s.observe(&observation("db", "b", true, 4)).unwrap();
        let cursor = s.observations_since(None).unwrap().cursor;
        s.write_votes(&[
            VoteChange::Withdrawn {
                check: "db".into(),
                node: "a".into(),
            },
            VoteChange::Observed(observation("c000", "a", false, 5)),
        ])
        .unwrap();
        let read = s.observations_since(Some(cursor)).unwrap();
        assert!(read.full, "a withdrawal is a deletion: {read:?}");
        let db: Vec<_> = read
            .observations
            .iter()
            .filter(|o| o.check == "db")
            .collect();
        assert_eq!(db, [&observation("db", "b", true, 4)]);
        assert!(
            read.observations
                .contains(&observation("c000", "a", false, 5))
        );
        // Withdrawing what is not there changes nothing.
        let cursor = read.cursor;
        s.write_votes(&[VoteChange::Withdrawn {
            check: "nothing".into(),
            node: "a".into(),
        }])
        .unwrap();
        assert!(!s.observations_since(Some(cursor)).unwrap().full);
    });
}

/// Votes as a reader holds them, by check and node, after merging `read`.
fn merge(
    held: &mut std::collections::BTreeMap<(String, String), StoredObservation>,
    read: VoteRead,
) {
    if read.full {
        held.clear();
    }
    for o in read.observations {
        held.insert((o.check.clone(), o.node.clone()), o);
    }
}

fn full_read(s: &Store) -> std::collections::BTreeMap<(String, String), StoredObservation> {
    let mut held = Default::default();
    merge(&mut held, s.observations_since(None).unwrap());
    held
}

#[test]
fn votes_read_since_the_last_read_add_up_to_a_full_read() {
    each_backend(|f| {
        let mut s = f.open();
        let reader = f.open();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let observation = |check: &str, node: &str, healthy: bool, secs: u64| StoredObservation {
            check: check.into(),
            node: node.into(),
            healthy,
            reason: format!("{node} says {healthy}"),
            at: t0 + Duration::from_secs(secs),
        };
        s.observe(&observation("web", "a", true, 0)).unwrap();
        s.observe(&observation("web", "b", true, 0)).unwrap();
        s.observe(&observation("db", "a", true, 0)).unwrap();
        let first = reader.observations_since(None).unwrap();
        assert!(first.full);
        assert_eq!(first.observations.len(), 3);
        let mut cursor = first.cursor;
        let mut held = Default::default();
        merge(&mut held, first);

        // Node a changes its mind about web, node c votes for the first
        // time: both are read, and the merge is what a full read says.
        s.observe(&observation("web", "a", false, 2)).unwrap();
        s.observe(&observation("web", "c", false, 2)).unwrap();
        let next = reader.observations_since(Some(cursor)).unwrap();
        assert!(!next.full);
        assert!(
            next.observations
                .contains(&observation("web", "a", false, 2))
        );
        assert!(
            next.observations
                .contains(&observation("web", "c", false, 2))
        );
        cursor = next.cursor;
        merge(&mut held, next);
        assert_eq!(held, full_read(&reader));

        // Nothing written: an unchanged vote is not read again. On
        // PostgreSQL a read may repeat what transactions still running
        // at the last one (other tests' writes) might have hidden, so it
        // does once they end.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let again = reader.observations_since(Some(cursor)).unwrap();
            assert!(!again.full);
            cursor = again.cursor;
            let repeated = again.observations.len();
            merge(&mut held, again);
            if repeated == 0 {
                break;
            }
            assert!(
                f.is_postgres(),
                "SQLite read {repeated} unchanged votes again"
            );
            assert!(
                std::time::Instant::now() < deadline,
                "unchanged votes read again and again"
            );
        }
        assert_eq!(held, full_read(&reader));

        // A node's vote written again (a restarted node) replaces its old one.
        s.observe(&observation("db", "a", false, 9)).unwrap();
        let next = reader.observations_since(Some(cursor)).unwrap();
        assert!(!next.full);
        assert!(
            next.observations
                .contains(&observation("db", "a", false, 9))
        );
        cursor = next.cursor;
        merge(&mut held, next);
        assert_eq!(held, full_read(&reader));

        // Deleted votes leave no row to read: the next read is a full one.
        s.delete_check("web").unwrap();
        let after = reader.observations_since(Some(cursor)).unwrap();
        assert!(after.full);
        cursor = after.cursor;
        merge(&mut held, after);
        assert_eq!(held.len(), 1);
        assert_eq!(held, full_read(&reader));
        // And only that one.
        s.observe(&observation("db", "b", true, 10)).unwrap();
        let next = reader.observations_since(Some(cursor)).unwrap();
        assert!(!next.full);
        merge(&mut held, next);
        assert_eq!(held, full_read(&reader));
    });
}

#[test]
fn a_check_without_votes_deleted_keeps_the_votes_read_incremental() {
    each_backend(|f| {
        let mut s = f.open();
        s.put_check(&StoredCheck {
            input: crate::input::HealthCheckInput {
                id: "lonely".into(),
                ..Default::default()
            },
            version: 1,
            caller_reference: None,
        })
        .unwrap();
        let cursor = s.observations_since(None).unwrap().cursor;
        s.delete_check("lonely").unwrap();
        assert!(!s.observations_since(Some(cursor)).unwrap().full);
    });
}

fn serial(serial: u32, fingerprint: u64, declared: Option<u32>) -> StoredSerial {
    StoredSerial {
        serial,
        fingerprint,
        declared,
    }
}

fn claim(zone: &str, expected: Option<StoredSerial>, new: StoredSerial) -> SerialClaim {
    SerialClaim {
        zone: zone.into(),
        expected,
        new,
    }
}

#[test]
fn a_serial_claim_writes_only_over_the_row_it_expects() {
    each_backend(|f| {
        let (mut a, mut b) = (f.open(), f.open());
        // Two nodes insert a new zone's row: the first wins, the second
        // writes nothing and learns the first's.
        let first = serial(100, 1, None);
        let claimed = a.claim_zone_serials(&[claim("a.test.", None, first)]);
        assert_eq!(claimed.unwrap(), vec![Claimed::Won]);
        let claimed = b.claim_zone_serials(&[claim("a.test.", None, serial(200, 1, None))]);
        assert_eq!(claimed.unwrap(), vec![Claimed::Lost(Some(first))]);
        // An update over the row as read wins; one over a row read before
        // it (another node moved it meanwhile) loses, and so does one that
        // expects another declared serial.
        let second = serial(101, 2, None);
        let claimed = b.claim_zone_serials(&[claim("a.test.", Some(first), second)]);
        assert_eq!(claimed.unwrap(), vec![Claimed::Won]);
        let claimed = a.claim_zone_serials(&[claim("a.test.", Some(first), serial(101, 3, None))]);
        assert_eq!(claimed.unwrap(), vec![Claimed::Lost(Some(second))]);
        let stale = serial(101, 2, Some(7));
        let claimed = a.claim_zone_serials(&[claim("a.test.", Some(stale), serial(102, 3, None))]);
        assert_eq!(claimed.unwrap(), vec![Claimed::Lost(Some(second))]);
        // A batch, out of zone order: each claim's outcome in its place,
        // the winners written, the losers not.
        let declared = serial(2024, 9, Some(2024));
        let claimed = a
            .claim_zone_serials(&[
                claim("c.test.", None, declared),
                claim("a.test.", Some(second), serial(102, 4, None)),
                claim("b.test.", Some(first), serial(1, 1, None)),
            ])
            .unwrap();
        assert_eq!(
            claimed,
            vec![Claimed::Won, Claimed::Won, Claimed::Lost(None)]
        );
        let mut all = b.zone_serials(None).unwrap();
        all.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            all,
            vec![
                ("a.test.".into(), serial(102, 4, None)),
                ("c.test.".into(), declared)
            ]
        );
        // Named rows alone; a zone with none is left out.
        let names = ["c.test.".to_string(), "none.test.".to_string()];
        let named = b.zone_serials(Some(&names)).unwrap();
        assert_eq!(named, vec![("c.test.".into(), declared)]);
        // The declared serial is part of the row a claim expects.
        let claimed = b.claim_zone_serials(&[claim(
            "c.test.",
            Some(declared),
            serial(2025, 9, Some(2025)),
        )]);
        assert_eq!(claimed.unwrap(), vec![Claimed::Won]);
    });
}

#[test]
fn nodes_claiming_many_serials_at_once_each_win_every_zone_once() {
    each_backend(|f| {
        let zones: Vec<String> = (0..200).map(|i| format!("z{i:03}.test.")).collect();
        // Two nodes claim every zone's first serial at once, in opposite
        // orders: no deadlock, and each zone goes to exactly one of them.
        let outcomes: Vec<Vec<Claimed>> = std::thread::scope(|scope| {
            let runs: Vec<_> = [false, true]
                .into_iter()
                .map(|reversed| {
                    let mut store = f.open();
                    let mut claims: Vec<SerialClaim> = zones
                        .iter()
                        .map(|z| claim(z, None, serial(u32::from(reversed), 1, None)))
                        .collect();
                    if reversed {
                        claims.reverse();
                    }
                    scope.spawn(move || {
                        let mut out = store.claim_zone_serials(&claims).unwrap();
                        if reversed {
                            out.reverse();
                        }
                        out
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let stored: std::collections::HashMap<String, StoredSerial> =
            f.open().zone_serials(None).unwrap().into_iter().collect();
        for (i, zone) in zones.iter().enumerate() {
            let row = stored[zone];
            let winner = row.serial as usize;
            assert_eq!(outcomes[winner][i], Claimed::Won, "{zone}");
            assert_eq!(outcomes[1 - winner][i], Claimed::Lost(Some(row)), "{zone}");
        }
    });
}
