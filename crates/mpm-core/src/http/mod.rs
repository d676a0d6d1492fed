//! The sans-IO HTTP/1.1 engine (RFC 9112).
//!
//! Bytes go in, request heads come out; a response head goes in, bytes come
//! out. Nothing here reads or writes a socket, so the blocking driver
//! ([`crate::serve`]) and an event loop answer the same bytes the same way,
//! and every rule is testable without a network.
//!
//! - [`parse`]: request line and headers → [`RequestHead`] or a refusal
//!   ([`HeadError`]) with the status to send.
//! - [`body`]: `Content-Length` and chunked request bodies → data ranges.
//! - [`encode`]: response heads, chunk framing, error pages.
//! - [`date`]: the `Date` header, formatted once a second.
//!
//! Line ends: CRLF everywhere, and a bare LF is accepted in request heads
//! and chunk lines (RFC 9112 §2.2); a bare CR is refused.

pub mod body;
pub mod date;
pub mod encode;
pub mod parse;

pub use body::{BodyDecoder, BodyError, Decoded};
pub use encode::{
    chunk_header, encode_head, error_page, keep_alive_after, plan_length, ResponseLength,
    CHUNK_END, CONTINUE_100, LAST_CHUNK,
};
pub use parse::{parse_head, Framing, HeadError, RequestHead};

#[cfg(test)]
mod fuzz_tests;
