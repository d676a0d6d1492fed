//! A connection handed over after `101 Switching Protocols`: the bytes
//! copied both ways between the client and another socket (a backend),
//! until both sides have closed, or neither has sent a byte for the
//! tunnel's idle timeout.
//!
//! A handler answers 101 with [`Body::Tunnel`](crate::Body::Tunnel) and a
//! [`Tunnel`]: the socket to join the client to, the bytes it already
//! read from that socket (they go to the client first) and the idle
//! timeout. The driver writes the 101 head (with `Connection: Upgrade`),
//! gives the tunnel the bytes the client sent after its request head, and
//! copies. One copying mechanism, [`Tunnel::pump`], serves every
//! strategy: it moves what both sockets allow without waiting, and says
//! which readiness it needs next.
//!
//! - The blocking driver (prefork, worker) keeps the tunnel on its thread
//!   (as Apache does) and waits with `poll(2)` on both sockets, the stop
//!   signal and the idle timeout ([`Tunnel`] is run by `serve_connection`).
//! - The event loop registers the other socket beside the client's and
//!   pumps on their events, with no thread
//!   ([`Handback::tunnel`](super::Handback::tunnel)).
//!
//! Each direction reads into the caller's scratch buffer and writes at
//! once; only what the other side would not take is kept, in a buffer of
//! that direction made then and freed once written. While it waits, that
//! direction's source is not read (back-pressure). So an idle tunnel holds
//! no buffer. An end of stream on one side is passed on as a half-close
//! (`shutdown(SHUT_WR)`, after a TLS `close_notify`) once what came
//! before it is written; the other direction goes on until it ends too,
//! bounded by the idle timeout.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags};

use super::context::Serving;
use crate::net::connection::Connection;
use crate::net::poll::poll_timeout;
use crate::process::scoreboard::WorkerState;

/// Most reads (of up to the scratch buffer each) one [`Tunnel::pump`]
/// makes before it lets the caller serve others; it says
/// [`Pumped::more`] then.
const PUMP_BUDGET: usize = 32;

/// The client's connection joined to another socket after a 101.
pub struct Tunnel {
    peer: TcpStream,
    /// Client → peer.
    up: Direction,
    /// Peer → client.
    down: Direction,
    idle_timeout: Duration,
}

/// One direction of a tunnel.
#[derive(Default)]
struct Direction {
    /// Bytes read and not yet written, from `at`; empty (no allocation)
    /// while nothing waits.
    held: Vec<u8>,
    at: usize,
    /// Its source may have bytes (or an end) to read.
    readable: bool,
    /// Its destination may take bytes.
    writable: bool,
    /// Its source has ended.
    ended: bool,
    /// Its destination has been told (half-closed).
    shut: bool,
}

impl Direction {
    fn fresh() -> Direction {
        Direction {
            readable: true,
            writable: true,
            ..Direction::default()
        }
    }

    fn waiting(&self) -> bool {
        self.at < self.held.len()
    }

    fn hold(&mut self, bytes: &[u8]) {
        self.held.extend_from_slice(bytes);
    }

    /// The held bytes were written: give their memory back.
    fn written(&mut self, n: usize) {
        self.at += n;
        if self.at >= self.held.len() {
            self.held = Vec::new();
            self.at = 0;
        }
    }
}

/// What one [`Tunnel::pump`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pumped {
    /// Some byte (or an end of stream) moved: the idle timeout starts over.
    pub moved: bool,
    /// It stopped at its budget with work left: call again soon (no
    /// readiness event will come for it).
    pub more: bool,
}

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnel")
            .field("peer", &self.peer)
            .field("up_held", &(self.up.held.len() - self.up.at))
            .field("down_held", &(self.down.held.len() - self.down.at))
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

impl Tunnel {
    /// A tunnel to `peer` that ends after `idle_timeout` without a byte
    /// either way.
    pub fn new(peer: TcpStream, idle_timeout: Duration) -> Tunnel {
        Tunnel {
            peer,
            up: Direction::fresh(),
            down: Direction::fresh(),
            idle_timeout: idle_timeout.max(Duration::from_millis(1)),
        }
    }

    /// Bytes already read from the peer (after its 101 head): the client
    /// gets them first.
    pub fn with_to_client(mut self, bytes: &[u8]) -> Tunnel {
        self.down.hold(bytes);
        self
    }

    /// Bytes the client sent after its request head: the peer gets them
    /// first. The driver calls this with what it had read.
    pub fn push_to_peer(&mut self, bytes: &[u8]) {
        self.up.hold(bytes);
    }

    /// The other socket.
    pub fn peer(&self) -> &TcpStream {
        &self.peer
    }

    /// The idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// Both directions have ended and been passed on: the tunnel is over.
    pub fn is_done(&self) -> bool {
        self.up.shut && self.down.shut
    }

    /// Bytes held in the tunnel's buffers (not counting the sockets').
    pub fn held(&self) -> usize {
        self.up.held.capacity() + self.down.held.capacity()
    }

    /// Readiness came: the client's socket is readable (or closed) and/or
    /// writable.
    pub fn client_ready(&mut self, readable: bool, writable: bool) {
        self.up.readable |= readable;
        self.down.writable |= writable;
    }

    /// Readiness came on the peer's socket.
    pub fn peer_ready(&mut self, readable: bool, writable: bool) {
        self.down.readable |= readable;
        self.up.writable |= writable;
    }

    /// What to wait for: (client readable, client writable, peer
    /// readable, peer writable). Reading a side is wanted only while the
    /// other side has room (nothing of it held).
    pub fn wants(&self, client: &Connection) -> (bool, bool, bool, bool) {
        let down_waits = self.down.waiting() || client.wants_write();
        (
            !self.up.ended && !self.up.waiting(),
            down_waits,
            !self.down.ended && !down_waits,
            self.up.waiting(),
        )
    }

    /// Move what the sockets allow now, without waiting (both sockets
    /// must be non-blocking). An error ends the tunnel.
    pub fn pump(&mut self, client: &mut Connection, scratch: &mut [u8]) -> io::Result<Pumped> {
        let mut moved = false;
        let mut reads = 0;
        loop {
            let mut progress = false;
            // Client → peer.
            progress |= flush_to(&mut self.up, &mut Peer(&self.peer))?;
            self.up.readable |= client.has_buffered_plaintext();
            progress |= read_into(
                &mut self.up,
                client,
                &mut Peer(&self.peer),
                scratch,
                &mut reads,
            )?;
            if self.up.ended && !self.up.waiting() && !self.up.shut {
                self.up.shut = true;
                progress = true;
                // The peer may be gone already: its own end comes as an
                // end of stream or an error on the other direction.
                let _ = self.peer.shutdown(Shutdown::Write);
            }
            // Peer → client.
            progress |= flush_to(&mut self.down, client)?;
            progress |= read_into(
                &mut self.down,
                &mut Peer(&self.peer),
                client,
                scratch,
                &mut reads,
            )?;
            if self.down.ended && !self.down.waiting() && !self.down.shut {
                // TLS bytes still queued go before the close_notify.
                match client.flush() {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.down.writable = false;
                    }
                    Err(e) => return Err(e),
                    Ok(()) => {
                        self.down.shut = true;
                        progress = true;
                        let _ = client.shutdown_write();
                    }
                }
            }
            moved |= progress;
            if !progress || self.is_done() {
                return Ok(Pumped { moved, more: false });
            }
            if reads >= PUMP_BUDGET {
                return Ok(Pumped { moved, more: true });
            }
        }
    }
}

/// The peer's socket as a reader and writer that never waits.
struct Peer<'a>(&'a TcpStream);

impl Read for Peer<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut s = self.0;
        s.read(buf)
    }
}

impl Write for Peer<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut s = self.0;
        s.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Write what `dir` holds (and flush a TLS layer's queue); true when
/// something left.
fn flush_to(dir: &mut Direction, dst: &mut dyn Write) -> io::Result<bool> {
    let mut progress = false;
    while dir.writable && dir.waiting() {
        match dst.write(&dir.held[dir.at..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                dir.written(n);
                progress = true;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => dir.writable = false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if dir.writable {
        match dst.flush() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => dir.writable = false,
            Err(e) => return Err(e),
        }
    }
    Ok(progress)
}

/// Read once from `src` when `dir` has room, and write it on to `dst` at
/// once; what `dst` does not take is held. True when something moved (an
/// end of stream included).
fn read_into(
    dir: &mut Direction,
    src: &mut dyn Read,
    dst: &mut dyn Write,
    scratch: &mut [u8],
    reads: &mut usize,
) -> io::Result<bool> {
    if dir.ended || dir.waiting() || !dir.readable {
        return Ok(false);
    }
    *reads += 1;
    let n = loop {
        match src.read(scratch) {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                dir.readable = false;
                return Ok(false);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    };
    if n == 0 {
        dir.ended = true;
        return Ok(true);
    }
    let mut done = 0;
    while dir.writable && done < n {
        match dst.write(&scratch[done..n]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(w) => done += w,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => dir.writable = false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if done < n {
        dir.hold(&scratch[done..n]);
    }
    Ok(true)
}

impl Serving<'_, '_> {
    /// Hold the tunnel on this thread (the blocking driver) until it ends:
    /// both sides closed, the idle timeout, an error, or a stop that does
    /// not wait (the abort signal). A graceful stop lets it run, as Apache
    /// does; the master's `GracefulShutdownTimeout` bounds it.
    pub(super) fn run_tunnel(&mut self, mut tunnel: Tunnel) {
        self.set_state(WorkerState::Write);
        let nonblocking = self.io.tcp().set_nonblocking(true).is_ok()
            && tunnel.peer().set_nonblocking(true).is_ok();
        if !nonblocking {
            log::error!(
                "tunnel from {}: the sockets could not be made non-blocking",
                self.io.info().peer
            );
            return;
        }
        self.io.set_nonblocking_mode(true);
        let mut scratch = vec![0u8; 16 * 1024];
        let idle = tunnel.idle_timeout();
        let mut last = Instant::now();
        loop {
            let pumped = match tunnel.pump(self.io, &mut scratch) {
                Ok(p) => p,
                Err(e) => {
                    log::debug!("tunnel from {} ended: {e}", self.io.info().peer);
                    return;
                }
            };
            if tunnel.is_done() {
                return;
            }
            let now = Instant::now();
            if pumped.moved {
                last = now;
            }
            if pumped.more {
                continue;
            }
            let left = idle.saturating_sub(now.duration_since(last));
            if left.is_zero() {
                log::info!(
                    "tunnel from {} closed after {} s without a byte either way",
                    self.io.info().peer,
                    idle.as_secs_f64()
                );
                return;
            }
            let (cr, cw, pr, pw) = tunnel.wants(self.io);
            let flags = |r: bool, w: bool| {
                let mut f = PollFlags::empty();
                if r {
                    f |= PollFlags::POLLIN;
                }
                if w {
                    f |= PollFlags::POLLOUT;
                }
                f
            };
            let none = PollFlags::empty();
            let client_fd = self.io.as_fd();
            let peer_fd = tunnel.peer().as_fd();
            let mut fds = [
                PollFd::new(client_fd, flags(cr, cw)),
                PollFd::new(peer_fd, flags(pr, pw)),
                PollFd::new(client_fd, none),
            ];
            if let Some(abort) = self.ctx.abort {
                fds[2] = PollFd::new(abort, PollFlags::POLLIN);
            }
            match nix::poll::poll(&mut fds, poll_timeout(Some(left))) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    log::error!("tunnel from {}: poll failed: {e}", self.io.info().peer);
                    return;
                }
            }
            let got = |f: &PollFd<'_>| f.revents().unwrap_or(PollFlags::empty());
            let (c, p, a) = (got(&fds[0]), got(&fds[1]), got(&fds[2]));
            if self.ctx.abort.is_some() && !a.is_empty() {
                return;
            }
            let gone = PollFlags::POLLHUP | PollFlags::POLLERR;
            let r = PollFlags::POLLIN | gone;
            let w = PollFlags::POLLOUT | gone;
            tunnel.client_ready(c.intersects(r), c.intersects(w));
            tunnel.peer_ready(p.intersects(r), p.intersects(w));
        }
    }
}
