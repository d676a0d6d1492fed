//! What reading a request head yields: the parsed [`RequestHead`] with its
//! body [`Framing`], or the [`HeadError`] that refuses it.

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri, Version};

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body: neither `Transfer-Encoding` nor `Content-Length` was sent.
    None,
    /// `Content-Length: n`. `Content-Length: 0` is kept as `Length(0)` (not
    /// folded into `None`) so the log can tell what the client sent; both
    /// mean an empty body and [`Framing::has_body`] is false for both.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

impl Framing {
    /// True when a body may follow the head (chunked, or a non-zero
    /// `Content-Length`).
    pub fn has_body(&self) -> bool {
        match self {
            Framing::None | Framing::Length(0) => false,
            Framing::Length(_) | Framing::Chunked => true,
        }
    }
}

/// A parsed request head.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// The method; any syntactically valid token is accepted (the driver
    /// answers 501 for those the handler does not implement).
    pub method: Method,
    /// The request target, not percent-decoded: origin-form (`/a?b`),
    /// absolute-form (`http://host/a`, authority kept), `*` (OPTIONS only)
    /// or authority-form (`host:port`, CONNECT only).
    pub uri: Uri,
    /// `HTTP/1.0` or `HTTP/1.1` (a later HTTP/1 minor version is served as
    /// HTTP/1.1; other versions are refused).
    pub version: Version,
    /// Every header field, in order, names lowercased, values with the
    /// surrounding whitespace removed.
    pub headers: HeaderMap,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the client allows the connection to stay open after the
    /// response: HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with
    /// `Connection: keep-alive`; never for an HTTP/1.0 request with
    /// `Transfer-Encoding`.
    pub keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request with a body: the driver
    /// sends `100 Continue` before it reads the body.
    pub expect_continue: bool,
    /// The request line as received (without its line end), lossily decoded
    /// as UTF-8, for logs: it shares the head's bytes ([`RequestLine`]).
    pub request_line: RequestLine,
}

/// A request line as received, without its line end: text that shares
/// the bytes of the head it came in (no copy of its own), read as a
/// `&str` (`Deref`, [`RequestLine::as_str`]).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct RequestLine(Bytes);

impl RequestLine {
    /// `bytes` as text: shared as they are when they are UTF-8 (a valid
    /// request line is ASCII), else decoded lossily into a copy.
    pub fn new(bytes: Bytes) -> Self {
        match std::str::from_utf8(&bytes) {
            Ok(_) => RequestLine(bytes),
            Err(_) => String::from_utf8_lossy(&bytes).into_owned().into(),
        }
    }

    /// The line.
    pub fn as_str(&self) -> &str {
        // SAFETY: every `RequestLine` holds bytes checked to be UTF-8
        // (`new`) or taken from a `String` (`From`), and `Bytes` never
        // changes the bytes it shares.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }
}

impl From<String> for RequestLine {
    fn from(s: String) -> Self {
        RequestLine(Bytes::from(s))
    }
}

impl From<&str> for RequestLine {
    fn from(s: &str) -> Self {
        RequestLine(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl std::ops::Deref for RequestLine {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for RequestLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for RequestLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for RequestLine {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RequestLine {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for RequestLine {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<std::borrow::Cow<'_, str>> for RequestLine {
    fn eq(&self, other: &std::borrow::Cow<'_, str>) -> bool {
        self.as_str() == other
    }
}

/// A refused request head: the status to answer; the connection closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadError {
    /// 400, 413, 414, 417, 431, 501 or 505.
    pub status: StatusCode,
    /// A short English reason, for the error page and the error log.
    pub reason: &'static str,
    /// An `Allow` header value to send along, where relevant (the parser
    /// itself leaves it `None`).
    pub allow: Option<&'static str>,
    /// The request line, when it was complete and readable (for the access
    /// log); `None` when the refusal came before it (414, a bare CR in it…).
    pub request_line: Option<String>,
}

impl HeadError {
    pub(super) fn new(status: StatusCode, reason: &'static str) -> Self {
        HeadError {
            status,
            reason,
            allow: None,
            request_line: None,
        }
    }

    pub(super) fn bad(reason: &'static str) -> Self {
        HeadError::new(StatusCode::BAD_REQUEST, reason)
    }

    pub(super) fn with_line(mut self, line: &[u8]) -> Self {
        self.request_line = Some(String::from_utf8_lossy(line).into_owned());
        self
    }
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.reason)
    }
}

impl std::error::Error for HeadError {}
