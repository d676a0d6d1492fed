//! What `Server` reports when it cannot start, as the program's code and
//! its `main` see it, and listen addresses written as host names.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mpm::{Body, ConnInfo, ControlHandle, Error, Handler, Request, Response, Server};

struct Hello;

impl Handler for Hello {
    fn handle(&self, _: Request<'_>, _: &ConnInfo) -> Response {
        Response::new(Body::from("hello"))
    }
}

/// A server running `single` on a thread of the test; stopped and joined
/// on drop.
struct Running {
    control: ControlHandle,
    thread: Option<JoinHandle<Result<(), Error>>>,
}

impl Running {
    fn start(mut server: Server) -> Running {
        let control = server.control().expect("a control handle");
        let thread = std::thread::spawn(move || server.run());
        Running {
            control,
            thread: Some(thread),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.control.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Run a server on a port another socket holds: the address and the
/// error `run` returns.
fn run_on_a_taken_port() -> (SocketAddr, Error) {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = Server::new(Hello)
        .strategy("single")
        .listen(&addr.to_string())
        .and_then(|s| s.run())
        .expect_err("a second server on a taken port");
    (addr, err)
}

#[test]
fn a_taken_port_is_a_bind_error_whose_source_is_addr_in_use() {
    let (addr, err) = run_on_a_taken_port();
    match &err {
        Error::Bind { addr: a, source } => {
            assert_eq!(a, &addr.to_string());
            assert_eq!(source.kind(), ErrorKind::AddrInUse, "source: {source}");
        }
        other => panic!("expected Error::Bind, got {other}"),
    }
    let source = std::error::Error::source(&err).expect("the io::Error as source");
    let io = source
        .downcast_ref::<std::io::Error>()
        .expect("an io::Error");
    assert_eq!(io.kind(), ErrorKind::AddrInUse);
}

#[test]
fn main_returning_an_error_prints_its_message_not_a_struct() {
    let (addr, err) = run_on_a_taken_port();
    // `fn main() -> Result<(), mpm::Error>` prints `Error: {err:?}`.
    assert_eq!(
        format!("{err:?}"),
        format!("could not bind to {addr}: address already in use")
    );
}

#[test]
fn an_unknown_strategy_names_the_compiled_ones_and_is_not_a_handler_error() {
    let err = Server::new(Hello)
        .strategy("evnt")
        .listen("127.0.0.1:0")
        .unwrap()
        .run()
        .expect_err("no strategy is called evnt");
    match &err {
        Error::UnknownStrategy { name, compiled } => {
            assert_eq!(name, "evnt");
            assert_eq!(compiled, &mpm::strategies());
        }
        other => panic!("expected Error::UnknownStrategy, got {other:?}"),
    }
    let text = err.to_string();
    let list = mpm::strategies().join(", ");
    assert!(
        text.starts_with(&format!(
            "no strategy named \"evnt\": this build has {list}"
        )),
        "{text}"
    );
}

#[test]
fn a_host_name_is_served_on_the_addresses_it_resolves_to() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Server::new(Hello)
        .strategy("single")
        .listen(&format!("localhost:{port}"))
        .expect("localhost is resolved, not refused");
    let _running = Running::start(server);
    // localhost resolves to 127.0.0.1 (and ::1 where the hosts file says so).
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let until = Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        match TcpStream::connect(addr) {
            Ok(s) => break s,
            Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("nothing listened on {addr} for localhost:{port}: {e}"),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("\r\n\r\nhello"),
        "the server answered {answer:?}"
    );
}

#[test]
fn a_host_name_that_does_not_resolve_is_refused_naming_it() {
    let err = Server::new(Hello)
        .listen("nosuch.invalid:8080")
        .err()
        .expect("an unresolvable name is refused");
    let text = err.to_string();
    assert!(
        text.starts_with(
            "could not resolve the host name \"nosuch.invalid\" of the listen address \"nosuch.invalid:8080\""
        ),
        "{text}"
    );
}
