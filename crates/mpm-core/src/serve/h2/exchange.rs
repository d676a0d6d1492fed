//! One stream served: the handler called on its request with a body that
//! pulls frames as it is read, its response framed into the session as
//! the windows allow, the access log and the scoreboard; and the
//! engine's refusals.

use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Instant, SystemTime};

use bytes::Buf;
use http::header::{CONTENT_LENGTH, DATE, SERVER};
use http::{HeaderMap, HeaderValue, StatusCode, Version};

use super::conn::{H2Conn, Received, Wait, Waiting};
use crate::deadline::read::ReadDeadline;
use crate::h1::{self as engine, HeadError, RequestHead};
use crate::h2::ErrorCode;
use crate::handler::{Body, RequestBody, Response};
use crate::net::connection::{ConnInfo, IP_TEXT_LEN};
use crate::process::scoreboard::WorkerState;
use crate::serve::context::{status_page, ServeContext};
use crate::serve::exchange::{request_builder, Logged};
use crate::serve::stream::run_writer;

/// The most bytes of a file or a reader framed at once.
pub(super) const PIECE: usize = 16 * 1024;

/// Why a request body could not be read to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyFailure {
    /// Past `LimitRequestBody`: 413.
    TooLarge,
    /// Not all of it came within `RequestReadTimeout`: 408.
    TimedOut,
    /// The stream or the connection is gone: nothing to answer.
    Gone,
}

/// A stream's request body as its handler reads it.
struct H2Body<'c, 'a, 'b> {
    conn: &'c mut H2Conn<'a, 'b>,
    stream: u32,
    deadline: ReadDeadline,
    /// `100 Continue` is owed before the first read.
    pending_continue: bool,
    read: u64,
    failure: Option<BodyFailure>,
}

impl BodyFailure {
    /// The error the handler's read gets.
    pub(super) fn error(self) -> io::Error {
        match self {
            BodyFailure::TooLarge => io::Error::new(
                io::ErrorKind::InvalidData,
                "the request body is larger than LimitRequestBody",
            ),
            BodyFailure::TimedOut => io::ErrorKind::TimedOut.into(),
            BodyFailure::Gone => io::ErrorKind::ConnectionReset.into(),
        }
    }
}

impl H2Body<'_, '_, '_> {
    fn fail(&mut self, f: BodyFailure) -> io::Error {
        self.failure = Some(f);
        f.error()
    }
}

impl Read for H2Body<'_, '_, '_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(f) = self.failure {
            return Err(self.fail(f));
        }
        if out.is_empty() {
            return Ok(0);
        }
        if std::mem::take(&mut self.pending_continue) {
            let sent = self.conn.session.send_response(
                self.stream,
                StatusCode::CONTINUE,
                &HeaderMap::new(),
                false,
            );
            if sent.is_err() || self.conn.flush().is_err() {
                return Err(self.fail(BodyFailure::Gone));
            }
        }
        let limit = self.conn.ctx.protocol.limits.body;
        let timeout = self.conn.ctx.protocol.timeouts.timeout;
        loop {
            let Some(inbound) = self.conn.inbound.get_mut(&self.stream) else {
                return Ok(0);
            };
            if inbound.gone {
                return Err(self.fail(BodyFailure::Gone));
            }
            if let Some(front) = inbound.data.front_mut() {
                let n = out.len().min(front.len());
                out[..n].copy_from_slice(&front[..n]);
                front.advance(n);
                if front.is_empty() {
                    inbound.data.pop_front();
                }
                self.conn.session.consume(self.stream, n);
                self.read += n as u64;
                if limit > 0 && self.read > limit {
                    return Err(self.fail(BodyFailure::TooLarge));
                }
                return Ok(n);
            }
            if inbound.ended {
                return Ok(0);
            }
            // The window updates go out, then wait for the client.
            if self.conn.flush().is_err() {
                return Err(self.fail(BodyFailure::Gone));
            }
            let now = Instant::now();
            if self.deadline.expired(now) {
                return Err(self.fail(BodyFailure::TimedOut));
            }
            match self
                .conn
                .wait_for_client(self.deadline.wait_from(now, timeout), false)
            {
                Wait::Read(n) => self.deadline.on_data(n),
                Wait::TimedOut => {}
                Wait::Stopping => self.conn.begin_stop(),
                Wait::Closed => return Err(self.fail(BodyFailure::Gone)),
            }
        }
    }
}

impl H2Conn<'_, '_> {
    /// Serve one waiting stream to its end.
    pub(super) fn serve(&mut self, w: Waiting) {
        match w.what {
            Received::Refused(e) => self.refuse(w.stream, e, w.started, w.clock),
            Received::Request(head) => self.answer(w.stream, *head, w.started, w.clock),
        }
        // Whatever of the body the handler left unread is not wanted:
        // its window goes back, and what still comes is dropped as it
        // arrives until the client ends the stream (RFC 9113 §8.1 lets
        // the server reset it with NO_ERROR instead; keeping it open
        // keeps it counted against H2MaxSessionStreams, as the client
        // holds it).
        if let Some(mut i) = self.inbound.remove(&w.stream) {
            let unread: usize = i.data.drain(..).map(|d| d.len()).sum();
            self.session.consume(w.stream, unread);
            if !i.ended && !i.gone {
                i.discard = true;
                self.inbound.insert(w.stream, i);
            }
        }
    }

    fn begin_request(&self, line: &str, host: &str) {
        begin_request(self.ctx, self.io.info(), line, host);
    }

    /// Answer a request the session's limits refused (414, 431).
    fn refuse(&mut self, stream: u32, e: HeadError, started: SystemTime, clock: Instant) {
        let line = e.request_line.clone().unwrap_or_default();
        self.begin_request(&line, "");
        let (headers, body) = engine::error_page(e.status, e.reason);
        let mut resp = Response::new(Body::Bytes(body));
        *resp.status_mut() = e.status;
        *resp.headers_mut() = headers;
        let sent = self.respond(stream, resp, false);
        self.log(Logged {
            line: &line,
            head: None,
            headers: &HeaderMap::new(),
            notes: &http::Extensions::new(),
            status: e.status,
            body_bytes: sent,
            started,
            clock,
        });
    }

    /// Run the handler on a stream's request and send its response.
    fn answer(&mut self, stream: u32, mut head: RequestHead, started: SystemTime, clock: Instant) {
        let info: ConnInfo = self.io.info().clone();
        let host = host_of(&head);
        self.begin_request(&head.request_line, &host);
        let handler = self.ctx.handler;
        let is_head = head.method == http::Method::HEAD;
        let builder = request_builder(&mut head, handler, Version::HTTP_2);
        let body_stage = self.ctx.protocol.timeouts.request_read.body;
        let mut body = H2Body {
            conn: self,
            stream,
            deadline: ReadDeadline::new(body_stage, Instant::now()),
            pending_continue: head.expect_continue,
            read: 0,
            failure: None,
        };
        let outcome = match builder.body(RequestBody::new(&mut body)) {
            Ok(req) => catch_unwind(AssertUnwindSafe(|| handler.handle(req, &info))),
            Err(_) => Ok(status_page(
                StatusCode::BAD_REQUEST,
                "the request could not be represented",
            )),
        };
        let failure = body.failure;
        self.set_state(WorkerState::Write);
        let Some(resp) = outcome_response(outcome, failure, &head.request_line, &info) else {
            self.log(Logged {
                line: &head.request_line,
                head: Some(&head),
                headers: &head.headers,
                notes: &http::Extensions::new(),
                status: StatusCode::BAD_REQUEST,
                body_bytes: 0,
                started,
                clock,
            });
            return;
        };
        let mut resp = resp;
        // What the handler noted for the log (`%u`), as the HTTP/1.1
        // driver takes it.
        let notes = std::mem::take(resp.extensions_mut());
        let status = resp.status();
        let sent = self.respond(stream, resp, is_head);
        self.set_state(WorkerState::Logging);
        self.log(Logged {
            line: &head.request_line,
            head: Some(&head),
            headers: &head.headers,
            notes: &notes,
            status,
            body_bytes: sent,
            started,
            clock,
        });
    }

    /// Send `resp` on `stream`: the head (with `date`, `server` and a
    /// known `content-length`), then its body as the windows open. The
    /// body bytes sent.
    fn respond(&mut self, stream: u32, resp: Response, is_head: bool) -> u64 {
        let (status, headers, body, end) = prepare_response(resp, is_head, self.ctx);
        if self
            .session
            .send_response(stream, status, &headers, end)
            .is_err()
        {
            return 0;
        }
        if end {
            // Written with the next batch (`H2Conn::run`).
            return 0;
        }
        let mut sent = 0u64;
        let ok = match body {
            Body::Empty | Body::Tunnel(_) => self.send_all(stream, &[], true, &mut sent),
            // A kept answer's fields are in the head already.
            Body::Bytes(b) | Body::Kept { bytes: b, .. } => {
                self.send_all(stream, &b, true, &mut sent)
            }
            Body::Reader { mut reader, .. } => {
                let mut buf = vec![0u8; PIECE];
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) => break self.send_all(stream, &[], true, &mut sent),
                        Ok(n) => {
                            if let Err(e) = self.send_all(stream, &buf[..n], false, &mut sent) {
                                break Err(e);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            log::error!("response body reader failed after {sent} bytes: {e}");
                            break Err(e);
                        }
                    }
                }
            }
            Body::File { file, offset, len } => {
                let mut buf = vec![0u8; PIECE.min(len as usize)];
                let mut at = 0u64;
                loop {
                    if at == len {
                        break self.send_all(stream, &[], true, &mut sent);
                    }
                    let want = (len - at).min(buf.len() as u64) as usize;
                    match file.read_exact_at(&mut buf[..want], offset + at) {
                        Ok(()) => {
                            at += want as u64;
                            let last = at == len;
                            if let Err(e) = self.send_all(stream, &buf[..want], last, &mut sent) {
                                break Err(e);
                            }
                            if last {
                                break Ok(());
                            }
                        }
                        Err(e) => {
                            log::error!("file shrank while being sent: {e}");
                            break Err(e);
                        }
                    }
                }
            }
            Body::Writer(write) => {
                let ctx = self.ctx;
                let stopping = || crate::serve::output::stopping(ctx);
                let mut counted = 0u64;
                let written = {
                    let mut emit = |bytes: &[u8]| self.send_all(stream, bytes, false, &mut counted);
                    run_writer(write, &mut emit, &stopping, false)
                };
                sent = counted;
                match written {
                    Ok(_) => self.send_all(stream, &[], true, &mut sent),
                    Err(_) => Err(io::ErrorKind::Other.into()),
                }
            }
        };
        if ok.is_err() {
            // The handler's body failed mid-way: the client must not take
            // a cut body for a whole one.
            self.session.reset(stream, ErrorCode::InternalError);
        }
        // The rest is written with the next batch (`H2Conn::run`).
        sent
    }

    /// Queue `data` on `stream` (ending the body when `end`), writing
    /// and reading as the windows need; counts the bytes taken in `sent`.
    /// An error when the stream or the connection is gone, or the client
    /// opened no window within `Timeout`.
    fn send_all(&mut self, stream: u32, data: &[u8], end: bool, sent: &mut u64) -> io::Result<()> {
        let gone = || io::Error::new(io::ErrorKind::BrokenPipe, "the HTTP/2 stream is gone");
        let mut rest = data;
        loop {
            let n = self
                .session
                .send_data(stream, rest, end)
                .map_err(|_| gone())?;
            *sent += n as u64;
            rest = &rest[n..];
            if rest.is_empty() {
                return Ok(());
            }
            // The stream's buffer is full: write, and while its window is
            // shut, read the client's WINDOW_UPDATEs.
            self.flush()?;
            while self.session.send_capacity(stream) == 0 {
                if self.inbound.get(&stream).is_some_and(|i| i.gone) {
                    return Err(gone());
                }
                match self.wait_for_client(self.ctx.protocol.timeouts.timeout, false) {
                    Wait::Read(_) => self.flush()?,
                    Wait::Stopping => self.begin_stop(),
                    Wait::TimedOut => {
                        self.session.abort(
                            ErrorCode::FlowControlError,
                            "the client opened no window within Timeout",
                        );
                        let _ = self.flush();
                        return Err(io::ErrorKind::TimedOut.into());
                    }
                    Wait::Closed => return Err(gone()),
                }
            }
        }
    }

    /// The exchange is over: log it (see [`Logged::end`]) and count it.
    fn log(&mut self, entry: Logged<'_>) {
        let body_bytes = entry.body_bytes;
        entry.end(self.ctx, self.io.info(), std::mem::take(&mut self.received));
        self.stats.requests += 1;
        self.stats.body_bytes += body_bytes;
    }
}

/// The response a stream's handler gave, or the error page its request
/// body's failure calls for; `None` when the stream is gone (nothing to
/// answer). A handler's panic is logged and answered 500.
pub(super) fn outcome_response(
    outcome: std::thread::Result<Response>,
    failure: Option<BodyFailure>,
    request_line: &str,
    info: &ConnInfo,
) -> Option<Response> {
    Some(match (outcome, failure) {
        (_, Some(BodyFailure::Gone)) => return None,
        (_, Some(BodyFailure::TooLarge)) => status_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is larger than the server accepts",
        ),
        (_, Some(BodyFailure::TimedOut)) => status_page(
            StatusCode::REQUEST_TIMEOUT,
            "the server timed out waiting for the request body",
        ),
        (Ok(resp), None) => resp,
        (Err(panic), None) => {
            log::error!(
                "handler panicked on \"{}\" from {}: {}; answered 500",
                request_line,
                info.peer,
                crate::error::panic_message(&*panic)
            );
            status_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the server encountered an internal error",
            )
        }
    })
}

/// A response made ready for HTTP/2: a tunnel becomes 501 (HTTP/2 has no
/// 101), a known length becomes `content-length`, `date` and `server`
/// are added. The status, head fields, body, and whether the head ends
/// the stream (HEAD, 1xx/204/304, an empty body).
pub(super) fn prepare_response(
    resp: Response,
    is_head: bool,
    ctx: &ServeContext<'_>,
) -> (StatusCode, HeaderMap, Body, bool) {
    let (parts, body) = resp.into_parts();
    let (mut status, mut headers) = (parts.status, parts.headers);
    let (mut body, encoded) = body.take_fields();
    if let Some(encoded) = encoded {
        // A kept answer's fields, made once for HTTP/1.x lines: the same
        // fields, after the map's, as HTTP/1.x writes them.
        for (name, value) in encoded.fields() {
            headers.append(name.clone(), value.clone());
        }
    }
    if let Body::Tunnel(_) = body {
        // HTTP/2 has no 101: the handler's tunnel is dropped (closed).
        (status, headers, body) = {
            let page = status_page(
                StatusCode::NOT_IMPLEMENTED,
                "this request cannot switch protocols over HTTP/2",
            );
            let (p, b) = page.into_parts();
            (p.status, p.headers, b)
        };
    }
    let no_body = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let len = body.len();
    if let (Some(n), false) = (len, no_body) {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
    }
    if !headers.contains_key(DATE) {
        if let Ok(v) = HeaderValue::from_bytes(&engine::date::now()) {
            headers.insert(DATE, v);
        }
    }
    let server = &ctx.protocol.server_header;
    if !server.is_empty() && !headers.contains_key(SERVER) {
        if let Ok(v) = HeaderValue::from_str(server) {
            headers.insert(SERVER, v);
        }
    }
    let end = is_head || no_body || len == Some(0);
    (status, headers, body, end)
}

/// Show a stream's request on this thread's scoreboard slot (`R`, the
/// request line with `HTTP/2.0` in it, the client, the host).
pub(super) fn begin_request(ctx: &ServeContext<'_>, info: &ConnInfo, line: &str, host: &str) {
    if let Some(slot) = ctx.worker_slot {
        let mut ip = [0; IP_TEXT_LEN];
        slot.begin_request(info.peer_ip_text(&mut ip), host, line);
    }
}

/// The `Host` a request names (`:authority`), for the scoreboard.
pub(super) fn host_of(head: &RequestHead) -> String {
    crate::serve::exchange::host_of(&head.headers).to_string()
}

#[cfg(test)]
mod tests {
    use http::header::{CONTENT_TYPE, ETAG};

    use super::*;
    use crate::config::ProtocolConfig;
    use crate::handler::{Request, Response};
    use crate::net::connection::ConnInfo;

    fn nothing(_: Request<'_>, _: &ConnInfo) -> Response {
        Response::new(Body::Empty)
    }

    #[test]
    fn fields_encoded_once_for_http1_are_sent_over_http2_too() {
        let protocol = ProtocolConfig::default();
        let ctx = ServeContext::bare(&nothing, &protocol);
        let mut fields = HeaderMap::new();
        fields.insert(ETAG, HeaderValue::from_static("\"5-abc\""));
        fields.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let mut resp = Response::new(Body::Kept {
            bytes: bytes::Bytes::from_static(b"hello"),
            fields: engine::EncodedFields::new(&fields),
        });
        resp.headers_mut()
            .insert("x-own", HeaderValue::from_static("kept"));
        let (status, headers, body, end) = prepare_response(resp, false, &ctx);
        assert!(
            matches!(&body, Body::Bytes(b) if b.as_ref() == b"hello"),
            "the kept answer's body became {body:?}"
        );
        assert_eq!(status, StatusCode::OK);
        assert!(!end, "a five-byte body's head ended the stream");
        for (name, want) in [
            ("etag", "\"5-abc\""),
            ("content-type", "text/plain"),
            ("x-own", "kept"),
            ("content-length", "5"),
        ] {
            assert_eq!(
                headers.get(name).map(|v| v.as_bytes()),
                Some(want.as_bytes()),
                "HTTP/2 head's {name} (the head: {headers:?})"
            );
        }
    }
}
