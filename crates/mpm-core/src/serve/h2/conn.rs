//! The HTTP/2 connection a thread owns: its session kept going by
//! blocking reads and writes, the streams received and waiting, and the
//! main loop that serves them one at a time (see the [module
//! docs](super)).

use std::collections::VecDeque;
use std::io::{self, Write};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use super::session_config;
use crate::h1::{HeadError, RequestHead};
use crate::h2::{ErrorCode, Event, Session, StreamMap};
use crate::net::connection::Connection;
use crate::process::scoreboard::WorkerState;
use crate::serve::blocking::{wait_io, wait_readable};
use crate::serve::context::{ConnStats, Ready, ServeContext, LINGER};

/// Most bytes one read asks for.
pub(super) const READ_CHUNK: usize = 16 * 1024;

/// How long a request whose body is incomplete waits for more of it
/// before its handler starts anyway (see [`H2Conn::is_ready`]).
const BODY_GRACE: Duration = Duration::from_millis(100);

/// How often a wait without a stop signal to poll asks whether the
/// server is stopping.
const STOP_CHECK: Duration = Duration::from_millis(250);

/// Most responses gathered before they are written (see `H2Conn::run`).
const BATCH: usize = 16;

/// Most reads that take what has arrived before a stream is served.
const AVAILABLE_READS: usize = 4;

/// A stream's request body as it arrives, until its handler reads it.
#[derive(Debug, Default)]
pub(super) struct Inbound {
    /// Bytes received and not yet read by the handler.
    pub(super) data: VecDeque<Bytes>,
    /// The client ended the body (END_STREAM, or trailers).
    pub(super) ended: bool,
    /// The stream was reset: its handler's reads and writes fail.
    pub(super) gone: bool,
    /// Served, with the rest of its body unread: what comes is dropped
    /// (its window given back) until the client ends it.
    pub(super) discard: bool,
}

/// A request received and not yet served.
pub(super) struct Waiting {
    pub(super) stream: u32,
    pub(super) what: Received,
    /// When its head arrived.
    pub(super) started: SystemTime,
    pub(super) clock: Instant,
}

/// What a waiting stream asks.
pub(super) enum Received {
    /// A request to hand to the handler.
    Request(Box<RequestHead>),
    /// A request the limits refuse: answer this error.
    Refused(HeadError),
}

/// How a wait for the client ended.
pub(super) enum Wait {
    /// Bytes were read and given to the session: this many.
    Read(usize),
    /// The wait's bound passed.
    TimedOut,
    /// Told to close idle connections (a graceful stop or restart).
    Stopping,
    /// The client closed, the socket failed, or told to stop at once.
    Closed,
}

/// One HTTP/2 connection on its thread.
pub(super) struct H2Conn<'a, 'b> {
    pub(super) io: Connection,
    pub(super) session: Session,
    pub(super) ctx: &'a ServeContext<'b>,
    /// Request bodies of the streams open (served or waiting).
    pub(super) inbound: StreamMap<Inbound>,
    /// Requests not yet served, in arrival order.
    pub(super) waiting: VecDeque<Waiting>,
    pub(super) stats: ConnStats,
    /// Bytes received since the last stream was logged (`%I`).
    pub(super) received: u64,
    rbuf: Box<[u8]>,
    /// The graceful GOAWAY was started, at this time.
    stopping_since: Option<Instant>,
}

/// Serve `conn` as HTTP/2 until it closes: `early` holds bytes already
/// read from it (the preface sniffed by prior knowledge, or what followed
/// an `Upgrade: h2c` request), `upgraded` the upgraded request and its
/// client's `HTTP2-Settings`, served as stream 1. The socket blocks;
/// every wait is bounded as the [module docs](super) say.
pub fn serve_h2(
    conn: Connection,
    ctx: &ServeContext<'_>,
    early: &[u8],
    upgraded: Option<super::Upgrade>,
) -> ConnStats {
    // Threads to serve its streams on (worker): this one owns it.
    if let Some(pool) = ctx.streams.and_then(super::Attached::to) {
        return super::pool::serve_pooled(conn, ctx, early, upgraded, pool);
    }
    drive(conn, ctx, early, upgraded).1
}

/// Serve `conn` as HTTP/2 to its end and give it back (closed for
/// writing, lingered) with what it did. The socket is made non-blocking:
/// the driver reads while it writes (a client that sends without reading
/// trips the session's bounds instead of stopping the thread), and every
/// wait is a poll bounded as the [module docs](super) say.
fn drive(
    mut conn: Connection,
    ctx: &ServeContext<'_>,
    early: &[u8],
    upgraded: Option<super::Upgrade>,
) -> (Connection, ConnStats) {
    if socket2::SockRef::from(conn.tcp())
        .set_nonblocking(true)
        .is_err()
    {
        return (conn, ConnStats::default());
    }
    conn.set_nonblocking_mode(true);
    let cfg = session_config(ctx.protocol);
    let mut waiting = VecDeque::new();
    let mut inbound = StreamMap::default();
    let session = match upgraded {
        None => Session::new(&cfg),
        Some(up) => match Session::upgraded(&cfg, &up.settings) {
            Ok(s) => {
                inbound.insert(
                    1,
                    Inbound {
                        ended: true,
                        ..Inbound::default()
                    },
                );
                waiting.push_back(Waiting {
                    stream: 1,
                    what: Received::Request(up.head),
                    started: up.started,
                    clock: up.clock,
                });
                s
            }
            Err(e) => {
                log::debug!("HTTP/2 upgrade from {} refused: {e}", conn.info().peer);
                return (conn, ConnStats::default());
            }
        },
    };
    let mut c = H2Conn {
        io: conn,
        session,
        ctx,
        inbound,
        waiting,
        stats: ConnStats::default(),
        received: early.len() as u64,
        rbuf: vec![0; READ_CHUNK].into_boxed_slice(),
        stopping_since: None,
    };
    if !early.is_empty() {
        c.session.receive(early, Instant::now());
        c.drain_events();
    }
    c.run();
    (c.io, c.stats)
}

impl H2Conn<'_, '_> {
    /// Serve until the connection ends.
    fn run(&mut self) {
        let t = &self.ctx.protocol.timeouts;
        // Streams served since the output was last written: responses
        // to requests that came together leave together (one write, one
        // TLS record), up to a bound.
        let mut unflushed = 0;
        loop {
            let mut next = self.next_ready();
            if next.is_none() && !self.waiting.is_empty() {
                // Whatever the client has sent already is read before a
                // stream that is not ready is waited for: its RST_STREAM
                // or the rest of its body may be there, and so may more
                // streams (which then count against H2MaxSessionStreams
                // while they wait, as they should).
                if !self.read_available() {
                    break;
                }
                next = self.next_ready();
            }
            if next.is_none() || unflushed >= BATCH {
                unflushed = 0;
                if self.flush().is_err() {
                    break;
                }
            }
            if self.session.is_finished() {
                break;
            }
            if let Some(next) = next {
                self.serve(next);
                unflushed += 1;
                continue;
            }
            // Requests whose bodies are coming: the oldest is served when
            // the client pauses (its handler's reads pull the rest).
            let incomplete = !self.waiting.is_empty();
            let idle = self.session.is_idle();
            if idle {
                self.session.release_buffers();
            }
            self.set_state(if idle {
                WorkerState::KeepAlive
            } else {
                WorkerState::Read
            });
            let bound = match self.stopping_since {
                // The client has this long to answer the shutdown's PING
                // and send what it had in flight.
                Some(since) => LINGER.saturating_sub(since.elapsed()),
                None if incomplete => BODY_GRACE,
                None if idle => t.keep_alive_timeout,
                None => t.timeout,
            };
            match self.wait_for_client(bound, self.stopping_since.is_none()) {
                Wait::Read(_) => {}
                Wait::Closed => break,
                Wait::Stopping => self.begin_stop(),
                Wait::TimedOut if incomplete && self.stopping_since.is_none() => {
                    if let Some(oldest) = self.waiting.pop_front() {
                        self.serve(oldest);
                    }
                }
                Wait::TimedOut if self.stopping_since.is_some() => {
                    self.session.finish_shutdown();
                    if self.session.is_idle() || self.session.is_finished() {
                        let _ = self.flush();
                        break;
                    }
                    // Streams in flight still finish: wait for them
                    // with the plain bounds from now on.
                    self.stopping_since = Some(Instant::now() + t.timeout);
                }
                Wait::TimedOut if idle => {
                    // KeepAliveTimeout: a clean GOAWAY, as an idle
                    // HTTP/1.1 connection is closed.
                    self.session.shutdown();
                    self.session.finish_shutdown();
                    let _ = self.flush();
                    break;
                }
                Wait::TimedOut if self.session.is_stalled() => {
                    // A zero-window stall: the client reads nothing.
                    self.session.abort(
                        ErrorCode::FlowControlError,
                        "the client opened no window within Timeout",
                    );
                    let _ = self.flush();
                    break;
                }
                Wait::TimedOut => {
                    self.session
                        .abort(ErrorCode::NoError, "the client sent nothing within Timeout");
                    let _ = self.flush();
                    break;
                }
            }
        }
        self.set_state(WorkerState::Closing);
        self.linger();
    }

    /// A graceful stop or restart: GOAWAY in two steps; what the client
    /// sent before the final one is still served.
    pub(super) fn begin_stop(&mut self) {
        if self.stopping_since.is_none() {
            self.stopping_since = Some(Instant::now());
            self.session.shutdown();
        }
    }

    /// The stream to serve next: the oldest that is ready (see
    /// [`H2Conn::is_ready`]).
    fn next_ready(&mut self) -> Option<Waiting> {
        let ready = self.waiting.iter().position(|w| self.is_ready(w))?;
        self.waiting.remove(ready)
    }

    /// A request is ready to serve when it is refused, its body is
    /// complete, or so much of its body is here that the client may be
    /// waiting for a window to send more (half of `H2WindowSize`): then
    /// its handler's reads pull the rest. A request whose body is
    /// incomplete and small waits for it, [`BODY_GRACE`] at most after
    /// the client's last bytes, so a stream the client ends at once (or
    /// resets) is never answered before it does.
    fn is_ready(&self, w: &Waiting) -> bool {
        match w.what {
            Received::Refused(_) => true,
            Received::Request(_) => self.inbound.get(&w.stream).is_none_or(|i| {
                let held: usize = i.data.iter().map(|d| d.len()).sum();
                i.ended || i.gone || held >= (self.ctx.protocol.http2.window_size as usize) / 2
            }),
        }
    }

    /// Write what the socket takes now of what the session has to send.
    /// `Ok(true)` when bytes are left (the socket is full).
    fn write_some(&mut self) -> io::Result<bool> {
        while self.session.wants_write() {
            let out = self.session.output();
            if out.is_empty() {
                break;
            }
            match self.io.write(out) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.session.written(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) => return Err(e),
            }
        }
        match self.io.flush() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
            Err(e) => return Err(e),
        }
        self.drain_events();
        Ok(self.session.wants_write() || self.io.wants_write())
    }

    /// Write everything the session has to send, reading what the client
    /// sends meanwhile (its WINDOW_UPDATEs, and whatever else: a client
    /// that floods without reading is bounded by the session, not by this
    /// thread). An error when the connection failed or the socket took
    /// nothing for `Timeout`.
    pub(super) fn flush(&mut self) -> io::Result<()> {
        let timeout = self.ctx.protocol.timeouts.timeout;
        let until = Instant::now() + timeout;
        loop {
            if !self.write_some()? {
                return Ok(());
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            match wait_io(&self.io, self.ctx, left, false, true) {
                Ready::Readable => {
                    if let Some(false) = self.read_once() {
                        return Err(io::ErrorKind::ConnectionReset.into());
                    }
                }
                Ready::TimedOut => return Err(io::ErrorKind::TimedOut.into()),
                Ready::IdleClose => {}
                Ready::Abort => return Err(io::ErrorKind::ConnectionAborted.into()),
            }
        }
    }

    /// One read without waiting, handed to the session: `Some(true)`
    /// when bytes came, `None` when none were there, `Some(false)` at the
    /// end of the stream or on an error.
    fn read_once(&mut self) -> Option<bool> {
        loop {
            match self.io.read_nonblocking(&mut self.rbuf) {
                Ok(0) => return Some(false),
                Ok(n) => {
                    self.received += n as u64;
                    self.session.receive(&self.rbuf[..n], Instant::now());
                    self.drain_events();
                    return Some(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(_) => return Some(false),
            }
        }
    }

    /// Wait up to `bound` for the client and hand what it sent to the
    /// session; `watch_stop`: a graceful stop ends the wait too.
    pub(super) fn wait_for_client(&mut self, bound: Duration, watch_stop: bool) -> Wait {
        // Without a signal to poll (an event loop's worker), the cheap
        // check is asked between slices of the wait.
        let check = match (self.ctx.idle_close, self.ctx.leaving) {
            (None, Some(leaving)) if watch_stop => Some(leaving),
            _ => None,
        };
        let until = Instant::now() + bound;
        loop {
            if check.is_some_and(|leaving| leaving()) {
                return Wait::Stopping;
            }
            let left = until.saturating_duration_since(Instant::now());
            let slice = if check.is_some() {
                left.min(STOP_CHECK)
            } else {
                left
            };
            let write = self.session.wants_write();
            match wait_io(&self.io, self.ctx, slice, watch_stop, write) {
                Ready::Readable => {
                    if write && self.write_some().is_err() {
                        return Wait::Closed;
                    }
                    let before = self.received;
                    match self.read_once() {
                        Some(true) => return Wait::Read((self.received - before) as usize),
                        Some(false) => return Wait::Closed,
                        None => {}
                    }
                }
                Ready::TimedOut if slice < left => {}
                Ready::TimedOut => return Wait::TimedOut,
                Ready::IdleClose => return Wait::Stopping,
                Ready::Abort => return Wait::Closed,
            }
        }
    }

    /// Hand the session what the client has sent already, without
    /// waiting (at most [`AVAILABLE_READS`] reads); false when the
    /// connection is closed or failed.
    fn read_available(&mut self) -> bool {
        for _ in 0..AVAILABLE_READS {
            match self.read_once() {
                Some(true) => {}
                None => return true,
                Some(false) => return false,
            }
        }
        true
    }

    /// Act on the session's events: requests queued, bodies kept for
    /// their handlers, resets marked.
    pub(super) fn drain_events(&mut self) {
        let now = (SystemTime::now(), Instant::now());
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Request {
                    stream,
                    head,
                    end_stream,
                    ..
                } => {
                    self.inbound.insert(
                        stream,
                        Inbound {
                            ended: end_stream,
                            ..Inbound::default()
                        },
                    );
                    self.waiting.push_back(Waiting {
                        stream,
                        what: Received::Request(Box::new(head)),
                        started: now.0,
                        clock: now.1,
                    });
                }
                Event::Refused { stream, error } => self.waiting.push_back(Waiting {
                    stream,
                    what: Received::Refused(error),
                    started: now.0,
                    clock: now.1,
                }),
                Event::Data {
                    stream,
                    data,
                    end_stream,
                } => match self.inbound.get_mut(&stream) {
                    Some(i) if !i.gone && !i.discard => {
                        if !data.is_empty() {
                            i.data.push_back(data);
                        }
                        i.ended |= end_stream;
                    }
                    // Nobody will read it: the window goes back at once.
                    other => {
                        let done = other.is_some_and(|i| i.discard) && end_stream;
                        self.session.consume(stream, data.len());
                        if done {
                            self.inbound.remove(&stream);
                        }
                    }
                },
                Event::Trailers { stream, .. } => {
                    if let Some(i) = self.inbound.get_mut(&stream) {
                        i.ended = true;
                        if i.discard {
                            self.inbound.remove(&stream);
                        }
                    }
                }
                Event::Reset { stream, code } => {
                    log::debug!("HTTP/2 stream {stream} reset: {code:?}");
                    self.waiting.retain(|w| w.stream != stream);
                    if let Some(i) = self.inbound.get_mut(&stream) {
                        i.gone = true;
                        i.data.clear();
                        if i.discard {
                            self.inbound.remove(&stream);
                        }
                    }
                }
                Event::ConnectionError(e) => {
                    log::debug!("HTTP/2 connection from {}: {e}", self.io.info().peer);
                }
                Event::GoAway { .. } | Event::Writable { .. } | Event::Finished { .. } => {}
            }
        }
    }

    pub(super) fn set_state(&self, s: WorkerState) {
        if let Some(slot) = self.ctx.worker_slot {
            slot.set_state(s);
        }
    }

    /// Lingering close, as for HTTP/1.1 (see [`linger`]).
    fn linger(&mut self) {
        linger(&mut self.io, self.ctx, &mut self.rbuf);
    }
}

/// Lingering close, as for HTTP/1.1: stop sending, read and drop what
/// the client still sends for a short bounded time, so our last frames
/// (a GOAWAY) are not destroyed by a reset.
pub(super) fn linger(conn: &mut Connection, ctx: &ServeContext<'_>, buf: &mut [u8]) {
    if conn.shutdown_write().is_err() {
        return;
    }
    let until = Instant::now() + LINGER;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        match wait_readable(conn, ctx, left, false) {
            Ready::Readable => match conn.read_nonblocking(buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            },
            Ready::TimedOut | Ready::IdleClose | Ready::Abort => return,
        }
    }
}
