//! Handing connections to workers and taking them back: dispatching a
//! request (or answering a quick one on the loop), finishing a write the
//! worker left, and what a connection does after its response.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use mpm_core::deadline::after;
use mpm_core::h1::{self, Session};
use mpm_core::serve::{
    self, After, Dispatch, Handback, Lent, Mode, ServeBuffers, ServeContext, Served, Work,
};
use mpm_core::WorkerState;

use super::held::{Held, State, Writing};
use super::pool::Job;
use super::Loop;

impl Loop<'_, '_> {
    /// Lend the connection to a worker with `work` (its session goes
    /// along).
    pub(super) fn dispatch(&mut self, k: usize, work: Work) {
        self.dispatch_with(k, work, None);
    }

    /// Take the connection out of the loop's hands with `work` and its
    /// session (`session`, or the one its head was read in): for a worker,
    /// or for the loop to answer at once. `None` when the key holds no
    /// connection.
    pub(super) fn lend(
        &mut self,
        k: usize,
        work: Work,
        session: Option<Session>,
    ) -> Option<Dispatch> {
        let protocol = self.protocol;
        let held = self.conns.get_mut(k).and_then(|s| s.as_mut())?;
        // The head's session leaves the connection with it (its buffer no
        // longer counts against the budget).
        let (started, clock, read) = match held.state {
            State::Head => {
                let read = std::mem::replace(&mut held.session, Session::new(&protocol.limits));
                self.head_bytes -= read.capacity();
                (held.head.started, held.head.clock, Some(read))
            }
            _ => (SystemTime::now(), Instant::now(), None),
        };
        self.set_state(k, State::Worker)?;
        self.set_deadline(k, None);
        let limits = &protocol.limits;
        // A refused head's bytes are of no more use (the connection closes
        // after the refusal): its buffer is freed here, not carried through
        // the worker queue.
        let session = match work {
            Work::Refuse(_) => None,
            Work::Request(_) => session.or(read),
        }
        .unwrap_or_else(|| Session::new(limits));
        // The status page shows the counts of the turn it is served in (a
        // connection accepted and lent in the same turn included).
        self.publish();
        let held = self.held(k)?;
        held.may_read = std::mem::take(&mut held.left_in_socket);
        Some(Dispatch {
            conn: held.conn.take()?,
            session,
            work,
            served: held.served,
            started,
            clock,
        })
    }

    /// Lend the connection to a worker with `work`.
    /// Lend the connection to a worker with `work`; a request that asks
    /// for `h2c` where the address allows it switches the connection to
    /// HTTP/2 instead, owned by the loop.
    pub(super) fn dispatch_with(&mut self, k: usize, work: Work, session: Option<Session>) {
        // Its events while a worker has it are noted (`Held::may_read`).
        self.watch(k);
        if let Some(d) = self.lend(k, work, session) {
            if let Some(d) = self.switch_h2c(k, d) {
                self.lent += 1;
                self.shared.push(Job::Conn(k, d));
            }
        }
    }

    /// Answer a quick request here, without a worker (the handler said its
    /// answer never blocks: [`mpm_core::Handler::answer_never_blocks`]), and
    /// any further such requests already buffered. The connection is
    /// served where it is kept ([`serve::serve_lent`]): no [`Dispatch`]
    /// built, no [`Handback`] taken apart. `session`: the one holding the
    /// request's following bytes, or `None` for the one the connection
    /// holds (its head's).
    pub(super) fn serve_inline(&mut self, k: usize, mut work: Work, session: Option<Session>) {
        let Some((started, clock)) = self.serve_here(k, session) else {
            return;
        };
        let mut served = None;
        self.on_loop(|ctx, bufs, conns| {
            let Some(held) = conns.get_mut(k).and_then(|s| s.as_mut()) else {
                return;
            };
            let Some(conn) = held.conn.as_mut() else {
                return;
            };
            let lent = Lent {
                conn,
                session: &mut held.session,
                served: &mut held.served,
                started,
                clock,
            };
            match catch_unwind(AssertUnwindSafe(|| {
                serve::serve_lent(lent, &mut work, ctx, bufs)
            })) {
                Ok(out) => served = Some(out),
                Err(_) => {
                    log::error!(
                        "a connection ended with a panic in the serving code; the loop goes on"
                    );
                    *bufs = ServeBuffers::default();
                }
            }
        });
        match served {
            Some(out) => self.resume(k, out, None),
            // The connection goes as a worker's would.
            None => self.lost(k),
        }
    }

    /// Connection `k` is about to be served on the loop, where it is
    /// kept: shown as a worker's, its deadline off, its head's buffer no
    /// longer counted against the budget (it stays in `Held::session`,
    /// with `session` put there when given). When its head began.
    fn serve_here(&mut self, k: usize, session: Option<Session>) -> Option<(SystemTime, Instant)> {
        let held = self.conns.get_mut(k).and_then(|s| s.as_mut())?;
        let times = match held.state {
            State::Head => {
                // Head -> Worker changes no count; the buffer leaves the
                // budget here (`set_state` would free it).
                self.head_bytes -= held.session.capacity();
                held.state = State::Worker;
                (held.head.started, held.head.clock)
            }
            _ => {
                self.set_state(k, State::Worker)?;
                (SystemTime::now(), Instant::now())
            }
        };
        let held = self.held(k)?;
        if let Some(session) = session {
            held.session = session;
        }
        held.may_read = std::mem::take(&mut held.left_in_socket);
        self.set_deadline(k, None);
        self.publish();
        Some(times)
    }

    /// Serve something on the loop's own thread (a request whose answer
    /// never blocks): `f` gets the serving context of the loop's
    /// scoreboard slot, shown idle again after, the loop's buffers and
    /// its connections.
    pub(super) fn on_loop<R>(
        &mut self,
        f: impl FnOnce(&ServeContext<'_>, &mut ServeBuffers, &mut Vec<Option<Held>>) -> R,
    ) -> R {
        let (stopping, process) = (self.stopping, self.process);
        let leaving = move || stopping.load(Ordering::Acquire) || process.is_quiescing();
        let handler = &*self.cx.handler;
        let only = |h: &h1::RequestHead| serve::answer_never_blocks(handler, h);
        let ctx = ServeContext {
            handler,
            protocol: self.protocol,
            worker_slot: self.inline_slot,
            counters: Some(self.cx.scoreboard.counters()),
            idle_close: None,
            abort: None,
            leaving: Some(&leaving),
            mode: Mode::Loop { only: &only },
            streams: None,
        };
        let out = f(&ctx, &mut self.inline_bufs, &mut self.conns);
        if let Some(s) = self.inline_slot {
            s.set_state(WorkerState::Dead);
        }
        out
    }

    /// A worker gave a connection back.
    pub(super) fn handback(&mut self, k: usize, hb: Option<Handback>) {
        let Some(hb) = hb else {
            // The worker panicked and the connection went with it.
            self.lost(k);
            return;
        };
        let Handback {
            conn,
            session,
            next,
            served,
            after,
            pending,
            stats,
            tunnel,
        } = hb;
        let Some(held) = self.held(k) else {
            return;
        };
        held.conn = Some(conn);
        held.served = served;
        let out = Served {
            next: next.map(Box::new),
            after,
            pending: pending.map(Box::new),
            stats,
            tunnel,
        };
        self.resume(k, out, Some(session));
    }

    /// The connection was lost to a panic in the serving code.
    fn lost(&mut self, k: usize) {
        self.set_state(k, State::Worker);
        if self.conns.get_mut(k).and_then(|s| s.take()).is_some() {
            self.free.push(k);
            self.live -= 1;
        }
    }

    /// Connection `k` (back in `Held::conn`) was served: go on as `out`
    /// says. `session`: its session, or `None` when it stayed in
    /// `Held::session` (the loop served it itself, this turn).
    ///
    /// A response left unfinished (`out.pending`) stopped on a full
    /// socket. When the loop wrote it, this turn, the socket's next
    /// writable event is still to come (the poll reports it, or the
    /// connection is watched at the end of the turn, which reports it as
    /// well): the loop waits for it. A worker's writes went on while the
    /// loop took no writable events for the connection, so the loop
    /// writes once at once.
    fn resume(&mut self, k: usize, out: Served, session: Option<Session>) {
        if self.aborted {
            self.close(k);
            return;
        }
        let now = self.now;
        if let Some(tunnel) = out.tunnel {
            self.start_tunnel(k, tunnel, now);
            return;
        }
        match out.pending {
            Some(pending) => {
                let limits = &self.protocol.limits;
                let Some(held) = self.held(k) else {
                    return;
                };
                let from_worker = session.is_some();
                let session = session
                    .unwrap_or_else(|| std::mem::replace(&mut held.session, Session::new(limits)));
                self.set_state(
                    k,
                    State::Writing(Box::new(Writing {
                        pending: *pending,
                        after: out.after,
                        session,
                    })),
                );
                self.set_deadline(k, Some(after(now, self.protocol.timeouts.timeout)));
                if from_worker {
                    self.write_more(k);
                }
            }
            None => self.after_response(k, out.after, session, out.next.map(|n| *n), now),
        }
    }

    /// What a connection does after its response: `session` holds the
    /// bytes read after it, or `None` when they are in `Held::session`.
    pub(super) fn after_response(
        &mut self,
        k: usize,
        after: After,
        session: Option<Session>,
        next: Option<h1::RequestHead>,
        now: Instant,
    ) {
        if self.aborted {
            self.close(k);
            return;
        }
        let (limits, handler) = (&self.protocol.limits, &*self.cx.handler);
        let Some(held) = self.conns.get_mut(k).and_then(|s| s.as_mut()) else {
            return;
        };
        let empty = session
            .as_ref()
            .map_or(held.session.is_empty(), Session::is_empty);
        if after != After::KeepAlive && held.session.capacity() > 0 {
            // Bytes the connection will never read as a request.
            held.session = Session::new(limits);
        }
        match after {
            After::KeepAlive if next.is_some() => {
                // A whole request the worker left for a worker: hand it on
                // (the loop answers it itself if it may).
                let Some(head) = next else { return };
                if serve::answer_never_blocks(handler, &head) {
                    self.serve_inline(k, Work::Request(head), session);
                } else {
                    let session = match session {
                        Some(session) => session,
                        None => std::mem::replace(&mut held.session, Session::new(limits)),
                    };
                    self.dispatch_with(k, Work::Request(head), Some(session));
                }
            }
            After::KeepAlive if self.leaving && empty => {
                // Unless its next request has begun to arrive.
                self.enter_keepalive(k, now);
                self.close_idle(k);
            }
            After::KeepAlive => {
                if empty {
                    self.enter_keepalive(k, now);
                } else {
                    self.enter_head(k, session, now);
                    // It may hold a whole head.
                    if !self.got_head_bytes(k, 0) {
                        return;
                    }
                }
                // News that came while a worker had it, or decrypted bytes
                // a TLS layer already holds (no socket event will tell).
                let may_read = self.held(k).is_some_and(|s| {
                    std::mem::take(&mut s.may_read)
                        | s.conn.as_ref().is_some_and(|c| c.has_buffered_plaintext())
                });
                if may_read {
                    self.read_head(k);
                }
            }
            // (A tunnel comes with its handback, above.)
            After::Close | After::Tunnel => self.close(k),
            After::Linger => self.linger(k, now),
        }
    }

    pub(super) fn write_more(&mut self, k: usize) {
        let Some(held) = self.conns.get_mut(k).and_then(|s| s.as_mut()) else {
            return;
        };
        let (Some(conn), State::Writing(w)) = (held.conn.as_mut(), &mut held.state) else {
            return;
        };
        let pending = &mut w.pending;
        let now = self.now;
        // A stream the loop answers itself is read here: a handler's
        // reader that panics costs its connection, not the loop.
        let advanced = match catch_unwind(AssertUnwindSafe(|| pending.advance(conn))) {
            Ok(r) => r,
            Err(_) => {
                log::error!("a response stream panicked; its connection is closed");
                Err(io::ErrorKind::Other.into())
            }
        };
        match advanced {
            Ok(true) => {
                if let Some(State::Writing(w)) = self.set_state(k, State::Worker) {
                    let Writing { after, session, .. } = *w;
                    self.set_deadline(k, None);
                    self.after_response(k, after, Some(session), None, now);
                }
            }
            Ok(false) => self.set_deadline(k, Some(after(now, self.protocol.timeouts.timeout))),
            Err(e) => {
                log::debug!("a response could not be finished: {e}");
                self.close(k);
            }
        }
    }
}
