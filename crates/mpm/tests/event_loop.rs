//! The event strategy's promise, through a real server on a loopback port
//! (the loop and its workers in the test process: `Event::in_process`):
//! a handler that blocks runs on a worker thread and never holds up the
//! loop, and what the loop answers itself never waits for a slow client.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mpm::testing::{read_response, TestClient, TestServer};
use mpm::{Body, ConnInfo, Handler, MpmConfig, ProtocolConfig, Request, Response};

/// Size of `/big`, streamed from memory by a reader.
const BIG: usize = 8 << 20;

struct App;

impl Handler for App {
    fn handle(&self, req: Request<'_>, _conn: &ConnInfo) -> Response {
        match req.uri().path() {
            // Blocks its thread for a second.
            "/sleep" => {
                std::thread::sleep(Duration::from_secs(1));
                Response::new(Body::from("slept"))
            }
            // A large body of unknown length from a reader (chunked).
            "/big" => Response::new(Body::Reader {
                reader: Box::new(std::io::Cursor::new(pattern())),
                len: None,
            }),
            // The same bytes from memory (`Body::Bytes`), answered by
            // the loop, or by a worker at `/worker-bytes`.
            "/bytes" | "/worker-bytes" => Response::new(Body::Bytes(memory().clone())),
            // A reader that panics after 4 MiB.
            "/panicky" => Response::new(Body::Reader {
                reader: Box::new(Panicky { left: 4 << 20 }),
                len: None,
            }),
            _ => Response::new(Body::from("quick")),
        }
    }

    /// Everything but `/sleep` and `/worker` is quick; asked about
    /// `/hook-panics`, the hook panics (on the loop's thread).
    fn answer_never_blocks(&self, _method: &mpm::http::Method, uri: &mpm::http::Uri) -> bool {
        if uri.path() == "/hook-panics" {
            panic!("the test's answer_never_blocks panics on purpose");
        }
        !matches!(uri.path(), "/sleep" | "/worker" | "/worker-bytes")
    }
}

/// Gives zeros, then panics.
struct Panicky {
    left: usize,
}

impl Read for Panicky {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            panic!("the test reader panics on purpose");
        }
        let n = buf.len().min(self.left);
        buf[..n].fill(0);
        self.left -= n;
        Ok(n)
    }
}

fn pattern() -> Vec<u8> {
    (0..BIG).map(|i| (i % 251) as u8).collect()
}

/// [`pattern`] kept in memory, made once.
fn memory() -> &'static mpm::Bytes {
    static MEMORY: std::sync::OnceLock<mpm::Bytes> = std::sync::OnceLock::new();
    MEMORY.get_or_init(|| mpm::Bytes::from(pattern()))
}

fn server(threads: u32) -> TestServer {
    let cfg = MpmConfig {
        threads_per_child: threads,
        thread_limit: threads,
        ..MpmConfig::default()
    };
    TestServer::start_with(
        "event",
        || Box::new(mpm::event::Event::in_process()),
        Arc::new(App),
        ProtocolConfig::default(),
        cfg,
    )
}

fn connect(s: &TestServer) -> TcpStream {
    let c = TcpStream::connect(s.addr()).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c
}

/// Wait until the loop shows a connection as an async write (a response
/// the socket would not take at once): `what` never did in 5 s, else.
fn wait_for_an_async_write(s: &TestServer, what: &str) {
    let writing = || {
        s.scoreboard()
            .process(0)
            .conns_writing
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let t = Instant::now();
    while writing() == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{what} never showed as an async write"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn get(s: &TestServer, path: &str) -> (String, Duration) {
    let t = Instant::now();
    let resp = s.get(path);
    (resp.text(), t.elapsed())
}

#[test]
fn a_quick_request_is_answered_while_every_worker_blocks() {
    let s = server(2);
    let sleepers: Vec<_> = (0..3)
        .map(|_| {
            let addr = s.addr();
            std::thread::spawn(move || {
                let t = Instant::now();
                let resp = TestClient::connect(addr).get("/sleep");
                (resp.text(), t.elapsed())
            })
        })
        .collect();
    // Both workers are asleep now, the third sleeper waits for one.
    std::thread::sleep(Duration::from_millis(200));
    let (text, took) = get(&s, "/");
    assert_eq!(text, "quick");
    assert!(
        took < Duration::from_millis(300),
        "a quick request took {took:?} while the workers slept"
    );
    let mut times: Vec<Duration> = sleepers
        .into_iter()
        .map(|h| {
            let (text, took) = h.join().unwrap();
            assert_eq!(text, "slept");
            took
        })
        .collect();
    times.sort();
    // Two threads: the third sleeper waited (queued, not dropped) for one.
    assert!(
        times[2] >= Duration::from_millis(1900),
        "three one-second sleeps on two threads ended at {times:?}"
    );
}

#[test]
fn a_stream_the_loop_answers_waits_for_a_slow_reader_without_holding_up_others() {
    let s = server(2);
    let mut slow = s.client();
    // No reading for a while: 8 MiB is more than the socket buffers hold,
    // so the loop is left with the rest to write.
    slow.send("GET", "/big", &[], b"");
    wait_for_an_async_write(&s, "the stalled stream");
    for _ in 0..5 {
        let (text, took) = get(&s, "/");
        assert_eq!(text, "quick");
        assert!(
            took < Duration::from_millis(300),
            "a quick request took {took:?} beside a stalled 8 MiB stream"
        );
    }
    // Now read it all: the chunked body is the whole pattern.
    let resp = slow.response();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
    let body = resp.body;
    assert!(
        body == pattern(),
        "the streamed body differs ({} bytes)",
        body.len()
    );
}

/// Large bodies from memory to a client that reads nothing at first (8
/// MiB is more than the socket buffers hold): the loop, then a worker,
/// stop on the full socket and the loop finishes each response as the
/// socket takes more; three pipelined answers arrive whole and in order.
#[test]
fn large_bodies_from_memory_reach_a_slow_reader_whole_and_in_order() {
    let s = server(2);
    let mut slow = s.client();
    slow.send("GET", "/bytes", &[], b"");
    slow.send("GET", "/worker-bytes", &[], b"");
    slow.send("GET", "/", &[], b"");
    wait_for_an_async_write(&s, "the unread 8 MiB body");
    for (i, path) in ["/bytes", "/worker-bytes"].into_iter().enumerate() {
        let resp = slow.response();
        assert_eq!(resp.status, 200, "response {i} ({path})");
        assert!(
            resp.body == memory()[..],
            "response {i} ({path}) differs from the bytes in memory ({} bytes, first difference at {:?})",
            resp.body.len(),
            resp.body.iter().zip(memory().iter()).position(|(a, b)| a != b)
        );
    }
    assert_eq!(slow.response().text(), "quick", "the third response");
}

/// More pipelined requests than the loop reads at once (its read buffer
/// is 16 KiB): every one is answered at once, on the loop and on workers.
#[test]
fn a_pipeline_longer_than_the_read_buffer_is_answered_whole() {
    let s = server(2);
    for path in ["/", "/worker"] {
        let mut c = connect(&s);
        let pad = "x".repeat(200);
        let n = 90;
        let mut all = String::new();
        for _ in 0..n {
            all.push_str(&format!(
                "GET {path} HTTP/1.1\r\nHost: t\r\nX-Pad: {pad}\r\n\r\n"
            ));
        }
        assert!(all.len() > 20_000);
        c.write_all(all.as_bytes()).unwrap();
        let t = Instant::now();
        let mut r = BufReader::new(c);
        for i in 0..n {
            let resp = read_response(&mut r, false);
            assert_eq!(resp.status, 200, "{path}: response {i}");
            assert!(
                t.elapsed() < Duration::from_secs(2),
                "{path}: response {i} of {n} came after {:?}",
                t.elapsed()
            );
        }
    }
}

/// A response stream that panics while the loop writes it costs its
/// connection only: the loop goes on serving.
#[test]
fn a_stream_that_panics_in_the_loop_costs_only_its_connection() {
    let s = server(2);
    let mut c = connect(&s);
    c.write_all(b"GET /panicky HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // Read slowly at first, so the loop writes (and reads the stream) in
    // many turns, then to the end: the connection closes early.
    std::thread::sleep(Duration::from_millis(200));
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    assert!(
        got < (4 << 20) + 64 * 1024,
        "a stream that panicked after 4 MiB sent {got} bytes"
    );
    for _ in 0..3 {
        let (text, took) = get(&s, "/");
        assert_eq!(text, "quick");
        assert!(took < Duration::from_secs(1), "took {took:?}");
    }
}

/// A handler's hook that runs on the loop's thread (`answer_never_blocks`)
/// and panics ends the loop: `run` returns an error that says so, and the
/// port stops taking connections, rather than a server that accepts and
/// never answers.
#[test]
fn a_loop_that_dies_ends_run_with_an_error() {
    let mut s = server(2);
    let addr = s.addr();
    let (text, _) = get(&s, "/");
    assert_eq!(text, "quick");
    let mut c = connect(&s);
    c.write_all(b"GET /hook-panics HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    assert!(
        out.is_empty(),
        "the request whose hook panicked got {:?}",
        String::from_utf8_lossy(&out)
    );
    match s.join(Duration::from_secs(10)) {
        Some(Err(e)) => assert!(
            e.to_string()
                .contains("the event loop stopped by a panic (the test's answer_never_blocks panics on purpose)"),
            "run ended with another error: {e}"
        ),
        Some(Ok(exit)) => panic!("run returned {exit:?} after its loop died, not an error"),
        None => panic!(
            "run did not return within 10 s of its loop's death: the port accepts and nobody answers"
        ),
    }
    match TcpStream::connect(addr) {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}"),
        Ok(_) => panic!("the port of a server whose run returned still takes connections"),
    }
}
