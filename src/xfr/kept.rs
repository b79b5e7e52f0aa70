//! The last transferred copy of each secondary zone, kept as a master file
//! in `[server] secondary_dir` (docs/configuration.md#secondary-zones), so
//! that after a restart the zone is served before a primary answers, or
//! while none does. The file's modification time is the zone's last
//! successful refresh: the SOA expire runs on across restarts, and a copy
//! past it is not served.
//!
//! Written with `domain`'s zone-file presentation and read back with
//! eightfold's own master-file reader (`zonefile`), the one that reads
//! every zone file; a copy that does not read back is only logged (the
//! zone is then transferred again, as without a copy).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use domain::base::Record;
use domain::base::iana::Class;
use domain::base::zonefile_fmt::{DisplayKind, ZonefileFmt};

use crate::model::{DName, ZoneSpec};

/// The copy's file for the zone at `apex`: its lower-cased name, bytes
/// other than letters, digits, `-` and `_` written `%XX`, then `.zone`.
pub fn path(dir: &Path, apex: &DName) -> PathBuf {
    let text = apex.fmt_with_dot().to_string().to_ascii_lowercase();
    let mut name = String::new();
    for b in text.bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => name.push(char::from(b)),
            _ => name.push_str(&format!("%{b:02X}")),
        }
    }
    dir.join(format!("{name}zone"))
}

/// Writes `zone` as its kept copy (to a temporary file renamed over the
/// old one: a crash never leaves half a copy).
pub fn save(dir: &Path, zone: &ZoneSpec) -> std::io::Result<()> {
    use std::fmt::Write as _;
    std::fs::create_dir_all(dir)?;
    let mut text = format!(
        "; zone {} as last transferred by eightfold; rewritten at each transfer\n",
        zone.name.fmt_with_dot()
    );
    for r in &zone.records {
        for value in &r.values {
            let record = Record::new(&r.owner, Class::IN, r.ttl, value);
            let _ = writeln!(text, "{}", record.display_zonefile(DisplayKind::Simple));
        }
    }
    let target = path(dir, &zone.name);
    let temporary = target.with_extension("zone.new");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, &target)
}

/// Marks the kept copy of the zone at `apex` as refreshed now (a primary
/// answered with its serial).
pub fn touch(dir: &Path, apex: &DName) -> std::io::Result<()> {
    std::fs::File::options()
        .append(true)
        .open(path(dir, apex))?
        .set_modified(SystemTime::now())
}

/// The kept copy of the zone at `apex` and how long ago it was last
/// refreshed; `None` when there is none.
pub fn load(dir: &Path, apex: &DName) -> Result<Option<(ZoneSpec, Duration)>, String> {
    let file = path(dir, apex);
    let modified = match std::fs::metadata(&file).and_then(|m| m.modified()) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", file.display())),
    };
    let records = crate::zonefile::load_file(&file, apex).map_err(|d| d.to_string())?;
    let zone = ZoneSpec {
        name: apex.clone(),
        records,
    };
    if let Some(problem) = crate::validate::zone(&zone).first() {
        return Err(format!("{}: {}", file.display(), problem.message));
    }
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or_default();
    Ok(Some((zone, age)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn a_kept_copy_reads_back_as_the_zone_it_was() {
        let apex = DName::from_str("Kept.Test.").unwrap();
        let text = "$ORIGIN kept.test.\n\
            @ 3600 IN SOA ns1 hostmaster 42 3600 600 86400 300\n\
            @ NS ns1\n@ NS ns.example.net.\nns1 A 192.0.2.53\n\
            @ MX 10 mail\nmail AAAA 2001:db8::25\n\
            txt TXT \"with spaces\" \"and \\\"quotes\\\"; semicolon\"\n\
            _sip._tcp SRV 10 60 5060 mail\n\
            svc HTTPS 1 . alpn=\"h2,h3\" port=8443\n\
            odd TYPE65534 \\# 2 abcd\n\
            *.wild 300 A 192.0.2.99\nsub NS ns.sub\nns.sub A 192.0.2.153\n";
        let records = crate::zonefile::parse_text(Path::new("t"), text, &apex).unwrap();
        let zone = ZoneSpec {
            name: apex.clone(),
            records,
        };
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &zone).unwrap();
        assert!(path(dir.path(), &apex).ends_with("kept.test.zone"));
        let (back, age) = load(dir.path(), &apex).unwrap().unwrap();
        assert!(age < Duration::from_secs(60));
        let key = |z: &ZoneSpec| {
            let mut v: Vec<String> = z
                .records
                .iter()
                .map(|r| format!("{} {} {} {:?}", r.owner, r.ttl.as_secs(), r.rtype, r.values))
                .collect();
            v.sort();
            v
        };
        assert_eq!(key(&back), key(&zone));
        touch(dir.path(), &apex).unwrap();
        assert!(
            load(dir.path(), &DName::from_str("other.test.").unwrap())
                .unwrap()
                .is_none()
        );
    }
}
