//! The input side of one HTTP/1.1 connection, without I/O: the bytes read
//! and not yet used, the request head being scanned, and the request body
//! being decoded.
//!
//! A driver reads from its socket into [`Session::space`] (or hands bytes
//! it read elsewhere to [`Session::offer`]) and asks for what they mean:
//! [`Session::poll_head`] says a head is ready, incomplete, or refused with
//! a status; [`Session::read_body`] gives the request body's data. What is
//! left after a request (a pipelined next request) stays in the session
//! for the next [`Session::poll_head`]. The blocking driver and the event
//! loop both drive this one type, so a head is read the same way whatever
//! the strategy: scanned incrementally (O(its bytes) however it is split,
//! see [`HeadScan`]), bounded by the head limit, refused with the same
//! statuses.
//!
//! The session's buffer starts empty (an idle connection holds none) and
//! grows only as bytes come, by doubling from [`MIN_BUFFER`]; its capacity
//! is what an event loop charges against its budget for unfinished heads.
//!
//! ```
//! use mpm_core::h1::{HeadEvent, Session};
//! use mpm_core::Limits;
//!
//! let limits = Limits::default();
//! let mut s = Session::new(&limits);
//! for piece in [&b"GET / HTTP/1.1\r\nHo"[..], b"st: a\r\n\r\nGET /next"] {
//!     let room = s.space(piece.len()).expect("room under the head limit");
//!     room[..piece.len()].copy_from_slice(piece);
//!     s.filled(piece.len());
//! }
//! let HeadEvent::Ready(head) = s.poll_head(&limits) else { panic!() };
//! assert_eq!(head.uri.path(), "/");
//! // The pipelined request's first bytes wait for more.
//! assert!(matches!(s.poll_head(&limits), HeadEvent::NeedMore));
//! assert_eq!(s.buffered(), b"GET /next");
//! ```
use http::StatusCode;

use super::body::{BodyDecoder, BodyError};
use super::head::{HeadError, RequestHead};
use super::parse::HeadScan;
use crate::config::Limits;

/// The first capacity of a session's buffer once bytes must be kept.
pub const MIN_BUFFER: usize = 1024;

/// A buffer grown past this (by a large head or body) is given back by
/// [`Session::shrink`] between requests.
pub const KEEP_BUFFER: usize = 64 * 1024;

/// What [`Session::poll_head`] found.
#[derive(Debug)]
pub enum HeadEvent {
    /// A whole head; its bytes are consumed, the body (if any) or the next
    /// request follows in the buffer.
    Ready(RequestHead),
    /// Not whole yet: read more (the scan goes on where it stopped).
    NeedMore,
    /// Refuse with this status and close the connection.
    Refuse(HeadError),
}

/// What [`Session::read_body`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyStep {
    /// This many bytes of body data were written to the output.
    Data(usize),
    /// The buffered bytes are used up before the body's end: read more.
    NeedMore,
    /// The body is complete.
    End,
}

/// The input side of one connection. See the [module docs](self).
#[derive(Debug)]
pub struct Session {
    buf: Vec<u8>,
    /// Bytes before `start` are used; `buf[start..end]` are buffered.
    start: usize,
    end: usize,
    scan: HeadScan,
    head_cap: usize,
    /// Bytes used by heads and bodies since [`Session::take_used`].
    used: u64,
}

impl Session {
    /// An empty session (no buffer allocated) for a connection whose heads
    /// are bounded by `limits` ([`Limits::head_capacity`]).
    pub fn new(limits: &Limits) -> Session {
        Session {
            buf: Vec::new(),
            start: 0,
            end: 0,
            scan: HeadScan::default(),
            head_cap: limits.head_capacity(),
            used: 0,
        }
    }

    /// The bytes read and not yet used.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Hand the buffered bytes to `take` and mark them used (a connection
    /// that stops speaking HTTP after a `101`: they belong to the tunnel).
    pub fn consume_buffered(&mut self, take: impl FnOnce(&[u8])) {
        take(&self.buf[self.start..self.end]);
        self.used += (self.end - self.start) as u64;
        self.start = 0;
        self.end = 0;
    }

    /// True when no byte is buffered.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The bytes used by request heads and bodies (as framed on the wire)
    /// since the last call: what one exchange received. Bytes buffered for
    /// a pipelined next request are not counted yet.
    pub fn take_used(&mut self) -> u64 {
        std::mem::take(&mut self.used)
    }

    /// The buffer's capacity: the memory this session holds.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Room for at least one and at most `want` more bytes after the
    /// buffered ones: the buffer is compacted, or grown (doubling, from
    /// [`MIN_BUFFER`]) but never past the head limit
    /// ([`Limits::head_capacity`]): `None` when the buffered bytes fill it
    /// (an incomplete head that large is refused by the next
    /// [`Session::poll_head`]). Write into the slice, then call
    /// [`Session::filled`] with the count.
    pub fn space(&mut self, want: usize) -> Option<&mut [u8]> {
        let want = want.max(1);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.len() - self.end < want && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() == self.end {
            if self.end >= self.head_cap {
                return None;
            }
            self.grow((self.end + want).min(self.head_cap));
        }
        let until = self.buf.len().min(self.end + want);
        Some(&mut self.buf[self.end..until])
    }

    /// Grow the buffer to hold at least `need` bytes: the next power of
    /// two, at least [`MIN_BUFFER`].
    fn grow(&mut self, need: usize) {
        let len = need.next_power_of_two().max(MIN_BUFFER);
        if len > self.buf.len() {
            self.buf.reserve_exact(len - self.buf.len());
            self.buf.resize(len, 0);
        }
    }

    /// `n` bytes were written into the slice [`Session::space`] gave.
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Take bytes read elsewhere (an event loop's shared read buffer):
    /// copied after the buffered ones. Never drops a byte: the head limit
    /// is enforced by [`Session::poll_head`], and the reads that feed this
    /// are bounded by the caller.
    pub fn extend(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.len() - self.end < bytes.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < bytes.len() {
            self.grow(self.end + bytes.len());
        }
        self.buf[self.end..self.end + bytes.len()].copy_from_slice(bytes);
        self.end += bytes.len();
    }

    /// The next request head: scans on from where the last call stopped.
    /// A head refused here ends the connection (no further head is read).
    pub fn poll_head(&mut self, limits: &Limits) -> HeadEvent {
        let data = &self.buf[self.start..self.end];
        match self.scan.advance(data, limits) {
            Ok(Some((head, consumed))) => {
                self.start += consumed;
                self.used += consumed as u64;
                self.scan.reset();
                HeadEvent::Ready(head)
            }
            Ok(None) if data.len() >= self.head_cap => HeadEvent::Refuse(head_too_large_error()),
            Ok(None) => HeadEvent::NeedMore,
            Err(e) => HeadEvent::Refuse(e),
        }
    }

    /// Scan `incoming` (bytes just read into a shared buffer) as though
    /// [`Session::extend`]ed, copying only what must be kept: nothing when
    /// an empty session receives a whole head and nothing after it (the
    /// common case, which then allocates nothing).
    pub fn offer(&mut self, incoming: &[u8], limits: &Limits) -> HeadEvent {
        if !self.is_empty() {
            self.extend(incoming);
            return self.poll_head(limits);
        }
        match self.scan.advance(incoming, limits) {
            Ok(Some((head, consumed))) => {
                self.scan.reset();
                self.used += consumed as u64;
                self.extend(&incoming[consumed..]);
                HeadEvent::Ready(head)
            }
            Ok(None) if incoming.len() >= self.head_cap => {
                HeadEvent::Refuse(head_too_large_error())
            }
            Ok(None) => {
                self.extend(incoming);
                HeadEvent::NeedMore
            }
            Err(e) => HeadEvent::Refuse(e),
        }
    }

    /// Decode request body data from the buffered bytes into `out`.
    pub fn read_body(
        &mut self,
        decoder: &mut BodyDecoder,
        out: &mut [u8],
    ) -> Result<BodyStep, BodyError> {
        loop {
            if decoder.is_complete() {
                return Ok(BodyStep::End);
            }
            if self.is_empty() || out.is_empty() {
                return Ok(BodyStep::NeedMore);
            }
            // Decode no more input than `out` can take as data (the
            // decoder goes byte by byte, so any window makes progress).
            let window = (self.end - self.start).min(out.len());
            let input = &self.buf[self.start..self.start + window];
            let d = decoder.decode(input)?;
            self.start += d.consumed;
            self.used += d.consumed as u64;
            if !d.data.is_empty() {
                let n = d.data.len();
                out[..n].copy_from_slice(&input[d.data]);
                return Ok(BodyStep::Data(n));
            }
            if d.consumed == 0 {
                return Ok(BodyStep::NeedMore);
            }
        }
    }

    /// Between requests: give back a buffer that a large head or body grew
    /// past [`KEEP_BUFFER`] (keeping what is buffered), and free an empty
    /// one entirely when `release` (an idle connection holds no buffer).
    pub fn shrink(&mut self, release: bool) {
        if self.is_empty() {
            self.start = 0;
            self.end = 0;
            if release || self.buf.capacity() > KEEP_BUFFER {
                self.buf = Vec::new();
            }
            return;
        }
        if self.buf.capacity() > KEEP_BUFFER && self.end - self.start <= KEEP_BUFFER / 2 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            self.buf.truncate(self.end.max(MIN_BUFFER));
            self.buf.shrink_to_fit();
        }
    }

    /// Lend a spare buffer (a worker thread's, kept between requests) to a
    /// session that holds none, so that reading a body allocates nothing;
    /// [`Session::take_spare`] takes it back.
    pub fn lend_buffer(&mut self, spare: Vec<u8>) {
        if self.buf.capacity() == 0 && self.is_empty() {
            self.buf = spare;
            // Its whole capacity is readable room (zeroed once, when the
            // spare was first made or grown).
            let cap = self.buf.capacity();
            if self.buf.len() < cap {
                self.buf.resize(cap, 0);
            }
            self.start = 0;
            self.end = 0;
        }
    }

    /// Take the buffer back for reuse when nothing is buffered in it and
    /// it is not oversized.
    pub fn take_spare(&mut self) -> Option<Vec<u8>> {
        if self.is_empty() && self.buf.capacity() > 0 && self.buf.capacity() <= KEEP_BUFFER {
            self.start = 0;
            self.end = 0;
            Some(std::mem::take(&mut self.buf))
        } else {
            None
        }
    }
}

/// The 408 for a head that did not arrive in time.
pub fn timeout_error() -> HeadError {
    HeadError {
        status: StatusCode::REQUEST_TIMEOUT,
        reason: "the server timed out waiting for the request",
        allow: None,
        request_line: None,
    }
}

/// The 431 for a head larger than the buffer it may take
/// ([`Limits::head_capacity`]).
pub fn head_too_large_error() -> HeadError {
    HeadError {
        status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        reason: "the request head is larger than the server accepts",
        allow: None,
        request_line: None,
    }
}

/// The 431 for an unfinished head refused because the child's budget for
/// unfinished heads is spent and this head is the largest
/// ([`Limits::head_budget`]).
pub fn head_budget_error() -> HeadError {
    HeadError {
        status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        reason: "the server is short of memory for request heads, and this one is the largest",
        allow: None,
        request_line: None,
    }
}
