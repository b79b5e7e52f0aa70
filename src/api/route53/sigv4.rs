//! AWS Signature Version 4, checked when the API has a token (SPEC §6:
//! "Request signatures are accepted without checking unless a token is
//! set"). The token is the secret access key; any access key id is
//! accepted. Without a token, nothing is checked.
//!
//! The canonical request is built as botocore builds it for Route 53 (the
//! URI path without dot segments, URI-encoded as sent, which encodes it
//! twice as AWS does for every service but S3; the query pairs sorted as
//! sent; the signed headers; the SHA-256 of the body), so a request boto3
//! or the aws CLI signed verifies here. HMAC and SHA-256 come from `ring`,
//! already compiled in for rustls.
//!
//! A stranger must cost almost nothing, so the check has two steps:
//!
//! 1. [`precheck`], on the headers alone, before the caller reads the body:
//!    the `Authorization` header's size and shape, the `SignedHeaders` list
//!    (lower-case, sorted, each name once, each present, `host` among them,
//!    at most [`MAX_SIGNED_HEADERS`]), `X-Amz-Date` and the clock skew, and
//!    the size the canonical request would have, computed from lengths and
//!    refused past [`MAX_CANONICAL_BYTES`] before anything is built.
//! 2. [`Prechecked::verify`], once the body is read: the canonical request
//!    is streamed into SHA-256 (never held in memory) and the HMAC compared
//!    in constant time.
//!
//! Work is linear in the request's size (each signed header is visited
//! once, since names cannot repeat) and what is allocated depends on the
//! path and query only, never on the headers' sizes.
//!
//! Written by hand: the SigV4 crates (`aws-sigv4`) sign as a client and
//! bring the AWS SDK's runtime; none verifies a request server-side within
//! bounds chosen here.

use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use ring::{digest, hmac};

/// How far a request's `X-Amz-Date` may be from our clock (AWS: 15 min).
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// Longest `Authorization` header accepted. botocore's for Route 53 is
/// under 200 bytes (it signs `host` and `x-amz-date`).
pub const MAX_AUTHORIZATION_BYTES: usize = 4 * 1024;

/// Most header names in `SignedHeaders`. botocore signs 2 for Route 53
/// (3 with a session token).
pub const MAX_SIGNED_HEADERS: usize = 64;

/// Largest canonical request accepted (method, path, query, signed headers
/// and their values). botocore's for Route 53 are under 1 KiB.
pub const MAX_CANONICAL_BYTES: usize = 64 * 1024;

/// No `Authorization` header.
pub const MISSING_AUTHENTICATION_TOKEN: &str = "MissingAuthenticationToken";
/// An `Authorization` or `X-Amz-Date` header that is malformed, too large,
/// or names headers wrongly.
pub const INCOMPLETE_SIGNATURE: &str = "IncompleteSignature";
/// `X-Amz-Date` too far from the server's clock.
pub const REQUEST_EXPIRED: &str = "RequestExpired";
/// A well-formed signature that is wrong.
pub const SIGNATURE_DOES_NOT_MATCH: &str = "SignatureDoesNotMatch";

/// Why a signature was refused; Route 53's code and a message.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    /// [`MISSING_AUTHENTICATION_TOKEN`], [`INCOMPLETE_SIGNATURE`],
    /// [`REQUEST_EXPIRED`] or [`SIGNATURE_DOES_NOT_MATCH`].
    pub code: &'static str,
    /// What is wrong and what to change.
    pub message: String,
}

fn refused(code: &'static str, message: impl Into<String>) -> Refused {
    Refused {
        code,
        message: message.into(),
    }
}

fn incomplete(message: impl Into<String>) -> Refused {
    refused(INCOMPLETE_SIGNATURE, message)
}

/// `text` quoted for a message, cut after 64 bytes so that a refusal never
/// costs more than its fixed text.
fn excerpt(text: &str) -> String {
    let mut end = text.len().min(64);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if end < text.len() {
        format!("{:?}...", &text[..end])
    } else {
        format!("{text:?}")
    }
}

/// [`excerpt`] of bytes that may not be UTF-8.
fn excerpt_bytes(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(64)];
    let text = String::from_utf8_lossy(cut);
    if cut.len() < bytes.len() {
        format!("{text:?}...")
    } else {
        format!("{text:?}")
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex(bytes: &[u8; 32]) -> [u8; 64] {
    let mut out = [0; 64];
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 15)];
    }
    out
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let text = text.as_bytes();
    if text.len() != 64 {
        return None;
    }
    let digit = |c: u8| char::from(c).to_digit(16);
    let mut out = [0; 32];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        out[i] = u8::try_from(digit(pair[0])? << 4 | digit(pair[1])?).ok()?;
    }
    Some(out)
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

/// Where the canonical request goes: a length count (the pre-check) or
/// SHA-256 (the check). One writer for both, so the size bounded is the
/// size hashed.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

/// Counts bytes only.
struct Length(usize);

impl Sink for Length {
    fn put(&mut self, bytes: &[u8]) {
        self.0 = self.0.saturating_add(bytes.len());
    }
}

impl Sink for digest::Context {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

/// SigV4's URI encoding (Python's `quote(s, safe='/~')`, as botocore):
/// unreserved bytes and `/` stay, every other byte is `%XX`. Works on
/// bytes, so no input can split a character.
fn uri_encode(out: &mut impl Sink, bytes: &[u8]) {
    const UPPER: &[u8; 16] = b"0123456789ABCDEF";
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/')) {
            out.put(&bytes[start..i]);
            out.put(&[b'%', UPPER[usize::from(b >> 4)], UPPER[usize::from(b & 15)]]);
            start = i + 1;
        }
    }
    out.put(&bytes[start..]);
}

/// A header value with its ends trimmed and inner runs of white space made
/// one space (botocore: `' '.join(value.split())`).
fn write_trimmed(out: &mut impl Sink, value: &[u8]) {
    let mut first = true;
    let mut word = |w: &[u8]| {
        if !first {
            out.put(b" ");
        }
        first = false;
        out.put(w);
    };
    match std::str::from_utf8(value) {
        Ok(text) => text.split_whitespace().for_each(|w| word(w.as_bytes())),
        // Not UTF-8 (obs-text): no client signs that, but it must not fail.
        Err(_) => value
            .split(u8::is_ascii_whitespace)
            .filter(|w| !w.is_empty())
            .for_each(word),
    }
}

/// `key=value` of a query pair (`key` alone: value empty), as Python's
/// `pair.partition('=')`.
fn split_pair(pair: &str) -> (&str, &str) {
    pair.split_once('=').unwrap_or((pair, ""))
}

/// What the canonical request is made of, borrowed from the request.
struct Canonical<'a> {
    method: &'a Method,
    path: &'a str,
    /// The path's segments without empty and dot segments (botocore's
    /// `remove_dot_segments`).
    segments: Vec<&'a str>,
    /// The query's `&`-separated pairs, sorted by (key, value).
    pairs: Vec<&'a str>,
    headers: &'a HeaderMap,
    signed_headers: &'a str,
}

impl<'a> Canonical<'a> {
    fn new(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap, signed: &'a str) -> Self {
        let path = uri.path();
        // Exact capacities: what is allocated stays at 16 bytes per `/`
        // or `&` of the request target, with no doubling slack.
        let count = |text: &str, c: u8| text.bytes().filter(|&b| b == c).count() + 1;
        let mut segments = Vec::with_capacity(count(path, b'/'));
        for segment in path.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    segments.pop();
                }
                s => segments.push(s),
            }
        }
        let mut pairs: Vec<&str> = match uri.query() {
            Some(query) if !query.is_empty() => {
                let mut pairs = Vec::with_capacity(count(query, b'&'));
                pairs.extend(query.split('&'));
                pairs
            }
            _ => Vec::new(),
        };
        pairs.sort_unstable_by(|a, b| split_pair(a).cmp(&split_pair(b)));
        Canonical {
            method,
            path,
            segments,
            pairs,
            headers,
            signed_headers: signed,
        }
    }

    /// Writes the canonical request, `payload_hash` (hex) last.
    fn write(&self, out: &mut impl Sink, payload_hash: &[u8]) {
        out.put(self.method.as_str().as_bytes());
        out.put(b"\n");
        if self.path.starts_with('/') || self.path.is_empty() {
            out.put(b"/");
        }
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                out.put(b"/");
            }
            uri_encode(out, segment.as_bytes());
        }
        if self.path.ends_with('/') && !self.segments.is_empty() {
            out.put(b"/");
        }
        out.put(b"\n");
        for (i, pair) in self.pairs.iter().enumerate() {
            let (key, value) = split_pair(pair);
            if i > 0 {
                out.put(b"&");
            }
            out.put(key.as_bytes());
            out.put(b"=");
            out.put(value.as_bytes());
        }
        out.put(b"\n");
        for name in self.signed_headers.split(';') {
            out.put(name.as_bytes());
            out.put(b":");
            for (i, value) in self.headers.get_all(name).iter().enumerate() {
                if i > 0 {
                    out.put(b",");
                }
                write_trimmed(out, value.as_bytes());
            }
            out.put(b"\n");
        }
        out.put(b"\n");
        out.put(self.signed_headers.as_bytes());
        out.put(b"\n");
        out.put(payload_hash);
    }

    /// SHA-256 of the canonical request for a body hashing to `payload`.
    fn digest(&self, payload: &[u8; 32]) -> [u8; 32] {
        let mut context = digest::Context::new(&digest::SHA256);
        self.write(&mut context, &hex(payload));
        let mut out = [0; 32];
        out.copy_from_slice(context.finish().as_ref());
        out
    }
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
struct Authorization<'a> {
    /// `date/region/service/aws4_request`.
    scope: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: &'a str,
    signature: [u8; 32],
}

fn parse_authorization(value: &HeaderValue) -> Result<Authorization<'_>, Refused> {
    if value.len() > MAX_AUTHORIZATION_BYTES {
        return Err(incomplete(format!(
            "the Authorization header is {} bytes; at most {MAX_AUTHORIZATION_BYTES} are accepted",
            value.len()
        )));
    }
    let text = value
        .to_str()
        .map_err(|_| incomplete("the Authorization header has bytes other than visible ASCII"))?;
    let rest = text.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(|| {
        incomplete(
            "the Authorization header is neither `Bearer <token>` nor \
             `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`",
        )
    })?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(incomplete(format!(
                "the Authorization header gives {key} twice; give it once"
            )));
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(incomplete(
            "the Authorization header needs Credential, SignedHeaders and Signature",
        ));
    };
    let scope = credential.split_once('/').map_or("", |(_, scope)| scope);
    let mut fields = scope.split('/');
    let (Some(date), Some(region), Some(service), Some("aws4_request"), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(incomplete(format!(
            "the credential scope {} is not date/region/service/aws4_request",
            excerpt(scope)
        )));
    };
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(incomplete(format!(
            "the credential scope's date {} is not like 20261125",
            excerpt(date)
        )));
    }
    let signature = unhex(signature).ok_or_else(|| {
        incomplete(format!(
            "Signature {} is not 64 hexadecimal digits",
            excerpt(signature)
        ))
    })?;
    Ok(Authorization {
        scope,
        date,
        region,
        service,
        signed_headers,
        signature,
    })
}

/// A byte of a header name as SignedHeaders must give it: an HTTP token
/// character, not upper-case.
fn lower_token(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Refuses a SignedHeaders list that is not lower-case, sorted and
/// without repeats, names a header the request lacks, omits `host`, or
/// names more than [`MAX_SIGNED_HEADERS`]. Stops at the first problem, so
/// a list of 50,000 names costs 65 steps.
fn check_signed_headers(list: &str, headers: &HeaderMap) -> Result<(), Refused> {
    let mut previous: Option<&str> = None;
    let mut host = false;
    for (i, name) in list.split(';').enumerate() {
        if i == MAX_SIGNED_HEADERS {
            return Err(incomplete(format!(
                "SignedHeaders names more than {MAX_SIGNED_HEADERS} headers; sign fewer"
            )));
        }
        if name.is_empty() || !name.bytes().all(lower_token) {
            return Err(incomplete(format!(
                "SignedHeaders: {} is not a lower-case header name",
                excerpt(name)
            )));
        }
        if let Some(previous) = previous
            && name <= previous
        {
            return Err(incomplete(format!(
                "SignedHeaders must be sorted and name each header once: {} after {}",
                excerpt(name),
                excerpt(previous)
            )));
        }
        if !headers.contains_key(name) {
            return Err(incomplete(format!(
                "SignedHeaders names {}, which the request does not carry",
                excerpt(name)
            )));
        }
        host |= name == "host";
        previous = Some(name);
    }
    if host {
        Ok(())
    } else {
        Err(incomplete("SignedHeaders must include host"))
    }
}

/// `20261125T140000Z` as a time.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' || !digits(0..8) || !digits(9..15) {
        return None;
    }
    // Every byte checked is ASCII, so these slices are on char boundaries.
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

/// A request whose headers passed [`precheck`]: what the final check
/// needs once the body is read.
pub struct Prechecked<'a> {
    auth: Authorization<'a>,
    amz_date: &'a str,
    canonical: Canonical<'a>,
}

/// Checks everything but the signature itself, on the headers alone: to
/// be run before the body is read. Bounded: see the module's doc.
pub fn precheck<'a>(
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    now: SystemTime,
) -> Result<Prechecked<'a>, Refused> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        refused(
            MISSING_AUTHENTICATION_TOKEN,
            "this API has a token: sign requests (AWS SigV4) with the token as the secret \
             access key, or send `Authorization: Bearer <token>`",
        )
    })?;
    let auth = parse_authorization(value)?;
    check_signed_headers(auth.signed_headers, headers)?;
    let raw_date = headers
        .get("x-amz-date")
        .ok_or_else(|| incomplete("the X-Amz-Date header is missing"))?;
    let (amz_date, at) = raw_date
        .to_str()
        .ok()
        .and_then(|d| Some((d, parse_amz_date(d)?)))
        .ok_or_else(|| {
            incomplete(format!(
                "X-Amz-Date {} is not like 20261125T140000Z",
                excerpt_bytes(raw_date.as_bytes())
            ))
        })?;
    let skew = now.duration_since(at).unwrap_or_else(|e| e.duration());
    if skew > MAX_SKEW {
        return Err(refused(
            REQUEST_EXPIRED,
            format!(
                "X-Amz-Date {amz_date} is more than 15 minutes from the server's clock; \
                 correct the client's clock"
            ),
        ));
    }
    if !amz_date.starts_with(auth.date) {
        return Err(refused(
            SIGNATURE_DOES_NOT_MATCH,
            "the credential scope's date is not the X-Amz-Date's",
        ));
    }
    // The path and query are split into slices below: bound them first.
    let target = uri.path().len() + uri.query().map_or(0, str::len);
    if target > MAX_CANONICAL_BYTES {
        return Err(incomplete(format!(
            "the path and query are {target} bytes; at most {MAX_CANONICAL_BYTES} can be signed"
        )));
    }
    let canonical = Canonical::new(method, uri, headers, auth.signed_headers);
    let mut length = Length(0);
    canonical.write(&mut length, &[b'0'; 64]);
    if length.0 > MAX_CANONICAL_BYTES {
        return Err(incomplete(format!(
            "the canonical request would be {} bytes; at most {MAX_CANONICAL_BYTES} are \
             accepted: sign fewer or shorter headers",
            length.0
        )));
    }
    Ok(Prechecked {
        auth,
        amz_date,
        canonical,
    })
}

/// `AWS4<secret>` through the scope: SigV4's signing key.
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    let mut seed = Vec::with_capacity(4 + secret.len());
    seed.extend_from_slice(b"AWS4");
    seed.extend_from_slice(secret.as_bytes());
    let mut key = hmac::Key::new(hmac::HMAC_SHA256, &seed);
    for part in [date, region, service, "aws4_request"] {
        key = hmac::Key::new(
            hmac::HMAC_SHA256,
            hmac::sign(&key, part.as_bytes()).as_ref(),
        );
    }
    key
}

/// SigV4's string to sign.
fn string_to_sign(amz_date: &str, scope: &str, canonical_digest: &[u8; 32]) -> String {
    let hex = hex(canonical_digest);
    format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        // `hex` gives ASCII only.
        std::str::from_utf8(&hex).unwrap_or_default()
    )
}

impl Prechecked<'_> {
    /// Checks the signature over the request and `body` against `secret`.
    pub fn verify(&self, body: &[u8], secret: &str) -> Result<(), Refused> {
        let auth = &self.auth;
        let digest = self.canonical.digest(&sha256(body));
        let key = signing_key(secret, auth.date, auth.region, auth.service);
        let text = string_to_sign(self.amz_date, auth.scope, &digest);
        // ring's verify compares in constant time.
        hmac::verify(&key, text.as_bytes(), &auth.signature).map_err(|_| {
            refused(
                SIGNATURE_DOES_NOT_MATCH,
                "the request signature does not match: sign with the API token as the secret \
                 access key",
            )
        })
    }
}

/// Checks the SigV4 signature of a request against `secret`, at `now`:
/// [`precheck`] then [`Prechecked::verify`].
pub fn verify(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    secret: &str,
    now: SystemTime,
) -> Result<(), Refused> {
    precheck(method, uri, headers, now)?.verify(body, secret)
}

/// Headers botocore leaves unsigned (`SIGNED_HEADERS_BLACKLIST`), and the
/// signature's own.
const UNSIGNED: &[&str] = &[
    "authorization",
    "expect",
    "transfer-encoding",
    "user-agent",
    "x-amzn-trace-id",
];

/// The `Authorization` value a client computes for a request whose `host`
/// and `x-amz-date` headers are set, signing every header as botocore
/// does (for tests and the fuzz target; a client needs no server code).
pub fn sign(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8], secret: &str) -> String {
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let date = amz_date.get(..8).unwrap_or("");
    let scope = format!("{date}/us-east-1/route53/aws4_request");
    let mut names: Vec<&str> = headers
        .keys()
        .map(|n| n.as_str())
        .filter(|n| !UNSIGNED.contains(n))
        .collect();
    names.sort_unstable();
    let signed = names.join(";");
    let canonical = Canonical::new(method, uri, headers, &signed);
    let digest = canonical.digest(&sha256(body));
    let key = signing_key(secret, date, "us-east-1", "route53");
    let tag = hmac::sign(&key, string_to_sign(amz_date, &scope, &digest).as_bytes());
    let mut signature = [0; 32];
    signature.copy_from_slice(tag.as_ref());
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDTEST/{scope}, SignedHeaders={signed}, Signature={}",
        String::from_utf8_lossy(&hex(&signature))
    )
}

/// `t` as an `X-Amz-Date` (`20261125T140000Z`).
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

    fn code(r: Result<(), Refused>) -> &'static str {
        r.unwrap_err().code
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

    /// botocore 1.43 (`SigV4Auth.add_auth`, captured): a path with `%`,
    /// raw UTF-8, dot and empty segments, a query with a bare key and an
    /// empty value out of order, a signed header with inner white space.
    #[test]
    fn botocore_canonicalises_odd_paths_queries_and_headers_as_we_do() {
        let uri: Uri =
            "/2013-04-01/hostedzone/a%25b%E2%82%AC/./c/../d//e/?name=www%20x.&b=2&a=1&a&type="
                .parse()
                .unwrap();
        let date = "20261204T035445Z";
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:8053".parse().unwrap());
        h.insert("x-amz-date", date.parse().unwrap());
        h.insert("x-custom", "  two   words  ".parse().unwrap());
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDTEST/20261204/us-east-1/route53/aws4_request, \
             SignedHeaders=host;x-amz-date;x-custom, \
             Signature=298569ee08b2d77293e22e558ec7a73616ff4942b1ace5ed5d2d97b935aa65a5"
                .parse()
                .unwrap(),
        );
        let at = parse_amz_date(date).unwrap();
        assert_eq!(verify(&Method::GET, &uri, &h, b"", "the-token", at), Ok(()));
    }

    #[test]
    fn wrong_secret_body_time_or_header_is_refused() {
        let post: Uri = "/2013-04-01/hostedzone/Z1/rrset/".parse().unwrap();
        let h = headers(POST_SIGNATURE, DATE);
        let body = POST_BODY.as_bytes();
        assert_eq!(
            code(verify(&Method::POST, &post, &h, body, "other", now())),
            SIGNATURE_DOES_NOT_MATCH
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
            SIGNATURE_DOES_NOT_MATCH
        );
        let late = now() + Duration::from_secs(3600);
        assert_eq!(
            code(verify(&Method::POST, &post, &h, body, "the-token", late)),
            REQUEST_EXPIRED
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
            MISSING_AUTHENTICATION_TOKEN
        );
    }

    /// A GET with `extra` headers, signed by `sign`, then its
    /// Authorization's SignedHeaders replaced by `signed_headers`.
    fn with_signed_headers(extra: &[(&str, &str)], signed_headers: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:8053".parse().unwrap());
        h.insert("x-amz-date", DATE.parse().unwrap());
        for (name, value) in extra {
            h.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let uri: Uri = "/2013-04-01/hostedzone".parse().unwrap();
        let auth = sign(&Method::GET, &uri, &h, b"", "the-token");
        let start = auth.find("SignedHeaders=").unwrap() + "SignedHeaders=".len();
        let end = start + auth[start..].find(',').unwrap();
        let auth = format!("{}{signed_headers}{}", &auth[..start], &auth[end..]);
        h.insert("authorization", auth.parse().unwrap());
        h
    }

    fn precheck_code(h: &HeaderMap) -> (&'static str, String) {
        let uri: Uri = "/2013-04-01/hostedzone".parse().unwrap();
        match precheck(&Method::GET, &uri, h, now()) {
            Ok(_) => panic!("the pre-check passed"),
            Err(r) => (r.code, r.message),
        }
    }

    #[test]
    fn signed_headers_must_be_sorted_unique_present_lower_case_with_host() {
        let cases = [
            ("host;host;x-amz-date", "name each header once"),
            ("host;x-amz-date;x-amz-date", "name each header once"),
            ("x-amz-date;host", "must be sorted"),
            ("Host;x-amz-date", "lower-case"),
            ("host;;x-amz-date", "lower-case"),
            ("host;x-amz-date;x-zz-absent", "does not carry"),
            ("x-amz-date", "must include host"),
        ];
        for (list, needle) in cases {
            let (code, message) = precheck_code(&with_signed_headers(&[], list));
            assert_eq!(code, INCOMPLETE_SIGNATURE, "{list}");
            assert!(message.contains(needle), "{list}: {message}");
        }
        let many: Vec<String> = (0..MAX_SIGNED_HEADERS + 1)
            .map(|i| format!("x-h{i:03}"))
            .collect();
        let extra: Vec<(&str, &str)> = many.iter().map(|n| (n.as_str(), "v")).collect();
        let mut list = vec!["host", "x-amz-date"];
        list.extend(many.iter().map(String::as_str));
        list.sort_unstable();
        let (code, message) = precheck_code(&with_signed_headers(&extra, &list.join(";")));
        assert_eq!(code, INCOMPLETE_SIGNATURE);
        assert!(message.contains("sign fewer"), "{message}");
    }

    #[test]
    fn a_long_header_listed_many_times_is_refused_by_the_precheck() {
        let big = "a".repeat(200_000);
        // 50,000 times: the Authorization header itself is too long.
        let list = format!("host;{}x-amz-date", "x-big;".repeat(50_000));
        let (code, message) = precheck_code(&with_signed_headers(&[("x-big", &big)], &list));
        assert_eq!(code, INCOMPLETE_SIGNATURE);
        assert!(message.contains("at most 4096"), "{message}");
        // Under the Authorization bound, the repeat is refused.
        let list = format!("host;{}x-amz-date", "x-big;".repeat(500));
        let (code, message) = precheck_code(&with_signed_headers(&[("x-big", &big)], &list));
        assert_eq!(code, INCOMPLETE_SIGNATURE);
        assert!(message.contains("once"), "{message}");
        // Listed once, it is still too large to sign.
        let (code, message) = precheck_code(&with_signed_headers(
            &[("x-big", &big)],
            "host;x-amz-date;x-big",
        ));
        assert_eq!(code, INCOMPLETE_SIGNATURE);
        assert!(message.contains("canonical request"), "{message}");
    }

    #[test]
    fn malformed_authorization_headers_are_incomplete_signatures() {
        let scope = "AKID/20261125/us-east-1/route53/aws4_request";
        let sig = "0".repeat(64);
        let cases = [
            "AWS4-HMAC-SHA256".to_string(),
            "Basic dXNlcjpwYXNz".to_string(),
            format!("AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host;x-amz-date"),
            format!(
                "AWS4-HMAC-SHA256 Credential={scope}, Credential={scope}, \
                 SignedHeaders=host;x-amz-date, Signature={sig}"
            ),
            format!(
                "AWS4-HMAC-SHA256 Credential=AKID/20261125/us-east-1/route53, \
                 SignedHeaders=host;x-amz-date, Signature={sig}"
            ),
            format!(
                "AWS4-HMAC-SHA256 Credential=AKID/2026112X/us-east-1/route53/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature={sig}"
            ),
            format!(
                "AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host;x-amz-date, \
                 Signature=xyz"
            ),
            format!(
                "AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host;x-amz-date, \
                 Signature={sig}{}",
                " ".repeat(MAX_AUTHORIZATION_BYTES)
            ),
        ];
        for auth in cases {
            let mut h = with_signed_headers(&[], "host;x-amz-date");
            h.insert("authorization", auth.parse().unwrap());
            assert_eq!(precheck_code(&h).0, INCOMPLETE_SIGNATURE, "{auth}");
        }
        let mut h = with_signed_headers(&[], "host;x-amz-date");
        h.insert("x-amz-date", "2026-11-25T14:04:18Z".parse().unwrap());
        assert_eq!(precheck_code(&h).0, INCOMPLETE_SIGNATURE);
        h.remove("x-amz-date");
        assert_eq!(precheck_code(&h).0, INCOMPLETE_SIGNATURE);
    }

    /// `%€€` once panicked the decoder (a slice inside `€`); the path is
    /// now encoded as sent, byte by byte.
    #[test]
    fn invalid_percent_escapes_and_raw_utf8_in_the_path_verify_or_refuse() {
        for path in ["/2013-04-01/hostedzone/%€€", "/%", "/a%2", "/%zz/€%"] {
            let uri: Uri = path.parse().unwrap();
            let mut h = HeaderMap::new();
            h.insert("host", "127.0.0.1:8053".parse().unwrap());
            h.insert("x-amz-date", DATE.parse().unwrap());
            let auth = sign(&Method::GET, &uri, &h, b"", "the-token");
            h.insert("authorization", auth.parse().unwrap());
            assert_eq!(
                verify(&Method::GET, &uri, &h, b"", "the-token", now()),
                Ok(()),
                "{path}"
            );
            assert_eq!(
                code(verify(&Method::GET, &uri, &h, b"", "other", now())),
                SIGNATURE_DOES_NOT_MATCH
            );
        }
    }
}
