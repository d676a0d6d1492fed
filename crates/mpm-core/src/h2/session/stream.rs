//! The stream table (RFC 9113 §5.1): one stream's state, closing it,
//! resets, and the streams remembered after they closed.

use std::collections::VecDeque;

use http::HeaderMap;

use super::{Event, Phase, Session};

use crate::h2::error::ErrorCode;
use crate::h2::frame::{self};

/// Streams remembered after they closed, to tell a late frame on a
/// closed stream (STREAM_CLOSED, or ignored when we reset it) from a
/// stream id the client skipped (PROTOCOL_ERROR when reused).
pub(super) const REMEMBER_CLOSED: usize = 128;

/// One stream's state (RFC 9113 §5.1); a closed stream is not kept.
#[derive(Debug)]
pub(super) struct Stream {
    /// The client has ended its side (END_STREAM received).
    pub(super) remote_closed: bool,
    /// Our response's last frame is in the output.
    pub(super) local_closed: bool,
    /// The request was handed to the driver (Request or Refused).
    pub(super) delivered: bool,
    /// Request body bytes are dropped, not handed out (a refused request).
    pub(super) discard_body: bool,
    /// What the client may still send on the stream.
    pub(super) recv_window: i64,
    /// Body bytes handed out and not yet consumed.
    pub(super) unconsumed: u32,
    /// Consumed bytes not yet given back by WINDOW_UPDATE.
    pub(super) to_update: u32,
    pub(super) content_length: Option<u64>,
    pub(super) received: u64,
    /// What we may still send.
    pub(super) send_window: i64,
    /// The response head is sent.
    pub(super) head_sent: bool,
    /// Response bytes waiting to be framed.
    pub(super) pending: VecDeque<u8>,
    /// END_STREAM follows the pending bytes (and the trailers, if any).
    pub(super) end_pending: bool,
    pub(super) trailers: Option<HeaderMap>,
    /// In the queue of streams with something to frame.
    pub(super) queued: bool,
    /// `send_data` took less than offered: tell the driver when there is
    /// room.
    pub(super) wants_room: bool,
}

impl Stream {
    pub(super) fn new(recv_window: u32, send_window: i64) -> Self {
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

impl Session {
    /// A stream error: RST_STREAM with `code`, and the stream forgotten.
    pub(super) fn reset_stream(&mut self, id: u32, code: ErrorCode) {
        self.queue_rst(id, code);
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

    /// RST_STREAM goes after the response heads already queued (with
    /// them, not with the control frames that are written first), so a
    /// stream's HEADERS never arrive after its reset.
    pub(super) fn queue_rst(&mut self, id: u32, code: ErrorCode) {
        let before = self.heads.len();
        frame::encode_rst_stream(&mut self.heads, id, code);
        self.resets_owed += self.heads.len() - before;
    }

    pub(super) fn remove_stream(&mut self, id: u32, by_us: bool) -> Option<Stream> {
        let st = self.streams.remove(&id)?;
        // Body bytes the driver had not consumed go back to the
        // connection's window (its later `consume` is ignored).
        if st.unconsumed > 0 {
            self.conn_release(st.unconsumed);
        }
        self.remember_closed(id, by_us);
        Some(st)
    }

    pub(super) fn remember_closed(&mut self, id: u32, by_us: bool) {
        if self.closed.len() == REMEMBER_CLOSED {
            self.closed.pop_front();
        }
        self.closed.push_back((id, by_us));
    }

    pub(super) fn was_reset_by_us(&self, id: u32) -> bool {
        self.closed.iter().any(|&(c, us)| c == id && us)
    }

    /// Both sides done: forget the stream. Our side done and the client's
    /// not: RST_STREAM(NO_ERROR) tells it to stop sending (RFC 9113 §8.1).
    pub(super) fn maybe_close(&mut self, id: u32) {
        let Some(st) = self.streams.get(&id) else {
            return;
        };
        if !st.local_closed {
            return;
        }
        if st.remote_closed {
            self.remove_stream(id, false);
        } else {
            self.queue_rst(id, ErrorCode::NoError);
            self.remove_stream(id, true);
        }
    }

    /// Reset `stream` (the handler failed mid-body, or its request is no
    /// longer wanted): RST_STREAM with `code`.
    pub fn reset(&mut self, stream: u32, code: ErrorCode) {
        if self.phase == Phase::Failed || !self.streams.contains_key(&stream) {
            return;
        }
        self.queue_rst(stream, code);
        self.remove_stream(stream, true);
    }

    /// Our side of `stream` is done.
    pub(super) fn local_end(&mut self, stream: u32) {
        if let Some(st) = self.streams.get_mut(&stream) {
            st.local_closed = true;
            st.pending = VecDeque::new();
        }
        self.events.push_back(Event::Finished { stream });
        self.maybe_close(stream);
    }
}
