//! The blocking driver of the HTTP engine: one thread serves one
//! connection, request after request, until it closes.
//!
//! Shared by every strategy that gives a thread (or a process) to a
//! connection: `single` (`mpmd -X`), prefork and worker. It owns no policy
//! of its own beyond I/O: what a request means and when the connection may
//! stay open is the engine's ([`crate::h1`]); what to answer is the
//! handler's. Every wait is bounded: `KeepAliveTimeout` between requests,
//! `RequestReadTimeout` (stretched by data, capped) for a head and a body,
//! `Timeout` for each write.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, HeaderValue, StatusCode, Version};
use nix::poll::{PollFd, PollFlags};

use crate::config::ProtocolConfig;
use crate::connection::{ConnInfo, Connection};
use crate::control::poll_timeout;
use crate::h1::{
    self as engine, BodyDecoder, BodyError, BodyStep, HeadError, HeadEvent, RequestHead,
    ResponseLength, Session,
};
use crate::handler::{Body, Exchange, Handler, RequestBody, Response};
use crate::reqtimeout::ReadDeadline;
use crate::scoreboard::{WorkerSlot, WorkerState};

mod event;
pub use event::{serve_dispatched, Dispatch, Handback, PendingWrite, ServeBuffers, Work};

/// Most bytes drained from an unread request body so that the connection
/// can stay open; a larger remainder closes the connection instead.
const DRAIN_LIMIT: u64 = 256 * 1024;
/// Longest lingering close: reading what the client still sends after our
/// last response, so that a reset does not destroy that response. Every
/// driver uses this bound.
pub const LINGER: Duration = Duration::from_secs(2);
/// Most bytes one read asks for (the session's buffer grows to it, by
/// doubling, only as bytes come).
const READ_CHUNK: usize = 8192;
/// Chunk size for copying streamed and file bodies.
const COPY_CHUNK: usize = 64 * 1024;

/// What a driver needs besides the connection.
pub struct ServeContext<'a> {
    /// The application.
    pub handler: &'a dyn Handler,
    /// Limits and timeouts.
    pub protocol: &'a ProtocolConfig,
    /// This thread's scoreboard slot, kept current through the connection.
    pub slot: Option<&'a WorkerSlot>,
    /// Readable when connections idle between requests should close
    /// (graceful stop or restart): checked while a keep-alive connection
    /// waits for its next request. A request under way, and the first
    /// request of a connection already accepted, still complete.
    pub idle_close: Option<BorrowedFd<'a>>,
    /// Readable when every connection should close at its next wait,
    /// without a response (stop, restart).
    pub abort: Option<BorrowedFd<'a>>,
    /// A cheap check (no system call) of the same condition as
    /// `idle_close`, asked once per response to decide whether to announce
    /// `Connection: close`; without it the `idle_close` descriptor is
    /// polled.
    pub leaving: Option<&'a (dyn Fn() -> bool + Sync)>,
    /// The socket is non-blocking and belongs to an event loop (the event
    /// strategy): a response that cannot be written at once is handed back
    /// as a [`PendingWrite`] for the loop to finish, and the connection
    /// goes back to the loop between requests. See [`serve_dispatched`].
    pub handoff: bool,
    /// In handoff mode, asked of each further request already buffered:
    /// whether it may be answered here. One that may not is left in the
    /// buffer, and the connection goes back with it. `None`: all may (a
    /// worker thread); the event loop answering quick requests itself
    /// passes [`answers_at_once`].
    pub only: Option<&'a (dyn Fn(&RequestHead) -> bool + Sync)>,
}

/// Whether a request may be answered without a worker thread: it has no
/// body to wait for and the handler says its answer is quick
/// ([`Handler::answers_at_once`]).
pub fn answers_at_once(handler: &dyn Handler, head: &RequestHead) -> bool {
    !head.framing.has_body()
        && !head.expect_continue
        && handler.answers_at_once(&head.method, &head.uri)
}

/// What one connection did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Requests answered (including refusals by the engine).
    pub requests: u32,
    /// Body bytes sent.
    pub body_bytes: u64,
}

/// Serve `conn` until it closes. Never panics on the peer's bytes; a
/// handler that panics gets its client a 500 and the connection closed.
pub fn serve_connection(mut conn: Connection, ctx: &ServeContext<'_>) -> ConnStats {
    let t = &ctx.protocol.timeouts;
    // Accepted sockets are blocking (accept4 without SOCK_NONBLOCK).
    let sock = socket2::SockRef::from(conn.tcp());
    let _ = sock.set_nodelay(true);
    let _ = sock.set_write_timeout(Some(t.timeout.max(Duration::from_millis(1))));
    if conn.is_tls() {
        // A TLS record may arrive in pieces after the poll said readable:
        // each read that waits for the rest is bounded by Timeout too.
        let _ = sock.set_read_timeout(Some(t.timeout.max(Duration::from_millis(1))));
        if let Some(slot) = ctx.slot {
            slot.set_state(WorkerState::Read);
        }
        let server = &ctx.protocol.server_header;
        if let Err(e) = crate::tls::handshake_blocking(&mut conn, t.timeout, ctx.abort, server) {
            log::debug!("TLS handshake with {} failed: {e}", conn.info().peer);
            return ConnStats::default();
        }
    }
    let mut c = Conn {
        io: conn,
        session: Session::new(&ctx.protocol.limits),
        ctx,
        stats: ConnStats::default(),
        wbuf: Vec::with_capacity(1024),
        pending: None,
    };
    if let Some(slot) = ctx.slot {
        slot.add_connection();
    }
    c.run();
    c.stats
}

enum Ready {
    Readable,
    TimedOut,
    /// Between requests, and told to close idle connections.
    IdleClose,
    /// Told to close at once.
    Abort,
}

struct Conn<'a, 'b> {
    io: Connection,
    /// The bytes read and what they mean: heads, bodies, pipelining.
    session: Session,
    ctx: &'a ServeContext<'b>,
    stats: ConnStats,
    wbuf: Vec<u8>,
    /// What a handoff-mode send could not write at once.
    pending: Option<PendingWrite>,
}

/// How a connection goes on after an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Wait for the next request.
    KeepAlive,
    /// Close at once.
    Close,
    /// Close, reading what the client still sends first.
    Linger,
}

impl Conn<'_, '_> {
    fn set_state(&self, s: WorkerState) {
        if let Some(slot) = self.ctx.slot {
            slot.set_state(s);
        }
    }

    /// Wait until the socket is readable, `timeout` passes, the abort
    /// signal fires, or (when `idle` is true) the idle-close signal fires.
    fn wait(&self, timeout: Duration, idle: bool) -> Ready {
        // TLS may hold decrypted bytes the socket no longer shows.
        if self.io.has_buffered_plaintext() {
            return Ready::Readable;
        }
        let sock = self.io.as_fd();
        let none = PollFlags::empty();
        let mut fds = [
            PollFd::new(sock, PollFlags::POLLIN),
            PollFd::new(sock, none),
            PollFd::new(sock, none),
        ];
        if let Some(fd) = self.ctx.abort {
            fds[1] = PollFd::new(fd, PollFlags::POLLIN);
        }
        if let (true, Some(fd)) = (idle, self.ctx.idle_close) {
            fds[2] = PollFd::new(fd, PollFlags::POLLIN);
        }
        let fired = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
        let deadline = crate::deadline::after(Instant::now(), timeout);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match nix::poll::poll(&mut fds, poll_timeout(Some(left))) {
                Ok(0) => return Ready::TimedOut,
                Ok(_) => {
                    if self.ctx.abort.is_some() && fired(&fds[1]) {
                        return Ready::Abort;
                    }
                    if idle && self.ctx.idle_close.is_some() && fired(&fds[2]) {
                        return Ready::IdleClose;
                    }
                    return Ready::Readable;
                }
                Err(nix::errno::Errno::EINTR) => continue,
                // A poll failure on a valid fd does not happen; treat it as
                // readable so the read reports the real error.
                Err(_) => return Ready::Readable,
            }
        }
    }

    /// Read more bytes into the session. `Ok(0)` is end of stream;
    /// `Err(InvalidData)` means the buffer is full at the head limit.
    fn fill(&mut self) -> io::Result<usize> {
        let room = self
            .session
            .space(READ_CHUNK)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "buffer full"))?;
        loop {
            match self.io.read(room) {
                Ok(n) => {
                    self.session.filled(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// As [`Conn::fill`], but `Err(WouldBlock)` instead of waiting.
    fn fill_nonblocking(&mut self) -> io::Result<usize> {
        let room = self
            .session
            .space(READ_CHUNK)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "buffer full"))?;
        loop {
            match self.io.read_nonblocking(room) {
                Ok(n) => {
                    self.session.filled(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn run(&mut self) {
        let mut served: u32 = 0;
        loop {
            match self.exchange(served) {
                Some(After::KeepAlive) => {
                    served += 1;
                    self.session.shrink(false);
                }
                Some(After::Close) | None => break,
                Some(After::Linger) => {
                    self.linger();
                    break;
                }
            }
        }
        self.set_state(WorkerState::Closing);
    }

    /// Read one request and answer it. `None` when the connection ended
    /// before a request began (idle timeout, close, graceful stop).
    fn exchange(&mut self, served: u32) -> Option<After> {
        let t = &self.ctx.protocol.timeouts;
        // Whether a read would find data without waiting: after a
        // keep-alive wait said so, or (likely) on a fresh connection whose
        // client sent its request with the handshake. Saves a poll per
        // request.
        let mut readable = false;
        let mut try_first = served == 0;
        // Between requests: wait for the first byte of the next one.
        if self.session.is_empty() {
            let (wait, state) = if served == 0 {
                (None, WorkerState::Read)
            } else {
                (Some(t.keep_alive_timeout), WorkerState::KeepAlive)
            };
            self.set_state(state);
            if let Some(wait) = wait {
                match self.wait(wait, true) {
                    Ready::Readable => readable = true,
                    Ready::TimedOut | Ready::IdleClose | Ready::Abort => return None,
                }
            }
        }
        self.set_state(WorkerState::Read);
        let started = SystemTime::now();
        let clock = Instant::now();
        let mut deadline = ReadDeadline::new(t.request_read.header, clock);
        // The session's scan goes on from where the last read left it: a
        // head read in any number of pieces costs O(its bytes).
        let head = loop {
            match self.session.poll_head(&self.ctx.protocol.limits) {
                HeadEvent::Ready(head) => break head,
                HeadEvent::NeedMore => {}
                HeadEvent::Refuse(e) => return Some(self.refuse(e, started, clock)),
            }
            let got = if std::mem::take(&mut try_first) {
                match self.fill_nonblocking() {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    other => other,
                }
            } else {
                if !std::mem::take(&mut readable) {
                    let now = Instant::now();
                    if deadline.expired(now) {
                        return Some(self.timeout_408(started, clock));
                    }
                    match self.wait(deadline.wait_from(now, t.timeout), false) {
                        Ready::Readable => {}
                        Ready::IdleClose | Ready::Abort => return None,
                        Ready::TimedOut => {
                            if deadline.expired(Instant::now()) || deadline.deadline().is_none() {
                                return Some(self.timeout_408(started, clock));
                            }
                            continue;
                        }
                    }
                }
                self.fill()
            };
            match got {
                Ok(0) => return None,
                Ok(n) => deadline.on_data(n),
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    return Some(self.refuse(engine::head_too_large_error(), started, clock));
                }
                Err(_) => return None,
            }
        };
        Some(self.answer(head, served + 1, started, clock))
    }

    /// Answer a request head the engine refused; the connection closes.
    fn refuse(&mut self, e: HeadError, started: SystemTime, clock: Instant) -> After {
        let line = e.request_line.clone().unwrap_or_default();
        if let Some(slot) = self.ctx.slot {
            slot.begin_request(&self.io.info().peer.ip().to_string(), "", &line);
        }
        let (mut headers, body) = engine::error_page(e.status, e.reason);
        if let Some(allow) = e.allow {
            headers.insert(http::header::ALLOW, HeaderValue::from_static(allow));
        }
        let mut resp = Response::new(Body::Bytes(body));
        *resp.status_mut() = e.status;
        *resp.headers_mut() = headers;
        let sent = self.send(resp, Version::HTTP_11, false, false);
        let empty = HeaderMap::new();
        self.log(
            &line,
            None,
            &empty,
            e.status,
            sent.unwrap_or(0),
            started,
            clock,
        );
        After::Linger
    }

    fn timeout_408(&mut self, started: SystemTime, clock: Instant) -> After {
        self.refuse(engine::timeout_error(), started, clock)
    }

    #[allow(clippy::too_many_arguments)]
    fn log(
        &self,
        line: &str,
        head: Option<&RequestHead>,
        headers: &HeaderMap,
        status: StatusCode,
        body_bytes: u64,
        started: SystemTime,
        clock: Instant,
    ) {
        let duration = clock.elapsed();
        self.stats_slot_end(body_bytes, duration);
        let ex = Exchange {
            conn: self.io.info(),
            request_line: line,
            method: head.map(|h| &h.method),
            uri: head.map(|h| &h.uri),
            headers,
            status,
            body_bytes,
            started,
            duration,
        };
        let handler = self.ctx.handler;
        if catch_unwind(AssertUnwindSafe(|| handler.log(&ex))).is_err() {
            log::error!("the handler's log hook panicked");
        }
    }

    fn stats_slot_end(&self, body_bytes: u64, duration: Duration) {
        if let Some(slot) = self.ctx.slot {
            slot.end_request(body_bytes, duration);
        }
    }

    /// Run the handler on a parsed head and send its response.
    fn answer(
        &mut self,
        head: RequestHead,
        served: u32,
        started: SystemTime,
        clock: Instant,
    ) -> After {
        let info: ConnInfo = self.io.info().clone();
        if let Some(slot) = self.ctx.slot {
            let host = head
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            slot.begin_request(&info.peer.ip().to_string(), host, &head.request_line);
        }
        let limits = &self.ctx.protocol.limits;
        let t = &self.ctx.protocol.timeouts;
        let mut body = BodyState {
            decoder: BodyDecoder::with_limits(head.framing, limits),
            deadline: ReadDeadline::new(t.request_read.body, Instant::now()),
            pending_continue: head.expect_continue && head.framing.has_body(),
            failure: None,
        };
        let is_head = head.method == http::Method::HEAD;
        let version = head.version;
        let request_headers = head.headers.clone();
        let mut builder = http::Request::builder()
            .method(head.method.clone())
            .uri(head.uri.clone())
            .version(version);
        if let Some(h) = builder.headers_mut() {
            *h = request_headers;
        }
        let handler = self.ctx.handler;
        let outcome = {
            let mut reader = BodyReader {
                conn: self,
                body: &mut body,
            };
            let req = builder.body(RequestBody::new(&mut reader));
            match req {
                Ok(req) => catch_unwind(AssertUnwindSafe(|| handler.handle(req, &info))),
                Err(_) => Ok(status_page(
                    StatusCode::BAD_REQUEST,
                    "the request could not be represented",
                )),
            }
        };
        // The body the handler left unread: drain a little so the
        // connection can go on, else close. Broken framing found here is
        // refused below as if the handler had read it (a 400 for a
        // smuggled trailer, whoever the handler is).
        let mut unread = None;
        if outcome.is_ok() && body.failure.is_none() && !body.decoder.is_complete() {
            if body.pending_continue {
                // The client waits for our go-ahead we never gave: it may
                // or may not send the body, so the connection cannot be
                // reused.
                unread = Some(After::Close);
            } else {
                let mut reader = BodyReader {
                    conn: self,
                    body: &mut body,
                };
                let drained = io::copy(&mut (&mut reader).take(DRAIN_LIMIT), &mut io::sink());
                if drained.is_err() || !body.decoder.is_complete() {
                    unread = Some(After::Linger);
                }
            }
        }
        self.set_state(WorkerState::Write);
        let (resp, mut after) = match (outcome, body.failure) {
            (_, Some(BodyFailure::TooLarge)) => (
                status_page(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the request body is larger than the server accepts",
                ),
                After::Linger,
            ),
            (_, Some(BodyFailure::Malformed(why))) => {
                (status_page(StatusCode::BAD_REQUEST, why), After::Linger)
            }
            // The handler answered without the body, whose rest was slow or
            // cut while draining it: its answer stands, then the close.
            (Ok(resp), Some(BodyFailure::TimedOut | BodyFailure::Gone)) if unread.is_some() => {
                (resp, After::Linger)
            }
            (_, Some(BodyFailure::TimedOut)) => (
                status_page(
                    StatusCode::REQUEST_TIMEOUT,
                    "the server timed out waiting for the request body",
                ),
                After::Linger,
            ),
            (_, Some(BodyFailure::Gone)) => {
                let empty = HeaderMap::new();
                self.log(
                    &head.request_line,
                    Some(&head),
                    &empty,
                    StatusCode::BAD_REQUEST,
                    0,
                    started,
                    clock,
                );
                return After::Close;
            }
            (Ok(resp), None) => (resp, unread.unwrap_or(After::KeepAlive)),
            (Err(panic), None) => {
                let what = crate::error::panic_message(&*panic);
                log::error!(
                    "handler panicked on \"{}\" from {}: {what}; answered 500 and closed the connection",
                    head.request_line,
                    info.peer
                );
                (
                    status_page(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the server encountered an internal error",
                    ),
                    After::Close,
                )
            }
        };
        let status = resp.status();
        let body_len = resp.body().len();
        let length = engine::plan_length(version, &head.method, status, body_len);
        let engine_keep = engine::keep_alive_after(&head, served, t, status, length);
        let idle_close = match self.ctx.leaving {
            Some(leaving) => leaving(),
            None => self.ctx.idle_close.is_some_and(crate::accept::readable),
        };
        let keep = after == After::KeepAlive && engine_keep && !idle_close;
        if after == After::KeepAlive && !keep {
            after = if !self.session.is_empty() {
                After::Linger
            } else {
                After::Close
            };
        }
        let sent = self.send(resp, version, is_head, keep);
        let (bytes, ok) = match sent {
            Ok(n) => (n, true),
            Err(n) => (n, false),
        };
        self.set_state(WorkerState::Logging);
        self.log(
            &head.request_line,
            Some(&head),
            &head.headers,
            status,
            bytes,
            started,
            clock,
        );
        self.stats.requests += 1;
        if !ok {
            return After::Close;
        }
        after
    }

    /// Send a response; `Ok(body bytes)` or `Err(body bytes sent before
    /// the failure)`.
    fn send(
        &mut self,
        resp: Response,
        version: Version,
        is_head: bool,
        keep: bool,
    ) -> Result<u64, u64> {
        let (parts, body) = resp.into_parts();
        let method = if is_head {
            http::Method::HEAD
        } else {
            http::Method::GET
        };
        let length = engine::plan_length(version, &method, parts.status, body.len());
        let keep = keep && length != ResponseLength::CloseDelimited;
        let mut wbuf = std::mem::take(&mut self.wbuf);
        wbuf.clear();
        engine::encode_head(
            &mut wbuf,
            parts.status,
            &parts.headers,
            length,
            keep,
            version,
            &self.ctx.protocol.server_header,
        );
        let send_body = !is_head && length != ResponseLength::NoBody;
        // A streamed body is read by the worker, so it is written by the
        // worker too; anything else can be finished by the event loop.
        // (Unless the loop answers the request itself: a handler that lets
        // it promised its reader is quick.)
        let handoff = self.ctx.handoff
            && (!send_body || !matches!(body, Body::Reader { .. }) || self.ctx.only.is_some());
        let result = if handoff {
            let body = if send_body { body } else { Body::Empty };
            self.send_handoff(&mut wbuf, body, length == ResponseLength::Chunked)
        } else if !send_body {
            self.io.write_all(&wbuf).map(|_| 0).map_err(|_| 0)
        } else {
            self.send_body(&mut wbuf, body, length)
        };
        self.wbuf = wbuf;
        let (Ok(n) | Err(n)) = result;
        self.stats.body_bytes += n;
        result
    }

    fn send_body(
        &mut self,
        wbuf: &mut Vec<u8>,
        body: Body,
        length: ResponseLength,
    ) -> Result<u64, u64> {
        let chunked = length == ResponseLength::Chunked;
        match body {
            Body::Empty => self.io.write_all(wbuf).map(|_| 0).map_err(|_| 0),
            Body::Bytes(b) => {
                if chunked && !b.is_empty() {
                    engine::encode::chunk_header(b.len(), wbuf);
                }
                let small = wbuf.len() + b.len() <= COPY_CHUNK;
                let r = if small {
                    wbuf.extend_from_slice(&b);
                    self.io.write_all(wbuf)
                } else {
                    self.io.write_all(wbuf).and_then(|_| self.io.write_all(&b))
                };
                let r = r.and_then(|_| {
                    if chunked {
                        if b.is_empty() {
                            self.io.write_all(engine::encode::LAST_CHUNK)
                        } else {
                            self.io.write_all(engine::encode::CHUNK_END)?;
                            self.io.write_all(engine::encode::LAST_CHUNK)
                        }
                    } else {
                        Ok(())
                    }
                });
                r.map(|_| b.len() as u64).map_err(|_| 0)
            }
            Body::Reader { mut reader, len } => {
                self.put(wbuf).map_err(|_| 0u64)?;
                let mut sent = 0u64;
                let mut chunk = vec![0u8; COPY_CHUNK];
                let limit = len.unwrap_or(u64::MAX);
                while sent < limit {
                    let want = (limit - sent).min(COPY_CHUNK as u64) as usize;
                    let n = match reader.read(&mut chunk[..want]) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            log::error!("response body stream failed after {sent} bytes: {e}");
                            return Err(sent);
                        }
                    };
                    let r = if chunked {
                        wbuf.clear();
                        engine::encode::chunk_header(n, wbuf);
                        wbuf.extend_from_slice(&chunk[..n]);
                        wbuf.extend_from_slice(engine::encode::CHUNK_END);
                        self.put(wbuf)
                    } else {
                        self.put(&chunk[..n])
                    };
                    r.map_err(|_| sent)?;
                    sent += n as u64;
                }
                if let Some(len) = len {
                    if sent < len {
                        log::error!("response body stream ended after {sent} of {len} bytes; closing the connection");
                        return Err(sent);
                    }
                }
                if chunked {
                    self.put(engine::encode::LAST_CHUNK).map_err(|_| sent)?;
                }
                Ok(sent)
            }
            Body::File { file, offset, len } if len <= SMALL_FILE as u64 => {
                // One write of head and body: cheaper than sendfile for a
                // few pages, and one segment on the wire.
                append_file(wbuf, &file, offset, len).map_err(|_| 0u64)?;
                self.io.write_all(wbuf).map_err(|_| 0u64)?;
                Ok(len)
            }
            Body::File { file, offset, len } => {
                let head = match self.io.plain_tcp() {
                    Some(tcp) if len > 0 => send_all_more(tcp, wbuf),
                    _ => self.io.write_all(wbuf),
                };
                head.map_err(|_| 0u64)?;
                let sent = if self.io.plain_tcp().is_some() {
                    self.sendfile(&file, offset, len)
                } else {
                    self.copy_file(&file, offset, len)
                };
                match sent {
                    Ok(()) => Ok(len),
                    Err(n) => Err(n),
                }
            }
        }
    }

    fn sendfile(&mut self, file: &std::fs::File, offset: u64, len: u64) -> Result<(), u64> {
        let Some(tcp) = self.io.plain_tcp() else {
            return self.copy_file(file, offset, len);
        };
        let mut off = offset as libc::off_t;
        let mut left = len;
        while left > 0 {
            let want = left.min(1 << 30) as usize;
            match nix::sys::sendfile::sendfile(tcp.as_fd(), file.as_fd(), Some(&mut off), want) {
                Ok(0) => {
                    log::error!(
                        "file shrank while being sent ({} of {len} bytes sent)",
                        len - left
                    );
                    return Err(len - left);
                }
                Ok(n) => left -= n as u64,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return Err(len - left),
            }
        }
        Ok(())
    }

    fn copy_file(&mut self, file: &std::fs::File, offset: u64, len: u64) -> Result<(), u64> {
        let mut chunk = vec![0u8; COPY_CHUNK];
        let mut done = 0u64;
        while done < len {
            let want = (len - done).min(COPY_CHUNK as u64) as usize;
            let n = match file.read_at(&mut chunk[..want], offset + done) {
                Ok(0) => return Err(done),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Err(done),
            };
            self.put(&chunk[..n]).map_err(|_| done)?;
            done += n as u64;
        }
        Ok(())
    }

    /// Lingering close: stop sending, then read and discard what the
    /// client still sends for a short bounded time, so the kernel does not
    /// answer it with a reset that would destroy our last response.
    fn linger(&mut self) {
        self.set_state(WorkerState::Closing);
        if self.io.shutdown_write().is_err() {
            return;
        }
        let until = Instant::now() + LINGER;
        let mut sink = [0u8; 4096];
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.wait(left, false) {
                Ready::Readable => match self.io.read(&mut sink) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                },
                Ready::TimedOut | Ready::IdleClose | Ready::Abort => return,
            }
        }
    }
}

impl Conn<'_, '_> {
    /// Write all of `buf`. In handoff mode the socket is non-blocking: wait
    /// for room, at most `Timeout` each time.
    fn put(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.ctx.handoff {
            event::write_all_polling(&mut self.io, buf, self.ctx.protocol.timeouts.timeout)
        } else {
            self.io.write_all(buf)
        }
    }
}

/// A file body up to this size is read into the response buffer and sent
/// with the head in one write (one `pread` and one `writev` instead of a
/// `sendfile` after the head). Measured pinned on loopback: for a 13-byte
/// file that took `/hello` from about 31k to 39k requests per second; for
/// a 4 KiB file `sendfile` was ahead (25.5k against 23.2k, three rounds),
/// hence the bound.
const SMALL_FILE: usize = 2048;

/// Append `len` bytes of `file` from `offset` to `buf`; an error (and `buf`
/// as it was) when the file is shorter now.
fn append_file(buf: &mut Vec<u8>, file: &std::fs::File, offset: u64, len: u64) -> io::Result<()> {
    let start = buf.len();
    buf.resize(start + len as usize, 0);
    match file.read_exact_at(&mut buf[start..], offset) {
        Ok(()) => Ok(()),
        Err(e) => {
            buf.truncate(start);
            log::error!("file shrank while being sent: {e}");
            Err(e)
        }
    }
}

/// Send `buf` with `MSG_MORE`, the part of a response that a `sendfile`
/// body follows: the kernel holds it back to leave with the body's first
/// bytes, so a small file goes out as one segment, not two (nginx's
/// `tcp_nopush`; `TCP_NODELAY` would otherwise send the head alone). The
/// `sendfile` that follows ends the hold. `Ok(n)` with `n < buf.len()`
/// only on a non-blocking socket that is full.
pub(crate) fn send_more(tcp: &std::net::TcpStream, buf: &[u8]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut done = 0;
    while done < buf.len() {
        match nix::sys::socket::send(
            tcp.as_raw_fd(),
            &buf[done..],
            nix::sys::socket::MsgFlags::from_bits_retain(libc::MSG_MORE),
        ) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(nix::errno::Errno::EAGAIN) if done > 0 => return Ok(done),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done)
}

/// [`send_more`] on a blocking socket: all of it, or an error.
fn send_all_more(tcp: &std::net::TcpStream, buf: &[u8]) -> io::Result<()> {
    match send_more(tcp, buf)? {
        n if n == buf.len() => Ok(()),
        _ => Err(io::ErrorKind::WouldBlock.into()),
    }
}

/// An error page response.
pub fn status_page(status: StatusCode, detail: &str) -> Response {
    let (headers, body) = engine::error_page(status, detail);
    let mut resp = Response::new(Body::Bytes(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

#[derive(Debug, Clone, Copy)]
enum BodyFailure {
    TooLarge,
    Malformed(&'static str),
    TimedOut,
    Gone,
}

struct BodyState {
    decoder: BodyDecoder,
    deadline: ReadDeadline,
    pending_continue: bool,
    failure: Option<BodyFailure>,
}

/// The request body as the handler reads it.
struct BodyReader<'c, 'a, 'b> {
    conn: &'c mut Conn<'a, 'b>,
    body: &'c mut BodyState,
}

impl Read for BodyReader<'_, '_, '_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(f) = self.body.failure {
            return Err(failure_error(f));
        }
        if out.is_empty() || self.body.decoder.is_complete() {
            return Ok(0);
        }
        if self.body.pending_continue {
            self.body.pending_continue = false;
            if self.conn.session.is_empty() {
                self.conn
                    .put(engine::encode::CONTINUE_100)
                    .map_err(|e| self.fail(BodyFailure::Gone, e))?;
            }
        }
        let timeout = self.conn.ctx.protocol.timeouts.timeout;
        loop {
            match self.conn.session.read_body(&mut self.body.decoder, out) {
                Ok(BodyStep::Data(n)) => return Ok(n),
                Ok(BodyStep::End) => return Ok(0),
                Ok(BodyStep::NeedMore) => {}
                Err(e) => {
                    let f = match e {
                        BodyError::TooLarge => BodyFailure::TooLarge,
                        BodyError::Malformed(why) => BodyFailure::Malformed(why),
                    };
                    self.body.failure = Some(f);
                    return Err(failure_error(f));
                }
            }
            let now = Instant::now();
            if self.body.deadline.expired(now) {
                return Err(self.fail(BodyFailure::TimedOut, io::ErrorKind::TimedOut.into()));
            }
            match self
                .conn
                .wait(self.body.deadline.wait_from(now, timeout), false)
            {
                Ready::Readable => {}
                Ready::Abort => {
                    return Err(
                        self.fail(BodyFailure::Gone, io::ErrorKind::ConnectionAborted.into())
                    );
                }
                Ready::TimedOut | Ready::IdleClose => {
                    return Err(self.fail(BodyFailure::TimedOut, io::ErrorKind::TimedOut.into()));
                }
            }
            match self.conn.fill() {
                // A readiness that was not (or a TLS record not yet whole).
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Ok(0) => {
                    return Err(self.fail(BodyFailure::Gone, io::ErrorKind::UnexpectedEof.into()));
                }
                Ok(n) => self.body.deadline.on_data(n),
                Err(e) => return Err(self.fail(BodyFailure::Gone, e)),
            }
        }
    }
}

impl BodyReader<'_, '_, '_> {
    fn fail(&mut self, f: BodyFailure, e: io::Error) -> io::Error {
        self.body.failure = Some(f);
        e
    }
}

fn failure_error(f: BodyFailure) -> io::Error {
    match f {
        BodyFailure::TooLarge => io::Error::new(
            io::ErrorKind::InvalidData,
            "request body larger than LimitRequestBody",
        ),
        BodyFailure::Malformed(why) => io::Error::new(io::ErrorKind::InvalidData, why),
        BodyFailure::TimedOut => io::ErrorKind::TimedOut.into(),
        BodyFailure::Gone => io::ErrorKind::UnexpectedEof.into(),
    }
}
