//! The one-process strategy behind `mpmd -X` (as `httpd -X`): one thread
//! accepts from every listener and serves each connection in turn. For
//! debugging (a debugger sees everything in one thread) and as the first
//! driver of the engine. It never forks, so a crashing handler ends the
//! server: use a forked strategy to isolate crashes.
//!
//! A small watcher thread turns control commands into the [`Stopping`]
//! broadcasts, so a stop reaches the serving thread even while it waits on
//! a quiet client.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::config::MpmConfig;
use crate::control::{Command, Phase, Stopping};
use crate::error::Error;
use crate::mpm::{Exit, Mpm, MpmInfo, RunContext};
use crate::net::accept::{Acceptor, Next};
use crate::process::scoreboard::WorkerState;
use crate::serve::{serve_connection, Mode, ServeContext};

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Single;

impl Mpm for Single {
    fn info(&self) -> MpmInfo {
        MpmInfo {
            name: "single",
            threaded: false,
            forked: false,
        }
    }

    fn scoreboard_shape(&self, _cfg: &MpmConfig) -> (usize, usize) {
        (1, 1)
    }

    fn run(&mut self, ctx: RunContext<'_>) -> Result<Exit, Error> {
        // As Apache's -X (ONE_PROCESS): the one process switches to
        // `User`/`Group` before it serves, as a child would.
        crate::process::privileges::drop_privileges(ctx.mpm)
            .map_err(|e| Error::io("switching to User and Group", std::io::Error::other(e)))?;
        let handler = (ctx.factory)().map_err(Error::Handler)?;
        let stopping = Stopping::new().map_err(Error::Control)?;
        let sb = ctx.scoreboard;
        let process = sb.process(0);
        process.start(std::process::id() as i32, sb.generation());
        process.accepting.store(1, Ordering::Relaxed);
        let slot = sb.worker(0, 0);
        slot.set_state(WorkerState::Ready);
        // The watcher triggers in this process, so the flag tells.
        let leaving = || stopping.graceful.triggered_here();
        let serve_ctx = ServeContext {
            handler: &*handler,
            protocol: &ctx.protocol,
            slot: Some(slot),
            idle_close: Some(stopping.graceful.fd()),
            abort: Some(stopping.abort.fd()),
            leaving: Some(&leaving),
            mode: Mode::Blocking,
        };
        let (served, exit) = watch_commands(&ctx, &stopping, "the accepting thread", || {
            accept_loop(&ctx, &stopping, &serve_ctx)
        });
        process.accepting.store(0, Ordering::Relaxed);
        slot.set_state(WorkerState::Dead);
        served??;
        Ok(exit)
    }
}

/// Run `body` in this process while a watcher thread turns the first
/// control command into `stopping`'s broadcasts (and, for a stop, closes
/// the listeners at once); then the exit that command asks for. For the
/// strategies that serve in the calling process (`single`, event's
/// in-process mode). `body` must return once `stopping.graceful` fires.
///
/// A panic of `body` (`what` names it: `the event loop`) becomes
/// [`Error::Panicked`], and the watcher ends with it: `run` then returns
/// that error instead of waiting for a command with nobody serving.
pub fn watch_commands<R>(
    ctx: &RunContext<'_>,
    stopping: &Stopping,
    what: &'static str,
    body: impl FnOnce() -> R,
) -> (Result<R, Error>, Exit) {
    let done = AtomicBool::new(false);
    let command = parking_lot::Mutex::new(None);
    ctx.control.set_phase(Phase::Running);
    let r = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Acquire) {
                if let Some(cmd) = ctx.control.wait(Some(Duration::from_millis(250))) {
                    log::info!("{cmd:?} received");
                    *command.lock() = Some(cmd);
                    if matches!(cmd, Command::Stop | Command::GracefulStop) {
                        ctx.control.set_phase(Phase::Draining);
                        ctx.listeners.stop_listening();
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
        ctx.control.set_phase(Phase::Draining);
        ctx.control.set_phase(Phase::Stopped);
    }
    (r, exit)
}

/// Accept and serve until told to stop: the forking children's acceptor,
/// with the graceful broadcast as its leave signal.
fn accept_loop(
    ctx: &RunContext<'_>,
    stopping: &Stopping,
    serve_ctx: &ServeContext<'_>,
) -> Result<(), Error> {
    let mut acceptor = Acceptor::new(ctx.listeners, stopping.graceful.fd())
        .map_err(|e| Error::io("waiting for connections", e))?;
    while let Next::Connection(conn) = acceptor.wait() {
        serve_connection(conn, serve_ctx);
        if let Some(slot) = serve_ctx.slot {
            slot.set_state(WorkerState::Ready);
        }
    }
    Ok(())
}
