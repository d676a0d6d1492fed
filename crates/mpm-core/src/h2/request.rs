//! A request's header fields (RFC 9113 §8.2, §8.3) → the engine's
//! [`RequestHead`], the same type HTTP/1.1 heads are read into, so the
//! code after it (handlers, logs, the scoreboard) does not care which
//! protocol carried the request.
//!
//! Malformed requests (§8.1.1) are stream errors of type PROTOCOL_ERROR:
//! an uppercase or invalid field name, a value with CR, LF or NUL or
//! surrounding whitespace, an unknown or repeated or late pseudo-header, a
//! response pseudo-header, a connection-specific field (`connection`,
//! `keep-alive`, `proxy-connection`, `transfer-encoding`, `upgrade`), `te`
//! other than `trailers`, a missing `:method`/`:scheme`/`:path` (CONNECT:
//! `:authority` only), an empty `:path`, a `:path` not starting with `/`
//! (but `*` for OPTIONS), an invalid `content-length`, an `:authority`
//! with userinfo (`user@host`), and a `host` that names another
//! authority than `:authority`. Requests over the server's
//! limits are answered instead, as HTTP/1.1 answers them: a `:path` longer
//! than `LimitRequestLine` with 414, a field longer than
//! `LimitRequestFieldSize` or more fields than `LimitRequestFields` with
//! 431.

use http::header::{HeaderName, HeaderValue, COOKIE, HOST};
use http::{HeaderMap, Method, StatusCode, Uri, Version};

use crate::config::Limits;
use crate::h1::{Framing, HeadError, RequestHead};

/// Why a request's fields were not made into a head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed: reset the stream with PROTOCOL_ERROR.
    Malformed(&'static str),
    /// Over a limit: answer with this status.
    Answer(HeadError),
}

fn malformed(reason: &'static str) -> Refusal {
    Refusal::Malformed(reason)
}

fn answer(status: StatusCode, reason: &'static str) -> Refusal {
    Refusal::Answer(HeadError {
        status,
        reason,
        allow: None,
        request_line: None,
    })
}

/// A token character (RFC 9110 §5.6.2), lowercase only.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.iter().all(|&c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&c)
        })
}

fn valid_value(v: &[u8]) -> bool {
    !v.iter().any(|&c| c == 0 || c == b'\r' || c == b'\n')
        && !matches!(v.first(), Some(b' ' | b'\t'))
        && !matches!(v.last(), Some(b' ' | b'\t'))
}

/// The fields a request's map has room for before it grows (a browser
/// sends 10 to 20).
const REQUEST_FIELDS: usize = 24;

/// Collects one request's (or trailers') fields as the HPACK decoder
/// hands them out; the first problem found is kept and the rest ignored.
#[derive(Debug, Default)]
pub struct Collector {
    method: Option<Vec<u8>>,
    scheme: Option<Vec<u8>>,
    authority: Option<Vec<u8>>,
    path: Option<Vec<u8>>,
    headers: HeaderMap,
    cookies: Vec<u8>,
    regular_seen: bool,
    fields: usize,
    trailers: bool,
    error: Option<Refusal>,
}

impl Collector {
    /// A collector for a request's header block. Its map has room for
    /// a browser's fields at once (growing it field by field cost more
    /// than a tenth of a stream's instructions: `benches/h2/stream_cost.rs`).
    pub fn request() -> Self {
        Collector {
            headers: HeaderMap::with_capacity(REQUEST_FIELDS),
            ..Collector::default()
        }
    }

    /// A collector for a trailer block (no pseudo-header allowed).
    pub fn trailers() -> Self {
        Collector {
            trailers: true,
            ..Collector::default()
        }
    }

    /// One field, as decoded.
    pub fn field(&mut self, name: &[u8], value: &[u8], limits: &Limits) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.add(name, value, limits) {
            self.error = Some(e);
        }
    }

    fn add(&mut self, name: &[u8], value: &[u8], limits: &Limits) -> Result<(), Refusal> {
        if let Some(pseudo) = name.strip_prefix(b":") {
            if self.trailers {
                return Err(malformed("a pseudo-header in trailers"));
            }
            if self.regular_seen {
                return Err(malformed("a pseudo-header after a regular field"));
            }
            let slot = match pseudo {
                b"method" => &mut self.method,
                b"scheme" => &mut self.scheme,
                b"authority" => &mut self.authority,
                b"path" => &mut self.path,
                b"status" => return Err(malformed("a response pseudo-header in a request")),
                _ => return Err(malformed("an unknown pseudo-header")),
            };
            if slot.is_some() {
                return Err(malformed("a pseudo-header sent twice"));
            }
            if !valid_value(value) {
                return Err(malformed(
                    "a pseudo-header value with CR, LF, NUL or edge whitespace",
                ));
            }
            *slot = Some(value.to_vec());
            return Ok(());
        }
        self.regular_seen = true;
        if !valid_name(name) {
            return Err(malformed("a field name that is not a lowercase token"));
        }
        if !valid_value(value) {
            return Err(malformed(
                "a field value with CR, LF, NUL or edge whitespace",
            ));
        }
        match name {
            b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding"
            | b"upgrade" => return Err(malformed("a connection-specific header field")),
            b"te" if value != b"trailers" => {
                return Err(malformed("a te field other than \"trailers\""))
            }
            _ => {}
        }
        self.fields += 1;
        if self.fields > limits.max_fields() {
            return Err(answer(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "the request has more header fields than the server accepts",
            ));
        }
        // As an HTTP/1.1 line "name: value" would be.
        if name.len() + 2 + value.len() > limits.field_size {
            return Err(answer(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "a request header field is longer than the server accepts",
            ));
        }
        if name == b"cookie" {
            // Cookie crumbs are joined into one field for handlers that
            // read it as HTTP/1.1 sends it (§8.2.3).
            if !self.cookies.is_empty() {
                self.cookies.extend_from_slice(b"; ");
            }
            self.cookies.extend_from_slice(value);
            return Ok(());
        }
        let name = HeaderName::from_bytes(name)
            .map_err(|_| malformed("a field name that is not a lowercase token"))?;
        let value = HeaderValue::from_bytes(value)
            .map_err(|_| malformed("a field value with CR, LF, NUL or edge whitespace"))?;
        self.headers.append(name, value);
        Ok(())
    }

    /// The trailers' fields.
    pub fn finish_trailers(mut self) -> Result<HeaderMap, Refusal> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.put_cookies()?;
        Ok(self.headers)
    }

    fn put_cookies(&mut self) -> Result<(), Refusal> {
        if !self.cookies.is_empty() {
            let v = HeaderValue::from_bytes(&self.cookies)
                .map_err(|_| malformed("a field value with CR, LF, NUL or edge whitespace"))?;
            self.headers.insert(COOKIE, v);
        }
        Ok(())
    }

    /// The request head, with the scheme it named (`None` for CONNECT);
    /// `end_stream` when the HEADERS frame ended the stream (no body).
    pub fn finish_request(
        mut self,
        end_stream: bool,
        limits: &Limits,
    ) -> Result<(RequestHead, Option<String>), Refusal> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.put_cookies()?;
        let method_bytes = self.method.take().ok_or(malformed("no :method"))?;
        let method =
            Method::from_bytes(&method_bytes).map_err(|_| malformed("an invalid :method"))?;
        let connect = method == Method::CONNECT;
        let authority = self.authority.take();
        // `METHOD target HTTP/2.0`, pushed rather than `format!`ed (the
        // formatting machinery cost a stream more than the rest of its
        // head's assembly).
        let line = |target: &[u8]| {
            let (m, t) = (method.as_str(), String::from_utf8_lossy(target));
            let mut s = String::with_capacity(m.len() + t.len() + 10);
            s.push_str(m);
            s.push(' ');
            s.push_str(&t);
            s.push_str(" HTTP/2.0");
            s
        };
        let (uri, scheme, request_line) = if connect {
            if self.scheme.is_some() || self.path.is_some() {
                return Err(malformed("a CONNECT request with :scheme or :path"));
            }
            let a = authority
                .clone()
                .ok_or(malformed("a CONNECT request without :authority"))?;
            let uri =
                Uri::try_from(a.as_slice()).map_err(|_| malformed("an invalid :authority"))?;
            (uri, None, line(&a))
        } else {
            let scheme = self.scheme.take().ok_or(malformed("no :scheme"))?;
            let path = self.path.take().ok_or(malformed("no :path"))?;
            if path.is_empty() {
                return Err(malformed("an empty :path"));
            }
            if path.len() > limits.request_line {
                return Err(answer(
                    StatusCode::URI_TOO_LONG,
                    "the request target is longer than the server accepts",
                ));
            }
            if path != b"*" && path[0] != b'/' && (scheme == b"http" || scheme == b"https") {
                return Err(malformed("a :path that does not start with /"));
            }
            if path == b"*" && method != Method::OPTIONS {
                return Err(malformed("a :path of * for a method other than OPTIONS"));
            }
            let request_line = line(&path);
            // The path's own bytes become the URI's, without a copy.
            let uri = Uri::try_from(path).map_err(|_| malformed("an invalid :path"))?;
            let scheme = String::from_utf8(scheme).map_err(|_| malformed("an invalid :scheme"))?;
            (uri, Some(scheme), request_line)
        };
        if let Some(a) = authority {
            if a.contains(&b'@') {
                return Err(malformed("an :authority with userinfo"));
            }
            if let Some(host) = self.headers.get(HOST) {
                if !host.as_bytes().eq_ignore_ascii_case(&a) {
                    return Err(malformed("a host field that differs from :authority"));
                }
            } else if !a.is_empty() {
                let v = HeaderValue::from_maybe_shared(bytes::Bytes::from(a))
                    .map_err(|_| malformed("an invalid :authority"))?;
                self.headers.insert(HOST, v);
            }
        }
        let framing = match content_length(&self.headers)? {
            Some(n) if end_stream && n > 0 => {
                return Err(malformed(
                    "a content-length above 0 on a request without a body",
                ))
            }
            Some(n) => Framing::Length(n),
            None if end_stream => Framing::None,
            // Delimited by the end of the stream, as chunked is on HTTP/1.1.
            None => Framing::Chunked,
        };
        let expect_continue = !end_stream
            && self
                .headers
                .get(http::header::EXPECT)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        Ok((
            RequestHead {
                method,
                uri,
                version: Version::HTTP_2,
                headers: self.headers,
                framing,
                keep_alive: true,
                expect_continue,
                request_line: request_line.into(),
            },
            scheme,
        ))
    }
}

/// The `content-length` fields' one value (repeats must agree).
pub fn content_length(headers: &HeaderMap) -> Result<Option<u64>, Refusal> {
    let mut found = None;
    for v in headers.get_all(http::header::CONTENT_LENGTH) {
        let b = v.as_bytes();
        if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
            return Err(malformed("an invalid content-length"));
        }
        let n: u64 = std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(malformed("an invalid content-length"))?;
        if found.is_some_and(|f| f != n) {
            return Err(malformed("content-length fields that disagree"));
        }
        found = Some(n);
    }
    Ok(found)
}
