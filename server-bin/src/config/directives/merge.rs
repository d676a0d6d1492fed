//! The end of reading: what only the whole configuration shows (a
//! `Listen` at all), log formats resolved now that every `LogFormat` is
//! known, and the virtual hosts merged with the main server as Apache
//! merges them (mod_proxy's settings by [`super::proxy::merged`]).

use std::collections::HashMap;
use std::path::Path;

use super::proxy;
use super::state::{Host, State};
use crate::config::error::ConfigError;
use crate::config::server_config::{ProxyProtocolSettings, ServerConfig, SslSettings};
use mpm_site::config::{CustomLog, SiteConfig, VirtualHost};

impl State<'_> {
    /// Merge the hosts, resolve log formats, check what only the whole
    /// configuration shows (a `Listen` at all).
    pub(super) fn finish(self) -> Result<ServerConfig, ConfigError> {
        if self.listens.is_empty() {
            return Err(ConfigError {
                origin: None,
                message: format!(
                    "no listening sockets available, shutting down: {} has no Listen directive (add e.g. `Listen 80`)",
                    self.main.origin.file.display()
                ),
            });
        }
        let formats = (&self.log_formats, self.default_format.as_str());
        let default_root = self.server_root.join("htdocs");
        let timeout = self.protocol.timeouts.timeout;
        let mut main = finish_host(&self.main, None, formats, &default_root)?;
        main.proxy = proxy::merged(&self.main.proxy, None, timeout)?;
        let vhosts = self
            .vhosts
            .iter()
            .map(|h| {
                let mut vhost = finish_host(h, Some(&main), formats, &default_root)?;
                vhost.proxy = proxy::merged(&h.proxy, Some(&self.main.proxy), timeout)?;
                Ok(vhost)
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let ssl = std::iter::once(self.main.ssl.clone())
            .chain(
                self.vhosts
                    .iter()
                    .map(|h| merge_ssl(&h.ssl, &self.main.ssl)),
            )
            .collect();
        let proxy_protocol = ProxyProtocolSettings {
            enabled: std::iter::once(&self.main)
                .chain(&self.vhosts)
                .map(|h| h.proxy_protocol)
                .collect(),
            exceptions: self.proxy_protocol_exceptions,
            timeout: self.proxy_protocol_timeout,
        };
        let server_software = self.protocol.server_header.clone();
        let htaccess = super::HtaccessContext::new(
            self.server_root.clone(),
            self.defined.iter().cloned().collect(),
            &self.vars,
            self.opts,
            self.mpm_name.clone(),
        );
        // CGIScriptTimeout, by default Timeout (as in Apache).
        let cgi_timeout = self.cgi.timeout.unwrap_or(self.protocol.timeouts.timeout);
        let protocols = std::iter::once(self.main.protocols.clone())
            .chain(
                self.vhosts
                    .iter()
                    .map(|h| h.protocols.or(&self.main.protocols)),
            )
            .collect();
        Ok(ServerConfig {
            htaccess,
            listens: self.listens.into_iter().map(|(l, _)| l).collect(),
            accept_filters: self.accept_filters,
            mpm_name: self.mpm_name,
            mpm: self.mpm,
            protocol: self.protocol,
            pid_file: self
                .pid_file
                .unwrap_or_else(|| self.server_root.join("logs/mpmd.pid")),
            server_root: self.server_root,
            error_log: self.error_log,
            log_level: self.log_level,
            site: SiteConfig {
                main,
                vhosts,
                add_types: self
                    .types_config
                    .into_iter()
                    .chain(self.add_types)
                    .collect(),
                cached_files: self.cached_files,
                remote_ip: self.remote_ip,
                cgi: mpm_site::cgi_script::CgiConfig {
                    timeout: Some(cgi_timeout),
                },
                fcgid: self.fcgid,
                access_file_name: self.access_file_name,
                limit_internal_recursion: self.limit_internal_recursion,
                trace_enable: self.trace_enable,
                server_software,
            },
            ssl,
            warnings: self.warnings,
            ssl_session_tickets: self.ssl_session_tickets,
            ssl_session_cache: self.ssl_session_cache,
            proxy_protocol,
            protocols,
        })
    }
}

/// A host's settings with what it does not set taken from `main` (for a
/// virtual host): the main server's `Alias` and `Redirect` rules after its
/// own, its sections after the main server's (so they win, as in Apache),
/// its per-directory settings laid on the main server's.
fn finish_host(
    host: &Host,
    main: Option<&VirtualHost>,
    (formats, default_format): (&HashMap<String, String>, &str),
    default_root: &Path,
) -> Result<VirtualHost, ConfigError> {
    let mut custom_logs = Vec::new();
    for (path, format, origin) in &host.custom_logs {
        custom_logs.push(CustomLog {
            path: path.clone(),
            format: format.resolve(formats, default_format, origin)?,
        });
    }
    let inherit = |own: &Option<String>, f: fn(&VirtualHost) -> &Option<String>| {
        own.clone().or_else(|| main.and_then(|m| f(m).clone()))
    };
    Ok(VirtualHost {
        addrs: host.addrs.clone(),
        server_name: inherit(&host.server_name, |m| &m.server_name),
        server_aliases: host.server_aliases.clone(),
        document_root: host
            .document_root
            .clone()
            .or_else(|| main.map(|m| m.document_root.clone()))
            .unwrap_or_else(|| default_root.to_path_buf()),
        dir: match main {
            Some(m) => m.dir.merged(&host.dir),
            None => host.dir.clone(),
        },
        aliases: chain(&host.aliases, main.map_or(&[][..], |m| &m.aliases)),
        redirects: chain(&host.redirects, main.map_or(&[][..], |m| &m.redirects)),
        sections: chain(main.map_or(&[][..], |m| &m.sections), &host.sections),
        custom_logs: if custom_logs.is_empty() {
            main.map(|m| m.custom_logs.clone()).unwrap_or_default()
        } else {
            custom_logs
        },
        server_admin: inherit(&host.server_admin, |m| &m.server_admin),
        // Merged by the caller (`proxy::merged`): it needs the main
        // server's settings as written.
        proxy: Default::default(),
        rewrite: host.rewrite.clone(),
        origin: host.origin.clone(),
    })
}

/// A virtual host's mod_ssl settings, each unset one the main server's.
fn merge_ssl(own: &SslSettings, main: &SslSettings) -> SslSettings {
    let (cert_file, cert_origin) = match &own.cert_file {
        Some(_) => (own.cert_file.clone(), own.cert_origin.clone()),
        None => (main.cert_file.clone(), main.cert_origin.clone()),
    };
    SslSettings {
        engine: own.engine.or(main.engine),
        cert_file,
        key_file: own.key_file.clone().or_else(|| main.key_file.clone()),
        cert_origin,
        protocols: own.protocols.clone().or_else(|| main.protocols.clone()),
        cipher_suites: own
            .cipher_suites
            .clone()
            .or_else(|| main.cipher_suites.clone()),
        honor_cipher_order: own.honor_cipher_order.or(main.honor_cipher_order),
    }
}

/// `first`, then `then`.
fn chain<T: Clone>(first: &[T], then: &[T]) -> Vec<T> {
    first.iter().chain(then).cloned().collect()
}
