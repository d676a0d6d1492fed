//! Virtual-host selection, as Apache httpd 2.4 does it.
//!
//! First the address: the hosts whose `<VirtualHost addr:port>` matches the
//! connection's local address are the candidates, and hosts naming that
//! exact IP win over wildcard (`*`) ones. Then the name: among the
//! candidates the first whose `ServerName` or a `ServerAlias` (with `*` and
//! `?` wildcards) matches the request's host; with no name match, the first
//! candidate (the default host of that address); with no candidate at all,
//! the main server.
//!
//! The address part is precomputed per port in [`Router::new`], so a
//! request costs a short scan of a small table and no allocation.

use std::net::{IpAddr, SocketAddr};

use crate::config::VirtualHost;
use mpm_core::net::tls::wildcard_match;

/// Hosts by address. Host indices are into the caller's list, where index
/// 0 is the main server and `i + 1` is `vhosts[i]`.
#[derive(Debug)]
pub struct Router {
    /// One table per port some `<VirtualHost>` names explicitly.
    ports: Vec<PortTable>,
    /// The table for every other port (hosts with port `*` only).
    any_port: PortTable,
    /// Per host index, the names it answers to (lowercase).
    names: Vec<HostNames>,
}

#[derive(Debug, Default)]
struct PortTable {
    port: u16,
    /// `(ip, hosts naming that ip on this port)` in configuration order.
    exact: Vec<(IpAddr, Vec<usize>)>,
    /// Hosts with a wildcard ip on this port, in configuration order.
    wildcard: Vec<usize>,
}

#[derive(Debug, Default)]
struct HostNames {
    server_name: Option<String>,
    aliases: Vec<String>,
}

/// The index of the main server in the router's host numbering.
pub const MAIN_SERVER: usize = 0;

impl Router {
    /// Precompute the address tables of `vhosts` (numbered from 1).
    pub fn new(main: &VirtualHost, vhosts: &[VirtualHost]) -> Router {
        let mut ports: Vec<u16> = vhosts
            .iter()
            .flat_map(|v| v.addrs.iter().filter_map(|a| a.port))
            .collect();
        ports.sort_unstable();
        ports.dedup();
        let table_for = |port: Option<u16>| {
            let mut table = PortTable {
                port: port.unwrap_or(0),
                ..PortTable::default()
            };
            for (i, vhost) in vhosts.iter().enumerate() {
                let index = i + 1;
                for addr in &vhost.addrs {
                    if addr.port.is_some() && addr.port != port {
                        continue;
                    }
                    match addr.ip {
                        Some(ip) if !ip.is_unspecified() => {
                            let ip = canonical_ip(ip);
                            match table.exact.iter_mut().find(|(e, _)| *e == ip) {
                                Some((_, hosts)) => push_once(hosts, index),
                                None => table.exact.push((ip, vec![index])),
                            }
                        }
                        _ => push_once(&mut table.wildcard, index),
                    }
                }
            }
            table
        };
        let names = std::iter::once(main)
            .chain(vhosts)
            .map(|v| HostNames {
                server_name: v.server_name.as_ref().map(|n| normalise_name(n)),
                aliases: v.server_aliases.iter().map(|n| normalise_name(n)).collect(),
            })
            .collect();
        Router {
            ports: ports.iter().map(|&p| table_for(Some(p))).collect(),
            any_port: table_for(None),
            names,
        }
    }

    /// The hosts that may serve connections to `local`, in order (the
    /// first is the address's default): those naming the exact address,
    /// else the wildcard ones; empty when only the main server does.
    pub fn candidates(&self, local: &SocketAddr) -> &[usize] {
        let table = self
            .ports
            .iter()
            .find(|t| t.port == local.port())
            .unwrap_or(&self.any_port);
        let ip = canonical_ip(local.ip());
        match table.exact.iter().find(|(e, _)| *e == ip) {
            Some((_, hosts)) => hosts.as_slice(),
            None => table.wildcard.as_slice(),
        }
    }

    /// The host serving a request that arrived on `local` for `host` (the
    /// request's host name without port, any case), or the address's
    /// default host when `host` is `None` or matches no name.
    pub fn select(&self, local: &SocketAddr, host: Option<&str>) -> usize {
        let candidates = self.candidates(local);
        let Some(&default) = candidates.first() else {
            return MAIN_SERVER;
        };
        let Some(host) = host.map(trim_host).filter(|h| !h.is_empty()) else {
            return default;
        };
        candidates
            .iter()
            .copied()
            .find(|&i| self.names[i].matches(host))
            .unwrap_or(default)
    }
}

impl HostNames {
    fn matches(&self, host: &str) -> bool {
        self.server_name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(host))
            || self
                .aliases
                .iter()
                .any(|a| wildcard_match(a.as_bytes(), host.as_bytes()))
    }
}

fn push_once(list: &mut Vec<usize>, index: usize) {
    if !list.contains(&index) {
        list.push(index);
    }
}

pub use mpm_core::net::ipnet::canonical_ip;

fn normalise_name(name: &str) -> String {
    trim_host(name).to_ascii_lowercase()
}

/// A host name without a trailing dot (`example.com.` is `example.com`).
fn trim_host(host: &str) -> &str {
    host.strip_suffix('.').unwrap_or(host)
}

/// The host part of a `Host` header value or URI authority: without the
/// port, and for IPv6 literals with the brackets (`[::1]`), as Apache keeps
/// them. Userinfo (`user@host`) is dropped.
pub fn host_without_port(authority: &str) -> &str {
    // Read as bytes: `@`, `[`, `]` and `:` are ASCII, so every cut is at
    // a character boundary (str patterns cost a searcher per call).
    let bytes = authority.as_bytes();
    let start = bytes
        .iter()
        .rposition(|&b| b == b'@')
        .map_or(0, |at| at + 1);
    let host = &authority[start..];
    let bytes = host.as_bytes();
    let end = if bytes.first() == Some(&b'[') {
        bytes
            .iter()
            .position(|&b| b == b']')
            .map_or(bytes.len(), |end| end + 1)
    } else {
        bytes.iter().position(|&b| b == b':').unwrap_or(bytes.len())
    };
    &host[..end]
}

/// The request's host: the authority of an absolute-form target, else the
/// `Host` header, without the port.
pub fn request_host<'a>(
    uri: Option<&'a http::Uri>,
    headers: &'a http::HeaderMap,
) -> Option<&'a str> {
    if let Some(authority) = uri.and_then(|u| u.authority()) {
        return Some(host_without_port(authority.as_str()));
    }
    headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| host_without_port(h.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::VhostAddr;

    #[test]
    fn fnmatch_handles_stars_and_question_marks_case_insensitively() {
        assert!(wildcard_match(b"*.example.com", b"WWW.Example.com"));
        assert!(wildcard_match(b"*.example.com", b"a.b.example.com"));
        assert!(!wildcard_match(b"*.example.com", b"example.com"));
        assert!(wildcard_match(b"www?.example.*", b"www1.example.org"));
        assert!(!wildcard_match(b"www?.example.*", b"www.example.org"));
        assert!(wildcard_match(b"*", b""));
        assert!(wildcard_match(b"a*b*c", b"aXXbYYbc"));
        assert!(!wildcard_match(b"a*b*c", b"aXXbYYbd"));
    }

    #[test]
    fn host_loses_port_and_keeps_ipv6_brackets() {
        assert_eq!(host_without_port("example.com:8080"), "example.com");
        assert_eq!(host_without_port("example.com"), "example.com");
        assert_eq!(host_without_port("[::1]:80"), "[::1]");
        assert_eq!(host_without_port("user@h:1"), "h");
        assert_eq!(host_without_port("a@b@[::1]"), "[::1]");
        assert_eq!(host_without_port("[::1"), "[::1");
        assert_eq!(host_without_port("h:"), "h");
        assert_eq!(host_without_port(""), "");
        assert_eq!(host_without_port("é.example:80"), "é.example");
    }

    fn vhost(addr: &str, name: &str) -> VirtualHost {
        let (ip, port) = addr.rsplit_once(':').unwrap();
        VirtualHost {
            addrs: vec![VhostAddr {
                ip: if ip == "*" {
                    None
                } else {
                    Some(ip.parse().unwrap())
                },
                port: if port == "*" {
                    None
                } else {
                    Some(port.parse().unwrap())
                },
            }],
            server_name: Some(name.to_string()),
            ..VirtualHost::new("/")
        }
    }

    #[test]
    fn ipv4_mapped_local_address_matches_an_ipv4_vhost() {
        let main = vhost("*:*", "main");
        let router = Router::new(&main, &[vhost("*:80", "a"), vhost("127.0.0.1:80", "b")]);
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:80".parse().unwrap();
        assert_eq!(router.select(&mapped, None), 2, "exact ip vhost should win");
        let other: SocketAddr = "127.0.0.2:80".parse().unwrap();
        assert_eq!(router.select(&other, None), 1);
        let unknown_port: SocketAddr = "127.0.0.1:81".parse().unwrap();
        assert_eq!(router.select(&unknown_port, None), MAIN_SERVER);
    }
}
