//! Timeouts as long as a `Duration` holds, set in the typed configuration
//! as an embedder may: every deadline the drivers compute from them is
//! capped (`mpm::strategy::deadline::after`), so the server answers instead of
//! panicking with "overflow when adding duration to instant".

mod support;

use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

use mpm::config::ReadStage;
use mpm::ProtocolConfig;
use support::{connect_over, read_response, server_over, Strategy, Transport};

/// Every timeout `Duration::MAX`; the read stages stretch with the data
/// (`MinRate`), so their deadlines grow too.
fn huge_timeouts() -> ProtocolConfig {
    let mut protocol = ProtocolConfig::default();
    let t = &mut protocol.timeouts;
    t.timeout = Duration::MAX;
    t.keep_alive_timeout = Duration::MAX;
    t.request_read.header = ReadStage {
        initial: Duration::MAX,
        max: Some(Duration::MAX),
        min_rate: 1,
    };
    t.request_read.body = ReadStage {
        initial: Duration::MAX,
        max: None,
        min_rate: 1,
    };
    protocol
}

#[test]
fn timeouts_of_duration_max_still_serve_every_request_under_event_and_single() {
    let requests: [(&[u8], &[u8]); 3] = [
        // Answered by the event loop itself.
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"Hello, World!"),
        // A body, read by a worker under the body deadline.
        (
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
            b"hello",
        ),
        // After a keep-alive wait.
        (b"GET /ignore HTTP/1.1\r\nHost: a\r\n\r\n", b"ignored"),
    ];
    for strategy in [Strategy::Event, Strategy::Single] {
        for transport in [Transport::Plain, Transport::Tls] {
            let server = server_over(transport, strategy, huge_timeouts());
            let what = format!("{strategy:?} over {transport:?}");
            // A second connection shows the server outlived the first.
            for connection in 1..=2 {
                let mut r = BufReader::new(connect_over(transport, server.addr()));
                for (raw, want) in requests {
                    let line = String::from_utf8_lossy(&raw[..raw.len().min(20)]).into_owned();
                    r.get_mut().write_all(raw).unwrap_or_else(|e| {
                        panic!("{what}, connection {connection}: could not send {line:?}: {e}")
                    });
                    if r.fill_buf().map_or(true, |b| b.is_empty()) {
                        panic!(
                            "{what}, connection {connection}: the server closed the connection \
                             instead of answering {line:?} (did a deadline overflow?)"
                        );
                    }
                    let resp = read_response(&mut r, false);
                    assert_eq!(
                        (resp.status, resp.body.as_slice()),
                        (200, want),
                        "{what}, connection {connection}: {line:?} got {} {:?}",
                        resp.status,
                        String::from_utf8_lossy(&resp.body)
                    );
                }
            }
        }
    }
}
