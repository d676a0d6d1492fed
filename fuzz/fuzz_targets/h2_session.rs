//! `h2_session`: `mpm_core::h2::Session`, one HTTP/2 connection driven by
//! a client's arbitrary bytes and a driver that answers in different ways.
//!
//! Input: `[mode] [n] [n read sizes] payload` (see `mpm_fuzz::Reads`).
//! `mode`: bit 0 puts the client preface and an empty SETTINGS before the
//! payload (so the fuzzer starts among frames); bit 1 tight limits (3
//! streams, 100-byte windows, 256-byte header lists…); bit 2 the driver
//! answers each request (a head and 100 bytes of body, as the stream takes
//! them); bit 3 the driver writes the output after each read (else never:
//! a client that does not read); bit 4 a graceful shutdown after the first
//! request; bit 5 the driver consumes the request bodies.
//!
//! Properties:
//!
//! 1. No panic, whatever the bytes.
//! 2. Memory stays bounded: `buffered()` never passes what the limits
//!    allow (streams × `H2StreamMaxMemSize`, a header block, the control
//!    backlog, one output batch, one frame), however the client behaves.
//! 3. Events make sense: requests come on new, increasing, odd stream ids;
//!    body data and trailers only on a stream whose request came and whose
//!    body has not ended; nothing after `ConnectionError`.
//! 4. Splits do not matter: with a driver that only listens (bits 2, 4 and
//!    5 clear), the bytes in one read and in the fuzzer's reads give the
//!    same events.
#![no_main]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use mpm_core::http::{HeaderMap, StatusCode};
use libfuzzer_sys::fuzz_target;
use mpm_core::h2::{frame, Event, H2Config, Session};
use mpm_core::Limits;
use mpm_fuzz::Reads;

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else { return };
    let Some((reads, payload)) = Reads::split(rest) else { return };
    let mode = *mode;
    let mut input = Vec::new();
    if mode & 1 != 0 {
        input.extend_from_slice(frame::PREFACE);
        frame::encode_settings(&mut input, &[]);
    }
    input.extend_from_slice(payload);
    let cfg = if mode & 2 != 0 {
        H2Config {
            max_concurrent_streams: 3,
            window_size: 100,
            stream_max_mem: 64,
            max_header_list: 256,
            max_continuations: 4,
            reset_burst: 3,
            resets_per_second: 1,
            max_control_backlog: 256,
            max_requests: 5,
            limits: Limits {
                request_line: 64,
                field_size: 64,
                fields: 8,
                ..Limits::default()
            },
            ..H2Config::default()
        }
    } else {
        H2Config::default()
    };
    let driven = run(&cfg, &input, reads, mode);
    if mode & 0b110100 == 0 {
        let whole = run(&cfg, &input, Reads::whole(), mode);
        assert_eq!(driven, whole, "events differ between the reads and one read");
    }
});

/// Feed `input` in `reads`, act as `mode` says, check properties 1–3;
/// the events' debug forms.
fn run(cfg: &H2Config, input: &[u8], mut reads: Reads, mode: u8) -> Vec<String> {
    let answer = mode & 4 != 0;
    let write = mode & 8 != 0;
    let stop = mode & 16 != 0;
    let consume = mode & 32 != 0;
    let bound = 4
        * (frame::HEADER_LEN
            + cfg.max_frame_size as usize
            + cfg.max_header_block()
            + cfg.max_control_backlog
            + 64 * 1024
            + 16 * 1024)
        + 2 * cfg.max_concurrent_streams as usize * cfg.stream_max_mem;
    let mut s = Session::new(cfg);
    let start = Instant::now();
    let mut log = Vec::new();
    let mut seen: HashSet<u32> = HashSet::new();
    let mut open_bodies: HashSet<u32> = HashSet::new();
    let mut last_request = 0u32;
    let mut failed = false;
    // Streams answered in part: bytes of body still to send.
    let mut answering: Vec<(u32, usize)> = Vec::new();
    let mut at = 0;
    let mut step = 0u32;
    while at < input.len() {
        let n = reads.next_size().min(input.len() - at);
        step += 1;
        let now = if mode & 0b110100 == 0 {
            start
        } else {
            start + Duration::from_millis(u64::from(step) * 10)
        };
        s.receive(&input[at..at + n], now);
        at += n;
        while let Some(e) = s.poll_event() {
            assert!(!failed, "an event after ConnectionError: {e:?}");
            match &e {
                Event::Request { stream, .. } | Event::Refused { stream, .. } => {
                    let stream = *stream;
                    assert!(stream % 2 == 1, "a request on even stream {stream}");
                    assert!(stream > last_request, "stream {stream} after {last_request}");
                    last_request = stream;
                    seen.insert(stream);
                    if let Event::Request {
                        end_stream: false, ..
                    } = e
                    {
                        open_bodies.insert(stream);
                    }
                    if answer {
                        let status = match &e {
                            Event::Refused { error, .. } => error.status,
                            _ => StatusCode::OK,
                        };
                        if s.send_response(stream, status, &HeaderMap::new(), false).is_ok() {
                            answering.push((stream, 100));
                        }
                    }
                    if stop {
                        s.shutdown();
                    }
                }
                Event::Data {
                    stream,
                    data,
                    end_stream,
                } => {
                    assert!(open_bodies.contains(stream), "data on stream {stream} with no body open");
                    if *end_stream {
                        open_bodies.remove(stream);
                    }
                    if consume {
                        s.consume(*stream, data.len());
                    }
                }
                Event::Trailers { stream, .. } => {
                    assert!(open_bodies.remove(stream), "trailers on stream {stream} with no body open");
                }
                Event::Reset { stream, .. } => {
                    assert!(seen.contains(stream), "a reset of stream {stream} never handed out");
                    open_bodies.remove(stream);
                    answering.retain(|a| a.0 != *stream);
                }
                Event::Writable { .. } | Event::Finished { .. } | Event::GoAway { .. } => {}
                Event::ConnectionError(_) => failed = true,
            }
            log.push(format!("{e:?}"));
        }
        if answer {
            for (stream, left) in answering.iter_mut() {
                let body = [b'x'; 100];
                if let Ok(took) = s.send_data(*stream, &body[..*left], true) {
                    *left -= took;
                } else {
                    *left = 0;
                }
            }
            answering.retain(|a| a.1 > 0);
        }
        if write {
            loop {
                let out = s.output();
                if out.is_empty() {
                    break;
                }
                let n = out.len();
                s.written(n);
            }
        }
        let held = s.buffered();
        assert!(held <= bound, "the session holds {held} bytes, over {bound}");
    }
    log
}
