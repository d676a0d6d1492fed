//! Binary upgrade (`kill -USR2`, `mpmd -k upgrade`) through the real
//! `mpmd`: under keep-alive and new-connection load no connection is
//! refused and no request fails, the master's pid changes, a failed
//! upgrade leaves the old master serving, `Listen` may change across it.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;

/// A client of keep-alive connections, each making requests in a loop,
/// reconnecting when the server closes one. A request sent on a reused
/// connection that the server closed before answering a byte is sent
/// again on a new connection, as HTTP clients do (RFC 9112, 9.3.1): the
/// server closing an idle keep-alive connection is no failure. Anything
/// else is: a refused connection, an error on a new connection, a status
/// other than 200.
struct KeepAliveLoad {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU32>,
    failures: Arc<Mutex<Vec<String>>>,
    threads: Vec<JoinHandle<()>>,
}

/// One response on `conn`: `Ok(Some(status))`, `Ok(None)` when the
/// connection closed before any byte of it, `Err` otherwise.
fn exchange(conn: &mut BufReader<TcpStream>) -> Result<Option<u16>, String> {
    conn.get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut status_line = String::new();
    match conn.read_line(&mut status_line) {
        Ok(0) => return Ok(None),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(None),
        Err(e) => return Err(format!("reading the status line: {e}")),
    }
    let status: u16 = status_line
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut length = 0usize;
    let mut close = false;
    loop {
        let mut line = String::new();
        conn.read_line(&mut line)
            .map_err(|e| format!("reading the head: {e}"))?;
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("connection:") && lower.contains("close") {
            close = true;
        }
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body)
        .map_err(|e| format!("reading the body: {e}"))?;
    if close {
        // The caller reconnects for the next request.
        return Ok(Some(status + 1000));
    }
    Ok(Some(status))
}

impl KeepAliveLoad {
    fn start(port: u16, clients: usize) -> KeepAliveLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU32::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..clients)
            .map(|_| {
                let (stop, ok, failures) = (stop.clone(), ok.clone(), failures.clone());
                std::thread::spawn(move || {
                    let until = Instant::now() + Duration::from_secs(60);
                    let fail = |what: String| failures.lock().unwrap().push(what);
                    let connect = || -> Result<BufReader<TcpStream>, String> {
                        let s =
                            TcpStream::connect(addr(port)).map_err(|e| format!("connect: {e}"))?;
                        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                        Ok(BufReader::new(s))
                    };
                    let mut conn: Option<BufReader<TcpStream>> = None;
                    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                        let reused = conn.is_some();
                        let mut c = match conn.take() {
                            Some(c) => c,
                            None => match connect() {
                                Ok(c) => c,
                                Err(e) => {
                                    fail(e);
                                    continue;
                                }
                            },
                        };
                        let mut answer = exchange(&mut c);
                        if reused && matches!(answer, Ok(None)) {
                            // Closed while idle: send it again, once.
                            answer = match connect() {
                                Ok(mut fresh) => {
                                    let a = exchange(&mut fresh);
                                    c = fresh;
                                    a
                                }
                                Err(e) => Err(e),
                            };
                        }
                        match answer {
                            Ok(Some(200)) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                                conn = Some(c);
                            }
                            Ok(Some(1200)) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(Some(other)) => fail(format!("status {}", other % 1000)),
                            Ok(None) => fail("closed without an answer on a new connection".into()),
                            Err(e) => fail(e),
                        }
                    }
                })
            })
            .collect();
        KeepAliveLoad {
            stop,
            ok,
            failures,
            threads,
        }
    }

    fn ok(&self) -> u32 {
        self.ok.load(Ordering::Relaxed)
    }

    /// Stop; (ok, failures).
    fn finish(mut self) -> (u32, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        (self.ok(), self.failures.lock().unwrap().clone())
    }
}

impl Drop for KeepAliveLoad {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn pid_in(site: &Site) -> i32 {
    std::fs::read_to_string(site.pid_file())
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

fn oldbin(site: &Site) -> PathBuf {
    PathBuf::from(format!("{}.oldbin", site.pid_file().display()))
}

/// Wait until the master `m` started has exited (it is the test's child).
fn exited(m: &mut Mpmd, secs: f64) -> bool {
    wait_for(secs, || matches!(m.child.try_wait(), Ok(Some(_))))
}

fn conf_path(site: &Site) -> String {
    site.path("mpmd.conf").display().to_string()
}

/// Under keep-alive and new-connection load, `-k upgrade` hands the
/// sockets to a new master that serves before the old one stops.
fn an_upgrade_under_load_refuses_nothing(mpm: &str) {
    let site = Site::new();
    site.write("htdocs/index.html", "hello");
    let port = free_port();
    let mut m = start_mpm(&site, mpm, port, "");
    let old = m.pid();
    let keep_alive = KeepAliveLoad::start(port, 3);
    let fresh = Load::start(port, 1_000_000);
    assert!(
        wait_for(10.0, || keep_alive.ok() >= 30 && fresh.ok() >= 30),
        "no load served before the upgrade; stderr:\n{}",
        m.stderr()
    );
    let (code, _, err) = run(&["-f", &conf_path(&site), "-k", "upgrade"]);
    assert_eq!(code, 0, "-k upgrade failed: {err}; stderr:\n{}", m.stderr());
    let new = pid_in(&site);
    assert!(
        new != old && new > 0 && alive(new),
        "pid file says {new}, old was {old}"
    );
    assert!(
        exited(&mut m, 20.0),
        "the old master did not stop after the upgrade; stderr:\n{}",
        m.stderr()
    );
    assert!(!oldbin(&site).exists(), "the .oldbin pid file stayed");
    // The new master alone serves now, on the same sockets.
    let (k, f) = (keep_alive.ok(), fresh.ok());
    assert!(
        wait_for(10.0, || keep_alive.ok() >= k + 30 && fresh.ok() >= f + 30),
        "the new master does not serve; stderr:\n{}",
        m.stderr()
    );
    let (ok_fresh, failed_fresh) = fresh.finish();
    let (ok_ka, failures) = keep_alive.finish();
    assert_eq!(
        failed_fresh,
        0,
        "{failed_fresh} new-connection requests failed ({ok_fresh} ok); stderr:\n{}",
        m.stderr()
    );
    assert!(
        failures.is_empty(),
        "keep-alive requests failed ({ok_ka} ok): {failures:?}; stderr:\n{}",
        m.stderr()
    );
    let log = m.stderr();
    assert!(
        log.contains(&format!(
            "binary upgrade: the new master (pid {new}) serves"
        )),
        "{log}"
    );
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(new), Signal::SIGTERM);
    assert!(
        wait_for(10.0, || !alive(new)),
        "the new master did not stop"
    );
}

#[test]
fn an_upgrade_under_load_refuses_no_connection_and_fails_no_request_event() {
    an_upgrade_under_load_refuses_nothing("event");
}

#[test]
fn an_upgrade_under_load_refuses_no_connection_and_fails_no_request_prefork() {
    an_upgrade_under_load_refuses_nothing("prefork");
}

#[test]
fn an_upgrade_under_load_refuses_no_connection_and_fails_no_request_worker() {
    an_upgrade_under_load_refuses_nothing("worker");
}

/// A copy of `mpmd` in the site, to start and then replace. Copied by
/// `cp`: written in this process, the file would be open for writing in
/// any child another test thread forks meanwhile, and its exec would fail
/// with "text file busy".
fn copy_of_mpmd(site: &Site) -> PathBuf {
    let bin = site.mkdir("bin").join("mpmd");
    let st = Command::new("cp")
        .arg(mpmd_bin())
        .arg(&bin)
        .status()
        .unwrap();
    assert!(st.success(), "cp {} failed", mpmd_bin());
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// Replace the file at `bin` (running: unlinked first) with a script.
fn replace_with_script(bin: &Path, script: &str) {
    std::fs::remove_file(bin).unwrap();
    std::fs::write(bin, script).unwrap();
    std::fs::set_permissions(bin, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A site served by a copy of `mpmd` (its path returned, to replace)
/// under `mpm`, on a free port.
fn served_by_a_copy(mpm: &str) -> (Site, PathBuf, u16, Mpmd) {
    let site = Site::new();
    site.write("htdocs/index.html", "hello");
    let port = free_port();
    let bin = copy_of_mpmd(&site);
    let m = start_copy(&site, &bin, mpm, port);
    (site, bin, port, m)
}

/// The first line of the server's log that contains `needle`.
fn log_line(m: &Mpmd, needle: &str) -> String {
    let log = m.stderr();
    log.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} in the log:\n{log}"))
        .to_string()
}

fn start_copy(site: &Site, bin: &Path, mpm: &str, port: u16) -> Mpmd {
    let conf = site.config(&format!(
        "{}Listen 127.0.0.1:{port}\nServerName localhost\nDocumentRoot {}\n",
        mpm_directives(mpm),
        site.docroot().display()
    ));
    let mut cmd = Command::new(bin);
    cmd.args(["-f", conf.to_str().unwrap()]);
    let mut m = spawn_command(site.root(), cmd);
    m.wait_log("resuming normal operations", 1);
    m
}

#[test]
fn a_failed_upgrade_leaves_the_old_master_serving_and_says_why() {
    let (site, bin, port, mut m) = served_by_a_copy("event");
    let old = m.pid();
    replace_with_script(&bin, "#!/bin/sh\nexit 1\n");
    let keep_alive = KeepAliveLoad::start(port, 2);
    let fresh = Load::start(port, 1_000_000);
    assert!(wait_for(10.0, || keep_alive.ok() >= 20 && fresh.ok() >= 20));
    let (code, _, err) = run(&["-f", &conf_path(&site), "-k", "upgrade"]);
    assert_eq!(
        code, 1,
        "-k upgrade of a binary that exits 1 succeeded: {err}"
    );
    assert!(
        err.contains("the upgrade failed: exited with status 1 before it served"),
        "-k upgrade said: {err}"
    );
    m.wait_log("binary upgrade failed", 1);
    let line = log_line(&m, "binary upgrade failed");
    assert!(
        line.contains("exited with status 1 before it served")
            && line.contains(&format!("this master (pid {old}) keeps serving")),
        "{line}"
    );
    assert_eq!(
        pid_in(&site),
        old,
        "the pid file no longer names the old master"
    );
    assert!(!oldbin(&site).exists(), "the .oldbin pid file stayed");
    let (k, f) = (keep_alive.ok(), fresh.ok());
    assert!(wait_for(10.0, || keep_alive.ok() >= k + 20 && fresh.ok() >= f + 20));
    let (_, failed) = fresh.finish();
    let (_, failures) = keep_alive.finish();
    assert_eq!(failed, 0, "{}", m.stderr());
    assert!(failures.is_empty(), "{failures:?}");
    assert!(
        matches!(m.child.try_wait(), Ok(None)),
        "the old master exited"
    );
}

#[test]
fn an_upgrade_with_a_broken_configuration_logs_the_error_and_keeps_serving() {
    let site = Site::new();
    site.write("htdocs/index.html", "hello");
    let port = free_port();
    let mut m = start_mpm(&site, "prefork", port, "");
    let old = m.pid();
    let conf = std::fs::read_to_string(site.path("mpmd.conf")).unwrap();
    std::fs::write(
        site.path("mpmd.conf"),
        format!("{conf}\nNoSuchDirective x\n"),
    )
    .unwrap();
    m.signal(Signal::SIGUSR2);
    m.wait_log("binary upgrade failed", 1);
    let line = log_line(&m, "binary upgrade failed");
    assert!(
        line.contains("NoSuchDirective"),
        "the reason is not in: {line}"
    );
    assert_eq!(try_get(addr(port), "/"), Some(200));
    assert_eq!(pid_in(&site), old);
}

#[test]
fn a_second_upgrade_while_one_is_in_flight_is_refused_with_a_log_line() {
    let (site, bin, port, mut m) = served_by_a_copy("event");
    // A new binary that never serves: the first upgrade stays in flight.
    replace_with_script(&bin, "#!/bin/sh\nexec sleep 60\n");
    m.signal(Signal::SIGUSR2);
    m.wait_log("binary upgrade: starting", 1);
    m.signal(Signal::SIGUSR2);
    m.wait_log("binary upgrade refused: an upgrade is already in flight", 1);
    assert!(oldbin(&site).exists(), "no .oldbin pid file while both run");
    assert_eq!(try_get(addr(port), "/"), Some(200), "{}", m.stderr());
}

#[test]
fn an_upgrade_of_a_server_started_by_a_relative_path_still_works_once_its_working_directory_is_gone(
) {
    let site = Site::new();
    site.write("htdocs/index.html", "hello");
    let port = free_port();
    copy_of_mpmd(&site);
    let conf = site.config(&format!(
        "{}Listen 127.0.0.1:{port}\nServerName localhost\nDocumentRoot {}\n",
        mpm_directives("event"),
        site.docroot().display()
    ));
    // Started as `../bin/mpmd` from a directory that then goes away: the
    // relative path names nothing any more (`..` of a removed directory),
    // the absolute one resolved at start still does.
    let cwd = site.mkdir("run");
    let mut cmd = Command::new("../bin/mpmd");
    cmd.args(["-f", conf.to_str().unwrap()]).current_dir(&cwd);
    let mut m = spawn_command(site.root(), cmd);
    m.wait_log("resuming normal operations", 1);
    let old = m.pid();
    std::fs::remove_dir(&cwd).unwrap();
    let (code, _, err) = run(&["-f", conf.to_str().unwrap(), "-k", "upgrade"]);
    assert_eq!(code, 0, "{err}; stderr:\n{}", m.stderr());
    let abs = site.root().join("bin/mpmd");
    let line = log_line(&m, "binary upgrade: starting");
    assert!(
        line.contains(&format!("starting {} ", abs.display())),
        "{line}"
    );
    assert!(exited(&mut m, 20.0), "{}", m.stderr());
    let new = pid_in(&site);
    assert!(new != old && alive(new));
    assert_eq!(try_get(addr(port), "/"), Some(200));
}

#[test]
fn listen_directives_may_be_added_and_removed_across_an_upgrade() {
    let site = Site::new();
    site.write("htdocs/index.html", "hello");
    let (kept, dropped, added) = (free_port(), free_port(), free_port());
    let conf = |ports: [u16; 2]| {
        site.config(&format!(
            "{}Listen 127.0.0.1:{}\nListen 127.0.0.1:{}\nServerName localhost\nDocumentRoot {}\n",
            mpm_directives("worker"),
            ports[0],
            ports[1],
            site.docroot().display()
        ))
    };
    let path = conf([kept, dropped]);
    let mut m = start(&site, &path);
    let load = Load::start(kept, 1_000_000);
    assert!(wait_for(10.0, || load.ok() >= 20));
    conf([kept, added]);
    let (code, _, err) = run(&["-f", path.to_str().unwrap(), "-k", "upgrade"]);
    assert_eq!(code, 0, "{err}; stderr:\n{}", m.stderr());
    assert!(exited(&mut m, 20.0), "{}", m.stderr());
    assert_eq!(try_get(addr(added), "/"), Some(200), "{}", m.stderr());
    assert_eq!(
        try_get(addr(dropped), "/"),
        None,
        "the removed Listen still answers"
    );
    let ok = load.ok();
    assert!(wait_for(10.0, || load.ok() >= ok + 20));
    let (_, failed) = load.finish();
    assert_eq!(failed, 0, "{}", m.stderr());
    let new = pid_in(&site);
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(new), Signal::SIGTERM);
}
