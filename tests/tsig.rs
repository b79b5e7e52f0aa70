//! TSIG (RFC 8945) with real clients: dig signs with `-y`, dnspython
//! signs with a clock of its choosing (BADTIME); `eightfold check` refuses
//! bad keys with located messages.
mod common;

use common::Server;

/// base64 of "secretsecretsecretsecret".
const SECRET: &str = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0";
/// Another secret for the same key name.
const WRONG: &str = "d3Jvbmd3cm9uZ3dyb25nd3Jvbmd3cm9uZw==";

fn config() -> String {
    format!(
        "[[tsig_key]]\nname = \"xfr.key\"\nsecret = \"{SECRET}\"\n\n\
         [[tsig_key]]\nname = \"big.key\"\nalgorithm = \"hmac-sha512\"\nsecret_file = \"big.secret\"\n\n\
         [[zone]]\nname = \"example.test\"\n\
         [[zone.record]]\nname = \"www\"\ntype = \"A\"\nvalue = \"192.0.2.1\"\n"
    )
}

fn server() -> Server {
    Server::start_with_files(&config(), &[("big.secret", &format!("{SECRET}\n"))])
}

/// The TSIG line of dig's output, split into fields.
fn tsig_line(out: &str) -> Vec<String> {
    out.lines()
        .find(|l| l.contains("\tTSIG\t"))
        .unwrap_or_else(|| panic!("no TSIG record:\n{out}"))
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn signed_queries_get_signed_answers_that_dig_verifies() {
    let s = server();
    for (key, transport) in [
        ("hmac-sha256:xfr.key", "+notcp"),
        ("hmac-sha256:XFR.Key", "+tcp"),
        ("hmac-sha512:big.key", "+notcp"),
    ] {
        let out = s.dig(&[
            "www.example.test",
            "A",
            "+norec",
            transport,
            "-y",
            &format!("{key}:{SECRET}"),
        ]);
        assert_eq!(common::status(&out), "NOERROR", "{key}: {out}");
        assert!(out.contains("192.0.2.1"), "{key}: {out}");
        // dig says "Couldn't verify signature" when the MAC is wrong.
        assert!(!out.contains("verify"), "{key}: {out}");
        let tsig = tsig_line(&out);
        assert_eq!(tsig[tsig.len() - 2], "NOERROR", "{key}: {out}");
    }
    // Outside every zone: REFUSED, still signed.
    let out = s.dig(&[
        "www.other.invalid",
        "-y",
        &format!("hmac-sha256:xfr.key:{SECRET}"),
    ]);
    assert_eq!(common::status(&out), "REFUSED", "{out}");
    assert!(!out.contains("verify"), "{out}");
    tsig_line(&out);
    // A key not configured, or a wrong MAC, is NOTAUTH for any name
    // (RFC 8945 §5.2.2), outside every zone too, as NSD answers.
    for (key, error) in [
        (format!("hmac-sha256:nobody.key:{SECRET}"), "BADKEY"),
        (format!("hmac-sha256:xfr.key:{WRONG}"), "BADSIG"),
    ] {
        let out = s.dig(&["www.other.invalid", "-y", &key]);
        assert_eq!(common::status(&out), "NOTAUTH", "{out}");
        let tsig = tsig_line(&out);
        assert_eq!(tsig[tsig.len() - 2], error, "{out}");
    }
}

#[test]
fn a_wrong_secret_gets_badsig_and_an_unknown_key_badkey_both_unsigned() {
    let s = server();
    let out = s.dig(&[
        "www.example.test",
        "-y",
        &format!("hmac-sha256:xfr.key:{WRONG}"),
    ]);
    assert_eq!(common::status(&out), "NOTAUTH", "{out}");
    assert!(!out.contains("192.0.2.1"), "{out}");
    let tsig = tsig_line(&out);
    assert_eq!(tsig[tsig.len() - 2], "BADSIG", "{out}");
    assert_eq!(tsig[7], "0", "no MAC on an error about the MAC: {out}");

    let out = s.dig(&[
        "www.example.test",
        "-y",
        &format!("hmac-sha256:nobody.key:{SECRET}"),
    ]);
    assert_eq!(common::status(&out), "NOTAUTH", "{out}");
    let tsig = tsig_line(&out);
    assert_eq!(tsig[tsig.len() - 2], "BADKEY", "{out}");
    // The right name with another algorithm is another key.
    let out = s.dig(&[
        "www.example.test",
        "-y",
        &format!("hmac-sha384:xfr.key:{SECRET}"),
    ]);
    let tsig = tsig_line(&out);
    assert_eq!(tsig[tsig.len() - 2], "BADKEY", "{out}");
}

#[test]
fn a_request_signed_an_hour_ago_gets_a_signed_badtime_with_the_server_clock() {
    let s = server();
    // dnspython with its clock set back an hour: the MAC is right, the
    // time is outside the 300 s fudge.
    let script = format!(
        r#"
import time, dns.message, dns.query, dns.tsigkeyring, dns.rcode, dns.tsig
real = time.time
keyring = dns.tsigkeyring.from_text({{"xfr.key.": "{SECRET}"}})
q = dns.message.make_query("www.example.test.", "A")
q.use_tsig(keyring, keyname="xfr.key.")
time.time = lambda: real() - 3600
wire = q.to_wire()
time.time = real
import socket
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(3)
sock.sendto(wire, ("{ip}", {port}))
data, _ = sock.recvfrom(65535)
try:
    r = dns.message.from_wire(data, keyring=keyring, request_mac=q.mac)
    print("verified", dns.rcode.to_text(r.rcode()), r.tsig_error, r.tsig[0].other.hex() if r.tsig else "")
except dns.tsig.PeerBadTime as e:
    print("badtime-raised")
"#,
        ip = s.addr().ip(),
        port = s.addr().port()
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python3 with dnspython (pip install dnspython)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // dnspython checks the response's MAC and then raises for BADTIME:
    // the answer was signed with the key, and said BADTIME.
    assert!(
        stdout.contains("badtime-raised"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
}

#[test]
fn check_refuses_md5_unknown_algorithms_and_bad_secrets_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[[tsig_key]]\nname = \"old.key\"\nalgorithm = \"hmac-md5\"\nsecret = \"c2VjcmV0\"\n\n\
        [[tsig_key]]\nname = \"odd.key\"\nalgorithm = \"hmac-sha3\"\nsecret = \"c2VjcmV0\"\n\n\
        [[tsig_key]]\nname = \"bad.key\"\nsecret = \"not base64!\"\n\n\
        [[tsig_key]]\nname = \"two.key\"\nsecret = \"c2VjcmV0\"\nsecret_file = \"x\"\n\n\
        [server]\nallow_transfer = [{ key = \"missing.key\" }, {}]\n\
        notify_key = \"nokey\"\nnotify = [\"nowhere\"]\n";
    std::fs::write(dir.path().join("eightfold.toml"), config).unwrap();
    let out = common::run(&["check", "eightfold.toml"], dir.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "eightfold.toml:3:13: tsig_key \"old.key\": algorithm \"hmac-md5\" (HMAC-MD5) is refused",
        "eightfold.toml:8:13: tsig_key \"odd.key\": unknown TSIG algorithm \"hmac-sha3\"",
        "eightfold.toml:13:10: tsig_key \"bad.key\": the secret is not base64",
        "eightfold.toml:16:8: tsig_key \"two.key\": give the secret either inline",
        "eightfold.toml:21:27: server: allow_transfer: no tsig_key is named \"missing.key\"",
        "eightfold.toml:21:44: server: allow_transfer: an entry needs `from`",
        "eightfold.toml:22:14: server: notify_key: no tsig_key is named \"nokey\"",
        "eightfold.toml:23:11: server: notify: \"nowhere\" is not an address",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}
