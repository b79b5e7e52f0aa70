//! `eightfold check` warns where BIND's `named-checkzone` does: the same
//! zones through both, the warnings compared as (owner, type, target,
//! kind). BIND's "(out of zone)" lines are left out: they come from
//! address lookups it makes over the network, which eightfold does not
//! make (docs/zone-files.md#warnings).
mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// One warning: owner, type, target (lower case, no final dot), kind.
type Finding = (String, String, String, &'static str);

fn kind(text: &str) -> Option<&'static str> {
    if text.contains("REQUIRED GLUE") || text.contains("has no glue") {
        Some("no-glue")
    } else if text.contains("is a CNAME") {
        Some("cname")
    } else if text.contains("has no address records") {
        Some("no-address")
    } else {
        None
    }
}

fn bare(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// BIND: `zone example/IN: owner/TYPE 'target' ...`, or for the apex NS
/// `zone example/IN: NS 'target' ...`.
fn bind_findings(apex: &str, path: &Path) -> BTreeSet<Finding> {
    let out = Command::new("named-checkzone")
        .args(["-n", "ignore", apex])
        .arg(path)
        .output()
        .expect("named-checkzone (apt install bind9-utils)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut found = BTreeSet::new();
    for line in text.lines().filter(|l| !l.contains("(out of zone)")) {
        let Some(kind) = kind(line) else { continue };
        let rest = line.split_once(": ").map_or(line, |(_, r)| r);
        let (head, tail) = rest.split_once(" '").expect(line);
        let target = tail.split('\'').next().unwrap();
        let (owner, rtype) = head.rsplit_once('/').unwrap_or((apex, head));
        found.insert((bare(owner), rtype.to_string(), bare(target), kind));
    }
    found
}

/// eightfold: `file:line:col: warning: owner./TYPE 'target.': ...`.
fn our_findings(dir: &Path, apex: &str) -> BTreeSet<Finding> {
    std::fs::write(
        dir.join("eightfold.toml"),
        format!("[[zone]]\nname = \"{apex}\"\nfile = \"zone.db\"\n"),
    )
    .unwrap();
    let out = common::run(&["check", "eightfold.toml"], dir);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let Some((_, warning)) = line.split_once("warning: ") else {
            continue;
        };
        let kind = kind(warning).expect(line);
        let (head, tail) = warning.split_once(" '").unwrap();
        let target = tail.split('\'').next().unwrap();
        let (owner, rtype) = head.rsplit_once('/').unwrap();
        found.insert((bare(owner), rtype.to_string(), bare(target), kind));
    }
    found
}

const HEAD: &str =
    "$ORIGIN example.\n$TTL 3600\n@ SOA ns1 host 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n";

#[test]
fn check_warns_where_named_checkzone_does() {
    let cases: &[(&str, &str)] = &[
        ("clean", "@ MX 10 ns1\n@ MX 0 .\nwww CNAME ns1\n"),
        ("apex NS without address", "@ NS ns2\n"),
        ("apex NS at a CNAME", "@ NS nsalias\nnsalias CNAME ns1\n"),
        (
            "MX and SRV targets",
            "@ MX 10 mail\n@ MX 20 alias\nalias CNAME ns1\n_sip._tcp SRV 0 0 5060 alias\n\
             _xmpp._tcp SRV 0 0 5222 nowhere\n",
        ),
        (
            "a wildcard gives an address",
            "@ MX 10 host.wild\n*.wild A 192.0.2.9\n",
        ),
        ("a delegation without glue", "sub NS ns.sub\n"),
        (
            "a delegation with glue",
            "sub NS ns.sub\nns.sub A 192.0.2.2\n",
        ),
        (
            "a delegation to a server elsewhere",
            "sub NS ns.other.net.\nside NS ns1\n",
        ),
        (
            "an address-less AAAA-only server",
            "@ NS ns6\nns6 AAAA 2001:db8::6\n",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let zone = dir.path().join("zone.db");
    let mut differences = Vec::new();
    let mut warned = 0;
    for (name, body) in cases {
        std::fs::write(&zone, format!("{HEAD}{body}")).unwrap();
        let bind = bind_findings("example.", &zone);
        let ours = our_findings(dir.path(), "example.");
        warned += ours.len();
        if bind != ours {
            differences.push(format!(
                "{name}:\n  named-checkzone {bind:?}\n  eightfold       {ours:?}"
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    // The cases are not all clean: the comparison compared something.
    assert!(warned >= 6, "{warned}");
}
