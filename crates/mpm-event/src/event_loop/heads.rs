//! Request heads: reading them without blocking into each connection's
//! [`Session`], their deadlines, and the child's budget for unfinished heads.

use std::io;
use std::time::{Duration, Instant};

use mpm_core::deadline::after;
use mpm_core::deadline::read::ReadDeadline;
use mpm_core::h1::{self, HeadEvent, Session};
use mpm_core::serve::{self, Work};

use super::conns::read_some;
use super::held::{HeadTimes, State};
use super::{Loop, CALM, SCRATCH};

/// Head buffers that held this much at their peak are given back to the
/// system once they hold a quarter of it.
const TRIM_ABOVE: usize = 1 << 20;

impl Loop<'_, '_> {
    /// Once the head buffers hold a quarter of their peak or less, hand
    /// the freed memory back to the system, so that a crowd of large heads
    /// that came and went does not leave the child at its high-water mark.
    pub(super) fn give_back_head_memory(&mut self) {
        self.head_peak = self.head_peak.max(self.head_bytes);
        if self.head_peak >= TRIM_ABOVE && self.head_bytes <= self.head_peak / 4 {
            crate::memory::release_free_memory();
            self.head_peak = self.head_bytes;
        }
    }

    pub(super) fn head_deadline(&self, rd: &ReadDeadline, last: Instant) -> Instant {
        head_deadline(rd, last, self.protocol.timeouts.timeout)
    }

    /// Start reading a head on connection `k`: in `session` (bytes of it
    /// already read), or in the empty one it holds.
    pub(super) fn enter_head(&mut self, k: usize, session: Option<Session>, now: Instant) {
        if let Some(rd) = self.begin_head(k, session, now) {
            let deadline = self.head_deadline(&rd, now);
            self.set_deadline(k, Some(deadline));
        }
    }

    /// [`Loop::enter_head`] without the deadline: for bytes about to be
    /// offered at once ([`Loop::got_head_bytes`]), which sets it only if
    /// the head is not whole (a head that came whole leaves the state
    /// before any deadline could matter). Its read deadline.
    fn begin_head(
        &mut self,
        k: usize,
        session: Option<Session>,
        now: Instant,
    ) -> Option<ReadDeadline> {
        let rd = ReadDeadline::new(self.protocol.timeouts.request_read.header, now);
        let started = self.wall();
        // (A head already being read gives its buffer back first.)
        self.set_state(k, State::Head);
        let held = self.conns.get_mut(k).and_then(|s| s.as_mut())?;
        if let Some(session) = session {
            held.session = session;
        }
        held.head = HeadTimes {
            rd,
            last: now,
            started,
            clock: now,
        };
        self.head_bytes += held.session.capacity();
        Some(rd)
    }

    /// Read what the client sent of a head, and dispatch it once whole.
    pub(super) fn read_head(&mut self, k: usize) {
        self.read_head_from(k, false);
    }

    /// [`Loop::read_head`] on a readiness event. `short_is_all`: the event
    /// did not report the peer's close or an error, so on plain TCP a read
    /// that does not fill its buffer has emptied the socket and the next
    /// bytes bring a new edge: no second read just to see `EAGAIN`, which
    /// halves the system calls of a head that trickles in.
    pub(super) fn read_head_from(&mut self, k: usize, short_is_all: bool) {
        loop {
            let Some(held) = self.conns.get_mut(k).and_then(|s| s.as_mut()) else {
                return;
            };
            let Some(conn) = held.conn.as_mut() else {
                return;
            };
            // Bytes are read into the shared scratch buffer; a head that
            // does not come whole is kept in its session, whose buffer
            // grows only as far as needed (within the child's budget) and
            // never past the head limit.
            let want = match held.state {
                State::Head => self
                    .head_cap
                    .saturating_sub(held.session.buffered().len())
                    .clamp(1, SCRATCH),
                State::KeepAlive => SCRATCH,
                _ => return,
            };
            let read = read_some(conn, &mut self.scratch[..want]);
            // Sockets are edge-triggered: bytes a read left behind (it
            // filled its buffer; a TLS layer reads records in chunks) bring
            // no new event, so whoever takes the connection next must read
            // again before waiting.
            let mut drained = false;
            if let Ok(n) = read {
                held.left_in_socket = n == want || conn.is_tls();
                drained = short_is_all && !held.left_in_socket;
            }
            match read {
                Ok(0) => {
                    self.close(k);
                    return;
                }
                Ok(n) => {
                    if !self.got_head_bytes(k, n) || drained {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.close(k);
                    return;
                }
            }
        }
    }

    /// `n` bytes arrived in the scratch buffer (after any the connection
    /// kept). False when the connection left the head state (dispatched,
    /// or refused for want of room).
    pub(super) fn got_head_bytes(&mut self, k: usize, n: usize) -> bool {
        let now = self.now;
        if matches!(self.held(k).map(|s| &s.state), Some(State::KeepAlive)) {
            // (Its session is the empty one a kept-alive connection holds.)
            // The head's deadline is set below only if it is not whole.
            self.begin_head(k, None, now);
        }
        let protocol = self.protocol;
        let Some(held) = self.conns.get_mut(k).and_then(|s| s.as_mut()) else {
            return false;
        };
        let State::Head = held.state else {
            return false;
        };
        let session = &mut held.session;
        held.head.rd.on_data(n);
        held.head.last = now;
        // Prior knowledge (`H2Direct`): the HTTP/2 preface as a
        // connection's first bytes makes it HTTP/2; a part of it waits
        // for the rest.
        if held.served == 0 && held.conn.as_ref().is_some_and(|c| c.http2_offer().direct) {
            if let Some(whole) = serve::h2::preface_in(session.buffered(), &self.scratch[..n]) {
                let before = session.capacity();
                session.extend(&self.scratch[..n]);
                self.head_bytes += session.capacity() - before;
                if whole {
                    // The loop owns it from now on, the preface read.
                    let early = session.buffered().to_vec();
                    self.watch(k);
                    self.start_h2(k, &early, None);
                    return false;
                }
                let rd = held.head.rd;
                let d = self.head_deadline(&rd, now);
                self.set_deadline(k, Some(d));
                return true;
            }
        }
        // The session scans on where the last read left it (a head in any
        // number of pieces costs O(its bytes)) and keeps only what it
        // must: nothing for a head that came whole.
        let before = session.capacity();
        let event = session.offer(&self.scratch[..n], &protocol.limits);
        let grown = session.capacity() - before;
        let (rd, last) = (held.head.rd, held.head.last);
        self.head_bytes += grown;
        // A request asking for `h2c` where the address allows it switches
        // the connection to HTTP/2 (`Loop::dispatch_with`).
        let h2c = held.conn.as_ref().is_some_and(|c| c.http2_offer().upgrade);
        match event {
            HeadEvent::Ready(head)
                if serve::answer_never_blocks(&*self.cx.handler, &head)
                    && !(h2c && serve::h2::asks_h2c(&head).is_some()) =>
            {
                self.serve_inline(k, Work::Request(head), None);
                false
            }
            HeadEvent::Ready(head) => {
                self.dispatch(k, Work::Request(head));
                false
            }
            HeadEvent::Refuse(e) => {
                self.dispatch(k, Work::Refuse(e));
                false
            }
            HeadEvent::NeedMore => {
                if grown > 0 && !self.within_head_budget(k) {
                    return false;
                }
                let d = self.head_deadline(&rd, last);
                self.set_deadline(k, Some(d));
                true
            }
        }
    }

    /// After connection `k`'s head buffer grew: while the child's head
    /// buffers hold more than its budget, refuse (431) and close the
    /// largest unfinished head, `k` itself when it is among the largest.
    /// A buffer grows by at most one doubling before this check, so the
    /// budget is passed by at most one head limit, for a moment. False
    /// when `k` was refused.
    pub(super) fn within_head_budget(&mut self, k: usize) -> bool {
        let budget = self.protocol.limits.head_budget;
        while budget != 0 && self.head_bytes > budget {
            let Some((_, _, victim)) = self
                .conns
                .iter()
                .enumerate()
                .filter_map(|(j, s)| match s.as_ref() {
                    Some(s) if matches!(s.state, State::Head) && s.session.capacity() > 0 => {
                        Some((s.session.capacity(), j == k, j))
                    }
                    _ => None,
                })
                .max()
            else {
                return true;
            };
            self.over_head_budget(budget);
            self.dispatch(victim, Work::Refuse(h1::head_budget_error()));
            if victim == k {
                return false;
            }
        }
        true
    }

    /// Heads were refused for want of budget: said at most once per
    /// [`CALM`], with how many since the child started.
    pub(super) fn over_head_budget(&mut self, budget: usize) {
        self.head_refusals += 1;
        if self.head_budget_said.is_none_or(|t| t.elapsed() >= CALM) {
            log::warn!(
                "unfinished request heads hold this child's whole budget of {budget} bytes \
                 (LimitRequestHeadMemory): refusing the largest with 431 ({} so far)",
                self.head_refusals
            );
            self.head_budget_said = Some(Instant::now());
        }
    }
}

/// When a head must be done: its `RequestReadTimeout` deadline, and never
/// more than `Timeout` after the last bytes.
fn head_deadline(rd: &ReadDeadline, last: Instant, timeout: Duration) -> Instant {
    let quiet = after(last, timeout);
    rd.deadline().map_or(quiet, |d| d.min(quiet))
}
