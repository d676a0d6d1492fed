//! The `streaming` example under every compiled strategy: its events
//! arrive one by one as the handler flushes them, long before the stream
//! would have filled a 16 KiB chunk, and `/` serves the page that reads
//! them.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Read one chunk's data (an empty vector for the last chunk).
fn read_chunk(r: &mut impl BufRead) -> Vec<u8> {
    let mut size = String::new();
    r.read_line(&mut size).expect("a chunk size line");
    let n = usize::from_str_radix(size.trim_end(), 16)
        .unwrap_or_else(|_| panic!("not a chunk size line: {size:?}"));
    let mut data = vec![0; n + 2];
    r.read_exact(&mut data).expect("the chunk's data");
    assert_eq!(&data[n..], b"\r\n", "chunk data not followed by CRLF");
    data.truncate(n);
    data
}

fn events_arrive_as_they_are_flushed(strategy: &str) {
    let ex = common::start("streaming", &[strategy]);
    let mut c = TcpStream::connect(ex.addr).expect("connect to the example");
    // Generous: a lost flush would keep the first event back for about
    // 100 seconds (until 16 KiB of events are gathered).
    c.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    c.write_all(b"GET /events?count=400&every_ms=100 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(c);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).expect("a response head line");
        if line == "\r\n" {
            break;
        }
        head.push(line.trim_end().to_ascii_lowercase());
    }
    assert!(
        head[0].starts_with("http/1.1 200"),
        "{strategy}: the head {head:?}"
    );
    for wanted in [
        "content-type: text/event-stream",
        "transfer-encoding: chunked",
    ] {
        assert!(
            head.iter().any(|h| h == wanted),
            "{strategy}: no {wanted:?} in {head:?}"
        );
    }
    // Each flush is one chunk holding one event.
    for n in 1..=3 {
        let event = String::from_utf8(read_chunk(&mut r)).expect("UTF-8 event");
        assert_eq!(
            event,
            format!("id: {n}\ndata: tick {n} of 400\n\n"),
            "{strategy}: event {n}"
        );
    }
    // The client leaves mid-stream; the example goes on serving.
    drop(r);
    let mut c = TcpStream::connect(ex.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    c.read_to_string(&mut page).unwrap();
    assert!(
        page.starts_with("HTTP/1.1 200") && page.contains("new EventSource(\"/events\")"),
        "{strategy}: the page is {page:?}"
    );
}

#[test]
fn the_streaming_example_sends_each_event_as_it_is_flushed_under_every_strategy() {
    for strategy in mpm::compiled() {
        events_arrive_as_they_are_flushed(strategy);
    }
}
