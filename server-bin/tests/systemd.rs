//! systemd's protocols without systemd: the test is the service manager.
//! It binds a `NOTIFY_SOCKET` datagram socket and reads what `mpmd`
//! sends, and passes listening sockets as descriptor 3 with `LISTEN_FDS`,
//! `LISTEN_FDNAMES` and `LISTEN_PID` (set by a `sh` that then `exec`s
//! `mpmd`, so that it is `mpmd`'s own pid), as socket activation does.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;

/// The service manager's end of `NOTIFY_SOCKET`.
struct Manager {
    sock: UnixDatagram,
    path: String,
    got: Vec<String>,
}

impl Manager {
    fn new(site: &Site) -> Manager {
        let path = site.path("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Manager {
            sock,
            path: path.display().to_string(),
            got: Vec::new(),
        }
    }

    /// Read datagrams until one satisfies `want` (up to 15 s); its index.
    fn wait(&mut self, what: &str, want: impl Fn(&str) -> bool, m: &Mpmd) -> usize {
        if let Some(i) = self.got.iter().position(|g| want(g)) {
            return i;
        }
        let until = Instant::now() + Duration::from_secs(15);
        let mut buf = vec![0u8; 4096];
        while Instant::now() < until {
            if let Ok(n) = self.sock.recv(&mut buf) {
                self.got
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                if want(self.got.last().unwrap()) {
                    return self.got.len() - 1;
                }
            }
        }
        panic!(
            "no {what} within 15 s; the messages: {:?}; stderr:\n{}",
            self.got,
            m.stderr()
        );
    }

    /// Read every message already sent (until 100 ms pass with none).
    fn drain(&mut self) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.sock.recv(&mut buf) {
            self.got
                .push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }

    /// The index of the first message from index `from` on that has the
    /// line `line` (reading more for up to 15 s).
    fn wait_from(&mut self, line: &str, from: usize, m: &Mpmd) -> usize {
        let until = Instant::now() + Duration::from_secs(15);
        let mut buf = vec![0u8; 4096];
        loop {
            if let Some(j) = self.got[from.min(self.got.len())..]
                .iter()
                .position(|g| g.lines().any(|l| l == line))
            {
                return from + j;
            }
            if Instant::now() > until {
                panic!(
                    "no {line} after message {from} within 15 s; the messages: {:?}; stderr:\n{}",
                    self.got,
                    m.stderr()
                );
            }
            if let Ok(n) = self.sock.recv(&mut buf) {
                self.got
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
    }
}

/// Start `mpmd -f conf` as systemd would: `NOTIFY_SOCKET`, the watchdog
/// (`WATCHDOG_USEC`) when given, and `socket` as descriptor 3 when given.
fn start_as_systemd(
    site: &Site,
    manager: &Manager,
    conf: &std::path::Path,
    socket: Option<RawFd>,
    watchdog_usec: Option<u64>,
) -> Mpmd {
    let mut script = String::from("export LISTEN_PID=$$ WATCHDOG_PID=$$; exec \"$0\" \"$@\"");
    if socket.is_none() {
        script = String::from("export WATCHDOG_PID=$$; exec \"$0\" \"$@\"");
    }
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script, mpmd_bin(), "-f", conf.to_str().unwrap()])
        .env("NOTIFY_SOCKET", &manager.path)
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDS");
    if let Some(usec) = watchdog_usec {
        cmd.env("WATCHDOG_USEC", usec.to_string());
    }
    if let Some(fd) = socket {
        cmd.env("LISTEN_FDS", "1").env("LISTEN_FDNAMES", "web");
        // SAFETY: the closure runs in the forked child before exec and
        // makes only dup2 and fcntl system calls, which are
        // async-signal-safe; it allocates nothing and takes no lock.
        unsafe {
            cmd.pre_exec(move || {
                if fd == 3 {
                    if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                } else if libc::dup2(fd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    spawn_command(site.root(), cmd)
}

fn conf_on(site: &Site, mpm: &str, listen: &str) -> std::path::PathBuf {
    site.config(&format!(
        "{}Listen {listen}\nServerName localhost\nDocumentRoot {}\n",
        mpm_directives(mpm),
        site.docroot().display()
    ))
}

/// Socket activation serves on the passed socket (a client that
/// connected before mpmd started is answered), and the notifications
/// come in systemd's order: READY, WATCHDOG while serving, RELOADING with
/// MONOTONIC_USEC on SIGUSR1 then READY when the new generation serves,
/// STOPPING on SIGTERM.
fn socket_activation_and_notifications(mpm: &str) {
    let site = Site::new();
    site.write("htdocs/index.html", "hello");
    let mut manager = Manager::new(&site);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Waits in the backlog of the socket mpmd is handed.
    let mut early = TcpStream::connect(addr(port)).unwrap();
    early
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let conf = conf_on(&site, mpm, &format!("127.0.0.1:{port}"));
    let mut m = start_as_systemd(
        &site,
        &manager,
        &conf,
        Some(listener.as_raw_fd()),
        Some(600_000),
    );
    drop(listener);
    let pid = m.pid();
    let ready = manager.wait("READY=1", |g| g.lines().any(|l| l == "READY=1"), &m);
    let first = manager.got[ready].clone();
    assert!(
        first.contains(&format!("MAINPID={pid}")) && first.contains("STATUS=serving: "),
        "the first READY=1 message: {first:?}"
    );
    early
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    let _ = early.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the client queued on the passed socket got {answer:?}; stderr:\n{}",
        m.stderr()
    );
    // The watchdog every 300 ms while the children serve.
    let mut at = ready;
    for _ in 0..3 {
        at = manager.wait_from("WATCHDOG=1", at + 1, &m);
    }
    m.signal(Signal::SIGUSR1);
    let reloading = manager.wait_from("RELOADING=1", at + 1, &m);
    assert!(
        manager.got[reloading]
            .lines()
            .any(|l| l.starts_with("MONOTONIC_USEC=")),
        "RELOADING=1 without MONOTONIC_USEC: {:?}",
        manager.got[reloading]
    );
    let ready_again = manager.wait_from("READY=1", reloading + 1, &m);
    assert!(ready_again > reloading);
    // The socket was kept across the restart.
    assert_eq!(try_get(addr(port), "/"), Some(200), "{}", m.stderr());
    m.signal(Signal::SIGTERM);
    let stopping = manager.wait_from("STOPPING=1", ready_again + 1, &m);
    assert!(stopping > ready_again);
    m.wait_exit(15);
    assert!(
        !m.stderr().contains("could not bind"),
        "mpmd bound instead of using the socket: {}",
        m.stderr()
    );
}

#[test]
fn socket_activation_and_the_notify_sequence_under_event() {
    socket_activation_and_notifications("event");
}

#[test]
fn socket_activation_and_the_notify_sequence_under_prefork() {
    socket_activation_and_notifications("prefork");
}

#[test]
fn socket_activation_and_the_notify_sequence_under_worker() {
    socket_activation_and_notifications("worker");
}

#[test]
fn a_passed_socket_that_matches_no_listen_is_a_one_line_error_naming_both() {
    let site = Site::new();
    let manager = Manager::new(&site);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let conf = conf_on(&site, "event", &format!("127.0.0.2:{port}"));
    let mut m = start_as_systemd(&site, &manager, &conf, Some(listener.as_raw_fd()), None);
    let status = m.wait_exit(15);
    assert_eq!(status.code(), Some(1), "{}", m.stderr());
    let err = m.stderr();
    let line = err
        .lines()
        .find(|l| l.contains("socket-activated"))
        .unwrap_or_else(|| panic!("no error about the socket: {err}"));
    assert!(
        line.contains(&format!(
            "the socket-activated socket 127.0.0.1:{port} (web) does not match `Listen 127.0.0.2:{port}`"
        )),
        "{line}"
    );
}

#[test]
fn a_binary_upgrade_tells_the_service_manager_the_new_main_pid() {
    let site = Site::new();
    site.write("htdocs/index.html", "hello");
    let mut manager = Manager::new(&site);
    let port = free_port();
    let conf = conf_on(&site, "event", &format!("127.0.0.1:{port}"));
    let mut m = start_as_systemd(&site, &manager, &conf, None, None);
    let old = m.pid();
    let ready = manager.wait("READY=1", |g| g.lines().any(|l| l == "READY=1"), &m);
    let (code, _, err) = run(&["-f", conf.to_str().unwrap(), "-k", "upgrade"]);
    assert_eq!(code, 0, "{err}; stderr:\n{}", m.stderr());
    let new: i32 = std::fs::read_to_string(site.pid_file())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(new, old);
    let main_pid = format!("MAINPID={new}");
    let handed = manager.wait_from(&main_pid, ready + 1, &m);
    let ready_new = manager.wait_from("READY=1", handed + 1, &m);
    assert!(
        manager.got[ready_new].contains(&main_pid),
        "{:?}",
        manager.got[ready_new]
    );
    assert!(
        wait_for(20.0, || matches!(m.child.try_wait(), Ok(Some(_)))),
        "{}",
        m.stderr()
    );
    // Drain what is left: the old master said nothing of stopping.
    manager.drain();
    assert!(
        !manager.got.iter().any(|g| g.contains("STOPPING=1")),
        "STOPPING=1 after the hand-over would stop the service: {:?}",
        manager.got
    );
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(new), Signal::SIGTERM);
}

#[test]
fn the_watchdog_stops_while_the_master_is_stopped_and_resumes_after() {
    let site = Site::new();
    site.write("htdocs/index.html", "hello");
    let mut manager = Manager::new(&site);
    let port = free_port();
    let conf = conf_on(&site, "prefork", &format!("127.0.0.1:{port}"));
    // WATCHDOG=1 every 200 ms.
    let m = start_as_systemd(&site, &manager, &conf, None, Some(400_000));
    let ready = manager.wait("READY=1", |g| g.lines().any(|l| l == "READY=1"), &m);
    let fed = manager.wait_from("WATCHDOG=1", ready + 1, &m);
    m.signal(Signal::SIGSTOP);
    // What was sent before the stop, then a second of silence.
    manager.drain();
    let stopped_at = manager.got.len();
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        manager.drain();
    }
    m.signal(Signal::SIGCONT);
    assert_eq!(
        manager.got.len(),
        stopped_at,
        "messages while the master was stopped: {:?}",
        &manager.got[stopped_at..]
    );
    let again = manager.wait_from("WATCHDOG=1", stopped_at, &m);
    assert!(again > fed);
}
