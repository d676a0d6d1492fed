//! Connection errors and the graceful shutdown (RFC 9113 §6.8).

use super::{Event, Phase, Session, Shutdown};
use crate::h2::error::{ErrorCode, H2Error};
use crate::h2::frame::{self, MAX_WINDOW};

/// The PING payload of a graceful shutdown's first step.
pub(super) const SHUTDOWN_PING: [u8; 8] = *b"mpm-stop";

impl Session {
    /// A connection error: GOAWAY with it, and nothing more is read.
    pub(super) fn fail(&mut self, e: H2Error) {
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
        let mut ids: Vec<u32> = self.streams.keys().copied().collect();
        ids.sort_unstable();
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
        self.resets_owed = 0;
        self.events.push_back(Event::ConnectionError(e));
    }

    pub(super) fn final_goaway(&mut self) {
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
}
