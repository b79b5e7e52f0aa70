//! The name servers of zones that declare none: Route 53's delegation set.
//!
//! A zone with no NS at its apex gets one NS per name server; a name
//! server whose name lies inside the zone also gets its addresses there
//! (unless the zone already gives that name an address or a CNAME), so a
//! generated in-zone name server always resolves. Without `[server]
//! nameservers`, the one name server is `ns1.<zone>` at the addresses
//! eightfold answers DNS on.
//!
//! Added to a zone as its snapshot is built (and to what `lint` judges),
//! so answers, transfers, serials and the Route 53 listing all see the
//! same records; a zone's declared records stay as declared.

use std::net::{IpAddr, SocketAddr};

use domain::base::ToName;
use domain::base::iana::Rtype;
use domain::rdata::{A, Aaaa, Ns};

use crate::model::{DName, Policy, RData, RecordSpec, ZoneSpec};
use crate::model::{GENERATED_TTL, prefixed};

/// One name server of the set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameServer {
    /// Its name; `None` for `ns1.<zone>`, named after each zone.
    pub name: Option<DName>,
    /// Its addresses, served where the name lies inside a zone.
    pub addresses: Vec<IpAddr>,
}

/// The set every zone without an apex NS gets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NameServers {
    /// In the order of the config; the first is the generated SOA's MNAME.
    pub servers: Vec<NameServer>,
}

impl NameServers {
    /// `[server] nameservers` when given, else `ns1.<zone>` at the
    /// addresses of the DNS `listeners`: those of this machine's
    /// interfaces where a listener is bound to every address.
    pub fn or_default(configured: &[NameServer], listeners: &[SocketAddr]) -> NameServers {
        if !configured.is_empty() {
            return NameServers {
                servers: configured.to_vec(),
            };
        }
        let mut addresses = Vec::new();
        for l in listeners {
            let found = if l.ip().is_unspecified() {
                interface_addresses(l.is_ipv6())
            } else {
                vec![l.ip()]
            };
            for ip in found {
                if !addresses.contains(&ip) {
                    addresses.push(ip);
                }
            }
        }
        NameServers {
            servers: vec![NameServer {
                name: None,
                addresses,
            }],
        }
    }

    /// The first name server that `spec` would take (it has no apex NS)
    /// although it lies inside the zone with no address to serve there:
    /// none given with it, and neither A, AAAA nor CNAME at its name in
    /// the zone. Served so, the zone's NS would name a name that does not
    /// resolve, so the config and the APIs refuse such a zone.
    pub fn unaddressed(&self, spec: &ZoneSpec) -> Option<&DName> {
        let has = |name: &DName, rtype: Rtype| {
            spec.records
                .iter()
                .any(|r| r.rtype == rtype && r.owner.name_eq(name))
        };
        if has(&spec.name, Rtype::NS) {
            return None;
        }
        self.servers.iter().find_map(|server| {
            let name = server.name.as_ref()?;
            let addressed = !server.addresses.is_empty()
                || [Rtype::A, Rtype::AAAA, Rtype::CNAME]
                    .into_iter()
                    .any(|t| has(name, t));
            (name.ends_with(&spec.name) && !addressed).then_some(name)
        })
    }

    /// What a zone with no apex NS is given: the NS set, and the
    /// addresses of in-zone name servers it does not address itself.
    /// Nothing for a zone with an apex NS.
    pub fn generated(&self, spec: &ZoneSpec) -> Vec<RecordSpec> {
        let has = |name: &DName, rtype: Rtype| {
            spec.records
                .iter()
                .any(|r| r.rtype == rtype && r.owner.name_eq(name))
        };
        let mut out = Vec::new();
        if has(&spec.name, Rtype::NS) {
            return out;
        }
        let names: Vec<DName> = self
            .servers
            .iter()
            .map(|server| match &server.name {
                Some(name) => name.clone(),
                None => prefixed(&spec.name, "ns1"),
            })
            .collect();
        if names.is_empty() {
            return out;
        }
        // One simple record holding every name: the NS set.
        let set = names
            .iter()
            .map(|n| RData::Ns(Ns::new(n.clone())))
            .collect();
        out.push(generated(&spec.name, Rtype::NS, set));
        for (server, name) in self.servers.iter().zip(names) {
            let addressed = [Rtype::A, Rtype::AAAA, Rtype::CNAME]
                .into_iter()
                .any(|t| has(&name, t));
            if !name.ends_with(&spec.name) || addressed {
                continue;
            }
            let (v4, v6): (Vec<RData>, Vec<RData>) = server
                .addresses
                .iter()
                .map(|ip| match ip {
                    IpAddr::V4(v4) => RData::A(A::new(*v4)),
                    IpAddr::V6(v6) => RData::Aaaa(Aaaa::new(*v6)),
                })
                .partition(|data| matches!(data, RData::A(_)));
            for (rtype, values) in [(Rtype::A, v4), (Rtype::AAAA, v6)] {
                if !values.is_empty() {
                    out.push(generated(&name, rtype, values));
                }
            }
        }
        out
    }
}

fn generated(owner: &DName, rtype: Rtype, values: Vec<RData>) -> RecordSpec {
    RecordSpec {
        owner: owner.clone(),
        rtype,
        ttl: domain::base::Ttl::from_secs(GENERATED_TTL),
        policy: Policy::Simple,
        set: None,
        values,
        health_check: None,
        failover: None,
        weight: None,
        alias: None,
        location: None,
        origin: None,
    }
}

/// This machine's interface addresses of one family (both for IPv6, as a
/// socket bound to `::` takes IPv4 too on Linux by default), without
/// link-local ones; its loopback addresses only when it has no other.
fn interface_addresses(ipv6_socket: bool) -> Vec<IpAddr> {
    let mut all = crate::interfaces::addresses();
    all.retain(|ip| ipv6_socket || ip.is_ipv4());
    let link_local = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_unicast_link_local(),
    };
    all.retain(|ip| !link_local(ip));
    if all.iter().any(|ip| !ip.is_loopback()) {
        all.retain(|ip| !ip.is_loopback());
    }
    all.sort();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn name(s: &str) -> DName {
        DName::from_str(s).unwrap()
    }

    fn zone(apex: &str, records: Vec<RecordSpec>) -> ZoneSpec {
        ZoneSpec {
            name: name(apex),
            records,
        }
    }

    fn complete(set: &NameServers, spec: &mut ZoneSpec) {
        let more = set.generated(spec);
        spec.records.extend(more);
    }

    fn rendered(spec: &ZoneSpec) -> Vec<String> {
        spec.records
            .iter()
            .flat_map(|r| {
                r.values
                    .iter()
                    .map(move |v| format!("{} {} {v}", r.owner, r.rtype))
            })
            .collect()
    }

    #[test]
    fn the_default_is_ns1_of_each_zone_at_the_listening_address() {
        let set = NameServers::or_default(&[], &["192.0.2.53:53".parse().unwrap()]);
        let mut spec = zone("example.", vec![]);
        complete(&set, &mut spec);
        assert_eq!(
            rendered(&spec),
            ["example NS ns1.example.", "ns1.example A 192.0.2.53"]
        );
    }

    #[test]
    fn configured_servers_get_addresses_only_inside_the_zone_and_only_when_missing() {
        let set = NameServers {
            servers: vec![
                NameServer {
                    name: Some(name("ns.example.")),
                    addresses: vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()],
                },
                NameServer {
                    name: Some(name("ns.elsewhere.net.")),
                    addresses: vec!["192.0.2.2".parse().unwrap()],
                },
            ],
        };
        let mut apex = zone("example.", vec![]);
        complete(&set, &mut apex);
        assert_eq!(
            rendered(&apex),
            [
                "example NS ns.example.",
                "example NS ns.elsewhere.net.",
                "ns.example A 192.0.2.1",
                "ns.example AAAA 2001:db8::1"
            ]
        );
        // Another zone: the servers are outside it, so NS alone.
        let mut other = zone("other.test.", vec![]);
        complete(&set, &mut other);
        assert_eq!(
            rendered(&other),
            [
                "other.test NS ns.example.",
                "other.test NS ns.elsewhere.net."
            ]
        );
        // A zone with its own NS keeps it alone.
        let mut own = zone("example.", vec![]);
        own.records.push(generated(
            &name("example."),
            Rtype::NS,
            vec![RData::Ns(Ns::new(name("a.test.")))],
        ));
        complete(&set, &mut own);
        assert_eq!(rendered(&own), ["example NS a.test."]);
        // A zone that gives the server's name an address keeps its own.
        let mut addressed = zone("example.", vec![]);
        addressed.records.push(generated(
            &name("ns.example."),
            Rtype::A,
            vec![RData::A(A::new([198, 51, 100, 1].into()))],
        ));
        complete(&set, &mut addressed);
        assert!(rendered(&addressed).contains(&"ns.example A 198.51.100.1".to_string()));
        assert!(!rendered(&addressed).contains(&"ns.example A 192.0.2.1".to_string()));
    }

    #[test]
    fn a_wildcard_listener_stands_for_this_machines_addresses() {
        let found = interface_addresses(true);
        assert!(!found.is_empty(), "every machine has at least loopback");
        assert!(found.iter().all(|ip| !ip.is_unspecified()));
        let set = NameServers::or_default(&[], &["0.0.0.0:53".parse().unwrap()]);
        assert!(set.servers[0].addresses.iter().all(IpAddr::is_ipv4));
    }
}
