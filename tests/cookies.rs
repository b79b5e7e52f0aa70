//! DNS cookies (RFC 7873, server cookies in RFC 9018's format) against the
//! real server: dig's cookie exchange, malformed cookies, the rate-limit
//! exemption a valid cookie earns, and a secret shared by two servers.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::Server;

const ZONE: &str = r#"
[server]
__SERVER__

[[zone]]
name = "cookie.test."

[[zone.record]]
name = "www"
type = "A"
values = ["192.0.2.1"]
"#;

fn config(server: &str) -> String {
    ZONE.replace("__SERVER__", server)
}

/// `www.cookie.test. A` with an OPT carrying `cookie` (the COOKIE option's
/// data, any length) when given.
fn query(id: u16, cookie: Option<&[u8]>) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    q.extend_from_slice(b"\x03www\x06cookie\x04test\x00\x00\x01\x00\x01");
    let options = cookie.map_or(Vec::new(), |c| {
        let mut o = vec![0, 10];
        o.extend_from_slice(&(c.len() as u16).to_be_bytes());
        o.extend_from_slice(c);
        o
    });
    q.extend_from_slice(&[0, 0, 41, 4, 208, 0, 0, 0, 0]);
    q.extend_from_slice(&(options.len() as u16).to_be_bytes());
    q.extend_from_slice(&options);
    q
}

/// The COOKIE option's data in a response, if any (the OPT is the last
/// record of these small answers).
fn returned_cookie(response: &[u8]) -> Option<Vec<u8>> {
    let at = response.windows(4).rposition(|w| w[..2] == [0, 10])?;
    let len = usize::from(u16::from_be_bytes([response[at + 2], response[at + 3]]));
    response.get(at + 4..at + 4 + len).map(<[u8]>::to_vec)
}

fn ask(udp: &UdpSocket, to: SocketAddr, packet: &[u8]) -> Vec<u8> {
    udp.send_to(packet, to).unwrap();
    let mut buf = [0u8; 1232];
    let n = udp.recv(&mut buf).expect("an answer");
    buf[..n].to_vec()
}

fn rcode(response: &[u8]) -> u8 {
    response[3] & 0x0f
}

#[test]
fn dig_gets_its_client_cookie_back_with_a_standard_server_cookie() {
    let s = Server::start(&config(""));
    let out = s.dig(&["+cookie", "www.cookie.test", "A"]);
    assert_eq!(common::status(&out), "NOERROR", "{out}");
    // dig prints `; COOKIE: <client><server> (good)` in hex: "good"
    // means the client cookie came back unchanged.
    let line = out
        .lines()
        .find(|l| l.starts_with("; COOKIE:"))
        .unwrap_or_else(|| panic!("no cookie in the answer:\n{out}"));
    assert!(line.ends_with("(good)"), "{line}");
    let hex = line.split_whitespace().nth(2).unwrap();
    assert_eq!(
        hex.len(),
        2 * (8 + 16),
        "8-byte client, 16-byte server: {line}"
    );
    assert!(
        hex[16..].starts_with("01000000"),
        "version 1, reserved 0: {line}"
    );
}

#[test]
fn cookies_of_a_length_rfc_7873_forbids_are_formerr_and_others_answered() {
    let s = Server::start(&config(""));
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    for bad in [&[1u8; 5][..], &[1; 12], &[1; 41]] {
        let r = ask(&udp, s.addr(), &query(1, Some(bad)));
        assert_eq!(rcode(&r), 1, "{} bytes: FORMERR", bad.len());
    }
    // A client cookie alone, or with a server cookie that is not ours:
    // answered, with a fresh server cookie (never BADCOOKIE).
    for good in [&[2u8; 8][..], &[2; 16], &[2; 40]] {
        let r = ask(&udp, s.addr(), &query(2, Some(good)));
        assert_eq!(rcode(&r), 0, "{} bytes", good.len());
        let back = returned_cookie(&r).expect("a cookie back");
        assert_eq!(back.len(), 24);
        assert_eq!(back[..8], [2; 8]);
    }
    // No cookie asked, none given.
    let r = ask(&udp, s.addr(), &query(3, None));
    assert_eq!(returned_cookie(&r), None);
}

/// Sends `n` queries at once with `cookie`; counts (full, truncated)
/// answers.
fn burst(udp: &UdpSocket, to: SocketAddr, n: u16, cookie: Option<&[u8]>) -> (usize, usize) {
    for id in 0..n {
        udp.send_to(&query(id, cookie), to).unwrap();
    }
    let (mut full, mut truncated) = (0, 0);
    let mut buf = [0u8; 1232];
    while udp.recv(&mut buf).is_ok() {
        if buf[2] & 0x02 != 0 {
            truncated += 1;
        } else {
            full += 1;
        }
    }
    (full, truncated)
}

#[test]
fn a_valid_server_cookie_is_not_rate_limited_and_a_fleet_shares_its_secret() {
    let secret = "cookie_secret = \"00112233445566778899aabbccddeeff\"";
    let limited = format!("rate_limit = 5\nrate_limit_slip = 1\n{secret}");
    let a = Server::start(&config(&limited));
    let b = Server::start(&config(&limited));
    let other = Server::start(&config("rate_limit = 5\nrate_limit_slip = 1"));
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();

    // A server cookie, asked for before the limit is reached.
    let given = returned_cookie(&ask(&udp, a.addr(), &query(1, Some(&[7; 8])))).unwrap();

    // Without a valid server cookie the limit holds: 5 a second, the rest
    // truncated.
    let (full, truncated) = burst(&udp, a.addr(), 40, Some(&[9; 8]));
    assert!(
        full <= 10 && truncated >= 20,
        "{full} full, {truncated} slipped"
    );

    // With that server cookie every answer of a burst is whole, from A and
    // from B, which shares A's secret.
    assert_eq!(burst(&udp, a.addr(), 40, Some(&given)), (40, 0));
    assert_eq!(burst(&udp, b.addr(), 40, Some(&given)), (40, 0));
    // A server with another (random) secret does not accept it.
    let (full, truncated) = burst(&udp, other.addr(), 40, Some(&given));
    assert!(
        full <= 10 && truncated >= 20,
        "{full} full, {truncated} slipped"
    );
}

#[test]
fn a_malformed_cookie_secret_is_refused_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("eightfold.toml"),
        config("cookie_secret = \"abc\""),
    )
    .unwrap();
    let out = common::run(&["check", "eightfold.toml"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("eightfold.toml:3:17: server.cookie_secret: give 32 hexadecimal digits"),
        "{stderr}"
    );
}
