//! What one idle HTTP/2 connection over TLS keeps on the heap, part by
//! part, counted by a counting allocator (bytes asked for and blocks,
//! repeatable to the byte, unlike a PSS delta on a shared machine):
//!
//! - the rustls server session after a TLS 1.3 handshake with ALPN `h2`
//!   and one request and answer each way, the client gone (made by
//!   `mpm::tls::server_config_from_keys`, as `mpmd` makes it);
//! - the HTTP/2 session after a browser-like request (its header block
//!   indexed in the client's HPACK table, as Chromium and Firefox send)
//!   and its answer, once `Session::release_buffers` has run (what the
//!   event loop holds between requests).
//!
//! `cargo bench -p mpm-benches --bench idle_heap` prints one line per
//! part; `benches/h2/README.md` records the figures. The PSS of a real
//! server with thousands of idle connections (`run.sh`'s `idle` part,
//! `idle_h2.py`) adds what this cannot see: the allocator's per-block
//! overhead, the event loop's slot and the kernel's socket (not in PSS).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mpm_core::h2::{frame, hpack, Event, H2Config, Session};

#[path = "fields.rs"]
mod fields;

struct Counting;

static BYTES: AtomicIsize = AtomicIsize::new(0);
static BLOCKS: AtomicIsize = AtomicIsize::new(0);
/// Live blocks by size (sizes under `SIZES`), for `IDLE_HEAP_SIZES=1`.
const SIZES: usize = 8192;
static BY_SIZE: [AtomicIsize; SIZES] = [const { AtomicIsize::new(0) }; SIZES];

fn count_size(size: usize, by: isize) {
    if let Some(c) = BY_SIZE.get(size) {
        c.fetch_add(by, Ordering::Relaxed);
    }
}

/// The live blocks by size now.
fn sizes() -> Vec<isize> {
    BY_SIZE.iter().map(|c| c.load(Ordering::Relaxed)).collect()
}

/// `(size, blocks)` that `after` holds beyond `before`.
fn grown(before: &[isize], after: &[isize]) -> Vec<(usize, isize)> {
    (0..SIZES)
        .filter(|&i| after[i] != before[i])
        .map(|i| (i, after[i] - before[i]))
        .collect()
}

// SAFETY: every call is passed on unchanged to the system allocator;
// the counters are only added to.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        BLOCKS.fetch_add(1, Ordering::Relaxed);
        count_size(layout.size(), 1);
        // SAFETY: the caller's layout, as GlobalAlloc::alloc requires.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        BLOCKS.fetch_sub(1, Ordering::Relaxed);
        count_size(layout.size(), -1);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        BYTES.fetch_add(new as isize - layout.size() as isize, Ordering::Relaxed);
        count_size(layout.size(), -1);
        count_size(new, 1);
        // SAFETY: as GlobalAlloc::realloc requires, passed on.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Live (bytes, blocks).
fn live() -> (isize, isize) {
    (
        BYTES.load(Ordering::Relaxed),
        BLOCKS.load(Ordering::Relaxed),
    )
}

/// A browser's first request for `/hello`, its fields indexed in the
/// client's dynamic table.
fn browser_request(enc: &mut hpack::Encoder) -> Vec<u8> {
    let fields: [(&str, &str); 12] = [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "localhost"),
        (":path", "/hello"),
        ("sec-ch-ua", "\"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\""),
        ("sec-ch-ua-mobile", "?0"),
        ("sec-ch-ua-platform", "\"Linux\""),
        ("upgrade-insecure-requests", "1"),
        ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
        ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("accept-language", "en-US,en;q=0.9"),
    ];
    let mut block = Vec::new();
    fields::encode_indexed(enc, &fields, &mut block);
    block
}

/// The HTTP/2 session of one connection after one request and answer,
/// buffers released: (bytes, blocks) it keeps.
fn h2_session() -> (isize, isize) {
    let mut enc = hpack::Encoder::new();
    let mut wire = frame::PREFACE.to_vec();
    frame::encode_settings(&mut wire, &[]);
    let block = browser_request(&mut enc);
    frame::encode_header_block(&mut wire, 1, &block, true, 16_384);
    let before_sizes = sizes();
    let before = live();
    let mut s = Session::new(&H2Config::default());
    s.receive(&wire, Instant::now());
    while let Some(ev) = s.poll_event() {
        if let Event::Request { stream, .. } = ev {
            let mut h = http::HeaderMap::new();
            h.insert("content-type", http::HeaderValue::from_static("text/plain"));
            h.insert(
                "date",
                http::HeaderValue::from_static("Tue, 01 Dec 2026 22:00:00 GMT"),
            );
            h.insert("server", http::HeaderValue::from_static("mpmd/0.1.0"));
            s.send_response(stream, http::StatusCode::OK, &h, false)
                .unwrap();
            s.send_data(stream, b"hello\n", true).unwrap();
        }
    }
    while s.wants_write() {
        let n = s.output().len();
        s.written(n);
    }
    while s.poll_event().is_some() {}
    s.release_buffers();
    let boxed = Box::new(s);
    let after = live();
    if std::env::var_os("IDLE_HEAP_SIZES").is_some() {
        eprintln!(
            "HTTP/2 blocks (size, count): {:?}",
            grown(&before_sizes, &sizes())
        );
    }
    drop(boxed);
    (after.0 - before.0, after.1 - before.1)
}

/// The rustls server session of one connection after a TLS 1.3
/// handshake with ALPN h2 and a request and answer, the client gone:
/// (bytes, blocks) it keeps.
fn tls_session() -> (isize, isize) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    let policy = mpm_core::net::tls::TlsPolicy {
        alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        ..Default::default()
    };
    let shared = mpm_core::net::tls::TlsShared::new().unwrap();
    let server_cfg = mpm_core::net::tls::server_config(
        "bench",
        &[mpm_core::net::tls::CertSpec {
            names: vec!["localhost".into()],
            cert_file: cert,
            key_file: Some(key),
        }],
        &policy,
        &shared,
    )
    .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(made.cert.der().clone()).unwrap();
    let mut client_cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client_cfg.alpn_protocols = vec![b"h2".to_vec()];
    let client_cfg = Arc::new(client_cfg);

    let before_sizes = sizes();
    let before = live();
    let mut server = rustls::ServerConnection::new(server_cfg.clone()).unwrap();
    let client_cfg_kept = client_cfg.clone();
    server.set_buffer_limit(Some(64 * 1024));
    {
        let mut client =
            rustls::ClientConnection::new(client_cfg, "localhost".try_into().unwrap()).unwrap();
        let mut wire = Vec::new();
        while server.is_handshaking() || client.wants_write() || server.wants_write() {
            wire.clear();
            client.write_tls(&mut wire).unwrap();
            if !wire.is_empty() {
                server.read_tls(&mut &wire[..]).unwrap();
                server.process_new_packets().unwrap();
            }
            wire.clear();
            server.write_tls(&mut wire).unwrap();
            if !wire.is_empty() {
                client.read_tls(&mut &wire[..]).unwrap();
                client.process_new_packets().unwrap();
            }
            if !server.is_handshaking() && !client.wants_write() && !server.wants_write() {
                break;
            }
        }
        assert_eq!(server.alpn_protocol(), Some(&b"h2"[..]));
        // A request (about a browser's first flight) and an answer.
        client.writer().write_all(&[7u8; 600]).unwrap();
        let pipe = |c: &mut rustls::ClientConnection, s: &mut rustls::ServerConnection| {
            let mut w = Vec::new();
            c.write_tls(&mut w).unwrap();
            s.read_tls(&mut &w[..]).unwrap();
            s.process_new_packets().unwrap();
        };
        pipe(&mut client, &mut server);
        let mut got = vec![0u8; 4096];
        let n = server.reader().read(&mut got).unwrap();
        assert_eq!(n, 600);
        server.writer().write_all(&[8u8; 200]).unwrap();
        let mut w = Vec::new();
        server.write_tls(&mut w).unwrap();
    }
    let boxed = Box::new(server);
    let after = live();
    if std::env::var_os("IDLE_HEAP_SIZES").is_some() {
        eprintln!(
            "rustls blocks (size, count): {:?}",
            grown(&before_sizes, &sizes())
        );
    }
    drop(boxed);
    drop(client_cfg_kept);
    (after.0 - before.0, after.1 - before.1)
}

fn main() {
    println!(
        "sizes: rustls::ServerConnection {} bytes, h2::Session {} bytes",
        std::mem::size_of::<rustls::ServerConnection>(),
        std::mem::size_of::<Session>()
    );
    // Warm lazily made statics (ring's CPU features, the provider).
    let _ = tls_session();
    let _ = h2_session();
    let (tls_bytes, tls_blocks) = tls_session();
    let (h2_bytes, h2_blocks) = h2_session();
    println!(
        "rustls server session, idle after one exchange: {tls_bytes} bytes in {tls_blocks} blocks"
    );
    println!("HTTP/2 session, idle after one browser request, buffers released: {h2_bytes} bytes in {h2_blocks} blocks");
    println!(
        "together: {} bytes ({:.1} KiB) in {} blocks",
        tls_bytes + h2_bytes,
        (tls_bytes + h2_bytes) as f64 / 1024.0,
        tls_blocks + h2_blocks
    );
}
