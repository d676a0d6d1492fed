//! A child's side of the process model: its life after `fork`
//! ([`run`]: signals, scoreboard slot, privileges, handler), what the
//! strategy's child body is handed ([`ChildContext`]), and how a threaded
//! child (worker, event) starts its worker threads and sends them home
//! however its main thread ends ([`run_with_workers`]); and one child's
//! body run in the calling process instead ([`run_in_process`]).

use std::os::fd::BorrowedFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal};

use crate::config::ProtocolConfig;
use crate::control::{watch_commands, Exit, Stopping};
use crate::error::Error;
use crate::handler::Handler;
use crate::mpm::RunContext;
use crate::net::listener::Listeners;
use crate::process::clamp::Clamped;
use crate::process::privileges::Credentials;
use crate::process::scoreboard::{Scoreboard, WorkerSlot, WorkerState};

/// What a child's body is given.
pub struct ChildContext<'a> {
    /// The child's number: the index of its process slot on the
    /// scoreboard (and of its worker slots' row).
    pub number: usize,
    /// The configuration generation it was started in.
    pub generation: u32,
    /// The inherited listening sockets.
    pub listeners: &'a Listeners,
    /// This process's handler, made by the factory after `fork`.
    pub handler: Arc<dyn Handler>,
    /// Protocol limits and timeouts.
    pub protocol: Arc<ProtocolConfig>,
    /// MPM directives, clamped.
    pub mpm: &'a Clamped,
    /// The worker threads this child runs ([`threads_within`]: 1 for
    /// prefork, `ThreadsPerChild` for worker and event).
    pub threads: usize,
    /// The shared scoreboard.
    pub scoreboard: &'a Scoreboard,
    /// Readable when the child must finish what it holds and exit.
    pub leave: BorrowedFd<'a>,
}

/// What a thread that serves one connection at a time (prefork's child,
/// each of worker's threads) does when a connection ended, before it waits
/// for the next: after a TLS connection, its TLS read and write buffers'
/// pages go back to the system ([`crate::net::rooms::release_thread_rooms`]),
/// and so do the pages the allocator holds free
/// ([`crate::process::malloc::give_back_free_pages`]): a handshake's and a
/// TLS session's allocations (tens of KiB, and the 64 KiB send buffer of a
/// large body) leave free memory that glibc keeps otherwise. After a plain
/// connection nothing is done (no system call).
pub fn connection_ended() {
    if crate::net::rooms::release_thread_rooms() {
        crate::process::malloc::give_back_free_pages();
    }
}

/// The worker threads a child runs: `threads_per_child` (as clamped),
/// within the scoreboard's worker slots per process (a board sized for an
/// earlier configuration may have fewer), and at least one.
pub fn threads_within(scoreboard: &Scoreboard, threads_per_child: u32) -> usize {
    (threads_per_child as usize).clamp(1, scoreboard.threads().max(1))
}

/// Start the `threads` worker threads of child `number` in `scope` (named
/// `worker N`), thread `t` running `body(t, its worker slot)`. A thread
/// that cannot start leaves its slot dead and is logged. Returns how many
/// started. Shared by the threaded strategies (worker, event).
pub fn spawn_workers<'scope, 'env>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    scoreboard: &'env Scoreboard,
    number: usize,
    threads: usize,
    body: &'env (dyn Fn(usize, &'env WorkerSlot) + Sync),
) -> usize {
    let mut started = 0;
    for t in 0..threads {
        let slot = scoreboard.worker(number, t);
        let spawned = std::thread::Builder::new()
            .name(format!("worker {t}"))
            .spawn_scoped(scope, move || body(t, slot));
        match spawned {
            Ok(_) => started += 1,
            Err(e) => {
                slot.set_state(WorkerState::Dead);
                log::error!(
                    "child {}: could not start worker thread {t}: {e}",
                    std::process::id()
                );
            }
        }
    }
    started
}

/// A threaded child's life: its `cx.threads` worker threads (started by
/// [`spawn_workers`], each running `body`) and, on the calling thread,
/// `main(started)` (worker's wait to leave, or the event loop); then the child
/// stops: its slot shows it no longer accepts, `stopping` is set (the
/// workers' "leaving" check) and `send_home` wakes the workers to go;
/// then the workers are waited for.
///
/// The stop runs however `main` ends, by returning or by a panic (a bug,
/// or a handler's hook that panics on the loop's thread): a child whose
/// listener or loop is gone never lingers with idle workers, accepting
/// nothing and counted as spare. A panic of `main` is passed on once the
/// workers are gone, so a forked child exits (and the master replaces it)
/// and an in-process server's `run` reports it.
pub fn run_with_workers<'env>(
    cx: &ChildContext<'env>,
    body: &'env (dyn Fn(usize, &'env WorkerSlot) + Sync),
    stopping: &std::sync::atomic::AtomicBool,
    main: impl FnOnce(usize),
    send_home: impl FnOnce(),
) {
    /// Runs its closure when dropped, on a return and on an unwind alike.
    struct OnDrop<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for OnDrop<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    let scoreboard: &'env Scoreboard = cx.scoreboard;
    let process = scoreboard.process(cx.number);
    std::thread::scope(|s| {
        let started = spawn_workers(s, scoreboard, cx.number, cx.threads, body);
        let _stop = OnDrop(Some(|| {
            process.accepting.store(0, Ordering::Release);
            stopping.store(true, Ordering::Release);
            send_home();
        }));
        main(started);
    });
}

/// One child's body run in the calling process, with no master and no
/// fork: the in-process modes of the threaded strategies
/// (`event-threads`, `worker-threads`). The factory's handler, process
/// slot 0, `ThreadsPerChild` threads, and the commands of `ctx.control`
/// turned into the [`Stopping`] broadcasts ([`watch_commands`]): the
/// graceful one is the child's leave descriptor, and `body` is handed the
/// abort one, readable on a stop (close every connection at its next
/// wait). `what` names `body`'s thread, for the error a panic of it
/// becomes (`the event loop`); there is no master to replace it.
pub fn run_in_process(
    ctx: RunContext<'_>,
    what: &'static str,
    body: impl FnOnce(ChildContext<'_>, BorrowedFd<'_>) -> Result<(), Error>,
) -> Result<Exit, Error> {
    let handler = (ctx.factory)().map_err(Error::Handler)?;
    let stopping = Stopping::new().map_err(Error::Control)?;
    let sb = ctx.scoreboard;
    sb.process(0)
        .start(std::process::id() as i32, sb.generation());
    let (ran, exit) = watch_commands(ctx.control, ctx.listeners, &stopping, what, || {
        body(
            ChildContext {
                number: 0,
                generation: sb.generation(),
                listeners: ctx.listeners,
                handler,
                protocol: ctx.protocol.clone(),
                mpm: ctx.mpm,
                threads: threads_within(sb, ctx.mpm.threads_per_child()),
                scoreboard: sb,
                leave: stopping.graceful.fd(),
            },
            stopping.abort.fd(),
        )
    });
    ran??;
    Ok(exit)
}

/// The exit code of a child that could not start (Apache's
/// `APEXIT_CHILDFATAL`): the master shuts the server down.
pub const FATAL_EXIT: i32 = 15;

/// A forked child's life, once the master's signal handling is undone
/// ([`reset_signals`]) and its descriptors closed: its scoreboard slot
/// taken, privileges dropped when running as root with `User`/`Group`
/// (to the `credentials` the master resolved before the fork:
/// [`Credentials`]), its handler built by the factory, and the
/// strategy's `body` run. Returns the exit code: 0, or [`FATAL_EXIT`]
/// when the child could not start.
pub fn run(
    ctx: &RunContext<'_>,
    number: usize,
    generation: u32,
    threads: usize,
    leave: BorrowedFd<'_>,
    credentials: Option<&Credentials>,
    body: &dyn Fn(ChildContext<'_>),
) -> i32 {
    let pid = std::process::id() as i32;
    ctx.scoreboard.process(number).start(pid, generation);
    if let Err(e) = credentials.map_or(Ok(()), Credentials::apply) {
        log::error!("{e}");
        return FATAL_EXIT;
    }
    let handler = match (ctx.factory)() {
        Ok(h) => h,
        Err(e) => {
            log::error!("the handler could not start in child {pid}: {e}");
            return FATAL_EXIT;
        }
    };
    body(ChildContext {
        number,
        generation,
        listeners: ctx.listeners,
        handler,
        protocol: ctx.protocol.clone(),
        mpm: ctx.mpm,
        threads,
        scoreboard: ctx.scoreboard,
        leave,
    });
    0
}

/// The child's signal handling: `SIGTERM` and `SIGCHLD` back to their
/// defaults (the master ends a child with `SIGTERM`), and the signals that
/// are commands to the master (`SIGINT`, `SIGHUP`, `SIGUSR1`, `SIGWINCH`)
/// ignored, so a signal sent to the whole process group (Ctrl-C in a
/// terminal, `kill -INT -PGID`) reaches the master, which tells its
/// children in its own way, instead of killing every child at once. No
/// signal stays blocked, and none writes into the master's control pipe.
pub fn reset_signals() {
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    for (sig, action) in [
        (Signal::SIGTERM, &default),
        (Signal::SIGCHLD, &default),
        (Signal::SIGINT, &ignore),
        (Signal::SIGHUP, &ignore),
        (Signal::SIGUSR1, &ignore),
        (Signal::SIGUSR2, &ignore),
        (Signal::SIGWINCH, &ignore),
    ] {
        // SAFETY: installing the default or the ignore disposition runs no
        // handler code.
        unsafe {
            let _ = nix::sys::signal::sigaction(sig, action);
        }
    }
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&SigSet::empty()),
        None,
    );
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;
    use std::time::Duration;

    use super::*;

    /// The listener or event loop of a threaded child dies: its workers
    /// are still sent home and the panic reaches the child's caller (the
    /// child exits and is replaced), instead of a child that hangs with
    /// idle workers and nothing accepting.
    #[test]
    fn a_child_whose_main_thread_panics_sends_its_workers_home() {
        use std::sync::atomic::AtomicBool;
        let scoreboard = Scoreboard::new(1, 2).expect("scoreboard");
        let listeners = Listeners::bind(&["127.0.0.1:0".parse().unwrap()], 1).expect("bind");
        let (_leave_read, leave_write) = nix::unistd::pipe().expect("pipe");
        let cx = ChildContext {
            number: 0,
            generation: 0,
            listeners: &listeners,
            handler: Arc::new(Nothing),
            protocol: Arc::new(ProtocolConfig::default()),
            mpm: &crate::process::clamp::threaded(&crate::MpmConfig::default()).0,
            threads: 2,
            scoreboard: &scoreboard,
            leave: leave_write.as_fd(),
        };
        scoreboard.process(0).accepting.store(1, Ordering::Release);
        let stopping = AtomicBool::new(false);
        let home = AtomicBool::new(false);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                let body = |_: usize, _: &WorkerSlot| {
                    // A worker waits for work until sent home.
                    while !home.load(Ordering::Acquire) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                };
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_with_workers(
                        &cx,
                        &body,
                        &stopping,
                        |started| {
                            assert_eq!(started, 2, "workers started");
                            panic!("the listener dies");
                        },
                        || home.store(true, Ordering::Release),
                    )
                }));
                let _ = tx.send(outcome.is_err());
            });
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(panicked) => assert!(panicked, "the listener's panic was swallowed"),
                Err(_) => {
                    // Let the stuck workers go, so the test ends.
                    home.store(true, Ordering::Release);
                    panic!("the child hung after its listener died: workers never sent home");
                }
            }
        });
        assert!(stopping.load(Ordering::Acquire), "stopping was not set");
        assert_eq!(
            scoreboard.process(0).accepting.load(Ordering::Acquire),
            0,
            "the slot still shows the child accepting"
        );
    }

    #[test]
    fn a_child_runs_threads_per_child_workers_within_the_scoreboard() {
        let scoreboard = Scoreboard::new(1, 4).expect("scoreboard");
        assert_eq!(threads_within(&scoreboard, 3), 3);
        assert_eq!(
            threads_within(&scoreboard, 25),
            4,
            "more threads than the board's worker slots"
        );
        assert_eq!(threads_within(&scoreboard, 0), 1, "no thread at all");
    }

    /// A handler no request reaches.
    struct Nothing;
    impl Handler for Nothing {
        fn handle(
            &self,
            _: crate::handler::Request<'_>,
            _: &crate::net::connection::ConnInfo,
        ) -> crate::handler::Response {
            crate::handler::Response::new(crate::handler::Body::Empty)
        }
    }
}
