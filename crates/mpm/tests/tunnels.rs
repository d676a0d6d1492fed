//! A handler's own tunnel: it answers `101` with [`Body::Tunnel`] joined to
//! a socket it opened (here, to an echo server of this test), and the
//! server copies both ways: under the blocking driver (`single`) and the
//! event loop (`event-threads`), with the bytes the client sent right
//! after its head passed on first. Another status with a tunnel is an
//! empty answer.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use mpm::http::{header, HeaderValue, StatusCode};
use mpm::testing::TestServer;
use mpm::{Body, ConnInfo, ProtocolConfig, Request, Response, Tunnel};

/// A TCP server that sends back every byte it gets, upper-cased, and
/// closes when its client half-closes.
fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = s.read(&mut buf) {
                    if s.write_all(&buf[..n].to_ascii_uppercase()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

fn start(strategy: &str, echo: u16) -> TestServer {
    let handler = move |req: Request<'_>, _: &ConnInfo| {
        let peer = TcpStream::connect(("127.0.0.1", echo)).expect("the echo server");
        let tunnel = Tunnel::new(peer, Duration::from_secs(10)).with_to_client(b"ready\n");
        let mut resp = Response::new(Body::Tunnel(Box::new(tunnel)));
        *resp.status_mut() = if req.uri().path() == "/not-101" {
            StatusCode::OK
        } else {
            StatusCode::SWITCHING_PROTOCOLS
        };
        resp.headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("echo"));
        resp
    };
    let mpm = mpm::by_name(strategy).expect("strategy compiled in");
    TestServer::start(mpm, Arc::new(handler), ProtocolConfig::default())
}

fn handler_tunnel(strategy: &str) {
    let server = start(strategy, echo_server());
    let mut s = support::connect(server.addr());
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nearly")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(b"ready\nEARLY") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 101 Switching Protocols\r\n")
            && text.contains("\r\nUpgrade: echo\r\n")
            && text.contains("\r\nConnection: Upgrade\r\n")
            && !text.contains("Content-Length")
            && text.ends_with("\r\n\r\nready\nEARLY"),
        "{strategy} answered {text:?}"
    );
    s.write_all(b" and later").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert_eq!(
        rest, b" AND LATER",
        "{strategy}: the tunnel did not carry the bytes and the close"
    );
    // A tunnel on another status is not one: an empty answer, and the
    // connection goes on speaking HTTP.
    let mut s = support::connect(server.addr());
    s.write_all(b"GET /not-101 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let text = String::from_utf8_lossy(&all);
    assert!(
        text.starts_with("HTTP/1.1 200 OK\r\n")
            && text.contains("Content-Length: 0\r\n")
            && text.ends_with("\r\n\r\n"),
        "{strategy} answered {text:?}"
    );
}

#[test]
fn a_handler_tunnel_carries_bytes_both_ways_under_the_blocking_driver() {
    handler_tunnel("single");
}

#[test]
fn a_handler_tunnel_carries_bytes_both_ways_under_the_event_loop() {
    handler_tunnel("event-threads");
}
