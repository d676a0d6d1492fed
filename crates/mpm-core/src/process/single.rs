//! The one-process strategy behind `mpmd -X` (as `httpd -X`): one thread
//! accepts from every listener and serves each connection in turn. For
//! debugging (a debugger sees everything in one thread) and as the first
//! driver of the engine. It never forks, so a crashing handler ends the
//! server: use a forked strategy to isolate crashes.
//!
//! A small watcher thread ([`watch_commands`]) turns control commands into
//! the [`Stopping`] broadcasts, so a stop reaches the serving thread even
//! while it waits on a quiet client.

use std::sync::atomic::Ordering;

use crate::config::MpmConfig;
use crate::control::{watch_commands, Exit, Stopping};
use crate::error::Error;
use crate::mpm::{Mpm, MpmInfo, RunContext};
use crate::net::accept::{Acceptor, Next};
use crate::process::clamp::{self, Clamped};
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

    fn check_config(&self, cfg: &MpmConfig) -> (Clamped, Vec<String>) {
        (clamp::single(cfg), Vec::new())
    }

    fn scoreboard_shape(&self, _cfg: &Clamped) -> (usize, usize) {
        (1, 1)
    }

    fn run(&mut self, ctx: RunContext<'_>) -> Result<Exit, Error> {
        // As Apache's -X (ONE_PROCESS): the one process switches to
        // `User`/`Group` before it serves, as a child would.
        crate::process::privileges::drop_privileges(ctx.mpm.directives())
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
            worker_slot: Some(slot),
            counters: Some(sb.counters()),
            idle_close: Some(stopping.graceful.fd()),
            abort: Some(stopping.abort.fd()),
            leaving: Some(&leaving),
            mode: Mode::Blocking,
        };
        let (served, exit) = watch_commands(
            ctx.control,
            ctx.listeners,
            &stopping,
            "the accepting thread",
            || accept_loop(&ctx, &stopping, &serve_ctx),
        );
        process.accepting.store(0, Ordering::Relaxed);
        slot.set_state(WorkerState::Dead);
        served??;
        Ok(exit)
    }
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
        if let Some(slot) = serve_ctx.worker_slot {
            slot.set_state(WorkerState::Ready);
        }
    }
    Ok(())
}
