//! `cgi_response`: `mpm_site::cgi::ResponseParser`, a script's answer
//! (RFC 3875 §6) as mod_cgi, mod_fcgid and mod_proxy_fcgi read it. Input:
//! `[n] [n read sizes] [the script's output…]` (see `mpm_fuzz::Reads`),
//! parsed under the default limits and under tight ones (256 bytes, 4
//! lines) that short inputs reach.
//!
//! Properties:
//!
//! 1. **Any split**: the output pushed at once, a byte at a time and in
//!    the fuzzer's reads gives the same answer: the same head ending after
//!    the same byte of the output, or the same refusal, or "need more"
//!    when the output runs out (then `end_of_output` refuses it).
//! 2. A head ends within `max_head` bytes and within the bytes pushed;
//!    "need more" is only said of fewer than `max_head` bytes.
//! 3. A head's status is 200–599; it has no `Status` field and none of a
//!    connection's fields; a `Location` local redirect is only a 200 whose
//!    `Location` starts with `/`.
//! 4. **Re-encoding**: the head written back (`Status: code reason`, the
//!    fields, an empty line) parses to the same head.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpm_fuzz::Reads;
use mpm_site::cgi::{BadCgiResponse, CgiHead, Disposition, ResponseLimits, ResponseParser};

/// What a parse of the whole output says.
#[derive(Debug, PartialEq)]
enum Answer {
    NeedMore,
    Head(CgiHead, usize),
    Refused(BadCgiResponse),
}

/// Push `output` in the reads `reads` gives.
fn parse(output: &[u8], mut reads: Reads<'_>, limits: ResponseLimits) -> Answer {
    let mut parser = ResponseParser::new(limits);
    let mut at = 0;
    while at < output.len() {
        let n = reads.next_size().min(output.len() - at);
        match parser.push(&output[at..at + n]) {
            Ok(None) => at += n,
            Ok(Some((head, used))) => {
                assert!(used <= n, "a head used {used} of the {n} bytes pushed");
                return Answer::Head(head, at + used);
            }
            Err(e) => return Answer::Refused(e),
        }
    }
    Answer::NeedMore
}

fn check_head(head: &CgiHead, end: usize, limits: ResponseLimits) {
    assert!(end >= 1 && end <= limits.max_head, "a head of {end} bytes");
    let code = head.status.as_u16();
    assert!((200..=599).contains(&code), "status {code}");
    for name in ["status", "connection", "transfer-encoding", "keep-alive", "te", "trailer", "upgrade"] {
        assert!(!head.headers.contains_key(name), "{name} passed to the client");
    }
    if let Disposition::LocalRedirect(path) = head.disposition() {
        assert!(path.starts_with('/') && code == 200, "a local redirect to {path} on {code}");
    }
    // Written back, it reads the same.
    let mut wire = Vec::new();
    if head.status_given {
        wire.extend_from_slice(format!("Status: {code}").as_bytes());
        if let Some(reason) = &head.reason {
            wire.push(b' ');
            wire.extend_from_slice(reason.as_bytes());
        }
        wire.extend_from_slice(b"\r\n");
    }
    for (name, value) in &head.headers {
        wire.extend_from_slice(name.as_str().as_bytes());
        wire.extend_from_slice(b": ");
        wire.extend_from_slice(value.as_bytes());
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"\r\n");
    let big = ResponseLimits {
        max_head: wire.len().max(limits.max_head),
        max_fields: limits.max_fields + 1,
    };
    match ResponseParser::new(big).push(&wire) {
        Ok(Some((again, used))) => {
            assert_eq!(used, wire.len());
            assert_eq!(again.status, head.status);
            assert_eq!(again.reason, head.reason);
            assert_eq!(again.headers, head.headers);
            assert_eq!(again.content_length, head.content_length);
        }
        other => panic!("the head written back ({:?}) reads as {other:?}", String::from_utf8_lossy(&wire)),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((reads, output)) = Reads::split(data) else {
        return;
    };
    let tight = ResponseLimits { max_head: 256, max_fields: 4 };
    for limits in [ResponseLimits::default(), tight] {
        let whole = parse(output, Reads::whole(), limits);
        match &whole {
            Answer::Head(head, end) => check_head(head, *end, limits),
            Answer::NeedMore => assert!(output.len() < limits.max_head, "need more after {} bytes", output.len()),
            Answer::Refused(_) => {}
        }
        assert_eq!(parse(output, Reads::bytewise(), limits), whole, "byte by byte");
        assert_eq!(parse(output, reads.clone(), limits), whole, "in the fuzzer's reads");
    }
});
