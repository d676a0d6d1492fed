//! One HTTP/2 connection, server side, without I/O (RFC 9113 §5, §6):
//! bytes in → [`Event`]s; responses in → bytes out. See the
//! [module docs](super) for how a driver runs it.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::config::H2Config;
use super::error::{ErrorCode, H2Error};
use super::frame::{
    self, flag, kind, setting, Frame, FrameHeader, HEADER_LEN, MAX_WINDOW, PREFACE,
};
use super::hpack::{self, Indexing};
use super::request::{content_length, Collector, Refusal};
use crate::h1::{HeadError, RequestHead};

/// The PING payload of a graceful shutdown's first step.
const SHUTDOWN_PING: [u8; 8] = *b"mpm-stop";

/// Streams remembered after they closed, to tell a late frame on a
/// closed stream (STREAM_CLOSED, or ignored when we reset it) from a
/// stream id the client skipped (PROTOCOL_ERROR when reused).
const REMEMBER_CLOSED: usize = 128;

/// What [`Session::output`] gathers at most per call, when data waits.
const FILL_TARGET: usize = 64 * 1024;

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

/// What a header block being received is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockFor {
    /// A new request on its stream.
    Request,
    /// Trailers of an open stream.
    Trailers,
    /// Decoded to keep HPACK in step, then dropped (a refused or ignored
    /// stream); with the stream error to send, if any.
    Discard(Option<(ErrorCode, &'static str)>),
}

#[derive(Debug)]
struct Block {
    stream: u32,
    buf: Vec<u8>,
    frames: u32,
    end_stream: bool,
    purpose: BlockFor,
}

/// One stream's state (RFC 9113 §5.1); a closed stream is not kept.
#[derive(Debug)]
struct Stream {
    /// The client has ended its side (END_STREAM received).
    remote_closed: bool,
    /// Our response's last frame is in the output.
    local_closed: bool,
    /// The request was handed to the driver (Request or Refused).
    delivered: bool,
    /// Request body bytes are dropped, not handed out (a refused request).
    discard_body: bool,
    /// What the client may still send on the stream.
    recv_window: i64,
    /// Body bytes handed out and not yet consumed.
    unconsumed: u32,
    /// Consumed bytes not yet given back by WINDOW_UPDATE.
    to_update: u32,
    content_length: Option<u64>,
    received: u64,
    /// What we may still send.
    send_window: i64,
    /// The response head is sent.
    head_sent: bool,
    /// Response bytes waiting to be framed.
    pending: VecDeque<u8>,
    /// END_STREAM follows the pending bytes (and the trailers, if any).
    end_pending: bool,
    trailers: Option<HeaderMap>,
    /// In the queue of streams with something to frame.
    queued: bool,
    /// `send_data` took less than offered: tell the driver when there is
    /// room.
    wants_room: bool,
}

impl Stream {
    fn new(recv_window: u32, send_window: i64) -> Self {
        Stream {
            remote_closed: false,
            local_closed: false,
            delivered: false,
            discard_body: false,
            recv_window: i64::from(recv_window),
            unconsumed: 0,
            to_update: 0,
            content_length: None,
            received: 0,
            send_window,
            head_sent: false,
            pending: VecDeque::new(),
            end_pending: false,
            trailers: None,
            queued: false,
            wants_room: false,
        }
    }
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
    streams: HashMap<u32, Stream>,
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
    /// Header blocks encoded, in HPACK order.
    heads: Vec<u8>,
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
            encoder: hpack::Encoder::new(),
            streams: HashMap::new(),
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

    // ---------------------------------------------------------------
    // Input

    /// Take bytes read from the client; `now` is the time of the read
    /// (rates are counted with it). Every byte is used (a frame received
    /// in part is kept, at most one frame's worth). Then drain
    /// [`Session::poll_event`] and write [`Session::output`].
    pub fn receive(&mut self, mut input: &[u8], now: Instant) {
        while !input.is_empty() {
            match self.phase {
                Phase::Failed => return,
                Phase::Preface(matched) => {
                    let n = (PREFACE.len() - matched).min(input.len());
                    if input[..n] != PREFACE[matched..matched + n] {
                        self.fail(H2Error::connection(
                            ErrorCode::ProtocolError,
                            "the connection did not start with the HTTP/2 preface",
                        ));
                        return;
                    }
                    input = &input[n..];
                    self.phase = if matched + n == PREFACE.len() {
                        Phase::FirstSettings
                    } else {
                        Phase::Preface(matched + n)
                    };
                }
                Phase::FirstSettings | Phase::Frames => {
                    input = self.take_frames(input, now);
                }
            }
        }
    }

    /// Frames out of `partial` + `input`; returns what is left of input
    /// (empty unless the session failed).
    fn take_frames<'a>(&mut self, mut input: &'a [u8], now: Instant) -> &'a [u8] {
        if !self.partial.is_empty() {
            // Complete the frame held in part.
            let need_header = HEADER_LEN.saturating_sub(self.partial.len());
            let take = need_header.min(input.len());
            self.partial.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.partial.len() < HEADER_LEN {
                return input;
            }
            let h = FrameHeader::parse(self.partial[..HEADER_LEN].try_into().unwrap_or(&[0; 9]));
            if let Err(e) = self.check_len(&h) {
                self.fail(e);
                return &[];
            }
            let total = HEADER_LEN + h.len as usize;
            let take = (total - self.partial.len()).min(input.len());
            self.partial.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.partial.len() < total {
                return input;
            }
            let bytes = std::mem::take(&mut self.partial);
            self.frame(&h, &bytes[HEADER_LEN..], now);
            self.partial = bytes;
            self.partial.clear();
            if self.partial.capacity() > 2 * HEADER_LEN + frame::DEFAULT_MAX_FRAME_SIZE as usize {
                self.partial = Vec::new();
            }
        }
        while !input.is_empty() && self.phase != Phase::Failed {
            if input.len() < HEADER_LEN {
                self.partial.extend_from_slice(input);
                return &[];
            }
            let h = FrameHeader::parse(input[..HEADER_LEN].try_into().unwrap_or(&[0; 9]));
            if let Err(e) = self.check_len(&h) {
                self.fail(e);
                return &[];
            }
            let total = HEADER_LEN + h.len as usize;
            if input.len() < total {
                self.partial.extend_from_slice(input);
                return &[];
            }
            self.frame(&h, &input[HEADER_LEN..total], now);
            input = &input[total..];
        }
        if self.phase == Phase::Failed {
            return &[];
        }
        input
    }

    fn check_len(&self, h: &FrameHeader) -> Result<(), H2Error> {
        let max = self.cfg.max_frame_size.max(frame::DEFAULT_MAX_FRAME_SIZE);
        if h.len > max {
            return Err(H2Error::connection(
                ErrorCode::FrameSizeError,
                "a frame larger than SETTINGS_MAX_FRAME_SIZE",
            ));
        }
        Ok(())
    }

    /// One whole frame.
    fn frame(&mut self, h: &FrameHeader, payload: &[u8], now: Instant) {
        if self.phase == Phase::FirstSettings {
            if h.kind != kind::SETTINGS || h.flags & flag::ACK != 0 {
                self.fail(H2Error::connection(
                    ErrorCode::ProtocolError,
                    "the client's first frame is not SETTINGS",
                ));
                return;
            }
            self.phase = Phase::Frames;
        }
        if let Some(b) = &self.block {
            if h.kind != kind::CONTINUATION || h.stream != b.stream {
                self.fail(H2Error::connection(
                    ErrorCode::ProtocolError,
                    "a frame other than CONTINUATION inside a header block",
                ));
                return;
            }
        }
        let result = Frame::parse(h, payload).and_then(|f| self.on_frame(f, now));
        if let Err(e) = result {
            match e.stream {
                Some(id) => self.reset_stream(id, e.code),
                None => self.fail(e),
            }
        }
    }

    fn on_frame(&mut self, f: Frame<'_>, now: Instant) -> Result<(), H2Error> {
        match f {
            Frame::Data {
                stream,
                data,
                end_stream,
                flow_len,
            } => self.on_data(stream, data, end_stream, flow_len),
            Frame::Headers {
                stream,
                block,
                end_stream,
                end_headers,
                self_dependent,
            } => self.on_headers(stream, block, end_stream, end_headers, self_dependent),
            Frame::Continuation {
                stream: _,
                block,
                end_headers,
            } => self.on_continuation(block, end_headers),
            Frame::Priority { .. } | Frame::Unknown { .. } => Ok(()),
            Frame::RstStream { stream, code } => self.on_reset(stream, code, now),
            Frame::Settings { ack: true, .. } => {
                self.settings_acked = true;
                Ok(())
            }
            Frame::Settings { ack: false, params } => {
                self.apply_settings(params)?;
                frame::encode_settings_ack(&mut self.ctrl);
                self.check_backlog()
            }
            Frame::Ping {
                ack: false,
                payload,
            } => {
                frame::encode_ping(&mut self.ctrl, true, payload);
                self.check_backlog()
            }
            Frame::Ping { ack: true, payload } => {
                if payload == SHUTDOWN_PING && self.shutdown == Shutdown::Announced {
                    self.final_goaway();
                }
                Ok(())
            }
            Frame::GoAway { code, .. } => {
                if !self.peer_goaway {
                    self.peer_goaway = true;
                    self.events.push_back(Event::GoAway { code });
                }
                Ok(())
            }
            Frame::WindowUpdate { stream, increment } => self.on_window_update(stream, increment),
            Frame::PushPromise { .. } => Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "a client sent PUSH_PROMISE",
            )),
        }
    }

    fn apply_settings(&mut self, params: &[u8]) -> Result<(), H2Error> {
        for (id, value) in Frame::settings(params) {
            match id {
                setting::HEADER_TABLE_SIZE => self.encoder.set_max_size(value as usize),
                setting::ENABLE_PUSH if value > 1 => {
                    return Err(H2Error::connection(
                        ErrorCode::ProtocolError,
                        "SETTINGS_ENABLE_PUSH other than 0 or 1",
                    ))
                }
                setting::INITIAL_WINDOW_SIZE => {
                    if value > MAX_WINDOW {
                        return Err(H2Error::connection(
                            ErrorCode::FlowControlError,
                            "SETTINGS_INITIAL_WINDOW_SIZE above 2^31 - 1",
                        ));
                    }
                    let delta = i64::from(value) - self.peer_window;
                    self.peer_window = i64::from(value);
                    for (&id, st) in self.streams.iter_mut() {
                        st.send_window += delta;
                        if st.send_window > i64::from(MAX_WINDOW) {
                            return Err(H2Error::connection(
                                ErrorCode::FlowControlError,
                                "SETTINGS_INITIAL_WINDOW_SIZE takes a stream's window past 2^31 - 1",
                            ));
                        }
                        if delta > 0 && st.send_window > 0 && !st.queued && !st.pending.is_empty() {
                            st.queued = true;
                            self.sendable.push_back(id);
                        }
                    }
                }
                setting::MAX_FRAME_SIZE => {
                    if !(frame::DEFAULT_MAX_FRAME_SIZE..=frame::MAX_MAX_FRAME_SIZE).contains(&value)
                    {
                        return Err(H2Error::connection(
                            ErrorCode::ProtocolError,
                            "SETTINGS_MAX_FRAME_SIZE outside 2^14 to 2^24 - 1",
                        ));
                    }
                    self.peer_max_frame = value as usize;
                }
                // MAX_CONCURRENT_STREAMS limits our pushes (we make none);
                // MAX_HEADER_LIST_SIZE is advisory; unknown ids are ignored.
                _ => {}
            }
        }
        Ok(())
    }

    fn on_data(
        &mut self,
        id: u32,
        data: &[u8],
        end_stream: bool,
        flow_len: u32,
    ) -> Result<(), H2Error> {
        if id > self.last_opened {
            return Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "DATA on a stream that was never opened",
            ));
        }
        if i64::from(flow_len) > self.conn_recv_window {
            return Err(H2Error::connection(
                ErrorCode::FlowControlError,
                "DATA beyond the connection's flow-control window",
            ));
        }
        self.conn_recv_window -= i64::from(flow_len);
        let Some(st) = self.streams.get_mut(&id) else {
            // Closed: the window it took is given back at once.
            self.conn_release(flow_len);
            if self.was_reset_by_us(id) {
                return Ok(());
            }
            return Err(H2Error::stream(
                id,
                ErrorCode::StreamClosed,
                "DATA on a closed stream",
            ));
        };
        if st.remote_closed {
            self.conn_release(flow_len);
            return Err(H2Error::stream(
                id,
                ErrorCode::StreamClosed,
                "DATA after the stream's END_STREAM",
            ));
        }
        // Until the client acknowledges our settings it may count on the
        // default window (65535) if ours is smaller.
        let slack = if self.settings_acked {
            0
        } else {
            (65_535 - i64::from(self.cfg.window_size)).max(0)
        };
        if i64::from(flow_len) > st.recv_window + slack {
            self.conn_release(flow_len);
            return Err(H2Error::stream(
                id,
                ErrorCode::FlowControlError,
                "DATA beyond the stream's flow-control window",
            ));
        }
        st.recv_window -= i64::from(flow_len);
        st.received += data.len() as u64;
        if st.content_length.is_some_and(|cl| st.received > cl)
            || (end_stream && st.content_length.is_some_and(|cl| st.received != cl))
        {
            self.conn_release(flow_len);
            return Err(H2Error::stream(
                id,
                ErrorCode::ProtocolError,
                "a request body whose length differs from its content-length",
            ));
        }
        // Padding, and the bytes of a body nobody reads, are given back
        // at once.
        let kept = if st.discard_body {
            0
        } else {
            data.len() as u32
        };
        let release = flow_len - kept;
        st.unconsumed += kept;
        if end_stream {
            st.remote_closed = true;
        }
        let deliver = kept > 0 || (end_stream && !st.discard_body);
        if release > 0 {
            self.consume_inner(id, release, false);
        }
        if deliver {
            self.events.push_back(Event::Data {
                stream: id,
                data: Bytes::copy_from_slice(&data[..kept as usize]),
                end_stream,
            });
        }
        if end_stream {
            self.maybe_close(id);
        }
        Ok(())
    }

    fn on_headers(
        &mut self,
        id: u32,
        block: &[u8],
        end_stream: bool,
        end_headers: bool,
        self_dependent: bool,
    ) -> Result<(), H2Error> {
        if id.is_multiple_of(2) {
            return Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "a client stream with an even id",
            ));
        }
        let purpose = if let Some(st) = self.streams.get(&id) {
            if st.remote_closed {
                BlockFor::Discard(Some((
                    ErrorCode::StreamClosed,
                    "HEADERS after the stream's END_STREAM",
                )))
            } else if !end_stream {
                BlockFor::Discard(Some((
                    ErrorCode::ProtocolError,
                    "a second HEADERS without END_STREAM",
                )))
            } else {
                BlockFor::Trailers
            }
        } else if id <= self.last_opened {
            return Err(if self.closed.iter().any(|&(c, _)| c == id) {
                H2Error::connection(ErrorCode::StreamClosed, "HEADERS on a closed stream")
            } else {
                H2Error::connection(
                    ErrorCode::ProtocolError,
                    "a stream id lower than one already used",
                )
            });
        } else {
            self.last_opened = id;
            if self_dependent {
                BlockFor::Discard(Some((
                    ErrorCode::ProtocolError,
                    "a stream that depends on itself",
                )))
            } else {
                self.open_stream(id, end_stream)
            }
        };
        let b = Block {
            stream: id,
            buf: Vec::new(),
            frames: 0,
            end_stream,
            purpose,
        };
        if end_headers {
            self.header_block(b, block)
        } else {
            if block.len() > self.cfg.max_header_block() {
                return Err(calm("a header block larger than the server accepts"));
            }
            let mut b = b;
            b.buf.extend_from_slice(block);
            self.block = Some(b);
            Ok(())
        }
    }

    /// A new stream's HEADERS: open it, or say why its block is dropped.
    fn open_stream(&mut self, id: u32, end_stream: bool) -> BlockFor {
        let after_goaway = matches!(self.shutdown, Shutdown::Final(last) if id > last);
        if after_goaway || self.peer_goaway {
            // Ignored; its late frames too.
            self.remember_closed(id, true);
            return BlockFor::Discard(None);
        }
        let open = self.streams.len() as u32;
        if open >= self.cfg.max_concurrent_streams {
            return BlockFor::Discard(Some((
                ErrorCode::RefusedStream,
                "more streams than SETTINGS_MAX_CONCURRENT_STREAMS",
            )));
        }
        let mut st = Stream::new(self.cfg.window_size, self.peer_window);
        st.remote_closed = end_stream;
        self.streams.insert(id, st);
        BlockFor::Request
    }

    fn on_continuation(&mut self, block: &[u8], end_headers: bool) -> Result<(), H2Error> {
        let Some(mut b) = self.block.take() else {
            return Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "CONTINUATION without a header block to continue",
            ));
        };
        b.frames += 1;
        if b.frames > self.cfg.max_continuations {
            return Err(calm("more CONTINUATION frames than the server accepts"));
        }
        if b.buf.len() + block.len() > self.cfg.max_header_block() {
            return Err(calm("a header block larger than the server accepts"));
        }
        if end_headers {
            let mut buf = std::mem::take(&mut b.buf);
            buf.extend_from_slice(block);
            self.header_block(b, &buf)
        } else {
            b.buf.extend_from_slice(block);
            self.block = Some(b);
            Ok(())
        }
    }

    /// A whole header block: decode it (always: the HPACK table must stay
    /// in step) and act on what it is for.
    fn header_block(&mut self, b: Block, block: &[u8]) -> Result<(), H2Error> {
        let limits = &self.cfg.limits;
        let mut fields = match b.purpose {
            BlockFor::Trailers => Collector::trailers(),
            _ => Collector::request(),
        };
        let keep = !matches!(b.purpose, BlockFor::Discard(_));
        let decoded = self
            .decoder
            .decode(block, self.cfg.max_header_list as usize, |n, v, _| {
                if keep {
                    fields.field(n, v, limits)
                }
            })
            .map_err(|_| {
                H2Error::connection(
                    ErrorCode::CompressionError,
                    "a header block HPACK cannot decode",
                )
            })?;
        let id = b.stream;
        match b.purpose {
            BlockFor::Discard(None) => Ok(()),
            BlockFor::Discard(Some((code, reason))) => Err(H2Error::stream(id, code, reason)),
            BlockFor::Trailers => {
                let headers = fields.finish_trailers().map_err(|_| {
                    H2Error::stream(id, ErrorCode::ProtocolError, "malformed trailers")
                })?;
                let Some(st) = self.streams.get_mut(&id) else {
                    return Ok(());
                };
                if st.content_length.is_some_and(|cl| st.received != cl) {
                    return Err(H2Error::stream(
                        id,
                        ErrorCode::ProtocolError,
                        "a request body whose length differs from its content-length",
                    ));
                }
                st.remote_closed = true;
                if !st.discard_body {
                    self.events.push_back(Event::Trailers {
                        stream: id,
                        headers,
                    });
                }
                self.maybe_close(id);
                Ok(())
            }
            BlockFor::Request => {
                if decoded.over_limit {
                    self.deliver_refusal(
                        id,
                        HeadError {
                            status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                            reason: "the request's header list is larger than the server accepts",
                            allow: None,
                            request_line: None,
                        },
                    );
                    return Ok(());
                }
                match fields.finish_request(b.end_stream, limits) {
                    Ok((head, scheme)) => {
                        let cl = content_length(&head.headers).ok().flatten();
                        if let Some(st) = self.streams.get_mut(&id) {
                            st.content_length = cl;
                            st.delivered = true;
                        }
                        self.count_request(id);
                        self.events.push_back(Event::Request {
                            stream: id,
                            head,
                            scheme,
                            end_stream: b.end_stream,
                        });
                        Ok(())
                    }
                    Err(Refusal::Answer(error)) => {
                        self.deliver_refusal(id, error);
                        Ok(())
                    }
                    Err(Refusal::Malformed(reason)) => {
                        Err(H2Error::stream(id, ErrorCode::ProtocolError, reason))
                    }
                }
            }
        }
    }

    fn deliver_refusal(&mut self, id: u32, error: HeadError) {
        if let Some(st) = self.streams.get_mut(&id) {
            st.delivered = true;
            st.discard_body = true;
        }
        self.count_request(id);
        self.events.push_back(Event::Refused { stream: id, error });
    }

    /// A stream handed to the driver: GOAWAY's last id moves, and the
    /// per-connection stream limit (and the id space) may end the
    /// connection gracefully.
    fn count_request(&mut self, id: u32) {
        self.last_processed = self.last_processed.max(id);
        self.requests = self.requests.saturating_add(1);
        let limit_reached = self.cfg.max_requests > 0 && self.requests >= self.cfg.max_requests;
        if (limit_reached || id >= MAX_WINDOW - 1) && !matches!(self.shutdown, Shutdown::Final(_)) {
            self.final_goaway();
        }
    }

    fn on_reset(&mut self, id: u32, code: ErrorCode, now: Instant) -> Result<(), H2Error> {
        if id > self.last_opened {
            return Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "RST_STREAM on a stream that was never opened",
            ));
        }
        let Some(st) = self.remove_stream(id, false) else {
            return Ok(());
        };
        if st.delivered {
            self.events.push_back(Event::Reset { stream: id, code });
        }
        if !st.local_closed {
            // A stream reset before its response finished: work the
            // client asked for and threw away (CVE-2023-44487).
            self.take_reset_token(now)?;
        }
        Ok(())
    }

    fn take_reset_token(&mut self, now: Instant) -> Result<(), H2Error> {
        if let Some(then) = self.reset_clock {
            let secs = now.saturating_duration_since(then).as_secs_f64();
            self.reset_tokens = (self.reset_tokens + secs * f64::from(self.cfg.resets_per_second))
                .min(f64::from(self.cfg.reset_burst));
        }
        self.reset_clock = Some(now);
        if self.reset_tokens < 1.0 {
            return Err(calm(
                "the client resets streams faster than the server allows",
            ));
        }
        self.reset_tokens -= 1.0;
        Ok(())
    }

    fn on_window_update(&mut self, id: u32, inc: u32) -> Result<(), H2Error> {
        if id == 0 {
            self.conn_send_window += i64::from(inc);
            if self.conn_send_window > i64::from(MAX_WINDOW) {
                return Err(H2Error::connection(
                    ErrorCode::FlowControlError,
                    "a WINDOW_UPDATE takes the connection's window past 2^31 - 1",
                ));
            }
            // Every stream with bytes waiting may go on.
            for (&sid, st) in self.streams.iter_mut() {
                if !st.queued && (!st.pending.is_empty() || st.end_pending) {
                    st.queued = true;
                    self.sendable.push_back(sid);
                }
            }
            return Ok(());
        }
        if id > self.last_opened {
            return Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "WINDOW_UPDATE on a stream that was never opened",
            ));
        }
        let Some(st) = self.streams.get_mut(&id) else {
            return Ok(());
        };
        st.send_window += i64::from(inc);
        if st.send_window > i64::from(MAX_WINDOW) {
            return Err(H2Error::stream(
                id,
                ErrorCode::FlowControlError,
                "a WINDOW_UPDATE takes the stream's window past 2^31 - 1",
            ));
        }
        if !st.queued && (!st.pending.is_empty() || st.end_pending) {
            st.queued = true;
            self.sendable.push_back(id);
        }
        Ok(())
    }

    /// Control frames owed past the bound: the client floods without
    /// reading.
    fn check_backlog(&self) -> Result<(), H2Error> {
        if self.ctrl.len() > self.cfg.max_control_backlog {
            return Err(calm(
                "the client sends frames that need an answer faster than it reads the answers",
            ));
        }
        Ok(())
    }

    // ---------------------------------------------------------------
    // Errors and closing

    /// A connection error: GOAWAY with it, and nothing more is read.
    fn fail(&mut self, e: H2Error) {
        if self.phase == Phase::Failed {
            return;
        }
        self.phase = Phase::Failed;
        self.block = None;
        frame::encode_goaway(
            &mut self.ctrl,
            self.last_processed,
            e.code,
            e.reason.as_bytes(),
        );
        // The streams' responses will not be sent.
        let ids: Vec<u32> = self.streams.keys().copied().collect();
        for id in ids {
            if let Some(st) = self.remove_stream(id, true) {
                if st.delivered && !st.local_closed {
                    self.events.push_back(Event::Reset {
                        stream: id,
                        code: e.code,
                    });
                }
            }
        }
        self.sendable.clear();
        self.heads.clear();
        self.events.push_back(Event::ConnectionError(e));
    }

    /// A stream error: RST_STREAM with `code`, and the stream forgotten.
    fn reset_stream(&mut self, id: u32, code: ErrorCode) {
        frame::encode_rst_stream(&mut self.ctrl, id, code);
        if let Some(st) = self.remove_stream(id, true) {
            if st.delivered && !st.local_closed {
                self.events.push_back(Event::Reset { stream: id, code });
            }
        } else if !self.closed.iter().any(|&(c, _)| c == id) {
            self.remember_closed(id, true);
        }
        if let Err(e) = self.check_backlog() {
            self.fail(e);
        }
    }

    fn remove_stream(&mut self, id: u32, by_us: bool) -> Option<Stream> {
        let st = self.streams.remove(&id)?;
        // Body bytes the driver had not consumed go back to the
        // connection's window (its later `consume` is ignored).
        if st.unconsumed > 0 {
            self.conn_release(st.unconsumed);
        }
        self.remember_closed(id, by_us);
        Some(st)
    }

    fn remember_closed(&mut self, id: u32, by_us: bool) {
        if self.closed.len() == REMEMBER_CLOSED {
            self.closed.pop_front();
        }
        self.closed.push_back((id, by_us));
    }

    fn was_reset_by_us(&self, id: u32) -> bool {
        self.closed.iter().any(|&(c, us)| c == id && us)
    }

    /// Both sides done: forget the stream. Our side done and the client's
    /// not: RST_STREAM(NO_ERROR) tells it to stop sending (RFC 9113 §8.1).
    fn maybe_close(&mut self, id: u32) {
        let Some(st) = self.streams.get(&id) else {
            return;
        };
        if !st.local_closed {
            return;
        }
        if st.remote_closed {
            self.remove_stream(id, false);
        } else {
            frame::encode_rst_stream(&mut self.ctrl, id, ErrorCode::NoError);
            self.remove_stream(id, true);
        }
    }

    fn final_goaway(&mut self) {
        let last = self.last_opened.max(self.last_processed);
        frame::encode_goaway(&mut self.ctrl, last, ErrorCode::NoError, b"");
        self.shutdown = Shutdown::Final(last);
    }

    /// Begin a graceful shutdown (graceful restart or stop): a GOAWAY that
    /// lets requests in flight arrive, then — when the client answers the
    /// PING sent with it, or at [`Session::finish_shutdown`] — the final
    /// GOAWAY with the last stream id processed. Streams up to it are
    /// served to their end; later ones are ignored, and the client retries
    /// them on a new connection.
    pub fn shutdown(&mut self) {
        if self.shutdown != Shutdown::None || self.phase == Phase::Failed {
            return;
        }
        frame::encode_goaway(&mut self.ctrl, MAX_WINDOW, ErrorCode::NoError, b"");
        frame::encode_ping(&mut self.ctrl, false, SHUTDOWN_PING);
        self.shutdown = Shutdown::Announced;
    }

    /// The shutdown's second step now, without waiting for the PING's
    /// answer (the driver's bound on the wait passed).
    pub fn finish_shutdown(&mut self) {
        if !matches!(self.shutdown, Shutdown::Final(_)) && self.phase != Phase::Failed {
            self.final_goaway();
        }
    }

    /// End the connection with an error of our own: GOAWAY(code) and
    /// nothing more is read (the driver's timeouts: a zero-window stall,
    /// a client that sends nothing).
    pub fn abort(&mut self, code: ErrorCode, reason: &'static str) {
        self.fail(H2Error::connection(code, reason));
    }

    // ---------------------------------------------------------------
    // Output

    /// Send the response head on `stream` (`status` and `headers`; the
    /// fields HTTP/2 forbids — `connection`, `keep-alive`,
    /// `proxy-connection`, `transfer-encoding`, `upgrade` — are left out).
    /// `end_stream` when no body follows. A 1xx status (100 Continue) may
    /// precede the final one.
    pub fn send_response(
        &mut self,
        stream: u32,
        status: StatusCode,
        headers: &HeaderMap,
        end_stream: bool,
    ) -> Result<(), SendError> {
        if self.phase == Phase::Failed {
            return Err(SendError::StreamGone);
        }
        let st = self.streams.get_mut(&stream).ok_or(SendError::StreamGone)?;
        if st.head_sent || st.local_closed {
            return Err(SendError::OutOfOrder);
        }
        let interim = status.is_informational();
        let end_stream = end_stream && !interim;
        if !interim {
            st.head_sent = true;
        }
        let mut block = Vec::with_capacity(64);
        self.encoder.begin_block(&mut block);
        let code = status.as_str().as_bytes();
        self.encoder
            .encode(b":status", code, Indexing::Incremental, &mut block);
        encode_fields(&mut self.encoder, headers, &mut block);
        frame::encode_header_block(
            &mut self.heads,
            stream,
            &block,
            end_stream,
            self.peer_max_frame,
        );
        if end_stream {
            self.local_end(stream);
        }
        Ok(())
    }

    /// Room for response bytes on `stream` (`H2StreamMaxMemSize` less what
    /// waits); 0 for a stream that is gone.
    pub fn send_capacity(&self, stream: u32) -> usize {
        self.streams.get(&stream).map_or(0, |st| {
            self.cfg.stream_max_mem.saturating_sub(st.pending.len())
        })
    }

    /// Queue response body bytes on `stream`: takes as many as
    /// [`Session::send_capacity`] allows and returns that count; when it
    /// takes fewer than offered, [`Event::Writable`] comes when there is
    /// room. `end_stream` ends the body when every byte was taken.
    pub fn send_data(
        &mut self,
        stream: u32,
        data: &[u8],
        end_stream: bool,
    ) -> Result<usize, SendError> {
        if self.phase == Phase::Failed {
            return Err(SendError::StreamGone);
        }
        let max = self.cfg.stream_max_mem;
        let st = self.streams.get_mut(&stream).ok_or(SendError::StreamGone)?;
        if !st.head_sent || st.end_pending || st.local_closed {
            return Err(SendError::OutOfOrder);
        }
        let n = data.len().min(max.saturating_sub(st.pending.len()));
        st.pending.extend(&data[..n]);
        if n < data.len() {
            st.wants_room = true;
        } else if end_stream {
            st.end_pending = true;
        }
        if !st.queued && (n > 0 || st.end_pending) {
            st.queued = true;
            self.sendable.push_back(stream);
        }
        Ok(n)
    }

    /// End the body with trailers (after every byte `send_data` took).
    pub fn send_trailers(&mut self, stream: u32, trailers: HeaderMap) -> Result<(), SendError> {
        if self.phase == Phase::Failed {
            return Err(SendError::StreamGone);
        }
        let st = self.streams.get_mut(&stream).ok_or(SendError::StreamGone)?;
        if !st.head_sent || st.end_pending || st.local_closed {
            return Err(SendError::OutOfOrder);
        }
        st.trailers = Some(trailers);
        st.end_pending = true;
        if !st.queued {
            st.queued = true;
            self.sendable.push_back(stream);
        }
        Ok(())
    }

    /// Reset `stream` (the handler failed mid-body, or its request is no
    /// longer wanted): RST_STREAM with `code`.
    pub fn reset(&mut self, stream: u32, code: ErrorCode) {
        if self.phase == Phase::Failed || !self.streams.contains_key(&stream) {
            return;
        }
        frame::encode_rst_stream(&mut self.ctrl, stream, code);
        self.remove_stream(stream, true);
    }

    /// The handler read `n` bytes of `stream`'s body: the client may send
    /// that many more (a WINDOW_UPDATE goes out once half a window is
    /// owed). Bytes of a stream that is gone were already given back.
    pub fn consume(&mut self, stream: u32, n: usize) {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        self.consume_inner(stream, n, true);
    }

    fn consume_inner(&mut self, stream: u32, n: u32, handed_out: bool) {
        let window = self.cfg.window_size;
        let Some(st) = self.streams.get_mut(&stream) else {
            return;
        };
        let n = if handed_out { n.min(st.unconsumed) } else { n };
        if handed_out {
            st.unconsumed -= n;
        }
        if !st.remote_closed {
            st.to_update += n;
            if st.to_update >= window / 2 || st.to_update > 0 && window < 2 {
                let inc = st.to_update;
                st.to_update = 0;
                st.recv_window += i64::from(inc);
                frame::encode_window_update(&mut self.ctrl, stream, inc);
            }
        }
        self.conn_release(n);
    }

    /// Give `n` bytes back to the connection's receive window.
    fn conn_release(&mut self, n: u32) {
        if self.phase == Phase::Failed {
            return;
        }
        self.conn_to_update = self.conn_to_update.saturating_add(n);
        let window = self.cfg.connection_window();
        if self.conn_to_update >= window / 2 {
            let inc = self.conn_to_update;
            self.conn_to_update = 0;
            self.conn_recv_window += i64::from(inc);
            frame::encode_window_update(&mut self.ctrl, 0, inc);
        }
    }

    /// Our side of `stream` is done.
    fn local_end(&mut self, stream: u32) {
        if let Some(st) = self.streams.get_mut(&stream) {
            st.local_closed = true;
            st.pending = VecDeque::new();
        }
        self.events.push_back(Event::Finished { stream });
        self.maybe_close(stream);
    }

    /// The bytes to write now: what is left of the last call's, or a new
    /// batch (control frames, response heads, then DATA frames as the
    /// windows allow, a stream at a time in turn). Empty when nothing can
    /// be sent. Call [`Session::written`] with what the socket took.
    pub fn output(&mut self) -> &[u8] {
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
            self.fill();
            if self.out.capacity() > 4 * FILL_TARGET {
                self.out.shrink_to(FILL_TARGET);
            }
        }
        &self.out[self.out_pos..]
    }

    /// `n` bytes of [`Session::output`] were written.
    pub fn written(&mut self, n: usize) {
        self.out_pos = (self.out_pos + n).min(self.out.len());
    }

    /// True when bytes wait to be written (an event loop keeps write
    /// interest while this holds).
    pub fn wants_write(&self) -> bool {
        self.out_pos < self.out.len()
            || !self.ctrl.is_empty()
            || !self.heads.is_empty()
            || self.sendable.iter().any(|id| {
                self.streams.get(id).is_some_and(|st| {
                    (st.pending.is_empty() && st.end_pending)
                        || (!st.pending.is_empty()
                            && st.send_window > 0
                            && self.conn_send_window > 0)
                })
            })
    }

    fn fill(&mut self) {
        self.out.append(&mut self.ctrl);
        self.out.append(&mut self.heads);
        let mut rounds = self.sendable.len();
        while rounds > 0 && self.out.len() < FILL_TARGET {
            rounds -= 1;
            let Some(id) = self.sendable.pop_front() else {
                break;
            };
            let max_frame = self.peer_max_frame;
            let conn_window = self.conn_send_window;
            let stream_max = self.cfg.stream_max_mem;
            let Some(st) = self.streams.get_mut(&id) else {
                continue;
            };
            st.queued = false;
            let n = st
                .pending
                .len()
                .min(usize::try_from(st.send_window.max(0)).unwrap_or(0))
                .min(usize::try_from(conn_window.max(0)).unwrap_or(0))
                .min(max_frame);
            let last = n == st.pending.len() && st.end_pending;
            if n == 0 && !last {
                // Waiting for a window: WINDOW_UPDATE queues it again.
                continue;
            }
            let end_here = last && st.trailers.is_none();
            if n == 0 && !end_here {
                // Only the trailers are left.
            } else {
                frame::encode_data_header(&mut self.out, id, n, end_here);
            }
            let (a, b) = st.pending.as_slices();
            let from_a = n.min(a.len());
            self.out.extend_from_slice(&a[..from_a]);
            self.out.extend_from_slice(&b[..n - from_a]);
            st.pending.drain(..n);
            st.send_window -= n as i64;
            self.conn_send_window -= n as i64;
            if st.wants_room && st.pending.len() <= stream_max / 2 {
                st.wants_room = false;
                self.events.push_back(Event::Writable { stream: id });
            }
            if last {
                if let Some(trailers) = st.trailers.take() {
                    let mut block = Vec::new();
                    self.encoder.begin_block(&mut block);
                    encode_fields(&mut self.encoder, &trailers, &mut block);
                    frame::encode_header_block(&mut self.out, id, &block, true, max_frame);
                }
                self.local_end(id);
            } else {
                st.queued = true;
                self.sendable.push_back(id);
                rounds += 1;
            }
        }
    }

    // ---------------------------------------------------------------
    // State for the driver

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

    fn wants_write_anything(&self) -> bool {
        self.out_pos < self.out.len() || !self.ctrl.is_empty() || !self.heads.is_empty()
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
    /// batch, a frame's partial bytes, the HPACK decoder's scratch):
    /// call it when [`Session::is_idle`] and nothing waits to be written,
    /// so that an idle HTTP/2 connection holds its HPACK tables and
    /// little else. A no-op otherwise.
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
    }

    /// Streams open (counted against `H2MaxSessionStreams`).
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// The memory this session holds in buffers, in bytes (an event
    /// loop's budget counts it).
    pub fn buffered(&self) -> usize {
        self.partial.capacity()
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

fn calm(reason: &'static str) -> H2Error {
    H2Error::connection(ErrorCode::EnhanceYourCalm, reason)
}

/// The fields of a response head or trailers, less those HTTP/2 forbids.
fn encode_fields(encoder: &mut hpack::Encoder, headers: &HeaderMap, block: &mut Vec<u8>) {
    for (name, value) in headers {
        let n = name.as_str().as_bytes();
        if matches!(
            n,
            b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding" | b"upgrade"
        ) {
            continue;
        }
        let v = value.as_bytes();
        encoder.encode(n, v, Indexing::for_field(n, v), block);
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
