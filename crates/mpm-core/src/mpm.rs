//! The [`Mpm`] trait: one concurrency strategy.
//!
//! A strategy is handed everything already built (listeners bound, the
//! handler factory, typed configuration with its own directives clamped by
//! [`Mpm::check_config`], the scoreboard and the control channel) and runs
//! until a command ends it. It never parses a
//! configuration file; the caller never touches a socket's bytes.
//!
//! `run` returns [`Exit`] so the caller can re-read its configuration on a
//! restart and call `run` again on the same (re-bound) listeners, with the
//! same [`Master`] (which keeps the children still finishing, even when the
//! next run is another strategy's):
//!
//! ```no_run
//! use std::sync::Arc;
//! use mpm_core::*;
//!
//! struct Hello;
//! impl Handler for Hello {
//!     fn handle(&self, _: Request<'_>, _: &ConnInfo) -> Response {
//!         Response::new(Body::from("Hello, World!"))
//!     }
//! }
//!
//! # fn main() -> Result<(), Error> {
//! let listeners = Listeners::bind(&["127.0.0.1:8080".parse().unwrap()], 511)?;
//! let control = Control::new()?;
//! control.install_signals()?;
//! let mut mpm = process::single::Single;
//! let (clamped, warnings) = mpm.check_config(&MpmConfig::default());
//! assert!(warnings.is_empty());
//! let (procs, threads) = mpm.scoreboard_shape(&clamped);
//! let scoreboard = Scoreboard::new(procs, threads)?;
//! let master = process::master::Master::new();
//! let exit = mpm.run(RunContext {
//!     listeners: &listeners,
//!     factory: shared_factory(Arc::new(Hello)),
//!     protocol: Arc::new(ProtocolConfig::default()),
//!     mpm: &clamped,
//!     control: &control,
//!     scoreboard: &scoreboard,
//!     master: &master,
//! })?;
//! # let _ = exit; Ok(()) }
//! ```

use std::sync::Arc;

use crate::config::{MpmConfig, ProtocolConfig};
use crate::control::{Control, Exit};
use crate::error::Error;
use crate::handler::HandlerFactory;
use crate::net::listener::Listeners;
use crate::process::clamp::Clamped;
use crate::process::master::Master;
use crate::process::scoreboard::Scoreboard;

/// How a strategy describes itself (`mpmd -V`, `-l`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpmInfo {
    /// Short name: `single`, `prefork`, `worker`, `event`, and
    /// `event-threads`, `worker-threads` for the threaded strategies that
    /// serve in the calling process.
    pub name: &'static str,
    /// Serves requests on several threads of one process.
    pub threaded: bool,
    /// Forks child processes.
    pub forked: bool,
}

/// Everything a strategy runs with.
pub struct RunContext<'a> {
    /// Bound listening sockets, in configuration order.
    pub listeners: &'a Listeners,
    /// Makes each process's handler.
    pub factory: HandlerFactory,
    /// Protocol limits and timeouts.
    pub protocol: Arc<ProtocolConfig>,
    /// MPM directives, as [`Mpm::check_config`] clamped them.
    pub mpm: &'a Clamped,
    /// Commands from signals or from the embedding program.
    pub control: &'a Control,
    /// The shared-memory scoreboard, sized by [`Mpm::scoreboard_shape`]
    /// (or larger: a caller that may change strategies on a restart sizes
    /// it once for all of them and records the running one's shape with
    /// [`Scoreboard::set_shape_in_use`]).
    pub scoreboard: &'a Scoreboard,
    /// The children of the forking strategies (prefork, worker, event).
    /// Make one and hand the same one to every run: a graceful restart
    /// leaves the old generation finishing in it, and the next run, of
    /// the same strategy or another, adopts those children and starts its
    /// own beside them. `single` and an in-process event loop fork nothing
    /// and leave it alone.
    pub master: &'a Master,
}

/// A concurrency strategy.
pub trait Mpm: Send {
    /// Name and kind.
    fn info(&self) -> MpmInfo;

    /// Check the MPM directives against each other by this strategy's
    /// rules ([`crate::process::clamp`]); returns the configuration
    /// [`Mpm::run`] takes and one warning per conflict, as Apache does at
    /// start and under `-t`.
    fn check_config(&self, cfg: &MpmConfig) -> (Clamped, Vec<String>);

    /// Processes × workers the scoreboard needs for this configuration.
    fn scoreboard_shape(&self, cfg: &Clamped) -> (usize, usize);

    /// Serve until a command ends the run.
    fn run(&mut self, ctx: RunContext<'_>) -> Result<Exit, Error>;
}
