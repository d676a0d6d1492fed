//! mod_remoteip through the real `mpmd`, under event, prefork and worker:
//! PROXY protocol headers (v1 and v2, on plain and TLS ports, split
//! across segments, `LOCAL`), who may send them and how long they may
//! take, `X-Forwarded-For` walked through trusted proxies, and the client
//! address they give in the access log (`%a`, the balancer's as
//! `%{c}a`) and to `Require ip`.
//!
//! The test plays the load balancer: clients bind to other loopback
//! addresses (127.0.0.2 …) to be a trusted proxy, an untrusted one or an
//! exception.

mod common;

#[path = "../../crates/mpm/tests/support/pki.rs"]
mod pki;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use mpm::strategy::net::proxy::header::encode_v2;

/// `RemoteIPProxyProtocolTimeout` of the test servers, in seconds.
const HEADER_TIMEOUT: u64 = 1;

/// A server with three ports: `plain` and `tls` read PROXY headers (the
/// main server's `RemoteIPProxyProtocol On`), `direct` does not (its
/// virtual host turns it off) and reads `X-Forwarded-For`.
struct ProxiedSite {
    site: Site,
    pki: pki::Pki,
    plain: u16,
    tls: u16,
    direct: u16,
    _server: Mpmd,
}

impl ProxiedSite {
    fn start(mpm: &str) -> ProxiedSite {
        let site = Site::new();
        let pki = pki::Pki::new(site.root());
        let cert = pki.host("www", &["www.test"]);
        site.write("htdocs/index.html", "home");
        site.write("htdocs/granted", "granted");
        let (plain, tls, direct) = (free_port(), free_port(), free_port());
        let conf = site.config(&format!(
            "{mpm}Listen 127.0.0.1:{plain}\nListen 127.0.0.1:{tls} https\nListen 127.0.0.1:{direct}\n\
             ServerName localhost\nDocumentRoot {docroot}\nTimeout 30\n\
             RemoteIPProxyProtocol On\n\
             RemoteIPTrustedProxy 127.0.0.1 127.0.0.2 203.0.113.0/24\n\
             RemoteIPProxyProtocolExceptions 127.0.0.4\n\
             RemoteIPProxyProtocolTimeout {HEADER_TIMEOUT}\n\
             RemoteIPHeader X-Forwarded-For\n\
             LogFormat \"%a %{{c}}a %r\" proxied\n\
             CustomLog logs/access_log proxied\n\
             <Location /granted>\nRequire ip 198.51.100.0/24\n</Location>\n\
             <Location /server-status>\nSetHandler server-status\n</Location>\n\
             <VirtualHost 127.0.0.1:{direct}>\nRemoteIPProxyProtocol Off\n</VirtualHost>\n\
             <VirtualHost 127.0.0.1:{tls}>\nSSLEngine on\nSSLCertificateFile {c}\n\
             SSLCertificateKeyFile {k}\n</VirtualHost>\n",
            mpm = mpm_directives(mpm),
            docroot = site.docroot().display(),
            c = cert.cert.display(),
            k = cert.key.display(),
        ));
        let server = start(&site, &conf);
        ProxiedSite {
            site,
            pki,
            plain,
            tls,
            direct,
            _server: server,
        }
    }

    /// The access log's lines so far.
    fn access_log(&self) -> String {
        std::fs::read_to_string(self.site.path("logs/access_log")).unwrap_or_default()
    }

    /// Wait until the access log has a line for `request` (logged after
    /// the response is sent) and return it.
    fn logged(&self, request: &str) -> String {
        let mut line = None;
        wait_for(10.0, || {
            line = self
                .access_log()
                .lines()
                .find(|l| l.ends_with(request))
                .map(str::to_string);
            line.is_some()
        });
        line.unwrap_or_else(|| {
            panic!(
                "no access log line for {request:?}; the log:\n{}",
                self.access_log()
            )
        })
    }
}

/// A connection to `port` from the loopback address `from`.
fn connect_from(from: &str, port: u16) -> TcpStream {
    common::connect_from(from, addr(port)).expect("connect to mpmd from another address")
}

fn read_to_close(s: &mut impl Read) -> String {
    String::from_utf8_lossy(&pki::read_all(s)).into_owned()
}

fn request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
}

fn v1(client: &str, port: u16) -> String {
    format!("PROXY TCP4 {client} 127.0.0.1 40000 {port}\r\n")
}

fn v2(client: &str, port: u16) -> Vec<u8> {
    let src = format!("{client}:40000").parse().unwrap();
    encode_v2(Some((src, addr(port))), &[(0x02, b"www.test")])
}

/// The status code of an HTTP/1.1 response, or what came instead.
fn status(out: &str) -> &str {
    out.strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .unwrap_or(out)
}

fn v1_and_v2_headers_name_the_client_in_the_log_and_to_require_ip(t: &ProxiedSite) {
    let mut s = connect_from("127.0.0.2", t.plain);
    s.write_all(format!("{}{}", v1("198.51.100.7", t.plain), request("/granted?v1")).as_bytes())
        .unwrap();
    let out = read_to_close(&mut s);
    assert_eq!(
        status(&out),
        "200",
        "a v1 client in 198.51.100.0/24 got {out:?}"
    );
    assert_eq!(
        t.logged("GET /granted?v1 HTTP/1.1"),
        "198.51.100.7 127.0.0.2 GET /granted?v1 HTTP/1.1",
        "%a should be the header's client, %{{c}}a the balancer"
    );

    let mut s = connect_from("127.0.0.2", t.plain);
    s.write_all(
        &[
            v2("192.0.2.9", t.plain),
            request("/granted?v2").into_bytes(),
        ]
        .concat(),
    )
    .unwrap();
    let out = read_to_close(&mut s);
    assert_eq!(
        status(&out),
        "403",
        "a v2 client outside 198.51.100.0/24 got {out:?}"
    );
    assert_eq!(
        t.logged("GET /granted?v2 HTTP/1.1"),
        "192.0.2.9 127.0.0.2 GET /granted?v2 HTTP/1.1"
    );
}

fn a_header_sent_byte_by_byte_is_awaited_whole(t: &ProxiedSite) {
    for (name, header) in [
        ("v1", v1("198.51.100.8", t.plain).into_bytes()),
        ("v2", v2("198.51.100.9", t.plain)),
    ] {
        let mut s = connect_from("127.0.0.2", t.plain);
        for b in &header {
            s.write_all(std::slice::from_ref(b)).unwrap();
            // Each byte its own segment (TCP_NODELAY, and a pause).
            std::thread::sleep(Duration::from_millis(2));
        }
        let path = format!("/granted?split-{name}");
        s.write_all(request(&path).as_bytes()).unwrap();
        let out = read_to_close(&mut s);
        assert_eq!(
            status(&out),
            "200",
            "a {name} header split byte by byte got {out:?}"
        );
    }
    assert!(t
        .logged("GET /granted?split-v2 HTTP/1.1")
        .starts_with("198.51.100.9 127.0.0.2 "));
}

fn local_command_keeps_the_balancer_s_address(t: &ProxiedSite) {
    let mut s = connect_from("127.0.0.2", t.plain);
    s.write_all(&[encode_v2(None, &[]), request("/?local").into_bytes()].concat())
        .unwrap();
    let out = read_to_close(&mut s);
    assert_eq!(status(&out), "200", "a LOCAL health check got {out:?}");
    assert_eq!(
        t.logged("GET /?local HTTP/1.1"),
        "127.0.0.2 127.0.0.2 GET /?local HTTP/1.1"
    );
}

fn the_status_page_shows_the_client_address(t: &ProxiedSite) {
    let mut s = connect_from("127.0.0.2", t.plain);
    s.write_all(
        format!(
            "{}{}",
            v1("198.51.100.13", t.plain),
            request("/server-status")
        )
        .as_bytes(),
    )
    .unwrap();
    let out = read_to_close(&mut s);
    assert_eq!(status(&out), "200", "the status page: {out:?}");
    assert!(
        out.contains("198.51.100.13"),
        "the status page does not show the client 198.51.100.13:\n{out}"
    );
}

fn headers_come_before_the_tls_handshake(t: &ProxiedSite) {
    let cfg = t.pki.client_config(&[b"http/1.1"]);
    for (name, header) in [
        ("v1", v1("198.51.100.10", t.tls).into_bytes()),
        ("v2", v2("198.51.100.11", t.tls)),
    ] {
        let mut tcp = connect_from("127.0.0.2", t.tls);
        tcp.write_all(&header).unwrap();
        let mut s = pki::tls_connect(&cfg, "www.test", tcp)
            .unwrap_or_else(|e| panic!("TLS handshake after a {name} header failed: {e}"));
        let path = format!("/granted?tls-{name}");
        s.write_all(request(&path).as_bytes()).unwrap();
        let out = read_to_close(&mut s);
        assert_eq!(status(&out), "200", "TLS after a {name} header got {out:?}");
    }
    assert!(t
        .logged("GET /granted?tls-v1 HTTP/1.1")
        .starts_with("198.51.100.10 127.0.0.2 "));
}

/// The connection is closed with no response.
fn assert_refused(s: &mut TcpStream, what: &str) {
    let out = read_to_close(s);
    assert!(out.is_empty(), "{what}: the server answered {out:?}");
}

fn untrusted_senders_and_missing_headers_are_refused(t: &ProxiedSite) {
    // 127.0.0.3 is no trusted proxy: even a perfect header is refused.
    let mut s = connect_from("127.0.0.3", t.plain);
    s.write_all(format!("{}{}", v1("198.51.100.7", t.plain), request("/")).as_bytes())
        .unwrap();
    assert_refused(&mut s, "a header from an untrusted address");
    // A trusted proxy that sends a request without a header: never sniffed.
    let mut s = connect_from("127.0.0.2", t.plain);
    s.write_all(request("/?no-header").as_bytes()).unwrap();
    assert_refused(&mut s, "a trusted proxy without a header");
    // The same on the TLS port: a ClientHello instead of a header.
    let tcp = connect_from("127.0.0.2", t.tls);
    let cfg = t.pki.client_config(&[b"http/1.1"]);
    assert!(
        pki::tls_connect(&cfg, "www.test", tcp).is_err(),
        "a TLS handshake without a PROXY header succeeded"
    );
    // An exception connects directly.
    let mut s = connect_from("127.0.0.4", t.plain);
    s.write_all(request("/?exception").as_bytes()).unwrap();
    let out = read_to_close(&mut s);
    assert_eq!(status(&out), "200", "an exception got {out:?}");
    assert!(!t.access_log().contains("/?no-header"));
}

fn a_header_not_sent_in_time_closes_the_connection(t: &ProxiedSite) {
    let mut s = connect_from("127.0.0.2", t.plain);
    // Half a header, then nothing.
    s.write_all(b"PROXY TCP4 198.51").unwrap();
    let started = Instant::now();
    assert_refused(&mut s, "a header cut short");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(HEADER_TIMEOUT * 1000 - 200)
            && took < Duration::from_secs(HEADER_TIMEOUT + 4),
        "a header cut short was closed after {took:?}; RemoteIPProxyProtocolTimeout is {HEADER_TIMEOUT} s (Timeout 30)"
    );
}

fn x_forwarded_for_is_walked_through_trusted_proxies(t: &ProxiedSite) {
    // 127.0.0.1 (trusted) ← 203.0.113.5 (trusted) ← 198.51.100.12, the client.
    let xff = |path: &str, list: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: {list}\r\nConnection: close\r\n\r\n"
        )
    };
    let out = raw(
        addr(t.direct),
        xff("/granted?xff", "192.0.2.1, 198.51.100.12, 203.0.113.5").as_bytes(),
    );
    assert_eq!(out.status, 200, "the walked client got {}", out.status);
    assert_eq!(
        t.logged("GET /granted?xff HTTP/1.1"),
        "198.51.100.12 127.0.0.1 GET /granted?xff HTTP/1.1"
    );
    // From an untrusted peer the header is not believed.
    let mut s = connect_from("127.0.0.3", t.direct);
    s.write_all(xff("/granted?spoofed", "198.51.100.12").as_bytes())
        .unwrap();
    let out = read_to_close(&mut s);
    assert_eq!(status(&out), "403", "a spoofed X-Forwarded-For got {out:?}");
    assert_eq!(
        t.logged("GET /granted?spoofed HTTP/1.1"),
        "127.0.0.3 127.0.0.3 GET /granted?spoofed HTTP/1.1"
    );
    // Without a header, the peer is the client.
    let out = get(addr(t.direct), "localhost", "/granted?none");
    assert_eq!(out.status, 403);
}

fn serve_behind_proxies(mpm: &str) {
    let t = ProxiedSite::start(mpm);
    v1_and_v2_headers_name_the_client_in_the_log_and_to_require_ip(&t);
    a_header_sent_byte_by_byte_is_awaited_whole(&t);
    local_command_keeps_the_balancer_s_address(&t);
    the_status_page_shows_the_client_address(&t);
    headers_come_before_the_tls_handshake(&t);
    untrusted_senders_and_missing_headers_are_refused(&t);
    a_header_not_sent_in_time_closes_the_connection(&t);
    x_forwarded_for_is_walked_through_trusted_proxies(&t);
}

#[test]
fn event_takes_the_client_address_from_proxy_headers_and_trusted_proxies() {
    serve_behind_proxies("event");
}

#[test]
fn prefork_takes_the_client_address_from_proxy_headers_and_trusted_proxies() {
    serve_behind_proxies("prefork");
}

#[test]
fn worker_takes_the_client_address_from_proxy_headers_and_trusted_proxies() {
    serve_behind_proxies("worker");
}

/// Under event the loop reads the header: connections whose header is
/// slow hold no worker thread (the server has two), so a client behind
/// them is served at once.
#[test]
fn event_slow_proxy_headers_hold_no_worker_thread() {
    let site = Site::new();
    site.write("htdocs/index.html", "home");
    let port = free_port();
    let _m = start_mpm(
        &site,
        "event-small",
        port,
        "RemoteIPProxyProtocol On\nRemoteIPProxyProtocolTimeout 20\n",
    );
    let stalled: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = connect_from("127.0.0.2", port);
            s.write_all(b"PROXY TCP4 ").unwrap();
            s
        })
        .collect();
    let started = Instant::now();
    let mut s = connect_from("127.0.0.2", port);
    s.write_all(format!("{}{}", v1("198.51.100.7", port), request("/")).as_bytes())
        .unwrap();
    let out = read_to_close(&mut s);
    assert_eq!(status(&out), "200", "behind 4 slow headers: {out:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "served after {:?}: slow headers held the two threads",
        started.elapsed()
    );
    drop(stalled);
}
