//! mod_proxy's typed configuration: what one host passes to which
//! backend ([`ProxyConfig`]), each rule ([`ProxyPass`]) and the backend
//! it names with its parameters ([`WorkerConfig`]).
//!
//! `mpmd` fills these from `ProxyPass`, `ProxyPassMatch`,
//! `ProxyPassReverse*`, `ProxyPreserveHost`, `ProxyTimeout`,
//! `ProxyAddHeaders` and `ProxyVia`; an embedder fills them in code:
//!
//! ```
//! use mpm_site::proxy::{BackendUrl, ProxyConfig, ProxyPass, ProxyPassReverse, WorkerConfig};
//!
//! let backend = BackendUrl::parse("http://127.0.0.1:9000/").unwrap();
//! let mut proxy = ProxyConfig::default();
//! proxy.passes.push(ProxyPass::exclude("/static/"));
//! proxy.passes.push(ProxyPass::prefix("/app/", WorkerConfig::new(backend.clone())));
//! proxy.reverse.push(ProxyPassReverse { path: "/app/".into(), url: backend.to_string() });
//! ```

use std::fmt;
use std::time::Duration;

use crate::config::Origin;

/// `retry=` when not given: a backend that refused a connection is left
/// alone this long (Apache's default).
pub const DEFAULT_RETRY: Duration = Duration::from_secs(60);

/// `ttl=` when not given, for a backend that does not announce its own
/// keep-alive timeout (`Keep-Alive: timeout=N`): below the 5 seconds
/// Apache httpd and `mpmd` keep an idle connection, so the proxy drops a
/// pooled connection before the backend does.
pub const DEFAULT_TTL: Duration = Duration::from_secs(4);

/// `max=` when not given: idle connections kept per backend and child.
pub const DEFAULT_MAX_IDLE: usize = 32;

/// mod_proxy's settings of one host (the main server's are merged into
/// each virtual host's by `mpmd`, as Apache does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// `ProxyPass` and `ProxyPassMatch` rules, in the order they are
    /// tried: the first that matches the request's path decides (an
    /// exclusion, `!`, leaves the request to the rest of the site).
    pub passes: Vec<ProxyPass>,
    /// `ProxyPassReverse path url`: response headers `Location`,
    /// `Content-Location` and `URI` starting with `url` are rewritten to
    /// start with `path` on this server.
    pub reverse: Vec<ProxyPassReverse>,
    /// `ProxyPassReverseCookieDomain internal public`: a `Set-Cookie`'s
    /// `domain=internal` becomes `domain=public`.
    pub reverse_cookie_domains: Vec<(String, String)>,
    /// `ProxyPassReverseCookiePath internal public`: a `Set-Cookie`'s
    /// `path=` starting with `internal` starts with `public` instead.
    pub reverse_cookie_paths: Vec<(String, String)>,
    /// `ProxyPreserveHost On`: the client's `Host` goes to the backend,
    /// instead of the backend URL's host and port.
    pub preserve_host: bool,
    /// `ProxyTimeout` (default: the server's `Timeout`): the longest wait
    /// for a backend to accept a write or answer a read, unless the rule's
    /// `timeout=` says otherwise.
    pub timeout: Duration,
    /// `ProxyAddHeaders` (default on): `X-Forwarded-For`,
    /// `X-Forwarded-Host` and `X-Forwarded-Server` appended.
    pub add_headers: bool,
    /// `ProxyVia`.
    pub via: ProxyVia,
    /// `ProxyWebsocketIdleTimeout`: a tunnel (after a `101`) with no byte
    /// either way for this long is closed; `None` for the worker's
    /// timeout (`timeout=`, else `ProxyTimeout`, else `Timeout`).
    pub tunnel_idle_timeout: Option<Duration>,
    /// `<Proxy balancer://name>` groups the rules may name
    /// ([`PassTarget::Balancer`]).
    pub balancers: Vec<super::balancer::BalancerConfig>,
    /// `ProxyFCGIBackendType`: what `fcgi://` backends are told
    /// `SCRIPT_FILENAME` is.
    pub fcgi_backend_type: FcgiBackendType,
    /// `<Proxy url>` + `ProxySet key=value` (or `ProxySet url key=value`):
    /// the parameters of the worker `SetHandler "proxy:url"` uses for
    /// that backend ([`BackendUrl::same_backend`]), as Apache's
    /// `SetHandler` finds the worker a `<Proxy>` defined.
    pub workers: Vec<WorkerConfig>,
}

/// `ProxyFCGIBackendType FPM | GENERIC`: how mod_proxy_fcgi writes
/// `SCRIPT_FILENAME` for a `ProxyPass … fcgi://host:port/path` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FcgiBackendType {
    /// php-fpm (the default): `proxy:fcgi://host:port/path`, as Apache
    /// sends it; php-fpm takes the path after the address, and finds the
    /// script and its `PATH_INFO` in it.
    #[default]
    Fpm,
    /// Any other application: the path alone.
    Generic,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            passes: Vec::new(),
            reverse: Vec::new(),
            reverse_cookie_domains: Vec::new(),
            reverse_cookie_paths: Vec::new(),
            preserve_host: false,
            timeout: Duration::from_secs(60),
            add_headers: true,
            via: ProxyVia::Off,
            tunnel_idle_timeout: None,
            balancers: Vec::new(),
            fcgi_backend_type: FcgiBackendType::Fpm,
            workers: Vec::new(),
        }
    }
}

/// `ProxyVia Off | On | Full | Block`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyVia {
    /// A `Via` header is passed on as it came, none is added (default).
    #[default]
    Off,
    /// `Via: 1.1 <ServerName>` appended to requests and responses.
    On,
    /// As `On`, with the server's version in a comment.
    Full,
    /// Every `Via` header removed from requests, none added.
    Block,
}

/// How a rule matches a request's path (decoded and normalised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassMatch {
    /// `ProxyPass /prefix …`: the path starts with these bytes (as in
    /// Apache, `/app` also matches `/apple`: end it with `/` to match a
    /// directory). The rest of the path is appended to the backend URL.
    Prefix(String),
    /// `ProxyPassMatch regex …`: the regular expression matches the path;
    /// `$1`…`$9` in the backend URL's path take its groups (and when the
    /// URL has none, the whole path is appended, as Apache does).
    Regex(ProxyRegex),
}

/// A compiled `ProxyPassMatch` expression (the `regex` crate: linear
/// time in the path's length, whatever the expression), compared by its
/// text.
#[derive(Debug, Clone)]
pub struct ProxyRegex(pub regex::bytes::Regex);

impl ProxyRegex {
    /// Compile `pattern`, or say why it is not an expression.
    pub fn new(pattern: &str) -> Result<ProxyRegex, String> {
        regex::bytes::Regex::new(pattern)
            .map(ProxyRegex)
            .map_err(|e| format!("'{pattern}' is not a valid regular expression: {e}"))
    }
}

impl PartialEq for ProxyRegex {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}
impl Eq for ProxyRegex {}

/// Where a matching request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassTarget {
    /// `!`: not proxied; the site serves it.
    Exclude,
    /// To this backend.
    Backend(WorkerConfig),
    /// To a member of this balancer (`balancer://name/path`), defined in
    /// [`ProxyConfig::balancers`].
    Balancer(super::balancer::BalancerUrl),
}

/// `ProxyPass path url [key=value …]` (or `ProxyPassMatch`, or the
/// one-argument form inside `<Location path>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyPass {
    /// Which paths it takes.
    pub matcher: PassMatch,
    /// Where they go.
    pub target: PassTarget,
    /// Where it was written.
    pub origin: Origin,
}

impl ProxyPass {
    /// `ProxyPass prefix url`.
    pub fn prefix(prefix: impl Into<String>, worker: WorkerConfig) -> ProxyPass {
        ProxyPass {
            matcher: PassMatch::Prefix(prefix.into()),
            target: PassTarget::Backend(worker),
            origin: Origin::default(),
        }
    }

    /// `ProxyPass prefix !`.
    pub fn exclude(prefix: impl Into<String>) -> ProxyPass {
        ProxyPass {
            matcher: PassMatch::Prefix(prefix.into()),
            target: PassTarget::Exclude,
            origin: Origin::default(),
        }
    }
}

/// `ProxyPassReverse path url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyPassReverse {
    /// The path on this server (`/app/`).
    pub path: String,
    /// The backend URL as it appears in its headers
    /// (`http://127.0.0.1:9000/`).
    pub url: String,
}

/// One backend (a "worker" in mod_proxy's words) and its parameters:
/// requests to its URL share one pool of kept-alive connections per
/// child and one error state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    /// The backend's URL.
    pub url: BackendUrl,
    /// `timeout=`: the longest wait for the backend to take a write or
    /// answer a read; `None` for the host's `ProxyTimeout`.
    pub timeout: Option<Duration>,
    /// `connectiontimeout=`: the longest wait for a connection; `None`
    /// for the worker's timeout.
    pub connection_timeout: Option<Duration>,
    /// `retry=`: after a connection failed, requests get 503 at once for
    /// this long, without trying (0: try every time).
    pub retry: Duration,
    /// `ttl=`: an idle pooled connection older than this is closed, not
    /// reused; `None`: the backend's announced keep-alive timeout less a
    /// second, else [`DEFAULT_TTL`].
    pub ttl: Option<Duration>,
    /// `max=`: most idle connections kept per child.
    pub max_idle: usize,
    /// `keepalive=On`: TCP keep-alive probes on backend connections
    /// (`SO_KEEPALIVE`), as Apache's parameter means.
    pub tcp_keepalive: bool,
    /// `disablereuse=On`: a new connection for every request.
    pub disable_reuse: bool,
    /// `upgrade=`: which `Upgrade` requests become tunnels (a `ws://`
    /// URL means `websocket`); `None`: `Upgrade` is not passed on.
    pub upgrade: Option<UpgradeRule>,
}

/// `upgrade=`'s value: the protocol a client's `Upgrade` must name for the
/// request to be passed with it and, on the backend's `101`, become a
/// tunnel (mod_proxy_http, Apache 2.4.47+).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpgradeRule {
    /// `upgrade=ANY`: whatever protocol the client asks for.
    Any,
    /// `upgrade=websocket`, or another protocol name (compared without
    /// regard to case).
    Protocol(String),
}

impl UpgradeRule {
    /// Parse `upgrade=`'s value: `ANY`, or a protocol name (a token).
    pub fn parse(value: &str) -> Result<UpgradeRule, String> {
        if value.eq_ignore_ascii_case("any") {
            return Ok(UpgradeRule::Any);
        }
        let token = !value.is_empty()
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/".contains(&b));
        if !token {
            return Err(format!(
                "ProxyPass upgrade={value}: give a protocol name (e.g. upgrade=websocket) or ANY"
            ));
        }
        Ok(UpgradeRule::Protocol(value.to_string()))
    }

    /// The protocol a client's `Upgrade` header asks for that this rule
    /// lets through (its first match), if any.
    pub fn accepts<'a>(&self, asked: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
        asked.into_iter().find(|p| {
            let name = p.split('/').next().unwrap_or(p).trim();
            !name.is_empty()
                && match self {
                    UpgradeRule::Any => true,
                    UpgradeRule::Protocol(want) => name.eq_ignore_ascii_case(want),
                }
        })
    }
}

impl WorkerConfig {
    /// A backend at `url` with the default parameters: connections
    /// reused, except to a FastCGI application (`fcgi://`), which gets a
    /// new connection per request unless `enablereuse=on`, as Apache's
    /// mod_proxy_fcgi does.
    pub fn new(url: BackendUrl) -> WorkerConfig {
        WorkerConfig {
            timeout: None,
            connection_timeout: None,
            retry: DEFAULT_RETRY,
            ttl: None,
            max_idle: DEFAULT_MAX_IDLE,
            tcp_keepalive: false,
            disable_reuse: url.scheme == BackendScheme::Fcgi,
            upgrade: (url.scheme == BackendScheme::Ws)
                .then(|| UpgradeRule::Protocol("websocket".into())),
            url,
        }
    }

    /// Apply one `key=value` parameter of `ProxyPass`; the message says
    /// what was wrong and what is accepted.
    pub fn set_param(&mut self, param: &str) -> Result<(), String> {
        let Some((key, value)) = param.split_once('=') else {
            return Err(format!(
                "ProxyPass parameter '{param}' is not key=value (e.g. timeout=30 retry=5)"
            ));
        };
        let seconds = |what: &str| -> Result<Duration, String> {
            value
                .parse::<u64>()
                .ok()
                .filter(|&n| n <= 86_400 * 365)
                .map(Duration::from_secs)
                .or_else(|| {
                    let ms = value.strip_suffix("ms")?.parse::<u64>().ok()?;
                    Some(Duration::from_millis(ms))
                })
                .ok_or_else(|| {
                    format!("ProxyPass {what}={value}: give a number of seconds (or of milliseconds with ms)")
                })
        };
        let on_off = |what: &str| -> Result<bool, String> {
            match value.to_ascii_lowercase().as_str() {
                "on" => Ok(true),
                "off" => Ok(false),
                _ => Err(format!("ProxyPass {what}={value}: give On or Off")),
            }
        };
        match key.to_ascii_lowercase().as_str() {
            "timeout" => self.timeout = Some(seconds("timeout")?),
            "connectiontimeout" => self.connection_timeout = Some(seconds("connectiontimeout")?),
            "retry" => self.retry = seconds("retry")?,
            "ttl" => self.ttl = Some(seconds("ttl")?),
            "max" => {
                self.max_idle = value
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n <= 65_536)
                    .ok_or_else(|| format!("ProxyPass max={value}: give a number of connections"))?
            }
            "keepalive" => self.tcp_keepalive = on_off("keepalive")?,
            "disablereuse" => self.disable_reuse = on_off("disablereuse")?,
            "enablereuse" => self.disable_reuse = !on_off("enablereuse")?,
            "upgrade" => self.upgrade = Some(UpgradeRule::parse(value)?),
            "min" | "smax" | "acquire" | "flushpackets" | "flushwait" | "iobuffersize"
            | "receivebuffersize" | "ping" | "nocanon" | "mapping" | "secret" | "status"
            | "route" | "redirect" | "loadfactor" | "lbset" | "hcmethod" | "hcuri"
            | "hcinterval" | "hcpasses" | "hcfails" | "hcexpr" | "hctemplate" | "lbmethod"
            | "stickysession" | "maxattempts" | "nofailover" => {
                return Err(format!(
                    "ProxyPass parameter {key}= is not supported by mpmd (supported: timeout, \
                     connectiontimeout, retry, ttl, max, keepalive, disablereuse, upgrade)"
                ))
            }
            _ => {
                return Err(format!(
                    "ProxyPass: unknown parameter '{key}' (supported: timeout, \
                     connectiontimeout, retry, ttl, max, keepalive, disablereuse, upgrade)"
                ))
            }
        }
        Ok(())
    }
}

/// What a backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendScheme {
    /// `http://`: HTTP/1.1.
    Http,
    /// `ws://` (mod_proxy_wstunnel's scheme): spoken to as `http://`,
    /// with `Upgrade: websocket` requests tunnelled.
    Ws,
    /// `fcgi://`: FastCGI (mod_proxy_fcgi), default port 8000.
    Fcgi,
}

impl BackendScheme {
    /// The scheme as written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendScheme::Http => "http",
            BackendScheme::Ws => "ws",
            BackendScheme::Fcgi => "fcgi",
        }
    }
}

/// A backend URL: `http://host[:port][/path]`, `ws://…` (the same
/// backend, its WebSocket upgrades passed as tunnels: `upgrade=websocket`)
/// or `fcgi://…` (a FastCGI application), each optionally reached over a
/// Unix socket as Apache writes it: `unix:/run/php/php-fpm.sock|fcgi://localhost/path`
/// (the host then only names the backend). `https`, `wss` and `balancer`
/// are refused with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendUrl {
    /// What the backend speaks.
    pub scheme: BackendScheme,
    /// The host as written (a name, an IPv4 address, or an IPv6 address
    /// without its brackets).
    pub host: String,
    /// The port (80 when not written, 8000 for `fcgi://`).
    pub port: u16,
    /// The path (empty, or starting with `/`), `$1`…`$9` left as written.
    pub path: String,
    /// `unix:/path|…`: the Unix socket connected to instead of
    /// `host:port`.
    pub unix: Option<std::path::PathBuf>,
}

impl BackendUrl {
    /// Whether `other` reaches the same backend: the same scheme, Unix
    /// socket, host and port (the paths may differ).
    pub fn same_backend(&self, other: &BackendUrl) -> bool {
        self.scheme == other.scheme
            && self.unix == other.unix
            && self.host.eq_ignore_ascii_case(&other.host)
            && self.port == other.port
    }

    /// Parse `url`; the message says what is wrong with it.
    pub fn parse(url: &str) -> Result<BackendUrl, String> {
        let (unix, url_part) = match url.get(..5) {
            Some(prefix) if prefix.eq_ignore_ascii_case("unix:") => {
                let Some((socket, rest)) = url[5..].split_once('|') else {
                    return Err(format!(
                        "'{url}': a Unix socket is written unix:/path/to.sock|fcgi://localhost/ (the socket, a |, then the URL)"
                    ));
                };
                if !socket.starts_with('/') {
                    return Err(format!(
                        "'{url}': the Unix socket's path '{socket}' must be absolute"
                    ));
                }
                (Some(std::path::PathBuf::from(socket)), rest)
            }
            _ => (None, url),
        };
        let url = url_part;
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!(
                "'{url}' is not an absolute URL (write e.g. http://127.0.0.1:8080/)"
            ));
        };
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => BackendScheme::Http,
            "ws" => BackendScheme::Ws,
            "fcgi" => BackendScheme::Fcgi,
            "https" => {
                return Err(format!(
                    "'{url}': https:// backends are not supported by mpmd yet (a TLS client is not built); use http://"
                ))
            }
            "wss" => {
                return Err(format!(
                    "'{url}': wss:// backends are not supported by mpmd yet (a TLS client is not built); use ws:// (clients may still reach mpmd over TLS)"
                ))
            }
            "balancer" => {
                return Err(format!(
                    "'{url}': a balancer:// URL names a <Proxy balancer://…> group, not a backend"
                ))
            }
            other => {
                return Err(format!(
                    "'{url}': the {other}:// scheme is not supported by mpmd (only http://, ws:// and fcgi://)"
                ))
            }
        };
        if unix.is_some() && scheme == BackendScheme::Ws {
            return Err(format!(
                "'{url}': WebSocket tunnels over a Unix socket are not supported by mpmd; use ws://host:port/"
            ));
        }
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if path.starts_with(['?', '#']) || path.contains(['?', '#']) {
            return Err(format!("'{url}': a backend URL has no query or fragment"));
        }
        if authority.contains('@') {
            return Err(format!(
                "'{url}': user information in a backend URL is not supported"
            ));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let Some((host, after)) = v6.split_once(']') else {
                return Err(format!("'{url}': unclosed [ in the host"));
            };
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b))
        {
            return Err(format!("'{url}': '{host}' is not a host name or address"));
        }
        let port = match port {
            None if scheme == BackendScheme::Fcgi => 8000,
            None => 80,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("'{url}': '{p}' is not a port"))?,
        };
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(format!("'{url}': spaces or control characters in the path"));
        }
        Ok(BackendUrl {
            scheme,
            host: host.to_string(),
            port,
            path: path.to_string(),
            unix,
        })
    }

    /// `host:port` as a `Host` header says it (the port left out when it
    /// is the scheme's default).
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.scheme == BackendScheme::Fcgi {
            8000
        } else {
            80
        };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl fmt::Display for BackendUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(socket) = &self.unix {
            write!(f, "unix:{}|", socket.display())?;
        }
        write!(
            f,
            "{}://{}{}",
            self.scheme.as_str(),
            self.authority(),
            self.path
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_url_is_http_with_a_host_a_port_and_a_path() {
        let u = BackendUrl::parse("http://127.0.0.1:9000/app/").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 9000, "/app/")
        );
        assert_eq!(u.to_string(), "http://127.0.0.1:9000/app/");
        let u = BackendUrl::parse("http://backend").unwrap();
        assert_eq!(
            (u.port, u.path.as_str(), u.authority()),
            (80, "", "backend".into())
        );
        let u = BackendUrl::parse("http://[::1]:81/x").unwrap();
        assert_eq!((u.host.as_str(), u.authority()), ("::1", "[::1]:81".into()));
    }

    #[test]
    fn a_ws_url_is_http_with_websocket_upgrades_tunnelled() {
        let u = BackendUrl::parse("ws://127.0.0.1:9004/chat/").unwrap();
        assert_eq!(u.scheme, BackendScheme::Ws);
        assert_eq!(u.to_string(), "ws://127.0.0.1:9004/chat/");
        let w = WorkerConfig::new(u);
        let rule = w.upgrade.expect("ws:// means upgrade=websocket");
        assert_eq!(rule.accepts(["WebSocket"]), Some("WebSocket"));
        assert_eq!(rule.accepts(["h2c"]), None);
        assert_eq!(UpgradeRule::Any.accepts(["h2c", "x"]), Some("h2c"));
        let proto = UpgradeRule::parse("myproto").unwrap();
        assert_eq!(proto.accepts(["MyProto/2"]), Some("MyProto/2"));
        assert!(WorkerConfig::new(BackendUrl::parse("http://a/").unwrap())
            .upgrade
            .is_none());
    }

    #[test]
    fn a_fcgi_url_defaults_to_port_8000_no_reuse_and_may_name_a_unix_socket() {
        let u = BackendUrl::parse("fcgi://127.0.0.1/srv/app/").unwrap();
        assert_eq!((u.scheme, u.port), (BackendScheme::Fcgi, 8000));
        assert_eq!(u.to_string(), "fcgi://127.0.0.1/srv/app/");
        let w = WorkerConfig::new(u);
        assert!(
            w.disable_reuse,
            "mod_proxy_fcgi reuses only with enablereuse=on"
        );
        let u = BackendUrl::parse("unix:/run/php/php-fpm.sock|fcgi://localhost").unwrap();
        assert_eq!(
            u.unix.as_deref(),
            Some(std::path::Path::new("/run/php/php-fpm.sock"))
        );
        assert_eq!((u.host.as_str(), u.path.as_str()), ("localhost", ""));
        assert_eq!(u.to_string(), "unix:/run/php/php-fpm.sock|fcgi://localhost");
        let mut w = WorkerConfig::new(u);
        w.set_param("enablereuse=on").unwrap();
        assert!(!w.disable_reuse);
        assert!(!WorkerConfig::new(BackendUrl::parse("http://a/").unwrap()).disable_reuse);
    }

    #[test]
    fn schemes_not_built_are_refused_with_what_is_missing() {
        for (url, says) in [
            ("wss://127.0.0.1:1/", "wss:// backends are not supported"),
            ("balancer://api/", "not a backend"),
            ("https://a/", "TLS client"),
            ("ftp://a/", "ftp:// scheme"),
            ("unix:/run/a.sock", "a Unix socket is written"),
            ("unix:run/a.sock|fcgi://localhost/", "must be absolute"),
            ("unix:/run/a.sock|ws://localhost/", "over a Unix socket"),
            ("127.0.0.1:80", "not an absolute URL"),
            ("http://a:99999/", "not a port"),
            ("http://a b/", "not a host name"),
        ] {
            let e = BackendUrl::parse(url).unwrap_err();
            assert!(e.contains(says), "{url}: {e}");
        }
    }

    #[test]
    fn parameters_are_read_and_unknown_or_unbuilt_ones_refused() {
        let mut w = WorkerConfig::new(BackendUrl::parse("http://a/").unwrap());
        for p in [
            "timeout=30",
            "retry=0",
            "ttl=2",
            "max=4",
            "keepalive=On",
            "connectiontimeout=500ms",
        ] {
            w.set_param(p).unwrap();
        }
        assert_eq!(w.timeout, Some(Duration::from_secs(30)));
        assert_eq!(w.retry, Duration::ZERO);
        assert_eq!(w.ttl, Some(Duration::from_secs(2)));
        assert_eq!(w.connection_timeout, Some(Duration::from_millis(500)));
        assert_eq!(w.max_idle, 4);
        assert!(w.tcp_keepalive);
        assert_eq!(w.upgrade, None);
        w.set_param("upgrade=websocket").unwrap();
        assert_eq!(w.upgrade, Some(UpgradeRule::Protocol("websocket".into())));
        w.set_param("upgrade=ANY").unwrap();
        assert_eq!(w.upgrade, Some(UpgradeRule::Any));
        assert!(w
            .set_param("upgrade=web socket")
            .unwrap_err()
            .contains("protocol name"));
        assert!(w
            .set_param("timeout=soon")
            .unwrap_err()
            .contains("number of seconds"));
        assert!(w
            .set_param("color=blue")
            .unwrap_err()
            .contains("unknown parameter"));
        assert!(w.set_param("retry").unwrap_err().contains("key=value"));
    }
}
