//! # mpm
//!
//! The crate an embedding program depends on. It re-exports the core
//! vocabulary ([`Handler`], [`Response`], [`Mpm`] …) and compiles in the
//! concurrency strategies chosen with Cargo features. [`compiled`] lists
//! them and [`by_name`] builds one, so a program (like `mpmd`) can pick the
//! strategy at startup.
//!
//! The one-process strategy (`single`, behind `mpmd -X`) is always there.
//!
//! | feature | strategy | default |
//! |---|---|---|
//! | `event` | [`event::Event`]: child processes with an event loop that holds every connection between requests, and `ThreadsPerChild` threads that serve only requests | yes (and the default strategy) |
//! | `prefork` | [`prefork::Prefork`]: single-threaded child processes kept by a master | yes (the default without `event`) |
//! | `worker` | [`worker::Worker`]: child processes of `ThreadsPerChild` threads, a listener thread each | yes |
//! | `tls` | TLS termination with rustls and ring: [`Server::listen_tls_pem`] (one certificate, one line), [`Server::listen_tls`], [`tls`] | yes |
//!
//! A program that terminates TLS elsewhere (a proxy in front) builds
//! without `tls` and compiles neither rustls nor ring:
//! `mpm = { version = "…", default-features = false, features = ["event"] }`.
//! Its [`ConnInfo::tls`] is always `None`.
//!
//! `fn main() -> Result<(), mpm::Error>` is the usual shape: an error's
//! `Debug` form is its message (`Error: could not bind to
//! 127.0.0.1:8080: address already in use`), and the system's error is
//! its `source` ([`Error::Bind`] carries the `io::Error` to match
//! `AddrInUse` on).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use mpm_core::*;

/// TLS configurations: [`tls::from_pem_files`] for one certificate,
/// [`tls::server_config`] for several hosts by SNI (feature `tls`; without
/// it, only what needs no rustls).
pub use mpm_core::net::tls;

/// The one-process strategy (`mpmd -X`), beside the ones below.
pub use mpm_core::process::single;

mod server;
mod strategies;

pub use server::Server;
pub use strategies::{by_name, compiled, default_strategy};

/// Apache's prefork MPM (feature `prefork`).
#[cfg(feature = "prefork")]
pub use mpm_prefork as prefork;

/// Apache's worker MPM (feature `worker`).
#[cfg(feature = "worker")]
pub use mpm_worker as worker;

/// Apache's event MPM, with an event loop that owns idle and slow
/// connections (feature `event`).
#[cfg(feature = "event")]
pub use mpm_event as event;
