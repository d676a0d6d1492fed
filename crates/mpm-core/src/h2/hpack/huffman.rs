//! HPACK's static Huffman code (RFC 7541 §5.2, Appendix B).
//!
//! Encoding packs each octet's code into a 64-bit accumulator. Decoding
//! walks a table the compiler builds from the code table (`huffman_table.rs`):
//! the code's binary tree, read four bits at a time (each of the 256
//! inner nodes has 16 transitions; a nibble completes at most one symbol
//! since the shortest code has 5 bits). The end of a string must be a
//! prefix of EOS (all ones) shorter than 8 bits; EOS itself inside a
//! string is an error (§5.2).

use super::huffman_table::CODES;

/// The Huffman-encoded length of `bytes`, in octets.
pub fn encoded_len(bytes: &[u8]) -> usize {
    let bits: usize = bytes
        .iter()
        .map(|&b| usize::from(CODES[usize::from(b)].1))
        .sum();
    bits.div_ceil(8)
}

/// Append the Huffman encoding of `bytes` to `out` (padded with the most
/// significant bits of EOS, i.e. ones). Bits are gathered into a 64-bit
/// accumulator and written four octets at a time (a code is at most 30
/// bits, so 31 pending bits plus one code fit).
pub fn encode(bytes: &[u8], out: &mut Vec<u8>) {
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    for &b in bytes {
        let (code, len) = CODES[usize::from(b)];
        acc = (acc << len) | u64::from(code);
        bits += u32::from(len);
        if bits >= 32 {
            bits -= 32;
            out.extend_from_slice(&((acc >> bits) as u32).to_be_bytes());
            // Keep only the bits not yet written (at most 31).
            acc &= (1u64 << bits) - 1;
        }
    }
    while bits >= 8 {
        bits -= 8;
        out.push((acc >> bits) as u8);
    }
    if bits > 0 {
        let pad = 8 - bits;
        out.push((((acc << pad) & 0xff) as u8) | ((1u8 << pad) - 1));
    }
}

/// Why a Huffman string could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HuffmanError {
    /// The EOS symbol appeared inside the string.
    Eos,
    /// The padding is longer than 7 bits or not all ones.
    Padding,
}

/// One transition of the nibble table.
#[derive(Clone, Copy)]
struct Step {
    /// The inner node reached (0 is the root).
    next: u8,
    /// A symbol completed on the way, if any.
    emit: Option<u8>,
    /// The EOS symbol was reached: an error.
    eos: bool,
}

/// Inner nodes of the code's tree (RFC 7541's 257 codes make a full
/// binary tree of 256 inner nodes).
const NODES: usize = 256;

/// The decoding tables: per inner node, 16 steps; and per node, whether it
/// is a valid place to end (the root, or a path of at most 7 ones).
struct Tables {
    steps: [[Step; 16]; NODES],
    can_end: [bool; NODES],
}

/// Built by the compiler: the tables are read-only data of the
/// executable, shared by every process that runs it, where a table built
/// at run time would take 16 KiB of each process's heap (each prefork
/// child's, at its first HTTP/2 request).
static TABLES: Tables = build();

/// A child of a tree node: an inner node's index or a leaf's symbol.
#[derive(Clone, Copy)]
enum Child {
    Inner(usize),
    Leaf(u16),
    Missing,
}

const fn build() -> Tables {
    // The code's tree: inner nodes with two children each.
    let mut tree = [[Child::Missing; 2]; NODES];
    let mut nodes = 1;
    // Per inner node: its depth and whether its path is all ones.
    let mut ones = [(0u8, true); NODES];
    let mut sym = 0;
    while sym < CODES.len() {
        let (code, len) = CODES[sym];
        let mut node = 0;
        let mut i = len;
        while i > 0 {
            i -= 1;
            let bit = ((code >> i) & 1) as usize;
            if i == 0 {
                tree[node][bit] = Child::Leaf(sym as u16);
            } else {
                node = match tree[node][bit] {
                    Child::Inner(n) => n,
                    _ => {
                        // A code table that is not a full tree stops the
                        // build here, at compile time.
                        assert!(
                            nodes < NODES,
                            "the Huffman code has more than 256 inner nodes"
                        );
                        let (depth, all) = ones[node];
                        ones[nodes] = (depth + 1, all && bit == 1);
                        tree[node][bit] = Child::Inner(nodes);
                        nodes += 1;
                        nodes - 1
                    }
                };
            }
        }
        sym += 1;
    }
    assert!(
        nodes == NODES,
        "the Huffman code has fewer than 256 inner nodes"
    );
    let mut steps = [[Step {
        next: 0,
        emit: None,
        eos: false,
    }; 16]; NODES];
    let mut can_end = [false; NODES];
    let mut node = 0;
    while node < NODES {
        let mut nibble = 0;
        while nibble < 16 {
            let step = &mut steps[node][nibble];
            let mut at = node;
            let mut i = 4;
            while i > 0 {
                i -= 1;
                let bit = (nibble >> i) & 1;
                match tree[at][bit] {
                    Child::Inner(n) => at = n,
                    Child::Leaf(256) | Child::Missing => {
                        step.eos = true;
                        break;
                    }
                    Child::Leaf(sym) => {
                        step.emit = Some(sym as u8);
                        at = 0;
                    }
                }
            }
            step.next = at as u8;
            nibble += 1;
        }
        let (depth, all) = ones[node];
        can_end[node] = all && depth <= 7;
        node += 1;
    }
    Tables { steps, can_end }
}

/// Append the decoding of the Huffman string `bytes` to `out`.
pub fn decode(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
    let t = &TABLES;
    let mut node = 0usize;
    for &b in bytes {
        for nibble in [b >> 4, b & 0xf] {
            let step = t.steps[node][usize::from(nibble)];
            if step.eos {
                return Err(HuffmanError::Eos);
            }
            if let Some(sym) = step.emit {
                out.push(sym);
            }
            node = usize::from(step.next);
        }
    }
    if t.can_end[node] {
        Ok(())
    } else {
        Err(HuffmanError::Padding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_octet_string_survives_an_encode_and_decode() {
        let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        // Every length, so every count of bits left at the end is met.
        for n in 0..=all.len() {
            let s = &all[..n];
            let mut enc = Vec::new();
            encode(s, &mut enc);
            assert_eq!(enc.len(), encoded_len(s), "the length of {n} octets");
            let mut dec = Vec::new();
            decode(&enc, &mut dec).expect("a string this encoder made decodes");
            assert_eq!(dec, s, "{n} octets");
        }
    }

    #[test]
    fn the_rfc_example_www_example_com_decodes() {
        // RFC 7541 C.4.1.
        let enc = [
            0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
        ];
        let mut dec = Vec::new();
        decode(&enc, &mut dec).unwrap();
        assert_eq!(dec, b"www.example.com");
        let mut again = Vec::new();
        encode(b"www.example.com", &mut again);
        assert_eq!(again, enc);
    }

    #[test]
    fn padding_longer_than_seven_bits_or_not_ones_is_refused() {
        // 'a' is 00011 (5 bits): 0x1f pads it with three ones.
        let mut out = Vec::new();
        assert_eq!(decode(&[0x1f], &mut out), Ok(()));
        assert_eq!(out, b"a");
        // A whole byte of ones after it: 11 bits of padding.
        assert_eq!(
            decode(&[0x1f, 0xff], &mut Vec::new()),
            Err(HuffmanError::Padding)
        );
        // Padding with a zero bit.
        assert_eq!(decode(&[0x1e], &mut Vec::new()), Err(HuffmanError::Padding));
        // Thirty ones: EOS inside the string.
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xfc], &mut Vec::new()),
            Err(HuffmanError::Eos)
        );
    }
}
