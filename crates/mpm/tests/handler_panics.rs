//! A handler that panics costs its client a 500 and that connection, under
//! every compiled strategy (`mpm::strategies()`, the in-process ones
//! included): the thread (worker, event), the process (prefork) and the
//! server (single, event-threads, worker-threads) go on serving. Under event, a handler hook that
//! panics on the event loop's own thread (`answer_never_blocks`) costs the
//! child: it exits and the master starts another, which serves.
//!
//! Forking strategies must fork from a single-threaded process, and the
//! test harness runs tests on threads, so this test has its own `main`:
//! it re-executes itself with `MPM_TEST_SERVE=strategy:port` to become the
//! server (in its own process group, killed on drop), and checks it from
//! the parent over loopback.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mpm::{Body, ConnInfo, Handler, MpmConfig, Request, Response};

const ROLE: &str = "MPM_TEST_SERVE";

struct App;

impl Handler for App {
    fn handle(&self, req: Request<'_>, _: &ConnInfo) -> Response {
        match req.uri().path() {
            "/panic" => panic!("this handler panics on purpose"),
            // Which process and thread answered.
            _ => Response::new(Body::from(format!(
                "{} {:?}",
                std::process::id(),
                std::thread::current().id()
            ))),
        }
    }

    /// Asked only by the event loop, on its own thread: panics for
    /// `/hook-panics`.
    fn answer_never_blocks(&self, _method: &mpm::http::Method, uri: &mpm::http::Uri) -> bool {
        if uri.path() == "/hook-panics" {
            panic!("this hook panics on purpose");
        }
        false
    }
}

fn serve(spec: &str) {
    let (strategy, port) = spec.split_once(':').expect("strategy:port");
    let cfg = MpmConfig {
        start_servers: Some(1),
        min_spare_servers: 1,
        max_spare_servers: 2,
        server_limit: Some(2),
        max_request_workers: Some(2),
        threads_per_child: 2,
        min_spare_threads: 1,
        max_spare_threads: 4,
        ..MpmConfig::default()
    };
    // Quiet: the panics are expected.
    std::panic::set_hook(Box::new(|_| {}));
    mpm::Server::new(App)
        .strategy(strategy)
        .mpm_config(cfg)
        .listen(&format!("127.0.0.1:{port}"))
        .and_then(|s| s.run())
        .unwrap_or_else(|e| panic!("{strategy} server: {e}"));
}

/// The server process group, killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.0.id() as i32;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(-pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One request on a new connection: (status, body, closed after?).
fn request(addr: SocketAddr, path: &str) -> Option<(u16, String, bool)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .ok()?;
    let mut r = BufReader::new(s);
    let resp = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        mpm::testing::read_response(&mut r, false)
    }))
    .ok()?;
    let mut rest = Vec::new();
    let closed = resp.closes() && {
        let _ = r.read_to_end(&mut rest);
        rest.is_empty()
    };
    Some((resp.status, resp.text(), closed))
}

fn check(strategy: &str) -> Result<(), String> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let child = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .env(ROLE, format!("{strategy}:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("start the {strategy} server: {e}"))?;
    let _server = Server(child);
    let until = Instant::now() + Duration::from_secs(20);
    let before = loop {
        if let Some((200, who, _)) = request(addr, "/") {
            break who;
        }
        if Instant::now() > until {
            return Err(format!("{strategy}: the server never answered"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    for round in 0..3 {
        match request(addr, "/panic") {
            Some((500, _, true)) => {}
            other => {
                return Err(format!(
                    "{strategy}: a panicking handler got {other:?} (round {round}), not a 500 and a close"
                ))
            }
        }
    }
    let after = request(addr, "/").ok_or(format!("{strategy}: no answer after the panics"))?;
    if after.0 != 200 {
        return Err(format!("{strategy}: {after:?} after the panics"));
    }
    // The process that panicked is still the one serving (one child, or
    // one process): it was not taken down and replaced.
    let pid = |who: &str| who.split(' ').next().unwrap_or("").to_string();
    if pid(&before) != pid(&after.1) {
        return Err(format!(
            "{strategy}: the serving process changed from {before} to {} after a panic",
            after.1
        ));
    }
    if strategy == "event" {
        loop_death_replaces_the_child(addr, &pid(&before))?;
    }
    Ok(())
}

/// The event loop of the one child (`MaxRequestWorkers 2` of 2 threads)
/// dies of a hook that panics on its thread: that request gets no answer,
/// the child exits, and another one serves.
fn loop_death_replaces_the_child(addr: SocketAddr, first: &str) -> Result<(), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("event: connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET /hook-panics HTTP/1.1\r\nHost: t\r\n\r\n")
        .map_err(|e| format!("event: send: {e}"))?;
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    if !answer.is_empty() {
        return Err(format!(
            "event: a request whose hook panicked on the loop got {:?}",
            String::from_utf8_lossy(&answer)
        ));
    }
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some((200, who, _)) = request(addr, "/") {
            let now = who.split(' ').next().unwrap_or("").to_string();
            if now == first {
                return Err(format!(
                    "event: child {first} still answers after its loop died"
                ));
            }
            return Ok(());
        }
        if Instant::now() > until {
            return Err("event: no child answered within 20 s of a loop's death".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn main() {
    if let Ok(spec) = std::env::var(ROLE) {
        serve(&spec);
        return;
    }
    // `cargo test -- --list` and filters: this file has one test.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("a_panicking_handler_costs_only_its_connection: test");
        return;
    }
    let (mut passed, mut failed) = (0, 0);
    for strategy in mpm::strategies() {
        match check(strategy) {
            Ok(()) => {
                println!("test a_panicking_handler_costs_only_its_connection/{strategy} ... ok");
                passed += 1;
            }
            Err(e) => {
                println!("test a_panicking_handler_costs_only_its_connection/{strategy} ... FAILED\n  {e}");
                failed += 1;
            }
        }
    }
    println!("\n{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
