//! One stream served on a pool thread: the handler called with a request
//! body read from the stream's [`Link`], its response sent back through
//! it, the scoreboard and the access log, as for an HTTP/1.1 request.

use std::io::{self, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, StatusCode, Version};

use super::link::{Gone, Link, Out, Tail};
use crate::deadline::read::ReadDeadline;
use crate::h1::{HeadError, RequestHead};
use crate::handler::{Body, Handler, RequestBody, Response};
use crate::net::connection::ConnInfo;
use crate::process::scoreboard::WorkerState;
use crate::serve::context::{answer_never_blocks, status_page, ServeContext};
use crate::serve::exchange::{request_builder, Logged};
use crate::serve::h2::exchange::{
    begin_request, host_of, outcome_response, prepare_response, BodyFailure, PIECE,
};
use crate::serve::stream::run_writer;

/// What a stream asks of its thread.
pub(super) enum Asked {
    /// A request for the handler.
    Request(Box<RequestHead>),
    /// A request the session's limits refused: answer its error page.
    Refused(HeadError),
}

/// A stream's request, ready for a pool thread: [`StreamJob::run`] it
/// there. Its owner hands it out with [`super::H2Owner::take_jobs`].
pub struct StreamJob {
    pub(super) stream: u32,
    pub(super) asked: Asked,
    pub(super) link: Arc<Link>,
    pub(super) info: Arc<ConnInfo>,
    pub(super) started: SystemTime,
    pub(super) clock: Instant,
}

impl std::fmt::Debug for StreamJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamJob")
            .field("stream", &self.stream)
            .field("peer", &self.info.peer)
            .finish_non_exhaustive()
    }
}

/// A stream's request body as its handler reads it.
struct LinkBody<'l> {
    link: &'l Link,
    deadline: ReadDeadline,
    timeout: std::time::Duration,
    limit: u64,
    /// `100 Continue` is owed before the first read.
    pending_continue: bool,
    read: u64,
    failure: Option<BodyFailure>,
}

impl LinkBody<'_> {
    fn fail(&mut self, f: BodyFailure) -> io::Error {
        self.failure = Some(f);
        f.error()
    }
}

impl Read for LinkBody<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(f) = self.failure {
            return Err(self.fail(f));
        }
        if out.is_empty() {
            return Ok(0);
        }
        if std::mem::take(&mut self.pending_continue) {
            let until = Instant::now() + self.timeout;
            if self
                .link
                .send(Out::Interim(StatusCode::CONTINUE), until)
                .is_err()
            {
                return Err(self.fail(BodyFailure::Gone));
            }
        }
        loop {
            let now = Instant::now();
            if self.deadline.expired(now) {
                return Err(self.fail(BodyFailure::TimedOut));
            }
            let until = now + self.deadline.wait_from(now, self.timeout);
            match self.link.read(out, until) {
                Ok(n) => {
                    self.deadline.on_data(n);
                    self.read += n as u64;
                    if self.limit > 0 && self.read > self.limit {
                        return Err(self.fail(BodyFailure::TooLarge));
                    }
                    return Ok(n);
                }
                Err(Gone::Reset) => return Err(self.fail(BodyFailure::Gone)),
                // The deadline is looked at again above.
                Err(Gone::TimedOut) => {}
            }
        }
    }
}

impl StreamJob {
    /// The stream's id.
    pub fn stream(&self) -> u32 {
        self.stream
    }

    /// Whether serving the stream never blocks, so that a thread that
    /// must not wait (an event loop) may serve it with
    /// [`StreamJob::run_at_once`]: a refusal's error page, or a request
    /// without a body whose handler promises its answer never blocks
    /// ([`Handler::answer_never_blocks`](crate::Handler::answer_never_blocks)).
    pub fn answers_at_once(&self, handler: &dyn Handler) -> bool {
        match &self.asked {
            Asked::Refused(_) => true,
            Asked::Request(head) => answer_never_blocks(handler, head),
        }
    }

    /// [`StreamJob::run`] on a thread that must never wait (the poller's
    /// own, for a job that [`StreamJob::answers_at_once`]): a streamed
    /// body is gathered whole at once instead of waiting for room, as an
    /// event loop runs an HTTP/1.1 writer it answers itself.
    pub fn run_at_once(self, ctx: &ServeContext<'_>) {
        self.link.state.lock().never_wait = true;
        self.run(ctx);
    }

    /// Serve the stream on this thread: the handler runs with `ctx`
    /// (its handler, limits, this thread's scoreboard slot), and the
    /// thread is free as soon as the response's head and whatever of its
    /// body needs this thread are with the owner (bytes and files the
    /// owner sends by itself). A stream reset meanwhile makes the
    /// handler's reads and writes fail.
    pub fn run(self, ctx: &ServeContext<'_>) {
        let StreamJob {
            stream,
            asked,
            link,
            info,
            started,
            clock,
        } = self;
        if link.state.lock().gone {
            // Reset (or its connection closed) before a thread came.
            link.finish();
            return;
        }
        let on = OnThread {
            stream,
            link,
            info,
            started,
            clock,
        };
        match asked {
            Asked::Refused(e) => on.refuse(&e, ctx),
            Asked::Request(head) => on.answer(*head, ctx),
        }
    }
}

/// A stream being served on this thread. Dropped, even by a panic, it
/// tells the owner the thread is done with the stream (a response cut
/// short is reset there, never left waiting).
struct OnThread {
    stream: u32,
    link: Arc<Link>,
    info: Arc<ConnInfo>,
    started: SystemTime,
    clock: Instant,
}

impl Drop for OnThread {
    fn drop(&mut self) {
        self.link.finish();
    }
}

impl OnThread {
    fn refuse(&self, e: &HeadError, ctx: &ServeContext<'_>) {
        let line = e.request_line.clone().unwrap_or_default();
        begin_request(ctx, &self.info, &line, "");
        set_state(ctx, WorkerState::Write);
        let sent = self.respond(status_page(e.status, e.reason), false, ctx);
        set_state(ctx, WorkerState::Logging);
        self.log(
            ctx,
            Logged {
                line: &line,
                head: None,
                headers: &HeaderMap::new(),
                notes: &http::Extensions::new(),
                status: e.status,
                body_bytes: sent,
                started: self.started,
                clock: self.clock,
            },
        );
    }

    fn answer(&self, mut head: RequestHead, ctx: &ServeContext<'_>) {
        let host = host_of(&head);
        begin_request(ctx, &self.info, &head.request_line, &host);
        let handler = ctx.handler;
        let is_head = head.method == http::Method::HEAD;
        let builder = request_builder(&mut head, handler, Version::HTTP_2);
        let mut body = LinkBody {
            link: &self.link,
            deadline: ReadDeadline::new(ctx.protocol.timeouts.request_read.body, Instant::now()),
            timeout: ctx.protocol.timeouts.timeout,
            limit: ctx.protocol.limits.body,
            pending_continue: head.expect_continue,
            read: 0,
            failure: None,
        };
        let outcome = match builder.body(RequestBody::new(&mut body)) {
            Ok(req) => catch_unwind(AssertUnwindSafe(|| handler.handle(req, &self.info))),
            Err(_) => Ok(status_page(
                StatusCode::BAD_REQUEST,
                "the request could not be represented",
            )),
        };
        set_state(ctx, WorkerState::Write);
        let logged = |status, body_bytes, notes: &http::Extensions| {
            self.log(
                ctx,
                Logged {
                    line: &head.request_line,
                    head: Some(&head),
                    headers: &head.headers,
                    notes,
                    status,
                    body_bytes,
                    started: self.started,
                    clock: self.clock,
                },
            )
        };
        let Some(mut resp) =
            outcome_response(outcome, body.failure, &head.request_line, &self.info)
        else {
            logged(StatusCode::BAD_REQUEST, 0, &http::Extensions::new());
            return;
        };
        // What the handler noted for the log (`%u`).
        let notes = std::mem::take(resp.extensions_mut());
        let status = resp.status();
        let sent = self.respond(resp, is_head, ctx);
        set_state(ctx, WorkerState::Logging);
        logged(status, sent, &notes);
    }

    /// Send `resp` to the owner: its head, then its body: bytes and
    /// files go whole (the owner frames them as the windows open, with
    /// no thread), a reader or a writer is run here, its pieces waiting
    /// for room (`H2StreamMaxMemSize`) up to `Timeout` at a time. The
    /// body bytes planned or sent.
    fn respond(&self, resp: Response, is_head: bool, ctx: &ServeContext<'_>) -> u64 {
        let (status, headers, body, end) = prepare_response(resp, is_head, ctx);
        let timeout = ctx.protocol.timeouts.timeout;
        let link = &*self.link;
        let until = || Instant::now() + timeout;
        if link
            .send(
                Out::Head {
                    status,
                    headers,
                    end,
                },
                until(),
            )
            .is_err()
            || end
        {
            return 0;
        }
        let mut sent = 0u64;
        let ok = match body {
            Body::Empty | Body::Tunnel(_) => link.send(Out::End, until()).is_ok(),
            // A kept answer's fields are in the head already.
            Body::Bytes(b) | Body::Kept { bytes: b, .. } => {
                sent = b.len() as u64;
                link.send(Out::Tail(Tail::Bytes(b)), until()).is_ok()
            }
            Body::File { file, offset, len } => {
                sent = len;
                link.send(Out::Tail(Tail::File { file, offset, len }), until())
                    .is_ok()
            }
            Body::Reader { mut reader, .. } => {
                let mut buf = vec![0u8; PIECE];
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) => break link.send(Out::End, until()).is_ok(),
                        Ok(n) => {
                            let piece = Bytes::copy_from_slice(&buf[..n]);
                            if link.send(Out::Data(piece), until()).is_err() {
                                break false;
                            }
                            sent += n as u64;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            log::error!("response body reader failed after {sent} bytes: {e}");
                            let _ = link.send(Out::Reset, until());
                            break false;
                        }
                    }
                }
            }
            Body::Writer(write) => {
                let stopping = || crate::serve::output::stopping(ctx);
                let mut emit = |bytes: &[u8]| {
                    link.send(Out::Data(Bytes::copy_from_slice(bytes)), until())
                        .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
                };
                match run_writer(write, &mut emit, &stopping, false) {
                    Ok(n) => {
                        sent = n;
                        link.send(Out::End, until()).is_ok()
                    }
                    Err(n) => {
                        sent = n;
                        let _ = link.send(Out::Reset, until());
                        false
                    }
                }
            }
        };
        if !ok {
            log::debug!(
                "HTTP/2 stream {} from {}: the response was cut after {sent} bytes",
                self.stream,
                self.info.peer
            );
        }
        sent
    }

    /// The exchange is over: log it and count it on the scoreboard.
    fn log(&self, ctx: &ServeContext<'_>, entry: Logged<'_>) {
        let received = self
            .link
            .conn
            .received
            .swap(0, std::sync::atomic::Ordering::Relaxed);
        entry.end(ctx, &self.info, received);
    }
}

fn set_state(ctx: &ServeContext<'_>, s: WorkerState) {
    if let Some(slot) = ctx.worker_slot {
        slot.set_state(s);
    }
}
