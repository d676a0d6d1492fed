//! `tls_hello`: `mpm_core::net::tls_hello::read`, the reader of a TLS
//! ClientHello's SNI name and ALPN offer that chooses a connection's
//! configuration before rustls sees the hello. Input: `[mode] rest…`.
//!
//! Mode even: `rest` is the first bytes of a connection, as a client may
//! send anything.
//!
//! 1. Reading never panics, and a `Read` name is lower case and names a
//!    DNS host, each ALPN protocol lies in the input.
//! 2. Fewer bytes never change a verdict: every prefix of the input reads
//!    as `Incomplete` or as the whole input reads (a hello that arrives
//!    in pieces is awaited, never misjudged on a part), and `Incomplete`
//!    only while the bytes could still become a hello.
//!
//! Mode odd: `rest` gives a host name, ALPN protocols and record sizes;
//! a ClientHello carrying them is built and cut into handshake records
//! of those sizes.
//!
//! 3. The reader gives back the name (lower case) and the protocols, in
//!    order, however the hello is cut into records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpm_core::net::tls_hello::{read, Hello};

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else { return };
    if mode % 2 == 0 {
        any_bytes(rest);
    } else {
        built_hello(rest);
    }
});

fn any_bytes(input: &[u8]) {
    let mut joined = Vec::new();
    let whole = read(input, &mut joined);
    if let Hello::Read { sni, alpn } = &whole {
        if let Some(name) = sni {
            assert_eq!(name, &name.to_ascii_lowercase(), "a name not in lower case");
            assert!(!name.is_empty() && name.parse::<std::net::IpAddr>().is_err());
        }
        for p in alpn.iter().flatten() {
            assert!(
                input
                    .windows(p.len().max(1))
                    .any(|w| p.is_empty() || w == *p),
                "an ALPN protocol not in the input"
            );
        }
    }
    // Every prefix, or 64 of them spread over a long input.
    let step = (input.len() / 64).max(1);
    for cut in (0..input.len()).step_by(step) {
        let mut scratch = Vec::new();
        let part = read(&input[..cut], &mut scratch);
        assert!(
            part == Hello::Incomplete || part == whole,
            "{cut} of {} bytes read as {part:?}, the whole as {whole:?}",
            input.len()
        );
    }
}

/// `rest`: a length byte and that many name bytes, a count byte and
/// that many length-prefixed protocols, then record sizes.
fn built_hello(rest: &[u8]) {
    let mut r = rest.iter().copied();
    let name_len = usize::from(r.next().unwrap_or(0) % 64);
    // A DNS name: labels of [a-z0-9] (upper case too, read back lower)
    // joined by dots.
    let mut name: String = (0..name_len)
        .map(|_| {
            const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.";
            CHARS[usize::from(r.next().unwrap_or(0)) % CHARS.len()] as char
        })
        .collect();
    // Each label starts with a letter past `f`, so that none reads as a
    // number (`1`, `0x1f`: rustls refuses a name whose last label does).
    name = name
        .split('.')
        .filter(|l| !l.is_empty())
        .map(|l| format!("h{}", &l[..l.len().min(62)]))
        .collect::<Vec<_>>()
        .join(".");
    if name.is_empty() {
        name.push('h');
    }
    let count = usize::from(r.next().unwrap_or(0) % 5);
    let protocols: Vec<Vec<u8>> = (0..count)
        .map(|_| {
            let len = usize::from(r.next().unwrap_or(1) % 16).max(1);
            (0..len).map(|_| r.next().unwrap_or(b'x')).collect()
        })
        .collect();
    let sizes: Vec<usize> = r.map(|b| usize::from(b).max(1)).collect();

    let body = client_hello_body(&name, &protocols);
    let mut msg = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
    msg.extend_from_slice(&body);
    let mut tls = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < msg.len() {
        let n = sizes
            .get(i)
            .copied()
            .unwrap_or(msg.len())
            .min(msg.len() - at);
        tls.extend_from_slice(&[22, 3, 1, (n >> 8) as u8, n as u8]);
        tls.extend_from_slice(&msg[at..at + n]);
        at += n;
        i += 1;
    }
    let mut joined = Vec::new();
    let got = read(&tls, &mut joined);
    let want_alpn: Option<Vec<&[u8]>> =
        (!protocols.is_empty()).then(|| protocols.iter().map(Vec::as_slice).collect());
    assert_eq!(
        got,
        Hello::Read {
            sni: Some(name.to_ascii_lowercase()),
            alpn: want_alpn,
        },
        "a hello for {name:?} and {protocols:?} cut into {sizes:?}"
    );
}

/// A TLS 1.3 ClientHello's body with the `server_name` and (when some
/// are given) `application_layer_protocol_negotiation` extensions.
fn client_hello_body(name: &str, protocols: &[Vec<u8>]) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]); // random
    body.push(0); // legacy_session_id
    body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
    body.extend_from_slice(&[1, 0]); // compression: null
    let mut exts = Vec::new();
    let mut sni = vec![0];
    sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni.extend_from_slice(name.as_bytes());
    let mut sni_ext = (sni.len() as u16).to_be_bytes().to_vec();
    sni_ext.extend_from_slice(&sni);
    push_ext(&mut exts, 0, &sni_ext);
    if !protocols.is_empty() {
        let mut list = Vec::new();
        for p in protocols {
            list.push(p.len() as u8);
            list.extend_from_slice(p);
        }
        let mut alpn = (list.len() as u16).to_be_bytes().to_vec();
        alpn.extend_from_slice(&list);
        push_ext(&mut exts, 16, &alpn);
    }
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    body
}

fn push_ext(exts: &mut Vec<u8>, kind: u16, data: &[u8]) {
    exts.extend_from_slice(&kind.to_be_bytes());
    exts.extend_from_slice(&(data.len() as u16).to_be_bytes());
    exts.extend_from_slice(data);
}
