//! The drivers of the HTTP engine: the code between a socket and the
//! handler, shared by every strategy.
//!
//! - [`serve_connection`] (the blocking loop): one thread serves one
//!   connection, request after request, until it closes (`single`,
//!   prefork, worker).
//! - [`serve_dispatched`] (hand-off): a worker thread answers a request an
//!   event loop lent it, and gives the connection back with what is left
//!   to write ([`PendingWrite`]); [`serve_lent`] the same on a connection
//!   left where the loop keeps it (the loop answering a request itself).
//! - [`h2`]: HTTP/2, one connection's streams one at a time on its
//!   thread ([`h2::serve_h2`]), or the connection owned by a poller whose
//!   pool serves the streams at once ([`h2::H2Owner`], [`h2::StreamJob`]).
//!
//! The HTTP/1.1 drivers read through the connection's [`Session`](crate::h1::Session)
//! (heads, bodies, pipelining: [`crate::h1`]) and answer through the same
//! exchange: the handler called, its response sent (bytes, a stream, or a
//! file by `sendfile`), the keep-alive decision, the access log. They own no
//! policy beyond I/O: what a request means and when the connection may
//! stay open is the engine's; what to answer is the handler's. Every wait
//! is bounded: `KeepAliveTimeout` between requests, `RequestReadTimeout`
//! (stretched by data, capped) for a head and a body, `Timeout` for each
//! write.
//!
//! Files: `context.rs` what they all share (the [`ServeContext`] and its
//! [`Mode`], the connection being served), `blocking.rs` the blocking
//! loop and lingering close, `exchange.rs` one request and its response,
//! `body.rs` the request body as the handler reads it, `output.rs`
//! writing a response, `handoff.rs` a request lent by an event loop,
//! `pending.rs` what the loop finishes, `stream.rs` a streamed body
//! gathered into 16 KiB pieces and the handler's [`BodyWriter`],
//! `tunnel.rs` a connection joined to another socket after a `101`
//! ([`Tunnel`]).

mod blocking;
mod body;
mod context;
mod exchange;
pub mod h2;
mod handoff;
mod output;
mod pending;
mod stream;
mod tunnel;

pub use blocking::serve_connection;
pub use context::{answer_never_blocks, status_page, After, ConnStats, Mode, ServeContext, LINGER};
pub use handoff::{
    serve_dispatched, serve_lent, Dispatch, Handback, Lent, ServeBuffers, Served, Work,
};
pub use pending::PendingWrite;
pub use stream::BodyWriter;
pub use tunnel::{Pumped, Tunnel};
