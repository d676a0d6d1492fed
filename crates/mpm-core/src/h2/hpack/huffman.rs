//! HPACK's static Huffman code (RFC 7541 §5.2, Appendix B).
//!
//! Encoding packs each octet's code into a 64-bit accumulator. Decoding
//! walks a table built once from the code table (`huffman_table.rs`):
//! the code's binary tree, read four bits at a time (each of the 255
//! inner nodes has 16 transitions; a nibble completes at most one symbol
//! since the shortest code has 5 bits). The end of a string must be a
//! prefix of EOS (all ones) shorter than 8 bits; EOS itself inside a
//! string is an error (§5.2).

use std::sync::OnceLock;

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
#[derive(Clone, Copy, Default)]
struct Step {
    /// The inner node reached (0 is the root).
    next: u8,
    /// A symbol completed on the way, if any.
    emit: Option<u8>,
    /// The EOS symbol was reached: an error.
    eos: bool,
}

/// The decoding tables: per inner node, 16 steps; and per node, whether it
/// is a valid place to end (the root, or a path of at most 7 ones).
struct Tables {
    steps: Vec<[Step; 16]>,
    can_end: Vec<bool>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(build)
}

/// A child of a tree node: an inner node's index or a leaf's symbol.
#[derive(Clone, Copy)]
enum Child {
    Inner(usize),
    Leaf(u16),
    Missing,
}

fn build() -> Tables {
    // The code's tree: inner nodes with two children each.
    let mut tree: Vec<[Child; 2]> = vec![[Child::Missing; 2]];
    // Per inner node: its depth and whether its path is all ones.
    let mut ones: Vec<(u8, bool)> = vec![(0, true)];
    for (sym, &(code, len)) in CODES.iter().enumerate() {
        let mut node = 0;
        for i in (0..len).rev() {
            let bit = ((code >> i) & 1) as usize;
            if i == 0 {
                tree[node][bit] = Child::Leaf(sym as u16);
            } else {
                node = match tree[node][bit] {
                    Child::Inner(n) => n,
                    _ => {
                        tree.push([Child::Missing; 2]);
                        let (depth, all) = ones[node];
                        ones.push((depth + 1, all && bit == 1));
                        let n = tree.len() - 1;
                        tree[node][bit] = Child::Inner(n);
                        n
                    }
                };
            }
        }
    }
    debug_assert_eq!(tree.len(), 256);
    let mut steps = vec![[Step::default(); 16]; tree.len()];
    for (node, row) in steps.iter_mut().enumerate() {
        for (nibble, step) in row.iter_mut().enumerate() {
            let mut at = node;
            for i in (0..4).rev() {
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
        }
    }
    let can_end = ones.iter().map(|&(depth, all)| all && depth <= 7).collect();
    Tables { steps, can_end }
}

/// Append the decoding of the Huffman string `bytes` to `out`.
pub fn decode(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
    let t = tables();
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
