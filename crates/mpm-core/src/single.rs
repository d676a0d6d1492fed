//! The one-process strategy behind `mpmd -X` (as `httpd -X`): one thread
//! accepts from every listener and serves each connection in turn. For
//! debugging (a debugger sees everything in one thread) and as the first
//! driver of the engine. It never forks, so a crashing handler ends the
//! server: use a forked strategy to isolate crashes.

use std::io;
use std::os::fd::AsFd;

use nix::poll::{PollFd, PollFlags};

use crate::config::MpmConfig;
use crate::connection::Connection;
use crate::control::{Command, Phase};
use crate::error::Error;
use crate::mpm::{Exit, Mpm, MpmInfo, RunContext};
use crate::scoreboard::WorkerState;
use crate::serve::{serve_connection, ServeContext};

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
        let handler = (ctx.factory)().map_err(Error::Handler)?;
        let sb = ctx.scoreboard;
        sb.process(0).pid.store(
            std::process::id() as i32,
            std::sync::atomic::Ordering::Relaxed,
        );
        let slot = sb.worker(0, 0);
        slot.set_state(WorkerState::Ready);
        let serve_ctx = ServeContext {
            handler: &*handler,
            protocol: &ctx.protocol,
            slot: Some(slot),
            // Any command ends an idle keep-alive wait, so a stop is never
            // held up by a quiet client.
            idle_close: Some(ctx.control.wake_fd()),
        };
        ctx.control.set_phase(Phase::Running);
        let exit = loop {
            if let Some(cmd) = ctx.control.take() {
                break cmd;
            }
            let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(ctx.listeners.len() + 1);
            fds.push(PollFd::new(ctx.control.wake_fd(), PollFlags::POLLIN));
            for l in ctx.listeners.iter() {
                fds.push(PollFd::new(l.socket.as_fd(), PollFlags::POLLIN));
            }
            match nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(Error::io("waiting for connections", e.into())),
            }
            let ready: Vec<bool> = fds
                .iter()
                .skip(1)
                .map(|f| f.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
                .collect();
            drop(fds);
            for (i, ready) in ready.into_iter().enumerate() {
                if !ready {
                    continue;
                }
                let Some(l) = ctx.listeners.get(i) else {
                    continue;
                };
                match l.socket.accept() {
                    Ok((stream, _)) => match Connection::plain(stream, i, l.name.clone()) {
                        Ok(conn) => {
                            serve_connection(conn, &serve_ctx);
                            slot.set_state(WorkerState::Ready);
                        }
                        Err(e) => log::debug!("connection lost before it was served: {e}"),
                    },
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => accept_error(&e),
                }
            }
        };
        slot.set_state(WorkerState::Dead);
        if matches!(exit, Command::Stop | Command::GracefulStop) {
            ctx.control.set_phase(Phase::Draining);
            ctx.control.set_phase(Phase::Stopped);
        }
        Ok(match exit {
            Command::Stop | Command::GracefulStop => Exit::Stop,
            Command::Restart => Exit::Restart,
            Command::GracefulRestart => Exit::GracefulRestart,
        })
    }
}

/// What to do when `accept` fails with something other than "no
/// connection yet": out of descriptors pauses briefly (never a busy loop),
/// anything else is logged.
pub fn accept_error(e: &io::Error) {
    match e.raw_os_error() {
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM) => {
            log::error!("accept failed ({e}); pausing accepts for 100 ms");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        // The client went away between the kernel's accept and ours.
        Some(libc::ECONNABORTED) | Some(libc::EPROTO) | Some(libc::EPERM) => {}
        _ => log::error!("accept failed: {e}"),
    }
}
