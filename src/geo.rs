//! Where a client is: a MaxMind-format database (MMDB, as GeoLite2 and
//! GeoIP2 City or Country, or any file of that shape) named by
//! `[server] geoip_database`, read whole into memory when the config is
//! loaded (start and SIGHUP) and published with the snapshot.
//!
//! Looking an address up is on the answer path: it allocates nothing.
//! The reader is `maxminddb`'s; of each record only three codes are
//! decoded, as strings borrowed from the database, everything else
//! skipped ([`Fields`]).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};

use crate::model::{Code, Place};

/// A geolocation database, read whole.
pub struct GeoDatabase {
    path: PathBuf,
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDatabase")
            .field("path", &self.path)
            .field("type", &self.reader.metadata().database_type)
            .finish()
    }
}

/// Two loads of the same file compare equal when the file says it was
/// built at the same time: what a config comparison needs to know.
impl PartialEq for GeoDatabase {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
            && self.reader.metadata().build_epoch == other.reader.metadata().build_epoch
    }
}

/// Why a database cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// The file cannot be read.
    #[error("cannot read the geolocation database {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a MaxMind DB.
    #[error("{path} is not a MaxMind DB (MMDB) file such as GeoLite2-City.mmdb: {reason}")]
    NotMmdb {
        /// The file.
        path: PathBuf,
        /// What the reader found wrong.
        reason: String,
    },
}

/// What the database says about one address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Located {
    /// Where the address is; `None` when the database does not say.
    pub place: Option<Place>,
    /// Length of the database's network holding the address (IPv4 bits
    /// for an IPv4 address): every address in it is at the same place,
    /// which is what an EDNS Client Subnet answer's scope says.
    pub prefix: u8,
}

impl GeoDatabase {
    /// Reads the database at `path`.
    pub fn open(path: &Path) -> Result<GeoDatabase, GeoError> {
        let bytes = std::fs::read(path).map_err(|source| GeoError::Read {
            path: path.to_owned(),
            source,
        })?;
        let reader = maxminddb::Reader::from_source(bytes).map_err(|e| GeoError::NotMmdb {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(GeoDatabase {
            path: path.to_owned(),
            reader,
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the file says it is (`GeoLite2-City`, ...).
    pub fn kind(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// When the file says it was built, in seconds since 1970.
    pub fn built(&self) -> u64 {
        self.reader.metadata().build_epoch
    }

    /// Where `addr` is. An address the database does not hold, or whose
    /// record does not decode, has no place.
    pub fn locate(&self, addr: IpAddr) -> Located {
        // A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d.
        let addr = addr.to_canonical();
        let Ok(found) = self.reader.lookup(addr) else {
            // An IPv6 address in an IPv4 database: nothing about it
            // depends on the address.
            return Located::default();
        };
        let prefix = found.network().map_or(0, |n| n.prefix());
        let place = match found.decode::<Fields<'_>>() {
            Ok(Some(fields)) => Some(fields.place()),
            _ => None,
        };
        Located { place, prefix }
    }
}

/// The parts of a GeoIP2 record routing reads: `continent.code`,
/// `country.iso_code` and `subdivisions[0].iso_code`. Strings are
/// borrowed from the database and every other field is skipped
/// (`serde`'s derive ignores unknown keys), so decoding allocates nothing.
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow, default)]
    continent: Option<Continent<'a>>,
    #[serde(borrow, default)]
    country: Option<IsoCode<'a>>,
    #[serde(borrow, default)]
    subdivisions: Option<FirstIsoCode<'a>>,
}

#[derive(Deserialize)]
struct Continent<'a> {
    #[serde(borrow, default)]
    code: Option<&'a str>,
}

#[derive(Deserialize)]
struct IsoCode<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

/// The first element's `iso_code` of a list of subdivisions (the
/// largest); the others are skipped rather than collected into a `Vec`.
struct FirstIsoCode<'a>(Option<&'a str>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstIsoCode<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct First;
        impl<'de> Visitor<'de> for First {
            type Value = FirstIsoCode<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of subdivisions")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let first = seq.next_element::<IsoCode<'de>>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstIsoCode(first.and_then(|c| c.iso_code)))
            }
        }
        deserializer.deserialize_seq(First)
    }
}

impl Fields<'_> {
    fn place(&self) -> Place {
        let code = |text: Option<&str>| text.map_or_else(Code::default, Code::new);
        Place {
            continent: code(self.continent.as_ref().and_then(|c| c.code)),
            country: code(self.country.as_ref().and_then(|c| c.iso_code)),
            subdivision: code(self.subdivisions.as_ref().and_then(|s| s.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixture of `tests/geo/make_db.py`, written by mmdb-writer.
    fn fixture(dir: &Path) -> PathBuf {
        let path = dir.join("geo.mmdb");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/geo/make_db.py");
        let status = std::process::Command::new("python3")
            .arg(script)
            .arg(&path)
            .status()
            .expect("python3 runs");
        assert!(status.success(), "pip install mmdb-writer");
        path
    }

    fn place(located: Located) -> Option<String> {
        located.place.map(|p| {
            format!(
                "{}/{}/{}",
                p.continent.as_str(),
                p.country.as_str(),
                p.subdivision.as_str()
            )
        })
    }

    #[test]
    fn an_address_is_placed_with_its_network_length() {
        let dir = tempfile::tempdir().unwrap();
        let db = GeoDatabase::open(&fixture(dir.path())).unwrap();
        let cases: &[(&str, Option<&str>, u8)] = &[
            ("198.51.100.7", Some("EU/DE/BE"), 24),
            ("192.0.2.200", Some("NA/US/NY"), 25),
            ("203.0.113.1", Some("AS/JP/"), 24),
            ("127.0.0.1", Some("EU/FR/"), 32),
            ("::ffff:127.0.0.2", Some("SA/BR/"), 32),
            ("2001:db8::1", Some("EU/GB/ENG"), 32),
        ];
        for &(addr, want, prefix) in cases {
            let located = db.locate(addr.parse().unwrap());
            assert_eq!(place(located).as_deref(), want, "{addr}");
            assert_eq!(located.prefix, prefix, "{addr}");
        }
        let nowhere = db.locate("10.1.2.3".parse().unwrap());
        assert_eq!(nowhere.place, None);
        assert!(nowhere.prefix > 0 && nowhere.prefix <= 8, "{nowhere:?}");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.mmdb");
        let e = GeoDatabase::open(&missing).unwrap_err().to_string();
        assert!(e.starts_with("cannot read the geolocation database"), "{e}");
        assert!(e.contains("none.mmdb"), "{e}");
        let text = dir.path().join("text.mmdb");
        std::fs::write(&text, "not a database\n").unwrap();
        let e = GeoDatabase::open(&text).unwrap_err().to_string();
        assert!(
            e.contains("text.mmdb is not a MaxMind DB (MMDB) file"),
            "{e}"
        );
    }
}
