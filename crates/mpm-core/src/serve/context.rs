//! What every file of the serving code shares: the [`ServeContext`] a
//! driver is given and its [`Mode`], the connection being served
//! (`Serving`), what it goes on to ([`After`]), what it did
//! ([`ConnStats`]), and the bounds of its buffers and waits.

use std::os::fd::BorrowedFd;
use std::time::Duration;

use http::StatusCode;

use super::pending::PendingWrite;
use crate::config::ProtocolConfig;
use crate::h1::{self as engine, RequestHead, Session};
use crate::handler::{Body, Handler, Response};
use crate::net::connection::Connection;
use crate::process::scoreboard::{Counters, WorkerSlot, WorkerState};

/// Most bytes drained from an unread request body so that the connection
/// can stay open; a larger remainder closes the connection instead.
pub(super) const DRAIN_LIMIT: u64 = 256 * 1024;

/// Longest lingering close: reading what the client still sends after our
/// last response, so that a reset does not destroy that response. Every
/// driver uses this bound.
pub const LINGER: Duration = Duration::from_secs(2);

/// Most bytes one read asks for (the session's buffer grows to it, by
/// doubling, only as bytes come).
pub(super) const READ_CHUNK: usize = 8192;

/// What a driver needs besides the connection.
pub struct ServeContext<'a> {
    /// The application.
    pub handler: &'a dyn Handler,
    /// Limits and timeouts.
    pub protocol: &'a ProtocolConfig,
    /// This thread's worker slot on the scoreboard, kept current through
    /// the connection.
    pub worker_slot: Option<&'a WorkerSlot>,
    /// The scoreboard's lifetime counters, where TLS handshakes are
    /// counted ([`crate::Scoreboard::counters`]).
    pub counters: Option<&'a Counters>,
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
    /// Who owns the connection, and so how responses are written and
    /// where the connection goes between requests.
    pub mode: Mode<'a>,
    /// Threads that serve the streams of an HTTP/2 connection this
    /// thread owns (worker); without them its streams are served on
    /// this thread, one at a time ([`super::h2`]).
    pub streams: Option<&'a dyn super::h2::StreamPool>,
}

#[cfg(test)]
impl<'a> ServeContext<'a> {
    /// A lent connection's context for a test: `handler` and `protocol`,
    /// no scoreboard, no signals, no stream pool.
    pub(crate) fn bare(handler: &'a dyn Handler, protocol: &'a ProtocolConfig) -> Self {
        ServeContext {
            handler,
            protocol,
            worker_slot: None,
            counters: None,
            idle_close: None,
            abort: None,
            leaving: None,
            mode: Mode::Lent,
            streams: None,
        }
    }
}

/// How a driver holds its connection.
#[derive(Clone, Copy)]
pub enum Mode<'a> {
    /// A thread owns the connection for its life (`single`, prefork,
    /// worker): the socket blocks, every response is written to its end
    /// ([`serve_connection`](super::serve_connection)).
    Blocking,
    /// A worker thread serves a connection an event loop lent it: the
    /// socket is non-blocking; the part of a response the socket does not
    /// take at once goes back as a [`PendingWrite`] for the loop to finish,
    /// and so does the connection between requests
    /// ([`serve_dispatched`](super::serve_dispatched)).
    /// A streamed body is written by the worker to its end (the worker is
    /// the one reading the stream, and a handler's reader may block).
    Lent,
    /// The event loop answers a request itself (the handler promised the
    /// answer never blocks, [`Handler::answer_never_blocks`]): as `Lent`, and a
    /// stream too is left for the loop to read as the socket takes it. A
    /// further request already buffered is answered here only when `only`
    /// says so; otherwise it goes back parsed, for a worker.
    Loop {
        /// Whether a further buffered request may be answered here.
        only: &'a (dyn Fn(&RequestHead) -> bool + Sync),
    },
}

impl Mode<'_> {
    /// The socket is non-blocking and belongs to an event loop.
    pub fn is_lent(&self) -> bool {
        !matches!(self, Mode::Blocking)
    }
}

/// Whether answering `head` never blocks, so that a thread that must not
/// wait (an event loop) may answer it: it has no body to wait for and the
/// handler promises its answer never blocks
/// ([`Handler::answer_never_blocks`]).
pub fn answer_never_blocks(handler: &dyn Handler, head: &RequestHead) -> bool {
    !head.framing.has_body()
        && !head.expect_continue
        && handler.answer_never_blocks(&head.method, &head.uri)
}

/// What one connection did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Requests answered (including refusals by the engine).
    pub requests: u32,
    /// Body bytes sent.
    pub body_bytes: u64,
}

pub(super) enum Ready {
    Readable,
    TimedOut,
    /// Between requests, and told to close idle connections.
    IdleClose,
    /// Told to close at once.
    Abort,
}

/// The connection being served, borrowed from its owner (the blocking
/// driver's frame, a dispatch, or the event loop's own table when the
/// loop answers a request itself): no move of the connection or its
/// session per request.
pub(super) struct Serving<'a, 'b> {
    pub(super) io: &'a mut Connection,
    /// The bytes read and what they mean: heads, bodies, pipelining.
    pub(super) session: &'a mut Session,
    pub(super) ctx: &'a ServeContext<'b>,
    pub(super) stats: ConnStats,
    pub(super) wbuf: Vec<u8>,
    /// What a handoff-mode send could not write at once.
    pub(super) pending: Option<PendingWrite>,
    /// The tunnel a `101` answer started ([`After::Tunnel`]).
    pub(super) tunnel: Option<Box<super::Tunnel>>,
    /// The request a `101` switched to HTTP/2 (`Upgrade: h2c`): the
    /// blocking driver goes on with [`super::h2::serve_h2`].
    pub(super) h2_upgrade: Option<super::h2::Upgrade>,
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
    /// A `101` was sent: the connection is a tunnel now (the blocking
    /// driver runs it; a lent connection goes back to the loop with it,
    /// [`Handback::tunnel`](super::Handback::tunnel)).
    Tunnel,
}

/// An error page response.
pub fn status_page(status: StatusCode, detail: &str) -> Response {
    let (headers, body) = engine::error_page(status, detail);
    let mut resp = Response::new(Body::Bytes(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

impl Serving<'_, '_> {
    pub(super) fn set_state(&self, s: WorkerState) {
        if let Some(slot) = self.ctx.worker_slot {
            slot.set_state(s);
        }
    }
}
