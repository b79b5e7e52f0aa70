//! The NS set of zones that declare none (SPEC §8, Route 53's delegation
//! set): `[server] nameservers` when given, else `ns1.<zone>` at the
//! server's own DNS addresses. A name server inside the zone it serves
//! always gets its address records there (glue a resolver can reach it
//! by), unless the zone has address records (or a CNAME) at that name
//! already.
//!
//! Architecture invariant: pure; the service applies it to every zone it
//! builds (file and API zones; not secondary zones, whose NS are their
//! primary's).

use std::net::{IpAddr, SocketAddr};

use domain::base::iana::Rtype;
use domain::base::{ToName, Ttl};

use crate::model::{DName, Policy, RData, RecordSpec, ZoneSpec};

/// One name server of `[server] nameservers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameServer {
    /// Its name, absolute.
    pub name: DName,
    /// Its addresses: needed when the name is inside a zone it serves.
    pub addresses: Vec<IpAddr>,
}

/// The NS set zones without one get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delegation {
    /// `[server] nameservers`.
    Set(Vec<NameServer>),
    /// `ns1.<zone>` at these addresses (the server's own DNS addresses;
    /// none when it listens on a wildcard address only).
    Own(Vec<IpAddr>),
}

impl Delegation {
    /// The delegation of a server with `nameservers` configured, listening
    /// on `listen`.
    pub fn of(nameservers: &[NameServer], listen: &[SocketAddr]) -> Delegation {
        if !nameservers.is_empty() {
            return Delegation::Set(nameservers.to_vec());
        }
        let mut own: Vec<IpAddr> = listen
            .iter()
            .map(SocketAddr::ip)
            .filter(|ip| !ip.is_unspecified())
            .collect();
        own.dedup();
        Delegation::Own(own)
    }

    /// Gives `zone` its NS set and the address records of the in-zone
    /// ones, when it declares no NS at its apex.
    pub fn complete(&self, zone: &mut ZoneSpec) {
        let declares_ns = zone
            .records
            .iter()
            .any(|r| r.rtype == Rtype::NS && r.owner.name_eq(&zone.name));
        if declares_ns {
            return;
        }
        let servers: Vec<NameServer> = match self {
            Delegation::Set(set) => set.clone(),
            // Without an address there is nothing to add: the snapshot
            // generates `ns1.<zone>` alone, as before.
            Delegation::Own(addresses) if addresses.is_empty() => return,
            Delegation::Own(addresses) => vec![NameServer {
                name: crate::snapshot::generated_ns(&zone.name),
                addresses: addresses.clone(),
            }],
        };
        let ttl = Ttl::from_secs(crate::snapshot::GENERATED_TTL);
        zone.records.push(simple(
            zone.name.clone(),
            Rtype::NS,
            ttl,
            servers
                .iter()
                .map(|s| RData::Ns(domain::rdata::Ns::new(s.name.clone())))
                .collect(),
        ));
        for server in servers.iter().filter(|s| s.name.ends_with(&zone.name)) {
            let taken = zone.records.iter().any(|r| {
                r.owner.name_eq(&server.name)
                    && matches!(r.rtype, Rtype::A | Rtype::AAAA | Rtype::CNAME)
            });
            if taken {
                continue;
            }
            let v4: Vec<RData> = server
                .addresses
                .iter()
                .filter_map(|ip| match ip {
                    IpAddr::V4(a) => Some(RData::A(domain::rdata::A::new(*a))),
                    IpAddr::V6(_) => None,
                })
                .collect();
            let v6: Vec<RData> = server
                .addresses
                .iter()
                .filter_map(|ip| match ip {
                    IpAddr::V6(a) => Some(RData::Aaaa(domain::rdata::Aaaa::new(*a))),
                    IpAddr::V4(_) => None,
                })
                .collect();
            for (rtype, values) in [(Rtype::A, v4), (Rtype::AAAA, v6)] {
                if !values.is_empty() {
                    zone.records
                        .push(simple(server.name.clone(), rtype, ttl, values));
                }
            }
        }
    }
}

fn simple(owner: DName, rtype: Rtype, ttl: Ttl, values: Vec<RData>) -> RecordSpec {
    RecordSpec {
        owner,
        rtype,
        ttl,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn name(s: &str) -> DName {
        DName::from_str(s).unwrap()
    }

    fn shown(zone: &ZoneSpec) -> Vec<String> {
        zone.records
            .iter()
            .map(|r| {
                let values: Vec<String> = r.values.iter().map(ToString::to_string).collect();
                format!("{} {} {}", r.owner, r.rtype, values.join(","))
            })
            .collect()
    }

    #[test]
    fn zones_without_ns_get_the_set_and_in_zone_servers_their_addresses() {
        let set = Delegation::of(
            &[
                NameServer {
                    name: name("ns1.example.test."),
                    addresses: vec![
                        "192.0.2.53".parse().unwrap(),
                        "2001:db8::53".parse().unwrap(),
                    ],
                },
                NameServer {
                    name: name("ns.provider.net."),
                    addresses: Vec::new(),
                },
            ],
            &[],
        );
        let mut zone = ZoneSpec {
            name: name("example.test."),
            records: Vec::new(),
        };
        set.complete(&mut zone);
        assert_eq!(
            shown(&zone),
            [
                "example.test NS ns1.example.test.,ns.provider.net.",
                "ns1.example.test A 192.0.2.53",
                "ns1.example.test AAAA 2001:db8::53",
            ]
        );
        // Another zone gets the NS set only: no server is inside it.
        let mut other = ZoneSpec {
            name: name("other.test."),
            records: Vec::new(),
        };
        set.complete(&mut other);
        assert_eq!(
            shown(&other),
            ["other.test NS ns1.example.test.,ns.provider.net."]
        );
        // A zone with its own NS keeps it alone.
        let before = zone.clone();
        set.complete(&mut zone);
        assert_eq!(zone, before);
    }

    #[test]
    fn without_a_set_the_generated_server_has_the_listen_address() {
        let own = Delegation::of(
            &[],
            &["192.0.2.7:53".parse().unwrap(), "[::]:53".parse().unwrap()],
        );
        let mut zone = ZoneSpec {
            name: name("example.test."),
            records: Vec::new(),
        };
        own.complete(&mut zone);
        assert_eq!(
            shown(&zone),
            [
                "example.test NS ns1.example.test.",
                "ns1.example.test A 192.0.2.7"
            ]
        );
        let wildcard = Delegation::of(&[], &["0.0.0.0:53".parse().unwrap()]);
        let mut zone = ZoneSpec {
            name: name("example.test."),
            records: Vec::new(),
        };
        wildcard.complete(&mut zone);
        assert!(zone.records.is_empty(), "left to the generated NS");
    }
}
