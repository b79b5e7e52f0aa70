//! Routing policies end to end: the real binary, real HTTP backends on
//! loopback (switchable between 200 and 503), `dig` as the client. Every
//! wait polls against a deadline; nothing synchronises by sleeping.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::{Backend, Server};

/// A `[[health_check]]` entry for `backend`.
fn check(id: &str, backend: &Backend, threshold: u32) -> String {
    format!(
        "[[health_check]]\nid = \"{id}\"\ntype = \"http\"\nip = \"127.0.0.1\"\nport = {}\n\
         path = \"/\"\ninterval = \"1s\"\nfailure_threshold = {threshold}\ntimeout = \"1s\"\n\n",
        backend.port
    )
}

/// A `[[zone.record]]` entry (A, TTL 5) with `extra` lines appended.
fn record(name: &str, routing: &str, set: &str, value: &str, check: &str, extra: &str) -> String {
    format!(
        "[[zone.record]]\nname = \"{name}\"\ntype = \"A\"\nttl = 5\nrouting = \"{routing}\"\n\
         set = \"{set}\"\nvalue = \"{value}\"\nhealth_check = \"{check}\"\n{extra}\n"
    )
}

const ZONE: &str = "[[zone]]\nname = \"r.test.\"\n\n";

/// The addresses of one `+short` answer.
fn answer(s: &Server, name: &str) -> Vec<String> {
    s.dig(&[name, "A", "+short"])
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Polls `answer(name)` until `ok` holds for `stable` consecutive answers,
/// or panics after `timeout` with `what`.
fn wait_until(
    s: &Server,
    name: &str,
    timeout: Duration,
    what: &str,
    ok: impl Fn(&[String]) -> bool,
) -> Duration {
    let start = Instant::now();
    let mut last = Vec::new();
    while start.elapsed() < timeout {
        last = answer(s, name);
        if ok(&last) {
            // Confirm with a few more queries (random choice per query).
            if (0..5).all(|_| ok(&answer(s, name))) {
                return start.elapsed();
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{what}: not reached within {timeout:?}; last answer {last:?}; logs:\n{}",
        s.logs()
    );
}

#[test]
fn multivalue_answers_eight_distinct_healthy_records() {
    let backends: Vec<Backend> = (0..12).map(|i| Backend::start(i >= 3)).collect();
    let mut config = String::new();
    for (i, b) in backends.iter().enumerate() {
        config += &check(&format!("c{i}"), b, 1);
    }
    config += ZONE;
    for i in 0..12 {
        config += &record(
            "mv",
            "multivalue",
            &format!("s{i}"),
            &format!("192.0.2.{}", i + 1),
            &format!("c{i}"),
            "",
        );
    }
    let s = Server::start(&config);
    let failing: HashSet<String> = (1..=3).map(|i| format!("192.0.2.{i}")).collect();
    let healthy: Vec<String> = (4..=12).map(|i| format!("192.0.2.{i}")).collect();
    // interval 1 s × threshold 1 + 3 s.
    wait_until(
        &s,
        "mv.r.test",
        Duration::from_secs(4),
        "failing addresses leave",
        |a| !a.iter().any(|x| failing.contains(x)),
    );
    let queries = 300;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for _ in 0..queries {
        let a = answer(&s, "mv.r.test");
        let distinct: HashSet<&String> = a.iter().collect();
        assert_eq!(a.len(), 8, "answer {a:?}");
        assert_eq!(distinct.len(), 8, "repeats in {a:?}");
        for x in &a {
            assert!(!failing.contains(x), "failing {x} in {a:?}");
            assert!(healthy.contains(x), "unknown {x} in {a:?}");
            *counts.entry(x.clone()).or_default() += 1;
        }
    }
    let expected = queries as f64 * 8.0 / 9.0;
    for h in &healthy {
        let n = counts.get(h).copied().unwrap_or(0) as f64;
        assert!(
            n >= 0.75 * expected && n <= 1.25 * expected,
            "{h} appeared {n} times, expected about {expected:.0}; counts {counts:?}"
        );
    }
}

#[test]
fn failed_endpoint_leaves_and_recovers() {
    let backends: Vec<Backend> = (0..3).map(|_| Backend::start(true)).collect();
    let mut config = String::new();
    for (i, b) in backends.iter().enumerate() {
        config += &check(&format!("c{i}"), b, 2);
    }
    config += ZONE;
    for i in 0..3 {
        config += &record(
            "mv",
            "multivalue",
            &format!("s{i}"),
            &format!("192.0.2.{}", i + 1),
            &format!("c{i}"),
            "",
        );
    }
    let s = Server::start(&config);
    let all = |a: &[String]| a.len() == 3;
    wait_until(&s, "mv.r.test", Duration::from_secs(5), "all three", all);

    // interval 1 s × threshold 2 + 1 s, plus slack for dig.
    let bound = Duration::from_secs(5);
    backends[1].set_up(false);
    wait_until(&s, "mv.r.test", bound, "192.0.2.2 leaves", |a| {
        a.len() == 2 && !a.iter().any(|x| x == "192.0.2.2")
    });
    backends[1].set_up(true);
    wait_until(&s, "mv.r.test", bound, "192.0.2.2 returns", |a| {
        a.len() == 3 && a.iter().any(|x| x == "192.0.2.2")
    });
}

#[test]
fn all_failing_multivalue_fails_open() {
    let backends: Vec<Backend> = (0..4).map(|_| Backend::start(false)).collect();
    let mut config = String::new();
    for (i, b) in backends.iter().enumerate() {
        config += &check(&format!("c{i}"), b, 1);
    }
    config += ZONE;
    for i in 0..4 {
        config += &record(
            "mv",
            "multivalue",
            &format!("s{i}"),
            &format!("192.0.2.{}", i + 1),
            &format!("c{i}"),
            "",
        );
    }
    let s = Server::start(&config);
    let deadline = Instant::now() + Duration::from_secs(6);
    while s.logs().matches("→ unhealthy").count() < 4 {
        assert!(
            Instant::now() < deadline,
            "not all four checks went unhealthy; logs:\n{}",
            s.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let want: HashSet<String> = (1..=4).map(|i| format!("192.0.2.{i}")).collect();
    for _ in 0..10 {
        let a = answer(&s, "mv.r.test");
        let got: HashSet<String> = a.iter().cloned().collect();
        assert_eq!(a.len(), 4, "answer {a:?}");
        assert_eq!(got, want, "answer {a:?}");
    }
}

#[test]
fn failover_flips_both_ways() {
    let primary = Backend::start(true);
    let secondary = Backend::start(true);
    let mut config = check("p", &primary, 1) + &check("s", &secondary, 1) + ZONE;
    config += &record(
        "fo",
        "failover",
        "one",
        "192.0.2.1",
        "p",
        "failover = \"primary\"",
    );
    config += &record(
        "fo",
        "failover",
        "two",
        "192.0.2.2",
        "s",
        "failover = \"secondary\"",
    );
    let s = Server::start(&config);
    let only = |ip: &'static str| move |a: &[String]| a == [ip.to_string()];
    let bound = Duration::from_secs(4);
    wait_until(&s, "fo.r.test", bound, "primary answers", only("192.0.2.1"));
    primary.set_up(false);
    wait_until(
        &s,
        "fo.r.test",
        bound,
        "secondary takes over",
        only("192.0.2.2"),
    );
    primary.set_up(true);
    wait_until(&s, "fo.r.test", bound, "primary is back", only("192.0.2.1"));
}

#[test]
fn weighted_shares_follow_weights() {
    let heavy = Backend::start(true);
    let light = Backend::start(true);
    let mut config = check("h", &heavy, 1) + &check("l", &light, 1) + ZONE;
    config += &record("w", "weighted", "heavy", "192.0.2.1", "h", "weight = 3");
    config += &record("w", "weighted", "light", "192.0.2.2", "l", "weight = 1");
    let s = Server::start(&config);
    let queries = 400;
    let mut heavy_count = 0;
    for _ in 0..queries {
        let a = answer(&s, "w.r.test");
        assert_eq!(a.len(), 1, "answer {a:?}");
        match a[0].as_str() {
            "192.0.2.1" => heavy_count += 1,
            "192.0.2.2" => {}
            other => panic!("unexpected {other}"),
        }
    }
    let share = heavy_count as f64 / queries as f64;
    assert!(
        (0.65..=0.85).contains(&share),
        "heavy share {share} ({heavy_count} of {queries})"
    );
    heavy.set_up(false);
    // One light answer proves nothing while heavy is still in (a quarter
    // of answers are light anyway): wait for twenty in a row, which
    // chance gives once in 4^20 tries.
    let deadline = std::time::Instant::now() + Duration::from_secs(4);
    let mut light_in_a_row = 0;
    while light_in_a_row < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "heavy never left: {}",
            s.logs()
        );
        if answer(&s, "w.r.test") == ["192.0.2.2".to_string()] {
            light_in_a_row += 1;
        } else {
            light_in_a_row = 0;
        }
    }
    for _ in 0..30 {
        assert_eq!(answer(&s, "w.r.test"), ["192.0.2.2".to_string()]);
    }
}

#[test]
fn demo_starts_answers_and_stops() {
    let s = Server::spawn(
        tempfile::tempdir().unwrap(),
        &["demo", "--dns", "127.0.0.1:0"],
    );
    wait_until(
        &s,
        "www.demo.test",
        Duration::from_secs(6),
        "web-4 out of www",
        |a| a.len() >= 3 && !a.iter().any(|x| x == "192.0.2.4"),
    );
    for _ in 0..10 {
        let a = answer(&s, "www.demo.test");
        assert!(a.len() >= 3, "answer {a:?}");
        assert!(!a.iter().any(|x| x == "192.0.2.4"), "answer {a:?}");
    }
    let status = s.stop();
    assert!(status.success(), "demo exited with {status:?}");
}
