//! Request heads (RFC 9112 §2–§7): bytes in, a [`RequestHead`] or a
//! refusal ([`HeadError`]) with the status to answer out.
//!
//! The parser is hand-written rather than built on `httparse`: nearly every
//! rule the server must enforce (limits that must fire before the head is
//! complete, 505 versus 400 for versions, obs-fold, bare CR, whitespace
//! before the colon, Host and framing checks) sits where `httparse` is
//! either lenient or reports a single undifferentiated error, so a second
//! pass over its output would cost more than one direct pass.
//!
//! It works in two passes over the buffer:
//!
//! 1. a structural scan that finds the end of the head and enforces the
//!    size limits, NUL / bare CR and obs-fold while the head may still be
//!    incomplete (so a 414 or 431 is known as soon as the bytes prove it);
//! 2. once the head is complete, the request line and header lines are
//!    parsed into `http` types and the framing rules are applied.
//!
//! Line ends: CRLF, and a bare LF is accepted as well in the request line
//! and the header section (RFC 9112 §2.2 allows it there); a CR that is not
//! followed by LF is refused with 400. Chunked framing is stricter: the
//! body decoder ([`super::body`]) requires CRLF.
//!
//! The files: `head.rs` what a head parses into, `lex.rs` byte classes
//! and line ends, this file pass 1 ([`parse_head`], [`HeadScan`]),
//! `semantics.rs` pass 2.

use std::ops::Range;

use http::{Method, StatusCode, Version};

use super::head::{HeadError, RequestHead};
use super::lex::{find_special, scan_line, Line};
use super::semantics::{complete_head, parse_request_line};
use crate::config::Limits;

/// Most bytes of empty lines accepted before a request line (RFC 9112 §2.2
/// lets a server skip "at least one"; a flood of them is refused with 400).
pub const MAX_LEADING_EMPTY_LINES: usize = 8 * 1024;

/// Parse a request head at the start of `buf`.
///
/// - `Ok(None)`: the head is not complete yet (read more and call again
///   with the whole buffer).
/// - `Ok(Some((head, consumed)))`: `buf[..consumed]` was the head (with any
///   empty lines before it); the body or the next request starts there.
/// - `Err(e)`: refuse with `e.status` and close the connection.
///
/// Limits are enforced as soon as the bytes prove them exceeded, even
/// before the head is complete: a request line longer than
/// `limits.request_line` → 414; a header line longer than
/// `limits.field_size` or more than `limits.fields` of them (when
/// non-zero) → 431; a `Content-Length` beyond `limits.body` (when
/// non-zero) → 413.
///
/// Each call scans the buffer from its first byte: a driver that reads a
/// head in pieces keeps a [`HeadScan`] instead, which costs O(the head's
/// bytes) in total however it is split.
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<(RequestHead, usize)>, HeadError> {
    HeadScan::default().advance(buf, limits)
}

/// Where the structural scan of a head has got to.
#[derive(Debug, Clone, Default)]
enum Stage {
    /// Skipping empty lines before the request line, at `start`.
    #[default]
    Leading,
    /// In the request line (it begins at `start`).
    RequestLine,
    /// In the header section; the request line was valid.
    Fields {
        method: Method,
        target: Range<usize>,
        version: Version,
        /// End of the request line's content.
        rl_end: usize,
        /// Where the first header line starts.
        headers_start: usize,
    },
}

/// An incremental request-head reader: the scan of [`parse_head`], kept
/// between reads, so that a head arriving in any number of pieces is
/// scanned once (O(its bytes) in total, where calling `parse_head` on the
/// growing buffer costs O(bytes × reads)).
///
/// Feed [`HeadScan::advance`] the buffered bytes from the head's first
/// byte, each call with the bytes of the previous one plus what arrived
/// (the buffer may move or be compacted in between; its contents from the
/// head's start may only grow). Once it returns a head or an error, start
/// a new `HeadScan` (or [`HeadScan::reset`]) for the next head.
///
/// ```
/// use mpm_core::h1::HeadScan;
/// use mpm_core::Limits;
///
/// let limits = Limits::default();
/// let wire = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
/// let mut scan = HeadScan::default();
/// let mut buf = Vec::new();
/// for (i, &b) in wire.iter().enumerate() {
///     buf.push(b);
///     let done = scan.advance(&buf, &limits).expect("valid");
///     assert_eq!(done.is_some(), i == wire.len() - 1);
/// }
/// assert!(scan.scanned() <= 2 * wire.len());
/// ```
#[derive(Debug, Clone, Default)]
pub struct HeadScan {
    stage: Stage,
    /// Start of the request line (after empty lines).
    start: usize,
    /// Start of the line being scanned.
    line: usize,
    /// Where scanning resumes inside that line.
    resume: usize,
    /// The current header line has been counted against the limit.
    counted: bool,
    /// Header lines so far.
    fields: usize,
    /// Bytes examined, over every call (for tests and measurements).
    scanned: usize,
}

impl HeadScan {
    /// Start over, for the next head.
    pub fn reset(&mut self) {
        *self = HeadScan::default();
    }

    /// Bytes the scan has examined over all its calls. For a head read in
    /// any number of pieces this stays below twice the head's length.
    pub fn scanned(&self) -> usize {
        self.scanned
    }

    /// Scan `buf` (the whole head so far, from its first byte) from where
    /// the previous call stopped. Returns as [`parse_head`] does.
    pub fn advance(
        &mut self,
        buf: &[u8],
        limits: &Limits,
    ) -> Result<Option<(RequestHead, usize)>, HeadError> {
        debug_assert!(buf.len() >= self.resume, "a head's buffer may only grow");
        if matches!(self.stage, Stage::Leading) {
            // Empty lines before the request line (RFC 9112 §2.2).
            loop {
                match buf.get(self.start) {
                    Some(b'\n') => self.start += 1,
                    Some(b'\r') => match buf.get(self.start + 1) {
                        Some(b'\n') => self.start += 2,
                        Some(_) => return Err(HeadError::bad("bare CR in request head")),
                        None => return Ok(None),
                    },
                    Some(_) => break,
                    None => return Ok(None),
                }
                self.scanned += 1;
                if self.start > MAX_LEADING_EMPTY_LINES {
                    return Err(HeadError::bad("too many empty lines before the request"));
                }
            }
            self.stage = Stage::RequestLine;
            self.line = self.start;
            self.resume = self.start;
        }

        if matches!(self.stage, Stage::RequestLine) {
            let start = self.start;
            let (end, next) = match self.scan(buf, limits.request_line, line_too_long)? {
                Line::Complete { end, next } => (end, next),
                Line::Incomplete { resume } => (resume, 0),
            };
            if end - start > limits.request_line {
                return Err(line_too_long());
            }
            if next == 0 {
                return Ok(None);
            }
            let rl_bytes = &buf[start..end];
            // The request line is kept as text only once the head is
            // complete (or refused), so incomplete heads allocate nothing.
            let (method, target, version) =
                parse_request_line(rl_bytes).map_err(|e| e.with_line(rl_bytes))?;
            self.stage = Stage::Fields {
                method,
                target,
                version,
                rl_end: end,
                headers_start: next,
            };
            self.line = next;
            self.resume = next;
            self.counted = false;
        }

        let Stage::Fields { rl_end, .. } = self.stage else {
            unreachable!("the request line was scanned above")
        };
        let rl_bytes = &buf[self.start..rl_end];
        let max_fields = limits.max_fields();
        let head_end = loop {
            let pos = self.line;
            if !self.counted {
                match buf.get(pos) {
                    None => return Ok(None),
                    Some(b'\n') => break pos + 1,
                    Some(b'\r') => match buf.get(pos + 1) {
                        Some(b'\n') => break pos + 2,
                        Some(_) => {
                            return Err(
                                HeadError::bad("bare CR in request head").with_line(rl_bytes)
                            )
                        }
                        None => return Ok(None),
                    },
                    Some(b' ' | b'\t') => {
                        return Err(
                            HeadError::bad("obsolete line folding in header").with_line(rl_bytes)
                        )
                    }
                    Some(_) => {}
                }
                self.fields += 1;
                self.counted = true;
                if self.fields > max_fields {
                    return Err(too_many_fields().with_line(rl_bytes));
                }
            }
            match self
                .scan(buf, limits.field_size, field_too_large)
                .map_err(|e| e.with_line(rl_bytes))?
            {
                Line::Incomplete { resume } => {
                    if resume - pos > limits.field_size {
                        return Err(field_too_large().with_line(rl_bytes));
                    }
                    return Ok(None);
                }
                Line::Complete { end, next } => {
                    if end - pos > limits.field_size {
                        return Err(field_too_large().with_line(rl_bytes));
                    }
                    self.line = next;
                    self.resume = next;
                    self.counted = false;
                }
            }
        };
        let Stage::Fields {
            method,
            target,
            version,
            headers_start,
            ..
        } = std::mem::take(&mut self.stage)
        else {
            unreachable!("in the header section")
        };
        let start = self.start;
        let fields = self.fields;
        self.scanned += head_end - self.line;
        complete_head(
            buf,
            limits,
            start,
            rl_end,
            method,
            target,
            version,
            headers_start,
            head_end,
            fields,
        )
    }

    /// Scan the current line from where the last call stopped. A line
    /// already longer than `limit` before a bad byte (NUL, bare CR) is
    /// refused for its length (`too_long`), as it is when the same bytes
    /// come in pieces: the answer never depends on how the bytes arrive.
    fn scan(
        &mut self,
        buf: &[u8],
        limit: usize,
        too_long: fn() -> HeadError,
    ) -> Result<Line, HeadError> {
        let from = self.resume;
        let line = scan_line(buf, from).map_err(|e| {
            if find_special(buf, from) - self.line > limit {
                too_long()
            } else {
                e
            }
        })?;
        let upto = match line {
            Line::Complete { next, .. } => next,
            Line::Incomplete { resume } => resume,
        };
        self.scanned += upto.saturating_sub(from);
        self.resume = upto;
        Ok(line)
    }
}

fn line_too_long() -> HeadError {
    HeadError::new(StatusCode::URI_TOO_LONG, "request line too long")
}

fn too_many_fields() -> HeadError {
    HeadError::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "too many header fields",
    )
}

fn field_too_large() -> HeadError {
    HeadError::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "header field too large",
    )
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
