//! The sans-IO HTTP/2 engine (RFC 9113, HPACK RFC 7541), server side.
//!
//! Beside [`h1`](crate::h1), and in its style: bytes go in, events come
//! out; responses go in, bytes come out. Nothing here reads a socket or a
//! clock (the time of a read is passed in), so the event loop and the
//! blocking drivers run the same session, and every rule is tested
//! without a network.
//!
//! - [`frame`]: the frame layer (§4, §6): parse every frame type, encode
//!   those a server sends, the connection preface.
//! - [`hpack`]: header compression, decoder and encoder, written here (why:
//!   see its docs).
//! - [`session`]: one connection's state machine (§5): stream states and
//!   ids, SETTINGS, PING, GOAWAY, RST_STREAM, flow control both ways,
//!   header blocks with CONTINUATION, request validation (§8.2–8.3,
//!   [`request`]), request bodies and trailers, responses framed as the
//!   windows open, and the bounds against abuse ([`H2Config`]).
//!
//! # Driving a session
//!
//! A driver owns the socket and one [`Session`]:
//!
//! 1. **Start.** [`Session::new`] after ALPN chose `h2` (or a cleartext
//!    client opened with the preface, [`PREFACE`]: prior knowledge);
//!    [`Session::upgraded`] after answering `Upgrade: h2c` with 101 (the
//!    upgraded request is stream 1). The server's SETTINGS are queued at
//!    once: write [`Session::output`] without waiting for the client.
//! 2. **Read.** Hand every byte read to [`Session::receive`] with the
//!    time of the read, then drain [`Session::poll_event`]:
//!    - [`Event::Request`]: a request head (`mpm_core::h1::RequestHead`,
//!      the type HTTP/1.1 heads are read into, version `HTTP/2.0`): serve
//!      it on a thread as an HTTP/1.1 request is served.
//!    - [`Event::Data`] / [`Event::Trailers`]: its body, as the client
//!      sends it. Call [`Session::consume`] as the handler reads it: the
//!      client gets more window (so a stream never holds more than
//!      `H2WindowSize` bytes unread).
//!    - [`Event::Refused`]: a request over a limit: answer it with the
//!      error's status (414, 431).
//!    - [`Event::Reset`]: the stream is gone: stop its handler's output.
//!    - [`Event::Writable`]: a stream whose body was cut by
//!      [`Session::send_data`] has room again.
//!    - [`Event::Finished`]: a stream's response is complete (log it).
//!    - [`Event::GoAway`], [`Event::ConnectionError`]: the connection is
//!      ending; see [`Session::is_finished`].
//! 3. **Respond.** [`Session::send_response`] (status and headers; 1xx
//!    first if wanted), then [`Session::send_data`] as the body comes:
//!    it takes up to [`Session::send_capacity`] bytes
//!    (`H2StreamMaxMemSize` per stream) and returns how many it took;
//!    end with `end_stream` or [`Session::send_trailers`].
//!    [`Session::reset`] abandons a stream (a handler that failed
//!    mid-body).
//! 4. **Write.** While [`Session::wants_write`], write
//!    [`Session::output`] and report [`Session::written`]: control frames
//!    first, then response heads, then DATA frames, a stream at a time in
//!    turn, as the connection's and each stream's windows allow. A slow
//!    reader of one stream holds only that stream's bytes; the others go
//!    on. New events may follow a write (drain them).
//! 5. **Time.** The driver owns the timeouts: [`Session::is_idle`] (no
//!    stream: the keep-alive timeout; [`Session::release_buffers`] then
//!    leaves the session its HPACK tables and little else),
//!    [`Session::is_stalled`] (bytes wait but every window is shut: the
//!    send timeout, then [`Session::abort`]).
//! 6. **Stop.** [`Session::shutdown`] on a graceful restart or stop
//!    (GOAWAY in two steps: in-flight requests still arrive and are
//!    served), [`Session::finish_shutdown`] when the wait for the
//!    client's answer is over. Close the socket when
//!    [`Session::is_finished`], with the lingering close HTTP/1.1 uses
//!    (shut the write side, read and drop until the client closes or a
//!    short bound passes): a client may have sent frames after its or our
//!    GOAWAY, and closing with them unread makes the kernel send a reset
//!    that can destroy our last frames before the client reads them.
//!
//! Under the event loop the loop owns the session
//! ([`crate::serve::h2::H2Owner`]) and hands requests to worker threads,
//! which send back response parts through it (it calls `send_*`); under
//! worker the connection's thread owns it the same way and the child's
//! other threads serve the streams; under prefork one thread runs the
//! session and serves the streams one at a time, in arrival order
//! ([`crate::serve::h2::serve_h2`]).
//!
//! # Bounds
//!
//! Each of the known HTTP/2 denial-of-service classes ends the
//! connection with GOAWAY and the code shown, and is tested in
//! `session_tests`:
//!
//! | attack | bound ([`H2Config`]) | answer |
//! |---|---|---|
//! | rapid reset (CVE-2023-44487) | `reset_burst` resets, then `resets_per_second` | ENHANCE_YOUR_CALM |
//! | CONTINUATION flood (CVE-2024-27316) | `max_header_list` + 16 KiB per block, `max_continuations` frames | ENHANCE_YOUR_CALM |
//! | HPACK bomb | `max_header_list` decoded bytes kept | 431 on the stream |
//! | SETTINGS / PING / RST floods without reading | `max_control_backlog` bytes owed | ENHANCE_YOUR_CALM |
//! | too many streams | `max_concurrent_streams` (`H2MaxSessionStreams`) | RST_STREAM(REFUSED_STREAM) |
//! | request body memory | `window_size` (`H2WindowSize`) per stream | FLOW_CONTROL_ERROR if exceeded |
//! | response buffering | `stream_max_mem` (`H2StreamMaxMemSize`) per stream | `send_data` takes no more |
//! | stream ids | `max_requests`, and id 2^31 - 1 | GOAWAY(NO_ERROR) |
//! | zero-window stall | the driver's timeout ([`Session::is_stalled`]) | [`Session::abort`] |
//! | HPACK tables an idle connection keeps | `header_table_size` (4096) + `response_table_size` (1024) | the client must shrink its table |
//!
//! # Example
//!
//! ```
//! use std::time::Instant;
//! use http::{HeaderMap, StatusCode};
//! use mpm_core::h2::{frame, hpack, Event, H2Config, Session};
//!
//! let mut server = Session::new(&H2Config::default());
//! // The client: preface, SETTINGS, and `GET /` on stream 1.
//! let mut wire = frame::PREFACE.to_vec();
//! frame::encode_settings(&mut wire, &[]);
//! let mut block = Vec::new();
//! let mut enc = hpack::Encoder::new();
//! for (n, v) in [(":method", "GET"), (":scheme", "https"), (":path", "/"), (":authority", "a.example")] {
//!     enc.encode(n.as_bytes(), v.as_bytes(), hpack::Indexing::Incremental, &mut block);
//! }
//! frame::encode_header_block(&mut wire, 1, &block, true, 16_384);
//! server.receive(&wire, Instant::now());
//!
//! let Some(Event::Request { stream, head, end_stream: true, .. }) = server.poll_event() else {
//!     panic!("a request");
//! };
//! assert_eq!((stream, head.uri.path()), (1, "/"));
//! assert_eq!(head.headers["host"], "a.example");
//! server.send_response(stream, StatusCode::OK, &HeaderMap::new(), false).unwrap();
//! assert_eq!(server.send_data(stream, b"hello", true), Ok(5));
//! let out = server.output().to_vec(); // SETTINGS, SETTINGS ack, HEADERS, DATA
//! server.written(out.len());
//! assert!(out.ends_with(b"hello"));
//! assert!(matches!(server.poll_event(), Some(Event::Finished { stream: 1 })));
//! ```

pub mod config;
pub mod error;
pub mod frame;
pub mod hpack;
pub mod request;
pub mod session;
mod stream_map;

pub use config::H2Config;
pub use error::{ErrorCode, H2Error};
pub use frame::PREFACE;
pub use session::{Event, SendError, Session};
pub(crate) use stream_map::StreamMap;

#[cfg(test)]
mod session_tests;
