//! `session`: `mpm_core::h1::Session`, the one reader of request heads and
//! bodies every driver uses, fed the way a network feeds it.
//!
//! Input: `[mode] [out] reads… payload` (see `mpm_fuzz::Reads` for the
//! read sizes): `mode` bit 0 chooses how bytes come in (the blocking
//! driver's `space`/`filled`, or the event loop's `offer` of a shared
//! buffer), bit 1 tight limits; `out` the size of the handler's body
//! reads (1 to 256 bytes).
//!
//! Property: whatever the reads and the body reads, the session yields
//! exactly what a reference reading the whole input at once yields —
//! `parse_head` on the bytes after each request, then the body decoded
//! from the bytes after its head — the same heads, the same body bytes,
//! the same refusal, and the same bytes left over.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpm_core::h1::{parse_head, BodyDecoder, BodyStep, HeadEvent, Session};
use mpm_core::Limits;
use mpm_fuzz::Reads;

#[derive(Debug, PartialEq)]
enum Event {
    Head(String),
    Body(Vec<u8>),
    BodyError(String),
    Refused(u16, &'static str),
}

fuzz_target!(|data: &[u8]| {
    let [mode, out, rest @ ..] = data else { return };
    let Some((reads, payload)) = Reads::split(rest) else { return };
    let limits = if mode & 2 == 0 {
        Limits::default()
    } else {
        Limits {
            request_line: 40,
            field_size: 30,
            fields: 4,
            body: 64,
            ..Limits::default()
        }
    };
    let out = 1 + usize::from(*out);
    let (want, want_left) = reference(payload, &limits);
    let (got, left) = driven(payload, &limits, reads, mode & 1 == 0, out);
    assert_eq!(got, want, "events differ (offer: {})", mode & 1 == 0);
    if let Some(left) = left {
        assert_eq!(left, want_left, "different bytes left over");
    }
});

/// The whole input at once: heads by `parse_head`, bodies by one decode.
/// Also the bytes left when the input ends inside nothing but a head.
fn reference(data: &[u8], limits: &Limits) -> (Vec<Event>, Vec<u8>) {
    let mut events = Vec::new();
    let mut at = 0;
    loop {
        match parse_head(&data[at..], limits) {
            Ok(Some((head, used))) => {
                at += used;
                let framing = head.framing;
                events.push(Event::Head(format!("{head:?}")));
                let mut dec = BodyDecoder::with_limits(framing, limits);
                let mut body = Vec::new();
                while !dec.is_complete() {
                    match dec.decode(&data[at..]) {
                        Ok(d) if d.consumed == 0 => return (events, Vec::new()),
                        Ok(d) => {
                            body.extend_from_slice(&data[at..][d.data]);
                            at += d.consumed;
                        }
                        Err(e) => {
                            events.push(Event::BodyError(e.to_string()));
                            return (events, Vec::new());
                        }
                    }
                }
                if framing.has_body() {
                    events.push(Event::Body(body));
                }
            }
            Ok(None) => return (events, data[at..].to_vec()),
            Err(e) => {
                events.push(Event::Refused(e.status.as_u16(), e.reason));
                return (events, Vec::new());
            }
        }
    }
}

/// The session fed in reads; `None` for the leftover when the input ended
/// inside a body (the reference does not say what would be left).
fn driven(
    data: &[u8],
    limits: &Limits,
    mut reads: Reads,
    offer: bool,
    out: usize,
) -> (Vec<Event>, Option<Vec<u8>>) {
    let mut s = Session::new(limits);
    let mut events = Vec::new();
    let mut at = 0;
    // The request whose body is being read, and its body so far.
    let mut body: Option<(BodyDecoder, Vec<u8>)> = None;
    let mut buf = vec![0u8; out];
    let mut fresh: &[u8] = &[];
    loop {
        // Use what is buffered (and, for `offer`, the fresh read).
        loop {
            if let Some((dec, got)) = body.as_mut() {
                match s.read_body(dec, &mut buf) {
                    Ok(BodyStep::Data(n)) => {
                        assert!(n > 0 && n <= out, "a body read of {n} into {out}");
                        got.extend_from_slice(&buf[..n]);
                        continue;
                    }
                    Ok(BodyStep::End) => {
                        let (_, got) = body.take().unwrap();
                        events.push(Event::Body(got));
                    }
                    Ok(BodyStep::NeedMore) => break,
                    Err(e) => {
                        events.push(Event::BodyError(e.to_string()));
                        return (events, None);
                    }
                }
            }
            let event = if offer {
                s.offer(std::mem::take(&mut fresh), limits)
            } else {
                s.poll_head(limits)
            };
            match event {
                HeadEvent::Ready(head) => {
                    let framing = head.framing;
                    events.push(Event::Head(format!("{head:?}")));
                    if framing.has_body() {
                        body = Some((BodyDecoder::with_limits(framing, limits), Vec::new()));
                    } else {
                        // A head without a body: a `Length(0)` or none.
                        let mut dec = BodyDecoder::with_limits(framing, limits);
                        assert_eq!(s.read_body(&mut dec, &mut buf), Ok(BodyStep::End));
                    }
                }
                HeadEvent::NeedMore => break,
                HeadEvent::Refuse(e) => {
                    events.push(Event::Refused(e.status.as_u16(), e.reason));
                    return (events, None);
                }
            }
        }
        if at == data.len() {
            let left = if body.is_some() { None } else { Some(s.buffered().to_vec()) };
            return (events, left);
        }
        let n = reads.next_size().min(data.len() - at);
        if offer && body.is_none() {
            fresh = &data[at..at + n];
            at += n;
        } else if offer {
            s.extend(&data[at..at + n]);
            at += n;
        } else {
            match s.space(n) {
                Some(room) => {
                    let k = room.len().min(n);
                    room[..k].copy_from_slice(&data[at..at + k]);
                    s.filled(k);
                    at += k;
                }
                // At the head limit: the next poll refuses the head.
                None => {
                    match s.poll_head(limits) {
                        HeadEvent::Refuse(e) => events.push(Event::Refused(e.status.as_u16(), e.reason)),
                        other => panic!("space refused with a head that is not refused: {other:?}"),
                    }
                    return (events, None);
                }
            }
        }
    }
}
