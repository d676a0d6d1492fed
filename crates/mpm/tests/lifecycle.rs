//! Lifecycle of an embedded server: the phases a command leads through,
//! in order, and what happens to connections on the way.

mod support;

use std::io::{BufReader, Write};
use std::time::Duration;

use mpm::strategy::{Exit, WorkerState};
use mpm::{Phase, ProtocolConfig};
use support::*;

#[test]
fn graceful_stop_goes_running_draining_stopped_and_finishes_the_request_in_flight() {
    graceful_stop_finishes_the_request_in_flight(server(ProtocolConfig::default()));
}

#[test]
fn a_stop_closes_a_quiet_connection_at_once() {
    let mut s = server(ProtocolConfig::default());
    let mut c = s.client();
    // The start of a request line, so that the connection is accepted (a
    // silent one stays in the kernel: TCP_DEFER_ACCEPT), then nothing.
    c.stream().write_all(b"GET / HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let t = std::time::Instant::now();
    s.control().stop();
    let exit = s
        .join(Duration::from_secs(5))
        .expect("a stop must not wait for a quiet client");
    assert_eq!(exit.unwrap(), Exit::Stop);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        t.elapsed()
    );
    assert!(c.is_closed(), "the quiet connection stayed open");
}

#[test]
fn a_graceful_restart_returns_without_stopping() {
    let mut s = server(ProtocolConfig::default());
    s.control().graceful_restart();
    let exit = s.join(Duration::from_secs(5)).expect("run ended");
    assert_eq!(exit.unwrap(), Exit::GracefulRestart);
    assert_eq!(s.phases(), vec![Phase::Starting, Phase::Running]);
}

#[test]
fn worker_threads_in_one_process_finish_the_request_in_flight_on_a_graceful_stop() {
    graceful_stop_finishes_the_request_in_flight(server_over(
        Transport::Plain,
        Strategy::WorkerThreads,
        ProtocolConfig::default(),
    ));
}

/// A request whose body is still on its way when a graceful stop arrives
/// is answered; the run then ends, through Running, Draining, Stopped.
fn graceful_stop_finishes_the_request_in_flight(mut s: mpm::testing::TestServer) {
    let mut c = connect(s.addr());
    c.write_all(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nabc")
        .unwrap();
    wait_for_a_worker(&s, "serving POST /echo", |w| {
        w.state == WorkerState::Read && w.request.starts_with("POST /echo")
    });
    s.control().graceful_stop();
    wait_for_phase(&s, Phase::Draining);
    c.write_all(b"def").unwrap();
    let resp = read_response(&mut BufReader::new(c), false);
    assert_eq!(
        (resp.status, resp.text().as_str()),
        (200, "abcdef"),
        "the request under way when the graceful stop came"
    );
    // The run ends once the connection closes.
    let exit = s.join(Duration::from_secs(10)).expect("run ended");
    assert_eq!(exit.unwrap(), Exit::Stop);
    assert_eq!(
        s.phases(),
        vec![
            Phase::Starting,
            Phase::Running,
            Phase::Draining,
            Phase::Stopped
        ],
        "phases of a graceful stop"
    );
}

#[test]
fn worker_threads_in_one_process_close_a_quiet_connection_at_once_on_a_stop() {
    let mut s = server_over(
        Transport::Plain,
        Strategy::WorkerThreads,
        ProtocolConfig::default(),
    );
    // A keep-alive connection, quiet after its first request.
    let (resp, mut r) = exchange(s.addr(), b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(resp.status, 200);
    wait_for_a_worker(&s, "waiting on the keep-alive connection", |w| {
        w.state == WorkerState::KeepAlive
    });
    let t = std::time::Instant::now();
    s.control().stop();
    let exit = s
        .join(Duration::from_secs(5))
        .expect("a stop must not wait for a quiet keep-alive client");
    assert_eq!(exit.unwrap(), Exit::Stop);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        t.elapsed()
    );
    assert!(closed(&mut r), "the quiet connection is still open");
}

/// Wait (boundedly) until a worker of `s` is as `is` says (`what`).
fn wait_for_a_worker(
    s: &mpm::testing::TestServer,
    what: &str,
    is: impl Fn(&mpm::strategy::WorkerSnapshot) -> bool,
) {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !s.scoreboard().snapshot().workers().any(&is) {
        assert!(
            std::time::Instant::now() < until,
            "no worker was {what} within 10 s: {:?}",
            s.scoreboard()
                .snapshot()
                .workers()
                .map(|w| w.state)
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Wait (boundedly) until the server is in `phase`.
fn wait_for_phase(s: &mpm::testing::TestServer, phase: Phase) {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while s.control().phase() != phase {
        assert!(
            std::time::Instant::now() < until,
            "the server did not reach {phase:?} within 10 s: it is {:?}",
            s.control().phase()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
