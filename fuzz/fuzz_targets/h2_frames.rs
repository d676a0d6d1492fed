//! `h2_frames`: `mpm_core::h2::frame`, the HTTP/2 frame layer.
//!
//! Input: `[max_frame] frames…`: a byte choosing the `max_frame` of the
//! header-block splitter (16384 plus up to 255 × 64), then frames as a
//! client would send them (9-byte header, payload), parsed one after the
//! other as far as the bytes go.
//!
//! Properties:
//!
//! 1. Parsing never panics and stays in its payload: DATA's data and
//!    HEADERS'/CONTINUATION's block are sub-slices of the payload, DATA's
//!    `flow_len` is the payload's length.
//! 2. A parsed frame a server also sends (SETTINGS, PING, GOAWAY,
//!    RST_STREAM, WINDOW_UPDATE, DATA), encoded again, parses to the same
//!    frame (reserved bits aside).
//! 3. A header block of any size, split by `encode_header_block`, comes back
//!    whole from its HEADERS and CONTINUATION frames, none larger than
//!    `max_frame`, END_HEADERS on the last only, END_STREAM on the first
//!    only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpm_core::h2::frame::{self, Frame, FrameHeader, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let [max, rest @ ..] = data else { return };
    let mut rest: &[u8] = rest;
    let max_frame = 16_384 + usize::from(*max) * 64;
    while rest.len() >= HEADER_LEN {
        let h = FrameHeader::parse(rest[..HEADER_LEN].try_into().unwrap());
        let end = (HEADER_LEN + h.len as usize).min(rest.len());
        let payload = &rest[HEADER_LEN..end];
        let h = FrameHeader {
            len: payload.len() as u32,
            ..h
        };
        if let Ok(f) = Frame::parse(&h, payload) {
            check(&h, payload, &f);
        }
        rest = &rest[end..];
    }
    // Property 3 on the input as a block.
    let mut out = Vec::new();
    frame::encode_header_block(&mut out, 1, data, true, max_frame);
    let mut at = 0;
    let mut joined = Vec::new();
    let mut n = 0;
    while at < out.len() {
        let h = FrameHeader::parse(out[at..at + HEADER_LEN].try_into().unwrap());
        assert!(h.len as usize <= max_frame, "a frame of {} over {max_frame}", h.len);
        let end = at + HEADER_LEN + h.len as usize;
        let last = end == out.len();
        let f = Frame::parse(&h, &out[at + HEADER_LEN..end]).expect("our frames parse");
        match f {
            Frame::Headers {
                block,
                end_stream,
                end_headers,
                ..
            } => {
                assert_eq!(n, 0, "HEADERS after the first frame");
                assert!(end_stream);
                assert_eq!(end_headers, last);
                joined.extend_from_slice(block);
            }
            Frame::Continuation {
                block, end_headers, ..
            } => {
                assert!(n > 0, "CONTINUATION first");
                assert_eq!(end_headers, last);
                joined.extend_from_slice(block);
            }
            other => panic!("the splitter wrote {other:?}"),
        }
        n += 1;
        at = end;
    }
    assert_eq!(joined, data, "the block did not come back whole");
});

fn inside(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    inner.is_empty() || (i >= o && i + inner.len() <= o + outer.len())
}

fn check(h: &FrameHeader, payload: &[u8], f: &Frame<'_>) {
    let mut again = Vec::new();
    match *f {
        Frame::Data {
            stream,
            data,
            end_stream,
            flow_len,
        } => {
            assert!(inside(payload, data));
            assert_eq!(flow_len as usize, payload.len());
            frame::encode_data_header(&mut again, stream, data.len(), end_stream);
            again.extend_from_slice(data);
            let h2 = FrameHeader::parse(again[..HEADER_LEN].try_into().unwrap());
            let f2 = Frame::parse(&h2, &again[HEADER_LEN..]).expect("a re-encoded DATA parses");
            // Padding is not written again: only the flow length differs.
            assert_eq!(
                f2,
                Frame::Data {
                    stream,
                    data,
                    end_stream,
                    flow_len: data.len() as u32
                }
            );
            return;
        }
        Frame::Headers { block, .. } | Frame::Continuation { block, .. } => {
            assert!(inside(payload, block));
            return;
        }
        Frame::Settings { ack: false, params } => {
            let p: Vec<_> = Frame::settings(params).collect();
            frame::encode_settings(&mut again, &p);
        }
        Frame::Settings { ack: true, .. } => frame::encode_settings_ack(&mut again),
        Frame::Ping { ack, payload } => frame::encode_ping(&mut again, ack, payload),
        Frame::GoAway {
            last_stream,
            code,
            debug,
        } => frame::encode_goaway(&mut again, last_stream, code, debug),
        Frame::RstStream { stream, code } => frame::encode_rst_stream(&mut again, stream, code),
        Frame::WindowUpdate { stream, increment } => {
            frame::encode_window_update(&mut again, stream, increment)
        }
        Frame::Priority { .. } | Frame::PushPromise { .. } | Frame::Unknown { .. } => return,
    }
    let h2 = FrameHeader::parse(again[..HEADER_LEN].try_into().unwrap());
    assert_eq!(h2.kind, h.kind);
    let f2 = Frame::parse(&h2, &again[HEADER_LEN..]).expect("a re-encoded frame parses");
    assert_eq!(&f2, f, "re-encoded");
}
