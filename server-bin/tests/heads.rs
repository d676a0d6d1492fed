//! Request heads through the real `mpmd`, under every strategy: the
//! `LimitRequest*` directives with Apache's meaning of 0, and heads that
//! arrive in many pieces.

mod common;

use std::io::{BufReader, Write};
use std::time::Duration;

use common::*;

/// The strategies every test here runs under.
const MPMS: [&str; 3] = ["event", "worker", "prefork"];

/// A server under `mpm` serving `/` with `extra` directives.
fn server(mpm: &str, extra: &str) -> (Site, Mpmd, u16) {
    let site = Site::new();
    site.write("htdocs/index.html", "home");
    let port = free_port();
    let m = start_mpm(&site, mpm, port, extra);
    (site, m, port)
}

/// A GET with `n` header fields besides Host.
fn request_with_fields(n: usize) -> Vec<u8> {
    let mut req = b"GET / HTTP/1.1\r\nHost: localhost\r\n".to_vec();
    for i in 0..n {
        req.extend_from_slice(format!("X-Field-{i}: value {i}\r\n").as_bytes());
    }
    req.extend_from_slice(b"Connection: close\r\n\r\n");
    req
}

#[test]
fn limit_request_fields_0_means_no_limit_as_in_apache_under_every_strategy() {
    for mpm in MPMS {
        let (_site, m, port) = server(mpm, "LimitRequestFields 0");
        let resp = raw(addr(port), &request_with_fields(400));
        assert_eq!(
            resp.status,
            200,
            "{mpm}: 402 fields under LimitRequestFields 0; {}",
            m.stderr()
        );
        drop(m);
        let (_site, _m, port) = server(mpm, "LimitRequestFields 50");
        assert_eq!(
            raw(addr(port), &request_with_fields(60)).status,
            431,
            "{mpm}: 62 fields under LimitRequestFields 50"
        );
        assert_eq!(raw(addr(port), &request_with_fields(40)).status, 200);
    }
}

#[test]
fn limit_request_body_0_means_no_limit_as_in_apache_under_every_strategy() {
    for mpm in MPMS {
        let (_site, _m, port) = server(mpm, "LimitRequestBody 0");
        let body = vec![b'x'; 3 << 20];
        let mut req = format!(
            "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(&body);
        // A static file answers a POST as a GET: the body was accepted
        // (not 413) and drained.
        let status = raw(addr(port), &req).status;
        assert_ne!(status, 413, "{mpm}: a 3 MiB body under LimitRequestBody 0");
        let (_site, _m, port) = server(mpm, "LimitRequestBody 1024");
        assert_eq!(
            raw(addr(port), &req).status,
            413,
            "{mpm}: a 3 MiB body under LimitRequestBody 1024"
        );
    }
}

#[test]
fn a_head_sent_in_a_thousand_pieces_is_answered_under_every_strategy() {
    for mpm in MPMS {
        let (_site, m, port) = server(mpm, "");
        let s = connect(addr(port));
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let req = request_with_fields(60);
        let pieces = req.len().div_ceil(1000);
        for piece in req.chunks(pieces) {
            (&s).write_all(piece).unwrap();
            std::thread::sleep(Duration::from_micros(200));
        }
        let resp = read_response(&mut BufReader::new(&s), false);
        assert_eq!(resp.status, 200, "{mpm}: {}", m.stderr());
        assert_eq!(resp.text(), "home");
    }
}

#[test]
fn a_client_that_closes_in_the_middle_of_its_head_is_let_go_at_once_under_every_strategy() {
    use std::io::Read;
    for mpm in MPMS {
        let (_site, _m, port) = server(mpm, "RequestReadTimeout header=30");
        for pieces in [1, 3] {
            let s = connect(addr(port));
            s.set_nodelay(true).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let head = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Partial: yes";
            for piece in head.chunks(head.len().div_ceil(pieces)) {
                (&s).write_all(piece).unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
            s.shutdown(std::net::Shutdown::Write).unwrap();
            let mut got = Vec::new();
            let r = (&s).read_to_end(&mut got);
            assert!(
                r.is_ok() && got.is_empty(),
                "{mpm}, head in {pieces} pieces then FIN: wanted the connection closed with \
                 nothing sent, got {r:?} and {:?}",
                String::from_utf8_lossy(&got)
            );
        }
    }
}
