//! What a request and its answer pass through around the handler, in
//! Apache's order: `RequestHeader` rules before the handler; after it
//! mod_expires, then mod_headers' `Header` rules, then mod_deflate and
//! mod_brotli (Apache's filter types put them in that order: a `Header
//! append Content-Encoding gzip` rule, as precompressed files use, is
//! seen by the compressing filter, which then leaves the body alone).
//!
//! One [`FilterConfig`] holds the three modules' settings for a place (a
//! host, or a section merged into it with [`FilterConfig::merged`]).

use std::borrow::Cow;
use std::time::SystemTime;

use http::header::CONTENT_TYPE;
use http::{HeaderMap, Method};
use mpm_core::{ConnInfo, Response};

use crate::compress::{self, CompressConfig, CompressRequest, VariantCache};
use crate::expires::ExpiresConfig;
use crate::headers::{Condition, Context, HeadersConfig};
use crate::mime::MimeTypes;
use crate::pipeline::request::RequestState;
use crate::vars::RequestVars;

/// mod_headers, mod_expires, mod_deflate and mod_brotli's settings for
/// the requests of one place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterConfig {
    /// `Header` and `RequestHeader`.
    pub headers: HeadersConfig,
    /// `ExpiresActive`, `ExpiresByType`, `ExpiresDefault`.
    pub expires: ExpiresConfig,
    /// `AddOutputFilterByType DEFLATE …` and the compressors' settings.
    pub compress: CompressConfig,
}

impl FilterConfig {
    /// True when none of the modules has anything to do.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty() && self.expires.active != Some(true) && !self.compress.is_active()
    }

    /// True when nothing is written here (a section without any of these
    /// directives): merging it changes nothing.
    pub fn is_unset(&self) -> bool {
        *self == FilterConfig::default()
    }

    /// This configuration with `add`'s over it, each module merged as
    /// Apache merges a section into its parent.
    pub fn merged(&self, add: &FilterConfig) -> FilterConfig {
        FilterConfig {
            headers: self.headers.merged(&add.headers),
            expires: self.expires.merged(&add.expires),
            compress: self.compress.merged(&add.compress),
        }
    }
}

/// What the filters know of a request once its handler has it.
pub struct RequestFacts<'a> {
    /// The method.
    pub method: &'a Method,
    /// The request's headers (after the `RequestHeader` rules).
    pub headers: &'a HeaderMap,
    /// The decoded URL path.
    pub path: &'a [u8],
    /// The file the URL maps to, when it does.
    pub filename: Option<&'a std::path::Path>,
    /// The query string, as received.
    pub query: Option<&'a str>,
    /// The connection (mod_ssl's variables).
    pub conn: &'a ConnInfo,
    /// The request's environment.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// When it arrived.
    pub started: SystemTime,
    /// The media types by extension: `%{CONTENT_TYPE}` of an answer
    /// without `Content-Type` (a 304) is the file's, as Apache still
    /// knows it then.
    pub mime: Option<&'a MimeTypes>,
}

/// mod_ssl's variables a `Header` value may name (`%{HTTPS}s`,
/// `%{SSL_PROTOCOL}s`, `%{SSL_TLS_SNI}s`).
fn ssl_var(conn: &ConnInfo, name: &str) -> Option<String> {
    let tls = conn.tls.as_ref();
    match name {
        "HTTPS" => Some(if tls.is_some() { "on" } else { "off" }.to_string()),
        "SSL_PROTOCOL" => tls.map(|t| t.version.clone()),
        "SSL_TLS_SNI" => tls.and_then(|t| t.sni.clone()),
        _ => None,
    }
}

/// A request (and its answer, once there is one) as `expr=` conditions
/// read it.
struct Vars<'a> {
    facts: &'a RequestFacts<'a>,
    /// The answer's status and headers, after the handler.
    response: Option<(u16, &'a HeaderMap)>,
}

impl RequestVars for Vars<'_> {
    fn var(&self, name: &str) -> Option<Cow<'_, str>> {
        let facts = self.facts;
        let secure = facts.conn.tls.is_some();
        Some(match name {
            "REQUEST_METHOD" => Cow::Borrowed(facts.method.as_str()),
            "REQUEST_URI" | "DOCUMENT_URI" => String::from_utf8_lossy(facts.path),
            "QUERY_STRING" => Cow::Borrowed(facts.query.unwrap_or("")),
            "REQUEST_SCHEME" => Cow::Borrowed(if secure { "https" } else { "http" }),
            "REMOTE_ADDR" => Cow::Owned(facts.conn.peer.ip().to_string()),
            "REMOTE_PORT" => Cow::Owned(facts.conn.peer.port().to_string()),
            "SERVER_ADDR" => Cow::Owned(facts.conn.local.ip().to_string()),
            "SERVER_PORT" => Cow::Owned(facts.conn.local.port().to_string()),
            "IPV6" => Cow::Borrowed(if facts.conn.peer.is_ipv6() {
                "on"
            } else {
                "off"
            }),
            "REQUEST_STATUS" => Cow::Owned(self.response?.0.to_string()),
            "CONTENT_TYPE" => match self.response?.1.get(CONTENT_TYPE) {
                Some(ct) => Cow::Borrowed(ct.to_str().ok()?),
                None => Cow::Owned(file_type(facts)?),
            },
            _ => Cow::Owned(ssl_var(
                facts.conn,
                name.strip_prefix("SSL:").unwrap_or(name),
            )?),
        })
    }

    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        joined(self.facts.headers, name)
    }

    fn resp_header(&self, name: &str) -> Option<Cow<'_, str>> {
        joined(self.response?.1, name)
    }

    fn env(&self, name: &str) -> Option<Cow<'_, str>> {
        (self.facts.env)(name).map(Cow::Owned)
    }
}

/// The media type of the file the request's path names (by its
/// extension), for an answer that carries none (a 304).
fn file_type(facts: &RequestFacts<'_>) -> Option<String> {
    let name = facts.path.rsplit(|&b| b == b'/').next()?;
    Some(facts.mime?.lookup(name)?.to_str().ok()?.to_string())
}

/// Every field `name` of `headers`, joined with `", "`.
fn joined<'h>(headers: &'h HeaderMap, name: &str) -> Option<Cow<'h, str>> {
    let mut values = headers.get_all(name).iter().filter_map(|v| v.to_str().ok());
    let first = values.next()?;
    match values.next() {
        None => Some(Cow::Borrowed(first)),
        Some(second) => {
            let mut all = format!("{first}, {second}");
            for v in values {
                all.push_str(", ");
                all.push_str(v);
            }
            Some(Cow::Owned(all))
        }
    }
}

/// Applies the `RequestHeader` rules to a request's `headers`: the
/// `early` ones (before the request is mapped, Apache's
/// `post_read_request`) when `early`, else the others (before the
/// handler, Apache's `fixups`); `facts` describe the request (their
/// headers are the ones before the rules).
pub fn request_headers(
    cfg: &FilterConfig,
    headers: &mut HeaderMap,
    facts: &RequestFacts<'_>,
    early: bool,
) {
    if cfg.headers.request.is_empty() {
        return;
    }
    let ssl = |name: &str| ssl_var(facts.conn, name);
    let vars = Vars {
        facts,
        response: None,
    };
    let ctx = Context {
        env: facts.env,
        ssl: &ssl,
        request_time: facts.started,
        now: SystemTime::now(),
        request_headers: facts.headers,
        vars: &vars,
        // `RequestHeader` has no `note` action.
        note: &|_, _| {},
    };
    cfg.headers.apply_request(headers, early, &ctx);
}

/// The facts of a request in the pipeline, its environment read through
/// `env`.
fn facts_of<'a>(
    r: &'a RequestState<'_>,
    env: &'a dyn Fn(&str) -> Option<String>,
    mime: &'a MimeTypes,
) -> RequestFacts<'a> {
    RequestFacts {
        method: r.method(),
        headers: r.headers(),
        path: &r.uri,
        filename: (!r.filename.as_os_str().is_empty()).then_some(r.filename.as_path()),
        query: r.query.as_deref(),
        conn: r.conn,
        env,
        started: r.started,
        mime: Some(mime),
    }
}

/// The pipeline's `RequestHeader` step: `cfg`'s rules (the `early` ones
/// or the others) applied to the request `r`.
pub(crate) fn request_phase(
    r: &mut RequestState<'_>,
    cfg: &FilterConfig,
    mime: &MimeTypes,
    early: bool,
) {
    let wanted = cfg
        .headers
        .request
        .iter()
        .any(|rule| matches!(rule.condition, Condition::Early) == early);
    if !wanted {
        return;
    }
    let mut headers = r.headers().clone();
    {
        let env = |name: &str| r.subprocess_env.get(name).map(str::to_string);
        let facts = facts_of(r, &env, mime);
        request_headers(cfg, &mut headers, &facts, early);
    }
    *r.headers_mut() = headers;
}

/// The notes `Header note` rules made, in order (`None`: unset).
#[derive(Default)]
struct Noted(std::cell::RefCell<Vec<(String, Option<String>)>>);

impl Noted {
    fn note(&self, name: &str, value: Option<&str>) {
        self.0
            .borrow_mut()
            .push((name.to_string(), value.map(str::to_string)));
    }

    /// Whether no rule made a note.
    fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }

    /// The notes set in (or unset from) `table`.
    fn into_table(self, table: &mut crate::pipeline::Table) {
        for (name, value) in self.0.into_inner() {
            match value {
                Some(v) => table.set(name, v),
                None => table.unset(&name),
            }
        }
    }
}

/// The pipeline's output filters for mod_expires, mod_headers and the
/// compressors: the merged configuration of `r` applied to `response`.
pub(crate) fn output_phase(
    r: &RequestState<'_>,
    cache: &VariantCache,
    mime: &MimeTypes,
    response: Response,
) -> Response {
    let cfg = &r.dir.filters;
    if cfg.is_empty() {
        return response;
    }
    let env = |name: &str| r.subprocess_env.get(name).map(str::to_string);
    let facts = facts_of(r, &env, mime);
    after_handler(cfg, cache, &facts, response)
}

/// The handler's `response` after mod_expires, mod_headers and the
/// compressors; `cache` keeps compressed variants of static files.
pub fn after_handler(
    cfg: &FilterConfig,
    cache: &VariantCache,
    req: &RequestFacts<'_>,
    mut response: Response,
) -> Response {
    let now = SystemTime::now();
    if cfg.expires.active == Some(true) {
        let file_type = match response.headers().contains_key(CONTENT_TYPE) {
            true => None,
            false => file_type(req),
        };
        cfg.expires
            .apply(&mut response, req.started, file_type.as_deref());
    }
    if !cfg.headers.response.is_empty() {
        let ssl = |name: &str| ssl_var(req.conn, name);
        let status = response.status();
        let before = response.headers().clone();
        let vars = Vars {
            facts: req,
            response: Some((status.as_u16(), &before)),
        };
        let noted = Noted::default();
        let ctx = Context {
            env: req.env,
            ssl: &ssl,
            request_time: req.started,
            now,
            request_headers: req.headers,
            vars: &vars,
            note: &|n, v| noted.note(n, v),
        };
        cfg.headers
            .apply_response(status, response.headers_mut(), &ctx);
        if !noted.is_empty() {
            let notes = response
                .extensions_mut()
                .get_or_insert_default::<crate::access_log::Notes>();
            noted.into_table(&mut notes.0);
        }
    }
    if cfg.compress.is_active() {
        let creq = CompressRequest {
            method: req.method,
            headers: req.headers,
            path: req.path,
            env: req.env,
            filename: req.filename,
        };
        response = compress::apply(&cfg.compress, cache, &creq, response);
    }
    response
}
