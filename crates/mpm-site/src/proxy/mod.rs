//! mod_proxy, mod_proxy_http and mod_proxy_fcgi: a reverse proxy to
//! HTTP/1.1 backends and FastCGI applications (php-fpm), over TCP or Unix
//! sockets.
//!
//! A host's `ProxyPass` and `ProxyPassMatch` rules ([`ProxyConfig`]) are
//! tried in order against the request's path (decoded and normalised, so
//! `/app/../secret` never reaches a backend as such); the first that
//! matches decides: an exclusion (`!`) leaves the request to the rest of
//! the site, a backend gets it. The proxy runs before `Alias`,
//! `Redirect` and the files, as mod_proxy's translation does, and after
//! `<Location>`'s `Require`.
//!
//! The parts:
//!
//! - [`config`]: the typed configuration;
//! - [`worker`]: one backend URL with its bounded pool of kept-alive
//!   connections (per child, TCP or Unix socket) and its error state;
//! - [`balancer`]: mod_proxy_balancer's `balancer://` groups (byrequests,
//!   bybusyness, sticky sessions, hot standbys), their members' state in
//!   shared memory ([`members`]) so every child skips a failed member,
//!   the `balancer-manager` page ([`manager`]) and the members' health
//!   checks in the background ([`health`]);
//! - [`response`]: the backend's response head, parsed and checked;
//! - `headers`: hop-by-hop fields, `Host`, `X-Forwarded-*`, `Via`, and
//!   `ProxyPassReverse*` on the way back;
//! - `exchange`: one request through: retries, `Expect: 100-continue`,
//!   bodies streamed both ways through bounded buffers, failures as
//!   Apache answers them (502, 503, 504); and tunnels: an `Upgrade`
//!   request to a `ws://` or `upgrade=` worker is passed with its
//!   `Upgrade`, and the backend's `101` becomes a
//!   [`mpm_core::Body::Tunnel`] to the backend's socket, which the server
//!   copies both ways until both sides close or
//!   `ProxyWebsocketIdleTimeout` (else the worker's timeout) passes
//!   without a byte (mod_proxy_wstunnel, mod_proxy_http's `upgrade=`);
//! - `fcgi`: one request to a `fcgi://` worker (mod_proxy_fcgi): the
//!   CGI environment as `PARAMS`, the body as `STDIN`, `STDOUT` read as a
//!   CGI answer and streamed, `STDERR` to the error log;
//! - [`ProxyHandler`]: the `proxy:…` handler names
//!   (`SetHandler "proxy:unix:/run/php/php-fpm.sock|fcgi://localhost"`),
//!   the file the URL maps to passed to a FastCGI application.
//!
//! The proxy blocks on its backend, so it runs on a worker thread under
//! the event strategy: [`HostProxy::takes`] lets the site tell the loop
//! not to answer such a request itself.

pub mod balancer;
pub mod config;
mod exchange;
pub(crate) mod fcgi;
pub mod handler;
mod headers;
pub mod health;
pub mod manager;
pub mod members;
pub mod response;
pub mod worker;

use std::collections::HashMap;
use std::sync::Arc;

use mpm_core::{ConnInfo, Request, Response};

pub use balancer::{Balancer, BalancerConfig, BalancerUrl, LbMethod, MemberConfig};
pub use config::{
    BackendScheme, BackendUrl, FcgiBackendType, PassMatch, PassTarget, ProxyConfig, ProxyPass,
    ProxyPassReverse, ProxyRegex, ProxyVia, UpgradeRule, WorkerConfig,
};
pub use handler::ProxyHandler;
pub use worker::Worker;

use crate::pages::error_response;
use crate::uri_path::escape_path;
use http::StatusCode;

/// The workers of a site, one per backend URL, shared by every rule and
/// host that names that URL: the first rule's parameters (and its host's
/// `ProxyTimeout`) win, as in Apache. And its balancers, one per
/// distinct definition, made by [`Workers::prepare`].
#[derive(Debug, Default)]
pub struct Workers {
    by_url: HashMap<String, Arc<Worker>>,
    balancers: Vec<Arc<Balancer>>,
}

impl Workers {
    /// The worker for `config`'s URL, made on first use.
    pub fn get(&mut self, config: &WorkerConfig, timeout: std::time::Duration) -> Arc<Worker> {
        self.by_url
            .entry(config.url.to_string())
            .or_insert_with(|| Arc::new(Worker::new(config.clone(), timeout)))
            .clone()
    }

    /// Make the balancers of `hosts` (their members' slots claimed in
    /// the shared table, a full table taking back the slots of members no
    /// host names any more), after checking that every rule's
    /// `balancer://` names one of its host's balancers.
    pub fn prepare(&mut self, hosts: &[&ProxyConfig]) -> Result<(), String> {
        let live: std::collections::HashSet<u64> = hosts
            .iter()
            .flat_map(|h| &h.balancers)
            .flat_map(|b| {
                b.members
                    .iter()
                    .map(|m| members::key(&b.name, &m.worker.url.to_string()))
            })
            .collect();
        for host in hosts {
            for pass in &host.passes {
                if let PassTarget::Balancer(url) = &pass.target {
                    let Some(b) = host.balancers.iter().rev().find(|b| b.name == url.name) else {
                        return Err(format!(
                            "{}: ProxyPass {url}: no <Proxy balancer://{}> defines this balancer",
                            pass.origin, url.name
                        ));
                    };
                    if b.members.is_empty() {
                        return Err(format!(
                            "{}: balancer://{} has no BalancerMember",
                            b.origin, b.name
                        ));
                    }
                }
            }
            for b in &host.balancers {
                if !self.balancers.iter().any(|have| have.config == *b) {
                    let made = Balancer::new(b, host.timeout, &|k| live.contains(&k))?;
                    self.balancers.push(Arc::new(made));
                }
            }
        }
        Ok(())
    }

    /// The balancers made, for the manager page.
    pub fn balancers(&self) -> &[Arc<Balancer>] {
        &self.balancers
    }
}

/// Where a rule sends its requests.
enum Upstream {
    Worker(Arc<Worker>),
    /// The balancer, and the path of the rule's `balancer://name/path`.
    Balancer(Arc<Balancer>, String),
    /// A `balancer://` no balancer of the host defines (an embedder that
    /// did not call [`Workers::prepare`]): 503, logged.
    Missing(String),
}

/// One rule, ready to match.
struct Rule {
    matcher: PassMatch,
    /// `None` for an exclusion.
    upstream: Option<Upstream>,
}

/// A host's proxy: its rules with their workers.
pub struct HostProxy {
    cfg: ProxyConfig,
    rules: Vec<Rule>,
    /// Workers for URLs no rule names (mod_rewrite's `[P]`), one per
    /// backend address, made on first use.
    by_address: std::sync::Mutex<HashMap<String, Arc<Worker>>>,
}

/// Where a request goes: a backend, and the path and query it is asked
/// for there.
pub struct Route {
    upstream: RouteTo,
    target: String,
}

enum RouteTo {
    Worker(Arc<Worker>),
    /// The target is joined to the chosen member's path.
    Balancer(Arc<Balancer>),
    Missing(String),
}

/// What the proxy needs to know of this server for one request.
pub struct ServerFacts<'a> {
    /// The host's `ServerName` (`X-Forwarded-Server`, `Via`).
    pub server_name: &'a str,
    /// The server's version (`ProxyVia Full`, `SERVER_SOFTWARE`).
    pub server_version: &'a str,
    /// The host's `DocumentRoot` (`DOCUMENT_ROOT` for FastCGI).
    pub document_root: &'a std::path::Path,
    /// The request's variables (`SetEnv`, …), for FastCGI.
    pub env: &'a [(String, String)],
    /// `REMOTE_USER`, for FastCGI.
    pub user: Option<&'a str>,
    /// `AUTH_TYPE`, for FastCGI.
    pub auth_type: Option<&'a str>,
    /// `CGIPassAuth` and `ProxyFCGISetEnvIf` where the request is.
    pub scripts: &'a crate::cgi::ScriptDir,
}

impl HostProxy {
    /// The proxy of a host configured by `cfg`, its workers taken from
    /// (or added to) `workers`.
    pub fn new(cfg: &ProxyConfig, workers: &mut Workers) -> HostProxy {
        let rules = cfg
            .passes
            .iter()
            .map(|pass| Rule {
                matcher: pass.matcher.clone(),
                upstream: match &pass.target {
                    PassTarget::Exclude => None,
                    PassTarget::Backend(w) => Some(Upstream::Worker(workers.get(w, cfg.timeout))),
                    PassTarget::Balancer(url) => Some(
                        cfg.balancers
                            .iter()
                            .rev()
                            .find(|b| b.name == url.name)
                            .and_then(|b| workers.balancers.iter().find(|have| have.config == *b))
                            .map_or_else(
                                || Upstream::Missing(url.to_string()),
                                |b| Upstream::Balancer(b.clone(), url.path.clone()),
                            ),
                    ),
                },
            })
            .collect();
        HostProxy {
            cfg: cfg.clone(),
            rules,
            by_address: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Where a request for the absolute `url` (`http://host:port/path?query`)
    /// goes: mod_rewrite's `[P]`. Its backend's connections are pooled as
    /// a `ProxyPass` rule's (the host's `ProxyTimeout`, default
    /// parameters).
    pub fn route_url(&self, url: &str) -> Result<Route, String> {
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (url, None),
        };
        let parsed = config::BackendUrl::parse(base)?;
        let mut target = if parsed.path.is_empty() {
            "/".to_string()
        } else {
            parsed.path.clone()
        };
        if let Some(q) = query {
            target.push('?');
            target.push_str(q);
        }
        let key = format!(
            "{}://[{}]:{}{}",
            parsed.scheme.as_str(),
            parsed.host,
            parsed.port,
            parsed
                .unix
                .as_ref()
                .map_or(String::new(), |p| format!(" unix:{}", p.display()))
        );
        let mut workers = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
        let worker = workers
            .entry(key)
            .or_insert_with(|| {
                let address = config::BackendUrl {
                    path: String::new(),
                    ..parsed
                };
                Arc::new(Worker::new(WorkerConfig::new(address), self.cfg.timeout))
            })
            .clone();
        Ok(Route {
            upstream: RouteTo::Worker(worker),
            target,
        })
    }

    /// Whether any `ProxyPass` rule is configured (else [`HostProxy::takes`]
    /// takes nothing).
    pub fn has_rules(&self) -> bool {
        !self.rules.is_empty()
    }

    /// Whether a request for the normalised `path` goes to a backend.
    pub fn takes(&self, path: &[u8]) -> bool {
        self.rules
            .iter()
            .find(|rule| matches(&rule.matcher, path))
            .is_some_and(|rule| rule.upstream.is_some())
    }

    /// Where a request for the normalised `path` (with `query`) goes, if
    /// to a backend.
    pub fn route(&self, path: &[u8], query: Option<&str>) -> Option<Route> {
        let rule = self
            .rules
            .iter()
            .find(|rule| matches(&rule.matcher, path))?;
        let (upstream, base) = match rule.upstream.as_ref()? {
            Upstream::Worker(w) => (RouteTo::Worker(w.clone()), w.config.url.path.as_str()),
            Upstream::Balancer(b, path) => (RouteTo::Balancer(b.clone()), path.as_str()),
            Upstream::Missing(url) => (RouteTo::Missing(url.clone()), ""),
        };
        let mut target = match &rule.matcher {
            PassMatch::Prefix(prefix) => {
                format!("{base}{}", escape_path(&path[prefix.len()..]))
            }
            PassMatch::Regex(re) => {
                let caps = re.0.captures(path)?;
                if base.contains('$') {
                    let mut out = String::with_capacity(base.len() + path.len());
                    let mut rest = base;
                    while let Some(at) = rest.find('$') {
                        out.push_str(&rest[..at]);
                        let digit = rest[at + 1..].chars().next().and_then(|c| c.to_digit(10));
                        match digit {
                            Some(d) => {
                                if let Some(m) = caps.get(d as usize) {
                                    out.extend(escape_path(m.as_bytes()));
                                }
                                rest = &rest[at + 2..];
                            }
                            None => {
                                out.push('$');
                                rest = &rest[at + 1..];
                            }
                        }
                    }
                    out.push_str(rest);
                    out
                } else {
                    format!("{base}{}", escape_path(path))
                }
            }
        };
        if !target.starts_with('/') {
            target.insert(0, '/');
        }
        if let Some(q) = query {
            target.push(if target.contains('?') { '&' } else { '?' });
            target.push_str(q);
        }
        Some(Route { upstream, target })
    }

    /// Pass `req` along `route`, and return the answer.
    pub fn forward(
        &self,
        route: &Route,
        req: Request<'_>,
        conn: &ConnInfo,
        facts: &ServerFacts<'_>,
    ) -> Response {
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or(facts.server_name)
            .to_string();
        let scheme = if conn.is_secure() { "https" } else { "http" };
        let public_base = format!("{scheme}://{host}");
        let ctx = exchange::Context {
            cfg: &self.cfg,
            target: &route.target,
            client_ip: conn.peer.ip().to_string(),
            server_name: facts.server_name,
            server_version: facts.server_version,
            public_base: &public_base,
        };
        // SCRIPT_NAME, for a FastCGI application.
        let mut script_name = Vec::new();
        let _ = crate::uri_path::normalise(req.uri().path(), &mut script_name);
        let script_name = String::from_utf8_lossy(&script_name).into_owned();
        let forward = |worker: &Arc<Worker>, req: Request<'_>, target: &str| {
            if worker.config.url.scheme == BackendScheme::Fcgi {
                let path = target.split_once('?').map_or(target, |(path, _)| path);
                let path = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
                let fcgi_ctx = fcgi::Context {
                    script_filename: fcgi::script_filename(worker, &self.cfg, &path),
                    script_name: &script_name,
                    path_info: "",
                    request_uri: None,
                    query: None,
                    env: facts.env,
                    user: facts.user,
                    auth_type: facts.auth_type,
                    scripts: facts.scripts,
                    conn,
                    server_name: facts.server_name,
                    server_version: facts.server_version,
                    document_root: facts.document_root,
                };
                fcgi::forward(worker, req, &fcgi_ctx)
            } else {
                let ctx = exchange::Context { target, ..ctx };
                exchange::forward(worker, req, &ctx)
            }
        };
        match &route.upstream {
            RouteTo::Worker(worker) => forward(worker, req, &route.target),
            RouteTo::Balancer(balancer) => {
                let path = req.uri().path().to_string();
                let Some((member, busy)) = balancer.pick(req.headers(), req.uri().query(), &path)
                else {
                    log::error!(
                        "proxy: balancer://{}: no member is usable (all in error, disabled or stopped); 503",
                        balancer.config.name
                    );
                    return error_response(StatusCode::SERVICE_UNAVAILABLE);
                };
                // Apache joins the member's URL and the rest of the
                // balancer URL: the member's path, then the target.
                let target = format!(
                    "{}{}",
                    member.worker.config.url.path.trim_end_matches('/'),
                    route.target
                );
                let response = forward(&member.worker, req, &target);
                if let Some(left) = member.worker.error_left() {
                    busy.failed(left);
                }
                manager::count_body(response, busy)
            }
            RouteTo::Missing(url) => {
                log::error!(
                    "proxy: {url}: no balancer of this host has that name; 503 (call Workers::prepare)"
                );
                error_response(StatusCode::SERVICE_UNAVAILABLE)
            }
        }
    }
}

fn matches(matcher: &PassMatch, path: &[u8]) -> bool {
    match matcher {
        PassMatch::Prefix(prefix) => path.starts_with(prefix.as_bytes()),
        PassMatch::Regex(re) => re.0.is_match(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Route {
        fn worker(&self) -> &Arc<Worker> {
            match &self.upstream {
                RouteTo::Worker(w) => w,
                _ => panic!("the route goes to a balancer"),
            }
        }
    }

    fn proxy(passes: Vec<ProxyPass>) -> HostProxy {
        let cfg = ProxyConfig {
            passes,
            ..ProxyConfig::default()
        };
        HostProxy::new(&cfg, &mut Workers::default())
    }

    fn worker(url: &str) -> WorkerConfig {
        WorkerConfig::new(BackendUrl::parse(url).unwrap())
    }

    #[test]
    fn the_first_matching_rule_decides_and_an_exclusion_keeps_the_request() {
        let p = proxy(vec![
            ProxyPass::exclude("/app/static/"),
            ProxyPass::prefix("/app/", worker("http://127.0.0.1:9000/base/")),
            ProxyPass::prefix("/", worker("http://127.0.0.1:9001")),
        ]);
        assert!(!p.takes(b"/app/static/a.css"));
        assert!(p.route(b"/app/static/a.css", None).is_none());
        let r = p.route(b"/app/a b", Some("x=1")).unwrap();
        assert_eq!(r.target, "/base/a%20b?x=1");
        assert_eq!(r.worker().name, "http://127.0.0.1:9000/base/");
        let r = p.route(b"/other", None).unwrap();
        assert_eq!(
            (r.target.as_str(), r.worker().config.url.port),
            ("/other", 9001)
        );
    }

    #[test]
    fn proxy_pass_match_substitutes_groups_or_appends_the_path() {
        let re = |s: &str| PassMatch::Regex(ProxyRegex::new(s).unwrap());
        let p = proxy(vec![
            ProxyPass {
                matcher: re(r"^/img/(.*)\.gif$"),
                target: PassTarget::Backend(worker("http://127.0.0.1:9000/gifs/$1.gif")),
                origin: Default::default(),
            },
            ProxyPass {
                matcher: re(r"\.php$"),
                target: PassTarget::Backend(worker("http://127.0.0.1:9001")),
                origin: Default::default(),
            },
        ]);
        assert_eq!(
            p.route(b"/img/cat.gif", None).unwrap().target,
            "/gifs/cat.gif"
        );
        assert_eq!(
            p.route(b"/a/index.php", Some("q")).unwrap().target,
            "/a/index.php?q"
        );
        assert!(p.route(b"/index.html", None).is_none());
    }

    #[test]
    fn rules_naming_one_url_share_its_worker() {
        let p = proxy(vec![
            ProxyPass::prefix("/a/", worker("http://127.0.0.1:9000/")),
            ProxyPass::prefix("/b/", worker("http://127.0.0.1:9000/")),
        ]);
        let a = p.route(b"/a/", None).unwrap();
        let b = p.route(b"/b/", None).unwrap();
        assert!(Arc::ptr_eq(a.worker(), b.worker()));
    }
}
