//! The cases that only mean something over TLS: a client speaking plain
//! HTTP to the TLS port, and the application protocols offered by ALPN.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use crate::support::{self, pki, read_response, Transport};
use mpm::ProtocolConfig;

fn server() -> mpm::testing::TestServer {
    support::server_over(Transport::Tls, super::STRATEGY, ProtocolConfig::default())
}

/// The test client's TLS configuration, offering `alpn`.
fn client_offering(alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut cfg = (*support::tls_configs().1).clone();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(cfg)
}

/// Under event, the loop answers plain HTTP and lingers on the connection
/// itself: that close must read the socket in clear (through the TLS
/// session it tripped a rustls debug assertion, the loop's thread died and
/// nothing was answered again).
#[test]
fn plain_http_on_the_tls_port_gets_400_with_a_date_and_the_server_goes_on() {
    let s = server();
    for round in 0..3 {
        let mut c = support::connect(s.addr());
        c.write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let mut r = BufReader::new(c.try_clone().unwrap());
        let resp = read_response(&mut r, false);
        assert_eq!(resp.status, 400, "round {round}: {}", resp.text());
        assert!(
            resp.text().contains("plain HTTP"),
            "round {round}: {}",
            resp.text()
        );
        let date = resp.header("date").unwrap_or_else(|| {
            panic!(
                "round {round}: the 400 to plain HTTP has no Date: {:?}",
                resp.headers
            )
        });
        assert!(
            date.len() == 29 && date.ends_with(" GMT"),
            "round {round}: Date {date:?}"
        );
        assert!(resp.closes(), "round {round}: {:?}", resp.headers);
        // More plain bytes while the server lingers, then our close.
        let _ = c.write_all(b"GET /more HTTP/1.1\r\nHost: a\r\n\r\n");
        let _ = c.shutdown(std::net::Shutdown::Write);
        let mut rest = Vec::new();
        let _ = r.read_to_end(&mut rest);
        assert!(
            rest.is_empty(),
            "round {round}: bytes after the 400: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }
    // The server still answers TLS clients.
    let (resp, _) = support::exchange_over(
        Transport::Tls,
        s.addr(),
        b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        (resp.status, resp.text().as_str()),
        (200, "Hello, World!"),
        "after plain HTTP on the TLS port"
    );
}

/// `curl --http1.0 https://…` offers only `http/1.0`: it is served (with
/// `http/1.1` preferred when offered too); a client with no protocol in
/// common (`h2` alone) is refused with `no_application_protocol`.
#[test]
fn alpn_http10_is_served_and_a_client_without_a_common_protocol_is_refused() {
    let s = server();
    for (offer, chosen) in [
        (&[&b"http/1.0"[..]][..], &b"http/1.0"[..]),
        (&[&b"http/1.0"[..], &b"http/1.1"[..]][..], &b"http/1.1"[..]),
        (&[&b"h2"[..], &b"http/1.1"[..]][..], &b"http/1.1"[..]),
    ] {
        let tcp = TcpStream::connect(s.addr()).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut c = pki::tls_connect(&client_offering(offer), "a.test", tcp)
            .unwrap_or_else(|e| panic!("a client offering {offer:?} was refused: {e}"));
        assert_eq!(
            c.conn.alpn_protocol(),
            Some(chosen),
            "negotiated for an offer of {offer:?}"
        );
        c.write_all(b"GET /hello HTTP/1.0\r\n\r\n").unwrap();
        let out = pki::read_all(&mut c);
        assert!(
            out.starts_with(b"HTTP/1.1 200 ") && out.ends_with(b"Hello, World!"),
            "a client offering {offer:?} got {:?}",
            String::from_utf8_lossy(&out)
        );
    }
    let tcp = TcpStream::connect(s.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    match pki::tls_connect(&client_offering(&[b"h2"]), "a.test", tcp) {
        Ok(c) => panic!(
            "an h2-only client was accepted with {:?}",
            c.conn.alpn_protocol()
        ),
        Err(e) => assert!(
            e.to_string().contains("NoApplicationProtocol")
                || e.to_string().contains("no_application_protocol"),
            "an h2-only client failed for another reason: {e}"
        ),
    }
}
