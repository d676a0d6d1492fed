//! The handlers' configuration, typed: what a [`Site`](crate::Site)
//! serves and how.
//!
//! Each type is named for the Apache httpd directive or section it stands
//! for, so an operator's reading of a configuration carries over: `mpmd`'s
//! loader fills these from Apache's syntax (merging virtual hosts with the
//! main server as Apache does), and an embedding program fills them in
//! code. The handlers read nothing else.
//!
//! ```
//! use mpm_site::pipeline::{DirConfig, HandlerName, Section, SectionKind};
//! use mpm_site::{CustomLog, Require, SiteConfig, VirtualHost};
//!
//! let mut main = VirtualHost::new("/srv/www");
//! main.sections.push(Section::new(SectionKind::Location("/server-status".into())).with(
//!     DirConfig {
//!         handler: Some(HandlerName::ServerStatus),
//!         require: Some(Require::Local),
//!         ..DirConfig::default()
//!     },
//! ));
//! main.custom_logs.push(CustomLog::combined("/var/log/www/access_log"));
//! let config = SiteConfig::new(main);
//! assert_eq!(config.hosts().count(), 1);
//! ```

use std::net::IpAddr;
use std::path::PathBuf;

use crate::pipeline::{DirConfig, Section};

/// Where a setting was written, for messages (`file:line`). A setting
/// made in code has the default origin (no file, line 0), shown as
/// `(configured in code)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// The configuration file (or `-C`, `-c` for `mpmd`'s command line).
    pub file: PathBuf,
    /// The line, from 1.
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if *self == Origin::default() {
            return f.write_str("(configured in code)");
        }
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// `Require …` (mod_authz_core, mod_authz_host, mod_authz_user,
/// mod_authz_groupfile) and the containers that combine them; how a
/// request is judged by one is [`crate::require`]'s.
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
    /// `Require valid-user`: any user the authentication let in.
    ValidUser,
    /// `Require user alice bob …`.
    User(Vec<String>),
    /// `Require group admins …`: a member of one of them in the
    /// `AuthGroupFile`.
    Group(Vec<String>),
    /// `Require method GET POST …` (mod_authz_core): the request's
    /// method is one of them. Names are Apache's, in capitals; `HEAD` is
    /// `GET` on both sides, as Apache counts it.
    Method(Vec<http::Method>),
    /// `Require env VAR …` (mod_authz_host): one of these variables is
    /// set in the request's environment when access is checked (by
    /// `SetEnvIf` or a server-context `RewriteRule [E=]`; `SetEnv` runs
    /// later, as in Apache).
    Env(Vec<String>),
    /// `Require expr "…"` (mod_authz_core): the expression holds.
    Expr(RequireExpr),
    /// `Require not …`: never grants, only refuses what its rule grants
    /// (so it belongs in a `<RequireAll>`, as Apache insists).
    Not(Box<Require>),
    /// `<RequireAny>`; several `Require` lines in one block mean any of
    /// them, Apache's default.
    Any(Vec<Require>),
    /// `<RequireAll>`: none refuses and at least one grants.
    All(Vec<Require>),
    /// `<RequireNone>`: none grants (it never grants by itself either).
    NoneOf(Vec<Require>),
    /// A rule written inside `<Limit>` or `<LimitExcept>`: it judges only
    /// the methods the section lets through. For another method it has
    /// no say: inside a `<RequireAll>` (or at the top) it lets the
    /// request in, inside a `<RequireAny>` it is left out (Apache's
    /// `limited` method mask, `AUTHZ_GRANTED` under an AND and
    /// `AUTHZ_NEUTRAL` under an OR).
    Limited(crate::require::MethodLimit, Box<Require>),
}

pub use mpm_core::net::ipnet::IpNet;

/// The expression of a `Require expr` line, compiled when the
/// configuration is read.
#[derive(Debug, Clone)]
pub struct RequireExpr {
    /// The compiled expression.
    pub expr: std::sync::Arc<crate::expr::Expr>,
    /// Whether it reads `%{REMOTE_USER}`: then a false answer before
    /// anyone authenticated asks for a user (Apache's
    /// `AUTHZ_DENIED_NO_USER`), so that the expression is judged again
    /// with the user.
    pub wants_user: bool,
}

impl RequireExpr {
    /// Compile `text` (a `Require expr` line's expression).
    pub fn parse(text: &str) -> Result<RequireExpr, crate::expr::ExprError> {
        let expr = crate::expr::Expr::parse(text)?;
        let wants_user = expr.reads_var("REMOTE_USER");
        Ok(RequireExpr {
            expr: std::sync::Arc::new(expr),
            wants_user,
        })
    }
}

impl PartialEq for RequireExpr {
    fn eq(&self, other: &RequireExpr) -> bool {
        self.expr.source() == other.expr.source()
    }
}

impl Eq for RequireExpr {}

/// `Options` in force for a directory. The default, in force where no
/// `<Directory>` block sets any, is Apache 2.4's: `FollowSymLinks` alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// `FollowSymLinks`: symlinks may lead outside the document root.
    pub follow_symlinks: bool,
    /// `Indexes`: a directory without its index file gets a listing.
    pub indexes: bool,
    /// `ExecCGI`: files whose handler is `cgi-script` (or `fcgid-script`)
    /// may run as programs (mod_cgi answers 403 without it, except below
    /// a `ScriptAlias`).
    pub exec_cgi: bool,
}

/// `Options` as one section writes it. As in Apache, it is applied
/// when a request is served, on top of what the sections applied before
/// it left (see [`crate::pipeline`]'s merge order), so a relative setting
/// in a virtual host changes the main server's setting for the same
/// directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionsSetting {
    /// `Options Indexes FollowSymLinks`, `Options None`, `Options All`:
    /// exactly these, whatever came before.
    Set(Options),
    /// `Options +Indexes -FollowSymLinks`: the options marked in `add`
    /// turned on and those marked in `remove` turned off, the others as
    /// before.
    Change {
        /// The options turned on (`+Indexes`).
        add: Options,
        /// The options turned off (`-FollowSymLinks`).
        remove: Options,
    },
}

impl Options {
    /// `Options None`.
    pub const NONE: Options = Options {
        follow_symlinks: false,
        indexes: false,
        exec_cgi: false,
    };
    /// `Options All` (of the options mpmd has).
    pub const ALL: Options = Options {
        follow_symlinks: true,
        indexes: true,
        exec_cgi: true,
    };
    /// What Apache 2.4 has in force for a directory no `Options` line
    /// names: `FollowSymLinks`, no `Indexes` (its server default).
    pub const DEFAULT: Options = Options {
        follow_symlinks: true,
        indexes: false,
        exec_cgi: false,
    };

    /// Each option on where `self` has it and `other` has not.
    pub fn without(self, other: Options) -> Options {
        Options {
            follow_symlinks: self.follow_symlinks && !other.follow_symlinks,
            indexes: self.indexes && !other.indexes,
            exec_cgi: self.exec_cgi && !other.exec_cgi,
        }
    }

    /// Each option on where `self` or `other` has it.
    pub fn with(self, other: Options) -> Options {
        Options {
            follow_symlinks: self.follow_symlinks || other.follow_symlinks,
            indexes: self.indexes || other.indexes,
            exec_cgi: self.exec_cgi || other.exec_cgi,
        }
    }
}

impl Default for Options {
    /// [`Options::DEFAULT`]: `FollowSymLinks`, as Apache 2.4.
    fn default() -> Options {
        Options::DEFAULT
    }
}

impl OptionsSetting {
    /// Whether applying this setting can turn `FollowSymLinks` off
    /// (`Options None`, `Options Indexes`, `Options -FollowSymLinks`).
    pub fn may_refuse_symlinks(self) -> bool {
        match self {
            OptionsSetting::Set(options) => !options.follow_symlinks,
            OptionsSetting::Change { add, remove } => {
                remove.follow_symlinks && !add.follow_symlinks
            }
        }
    }

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

/// `Alias url-path file-or-directory`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasRule {
    /// The URL path prefix (`/icons`).
    pub url: String,
    /// The file or directory it maps to (absolute).
    pub path: PathBuf,
    /// `ScriptAlias`: what it maps to are CGI scripts (the handler is
    /// `cgi-script`, and `Options ExecCGI` is not needed there).
    pub script: bool,
}

/// `Redirect [status] url-path URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectRule {
    /// 301, 302 (default, `temp`), 303 (`seeother`), 410 (`gone`, no URL), …
    pub status: u16,
    /// The URL path prefix redirected (`/old`).
    pub from: String,
    /// Where to (`https://example.com/new`), the rest of the path
    /// appended. Absent for `gone`.
    pub to: Option<String>,
}

/// `CustomLog file format-or-nickname`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomLog {
    /// The log file (opened for appending, created if missing).
    pub path: PathBuf,
    /// The format string, in mod_log_config's language
    /// ([`crate::access_log`]), nicknames (`common`, `combined`,
    /// `LogFormat … name`) already resolved.
    pub format: String,
}

impl CustomLog {
    /// The Common Log Format (Apache's `common` nickname).
    pub const COMMON: &'static str = "%h %l %u %t \"%r\" %>s %b";
    /// The Combined Log Format (Apache's `combined` nickname): common,
    /// then the `Referer` and `User-Agent` request headers.
    pub const COMBINED: &'static str =
        "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"";

    /// Lines in `format` to the file at `path`.
    pub fn new(path: impl Into<PathBuf>, format: impl Into<String>) -> CustomLog {
        CustomLog {
            path: path.into(),
            format: format.into(),
        }
    }

    /// The Combined Log Format ([`CustomLog::COMBINED`]) to the file at
    /// `path`.
    pub fn combined(path: impl Into<PathBuf>) -> CustomLog {
        CustomLog::new(path, CustomLog::COMBINED)
    }
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
    /// How it is kept.
    pub kind: FileCacheKind,
    /// Where it was named.
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
    /// This host's `Alias` rules, then the main server's: the first
    /// match wins.
    pub aliases: Vec<AliasRule>,
    /// This host's `Redirect` rules, then the main server's: the first
    /// match wins.
    pub redirects: Vec<RedirectRule>,
    /// The per-directory settings written outside any section (Apache's
    /// `lookup_defaults`): for a virtual host, the main server's with its
    /// own laid on. `DirectoryIndex` is `index.html` in a new host.
    pub dir: DirConfig,
    /// The main server's sections, then this host's, each in file order:
    /// merged in Apache's order ([`crate::pipeline`]), so a virtual host's
    /// section wins over the main server's for the same directory or path.
    pub sections: Vec<Section>,
    /// `CustomLog` lines of this host (the main server's apply to hosts that
    /// have none, as in Apache).
    pub custom_logs: Vec<CustomLog>,
    /// mod_proxy: `ProxyPass` rules and the proxy's settings
    /// ([`crate::proxy`]).
    pub proxy: crate::proxy::ProxyConfig,
    /// `ServerAdmin`, kept as configured: the error pages do not show it
    /// (as Apache's without `ServerSignature EMail`).
    pub server_admin: Option<String>,
    /// mod_rewrite in server context (`RewriteEngine`, `RewriteRule`, …
    /// outside any section; a virtual host's merged with the main
    /// server's as Apache merges them), with the `RewriteMap`s.
    pub rewrite: crate::rewrite::RewriteConfig,
    /// Where `<VirtualHost>` (or, for the main server, the file) starts.
    pub origin: Origin,
}

impl VirtualHost {
    /// A host serving `document_root` with `DirectoryIndex index.html`
    /// (Apache's default) and nothing else set: no address of its own (so it is the main
    /// server, or a host the router never selects), no name, no rules.
    pub fn new(document_root: impl Into<PathBuf>) -> VirtualHost {
        VirtualHost {
            addrs: Vec::new(),
            server_name: None,
            server_aliases: Vec::new(),
            document_root: document_root.into(),
            aliases: Vec::new(),
            redirects: Vec::new(),
            dir: DirConfig::default(),
            sections: Vec::new(),
            custom_logs: Vec::new(),
            proxy: crate::proxy::ProxyConfig::default(),
            server_admin: None,
            rewrite: crate::rewrite::RewriteConfig::server(),
            origin: Origin::default(),
        }
    }
}

/// What a [`Site`](crate::Site) serves: the main server, the virtual hosts
/// and the settings they share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteConfig {
    /// The main server (directives outside any `<VirtualHost>`): it serves
    /// requests no virtual host's address matches.
    pub main: VirtualHost,
    /// `<VirtualHost>` blocks, in order, each already merged with the
    /// main server: a setting a block does not make takes the main
    /// server's value, and the main server's `<Directory>`, `<Location>`,
    /// `Alias` and `Redirect` rules apply to every host. As in Apache, the
    /// host's own `<Directory>` and `<Location>` blocks come after the
    /// main server's, so they win; its `Alias` and `Redirect` rules come
    /// before the main server's, so they are tried first.
    pub vhosts: Vec<VirtualHost>,
    /// `AddType type ext…`: `(extension, media type)` pairs, the extension
    /// lower-case without its dot; a later pair for the same extension
    /// wins. Checked before the built-in type table.
    pub add_types: Vec<(String, String)>,
    /// `MMapFile` and `CacheFile` files, in order, each path once.
    pub cached_files: Vec<CachedFile>,
    /// mod_remoteip: the header that names the client, and the proxies
    /// trusted to write it.
    pub remote_ip: RemoteIpConfig,
    /// mod_cgi's settings (`CGIScriptTimeout`).
    pub cgi: crate::cgi_script::CgiConfig,
    /// mod_fcgid's process pool, one for the whole server.
    pub fcgid: crate::fcgid::FcgidConfig,
    /// `AccessFileName`: the name of the files read per directory where
    /// `AllowOverride` allows (`.htaccess`).
    pub access_file_name: String,
    /// `LimitInternalRecursion`: how many internal redirects one request
    /// may go through (10).
    pub limit_internal_recursion: u32,
    /// `TraceEnable`: how a `TRACE` request is answered.
    pub trace_enable: TraceEnable,
    /// What the server calls itself in `ServerSignature` lines (the
    /// `Server` header's value, as `ServerTokens` makes it).
    pub server_software: String,
}

/// `TraceEnable`: whether the server answers `TRACE` itself (echoing the
/// request, RFC 9110 §9.3.8), as Apache does by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceEnable {
    /// `On` (Apache's default): echoed; a request with a body is refused
    /// with 413.
    On,
    /// `Off`: 405.
    Off,
    /// `extended`: echoed, a body too.
    Extended,
}

/// mod_remoteip's settings (see [`crate::remote_ip`] for the walk).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemoteIpConfig {
    /// `RemoteIPHeader` (`X-Forwarded-For`): none, no header is read.
    pub header: Option<http::HeaderName>,
    /// `RemoteIPTrustedProxy`: proxies trusted to name the client, not
    /// with a private address.
    pub trusted: Vec<IpNet>,
    /// `RemoteIPInternalProxy`: proxies trusted to name any client.
    pub internal: Vec<IpNet>,
}

impl RemoteIpConfig {
    /// Every trusted proxy, internal or not: the senders whose PROXY
    /// protocol headers are believed (empty: anyone).
    pub fn proxies(&self) -> Vec<IpNet> {
        self.trusted.iter().chain(&self.internal).copied().collect()
    }
}

impl SiteConfig {
    /// A site of `main` alone.
    pub fn new(main: VirtualHost) -> SiteConfig {
        SiteConfig {
            main,
            vhosts: Vec::new(),
            add_types: Vec::new(),
            cached_files: Vec::new(),
            remote_ip: RemoteIpConfig::default(),
            cgi: crate::cgi_script::CgiConfig::default(),
            fcgid: crate::fcgid::FcgidConfig::default(),
            access_file_name: ".htaccess".to_string(),
            limit_internal_recursion: crate::pipeline::phases::DEFAULT_RECURSION_LIMIT,
            trace_enable: TraceEnable::On,
            server_software: "mpmd".to_string(),
        }
    }

    /// Every host as the [`Router`](crate::router::Router) numbers them:
    /// the main server ([`MAIN_SERVER`](crate::router::MAIN_SERVER)), then
    /// `vhosts[i]` as `i + 1`.
    pub fn hosts(&self) -> impl Iterator<Item = &VirtualHost> {
        std::iter::once(&self.main).chain(&self.vhosts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_names_its_file_and_line_or_says_it_was_set_in_code() {
        let written = Origin {
            file: "/etc/mpmd/httpd.conf".into(),
            line: 12,
        };
        assert_eq!(written.to_string(), "/etc/mpmd/httpd.conf:12");
        assert_eq!(Origin::default().to_string(), "(configured in code)");
    }

    #[test]
    fn a_new_host_serves_its_root_with_index_html_and_nothing_else() {
        let host = VirtualHost::new("/srv/www");
        assert_eq!(host.document_root, std::path::Path::new("/srv/www"));
        assert_eq!(host.dir.directory_index(), ["index.html"]);
        assert!(host.addrs.is_empty() && host.sections.is_empty() && host.custom_logs.is_empty());
        let site = SiteConfig::new(host.clone());
        assert_eq!(site.hosts().collect::<Vec<_>>(), [&host]);
    }
}
