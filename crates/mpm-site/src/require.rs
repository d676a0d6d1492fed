//! `Require` (mod_authz_core / mod_authz_host): whether a client may see a
//! resource, from its address alone.

use std::net::IpAddr;

use mpm_core::ConnInfo;

use crate::config::{IpNet, Require};
use crate::router::canonical_ip;

/// Whether `rule` grants the client of `conn`.
pub fn allows(rule: &Require, conn: &ConnInfo) -> bool {
    let peer = canonical_ip(conn.peer.ip());
    granted(rule, peer, canonical_ip(conn.local.ip()))
}

fn granted(rule: &Require, peer: IpAddr, local: IpAddr) -> bool {
    match rule {
        Require::AllGranted => true,
        Require::AllDenied => false,
        Require::Local => peer.is_loopback() || peer == local,
        Require::Ip(nets) => nets.iter().any(|net| contains(net, peer)),
        Require::Any(rules) => rules.iter().any(|r| granted(r, peer, local)),
    }
}

/// Whether `net` contains `ip` (IPv4-mapped networks match IPv4 clients).
fn contains(net: &IpNet, ip: IpAddr) -> bool {
    match (canonical_ip(net.addr), ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let prefix = if net.addr.is_ipv6() {
                u32::from(net.prefix.saturating_sub(96))
            } else {
                u32::from(net.prefix.min(32))
            };
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let prefix = u32::from(net.prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
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
        assert!(contains(&net("10.1.0.0", 16), ip("10.1.200.3")));
        assert!(!contains(&net("10.1.0.0", 16), ip("10.2.0.1")));
        assert!(contains(&net("0.0.0.0", 0), ip("8.8.8.8")));
        assert!(contains(&net("127.0.0.1", 32), ip("127.0.0.1")));
        assert!(!contains(&net("127.0.0.1", 32), ip("127.0.0.2")));
        assert!(contains(&net("::1", 128), ip("::1")));
        assert!(!contains(&net("::1", 128), ip("127.0.0.1")));
        assert!(contains(&net("fe80::", 10), ip("fe80::1234")));
    }

    #[test]
    fn local_grants_loopback_and_same_address_clients() {
        assert!(granted(&Require::Local, ip("127.0.0.5"), ip("10.0.0.1")));
        assert!(granted(&Require::Local, ip("10.0.0.1"), ip("10.0.0.1")));
        assert!(!granted(&Require::Local, ip("10.0.0.2"), ip("10.0.0.1")));
        let any = Require::Any(vec![
            Require::AllDenied,
            Require::Ip(vec![net("10.0.0.0", 8)]),
        ]);
        assert!(granted(&any, ip("10.0.0.2"), ip("127.0.0.1")));
        assert!(!granted(&any, ip("11.0.0.2"), ip("127.0.0.1")));
    }
}
