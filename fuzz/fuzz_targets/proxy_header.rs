//! `proxy_header`: `mpm_core::net::proxy::header::parse`, the PROXY
//! protocol header (v1 and v2) a load balancer opens a connection with.
//! Input: the first bytes of a connection.
//!
//! Properties:
//!
//! 1. A complete header is no longer than the input nor than the bounds
//!    (107 bytes for v1, `MAX_HEADER_LEN` for v2), and parsing exactly
//!    its bytes gives the same header: the parser never reads past it
//!    (the request or TLS ClientHello behind it stays whole).
//! 2. Splitting never changes the outcome: every prefix of a complete
//!    header is `Incomplete`, never an error (a header that arrives in
//!    pieces is awaited), and every prefix of an input that is refused is
//!    `Incomplete` or refused, never a header.
//! 3. `Incomplete` is only said of fewer bytes than `MAX_HEADER_LEN`, so
//!    a reader with a buffer that large always gets an answer.
//! 4. A v2 header carries addresses only as `PROXY` (0x21) over TCP: a
//!    `LOCAL` one has none, whatever it holds; and v2 headers built with
//!    `encode_v2` from the addresses parsed give those addresses back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpm_core::net::proxy::header::{encode_v2, parse, Parsed, MAX_HEADER_LEN, V1_MAX_LEN};

fuzz_target!(|data: &[u8]| {
    let parsed = parse(data);
    match &parsed {
        Ok(Parsed::Complete { header, len }) => {
            let len = *len;
            assert!(len <= data.len(), "a header of {len} bytes in {} bytes", data.len());
            let bound = if header.version == 1 { V1_MAX_LEN } else { MAX_HEADER_LEN };
            assert!(len <= bound, "a v{} header of {len} bytes", header.version);
            assert_eq!(parse(&data[..len]), parsed, "the header alone parses differently");
            for cut in cuts(len) {
                assert_eq!(
                    parse(&data[..cut]),
                    Ok(Parsed::Incomplete),
                    "the first {cut} bytes of a {len}-byte header"
                );
            }
            if header.version == 2 {
                let local = data[12] & 0x0f == 0;
                assert!(!local || header.addresses.is_none(), "a LOCAL header gave addresses");
                if let Some(addresses) = header.addresses {
                    let again = parse(&encode_v2(Some(addresses), &[]));
                    let Ok(Parsed::Complete { header: h, .. }) = again else {
                        panic!("re-encoded addresses {addresses:?} gave {again:?}");
                    };
                    assert_eq!(h.addresses, Some(addresses), "addresses changed on re-encoding");
                }
            }
        }
        Ok(Parsed::Incomplete) => {
            assert!(data.len() < MAX_HEADER_LEN, "Incomplete after {} bytes", data.len());
        }
        Err(e) => {
            assert!(!e.to_string().is_empty(), "an error without a message");
            for cut in cuts(data.len()) {
                let p = parse(&data[..cut]);
                assert!(
                    !matches!(p, Ok(Parsed::Complete { .. })),
                    "{cut} bytes of a refused input gave {p:?}"
                );
            }
        }
    }
});

/// Where to cut an input of `len` bytes: everywhere when short, else the
/// edges and a stride through the middle (bounded work per input).
fn cuts(len: usize) -> Vec<usize> {
    if len <= 128 {
        return (0..len).collect();
    }
    let mut v: Vec<usize> = (0..32).chain(len - 32..len).collect();
    v.extend((32..len - 32).step_by(len / 64 + 1));
    v
}
