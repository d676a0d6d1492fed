//! RFC 7541 Appendix C, byte for byte, and the decoder's bounds.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

type List = Vec<(String, String)>;

fn list(fields: &[(&str, &str)]) -> List {
    fields
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn decode(d: &mut Decoder, block: &[u8]) -> List {
    let mut got = Vec::new();
    let r = d
        .decode(block, usize::MAX, |n, v, _| {
            got.push((
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            ))
        })
        .unwrap_or_else(|e| panic!("the RFC's block was refused: {e}"));
    assert!(!r.over_limit);
    got
}

fn encode(e: &mut Encoder, fields: &List, how: Indexing) -> Vec<u8> {
    let mut out = Vec::new();
    e.begin_block(&mut out);
    for (n, v) in fields {
        e.encode(n.as_bytes(), v.as_bytes(), how, &mut out);
    }
    out
}

#[test]
fn c1_integers_encode_and_decode_as_the_rfc_shows() {
    let mut out = Vec::new();
    encode_int(10, 5, 0, &mut out);
    assert_eq!(out, [0x0a]);
    assert_eq!(decode_int(&out, 5), Ok((10, 1)));
    out.clear();
    encode_int(1337, 5, 0, &mut out);
    assert_eq!(out, [0x1f, 0x9a, 0x0a]);
    assert_eq!(decode_int(&out, 5), Ok((1337, 3)));
    out.clear();
    encode_int(42, 8, 0, &mut out);
    assert_eq!(out, [0x2a]);
    assert_eq!(decode_int(&out, 8), Ok((42, 1)));
}

#[test]
fn integers_past_32_bits_or_cut_short_are_refused() {
    assert_eq!(decode_int(&[0x1f], 5), Err(HpackError::Truncated));
    assert_eq!(decode_int(&[0x1f, 0x80], 5), Err(HpackError::Truncated));
    assert_eq!(
        decode_int(&[0x1f, 0xff, 0xff, 0xff, 0xff, 0x7f], 5),
        Err(HpackError::IntegerOverflow)
    );
    // Zero-valued continuation bytes forever are still refused.
    assert_eq!(
        decode_int(&[0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 5),
        Err(HpackError::IntegerOverflow)
    );
    // 2^32 - 1 itself fits.
    let mut out = Vec::new();
    encode_int(u32::MAX as usize, 5, 0, &mut out);
    assert_eq!(decode_int(&out, 5), Ok((u32::MAX, out.len())));
}

#[test]
fn c2_each_field_representation_decodes_with_its_table_effect() {
    let mut d = Decoder::default();
    let got = decode(
        &mut d,
        &hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
    );
    assert_eq!(got, list(&[("custom-key", "custom-header")]));
    assert_eq!(d.table_size(), 55);

    let mut d = Decoder::default();
    let got = decode(&mut d, &hex("040c 2f73 616d 706c 652f 7061 7468"));
    assert_eq!(got, list(&[(":path", "/sample/path")]));
    assert_eq!(d.table_size(), 0);

    let mut d = Decoder::default();
    let block = hex("1008 7061 7373 776f 7264 0673 6563 7265 74");
    let mut never = false;
    d.decode(&block, usize::MAX, |n, v, ni| {
        assert_eq!((n, v), (&b"password"[..], &b"secret"[..]));
        never = ni;
    })
    .unwrap();
    assert!(never, "a never-indexed literal is reported as such");
    assert_eq!(d.table_size(), 0);

    let mut d = Decoder::default();
    assert_eq!(decode(&mut d, &[0x82]), list(&[(":method", "GET")]));
    assert_eq!(d.table_size(), 0);
}

fn requests() -> [List; 3] {
    [
        list(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
        ]),
        list(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
            ("cache-control", "no-cache"),
        ]),
        list(&[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            (":authority", "www.example.com"),
            ("custom-key", "custom-value"),
        ]),
    ]
}

fn responses() -> [List; 3] {
    [
        list(&[
            (":status", "302"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
            ("location", "https://www.example.com"),
        ]),
        list(&[
            (":status", "307"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
            ("location", "https://www.example.com"),
        ]),
        list(&[
            (":status", "200"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
            ("location", "https://www.example.com"),
            ("content-encoding", "gzip"),
            (
                "set-cookie",
                "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
            ),
        ]),
    ]
}

/// Decode each block in turn on one connection, checking the lists and
/// the table sizes the RFC gives.
fn run_sequence(table: usize, blocks: &[&str], lists: &[List], sizes: &[usize]) {
    let mut d = Decoder::new(table);
    for ((block, want), size) in blocks.iter().zip(lists).zip(sizes) {
        assert_eq!(&decode(&mut d, &hex(block)), want);
        assert_eq!(d.table_size(), *size);
    }
}

const C3: [&str; 3] = [
    "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
    "8286 84be 5808 6e6f 2d63 6163 6865",
    "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
];
const C4: [&str; 3] = [
    "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
    "8286 84be 5886 a8eb 1064 9cbf",
    "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
];
const C5: [&str; 3] = [
    "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
     2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
     6c65 2e63 6f6d",
    "4803 3330 37c1 c0bf",
    "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
     54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
     5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
     3d31",
];
const C6: [&str; 3] = [
    "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
     2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
    "4883 640e ffc1 c0bf",
    "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
     77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
     9587 3160 65c0 03ed 4ee5 b106 3d50 07",
];

#[test]
fn c3_requests_without_huffman_decode_on_one_connection() {
    run_sequence(4096, &C3, &requests(), &[57, 110, 164]);
}

#[test]
fn c4_requests_with_huffman_decode_and_encode_byte_for_byte() {
    run_sequence(4096, &C4, &requests(), &[57, 110, 164]);
    let mut e = Encoder::new();
    for (l, block) in requests().iter().zip(C4) {
        assert_eq!(encode(&mut e, l, Indexing::Incremental), hex(block));
    }
}

#[test]
fn c5_responses_without_huffman_evict_as_the_rfc_shows() {
    run_sequence(256, &C5, &responses(), &[222, 222, 215]);
}

#[test]
fn c6_responses_with_huffman_decode_and_encode_byte_for_byte() {
    run_sequence(256, &C6, &responses(), &[222, 222, 215]);
    let mut e = Encoder::new();
    e.set_max_size(256);
    e.begin_block(&mut Vec::new());
    for (l, block) in responses().iter().zip(C6) {
        assert_eq!(encode(&mut e, l, Indexing::Incremental), hex(block));
    }
}

#[test]
fn the_encoders_blocks_decode_to_the_same_fields_under_every_indexing() {
    for how in [Indexing::Incremental, Indexing::Without, Indexing::Never] {
        let mut e = Encoder::new();
        let mut d = Decoder::default();
        for l in requests().iter().chain(responses().iter()) {
            assert_eq!(&decode(&mut d, &encode(&mut e, l, how)), l, "{how:?}");
        }
    }
}

#[test]
fn credentials_are_sent_never_indexed() {
    let mut e = Encoder::new();
    let mut out = Vec::new();
    let how = Indexing::for_field(b"set-cookie", b"id=1");
    assert_eq!(how, Indexing::Never);
    e.encode(b"set-cookie", b"id=1", how, &mut out);
    // 0001xxxx with set-cookie's static name index 55 (4-bit prefix: 15 + 40).
    assert_eq!(out[0], 0x1f);
    let mut d = Decoder::default();
    let mut never = false;
    d.decode(&out, usize::MAX, |_, _, ni| never = ni).unwrap();
    assert!(never, "set-cookie was not sent never-indexed: {out:02x?}");
    assert_eq!(d.table_size(), 0);
}

#[test]
fn a_lowered_peer_table_size_is_announced_at_the_next_block() {
    let mut e = Encoder::new();
    e.set_max_size(0);
    e.set_max_size(100);
    let mut out = Vec::new();
    e.begin_block(&mut out);
    // The smallest size set (0), then the final one (100).
    assert_eq!(out, [0x20, 0x3f, 0x45]);
}

#[test]
fn a_block_that_repeats_a_large_entry_is_decoded_but_not_handed_out_past_the_limit() {
    // One 4000-byte value put in the table, then referenced 1000 times:
    // 4 MB decoded from 5 KB of input (an "HPACK bomb").
    let mut block = Vec::new();
    block.push(0x40);
    encode_string(b"x-bomb", &mut block);
    encode_string(&[b'a'; 4000], &mut block);
    block.extend(std::iter::repeat_n(0xbe, 1000));
    let mut d = Decoder::default();
    let mut handed = 0usize;
    let r = d
        .decode(&block, 16 * 1024, |n, v, _| handed += n.len() + v.len())
        .expect("a valid block");
    assert!(r.over_limit, "the list passed the limit: {r:?}");
    assert!(
        handed <= 16 * 1024,
        "{handed} bytes handed out past a 16 KiB limit"
    );
    assert!(r.list_size > 4_000_000);
}

#[test]
fn malformed_blocks_are_refused_not_panicked_on() {
    let cases: [(&[u8], HpackError); 7] = [
        (&[0x3f], HpackError::Truncated),
        (&[0x80], HpackError::BadIndex),
        (&[0xbe], HpackError::BadIndex),
        (&[0x41, 0x85, b'a'], HpackError::Truncated),
        // A size update above 4096.
        (&[0x3f, 0xe2, 0x1f], HpackError::TableSizeTooLarge),
        // A size update after a field.
        (&[0x82, 0x20], HpackError::TableSizeUpdatePlacement),
        // A Huffman string with a zero in its padding.
        (&[0x41, 0x81, 0x1e], HpackError::Huffman),
    ];
    for (block, want) in cases {
        let mut d = Decoder::default();
        assert_eq!(
            d.decode(block, usize::MAX, |_, _, _| {}),
            Err(want),
            "{block:02x?}"
        );
    }
}

#[test]
fn a_lowered_setting_requires_a_size_update_to_open_the_next_block() {
    let mut d = Decoder::default();
    d.set_allowed_size(100);
    assert_eq!(
        d.decode(&[0x82], usize::MAX, |_, _, _| {}),
        Err(HpackError::TableSizeUpdatePlacement)
    );
    let mut d = Decoder::default();
    d.set_allowed_size(100);
    assert!(d
        .decode(&[0x3f, 0x45, 0x82], usize::MAX, |_, _, _| {})
        .is_ok());
    // Once given, later blocks need none.
    assert!(d.decode(&[0x82], usize::MAX, |_, _, _| {}).is_ok());
}
