//! # mpm-worker
//!
//! Apache's worker MPM: a master process keeps a pool of child processes,
//! each with `ThreadsPerChild` worker threads and one listener (the
//! child's main thread). A worker serves one connection at a time, start
//! to end (keep-alive waits included). A crash costs one process and the
//! connections its threads hold, never the server; memory is shared by
//! the threads of a process, so a server of many connections needs far
//! fewer processes than prefork.
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
//! ## The accept gate
//!
//! The listener waits on every listening socket (`EPOLLEXCLUSIVE`, as
//! prefork: the kernel wakes one waiting child per connection) and on the
//! child's leave pipe, but only while at least one of its workers is idle.
//! A child whose threads are all busy does not take a connection it could
//! not serve at once: its listener waits for a worker to come free before
//! it returns to `epoll_wait`, and meanwhile the kernel hands new
//! connections to the other children. The workers and the listener share
//! one queue under a mutex: `idle` counts the workers waiting on it, and
//! the listener accepts only while `idle` exceeds the connections and
//! HTTP/2 streams already queued, so a connection it accepts always has a
//! worker of its own (a waiting worker takes a queued connection before
//! a stream).
//!
//! ## HTTP/2: a connection's streams on the child's other threads
//!
//! A worker whose connection speaks HTTP/2 owns its session
//! ([`mpm_core::serve::h2`]) and hands each stream to the same queue, as
//! a second kind of job that idle workers take, in arrival order (a
//! stream whose answer never blocks, a static file, it answers itself,
//! as event's loop does). One
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
//! listener stops accepting and writes a byte to the child's own
//! *idle-close pipe*: workers waiting between keep-alive requests close
//! their connections, responses announce `Connection: close`, a request
//! under way completes; an HTTP/2 connection says GOAWAY and its streams
//! sent before it are all served. Idle workers exit once no HTTP/2
//! connection may hand them streams, busy ones after their connection,
//! then the child exits (the master replaces it unless it was
//! told to leave).
//!
//! A handler that panics gets its client a 500 from the serving code; the
//! worker thread also guards each connection with `catch_unwind`, so no
//! thread is lost even to a bug in the serving code itself. Should the
//! listener itself die, the workers are sent home all the same and the
//! child exits, to be replaced ([`mpm_core::process::child::run_with_workers`]).
//!
//! ## In one process
//!
//! [`Worker::in_process`] runs one child's listener and worker threads in
//! the calling process, with no master and no fork (`worker-threads` in
//! the `mpm` facade): for embedders that want one threaded process, whose
//! handler (and the state in it) every thread shares. A stop closes the
//! listening sockets at once and every connection at its next wait; a
//! graceful stop lets the requests under way finish. There is no master to
//! replace a process that dies: a panic of the listener ends `run` with
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
use std::os::fd::{AsFd, BorrowedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mpm_core::net::accept::{Acceptor, Next};
use mpm_core::net::poll::readable;
use mpm_core::process::child::{run_in_process, run_with_workers, ChildContext};
use mpm_core::process::clamp::{self, Clamped};
use mpm_core::process::master::MasterParams;
use mpm_core::process::scoreboard::{ProcessSlot, WorkerSlot};
use mpm_core::serve::h2::{StreamPool, StreamWork};
use mpm_core::serve::{serve_connection, Mode, ServeContext};
use mpm_core::{Connection, Error, Exit, Mpm, MpmConfig, MpmInfo, RunContext, WorkerState};
use nix::fcntl::OFlag;
use parking_lot::{Condvar, Mutex};

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

    /// The listener and its worker threads in this process, without a
    /// master or children (see the crate documentation).
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
            return run_in_process(ctx, "the listener thread", |cx, abort| {
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

/// How often a listener waiting for a free worker looks at its leave
/// pipe.
const GATE_POLL: Duration = Duration::from_millis(100);

/// The queue between the listener and the workers, and between the
/// workers that own HTTP/2 connections and the ones that serve their
/// streams.
#[derive(Default)]
struct State {
    /// Accepted connections not yet taken by a worker.
    queue: VecDeque<Connection>,
    /// HTTP/2 streams handed over by the workers that own their
    /// connections, not yet taken by a worker, in arrival order.
    streams: VecDeque<StreamWork>,
    /// Workers waiting for work.
    idle: usize,
    /// Workers that own an HTTP/2 connection and hand its streams over
    /// ([`StreamPool::attach`]): fewer than the child's threads, so one
    /// always serves streams.
    owners: usize,
    /// The listener stopped: workers exit once nothing is queued and no
    /// owner is left (whose streams would need them).
    done: bool,
}

/// What a worker takes from the queue.
enum Job {
    /// A connection, served to its end.
    Connection(Connection),
    /// One HTTP/2 stream of a connection another worker owns.
    Stream(StreamWork),
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled for each queued job, and (to all) when done.
    work: Condvar,
    /// Signalled when a worker starts waiting.
    freed: Condvar,
    /// The child's worker threads.
    threads: usize,
    /// Most streams of one connection queued or served at once
    /// ([`StreamPool::attach`]).
    share: usize,
}

impl Shared {
    /// The queue of a child of `threads` workers.
    fn new(threads: usize) -> Shared {
        Shared {
            threads,
            share: stream_share(threads),
            ..Shared::default()
        }
    }

    /// The next job for a worker, a queued connection before a stream
    /// (the gate promised it a worker); `None` when the child leaves.
    fn take(&self) -> Option<Job> {
        let mut st = self.state.lock();
        loop {
            if let Some(c) = st.queue.pop_front() {
                return Some(Job::Connection(c));
            }
            if let Some(s) = st.streams.pop_front() {
                return Some(Job::Stream(s));
            }
            if st.done && st.owners == 0 {
                return None;
            }
            st.idle += 1;
            self.freed.notify_one();
            self.work.wait(&mut st);
            st.idle -= 1;
        }
    }

    /// Whether a worker waits with nothing queued for it.
    fn has_idle(st: &State) -> bool {
        st.idle > st.queue.len() + st.streams.len()
    }

    fn push(&self, conn: Connection) {
        self.state.lock().queue.push_back(conn);
        self.work.notify_one();
    }

    fn finish(&self) {
        self.state.lock().done = true;
        self.work.notify_all();
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
        if st.done && st.owners == 0 {
            self.work.notify_all();
        }
    }

    fn submit(&self, job: StreamWork) {
        self.state.lock().streams.push_back(job);
        self.work.notify_one();
    }
}

/// A child: start the workers, run the listener, wait for the workers.
/// `abort`, when given, closes every connection at its next wait (a hard
/// stop in one process; a forked child is killed instead).
fn child(cx: ChildContext<'_>, abort: Option<BorrowedFd<'_>>) -> Result<(), Error> {
    let process = cx.scoreboard.process(cx.number);
    let mut acceptor = Acceptor::new(cx.listeners, cx.leave)
        .map_err(|e| Error::io("waiting for connections", e))?;
    let (idle_read, idle_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .map_err(|e| Error::io("making the idle-close pipe", e.into()))?;
    let shared = Shared::new(cx.threads);
    let stopping = AtomicBool::new(false);
    let leaving = || stopping.load(Ordering::Acquire) || process.is_quiescing();
    let body = |_: usize, slot: &WorkerSlot| {
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
        work(&shared, slot, &serve_ctx);
    };
    // However the listener ends (a panic included), the workers are sent
    // home and the child exits, to be replaced by the master.
    run_with_workers(
        &cx,
        &body,
        &stopping,
        |started| {
            if started > 0 {
                listen(&cx, process, &mut acceptor, &shared);
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

/// A worker thread: serve connections and streams from the queue until
/// the child leaves.
fn work(shared: &Shared, slot: &WorkerSlot, ctx: &ServeContext<'_>) {
    slot.set_state(WorkerState::Ready);
    while let Some(job) = shared.take() {
        let served = match job {
            Job::Connection(conn) => {
                catch_unwind(AssertUnwindSafe(|| serve_connection(conn, ctx))).map(drop)
            }
            Job::Stream(stream) => catch_unwind(AssertUnwindSafe(|| stream(ctx))),
        };
        if served.is_err() {
            log::error!("a connection ended with a panic in the serving code; the worker goes on");
        }
        slot.set_state(WorkerState::Ready);
    }
    slot.set_state(WorkerState::Graceful);
}

/// The listener: accept while a worker is idle, until told to leave or
/// `MaxConnectionsPerChild` is reached.
fn listen(
    cx: &ChildContext<'_>,
    process: &ProcessSlot,
    acceptor: &mut Acceptor<'_>,
    shared: &Shared,
) {
    let limit = cx.mpm.directives().max_connections_per_child;
    let mut served: u64 = 0;
    process.accepting.store(1, Ordering::Release);
    loop {
        // The gate: no connection is taken unless a worker waits for it.
        {
            let mut st = shared.state.lock();
            while !Shared::has_idle(&st) {
                if process.is_quiescing() || readable(cx.leave) {
                    return;
                }
                shared.freed.wait_for(&mut st, GATE_POLL);
            }
        }
        // One connection per pass: the gate is asked again.
        match acceptor.wait() {
            Next::Leave => return,
            Next::Connection(conn) => {
                served += 1;
                process.connections_served.fetch_add(1, Ordering::Relaxed);
                shared.push(conn);
                if limit > 0 && served >= limit {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn the_gate_opens_only_for_a_worker_with_nothing_queued() {
        let st = State {
            idle: 1,
            ..State::default()
        };
        assert!(Shared::has_idle(&st));
        let st = State::default();
        assert!(!Shared::has_idle(&st), "no worker waits");
    }

    #[test]
    fn a_finished_queue_sends_waiting_workers_home() {
        let shared = Shared::default();
        std::thread::scope(|s| {
            let h = s.spawn(|| shared.take().is_none());
            // Wait until the worker waits, then end.
            let mut st = shared.state.lock();
            while st.idle == 0 {
                shared.freed.wait_for(&mut st, Duration::from_secs(5));
            }
            drop(st);
            shared.finish();
            assert!(
                h.join().unwrap(),
                "the worker got a connection from nowhere"
            );
        });
        assert_eq!(shared.state.lock().idle, 0);
    }

    /// A context to run stream jobs with in these tests.
    fn run_job(job: Job, protocol: &mpm_core::ProtocolConfig) {
        struct Nothing;
        impl mpm_core::Handler for Nothing {
            fn handle(
                &self,
                _: mpm_core::Request<'_>,
                _: &mpm_core::ConnInfo,
            ) -> mpm_core::Response {
                mpm_core::Response::new(mpm_core::Body::Empty)
            }
        }
        let ctx = ServeContext {
            handler: &Nothing,
            protocol,
            worker_slot: None,
            counters: None,
            idle_close: None,
            abort: None,
            leaving: None,
            mode: Mode::Blocking,
            streams: None,
        };
        match job {
            Job::Stream(run) => run(&ctx),
            Job::Connection(_) => panic!("a connection came out of a queue of streams"),
        }
    }

    /// A stream job that records `n` in `log` when it runs.
    fn recording(log: &std::sync::Arc<Mutex<Vec<u32>>>, n: u32) -> StreamWork {
        let log = log.clone();
        Box::new(move |_| log.lock().push(n))
    }

    #[test]
    fn queued_streams_keep_the_gate_shut_until_a_worker_is_free_for_a_connection() {
        let shared = Shared::new(4);
        let log = std::sync::Arc::new(Mutex::new(Vec::new()));
        shared.state.lock().idle = 2;
        shared.submit(recording(&log, 1));
        assert!(
            Shared::has_idle(&shared.state.lock()),
            "one of two waiting workers is left for a connection"
        );
        shared.submit(recording(&log, 2));
        assert!(
            !Shared::has_idle(&shared.state.lock()),
            "the gate opened with both waiting workers promised to streams"
        );
    }

    #[test]
    fn streams_are_served_in_the_order_they_came_after_queued_connections() {
        let shared = Shared::new(4);
        let log = std::sync::Arc::new(Mutex::new(Vec::new()));
        let protocol = mpm_core::ProtocolConfig::default();
        for n in 1..=3 {
            shared.submit(recording(&log, n));
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
        let (sock, _) = listener.accept().expect("accept");
        shared.push(Connection::plain(sock, 0, "127.0.0.1:0".into()).expect("a connection"));
        assert!(
            matches!(shared.take(), Some(Job::Connection(_))),
            "a stream went before the connection the gate promised a worker"
        );
        drop(client);
        for _ in 0..3 {
            run_job(shared.take().expect("a queued stream"), &protocol);
        }
        assert_eq!(*log.lock(), vec![1, 2, 3], "streams served out of order");
    }

    #[test]
    fn one_connection_takes_at_most_all_threads_but_its_own_and_one() {
        assert_eq!(stream_share(1), 0, "a lone thread serves its own streams");
        assert_eq!(stream_share(2), 0, "two threads: nothing to spare");
        assert_eq!(stream_share(3), 1);
        assert_eq!(stream_share(16), 14);
        // Of four threads, three may own HTTP/2 connections: the fourth
        // serves their streams.
        let shared = Shared::new(4);
        let shares: Vec<usize> = (0..4).map(|_| shared.attach()).collect();
        assert_eq!(shares, vec![2, 2, 2, 0], "shares of four would-be owners");
        shared.detach();
        assert_eq!(shared.attach(), 2, "a thread freed by an owner that left");
    }

    #[test]
    fn a_leaving_child_serves_queued_streams_and_waits_for_their_owners() {
        let shared = Shared::new(4);
        let log = std::sync::Arc::new(Mutex::new(Vec::new()));
        let protocol = mpm_core::ProtocolConfig::default();
        assert_eq!(shared.attach(), 2);
        shared.submit(recording(&log, 1));
        shared.finish();
        assert!(shared.attach() == 0, "an owner attached to a leaving child");
        std::thread::scope(|s| {
            let worker = s.spawn(|| {
                while let Some(job) = shared.take() {
                    run_job(job, &protocol);
                }
            });
            // The queued stream is served; the worker then waits for the
            // owner's next stream rather than leave.
            let until = std::time::Instant::now() + Duration::from_secs(10);
            let mut st = shared.state.lock();
            while st.idle == 0 && std::time::Instant::now() < until {
                shared.freed.wait_for(&mut st, Duration::from_millis(100));
            }
            assert_eq!(
                st.idle, 1,
                "the worker left (or never waited) while an owner could still hand it streams"
            );
            assert_eq!(*log.lock(), vec![1], "the queued stream was not served");
            st.streams.push_back(recording(&log, 2));
            shared.work.notify_one();
            drop(st);
            shared.detach();
            worker.join().unwrap();
        });
        assert_eq!(
            *log.lock(),
            vec![1, 2],
            "a stream handed over by an owner of a leaving child was lost"
        );
    }
}
