//! [`Site`]: the handler `mpmd` serves with, for a whole
//! [`SiteConfig`]: virtual hosts, then the request pipeline
//! ([`crate::pipeline`]), and the access log.
//!
//! [`Site::handle`] picks the virtual host ([`router`]); answers a GET
//! or HEAD of a file in memory that no directive touches at once
//! (`site/untouched.rs`: the pipeline's answer, without its phases,
//! decided once per host and file, `<Directory>` sections and all; a
//! path a thread answered so lately goes straight to its file,
//! `site/recent.rs`); refuses a
//! request for another host than its TLS connection's (421) and methods
//! it does not know (501, unless a `ProxyPass` rule takes the path);
//! decodes and normalises the path ([`uri_path`]), answers `OPTIONS *`;
//! then runs the request through the pipeline's phases
//! ([`Site::process`]): `ProxyPass`, `Redirect`, `Alias` and the
//! `DocumentRoot`, the sections merged in Apache's order (with
//! `.htaccess`), `Require`, mod_mime, mod_dir, and the handler chosen by
//! name (the default handler serves files, [`crate::static_files`]). Files that
//! `MMapFile` and `CacheFile` name are loaded when the handler is built
//! ([`file_cache`](crate::file_cache)) and answered from memory or a kept
//! descriptor once those checks have passed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, StatusCode};
use mpm_core::{Body, ConnInfo, Exchange, Handler, Request, Response, VhostId};

use crate::access_log::{AccessLog, LogFile, LogFormat};
use crate::auth::{AuthFiles, AuthType};
use crate::compress::VariantCache;
use crate::config::{AliasRule, RedirectRule, RemoteIpConfig, SiteConfig, VirtualHost};
use crate::error::Error;
use crate::file_cache::FileCache;
use crate::metrics;
use crate::mime::MimeTypes;
use crate::open_files::OpenFiles;
use crate::pages::{allow_default, error_response, is_known_method, method_not_allowed};
use crate::pipeline::handler::{ContentHandler, HandlerName, Handlers};
use crate::pipeline::htaccess::{HtaccessCache, OverrideParser};
use crate::pipeline::phases::page_method;
use crate::pipeline::request::{Exit, RequestState};
use crate::pipeline::walk::{Layer, Walks};
use crate::proxy::{HostProxy, Workers};
use crate::router::{self, Router};
use crate::status::{self, StatusInfo};
use crate::uri_path::{self, segment_prefix};

/// The site's request handler, built once from a [`SiteConfig`] (and
/// again at each restart of a server that re-reads its configuration).
pub struct Site {
    router: Router,
    /// Numbered as the router numbers them ([`SiteConfig::hosts`]).
    hosts: Vec<Host>,
    pub(crate) mime: MimeTypes,
    /// `MMapFile` / `CacheFile` files, loaded with this configuration.
    pub(crate) cache: FileCache,
    /// Small files kept between requests, checked once a second.
    pub(crate) open_files: OpenFiles,
    scoreboard: mpm_core::Scoreboard,
    pub(crate) status: Arc<StatusInfo>,
    remote_ip: RemoteIpConfig,
    /// Handler names and their implementations.
    pub(crate) handlers: Handlers,
    /// Parsed `.htaccess` files.
    pub(crate) htaccess: HtaccessCache,
    /// What parses them (`mpmd`'s directive code); none: no `.htaccess`
    /// is read.
    pub(crate) overrides: Option<Arc<dyn OverrideParser>>,
    /// `AccessFileName`.
    pub(crate) access_file_name: String,
    /// `LimitInternalRecursion`.
    pub(crate) recursion_limit: u32,
    /// `TraceEnable`.
    pub(crate) trace_enable: crate::config::TraceEnable,
    /// The server's name and version, for `ServerSignature`.
    pub(crate) server_software: String,
    /// Every `AuthUserFile` and `AuthGroupFile`, read when first needed
    /// and again when changed (per process).
    pub(crate) auth_files: AuthFiles,
    /// Whether [`Handler::log`] reads the request's headers: to choose the
    /// host among several, for `RemoteIPHeader`, or for a log line's
    /// `%{Name}i` or `%V`.
    log_reads_headers: bool,
    /// The proxy's balancers, for `SetHandler balancer-manager`.
    balancers: Arc<Vec<Arc<crate::proxy::Balancer>>>,
    /// Compressed variants of static files, this process's.
    pub(crate) variants: VariantCache,
    /// Whether no host may block on a GET or HEAD of a path that does not
    /// end in `/` ([`Host::may_block`] decided once for them): no host
    /// blocks whatever the path, proxies, compresses or has a
    /// `ScriptAlias`.
    files_never_block: bool,
}

/// How many bytes of compressed static files each process keeps
/// ([`crate::compress::cache`]): files up to an eighth of it (2 MiB) are
/// compressed once per process and version.
pub const VARIANT_CACHE_BYTES: usize = 16 << 20;

/// One host, prepared for serving.
pub struct Host {
    /// `ServerName`, or the main server's, for `%v`.
    pub(crate) server_name: Arc<str>,
    /// `ServerAdmin` (the main server's when the host sets none): named
    /// on the 500 page and by `ServerSignature EMail`.
    pub(crate) server_admin: Option<Arc<str>>,
    /// Its cell in the scoreboard's lifetime counters (by `server_name`).
    counted_as: VhostId,
    pub(crate) document_root: PathBuf,
    pub(crate) aliases: Vec<AliasRule>,
    pub(crate) redirects: Vec<RedirectRule>,
    /// Its sections, prepared for the walks.
    pub(crate) walks: Walks,
    logs: Vec<AccessLog>,
    /// `ProxyPass` rules and their backends.
    pub(crate) proxy: HostProxy,
    /// Whether some section of the host compresses answers.
    compresses: bool,
    /// Whether every GET or HEAD of the host may block
    /// ([`Host::blocks_whatever_the_path`]).
    always_blocks: bool,
    /// Whether no directive of the host as a whole touches a file's
    /// answer ([`untouched::untouched_host`]): then a file in memory whose
    /// own sections leave it alone is answered without the pipeline.
    untouched: bool,
    /// This host's own key (never another's, in this process): what a
    /// file in memory keeps the host's verdict on it under.
    key: u64,
    /// mod_rewrite in server context, merged with the main server's, and
    /// the `RewriteMap`s.
    pub(crate) rewrite: crate::rewrite::RewriteConfig,
}

impl Site {
    /// Build the handler for `cfg`, opening every `CustomLog` file (once
    /// per path, however many hosts write to it). The status page reads
    /// `scoreboard` (the one the strategy fills) and shows `status`;
    /// `cfg.add_types` override the built-in MIME table. The files of
    /// `MMapFile` and `CacheFile` are loaded here (one that cannot be is a
    /// warning in the log, not an error).
    pub fn new(
        cfg: &SiteConfig,
        scoreboard: mpm_core::Scoreboard,
        status: Arc<StatusInfo>,
    ) -> Result<Site, Error> {
        let mut files: HashMap<PathBuf, Arc<LogFile>> = HashMap::new();
        let main = &cfg.main;
        let mut hosts = Vec::with_capacity(cfg.vhosts.len() + 1);
        let mut workers = Workers::default();
        workers
            .prepare(&cfg.hosts().map(|h| &h.proxy).collect::<Vec<_>>())
            .map_err(|message| Error::Balancer { message })?;
        for vhost in cfg.hosts() {
            let custom_logs = if vhost.custom_logs.is_empty() {
                &main.custom_logs
            } else {
                &vhost.custom_logs
            };
            let mut logs = Vec::with_capacity(custom_logs.len());
            for log in custom_logs {
                let file = match files.get(&log.path) {
                    Some(file) => file.clone(),
                    None => {
                        let file = Arc::new(LogFile::open(&log.path)?);
                        files.insert(log.path.clone(), file.clone());
                        file
                    }
                };
                logs.push(AccessLog::new(
                    file,
                    Arc::new(LogFormat::parse(&log.format)),
                ));
            }
            let proxy = HostProxy::new(&vhost.proxy, &mut workers);
            hosts.push(Host::new(vhost, main, logs, proxy, scoreboard.counters()));
        }
        let mime = MimeTypes::new(&cfg.add_types)?;
        let balancers = Arc::new(workers.balancers().to_vec());
        let mut handlers = Handlers::default();
        handlers.register(
            HandlerName::ServerStatus.name(),
            Arc::new(StatusPage {
                scoreboard: scoreboard.clone(),
                status: status.clone(),
            }),
        );
        handlers.register(
            HandlerName::Metrics.name(),
            Arc::new(MetricsPage {
                scoreboard: scoreboard.clone(),
                status: status.clone(),
            }),
        );
        handlers.register(
            HandlerName::BalancerManager.name(),
            Arc::new(BalancerManagerPage {
                balancers: balancers.clone(),
            }),
        );
        handlers.register(
            HandlerName::CgiScript.name(),
            Arc::new(crate::cgi_script::CgiHandler::new(
                &cfg.cgi,
                &status.server_version,
                cfg.hosts().map(|h| h.document_root.clone()).collect(),
            )),
        );
        // mod_proxy_fcgi's SetHandler "proxy:unix:…|fcgi://…".
        handlers.register_prefix(
            "proxy:",
            Arc::new(crate::proxy::ProxyHandler::new(
                cfg.hosts()
                    .map(|vhost| crate::proxy::handler::HostFacts {
                        proxy: vhost.proxy.clone(),
                        document_root: vhost.document_root.clone(),
                    })
                    .collect(),
                status.server_version.clone(),
            )),
        );
        let log_reads_headers = hosts.len() > 1
            || cfg.remote_ip.header.is_some()
            || hosts
                .iter()
                .any(|host| host.logs.iter().any(AccessLog::reads_headers));
        let files_never_block = !hosts.iter().any(|host| {
            host.always_blocks
                || host.proxy.has_rules()
                || host.compresses
                || host.aliases.iter().any(|alias| alias.script)
        });
        Ok(Site {
            files_never_block,
            router: Router::new(main, &cfg.vhosts),
            hosts,
            cache: FileCache::load(&cfg.cached_files, &mime),
            open_files: OpenFiles::default(),
            mime,
            scoreboard,
            status,
            remote_ip: cfg.remote_ip.clone(),
            log_reads_headers,
            balancers,
            handlers,
            htaccess: HtaccessCache::default(),
            overrides: None,
            access_file_name: cfg.access_file_name.clone(),
            recursion_limit: cfg.limit_internal_recursion,
            trace_enable: cfg.trace_enable,
            server_software: cfg.server_software.clone(),
            variants: VariantCache::new(VARIANT_CACHE_BYTES),
            auth_files: AuthFiles::new(),
        })
    }

    /// This site with `.htaccess` files read where `AllowOverride` lets
    /// them be, parsed by `parser` (`mpmd` gives its directive code).
    /// Without a parser no `.htaccess` file is read.
    pub fn with_overrides(mut self, parser: Arc<dyn OverrideParser>) -> Site {
        self.overrides = Some(parser);
        self
    }

    /// Time passing for what the site keeps of `.htaccess` files: every
    /// file's last look and every kept directory walk made `by` older.
    #[cfg(test)]
    pub(crate) fn age_htaccess(&self, by: std::time::Duration) {
        self.htaccess.age(by);
        for host in &self.hosts {
            host.walks.age(by);
        }
    }

    /// This site with mod_fcgid's `fcgid-script` handler: a pool of
    /// FastCGI processes with `cfg`'s settings, spoken to by `backend`
    /// (the FastCGI client). Call it where the site is built (before
    /// the serving processes are forked): the pool's process table is
    /// made here, shared by every serving process.
    pub fn with_fcgid(
        mut self,
        cfg: &SiteConfig,
        backend: Arc<dyn crate::fcgid::Backend>,
    ) -> std::io::Result<Site> {
        let pool = Arc::new(crate::fcgid::Pool::new(cfg.fcgid.clone(), backend)?);
        self.handlers.register(
            HandlerName::FcgidScript.name(),
            Arc::new(crate::fcgid::FcgidHandler::new(
                cfg.fcgid.clone(),
                pool,
                &self.status.server_version,
                cfg.hosts().map(|h| h.document_root.clone()).collect(),
            )),
        );
        Ok(self)
    }

    /// Handler names and their implementations, for a module to
    /// [`register`](Handlers::register) its own before the site serves.
    pub fn handlers_mut(&mut self) -> &mut Handlers {
        &mut self.handlers
    }

    /// `Allow` for what core's default handler answers, as `TraceEnable`
    /// makes it.
    fn allow(&self) -> &'static str {
        allow_default(self.trace_enable != crate::config::TraceEnable::Off)
    }

    /// Start this process's health-check thread if a balancer member has
    /// `hcmethod=` (see [`crate::proxy::health`]): call it once in each
    /// process that serves, after `fork` (from the handler factory).
    pub fn start_health_checks(&self) -> std::io::Result<()> {
        crate::proxy::health::start_checker(&self.balancers)
    }
}

impl Host {
    fn new(
        vhost: &VirtualHost,
        main: &VirtualHost,
        logs: Vec<AccessLog>,
        proxy: HostProxy,
        counters: &mpm_core::Counters,
    ) -> Host {
        let server_name = vhost
            .server_name
            .clone()
            .or_else(|| main.server_name.clone())
            .unwrap_or_else(|| "localhost".to_string());
        Host {
            counted_as: counters.vhost(&server_name),
            server_name: Arc::from(server_name),
            server_admin: vhost
                .server_admin
                .as_deref()
                .or(main.server_admin.as_deref())
                .map(Arc::from),
            document_root: vhost.document_root.clone(),
            aliases: vhost.aliases.clone(),
            redirects: vhost.redirects.clone(),
            walks: Walks::new(&vhost.dir, &vhost.sections),
            logs,
            proxy,
            compresses: false,
            always_blocks: false,
            untouched: false,
            key: untouched::next_host_key(),
            rewrite: if std::ptr::eq(vhost, main) {
                vhost.rewrite.clone()
            } else {
                crate::rewrite::RewriteConfig::merge(&main.rewrite, &vhost.rewrite)
            },
        }
        .with_compression()
    }

    /// This host, knowing whether any of its configurations compresses,
    /// whether all its requests may block and whether any directive
    /// touches a file's answer.
    fn with_compression(mut self) -> Host {
        self.always_blocks = self.blocks_whatever_the_path();
        self.untouched = untouched::untouched_host(&self.walks, &self.rewrite);
        self.compresses = self.walks.configs().any(|config| {
            config.filters.compress.is_active()
                || config
                    .nested
                    .iter()
                    .any(|s| s.config.filters.compress.is_active())
        });
        self
    }

    /// Whether the `<Location>` sections of `path` give it a built-in
    /// page's handler (status, metrics, balancer manager).
    fn is_page(&self, path: &[u8]) -> bool {
        let mut layers: Vec<Layer<'_>> = Vec::new();
        self.walks.location_sections(path, &mut layers);
        if layers.is_empty() {
            return false;
        }
        self.walks
            .merged(&layers)
            .handler
            .as_ref()
            .is_some_and(|h| {
                !is_slow(h) && *h != HandlerName::None && *h != HandlerName::DefaultHandler
            })
    }

    /// The file or directory `path` maps to ([`Host::map_url`]), with
    /// no file-system call.
    fn file_of(&self, path: &[u8]) -> PathBuf {
        let (root, rel) = self.map_url(path);
        root.join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(rel))
    }

    /// The first `Redirect` whose URL holds the normalised `path`.
    pub(crate) fn redirect_of(&self, path: &[u8]) -> Option<&RedirectRule> {
        self.redirects
            .iter()
            .find(|rule| segment_prefix(path, rule.from.as_bytes()))
    }

    /// The first `Alias` (or `ScriptAlias`) whose URL holds the
    /// normalised `path`.
    pub(crate) fn alias_of(&self, path: &[u8]) -> Option<&AliasRule> {
        self.aliases
            .iter()
            .find(|alias| segment_prefix(path, alias.url.as_bytes()))
    }

    /// Where mod_alias's `Alias` (the first whose URL holds `path`), else
    /// the `DocumentRoot`, maps the normalised `path`: the root, and the
    /// rest of the path below it (no leading or trailing slash).
    pub(crate) fn map_url<'a>(&'a self, path: &'a [u8]) -> (&'a std::path::Path, &'a [u8]) {
        self.map_under(self.alias_of(path), path)
    }

    /// [`Host::map_url`] once the alias that holds `path` (if any) is
    /// known.
    pub(crate) fn map_under<'a>(
        &'a self,
        alias: Option<&'a AliasRule>,
        path: &'a [u8],
    ) -> (&'a std::path::Path, &'a [u8]) {
        let (root, rel) = match alias {
            Some(alias) => {
                let rest = &path[alias.url.len()..];
                (
                    alias.path.as_path(),
                    rest.strip_prefix(b"/").unwrap_or(rest),
                )
            }
            None => (
                self.document_root.as_path(),
                path.get(1..).unwrap_or_default(),
            ),
        };
        (root, rel.strip_suffix(b"/").unwrap_or(rel))
    }

    /// Whether a GET or HEAD of the normalised `path` may take long to
    /// answer, decided without a file-system call: a `ProxyPass` rule takes
    /// it; `.htaccess` files may be read; a handler other than the
    /// default one or a built-in page may be chosen; a section asks for
    /// Basic authentication; or a listing may
    /// answer (it ends in `/` and the sections holding its directory allow
    /// `Indexes`; an index file there would answer instead, but that is not
    /// looked for).
    fn may_block(&self, path: &[u8], variants: &VariantCache) -> bool {
        if self.always_blocks || self.proxy.takes(path) {
            return true;
        }
        // A file not yet in the variant cache is compressed whole, a
        // large one streamed through the encoder: work for a thread. A
        // file whose variants are kept is answered from memory (if it has
        // changed since, its new variant is made on the loop, once), and
        // so is a built-in page (small, made in memory).
        if self.compresses && !variants.knows(&self.file_of(path)) && !self.is_page(path) {
            return true;
        }
        // A ScriptAlias runs a CGI script.
        if self.alias_of(path).is_some_and(|alias| alias.script) {
            return true;
        }
        let redirected = self
            .redirects
            .iter()
            .any(|rule| segment_prefix(path, rule.from.as_bytes()));
        if !path.ends_with(b"/") || redirected {
            return false;
        }
        let dir = self.file_of(path);
        let mut layers: Vec<Layer<'_>> = Vec::new();
        self.walks.directory_sections(&dir, &mut layers);
        self.walks.directory_match_sections(&dir, &mut layers);
        self.walks.location_sections(path, &mut layers);
        let merged = self.walks.merged(&layers);
        // A page's handler answers instead of a listing.
        let files = matches!(
            merged.handler,
            None | Some(HandlerName::None | HandlerName::DefaultHandler)
        );
        files && merged.options().indexes
    }

    /// Whether every GET or HEAD of this host may take long, whatever its
    /// path (decided once, when the host is made): `.htaccess` files may
    /// be read; a rewrite rule may send a request anywhere; a handler
    /// other than the default one or a built-in page may be chosen; a
    /// section asks for Basic authentication.
    fn blocks_whatever_the_path(&self) -> bool {
        if self.walks.reads_htaccess() {
            return true;
        }
        // A rewrite rule may send it to a backend ([P]) or anywhere.
        if self.rewrite.enabled() || self.walks.configs().any(|c| c.rewrite.is_some()) {
            return true;
        }
        let may_choose_a_slow_handler = self.walks.configs().any(|config| {
            config.handler.as_ref().is_some_and(is_slow)
                || config
                    .mime
                    .iter()
                    .any(|e| e.attr == crate::pipeline::MimeAttr::Handler)
                || config.nested.iter().any(|s| {
                    s.config.handler.as_ref().is_some_and(is_slow) || !s.config.mime.is_empty()
                })
        });
        if may_choose_a_slow_handler {
            return true;
        }
        // Basic authentication reads a password file and hashes a
        // password (bcrypt takes milliseconds by design).
        let basic = |c: &crate::pipeline::DirConfig| c.auth.auth_type == Some(AuthType::Basic);
        self.walks
            .configs()
            .any(|c| basic(c) || c.nested.iter().any(|s| basic(&s.config)))
    }
}

/// Whether a handler may take long (anything but the built-in pages).
fn is_slow(name: &HandlerName) -> bool {
    !matches!(
        name,
        HandlerName::None
            | HandlerName::DefaultHandler
            | HandlerName::ServerStatus
            | HandlerName::Metrics
            | HandlerName::BalancerManager
    )
}

/// A page's response: `body` as `content_type`, not to be cached.
fn page_response(content_type: &'static str, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Whether the query asks for the machine-readable form (`?auto`).
fn wants_auto(r: &RequestState<'_>) -> bool {
    r.query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|part| part == "auto"))
}

/// `SetHandler server-status`: mod_status's page, from the scoreboard.
struct StatusPage {
    scoreboard: mpm_core::Scoreboard,
    status: Arc<StatusInfo>,
}

impl ContentHandler for StatusPage {
    fn handle(&self, r: &mut RequestState<'_>) -> Result<Response, Exit> {
        page_method(r.method())?;
        let (content_type, body) = status::render(
            &self.scoreboard,
            &self.status,
            wants_auto(r),
            SystemTime::now(),
        );
        Ok(page_response(content_type, body))
    }
}

/// `SetHandler metrics`: the scoreboard in Prometheus's text format.
struct MetricsPage {
    scoreboard: mpm_core::Scoreboard,
    status: Arc<StatusInfo>,
}

impl ContentHandler for MetricsPage {
    fn handle(&self, r: &mut RequestState<'_>) -> Result<Response, Exit> {
        page_method(r.method())?;
        let body = metrics::render(&self.scoreboard, &self.status, SystemTime::now());
        Ok(page_response(metrics::CONTENT_TYPE, body))
    }
}

/// `SetHandler balancer-manager`: the balancers and their members.
struct BalancerManagerPage {
    balancers: Arc<Vec<Arc<crate::proxy::Balancer>>>,
}

impl ContentHandler for BalancerManagerPage {
    fn handle(&self, r: &mut RequestState<'_>) -> Result<Response, Exit> {
        page_method(r.method())?;
        let (content_type, body) = crate::proxy::manager::render(&self.balancers, wants_auto(r));
        Ok(page_response(content_type, body))
    }
}

impl Handler for Site {
    fn handle(&self, req: Request<'_>, conn: &ConnInfo) -> Response {
        let uri = req.uri();
        // With one host (no `<VirtualHost>`) every request is its own:
        // the request's host name is not looked at.
        let index = if self.hosts.len() == 1 {
            0
        } else {
            let name = router::request_host(Some(uri), req.headers());
            let index = self.router.select(&conn.local, name);
            // As mod_ssl: a request for another host than the one the TLS
            // connection was made for (its SNI name) is misdirected; the
            // client must open a connection for that host.
            let sni = conn.tls.as_ref().and_then(|t| t.sni.as_deref());
            if let (Some(sni), Some(_)) = (sni, name) {
                if self.router.select(&conn.local, Some(sni)) != index {
                    return error_response(StatusCode::MISDIRECTED_REQUEST);
                }
            }
            index
        };
        let host = &self.hosts[index];
        if let Some(response) = self.answer_untouched(host, &req) {
            return response;
        }
        // The client as `RemoteIPHeader` names it, for `Require` (the
        // host was chosen by the local address, which it leaves).
        let conn = &*self.remote_ip.conn_for(conn, req.headers());
        let method = req.method();
        if !is_known_method(method) {
            // mod_proxy passes any method (WebDAV's PROPFIND…) to a backend.
            let mut path = Vec::with_capacity(uri.path().len() + 1);
            let proxied =
                uri_path::normalise(uri.path(), &mut path).is_ok() && host.proxy.takes(&path);
            if !proxied {
                return method_not_allowed(method, self.allow());
            }
        }
        let raw_path = uri.path();
        if raw_path == "*" {
            return if method == Method::OPTIONS {
                // Apache answers the server's OPTIONS without `Allow`.
                Response::new(Body::Empty)
            } else {
                error_response(StatusCode::BAD_REQUEST)
            };
        }
        let mut path = Vec::with_capacity(raw_path.len() + 1);
        if let Err(status) = uri_path::normalise(raw_path, &mut path) {
            return error_response(status);
        }
        // The state lives as long as this call (as the client's address
        // does): its body reads the request's through one more reference.
        let (parts, mut body) = req.into_parts();
        let req = Request::from_parts(parts, mpm_core::RequestBody::new(&mut body));
        let mut r = RequestState::new(
            req,
            conn,
            index,
            host.server_name.clone(),
            path,
            host.walks.base.clone(),
        );
        self.process(host, &mut r)
    }

    /// What a site answers to GET and HEAD is quick, so under event the
    /// loop answers it itself, as nginx does: static files (from the page
    /// cache, sent by `sendfile`), index files, redirects, error pages,
    /// the status page (its size is the scoreboard's); its access log is
    /// one `write` to a file. Except a directory listing, whose cost grows
    /// with the directory (30,000 entries: a 2.9 MB page built in 0.15 s,
    /// which would hold up every other connection of the loop): a GET or
    /// HEAD that may be answered with one (`Host::may_list`, for any
    /// host, as the `Host` header is not known here) goes to a worker
    /// thread, as everything else does. So does a request a host's
    /// `ProxyPass` takes (it waits for its backend), any request of a host
    /// that reads `.htaccess` files or may choose a handler other than the
    /// built-in pages, and, on a host that compresses, a request for a
    /// file whose compressed variants are not cached yet
    /// (`Host::may_block`). Deciding makes no
    /// file-system call.
    fn answer_never_blocks(&self, method: &Method, uri: &http::Uri) -> bool {
        if method != Method::GET && method != Method::HEAD {
            return false;
        }
        if self.files_never_block && uri_path::names_a_file(uri.path()) {
            // A file's path, or an error page: without normalising it.
            return true;
        }
        let mut buf = Vec::new();
        let Ok(path) = uri_path::normalised(uri.path(), &mut buf) else {
            // An error page.
            return true;
        };
        if self.files_never_block && !path.ends_with(b"/") {
            return true;
        }
        !self
            .hosts
            .iter()
            .any(|host| host.may_block(path, &self.variants))
    }

    fn log_reads_headers(&self) -> bool {
        self.log_reads_headers
    }

    /// Counts the exchange in the scoreboard's lifetime counters (for the
    /// metrics page) and writes the host's access logs.
    fn log(&self, exchange: &Exchange<'_>) {
        // The host `handle` chose, chosen again the same way.
        let host = match &self.hosts[..] {
            [only] => only,
            hosts => {
                let name = router::request_host(exchange.uri, exchange.headers);
                &hosts[self.router.select(&exchange.conn.local, name)]
            }
        };
        // `%a` is the client as `RemoteIPHeader` names it (without one,
        // the connection's peer, as the engine gave it).
        let named;
        let exchange = if self.remote_ip.header.is_some() {
            named = self.remote_ip.conn_for(exchange.conn, exchange.headers);
            &Exchange {
                conn: &named,
                ..*exchange
            }
        } else {
            exchange
        };
        self.scoreboard.counters().record(
            host.counted_as,
            exchange.method,
            exchange.status,
            exchange.duration,
            exchange.received,
            exchange.body_bytes,
        );
        for target in &host.logs {
            target.write(exchange, &host.server_name);
        }
    }
}

mod recent;
mod untouched;

#[cfg(test)]
pub(crate) mod tests;
