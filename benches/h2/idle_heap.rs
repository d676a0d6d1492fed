//! What one idle HTTP/2 connection over TLS keeps on the heap, part by
//! part, counted by a counting allocator (bytes asked for and blocks,
//! repeatable to the byte, unlike a PSS delta on a shared machine):
//!
//! - mpm's TLS connection (`mpm_core::Connection` over a loopback
//!   socket: the rustls session and the stream's own buffers) after a
//!   TLS 1.3 handshake with ALPN `h2` and one request and answer each
//!   way, the client connected and quiet (the configuration made by
//!   `mpm_core::net::tls::server_config`, as `mpmd` makes it);
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

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

use mpm_core::h2::{frame, hpack, Event, H2Config, Session};

#[path = "fields.rs"]
mod fields;

#[path = "../../crates/mpm/tests/support/counting.rs"]
mod counting;
use counting::{grown, live, sizes};

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

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

/// mpm's TLS connection (`mpm_core::Connection` over a loopback socket,
/// its rustls session and buffers) after a TLS 1.3 handshake with ALPN
/// h2 and a request and answer, the client still connected and quiet:
/// (bytes, blocks) it keeps on the heap.
fn tls_session() -> (isize, isize) {
    use mpm_core::net::tls_stream::HandshakeStatus;
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
    let addrs = mpm_core::ListenAddr::resolve("127.0.0.1:0").unwrap();
    let mut listeners = mpm_core::Listeners::bind(&addrs, 16).unwrap();
    listeners.set_tls(0, Some(server_cfg.into()));
    let listener = listeners.get(0).unwrap();
    // The client on a thread of its own, whose blocks are not counted:
    // a request (about a browser's first flight), the answer read, then
    // connected and quiet until the server's side is counted.
    let addr = listener.local;
    let (answered, quiet) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
    let client = std::thread::spawn(move || {
        let mut tcp = TcpStream::connect(addr).unwrap();
        let mut c =
            rustls::ClientConnection::new(client_cfg, "localhost".try_into().unwrap()).unwrap();
        let mut s = rustls::Stream::new(&mut c, &mut tcp);
        s.write_all(&[7u8; 600]).unwrap();
        let mut answer = [0u8; 200];
        s.read_exact(&mut answer).unwrap();
        answered.0.send(()).unwrap();
        let _ = quiet.1.recv();
    });
    // The listening socket is non-blocking (and may accept only once
    // data came: `AcceptFilter`'s TCP_DEFER_ACCEPT).
    let start = Instant::now();
    let (tcp, peer) = loop {
        match listener.socket.accept() {
            Ok(accepted) => break accepted,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(start.elapsed().as_secs() < 10, "no connection came");
                std::thread::yield_now();
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    tcp.set_nonblocking(true).unwrap();

    let before_sizes = sizes();
    let before = live();
    let mut conn = mpm_core::Connection::accepted(tcp, peer, 0, listener).unwrap();
    while conn.handshake_step().unwrap() != HandshakeStatus::Done {
        assert!(
            start.elapsed().as_secs() < 10,
            "the handshake did not finish"
        );
        std::thread::yield_now();
    }
    assert_eq!(
        conn.info().tls.as_ref().and_then(|t| t.alpn.as_deref()),
        Some("h2")
    );
    let mut got = 0;
    let mut buf = vec![0u8; 4096];
    while got < 600 {
        match conn.read(&mut buf) {
            Ok(0) => panic!("the client left"),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::yield_now(),
            Err(e) => panic!("server read: {e}"),
        }
        assert!(start.elapsed().as_secs() < 10, "the request did not arrive");
    }
    drop(buf);
    conn.write_all(&[8u8; 200]).unwrap();
    while conn.wants_write() {
        let _ = conn.flush();
    }
    answered.1.recv().unwrap();
    let after = live();
    if std::env::var_os("IDLE_HEAP_SIZES").is_some() {
        eprintln!(
            "TLS connection blocks (size, count): {:?}",
            grown(&before_sizes, &sizes())
        );
    }
    drop(conn);
    let _ = quiet.0.send(());
    client.join().unwrap();
    (after.0 - before.0, after.1 - before.1)
}

fn main() {
    // This thread's blocks are counted; the TLS client's thread's are not.
    counting::count_this_thread(true);
    println!(
        "sizes: rustls::ServerConnection {} bytes, UnbufferedServerConnection {} bytes, h2::Session {} bytes",
        std::mem::size_of::<rustls::ServerConnection>(),
        std::mem::size_of::<rustls::server::UnbufferedServerConnection>(),
        std::mem::size_of::<Session>()
    );
    // Warm lazily made statics (ring's CPU features, the provider).
    let _ = tls_session();
    let _ = h2_session();
    let (tls_bytes, tls_blocks) = tls_session();
    let (h2_bytes, h2_blocks) = h2_session();
    println!(
        "TLS connection (rustls session and mpm's buffers), idle after one exchange: {tls_bytes} bytes in {tls_blocks} blocks"
    );
    println!("HTTP/2 session, idle after one browser request, buffers released: {h2_bytes} bytes in {h2_blocks} blocks");
    println!(
        "together: {} bytes ({:.1} KiB) in {} blocks",
        tls_bytes + h2_bytes,
        (tls_bytes + h2_bytes) as f64 / 1024.0,
        tls_blocks + h2_blocks
    );
}
