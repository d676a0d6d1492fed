//! `fastcgi_record`: `mpm_site::fastcgi::RecordReader`, a FastCGI
//! application's records as mod_proxy_fcgi and mod_fcgid read them, and
//! `decode_params`. Input: `[n] [n read sizes] [the application's bytes…]`
//! (see `mpm_fuzz::Reads`).
//!
//! Properties:
//!
//! 1. Every call stays in its input: it consumes no more than it was
//!    given, and a `STDOUT`/`STDERR` range lies inside what it consumed.
//! 2. Progress: a reader that has not ended consumes at least one byte of
//!    any non-empty input; after `END_REQUEST`, any byte more is refused.
//! 3. **Any split**: the bytes at once, a byte at a time and in the
//!    fuzzer's reads give the same events (stream contents compared glued
//!    together), and the same end: `END_REQUEST` after the same byte, the
//!    same refusal, or still reading.
//! 4. `decode_params` of the bytes, when it decodes, encodes back
//!    (`encode_params`) to bytes that decode to the same pairs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpm_fuzz::Reads;
use mpm_site::fastcgi::record::{decode_params, encode_params, BadRecord, Event, RecordReader};

/// An event with its stream bytes copied out.
#[derive(Debug, Clone, PartialEq)]
enum Owned {
    Out(Vec<u8>),
    Err(Vec<u8>),
    OutEnd,
    End(u32, u8),
}

/// Everything the reader says of `input` in the reads `reads` gives:
/// the events (streams glued) and how it ended (the byte after
/// END_REQUEST, a refusal, or still reading).
fn read_all(input: &[u8], mut reads: Reads<'_>) -> (Vec<Owned>, Result<Option<usize>, BadRecord>) {
    let mut reader = RecordReader::new(1);
    let mut events: Vec<Owned> = Vec::new();
    let mut at = 0;
    while at < input.len() {
        let n = reads.next_size().min(input.len() - at);
        let piece = &input[at..at + n];
        let mut off = 0;
        while off < piece.len() {
            let rest = &piece[off..];
            let (used, event) = match reader.next(rest) {
                Ok(x) => x,
                Err(e) => return (events, Err(e)),
            };
            assert!(used <= rest.len(), "consumed {used} of {}", rest.len());
            if !reader.is_ended() {
                assert!(used > 0, "no progress on {} bytes", rest.len());
            }
            let owned = event.map(|e| match e {
                Event::Stdout(r) => {
                    assert!(r.end <= used, "a range past what was consumed");
                    Owned::Out(rest[r].to_vec())
                }
                Event::Stderr(r) => {
                    assert!(r.end <= used, "a range past what was consumed");
                    Owned::Err(rest[r].to_vec())
                }
                Event::StdoutEnd => Owned::OutEnd,
                Event::End { app_status, protocol_status } => Owned::End(app_status, protocol_status),
            });
            off += used;
            match (events.last_mut(), owned) {
                (Some(Owned::Out(a)), Some(Owned::Out(b))) => a.extend(b),
                (Some(Owned::Err(a)), Some(Owned::Err(b))) => a.extend(b),
                (_, Some(e)) => events.push(e),
                (_, None) => {}
            }
            if reader.is_ended() {
                let end = at + off;
                return match reader.next(&input[end..]) {
                    Ok((0, None)) if end == input.len() => (events, Ok(Some(end))),
                    Err(BadRecord::AfterEnd) => (events, Ok(Some(end))),
                    other => panic!("after END_REQUEST: {other:?}"),
                };
            }
        }
        at += n;
    }
    (events, Ok(None))
}

fuzz_target!(|data: &[u8]| {
    let Some((reads, input)) = Reads::split(data) else {
        return;
    };
    let whole = read_all(input, Reads::whole());
    assert_eq!(read_all(input, Reads::bytewise()), whole, "byte by byte");
    assert_eq!(read_all(input, reads), whole, "in the fuzzer's reads");
    if let Some(pairs) = decode_params(input) {
        let again = encode_params(pairs.iter().copied());
        assert_eq!(decode_params(&again), Some(pairs), "PARAMS encoded back");
    }
});
