//! The TLS connection API an event loop drives: handshake steps that never
//! wait, plain HTTP recognised at the first byte, decrypted bytes that a
//! poll would not show, writes that push back on a full socket, records
//! split over reads, key updates, the alert for a bad hello, and what an
//! idle connection keeps on the heap.

#[path = "../../mpm/tests/support/pki.rs"]
mod pki;

#[path = "../../mpm/tests/support/counting.rs"]
mod counting;

/// Counts the blocks of the threads that ask (`counting::count_this_thread`).
#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mpm_core::net::tls::{self, CertSpec, TlsPolicy, TlsShared};
use mpm_core::net::tls_stream::{is_plain_http, HandshakeStatus};
use mpm_core::{Connection, ListenAddr, Listeners};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use std::os::fd::AsFd;

struct Setup {
    _dir: tempfile::TempDir,
    pki: pki::Pki,
    listeners: Listeners,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki::Pki::new(dir.path());
    let a = pki.host("a", &["a.test"]);
    let spec = CertSpec {
        names: vec!["a.test".into()],
        cert_file: a.cert,
        key_file: Some(a.key),
    };
    let cfg = tls::server_config(
        "test",
        &[spec],
        &TlsPolicy::default(),
        &TlsShared::new().unwrap(),
    )
    .unwrap();
    let addr: ListenAddr = "127.0.0.1:0 https".parse().unwrap();
    let mut listeners = Listeners::bind(&[addr], 16).unwrap();
    listeners.set_tls(0, Some(cfg.into()));
    Setup {
        _dir: dir,
        pki,
        listeners,
    }
}

/// Accept one connection, non-blocking, as an event loop would.
fn accept_nonblocking(ls: &Listeners) -> Connection {
    let l = ls.get(0).unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        match l.socket.accept() {
            Ok((s, peer)) => {
                s.set_nonblocking(true).unwrap();
                return Connection::accepted(s, peer, 0, l).unwrap();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(e) => panic!("accept failed: {e}"),
        }
    }
}

fn wait_for(conn: &Connection, flags: PollFlags) {
    let mut fds = [PollFd::new(conn.as_fd(), flags)];
    let n = nix::poll::poll(&mut fds, PollTimeout::from(5000u16)).unwrap();
    assert_eq!(n, 1, "the socket never became ready for {flags:?}");
}

/// Run handshake steps with a poll between them; every step must return
/// at once.
fn handshake(conn: &mut Connection) -> io::Result<()> {
    loop {
        let t = Instant::now();
        let step = conn.handshake_step();
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "a handshake step waited {:?}",
            t.elapsed()
        );
        match step? {
            HandshakeStatus::Done => return Ok(()),
            HandshakeStatus::WantRead => wait_for(conn, PollFlags::POLLIN),
            HandshakeStatus::WantWrite => wait_for(conn, PollFlags::POLLOUT),
        }
    }
}

fn read_some(conn: &mut Connection, buf: &mut [u8]) -> usize {
    loop {
        match conn.read(buf) {
            Ok(n) => return n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_for(conn, PollFlags::POLLIN),
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

#[test]
fn nonblocking_handshake_fills_conn_info_and_keeps_pipelined_plaintext() {
    let s = setup();
    let addr = s.listeners.get(0).unwrap().local;
    let client_cfg = s.pki.client_config(&[b"http/1.1"]);
    let (go_read, read_now) = std::sync::mpsc::channel::<()>();
    let client = std::thread::spawn(move || {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut c = pki::tls_connect(&client_cfg, "a.test", tcp).expect("client handshake");
        // Two requests in one record.
        c.write_all(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        read_now.recv().unwrap();
        pki::read_all(&mut c).len()
    });
    let mut conn = accept_nonblocking(&s.listeners);
    assert!(conn.handshake_pending());
    handshake(&mut conn).expect("server handshake");
    let info = conn
        .info()
        .tls
        .clone()
        .expect("ConnInfo.tls after the handshake");
    assert_eq!(info.sni.as_deref(), Some("a.test"));
    assert_eq!(info.version, "TLSv1.3");
    assert_eq!(info.alpn.as_deref(), Some("http/1.1"));
    assert!(conn.plain_tcp().is_none(), "no sendfile under TLS");

    let mut small = [0u8; 10];
    let n = read_some(&mut conn, &mut small);
    assert_eq!(&small[..n], b"GET /1 HTT");
    assert!(
        conn.has_buffered_plaintext(),
        "the rest of the record is decrypted and waiting"
    );
    let mut rest = vec![0u8; 4096];
    let n = conn
        .read(&mut rest)
        .expect("buffered bytes without the socket");
    assert!(n > 0 && !conn.has_buffered_plaintext());

    // The client does not read yet: writes fill the socket, then push back.
    let big = vec![b'x'; 64 * 1024];
    let mut sent = 0usize;
    let mut pushed_back = false;
    for _ in 0..1000 {
        match conn.write(&big) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                pushed_back = true;
                break;
            }
            Err(e) => panic!("write failed: {e}"),
        }
    }
    assert!(pushed_back, "64 MB went out without the client reading");
    assert!(conn.wants_write(), "ciphertext waits after WouldBlock");
    go_read.send(()).unwrap();
    loop {
        match conn.flush() {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_for(&conn, PollFlags::POLLOUT),
            Err(e) => panic!("flush failed: {e}"),
        }
    }
    assert!(!conn.wants_write());
    conn.shutdown_write().unwrap();
    // Wait until the close_notify went out.
    while conn.wants_write() {
        let _ = conn.flush();
    }
    drop(conn);
    assert_eq!(
        client.join().unwrap(),
        sent,
        "the client got every byte accepted"
    );
}

/// A client that sent plain HTTP to the TLS port, and the server's side
/// of it, whose handshake step found that out.
fn plain_http_client(s: &Setup) -> (TcpStream, Connection) {
    let addr = s.listeners.get(0).unwrap().local;
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let mut conn = accept_nonblocking(&s.listeners);
    conn.set_nonblocking_mode(true);
    let e = handshake(&mut conn).expect_err("plain HTTP is no handshake");
    assert!(is_plain_http(&e), "unexpected error: {e}");
    (c, conn)
}

#[test]
fn plain_http_on_a_tls_port_is_recognised_at_the_first_byte() {
    let s = setup();
    let (mut c, conn) = plain_http_client(&s);
    c.shutdown(std::net::Shutdown::Write).unwrap();
    tls::answer_plain_http(&conn, Duration::from_secs(5), "mpmd");
    drop(conn);
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
    let date = out
        .lines()
        .find_map(|l| l.strip_prefix("Date: "))
        .unwrap_or_else(|| panic!("the answer to plain HTTP has no Date header: {out:?}"));
    assert!(
        date.len() == 29 && date.ends_with(" GMT"),
        "Date is not an HTTP date: {date:?}"
    );
    assert!(
        out.contains("\r\nServer: mpmd\r\n"),
        "no Server header: {out:?}"
    );
    assert!(out.contains("\r\nConnection: close\r\n"), "{out:?}");
    let body = out.split_once("\r\n\r\n").unwrap().1;
    let len: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(body.len(), len, "Content-Length matches the body");
}

/// After the answer to plain HTTP, an event loop's lingering close shuts
/// the connection for writing and reads what the client still sends: the
/// socket in clear, not through the TLS session (whose `close_notify`
/// followed by the client's HTTP tripped a rustls debug assertion, a
/// panic on the event loop's thread).
#[test]
fn a_lingering_close_after_plain_http_reads_the_socket_in_clear() {
    let s = setup();
    let (mut c, mut conn) = plain_http_client(&s);
    conn.write_plain(&tls::plain_http_response("mpmd")).unwrap();
    conn.shutdown_write().expect("half-close");
    // The client sends more, then closes.
    c.write_all(b"GET /more HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut drained = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        wait_for(&conn, PollFlags::POLLIN);
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => drained.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("the lingering read failed: {e} (after {drained:?})"),
        }
    }
    assert_eq!(
        drained, b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /more HTTP/1.1\r\nHost: a\r\n\r\n",
        "the lingering close did not read the client's bytes in clear"
    );
    drop(conn);
    // The client got the answer and a clean end: no TLS alert after it.
    let mut out = Vec::new();
    c.read_to_end(&mut out).unwrap();
    assert!(out.starts_with(b"HTTP/1.1 400 Bad Request\r\n"), "{out:?}");
    assert!(
        out.ends_with(b"URL, please.\n"),
        "bytes after the answer: {:?}",
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn a_stalled_handshake_ends_at_the_timeout() {
    let s = setup();
    let addr = s.listeners.get(0).unwrap().local;
    let mut c = TcpStream::connect(addr).unwrap();
    // Half a ClientHello: a handshake record header promising more.
    c.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).unwrap();
    let mut conn = accept_nonblocking(&s.listeners);
    conn.set_nonblocking_mode(true);
    let t = Instant::now();
    let e = tls::handshake_blocking(&mut conn, Duration::from_millis(300), None, "mpmd")
        .expect_err("a stalled handshake cannot succeed");
    assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
    assert!(
        t.elapsed() >= Duration::from_millis(300) && t.elapsed() < Duration::from_secs(3),
        "ended after {:?}",
        t.elapsed()
    );
}

/// A client offering only `suite`, over TLS 1.2.
fn client_with_suite(s: &Setup, suite: rustls::SupportedCipherSuite) -> Arc<rustls::ClientConfig> {
    let provider = rustls::crypto::CryptoProvider {
        cipher_suites: vec![suite],
        ..rustls::crypto::ring::default_provider()
    };
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(s.pki.ca_file()).unwrap();
    use rustls::pki_types::pem::PemObject;
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(&ca).unwrap())
        .unwrap();
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[test]
fn ssl_cipher_suite_and_protocol_limit_what_is_negotiated() {
    let mut s = setup();
    let a = s.pki.host("a2", &["a.test"]);
    let policy = TlsPolicy {
        versions: vec![tls::TlsVersion::Tls12],
        cipher_suites: Some(vec![
            rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ]),
        ..TlsPolicy::default()
    };
    let spec = CertSpec {
        names: vec!["a.test".into()],
        cert_file: a.cert,
        key_file: Some(a.key),
    };
    let cfg = tls::server_config("test", &[spec], &policy, &TlsShared::new().unwrap()).unwrap();
    s.listeners.set_tls(0, Some(cfg.into()));
    let addr = s.listeners.get(0).unwrap().local;
    use rustls::crypto::ring::cipher_suite as cs;
    for (suite, accepted) in [
        (cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, false),
        (cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, true),
    ] {
        let client_cfg = client_with_suite(&s, suite);
        let client = std::thread::spawn(move || {
            let tcp = TcpStream::connect(addr).unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            pki::tls_connect(&client_cfg, "a.test", tcp)
                .map(|c| c.conn.negotiated_cipher_suite().map(|s| s.suite()))
        });
        // The blocking path this time: the socket stays blocking.
        let l = s.listeners.get(0).unwrap();
        let (stream, peer) = loop {
            match l.socket.accept() {
                Ok(x) => break x,
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        };
        let mut conn = Connection::accepted(stream, peer, 0, l).unwrap();
        let served = tls::handshake_blocking(&mut conn, Duration::from_secs(5), None, "mpmd");
        let got = client.join().unwrap();
        if accepted {
            served.expect("the configured suite is accepted");
            assert_eq!(got.unwrap(), Some(suite.suite()));
            assert_eq!(conn.info().tls.as_ref().unwrap().version, "TLSv1.2");
        } else {
            assert!(
                served.is_err(),
                "a suite left out by SSLCipherSuite was accepted"
            );
            assert!(
                got.is_err(),
                "the client handshake succeeded with {suite:?}"
            );
        }
    }
}

#[test]
fn a_cipher_suite_rustls_lacks_is_refused_naming_the_address() {
    let s = setup();
    let a = s.pki.host("a3", &["a.test"]);
    let policy = TlsPolicy {
        cipher_suites: Some(vec![rustls::CipherSuite::TLS13_AES_128_CCM_SHA256]),
        ..TlsPolicy::default()
    };
    let spec = CertSpec {
        names: vec!["a.test".into()],
        cert_file: a.cert,
        key_file: Some(a.key),
    };
    let e = match tls::server_config("Listen 443", &[spec], &policy, &TlsShared::new().unwrap()) {
        Ok(_) => panic!("a configuration with a suite rustls lacks was built"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("Listen 443: rustls has no cipher suite TLS13_AES_128_CCM_SHA256"),
        "the error was: {e}"
    );
}

/// Write the whole of `data`, waiting on the socket when it is full.
fn write_all(conn: &mut Connection, mut data: &[u8]) {
    while !data.is_empty() {
        match conn.write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_for(conn, PollFlags::POLLOUT),
            Err(e) => panic!("write failed: {e}"),
        }
    }
    loop {
        match conn.flush() {
            Ok(()) => return,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_for(conn, PollFlags::POLLOUT),
            Err(e) => panic!("flush failed: {e}"),
        }
    }
}

/// What an event loop holds for an idle TLS connection is its keys and
/// state, not buffers: after a handshake and one exchange, under 4 KiB
/// of heap (rustls' buffered session kept its 4 KiB record reader's
/// buffer for the connection's life: 7.3 KiB in all). The second
/// connection served on the thread is counted: the first also makes
/// what every connection of the thread shares (its read room).
#[test]
fn an_idle_tls_connection_keeps_under_4_kib_of_heap() {
    let s = setup();
    let _warm = idle_connection_heap(&s);
    let kept = idle_connection_heap(&s);
    assert!(
        kept < 4096,
        "the idle TLS connection keeps {kept} bytes on the heap"
    );
}

/// The heap bytes one TLS connection served on this thread keeps after
/// a handshake and a 600-byte request answered with 200 bytes, its
/// client still connected.
fn idle_connection_heap(s: &Setup) -> isize {
    let addr = s.listeners.get(0).unwrap().local;
    let client_cfg = s.pki.client_config(&[b"http/1.1"]);
    let (answered, quiet) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
    let client = std::thread::spawn(move || {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut c = pki::tls_connect(&client_cfg, "a.test", tcp).expect("client handshake");
        c.write_all(&[7u8; 600]).unwrap();
        let mut answer = [0u8; 200];
        c.read_exact(&mut answer).unwrap();
        answered.0.send(()).unwrap();
        let _ = quiet.1.recv();
    });
    let l = s.listeners.get(0).unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    let (tcp, peer) = loop {
        match l.socket.accept() {
            Ok(x) => break x,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(e) => panic!("accept failed: {e}"),
        }
    };
    tcp.set_nonblocking(true).unwrap();
    counting::count_this_thread(true);
    let before = counting::live();
    let mut conn = Connection::accepted(tcp, peer, 0, l).unwrap();
    handshake(&mut conn).expect("server handshake");
    let mut got = 0;
    let mut buf = vec![0u8; 4096];
    while got < 600 {
        got += read_some(&mut conn, &mut buf);
    }
    drop(buf);
    write_all(&mut conn, &[8u8; 200]);
    answered.1.recv().unwrap();
    let kept = counting::live().0 - before.0;
    counting::count_this_thread(false);
    drop(conn);
    let _ = quiet.0.send(());
    client.join().unwrap();
    kept
}

/// A client's upload whose TLS records reach the server a few hundred
/// bytes at a time (partial records kept between reads) arrives whole
/// and in order, and so does the answer.
#[test]
fn an_upload_whose_records_arrive_in_pieces_is_read_whole_and_in_order() {
    let s = setup();
    let addr = s.listeners.get(0).unwrap().local;
    let client_cfg = s.pki.client_config(&[b"http/1.1"]);
    let upload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let sent = upload.clone();
    let client = std::thread::spawn(move || {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_nodelay(true).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut c = pki::tls_connect(&client_cfg, "a.test", tcp).expect("client handshake");
        let mut tls = Vec::new();
        for chunk in sent.chunks(16 * 1024) {
            c.conn.writer().write_all(chunk).unwrap();
            while c.conn.wants_write() {
                c.conn.write_tls(&mut tls).unwrap();
            }
        }
        for piece in tls.chunks(700) {
            c.sock.write_all(piece).unwrap();
        }
        let mut echo = vec![0u8; 1000];
        c.read_exact(&mut echo).unwrap();
        echo
    });
    let mut conn = accept_nonblocking(&s.listeners);
    handshake(&mut conn).expect("server handshake");
    let mut got = Vec::new();
    let mut buf = vec![0u8; 5000];
    while got.len() < upload.len() {
        let n = read_some(&mut conn, &mut buf);
        assert!(n > 0, "the stream ended after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got == upload, "the upload arrived changed or out of order");
    write_all(&mut conn, &upload[..1000]);
    assert_eq!(client.join().unwrap(), &upload[..1000]);
}

/// A client that asks for new keys (a TLS 1.3 KeyUpdate asking for
/// ours) is followed: its next records decrypt, and our answer, under
/// our new keys, decrypts at the client.
#[test]
fn a_key_update_the_client_asks_for_is_followed_both_ways() {
    let s = setup();
    let addr = s.listeners.get(0).unwrap().local;
    let client_cfg = s.pki.client_config(&[b"http/1.1"]);
    let client = std::thread::spawn(move || {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut c = pki::tls_connect(&client_cfg, "a.test", tcp).expect("client handshake");
        c.write_all(b"before").unwrap();
        c.conn.refresh_traffic_keys().expect("a key update");
        c.write_all(b"after").unwrap();
        let mut answer = [0u8; 6];
        c.read_exact(&mut answer).unwrap();
        answer
    });
    let mut conn = accept_nonblocking(&s.listeners);
    handshake(&mut conn).expect("server handshake");
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while got.len() < 11 {
        let n = read_some(&mut conn, &mut buf);
        assert!(n > 0, "the stream ended after {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"beforeafter");
    write_all(&mut conn, b"answer");
    assert_eq!(&client.join().unwrap(), b"answer");
}

/// A ClientHello that is no ClientHello (a handshake record whose body
/// is cut short) is refused with a TLS alert, and the handshake fails.
#[test]
fn a_malformed_client_hello_is_answered_with_an_alert() {
    let s = setup();
    let addr = s.listeners.get(0).unwrap().local;
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // A handshake record holding a ClientHello of one byte.
    c.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x03])
        .unwrap();
    let mut conn = accept_nonblocking(&s.listeners);
    let e = handshake(&mut conn).expect_err("a malformed hello cannot succeed");
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    drop(conn);
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    assert!(
        out.len() == 7 && out[0] == 0x15 && out[5] == 2,
        "the server answered {out:?}, not a fatal alert record"
    );
}
