//! HTTP/2 frames (RFC 9113 §4, §6): the 9-byte header, each frame type's
//! payload parsed into a borrowed [`Frame`], and the encoders of the
//! frames a server sends.
//!
//! Parsing checks what a single frame can break (its length for its
//! type, its stream id being zero or not, padding, flags' fields); the
//! rules that need the connection's state (stream states, CONTINUATION
//! sequences, windows) are the session's. Priority fields (the PRIORITY
//! frame and HEADERS' PRIORITY flag) are parsed and ignored, as RFC 9113
//! §5.3.2 deprecates the scheme, except the self-dependency it still
//! calls a stream error. Unknown frame types are ignored (§4.1, §5.5).

use super::error::{ErrorCode, H2Error};

/// The client's connection preface (§3.4), before its first SETTINGS.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The frame header's length.
pub const HEADER_LEN: usize = 9;

/// The initial and smallest `SETTINGS_MAX_FRAME_SIZE` (2^14).
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;

/// The largest `SETTINGS_MAX_FRAME_SIZE` allowed (2^24 - 1).
pub const MAX_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;

/// The largest flow-control window (2^31 - 1).
pub const MAX_WINDOW: u32 = (1 << 31) - 1;

/// Frame type numbers (§6).
pub mod kind {
    /// DATA.
    pub const DATA: u8 = 0x0;
    /// HEADERS.
    pub const HEADERS: u8 = 0x1;
    /// PRIORITY.
    pub const PRIORITY: u8 = 0x2;
    /// RST_STREAM.
    pub const RST_STREAM: u8 = 0x3;
    /// SETTINGS.
    pub const SETTINGS: u8 = 0x4;
    /// PUSH_PROMISE.
    pub const PUSH_PROMISE: u8 = 0x5;
    /// PING.
    pub const PING: u8 = 0x6;
    /// GOAWAY.
    pub const GOAWAY: u8 = 0x7;
    /// WINDOW_UPDATE.
    pub const WINDOW_UPDATE: u8 = 0x8;
    /// CONTINUATION.
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flags (§6).
pub mod flag {
    /// DATA, HEADERS: the last frame the sender sends on the stream.
    pub const END_STREAM: u8 = 0x1;
    /// SETTINGS, PING: an acknowledgement.
    pub const ACK: u8 = 0x1;
    /// HEADERS, CONTINUATION: the header block ends here.
    pub const END_HEADERS: u8 = 0x4;
    /// DATA, HEADERS: a pad length byte leads the payload.
    pub const PADDED: u8 = 0x8;
    /// HEADERS: priority fields lead the header block.
    pub const PRIORITY: u8 = 0x20;
}

/// Settings identifiers (§6.5.2).
pub mod setting {
    /// SETTINGS_HEADER_TABLE_SIZE.
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    /// SETTINGS_ENABLE_PUSH.
    pub const ENABLE_PUSH: u16 = 0x2;
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    /// SETTINGS_INITIAL_WINDOW_SIZE.
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    /// SETTINGS_MAX_FRAME_SIZE.
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    /// SETTINGS_MAX_HEADER_LIST_SIZE.
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
}

/// A frame's 9-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The payload's length.
    pub len: u32,
    /// The type.
    pub kind: u8,
    /// The flags.
    pub flags: u8,
    /// The stream id (the reserved bit cleared).
    pub stream: u32,
}

impl FrameHeader {
    /// Read a header from the first 9 bytes of `b`.
    pub fn parse(b: &[u8; HEADER_LEN]) -> FrameHeader {
        FrameHeader {
            len: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & MAX_WINDOW,
        }
    }

    /// Append this header to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let len = self.len.to_be_bytes();
        out.extend_from_slice(&len[1..]);
        out.push(self.kind);
        out.push(self.flags);
        out.extend_from_slice(&(self.stream & MAX_WINDOW).to_be_bytes());
    }

    fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

/// A parsed frame, borrowing its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// DATA (§6.1).
    Data {
        /// The stream.
        stream: u32,
        /// The data, padding removed.
        data: &'a [u8],
        /// END_STREAM.
        end_stream: bool,
        /// The whole payload's length (with padding): what flow control
        /// counts.
        flow_len: u32,
    },
    /// HEADERS (§6.2).
    Headers {
        /// The stream.
        stream: u32,
        /// The header block fragment, padding and priority removed.
        block: &'a [u8],
        /// END_STREAM.
        end_stream: bool,
        /// END_HEADERS.
        end_headers: bool,
        /// The priority fields name the stream itself: a stream error
        /// (§5.3.1) once the block is decoded (HPACK must stay in step).
        self_dependent: bool,
    },
    /// PRIORITY (§6.3): ignored.
    Priority {
        /// The stream.
        stream: u32,
    },
    /// RST_STREAM (§6.4).
    RstStream {
        /// The stream.
        stream: u32,
        /// Why.
        code: ErrorCode,
    },
    /// SETTINGS (§6.5): `params` holds 6 bytes per setting
    /// ([`Frame::settings`] reads them).
    Settings {
        /// An acknowledgement (no parameters).
        ack: bool,
        /// The parameters' bytes.
        params: &'a [u8],
    },
    /// PING (§6.7).
    Ping {
        /// An acknowledgement.
        ack: bool,
        /// The opaque data.
        payload: [u8; 8],
    },
    /// GOAWAY (§6.8).
    GoAway {
        /// The last stream the sender may have processed.
        last_stream: u32,
        /// Why.
        code: ErrorCode,
        /// Diagnostic data.
        debug: &'a [u8],
    },
    /// WINDOW_UPDATE (§6.9).
    WindowUpdate {
        /// The stream, or 0 for the connection.
        stream: u32,
        /// The increment (1 to 2^31 - 1).
        increment: u32,
    },
    /// CONTINUATION (§6.10).
    Continuation {
        /// The stream.
        stream: u32,
        /// The header block fragment.
        block: &'a [u8],
        /// END_HEADERS.
        end_headers: bool,
    },
    /// PUSH_PROMISE (§6.6): a client never sends one (the session refuses
    /// it).
    PushPromise {
        /// The stream.
        stream: u32,
    },
    /// A type this implementation does not know: ignored.
    Unknown {
        /// The type.
        kind: u8,
    },
}

impl<'a> Frame<'a> {
    /// Parse the payload of a frame whose header is `h`. `payload` is
    /// exactly `h.len` bytes; the caller has checked `h.len` against
    /// `SETTINGS_MAX_FRAME_SIZE`.
    pub fn parse(h: &FrameHeader, payload: &'a [u8]) -> Result<Frame<'a>, H2Error> {
        use ErrorCode::{FrameSizeError, ProtocolError};
        let conn = H2Error::connection;
        let need_stream = |what: &'static str| -> Result<(), H2Error> {
            if h.stream == 0 {
                Err(conn(ProtocolError, what))
            } else {
                Ok(())
            }
        };
        let need_zero = |what: &'static str| -> Result<(), H2Error> {
            if h.stream != 0 {
                Err(conn(ProtocolError, what))
            } else {
                Ok(())
            }
        };
        match h.kind {
            kind::DATA => {
                need_stream("a DATA frame on stream 0")?;
                let data = unpad(h, payload)?;
                Ok(Frame::Data {
                    stream: h.stream,
                    data,
                    end_stream: h.has(flag::END_STREAM),
                    flow_len: h.len,
                })
            }
            kind::HEADERS => {
                need_stream("a HEADERS frame on stream 0")?;
                let mut block = unpad(h, payload)?;
                let mut self_dependent = false;
                if h.has(flag::PRIORITY) {
                    if block.len() < 5 {
                        return Err(conn(
                            FrameSizeError,
                            "a HEADERS frame too short for its priority fields",
                        ));
                    }
                    let dep =
                        u32::from_be_bytes([block[0], block[1], block[2], block[3]]) & MAX_WINDOW;
                    self_dependent = dep == h.stream;
                    block = &block[5..];
                }
                Ok(Frame::Headers {
                    stream: h.stream,
                    block,
                    end_stream: h.has(flag::END_STREAM),
                    end_headers: h.has(flag::END_HEADERS),
                    self_dependent,
                })
            }
            kind::PRIORITY => {
                need_stream("a PRIORITY frame on stream 0")?;
                if payload.len() != 5 {
                    return Err(H2Error::stream(
                        h.stream,
                        FrameSizeError,
                        "a PRIORITY frame whose length is not 5",
                    ));
                }
                let dep = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]])
                    & MAX_WINDOW;
                if dep == h.stream {
                    return Err(H2Error::stream(
                        h.stream,
                        ProtocolError,
                        "a stream that depends on itself",
                    ));
                }
                Ok(Frame::Priority { stream: h.stream })
            }
            kind::RST_STREAM => {
                need_stream("a RST_STREAM frame on stream 0")?;
                let code = four(payload).ok_or(conn(
                    FrameSizeError,
                    "a RST_STREAM frame whose length is not 4",
                ))?;
                Ok(Frame::RstStream {
                    stream: h.stream,
                    code: ErrorCode::from_u32(code),
                })
            }
            kind::SETTINGS => {
                need_zero("a SETTINGS frame on a stream")?;
                let ack = h.has(flag::ACK);
                if ack && !payload.is_empty() {
                    return Err(conn(
                        FrameSizeError,
                        "a SETTINGS acknowledgement with a payload",
                    ));
                }
                if !payload.len().is_multiple_of(6) {
                    return Err(conn(
                        FrameSizeError,
                        "a SETTINGS frame whose length is not a multiple of 6",
                    ));
                }
                Ok(Frame::Settings {
                    ack,
                    params: payload,
                })
            }
            kind::PUSH_PROMISE => Ok(Frame::PushPromise { stream: h.stream }),
            kind::PING => {
                need_zero("a PING frame on a stream")?;
                let payload: [u8; 8] = payload
                    .try_into()
                    .map_err(|_| conn(FrameSizeError, "a PING frame whose length is not 8"))?;
                Ok(Frame::Ping {
                    ack: h.has(flag::ACK),
                    payload,
                })
            }
            kind::GOAWAY => {
                need_zero("a GOAWAY frame on a stream")?;
                if payload.len() < 8 {
                    return Err(conn(FrameSizeError, "a GOAWAY frame shorter than 8 bytes"));
                }
                let last = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                let code = u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]);
                Ok(Frame::GoAway {
                    last_stream: last & MAX_WINDOW,
                    code: ErrorCode::from_u32(code),
                    debug: &payload[8..],
                })
            }
            kind::WINDOW_UPDATE => {
                let inc = four(payload).ok_or(conn(
                    FrameSizeError,
                    "a WINDOW_UPDATE frame whose length is not 4",
                ))? & MAX_WINDOW;
                if inc == 0 {
                    return Err(if h.stream == 0 {
                        conn(ProtocolError, "a WINDOW_UPDATE of 0 on the connection")
                    } else {
                        H2Error::stream(h.stream, ProtocolError, "a WINDOW_UPDATE of 0")
                    });
                }
                Ok(Frame::WindowUpdate {
                    stream: h.stream,
                    increment: inc,
                })
            }
            kind::CONTINUATION => {
                need_stream("a CONTINUATION frame on stream 0")?;
                Ok(Frame::Continuation {
                    stream: h.stream,
                    block: payload,
                    end_headers: h.has(flag::END_HEADERS),
                })
            }
            other => Ok(Frame::Unknown { kind: other }),
        }
    }

    /// The `(identifier, value)` pairs of a SETTINGS frame's parameters.
    pub fn settings(params: &[u8]) -> impl Iterator<Item = (u16, u32)> + '_ {
        params.chunks_exact(6).map(|p| {
            (
                u16::from_be_bytes([p[0], p[1]]),
                u32::from_be_bytes([p[2], p[3], p[4], p[5]]),
            )
        })
    }
}

fn four(p: &[u8]) -> Option<u32> {
    let b: [u8; 4] = p.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

/// The payload without its padding (PADDED flag): the pad length must be
/// less than the payload's length (§6.1, §6.2).
fn unpad<'a>(h: &FrameHeader, payload: &'a [u8]) -> Result<&'a [u8], H2Error> {
    if !h.has(flag::PADDED) {
        return Ok(payload);
    }
    let Some((&pad, rest)) = payload.split_first() else {
        return Err(H2Error::connection(
            ErrorCode::FrameSizeError,
            "a padded frame without its pad length",
        ));
    };
    let pad = usize::from(pad);
    if pad > rest.len() {
        return Err(H2Error::connection(
            ErrorCode::ProtocolError,
            "padding as long as the frame's payload or longer",
        ));
    }
    Ok(&rest[..rest.len() - pad])
}

/// Append a frame header and its payload.
pub fn encode_frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    FrameHeader {
        len: payload.len() as u32,
        kind,
        flags,
        stream,
    }
    .encode(out);
    out.extend_from_slice(payload);
}

/// Append a SETTINGS frame with these parameters.
pub fn encode_settings(out: &mut Vec<u8>, params: &[(u16, u32)]) {
    FrameHeader {
        len: (params.len() * 6) as u32,
        kind: kind::SETTINGS,
        flags: 0,
        stream: 0,
    }
    .encode(out);
    for (id, value) in params {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    }
}

/// Append a SETTINGS acknowledgement.
pub fn encode_settings_ack(out: &mut Vec<u8>) {
    encode_frame(out, kind::SETTINGS, flag::ACK, 0, &[]);
}

/// Append a PING (or its acknowledgement).
pub fn encode_ping(out: &mut Vec<u8>, ack: bool, payload: [u8; 8]) {
    encode_frame(
        out,
        kind::PING,
        if ack { flag::ACK } else { 0 },
        0,
        &payload,
    );
}

/// Append a GOAWAY.
pub fn encode_goaway(out: &mut Vec<u8>, last_stream: u32, code: ErrorCode, debug: &[u8]) {
    FrameHeader {
        len: (8 + debug.len()) as u32,
        kind: kind::GOAWAY,
        flags: 0,
        stream: 0,
    }
    .encode(out);
    out.extend_from_slice(&(last_stream & MAX_WINDOW).to_be_bytes());
    out.extend_from_slice(&code.to_u32().to_be_bytes());
    out.extend_from_slice(debug);
}

/// Append a RST_STREAM.
pub fn encode_rst_stream(out: &mut Vec<u8>, stream: u32, code: ErrorCode) {
    encode_frame(
        out,
        kind::RST_STREAM,
        0,
        stream,
        &code.to_u32().to_be_bytes(),
    );
}

/// Append a WINDOW_UPDATE.
pub fn encode_window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    encode_frame(
        out,
        kind::WINDOW_UPDATE,
        0,
        stream,
        &(increment & MAX_WINDOW).to_be_bytes(),
    );
}

/// Append a DATA frame's header (its `len` bytes of data follow).
pub fn encode_data_header(out: &mut Vec<u8>, stream: u32, len: usize, end_stream: bool) {
    FrameHeader {
        len: len as u32,
        kind: kind::DATA,
        flags: if end_stream { flag::END_STREAM } else { 0 },
        stream,
    }
    .encode(out);
}

/// Append a header block as a HEADERS frame and as many CONTINUATION
/// frames as `max_frame` (the peer's `SETTINGS_MAX_FRAME_SIZE`) requires.
pub fn encode_header_block(
    out: &mut Vec<u8>,
    stream: u32,
    block: &[u8],
    end_stream: bool,
    max_frame: usize,
) {
    let max_frame = max_frame.max(DEFAULT_MAX_FRAME_SIZE as usize);
    let mut chunks = block.chunks(max_frame).peekable();
    let first = chunks.next().unwrap_or(&[]);
    let mut flags = if end_stream { flag::END_STREAM } else { 0 };
    if chunks.peek().is_none() {
        flags |= flag::END_HEADERS;
    }
    encode_frame(out, kind::HEADERS, flags, stream, first);
    while let Some(chunk) = chunks.next() {
        let flags = if chunks.peek().is_none() {
            flag::END_HEADERS
        } else {
            0
        };
        encode_frame(out, kind::CONTINUATION, flags, stream, chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Frame<'_>, H2Error> {
        let h = FrameHeader::parse(bytes[..9].try_into().unwrap());
        assert_eq!(h.len as usize, bytes.len() - 9, "test frame's length");
        Frame::parse(&h, &bytes[9..])
    }

    #[test]
    fn every_frame_the_server_encodes_parses_back() {
        let mut out = Vec::new();
        encode_settings(&mut out, &[(setting::MAX_CONCURRENT_STREAMS, 100)]);
        let f = parse(&out).unwrap();
        let Frame::Settings { ack: false, params } = f else {
            panic!("{f:?}")
        };
        assert_eq!(Frame::settings(params).collect::<Vec<_>>(), [(3, 100)]);

        for (bytes, want) in [
            (
                {
                    let mut o = Vec::new();
                    encode_ping(&mut o, true, *b"12345678");
                    o
                },
                Frame::Ping {
                    ack: true,
                    payload: *b"12345678",
                },
            ),
            (
                {
                    let mut o = Vec::new();
                    encode_goaway(&mut o, 7, ErrorCode::EnhanceYourCalm, b"calm");
                    o
                },
                Frame::GoAway {
                    last_stream: 7,
                    code: ErrorCode::EnhanceYourCalm,
                    debug: b"calm",
                },
            ),
            (
                {
                    let mut o = Vec::new();
                    encode_rst_stream(&mut o, 3, ErrorCode::Cancel);
                    o
                },
                Frame::RstStream {
                    stream: 3,
                    code: ErrorCode::Cancel,
                },
            ),
            (
                {
                    let mut o = Vec::new();
                    encode_window_update(&mut o, 0, 1000);
                    o
                },
                Frame::WindowUpdate {
                    stream: 0,
                    increment: 1000,
                },
            ),
        ] {
            assert_eq!(parse(&bytes).unwrap(), want);
        }
    }

    #[test]
    fn a_header_block_larger_than_a_frame_is_split_into_continuations() {
        let block = vec![0x82; 40_000];
        let mut out = Vec::new();
        encode_header_block(&mut out, 1, &block, true, 16_384);
        let mut at = 0;
        let mut kinds = Vec::new();
        let mut joined = Vec::new();
        while at < out.len() {
            let h = FrameHeader::parse(out[at..at + 9].try_into().unwrap());
            let end = at + 9 + h.len as usize;
            match Frame::parse(&h, &out[at + 9..end]).unwrap() {
                Frame::Headers {
                    block,
                    end_stream,
                    end_headers,
                    ..
                } => {
                    assert!(end_stream && !end_headers);
                    joined.extend_from_slice(block);
                }
                Frame::Continuation {
                    block, end_headers, ..
                } => {
                    joined.extend_from_slice(block);
                    kinds.push(end_headers);
                }
                f => panic!("{f:?}"),
            }
            at = end;
        }
        assert_eq!(kinds, [false, true]);
        assert_eq!(joined, block);
    }

    #[test]
    fn padding_is_removed_and_padding_too_long_is_a_protocol_error() {
        // DATA, PADDED, stream 1: pad length 2, "hi", two zero bytes.
        let f = [0, 0, 5, 0, 0x8, 0, 0, 0, 1, 2, b'h', b'i', 0, 0];
        assert_eq!(
            parse(&f).unwrap(),
            Frame::Data {
                stream: 1,
                data: b"hi",
                end_stream: false,
                flow_len: 5
            }
        );
        let f = [0, 0, 3, 0, 0x8, 0, 0, 0, 1, 3, 0, 0];
        assert_eq!(parse(&f).unwrap_err().code, ErrorCode::ProtocolError);
        // HEADERS whose pad length is the payload's length.
        let f = [0, 0, 2, 1, 0xc, 0, 0, 0, 1, 2, 0x82];
        assert_eq!(parse(&f).unwrap_err().code, ErrorCode::ProtocolError);
    }

    #[test]
    fn priority_fields_are_skipped_and_a_self_dependency_is_flagged_or_refused() {
        // HEADERS with PRIORITY and END_HEADERS on stream 3, depending on 1.
        let f = [0, 0, 6, 1, 0x24, 0, 0, 0, 3, 0, 0, 0, 1, 16, 0x82];
        assert_eq!(
            parse(&f).unwrap(),
            Frame::Headers {
                stream: 3,
                block: &[0x82],
                end_stream: false,
                end_headers: true,
                self_dependent: false
            }
        );
        let f = [0, 0, 6, 1, 0x24, 0, 0, 0, 3, 0, 0, 0, 3, 16, 0x82];
        assert!(matches!(
            parse(&f).unwrap(),
            Frame::Headers {
                self_dependent: true,
                ..
            }
        ));
        let f = [0, 0, 5, 2, 0, 0, 0, 0, 3, 0, 0, 0, 3, 16];
        assert_eq!(
            parse(&f).unwrap_err(),
            H2Error::stream(
                3,
                ErrorCode::ProtocolError,
                "a stream that depends on itself"
            )
        );
    }

    #[test]
    fn frames_of_the_wrong_size_or_on_the_wrong_stream_are_refused_with_their_codes() {
        let cases: [(&[u8], ErrorCode, Option<u32>); 9] = [
            // DATA on stream 0.
            (&[0, 0, 0, 0, 0, 0, 0, 0, 0], ErrorCode::ProtocolError, None),
            // SETTINGS of 5 bytes.
            (
                &[0, 0, 5, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                ErrorCode::FrameSizeError,
                None,
            ),
            // SETTINGS ack with a payload.
            (
                &[0, 0, 6, 4, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
                ErrorCode::FrameSizeError,
                None,
            ),
            // SETTINGS on stream 1.
            (&[0, 0, 0, 4, 0, 0, 0, 0, 1], ErrorCode::ProtocolError, None),
            // PING of 7 bytes.
            (
                &[0, 0, 7, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7],
                ErrorCode::FrameSizeError,
                None,
            ),
            // RST_STREAM of 3 bytes.
            (
                &[0, 0, 3, 3, 0, 0, 0, 0, 1, 0, 0, 0],
                ErrorCode::FrameSizeError,
                None,
            ),
            // WINDOW_UPDATE of 0 on stream 1: a stream error.
            (
                &[0, 0, 4, 8, 0, 0, 0, 0, 1, 0, 0, 0, 0],
                ErrorCode::ProtocolError,
                Some(1),
            ),
            // PRIORITY of 4 bytes: a stream error.
            (
                &[0, 0, 4, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0],
                ErrorCode::FrameSizeError,
                Some(1),
            ),
            // GOAWAY of 4 bytes.
            (
                &[0, 0, 4, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                ErrorCode::FrameSizeError,
                None,
            ),
        ];
        for (bytes, code, stream) in cases {
            let e = parse(bytes).unwrap_err();
            assert_eq!((e.code, e.stream), (code, stream), "{bytes:02x?}: {e}");
        }
    }

    #[test]
    fn an_unknown_frame_type_parses_as_unknown() {
        let f = [0, 0, 2, 0xfa, 0xff, 0, 0, 0, 9, 1, 2];
        assert_eq!(parse(&f).unwrap(), Frame::Unknown { kind: 0xfa });
    }
}
