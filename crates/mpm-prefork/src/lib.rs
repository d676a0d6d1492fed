//! # mpm-prefork
//!
//! Apache's prefork MPM: a master process keeps a pool of single-threaded
//! child processes; each child serves one connection at a time, start to
//! end. A crash in a handler costs one process and one connection, never
//! the server; memory a handler leaks is returned when its process leaves
//! (`MaxConnectionsPerChild`).
//!
//! The process model (the master: forking, reaping, spares, restarts; a
//! child's start, privileges dropped) is [`mpm_core::process`], shared
//! with the worker and event strategies; this crate adds the child's body
//! and the prefork directives:
//!
//! | directive | meaning here |
//! |---|---|
//! | `StartServers` | children forked by each (re)start |
//! | `MinSpareServers`, `MaxSpareServers` | idle children kept between these bounds, checked once a second |
//! | `MaxRequestWorkers` (`MaxClients`) | children alive at once |
//! | `ServerLimit` | scoreboard slots (upper bound of `MaxRequestWorkers`) |
//! | `MaxConnectionsPerChild` | a child leaves after this many connections (0: never) |
//!
//! ## How children share the listening sockets: `EPOLLEXCLUSIVE`
//!
//! Every child inherits the same listening sockets (bound once by the
//! caller, before any fork) and waits on them in its own epoll instance,
//! each registered with `EPOLLEXCLUSIVE`, beside its leave pipe. When a
//! connection arrives, the kernel wakes **one** of the children blocked in
//! `epoll_wait`, not all of them: there is no thundering herd, and no
//! accept mutex to hold. The listening sockets are non-blocking, so a
//! child that loses a race gets `EAGAIN` and waits again.
//!
//! And no connection is lost when a child leaves: the queue of pending
//! connections belongs to the one listening socket all children share, not
//! to a child. With `SO_REUSEPORT` and a socket per child, the kernel
//! hashes each new connection to one child's socket, and the connections
//! queued on the socket of a child that exits (a graceful restart,
//! `MaxConnectionsPerChild`, a retired spare) are reset. Here a child that
//! leaves simply stops waiting; what is queued is taken by the others.
//!
//! A child woken for a connection accepts and serves it even if it was
//! told to leave in the same instant: the kernel woke it alone for that
//! connection, and would not wake another for it. Once it has seen the
//! leave byte on its own, it accepts nothing more.
//!
//! ## Keep-alive
//!
//! Between two requests of a connection the child waits in the read
//! itself (`recvfrom` bounded by `SO_RCVTIMEO`, in slices of at most a
//! second), as Apache's prefork children do: one system call per request
//! fewer than a `poll` before the read. Between slices it looks whether it
//! was told to leave, so a graceful restart or stop closes an idle
//! keep-alive connection within a second (and `KeepAliveTimeout` ends the
//! wait on time).
//!
//! ## Memory between connections
//!
//! When a connection ends the child gives back what TLS used
//! ([`mpm_core::process::child::connection_ended`]): the pages of its TLS
//! read and write buffers and file copy buffer ([`mpm_core::net::rooms`])
//! and those the allocator holds free, so an idle child
//! keeps no more after a burst of TLS handshakes or large TLS bodies than
//! after plain HTTP (nothing is done after a plain connection).
//!
//! ## Scoreboard
//!
//! One worker slot per process: `S` starting, `_` waiting for a
//! connection, `R`/`W`/`K` while serving (set by the serving code), `G`
//! finishing before it leaves, `.` when the slot is empty.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::sync::atomic::Ordering;

use mpm_core::net::accept::{Acceptor, Next};
use mpm_core::process::child::ChildContext;
use mpm_core::process::clamp::{self, Clamped};
use mpm_core::process::master::MasterParams;
use mpm_core::serve::{serve_connection, Mode, ServeContext};
use mpm_core::{Error, Exit, Mpm, MpmConfig, MpmInfo, RunContext, WorkerState};

/// The prefork strategy. It holds no state of its own: its children are
/// the [`RunContext::master`]'s, which the caller keeps across restarts
/// (so a graceful restart, even one that changes the strategy, lets the
/// old children finish).
#[derive(Debug, Default)]
pub struct Prefork;

impl Prefork {
    /// The prefork strategy.
    pub fn new() -> Self {
        Prefork
    }
}

impl Mpm for Prefork {
    fn info(&self) -> MpmInfo {
        MpmInfo {
            name: "prefork",
            threaded: false,
            forked: true,
        }
    }

    fn check_config(&self, cfg: &MpmConfig) -> (Clamped, Vec<String>) {
        clamp::prefork(cfg)
    }

    fn scoreboard_shape(&self, cfg: &Clamped) -> (usize, usize) {
        (cfg.server_limit() as usize, 1)
    }

    fn run(&mut self, ctx: RunContext<'_>) -> Result<Exit, Error> {
        let params = MasterParams::prefork(ctx.mpm);
        ctx.master.run(&ctx, params, &child)
    }
}

/// A child: wait for a connection or the leave byte, serve, repeat.
fn child(cx: ChildContext<'_>) {
    let pid = std::process::id();
    let process = cx.scoreboard.process(cx.number);
    let slot = cx.scoreboard.worker(cx.number, 0);
    let mut acceptor = match Acceptor::new(cx.listeners, cx.leave) {
        Ok(a) => a,
        Err(e) => {
            log::error!("child {pid}: could not wait for connections: {e}");
            return;
        }
    };
    // The master marks the slot quiescing before it writes the leave byte.
    let leaving = || process.is_quiescing();
    let serve_ctx = ServeContext {
        handler: &*cx.handler,
        protocol: &cx.protocol,
        worker_slot: Some(slot),
        counters: Some(cx.scoreboard.counters()),
        idle_close: Some(cx.leave),
        abort: None,
        leaving: Some(&leaving),
        mode: Mode::Blocking,
        streams: None,
    };
    let limit = cx.mpm.directives().max_connections_per_child;
    let mut served: u64 = 0;
    slot.set_state(WorkerState::Ready);
    process.accepting.store(1, Ordering::Release);
    // One connection at a time, for its whole keep-alive; the acceptor
    // takes the one this child was woken for even when told to leave in
    // the same instant.
    while let Next::Connection(conn) = acceptor.wait() {
        served += 1;
        process.connections_served.fetch_add(1, Ordering::Relaxed);
        serve_connection(conn, &serve_ctx);
        // Idle until the next connection: what TLS used goes back to the
        // system (nothing to do after a plain connection).
        mpm_core::process::child::connection_ended();
        slot.set_state(WorkerState::Ready);
        if limit > 0 && served >= limit {
            break;
        }
    }
    process.accepting.store(0, Ordering::Release);
    slot.set_state(WorkerState::Graceful);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefork_names_itself_forked_and_not_threaded() {
        let p = Prefork::new();
        assert_eq!(
            p.info(),
            MpmInfo {
                name: "prefork",
                threaded: false,
                forked: true
            }
        );
    }

    #[test]
    fn the_scoreboard_has_a_slot_per_server_and_one_worker_each() {
        let p = Prefork::new();
        let cfg = MpmConfig {
            server_limit: Some(7),
            max_request_workers: Some(7),
            ..MpmConfig::default()
        };
        let shape = |cfg: &MpmConfig| p.scoreboard_shape(&p.check_config(cfg).0);
        assert_eq!(shape(&cfg), (7, 1));
        assert_eq!(shape(&MpmConfig::default()), (256, 1));
    }

    #[test]
    fn check_config_clamps_with_warnings() {
        let (c, w) = Prefork::new().check_config(&MpmConfig {
            server_limit: Some(4),
            max_request_workers: Some(9),
            ..MpmConfig::default()
        });
        assert_eq!(c.max_request_workers(), 4);
        assert!(
            w.iter().any(|w| w.contains("MaxRequestWorkers of 9")),
            "{w:?}"
        );
    }
}
