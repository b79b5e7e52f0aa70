//! What a zone file and its includes held when read ([`Source`]), so a
//! reload can tell whether they changed without parsing them again.

use std::path::{Path, PathBuf};

/// What a zone file and the files it `$INCLUDE`s held when they were
/// read: a digest of their text, in the order read, and the included
/// files' paths. A reload compares it with the files as they are now
/// ([`Source::unchanged`]) and keeps the zone built from them instead of
/// parsing and building it again: with 10,000 zone files a reload then
/// costs what changed, in time and in peak memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    path: PathBuf,
    includes: Vec<PathBuf>,
    digest: [u8; 32],
}

impl Source {
    /// Whether the zone file at `path` and the files it included still
    /// hold what they held (SHA-256: a change that kept the digest would
    /// need a collision). A file that cannot be read counts as changed, so
    /// that parsing it reports why.
    /// The zone file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn unchanged(&self, path: &Path) -> bool {
        if path != self.path {
            return false;
        }
        let mut reading = Reading::new(path);
        for file in std::iter::once(path).chain(self.includes.iter().map(PathBuf::as_path)) {
            match std::fs::read(file) {
                Ok(bytes) => reading.add(&bytes),
                Err(_) => return false,
            }
        }
        reading.digest.finish().as_ref() == self.digest
    }
}

/// A [`Source`] being read.
pub(super) struct Reading {
    path: PathBuf,
    pub(super) includes: Vec<PathBuf>,
    digest: ring::digest::Context,
}

impl Reading {
    pub(super) fn new(path: &Path) -> Reading {
        Reading {
            path: path.to_owned(),
            includes: Vec::new(),
            digest: ring::digest::Context::new(&ring::digest::SHA256),
        }
    }

    /// Adds one file's text, length first, so that where one file ends
    /// and the next begins is part of what is compared.
    pub(super) fn add(&mut self, text: &[u8]) {
        self.digest.update(&(text.len() as u64).to_be_bytes());
        self.digest.update(text);
    }

    pub(super) fn finish(self) -> Source {
        let mut digest = [0; 32];
        digest.copy_from_slice(self.digest.finish().as_ref());
        Source {
            path: self.path,
            includes: self.includes,
            digest,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use crate::model::DName;

    fn source_of(path: &std::path::Path) -> super::Source {
        let apex = DName::from_str("s.test.").unwrap();
        super::super::read_file(path, &apex).unwrap().1
    }

    #[test]
    fn a_change_to_the_file_or_an_include_is_seen_and_the_same_text_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("s.zone");
        let inc = dir.path().join("hosts.inc");
        std::fs::write(&main, "$TTL 60\nwww A 192.0.2.1\n$INCLUDE hosts.inc\n").unwrap();
        std::fs::write(&inc, "mail A 192.0.2.2\n").unwrap();
        let source = source_of(&main);
        // Written again with the same text: unchanged.
        std::fs::write(&inc, "mail A 192.0.2.2\n").unwrap();
        assert!(source.unchanged(&main));
        assert!(!source.unchanged(&dir.path().join("other.zone")));
        // A line moved from the include into the file: both texts changed,
        // and where one ends and the other begins is part of the digest.
        std::fs::write(
            &main,
            "$TTL 60\nwww A 192.0.2.1\n$INCLUDE hosts.inc\nmail A 192.0.2.2\n",
        )
        .unwrap();
        std::fs::write(&inc, "").unwrap();
        assert!(!source.unchanged(&main));
        let moved = source_of(&main);
        std::fs::write(&inc, "mail A 192.0.2.3\n").unwrap();
        assert!(!moved.unchanged(&main), "a change in the include alone");
        std::fs::remove_file(&inc).unwrap();
        assert!(!moved.unchanged(&main), "an include gone");
    }
}
