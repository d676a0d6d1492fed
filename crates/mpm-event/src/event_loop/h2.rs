//! HTTP/2 connections: the loop owns each for its whole life
//! ([`H2Owner`]): it reads and decodes the frames, hands every stream's
//! request to a worker ([`Job::Stream`]), and frames the responses under
//! flow control as the workers send them (or by itself, for bytes and
//! files, once the worker is free). So a client that reads one stream
//! slowly holds no thread, and an idle HTTP/2 connection holds no thread
//! and no buffer beyond its HPACK tables.

use std::time::Instant;

use mpm_core::serve::h2::{H2Owner, Upgrade, Wake};
use mpm_core::serve::{Dispatch, Work};

use super::held::State;
use super::pool::Job;
use super::Loop;

impl Loop<'_, '_> {
    /// The connection speaks HTTP/2 from now on (ALPN `h2`, the preface
    /// by prior knowledge in `early`, or `upgrade`: a request that asked
    /// for `h2c`, answered `101` first): the loop takes its ownership.
    pub(super) fn start_h2(&mut self, k: usize, early: &[u8], upgrade: Option<Upgrade>) {
        let Some(held) = self.held(k) else {
            return;
        };
        let Some(conn) = held.conn.take() else {
            return;
        };
        held.may_read = false;
        held.left_in_socket = false;
        let wakeup = self.shared.wakeup.clone();
        let wake: Wake = std::sync::Arc::new(move || wakeup.due(k));
        match H2Owner::new(conn, self.protocol, early, upgrade, wake) {
            Ok(owner) => {
                self.set_state(k, State::H2(Box::new(owner)));
                self.set_deadline(k, None);
                self.drive_h2(k);
            }
            Err(conn) => {
                if let Some(held) = self.held(k) {
                    held.conn = Some(*conn);
                }
                self.close(k);
            }
        }
    }

    /// A request that asks for `h2c` where its address allows it
    /// switches the connection to HTTP/2, the request its stream 1 (the
    /// bytes read after it, the client's preface, go to the session):
    /// `None`. Any other comes back to be lent.
    pub(super) fn switch_h2c(&mut self, k: usize, d: Dispatch) -> Option<Dispatch> {
        let offered = d.conn.http2_offer().upgrade && !d.conn.is_tls();
        let Dispatch {
            conn,
            mut session,
            work,
            served,
            started,
            clock,
        } = d;
        let back = |conn, session, work| Dispatch {
            conn,
            session,
            work,
            served,
            started,
            clock,
        };
        let head = match work {
            Work::Request(head) if offered => head,
            work => return Some(back(conn, session, work)),
        };
        match Upgrade::of(Box::new(head), started, clock) {
            Err(head) => Some(back(conn, session, Work::Request(*head))),
            Ok(up) => {
                let mut early = Vec::new();
                session.consume_buffered(|b| early.extend_from_slice(b));
                if let Some(held) = self.held(k) {
                    held.conn = Some(conn);
                }
                self.start_h2(k, &early, Some(up));
                None
            }
        }
    }

    pub(super) fn on_h2_event(&mut self, k: usize, readable: bool, writable: bool) {
        if let Some(State::H2(owner)) = self.held(k).map(|s| &mut s.state) {
            owner.ready(readable, writable);
            self.drive_h2(k);
        }
    }

    pub(super) fn on_h2_deadline(&mut self, k: usize, now: Instant) {
        if let Some(State::H2(owner)) = self.held(k).map(|s| &mut s.state) {
            owner.on_deadline(now);
            self.drive_h2(k);
        }
    }

    /// Drive the connections whose streams had news, and those that
    /// stopped reading at their budget.
    pub(super) fn drive_due_h2(&mut self) {
        let mut due = std::mem::take(&mut self.h2_again);
        due.append(&mut self.shared.wakeup.due.lock());
        due.sort_unstable();
        due.dedup();
        for k in due {
            self.drive_h2(k);
        }
    }

    /// A graceful stop or restart: every HTTP/2 connection says GOAWAY
    /// in two steps, and serves what the client had sent before the
    /// second.
    pub(super) fn stop_h2(&mut self) {
        let now = Instant::now();
        for k in 0..self.conns.len() {
            if let Some(State::H2(owner)) = self.held(k).map(|s| &mut s.state) {
                owner.begin_stop(now);
                self.drive_h2(k);
            }
        }
    }

    /// Do what the connection can do now, hand its streams' requests to
    /// the workers (or answer them here, when their handler promises the
    /// answer never blocks, as for HTTP/1.1), and wait as it says (or
    /// close it, lingering, when it is over).
    pub(super) fn drive_h2(&mut self, k: usize) {
        // The owner is taken out of its slot while it drives, so that
        // the streams it answers here may use the loop's context.
        let Some(held) = self.held(k).filter(|h| matches!(h.state, State::H2(_))) else {
            return;
        };
        let State::H2(mut owner) = std::mem::replace(&mut held.state, State::Worker) else {
            return;
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        let (shared, cx) = (self.shared, self.cx);
        let handler = &*cx.handler;
        owner.drive_answering(
            &mut scratch,
            handler,
            &mut |run| self.on_loop(|ctx, _, _| run(ctx)),
            &mut |job| shared.push(Job::Stream(job)),
        );
        self.scratch = scratch;
        if let Some(held) = self.held(k) {
            held.state = State::H2(owner);
        }
        let now = Instant::now();
        let Some(held) = self.conns.get_mut(k).and_then(|s| s.as_mut()) else {
            return;
        };
        let State::H2(owner) = &mut held.state else {
            return;
        };
        if owner.is_done() {
            if let Some(State::H2(owner)) = self.set_state(k, State::Worker) {
                if let Some(held) = self.held(k) {
                    held.conn = Some(owner.into_connection());
                }
            }
            self.set_deadline(k, None);
            self.linger(k, now);
            return;
        }
        let idle = owner.open_streams() == 0;
        let (again, deadline) = (owner.wants_drive(), owner.deadline());
        if held.h2_idle != idle {
            held.h2_idle = idle;
            let n = &mut self.counts.keepalive;
            *n = if idle { *n + 1 } else { n.saturating_sub(1) };
        }
        if again {
            self.h2_again.push(k);
        }
        self.set_deadline(k, deadline);
    }
}
