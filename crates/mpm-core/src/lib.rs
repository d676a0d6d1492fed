//! # mpm-core
//!
//! What the concurrency strategies ("MPMs": `single`, prefork, worker,
//! event) share, so that each strategy crate holds only what makes it
//! different. Three layers, and the words an embedder uses on top:
//!
//! **The embedder's vocabulary** (re-exported at the crate root):
//!
//! - [`handler`]: the synchronous [`Handler`] an application writes, the
//!   request and response types it sees, and the per-process factory.
//! - [`config`]: typed limits, timeouts and MPM directives (Apache's
//!   defaults), and [`deadline`]: instants made from them without
//!   overflow, and `RequestReadTimeout`'s read deadline.
//! - [`mpm`]: the [`Mpm`] trait every strategy implements, and what `run`
//!   is handed ([`RunContext`]).
//! - [`control`]: signals and embedder requests turned into plain commands
//!   and what a run ends with ([`Exit`]), and the broadcasts that tell
//!   serving threads to finish (turned from commands by `watch_commands`
//!   where there is no master: `single`, event in one process).
//! - [`error`]: the core's [`Error`]; [`testing`]: a server on
//!   `127.0.0.1:0` for tests and examples, and a client that parses its
//!   answers.
//!
//! **HTTP: the engine and its drivers**, the same bytes answered the same
//! way by every strategy:
//!
//! - [`h1`]: the sans-IO HTTP/1.1 engine (bytes in → request heads out,
//!   response in → bytes out) and its connection session.
//! - [`h2`]: the sans-IO HTTP/2 engine (frames, HPACK, the connection's
//!   state machine with flow control and its bounds against abuse), whose
//!   requests are the same heads as `h1`'s.
//! - [`serve`]: the code between a socket and the handler. Its blocking
//!   loop serves a connection on one thread (`single`, prefork, worker);
//!   its hand-off half answers requests an event loop lends a worker
//!   thread, or that the loop answers itself (event only); its HTTP/2
//!   half serves a connection's streams one at a time on its thread, or
//!   owns the connection for a poller whose pool serves the streams at
//!   once ([`serve::h2::H2Owner`], event).
//!
//! **Sockets** ([`net`]): listeners bound once before any fork; the
//! blocking accept loop (prefork and worker children, `single`'s thread;
//! the event loop accepts in its own way but shares the handling of a
//! failed `accept`); the accepted [`Connection`], in clear or TLS, and
//! the PROXY protocol header a load balancer may open it with; rustls
//! configuration.
//!
//! **Processes** ([`process`]): the master that forks, reaps and
//! regulates children (prefork, worker, event); what a child is handed and
//! how a threaded child (worker, event) runs its worker threads; dropping
//! privileges; the spare regulator; each strategy's directives clamped
//! once; the shared-memory scoreboard every strategy writes (with the
//! lifetime counters Prometheus metrics read); and the one-process
//! strategy `single`.
//!
//! **Features.** `tls` (on by default) compiles TLS termination in:
//! rustls with its ring provider, [`net::tls`]'s configurations, TLS
//! listeners. Without it no listener is TLS ([`TlsConfig`] has no value),
//! [`ConnInfo::tls`] is always `None`, and neither rustls nor ring is
//! built; everything else is the same code.
//!
//! Nothing here knows a configuration file: `mpmd` (or an embedder) fills
//! the typed configuration and binds the listeners, then hands both to a
//! strategy's [`Mpm::run`].

#![deny(missing_docs)]

mod clock;
pub mod config;
pub mod control;
pub mod deadline;
pub mod error;
pub mod handler;
pub mod mpm;
pub mod testing;

pub mod h1;
pub mod h2;
pub mod serve;

pub mod net;
pub mod process;

/// The `bytes` crate's [`Bytes`], which [`Body::Bytes`]
/// holds: content kept in memory is answered with a clone of it (a
/// reference count, no copy), with no dependency of the embedder's own.
pub use bytes::Bytes;
/// The `http` crate, whose types (`Method`, `StatusCode`, `HeaderMap` …)
/// requests and responses are made of.
pub use http;
/// The `rustls` crate, whose `ServerConfig` a TLS listener carries
/// (feature `tls`).
#[cfg(feature = "tls")]
pub use rustls;

pub use config::{
    Http2Config, Http2Offer, Limits, MpmConfig, ProtocolConfig, RequestReadTimeout, Timeouts,
};
pub use control::{Command, Control, ControlHandle, Exit, Phase, Stopping};
pub use error::Error;
pub use handler::{
    shared_factory, Body, BodyWriter, Exchange, Handler, HandlerFactory, Request, RequestBody,
    Response, Tunnel,
};
pub use mpm::{Mpm, MpmInfo, RunContext};
pub use net::connection::{ConnInfo, Connection};
pub use net::listener::{HandOver, Inherited, ListenAddr, Listener, Listeners, TlsConfig};
pub use net::tls_stream::TlsInfo;
pub use process::scoreboard::{
    Counters, CountersSnapshot, ProcessSlot, ProcessSnapshot, Region, Scoreboard, SharedAtomics,
    Snapshot, Totals, VhostCounts, VhostId, WorkerSlot, WorkerSnapshot, WorkerState,
};
