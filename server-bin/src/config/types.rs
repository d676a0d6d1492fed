//! The typed result of reading an Apache-style configuration.
//!
//! `config::load` fills these from the file; everything else in `mpmd`
//! (router, static files, status page, logs, the strategy) reads only these.

use std::net::IpAddr;
use std::path::PathBuf;

use mpm::{ListenAddr, MpmConfig, ProtocolConfig};

/// Where a directive was written, for messages (`file:line`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// `Require …` (mod_authz_core / mod_authz_host), the forms we support.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Require {
    /// `Require all granted`.
    AllGranted,
    /// `Require all denied`.
    AllDenied,
    /// `Require local`: loopback clients, or a client whose address is the
    /// connection's local address.
    Local,
    /// `Require ip 10.1 192.168.0.0/16 ::1 …`: each entry a network.
    Ip(Vec<IpNet>),
    /// `Require not ip …` is not supported; several `Require` lines in one
    /// block mean any of them (`<RequireAny>`, Apache's default).
    Any(Vec<Require>),
}

/// An address with a prefix length (`192.168.0.0/16`, `10.1` = `10.1.0.0/16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

/// `Options` in force for a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// `FollowSymLinks`: symlinks may lead outside the document root.
    pub follow_symlinks: bool,
    /// `Indexes`: a directory without its index file gets a listing.
    pub indexes: bool,
}

/// `Options` as one `<Directory>` writes it. As in Apache, it is applied
/// when a request is served, on top of what the sections applied before
/// it left (see [`DirectoryBlock`]), so a relative setting in a virtual
/// host changes the main server's setting for the same directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionsSetting {
    /// `Options Indexes FollowSymLinks`, `Options None`, `Options All`:
    /// exactly these, whatever came before.
    Set(Options),
    /// `Options +Indexes -FollowSymLinks`: the options marked in `add`
    /// turned on and those marked in `remove` turned off, the others as
    /// before.
    Change { add: Options, remove: Options },
}

impl Options {
    /// `Options None`.
    pub const NONE: Options = Options {
        follow_symlinks: false,
        indexes: false,
    };
    /// `Options All` (of the options mpmd has).
    pub const ALL: Options = Options {
        follow_symlinks: true,
        indexes: true,
    };

    /// Each option on where `self` has it and `other` has not.
    pub fn without(self, other: Options) -> Options {
        Options {
            follow_symlinks: self.follow_symlinks && !other.follow_symlinks,
            indexes: self.indexes && !other.indexes,
        }
    }

    /// Each option on where `self` or `other` has it.
    pub fn with(self, other: Options) -> Options {
        Options {
            follow_symlinks: self.follow_symlinks || other.follow_symlinks,
            indexes: self.indexes || other.indexes,
        }
    }
}

impl OptionsSetting {
    /// The options in force after this setting is applied to `before`.
    pub fn apply(self, before: Options) -> Options {
        match self {
            OptionsSetting::Set(options) => options,
            OptionsSetting::Change { add, remove } => before.without(remove).with(add),
        }
    }

    /// This setting followed by `next` in the same block (a second
    /// `Options` line), as one setting: an absolute `next` replaces it, a
    /// relative one changes it.
    pub fn then(self, next: OptionsSetting) -> OptionsSetting {
        match (self, next) {
            (_, OptionsSetting::Set(_)) => next,
            (OptionsSetting::Set(options), change) => OptionsSetting::Set(change.apply(options)),
            (
                OptionsSetting::Change { add, remove },
                OptionsSetting::Change {
                    add: add_next,
                    remove: remove_next,
                },
            ) => OptionsSetting::Change {
                add: add.without(remove_next).with(add_next),
                remove: remove.without(add_next).with(remove_next),
            },
        }
    }
}

/// `<Directory path>` … `</Directory>`.
///
/// For a request, every block whose path holds the directory served
/// applies, as Apache's `<Directory>` sections do: fewest path components
/// first and, among blocks of the same path length, in the order of
/// [`VirtualHost::directories`] (the main server's before a virtual
/// host's own, each in file order), each setting a block makes replacing
/// (or, for a relative `Options`, changing) the one before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryBlock {
    /// The directory (absolute, without trailing slash except for `/`).
    pub path: PathBuf,
    /// `Options`, when set in this block (none at all before the first
    /// block that sets them).
    pub options: Option<OptionsSetting>,
    /// `Require`, when set in this block.
    pub require: Option<Require>,
    /// `DirectoryIndex`, when set in this block (empty for `disabled`);
    /// before the first block that sets it, the host's.
    pub index: Option<Vec<String>>,
    pub origin: Origin,
}

/// `<Location url-path>` … `</Location>`. For a request, every block
/// whose path is a segment prefix of the URL path applies, in the order
/// of [`VirtualHost::locations`] (the main server's before a virtual
/// host's own, each in file order, whatever their lengths, as Apache
/// applies `<Location>` sections), a later block's setting replacing an
/// earlier one's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationBlock {
    /// URL path prefix (`/server-status`).
    pub path: String,
    /// `SetHandler` (`server-status`, or `none`: no handler, so files are
    /// served, undoing an earlier block's), if any.
    pub handler: Option<String>,
    /// `Require`, if any.
    pub require: Option<Require>,
    pub origin: Origin,
}

/// `Alias url-path file-or-directory`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasRule {
    pub url: String,
    pub path: PathBuf,
}

/// `Redirect [status] url-path URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectRule {
    /// 301, 302 (default, `temp`), 303 (`seeother`), 410 (`gone`, no URL), …
    pub status: u16,
    pub from: String,
    /// Absent for `gone`.
    pub to: Option<String>,
}

/// `CustomLog file format-or-nickname`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomLog {
    pub path: PathBuf,
    /// The format string, nicknames (`common`, `combined`, `LogFormat …
    /// name`) already resolved.
    pub format: String,
}

/// How mod_file_cache keeps a file it loads at startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileCacheKind {
    /// `MMapFile`: the contents, held in memory.
    Contents,
    /// `CacheFile`: an open descriptor the responses are sent from.
    Descriptor,
}

impl FileCacheKind {
    /// The directive that asks for this kind (`MMapFile`, `CacheFile`).
    pub fn directive(self) -> &'static str {
        match self {
            FileCacheKind::Contents => "MMapFile",
            FileCacheKind::Descriptor => "CacheFile",
        }
    }
}

/// One file named by `MMapFile` or `CacheFile` (mod_file_cache), loaded
/// at startup and at each restart; the configuration holds only files that
/// were regular files when it was read. As Apache documents, the file is
/// not checked again while the server runs: a changed file is served as it
/// was loaded until a restart (graceful or not) loads it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedFile {
    /// The file (absolute, lexically normalised: what a request maps to).
    pub path: PathBuf,
    pub kind: FileCacheKind,
    pub origin: Origin,
}

/// The address part of `<VirtualHost addr:port …>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VhostAddr {
    /// `None` for `*` / `_default_`.
    pub ip: Option<IpAddr>,
    /// `None` for `*` (any port).
    pub port: Option<u16>,
}

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
    pub protocols: Option<Vec<mpm::net::tls::TlsVersion>>,
    /// `SSLCipherSuite` (IANA names), the plain and `TLSv1.3` forms
    /// together.
    pub cipher_suites: Option<Vec<&'static str>>,
    /// `SSLHonorCipherOrder`.
    pub honor_cipher_order: Option<bool>,
}

impl SslSettings {
    /// True when `SSLEngine on`.
    pub fn enabled(&self) -> bool {
        self.engine == Some(true)
    }
}

/// One (virtual) server: the main server is one of these too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualHost {
    /// Addresses from `<VirtualHost …>` (empty for the main server).
    pub addrs: Vec<VhostAddr>,
    /// `ServerName` (without scheme or port).
    pub server_name: Option<String>,
    /// `ServerAlias` names, wildcards (`*.example.com`) allowed.
    pub server_aliases: Vec<String>,
    /// `DocumentRoot` (absolute).
    pub document_root: PathBuf,
    /// `DirectoryIndex` at server level (default `index.html`); a
    /// `<Directory>` block's replaces it.
    pub directory_index: Vec<String>,
    /// This host's `Alias` rules, then the main server's: the first
    /// match wins.
    pub aliases: Vec<AliasRule>,
    /// This host's `Redirect` rules, then the main server's: the first
    /// match wins.
    pub redirects: Vec<RedirectRule>,
    /// The main server's `<Directory>` blocks, then this host's, each in
    /// file order: applied in that order among blocks of one path length,
    /// so a virtual host's block wins over the main server's for the same
    /// directory ([`DirectoryBlock`]).
    pub directories: Vec<DirectoryBlock>,
    /// The main server's `<Location>` blocks, then this host's, each in
    /// file order: applied in that order, so a virtual host's block wins
    /// over the main server's ([`LocationBlock`]).
    pub locations: Vec<LocationBlock>,
    /// `CustomLog` lines of this host (the main server's apply to hosts that
    /// have none, as in Apache).
    pub custom_logs: Vec<CustomLog>,
    /// `ServerAdmin`, shown on error pages if set.
    pub server_admin: Option<String>,
    /// mod_ssl settings, merged with the main server's.
    pub ssl: SslSettings,
    /// Where `<VirtualHost>` (or, for the main server, the file) starts.
    pub origin: Origin,
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
    /// The main server (directives outside any `<VirtualHost>`).
    pub main_server: VirtualHost,
    /// `<VirtualHost>` blocks, in order, already merged with the main
    /// server: a setting a block does not make takes the main server's
    /// value, and the main server's `<Directory>`, `<Location>`, `Alias`
    /// and `Redirect` rules apply to every host. As in Apache, the host's
    /// own `<Directory>` and `<Location>` blocks are applied after the
    /// main server's, so they win; its `Alias` and `Redirect` rules are
    /// tried before the main server's.
    pub vhosts: Vec<VirtualHost>,
    /// Warnings (`file:line: …`) to print at startup and under `-t`.
    pub warnings: Vec<String>,
    /// `AddType type ext…`: `(extension, media type)` pairs, the extension
    /// lower-case without its dot; a later line for the same extension
    /// replaces an earlier one. Checked before the built-in type table.
    pub add_types: Vec<(String, String)>,
    /// `SSLSessionTickets` (on by default).
    pub ssl_session_tickets: bool,
    /// `SSLSessionCache`: `none` turns the per-process cache off.
    pub ssl_session_cache: bool,
    /// `MMapFile` and `CacheFile` files, in order, each path once.
    pub cached_files: Vec<CachedFile>,
}
