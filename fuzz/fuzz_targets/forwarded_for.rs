//! `forwarded_for`: `mpm_site::config::RemoteIpConfig::client`, mod_remoteip's
//! walk of `X-Forwarded-For` (the header's values are the client's bytes).
//! Input: the first byte picks the peer and the trust lists, the rest is
//! split at `\n` into header lines.
//!
//! Properties:
//!
//! 1. No header line (or no `RemoteIPHeader`) gives `None`.
//! 2. The address found is the peer itself or an address written in one
//!    of the header's entries: the walk never makes one up.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use mpm_core::http::{HeaderMap, HeaderName, HeaderValue};
use mpm_core::net::ipnet::{canonical_ip, IpNet};
use mpm_site::config::RemoteIpConfig;

fn net(addr: IpAddr, prefix: u8) -> IpNet {
    IpNet { addr, prefix }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let peers = [
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1)),
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)),
        "::ffff:10.0.0.1".parse().unwrap(),
    ];
    let peer = peers[usize::from(pick & 3)];
    let (trusted, internal) = match (pick >> 2) & 3 {
        0 => (vec![], vec![]),
        1 => (vec![net(peers[0], 8)], vec![]),
        2 => (vec![], vec![net(peers[1], 16)]),
        _ => (vec![net(peers[0], 8)], vec![net(peers[1], 16)]),
    };
    let name = HeaderName::from_static("x-forwarded-for");
    let config = RemoteIpConfig {
        header: Some(name.clone()),
        trusted,
        internal,
    };
    let mut headers = HeaderMap::new();
    for line in rest.split(|&b| b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(name.clone(), value);
        }
    }
    let found = config.client(peer, &headers);
    if headers.is_empty() {
        assert_eq!(found, None, "an address with no header line");
    }
    let without = RemoteIpConfig {
        header: None,
        ..config.clone()
    };
    assert_eq!(without.client(peer, &headers), None, "an address with no RemoteIPHeader");
    if let Some(ip) = found {
        let written: Vec<IpAddr> = headers
            .get_all(&name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|t| t.split(','))
            .filter_map(|e| e.trim_matches(' ').parse::<IpAddr>().ok())
            .map(canonical_ip)
            .collect();
        assert!(
            ip == canonical_ip(peer) || written.contains(&ip),
            "{ip} is neither the peer {peer} nor written in {headers:?}"
        );
    }
});
