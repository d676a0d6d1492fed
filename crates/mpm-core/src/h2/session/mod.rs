//! One HTTP/2 connection, server side, without I/O (RFC 9113 §5, §6):
//! bytes in → [`Event`]s; responses in → bytes out. See the
//! [module docs](super) for how a driver runs it.
//!
//! One [`Session`], its methods split by concern (every submodule adds an
//! `impl Session` block over the fields declared here):
//!
//! - `inbound`: the client's bytes: preface, frame reassembly, the
//!   dispatch of each frame type, SETTINGS, request bodies (DATA) and
//!   RST_STREAM.
//! - `headers`: header blocks (HEADERS, CONTINUATION): opening streams,
//!   HPACK decoding, request heads and trailers, refused requests.
//! - `stream`: the stream table and its states (§5.1): closing, resets
//!   (ours and the driver's), the recently closed streams.
//! - `flow`: flow control both ways (§5.2, §6.9): WINDOW_UPDATE received,
//!   the windows given back as the handler consumes, send capacity.
//! - `output`: responses in, bytes out: header blocks encoded, the output
//!   batch (control frames, heads, DATA a stream at a time as the windows
//!   allow).
//! - `close`: connection errors and the graceful shutdown (GOAWAY).
//! - `limits`: the bounds against abuse: the reset rate (CVE-2023-44487)
//!   and the control-frame backlog.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use http::HeaderMap;

use super::config::H2Config;
use super::error::{ErrorCode, H2Error};
use super::frame::{self, setting, MAX_WINDOW};
use super::hpack::{self};
use super::StreamMap;
use crate::h1::{HeadError, RequestHead};

mod close;
mod flow;
mod headers;
mod inbound;
mod limits;
mod output;
mod stream;

use headers::Block;
use stream::Stream;

/// What happened on the connection, for the driver to act on. Drain them
/// with [`Session::poll_event`] after each [`Session::receive`] and after
/// writing output.
#[derive(Debug)]
pub enum Event {
    /// A request head: serve it. `end_stream`: no body follows;
    /// otherwise [`Event::Data`] (and maybe [`Event::Trailers`]) bring it.
    /// The head's `version` is `HTTP/2.0`; its `uri` is the `:path`
    /// (origin-form, or authority-form for CONNECT), `host` is set from
    /// `:authority`, and `framing` is `Length(n)` with a
    /// `content-length`, `None` without a body, and `Chunked` for a body
    /// delimited by the end of the stream.
    Request {
        /// The stream.
        stream: u32,
        /// The request head.
        head: RequestHead,
        /// `:scheme` (`None` for CONNECT).
        scheme: Option<String>,
        /// No body follows.
        end_stream: bool,
    },
    /// Request body bytes. Call [`Session::consume`] once the handler has
    /// read them, so the client may send more.
    Data {
        /// The stream.
        stream: u32,
        /// The bytes.
        data: Bytes,
        /// The body ends here.
        end_stream: bool,
    },
    /// The request's trailers; the body ends here.
    Trailers {
        /// The stream.
        stream: u32,
        /// The trailer fields.
        headers: HeaderMap,
    },
    /// A request the server's limits refuse: answer with this error's
    /// status (414, 431) and its page. Its body, if any, is discarded.
    Refused {
        /// The stream.
        stream: u32,
        /// The status and reason.
        error: HeadError,
    },
    /// The stream is gone (the client reset it, or it broke a rule and we
    /// did): stop its handler's output; `send_*` on it fail from now on.
    Reset {
        /// The stream.
        stream: u32,
        /// The code the RST_STREAM carried.
        code: ErrorCode,
    },
    /// A stream whose [`Session::send_data`] took less than offered has
    /// room again.
    Writable {
        /// The stream.
        stream: u32,
    },
    /// The stream's response is complete (its last frame is in the
    /// output).
    Finished {
        /// The stream.
        stream: u32,
    },
    /// The client sent GOAWAY: no new stream will come; the open ones
    /// may finish.
    GoAway {
        /// The client's error code (`NO_ERROR` for a plain close).
        code: ErrorCode,
    },
    /// The connection failed: we queued GOAWAY with this error. Write the
    /// output, then close ([`Session::is_finished`]).
    ConnectionError(H2Error),
}

/// Why [`Session::send_response`] and its kin refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The stream is closed or reset (or never existed): drop the response.
    StreamGone,
    /// The response head was already sent (or not yet, for data).
    OutOfOrder,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SendError::StreamGone => "the HTTP/2 stream is closed or was reset",
            SendError::OutOfOrder => "the HTTP/2 response parts were sent out of order",
        })
    }
}

impl std::error::Error for SendError {}

/// What the session is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The client preface: this many of its bytes matched.
    Preface(usize),
    /// The client's first SETTINGS.
    FirstSettings,
    /// Frames.
    Frames,
    /// A connection error was sent: input is ignored.
    Failed,
}

/// The graceful shutdown's progress (RFC 9113 §6.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shutdown {
    None,
    /// GOAWAY(2^31 - 1) and a PING sent; the final GOAWAY follows its ack.
    Announced,
    /// The final GOAWAY sent with this last stream id.
    Final(u32),
}

/// One HTTP/2 connection's protocol state. See the [module docs](super).
#[derive(Debug)]
pub struct Session {
    cfg: H2Config,
    phase: Phase,
    /// A frame's bytes received in part.
    partial: Vec<u8>,
    decoder: hpack::Decoder,
    encoder: hpack::Encoder,
    streams: StreamMap<Stream>,
    /// The highest stream id the client opened.
    last_opened: u32,
    /// The highest stream id handed to the driver (GOAWAY's last id).
    last_processed: u32,
    /// Recently closed streams: `(id, reset by us)`.
    closed: VecDeque<(u32, bool)>,
    block: Option<Block>,
    /// Our settings were acknowledged.
    settings_acked: bool,
    /// The client's SETTINGS_INITIAL_WINDOW_SIZE.
    peer_window: i64,
    /// The client's SETTINGS_MAX_FRAME_SIZE.
    peer_max_frame: usize,
    conn_send_window: i64,
    conn_recv_window: i64,
    conn_to_update: u32,
    /// Control frames owed (acks, resets, window updates, GOAWAY).
    ctrl: Vec<u8>,
    /// Header blocks encoded, in HPACK order, and RST_STREAMs after them.
    heads: Vec<u8>,
    /// The bytes of RST_STREAM frames in `heads`.
    resets_owed: usize,
    out: Vec<u8>,
    out_pos: usize,
    /// Streams with bytes or an end to frame, round robin.
    sendable: VecDeque<u32>,
    events: VecDeque<Event>,
    shutdown: Shutdown,
    peer_goaway: bool,
    requests: u32,
    reset_tokens: f64,
    reset_clock: Option<Instant>,
}

impl Session {
    /// A session for a connection whose client starts with the preface
    /// (TLS with ALPN `h2`, or cleartext prior knowledge). Our SETTINGS
    /// (and the connection window's first WINDOW_UPDATE) are queued at
    /// once: the server's preface.
    pub fn new(cfg: &H2Config) -> Session {
        let mut s = Session {
            cfg: cfg.clone(),
            phase: Phase::Preface(0),
            partial: Vec::new(),
            decoder: hpack::Decoder::new(hpack::DEFAULT_TABLE_SIZE),
            encoder: hpack::Encoder::with_limit(cfg.response_table_size as usize),
            streams: StreamMap::default(),
            last_opened: 0,
            last_processed: 0,
            closed: VecDeque::new(),
            block: None,
            settings_acked: false,
            peer_window: 65_535,
            peer_max_frame: frame::DEFAULT_MAX_FRAME_SIZE as usize,
            conn_send_window: 65_535,
            conn_recv_window: 65_535,
            conn_to_update: 0,
            ctrl: Vec::new(),
            heads: Vec::new(),
            resets_owed: 0,
            out: Vec::new(),
            out_pos: 0,
            sendable: VecDeque::new(),
            events: VecDeque::new(),
            shutdown: Shutdown::None,
            peer_goaway: false,
            requests: 0,
            reset_tokens: f64::from(cfg.reset_burst),
            reset_clock: None,
        };
        let mut params = vec![
            (setting::MAX_CONCURRENT_STREAMS, cfg.max_concurrent_streams),
            (setting::ENABLE_PUSH, 0),
            (setting::MAX_HEADER_LIST_SIZE, cfg.max_header_list),
        ];
        if cfg.header_table_size != 4096 {
            params.push((setting::HEADER_TABLE_SIZE, cfg.header_table_size));
        }
        if cfg.window_size != 65_535 {
            params.push((
                setting::INITIAL_WINDOW_SIZE,
                cfg.window_size.min(MAX_WINDOW),
            ));
        }
        if cfg.max_frame_size != frame::DEFAULT_MAX_FRAME_SIZE {
            params.push((
                setting::MAX_FRAME_SIZE,
                cfg.max_frame_size
                    .clamp(frame::DEFAULT_MAX_FRAME_SIZE, frame::MAX_MAX_FRAME_SIZE),
            ));
        }
        frame::encode_settings(&mut s.ctrl, &params);
        let conn = cfg.connection_window();
        if conn > 65_535 {
            frame::encode_window_update(&mut s.ctrl, 0, conn - 65_535);
            s.conn_recv_window = i64::from(conn);
        }
        s
    }

    /// A session for a connection upgraded from HTTP/1.1 (`Upgrade: h2c`,
    /// RFC 7540 §3.2): `settings` is the `HTTP2-Settings` field's value
    /// (base64url SETTINGS payload, applied as the client's settings), and
    /// stream 1 is the upgraded request, already read: its response goes
    /// out with [`Session::send_response`] on stream 1. The client's
    /// preface still comes first.
    pub fn upgraded(cfg: &H2Config, settings: &[u8]) -> Result<Session, H2Error> {
        let mut s = Session::new(cfg);
        let payload = base64url(settings).ok_or(H2Error::connection(
            ErrorCode::ProtocolError,
            "an HTTP2-Settings field that is not base64url",
        ))?;
        if !payload.len().is_multiple_of(6) {
            return Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "an HTTP2-Settings field whose length is not a multiple of 6",
            ));
        }
        s.apply_settings(&payload)?;
        let mut st = Stream::new(cfg.window_size, s.peer_window);
        st.remote_closed = true;
        st.delivered = true;
        s.streams.insert(1, st);
        s.last_opened = 1;
        s.last_processed = 1;
        s.requests = 1;
        Ok(s)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// True when the connection is over: after a connection error or a
    /// GOAWAY (ours or the client's) with no stream left, once the output
    /// is written. Close the socket then.
    pub fn is_finished(&self) -> bool {
        let done = self.phase == Phase::Failed
            || ((matches!(self.shutdown, Shutdown::Final(_)) || self.peer_goaway)
                && self.streams.is_empty());
        done && !self.wants_write_anything()
    }

    /// True when no stream is open and no frame is half received: the
    /// keep-alive timeout applies (an idle HTTP/2 connection holds no
    /// buffer).
    pub fn is_idle(&self) -> bool {
        self.streams.is_empty() && self.partial.is_empty() && self.block.is_none()
    }

    /// True when response bytes wait but no window lets any out: the
    /// client reads nothing (a zero-window stall). The driver's send
    /// timeout applies; when it passes, [`Session::abort`] with
    /// `FLOW_CONTROL_ERROR` or close.
    pub fn is_stalled(&self) -> bool {
        !self.wants_write()
            && self
                .streams
                .values()
                .any(|st| !st.pending.is_empty() && !st.local_closed)
    }

    /// Free the buffers an idle connection does not need (the output
    /// batch, a frame's partial bytes, the HPACK decoder's scratch, the
    /// room the stream table, the queues and the HPACK tables' entry
    /// lists keep from busier moments): call it when
    /// [`Session::is_idle`] and nothing waits to be written, so that an
    /// idle HTTP/2 connection holds its HPACK tables' entries and little
    /// else (`benches/h2/idle_heap.rs` counts it). A no-op otherwise.
    pub fn release_buffers(&mut self) {
        if !self.is_idle() || self.wants_write() {
            return;
        }
        self.out = Vec::new();
        self.out_pos = 0;
        self.ctrl = Vec::new();
        self.heads = Vec::new();
        self.partial = Vec::new();
        self.decoder.release_scratch();
        self.encoder.release_spare();
        self.streams.shrink_to_fit();
        self.sendable.shrink_to_fit();
        self.events.shrink_to_fit();
        self.closed.shrink_to_fit();
    }

    /// Streams open (counted against `H2MaxSessionStreams`).
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// The memory this session holds in buffers, in bytes (an event
    /// loop's budget counts it): the byte buffers, and the room of the
    /// stream table and the send queue (which a busy moment grows and
    /// [`Session::release_buffers`] gives back).
    pub fn buffered(&self) -> usize {
        use std::mem::size_of;
        self.streams.capacity() * size_of::<(u32, Stream)>()
            + self.sendable.capacity() * size_of::<u32>()
            + self.partial.capacity()
            + self.out.capacity()
            + self.ctrl.capacity()
            + self.heads.capacity()
            + self.block.as_ref().map_or(0, |b| b.buf.capacity())
            + self
                .streams
                .values()
                .map(|st| st.pending.capacity())
                .sum::<usize>()
    }
}

/// Decode base64url without padding (RFC 4648 §5), as `HTTP2-Settings`
/// is sent; trailing `=` are tolerated.
fn base64url(s: &[u8]) -> Option<Vec<u8>> {
    let s = s.trim_ascii();
    let s = s
        .strip_suffix(b"==")
        .or_else(|| s.strip_suffix(b"="))
        .unwrap_or(s);
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in s {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}
