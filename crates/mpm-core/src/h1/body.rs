//! Request bodies (RFC 9112 §6–§7): `Content-Length` and chunked framing
//! decoded into data ranges, one byte or one megabyte at a time.
//!
//! [`BodyDecoder`] is a sans-IO state machine: the driver hands it whatever
//! bytes it has read, it says how many it consumed and where the body data
//! among them lies.
//!
//! Chunked framing is strict, as a front proxy may read it differently
//! otherwise (request smuggling):
//!
//! - every line of it (chunk size, the end of chunk data, each trailer,
//!   the final empty line) ends with CRLF; a bare LF is refused (RFC 9112
//!   §2.2 allows one only in the start line and the header section);
//! - the trailer section is field lines (RFC 9112 §7.1.2: `field-name ":"
//!   OWS field-value OWS`) under the limits of header fields
//!   (`LimitRequestFields` lines of at most `LimitRequestFieldSize`
//!   bytes); anything else, such as a request line smuggled after the last
//!   chunk, is refused. Trailers are read and dropped, as Apache does
//!   unless asked to merge them.
use std::ops::Range;

use super::head::Framing;
use super::lex::TOKEN;
use crate::config::Limits;

/// Longest chunk extension accepted (`;name=value…` after a chunk size).
pub const MAX_CHUNK_EXTENSION: usize = 4 * 1024;

/// Most hex digits in a chunk size (16 fill a u64).
const MAX_SIZE_DIGITS: u8 = 16;

/// Why a request body could not be read. The driver answers 400 for
/// `Malformed` (trailers beyond the header limits included, as Apache
/// does) and 413 for `TooLarge`, and closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The chunked framing is broken; the text says how.
    #[error("malformed chunked body: {0}")]
    Malformed(&'static str),
    /// The body exceeds the limit given to [`BodyDecoder::new`].
    #[error("request body larger than LimitRequestBody")]
    TooLarge,
}

/// What one [`BodyDecoder::decode`] call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes consumed from the start of the input.
    pub consumed: usize,
    /// Where body data lies within `input[..consumed]` (empty when this
    /// call consumed only framing).
    pub data: Range<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// `Content-Length` body: this many bytes to go.
    Length(u64),
    /// Reading the hex digits of a chunk size.
    Size { size: u64, digits: u8 },
    /// After the size: whitespace before `;` or the line end.
    SizeWs { size: u64 },
    /// Inside chunk extensions (ignored), `len` bytes so far.
    Ext { size: u64, len: usize },
    /// CR seen at the end of the size line.
    SizeLf { size: u64 },
    /// Chunk data, this many bytes to go.
    Data(u64),
    /// After chunk data: expecting CR.
    DataCr,
    /// After chunk data and CR: expecting LF.
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// In a trailer's field name, `len` bytes of the line so far.
    TrailerName { len: usize },
    /// In a trailer's value (after the colon), `len` bytes of the line so
    /// far.
    TrailerValue { len: usize },
    /// CR seen at the end of a trailer line.
    TrailerLf,
    /// CR seen at the start of a line: the final CRLF.
    FinalLf,
    /// The whole body has been consumed.
    Done,
    /// An error was reported; it is reported again.
    Failed(BodyError),
}

/// Decodes a request body framed by `Content-Length` or chunked encoding.
///
/// A driver makes it with [`BodyDecoder::with_limits`], so that trailers
/// obey the server's header limits.
///
/// ```
/// use mpm_core::h1::{BodyDecoder, Framing};
///
/// let mut dec = BodyDecoder::new(Framing::Chunked, 0);
/// let input = b"5\r\nhello\r\n0\r\n\r\n";
/// let mut body = Vec::new();
/// let mut at = 0;
/// while !dec.is_complete() {
///     let d = dec.decode(&input[at..]).unwrap();
///     body.extend_from_slice(&input[at..][d.data]);
///     at += d.consumed;
/// }
/// assert_eq!(body, b"hello");
/// assert_eq!(at, input.len());
/// ```
#[derive(Debug)]
pub struct BodyDecoder {
    state: State,
    limit: u64,
    received: u64,
    /// Trailer lines so far.
    trailers: usize,
    /// Most trailer lines (`LimitRequestFields`).
    max_trailers: usize,
    /// Longest trailer line (`LimitRequestFieldSize`).
    max_trailer_line: usize,
}

fn malformed(reason: &'static str) -> BodyError {
    BodyError::Malformed(reason)
}

impl BodyDecoder {
    /// A decoder for a body with this framing, refusing bodies larger than
    /// `limit` bytes (0 = unlimited) with [`BodyError::TooLarge`], and
    /// trailers beyond the default header limits ([`Limits::default`]).
    pub fn new(framing: Framing, limit: u64) -> Self {
        let state = match framing {
            Framing::None | Framing::Length(0) => State::Done,
            Framing::Length(n) if limit != 0 && n > limit => State::Failed(BodyError::TooLarge),
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Size { size: 0, digits: 0 },
        };
        let defaults = Limits::default();
        BodyDecoder {
            state,
            limit,
            received: 0,
            trailers: 0,
            max_trailers: defaults.fields,
            max_trailer_line: defaults.field_size,
        }
    }

    /// A decoder under the server's limits: the body at most
    /// `limits.body` bytes (`LimitRequestBody`, 0 = unlimited), at most
    /// `limits.fields` trailer lines (any number when 0, as for the header
    /// section) of at most `limits.field_size` bytes each
    /// (`LimitRequestFields`, `LimitRequestFieldSize`).
    pub fn with_limits(framing: Framing, limits: &Limits) -> Self {
        BodyDecoder {
            max_trailers: limits.max_fields(),
            max_trailer_line: limits.field_size,
            ..BodyDecoder::new(framing, limits.body)
        }
    }

    /// Consumes bytes from the start of `input`: framing, and at most one
    /// contiguous range of body data (call again with the rest). Once the
    /// body is complete it consumes nothing: what follows belongs to the
    /// next request.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, BodyError> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::Done => break,
                State::Failed(e) => return Err(e),
                State::Length(remaining) | State::Data(remaining) => {
                    let avail = (input.len() - i) as u64;
                    let take = remaining.min(avail) as usize;
                    let left = remaining - take as u64;
                    self.received += take as u64;
                    self.state = match self.state {
                        State::Length(_) if left == 0 => State::Done,
                        State::Length(_) => State::Length(left),
                        _ if left == 0 => State::DataCr,
                        _ => State::Data(left),
                    };
                    return Ok(Decoded {
                        consumed: i + take,
                        data: i..i + take,
                    });
                }
                State::Size { size, digits } => {
                    if let Some(d) = hex_value(b) {
                        if digits >= MAX_SIZE_DIGITS {
                            return self.fail(malformed("chunk size too large"));
                        }
                        self.state = State::Size {
                            size: (size << 4) | u64::from(d),
                            digits: digits + 1,
                        };
                    } else if digits == 0 {
                        return self.fail(malformed("missing chunk size"));
                    } else {
                        match b {
                            b' ' | b'\t' => self.state = State::SizeWs { size },
                            b';' => self.state = State::Ext { size, len: 0 },
                            b'\r' => self.state = State::SizeLf { size },
                            b'\n' => return self.fail(bare_lf()),
                            _ => return self.fail(malformed("invalid chunk size")),
                        }
                    }
                }
                State::SizeWs { size } => match b {
                    b' ' | b'\t' => {}
                    b';' => self.state = State::Ext { size, len: 0 },
                    b'\r' => self.state = State::SizeLf { size },
                    b'\n' => return self.fail(bare_lf()),
                    _ => return self.fail(malformed("invalid chunk size")),
                },
                State::Ext { size, len } => match b {
                    b'\r' => self.state = State::SizeLf { size },
                    b'\n' => return self.fail(bare_lf()),
                    0 => return self.fail(malformed("NUL in chunk extension")),
                    _ if len >= MAX_CHUNK_EXTENSION => {
                        return self.fail(malformed("chunk extension too long"))
                    }
                    _ => self.state = State::Ext { size, len: len + 1 },
                },
                State::SizeLf { size } => {
                    if b != b'\n' {
                        return self.fail(malformed("bare CR in chunk size line"));
                    }
                    self.end_size_line(size)?;
                }
                State::DataCr => match b {
                    b'\r' => self.state = State::DataLf,
                    b'\n' => return self.fail(bare_lf()),
                    _ => return self.fail(malformed("missing CRLF after chunk data")),
                },
                State::DataLf => {
                    if b != b'\n' {
                        return self.fail(malformed("missing CRLF after chunk data"));
                    }
                    self.state = State::Size { size: 0, digits: 0 };
                }
                State::TrailerStart => match b {
                    b'\r' => self.state = State::FinalLf,
                    b'\n' => return self.fail(bare_lf()),
                    _ if TOKEN[b as usize] => {
                        self.trailers += 1;
                        if self.trailers > self.max_trailers {
                            return self.fail(malformed("too many trailer fields"));
                        }
                        self.state = self.trailer_byte(1, State::TrailerName { len: 1 })?;
                    }
                    b' ' | b'\t' => {
                        return self.fail(malformed("obsolete line folding in trailer"))
                    }
                    _ => return self.fail(malformed("trailer line is not a header field")),
                },
                State::TrailerName { len } => match b {
                    b':' => {
                        self.state =
                            self.trailer_byte(len + 1, State::TrailerValue { len: len + 1 })?
                    }
                    _ if TOKEN[b as usize] => {
                        self.state =
                            self.trailer_byte(len + 1, State::TrailerName { len: len + 1 })?
                    }
                    b' ' | b'\t' => {
                        return self.fail(malformed("whitespace between trailer name and colon"))
                    }
                    _ => return self.fail(malformed("trailer line is not a header field")),
                },
                State::TrailerValue { len } => match b {
                    b'\r' => self.state = State::TrailerLf,
                    b'\n' => return self.fail(bare_lf()),
                    // field-value: VCHAR, obs-text, SP and HTAB.
                    b'\t' | b' '..=b'~' | 0x80..=0xff => {
                        self.state =
                            self.trailer_byte(len + 1, State::TrailerValue { len: len + 1 })?
                    }
                    _ => return self.fail(malformed("control character in trailer")),
                },
                State::TrailerLf => {
                    if b != b'\n' {
                        return self.fail(malformed("bare CR in trailer"));
                    }
                    self.state = State::TrailerStart;
                }
                State::FinalLf => {
                    if b != b'\n' {
                        return self.fail(malformed("bare CR after last chunk"));
                    }
                    self.state = State::Done;
                }
            }
            i += 1;
        }
        if let State::Failed(e) = self.state {
            return Err(e);
        }
        Ok(Decoded {
            consumed: i,
            data: 0..0,
        })
    }

    /// True once the whole body (for chunked: the last chunk, trailers and
    /// the final line end) has been consumed.
    pub fn is_complete(&self) -> bool {
        self.state == State::Done
    }

    /// Body bytes produced so far (framing not counted).
    pub fn received(&self) -> u64 {
        self.received
    }

    fn fail(&mut self, e: BodyError) -> Result<Decoded, BodyError> {
        self.state = State::Failed(e);
        Err(e)
    }

    /// A chunk size line ended: start its data, or the trailers for the
    /// last chunk.
    fn end_size_line(&mut self, size: u64) -> Result<(), BodyError> {
        if size == 0 {
            self.state = State::TrailerStart;
            return Ok(());
        }
        let over = match self.received.checked_add(size) {
            Some(total) => total > self.limit,
            None => true,
        };
        if self.limit != 0 && over {
            self.state = State::Failed(BodyError::TooLarge);
            return Err(BodyError::TooLarge);
        }
        self.state = State::Data(size);
        Ok(())
    }

    /// The trailer line reached `len` bytes: `next`, or a failure beyond
    /// `LimitRequestFieldSize`.
    fn trailer_byte(&mut self, len: usize, next: State) -> Result<State, BodyError> {
        if len > self.max_trailer_line {
            let e = malformed("trailer field too large");
            self.state = State::Failed(e);
            return Err(e);
        }
        Ok(next)
    }
}

fn bare_lf() -> BodyError {
    malformed("bare LF in chunked framing (CRLF required)")
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
