//! The reaper: one thread per process that takes the programs whose
//! requests are over, waits for each to exit, ends it if it does not, logs
//! what it still writes on its error output, and reaps it.
//!
//! A program handed over while it still runs gets [`GRACE`] to exit by
//! itself (a script that closed its output is usually about to), then its
//! process group gets `SIGTERM` and, [`KILL_AFTER`] later, `SIGKILL`, as
//! Apache's `APR_KILL_AFTER_TIMEOUT` does; one that timed out gets
//! `SIGKILL` at once. No request waits for any of this.

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::process::{Child, ChildStderr};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// How long a finished request's program may go on before `SIGTERM`.
pub const GRACE: Duration = Duration::from_secs(1);
/// How long after `SIGTERM` it gets `SIGKILL`.
pub const KILL_AFTER: Duration = Duration::from_secs(3);
/// How often the reaper looks at the programs it holds.
const TICK: Duration = Duration::from_millis(50);

struct Orphan {
    child: Child,
    stderr: Option<ChildStderr>,
    line: Vec<u8>,
    name: String,
    /// When it gets the next signal, and which.
    next: Option<(Instant, Signal)>,
}

/// The reaper's queue, made with its thread on first use (in the process
/// that uses it: a child after `fork`, never the master before it).
static QUEUE: OnceLock<Mutex<Sender<Orphan>>> = OnceLock::new();

/// Hand `child` (named `name` in the log) to the reaper with its error
/// pipe; `kill_now` ends it with `SIGKILL` at once (it timed out).
/// Without the reaper's thread (it could not be started) it is ended and
/// reaped here.
pub fn adopt(child: Child, stderr: Option<ChildStderr>, name: String, kill_now: bool) {
    let now = Instant::now();
    let next = if kill_now {
        Some((now, Signal::SIGKILL))
    } else {
        Some((now + GRACE, Signal::SIGTERM))
    };
    let orphan = Orphan {
        child,
        stderr,
        line: Vec::new(),
        name,
        next,
    };
    let queue = QUEUE.get_or_init(|| {
        let (tx, rx) = mpsc::channel();
        let started = std::thread::Builder::new()
            .name("cgi-reaper".into())
            .spawn(move || run(rx));
        if let Err(e) = started {
            log::error!("could not start the CGI reaper thread: {e}; scripts are reaped by the requests' threads");
        }
        Mutex::new(tx)
    });
    let sent = match queue.lock() {
        Ok(tx) => tx.send(orphan).map_err(|e| e.0),
        Err(_) => Err(orphan),
    };
    if let Err(mut orphan) = sent {
        // No reaper: end it and reap it here.
        signal(&orphan.child, Signal::SIGKILL);
        let _ = orphan.child.wait();
    }
}

/// Send `sig` to the program's process group.
fn signal(child: &Child, sig: Signal) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = killpg(Pid::from_raw(pid), sig);
    }
}

fn run(rx: Receiver<Orphan>) {
    let mut held: Vec<Orphan> = Vec::new();
    loop {
        let received = if held.is_empty() {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            rx.recv_timeout(Duration::ZERO)
        };
        match received {
            Ok(orphan) => {
                held.push(orphan);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) if held.is_empty() => return,
            Err(_) => {}
        }
        drain_stderr(&mut held);
        let now = Instant::now();
        held.retain_mut(|o| !step(o, now));
    }
}

/// Wait up to a tick for error output from any held program and log it.
fn drain_stderr(held: &mut [Orphan]) {
    let ready: Vec<bool> = {
        let mut fds: Vec<PollFd<'_>> = held
            .iter()
            .filter_map(|o| o.stderr.as_ref())
            .map(|e| PollFd::new(e.as_fd(), PollFlags::POLLIN))
            .collect();
        if fds.is_empty() {
            std::thread::sleep(TICK);
            return;
        }
        if super::io::poll_for(&mut fds, TICK).is_err() {
            return;
        }
        fds.iter()
            .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
            .collect()
    };
    let mut ready = ready.into_iter();
    for orphan in held.iter_mut() {
        let Some(stderr) = orphan.stderr.as_mut() else {
            continue;
        };
        if !ready.next().unwrap_or(false) {
            continue;
        }
        let mut buf = [0u8; 4096];
        let closed = match stderr.read(&mut buf) {
            Ok(0) => true,
            Ok(n) => {
                orphan.line.extend_from_slice(&buf[..n]);
                false
            }
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ),
        };
        super::io::log_lines(&orphan.name, &mut orphan.line);
        if closed {
            orphan.stderr = None;
        }
    }
}

/// One look at `orphan`: true when it is reaped (and its error output
/// ended), so it is let go.
fn step(orphan: &mut Orphan, now: Instant) -> bool {
    let exited = matches!(orphan.child.try_wait(), Ok(Some(_)) | Err(_));
    if exited {
        // What it left in the pipe was read above; a grandchild holding
        // the pipe open is not waited for.
        orphan.stderr = None;
        if !orphan.line.is_empty() {
            orphan.line.push(b'\n');
            super::io::log_lines(&orphan.name, &mut orphan.line);
        }
        return true;
    }
    if let Some((when, sig)) = orphan.next {
        if now >= when {
            signal(&orphan.child, sig);
            orphan.next = match sig {
                Signal::SIGTERM => Some((now + KILL_AFTER, Signal::SIGKILL)),
                _ => None,
            };
        }
    }
    false
}
