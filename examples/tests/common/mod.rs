//! What the examples' tests share: start an example binary on port 0 in
//! its own process group (killed on drop, children included), learn its
//! address from its first line of output, and talk HTTP to it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub use mpm::testing::{read_response, Resp};

/// How long an example may take to say it listens, or to answer.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The binary of example `name`, built by `cargo test` beside this test
/// (`target/<profile>/examples/`). Fails, saying how to build it, when it
/// is missing or older than its source.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test> → target/<profile>/examples/<name>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from target/<profile>/deps");
    let bin = profile_dir.join("examples").join(name);
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("{name}.rs"));
    let built = std::fs::metadata(&bin).and_then(|m| m.modified());
    let written = std::fs::metadata(&source).and_then(|m| m.modified());
    match (built, written) {
        (Ok(built), Ok(written)) if built >= written => bin,
        (Ok(_), _) => panic!(
            "{} is older than {}: run `cargo test -p mpm-examples`, which builds the examples (a --test filter alone does not)",
            bin.display(),
            source.display()
        ),
        (Err(e), _) => panic!(
            "the example binary {} is missing ({e}): run `cargo test -p mpm-examples`, which builds the examples (a --test filter alone does not)",
            bin.display()
        ),
    }
}

/// Start example `name` with `args`, in its own process group, its
/// standard output piped.
fn spawn(name: &str, args: &[&str]) -> Child {
    Command::new(example_binary(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start the {name} example: {e}"))
}

/// A running example, in its own process group; killed (with every
/// process it forked) on drop.
pub struct Example {
    name: String,
    child: Child,
    lines: Receiver<String>,
    /// Every line it printed so far (stdout).
    pub seen: Vec<String>,
    /// Where it listens (from its first line, `listening on http://ADDR/`).
    pub addr: SocketAddr,
}

impl Example {
    /// Start example `name` with `args` and wait until it says where it
    /// listens.
    pub fn start(name: &str, args: &[&str]) -> Example {
        let mut child = spawn(name, args);
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut example = Example {
            name: name.to_string(),
            child,
            lines,
            seen: Vec::new(),
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        let first = example.wait_line("a `listening on http://ADDR/` line", |l| {
            l.starts_with("listening on http://")
        });
        let addr = first["listening on http://".len()..]
            .split('/')
            .next()
            .unwrap_or("");
        example.addr = addr
            .parse()
            .unwrap_or_else(|e| panic!("{name} printed {first:?}: {addr:?} is no address: {e}"));
        example
    }

    /// The example's process id (its process group's too).
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Wait for an output line that `want` accepts (`what` describes it);
    /// returns it. Fails, with what it printed, after [`PATIENCE`] or when
    /// the example ends first.
    pub fn wait_line(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + PATIENCE;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "the {} example printed no {what} within {PATIENCE:?}; it printed:\n{}",
                    self.name,
                    self.seen.join("\n")
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "the {} example ended its output before {what} ({:?}); it printed:\n{}",
                    self.name,
                    self.child.try_wait(),
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Send `signal` to the example's main process.
    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).expect("signal the example");
    }

    /// Wait (up to [`PATIENCE`]) for the example to exit; its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let until = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the example") {
                // Whatever it printed last.
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(line);
                }
                return status;
            }
            assert!(
                Instant::now() < until,
                "the {} example did not exit within {PATIENCE:?}; it printed:\n{}",
                self.name,
                self.seen.join("\n")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Example {
    /// SIGTERM first, so the example cleans up after itself (its
    /// temporary files); then SIGKILL for whatever is left of its group.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = kill(self.pid(), Signal::SIGTERM);
            let until = Instant::now() + Duration::from_secs(5);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = kill(Pid::from_raw(-(self.child.id() as i32)), Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run a program to its end (`compare_strategies`): its exit status and
/// output, killed with its process group after `limit`.
pub fn run_to_end(name: &str, args: &[&str], limit: Duration) -> (ExitStatus, String) {
    let mut child = spawn(name, args);
    let group = Pid::from_raw(-(child.id() as i32));
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
        out
    });
    let until = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the example") {
            break status;
        }
        if Instant::now() >= until {
            let _ = kill(group, Signal::SIGKILL);
            let _ = child.wait();
            panic!("the {name} example did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Whatever it forked and left behind.
    let _ = kill(group, Signal::SIGKILL);
    (status, reader.join().unwrap_or_default())
}

/// Connect with generous timeouts, so a hung example fails the test.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(PATIENCE)).expect("read timeout");
    s.set_write_timeout(Some(PATIENCE)).expect("write timeout");
    s
}

/// One request on a new connection (`Connection: close`), its response.
pub fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> Resp {
    let mut s = connect(addr);
    let raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: example\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(raw.as_bytes())
        .unwrap_or_else(|e| panic!("send {method} {path}: {e}"));
    read_response(&mut BufReader::new(s), method == "HEAD")
}
