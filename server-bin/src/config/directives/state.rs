//! The loader's state, which the directive families fill: the settings
//! read so far ([`State`]), each server's ([`Host`]), and the one
//! directive being applied ([`Directive`]) with where it was written
//! ([`Scope`]) and where it may be ([`Allowed`]). The walker (`mod.rs`)
//! owns a `State` and hands it to the families; nothing here knows the
//! walker or a family.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use mpm::strategy::net::accept_filter::AcceptFilters;
use mpm::strategy::ListenAddr;
use mpm::{MpmConfig, ProtocolConfig};
use mpm_site::config::{
    AliasRule, CachedFile, CustomLog, IpNet, Origin, RedirectRule, RemoteIpConfig, VhostAddr,
};
use mpm_site::pipeline::{DirConfig, Section, SectionKind};

use mpm_site::proxy::{BalancerConfig, FcgiBackendType, ProxyPass, ProxyPassReverse, ProxyVia};

use crate::config::error::ConfigError;
use crate::config::options::LoadOptions;
use crate::config::server_config::{ProtocolSettings, SslSettings};
use crate::config::values::Res;

/// Applies a directive that takes one value for the whole server: the
/// state, the directive's name as written (for messages) and its one
/// argument. The families list theirs in tables of `(name, Setter)`.
pub(super) type Setter = fn(&mut State<'_>, &str, &str) -> Res<()>;

/// What most setters do: put the value read into its setting, or say
/// why it could not be read.
pub(super) fn set<T>(setting: &mut T, value: Res<T>) -> Res<()> {
    *setting = value?;
    Ok(())
}

/// A log line's format as written, resolved once every `LogFormat` is known.
#[derive(Debug, Clone)]
pub(super) enum LogFmt {
    /// `CustomLog file fmt-or-nickname`.
    Given(String),
    /// `TransferLog file`: the last `LogFormat` without nickname, or common.
    Default,
}

impl LogFmt {
    /// The format string: a nickname from `formats` (`LogFormat … name`,
    /// `common`, `combined`), a format as written, or `default_format`
    /// (the last `LogFormat` without nickname). An unknown nickname is an
    /// error at `origin`, the `CustomLog` line.
    pub(super) fn resolve(
        &self,
        formats: &HashMap<String, String>,
        default_format: &str,
        origin: &Origin,
    ) -> Result<String, ConfigError> {
        match self {
            LogFmt::Default => Ok(default_format.to_string()),
            LogFmt::Given(f) => match formats.get(f) {
                Some(f) => Ok(f.clone()),
                None if f.contains('%') => Ok(f.clone()),
                None => Err(ConfigError::at(
                    origin,
                    format!(
                        "CustomLog: unknown LogFormat nickname '{f}' (define it with LogFormat \"...\" {f}, or use common or combined)"
                    ),
                )),
            },
        }
    }
}

/// A server (main or virtual) while it is being read: `None` = not set here.
#[derive(Debug, Default)]
pub(super) struct Host {
    pub(super) addrs: Vec<VhostAddr>,
    pub(super) server_name: Option<String>,
    pub(super) server_aliases: Vec<String>,
    pub(super) document_root: Option<PathBuf>,
    pub(super) aliases: Vec<AliasRule>,
    pub(super) redirects: Vec<RedirectRule>,
    /// The per-directory settings written outside any section.
    pub(super) dir: DirConfig,
    /// Its sections, in file order (`<Files>` and `<If>` written inside
    /// another section are nested in that section's config).
    pub(super) sections: Vec<Section>,
    pub(super) custom_logs: Vec<(PathBuf, LogFmt, Origin)>,
    pub(super) server_admin: Option<String>,
    pub(super) ssl: SslSettings,
    /// `RemoteIPProxyProtocol`.
    pub(super) proxy_protocol: Option<bool>,
    /// mod_proxy's settings, as written here.
    pub(super) proxy: ProxyHost,
    /// `Protocols`, `ProtocolsHonorOrder`, `H2Direct`, `H2Upgrade`.
    pub(super) protocols: ProtocolSettings,
    /// mod_rewrite in server context, as written here (merged with the
    /// main server's by the site).
    pub(super) rewrite: mpm_site::rewrite::RewriteConfig,
    pub(super) origin: Origin,
}

/// mod_proxy's settings of one server while it is read (`None` = not set
/// here); merged with the main server's at the end of reading.
#[derive(Debug, Default)]
pub(super) struct ProxyHost {
    /// `ProxyPass` and `ProxyPassMatch` lines outside `<Location>`.
    pub(super) passes: Vec<ProxyPass>,
    /// The one-argument `ProxyPass` of `<Location>` blocks, in file order.
    pub(super) location_passes: Vec<ProxyPass>,
    pub(super) reverse: Vec<ProxyPassReverse>,
    pub(super) cookie_domains: Vec<(String, String)>,
    pub(super) cookie_paths: Vec<(String, String)>,
    pub(super) preserve_host: Option<bool>,
    pub(super) timeout: Option<Duration>,
    pub(super) add_headers: Option<bool>,
    pub(super) via: Option<ProxyVia>,
    /// `ProxyWebsocketIdleTimeout`.
    pub(super) tunnel_idle_timeout: Option<Duration>,
    /// `ProxyFCGIBackendType`.
    pub(super) fcgi_backend_type: Option<FcgiBackendType>,
    /// `<Proxy balancer://…>` groups (and those `BalancerMember
    /// balancer://… url` made outside one), in file order.
    pub(super) balancers: Vec<BalancerConfig>,
    /// `<Proxy url>` of a backend with its `ProxySet` parameters (and
    /// those of `ProxySet url …` outside one), in file order.
    pub(super) workers: Vec<mpm_site::proxy::WorkerConfig>,
    /// Balancer parameters written on a `ProxyPass` to it (`lbmethod=`,
    /// `stickysession=`): the balancer's name, the parameter and where,
    /// applied once every balancer is read.
    pub(super) balancer_params: Vec<(String, String, Origin)>,
}

/// Which server a directive applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HostSel {
    /// The main server.
    Main,
    /// `<VirtualHost>` number `i`, from 0.
    Vhost(usize),
}

/// The innermost block around a directive. A section's settings go to
/// the innermost section being read ([`State::dir_config`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Block {
    /// None: the server itself.
    None,
    /// `<Directory>` or `<DirectoryMatch>`.
    Directory,
    /// `<Location>` or `<LocationMatch>`.
    Location,
    /// `<Files>` or `<FilesMatch>`.
    Files,
    /// `<If>`, `<ElseIf>` or `<Else>`.
    If,
    /// A `.htaccess` file (outside any section in it).
    Htaccess,
    /// A `<Proxy …>` of the host.
    Proxy(ProxyBlock),
}

/// Which `<Proxy …>`: a balancer's or a worker's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ProxyBlock {
    /// `<Proxy balancer://…>` number `i` (in its proxy's `balancers`).
    Balancer(usize),
    /// `<Proxy "unix:/path|fcgi://host">` or `<Proxy fcgi://host:port>`
    /// number `i` (in its proxy's `workers`): the parameters of the
    /// worker `SetHandler "proxy:…"` uses.
    Worker(usize),
}

#[derive(Debug, Clone, Copy)]
/// Where a directive was written: which server, in which block.
pub(super) struct Scope {
    pub(super) host: HostSel,
    pub(super) block: Block,
}

/// Where a directive may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Allowed {
    /// Main server only.
    Global,
    /// Main server or `<VirtualHost>`, outside any block.
    Server,
    /// Inside `<Directory>`.
    Directory,
    /// Anywhere a per-directory setting may be: the server, a virtual
    /// host, any section, a `.htaccess` file (Apache's `OR_*` contexts),
    /// not `<Proxy>`.
    PerDir,
    /// Inside a section (`<Directory>`, `<Location>`, `<Files>`, `<If>`)
    /// or a `.htaccess` file.
    Section,
}

/// One directive being applied, as the families' functions take it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Directive<'d> {
    /// Its name as written, for messages.
    pub(super) name: &'d str,
    /// Its name in lower case, as directives are matched.
    pub(super) lower: &'d str,
    /// The arguments as text (`text_args` in the walker).
    pub(super) args: &'d [String],
    /// The arguments as written, for those that name files.
    pub(super) raw: &'d [OsString],
    /// The line after the name as written, quotes kept (`${VAR}`
    /// expanded).
    pub(super) rest: &'d std::ffi::OsStr,
    /// Where it was written.
    pub(super) origin: &'d Origin,
    /// Which server and block it was written in.
    pub(super) scope: Scope,
}

/// What the directives fill while the configuration is read, with what
/// they need to know of it (the command line's options and defines).
pub(super) struct State<'a> {
    pub(super) opts: &'a LoadOptions,
    pub(super) defined: HashSet<String>,
    pub(super) vars: HashMap<String, OsString>,
    pub(super) server_root: PathBuf,
    pub(super) listens: Vec<(ListenAddr, Origin)>,
    /// `AcceptFilter`.
    pub(super) accept_filters: AcceptFilters,
    pub(super) mpm_name: Option<String>,
    pub(super) mpm: MpmConfig,
    pub(super) protocol: ProtocolConfig,
    pub(super) pid_file: Option<PathBuf>,
    pub(super) error_log: Option<PathBuf>,
    pub(super) log_level: log::LevelFilter,
    pub(super) main: Host,
    pub(super) vhosts: Vec<Host>,
    pub(super) warnings: Vec<String>,
    pub(super) log_formats: HashMap<String, String>,
    pub(super) default_format: String,
    pub(super) add_types: Vec<(String, String)>,
    pub(super) ssl_session_tickets: bool,
    pub(super) ssl_session_cache: bool,
    pub(super) cached_files: Vec<CachedFile>,
    pub(super) remote_ip: RemoteIpConfig,
    pub(super) proxy_protocol_exceptions: Vec<IpNet>,
    pub(super) proxy_protocol_timeout: Duration,
    /// mod_cgi's `CGIScriptTimeout`.
    pub(super) cgi: mpm_site::cgi_script::CgiConfig,
    /// mod_fcgid's pool.
    pub(super) fcgid: mpm_site::fcgid::FcgidConfig,
    /// The sections being read, innermost last: a directive in a section
    /// sets the innermost one's config.
    pub(super) open: Vec<Section>,
    /// `AccessFileName`.
    pub(super) access_file_name: String,
    /// `LimitInternalRecursion`.
    pub(super) limit_internal_recursion: u32,
    /// While a `.htaccess` file is read: what it may hold.
    pub(super) htaccess: Option<super::htaccess::Rules>,
    /// `TraceEnable`.
    pub(super) trace_enable: mpm_site::config::TraceEnable,
    /// `TypesConfig`'s `(extension, type)` pairs (`AddType` wins over them).
    pub(super) types_config: Vec<(String, String)>,
    /// While a `<Limit>` or `<LimitExcept>` section is read: the methods
    /// its `Require` lines judge (Apache's `cmd->limited`).
    pub(super) limited: Option<mpm_site::require::MethodLimit>,
}

/// Apache's words for a directive or section that cannot be written in a
/// `<Limit>` or `<LimitExcept>` section.
pub(super) const NOT_IN_LIMIT: &str = "cannot occur within <Limit> or <LimitExcept> section";

impl<'a> State<'a> {
    /// Nothing set yet: the defines of `opts`, relative paths against
    /// `server_root`, the main server starting in `main_file`.
    pub(super) fn new(opts: &'a LoadOptions, server_root: PathBuf, main_file: &Path) -> Self {
        let log_formats = [
            ("common", CustomLog::COMMON),
            ("combined", CustomLog::COMBINED),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        State {
            opts,
            defined: opts.defines.iter().cloned().collect(),
            vars: HashMap::new(),
            server_root,
            listens: Vec::new(),
            accept_filters: AcceptFilters::default(),
            mpm_name: None,
            mpm: MpmConfig::default(),
            protocol: ProtocolConfig::default(),
            pid_file: None,
            error_log: None,
            log_level: log::LevelFilter::Warn,
            main: Host {
                origin: Origin {
                    file: main_file.to_path_buf(),
                    line: 1,
                },
                ..Host::default()
            },
            vhosts: Vec::new(),
            warnings: Vec::new(),
            log_formats,
            default_format: CustomLog::COMMON.to_string(),
            add_types: Vec::new(),
            ssl_session_tickets: true,
            ssl_session_cache: true,
            cached_files: Vec::new(),
            remote_ip: RemoteIpConfig::default(),
            proxy_protocol_exceptions: Vec::new(),
            proxy_protocol_timeout: mpm::ProxyProtocol::TIMEOUT,
            cgi: Default::default(),
            fcgid: Default::default(),
            open: Vec::new(),
            access_file_name: ".htaccess".to_string(),
            limit_internal_recursion: mpm_site::pipeline::phases::DEFAULT_RECURSION_LIMIT,
            htaccess: None,
            trace_enable: mpm_site::config::TraceEnable::On,
            types_config: Vec::new(),
            limited: None,
        }
    }

    /// The per-directory config a directive at `scope` sets: the innermost
    /// section being read, else the server's (outside any section).
    pub(super) fn dir_config(&mut self, scope: Scope) -> &mut DirConfig {
        if self.open.is_empty() {
            return &mut self.host(scope.host).dir;
        }
        let last = self.open.len() - 1;
        &mut self.open[last].config
    }

    /// The URL path of the innermost section when it is a `<Location>`
    /// (for the one-argument `ProxyPass` in it).
    pub(super) fn location_path(&self) -> Option<String> {
        match self.open.last().map(|s| &s.kind) {
            Some(SectionKind::Location(path)) => Some(path.clone()),
            _ => None,
        }
    }

    /// A warning at `origin`, printed at startup and by `-t`.
    pub(super) fn warn(&mut self, origin: &Origin, message: impl std::fmt::Display) {
        self.warnings.push(format!("{origin}: {message}"));
    }

    /// The server `sel` names.
    pub(super) fn host(&mut self, sel: HostSel) -> &mut Host {
        match sel {
            HostSel::Main => &mut self.main,
            HostSel::Vhost(i) => &mut self.vhosts[i],
        }
    }

    /// A path from the configuration, absolute (against `ServerRoot`):
    /// the bytes written, which need not be UTF-8.
    pub(super) fn path(&self, value: impl AsRef<Path>) -> PathBuf {
        normalize(&self.server_root.join(value))
    }

    /// `d` is allowed in the main server only ([`Allowed::Global`]).
    pub(super) fn global(&self, d: &Directive<'_>) -> Res<()> {
        self.allow(d.name, Allowed::Global, d.scope)
    }

    /// `d` is allowed at server level or in `<VirtualHost>`
    /// ([`Allowed::Server`]).
    pub(super) fn server(&self, d: &Directive<'_>) -> Res<()> {
        self.allow(d.name, Allowed::Server, d.scope)
    }

    /// `name` may be written where `scope` is, as `allowed` says; else
    /// the message saying where it belongs.
    pub(super) fn allow(&self, name: &str, allowed: Allowed, scope: Scope) -> Res<()> {
        if self.limited.is_some() && matches!(allowed, Allowed::Global | Allowed::Server) {
            return Err(format!("{name} {NOT_IN_LIMIT}"));
        }
        let ok = match allowed {
            Allowed::Global => scope.host == HostSel::Main && scope.block == Block::None,
            Allowed::Server => scope.block == Block::None,
            Allowed::Directory => scope.block == Block::Directory,
            Allowed::PerDir => !matches!(scope.block, Block::Proxy(_)),
            Allowed::Section => !matches!(scope.block, Block::None | Block::Proxy(_)),
        };
        if ok {
            return Ok(());
        }
        Err(match allowed {
            Allowed::Global => format!(
                "{name} cannot occur within {} section; it belongs in the main server configuration",
                where_(scope)
            ),
            Allowed::Server => format!(
                "{name} is not allowed inside {}; it belongs at server level or in <VirtualHost>",
                where_(scope)
            ),
            Allowed::Directory => format!("{name} is allowed only inside <Directory>"),
            Allowed::PerDir => format!("{name} is not allowed inside {}", where_(scope)),
            Allowed::Section => format!(
                "{name} is allowed only inside <Directory>, <Location>, <Files>, <If> or .htaccess"
            ),
        })
    }
}

/// Where `scope` is, for messages.
pub(super) fn where_(scope: Scope) -> &'static str {
    match scope.block {
        Block::Directory => "<Directory>",
        Block::Location => "<Location>",
        Block::Files => "<Files>",
        Block::If => "<If>",
        Block::Htaccess => ".htaccess",
        Block::Proxy(_) => "<Proxy>",
        Block::None if scope.host != HostSel::Main => "<VirtualHost>",
        Block::None => "the main server",
    }
}

/// Remove `.` and resolve `..` without touching the file system.
pub(in crate::config) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
