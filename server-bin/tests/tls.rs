//! TLS (mod_ssl directives, rustls) through the real `mpmd`, under the
//! prefork, worker, event and single (`-X`) strategies: a test CA and two virtual
//! hosts' certificates made by the test, curl (`--resolve` to 127.0.0.1,
//! `--cacert`) and a rustls client on the other side.

mod common;

#[path = "../../crates/mpm/tests/support/pki.rs"]
mod pki;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;

/// `Timeout` of every test server, in seconds: a stalled handshake ends
/// then.
const TIMEOUT: u64 = 2;

/// A site with hosts `a.test` and `b.test` (alias `*.b.test`) on one TLS
/// port, each with its own certificate and page.
struct TlsSite {
    site: Site,
    pki: pki::Pki,
    port: u16,
    conf: std::path::PathBuf,
}

impl TlsSite {
    fn new(mpm: &str) -> TlsSite {
        let site = Site::new();
        let pki = pki::Pki::new(site.root());
        let a = pki.host("a", &["a.test"]);
        let b = pki.host("b", &["b.test", "*.b.test"]);
        site.write("a/index.html", "page of a");
        site.write("b/index.html", "page of b");
        // Not a multiple of any buffer size.
        let big: Vec<u8> = (0..5_000_017u32).map(|i| (i * 7 % 251) as u8).collect();
        site.write("a/big.bin", &big);
        let port = free_port();
        let root = site.root().display().to_string();
        // AcceptFilter https none: the stalled handshakes below include
        // clients that send nothing, which must reach the server (with the
        // default, TCP_DEFER_ACCEPT keeps them in the kernel).
        let conf = site.config(&format!(
            "{mpm}Listen 127.0.0.1:{port} https\nAcceptFilter https none\nServerName localhost\nTimeout {TIMEOUT}\n\
             KeepAliveTimeout 10\nDocumentRoot {root}/a\n\
             SSLProtocol -all +TLSv1.2 +TLSv1.3\n\
             <VirtualHost *:{port}>\nServerName a.test\nDocumentRoot {root}/a\nSSLEngine on\n\
             SSLCertificateFile {ac}\nSSLCertificateKeyFile {ak}\n</VirtualHost>\n\
             <VirtualHost *:{port}>\nServerName b.test\nServerAlias *.b.test\nDocumentRoot {root}/b\n\
             SSLEngine on\nSSLCertificateFile {bc}\nSSLCertificateKeyFile {bk}\n</VirtualHost>\n",
            mpm = mpm_directives(mpm),
            ac = a.cert.display(),
            ak = a.key.display(),
            bc = b.cert.display(),
            bk = b.key.display(),
        ));
        TlsSite {
            site,
            pki,
            port,
            conf,
        }
    }

    fn start(&self, mpm: &str) -> Mpmd {
        let conf = self.conf.to_str().unwrap();
        if mpm == "single" {
            start_args(&self.site, &["-X", "-f", conf])
        } else {
            start(&self.site, &self.conf)
        }
    }

    /// curl for `https://name:port/path`, resolved to 127.0.0.1, trusting
    /// the test CA: (exit code, body, verbose log).
    fn curl(&self, name: &str, path: &str, extra: &[&str]) -> (i32, Vec<u8>, String) {
        let port = self.port;
        let out = Command::new("curl")
            .args(["-sS", "-v", "--max-time", "10"])
            .arg("--resolve")
            .arg(format!("{name}:{port}:127.0.0.1"))
            .arg("--cacert")
            .arg(self.pki.ca_file())
            .args(extra)
            .arg(format!("https://{name}:{port}{path}"))
            .output()
            .expect("run curl");
        (
            out.status.code().unwrap_or(-1),
            out.stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// The subject line curl prints with -v.
fn subject(log: &str) -> &str {
    log.lines()
        .find_map(|l| l.trim_start_matches(['*', ' ']).strip_prefix("subject: "))
        .unwrap_or("")
}

fn each_host_gets_its_page_and_certificate(t: &TlsSite) {
    for (name, page, cn) in [
        ("a.test", "page of a", "CN=a.test"),
        ("b.test", "page of b", "CN=b.test"),
        ("www.b.test", "page of b", "CN=b.test"),
    ] {
        let (code, body, log) = t.curl(name, "/index.html", &[]);
        assert_eq!(code, 0, "curl https://{name} failed:\n{log}");
        assert_eq!(String::from_utf8_lossy(&body), page, "page of {name}");
        assert_eq!(subject(&log), cn, "certificate of {name}:\n{log}");
    }
    // A name no host has gets the address's default host and certificate.
    let (code, _, log) = t.curl("nobody.test", "/index.html", &["-k"]);
    assert_eq!(code, 0, "{log}");
    assert_eq!(subject(&log), "CN=a.test", "default certificate:\n{log}");
}

fn a_large_file_arrives_whole(t: &TlsSite) {
    let (code, body, log) = t.curl("a.test", "/big.bin", &[]);
    assert_eq!(code, 0, "{log}");
    let want = std::fs::read(t.site.path("a/big.bin")).unwrap();
    assert_eq!(body.len(), want.len(), "length of the large file");
    assert!(body == want, "the large file's bytes differ");
}

/// Split the first response off `bytes` (its body as long as its
/// `Content-Length`): (head, body, what follows), or what is wrong.
fn split_response(bytes: &[u8]) -> Result<(String, &[u8], &[u8]), String> {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no response head in {} bytes", bytes.len()))?;
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .ok_or_else(|| format!("no Content-Length in {head:?}"))?;
    let body = &bytes[end + 4..];
    if body.len() < len {
        return Err(format!("{} of {len} body bytes came", body.len()));
    }
    Ok((head, &body[..len], &body[len..]))
}

/// A client that reads slowly (a 4 KiB receive window: the server's
/// writes stop short again and again, and the records the socket did
/// not take wait in the TLS stream) gets two large files and a page,
/// asked for at once on one kept-alive connection, whole and in order.
fn large_files_reach_a_slow_reader_whole_and_in_order(t: &TlsSite) {
    let cfg = t.pki.client_config(&[b"http/1.1"]);
    let tcp = small_window(addr(t.port));
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut s = pki::tls_connect(&cfg, "a.test", tcp).expect("handshake");
    s.write_all(
        b"GET /big.bin HTTP/1.1\r\nHost: a.test\r\n\r\n\
          GET /big.bin HTTP/1.1\r\nHost: a.test\r\n\r\n\
          GET /index.html HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let all = pki::read_all(&mut s);
    let big = std::fs::read(t.site.path("a/big.bin")).unwrap();
    let mut rest = &all[..];
    for (i, want) in [&big[..], &big[..], &b"page of a"[..]]
        .into_iter()
        .enumerate()
    {
        let (head, body, after) = split_response(rest)
            .unwrap_or_else(|e| panic!("response {i} of 3 to a slow reader: {e}"));
        assert!(head.starts_with("HTTP/1.1 200 "), "response {i}: {head}");
        assert!(
            body == want,
            "response {i}'s body differs from the file's ({} bytes, first difference at {:?})",
            body.len(),
            body.iter().zip(want).position(|(a, b)| a != b)
        );
        rest = after;
    }
    assert!(
        rest.is_empty(),
        "{} bytes after the last response",
        rest.len()
    );
}

fn tls_1_1_is_refused(t: &TlsSite) {
    // SECLEVEL=0 lets the client's OpenSSL offer TLS 1.1 at all, so the
    // refusal is the server's (a protocol_version alert).
    let (code, _, log) = t.curl(
        "a.test",
        "/",
        &[
            "--tlsv1.1",
            "--tls-max",
            "1.1",
            "--ciphers",
            "DEFAULT@SECLEVEL=0",
        ],
    );
    assert_ne!(code, 0, "a TLS 1.1 client was served:\n{log}");
    assert!(
        log.contains("TLSv1.1 (IN), TLS alert"),
        "TLS 1.1 was not refused by the server's alert:\n{log}"
    );
    let (code, _, log) = t.curl("a.test", "/", &["--tlsv1.2", "--tls-max", "1.2"]);
    assert_eq!(code, 0, "TLS 1.2 refused:\n{log}");
    assert!(log.contains("TLSv1.2"), "{log}");
}

/// Plain HTTP sent to the TLS port: what came back before the close.
fn send_plain_http(t: &TlsSite) -> String {
    let mut s = connect(addr(t.port));
    s.write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Plain HTTP on the TLS port: a 400 in clear, nothing after it (no TLS
/// record), with the `Date` every response carries (RFC 9110 §6.6.1).
fn plain_http_gets_400(t: &TlsSite) {
    check_plain_http_answer(&send_plain_http(t));
}

fn check_plain_http_answer(out: &str) {
    assert!(
        out.starts_with("HTTP/1.1 400 Bad Request\r\n") && out.contains("plain HTTP"),
        "plain HTTP on the TLS port got {out:?}"
    );
    assert!(
        out.ends_with("URL, please.\n"),
        "bytes after the answer to plain HTTP: {out:?}"
    );
    let date = out
        .lines()
        .find_map(|l| l.strip_prefix("Date: "))
        .unwrap_or_else(|| panic!("the 400 to plain HTTP has no Date header: {out:?}"));
    assert!(
        date.len() == 29 && date.ends_with(" GMT"),
        "the 400 to plain HTTP has Date {date:?}"
    );
}

/// `curl --http1.0` offers ALPN `http/1.0` alone: it is served.
fn http10_client_is_served(t: &TlsSite) {
    let (code, body, log) = t.curl("a.test", "/index.html", &["--http1.0"]);
    assert_eq!(code, 0, "curl --http1.0 failed:\n{log}");
    assert_eq!(String::from_utf8_lossy(&body), "page of a", "{log}");
    assert!(
        log.contains("ALPN: server accepted http/1.0"),
        "http/1.0 was not negotiated:\n{log}"
    );
}

fn host_disagreeing_with_sni_is_421(t: &TlsSite) {
    let (code, body, log) = t.curl(
        "a.test",
        "/index.html",
        &["-H", "Host: b.test", "-w", "%{http_code}"],
    );
    assert_eq!(code, 0, "{log}");
    let body = String::from_utf8_lossy(&body);
    assert!(body.ends_with("421"), "SNI a.test, Host b.test got {body}");
    // Host of the same host as SNI: served.
    let (_, body, _) = t.curl("www.b.test", "/index.html", &["-H", "Host: b.test"]);
    assert_eq!(String::from_utf8_lossy(&body), "page of b");
}

fn h2_only_client_gets_http11_or_a_clean_failure(t: &TlsSite) {
    let cfg = t.pki.client_config(&[b"h2"]);
    let started = Instant::now();
    let tcp = TcpStream::connect(addr(t.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    match pki::tls_connect(&cfg, "a.test", tcp) {
        Ok(mut s) => {
            assert_ne!(s.conn.alpn_protocol(), Some(&b"h2"[..]), "h2 negotiated");
            s.write_all(b"GET /index.html HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
                .unwrap();
            let out = String::from_utf8_lossy(&pki::read_all(&mut s)).into_owned();
            assert!(out.starts_with("HTTP/1.1 200 "), "{out}");
        }
        Err(e) => {
            let e = e.to_string();
            assert!(
                e.contains("NoApplicationProtocol") || e.contains("no_application_protocol"),
                "h2-only handshake failed for another reason: {e}"
            );
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "h2-only client took {:?}",
        started.elapsed()
    );
}

/// Connect, send `bytes` (nothing, or half a ClientHello), and see the
/// server close at `Timeout`.
fn stalled_handshake_closes_at_timeout(t: &TlsSite, bytes: &[u8]) {
    let mut s = connect(addr(t.port));
    s.write_all(bytes).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let r = s.read(&mut buf);
    let took = started.elapsed();
    assert!(
        matches!(r, Ok(0))
            || r.as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "a stalled handshake got {r:?} after {took:?}"
    );
    assert!(
        took >= Duration::from_millis(TIMEOUT * 1000 - 200)
            && took < Duration::from_secs(TIMEOUT + 3),
        "a stalled handshake ({} bytes) closed after {took:?}, Timeout is {TIMEOUT} s",
        bytes.len()
    );
}

fn sessions_resume_across_processes(t: &TlsSite) {
    let cfg = t.pki.client_config(&[b"http/1.1"]);
    let mut kinds = Vec::new();
    for _ in 0..6 {
        let tcp = TcpStream::connect(addr(t.port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut s = pki::tls_connect(&cfg, "a.test", tcp).expect("handshake");
        s.write_all(b"GET /index.html HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            .unwrap();
        let out = pki::read_all(&mut s);
        assert!(out.starts_with(b"HTTP/1.1 200 "));
        kinds.push(s.conn.handshake_kind());
    }
    assert!(
        kinds[1..]
            .iter()
            .all(|k| *k == Some(rustls::HandshakeKind::Resumed)),
        "sessions were not resumed: {kinds:?}"
    );
}

/// A request in pieces that each go out as TLS records of their own, one
/// of them larger than a record (so split over two), read whole on
/// connection after connection: prefork's children and worker's threads
/// give their read buffer's pages back when a connection ends, and the
/// next connection reads into it afresh.
fn a_request_split_over_records_is_read_whole_on_every_connection(t: &TlsSite) {
    let cfg = t.pki.client_config(&[b"http/1.1"]);
    let pad = "p".repeat(6000);
    for i in 0..8 {
        let tcp = TcpStream::connect(addr(t.port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut s = pki::tls_connect(&cfg, "a.test", tcp).expect("handshake");
        // Each write_all is flushed as records of its own.
        s.write_all(b"GET /index.html HTTP/1.1\r\nHo").unwrap();
        s.write_all(
            format!("st: a.test\r\nX-Pad-1: {pad}\r\nX-Pad-2: {pad}\r\nX-Pad-3: {pad}\r\n")
                .as_bytes(),
        )
        .unwrap();
        s.write_all(b"Connection: close\r\n\r\n").unwrap();
        let out = pki::read_all(&mut s);
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.starts_with("HTTP/1.1 200 ") && text.ends_with("page of a"),
            "connection {i}: the request split over records got: {text}"
        );
    }
}

/// The checks of one running server.
fn serve_over_tls(mpm: &str) {
    let t = TlsSite::new(mpm);
    let _m = t.start(mpm);
    each_host_gets_its_page_and_certificate(&t);
    a_large_file_arrives_whole(&t);
    large_files_reach_a_slow_reader_whole_and_in_order(&t);
    tls_1_1_is_refused(&t);
    plain_http_gets_400(&t);
    http10_client_is_served(&t);
    host_disagreeing_with_sni_is_421(&t);
    h2_only_client_gets_http11_or_a_clean_failure(&t);
    sessions_resume_across_processes(&t);
    a_request_split_over_records_is_read_whole_on_every_connection(&t);
    stalled_handshake_closes_at_timeout(&t, b"");
    // A handshake record header promising 512 bytes, and 4 of them.
    stalled_handshake_closes_at_timeout(
        &t,
        &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc],
    );
    // Still serving after all that.
    let (code, body, log) = t.curl("b.test", "/index.html", &[]);
    assert_eq!((code, &body[..]), (0, &b"page of b"[..]), "{log}");
}

#[test]
fn prefork_serves_tls_virtual_hosts() {
    serve_over_tls("prefork");
}

#[test]
fn worker_serves_tls_virtual_hosts() {
    serve_over_tls("worker");
}

#[test]
fn single_serves_tls_virtual_hosts() {
    serve_over_tls("single");
}

#[test]
fn event_serves_tls_virtual_hosts() {
    serve_over_tls("event");
}

/// The event loop does the handshakes: clients stalled in theirs hold no
/// thread, so with two threads and twenty stalled handshakes a real
/// client is still served at once.
#[test]
fn event_stalled_handshakes_hold_no_thread() {
    let t = TlsSite::new("event-small");
    let _m = t.start("event-small");
    let mut stalled = Vec::new();
    for i in 0..20 {
        let mut s = connect(addr(t.port));
        // Nothing, or the start of a handshake record.
        if i % 2 == 1 {
            s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).unwrap();
        }
        stalled.push(s);
    }
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    for _ in 0..3 {
        let (code, body, log) = t.curl("a.test", "/index.html", &[]);
        assert_eq!((code, &body[..]), (0, &b"page of a"[..]), "{log}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(TIMEOUT),
        "three requests took {:?} beside 20 stalled handshakes with 2 threads",
        started.elapsed()
    );
    // And the stalled ones are closed at Timeout.
    for mut s in stalled {
        s.set_read_timeout(Some(Duration::from_secs(TIMEOUT + 3)))
            .unwrap();
        let mut buf = [0u8; 64];
        let r = s.read(&mut buf);
        assert!(
            matches!(r, Ok(0))
                || r.as_ref()
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
            "a stalled handshake got {r:?}"
        );
    }
}

/// Plain HTTP on the TLS port, answered by the event loop, which then
/// lingers on the connection: reading the socket in clear. (Through the
/// TLS session, the client's HTTP after our `close_notify` tripped a
/// rustls debug assertion, and the child died with every connection it
/// held.) One child here: a TLS keep-alive connection shares it.
#[test]
fn event_plain_http_on_the_tls_port_costs_no_other_connection() {
    let t = TlsSite::new("event-small");
    let m = t.start("event-small");
    let before = children(m.pid());
    assert_eq!(before.len(), 1, "one child expected: {before:?}");
    let cfg = t.pki.client_config(&[b"http/1.1"]);
    let tcp = TcpStream::connect(addr(t.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut kept = pki::tls_connect(&cfg, "a.test", tcp).expect("handshake");
    let mut ask = |round: &str| {
        kept.write_all(b"GET /index.html HTTP/1.1\r\nHost: a.test\r\n\r\n")
            .unwrap_or_else(|e| panic!("{round}: the kept connection is gone: {e}"));
        let resp = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            read_response(&mut std::io::BufReader::new(&mut kept), false)
        }))
        .unwrap_or_else(|_| panic!("{round}: no answer on the kept TLS connection"));
        assert_eq!(
            (resp.status, &resp.body[..]),
            (200, &b"page of a"[..]),
            "{round}"
        );
    };
    ask("before");
    let answers: Vec<String> = (0..3).map(|_| send_plain_http(&t)).collect();
    ask("after three plain HTTP clients");
    for out in &answers {
        check_plain_http_answer(out);
    }
    assert_eq!(
        children(m.pid()),
        before,
        "the child changed; stderr:\n{}",
        m.stderr()
    );
    assert!(
        !m.stderr().contains("panicked"),
        "a panic in the server; stderr:\n{}",
        m.stderr()
    );
}

/// The first certificate of a PEM file, DER.
fn first_cert(path: &Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_file(path)
        .expect("certificate")
        .to_vec()
}

fn graceful_restart_loads_new_certificates(mpm: &str) {
    let t = TlsSite::new(mpm);
    let mut m = t.start(mpm);
    let cfg = t.pki.client_config(&[b"http/1.1"]);
    let served_cert = |cfg: &std::sync::Arc<rustls::ClientConfig>| {
        let tcp = TcpStream::connect(addr(t.port)).unwrap();
        let s = pki::tls_connect(cfg, "a.test", tcp).expect("handshake");
        s.conn.peer_certificates().expect("certificate")[0].to_vec()
    };
    let old = first_cert(&t.site.path("a.crt"));
    assert_eq!(served_cert(&cfg), old);

    // A keep-alive connection in the middle of its second request.
    let tcp = TcpStream::connect(addr(t.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut kept = pki::tls_connect(&cfg, "a.test", tcp).expect("handshake");
    kept.write_all(b"GET /index.html HTTP/1.1\r\nHost: a.test\r\n\r\n")
        .unwrap();
    let mut r = std::io::BufReader::new(&mut kept);
    assert_eq!(read_response(&mut r, false).text(), "page of a");
    drop(r);
    kept.write_all(b"GET /index.html HTTP/1.1\r\nHost: a.test\r\n")
        .unwrap();

    // A renewed certificate (new key) in the same files.
    t.pki.host("a", &["a.test"]);
    let new = first_cert(&t.site.path("a.crt"));
    assert_ne!(old, new);
    m.signal(Signal::SIGUSR1);
    m.wait_log("resuming normal operations", 2);
    let fresh = t.pki.client_config(&[b"http/1.1"]);
    let until = Instant::now() + Duration::from_secs(10);
    // The old generation's idle children may still take a connection or
    // two while they leave.
    while served_cert(&fresh) != new {
        assert!(Instant::now() < until, "the new certificate is not served");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The connection made before the restart finishes its request.
    kept.write_all(b"\r\n").unwrap();
    let mut r = std::io::BufReader::new(&mut kept);
    let resp = read_response(&mut r, false);
    assert_eq!(resp.status, 200, "the kept connection's request");
    assert_eq!(resp.text(), "page of a");
}

#[test]
fn prefork_graceful_restart_serves_a_renewed_certificate() {
    graceful_restart_loads_new_certificates("prefork");
}

#[test]
fn worker_graceful_restart_serves_a_renewed_certificate() {
    graceful_restart_loads_new_certificates("worker");
}

#[test]
fn event_graceful_restart_serves_a_renewed_certificate() {
    graceful_restart_loads_new_certificates("event");
}

#[test]
fn config_test_names_a_key_that_does_not_match_its_certificate() {
    let t = TlsSite::new("prefork");
    let (code, _, err) = run(&["-t", "-f", t.conf.to_str().unwrap()]);
    assert_eq!(code, 0, "a good configuration fails -t: {err}");
    assert!(err.contains("Syntax OK"), "{err}");
    // b's key for a's certificate.
    let a_key = std::fs::read(t.site.path("a.key")).unwrap();
    std::fs::copy(t.site.path("b.key"), t.site.path("a.key")).unwrap();
    let (code, _, err) = run(&["-t", "-f", t.conf.to_str().unwrap()]);
    assert_ne!(code, 0, "-t accepted a mismatched key");
    let key = t.site.path("a.key").display().to_string();
    assert!(
        err.contains(&format!(
            "{key}: the private key does not match the certificate in"
        )),
        "-t said: {err}"
    );
    // A missing certificate file is named too.
    std::fs::write(t.site.path("a.key"), a_key).unwrap();
    std::fs::remove_file(t.site.path("b.crt")).unwrap();
    let (code, _, err) = run(&["-t", "-f", t.conf.to_str().unwrap()]);
    assert_ne!(code, 0);
    let cert = t.site.path("b.crt").display().to_string();
    assert!(
        err.contains(&format!("{cert}: cannot read: no such file")),
        "-t said: {err}"
    );
}

#[test]
fn config_test_refuses_tls_1_1_and_a_tls_port_without_certificates() {
    let site = Site::new();
    let port = free_port();
    let conf = site.config(&format!(
        "Listen 127.0.0.1:{port} https\nSSLProtocol +TLSv1.1 +TLSv1.2\n"
    ));
    let (code, _, err) = run(&["-t", "-f", conf.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        err.contains("SSLProtocol: TLSv1.1 is not supported"),
        "{err}"
    );
    let conf = site.config(&format!("Listen 127.0.0.1:{port} https\n"));
    let (code, _, err) = run(&["-t", "-f", conf.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        err.contains("no server for this address has SSLEngine on"),
        "{err}"
    );
}

/// Run `openssl` with `args` in `dir`; fail with its output otherwise.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn keys_in_pkcs1_and_sec1_pem_are_accepted() {
    let site = Site::new();
    let dir = site.root();
    // An RSA key and self-signed certificate, the key rewritten as PKCS#1
    // (BEGIN RSA PRIVATE KEY).
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "rsa8.key",
            "-out",
            "rsa.crt",
            "-subj",
            "/CN=rsa.test",
            "-days",
            "2",
        ],
    );
    openssl(
        dir,
        &["rsa", "-in", "rsa8.key", "-traditional", "-out", "rsa1.key"],
    );
    // A P-256 key as SEC1 (BEGIN EC PRIVATE KEY).
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ec8.key",
            "-out",
            "ec.crt",
            "-subj",
            "/CN=ec.test",
            "-days",
            "2",
        ],
    );
    openssl(dir, &["ec", "-in", "ec8.key", "-out", "ec1.key"]);
    let head = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    assert!(head("rsa1.key").starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert!(head("ec1.key").starts_with("-----BEGIN EC PRIVATE KEY-----"));
    let port = free_port();
    let root = dir.display();
    let conf = site.config(&format!(
        "Listen 127.0.0.1:{port} https\nServerName localhost\n\
         <VirtualHost *:{port}>\nServerName rsa.test\nSSLEngine on\n\
         SSLCertificateFile {root}/rsa.crt\nSSLCertificateKeyFile {root}/rsa1.key\n</VirtualHost>\n\
         <VirtualHost *:{port}>\nServerName ec.test\nSSLEngine on\n\
         SSLCertificateFile {root}/ec.crt\nSSLCertificateKeyFile {root}/ec1.key\n</VirtualHost>\n"
    ));
    let (code, _, err) = run(&["-t", "-f", conf.to_str().unwrap()]);
    assert_eq!(code, 0, "PKCS#1/SEC1 keys refused: {err}");
    // And the RSA key is really used: its certificate is served.
    let m = start(&site, &conf);
    let out = Command::new("curl")
        .args(["-sS", "-v", "-k", "--max-time", "10", "--resolve"])
        .arg(format!("rsa.test:{port}:127.0.0.1"))
        .arg(format!("https://rsa.test:{port}/"))
        .output()
        .expect("run curl");
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(subject(&log), "CN=rsa.test", "{log}");
    drop(m);
}
