//! NSD or Knot run as a peer of eightfold (a secondary or a primary) from
//! a configuration the test writes: started in a temporary directory,
//! stopped gracefully when dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Starts `binary` with `args` and `-c server.conf` (holding `conf`) in
/// `dir`, its stdout dropped and its stderr in `stderr.txt`: how every
/// test runs NSD and Knot.
pub fn spawn(binary: &Path, args: &[&str], dir: &Path, conf: &str) -> Child {
    let conf_path = dir.join("server.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let stderr = std::fs::File::create(dir.join("stderr.txt")).unwrap();
    Command::new(binary)
        .args(args)
        .arg("-c")
        .arg(&conf_path)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()))
}

/// A reference server process and its directory.
pub struct Reference {
    /// "NSD" or "Knot", for messages.
    pub name: &'static str,
    /// Where it answers DNS.
    pub addr: SocketAddr,
    /// The process, until dropped.
    pub child: Option<Child>,
    /// Its configuration, zone files and logs.
    pub dir: tempfile::TempDir,
}

impl Reference {
    /// Starts `binary` with `args` and `-c <conf written into dir>`,
    /// answering on 127.0.0.1:`port`; its stderr goes to `stderr.txt`.
    pub fn start(
        name: &'static str,
        binary: &str,
        args: &[&str],
        dir: tempfile::TempDir,
        port: u16,
        conf: String,
    ) -> Reference {
        assert!(
            Path::new(binary).exists(),
            "{binary} is not installed; apt-get install nsd knot"
        );
        let child = spawn(Path::new(binary), args, dir.path(), &conf);
        Reference {
            name,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child: Some(child),
            dir,
        }
    }

    /// Its stderr and `server.log`, for a failure's message.
    pub fn logs(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!(
            "{} stderr:\n{}\nlog:\n{}",
            self.name,
            read("stderr.txt"),
            read("server.log")
        )
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::stop_gracefully(&mut child);
        }
    }
}
