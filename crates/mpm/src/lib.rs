//! # mpm
//!
//! An HTTP/1.1 server to embed in a Rust program, with Apache httpd's
//! concurrency models (its Multi-Processing Modules) to choose from. A
//! handler is a plain synchronous function: it may block (a database call,
//! a file read) and costs only its thread while it does.
//!
//! ```no_run
//! use mpm::{Body, ConnInfo, Request, Response};
//!
//! fn main() -> Result<(), mpm::Error> {
//!     let hello = |_: Request<'_>, _: &ConnInfo| Response::new(Body::from("Hello, World!\n"));
//!     mpm::Server::new(hello).listen("127.0.0.1:8080")?.run()
//! }
//! ```
//!
//! What you use: [`Server`] (listen, choose a strategy, run), [`Handler`]
//! (or a closure) answering a [`Request`] with a [`Response`] whose
//! [`Body`] is bytes, a reader or a file, [`ConnInfo`] (the peer, TLS),
//! [`ControlHandle`] (stop from code), the typed configuration
//! ([`ProtocolConfig`], [`MpmConfig`]), [`tls`] for certificates, and
//! [`testing`] for tests. The [`strategy`] module holds what a strategy is
//! built from, for those who write one or drive one themselves (as
//! `mpmd` does).
//!
//! ## Strategies
//!
//! | name | processes × threads | each a Cargo feature |
//! |---|---|---|
//! | `event-threads` ([`Server`]'s default) | this process: one event loop that holds every connection between requests, and `ThreadsPerChild` threads that serve requests | `event` |
//! | `worker-threads` | this process: `ThreadsPerChild` threads, each accepting and serving one connection start to end | `worker` |
//! | `single` | this process, one thread (for debugging) | always |
//! | `event` ([`event`]) | Apache's event MPM: a master forks child processes, each an event loop and its threads | `event` |
//! | `worker` ([`worker`]) | Apache's worker MPM: child processes of `ThreadsPerChild` threads | `worker` |
//! | `prefork` ([`prefork`]) | Apache's prefork MPM: single-threaded child processes, one connection each | `prefork` |
//!
//! | feature | what it adds | default |
//! |---|---|---|
//! | `event`, `worker`, `prefork` | the strategies above | yes |
//! | `tls` | TLS termination with rustls and ring: [`Server::listen_tls_pem`] (one certificate, one line), [`Server::listen_tls`], [`tls`] | yes |
//!
//! [`strategies`] lists those compiled in; [`Server::strategy`] picks one
//! by name. The first three serve in this process, so the handler (and
//! any state in it) is one value that every thread shares. The last three
//! fork: each child has its own copy of the handler, and a crash costs one
//! child, never the server. `mpmd` runs Apache's default, `event`.
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
//!
//! ## Walkthrough
//!
//! ### Routing by `match`
//!
//! A handler sees the `http` crate's request; routing is a `match` on the
//! method and the path:
//!
//! ```
//! use mpm::http::{Method, StatusCode};
//! use mpm::{Body, ConnInfo, Handler, Request, Response};
//!
//! struct App;
//! impl Handler for App {
//!     fn handle(&self, req: Request<'_>, _: &ConnInfo) -> Response {
//!         let path = req.uri().path().to_string();
//!         let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
//!         match (req.method(), segments.as_slice()) {
//!             (&Method::GET, [""]) => Response::new(Body::from("home\n")),
//!             (&Method::GET, ["users", id]) => Response::new(Body::from(format!("user {id}\n"))),
//!             _ => {
//!                 let mut res = Response::new(Body::from("not found\n"));
//!                 *res.status_mut() = StatusCode::NOT_FOUND;
//!                 res
//!             }
//!         }
//!     }
//! }
//! ```
//!
//! ### Reading a JSON body, answering with status and headers
//!
//! The request body is a [`std::io::Read`] (chunked and `Content-Length`
//! framing decoded, `LimitRequestBody` enforced), so `serde_json` reads it
//! directly. A response is built with the `http` crate's builder
//! (`http::Response::builder()`; [`Response`] is its `Response<Body>`):
//!
//! ```
//! use mpm::http::{self, header, StatusCode};
//! use mpm::{Body, ConnInfo, Request, Response};
//!
//! #[derive(serde::Deserialize)]
//! struct NewItem {
//!     name: String,
//! }
//!
//! fn create(req: Request<'_>, _: &ConnInfo) -> Response {
//!     let item: NewItem = match serde_json::from_reader(req.into_body()) {
//!         Ok(item) => item,
//!         Err(e) => {
//!             return http::Response::builder()
//!                 .status(StatusCode::BAD_REQUEST)
//!                 .header(header::CONTENT_TYPE, "text/plain")
//!                 .body(Body::from(format!("not an item: {e}\n")))
//!                 .expect("a valid head");
//!         }
//!     };
//!     let json = serde_json::json!({ "id": 1, "name": item.name });
//!     http::Response::builder()
//!         .status(StatusCode::CREATED)
//!         .header(header::CONTENT_TYPE, "application/json")
//!         .header(header::LOCATION, "/items/1")
//!         .body(Body::from(json.to_string()))
//!         .expect("a valid head")
//! }
//! # fn is_a_handler(_: impl mpm::Handler) {}
//! # is_a_handler(create);
//! ```
//!
//! The server adds `Date`, `Server` and the framing (`Content-Length`, or
//! chunked for a stream of unknown length) itself.
//!
//! ### Streaming
//!
//! A body that is not in memory is a reader: with its length it is sent
//! with `Content-Length`, without it chunked (to HTTP/1.1 clients). A file
//! is [`Body::File`] and goes out with `sendfile(2)` on plain TCP:
//!
//! ```
//! use mpm::{Body, ConnInfo, Request, Response};
//!
//! fn numbers(_: Request<'_>, _: &ConnInfo) -> Response {
//!     let lines: Vec<u8> = (1..=1000).flat_map(|n| format!("{n}\n").into_bytes()).collect();
//!     Response::new(Body::Reader {
//!         reader: Box::new(std::io::Cursor::new(lines)),
//!         len: None,
//!     })
//! }
//! # fn is_a_handler(_: impl mpm::Handler) {}
//! # is_a_handler(numbers);
//! ```
//!
//! ### State across requests, threads and processes
//!
//! Under the default strategy the handler is one value in this process:
//! a `Mutex` or an atomic in it is seen by every request.
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use mpm::{Body, ConnInfo, Handler, Request, Response};
//!
//! #[derive(Default)]
//! struct Counter {
//!     hits: AtomicU64,
//! }
//! impl Handler for Counter {
//!     fn handle(&self, _: Request<'_>, _: &ConnInfo) -> Response {
//!         let n = self.hits.fetch_add(1, Ordering::Relaxed) + 1;
//!         Response::new(Body::from(format!("request number {n}\n")))
//!     }
//! }
//! let server = mpm::Server::new(Counter::default()); // event-threads: one counter
//! ```
//!
//! Under a forking strategy (`event`, `worker`, `prefork`) that counter
//! would count per child process. There, keep shared state outside the
//! processes (a database, a file under a lock, a cache server) and open
//! each child's connection to it in a factory, which runs in the child
//! after the fork ([`Server::with_factory`]). The `json_api` example shows
//! both ways, chosen by the strategy.
//!
//! A stream whose parts must leave as they are made (Server-Sent Events)
//! is a writer: [`Body::writer`] hands the handler a [`BodyWriter`], whose
//! `flush` sends what it holds (the `streaming` example).
//!
//! ### Graceful shutdown from code
//!
//! [`Server::control`] gives a [`ControlHandle`] to send from any thread of
//! this process; a graceful stop lets the requests under way finish:
//!
//! ```no_run
//! # use mpm::{Body, ConnInfo, Request, Response};
//! # fn main() -> Result<(), mpm::Error> {
//! # let app = |_: Request<'_>, _: &ConnInfo| Response::new(Body::Empty);
//! let mut server = mpm::Server::new(app);
//! let control = server.control()?;
//! let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
//! std::thread::spawn(move || {
//!     let _ = stop_rx.recv(); // whoever holds `stop_tx` decides
//!     control.graceful_stop();
//! });
//! # drop(stop_tx);
//! server.listen("127.0.0.1:8080")?.run() // returns once stopped
//! # }
//! ```
//!
//! Signals do the same as for Apache: SIGTERM or SIGINT stop, SIGWINCH
//! stops gracefully, SIGHUP and SIGUSR1 restart. The `graceful` example
//! shows both.
//!
//! ### Tests
//!
//! Listen on port 0, [`Server::bind`] to learn the port, run on a thread
//! (an in-process strategy needs no fork), and stop through the handle:
//!
//! ```
//! use std::io::{Read, Write};
//! use mpm::{Body, ConnInfo, Request, Response};
//!
//! # fn main() -> Result<(), mpm::Error> {
//! let hello = |_: Request<'_>, _: &ConnInfo| Response::new(Body::from("hi"));
//! let server = mpm::Server::new(hello).listen("127.0.0.1:0")?.bind()?;
//! let addr = server.local_addrs()[0];
//! let control = server.control();
//! let running = std::thread::spawn(move || server.run());
//!
//! let mut s = std::net::TcpStream::connect(addr).unwrap();
//! s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
//! let mut answer = String::new();
//! s.read_to_string(&mut answer).unwrap();
//! assert!(answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("\r\n\r\nhi"));
//!
//! control.stop();
//! running.join().unwrap()?;
//! # Ok(()) }
//! ```
//!
//! [`testing::TestServer`] does the same for any strategy and stops the
//! server when dropped.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod server;
mod strategies;
pub mod strategy;

pub use server::{Bound, Server};
pub use strategies::{by_name, compiled, default_strategy, strategies};

pub use mpm_core::config::{
    Http2Config, Http2Offer, Limits, MpmConfig, ProtocolConfig, RequestReadTimeout, Timeouts,
};
pub use mpm_core::control::{Command, ControlHandle, Phase};
pub use mpm_core::handler::{
    shared_factory, Body, BodyWriter, Exchange, Handler, HandlerFactory, Request, RequestBody,
    Response, Tunnel,
};
pub use mpm_core::net::connection::ConnInfo;
pub use mpm_core::net::tls_stream::TlsInfo;
pub use mpm_core::Error;

pub use mpm_core::config;
/// Behind a load balancer: the PROXY protocol's settings
/// ([`Server::proxy_protocol`]) and the address ranges they name.
pub use mpm_core::net::ipnet::IpNet;
pub use mpm_core::net::proxy::{Proxied, ProxyProtocol};
/// TLS configurations: [`tls::from_pem_files`] for one certificate,
/// [`tls::server_config`] for several hosts by SNI (feature `tls`; without
/// it, only what needs no rustls).
pub use mpm_core::net::tls;
pub use mpm_core::testing;
/// What a TLS listener carries (feature `tls`: rustls's `ServerConfig`).
pub use mpm_core::TlsConfig;

/// Head fields encoded once, which a [`Body::Kept`] carries beside its
/// bytes (an answer sent many times alike: the fields are not encoded
/// per response).
#[doc(no_inline)]
pub use mpm_core::h1::EncodedFields;
/// The `http` crate, whose types (`Method`, `StatusCode`, `HeaderMap` …)
/// requests and responses are made of.
#[doc(no_inline)]
pub use mpm_core::http;
/// The `rustls` crate, whose `ServerConfig` a TLS listener carries.
#[cfg(feature = "tls")]
#[doc(no_inline)]
pub use mpm_core::rustls;
/// What [`Body::Bytes`] holds: content kept in memory, answered with a
/// clone (a reference count, no copy).
#[doc(no_inline)]
pub use mpm_core::Bytes;

/// `single`: one process, one thread (`mpmd -X`), for debugging.
///
#[doc(inline)]
pub use mpm_core::process::single;

/// `prefork`: Apache's prefork MPM, single-threaded child processes
/// (feature `prefork`).
#[cfg(feature = "prefork")]
#[doc(inline)]
pub use mpm_prefork as prefork;

/// `worker`: Apache's worker MPM, child processes of threads, and
/// `worker-threads` in this process (feature `worker`).
#[cfg(feature = "worker")]
#[doc(inline)]
pub use mpm_worker as worker;

/// `event`: Apache's event MPM, child processes each with an event loop
/// that holds idle and slow connections, and `event-threads` in this
/// process (feature `event`).
#[cfg(feature = "event")]
#[doc(inline)]
pub use mpm_event as event;
