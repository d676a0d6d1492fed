//! The `streaming` example under every compiled strategy: `/` serves the
//! page that reads the events; the events arrive one by one as the
//! handler flushes them, long before the stream would have filled a
//! 16 KiB chunk; a graceful stop (SIGWINCH) ends the stream, and the
//! server exits.

mod support;

use mpm::testing::TestClient;

fn events_arrive_as_they_are_flushed(strategy: &str) {
    let mut ex = support::Example::listening("streaming", &["127.0.0.1:0", strategy]);
    let page = TestClient::connect(ex.addr).get("/");
    assert!(
        page.status == 200 && page.text().contains("new EventSource(\"/events\")"),
        "{strategy}: the page is {} {:?}",
        page.status,
        page.text()
    );
    // A lost flush would keep the first event back for about 100 seconds
    // (until 16 KiB of events are gathered); the client waits 30 s.
    let mut c = TestClient::connect(ex.addr);
    c.send("GET", "/events?count=400&every_ms=100", &[], b"");
    let head = c.head();
    assert_eq!(head.status, 200, "{strategy}: {:?}", head.headers);
    assert_eq!(
        (
            head.header("content-type"),
            head.header("transfer-encoding")
        ),
        (Some("text/event-stream"), Some("chunked")),
        "{strategy}: {:?}",
        head.headers
    );
    // Each flush is one chunk holding one event.
    for n in 1..=3 {
        let event = c.chunk().expect("an event, not the end of the stream");
        assert_eq!(
            String::from_utf8_lossy(&event),
            format!("id: {n}\ndata: tick {n} of 400\n\n"),
            "{strategy}: event {n}"
        );
    }
    // A graceful stop: the stream sees it and ends (its last chunk comes,
    // long before its 400th event), then the server exits.
    ex.signal(nix::sys::signal::Signal::SIGWINCH);
    let mut events = 3;
    while c.chunk().is_some() {
        events += 1;
    }
    assert!(
        events < 100,
        "{strategy}: the stream went on for {events} events after a graceful stop"
    );
    let (status, stderr) = ex.wait_exit(20);
    assert!(
        status.success(),
        "{strategy}: the example ended {status} after a graceful stop; stderr: {stderr}"
    );
}

#[test]
fn the_streaming_example_sends_each_event_as_it_is_flushed_under_every_strategy() {
    for strategy in mpm::compiled() {
        events_arrive_as_they_are_flushed(strategy);
    }
}
