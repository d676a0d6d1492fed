//! mod_ssl for `mpmd`: which listening addresses speak TLS and with which
//! certificates, from the configuration's virtual hosts.
//!
//! An address is TLS when its `Listen` says `https` (port 443 does by
//! default) or when a host that may serve it has `SSLEngine on`. Its
//! certificates are those of the hosts with `SSLEngine on` among the hosts
//! the router would consider for it (the same candidates, in the same
//! order, as virtual-host selection, so the certificate SNI picks belongs
//! to the host the request's name picks); the first is the default, for
//! clients without SNI or with a name no host has. The protocols, suites
//! and cipher order are the default host's; the ALPN list (`Protocols`,
//! `ProtocolsHonorOrder`, see `http2`) is the default host's too, except
//! for clients whose SNI names a host whose own differ: that host's
//! (chosen after the ClientHello, [`mpm::TlsConfig`]). Everything is built in the
//! master before the strategy runs, so every child inherits it, and again
//! on each restart: new certificates take effect at a graceful restart.

use std::sync::Arc;

use mpm::strategy::{ListenAddr, Listeners};
use mpm::tls::{CertSpec, TlsPolicy, TlsShared};

use mpm_site::router::Router;

use crate::config::{ServerConfig, SslSettings, VirtualHost};

/// The TLS configuration of each TLS listening address.
pub type TlsTable = Vec<(ListenAddr, mpm::TlsConfig)>;

/// Build the TLS configuration of every TLS address of `cfg`: reads and
/// checks every certificate and key (what `mpmd -t` reports).
pub fn build(cfg: &ServerConfig, shared: &TlsShared) -> Result<TlsTable, String> {
    let router = Router::new(&cfg.site.main, &cfg.site.vhosts);
    let hosts: Vec<(&VirtualHost, &SslSettings)> = cfg.site.hosts().zip(&cfg.ssl).collect();
    let mut table = TlsTable::new();
    for addr in &cfg.listens {
        if table.iter().any(|(a, _)| a == addr) {
            continue;
        }
        let local = addr.socket_addr();
        let candidates = router.candidates(&local);
        let serving: Vec<usize> = if candidates.is_empty() {
            vec![0]
        } else {
            candidates.to_vec()
        };
        let ssl_index: Vec<usize> = serving
            .iter()
            .copied()
            .filter(|&i| hosts.get(i).is_some_and(|(_, ssl)| ssl.enabled()))
            .collect();
        let ssl_hosts: Vec<(&VirtualHost, &SslSettings)> =
            ssl_index.iter().map(|&i| hosts[i]).collect();
        if !addr.is_tls() && ssl_hosts.is_empty() {
            continue;
        }
        let Some(&(_, default)) = ssl_hosts.first() else {
            return Err(format!(
                "Listen {addr} https: no server for this address has SSLEngine on; add SSLEngine on, SSLCertificateFile and SSLCertificateKeyFile to its <VirtualHost>"
            ));
        };
        let mut specs = Vec::with_capacity(ssl_hosts.len());
        for &(h, ssl) in &ssl_hosts {
            let Some(cert_file) = ssl.cert_file.clone() else {
                return Err(format!(
                    "{}: SSLEngine on but no SSLCertificateFile for {}",
                    h.origin,
                    h.server_name.as_deref().unwrap_or("this server")
                ));
            };
            let names = h
                .server_name
                .iter()
                .chain(&h.server_aliases)
                .cloned()
                .collect();
            specs.push((
                CertSpec {
                    names,
                    cert_file,
                    key_file: ssl.key_file.clone(),
                },
                ssl.cert_origin.clone(),
            ));
        }
        let policy = TlsPolicy {
            versions: default
                .protocols
                .clone()
                .unwrap_or_else(|| TlsPolicy::default().versions),
            cipher_suites: default.cipher_suites.clone(),
            honor_cipher_order: default.honor_cipher_order.unwrap_or(false),
            session_tickets: cfg.ssl_session_tickets,
            session_cache: cfg.ssl_session_cache,
            alpn: crate::http2::alpn(
                &cfg.protocols
                    .get(crate::http2::default_host(cfg, &router, &local, true))
                    .cloned()
                    .unwrap_or_default(),
            ),
        };
        let mut keys = Vec::with_capacity(specs.len());
        for (spec, origin) in specs {
            let key = mpm::tls::load_certified_key(&spec.cert_file, spec.key_file.as_deref())
                .map_err(|e| match origin {
                    Some(o) => format!("{o}: SSLCertificateFile: {e}"),
                    None => e.to_string(),
                })?;
            keys.push((spec.names, Arc::new(key)));
        }
        let config =
            mpm::tls::server_config_from_keys(&format!("Listen {addr}"), keys, &policy, shared)
                .map_err(|e| e.to_string())?;
        table.push((
            addr.clone(),
            host_protocols(cfg, config, &ssl_index, &ssl_hosts),
        ));
    }
    Ok(table)
}

/// The address's TLS configuration `config` (its default host's ALPN
/// list, the first of `index`) with its hosts' own `Protocols` and
/// `ProtocolsHonorOrder` (`index`: the hosts with `SSLEngine on` that
/// may serve it, numbered as [`ServerConfig::protocols`]; `hosts` the
/// same): when any differs from the default host's, each host in order
/// is chosen by its names, as Apache chooses by SNI.
fn host_protocols(
    cfg: &ServerConfig,
    config: Arc<mpm::rustls::ServerConfig>,
    index: &[usize],
    hosts: &[(&VirtualHost, &SslSettings)],
) -> mpm::TlsConfig {
    let settings = |i: usize| cfg.protocols.get(i).cloned().unwrap_or_default();
    let offer = |i: usize| {
        let s = settings(i);
        (crate::http2::alpn(&s), s.honor_order != Some(false))
    };
    let default = offer(index.first().copied().unwrap_or(0));
    let mut tls = mpm::TlsConfig::from(config).with_default_order(default.1);
    if index.iter().all(|&i| offer(i) == default) {
        return tls;
    }
    for (&i, (h, _)) in index.iter().zip(hosts) {
        let names: Vec<String> = h
            .server_name
            .iter()
            .chain(&h.server_aliases)
            .cloned()
            .collect();
        let (alpn, honor_order) = offer(i);
        tls = tls.with_host_alpn(&names, &alpn, honor_order);
    }
    tls
}

/// Give each listener its TLS configuration from `table` (none for plain
/// addresses).
pub fn apply(table: &TlsTable, listeners: &mut Listeners) {
    let configs: Vec<_> = listeners
        .iter()
        .map(|l| {
            table
                .iter()
                .find(|(a, _)| a == &l.addr)
                .map(|(_, c)| c.clone())
        })
        .collect();
    for (i, c) in configs.into_iter().enumerate() {
        listeners.set_tls(i, c);
    }
}
