//! How an HTTP/1.1 connection becomes HTTP/2 without ALPN: the preface
//! seen in its first bytes (prior knowledge, `H2Direct`), or a request
//! with `Upgrade: h2c` (`H2Upgrade`).

use std::io;
use std::time::{Instant, SystemTime};

use http::header::{CONNECTION, UPGRADE};
use http::Version;

use crate::h1::RequestHead;
use crate::h2::PREFACE;
use crate::serve::context::{Ready, Serving};

/// The `101` that switches to HTTP/2 in clear.
pub(super) const SWITCHING: &[u8] =
    b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";

/// An HTTP/1.1 request that switched to HTTP/2 (`Upgrade: h2c`): it is
/// stream 1 of the session.
pub struct Upgrade {
    /// The request, served as stream 1.
    pub(crate) head: Box<RequestHead>,
    /// Its `HTTP2-Settings` value (base64url SETTINGS payload).
    pub(crate) settings: Vec<u8>,
    pub(crate) started: SystemTime,
    pub(crate) clock: Instant,
}

impl Upgrade {
    /// The upgrade `head` asks for (see [`asks_h2c`]), begun at
    /// `started` (`clock` the same instant); the head back when it asks
    /// for none.
    pub fn of(
        head: Box<RequestHead>,
        started: SystemTime,
        clock: Instant,
    ) -> Result<Upgrade, Box<RequestHead>> {
        match asks_h2c(&head) {
            Some(settings) => Ok(Upgrade {
                head,
                settings,
                started,
                clock,
            }),
            None => Err(head),
        }
    }
}

/// Whether `head` asks for `h2c` as RFC 7540 §3.2 says: `Upgrade: h2c`,
/// one `HTTP2-Settings`, both named in `Connection`, and no body. A
/// request with a body (a `Content-Length` other than 0, or chunked) is
/// served in HTTP/1.1, its body read as HTTP/1.1's: mod_http2 2.x
/// declines such an upgrade too (`h2_switch.c`: switching "only for
/// requests that have no body"), where buffering the body would cost
/// memory bounded by nothing the client is told. Its settings value
/// when it asks.
pub fn asks_h2c(head: &RequestHead) -> Option<Vec<u8>> {
    if head.version != Version::HTTP_11 || head.framing.has_body() || head.expect_continue {
        return None;
    }
    let tokens = |name: http::header::HeaderName| {
        head.headers
            .get_all(name)
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .map(|t| t.trim_ascii().to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    if !tokens(UPGRADE).iter().any(|t| t == b"h2c") {
        return None;
    }
    let connection = tokens(CONNECTION);
    if !connection.iter().any(|t| t == b"upgrade")
        || !connection.iter().any(|t| t == b"http2-settings")
    {
        return None;
    }
    let mut settings = head.headers.get_all("http2-settings").iter();
    match (settings.next(), settings.next()) {
        (Some(v), None) => Some(v.as_bytes().to_vec()),
        _ => None,
    }
}

/// The bytes of a first line [`preface_in`] looks at before leaving the
/// connection to HTTP/1.1 undecided (its head limits apply then).
const FIRST_LINE_LOOK: usize = 1024;

/// Whether a connection's first bytes, `kept` then `more`, on an address
/// that takes HTTP/2 by prior knowledge (`H2Direct`), are HTTP/2:
///
/// - `Some(true)`: HTTP/2 from here. Either the whole client preface, or
///   a first line that no HTTP/1.x client sends: a request line whose
///   version is not `HTTP/…` (`INVALID CONNECTION PREFACE`), or the
///   preface's own first line `PRI * HTTP/2.0` followed by something
///   else. The session then treats the bytes as an invalid preface
///   (RFC 9113 §3.4): GOAWAY(PROTOCOL_ERROR) and close, never an
///   HTTP/1.1 answer to a client that does not speak HTTP/1.1.
/// - `Some(false)`: a part of the preface, or of a first line not yet
///   decided: wait for more.
/// - `None`: HTTP/1.x (or something its parser answers, as before: a
///   line that is not a request line, an `HTTP/0.9` one, a version the
///   server does not support). A request line is decided at its third
///   word, so an HTTP/1.1 request is not held back; at most
///   `FIRST_LINE_LOOK` bytes are looked at.
pub fn preface_in(kept: &[u8], more: &[u8]) -> Option<bool> {
    let seen = || kept.iter().chain(more).copied();
    let matched = seen()
        .zip(PREFACE.iter().copied())
        .take_while(|(a, b)| a == b)
        .count();
    if matched == PREFACE.len() {
        Some(true)
    } else if matched == kept.len() + more.len() {
        Some(false)
    } else if matched >= PRI_LINE {
        Some(true)
    } else {
        not_http1(seen().take(FIRST_LINE_LOOK))
    }
}

/// `PRI * HTTP/2.0`: the preface's first line, which no HTTP/1.x client
/// sends (RFC 9113 §3.4 chose it so).
const PRI_LINE: usize = 14;

/// The first line's verdict for [`preface_in`]: `Some(true)` when its
/// third word (the version) does not begin `HTTP/` (any case), `None`
/// when it does, or when the line is no request line at all (a byte that
/// is not visible ASCII in the method or target, a line end before the
/// version: HTTP/1.1's parser answers it as before), `Some(false)` when
/// the bytes end undecided.
fn not_http1(bytes: impl Iterator<Item = u8>) -> Option<bool> {
    const HTTP: &[u8] = b"HTTP/";
    let mut word = 0;
    let mut v = 0;
    let mut looked = 0;
    for b in bytes {
        looked += 1;
        match word {
            0 | 1 if b == b' ' => word += 1,
            0 | 1 if !b.is_ascii_graphic() => return None,
            0 | 1 => {}
            _ if v == 0 && matches!(b, b' ' | b'\r' | b'\n') => return None,
            _ if b.to_ascii_uppercase() != HTTP[v] => return Some(true),
            _ => {
                v += 1;
                if v == HTTP.len() {
                    return None;
                }
            }
        }
    }
    (looked < FIRST_LINE_LOOK).then_some(false)
}

impl Serving<'_, '_> {
    /// Prior knowledge: read the connection's first bytes (within
    /// `RequestReadTimeout`'s header stage, as a head) and tell whether
    /// they are the HTTP/2 client preface. The bytes stay buffered: for
    /// HTTP/1.1 they are the request's; for HTTP/2, take them with
    /// [`Serving::take_buffered`]. A client that sends a prefix of the
    /// preface and then nothing is left to the HTTP/1.1 deadlines.
    pub(in crate::serve) fn sniff_preface(&mut self) -> bool {
        let t = &self.ctx.protocol.timeouts;
        let header = t.request_read.header.initial;
        let bound = if header.is_zero() { t.timeout } else { header };
        let deadline = Instant::now() + bound;
        loop {
            match preface_in(self.session.buffered(), &[]) {
                None => return false,
                Some(true) => return true,
                Some(false) => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !matches!(self.wait(left, false), Ready::Readable) {
                return false;
            }
            match self.fill() {
                Ok(0) | Err(_) => return false,
                Ok(_) => {}
            }
        }
    }

    /// Every byte buffered, taken out of the HTTP/1.1 session.
    pub(in crate::serve) fn take_buffered(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.session.consume_buffered(|b| out.extend_from_slice(b));
        out
    }

    /// Answer `Upgrade: h2c` with `101` and keep the request for the
    /// HTTP/2 session; an error when the `101` could not be written.
    pub(in crate::serve) fn switch_to_h2(
        &mut self,
        head: RequestHead,
        settings: Vec<u8>,
        started: SystemTime,
        clock: Instant,
    ) -> io::Result<()> {
        self.write_whole(SWITCHING)?;
        self.h2_upgrade = Some(Upgrade {
            head: Box::new(head),
            settings,
            started,
            clock,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_preface_is_http2_and_a_part_of_it_waits() {
        assert_eq!(preface_in(&PREFACE[..10], &PREFACE[10..]), Some(true));
        assert_eq!(preface_in(b"PRI * HT", b""), Some(false));
        assert_eq!(preface_in(b"", b""), Some(false));
    }

    #[test]
    fn an_http1_request_line_is_http1_at_its_version() {
        assert_eq!(preface_in(b"GET / HTTP/1.1\r\n", b""), None);
        assert_eq!(preface_in(b"GET /", b" HTTP/"), None);
        assert_eq!(preface_in(b"PRI * HTTP/1.1\r\n\r\n", b""), None);
        // A version HTTP/1.1's parser refuses (505) is still its answer.
        assert_eq!(preface_in(b"GET / HTTP/3.0\r\n\r\n", b""), None);
        assert_eq!(preface_in(b"get / http/1.1\r\n", b""), None);
        // Not yet decided: the version is not there.
        assert_eq!(preface_in(b"GET /index.html", b""), Some(false));
        assert_eq!(preface_in(b"GET / HT", b""), Some(false));
    }

    #[test]
    fn what_is_no_request_line_is_left_to_http1() {
        // HTTP/0.9, a lone word, a TLS hello on a cleartext port.
        assert_eq!(preface_in(b"GET /\r\n", b""), None);
        assert_eq!(preface_in(b"HELLO\r\n", b""), None);
        assert_eq!(preface_in(&[0x16, 0x03, 0x01, 0x02, 0x00], b""), None);
        assert_eq!(preface_in(b"GET / \r\n", b""), None);
        // A first line longer than the look is HTTP/1.1's to judge.
        let long = [b"GET /".as_slice(), &[b'a'; FIRST_LINE_LOOK]].concat();
        assert_eq!(preface_in(&long, b""), None);
    }

    #[test]
    fn a_first_line_no_http1_client_sends_is_an_invalid_preface() {
        // h2spec's case 3.5/2.
        assert_eq!(
            preface_in(b"INVALID CONNECTION PREFACE\r\n\r\n", b""),
            Some(true)
        );
        assert_eq!(preface_in(b"INVALID CONNECTION P", b""), Some(true));
        // The preface's first line, then something else.
        assert_eq!(
            preface_in(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", b""),
            Some(true)
        );
        assert_eq!(
            preface_in(b"PRI * HTTP/2.0\r\nHost: a\r\n", b""),
            Some(true)
        );
    }
}
