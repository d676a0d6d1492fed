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
/// one `HTTP2-Settings`, both named in `Connection`, and no body (a
/// request with a body is served in HTTP/1.1, as mod_http2 does for
/// bodies it would have to buffer). Its settings value when it does.
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

/// Whether a connection's first bytes, `kept` then `more`, are the
/// HTTP/2 client preface: `Some(true)` when it is all there,
/// `Some(false)` when they are a part of it so far (wait for more),
/// `None` when they are something else (HTTP/1.1).
pub fn preface_in(kept: &[u8], more: &[u8]) -> Option<bool> {
    let seen = kept.iter().chain(more).take(PREFACE.len());
    let mut n = 0;
    for (a, b) in seen.zip(PREFACE) {
        if a != b {
            return None;
        }
        n += 1;
    }
    Some(n == PREFACE.len())
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
