//! The graceful example: a graceful stop, from a channel or from SIGWINCH,
//! refuses new clients and lets the request under way finish; SIGTERM
//! stops at once.

mod support;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::{connect, read_response, request, Example, PATIENCE};

/// Start `GET /slow?ms=…` and wait until the handler has it.
fn slow_request_under_way(example: &mut Example, ms: u64) -> TcpStream {
    let mut slow = connect(example.addr);
    slow.write_all(
        format!("GET /slow?ms={ms} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .expect("send GET /slow");
    example.wait_line("the slow request's start", |l| {
        l.starts_with("slow request:")
    });
    slow
}

/// After a graceful stop: the slow request is answered in full, new
/// clients are refused, and the program ends with success.
fn finishes_the_slow_request_and_exits(mut example: Example, slow: TcpStream, ms: u64) {
    let addr = example.addr;
    // New clients are refused (the listening socket is closed at once),
    // while the slow request is still being answered.
    let until = Instant::now() + PATIENCE;
    while TcpStream::connect(addr).is_ok_and(|mut s| {
        s.set_read_timeout(Some(PATIENCE)).ok();
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let mut first = [0u8; 1];
        std::io::Read::read(&mut s, &mut first).is_ok_and(|n| n == 1)
    }) {
        assert!(
            Instant::now() < until,
            "new clients were still answered {PATIENCE:?} after the stop"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let resp = read_response(&mut BufReader::new(slow), false);
    assert_eq!(
        (resp.status, resp.text()),
        (200, format!("done after {ms} ms\n")),
        "the request under way when the graceful stop came"
    );
    let (status, stderr) = example.wait_exit(20);
    assert!(
        status.success(),
        "graceful ended with {status} ({stderr}); it printed:\n{}",
        example.seen.join("\n")
    );
    assert_eq!(
        example.seen.last().map(String::as_str),
        Some("stopped"),
        "{:?}",
        example.seen
    );
}

#[test]
fn a_stop_sent_through_the_channel_lets_the_slow_request_finish() {
    let mut example = Example::listening("graceful", &["127.0.0.1:0"]);
    let slow = slow_request_under_way(&mut example, 1500);
    let resp = request(example.addr, "POST", "/shutdown", "");
    assert_eq!(
        resp.status,
        202,
        "POST /shutdown got {}: {}",
        resp.status,
        resp.text()
    );
    example.wait_line("the stop from the channel", |l| {
        l == "graceful stop: POST /shutdown"
    });
    finishes_the_slow_request_and_exits(example, slow, 1500);
}

#[test]
fn sigwinch_stops_gracefully_and_lets_the_slow_request_finish() {
    let mut example = Example::listening("graceful", &["127.0.0.1:0"]);
    let slow = slow_request_under_way(&mut example, 1500);
    example.signal(Signal::SIGWINCH);
    finishes_the_slow_request_and_exits(example, slow, 1500);
}

#[test]
fn sigterm_stops_at_once() {
    let mut example = Example::listening("graceful", &["127.0.0.1:0"]);
    let resp = request(example.addr, "GET", "/", "");
    assert_eq!(resp.status, 200);
    let t = Instant::now();
    example.signal(Signal::SIGTERM);
    let (status, stderr) = example.wait_exit(20);
    assert!(
        status.success(),
        "graceful ended with {status} on SIGTERM: {stderr}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "SIGTERM took {:?} to stop it",
        t.elapsed()
    );
}
