//! Accepting connections: the blocking accept loop of prefork and worker
//! children and of `single`'s one thread ([`Acceptor`]), and what every
//! accept loop (the event loop's too) does when `accept` fails
//! ([`AcceptFailure`], [`Shortages`]).
//!
//! Every child registers the inherited listening sockets in its own epoll
//! set with `EPOLLEXCLUSIVE`, beside its leave pipe. The kernel then wakes
//! one waiting child per new connection (no thundering herd), and since
//! the sockets are shared, a connection queued while a child exits stays
//! in the one queue for another child to take (none is lost, unlike
//! `SO_REUSEPORT` with a socket per child). See the prefork crate's
//! documentation for the full argument.
//!
//! A child is woken only for a connection that has sent its first bytes
//! (`AcceptFilter`, [`crate::net::accept_filter`]), so the serving code's
//! first read finds the request without waiting; and the accepted socket
//! comes with `TCP_NODELAY` already set, inherited from the listening
//! socket. From the wake-up to the request in hand: `epoll_wait`,
//! `accept4`, `recvfrom` (and the write timeout's `setsockopt`).
//!
//! A threaded child (worker) gives each of its threads an acceptor of its
//! own: a thread waits in its own epoll set only while it is idle, so the
//! kernel wakes an idle thread for a connection, and that thread serves
//! it with no hand-off. Such a thread also waits on the child's job
//! signal ([`Acceptor::signal_on`]), registered with `EPOLLEXCLUSIVE` too,
//! so one write to it wakes one idle thread.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

use crate::net::connection::Connection;
use crate::net::listener::Listeners;

/// The epoll data of the leave pipe's registration (listeners use their
/// index).
const LEAVE: u64 = u64::MAX;

/// The epoll data of the job signal's registration
/// ([`Acceptor::signal_on`]).
const SIGNAL: u64 = u64::MAX - 1;

/// What [`Acceptor::wait`] found.
// Returned once per connection and taken apart at once: boxing the
// connection would cost an allocation per connection for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Next {
    /// A connection, accepted.
    Connection(Connection),
    /// The child is told to leave (or the master is gone).
    Leave,
    /// The descriptor given to [`Acceptor::signal_on`] is readable (never
    /// returned to an acceptor without one).
    Signal,
}

/// A child's accept loop state: its epoll set over the listeners and its
/// leave pipe.
pub struct Acceptor<'a> {
    epoll: Epoll,
    listeners: &'a Listeners,
    events: Vec<EpollEvent>,
    shortages: Shortages,
}

impl<'a> Acceptor<'a> {
    /// Register every listener (`EPOLLEXCLUSIVE`) and the leave pipe.
    pub fn new(listeners: &'a Listeners, leave: BorrowedFd<'a>) -> io::Result<Self> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        for (i, l) in listeners.iter().enumerate() {
            epoll.add(
                l.socket.as_fd(),
                EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLEXCLUSIVE, i as u64),
            )?;
        }
        epoll.add(leave, EpollEvent::new(EpollFlags::EPOLLIN, LEAVE))?;
        Ok(Acceptor {
            epoll,
            listeners,
            events: vec![EpollEvent::empty(); listeners.len() + 1],
            shortages: Shortages::default(),
        })
    }

    /// Leave on `fd` too: [`Acceptor::wait`] returns [`Next::Leave`] when
    /// it is readable, as for the leave pipe given to [`Acceptor::new`]
    /// (a worker thread leaves on its child's leave pipe and on the
    /// child's own idle-close pipe).
    pub fn leave_on(&mut self, fd: BorrowedFd<'a>) -> io::Result<()> {
        self.epoll
            .add(fd, EpollEvent::new(EpollFlags::EPOLLIN, LEAVE))?;
        self.events.push(EpollEvent::empty());
        Ok(())
    }

    /// Wait on `signal` too, with `EPOLLEXCLUSIVE` as the listeners: of
    /// the acceptors waiting on it, a write wakes one, and [`wait`]
    /// returns [`Next::Signal`] when it is readable and no connection
    /// came with it. The caller reads it (it is level-triggered); and as
    /// with a listener, one woken waiter that leaves the signal's work
    /// undone must write it again, or the other waiters never learn of
    /// it.
    ///
    /// [`wait`]: Acceptor::wait
    pub fn signal_on(&mut self, signal: BorrowedFd<'a>) -> io::Result<()> {
        self.epoll.add(
            signal,
            EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLEXCLUSIVE, SIGNAL),
        )?;
        self.events.push(EpollEvent::empty());
        Ok(())
    }

    /// Wait until one connection is accepted or the child is told to
    /// leave (or the signal is readable, [`Acceptor::signal_on`]). A child
    /// woken for a connection takes it even when the leave byte arrived in
    /// the same instant: the kernel woke it alone for that connection, so
    /// leaving it would strand it until another child happens to wake.
    pub fn wait(&mut self) -> Next {
        loop {
            let n = match self.epoll.wait(&mut self.events, EpollTimeout::NONE) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    log::error!("waiting for connections failed: {}", e.desc());
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            let events = &self.events[..n];
            let leave = events.iter().any(|ev| ev.data() == LEAVE);
            let signal = events.iter().any(|ev| ev.data() == SIGNAL);
            for ev in events.iter().filter(|ev| ev.data() < SIGNAL) {
                let i = ev.data() as usize;
                let Some(l) = self.listeners.get(i) else {
                    continue;
                };
                match l.socket.accept() {
                    Ok((stream, peer)) => match Connection::accepted(stream, peer, i, l) {
                        Ok(conn) => {
                            self.shortages.accepted();
                            return Next::Connection(conn);
                        }
                        Err(e) => log::debug!("connection lost before it was served: {e}"),
                    },
                    Err(e) => accept_error(&e, &mut self.shortages),
                }
            }
            // The leave pipe is in the set, and every ready descriptor
            // fits in `events`: a wake-up that found no connection (another
            // child took it) costs no further call.
            if leave {
                return Next::Leave;
            }
            if signal {
                return Next::Signal;
            }
        }
    }
}

/// What a failed `accept` means to an accept loop (both the blocking one
/// here and the event loop's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptFailure {
    /// Nothing to accept now (`EAGAIN`), or interrupted: try again later.
    Retry,
    /// The client went away between the kernel's accept and ours: go on.
    ClientGone,
    /// Out of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`,
    /// `ENOMEM`): make room or pause, and say so once per episode
    /// ([`Shortages`]).
    Shortage,
    /// The socket no longer listens: a graceful stop shut it down
    /// (`Listeners::stop_listening`).
    NotListening,
    /// Anything else: logged.
    Other,
}

impl AcceptFailure {
    /// Classify an `accept` error.
    pub fn of(e: &io::Error) -> AcceptFailure {
        if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
        ) {
            return AcceptFailure::Retry;
        }
        match e.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                AcceptFailure::Shortage
            }
            Some(libc::ECONNABORTED | libc::EPROTO | libc::EPERM) => AcceptFailure::ClientGone,
            Some(libc::EINVAL) => AcceptFailure::NotListening,
            _ => AcceptFailure::Other,
        }
    }
}

/// A shortage of descriptors (or memory) is said once per episode, not
/// once per failed accept or per connection closed to make room; an
/// episode ends after [`Shortages::CALM`] without a shortage, at the next
/// successful accept.
#[derive(Debug, Default)]
pub struct Shortages {
    last: Option<Instant>,
}

impl Shortages {
    /// Quiet time that ends an episode.
    pub const CALM: Duration = Duration::from_secs(10);

    /// Note a shortage (`what` happened; `remedy` is what the loop does
    /// about it): logged if it starts an episode.
    pub fn short(&mut self, what: &dyn std::fmt::Display, remedy: &str) {
        if self.last.is_none() {
            log::error!("out of file descriptors or memory ({what}); {remedy}");
        }
        self.last = Some(Instant::now());
    }

    /// A connection was accepted: the episode ends once calm.
    pub fn accepted(&mut self) {
        if self.last.is_some_and(|t| t.elapsed() >= Self::CALM) {
            self.last = None;
            log::warn!("accepting connections again: descriptors suffice");
        }
    }
}

/// What the blocking accept loop does when `accept` fails: out of
/// descriptors or memory pauses accepting for 100 ms (never a busy loop)
/// and logs once per episode; anything unexpected is logged.
fn accept_error(e: &io::Error, shortages: &mut Shortages) {
    match AcceptFailure::of(e) {
        AcceptFailure::Shortage => {
            shortages.short(
                &format_args!("accept failed: {e}"),
                "pausing accepts for 100 ms at a time until it passes",
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        AcceptFailure::Retry | AcceptFailure::ClientGone | AcceptFailure::NotListening => {}
        AcceptFailure::Other => log::error!("accept failed: {e}"),
    }
}
