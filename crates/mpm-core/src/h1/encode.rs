//! Response heads (RFC 9112 §4, §6, §9): how the body is delimited, whether
//! the connection stays open, the head's bytes, chunk framing and error
//! pages.
use std::cell::RefCell;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, DATE, SERVER, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};

use super::date;
use super::head::RequestHead;
use crate::config::Timeouts;

/// How a response body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseLength {
    /// The status forbids a body (1xx, 204, 304): no `Content-Length`, no
    /// `Transfer-Encoding`, nothing sent after the head.
    NoBody,
    /// `Content-Length: n`.
    Known(u64),
    /// `Transfer-Encoding: chunked` (HTTP/1.1 clients, unknown length).
    Chunked,
    /// Unknown length to an HTTP/1.0 client: the body ends when the
    /// connection closes.
    CloseDelimited,
}

/// The interim response sent before reading a body the client announced
/// with `Expect: 100-continue`.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Ends the data of one chunk.
pub const CHUNK_END: &[u8] = b"\r\n";

/// The last chunk and the empty trailer section that end a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Appends the size line of a chunk of `len` bytes (`{len:x}\r\n`). A
/// chunk of length 0 would end the body: send [`LAST_CHUNK`] for that and
/// skip empty writes.
pub fn chunk_header(len: usize, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    let mut n = len;
    loop {
        i -= 1;
        digits[i] = HEX[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// Decides how a response body is delimited.
///
/// - 1xx, 204 and 304 → [`ResponseLength::NoBody`] (no `Content-Length`
///   at all).
/// - A known length → [`ResponseLength::Known`].
/// - An unknown length → [`ResponseLength::Chunked`] for HTTP/1.1, and
///   [`ResponseLength::CloseDelimited`] for HTTP/1.0.
///
/// HEAD is planned exactly as GET so the head advertises what a GET would
/// send (RFC 9110 §9.3.2); the driver must not send the body for HEAD.
pub fn plan_length(
    version: Version,
    method: &Method,
    status: StatusCode,
    body_len: Option<u64>,
) -> ResponseLength {
    let _ = method; // HEAD is framed as GET; see above.
    if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return ResponseLength::NoBody;
    }
    match body_len {
        Some(n) => ResponseLength::Known(n),
        None if version == Version::HTTP_11 => ResponseLength::Chunked,
        None => ResponseLength::CloseDelimited,
    }
}

/// Whether the connection stays open after this response.
///
/// It closes when any of these holds:
/// - `KeepAlive Off` (`!timeouts.keep_alive`);
/// - the client did not ask for or allow it (`!head.keep_alive`);
/// - `MaxKeepAliveRequests` is reached: `served` counts this request, so
///   with 100 the 100th response closes (0 = no limit);
/// - the body is close-delimited.
///
/// The status plays no part: a handler's 400 or 404 on a request whose
/// body was read (or drained) leaves the next request's bytes where they
/// belong. Closing where framing is in doubt is the driver's decision, not
/// decided here: a request refused by [`super::parse_head`] or by the body
/// decoder (400, 408, 413, 414, 417, 431, 501 …), an unread request body
/// the driver cannot drain, and a 500 after a handler panic.
pub fn keep_alive_after(
    head: &RequestHead,
    served: u32,
    timeouts: &Timeouts,
    length: ResponseLength,
) -> bool {
    timeouts.keep_alive
        && head.keep_alive
        && (timeouts.max_keep_alive_requests == 0 || served < timeouts.max_keep_alive_requests)
        && length != ResponseLength::CloseDelimited
}

/// True for a value that can be written in a head as is (no CR, LF, NUL).
fn safe_value(v: &[u8]) -> bool {
    !v.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0))
}

/// Appends the decimal digits of `n`.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends a response head to `out`.
///
/// The status line always says `HTTP/1.1` (RFC 9110 §6.2: a server sends
/// its own version); `version` is the request's and only decides whether
/// keep-alive must be spelled out (`Connection: keep-alive` for HTTP/1.0).
/// Then, in order: `Date` (unless the handler set one), `Server: {server}`
/// (unless `server` is empty or the handler set one), the handler's
/// headers except `Content-Length`, `Transfer-Encoding` and `Connection`
/// (the engine owns framing and persistence) and except any value holding
/// CR, LF or NUL (dropped, never emitted), the framing header for `length`,
/// `Connection: close` when `!keep_alive`, and the empty line.
#[allow(clippy::too_many_arguments)]
pub fn encode_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    length: ResponseLength,
    keep_alive: bool,
    version: Version,
    server: &str,
) {
    encode_head_with(
        out, status, headers, None, length, keep_alive, version, server,
    );
}

/// [`encode_head`] with `encoded`'s lines after the handler's headers
/// (a [`Body::Kept`](crate::Body::Kept)'s [`EncodedFields`]).
#[allow(clippy::too_many_arguments)]
pub fn encode_head_with(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    encoded: Option<&EncodedFields>,
    length: ResponseLength,
    keep_alive: bool,
    version: Version,
    server: &str,
) {
    // A response carries a handful of fields: comparing the names (an
    // enum for the standard ones) costs less than two hashed lookups.
    let (mut has_date, mut has_server) = (false, false);
    for name in headers.keys() {
        has_date |= name == DATE;
        has_server |= name == SERVER;
    }
    // Nearly every answer: its first lines as this thread made them this
    // second (unless the thread's copy is gone: it is exiting).
    let kept = status == StatusCode::OK
        && !has_date
        && (!has_server || server.is_empty())
        && push_ok_lines(out, server);
    if !kept {
        push_status_line(out, status);
        if !has_date {
            out.extend_from_slice(b"Date: ");
            out.extend_from_slice(&date::now());
            out.extend_from_slice(b"\r\n");
        }
        if !has_server {
            push_server(out, server);
        }
    }
    push_fields(out, headers);
    if let Some(encoded) = encoded {
        out.extend_from_slice(encoded.as_bytes());
    }
    match length {
        ResponseLength::Known(n) => {
            out.extend_from_slice(b"Content-Length: ");
            push_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        ResponseLength::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        ResponseLength::NoBody | ResponseLength::CloseDelimited => {}
    }
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if version == Version::HTTP_10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// `HTTP/1.1 <status> <reason>` and its line end.
fn push_status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The `Server` line, unless `server` is empty or not a safe value.
fn push_server(out: &mut Vec<u8>, server: &str) {
    if !server.is_empty() && safe_value(server.as_bytes()) {
        out.extend_from_slice(b"Server: ");
        out.extend_from_slice(server.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// The first lines of a `200 OK` for one second and one `Server` value.
struct OkLines {
    secs: u64,
    server: String,
    lines: Vec<u8>,
}

thread_local! {
    /// This thread's [`OkLines`] (`secs` `u64::MAX` until made).
    static OK_LINES: RefCell<OkLines> = const {
        RefCell::new(OkLines { secs: u64::MAX, server: String::new(), lines: Vec::new() })
    };
}

/// `HTTP/1.1 200 OK`, `Date` and `Server` (as [`push_status_line`],
/// [`date::now`] and [`push_server`] write them), made once a second per
/// thread and then copied whole: one copy instead of eight appends and a
/// date's. False, with nothing written, when the thread's copy is gone
/// (the thread is exiting).
fn push_ok_lines(out: &mut Vec<u8>, server: &str) -> bool {
    let secs = crate::clock::unix_secs();
    let made = OK_LINES.try_with(|cell| {
        let Ok(mut kept) = cell.try_borrow_mut() else {
            return false;
        };
        if kept.secs != secs || kept.server != server {
            let OkLines {
                lines,
                server: kept_server,
                ..
            } = &mut *kept;
            lines.clear();
            push_status_line(lines, StatusCode::OK);
            lines.extend_from_slice(b"Date: ");
            lines.extend_from_slice(&date::format_secs(secs));
            lines.extend_from_slice(b"\r\n");
            push_server(lines, server);
            kept_server.clear();
            kept_server.push_str(server);
            kept.secs = secs;
        }
        out.extend_from_slice(&kept.lines);
        true
    });
    made == Ok(true)
}

/// The handler's fields as [`encode_head`] writes them: each on its line,
/// its name capitalised, except `Content-Length`, `Transfer-Encoding` and
/// `Connection` (the engine's) and any value holding CR, LF or NUL.
fn push_fields(out: &mut Vec<u8>, headers: &HeaderMap) {
    for (name, value) in headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == CONNECTION {
            continue;
        }
        if !safe_value(value.as_bytes()) {
            continue;
        }
        push_header_name(out, name.as_str());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// Header fields encoded once, for an answer a handler sends many times
/// alike (a file kept in memory): carried by a [`Body::Kept`](crate::Body::Kept) beside its
/// bytes, the HTTP/1.x driver writes these bytes after the response's own
/// headers instead of encoding fields per response, and the HTTP/2 driver
/// adds the same fields to the response's header list (HPACK encodes per
/// stream), so an answer carries them whatever the protocol.
/// Made only by [`EncodedFields::new`], so they are lines as
/// [`encode_head`] writes them, never a field the engine writes itself
/// (`Content-Length`, `Transfer-Encoding`, `Connection`; `Date` and
/// `Server` are left out too). A clone shares them (one reference count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFields(Arc<Encoded>);

#[derive(Debug, PartialEq, Eq)]
struct Encoded {
    /// The fields' lines, each ending in CRLF.
    lines: Box<[u8]>,
    /// The same fields, for a driver that does not write HTTP/1.x lines.
    fields: HeaderMap,
}

impl EncodedFields {
    /// `headers` encoded as [`encode_head`] encodes a response's headers,
    /// `Date` and `Server` left out.
    pub fn new(headers: &HeaderMap) -> EncodedFields {
        let mut fields = HeaderMap::with_capacity(headers.len());
        for (name, value) in headers {
            let engines = [CONTENT_LENGTH, TRANSFER_ENCODING, CONNECTION, DATE, SERVER];
            if !engines.contains(name) && safe_value(value.as_bytes()) {
                fields.append(name.clone(), value.clone());
            }
        }
        let mut lines = Vec::new();
        push_fields(&mut lines, &fields);
        EncodedFields(Arc::new(Encoded {
            lines: lines.into_boxed_slice(),
            fields,
        }))
    }

    /// The encoded lines, each ending in CRLF.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0.lines
    }

    /// The same fields as a header map (what HTTP/2 sends).
    pub fn fields(&self) -> &HeaderMap {
        &self.0.fields
    }
}

/// Appends a header name in the customary capitalisation (`Content-Type`,
/// `ETag`): the `http` crate stores names in lower case, which is correct
/// but surprises operators and old clients that compare names literally.
fn push_header_name(out: &mut Vec<u8>, name: &str) {
    match name {
        "etag" => out.extend_from_slice(b"ETag"),
        "www-authenticate" => out.extend_from_slice(b"WWW-Authenticate"),
        _ => {
            // Copied whole, then the first letter of each word raised in
            // place (no capacity check per byte).
            let start = out.len();
            out.extend_from_slice(name.as_bytes());
            let mut upper = true;
            for b in &mut out[start..] {
                if upper {
                    b.make_ascii_uppercase();
                }
                upper = *b == b'-';
            }
        }
    }
}

/// `s` with `& < > " '` escaped for HTML text: for error pages and any
/// page that shows text from the network or a configuration.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_escaped(&mut out, s);
    out
}

/// Appends `s` with `& < > " '` escaped for HTML text.
pub fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// A small HTML error page in Apache's shape, with its `Content-Type`
/// (`text/html; charset=iso-8859-1`): Apache's own text for `status`
/// ([`apache_text`]) when it has one that names nothing of the request,
/// else `detail` (HTML-escaped) in a paragraph. The framing headers are
/// left to [`encode_head`].
pub fn error_page(status: StatusCode, detail: &str) -> (HeaderMap, Bytes) {
    let text = match apache_text(status) {
        Some(text) => text.to_string(),
        None => {
            let mut p = String::with_capacity(detail.len() + 8);
            p.push_str("<p>");
            push_escaped(&mut p, detail);
            p.push_str("</p>\n");
            p
        }
    };
    let mut headers = HeaderMap::with_capacity(1);
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=iso-8859-1"),
    );
    (headers, Bytes::from(apache_page(status, &text)))
}

/// The whole page Apache httpd 2.4 answers an error or a redirect with:
/// its doctype, the status line as title and heading, then `text` (HTML,
/// paragraphs each ending with a newline). The one place every error page
/// of the engine and of the handlers is made, so all read as Apache's.
pub fn apache_page(status: StatusCode, text: &str) -> String {
    let reason = apache_reason(status);
    let mut html = String::with_capacity(200 + text.len());
    html.push_str(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \
         \"http://www.w3.org/TR/html4/strict.dtd\">\n<html><head>\n<title>",
    );
    html.push_str(status.as_str());
    html.push(' ');
    html.push_str(reason);
    html.push_str("</title>\n</head><body>\n<h1>");
    html.push_str(reason);
    html.push_str("</h1>\n");
    html.push_str(text);
    html.push_str("</body></html>\n");
    html
}

/// The reason phrase Apache writes for `status`: RFC 9110's, except the
/// older names Apache 2.4 keeps for 413, 414 and 416.
pub fn apache_reason(status: StatusCode) -> &'static str {
    match status.as_u16() {
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        416 => "Requested Range Not Satisfiable",
        _ => status.canonical_reason().unwrap_or("Unknown"),
    }
}

/// Apache httpd 2.4's fixed text for `status` (paragraphs ending with a
/// newline), for the statuses whose text names nothing of the request
/// (the method, the location and the server's administrator are filled
/// in by their callers).
pub fn apache_text(status: StatusCode) -> Option<&'static str> {
    Some(match status.as_u16() {
        400 => "<p>Your browser sent a request that this server could not understand.<br />\n</p>\n",
        401 | 407 => {
            "<p>This server could not verify that you\nare authorized to access the document\n\
             requested.  Either you supplied the wrong\ncredentials (e.g., bad password), or your\n\
             browser doesn't understand how to supply\nthe credentials required.</p>\n"
        }
        403 => "<p>You don't have permission to access this resource.</p>\n",
        404 => "<p>The requested URL was not found on this server.</p>\n",
        408 => "<p>Server timeout waiting for the HTTP request from the client.</p>\n",
        410 => {
            "<p>The requested resource is no longer available on this server and there is no \
             forwarding address.\nPlease remove all references to this resource.</p>\n"
        }
        412 => "<p>The precondition on the request for this URL evaluated to false.</p>\n",
        414 => {
            "<p>The requested URL's length exceeds the capacity\nlimit for this server.<br />\n</p>\n"
        }
        415 => {
            "<p>The supplied request data is not in a format\n\
             acceptable for processing by this resource.</p>\n"
        }
        416 => {
            "<p>None of the range-specifier values in the Range\n\
             request-header field overlap the current extent\nof the selected resource.</p>\n"
        }
        421 => {
            "<p>The client needs a new connection for this\nrequest as the requested host name \
             does not match\nthe Server Name Indication (SNI) in use for this\nconnection.</p>\n"
        }
        429 => "<p>The user has sent too many requests\nin a given amount of time.</p>\n",
        431 => {
            "<p>The server refused this request because\nthe request header fields are too large.</p>\n"
        }
        502 => {
            "<p>The proxy server received an invalid\nresponse from an upstream server.<br />\n</p>\n"
        }
        503 => {
            "<p>The server is temporarily unable to service your\n\
             request due to maintenance downtime or capacity\nproblems. Please try again later.</p>\n"
        }
        504 => {
            "<p>The gateway did not receive a timely response\n\
             from the upstream server or application.</p>\n"
        }
        _ => return None,
    })
}

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;
