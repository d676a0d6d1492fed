//! Running an example program as its user does: the binary cargo built
//! beside the tests (`cargo test -p mpm-examples` builds every example),
//! started in its own process group with its output read by the test, and
//! stopped with its children when the test ends, passes or fails.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// The path of the example `name`: `target/<profile>/examples/<name>`,
/// beside the directory of this test's binary (`…/deps`).
pub fn example_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps");
    let bin = profile.join("examples").join(name);
    assert!(
        bin.exists(),
        "{} is not built: run `cargo test -p mpm-examples` (which builds the examples), or `cargo build -p mpm-examples --example {name}` first",
        bin.display()
    );
    bin
}

/// A running example; on drop its process group gets SIGTERM, then
/// SIGKILL if it has not exited within 5 s.
pub struct Example {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Option<std::process::ChildStderr>,
}

impl Example {
    /// Start example `name` with `args`, in its own process group.
    pub fn start(name: &str, args: &[&str]) -> Example {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new(example_bin(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start the {name} example: {e}"));
        let stdout: ChildStdout = child.stdout.take().expect("piped stdout");
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
            child,
            lines,
            stderr,
        }
    }

    /// The next line the example prints on its standard output, waiting
    /// at most `secs`.
    pub fn line(&mut self, secs: u64) -> String {
        match self.lines.recv_timeout(Duration::from_secs(secs)) {
            Ok(line) => line,
            Err(_) => panic!(
                "the example printed no line within {secs} s; its stderr: {}",
                self.stderr_if_exited()
            ),
        }
    }

    /// Wait at most `secs` for the example to exit by itself; its status
    /// and standard error.
    pub fn wait_exit(&mut self, secs: u64) -> (ExitStatus, String) {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the example") {
                let mut err = String::new();
                if let Some(mut s) = self.stderr.take() {
                    let _ = s.read_to_string(&mut err);
                }
                return (status, err);
            }
            assert!(
                Instant::now() < until,
                "the example was still running after {secs} s"
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
        let group = Pid::from_raw(self.child.id() as i32);
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
