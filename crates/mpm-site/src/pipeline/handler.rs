//! Handler selection by name (`SetHandler`, `AddHandler`) and the
//! registry where each name's implementation is looked up.
//!
//! A request's handler is a name, as in Apache (`r->handler`): chosen by
//! the type checker from `SetHandler` (any section) or, failing that,
//! from `AddHandler` on one of the file's extensions, and run by the
//! handler phase. [`Handlers`] maps names to implementations
//! ([`ContentHandler`]); a name nobody registered is a 500 at request
//! time with "handler not found" in the error log, as Apache answers (and
//! `mpmd -t` warns about it).
//!
//! **Adding a handler** (mod_cgi, mod_fcgid, mod_proxy_fcgi): implement
//! [`ContentHandler`] and add one [`Handlers::register`] line where
//! [`Site::new`](crate::Site::new) registers the built-in pages (for a
//! name: `cgi-script`, `fcgid-script`), or [`Handlers::register_prefix`]
//! (for a family: `proxy:` takes every
//! `proxy:unix:/run/php/php-fpm.sock|fcgi://localhost`); add the name to
//! [`BUILT_IN`] so `mpmd -t` stops warning about it. An embedder
//! registers its own through [`Site::handlers_mut`](crate::Site::handlers_mut).

use std::collections::HashMap;
use std::sync::Arc;

use mpm_core::Response;

use crate::pipeline::request::{Exit, RequestState};

/// A handler's name, as `SetHandler` and `AddHandler` write it (matched
/// without regard to case, as Apache does).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HandlerName {
    /// `none`: no handler (undoing an earlier section's): the file is
    /// served by the default handler.
    None,
    /// `default-handler`: the file as it is (core's default handler).
    DefaultHandler,
    /// `server-status`: mod_status's page.
    ServerStatus,
    /// `metrics`: Prometheus metrics.
    Metrics,
    /// `balancer-manager`: the balancers and their members, read-only.
    BalancerManager,
    /// `proxy-server`: mod_proxy's, for a request a `ProxyPass` rule
    /// took in `translate_name`.
    ProxyServer,
    /// `cgi-script`: mod_cgi.
    CgiScript,
    /// `fcgid-script`: mod_fcgid.
    FcgidScript,
    /// `proxy:…`, kept whole (`proxy:unix:/run/php/php-fpm.sock|fcgi://localhost`):
    /// mod_proxy's handler for a backend URL.
    Proxy(String),
    /// Any other name, kept as written (lower case): served if a module
    /// registered it, else 500.
    Other(String),
}

impl HandlerName {
    /// The handler named `name` (any case; `proxy:` names keep the case
    /// of their URL).
    pub fn parse(name: &str) -> HandlerName {
        if name.len() >= 6 && name[..6].eq_ignore_ascii_case("proxy:") {
            return HandlerName::Proxy(format!("proxy:{}", &name[6..]));
        }
        match name.to_ascii_lowercase().as_str() {
            "none" => HandlerName::None,
            "default-handler" => HandlerName::DefaultHandler,
            "server-status" => HandlerName::ServerStatus,
            "metrics" => HandlerName::Metrics,
            "balancer-manager" => HandlerName::BalancerManager,
            "proxy-server" => HandlerName::ProxyServer,
            "cgi-script" => HandlerName::CgiScript,
            "fcgid-script" => HandlerName::FcgidScript,
            other => HandlerName::Other(other.to_string()),
        }
    }

    /// The name as `SetHandler` takes it.
    pub fn name(&self) -> &str {
        match self {
            HandlerName::None => "none",
            HandlerName::DefaultHandler => "default-handler",
            HandlerName::ServerStatus => "server-status",
            HandlerName::Metrics => "metrics",
            HandlerName::BalancerManager => "balancer-manager",
            HandlerName::ProxyServer => "proxy-server",
            HandlerName::CgiScript => "cgi-script",
            HandlerName::FcgidScript => "fcgid-script",
            HandlerName::Proxy(name) | HandlerName::Other(name) => name,
        }
    }
}

impl std::fmt::Display for HandlerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What answers a request once its handler is chosen (Apache's handler
/// hook for one name). It runs after every check passed, on a thread that
/// may block; it reads and changes the request's state (`r.take_request()`
/// hands it the body) and returns the response, or an [`Exit`]
/// (`Exit::Status(404)` shows the `ErrorDocument` for 404, `Exit::Redirect`
/// restarts the request on a local URL).
pub trait ContentHandler: Send + Sync {
    /// Answer `r`.
    fn handle(&self, r: &mut RequestState<'_>) -> Result<Response, Exit>;
}

/// Handler names → implementations, for one site: the built-in pages
/// (`server-status`, `metrics`, `balancer-manager`), then what modules
/// register. The default handler (files, listings) and mod_proxy's
/// `proxy-server` (`ProxyPass`) are the pipeline's own and are not looked
/// up here.
#[derive(Default, Clone)]
pub struct Handlers {
    by_name: HashMap<String, Arc<dyn ContentHandler>>,
    by_prefix: Vec<(String, Arc<dyn ContentHandler>)>,
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Handlers")
            .field("names", &names)
            .field(
                "prefixes",
                &self.by_prefix.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Handlers {
    /// `implementation` answers requests whose handler is `name` (any
    /// case); a later registration of the same name replaces it.
    pub fn register(&mut self, name: &str, implementation: Arc<dyn ContentHandler>) {
        self.by_name
            .insert(name.to_ascii_lowercase(), implementation);
    }

    /// `implementation` answers requests whose handler starts with
    /// `prefix` (`proxy:`), unless a whole name is registered.
    pub fn register_prefix(&mut self, prefix: &str, implementation: Arc<dyn ContentHandler>) {
        self.by_prefix
            .push((prefix.to_ascii_lowercase(), implementation));
    }

    /// The implementation of `name`: registered for the whole name, else
    /// for its longest registered prefix.
    pub fn lookup(&self, name: &HandlerName) -> Option<&Arc<dyn ContentHandler>> {
        let text = name.name();
        if let Some(found) = self.by_name.get(text) {
            return Some(found);
        }
        self.by_prefix
            .iter()
            .filter(|(prefix, _)| {
                text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix)
            })
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, h)| h)
    }

    /// Whether a request whose handler is `name` has an implementation:
    /// the pipeline's own (`none`, `default-handler`) or a registered one.
    pub fn knows(&self, name: &HandlerName) -> bool {
        matches!(
            name,
            HandlerName::None | HandlerName::DefaultHandler | HandlerName::ProxyServer
        ) || self.lookup(name).is_some()
    }
}

/// The names `mpmd` has an implementation for, for `-t`'s warning about
/// the others ("handler not found" at request time). Modules that
/// register a handler add its name here too.
pub const BUILT_IN: &[&str] = &[
    "none",
    "default-handler",
    "server-status",
    "metrics",
    "balancer-manager",
    "proxy-server",
    "cgi-script",
    "fcgid-script",
];

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(&'static str);
    impl ContentHandler for Named {
        fn handle(&self, _: &mut RequestState<'_>) -> Result<Response, Exit> {
            Ok(Response::new(mpm_core::Body::from(self.0)))
        }
    }

    #[test]
    fn names_parse_without_regard_to_case_and_proxy_urls_keep_theirs() {
        assert_eq!(
            HandlerName::parse("Server-Status"),
            HandlerName::ServerStatus
        );
        assert_eq!(HandlerName::parse("NONE"), HandlerName::None);
        assert_eq!(HandlerName::parse("cgi-script"), HandlerName::CgiScript);
        assert_eq!(
            HandlerName::parse("Proxy:unix:/run/php/FPM.sock|fcgi://localhost"),
            HandlerName::Proxy("proxy:unix:/run/php/FPM.sock|fcgi://localhost".into())
        );
        assert_eq!(
            HandlerName::parse("Application/X-Httpd-PHP"),
            HandlerName::Other("application/x-httpd-php".into())
        );
        for name in ["none", "default-handler", "metrics", "fcgid-script"] {
            assert_eq!(HandlerName::parse(name).name(), name);
        }
    }

    #[test]
    fn a_whole_name_wins_over_a_prefix_and_unknown_names_are_not_found() {
        let mut handlers = Handlers::default();
        handlers.register_prefix("proxy:", Arc::new(Named("any proxy")));
        handlers.register("proxy:special", Arc::new(Named("special")));
        handlers.register("CGI-Script", Arc::new(Named("cgi")));
        assert!(handlers.lookup(&HandlerName::CgiScript).is_some());
        assert!(handlers
            .lookup(&HandlerName::Proxy("proxy:fcgi://127.0.0.1:9000".into()))
            .is_some());
        assert!(handlers.lookup(&HandlerName::FcgidScript).is_none());
        assert!(!handlers.knows(&HandlerName::Other("x-unknown".into())));
        assert!(handlers.knows(&HandlerName::DefaultHandler));
    }
}
