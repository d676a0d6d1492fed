//! Responses in, bytes out: response heads and trailers HPACK-encoded,
//! DATA framed as the windows allow, the output batch.

use http::{HeaderMap, StatusCode};

use super::{Event, Phase, SendError, Session};
use crate::h2::frame::{self};
use crate::h2::hpack::{self, Indexing};

/// What [`Session::output`] gathers at most per call, when data waits.
pub(super) const FILL_TARGET: usize = 64 * 1024;

impl Session {
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

    pub(super) fn fill(&mut self) {
        self.out.append(&mut self.ctrl);
        self.out.append(&mut self.heads);
        self.resets_owed = 0;
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

    pub(super) fn wants_write_anything(&self) -> bool {
        self.out_pos < self.out.len() || !self.ctrl.is_empty() || !self.heads.is_empty()
    }
}

/// The fields of a response head or trailers, less those HTTP/2 forbids.
pub(super) fn encode_fields(
    encoder: &mut hpack::Encoder,
    headers: &HeaderMap,
    block: &mut Vec<u8>,
) {
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
