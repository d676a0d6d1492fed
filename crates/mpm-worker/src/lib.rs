//! # mpm-worker
//!
//! Apache's worker MPM: a master process keeps a pool of child processes,
//! each with `ThreadsPerChild` worker threads; an idle worker accepts
//! the connection it is woken for and serves it itself, start to end
//! (keep-alive waits included), one connection at a time. A crash costs
//! one process and the connections its threads hold, never the server;
//! memory is shared by the threads of a process, so a server of many
//! connections needs far fewer processes than prefork.
//!
//! The process model (the master: forking, reaping, spares, restarts; a
//! child's start, privileges dropped, its worker threads) is
//! [`mpm_core::process`], shared with prefork and event; here the spares
//! are counted in threads. This crate adds the child's body and the worker
//! directives:
//!
//! | directive | meaning here |
//! |---|---|
//! | `StartServers` | children forked by each (re)start |
//! | `ThreadsPerChild` | worker threads of each child |
//! | `ThreadLimit` | worker slots per child in the scoreboard (upper bound of `ThreadsPerChild`) |
//! | `MinSpareThreads`, `MaxSpareThreads` | idle threads, over all children, kept between these bounds, checked once a second |
//! | `MaxRequestWorkers` | threads alive at once (a multiple of `ThreadsPerChild`) |
//! | `ServerLimit` | process slots in the scoreboard |
//! | `MaxConnectionsPerChild` | a child leaves after its threads took this many connections together (0: never) |
//!
//! ## Accepting: each idle worker for itself
//!
//! Each worker has its own epoll set ([`Acceptor`]) holding every
//! listening socket with `EPOLLEXCLUSIVE` (as prefork's children: the
//! kernel wakes one waiting set per connection), the child's leave and
//! idle-close pipes and its job signal. A worker waits in it only while
//! idle, and the worker the kernel wakes accepts the connection and
//! serves it: no thread hands it to another. (Apache's worker has a
//! listener thread that queues each connection for a worker; here that
//! hand-off cost two `futex` calls and a second thread's wake-up per
//! connection: `benches/http/README.md`.)
//!
//! The accept gate's promise holds by construction: a child takes a
//! connection only through an idle worker, which serves it at once. A
//! child whose workers are all busy has no set waiting, so the kernel
//! passes new connections to the other children's idle workers.
//!
//! The child's main thread only waits for the child to leave: its leave
//! pipe (or the master gone), or the idle-close pipe, which the worker
//! that takes the child's `MaxConnectionsPerChild`th connection writes
//! (the count is one atomic over the workers; workers accept at once, so
//! a connection or two taken in the same instant is served too, as
//! Apache's threaded MPMs count approximately).
//!
//! Descriptors: a child holds one epoll set per worker (25 at the default
//! `ThreadsPerChild`), an eventfd and the idle-close pipe, beside its
//! connections.
//!
//! Memory: a worker whose connection ended gives back what TLS used
//! ([`mpm_core::process::child::connection_ended`]: the pages of its TLS
//! and file copy buffers, [`mpm_core::net::rooms`], and the allocator's
//! free pages), so 25 idle threads keep no TLS buffers; nothing is done
//! after a plain connection.
//!
//! ## HTTP/2: a connection's streams on the child's other threads
//!
//! A worker whose connection speaks HTTP/2 owns its session
//! ([`mpm_core::serve::h2`]) and hands each stream to the child's stream
//! queue, which idle workers serve in arrival order (a stream whose
//! answer never blocks, a static file, it answers itself, as event's
//! loop does). Each stream queued
//! writes the job signal (an eventfd in every worker's epoll set, with
//! `EPOLLEXCLUSIVE`), which wakes one idle worker: one wake-up per
//! stream, no herd. A worker back from its connection or stream takes a
//! queued stream before it waits for a new connection; a woken worker
//! that leaves streams behind (it was woken for a connection too, or
//! read the signal of two) writes the signal again for another. One
//! connection keeps at most `ThreadsPerChild` − 2 streams there at once
//! (its own thread and one for another connection are left); its other
//! streams wait with it, so it cannot starve the child's other
//! connections: their streams queue beside its own and go in turn. At
//! most `ThreadsPerChild` − 1 workers own HTTP/2 connections at once, so
//! one always serves streams; a connection beyond that, or in a child of
//! fewer than three threads, is served by its own thread, one stream at
//! a time, as under prefork. `H2MaxSessionStreams` (and `H2MaxWorkers`)
//! bound the streams a client opens at once.
//!
//! ## Leaving
//!
//! Told to leave (graceful restart or stop, a retired spare), or after
//! `MaxConnectionsPerChild` connections, or when the master is gone, the
//! main thread writes a byte to the child's own *idle-close pipe*: idle
//! workers stop accepting (both pipes are in their epoll sets), workers
//! waiting between keep-alive requests close their connections,
//! responses announce `Connection: close`, a request under way
//! completes; an HTTP/2 connection says GOAWAY and its streams sent
//! before it are all served. Workers then wait on the job signal alone
//! and exit once no HTTP/2 connection may hand them streams, busy ones
//! after their connection, then the child exits (the master replaces it
//! unless it was told to leave).
//!
//! A handler that panics gets its client a 500 from the serving code; the
//! worker thread also guards each connection with `catch_unwind`, so no
//! thread is lost even to a bug in the serving code itself. Should the
//! main thread die, the workers are sent home all the same and the
//! child exits, to be replaced ([`mpm_core::process::child::run_with_workers`]).
//!
//! ## In one process
//!
//! [`Worker::in_process`] runs one child's worker threads in
//! the calling process, with no master and no fork (`worker-threads` in
//! the `mpm` facade): for embedders that want one threaded process, whose
//! handler (and the state in it) every thread shares. A stop closes the
//! listening sockets at once and every connection at its next wait; a
//! graceful stop lets the requests under way finish. There is no master to
//! replace a process that dies: a panic of its main thread ends `run` with
//! [`Error::Panicked`].
//!
//! ## Scoreboard
//!
//! `ServerLimit` × `ThreadLimit` worker slots: slot (child, thread) for
//! each of the `ThreadsPerChild` workers, `S` starting, `_` waiting for a
//! connection, `R`/`W`/`K` while serving, `G` when finishing before the
//! child leaves; the slots above `ThreadsPerChild` stay `.`. A worker
//! serving an HTTP/2 stream shows `R`/`W` with the stream's request line
//! (`GET /path HTTP/2.0`); the worker owning the connection shows `K`
//! while no stream is open, `R` while some are.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use mpm_core::net::accept::{Acceptor, Next};
use mpm_core::process::child::{run_in_process, run_with_workers, ChildContext};
use mpm_core::process::clamp::{self, Clamped};
use mpm_core::process::master::MasterParams;
use mpm_core::process::scoreboard::{ProcessSlot, WorkerSlot};
use mpm_core::serve::h2::{StreamPool, StreamWork};
use mpm_core::serve::{serve_connection, Mode, ServeContext};
use mpm_core::{Connection, Error, Exit, Mpm, MpmConfig, MpmInfo, RunContext, WorkerState};
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use parking_lot::Mutex;

/// The worker strategy. It holds no state of its own: its children are
/// the [`RunContext::master`]'s, which the caller keeps across restarts
/// (so a graceful restart, even one that changes the strategy, lets the
/// old children finish).
#[derive(Debug, Default)]
pub struct Worker {
    in_process: bool,
}

impl Worker {
    /// The worker strategy.
    pub fn new() -> Self {
        Worker::default()
    }

    /// One child's worker threads in this process, without a master or
    /// children (see the crate documentation).
    pub fn in_process() -> Self {
        Worker { in_process: true }
    }
}

impl Mpm for Worker {
    fn info(&self) -> MpmInfo {
        MpmInfo {
            name: if self.in_process {
                "worker-threads"
            } else {
                "worker"
            },
            threaded: true,
            forked: !self.in_process,
        }
    }

    fn check_config(&self, cfg: &MpmConfig) -> (Clamped, Vec<String>) {
        clamp::threaded(cfg)
    }

    fn scoreboard_shape(&self, cfg: &Clamped) -> (usize, usize) {
        let processes = if self.in_process {
            1
        } else {
            cfg.server_limit() as usize
        };
        (processes, cfg.directives().thread_limit as usize)
    }

    fn run(&mut self, ctx: RunContext<'_>) -> Result<Exit, Error> {
        if self.in_process {
            return run_in_process(ctx, "the child's main thread", |cx, abort| {
                child(cx, Some(abort))
            });
        }
        let params = MasterParams::threaded(ctx.mpm);
        ctx.master.run(&ctx, params, &|cx| {
            if let Err(e) = child(cx, None) {
                log::error!("child {}: {e}", std::process::id());
            }
        })
    }
}

/// The HTTP/2 streams handed over by the workers that own their
/// connections, for the idle workers to serve.
#[derive(Default)]
struct State {
    /// Streams not yet taken by a worker, in arrival order.
    streams: VecDeque<StreamWork>,
    /// Workers that own an HTTP/2 connection and hand its streams over
    /// ([`StreamPool::attach`]): fewer than the child's threads, so one
    /// always serves streams.
    owners: usize,
    /// The child leaves: workers exit once nothing is queued and no
    /// owner is left (whose streams would need them).
    done: bool,
}

/// What a worker serves.
// Made once per connection or stream and taken apart at once: boxing the
// connection would cost an allocation per connection for nothing.
#[allow(clippy::large_enum_variant)]
enum Job {
    /// A connection it accepted, served to its end.
    Connection(Connection),
    /// One HTTP/2 stream of a connection another worker owns.
    Stream(StreamWork),
}

/// What the workers of a child share: the stream queue and the job
/// signal that wakes an idle worker for it, and the count of
/// connections taken.
struct Shared {
    state: Mutex<State>,
    /// `state.streams.len()`, read without the lock by a worker on its
    /// way back to waiting.
    queued: AtomicUsize,
    /// `state.done`, read without the lock.
    done: AtomicBool,
    /// The job signal (non-blocking): written once per stream queued,
    /// and when the child leaves. Idle workers wait on it in their
    /// acceptors with `EPOLLEXCLUSIVE`, so a write wakes one of them; a
    /// woken worker reads it before it looks at the queue, and writes it
    /// again when it leaves streams behind ([`Shared::next_stream`]).
    jobs: EventFd,
    /// Connections the child's workers took (`MaxConnectionsPerChild`).
    accepted: AtomicU64,
    /// The child's worker threads.
    threads: usize,
    /// Most streams of one connection queued or served at once
    /// ([`StreamPool::attach`]).
    share: usize,
}

impl Shared {
    /// The shared state of a child of `threads` workers.
    fn new(threads: usize) -> io::Result<Shared> {
        Ok(Shared {
            state: Mutex::default(),
            queued: AtomicUsize::new(0),
            done: AtomicBool::new(false),
            jobs: EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?,
            accepted: AtomicU64::new(0),
            threads,
            share: stream_share(threads),
        })
    }

    /// Wake one idle worker (a leaving child: every worker waiting to
    /// exit).
    fn signal(&self) {
        // It fails only when the counter would pass u64::MAX - 1: it is
        // readable then anyway.
        let _ = self.jobs.write(1);
    }

    /// Read the job signal, before looking at the queue: a write after
    /// this is seen by the next wait.
    fn clear_signal(&self) {
        // EAGAIN: another worker read it first.
        let _ = self.jobs.read();
    }

    /// Whether a stream may be queued (without the lock).
    fn has_streams(&self) -> bool {
        self.queued.load(Ordering::Acquire) > 0
    }

    /// The next queued stream, if any. When more are left, another idle
    /// worker is woken for them: the signal meant for it may have been
    /// read by this one.
    fn next_stream(&self) -> Option<StreamWork> {
        let mut st = self.state.lock();
        let job = st.streams.pop_front();
        self.queued.store(st.streams.len(), Ordering::Release);
        let more = !st.streams.is_empty();
        drop(st);
        if more {
            self.signal();
        }
        job
    }

    /// Whether the child leaves (without the lock).
    fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Whether a worker of a leaving child may exit: nothing is queued
    /// and no owner is left to queue more.
    fn drained(&self) -> bool {
        let st = self.state.lock();
        st.done && st.owners == 0 && st.streams.is_empty()
    }

    /// The child leaves: workers exit once [`Shared::drained`].
    fn finish(&self) {
        self.state.lock().done = true;
        self.done.store(true, Ordering::Release);
        self.signal();
    }

    /// Count a connection taken; true for the child's last one (the
    /// `limit`th; 0: no limit). Workers accept at once, so a few more
    /// may be taken at the same instant: each is served.
    fn count_connection(&self, limit: u64) -> bool {
        let n = self.accepted.fetch_add(1, Ordering::Relaxed) + 1;
        limit > 0 && n == limit
    }
}

/// The streams one HTTP/2 connection may hand to the other workers of a
/// child of `threads`: all but its own thread and one kept for another
/// connection. A child of fewer than three has none to spare: the
/// connection's thread serves its streams itself, one at a time.
fn stream_share(threads: usize) -> usize {
    threads.saturating_sub(2)
}

impl StreamPool for Shared {
    fn attach(&self) -> usize {
        let mut st = self.state.lock();
        // The last thread that owns no HTTP/2 connection stays so: the
        // streams handed over always have a thread to come to.
        if self.share == 0 || st.done || st.owners + 1 >= self.threads {
            return 0;
        }
        st.owners += 1;
        self.share
    }

    fn detach(&self) {
        let mut st = self.state.lock();
        st.owners -= 1;
        let last = st.done && st.owners == 0;
        drop(st);
        if last {
            self.signal();
        }
    }

    fn submit(&self, job: StreamWork) {
        let mut st = self.state.lock();
        st.streams.push_back(job);
        self.queued.store(st.streams.len(), Ordering::Release);
        drop(st);
        self.signal();
    }
}

/// A child: its workers, each waiting for connections in its own
/// acceptor, and the main thread waiting for the child to leave; then
/// the workers are waited for. `abort`, when given, closes every
/// connection at its next wait (a hard stop in one process; a forked
/// child is killed instead).
fn child(cx: ChildContext<'_>, abort: Option<BorrowedFd<'_>>) -> Result<(), Error> {
    let process = cx.scoreboard.process(cx.number);
    let (idle_read, idle_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .map_err(|e| Error::io("making the idle-close pipe", e.into()))?;
    let shared = Shared::new(cx.threads).map_err(|e| {
        Error::io(
            "making the worker threads' job signal (an eventfd: raise the open-files \
                 limit, `ulimit -n`)",
            e,
        )
    })?;
    let acceptors = (0..cx.threads)
        .map(|_| {
            worker_acceptor(cx.listeners, cx.leave, idle_read.as_fd(), &shared).map(Mutex::new)
        })
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| {
            Error::io(
                "making the worker threads' epoll sets (one per thread: raise the \
                 open-files limit, `ulimit -n`, or lower ThreadsPerChild)",
                e,
            )
        })?;
    let stopping = AtomicBool::new(false);
    let leaving = || stopping.load(Ordering::Acquire) || process.is_quiescing();
    let limit = cx.mpm.directives().max_connections_per_child;
    // The child's last connection is taken: the main thread and the
    // idle workers see the idle-close pipe readable.
    let last_taken = || {
        let _ = nix::unistd::write(&idle_write, &[1u8]);
    };
    let body = |t: usize, slot: &WorkerSlot| {
        let serve_ctx = ServeContext {
            handler: &*cx.handler,
            protocol: &cx.protocol,
            worker_slot: Some(slot),
            counters: Some(cx.scoreboard.counters()),
            idle_close: Some(idle_read.as_fd()),
            abort,
            leaving: Some(&leaving),
            mode: Mode::Blocking,
            streams: Some(&shared),
        };
        let Some(acceptor) = acceptors.get(t) else {
            return;
        };
        let taken = Taken {
            process,
            limit,
            last: &last_taken,
        };
        work(&shared, slot, &serve_ctx, &mut acceptor.lock(), &taken);
    };
    // However the main thread ends (a panic included), the workers are
    // sent home and the child exits, to be replaced by the master.
    run_with_workers(
        &cx,
        &body,
        &stopping,
        |started| {
            if started > 0 {
                wait_to_leave(&cx, process, idle_read.as_fd());
            }
        },
        || {
            let _ = nix::unistd::write(&idle_write, &[1u8]);
            shared.finish();
        },
    );
    drop(idle_write);
    Ok(())
}

/// A worker's epoll set: the `listeners`, the child's `leave` pipe (the
/// master writes it before a graceful stop shuts the listeners, so a
/// thread woken by the closing socket finds it), its `idle`-close pipe
/// (the child leaves for its own reasons) and the job signal.
fn worker_acceptor<'a>(
    listeners: &'a mpm_core::Listeners,
    leave: BorrowedFd<'a>,
    idle: BorrowedFd<'a>,
    shared: &'a Shared,
) -> io::Result<Acceptor<'a>> {
    let mut a = Acceptor::new(listeners, leave)?;
    a.leave_on(idle)?;
    a.signal_on(shared.jobs.as_fd())?;
    Ok(a)
}

/// What a worker does with each connection it takes: count it on the
/// scoreboard and against `MaxConnectionsPerChild` (`limit`), calling
/// `last` for the last one.
struct Taken<'a> {
    process: &'a ProcessSlot,
    limit: u64,
    last: &'a (dyn Fn() + Sync),
}

/// A worker thread: a queued stream first; else wait in its own
/// acceptor, and serve the connection it is woken for (no other thread
/// touches it), or the stream it is signalled for; until the child
/// leaves. Then it serves the streams the child's HTTP/2 connections
/// still hand over, and exits.
fn work(
    shared: &Shared,
    slot: &WorkerSlot,
    ctx: &ServeContext<'_>,
    acceptor: &mut Acceptor<'_>,
    taken: &Taken<'_>,
) {
    slot.set_state(WorkerState::Ready);
    let mut signalled = false;
    loop {
        if signalled || shared.has_streams() {
            signalled = false;
            if let Some(stream) = shared.next_stream() {
                serve(Job::Stream(stream), slot, ctx);
                continue;
            }
        }
        if shared.is_done() {
            break;
        }
        match acceptor.wait() {
            Next::Connection(conn) => {
                taken
                    .process
                    .connections_served
                    .fetch_add(1, Ordering::Relaxed);
                if shared.count_connection(taken.limit) {
                    (taken.last)();
                }
                // Woken for a stream too: another idle worker takes it.
                if shared.has_streams() {
                    shared.signal();
                }
                serve(Job::Connection(conn), slot, ctx);
            }
            Next::Signal => {
                shared.clear_signal();
                signalled = true;
            }
            Next::Leave => break,
        }
    }
    // The child leaves: no more connections (the acceptor's listeners
    // and pipes are left alone), only streams; the slot shows `G`.
    loop {
        slot.set_state(WorkerState::Graceful);
        shared.clear_signal();
        if let Some(stream) = shared.next_stream() {
            serve(Job::Stream(stream), slot, ctx);
            continue;
        }
        if shared.drained() {
            // The next waiting worker exits too.
            shared.signal();
            break;
        }
        wait_for(shared.jobs.as_fd());
    }
}

/// Serve `job` on this worker; a panic in the serving code costs the
/// job, never the thread.
fn serve(job: Job, slot: &WorkerSlot, ctx: &ServeContext<'_>) {
    let served = match job {
        Job::Connection(conn) => {
            let served = catch_unwind(AssertUnwindSafe(|| serve_connection(conn, ctx))).map(drop);
            // Idle until its next job: what TLS used goes back to the
            // system (nothing to do after a plain connection).
            mpm_core::process::child::connection_ended();
            served
        }
        Job::Stream(stream) => catch_unwind(AssertUnwindSafe(|| stream(ctx))),
    };
    if served.is_err() {
        log::error!("a connection ended with a panic in the serving code; the worker goes on");
    }
    slot.set_state(WorkerState::Ready);
}

/// Wait until one of `fds` is readable.
fn wait_readable_any(fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    let mut polled: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    loop {
        match nix::poll::poll(&mut polled, PollTimeout::NONE) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Wait until the job signal is readable (a worker of a leaving child).
fn wait_for(jobs: BorrowedFd<'_>) {
    if let Err(e) = wait_readable_any(&[jobs]) {
        log::error!("a leaving worker waiting for streams: poll failed: {e}");
        std::thread::sleep(RETRY_PAUSE);
    }
}

/// How long a worker whose wait failed pauses before it looks again
/// (never a busy loop).
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// The child's main thread while its workers accept: wait until the
/// child is told to leave (the leave pipe; the master gone), or a worker
/// took its last connection (`MaxConnectionsPerChild`: the idle-close
/// pipe).
fn wait_to_leave(cx: &ChildContext<'_>, process: &ProcessSlot, idle: BorrowedFd<'_>) {
    process.accepting.store(1, Ordering::Release);
    if let Err(e) = wait_readable_any(&[cx.leave, idle]) {
        log::error!(
            "child {}: waiting for the leave pipe failed ({e}); the child leaves",
            std::process::id()
        );
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;

    #[test]
    fn worker_names_itself_forked_and_threaded() {
        assert_eq!(
            Worker::new().info(),
            MpmInfo {
                name: "worker",
                threaded: true,
                forked: true
            }
        );
    }

    #[test]
    fn the_scoreboard_has_server_limit_processes_of_thread_limit_slots() {
        let w = Worker::new();
        let shape = |cfg: &MpmConfig| w.scoreboard_shape(&w.check_config(cfg).0);
        assert_eq!(shape(&MpmConfig::default()), (16, 64));
        let cfg = MpmConfig {
            server_limit: Some(4),
            thread_limit: 6,
            threads_per_child: 4,
            max_request_workers: Some(16),
            ..MpmConfig::default()
        };
        assert_eq!(shape(&cfg), (4, 6));
        // A ThreadLimit above the hard maximum is clamped first.
        let cfg = MpmConfig {
            thread_limit: 90_000,
            ..MpmConfig::default()
        };
        assert_eq!(shape(&cfg).1, clamp::MAX_THREAD_LIMIT as usize);
    }

    /// A handler that answers every request with an empty 200.
    struct Nothing;
    impl mpm_core::Handler for Nothing {
        fn handle(&self, _: mpm_core::Request<'_>, _: &mpm_core::ConnInfo) -> mpm_core::Response {
            mpm_core::Response::new(mpm_core::Body::Empty)
        }
    }

    /// One child's parts for worker threads run by a test: a listener
    /// on a free loopback port, the idle-close pipe, the shared state and
    /// a scoreboard of one process.
    struct TestChild {
        listeners: mpm_core::Listeners,
        scoreboard: mpm_core::process::scoreboard::Scoreboard,
        /// The child's leave pipe (the master's; never written here).
        leave: (std::os::fd::OwnedFd, std::os::fd::OwnedFd),
        idle: (std::os::fd::OwnedFd, std::os::fd::OwnedFd),
        shared: Shared,
        protocol: mpm_core::ProtocolConfig,
    }

    impl TestChild {
        /// A child of `threads` workers (none started).
        fn new(threads: usize) -> Arc<TestChild> {
            Arc::new(TestChild {
                listeners: mpm_core::Listeners::bind(&["127.0.0.1:0".parse().unwrap()], 16)
                    .expect("a listener on a free loopback port"),
                scoreboard: mpm_core::process::scoreboard::Scoreboard::new(1, threads)
                    .expect("a scoreboard"),
                leave: nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("the leave pipe"),
                idle: nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("the idle-close pipe"),
                shared: Shared::new(threads).expect("the job signal"),
                protocol: mpm_core::ProtocolConfig::default(),
            })
        }

        /// Start worker `t` on a thread of its own.
        fn start(self: &Arc<Self>, t: usize) -> std::thread::JoinHandle<()> {
            let c = self.clone();
            std::thread::spawn(move || c.work(t))
        }

        /// Worker `t`'s life, as in a child.
        fn work(&self, t: usize) {
            let mut acceptor = worker_acceptor(
                &self.listeners,
                self.leave.0.as_fd(),
                self.idle.0.as_fd(),
                &self.shared,
            )
            .expect("a worker's epoll set");
            let slot = self.scoreboard.worker(0, t);
            let ctx = ServeContext {
                handler: &Nothing,
                protocol: &self.protocol,
                worker_slot: Some(slot),
                counters: None,
                idle_close: Some(self.idle.0.as_fd()),
                abort: None,
                leaving: None,
                mode: Mode::Blocking,
                streams: Some(&self.shared),
            };
            let taken = Taken {
                process: self.scoreboard.process(0),
                limit: 0,
                last: &|| {},
            };
            work(&self.shared, slot, &ctx, &mut acceptor, &taken);
        }

        /// Whether worker `t` has started and waits (or is back waiting).
        fn waits(&self, t: usize) -> bool {
            self.scoreboard.worker(0, t).state() == WorkerState::Ready
        }

        /// The child leaves, as its main thread does when it ends.
        fn leave(&self) {
            nix::unistd::write(&self.idle.1, &[1u8]).expect("the idle-close byte");
            self.shared.finish();
        }

        fn addr(&self) -> std::net::SocketAddr {
            self.listeners
                .iter()
                .next()
                .and_then(|l| l.socket.local_addr().ok())
                .expect("the listener's address")
        }
    }

    /// Poll `cond` every 10 ms for up to 10 s.
    fn soon(mut cond: impl FnMut() -> bool) -> bool {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if cond() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        cond()
    }

    /// Whether every thread of `handles` ended within 10 s (a thread
    /// that did not is left behind, and the test fails).
    fn ended(handles: &[std::thread::JoinHandle<()>]) -> bool {
        soon(|| handles.iter().all(|h| h.is_finished()))
    }

    /// A stream job that records `n` in `log` when it runs.
    fn recording(log: &Arc<Mutex<Vec<u32>>>, n: u32) -> StreamWork {
        let log = log.clone();
        Box::new(move |_| log.lock().push(n))
    }

    #[test]
    fn an_idle_worker_accepts_and_serves_its_connection_itself() {
        let child = TestChild::new(1);
        let worker = child.start(0);
        let mut client = std::net::TcpStream::connect(child.addr()).expect("connect");
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        let _ = client.read_to_string(&mut answer);
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "the worker answered {answer:?}"
        );
        assert_eq!(
            child
                .scoreboard
                .process(0)
                .connections_served
                .load(Ordering::Relaxed),
            1,
            "connections counted on the scoreboard"
        );
        child.leave();
        assert!(ended(&[worker]), "the worker stayed after the child left");
        assert_eq!(
            child.scoreboard.worker(0, 0).state(),
            WorkerState::Graceful,
            "the leaving worker's slot"
        );
    }

    #[test]
    fn a_leaving_child_sends_its_waiting_workers_home() {
        let child = TestChild::new(2);
        let workers = [child.start(0), child.start(1)];
        assert!(
            soon(|| child.waits(0) && child.waits(1)),
            "workers never waited"
        );
        child.leave();
        assert!(
            ended(&workers),
            "waiting workers stayed after the child left"
        );
    }

    #[test]
    fn a_waiting_worker_stops_accepting_as_soon_as_the_master_says_leave() {
        let child = TestChild::new(1);
        let worker = child.start(0);
        assert!(soon(|| child.waits(0)), "the worker never waited");
        // The master's leave byte alone (a graceful stop then shuts the
        // listeners): the worker stops accepting without waiting for the
        // child's main thread.
        nix::unistd::write(&child.leave.1, &[1u8]).expect("the leave byte");
        assert!(
            soon(|| child.scoreboard.worker(0, 0).state() == WorkerState::Graceful),
            "the worker still waits for connections: slot {:?}",
            child.scoreboard.worker(0, 0).state()
        );
        child.leave();
        assert!(ended(&[worker]), "the worker stayed after the child left");
    }

    #[test]
    fn streams_are_served_in_the_order_they_came() {
        let child = TestChild::new(4);
        let log = Arc::new(Mutex::new(Vec::new()));
        for n in 1..=3 {
            child.shared.submit(recording(&log, n));
        }
        let worker = child.start(0);
        assert!(soon(|| log.lock().len() == 3), "served: {:?}", log.lock());
        assert_eq!(*log.lock(), vec![1, 2, 3], "streams served out of order");
        child.leave();
        assert!(ended(&[worker]), "the worker stayed after the child left");
    }

    #[test]
    fn two_streams_queued_at_once_wake_two_waiting_workers() {
        let child = TestChild::new(4);
        let workers = [child.start(0), child.start(1)];
        assert!(
            soon(|| child.waits(0) && child.waits(1)),
            "workers never waited"
        );
        // The first stream runs until the second has started: one worker
        // woken for both would serve them one after the other.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (seen_tx, seen_rx) = std::sync::mpsc::channel::<bool>();
        child.shared.submit(Box::new(move |_| {
            let _ = seen_tx.send(rx.recv_timeout(Duration::from_secs(10)).is_ok());
        }));
        child.shared.submit(Box::new(move |_| {
            let _ = tx.send(());
        }));
        assert_eq!(
            seen_rx.recv_timeout(Duration::from_secs(20)),
            Ok(true),
            "the second stream waited for the first one's worker (or none ran)"
        );
        child.leave();
        assert!(ended(&workers), "workers stayed after the child left");
    }

    #[test]
    fn one_connection_takes_at_most_all_threads_but_its_own_and_one() {
        assert_eq!(stream_share(1), 0, "a lone thread serves its own streams");
        assert_eq!(stream_share(2), 0, "two threads: nothing to spare");
        assert_eq!(stream_share(3), 1);
        assert_eq!(stream_share(16), 14);
        // Of four threads, three may own HTTP/2 connections: the fourth
        // serves their streams.
        let shared = Shared::new(4).expect("the job signal");
        let shares: Vec<usize> = (0..4).map(|_| shared.attach()).collect();
        assert_eq!(shares, vec![2, 2, 2, 0], "shares of four would-be owners");
        shared.detach();
        assert_eq!(shared.attach(), 2, "a thread freed by an owner that left");
    }

    #[test]
    fn a_leaving_child_serves_queued_streams_and_waits_for_their_owners() {
        let child = TestChild::new(4);
        let log = Arc::new(Mutex::new(Vec::new()));
        assert_eq!(child.shared.attach(), 2);
        child.shared.submit(recording(&log, 1));
        child.leave();
        assert!(
            child.shared.attach() == 0,
            "an owner attached to a leaving child"
        );
        let worker = child.start(0);
        assert!(
            soon(|| log.lock().len() == 1),
            "the queued stream was not served"
        );
        // The worker waits for the owner's next stream rather than leave.
        child.shared.submit(recording(&log, 2));
        child.shared.detach();
        assert!(
            ended(&[worker]),
            "the worker stayed after the last owner left"
        );
        assert_eq!(
            *log.lock(),
            vec![1, 2],
            "a stream handed over by an owner of a leaving child was lost"
        );
    }

    #[test]
    fn the_childs_last_connection_is_the_max_connections_per_childth() {
        let shared = Shared::new(2).expect("the job signal");
        let last: Vec<bool> = (0..4).map(|_| shared.count_connection(3)).collect();
        assert_eq!(last, vec![false, false, true, false]);
        assert!(
            !(0..100).any(|_| shared.count_connection(0)),
            "MaxConnectionsPerChild 0 ended the child"
        );
    }
}
