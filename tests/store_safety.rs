//! The store under hostile conditions: killed with SIGKILL in the middle of
//! writes, over and over, and a full disk. Nothing acknowledged is lost, the
//! database stays consistent, and DNS keeps answering.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Data, Server};
use serde_json::{Value, json};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into()
}

/// POSTs `body`; `None` when the connection failed (server gone).
fn post(url: &str, body: &Value) -> Option<(u16, Value)> {
    let mut response = agent().post(url).send_json(body).ok()?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().ok()?;
    Some((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

fn get(url: &str) -> Value {
    let mut response = agent().get(url).call().unwrap();
    serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
}

fn write_config(dir: &Path, data: &str) {
    let config = format!("[server]\napi = \"127.0.0.1:0\"\ndata = \"{data}\"\n");
    std::fs::write(dir.join("eightfold.toml"), config).unwrap();
}

fn start(dir: tempfile::TempDir) -> Server {
    let config = dir.path().join("eightfold.toml");
    let config = config.to_str().unwrap().to_string();
    Server::spawn(dir, &["serve", "--config", &config, "--dns", "127.0.0.1:0"])
}

fn txt(name: &str) -> Value {
    json!({"action": "CREATE", "record": {"name": name, "type": "TXT", "ttl": 60, "values": [format!("\"{name}\"")]}})
}

/// Cycles, overridable for a longer run by hand.
fn cycles() -> usize {
    std::env::var("EIGHTFOLD_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

#[test]
fn sigkill_during_writes_loses_nothing_acknowledged_on_sqlite() {
    sigkill_during_writes_loses_nothing_acknowledged(Data::Sqlite);
}

#[test]
fn sigkill_during_writes_loses_nothing_acknowledged_on_postgres() {
    sigkill_during_writes_loses_nothing_acknowledged(Data::Postgres);
}

fn sigkill_during_writes_loses_nothing_acknowledged(data: Data) {
    let mut dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &data.value());
    // Every batch sent (its names), and the names of acknowledged ones.
    let sent = Arc::new(Mutex::new(Vec::<Vec<String>>::new()));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut zone_created = false;
    for cycle in 0..cycles() {
        let server = start(dir);
        let api = server.api_url();
        if !zone_created {
            let (status, body) =
                post(&format!("{api}/v1/zones"), &json!({"name": "crash.test."})).unwrap();
            assert_eq!(status, 201, "{body}");
            zone_created = true;
        }
        let writer = {
            let acknowledged = acknowledged.clone();
            let sent = sent.clone();
            let url = format!("{api}/v1/zones/crash.test/changes");
            std::thread::spawn(move || {
                for n in 0.. {
                    // Batches of one to four changes: a crash must keep or
                    // drop each one whole.
                    let names: Vec<String> = (0..1 + n % 4)
                        .map(|k| format!("c{cycle}-{n}-{k}"))
                        .collect();
                    sent.lock().unwrap().push(names.clone());
                    let changes: Vec<Value> = names.iter().map(|n| txt(n)).collect();
                    match post(&url, &json!({ "changes": changes })) {
                        Some((200, _)) => acknowledged.lock().unwrap().extend(names),
                        Some((status, body)) => panic!("{names:?}: {status} {body}"),
                        None => return,
                    }
                }
            })
        };
        // Kill at a pseudo-random moment (xorshift), mid-write most times.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(5 + seed % 60));
        dir = server.kill();
        writer.join().unwrap();
    }
    let server = start(dir);
    let records = get(&format!("{}/v1/zones/crash.test/records", server.api_url()));
    let stored: Vec<&str> = records["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    let acknowledged = acknowledged.lock().unwrap();
    assert!(
        acknowledged.len() > cycles(),
        "too few writes to mean anything: {}",
        acknowledged.len()
    );
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|a| !stored.contains(&a.as_str()))
        .collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    let sent = sent.lock().unwrap();
    let torn: Vec<&Vec<String>> = sent
        .iter()
        .filter(|batch| {
            let kept = batch
                .iter()
                .filter(|n| stored.contains(&n.as_str()))
                .count();
            kept != 0 && kept != batch.len()
        })
        .collect();
    assert!(torn.is_empty(), "batches kept in part: {torn:?}");
    let dir = server.kill();
    if data == Data::Postgres {
        // PostgreSQL checks itself; what a client can break is above.
        return;
    }
    let conn = rusqlite::Connection::open(dir.path().join("eightfold.db")).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

/// A small tmpfs, unmounted on drop: a disk that really fills up.
struct SmallDisk {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "this test mounts a small tmpfs to fill a disk for real: run it as root (CI does)"
        );
        SmallDisk { path, _dir: dir }
    }

    /// Fills the disk with one file; returns it.
    fn fill(&self) -> PathBuf {
        let filler = self.path.join("filler");
        let chunk = vec![0u8; 64 * 1024];
        let mut file = std::fs::File::create(&filler).unwrap();
        use std::io::Write;
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

#[test]
fn a_full_disk_gives_a_clear_error_and_dns_keeps_answering() {
    let disk = SmallDisk::mount("2m");
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), disk.path.join("full.db").to_str().unwrap());
    let server = start(dir);
    let api = server.api_url();
    let changes = format!("{api}/v1/zones/full.test/changes");
    post(&format!("{api}/v1/zones"), &json!({"name": "full.test."})).unwrap();
    let (status, body) = post(&changes, &json!({"changes": [txt("before")]})).unwrap();
    assert_eq!(status, 200, "{body}");

    let filler = disk.fill();
    // Big enough to need new pages whatever SQLite had spare.
    let big: Vec<Value> = (0..200).map(|i| txt(&format!("big{i}"))).collect();
    let (status, body) = post(&changes, &json!({"changes": big})).unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "StorageUnavailable");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("full"), "{message}");
    assert!(message.contains("nothing was changed"), "{message}");

    // DNS answers from memory, with the old data and none of the batch.
    assert_eq!(
        server.dig(&["before.full.test", "TXT", "+short"]).trim(),
        "\"before\""
    );
    assert_eq!(server.dig(&["big0.full.test", "TXT", "+short"]).trim(), "");

    // Space back: writes work again, nothing was half-applied.
    std::fs::remove_file(filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = post(&changes, &json!({"changes": [txt("after")]})).unwrap();
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "writes never recovered: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let records = get(&format!("{api}/v1/zones/full.test/records"));
    let mut names: Vec<&str> = records["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["after", "before"]);
    drop(server);
}
