//! The threads that serve a connection's streams for the thread that
//! owns it ([`StreamPool`]: what a threaded strategy whose connection
//! threads own their HTTP/2 sessions, worker, lends the serving code in
//! [`ServeContext::streams`]), and the driver that makes such a thread
//! the owner of its connection's session ([`H2Owner`]) and hands the
//! streams over (`serve_pooled`, picked by [`super::serve_h2`]).

use std::collections::VecDeque;
use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use nix::poll::{PollFd, PollFlags};
use nix::sys::eventfd::{EfdFlags, EventFd};

use super::conn::{linger, READ_CHUNK};
use super::{H2Owner, StreamJob, Upgrade, Wake};
use crate::net::connection::Connection;
use crate::net::poll::poll_timeout;
use crate::process::scoreboard::WorkerState;
use crate::serve::context::{ConnStats, ServeContext};

/// One HTTP/2 stream's work for a pool thread: its handler called and
/// its response handed back to the connection's owner. It is run with
/// the context of the thread that takes it (its scoreboard slot shows
/// the stream's request), and it must end by itself: a stream whose
/// connection is gone fails its reads and writes at once.
pub type StreamWork = Box<dyn FnOnce(&ServeContext<'_>) + Send>;

/// Threads that serve the streams of the HTTP/2 connections the
/// strategy's threads own.
///
/// A thread whose connection speaks HTTP/2 asks to [`attach`] as its
/// owner, and is told its share: how many of its streams it may keep
/// with the pool at once (queued or running). It hands each stream to
/// [`submit`], at most its share at a time; its other streams wait with
/// it, in arrival order, until one of those ends. The share keeps one
/// connection from taking every thread of the process (what is left
/// serves other connections). A share of 0 means the pool cannot take
/// this connection's streams: the thread serves them itself, one at a
/// time. An owner that attached detaches when its connection ends
/// ([`Attached`] does it on drop).
///
/// [`attach`]: StreamPool::attach
/// [`submit`]: StreamPool::submit
pub trait StreamPool: Sync {
    /// Become an owner whose streams the pool serves: its share (see the
    /// trait docs), or 0 when it serves them itself.
    fn attach(&self) -> usize;

    /// An owner that attached is done: it hands over no more streams.
    fn detach(&self);

    /// Run `job` on a free thread, or queue it (in order) until one is.
    /// The pool runs every job it took, a leaving process included.
    fn submit(&self, job: StreamWork);
}

/// An owner attached to its pool, detached on drop (a panic included).
pub struct Attached<'a> {
    pool: &'a dyn StreamPool,
    /// The owner's share ([`StreamPool::attach`]), at least 1.
    pub share: usize,
}

impl<'a> Attached<'a> {
    /// Attach to `pool`: `None` when the owner serves its streams
    /// itself.
    pub fn to(pool: &'a dyn StreamPool) -> Option<Attached<'a>> {
        match pool.attach() {
            0 => None,
            share => Some(Attached { pool, share }),
        }
    }

    /// Hand `job` to the pool.
    pub fn submit(&self, job: StreamWork) {
        self.pool.submit(job);
    }
}

impl Drop for Attached<'_> {
    fn drop(&mut self) {
        self.pool.detach();
    }
}

/// The owner's wake-up: a non-blocking eventfd (one descriptor, where a
/// pipe takes two) that a stream's thread adds to, and the owner's poll
/// watches; written once until the owner looks (streams that finish
/// together wake it once).
struct WakeFd {
    fd: EventFd,
    /// A wake-up was written that the owner has not taken yet.
    pending: AtomicBool,
}

impl WakeFd {
    fn new() -> io::Result<WakeFd> {
        let fd = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?;
        Ok(WakeFd {
            fd,
            pending: AtomicBool::new(false),
        })
    }

    /// Wake the owner, unless a wake-up is pending already.
    fn wake(&self) {
        if !self.pending.swap(true, Ordering::AcqRel) {
            let _ = self.fd.write(1);
        }
    }

    /// The owner's own thread is about to poke its streams (answering
    /// them itself): no wake-up is written until the guard drops, since
    /// the owner drives next anyway and takes the news then (and what
    /// other threads poke meanwhile with it). A wake-up already pending
    /// stays so.
    fn quiet(&self) -> Quiet<'_> {
        Quiet {
            fd: self,
            was_pending: self.pending.swap(true, Ordering::AcqRel),
        }
    }

    /// Take the wake-ups that came; the owner looks at its streams next.
    /// The counter is emptied (one read takes it whole) before a new
    /// wake-up may write: whoever wakes meanwhile finds one pending, and
    /// what it says is seen by that look; whoever wakes after writes
    /// again.
    fn drain(&self) {
        let _ = self.fd.read();
        self.pending.store(false, Ordering::Release);
    }
}

/// See [`WakeFd::quiet`].
struct Quiet<'a> {
    fd: &'a WakeFd,
    was_pending: bool,
}

impl Drop for Quiet<'_> {
    fn drop(&mut self) {
        if !self.was_pending {
            self.fd.pending.store(false, Ordering::Release);
        }
    }
}

/// A stream handed to the pool, counted until its job ends (a panic
/// included), when the owner is woken to hand over the next.
struct Handed {
    running: Arc<AtomicUsize>,
    wake: Arc<WakeFd>,
}

impl Drop for Handed {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::AcqRel);
        self.wake.wake();
    }
}

/// Serve `conn` as HTTP/2 with this thread as its owner ([`H2Owner`]),
/// its streams on `pool`'s threads: at most its share at once, the rest
/// waiting here in arrival order. The thread polls the socket, the
/// wake-up its streams' threads write to, and the stop signals; a
/// graceful stop says GOAWAY in two steps and serves every stream the
/// client sent before it; a hard stop closes at once. Returns the streams
/// handed out (their bytes are logged by each stream).
pub(super) fn serve_pooled(
    conn: Connection,
    ctx: &ServeContext<'_>,
    early: &[u8],
    upgraded: Option<Upgrade>,
    pool: Attached<'_>,
) -> ConnStats {
    let waker = match WakeFd::new() {
        Ok(p) => Arc::new(p),
        Err(e) => {
            log::error!(
                "HTTP/2 connection from {} closed: could not make its wake-up eventfd: {e} \
                 (raise the open-file limit, ulimit -n)",
                conn.info().peer
            );
            return ConnStats::default();
        }
    };
    let wake: Wake = {
        let waker = waker.clone();
        Arc::new(move || waker.wake())
    };
    // The HTTP/1.1 driver wrote the `101` of an upgrade already.
    let switched = upgraded.is_some();
    let mut owner = match H2Owner::new(conn, ctx.protocol, early, upgraded, wake) {
        Ok(owner) => owner,
        // An upgrade with invalid settings, or a socket that cannot be
        // made non-blocking: closed (logged by the owner).
        Err(_) => return ConnStats::default(),
    };
    if switched {
        owner.switched_already();
    }
    let running = Arc::new(AtomicUsize::new(0));
    let mut waiting: VecDeque<StreamJob> = VecDeque::new();
    let mut buf = vec![0u8; READ_CHUNK];
    let mut stats = ConnStats::default();
    let mut stopping = false;
    let set_state = |s: WorkerState| {
        if let Some(slot) = ctx.worker_slot {
            slot.set_state(s);
        }
    };
    loop {
        // Streams whose answer never blocks (static files) are answered
        // here, as event's loop answers them: no hand-over, no wake-up.
        stats.requests += owner.drive_answering(
            &mut buf,
            ctx.handler,
            &mut |run| {
                let _quiet = waker.quiet();
                run(ctx);
            },
            &mut |job| waiting.push_back(job),
        ) as u32;
        while running.load(Ordering::Acquire) < pool.share {
            let Some(job) = waiting.pop_front() else {
                break;
            };
            running.fetch_add(1, Ordering::AcqRel);
            stats.requests += 1;
            let handed = Handed {
                running: running.clone(),
                wake: waker.clone(),
            };
            pool.submit(Box::new(move |ctx| {
                job.run(ctx);
                drop(handed);
            }));
        }
        if owner.is_done() {
            break;
        }
        set_state(if owner.open_streams() == 0 {
            WorkerState::KeepAlive
        } else {
            WorkerState::Read
        });
        // TLS may hold decrypted bytes the socket no longer shows.
        if owner.connection().has_buffered_plaintext() {
            owner.ready(true, false);
            continue;
        }
        if owner.wants_drive() {
            continue;
        }
        match wait(&owner, &waker, ctx, stopping) {
            Woken::Deadline => owner.on_deadline(Instant::now()),
            Woken::Socket { readable, writable } => owner.ready(readable, writable),
            Woken::Streams => waker.drain(),
            Woken::Stop => {
                stopping = true;
                owner.begin_stop(Instant::now());
            }
            Woken::Abort => return stats,
        }
    }
    // Streams never handed out are cut with the connection.
    drop(waiting);
    set_state(WorkerState::Closing);
    let mut io = owner.into_connection();
    linger(&mut io, ctx, &mut buf);
    stats
}

/// What ended the owner's wait.
enum Woken {
    Socket {
        readable: bool,
        writable: bool,
    },
    /// A stream's thread has news.
    Streams,
    Deadline,
    /// A graceful stop or restart.
    Stop,
    /// A hard stop: close at once.
    Abort,
}

/// Wait for the socket (readable; writable when the owner has bytes to
/// write), the streams' wake-up, the stop signals (the graceful one until
/// `stopping`), or the owner's deadline.
fn wait(owner: &H2Owner, waker: &WakeFd, ctx: &ServeContext<'_>, stopping: bool) -> Woken {
    let sock = owner.connection().as_fd();
    let interest = if owner.wants_write() {
        PollFlags::POLLIN | PollFlags::POLLOUT
    } else {
        PollFlags::POLLIN
    };
    let none = PollFlags::empty();
    let mut fds = [
        PollFd::new(sock, interest),
        PollFd::new(waker.fd.as_fd(), PollFlags::POLLIN),
        PollFd::new(sock, none),
        PollFd::new(sock, none),
    ];
    if let Some(fd) = ctx.abort {
        fds[2] = PollFd::new(fd, PollFlags::POLLIN);
    }
    if let (false, Some(fd)) = (stopping, ctx.idle_close) {
        fds[3] = PollFd::new(fd, PollFlags::POLLIN);
    }
    let timeout = owner
        .deadline()
        .map(|d| d.saturating_duration_since(Instant::now()));
    let fired = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
    loop {
        match nix::poll::poll(&mut fds, poll_timeout(timeout)) {
            Ok(0) => return Woken::Deadline,
            Ok(_) => {
                if ctx.abort.is_some() && fired(&fds[2]) {
                    return Woken::Abort;
                }
                if let Some(r) = fds[0].revents().filter(|r| !r.is_empty()) {
                    let failed = r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR);
                    return Woken::Socket {
                        readable: failed || r.contains(PollFlags::POLLIN),
                        writable: failed || r.contains(PollFlags::POLLOUT),
                    };
                }
                if fired(&fds[1]) {
                    return Woken::Streams;
                }
                if !stopping && ctx.idle_close.is_some() && fired(&fds[3]) {
                    return Woken::Stop;
                }
                // Only the placeholders fired (never): look again.
                return Woken::Streams;
            }
            Err(nix::errno::Errno::EINTR) => continue,
            // A poll failure on valid descriptors does not happen: the
            // socket's next read reports the real error.
            Err(_) => {
                return Woken::Socket {
                    readable: true,
                    writable: true,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::net::poll::readable;

    #[test]
    fn the_wake_up_wakes_once_until_drained_and_again_after() {
        let waker = WakeFd::new().expect("an eventfd");
        assert!(!readable(waker.fd.as_fd()), "woken before any wake-up");
        waker.wake();
        waker.wake();
        assert!(readable(waker.fd.as_fd()), "a wake-up did not wake");
        waker.drain();
        assert!(!readable(waker.fd.as_fd()), "still woken after a drain");
        waker.wake();
        assert!(
            readable(waker.fd.as_fd()),
            "a wake-up after a drain was lost"
        );
    }

    /// Threads that wake the owner without pause while it drains, again
    /// and again: every look is followed by another wake-up (a wake-up
    /// lost in a drain would leave the owner asleep for good, every later
    /// one taken for pending).
    #[test]
    fn no_wake_up_is_lost_while_the_owner_drains() {
        use std::sync::atomic::AtomicBool;
        let waker = WakeFd::new().expect("an eventfd");
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    while !stop.load(Ordering::Acquire) {
                        waker.wake();
                    }
                });
            }
            let mut asleep = None;
            for look in 0..20_000 {
                let mut fds = [PollFd::new(waker.fd.as_fd(), PollFlags::POLLIN)];
                let woken = nix::poll::poll(&mut fds, poll_timeout(Some(Duration::from_secs(5))));
                if !matches!(woken, Ok(n) if n > 0) {
                    asleep = Some(look);
                    break;
                }
                waker.drain();
            }
            stop.store(true, Ordering::Release);
            assert_eq!(
                asleep, None,
                "the owner was left asleep after this many looks, its wake-ups lost"
            );
        });
    }
}
