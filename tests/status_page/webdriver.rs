//! Just enough of the W3C WebDriver protocol, spoken over HTTP with ureq,
//! to drive Debian's headless Chromium through `chromedriver`: no client
//! crate, nothing to download.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Where Debian's packages put them.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's `chromium-driver`.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The line that installs both.
pub const APT_LINE: &str = "apt-get install -y chromium chromium-driver";

/// The key every WebDriver element reference is under.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// WebDriver's code for the Tab key.
pub const TAB: &str = "\u{E004}";

/// Fails (not skips) with the install line when the browser is missing:
/// CI installs it, and a developer needs the line.
pub fn require_chromium() {
    for path in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(path).exists(),
            "the status page's browser tests need {path}, which is missing; install it with: {APT_LINE}"
        );
    }
}

/// A running chromedriver with one headless Chromium session; both end on
/// drop.
pub struct Browser {
    driver: Child,
    base: String,
    agent: ureq::Agent,
    _profile: tempfile::TempDir,
}

/// One element of the page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver on a free port and a fresh headless Chromium
    /// with a window of `width` × `height`.
    pub fn start(width: u32, height: u32) -> Browser {
        require_chromium();
        let mut driver = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}; {APT_LINE}"));
        let stdout = driver.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // "ChromeDriver was started successfully on port 36065."
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let _ = tx.send(port);
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("chromedriver did not say which port it listens on");
        let profile = tempfile::tempdir().unwrap();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            agent,
            _profile: profile,
        };
        let args = json!([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", browser._profile.path().display()),
        ]);
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"performance": "ALL"},
        }}});
        let created = browser.raw("POST", "/session", Some(caps));
        let id = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_string();
        browser.base = format!("{}/session/{id}", browser.base);
        browser
    }

    fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self.agent.post(&url).send_json(body.unwrap_or(json!({}))),
        };
        let mut response = response.unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let ok = response.status().is_success();
        let value: Value = response
            .body_mut()
            .read_json()
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: not JSON: {e}"));
        assert!(ok, "WebDriver {method} {path} failed: {value}");
        value["value"].clone()
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.raw(method, path, body)
    }

    /// Opens `url` and waits for it to load.
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// The address bar.
    pub fn url(&self) -> String {
        self.cmd("GET", "/url", None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Runs `script` (a function body; `arguments` are `args`) and
    /// returns what it returns.
    pub fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Every element matching a CSS selector.
    pub fn all(&self, css: &str) -> Vec<Element> {
        self.cmd(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e[ELEMENT].as_str().map(|s| Element(s.to_string())))
        .collect()
    }

    /// The first element matching `css`; panics when there is none.
    pub fn find(&self, css: &str) -> Element {
        self.all(css)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no element matches {css:?} on {}", self.url()))
    }

    /// The text of the first element matching `css`, or `None`. Read in
    /// one script, since the page may swap the element between two
    /// WebDriver calls.
    pub fn text_of(&self, css: &str) -> Option<String> {
        let text = self.js(
            "var e = document.querySelector(arguments[0]); return e ? (e.innerText === undefined ? e.textContent : e.innerText).trim() : null;",
            json!([css]),
        );
        text.as_str().map(String::from)
    }

    /// The texts of every element matching `css`, read at one instant.
    pub fn texts_of(&self, css: &str) -> Vec<String> {
        let texts = self.js(
            "return Array.from(document.querySelectorAll(arguments[0])).map(function (e) { return e.innerText.trim(); });",
            json!([css]),
        );
        texts
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many elements match `css`.
    pub fn count(&self, css: &str) -> usize {
        let n = self.js(
            "return document.querySelectorAll(arguments[0]).length;",
            json!([css]),
        );
        n.as_u64().unwrap_or(0) as usize
    }

    /// Clicks an element.
    pub fn click(&self, e: &Element) {
        self.cmd("POST", &format!("/element/{}/click", e.0), Some(json!({})));
    }

    /// Types `text` into an element.
    pub fn type_into(&self, e: &Element, text: &str) {
        self.cmd(
            "POST",
            &format!("/element/{}/value", e.0),
            Some(json!({ "text": text })),
        );
    }

    /// Presses and releases one key (e.g. [`TAB`]) where the focus is.
    pub fn press(&self, key: &str) {
        self.cmd(
            "POST",
            "/actions",
            Some(
                json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                    {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}
                ]}]}),
            ),
        );
    }

    /// The browser's cookies for the current page, as WebDriver shows them
    /// (`httpOnly`, `sameSite`, `secure` included).
    pub fn cookies(&self) -> Vec<Value> {
        self.cmd("GET", "/cookie", None)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Makes the page's viewport exactly `width` CSS pixels wide, as a
    /// phone's (Chrome DevTools' device emulation).
    pub fn emulate_phone(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/goog/cdp/execute",
            Some(
                json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": {
                    "width": width, "height": height, "deviceScaleFactor": 2, "mobile": true
                }}),
            ),
        );
    }

    /// Every URL the browser requested since the last call (Chrome's
    /// performance log: `Network.requestWillBeSent`).
    pub fn requested_urls(&self) -> Vec<String> {
        let entries = self.cmd("POST", "/se/log", Some(json!({"type": "performance"})));
        entries
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(e["message"].as_str()?).ok())
            .filter(|m| m["message"]["method"] == "Network.requestWillBeSent")
            .filter_map(|m| {
                m["message"]["params"]["request"]["url"]
                    .as_str()
                    .map(String::from)
            })
            .collect()
    }

    /// Writes a PNG of the viewport to `path`.
    pub fn screenshot(&self, path: &Path) {
        let data = self.cmd("GET", "/screenshot", None);
        let png = base64_decode(data.as_str().expect("a base64 screenshot"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// Polls `probe` until it returns `Some`, or panics with `what` and
    /// the last page text after `limit`.
    pub fn wait_for<T>(
        &self,
        limit: Duration,
        what: &str,
        mut probe: impl FnMut(&Browser) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = probe(self) {
                return v;
            }
            if Instant::now() > deadline {
                let page = self.text_of("main").unwrap_or_default();
                panic!("waited {limit:?} for {what}; the page shows:\n{page}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.base).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter_map(value) {
        acc = (acc << 6) | c;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
