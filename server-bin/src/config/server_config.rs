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
use mpm::strategy::net::accept_filter::AcceptFilters;
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

/// One protocol `Protocols` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppProtocol {
    /// `h2`: HTTP/2 over TLS, chosen by ALPN.
    H2,
    /// `h2c`: HTTP/2 in clear (prior knowledge, `Upgrade: h2c`).
    H2c,
    /// `http/1.1`: HTTP/1.x.
    Http11,
}

impl AppProtocol {
    /// The protocol `Protocols` names `word` (without regard to case).
    pub fn from_name(word: &str) -> Option<AppProtocol> {
        match word.to_ascii_lowercase().as_str() {
            "h2" => Some(AppProtocol::H2),
            "h2c" => Some(AppProtocol::H2c),
            "http/1.1" => Some(AppProtocol::Http11),
            _ => None,
        }
    }
}

/// The protocol settings of a server (`None` = not set here; a virtual
/// host takes what it does not set from the main server).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProtocolSettings {
    /// `Protocols`, in the order written; unset is `http/1.1` alone.
    pub protocols: Option<Vec<AppProtocol>>,
    /// `ProtocolsHonorOrder` (on by default).
    pub honor_order: Option<bool>,
    /// `H2Direct`.
    pub h2_direct: Option<bool>,
    /// `H2Upgrade`.
    pub h2_upgrade: Option<bool>,
}

impl ProtocolSettings {
    /// The protocols in force: as written, or `http/1.1` alone.
    pub fn effective(&self) -> Vec<AppProtocol> {
        self.protocols
            .clone()
            .unwrap_or_else(|| vec![AppProtocol::Http11])
    }

    /// Each setting not set here taken from `main`.
    pub fn or(&self, main: &ProtocolSettings) -> ProtocolSettings {
        ProtocolSettings {
            protocols: self.protocols.clone().or_else(|| main.protocols.clone()),
            honor_order: self.honor_order.or(main.honor_order),
            h2_direct: self.h2_direct.or(main.h2_direct),
            h2_upgrade: self.h2_upgrade.or(main.h2_upgrade),
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// `Listen` lines, in order.
    pub listens: Vec<ListenAddr>,
    /// `AcceptFilter`: which protocols' sockets accept a connection only
    /// once it has sent data (Apache's default on Linux: `http` and
    /// `https`).
    pub accept_filters: AcceptFilters,
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
    /// The protocol settings of each host (`Protocols`, `H2Direct`, …),
    /// numbered as [`ServerConfig::ssl`], each merged with the main
    /// server's.
    pub protocols: Vec<ProtocolSettings>,
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
