//! Request bodies (RFC 9112 §6–§7): `Content-Length` and chunked framing
//! decoded into data ranges, one byte or one megabyte at a time.
//!
//! [`BodyDecoder`] is a sans-IO state machine: the driver hands it whatever
//! bytes it has read, it says how many it consumed and where the body data
//! among them lies. Chunk lines end with CRLF or a bare LF (as request
//! heads do, see [`super::parse`]); a CR not followed by LF is malformed.
use std::ops::Range;

use super::parse::Framing;

/// Longest chunk extension accepted (`;name=value…` after a chunk size).
pub const MAX_CHUNK_EXTENSION: usize = 4 * 1024;

/// Most bytes of trailer fields accepted after the last chunk.
pub const MAX_TRAILERS: usize = 8 * 1024;

/// Most hex digits in a chunk size (16 fill a u64).
const MAX_SIZE_DIGITS: u8 = 16;

/// Why a request body could not be read. The driver answers 400 for
/// `Malformed` and 413 for `TooLarge`, and closes the connection.
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
    /// After chunk data: expecting CR or LF.
    DataCr,
    /// After chunk data and CR: expecting LF.
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// Inside a trailer line.
    TrailerLine,
    /// CR seen inside a trailer line.
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
    trailers: usize,
}

fn malformed(reason: &'static str) -> BodyError {
    BodyError::Malformed(reason)
}

impl BodyDecoder {
    /// A decoder for a body with this framing, refusing bodies larger than
    /// `limit` bytes (0 = unlimited) with [`BodyError::TooLarge`].
    pub fn new(framing: Framing, limit: u64) -> Self {
        let state = match framing {
            Framing::None | Framing::Length(0) => State::Done,
            Framing::Length(n) if limit != 0 && n > limit => State::Failed(BodyError::TooLarge),
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Size { size: 0, digits: 0 },
        };
        BodyDecoder {
            state,
            limit,
            received: 0,
            trailers: 0,
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
                            b'\n' => self.end_size_line(size)?,
                            _ => return self.fail(malformed("invalid chunk size")),
                        }
                    }
                }
                State::SizeWs { size } => match b {
                    b' ' | b'\t' => {}
                    b';' => self.state = State::Ext { size, len: 0 },
                    b'\r' => self.state = State::SizeLf { size },
                    b'\n' => self.end_size_line(size)?,
                    _ => return self.fail(malformed("invalid chunk size")),
                },
                State::Ext { size, len } => match b {
                    b'\r' => self.state = State::SizeLf { size },
                    b'\n' => self.end_size_line(size)?,
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
                    b'\n' => self.state = State::Size { size: 0, digits: 0 },
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
                    b'\n' => self.state = State::Done,
                    _ => {
                        self.count_trailer()?;
                        self.state = State::TrailerLine;
                    }
                },
                State::TrailerLine => {
                    self.count_trailer()?;
                    match b {
                        b'\r' => self.state = State::TrailerLf,
                        b'\n' => self.state = State::TrailerStart,
                        0 => return self.fail(malformed("NUL in trailer")),
                        _ => {}
                    }
                }
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

    fn count_trailer(&mut self) -> Result<(), BodyError> {
        self.trailers += 1;
        if self.trailers > MAX_TRAILERS {
            let e = malformed("trailers too long");
            self.state = State::Failed(e);
            return Err(e);
        }
        Ok(())
    }
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
