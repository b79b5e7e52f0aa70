//! Route 53 compatibility (SPEC §6, issues 5 and 13): the real clients,
//! boto3, the aws CLI and octoDNS, against the real binary. The tests are Python
//! (`tests/route53/`, pytest); this runs them with the binary cargo built.
//!
//! Missing Python modules are a failure, not a skip: CI installs them
//! (`.ci/run`), and a developer needs the line this test prints.

use std::process::Command;

const PIP_LINE: &str =
    "pip install boto3 awscli dnspython pytest octodns octodns-route53 mmdb-writer";

#[test]
fn boto3_and_the_aws_cli_work_unchanged() {
    let root = env!("CARGO_MANIFEST_DIR");
    let probe = Command::new("python3")
        .args([
            "-c",
            "import boto3, botocore, awscli, dns.message, pytest, octodns, octodns_route53, mmdb_writer",
        ])
        .output();
    match probe {
        Err(e) => panic!("cannot run python3 ({e}); install Python 3, then: {PIP_LINE}"),
        Ok(out) if !out.status.success() => panic!(
            "the Route 53 client tests need Python modules that are missing:\n{}\ninstall them with: {PIP_LINE}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Ok(_) => {}
    }
    let status = Command::new("python3")
        .args([
            "-m",
            "pytest",
            "tests/route53",
            "-q",
            "-p",
            "no:cacheprovider",
        ])
        .current_dir(root)
        .env("EIGHTFOLD_BIN", env!("CARGO_BIN_EXE_eightfold"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .status()
        .expect("run python3 -m pytest");
    assert!(
        status.success(),
        "the Route 53 client tests failed ({status}); rerun them with: \
         EIGHTFOLD_BIN=target/debug/eightfold python3 -m pytest tests/route53 -q"
    );
}
