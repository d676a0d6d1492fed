//! Pass 2 of reading a request head, once pass 1 ([`super::parse`]) found
//! it whole and sound: the request line, target and header fields into
//! `http` types (one copy of the head shared by all of them), then the
//! rules that give them meaning: `Host`, body framing, keep-alive,
//! `Expect`.

use std::ops::Range;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};

use super::head::{Framing, HeadError, RequestHead, RequestLine};
use super::lex::{is_token, next_line, TOKEN};
use crate::config::Limits;

/// Pass 2, once the structure of `buf[start..head_end]` is known to be
/// sound: one copy of the head, shared by the target and every header
/// value (one allocation instead of one per value), then the semantics.
#[allow(clippy::too_many_arguments)]
pub(super) fn complete_head(
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
    let shared = head_copy(&buf[start..head_end]);
    let target = shared.slice(target.start..target.end);
    let uri = parse_target(&method, target).map_err(|e| e.with_line(rl_bytes))?;
    let (headers, noted) =
        parse_fields(&shared, headers_start - start, fields).map_err(|e| e.with_line(rl_bytes))?;

    let mut head = RequestHead {
        method,
        uri,
        version,
        headers,
        framing: Framing::None,
        keep_alive: false,
        expect_continue: false,
        // A valid request line is ASCII (a token, visible ASCII, the
        // version): checked as UTF-8, which for ASCII is a quick scan,
        // and shared with the rest of the head.
        request_line: RequestLine::new(shared.slice(..rl_end - start)),
    };
    if let Err(e) = apply_semantics(&mut head, &noted, limits) {
        return Err(HeadError {
            request_line: Some(head.request_line.to_string()),
            ..e
        });
    }
    Ok(Some((head, head_end)))
}

/// Heads up to this long (nearly all) are copied into one allocation.
const SMALL_HEAD: usize = 512;

/// The bytes of a small head and their count, for [`head_copy`]: `N`
/// bytes of room, the smallest of 128, 256 and 512 that holds the head,
/// so a short head (a tool's, a load generator's: under 128 bytes) is
/// not zeroed, copied and moved in 512.
struct SmallHead<const N: usize> {
    len: usize,
    bytes: [u8; N],
}

impl<const N: usize> AsRef<[u8]> for SmallHead<N> {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The head's bytes, shared by its target and header values. A small
/// head is one allocation (the bytes with their reference count,
/// `Bytes::from_owner`); `Bytes::copy_from_slice` would make two, the
/// bytes and, at the first slice, their shared count.
fn head_copy(head: &[u8]) -> Bytes {
    match head.len() {
        0..=128 => small_copy::<128>(head),
        129..=256 => small_copy::<256>(head),
        257..=SMALL_HEAD => small_copy::<SMALL_HEAD>(head),
        _ => Bytes::copy_from_slice(head),
    }
}

/// `head` (at most `N` bytes) in a [`SmallHead`] of `N`.
fn small_copy<const N: usize>(head: &[u8]) -> Bytes {
    let mut small = SmallHead {
        len: head.len(),
        bytes: [0; N],
    };
    small.bytes[..head.len()].copy_from_slice(head);
    Bytes::from_owner(small)
}

/// `method SP request-target SP HTTP-version`, exactly one space between.
/// Returns the method, where the target lies in `line` (checked for
/// visible ASCII only; its form is checked by [`parse_target`] once the
/// head is complete) and the version.
pub(super) fn parse_request_line(
    line: &[u8],
) -> Result<(Method, Range<usize>, Version), HeadError> {
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

/// What [`parse_fields`] noted of the fields the semantics rules read, as
/// it met them: those rules then look in the map only for fields that
/// came (a `HeaderMap` lookup hashes the name and probes; a request
/// seldom carries more than `Host` of these).
#[derive(Debug, Default)]
struct Noted<'a> {
    /// The first `Host` value, and how many `Host` fields came.
    host: Option<&'a [u8]>,
    hosts: usize,
    transfer_encoding: bool,
    content_length: bool,
    connection: bool,
    expect: bool,
}

/// Parses the `count` header lines starting at `from` (already scanned);
/// the values are slices of `buf`, not copies.
fn parse_fields(
    buf: &Bytes,
    from: usize,
    count: usize,
) -> Result<(HeaderMap, Noted<'_>), HeadError> {
    let mut headers = HeaderMap::with_capacity(count);
    let mut noted = Noted::default();
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
        let name = header_name(&line[..colon])?;
        // HeaderValue refuses exactly what RFC 9110 §5.5 does not allow:
        // control bytes other than HT, and DEL (obs-text is kept).
        let value = trim_ows(&line[colon + 1..]);
        if name == HOST {
            noted.hosts += 1;
            noted.host.get_or_insert(value);
        } else if name == TRANSFER_ENCODING {
            noted.transfer_encoding = true;
        } else if name == CONTENT_LENGTH {
            noted.content_length = true;
        } else if name == CONNECTION {
            noted.connection = true;
        } else if name == EXPECT {
            noted.expect = true;
        }
        let value = HeaderValue::from_maybe_shared(buf.slice_ref(value))
            .map_err(|_| HeadError::bad("control character in header value"))?;
        headers.append(name, value);
    }
    Ok((headers, noted))
}

/// The field name `raw` (a token): the names nearly every request
/// carries, spelled as clients send them, are matched whole; any other
/// goes through `HeaderName::from_bytes`, which lowercases it byte by
/// byte into a scratch buffer before it looks for a standard name.
fn header_name(raw: &[u8]) -> Result<HeaderName, HeadError> {
    use http::header;
    let known = match raw {
        b"Host" | b"host" => HOST,
        b"User-Agent" | b"user-agent" => header::USER_AGENT,
        b"Accept" | b"accept" => header::ACCEPT,
        b"Accept-Encoding" | b"accept-encoding" => header::ACCEPT_ENCODING,
        b"Accept-Language" | b"accept-language" => header::ACCEPT_LANGUAGE,
        b"Connection" | b"connection" => CONNECTION,
        b"Content-Length" | b"content-length" => CONTENT_LENGTH,
        b"Content-Type" | b"content-type" => header::CONTENT_TYPE,
        b"Cookie" | b"cookie" => header::COOKIE,
        b"Referer" | b"referer" => header::REFERER,
        b"Cache-Control" | b"cache-control" => header::CACHE_CONTROL,
        b"If-Modified-Since" | b"if-modified-since" => header::IF_MODIFIED_SINCE,
        b"If-None-Match" | b"if-none-match" => header::IF_NONE_MATCH,
        _ => return HeaderName::from_bytes(raw).map_err(|_| HeadError::bad("invalid header name")),
    };
    Ok(known)
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
/// RFC 9110 §10.1.1), on the fields `noted` while they were parsed.
fn apply_semantics(
    head: &mut RequestHead,
    noted: &Noted<'_>,
    limits: &Limits,
) -> Result<(), HeadError> {
    let headers = &head.headers;
    let http11 = head.version == Version::HTTP_11;

    // Host.
    match (noted.hosts, noted.host) {
        (0, _) if http11 => return Err(HeadError::bad("missing Host header")),
        (0, _) => {}
        (2.., _) => return Err(HeadError::bad("more than one Host header")),
        (_, host) => {
            if !valid_host(host.unwrap_or_default()) {
                return Err(HeadError::bad("invalid Host header"));
            }
        }
    }

    // Framing.
    let (has_te, has_cl) = (noted.transfer_encoding, noted.content_length);
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
    let options = noted
        .connection
        .then(|| list_elements(headers, &CONNECTION));
    for option in options.into_iter().flatten() {
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
    let expectations = noted.expect.then(|| list_elements(headers, &EXPECT));
    for expectation in expectations.into_iter().flatten() {
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
