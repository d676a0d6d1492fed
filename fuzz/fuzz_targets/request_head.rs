//! `request_head`: `mpm_core::h1::parse_head` on arbitrary bytes, under
//! several `Limits`. Input: the raw bytes a client sends.
//!
//! Properties, for every limit set:
//!
//! 1. No panic; a refusal carries one of the statuses `parse_head`
//!    documents (400, 413, 414, 417, 431, 501, 505); a head consumes at
//!    least one byte and no more than the input.
//! 2. Growing input: `parse_head` on the prefixes of the input, shortest
//!    first, says "incomplete" (`Ok(None)`) until it gives an answer, and
//!    from then on gives exactly the whole input's answer (the same head
//!    and length, or the same refusal). A driver that parses again after
//!    every read therefore never answers differently from one that waited
//!    for all the bytes, and never refuses a head that would have been
//!    good.
//! 3. Re-encoding: a parsed head written back as a request line, its header
//!    fields and an empty line (the small encoder below) parses to an
//!    equivalent head: method, target, version, header fields, framing,
//!    keep-alive and `Expect`, consuming exactly the encoded bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpm_core::h1::{parse_head, HeadError, HeadScan, RequestHead};
use mpm_core::http::Version;
use mpm_core::Limits;

fuzz_target!(|data: &[u8]| {
    for limits in limit_sets() {
        check(data, &limits);
    }
});

/// The defaults, tight limits that the fuzzer can reach with short inputs
/// (and an unlimited body), and a set allowing a single header field.
/// Limits not named here keep their defaults (the struct grows).
#[allow(clippy::needless_update)]
fn limit_sets() -> [Limits; 3] {
    [
        Limits::default(),
        Limits {
            request_line: 32,
            field_size: 24,
            fields: 4,
            body: 0,
            ..Limits::default()
        },
        Limits {
            request_line: 64,
            field_size: 64,
            fields: 1,
            body: 10,
            ..Limits::default()
        },
    ]
}

type Outcome = Result<Option<(RequestHead, usize)>, HeadError>;

fn check(input: &[u8], limits: &Limits) {
    let whole = parse_head(input, limits);
    match &whole {
        Ok(None) => {}
        Ok(Some((head, n))) => {
            assert!(
                (1..=input.len()).contains(n),
                "head consumed {n} bytes of {}",
                input.len()
            );
            check_reencoding(head, limits);
        }
        Err(e) => assert!(
            matches!(e.status.as_u16(), 400 | 413 | 414 | 417 | 431 | 501 | 505),
            "refused with an undocumented status: {e:?}"
        ),
    }
    check_growing(input, limits, &whole);
    check_head_scan(input, limits, &whole);
}

/// Property 4: a `HeadScan` kept between reads (one byte at a time, and at
/// the prefix lengths of property 2) answers as `parse_head` on the whole
/// input, having examined fewer than twice the input's bytes.
fn check_head_scan(input: &[u8], limits: &Limits, whole: &Outcome) {
    let bytewise: Vec<usize> = (1..=input.len()).collect();
    for (name, lengths) in [
        ("byte by byte", bytewise),
        ("in pieces", prefix_lengths(input)),
    ] {
        let mut scan = HeadScan::default();
        let mut answer = Ok(None);
        for &k in &lengths {
            answer = scan.advance(&input[..k], limits);
            if !matches!(answer, Ok(None)) {
                break;
            }
        }
        if let Err(why) = same_outcome(&answer, whole) {
            panic!(
                "HeadScan fed {name} answers {:?}, parse_head on all {} bytes {:?}: {why}; \
                 limits {limits:?}",
                brief(&answer),
                input.len(),
                brief(whole)
            );
        }
        assert!(
            scan.scanned() <= 2 * input.len(),
            "HeadScan fed {name} examined {} bytes of {}",
            scan.scanned(),
            input.len()
        );
    }
}

/// Property 2: the answers on growing prefixes.
fn check_growing(input: &[u8], limits: &Limits, whole: &Outcome) {
    let mut answered_at = None;
    for k in prefix_lengths(input) {
        let part = parse_head(&input[..k], limits);
        match (&part, answered_at) {
            (Ok(None), None) => {}
            (Ok(None), Some(at)) => panic!(
                "{k} bytes are incomplete after {at} bytes were answered ({:?}); \
                 limits {limits:?}",
                brief(whole)
            ),
            _ => {
                answered_at.get_or_insert(k);
                if let Err(why) = same_outcome(&part, whole) {
                    panic!(
                        "the first {k} of {} bytes answer {:?}, all of them {:?}: {why}; \
                         limits {limits:?}",
                        input.len(),
                        brief(&part),
                        brief(whole)
                    );
                }
            }
        }
    }
}

/// The prefix lengths to try, ascending, ending with the whole input: all
/// of them for short inputs; for longer ones the first 128, those around
/// every NUL, CR and LF (where lines end and the scan decides), and every
/// 17th (so a limit is passed by at most 16 bytes before it is checked).
fn prefix_lengths(input: &[u8]) -> Vec<usize> {
    if input.len() <= 128 {
        return (0..=input.len()).collect();
    }
    let mut near_special = vec![false; input.len() + 1];
    for (i, &b) in input.iter().enumerate() {
        if matches!(b, 0 | b'\r' | b'\n') {
            let around = i.saturating_sub(1)..=(i + 2).min(input.len());
            near_special[around].fill(true);
        }
    }
    (0..=input.len())
        .filter(|&k| k <= 128 || k % 17 == 0 || k == input.len() || near_special[k])
        .collect()
}

/// Property 3: write the head back and parse it again.
fn check_reencoding(head: &RequestHead, limits: &Limits) {
    let encoded = encode(head);
    // The target is written as `http::Uri` displays it, which may add a
    // `/` the client left out (`http://a` → `http://a/`): allow for it.
    let line_len = encoded
        .iter()
        .position(|&b| b == b'\r')
        .unwrap_or(encoded.len());
    let limits = Limits {
        request_line: limits.request_line.max(line_len),
        ..*limits
    };
    match parse_head(&encoded, &limits) {
        Ok(Some((again, n))) => {
            assert_eq!(
                n,
                encoded.len(),
                "the re-encoded head {:?} consumed {n} of its {} bytes",
                String::from_utf8_lossy(&encoded),
                encoded.len()
            );
            let line = String::from_utf8_lossy(&encoded[..line_len]);
            assert_eq!(
                again.request_line, line,
                "re-encoded request line read back differently"
            );
            if let Err(why) = same_head(&again, head) {
                panic!(
                    "re-encoded head {:?} parses to a different head: {why}\n\
                     original: {head:?}\nagain: {again:?}",
                    String::from_utf8_lossy(&encoded)
                );
            }
        }
        other => panic!(
            "re-encoded head {:?} does not parse: {:?} (original {head:?})",
            String::from_utf8_lossy(&encoded),
            brief(&other)
        ),
    }
}

/// A request head as a client could send it: `method SP target SP
/// version CRLF`, then `name:value CRLF` for every field (in the map's
/// order: fields of one name together, in their order), then CRLF. No
/// space after the colon, so no line grows past the limit it met.
fn encode(head: &RequestHead) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(head.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(head.uri.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(match head.version {
        Version::HTTP_10 => b"HTTP/1.0",
        Version::HTTP_11 => b"HTTP/1.1",
        other => panic!("parse_head returned version {other:?}"),
    });
    out.extend_from_slice(b"\r\n");
    for (name, value) in &head.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.push(b':');
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Whether two heads mean the same request (the request line as received
/// is compared only by [`same_outcome`], where both come from one input).
fn same_head(a: &RequestHead, b: &RequestHead) -> Result<(), String> {
    let fields = |h: &RequestHead| {
        h.headers
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    let mut differ = Vec::new();
    if a.method != b.method {
        differ.push("method");
    }
    if a.uri != b.uri || a.uri.to_string() != b.uri.to_string() {
        differ.push("target");
    }
    if a.version != b.version {
        differ.push("version");
    }
    if fields(a) != fields(b) {
        differ.push("header fields");
    }
    if a.framing != b.framing {
        differ.push("framing");
    }
    if a.keep_alive != b.keep_alive {
        differ.push("keep-alive");
    }
    if a.expect_continue != b.expect_continue {
        differ.push("expect-continue");
    }
    if differ.is_empty() {
        Ok(())
    } else {
        Err(format!("{} differ", differ.join(", ")))
    }
}

fn same_outcome(a: &Outcome, b: &Outcome) -> Result<(), String> {
    match (a, b) {
        (Ok(None), Ok(None)) => Ok(()),
        (Ok(Some((ha, na))), Ok(Some((hb, nb)))) => {
            if na != nb {
                return Err(format!("consumed {na} against {nb}"));
            }
            if ha.request_line != hb.request_line {
                return Err("request lines differ".into());
            }
            same_head(ha, hb)
        }
        (Err(ea), Err(eb)) if ea == eb => Ok(()),
        _ => Err("different answers".into()),
    }
}


/// An outcome in a line: the head's request line and length, or the
/// refusal.
fn brief(o: &Outcome) -> String {
    match o {
        Ok(None) => "incomplete".into(),
        Ok(Some((head, n))) => format!("head {:?} of {n} bytes", head.request_line),
        Err(e) => format!("{} {} (line {:?})", e.status, e.reason, e.request_line),
    }
}
