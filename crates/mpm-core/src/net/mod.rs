//! Sockets: from a `Listen` address to an accepted connection.
//!
//! - [`listener`]: every `Listen` address bound once, before any fork, and
//!   kept across restarts; or taken already bound from the process's
//!   parent (systemd's socket activation, a binary upgrade's old master);
//!   [`resolve`]: the host names a `Listen` address may be written with,
//!   resolved as Apache does; [`accept_filter`]: Apache's `AcceptFilter`
//!   (`TCP_DEFER_ACCEPT`), a connection accepted once it has sent data.
//! - [`accept`]: the blocking accept loop of the forked children (prefork,
//!   worker, and `single`'s one thread), and the handling of a failed
//!   `accept` that every accept loop shares (the event loop's too).
//! - [`connection`]: an accepted socket, in clear or TLS, with its facts;
//!   [`tls_stream`]: its TLS half, the rustls session over the socket and
//!   its non-blocking handshake step; `tls_hello` reads the SNI name
//!   and ALPN offer of the ClientHello that choose its configuration.
//! - [`tls`]: rustls configuration per listening address (certificates,
//!   SNI, versions, suites, sessions) and the blocking handshake.
//! - [`proxy`]: the PROXY protocol header a load balancer opens a
//!   connection with, read before anything else on listeners that ask
//!   for it; [`ipnet`]: the networks of addresses trusted with it.
//! - [`poll`]: waiting on descriptors, for all of the above; [`rooms`]:
//!   the buffers a thread passes a connection's bytes through (TLS reads
//!   and writes, file copies), one per thread, given back when idle.

pub mod accept;
pub mod accept_filter;
pub mod connection;
pub mod ipnet;
pub mod listener;
pub mod poll;
pub mod proxy;
pub mod resolve;
pub mod rooms;
pub mod tls;
#[cfg(feature = "tls")]
pub mod tls_hello;
pub mod tls_stream;
