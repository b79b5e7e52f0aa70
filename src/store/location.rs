//! Where the data lives: `[server] data` and `--data`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A SQLite file, or a PostgreSQL database that several nodes share.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file (created when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgresql://user:password@host:port/db`).
    Postgres(PostgresUrl),
}

/// The URL schemes that select PostgreSQL; anything else is a file path.
const POSTGRES_SCHEMES: [&str; 2] = ["postgresql://", "postgres://"];

impl Location {
    /// Reads a `data` value: a PostgreSQL URL, or else a SQLite path,
    /// taken relative to `base` unless absolute.
    pub fn parse(value: &str, base: &Path) -> Result<Location, String> {
        if POSTGRES_SCHEMES.iter().any(|s| value.starts_with(s)) {
            return PostgresUrl::parse(value).map(Location::Postgres);
        }
        if value.is_empty() {
            return Err("data is empty; give a SQLite file or a postgresql:// URL".into());
        }
        let path = Path::new(value);
        Ok(Location::Sqlite(if path.is_absolute() {
            path.to_owned()
        } else {
            base.join(path)
        }))
    }
}

impl FromStr for Location {
    type Err = String;
    /// As [`Location::parse`], relative to the working directory.
    fn from_str(s: &str) -> Result<Location, String> {
        Location::parse(s, Path::new(""))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => write!(f, "{url}"),
        }
    }
}

// By hand so that a logged or printed config never shows the password.
impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Location::Postgres(url) => f.debug_tuple("Postgres").field(url).finish(),
        }
    }
}

/// A checked PostgreSQL connection URL. Displayed with its password
/// replaced by `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl {
    url: String,
    /// Boxed: the client's settings are large, and a `Location` is mostly
    /// a path.
    config: Box<tokio_postgres::Config>,
}

impl PostgresUrl {
    /// Checks `url` the way the client will read it.
    pub fn parse(url: &str) -> Result<PostgresUrl, String> {
        let config = tokio_postgres::Config::from_str(url).map_err(|e| {
            format!(
                "invalid PostgreSQL URL {}: {e}; expected postgresql://user:password@host:port/dbname",
                redact(url)
            )
        })?;
        if config.get_hosts().is_empty() {
            return Err(format!(
                "PostgreSQL URL {} names no host; expected postgresql://user:password@host:port/dbname",
                redact(url)
            ));
        }
        Ok(PostgresUrl {
            url: url.to_owned(),
            config: Box::new(config),
        })
    }

    /// The client's settings.
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.url))
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", redact(&self.url))
    }
}

/// The URL with the password of its user-info part replaced by `***`.
fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end],
            &rest[..colon],
            &rest[at..]
        ),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_selects_postgres_and_anything_else_a_file() {
        let base = Path::new("/etc/eightfold");
        let cases = [
            ("eightfold.db", "Sqlite(\"/etc/eightfold/eightfold.db\")"),
            ("/var/lib/e.db", "Sqlite(\"/var/lib/e.db\")"),
            // A relative path that merely starts like a scheme is a file.
            ("postgresql.db", "Sqlite(\"/etc/eightfold/postgresql.db\")"),
            (
                "postgresql://eightfold:s3cret@db.example:5432/dns",
                "Postgres(\"postgresql://eightfold:***@db.example:5432/dns\")",
            ),
            (
                "postgres://eightfold@127.0.0.1/dns",
                "Postgres(\"postgres://eightfold@127.0.0.1/dns\")",
            ),
        ];
        for (value, want) in cases {
            let got = Location::parse(value, base).unwrap();
            assert_eq!(format!("{got:?}"), want, "{value}");
        }
    }

    #[test]
    fn a_bad_url_is_refused_without_showing_its_password() {
        let err =
            Location::parse("postgresql://u:s3cret@db:notaport/x", Path::new("")).unwrap_err();
        assert!(err.contains("invalid PostgreSQL URL"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        let err = Location::parse("", Path::new("")).unwrap_err();
        assert!(err.contains("data is empty"), "{err}");
    }

    #[test]
    fn display_hides_the_password() {
        let url = PostgresUrl::parse("postgresql://a:b@c:1/d?application_name=x").unwrap();
        assert_eq!(
            url.to_string(),
            "postgresql://a:***@c:1/d?application_name=x"
        );
    }
}
