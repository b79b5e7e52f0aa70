//! Who may transfer a zone and whom to notify: `allow_transfer` and
//! `notify`, per zone or in `[server]` (docs/configuration.md), or per
//! API zone (`PUT /v1/zones/{zone}/transfers`, docs/api.md); and the
//! reading of their entries, shared by the config file and the API so
//! both say the same about the same mistake.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use domain::base::ToName;

use crate::model::DName;

/// An `allow_transfer` entry's `from`: an address prefix, or one
/// address (its host prefix).
pub fn parse_prefix(text: &str) -> Option<ipnet::IpNet> {
    text.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
        .map(|n| n.trunc())
}

/// A DNS server's address (`notify`, `primaries`): `IP:PORT`, or an IP
/// alone for port 53.
pub fn parse_server(text: &str) -> Option<SocketAddr> {
    text.parse::<SocketAddr>().ok().or_else(|| {
        text.parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

/// What is wrong with an `allow_transfer` entry's `from`.
pub fn not_a_prefix(text: &str) -> String {
    format!(
        "allow_transfer: {text:?} is not an address prefix such as \"192.0.2.0/24\" or \"2001:db8::1\""
    )
}

/// What is wrong with a `notify` entry.
pub fn not_a_notify_address(text: &str) -> String {
    format!("notify: {text:?} is not an address such as \"192.0.2.53\" or \"[2001:db8::53]:5353\"")
}

/// What is wrong with an `allow_transfer` entry that says neither.
pub const NEEDS_FROM_OR_KEY: &str = "allow_transfer: an entry needs `from` (an address prefix), `key` (a TSIG key name) or both; to allow everyone say from = \"0.0.0.0/0\" and from = \"::/0\"";

/// One `allow_transfer` entry: a transfer is allowed when the client's
/// address is in `from` (any address when absent) and the request is
/// signed with `key` (unsigned requests too when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Address prefix the client must be in.
    pub from: Option<ipnet::IpNet>,
    /// Name of the TSIG key the request must be signed with.
    pub key: Option<DName>,
}

impl Rule {
    /// Whether a request from `client`, verified as signed with `key`
    /// (`None`: unsigned), is allowed by this rule.
    pub fn allows(&self, client: IpAddr, key: Option<&impl ToName>) -> bool {
        let from = self.from.is_none_or(|net| net.contains(&canonical(client)));
        let signed = match (&self.key, key) {
            (None, _) => true,
            (Some(want), Some(got)) => want.name_eq(got),
            (Some(_), None) => false,
        };
        from && signed
    }
}

/// An IPv4-mapped IPv6 address (a dual-stack socket's view of an IPv4
/// client) as the IPv4 address that an IPv4 prefix matches.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The transfer settings of one zone, or the server's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transfers {
    /// Who may transfer; empty: nobody.
    pub allow: Vec<Rule>,
    /// Secondaries told of every change (RFC 1996).
    pub notify: Vec<SocketAddr>,
    /// The TSIG key NOTIFY is signed with; unsigned when absent.
    pub notify_key: Option<DName>,
}

impl Transfers {
    /// Whether any rule allows this request.
    pub fn allows(&self, client: IpAddr, key: Option<&impl ToName>) -> bool {
        self.allow.iter().any(|r| r.allows(client, key))
    }
}

/// Every zone's transfer settings: a zone that sets `allow_transfer` or
/// `notify` itself uses its own (both fields: an unset one is empty);
/// every other zone, API zones included, the server's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// `[server]`'s, for zones without their own.
    pub server: Transfers,
    /// Zones with their own, by apex (names hash and compare without
    /// case): a publication looks up every zone's, which a list made
    /// cost zones × zones with their own (10^10 comparisons at 100,000).
    pub zones: HashMap<DName, Transfers>,
}

impl Settings {
    /// The settings that apply to the zone at `apex`.
    pub fn of(&self, apex: &DName) -> &Transfers {
        self.zones.get(apex).unwrap_or(&self.server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn a_rule_needs_both_its_prefix_and_its_key() {
        let key = DName::from_str("xfr.").unwrap();
        let other = DName::from_str("other.").unwrap();
        let rule = Rule {
            from: Some("127.0.0.0/8".parse().unwrap()),
            key: Some(DName::from_str("XFR.").unwrap()),
        };
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let far: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(rule.allows(local, Some(&key)));
        assert!(rule.allows(mapped, Some(&key)));
        assert!(!rule.allows(local, Some(&other)));
        assert!(!rule.allows(local, None::<&DName>));
        assert!(!rule.allows(far, Some(&key)));
        let anyone_signed = Rule {
            from: None,
            key: Some(key.clone()),
        };
        assert!(anyone_signed.allows(far, Some(&key)));
        let address_only = Rule {
            from: Some("192.0.2.0/24".parse().unwrap()),
            key: None,
        };
        assert!(address_only.allows(far, None::<&DName>));
        assert!(address_only.allows(far, Some(&other)));
        assert!(!Transfers::default().allows(far, None::<&DName>));
    }

    #[test]
    fn a_zone_finds_its_own_settings_whatever_the_case_and_others_the_servers() {
        let own = Transfers {
            allow: vec![Rule {
                from: Some("192.0.2.0/24".parse().unwrap()),
                key: None,
            }],
            ..Transfers::default()
        };
        let mut settings = Settings::default();
        settings
            .zones
            .insert(DName::from_str("Example.COM.").unwrap(), own.clone());
        let name = |n: &str| DName::from_str(n).unwrap();
        assert_eq!(settings.of(&name("example.com.")), &own);
        assert_eq!(settings.of(&name("EXAMPLE.com.")), &own);
        assert_eq!(settings.of(&name("www.example.com.")), &settings.server);
        assert_eq!(settings.of(&name("example.org.")), &settings.server);
    }
}
