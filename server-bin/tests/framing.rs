//! Request framing through the real `mpmd` under prefork, worker and
//! event: what a front proxy might read differently (a request smuggled
//! in a chunked body's trailers, bare LF line ends in chunked framing) is
//! refused with 400 and a close, as Apache does; a target with a fragment
//! or a scheme other than http(s) is 400; `HTTP/1.2` is served as 1.1.

mod common;

use std::io::{BufReader, Read, Write};

use common::*;

/// Send `raw` on a new connection: the response and whether the server
/// closed the connection after it.
fn answer(port: u16, raw: &str) -> (Resp, bool) {
    let mut s = connect(addr(port));
    s.write_all(raw.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false);
    let mut rest = Vec::new();
    let closed = match r.read_to_end(&mut rest) {
        Ok(_) => rest.is_empty(),
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    (resp, closed)
}

fn refused_with_400(port: u16, raw: &str, what: &str) {
    let (resp, closed) = answer(port, raw);
    assert_eq!(
        resp.status,
        400,
        "{what}: got {} ({:?})",
        resp.status,
        resp.text()
    );
    assert!(closed, "{what}: the connection stays open after the 400");
}

fn check_framing(mpm: &str) {
    let site = Site::new();
    site.write("htdocs/index.html", "home");
    let port = free_port();
    let _m = start_mpm(&site, mpm, port, "");
    let chunked = |body: &str| {
        format!(
            "GET /index.html HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n{body}"
        )
    };
    // The static file handler reads no body: the server drains it and
    // finds the framing broken all the same.
    refused_with_400(
        port,
        &chunked("3\r\nabc\r\n0\r\nGET /private HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        "a request line as a trailer",
    );
    refused_with_400(
        port,
        &chunked("3\nabc\n0\n\n"),
        "bare LF in chunked framing",
    );
    let (resp, _) = answer(
        port,
        "GET /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n",
    );
    assert_eq!(
        (resp.status, &resp.body[..]),
        (200, &b"home"[..]),
        "a chunked body with a real trailer"
    );
    refused_with_400(
        port,
        "GET /index.html#top HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "a fragment in the target",
    );
    refused_with_400(
        port,
        "GET ftp://localhost/index.html HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "an ftp:// target",
    );
    let (resp, closed) = answer(
        port,
        "GET /index.html HTTP/1.2\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        (resp.status, &resp.body[..]),
        (200, &b"home"[..]),
        "HTTP/1.2 is not served as HTTP/1.1"
    );
    assert!(closed, "Connection: close on HTTP/1.2 was not honoured");
}

#[test]
fn prefork_refuses_ambiguous_framing_and_serves_http_1_2() {
    check_framing("prefork");
}

#[test]
fn worker_refuses_ambiguous_framing_and_serves_http_1_2() {
    check_framing("worker");
}

#[test]
fn event_refuses_ambiguous_framing_and_serves_http_1_2() {
    check_framing("event");
}

/// A handler's own 400 (here the site's, for a bad `%` escape) is an
/// answer like any other: the connection goes on when the request's body
/// was read or drained (Apache would close; see `mpm::Handler`). It closes
/// when the body is too large to drain, and after the server's own
/// refusals.
fn check_a_handlers_400(mpm: &str) {
    let site = Site::new();
    site.write("htdocs/index.html", "home");
    let port = free_port();
    let _m = start_mpm(&site, mpm, port, "");
    let mut c = connect(addr(port));
    let mut r = BufReader::new(c.try_clone().unwrap());
    c.write_all(b"GET /%zz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc")
        .unwrap();
    let resp = read_response(&mut r, false);
    assert_eq!(resp.status, 400, "{mpm}: a bad escape got {}", resp.status);
    assert!(
        !resp.closes(),
        "{mpm}: the site's 400 announced a close: {:?}",
        resp.headers
    );
    c.write_all(b"GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let next = read_response(&mut r, false);
    assert_eq!(
        (next.status, &next.body[..]),
        (200, &b"home"[..]),
        "{mpm}: the request after the site's 400 on the same connection"
    );

    let len = 300 * 1024;
    let mut c = connect(addr(port));
    write!(
        c,
        "GET /%zz HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len}\r\n\r\n"
    )
    .unwrap();
    // Drained up to 256 KiB, the rest read and dropped while lingering.
    let _ = c.write_all(&vec![b'x'; len]);
    let mut r = BufReader::new(c);
    let resp = read_response(&mut r, false);
    assert_eq!(resp.status, 400, "{mpm}: with a large body");
    let mut rest = Vec::new();
    let closed = match r.read_to_end(&mut rest) {
        Ok(_) => rest.is_empty(),
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(
        resp.closes() && closed,
        "{mpm}: a 400 leaving 300 KiB of body unread kept the connection: {:?}",
        resp.headers
    );

    refused_with_400(
        port,
        "GET /index.html HTTP/1.1\r\n\r\n",
        "the server's own 400 (no Host)",
    );
}

#[test]
fn prefork_keeps_the_connection_after_a_handlers_400_but_not_after_a_refusal() {
    check_a_handlers_400("prefork");
}

#[test]
fn worker_keeps_the_connection_after_a_handlers_400_but_not_after_a_refusal() {
    check_a_handlers_400("worker");
}

#[test]
fn event_keeps_the_connection_after_a_handlers_400_but_not_after_a_refusal() {
    check_a_handlers_400("event");
}
