//! # mpm-site
//!
//! The handlers of an Apache-like site, for a program that embeds `mpm`
//! and for `mpmd`, which wires them from Apache's configuration syntax.
//! One [`Site`] serves a whole [`SiteConfig`]: virtual hosts, static files
//! (with `ETag`s, conditional requests and byte ranges), files kept in
//! memory, directory listings, `Require`, a reverse proxy (`ProxyPass`),
//! mod_status's page, Prometheus
//! metrics and access logs in mod_log_config's formats. Each part takes a typed
//! configuration ([`config`]), named for the Apache directive it stands
//! for; nothing here reads a configuration file.
//!
//! ## Serving a directory, with a status page and an access log
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::SystemTime;
//!
//! use mpm::strategy::{Control, Listeners, RunContext, Scoreboard};
//! use mpm::MpmConfig;
//! use mpm_site::pipeline::{DirConfig, HandlerName, Section, SectionKind};
//! use mpm_site::{CustomLog, Require, Site, SiteConfig, StatusInfo, VirtualHost};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // A directory, mod_status's page for local clients, a combined log.
//!     let mut www = VirtualHost::new("/srv/www");
//!     let status_page = DirConfig {
//!         handler: Some(HandlerName::ServerStatus),
//!         require: Some(Require::Local),
//!         ..DirConfig::default()
//!     };
//!     www.sections.push(
//!         Section::new(SectionKind::Location("/server-status".into())).with(status_page),
//!     );
//!     www.custom_logs.push(CustomLog::combined("/var/log/www/access_log"));
//!
//!     // A strategy, and the scoreboard it fills for the status page.
//!     let mut mpm = mpm::by_name(mpm::default_strategy()).ok_or("no strategy")?;
//!     let (mpm_config, _warnings) = mpm.check_config(&MpmConfig::default());
//!     let (procs, threads) = mpm.scoreboard_shape(&mpm_config);
//!     let scoreboard = Scoreboard::new(procs, threads)?;
//!     let status = StatusInfo {
//!         server_version: "www/1.0".into(),
//!         mpm: mpm.info(),
//!         built: "2026-01-01".into(),
//!         started: SystemTime::now(),
//!         server_name: "www.example".into(),
//!     };
//!     let site = Site::new(&SiteConfig::new(www), scoreboard.clone(), Arc::new(status))?;
//!
//!     // Listen and serve until SIGTERM.
//!     let listeners = Listeners::bind(&["127.0.0.1:8080".parse()?], mpm_config.directives().listen_backlog)?;
//!     let control = Control::new()?;
//!     control.install_signals()?;
//!     mpm.run(RunContext {
//!         listeners: &listeners,
//!         factory: mpm::shared_factory(Arc::new(site)),
//!         protocol: Arc::default(),
//!         mpm: &mpm_config,
//!         control: &control,
//!         scoreboard: &scoreboard,
//!         master: &mpm::strategy::Master::new(),
//!     })?;
//!     Ok(())
//! }
//! ```
//!
//! `examples/serve_dir.rs` in the repository is this program, runnable.
//!
//! ## Contents
//!
//! The handler and its configuration:
//!
//! - [`site`]: [`Site`], the [`Handler`](mpm_core::Handler) for a whole
//!   site: the host, then the request pipeline.
//! - [`pipeline`]: Apache's per-directory configuration (every section
//!   kind, merged in Apache's order, `.htaccess`), the request's state and
//!   the phases it goes through, handlers by name: where every module
//!   plugs in (`pipeline/README.md`).
//! - [`config`]: the typed configuration ([`SiteConfig`], [`VirtualHost`]
//!   and the sections and rules inside it).
//! - [`error`]: what can fail when a site is built.
//!
//! The parts, in the order a request meets them:
//!
//! - [`router`]: virtual-host selection, by address and then by name.
//! - [`uri_path`]: the request path decoded and normalised, or refused.
//! - [`require`]: `Require` and its containers, whether a client (and
//!   the user it authenticated as) may see a resource.
//! - [`auth`]: `AuthType Basic` with `AuthUserFile`/`AuthGroupFile`:
//!   Basic credentials, htpasswd hashes, the files read again on change.
//! - [`remote_ip`]: mod_remoteip's `RemoteIPHeader`: the client's address
//!   from `X-Forwarded-For`, as far as trusted proxies wrote it.
//! - [`static_files`]: the default handler: a file or a directory's
//!   listing; [`mime`] gives its content type,
//!   [`conditional`] decides 200, 206, 304, 412 or 416.
//! - [`proxy`]: mod_proxy's `ProxyPass` to HTTP/1.1 backends and
//!   FastCGI applications (`fcgi://`, php-fpm; TCP or Unix sockets), with
//!   a pool of kept-alive connections per backend and child; balancers
//!   (`balancer://`) whose members' state every child shares, their
//!   health checks and the `balancer-manager` page.
//! - [`cgi_script`]: mod_cgi, `cgi-script` (`ScriptAlias`, `AddHandler`
//!   with `Options ExecCGI`): a program started per request, its output
//!   read back as a CGI answer; [`script`] starts programs (environment,
//!   directory, process group, pipes read and written with a timeout, a
//!   reaper thread).
//! - [`fcgid`]: mod_fcgid, `fcgid-script`: FastCGI processes the server
//!   starts and keeps in a pool every serving process shares.
//! - [`rewrite`]: mod_rewrite, in server context (when the URL is
//!   mapped) and per directory (`<Directory>`, `.htaccess`).
//! - [`file_cache`]: `MMapFile` and `CacheFile`, files loaded once.
//! - [`memory_file`]: a file whose bytes and metadata are in memory
//!   (a kept file, an `MMapFile`), its whole answer's head made once.
//! - [`open_files`]: small static files kept in memory between requests
//!   and looked at again at most once a second (as nginx's
//!   `open_file_cache`), so a hot small file costs no `open`/`stat`/`close`.
//! - [`listing`]: `Options Indexes`, a directory's listing.
//! - [`pages`]: error pages, redirects, `OPTIONS` and 405/501.
//! - [`status`]: mod_status's page, from the scoreboard.
//! - [`metrics`]: the scoreboard and its lifetime counters in Prometheus's
//!   text format (`SetHandler metrics`), with apache_exporter's series.
//! - [`filters`]: around the handler, in Apache's order: [`headers`]
//!   (mod_headers' `RequestHeader` before it, `Header` after),
//!   [`expires`] (mod_expires), then [`compress`] (mod_deflate and
//!   mod_brotli: negotiated, streamed, whole files cached compressed).
//! - [`access_log`]: `CustomLog`, one line per exchange.
//!
//! The languages a configuration writes conditions in:
//!
//! - [`expr`]: Apache's expression syntax (ap_expr) for `<If>`,
//!   `Header … expr=`, `RewriteCond expr` and `Require expr`.
//! - [`vars`]: what an expression reads of a request (server variables,
//!   headers, env, files), one trait the rewrite engine shares.
//! - [`pcre`]: Apache's PCRE patterns on the linear-time `regex` crate.
//!
//! What mod_cgi, mod_fcgid and mod_proxy_fcgi share: [`cgi`], a script's
//! CGI/1.1 environment and its answer read back (RFC 3875); [`fastcgi`],
//! the FastCGI protocol's records and one request over a connection.
//!
//! What the logs share with `mpmd`'s error log: [`log_escape`] (bytes
//! from the network made safe for a log) and [`utc_time`].

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod access_log;
pub mod auth;
pub mod cgi;
pub mod cgi_script;
pub mod compress;
pub mod conditional;
pub mod config;
pub mod error;
pub mod expires;
pub mod expr;
pub mod fastcgi;
pub mod fcgid;
pub mod file_cache;
pub mod filters;
pub mod headers;
pub mod listing;
pub mod log_escape;
pub mod memory_file;
pub mod metrics;
pub mod mime;
pub mod open_files;
pub mod pages;
pub mod pcre;
pub mod pipeline;
pub mod proxy;
pub mod remote_ip;
pub mod require;
pub mod rewrite;
pub mod router;
pub mod script;
pub mod site;
pub mod static_files;
pub mod status;
pub mod uri_path;
pub mod utc_time;
mod validators;
pub mod vars;

pub use access_log::AccessLog;
pub use config::{
    AliasRule, CachedFile, CustomLog, FileCacheKind, IpNet, Options, OptionsSetting, Origin,
    RedirectRule, RemoteIpConfig, Require, RequireExpr, SiteConfig, TraceEnable, VhostAddr,
    VirtualHost,
};
pub use error::Error;
pub use site::Site;
pub use status::StatusInfo;
