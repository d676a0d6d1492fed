//! `hpack_decode`: `mpm_core::h2::hpack::Decoder`, header blocks from a
//! client, one connection's worth.
//!
//! Input: `[table] [limit] ([len] block…)…`: the `SETTINGS_HEADER_TABLE_SIZE`
//! announced (`table × 32` bytes), the header-list limit (`limit × 64`
//! bytes), then blocks, each `len` bytes (the last takes what is left),
//! decoded in turn on one decoder so the dynamic table carries over.
//!
//! Properties:
//!
//! 1. Decoding never panics; the dynamic table never passes the size
//!    announced.
//! 2. The fields handed out never pass the limit (names and values plus 32
//!    each), and `over_limit` says exactly when fields were held back.
//! 3. A block that decoded within the limit, encoded again by our
//!    `Encoder` (a second connection, every indexing mode in turn),
//!    decodes to the same fields.
//! 4. Huffman: the block's bytes as a string, encoded and decoded, come
//!    back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpm_core::h2::hpack::{huffman, Decoder, Encoder, Indexing};

type Field = (Vec<u8>, Vec<u8>);

fuzz_target!(|data: &[u8]| {
    let [table, limit, rest @ ..] = data else { return };
    let mut rest: &[u8] = rest;
    let table = usize::from(*table) * 32;
    let limit = usize::from(*limit) * 64;
    let mut dec = Decoder::new(table);
    let mut again = Decoder::new(4096);
    let mut enc = Encoder::new();
    let mut n = 0usize;
    while !rest.is_empty() && n < 16 {
        n += 1;
        let (&len, tail) = rest.split_first().unwrap();
        let len = usize::from(len).min(tail.len());
        let (block, tail) = if tail.len() <= len || n == 16 {
            (tail, &[][..])
        } else {
            tail.split_at(len)
        };
        rest = tail;
        let mut fields: Vec<Field> = Vec::new();
        let mut handed = 0usize;
        let r = dec.decode(block, limit, |name, value, _| {
            handed += name.len() + value.len() + 32;
            fields.push((name.to_vec(), value.to_vec()));
        });
        assert!(dec.table_size() <= table, "table of {} over {table}", dec.table_size());
        let Ok(r) = r else { return };
        assert!(handed <= limit, "{handed} bytes handed out over {limit}");
        assert_eq!(r.over_limit, r.list_size > limit);
        if !r.over_limit {
            assert_eq!(handed, r.list_size);
            let how = [Indexing::Incremental, Indexing::Without, Indexing::Never][n % 3];
            let mut out = Vec::new();
            enc.begin_block(&mut out);
            for (name, value) in &fields {
                enc.encode(name, value, how, &mut out);
            }
            let mut back: Vec<Field> = Vec::new();
            again
                .decode(&out, usize::MAX, |name, value, _| back.push((name.to_vec(), value.to_vec())))
                .expect("our own block decodes");
            assert_eq!(back, fields, "re-encoded with {how:?}");
        }
        let mut h = Vec::new();
        huffman::encode(block, &mut h);
        assert_eq!(h.len(), huffman::encoded_len(block));
        let mut back = Vec::new();
        huffman::decode(&h, &mut back).expect("our Huffman string decodes");
        assert_eq!(back, block);
    }
});
