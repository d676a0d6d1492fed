//! The CGI/1.1 environment of a request (RFC 3875 §4.1), as Apache's
//! `ap_add_common_vars` and `ap_add_cgi_vars` make it for mod_cgi,
//! mod_fcgid and mod_proxy_fcgi.
//!
//! What goes in, in the order a later entry replaces an earlier one of the
//! same name (Apache's `apr_table_overlap(…, APR_OVERLAP_TABLES_SET)`):
//!
//! 1. after an internal redirect (a script's local `Location`, an
//!    `ErrorDocument`), the previous request's variables, each renamed
//!    `REDIRECT_<name>`, and `REDIRECT_STATUS`;
//! 2. the variables the request carries (`SetEnv`, `SetEnvIf`, a rewrite
//!    rule's `E=`);
//! 3. `HTTP_<NAME>` for every request header: letters upper-cased, `-`
//!    made `_`; `Content-Type` and `Content-Length` become
//!    `CONTENT_TYPE` and `CONTENT_LENGTH`. Left out: `Proxy` (httpoxy: a
//!    client must never set a script's `HTTP_PROXY`), a name with any
//!    character other than a letter, digit or `-` (so `X_Forwarded_For`
//!    cannot pass for `X-Forwarded-For`; listed in
//!    [`CgiEnv::skipped_headers`] for the error log), and `Authorization`
//!    and `Proxy-Authorization` unless [`CgiRequest::pass_auth`]
//!    (`CGIPassAuth On`). Repeated fields are joined with `, `, as Apache
//!    joins them when it reads a request;
//! 4. what the server knows: `PATH`, `SERVER_SIGNATURE`,
//!    `SERVER_SOFTWARE`, `SERVER_NAME`, `SERVER_ADDR`, `SERVER_PORT`,
//!    `REMOTE_ADDR`, `DOCUMENT_ROOT`, `REQUEST_SCHEME`, `CONTEXT_PREFIX`,
//!    `CONTEXT_DOCUMENT_ROOT`, `SERVER_ADMIN`, `SCRIPT_FILENAME`,
//!    `REMOTE_PORT`, `REMOTE_USER`, `AUTH_TYPE`, `HTTPS=on` under TLS,
//!    `REDIRECT_URL` and `REDIRECT_QUERY_STRING`, then
//!    `GATEWAY_INTERFACE`, `SERVER_PROTOCOL`, `REQUEST_METHOD`,
//!    `QUERY_STRING` (empty when there is none), `REQUEST_URI` (the
//!    target as the client sent it), `SCRIPT_NAME`, `PATH_INFO` and
//!    `PATH_TRANSLATED` (when there is path info).
//!
//! Names are made safe for an environment as Apache's
//! `ap_create_environment` makes them: a character other than a letter,
//! digit or `_` becomes `_`. Values are bytes: a header value need not
//! be UTF-8, and a script gets it as the client sent it.

use std::net::SocketAddr;

use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, PROXY_AUTHORIZATION};
use http::{HeaderMap, Method, Version};

/// `PATH` when the caller gives none: Apache's `DEFAULT_PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// What a request gives its script's environment. Made with
/// [`CgiRequest::new`] (which fills what the connection tells), then the
/// caller sets what its mapping found (`script_name`, `path_info`,
/// `script_filename`, `document_root`, …) and calls
/// [`environment`](Self::environment).
#[derive(Debug, Clone)]
pub struct CgiRequest<'a> {
    /// `REQUEST_METHOD`.
    pub method: &'a Method,
    /// `SERVER_PROTOCOL` (`HTTP/1.1`).
    pub version: Version,
    /// `REQUEST_URI`: the request target as the client sent it (still
    /// %-encoded, with its query), of the original request after an
    /// internal redirect.
    pub request_uri: &'a str,
    /// The request's header fields: `HTTP_*`, `CONTENT_TYPE`,
    /// `CONTENT_LENGTH`.
    pub headers: &'a HeaderMap,
    /// `CONTENT_LENGTH` when the body's length is known otherwise than by
    /// the client's `Content-Length` (a chunked body read whole first);
    /// it replaces the header's.
    pub content_length: Option<u64>,
    /// `SERVER_ADDR`: the address the connection came in on.
    pub local: SocketAddr,
    /// `REMOTE_ADDR` and `REMOTE_PORT`: the client (after mod_remoteip).
    pub remote: SocketAddr,
    /// `SERVER_NAME`: the host name of the request's URL (empty: the
    /// local address).
    pub server_name: &'a str,
    /// `SERVER_PORT` (0: the local port).
    pub server_port: u16,
    /// `SERVER_SOFTWARE`: the `Server` banner.
    pub server_software: &'a str,
    /// `SERVER_ADMIN`, left out when empty.
    pub server_admin: &'a str,
    /// `SERVER_SIGNATURE`, left out when empty (`ServerSignature Off`).
    pub server_signature: &'a str,
    /// Whether the connection is TLS: `HTTPS=on`, `REQUEST_SCHEME=https`.
    pub https: bool,
    /// `DOCUMENT_ROOT`.
    pub document_root: &'a str,
    /// `CONTEXT_PREFIX`: the URL prefix an `Alias` or `ScriptAlias` maps
    /// (empty without one).
    pub context_prefix: &'a str,
    /// `CONTEXT_DOCUMENT_ROOT`: the directory that prefix maps to (empty:
    /// the document root).
    pub context_document_root: &'a str,
    /// `SCRIPT_FILENAME`: the script's file (or what the backend is to
    /// run, for FastCGI).
    pub script_filename: &'a str,
    /// `SCRIPT_NAME`: the decoded URL path of the script, without the
    /// path info.
    pub script_name: &'a str,
    /// `PATH_INFO`: the decoded rest of the URL path after the script;
    /// empty when there is none, and then no `PATH_INFO` is given.
    pub path_info: &'a str,
    /// `PATH_TRANSLATED`: where the path info maps to on disk. `None`:
    /// the document root followed by the path info. Only given with path
    /// info.
    pub path_translated: Option<&'a str>,
    /// `QUERY_STRING` (still %-encoded); `None` gives an empty one.
    pub query: Option<&'a str>,
    /// `REMOTE_USER` of an authenticated request.
    pub remote_user: Option<&'a str>,
    /// `AUTH_TYPE` of an authenticated request (`Basic`).
    pub auth_type: Option<&'a str>,
    /// `CGIPassAuth On`: give `HTTP_AUTHORIZATION` (and
    /// `HTTP_PROXY_AUTHORIZATION`) to the script.
    pub pass_auth: bool,
    /// `PATH` (`None`: [`DEFAULT_PATH`]).
    pub path: Option<&'a str>,
    /// The variables the request carries (`SetEnv`, `SetEnvIf`, …), in
    /// the order they were set.
    pub env: &'a [(String, String)],
    /// The request this one replaces after an internal redirect. A
    /// handler of [`crate::pipeline`] leaves it `None`: the pipeline's
    /// internal redirect ([`RequestState::restart`](crate::pipeline::request::RequestState::restart))
    /// already put the `REDIRECT_*` variables in the request's
    /// `subprocess_env`, which goes in as [`env`](Self::env).
    pub previous: Option<PreviousRequest<'a>>,
}

/// The request an internal redirect replaced (a script's local
/// `Location`, an `ErrorDocument`): its variables come again as
/// `REDIRECT_*`.
#[derive(Debug, Clone, Copy)]
pub struct PreviousRequest<'a> {
    /// Its decoded URL path: `REDIRECT_URL`.
    pub url: &'a str,
    /// Its query: `REDIRECT_QUERY_STRING` (none: not given).
    pub query: Option<&'a str>,
    /// The status it ended with, for an `ErrorDocument`:
    /// `REDIRECT_STATUS`.
    pub status: Option<u16>,
    /// Its variables (its own CGI environment when it ran a script, else
    /// those it carried): each given as `REDIRECT_<name>`.
    pub env: &'a [(String, Vec<u8>)],
}

impl<'a> CgiRequest<'a> {
    /// What the request line, header and connection give; every other
    /// field empty (set them before [`environment`](Self::environment)).
    pub fn new(
        method: &'a Method,
        version: Version,
        request_uri: &'a str,
        headers: &'a HeaderMap,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Self {
        CgiRequest {
            method,
            version,
            request_uri,
            headers,
            content_length: None,
            local,
            remote,
            server_name: "",
            server_port: 0,
            server_software: "",
            server_admin: "",
            server_signature: "",
            https: false,
            document_root: "",
            context_prefix: "",
            context_document_root: "",
            script_filename: "",
            script_name: "",
            path_info: "",
            path_translated: None,
            query: None,
            remote_user: None,
            auth_type: None,
            pass_auth: false,
            path: None,
            env: &[],
            previous: None,
        }
    }

    /// The environment (see the [module](self) for what goes in, and in
    /// which order).
    pub fn environment(&self) -> CgiEnv {
        let mut env = CgiEnv::with_capacity(40 + self.headers.keys_len() + self.env.len());
        if let Some(previous) = &self.previous {
            for (name, value) in previous.env {
                env.set(&format!("REDIRECT_{name}"), value);
            }
            if let Some(status) = previous.status {
                env.set("REDIRECT_STATUS", status.to_string().as_bytes());
            }
        }
        for (name, value) in self.env {
            env.set(name, value.as_bytes());
        }
        self.add_headers(&mut env);
        self.add_common(&mut env);
        self.add_cgi(&mut env);
        env
    }

    /// `HTTP_*`, `CONTENT_TYPE` and `CONTENT_LENGTH`.
    fn add_headers(&self, env: &mut CgiEnv) {
        let mut joined = Vec::new();
        for name in self.headers.keys() {
            joined.clear();
            for (i, value) in self.headers.get_all(name).iter().enumerate() {
                if i > 0 {
                    joined.extend_from_slice(b", ");
                }
                joined.extend_from_slice(value.as_bytes());
            }
            if name == CONTENT_TYPE {
                env.set("CONTENT_TYPE", &joined);
            } else if name == CONTENT_LENGTH {
                env.set("CONTENT_LENGTH", &joined);
            } else if name.as_str() == "proxy" {
                // httpoxy (CVE-2016-5385): HTTP_PROXY configures
                // outgoing proxies in many libraries.
            } else if (name == AUTHORIZATION || name == PROXY_AUTHORIZATION) && !self.pass_auth {
                // A password never reaches a script (nor `ps -e`) unless
                // CGIPassAuth says so.
            } else if let Some(var) = header_var(name.as_str()) {
                env.set(&var, &joined);
            } else {
                env.skipped_headers.push(name.as_str().to_owned());
            }
        }
        if let Some(length) = self.content_length {
            env.set("CONTENT_LENGTH", length.to_string().as_bytes());
        }
    }

    /// What `ap_add_common_vars` adds besides the headers.
    fn add_common(&self, env: &mut CgiEnv) {
        env.set("PATH", self.path.unwrap_or(DEFAULT_PATH).as_bytes());
        if !self.server_signature.is_empty() {
            env.set("SERVER_SIGNATURE", self.server_signature.as_bytes());
        }
        env.set("SERVER_SOFTWARE", self.server_software.as_bytes());
        let local_ip = self.local.ip().to_string();
        let server_name = if self.server_name.is_empty() {
            &local_ip
        } else {
            self.server_name
        };
        env.set("SERVER_NAME", server_name.as_bytes());
        env.set("SERVER_ADDR", local_ip.as_bytes());
        let port = match self.server_port {
            0 => self.local.port(),
            port => port,
        };
        env.set("SERVER_PORT", port.to_string().as_bytes());
        env.set("REMOTE_ADDR", self.remote.ip().to_string().as_bytes());
        env.set("DOCUMENT_ROOT", self.document_root.as_bytes());
        env.set(
            "REQUEST_SCHEME",
            if self.https { b"https" } else { b"http" },
        );
        env.set("CONTEXT_PREFIX", self.context_prefix.as_bytes());
        let context_root = if self.context_document_root.is_empty() {
            self.document_root
        } else {
            self.context_document_root
        };
        env.set("CONTEXT_DOCUMENT_ROOT", context_root.as_bytes());
        if !self.server_admin.is_empty() {
            env.set("SERVER_ADMIN", self.server_admin.as_bytes());
        }
        env.set("SCRIPT_FILENAME", self.script_filename.as_bytes());
        env.set("REMOTE_PORT", self.remote.port().to_string().as_bytes());
        if let Some(user) = self.remote_user {
            env.set("REMOTE_USER", user.as_bytes());
        }
        if let Some(auth_type) = self.auth_type {
            env.set("AUTH_TYPE", auth_type.as_bytes());
        }
        if self.https {
            env.set("HTTPS", b"on");
        }
        if let Some(previous) = &self.previous {
            env.set("REDIRECT_URL", previous.url.as_bytes());
            if let Some(query) = previous.query {
                env.set("REDIRECT_QUERY_STRING", query.as_bytes());
            }
        }
    }

    /// What `ap_add_cgi_vars` adds.
    fn add_cgi(&self, env: &mut CgiEnv) {
        env.set("GATEWAY_INTERFACE", b"CGI/1.1");
        env.set("SERVER_PROTOCOL", protocol(self.version).as_bytes());
        env.set("REQUEST_METHOD", self.method.as_str().as_bytes());
        env.set("QUERY_STRING", self.query.unwrap_or("").as_bytes());
        env.set("REQUEST_URI", self.request_uri.as_bytes());
        env.set("SCRIPT_NAME", self.script_name.as_bytes());
        if !self.path_info.is_empty() {
            env.set("PATH_INFO", self.path_info.as_bytes());
            match self.path_translated {
                Some(translated) => env.set("PATH_TRANSLATED", translated.as_bytes()),
                None => {
                    let root = self.document_root.trim_end_matches('/');
                    let translated = format!("{root}{}", self.path_info);
                    env.set("PATH_TRANSLATED", translated.as_bytes());
                }
            }
        }
    }
}

/// `SERVER_PROTOCOL`'s text for a version.
fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// `HTTP_<NAME>` for a header name, or `None` when the name holds a
/// character other than a letter, digit or `-` (Apache's `http2env`).
fn header_var(name: &str) -> Option<String> {
    let mut var = String::with_capacity(5 + name.len());
    var.push_str("HTTP_");
    for c in name.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' => var.push(c.to_ascii_uppercase()),
            '-' => var.push('_'),
            _ => return None,
        }
    }
    Some(var)
}

/// A script's environment: names and values in the order they were
/// first set, each name once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgiEnv {
    vars: Vec<(String, Vec<u8>)>,
    /// Request header fields left out because their names are not made of
    /// letters, digits and `-` (Apache logs each: "Not exporting header
    /// with invalid name as envvar").
    pub skipped_headers: Vec<String>,
}

impl CgiEnv {
    /// An empty environment with room for `n` variables.
    pub fn with_capacity(n: usize) -> Self {
        CgiEnv {
            vars: Vec::with_capacity(n),
            skipped_headers: Vec::new(),
        }
    }

    /// Set `name` (made safe: a character other than a letter, digit or
    /// `_` becomes `_`) to `value`, replacing an earlier value in its
    /// place.
    pub fn set(&mut self, name: &str, value: &[u8]) {
        let safe = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let name = if name.chars().all(safe) {
            std::borrow::Cow::Borrowed(name)
        } else {
            std::borrow::Cow::Owned(
                name.chars()
                    .map(|c| if safe(c) { c } else { '_' })
                    .collect::<String>(),
            )
        };
        match self.vars.iter_mut().find(|(n, _)| *n == *name) {
            Some((_, old)) => {
                old.clear();
                old.extend_from_slice(value);
            }
            None => self.vars.push((name.into_owned(), value.to_vec())),
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// Remove `name`, giving its value back.
    pub fn remove(&mut self, name: &str) -> Option<Vec<u8>> {
        let at = self.vars.iter().position(|(n, _)| n == name)?;
        Some(self.vars.remove(at).1)
    }

    /// Every variable, in order.
    pub fn vars(&self) -> &[(String, Vec<u8>)] {
        &self.vars
    }

    /// How many variables.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(fields: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in fields {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    fn request<'a>(headers: &'a HeaderMap, method: &'a Method) -> CgiRequest<'a> {
        let mut r = CgiRequest::new(
            method,
            Version::HTTP_11,
            "/app/index.php/a%20b?x=1&y=%41",
            headers,
            "127.0.0.1:8080".parse().unwrap(),
            "192.0.2.9:51234".parse().unwrap(),
        );
        r.server_name = "www.example";
        r.server_software = "mpmd/0.1";
        r.document_root = "/srv/www/";
        r.script_filename = "/srv/www/app/index.php";
        r.script_name = "/app/index.php";
        r.path_info = "/a b";
        r.query = Some("x=1&y=%41");
        r
    }

    fn var(env: &CgiEnv, name: &str) -> Option<String> {
        env.get(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    #[test]
    fn the_environment_has_every_rfc_3875_variable_as_apache_sets_it() {
        let h = headers(&[
            ("host", b"www.example:8080"),
            ("content-type", b"application/x-www-form-urlencoded"),
            ("content-length", b"11"),
            ("user-agent", b"curl/8"),
        ]);
        let env = request(&h, &Method::POST).environment();
        for (name, want) in [
            ("GATEWAY_INTERFACE", "CGI/1.1"),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("REQUEST_METHOD", "POST"),
            ("QUERY_STRING", "x=1&y=%41"),
            ("REQUEST_URI", "/app/index.php/a%20b?x=1&y=%41"),
            ("SCRIPT_NAME", "/app/index.php"),
            ("SCRIPT_FILENAME", "/srv/www/app/index.php"),
            ("PATH_INFO", "/a b"),
            ("PATH_TRANSLATED", "/srv/www/a b"),
            ("DOCUMENT_ROOT", "/srv/www/"),
            ("CONTEXT_DOCUMENT_ROOT", "/srv/www/"),
            ("CONTEXT_PREFIX", ""),
            ("CONTENT_TYPE", "application/x-www-form-urlencoded"),
            ("CONTENT_LENGTH", "11"),
            ("SERVER_NAME", "www.example"),
            ("SERVER_ADDR", "127.0.0.1"),
            ("SERVER_PORT", "8080"),
            ("SERVER_SOFTWARE", "mpmd/0.1"),
            ("REMOTE_ADDR", "192.0.2.9"),
            ("REMOTE_PORT", "51234"),
            ("REQUEST_SCHEME", "http"),
            ("HTTP_HOST", "www.example:8080"),
            ("HTTP_USER_AGENT", "curl/8"),
            ("PATH", DEFAULT_PATH),
        ] {
            assert_eq!(var(&env, name).as_deref(), Some(want), "{name} in {env:?}");
        }
        for absent in [
            "HTTPS",
            "HTTP_CONTENT_TYPE",
            "HTTP_CONTENT_LENGTH",
            "REMOTE_USER",
            "AUTH_TYPE",
            "SERVER_ADMIN",
            "SERVER_SIGNATURE",
            "REDIRECT_STATUS",
            "REDIRECT_URL",
        ] {
            assert_eq!(var(&env, absent), None, "{absent} should not be set");
        }
    }

    #[test]
    fn without_path_info_there_is_no_path_info_nor_path_translated_and_the_query_is_empty() {
        let h = HeaderMap::new();
        let mut r = request(&h, &Method::GET);
        r.path_info = "";
        r.query = None;
        let env = r.environment();
        assert_eq!(var(&env, "PATH_INFO"), None);
        assert_eq!(var(&env, "PATH_TRANSLATED"), None);
        assert_eq!(var(&env, "QUERY_STRING").as_deref(), Some(""));
        r.path_info = "/x";
        r.path_translated = Some("/elsewhere/x");
        let env = r.environment();
        assert_eq!(
            var(&env, "PATH_TRANSLATED").as_deref(),
            Some("/elsewhere/x")
        );
    }

    #[test]
    fn tls_gives_https_on_and_the_https_scheme() {
        let h = HeaderMap::new();
        let mut r = request(&h, &Method::GET);
        r.https = true;
        let env = r.environment();
        assert_eq!(var(&env, "HTTPS").as_deref(), Some("on"));
        assert_eq!(var(&env, "REQUEST_SCHEME").as_deref(), Some("https"));
    }

    #[test]
    fn a_proxy_header_never_becomes_http_proxy() {
        let h = headers(&[("proxy", b"http://evil.example:3128"), ("x-a", b"1")]);
        let env = request(&h, &Method::GET).environment();
        assert_eq!(var(&env, "HTTP_PROXY"), None, "httpoxy: {env:?}");
        assert_eq!(var(&env, "HTTP_X_A").as_deref(), Some("1"));
        assert!(env.skipped_headers.is_empty());
    }

    #[test]
    fn a_header_name_with_an_underscore_or_other_sign_is_not_exported() {
        let h = headers(&[
            ("x_forwarded_for", b"10.0.0.1"),
            ("x.y", b"2"),
            ("x-forwarded-for", b"192.0.2.1"),
        ]);
        let env = request(&h, &Method::GET).environment();
        assert_eq!(
            var(&env, "HTTP_X_FORWARDED_FOR").as_deref(),
            Some("192.0.2.1")
        );
        assert_eq!(var(&env, "HTTP_X_Y"), None);
        assert_eq!(env.skipped_headers, ["x_forwarded_for", "x.y"]);
    }

    #[test]
    fn authorization_reaches_the_script_only_with_cgi_pass_auth() {
        let h = headers(&[
            ("authorization", b"Basic dTpw"),
            ("proxy-authorization", b"Basic dTpw"),
        ]);
        let mut r = request(&h, &Method::GET);
        r.remote_user = Some("u");
        r.auth_type = Some("Basic");
        let env = r.environment();
        assert_eq!(var(&env, "HTTP_AUTHORIZATION"), None);
        assert_eq!(var(&env, "HTTP_PROXY_AUTHORIZATION"), None);
        assert_eq!(var(&env, "REMOTE_USER").as_deref(), Some("u"));
        assert_eq!(var(&env, "AUTH_TYPE").as_deref(), Some("Basic"));
        r.pass_auth = true;
        let env = r.environment();
        assert_eq!(
            var(&env, "HTTP_AUTHORIZATION").as_deref(),
            Some("Basic dTpw")
        );
    }

    #[test]
    fn repeated_fields_are_joined_and_values_stay_bytes() {
        let h = headers(&[
            ("accept", b"text/html"),
            ("accept", b"*/*"),
            ("x-latin", b"caf\xe9"),
        ]);
        let env = request(&h, &Method::GET).environment();
        assert_eq!(var(&env, "HTTP_ACCEPT").as_deref(), Some("text/html, */*"));
        assert_eq!(env.get("HTTP_X_LATIN"), Some(&b"caf\xe9"[..]));
    }

    #[test]
    fn request_variables_are_given_but_never_replace_what_the_server_knows() {
        let h = headers(&[("x-a", b"from-client")]);
        let set = vec![
            ("APP_ENV".to_owned(), "production".to_owned()),
            ("REMOTE_ADDR".to_owned(), "6.6.6.6".to_owned()),
            ("HTTP_X_A".to_owned(), "from-setenv".to_owned()),
            ("odd-name".to_owned(), "x".to_owned()),
        ];
        let mut r = request(&h, &Method::GET);
        r.env = &set;
        let env = r.environment();
        assert_eq!(var(&env, "APP_ENV").as_deref(), Some("production"));
        assert_eq!(var(&env, "REMOTE_ADDR").as_deref(), Some("192.0.2.9"));
        assert_eq!(var(&env, "HTTP_X_A").as_deref(), Some("from-client"));
        assert_eq!(var(&env, "odd_name").as_deref(), Some("x"));
        let names: Vec<&str> = env.vars().iter().map(|(n, _)| n.as_str()).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(names.len(), unique.len(), "a name given twice: {names:?}");
    }

    #[test]
    fn a_measured_body_length_replaces_the_clients_content_length() {
        let h = headers(&[("transfer-encoding", b"chunked")]);
        let mut r = request(&h, &Method::POST);
        r.content_length = Some(42);
        let env = r.environment();
        assert_eq!(var(&env, "CONTENT_LENGTH").as_deref(), Some("42"));
        assert_eq!(
            var(&env, "HTTP_TRANSFER_ENCODING").as_deref(),
            Some("chunked")
        );
    }

    #[test]
    fn after_an_internal_redirect_the_previous_request_comes_as_redirect_variables() {
        let h = HeaderMap::new();
        let previous_env = vec![
            ("SCRIPT_NAME".to_owned(), b"/old.php".to_vec()),
            ("APP_ENV".to_owned(), b"x".to_vec()),
        ];
        let mut r = request(&h, &Method::GET);
        r.previous = Some(PreviousRequest {
            url: "/missing",
            query: Some("q=1"),
            status: Some(404),
            env: &previous_env,
        });
        let env = r.environment();
        for (name, want) in [
            ("REDIRECT_STATUS", "404"),
            ("REDIRECT_URL", "/missing"),
            ("REDIRECT_QUERY_STRING", "q=1"),
            ("REDIRECT_SCRIPT_NAME", "/old.php"),
            ("REDIRECT_APP_ENV", "x"),
            ("SCRIPT_NAME", "/app/index.php"),
        ] {
            assert_eq!(var(&env, name).as_deref(), Some(want), "{name} in {env:?}");
        }
    }

    #[test]
    fn the_server_name_and_port_fall_back_to_the_local_address() {
        let h = HeaderMap::new();
        let mut r = request(&h, &Method::GET);
        r.server_name = "";
        r.local = "[::1]:8443".parse().unwrap();
        let env = r.environment();
        assert_eq!(var(&env, "SERVER_NAME").as_deref(), Some("::1"));
        assert_eq!(var(&env, "SERVER_ADDR").as_deref(), Some("::1"));
        assert_eq!(var(&env, "SERVER_PORT").as_deref(), Some("8443"));
        r.server_port = 443;
        assert_eq!(var(&r.environment(), "SERVER_PORT").as_deref(), Some("443"));
    }
}
