//! This host's interface addresses, over `getifaddrs(3)` (libc): the
//! standard library has no interface list, and the crates that wrap it
//! add nothing needed here. Read by `health::targets` (eightfold's own
//! addresses are never probed) and `nameservers` (the address of
//! `ns1.<zone>` when listening on every address).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Every address of this host's interfaces; empty if the system cannot
/// tell (loopback is matched separately).
pub fn addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list that is only read here,
    // each entry's address cast to the type its family names, and freed
    // once at the end.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut entry = head;
        while !entry.is_null() {
            let addr = (*entry).ifa_addr;
            if !addr.is_null() {
                match i32::from((*addr).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(addr as *const libc::sockaddr_in);
                        out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                            sin.sin_addr.s_addr,
                        ))));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(addr as *const libc::sockaddr_in6);
                        out.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            entry = (*entry).ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out
}
