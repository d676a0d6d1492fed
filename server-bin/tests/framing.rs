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
