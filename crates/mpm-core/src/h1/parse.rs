//! Request heads (RFC 9112 §2–§7): bytes in, a [`RequestHead`] or a
//! refusal ([`HeadError`]) with the status to answer out.
//!
//! The parser is hand-written rather than built on `httparse`: nearly every
//! rule the server must enforce (limits that must fire before the head is
//! complete, 505 versus 400 for versions, obs-fold, bare CR, whitespace
//! before the colon, Host and framing checks) sits where `httparse` is
//! either lenient or reports a single undifferentiated error, so a second
//! pass over its output would cost more than one direct pass.
//!
//! It works in two passes over the buffer:
//!
//! 1. a structural scan that finds the end of the head and enforces the
//!    size limits, NUL / bare CR and obs-fold while the head may still be
//!    incomplete (so a 414 or 431 is known as soon as the bytes prove it);
//! 2. once the head is complete, the request line and header lines are
//!    parsed into `http` types and the framing rules are applied.
//!
//! Line ends: CRLF, and a bare LF is accepted as well in the request line
//! and the header section (RFC 9112 §2.2 allows it there); a CR that is not
//! followed by LF is refused with 400. Chunked framing is stricter: the
//! body decoder ([`super::body`]) requires CRLF.
use std::ops::Range;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};

use crate::config::Limits;

/// Most bytes of empty lines accepted before a request line (RFC 9112 §2.2
/// lets a server skip "at least one"; a flood of them is refused with 400).
pub const MAX_LEADING_EMPTY_LINES: usize = 8 * 1024;

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
    /// as UTF-8, for logs.
    pub request_line: String,
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
    fn new(status: StatusCode, reason: &'static str) -> Self {
        HeadError {
            status,
            reason,
            allow: None,
            request_line: None,
        }
    }

    fn bad(reason: &'static str) -> Self {
        HeadError::new(StatusCode::BAD_REQUEST, reason)
    }

    fn with_line(mut self, line: &[u8]) -> Self {
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

/// `tchar` of RFC 9110 §5.6.2.
const fn token_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        i += 1;
    }
    t
}
pub(super) static TOKEN: [bool; 256] = token_table();

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| TOKEN[b as usize])
}

/// The bytes the structural scan stops at: NUL, CR, LF.
const fn special_table() -> [bool; 256] {
    let mut t = [false; 256];
    t[0] = true;
    t[b'\r' as usize] = true;
    t[b'\n' as usize] = true;
    t
}
static SPECIAL: [bool; 256] = special_table();

/// One line found by the structural scan.
enum Line {
    /// Content is `buf[from..end]`; the next line starts at `next`.
    Complete { end: usize, next: usize },
    /// No line end yet; content so far ends at `resume` (a trailing CR
    /// that may be the start of CRLF is not counted), where a later scan
    /// goes on.
    Incomplete { resume: usize },
}

/// The index of the first NUL, CR or LF in `buf[from..]`, or `buf.len()`.
///
/// Looks at eight bytes at a time: `(w - 0x0e…) & !w & 0x80…` is non-zero
/// exactly when some byte of `w` is below 0x0e (the classic "has a byte
/// less than n" test, exact for n ≤ 128), so words of ordinary text are
/// skipped whole and only a word holding a control byte (NUL, HT, LF, CR…)
/// is looked at byte by byte.
fn find_special(buf: &[u8], mut i: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    while i < buf.len() {
        if let Some(chunk) = buf.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let w = u64::from_le_bytes(word);
            if w.wrapping_sub(LO * 0x0e) & !w & HI == 0 {
                i += 8;
                continue;
            }
        }
        if SPECIAL[buf[i] as usize] {
            return i;
        }
        i += 1;
    }
    buf.len()
}

/// Finds the end of the line whose unscanned part starts at `from`,
/// refusing NUL and bare CR. `Incomplete { resume }`: no line end yet, and
/// a later call may start at `resume` (a trailing CR that may begin CRLF is
/// looked at again).
fn scan_line(buf: &[u8], from: usize) -> Result<Line, HeadError> {
    let i = find_special(buf, from);
    if let Some(&b) = buf.get(i) {
        match b {
            b'\n' => {
                return Ok(Line::Complete {
                    end: i,
                    next: i + 1,
                })
            }
            b'\r' => match buf.get(i + 1) {
                Some(b'\n') => {
                    return Ok(Line::Complete {
                        end: i,
                        next: i + 2,
                    })
                }
                Some(_) => return Err(HeadError::bad("bare CR in request head")),
                None => return Ok(Line::Incomplete { resume: i }),
            },
            _ => return Err(HeadError::bad("NUL byte in request head")),
        }
    }
    Ok(Line::Incomplete { resume: buf.len() })
}

/// The next line of an already scanned (valid) head: content end and next
/// line start.
fn next_line(buf: &[u8], from: usize) -> (usize, usize) {
    // In a scanned head the first special byte is a CR followed by LF, or
    // an LF.
    let i = find_special(buf, from);
    match buf.get(i) {
        Some(b'\r') => (i, (i + 2).min(buf.len())),
        Some(_) => (i, i + 1),
        None => (buf.len(), buf.len()),
    }
}

/// Parse a request head at the start of `buf`.
///
/// - `Ok(None)`: the head is not complete yet (read more and call again
///   with the whole buffer).
/// - `Ok(Some((head, consumed)))`: `buf[..consumed]` was the head (with any
///   empty lines before it); the body or the next request starts there.
/// - `Err(e)`: refuse with `e.status` and close the connection.
///
/// Limits are enforced as soon as the bytes prove them exceeded, even
/// before the head is complete: a request line longer than
/// `limits.request_line` → 414; a header line longer than
/// `limits.field_size` or more than `limits.fields` of them (when
/// non-zero) → 431; a `Content-Length` beyond `limits.body` (when
/// non-zero) → 413.
///
/// Each call scans the buffer from its first byte: a driver that reads a
/// head in pieces keeps a [`HeadScan`] instead, which costs O(the head's
/// bytes) in total however it is split.
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<(RequestHead, usize)>, HeadError> {
    HeadScan::default().advance(buf, limits)
}

/// Where the structural scan of a head has got to.
#[derive(Debug, Clone, Default)]
enum Stage {
    /// Skipping empty lines before the request line, at `start`.
    #[default]
    Leading,
    /// In the request line (it begins at `start`).
    RequestLine,
    /// In the header section; the request line was valid.
    Fields {
        method: Method,
        target: Range<usize>,
        version: Version,
        /// End of the request line's content.
        rl_end: usize,
        /// Where the first header line starts.
        headers_start: usize,
    },
}

/// An incremental request-head reader: the scan of [`parse_head`], kept
/// between reads, so that a head arriving in any number of pieces is
/// scanned once (O(its bytes) in total, where calling `parse_head` on the
/// growing buffer costs O(bytes × reads)).
///
/// Feed [`HeadScan::advance`] the buffered bytes from the head's first
/// byte, each call with the bytes of the previous one plus what arrived
/// (the buffer may move or be compacted in between; its contents from the
/// head's start may only grow). Once it returns a head or an error, start
/// a new `HeadScan` (or [`HeadScan::reset`]) for the next head.
///
/// ```
/// use mpm_core::h1::HeadScan;
/// use mpm_core::Limits;
///
/// let limits = Limits::default();
/// let wire = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
/// let mut scan = HeadScan::default();
/// let mut buf = Vec::new();
/// for (i, &b) in wire.iter().enumerate() {
///     buf.push(b);
///     let done = scan.advance(&buf, &limits).expect("valid");
///     assert_eq!(done.is_some(), i == wire.len() - 1);
/// }
/// assert!(scan.scanned() <= 2 * wire.len());
/// ```
#[derive(Debug, Clone, Default)]
pub struct HeadScan {
    stage: Stage,
    /// Start of the request line (after empty lines).
    start: usize,
    /// Start of the line being scanned.
    line: usize,
    /// Where scanning resumes inside that line.
    resume: usize,
    /// The current header line has been counted against the limit.
    counted: bool,
    /// Header lines so far.
    fields: usize,
    /// Bytes examined, over every call (for tests and measurements).
    scanned: usize,
}

impl HeadScan {
    /// Start over, for the next head.
    pub fn reset(&mut self) {
        *self = HeadScan::default();
    }

    /// Bytes the scan has examined over all its calls. For a head read in
    /// any number of pieces this stays below twice the head's length.
    pub fn scanned(&self) -> usize {
        self.scanned
    }

    /// True before any byte of a request line was seen (only empty lines,
    /// or nothing).
    pub fn is_fresh(&self) -> bool {
        matches!(self.stage, Stage::Leading)
    }

    /// Scan `buf` (the whole head so far, from its first byte) from where
    /// the previous call stopped. Returns as [`parse_head`] does.
    pub fn advance(
        &mut self,
        buf: &[u8],
        limits: &Limits,
    ) -> Result<Option<(RequestHead, usize)>, HeadError> {
        debug_assert!(buf.len() >= self.resume, "a head's buffer may only grow");
        if matches!(self.stage, Stage::Leading) {
            // Empty lines before the request line (RFC 9112 §2.2).
            loop {
                match buf.get(self.start) {
                    Some(b'\n') => self.start += 1,
                    Some(b'\r') => match buf.get(self.start + 1) {
                        Some(b'\n') => self.start += 2,
                        Some(_) => return Err(HeadError::bad("bare CR in request head")),
                        None => return Ok(None),
                    },
                    Some(_) => break,
                    None => return Ok(None),
                }
                self.scanned += 1;
                if self.start > MAX_LEADING_EMPTY_LINES {
                    return Err(HeadError::bad("too many empty lines before the request"));
                }
            }
            self.stage = Stage::RequestLine;
            self.line = self.start;
            self.resume = self.start;
        }

        if matches!(self.stage, Stage::RequestLine) {
            let start = self.start;
            let (end, next) = match self.scan(buf, limits.request_line, line_too_long)? {
                Line::Complete { end, next } => (end, next),
                Line::Incomplete { resume } => (resume, 0),
            };
            if end - start > limits.request_line {
                return Err(line_too_long());
            }
            if next == 0 {
                return Ok(None);
            }
            let rl_bytes = &buf[start..end];
            // The request line is kept as text only once the head is
            // complete (or refused), so incomplete heads allocate nothing.
            let (method, target, version) =
                parse_request_line(rl_bytes).map_err(|e| e.with_line(rl_bytes))?;
            self.stage = Stage::Fields {
                method,
                target,
                version,
                rl_end: end,
                headers_start: next,
            };
            self.line = next;
            self.resume = next;
            self.counted = false;
        }

        let Stage::Fields { rl_end, .. } = self.stage else {
            unreachable!("the request line was scanned above")
        };
        let rl_bytes = &buf[self.start..rl_end];
        let max_fields = limits.max_fields();
        let head_end = loop {
            let pos = self.line;
            if !self.counted {
                match buf.get(pos) {
                    None => return Ok(None),
                    Some(b'\n') => break pos + 1,
                    Some(b'\r') => match buf.get(pos + 1) {
                        Some(b'\n') => break pos + 2,
                        Some(_) => {
                            return Err(
                                HeadError::bad("bare CR in request head").with_line(rl_bytes)
                            )
                        }
                        None => return Ok(None),
                    },
                    Some(b' ' | b'\t') => {
                        return Err(
                            HeadError::bad("obsolete line folding in header").with_line(rl_bytes)
                        )
                    }
                    Some(_) => {}
                }
                self.fields += 1;
                self.counted = true;
                if self.fields > max_fields {
                    return Err(too_many_fields().with_line(rl_bytes));
                }
            }
            match self
                .scan(buf, limits.field_size, field_too_large)
                .map_err(|e| e.with_line(rl_bytes))?
            {
                Line::Incomplete { resume } => {
                    if resume - pos > limits.field_size {
                        return Err(field_too_large().with_line(rl_bytes));
                    }
                    return Ok(None);
                }
                Line::Complete { end, next } => {
                    if end - pos > limits.field_size {
                        return Err(field_too_large().with_line(rl_bytes));
                    }
                    self.line = next;
                    self.resume = next;
                    self.counted = false;
                }
            }
        };
        let Stage::Fields {
            method,
            target,
            version,
            headers_start,
            ..
        } = std::mem::take(&mut self.stage)
        else {
            unreachable!("in the header section")
        };
        let start = self.start;
        let fields = self.fields;
        self.scanned += head_end - self.line;
        complete_head(
            buf,
            limits,
            start,
            rl_end,
            method,
            target,
            version,
            headers_start,
            head_end,
            fields,
        )
    }

    /// Scan the current line from where the last call stopped. A line
    /// already longer than `limit` before a bad byte (NUL, bare CR) is
    /// refused for its length (`too_long`), as it is when the same bytes
    /// come in pieces: the answer never depends on how the bytes arrive.
    fn scan(
        &mut self,
        buf: &[u8],
        limit: usize,
        too_long: fn() -> HeadError,
    ) -> Result<Line, HeadError> {
        let from = self.resume;
        let line = scan_line(buf, from).map_err(|e| {
            if find_special(buf, from) - self.line > limit {
                too_long()
            } else {
                e
            }
        })?;
        let upto = match line {
            Line::Complete { next, .. } => next,
            Line::Incomplete { resume } => resume,
        };
        self.scanned += upto.saturating_sub(from);
        self.resume = upto;
        Ok(line)
    }
}

/// Pass 2, once the structure of `buf[start..head_end]` is known to be
/// sound: one copy of the head, shared by the target and every header
/// value (one allocation instead of one per value), then the semantics.
#[allow(clippy::too_many_arguments)]
fn complete_head(
    buf: &[u8],
    limits: &Limits,
    start: usize,
    rl_end: usize,
    method: Method,
    target: Range<usize>,
    version: Version,
    headers_start: usize,
    head_end: usize,
    fields: usize,
) -> Result<Option<(RequestHead, usize)>, HeadError> {
    let rl_bytes = &buf[start..rl_end];
    let shared = Bytes::copy_from_slice(&buf[start..head_end]);
    let target = shared.slice(target.start..target.end);
    let uri = parse_target(&method, target).map_err(|e| e.with_line(rl_bytes))?;
    let headers =
        parse_fields(&shared, headers_start - start, fields).map_err(|e| e.with_line(rl_bytes))?;

    let mut head = RequestHead {
        method,
        uri,
        version,
        headers,
        framing: Framing::None,
        keep_alive: false,
        expect_continue: false,
        request_line: String::from_utf8_lossy(rl_bytes).into_owned(),
    };
    if let Err(e) = apply_semantics(&mut head, limits) {
        return Err(HeadError {
            request_line: Some(std::mem::take(&mut head.request_line)),
            ..e
        });
    }
    Ok(Some((head, head_end)))
}

fn line_too_long() -> HeadError {
    HeadError::new(StatusCode::URI_TOO_LONG, "request line too long")
}

fn too_many_fields() -> HeadError {
    HeadError::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "too many header fields",
    )
}

fn field_too_large() -> HeadError {
    HeadError::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "header field too large",
    )
}

/// `method SP request-target SP HTTP-version`, exactly one space between.
/// Returns the method, where the target lies in `line` (checked for
/// visible ASCII only; its form is checked by [`parse_target`] once the
/// head is complete) and the version.
fn parse_request_line(line: &[u8]) -> Result<(Method, Range<usize>, Version), HeadError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(m), Some(target), Some(v), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::bad("malformed request line"));
    };
    if !is_token(m) {
        return Err(HeadError::bad("malformed method"));
    }
    let version = parse_version(v)?;
    let method = Method::from_bytes(m).map_err(|_| HeadError::bad("malformed method"))?;
    if target.is_empty() {
        return Err(HeadError::bad("empty request target"));
    }
    if !target.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
        return Err(HeadError::bad("invalid character in request target"));
    }
    let from = m.len() + 1;
    Ok((method, from..from + target.len(), version))
}

/// `HTTP/1.0` and `HTTP/1.1`; a later HTTP/1 minor version (`HTTP/1.2`) is
/// served as HTTP/1.1, the highest this server speaks (RFC 9110 §2.5: a
/// recipient treats a higher minor version as the highest it supports,
/// as Apache and nginx do). Another major version is refused with 505;
/// anything not of the form `HTTP/d.d` with 400.
fn parse_version(v: &[u8]) -> Result<Version, HeadError> {
    match v {
        b"HTTP/1.1" => Ok(Version::HTTP_11),
        b"HTTP/1.0" => Ok(Version::HTTP_10),
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if minor.is_ascii_digit() => {
            Ok(Version::HTTP_11)
        }
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Err(HeadError::new(
                StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                "HTTP version not supported",
            ))
        }
        _ => Err(HeadError::bad("malformed HTTP version")),
    }
}

/// The target as a [`Uri`], in the form its method allows. A fragment
/// (`#…`) is never part of a request target (RFC 9112 §3.2, a client
/// strips it), and an absolute-form target names an `http` or `https`
/// resource: both are refused with 400, as Apache does.
fn parse_target(method: &Method, target: Bytes) -> Result<Uri, HeadError> {
    let bad_target = || HeadError::bad("malformed request target");
    if target.contains(&b'#') {
        return Err(HeadError::bad("fragment in request target"));
    }
    if *method == Method::CONNECT {
        // authority-form: host:port and nothing else.
        let len = target.len();
        let uri = Uri::from_maybe_shared(target).map_err(|_| bad_target())?;
        let plain_authority = uri.scheme().is_none()
            && uri.authority().is_some_and(|a| a.as_str().len() == len)
            && uri.port().is_some();
        return if plain_authority {
            Ok(uri)
        } else {
            Err(HeadError::bad("CONNECT needs an authority-form target"))
        };
    }
    if target[..] == b"*"[..] {
        return if *method == Method::OPTIONS {
            Ok(Uri::from_static("*"))
        } else {
            Err(HeadError::bad("asterisk-form target is only for OPTIONS"))
        };
    }
    let origin_form = target.first() == Some(&b'/');
    let uri = Uri::from_maybe_shared(target).map_err(|_| bad_target())?;
    if origin_form {
        // origin-form: a path and an optional query, nothing else.
        if uri.scheme().is_some() || uri.authority().is_some() {
            return Err(bad_target());
        }
        Ok(uri)
    } else if uri.scheme().is_some() && uri.authority().is_some_and(|a| !a.as_str().is_empty()) {
        let scheme = uri.scheme_str().unwrap_or_default();
        if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
            Ok(uri)
        } else {
            Err(HeadError::bad("request target scheme is not http or https"))
        }
    } else {
        Err(bad_target())
    }
}

/// Parses the `count` header lines starting at `from` (already scanned);
/// the values are slices of `buf`, not copies.
fn parse_fields(buf: &Bytes, from: usize, count: usize) -> Result<HeaderMap, HeadError> {
    let mut headers = HeaderMap::with_capacity(count);
    let mut pos = from;
    for _ in 0..count {
        let (end, next) = next_line(buf, pos);
        let line = &buf[pos..end];
        pos = next;
        // The name is the run of token bytes; what stops it must be ':'.
        let colon = line
            .iter()
            .position(|&b| !TOKEN[b as usize])
            .unwrap_or(line.len());
        match line.get(colon) {
            Some(b':') if colon > 0 => {}
            Some(b':') => return Err(HeadError::bad("empty header name")),
            Some(b' ' | b'\t')
                if line[colon..].iter().find(|&&b| b != b' ' && b != b'\t') == Some(&b':') =>
            {
                return Err(HeadError::bad("whitespace between header name and colon"))
            }
            Some(_) if line.contains(&b':') => {
                return Err(HeadError::bad("invalid character in header name"))
            }
            _ => return Err(HeadError::bad("header line without a colon")),
        }
        let name = HeaderName::from_bytes(&line[..colon])
            .map_err(|_| HeadError::bad("invalid header name"))?;
        // HeaderValue refuses exactly what RFC 9110 §5.5 does not allow:
        // control bytes other than HT, and DEL (obs-text is kept).
        let value = trim_ows(&line[colon + 1..]);
        let value = HeaderValue::from_maybe_shared(buf.slice_ref(value))
            .map_err(|_| HeadError::bad("control character in header value"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// Removes optional whitespace (SP, HT) at both ends.
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The non-empty, trimmed elements of the comma lists in every `name`
/// field.
fn list_elements<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// Host, framing, keep-alive and Expect rules (RFC 9112 §3.2, §6, §9.3;
/// RFC 9110 §10.1.1).
fn apply_semantics(head: &mut RequestHead, limits: &Limits) -> Result<(), HeadError> {
    let headers = &head.headers;
    let http11 = head.version == Version::HTTP_11;

    // Host.
    let mut hosts = headers.get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if http11 => return Err(HeadError::bad("missing Host header")),
        (None, _) => {}
        (Some(_), Some(_)) => return Err(HeadError::bad("more than one Host header")),
        (Some(h), None) => {
            if !valid_host(h.as_bytes()) {
                return Err(HeadError::bad("invalid Host header"));
            }
        }
    }

    // Framing.
    let has_te = headers.contains_key(TRANSFER_ENCODING);
    let has_cl = headers.contains_key(CONTENT_LENGTH);
    if has_te && has_cl {
        return Err(HeadError::bad("both Transfer-Encoding and Content-Length"));
    }
    let framing = if has_te {
        let mut chunked = 0usize;
        let mut other = false;
        let mut chunked_last = false;
        for coding in list_elements(headers, &TRANSFER_ENCODING) {
            chunked_last = coding.eq_ignore_ascii_case(b"chunked");
            if chunked_last {
                chunked += 1;
            } else {
                other = true;
            }
        }
        if chunked > 1 || (chunked == 1 && !chunked_last) {
            return Err(HeadError::bad(
                "chunked must be the final transfer coding, once",
            ));
        }
        if other {
            return Err(HeadError::new(
                StatusCode::NOT_IMPLEMENTED,
                "unknown transfer coding",
            ));
        }
        if chunked == 0 {
            return Err(HeadError::bad("empty Transfer-Encoding"));
        }
        Framing::Chunked
    } else if has_cl {
        let mut length: Option<u64> = None;
        for v in headers.get_all(CONTENT_LENGTH) {
            for element in v.as_bytes().split(|&b| b == b',') {
                let n = parse_decimal(trim_ows(element))
                    .ok_or_else(|| HeadError::bad("invalid Content-Length"))?;
                match length {
                    Some(prev) if prev != n => {
                        return Err(HeadError::bad("conflicting Content-Length values"))
                    }
                    _ => length = Some(n),
                }
            }
        }
        let n = length.ok_or_else(|| HeadError::bad("invalid Content-Length"))?;
        if limits.body != 0 && n > limits.body {
            return Err(HeadError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body larger than LimitRequestBody",
            ));
        }
        Framing::Length(n)
    } else {
        Framing::None
    };

    // Connection.
    let mut close = false;
    let mut keep_alive = false;
    for option in list_elements(headers, &CONNECTION) {
        if option.eq_ignore_ascii_case(b"close") {
            close = true;
        } else if option.eq_ignore_ascii_case(b"keep-alive") {
            keep_alive = true;
        }
    }
    let keep_alive = if http11 {
        !close
    } else {
        keep_alive && !close && !has_te
    };

    // Expect.
    let mut continue_expected = false;
    for expectation in list_elements(headers, &EXPECT) {
        if expectation.eq_ignore_ascii_case(b"100-continue") {
            continue_expected = true;
        } else {
            return Err(HeadError::new(
                StatusCode::EXPECTATION_FAILED,
                "unsupported expectation",
            ));
        }
    }

    head.framing = framing;
    head.keep_alive = keep_alive;
    // RFC 9110 §10.1.1: a 100-continue in an HTTP/1.0 request is ignored.
    head.expect_continue = continue_expected && http11 && framing.has_body();
    Ok(())
}

/// `1*DIGIT` as a u64; `None` for anything else or on overflow.
fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// `uri-host [ ":" port ]` (RFC 9110 §7.2); an empty value is allowed.
fn valid_host(h: &[u8]) -> bool {
    let (host, port) = if let Some(rest) = h.strip_prefix(b"[") {
        // IP-literal.
        let Some(close) = rest.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &rest[..close];
        if literal.is_empty()
            || !literal
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.' | b'v' | b'V'))
        {
            return false;
        }
        match &rest[close + 1..] {
            [] => return true,
            [b':', port @ ..] => return port.iter().all(u8::is_ascii_digit),
            _ => return false,
        }
    } else {
        match h.iter().position(|&b| b == b':') {
            Some(i) => (&h[..i], &h[i + 1..]),
            None => (h, &b""[..]),
        }
    };
    host.iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            )
    }) && port.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
