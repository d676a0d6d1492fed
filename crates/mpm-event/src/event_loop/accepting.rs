//! Accepting: the listeners in the loop's poll set (level-triggered,
//! `EPOLLEXCLUSIVE`), admission by the worker queue's length, the
//! descriptor budget, and new connections (TLS handshakes included).

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use mio::unix::SourceFd;
use mio::{Interest, Token};
use mpm_core::deadline::after;
use mpm_core::deadline::read::ReadDeadline;
use mpm_core::h1::Session;
use mpm_core::net::accept::AcceptFailure;
use mpm_core::net::tls;
use mpm_core::net::tls_stream::{self, HandshakeStatus};
use mpm_core::{Connection, Listener};

use super::held::{HeadTimes, Held, State};
use super::{Loop, LISTENER_BASE};

/// Connections a leaving child's last pass takes from each listener (what
/// the kernel queued for it), at most.
const DRAIN_BATCH: usize = 64;
/// Accepting pauses this long when descriptors run out.
const PAUSE: Duration = Duration::from_millis(100);

impl Loop<'_, '_> {
    /// Put the listeners in the poll set, or take them out. They are
    /// registered with `EPOLLEXCLUSIVE` (and level-triggered), directly
    /// with `epoll_ctl` on mio's epoll descriptor: mio offers no way to
    /// ask for that flag, and its Linux selector takes an event's 64-bit
    /// data as the token, which is what is written here.
    pub(super) fn set_accepting(&mut self, on: bool) {
        if on == self.accepting {
            return;
        }
        let epfd = self.poll.as_raw_fd();
        for (i, l) in self.cx.listeners.iter().enumerate() {
            let fd = l.socket.as_raw_fd();
            let r = if on {
                let mut ev = libc::epoll_event {
                    events: (libc::EPOLLIN | libc::EPOLLEXCLUSIVE) as u32,
                    u64: (LISTENER_BASE + i) as u64,
                };
                // SAFETY: both descriptors are open (the poll's and the
                // listener's, which outlive the loop) and `ev` is a valid
                // epoll_event for the duration of the call.
                unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) }
            } else {
                // SAFETY: as above; EPOLL_CTL_DEL ignores the event pointer.
                unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) }
            };
            if r < 0 {
                let e = io::Error::last_os_error();
                log::error!("could not change accepting on {}: {e}", l.name);
            }
        }
        self.accepting = on;
    }

    /// Whether the loop should take new connections now.
    pub(super) fn regulate(&mut self, now: Instant) {
        if self.leaving {
            self.set_accepting(false);
            return;
        }
        if self.paused_until.is_some_and(|p| now >= p) {
            self.paused_until = None;
        }
        let queued = self.shared.queued.load(Ordering::Relaxed);
        let factor =
            (self.cx.mpm.directives().async_request_worker_factor.max(1) as usize) * self.threads;
        let room = if self.accepting {
            queued <= factor
        } else {
            queued <= self.threads
        };
        let fds = self.fds_held() < self.fd_budget || self.counts.keepalive > 0;
        self.set_accepting(room && fds && self.paused_until.is_none());
    }

    /// Descriptors the connections hold: one each, two for a tunnel.
    fn fds_held(&self) -> usize {
        self.live + self.counts.tunnels as usize
    }

    pub(super) fn accept(&mut self, index: usize) {
        self.accept_from(index, false);
    }

    /// Accept from listener `index`; `last`: the pass of a child that is
    /// leaving, which takes what is already queued for it and no more.
    ///
    /// In a quiet turn (the listener's event was the poll's only one),
    /// one connection, as nginx's `multi_accept off`: the listeners are
    /// level-triggered, so a connection still queued is reported again by
    /// the next poll, at once, and accepting does not go on to an
    /// `accept4` that only says `EAGAIN`. In a busy turn, up to
    /// [`DRAIN_BATCH`] until the queue is empty: a crowd of connections
    /// does not wait a turn of the loop each (the `EAGAIN` is shared by
    /// all the turn's work).
    pub(super) fn accept_from(&mut self, index: usize, last: bool) {
        let Some(l) = self.cx.listeners.get(index) else {
            return;
        };
        let batch = if last || self.busy_turn {
            DRAIN_BATCH
        } else {
            1
        };
        for _ in 0..batch {
            if !self.accepting || (self.leaving && !last) {
                return;
            }
            if self.fds_held() >= self.fd_budget {
                let live = self.live;
                self.short_of_descriptors(&format_args!(
                    "{live} connections held (tunnels count twice), all this process's \
                     open-file limit leaves room for"
                ));
                if !self.close_oldest_idle() {
                    self.pause();
                    return;
                }
            }
            match accept_nonblocking(&l.socket) {
                Ok((stream, peer)) => {
                    self.shortages.accepted();
                    self.add(stream, peer, index, l);
                    self.accepted += 1;
                    self.process
                        .connections_served
                        .fetch_add(1, Ordering::Relaxed);
                    let limit = self.cx.mpm.directives().max_connections_per_child;
                    if last {
                        continue;
                    }
                    if limit > 0 && self.accepted >= limit {
                        self.begin_leaving();
                        return;
                    }
                }
                Err(e) => match AcceptFailure::of(&e) {
                    AcceptFailure::Retry if e.kind() == io::ErrorKind::WouldBlock => return,
                    AcceptFailure::Retry | AcceptFailure::ClientGone => {}
                    AcceptFailure::Shortage => {
                        self.short_of_descriptors(&format_args!("accept failed: {e}"));
                        if !self.close_oldest_idle() {
                            self.pause();
                            return;
                        }
                    }
                    AcceptFailure::NotListening => {
                        self.begin_leaving();
                        return;
                    }
                    AcceptFailure::Other => {
                        log::error!("accept failed: {e}");
                        return;
                    }
                },
            }
        }
    }

    /// Descriptors ran short: said once per episode, not once per
    /// connection closed to make room.
    pub(super) fn short_of_descriptors(&mut self, what: &dyn std::fmt::Display) {
        self.shortages.short(
            what,
            "closing the oldest idle keep-alive connections to make room, and pausing \
             accepts 100 ms at a time while there is none to close",
        );
    }

    pub(super) fn pause(&mut self) {
        self.paused_until = Some(Instant::now() + PAUSE);
        self.set_accepting(false);
    }

    pub(super) fn add(&mut self, stream: TcpStream, peer: SocketAddr, index: usize, l: &Listener) {
        // TCP_NODELAY comes from the listening socket (set once there,
        // before `listen`: mpm_core's listeners), not a call per
        // connection.
        let conn = match Connection::accepted(stream, peer, index, l) {
            Ok(c) => c,
            Err(e) => {
                log::debug!("connection lost before it was served: {e}");
                return;
            }
        };
        let k = match self.free.pop() {
            Some(k) => k,
            None => {
                self.conns.push(None);
                self.conns.len() - 1
            }
        };
        let now = self.now;
        self.conns[k] = Some(Held {
            conn: Some(conn),
            state: State::Worker,
            served: 0,
            deadline: None,
            armed: None,
            may_read: false,
            left_in_socket: false,
            keepalive_turn: 0,
            h2_idle: false,
            session: Session::new(&self.protocol.limits),
            head: HeadTimes {
                rd: ReadDeadline::new(self.protocol.timeouts.request_read.header, now),
                last: now,
                started: SystemTime::UNIX_EPOCH,
                clock: now,
            },
            watched: false,
        });
        self.live += 1;
        // Registered in the poll set when the loop is about to wait for it
        // (`Loop::watch_new`) or lends it: a connection answered and
        // closed in its first turn costs no `epoll_ctl`.
        self.unwatched.push(k);
        // Its first bytes are there already when the listener waits for
        // them (`AcceptFilter http data`, the default): read at once, not
        // after a poll that would only report them.
        let early = self.defers.get(index).copied().unwrap_or(false);
        let conn = self.conns[k].as_ref().and_then(|s| s.conn.as_ref());
        if conn.is_some_and(|c| c.handshake_pending()) {
            // A PROXY header has its own deadline; a TLS handshake, Timeout.
            let deadline = conn.and_then(|c| c.proxy_deadline());
            self.set_state(k, State::Handshake);
            self.set_deadline(
                k,
                Some(deadline.unwrap_or_else(|| after(now, self.protocol.timeouts.timeout))),
            );
            if early {
                self.handshake(k);
            }
        } else {
            self.enter_head(k, None, now);
            if early {
                // Not registered yet: the registration reports whatever
                // arrives after this read, so a short read has emptied
                // the socket for now.
                self.read_head_from(k, true);
            }
        }
    }

    /// Put connection `k` in the poll set if it is not there yet, before
    /// the loop waits for it or lends it (a worker, an HTTP/2 owner). The
    /// registration reports the socket's state at once (bytes or room
    /// that came before it included), so nothing is missed. A connection
    /// that cannot be watched is closed.
    pub(super) fn watch(&mut self, k: usize) {
        let Some(held) = self.conns.get_mut(k).and_then(|s| s.as_mut()) else {
            return;
        };
        if held.watched {
            return;
        }
        let Some(conn) = held.conn.as_ref() else {
            return;
        };
        let fd = conn.as_raw_fd();
        match self.poll.registry().register(
            &mut SourceFd(&fd),
            Token(k),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            Ok(()) => held.watched = true,
            Err(e) => {
                log::error!("could not watch a new connection: {e}; closing it");
                self.close(k);
            }
        }
    }

    /// Watch the connections accepted this turn that are still held.
    pub(super) fn watch_new(&mut self) {
        while let Some(k) = self.unwatched.pop() {
            self.watch(k);
        }
    }

    /// Drive the reading of a PROXY header and a TLS handshake as far as
    /// the socket lets them.
    pub(super) fn handshake(&mut self, k: usize) {
        let protocol = self.protocol;
        let counters = self.cx.scoreboard.counters();
        let Some(conn) = self.held(k).and_then(|s| s.conn.as_mut()) else {
            return;
        };
        let awaiting_proxy = conn.proxy_deadline().is_some();
        match conn.handshake_step() {
            Ok(HandshakeStatus::Done) => {
                if conn.is_tls() {
                    counters.tls_handshake(true);
                }
                let h2 = conn.info().tls.as_ref().and_then(|t| t.alpn.as_deref()) == Some("h2");
                if h2 {
                    // ALPN chose HTTP/2: the loop owns it from now on.
                    self.watch(k);
                    self.start_h2(k, &[], None);
                    return;
                }
                self.enter_head(k, None, self.now);
                // The client's first request may have come with its last
                // handshake flight.
                self.read_head(k);
            }
            Ok(HandshakeStatus::WantRead) | Ok(HandshakeStatus::WantWrite) => {
                if awaiting_proxy && conn.proxy_deadline().is_none() {
                    // The PROXY header is read; the TLS handshake has Timeout.
                    let deadline = after(Instant::now(), protocol.timeouts.timeout);
                    self.set_deadline(k, Some(deadline));
                }
            }
            Err(e) if tls_stream::is_plain_http(&e) => {
                counters.tls_handshake(false);
                log::debug!("plain HTTP on a TLS port from {}", conn.info().peer);
                // One small write into an empty socket buffer: it fits.
                let answer = tls::plain_http_response(&protocol.server_header);
                let _ = conn.write_plain(&answer);
                self.linger(k, Instant::now());
            }
            Err(e) => {
                // A refused PROXY header (still awaited) was logged where it
                // was read, and is no TLS failure.
                if conn.proxy_deadline().is_none() {
                    counters.tls_handshake(false);
                    log::debug!("TLS handshake with {} failed: {e}", conn.info().peer);
                }
                self.close(k);
            }
        }
    }
}

/// `accept4` with `SOCK_NONBLOCK`: the new socket is born non-blocking, so
/// accepting costs one system call, not two.
pub(super) fn accept_nonblocking(l: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let lfd: RawFd = l.as_raw_fd();
    // SAFETY: `try_init` hands a zeroed sockaddr_storage and its length to
    // the closure, which passes them to accept4 as the kernel expects; the
    // length is updated by the kernel to what it wrote.
    let (fd, addr) = unsafe {
        socket2::SockAddr::try_init(|storage, len| {
            let fd = libc::accept4(
                lfd,
                storage.cast(),
                len,
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            );
            if fd < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(fd)
            }
        })?
    };
    // SAFETY: accept4 returned a new descriptor that nothing else owns.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    let peer = addr
        .as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP peer"))?;
    Ok((stream, peer))
}
