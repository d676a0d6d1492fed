//! HPACK, HTTP/2's header compression (RFC 7541), written here.
//!
//! Why not a crate: the Rust HPACK crates that need no async runtime were
//! looked at (December 2026). `hpack` is unmaintained (RUSTSEC-2023-0085:
//! it panics on the one-byte block `0x3f`); its forks `fluke-hpack` /
//! `loona-hpack` carry the same panic (reported in July 2026) and neither
//! bounds the decoded header list, so an HPACK bomb is the caller's to
//! catch after the memory is spent; `httlib-hpack` has had no release
//! since 2021. HPACK is small and fully specified, so it lives here,
//! bounded and fuzzed (`fuzz/fuzz_targets/hpack_decode.rs`).
//!
//! - [`Decoder`]: a header block → fields, given to a callback without
//!   copying what the dynamic table holds. Bounded: the dynamic table by
//!   the size we announced (`SETTINGS_HEADER_TABLE_SIZE`), the decoded
//!   list by a limit the caller passes (`SETTINGS_MAX_HEADER_LIST_SIZE`):
//!   past it the block is still decoded (the table must stay in step with
//!   the peer's) but no field is handed out, so a block that references a
//!   4 KiB entry a thousand times costs no memory (the "HPACK bomb").
//! - [`Encoder`]: fields → a header block, with or without indexing;
//!   credentials (`authorization`, `cookie`, `set-cookie` …) are sent
//!   *never indexed* ([`Indexing::for_field`]).
//! - Integers (§5.1) with overflow checks, strings (§5.2) with the static
//!   Huffman code ([`huffman`]), the static table ([`table::STATIC`]).

mod decoder;
mod encoder;
pub mod huffman;
mod huffman_table;
pub mod table;

pub use decoder::{Decoded, Decoder};
pub use encoder::{Encoder, Indexing};

/// The default dynamic table size (`SETTINGS_HEADER_TABLE_SIZE`, 4096).
pub const DEFAULT_TABLE_SIZE: usize = 4096;

/// Why a header block could not be decoded: every one is a connection
/// error of type `COMPRESSION_ERROR` (RFC 9113 §4.3), since the peer's
/// table and ours may no longer agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HpackError {
    /// An integer or a string runs past the end of the block.
    Truncated,
    /// An integer does not fit in 32 bits.
    IntegerOverflow,
    /// An index of 0, or past the static and dynamic tables.
    BadIndex,
    /// A dynamic table size update above the size we allow.
    TableSizeTooLarge,
    /// A dynamic table size update after a field representation, or
    /// missing where our lowered setting requires one (§4.2).
    TableSizeUpdatePlacement,
    /// A Huffman string with EOS inside or bad padding.
    Huffman,
}

impl std::fmt::Display for HpackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HpackError::Truncated => "a header block ends inside an integer or a string",
            HpackError::IntegerOverflow => "an HPACK integer is larger than 2^32 - 1",
            HpackError::BadIndex => "an HPACK index is 0 or past the tables",
            HpackError::TableSizeTooLarge => {
                "a dynamic table size update is larger than SETTINGS_HEADER_TABLE_SIZE"
            }
            HpackError::TableSizeUpdatePlacement => {
                "a dynamic table size update is not at the start of a header block, or missing there"
            }
            HpackError::Huffman => "a Huffman-coded string has EOS inside or bad padding",
        })
    }
}

impl std::error::Error for HpackError {}

/// Decode an integer with an `n`-bit prefix (§5.1) from the start of
/// `buf`: its value and the bytes it took.
pub fn decode_int(buf: &[u8], n: u8) -> Result<(u32, usize), HpackError> {
    let first = *buf.first().ok_or(HpackError::Truncated)?;
    let max_prefix = (1u16 << n) - 1;
    let prefix = u16::from(first) & max_prefix;
    if prefix < max_prefix {
        return Ok((u32::from(prefix), 1));
    }
    let mut value = u64::from(max_prefix);
    let mut shift = 0u32;
    for (i, &b) in buf[1..].iter().enumerate() {
        value += u64::from(b & 0x7f) << shift;
        if value > u64::from(u32::MAX) {
            return Err(HpackError::IntegerOverflow);
        }
        if b & 0x80 == 0 {
            return Ok((value as u32, i + 2));
        }
        shift += 7;
        if shift > 28 {
            // A sixth continuation byte (or zero-padded ones: 0x80 0x80 …)
            // cannot keep the value under 2^32.
            return Err(HpackError::IntegerOverflow);
        }
    }
    Err(HpackError::Truncated)
}

/// Append `value` with an `n`-bit prefix whose high bits are `flags`.
pub fn encode_int(value: usize, n: u8, flags: u8, out: &mut Vec<u8>) {
    let max_prefix = (1usize << n) - 1;
    if value < max_prefix {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max_prefix as u8);
    let mut rest = value - max_prefix;
    while rest >= 0x80 {
        out.push((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// Append a string literal (§5.2), Huffman-coded unless that is longer.
pub fn encode_string(s: &[u8], out: &mut Vec<u8>) {
    let huff = huffman::encoded_len(s);
    if huff <= s.len() {
        encode_int(huff, 7, 0x80, out);
        out.reserve(huff);
        huffman::encode(s, out);
    } else {
        encode_int(s.len(), 7, 0, out);
        out.extend_from_slice(s);
    }
}

#[cfg(test)]
mod tests;
