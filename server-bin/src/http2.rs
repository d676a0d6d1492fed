//! HTTP/2 for `mpmd`: which listening addresses speak it, and how, from
//! the hosts' `Protocols`, `H2Direct` and `H2Upgrade`.
//!
//! As with the TLS policy (`tls`), an address follows its default host:
//! the first of the hosts that may serve it (the same candidates, in the
//! same order, as virtual-host selection; on a TLS address the first with
//! `SSLEngine on`, whose certificate a client without SNI gets). On TLS,
//! as Apache, a client whose SNI names a `<VirtualHost>` with its own
//! `Protocols` (or `ProtocolsHonorOrder`) negotiates from that host's
//! list (`tls`: the configuration is chosen after the ClientHello). On
//! TLS, `h2` in `Protocols` puts `h2` in the ALPN list, in the
//! written order; in clear, `h2c` allows prior knowledge (`H2Direct`, on
//! by default) and `Upgrade: h2c` (`H2Upgrade`, on by default). Applied
//! in the master before the strategy runs, and again after each
//! restart's re-read, so every child inherits it.

use mpm::strategy::Listeners;
use mpm::Http2Offer;
use mpm_site::router::Router;

use crate::config::{AppProtocol, ProtocolSettings, ServerConfig};

/// The ALPN protocols a TLS address whose default host has `settings`
/// offers, most preferred first: `Protocols` in the order written, `h2`
/// as `h2` and `http/1.1` as `http/1.1` then `http/1.0` (`h2c` is no TLS
/// protocol).
pub fn alpn(settings: &ProtocolSettings) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for p in settings.effective() {
        match p {
            AppProtocol::H2 => out.push(mpm::tls::ALPN_H2.to_vec()),
            AppProtocol::Http11 => {
                out.extend(mpm::tls::ALPN_HTTP1.iter().map(|p| p.to_vec()));
            }
            AppProtocol::H2c => {}
        }
    }
    out
}

/// How an address whose default host has `settings` offers HTTP/2.
pub fn offer(settings: &ProtocolSettings, tls: bool) -> Http2Offer {
    let protocols = settings.effective();
    if tls {
        let h2 = protocols.contains(&AppProtocol::H2);
        Http2Offer {
            alpn: h2,
            direct: h2 && settings.h2_direct == Some(true),
            upgrade: false,
        }
    } else {
        let h2c = protocols.contains(&AppProtocol::H2c);
        Http2Offer {
            alpn: false,
            direct: h2c && settings.h2_direct != Some(false),
            upgrade: h2c && settings.h2_upgrade != Some(false),
        }
    }
}

/// The host (numbered as [`ServerConfig::protocols`]) whose settings an
/// address follows: the first candidate for it, the first with
/// `SSLEngine on` when `tls`; the main server when there is none.
pub fn default_host(
    cfg: &ServerConfig,
    router: &Router,
    addr: &std::net::SocketAddr,
    tls: bool,
) -> usize {
    let candidates = router.candidates(addr);
    candidates
        .iter()
        .copied()
        .find(|&i| !tls || cfg.ssl.get(i).is_some_and(|s| s.enabled()))
        .unwrap_or(0)
}

/// Give each listener its HTTP/2 offer (after `tls::apply`, which decides
/// which listeners are TLS).
pub fn apply(cfg: &ServerConfig, listeners: &mut Listeners) {
    let router = Router::new(&cfg.site.main, &cfg.site.vhosts);
    let offers: Vec<Http2Offer> = listeners
        .iter()
        .map(|l| {
            let tls = l.tls.is_some();
            let host = default_host(cfg, &router, &l.addr.socket_addr(), tls);
            let settings = cfg.protocols.get(host).cloned().unwrap_or_default();
            offer(&settings, tls)
        })
        .collect();
    for (i, o) in offers.into_iter().enumerate() {
        listeners.set_http2(i, o);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(protocols: &[AppProtocol]) -> ProtocolSettings {
        ProtocolSettings {
            protocols: Some(protocols.to_vec()),
            ..ProtocolSettings::default()
        }
    }

    #[test]
    fn alpn_follows_the_order_of_protocols() {
        let s = settings(&[AppProtocol::H2, AppProtocol::Http11]);
        assert_eq!(
            alpn(&s),
            vec![b"h2".to_vec(), b"http/1.1".to_vec(), b"http/1.0".to_vec()]
        );
        let s = settings(&[AppProtocol::Http11, AppProtocol::H2]);
        assert_eq!(alpn(&s)[0], b"http/1.1");
        assert_eq!(
            alpn(&ProtocolSettings::default()).len(),
            2,
            "http/1.1 by default"
        );
    }

    #[test]
    fn h2c_allows_prior_knowledge_and_upgrade_in_clear_only() {
        let s = settings(&[AppProtocol::H2c, AppProtocol::Http11]);
        assert_eq!(
            offer(&s, false),
            Http2Offer {
                alpn: false,
                direct: true,
                upgrade: true
            }
        );
        assert!(!offer(&s, true).any(), "h2c is not a TLS protocol");
        let s = ProtocolSettings {
            h2_upgrade: Some(false),
            ..s
        };
        assert!(!offer(&s, false).upgrade);
        let s = settings(&[AppProtocol::H2, AppProtocol::Http11]);
        assert_eq!(
            offer(&s, true),
            Http2Offer {
                alpn: true,
                direct: false,
                upgrade: false
            }
        );
        let s = ProtocolSettings {
            h2_direct: Some(true),
            ..s
        };
        assert!(
            offer(&s, true).direct,
            "H2Direct on lets TLS clients skip ALPN"
        );
        assert!(!offer(&ProtocolSettings::default(), false).any());
    }
}
