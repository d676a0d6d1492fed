//! The drivers of the HTTP engine: the code between a socket and the
//! handler, shared by every strategy.
//!
//! - [`serve_connection`] (the blocking loop): one thread serves one
//!   connection, request after request, until it closes (`single`,
//!   prefork, worker).
//! - [`serve_dispatched`] (hand-off): a worker thread answers a request an
//!   event loop lent it, and gives the connection back with what is left
//!   to write ([`PendingWrite`]).
//!
//! Both read through the connection's [`Session`] (heads, bodies,
//! pipelining: [`crate::h1`]) and answer through the same exchange:
//! the handler called, its response sent (bytes, a stream, or a file by
//! `sendfile`), the keep-alive decision, the access log. They own no
//! policy beyond I/O: what a request means and when the connection may
//! stay open is the engine's; what to answer is the handler's. Every wait
//! is bounded: `KeepAliveTimeout` between requests, `RequestReadTimeout`
//! (stretched by data, capped) for a head and a body, `Timeout` for each
//! write.
//!
//! Files: `blocking.rs` the blocking loop and lingering close,
//! `exchange.rs` one request and its response, `body.rs` the request body
//! as the handler reads it, `output.rs` writing a response, `handoff.rs`
//! a request lent by an event loop, `pending.rs` what the loop finishes.

use std::os::fd::BorrowedFd;
use std::time::Duration;

use http::StatusCode;

use crate::config::ProtocolConfig;
use crate::h1::{self as engine, RequestHead, Session};
use crate::handler::{Body, Handler, Response};
use crate::net::connection::Connection;
use crate::process::scoreboard::{WorkerSlot, WorkerState};

mod blocking;
mod body;
mod exchange;
mod handoff;
mod output;
mod pending;

pub use blocking::serve_connection;
pub use handoff::{serve_dispatched, Dispatch, Handback, ServeBuffers, Work};
pub use pending::PendingWrite;

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
    /// Who owns the connection, and so how responses are written and
    /// where the connection goes between requests.
    pub mode: Mode<'a>,
}

/// How a driver holds its connection.
#[derive(Clone, Copy)]
pub enum Mode<'a> {
    /// A thread owns the connection for its life (`single`, prefork,
    /// worker): the socket blocks, every response is written to its end
    /// ([`serve_connection`]).
    Blocking,
    /// A worker thread serves a connection an event loop lent it: the
    /// socket is non-blocking; the part of a response the socket does not
    /// take at once goes back as a [`PendingWrite`] for the loop to finish,
    /// and so does the connection between requests ([`serve_dispatched`]).
    /// A streamed body is written by the worker to its end (the worker is
    /// the one reading the stream, and a handler's reader may block).
    Lent,
    /// The event loop answers a request itself (the handler promised the
    /// answer is quick, [`Handler::answers_at_once`]): as `Lent`, and a
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

/// An error page response.
pub fn status_page(status: StatusCode, detail: &str) -> Response {
    let (headers, body) = engine::error_page(status, detail);
    let mut resp = Response::new(Body::Bytes(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

impl Conn<'_, '_> {
    fn set_state(&self, s: WorkerState) {
        if let Some(slot) = self.ctx.slot {
            slot.set_state(s);
        }
    }
}
