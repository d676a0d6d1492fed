//! State in a handler under `Server`'s strategies that serve in the calling
//! process: one handler value, so what one request stores every later
//! request sees, whichever thread or connection serves it. (Under the
//! forking strategies each child has its own copy: the `json_api`
//! example's test shows state shared there through a file.)

mod support;

use std::io::{BufReader, Read, Write};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::thread::JoinHandle;

use mpm::http::{Method, StatusCode};
use mpm::{Body, ConnInfo, ControlHandle, Request, Response};
use support::{connect, read_response};

/// A server run by `Server` on a thread of the test; stopped on drop.
struct Running {
    addr: SocketAddr,
    strategy: &'static str,
    control: ControlHandle,
    thread: Option<JoinHandle<Result<(), mpm::Error>>>,
}

impl Running {
    fn start(server: mpm::Server) -> Running {
        let bound = server
            .listen("127.0.0.1:0")
            .and_then(|s| s.bind())
            .unwrap_or_else(|e| panic!("the server did not bind: {e}"));
        let addr = bound.local_addrs()[0];
        let strategy = bound.strategy();
        let control = bound.control();
        let thread = std::thread::spawn(move || bound.run());
        Running {
            addr,
            strategy,
            control,
            thread: Some(thread),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.control.stop();
        if let Some(t) = self.thread.take() {
            let ended = t.join();
            if !std::thread::panicking() {
                let ran = ended.expect("the server thread panicked");
                ran.unwrap_or_else(|e| panic!("{}: run failed: {e}", self.strategy));
            }
        }
    }
}

/// The handler: items in a `Mutex<Vec<_>>`, ids counted from it.
fn items_api() -> impl Fn(Request<'_>, &ConnInfo) -> Response + Send + Sync + 'static {
    let items: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());
    move |mut req: Request<'_>, _: &ConnInfo| {
        let mut items = items.lock().unwrap_or_else(|p| p.into_inner());
        match *req.method() {
            Method::POST => {
                let mut name = String::new();
                if req.body_mut().read_to_string(&mut name).is_err() {
                    let mut r = Response::new(Body::from("unreadable body"));
                    *r.status_mut() = StatusCode::BAD_REQUEST;
                    return r;
                }
                let id = items.len() + 1;
                items.push((id, name));
                let mut r = Response::new(Body::from(id.to_string()));
                *r.status_mut() = StatusCode::CREATED;
                r
            }
            _ => {
                let list: Vec<String> = items.iter().map(|(id, n)| format!("{id} {n}")).collect();
                Response::new(Body::from(list.join("\n")))
            }
        }
    }
}

/// One request on a new connection: (status, body).
fn request(addr: SocketAddr, method: &str, body: &str) -> (u16, String) {
    let mut s = connect(addr);
    let raw = format!(
        "{method} /items HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(raw.as_bytes()).expect("send the request");
    let resp = read_response(&mut BufReader::new(s), false);
    (resp.status, resp.text())
}

fn forty_six_posts_are_all_listed_with_unique_ids(server: mpm::Server) {
    let running = Running::start(server);
    let strategy = running.strategy;
    for n in 1..=46 {
        let (status, body) = request(running.addr, "POST", &format!("item{n}"));
        assert_eq!(status, 201, "{strategy}: POST {n} got {status}: {body}");
    }
    // Every connection (a different thread each time, where there are
    // several) sees the same list.
    for round in 0..4 {
        let (status, body) = request(running.addr, "GET", "");
        assert_eq!(status, 200, "{strategy}: GET /items got {status}");
        let mut ids: Vec<&str> = body
            .lines()
            .map(|l| l.split(' ').next().unwrap_or(""))
            .collect();
        let listed = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(
            (listed, ids.len()),
            (46, 46),
            "{strategy}: GET /items (round {round}) listed {listed} items with {} distinct ids, not the 46 posted:\n{body}",
            ids.len()
        );
    }
}

#[test]
fn the_default_strategy_serves_in_this_process_so_46_posts_are_all_listed_with_unique_ids() {
    let server = mpm::Server::new(items_api());
    forty_six_posts_are_all_listed_with_unique_ids(server);
}

/// The compiled strategies that serve in this process.
fn in_process_strategies() -> Vec<&'static str> {
    mpm::strategies()
        .into_iter()
        .filter(|n| !mpm::by_name(n).expect("listed").info().forked)
        .collect()
}

#[test]
fn every_in_process_strategy_shares_the_handlers_state_between_its_threads() {
    let in_process = in_process_strategies();
    assert!(
        in_process.contains(&"single"),
        "strategies() lists no in-process strategy: {in_process:?}"
    );
    for name in in_process {
        let cfg = mpm::MpmConfig {
            threads_per_child: 4,
            ..mpm::MpmConfig::default()
        };
        forty_six_posts_are_all_listed_with_unique_ids(
            mpm::Server::new(items_api()).strategy(name).mpm_config(cfg),
        );
    }
}

#[test]
fn the_default_strategy_is_the_event_loop_in_this_process() {
    let running = Running::start(mpm::Server::new(items_api()));
    let expected = if cfg!(feature = "event") {
        "event-threads"
    } else if cfg!(feature = "worker") {
        "worker-threads"
    } else {
        "single"
    };
    assert_eq!(running.strategy, expected);
    let info = mpm::by_name(running.strategy).expect("built by name");
    assert!(!info.info().forked, "{expected} forks");
}

#[test]
fn an_unknown_strategy_is_refused_by_bind_naming_the_ones_there_are() {
    let err = mpm::Server::new(items_api())
        .strategy("threads")
        .listen("127.0.0.1:0")
        .and_then(|s| s.bind())
        .err()
        .expect("bind accepted a strategy called threads");
    let text = err.to_string();
    assert!(
        text.contains("\"threads\"") && text.contains("event-threads") == cfg!(feature = "event"),
        "the error does not name the strategy and the ones compiled in: {text}"
    );
}

/// Records the `User-Agent` that `handle` and then `log` saw; its log hook
/// reads the headers or not, as `reads` says.
struct LogsUserAgent {
    reads: bool,
    seen: std::sync::Arc<Mutex<Vec<String>>>,
}

fn user_agent(headers: &mpm::http::HeaderMap) -> String {
    headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string()
}

impl mpm::Handler for LogsUserAgent {
    fn handle(&self, req: Request<'_>, _: &ConnInfo) -> Response {
        let seen = format!("handle {}", user_agent(req.headers()));
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(seen);
        Response::new(Body::from("ok"))
    }
    fn log(&self, ex: &mpm::Exchange<'_>) {
        let seen = format!("log {}", user_agent(ex.headers));
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(seen);
    }
    fn log_reads_headers(&self) -> bool {
        self.reads
    }
    fn answer_never_blocks(&self, _: &Method, uri: &mpm::http::Uri) -> bool {
        // Under event-threads: `/loop` on the loop's thread, `/worker` on
        // a worker.
        uri.path() == "/loop"
    }
}

#[test]
fn the_log_hook_sees_the_request_headers_when_it_reads_them_and_handle_always_does() {
    let in_process = in_process_strategies();
    for name in in_process {
        for reads in [true, false] {
            for path in ["/loop", "/worker"] {
                let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
                let handler = LogsUserAgent {
                    reads,
                    seen: seen.clone(),
                };
                let running = Running::start(mpm::Server::new(handler).strategy(name));
                let mut s = connect(running.addr);
                let raw = format!("GET {path} HTTP/1.1\r\nHost: t\r\nUser-Agent: probe\r\n\r\n");
                s.write_all(raw.as_bytes()).expect("send the request");
                let resp = read_response(&mut BufReader::new(s), false);
                assert_eq!(resp.status, 200, "{name}: GET {path} got {}", resp.status);
                // The log hook runs after the answer is sent: wait for it.
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                let got = loop {
                    let got = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    if got.len() >= 2 || std::time::Instant::now() > deadline {
                        break got;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                };
                let log = if reads { "log probe" } else { "log -" };
                assert_eq!(
                    got,
                    ["handle probe", log],
                    "{name}, GET {path}, log_reads_headers {reads}: what handle and log saw"
                );
            }
        }
    }
}
