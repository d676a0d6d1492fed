//! Random and mutated requests thrown at the parser and the body decoder:
//! nothing may panic, and every answer must stay inside its input.
//!
//! A small xorshift generator with fixed seeds keeps every run the same, so
//! a failure reproduces; the case count stays fast in debug builds.
use super::{parse_head, BodyDecoder, Framing};
use crate::config::Limits;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const CORPUS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"GET /index.html?q=1 HTTP/1.1\r\nHost: a:8080\r\nUser-Agent: x\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n",
    b"POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n5;x=y\r\nhello\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n",
    b"PUT /x HTTP/1.0\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
    b"GET http://a.example/p HTTP/1.1\nHost: a.example\n\n",
    b"\r\n\r\nHEAD / HTTP/1.1\r\nHost: [::1]:80\r\nCookie: a=b; c=d\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
];

const SPLICES: &[&[u8]] = &[
    b"\r",
    b"\n",
    b"\r\n",
    b"\0",
    b":",
    b" ",
    b"\t",
    b",",
    b";",
    b"\r\n\r\n",
    b"\r\n ",
    b"18446744073709551616",
    b"99999999999999999999999",
    b"ffffffffffffffffff",
    b"-1",
    b"Transfer-Encoding: chunked\r\n",
    b"Content-Length: 7\r\n",
    b"Host: b\r\n",
    b"HTTP/2.0",
    b"\xff\xfe",
    b"0\r\n\r\n",
];

fn mutate(rng: &mut Rng, buf: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(buf.len() + 1);
        match rng.below(6) {
            0 if at < buf.len() => buf[at] ^= 1 << rng.below(8),
            1 => buf.insert(at, rng.next() as u8),
            2 if at < buf.len() => {
                let end = (at + 1 + rng.below(8)).min(buf.len());
                buf.drain(at..end);
            }
            3 => {
                let piece = rng.pick(SPLICES);
                buf.splice(at..at, piece.iter().copied());
            }
            4 => buf.truncate(at),
            _ => {
                let piece = rng.pick(SPLICES);
                let end = (at + piece.len()).min(buf.len());
                buf.splice(at..end, piece.iter().copied());
            }
        }
    }
}

/// Decodes `input` with `framing` in random pieces, checking every answer.
fn check_body(rng: &mut Rng, framing: Framing, limit: u64, input: &[u8]) {
    let mut dec = BodyDecoder::new(framing, limit);
    let mut at = 0;
    let mut end = 0;
    for _ in 0..10_000 {
        end = (end + 1 + rng.below(16)).min(input.len());
        let window = &input[at..end];
        let Ok(d) = dec.decode(window) else { return };
        assert!(
            d.consumed <= window.len(),
            "consumed {} of {}",
            d.consumed,
            window.len()
        );
        assert!(
            d.data.start <= d.data.end && d.data.end <= d.consumed,
            "data {:?} outside consumed {}",
            d.data,
            d.consumed
        );
        at += d.consumed;
        if dec.is_complete() || (d.consumed == 0 && end == input.len()) {
            return;
        }
    }
    panic!(
        "decoder made no progress on {:?}",
        String::from_utf8_lossy(input)
    );
}

#[test]
fn random_and_mutated_requests_never_panic_and_stay_in_bounds() {
    let limits = [
        Limits::default(),
        Limits {
            request_line: 24,
            field_size: 20,
            fields: 3,
            body: 4,
            head_budget: 0,
        },
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut parsed = 0;
    for case in 0..50_000 {
        let mut buf = rng.pick(CORPUS).to_vec();
        if case % 10 == 0 {
            // Pure noise, biased towards the bytes that matter.
            buf = (0..rng.below(200))
                .map(|_| *rng.pick(b"GET /HTP1.\r\n: \0\tHost,chunked0123456789abcdef;"))
                .collect();
        } else {
            mutate(&mut rng, &mut buf);
        }
        let lim = &limits[case % 2];
        if let Ok(Some((head, n))) = parse_head(&buf, lim) {
            parsed += 1;
            assert!(n <= buf.len(), "consumed {n} of {}", buf.len());
            match parse_head(&buf[..n], lim) {
                Ok(Some((_, again))) => assert_eq!(again, n, "head alone parses differently"),
                other => panic!("head alone did not parse: {other:?}"),
            }
            check_body(&mut rng, head.framing, lim.body, &buf[n..]);
        }
        check_body(&mut rng, Framing::Chunked, 0, &buf);
        check_body(&mut rng, Framing::Chunked, 8, &buf);
    }
    assert!(
        parsed > 2_000,
        "only {parsed} of 50000 cases parsed: the corpus is not exercised"
    );
}
