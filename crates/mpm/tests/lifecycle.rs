//! Lifecycle of an embedded server: the phases a command leads through,
//! in order, and what happens to connections on the way.

mod support;

use std::io::Write;
use std::time::Duration;

use mpm::{Exit, Phase, ProtocolConfig};
use support::*;

#[test]
fn graceful_stop_goes_running_draining_stopped_and_finishes_the_request_in_flight() {
    let mut s = server(ProtocolConfig::default());
    // A request whose body is still on its way when the stop arrives.
    let mut c = s.client();
    c.send("POST", "/echo", &[("Content-Length", "6")], b"abc");
    std::thread::sleep(Duration::from_millis(100));
    s.control().graceful_stop();
    std::thread::sleep(Duration::from_millis(100));
    c.stream().write_all(b"def").unwrap();
    let resp = c.response();
    assert_eq!((resp.status, resp.text().as_str()), (200, "abcdef"));
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
fn a_stop_closes_a_quiet_connection_at_once() {
    let mut s = server(ProtocolConfig::default());
    let mut c = s.client();
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
