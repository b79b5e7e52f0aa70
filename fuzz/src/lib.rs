//! Shared pieces of the fuzz targets: a rich zone served by every handler
//! run, and the checks every response must pass.

use std::path::Path;
use std::sync::OnceLock;

use domain::base::Message;
use domain::base::iana::{OptRcode, Rcode};
use domain::base::name::ToLabelIter;
use domain::rdata::AllRecordData;
use eightfold::config::Config;
use eightfold::dns::handler::{MAX_UDP_PAYLOAD, Published, Scratch, Transport, respond};

/// A master file exercising every path of the resolver: CNAME chains and
/// loops, wildcards, delegations with glue, DNAME (including one that
/// overflows a long name), escaped and mixed-case labels, RFC 3597 data,
/// and answers far larger than 512 and 1232 bytes.
pub const ZONE: &str = r#"
$ORIGIN example.test.
$TTL 3600
@   IN  SOA  ns1.example.test. hostmaster.example.test. ( 2024010101 7200 900 1209600 300 )
@           NS      ns1
@           NS      ns2.example.test.
ns1         A       192.0.2.53
ns2         A       198.51.100.53
ns2         AAAA    2001:db8:1::53
@           A       192.0.2.10
@           AAAA    2001:db8::10
@           MX      10 mail
@           MX      20 mail-backup.example.net.
@           TXT     "v=spf1 mx -all"
@           CAA     0 issue "letsencrypt.org"
www     300 IN  A       192.0.2.10
www     300 IN  A       192.0.2.11
www     300 IN  AAAA    2001:db8::10
WwW.Mixed   A       192.0.2.12
dot\.label  A       192.0.2.13
dot\.label  TXT     "escaped \"label\""
blog        CNAME   www
c1          CNAME   c2
c2          CNAME   c3
c3          CNAME   c4
c4          CNAME   c5
c5          CNAME   c6
c6          CNAME   c7
c7          CNAME   c8
c8          CNAME   c9
c9          CNAME   c10
c10         A       192.0.2.99
loop1       CNAME   loop2
loop2       CNAME   loop1
self        CNAME   self
out         CNAME   www.elsewhere.example.
tosub       CNAME   host.sub
towild      CNAME   x.apps
mail        A       192.0.2.25
mail        AAAA    2001:db8::25
info        TXT     "hello world" "a second string" "semicolons; and \"quotes\""
_sip._tcp   SRV     10 60 5060 sip
            SRV     20 40 5060 sip-backup
sip         A       192.0.2.60
sip-backup  A       192.0.2.61
sip         NAPTR   100 10 "S" "SIP+D2U" "" _sip._udp.example.test.
_sip._udp   SRV     10 0 5060 sip
10.ptr      PTR     www.example.test.
*.apps      A       192.0.2.80
*.apps      TXT     "served by the wildcard"
*.apps      MX      10 mail
static.apps A       192.0.2.81
*.cn        CNAME   www
*           TXT     "top wildcard"
sub         NS      ns.sub
sub         NS      ns.elsewhere.example.
sub         DS      12345 8 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
ns.sub      A       192.0.2.153
ns.sub      AAAA    2001:db8::153
dn          DNAME   target.example.test.
host.target A       192.0.2.70
dnout       DNAME   elsewhere.example.
dnloop      DNAME   x.dnloop.example.test.
dnlong      DNAME   aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc.example.test.
hinfo       HINFO   "PC" "Linux"
sshfp       SSHFP   1 1 0123456789abcdef0123456789abcdef01234567
tlsa        TLSA    3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
svc         SVCB    1 svc.example.net. alpn=h2,h3 port=8443
https       HTTPS   1 . alpn=h2
unknown     TYPE65534 \# 4 deadbeef
empty       TYPE65533 \# 0
big         TXT     "0012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678"
big         TXT     "1012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678"
big         TXT     "2012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678"
big         TXT     "3012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678"
big         TXT     "4012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678"
big         TXT     "5012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678"
manyaddr    A       192.0.2.101
manyaddr    A       192.0.2.102
manyaddr    A       192.0.2.103
manyaddr    A       192.0.2.104
manyaddr    A       192.0.2.105
manyaddr    A       192.0.2.106
manyaddr    A       192.0.2.107
manyaddr    A       192.0.2.108
manyaddr    A       192.0.2.109
manyaddr    A       192.0.2.110
manyaddr    A       192.0.2.111
manyaddr    A       192.0.2.112
manyaddr    A       192.0.2.113
manyaddr    A       192.0.2.114
manyaddr    A       192.0.2.115
manyaddr    A       192.0.2.116
manyaddr    A       192.0.2.117
manyaddr    A       192.0.2.118
manyaddr    A       192.0.2.119
manyaddr    A       192.0.2.120
manyaddr    A       192.0.2.121
manyaddr    A       192.0.2.122
manyaddr    A       192.0.2.123
manyaddr    A       192.0.2.124
manyaddr    A       192.0.2.125
manyaddr    A       192.0.2.126
manyaddr    A       192.0.2.127
manyaddr    A       192.0.2.128
manyaddr    A       192.0.2.129
manyaddr    A       192.0.2.130
manyaddr    A       192.0.2.131
manyaddr    A       192.0.2.132
manyaddr    A       192.0.2.133
manyaddr    A       192.0.2.134
manyaddr    A       192.0.2.135
manyaddr    A       192.0.2.136
manyaddr    A       192.0.2.137
manyaddr    A       192.0.2.138
manyaddr    A       192.0.2.139
manyaddr    A       192.0.2.140
"#;

/// The config around [`ZONE`]: health checks (one per bit of the query ID,
/// see [`set_health_from_id`]) and every routing policy, plus a second zone
/// and a zone nested inside the first.
pub const CONFIG: &str = r#"
[server]
dns = ["127.0.0.1:0"]

[[health_check]]
id = "h0"
type = "http"
ip = "127.0.0.1"
[[health_check]]
id = "h1"
type = "tcp"
ip = "127.0.0.1"
port = 1
[[health_check]]
id = "h2"
type = "https"
fqdn = "backend.example.test"
[[health_check]]
id = "h3"
type = "http"
ip = "::1"
invert = true
[[health_check]]
id = "h4"
type = "calculated"
children = ["h0", "h1"]
healthy_threshold = 1

[[zone]]
name = "example.test."
file = "example.test.zone"

[[zone.record]]
name = "mv"
type = "A"
ttl = 30
routing = "multivalue"
set = "a0"
value = "10.0.0.0"
health_check = "h0"
[[zone.record]]
name = "mv"
type = "A"
routing = "multivalue"
set = "a1"
value = "10.0.0.1"
health_check = "h1"
[[zone.record]]
name = "mv"
type = "A"
routing = "multivalue"
set = "a2"
value = "10.0.0.2"
health_check = "h2"
[[zone.record]]
name = "mv"
type = "A"
routing = "multivalue"
set = "a3"
value = "10.0.0.3"
health_check = "h3"
[[zone.record]]
name = "mv"
type = "A"
routing = "multivalue"
set = "a4"
value = "10.0.0.4"
health_check = "h4"
[[zone.record]]
name = "mv"
type = "A"
routing = "multivalue"
set = "a5"
value = "10.0.0.5"
health_check = "h0"
[[zone.record]]
name = "mv"
type = "A"
routing = "multivalue"
set = "a6"
value = "10.0.0.6"
health_check = "h1"
[[zone.record]]
name = "mv"
type = "A"
routing = "multivalue"
set = "a7"
value = "10.0.0.7"
health_check = "h2"
[[zone.record]]
name = "mv"
type = "A"
routing = "multivalue"
set = "a8"
value = "10.0.0.8"
health_check = "h3"
[[zone.record]]
name = "mv"
type = "A"
routing = "multivalue"
set = "a9"
value = "10.0.0.9"
health_check = "h4"
[[zone.record]]
name = "mv"
type = "A"
routing = "multivalue"
set = "a10"
value = "10.0.0.10"
health_check = "h0"
[[zone.record]]
name = "mv"
type = "A"
routing = "multivalue"
set = "a11"
value = "10.0.0.11"
[[zone.record]]
name = "mv"
type = "TXT"
routing = "multivalue"
set = "t0"
value = '"multivalue text"'
health_check = "h0"
[[zone.record]]
name = "mv"
type = "MX"
routing = "multivalue"
set = "m0"
value = "10 mail"
health_check = "h1"

[[zone.record]]
name = "fo"
type = "A"
routing = "failover"
set = "p"
failover = "primary"
value = "10.1.0.1"
health_check = "h0"
[[zone.record]]
name = "fo"
type = "A"
routing = "failover"
set = "s"
failover = "secondary"
value = "10.1.0.2"
health_check = "h1"
[[zone.record]]
name = "fo1"
type = "AAAA"
routing = "failover"
set = "p"
failover = "primary"
value = "2001:db8::1"
health_check = "h3"
[[zone.record]]
name = "fo1"
type = "AAAA"
routing = "failover"
set = "s"
failover = "secondary"
value = "2001:db8::2"

[[zone.record]]
name = "wt"
type = "A"
routing = "weighted"
set = "w0"
weight = 0
value = "10.2.0.0"
health_check = "h0"
[[zone.record]]
name = "wt"
type = "A"
routing = "weighted"
set = "w1"
weight = 10
value = "10.2.0.1"
health_check = "h1"
[[zone.record]]
name = "wt"
type = "A"
routing = "weighted"
set = "w2"
weight = 255
value = "10.2.0.2"
health_check = "h2"
[[zone.record]]
name = "wt"
type = "A"
routing = "weighted"
set = "w3"
weight = 0
value = "10.2.0.3"
[[zone.record]]
name = "wcname"
type = "CNAME"
routing = "weighted"
set = "c0"
weight = 1
value = "mv"
health_check = "h3"
[[zone.record]]
name = "wcname"
type = "CNAME"
routing = "weighted"
set = "c1"
weight = 1
value = "fo"
health_check = "h4"
[[zone.record]]
name = "*.wild"
type = "A"
routing = "multivalue"
set = "x"
value = "10.3.0.1"
health_check = "h2"
[[zone.record]]
name = "*.wild"
type = "A"
routing = "multivalue"
set = "y"
value = "10.3.0.2"

[[zone]]
name = "Other.TEST."
[[zone.record]]
name = "@"
type = "MX"
values = ["10 mx.example.test.", "20 mx2.example.test."]
[[zone.record]]
name = "mx"
type = "A"
values = ["192.0.2.1"]

[[zone]]
name = "deep.example.test."
[[zone.record]]
name = "www"
type = "A"
values = ["192.0.2.200"]
"#;

/// Writes [`ZONE`] and [`CONFIG`] to a fresh temporary folder and loads them.
pub fn load_config() -> Config {
    let dir = std::env::temp_dir().join(format!("eightfold-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("example.test.zone"), ZONE).expect("write zone");
    let path = dir.join("eightfold.toml");
    let config = match Config::from_toml(&path, CONFIG) {
        Ok(config) => config,
        Err(diags) => panic!("the fuzz zone is invalid:\n{diags}"),
    };
    let _ = std::fs::remove_dir_all(&dir);
    config
}

/// The published rich zone, built once per process.
pub fn published() -> &'static Published {
    static PUBLISHED: OnceLock<Published> = OnceLock::new();
    PUBLISHED.get_or_init(|| eightfold::publish::publish(&load_config()))
}

/// Sets check `i` healthy when bit `i` of the query ID is set, so that the
/// fuzzer explores every health combination while each input stays
/// deterministic.
pub fn set_health_from_id(published: &Published, query: &[u8]) {
    let id = match query {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    };
    // Slots past the config's checks are unused; setting them is harmless.
    for i in 0..16u32 {
        published.health.set(i, (id >> i) & 1 == 1);
    }
}

/// Answers `query` over `transport` and checks the response:
/// - no response only for packets shorter than a header or with QR set;
/// - the response parses completely (every section, every record's data);
/// - QR set, the query's ID and opcode;
/// - over UDP, no larger than 512 bytes without EDNS and than
///   min(max(advertised, 512), 1232) with it; over TCP, at most 65,535;
/// - for NOERROR and NXDOMAIN, the question echoed octet for octet (case
///   preserved).
///
/// Returns the response's rcode.
pub fn check(published: &Published, query: &[u8], transport: Transport) -> Option<Rcode> {
    let mut out = Vec::new();
    let mut scratch = Scratch::seeded(0);
    let answered = respond(published, query, transport, &mut out, &mut scratch);
    if let Some(answered) = answered {
        let asked = Message::from_octets(query)
            .ok()
            .and_then(|m| m.first_question())
            .map(|q| q.qtype());
        assert_eq!(answered.qtype, asked, "reported query type");
    }
    let Some(rcode) = answered.map(|a| a.rcode.rcode()) else {
        assert!(
            query.len() < 12 || query[2] & 0x80 != 0,
            "no response to a query of {} bytes with QR clear",
            query.len()
        );
        assert!(out.is_empty() || out.len() >= 12);
        return None;
    };
    let request = Message::from_octets(query).expect("answered a packet shorter than a header");
    let limit = match transport {
        Transport::Tcp => usize::from(u16::MAX),
        Transport::Udp => match request.opt() {
            Some(opt) => usize::from(opt.udp_payload_size().clamp(512, MAX_UDP_PAYLOAD)),
            None => 512,
        },
    };
    assert!(
        out.len() <= limit,
        "{transport:?} response of {} bytes over the limit {limit}",
        out.len()
    );
    let response = Message::from_octets(out.as_slice()).expect("response shorter than a header");
    let header = response.header();
    assert!(header.qr(), "QR clear in a response");
    assert_eq!(header.id(), request.header().id(), "ID not echoed");
    assert_eq!(
        header.opcode(),
        request.header().opcode(),
        "opcode not echoed"
    );
    assert_eq!(header.rcode(), rcode, "rcode differs from the one returned");
    assert_eq!(
        Some(response.opt_rcode()),
        answered.map(|a| a.rcode),
        "full rcode (with the OPT's extension) differs from the one returned"
    );
    // Every section and every record parses.
    for q in response.question() {
        q.expect("response question does not parse");
    }
    let mut section = response.answer().expect("answer section does not parse");
    loop {
        for record in &mut section {
            let record = record.expect("response record does not parse");
            record
                .to_any_record::<AllRecordData<_, _>>()
                .expect("response record data does not parse");
        }
        match section.next_section().expect("next section does not parse") {
            Some(next) => section = next,
            None => break,
        }
    }
    // The full rcode: BADVERS is NOERROR in the header plus 1 in the OPT.
    if matches!(response.opt_rcode(), OptRcode::NOERROR | OptRcode::NXDOMAIN) {
        let asked = request
            .sole_question()
            .expect("answered a query without one question");
        let echoed = response
            .sole_question()
            .expect("response without one question");
        let labels = |n: &domain::base::ParsedName<&[u8]>| -> Vec<Vec<u8>> {
            n.iter_labels().map(|l| l.as_slice().to_vec()).collect()
        };
        assert_eq!(
            labels(asked.qname()),
            labels(echoed.qname()),
            "qname not echoed exactly"
        );
        assert_eq!(asked.qtype(), echoed.qtype());
        assert_eq!(asked.qclass(), echoed.qclass());
    }
    Some(rcode)
}

/// A name of `path` that can never be opened: the config target must not
/// read real files.
pub fn fuzz_path() -> &'static Path {
    Path::new("/nonexistent-eightfold-fuzz/fuzz.toml")
}
