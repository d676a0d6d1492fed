//! The client's bytes: the preface, frames reassembled and dispatched,
//! SETTINGS, request bodies (DATA) and RST_STREAM.

use std::time::Instant;

use bytes::Bytes;

use super::close::SHUTDOWN_PING;
use super::{Event, Phase, Session, Shutdown};
use crate::h2::error::{ErrorCode, H2Error};
use crate::h2::frame::{
    self, flag, kind, setting, Frame, FrameHeader, HEADER_LEN, MAX_WINDOW, PREFACE,
};

impl Session {
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
    pub(super) fn take_frames<'a>(&mut self, mut input: &'a [u8], now: Instant) -> &'a [u8] {
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

    pub(super) fn check_len(&self, h: &FrameHeader) -> Result<(), H2Error> {
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
    pub(super) fn frame(&mut self, h: &FrameHeader, payload: &[u8], now: Instant) {
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

    pub(super) fn on_frame(&mut self, f: Frame<'_>, now: Instant) -> Result<(), H2Error> {
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
                if !self.settings_acked {
                    self.settings_acked = true;
                    // Our table size now binds the client's blocks.
                    self.decoder
                        .set_allowed_size(self.cfg.header_table_size as usize);
                }
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

    pub(super) fn apply_settings(&mut self, params: &[u8]) -> Result<(), H2Error> {
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

    pub(super) fn on_data(
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

    pub(super) fn on_reset(
        &mut self,
        id: u32,
        code: ErrorCode,
        now: Instant,
    ) -> Result<(), H2Error> {
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
}
