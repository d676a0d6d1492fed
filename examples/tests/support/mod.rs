//! Running an example program as its user does: the binary cargo built
//! beside the tests (`cargo test -p mpm-examples` builds every example),
//! started in its own process group with its output read by the test, and
//! stopped with its children when the test ends, passes or fails. An
//! example that serves says `listening on http://ADDR/ …` first
//! ([`Example::listening`]), so it can listen on port 0.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

pub use mpm::testing::{read_response, Resp};

/// How long an example may take to say it listens, to answer, or to end.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The path of the example `name`: `target/<profile>/examples/<name>`,
/// beside the directory of this test's binary (`…/deps`). Fails, saying
/// how to build it, when it is missing or older than its source.
pub fn example_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps");
    let bin = profile.join("examples").join(name);
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("{name}.rs"));
    let built = std::fs::metadata(&bin).and_then(|m| m.modified());
    let written = std::fs::metadata(&source).and_then(|m| m.modified());
    let build = "run `cargo test -p mpm-examples` (which builds the examples; a --test filter alone does not), or `cargo build -p mpm-examples --examples` first";
    match (built, written) {
        (Ok(built), Ok(written)) if built < written => panic!(
            "{} is older than {}: {build}",
            bin.display(),
            source.display()
        ),
        (Ok(_), _) => bin,
        (Err(e), _) => panic!("{} is not built ({e}): {build}", bin.display()),
    }
}

/// Start example `name` with `args`, in its own process group, its
/// standard output and error piped.
fn spawn(name: &str, args: &[&str]) -> Child {
    Command::new(example_bin(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start the {name} example: {e}"))
}

/// A running example; on drop its process group gets SIGTERM (so it
/// cleans up after itself), then SIGKILL if it has not exited within 5 s.
pub struct Example {
    name: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Option<ChildStderr>,
    /// Every line it printed on its standard output so far.
    pub seen: Vec<String>,
    /// Where it listens, once [`Example::listening`] read it.
    pub addr: SocketAddr,
}

impl Example {
    /// Start example `name` with `args`, in its own process group.
    pub fn start(name: &str, args: &[&str]) -> Example {
        let mut child = spawn(name, args);
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = child.stderr.take();
        Example {
            name: name.to_string(),
            child,
            lines,
            stderr,
            seen: Vec::new(),
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }

    /// Start example `name` with `args` and wait until it says where it
    /// listens (`listening on http://ADDR/ …`, its first line): then
    /// [`Example::addr`] is that address.
    pub fn listening(name: &str, args: &[&str]) -> Example {
        let mut example = Example::start(name, args);
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

    /// The next line the example prints on its standard output, waiting
    /// at most `secs`.
    pub fn line(&mut self, secs: u64) -> String {
        match self.lines.recv_timeout(Duration::from_secs(secs)) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(_) => panic!(
                "the example printed no line within {secs} s; its stderr: {}",
                self.stderr_if_exited()
            ),
        }
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
                Err(RecvTimeoutError::Disconnected) => {
                    let stderr = self.stderr_if_exited();
                    panic!(
                        "the {} example ended its output before {what}; it printed:\n{}\nits stderr: {stderr}",
                        self.name,
                        self.seen.join("\n"),
                    )
                }
            }
        }
    }

    /// Send `signal` to the example's main process.
    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).expect("signal the example");
    }

    /// Wait at most `secs` for the example to exit by itself; its status
    /// and standard error. What it printed on its standard output is in
    /// [`Example::seen`].
    pub fn wait_exit(&mut self, secs: u64) -> (ExitStatus, String) {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the example") {
                // Its output ends with it.
                while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
                    self.seen.push(line);
                }
                let mut err = String::new();
                if let Some(mut s) = self.stderr.take() {
                    let _ = s.read_to_string(&mut err);
                }
                return (status, err);
            }
            assert!(
                Instant::now() < until,
                "the {} example was still running after {secs} s; it printed:\n{}",
                self.name,
                self.seen.join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stderr_if_exited(&mut self) -> String {
        match self.child.try_wait() {
            Ok(Some(_)) => {
                let mut err = String::new();
                if let Some(mut s) = self.stderr.take() {
                    let _ = s.read_to_string(&mut err);
                }
                err
            }
            _ => "(still running)".into(),
        }
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let group = self.pid();
        let _ = killpg(group, Signal::SIGTERM);
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                // Children left in the group (none, normally) go too.
                let _ = killpg(group, Signal::SIGKILL);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Poll `cond` every 20 ms for at most `secs`; true once it holds.
pub fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// Run example `name` with `args` to its end (`compare_strategies`): its
/// exit status and standard output. Fails after `secs`.
pub fn run_to_end(name: &str, args: &[&str], secs: u64) -> (ExitStatus, String) {
    let mut example = Example::start(name, args);
    let (status, stderr) = example.wait_exit(secs);
    assert!(
        status.success(),
        "the {name} example ended with {status}; its stderr: {stderr}\nits output:\n{}",
        example.seen.join("\n")
    );
    (status, example.seen.join("\n"))
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
