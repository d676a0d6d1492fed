//! The master process shared by the forking strategies (prefork, and the
//! process level of worker and event).
//!
//! The master is single-threaded and never serves a request. It forks the
//! children after the listeners are bound (they inherit the sockets), gives
//! each a scoreboard slot, reaps them, replaces the ones that die, keeps
//! the number of spares between `MinSpare…` and `MaxSpare…` with the
//! [`Regulator`], and turns control commands into what children must do.
//!
//! ## Talking to children
//!
//! - **Leave**: each child has its own *leave pipe*; the master keeps the
//!   write end. One byte means "finish the connection you hold, take no new
//!   one, exit". The child polls the read end beside its listeners, and the
//!   serving code closes keep-alive connections when it becomes readable.
//!   If the master vanishes, the write end closes and the read end becomes
//!   readable too (end of file): orphaned children leave on their own.
//! - **Stop now**: `SIGTERM` (default action in the child: die), then
//!   `SIGKILL` after [`STOP_GRACE`].
//!
//! ## Reaping
//!
//! `SIGCHLD` writes a byte to a self-pipe (`signal-hook`, async-signal-safe)
//! that the master polls beside the control channel; then it calls
//! `waitpid(pid, WNOHANG)` for each of its own children (never
//! `waitpid(-1)`, which would steal other children of an embedding
//! program). A child that dies is logged (by signal:
//! `child pid 1234 exit signal Segmentation fault (11)`, as Apache) and
//! replaced at once in the same slot, unless the master told it to leave.
//! When more than [`CRASH_LIMIT`] children die within [`CRASH_WINDOW`] of
//! their start, replacements are limited to one per tick, with one warning.
//! A child that exits with [`FATAL_EXIT`] could not start (its handler
//! factory failed, or dropping privileges failed): the master stops every
//! child and `run` returns [`Error::ChildStartup`].
//!
//! ## Commands and restarts
//!
//! | command | children | `run` returns |
//! |---|---|---|
//! | graceful restart | told to leave (slot `quiescing`) and kept, reaped by the next run | at once, `GracefulRestart` |
//! | restart | `SIGTERM`, waited for (`SIGKILL` after [`STOP_GRACE`]) | `Restart` |
//! | graceful stop | `Draining` at once; told to leave; waited for up to `GracefulShutdownTimeout` (0: as long as they take), then `SIGTERM`/`SIGKILL` | `Stop` |
//! | stop | `SIGTERM`, `SIGKILL` after [`STOP_GRACE`] | `Stop` |
//!
//! The [`Master`] keeps its children across calls of `run` (it lives in
//! the strategy, which the caller keeps across restarts): the run after a
//! graceful restart adopts the old generation's children, keeps reaping
//! them and starts new ones beside them, on the same listening sockets.
//!
//! ## After `fork`, in the child
//!
//! The master's signal handling is undone (`SIGTERM` and `SIGCHLD` to
//! their defaults; `SIGINT`, `SIGHUP`, `SIGUSR1`, `SIGWINCH`, which are
//! commands to the master, ignored), the master's
//! descriptors other children would need are closed, privileges are dropped
//! when running as root with `User`/`Group` (setgid, initgroups, setuid;
//! `#uid` and `#gid` numeric forms allowed), the handler is built with the
//! factory, and the strategy's child body runs. The child then exits with
//! `_exit`, never returning into the master's code.
//!
//! `fork` is only sound here because the master is single-threaded: it
//! starts no thread, and an embedding program must not either before it
//! calls `run` of a forking strategy.

use std::collections::VecDeque;
use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::{kill, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Gid, Pid, Uid};

use crate::config::{MpmConfig, ProtocolConfig};
use crate::control::{poll_timeout, Command, Phase};
use crate::deadline;
use crate::error::Error;
use crate::handler::Handler;
use crate::mpm::{Exit, RunContext};
use crate::net::listener::Listeners;
use crate::process::scoreboard::{Scoreboard, WorkerState};
use crate::process::spare::{Counts, Regulator, SpareLimits};

/// The exit code of a child that could not start (Apache's
/// `APEXIT_CHILDFATAL`): the master shuts the server down.
pub const FATAL_EXIT: i32 = 15;

/// How long stopped children get between `SIGTERM` and `SIGKILL`.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

/// A child dying within this time of its start counts towards a crash
/// loop.
pub const CRASH_WINDOW: Duration = Duration::from_secs(10);

/// More early deaths than this within [`CRASH_WINDOW`] is a crash loop.
pub const CRASH_LIMIT: usize = 5;

/// What a child's body is given.
pub struct ChildContext<'a> {
    /// The child's scoreboard slot.
    pub slot: usize,
    /// The configuration generation it was started in.
    pub generation: u32,
    /// The inherited listening sockets.
    pub listeners: &'a Listeners,
    /// This process's handler, made by the factory after `fork`.
    pub handler: Arc<dyn Handler>,
    /// Protocol limits and timeouts.
    pub protocol: Arc<ProtocolConfig>,
    /// MPM directives (clamped).
    pub mpm: &'a MpmConfig,
    /// The shared scoreboard.
    pub scoreboard: &'a Scoreboard,
    /// Readable when the child must finish what it holds and exit.
    pub leave: BorrowedFd<'a>,
}

/// Start a child's `threads` worker threads in `scope` (named `worker N`),
/// thread `t` running `body(t, its scoreboard slot)`. A thread that cannot
/// start leaves its slot dead and is logged. Returns how many started.
/// Shared by the threaded strategies (worker, event).
pub fn spawn_workers<'scope, 'env>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    scoreboard: &'env Scoreboard,
    child: usize,
    threads: usize,
    body: &'env (dyn Fn(usize, &'env crate::process::scoreboard::WorkerSlot) + Sync),
) -> usize {
    let mut started = 0;
    for t in 0..threads {
        let slot = scoreboard.worker(child, t);
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

/// A threaded child's life: its `threads` worker threads (started by
/// [`spawn_workers`], each running `body`) and, on the calling thread,
/// `main(started)` (the listener, or the event loop); then the child
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
    threads: usize,
    body: &'env (dyn Fn(usize, &'env crate::process::scoreboard::WorkerSlot) + Sync),
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
    let process = scoreboard.process(cx.slot);
    std::thread::scope(|s| {
        let started = spawn_workers(s, scoreboard, cx.slot, threads, body);
        let _stop = OnDrop(Some(|| {
            process.accepting.store(0, Ordering::Release);
            stopping.store(true, Ordering::Release);
            send_home();
        }));
        main(started);
    });
}

/// How many children, and how the spares are kept; in processes for
/// `start` and `max_children`, in the strategy's idle units (processes or
/// threads) for `spare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MasterParams {
    /// Children started by each run (`StartServers`).
    pub start: u32,
    /// Idle units kept between these bounds.
    pub spare: SpareLimits,
    /// Children alive at once, counting those leaving (from
    /// `MaxRequestWorkers`, at most the scoreboard's process slots).
    pub max_children: u32,
    /// Worker slots each child uses (1 for prefork, `ThreadsPerChild` for
    /// worker and event; at most the scoreboard's threads): the master
    /// marks them starting and counts their idle ones as spares. The
    /// slots above stay `.`.
    pub threads_per_child: u32,
}

impl MasterParams {
    /// The parameters of a threaded strategy (worker, event) from its
    /// clamped directives: `StartServers` children, spare threads between
    /// `MinSpareThreads` and `MaxSpareThreads`, `MaxRequestWorkers /
    /// ThreadsPerChild` children at most.
    pub fn threaded(cfg: &MpmConfig) -> MasterParams {
        let (cfg, _) = crate::process::clamp::worker(cfg);
        let threads = cfg.threads_per_child.max(1);
        MasterParams {
            start: cfg
                .start_servers
                .unwrap_or(crate::process::clamp::WORKER_DEFAULT_START),
            spare: SpareLimits {
                min_spare: cfg.min_spare_threads,
                max_spare: cfg.max_spare_threads,
            },
            max_children: cfg
                .max_request_workers
                .unwrap_or(crate::process::clamp::WORKER_DEFAULT_MAX_REQUEST_WORKERS)
                / threads,
            threads_per_child: threads,
        }
    }
}

/// One forked child, as the master knows it.
#[derive(Debug)]
struct Child {
    pid: Pid,
    /// Write end of the child's leave pipe.
    leave: OwnedFd,
    generation: u32,
    started: Instant,
    /// Told to leave (retired, graceful restart or stop): not replaced.
    leaving: bool,
    /// Sent `SIGTERM` by the master: a death by it is no news.
    terminated: bool,
}

/// How a reaped child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Death {
    /// Exit code 0.
    Clean,
    /// A non-zero exit code other than [`FATAL_EXIT`].
    Status(i32),
    /// Killed by a signal.
    Signal(i32),
    /// [`FATAL_EXIT`].
    Fatal,
}

/// The master's state; lives in the strategy so that it survives the
/// restarts of `run`.
#[derive(Default)]
pub struct Master {
    /// Indexed by scoreboard slot.
    children: Vec<Option<Child>>,
    regulator: Option<Regulator>,
    /// Read end of the SIGCHLD self-pipe and the handler's id.
    sigchld: Option<(OwnedFd, signal_hook::SigId)>,
    /// When recent early deaths happened.
    crashes: VecDeque<Instant>,
    crash_warned: bool,
    /// Replacements held back by a crash loop.
    owed: u32,
    /// A child exited with [`FATAL_EXIT`]: its pid.
    fatal: Option<i32>,
    /// Worker slots per child of the current run.
    threads: usize,
}

impl std::fmt::Debug for Master {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Master")
            .field("children", &self.live_pids())
            .finish()
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        if let Some((_, id)) = self.sigchld.take() {
            signal_hook::low_level::unregister(id);
        }
    }
}

impl Master {
    /// A master with no child yet.
    pub fn new() -> Self {
        Master::default()
    }

    /// The pids of the children alive (for tests and status).
    pub fn live_pids(&self) -> Vec<i32> {
        self.children
            .iter()
            .flatten()
            .map(|c| c.pid.as_raw())
            .collect()
    }

    /// Run the master until a command ends this run. `body` is the
    /// strategy's child: it runs in each forked child and returns when the
    /// child should exit.
    ///
    /// On an error every child is stopped before it is returned: no child
    /// outlives a failed run.
    pub fn run(
        &mut self,
        ctx: &RunContext<'_>,
        params: MasterParams,
        body: &dyn Fn(ChildContext<'_>),
    ) -> Result<Exit, Error> {
        let result = self.serve(ctx, params, body);
        if result.is_err() && self.children.iter().any(|c| c.is_some()) {
            ctx.control.set_phase(Phase::Draining);
            self.terminate_all(ctx, 0);
            ctx.control.set_phase(Phase::Stopped);
        }
        result
    }

    fn serve(
        &mut self,
        ctx: &RunContext<'_>,
        params: MasterParams,
        body: &dyn Fn(ChildContext<'_>),
    ) -> Result<Exit, Error> {
        self.install_sigchld()?;
        let sb = ctx.scoreboard;
        if self.children.len() < sb.procs() {
            self.children.resize_with(sb.procs(), || None);
        }
        match &mut self.regulator {
            Some(r) => r.set_limits(params.spare),
            None => self.regulator = Some(Regulator::new(params.spare)),
        }
        self.fatal = None;
        self.threads = (params.threads_per_child as usize).clamp(1, sb.threads().max(1));
        let generation = sb.generation();
        // Children of a previous generation that already left.
        self.reap(ctx, generation);
        for _ in 0..params.start {
            match self.free_slot(ctx, params) {
                Some(slot) => self.spawn(ctx, slot, generation, body)?,
                None => break,
            }
        }
        if let Some(r) = self.regulator.as_mut() {
            r.defer(Instant::now());
        }
        ctx.control.set_phase(Phase::Running);
        loop {
            if let Some(pid) = self.fatal {
                return self.fatal_stop(ctx, pid);
            }
            if let Some(cmd) = ctx.control.take() {
                return self.command(ctx, cmd, generation);
            }
            let now = Instant::now();
            let wait = self
                .regulator
                .as_ref()
                .and_then(|r| r.next_tick())
                .map(|t| t.saturating_duration_since(now))
                .unwrap_or(Duration::ZERO);
            if !wait.is_zero() {
                self.wait_event(ctx, Some(wait));
            }
            let replace = self.reap(ctx, generation);
            if self.fatal.is_some() {
                continue;
            }
            for slot in replace {
                if self.crash_looping() {
                    self.owed += 1;
                    if !self.crash_warned {
                        self.crash_warned = true;
                        log::warn!(
                            "children are dying within {} s of their start ({} in the last {} s); starting at most one a second",
                            CRASH_WINDOW.as_secs(),
                            self.crashes.len(),
                            CRASH_WINDOW.as_secs()
                        );
                    }
                } else if slot < self.limit(ctx, params) {
                    self.spawn(ctx, slot, generation, body)?;
                }
            }
            self.maintain(ctx, params, generation, body)?;
        }
    }

    /// A tick of idle maintenance, when one is due.
    fn maintain(
        &mut self,
        ctx: &RunContext<'_>,
        params: MasterParams,
        generation: u32,
        body: &dyn Fn(ChildContext<'_>),
    ) -> Result<(), Error> {
        let counts = self.counts(ctx, params, generation);
        let Some(regulator) = self.regulator.as_mut() else {
            return Ok(());
        };
        let Some(decision) = regulator.tick(Instant::now(), &counts) else {
            return Ok(());
        };
        if decision.warn_limit {
            log::error!(
                "server reached MaxRequestWorkers setting, consider raising the MaxRequestWorkers setting"
            );
        }
        if let Some(slot) = decision.retire {
            self.tell_to_leave(ctx, slot);
        }
        let looping = self.crash_looping();
        if !looping {
            self.crash_warned = false;
        }
        let mut spawn = decision.spawn;
        if looping {
            // One start per tick in a crash loop, owed replacements first.
            spawn = spawn.max(self.owed).min(1);
            self.owed = self.owed.saturating_sub(1);
        } else {
            spawn = spawn.max(self.owed);
            self.owed = 0;
        }
        if spawn >= 8 {
            log::info!(
                "server seems busy, (you may need to increase StartServers, or Min/MaxSpareServers), spawning {spawn} children, there are {} idle, and {} total children",
                counts.idle,
                self.children.iter().flatten().count()
            );
        }
        for _ in 0..spawn {
            match self.free_slot(ctx, params) {
                Some(slot) => self.spawn(ctx, slot, generation, body)?,
                None => break,
            }
        }
        Ok(())
    }

    /// What the regulator needs from the scoreboard.
    fn counts(&self, ctx: &RunContext<'_>, params: MasterParams, generation: u32) -> Counts {
        let sb = ctx.scoreboard;
        let limit = self.limit(ctx, params);
        let mut counts = Counts::default();
        for (slot, child) in self.children.iter().enumerate().take(sb.procs()) {
            let Some(child) = child else {
                if slot < limit {
                    counts.free_slots += 1;
                }
                continue;
            };
            if child.leaving || child.generation != generation {
                continue;
            }
            let mut idle = 0;
            let mut busy = false;
            for t in 0..self.threads.min(sb.threads()) {
                let s = sb.worker(slot, t).state();
                if s == WorkerState::Ready || s == WorkerState::Starting {
                    idle += 1;
                }
                busy |= s.is_busy();
            }
            counts.idle += idle;
            // Only a child whose every worker waits is a spare to retire,
            // and not one whose event loop holds connections (retiring it
            // would close idle keep-alive connections for nothing).
            let holds = sb.process(slot).conns_total.load(Ordering::Relaxed) > 0;
            if idle as usize == self.threads.min(sb.threads()) && !busy && !holds {
                counts.retirable.push(slot);
            }
        }
        counts
    }

    fn limit(&self, ctx: &RunContext<'_>, params: MasterParams) -> usize {
        (params.max_children as usize).min(ctx.scoreboard.procs())
    }

    fn free_slot(&self, ctx: &RunContext<'_>, params: MasterParams) -> Option<usize> {
        let limit = self.limit(ctx, params);
        self.children.iter().take(limit).position(|c| c.is_none())
    }

    fn install_sigchld(&mut self) -> Result<(), Error> {
        if self.sigchld.is_some() {
            return Ok(());
        }
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
            .map_err(|e| Error::Control(e.into()))?;
        let id = signal_hook::low_level::pipe::register(signal_hook::consts::SIGCHLD, write)
            .map_err(Error::Control)?;
        self.sigchld = Some((read, id));
        Ok(())
    }

    /// Wait until a child may have died, a command may be pending, or
    /// `timeout` passes.
    fn wait_event(&self, ctx: &RunContext<'_>, timeout: Option<Duration>) {
        let mut fds = vec![PollFd::new(ctx.control.wake_fd(), PollFlags::POLLIN)];
        if let Some((r, _)) = &self.sigchld {
            fds.push(PollFd::new(r.as_fd(), PollFlags::POLLIN));
        }
        let _ = nix::poll::poll(&mut fds, poll_timeout(timeout));
        if let Some((r, _)) = &self.sigchld {
            let mut buf = [0u8; 64];
            while matches!(nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(r), &mut buf), Ok(n) if n > 0)
            {
            }
        }
    }

    /// Reap every child that ended; returns the slots to replace (children
    /// of `generation` the master did not tell to leave).
    fn reap(&mut self, ctx: &RunContext<'_>, generation: u32) -> Vec<usize> {
        let mut replace = Vec::new();
        for slot in 0..self.children.len() {
            let Some(child) = &self.children[slot] else {
                continue;
            };
            let death = match waitpid(child.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, 0)) => Death::Clean,
                Ok(WaitStatus::Exited(_, FATAL_EXIT)) => Death::Fatal,
                Ok(WaitStatus::Exited(_, code)) => Death::Status(code),
                Ok(WaitStatus::Signaled(_, sig, _)) => Death::Signal(sig as i32),
                // Not ours any more (reaped elsewhere): gone all the same.
                Err(Errno::ECHILD) => Death::Clean,
                _ => continue,
            };
            let pid = child.pid.as_raw();
            let early = child.started.elapsed() < CRASH_WINDOW;
            let replaceable = !child.leaving && child.generation == generation;
            let terminated = child.terminated;
            self.children[slot] = None;
            if slot < ctx.scoreboard.procs() {
                ctx.scoreboard.reset_process(slot);
            }
            match death {
                Death::Clean => {}
                Death::Signal(libc::SIGTERM) if terminated => {}
                Death::Signal(sig) => log::error!(
                    "child pid {pid} exit signal {} ({sig})",
                    signal_description(sig)
                ),
                Death::Status(code) => log::error!("child pid {pid} exit status {code}"),
                Death::Fatal => {
                    log::error!("child pid {pid} could not start: shutting down");
                    self.fatal.get_or_insert(pid);
                }
            }
            if matches!(death, Death::Signal(_) | Death::Status(_)) && early && !terminated {
                self.crashes.push_back(Instant::now());
            }
            if replaceable {
                replace.push(slot);
            }
        }
        replace
    }

    /// More than [`CRASH_LIMIT`] early deaths within [`CRASH_WINDOW`].
    fn crash_looping(&mut self) -> bool {
        let now = Instant::now();
        while self
            .crashes
            .front()
            .is_some_and(|t| now.duration_since(*t) > CRASH_WINDOW)
        {
            self.crashes.pop_front();
        }
        self.crashes.len() > CRASH_LIMIT
    }

    /// Tell the child in `slot` to finish and leave.
    fn tell_to_leave(&mut self, ctx: &RunContext<'_>, slot: usize) {
        if let Some(child) = self.children.get_mut(slot).and_then(|c| c.as_mut()) {
            if !child.leaving {
                child.leaving = true;
                // The flag first: a child woken by the byte finds it set.
                if slot < ctx.scoreboard.procs() {
                    ctx.scoreboard
                        .process(slot)
                        .quiescing
                        .store(1, Ordering::Release);
                }
                let _ = nix::unistd::write(&child.leave, &[1u8]);
            }
        }
    }

    fn tell_all_to_leave(&mut self, ctx: &RunContext<'_>) {
        for slot in 0..self.children.len() {
            self.tell_to_leave(ctx, slot);
        }
    }

    /// Carry out a command that ends this run.
    fn command(
        &mut self,
        ctx: &RunContext<'_>,
        cmd: Command,
        generation: u32,
    ) -> Result<Exit, Error> {
        log::info!("{cmd:?} received");
        match cmd {
            Command::GracefulRestart => {
                self.tell_all_to_leave(ctx);
                Ok(Exit::GracefulRestart)
            }
            Command::Restart => {
                self.terminate_all(ctx, generation);
                Ok(Exit::Restart)
            }
            Command::GracefulStop => {
                ctx.control.set_phase(Phase::Draining);
                // Children first, so that one woken by the closing socket
                // finds its leave byte already there.
                self.tell_all_to_leave(ctx);
                ctx.listeners.stop_listening();
                let timeout = ctx.mpm.graceful_shutdown_timeout;
                let deadline =
                    (!timeout.is_zero()).then(|| deadline::after(Instant::now(), timeout));
                loop {
                    self.reap(ctx, generation);
                    if self.children.iter().all(|c| c.is_none()) {
                        break;
                    }
                    let now = Instant::now();
                    if deadline.is_some_and(|d| now >= d) {
                        log::warn!(
                            "GracefulShutdownTimeout of {} s passed: stopping the remaining children",
                            timeout.as_secs()
                        );
                        break;
                    }
                    if ctx.control.take() == Some(Command::Stop) {
                        log::info!("Stop received while stopping gracefully");
                        break;
                    }
                    let wait = deadline
                        .map(|d| d.saturating_duration_since(now))
                        .unwrap_or(Duration::from_secs(1))
                        .min(Duration::from_secs(1));
                    self.wait_event(ctx, Some(wait));
                }
                self.terminate_all(ctx, generation);
                ctx.control.set_phase(Phase::Stopped);
                Ok(Exit::Stop)
            }
            Command::Stop => {
                ctx.control.set_phase(Phase::Draining);
                self.terminate_all(ctx, generation);
                ctx.control.set_phase(Phase::Stopped);
                Ok(Exit::Stop)
            }
        }
    }

    /// A child could not start: stop everything and say so.
    fn fatal_stop(&mut self, ctx: &RunContext<'_>, pid: i32) -> Result<Exit, Error> {
        ctx.control.set_phase(Phase::Draining);
        self.terminate_all(ctx, 0);
        ctx.control.set_phase(Phase::Stopped);
        Err(Error::ChildStartup { pid })
    }

    /// `SIGTERM` every child, `SIGKILL` those left after [`STOP_GRACE`],
    /// and reap them all.
    fn terminate_all(&mut self, ctx: &RunContext<'_>, generation: u32) {
        for child in self.children.iter_mut().flatten() {
            child.leaving = true;
            child.terminated = true;
            let _ = kill(child.pid, Signal::SIGTERM);
        }
        let mut deadline = Instant::now() + STOP_GRACE;
        let mut killed = false;
        loop {
            self.reap(ctx, generation);
            if self.children.iter().all(|c| c.is_none()) {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                if killed {
                    log::error!(
                        "children {:?} did not exit after SIGKILL; giving up on them",
                        self.live_pids()
                    );
                    return;
                }
                for child in self.children.iter().flatten() {
                    log::warn!(
                        "child process {} still did not exit, sending a SIGKILL",
                        child.pid
                    );
                    let _ = kill(child.pid, Signal::SIGKILL);
                }
                killed = true;
                deadline = now + STOP_GRACE;
            }
            self.wait_event(
                ctx,
                Some(
                    deadline
                        .saturating_duration_since(now)
                        .min(Duration::from_millis(100)),
                ),
            );
        }
    }

    /// Fork a child into `slot`. A failed fork is logged and left to the
    /// next tick.
    fn spawn(
        &mut self,
        ctx: &RunContext<'_>,
        slot: usize,
        generation: u32,
        body: &dyn Fn(ChildContext<'_>),
    ) -> Result<(), Error> {
        let sb = ctx.scoreboard;
        let (leave_read, leave_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
            .map_err(|e| Error::io("creating a child's leave pipe", e.into()))?;
        // Written before the fork, so the child's own writes come after.
        sb.reset_process(slot);
        for t in 0..self.threads.min(sb.threads()) {
            sb.worker(slot, t).set_state(WorkerState::Starting);
        }
        // Signals are blocked across the fork, so a SIGTERM that reaches
        // the new child before it has reset the master's handlers waits
        // until the defaults are back (and then ends it).
        let mut saved = SigSet::empty();
        let _ = nix::sys::signal::sigprocmask(
            nix::sys::signal::SigmaskHow::SIG_SETMASK,
            Some(&SigSet::all()),
            Some(&mut saved),
        );
        // SAFETY: the master is single-threaded (see the module
        // documentation), so the child starts with every lock of the
        // process free and may run ordinary code; it never returns from
        // this branch (it ends in `_exit`).
        let forked = unsafe { nix::unistd::fork() };
        if !matches!(forked, Ok(ForkResult::Child)) {
            let _ = nix::sys::signal::sigprocmask(
                nix::sys::signal::SigmaskHow::SIG_SETMASK,
                Some(&saved),
                None,
            );
        }
        match forked {
            Err(e) => {
                sb.reset_process(slot);
                log::error!("could not fork a child: {}", e.desc());
                Ok(())
            }
            Ok(ForkResult::Parent { child }) => {
                drop(leave_read);
                self.children[slot] = Some(Child {
                    pid: child,
                    leave: leave_write,
                    generation,
                    started: Instant::now(),
                    leaving: false,
                    terminated: false,
                });
                Ok(())
            }
            Ok(ForkResult::Child) => {
                drop(leave_write);
                let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.child_main(ctx, slot, generation, leave_read, body)
                }))
                .unwrap_or(1);
                // SAFETY: `_exit` ends this process at once without running
                // the master's atexit handlers or destructors, which belong
                // to the master (its pid file, its children).
                unsafe { libc::_exit(code) }
            }
        }
    }

    /// The child's life after `fork`; returns its exit code.
    fn child_main(
        &mut self,
        ctx: &RunContext<'_>,
        slot: usize,
        generation: u32,
        leave: OwnedFd,
        body: &dyn Fn(ChildContext<'_>),
    ) -> i32 {
        reset_signals();
        // The other children's leave pipes and the SIGCHLD pipe are the
        // master's: close them here.
        self.children.clear();
        self.sigchld = None;
        let pid = std::process::id() as i32;
        ctx.scoreboard.process(slot).start(pid, generation);
        if let Err(e) = drop_privileges(ctx.mpm) {
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
            slot,
            generation,
            listeners: ctx.listeners,
            handler,
            protocol: ctx.protocol.clone(),
            mpm: ctx.mpm,
            scoreboard: ctx.scoreboard,
            leave: leave.as_fd(),
        });
        0
    }
}

/// The child's signal handling: `SIGTERM` and `SIGCHLD` back to their
/// defaults (the master ends a child with `SIGTERM`), and the signals that
/// are commands to the master (`SIGINT`, `SIGHUP`, `SIGUSR1`, `SIGWINCH`)
/// ignored, so a signal sent to the whole process group (Ctrl-C in a
/// terminal, `kill -INT -PGID`) reaches the master, which tells its
/// children in its own way, instead of killing every child at once. No
/// signal stays blocked, and none writes into the master's control pipe.
fn reset_signals() {
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    for (sig, action) in [
        (Signal::SIGTERM, &default),
        (Signal::SIGCHLD, &default),
        (Signal::SIGINT, &ignore),
        (Signal::SIGHUP, &ignore),
        (Signal::SIGUSR1, &ignore),
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

/// Apache's words for the signals a child commonly dies of.
pub fn signal_description(sig: i32) -> String {
    let text = match sig {
        libc::SIGSEGV => "Segmentation fault",
        libc::SIGKILL => "Killed",
        libc::SIGABRT => "Aborted",
        libc::SIGBUS => "Bus error",
        libc::SIGFPE => "Floating point exception",
        libc::SIGILL => "Illegal instruction",
        libc::SIGTERM => "Terminated",
        libc::SIGINT => "Interrupt",
        libc::SIGHUP => "Hangup",
        libc::SIGPIPE => "Broken pipe",
        libc::SIGQUIT => "Quit",
        libc::SIGUSR1 => "User defined signal 1",
        libc::SIGUSR2 => "User defined signal 2",
        libc::SIGXCPU => "CPU time limit exceeded",
        libc::SIGXFSZ => "File size limit exceeded",
        _ => {
            return Signal::try_from(sig)
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|_| format!("signal {sig}"))
        }
    };
    text.to_string()
}

/// A `User` or `Group` value: a name, or `#n` for a numeric id.
fn numeric(value: &str) -> Option<u32> {
    value.strip_prefix('#').and_then(|n| n.parse().ok())
}

/// When running as root with `User`/`Group` set: setgid, initgroups (or
/// setgroups for a numeric user without a name), setuid. Not root: nothing
/// (an unprivileged server cannot change users). A `User` that is root
/// (by name or uid) is refused, as Apache refuses it: see
/// [`refuse_root_user`].
pub fn drop_privileges(cfg: &MpmConfig) -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() || (cfg.user.is_none() && cfg.group.is_none()) {
        return Ok(());
    }
    let user = match cfg.user.as_deref() {
        None => None,
        Some(u) => {
            let resolved = resolve_user(u)?;
            if resolved.1.is_root() {
                return Err(root_refused(u));
            }
            Some(resolved)
        }
    };
    let gid = match cfg.group.as_deref() {
        Some(g) => resolve_group(g)?,
        None => match &user {
            Some((_, _, Some(gid))) => *gid,
            _ => Gid::current(),
        },
    };
    let fail = |what: &str, e: Errno| format!("{what} failed: {}", e.desc());
    nix::unistd::setgid(gid).map_err(|e| fail(&format!("setgid({gid})"), e))?;
    match &user {
        Some((Some(name), _, _)) => {
            let c = CString::new(name.as_str())
                .map_err(|_| format!("the user name {name:?} contains a NUL byte"))?;
            nix::unistd::initgroups(&c, gid)
                .map_err(|e| fail(&format!("initgroups({name}, {gid})"), e))?;
        }
        _ => nix::unistd::setgroups(&[gid]).map_err(|e| fail("setgroups", e))?,
    }
    if let Some((name, uid, _)) = &user {
        nix::unistd::setuid(*uid).map_err(|e| {
            fail(
                &format!(
                    "setuid({})",
                    name.clone().unwrap_or_else(|| uid.to_string())
                ),
                e,
            )
        })?;
    }
    Ok(())
}

/// Refuse a `User` value that names root (`root`, `#0`, or any name whose
/// uid is 0), as Apache does: serving as root lets any local user read any
/// file through the races of a file server. A value that names no user at
/// all is not refused here: switching to it fails later, with its own
/// message.
pub fn refuse_root_user(value: &str) -> Result<(), String> {
    match resolve_user(value) {
        Ok((_, uid, _)) if uid.is_root() => Err(root_refused(value)),
        _ => Ok(()),
    }
}

fn root_refused(value: &str) -> String {
    format!(
        "User {value}: this server has not been designed to serve pages while running as root \
         (any local user could read any file through its races); name an unprivileged user, \
         e.g. User nobody"
    )
}

/// (name, uid, primary gid) of a `User` value.
fn resolve_user(value: &str) -> Result<(Option<String>, Uid, Option<Gid>), String> {
    if let Some(n) = numeric(value) {
        let uid = Uid::from_raw(n);
        let entry = nix::unistd::User::from_uid(uid).ok().flatten();
        return Ok((
            entry.as_ref().map(|u| u.name.clone()),
            uid,
            entry.map(|u| u.gid),
        ));
    }
    match nix::unistd::User::from_name(value) {
        Ok(Some(u)) => Ok((Some(u.name), u.uid, Some(u.gid))),
        Ok(None) => Err(format!(
            "User {value}: no such user (use a name from the passwd database or #uid)"
        )),
        Err(e) => Err(format!("User {value}: looking it up failed: {}", e.desc())),
    }
}

fn resolve_group(value: &str) -> Result<Gid, String> {
    if let Some(n) = numeric(value) {
        return Ok(Gid::from_raw(n));
    }
    match nix::unistd::Group::from_name(value) {
        Ok(Some(g)) => Ok(g.gid),
        Ok(None) => Err(format!(
            "Group {value}: no such group (use a name from the group database or #gid)"
        )),
        Err(e) => Err(format!("Group {value}: looking it up failed: {}", e.desc())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_described_as_apache_does() {
        assert_eq!(signal_description(11), "Segmentation fault");
        assert_eq!(signal_description(9), "Killed");
        assert_eq!(signal_description(libc::SIGSYS), "SIGSYS");
    }

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
            slot: 0,
            generation: 0,
            listeners: &listeners,
            handler: Arc::new(Nothing),
            protocol: Arc::new(ProtocolConfig::default()),
            mpm: &MpmConfig::default(),
            scoreboard: &scoreboard,
            leave: leave_write.as_fd(),
        };
        scoreboard.process(0).accepting.store(1, Ordering::Release);
        let stopping = AtomicBool::new(false);
        let home = AtomicBool::new(false);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                let body = |_: usize, _: &crate::process::scoreboard::WorkerSlot| {
                    // A worker waits for work until sent home.
                    while !home.load(Ordering::Acquire) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                };
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_with_workers(
                        &cx,
                        2,
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

    #[test]
    fn numeric_ids_are_written_with_a_hash() {
        assert_eq!(numeric("#65534"), Some(65534));
        assert_eq!(numeric("65534"), None);
        assert_eq!(numeric("#x"), None);
    }

    #[test]
    fn an_unknown_user_is_an_error_that_names_it() {
        let e = resolve_user("no-such-user-here").unwrap_err();
        assert!(e.contains("User no-such-user-here: no such user"), "{e}");
        let e = resolve_group("no-such-group-here").unwrap_err();
        assert!(e.contains("Group no-such-group-here: no such group"), "{e}");
    }

    #[test]
    fn a_user_that_is_root_is_refused_by_name_or_uid() {
        for root in ["root", "#0"] {
            let e = refuse_root_user(root).unwrap_err();
            assert!(
                e.starts_with(&format!(
                    "User {root}: this server has not been designed to serve pages while running as root"
                )),
                "{e}"
            );
        }
        assert_eq!(refuse_root_user("#65534"), Ok(()));
        assert_eq!(
            refuse_root_user("no-such-user-here"),
            Ok(()),
            "an unknown user is reported when switching to it"
        );
        if nix::unistd::geteuid().is_root() {
            let cfg = MpmConfig {
                user: Some("#0".into()),
                ..MpmConfig::default()
            };
            let e = drop_privileges(&cfg).unwrap_err();
            assert!(e.contains("serve pages while running as root"), "{e}");
        }
    }

    #[test]
    fn without_user_or_group_privileges_are_kept() {
        assert_eq!(drop_privileges(&MpmConfig::default()), Ok(()));
    }
}
