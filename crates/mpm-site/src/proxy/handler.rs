//! The `proxy:` handlers: `SetHandler "proxy:unix:/run/php/php-fpm.sock|fcgi://localhost"`
//! (or `proxy:fcgi://127.0.0.1:9000`), usually inside
//! `<FilesMatch ".+\.php$">`, as Debian's php-fpm configuration for
//! Apache writes it. The file the request's URL maps to is the script:
//! it must exist (else 404 from mpmd, never passed to PHP), its path is
//! `SCRIPT_FILENAME` (`proxy:fcgi://host` before it under
//! `ProxyFCGIBackendType FPM`), and the request's `PATH_INFO` and
//! variables (`SetEnv`, `REDIRECT_*`) go with it. Each distinct URL is a
//! [`Worker`] of its own, made on first use in each child: its pool and
//! error state as a `ProxyPass` worker's, with the parameters a
//! `<Proxy url>` + `ProxySet` of the same backend gives
//! (`enablereuse=on`, `timeout=`, …), else a connection per request and
//! the host's `ProxyTimeout`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use http::StatusCode;
use mpm_core::Response;

use super::config::{BackendScheme, BackendUrl, ProxyConfig, WorkerConfig};
use super::fcgi;
use super::worker::Worker;
use crate::pipeline::handler::ContentHandler;
use crate::pipeline::request::{Exit, RequestState};

/// What the handler knows of one virtual host.
#[derive(Debug)]
pub struct HostFacts {
    /// Its mod_proxy settings (`ProxyTimeout`, `ProxyFCGIBackendType`).
    pub proxy: ProxyConfig,
    /// Its `DocumentRoot`.
    pub document_root: PathBuf,
}

/// The handler of every `proxy:…` name; see the [module](self).
#[derive(Debug)]
pub struct ProxyHandler {
    /// By virtual-host index, as the site numbers them.
    hosts: Vec<HostFacts>,
    server_version: String,
    /// The workers made so far, by URL (`proxy:` left out).
    workers: Mutex<HashMap<String, Arc<Worker>>>,
}

impl ProxyHandler {
    /// The handler of a site whose virtual hosts are `hosts` (in the
    /// site's order), its `Server` banner `server_version`.
    pub fn new(hosts: Vec<HostFacts>, server_version: String) -> ProxyHandler {
        ProxyHandler {
            hosts,
            server_version,
            workers: Mutex::default(),
        }
    }

    /// The worker for `url`, made on first use; or why there is none.
    fn worker(&self, url: &str, host: &HostFacts) -> Result<Arc<Worker>, String> {
        let mut workers = self
            .workers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(worker) = workers.get(url) {
            return Ok(worker.clone());
        }
        let parsed = BackendUrl::parse(url)?;
        if parsed.scheme != BackendScheme::Fcgi {
            return Err(format!(
                "'{url}': only fcgi:// backends can be a SetHandler proxy: handler in mpmd (use ProxyPass for http://)"
            ));
        }
        // A `<Proxy>` of this backend gives its parameters (`ProxySet`).
        let config = match host
            .proxy
            .workers
            .iter()
            .find(|w| w.url.same_backend(&parsed))
        {
            Some(defined) => WorkerConfig {
                url: parsed,
                ..defined.clone()
            },
            None => WorkerConfig::new(parsed),
        };
        let worker = Arc::new(Worker::new(config, host.proxy.timeout));
        workers.insert(url.to_string(), worker.clone());
        Ok(worker)
    }
}

impl ContentHandler for ProxyHandler {
    fn handle(&self, r: &mut RequestState<'_>) -> Result<Response, Exit> {
        let Some(name) = r.handler.as_ref().map(|h| h.name().to_string()) else {
            return Err(Exit::Status(StatusCode::INTERNAL_SERVER_ERROR));
        };
        let url = name.get("proxy:".len()..).unwrap_or_default();
        let Some(host) = self.hosts.get(r.vhost) else {
            return Err(Exit::Status(StatusCode::INTERNAL_SERVER_ERROR));
        };
        let worker = self.worker(url, host).map_err(|why| {
            log::error!(
                "[client {}] SetHandler {name}: {why}; 500",
                r.conn.peer.ip()
            );
            Exit::Status(StatusCode::INTERNAL_SERVER_ERROR)
        })?;
        // The script must be there: a missing one is mpmd's 404, never a
        // question to the application.
        if !r.finfo.as_ref().is_some_and(|m| m.is_file()) {
            log::info!(
                "[client {}] proxy_fcgi: script not found or unable to stat: {}",
                r.conn.peer.ip(),
                r.filename.display()
            );
            return Err(Exit::Status(StatusCode::NOT_FOUND));
        }
        let path = r.filename.to_string_lossy().into_owned();
        let path_info = String::from_utf8_lossy(&r.path_info).into_owned();
        let uri = r.uri_text().into_owned();
        let script_name = uri
            .strip_suffix(path_info.as_str())
            .unwrap_or(&uri)
            .to_string();
        let request_uri = r.unparsed_uri.clone();
        let query = r.query.clone();
        let env: Vec<(String, String)> = r
            .subprocess_env
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let (user, auth_type) = (r.user.clone(), r.auth_type.clone());
        let dir = r.dir.clone();
        let server_name = r.server_name.clone();
        let conn = r.conn;
        let ctx = fcgi::Context {
            script_filename: fcgi::script_filename(&worker, &host.proxy, &path),
            script_name: &script_name,
            path_info: &path_info,
            request_uri: request_uri.as_deref(),
            query: query.as_deref(),
            env: &env,
            user: user.as_deref(),
            auth_type: auth_type.as_deref(),
            scripts: &dir.scripts,
            conn,
            server_name: &server_name,
            server_version: &self.server_version,
            document_root: &host.document_root,
        };
        let req = r.take_request();
        Ok(fcgi::forward(&worker, req, &ctx))
    }
}
