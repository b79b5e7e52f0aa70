//! Dynamic update (RFC 2136) with real clients: `nsupdate` adds and
//! deletes an ACME challenge over UDP and TCP, seen by dig and the JSON
//! API; unsigned, unknown-key, bad-MAC, out-of-rule, routed and file-zone
//! updates are refused; dnspython's failing prerequisites leave the zone
//! untouched, and see the generated NS and its address.
mod common;

use std::process::Command;
use std::time::Duration;

use common::Server;
use serde_json::{Value, json};

/// base64 of "secretsecretsecretsecret".
const SECRET: &str = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0";
/// Another secret for the same key name.
const WRONG: &str = "d3Jvbmd3cm9uZ3dyb25nd3Jvbmd3cm9uZw==";

fn config() -> String {
    format!(
        "[server]\napi = \"127.0.0.1:0\"\n\n\
         [[tsig_key]]\nname = \"acme.key\"\nsecret = \"{SECRET}\"\n\
         update = [{{ name = \"_acme-challenge.*.dyn.test.\", types = [\"TXT\"] }},\n\
                   {{ name = \"*.file.test.\", types = [\"TXT\"] }},\n\
                   {{ name = \"routed.dyn.test.\", types = [\"A\"] }}]\n\n\
         [[tsig_key]]\nname = \"read.key\"\nsecret = \"{SECRET}\"\n\n\
         [[zone]]\nname = \"file.test\"\n\
         [[zone.record]]\nname = \"www\"\ntype = \"A\"\nvalue = \"192.0.2.1\"\n"
    )
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn post(url: &str, body: Value) -> (u16, Value) {
    let mut r = agent().post(url).send_json(&body).unwrap();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (
        r.status().as_u16(),
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn records(s: &Server, zone: &str) -> Value {
    let url = format!("{}/v1/zones/{zone}/records", s.api_url());
    let mut r = agent().get(&url).call().unwrap();
    let body: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    body["records"].clone()
}

/// A server with the API zone dyn.test, holding a routed group.
fn server() -> Server {
    let s = Server::start(&config());
    let api = s.api_url();
    let (status, body) = post(&format!("{api}/v1/zones"), json!({"name": "dyn.test."}));
    assert_eq!(status, 201, "{body}");
    let routed = |set: &str, ip: &str| json!({"action": "CREATE", "record": {"name": "routed", "type": "A", "ttl": 60, "routing": "multivalue", "set": set, "value": ip}});
    let (status, body) = post(
        &format!("{api}/v1/zones/dyn.test/changes"),
        json!({"changes": [routed("a", "192.0.2.10"), routed("b", "192.0.2.11")]}),
    );
    assert_eq!(status, 200, "{body}");
    s
}

/// Runs nsupdate with `commands` (the server line is added); returns
/// whether it succeeded, and what it printed.
fn nsupdate(s: &Server, args: &[&str], commands: &str) -> (bool, String) {
    let script = format!(
        "server {} {}\n{commands}\nsend\n",
        s.addr().ip(),
        s.addr().port()
    );
    let file = s.dir.path().join("nsupdate.txt");
    std::fs::write(&file, script).unwrap();
    let out = Command::new("nsupdate")
        .args(args)
        .arg(&file)
        .output()
        .expect("nsupdate (apt install dnsutils)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn key(name: &str, secret: &str) -> String {
    format!("hmac-sha256:{name}:{secret}")
}

#[test]
fn nsupdate_adds_and_deletes_an_acme_challenge_over_udp_and_tcp() {
    let s = server();
    let acme = key("acme.key", SECRET);
    let serial = |s: &Server| -> u32 {
        let soa = s.dig(&["dyn.test", "SOA", "+short"]);
        soa.split_whitespace()
            .nth(2)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{soa}"))
    };
    let before = serial(&s);
    let (ok, out) = nsupdate(
        &s,
        &["-y", &acme],
        "zone dyn.test.\nupdate add _acme-challenge.www.dyn.test. 60 TXT \"token one\"",
    );
    assert!(ok, "{out}\n{}", s.logs());
    // An update is a change of the zone: its serial moves by one.
    assert_eq!(serial(&s), before.wrapping_add(1));
    let dig = s.dig(&["_acme-challenge.www.dyn.test", "TXT", "+short"]);
    assert_eq!(dig.trim(), "\"token one\"");
    assert_eq!(
        records(&s, "dyn.test")
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["type"] == "TXT")
            .cloned(),
        Some(
            json!({"name": "_acme-challenge.www.dyn.test.", "type": "TXT", "ttl": 60, "values": ["\"token one\""]})
        )
    );
    // A second value over TCP (-v): the set holds both.
    let (ok, out) = nsupdate(
        &s,
        &["-v", "-y", &acme],
        "zone dyn.test.\nupdate add _acme-challenge.www.dyn.test. 60 TXT \"token two\"",
    );
    assert!(ok, "{out}");
    let mut dig = common::records(&s.dig(&["_acme-challenge.www.dyn.test", "TXT"]));
    dig.sort();
    assert_eq!(dig.len(), 2, "{dig:?}");
    // Delete one value, then the whole set.
    let (ok, out) = nsupdate(
        &s,
        &["-y", &acme],
        "update delete _acme-challenge.www.dyn.test. TXT \"token one\"",
    );
    assert!(ok, "{out}");
    let dig = s.dig(&["_acme-challenge.www.dyn.test", "TXT", "+short"]);
    assert_eq!(dig.trim(), "\"token two\"");
    let (ok, out) = nsupdate(
        &s,
        &["-v", "-y", &acme],
        "update delete _acme-challenge.www.dyn.test. TXT",
    );
    assert!(ok, "{out}");
    let dig = s.dig(&["_acme-challenge.www.dyn.test", "TXT"]);
    assert_eq!(common::status(&dig), "NXDOMAIN", "{dig}");
    assert!(
        records(&s, "dyn.test")
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["type"] != "TXT")
    );
}

#[test]
fn updates_without_a_good_key_or_outside_its_rules_are_refused_and_change_nothing() {
    let s = server();
    let before = records(&s, "dyn.test");
    let add = "zone dyn.test.\nupdate add _acme-challenge.www.dyn.test. 60 TXT \"x\"";
    let cases: [(Vec<String>, &str, &str); 7] = [
        (vec![], add, "REFUSED"),
        (vec!["-y".into(), key("other.key", SECRET)], add, "BADKEY"),
        (vec!["-y".into(), key("acme.key", WRONG)], add, "BADSIG"),
        // A key without rules may not update at all.
        (vec!["-y".into(), key("read.key", SECRET)], add, "REFUSED"),
        // Outside the key's rules: another name, another type.
        (
            vec!["-y".into(), key("acme.key", SECRET)],
            "zone dyn.test.\nupdate add www.dyn.test. 60 TXT \"x\"",
            "REFUSED",
        ),
        (
            vec!["-y".into(), key("acme.key", SECRET)],
            "zone dyn.test.\nupdate add _acme-challenge.www.dyn.test. 60 CNAME elsewhere.test.",
            "REFUSED",
        ),
        // A routed group: Route 53's routed and simple sets do not mix.
        (
            vec!["-y".into(), key("acme.key", SECRET)],
            "zone dyn.test.\nupdate add routed.dyn.test. 60 A 192.0.2.12",
            "REFUSED",
        ),
    ];
    for (args, commands, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, out) = nsupdate(&s, &args, commands);
        assert!(!ok, "{args:?} {commands}: {out}");
        assert!(
            out.contains(expected),
            "{args:?} {commands}: wanted {expected}: {out}"
        );
    }
    assert_eq!(records(&s, "dyn.test"), before);
    assert!(
        s.logs()
            .contains("routed record sets change through the API only")
    );
    // A file zone is the config file's: NOTAUTH, with a log line saying so.
    let (ok, out) = nsupdate(
        &s,
        &["-y", &key("acme.key", SECRET)],
        "zone file.test.\nupdate add x.file.test. 60 TXT \"x\"",
    );
    assert!(!ok && out.contains("NOTAUTH"), "{out}");
    assert!(
        s.logs()
            .contains("dynamic update changes only API-managed zones"),
        "{}",
        s.logs()
    );
    let dig = s.dig(&["x.file.test", "TXT"]);
    assert_eq!(common::status(&dig), "NXDOMAIN", "{dig}");
}

#[test]
fn dnspython_prerequisites_that_fail_leave_the_zone_untouched() {
    let s = server();
    let script = format!(
        r#"
import dns.update, dns.query, dns.tsigkeyring, dns.rcode
keyring = dns.tsigkeyring.from_text({{"acme.key.": "{SECRET}"}})
ip, port = "{ip}", {port}
def send(u):
    r = dns.query.tcp(u, ip, port=port, timeout=5)
    return dns.rcode.to_text(r.rcode())
def update():
    return dns.update.UpdateMessage("dyn.test.", keyring=keyring, keyname="acme.key.")
u = update(); u.add("_acme-challenge.a", 60, "TXT", '"first"')
print("add", send(u))
# NXRRSET: the set must exist, and it does not.
u = update(); u.present("_acme-challenge.b", "TXT"); u.add("_acme-challenge.b", 60, "TXT", '"x"')
print("nxrrset", send(u))
# YXDOMAIN: the name must be unused, and it is used.
u = update(); u.absent("_acme-challenge.a"); u.add("_acme-challenge.a", 60, "TXT", '"x"')
print("yxdomain", send(u))
# Value-dependent: the set must hold exactly these values.
u = update(); u.present("_acme-challenge.a", "TXT", '"other"'); u.delete("_acme-challenge.a", "TXT")
print("nxrrset-values", send(u))
# Satisfied: replace the value in one update.
u = update(); u.present("_acme-challenge.a", "TXT", '"first"'); u.replace("_acme-challenge.a", 60, "TXT", '"second"')
print("replace", send(u))
# The apex SOA is generated, yet exists for prerequisites: YXRRSET.
u = update(); u.absent("@", "SOA"); u.add("_acme-challenge.c", 60, "TXT", '"x"')
print("yxrrset", send(u))
# NOTZONE: a name outside the zone.
u = update(); u.add("_acme-challenge.a.elsewhere.test.", 60, "TXT", '"x"')
print("notzone", send(u))
"#,
        ip = s.addr().ip(),
        port = s.addr().port()
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python3 with dnspython (pip install dnspython)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "add NOERROR",
            "nxrrset NXRRSET",
            "yxdomain YXDOMAIN",
            "nxrrset-values NXRRSET",
            "replace NOERROR",
            "yxrrset YXRRSET",
            "notzone NOTZONE"
        ],
        "stderr: {stderr}\nlogs: {}",
        s.logs()
    );
    let txt: Vec<Value> = records(&s, "dyn.test")
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "TXT")
        .cloned()
        .collect();
    assert_eq!(
        txt,
        [
            json!({"name": "_acme-challenge.a.dyn.test.", "type": "TXT", "ttl": 60, "values": ["\"second\""]})
        ]
    );
}

#[test]
fn check_refuses_bad_update_rules_with_located_messages() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[[tsig_key]]\nname = \"acme.key\"\nsecret = \"{SECRET}\"\n\
         update = [{{ name = \"_acme-challenge.*.example.com\", types = [\"TXT\"] }},\n\
                   {{ name = \"x.example.com.\", types = [\"SOA\"] }}]\n"
    );
    std::fs::write(dir.path().join("e.toml"), config).unwrap();
    let out = common::run(&["check", "e.toml"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(
            "e.toml:4:11: tsig_key \"acme.key\": update rule name \"_acme-challenge.*.example.com\" must be absolute (end with a dot)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("e.toml:5:1: tsig_key \"acme.key\": update rule \"x.example.com.\": SOA cannot be updated"),
        "{stderr}"
    );
}

/// RFC 6891 §7: a request with an OPT gets one back, on updates too, with
/// the server cookie the answer path would give (RFC 7873), before the
/// TSIG (which must stay last); a request without an OPT gets none.
#[test]
fn updates_with_edns_are_answered_with_an_opt_and_a_server_cookie() {
    let s = server();
    let script = format!(
        r#"
import dns.update, dns.query, dns.tsigkeyring, dns.rcode, dns.edns
keyring = dns.tsigkeyring.from_text({{"acme.key.": "{SECRET}"}})
ip, port = "{ip}", {port}
client = bytes.fromhex("0102030405060708")
def update(signed=True, cookie=True):
    u = dns.update.UpdateMessage("dyn.test.", keyring=keyring if signed else None,
                                 keyname="acme.key." if signed else None)
    if cookie is not None:
        u.use_edns(0, options=[dns.edns.GenericOption(dns.edns.COOKIE, client)] if cookie else [])
    u.add("_acme-challenge.e", 60, "TXT", '"edns"')
    return u
def show(label, r):
    cookies = [o for o in r.options if o.otype == dns.edns.COOKIE]
    c = cookies[0].to_wire() if cookies else b""
    print(label, dns.rcode.to_text(r.rcode()), "edns", r.edns,
          "cookie", c[:8] == client and len(c) == 24,
          "tsig-last", r.had_tsig)
show("udp", dns.query.udp(update(), ip, port=port, timeout=5))
show("tcp", dns.query.tcp(update(), ip, port=port, timeout=5))
show("plain-edns", dns.query.tcp(update(cookie=False), ip, port=port, timeout=5))
show("no-edns", dns.query.tcp(update(cookie=None), ip, port=port, timeout=5))
show("unsigned", dns.query.tcp(update(signed=False), ip, port=port, timeout=5))
"#,
        ip = s.addr().ip(),
        port = s.addr().port()
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python3 with dnspython (pip install dnspython)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "udp NOERROR edns 0 cookie True tsig-last True",
            "tcp NOERROR edns 0 cookie True tsig-last True",
            "plain-edns NOERROR edns 0 cookie False tsig-last True",
            "no-edns NOERROR edns -1 cookie False tsig-last True",
            "unsigned REFUSED edns 0 cookie True tsig-last False",
        ],
        "stderr: {stderr}\nlogs: {}",
        s.logs()
    );
}

fn delete(url: &str) -> (u16, Value) {
    let mut r = agent().delete(url).call().unwrap();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (
        r.status().as_u16(),
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn get(url: &str) -> (u16, Value) {
    let mut r = agent().get(url).call().unwrap();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (
        r.status().as_u16(),
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

/// A key made through `/v1/tsig-keys` signs updates within its rules at
/// once, survives a restart, and stops working the moment it is deleted;
/// its secret is shown only in the reply that made it; the config file's
/// keys cannot be shadowed or deleted; bad keys are refused by field.
#[test]
fn tsig_keys_made_through_the_api_sign_updates_until_deleted() {
    let s = server();
    let api = s.api_url();
    let (status, made) = post(
        &format!("{api}/v1/tsig-keys"),
        json!({"name": "tenant.key", "update": [{"name": "_acme-challenge.*.dyn.test.", "types": ["TXT"]}]}),
    );
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["name"], "tenant.key.");
    assert_eq!(made["algorithm"], "hmac-sha256");
    assert_eq!(made["source"], "api");
    let secret = made["secret"].as_str().expect("the new secret").to_string();
    let decoded = Command::new("base64")
        .args(["-d"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(secret.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(decoded.stdout.len(), 32, "a 256-bit secret: {secret}");

    let tenant = key("tenant.key", &secret);
    let (ok, out) = nsupdate(
        &s,
        &["-y", &tenant],
        "zone dyn.test.\nupdate add _acme-challenge.www.dyn.test. 60 TXT \"tenant\"",
    );
    assert!(ok, "{out}\n{}", s.logs());
    assert_eq!(
        s.dig(&["_acme-challenge.www.dyn.test", "TXT", "+short"])
            .trim(),
        "\"tenant\""
    );
    // Its rules hold: an A record is outside them.
    let (ok, out) = nsupdate(
        &s,
        &["-y", &tenant],
        "zone dyn.test.\nupdate add other.dyn.test. 60 A 192.0.2.9",
    );
    assert!(!ok && out.contains("REFUSED"), "{out}");

    // Reads never show a secret; the config file's keys are listed too.
    let (status, list) = get(&format!("{api}/v1/tsig-keys"));
    assert_eq!(status, 200);
    let names: Vec<&str> = list["tsig_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme.key.", "read.key.", "tenant.key."], "{list}");
    assert!(!list.to_string().contains("secret"), "{list}");
    let (status, one) = get(&format!("{api}/v1/tsig-keys/TENANT.key"));
    assert_eq!(status, 200, "{one}");
    assert!(one.get("secret").is_none(), "{one}");
    assert_eq!(one["update"][0]["types"], json!(["TXT"]));

    // One owner per name; bad fields named; config keys stay.
    let refusals = [
        (json!({"name": "tenant.key"}), 409, "already exists"),
        (json!({"name": "ACME.key."}), 409, "config file"),
        (
            json!({"name": "old.key", "algorithm": "hmac-md5", "secret": SECRET}),
            400,
            "HMAC-MD5",
        ),
        (
            json!({"name": "bad.key", "secret": "not base64!"}),
            400,
            "not base64",
        ),
        (
            json!({"name": "rule.key", "update": [{"name": "relative", "types": ["TXT"]}]}),
            400,
            "absolute",
        ),
        (json!({"name": "x.key", "colour": "red"}), 400, "colour"),
    ];
    for (body, want, needle) in refusals {
        let (status, reply) = post(&format!("{api}/v1/tsig-keys"), body.clone());
        assert_eq!(status, want, "{body} -> {reply}");
        assert!(reply.to_string().contains(needle), "{body} -> {reply}");
    }
    let (status, reply) = delete(&format!("{api}/v1/tsig-keys/acme.key"));
    assert_eq!(status, 409, "{reply}");
    assert_eq!(reply["error"]["code"], "FileManaged", "{reply}");

    // The key is in the store: a restarted server knows it.
    let dir = s.kill();
    let config = dir.path().join("eightfold.toml");
    let s = Server::spawn(
        dir,
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--dns",
            "127.0.0.1:0",
        ],
    );
    let api = s.api_url();
    let (ok, out) = nsupdate(
        &s,
        &["-y", &tenant],
        "zone dyn.test.\nupdate add _acme-challenge.api.dyn.test. 60 TXT \"after restart\"",
    );
    assert!(ok, "{out}\n{}", s.logs());

    // Deleted: the next update is BADKEY, and changes nothing.
    let (status, reply) = delete(&format!("{api}/v1/tsig-keys/tenant.key"));
    assert_eq!(status, 204, "{reply}");
    let (ok, out) = nsupdate(
        &s,
        &["-y", &tenant],
        "zone dyn.test.\nupdate add _acme-challenge.gone.dyn.test. 60 TXT \"gone\"",
    );
    assert!(!ok, "{out}");
    let dig = s.dig(&["_acme-challenge.gone.dyn.test", "TXT"]);
    assert_eq!(common::status(&dig), "NXDOMAIN", "{dig}");
    let (status, _) = get(&format!("{api}/v1/tsig-keys/tenant.key"));
    assert_eq!(status, 404);
    let (status, _) = delete(&format!("{api}/v1/tsig-keys/tenant.key"));
    assert_eq!(status, 404);
}

/// Prerequisites see the zone as it is served (RFC 2136 §3.2): dyn.test
/// declares no NS, so it is served the generated `ns1.dyn.test.` and that
/// name's address, and "NS exists at the apex" holds.
#[test]
fn prerequisites_see_the_generated_ns_and_its_address() {
    let s = server();
    let acme = key("acme.key", SECRET);
    let ns = s.dig(&["dyn.test", "NS", "+short"]);
    assert_eq!(ns.trim(), "ns1.dyn.test.", "{ns}");
    let (ok, out) = nsupdate(
        &s,
        &["-y", &acme],
        "zone dyn.test.\nprereq yxrrset dyn.test. NS\nprereq yxdomain ns1.dyn.test.\n\
         prereq yxrrset ns1.dyn.test. A\nprereq yxrrset dyn.test. SOA\n\
         update add _acme-challenge.ns.dyn.test. 60 TXT \"generated\"",
    );
    assert!(ok, "{out}\n{}", s.logs());
    let dig = s.dig(&["_acme-challenge.ns.dyn.test", "TXT", "+short"]);
    assert_eq!(dig.trim(), "\"generated\"");
    // And the generated NS is not absent: "no NS at the apex" fails.
    let (ok, out) = nsupdate(
        &s,
        &["-y", &acme],
        "zone dyn.test.\nprereq nxrrset dyn.test. NS\n\
         update add _acme-challenge.nx.dyn.test. 60 TXT \"never\"",
    );
    assert!(!ok, "{out}");
    assert!(out.contains("YXRRSET"), "{out}");
    let dig = s.dig(&["_acme-challenge.nx.dyn.test", "TXT", "+short"]);
    assert_eq!(dig.trim(), "");
}
