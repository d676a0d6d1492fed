//! `response_head`: `mpm_site::proxy::response::parse_response_head`, a
//! backend's response head as the reverse proxy reads it. Input:
//! `[flags] [bytes a backend sends…]`; bit 0 of `flags` says the request
//! was a `HEAD`.
//!
//! Properties:
//!
//! 1. A head consumes between 1 byte and the input (and at most
//!    `MAX_HEAD` bytes); `Incomplete` is only said of fewer than
//!    `MAX_HEAD` bytes, so a reader whose buffer holds that many always
//!    gets an answer.
//! 2. **Growing input**: on prefixes of the input, shortest first, the
//!    answer is "incomplete" until there is one, and from then on it is
//!    the whole input's answer (the same head and length, or the same
//!    refusal): a proxy that parses after every read answers as one that
//!    waited for all the bytes.
//! 3. **Framing is never ambiguous**: a head with a body length has one
//!    `Content-Length` value and no `Transfer-Encoding`; a chunked one has
//!    no `Content-Length` and chunked last; an answer to `HEAD`, a 1xx,
//!    204 or 304 has no body; a body delimited by the close never keeps
//!    the connection.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpm_site::proxy::response::{
    parse_response_head, BadResponse, ResponseFraming, ResponseHead, MAX_HEAD,
};

/// A parse's answer, comparable.
#[derive(Debug, PartialEq)]
enum Answer {
    Incomplete,
    Head(String, usize),
    Refused(BadResponse),
}

fn answer(buf: &[u8], to_head: bool) -> Answer {
    match parse_response_head(buf, to_head) {
        Ok(None) => Answer::Incomplete,
        Ok(Some((head, n))) => Answer::Head(summary(&head), n),
        Err(e) => Answer::Refused(e),
    }
}

fn summary(head: &ResponseHead) -> String {
    format!(
        "{} {:?} {:?} {:?} {} {:?}",
        head.status, head.version, head.headers, head.framing, head.keep_alive, head.keep_alive_timeout
    )
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, wire)) = data.split_first() else {
        return;
    };
    let to_head = flags & 1 == 1;
    let whole = answer(wire, to_head);
    match parse_response_head(wire, to_head) {
        Ok(Some((head, n))) => {
            assert!(n >= 1 && n <= wire.len() && n <= MAX_HEAD, "consumed {n} of {}", wire.len());
            check_framing(&head, to_head);
        }
        Ok(None) => assert!(wire.len() < MAX_HEAD, "incomplete after {} bytes", wire.len()),
        Err(_) => {}
    }
    // Prefixes: every one of the first 300 bytes, then 16 more spread out.
    let mut lengths: Vec<usize> = (0..wire.len().min(300)).collect();
    lengths.extend((1..=16).map(|k| wire.len() * k / 17));
    lengths.sort_unstable();
    lengths.dedup();
    let mut answered = false;
    for len in lengths {
        let part = answer(&wire[..len], to_head);
        if part == Answer::Incomplete {
            assert!(!answered, "incomplete again at {len} bytes after an answer");
            continue;
        }
        answered = true;
        assert_eq!(part, whole, "the first {len} bytes answer otherwise than all {}", wire.len());
    }
});

fn check_framing(head: &ResponseHead, to_head: bool) {
    let cl: Vec<_> = head.headers.get_all("content-length").iter().collect();
    let te: Vec<_> = head.headers.get_all("transfer-encoding").iter().collect();
    assert!(cl.is_empty() || te.is_empty(), "both framings accepted: {:?}", head.headers);
    let no_body = to_head
        || head.status.is_informational()
        || head.status.as_u16() == 204
        || head.status.as_u16() == 304;
    match head.framing {
        ResponseFraming::Empty => assert!(no_body, "no body for {}", head.status),
        ResponseFraming::Length(n) => {
            assert!(!no_body);
            for v in &cl {
                for part in v.to_str().unwrap().split(',') {
                    assert_eq!(part.trim().parse::<u64>().ok(), Some(n), "lengths {cl:?}");
                }
            }
        }
        ResponseFraming::Chunked => {
            assert!(!no_body && cl.is_empty());
            let last = te
                .iter()
                .flat_map(|v| v.to_str().unwrap_or("").split(','))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .last();
            assert!(last.is_some_and(|t| t.eq_ignore_ascii_case("chunked")), "{te:?}");
        }
        ResponseFraming::Close => {
            assert!(!no_body && cl.is_empty());
            assert!(!head.keep_alive, "a close-delimited body keeps the connection");
        }
    }
}
