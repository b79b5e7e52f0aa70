//! The status page (issue 15) in a real browser: Debian's headless
//! Chromium, driven over WebDriver (`tests/status_page/webdriver.rs`),
//! against the real binary and real HTTP backends on loopback. Plus what
//! a plain HTTP client sees: the tables without JavaScript, the headers,
//! the write rules.
//!
//! A missing Chromium is a failure, not a skip: CI installs it (`.ci/run`)
//! and the message gives the line. Screenshots go to
//! `target/screenshots/status-page/`.

mod common;
#[path = "status_page/webdriver.rs"]
mod webdriver;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Server;
use serde_json::{Value, json};
use webdriver::{Browser, TAB};

/// Health check interval and threshold of every check here.
const INTERVAL: Duration = Duration::from_secs(1);
const THRESHOLD: u32 = 2;
/// How soon a failure must show on the page: the checker's own delay
/// (interval × threshold) plus 2 s for the page.
const BUDGET: Duration = Duration::from_secs(INTERVAL.as_secs() * THRESHOLD as u64 + 2);
/// The API token of the token tests.
const TOKEN: &str = "s3cret-Token-7f0c2a9e4b1d";
/// A check id that would be markup if written raw.
const HOSTILE: &str = r#"<img src=x onerror="alert(1)">&"#;

/// One browser at a time: two Chromiums on a shared 2-core machine make
/// the timing assertions about the machine, not the page.
static ONE_BROWSER: Mutex<()> = Mutex::new(());

fn one_browser() -> std::sync::MutexGuard<'static, ()> {
    ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner())
}

/// A loopback HTTP backend answering 200 while up, else 503.
struct Backend {
    port: u16,
    up: Arc<AtomicBool>,
}

impl Backend {
    fn start() -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let flag = up.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let flag = flag.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let response: &[u8] = if flag.load(Ordering::SeqCst) {
                        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nOK\n"
                    } else {
                        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\nConnection: close\r\n\r\nDOWN\n"
                    };
                    let _ = stream.write_all(response);
                });
            }
        });
        Backend { port, up }
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }
}

/// Three backends behind `www.s.test.` (multivalue: .1 .2 .3) and
/// `app.s.test.` (failover: web-a primary .1, web-c secondary .3), plus
/// a disabled check with a hostile id.
struct Setup {
    server: Server,
    backends: Vec<Backend>,
}

impl Setup {
    fn start(token: bool) -> Setup {
        let backends: Vec<Backend> = (0..3).map(|_| Backend::start()).collect();
        let mut config = String::from("[server]\napi = \"127.0.0.1:0\"\ndata = \"e.db\"\n");
        if token {
            config.push_str("api_token_file = \"token\"\n");
        }
        for (id, b) in ["web-a", "web-b", "web-c"].iter().zip(&backends) {
            config.push_str(&format!(
                "\n[[health_check]]\nid = \"{id}\"\ntype = \"http\"\nip = \"127.0.0.1\"\nport = {}\npath = \"/\"\ninterval = \"{}s\"\nfailure_threshold = {THRESHOLD}\ntimeout = \"1s\"\n",
                b.port,
                INTERVAL.as_secs()
            ));
        }
        config.push_str(&format!(
            "\n[[health_check]]\nid = '{HOSTILE}'\ntype = \"tcp\"\nip = \"127.0.0.1\"\nport = 9\ndisabled = true\n"
        ));
        config.push_str("\n[[zone]]\nname = \"s.test.\"\n");
        let record = |name: &str, routing: &str, set: &str, last: u8, extra: &str| {
            format!(
                "\n[[zone.record]]\nname = \"{name}\"\ntype = \"A\"\nttl = 5\nrouting = \"{routing}\"\nset = \"{set}\"\nvalue = \"192.0.2.{last}\"\nhealth_check = \"{set}\"\n{extra}"
            )
        };
        for (i, set) in ["web-a", "web-b", "web-c"].iter().enumerate() {
            config.push_str(&record("www", "multivalue", set, i as u8 + 1, ""));
        }
        config.push_str(&record(
            "app",
            "failover",
            "web-a",
            1,
            "failover = \"primary\"\n",
        ));
        config.push_str(&record(
            "app",
            "failover",
            "web-c",
            3,
            "failover = \"secondary\"\n",
        ));
        let files: &[(&str, &str)] = if token { &[("token", TOKEN)] } else { &[] };
        let server = Server::start_with_files(&config, files);
        Setup { server, backends }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.api_url())
    }
}

fn screenshot(browser: &Browser, name: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/screenshots/status-page")
        .join(format!("{name}.png"));
    browser.screenshot(&path);
}

/// Leaves a mark on the page's window: a reload would wipe it.
fn mark(browser: &Browser) {
    browser.js("window.__noReload = 'kept'; return true;", json!([]));
}

fn still_marked(browser: &Browser) -> bool {
    browser.js("return window.__noReload === 'kept';", json!([])) == json!(true)
}

/// The state cell of a check's row on `/checks`.
fn state_of(browser: &Browser, check: &str) -> Option<String> {
    browser.text_of(&format!(
        "#checks tbody tr[data-check='{check}'] td.state-cell"
    ))
}

/// The sampled answers of a name on `/names`, one string per sample.
fn samples_of(browser: &Browser, name: &str) -> Vec<String> {
    browser.texts_of(&format!("section.name[data-name='{name}'] ol.samples li"))
}

/// `data-in` of a record's row on `/names`.
fn in_answer(browser: &Browser, name: &str, set: &str) -> Option<String> {
    let cell = format!("section.name[data-name='{name}'] tr[data-set='{set}'] td.in-answer");
    browser.text_of(&cell)
}

fn wait_all_healthy(browser: &Browser) {
    browser.wait_for(
        Duration::from_secs(15),
        "the three probed checks healthy",
        |b| (b.count("#checks tbody tr[data-state='healthy']") == 3).then_some(()),
    );
}

#[test]
fn a_failing_backend_shows_on_the_open_page_without_a_reload_within_the_budget() {
    let _one = one_browser();
    let s = Setup::start(false);
    let browser = Browser::start(1280, 1000);
    browser.goto(&s.url("/checks"));
    wait_all_healthy(&browser);
    let hostile = browser.text_of("#checks tbody tr[data-state='disabled'] th a");
    assert_eq!(
        hostile.as_deref(),
        Some(HOSTILE),
        "a hostile id shows as text"
    );
    screenshot(&browser, "checks-all-healthy");
    mark(&browser);

    let failed = Instant::now();
    s.backends[1].set_up(false);
    browser.wait_for(BUDGET, "web-b unhealthy on /checks", |b| {
        (state_of(b, "web-b")? == "unhealthy").then_some(())
    });
    let took = failed.elapsed();
    assert!(
        took <= BUDGET,
        "web-b showed unhealthy after {took:?}, over {BUDGET:?}"
    );
    assert!(still_marked(&browser), "the page was reloaded");
    let failure = browser.text_of("tr[data-check='web-b'] td[data-label='Last failure']");
    assert!(
        failure.unwrap_or_default().contains("HTTP 503"),
        "the reason shows"
    );
    screenshot(&browser, "checks-web-b-unhealthy");

    // The names page: web-b already out of www; fail web-a while it is
    // open, and watch www and the failover name change.
    browser.goto(&s.url("/names"));
    browser.wait_for(Duration::from_secs(5), "web-b out of www", |b| {
        (in_answer(b, "www.s.test.", "web-b")? == "no").then_some(())
    });
    assert_eq!(
        in_answer(&browser, "www.s.test.", "web-a").as_deref(),
        Some("yes")
    );
    assert!(
        samples_of(&browser, "app.s.test.")
            .iter()
            .all(|a| a == "192.0.2.1")
    );
    mark(&browser);
    let failed = Instant::now();
    s.backends[0].set_up(false);
    browser.wait_for(BUDGET, "www and app answered by web-c alone", |b| {
        let www = samples_of(b, "www.s.test.");
        let app = samples_of(b, "app.s.test.");
        let moved = in_answer(b, "www.s.test.", "web-a")? == "no"
            && !www.is_empty()
            && www.iter().all(|a| a == "192.0.2.3")
            && !app.is_empty()
            && app.iter().all(|a| a == "192.0.2.3");
        moved.then_some(())
    });
    let took = failed.elapsed();
    assert!(
        took <= BUDGET,
        "the answers changed after {took:?}, over {BUDGET:?}"
    );
    assert!(still_marked(&browser), "the page was reloaded");
    let why = browser
        .text_of("section.name[data-name='app.s.test.'] tr[data-set='web-c'] td.reason")
        .unwrap_or_default();
    assert!(
        why.contains("secondary"),
        "the service's reason shows: {why}"
    );
    screenshot(&browser, "names-failover");

    // The overview counts them; the transitions are listed.
    browser.goto(&s.url("/"));
    let unhealthy = browser.text_of("a.count-unhealthy .n");
    assert_eq!(unhealthy.as_deref(), Some("2"));
    let events = browser.text_of("#events").unwrap_or_default();
    assert!(
        events.contains("web-a") && events.contains("web-b"),
        "{events}"
    );
    assert!(browser.text_of("#h-nodes").is_some(), "the place for nodes");
    screenshot(&browser, "overview");

    // A check's page: the timeline and the log, and the override switch
    // changes what DNS follows.
    browser.goto(&s.url("/checks/web-c"));
    let title = browser.text_of("svg.timeline title").unwrap_or_default();
    assert!(title.contains("web-c"), "{title}");
    browser.wait_for(Duration::from_secs(5), "results on the timeline", |b| {
        (b.count("svg.timeline rect.res-pass") > 0).then_some(())
    });
    browser.click(&browser.find("#force-unhealthy"));
    browser.wait_for(Duration::from_secs(5), "web-c forced unhealthy", |b| {
        b.text_of("#check-head")?
            .contains("forced unhealthy")
            .then_some(())
    });
    let (_, status) = get_json(&s.url("/v1/health-checks/web-c/status"));
    assert_eq!(status["override_status"], "unhealthy");
    assert_eq!(status["status"], "unhealthy");
    screenshot(&browser, "check-web-c-forced");
    browser.click(&browser.find("#force-release"));
    browser.wait_for(Duration::from_secs(5), "web-c released", |b| {
        (b.text_of("#check-head")?.contains("override: none")).then_some(())
    });
    let (_, status) = get_json(&s.url("/v1/health-checks/web-c/status"));
    assert!(status.get("override_status").is_none(), "{status}");
    // Transitions are written by a task of their own: the log follows.
    browser.wait_for(
        Duration::from_secs(5),
        "both overrides in the event log",
        |b| {
            let log = b.text_of("#check-events")?;
            (log.contains("operator override: unhealthy")
                && log.contains("operator override released"))
            .then_some(())
        },
    );
}

/// Tabs from the top of the page until `target` (a selector) has the
/// focus; returns what was focused on the way.
fn tab_to(browser: &Browser, target: &str, limit: usize) -> Vec<String> {
    browser.js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); return true;", json!([]));
    let mut seen = Vec::new();
    for _ in 0..limit {
        browser.press(TAB);
        let here = browser.js(
            "var e = document.activeElement; return [e.id || e.getAttribute('data-key') || e.textContent.trim().slice(0, 30), e.matches(arguments[0])];",
            json!([target]),
        );
        seen.push(here[0].as_str().unwrap_or("").to_string());
        if here[1] == json!(true) {
            return seen;
        }
    }
    panic!("Tab never reached {target}; focus went through {seen:?}");
}

/// Every form control with a label, every button with a name, every
/// table with a caption and column headers: the problems found.
const LABEL_AUDIT: &str = r#"
var problems = [];
document.querySelectorAll('input, select, textarea').forEach(function (e) {
  if (e.type === 'hidden') return;
  if (!(e.labels && e.labels.length) && !e.getAttribute('aria-label')) problems.push('unlabelled ' + e.outerHTML.slice(0, 80));
});
document.querySelectorAll('button').forEach(function (e) {
  if (!e.textContent.trim() && !e.getAttribute('aria-label')) problems.push('nameless button');
});
document.querySelectorAll('table').forEach(function (t) {
  if (!t.caption || !t.caption.textContent.trim()) problems.push('table without caption');
  t.querySelectorAll('thead th').forEach(function (th) { if (th.getAttribute('scope') !== 'col') problems.push('th without scope'); });
});
document.querySelectorAll('form').forEach(function (f) {
  if (f.getAttribute('role') === 'search' && !f.getAttribute('aria-label')) problems.push('search form without a name');
});
if (!document.documentElement.lang) problems.push('no lang');
if (document.querySelectorAll('h1').length !== 1) problems.push('not one h1');
return problems;
"#;

#[test]
fn keyboard_reaches_the_filter_and_the_override_and_every_control_is_labelled() {
    let _one = one_browser();
    let s = Setup::start(false);
    let browser = Browser::start(1280, 1000);
    for path in [
        "/",
        "/checks",
        "/names?ask=www.s.test.",
        "/checks/web-a",
        "/checks/web-b",
    ] {
        browser.goto(&s.url(path));
        let problems = browser.js(LABEL_AUDIT, json!([]));
        assert_eq!(problems, json!([]), "{path}");
    }

    browser.goto(&s.url("/checks"));
    wait_all_healthy(&browser);
    let path = tab_to(&browser, "#filter-q", 12);
    assert_eq!(
        path.first().map(String::as_str),
        Some("Skip to content"),
        "{path:?}"
    );
    let visible = browser.js(
        "var r = document.activeElement.getBoundingClientRect(); var s = getComputedStyle(document.activeElement); return r.width > 0 && s.outlineStyle !== 'none';",
        json!([]),
    );
    assert_eq!(
        visible,
        json!(true),
        "the focused filter shows a focus ring"
    );
    mark(&browser);
    browser.type_into(&browser.find("#filter-q"), "web-b");
    browser.wait_for(Duration::from_secs(5), "the filter applied", |b| {
        let rows = b.count("#checks tbody tr[data-check]");
        (rows == 1 && state_of(b, "web-b").is_some()).then_some(())
    });
    assert!(
        browser.url().contains("q=web-b"),
        "the filter is in the URL: {}",
        browser.url()
    );
    browser.click(&browser.find("#sort-latency"));
    browser.wait_for(Duration::from_secs(5), "sorted by latency", |b| {
        let th = b.js("var a = document.getElementById('sort-latency'); return a && a.parentElement.getAttribute('aria-sort');", json!([]));
        (th == json!("descending")).then_some(())
    });
    assert!(
        still_marked(&browser),
        "filtering and sorting reloaded the page"
    );
    screenshot(&browser, "checks-filtered");

    browser.goto(&s.url("/checks/web-a"));
    let path = tab_to(&browser, "#force-healthy", 12);
    assert!(path.iter().any(|p| p == "Checks"), "{path:?}");
    browser.press(TAB);
    let next = browser.js("return document.activeElement.id;", json!([]));
    assert_eq!(next, json!("force-unhealthy"));
    browser.press(TAB);
    let next = browser.js("return document.activeElement.id;", json!([]));
    assert_eq!(next, json!("force-release"));
    screenshot(&browser, "check-override-focused");
}

#[test]
fn at_phone_width_nothing_scrolls_sideways() {
    let _one = one_browser();
    let s = Setup::start(false);
    let browser = Browser::start(390, 844);
    browser.emulate_phone(390, 844);
    for (path, name) in [
        ("/", "phone-overview"),
        ("/checks", "phone-checks"),
        ("/checks/web-a", "phone-check"),
        ("/names", "phone-names"),
    ] {
        browser.goto(&s.url(path));
        browser.wait_for(Duration::from_secs(10), "some results", |b| {
            (b.count("[data-live]") > 0).then_some(())
        });
        let sizes = browser.js(
            "return [document.documentElement.scrollWidth, window.innerWidth, document.body.scrollWidth];",
            json!([]),
        );
        let (scroll, inner) = (sizes[0].as_u64().unwrap(), sizes[1].as_u64().unwrap());
        assert_eq!(inner, 390, "the viewport is a phone's");
        assert!(
            scroll <= inner,
            "{path}: {scroll} px wide in a {inner} px viewport"
        );
        screenshot(&browser, name);
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// Status, headers (lower-case name → value) and body of a GET.
fn get(url: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>, String) {
    let mut request = agent().get(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let mut response = request.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    (status, headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn get_json(url: &str) -> (u16, Value) {
    let (status, _, body) = get(url, &[]);
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

fn post(url: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut request = agent().post(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let mut response = request
        .send(body)
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

#[test]
fn without_javascript_the_tables_are_html_with_states_and_safe_headers() {
    let s = Setup::start(false);
    let deadline = Instant::now() + Duration::from_secs(15);
    let body = loop {
        let (status, headers, body) = get(&s.url("/checks"), &[]);
        assert_eq!(status, 200);
        assert_eq!(
            header(&headers, "content-type"),
            Some("text/html; charset=utf-8")
        );
        let csp = header(&headers, "content-security-policy").unwrap_or("");
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
        assert_eq!(header(&headers, "referrer-policy"), Some("no-referrer"));
        assert_eq!(header(&headers, "x-frame-options"), Some("DENY"));
        if body.matches("data-state=\"healthy\"").count() == 3 || Instant::now() > deadline {
            break body;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(body.contains("<table"), "{body}");
    for id in ["web-a", "web-b", "web-c"] {
        assert!(
            body.contains(&format!("<tr data-check=\"{id}\" data-state=\"healthy\">")),
            "{id}: {body}"
        );
    }
    assert!(body.contains(">disabled (healthy)</span>"), "{body}");
    assert!(!body.contains("<img"), "the hostile id is escaped");
    assert!(body.contains("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;"));
    assert!(!body.contains("<script>"), "no inline script");
    assert!(body.contains(r#"<script src="/assets/page.js" defer></script>"#));
    // Filtering and sorting are the server's: the same answers without JS.
    let (_, _, filtered) = get(&s.url("/checks?q=web-b&sort=check"), &[]);
    assert_eq!(filtered.matches("<tr data-check=").count(), 1, "{filtered}");
    let (_, _, names) = get(&s.url("/names"), &[]);
    assert!(names.contains("data-name=\"www.s.test.\"") && names.contains("data-in=\"yes\""));
    let (status, headers, js) = get(&s.url("/assets/page.js"), &[]);
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(js.contains("data-live"));
    let tag = header(&headers, "etag").unwrap().to_string();
    let (status, _, _) = get(&s.url("/assets/page.js"), &[("if-none-match", &tag)]);
    assert_eq!(status, 304);

    // The override's rules: JSON only, and only from this origin.
    let url = s.url("/checks/web-a/override");
    let host = s.server.api.unwrap().to_string();
    let origin = format!("http://{host}");
    let json_ct = ("content-type", "application/json");
    let (status, _) = post(
        &url,
        &[("content-type", "text/plain"), ("origin", &origin)],
        r#"{"status":"unhealthy"}"#,
    );
    assert_eq!(status, 415, "a cross-site form's content type");
    let (status, _) = post(
        &url,
        &[json_ct, ("origin", "http://evil.example")],
        r#"{"status":"unhealthy"}"#,
    );
    assert_eq!(status, 403, "another origin");
    let (status, _) = post(
        &url,
        &[json_ct, ("sec-fetch-site", "same-site")],
        r#"{"status":"unhealthy"}"#,
    );
    assert_eq!(status, 403, "another site");
    let (_, state) = get_json(&s.url("/v1/health-checks/web-a/status"));
    assert!(
        state.get("override_status").is_none(),
        "nothing was forced: {state}"
    );
    let (status, body) = post(
        &url,
        &[json_ct, ("origin", &origin)],
        r#"{"status":"unhealthy"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let (_, state) = get_json(&s.url("/v1/health-checks/web-a/status"));
    assert_eq!(state["override_status"], "unhealthy");
    // Rebinding: a page's own name as Host reads nothing.
    let (status, _, _) = get(&s.url("/checks"), &[("host", "rebound.attacker.example")]);
    assert_eq!(status, 403);
}

#[test]
fn with_a_token_the_page_asks_once_and_the_token_stays_out_of_urls_and_logs() {
    let s = Setup::start(true);
    // Plain HTTP: no token, no page; the bearer token works as for /v1.
    let (status, headers, _) = get(&s.url("/checks"), &[]);
    assert_eq!(status, 303);
    assert_eq!(header(&headers, "location"), Some("/login?next=%2Fchecks"));
    let bearer = format!("Bearer {TOKEN}");
    let (status, _, body) = get(&s.url("/checks"), &[("authorization", &bearer)]);
    assert_eq!(status, 200);
    assert!(body.contains("<tr data-check=\"web-a\""));
    let (status, _, _) = get(&s.url("/checks"), &[("authorization", "Bearer wrong")]);
    assert_eq!(status, 303);
    let (status, _) = post(
        &s.url("/checks/web-a/override"),
        &[("content-type", "application/json")],
        r#"{"status":"unhealthy"}"#,
    );
    assert_eq!(status, 401, "no write without the token");
    let (status, _, _) = get(&s.url("/v1/zones"), &[]);
    assert_eq!(status, 401, "/v1 still wants the bearer token");

    let _one = one_browser();
    let browser = Browser::start(1280, 1000);
    browser.goto(&s.url("/checks/web-b"));
    assert!(browser.url().contains("/login?next="), "{}", browser.url());
    browser.type_into(&browser.find("#token"), "not-the-token");
    browser.click(&browser.find("form.login button"));
    // The form posts and the refusal is a new page: wait for it rather
    // than reading the page that is being left.
    let error = browser.wait_for(Duration::from_secs(5), "the refusal", |b| {
        b.text_of("#login-error").filter(|t| !t.is_empty())
    });
    assert!(error.contains("not the API token"), "{error}");
    screenshot(&browser, "login-refused");
    browser.type_into(&browser.find("#token"), TOKEN);
    browser.click(&browser.find("form.login button"));
    browser.wait_for(
        Duration::from_secs(5),
        "the check page after sign-in",
        |b| b.url().ends_with("/checks/web-b").then_some(()),
    );
    let cookies = browser.cookies();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let cookie = &cookies[0];
    assert_eq!(cookie["name"], "eightfold_session");
    assert_eq!(cookie["httpOnly"], true);
    assert_eq!(cookie["sameSite"], "Strict");
    assert!(!cookie["value"].as_str().unwrap().contains(TOKEN));
    let script_sees = browser.js("return document.cookie;", json!([]));
    assert_eq!(script_sees, json!(""), "scripts cannot read the session");

    // Reads and the override work on the session.
    browser.click(&browser.find("#force-unhealthy"));
    browser.wait_for(Duration::from_secs(5), "web-b forced", |b| {
        b.text_of("#check-head")?
            .contains("forced unhealthy")
            .then_some(())
    });
    browser.click(&browser.find("#force-release"));
    browser.wait_for(Duration::from_secs(5), "web-b released", |b| {
        b.text_of("#check-head")?
            .contains("override: none")
            .then_some(())
    });
    for path in ["/", "/checks", "/names?ask=app.s.test."] {
        browser.goto(&s.url(path));
        assert!(
            browser.url().ends_with(path),
            "{path}: at {}",
            browser.url()
        );
        assert!(browser.text_of("main h1").is_some_and(|h| !h.is_empty()));
    }
    screenshot(&browser, "signed-in-names");
    browser.goto(&s.url("/checks"));
    browser.wait_for(Duration::from_secs(5), "a live refresh", |b| {
        b.text_of("#live-status")?.starts_with("Live").then_some(())
    });
    browser.click(&browser.find("form.signout button"));
    browser.wait_for(Duration::from_secs(5), "the sign-in form", |b| {
        b.url().contains("/login").then_some(())
    });
    browser.goto(&s.url("/checks"));
    assert!(
        browser.url().contains("/login"),
        "signed out: {}",
        browser.url()
    );

    let urls = browser.requested_urls();
    assert!(
        urls.iter().any(|u| u.contains("/login")),
        "the log saw the visit: {urls:?}"
    );
    for u in &urls {
        assert!(!u.contains(TOKEN), "the token is in a URL: {u}");
    }
    assert!(
        !s.server.logs().contains(TOKEN),
        "the token is in the server's log"
    );
}
