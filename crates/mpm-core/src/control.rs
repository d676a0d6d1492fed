//! Control: signals and embedder requests turned into plain commands.
//!
//! Signal handlers do nothing but set a flag and write one byte to a pipe
//! (both async-signal-safe, through `signal-hook`). The strategy's main
//! loop polls the pipe's read end beside its sockets and reads the command
//! with [`Control::take`]. An embedding program sends the same commands
//! through a [`ControlHandle`].
//!
//! | signal | command |
//! |---|---|
//! | SIGTERM, SIGINT | [`Command::Stop`] |
//! | SIGWINCH | [`Command::GracefulStop`] |
//! | SIGHUP | [`Command::Restart`] |
//! | SIGUSR1 | [`Command::GracefulRestart`] |
//!
//! [`Exit`] is what a run ends with, for the caller to act on (exit, or
//! re-read its configuration and run again).
//!
//! Tickers ([`Control::on_tick`]) are the caller's own housekeeping while a
//! run lasts (mpmd's service-manager notifications and binary upgrade):
//! the strategy's main loop (the master's, or the watcher of
//! [`watch_commands`]) calls [`Control::tick`] whenever it wakes, and wakes
//! again within the delay the tickers ask for. [`Control::wake_on_signal`]
//! routes one more signal to the wake pipe, with a flag for a ticker to
//! read: a ticker runs in the loop's own thread, so what it does (fork a
//! process, say) is as safe as what the loop does.
//!
//! [`Drain`] is the other direction: a broadcast that every thread (or, via
//! an inherited pipe, every child) can poll, which tells them to finish
//! what they hold and stop taking new work. A strategy that serves in the
//! calling process, with no master, turns commands into those broadcasts
//! with [`watch_commands`].

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags};

use crate::error::Error;
use crate::net::listener::Listeners;
use crate::net::poll::{poll_timeout, readable};

/// A command to the running strategy, in decreasing priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Stop now: close listeners, end connections, exit (SIGTERM, SIGINT).
    Stop,
    /// Restart now: end connections, re-read configuration (SIGHUP).
    Restart,
    /// Stop accepting, let requests in flight finish, exit (SIGWINCH).
    GracefulStop,
    /// Re-read configuration; old connections finish (SIGUSR1).
    GracefulRestart,
}

const COMMANDS: [Command; 4] = [
    Command::Stop,
    Command::Restart,
    Command::GracefulStop,
    Command::GracefulRestart,
];

/// Why `run` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Stopped (at once or gracefully); the caller exits.
    Stop,
    /// Restart asked (SIGHUP): connections were closed; re-read the
    /// configuration and run again.
    Restart,
    /// Graceful restart asked (SIGUSR1): re-read the configuration and run
    /// again; connections in flight were allowed to finish.
    GracefulRestart,
}

/// The lifecycle phase of a run, for tests and embedders to observe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Listeners bound, processes or threads being made.
    Starting = 0,
    /// Serving.
    Running = 1,
    /// Stopping: no longer accepting, finishing requests in flight (not
    /// entered on a restart, whose listeners stay open).
    Draining = 2,
    /// Done.
    Stopped = 3,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Starting,
            1 => Phase::Running,
            2 => Phase::Draining,
            _ => Phase::Stopped,
        }
    }
}

/// Called on every phase change.
type PhaseObserver = Box<dyn Fn(Phase) + Send + Sync>;

/// Called whenever the main loop wakes; returns how long the loop may
/// wait before calling it again.
type Ticker = Box<dyn FnMut() -> Duration + Send>;

struct Inner {
    flags: [Arc<AtomicBool>; 4],
    wake_read: OwnedFd,
    wake_write: OwnedFd,
    phase: AtomicU8,
    observers: parking_lot::Mutex<Vec<PhaseObserver>>,
    tickers: parking_lot::Mutex<Vec<Ticker>>,
}

/// The receiving end of control commands; owned by the code that calls
/// [`crate::Mpm::run`].
#[derive(Clone)]
pub struct Control {
    inner: Arc<Inner>,
}

/// A cloneable sender of commands, for the embedding program.
#[derive(Clone)]
pub struct ControlHandle {
    inner: Arc<Inner>,
}

fn pipe_nonblocking() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).map_err(io::Error::from)
}

fn index(cmd: Command) -> usize {
    COMMANDS.iter().position(|c| *c == cmd).unwrap_or(0)
}

impl Inner {
    fn send(&self, cmd: Command) {
        self.flags[index(cmd)].store(true, Ordering::SeqCst);
        // A full pipe already wakes the reader; nothing to do on EAGAIN.
        let _ = nix::unistd::write(&self.wake_write, &[1u8]);
    }
}

impl Control {
    /// A control channel with no signal attached yet.
    pub fn new() -> Result<Self, Error> {
        let (wake_read, wake_write) = pipe_nonblocking().map_err(Error::Control)?;
        Ok(Control {
            inner: Arc::new(Inner {
                flags: Default::default(),
                wake_read,
                wake_write,
                phase: AtomicU8::new(Phase::Starting as u8),
                observers: parking_lot::Mutex::new(Vec::new()),
                tickers: parking_lot::Mutex::new(Vec::new()),
            }),
        })
    }

    /// Route SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGWINCH to this channel
    /// and ignore SIGPIPE (a vanished client is an `EPIPE`, not a death).
    pub fn install_signals(&self) -> Result<(), Error> {
        use signal_hook::consts::*;
        let map = [
            (SIGTERM, Command::Stop),
            (SIGINT, Command::Stop),
            (SIGHUP, Command::Restart),
            (SIGWINCH, Command::GracefulStop),
            (SIGUSR1, Command::GracefulRestart),
        ];
        for (sig, cmd) in map {
            signal_hook::flag::register(sig, self.inner.flags[index(cmd)].clone())
                .map_err(Error::Control)?;
            let w = self.inner.wake_write.try_clone().map_err(Error::Control)?;
            signal_hook::low_level::pipe::register(sig, w).map_err(Error::Control)?;
        }
        ignore_sigpipe();
        Ok(())
    }

    /// Route signal `sig` to the wake pipe: the flag returned is set (and
    /// the main loop woken, to run the tickers) each time it arrives.
    pub fn wake_on_signal(&self, sig: i32) -> Result<Arc<AtomicBool>, Error> {
        let flag = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(sig, flag.clone()).map_err(Error::Control)?;
        let w = self.inner.wake_write.try_clone().map_err(Error::Control)?;
        signal_hook::low_level::pipe::register(sig, w).map_err(Error::Control)?;
        Ok(flag)
    }

    /// Call `f` whenever the strategy's main loop wakes, and at the latest
    /// after the delay `f` returned last (the first call comes once the run
    /// has started its processes or threads). `f` runs on the loop's
    /// thread: it must not block.
    pub fn on_tick(&self, f: impl FnMut() -> Duration + Send + 'static) {
        self.inner.tickers.lock().push(Box::new(f));
    }

    /// Run the tickers; the shortest delay they asked for (`None` with no
    /// ticker). For the strategies' main loops.
    pub fn tick(&self) -> Option<Duration> {
        self.inner.tickers.lock().iter_mut().map(|f| f()).min()
    }

    /// A sender for the embedding program.
    pub fn handle(&self) -> ControlHandle {
        ControlHandle {
            inner: self.inner.clone(),
        }
    }

    /// Readable when a command may be pending: poll it beside sockets.
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.inner.wake_read.as_fd()
    }

    /// The most urgent pending command, if any (clearing it).
    pub fn take(&self) -> Option<Command> {
        let mut buf = [0u8; 64];
        while matches!(nix::unistd::read(self.inner.wake_read.as_raw_fd(), &mut buf), Ok(n) if n > 0)
        {
        }
        for (i, cmd) in COMMANDS.iter().enumerate() {
            if self.inner.flags[i].swap(false, Ordering::SeqCst) {
                return Some(*cmd);
            }
        }
        None
    }

    /// Wait up to `timeout` (forever with `None`) for a command.
    pub fn wait(&self, timeout: Option<Duration>) -> Option<Command> {
        if let Some(cmd) = self.take() {
            return Some(cmd);
        }
        let mut fds = [PollFd::new(self.wake_fd(), PollFlags::POLLIN)];
        let _ = nix::poll::poll(&mut fds, poll_timeout(timeout));
        self.take()
    }

    /// Record a lifecycle phase and tell the observers.
    pub fn set_phase(&self, phase: Phase) {
        let old = self.inner.phase.swap(phase as u8, Ordering::SeqCst);
        if old != phase as u8 {
            for f in self.inner.observers.lock().iter() {
                f(phase);
            }
        }
    }

    /// The current lifecycle phase.
    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.inner.phase.load(Ordering::SeqCst))
    }

    /// Call `f` on every phase change.
    pub fn on_phase(&self, f: impl Fn(Phase) + Send + Sync + 'static) {
        self.inner.observers.lock().push(Box::new(f));
    }
}

impl ControlHandle {
    /// Send a command.
    pub fn send(&self, cmd: Command) {
        self.inner.send(cmd)
    }
    /// [`Command::Stop`].
    pub fn stop(&self) {
        self.send(Command::Stop)
    }
    /// [`Command::GracefulStop`].
    pub fn graceful_stop(&self) {
        self.send(Command::GracefulStop)
    }
    /// [`Command::Restart`].
    pub fn restart(&self) {
        self.send(Command::Restart)
    }
    /// [`Command::GracefulRestart`].
    pub fn graceful_restart(&self) {
        self.send(Command::GracefulRestart)
    }
    /// The current lifecycle phase.
    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.inner.phase.load(Ordering::SeqCst))
    }
}

/// Ignore SIGPIPE for the whole process.
pub fn ignore_sigpipe() {
    // SAFETY: setting SIGPIPE's disposition to SIG_IGN installs no handler
    // code; it is safe at any time.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigIgn,
        );
    }
}

/// A one-way broadcast "finish what you hold": every thread of a process,
/// and every child that inherited it, sees it through [`Drain::fd`] (which
/// becomes readable and stays so) or [`Drain::is_triggered`].
pub struct Drain {
    read: OwnedFd,
    write: OwnedFd,
    triggered: AtomicBool,
}

impl Drain {
    /// A drain signal not yet triggered.
    pub fn new() -> io::Result<Self> {
        let (read, write) = pipe_nonblocking()?;
        Ok(Drain {
            read,
            write,
            triggered: AtomicBool::new(false),
        })
    }

    /// Tell everyone to finish. Idempotent.
    pub fn trigger(&self) {
        if !self.triggered.swap(true, Ordering::SeqCst) {
            let _ = nix::unistd::write(&self.write, &[1u8]);
        }
    }

    /// True once triggered (in this process or, through the pipe, by the
    /// process that holds the other copy).
    pub fn is_triggered(&self) -> bool {
        if self.triggered.load(Ordering::SeqCst) {
            return true;
        }
        let ready = readable(self.read.as_fd());
        if ready {
            self.triggered.store(true, Ordering::SeqCst);
        }
        ready
    }

    /// True once triggered in this process (an atomic load, no system
    /// call); a trigger from another process shows only through
    /// [`Drain::is_triggered`] and [`Drain::fd`].
    pub fn triggered_here(&self) -> bool {
        self.triggered.load(Ordering::SeqCst)
    }

    /// Readable once triggered: poll it beside a socket.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}

/// The two broadcasts a strategy gives the code that serves connections:
/// `graceful` (stop accepting, close connections idle between requests,
/// let the rest finish) and `abort` (close every connection at its next
/// wait). [`Stopping::apply`] turns a [`Command`] into them.
pub struct Stopping {
    /// Finish what you hold; take nothing new.
    pub graceful: Drain,
    /// Close now.
    pub abort: Drain,
}

impl Stopping {
    /// Neither broadcast triggered.
    pub fn new() -> io::Result<Self> {
        Ok(Stopping {
            graceful: Drain::new()?,
            abort: Drain::new()?,
        })
    }

    /// Trigger what `cmd` asks for: a stop or restart triggers both, their
    /// graceful forms only `graceful`.
    pub fn apply(&self, cmd: Command) {
        if matches!(cmd, Command::Stop | Command::Restart) {
            self.abort.trigger();
        }
        self.graceful.trigger();
    }
}

/// The longest the watcher of [`watch_commands`] sleeps between checks.
const WATCH_TICK: Duration = Duration::from_millis(250);

/// Run `body` in this process while a watcher thread turns the first
/// command of `control` into `stopping`'s broadcasts (and, for a stop,
/// closes the `listeners` at once); then the exit that command asks for.
/// For the strategies that serve in the calling process, with no master
/// (`single`, event's in-process mode). `body` must return once
/// `stopping.graceful` fires.
///
/// A panic of `body` (`what` names it: `the event loop`) becomes
/// [`Error::Panicked`], and the watcher ends with it: `run` then returns
/// that error instead of waiting for a command with nobody serving.
pub fn watch_commands<R>(
    control: &Control,
    listeners: &Listeners,
    stopping: &Stopping,
    what: &'static str,
    body: impl FnOnce() -> R,
) -> (Result<R, Error>, Exit) {
    let done = AtomicBool::new(false);
    let command = parking_lot::Mutex::new(None);
    control.set_phase(Phase::Running);
    let r = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Acquire) {
                let wait = control.tick().map_or(WATCH_TICK, |t| t.min(WATCH_TICK));
                if let Some(cmd) = control.wait(Some(wait)) {
                    log::info!("{cmd:?} received");
                    *command.lock() = Some(cmd);
                    if matches!(cmd, Command::Stop | Command::GracefulStop) {
                        control.set_phase(Phase::Draining);
                        listeners.stop_listening();
                    }
                    stopping.apply(cmd);
                    return;
                }
            }
        });
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
        done.store(true, Ordering::Release);
        r.map_err(|panic| {
            let e = Error::Panicked {
                what,
                reason: crate::error::panic_message(&*panic),
            };
            log::error!("{e}");
            e
        })
    });
    let exit = match command.lock().take() {
        Some(Command::Restart) => Exit::Restart,
        Some(Command::GracefulRestart) => Exit::GracefulRestart,
        Some(Command::Stop) | Some(Command::GracefulStop) | None => Exit::Stop,
    };
    if exit == Exit::Stop {
        // (Draining is set at once by the watcher when the stop arrives;
        // setting it again is a no-op.)
        control.set_phase(Phase::Draining);
        control.set_phase(Phase::Stopped);
    }
    (r, exit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_commands_arrive_in_priority_order() {
        let c = Control::new().unwrap();
        let h = c.handle();
        assert_eq!(c.take(), None);
        h.graceful_restart();
        h.stop();
        assert_eq!(c.wait(Some(Duration::from_millis(10))), Some(Command::Stop));
        assert_eq!(c.take(), Some(Command::GracefulRestart));
        assert_eq!(c.take(), None);
    }

    #[test]
    fn wait_times_out_without_a_command() {
        let c = Control::new().unwrap();
        let t = std::time::Instant::now();
        assert_eq!(c.wait(Some(Duration::from_millis(30))), None);
        assert!(t.elapsed() >= Duration::from_millis(29));
    }

    #[test]
    fn phase_observers_see_each_change_once() {
        let c = Control::new().unwrap();
        let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let s = seen.clone();
        c.on_phase(move |p| s.lock().push(p));
        c.set_phase(Phase::Running);
        c.set_phase(Phase::Running);
        c.set_phase(Phase::Draining);
        c.set_phase(Phase::Stopped);
        assert_eq!(
            *seen.lock(),
            vec![Phase::Running, Phase::Draining, Phase::Stopped]
        );
        assert_eq!(c.handle().phase(), Phase::Stopped);
    }

    #[test]
    fn tickers_run_on_each_tick_and_the_shortest_delay_wins() {
        let c = Control::new().unwrap();
        assert_eq!(c.tick(), None);
        let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let r = runs.clone();
        c.on_tick(move || {
            r.fetch_add(1, Ordering::SeqCst);
            Duration::from_secs(1)
        });
        c.on_tick(|| Duration::from_millis(50));
        assert_eq!(c.tick(), Some(Duration::from_millis(50)));
        assert_eq!(c.tick(), Some(Duration::from_millis(50)));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn graceful_commands_do_not_abort() {
        let s = Stopping::new().unwrap();
        s.apply(Command::GracefulRestart);
        assert!(s.graceful.is_triggered() && !s.abort.is_triggered());
        let s = Stopping::new().unwrap();
        s.apply(Command::Restart);
        assert!(s.graceful.is_triggered() && s.abort.is_triggered());
    }

    #[test]
    fn drain_is_seen_through_its_fd() {
        let d = Drain::new().unwrap();
        assert!(!d.is_triggered());
        d.trigger();
        d.trigger();
        assert!(d.is_triggered());
        let mut fds = [PollFd::new(d.fd(), PollFlags::POLLIN)];
        assert_eq!(
            nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO).unwrap(),
            1
        );
    }
}
