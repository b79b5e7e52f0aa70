//! Properties of the SigV4 check (`api::route53::sigv4`) on arbitrary
//! requests: it never panics, what it allocates depends on the request
//! target alone (never on the headers, however long or often listed), a
//! request signed with the token verifies and one signed otherwise or
//! changed does not.
//!
//! A counting global allocator measures the peak of live heap bytes during
//! each check, per thread, so parallel tests do not disturb each other.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use eightfold::api::route53::sigv4;
use proptest::prelude::*;

struct Counting;

thread_local! {
    // `const` initialisers without destructors: touching them never
    // allocates, so the allocator may use them.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

/// Notes `delta` live bytes on this thread while counting.
fn note(delta: i64) {
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = LIVE.try_with(|live| {
                live.set(live.get() + delta);
                let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
            });
        }
    });
}

fn size(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(size(layout.size()));
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(size(layout.size()));
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as the new block before the old one is freed: a
        // reallocation's true peak.
        note(size(new_size));
        note(-size(layout.size()));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(-size(layout.size()));
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// `f`'s result and the peak of heap bytes it held at once on this thread.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LIVE.with(|l| l.set(0));
    PEAK.with(|p| p.set(0));
    COUNTING.with(|on| on.set(true));
    let out = f();
    COUNTING.with(|on| on.set(false));
    (out, usize::try_from(PEAK.with(Cell::get)).unwrap_or(0))
}

/// The bound on what a check may hold: 16 bytes per `/` and `&` of the
/// target (the slices it sorts), a constant for the rest (messages, the
/// string to sign, the key). Nothing grows with the headers.
fn allocation_bound(uri: &Uri) -> usize {
    let target = uri.path().len() + uri.query().map_or(0, str::len);
    16 * (target + 2) + 16 * 1024
}

const DATE: &str = "20261125T140418Z";
const TOKEN: &str = "the-token";

fn now() -> SystemTime {
    humantime::parse_rfc3339("2026-11-25T14:04:18Z").unwrap() + Duration::from_secs(30)
}

/// A few header names, so that lists repeat and collide.
const NAMES: &[&str] = &[
    "host",
    "x",
    "x-amz-date",
    "x-big",
    "content-type",
    "X-Upper",
    "",
    "x-absent",
];

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::DELETE),
        "[A-Z]{1,12}".prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap()),
    ]
}

/// Request targets as a client or an attacker may send them: escapes
/// valid or not, raw UTF-8, dot segments, empty pairs.
fn target() -> impl Strategy<Value = Uri> {
    let segment = "([a-zA-Z0-9._~-]|%[0-9A-Fa-f]{2}|%|%.|€|é|\\.\\.|\\.){0,6}";
    let path = prop::collection::vec(segment, 0..8).prop_map(|s| format!("/{}", s.join("/")));
    let pair = "([a-zA-Z0-9%=._~-]|€){0,10}";
    let query = prop::option::of(prop::collection::vec(pair, 0..6).prop_map(|p| p.join("&")));
    let long = (1usize..20_000).prop_map(|n| format!("/{}", "a/".repeat(n)));
    let many_pairs = (1usize..20_000).prop_map(|n| format!("/?{}", "&".repeat(n)));
    prop_oneof![
        8 => (path, query).prop_map(|(p, q)| match q {
            Some(q) => format!("{p}?{q}"),
            None => p,
        }),
        1 => long,
        1 => many_pairs,
    ]
    .prop_filter_map("a target http accepts", |t| t.parse::<Uri>().ok())
}

/// Header values: short and varied, or long.
fn value() -> impl Strategy<Value = HeaderValue> {
    prop_oneof![
        4 => "[ -~\t]{0,40}".prop_map(|v| HeaderValue::from_str(&v).unwrap()),
        2 => prop::collection::vec(any::<u8>(), 0..40)
            .prop_filter_map("a valid header value", |v| HeaderValue::from_bytes(&v).ok()),
        1 => (0usize..200_000).prop_map(|n| HeaderValue::from_str(&"a".repeat(n)).unwrap()),
    ]
}

/// A SignedHeaders list: names from [`NAMES`], repeated up to thousands
/// of times, sorted or not.
fn signed_headers() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(
            (
                0..NAMES.len(),
                prop_oneof![6 => 1usize..3, 1 => 1usize..2000],
            ),
            0..6,
        ),
        prop::bool::weighted(0.8),
    )
        .prop_map(|(picks, sorted)| {
            let mut names: Vec<&str> = picks
                .iter()
                .flat_map(|&(i, times)| std::iter::repeat_n(NAMES[i], times))
                .collect();
            if sorted {
                names.sort_unstable();
            }
            names.join(";")
        })
}

fn authorization() -> impl Strategy<Value = Option<HeaderValue>> {
    let structured = (
        prop_oneof![4 => Just("20261125".to_string()), 1 => "[0-9A-Z]{0,9}"],
        prop_oneof![4 => Just(String::new()), 1 => "[a-z0-9/-]{0,12}"],
        signed_headers(),
        prop_oneof![4 => Just("0".repeat(64)), 1 => "[0-9a-fA-Fz]{0,66}"],
    )
        .prop_filter_map("a valid header value", |(date, rest, list, sig)| {
            HeaderValue::from_str(&format!(
                "AWS4-HMAC-SHA256 Credential=AKID/{date}/us-east-1/route53/aws4_request{rest}, \
                 SignedHeaders={list}, Signature={sig}"
            ))
            .ok()
        });
    prop_oneof![
        1 => Just(None),
        2 => "[ -~]{0,200}".prop_map(|v| HeaderValue::from_str(&v).ok()),
        6 => structured.prop_map(Some),
    ]
}

fn request() -> impl Strategy<Value = (Method, Uri, HeaderMap, Vec<u8>)> {
    (
        method(),
        target(),
        prop::collection::vec((0..NAMES.len(), value()), 0..6),
        prop_oneof![
            6 => Just(DATE.to_string()),
            1 => Just("20261124T140418Z".to_string()),
            1 => "[0-9TZ]{0,17}",
        ],
        authorization(),
        prop::bool::weighted(0.4),
        prop::collection::vec(any::<u8>(), 0..256),
    )
        .prop_map(
            |(method, uri, extra, date, authorization, coherent, body)| {
                let mut headers = HeaderMap::new();
                headers.insert("host", HeaderValue::from_static("127.0.0.1:8053"));
                if let Ok(date) = HeaderValue::from_str(&date) {
                    headers.insert("x-amz-date", date);
                }
                for (i, value) in extra {
                    if let Ok(name) = HeaderName::from_bytes(NAMES[i].as_bytes()) {
                        headers.append(name, value);
                    }
                }
                // Or a header that passes the pre-check unless the canonical
                // request is too large: every header present, listed once.
                let authorization = if coherent {
                    let mut names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
                    names.sort_unstable();
                    HeaderValue::from_str(&format!(
                        "AWS4-HMAC-SHA256 Credential=AKID/20261125/us-east-1/route53/aws4_request, \
                     SignedHeaders={}, Signature={}",
                        names.join(";"),
                        "0".repeat(64)
                    ))
                    .ok()
                } else {
                    authorization
                };
                if let Some(a) = authorization {
                    headers.insert("authorization", a);
                }
                (method, uri, headers, body)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any request: an answer, no panic, and a heap peak bounded by the
    /// target's size alone, whatever the headers' sizes and repeats.
    #[test]
    fn verify_never_panics_and_allocates_independently_of_the_headers(
        (method, uri, headers, body) in request()
    ) {
        let (result, peak) = peak_of(|| sigv4::verify(&method, &uri, &headers, &body, TOKEN, now()));
        prop_assert!(
            peak <= allocation_bound(&uri),
            "peak {peak} bytes > bound {} for {} header bytes: {:?}",
            allocation_bound(&uri),
            headers.iter().map(|(n, v)| n.as_str().len() + v.len()).sum::<usize>(),
            result
        );
        // Nothing here was signed with the token.
        prop_assert!(result.is_err());
    }

    /// A request signed with the token verifies when it is within the
    /// bounds (else it is refused as an IncompleteSignature), with the
    /// same bounded peak; another secret or another body does not.
    #[test]
    fn signed_with_the_token_verifies_and_nothing_else_does(
        method in method(),
        uri in target(),
        extra in prop::collection::vec(("x-[a-z]{1,6}", value()), 0..5),
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("127.0.0.1:8053"));
        headers.insert("x-amz-date", HeaderValue::from_static(DATE));
        for (name, value) in extra {
            headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
        }
        let authorization = sigv4::sign(&method, &uri, &headers, &body, TOKEN);
        headers.insert("authorization", authorization.parse().unwrap());
        let (result, peak) = peak_of(|| sigv4::verify(&method, &uri, &headers, &body, TOKEN, now()));
        prop_assert!(peak <= allocation_bound(&uri), "peak {peak}");
        match result {
            Ok(()) => {
                let other = sigv4::verify(&method, &uri, &headers, &body, "other", now());
                prop_assert_eq!(other.unwrap_err().code, sigv4::SIGNATURE_DOES_NOT_MATCH);
                let mut changed = body.clone();
                changed.push(b'!');
                let changed = sigv4::verify(&method, &uri, &headers, &changed, TOKEN, now());
                prop_assert_eq!(changed.unwrap_err().code, sigv4::SIGNATURE_DOES_NOT_MATCH);
            }
            Err(refused) => {
                prop_assert_eq!(refused.code, sigv4::INCOMPLETE_SIGNATURE, "{}", refused.message);
                prop_assert!(
                    authorization.len() > sigv4::MAX_AUTHORIZATION_BYTES
                        || refused.message.contains("at most"),
                    "{}", refused.message
                );
            }
        }
    }

    /// A name listed twice in SignedHeaders is refused, wherever it is.
    #[test]
    fn a_repeated_signed_header_is_refused(extra in prop::collection::vec("x-[a-z]{1,6}", 0..5), at in any::<prop::sample::Index>()) {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("127.0.0.1:8053"));
        headers.insert("x-amz-date", HeaderValue::from_static(DATE));
        for name in &extra {
            headers.insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_static("v"));
        }
        let uri: Uri = "/2013-04-01/hostedzone".parse().unwrap();
        let authorization = sigv4::sign(&Method::GET, &uri, &headers, b"", TOKEN);
        let start = authorization.find("SignedHeaders=").unwrap() + "SignedHeaders=".len();
        let end = start + authorization[start..].find(',').unwrap();
        let names: Vec<&str> = authorization[start..end].split(';').collect();
        let i = at.index(names.len());
        let mut repeated = names.clone();
        repeated.insert(i, names[i]);
        let forged = format!("{}{}{}", &authorization[..start], repeated.join(";"), &authorization[end..]);
        headers.insert("authorization", forged.parse().unwrap());
        let refused = sigv4::verify(&Method::GET, &uri, &headers, b"", TOKEN, now()).unwrap_err();
        prop_assert_eq!(refused.code, sigv4::INCOMPLETE_SIGNATURE);
        prop_assert!(refused.message.contains("once"), "{}", refused.message);
    }
}
