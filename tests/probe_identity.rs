//! What an endpoint sees of a probe: its `User-Agent` names eightfold, its
//! version and the node that probed (SPEC §7), through the real binary.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use common::Server;

#[test]
fn probes_name_the_node_that_sent_them() {
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = backend.local_addr().unwrap().port();
    let (heads, seen) = mpsc::channel::<Vec<String>>();
    std::thread::spawn(move || {
        for stream in backend.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut head = Vec::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                head.push(line.trim_end().to_string());
                line.clear();
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nOK");
            if heads.send(head).is_err() {
                return;
            }
        }
    });
    let config = format!(
        r#"
[server]
node = "ns-east-1"

[[health_check]]
id = "web"
type = "http"
ip = "127.0.0.1"
port = {port}
interval = "1s"
"#
    );
    let _server = Server::start(&config);
    let head = seen
        .recv_timeout(Duration::from_secs(10))
        .expect("a probe within 10 s");
    let agent = head
        .iter()
        .find_map(|l| {
            l.strip_prefix("user-agent: ")
                .or(l.strip_prefix("User-Agent: "))
        })
        .unwrap_or_else(|| panic!("no User-Agent in {head:?}"));
    assert_eq!(
        agent,
        format!("eightfold/{} (node ns-east-1)", env!("CARGO_PKG_VERSION"))
    );
}
