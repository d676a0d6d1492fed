//! Binary upgrade (`kill -USR2 <master>`, `mpmd -k upgrade`), as nginx's
//! but with the outcome checked: the running master starts the binary
//! again and hands it every listening socket; the new master serves
//! before the old one stops, so no connection is refused.
//!
//! 1. The old master renames its pid file to `<pid file>.oldbin` and
//!    starts the binary by the absolute path it resolved at start
//!    ([`Binary::at_start`]: a relative path or a changed working directory
//!    cannot break it), with the same arguments. Its listening sockets are
//!    descriptors 3, 4, … for the new process with `LISTEN_FDS`,
//!    `LISTEN_FDNAMES` and `LISTEN_PID` set as systemd's socket activation
//!    sets them ([`crate::activation`] reads both), and one end of a
//!    socket pair as `MPMD_UPGRADE_FD`. Nothing else crosses the `exec`:
//!    every other descriptor of mpmd is close-on-exec.
//! 2. The new master reads its configuration, takes the sockets for the
//!    `Listen` addresses they are bound to (binds the new ones, closes the
//!    removed ones), writes its pid file and starts its children. Once
//!    they accept, it writes `ready` on the socket pair.
//! 3. The old master then tells the service manager the new main pid,
//!    answers `go`, and stops gracefully: its children finish their
//!    requests and keep-alive connections; the sockets stay listening (the
//!    new children accept on them). Its `.oldbin` pid file goes when the
//!    stop begins.
//! 4. If the new binary cannot start, fails its configuration (it writes
//!    `failed <why>`), exits, or is not ready within [`READY_WITHIN`]
//!    (it is stopped), the old master logs why in one line, renames its pid
//!    file back and keeps serving.
//!
//! Each outcome is also written to `<pid file>.upgrade`, which
//! `mpmd -k upgrade` ([`request`]) waits for. A USR2 while an upgrade is in
//! flight (or while this master is itself still taking over) is refused
//! with a log line.

use std::ffi::{CString, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::activation::UPGRADE_FD;
use crate::pidfile;

/// How long the new master has to serve.
pub const READY_WITHIN: Duration = Duration::from_secs(30);

/// Descriptors an upgrade hands over at most (listeners and the upgrade
/// socket), so that the child moves them without allocating.
const MAX_SOCKETS: usize = 256;

/// How long `-k upgrade` waits for the master to begin (its `.oldbin`).
const BEGIN_WITHIN: Duration = Duration::from_secs(10);

/// How long a stopped new master has between SIGTERM and SIGKILL.
const KILL_AFTER: Duration = Duration::from_secs(3);

/// The binary and arguments to start again, resolved at start.
#[derive(Debug, Clone)]
pub struct Binary {
    exe: PathBuf,
    args: Vec<OsString>,
}

impl Binary {
    /// The binary's absolute path.
    pub fn exe(&self) -> &Path {
        &self.exe
    }

    /// This process's binary (an absolute path, from `/proc/self/exe`) and
    /// arguments. Call at start, before anything could change.
    pub fn at_start() -> Binary {
        let exe = std::env::current_exe().unwrap_or_else(|_| {
            let argv0 = std::env::args_os().next().unwrap_or_default();
            std::env::current_dir()
                .map(|d| d.join(&argv0))
                .unwrap_or_else(|_| PathBuf::from(argv0))
        });
        Binary {
            exe,
            args: std::env::args_os().skip(1).collect(),
        }
    }
}

static BINARY: std::sync::OnceLock<Binary> = std::sync::OnceLock::new();

/// Keep `b` as the binary an upgrade starts (the first call wins).
pub fn remember_binary(b: Binary) {
    let _ = BINARY.set(b);
}

/// The binary [`remember_binary`] kept (resolved now when none was).
pub fn binary() -> Binary {
    BINARY.get().cloned().unwrap_or_else(Binary::at_start)
}

/// Where the outcome of an upgrade is written for `-k upgrade`.
pub fn outcome_path(pid_file: &Path) -> PathBuf {
    let mut p = pid_file.as_os_str().to_owned();
    p.push(".upgrade");
    PathBuf::from(p)
}

/// The `.oldbin` name of a pid file.
pub fn oldbin_path(pid_file: &Path) -> PathBuf {
    let mut p = pid_file.as_os_str().to_owned();
    p.push(".oldbin");
    PathBuf::from(p)
}

/// Write `text` as the outcome file (through a temporary file, so a reader
/// never sees half of it).
fn write_outcome(pid_file: &Path, text: &str) {
    let path = outcome_path(pid_file);
    let tmp = {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".tmp.{}", std::process::id()));
        PathBuf::from(p)
    };
    let res = std::fs::write(&tmp, format!("{text}\n")).and_then(|_| std::fs::rename(&tmp, &path));
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        log::warn!(
            "could not write the upgrade outcome to {}: {}",
            path.display(),
            mpm::strategy::error::describe_io(&e)
        );
    }
}

/// An upgrade the old master started and waits for.
#[derive(Debug)]
pub struct InFlight {
    /// The new master.
    pub pid: Pid,
    sock: UnixStream,
    started: Instant,
    got: Vec<u8>,
}

/// What became of an upgrade in flight, this tick.
#[derive(Debug)]
pub enum Progress {
    /// Still starting.
    Waiting(InFlight),
    /// The new master serves: the old one stops.
    Ready(InFlight),
    /// It failed, for this reason: the new process, and whether it still
    /// needs stopping and reaping.
    Failed(String, Pid, bool),
}

/// Start the new binary with `listeners` (descriptor, address) as its
/// sockets.
pub fn start(binary: &Binary, listeners: &[RawFd]) -> Result<InFlight, String> {
    if listeners.len() >= MAX_SOCKETS {
        return Err(format!(
            "{} listening sockets are more than an upgrade hands over ({})",
            listeners.len(),
            MAX_SOCKETS - 1
        ));
    }
    let (ours, theirs) = UnixStream::pair().map_err(|e| {
        format!(
            "could not make the upgrade socket: {}",
            mpm::strategy::error::describe_io(&e)
        )
    })?;
    let n = listeners.len();
    let cstr = |b: &[u8], what: &str| {
        CString::new(b.to_vec()).map_err(|_| format!("the {what} contains a NUL byte"))
    };
    let exe = cstr(binary.exe.as_os_str().as_bytes(), "binary's path")?;
    let mut argv = vec![exe.clone()];
    for a in &binary.args {
        argv.push(cstr(a.as_bytes(), "command line")?);
    }
    let mut env: Vec<CString> = Vec::new();
    for (k, v) in std::env::vars_os() {
        let k = k.as_bytes();
        if [
            &b"LISTEN_PID"[..],
            b"LISTEN_FDS",
            b"LISTEN_FDNAMES",
            b"WATCHDOG_PID",
            UPGRADE_FD.as_bytes(),
        ]
        .contains(&k)
        {
            continue;
        }
        let mut kv = k.to_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        if let Ok(c) = CString::new(kv) {
            env.push(c);
        }
    }
    env.push(cstr(format!("LISTEN_FDS={n}").as_bytes(), "environment")?);
    env.push(cstr(
        format!("LISTEN_FDNAMES={}", vec!["mpmd"; n].join(":")).as_bytes(),
        "environment",
    )?);
    env.push(cstr(
        format!("{UPGRADE_FD}={}", 3 + n).as_bytes(),
        "environment",
    )?);
    // The pid is known only in the child: these buffers are filled there,
    // in place (no allocation after fork).
    let mut pid_vars: Vec<(Vec<u8>, usize)> = vec![(b"LISTEN_PID=".to_vec(), 11)];
    if std::env::var_os("WATCHDOG_USEC").is_some() {
        pid_vars.push((b"WATCHDOG_PID=".to_vec(), 13));
    }
    for (buf, _) in &mut pid_vars {
        buf.extend_from_slice(&[0u8; 24]);
    }
    let argv_ptrs: Vec<*const libc::c_char> = argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let pid_ptrs: Vec<(*mut u8, usize)> = pid_vars
        .iter_mut()
        .map(|(b, at)| (b.as_mut_ptr(), *at))
        .collect();
    let env_ptrs: Vec<*const libc::c_char> = env
        .iter()
        .map(|e| e.as_ptr())
        .chain(pid_ptrs.iter().map(|(p, _)| *p as *const libc::c_char))
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let mut sources: Vec<RawFd> = listeners.to_vec();
    sources.push(theirs.as_raw_fd());

    // SAFETY: the child only makes async-signal-safe calls (fcntl, dup2,
    // sigprocmask, execve, write, _exit) and writes into buffers allocated
    // before the fork; it allocates nothing and takes no lock, so it is
    // sound even if another thread of this process held one at the fork.
    match unsafe { nix::unistd::fork() } {
        Err(e) => Err(format!("could not fork: {}", e.desc())),
        Ok(nix::unistd::ForkResult::Child) => {
            // SAFETY: see above; every pointer is into memory this process
            // owns, unchanged since before the fork.
            unsafe { exec_child(&sources, &pid_ptrs, &argv_ptrs, &env_ptrs) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            drop(theirs);
            let _ = ours.set_nonblocking(true);
            Ok(InFlight {
                pid: child,
                sock: ours,
                started: Instant::now(),
                got: Vec::new(),
            })
        }
    }
}

/// In the forked child: descriptors to 3 …, the pid into the variables,
/// exec. Never returns.
///
/// # Safety
///
/// Only between fork and exec, with pointers to live, NUL-terminated
/// buffers (`pid_vars` with room for 20 digits after their offset).
unsafe fn exec_child(
    sources: &[RawFd],
    pid_vars: &[(*mut u8, usize)],
    argv: &[*const libc::c_char],
    env: &[*const libc::c_char],
) -> ! {
    // SAFETY: the whole body makes async-signal-safe calls on this
    // process's own descriptors and writes into memory it owns, as the
    // caller guarantees.
    unsafe {
        let n = sources.len() as RawFd;
        // First above every target, so that no target overwrites a source
        // not yet moved.
        let mut high = [0 as RawFd; MAX_SOCKETS];
        let count = sources.len().min(high.len());
        for i in 0..count {
            high[i] = libc::fcntl(sources[i], libc::F_DUPFD_CLOEXEC, 3 + n);
        }
        for (i, fd) in high.iter().enumerate().take(count) {
            // dup2 clears close-on-exec on the target: these cross exec.
            libc::dup2(*fd, 3 + i as RawFd);
        }
        let pid = libc::getpid() as u64;
        for (buf, at) in pid_vars {
            let mut digits = [0u8; 20];
            let mut len = 0;
            let mut v = pid;
            loop {
                digits[len] = b'0' + (v % 10) as u8;
                len += 1;
                v /= 10;
                if v == 0 {
                    break;
                }
            }
            for k in 0..len {
                *buf.add(at + k) = digits[len - 1 - k];
            }
            *buf.add(at + len) = 0;
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::execve(argv[0], argv.as_ptr(), env.as_ptr());
        let msg = b"failed could not execute the binary (execve failed)\n";
        libc::write(3 + n - 1, msg.as_ptr().cast(), msg.len());
        libc::_exit(127)
    }
}

impl InFlight {
    /// Read what the new master said, see whether it exited or is late.
    pub fn poll(mut self, now: Instant) -> Progress {
        let mut buf = [0u8; 512];
        let mut eof = false;
        loop {
            match self.sock.read(&mut buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(k) => self.got.extend_from_slice(&buf[..k]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
            if self.got.len() > 4096 {
                break;
            }
        }
        let text = String::from_utf8_lossy(&self.got).into_owned();
        if let Some(line) = text.lines().find(|l| l.starts_with("failed ")) {
            let why = line["failed ".len()..].trim().to_string();
            return Progress::Failed(why, self.pid, true);
        }
        if text.lines().any(|l| l == "ready") {
            return Progress::Ready(self);
        }
        let exited = match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => Some(format!("exited with status {code}")),
            Ok(WaitStatus::Signaled(_, sig, _)) => Some(format!("was killed by {sig}")),
            Ok(_) => None,
            Err(_) => Some("is gone".to_string()),
        };
        if let Some(how) = exited {
            return Progress::Failed(format!("{how} before it served"), self.pid, false);
        }
        if eof {
            // Closed its end without a word: it is going; reaped later.
            return Progress::Failed(
                "closed the upgrade socket before it served".to_string(),
                self.pid,
                true,
            );
        }
        if now.duration_since(self.started) >= READY_WITHIN {
            return Progress::Failed(
                format!("did not serve within {} s", READY_WITHIN.as_secs()),
                self.pid,
                true,
            );
        }
        Progress::Waiting(self)
    }

    /// Tell the new master to go on (it is the main process now).
    pub fn go(mut self) {
        let _ = self.sock.set_nonblocking(false);
        let _ = self.sock.set_write_timeout(Some(Duration::from_secs(1)));
        let _ = self.sock.write_all(b"go\n");
    }
}

/// New masters that failed and are being stopped, reaped as they go.
#[derive(Debug, Default)]
pub struct Failed {
    stopping: Vec<(Pid, Instant, bool)>,
}

impl Failed {
    /// Stop `pid` (SIGTERM now, SIGKILL after [`KILL_AFTER`]).
    pub fn stop(&mut self, pid: Pid) {
        let _ = kill(pid, Signal::SIGTERM);
        self.stopping.push((pid, Instant::now(), false));
    }

    /// Reap the ones that ended; SIGKILL the late ones.
    pub fn reap(&mut self, now: Instant) {
        self.stopping.retain_mut(|(pid, since, killed)| {
            match waitpid(*pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => {
                    if !*killed && now.duration_since(*since) >= KILL_AFTER {
                        let _ = kill(*pid, Signal::SIGKILL);
                        *killed = true;
                    }
                    true
                }
                _ => false,
            }
        });
    }

    /// Nothing left to reap.
    pub fn is_empty(&self) -> bool {
        self.stopping.is_empty()
    }
}

/// The outcome the old master records: `ok <pid>`, or `failed <why>`.
pub fn record(pid_file: &Path, outcome: Result<i32, &str>) {
    match outcome {
        Ok(pid) => write_outcome(pid_file, &format!("ok {pid}")),
        Err(why) => write_outcome(pid_file, &format!("failed {why}")),
    }
}

/// The new master's end of the upgrade socket, until it serves.
#[derive(Debug)]
pub struct Successor {
    sock: UnixStream,
    said_ready: bool,
    since: Instant,
}

impl Successor {
    /// From the descriptor the old master passed.
    pub fn new(fd: OwnedFd) -> Successor {
        Successor {
            sock: UnixStream::from(fd),
            said_ready: false,
            since: Instant::now(),
        }
    }

    /// Tell the old master this one serves; true once it answered (or
    /// went away, or is slow to: after a second this one goes on).
    pub fn ready(&mut self) -> bool {
        if !self.said_ready {
            self.said_ready = true;
            self.since = Instant::now();
            let _ = self.sock.set_write_timeout(Some(Duration::from_secs(1)));
            if self.sock.write_all(b"ready\n").is_err() {
                return true;
            }
            let _ = self.sock.set_nonblocking(true);
        }
        let mut buf = [0u8; 16];
        match self.sock.read(&mut buf) {
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                self.since.elapsed() >= Duration::from_secs(1)
            }
            Err(_) => true,
        }
    }

    /// Tell the old master why this one cannot serve (one line).
    pub fn failed(mut self, why: &str) {
        let line = why.replace('\n', " ");
        let _ = self.sock.set_nonblocking(false);
        let _ = self.sock.set_write_timeout(Some(Duration::from_secs(1)));
        let _ = self.sock.write_all(format!("failed {line}\n").as_bytes());
    }
}

/// `mpmd -k upgrade`: signal the running master and wait for the outcome
/// it records; an error (exit 1) when the upgrade failed.
pub fn request(pid_file: &Path) -> Result<(), String> {
    let outcome = outcome_path(pid_file);
    let _ = std::fs::remove_file(&outcome);
    let pid = pidfile::signal(pid_file, Signal::SIGUSR2)?;
    let start = Instant::now();
    let until = start + READY_WITHIN + Duration::from_secs(10);
    let oldbin = oldbin_path(pid_file);
    let mut begun = false;
    loop {
        // The master renames its pid file when it begins: without that
        // (or an outcome) it could not begin, and says why in its log.
        begun |= oldbin.exists();
        if !begun && start.elapsed() > BEGIN_WITHIN && !outcome.exists() {
            return Err(format!(
                "mpmd (pid {pid}) did not begin the upgrade within {} s: see its error log",
                BEGIN_WITHIN.as_secs()
            ));
        }
        if let Ok(text) = std::fs::read_to_string(&outcome) {
            let _ = std::fs::remove_file(&outcome);
            let text = text.trim();
            if let Some(new) = text.strip_prefix("ok ") {
                eprintln!(
                    "mpmd: upgraded: the new master (pid {new}) serves; pid {pid} stops gracefully"
                );
                return Ok(());
            }
            if let Some(why) = text.strip_prefix("failed ") {
                return Err(format!(
                    "the upgrade failed: {why}; pid {pid} keeps serving"
                ));
            }
        }
        if Instant::now() > until {
            return Err(format!(
                "no outcome from mpmd (pid {pid}) within {} s: see its error log",
                (READY_WITHIN + Duration::from_secs(10)).as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process standing for a new master that never serves.
    fn sleeper() -> (std::process::Child, Pid) {
        let child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        (child, pid)
    }

    /// Stop it as a failed upgrade does; true once it is reaped.
    fn stopped(mut child: std::process::Child, pid: Pid) -> bool {
        let mut failed = Failed::default();
        failed.stop(pid);
        let until = Instant::now() + Duration::from_secs(10);
        while !failed.is_empty() && Instant::now() < until {
            failed.reap(Instant::now());
            std::thread::sleep(Duration::from_millis(20));
        }
        // Reaped by `failed` already; this only tells std so.
        let _ = child.wait();
        failed.is_empty()
    }

    fn in_flight(pid: Pid, started: Instant) -> (InFlight, UnixStream) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let f = InFlight {
            pid,
            sock: ours,
            started,
            got: Vec::new(),
        };
        (f, theirs)
    }

    #[test]
    fn a_new_master_that_does_not_serve_within_the_bound_is_stopped() {
        let (child, pid) = sleeper();
        let now = Instant::now();
        let (f, _theirs) = in_flight(pid, now.checked_sub(READY_WITHIN).unwrap());
        match f.poll(now) {
            Progress::Failed(why, p, true) => {
                assert_eq!(why, "did not serve within 30 s");
                assert_eq!(p, pid);
            }
            other => panic!("a late new master gave {other:?}"),
        }
        assert!(stopped(child, pid), "the late new master was not stopped");
    }

    #[test]
    fn what_the_new_master_says_decides() {
        let (child, pid) = sleeper();
        let (f, mut theirs) = in_flight(pid, Instant::now());
        let f = match f.poll(Instant::now()) {
            Progress::Waiting(f) => f,
            other => panic!("{other:?}"),
        };
        theirs.write_all(b"ready\n").unwrap();
        assert!(matches!(f.poll(Instant::now()), Progress::Ready(_)));
        let (f, mut theirs) = in_flight(pid, Instant::now());
        theirs
            .write_all(b"failed mpmd.conf:3: unknown directive\n")
            .unwrap();
        match f.poll(Instant::now()) {
            Progress::Failed(why, _, true) => assert_eq!(why, "mpmd.conf:3: unknown directive"),
            other => panic!("{other:?}"),
        }
        assert!(stopped(child, pid));
    }
}
