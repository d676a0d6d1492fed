//! The conformance cases, run by `plain.rs` and `tls.rs` over their
//! transport (`super::TRANSPORT`) under a strategy (`super::STRATEGY`):
//! raw request bytes in, exact framing checked on the way out.

use std::io::{BufReader, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::{self, read_response, Client};
use mpm::config::ReadStage;
use mpm::testing::{read_chunk, read_head};
use mpm::ProtocolConfig;

/// A test server with the conformance app over this run's transport.
fn server(protocol: ProtocolConfig) -> mpm::testing::TestServer {
    support::server_over(super::TRANSPORT, super::STRATEGY, protocol)
}

/// A connection over this run's transport.
fn connect(addr: SocketAddr) -> Client {
    support::connect_over(super::TRANSPORT, addr)
}

/// Send `raw` on a new connection and read one response.
fn exchange(addr: SocketAddr, raw: &[u8]) -> (support::Resp, BufReader<Client>) {
    support::exchange_over(super::TRANSPORT, addr, raw)
}

/// True when the server closed the connection.
fn closed(r: &mut BufReader<Client>) -> bool {
    support::closed_over(r)
}

fn default_server() -> mpm::testing::TestServer {
    server(ProtocolConfig::default())
}

fn status_of(raw: &[u8]) -> u16 {
    let s = default_server();
    exchange(s.addr(), raw).0.status
}

/// A refused request gets its status and the connection closes.
fn assert_refused(raw: &[u8], status: u16) {
    let s = default_server();
    let (resp, mut r) = exchange(s.addr(), raw);
    assert_eq!(
        resp.status,
        status,
        "request {:?} got {} ({})",
        String::from_utf8_lossy(raw),
        resp.status,
        resp.text()
    );
    assert!(
        resp.closes(),
        "a refusal must say Connection: close: {:?}",
        resp.headers
    );
    assert!(closed(&mut r), "the connection stays open after a {status}");
}

#[test]
fn http11_keeps_the_connection_alive_by_default() {
    let s = default_server();
    let mut c = connect(s.addr());
    let mut r = BufReader::new(c.try_clone().unwrap());
    for _ in 0..3 {
        c.write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let resp = read_response(&mut r, false);
        assert_eq!(resp.status, 200);
        assert_eq!(resp.text(), "Hello, World!");
        assert!(!resp.closes());
    }
}

#[test]
fn http10_closes_unless_keep_alive_is_asked() {
    let s = default_server();
    let (resp, mut r) = exchange(s.addr(), b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(resp.status, 200);
    assert!(closed(&mut r), "1.0 without keep-alive must close");

    let mut c = connect(s.addr());
    let mut r = BufReader::new(c.try_clone().unwrap());
    c.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut r, false);
    assert_eq!(resp.header("connection"), Some("keep-alive"));
    c.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut r, false).status, 200);
}

#[test]
fn max_keep_alive_requests_closes_after_the_last_allowed_request() {
    let mut p = ProtocolConfig::default();
    p.timeouts.max_keep_alive_requests = 3;
    let s = server(p);
    let mut c = connect(s.addr());
    let mut r = BufReader::new(c.try_clone().unwrap());
    for i in 1..=3 {
        c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let resp = read_response(&mut r, false);
        assert_eq!(resp.closes(), i == 3, "response {i}: {:?}", resp.headers);
    }
    assert!(closed(&mut r));
}

#[test]
fn keep_alive_off_closes_every_connection() {
    let mut p = ProtocolConfig::default();
    p.timeouts.keep_alive = false;
    let s = server(p);
    let (resp, mut r) = exchange(s.addr(), b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(resp.closes());
    assert!(closed(&mut r));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let s = default_server();
    let mut c = connect(s.addr());
    c.write_all(
        b"GET /peer HTTP/1.1\r\nHost: a\r\n\r\nPOST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(c);
    // The handler sees whether the connection is TLS.
    let secure = super::TRANSPORT == support::Transport::Tls;
    assert_eq!(
        read_response(&mut r, false).text(),
        format!("127.0.0.1 {secure}")
    );
    assert_eq!(read_response(&mut r, false).text(), "hello");
    let last = read_response(&mut r, false);
    assert_eq!(last.text(), "Hello, World!");
    assert!(last.closes());
    assert!(closed(&mut r));
}

#[test]
fn expect_100_continue_gets_the_interim_response_before_the_body() {
    let s = default_server();
    let mut c = connect(s.addr());
    c.write_all(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    let interim = read_response(&mut r, false);
    assert_eq!(interim.status, 100);
    c.write_all(b"ping").unwrap();
    let resp = read_response(&mut r, false);
    assert_eq!((resp.status, resp.text().as_str()), (200, "ping"));
}

#[test]
fn expect_100_continue_is_not_sent_when_the_handler_ignores_the_body() {
    let s = default_server();
    let (resp, mut r) = exchange(
        s.addr(),
        b"POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    );
    assert_eq!(
        resp.status, 200,
        "the final answer comes without a 100 first"
    );
    assert!(
        resp.closes(),
        "an unread body after Expect cannot keep the connection"
    );
    assert!(closed(&mut r));
}

#[test]
fn an_unread_small_body_is_drained_and_the_connection_goes_on() {
    let s = default_server();
    let mut c = connect(s.addr());
    c.write_all(b"POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(c);
    assert_eq!(read_response(&mut r, false).text(), "ignored");
    assert_eq!(read_response(&mut r, false).text(), "Hello, World!");
}

#[test]
fn a_handlers_400_keeps_the_connection_when_the_body_was_read_or_drained() {
    let s = default_server();
    let mut c = connect(s.addr());
    let mut r = BufReader::new(c.try_clone().unwrap());
    for path in ["/reject", "/reject-unread"] {
        for body in [
            "Content-Length: 5\r\n\r\nhello",
            "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ] {
            write!(c, "POST {path} HTTP/1.1\r\nHost: a\r\n{body}").unwrap();
            let resp = read_response(&mut r, false);
            assert_eq!(
                (resp.status, resp.text().as_str()),
                (400, "invalid"),
                "{path} with {body:?}"
            );
            assert!(
                !resp.closes(),
                "the handler's 400 for {path} with {body:?} announced a close: {:?}",
                resp.headers
            );
            c.write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
                .unwrap();
            let next = read_response(&mut r, false);
            assert_eq!(
                (next.status, next.text().as_str()),
                (200, "Hello, World!"),
                "the request after the handler's 400 for {path} with {body:?}"
            );
        }
    }
}

#[test]
fn a_handlers_400_with_an_unread_body_too_large_to_drain_closes() {
    let s = default_server();
    let mut c = connect(s.addr());
    let len = 300 * 1024;
    write!(
        c,
        "POST /reject-unread HTTP/1.1\r\nHost: a\r\nContent-Length: {len}\r\n\r\n"
    )
    .unwrap();
    // The server drains 256 KiB, answers, then reads (and drops) the rest
    // while it lingers, so this write ends.
    let _ = c.write_all(&vec![b'x'; len]);
    let mut r = BufReader::new(c);
    let resp = read_response(&mut r, false);
    assert_eq!(resp.status, 400, "got {} ({})", resp.status, resp.text());
    assert!(
        resp.closes(),
        "a 400 leaving 300 KiB of body unread did not announce a close: {:?}",
        resp.headers
    );
    assert!(closed(&mut r), "the connection stayed open");
}

#[test]
fn a_handlers_connection_close_header_closes_the_connection() {
    let s = default_server();
    let (resp, mut r) = exchange(s.addr(), b"GET /gone HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!((resp.status, resp.text().as_str()), (404, "gone"));
    assert_eq!(
        resp.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .count(),
        1,
        "one Connection header, not the handler's and the server's: {:?}",
        resp.headers
    );
    assert!(resp.closes(), "no Connection: close: {:?}", resp.headers);
    assert!(closed(&mut r), "the connection stayed open");
}

#[test]
fn head_gets_the_headers_of_get_without_a_body() {
    let s = default_server();
    let mut c = connect(s.addr());
    c.write_all(b"HEAD /hello HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(c);
    let head = read_response(&mut r, true);
    assert_eq!(head.header("content-length"), Some("13"));
    // If HEAD had carried a body, this would read it as a status line.
    let get = read_response(&mut r, false);
    assert_eq!(get.text(), "Hello, World!");
}

#[test]
fn a_kept_answer_carries_its_encoded_fields_after_the_responses_own() {
    let s = default_server();
    let mut c = connect(s.addr());
    let mut r = BufReader::new(c.try_clone().unwrap());
    for (method, path) in [
        ("GET", "/kept"),
        ("GET", "/kept-worker"),
        ("HEAD", "/kept"),
        ("GET", "/kept"),
    ] {
        write!(c, "{method} {path} HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let resp = read_response(&mut r, method == "HEAD");
        let names: Vec<&str> = resp.headers.iter().map(|(n, _)| n.as_str()).collect();
        let at = |name: &str| names.iter().position(|n| *n == name);
        assert!(
            at("X-Own") < at("ETag") && at("ETag") < at("Content-Type"),
            "{method} {path}: the head's fields were, in order, {names:?}"
        );
        for (name, want) in [
            ("etag", "\"5-kept\""),
            ("content-type", "text/plain"),
            ("content-length", "5"),
        ] {
            assert_eq!(
                resp.header(name),
                Some(want),
                "{method} {path}: {name} (the head: {:?})",
                resp.headers
            );
        }
        let body = if method == "HEAD" { "" } else { "hello" };
        assert_eq!(resp.text(), body, "{method} {path}: the body");
        assert!(!resp.closes(), "{method} {path} closed the connection");
    }
}

#[test]
fn responses_carry_date_and_server() {
    let s = default_server();
    let (resp, _) = exchange(s.addr(), b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let date = resp.header("date").expect("Date header");
    assert!(httpdate_like(date), "Date {date:?}");
    assert!(resp
        .header("server")
        .is_some_and(|v| v.starts_with("mpmd/")));
}

fn httpdate_like(d: &str) -> bool {
    d.len() == 29 && d.ends_with(" GMT") && d.as_bytes()[3] == b','
}

/// RFC 9110 §6.6.1: an origin server with a clock sends `Date` in its
/// responses, the ones it makes up itself included.
#[test]
fn every_response_the_server_writes_itself_carries_a_date() {
    let s = server(small_limits(short_header_timeout(1, None, 0)));
    let (long_target, long_field) = too_long_target_and_field();
    for (raw, status) in [
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), 400),
        (
            b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\nx".to_vec(),
            400,
        ),
        (b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec(), 408),
        (
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n".to_vec(),
            413,
        ),
        (long_target.into_bytes(), 414),
        (long_field.into_bytes(), 431),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nExpect: tea\r\n\r\n".to_vec(),
            417,
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(),
            501,
        ),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n".to_vec(), 505),
        (b"GET /panic HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), 500),
    ] {
        let (resp, _) = exchange(s.addr(), &raw);
        assert_eq!(
            resp.status,
            status,
            "for {:?}",
            String::from_utf8_lossy(&raw)
        );
        let date = resp.header("date").unwrap_or_else(|| {
            panic!(
                "the server's own {status} has no Date header: {:?}",
                resp.headers
            )
        });
        assert!(httpdate_like(date), "the {status}'s Date is {date:?}");
    }
}

#[test]
fn unknown_length_is_sent_chunked_to_11_and_close_delimited_to_10() {
    let s = default_server();
    let (resp, _) = exchange(s.addr(), b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
    assert_eq!(resp.body, b"0123456789".repeat(1000));
    let (resp, _) = exchange(s.addr(), b"GET /stream HTTP/1.0\r\n\r\n");
    assert!(resp.header("transfer-encoding").is_none());
    assert_eq!(resp.body, b"0123456789".repeat(1000));
}

#[test]
fn a_writer_body_is_chunked_to_11_close_delimited_to_10_and_not_run_for_head() {
    let s = default_server();
    let mut want = b"first ".to_vec();
    want.extend_from_slice(&b"0123456789".repeat(2000));
    want.extend_from_slice(b" last");
    for path in ["/write", "/write-worker"] {
        let mut c = connect(s.addr());
        let mut r = BufReader::new(c.try_clone().unwrap());
        write!(c, "GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let resp = read_response(&mut r, false);
        assert_eq!(resp.header("transfer-encoding"), Some("chunked"), "{path}");
        assert!(
            resp.body == want,
            "{path}: a body of {} bytes",
            resp.body.len()
        );
        // The connection goes on after the last chunk.
        write!(c, "HEAD {path} HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let head = read_response(&mut r, true);
        assert_eq!(head.status, 200, "HEAD {path}");
        c.write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .unwrap();
        assert_eq!(
            read_response(&mut r, false).text(),
            "Hello, World!",
            "after HEAD {path}: a body was sent for HEAD"
        );
        let (resp, mut r) = exchange(s.addr(), format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes());
        assert!(resp.header("transfer-encoding").is_none(), "{path} to 1.0");
        assert!(
            resp.body == want,
            "{path} to 1.0: {} bytes",
            resp.body.len()
        );
        assert!(closed(&mut r));
    }
}

#[test]
fn chunked_request_bodies_are_decoded() {
    let s = default_server();
    let (resp, _) = exchange(
        s.addr(),
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
    );
    assert_eq!((resp.status, resp.text().as_str()), (200, "hello world"));
}

#[test]
fn missing_or_repeated_host_on_11_is_400() {
    assert_refused(b"GET / HTTP/1.1\r\n\r\n", 400);
    assert_refused(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    assert_eq!(status_of(b"GET / HTTP/1.0\r\n\r\n"), 200);
}

#[test]
fn malformed_heads_are_400() {
    for raw in [
        &b"GET\r\n\r\n"[..],
        b"GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n",
        b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
    ] {
        assert_refused(raw, 400);
    }
}

#[test]
fn other_http_major_versions_are_505() {
    assert_refused(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    assert_refused(b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505);
}

#[test]
fn a_later_http1_minor_version_is_answered_as_http11() {
    let s = default_server();
    let mut c = connect(s.addr());
    let mut r = BufReader::new(c.try_clone().unwrap());
    c.write_all(b"GET /hello HTTP/1.2\r\nHost: a\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut r, false);
    assert_eq!(
        (resp.status, resp.text().as_str()),
        (200, "Hello, World!"),
        "HTTP/1.2 was not served as HTTP/1.1"
    );
    assert!(
        !resp.closes(),
        "HTTP/1.2 did not keep the connection as 1.1 does: {:?}",
        resp.headers
    );
    c.write_all(b"GET /hello HTTP/1.9\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut r, false);
    assert_eq!(resp.status, 200, "the second request on the connection");
    assert!(closed(&mut r));
}

#[test]
fn a_fragment_or_a_scheme_other_than_http_in_the_target_is_400() {
    assert_refused(b"GET /hello#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    assert_refused(b"GET /hello?q#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    assert_refused(b"GET ftp://a/hello HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    assert_refused(b"GET file://a/etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    assert_eq!(
        status_of(b"GET http://a/hello HTTP/1.1\r\nHost: a\r\n\r\n"),
        200
    );
    assert_eq!(
        status_of(b"GET HTTPS://a/hello HTTP/1.1\r\nHost: a\r\n\r\n"),
        200
    );
}

/// `0\r\nGET /private …` after the last chunk is no trailer: a front proxy
/// that ends the body at the last chunk would forward the rest as a
/// second request. Refused whether or not the handler reads the body.
#[test]
fn a_request_smuggled_in_the_trailers_is_400_and_closes() {
    for path in ["/echo", "/ignore"] {
        let raw = format!(
            "POST {path} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
             3\r\nabc\r\n0\r\nGET /private HTTP/1.1\r\nHost: a\r\n\r\n"
        );
        assert_refused(raw.as_bytes(), 400);
    }
}

#[test]
fn bare_lf_in_chunked_framing_is_400_and_closes() {
    for path in ["/echo", "/ignore"] {
        for body in [
            "5\nhello\n0\n\n",
            "5\r\nhello\n0\r\n\r\n",
            "5\r\nhello\r\n0\r\n\n",
        ] {
            let raw = format!(
                "POST {path} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{body}"
            );
            assert_refused(raw.as_bytes(), 400);
        }
    }
}

#[test]
fn trailers_are_held_to_the_header_limits() {
    let mut p = ProtocolConfig::default();
    p.limits.fields = 2;
    p.limits.field_size = 32;
    let s = server(p);
    let chunked = |trailers: &str| {
        format!(
            "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
             3\r\nabc\r\n0\r\n{trailers}\r\n"
        )
    };
    let (resp, _) = exchange(s.addr(), chunked("X-A: 1\r\nX-B: 2\r\n").as_bytes());
    assert_eq!(
        (resp.status, resp.text().as_str()),
        (200, "abc"),
        "trailers within the limits"
    );
    // Three lines; one line of 33 bytes.
    for trailers in [
        "A: 1\r\nB: 2\r\nC: 3\r\n",
        "X-Long: 0123456789abcdef012345678\r\n",
    ] {
        let (resp, mut r) = exchange(s.addr(), chunked(trailers).as_bytes());
        assert_eq!(
            resp.status,
            400,
            "trailers {trailers:?} beyond LimitRequestFields 2 / LimitRequestFieldSize 32 got {} ({})",
            resp.status,
            resp.text()
        );
        assert!(closed(&mut r), "the connection stays open after a 400");
    }
}

/// `p` with limits small enough to run into: lines of 64 bytes, 5
/// fields, bodies of 10 bytes.
fn small_limits(mut p: ProtocolConfig) -> ProtocolConfig {
    p.limits.request_line = 64;
    p.limits.field_size = 64;
    p.limits.fields = 5;
    p.limits.body = 10;
    p
}

/// A request whose target, and one whose header line, is over 100 bytes.
fn too_long_target_and_field() -> (String, String) {
    (
        format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(100)),
        format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX-Long: {}\r\n\r\n",
            "b".repeat(100)
        ),
    )
}

#[test]
fn each_limit_has_its_status() {
    let s = server(small_limits(ProtocolConfig::default()));
    let (long_target, long_field) = too_long_target_and_field();
    let many = format!(
        "GET / HTTP/1.1\r\nHost: a\r\n{}\r\n",
        "X-A: 1\r\n".repeat(6)
    );
    for (raw, status) in [
        (long_target.into_bytes(), 414),
        (long_field.into_bytes(), 431),
        (many.into_bytes(), 431),
        (b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world".to_vec(), 413),
        (
            b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n".to_vec(),
            413,
        ),
    ] {
        let (resp, mut r) = exchange(s.addr(), &raw);
        assert_eq!(resp.status, status, "for {:?}", String::from_utf8_lossy(&raw));
        assert!(closed(&mut r));
    }
    // Within the limits, the same server answers.
    let (resp, _) = exchange(
        s.addr(),
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhelloworld",
    );
    assert_eq!(resp.text(), "helloworld");
}

#[test]
fn ambiguous_framing_is_refused_and_closed() {
    for raw in [
        &b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabcd",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: -3\r\n\r\nabc",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\nabc",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
    ] {
        assert_refused(raw, 400);
    }
}

#[test]
fn unknown_transfer_coding_is_501() {
    assert_refused(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        501,
    );
}

#[test]
fn transfer_encoding_on_http10_is_read_then_closed() {
    let s = default_server();
    let (resp, mut r) = exchange(
        s.addr(),
        b"POST /echo HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    assert_eq!(resp.text(), "abc");
    assert!(
        closed(&mut r),
        "a 1.0 request with Transfer-Encoding must close"
    );
}

#[test]
fn a_panicking_handler_gets_500_and_the_server_goes_on() {
    let s = default_server();
    let (resp, mut r) = exchange(s.addr(), b"GET /panic HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(resp.status, 500);
    assert!(closed(&mut r));
    let (resp, _) = exchange(s.addr(), b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(resp.text(), "Hello, World!");
}

fn short_header_timeout(initial: u64, max: Option<u64>, rate: u32) -> ProtocolConfig {
    let mut p = ProtocolConfig::default();
    p.timeouts.request_read.header = ReadStage {
        initial: Duration::from_secs(initial),
        max: max.map(Duration::from_secs),
        min_rate: rate,
    };
    p
}

#[test]
fn a_slow_header_is_answered_408_at_the_deadline() {
    let s = server(short_header_timeout(1, None, 0));
    let mut c = connect(s.addr());
    let t = Instant::now();
    c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap();
    let mut r = BufReader::new(c);
    let resp = read_response(&mut r, false);
    assert_eq!(resp.status, 408);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "408 came early, after {took:?}"
    );
    assert!(closed(&mut r));
}

#[test]
fn a_slowloris_trickle_is_cut_at_the_capped_deadline() {
    // header=1-2,MinRate=10: each 10 bytes buys a second, up to 2 s.
    let s = server(short_header_timeout(1, Some(2), 10));
    let mut c = connect(s.addr());
    let t = Instant::now();
    let mut answered = None;
    // Trickle 5 bytes every 100 ms: 50 bytes/s would stretch forever
    // without the cap.
    for _ in 0..80 {
        if c.write_all(b"X-A: ").is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut peek = [0u8; 12];
        c.set_nonblocking(true).unwrap();
        let n = c.peek(&mut peek);
        c.set_nonblocking(false).unwrap();
        if let Ok(n) = n {
            if n > 0 {
                answered = Some(t.elapsed());
                break;
            }
        }
    }
    let took = answered.expect("the server never answered the trickling client");
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(5),
        "cut after {took:?}, expected about 2 s"
    );
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 408 "), "got {out:?}");
}

#[test]
fn an_idle_keep_alive_connection_is_closed_at_keep_alive_timeout() {
    let mut p = ProtocolConfig::default();
    p.timeouts.keep_alive_timeout = Duration::from_millis(500);
    let s = server(p);
    let mut c = connect(s.addr());
    c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let mut r = BufReader::new(c);
    assert_eq!(read_response(&mut r, false).status, 200);
    let t = Instant::now();
    assert!(
        closed(&mut r),
        "an idle keep-alive connection must be closed without a response"
    );
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "closed after {:?}",
        t.elapsed()
    );
}

#[test]
fn random_bytes_never_take_the_server_down() {
    let s = default_server();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..60 {
        let mut junk = Vec::new();
        for _ in 0..(x % 600) as usize + 1 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            junk.push((x >> 24) as u8);
        }
        let mut c = connect(s.addr());
        let _ = c.write_all(&junk);
        let _ = c.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        assert!(
            out.is_empty()
                || out.starts_with(b"HTTP/1.1 4")
                || out.starts_with(b"HTTP/1.1 5")
                || out.starts_with(b"HTTP/1.1 2"),
            "odd answer to junk: {:?}",
            String::from_utf8_lossy(&out)
        );
    }
    let (resp, _) = exchange(s.addr(), b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(resp.text(), "Hello, World!");
}

#[test]
fn a_writer_body_that_asks_ends_at_a_graceful_stop() {
    let mut s = default_server();
    let mut c = connect(s.addr());
    c.write_all(b"GET /endless HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(c);
    let head = read_head(&mut r);
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    assert_eq!(read_chunk(&mut r).as_deref(), Some(&b"data: 0\n\n"[..]));
    s.control().graceful_stop();
    // Events until the writer sees the stop, then its last words and the
    // end of the body (each read waits at most 10 s).
    let mut last = Vec::new();
    while let Some(chunk) = read_chunk(&mut r) {
        last = chunk;
    }
    assert_eq!(String::from_utf8_lossy(&last), "data: bye\n\n");
    let exit = s
        .join(Duration::from_secs(10))
        .expect("run did not end after the stream did");
    assert_eq!(exit.unwrap(), mpm::strategy::Exit::Stop);
}

#[test]
fn stop_ends_run_with_stop() {
    let s = default_server();
    let _idle = connect(s.addr());
    assert_eq!(s.stop().unwrap(), mpm::strategy::Exit::Stop);
}
