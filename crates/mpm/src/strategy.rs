//! What a strategy is built from: for those who write one, and for
//! programs that drive a strategy themselves instead of through
//! [`Server`](crate::Server) (as `mpmd` does, to re-read its configuration
//! on a restart).
//!
//! A strategy implements [`Mpm`]: [`Mpm::run`] is handed a [`RunContext`]
//! with everything already built (listeners bound, the handler factory,
//! the configuration with its directives clamped by [`Mpm::check_config`],
//! the scoreboard, the control channel) and returns an [`Exit`] when a
//! command ends it. The parts it is made of:
//!
//! - [`h1`]: the sans-IO HTTP/1.1 engine (bytes in, request heads out;
//!   response in, bytes out) and its connection session.
//! - [`serve`]: the code between a socket and the handler: the blocking
//!   loop that serves a connection on one thread, and the half that
//!   answers requests an event loop lends a thread.
//! - [`net`]: listeners bound once before any fork, the blocking accept
//!   loop, the accepted [`Connection`] in clear or TLS.
//! - [`process`]: the master that forks, reaps and regulates children, a
//!   child's life and its worker threads, privileges, spares, directives
//!   clamped, the shared-memory [`Scoreboard`].
//! - [`control`]: signals and [`ControlHandle`](crate::ControlHandle)
//!   commands as a [`Control`] channel, and the broadcasts that tell
//!   serving threads to finish; [`deadline`]: instants without overflow;
//!   [`error`]: the error type and its helpers.
//!
//! ```no_run
//! use std::sync::Arc;
//! use mpm::strategy::{Control, Listeners, Master, Mpm, RunContext, Scoreboard};
//! use mpm::{shared_factory, Body, ConnInfo, MpmConfig, ProtocolConfig, Request, Response};
//!
//! # fn main() -> Result<(), mpm::Error> {
//! let hello = |_: Request<'_>, _: &ConnInfo| Response::new(Body::from("Hello, World!"));
//! let listeners = Listeners::bind(&["127.0.0.1:8080".parse()?], 511)?;
//! let control = Control::new()?;
//! control.install_signals()?;
//! let mut mpm = mpm::by_name("prefork").expect("compiled in");
//! let (clamped, warnings) = mpm.check_config(&MpmConfig::default());
//! assert!(warnings.is_empty());
//! let (procs, threads) = mpm.scoreboard_shape(&clamped);
//! let scoreboard = Scoreboard::new(procs, threads)?;
//! // The children: kept across restarts (and changes of strategy).
//! let master = Master::new();
//! let exit = mpm.run(RunContext {
//!     listeners: &listeners,
//!     factory: shared_factory(Arc::new(hello)),
//!     protocol: Arc::new(ProtocolConfig::default()),
//!     mpm: &clamped,
//!     control: &control,
//!     scoreboard: &scoreboard,
//!     master: &master,
//! })?;
//! # let _ = exit; Ok(()) }
//! ```

pub use mpm_core::{control, deadline, error, h1, net, process, serve};

pub use mpm_core::control::{Control, Exit, Stopping};
pub use mpm_core::mpm::{Mpm, MpmInfo, RunContext};
pub use mpm_core::net::connection::Connection;
pub use mpm_core::net::listener::{HandOver, Inherited, ListenAddr, Listener, Listeners};
pub use mpm_core::process::clamp::Clamped;
pub use mpm_core::process::master::Master;
pub use mpm_core::process::scoreboard::{
    ProcessSlot, ProcessSnapshot, Scoreboard, Snapshot, Totals, WorkerSlot, WorkerSnapshot,
    WorkerState,
};
