//! The Route 53 API's SigV4 check (`api::route53::sigv4::verify`) on
//! arbitrary requests: method, target, headers (some very long), an
//! Authorization header raw, structured (with SignedHeaders lists that
//! repeat names thousands of times), coherent (every header listed once)
//! or truly signed, and a body. It must not panic; a request signed with
//! the token must verify unless it is over the bounds; nothing else may
//! verify; and the heap it holds at once must stay under a bound set by
//! the request target alone (a counting global allocator), never growing
//! with the headers.
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use arbitrary::Arbitrary;
use eightfold::api::route53::sigv4;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use libfuzzer_sys::fuzz_target;

struct Counting;

thread_local! {
    // `const` initialisers without destructors: touching them never
    // allocates, so the allocator may use them.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

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

const TOKEN: &str = "the-token";
const DATE: &str = "20261125T140418Z";

fn now() -> SystemTime {
    static NOW: OnceLock<SystemTime> = OnceLock::new();
    *NOW.get_or_init(|| {
        humantime::parse_rfc3339("2026-11-25T14:04:18Z").unwrap() + Duration::from_secs(30)
    })
}

/// Header names picked by index, so that lists repeat and collide.
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

#[derive(Arbitrary, Debug)]
enum Name<'a> {
    Pick(u8),
    Text(&'a str),
}

impl Name<'_> {
    fn as_str(&self) -> &str {
        match self {
            Name::Pick(i) => NAMES[usize::from(*i) % NAMES.len()],
            Name::Text(t) => t,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Authorization<'a> {
    None,
    Raw(&'a [u8]),
    Structured {
        date: Option<&'a str>,
        rest: &'a str,
        /// Each name with how many times it is listed (up to 65,535).
        list: Vec<(Name<'a>, u16)>,
        sorted: bool,
        signature: Option<&'a str>,
    },
    /// Every header present, listed once: passes the pre-check unless
    /// the canonical request is too large.
    Coherent,
    /// Signed with the token, as a client does.
    Signed,
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    method: &'a str,
    target: &'a str,
    headers: Vec<(Name<'a>, &'a [u8])>,
    /// A long header: its name and length (up to 262,143 bytes).
    long: Option<(Name<'a>, u32)>,
    date: Option<&'a str>,
    authorization: Authorization<'a>,
    body: &'a [u8],
}

fn header_name(name: &Name<'_>) -> Option<HeaderName> {
    HeaderName::from_bytes(name.as_str().as_bytes()).ok()
}

fn fuzz(input: Input<'_>) {
    let method = Method::from_bytes(input.method.as_bytes()).unwrap_or(Method::GET);
    let uri: Uri = input
        .target
        .parse()
        .unwrap_or_else(|_| Uri::from_static("/"));
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("127.0.0.1:8053"));
    headers.insert(
        "x-amz-date",
        HeaderValue::from_str(input.date.unwrap_or(DATE)).unwrap_or(HeaderValue::from_static(DATE)),
    );
    for (name, value) in &input.headers {
        if let (Some(name), Ok(value)) = (header_name(name), HeaderValue::from_bytes(value)) {
            headers.append(name, value);
        }
    }
    if let Some((name, len)) = &input.long
        && let Some(name) = header_name(name)
    {
        let value = "a".repeat((*len % (1 << 18)) as usize);
        headers.append(name, HeaderValue::from_str(&value).unwrap());
    }
    let signed = matches!(input.authorization, Authorization::Signed);
    let authorization = match input.authorization {
        Authorization::None => None,
        Authorization::Raw(bytes) => HeaderValue::from_bytes(bytes).ok(),
        Authorization::Structured {
            date,
            rest,
            list,
            sorted,
            signature,
        } => {
            let mut names: Vec<&str> = list
                .iter()
                .flat_map(|(name, times)| std::iter::repeat_n(name.as_str(), usize::from(*times)))
                .collect();
            if sorted {
                names.sort_unstable();
            }
            HeaderValue::from_str(&format!(
                "AWS4-HMAC-SHA256 Credential=AKID/{}/us-east-1/route53/aws4_request{rest}, \
                 SignedHeaders={}, Signature={}",
                date.unwrap_or("20261125"),
                names.join(";"),
                signature
                    .unwrap_or("0000000000000000000000000000000000000000000000000000000000000000")
            ))
            .ok()
        }
        Authorization::Coherent => {
            let mut names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
            names.sort_unstable();
            HeaderValue::from_str(&format!(
                "AWS4-HMAC-SHA256 Credential=AKID/20261125/us-east-1/route53/aws4_request, \
                 SignedHeaders={}, Signature={}",
                names.join(";"),
                "0".repeat(64)
            ))
            .ok()
        }
        Authorization::Signed => {
            HeaderValue::from_str(&sigv4::sign(&method, &uri, &headers, input.body, TOKEN)).ok()
        }
    };
    if let Some(a) = authorization {
        headers.insert("authorization", a);
    }

    LIVE.with(|l| l.set(0));
    PEAK.with(|p| p.set(0));
    COUNTING.with(|on| on.set(true));
    let result = sigv4::verify(&method, &uri, &headers, input.body, TOKEN, now());
    COUNTING.with(|on| on.set(false));
    let peak = usize::try_from(PEAK.with(Cell::get)).unwrap_or(0);

    let target = uri.path().len() + uri.query().map_or(0, str::len);
    let bound = 16 * (target + 2) + 16 * 1024;
    assert!(
        peak <= bound,
        "held {peak} bytes at once, over {bound}, for a target of {target} bytes"
    );
    let x_amz_date_is_ours = headers.get("x-amz-date").is_some_and(|d| d == DATE);
    match result {
        Ok(()) => assert!(signed, "verified without being signed with the token"),
        Err(refused) if signed && x_amz_date_is_ours => assert_eq!(
            refused.code,
            sigv4::INCOMPLETE_SIGNATURE,
            "a request signed with the token was refused: {}",
            refused.message
        ),
        Err(_) => {}
    }
}

fuzz_target!(|input: Input<'_>| fuzz(input));
