use super::*;
use crate::config::Limits;

/// Feeds `input` in pieces of `step` bytes (the unconsumed rest carried
/// over), returning the body, the bytes consumed, or the error.
fn feed(
    framing: Framing,
    limit: u64,
    input: &[u8],
    step: usize,
) -> Result<(Vec<u8>, usize), BodyError> {
    let mut dec = BodyDecoder::new(framing, limit);
    let mut body = Vec::new();
    let mut at = 0;
    let mut avail = 0;
    while !dec.is_complete() {
        avail = (avail + step).min(input.len());
        let window = &input[at..avail];
        let d = dec.decode(window)?;
        assert!(d.consumed <= window.len(), "consumed past the input");
        assert!(
            d.data.start <= d.data.end && d.data.end <= d.consumed,
            "data outside consumed: {d:?}"
        );
        body.extend_from_slice(&window[d.data.clone()]);
        at += d.consumed;
        if d.consumed == 0 && avail == input.len() {
            break; // no progress and nothing more to give
        }
    }
    assert_eq!(
        dec.received(),
        body.len() as u64,
        "received() disagrees with the data produced"
    );
    Ok((body, at))
}

/// Decodes a complete body fed 1, 2, 3, 7 and all bytes at a time, all
/// of which must agree.
fn complete(framing: Framing, input: &[u8]) -> (Vec<u8>, usize) {
    let whole = feed(framing, 0, input, input.len().max(1))
        .unwrap_or_else(|e| panic!("{e} for {:?}", String::from_utf8_lossy(input)));
    for step in [1, 2, 3, 7] {
        let piecewise = feed(framing, 0, input, step).unwrap_or_else(|e| {
            panic!("step {step}: {e} for {:?}", String::from_utf8_lossy(input))
        });
        assert_eq!(
            piecewise, whole,
            "feeding {step} bytes at a time differs from all at once"
        );
    }
    whole
}

/// The reason a chunked `input` is refused, the same byte by byte and all
/// at once.
fn malformed_in(input: &[u8]) -> &'static str {
    let mut reasons = [1, input.len()].map(|step| match feed(Framing::Chunked, 0, input, step) {
        Err(BodyError::Malformed(why)) => why,
        other => panic!(
            "expected Malformed for {:?} (step {step}), got {other:?}",
            String::from_utf8_lossy(input)
        ),
    });
    assert_eq!(reasons[0], reasons[1], "byte-at-a-time reason differs");
    std::mem::take(&mut reasons[0])
}

#[test]
fn content_length_body_passes_exactly_n_bytes() {
    let (body, n) = complete(Framing::Length(5), b"helloGET / HTTP/1.1");
    assert_eq!(body, b"hello");
    assert_eq!(n, 5);
}

#[test]
fn no_body_is_complete_at_once_and_consumes_nothing() {
    for framing in [Framing::None, Framing::Length(0)] {
        let mut dec = BodyDecoder::new(framing, 0);
        assert!(dec.is_complete());
        assert_eq!(
            dec.decode(b"GET /").unwrap(),
            Decoded {
                consumed: 0,
                data: 0..0
            }
        );
    }
}

#[test]
fn chunked_body_is_decoded_at_any_feeding_size() {
    let input = b"5\r\nhello\r\n1;ext=1;x\r\n \r\nA\r\n0123456789\r\n0\r\n\r\nNEXT";
    let (body, n) = complete(Framing::Chunked, input);
    assert_eq!(body, b"hello 0123456789");
    assert_eq!(n, input.len() - 4, "consumed the next request");
}

#[test]
fn chunked_trailers_are_consumed_and_discarded() {
    let input = b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\nNEXT";
    let (body, n) = complete(Framing::Chunked, input);
    assert_eq!(body, b"abc");
    assert_eq!(n, input.len() - 4);
}

#[test]
fn chunked_accepts_whitespace_before_extensions() {
    let input = b"3 ;a=b\r\nabc\r\n0\r\n\r\n";
    let (body, n) = complete(Framing::Chunked, input);
    assert_eq!(body, b"abc");
    assert_eq!(n, input.len());
}

#[test]
fn bare_lf_anywhere_in_chunked_framing_is_refused() {
    const BARE_LF: &str = "bare LF in chunked framing (CRLF required)";
    for input in [
        // The review's example: every line ended by LF alone.
        &b"5\nhello\n0\n\n"[..],
        // One bare LF at a time, the rest CRLF.
        b"5\nhello\r\n0\r\n\r\n",
        b"5 \nhello\r\n0\r\n\r\n",
        b"5;ext\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\n0\r\n\r\n",
        b"5\r\nhello\r\n0\n\r\n",
        b"5\r\nhello\r\n0\r\n\n",
        b"0\r\nX-Sum: 1\n\r\n",
    ] {
        assert_eq!(
            malformed_in(input),
            BARE_LF,
            "for {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn a_request_smuggled_as_a_trailer_is_refused() {
    assert_eq!(
        malformed_in(b"0\r\nGET /private HTTP/1.1\r\n\r\n"),
        "whitespace between trailer name and colon"
    );
    assert_eq!(
        malformed_in(b"0\r\n/private\r\n\r\n"),
        "trailer line is not a header field"
    );
}

#[test]
fn trailers_must_be_field_lines() {
    for (input, why) in [
        (
            &b"0\r\nNoColon\r\n\r\n"[..],
            "trailer line is not a header field",
        ),
        (
            b"0\r\n: empty name\r\n\r\n",
            "trailer line is not a header field",
        ),
        (b"0\r\nX(: 1\r\n\r\n", "trailer line is not a header field"),
        (
            b"0\r\nX-A : 1\r\n\r\n",
            "whitespace between trailer name and colon",
        ),
        (
            b"0\r\nX-A: 1\r\n folded\r\n\r\n",
            "obsolete line folding in trailer",
        ),
        (b"0\r\nX-A: a\0b\r\n\r\n", "control character in trailer"),
        (b"0\r\nX-A: a\x7fb\r\n\r\n", "control character in trailer"),
        (b"0\r\nX: a\rb", "bare CR in trailer"),
        (b"0\r\n\rX", "bare CR after last chunk"),
    ] {
        assert_eq!(
            malformed_in(input),
            why,
            "for {:?}",
            String::from_utf8_lossy(input)
        );
    }
    // Field values may hold OWS, obs-text and any visible byte; empty
    // values are allowed.
    let input = b"0\r\nX-A:\r\nX-B: \t a:b \xe9 \t\r\nx:y\r\n\r\nNEXT";
    let (body, n) = complete(Framing::Chunked, input);
    assert!(body.is_empty());
    assert_eq!(n, input.len() - 4, "consumed the next request");
}

#[test]
fn trailers_obey_the_header_field_limits() {
    let limits = Limits {
        fields: 2,
        field_size: 10,
        ..Limits::default()
    };
    let decode = |input: &[u8]| {
        let mut dec = BodyDecoder::with_limits(Framing::Chunked, &limits);
        let mut at = 0;
        loop {
            // A byte at a time: the limits hold however the input is split.
            let d = dec.decode(&input[at..(at + 1).min(input.len())])?;
            at += d.consumed;
            if dec.is_complete() || at == input.len() {
                return Ok(dec.is_complete());
            }
        }
    };
    // Two lines of ten bytes: at the limits.
    assert_eq!(decode(b"0\r\nX-A: 12345\r\nX-B:123456\r\n\r\n"), Ok(true));
    assert_eq!(
        decode(b"0\r\nX-A: 123456\r\n\r\n"),
        Err(BodyError::Malformed("trailer field too large"))
    );
    assert_eq!(
        decode(b"0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
        Err(BodyError::Malformed("too many trailer fields"))
    );
    // The defaults are Apache's: 100 fields of 8190 bytes.
    let mut many = b"0\r\n".to_vec();
    for _ in 0..101 {
        many.extend_from_slice(b"X-Trailer: 1\r\n");
    }
    assert_eq!(malformed_in(&many), "too many trailer fields");
    // "0\r\n", then a line of 8191 bytes.
    let mut long = b"0\r\nX: ".to_vec();
    long.resize(3 + 8191, b'a');
    long.extend_from_slice(b"\r\n\r\n");
    assert_eq!(malformed_in(&long), "trailer field too large");
}

#[test]
fn chunked_upper_case_hex_and_leading_zeros() {
    let mut input = b"00B\r\n".to_vec();
    input.extend_from_slice(&[b'x'; 11]);
    input.extend_from_slice(b"\r\n0\r\n\r\n");
    let (body, _) = complete(Framing::Chunked, &input);
    assert_eq!(body.len(), 11);
}

#[test]
fn chunked_body_with_bad_size_is_refused() {
    assert_eq!(malformed_in(b"\r\nabc"), "missing chunk size");
    assert_eq!(malformed_in(b"g\r\n"), "missing chunk size");
    assert_eq!(malformed_in(b"5x\r\nhello"), "invalid chunk size");
    assert_eq!(malformed_in(b"5 x\r\nhello"), "invalid chunk size");
    assert_eq!(malformed_in(b"-5\r\nhello"), "missing chunk size");
    assert_eq!(
        malformed_in(b"10000000000000000\r\n"),
        "chunk size too large"
    );
    assert_eq!(malformed_in(b"5\rhello"), "bare CR in chunk size line");
}

#[test]
fn chunked_body_without_crlf_after_data_is_refused() {
    assert_eq!(
        malformed_in(b"3\r\nabcd\r\n"),
        "missing CRLF after chunk data"
    );
    assert_eq!(
        malformed_in(b"3\r\nabc\rX"),
        "missing CRLF after chunk data"
    );
}

#[test]
fn chunk_extensions_are_bounded() {
    let mut ext = b"1;".to_vec();
    ext.resize(ext.len() + MAX_CHUNK_EXTENSION + 1, b'a');
    assert_eq!(malformed_in(&ext), "chunk extension too long");
}

#[test]
fn chunked_body_over_the_limit_fails_when_the_size_announces_it() {
    let mut dec = BodyDecoder::new(Framing::Chunked, 10);
    let d = dec.decode(b"6\r\nabcdef\r\n").unwrap();
    assert_eq!(d.data, 3..9);
    let d = dec.decode(&b"6\r\nabcdef\r\n"[d.consumed..]).unwrap();
    assert_eq!(d.consumed, 2);
    // The second size line announces 12 bytes in all: refused before its data.
    assert_eq!(dec.decode(b"5\r\n"), Err(BodyError::TooLarge));
    assert_eq!(
        dec.decode(b"abc"),
        Err(BodyError::TooLarge),
        "error not sticky"
    );
    assert_eq!(dec.received(), 6);
    // Exactly at the limit is fine.
    let (body, _) = feed(Framing::Chunked, 10, b"A\r\n0123456789\r\n0\r\n\r\n", 1).unwrap();
    assert_eq!(body.len(), 10);
}

#[test]
fn content_length_over_the_limit_is_too_large() {
    let mut dec = BodyDecoder::new(Framing::Length(11), 10);
    assert_eq!(dec.decode(b"hello"), Err(BodyError::TooLarge));
    assert!(!dec.is_complete());
}

#[test]
fn one_call_yields_at_most_one_data_range() {
    let input = b"1\r\na\r\n1\r\nb\r\n0\r\n\r\n";
    let mut dec = BodyDecoder::new(Framing::Chunked, 0);
    let d = dec.decode(input).unwrap();
    assert_eq!((d.consumed, d.data), (4, 3..4));
    let d = dec.decode(&input[4..]).unwrap();
    assert_eq!(d.data, 5..6, "second chunk's data after CRLF and size line");
}

#[test]
fn after_completion_nothing_is_consumed() {
    let mut dec = BodyDecoder::new(Framing::Length(2), 0);
    let d = dec.decode(b"ab").unwrap();
    assert_eq!(d.consumed, 2);
    assert!(dec.is_complete());
    assert_eq!(dec.decode(b"cd").unwrap().consumed, 0);
}

#[test]
fn limit_request_fields_0_lets_any_number_of_trailers_through() {
    let limits = Limits {
        fields: 0,
        ..Limits::default()
    };
    let mut input = b"0\r\n".to_vec();
    for i in 0..300 {
        input.extend_from_slice(format!("X-T{i}: {i}\r\n").as_bytes());
    }
    input.extend_from_slice(b"\r\n");
    let mut dec = BodyDecoder::with_limits(Framing::Chunked, &limits);
    let d = dec
        .decode(&input)
        .expect("300 trailers under no field limit");
    assert_eq!(d.consumed, input.len());
    assert!(dec.is_complete());
}
