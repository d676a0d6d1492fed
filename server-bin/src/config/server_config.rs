//! The typed result of reading an Apache-style configuration.
//!
//! `config::load` fills these from the file. What the site's handlers
//! serve is [`SiteConfig`], the handlers' own configuration (from
//! `mpm_site`, re-exported here with its parts); the rest is what only the
//! binary reads: listening addresses, the strategy and its directives,
//! protocol limits, files of its own, logging, and mod_ssl.

use std::path::PathBuf;
use std::time::Duration;

use mpm::rustls::CipherSuite;
use mpm::strategy::ListenAddr;
use mpm::tls::TlsVersion;
use mpm::{MpmConfig, ProtocolConfig};

pub use mpm_site::config::*;

/// mod_ssl settings of a server (`None` = not set here; a virtual host
/// takes what it does not set from the main server, as mod_ssl merges).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SslSettings {
    /// `SSLEngine on|off`.
    pub engine: Option<bool>,
    /// `SSLCertificateFile` (absolute): the leaf, then its chain, PEM.
    pub cert_file: Option<PathBuf>,
    /// `SSLCertificateKeyFile` (absolute); without it the key is looked
    /// for in the certificate file.
    pub key_file: Option<PathBuf>,
    /// Where `SSLCertificateFile` was written, for messages.
    pub cert_origin: Option<Origin>,
    /// `SSLProtocol`.
    pub protocols: Option<Vec<TlsVersion>>,
    /// `SSLCipherSuite`, the plain and `TLSv1.3` forms together.
    pub cipher_suites: Option<Vec<CipherSuite>>,
    /// `SSLHonorCipherOrder`.
    pub honor_cipher_order: Option<bool>,
}

impl SslSettings {
    /// True when `SSLEngine on`.
    pub fn enabled(&self) -> bool {
        self.engine == Some(true)
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// `Listen` lines, in order.
    pub listens: Vec<ListenAddr>,
    /// Strategy chosen by `LoadModule mpm_<name>_module …`, if any.
    pub mpm_name: Option<String>,
    /// MPM directives (raw: each strategy clamps them).
    pub mpm: MpmConfig,
    /// Protocol limits and timeouts.
    pub protocol: ProtocolConfig,
    /// `PidFile` (relative to `ServerRoot`); default `logs/mpmd.pid`.
    pub pid_file: PathBuf,
    /// `ServerRoot`; default the directory of the main config file.
    pub server_root: PathBuf,
    /// `ErrorLog`: `None` means stderr.
    pub error_log: Option<PathBuf>,
    /// `LogLevel` (Apache's names: emerg alert crit error warn notice info
    /// debug trace1-8), the global level.
    pub log_level: log::LevelFilter,
    /// What the site serves: the main server and the `<VirtualHost>`
    /// blocks (merged with it), `AddType`, `MMapFile` and `CacheFile`.
    pub site: SiteConfig,
    /// The mod_ssl settings of each host, numbered as
    /// [`SiteConfig::hosts`] numbers them (`ssl[0]` is the main server's,
    /// `ssl[i + 1]` that of `site.vhosts[i]`), each merged with the main
    /// server's.
    pub ssl: Vec<SslSettings>,
    /// Warnings (`file:line: …`) to print at startup and under `-t`.
    pub warnings: Vec<String>,
    /// `SSLSessionTickets` (on by default).
    pub ssl_session_tickets: bool,
    /// `SSLSessionCache`: `none` turns the per-process cache off.
    pub ssl_session_cache: bool,
    /// mod_remoteip's PROXY protocol settings (its header half is
    /// `site.remote_ip`).
    pub proxy_protocol: ProxyProtocolSettings,
    /// What reading a `.htaccess` file needs of this configuration (the
    /// site's `.htaccess` parser: [`HtaccessContext::parser`](crate::config::HtaccessContext::parser)).
    pub htaccess: crate::config::HtaccessContext,
}

/// `RemoteIPProxyProtocol` and what goes with it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxyProtocolSettings {
    /// `RemoteIPProxyProtocol` of each host, numbered as
    /// [`ServerConfig::ssl`] (`None`: not set there).
    pub enabled: Vec<Option<bool>>,
    /// `RemoteIPProxyProtocolExceptions`.
    pub exceptions: Vec<IpNet>,
    /// `RemoteIPProxyProtocolTimeout`.
    pub timeout: Duration,
}
