//! A real PostgreSQL for tests: one server per test binary, started on
//! first use in a temporary directory, a fresh database per test.
//!
//! Needs Debian's `postgresql` package (`initdb` and `postgres` under
//! `/usr/lib/postgresql/<version>/bin`; `PG_BIN` overrides). PostgreSQL
//! refuses to run as root, so as root the server runs as the `postgres`
//! user the package creates.
//!
//! The server is this process's child rather than a `pg_ctl start` daemon:
//! it gets SIGQUIT (immediate shutdown) when the thread that started it
//! ends (`PR_SET_PDEATHSIG`), which is when the test binary exits, however
//! it exits, so a crashed or killed test run leaves no server behind. At a
//! normal exit an `atexit` hook also stops it and removes its directory.
//!
//! Also compiled into the library's unit tests (`src/store/tests.rs`
//! includes this file), so it uses nothing but std, libc and tempfile.
#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The running server.
pub struct PgServer {
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    /// Its directory (data, Unix socket, log).
    pub dir: PathBuf,
    /// Where the `initdb`, `postgres`, `pg_isready`, `psql` binaries are.
    pub bin: PathBuf,
}

static SERVER: OnceLock<PgServer> = OnceLock::new();
/// The child, kept for the exit hook.
static CHILD: Mutex<Option<Child>> = Mutex::new(None);
static DATABASES: AtomicU32 = AtomicU32::new(0);

/// The test binary's server, started on first use.
pub fn server() -> &'static PgServer {
    SERVER.get_or_init(start)
}

/// A URL of a new, empty database on the test server.
pub fn fresh_database() -> String {
    let s = server();
    let name = format!(
        "t{}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::Relaxed)
    );
    s.psql("postgres", &format!("CREATE DATABASE {name}"));
    s.url(&name)
}

impl PgServer {
    /// The URL of `database` on this server.
    pub fn url(&self, database: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs `sql` in `database` with `psql` (stopping at the first error)
    /// and returns what it printed, unaligned and without headers.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", database, "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Stops the server (fast shutdown: every connection closed), as an
    /// outage would; [`PgServer::start_again`] brings it back.
    pub fn stop(&self) {
        if let Some(mut child) = CHILD.lock().unwrap().take() {
            // SAFETY: signalling our own child by its pid.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
            child.wait().unwrap();
        }
    }

    /// Starts the stopped server again on the same port and data, and
    /// waits until it accepts connections.
    pub fn start_again(&self) {
        let child = spawn_postgres(&self.bin, &self.dir, self.port, server_user());
        *CHILD.lock().unwrap() = Some(child);
        wait_ready(self);
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin`, or `PG_BIN`.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return dir.into();
    }
    let root = Path::new("/usr/lib/postgresql");
    let newest = std::fs::read_dir(root)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .max()
        .unwrap_or_else(|| {
            panic!(
                "no PostgreSQL under {}: apt-get install postgresql",
                root.display()
            )
        });
    root.join(newest.to_string()).join("bin")
}

/// The user and group the server runs as: `postgres` when we are root,
/// else ourselves (`None`).
fn server_user() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = std::ffi::CString::new("postgres").unwrap();
    // SAFETY: a valid C string; the returned record is read at once, before
    // any other getpw* call could reuse it (tests start the server once,
    // under the OnceLock).
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    assert!(
        !pw.is_null(),
        "running as root needs the postgres user: apt-get install postgresql"
    );
    // SAFETY: checked non-null above.
    let pw = unsafe { &*pw };
    Some((pw.pw_uid, pw.pw_gid))
}

fn as_server_user(command: &mut Command, user: Option<(u32, u32)>) -> &mut Command {
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid).env("HOME", "/var/lib/postgresql");
    }
    command.env_remove("PGDATA")
}

/// A loopback port nobody listens on now (the server binds it next).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

extern "C" fn stop_at_exit() {
    if let Ok(mut child) = CHILD.lock()
        && let Some(mut child) = child.take()
    {
        // SIGINT: fast shutdown, every connection closed at once.
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        let _ = child.wait();
    }
    if let Some(s) = SERVER.get() {
        let _ = std::fs::remove_dir_all(&s.dir);
    }
}

fn start() -> PgServer {
    let bin = bin_dir();
    let user = server_user();
    let dir = tempfile::Builder::new()
        .prefix("eightfold-pg-")
        .tempdir()
        .expect("tempdir")
        .keep();
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown the server's directory");
    }
    let data = dir.join("data");
    let mut initdb = Command::new(bin.join("initdb"));
    let out = as_server_user(&mut initdb, user)
        .args(["-D".as_ref(), data.as_os_str()])
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .current_dir(&dir)
        .output()
        .expect("run initdb");
    assert!(
        out.status.success(),
        "initdb failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let child = spawn_postgres(&bin, &dir, port, user);
    *CHILD.lock().unwrap() = Some(child);
    // SAFETY: registering a plain extern "C" function.
    unsafe { libc::atexit(stop_at_exit) };
    let server = PgServer { port, dir, bin };
    wait_ready(&server);
    server
}

/// Starts `postgres` on `dir/data` and `port`, as this process's child
/// that dies with it.
fn spawn_postgres(bin: &Path, dir: &Path, port: u16, user: Option<(u32, u32)>) -> Child {
    let data = dir.join("data");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("postgres.log"))
        .unwrap();
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(dir.join("postgres.log"), Some(uid), Some(gid)).unwrap();
    }
    let mut command = Command::new(bin.join("postgres"));
    as_server_user(&mut command, user)
        .args(["-D".as_ref(), data.as_os_str()])
        .args(["-p", &port.to_string(), "-k"])
        .arg(dir)
        .args(["-c", "listen_addresses=127.0.0.1"])
        // Tests kill eightfold, never the machine: durability to the OS
        // is enough, and fsync would slow every test on a small machine.
        .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
        .args(["-c", "max_connections=300"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    // SAFETY: prctl is async-signal-safe; it runs in the child between
    // fork and exec, after the switch of user (which would clear it).
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // The death signal follows the thread that forked: a thread that lives
    // as long as the process, not this test's.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("postgres-parent".into())
        .spawn(move || {
            tx.send(command.spawn()).unwrap();
            loop {
                std::thread::park();
            }
        })
        .unwrap();
    rx.recv().unwrap().expect("start postgres")
}

/// Polls `pg_isready` (the server's own readiness answer) until it says
/// the server accepts connections.
fn wait_ready(server: &PgServer) {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let ready = Command::new(server.bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &server.port.to_string()])
            .status()
            .expect("run pg_isready");
        if ready.success() {
            return;
        }
        if let Some(status) = CHILD
            .lock()
            .unwrap()
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
        {
            panic!("postgres exited with {status}; log:\n{}", server.log());
        }
        assert!(
            Instant::now() < deadline,
            "postgres did not accept connections within {START_TIMEOUT:?}; log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
