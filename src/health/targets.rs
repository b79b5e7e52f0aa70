//! Where health checks may aim (docs/security.md, "Where health checks may
//! aim"): the one rule behind the config file, the JSON API, the Route 53
//! API and the probe itself, which applies it again to whatever an fqdn
//! resolves to at probe time.
//!
//! A probe is a request the server makes on an operator's (or an API
//! client's) behalf, so an address that reaches something other than a
//! service (the cloud metadata endpoint, a multicast group, eightfold's own
//! API) would turn a health check into a way to poke at it. Loopback and
//! private ranges stay allowed: a self-hosted server checks the services
//! next to it. `[server] check_targets` narrows the rest.
//!
//! Pure once built: [`TargetPolicy::check`] does no I/O, so validation
//! stays deterministic. Only [`TargetPolicy::new`] asks the system for its
//! interface addresses, and only when a listener is bound to an unspecified
//! address.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use ipnet::IpNet;

/// AWS's IPv6 instance metadata address: unique-local, so no range rule
/// catches it.
const AWS_METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
/// Alibaba Cloud's metadata address, in the shared address space
/// (100.64.0.0/10) that some networks use for their own hosts.
const ALIBABA_METADATA: Ipv4Addr = Ipv4Addr::new(100, 100, 100, 200);

/// The policy every probe of one checker reads, swapped whole when the
/// config's `check_targets` change (SIGHUP).
pub type SharedPolicy = Arc<ArcSwap<TargetPolicy>>;

/// What one of eightfold's own listeners serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// DNS over UDP and TCP.
    Dns,
    /// The JSON and Route 53 API.
    Api,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Dns => "DNS",
            Role::Api => "API",
        })
    }
}

/// One of eightfold's own listening sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    /// What it serves.
    pub role: Role,
    /// Where it listens; port 0 (not bound yet) matches nothing.
    pub addr: SocketAddr,
}

/// Why checks may not aim at an address; reads after "checks may not
/// target 192.0.2.1 (…)".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 169.254.0.0/16 or fe80::/10.
    #[error("link-local: 169.254.0.0/16 and fe80::/10, where cloud metadata services answer")]
    LinkLocal,
    /// A cloud metadata address outside the link-local ranges.
    #[error("a cloud metadata service")]
    Metadata,
    /// 224.0.0.0/4 or ff00::/8.
    #[error("multicast")]
    Multicast,
    /// 0.0.0.0/8 or `::`, which the kernel takes for this host.
    #[error("unspecified: 0.0.0.0/8 and :: reach this host")]
    Unspecified,
    /// 255.255.255.255.
    #[error("broadcast")]
    Broadcast,
    /// One of eightfold's own listeners.
    #[error("eightfold's own {role} listener {addr}")]
    OwnListener {
        /// What it serves.
        role: Role,
        /// Where it listens.
        addr: SocketAddr,
    },
    /// Not within any prefix of a non-empty `check_targets`.
    #[error("outside server.check_targets")]
    NotListed,
}

/// Where checks may aim: never at the always-refused ranges or at
/// eightfold's own listeners, and, when `check_targets` is not empty, only
/// within it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    /// `check_targets`; empty allows every address not otherwise refused.
    allowed: Vec<IpNet>,
    listeners: Vec<Listener>,
    /// This host's interface addresses, gathered only when a listener is
    /// bound to an unspecified address (then any of them reaches it).
    local: Vec<IpAddr>,
}

impl TargetPolicy {
    /// The policy for `allowed` prefixes (`check_targets`) and eightfold's
    /// own `listeners`.
    pub fn new(allowed: Vec<IpNet>, listeners: Vec<Listener>) -> TargetPolicy {
        let wildcard = listeners
            .iter()
            .any(|l| normalize(l.addr.ip()).is_unspecified());
        TargetPolicy {
            allowed: allowed.into_iter().map(normalize_net).collect(),
            listeners,
            local: if wildcard {
                crate::interfaces::addresses()
            } else {
                Vec::new()
            },
        }
    }

    /// This policy with other `check_targets` (a reload); the listeners
    /// stay those bound at start.
    pub fn with_allowed(&self, allowed: Vec<IpNet>) -> TargetPolicy {
        TargetPolicy {
            allowed: allowed.into_iter().map(normalize_net).collect(),
            ..self.clone()
        }
    }

    /// Whether a check may connect to `ip` on `port`.
    pub fn check(&self, ip: IpAddr, port: u16) -> Result<(), Refusal> {
        let ip = normalize(ip);
        always_refused(ip)?;
        if let Some(l) = self.listeners.iter().find(|l| self.reaches(l, ip, port)) {
            return Err(Refusal::OwnListener {
                role: l.role,
                addr: l.addr,
            });
        }
        if !self.allowed.is_empty() && !self.allowed.iter().any(|net| net.contains(&ip)) {
            return Err(Refusal::NotListed);
        }
        Ok(())
    }

    /// Whether a connection to `ip:port` would land on listener `l`.
    fn reaches(&self, l: &Listener, ip: IpAddr, port: u16) -> bool {
        if l.addr.port() == 0 || l.addr.port() != port {
            return false;
        }
        let bound = normalize(l.addr.ip());
        // A wildcard listener takes connections to every address of the
        // host; a dual-stack `::` one IPv4 too, so families are not told
        // apart.
        bound == ip || (bound.is_unspecified() && (ip.is_loopback() || self.local.contains(&ip)))
    }
}

/// `::ffff:a.b.c.d` is a.b.c.d to the kernel, so it is judged as one.
pub fn normalize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// A prefix within `::ffff:0:0/96` as the IPv4 prefix it covers, so it
/// matches the normalized addresses.
fn normalize_net(net: IpNet) -> IpNet {
    let net = net.trunc();
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(IpNet::V4)
                .unwrap_or(net),
            None => net,
        },
        net => net,
    }
}

/// The ranges no configuration may open (after [`normalize`]).
fn always_refused(ip: IpAddr) -> Result<(), Refusal> {
    match ip {
        IpAddr::V4(a) => {
            if a.octets()[0] == 0 {
                Err(Refusal::Unspecified)
            } else if a.is_broadcast() {
                Err(Refusal::Broadcast)
            } else if a.is_link_local() {
                Err(Refusal::LinkLocal)
            } else if a.is_multicast() {
                Err(Refusal::Multicast)
            } else if a == ALIBABA_METADATA {
                Err(Refusal::Metadata)
            } else {
                Ok(())
            }
        }
        IpAddr::V6(a) => {
            if a.is_unspecified() {
                Err(Refusal::Unspecified)
            } else if a.is_multicast() {
                Err(Refusal::Multicast)
            } else if a.segments()[0] & 0xffc0 == 0xfe80 {
                Err(Refusal::LinkLocal)
            } else if a == AWS_METADATA_V6 {
                Err(Refusal::Metadata)
            } else {
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn listener(role: Role, addr: &str) -> Listener {
        Listener {
            role,
            addr: addr.parse().unwrap(),
        }
    }

    #[test]
    fn always_refused_ranges_and_their_mapped_forms() {
        let open = TargetPolicy::default();
        let cases = [
            ("169.254.169.254", Refusal::LinkLocal),
            ("::ffff:169.254.169.254", Refusal::LinkLocal),
            ("169.254.0.1", Refusal::LinkLocal),
            ("fe80::1", Refusal::LinkLocal),
            ("febf::1", Refusal::LinkLocal),
            ("fd00:ec2::254", Refusal::Metadata),
            ("100.100.100.200", Refusal::Metadata),
            ("224.0.0.1", Refusal::Multicast),
            ("239.255.255.250", Refusal::Multicast),
            ("::ffff:224.0.0.251", Refusal::Multicast),
            ("ff02::1", Refusal::Multicast),
            ("0.0.0.0", Refusal::Unspecified),
            ("0.1.2.3", Refusal::Unspecified),
            ("::", Refusal::Unspecified),
            ("::ffff:0.0.0.0", Refusal::Unspecified),
            ("255.255.255.255", Refusal::Broadcast),
            ("::ffff:255.255.255.255", Refusal::Broadcast),
        ];
        for (addr, why) in cases {
            assert_eq!(open.check(ip(addr), 80), Err(why), "{addr}");
        }
        // A check_targets entry cannot open them either.
        let wide = TargetPolicy::new(vec![net("0.0.0.0/0"), net("::/0")], vec![]);
        assert_eq!(
            wide.check(ip("169.254.169.254"), 80),
            Err(Refusal::LinkLocal)
        );
    }

    #[test]
    fn loopback_private_and_public_are_allowed_by_default() {
        let open = TargetPolicy::default();
        for addr in [
            "127.0.0.1",
            "127.0.0.53",
            "::1",
            "::ffff:127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "fd12::1",
            "100.64.0.1",
            "192.0.2.1",
            "2001:db8::1",
            "fec0::1",
        ] {
            assert_eq!(open.check(ip(addr), 80), Ok(()), "{addr}");
        }
    }

    #[test]
    fn check_targets_prefixes_match_plain_and_mapped_addresses() {
        let p = TargetPolicy::new(
            vec![net("10.0.0.0/8"), net("192.0.2.7/32"), net("2001:db8::/32")],
            vec![],
        );
        let cases = [
            ("10.0.0.0", true),
            ("10.255.255.255", true),
            ("::ffff:10.1.2.3", true),
            ("11.0.0.0", false),
            ("9.255.255.255", false),
            ("192.0.2.7", true),
            ("192.0.2.8", false),
            ("2001:db8:ffff::1", true),
            ("2001:db9::1", false),
            ("127.0.0.1", false),
            ("::1", false),
        ];
        for (addr, allowed) in cases {
            let got = p.check(ip(addr), 80);
            if allowed {
                assert_eq!(got, Ok(()), "{addr}");
            } else {
                assert_eq!(got, Err(Refusal::NotListed), "{addr}");
            }
        }
        // A prefix written in mapped form covers the IPv4 addresses.
        let mapped = TargetPolicy::new(vec![net("::ffff:192.0.2.0/120")], vec![]);
        assert_eq!(mapped.check(ip("192.0.2.9"), 80), Ok(()));
        assert_eq!(mapped.check(ip("192.0.3.9"), 80), Err(Refusal::NotListed));
        // A reload swaps the prefixes and keeps the listeners.
        let api = listener(Role::Api, "127.0.0.1:8053");
        let p = TargetPolicy::new(vec![], vec![api]).with_allowed(vec![net("10.0.0.0/8")]);
        assert_eq!(p.check(ip("127.0.0.1"), 80), Err(Refusal::NotListed));
        assert_eq!(
            p.check(ip("127.0.0.1"), 8053),
            Err(Refusal::OwnListener {
                role: Role::Api,
                addr: api.addr
            })
        );
    }

    #[test]
    fn own_listeners_are_refused_on_their_address_and_port() {
        let api = listener(Role::Api, "127.0.0.1:8053");
        let dns = listener(Role::Dns, "[::]:5353");
        let later = listener(Role::Dns, "127.0.0.1:0");
        let p = TargetPolicy::new(vec![], vec![api, dns, later]);
        let own_api = Err(Refusal::OwnListener {
            role: Role::Api,
            addr: api.addr,
        });
        let own_dns = Err(Refusal::OwnListener {
            role: Role::Dns,
            addr: dns.addr,
        });
        assert_eq!(p.check(ip("127.0.0.1"), 8053), own_api);
        assert_eq!(p.check(ip("::ffff:127.0.0.1"), 8053), own_api);
        // Another port, or another loopback address, is another socket.
        assert_eq!(p.check(ip("127.0.0.1"), 8054), Ok(()));
        assert_eq!(p.check(ip("127.0.0.2"), 8053), Ok(()));
        assert_eq!(p.check(ip("10.0.0.1"), 8053), Ok(()));
        // A wildcard listener is reached through any loopback address and
        // every interface address of this host.
        assert_eq!(p.check(ip("127.0.0.1"), 5353), own_dns);
        assert_eq!(p.check(ip("127.9.9.9"), 5353), own_dns);
        assert_eq!(p.check(ip("::1"), 5353), own_dns);
        for local in crate::interfaces::addresses() {
            let local = normalize(local);
            if always_refused(local).is_ok() {
                assert_eq!(p.check(local, 5353), own_dns, "{local}");
            }
        }
        assert_eq!(p.check(ip("192.0.2.1"), 5353), Ok(()));
        // A port not chosen yet matches nothing.
        assert_eq!(p.check(ip("127.0.0.1"), 0), Ok(()));
    }

    #[test]
    fn refusals_read_after_the_address() {
        let api = listener(Role::Api, "127.0.0.1:8053");
        assert_eq!(
            Refusal::OwnListener {
                role: api.role,
                addr: api.addr
            }
            .to_string(),
            "eightfold's own API listener 127.0.0.1:8053"
        );
        assert!(Refusal::LinkLocal.to_string().contains("metadata"));
    }
}
