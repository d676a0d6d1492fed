//! [`RequestState`]: what the phases read and change about one request
//! (the part of Apache's `request_rec` mpmd's modules use), the ordered
//! string [`Table`] its environment and notes are kept in, and [`Exit`],
//! how a phase stops the request.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use http::header::HeaderValue;
use http::{HeaderMap, Method, StatusCode};
use mpm_core::{ConnInfo, Request, RequestBody, Response};

use crate::pipeline::dir_config::DirConfig;
use crate::pipeline::handler::HandlerName;

/// An ordered map of strings, as Apache's `apr_table_t` holds the
/// environment (`subprocess_env`) and `notes`: names compared exactly,
/// kept in the order first set. Empty, it holds no memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    entries: Vec<(String, String)>,
}

impl Table {
    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Set `name` to `value`, in place if it was set.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((name, value)),
        }
    }

    /// Remove `name`.
    pub fn unset(&mut self, name: &str) {
        self.entries.retain(|(n, _)| n != name);
    }

    /// Every `(name, value)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A `HeaderMap` made on first write: reads see an empty map until then
/// (`Deref`), writes make it (`DerefMut`), so `r.headers_out.append(…)`
/// and `r.headers_out.get(…)` read as on a `HeaderMap`.
#[derive(Debug, Default, Clone)]
pub struct LazyHeaders(Option<HeaderMap>);

/// What a [`LazyHeaders`] not written yet reads as.
static EMPTY_HEADERS: std::sync::LazyLock<HeaderMap> = std::sync::LazyLock::new(HeaderMap::new);

impl LazyHeaders {
    /// The headers written, taken (none: `None`).
    pub fn take(&mut self) -> Option<HeaderMap> {
        self.0.take()
    }
}

impl std::ops::Deref for LazyHeaders {
    type Target = HeaderMap;

    fn deref(&self) -> &HeaderMap {
        self.0.as_ref().unwrap_or(&EMPTY_HEADERS)
    }
}

impl std::ops::DerefMut for LazyHeaders {
    fn deref_mut(&mut self) -> &mut HeaderMap {
        self.0.get_or_insert_with(HeaderMap::new)
    }
}

/// How a phase or a handler stops the request short of a response of its
/// own: the pipeline turns each into the answer.
#[derive(Debug)]
pub enum Exit {
    /// An error status: answered with the `ErrorDocument` for it, or the
    /// built-in page.
    Status(StatusCode),
    /// This response, as it is (a redirect a module made): boxed, so a
    /// [`Step`] stays small ([`Exit::respond`] makes one).
    Respond(Box<Response>),
    /// An internal redirect to the local URL (`/path?query`): the
    /// request starts again at `translate_name` with this URL, the
    /// previous one's status and URL in `REDIRECT_*` variables (mod_rewrite's
    /// `PT`, a CGI's local `Location`, a local `ErrorDocument`).
    Redirect(String),
    /// The local URL (`/path?query`) served in place of this one, as
    /// mod_dir serves a `DirectoryIndex` file or a `FallbackResource`
    /// (Apache's fast redirect): the request starts again at
    /// `translate_name`, `REQUEST_URI` and the environment unchanged.
    FastRedirect(String),
}

impl Exit {
    /// Stop with `response`, as it is.
    pub fn respond(response: Response) -> Exit {
        Exit::Respond(Box::new(response))
    }
}

impl From<StatusCode> for Exit {
    fn from(status: StatusCode) -> Exit {
        Exit::Status(status)
    }
}

/// What one phase gives back: go on, or stop ([`Exit`]).
pub type Step = Result<(), Exit>;

/// One request as the phases see it: what came in (fixed), and what the
/// phases decide (the file, the handler, the content type, the
/// environment), which an internal redirect partly resets.
///
/// Fields a module changes are public; what came from the client is read
/// through methods.
pub struct RequestState<'a> {
    /// The request as received: method, target, headers, body.
    req: Request<'a>,
    /// The connection, with the client as `RemoteIPHeader` names it.
    pub conn: &'a ConnInfo,
    /// The virtual host serving it (its index in
    /// [`SiteConfig::hosts`](crate::config::SiteConfig::hosts)).
    pub vhost: usize,
    /// The virtual host's `ServerName` (the main server's when it has
    /// none), for `SERVER_NAME` and `%v`.
    pub server_name: Arc<str>,
    /// The URL an internal redirect gave (`/path?query`, not decoded);
    /// `None` while it is the one requested. Read it with
    /// [`RequestState::request_uri`].
    pub unparsed_uri: Option<String>,
    /// The path, `%`-decoded and normalised (`r->uri`); bytes, as a path
    /// need not be UTF-8.
    pub uri: Vec<u8>,
    /// The query string, not decoded (`QUERY_STRING`).
    pub query: Option<String>,
    /// The file or directory the URL maps to (`r->filename`): empty until
    /// `translate_name`, and for a request no file answers (a status page,
    /// a proxied request).
    pub filename: PathBuf,
    /// What of the URL lies past the file found (`PATH_INFO`).
    pub path_info: Vec<u8>,
    /// What the file system said of `filename` (`r->finfo`), once
    /// `map_to_storage` looked: `None` when nothing is there.
    pub finfo: Option<std::fs::Metadata>,
    /// The per-directory configuration in force, merged so far (after
    /// every walk, the whole merge).
    pub dir: Arc<DirConfig>,
    /// The handler chosen (`None`: the default handler, for files).
    pub handler: Option<HandlerName>,
    /// The response's `Content-Type`, when known.
    pub content_type: Option<HeaderValue>,
    /// `Content-Encoding` of the file (`AddEncoding`).
    pub content_encoding: Option<String>,
    /// `Content-Language` of the file (`AddLanguage`), in order.
    pub content_languages: Vec<String>,
    /// The environment (`SetEnv`, `SetEnvIf`, mod_rewrite's `E=`): passed
    /// to CGI and FastCGI scripts, read by `env=` conditions.
    pub subprocess_env: Table,
    /// Notes modules leave each other.
    pub notes: Table,
    /// The authenticated user (`REMOTE_USER`, the access log's `%u`).
    pub user: Option<String>,
    /// How the user was authenticated (`AUTH_TYPE`: `Basic`).
    pub auth_type: Option<String>,
    /// Headers for the response, set before the handler answers (the
    /// handler's own are added to these). Used as a `HeaderMap`; made on
    /// first write, so a request that sets none costs nothing.
    pub headers_out: LazyHeaders,
    /// Headers for the response even when it is an error
    /// (`err_headers_out`: `Header always`, `WWW-Authenticate`).
    pub err_headers_out: LazyHeaders,
    /// When the request began to be served (`%t`, `%D` of mod_headers).
    pub started: std::time::SystemTime,
    /// How many internal redirects led here (0 for the original request);
    /// at `LimitInternalRecursion` the next one is a 500.
    pub redirects: u32,
    /// The status that sent this request to an `ErrorDocument`
    /// (`REDIRECT_STATUS`), when it is one.
    pub error_status: Option<StatusCode>,
    /// How many bytes of `filename` are the root it was mapped under (the
    /// `DocumentRoot` or an `Alias` target): symlinks are checked below.
    pub(crate) root_len: usize,
    /// `filename` opened by `map_to_storage` (or its bytes, kept from an
    /// earlier request or loaded by `MMapFile`), for the default handler.
    pub(crate) opened: Option<Opened>,
    /// Whether `filename` is one `MMapFile`/`CacheFile` holds.
    pub(crate) cached: bool,
    /// The method an error document is fetched with (GET), when it is not
    /// the request's.
    pub(crate) method_override: Option<Method>,
    /// The last directory walk made for this request (kept across an
    /// internal redirect: a redirect to the same directory shares it, as
    /// Apache's `ap_internal_redirect` shares the per-directory
    /// configuration).
    pub(crate) walked: Option<Arc<crate::pipeline::walk::DirWalk>>,
}

/// The file `map_to_storage` found at `filename`, for the default handler.
pub(crate) enum Opened {
    /// Opened now.
    File(std::fs::File),
    /// Its contents, metadata and answer's head, kept by
    /// [`OpenFiles`](crate::open_files::OpenFiles) or loaded by `MMapFile`.
    Memory(Arc<crate::memory_file::MemoryFile>),
}

impl<'a> RequestState<'a> {
    /// A fresh request: nothing decided yet, `uri` the decoded path.
    #[inline]
    pub fn new(
        req: Request<'a>,
        conn: &'a ConnInfo,
        vhost: usize,
        server_name: Arc<str>,
        uri: Vec<u8>,
        dir: Arc<DirConfig>,
    ) -> RequestState<'a> {
        RequestState {
            unparsed_uri: None,
            query: req.uri().query().map(str::to_string),
            req,
            conn,
            vhost,
            server_name,
            uri,
            filename: PathBuf::new(),
            path_info: Vec::new(),
            finfo: None,
            dir,
            handler: None,
            content_type: None,
            content_encoding: None,
            content_languages: Vec::new(),
            subprocess_env: Table::default(),
            notes: Table::default(),
            user: None,
            auth_type: None,
            headers_out: LazyHeaders::default(),
            err_headers_out: LazyHeaders::default(),
            started: std::time::SystemTime::now(),
            redirects: 0,
            error_status: None,
            root_len: 0,
            opened: None,
            cached: false,
            method_override: None,
            walked: None,
        }
    }

    /// The method (GET while an `ErrorDocument` for another method's
    /// error is served, as in Apache).
    pub fn method(&self) -> &Method {
        self.method_override.as_ref().unwrap_or(self.req.method())
    }

    /// The request's header fields.
    pub fn headers(&self) -> &HeaderMap {
        self.req.headers()
    }

    /// The request's header fields, for a module that edits them before
    /// the handler reads them (mod_headers' `RequestHeader`).
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        self.req.headers_mut()
    }

    /// The request target as received (before any internal redirect).
    pub fn original_uri(&self) -> &http::Uri {
        self.req.uri()
    }

    /// The URL as requested, or as an internal redirect gave it:
    /// `/path?query`, not decoded (`REQUEST_URI`, `%U%q`).
    pub fn request_uri(&self) -> &str {
        match &self.unparsed_uri {
            Some(uri) => uri,
            None => self
                .req
                .uri()
                .path_and_query()
                .map_or("/", |pq| pq.as_str()),
        }
    }

    /// The HTTP version.
    pub fn version(&self) -> http::Version {
        self.req.version()
    }

    /// The request itself, for a handler that reads its body or passes it
    /// on (the reverse proxy, CGI): a request with the same method,
    /// target, version and headers and an empty body is left in its
    /// place. Only a handler calls this (it is the last to need the
    /// headers).
    pub fn take_request(&mut self) -> Request<'a> {
        let mut rest = Request::new(RequestBody::empty());
        *rest.method_mut() = self.req.method().clone();
        *rest.uri_mut() = self.req.uri().clone();
        *rest.version_mut() = self.req.version();
        *rest.headers_mut() = self.req.headers().clone();
        std::mem::replace(&mut self.req, rest)
    }

    /// The last segment of `filename` (its name), read from its bytes
    /// (`Path::file_name` parses every component).
    pub fn file_name(&self) -> &[u8] {
        last_segment(&self.filename)
    }

    /// The directory `filename` is in (`/` for a file at the root), read
    /// from its bytes.
    pub fn file_dir(&self) -> &std::path::Path {
        dir_of(&self.filename)
    }

    /// The decoded path as text (lossy where it is not UTF-8), for
    /// messages and variables.
    pub fn uri_text(&self) -> Cow<'_, str> {
        text(&self.uri)
    }

    /// Forget what the phases decided, for an internal redirect to `uri`
    /// (decoded path) and `query`: the environment of the previous
    /// request is kept with `REDIRECT_` before each name (as Apache's
    /// `internal_internal_redirect`), plus `REDIRECT_URL`,
    /// `REDIRECT_QUERY_STRING` and, for an error document,
    /// `REDIRECT_STATUS`.
    pub fn restart(
        &mut self,
        unparsed: String,
        uri: Vec<u8>,
        query: Option<String>,
        base: Arc<DirConfig>,
    ) {
        let mut env = Table {
            entries: Vec::with_capacity(self.subprocess_env.entries.len() + 3),
        };
        for (name, value) in self.subprocess_env.iter() {
            // The names are distinct, and so are they prefixed.
            let mut prefixed = String::with_capacity("REDIRECT_".len() + name.len());
            prefixed.push_str("REDIRECT_");
            prefixed.push_str(name);
            env.entries.push((prefixed, value.to_string()));
        }
        env.set("REDIRECT_URL", self.uri_text().into_owned());
        if let Some(query) = &self.query {
            env.set("REDIRECT_QUERY_STRING", query.as_str());
        }
        if let Some(status) = self.error_status {
            env.set("REDIRECT_STATUS", status.as_str());
        }
        self.subprocess_env = env;
        self.unparsed_uri = Some(unparsed);
        self.redirects += 1;
        self.reset(uri, query, base);
    }

    /// Serve `uri` (decoded path) and `query` in place of this request, as
    /// mod_dir does (Apache's fast redirect): what the phases decided is
    /// forgotten, `REQUEST_URI` and the environment stay.
    pub fn fast_restart(&mut self, uri: Vec<u8>, query: Option<String>, base: Arc<DirConfig>) {
        self.redirects += 1;
        self.reset(uri, query, base);
    }

    fn reset(&mut self, uri: Vec<u8>, query: Option<String>, base: Arc<DirConfig>) {
        self.uri = uri;
        self.query = query;
        self.filename = PathBuf::new();
        self.path_info.clear();
        self.finfo = None;
        self.dir = base;
        self.handler = None;
        self.content_type = None;
        self.content_encoding = None;
        self.content_languages.clear();
        self.headers_out = LazyHeaders::default();
        self.root_len = 0;
        self.opened = None;
        self.cached = false;
    }
}

/// `bytes` as text, lossy where they are not UTF-8: borrowed when they
/// are (checked a word at a time; `String::from_utf8_lossy` decodes
/// character by character).
pub fn text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// `root` with each segment of the mapped `rel` pushed as
/// `PathBuf::push` pushes it (a separator unless there is one), written
/// into `out` (emptied first): the file name a URL maps to, made on the
/// bytes, with no component parsing per segment.
pub fn join_mapped(root: &[u8], rel: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(root);
    if rel.is_empty() {
        return;
    }
    for segment in rel.split(|&b| b == b'/') {
        if out.last().is_some_and(|&b| b != b'/') {
            out.push(b'/');
        }
        out.extend_from_slice(segment);
    }
}

/// The directory `path` is in (`/` for a file at the root), read from
/// its bytes.
pub fn dir_of(path: &std::path::Path) -> &std::path::Path {
    let bytes = path.as_os_str().as_encoded_bytes();
    let dir = match bytes.iter().rposition(|&b| b == b'/') {
        Some(0) => &bytes[..1],
        Some(i) => &bytes[..i],
        None => bytes,
    };
    std::path::Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(dir))
}

/// The last segment of `path` (after its last `/`), from its bytes.
pub fn last_segment(path: &std::path::Path) -> &[u8] {
    let bytes = path.as_os_str().as_encoded_bytes();
    match bytes.iter().rposition(|&b| b == b'/') {
        Some(i) => &bytes[i + 1..],
        None => bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_and_directory_of_a_path_come_from_its_bytes() {
        use std::path::Path;
        assert_eq!(last_segment(Path::new("/srv/www/a.txt")), b"a.txt");
        assert_eq!(last_segment(Path::new("a.txt")), b"a.txt");
        assert_eq!(last_segment(Path::new("/")), b"");
    }

    #[test]
    fn a_mapped_file_name_is_joined_as_pathbuf_push_joins_it() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        use std::path::PathBuf;
        let cases: [(&[u8], &[u8]); 8] = [
            (b"/srv/www", b""),
            (b"/srv/www", b"a.txt"),
            (b"/srv/www/", b"a/b.txt"),
            (b"/srv/www/hello.txt", b""),
            (b"/", b"x"),
            (b"", b"x/y"),
            (b"rel", b"x//y"),
            (b"/srv", b"\xff/b c"),
        ];
        for (root, rel) in cases {
            let mut want = PathBuf::from(OsStr::from_bytes(root));
            if !rel.is_empty() {
                for segment in rel.split(|&b| b == b'/') {
                    want.push(OsStr::from_bytes(segment));
                }
            }
            let mut got = vec![b'z'];
            join_mapped(root, rel, &mut got);
            assert_eq!(got, want.as_os_str().as_bytes(), "{root:?} + {rel:?}");
        }
    }

    #[test]
    fn lazy_headers_read_as_empty_until_written() {
        let mut headers = LazyHeaders::default();
        assert!(headers.is_empty() && headers.get("vary").is_none());
        headers.append(http::header::VARY, HeaderValue::from_static("Host"));
        assert_eq!(headers.get("vary").unwrap(), "Host");
        assert_eq!(headers.take().map(|h| h.len()), Some(1));
        assert!(headers.is_empty());
    }

    #[test]
    fn a_table_keeps_first_set_order_and_replaces_in_place() {
        let mut t = Table::default();
        assert!(t.is_empty());
        t.set("B", "1");
        t.set("A", "2");
        t.set("B", "3");
        assert_eq!(t.iter().collect::<Vec<_>>(), [("B", "3"), ("A", "2")]);
        t.unset("B");
        assert_eq!(t.get("B"), None);
        assert_eq!(t.get("A"), Some("2"));
    }
}
