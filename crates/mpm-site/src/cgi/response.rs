//! A script's answer (RFC 3875 §6), sans-IO: the bytes of its output go
//! in as they arrive ([`ResponseParser::push`]), and out comes "need
//! more", its head ([`CgiHead`]) with how many bytes the head took, or a
//! refusal ([`BadCgiResponse`]: the client gets 502). What follows the
//! head is the body, which the caller streams; the parser keeps nothing
//! of it.
//!
//! The head is header lines, each `name: value` ended by LF or CRLF, up
//! to an empty line, read as Apache's `ap_scan_script_header_err_core`
//! reads it:
//!
//! - `Status: 404 Not Found` sets the status (and its reason text);
//!   without it, 200. A status outside 200–599 or not three digits is
//!   refused (a `Status: 99` is no answer to send on).
//! - `Location`, `Content-Type`, `Content-Length`, `Last-Modified`, `ETag`
//!   and `Content-Range` are given once, the last one winning; other
//!   fields (`Set-Cookie` among them) as often as the script wrote them.
//!   A `Location` beginning with `/` on a 200 is a local redirect, any
//!   other on a 200 a client redirect ([`CgiHead::disposition`]).
//! - A line beginning with a space or tab continues the field before it
//!   (joined with one space).
//! - The fields that describe a connection, not a message (`Connection`,
//!   `Keep-Alive`, `Transfer-Encoding`, `TE`, `Trailer`, `Upgrade`,
//!   `Proxy-Connection`), are dropped: the server frames the body to its
//!   client itself.
//!
//! Refused ([`BadCgiResponse`]): a head larger than
//! [`ResponseLimits::max_head`] bytes or with more than
//! [`ResponseLimits::max_fields`] lines (so 100,000 headers cost at most
//! the limit's memory), a line without `:` or with a name that is not a
//! token, a value with a control character (a CR inside `Location` would
//! split the client's response), a `Content-Length` that is not one
//! number, and output that ends before the empty line
//! ([`ResponseParser::end_of_output`]).

use http::header::{
    CONNECTION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, LAST_MODIFIED, LOCATION, TE,
    TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::log_escape::{escape, Quotes};

/// The bounds on a script's response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseLimits {
    /// Most bytes in the head, its empty last line included (default
    /// 64 KiB, as the reverse proxy's
    /// [`MAX_HEAD`](crate::proxy::response::MAX_HEAD)).
    pub max_head: usize,
    /// Most header lines, continuation lines included (default 100, as
    /// the reverse proxy's
    /// [`MAX_FIELDS`](crate::proxy::response::MAX_FIELDS)).
    pub max_fields: usize,
}

impl Default for ResponseLimits {
    fn default() -> Self {
        ResponseLimits {
            max_head: crate::proxy::response::MAX_HEAD,
            max_fields: crate::proxy::response::MAX_FIELDS,
        }
    }
}

/// A script's response head.
#[derive(Debug, Clone, PartialEq)]
pub struct CgiHead {
    /// `Status`, or 200 without one.
    pub status: StatusCode,
    /// The reason text after `Status`'s code, when the script wrote one.
    pub reason: Option<String>,
    /// Whether the script wrote `Status`.
    pub status_given: bool,
    /// The fields for the client, in the script's order, `Location`,
    /// `Content-Type` and `Content-Length` among them (`Status` and the
    /// connection's fields are not).
    pub headers: HeaderMap,
    /// `Content-Length`, when the script gave it.
    pub content_length: Option<u64>,
}

/// What the server does with a script's answer (RFC 3875 §6.2, as
/// mod_cgi decides it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Send it: the status, the fields, the body.
    Document,
    /// A local redirect (`Location: /path?query` on a 200): the server
    /// discards the body and serves that path as a `GET` in place of this
    /// request (an internal redirect, `REDIRECT_*` variables following).
    LocalRedirect(String),
    /// A client redirect (`Location: <other>` on a 200): the server
    /// answers 302 with the script's `Location` and `Set-Cookie` fields
    /// and its own body (a script that wants to send its own body with a
    /// redirect says `Status: 302`, as Apache requires).
    ClientRedirect,
}

impl CgiHead {
    /// What to do with this answer.
    pub fn disposition(&self) -> Disposition {
        let Some(location) = self.headers.get(LOCATION) else {
            return Disposition::Document;
        };
        if self.status != StatusCode::OK {
            return Disposition::Document;
        }
        match location.to_str() {
            Ok(path) if path.starts_with('/') => Disposition::LocalRedirect(path.to_owned()),
            _ => Disposition::ClientRedirect,
        }
    }
}

/// Why a script's answer was refused: the client gets 502, the error
/// log this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadCgiResponse {
    /// The output ended before any byte.
    #[error("the script's output ended before its response head (no output at all)")]
    Empty,
    /// The output ended inside the head.
    #[error(
        "the script's output ended inside its response head (no empty line after the header lines)"
    )]
    NoEnd,
    /// The head has more bytes than [`ResponseLimits::max_head`].
    #[error("the script's response head is larger than {0} bytes")]
    TooLarge(usize),
    /// The head has more lines than [`ResponseLimits::max_fields`].
    #[error("the script's response head has more than {0} header lines")]
    TooManyFields(usize),
    /// A line is not `name: value` (the line, escaped and shortened).
    #[error("malformed header line from the script: \"{0}\"")]
    Malformed(String),
    /// `Status` is not a final status code (its value, escaped).
    #[error("invalid Status from the script: \"{0}\" (a code from 200 to 599 is needed)")]
    BadStatus(String),
    /// A field's value holds a control character (the field's name).
    #[error("the script's {0} header holds a control character (CR, LF or another)")]
    BadValue(String),
    /// `Content-Length` is not one number.
    #[error("the script's Content-Length is not one number")]
    BadLength,
}

/// The incremental reader of a script's response head; see the
/// [module](self).
#[derive(Debug, Default)]
pub struct ResponseParser {
    limits: ResponseLimits,
    /// The head so far (never more than `limits.max_head` bytes).
    buf: Vec<u8>,
    /// Where the line being read starts in `buf`.
    line_start: usize,
    /// How much of `buf` has been searched for line ends.
    scanned: usize,
    /// Lines seen, continuation lines included.
    lines: usize,
}

/// How much of a refused line the error text shows.
const SHOWN: usize = 80;

/// The bytes of a line or value for an error message: escaped for a log,
/// shortened.
fn shown(bytes: &[u8]) -> String {
    let mut out = String::new();
    escape(&bytes[..bytes.len().min(SHOWN)], Quotes::Kept, &mut out);
    if bytes.len() > SHOWN {
        out.push('…');
    }
    out
}

impl ResponseParser {
    /// A parser with these limits.
    pub fn new(limits: ResponseLimits) -> Self {
        ResponseParser {
            limits,
            ..ResponseParser::default()
        }
    }

    /// Read the next bytes of the script's output.
    ///
    /// - `Ok(None)`: all of `input` belongs to the head, which is not
    ///   complete yet; push the next bytes.
    /// - `Ok(Some((head, used)))`: the head ended in `input[..used]`;
    ///   `input[used..]` is the start of the body. The parser is done:
    ///   push nothing more.
    /// - `Err(_)`: the output is refused (the client gets 502).
    pub fn push(&mut self, input: &[u8]) -> Result<Option<(CgiHead, usize)>, BadCgiResponse> {
        let before = self.buf.len();
        let room = self.limits.max_head - before;
        self.buf.extend_from_slice(&input[..input.len().min(room)]);
        while let Some(at) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
            let end = self.scanned + at;
            self.scanned = end + 1;
            let line = &self.buf[self.line_start..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                let head = self.head(self.line_start)?;
                return Ok(Some((head, self.scanned - before)));
            }
            self.lines += 1;
            if self.lines > self.limits.max_fields {
                return Err(BadCgiResponse::TooManyFields(self.limits.max_fields));
            }
            self.line_start = self.scanned;
        }
        self.scanned = self.buf.len();
        if self.buf.len() >= self.limits.max_head {
            return Err(BadCgiResponse::TooLarge(self.limits.max_head));
        }
        Ok(None)
    }

    /// The script's output ended (EOF, FastCGI's end of `STDOUT`) before
    /// [`push`](Self::push) gave a head: why that is refused.
    pub fn end_of_output(&self) -> BadCgiResponse {
        if self.buf.is_empty() {
            BadCgiResponse::Empty
        } else {
            BadCgiResponse::NoEnd
        }
    }

    /// The head made of `buf[..end]`: complete lines, each ended by LF.
    fn head(&self, end: usize) -> Result<CgiHead, BadCgiResponse> {
        // Unfold continuation lines first: (name, value) per field.
        let mut fields: Vec<(&[u8], Vec<u8>)> = Vec::with_capacity(self.lines);
        for line in self.buf[..end].split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            if matches!(line[0], b' ' | b'\t') {
                let Some((_, value)) = fields.last_mut() else {
                    return Err(BadCgiResponse::Malformed(shown(line)));
                };
                let more = line.trim_ascii();
                if !more.is_empty() {
                    if !value.is_empty() {
                        value.push(b' ');
                    }
                    value.extend_from_slice(more);
                }
                continue;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return Err(BadCgiResponse::Malformed(shown(line)));
            };
            let name = &line[..colon];
            if name.is_empty() {
                return Err(BadCgiResponse::Malformed(shown(line)));
            }
            fields.push((name, line[colon + 1..].trim_ascii().to_vec()));
        }

        let mut head = CgiHead {
            status: StatusCode::OK,
            reason: None,
            status_given: false,
            headers: HeaderMap::with_capacity(fields.len()),
            content_length: None,
        };
        for (name, value) in fields {
            let Ok(name) = HeaderName::from_bytes(name) else {
                return Err(BadCgiResponse::Malformed(shown(name)));
            };
            if name.as_str() == "status" {
                let (status, reason) = status(&value)?;
                head.status = status;
                head.reason = reason;
                head.status_given = true;
                continue;
            }
            if is_connection_field(&name) {
                continue;
            }
            let Ok(value) = HeaderValue::from_bytes(&value) else {
                return Err(BadCgiResponse::BadValue(name.as_str().to_owned()));
            };
            if name == CONTENT_LENGTH {
                let text = value.as_bytes();
                if text.is_empty() || text.len() > 19 || !text.iter().all(u8::is_ascii_digit) {
                    return Err(BadCgiResponse::BadLength);
                }
                head.content_length =
                    Some(text.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')));
            }
            if is_single(&name) {
                head.headers.insert(name, value);
            } else {
                head.headers.append(name, value);
            }
        }
        Ok(head)
    }
}

/// Why [`read_head`] found no head.
#[derive(Debug, thiserror::Error)]
pub enum ReadHeadError {
    /// Reading the script's output failed (a timeout, a broken pipe or
    /// connection).
    #[error("reading the script's response head: {0}")]
    Io(#[from] std::io::Error),
    /// The output is refused.
    #[error(transparent)]
    Bad(#[from] BadCgiResponse),
}

/// Read a script's response head from a blocking reader (a CGI's stdout
/// pipe, a FastCGI `STDOUT` stream): the head, and the bytes read after
/// it, the start of the body. The body's rest is still in `output`: send
/// `Cursor::new(rest).chain(output)` on. Reads at most one buffer (1 KiB,
/// or 8 KiB once a read filled it) past the head.
pub fn read_head(
    output: &mut dyn std::io::Read,
    limits: ResponseLimits,
) -> Result<(CgiHead, Vec<u8>), ReadHeadError> {
    let mut parser = ResponseParser::new(limits);
    // 1 KiB holds most heads; a read that fills it makes it 8 KiB.
    let mut buf = crate::script::buf::GrowBuf::new(1024, 8192);
    loop {
        let n = match output.read(&mut buf[..]) {
            Ok(0) => return Err(parser.end_of_output().into()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if let Some((head, used)) = parser.push(&buf[..n])? {
            let mut rest = buf.into_vec();
            rest.truncate(n);
            rest.drain(..used);
            return Ok((head, rest));
        }
        buf.filled(n);
    }
}

/// `Status`'s value: three digits from 200 to 599, then nothing or a
/// space and a reason.
fn status(value: &[u8]) -> Result<(StatusCode, Option<String>), BadCgiResponse> {
    let bad = || BadCgiResponse::BadStatus(shown(value));
    let (code, reason) = match value.iter().position(|&b| b == b' ' || b == b'\t') {
        Some(at) => (&value[..at], value[at..].trim_ascii()),
        None => (value, &b""[..]),
    };
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let code = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    if !(200..=599).contains(&code) {
        return Err(bad());
    }
    let status = StatusCode::from_u16(code).map_err(|_| bad())?;
    if reason.iter().any(|&b| b < 0x20 && b != b'\t' || b == 0x7f) {
        return Err(bad());
    }
    let reason = (!reason.is_empty()).then(|| String::from_utf8_lossy(reason).into_owned());
    Ok((status, reason))
}

/// The fields Apache sets once (the last one wins).
fn is_single(name: &HeaderName) -> bool {
    *name == LOCATION
        || *name == CONTENT_TYPE
        || *name == CONTENT_LENGTH
        || *name == CONTENT_RANGE
        || *name == LAST_MODIFIED
        || *name == ETAG
}

/// The fields of a connection, which the server writes itself.
fn is_connection_field(name: &HeaderName) -> bool {
    *name == CONNECTION
        || *name == TRANSFER_ENCODING
        || *name == TE
        || *name == TRAILER
        || *name == UPGRADE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole output at once.
    fn parse(output: &[u8]) -> Result<Option<(CgiHead, usize)>, BadCgiResponse> {
        ResponseParser::default().push(output)
    }

    fn head(output: &[u8]) -> CgiHead {
        match parse(output) {
            Ok(Some((head, _))) => head,
            other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(output)),
        }
    }

    #[test]
    fn a_head_gives_its_status_fields_and_where_the_body_starts() {
        let out = b"Status: 404 Not Here\r\nContent-Type: text/html\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Powered-By: PHP\r\n\r\n<html>";
        let (head, used) = parse(out).unwrap().unwrap();
        assert_eq!(&out[used..], b"<html>");
        assert_eq!(head.status, StatusCode::NOT_FOUND);
        assert_eq!(head.reason.as_deref(), Some("Not Here"));
        assert!(head.status_given);
        assert_eq!(head.headers[CONTENT_TYPE], "text/html");
        let cookies: Vec<_> = head.headers.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert!(!head.headers.contains_key("status"));
        assert_eq!(head.disposition(), Disposition::Document);
    }

    #[test]
    fn without_status_the_answer_is_200_and_bare_lf_ends_lines() {
        let (head, used) = parse(b"Content-type: text/plain\n\nhi").unwrap().unwrap();
        assert_eq!(used, 26);
        assert_eq!(head.status, StatusCode::OK);
        assert!(!head.status_given);
        assert_eq!(head.reason, None);
    }

    #[test]
    fn a_head_arriving_in_any_pieces_reads_as_at_once() {
        let out: &[u8] =
            b"Status: 201\r\nX-A: 1\r\n  more\r\nContent-Length: 3\r\nLocation: /x\r\n\r\nabc";
        let (whole, used) = parse(out).unwrap().unwrap();
        assert_eq!(&out[used..], b"abc");
        for split in 0..out.len() {
            let mut parser = ResponseParser::default();
            let (a, b) = out.split_at(split);
            let got = match parser.push(a).unwrap() {
                Some((head, n)) => (head, n),
                None => {
                    let (head, n) = parser.push(b).unwrap().expect("a head after all bytes");
                    (head, split + n)
                }
            };
            assert_eq!(got, (whole.clone(), used), "split at {split}");
        }
        // One byte at a time.
        let mut parser = ResponseParser::default();
        let mut got = None;
        for (i, byte) in out.iter().enumerate() {
            if let Some((head, n)) = parser.push(std::slice::from_ref(byte)).unwrap() {
                got = Some((head, i + n));
                break;
            }
        }
        assert_eq!(got, Some((whole, used)));
    }

    #[test]
    fn continuation_lines_join_the_field_before_them() {
        let h = head(b"X-Long: a\r\n\tb\r\n c\r\n\r\n");
        assert_eq!(h.headers["x-long"], "a b c");
        assert!(matches!(
            parse(b" leading\r\n\r\n"),
            Err(BadCgiResponse::Malformed(_))
        ));
    }

    #[test]
    fn location_decides_local_and_client_redirects() {
        let local = head(b"Location: /other.php?x=1\r\n\r\n");
        assert_eq!(
            local.disposition(),
            Disposition::LocalRedirect("/other.php?x=1".into())
        );
        let client = head(b"Location: https://example.com/\r\n\r\n");
        assert_eq!(client.disposition(), Disposition::ClientRedirect);
        let explicit = head(b"Status: 301\r\nLocation: /moved\r\n\r\n");
        assert_eq!(explicit.disposition(), Disposition::Document);
        assert_eq!(explicit.status, StatusCode::MOVED_PERMANENTLY);
        let last_wins = head(b"Location: /a\r\nLocation: /b\r\n\r\n");
        assert_eq!(
            last_wins.disposition(),
            Disposition::LocalRedirect("/b".into())
        );
        assert_eq!(last_wins.headers.get_all(LOCATION).iter().count(), 1);
    }

    #[test]
    fn a_control_character_in_location_is_refused() {
        for out in [
            &b"Location: /a\rSet-Cookie: evil=1\r\n\r\n"[..],
            b"Location: /a\x00b\r\n\r\n",
            b"Location: /a\x0bb\n\n",
        ] {
            assert_eq!(
                parse(out),
                Err(BadCgiResponse::BadValue("location".into())),
                "{:?}",
                String::from_utf8_lossy(out)
            );
        }
    }

    #[test]
    fn a_status_that_is_not_a_final_code_is_refused() {
        for status in [
            "99",
            "099",
            "100 Continue",
            "101",
            "600",
            "abc",
            "2000",
            "",
            "20x",
        ] {
            let out = format!("Status: {status}\r\n\r\n");
            assert!(
                matches!(parse(out.as_bytes()), Err(BadCgiResponse::BadStatus(_))),
                "Status: {status} gave {:?}",
                parse(out.as_bytes())
            );
        }
        assert_eq!(head(b"Status: 599 x\n\n").status.as_u16(), 599);
        assert_eq!(head(b"Status:200\n\n").status, StatusCode::OK);
    }

    #[test]
    fn lines_that_are_not_fields_are_refused_with_the_line_in_the_message() {
        for (out, shows) in [
            (&b"<html>hello</html>\n\n"[..], "<html>hello</html>"),
            (b": no name\n\n", ": no name"),
            (b"Bad Name: x\n\n", "Bad Name"),
            (b"\x1b[31m\n\n", "\\x1b[31m"),
        ] {
            match parse(out) {
                Err(BadCgiResponse::Malformed(line)) => assert_eq!(line, shows),
                other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(out)),
            }
        }
    }

    #[test]
    fn the_connections_fields_are_dropped() {
        let h = head(
            b"Transfer-Encoding: chunked\r\nConnection: close\r\nKeep-Alive: 5\r\nUpgrade: h2c\r\nX-Ok: 1\r\n\r\n",
        );
        assert_eq!(h.headers.len(), 1, "{:?}", h.headers);
        assert_eq!(h.headers["x-ok"], "1");
    }

    #[test]
    fn content_length_must_be_one_number() {
        assert_eq!(head(b"Content-Length: 12\n\n").content_length, Some(12));
        for bad in ["-1", "1,2", "", "99999999999999999999", "0x10"] {
            let out = format!("Content-Length: {bad}\n\n");
            assert_eq!(
                parse(out.as_bytes()),
                Err(BadCgiResponse::BadLength),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_head_beyond_the_limits_is_refused_without_holding_more_than_the_limit() {
        let mut many = Vec::new();
        for i in 0..100_000 {
            many.extend_from_slice(format!("X-{i}: a\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse(&many), Err(BadCgiResponse::TooManyFields(100)));

        let mut parser = ResponseParser::default();
        let chunk = [b'a'; 8192];
        let mut refused = None;
        for _ in 0..100 {
            match parser.push(&chunk) {
                Ok(None) => assert!(parser.buf.len() <= parser.limits.max_head),
                other => {
                    refused = Some(other);
                    break;
                }
            }
        }
        assert_eq!(
            refused,
            Some(Err(BadCgiResponse::TooLarge(
                crate::proxy::response::MAX_HEAD
            )))
        );

        let tight = ResponseLimits {
            max_head: 16,
            max_fields: 100,
        };
        assert!(ResponseParser::new(tight)
            .push(b"A: 1234567890\n\n")
            .is_ok());
        assert_eq!(
            ResponseParser::new(tight).push(b"A: 123456789012\n\n"),
            Err(BadCgiResponse::TooLarge(16))
        );
    }

    #[test]
    fn read_head_reads_a_head_from_a_stream_and_gives_back_the_bodys_start() {
        use std::io::Read;
        let out = b"Content-Type: text/plain\r\n\r\nhello world".to_vec();
        // A reader that gives five bytes at a time.
        struct Trickle(std::io::Cursor<Vec<u8>>);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(5);
                self.0.read(&mut buf[..n])
            }
        }
        let mut output = Trickle(std::io::Cursor::new(out));
        let (head, start) = read_head(&mut output, ResponseLimits::default()).unwrap();
        assert_eq!(head.headers[CONTENT_TYPE], "text/plain");
        let mut body = String::from_utf8(start).unwrap();
        output.read_to_string(&mut body).unwrap();
        assert_eq!(body, "hello world");
        let mut cut = &b"Content-Type: text/plain\r\n"[..];
        assert!(matches!(
            read_head(&mut cut, ResponseLimits::default()),
            Err(ReadHeadError::Bad(BadCgiResponse::NoEnd))
        ));
    }

    #[test]
    fn output_that_ends_before_the_empty_line_is_refused() {
        let parser = ResponseParser::default();
        assert_eq!(parser.end_of_output(), BadCgiResponse::Empty);
        let mut parser = ResponseParser::default();
        assert_eq!(parser.push(b"Content-Type: text/plain\r\n").unwrap(), None);
        assert_eq!(parser.end_of_output(), BadCgiResponse::NoEnd);
    }
}
