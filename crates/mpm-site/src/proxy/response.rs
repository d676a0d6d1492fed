//! A backend's response head (RFC 9112 §4–§6), sans-IO on `httparse`:
//! bytes in, a [`ResponseHead`] with its body's framing or a refusal out.
//!
//! A backend is trusted less than `httparse` alone would: a head larger
//! than [`MAX_HEAD`] or with more than [`MAX_FIELDS`] fields, a status
//! line that is not HTTP/1.x, `Content-Length` together with
//! `Transfer-Encoding`, two different `Content-Length`s, a
//! `Transfer-Encoding` other than chunked at its end, or an
//! HTTP/1.0 response with `Transfer-Encoding` are refused ([`BadResponse`]):
//! the client gets 502, never a body framed one way to the proxy and
//! another to someone else (response splitting).

use std::time::Duration;

use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Version};

/// Largest response head accepted (status line and fields).
pub const MAX_HEAD: usize = 64 * 1024;

/// Most header fields in a response head.
pub const MAX_FIELDS: usize = 100;

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body: the answer to `HEAD`, or a 1xx, 204 or 304.
    Empty,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: the body ends when the backend closes.
    Close,
}

/// A parsed response head.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// The status.
    pub status: StatusCode,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: Version,
    /// The fields, in order (framing fields included).
    pub headers: HeaderMap,
    /// How its body is delimited.
    pub framing: ResponseFraming,
    /// Whether the backend keeps the connection open after this
    /// response's body.
    pub keep_alive: bool,
    /// `Keep-Alive: timeout=N`, when the backend announced it.
    pub keep_alive_timeout: Option<Duration>,
}

/// Why a response head was refused: the client gets 502.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadResponse {
    /// The head is larger than [`MAX_HEAD`] or has more than
    /// [`MAX_FIELDS`] fields.
    #[error("response head larger than the limits ({MAX_HEAD} bytes, {MAX_FIELDS} fields)")]
    TooLarge,
    /// The head is not a valid HTTP/1.x response; the text says how.
    #[error("invalid response head: {0}")]
    Malformed(&'static str),
}

/// Parse a response head at the start of `buf`, the answer to a request
/// whose method was `HEAD` when `to_head` is true.
///
/// - `Ok(None)`: not complete yet; read more and call again with the
///   whole buffer (refused as [`BadResponse::TooLarge`] once `buf` holds
///   more than [`MAX_HEAD`] bytes without its end).
/// - `Ok(Some((head, consumed)))`: `buf[..consumed]` was the head.
pub fn parse_response_head(
    buf: &[u8],
    to_head: bool,
) -> Result<Option<(ResponseHead, usize)>, BadResponse> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut response = httparse::Response::new(&mut fields);
    let window = &buf[..buf.len().min(MAX_HEAD)];
    let consumed = match response.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
            return Err(BadResponse::TooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(BadResponse::TooLarge),
        Err(httparse::Error::Version) => {
            return Err(BadResponse::Malformed("the status line is not HTTP/1.x"))
        }
        Err(httparse::Error::Status) => {
            return Err(BadResponse::Malformed(
                "the status code is not three digits",
            ))
        }
        Err(httparse::Error::HeaderName | httparse::Error::HeaderValue) => {
            return Err(BadResponse::Malformed("a header field is not valid"))
        }
        Err(_) => {
            return Err(BadResponse::Malformed(
                "the status line or a line end is not valid",
            ))
        }
    };
    let version = match response.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let code = response.code.unwrap_or(0);
    let status = StatusCode::from_u16(code)
        .ok()
        .filter(|_| (100..=599).contains(&code))
        .ok_or(BadResponse::Malformed("the status code is out of range"))?;
    let mut headers = HeaderMap::with_capacity(response.headers.len());
    for field in response.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes())
            .map_err(|_| BadResponse::Malformed("a header field name is not valid"))?;
        let value = HeaderValue::from_bytes(field.value)
            .map_err(|_| BadResponse::Malformed("a header field value is not valid"))?;
        headers.append(name, value);
    }
    let framing = framing(&headers, version, status, to_head)?;
    let mut keep_alive = version == Version::HTTP_11;
    for token in list(&headers, &CONNECTION) {
        if token.eq_ignore_ascii_case("close") {
            keep_alive = false;
        } else if token.eq_ignore_ascii_case("keep-alive") {
            keep_alive = true;
        }
    }
    if framing == ResponseFraming::Close {
        keep_alive = false;
    }
    let keep_alive_timeout = headers
        .get_all("keep-alive")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| {
            let (k, v) = p.split_once('=')?;
            if !k.trim().eq_ignore_ascii_case("timeout") {
                return None;
            }
            v.trim().parse::<u64>().ok().map(Duration::from_secs)
        });
    Ok(Some((
        ResponseHead {
            status,
            version,
            headers,
            framing,
            keep_alive,
            keep_alive_timeout,
        },
        consumed,
    )))
}

/// The elements of a comma-separated header list, trimmed, empty ones
/// left out (values that are not text give none).
pub(super) fn list<'h>(
    headers: &'h HeaderMap,
    name: &'h HeaderName,
) -> impl Iterator<Item = &'h str> + 'h {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The body's framing (RFC 9112 §6.3), refusing what could be read two
/// ways.
fn framing(
    headers: &HeaderMap,
    version: Version,
    status: StatusCode,
    to_head: bool,
) -> Result<ResponseFraming, BadResponse> {
    let has_te = headers.contains_key(TRANSFER_ENCODING);
    let has_cl = headers.contains_key(CONTENT_LENGTH);
    if has_te && has_cl {
        return Err(BadResponse::Malformed(
            "both Content-Length and Transfer-Encoding",
        ));
    }
    let mut length = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        for part in value.as_bytes().split(|&b| b == b',') {
            let part = part.trim_ascii();
            if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
                return Err(BadResponse::Malformed("Content-Length is not a number"));
            }
            let n = part.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
            match length {
                Some(m) if m != n => {
                    return Err(BadResponse::Malformed(
                        "two different Content-Length values",
                    ))
                }
                _ => length = Some(n),
            }
        }
    }
    let codings: Vec<&str> = list(headers, &TRANSFER_ENCODING).collect();
    if has_te {
        if version == Version::HTTP_10 {
            return Err(BadResponse::Malformed(
                "Transfer-Encoding in an HTTP/1.0 response",
            ));
        }
        let chunked = |c: &str| c.eq_ignore_ascii_case("chunked");
        if codings.iter().filter(|c| chunked(c)).count() > 1
            || codings.iter().rev().skip(1).any(|c| chunked(c))
        {
            return Err(BadResponse::Malformed(
                "chunked is applied twice or not last",
            ));
        }
    }
    if to_head
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(ResponseFraming::Empty);
    }
    if has_te {
        return Ok(match codings.last() {
            Some(c) if c.eq_ignore_ascii_case("chunked") => ResponseFraming::Chunked,
            _ => ResponseFraming::Close,
        });
    }
    Ok(match length {
        Some(n) => ResponseFraming::Length(n),
        None => ResponseFraming::Close,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Option<(ResponseHead, usize)>, BadResponse> {
        parse_response_head(text.as_bytes(), false)
    }

    #[test]
    fn a_response_head_gives_its_status_fields_and_framing() {
        let wire =
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=5, max=100\r\n\r\nhello";
        let (head, n) = parse(wire).unwrap().unwrap();
        assert_eq!(n, wire.len() - 5);
        assert_eq!(head.status, StatusCode::OK);
        assert_eq!(head.framing, ResponseFraming::Length(5));
        assert!(head.keep_alive);
        assert_eq!(head.keep_alive_timeout, Some(Duration::from_secs(5)));
        let (head, _) = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.framing, ResponseFraming::Chunked);
        let (head, _) = parse("HTTP/1.0 200 OK\r\n\r\n").unwrap().unwrap();
        assert_eq!(head.framing, ResponseFraming::Close);
        assert!(!head.keep_alive);
        let (head, _) = parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true)
            .unwrap()
            .unwrap();
        assert_eq!(head.framing, ResponseFraming::Empty);
        assert!(parse("HTTP/1.1 200 OK\r\nContent-Le").unwrap().is_none());
    }

    #[test]
    fn framing_that_could_be_read_two_ways_is_refused() {
        for (wire, says) in [
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                "both",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                "two different",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
                "two different",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                "not a number",
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip, chunked\r\n\r\n",
                "twice",
            ),
            (
                "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                "HTTP/1.0",
            ),
            ("ICY 200 OK\r\n\r\n", "not HTTP"),
            ("HTTP/2 200\r\n\r\n", "not HTTP"),
            ("HTTP/1.1 2000 OK\r\n\r\n", "status"),
            ("HTTP/1.1 099 OK\r\n\r\n", "out of range"),
        ] {
            match parse(wire) {
                Err(BadResponse::Malformed(why)) => assert!(why.contains(says), "{wire:?}: {why}"),
                other => panic!("{wire:?} gave {other:?}"),
            }
        }
        let (head, _) = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            head.framing,
            ResponseFraming::Length(5),
            "the same length twice is one length"
        );
    }

    #[test]
    fn a_head_beyond_the_limits_is_refused() {
        let mut big = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        big.resize(MAX_HEAD + 10, b'a');
        assert_eq!(
            parse_response_head(&big, false).unwrap_err(),
            BadResponse::TooLarge
        );
        let mut many = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..=MAX_FIELDS {
            many.push_str(&format!("X-{i}: a\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(parse(&many).unwrap_err(), BadResponse::TooLarge);
    }
}
