//! Running an example program as its user would: built with cargo, started
//! on a free loopback port in its own process group, killed with its
//! whole group on drop (even when the test fails).
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running example; its process group is killed on drop.
pub struct Example {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Drop for Example {
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(-pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Example {
    /// Send `signal` to the example's process (a master, for a forking
    /// strategy).
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), signal)
            .unwrap_or_else(|e| panic!("could not send {signal} to the example: {e}"));
    }

    /// Whether the example exits, with success, within `timeout`.
    pub fn exits_within(&mut self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
                _ => return false,
            }
        }
    }
}

/// The example's binary, built (or found up to date) by cargo.
fn binary(name: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet", "-p", "mpm-examples", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    // What cargo set for this test alone would make the build differ
    // from the user's (and rebuild the workspace each time).
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let own = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|p| key.starts_with(p))
            || matches!(
                &*key,
                "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR" | "LD_LIBRARY_PATH"
            );
        if own {
            build.env_remove(&*key);
        }
    }
    let status = build
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build the {name} example: {e}"));
    assert!(status.success(), "cargo could not build the {name} example");
    // This test runs from target/<profile>/deps; examples are beside it.
    let exe = std::env::current_exe().expect("the test's own path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    dir.join("examples").join(name)
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Start example `name` with `args` after its listen address (a free
/// loopback port), and wait (up to 30 s) until it accepts connections.
pub fn start(name: &str, args: &[&str]) -> Example {
    let bin = binary(name);
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let child = Command::new(&bin)
        .arg(addr.to_string())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", bin.display()));
    let mut ex = Example { child, addr };
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpStream::connect(addr).is_ok() {
            return ex;
        }
        if let Ok(Some(status)) = ex.child.try_wait() {
            panic!("the {name} example exited ({status}) before it listened on {addr}");
        }
        assert!(
            Instant::now() < until,
            "the {name} example did not listen on {addr} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
