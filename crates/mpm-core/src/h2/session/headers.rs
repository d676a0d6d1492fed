//! Header blocks: HEADERS and CONTINUATION, new streams, request heads
//! and trailers (HPACK-decoded, validated), refused requests.

use http::StatusCode;

use super::limits::calm;
use super::stream::Stream;
use super::{Event, Session, Shutdown};
use crate::h1::HeadError;
use crate::h2::error::{ErrorCode, H2Error};
use crate::h2::frame::MAX_WINDOW;
use crate::h2::request::{content_length, Collector, Refusal};

/// What a header block being received is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BlockFor {
    /// A new request on its stream.
    Request,
    /// Trailers of an open stream.
    Trailers,
    /// Decoded to keep HPACK in step, then dropped (a refused or ignored
    /// stream); with the stream error to send, if any.
    Discard(Option<(ErrorCode, &'static str)>),
}

#[derive(Debug)]
pub(super) struct Block {
    pub(super) stream: u32,
    pub(super) buf: Vec<u8>,
    pub(super) frames: u32,
    pub(super) end_stream: bool,
    pub(super) purpose: BlockFor,
}

impl Session {
    pub(super) fn on_headers(
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
    pub(super) fn open_stream(&mut self, id: u32, end_stream: bool) -> BlockFor {
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

    pub(super) fn on_continuation(
        &mut self,
        block: &[u8],
        end_headers: bool,
    ) -> Result<(), H2Error> {
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
    pub(super) fn header_block(&mut self, b: Block, block: &[u8]) -> Result<(), H2Error> {
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

    pub(super) fn deliver_refusal(&mut self, id: u32, error: HeadError) {
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
    pub(super) fn count_request(&mut self, id: u32) {
        self.last_processed = self.last_processed.max(id);
        self.requests = self.requests.saturating_add(1);
        let limit_reached = self.cfg.max_requests > 0 && self.requests >= self.cfg.max_requests;
        if (limit_reached || id >= MAX_WINDOW - 1) && !matches!(self.shutdown, Shutdown::Final(_)) {
            self.final_goaway();
        }
    }
}
