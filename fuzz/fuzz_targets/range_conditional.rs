//! `range_conditional`: `mpmd::site::conditional`, the preconditions of
//! RFC 9110 §13.2.2 and the `Range` field (§14), as static files answer
//! them.
//!
//! Input: `[method] [len: 8 bytes LE] [validators] [present] fields…`:
//! the method (GET, HEAD, POST, PUT by the low 2 bits), the
//! representation's length, which validators it has (bit 0: an ETag, bit
//! 1: weak, bit 2: a Last-Modified time, taken from the next 4 bytes),
//! which of the six request fields are present (one bit each), then the
//! ETag's opaque part and the field values, separated by `\n`.
//!
//! Properties:
//!
//! 1. `parse_range` never answers a part outside the representation
//!    (`first <= last < len`), and none of an empty one.
//! 2. A decision of 206 is a part of the representation, asked for by a
//!    `Range` field of a GET or HEAD; 304 only answers GET and HEAD; 416
//!    only answers a `Range` field.
//! 3. The order of §13.2.2: `Range` and `If-Range` come last. Without
//!    them, a 412 or 304 stays what it is with them, and a 200 may become
//!    206 or 416 only through them.
//! 4. The representation's own validators pass: `If-Match: *` and
//!    `If-Match` with its strong ETag never fail; `If-None-Match: *` and
//!    `If-None-Match` with its ETag (weak comparison) are "not modified"
//!    for GET.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpmd::site::conditional::{evaluate, parse_range, Conditions, Decision, RangeAsk, Representation};

/// "Now", for `If-Modified-Since` dates in the future: 2030-01-01.
const NOW: u64 = 1_893_456_000;

fuzz_target!(|data: &[u8]| {
    if data.len() < 15 {
        return;
    }
    let method = ["GET", "HEAD", "POST", "PUT"][usize::from(data[0] & 3)];
    let mut len_bytes = [0u8; 8];
    len_bytes.copy_from_slice(&data[1..9]);
    // Lengths up to 1 TiB, and small ones often.
    let len = u64::from_le_bytes(len_bytes) % if data[9] & 8 == 0 { 1 << 40 } else { 64 };
    let validators = data[9];
    let modified = u64::from(u32::from_le_bytes([data[10], data[11], data[12], data[13]]));
    let present = data[14];
    let mut parts = data[15..].split(|&b| b == b'\n');
    let opaque = parts.next().unwrap_or(b"");
    let etag = (validators & 1 != 0).then(|| {
        let mut tag = Vec::new();
        if validators & 2 != 0 {
            tag.extend_from_slice(b"W/");
        }
        tag.push(b'"');
        tag.extend(opaque.iter().copied().filter(|&b| b != b'"' && b > 0x20 && b != 0x7f));
        tag.push(b'"');
        tag
    });
    let rep = Representation {
        etag: etag.as_deref(),
        last_modified: (validators & 4 != 0).then_some(modified),
        len,
    };
    let mut field = |bit: u8| {
        let value = parts.next().unwrap_or(b"");
        (present & (1 << bit) != 0).then_some(value)
    };
    let conditions = Conditions {
        if_match: field(0),
        if_none_match: field(1),
        if_modified_since: field(2),
        if_unmodified_since: field(3),
        if_range: field(4),
        range: field(5),
    };

    // 1. Ranges stay inside the representation.
    if let Some(range) = conditions.range {
        match parse_range(range, len) {
            RangeAsk::Part { first, last } => assert!(
                first <= last && last < len,
                "Range {:?} of {len} bytes gave {first}-{last}",
                String::from_utf8_lossy(range)
            ),
            RangeAsk::Whole | RangeAsk::Unsatisfiable => {}
        }
    }

    // 2. What each answer may answer.
    let read = method == "GET" || method == "HEAD";
    let decision = evaluate(method, &conditions, &rep, NOW);
    match decision {
        Decision::Part { first, last } => {
            assert!(first <= last && last < len, "206 {first}-{last} of {len}");
            assert!(conditions.range.is_some() && read, "206 without Range: {conditions:?}");
        }
        Decision::NotModified => assert!(read, "304 to {method}"),
        Decision::RangeNotSatisfiable => assert!(conditions.range.is_some(), "416 without Range"),
        Decision::Whole | Decision::PreconditionFailed => {}
    }

    // 3. Range and If-Range are evaluated last.
    let plain = Conditions {
        range: None,
        if_range: None,
        ..conditions
    };
    let before = evaluate(method, &plain, &rep, NOW);
    match before {
        Decision::PreconditionFailed | Decision::NotModified => assert_eq!(
            decision, before,
            "Range/If-Range changed a precondition's answer: {conditions:?} {rep:?}"
        ),
        Decision::Whole => assert!(
            matches!(
                decision,
                Decision::Whole | Decision::Part { .. } | Decision::RangeNotSatisfiable
            ),
            "{decision:?} where the preconditions said 200: {conditions:?} {rep:?}"
        ),
        other => panic!("{other:?} without a Range field: {plain:?} {rep:?}"),
    }

    // 4. The representation's own validators pass.
    let only = |c: Conditions<'_>| evaluate("GET", &c, &rep, NOW);
    assert_eq!(
        only(Conditions {
            if_match: Some(b"*"),
            ..Conditions::default()
        }),
        Decision::Whole,
        "If-Match: * failed for {rep:?}"
    );
    assert_eq!(
        only(Conditions {
            if_none_match: Some(b"*"),
            ..Conditions::default()
        }),
        Decision::NotModified,
        "If-None-Match: * passed for {rep:?}"
    );
    if let Some(tag) = rep.etag {
        if !tag.starts_with(b"W/") {
            assert_eq!(
                only(Conditions {
                    if_match: Some(tag),
                    ..Conditions::default()
                }),
                Decision::Whole,
                "If-Match with its own strong ETag failed: {rep:?}"
            );
        }
        assert_eq!(
            only(Conditions {
                if_none_match: Some(tag),
                ..Conditions::default()
            }),
            Decision::NotModified,
            "If-None-Match with its own ETag passed: {rep:?}"
        );
    }
});
