//! The meaning of each directive: walking the parsed tree (sections,
//! conditionals, includes) and filling a [`ServerConfig`].
//!
//! Directives accepted with no effect in `mpmd` (documented so `-t` users
//! know): `MaxMemFree`, `ThreadStackSize`, `ReceiveBufferSize`,
//! `SendBufferSize`, `ScoreBoardFile`, `CoreDumpDirectory`,
//! `EnableExceptionHook`, `Mutex`, `DefaultRuntimeDir`, `UseCanonicalName`,
//! `ServerSignature`, `EnableSendfile`, `EnableMMAP`, `TraceEnable`,
//! `HostnameLookups Off`, `AllowOverride None`, `AllowOverrideList None`
//! (silently); `DefaultType`, `TypesConfig`, `AddDefaultCharset` other than
//! `Off`, `NameVirtualHost`, per-host `ErrorLog`/`LogLevel`, and the
//! `Options` `ExecCGI`, `Includes`, `IncludesNOEXEC`, `MultiViews`,
//! `SymLinksIfOwnerMatch` (with a warning).
//!
//! Stricter than Apache: `KeepAlive*`, `Timeout`, `RequestReadTimeout`,
//! `LimitRequest*` and `AddType` are main-server settings only (mpmd has
//! one protocol configuration); `Alias` and `Redirect` are server or
//! `<VirtualHost>` settings, `DirectoryIndex` also a `<Directory>` one
//! (not `<Location>`), and `SetHandler` a `<Location>` one only.
//!
//! `MMapFile` and `CacheFile` (mod_file_cache) are main-server settings,
//! as in Apache; a named file that is missing or not a regular file is a
//! warning and is left out, so the server starts without it.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use mpm::{ListenAddr, MpmConfig, ProtocolConfig};

use super::include::{self, MAX_FILE_SIZE, MAX_TOTAL_SIZE};
use super::lexer::{self, lossy, Node};
use super::modules;
use super::types::*;
use super::values::*;
use super::{ConfigError, IncludePolicy, LoadOptions};

/// Deepest `Include` nesting (Apache's limit is 128; a loop shows long before).
const MAX_INCLUDE_DEPTH: usize = 16;

/// Which arguments of a directive (or section, `<name>`) may hold bytes
/// that are not UTF-8: those that name files, which are bytes on disk
/// (and `Define`'s value, which may become part of a path, and `Error`'s
/// message). Every other argument must be UTF-8 text.
fn may_be_bytes(lower_name: &str, index: usize) -> bool {
    match lower_name {
        "serverroot"
        | "pidfile"
        | "documentroot"
        | "errorlog"
        | "customlog"
        | "transferlog"
        | "sslcertificatefile"
        | "sslcertificatekeyfile"
        | "include"
        | "includeoptional"
        | "<directory>" => index == 0,
        "alias" | "define" => index == 1,
        "mmapfile" | "cachefile" | "error" => true,
        _ => false,
    }
}

/// The arguments as text, for every directive: exact where they are UTF-8;
/// where they may be bytes ([`may_be_bytes`]) and are not UTF-8, lossy (for
/// messages only: such directives read the bytes). Any other argument that
/// is not UTF-8 is an error that names the directive.
fn text_args(name: &str, raw: &[OsString]) -> Res<Vec<String>> {
    let lower = name.to_ascii_lowercase();
    raw.iter()
        .enumerate()
        .map(|(i, arg)| match arg.to_str() {
            Some(text) => Ok(text.to_string()),
            None if may_be_bytes(&lower, i) => Ok(arg.to_string_lossy().into_owned()),
            None => Err(format!(
                "{name}: '{}' is not UTF-8 text, and only file paths may hold other bytes: \
                 write this value in UTF-8",
                arg.to_string_lossy()
            )),
        })
        .collect()
}

/// `LogFormat` nicknames every configuration has.
const COMMON: &str = "%h %l %u %t \"%r\" %>s %b";
const COMBINED: &str = "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"";

/// A log line's format as written, resolved once every `LogFormat` is known.
#[derive(Debug, Clone)]
enum LogFmt {
    /// `CustomLog file fmt-or-nickname`.
    Given(String),
    /// `TransferLog file`: the last `LogFormat` without nickname, or common.
    Default,
}

/// A server (main or virtual) while it is being read: `None` = not set here.
#[derive(Debug, Default)]
struct Host {
    addrs: Vec<VhostAddr>,
    server_name: Option<String>,
    server_aliases: Vec<String>,
    document_root: Option<PathBuf>,
    directory_index: Option<Vec<String>>,
    aliases: Vec<AliasRule>,
    redirects: Vec<RedirectRule>,
    directories: Vec<DirectoryBlock>,
    locations: Vec<LocationBlock>,
    custom_logs: Vec<(PathBuf, LogFmt, Origin)>,
    server_admin: Option<String>,
    ssl: SslSettings,
    origin: Origin,
}

/// Which server a directive applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostSel {
    Main,
    Vhost(usize),
}

/// The innermost block around a directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    None,
    Directory(usize),
    Location(usize),
    /// `<Files ".ht*">`: the deny idiom, read and ignored.
    HtFiles,
}

#[derive(Debug, Clone, Copy)]
struct Scope {
    host: HostSel,
    block: Block,
}

/// Where a directive may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allowed {
    /// Main server only.
    Global,
    /// Main server or `<VirtualHost>`, outside any block.
    Server,
    /// Inside `<Directory>`.
    Directory,
    /// Main server or `<VirtualHost>` outside any block, or `<Directory>`.
    ServerOrDirectory,
    /// Inside `<Location>`.
    Location,
    /// Inside `<Directory>`, `<Location>` or the `.ht*` `<Files>` idiom.
    AccessBlock,
}

/// The reader's state while walking the configuration.
pub(super) struct Loader<'a> {
    opts: &'a LoadOptions,
    defined: HashSet<String>,
    vars: HashMap<String, OsString>,
    server_root: PathBuf,
    listens: Vec<(ListenAddr, Origin)>,
    mpm_name: Option<String>,
    mpm: MpmConfig,
    protocol: ProtocolConfig,
    pid_file: Option<PathBuf>,
    error_log: Option<PathBuf>,
    log_level: log::LevelFilter,
    main: Host,
    vhosts: Vec<Host>,
    warnings: Vec<String>,
    log_formats: HashMap<String, String>,
    default_format: String,
    add_types: Vec<(String, String)>,
    include_stack: Vec<PathBuf>,
    includes: IncludePolicy,
    /// Sections and `Include`s around the node being read (see
    /// `lexer::MAX_NESTING`).
    depth: usize,
    /// Bytes of configuration read so far, every file each time it is
    /// included (at most `MAX_TOTAL_SIZE`).
    bytes_read: u64,
    ssl_session_tickets: bool,
    ssl_session_cache: bool,
    cached_files: Vec<CachedFile>,
}

impl<'a> Loader<'a> {
    /// A reader with nothing read yet, relative paths against `server_root`.
    pub(super) fn new(
        opts: &'a LoadOptions,
        server_root: PathBuf,
        main_file: &Path,
        includes: IncludePolicy,
    ) -> Self {
        let log_formats = [("common", COMMON), ("combined", COMBINED)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Loader {
            opts,
            defined: opts.defines.iter().cloned().collect(),
            vars: HashMap::new(),
            server_root,
            listens: Vec::new(),
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
            default_format: COMMON.to_string(),
            add_types: Vec::new(),
            include_stack: Vec::new(),
            includes,
            depth: 0,
            bytes_read: 0,
            ssl_session_tickets: true,
            ssl_session_cache: true,
            cached_files: Vec::new(),
        }
    }

    /// `Define name value` before reading (for the built-in configuration).
    pub(super) fn define(&mut self, name: &str, value: &OsStr) {
        self.defined.insert(name.to_string());
        self.vars.insert(name.to_string(), value.to_os_string());
    }

    /// Read `text` (from `file`, numbered from `first_line`) at server level.
    pub(super) fn read_text(
        &mut self,
        text: &[u8],
        file: &Path,
        first_line: usize,
    ) -> Result<(), ConfigError> {
        let nodes = lexer::parse(text, file, first_line, self.depth)?;
        self.walk(
            &nodes,
            Scope {
                host: HostSel::Main,
                block: Block::None,
            },
        )
    }

    /// Read the main configuration file (already read into `text`).
    pub(super) fn read_main_file(&mut self, text: &[u8], file: &Path) -> Result<(), ConfigError> {
        self.count_bytes(text.len(), file)
            .map_err(|message| ConfigError {
                origin: None,
                message,
            })?;
        self.include_stack
            .push(file.canonicalize().unwrap_or_else(|_| file.to_path_buf()));
        let result = self.read_text(text, file, 1);
        self.include_stack.pop();
        result
    }

    /// Count `len` more bytes of configuration read from `file`: refused
    /// past [`MAX_FILE_SIZE`] for one file or [`MAX_TOTAL_SIZE`] in all.
    fn count_bytes(&mut self, len: usize, file: &Path) -> Res<()> {
        let len = len as u64;
        if len > MAX_FILE_SIZE {
            return Err(include::too_large(file));
        }
        self.bytes_read += len;
        if self.bytes_read > MAX_TOTAL_SIZE {
            return Err(format!(
                "reading '{}' takes the configuration past {} MiB in all, mpmd's limit (is a file included many times over?)",
                file.display(),
                MAX_TOTAL_SIZE >> 20
            ));
        }
        Ok(())
    }

    fn walk(&mut self, nodes: &[Node], scope: Scope) -> Result<(), ConfigError> {
        for node in nodes {
            match node {
                Node::Directive { name, args, origin } => {
                    let here = |message: String| ConfigError {
                        origin: Some(origin.clone()),
                        message,
                    };
                    let raw: Vec<OsString> = args.iter().map(|a| self.expand(a, origin)).collect();
                    let args = text_args(name, &raw).map_err(here)?;
                    if name.eq_ignore_ascii_case("include")
                        || name.eq_ignore_ascii_case("includeoptional")
                    {
                        // Errors inside the included files keep their own file:line.
                        let pattern = one_arg(name, &raw).map_err(here)?;
                        let optional = name.eq_ignore_ascii_case("includeoptional");
                        self.include(name, pattern, optional, origin, scope)?;
                        continue;
                    }
                    self.directive(name, &args, &raw, origin, scope)
                        .map_err(here)?;
                }
                Node::Section {
                    name,
                    args,
                    origin,
                    children,
                } => {
                    let raw: Vec<OsString> = args.iter().map(|a| self.expand(a, origin)).collect();
                    let args =
                        text_args(&format!("<{name}>"), &raw).map_err(|message| ConfigError {
                            origin: Some(origin.clone()),
                            message,
                        })?;
                    self.depth += 1;
                    let result = self.section(name, &args, &raw, origin, children, scope);
                    self.depth -= 1;
                    result?;
                }
            }
        }
        Ok(())
    }

    /// `${VAR}` from `Define` or the environment; an undefined one is left
    /// as written, with a warning (as Apache). Works on bytes: a value
    /// may hold bytes that are not UTF-8 (a path).
    fn expand(&mut self, word: &OsStr, origin: &Origin) -> OsString {
        let mut out = Vec::new();
        let mut rest = word.as_bytes();
        while let Some(start) = find(rest, b"${") {
            let Some(len) = find(&rest[start + 2..], b"}") else {
                break;
            };
            let name = &rest[start + 2..start + 2 + len];
            out.extend_from_slice(&rest[..start]);
            let value = std::str::from_utf8(name).ok().and_then(|name| {
                self.vars
                    .get(name)
                    .cloned()
                    .or_else(|| std::env::var_os(name))
            });
            match value {
                Some(value) => out.extend_from_slice(value.as_bytes()),
                None => {
                    self.warnings.push(format!(
                        "{origin}: config variable ${{{}}} is not defined",
                        lossy(name)
                    ));
                    out.extend_from_slice(&rest[start..start + 3 + len]);
                }
            }
            rest = &rest[start + 3 + len..];
        }
        out.extend_from_slice(rest);
        OsString::from_vec(out)
    }

    fn warn(&mut self, origin: &Origin, message: impl std::fmt::Display) {
        self.warnings.push(format!("{origin}: {message}"));
    }

    fn host(&mut self, sel: HostSel) -> &mut Host {
        match sel {
            HostSel::Main => &mut self.main,
            HostSel::Vhost(i) => &mut self.vhosts[i],
        }
    }

    /// A path from the configuration, absolute (against `ServerRoot`):
    /// the bytes written, which need not be UTF-8.
    fn path(&self, value: impl AsRef<Path>) -> PathBuf {
        normalize(&self.server_root.join(value))
    }

    fn section(
        &mut self,
        name: &str,
        args: &[String],
        raw: &[OsString],
        origin: &Origin,
        children: &[Node],
        scope: Scope,
    ) -> Result<(), ConfigError> {
        let fail = |message: String| ConfigError {
            origin: Some(origin.clone()),
            message,
        };
        match name.to_ascii_lowercase().as_str() {
            "ifmodule" => {
                let (negate, module) = negation(one_arg("<IfModule>", args).map_err(fail)?);
                let present = modules::is_present(module, &self.opts.compiled_mpms, self.mpm_name.as_deref());
                if present != negate {
                    self.walk(children, scope)?;
                }
                Ok(())
            }
            "ifdefine" => {
                let (negate, param) = negation(one_arg("<IfDefine>", args).map_err(fail)?);
                if self.defined.contains(param) != negate {
                    self.walk(children, scope)?;
                }
                Ok(())
            }
            "ifversion" => {
                if if_version(args).map_err(fail)? {
                    self.walk(children, scope)?;
                }
                Ok(())
            }
            "virtualhost" => {
                if scope.host != HostSel::Main || scope.block != Block::None {
                    return Err(fail(format!(
                        "<VirtualHost> cannot occur within {}; it belongs in the main server configuration",
                        where_(scope)
                    )));
                }
                if args.is_empty() {
                    return Err(fail("<VirtualHost> requires at least one address (e.g. *:80)".into()));
                }
                let addrs = args
                    .iter()
                    .map(|a| parse_vhost_addr(a))
                    .collect::<Res<Vec<_>>>()
                    .map_err(fail)?;
                self.vhosts.push(Host {
                    addrs,
                    origin: origin.clone(),
                    ..Host::default()
                });
                let host = HostSel::Vhost(self.vhosts.len() - 1);
                self.walk(children, Scope {
                    host,
                    block: Block::None,
                })
            }
            "directory" => {
                self.block_allowed("<Directory>", scope).map_err(fail)?;
                let dir = one_arg("<Directory>", args).map_err(fail)?;
                if dir == "~" || args.len() > 1 {
                    return Err(fail(
                        "<Directory ~ regex> is not supported by mpmd; give a directory path".into(),
                    ));
                }
                if dir.contains(['*', '?', '[']) {
                    return Err(fail(format!(
                        "<Directory {dir}>: wildcards are not supported by mpmd; give a directory path"
                    )));
                }
                let block = DirectoryBlock {
                    path: self.path(&raw[0]),
                    options: None,
                    require: None,
                    index: None,
                    origin: origin.clone(),
                };
                let host = self.host(scope.host);
                host.directories.push(block);
                let index = host.directories.len() - 1;
                self.walk(children, Scope {
                    host: scope.host,
                    block: Block::Directory(index),
                })
            }
            "location" => {
                self.block_allowed("<Location>", scope).map_err(fail)?;
                let path = one_arg("<Location>", args).map_err(fail)?;
                if path == "~" || args.len() > 1 {
                    return Err(fail("<Location ~ regex> is not supported by mpmd; give a URL path".into()));
                }
                let block = LocationBlock {
                    path: path.to_string(),
                    handler: None,
                    require: None,
                    origin: origin.clone(),
                };
                let host = self.host(scope.host);
                host.locations.push(block);
                let index = host.locations.len() - 1;
                self.walk(children, Scope {
                    host: scope.host,
                    block: Block::Location(index),
                })
            }
            "files" | "filesmatch" => {
                if matches!(scope.block, Block::Location(_) | Block::HtFiles) {
                    return Err(fail(format!("<{name}> cannot occur within {}", where_(scope))));
                }
                let is_ht_idiom = match (name.eq_ignore_ascii_case("files"), args) {
                    (true, [pattern]) => pattern == ".ht*",
                    (true, [tilde, re]) if tilde == "~" => re == "^\\.ht",
                    (false, [re]) => re == "^\\.ht",
                    _ => false,
                };
                if !is_ht_idiom {
                    return Err(fail(format!(
                        "<{name} {}> is not supported by mpmd; only the `<Files \".ht*\">` / \
                         `<FilesMatch \"^\\.ht\">` deny idiom is accepted",
                        args.join(" ")
                    )));
                }
                self.walk(children, Scope {
                    host: scope.host,
                    block: Block::HtFiles,
                })
            }
            "directorymatch" | "locationmatch" | "requireall" | "requireany" | "requirenone" | "limit"
            | "limitexcept" | "if" | "elseif" | "else" | "proxy" | "proxymatch" | "macro" => Err(fail(format!(
                "<{name}> is not supported by mpmd{}",
                match name.to_ascii_lowercase().as_str() {
                    "directorymatch" => "; use <Directory path>",
                    "locationmatch" => "; use <Location path>",
                    "requireall" | "requireany" | "requirenone" => {
                        "; several Require lines in a block mean any of them"
                    }
                    _ => "",
                }
            ))),
            _ => Err(fail(format!(
                "Invalid command '<{name}>', perhaps misspelled or defined by a module not included in the server configuration"
            ))),
        }
    }

    fn block_allowed(&self, what: &str, scope: Scope) -> Res<()> {
        if scope.block != Block::None {
            return Err(format!(
                "{what} cannot occur within {}; it belongs at server level or in <VirtualHost>",
                where_(scope)
            ));
        }
        Ok(())
    }

    fn allow(&self, name: &str, allowed: Allowed, scope: Scope) -> Res<()> {
        let ok = match allowed {
            Allowed::Global => scope.host == HostSel::Main && scope.block == Block::None,
            Allowed::Server => scope.block == Block::None,
            Allowed::Directory => matches!(scope.block, Block::Directory(_)),
            Allowed::ServerOrDirectory => matches!(scope.block, Block::None | Block::Directory(_)),
            Allowed::Location => matches!(scope.block, Block::Location(_)),
            Allowed::AccessBlock => scope.block != Block::None,
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
            Allowed::ServerOrDirectory => format!(
                "{name} is not allowed inside {}; it belongs at server level, in <VirtualHost> or in <Directory>",
                where_(scope)
            ),
            Allowed::Location => format!("{name} is allowed only inside <Location>"),
            Allowed::AccessBlock => format!("{name} is allowed only inside <Directory> or <Location>"),
        })
    }

    /// One directive: `args` as text (see [`text_args`]), `raw` as written
    /// (for the arguments that name files).
    fn directive(
        &mut self,
        name: &str,
        args: &[String],
        raw: &[OsString],
        origin: &Origin,
        scope: Scope,
    ) -> Res<()> {
        let lower = name.to_ascii_lowercase();
        let n = name;
        let global = |this: &Self| this.allow(n, Allowed::Global, scope);
        let server = |this: &Self| this.allow(n, Allowed::Server, scope);
        match lower.as_str() {
            // --- configuration structure ---
            "define" => {
                let (var, value) = match args {
                    [var] => (var, None),
                    [var, value] => (var, Some(value)),
                    _ => return Err("Define takes one or two arguments: Define NAME [value]".into()),
                };
                if var.contains(':') {
                    return Err(format!("Define: variable name '{var}' must not contain ':'"));
                }
                self.defined.insert(var.clone());
                match value {
                    Some(_) => self.vars.insert(var.clone(), raw[1].clone()),
                    None => self.vars.remove(var),
                };
                Ok(())
            }
            "undefine" => {
                let var = one_arg(n, args)?;
                self.defined.remove(var);
                self.vars.remove(var);
                Ok(())
            }
            "error" => Err(args.join(" ")),

            // --- server-wide ---
            "listen" => {
                global(self)?;
                if args.is_empty() || args.len() > 2 {
                    return Err("Listen takes an address and an optional protocol: Listen [IP:]port [http]".into());
                }
                let mut addr = ListenAddr::from_str(&args.join(" ")).map_err(|e| e.to_string())?;
                if args.len() == 1 && addr.port == 443 {
                    // As Apache: port 443 speaks https unless told otherwise.
                    addr.protocol = "https".into();
                }
                if !matches!(addr.protocol.as_str(), "http" | "https") {
                    return Err(format!(
                        "Listen {}: unknown protocol '{}' (use http or https)",
                        args.join(" "),
                        addr.protocol
                    ));
                }
                if let Some((_, first)) = self.listens.iter().find(|(l, _)| l.ip == addr.ip && l.port == addr.port) {
                    return Err(format!(
                        "Cannot define multiple Listeners on the same IP:port ({addr} is already at {first})"
                    ));
                }
                self.listens.push((addr, origin.clone()));
                Ok(())
            }
            "serverroot" => {
                global(self)?;
                let root = self.path(one_arg(n, raw)?);
                if !root.is_dir() {
                    return Err(format!("ServerRoot must be a valid directory; '{}' is not", root.display()));
                }
                self.server_root = root;
                Ok(())
            }
            "loadmodule" => {
                global(self)?;
                let [module, _file] = args else {
                    return Err("LoadModule takes two arguments: LoadModule module_id path".into());
                };
                self.load_module(module, origin)
            }
            "pidfile" => {
                global(self)?;
                self.pid_file = Some(self.path(one_arg(n, raw)?));
                Ok(())
            }
            "user" => {
                global(self)?;
                let user = one_arg(n, args)?;
                mpm::process::privileges::refuse_root_user(user)?;
                self.mpm.user = Some(user.to_string());
                Ok(())
            }
            "group" => {
                global(self)?;
                self.mpm.group = Some(one_arg(n, args)?.to_string());
                Ok(())
            }
            "startservers" => self.mpm_number(n, args, scope, |m, v| m.start_servers = Some(v)),
            "minspareservers" => self.mpm_number(n, args, scope, |m, v| m.min_spare_servers = v),
            "maxspareservers" => self.mpm_number(n, args, scope, |m, v| m.max_spare_servers = v),
            "minsparethreads" => self.mpm_number(n, args, scope, |m, v| m.min_spare_threads = v),
            "maxsparethreads" => self.mpm_number(n, args, scope, |m, v| m.max_spare_threads = v),
            "threadsperchild" => self.mpm_number(n, args, scope, |m, v| m.threads_per_child = v),
            "threadlimit" => self.mpm_number(n, args, scope, |m, v| m.thread_limit = v),
            "serverlimit" => self.mpm_number(n, args, scope, |m, v| m.server_limit = Some(v)),
            "maxrequestworkers" | "maxclients" => self.mpm_number(n, args, scope, |m, v| m.max_request_workers = Some(v)),
            "asyncrequestworkerfactor" => {
                self.mpm_number(n, args, scope, |m, v| m.async_request_worker_factor = v)
            }
            "maxconnectionsperchild" | "maxrequestsperchild" => {
                global(self)?;
                self.mpm.max_connections_per_child = number(n, one_arg(n, args)?)?;
                Ok(())
            }
            "listenbacklog" => {
                global(self)?;
                let v: u32 = number(n, one_arg(n, args)?)?;
                self.mpm.listen_backlog = i32::try_from(v)
                    .map_err(|_| format!("{n} takes a number from 0 to {}, not '{v}'", i32::MAX))?;
                Ok(())
            }
            "gracefulshutdowntimeout" => {
                global(self)?;
                self.mpm.graceful_shutdown_timeout = seconds(n, one_arg(n, args)?)?;
                Ok(())
            }
            "maxmemfree" | "threadstacksize" | "receivebuffersize" | "sendbuffersize" => {
                global(self)?;
                number::<u64>(n, one_arg(n, args)?)?;
                Ok(())
            }
            "scoreboardfile" | "coredumpdirectory" | "defaultruntimedir" | "mutex" => {
                global(self)?;
                if args.is_empty() {
                    return Err(format!("{n} takes at least one argument"));
                }
                Ok(())
            }
            "enableexceptionhook" => {
                global(self)?;
                on_off(n, one_arg(n, args)?).map(drop)
            }
            "keepalive" => {
                global(self)?;
                self.protocol.timeouts.keep_alive = on_off(n, one_arg(n, args)?)?;
                Ok(())
            }
            "keepalivetimeout" => {
                global(self)?;
                self.protocol.timeouts.keep_alive_timeout = seconds(n, one_arg(n, args)?)?;
                Ok(())
            }
            "maxkeepaliverequests" => {
                global(self)?;
                self.protocol.timeouts.max_keep_alive_requests = number(n, one_arg(n, args)?)?;
                Ok(())
            }
            "timeout" => {
                global(self)?;
                self.protocol.timeouts.timeout = seconds(n, one_arg(n, args)?)?;
                Ok(())
            }
            "requestreadtimeout" => {
                global(self)?;
                if args.is_empty() {
                    return Err("RequestReadTimeout takes stage settings such as header=20-40,MinRate=500".into());
                }
                for arg in args {
                    let stage = parse_read_stage(arg)?;
                    let timeouts = &mut self.protocol.timeouts.request_read;
                    match stage {
                        ("header", s) => timeouts.header = s,
                        ("body", s) => timeouts.body = s,
                        _ => self.warn(origin, format_args!("RequestReadTimeout {arg}: the handshake stage has no effect without TLS")),
                    }
                }
                Ok(())
            }
            "limitrequestline" => {
                global(self)?;
                self.protocol.limits.request_line = number(n, one_arg(n, args)?)?;
                Ok(())
            }
            "limitrequestfieldsize" => {
                global(self)?;
                self.protocol.limits.field_size = number(n, one_arg(n, args)?)?;
                Ok(())
            }
            "limitrequestfields" => {
                global(self)?;
                self.protocol.limits.fields = number(n, one_arg(n, args)?)?;
                Ok(())
            }
            "limitrequestbody" => {
                global(self)?;
                self.protocol.limits.body = number(n, one_arg(n, args)?)?;
                Ok(())
            }
            "limitrequestheadmemory" => {
                global(self)?;
                self.protocol.limits.head_budget = number(n, one_arg(n, args)?)?;
                Ok(())
            }
            "servertokens" => {
                global(self)?;
                let version = env!("CARGO_PKG_VERSION");
                let mut parts = version.split('.');
                let major = parts.next().unwrap_or("0");
                let minor = parts.next().unwrap_or("0");
                self.protocol.server_header = match one_arg(n, args)?.to_ascii_lowercase().as_str() {
                    "prod" | "productonly" => "mpmd".to_string(),
                    "major" => format!("mpmd/{major}"),
                    "minor" => format!("mpmd/{major}.{minor}"),
                    "min" | "minimal" => format!("mpmd/{version}"),
                    "os" | "full" => format!("mpmd/{version} (Unix)"),
                    other => {
                        return Err(format!(
                            "ServerTokens takes Prod, Major, Minor, Minimal, OS or Full, not '{other}'"
                        ))
                    }
                };
                Ok(())
            }
            "hostnamelookups" => {
                global(self)?;
                match one_arg(n, args)?.to_ascii_lowercase().as_str() {
                    "off" => Ok(()),
                    "on" | "double" => Err("HostnameLookups On is not supported by mpmd (client addresses are never looked up); use HostnameLookups Off".into()),
                    other => Err(format!("HostnameLookups must be On, Off or Double, not '{other}'")),
                }
            }
            "enablesendfile" | "enablemmap" => on_off(n, one_arg(n, args)?).map(drop),
            "traceenable" => match one_arg(n, args)?.to_ascii_lowercase().as_str() {
                "on" | "off" | "extended" => Ok(()),
                other => Err(format!("TraceEnable must be On, Off or extended, not '{other}'")),
            },
            "usecanonicalname" => match one_arg(n, args)?.to_ascii_lowercase().as_str() {
                "on" | "off" | "dns" => Ok(()),
                other => Err(format!("UseCanonicalName must be On, Off or DNS, not '{other}'")),
            },
            "serversignature" => match one_arg(n, args)?.to_ascii_lowercase().as_str() {
                "on" | "off" | "email" => Ok(()),
                other => Err(format!("ServerSignature must be On, Off or EMail, not '{other}'")),
            },
            "adddefaultcharset" => {
                if !one_arg(n, args)?.eq_ignore_ascii_case("off") {
                    self.warn(origin, "AddDefaultCharset has no effect in mpmd (no charset is added)");
                }
                Ok(())
            }
            "addtype" => {
                global(self)?;
                let Some((mime, exts)) = args.split_first().filter(|(m, e)| !e.is_empty() && m.contains('/')) else {
                    return Err("AddType takes a media type and extensions: AddType text/plain .txt .text".into());
                };
                for ext in exts {
                    let ext = ext.trim_start_matches('.').to_ascii_lowercase();
                    self.add_types.retain(|(e, _)| *e != ext);
                    self.add_types.push((ext, mime.clone()));
                }
                Ok(())
            }
            "defaulttype" => {
                self.warn(origin, "DefaultType has no effect (as in Apache 2.4); types come from file extensions");
                Ok(())
            }
            "typesconfig" => {
                self.warn(origin, "TypesConfig is ignored: mpmd has its own type table; add types with AddType");
                Ok(())
            }
            "namevirtualhost" => {
                self.warn(origin, "NameVirtualHost has no effect and will be removed in the next release");
                Ok(())
            }
            "errorlog" => {
                server(self)?;
                let target = one_arg(n, args)?;
                if target.starts_with("syslog") {
                    return Err("ErrorLog syslog is not supported by mpmd; give a file".into());
                }
                if target.starts_with('|') {
                    return Err("piped logs (ErrorLog \"|command\") are not supported by mpmd; give a file".into());
                }
                let path = self.path(&raw[0]);
                if scope.host == HostSel::Main {
                    self.error_log = Some(path);
                } else {
                    self.warn(origin, "mpmd keeps one error log: ErrorLog inside <VirtualHost> has no effect");
                }
                Ok(())
            }
            "loglevel" => {
                server(self)?;
                let mut level = None;
                for arg in args.iter().filter(|a| !a.contains(':')) {
                    level = Some(log_level(arg)?);
                }
                if args.is_empty() {
                    return Err("LogLevel takes a level: emerg, alert, crit, error, warn, notice, info, debug, trace1-8".into());
                }
                match (scope.host, level) {
                    (HostSel::Main, Some(level)) => self.log_level = level,
                    (HostSel::Vhost(_), Some(_)) => {
                        self.warn(origin, "mpmd keeps one log level: LogLevel inside <VirtualHost> has no effect")
                    }
                    (_, None) => {}
                }
                Ok(())
            }
            "logformat" => {
                server(self)?;
                match args {
                    [format] => self.default_format = format.clone(),
                    [format, nick] => {
                        self.log_formats.insert(nick.clone(), format.clone());
                    }
                    _ => return Err("LogFormat takes a format and an optional nickname".into()),
                }
                Ok(())
            }
            "customlog" | "transferlog" => {
                server(self)?;
                let (target, format) = match (lower.as_str(), args) {
                    ("transferlog", [target]) => (target, LogFmt::Default),
                    ("customlog", [target, format]) => (target, LogFmt::Given(format.clone())),
                    ("customlog", [_, _, cond]) => {
                        return Err(format!("CustomLog condition '{cond}' is not supported by mpmd; log every request or none"))
                    }
                    ("customlog", _) => return Err("CustomLog takes a file and a format or nickname".into()),
                    _ => return Err("TransferLog takes one file".into()),
                };
                if target.starts_with('|') {
                    return Err(format!("piped logs ({n} \"|command\") are not supported by mpmd; give a file"));
                }
                let path = self.path(&raw[0]);
                self.host(scope.host).custom_logs.push((path, format, origin.clone()));
                Ok(())
            }

            // --- per server ---
            "servername" => {
                server(self)?;
                let name = one_arg(n, args)?;
                self.host(scope.host).server_name = Some(strip_server_name(name)?);
                Ok(())
            }
            "serveralias" => {
                server(self)?;
                if scope.host == HostSel::Main {
                    return Err("ServerAlias only used in <VirtualHost>".into());
                }
                if args.is_empty() {
                    return Err("ServerAlias takes at least one name".into());
                }
                self.host(scope.host).server_aliases.extend(args.iter().cloned());
                Ok(())
            }
            "serveradmin" => {
                server(self)?;
                self.host(scope.host).server_admin = Some(one_arg(n, args)?.to_string());
                Ok(())
            }
            "documentroot" => {
                server(self)?;
                let root = self.path(one_arg(n, raw)?);
                if !root.is_dir() {
                    self.warn(origin, format_args!("DocumentRoot '{}' does not exist", root.display()));
                }
                self.host(scope.host).document_root = Some(root);
                Ok(())
            }
            "directoryindex" => {
                self.allow(n, Allowed::ServerOrDirectory, scope)?;
                if args.is_empty() {
                    return Err("DirectoryIndex takes file names, or disabled".into());
                }
                let list = if args.iter().any(|a| a.eq_ignore_ascii_case("disabled")) {
                    Vec::new()
                } else {
                    args.to_vec()
                };
                let host = self.host(scope.host);
                match scope.block {
                    Block::Directory(i) => host.directories[i].index = Some(list),
                    _ => host.directory_index = Some(list),
                }
                Ok(())
            }
            "alias" => {
                server(self)?;
                let [url, _] = args else {
                    return Err("Alias takes two arguments: Alias /url-path /file/or/directory".into());
                };
                let rule = AliasRule {
                    url: url.clone(),
                    path: self.path(&raw[1]),
                };
                self.host(scope.host).aliases.push(rule);
                Ok(())
            }
            "redirect" | "redirectpermanent" | "redirecttemp" => {
                server(self)?;
                let rule = match lower.as_str() {
                    "redirectpermanent" => parse_redirect(&prepend("permanent", args))?,
                    "redirecttemp" => parse_redirect(&prepend("temp", args))?,
                    _ => parse_redirect(args)?,
                };
                self.host(scope.host).redirects.push(rule);
                Ok(())
            }
            "aliasmatch" | "redirectmatch" | "scriptalias" | "scriptaliasmatch" => Err(format!(
                "{n} is not supported by mpmd{}",
                if lower.starts_with("script") { " (no CGI)" } else { "; use Alias or Redirect with a path prefix" }
            )),

            // --- inside <Directory> / <Location> ---
            "options" => {
                self.allow(n, Allowed::Directory, scope)?;
                let Block::Directory(i) = scope.block else { return Ok(()) };
                let (options, warnings) = parse_options(args)?;
                for w in warnings {
                    self.warn(origin, w);
                }
                let slot = &mut self.host(scope.host).directories[i].options;
                *slot = Some(match *slot {
                    Some(before) => before.then(options),
                    None => options,
                });
                Ok(())
            }
            "allowoverride" | "allowoverridelist" => {
                self.allow(n, Allowed::Directory, scope)?;
                if !(args.len() == 1 && args[0].eq_ignore_ascii_case("none")) {
                    self.warn(origin, format_args!(
                        ".htaccess files are never read by mpmd; {n} {} has no effect",
                        args.join(" ")
                    ));
                }
                Ok(())
            }
            "order" | "allow" | "deny" | "satisfy" => Err(format!(
                "{n} is Apache 2.2 access control (mod_access_compat), not in mpmd; use Require (mod_authz_host), e.g. `Require all granted` or `Require ip 10.0.0.0/8`"
            )),
            "require" => {
                self.allow(n, Allowed::AccessBlock, scope)?;
                let require = parse_require(args)?;
                let slot = match scope.block {
                    Block::Directory(i) => &mut self.host(scope.host).directories[i].require,
                    Block::Location(i) => &mut self.host(scope.host).locations[i].require,
                    Block::HtFiles | Block::None => return Ok(()),
                };
                *slot = Some(match slot.take() {
                    None => require,
                    Some(Require::Any(mut list)) => {
                        list.push(require);
                        Require::Any(list)
                    }
                    Some(first) => Require::Any(vec![first, require]),
                });
                Ok(())
            }
            "sethandler" => {
                self.allow(n, Allowed::Location, scope)?;
                let Block::Location(i) = scope.block else { return Ok(()) };
                let handler = match one_arg(n, args)?.to_ascii_lowercase().as_str() {
                    name @ ("server-status" | "none") => name.to_string(),
                    other => {
                        return Err(format!(
                            "SetHandler {other}: mpmd's handlers are server-status and none"
                        ))
                    }
                };
                self.host(scope.host).locations[i].handler = Some(handler);
                Ok(())
            }
            // --- mod_file_cache ---
            "mmapfile" | "cachefile" => {
                global(self)?;
                if args.is_empty() {
                    return Err(format!("{n} takes one or more file names: {n} /path/file [/path/file2 ...]"));
                }
                let kind = if lower == "mmapfile" { FileCacheKind::Contents } else { FileCacheKind::Descriptor };
                for arg in raw {
                    let path = self.path(arg);
                    self.cache_file(path, kind, origin);
                }
                Ok(())
            }

            // --- mod_ssl ---
            "sslengine" => {
                server(self)?;
                let on = match one_arg(n, args)?.to_ascii_lowercase().as_str() {
                    "on" => true,
                    "off" => false,
                    "optional" => return Err("SSLEngine optional (TLS upgrade of a plain connection) is not supported by mpmd; use SSLEngine on".into()),
                    other => return Err(format!("SSLEngine must be on or off, not '{other}'")),
                };
                self.host(scope.host).ssl.engine = Some(on);
                Ok(())
            }
            "sslcertificatefile" => {
                server(self)?;
                let path = self.path(one_arg(n, raw)?);
                let ssl = &mut self.host(scope.host).ssl;
                ssl.cert_file = Some(path);
                ssl.cert_origin = Some(origin.clone());
                Ok(())
            }
            "sslcertificatekeyfile" => {
                server(self)?;
                let path = self.path(one_arg(n, raw)?);
                self.host(scope.host).ssl.key_file = Some(path);
                Ok(())
            }
            "sslcertificatechainfile" => Err(
                "SSLCertificateChainFile is obsolete (as in Apache 2.4.8+): append the chain to the SSLCertificateFile, after the server's certificate".into(),
            ),
            "sslprotocol" => {
                server(self)?;
                let words: Vec<&str> = args.iter().map(String::as_str).collect();
                if words.is_empty() {
                    return Err("SSLProtocol takes protocols, e.g. SSLProtocol -all +TLSv1.2 +TLSv1.3".into());
                }
                self.host(scope.host).ssl.protocols = Some(mpm::net::tls::parse_protocols(&words)?);
                Ok(())
            }
            "sslciphersuite" => {
                server(self)?;
                let (tls13, spec) = match args {
                    [spec] => (false, spec.as_str()),
                    [proto, spec] if proto.eq_ignore_ascii_case("SSL") => (false, spec.as_str()),
                    [proto, spec] if proto.eq_ignore_ascii_case("TLSv1.3") => (true, spec.as_str()),
                    _ => return Err("SSLCipherSuite takes [SSL|TLSv1.3] and a cipher list, e.g. SSLCipherSuite ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256".into()),
                };
                let suites = mpm::net::tls::parse_cipher_suites(spec)?;
                let is13 = |s: &&str| !s.contains("_WITH_");
                if tls13 && !suites.iter().all(is13) {
                    return Err(format!("SSLCipherSuite TLSv1.3 {spec}: only TLSv1.3 suites (TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256) belong here"));
                }
                let ssl = &mut self.host(scope.host).ssl;
                // The two forms set the suites of their protocols: keep the
                // other form's.
                let mut all: Vec<&'static str> = ssl
                    .cipher_suites
                    .take()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|s| is13(s) != tls13)
                    .collect();
                all.extend(suites);
                ssl.cipher_suites = Some(all);
                Ok(())
            }
            "sslhonorcipherorder" => {
                server(self)?;
                self.host(scope.host).ssl.honor_cipher_order = Some(on_off(n, one_arg(n, args)?)?);
                Ok(())
            }
            "sslsessiontickets" => {
                global(self)?;
                self.ssl_session_tickets = on_off(n, one_arg(n, args)?)?;
                Ok(())
            }
            "sslsessioncache" => {
                global(self)?;
                let value = one_arg(n, args)?.to_ascii_lowercase();
                self.ssl_session_cache = value != "none";
                Ok(())
            }
            "sslsessioncachetimeout" => {
                server(self)?;
                seconds(n, one_arg(n, args)?)?;
                Ok(())
            }
            "sslrandomseed" => {
                global(self)?;
                Ok(())
            }
            "sslpassphrasedialog" => {
                global(self)?;
                if !one_arg(n, args)?.eq_ignore_ascii_case("builtin") {
                    return Err("SSLPassPhraseDialog: mpmd reads only unencrypted keys; only `builtin` is accepted".into());
                }
                Ok(())
            }
            "sslcompression" | "sslinsecurerenegotiation" => {
                server(self)?;
                if on_off(n, one_arg(n, args)?)? {
                    return Err(format!("{n} on is not supported (insecure); mpmd never enables it"));
                }
                Ok(())
            }
            _ if lower.starts_with("ssl") => Err(format!(
                "{n} is not supported by mpmd's mod_ssl (rustls); it knows SSLEngine, SSLCertificateFile, SSLCertificateKeyFile, SSLProtocol, SSLCipherSuite, SSLHonorCipherOrder, SSLSessionTickets, SSLSessionCache, SSLSessionCacheTimeout, SSLRandomSeed, SSLPassPhraseDialog builtin, SSLCompression off"
            )),
            _ => Err(format!(
                "Invalid command '{n}', perhaps misspelled or defined by a module not included in the server configuration"
            )),
        }
    }

    /// Add `path` to the files mod_file_cache loads, or warn and skip it
    /// (as Apache): missing, not a regular file, or named already.
    fn cache_file(&mut self, path: PathBuf, kind: FileCacheKind, origin: &Origin) {
        let name = kind.directive();
        match std::fs::metadata(&path) {
            Err(e) => self.warn(
                origin,
                format_args!("{name}: unable to stat({}), skipping: {e}", path.display()),
            ),
            Ok(meta) if !meta.is_file() => self.warn(
                origin,
                format_args!("{name}: {} isn't a regular file, skipping", path.display()),
            ),
            Ok(_) => match self.cached_files.iter().find(|c| c.path == path) {
                Some(first) => {
                    let message = format!(
                        "{name}: {} is already cached ({} at {}), skipping",
                        path.display(),
                        first.kind.directive(),
                        first.origin
                    );
                    self.warn(origin, message);
                }
                None => self.cached_files.push(CachedFile {
                    path,
                    kind,
                    origin: origin.clone(),
                }),
            },
        }
    }

    fn mpm_number(
        &mut self,
        name: &str,
        args: &[String],
        scope: Scope,
        set: impl FnOnce(&mut MpmConfig, u32),
    ) -> Res<()> {
        self.allow(name, Allowed::Global, scope)?;
        let value = number(name, one_arg(name, args)?)?;
        set(&mut self.mpm, value);
        Ok(())
    }

    fn load_module(&mut self, module: &str, origin: &Origin) -> Res<()> {
        let compiled = &self.opts.compiled_mpms;
        if let Some(mpm) = module
            .strip_suffix("_module")
            .and_then(|_| modules::mpm_of(module))
        {
            if !compiled.contains(&mpm) {
                return Err(format!(
                    "Cannot load module {module}: the {mpm} MPM is not compiled into mpmd; compiled in: {}",
                    compiled.join(", ")
                ));
            }
            return match &self.mpm_name {
                Some(loaded) if loaded == mpm => {
                    self.warn(origin, format_args!("module {module} is already loaded, skipping"));
                    Ok(())
                }
                Some(loaded) => Err(format!(
                    "Only one MPM can be loaded: mpm_{loaded}_module is loaded already, so {module} cannot be"
                )),
                None => {
                    self.mpm_name = Some(mpm.to_string());
                    Ok(())
                }
            };
        }
        if module.starts_with("mpm_") && module.ends_with("_module") {
            return Err(format!(
                "Cannot load module {module}: there is no such MPM; compiled in: {}",
                compiled.join(", ")
            ));
        }
        if modules::built_in(module).is_some() {
            self.warn(
                origin,
                format_args!("module {module} is built-in and can't be loaded"),
            );
            return Ok(());
        }
        let list: Vec<String> = modules::compiled_modules(compiled)
            .into_iter()
            .map(|m| m.id)
            .collect();
        Err(format!(
            "Cannot load module {module}: mpmd has no loadable modules; compiled in: {}",
            list.join(", ")
        ))
    }

    /// `Include` / `IncludeOptional` of `pattern` (a file, a directory, or
    /// a wildcard), read at `scope`; refused under [`IncludePolicy::Refuse`].
    fn include(
        &mut self,
        name: &str,
        pattern: &OsStr,
        optional: bool,
        origin: &Origin,
        scope: Scope,
    ) -> Result<(), ConfigError> {
        let here = |message: String| ConfigError {
            origin: Some(origin.clone()),
            message,
        };
        if self.includes == IncludePolicy::Refuse {
            return Err(here(format!(
                "{name} is refused: this configuration is read from bytes alone, with includes turned off"
            )));
        }
        let target = self.path(pattern);
        let files = if pattern.as_bytes().iter().any(|b| b"*?[".contains(b)) {
            // The glob crate matches text: a wildcard needs UTF-8.
            let (Some(text), Some(root)) = (pattern.to_str(), self.server_root.to_str()) else {
                return Err(here(format!(
                    "{name} {}: a wildcard path must be UTF-8 text (name the file or directory instead)",
                    lossy(pattern.as_bytes())
                )));
            };
            // The ServerRoot part is literal even if it holds `[` or `*`.
            let text = if Path::new(text).is_absolute() {
                text.to_string()
            } else {
                format!("{}/{text}", glob::Pattern::escape(root))
            };
            let entries =
                glob::glob(&text).map_err(|e| here(format!("{name} {text}: bad wildcard: {e}")))?;
            let mut files = Vec::new();
            for entry in entries {
                let path = entry.map_err(|e| here(format!("{name} {text}: {e}")))?;
                files.extend(include::files_in(&path).map_err(|e| here(format!("{name}: {e}")))?);
            }
            if files.is_empty() && !optional {
                return Err(here(format!(
                    "{name}: no file matches the wildcard '{}' (use IncludeOptional to allow none)",
                    target.display()
                )));
            }
            files
        } else if target.exists() {
            include::files_in(&target).map_err(|e| here(format!("{name}: {e}")))?
        } else if optional {
            Vec::new()
        } else {
            return Err(here(format!(
                "{name}: could not open '{}': No such file or directory",
                target.display()
            )));
        };
        for file in files {
            self.include_file(name, &file, origin, scope)?;
        }
        Ok(())
    }

    /// Read one included file at `scope`: refused when it is already being
    /// read (a cycle, by canonical path), when includes or sections nest
    /// too deeply, and when it is not a regular file or too large.
    fn include_file(
        &mut self,
        name: &str,
        file: &Path,
        origin: &Origin,
        scope: Scope,
    ) -> Result<(), ConfigError> {
        let here = |message: String| ConfigError {
            origin: Some(origin.clone()),
            message,
        };
        let canonical = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
        if self.include_stack.contains(&canonical) {
            let chain: Vec<String> = self
                .include_stack
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            return Err(here(format!(
                "{name} recursion: '{}' includes itself (chain: {} -> {})",
                file.display(),
                chain.join(" -> "),
                canonical.display()
            )));
        }
        if self.include_stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(here(format!(
                "{name} nested more than {MAX_INCLUDE_DEPTH} levels deep"
            )));
        }
        if self.depth + 1 >= lexer::MAX_NESTING {
            return Err(here(lexer::too_deep(name)));
        }
        let text = include::read_file(file).map_err(|e| here(format!("{name}: {e}")))?;
        self.count_bytes(text.len(), file)
            .map_err(|e| here(format!("{name}: {e}")))?;
        self.depth += 1;
        let nodes = lexer::parse(&text, file, 1, self.depth);
        let result = nodes.and_then(|nodes| {
            self.include_stack.push(canonical);
            let walked = self.walk(&nodes, scope);
            self.include_stack.pop();
            walked
        });
        self.depth -= 1;
        result
    }

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
        let main = finish_host(&self.main, None, formats, &default_root)?;
        let vhosts = self
            .vhosts
            .iter()
            .map(|h| finish_host(h, Some(&main), formats, &default_root))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ServerConfig {
            listens: self.listens.into_iter().map(|(l, _)| l).collect(),
            mpm_name: self.mpm_name,
            mpm: self.mpm,
            protocol: self.protocol,
            pid_file: self
                .pid_file
                .unwrap_or_else(|| self.server_root.join("logs/mpmd.pid")),
            server_root: self.server_root,
            error_log: self.error_log,
            log_level: self.log_level,
            main_server: main,
            vhosts,
            warnings: self.warnings,
            add_types: self.add_types,
            ssl_session_tickets: self.ssl_session_tickets,
            ssl_session_cache: self.ssl_session_cache,
            cached_files: self.cached_files,
        })
    }
}

/// A host's settings with what it does not set taken from `main` (for a
/// virtual host): the main server's `Alias` and `Redirect` rules after its
/// own, its `<Directory>` and `<Location>` blocks after the main server's
/// (so they win, as in Apache).
fn finish_host(
    host: &Host,
    main: Option<&VirtualHost>,
    (formats, default_format): (&HashMap<String, String>, &str),
    default_root: &Path,
) -> Result<VirtualHost, ConfigError> {
    let mut custom_logs = Vec::new();
    for (path, format, origin) in &host.custom_logs {
        let format = match format {
            LogFmt::Default => default_format.to_string(),
            LogFmt::Given(f) => match formats.get(f) {
                Some(f) => f.clone(),
                None if f.contains('%') => f.clone(),
                None => {
                    return Err(ConfigError {
                        origin: Some(origin.clone()),
                        message: format!(
                            "CustomLog: unknown LogFormat nickname '{f}' (define it with LogFormat \"...\" {f}, or use common or combined)"
                        ),
                    })
                }
            },
        };
        custom_logs.push(CustomLog {
            path: path.clone(),
            format,
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
        directory_index: host
            .directory_index
            .clone()
            .or_else(|| main.map(|m| m.directory_index.clone()))
            .unwrap_or_else(|| vec!["index.html".to_string()]),
        aliases: chain(&host.aliases, main.map_or(&[][..], |m| &m.aliases)),
        redirects: chain(&host.redirects, main.map_or(&[][..], |m| &m.redirects)),
        directories: chain(main.map_or(&[][..], |m| &m.directories), &host.directories),
        locations: chain(main.map_or(&[][..], |m| &m.locations), &host.locations),
        custom_logs: if custom_logs.is_empty() {
            main.map(|m| m.custom_logs.clone()).unwrap_or_default()
        } else {
            custom_logs
        },
        server_admin: inherit(&host.server_admin, |m| &m.server_admin),
        ssl: merge_ssl(&host.ssl, main.map(|m| &m.ssl)),
        origin: host.origin.clone(),
    })
}

/// A virtual host's mod_ssl settings, each unset one the main server's.
fn merge_ssl(own: &SslSettings, main: Option<&SslSettings>) -> SslSettings {
    let Some(main) = main else {
        return own.clone();
    };
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

/// Remove `.` and resolve `..` without touching the file system.
pub(super) fn normalize(path: &Path) -> PathBuf {
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

fn where_(scope: Scope) -> &'static str {
    match scope.block {
        Block::Directory(_) => "<Directory>",
        Block::Location(_) => "<Location>",
        Block::HtFiles => "<Files>",
        Block::None if scope.host != HostSel::Main => "<VirtualHost>",
        Block::None => "the main server",
    }
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_are_capped_per_file_and_in_all() {
        let opts = LoadOptions::default();
        let file = Path::new("/etc/a.conf");
        let mut loader = Loader::new(&opts, "/".into(), file, IncludePolicy::Follow);
        let one = MAX_FILE_SIZE as usize;
        let e = loader.count_bytes(one + 1, file).unwrap_err();
        assert!(e.contains("'/etc/a.conf' is larger than 16 MiB"), "{e}");
        for _ in 0..MAX_TOTAL_SIZE / MAX_FILE_SIZE {
            loader.count_bytes(one, file).expect("within the total");
        }
        let e = loader.count_bytes(1, file).unwrap_err();
        assert!(
            e.contains("takes the configuration past 256 MiB in all"),
            "{e}"
        );
    }
}
