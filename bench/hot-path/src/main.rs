//! The answer path alone: `handler::respond` on a prepared query, no
//! sockets, for the mixes of `bench/run.sh`. Reports ns per query (median
//! of 5 runs), which is eightfold's own share of the cost per query; the
//! rest is the kernel's (see BENCHMARKS.md, "Profile").

use std::path::PathBuf;
use std::time::Instant;

use eightfold::publish::publish;
use eightfold::config::Config;
use eightfold::dns::handler::{self, Published, Scratch, Transport};

const HOSTS: usize = 10_000;
const ITERATIONS: usize = 2_000_000;
const RUNS: usize = 5;

fn query(id: u16, name: &str, edns: bool) -> Vec<u8> {
    let mut p = id.to_be_bytes().to_vec();
    p.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)]);
    for label in name.trim_end_matches('.').split('.') {
        p.push(label.len() as u8);
        p.extend_from_slice(label.as_bytes());
    }
    p.extend_from_slice(&[0, 0, 1, 0, 1]);
    if edns {
        p.extend_from_slice(&[0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0]);
    }
    p
}

fn published(dir: &PathBuf) -> Published {
    let mut zone = String::from("$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 604800 60\n@ NS ns1\n");
    zone.push_str("ns1 A 127.0.0.53\nwww A 192.0.2.1\nwww A 192.0.2.2\n");
    for i in 0..HOSTS {
        zone.push_str(&format!("h{i} A 10.0.{}.{}\n", i >> 8, i & 255));
    }
    std::fs::write(dir.join("bench.test.zone"), zone).unwrap();
    let mut toml = String::new();
    for i in 0..17 {
        toml.push_str(&format!(
            "[[health_check]]\nid = \"c{i}\"\ntype = \"tcp\"\nip = \"127.0.0.1\"\nport = 9\n\n"
        ));
    }
    toml.push_str("[[zone]]\nname = \"bench.test.\"\nfile = \"bench.test.zone\"\n\n");
    let mut record = |name: &str, routing: &str, i: usize, extra: &str| {
        toml.push_str(&format!(
            "[[zone.record]]\nname = \"{name}\"\ntype = \"A\"\nttl = 30\nrouting = \"{routing}\"\n\
             set = \"s{i}\"\nvalue = \"127.0.0.{}\"\nhealth_check = \"c{i}\"\n{extra}\n",
            i + 1
        ));
    };
    for i in 0..12 {
        record("multi", "multivalue", i, "");
    }
    record("fo", "failover", 12, "failover = \"primary\"");
    record("fo", "failover", 13, "failover = \"secondary\"");
    for (i, w) in [(14, 10), (15, 20), (16, 70)] {
        record("wt", "weighted", i, &format!("weight = {w}"));
    }
    let config = Config::from_toml(&dir.join("eightfold.toml"), &toml).expect("valid config");
    let published = publish(&config);
    for id in [9, 10, 11] {
        published.health.set(id, false);
    }
    published
}

fn main() {
    let dir = std::env::temp_dir().join(format!("eightfold-hot-path-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let published = published(&dir);
    let _ = std::fs::remove_dir_all(&dir);

    let mut seed = 6u64;
    let mut random = |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize % n
    };
    let mixes: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("www", vec![query(1, "www.bench.test.", false)]),
        ("www +EDNS", vec![query(1, "www.bench.test.", true)]),
        (
            "hosts",
            (0..4096)
                .map(|i| query(i as u16, &format!("h{}.bench.test.", random(HOSTS)), false))
                .collect(),
        ),
        (
            "nx",
            (0..4096)
                .map(|i| {
                    query(
                        i as u16,
                        &format!("nx{}.bench.test.", random(1 << 30)),
                        false,
                    )
                })
                .collect(),
        ),
        (
            "routed",
            ["multi", "fo", "wt"]
                .iter()
                .map(|n| query(1, &format!("{n}.bench.test."), false))
                .collect(),
        ),
        (
            "multivalue 12, 3 down",
            vec![query(1, "multi.bench.test.", false)],
        ),
    ];
    let mut out = Vec::with_capacity(65535);
    let mut scratch = Scratch::seeded(1);
    println!("| mix | ns/query (median of {RUNS}) | min-max | response bytes |");
    println!("|---|---:|---:|---:|");
    for (name, queries) in &mixes {
        let mut times = Vec::new();
        for _ in 0..RUNS {
            let start = Instant::now();
            for i in 0..ITERATIONS {
                let q = &queries[i % queries.len()];
                let r = handler::respond(&published, q, Transport::Udp, &mut out, &mut scratch);
                std::hint::black_box(r);
            }
            times.push(start.elapsed().as_nanos() as f64 / ITERATIONS as f64);
        }
        times.sort_by(f64::total_cmp);
        handler::respond(
            &published,
            &queries[0],
            Transport::Udp,
            &mut out,
            &mut scratch,
        );
        println!(
            "| {name} | {:.0} | {:.0}-{:.0} | {} |",
            times[RUNS / 2],
            times[0],
            times[RUNS - 1],
            out.len()
        );
    }
    // What the listeners add per answer for /metrics: one clock read and
    // the counters (the query type comes back from `respond`).
    let metrics = eightfold::metrics::Metrics::with_shards(3);
    let q = &mixes[0].1[0];
    let answered =
        handler::respond(&published, q, Transport::Udp, &mut out, &mut scratch).expect("an answer");
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let mut last = Instant::now();
        for _ in 0..ITERATIONS {
            let now = Instant::now();
            let answered = std::hint::black_box(answered);
            metrics.record(0, answered.qtype, answered.rcode, now - last);
            last = now;
        }
        times.push(start.elapsed().as_nanos() as f64 / ITERATIONS as f64);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "| metrics per answer (not in the rows above) | {:.0} | {:.0}-{:.0} | |",
        times[RUNS / 2],
        times[0],
        times[RUNS - 1]
    );
}
