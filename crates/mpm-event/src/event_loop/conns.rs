//! Connection slots: where each connection is (its state), its deadline on
//! the timer wheel, keep-alive bookkeeping, and the ways a connection ends
//! (close, lingering close, leaving, abort).

use std::io::{self, Read};
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use mpm_core::deadline::after;
use mpm_core::deadline::read::ReadDeadline;
use mpm_core::h1::Session;
use mpm_core::serve::{After, PendingWrite, LINGER};
use mpm_core::Connection;

use super::Loop;
use crate::timer::Entry;

/// Where a connection is.
pub(super) enum State {
    /// A TLS handshake under way (bounded by `Timeout` from the accept).
    Handshake,
    /// Reading a request head (none of it yet, or part of it in the
    /// session).
    Head {
        /// The bytes of a head that did not come in one read, and its
        /// scan; the buffer's capacity counts against the child's budget
        /// ([`Loop::head_bytes`]).
        session: Session,
        rd: ReadDeadline,
        last: Instant,
        started: SystemTime,
        clock: Instant,
    },
    /// Between requests; no buffer.
    KeepAlive,
    /// Lent to a worker.
    Worker,
    /// Finishing a response, then `after`; `session` holds bytes of the
    /// next request already read.
    Writing {
        pending: PendingWrite,
        after: After,
        session: Session,
    },
    /// Closing: our side is shut, reading what the client still sends.
    Linger,
}

/// One connection the loop knows.
pub(super) struct Slot {
    /// `None` while a worker has it.
    pub(super) conn: Option<Connection>,
    pub(super) state: State,
    pub(super) served: u32,
    pub(super) deadline: Option<Instant>,
    /// The live wheel entry: its arm number and tick.
    pub(super) armed: Option<(u64, u64)>,
    /// Readable news came while a worker had it.
    pub(super) hint: bool,
    /// The last read may have left bytes in the socket.
    pub(super) more: bool,
    /// Its keep-alive turn, matched against the idle queue.
    pub(super) ka: u64,
}

/// Connections by state, for the status page.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Counts {
    pub(super) keepalive: u32,
    pub(super) writing: u32,
    pub(super) closing: u32,
}

impl Loop<'_, '_> {
    pub(super) fn slot(&mut self, k: usize) -> Option<&mut Slot> {
        self.conns.get_mut(k).and_then(|s| s.as_mut())
    }

    /// Change state, keeping the counts.
    pub(super) fn set_state(&mut self, k: usize, new: State) -> Option<State> {
        let slot = self.conns.get_mut(k)?.as_mut()?;
        let old = std::mem::replace(&mut slot.state, new);
        if let State::Head { session, .. } = &old {
            // Every way out of reading a head gives its buffer back here.
            self.head_bytes -= session.capacity();
        }
        let c = &mut self.counts;
        for (s, up) in [(&old, false), (&slot.state, true)] {
            let n = match s {
                State::KeepAlive => &mut c.keepalive,
                State::Writing { .. } => &mut c.writing,
                State::Linger => &mut c.closing,
                _ => continue,
            };
            *n = if up { *n + 1 } else { n.saturating_sub(1) };
        }
        Some(old)
    }

    /// Set a connection's deadline (`None`: none), arming the wheel only
    /// when no entry of its own would fire in time.
    pub(super) fn set_deadline(&mut self, k: usize, deadline: Option<Instant>) {
        let Some(slot) = self.conns.get_mut(k).and_then(|s| s.as_mut()) else {
            return;
        };
        slot.deadline = deadline;
        let Some(d) = deadline else {
            return;
        };
        let due = self.wheel.tick_of(d);
        if slot.armed.is_some_and(|(_, tick)| tick <= due) {
            return;
        }
        self.next_id += 1;
        let tick = self.wheel.insert(
            Entry {
                key: k,
                id: self.next_id,
            },
            d,
        );
        slot.armed = Some((self.next_id, tick));
    }

    pub(super) fn enter_keepalive(&mut self, k: usize, now: Instant) {
        self.next_id += 1;
        let id = self.next_id;
        if let Some(slot) = self.slot(k) {
            slot.ka = id;
        }
        self.set_state(k, State::KeepAlive);
        self.set_deadline(
            k,
            Some(after(now, self.protocol.timeouts.keep_alive_timeout)),
        );
        self.idle.push_back((k, id));
        // Keep the queue near the number of idle connections.
        if self.idle.len() > 64 + 2 * self.counts.keepalive as usize {
            let conns = &self.conns;
            self.idle.retain(|&(k, id)| {
                conns
                    .get(k)
                    .and_then(|s| s.as_ref())
                    .is_some_and(|s| matches!(s.state, State::KeepAlive) && s.ka == id)
            });
        }
    }

    /// Close the oldest idle keep-alive connection; false when none.
    pub(super) fn close_oldest_idle(&mut self) -> bool {
        while let Some((k, id)) = self.idle.pop_front() {
            let idle = self
                .conns
                .get(k)
                .and_then(|s| s.as_ref())
                .is_some_and(|s| matches!(s.state, State::KeepAlive) && s.ka == id);
            if idle {
                // (A connection whose next request has begun is answered
                // instead: look further.)
                self.close_idle(k);
                if self.slot(k).is_none() {
                    return true;
                }
            }
        }
        false
    }

    pub(super) fn close(&mut self, k: usize) {
        if self.slot(k).is_none() {
            return;
        }
        self.set_state(k, State::Worker);
        if let Some(slot) = self.conns.get_mut(k).and_then(|s| s.take()) {
            // Closing the descriptor also takes it out of the poll set.
            drop(slot.conn);
            self.free.push(k);
            self.live -= 1;
        }
    }

    pub(super) fn linger(&mut self, k: usize, now: Instant) {
        let shut = match self.slot(k).and_then(|s| s.conn.as_mut()) {
            Some(c) => c.shutdown_write().is_ok(),
            None => false,
        };
        if !shut {
            self.close(k);
            return;
        }
        self.set_state(k, State::Linger);
        self.set_deadline(k, Some(now + LINGER));
        self.drain(k);
    }

    pub(super) fn begin_leaving(&mut self) {
        if self.leaving {
            return;
        }
        // A connection the kernel woke this child for (EPOLLEXCLUSIVE woke
        // no other) is taken and served before the listeners go, not left
        // in the queue until the next connection wakes someone.
        self.leaving = true;
        if self.accepting && !self.aborted {
            for i in 0..self.cx.listeners.len() {
                self.accept_from(i, true);
            }
        }
        self.stopping.store(true, Ordering::Release);
        self.set_accepting(false);
        let idle: Vec<usize> = (0..self.conns.len())
            .filter(|&k| matches!(self.slot(k).map(|s| &s.state), Some(State::KeepAlive)))
            .collect();
        for k in idle {
            self.close_idle(k);
        }
    }

    /// Close an idle keep-alive connection, unless its next request has
    /// begun to arrive (its event not seen yet): that one is read and
    /// answered. A close with unread bytes would reset the connection
    /// under a client that has just sent its request.
    pub(super) fn close_idle(&mut self, k: usize) {
        self.read_head(k);
        if matches!(self.slot(k).map(|s| &s.state), Some(State::KeepAlive)) {
            self.close(k);
        }
    }

    /// Close every connection the loop holds now; lent ones close when
    /// their worker gives them back.
    pub(super) fn abort(&mut self) {
        self.begin_leaving();
        self.aborted = true;
        for k in 0..self.conns.len() {
            let lent = self
                .conns
                .get(k)
                .and_then(|s| s.as_ref())
                .is_some_and(|s| s.conn.is_none());
            if !lent {
                self.close(k);
            }
        }
    }

    /// Lingering close: read and discard until the client closes.
    pub(super) fn drain(&mut self, k: usize) {
        loop {
            let Some(conn) = self
                .conns
                .get_mut(k)
                .and_then(|s| s.as_mut())
                .and_then(|s| s.conn.as_mut())
            else {
                return;
            };
            match read_some(conn, &mut self.scratch) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => break,
            }
        }
        self.close(k);
    }
}

/// `read`, retried on `EINTR`.
pub(super) fn read_some(conn: &mut Connection, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match conn.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
