//! What the HTTP/2 benches share: a client's header block.

use mpm_core::h2::hpack;

/// Append `fields` to `block` as a client's encoder sends them, each
/// indexed in its dynamic table (as browsers and h2load do).
pub fn encode_indexed(enc: &mut hpack::Encoder, fields: &[(&str, &str)], block: &mut Vec<u8>) {
    for (n, v) in fields {
        enc.encode(
            n.as_bytes(),
            v.as_bytes(),
            hpack::Indexing::Incremental,
            block,
        );
    }
}
