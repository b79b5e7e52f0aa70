//! What strangers on the network can do: flood TCP with idle connections,
//! or send more queries than a rate limit allows. Normal clients must
//! still get answers, and the counters must show the traffic.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use common::Server;

const ZONE: &str = r#"
[server]
api = "127.0.0.1:0"

[[zone]]
name = "hostile.test."

[[zone.record]]
name = "www"
type = "A"
values = ["192.0.2.1"]
"#;

fn query(id: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    q.extend_from_slice(b"\x03www\x07hostile\x04test\x00\x00\x01\x00\x01");
    q
}

/// A TCP connection from `source` (any 127/8 address works on Linux).
fn connect_from(source: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&format!("{source}:0").parse::<SocketAddr>().unwrap().into())?;
    socket.connect_timeout(&to.into(), Duration::from_secs(2))?;
    Ok(socket.into())
}

/// One query over TCP; the answer's ANCOUNT.
fn ask_tcp(stream: &mut TcpStream, id: u16) -> u16 {
    let q = query(id);
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    stream.write_all(&framed).unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut answer).unwrap();
    assert_eq!(u16::from_be_bytes([answer[0], answer[1]]), id);
    u16::from_be_bytes([answer[6], answer[7]])
}

#[test]
fn an_idle_tcp_flood_does_not_stop_other_clients() {
    let s = Server::start(ZONE);
    let addr = s.addr();
    // Hundreds of idle connections from one host: the first few are
    // accepted and held, the rest closed at once.
    let mut idle = Vec::new();
    for _ in 0..300 {
        if let Ok(c) = connect_from("127.0.0.1", addr) {
            idle.push(c);
        }
    }
    assert!(idle.len() >= 250, "only {} connections opened", idle.len());
    let mut closed = 0;
    for c in &mut idle {
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        if matches!(c.read(&mut [0u8; 1]), Ok(0)) {
            closed += 1;
        }
    }
    assert!(
        closed >= 250,
        "only {closed} of the flood closed by the server"
    );

    // Another client still gets TCP answers, and UDP is unaffected.
    let mut other = connect_from("127.0.0.2", addr).expect("connect from 127.0.0.2");
    assert_eq!(ask_tcp(&mut other, 7), 1);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    udp.send_to(&query(8), addr).unwrap();
    let mut buf = [0u8; 512];
    let n = udp.recv(&mut buf).unwrap();
    assert!(n > 12 && u16::from_be_bytes([buf[0], buf[1]]) == 8);
    drop(idle);
}

#[test]
fn an_idle_flood_from_many_addresses_cannot_starve_a_prompt_client() {
    let s = Server::start(ZONE);
    let addr = s.addr();
    // 15 idle connections from each of 40 addresses: 600, past the global
    // cap of 512 while under every per-client cap.
    let mut idle = Vec::new();
    for host in 10..50 {
        for _ in 0..15 {
            if let Ok(c) = connect_from(&format!("127.0.0.{host}"), addr) {
                idle.push(c);
            }
        }
    }
    assert!(idle.len() >= 590, "only {} connections opened", idle.len());
    // A client that asks at once is answered, from a new address and
    // from one of the flooding ones alike, well before the idle timeout.
    for (source, id) in [("127.0.0.200", 21), ("127.0.0.10", 22)] {
        let started = std::time::Instant::now();
        let mut prompt = connect_from(source, addr).expect("connect");
        assert_eq!(ask_tcp(&mut prompt, id), 1, "from {source}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
    drop(idle);
}

#[test]
fn a_flood_from_ones_own_address_cannot_lock_it_out() {
    let s = Server::start(ZONE);
    let addr = s.addr();
    let idle: Vec<TcpStream> = (0..600)
        .filter_map(|_| connect_from("127.0.0.1", addr).ok())
        .collect();
    assert!(idle.len() >= 590);
    let mut prompt = connect_from("127.0.0.1", addr).expect("connect");
    assert_eq!(ask_tcp(&mut prompt, 31), 1);
    drop(idle);
}

#[test]
fn rate_limited_clients_get_slips_and_silence_past_their_budget() {
    let config = ZONE.replace(
        "api = \"127.0.0.1:0\"",
        "api = \"127.0.0.1:0\"\nrate_limit = 5\nrate_limit_slip = 2",
    );
    let s = Server::start(&config);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let sent = 40u16;
    for id in 0..sent {
        udp.send_to(&query(id), s.addr()).unwrap();
    }
    let (mut full, mut truncated, mut total) = (0, 0, 0);
    let mut buf = [0u8; 512];
    while let Ok(n) = udp.recv(&mut buf) {
        total += 1;
        let tc = buf[2] & 0x02 != 0;
        let ancount = u16::from_be_bytes([buf[6], buf[7]]);
        assert!(n >= 12);
        if tc {
            assert_eq!(ancount, 0, "a slip carries no answer");
            truncated += 1;
        } else {
            assert_eq!(ancount, 1);
            full += 1;
        }
    }
    // Five a second; the burst may straddle one second boundary.
    assert!(full <= 10, "{full} full answers");
    assert!(full >= 5, "{full} full answers");
    assert!(truncated >= 1, "no slip among {total} answers");
    assert!(total < usize::from(sent), "nothing was dropped");
}

#[test]
fn the_rate_limit_counts_per_prefix_not_per_address() {
    let config = ZONE.replace(
        "api = \"127.0.0.1:0\"",
        "api = \"127.0.0.1:0\"\nrate_limit = 5\nrate_limit_slip = 0",
    );
    let s = Server::start(&config);
    // Three addresses of one /24 share one budget; a fourth, in another
    // /24, has its own. Every socket sends its burst before any reads.
    let sources = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.1.1"];
    let sockets: Vec<UdpSocket> = sources
        .iter()
        .map(|ip| {
            let socket = UdpSocket::bind(format!("{ip}:0")).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            socket
        })
        .collect();
    for (i, socket) in sockets.iter().enumerate() {
        for id in 0..15u16 {
            socket
                .send_to(&query(i as u16 * 100 + id), s.addr())
                .unwrap();
        }
    }
    let answered: Vec<usize> = sockets
        .iter()
        .map(|socket| {
            let mut buf = [0u8; 512];
            let mut n = 0;
            while socket.recv(&mut buf).is_ok() {
                n += 1;
            }
            n
        })
        .collect();
    // Five a second per prefix; a burst may straddle one second boundary.
    // Counted per address, the three would get 15 at least.
    let shared: usize = answered[..3].iter().sum();
    assert!((5..=10).contains(&shared), "{answered:?}");
    assert!((5..=10).contains(&answered[3]), "{answered:?}");
}

#[test]
fn metrics_count_the_queries_answered() {
    let s = Server::start(ZONE);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 512];
    for id in 0..3 {
        udp.send_to(&query(id), s.addr()).unwrap();
        udp.recv(&mut buf).unwrap();
    }
    // EDNS version 1: BADVERS, which the header alone would read as NOERROR.
    let mut badvers = query(3);
    badvers[11] = 1;
    badvers.extend_from_slice(&[0, 0, 41, 4, 208, 0, 1, 0, 0, 0, 0]);
    udp.send_to(&badvers, s.addr()).unwrap();
    udp.recv(&mut buf).unwrap();
    let mut tcp = connect_from("127.0.0.1", s.addr()).unwrap();
    ask_tcp(&mut tcp, 9);
    let text = ureq::get(format!("{}/metrics", s.api_url()))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let answered: f64 = scrape
        .samples
        .iter()
        .filter(|s| {
            s.metric == "eightfold_dns_queries_total"
                && s.labels.get("qtype") == Some("A")
                && s.labels.get("rcode") == Some("NOERROR")
        })
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(answered, 4.0, "{text}");
    let badvers = scrape.samples.iter().any(|s| {
        s.metric == "eightfold_dns_queries_total"
            && s.labels.get("qtype") == Some("A")
            && s.labels.get("rcode") == Some("BADVERS")
            && matches!(
                s.value,
                prometheus_parse::Value::Counter(1.0) | prometheus_parse::Value::Untyped(1.0)
            )
    });
    assert!(badvers, "one BADVERS counted\n{text}");
    let count = scrape
        .samples
        .iter()
        .find(|s| s.metric == "eightfold_dns_answer_seconds_count")
        .map(|s| match s.value {
            prometheus_parse::Value::Untyped(v) | prometheus_parse::Value::Counter(v) => v,
            ref other => panic!("{other:?}"),
        });
    assert!(matches!(count, Some(c) if c >= 5.0), "{count:?}\n{text}");
}

/// `eightfold_dns_zone_queries_total` as (zone, rcode) → count.
fn zone_counts(s: &Server) -> std::collections::BTreeMap<(String, String), f64> {
    let text = ureq::get(format!("{}/metrics", s.api_url()))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == "eightfold_dns_zone_queries_total")
        .map(|s| {
            let value = match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
                ref other => panic!("{other:?}"),
            };
            let label = |l| s.labels.get(l).unwrap().to_string();
            ((label("zone"), label("rcode")), value)
        })
        .collect()
}

#[test]
fn each_zone_counts_its_own_answers_across_its_changes() {
    let s = Server::start(ZONE);
    ureq::post(format!("{}/v1/zones", s.api_url()))
        .header("Content-Type", "application/json")
        .send(r#"{"name": "api.test."}"#)
        .unwrap();
    for _ in 0..3 {
        assert_eq!(
            common::status(&s.dig(&["www.hostile.test", "A"])),
            "NOERROR"
        );
    }
    assert_eq!(
        common::status(&s.dig(&["+tcp", "nope.hostile.test", "A"])),
        "NXDOMAIN"
    );
    assert_eq!(common::status(&s.dig(&["api.test", "SOA"])), "NOERROR");
    // Outside every zone: counted by type, not by any zone.
    assert_eq!(
        common::status(&s.dig(&["elsewhere.example", "A"])),
        "REFUSED"
    );
    let before = zone_counts(&s);
    let key = |zone: &str, rcode: &str| (zone.to_string(), rcode.to_string());
    let expected = std::collections::BTreeMap::from([
        (key("hostile.test.", "NOERROR"), 3.0),
        (key("hostile.test.", "NXDOMAIN"), 1.0),
        (key("api.test.", "NOERROR"), 1.0),
    ]);
    assert_eq!(before, expected);

    // A change rebuilds the API zone; its count carries on.
    let change = r#"{"changes": [{"action": "CREATE", "record": {"name": "www", "type": "A", "values": ["192.0.2.7"]}}]}"#;
    ureq::post(format!("{}/v1/zones/api.test./changes", s.api_url()))
        .header("Content-Type", "application/json")
        .send(change)
        .unwrap();
    assert_eq!(
        common::records(&s.dig(&["+noall", "+answer", "www.api.test", "A"])),
        ["www.api.test. 300 IN A 192.0.2.7"]
    );
    let after = zone_counts(&s);
    assert_eq!(after[&key("api.test.", "NOERROR")], 2.0, "{after:?}");
    assert_eq!(after[&key("hostile.test.", "NOERROR")], 3.0, "{after:?}");
}
