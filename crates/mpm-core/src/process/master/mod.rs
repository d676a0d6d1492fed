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
//!   serving code closes keep-alive connections when it becomes readable
//!   (a prefork or worker child, which waits for a keep-alive request in
//!   the read itself, looks between slices of that wait: within a second).
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
//! A child that exits with [`FATAL_EXIT`](child::FATAL_EXIT) could not start (its handler
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
//! Each time it wakes, the master runs the caller's tickers
//! ([`Control::on_tick`](crate::Control::on_tick)) on its own thread and
//! wakes again within the delay they ask for.
//!
//! The [`Master`] keeps its children across calls of `run`. It belongs to
//! the caller, not to a strategy: the caller makes one, keeps it across
//! restarts and hands it to every run ([`RunContext::master`]). The run
//! after a graceful restart adopts the old generation's children, keeps
//! reaping them and starts new ones beside them, on the same listening
//! sockets, whichever forking strategy it runs: prefork, worker and event
//! all run through the same master, so a restart that changes the strategy
//! (mpmd's `LoadModule mpm_…_module` changed, then `SIGUSR1`) lets the old
//! strategy's children finish their connections while the new strategy's
//! start in the free slots. A run counts only its own children against
//! `MaxRequestWorkers`: finishing children of earlier runs hold slots of
//! the scoreboard beyond it (up to `ServerLimit`), as in Apache's event
//! MPM, so old children busy in every slot the new limit covers do not
//! keep the new generation from starting.
//!
//! ## Before the first `fork`, once per run
//!
//! What every child would otherwise make for itself is made here, so the
//! children share it instead of each dirtying its own copy: `User` and
//! `Group` are looked up ([`Credentials`]: a child's own lookup would load
//! the name service modules into it), and glibc's malloc arenas are capped
//! at the CPUs ([`crate::process::malloc`]). A run that fails, before or
//! after its first child, stops with its phases (`Draining`, `Stopped`).
//!
//! ## After `fork`, in the child
//!
//! The master's signal handling is undone, its own descriptors (the other
//! children's leave pipes, the `SIGCHLD` pipe) are closed, and the child
//! runs [`child::run`]; it then exits with `_exit`, never returning into
//! the master's code.
//!
//! `fork` is only sound here because the master is single-threaded: it
//! starts no thread, and an embedding program must not either before it
//! calls `run` of a forking strategy.

use std::collections::VecDeque;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};

use crate::control::Exit;
use crate::control::{Command, Phase};
use crate::deadline;
use crate::error::Error;
use crate::mpm::RunContext;
use crate::net::poll::poll_timeout;
use crate::process::child::{self, ChildContext};
use crate::process::privileges::Credentials;
use crate::process::scoreboard::WorkerState;
use crate::process::spare::{Counts, Regulator};

mod exit;
mod params;

pub use exit::signal_description;
use exit::Death;
pub use params::MasterParams;

/// How long stopped children get between `SIGTERM` and `SIGKILL`.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

/// A child dying within this time of its start counts towards a crash
/// loop.
pub const CRASH_WINDOW: Duration = Duration::from_secs(10);

/// More early deaths than this within [`CRASH_WINDOW`] is a crash loop.
pub const CRASH_LIMIT: usize = 5;

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

/// The children of the forking strategies and what the master knows of
/// them; made once by the caller and handed to every run (see the module
/// documentation), so that it survives restarts and changes of strategy.
///
/// Runs take it by shared reference ([`RunContext::master`]); one run at a
/// time holds its state (a second, concurrent run of the same master waits
/// for the first to end).
#[derive(Default)]
pub struct Master {
    state: parking_lot::Mutex<State>,
}

impl std::fmt::Debug for Master {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never waits for a run (which holds the state while it lasts).
        match self.state.try_lock() {
            Some(state) => f
                .debug_struct("Master")
                .field("children", &state.live_pids())
                .finish(),
            None => f.debug_struct("Master").finish_non_exhaustive(),
        }
    }
}

impl Master {
    /// A master with no child yet.
    pub fn new() -> Self {
        Master::default()
    }

    /// The pids of the children alive, of every generation (for tests and
    /// status), between runs: while a run lasts, this waits for its end.
    pub fn live_pids(&self) -> Vec<i32> {
        self.state.lock().live_pids()
    }

    /// Run the master until a command ends this run. `body` is the
    /// strategy's child: it runs in each forked child and returns when the
    /// child should exit. Children of earlier runs (of this strategy or
    /// another) that are still finishing are reaped as they leave and
    /// their slots reused.
    ///
    /// On an error every child is stopped before it is returned: no child
    /// outlives a failed run.
    pub fn run(
        &self,
        ctx: &RunContext<'_>,
        params: MasterParams,
        body: &dyn Fn(ChildContext<'_>),
    ) -> Result<Exit, Error> {
        self.state.lock().run(ctx, params, body)
    }
}

/// The master's state, behind [`Master`]'s lock.
#[derive(Default)]
struct State {
    /// Indexed by child number (the child's process slot on the
    /// scoreboard).
    children: Vec<Option<Child>>,
    regulator: Option<Regulator>,
    /// Read end of the SIGCHLD self-pipe and the handler's id.
    sigchld: Option<(OwnedFd, signal_hook::SigId)>,
    /// When recent early deaths happened.
    crashes: VecDeque<Instant>,
    crash_warned: bool,
    /// Replacements held back by a crash loop.
    owed: u32,
    /// A child exited with [`child::FATAL_EXIT`]: its pid.
    fatal: Option<i32>,
    /// Worker slots per child of the current run.
    threads: usize,
    /// Who the children of the current run switch to (`User`/`Group`,
    /// looked up here once, before any fork, so no child loads the name
    /// service modules).
    credentials: Option<Credentials>,
}

impl Drop for State {
    fn drop(&mut self) {
        if let Some((_, id)) = self.sigchld.take() {
            signal_hook::low_level::unregister(id);
        }
    }
}

impl State {
    fn live_pids(&self) -> Vec<i32> {
        self.children
            .iter()
            .flatten()
            .map(|c| c.pid.as_raw())
            .collect()
    }

    /// [`Master::run`].
    fn run(
        &mut self,
        ctx: &RunContext<'_>,
        params: MasterParams,
        body: &dyn Fn(ChildContext<'_>),
    ) -> Result<Exit, Error> {
        let result = self.serve(ctx, params, body);
        // A run that fails stops, with its phases (the caller's pid file
        // goes at `Draining`), even one that failed before its first
        // child (an unknown `User`).
        if result.is_err() {
            ctx.control.set_phase(Phase::Draining);
            if self.children.iter().any(|c| c.is_some()) {
                self.terminate_all(ctx, 0);
            }
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
        crate::process::malloc::one_arena_per_cpu();
        let sb = ctx.scoreboard;
        if self.children.len() < sb.procs() {
            self.children.resize_with(sb.procs(), || None);
        }
        match &mut self.regulator {
            Some(r) => r.set_limits(params.spare),
            None => self.regulator = Some(Regulator::new(params.spare)),
        }
        self.fatal = None;
        // Replacements a crash loop held back were the last run's: this
        // run starts its own StartServers (the crash history is kept, so
        // a loop that goes on is still limited).
        self.owed = 0;
        self.threads = child::threads_within(sb, params.threads_per_child);
        self.credentials = Credentials::resolve(ctx.mpm.directives())
            .map_err(|e| Error::io("looking up User and Group", std::io::Error::other(e)))?;
        let generation = sb.generation();
        // Children of a previous generation that already left.
        self.reap(ctx, generation);
        for _ in 0..params.start {
            match self.free_number(ctx, params, generation) {
                Some(n) => self.spawn(ctx, n, generation, body)?,
                None => break,
            }
        }
        if let Some(r) = self.regulator.as_mut() {
            r.defer(Instant::now());
        }
        ctx.control.set_phase(Phase::Running);
        loop {
            if let Some(pid) = self.fatal {
                // A child could not start: the run stops ([`State::run`]).
                return Err(Error::ChildStartup { pid });
            }
            if let Some(cmd) = ctx.control.take() {
                return self.command(ctx, cmd, generation);
            }
            // The caller's housekeeping (Control::on_tick), on this thread.
            let ticker_wait = ctx.control.tick();
            let now = Instant::now();
            let wait = self
                .regulator
                .as_ref()
                .and_then(|r| r.next_tick())
                .map(|t| t.saturating_duration_since(now))
                .unwrap_or(Duration::ZERO);
            let wait = ticker_wait.map_or(wait, |t| t.min(wait));
            if !wait.is_zero() {
                self.wait_event(ctx, Some(wait));
            }
            let replace = self.reap(ctx, generation);
            if self.fatal.is_some() {
                continue;
            }
            for n in replace {
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
                } else if self.room(ctx, params, generation) > 0 {
                    self.spawn(ctx, n, generation, body)?;
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
        if let Some(n) = decision.retire {
            self.tell_to_leave(ctx, n);
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
            match self.free_number(ctx, params, generation) {
                Some(n) => self.spawn(ctx, n, generation, body)?,
                None => break,
            }
        }
        Ok(())
    }

    /// What the regulator needs from the scoreboard.
    fn counts(&self, ctx: &RunContext<'_>, params: MasterParams, generation: u32) -> Counts {
        let sb = ctx.scoreboard;
        let mut counts = Counts {
            free_slots: u32::try_from(self.room(ctx, params, generation)).unwrap_or(u32::MAX),
            ..Counts::default()
        };
        for (n, child) in self.children.iter().enumerate().take(sb.procs()) {
            let Some(child) = child else {
                continue;
            };
            if child.leaving || child.generation != generation {
                continue;
            }
            let mut idle = 0;
            let mut busy = false;
            for t in 0..self.threads.min(sb.threads()) {
                let s = sb.worker(n, t).state();
                if s == WorkerState::Ready || s == WorkerState::Starting {
                    idle += 1;
                }
                busy |= s.is_busy();
            }
            counts.idle += idle;
            // Only a child whose every worker waits is a spare to retire,
            // and not one whose event loop holds connections (retiring it
            // would close idle keep-alive connections for nothing).
            let holds = sb.process(n).conns_total.load(Ordering::Relaxed) > 0;
            if idle as usize == self.threads.min(sb.threads()) && !busy && !holds {
                counts.retirable.push(n);
            }
        }
        counts
    }

    /// How many more children of `generation` may start now: up to
    /// `max_children` of its own that were not told to leave, each in a
    /// free slot of the scoreboard. Children of earlier generations that
    /// are finishing hold their slots but are not counted against the
    /// limit, so the new generation starts beside them in the slots above
    /// it (`ServerLimit` beyond `MaxRequestWorkers`), as Apache's event
    /// MPM does: a new strategy whose limit the old children's slots fill
    /// (prefork's children after a switch to event) still starts its own.
    fn room(&self, ctx: &RunContext<'_>, params: MasterParams, generation: u32) -> usize {
        let slots = self.children.iter().take(ctx.scoreboard.procs());
        let (mut free, mut active) = (0, 0);
        for child in slots {
            match child {
                None => free += 1,
                Some(c) if !c.leaving && c.generation == generation => active += 1,
                Some(_) => {}
            }
        }
        (params.max_children as usize)
            .saturating_sub(active)
            .min(free)
    }

    /// The slot for a new child of `generation`: the first free one, when
    /// [`State::room`] allows one more.
    fn free_number(
        &self,
        ctx: &RunContext<'_>,
        params: MasterParams,
        generation: u32,
    ) -> Option<usize> {
        if self.room(ctx, params, generation) == 0 {
            return None;
        }
        let mut slots = self.children.iter().take(ctx.scoreboard.procs());
        slots.position(|c| c.is_none())
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

    /// Reap every child that ended; returns the numbers to replace (children
    /// of `generation` the master did not tell to leave).
    fn reap(&mut self, ctx: &RunContext<'_>, generation: u32) -> Vec<usize> {
        let mut replace = Vec::new();
        for n in 0..self.children.len() {
            let Some(child) = &self.children[n] else {
                continue;
            };
            let death = match waitpid(child.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, 0)) => Death::Clean,
                Ok(WaitStatus::Exited(_, child::FATAL_EXIT)) => Death::Fatal,
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
            self.children[n] = None;
            if n < ctx.scoreboard.procs() {
                ctx.scoreboard.reset_process(n);
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
                replace.push(n);
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

    /// Tell child `n` to finish and leave.
    fn tell_to_leave(&mut self, ctx: &RunContext<'_>, n: usize) {
        if let Some(child) = self.children.get_mut(n).and_then(|c| c.as_mut()) {
            if !child.leaving {
                child.leaving = true;
                // The flag first: a child woken by the byte finds it set.
                if n < ctx.scoreboard.procs() {
                    ctx.scoreboard
                        .process(n)
                        .quiescing
                        .store(1, Ordering::Release);
                }
                let _ = nix::unistd::write(&child.leave, &[1u8]);
            }
        }
    }

    fn tell_all_to_leave(&mut self, ctx: &RunContext<'_>) {
        for n in 0..self.children.len() {
            self.tell_to_leave(ctx, n);
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
                let timeout = ctx.mpm.directives().graceful_shutdown_timeout;
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

    /// Fork child `n`. A failed fork is logged and left to the
    /// next tick.
    fn spawn(
        &mut self,
        ctx: &RunContext<'_>,
        n: usize,
        generation: u32,
        body: &dyn Fn(ChildContext<'_>),
    ) -> Result<(), Error> {
        let sb = ctx.scoreboard;
        let (leave_read, leave_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
            .map_err(|e| Error::io("creating a child's leave pipe", e.into()))?;
        // Written before the fork, so the child's own writes come after.
        sb.prepare_process(n, self.threads);
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
                sb.reset_process(n);
                log::error!("could not fork a child: {}", e.desc());
                Ok(())
            }
            Ok(ForkResult::Parent { child }) => {
                drop(leave_read);
                self.children[n] = Some(Child {
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
                    child::reset_signals();
                    // The other children's leave pipes and the SIGCHLD
                    // pipe are the master's: close them here.
                    self.children.clear();
                    self.sigchld = None;
                    child::run(
                        ctx,
                        n,
                        generation,
                        self.threads,
                        leave_read.as_fd(),
                        self.credentials.as_ref(),
                        body,
                    )
                }))
                .unwrap_or(1);
                // SAFETY: `_exit` ends this process at once without running
                // the master's atexit handlers or destructors, which belong
                // to the master (its pid file, its children).
                unsafe { libc::_exit(code) }
            }
        }
    }
}
