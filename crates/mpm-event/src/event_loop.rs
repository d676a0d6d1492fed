//! A child of the event strategy: its event loop and its worker threads.
//! The crate documentation tells the design; this is the code.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use mpm_core::accept::is_shortage;
use mpm_core::deadline::after;
use mpm_core::master::{spawn_workers, ChildContext};
use mpm_core::reqtimeout::ReadDeadline;
use mpm_core::scoreboard::{ProcessSlot, WorkerSlot};
use mpm_core::serve::{
    self, After, Dispatch, Handback, PendingWrite, ServeBuffers, ServeContext, Work,
};
use mpm_core::tls::{self, HandshakeStatus};
use mpm_core::{clamp, h1, Connection, Listener, ProtocolConfig, WorkerState};
use parking_lot::Mutex;

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
const SLOTS: usize = 4096;
/// Longest lingering close.
const LINGER: Duration = Duration::from_secs(2);
/// Accepting pauses this long when descriptors run out.
const PAUSE: Duration = Duration::from_millis(100);
/// A shortage of descriptors is over after this long without one.
const CALM: Duration = Duration::from_secs(10);
/// Connections accepted per listener event before the loop looks at
/// everything else.
const ACCEPT_BATCH: usize = 64;
/// The longest the loop sleeps while connections are lent to workers, so
/// that one given back without a wake-up is taken in time.
const LAZY: Duration = Duration::from_millis(20);
/// The loop's read buffer, shared by every connection.
const SCRATCH: usize = 16 * 1024;

/// Work waiting for a worker.
#[derive(Default)]
struct Queue {
    jobs: VecDeque<(usize, Dispatch)>,
    /// Workers waiting, the most recent last: the next job goes to the
    /// worker that waited least, whose stack and caches are still warm.
    idle: Vec<usize>,
    done: bool,
}

/// How a waiting worker is woken.
struct Parking {
    thread: std::sync::OnceLock<std::thread::Thread>,
    woken: AtomicBool,
}

/// What the loop and the workers share.
struct Shared {
    queue: Mutex<Queue>,
    parking: Vec<Parking>,
    /// `queue.jobs.len()`, readable without the lock.
    queued: AtomicUsize,
    /// Connections given back by workers (`None`: lost to a panic).
    back: Mutex<Vec<(usize, Option<Handback>)>>,
    /// The loop is (about to be) waiting in `poll`: a worker giving a
    /// connection back must wake it.
    sleeping: AtomicBool,
    waker: Waker,
}

impl Shared {
    /// The next job for worker `me`; `None` when the child leaves.
    fn take(&self, me: usize) -> Option<(usize, Dispatch)> {
        let parking = &self.parking[me];
        let _ = parking.thread.set(std::thread::current());
        loop {
            {
                let mut q = self.queue.lock();
                if let Some(job) = q.jobs.pop_front() {
                    self.queued.store(q.jobs.len(), Ordering::Relaxed);
                    return Some(job);
                }
                if q.done {
                    return None;
                }
                q.idle.push(me);
            }
            // Woken only by whoever takes `me` off the idle list.
            while !parking.woken.swap(false, Ordering::Acquire) {
                std::thread::park();
            }
        }
    }

    fn wake(&self, w: usize) {
        let p = &self.parking[w];
        p.woken.store(true, Ordering::Release);
        if let Some(t) = p.thread.get() {
            t.unpark();
        }
    }

    fn push(&self, key: usize, d: Dispatch) {
        let mut q = self.queue.lock();
        q.jobs.push_back((key, d));
        self.queued.store(q.jobs.len(), Ordering::Relaxed);
        let idle = q.idle.pop();
        drop(q);
        if let Some(w) = idle {
            self.wake(w);
        }
    }

    /// Give a connection back. The loop is woken only when it must act
    /// soon: to finish a write, or when the child is leaving. A connection
    /// that goes back to keep-alive (or to be closed) waits for the loop's
    /// next turn: its next request wakes the loop anyway, and the loop
    /// looks at least every [`LAZY`] while connections are lent out. That
    /// saves a wake-up of the loop per request.
    fn give_back(&self, key: usize, hb: Option<Handback>, leaving: bool) {
        let urgent = leaving || !matches!(&hb, Some(h) if h.pending.is_none());
        self.back.lock().push((key, hb));
        if urgent && self.sleeping.load(Ordering::SeqCst) {
            if let Err(e) = self.waker.wake() {
                log::error!("could not wake the event loop: {e}");
            }
        }
    }

    fn finish(&self) {
        let idle = {
            let mut q = self.queue.lock();
            q.done = true;
            std::mem::take(&mut q.idle)
        };
        for w in idle {
            self.wake(w);
        }
    }
}

/// A child: start the workers, run the loop, wait for the workers. With
/// `abort`, readable when every connection must close at once (a stop of
/// the in-process mode; a forked child is ended by a signal instead).
pub(crate) fn run_child(cx: ChildContext<'_>, abort: Option<BorrowedFd<'_>>) {
    let pid = std::process::id();
    let process = cx.scoreboard.process(cx.slot);
    let (cfg, _) = clamp::worker(cx.mpm);
    let threads = (cfg.threads_per_child as usize).clamp(1, cx.scoreboard.threads().max(1));
    let poll = match Poll::new() {
        Ok(p) => p,
        Err(e) => {
            log::error!("child {pid}: could not make its event loop: {e}");
            return;
        }
    };
    let waker = match Waker::new(poll.registry(), WAKE) {
        Ok(w) => w,
        Err(e) => {
            log::error!("child {pid}: could not make its event loop's waker: {e}");
            return;
        }
    };
    let shared = Shared {
        queue: Mutex::new(Queue::default()),
        parking: (0..threads)
            .map(|_| Parking {
                thread: std::sync::OnceLock::new(),
                woken: AtomicBool::new(false),
            })
            .collect(),
        queued: AtomicUsize::new(0),
        back: Mutex::new(Vec::new()),
        sleeping: AtomicBool::new(false),
        waker,
    };
    let stopping = AtomicBool::new(false);
    let leaving = || stopping.load(Ordering::Acquire) || process.is_quiescing();
    let body = |t: usize, slot: &WorkerSlot| {
        let serve_ctx = ServeContext {
            handler: &*cx.handler,
            protocol: &cx.protocol,
            slot: Some(slot),
            idle_close: None,
            abort: None,
            leaving: Some(&leaving),
            handoff: true,
            only: None,
        };
        work(&shared, t, slot, &serve_ctx, &leaving);
    };
    std::thread::scope(|s| {
        let started = spawn_workers(s, cx.scoreboard, cx.slot, threads, &body);
        // However the loop ends (a panic in it included), the workers are
        // sent home, so the child ends and the master replaces it instead
        // of a child hanging with parked threads.
        let _finish = Finish {
            shared: &shared,
            stopping: &stopping,
            process,
        };
        if started > 0 {
            match Loop::new(&cx, process, &shared, poll, &stopping, started, abort) {
                Ok(mut l) => l.run(),
                Err(e) => log::error!("child {pid}: could not start its event loop: {e}"),
            }
        }
    });
}

/// Ends a child's workers when dropped.
struct Finish<'a> {
    shared: &'a Shared,
    stopping: &'a AtomicBool,
    process: &'a ProcessSlot,
}

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.process.accepting.store(0, Ordering::Release);
        self.stopping.store(true, Ordering::Release);
        self.shared.finish();
    }
}

/// A worker thread: answer dispatched requests until the child leaves.
fn work(
    shared: &Shared,
    me: usize,
    slot: &WorkerSlot,
    ctx: &ServeContext<'_>,
    leaving: &(dyn Fn() -> bool + Sync),
) {
    let mut bufs = ServeBuffers::default();
    slot.set_state(WorkerState::Ready);
    while let Some((key, d)) = shared.take(me) {
        if d.served == 0 {
            slot.add_connection();
        }
        let back = match catch_unwind(AssertUnwindSafe(|| {
            serve::serve_dispatched(d, ctx, &mut bufs)
        })) {
            Ok(hb) => Some(hb),
            Err(_) => {
                log::error!(
                    "a connection ended with a panic in the serving code; the worker goes on"
                );
                bufs = ServeBuffers::default();
                None
            }
        };
        slot.set_state(WorkerState::Ready);
        shared.give_back(key, back, leaving());
    }
    slot.set_state(WorkerState::Graceful);
}

/// Where a connection is.
enum State {
    /// A TLS handshake under way (bounded by `Timeout` from the accept).
    Handshake,
    /// Reading a request head (none of it yet, or part of it in `buf`).
    Head {
        buf: Vec<u8>,
        rd: ReadDeadline,
        last: Instant,
        started: SystemTime,
        clock: Instant,
    },
    /// Between requests; no buffer.
    KeepAlive,
    /// Lent to a worker.
    Worker,
    /// Finishing a response, then `after`; `buf` holds bytes of the next
    /// request already read.
    Writing {
        pending: PendingWrite,
        after: After,
        buf: Vec<u8>,
    },
    /// Closing: our side is shut, reading what the client still sends.
    Linger,
}

/// One connection the loop knows.
struct Slot {
    /// `None` while a worker has it.
    conn: Option<Connection>,
    state: State,
    served: u32,
    deadline: Option<Instant>,
    /// The live wheel entry: its arm number and tick.
    armed: Option<(u64, u64)>,
    /// Readable news came while a worker had it.
    hint: bool,
    /// The last read may have left bytes in the socket.
    more: bool,
    /// Its keep-alive turn, matched against the idle queue.
    ka: u64,
}

/// Connections by state, for the status page.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    keepalive: u32,
    writing: u32,
    closing: u32,
}

/// One child's event loop.
struct Loop<'a, 'c> {
    cx: &'a ChildContext<'c>,
    process: &'a ProcessSlot,
    shared: &'a Shared,
    stopping: &'a AtomicBool,
    protocol: &'a ProtocolConfig,
    poll: Poll,
    conns: Vec<Option<Slot>>,
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
    /// The last shortage of descriptors, while an episode lasts.
    short_at: Option<Instant>,
    /// The scoreboard slot of requests the loop answers itself.
    loop_slot: Option<&'a WorkerSlot>,
    inline_bufs: ServeBuffers,
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
            wheel: Wheel::new(now, TICK, SLOTS),
            next_id: 0,
            idle: VecDeque::new(),
            scratch: vec![0; SCRATCH],
            head_cap: serve::head_capacity(&cx.protocol.limits),
            threads,
            accepting: false,
            paused_until: None,
            leaving: false,
            aborted: false,
            accepted: 0,
            fd_budget,
            short_at: None,
            // The slot after the workers' (the event strategy's scoreboard
            // has one more per child than ThreadLimit).
            loop_slot: (cx.scoreboard.threads() > threads)
                .then(|| cx.scoreboard.worker(cx.slot, cx.scoreboard.threads() - 1)),
            inline_bufs: ServeBuffers::default(),
        })
    }

    fn run(&mut self) {
        self.set_accepting(true);
        let mut events = Events::with_capacity(1024);
        let mut fired = Vec::new();
        let mut backs = Vec::new();
        loop {
            self.take_backs(&mut backs);
            let now = Instant::now();
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
            self.shared.sleeping.store(true, Ordering::SeqCst);
            if !self.shared.back.lock().is_empty() {
                timeout = Some(Duration::ZERO);
            }
            let polled = self.poll.poll(&mut events, timeout);
            self.shared.sleeping.store(false, Ordering::SeqCst);
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
            for ev in events.iter() {
                match ev.token() {
                    WAKE => {}
                    LEAVE => self.begin_leaving(),
                    ABORT => self.abort(),
                    Token(t) if t >= LISTENER_BASE => self.accept(t - LISTENER_BASE),
                    Token(k) => self.on_event(k, ev),
                }
            }
            let now = Instant::now();
            self.wheel.expire(now, &mut fired);
            for e in fired.drain(..) {
                self.on_timer(e, now);
            }
        }
    }

    fn take_backs(&mut self, backs: &mut Vec<(usize, Option<Handback>)>) {
        std::mem::swap(backs, &mut *self.shared.back.lock());
        for (k, hb) in backs.drain(..) {
            self.lent = self.lent.saturating_sub(1);
            self.handback(k, hb);
        }
    }

    // ----- accepting -------------------------------------------------

    /// Put the listeners in the poll set, or take them out. They are
    /// registered with `EPOLLEXCLUSIVE` (and level-triggered), directly
    /// with `epoll_ctl` on mio's epoll descriptor: mio offers no way to
    /// ask for that flag, and its Linux selector takes an event's 64-bit
    /// data as the token, which is what is written here.
    fn set_accepting(&mut self, on: bool) {
        if on == self.accepting {
            return;
        }
        let epfd = self.poll.as_raw_fd();
        for (i, l) in self.cx.listeners.iter().enumerate() {
            let fd = l.socket.as_raw_fd();
            let r = if on {
                let mut ev = libc::epoll_event {
                    events: (libc::EPOLLIN | libc::EPOLLEXCLUSIVE) as u32,
                    u64: (LISTENER_BASE + i) as u64,
                };
                // SAFETY: both descriptors are open (the poll's and the
                // listener's, which outlive the loop) and `ev` is a valid
                // epoll_event for the duration of the call.
                unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) }
            } else {
                // SAFETY: as above; EPOLL_CTL_DEL ignores the event pointer.
                unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) }
            };
            if r < 0 {
                let e = io::Error::last_os_error();
                log::error!("could not change accepting on {}: {e}", l.name);
            }
        }
        self.accepting = on;
    }

    /// Whether the loop should take new connections now.
    fn regulate(&mut self, now: Instant) {
        if self.leaving {
            self.set_accepting(false);
            return;
        }
        if self.paused_until.is_some_and(|p| now >= p) {
            self.paused_until = None;
        }
        let queued = self.shared.queued.load(Ordering::Relaxed);
        let factor = (self.cx.mpm.async_request_worker_factor.max(1) as usize) * self.threads;
        let room = if self.accepting {
            queued <= factor
        } else {
            queued <= self.threads
        };
        let fds = self.live < self.fd_budget || self.counts.keepalive > 0;
        self.set_accepting(room && fds && self.paused_until.is_none());
    }

    fn accept(&mut self, index: usize) {
        self.accept_from(index, false);
    }

    /// Accept from listener `index`; `last`: the pass of a child that is
    /// leaving, which takes what is already queued for it and no more.
    fn accept_from(&mut self, index: usize, last: bool) {
        let Some(l) = self.cx.listeners.get(index) else {
            return;
        };
        for _ in 0..ACCEPT_BATCH {
            if !self.accepting || (self.leaving && !last) {
                return;
            }
            if self.live >= self.fd_budget {
                let live = self.live;
                self.short_of_descriptors(&format_args!(
                    "{live} connections held, all this process's open-file limit leaves room for"
                ));
                if !self.close_oldest_idle() {
                    self.pause();
                    return;
                }
            }
            match accept_nonblocking(&l.socket) {
                Ok((stream, peer)) => {
                    self.descriptors_suffice();
                    self.add(stream, peer, index, l);
                    self.accepted += 1;
                    self.process
                        .connections_served
                        .fetch_add(1, Ordering::Relaxed);
                    let limit = self.cx.mpm.max_connections_per_child;
                    if last {
                        continue;
                    }
                    if limit > 0 && self.accepted >= limit {
                        self.begin_leaving();
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_shortage(&e) => {
                    self.short_of_descriptors(&format_args!("accept failed: {e}"));
                    if !self.close_oldest_idle() {
                        self.pause();
                        return;
                    }
                }
                // The listener no longer listens: a graceful stop shut it.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    self.begin_leaving();
                    return;
                }
                Err(e) => match e.raw_os_error() {
                    Some(libc::ECONNABORTED) | Some(libc::EPROTO) | Some(libc::EPERM) => {}
                    _ => {
                        log::error!("accept failed: {e}");
                        return;
                    }
                },
            }
        }
    }

    /// Descriptors ran short: said once per episode (an episode ends after
    /// [`CALM`] without a shortage), not once per connection closed to
    /// make room.
    fn short_of_descriptors(&mut self, what: &dyn std::fmt::Display) {
        if self.short_at.is_none() {
            log::error!(
                "out of file descriptors ({what}); closing the oldest idle keep-alive \
                 connections to make room, and pausing accepts 100 ms at a time while \
                 there is none to close"
            );
        }
        self.short_at = Some(Instant::now());
    }

    /// A connection was accepted: the end of a shortage episode once calm.
    fn descriptors_suffice(&mut self) {
        if self.short_at.is_some_and(|t| t.elapsed() >= CALM) {
            self.short_at = None;
            log::warn!("file descriptors suffice again");
        }
    }

    fn pause(&mut self) {
        self.paused_until = Some(Instant::now() + PAUSE);
        self.set_accepting(false);
    }

    fn add(&mut self, stream: TcpStream, peer: SocketAddr, index: usize, l: &Listener) {
        let _ = stream.set_nodelay(true);
        let conn = match Connection::accepted(stream, peer, index, l) {
            Ok(c) => c,
            Err(e) => {
                log::debug!("connection lost before it was served: {e}");
                return;
            }
        };
        let k = match self.free.pop() {
            Some(k) => k,
            None => {
                self.conns.push(None);
                self.conns.len() - 1
            }
        };
        let fd = conn.as_raw_fd();
        if let Err(e) = self.poll.registry().register(
            &mut SourceFd(&fd),
            Token(k),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            log::error!("could not watch a new connection: {e}");
            self.free.push(k);
            return;
        }
        let now = Instant::now();
        self.conns[k] = Some(Slot {
            conn: Some(conn),
            state: State::Worker,
            served: 0,
            deadline: None,
            armed: None,
            hint: false,
            more: false,
            ka: 0,
        });
        self.live += 1;
        if self.conns[k]
            .as_ref()
            .and_then(|s| s.conn.as_ref())
            .is_some_and(|c| c.handshake_pending())
        {
            self.set_state(k, State::Handshake);
            self.set_deadline(k, Some(after(now, self.protocol.timeouts.timeout)));
        } else {
            self.enter_head(k, Vec::new(), now);
        }
    }

    /// Drive a TLS handshake as far as the socket lets it.
    fn handshake(&mut self, k: usize) {
        let Some(conn) = self.slot(k).and_then(|s| s.conn.as_mut()) else {
            return;
        };
        match conn.handshake_step() {
            Ok(HandshakeStatus::Done) => {
                self.enter_head(k, Vec::new(), Instant::now());
                // The client's first request may have come with its last
                // handshake flight.
                self.read_head(k);
            }
            Ok(HandshakeStatus::WantRead) | Ok(HandshakeStatus::WantWrite) => {}
            Err(e) if tls::is_plain_http(&e) => {
                log::debug!("plain HTTP on a TLS port from {}", conn.info().peer);
                // One small write into an empty socket buffer: it fits.
                let _ = conn.write_plain(tls::PLAIN_HTTP_RESPONSE);
                self.linger(k, Instant::now());
            }
            Err(e) => {
                log::debug!("TLS handshake with {} failed: {e}", conn.info().peer);
                self.close(k);
            }
        }
    }

    // ----- states ----------------------------------------------------

    fn slot(&mut self, k: usize) -> Option<&mut Slot> {
        self.conns.get_mut(k).and_then(|s| s.as_mut())
    }

    /// Change state, keeping the counts.
    fn set_state(&mut self, k: usize, new: State) -> Option<State> {
        let slot = self.conns.get_mut(k)?.as_mut()?;
        let old = std::mem::replace(&mut slot.state, new);
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
    fn set_deadline(&mut self, k: usize, deadline: Option<Instant>) {
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

    fn head_deadline(&self, rd: &ReadDeadline, last: Instant) -> Instant {
        head_deadline(rd, last, self.protocol.timeouts.timeout)
    }

    fn enter_head(&mut self, k: usize, buf: Vec<u8>, now: Instant) {
        let rd = ReadDeadline::new(self.protocol.timeouts.request_read.header, now);
        let deadline = self.head_deadline(&rd, now);
        self.set_state(
            k,
            State::Head {
                buf,
                rd,
                last: now,
                started: SystemTime::now(),
                clock: now,
            },
        );
        self.set_deadline(k, Some(deadline));
    }

    fn enter_keepalive(&mut self, k: usize, now: Instant) {
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
    fn close_oldest_idle(&mut self) -> bool {
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

    fn close(&mut self, k: usize) {
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

    fn linger(&mut self, k: usize, now: Instant) {
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

    fn begin_leaving(&mut self) {
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
    fn close_idle(&mut self, k: usize) {
        self.read_head(k);
        if matches!(self.slot(k).map(|s| &s.state), Some(State::KeepAlive)) {
            self.close(k);
        }
    }

    /// Close every connection the loop holds now; lent ones close when
    /// their worker gives them back.
    fn abort(&mut self) {
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

    // ----- events ----------------------------------------------------

    fn on_event(&mut self, k: usize, ev: &mio::event::Event) {
        let Some(slot) = self.slot(k) else {
            return;
        };
        let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
        let writable = ev.is_writable() || ev.is_write_closed() || ev.is_error();
        match slot.state {
            State::Handshake => {
                if readable || writable {
                    self.handshake(k);
                }
            }
            State::Worker => slot.hint |= readable,
            State::Head { .. } | State::KeepAlive => {
                if readable {
                    self.read_head(k);
                }
            }
            State::Writing { .. } => {
                slot.hint |= readable;
                if writable {
                    self.write_more(k);
                }
            }
            State::Linger => {
                if readable {
                    self.drain(k);
                }
            }
        }
    }

    fn on_timer(&mut self, e: Entry, now: Instant) {
        let quiet = self.protocol.timeouts.timeout;
        let Some(slot) = self.slot(e.key) else {
            return;
        };
        if slot.armed.map(|(id, _)| id) != Some(e.id) {
            return;
        }
        slot.armed = None;
        let Some(deadline) = slot.deadline else {
            return;
        };
        let deadline = match &slot.state {
            State::Head { rd, last, .. } => head_deadline(rd, *last, quiet),
            _ => deadline,
        };
        let k = e.key;
        if now < deadline {
            self.set_deadline(k, Some(deadline));
            return;
        }
        match self.slot(k).map(|s| &s.state) {
            Some(State::Head { .. }) => self.dispatch(k, Work::Refuse(serve::timeout_error())),
            Some(State::KeepAlive) => self.close_idle(k),
            Some(State::Handshake) | Some(State::Writing { .. }) | Some(State::Linger) => {
                self.close(k)
            }
            _ => {}
        }
    }

    /// Read what the client sent of a head, and dispatch it once whole.
    fn read_head(&mut self, k: usize) {
        loop {
            let Some(slot) = self.conns.get_mut(k).and_then(|s| s.as_mut()) else {
                return;
            };
            let Some(conn) = slot.conn.as_mut() else {
                return;
            };
            let (read, want) = match &mut slot.state {
                State::Head { buf, .. } if !buf.is_empty() => {
                    let old = buf.len();
                    let want = self.head_cap.saturating_sub(old).clamp(1, SCRATCH);
                    buf.resize(old + want, 0);
                    let r = read_some(conn, &mut buf[old..]);
                    buf.truncate(old + *r.as_ref().unwrap_or(&0));
                    (r.map(|n| (n, false)), want)
                }
                State::Head { .. } | State::KeepAlive => (
                    read_some(conn, &mut self.scratch).map(|n| (n, true)),
                    SCRATCH,
                ),
                _ => return,
            };
            // Sockets are edge-triggered: bytes a read left behind (it
            // filled its buffer; a TLS layer reads records in chunks) bring
            // no new event, so whoever takes the connection next must read
            // again before waiting.
            if let Ok((n, _)) = read {
                slot.more = n == want || conn.is_tls();
            }
            match read {
                Ok((0, _)) => {
                    self.close(k);
                    return;
                }
                Ok((n, in_scratch)) => {
                    if !self.got_head_bytes(k, n, in_scratch) {
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

    /// `n` bytes arrived (in the scratch buffer, or already appended to
    /// the connection's own). False when the connection left the head
    /// state (dispatched).
    fn got_head_bytes(&mut self, k: usize, n: usize, in_scratch: bool) -> bool {
        let now = Instant::now();
        if matches!(self.slot(k).map(|s| &s.state), Some(State::KeepAlive)) {
            self.enter_head(k, Vec::new(), now);
        }
        let head_cap = self.head_cap;
        let limits = &self.protocol.limits;
        let Some(slot) = self.conns.get_mut(k).and_then(|s| s.as_mut()) else {
            return false;
        };
        let State::Head { buf, rd, last, .. } = &mut slot.state else {
            return false;
        };
        rd.on_data(n);
        *last = now;
        let data: &[u8] = if in_scratch && buf.is_empty() {
            &self.scratch[..n]
        } else {
            if in_scratch {
                buf.extend_from_slice(&self.scratch[..n]);
            }
            buf
        };
        let work = match h1::parse_head(data, limits) {
            Ok(Some((head, consumed))) => {
                let rest = data[consumed..].to_vec();
                Some((Work::Request(head), rest))
            }
            Ok(None) if data.len() >= head_cap => {
                Some((Work::Refuse(serve::head_too_large_error()), Vec::new()))
            }
            Ok(None) => {
                if in_scratch && buf.is_empty() {
                    buf.reserve_exact(n.max(256));
                    buf.extend_from_slice(&self.scratch[..n]);
                }
                None
            }
            Err(e) => Some((Work::Refuse(e), Vec::new())),
        };
        match work {
            Some((Work::Request(head), rest))
                if serve::answers_at_once(&*self.cx.handler, &head) =>
            {
                self.serve_inline(k, head, rest);
                false
            }
            Some((work, rest)) => {
                self.dispatch_with(k, work, rest);
                false
            }
            None => {
                let (rd, last) = (*rd, *last);
                let d = self.head_deadline(&rd, last);
                self.set_deadline(k, Some(d));
                true
            }
        }
    }

    fn dispatch(&mut self, k: usize, work: Work) {
        self.dispatch_with(k, work, Vec::new());
    }

    /// Take the connection out of the loop's hands with `work` and the
    /// bytes after the head: for a worker, or for the loop to answer at
    /// once. `None` when the key holds no connection.
    fn lend(&mut self, k: usize, work: Work, rest: Vec<u8>) -> Option<Dispatch> {
        let old = self.set_state(k, State::Worker)?;
        self.set_deadline(k, None);
        let (started, clock) = match old {
            State::Head { started, clock, .. } => (started, clock),
            _ => (SystemTime::now(), Instant::now()),
        };
        let slot = self.slot(k)?;
        slot.hint = std::mem::take(&mut slot.more);
        Some(Dispatch {
            conn: slot.conn.take()?,
            buf: rest,
            work,
            served: slot.served,
            started,
            clock,
        })
    }

    /// Lend the connection to a worker with `work` and the bytes after
    /// the head.
    fn dispatch_with(&mut self, k: usize, work: Work, rest: Vec<u8>) {
        if let Some(d) = self.lend(k, work, rest) {
            self.lent += 1;
            self.shared.push(k, d);
        }
    }

    /// Answer a quick request here, without a worker (the handler said its
    /// answer never blocks: [`mpm_core::Handler::answers_at_once`]), and
    /// any further such requests already buffered.
    fn serve_inline(&mut self, k: usize, head: h1::RequestHead, rest: Vec<u8>) {
        let Some(d) = self.lend(k, Work::Request(head), rest) else {
            return;
        };
        let (stopping, process) = (self.stopping, self.process);
        let leaving = move || stopping.load(Ordering::Acquire) || process.is_quiescing();
        let handler = &*self.cx.handler;
        let only = |h: &h1::RequestHead| serve::answers_at_once(handler, h);
        let ctx = ServeContext {
            handler,
            protocol: self.protocol,
            slot: self.loop_slot,
            idle_close: None,
            abort: None,
            leaving: Some(&leaving),
            handoff: true,
            only: Some(&only),
        };
        let bufs = &mut self.inline_bufs;
        let hb = match catch_unwind(AssertUnwindSafe(|| serve::serve_dispatched(d, &ctx, bufs))) {
            Ok(hb) => Some(hb),
            Err(_) => {
                log::error!(
                    "a connection ended with a panic in the serving code; the loop goes on"
                );
                *bufs = ServeBuffers::default();
                None
            }
        };
        if let Some(s) = self.loop_slot {
            s.set_state(WorkerState::Dead);
        }
        self.handback(k, hb);
    }

    /// A worker gave a connection back.
    fn handback(&mut self, k: usize, hb: Option<Handback>) {
        let Some(hb) = hb else {
            // The worker panicked and the connection went with it.
            self.set_state(k, State::Worker);
            if self.conns.get_mut(k).and_then(|s| s.take()).is_some() {
                self.free.push(k);
                self.live -= 1;
            }
            return;
        };
        let aborted = self.aborted;
        let Some(slot) = self.slot(k) else {
            return;
        };
        slot.conn = Some(hb.conn);
        slot.served = hb.served;
        if aborted {
            self.close(k);
            return;
        }
        let now = Instant::now();
        match hb.pending {
            Some(pending) => {
                self.set_state(
                    k,
                    State::Writing {
                        pending,
                        after: hb.after,
                        buf: hb.buf,
                    },
                );
                self.set_deadline(k, Some(after(now, self.protocol.timeouts.timeout)));
                self.write_more(k);
            }
            None => self.after_response(k, hb.after, hb.buf, now),
        }
    }

    fn after_response(&mut self, k: usize, after: After, buf: Vec<u8>, now: Instant) {
        if self.aborted {
            self.close(k);
            return;
        }
        match after {
            After::KeepAlive if self.leaving && buf.is_empty() => {
                // Unless its next request has begun to arrive.
                self.enter_keepalive(k, now);
                self.close_idle(k);
            }
            After::KeepAlive => {
                if buf.is_empty() {
                    self.enter_keepalive(k, now);
                } else {
                    self.enter_head(k, buf, now);
                    // It may hold a whole head (one left for a worker).
                    if !self.got_head_bytes(k, 0, false) {
                        return;
                    }
                }
                // News that came while a worker had it, or decrypted bytes
                // a TLS layer already holds (no socket event will tell).
                let hint = self.slot(k).is_some_and(|s| {
                    std::mem::take(&mut s.hint)
                        | s.conn.as_ref().is_some_and(|c| c.has_buffered_plaintext())
                });
                if hint {
                    self.read_head(k);
                }
            }
            After::Close => self.close(k),
            After::Linger => self.linger(k, now),
        }
    }

    fn write_more(&mut self, k: usize) {
        let Some(slot) = self.conns.get_mut(k).and_then(|s| s.as_mut()) else {
            return;
        };
        let (Some(conn), State::Writing { pending, .. }) = (slot.conn.as_mut(), &mut slot.state)
        else {
            return;
        };
        let now = Instant::now();
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
                if let Some(State::Writing { after, buf, .. }) = self.set_state(k, State::Worker) {
                    self.set_deadline(k, None);
                    self.after_response(k, after, buf, now);
                }
            }
            Ok(false) => self.set_deadline(k, Some(after(now, self.protocol.timeouts.timeout))),
            Err(e) => {
                log::debug!("a response could not be finished: {e}");
                self.close(k);
            }
        }
    }

    /// Lingering close: read and discard until the client closes.
    fn drain(&mut self, k: usize) {
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

/// When a head must be done: its `RequestReadTimeout` deadline, and never
/// more than `Timeout` after the last bytes.
fn head_deadline(rd: &ReadDeadline, last: Instant, timeout: Duration) -> Instant {
    let quiet = after(last, timeout);
    rd.deadline().map_or(quiet, |d| d.min(quiet))
}

/// `read`, retried on `EINTR`.
fn read_some(conn: &mut Connection, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match conn.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// `accept4` with `SOCK_NONBLOCK`: the new socket is born non-blocking, so
/// accepting costs one system call, not two.
fn accept_nonblocking(l: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let lfd: RawFd = l.as_raw_fd();
    // SAFETY: `try_init` hands a zeroed sockaddr_storage and its length to
    // the closure, which passes them to accept4 as the kernel expects; the
    // length is updated by the kernel to what it wrote.
    let (fd, addr) = unsafe {
        socket2::SockAddr::try_init(|storage, len| {
            let fd = libc::accept4(
                lfd,
                storage.cast(),
                len,
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            );
            if fd < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(fd)
            }
        })?
    };
    // SAFETY: accept4 returned a new descriptor that nothing else owns.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    let peer = addr
        .as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP peer"))?;
    Ok((stream, peer))
}
