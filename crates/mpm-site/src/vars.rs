//! What an expression ([`crate::expr`]) or a rewrite rule
//! ([`crate::rewrite`]) reads of a request: Apache's server variables
//! (`%{REQUEST_URI}`, `%{HTTP_HOST}`, `%{TIME_YEAR}`), request and
//! response headers, environment variables and facts about files.
//!
//! Both read through one small trait, [`RequestVars`], which the server
//! implements over a request in flight and a test implements over a
//! table; [`lookup`] resolves the names both languages share on top of
//! it (`HTTP:name`, `ENV:name`, the `HTTP_*` headers, the `TIME*` family),
//! so the two languages read the same request the same way.

use std::borrow::Cow;
use std::time::SystemTime;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::utc_time::UtcTime;

/// What a file test (`-f`, `-d`, `-s`, `-l`) learns about a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileFacts {
    /// A regular file (after following symbolic links).
    pub is_file: bool,
    /// A directory (after following symbolic links).
    pub is_dir: bool,
    /// Its size in bytes (after following symbolic links).
    pub size: u64,
    /// The path itself is a symbolic link.
    pub is_symlink: bool,
    /// Anyone may execute it (`-x`).
    pub is_executable: bool,
}

impl FileFacts {
    /// The facts about `path` on the local file system, or `None` when
    /// nothing is there (or it cannot be reached).
    pub fn of_path(path: &str) -> Option<FileFacts> {
        use std::os::unix::fs::PermissionsExt;
        let link = std::fs::symlink_metadata(path).ok()?;
        let target = if link.file_type().is_symlink() {
            std::fs::metadata(path).ok()
        } else {
            Some(link.clone())
        };
        Some(FileFacts {
            is_file: target.as_ref().is_some_and(|m| m.is_file()),
            is_dir: target.as_ref().is_some_and(|m| m.is_dir()),
            size: target.as_ref().map_or(0, |m| m.len()),
            is_symlink: link.file_type().is_symlink(),
            is_executable: target
                .as_ref()
                .is_some_and(|m| m.permissions().mode() & 0o111 != 0),
        })
    }
}

/// What the request in flight tells an expression or a rewrite rule.
///
/// Values are `Cow` so an implementation over a request hands out what
/// it already holds without copying. `None` means "not set"; both
/// languages read it as the empty string, as Apache does.
pub trait RequestVars {
    /// A server variable by Apache's name: `REQUEST_URI`,
    /// `REQUEST_FILENAME`, `SCRIPT_FILENAME`, `QUERY_STRING`,
    /// `THE_REQUEST`, `REQUEST_METHOD`, `REQUEST_SCHEME`, `HTTPS` (`on` or
    /// `off`), `REMOTE_ADDR`, `REMOTE_PORT`, `REMOTE_USER`,
    /// `SERVER_NAME`, `SERVER_ADDR`, `SERVER_PORT`, `SERVER_PROTOCOL`,
    /// `SERVER_SOFTWARE`, `DOCUMENT_ROOT`, `PATH_INFO`, `HANDLER`,
    /// `CONTENT_TYPE`, `IS_SUBREQ`, … The `HTTP_*` headers and the
    /// `TIME*` family are answered by [`lookup`] before this is asked.
    fn var(&self, name: &str) -> Option<Cow<'_, str>>;

    /// A request header's value (`name` in any case), several fields of
    /// the same name joined with `", "`.
    fn header(&self, name: &str) -> Option<Cow<'_, str>>;

    /// A response header's value, once there is a response
    /// (`resp('…')` in `Header … expr=`).
    fn resp_header(&self, _name: &str) -> Option<Cow<'_, str>> {
        None
    }

    /// An environment variable of the request (`SetEnv`, `SetEnvIf`,
    /// `[E=…]`).
    fn env(&self, name: &str) -> Option<Cow<'_, str>>;

    /// Facts about the file at `path`, for `-f`, `-d`, `-s`, `-l`, `-x`.
    fn file(&self, path: &str) -> Option<FileFacts> {
        FileFacts::of_path(path)
    }

    /// Whether a sub-request for `target` would be allowed and find
    /// something (`-F` for a file path, `-U` for a URL path). Without a
    /// sub-request machinery the file is tested for existence.
    fn subrequest_ok(&self, target: &str, is_url: bool) -> bool {
        !is_url && self.file(target).is_some_and(|f| f.is_file)
    }

    /// The current time, for `%{TIME…}`.
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// [`RequestVars`] over a request in flight: its head and connection,
/// with what the site has decided so far (the file it maps to, the
/// document root, the environment). Each stage that evaluates an
/// expression or runs rewrite rules fills one; fields it does not know
/// yet stay `None`.
pub struct HttpVars<'a> {
    /// The request's method.
    pub method: &'a http::Method,
    /// The request target as sent (`/a%20b?x=1`).
    pub target: &'a http::Uri,
    /// The protocol version.
    pub version: http::Version,
    /// The request's header fields.
    pub headers: &'a http::HeaderMap,
    /// The connection.
    pub conn: &'a mpm_core::ConnInfo,
    /// The decoded URL path (`REQUEST_URI`, `DOCUMENT_URI`).
    pub path: &'a str,
    /// The query string, when the stages so far changed it (else the
    /// target's).
    pub query: Option<Option<&'a str>>,
    /// The file the URL maps to (`REQUEST_FILENAME`, `SCRIPT_FILENAME`);
    /// `None` before the mapping, when Apache gives the URL path.
    pub filename: Option<&'a str>,
    /// The rest of the URL past the file (`PATH_INFO`).
    pub path_info: Option<&'a str>,
    /// `DocumentRoot` of the host.
    pub document_root: &'a str,
    /// The host's `ServerName` (used when the request names no host).
    pub server_name: &'a str,
    /// `ServerAdmin`.
    pub server_admin: &'a str,
    /// The `Server` banner (`SERVER_SOFTWARE`).
    pub server_software: &'a str,
    /// The authenticated user (`REMOTE_USER`).
    pub remote_user: Option<&'a str>,
    /// The handler chosen so far (`HANDLER`).
    pub handler: Option<&'a str>,
    /// The environment variables of the request (`SetEnv`, `[E=]`).
    pub env: &'a crate::pipeline::Table,
    /// The response's header fields, once there is a response.
    pub response: Option<&'a http::HeaderMap>,
    /// Whether this is an internal redirect's or a sub-request's pass
    /// (`IS_SUBREQ` is `true` only for a sub-request).
    pub is_subrequest: bool,
}

impl<'a> HttpVars<'a> {
    /// The `Host` header's name and port (`UseCanonicalName Off`): the
    /// name the client asked for, else `ServerName`.
    fn host_and_port(&self) -> (Cow<'a, str>, Option<u16>) {
        let host = self
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| self.target.authority().map(|a| a.as_str()));
        let Some(host) = host.filter(|h| !h.is_empty()) else {
            return (Cow::Borrowed(self.server_name), None);
        };
        let (name, port) = match host.rfind(':') {
            Some(i) if !host[i..].contains(']') => (&host[..i], host[i + 1..].parse().ok()),
            _ => (host, None),
        };
        (Cow::Owned(name.to_ascii_lowercase()), port)
    }

    fn header_text(&self, name: &str) -> Option<Cow<'a, str>> {
        header_text(self.headers, name)
    }
}

/// The fields `name` of `headers` joined with `", "` (`None`: no such
/// field), as [`RequestVars::header`] gives them.
pub(crate) fn header_text(headers: &http::HeaderMap, name: &str) -> Option<Cow<'static, str>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    let mut text = String::from_utf8_lossy(first.as_bytes()).into_owned();
    for v in values {
        text.push_str(", ");
        text.push_str(&String::from_utf8_lossy(v.as_bytes()));
    }
    Some(Cow::Owned(text))
}

impl RequestVars for HttpVars<'_> {
    fn var(&self, name: &str) -> Option<Cow<'_, str>> {
        let secure = self.conn.is_secure();
        let owned = |s: String| Some(Cow::Owned(s));
        match &*upper(name) {
            "REQUEST_URI" | "DOCUMENT_URI" => Some(Cow::Borrowed(self.path)),
            "REQUEST_FILENAME" | "SCRIPT_FILENAME" => {
                Some(Cow::Borrowed(self.filename.unwrap_or(self.path)))
            }
            "QUERY_STRING" => self
                .query
                .unwrap_or_else(|| self.target.query())
                .map(Cow::Borrowed),
            "PATH_INFO" => self.path_info.map(Cow::Borrowed),
            "REQUEST_METHOD" => Some(Cow::Borrowed(self.method.as_str())),
            "REQUEST_SCHEME" => Some(Cow::Borrowed(if secure { "https" } else { "http" })),
            "HTTPS" => Some(Cow::Borrowed(if secure { "on" } else { "off" })),
            "SERVER_PROTOCOL" => owned(format!("{:?}", self.version)),
            "THE_REQUEST" => owned(format!(
                "{} {} {:?}",
                self.method,
                self.target.path_and_query().map_or("/", |p| p.as_str()),
                self.version
            )),
            "REMOTE_ADDR" => {
                owned(mpm_core::net::ipnet::canonical_ip(self.conn.peer.ip()).to_string())
            }
            "REMOTE_HOST" => owned(self.conn.peer.ip().to_string()),
            "REMOTE_PORT" => owned(self.conn.peer.port().to_string()),
            "CONN_REMOTE_ADDR" => owned(self.conn.socket_peer().ip().to_string()),
            "REMOTE_USER" => self.remote_user.map(Cow::Borrowed),
            "SERVER_ADDR" => owned(self.conn.local.ip().to_string()),
            "SERVER_NAME" => Some(self.host_and_port().0),
            "SERVER_PORT" => {
                let default = if secure { 443 } else { 80 };
                owned(self.host_and_port().1.unwrap_or(default).to_string())
            }
            "SERVER_ADMIN" => Some(Cow::Borrowed(self.server_admin)),
            "SERVER_SOFTWARE" => Some(Cow::Borrowed(self.server_software)),
            "DOCUMENT_ROOT" | "CONTEXT_DOCUMENT_ROOT" => Some(Cow::Borrowed(self.document_root)),
            "CONTEXT_PREFIX" => Some(Cow::Borrowed("")),
            "HANDLER" => self.handler.map(Cow::Borrowed),
            "IS_SUBREQ" => Some(Cow::Borrowed(if self.is_subrequest {
                "true"
            } else {
                "false"
            })),
            "IPV6" => Some(Cow::Borrowed(
                if mpm_core::net::ipnet::canonical_ip(self.conn.peer.ip()).is_ipv6() {
                    "on"
                } else {
                    "off"
                },
            )),
            "API_VERSION" => Some(Cow::Borrowed("20120211:0")),
            "CONTENT_TYPE" => self.header_text("content-type"),
            _ => None,
        }
    }

    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        self.header_text(name)
    }

    fn resp_header(&self, name: &str) -> Option<Cow<'_, str>> {
        let v = self.response?.get(name)?;
        Some(String::from_utf8_lossy(v.as_bytes()))
    }

    fn env(&self, name: &str) -> Option<Cow<'_, str>> {
        self.env.get(name).map(Cow::Borrowed)
    }
}

/// The server variables a name may take in both languages (besides
/// `HTTP_*`, `HTTP:…`, `ENV:…`, `SSL:…`), so an expression naming
/// another is refused when the configuration is read.
pub const KNOWN_VARS: &[&str] = &[
    "API_VERSION",
    "AUTH_TYPE",
    "CONN_REMOTE_ADDR",
    "CONTEXT_DOCUMENT_ROOT",
    "CONTEXT_PREFIX",
    "CONTENT_TYPE",
    "DOCUMENT_ROOT",
    "DOCUMENT_URI",
    "HANDLER",
    "HTTPS",
    "IPV6",
    "IS_SUBREQ",
    "LAST_MODIFIED",
    "PATH_INFO",
    "QUERY_STRING",
    "REMOTE_ADDR",
    "REMOTE_HOST",
    "REMOTE_IDENT",
    "REMOTE_PORT",
    "REMOTE_USER",
    "REQUEST_FILENAME",
    "REQUEST_LOG_ID",
    "REQUEST_METHOD",
    "REQUEST_SCHEME",
    "REQUEST_STATUS",
    "REQUEST_URI",
    "SCRIPT_FILENAME",
    "SCRIPT_GROUP",
    "SCRIPT_USER",
    "SERVER_ADDR",
    "SERVER_ADMIN",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "SERVER_SOFTWARE",
    "THE_REQUEST",
    "TIME",
    "TIME_DAY",
    "TIME_HOUR",
    "TIME_MIN",
    "TIME_MON",
    "TIME_SEC",
    "TIME_WDAY",
    "TIME_YEAR",
];

/// `name` in upper case, without a copy when it is already (as
/// configurations write variable names).
pub fn upper(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Owned(name.to_ascii_uppercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// Whether `name` is a variable [`lookup`] can answer (for an early
/// error on a misspelt name).
pub fn is_known(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.starts_with("HTTP_")
        || upper.starts_with("HTTP:")
        || upper.starts_with("ENV:")
        || upper.starts_with("SSL:")
        || upper.starts_with("SSL_")
        || KNOWN_VARS.contains(&upper.as_str())
}

/// The value of `%{name}`, read through `vars`: `HTTP:Header` and
/// `HTTP_HEADER_NAME` (underscores for dashes) are request headers,
/// `ENV:name` an environment variable of the request (else of the
/// process, as mod_rewrite looks), the `TIME*` family the current
/// time in UTC, anything else [`RequestVars::var`]. Unset is empty.
pub fn lookup<'a>(vars: &'a dyn RequestVars, name: &str) -> Cow<'a, str> {
    if let Some((prefix, rest)) = name.split_once(':') {
        let found = if prefix.eq_ignore_ascii_case("HTTP") {
            vars.header(rest)
        } else if prefix.eq_ignore_ascii_case("ENV") {
            vars.env(rest)
                .or_else(|| std::env::var(rest).ok().map(Cow::Owned))
        } else {
            vars.var(name)
        };
        return found.unwrap_or(Cow::Borrowed(""));
    }
    let starts = |prefix: &str| {
        name.len() >= prefix.len()
            && name.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    };
    if name.len() > 5 && starts("HTTP_") {
        if let Some(v) = vars.var(name) {
            return v;
        }
        return vars
            .header(&header_name(&name[5..]))
            .unwrap_or(Cow::Borrowed(""));
    }
    if starts("TIME") {
        if let Some(t) = time_var(&name.to_ascii_uppercase(), vars.now()) {
            return Cow::Owned(t);
        }
    }
    vars.var(name).unwrap_or(Cow::Borrowed(""))
}

/// `USER_AGENT` as the header's usual spelling, `User-Agent`.
fn header_name(var: &str) -> String {
    let mut out = String::with_capacity(var.len());
    let mut start = true;
    for c in var.chars() {
        if c == '_' {
            out.push('-');
            start = true;
        } else if start {
            out.push(c.to_ascii_uppercase());
            start = false;
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// `TIME`, `TIME_YEAR`, … for the moment `now`, as mod_rewrite writes
/// them (two digits where Apache pads; UTC, the server's usual zone).
fn time_var(name: &str, now: SystemTime) -> Option<String> {
    let t = UtcTime::of(now);
    Some(match name {
        "TIME" => format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        ),
        "TIME_YEAR" => format!("{:04}", t.year),
        "TIME_MON" => format!("{:02}", t.month),
        "TIME_DAY" => format!("{:02}", t.day),
        "TIME_HOUR" => format!("{:02}", t.hour),
        "TIME_MIN" => format!("{:02}", t.minute),
        "TIME_SEC" => format!("{:02}", t.second),
        "TIME_WDAY" => t.weekday.to_string(),
        _ => return None,
    })
}

/// What `ap_escape_uri` leaves as it is: letters, digits and
/// `$-_.+!*'(),:;@&=/~`.
pub(crate) const URI_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'$')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'+')
    .remove(b'!')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b',')
    .remove(b':')
    .remove(b';')
    .remove(b'@')
    .remove(b'&')
    .remove(b'=')
    .remove(b'/')
    .remove(b'~');

/// `text` escaped as a URL path (`escape()` in expressions,
/// `int:escape` in rewrite maps): what a path may not hold as itself
/// becomes `%XX`.
pub fn escape_path(text: &str) -> String {
    utf8_percent_encode(text, URI_PATH).to_string()
}

/// `text` with `%XX` decoded (`unescape()`, `int:unescape`); a `%` not
/// followed by two hex digits stays as it is, bytes that are not UTF-8
/// become U+FFFD.
pub fn unescape(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
pub(crate) mod table {
    //! A [`RequestVars`] over tables, for the engines' unit tests.

    use super::*;
    use std::collections::HashMap;

    /// Variables, headers and env in maps; files in a map of facts.
    #[derive(Default)]
    pub struct TableVars {
        pub vars: HashMap<String, String>,
        pub headers: HashMap<String, String>,
        pub resp: HashMap<String, String>,
        pub env: HashMap<String, String>,
        pub files: HashMap<String, FileFacts>,
    }

    impl TableVars {
        pub fn with(mut self, name: &str, value: &str) -> Self {
            self.vars.insert(name.into(), value.into());
            self
        }
        pub fn header(mut self, name: &str, value: &str) -> Self {
            self.headers.insert(name.to_ascii_lowercase(), value.into());
            self
        }
        pub fn env(mut self, name: &str, value: &str) -> Self {
            self.env.insert(name.into(), value.into());
            self
        }
        pub fn file(mut self, path: &str, size: u64) -> Self {
            let facts = FileFacts {
                is_file: true,
                size,
                ..FileFacts::default()
            };
            self.files.insert(path.into(), facts);
            self
        }
        pub fn dir(mut self, path: &str) -> Self {
            let facts = FileFacts {
                is_dir: true,
                ..FileFacts::default()
            };
            self.files.insert(path.into(), facts);
            self
        }
    }

    impl RequestVars for TableVars {
        fn var(&self, name: &str) -> Option<Cow<'_, str>> {
            self.vars.get(name).map(|v| Cow::Borrowed(v.as_str()))
        }
        fn header(&self, name: &str) -> Option<Cow<'_, str>> {
            let v = self.headers.get(&name.to_ascii_lowercase())?;
            Some(Cow::Borrowed(v.as_str()))
        }
        fn resp_header(&self, name: &str) -> Option<Cow<'_, str>> {
            let v = self.resp.get(&name.to_ascii_lowercase())?;
            Some(Cow::Borrowed(v.as_str()))
        }
        fn env(&self, name: &str) -> Option<Cow<'_, str>> {
            self.env.get(name).map(|v| Cow::Borrowed(v.as_str()))
        }
        fn file(&self, path: &str) -> Option<FileFacts> {
            self.files.get(path).copied()
        }
        fn now(&self) -> SystemTime {
            // 2024-02-29 13:05:09 UTC, a Thursday.
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_709_211_909)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::table::TableVars;
    use super::*;

    #[test]
    fn lookup_reads_headers_env_and_time_by_apache_names() {
        let vars = TableVars::default()
            .with("REQUEST_URI", "/a")
            .header("Host", "example.org")
            .header("X-Forwarded-Proto", "https")
            .env("APP", "on");
        assert_eq!(lookup(&vars, "REQUEST_URI"), "/a");
        assert_eq!(lookup(&vars, "HTTP_HOST"), "example.org");
        assert_eq!(lookup(&vars, "HTTP:x-forwarded-proto"), "https");
        assert_eq!(lookup(&vars, "HTTP_X_FORWARDED_PROTO"), "https");
        assert_eq!(lookup(&vars, "ENV:APP"), "on");
        assert_eq!(lookup(&vars, "ENV:NONE"), "");
        assert_eq!(lookup(&vars, "QUERY_STRING"), "");
        assert_eq!(lookup(&vars, "TIME_YEAR"), "2024");
        assert_eq!(lookup(&vars, "TIME_MON"), "02");
        assert_eq!(lookup(&vars, "TIME_WDAY"), "4");
        assert_eq!(lookup(&vars, "TIME"), "20240229130509");
    }

    #[test]
    fn http_vars_read_a_request_as_apache_names_it() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "host",
            http::HeaderValue::from_static("WWW.Example.org:8080"),
        );
        headers.append("accept", http::HeaderValue::from_static("a"));
        headers.append("accept", http::HeaderValue::from_static("b"));
        let target: http::Uri = "/a%20b?x=1".parse().expect("uri");
        let conn = mpm_core::ConnInfo {
            peer: "[::ffff:192.0.2.7]:5000".parse().expect("peer"),
            local: "127.0.0.1:8080".parse().expect("local"),
            listener: 0,
            listen_addr: std::sync::Arc::from("*:8080"),
            tls: None,
            proxied: None,
        };
        let mut env = crate::pipeline::Table::default();
        env.set("APP", "1");
        let vars = HttpVars {
            method: &http::Method::GET,
            target: &target,
            version: http::Version::HTTP_11,
            headers: &headers,
            conn: &conn,
            path: "/a b",
            query: None,
            filename: None,
            path_info: None,
            document_root: "/srv/www",
            server_name: "example.org",
            server_admin: "root@example.org",
            server_software: "mpmd",
            remote_user: None,
            handler: None,
            env: &env,
            response: None,
            is_subrequest: false,
        };
        for (name, want) in [
            ("REQUEST_URI", "/a b"),
            ("REQUEST_FILENAME", "/a b"),
            ("QUERY_STRING", "x=1"),
            ("THE_REQUEST", "GET /a%20b?x=1 HTTP/1.1"),
            ("SERVER_NAME", "www.example.org"),
            ("SERVER_PORT", "8080"),
            ("REMOTE_ADDR", "192.0.2.7"),
            ("HTTPS", "off"),
            ("REQUEST_SCHEME", "http"),
            ("HTTP_ACCEPT", "a, b"),
            ("HTTP:Host", "WWW.Example.org:8080"),
            ("ENV:APP", "1"),
            ("DOCUMENT_ROOT", "/srv/www"),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("IS_SUBREQ", "false"),
        ] {
            assert_eq!(lookup(&vars, name), want, "{name}");
        }
    }

    #[test]
    fn escape_and_unescape_follow_apache() {
        assert_eq!(escape_path("/a b/ü?x=1#"), "/a%20b/%C3%BC%3Fx=1%23");
        assert_eq!(unescape("/a%20b%2Fc%zz"), "/a b/c%zz");
        assert!(is_known("request_uri") && is_known("HTTP:X") && !is_known("REQEST_URI"));
        // Found by the rewrite_rule fuzz target: a name with a multi-byte
        // character where a prefix ends.
        let vars = table::TableVars::default();
        assert_eq!(lookup(&vars, "REQ\u{fffd}UEST_URI"), "");
        assert_eq!(lookup(&vars, "HTTP\u{fffd}X"), "");
        assert_eq!(lookup(&vars, "TIM\u{fffd}"), "");
    }
}
