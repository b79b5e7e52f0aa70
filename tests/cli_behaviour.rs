//! What README.md says of the command line and the server process, each
//! shown through the real binary: signals, log formats, flags over the
//! file, defaults, relative paths and the token file.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::Server;

/// Starts `eightfold ARGS` in `cwd` and returns it with the first stderr
/// line that contains `needle`, and a channel of the lines after it.
fn spawn_until(args: &[&str], cwd: &Path, needle: &str) -> (Child, String, mpsc::Receiver<String>) {
    let mut child = Command::new(common::binary())
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start eightfold");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + common::READY_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return (child, line, rx),
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                panic!("no stderr line with {needle:?}");
            }
        }
    }
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not exit within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn get(api: SocketAddr, path: &str, bearer: Option<&str>) -> u16 {
    let mut stream = TcpStream::connect(api).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = bearer.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {api}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn sigint_stops_the_server_with_status_0() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _, rx) = spawn_until(
        &[
            "serve",
            "--dns",
            "127.0.0.1:0",
            "--api",
            "127.0.0.1:0",
            "--data",
            "e.db",
        ],
        dir.path(),
        "ready dns=",
    );
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-s", "INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = wait_exit(&mut child);
    assert_eq!(status.code(), Some(0));
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
}

#[test]
fn log_format_json_writes_one_json_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, ready, rx) = spawn_until(
        &[
            "--log-format",
            "json",
            "serve",
            "--dns",
            "127.0.0.1:0",
            "--api",
            "127.0.0.1:0",
            "--data",
            "e.db",
        ],
        dir.path(),
        "\"message\":\"ready\"",
    );
    let value: serde_json::Value = serde_json::from_str(&ready).expect("the ready line is JSON");
    assert_eq!(value["level"], "INFO");
    assert_eq!(value["fields"]["message"], "ready");
    let dns = value["fields"]["dns"].as_str().unwrap();
    assert!(dns.parse::<SocketAddr>().is_ok(), "{dns}");
    let _ = child.kill();
    let _ = child.wait();
    for line in rx.try_iter() {
        assert!(
            serde_json::from_str::<serde_json::Value>(&line).is_ok(),
            "{line}"
        );
    }
}

#[test]
fn flags_override_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("eightfold.toml"),
        "[server]\ndns = [\"127.0.0.1:1\"]\napi = \"127.0.0.1:1\"\ndata = \"from-file.db\"\n",
    )
    .unwrap();
    let server = Server::spawn(
        dir,
        &[
            "serve",
            "--config",
            "eightfold.toml",
            "--dns",
            "127.0.0.1:0",
            "--api",
            "127.0.0.1:0",
            "--data",
            "from-flag.db",
        ],
    );
    assert_ne!(server.addr().port(), 1);
    assert_ne!(server.api.unwrap().port(), 1);
    assert!(server.path("from-flag.db").exists());
    assert!(!server.path("from-file.db").exists());
}

#[test]
fn without_a_config_the_api_runs_on_8053_with_its_data_in_the_working_folder() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::spawn(dir, &["serve", "--dns", "127.0.0.1:0"]);
    assert_eq!(server.api, Some("127.0.0.1:8053".parse().unwrap()));
    assert!(server.path("eightfold.db").exists());
    assert_eq!(get(server.api.unwrap(), "/healthz", None), 200);
}

#[test]
fn a_relative_data_path_is_relative_to_the_config_file_not_the_working_folder() {
    let config_dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("eightfold.toml");
    std::fs::write(&config, "[server]\ndata = \"state/e.db\"\n").unwrap();
    std::fs::create_dir(config_dir.path().join("state")).unwrap();
    let (mut child, _, _) = spawn_until(
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--dns",
            "127.0.0.1:0",
        ],
        elsewhere.path(),
        "ready dns=",
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(config_dir.path().join("state/e.db").exists());
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
}

#[test]
fn the_api_token_is_read_from_its_file_trimmed() {
    let server = Server::start_with_files(
        "[server]\napi = \"127.0.0.1:0\"\ndata = \"e.db\"\napi_token_file = \"secret/token\"\n",
        &[("secret/token", "  s3cret-token \n")],
    );
    let api = server.api.unwrap();
    assert_eq!(get(api, "/v1/zones", Some("s3cret-token")), 200);
    assert_eq!(get(api, "/v1/zones", Some("s3cret-toke")), 401);
    assert_eq!(get(api, "/v1/zones", Some("wrong")), 401);
    assert_eq!(get(api, "/v1/zones", None), 401);
}

#[test]
fn an_empty_or_missing_token_file_stops_the_start() {
    for (files, expected) in [
        (vec![("token", " \n")], "is empty"),
        (vec![], "cannot read the API token file"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in &files {
            std::fs::write(dir.path().join(name), content).unwrap();
        }
        std::fs::write(
            dir.path().join("eightfold.toml"),
            "[server]\napi = \"127.0.0.1:0\"\ndns = [\"127.0.0.1:0\"]\napi_token_file = \"token\"\n",
        )
        .unwrap();
        let out = common::run(&["serve", "--config", "eightfold.toml"], dir.path());
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{stderr}");
    }
}

#[test]
fn an_unreachable_postgresql_stops_the_start_with_its_url_and_no_password() {
    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let data = format!("postgresql://dns:s3cret@127.0.0.1:{port}/eightfold");
    let out = common::run(
        &[
            "serve",
            "--dns",
            "127.0.0.1:0",
            "--api",
            "127.0.0.1:0",
            "--data",
            &data,
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot reach PostgreSQL at postgresql://dns:***@127.0.0.1:{port}/eightfold: "
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
}

#[test]
fn a_bad_node_name_on_the_command_line_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::run(&["serve", "--node", "a\tb"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a node name"), "{stderr}");
}
