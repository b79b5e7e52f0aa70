//! AWS Signature Version 4, checked when the API has a token (SPEC §6:
//! "Request signatures are accepted without checking unless a token is
//! set"). The token is the secret access key; any access key id is
//! accepted. Without a token, nothing is checked.
//!
//! The canonical request is built as botocore builds it for Route 53 (the
//! URI path, the query pairs sorted as sent, the signed headers, the SHA-256
//! of the body), so a request boto3 or the aws CLI signed verifies here.
//! HMAC and SHA-256 come from `ring`, already compiled in for rustls.

use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, Method, Uri};
use ring::{digest, hmac};

/// How far a request's `X-Amz-Date` may be from our clock (AWS: 15 min).
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// Why a signature was refused; Route 53's code and a message.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    /// `MissingAuthenticationToken`, `IncompleteSignature`,
    /// `SignatureDoesNotMatch` or `RequestExpired`.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

fn refused(code: &'static str, message: impl Into<String>) -> Refused {
    Refused {
        code,
        message: message.into(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> hmac::Tag {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
}

/// `%XX`-decodes `s` (invalid escapes stay as they are).
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// SigV4's URI encoding: unreserved characters and `/` stay.
fn uri_encode_path(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
struct Authorization<'a> {
    /// `date/region/service/aws4_request`.
    scope: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, Refused> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(|| {
        refused(
            "IncompleteSignature",
            "the Authorization header is not AWS4-HMAC-SHA256",
        )
    })?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (key, value) = part.trim().split_once('=').unwrap_or(("", ""));
        match key {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(refused(
            "IncompleteSignature",
            "the Authorization header needs Credential, SignedHeaders and Signature",
        ));
    };
    let scope = credential
        .split_once('/')
        .map(|(_, scope)| scope)
        .unwrap_or("");
    let fields: Vec<&str> = scope.split('/').collect();
    let [date, region, service, "aws4_request"] = fields[..] else {
        return Err(refused(
            "IncompleteSignature",
            format!("credential scope {scope:?} is not date/region/service/aws4_request"),
        ));
    };
    Ok(Authorization {
        scope,
        date,
        region,
        service,
        signed_headers,
        signature,
    })
}

/// `20261125T140000Z` as a time.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
    if text.len() != 16 || !text.ends_with('Z') || text.as_bytes()[8] != b'T' {
        return None;
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &text[0..4],
        &text[4..6],
        &text[6..8],
        &text[9..11],
        &text[11..13],
        &text[13..15]
    );
    humantime::parse_rfc3339(&rfc3339).ok()
}

/// The signing key and string to sign of a request, as SigV4 defines them.
fn signing_input(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    secret: &str,
    amz_date: &str,
    auth: &Authorization<'_>,
) -> (Vec<u8>, String) {
    let mut canonical_headers = String::new();
    for name in auth.signed_headers.split(';') {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let mut pairs: Vec<(&str, &str)> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    pairs.sort_unstable();
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let canonical_request = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{}\n{}",
        uri_encode_path(&percent_decode(uri.path())),
        query.join("&"),
        auth.signed_headers,
        sha256_hex(body),
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{}\n{}",
        auth.scope,
        sha256_hex(canonical_request.as_bytes())
    );
    let key = [auth.date, auth.region, auth.service, "aws4_request"]
        .iter()
        .fold(format!("AWS4{secret}").into_bytes(), |key, part| {
            hmac_sha256(&key, part.as_bytes()).as_ref().to_vec()
        });
    (key, string_to_sign)
}

/// Checks the SigV4 signature of a request against `secret`, at `now`.
pub fn verify(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    secret: &str,
    now: SystemTime,
) -> Result<(), Refused> {
    let value = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            refused(
                "MissingAuthenticationToken",
                "this API has a token: sign requests (AWS SigV4) with the token as the secret access key",
            )
        })?;
    let auth = parse_authorization(value)?;
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| refused("IncompleteSignature", "the X-Amz-Date header is missing"))?;
    let at = parse_amz_date(amz_date).ok_or_else(|| {
        refused(
            "IncompleteSignature",
            format!("X-Amz-Date {amz_date:?} is not like 20261125T140000Z"),
        )
    })?;
    let skew = now.duration_since(at).unwrap_or_else(|e| e.duration());
    if skew > MAX_SKEW {
        return Err(refused(
            "RequestExpired",
            format!("X-Amz-Date {amz_date} is more than 15 minutes from the server's clock"),
        ));
    }
    if !amz_date.starts_with(auth.date) {
        return Err(refused(
            "SignatureDoesNotMatch",
            "the credential scope's date is not the X-Amz-Date's",
        ));
    }
    let (key, string_to_sign) = signing_input(method, uri, headers, body, secret, amz_date, &auth);
    // ring's verify compares in constant time.
    let given = unhex(auth.signature).unwrap_or_default();
    let same = hmac::verify(
        &hmac::Key::new(hmac::HMAC_SHA256, &key),
        string_to_sign.as_bytes(),
        &given,
    )
    .is_ok();
    if same {
        Ok(())
    } else {
        Err(refused(
            "SignatureDoesNotMatch",
            "the request signature does not match: sign with the API token as the secret access key",
        ))
    }
}

/// The `Authorization` value for a request whose `host` and `x-amz-date`
/// headers are set: what a client computes (for tests).
#[cfg(test)]
pub fn sign(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8], secret: &str) -> String {
    let amz_date = headers["x-amz-date"].to_str().unwrap();
    let date = &amz_date[..8];
    let scope = format!("{date}/us-east-1/route53/aws4_request");
    let auth = Authorization {
        scope: &scope,
        date,
        region: "us-east-1",
        service: "route53",
        signed_headers: "host;x-amz-date",
        signature: "",
    };
    let (key, string_to_sign) = signing_input(method, uri, headers, body, secret, amz_date, &auth);
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDTEST/{scope}, SignedHeaders=host;x-amz-date, Signature={}",
        hex(hmac_sha256(&key, string_to_sign.as_bytes()).as_ref())
    )
}

/// `t` as an `X-Amz-Date` (`20261125T140000Z`).
#[cfg(test)]
pub fn amz_date(t: SystemTime) -> String {
    let text = humantime::format_rfc3339_seconds(t).to_string();
    text.replace(['-', ':'], "")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests boto3 signed with secret "the-token" (captured).
    fn headers(signature: &str, date: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:8053".parse().unwrap());
        h.insert("x-amz-date", date.parse().unwrap());
        h.insert(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDTEST/20261125/us-east-1/route53/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature={signature}"
            )
            .parse()
            .unwrap(),
        );
        h
    }

    const DATE: &str = "20261125T140418Z";
    const GET_SIGNATURE: &str = "2b81fed1305e71b80aff35653918172d2323eceb1dca451a587d0da963ad22bd";
    const POST_SIGNATURE: &str = "09654a0ef45e54b7f81aa873707bafe727dcb707604c04e6f44dc3b8cc9daca7";
    const POST_BODY: &str = r#"<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes><Change><Action>CREATE</Action><ResourceRecordSet><Name>a.x.test</Name><Type>A</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"#;

    fn now() -> SystemTime {
        parse_amz_date(DATE).unwrap() + Duration::from_secs(30)
    }

    #[test]
    fn boto3_signatures_verify() {
        let get: Uri = "/2013-04-01/hostedzone/Z1/rrset?name=www.x.test.&type=A&maxitems=5"
            .parse()
            .unwrap();
        let h = headers(GET_SIGNATURE, DATE);
        assert_eq!(
            verify(&Method::GET, &get, &h, b"", "the-token", now()),
            Ok(())
        );
        let post: Uri = "/2013-04-01/hostedzone/Z1/rrset/".parse().unwrap();
        let h = headers(POST_SIGNATURE, DATE);
        let body = POST_BODY.as_bytes();
        assert_eq!(
            verify(&Method::POST, &post, &h, body, "the-token", now()),
            Ok(())
        );
    }

    #[test]
    fn wrong_secret_body_time_or_header_is_refused() {
        let post: Uri = "/2013-04-01/hostedzone/Z1/rrset/".parse().unwrap();
        let h = headers(POST_SIGNATURE, DATE);
        let body = POST_BODY.as_bytes();
        let code = |r: Result<(), Refused>| r.unwrap_err().code;
        assert_eq!(
            code(verify(&Method::POST, &post, &h, body, "other", now())),
            "SignatureDoesNotMatch"
        );
        let tampered = POST_BODY.replace("192.0.2.1", "192.0.2.2");
        assert_eq!(
            code(verify(
                &Method::POST,
                &post,
                &h,
                tampered.as_bytes(),
                "the-token",
                now()
            )),
            "SignatureDoesNotMatch"
        );
        let late = now() + Duration::from_secs(3600);
        assert_eq!(
            code(verify(&Method::POST, &post, &h, body, "the-token", late)),
            "RequestExpired"
        );
        assert_eq!(
            code(verify(
                &Method::POST,
                &post,
                &HeaderMap::new(),
                body,
                "the-token",
                now()
            )),
            "MissingAuthenticationToken"
        );
    }
}
