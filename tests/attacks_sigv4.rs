//! Attacks on the Route 53 API's authentication (issue 17), against the
//! real binary with an API token, each test named after the attack it
//! stops: SigV4 work amplified by a repeated SignedHeaders list, uploads
//! read before the caller is known, paths that once panicked a handler.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime};

use axum::http::{HeaderMap, Method, Uri};
use common::Server;
use eightfold::api::route53::sigv4;

const TOKEN: &str = "the-token";

fn start() -> Server {
    Server::start_with_files(
        r#"
[server]
api = "127.0.0.1:0"
data = "e.db"
api_token_file = "token"

[[zone]]
name = "sig.test."

[[zone.record]]
name = "www"
type = "A"
values = ["192.0.2.1"]
"#,
        &[("token", TOKEN)],
    )
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
fn memory_kib(server: &Server, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

/// Reads one response (the request said `Connection: close`): status and
/// body.
fn read_response(stream: &mut TcpStream) -> (u16, String) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

/// Sends `head` (request line and headers, without the blank line), then
/// `Connection: close`, and `body`; the response.
fn exchange(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the API");
    stream
        .write_all(format!("{head}Connection: close\r\n\r\n").as_bytes())
        .unwrap();
    stream.write_all(body).unwrap();
    read_response(&mut stream)
}

/// The `Authorization` a client holding `secret` sends for this request,
/// with `host` and `x-amz-date` as given.
fn signature(
    method: Method,
    target: &str,
    host: &str,
    date: &str,
    body: &[u8],
    secret: &str,
) -> String {
    let mut headers = HeaderMap::new();
    headers.insert("host", host.parse().unwrap());
    headers.insert("x-amz-date", date.parse().unwrap());
    let uri: Uri = target.parse().unwrap();
    sigv4::sign(&method, &uri, &headers, body, secret)
}

fn now() -> String {
    sigv4::amz_date(SystemTime::now())
}

/// `auth` with its SignedHeaders list replaced by `list`.
fn with_signed_headers(auth: &str, list: &str) -> String {
    let start = auth.find("SignedHeaders=").unwrap() + "SignedHeaders=".len();
    let end = start + auth[start..].find(',').unwrap();
    format!("{}{list}{}", &auth[..start], &auth[end..])
}

/// The server still answers DNS and the API (a bearer call).
fn assert_alive(server: &Server, api: SocketAddr) {
    let answer = common::records(&server.dig(&["+noall", "+answer", "www.sig.test", "A"]));
    assert_eq!(answer, ["www.sig.test. 300 IN A 192.0.2.1"]);
    let (status, body) = exchange(
        api,
        &format!(
            "GET /2013-04-01/hostedzonecount HTTP/1.1\r\nHost: {api}\r\n\
             Authorization: Bearer {TOKEN}\r\n"
        ),
        b"",
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<HostedZoneCount>1</HostedZoneCount>"),
        "{body}"
    );
}

/// One request listing a long header N times in SignedHeaders once made
/// the server build N copies of it: 101 KiB took it from 9 to 391 MiB,
/// 293 KiB (200 KB listed 50,000 times) aborted it, DNS with it.
#[test]
fn sigv4_signed_headers_amplification_is_refused_with_memory_unchanged() {
    let server = start();
    let api = server.api.unwrap();
    assert_alive(&server, api);
    let rss_before = memory_kib(&server, "VmRSS");
    let peak_before = memory_kib(&server, "VmHWM");
    let date = now();
    let scope = format!("AKID/{}/us-east-1/route53/aws4_request", &date[..8]);
    // (header size, times listed): 293 KiB and 101 KiB requests, and one
    // whose list stays under the Authorization bound (1,900 × 200 KB: 380 MB
    // to build before).
    for (size, times, refusal) in [
        (200_000, 50_000, "at most 4096"),
        (50_000, 25_000, "at most 4096"),
        (200_000, 1_900, "name each header once"),
    ] {
        let list = format!("host;{}x-amz-date", "x;".repeat(times));
        let head = format!(
            "GET /2013-04-01/hostedzone HTTP/1.1\r\nHost: {api}\r\nX-Amz-Date: {date}\r\n\
             X: {}\r\nAuthorization: AWS4-HMAC-SHA256 Credential={scope}, \
             SignedHeaders={list}, Signature={}\r\n",
            "a".repeat(size),
            "0".repeat(64)
        );
        let started = Instant::now();
        let (status, body) = exchange(api, &head, b"");
        assert_eq!(status, 403, "{size} × {times}: {body}");
        assert!(body.contains("<Code>IncompleteSignature</Code>"), "{body}");
        assert!(body.contains(refusal), "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{size} × {times}"
        );
    }
    let rss_after = memory_kib(&server, "VmRSS");
    let peak_after = memory_kib(&server, "VmHWM");
    assert!(
        peak_after < peak_before + 8 * 1024 && rss_after < rss_before + 8 * 1024,
        "VmHWM {peak_before} → {peak_after} KiB, VmRSS {rss_before} → {rss_after} KiB"
    );
    assert_alive(&server, api);
}

/// The body (up to 4 MiB) was read before the caller was known: 50
/// stalled uploads took 200 MiB. Now a caller the headers do not
/// authenticate is answered at once, while its body is still unsent.
#[test]
fn unauthenticated_upload_is_refused_before_the_body_is_read() {
    let server = start();
    let api = server.api.unwrap();
    let date = now();
    let old = sigv4::amz_date(SystemTime::now() - Duration::from_secs(3600));
    let target = "/2013-04-01/hostedzone";
    let forged = signature(Method::POST, target, &api.to_string(), &old, b"", TOKEN);
    let scope = format!("AKID/{}/us-east-1/route53/aws4_request", &date[..8]);
    let cases = [
        (None, date.as_str(), "MissingAuthenticationToken"),
        (
            Some("Bearer wrong".to_string()),
            &date,
            "InvalidClientTokenId",
        ),
        (
            Some(format!(
                "AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host;host;x-amz-date, \
                 Signature={}",
                "0".repeat(64)
            )),
            &date,
            "IncompleteSignature",
        ),
        (Some(forged), &old, "RequestExpired"),
    ];
    for (authorization, date, code) in cases {
        let mut head = format!(
            "POST {target} HTTP/1.1\r\nHost: {api}\r\nX-Amz-Date: {date}\r\n\
             Content-Length: {}\r\n",
            4 * 1024 * 1024
        );
        if let Some(a) = &authorization {
            head.push_str(&format!("Authorization: {a}\r\n"));
        }
        let started = Instant::now();
        // No body at all: an answer proves nothing was waited for.
        let (status, body) = exchange(api, &head, b"");
        assert_eq!(status, 403, "{authorization:?}: {body}");
        assert!(body.contains(&format!("<Code>{code}</Code>")), "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{code} took {:?}",
            started.elapsed()
        );
    }
    assert_alive(&server, api);
}

/// Headers that pass the pre-check can be forged by anyone (the signature
/// covers the body, so it is checked last). 50 such uploads stalled one
/// byte short of 4 MiB once held 200 MiB; now 8 are read at once and the
/// others are refused unread.
#[test]
fn forged_signature_uploads_are_held_to_the_unverified_body_budget() {
    let server = start();
    let api = server.api.unwrap();
    let date = now();
    let target = "/2013-04-01/hostedzone";
    let size = 4 * 1024 * 1024;
    let forged = signature(
        Method::POST,
        target,
        &api.to_string(),
        &date,
        b"",
        "not-the-token",
    );
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: {api}\r\nX-Amz-Date: {date}\r\n\
         Authorization: {forged}\r\nContent-Length: {size}\r\n\r\n"
    );
    let rss_before = memory_kib(&server, "VmRSS");
    let uploads: Vec<_> = (0..50)
        .map(|_| {
            let head = head.clone();
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(api).unwrap();
                stream.write_all(head.as_bytes()).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(3)))
                    .unwrap();
                let mut first = [0; 512];
                match stream.read(&mut first) {
                    Ok(n) if n > 0 => Err(String::from_utf8_lossy(&first[..n]).into_owned()),
                    // No answer: the server reads the body. All but a byte.
                    _ => {
                        stream.write_all(&vec![b'x'; size - 1]).unwrap();
                        Ok(stream)
                    }
                }
            })
        })
        .collect();
    let mut held = Vec::new();
    let mut refused = 0;
    for upload in uploads {
        match upload.join().unwrap() {
            Ok(stream) => held.push(stream),
            Err(answer) => {
                assert!(answer.contains("<Code>Throttling</Code>"), "{answer}");
                refused += 1;
            }
        }
    }
    assert_eq!((held.len(), refused), (8, 42));
    // The server reads the 8 bodies: wait until it holds most of them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while memory_kib(&server, "VmRSS") < rss_before + 24 * 1024 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let rss = memory_kib(&server, "VmRSS");
    assert!(
        rss < rss_before + 64 * 1024,
        "VmRSS {rss_before} → {rss} KiB for 8 held uploads"
    );
    assert_alive(&server, api);
    drop(held);
}

/// `GET /2013-04-01/hostedzone/%€€` with any well-formed Authorization
/// panicked the handler (a slice inside `€` while decoding `%€€`), and the
/// connection was dropped.
#[test]
fn malformed_percent_path_gets_400_not_a_panic() {
    let server = start();
    let api = server.api.unwrap();
    let host = api.to_string();
    for target in [
        "/2013-04-01/hostedzone/%€€",
        "/2013-04-01/hostedzone/%FF",
        "/2013-04-01/hostedzone/Z%4/rrset",
        "/2013-04-01/change/%C3%28",
    ] {
        let date = now();
        // A forged but well-formed signature passes the header checks, so
        // the path is refused (before any body or service call) with what
        // the caller sent anyway: no panic, no dropped connection.
        let wrong = signature(Method::GET, target, &host, &date, b"", "not-the-token");
        let head = format!(
            "GET {target} HTTP/1.1\r\nHost: {host}\r\nX-Amz-Date: {date}\r\nAuthorization: {wrong}\r\n"
        );
        let (status, body) = exchange(api, &head, b"");
        assert_eq!(status, 400, "{target}: {body}");
        assert!(body.contains("<Code>InvalidInput</Code>"), "{body}");
        let signed = signature(Method::GET, target, &host, &date, b"", TOKEN);
        let head = format!(
            "GET {target} HTTP/1.1\r\nHost: {host}\r\nX-Amz-Date: {date}\r\nAuthorization: {signed}\r\n"
        );
        let (status, body) = exchange(api, &head, b"");
        assert_eq!(status, 400, "{target}: {body}");
        assert!(body.contains("<Code>InvalidInput</Code>"), "{body}");
        assert!(body.contains("the path does not decode"), "{body}");
        let head = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n");
        let (status, body) = exchange(api, &head, b"");
        assert_eq!(status, 403, "{target}: {body}");
        assert!(
            body.contains("<Code>MissingAuthenticationToken</Code>"),
            "{body}"
        );
    }
    // `\` before a character longer than a byte, in a query: the same
    // kind of slice, in the name decoder.
    let target = "/2013-04-01/hostedzone/Z1/rrset?name=%5C%C3%A9";
    let date = now();
    let signed = signature(Method::GET, target, &host, &date, b"", TOKEN);
    let head = format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nX-Amz-Date: {date}\r\nAuthorization: {signed}\r\n"
    );
    let (status, body) = exchange(api, &head, b"");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("<Code>NoSuchHostedZone</Code>"), "{body}");
    assert_alive(&server, api);
}

/// Duplicate names in SignedHeaders (the amplification's tool) and a list
/// without `host` (a signature not bound to the server it was sent to)
/// are refused, however valid the rest.
#[test]
fn duplicate_or_hostless_signed_headers_are_refused() {
    let server = start();
    let api = server.api.unwrap();
    let host = api.to_string();
    let target = "/2013-04-01/hostedzone";
    for (list, message) in [
        ("host;host;x-amz-date", "name each header once"),
        ("host;x-amz-date;x-amz-date", "name each header once"),
        ("x-amz-date", "must include host"),
        ("host;x-amz-date;x-zz-absent", "does not carry"),
        ("Host;x-amz-date", "lower-case"),
    ] {
        let date = now();
        let auth = with_signed_headers(
            &signature(Method::GET, target, &host, &date, b"", TOKEN),
            list,
        );
        let head = format!(
            "GET {target} HTTP/1.1\r\nHost: {host}\r\nX-Amz-Date: {date}\r\nAuthorization: {auth}\r\n"
        );
        let (status, body) = exchange(api, &head, b"");
        assert_eq!(status, 403, "{list}: {body}");
        assert!(body.contains("<Code>IncompleteSignature</Code>"), "{body}");
        assert!(body.contains(message), "{list}: {body}");
    }
}

/// What the checks must not stop: a client signing with the token, here
/// ureq with a body (CreateHostedZone) and without (ListHostedZones).
/// boto3 and the aws CLI: `cargo test --test route53_clients`.
#[test]
fn a_signed_request_still_works() {
    let server = start();
    let api = server.api.unwrap();
    let host = api.to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let body = r#"<CreateHostedZoneRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Name>signed.test</Name><CallerReference>one</CallerReference></CreateHostedZoneRequest>"#;
    let target = "/2013-04-01/hostedzone";
    let date = now();
    let auth = signature(Method::POST, target, &host, &date, body.as_bytes(), TOKEN);
    let mut response = agent
        .post(format!("http://{host}{target}"))
        .header("x-amz-date", &date)
        .header("authorization", &auth)
        .send(body)
        .unwrap();
    let text = response.body_mut().read_to_string().unwrap();
    assert_eq!(response.status().as_u16(), 201, "{text}");
    assert!(text.contains("<Name>signed.test.</Name>"), "{text}");

    let target = "/2013-04-01/hostedzone?maxitems=10";
    let date = now();
    let auth = signature(Method::GET, target, &host, &date, b"", TOKEN);
    let mut response = agent
        .get(format!("http://{host}{target}"))
        .header("x-amz-date", &date)
        .header("authorization", &auth)
        .call()
        .unwrap();
    let text = response.body_mut().read_to_string().unwrap();
    assert_eq!(response.status().as_u16(), 200, "{text}");
    assert!(text.contains("<Name>signed.test.</Name>"), "{text}");

    // The same request signed with another secret.
    let auth = signature(Method::GET, target, &host, &date, b"", "not-the-token");
    let mut response = agent
        .get(format!("http://{host}{target}"))
        .header("x-amz-date", &date)
        .header("authorization", &auth)
        .call()
        .unwrap();
    let text = response.body_mut().read_to_string().unwrap();
    assert_eq!(response.status().as_u16(), 403, "{text}");
    assert!(
        text.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{text}"
    );
}
