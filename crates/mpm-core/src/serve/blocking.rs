//! The blocking loop: one thread serves one connection, request after
//! request: waiting for bytes (bounded by the keep-alive, head and body
//! deadlines, and by the stop signals), reading heads into the session, and
//! the lingering close.

use std::cell::Cell;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::time::{Duration, Instant, SystemTime};

use nix::poll::{PollFd, PollFlags};

use super::context::{After, ConnStats, Ready, ServeContext, Serving, LINGER, READ_CHUNK};
use super::handoff::ServeBuffers;
use crate::deadline::read::ReadDeadline;
use crate::h1::{self as engine, HeadEvent, Session};
use crate::net::connection::Connection;
use crate::net::poll::poll_timeout;
use crate::process::scoreboard::WorkerState;

thread_local! {
    /// The read and write buffers of this thread's last connection, kept
    /// for its next one (a prefork child's, a worker thread's).
    static BUFFERS: Cell<Option<ServeBuffers>> = const { Cell::new(None) };
}

/// Serve `conn` until it closes. Never panics on the peer's bytes; a
/// handler that panics gets its client a 500 and the connection closed.
pub fn serve_connection(mut conn: Connection, ctx: &ServeContext<'_>) -> ConnStats {
    let t = &ctx.protocol.timeouts;
    if let Some(slot) = ctx.worker_slot {
        slot.set_state(WorkerState::Read);
    }
    if crate::net::proxy::read_blocking(&mut conn, ctx.abort).is_err() {
        return ConnStats::default();
    }
    // Accepted sockets are blocking (accept4 without SOCK_NONBLOCK), with
    // TCP_NODELAY inherited from the listening socket (`Listeners`). The
    // write timeout is set here: a listening socket's would reach only the
    // connections whose handshake completes after it was set (a child
    // that starts late would find earlier ones without it).
    let sock = socket2::SockRef::from(conn.tcp());
    let _ = sock.set_write_timeout(Some(t.timeout.max(Duration::from_millis(1))));
    if conn.is_tls() {
        // A TLS record may arrive in pieces after the poll said readable:
        // each read that waits for the rest is bounded by Timeout too.
        let _ = sock.set_read_timeout(Some(t.timeout.max(Duration::from_millis(1))));
        let server = &ctx.protocol.server_header;
        let shaken = crate::net::tls::handshake_blocking(&mut conn, t.timeout, ctx.abort, server);
        if let Some(counters) = ctx.counters {
            counters.tls_handshake(shaken.is_ok());
        }
        if let Err(e) = shaken {
            log::debug!("TLS handshake with {} failed: {e}", conn.info().peer);
            return ConnStats::default();
        }
    }
    if let Some(slot) = ctx.worker_slot {
        slot.add_connection();
    }
    // TLS with ALPN `h2`: HTTP/2 from the first byte.
    if conn.info().tls.as_ref().and_then(|t| t.alpn.as_deref()) == Some("h2") {
        return super::h2::serve_h2(conn, ctx, &[], None);
    }
    let direct = conn.http2_offer().direct;
    // This thread's buffers from its last connection: no allocation, and
    // no zeroing of a fresh read buffer, per connection.
    let mut bufs = BUFFERS.take().unwrap_or_default();
    let mut session = Session::new(&ctx.protocol.limits);
    let wbuf = bufs.lend(&mut session);
    let mut c = Serving {
        io: &mut conn,
        session: &mut session,
        ctx,
        stats: ConnStats::default(),
        wbuf,
        pending: None,
        tunnel: None,
        h2_upgrade: None,
    };
    // Prior knowledge: the preface in the first bytes.
    if direct && c.sniff_preface() {
        let early = c.take_buffered();
        bufs.take_back(c.session, std::mem::take(&mut c.wbuf));
        BUFFERS.set(Some(bufs));
        return super::h2::serve_h2(conn, ctx, &early, None);
    }
    c.run();
    // `Upgrade: h2c`: the 101 is sent, the rest is HTTP/2.
    let upgrade = c.h2_upgrade.take();
    let early = match upgrade {
        Some(_) => c.take_buffered(),
        None => Vec::new(),
    };
    bufs.take_back(c.session, std::mem::take(&mut c.wbuf));
    BUFFERS.set(Some(bufs));
    let before = c.stats;
    if let Some(upgrade) = upgrade {
        let mut stats = super::h2::serve_h2(conn, ctx, &early, Some(upgrade));
        stats.requests += before.requests;
        stats.body_bytes += before.body_bytes;
        return stats;
    }
    before
}

impl Serving<'_, '_> {
    /// Wait until the socket is readable, `timeout` passes, the abort
    /// signal fires, or (when `idle` is true) the idle-close signal fires.
    pub(super) fn wait(&self, timeout: Duration, idle: bool) -> Ready {
        wait_readable(self.io, self.ctx, timeout, idle)
    }

    /// Read more bytes into the session. `Ok(0)` is end of stream;
    /// `Err(InvalidData)` means the buffer is full at the head limit.
    pub(super) fn fill(&mut self) -> io::Result<usize> {
        self.fill_from(false)
    }

    /// As [`Serving::fill`], but `Err(WouldBlock)` instead of waiting.
    pub(super) fn fill_nonblocking(&mut self) -> io::Result<usize> {
        self.fill_from(true)
    }

    fn fill_from(&mut self, nonblocking: bool) -> io::Result<usize> {
        let room = self
            .session
            .space(READ_CHUNK)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "buffer full"))?;
        loop {
            let read = if nonblocking {
                self.io.read_nonblocking(room)
            } else {
                self.io.read(room)
            };
            match read {
                Ok(n) => {
                    self.session.filled(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    pub(super) fn run(&mut self) {
        let mut served: u32 = 0;
        let mut idle = IdleRead::default();
        loop {
            match self.exchange(served, &mut idle) {
                Some(After::KeepAlive) => {
                    served += 1;
                    self.session.shrink(false);
                }
                Some(After::Close) | None => break,
                Some(After::Tunnel) => {
                    if let Some(tunnel) = self.tunnel.take() {
                        self.run_tunnel(*tunnel);
                    }
                    break;
                }
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
    pub(super) fn exchange(&mut self, served: u32, idle: &mut IdleRead) -> Option<After> {
        let t = &self.ctx.protocol.timeouts;
        // Whether a read would find data without waiting: after a
        // keep-alive wait said so, or (likely) on a fresh connection whose
        // client sent its request with the handshake. Saves a poll per
        // request.
        let mut readable = false;
        let mut try_first = served == 0;
        // The first bytes of the next request, read while waiting for them.
        let mut early = None;
        // Between requests: wait for the first byte of the next one.
        if self.session.is_empty() {
            let (wait, state) = if served == 0 {
                (None, WorkerState::Read)
            } else {
                (Some(t.keep_alive_timeout), WorkerState::KeepAlive)
            };
            self.set_state(state);
            if let Some(wait) = wait {
                if self.reads_idle() {
                    early = Some(self.read_idle(wait, idle)?);
                } else {
                    match self.wait(wait, true) {
                        Ready::Readable => readable = true,
                        Ready::TimedOut | Ready::IdleClose | Ready::Abort => return None,
                    }
                }
            }
        }
        self.set_state(WorkerState::Read);
        let started = SystemTime::now();
        let clock = Instant::now();
        let mut deadline = ReadDeadline::new(t.request_read.header, clock);
        if let Some(n) = early {
            deadline.on_data(n);
        }
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
        if let Some(settings) = self.wants_h2c(&head) {
            return Some(match self.switch_to_h2(head, settings, started, clock) {
                Ok(()) => After::Close,
                Err(_) => After::Close,
            });
        }
        let mut head = head;
        Some(self.answer(&mut head, served + 1, started, clock))
    }

    /// Whether the wait for a keep-alive connection's next request is a
    /// blocking read ([`Serving::read_idle`]) rather than a `poll` and a
    /// read: on plain TCP, on a thread that owns the connection, with no
    /// abort descriptor to watch (a forked child is stopped by a signal).
    fn reads_idle(&self) -> bool {
        matches!(self.ctx.mode, super::context::Mode::Blocking)
            && self.ctx.abort.is_none()
            && self.io.plain_tcp().is_some()
    }

    /// Wait up to `wait` for the next request of a keep-alive connection
    /// by reading it: one blocking `recv` (bounded by `SO_RCVTIMEO`, set
    /// once per connection to a slice of at most [`IDLE_SLICE`]) instead of
    /// a `poll` and a `recv` per request, as Apache's prefork children
    /// read. Between slices the thread looks whether it is told to leave
    /// (the `leaving` flag, the idle-close descriptor: a graceful restart
    /// or stop, the master gone), so such an idle connection closes within
    /// a slice.
    /// `Some(n)`: `n` bytes of the next request are in the session; `None`:
    /// close (keep-alive timeout, told to leave, the client closed, or an
    /// error).
    fn read_idle(&mut self, wait: Duration, idle: &mut IdleRead) -> Option<usize> {
        let until = crate::deadline::after(Instant::now(), wait);
        let readable = crate::net::poll::readable;
        let ctx = self.ctx;
        let told = || ctx.leaving.is_some_and(|l| l()) || ctx.idle_close.is_some_and(readable);
        // Not told to leave when the last answer was sent (`answer` looked):
        // the first look is after a slice.
        let mut first = true;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if !std::mem::take(&mut first) && (left < IDLE_EARLY || told()) {
                return None;
            }
            if left < IDLE_EARLY {
                // A wait of (almost) nothing: what has arrived, if anything.
                return match self.fill_nonblocking() {
                    Ok(n) if n > 0 => Some(n),
                    _ => None,
                };
            }
            // A slice that divides the wait evenly (the same for every
            // request of the connection: one `setsockopt` for them all);
            // shorter only when the timer woke early and a whole slice
            // would pass the keep-alive deadline.
            let whole = idle.slice(wait);
            let slice = if left + IDLE_EARLY >= whole {
                whole
            } else {
                left
            };
            if idle.set != Some(slice) {
                let sock = socket2::SockRef::from(self.io.tcp());
                sock.set_read_timeout(Some(slice)).ok()?;
                idle.set = Some(slice);
            }
            match self.fill() {
                Ok(0) => return None,
                Ok(n) => return Some(n),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return None,
            }
        }
    }

    /// The `HTTP2-Settings` of a request that asks for `h2c` where the
    /// address allows it (`H2Upgrade`), on a connection this thread owns
    /// (an event loop's lent connections stay HTTP/1.1).
    fn wants_h2c(&self, head: &crate::h1::RequestHead) -> Option<Vec<u8>> {
        if !matches!(self.ctx.mode, super::context::Mode::Blocking)
            || !self.io.http2_offer().upgrade
            || self.io.is_tls()
        {
            return None;
        }
        super::h2::asks_h2c(head)
    }

    /// Before the response to a request that asked to close the
    /// connection, with nothing more of the client's buffered (on a thread
    /// that owns the connection): hold back its last partial segment
    /// (`TCP_CORK`) so that the close sends it with the FIN, one segment
    /// instead of two. A client that asked to close sends nothing more;
    /// one that did anyway is answered by a reset that takes the held
    /// response with it (without the hold, the reset may still overtake
    /// it: such a client is not served reliably either way). Not for a
    /// streamed body, whose pieces must leave as they are made.
    pub(super) fn cork_for_close(&self, body: &crate::handler::Body) {
        use crate::handler::Body;
        if matches!(self.ctx.mode, super::context::Mode::Blocking)
            && matches!(
                body,
                Body::Empty | Body::Bytes(_) | Body::Kept { .. } | Body::File { .. }
            )
        {
            self.io.cork();
        }
    }

    pub(super) fn timeout_408(&mut self, started: SystemTime, clock: Instant) -> After {
        self.refuse(engine::timeout_error(), started, clock)
    }

    /// Lingering close: stop sending, then read and discard what the
    /// client still sends for a short bounded time, so the kernel does not
    /// answer it with a reset that would destroy our last response.
    ///
    /// Never inlined: its 4 KiB sink would sit in the frame of
    /// [`Serving::run`], under every request's calls, and each thread
    /// would touch a page of stack more for it.
    #[inline(never)]
    pub(super) fn linger(&mut self) {
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

/// Longest slice of a keep-alive wait by a blocking read
/// ([`Serving::read_idle`]): how long a graceful restart or stop may take
/// to close an idle keep-alive connection of a blocking strategy's child.
const IDLE_SLICE: Duration = Duration::from_secs(1);

/// A keep-alive wait with less than this left ends (a timer may fire a
/// little early; a read timeout of zero would mean none).
const IDLE_EARLY: Duration = Duration::from_millis(2);

/// The read timeout ([`Serving::read_idle`]) a connection's socket has.
#[derive(Debug, Default)]
pub(super) struct IdleRead {
    /// `SO_RCVTIMEO` as last set on this connection (`None`: never).
    set: Option<Duration>,
}

impl IdleRead {
    /// The slice of a keep-alive wait of `wait`: `wait` split into equal
    /// parts of at most [`IDLE_SLICE`].
    fn slice(&self, wait: Duration) -> Duration {
        let parts = wait.as_nanos().div_ceil(IDLE_SLICE.as_nanos()).max(1);
        let parts = u32::try_from(parts).unwrap_or(u32::MAX);
        (wait / parts).max(IDLE_EARLY)
    }
}

/// Wait until `io` is readable, `timeout` passes, the abort signal of
/// `ctx` fires, or (when `idle` is true) its idle-close signal fires. The
/// one wait of the blocking drivers (HTTP/1.1's and HTTP/2's).
pub(super) fn wait_readable(
    io: &Connection,
    ctx: &ServeContext<'_>,
    timeout: Duration,
    idle: bool,
) -> Ready {
    wait_io(io, ctx, timeout, idle, false)
}

/// As [`wait_readable`]; with `write`, a socket that can take more bytes
/// is [`Ready::Readable`] too (the caller tries both directions without
/// waiting: HTTP/2's driver, which must go on reading while it writes).
pub(super) fn wait_io(
    io: &Connection,
    ctx: &ServeContext<'_>,
    timeout: Duration,
    idle: bool,
    write: bool,
) -> Ready {
    // TLS may hold decrypted bytes the socket no longer shows.
    if io.has_buffered_plaintext() {
        return Ready::Readable;
    }
    let interest = if write {
        PollFlags::POLLIN | PollFlags::POLLOUT
    } else {
        PollFlags::POLLIN
    };
    // Only the descriptors this wait watches: every entry costs the kernel
    // a poll of its file and a wait-queue entry, even one with no events.
    let mut fds = [PollFd::new(io.as_fd(), interest); 3];
    let mut n = 1;
    let abort = ctx.abort.map(|fd| {
        fds[n] = PollFd::new(fd, PollFlags::POLLIN);
        n += 1;
        n - 1
    });
    let idle_close = ctx.idle_close.filter(|_| idle).map(|fd| {
        fds[n] = PollFd::new(fd, PollFlags::POLLIN);
        n += 1;
        n - 1
    });
    let fds = &mut fds[..n];
    let fired = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
    let deadline = crate::deadline::after(Instant::now(), timeout);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match nix::poll::poll(fds, poll_timeout(Some(left))) {
            Ok(0) => return Ready::TimedOut,
            Ok(_) => {
                if abort.is_some_and(|i| fired(&fds[i])) {
                    return Ready::Abort;
                }
                // Told to close idle connections: unless this one's
                // next request has begun to arrive, which is answered
                // (a close with unread bytes would reset the
                // connection under a client that has just sent it), as
                // the event loop does.
                let incoming = fds[0].revents().is_some_and(|r| {
                    r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
                });
                if idle_close.is_some_and(|i| fired(&fds[i])) && !incoming {
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
