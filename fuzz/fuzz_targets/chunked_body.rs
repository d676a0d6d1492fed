//! `chunked_body`: `mpm_core::h1::BodyDecoder` fed the same bytes split
//! into reads in different ways.
//!
//! Input: `[framing] [n] [n read sizes] [body bytes…]` (see
//! `mpm_fuzz::Reads` for the sizes). The framing byte: below 0xe0,
//! chunked with a `LimitRequestBody` from [`LIMITS`] (`byte % 8`); from
//! 0xe0, `Content-Length: (byte - 0xe0) * 3`, unlimited.
//!
//! Properties:
//!
//! 1. Every call stays in its input: it consumes no more than it was given,
//!    and its data range lies inside what it consumed.
//! 2. Progress: a decoder that is neither complete nor failed consumes at
//!    least one byte of any non-empty input (a driver that waits for more
//!    bytes when nothing was consumed never waits forever on bytes it has).
//! 3. Splits do not matter: one read of everything, one-byte reads and the
//!    fuzzer's reads give the same body bytes, and the same end — complete
//!    after the same number of bytes (where the next request starts), or
//!    the same error, or still incomplete when the input runs out.
//!    `received()` counts the body bytes given out.
//! 4. A chunked body that decoded completely, written again as chunks (of
//!    the fuzzer's read sizes), decodes to the same bytes and ends exactly
//!    at its end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpm_core::h1::{BodyDecoder, BodyError, Framing};
use mpm_fuzz::Reads;

/// `LimitRequestBody` values for chunked bodies (0 = unlimited).
const LIMITS: [u64; 8] = [0, 0, 1, 5, 16, 100, 4096, u64::MAX];

fuzz_target!(|data: &[u8]| {
    let Some((&framing, rest)) = data.split_first() else {
        return;
    };
    let Some((reads, body)) = Reads::split(rest) else {
        return;
    };
    let (framing, limit) = if framing < 0xe0 {
        (Framing::Chunked, LIMITS[usize::from(framing % 8)])
    } else {
        (Framing::Length(u64::from(framing - 0xe0) * 3), 0)
    };

    let whole = decode(framing, limit, body, Reads::whole());
    for (name, split) in [
        ("one-byte reads", Reads::bytewise()),
        ("the fuzzer's reads", reads.clone()),
    ] {
        let other = decode(framing, limit, body, split);
        assert_eq!(
            other,
            whole,
            "{framing:?} (limit {limit}) decodes differently in {name} than in one read: {:?}",
            String::from_utf8_lossy(body)
        );
    }

    if let (Framing::Chunked, End::Complete(_)) = (framing, whole.end) {
        let again = encode_chunked(&whole.data, reads);
        let decoded = decode(framing, 0, &again, Reads::whole());
        assert_eq!(
            decoded,
            Decoding {
                data: whole.data.clone(),
                end: End::Complete(again.len()),
            },
            "body re-chunked as {:?} decodes differently",
            String::from_utf8_lossy(&again)
        );
    }
});

/// How a decoding ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Complete after this many input bytes.
    Complete(usize),
    /// Refused.
    Failed(BodyError),
    /// The input ran out first.
    Incomplete,
}

#[derive(Debug, PartialEq, Eq)]
struct Decoding {
    data: Vec<u8>,
    end: End,
}

/// Decodes `input` as a driver does: each call sees at most one read's
/// worth of the bytes not yet consumed; a call that gives data is
/// followed by another on what remains.
fn decode(framing: Framing, limit: u64, input: &[u8], mut reads: Reads) -> Decoding {
    let mut dec = BodyDecoder::new(framing, limit);
    let mut data = Vec::new();
    let mut at = 0;
    let end = loop {
        if dec.is_complete() {
            break End::Complete(at);
        }
        if at == input.len() {
            break End::Incomplete;
        }
        let size = reads.next_size().min(input.len() - at);
        let window = &input[at..at + size];
        let d = match dec.decode(window) {
            Ok(d) => d,
            Err(e) => break End::Failed(e),
        };
        assert!(
            d.consumed <= window.len() && d.data.start <= d.data.end && d.data.end <= d.consumed,
            "decode of {} bytes consumed {} with data at {:?}",
            window.len(),
            d.consumed,
            d.data
        );
        assert!(
            d.consumed > 0,
            "an unfinished decoder consumed nothing of {:?} (after {at} bytes)",
            String::from_utf8_lossy(window)
        );
        data.extend_from_slice(&window[d.data]);
        at += d.consumed;
    };
    if !matches!(end, End::Failed(_)) {
        assert_eq!(
            dec.received(),
            data.len() as u64,
            "received() disagrees with the body bytes given out"
        );
    }
    Decoding { data, end }
}

/// `data` as chunks whose sizes follow `reads`, then the last chunk.
fn encode_chunked(data: &[u8], mut reads: Reads) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(reads.next_size().min(rest.len()));
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
        rest = tail;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}
