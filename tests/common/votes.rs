//! The health vote's test backend: a real HTTP server that fails only the
//! probes of chosen nodes, told apart by the User-Agent eightfold sends
//! (`eightfold/<version> (node <name>)`).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// An HTTP backend that answers 503 to the probes of the nodes in its
/// failing set and 200 to the others.
pub struct Backend {
    /// Its port on 127.0.0.1.
    pub port: u16,
    failing: Arc<Mutex<HashSet<String>>>,
}

impl Backend {
    /// Starts it on 127.0.0.1, failing nobody's probes.
    pub fn start() -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let failing: Arc<Mutex<HashSet<String>>> = Arc::default();
        let set = failing.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let set = set.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let (mut line, mut agent) = (String::new(), String::new());
                    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                        if line.to_ascii_lowercase().starts_with("user-agent:") {
                            agent = line.clone();
                        }
                        line.clear();
                    }
                    let fails = set
                        .lock()
                        .unwrap()
                        .iter()
                        .any(|node| agent.contains(&format!("(node {node})")));
                    let reply: &[u8] = if fails {
                        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\nconnection: close\r\n\r\ndown"
                    } else {
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nOK"
                    };
                    let _ = stream.write_all(reply);
                });
            }
        });
        Backend { port, failing }
    }

    /// Fails the probes of exactly `nodes` from now on.
    pub fn fail_for(&self, nodes: &[&str]) {
        *self.failing.lock().unwrap() = nodes.iter().map(|n| n.to_string()).collect();
    }
}
