//! The connections the loop holds: changing a connection's state (and the
//! counts), its deadline on the timer wheel, keep-alive bookkeeping, and
//! the ways a connection ends (close, lingering close, leaving, abort).

use std::io::{self, Read};
use std::sync::atomic::Ordering;
use std::time::Instant;

use mpm_core::deadline::after;
use mpm_core::h1::Session;
use mpm_core::serve::LINGER;
use mpm_core::Connection;

use super::held::{Held, State};
use super::Loop;
use crate::timer::Entry;

impl Loop<'_, '_> {
    pub(super) fn held(&mut self, k: usize) -> Option<&mut Held> {
        self.conns.get_mut(k).and_then(|s| s.as_mut())
    }

    /// Change state, keeping the counts.
    pub(super) fn set_state(&mut self, k: usize, new: State) -> Option<State> {
        let held = self.conns.get_mut(k)?.as_mut()?;
        let old = std::mem::replace(&mut held.state, new);
        if matches!(old, State::Head) && held.session.capacity() > 0 {
            // Every way out of reading a head gives its buffer back here
            // (`Loop::lend` takes it first).
            self.head_bytes -= held.session.capacity();
            held.session = Session::new(&self.protocol.limits);
        }
        let c = &mut self.counts;
        if matches!(old, State::H2(_)) && std::mem::take(&mut held.h2_idle) {
            // (An HTTP/2 connection's idleness is counted as it changes:
            // `Loop::drive_h2`.)
            c.keepalive = c.keepalive.saturating_sub(1);
        }
        for (s, up) in [(&old, false), (&held.state, true)] {
            let n = match s {
                State::KeepAlive => &mut c.keepalive,
                State::Writing(_) => &mut c.writing,
                State::Linger => &mut c.closing,
                State::Tunnel(_) => &mut c.tunnels,
                _ => continue,
            };
            *n = if up { *n + 1 } else { n.saturating_sub(1) };
        }
        Some(old)
    }

    /// Set a connection's deadline (`None`: none), arming the wheel only
    /// when no entry of its own would fire in time.
    pub(super) fn set_deadline(&mut self, k: usize, deadline: Option<Instant>) {
        let Some(held) = self.conns.get_mut(k).and_then(|s| s.as_mut()) else {
            return;
        };
        held.deadline = deadline;
        let Some(d) = deadline else {
            return;
        };
        let due = self.wheel.tick_of(d);
        if held.armed.is_some_and(|(_, tick)| tick <= due) {
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
        held.armed = Some((self.next_id, tick));
    }

    pub(super) fn enter_keepalive(&mut self, k: usize, now: Instant) {
        self.next_id += 1;
        let id = self.next_id;
        if let Some(held) = self.held(k) {
            held.keepalive_turn = id;
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
                    .is_some_and(|s| matches!(s.state, State::KeepAlive) && s.keepalive_turn == id)
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
                .is_some_and(|s| matches!(s.state, State::KeepAlive) && s.keepalive_turn == id);
            if idle {
                // (A connection whose next request has begun is answered
                // instead: look further.)
                self.close_idle(k);
                if self.held(k).is_none() {
                    return true;
                }
            }
        }
        false
    }

    pub(super) fn close(&mut self, k: usize) {
        if self.held(k).is_none() {
            return;
        }
        self.set_state(k, State::Worker);
        if let Some(held) = self.conns.get_mut(k).and_then(|s| s.take()) {
            // Closing the descriptor also takes it out of the poll set.
            drop(held.conn);
            self.free.push(k);
            self.live -= 1;
        }
    }

    pub(super) fn linger(&mut self, k: usize, now: Instant) {
        let shut = match self.held(k).and_then(|s| s.conn.as_mut()) {
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
            .filter(|&k| matches!(self.held(k).map(|s| &s.state), Some(State::KeepAlive)))
            .collect();
        for k in idle {
            self.close_idle(k);
        }
        self.stop_h2();
    }

    /// Close an idle keep-alive connection, unless its next request has
    /// begun to arrive (its event not seen yet): that one is read and
    /// answered. A close with unread bytes would reset the connection
    /// under a client that has just sent its request.
    pub(super) fn close_idle(&mut self, k: usize) {
        self.read_head(k);
        if matches!(self.held(k).map(|s| &s.state), Some(State::KeepAlive)) {
            self.close(k);
        }
    }

    /// Close every connection the loop holds now; lent ones close when
    /// their worker gives them back.
    pub(super) fn abort(&mut self) {
        self.begin_leaving();
        self.aborted = true;
        for k in 0..self.conns.len() {
            // (An HTTP/2 connection's owner holds its socket: it is the
            // loop's, and closes now.)
            let lent = self
                .conns
                .get(k)
                .and_then(|s| s.as_ref())
                .is_some_and(|s| s.conn.is_none() && !matches!(s.state, State::H2(_)));
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
