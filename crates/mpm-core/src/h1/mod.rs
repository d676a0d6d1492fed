//! The sans-IO HTTP/1.1 engine (RFC 9112).
//!
//! Bytes go in, request heads come out; a response head goes in, bytes come
//! out. Nothing here reads or writes a socket, so the blocking driver
//! ([`crate::serve`]) and an event loop answer the same bytes the same way,
//! and every rule is testable without a network.
//!
//! - [`parse`]: request line and headers → [`RequestHead`] or a refusal
//!   ([`HeadError`]) with the status to send ([`head`]: those types).
//! - [`body`]: `Content-Length` and chunked request bodies → data ranges.
//! - [`encode`]: response heads (and [`EncodedFields`], a handler's fields
//!   encoded once for answers it sends alike), chunk framing, error pages.
//! - [`date`]: the `Date` header, formatted once a second.
//!
//! One exchange, as a driver runs it:
//!
//! ```
//! use http::{HeaderMap, StatusCode};
//! use mpm_core::h1::{encode_head, keep_alive_after, parse_head, plan_length};
//! use mpm_core::{Limits, Timeouts};
//!
//! let input = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
//! let (head, consumed) = parse_head(input, &Limits::default())
//!     .expect("a valid head")
//!     .expect("a complete head");
//! assert_eq!(consumed, input.len());
//! let status = StatusCode::OK;
//! let length = plan_length(head.version, &head.method, status, Some(13));
//! let keep = keep_alive_after(&head, 1, &Timeouts::default(), length);
//! let mut out = Vec::new();
//! encode_head(&mut out, status, &HeaderMap::new(), length, keep, head.version, "mpmd");
//! assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n"));
//! assert!(out.ends_with(b"Content-Length: 13\r\n\r\n"));
//! ```
//!
//! Line ends: CRLF everywhere. A bare LF is accepted in the request line
//! and the header fields (RFC 9112 §2.2 allows it there) and refused in
//! chunked framing (chunk lines, the end of chunk data, trailers), where a
//! front proxy might not read it as a line end; a bare CR is refused
//! everywhere.

pub mod body;
pub mod date;
pub mod encode;
pub mod head;
mod lex;
pub mod parse;
mod semantics;
pub mod session;

pub use body::{BodyDecoder, BodyError, Decoded};
pub use encode::{
    chunk_header, encode_head, encode_head_with, error_page, keep_alive_after, plan_length,
    EncodedFields, ResponseLength, CHUNK_END, CONTINUE_100, LAST_CHUNK,
};
pub use head::{Framing, HeadError, RequestHead, RequestLine};
pub use parse::{parse_head, HeadScan};
pub use session::{
    head_budget_error, head_too_large_error, timeout_error, BodyStep, HeadEvent, Session,
};

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod session_tests;
