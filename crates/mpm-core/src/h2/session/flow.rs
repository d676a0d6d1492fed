//! Flow control (RFC 9113 §5.2, §6.9): the client's WINDOW_UPDATEs, the
//! windows given back as the handler reads, the room for response bytes.

use super::{Phase, Session};
use crate::h2::error::{ErrorCode, H2Error};
use crate::h2::frame::{self, MAX_WINDOW};

impl Session {
    pub(super) fn on_window_update(&mut self, id: u32, inc: u32) -> Result<(), H2Error> {
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

    /// Room for response bytes on `stream` (`H2StreamMaxMemSize` less what
    /// waits); 0 for a stream that is gone.
    pub fn send_capacity(&self, stream: u32) -> usize {
        self.streams.get(&stream).map_or(0, |st| {
            self.cfg.stream_max_mem.saturating_sub(st.pending.len())
        })
    }

    /// The handler read `n` bytes of `stream`'s body: the client may send
    /// that many more (a WINDOW_UPDATE goes out once half a window is
    /// owed). Bytes of a stream that is gone were already given back.
    pub fn consume(&mut self, stream: u32, n: usize) {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        self.consume_inner(stream, n, true);
        // A client that sends bodies but never reads our WINDOW_UPDATEs.
        if let Err(e) = self.check_backlog() {
            self.fail(e);
        }
    }

    pub(super) fn consume_inner(&mut self, stream: u32, n: u32, handed_out: bool) {
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
    pub(super) fn conn_release(&mut self, n: u32) {
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
}
