//! A child of the event strategy: its event loop and its worker threads.
//! The crate documentation tells the design; this is the code.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use mpm_core::net::accept::Shortages;
use mpm_core::process::child::{run_with_workers, ChildContext};
use mpm_core::process::scoreboard::{ProcessSlot, WorkerSlot};
use mpm_core::serve::{Handback, Mode, ServeBuffers, ServeContext, Work};
use mpm_core::{h1, Error, ProtocolConfig};

use crate::timer::{Entry, Wheel};

/// The waker's token.
const WAKE: Token = Token(usize::MAX);
/// The leave pipe's token.
const LEAVE: Token = Token(usize::MAX - 1);
/// The abort broadcast's token (in-process mode).
const ABORT: Token = Token(usize::MAX - 2);
/// Listener `i` has token `LISTENER_BASE + i`.
const LISTENER_BASE: usize = usize::MAX - 1 - 65_536;
/// The timer wheel: 25 ms ticks, 4096 of them (about 100 s).
const TICK: Duration = Duration::from_millis(25);
const WHEEL_TICKS: usize = 4096;
/// A shortage of descriptors is over after this long without one.
const CALM: Duration = Duration::from_secs(10);
/// The longest the loop sleeps while connections are lent to workers, so
/// that one given back without a wake-up is taken in time.
const LAZY: Duration = Duration::from_millis(20);
/// The loop's read buffer, shared by every connection.
const SCRATCH: usize = 16 * 1024;

mod accepting;
mod conns;
mod h2;
mod handoff;
mod heads;
mod held;
mod pool;
mod tunnel;

use held::{Counts, Held, State};
use pool::{work, Shared};

/// A child: start the workers, run the loop, wait for the workers. With
/// `abort`, readable when every connection must close at once (a stop of
/// the in-process mode; a forked child is ended by a signal instead).
///
/// An error when the loop could not start. When the loop dies (a panic on
/// its thread: a bug, or a handler's [`mpm_core::Handler::answer_never_blocks`]
/// that panics), the workers are sent home and the panic is passed on
/// once they are gone: a forked child exits and is replaced, the
/// in-process server's `run` returns an error.
pub(crate) fn run_child(cx: ChildContext<'_>, abort: Option<BorrowedFd<'_>>) -> Result<(), Error> {
    let process = cx.scoreboard.process(cx.number);
    let threads = cx.threads;
    let poll = Poll::new().map_err(|e| Error::io("making the child's event loop", e))?;
    let waker = Waker::new(poll.registry(), WAKE)
        .map_err(|e| Error::io("making the child's event loop waker", e))?;
    let shared = Shared::new(threads, waker);
    let stopping = AtomicBool::new(false);
    let leaving = || stopping.load(Ordering::Acquire) || process.is_quiescing();
    let body = |t: usize, slot: &WorkerSlot| {
        let serve_ctx = ServeContext {
            handler: &*cx.handler,
            protocol: &cx.protocol,
            worker_slot: Some(slot),
            counters: Some(cx.scoreboard.counters()),
            idle_close: None,
            abort: None,
            leaving: Some(&leaving),
            mode: Mode::Lent,
            streams: None,
        };
        work(&shared, t, slot, &serve_ctx, &leaving);
    };
    let mut outcome = Ok(());
    // However the loop ends (a panic in it included), the workers are sent
    // home, so the child ends and the master replaces it instead of a
    // child hanging with parked threads.
    run_with_workers(
        &cx,
        &body,
        &stopping,
        |started| {
            outcome = if started == 0 {
                Err(Error::io(
                    "starting the child's worker threads",
                    io::Error::other("not one could start"),
                ))
            } else {
                Loop::new(&cx, process, &shared, poll, &stopping, started, abort)
                    .map(|mut l| l.run())
                    .map_err(|e| Error::io("starting the child's event loop", e))
            };
        },
        || shared.finish(),
    );
    outcome
}

/// One child's event loop.
struct Loop<'a, 'c> {
    cx: &'a ChildContext<'c>,
    process: &'a ProcessSlot,
    shared: &'a Shared,
    stopping: &'a AtomicBool,
    protocol: &'a ProtocolConfig,
    poll: Poll,
    conns: Vec<Option<Held>>,
    free: Vec<usize>,
    /// Connections held, lent ones included.
    live: usize,
    /// Connections lent to workers.
    lent: usize,
    counts: Counts,
    published: Option<(usize, Counts, bool)>,
    wheel: Wheel,
    next_id: u64,
    /// Keep-alive connections, oldest first (stale entries skipped).
    idle: VecDeque<(usize, u64)>,
    scratch: Vec<u8>,
    head_cap: usize,
    /// Bytes the head buffers of connections in [`State::Head`] hold (their
    /// capacity), against `Limits::head_budget`.
    head_bytes: usize,
    /// The most `head_bytes` held since memory was last given back.
    head_peak: usize,
    /// Heads refused for want of budget, and when that was last logged.
    head_refusals: u64,
    head_budget_said: Option<Instant>,
    threads: usize,
    /// Listeners are in the poll set.
    accepting: bool,
    /// Accepting is paused (descriptors ran out) until then.
    paused_until: Option<Instant>,
    leaving: bool,
    /// Told to close everything (in-process stop).
    aborted: bool,
    accepted: u64,
    /// Most connections held before the oldest idle ones are closed.
    fd_budget: usize,
    /// Shortages of descriptors, said once per episode.
    shortages: Shortages,
    /// The scoreboard slot of requests the loop answers itself.
    inline_slot: Option<&'a WorkerSlot>,
    inline_bufs: ServeBuffers,
    /// Tunnels that stopped at their budget with bytes to move: pumped
    /// again after this turn's events.
    tunnels_due: Vec<usize>,
    /// HTTP/2 connections to drive again after this turn's events (they
    /// stopped reading at their budget, or their streams had news).
    h2_again: Vec<usize>,
    /// This turn's time: read once when the poll returns and shared by
    /// everything the turn does (deadlines, a head's arrival), so a
    /// deadline fires at most one turn late, and a request begins at the
    /// time of the wake-up that brought it.
    now: Instant,
    /// This turn's wall-clock time (a request's start, for the access
    /// log), read when first needed.
    wall: Option<SystemTime>,
    /// This turn's poll reported more than one event.
    busy_turn: bool,
    /// Connections accepted this turn, not yet in the poll set.
    unwatched: Vec<usize>,
    /// Per listener: it hands over connections only once their first
    /// bytes came (`AcceptFilter`), so they are read at once.
    defers: Vec<bool>,
}

impl<'a, 'c> Loop<'a, 'c> {
    fn new(
        cx: &'a ChildContext<'c>,
        process: &'a ProcessSlot,
        shared: &'a Shared,
        poll: Poll,
        stopping: &'a AtomicBool,
        threads: usize,
        abort: Option<BorrowedFd<'_>>,
    ) -> io::Result<Self> {
        let leave = cx.leave.as_raw_fd();
        poll.registry()
            .register(&mut SourceFd(&leave), LEAVE, Interest::READABLE)?;
        if let Some(abort) = abort {
            poll.registry().register(
                &mut SourceFd(&abort.as_raw_fd()),
                ABORT,
                Interest::READABLE,
            )?;
        }
        let (soft, _) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .unwrap_or((1024, 1024));
        // Descriptors kept for what is not a connection: listeners, pipes,
        // the loop's own, and a few per worker for the files it serves.
        let reserve = 32 + cx.listeners.len() + 4 * threads;
        let fd_budget = (soft as usize).saturating_sub(reserve).max(16);
        let now = Instant::now();
        Ok(Loop {
            cx,
            process,
            shared,
            stopping,
            protocol: &cx.protocol,
            poll,
            conns: Vec::new(),
            free: Vec::new(),
            live: 0,
            lent: 0,
            counts: Counts::default(),
            published: None,
            wheel: Wheel::new(now, TICK, WHEEL_TICKS),
            next_id: 0,
            idle: VecDeque::new(),
            scratch: vec![0; SCRATCH],
            head_cap: cx.protocol.limits.head_capacity(),
            head_bytes: 0,
            head_peak: 0,
            head_refusals: 0,
            head_budget_said: None,
            threads,
            accepting: false,
            paused_until: None,
            leaving: false,
            aborted: false,
            accepted: 0,
            fd_budget,
            shortages: Shortages::default(),
            // The last slot of the child's row, after the workers' (the
            // event strategy's row has one more slot than ThreadLimit; a
            // board sized for several strategies may be wider than the
            // row).
            inline_slot: {
                let row = cx.scoreboard.row_len(cx.number);
                (row > threads).then(|| cx.scoreboard.worker(cx.number, row - 1))
            },
            inline_bufs: ServeBuffers::default(),
            tunnels_due: Vec::new(),
            h2_again: Vec::new(),
            now,
            wall: None,
            busy_turn: false,
            unwatched: Vec::new(),
            defers: cx
                .listeners
                .iter()
                .map(|l| mpm_core::net::accept_filter::defers(&l.socket))
                .collect(),
        })
    }

    fn run(&mut self) {
        self.set_accepting(true);
        let mut events = Events::with_capacity(1024);
        let mut fired = Vec::new();
        let mut backs = Vec::new();
        loop {
            self.take_backs(&mut backs);
            self.watch_new();
            let now = self.now;
            self.regulate(now);
            self.publish();
            if self.leaving && self.live == 0 {
                break;
            }
            let mut timeout = self.wheel.next_due(now);
            if let Some(p) = self.paused_until {
                let left = p.saturating_duration_since(now);
                timeout = Some(timeout.map_or(left, |t| t.min(left)));
            }
            if self.lent > 0 {
                timeout = Some(timeout.map_or(LAZY, |t| t.min(LAZY)));
            }
            if !self.tunnels_due.is_empty() {
                timeout = Some(Duration::ZERO);
            }
            if !self.h2_again.is_empty() {
                timeout = Some(Duration::ZERO);
            }
            let wakeup = &self.shared.wakeup;
            wakeup.sleeping.store(true, Ordering::SeqCst);
            if (self.lent > 0 && !self.shared.back.lock().is_empty())
                || !wakeup.due.lock().is_empty()
            {
                timeout = Some(Duration::ZERO);
            }
            let polled = self.poll.poll(&mut events, timeout);
            wakeup.sleeping.store(false, Ordering::SeqCst);
            self.now = Instant::now();
            self.wall = None;
            if let Err(e) = polled {
                if e.kind() != io::ErrorKind::Interrupted {
                    log::error!("the event loop could not wait: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            // Connections given back while the loop slept come first, so
            // that their events below find them home.
            self.take_backs(&mut backs);
            self.busy_turn = events.iter().nth(1).is_some();
            for ev in events.iter() {
                match ev.token() {
                    WAKE => {}
                    LEAVE => self.begin_leaving(),
                    ABORT => self.abort(),
                    Token(t) if t >= LISTENER_BASE => self.accept(t - LISTENER_BASE),
                    Token(t) if t >= tunnel::PEER_BASE => self.on_peer_event(t, ev),
                    Token(k) => self.on_event(k, ev),
                }
            }
            let now = self.now;
            self.wheel.expire(now, &mut fired);
            for e in fired.drain(..) {
                self.on_timer(e, now);
            }
            self.pump_due_tunnels();
            self.drive_due_h2();
            self.give_back_head_memory();
        }
    }

    /// This turn's wall-clock time.
    fn wall(&mut self) -> SystemTime {
        *self.wall.get_or_insert_with(SystemTime::now)
    }

    /// Connections workers gave back. Only a lent connection comes back
    /// (`Loop::lent` counts them): with none lent, the queue is not
    /// locked (twice a turn, when the loop answers everything itself).
    fn take_backs(&mut self, backs: &mut Vec<(usize, Option<Handback>)>) {
        if self.lent == 0 {
            return;
        }
        std::mem::swap(backs, &mut *self.shared.back.lock());
        for (k, hb) in backs.drain(..) {
            self.lent = self.lent.saturating_sub(1);
            self.handback(k, hb);
        }
    }

    fn on_event(&mut self, k: usize, ev: &mio::event::Event) {
        let Some(held) = self.held(k) else {
            return;
        };
        let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
        let writable = ev.is_writable() || ev.is_write_closed() || ev.is_error();
        match held.state {
            State::Handshake => {
                if readable || writable {
                    self.handshake(k);
                }
            }
            State::Worker => held.may_read |= readable,
            State::H2(_) => self.on_h2_event(k, readable, writable),
            State::Head | State::KeepAlive => {
                if readable {
                    let closed = ev.is_read_closed() || ev.is_error();
                    self.read_head_from(k, !closed);
                }
            }
            State::Writing(_) => {
                held.may_read |= readable;
                if writable {
                    self.write_more(k);
                }
            }
            State::Linger => {
                if readable {
                    self.drain(k);
                }
            }
            State::Tunnel(ref mut t) => {
                t.client_ready(readable, writable);
                self.pump_tunnel(k);
            }
        }
    }

    fn on_timer(&mut self, e: Entry, now: Instant) {
        let Some(held) = self.held(e.key) else {
            return;
        };
        if held.armed.map(|(id, _)| id) != Some(e.id) {
            return;
        }
        held.armed = None;
        let Some(deadline) = held.deadline else {
            return;
        };
        let head = match held.state {
            State::Head => Some((held.head.rd, held.head.last)),
            _ => None,
        };
        let deadline = head.map_or(deadline, |(rd, last)| self.head_deadline(&rd, last));
        let k = e.key;
        if now < deadline {
            self.set_deadline(k, Some(deadline));
            return;
        }
        match self.held(k).map(|s| &s.state) {
            Some(State::Head) => self.dispatch(k, Work::Refuse(h1::timeout_error())),
            Some(State::KeepAlive) => self.close_idle(k),
            Some(State::H2(_)) => self.on_h2_deadline(k, now),
            Some(State::Handshake) => {
                self.cx.scoreboard.counters().tls_handshake(false);
                self.close(k)
            }
            Some(State::Writing(_)) | Some(State::Linger) => self.close(k),
            Some(State::Tunnel(_)) => self.tunnel_idle(k),
            _ => {}
        }
    }

    /// Show the counts on the scoreboard when they changed.
    fn publish(&mut self) {
        let now = (self.live, self.counts, self.accepting);
        if self.published == Some(now) {
            return;
        }
        self.published = Some(now);
        let p = self.process;
        p.conns_total
            .store(self.live.min(u32::MAX as usize) as u32, Ordering::Relaxed);
        p.conns_keepalive
            .store(self.counts.keepalive, Ordering::Relaxed);
        p.conns_writing
            .store(self.counts.writing, Ordering::Relaxed);
        p.conns_closing
            .store(self.counts.closing, Ordering::Relaxed);
        p.accepting
            .store(u8::from(self.accepting), Ordering::Release);
    }
}
