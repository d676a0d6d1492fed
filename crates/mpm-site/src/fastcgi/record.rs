//! FastCGI 1.0 records, sans-IO: what the web server writes
//! ([`begin_request`], [`stream`], [`encode_params`]) and a decoder of what
//! the application answers ([`RecordReader`]: bytes in, events out).
//!
//! A record is an 8-byte header (version 1, type, request id, content
//! length up to 65,535, padding length, a reserved byte), its content and
//! its padding. A stream (`PARAMS`, `STDIN`, `STDOUT`, `STDERR`) is a run
//! of records of its type ended by an empty one. The server writes its
//! records padded to a multiple of 8 bytes, as the specification
//! recommends; the reader takes any padding.
//!
//! The reader keeps at most one record header and one `END_REQUEST` body
//! (8 bytes each): stream content is handed out as a range of the bytes
//! given, never copied or gathered, so a 50 MB answer costs no more
//! memory than a small one.

use std::ops::Range;

/// The protocol version every record carries.
pub const VERSION: u8 = 1;
/// A record header's length.
pub const HEADER_LEN: usize = 8;
/// The most content one record carries.
pub const MAX_CONTENT: usize = 65_535;

/// `FCGI_BEGIN_REQUEST`.
pub const BEGIN_REQUEST: u8 = 1;
/// `FCGI_ABORT_REQUEST`.
pub const ABORT_REQUEST: u8 = 2;
/// `FCGI_END_REQUEST`.
pub const END_REQUEST: u8 = 3;
/// `FCGI_PARAMS`.
pub const PARAMS: u8 = 4;
/// `FCGI_STDIN`.
pub const STDIN: u8 = 5;
/// `FCGI_STDOUT`.
pub const STDOUT: u8 = 6;
/// `FCGI_STDERR`.
pub const STDERR: u8 = 7;
/// `FCGI_DATA`.
pub const DATA: u8 = 8;
/// `FCGI_GET_VALUES`.
pub const GET_VALUES: u8 = 9;
/// `FCGI_GET_VALUES_RESULT`.
pub const GET_VALUES_RESULT: u8 = 10;
/// `FCGI_UNKNOWN_TYPE`.
pub const UNKNOWN_TYPE: u8 = 11;

/// `FCGI_RESPONDER`, the role of a web server's request.
pub const ROLE_RESPONDER: u16 = 1;
/// `FCGI_KEEP_CONN`: the application keeps the connection open after
/// the request.
pub const KEEP_CONN: u8 = 1;

/// `END_REQUEST`'s protocol status: the request is complete.
pub const REQUEST_COMPLETE: u8 = 0;
/// `END_REQUEST`'s protocol status: the application does not take a
/// second request on one connection.
pub const CANT_MPX_CONN: u8 = 1;
/// `END_REQUEST`'s protocol status: the application is out of resources.
pub const OVERLOADED: u8 = 2;
/// `END_REQUEST`'s protocol status: the role is not one it plays.
pub const UNKNOWN_ROLE: u8 = 3;

/// Append a record header.
pub fn header(out: &mut Vec<u8>, kind: u8, request_id: u16, content_len: u16, padding: u8) {
    let [id1, id0] = request_id.to_be_bytes();
    let [len1, len0] = content_len.to_be_bytes();
    out.extend_from_slice(&[VERSION, kind, id1, id0, len1, len0, padding, 0]);
}

/// The padding that brings `content_len` to a multiple of 8.
fn padding_for(content_len: usize) -> u8 {
    ((8 - content_len % 8) % 8) as u8
}

/// Append a `BEGIN_REQUEST` record for the responder role, with
/// `FCGI_KEEP_CONN` when `keep_conn`.
pub fn begin_request(out: &mut Vec<u8>, request_id: u16, keep_conn: bool) {
    header(out, BEGIN_REQUEST, request_id, 8, 0);
    let [role1, role0] = ROLE_RESPONDER.to_be_bytes();
    let flags = if keep_conn { KEEP_CONN } else { 0 };
    out.extend_from_slice(&[role1, role0, flags, 0, 0, 0, 0, 0]);
}

/// Append `data` to the stream `kind` (`PARAMS`, `STDIN`) as records of
/// at most [`MAX_CONTENT`] bytes, each padded to a multiple of 8; empty
/// `data` appends the empty record that ends the stream.
pub fn stream(out: &mut Vec<u8>, kind: u8, request_id: u16, data: &[u8]) {
    if data.is_empty() {
        header(out, kind, request_id, 0, 0);
        return;
    }
    for part in data.chunks(MAX_CONTENT) {
        let padding = padding_for(part.len());
        // A part is at most MAX_CONTENT (u16::MAX) bytes.
        header(out, kind, request_id, part.len() as u16, padding);
        out.extend_from_slice(part);
        out.resize(out.len() + usize::from(padding), 0);
    }
}

/// Append one name-value pair as `PARAMS` content: each length in one
/// byte when below 128, else in four with the high bit set.
pub fn encode_param(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    for len in [name.len(), value.len()] {
        if len < 128 {
            out.push(len as u8);
        } else {
            // Lengths beyond 2^31 - 1 cannot be written; no request head
            // comes near (the engine bounds it far below).
            let len = len.min(0x7fff_ffff) as u32;
            out.extend_from_slice(&(len | 0x8000_0000).to_be_bytes());
        }
    }
    out.extend_from_slice(name);
    out.extend_from_slice(value);
}

/// The `PARAMS` content of `pairs`.
pub fn encode_params<'a>(pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Vec<u8> {
    let mut out = Vec::with_capacity(2048);
    for (name, value) in pairs {
        encode_param(&mut out, name, value);
    }
    out
}

/// Read the name-value pairs of `PARAMS` content (what an application
/// does; the tests' fake backends and the fuzz target use it). `None`
/// when a length runs past the end.
pub fn decode_params(mut bytes: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    fn length(bytes: &mut &[u8]) -> Option<usize> {
        let first = *bytes.first()?;
        if first < 128 {
            *bytes = &bytes[1..];
            return Some(usize::from(first));
        }
        let four: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
        *bytes = &bytes[4..];
        Some((u32::from_be_bytes(four) & 0x7fff_ffff) as usize)
    }
    let mut pairs = Vec::new();
    while !bytes.is_empty() {
        let name_len = length(&mut bytes)?;
        let value_len = length(&mut bytes)?;
        if bytes.len() < name_len.checked_add(value_len)? {
            return None;
        }
        let (name, rest) = bytes.split_at(name_len);
        let (value, rest) = rest.split_at(value_len);
        pairs.push((name, value));
        bytes = rest;
    }
    Some(pairs)
}

/// What the application's bytes said, one event at a time
/// ([`RecordReader::next`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `STDOUT` content: these bytes of the input given.
    Stdout(Range<usize>),
    /// `STDERR` content: these bytes of the input given.
    Stderr(Range<usize>),
    /// The empty `STDOUT` record that ends the stream.
    StdoutEnd,
    /// `END_REQUEST`: the request is over.
    End {
        /// The application's exit status.
        app_status: u32,
        /// [`REQUEST_COMPLETE`], [`CANT_MPX_CONN`], [`OVERLOADED`] or
        /// [`UNKNOWN_ROLE`] (or another value a broken application sent).
        protocol_status: u8,
    },
}

/// Why the application's bytes are not FastCGI records (the client gets
/// 502 and the connection is closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadRecord {
    /// A record header with a version other than 1.
    #[error("a record has version {0}, not 1 (the backend does not speak FastCGI)")]
    Version(u8),
    /// A record for another request than the one asked.
    #[error("a record is for request {got}, not {want}")]
    RequestId {
        /// The id in the record.
        got: u16,
        /// The id of the request sent.
        want: u16,
    },
    /// A record type an application never sends.
    #[error("a record of type {0}, which an application never sends")]
    Type(u8),
    /// An `END_REQUEST` whose content is not 8 bytes.
    #[error("an END_REQUEST record of {0} bytes, not 8")]
    EndLength(u16),
    /// A record after `END_REQUEST`.
    #[error("a record after END_REQUEST")]
    AfterEnd,
}

/// Where the reader is within a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a header (`got` bytes of it so far).
    Header { got: usize },
    /// Reading the content of a record of `kind` (`left` bytes to go).
    Content { kind: u8, left: usize },
    /// Skipping `left` bytes of padding.
    Padding { left: usize },
    /// `END_REQUEST` came.
    Ended,
}

/// The decoder of an application's records for one request; see the
/// [module](self).
#[derive(Debug, Clone)]
pub struct RecordReader {
    request_id: u16,
    state: State,
    header: [u8; HEADER_LEN],
    /// Padding of the record being read.
    padding: usize,
    /// `END_REQUEST`'s content as it arrives.
    end_body: [u8; 8],
    end_got: usize,
    /// `END_REQUEST`'s content came; its padding is being skipped.
    end_pending: bool,
}

impl RecordReader {
    /// A reader of the answer to request `request_id`.
    pub fn new(request_id: u16) -> Self {
        RecordReader {
            request_id,
            state: State::Header { got: 0 },
            header: [0; HEADER_LEN],
            padding: 0,
            end_body: [0; 8],
            end_got: 0,
            end_pending: false,
        }
    }

    /// `END_REQUEST` and its padding came: the request is over.
    fn end(&mut self) -> Event {
        self.state = State::Ended;
        let b = self.end_body;
        Event::End {
            app_status: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            protocol_status: b[4],
        }
    }

    /// Whether `END_REQUEST` came.
    pub fn is_ended(&self) -> bool {
        self.state == State::Ended
    }

    /// Whether the reader stands between two records (no record begun).
    pub fn at_boundary(&self) -> bool {
        matches!(self.state, State::Header { got: 0 } | State::Ended)
    }

    /// Decode from the start of `input`: `Ok((consumed, event))`, where
    /// `input[..consumed]` was used, and the event (if any) it completed;
    /// `Ok((input.len(), None))` when all of it was used without one. Call
    /// again with the rest. A range in an event is of `input`.
    pub fn next(&mut self, input: &[u8]) -> Result<(usize, Option<Event>), BadRecord> {
        let mut at = 0;
        loop {
            match self.state {
                State::Ended => {
                    return if input.len() > at {
                        Err(BadRecord::AfterEnd)
                    } else {
                        Ok((at, None))
                    };
                }
                State::Header { got } => {
                    let take = (HEADER_LEN - got).min(input.len() - at);
                    self.header[got..got + take].copy_from_slice(&input[at..at + take]);
                    at += take;
                    let got = got + take;
                    if got < HEADER_LEN {
                        self.state = State::Header { got };
                        return Ok((at, None));
                    }
                    if let Some(event) = self.begin_record()? {
                        return Ok((at, Some(event)));
                    }
                }
                State::Content { kind, left } => {
                    let take = left.min(input.len() - at);
                    if take == 0 && left > 0 {
                        return Ok((at, None));
                    }
                    let range = at..at + take;
                    at += take;
                    let left = left - take;
                    self.state = if left > 0 {
                        State::Content { kind, left }
                    } else {
                        State::Padding { left: self.padding }
                    };
                    match kind {
                        STDOUT if take > 0 => return Ok((at, Some(Event::Stdout(range)))),
                        STDERR if take > 0 => return Ok((at, Some(Event::Stderr(range)))),
                        END_REQUEST => {
                            self.end_body[self.end_got..self.end_got + take]
                                .copy_from_slice(&input[range]);
                            self.end_got += take;
                            if left == 0 {
                                self.end_pending = true;
                                if self.padding == 0 {
                                    return Ok((at, Some(self.end())));
                                }
                            }
                        }
                        _ => {}
                    }
                }
                State::Padding { left } => {
                    let take = left.min(input.len() - at);
                    at += take;
                    if take < left {
                        self.state = State::Padding { left: left - take };
                        return Ok((at, None));
                    }
                    self.state = State::Header { got: 0 };
                    if self.end_pending {
                        return Ok((at, Some(self.end())));
                    }
                    if at == input.len() {
                        return Ok((at, None));
                    }
                }
            }
        }
    }

    /// A header is complete: check it and start its content. An empty
    /// `STDOUT` is an event of its own.
    fn begin_record(&mut self) -> Result<Option<Event>, BadRecord> {
        let h = self.header;
        if h[0] != VERSION {
            return Err(BadRecord::Version(h[0]));
        }
        let kind = h[1];
        let id = u16::from_be_bytes([h[2], h[3]]);
        let len = u16::from_be_bytes([h[4], h[5]]);
        self.padding = usize::from(h[6]);
        match kind {
            // Management records (request id 0) may come at any time.
            GET_VALUES_RESULT | UNKNOWN_TYPE if id == 0 => {}
            STDOUT | STDERR | END_REQUEST if id == self.request_id => {}
            STDOUT | STDERR | END_REQUEST => {
                return Err(BadRecord::RequestId {
                    got: id,
                    want: self.request_id,
                })
            }
            other => return Err(BadRecord::Type(other)),
        }
        if kind == END_REQUEST {
            if len != 8 {
                return Err(BadRecord::EndLength(len));
            }
            self.end_got = 0;
        }
        self.state = State::Content {
            kind,
            left: usize::from(len),
        };
        if len == 0 {
            self.state = State::Padding { left: self.padding };
            if kind == STDOUT {
                return Ok(Some(Event::StdoutEnd));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event of `input` read in one go, stream content copied out.
    fn events(reader: &mut RecordReader, input: &[u8]) -> Result<Vec<Owned>, BadRecord> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < input.len() {
            let (n, event) = reader.next(&input[at..])?;
            if let Some(e) = event {
                out.push(Owned::from(e, &input[at..]));
            }
            at += n;
            if n == 0 && !reader.is_ended() {
                panic!("no progress at {at}");
            }
            if reader.is_ended() && at == input.len() {
                break;
            }
        }
        Ok(out)
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Owned {
        Out(Vec<u8>),
        Err(Vec<u8>),
        OutEnd,
        End(u32, u8),
    }

    impl Owned {
        fn from(e: Event, input: &[u8]) -> Owned {
            match e {
                Event::Stdout(r) => Owned::Out(input[r].to_vec()),
                Event::Stderr(r) => Owned::Err(input[r].to_vec()),
                Event::StdoutEnd => Owned::OutEnd,
                Event::End {
                    app_status,
                    protocol_status,
                } => Owned::End(app_status, protocol_status),
            }
        }
    }

    /// Stream events glued together (the same bytes in other pieces).
    fn glued(events: Vec<Owned>) -> Vec<Owned> {
        let mut out: Vec<Owned> = Vec::new();
        for e in events {
            match (out.last_mut(), e) {
                (Some(Owned::Out(a)), Owned::Out(b)) => a.extend(b),
                (Some(Owned::Err(a)), Owned::Err(b)) => a.extend(b),
                (_, e) => out.push(e),
            }
        }
        out
    }

    fn answer(id: u16) -> Vec<u8> {
        let mut wire = Vec::new();
        stream(&mut wire, STDOUT, id, b"Content-Type: text/plain\r\n\r\n");
        stream(&mut wire, STDERR, id, b"PHP Warning: x");
        stream(&mut wire, STDOUT, id, &vec![b'a'; 70_000]);
        stream(&mut wire, STDOUT, id, b"");
        // Padded, as some applications pad every record.
        header(&mut wire, END_REQUEST, id, 8, 8);
        wire.extend_from_slice(&[0, 0, 0, 3, REQUEST_COMPLETE, 0, 0, 0]);
        wire.extend_from_slice(&[0; 8]);
        wire
    }

    #[test]
    fn records_are_padded_to_eight_bytes_and_split_at_the_content_limit() {
        let mut wire = Vec::new();
        begin_request(&mut wire, 1, true);
        assert_eq!(
            wire,
            [1, 1, 0, 1, 0, 8, 0, 0, 0, 1, KEEP_CONN, 0, 0, 0, 0, 0]
        );
        let mut wire = Vec::new();
        stream(&mut wire, STDIN, 1, b"hello");
        assert_eq!(&wire[..8], &[1, STDIN, 0, 1, 0, 5, 3, 0]);
        assert_eq!(wire.len(), 16);
        let mut wire = Vec::new();
        stream(&mut wire, STDIN, 1, &vec![0; MAX_CONTENT + 1]);
        assert_eq!(&wire[..8], &[1, STDIN, 0, 1, 0xff, 0xff, 1, 0]);
        assert_eq!(wire.len(), 8 + MAX_CONTENT + 1 + 8 + 1 + 7);
    }

    #[test]
    fn params_have_one_or_four_byte_lengths_and_decode_back() {
        let long = vec![b'v'; 300];
        let content = encode_params([(&b"A"[..], &b"1"[..]), (&b"LONG"[..], &long[..])]);
        assert_eq!(&content[..4], &[1, 1, b'A', b'1']);
        assert_eq!(&content[4..9], &[4, 0x80, 0, 1, 44]);
        let pairs = decode_params(&content).unwrap();
        assert_eq!(pairs, [(&b"A"[..], &b"1"[..]), (&b"LONG"[..], &long[..])]);
        assert_eq!(decode_params(&content[..content.len() - 1]), None);
        assert_eq!(decode_params(&[0x80, 0, 0]), None);
    }

    #[test]
    fn an_answer_read_in_any_pieces_gives_the_same_events() {
        let wire = answer(1);
        let whole = glued(events(&mut RecordReader::new(1), &wire).unwrap());
        assert_eq!(
            whole,
            [
                Owned::Out(b"Content-Type: text/plain\r\n\r\n".to_vec()),
                Owned::Err(b"PHP Warning: x".to_vec()),
                Owned::Out(vec![b'a'; 70_000]),
                Owned::OutEnd,
                Owned::End(3, REQUEST_COMPLETE),
            ]
        );
        for piece in [1, 3, 7, 8, 9, 100, 4096] {
            let mut reader = RecordReader::new(1);
            let mut got = Vec::new();
            for chunk in wire.chunks(piece) {
                got.extend(events(&mut reader, chunk).unwrap());
            }
            assert_eq!(glued(got), whole, "pieces of {piece}");
            assert!(reader.is_ended());
        }
    }

    #[test]
    fn broken_records_are_refused() {
        let mut reader = RecordReader::new(1);
        assert_eq!(
            reader.next(b"HTTP/1.1 200 OK\r\n"),
            Err(BadRecord::Version(b'H'))
        );
        let mut wire = Vec::new();
        stream(&mut wire, STDOUT, 2, b"x");
        assert_eq!(
            RecordReader::new(1).next(&wire),
            Err(BadRecord::RequestId { got: 2, want: 1 })
        );
        let mut wire = Vec::new();
        stream(&mut wire, STDIN, 1, b"x");
        assert_eq!(
            RecordReader::new(1).next(&wire),
            Err(BadRecord::Type(STDIN))
        );
        let mut wire = Vec::new();
        header(&mut wire, END_REQUEST, 1, 4, 0);
        assert_eq!(
            RecordReader::new(1).next(&wire),
            Err(BadRecord::EndLength(4))
        );
        let mut wire = answer(1);
        wire.extend_from_slice(&answer(1));
        assert_eq!(
            events(&mut RecordReader::new(1), &wire),
            Err(BadRecord::AfterEnd)
        );
    }

    #[test]
    fn management_records_are_skipped() {
        let mut wire = Vec::new();
        stream(&mut wire, GET_VALUES_RESULT, 0, b"\x0f\x01FCGI_MPXS_CONNS0");
        wire.extend_from_slice(&answer(1));
        let got = glued(events(&mut RecordReader::new(1), &wire).unwrap());
        assert_eq!(got.last(), Some(&Owned::End(3, REQUEST_COMPLETE)));
    }
}
