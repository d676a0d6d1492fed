//! How many write system calls a streamed body costs, counted by `strace`
//! on a server process: a reader that yields one line per `read` (20,000
//! lines, 220,000 bytes) leaves in pieces of 16 KiB, at most two writes
//! per 16 KiB, under the blocking driver (`single`), an event worker and
//! the event loop itself, plain and TLS, chunked and with a length.
//!
//! The server and its client are this test binary run again
//! (`MPM_TEST_STRACE_SERVE`) under `strace -f`, in its own process group
//! (killed on drop); it names the client port of each request. Only the
//! server's writes to those connections are counted
//! (`strace -yy` names each descriptor's TCP addresses).

mod support;

use std::io::{BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use mpm::testing::TestServer;
use mpm::{Body, ConnInfo, Handler, ProtocolConfig, Request, Response};
use support::{connect_over, read_response, Transport};

const ROLE: &str = "MPM_TEST_STRACE_SERVE";
const LINES: usize = 20_000;
/// `line 00001\n`: 11 bytes a line.
const BYTES: usize = LINES * 11;

/// Gives one line per `read` (or the rest of one `buf` had no room for),
/// as a reader over a line-oriented source does.
struct OneLinePerRead {
    next: usize,
    rest: Vec<u8>,
}

impl Read for OneLinePerRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.rest.is_empty() {
            if self.next == LINES {
                return Ok(0);
            }
            self.next += 1;
            self.rest = format!("line {:05}\n", self.next).into_bytes();
        }
        let n = self.rest.len().min(buf.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest.drain(..n);
        Ok(n)
    }
}

struct Lines;

impl Handler for Lines {
    fn handle(&self, req: Request<'_>, _: &ConnInfo) -> Response {
        // `/chunked…` without a length; `/known…` with one.
        let len = req
            .uri()
            .path()
            .starts_with("/known")
            .then_some(BYTES as u64);
        Response::new(Body::Reader {
            reader: Box::new(OneLinePerRead {
                next: 0,
                rest: Vec::new(),
            }),
            len,
        })
    }

    /// `/…-loop`: the event loop answers it itself.
    fn answer_never_blocks(&self, _: &mpm::http::Method, uri: &mpm::http::Uri) -> bool {
        uri.path().ends_with("-loop")
    }
}

/// The traced role, `strategy:transport:path,path…`: a server, and a
/// client that gets each path on a connection of its own and checks the
/// body; prints `CLIENT <path> <its port>` for each.
fn serve_and_get(spec: &str) {
    let mut parts = spec.splitn(3, ':');
    let (Some(strategy), Some(transport), Some(paths)) = (parts.next(), parts.next(), parts.next())
    else {
        panic!("{ROLE} is strategy:transport:paths, not {spec:?}");
    };
    let mpm: Box<dyn mpm::strategy::Mpm> = match strategy {
        "single" => Box::new(mpm::single::Single),
        _ => Box::new(mpm::event::Event::in_process()),
    };
    let protocol = ProtocolConfig::default();
    let (server, transport) = match transport {
        "tls" => (
            TestServer::start_tls(mpm, Arc::new(Lines), protocol, support::tls_configs().0),
            Transport::Tls,
        ),
        _ => (
            TestServer::start(mpm, Arc::new(Lines), protocol),
            Transport::Plain,
        ),
    };
    for path in paths.split(',') {
        let mut c = connect_over(transport, server.addr());
        write!(c, "GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let client_port = c.local_port();
        let mut r = BufReader::new(c);
        let resp = read_response(&mut r, false);
        assert_eq!(
            (resp.status, resp.body.len()),
            (200, BYTES),
            "{strategy} {path}: status and body length"
        );
        assert!(resp.body.starts_with(b"line 00001\nline 00002\n"));
        assert!(resp.body.ends_with(b"line 20000\n"));
        println!("CLIENT {path} {client_port}");
    }
    drop(server);
}

/// The traced process's group, killed on drop (when the test fails
/// before it ends).
struct Traced(Option<Child>);

impl Traced {
    /// Wait for it to end, with what it printed.
    fn wait_with_output(mut self) -> std::process::Output {
        let child = self.0.take().expect("running");
        child
            .wait_with_output()
            .expect("wait for the traced process")
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let pid = child.id() as i32;
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(-pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = child.wait();
        }
    }
}

/// Write system calls per connection, by `strace`'s trace lines.
fn writes_to(trace: &str, client_port: u16) -> usize {
    let peer = format!("->127.0.0.1:{client_port}]>");
    trace
        .lines()
        .filter(|l| l.contains(&peer) && !l.contains("resumed>"))
        .filter(|l| {
            ["write(", "writev(", "sendto(", "sendmsg("]
                .iter()
                .any(|c| l.contains(c))
        })
        .count()
}

/// Serve every path under `strategy` over `transport` in a traced
/// process; the writes each took.
fn count(strategy: &str, transport: Transport, paths: &[&str]) -> Vec<(String, usize)> {
    let dir = tempfile::tempdir().unwrap();
    let trace_file = dir.path().join("trace");
    let exe = std::env::current_exe().unwrap();
    let t = if transport == Transport::Tls {
        "tls"
    } else {
        "plain"
    };
    let mut child = Command::new("strace");
    child
        .args([
            "-f",
            "-qq",
            "-yy",
            "-e",
            "trace=write,writev,sendto,sendmsg",
            "-o",
        ])
        .arg(&trace_file)
        .arg(&exe)
        .args([
            "--exact",
            "a_reader_of_20k_lines_takes_at_most_two_writes_per_16_kib",
            "--nocapture",
        ])
        .env(ROLE, format!("{strategy}:{t}:{}", paths.join(",")))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let traced = Traced(Some(child.spawn().unwrap_or_else(|e| {
        panic!("could not run strace ({e}): install it (apt-get install strace; .ci/run does)")
    })));
    let out = traced.wait_with_output();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the traced {strategy} run over {transport:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let trace = std::fs::read_to_string(&trace_file).unwrap();
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("CLIENT "))
        .map(|l| {
            let (path, port) = l.split_once(' ').expect("CLIENT path port");
            (path.to_string(), writes_to(&trace, port.parse().unwrap()))
        })
        .collect()
}

#[test]
fn a_reader_of_20k_lines_takes_at_most_two_writes_per_16_kib() {
    if let Ok(spec) = std::env::var(ROLE) {
        serve_and_get(&spec);
        return;
    }
    let bound = 2 * BYTES.div_ceil(16 * 1024);
    let runs = [
        ("single", Transport::Plain, &["/chunked", "/known"][..]),
        ("single", Transport::Tls, &["/chunked", "/known"][..]),
        (
            "event",
            Transport::Plain,
            &["/chunked", "/known", "/chunked-loop", "/known-loop"][..],
        ),
        ("event", Transport::Tls, &["/chunked", "/chunked-loop"][..]),
    ];
    let mut report = Vec::new();
    let mut over = Vec::new();
    for (strategy, transport, paths) in runs {
        for (path, writes) in count(strategy, transport, paths) {
            let line = format!("{strategy} {transport:?} {path}: {writes} writes");
            if writes > bound {
                over.push(line.clone());
            }
            report.push(line);
        }
    }
    let report = format!(
        "{LINES} lines of one read each, {BYTES} bytes; at most {bound} writes (2 per 16 KiB):\n{}",
        report.join("\n")
    );
    assert!(over.is_empty(), "too many write system calls:\n{report}");
    println!("{report}");
}
