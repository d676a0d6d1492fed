//! Networks of addresses (`10.0.0.0/8`, `::1/128`): what `Require ip`,
//! the trusted senders of PROXY headers and `RemoteIPTrustedProxy` match
//! a client's address against.

use std::net::IpAddr;

/// An address with a prefix length (`192.168.0.0/16`, `10.1` = `10.1.0.0/16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// The network's address (its bits past `prefix` do not matter).
    pub addr: IpAddr,
    /// How many leading bits of `addr` a client's address must share.
    pub prefix: u8,
}

impl IpNet {
    /// The network of `addr` alone (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> IpNet {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        IpNet { addr, prefix }
    }

    /// Whether the network holds `ip`. IPv4-mapped IPv6 addresses
    /// (`::ffff:10.0.0.1`, what a dual-stack socket reports for an IPv4
    /// client) are taken as the IPv4 address they map, on either side.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (canonical_ip(self.addr), canonical_ip(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let prefix = if self.addr.is_ipv6() {
                    u32::from(self.prefix.saturating_sub(96))
                } else {
                    u32::from(self.prefix.min(32))
                };
                let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let prefix = u32::from(self.prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// `ip` with an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) written as
/// the IPv4 address it maps.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str, prefix: u8) -> IpNet {
        IpNet {
            addr: text.parse().unwrap(),
            prefix,
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_match_by_prefix() {
        assert!(net("10.1.0.0", 16).contains(ip("10.1.200.3")));
        assert!(!net("10.1.0.0", 16).contains(ip("10.2.0.1")));
        assert!(net("0.0.0.0", 0).contains(ip("8.8.8.8")));
        assert!(net("127.0.0.1", 32).contains(ip("127.0.0.1")));
        assert!(!net("127.0.0.1", 32).contains(ip("127.0.0.2")));
        assert!(net("::1", 128).contains(ip("::1")));
        assert!(!net("::1", 128).contains(ip("127.0.0.1")));
        assert!(net("fe80::", 10).contains(ip("fe80::1234")));
    }

    #[test]
    fn ipv4_mapped_addresses_match_ipv4_networks() {
        assert!(net("127.0.0.0", 8).contains(ip("::ffff:127.0.0.2")));
        assert!(net("::ffff:10.0.0.0", 104).contains(ip("10.0.0.9")));
        assert!(IpNet::host(ip("127.0.0.2")).contains(ip("::ffff:127.0.0.2")));
    }
}
