//! mod_remoteip's request-header half: the client's address from
//! `RemoteIPHeader` (`X-Forwarded-For`), believed only as far as the
//! proxies that wrote it are trusted.
//!
//! As Apache, the list is walked from the right: the connection's client
//! (the TCP peer, or the address a PROXY header gave) must be a trusted
//! proxy for its entry to be read; that entry becomes the client, and if
//! it is a trusted proxy too, the entry before it is read, and so on. The
//! first address that is not a trusted proxy is the client. Without any
//! `RemoteIPTrustedProxy` or `RemoteIPInternalProxy`, every proxy is
//! trusted. A proxy trusted with `RemoteIPTrustedProxy` (not internal)
//! may not present a private, loopback or link-local IPv4 address, nor an
//! IPv6 address outside 2000::/3: the walk stops before such an entry,
//! as it does before one that is not an address.
//!
//! The address found replaces [`ConnInfo::peer`] for the request (what
//! `Require ip`, `%a` and the handlers see); the connection's TCP peer
//! stays [`ConnInfo::socket_peer`] (`%{c}a`).

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::HeaderMap;
use mpm_core::net::ipnet::canonical_ip;
use mpm_core::net::proxy::Proxied;
use mpm_core::ConnInfo;

use crate::config::RemoteIpConfig;

impl RemoteIpConfig {
    /// The connection as the request's handlers see it: `conn` with the
    /// client's address from the header when the walk finds one.
    pub fn conn_for<'c>(&self, conn: &'c ConnInfo, headers: &HeaderMap) -> Cow<'c, ConnInfo> {
        match self.client(conn.peer.ip(), headers) {
            Some(client) if client != canonical_ip(conn.peer.ip()) => {
                let mut with = conn.clone();
                with.peer = SocketAddr::new(client, conn.peer.port());
                // The TCP peer stays known (`socket_peer`): a PROXY
                // header's record already holds it.
                with.proxied = Some(conn.proxied.clone().unwrap_or_else(|| {
                    Arc::new(Proxied {
                        proxy: conn.peer,
                        destination: None,
                        version: 0,
                        tlvs: Default::default(),
                    })
                }));
                Cow::Owned(with)
            }
            _ => Cow::Borrowed(conn),
        }
    }

    /// The client's address from the header, walking from `peer`;
    /// `None` when no header is configured or present.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> Option<IpAddr> {
        let name = self.header.as_ref()?;
        // Several header lines are one list, in order.
        let mut entries: Vec<&str> = Vec::new();
        for value in headers.get_all(name) {
            let text = value.to_str().ok()?;
            entries.extend(text.split(','));
        }
        if entries.is_empty() {
            return None;
        }
        let mut client = canonical_ip(peer);
        while let Some(internal) = self.trust(client) {
            let Some(entry) = entries.pop() else {
                break;
            };
            let Ok(next) = entry.trim_matches(' ').parse::<IpAddr>() else {
                break;
            };
            let next = canonical_ip(next);
            if !internal && !presentable(next) {
                break;
            }
            client = next;
        }
        Some(client)
    }

    /// Whether `ip` is a trusted proxy: `Some(true)` for an internal one
    /// (or when no list is set, every address, as not internal).
    fn trust(&self, ip: IpAddr) -> Option<bool> {
        if self.trusted.is_empty() && self.internal.is_empty() {
            return Some(false);
        }
        if self.internal.iter().any(|n| n.contains(ip)) {
            return Some(true);
        }
        self.trusted.iter().any(|n| n.contains(ip)).then_some(false)
    }
}

/// An address a proxy that is not internal may present: not private,
/// loopback or link-local (IPv4), global unicast 2000::/3 (IPv6).
fn presentable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_private() || v4.is_loopback() || v4.is_link_local()),
        IpAddr::V6(v6) => v6.segments()[0] & 0xe000 == 0x2000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::IpNet;
    use http::header::HeaderName;
    use http::HeaderValue;

    fn net(text: &str) -> IpNet {
        let (a, p) = text.split_once('/').unwrap();
        IpNet {
            addr: a.parse().unwrap(),
            prefix: p.parse().unwrap(),
        }
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn cfg(trusted: &[&str], internal: &[&str]) -> RemoteIpConfig {
        RemoteIpConfig {
            header: Some(HeaderName::from_static("x-forwarded-for")),
            trusted: trusted.iter().map(|t| net(t)).collect(),
            internal: internal.iter().map(|t| net(t)).collect(),
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_walk_stops_at_the_first_address_not_trusted_from_the_right() {
        let c = cfg(&["203.0.113.0/24"], &["10.0.0.0/8"]);
        // 10.0.0.5 (internal) ← 203.0.113.9 (trusted) ← 198.51.100.7 (client).
        let h = xff(&["192.0.2.1, 198.51.100.7, 203.0.113.9"]);
        assert_eq!(c.client(ip("10.0.0.5"), &h), Some(ip("198.51.100.7")));
        // The same list split over two lines.
        let h = xff(&["192.0.2.1, 198.51.100.7", "203.0.113.9"]);
        assert_eq!(c.client(ip("10.0.0.5"), &h), Some(ip("198.51.100.7")));
    }

    #[test]
    fn an_untrusted_peer_s_header_is_ignored() {
        let c = cfg(&["203.0.113.0/24"], &[]);
        let h = xff(&["198.51.100.7"]);
        assert_eq!(c.client(ip("192.0.2.50"), &h), Some(ip("192.0.2.50")));
        assert_eq!(c.client(ip("203.0.113.1"), &HeaderMap::new()), None);
    }

    #[test]
    fn a_trusted_proxy_may_not_present_a_private_address_but_an_internal_one_may() {
        let h = xff(&["10.1.2.3"]);
        let c = cfg(&["203.0.113.0/24"], &[]);
        assert_eq!(c.client(ip("203.0.113.1"), &h), Some(ip("203.0.113.1")));
        let c = cfg(&[], &["203.0.113.0/24"]);
        assert_eq!(c.client(ip("203.0.113.1"), &h), Some(ip("10.1.2.3")));
    }

    #[test]
    fn garbage_stops_the_walk_and_no_list_trusts_everyone() {
        let c = cfg(&[], &[]);
        let h = xff(&["198.51.100.7, nonsense, 192.0.2.9"]);
        assert_eq!(c.client(ip("127.0.0.1"), &h), Some(ip("192.0.2.9")));
        let h = xff(&["198.51.100.7, 192.0.2.9"]);
        assert_eq!(c.client(ip("127.0.0.1"), &h), Some(ip("198.51.100.7")));
    }
}
