//! Test harness: runs the real `eightfold` binary on loopback port 0 and
//! queries it with `dig`, the independent client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub mod postgres;
pub mod reference;
pub mod votes;

/// Where a test server keeps its data: the store's tests run on both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data {
    /// `eightfold.db` in the server's folder.
    Sqlite,
    /// A fresh database on the test binary's PostgreSQL server.
    Postgres,
}

impl Data {
    /// The `[server] data` value (a TOML string's content).
    pub fn value(self) -> String {
        match self {
            Data::Sqlite => "eightfold.db".into(),
            Data::Postgres => postgres::fresh_database(),
        }
    }
}

/// How long the server may take to log its `ready` line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running server, killed on drop.
pub struct Server {
    child: Option<Child>,
    /// Every DNS address it bound (UDP and TCP on each).
    pub dns: Vec<SocketAddr>,
    /// The API address, when the API runs.
    pub api: Option<SocketAddr>,
    logs: Arc<Mutex<Vec<String>>>,
    /// Folder holding the config, zone files and database.
    pub dir: tempfile::TempDir,
}

/// Path of the binary under test.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_eightfold"))
}

impl Server {
    /// Starts with `config` (TOML) and no other files.
    pub fn start(config: &str) -> Server {
        Server::start_with_files(config, &[])
    }

    /// Writes `files` (name, content) and `eightfold.toml` into a fresh
    /// folder, then starts `eightfold serve` there on 127.0.0.1:0.
    pub fn start_with_files(config: &str, files: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, content) in files {
            let path = dir.path().join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            std::fs::write(path, content).unwrap();
        }
        let config_path = dir.path().join("eightfold.toml");
        std::fs::write(&config_path, config).unwrap();
        Server::spawn(
            dir,
            &[
                "serve",
                "--config",
                config_path.to_str().unwrap(),
                "--dns",
                "127.0.0.1:0",
            ],
        )
    }

    /// Starts the binary with `args` in `dir` and waits for its ready line.
    pub fn spawn(dir: tempfile::TempDir, args: &[&str]) -> Server {
        let mut child = Command::new(binary())
            .args(args)
            .current_dir(dir.path())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start eightfold");
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addrs) = ready_addresses(&line) {
                    let _ = ready_tx.send((addrs, ready_api(&line)));
                }
                sink.lock().unwrap().push(line);
            }
        });
        let mut server = Server {
            child: Some(child),
            dns: Vec::new(),
            api: None,
            logs,
            dir,
        };
        match ready_rx.recv_timeout(READY_TIMEOUT) {
            Ok((addrs, api)) => {
                server.dns = addrs;
                server.api = api;
            }
            Err(_) => panic!(
                "server did not log its ready line; logs:\n{}",
                server.logs()
            ),
        }
        server
    }

    /// The server's process id (for `/proc/<pid>/...`).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server runs").id()
    }

    /// The first DNS address.
    pub fn addr(&self) -> SocketAddr {
        self.dns[0]
    }

    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Waits until a log line contains `needle`, or panics after `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.logs().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no log line with {needle:?}; logs:\n{}", self.logs());
    }

    /// Runs `dig @server -p port ARGS +time=2 +tries=1` and returns stdout.
    pub fn dig(&self, args: &[&str]) -> String {
        dig(self.addr(), args)
    }

    /// Runs kdig against this server and returns its stdout and stderr.
    pub fn kdig(&self, args: &[&str]) -> String {
        let out = Command::new("kdig")
            .arg(format!("@{}", self.addr().ip()))
            .args(["-p", &self.addr().port().to_string()])
            .args(["+time=2", "+retry=0"])
            .args(args)
            .output()
            .expect("kdig is installed (apt-get install knot-dnsutils)");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// Sends Route 53's ChangeResourceRecordSets for one A record
    /// (`action` CREATE, UPSERT or DELETE, TTL 60) to this server's API;
    /// returns the status and the body.
    pub fn route53_a_change(
        &self,
        zone_id: &str,
        action: &str,
        name: &str,
        value: &str,
    ) -> (u16, String) {
        let request = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes><Change><Action>{action}</Action><ResourceRecordSet><Name>{name}</Name><Type>A</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>{value}</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"#
        );
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        let mut response = agent
            .post(format!(
                "{}/2013-04-01/hostedzone/{zone_id}/rrset/",
                self.api_url()
            ))
            .content_type("text/xml")
            .send(request)
            .unwrap();
        let text = response.body_mut().read_to_string().unwrap();
        (response.status().as_u16(), text)
    }

    /// Sends a signal (e.g. "HUP") to the server.
    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let status = Command::new("kill")
            .args(["-s", sig, &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Kills the server with SIGKILL, as a crash would, and reaps it.
    pub fn kill(mut self) -> tempfile::TempDir {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    /// The API's base URL.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api.expect("the API runs"))
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(self) -> ExitStatus {
        self.signal("TERM");
        self.wait().0
    }

    /// Waits (at most 10 s) for the server to exit; its status and logs.
    pub fn wait(mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                // The log reader finishes with the pipe.
                std::thread::sleep(Duration::from_millis(50));
                return (status, self.logs());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("server did not stop within 10 s; logs:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Path of a file in the server's folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Parses `... ready dns=A,B ...` into addresses.
fn ready_addresses(line: &str) -> Option<Vec<SocketAddr>> {
    if !line.contains("ready") {
        return None;
    }
    let rest = &line[line.find("dns=")? + 4..];
    let list = rest.split_whitespace().next()?.trim_matches('"');
    list.split(',').map(|a| a.parse().ok()).collect()
}

/// Parses `... api=ADDR ...` (absent or `off` without the API).
fn ready_api(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("api=")? + 4..];
    rest.split_whitespace()
        .next()?
        .trim_matches('"')
        .parse()
        .ok()
}

/// Runs dig against `addr`.
pub fn dig(addr: SocketAddr, args: &[&str]) -> String {
    let out = Command::new("dig")
        .arg(format!("@{}", addr.ip()))
        .arg("-p")
        .arg(addr.port().to_string())
        .args(["+time=2", "+tries=1"])
        .args(args)
        .output()
        .expect("dig is installed (apt-get install dnsutils)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The record lines of dig's `+noall +answer` (or other section) output,
/// whitespace-normalised and sorted.
pub fn records(output: &str) -> Vec<String> {
    let mut lines: Vec<String> = output
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with(';'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    lines.sort();
    lines
}

/// The `status:` of dig's full output (NOERROR, NXDOMAIN, ...).
pub fn status(output: &str) -> String {
    let start = output.find("status: ").expect("dig printed a header") + 8;
    output[start..].split(',').next().unwrap().to_string()
}

/// The `flags:` of dig's header line, e.g. "qr aa rd".
pub fn flags(output: &str) -> String {
    let start = output.find("flags: ").expect("dig printed flags") + 7;
    output[start..]
        .split(';')
        .next()
        .unwrap()
        .trim()
        .to_string()
}

/// Runs `eightfold ARGS` to completion (for `check`).
pub fn run(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(binary())
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run eightfold")
}

/// A failover pair behind check `primary`, declared by `check` (the
/// check's own lines), with `server` lines added to `[server]`.
pub fn failover_config(server: &str, check: &str) -> String {
    format!(
        r#"[server]
api = "127.0.0.1:0"
data = "eightfold.db"
{server}

[[health_check]]
id = "primary"
type = "http"
interval = "1s"
failure_threshold = 1
{check}

[[zone]]
name = "atk.test."

[[zone.record]]
name = "www"
type = "A"
ttl = 5
routing = "failover"
set = "p"
failover = "primary"
value = "192.0.2.1"
health_check = "primary"

[[zone.record]]
name = "www"
type = "A"
ttl = 5
routing = "failover"
set = "s"
failover = "secondary"
value = "192.0.2.2"
"#
    )
}

/// Stops a reference server (NSD, Knot) with SIGTERM, which lets NSD stop
/// its server and xfrd processes too (SIGKILL would orphan them); kills it
/// when it has not exited within 5 s.
pub fn stop_gracefully(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-s", "TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A loopback HTTP backend answering 200 while `up`, else 503.
pub struct Backend {
    /// Its loopback port.
    pub port: u16,
    up: Arc<std::sync::atomic::AtomicBool>,
}

impl Backend {
    /// Starts answering on a free loopback port; healthy when `up`.
    pub fn start(up: bool) -> Backend {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(up));
        let state = flag.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let state = state.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match std::io::Read::read(&mut stream, &mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let response: &[u8] = if state.load(std::sync::atomic::Ordering::SeqCst) {
                        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nOK\n"
                    } else {
                        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\nConnection: close\r\n\r\nDOWN\n"
                    };
                    let _ = std::io::Write::write_all(&mut stream, response);
                    let _ = std::io::Write::flush(&mut stream);
                });
            }
        });
        Backend { port, up: flag }
    }

    /// Makes it answer 200 (`up`) or 503.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The change id (without `/change/`) in a Route 53 reply's ChangeInfo.
pub fn route53_change_id(reply: &str) -> String {
    reply
        .split("<Id>")
        .nth(1)
        .and_then(|rest| rest.split("</Id>").next())
        .unwrap_or_else(|| panic!("no change Id in {reply}"))
        .trim_start_matches("/change/")
        .to_string()
}
