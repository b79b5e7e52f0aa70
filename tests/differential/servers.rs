//! The reference servers, NSD and Knot, run as real servers on loopback
//! ports from a temp folder, in the foreground, as the current user, with
//! nothing written outside that folder.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// How long a reference server may take to answer for all its zones.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Which reference server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// NSD 4.x (`/usr/sbin/nsd`).
    Nsd,
    /// Knot DNS 3.x (`/usr/sbin/knotd`).
    Knot,
}

impl Kind {
    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Nsd => "NSD",
            Kind::Knot => "Knot",
        }
    }

    fn binary(self) -> PathBuf {
        let (name, package) = match self {
            Kind::Nsd => ("nsd", "nsd"),
            Kind::Knot => ("knotd", "knot"),
        };
        for dir in ["/usr/sbin", "/usr/local/sbin"] {
            let path = Path::new(dir).join(name);
            if path.exists() {
                return path;
            }
        }
        panic!(
            "{name} is not installed; the differential test compares eightfold with NSD and \
             Knot. Install it with `apt-get install {package}` (Debian/Ubuntu)."
        );
    }
}

/// A zone to serve: its apex and its files (the first one is the zone
/// file; the others are `$INCLUDE`d by name, relative to it).
pub struct ZoneFiles {
    /// Apex with its final dot.
    pub apex: String,
    /// (file name, content); names are unique across zones.
    pub files: Vec<(String, String)>,
}

/// A port free for both UDP and TCP on 127.0.0.1 (bound, then released).
fn free_port() -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind a TCP port");
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP");
}

/// A running reference server, stopped on drop.
pub struct Reference {
    /// Which one.
    pub kind: Kind,
    /// Where it answers (UDP and TCP).
    pub addr: SocketAddr,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Reference {
    /// Starts `kind` serving `zones`; `ready` asks it one question per
    /// zone and says whether it answered authoritatively. A start that
    /// fails (the port taken in between) is retried on a new port.
    pub fn start(
        kind: Kind,
        zones: &[ZoneFiles],
        ready: &dyn Fn(SocketAddr, &str) -> bool,
    ) -> Reference {
        let binary = kind.binary();
        let mut last_failure = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("tempdir");
            for zone in zones {
                for (name, content) in &zone.files {
                    std::fs::write(dir.path().join(name), content).unwrap();
                }
            }
            let port = free_port();
            let conf = match kind {
                Kind::Nsd => nsd_conf(dir.path(), port, zones),
                Kind::Knot => knot_conf(dir.path(), port, zones),
            };
            let args: &[&str] = if kind == Kind::Nsd { &["-d"] } else { &[] };
            let child = crate::common::reference::spawn(&binary, args, dir.path(), &conf);
            let mut server = Reference {
                kind,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                child: Some(child),
                dir,
            };
            match server.wait_ready(zones, ready) {
                Ok(()) => return server,
                Err(e) => last_failure = format!("{e}\n{}", server.logs()),
            }
        }
        panic!("{} did not start: {last_failure}", kind.name());
    }

    /// Polls until every zone is answered, or the server exits, or
    /// READY_TIMEOUT passes.
    fn wait_ready(
        &mut self,
        zones: &[ZoneFiles],
        ready: &dyn Fn(SocketAddr, &str) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut pending: Vec<&str> = zones.iter().map(|z| z.apex.as_str()).collect();
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return Err(format!("{} exited with {status}", self.kind.name()));
            }
            pending.retain(|apex| !ready(self.addr, apex));
            if pending.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not serve {pending:?} within {READY_TIMEOUT:?} (a zone it refused?)",
                    self.kind.name()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the server logged.
    pub fn logs(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!(
            "{} stderr:\n{}\nlog:\n{}",
            self.kind.name(),
            read("stderr.txt"),
            read("server.log")
        )
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        crate::common::stop_gracefully(&mut child);
    }
}

/// NSD: no user switch, no chroot, no database, no control socket, one
/// server process, everything in `dir` (as tests/nsd_parity.rs runs it),
/// and no response-rate limiting (Debian builds it in, at 200 answers a
/// second per client prefix: this test sends more from 127.0.0.1).
fn nsd_conf(dir: &Path, port: u16, zones: &[ZoneFiles]) -> String {
    let d = dir.display();
    let mut conf = format!(
        "server:\n  ip-address: 127.0.0.1\n  port: {port}\n  do-ip6: no\n  server-count: 1\n  \
         username: \"\"\n  chroot: \"\"\n  zonesdir: \"{d}\"\n  pidfile: \"{d}/nsd.pid\"\n  \
         xfrdfile: \"{d}/xfrd.state\"\n  xfrdir: \"{d}\"\n  zonelistfile: \"{d}/zone.list\"\n  \
         database: \"\"\n  logfile: \"{d}/server.log\"\n  verbosity: 1\n  \
         rrl-ratelimit: 0\n\
         remote-control:\n  control-enable: no\n"
    );
    for zone in zones {
        conf.push_str(&format!(
            "zone:\n  name: \"{}\"\n  zonefile: \"{}\"\n",
            zone.apex, zone.files[0].0
        ));
    }
    conf
}

/// Knot: rundir, storage (zone files, journal, timers) and the control
/// socket in `dir`; no `user:` so it stays the current user; zone files
/// are only read (`zonefile-sync: -1`, no journal contents).
fn knot_conf(dir: &Path, port: u16, zones: &[ZoneFiles]) -> String {
    let d = dir.display();
    let mut conf = format!(
        "server:\n  rundir: \"{d}\"\n  listen: 127.0.0.1@{port}\n  background-workers: 1\n  \
         udp-workers: 1\n  tcp-workers: 1\n\
         log:\n  - target: \"{d}/server.log\"\n    any: notice\n\
         database:\n  storage: \"{d}\"\n\
         template:\n  - id: default\n    storage: \"{d}\"\n    zonefile-sync: -1\n    \
         zonefile-load: whole\n    journal-content: none\n\
         zone:\n"
    );
    for zone in zones {
        conf.push_str(&format!(
            "  - domain: \"{}\"\n    file: \"{d}/{}\"\n",
            zone.apex, zone.files[0].0
        ));
    }
    conf
}
