//! # mpm-event
//!
//! Apache's event MPM, done the way nginx holds connections: a master
//! keeps child processes (the same master as prefork and worker,
//! [`mpm_core::process::master`]); each child runs one event loop (mio) and
//! `ThreadsPerChild` worker threads. The loop owns the listening sockets
//! and every connection that is not inside a handler:
//!
//! - it accepts, and reads request heads without blocking until a head is
//!   complete (a slow client holds no thread; `RequestReadTimeout
//!   header=…` answers it 408);
//! - it hands the connection with its parsed head to an idle worker
//!   ([`mpm_core::serve::serve_dispatched`]: the same serving code as the
//!   other strategies), which answers it and every pipelined request
//!   already read, then gives the connection back; a request whose
//!   handler promises its answer never blocks is answered by the loop
//!   itself, on the connection where it keeps it
//!   ([`mpm_core::serve::serve_lent`]);
//! - it waits for the next request of a keep-alive connection (until
//!   `KeepAliveTimeout`) with no read buffer kept, finishes responses the
//!   socket would not take at once (a slow reader of a large file holds no
//!   thread; a write that stops short on plain TCP means the socket is
//!   full, so the next write waits for its writable event instead of
//!   meeting `EAGAIN`), and does lingering closes;
//! - after a `101 Switching Protocols` whose response carries a tunnel
//!   ([`mpm_core::Body::Tunnel`]: a WebSocket through the reverse proxy),
//!   it holds both sockets, the client's and the backend's, and copies
//!   between them on their events with no thread (Apache 2.4.47+'s
//!   asynchronous tunnels): the worker is free once the 101 is written.
//!   Buffers exist only while one side would not take what the other
//!   sent (a side is not read meanwhile), so an idle tunnel holds none:
//!   about 800 bytes each, measured with 1,000 of them;
//! - HTTP/2 (ALPN `h2`, the preface by prior knowledge, `Upgrade: h2c`):
//!   the loop owns the connection for its whole life
//!   ([`mpm_core::serve::h2::H2Owner`]): it decodes the frames and HPACK,
//!   hands each stream's request to a worker like an HTTP/1.1 request
//!   (the streams of one connection run at the same time, each counted
//!   on the scoreboard as a request; one whose handler promises its
//!   answer never blocks is answered by the loop itself), and writes the responses under
//!   HTTP/2 flow control as the workers send them; a body of bytes or a
//!   file is framed by the loop after the worker is free, so a slow
//!   reader of one stream holds no thread. An idle HTTP/2 connection
//!   holds no thread and no buffer beyond its HPACK tables (counted as
//!   keep-alive on the status page) until the client sends again or
//!   `KeepAliveTimeout` passes (GOAWAY). A graceful stop says GOAWAY in
//!   two steps and serves every stream the client sent before the second.
//!
//! A request whose answer the handler promises never blocks
//! ([`mpm_core::Handler::answer_never_blocks`]: built in memory, or a file
//! in the page cache; never asked for a request with a body) is answered by
//! the loop itself, as nginx serves static files: no thread switch at all.
//! The default is no, so a handler that may block is always on a worker
//! thread; mpmd's static site says yes for GET and HEAD.
//!
//! | directive | meaning here |
//! |---|---|
//! | `StartServers`, `ServerLimit`, `MaxRequestWorkers`, `ThreadsPerChild`, `ThreadLimit`, `Min/MaxSpareThreads`, `MaxConnectionsPerChild` | as for worker |
//! | `AsyncRequestWorkerFactor` | a child stops accepting while more than this × `ThreadsPerChild` requests wait for a worker |
//!
//! ## Admission
//!
//! Idle keep-alive connections and clients still sending their head cost
//! no thread and do not count against the child (unlike Apache, where the
//! factor caps every connection). Only requests ready for a worker do:
//! when more than `AsyncRequestWorkerFactor × ThreadsPerChild` of them
//! wait, the child takes its listeners out of its accept set (the kernel
//! then gives new connections to the other children) and shows
//! "accepting: no"; it takes them back when the queue is down to
//! `ThreadsPerChild`. Requests already read wait in that bounded queue;
//! none is dropped. File descriptors are the other bound: near the
//! process's limit, and when `accept` reports `EMFILE`, the oldest idle
//! keep-alive connections are closed first; with none to close, accepting
//! pauses 100 ms at a time (logged once), never a busy loop.
//!
//! ## Accepting
//!
//! As in prefork and worker, every child registers the shared listening
//! sockets with `EPOLLEXCLUSIVE`: here directly in mio's own epoll set,
//! level-triggered, through `epoll_ctl` (mio has no flag for it), beside
//! the child's leave pipe. The kernel wakes one child per new connection;
//! `accept4` makes the socket non-blocking. A failed `accept` is
//! classified and logged as in the blocking accept loop
//! ([`mpm_core::net::accept::AcceptFailure`], [`mpm_core::net::accept::Shortages`]).
//!
//! A quiet turn (the listener's event is the poll's only one) accepts one
//! connection, as nginx's `multi_accept off`: a connection still queued is
//! reported again by the next poll, so no `accept4` is made only to see
//! `EAGAIN`; a busy turn accepts until the queue is empty (at most 64), so
//! a crowd of connections does not wait a turn each. When the listener
//! waits for the client's first bytes (`AcceptFilter http data`, the
//! default), the request is read right after `accept4`; and a connection
//! enters the poll set only when the loop is about to wait for it or
//! lends it, so one answered and closed in its first turn costs
//! `accept4`, `recvfrom`, `writev` and `close`, with no `epoll_ctl` and no
//! second poll.
//!
//! ## Request heads
//!
//! The loop reads into one shared 16 KiB buffer and hands the bytes to the
//! connection's [`mpm_core::h1::Session`], the same reader the blocking
//! driver uses: a head that came whole is parsed where it lies and costs no
//! buffer; one that did not is kept in a buffer that grows by doubling as
//! bytes come, and its scan goes on where it stopped. The buffers of
//! unfinished heads count against the child's budget
//! (`Limits::head_budget`, mpmd's `LimitRequestHeadMemory`): past it, the
//! largest unfinished heads are refused with 431 and closed, and once they
//! hold a quarter of their peak the freed memory goes back to the system.
//!
//! ## The code
//!
//! `event_loop/mod.rs` is the loop itself (its state, one turn, events and
//! timers; the clock is read once per turn, when the poll returns, and
//! shared by everything the turn does); `pool.rs` the worker queue and threads; `accepting.rs`
//! listeners, admission and new connections; `heads.rs` reading heads and
//! their budget; `handoff.rs` lending connections to workers and taking
//! them back; `held.rs` what the loop keeps per connection; `conns.rs`
//! changing a connection's state, its deadline, and closing it;
//! `tunnel.rs` the tunnels after a 101.
//!
//! ## Leaving
//!
//! Told to leave (graceful restart or stop, a retired spare,
//! `MaxConnectionsPerChild`, the master gone), the loop stops accepting,
//! closes its idle keep-alive connections, has every further response
//! announce `Connection: close`, and exits once the last connection it
//! holds or has lent to a worker is done: no connection is handed to a
//! loop that is gone. Then the workers exit and the child ends. Tunnels
//! go on until they end (both sides closed, or their idle timeout), as
//! Apache keeps them; a graceful stop is still bounded by
//! `GracefulShutdownTimeout`, after which the master ends the child.
//!
//! ## In one process
//!
//! [`Event::in_process`] runs one child's loop and threads in the calling
//! process, with no master and no fork (`event-threads` in the `mpm`
//! facade, and its embedders' default): for embedders that want one
//! threaded process, whose handler (and the state in it) every thread
//! shares, and for tests that cannot fork. A crash then ends
//! the server, as with `single`: should the loop die (a panic on its
//! thread, e.g. in a handler's `answer_never_blocks`), the workers are sent
//! home and `run` returns [`Error::Panicked`], never leaving a listening
//! socket that nobody answers. A forked child whose loop dies exits the
//! same way and the master starts another.
//!
//! ## Status
//!
//! The child's scoreboard process slot carries the live counts the status
//! page shows (`ConnsTotal`, `ConnsAsyncWriting`, `ConnsAsyncKeepAlive`,
//! `ConnsAsyncClosing`, accepting), written by the loop on every turn. A
//! tunnel counts in `ConnsTotal` only (it is neither writing, keep-alive
//! nor closing; no worker slot is busy for it).
//! Worker slots show `_` while a worker waits: a connection in the loop is
//! never a busy worker. One more slot per child (after `ThreadLimit`) is
//! the loop's own, busy while it answers a quick request itself, `.`
//! otherwise.

#![deny(missing_docs)]

mod event_loop;
mod memory;
pub mod timer;

use mpm_core::process::child::run_in_process;
use mpm_core::process::clamp::{self, Clamped};
use mpm_core::process::master::MasterParams;
use mpm_core::{Error, Exit, Mpm, MpmConfig, MpmInfo, RunContext};

/// The event strategy. Its children are the [`RunContext::master`]'s,
/// which the caller keeps across restarts (so a graceful restart, even one
/// that changes the strategy, lets the old children finish).
#[derive(Debug, Default)]
pub struct Event {
    in_process: bool,
}

impl Event {
    /// The event strategy, forking children under a master.
    pub fn new() -> Self {
        Event::default()
    }

    /// The event loop and its threads in this process, without a master
    /// or children (see the crate documentation).
    pub fn in_process() -> Self {
        Event { in_process: true }
    }
}

impl Mpm for Event {
    fn info(&self) -> MpmInfo {
        MpmInfo {
            name: if self.in_process {
                "event-threads"
            } else {
                "event"
            },
            threaded: true,
            forked: !self.in_process,
        }
    }

    fn check_config(&self, cfg: &MpmConfig) -> (Clamped, Vec<String>) {
        clamp::threaded(cfg)
    }

    /// `ThreadLimit` worker slots per child, and one more for the requests
    /// the loop answers itself.
    fn scoreboard_shape(&self, cfg: &Clamped) -> (usize, usize) {
        let threads = cfg.directives().thread_limit as usize + 1;
        if self.in_process {
            return (1, threads);
        }
        (cfg.server_limit() as usize, threads)
    }

    fn run(&mut self, ctx: RunContext<'_>) -> Result<Exit, Error> {
        if self.in_process {
            return run_in_process(ctx, "the event loop", |cx, abort| {
                event_loop::run_child(cx, Some(abort))
            });
        }
        let params = MasterParams::threaded(ctx.mpm);
        ctx.master.run(&ctx, params, &|cx| {
            if let Err(e) = event_loop::run_child(cx, None) {
                log::error!("child {}: {e}", std::process::id());
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_itself_forked_and_threaded() {
        assert_eq!(
            Event::new().info(),
            MpmInfo {
                name: "event",
                threaded: true,
                forked: true
            }
        );
    }

    #[test]
    fn the_scoreboard_has_server_limit_processes_of_thread_limit_slots() {
        let cfg = MpmConfig {
            server_limit: Some(4),
            thread_limit: 6,
            threads_per_child: 4,
            max_request_workers: Some(16),
            ..MpmConfig::default()
        };
        let event = Event::new();
        assert_eq!(event.scoreboard_shape(&event.check_config(&cfg).0), (4, 7));
    }
}
