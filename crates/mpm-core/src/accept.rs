//! Accepting connections in a child of a forking strategy (prefork,
//! worker): one mechanism for both.
//!
//! Every child registers the inherited listening sockets in its own epoll
//! set with `EPOLLEXCLUSIVE`, beside its leave pipe. The kernel then wakes
//! one waiting child per new connection (no thundering herd), and since
//! the sockets are shared, a connection queued while a child exits stays
//! in the one queue for another child to take (none is lost, unlike
//! `SO_REUSEPORT` with a socket per child). See the prefork crate's
//! documentation for the full argument.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

use crate::connection::Connection;
use crate::listener::Listeners;

/// The epoll data of the leave pipe's registration (listeners use their
/// index).
const LEAVE: u64 = u64::MAX;

/// What [`Acceptor::wait`] found.
#[derive(Debug)]
pub enum Next {
    /// A connection, accepted.
    Connection(Connection),
    /// The child is told to leave (or the master is gone).
    Leave,
}

/// A child's accept loop state: its epoll set over the listeners and its
/// leave pipe.
pub struct Acceptor<'a> {
    epoll: Epoll,
    listeners: &'a Listeners,
    leave: BorrowedFd<'a>,
    events: Vec<EpollEvent>,
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
            leave,
            events: vec![EpollEvent::empty(); listeners.len() + 1],
        })
    }

    /// Wait until one connection is accepted or the child is told to
    /// leave. A child woken for a connection takes it even when the leave
    /// byte arrived in the same instant: the kernel woke it alone for that
    /// connection, so leaving it would strand it until another child
    /// happens to wake.
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
            for ev in events.iter().filter(|ev| ev.data() != LEAVE) {
                let i = ev.data() as usize;
                let Some(l) = self.listeners.get(i) else {
                    continue;
                };
                match l.socket.accept() {
                    Ok((stream, peer)) => match Connection::accepted(stream, peer, i, l) {
                        Ok(conn) => {
                            accept_ok();
                            return Next::Connection(conn);
                        }
                        Err(e) => log::debug!("connection lost before it was served: {e}"),
                    },
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => accept_error(&e),
                }
            }
            if leave || readable(self.leave) {
                return Next::Leave;
            }
        }
    }
}

/// Whether `fd` is readable now (a leave byte, or the writer gone).
pub fn readable(fd: BorrowedFd<'_>) -> bool {
    let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
    matches!(nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO), Ok(n) if n > 0)
}

/// Set while accepts fail for want of descriptors or memory, so that the
/// condition is logged once per episode, not ten times a second.
static STARVED: AtomicBool = AtomicBool::new(false);

/// Note a successful accept: a later shortage is a new episode.
pub fn accept_ok() {
    if STARVED.load(Ordering::Relaxed) {
        STARVED.store(false, Ordering::Relaxed);
        log::warn!("accepting connections again");
    }
}

/// Whether an `accept` error is a shortage of descriptors or memory; if
/// so it is logged, once per episode (until [`accept_ok`]). The caller
/// pauses accepting.
pub fn accept_starved(e: &io::Error) -> bool {
    if !is_shortage(e) {
        return false;
    }
    if !STARVED.swap(true, Ordering::Relaxed) {
        log::error!("accept failed ({e}); pausing accepts for 100 ms at a time until it passes");
    }
    true
}

/// Whether an `accept` error means the process or the system is short of
/// descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`).
pub fn is_shortage(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)
    )
}

/// What to do when `accept` fails with something other than "no
/// connection yet": out of descriptors or memory pauses accepting for
/// 100 ms (never a busy loop) and logs once per episode; anything else is
/// logged.
pub fn accept_error(e: &io::Error) {
    if accept_starved(e) {
        std::thread::sleep(Duration::from_millis(100));
        return;
    }
    match e.raw_os_error() {
        // The client went away between the kernel's accept and ours.
        Some(libc::ECONNABORTED) | Some(libc::EPROTO) | Some(libc::EPERM) => {}
        // The socket no longer listens: a graceful stop shut it down
        // (`Listeners::stop_listening`) while this process was woken.
        Some(libc::EINVAL) => {}
        _ => log::error!("accept failed: {e}"),
    }
}
