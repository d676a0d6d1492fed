//! [`Site`]: the handler `mpmd` serves with, for a whole
//! [`SiteConfig`]: virtual hosts, `<Location>`, mod_alias, static files,
//! `Require`, the status and metrics pages and the access log.
//!
//! [`Site::handle`] does, in order: pick the virtual host
//! ([`router`]); refuse methods it does not know (501);
//! decode and normalise the path ([`uri_path`]); apply
//! the matching `<Location>` blocks in Apache's order (the main server's,
//! then the virtual host's, each in file order: the last one that sets
//! `Require` or `SetHandler` decides it); pass the request to a backend when a
//! `ProxyPass` rule takes its path ([`proxy`](crate::proxy), any method);
//! answer `OPTIONS` and refuse
//! other non-GET/HEAD methods (405); then `Redirect`, `Alias` and finally
//! the `DocumentRoot` ([`static_files`](crate::static_files)), where the
//! `<Directory>` blocks' `Options`, `Require` and `DirectoryIndex` apply
//! (shortest path first, the virtual host's after the main server's for
//! one path, as Apache merges them). A `Require` of a `<Location>` and one
//! of a `<Directory>` must both grant (Apache would let the `<Location>`
//! one replace the other; requiring both is never more permissive). Files
//! that `MMapFile` and `CacheFile` name are loaded when the handler is
//! built ([`file_cache`](crate::file_cache)) and answered from memory or a
//! kept descriptor once those checks have passed.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, StatusCode};
use mpm_core::{Body, ConnInfo, Exchange, Handler, Request, Response, VhostId};

use crate::access_log::{AccessLog, LogFile, LogFormat};
use crate::config::{
    AliasRule, LocationBlock, RedirectRule, RemoteIpConfig, Require, SetHandler, SiteConfig,
    VirtualHost,
};
use crate::error::Error;
use crate::file_cache::FileCache;
use crate::metrics;
use crate::mime::MimeTypes;
use crate::pages::{
    error_response, is_known_method, method_not_allowed, options_response, redirect,
};
use crate::proxy::{HostProxy, ServerFacts, Workers};
use crate::require;
use crate::router::{self, Router};
use crate::static_files::{FileConfig, FileRequest};
use crate::status::{self, StatusInfo};
use crate::uri_path::{self, escape_path, segment_prefix};

/// The site's request handler, built once from a [`SiteConfig`] (and
/// again at each restart of a server that re-reads its configuration).
pub struct Site {
    router: Router,
    /// Numbered as the router numbers them ([`SiteConfig::hosts`]).
    hosts: Vec<Host>,
    mime: MimeTypes,
    /// `MMapFile` / `CacheFile` files, loaded with this configuration.
    cache: FileCache,
    scoreboard: mpm_core::Scoreboard,
    status: Arc<StatusInfo>,
    remote_ip: RemoteIpConfig,
    /// Whether [`Handler::log`] reads the request's headers: to choose the
    /// host among several, for `RemoteIPHeader`, or for a log line's
    /// `%{Name}i` or `%V`.
    log_reads_headers: bool,
    /// The proxy's balancers, for `SetHandler balancer-manager`.
    balancers: Arc<Vec<Arc<crate::proxy::Balancer>>>,
}

/// One host, prepared for serving.
struct Host {
    /// `ServerName`, or the main server's, for `%v`.
    server_name: String,
    /// Its cell in the scoreboard's lifetime counters (by `server_name`).
    counted_as: VhostId,
    document_root: PathBuf,
    files: FileConfig,
    aliases: Vec<AliasRule>,
    redirects: Vec<RedirectRule>,
    /// In the order Apache applies them: the main server's, then the
    /// host's own, each in file order; a later match wins.
    locations: Vec<LocationBlock>,
    logs: Vec<AccessLog>,
    /// `ProxyPass` rules and their backends.
    proxy: HostProxy,
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
        let log_reads_headers = hosts.len() > 1
            || cfg.remote_ip.header.is_some()
            || hosts
                .iter()
                .any(|host| host.logs.iter().any(AccessLog::reads_headers));
        Ok(Site {
            router: Router::new(main, &cfg.vhosts),
            hosts,
            cache: FileCache::load(&cfg.cached_files, &mime),
            mime,
            scoreboard,
            status,
            remote_ip: cfg.remote_ip.clone(),
            log_reads_headers,
            balancers: Arc::new(workers.balancers().to_vec()),
        })
    }

    fn status_page(&self, query: Option<&str>) -> Response {
        let auto = query.is_some_and(|q| q.split('&').any(|part| part == "auto"));
        let (content_type, body) =
            status::render(&self.scoreboard, &self.status, auto, SystemTime::now());
        let mut response = Response::new(Body::from(body));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }

    /// Start this process's health-check thread if a balancer member has
    /// `hcmethod=` (see [`crate::proxy::health`]): call it once in each
    /// process that serves, after `fork` (from the handler factory).
    pub fn start_health_checks(&self) -> std::io::Result<()> {
        crate::proxy::health::start_checker(&self.balancers)
    }

    fn balancer_manager_page(&self, query: Option<&str>) -> Response {
        let auto = query.is_some_and(|q| q.split('&').any(|part| part == "auto"));
        let (content_type, body) = crate::proxy::manager::render(&self.balancers, auto);
        let mut response = Response::new(Body::from(body));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }

    fn metrics_page(&self) -> Response {
        let body = metrics::render(&self.scoreboard, &self.status, SystemTime::now());
        let mut response = Response::new(Body::from(body));
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(metrics::CONTENT_TYPE),
        );
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
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
            server_name,
            document_root: vhost.document_root.clone(),
            files: FileConfig::new(&vhost.directories, &vhost.directory_index),
            aliases: vhost.aliases.clone(),
            redirects: vhost.redirects.clone(),
            locations: vhost.locations.clone(),
            logs,
            proxy,
        }
    }

    /// The `SetHandler` and `Require` of the `<Location>` blocks matching
    /// `path`: the last matching block's that sets each.
    fn location(&self, path: &[u8]) -> (Option<SetHandler>, Option<&Require>) {
        let mut handler = None;
        let mut require = None;
        for block in self
            .locations
            .iter()
            .filter(|b| segment_prefix(path, b.path.as_bytes()))
        {
            if let Some(h) = block.handler {
                handler = Some(h);
            }
            if let Some(r) = &block.require {
                require = Some(r);
            }
        }
        (handler, require)
    }

    /// Where the normalised `path` leads, `handler` being the `SetHandler`
    /// of its `<Location>` blocks: the status page, else the first
    /// matching `Redirect`, else the first matching `Alias`, else the
    /// `DocumentRoot`.
    fn route<'a>(&'a self, path: &'a [u8], handler: Option<SetHandler>) -> Route<'a> {
        match handler {
            Some(SetHandler::ServerStatus) => return Route::Status,
            Some(SetHandler::Metrics) => return Route::Metrics,
            Some(SetHandler::BalancerManager) => return Route::BalancerManager,
            _ => {}
        }
        if let Some(rule) = self
            .redirects
            .iter()
            .find(|rule| segment_prefix(path, rule.from.as_bytes()))
        {
            return Route::Redirect(rule, &path[rule.from.len()..]);
        }
        if let Some(alias) = self
            .aliases
            .iter()
            .find(|alias| segment_prefix(path, alias.url.as_bytes()))
        {
            let rest = &path[alias.url.len()..];
            return Route::Files {
                root: &alias.path,
                rel: rest.strip_prefix(b"/").unwrap_or(rest),
            };
        }
        Route::Files {
            root: &self.document_root,
            rel: path.get(1..).unwrap_or_default(),
        }
    }

    /// Whether a GET of the normalised `path` may be answered with a
    /// directory listing: it ends in `/` and leads to a directory whose
    /// `Options` include `Indexes` (an index file there would answer
    /// instead; that is not looked for, so no file-system call is made).
    fn may_list(&self, path: &[u8]) -> bool {
        if !path.ends_with(b"/") {
            // A file, or a directory's redirect to its slash form.
            return false;
        }
        match self.route(path, self.location(path).0) {
            Route::Files { root, rel } => {
                let dir = root.join(std::ffi::OsStr::from_bytes(rel));
                self.files.effective(&dir).options.indexes
            }
            Route::Status | Route::Metrics | Route::BalancerManager | Route::Redirect(..) => false,
        }
    }
}

/// Where a request for a path leads once its `<Location>` blocks passed.
enum Route<'a> {
    /// `SetHandler server-status`.
    Status,
    /// `SetHandler metrics`.
    Metrics,
    /// `SetHandler balancer-manager`.
    BalancerManager,
    /// A `Redirect` rule, and the rest of the path after its prefix.
    Redirect(&'a RedirectRule, &'a [u8]),
    /// Static files: `rel` (no leading slash) below `root`, the target of
    /// an `Alias` or the `DocumentRoot`.
    Files { root: &'a Path, rel: &'a [u8] },
}

/// The answer to a matching `Redirect`: the target with the rest of the
/// path and the query appended, or the rule's bare status (410 for `gone`).
fn redirect_response(rule: &RedirectRule, rest: &[u8], query: Option<&str>) -> Response {
    let Ok(status) = StatusCode::from_u16(rule.status) else {
        return error_response(StatusCode::INTERNAL_SERVER_ERROR);
    };
    match &rule.to {
        Some(to) if status.is_redirection() => {
            let mut location = String::with_capacity(to.len() + rest.len() + 16);
            location.push_str(to);
            location.extend(escape_path(rest));
            if let Some(query) = query {
                location.push('?');
                location.push_str(query);
            }
            redirect(status, &location)
        }
        _ => error_response(status),
    }
}

impl Handler for Site {
    fn handle(&self, req: Request<'_>, conn: &ConnInfo) -> Response {
        // The client as `RemoteIPHeader` names it, for `Require`.
        let conn = &*self.remote_ip.conn_for(conn, req.headers());
        let uri = req.uri();
        let name = router::request_host(Some(uri), req.headers());
        let index = self.router.select(&conn.local, name);
        // As mod_ssl: a request for another host than the one the TLS
        // connection was made for (its SNI name) is misdirected; the
        // client must open a connection for that host.
        if let (Some(sni), Some(_)) = (conn.tls.as_ref().and_then(|t| t.sni.as_deref()), name) {
            if self.router.select(&conn.local, Some(sni)) != index {
                return error_response(StatusCode::MISDIRECTED_REQUEST);
            }
        }
        let host = &self.hosts[index];
        let method = req.method();
        if !is_known_method(method) {
            // mod_proxy passes any method (WebDAV's PROPFIND…) to a backend.
            let mut path = Vec::with_capacity(uri.path().len() + 1);
            let proxied =
                uri_path::normalise(uri.path(), &mut path).is_ok() && host.proxy.takes(&path);
            if !proxied {
                return method_not_allowed(method);
            }
        }
        let raw_path = uri.path();
        if raw_path == "*" {
            return if method == Method::OPTIONS {
                options_response()
            } else {
                error_response(StatusCode::BAD_REQUEST)
            };
        }
        let mut path = Vec::with_capacity(raw_path.len() + 1);
        if let Err(status) = uri_path::normalise(raw_path, &mut path) {
            return error_response(status);
        }
        let query = uri.query();

        let (handler, require) = host.location(&path);
        if require.is_some_and(|r| !require::allows(r, conn)) {
            return error_response(StatusCode::FORBIDDEN);
        }
        // mod_proxy translates before mod_alias and the files, for every
        // method.
        if let Some(route) = host.proxy.route(&path, query) {
            let facts = ServerFacts {
                server_name: &host.server_name,
                server_version: &self.status.server_version,
                document_root: &host.document_root,
            };
            return host.proxy.forward(&route, req, conn, &facts);
        }
        if method == Method::OPTIONS {
            return options_response();
        }
        if method != Method::GET && method != Method::HEAD {
            return method_not_allowed(method);
        }
        match host.route(&path, handler) {
            Route::Status => self.status_page(query),
            Route::Metrics => self.metrics_page(),
            Route::BalancerManager => self.balancer_manager_page(query),
            Route::Redirect(rule, rest) => redirect_response(rule, rest, query),
            Route::Files { root, rel } => {
                let file_request = FileRequest {
                    method,
                    headers: req.headers(),
                    url_path: &path,
                    query,
                    conn,
                };
                host.files
                    .serve(root, rel, &file_request, &self.mime, &self.cache)
            }
        }
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
    /// `ProxyPass` takes (it waits for its backend). Deciding makes no
    /// file-system call.
    fn answer_never_blocks(&self, method: &Method, uri: &http::Uri) -> bool {
        if method != Method::GET && method != Method::HEAD {
            return false;
        }
        let mut path = Vec::with_capacity(uri.path().len() + 1);
        if uri_path::normalise(uri.path(), &mut path).is_err() {
            // An error page.
            return true;
        }
        !self
            .hosts
            .iter()
            .any(|host| host.may_list(&path) || host.proxy.takes(&path))
    }

    fn log_reads_headers(&self) -> bool {
        self.log_reads_headers
    }

    /// Counts the exchange in the scoreboard's lifetime counters (for the
    /// metrics page) and writes the host's access logs.
    fn log(&self, exchange: &Exchange<'_>) {
        let name = router::request_host(exchange.uri, exchange.headers);
        let host = &self.hosts[self.router.select(&exchange.conn.local, name)];
        // `%a` is the client as `RemoteIPHeader` names it.
        let conn = self.remote_ip.conn_for(exchange.conn, exchange.headers);
        let exchange = &Exchange {
            conn: &conn,
            ..*exchange
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

#[cfg(test)]
mod tests;
