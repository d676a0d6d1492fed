//! HTTP/2 on the strategies' threads: the driver of [`crate::h2::Session`]
//! for a connection a thread owns, the owner of a connection whose
//! streams are served on other threads ([`H2Owner`], [`mux`]),
//! and how a connection comes to speak HTTP/2 at all.
//!
//! # Which connections speak HTTP/2
//!
//! An address offers HTTP/2 as its listener's [`crate::Http2Offer`] says
//! (`mpmd` fills it from `Protocols`, `H2Direct` and `H2Upgrade`):
//!
//! - **TLS, ALPN `h2`.** The TLS configuration lists `h2` among its ALPN
//!   protocols ([`crate::net::tls::TlsPolicy::alpn`], or a host's own
//!   list for clients whose SNI names it: [`crate::TlsConfig`]); when the
//!   client picks it, the connection speaks HTTP/2 from its first byte.
//! - **Prior knowledge** (`H2Direct`, RFC 9113 §3.3): the first bytes of
//!   a connection are looked at before they are read as HTTP/1.1: the
//!   client connection preface (`PRI * HTTP/2.0…`) makes it HTTP/2, with
//!   the bytes read so far handed to the session. A request line is
//!   HTTP/1.1, as before, decided at its version (the look costs nothing
//!   more: the bytes stay in the HTTP/1.1 session's buffer); a first line
//!   no HTTP/1.x client sends (a version that is not `HTTP/…`, or the
//!   preface's `PRI * HTTP/2.0` followed by anything else) is an invalid
//!   preface: the session answers GOAWAY(PROTOCOL_ERROR) and closes
//!   ([`preface_in`]).
//! - **`Upgrade: h2c`** (`H2Upgrade`, RFC 7540 §3.2): an HTTP/1.1
//!   request without a body that asks for `h2c` with `HTTP2-Settings` is
//!   answered `101 Switching Protocols`, and becomes stream 1 of the
//!   session; a request with a body (`Content-Length` other than 0, or
//!   chunked) is served in HTTP/1.1, as mod_http2 2.x declines it. Never
//!   on TLS.
//!
//! # How streams are served
//!
//! Two drivers of the one session: a strategy with a poller and a pool
//! of threads (event), or a connection thread lent a pool (worker), owns
//! the connection with an [`H2Owner`] and serves its streams at the same
//! time on the pool ([`StreamJob`]; see [`mux`] for how a strategy drives
//! it). A strategy that gives a connection one thread and nothing more
//! (prefork, single) runs [`serve_h2`] on it, which serves the streams
//! one at a time (below).
//!
//! ## One at a time ([`serve_h2`])
//!
//! One thread runs the session: `single` and prefork give the
//! connection's thread. The socket is non-blocking
//! and every wait is a `poll` bounded by the deadlines: the driver reads
//! while it writes, so a client that sends without reading trips the
//! session's bounds (GOAWAY `ENHANCE_YOUR_CALM`) rather than stopping the
//! thread. Streams are served **one at a time, in arrival order**, on
//! that thread, as Apache's prefork serves HTTP/2: the handler runs while
//! the thread keeps the session going beneath it: reading the request
//! body of its stream pulls frames from the socket, and frames for other
//! streams (new requests, their bodies) are kept for later, each stream's
//! body bounded by its flow-control window (`H2WindowSize`), so a client
//! cannot make the queue cost more than `H2MaxSessionStreams ×
//! H2WindowSize`. Writing the response pushes the session's output to
//! the socket as windows open.
//!
//! `H2MaxWorkers` bounds the streams a client may open at once beside
//! `H2MaxSessionStreams` ([`session_config`]).
//!
//! ## Under worker: the connection's thread owns it
//!
//! Where the context lends a [`StreamPool`] (worker's child queue), the
//! connection's thread becomes the owner of its session ([`H2Owner`],
//! the mechanism of `mux/`) (`pool.rs`): it polls the socket, a wake-up
//! eventfd its streams' threads write to, and the stop signals. A stream
//! whose handler promises its answer never blocks (a static file, the
//! status page: [`crate::Handler::answer_never_blocks`]) it answers
//! itself, as event's loop does ([`H2Owner::drive_answering`]); every
//! other it hands as a job to the child's other idle threads. One connection keeps at most its share
//! with them at once ([`StreamPool::attach`]; worker's is
//! `ThreadsPerChild` − 2, so a thread stays for other connections), the
//! rest waiting with the owner in arrival order; streams that find no
//! free thread queue in the child, served in order. A child keeps one
//! thread that owns no connection, so streams always have a thread to
//! come to; a connection that would take it, or a child of fewer than
//! three threads, is served one at a time as above.
//!
//! It never deadlocks: the next stream served is the oldest whose request
//! is complete, and only when none is, the oldest of all; a request body
//! that does not come is bounded by `RequestReadTimeout`'s body stage
//! (then 408), and a response the client does not take by `Timeout` (then
//! the connection is aborted with GOAWAY). So a stream whose body the
//! client holds back cannot stop the others for longer than that.
//!
//! Each stream counts on the scoreboard as a request (the status page
//! shows the thread in `R`/`W` with the stream's request line, and
//! `HTTP/2.0` in it), and is logged as one: `%H` is `HTTP/2.0`, `%r` the
//! request line `GET /path HTTP/2.0`.
//!
//! # Stopping
//!
//! A graceful stop or restart (the idle-close signal) starts the
//! session's two-step GOAWAY ([`crate::h2::Session::shutdown`]): the
//! streams the client sent before the final GOAWAY are all served, then
//! the connection closes; none is lost. A hard stop (the abort signal)
//! closes at the next wait.
//!
//! # The event loop
//!
//! The event strategy's loop owns every HTTP/2 connection for its whole
//! life with an [`H2Owner`]: it reads and decodes the frames, hands each
//! stream's request to a worker thread as an HTTP/1.1 request is handed
//! (counted on the scoreboard as a request, `HTTP/2.0` on the status
//! page), and frames the responses under flow control as the workers
//! send them, or by itself, once the worker is free, for a body of bytes
//! or a file. So a slow reader of one stream holds no thread, the
//! streams of one connection are served at the same time, and an idle
//! HTTP/2 connection holds no thread and no buffer beyond its HPACK
//! tables. A graceful stop says GOAWAY in two steps on each, as above.

mod conn;
mod exchange;
pub mod mux;
mod pool;
mod sniff;

pub use conn::serve_h2;
pub use mux::{H2Owner, StreamJob, Wake};
pub use pool::{Attached, StreamPool, StreamWork};
pub use sniff::{asks_h2c, preface_in, Upgrade};

use crate::config::ProtocolConfig;
use crate::h2::H2Config;

/// The session's configuration from the server's: `H2MaxSessionStreams`
/// (bounded by `H2MaxWorkers` when written), `H2WindowSize`,
/// `H2StreamMaxMemSize` and the request limits. `MaxKeepAliveRequests`
/// does not bound an HTTP/2 connection's streams (its ids do, at 2^31 - 1,
/// after which the client gets GOAWAY and opens a new connection): a
/// browser's page of a hundred assets on one connection is what HTTP/2
/// is for.
pub fn session_config(p: &ProtocolConfig) -> H2Config {
    let h2 = &p.http2;
    let streams = match h2.max_workers {
        // H2MaxWorkers bounds the streams served at once beside the
        // session's own limit (see `Http2Config::max_workers`).
        Some(w) => h2.max_session_streams.min(w.max(1)),
        None => h2.max_session_streams,
    };
    H2Config {
        max_concurrent_streams: streams,
        window_size: h2.window_size,
        stream_max_mem: h2.stream_max_mem,
        max_requests: 0,
        limits: p.limits.clone(),
        ..H2Config::default()
    }
}
