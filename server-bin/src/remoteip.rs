//! mod_remoteip for `mpmd`: which listening addresses read the PROXY
//! protocol, and from whom, from the configuration's hosts.
//!
//! As in Apache, the protocol is a property of an address, not of a
//! host: an address reads it when the hosts that may serve it (the same
//! candidates, in the same order, as virtual-host selection) say
//! `RemoteIPProxyProtocol On`, the last of them that says anything
//! deciding; when none does, the main server's setting holds. The
//! trusted senders are `RemoteIPTrustedProxy` and `RemoteIPInternalProxy`
//! together (anyone when both are empty). Applied in the master before
//! the strategy runs, and again after each restart's re-read, so every
//! child inherits it.

use std::sync::Arc;

use mpm::strategy::Listeners;
use mpm::ProxyProtocol;
use mpm_site::router::Router;

use crate::config::ServerConfig;

/// Give each listener its PROXY protocol settings from `cfg` (none for
/// addresses that do not read it).
pub fn apply(cfg: &ServerConfig, listeners: &mut Listeners) {
    let router = Router::new(&cfg.site.main, &cfg.site.vhosts);
    let enabled = &cfg.proxy_protocol.enabled;
    let settings = Arc::new(ProxyProtocol {
        trusted: cfg.site.remote_ip.proxies(),
        exceptions: cfg.proxy_protocol.exceptions.clone(),
        timeout: cfg.proxy_protocol.timeout,
    });
    let per_listener: Vec<_> = listeners
        .iter()
        .map(|l| {
            let candidates = router.candidates(&l.addr.socket_addr());
            let on = candidates
                .iter()
                .rev()
                .find_map(|&i| enabled.get(i).copied().flatten())
                .or_else(|| enabled.first().copied().flatten())
                .unwrap_or(false);
            on.then(|| settings.clone())
        })
        .collect();
    for (i, p) in per_listener.into_iter().enumerate() {
        listeners.set_proxy_protocol(i, p);
    }
}
