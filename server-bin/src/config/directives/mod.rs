//! The meaning of each directive: walking the parsed tree (sections,
//! conditionals, includes) and filling a [`ServerConfig`].
//!
//! This module walks the tree: the sections (`<IfModule>`, `<IfDefine>`,
//! `<IfVersion>`, `<VirtualHost>`, `<Directory>`, `<DirectoryMatch>`,
//! `<Location>`, `<LocationMatch>`, `<Files>`, `<FilesMatch>`, `<If>`,
//! `<ElseIf>`, `<Else>`) and
//! `Include` are read here. A section's directives set its
//! `mpm_site::pipeline::DirConfig` (`State::dir_config`); `<Files>` written
//! inside `<Directory>` (or a `.htaccess`) is nested in its config, as
//! Apache keeps it. `.htaccess` files are read by the same walker
//! ([`htaccess`]), each directive checked against its `AllowOverride`
//! class. Each directive is applied to the loader's
//! [`State`] by its family, one file each:
//!
//! - [`server_wide`]: finds the directives that take one value for the
//!   whole server in the families' tables (name → setter);
//! - [`server`]: the core's own: `Define`, `Listen`, `ServerRoot`,
//!   `LoadModule`, `PidFile`, `User`, `Group` and the core directives
//!   accepted for compatibility;
//! - [`mpm_common`]: the MPM directives, a table;
//! - [`protocol`]: `KeepAlive*`, `Timeout`, `RequestReadTimeout`,
//!   `LimitRequest*`, `ServerTokens`;
//! - [`logging`]: `ErrorLog`, `LogLevel`, `LogFormat`, `CustomLog`;
//! - [`site`]: what a host serves and answers to: `ServerName`,
//!   `DocumentRoot`, `DirectoryIndex`, `Alias`, `Redirect`, `AddType`
//!   (the main server's is the whole server's type table; elsewhere it
//!   applies to what the section holds);
//! - [`access`]: per-directory access and handling: `Options`,
//!   `AllowOverride`, `AllowOverrideList`, `SetHandler`, `AddHandler`,
//!   `RemoveHandler`;
//! - [`auth`]: `Require` and `<RequireAny|All|None>` (mod_authz_core),
//!   `AuthType`, `AuthName`, `AuthBasicProvider`, `AuthUserFile`,
//!   `AuthGroupFile` (mod_auth_basic, mod_authn_file, mod_authz_groupfile);
//! - [`htaccess`]: `.htaccess` files: which `AllowOverride` class each
//!   directive needs, and the parser the site is given;
//! - [`mime`]: mod_mime's `AddCharset`, `AddEncoding`, `AddLanguage`,
//!   `Remove…`, `ForceType`, `TypesConfig`, `AddDefaultCharset`;
//! - [`core_dir`]: `ErrorDocument`, `FileETag`, `ServerSignature`,
//!   mod_dir's `DirectorySlash` and `FallbackResource`; `TraceEnable`,
//!   `AccessFileName`, `LimitInternalRecursion`;
//! - [`env`]: mod_env and mod_setenvif;
//! - [`autoindex`]: mod_autoindex's `IndexIgnore`, `IndexOptions`,
//!   `HeaderName`, `ReadmeName`;
//! - [`file_cache`]: `MMapFile`, `CacheFile`;
//! - [`ssl`]: mod_ssl's directives;
//! - [`remoteip`]: mod_remoteip's: the PROXY protocol, `RemoteIPHeader`
//!   and the trusted proxies;
//! - [`h2`]: the core's `Protocols`, `ProtocolsHonorOrder` and
//!   mod_http2's `H2*`;
//! - [`rewrite`]: mod_rewrite's: `RewriteEngine`, `RewriteRule`,
//!   `RewriteCond`, `RewriteBase`, `RewriteOptions`, `RewriteMap`;
//! - [`proxy`]: mod_proxy's: `ProxyPass`, `ProxyPassMatch`,
//!   `ProxyPassReverse*` and the proxy's settings;
//! - [`filters`]: mod_headers, mod_expires, and the compressing output
//!   filters (mod_deflate, mod_brotli) with mod_filter's
//!   `AddOutputFilterByType`;
//! - [`cgi`]: mod_cgi's `CGIScriptTimeout`; `CGIPassAuth` and `ProxyFCGISetEnvIf`;
//! - [`fcgid`]: mod_fcgid's pool, with the legacy names of its
//!   directives;
//! - [`merge`]: the end of reading: virtual hosts merged with the main
//!   server, log formats resolved.
//!
//! [`state`] holds what they share; it knows neither the walker nor a
//! family, and a family knows no other family.
//!
//! Directives accepted with no effect in `mpmd` (documented so `-t` users
//! know): `MaxMemFree`, `ThreadStackSize`, `ReceiveBufferSize`,
//! `SendBufferSize`, `ScoreBoardFile`, `CoreDumpDirectory`,
//! `EnableExceptionHook`, `Mutex`, `DefaultRuntimeDir`, `UseCanonicalName`,
//! `EnableSendfile`, `EnableMMAP`, `HostnameLookups Off` (silently);
//! `DefaultType`, `NameVirtualHost`, per-host `ErrorLog`/`LogLevel`, and the
//! `Options` `ExecCGI`, `Includes`, `IncludesNOEXEC`, `MultiViews`,
//! `SymLinksIfOwnerMatch` (with a warning).
//!
//! Stricter than Apache: `KeepAlive*`, `Timeout`, `RequestReadTimeout`
//! and `LimitRequest*` are main-server settings only (mpmd has one
//! protocol configuration); `Alias` and `Redirect` are server or
//! `<VirtualHost>` settings; `<Directory>` takes no wildcards (use
//! `<DirectoryMatch>`). A handler name no module of mpmd provides
//! (`SetHandler`, `AddHandler`) is a warning, and a 500 for the requests
//! it is chosen for, as in Apache.
//!
//! `MMapFile` and `CacheFile` (mod_file_cache) are main-server settings,
//! as in Apache; a named file that is missing or not a regular file is a
//! warning and is left out, so the server starts without it.

mod access;
mod auth;
mod autoindex;
mod cgi;
mod core_dir;
mod env;
mod fcgid;
mod file_cache;
mod filters;
mod h2;
mod htaccess;
mod includes;
mod logging;
mod merge;
mod mime;
mod mpm_common;
mod protocol;
mod proxy;
mod remoteip;
mod rewrite;
mod server;
mod server_wide;
mod site;
mod ssl;
mod state;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::error::ConfigError;
use super::include::{self, MAX_FILE_SIZE, MAX_TOTAL_SIZE};
use super::lexer::{self, lossy, Node};
use super::modules;
use super::options::{IncludePolicy, LoadOptions};
use super::server_config::ServerConfig;
use super::values::{if_version, negation, one_arg, parse_vhost_addr, Res};
use std::sync::Arc;

use mpm_site::config::Origin;
use mpm_site::pipeline::{Overrides, Pattern, Section, SectionKind};
use state::{where_, Allowed, Block, Directive, Host, HostSel, Scope, State};

pub use htaccess::HtaccessContext;
pub(super) use state::normalize;

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
        | "authuserfile"
        | "authgroupfile"
        | "<directory>" => index == 0,
        "alias" | "scriptalias" | "define" => index == 1,
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

/// A family's directives: `None` when `d` is none of them, else what
/// applying it gave.
type Family = fn(&mut State<'_>, &Directive<'_>) -> Option<Res<()>>;

/// The walker: the state the directives fill, and what reading the files
/// needs (the includes being read, how deep, how much).
pub(super) struct Loader<'a> {
    state: State<'a>,
    include_stack: Vec<PathBuf>,
    includes: IncludePolicy,
    /// Sections and `Include`s around the node being read (see
    /// `lexer::MAX_NESTING`).
    depth: usize,
    /// Bytes of configuration read so far, every file each time it is
    /// included (at most `MAX_TOTAL_SIZE`).
    bytes_read: u64,
}

impl<'a> Loader<'a> {
    /// A reader with nothing read yet, relative paths against `server_root`.
    pub(super) fn new(
        opts: &'a LoadOptions,
        server_root: PathBuf,
        main_file: &Path,
        includes: IncludePolicy,
    ) -> Self {
        Loader {
            state: State::new(opts, server_root, main_file),
            include_stack: Vec::new(),
            includes,
            depth: 0,
            bytes_read: 0,
        }
    }

    /// `Define name value` before reading (for the built-in configuration).
    pub(super) fn define(&mut self, name: &str, value: &OsStr) {
        self.state.defined.insert(name.to_string());
        self.state
            .vars
            .insert(name.to_string(), value.to_os_string());
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
                Node::Directive {
                    name,
                    args,
                    rest,
                    origin,
                } => {
                    let here = |message| ConfigError::at(origin, message);
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
                    let lower = name.to_ascii_lowercase();
                    let rest = self.expand(rest, origin);
                    let directive = Directive {
                        name,
                        lower: &lower,
                        args: &args,
                        raw: &raw,
                        rest: &rest,
                        origin,
                        scope,
                    };
                    self.directive(&directive).map_err(here)?;
                }
                Node::Section {
                    name,
                    args,
                    origin,
                    children,
                } => {
                    let raw: Vec<OsString> = args.iter().map(|a| self.expand(a, origin)).collect();
                    let args = text_args(&format!("<{name}>"), &raw)
                        .map_err(|message| ConfigError::at(origin, message))?;
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
                self.state
                    .vars
                    .get(name)
                    .cloned()
                    .or_else(|| std::env::var_os(name))
            });
            match value {
                Some(value) => out.extend_from_slice(value.as_bytes()),
                None => {
                    self.state.warnings.push(format!(
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

    /// One section (`<name args>` … `</name>`): a conditional reads its
    /// children or not, a block reads them in its own scope.
    fn section(
        &mut self,
        name: &str,
        args: &[String],
        raw: &[OsString],
        origin: &Origin,
        children: &[Node],
        scope: Scope,
    ) -> Result<(), ConfigError> {
        let fail = |message| ConfigError::at(origin, message);
        let lower = name.to_ascii_lowercase();
        if self.state.limited.is_some()
            && matches!(
                lower.as_str(),
                "virtualhost"
                    | "directory"
                    | "directorymatch"
                    | "location"
                    | "locationmatch"
                    | "files"
                    | "filesmatch"
                    | "if"
                    | "elseif"
                    | "else"
                    | "proxy"
                    | "proxymatch"
            )
        {
            return Err(fail(format!("<{name}> {}", state::NOT_IN_LIMIT)));
        }
        match lower.as_str() {
            "ifmodule" => {
                let (negate, module) = negation(one_arg("<IfModule>", args).map_err(fail)?);
                let present = modules::is_present(module, &self.state.opts.compiled_mpms, self.state.mpm_name.as_deref());
                if present != negate {
                    self.walk(children, scope)?;
                }
                Ok(())
            }
            "ifdefine" => {
                let (negate, param) = negation(one_arg("<IfDefine>", args).map_err(fail)?);
                if self.state.defined.contains(param) != negate {
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
                self.state.vhosts.push(Host {
                    addrs,
                    origin: origin.clone(),
                    ..Host::default()
                });
                let host = HostSel::Vhost(self.state.vhosts.len() - 1);
                self.walk(children, Scope {
                    host,
                    block: Block::None,
                })
            }
            "directory" | "directorymatch" => {
                self.block_allowed(&format!("<{name}>"), scope).map_err(fail)?;
                let plain = match regex_section(name, "directorymatch", args).map_err(fail)? {
                    Some(re) => SectionKind::DirectoryMatch(re),
                    None => {
                        let dir = one_arg("<Directory>", args).map_err(fail)?;
                        if dir.contains(['*', '?', '[']) {
                            return Err(fail(format!(
                                "<Directory {dir}>: wildcards are not supported by mpmd; give a directory path, or use <DirectoryMatch>"
                            )));
                        }
                        SectionKind::Directory(self.state.path(&raw[0]))
                    }
                };
                self.section_body(plain, origin, children, scope, Block::Directory)
            }
            "location" | "locationmatch" => {
                self.block_allowed(&format!("<{name}>"), scope).map_err(fail)?;
                let kind = match regex_section(name, "locationmatch", args).map_err(fail)? {
                    Some(re) => SectionKind::LocationMatch(re),
                    None => SectionKind::Location(one_arg("<Location>", args).map_err(fail)?.to_string()),
                };
                self.section_body(kind, origin, children, scope, Block::Location)
            }
            "files" | "filesmatch" => {
                if !matches!(scope.block, Block::None | Block::Directory | Block::Htaccess) {
                    return Err(fail(format!(
                        "<{name}> cannot occur within {}; it belongs at server level, in <VirtualHost>, <Directory> or .htaccess",
                        where_(scope)
                    )));
                }
                let kind = match regex_section(name, "filesmatch", args).map_err(fail)? {
                    Some(re) => SectionKind::FilesMatch(re),
                    None => SectionKind::Files(one_arg("<Files>", args).map_err(fail)?.to_string()),
                };
                self.section_body(kind, origin, children, scope, Block::Files)
            }
            "if" | "elseif" | "else" => {
                if matches!(scope.block, Block::Proxy(_)) {
                    return Err(fail(format!("<{name}> cannot occur within <Proxy>")));
                }
                let lower = name.to_ascii_lowercase();
                let kind = if lower == "else" {
                    if !args.is_empty() {
                        return Err(fail("<Else> takes no arguments".into()));
                    }
                    SectionKind::Else
                } else {
                    if args.is_empty() {
                        return Err(fail(format!("<{name}> takes an expression: <{name} \"%{{REQUEST_URI}} == '/x'\">")));
                    }
                    let condition = mpm_site::pipeline::expr::parse(&args.join(" "))
                        .map_err(|e| fail(format!("<{name}>: {e}")))?;
                    if lower == "if" {
                        SectionKind::If(condition)
                    } else {
                        SectionKind::ElseIf(condition)
                    }
                };
                if lower != "if" {
                    let previous = match self.state.open.last() {
                        Some(parent) => parent.config.nested.last().map(|s| s.kind.clone()),
                        None => self.state.host(scope.host).sections.last().map(|s| s.kind.clone()),
                    };
                    if !matches!(previous, Some(SectionKind::If(_) | SectionKind::ElseIf(_))) {
                        return Err(fail(format!(
                            "<{name}> section without previous <If> or <ElseIf> section in same scope"
                        )));
                    }
                }
                self.section_body(kind, origin, children, scope, Block::If)
            }
            "proxy" => {
                let which = proxy::open_proxy(&mut self.state, args, origin, scope).map_err(fail)?;
                self.walk(children, Scope {
                    host: scope.host,
                    block: Block::Proxy(which),
                })
            }
            "proxymatch" => Err(fail(format!(
                "<{name}> is not supported by mpmd; only <Proxy balancer://name> (a balancer's members) and <Proxy url> of a backend (its ProxySet parameters) are"
            ))),
            lower @ ("requireall" | "requireany" | "requirenone") => {
                // In .htaccess, under AllowOverride AuthConfig, as `Require`.
                if let Some(rules) = &self.state.htaccess {
                    htaccess::allowed(rules, &format!("<{name}>"), lower).map_err(fail)?;
                }
                let kind = auth::Container::of(lower).unwrap_or(auth::Container::Any);
                let limit = self.state.limited.clone();
                let htaccess = self.state.htaccess.is_some();
                let rule = auth::container(kind, auth::Container::Any, origin, children, limit.as_ref(), htaccess, &mut |a, o| {
                    self.expand(a, o)
                })?;
                auth::section(&mut self.state, kind, scope, origin, rule)
            }
            lower @ ("limit" | "limitexcept") => {
                // In .htaccess under AllowOverride Limit or AuthConfig
                // (Apache's OR_LIMIT | OR_AUTHCFG).
                if let Some(rules) = &self.state.htaccess {
                    let by_class = rules.overrides.contains(Overrides::LIMIT)
                        || rules.overrides.contains(Overrides::AUTH_CONFIG);
                    if !by_class && !rules.list.iter().any(|l| l == lower) {
                        return Err(fail(format!("<{name}> not allowed here")));
                    }
                }
                self.state
                    .allow(&format!("<{name}>"), Allowed::Section, scope)
                    .map_err(fail)?;
                let except = lower == "limitexcept";
                let htaccess = self.state.htaccess.is_some();
                let narrowed = auth::limit_section(except, args, self.state.limited.as_ref(), htaccess)
                    .map_err(fail)?;
                let outer = self.state.limited.replace(narrowed);
                let walked = self.walk(children, scope);
                self.state.limited = outer;
                walked
            }
            "macro" => Err(fail(format!(
                "<{name}> is not supported by mpmd"
            ))),
            _ => Err(fail(format!(
                "Invalid command '<{name}>', perhaps misspelled or defined by a module not included in the server configuration"
            ))),
        }
    }

    /// Read a section's `children` with the section open (its directives
    /// set its config), then put it where it belongs: a `<Files>` or
    /// `<If>` inside another section into that one's nested sections,
    /// anything else into the host's sections.
    fn section_body(
        &mut self,
        kind: SectionKind,
        origin: &Origin,
        children: &[Node],
        scope: Scope,
        block: Block,
    ) -> Result<(), ConfigError> {
        let section = Section {
            origin: origin.clone(),
            ..Section::new(kind)
        };
        self.state.open.push(section);
        let walked = self.walk(
            children,
            Scope {
                host: scope.host,
                block,
            },
        );
        let Some(section) = self.state.open.pop() else {
            return walked;
        };
        walked?;
        match self.state.open.last_mut() {
            Some(parent) => parent.config.nested.push(Arc::new(section)),
            None => self.state.host(scope.host).sections.push(section),
        }
        Ok(())
    }

    /// A block section (`what`) may not be written inside another block.
    fn block_allowed(&self, what: &str, scope: Scope) -> Res<()> {
        if scope.block != Block::None {
            return Err(format!(
                "{what} cannot occur within {}; it belongs at server level or in <VirtualHost>",
                where_(scope)
            ));
        }
        Ok(())
    }

    /// Apply one directive: a one-value, server-wide one by its setter
    /// ([`server_wide`]), any other by the family that knows it.
    fn directive(&mut self, d: &Directive<'_>) -> Res<()> {
        if let Some(rules) = &self.state.htaccess {
            htaccess::allowed(rules, d.name, d.lower)?;
        }
        if let Some(set) = server_wide::setter(d.lower) {
            self.state.global(d)?;
            return set(&mut self.state, d.name, one_arg(d.name, d.args)?);
        }
        let families: &[Family] = &[
            server::directive,
            protocol::directive,
            logging::directive,
            site::directive,
            access::directive,
            mime::directive,
            core_dir::directive,
            env::directive,
            cgi::directive,
            autoindex::directive,
            auth::directive,
            file_cache::directive,
            ssl::directive,
            remoteip::directive,
            proxy::directive,
            filters::directive,
            fcgid::directive,
            h2::directive,
            rewrite::directive,
        ];
        for family in families {
            if let Some(applied) = family(&mut self.state, d) {
                return applied;
            }
        }
        Err(format!(
            "Invalid command '{}', perhaps misspelled or defined by a module not included in the server configuration",
            d.name
        ))
    }

    /// The configuration read ([`State::finish`]).
    pub(super) fn finish(self) -> Result<ServerConfig, ConfigError> {
        self.state.finish()
    }
}

/// The regular expression of a section written `<xMatch regex>` (`name`
/// is `matching`) or `<x ~ regex>`, compiled (bounded in size); `None`
/// for the plain form `<x one-argument>`, which the caller reads.
fn regex_section(name: &str, matching: &str, args: &[String]) -> Res<Option<Pattern>> {
    let compile = |what: String, source: &str| {
        Pattern::new(source, false)
            .map(Some)
            .map_err(|e| format!("{what}: {e}"))
    };
    if name.eq_ignore_ascii_case(matching) {
        return compile(format!("<{name}>"), one_arg(name, args)?);
    }
    match args {
        [tilde, re] if tilde == "~" => compile(format!("<{name} ~>"), re),
        [_, _, ..] => Err(format!(
            "<{name}> takes one argument, or ~ and a regular expression"
        )),
        _ => Ok(None),
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
