//! The serving code's half of an event loop (the event strategy).
//!
//! The loop owns a connection whenever no request is being handled on it:
//! it reads the request head without blocking, then hands the connection,
//! the parsed head and the bytes that followed it to a worker thread as a
//! [`Dispatch`]. The worker runs [`serve_dispatched`]: the same code as the
//! blocking driver (handler, request body, response, access log), on the
//! loop's non-blocking socket. It answers every request already complete
//! in its buffer (pipelining costs no trip through the loop), then gives
//! the connection back as a [`Handback`]: what comes next (keep-alive,
//! close, lingering close), any unparsed bytes of the next request, and
//! the part of the last response the socket would not take at once
//! ([`PendingWrite`]), which the loop finishes so that a slow reader holds
//! no thread. When the loop answers a request itself it calls
//! [`serve_lent`] instead, on the connection and session where it keeps
//! them ([`Lent`]), and gets back only what comes next ([`Served`]): no
//! dispatch built and no handback taken apart per request.
//!
//! Only a streamed body ([`Body::Reader`], [`Body::Writer`]) is written by
//! the worker to the end, waiting for room up to `Timeout` at a time: the
//! worker is the one reading (or running) it, and a handler's stream may
//! block. When the loop answers a request itself (the handler promised it
//! never blocks), a reader is read as the socket takes the bytes, and a
//! writer runs to its end at once into memory (its flushes only mark
//! chunks there), sent as the socket takes it.

use std::io;
use std::time::{Instant, SystemTime};

use bytes::Bytes;

use super::context::{After, ConnStats, Mode, ServeContext, Serving, READ_CHUNK};
use super::output::{append_file, send_more, SMALL_FILE};
use super::pending::{write_now, FilePart, PendingWrite, StreamPart, COPY_CHUNK};
use super::stream;
use crate::h1::{self as engine, HeadError, HeadEvent, RequestHead, Session};
use crate::handler::Body;
use crate::net::connection::Connection;

/// What a worker is given to do.
#[derive(Debug)]
pub enum Work {
    /// Answer this request.
    Request(RequestHead),
    /// Answer with this error and close (a head the engine refused, or
    /// the head deadline passed: [`engine::timeout_error`]).
    Refuse(HeadError),
}

/// A connection with a request ready for a worker.
#[derive(Debug)]
pub struct Dispatch {
    /// The connection (its socket non-blocking).
    pub conn: Connection,
    /// Its HTTP/1.1 session: the bytes read after the head (the start of
    /// its body or of the next request).
    pub session: Session,
    /// The request.
    pub work: Work,
    /// Requests already answered on this connection.
    pub served: u32,
    /// When the head began to arrive (for the access log).
    pub started: SystemTime,
    /// The same instant, for durations.
    pub clock: Instant,
}

/// A connection given back to the loop by a worker.
#[derive(Debug)]
pub struct Handback {
    /// The connection.
    pub conn: Connection,
    /// Its session: bytes of the next request already read, not yet a
    /// complete head (the scan goes on where the worker left it).
    pub session: Session,
    /// A complete next request the worker may not answer (the loop's
    /// `only` said no): the loop hands it on.
    pub next: Option<RequestHead>,
    /// Requests answered on this connection so far.
    pub served: u32,
    /// What to do once `pending` is written.
    pub after: After,
    /// The end of the last response, still to be written.
    pub pending: Option<PendingWrite>,
    /// What this turn in the worker did.
    pub stats: ConnStats,
    /// With [`After::Tunnel`]: the `101` is written, and the loop joins
    /// the connection to this tunnel's socket ([`Tunnel::pump`](crate::serve::Tunnel::pump)).
    pub tunnel: Option<Box<super::Tunnel>>,
}

/// A worker thread's buffers, kept from one request to the next so that a
/// request costs no buffer allocation.
#[derive(Debug)]
pub struct ServeBuffers {
    /// Lent to a session that holds no buffer of its own.
    spare: Vec<u8>,
    wbuf: Vec<u8>,
}

impl Default for ServeBuffers {
    fn default() -> Self {
        ServeBuffers {
            spare: vec![0; READ_CHUNK],
            wbuf: Vec::with_capacity(1024),
        }
    }
}

impl ServeBuffers {
    /// A write buffer larger than this after a response is not kept.
    const KEEP_WBUF: usize = 16 * 1024;

    /// Lend the spare read buffer to `session` (when it holds none) and
    /// hand out the write buffer, empty: a new connection's session reads
    /// into memory already allocated and zeroed.
    pub(super) fn lend(&mut self, session: &mut Session) -> Vec<u8> {
        if session.capacity() == 0 {
            session.lend_buffer(std::mem::take(&mut self.spare));
        }
        let mut wbuf = std::mem::take(&mut self.wbuf);
        wbuf.clear();
        wbuf
    }

    /// Take back what [`ServeBuffers::lend`] gave: the session's buffer
    /// when it holds nothing and is not oversized (else the next session
    /// makes its own), and the write buffer unless it grew large.
    pub(super) fn take_back(&mut self, session: &mut Session, wbuf: Vec<u8>) {
        session.shrink(false);
        if let Some(spare) = session.take_spare() {
            self.spare = spare;
        }
        self.wbuf = if wbuf.capacity() <= Self::KEEP_WBUF {
            wbuf
        } else {
            Vec::with_capacity(1024)
        };
    }
}

/// A lent connection served where its owner keeps it: the event loop
/// answering a request itself serves the connection in its own table,
/// with no [`Dispatch`] built and no [`Handback`] taken apart (each
/// hundreds of bytes, moved once per request).
#[derive(Debug)]
pub struct Lent<'c> {
    /// The connection (its socket non-blocking).
    pub conn: &'c mut Connection,
    /// Its session: the bytes read after the head; what is left of them
    /// when serving stops stays in it (the next request's first bytes).
    pub session: &'c mut Session,
    /// Requests answered on this connection, counted on.
    pub served: &'c mut u32,
    /// When the head began to arrive (for the access log).
    pub started: SystemTime,
    /// The same instant, for durations.
    pub clock: Instant,
}

/// What serving a lent connection came to ([`serve_lent`]): a
/// [`Handback`] without the connection and session, which stayed where
/// they were. A few words: the rare parts are boxed, so that returning
/// it moves little.
#[derive(Debug)]
pub struct Served {
    /// A complete next request the worker may not answer (the loop's
    /// `only` said no): the loop hands it on.
    pub next: Option<Box<RequestHead>>,
    /// What to do once `pending` is written.
    pub after: After,
    /// The end of the last response, still to be written.
    pub pending: Option<Box<PendingWrite>>,
    /// What this turn did.
    pub stats: ConnStats,
    /// With [`After::Tunnel`]: the `101` is written, and the loop joins
    /// the connection to this tunnel's socket.
    pub tunnel: Option<Box<super::Tunnel>>,
}

/// Answer the dispatched request, and every further request already
/// complete in the buffer, then give the connection back. `ctx.mode` must
/// be one of a lent connection ([`Mode::Lent`], [`Mode::Loop`]). Never
/// panics on the peer's bytes; a handler's panic is a
/// 500 and a close, as in the blocking driver.
pub fn serve_dispatched(d: Dispatch, ctx: &ServeContext<'_>, bufs: &mut ServeBuffers) -> Handback {
    let Dispatch {
        mut conn,
        mut session,
        mut work,
        mut served,
        started,
        clock,
    } = d;
    let lent = Lent {
        conn: &mut conn,
        session: &mut session,
        served: &mut served,
        started,
        clock,
    };
    let Served {
        next,
        after,
        pending,
        stats,
        tunnel,
    } = serve_lent(lent, &mut work, ctx, bufs);
    Handback {
        conn,
        session,
        next: next.map(|n| *n),
        served,
        after,
        pending: pending.map(|p| *p),
        stats,
        tunnel,
    }
}

/// [`serve_dispatched`] on a connection left where its owner keeps it
/// ([`Lent`]): the same exchanges, the connection and its session
/// borrowed instead of moved in and out. `work` is borrowed too: its
/// request is answered where it lies (the handler takes its header
/// fields), and the caller drops what is left of it.
pub fn serve_lent(
    at: Lent<'_>,
    work: &mut Work,
    ctx: &ServeContext<'_>,
    bufs: &mut ServeBuffers,
) -> Served {
    debug_assert!(ctx.mode.is_lent(), "serve_lent needs a lent connection");
    let Lent {
        conn,
        session,
        served,
        started,
        clock,
    } = at;
    if session.capacity() == 0 {
        session.lend_buffer(std::mem::take(&mut bufs.spare));
    }
    let mut c = Serving {
        io: conn,
        session,
        ctx,
        stats: ConnStats::default(),
        wbuf: std::mem::take(&mut bufs.wbuf),
        pending: None,
        tunnel: None,
        h2_upgrade: None,
    };
    let mut next = None;
    let (mut started, mut clock) = (started, clock);
    let after = loop {
        // The head is answered where it lies (not moved once more).
        let after = match &mut *work {
            Work::Request(head) => {
                *served += 1;
                c.answer(head, *served, started, clock)
            }
            Work::Refuse(e) => c.refuse(e.clone(), started, clock),
        };
        if after != After::KeepAlive || c.pending.is_some() {
            break after;
        }
        // A pipelined request already here is answered at once.
        match c.session.poll_head(&ctx.protocol.limits) {
            HeadEvent::Ready(head) if matches!(ctx.mode, Mode::Loop { only } if !only(&head)) => {
                // Not for this thread: back with the connection.
                next = Some(head);
                break after;
            }
            HeadEvent::Ready(head) => *work = Work::Request(head),
            HeadEvent::NeedMore => break after,
            HeadEvent::Refuse(e) => *work = Work::Refuse(e),
        }
        started = SystemTime::now();
        clock = Instant::now();
    };
    let Serving {
        session,
        wbuf,
        pending,
        stats,
        tunnel,
        ..
    } = c;
    // The buffer goes back to the thread unless it holds the start of a
    // next request; one grown large is given back to the system.
    session.shrink(false);
    if let Some(spare) = session.take_spare() {
        bufs.spare = spare;
    }
    bufs.wbuf = wbuf;
    Served {
        next: next.map(Box::new),
        after,
        pending: pending.map(Box::new),
        stats,
        tunnel,
    }
}

impl Serving<'_, '_> {
    /// Send a response head and a body the loop can finish: write what the
    /// socket takes now, keep the rest in `self.pending`. `Ok(body bytes)`
    /// (as planned: the loop writes the rest), or `Err(bytes sent)` when the
    /// connection failed.
    pub(super) fn send_handoff(
        &mut self,
        wbuf: &mut Vec<u8>,
        body: Body,
        chunked: bool,
    ) -> Result<u64, u64> {
        let (extra, file, len): (Option<Bytes>, Option<FilePart>, u64) = match body {
            Body::Empty => (None, None, 0),
            // A kept answer's fields are in the head already.
            Body::Bytes(b) | Body::Kept { bytes: b, .. } => {
                let len = b.len() as u64;
                if chunked {
                    if b.is_empty() {
                        wbuf.extend_from_slice(engine::encode::LAST_CHUNK);
                        (None, None, 0)
                    } else {
                        engine::encode::chunk_header(b.len(), wbuf);
                        if wbuf.len() + b.len() <= COPY_CHUNK {
                            wbuf.extend_from_slice(&b);
                            wbuf.extend_from_slice(engine::encode::CHUNK_END);
                            wbuf.extend_from_slice(engine::encode::LAST_CHUNK);
                            (None, None, len)
                        } else {
                            let mut tail = Vec::with_capacity(b.len() + 7);
                            tail.extend_from_slice(&b);
                            tail.extend_from_slice(engine::encode::CHUNK_END);
                            tail.extend_from_slice(engine::encode::LAST_CHUNK);
                            (Some(Bytes::from(tail)), None, len)
                        }
                    }
                } else if self.io.plain_tcp().is_none() && wbuf.len() + b.len() <= COPY_CHUNK {
                    // Under TLS the head and a small body are one record.
                    wbuf.extend_from_slice(&b);
                    (None, None, len)
                } else {
                    // On plain TCP the body is the write's second slice
                    // (one `writev`, one segment for a small answer): the
                    // kernel copies it once, with no copy of ours first.
                    (Some(b), None, len)
                }
            }
            Body::File { file, offset, len } if len <= SMALL_FILE as u64 => {
                if append_file(wbuf, &file, offset, len).is_err() {
                    return Err(0);
                }
                (None, None, len)
            }
            // Not a 101 the engine honoured: an empty body.
            Body::Tunnel(_) => (None, None, 0),
            Body::File { file, offset, len } => (
                None,
                Some(FilePart {
                    file,
                    offset,
                    left: len,
                }),
                len,
            ),
            // A writer comes here only when the loop answers a request
            // itself (the handler promised it is quick): it runs now, into
            // memory, and leaves as the socket takes it.
            Body::Writer(write) => {
                let mut out = Vec::new();
                let mut emit = |piece: &[u8]| {
                    out.extend_from_slice(piece);
                    Ok(())
                };
                let len = stream::run_writer(write, &mut emit, &|| false, chunked)?;
                (Some(Bytes::from(out)), None, len)
            }
            // A stream comes here only when the loop answers a request
            // itself (the handler promised its reader is quick): it is
            // read as the socket takes the bytes.
            Body::Reader { reader, len } => {
                let stream = StreamPart {
                    reader,
                    left: len,
                    chunked,
                    sent: 0,
                };
                return self.send_stream(wbuf, stream);
            }
        };
        let extra_slice: &[u8] = extra.as_deref().unwrap_or(&[]);
        let written = match (self.io.plain_tcp(), &file) {
            // A head that a sendfile body follows leaves with it.
            (Some(tcp), Some(f)) if f.left > 0 => match send_more(tcp, wbuf) {
                Ok(n) => Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                Err(e) => Err(e),
            },
            _ => write_now(self.io, &[wbuf, extra_slice]),
        };
        let Ok(written) = written else {
            return Err(0);
        };
        let all = wbuf.len() + extra_slice.len();
        if file.is_none() && written == all {
            // All of it went (nearly every small answer).
            return Ok(len);
        }
        // Bytes left over: the socket is full (the write stopped short or
        // saw `EAGAIN`), so the rest waits for the loop's next writable
        // event without another write that would only see `EAGAIN`.
        let full = written < all;
        let mut pending = PendingWrite::default();
        if written < wbuf.len() {
            pending
                .segs
                .push_back(Bytes::copy_from_slice(&wbuf[written..]));
        }
        if let Some(extra) = extra {
            let from = written.saturating_sub(wbuf.len()).min(extra.len());
            if from < extra.len() {
                pending.segs.push_back(extra.slice(from..));
            }
        }
        pending.file = file;
        if full {
            self.pending = Some(pending);
            return Ok(len);
        }
        match pending.advance(self.io) {
            Ok(true) => Ok(len),
            Ok(false) => {
                self.pending = Some(pending);
                Ok(len)
            }
            Err(_) => Err(len.saturating_sub(pending.remaining())),
        }
    }
}

impl Serving<'_, '_> {
    fn send_stream(&mut self, wbuf: &[u8], stream: StreamPart) -> Result<u64, u64> {
        let written = write_now(self.io, &[wbuf]).map_err(|_| 0u64)?;
        let mut pending = PendingWrite::default();
        if written < wbuf.len() {
            pending
                .segs
                .push_back(Bytes::copy_from_slice(&wbuf[written..]));
        }
        pending.stream = Some(stream);
        match pending.advance(self.io) {
            Ok(true) => Ok(pending.streamed),
            Ok(false) => {
                // The access log gets what was read so far.
                let sent = pending.streamed_so_far();
                self.pending = Some(pending);
                Ok(sent)
            }
            Err(_) => Err(pending.streamed_so_far()),
        }
    }
}
