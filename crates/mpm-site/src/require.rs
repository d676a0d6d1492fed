//! `Require` (mod_authz_core / mod_authz_host): whether a client may see a
//! resource, from its address alone.

use std::net::IpAddr;

use mpm_core::ConnInfo;

use crate::config::Require;
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
        Require::Ip(nets) => nets.iter().any(|net| net.contains(peer)),
        Require::Any(rules) => rules.iter().any(|r| granted(r, peer, local)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::IpNet;

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
