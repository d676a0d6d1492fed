//! # mpm-core
//!
//! The vocabulary every concurrency strategy ("MPM") shares. Nothing here
//! knows which strategy runs it:
//!
//! - [`handler`]: the synchronous [`Handler`] an application writes, the
//!   request and response types it sees, and the per-process factory.
//! - [`connection`]: an accepted socket with its facts ([`ConnInfo`]).
//! - [`h1`]: the sans-IO HTTP/1.1 engine (bytes in → request heads out,
//!   response in → bytes out) that every strategy drives.
//! - [`serve`]: the blocking driver of that engine, shared by the strategies
//!   that give a thread to a connection.
//! - [`tls`]: rustls configuration per listening address (SNI, versions,
//!   suites, sessions) and the handshake steps.
//! - [`config`]: typed limits, timeouts and MPM directives, and
//!   [`deadline`]: instants made from them without overflow.
//! - [`listener`]: binding every `Listen` address once, before any fork.
//! - [`scoreboard`]: the shared-memory table of processes and workers.
//! - [`control`]: signals turned into plain commands.
//! - [`master`]: the master process of the forking strategies.
//! - [`mpm`]: the [`Mpm`] trait the strategies implement.
//! - [`single`]: the one-process strategy behind `mpmd -X`.
//! - [`spare`]: the spare regulator (idle-server maintenance) and
//!   [`clamp`]: MPM directive conflicts clamped with Apache's warnings.

pub mod accept;
pub mod clamp;
pub mod config;
pub mod connection;
pub mod control;
pub mod deadline;
pub mod error;
pub mod h1;
pub mod handler;
pub mod listener;
pub mod master;
pub mod mpm;
pub mod reqtimeout;
pub mod scoreboard;
pub mod serve;
pub mod single;
pub mod spare;
pub mod testing;
pub mod tls;

/// The `http` crate, whose types (`Method`, `StatusCode`, `HeaderMap` …)
/// requests and responses are made of.
pub use http;
/// The `rustls` crate, whose `ServerConfig` a TLS listener carries.
pub use rustls;

pub use config::{Limits, MpmConfig, ProtocolConfig, RequestReadTimeout, Timeouts};
pub use connection::{ConnInfo, Connection, TlsInfo};
pub use control::{Command, Control, ControlHandle, Phase, Stopping};
pub use error::Error;
pub use handler::{
    shared_factory, Body, Exchange, Handler, HandlerFactory, Request, RequestBody, Response,
};
pub use listener::{ListenAddr, Listener, Listeners};
pub use mpm::{Exit, Mpm, MpmInfo, RunContext};
pub use scoreboard::{
    ProcessSlot, ProcessSnapshot, Scoreboard, Snapshot, WorkerSlot, WorkerSnapshot, WorkerState,
};
