//! The life of the real `mpmd` process: binding, pid file, signals,
//! restarts, `-k`.

mod common;

use std::io::{BufReader, Write};
use std::time::Duration;

use common::*;
use nix::sys::signal::Signal;

fn basic_conf(site: &Site, port: u16) -> std::path::PathBuf {
    site.write("htdocs/index.html", "<h1>home</h1>");
    site.config(&format!(
        "Listen 127.0.0.1:{port}\nServerName localhost\nDocumentRoot {}\n",
        site.docroot().display()
    ))
}

#[test]
fn a_bind_conflict_exits_1_with_one_line_naming_address_and_cause() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let site = Site::new();
    let conf = basic_conf(&site, port);
    let (code, _out, err) = run(&["-f", conf.to_str().unwrap()]);
    assert_eq!(code, 1, "stderr: {err}");
    let expected = format!("could not bind to 127.0.0.1:{port}: address already in use");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("could not bind"))
        .collect();
    assert_eq!(lines.len(), 1, "stderr: {err}");
    assert!(lines[0].contains(&expected), "stderr: {err}");
    assert!(
        !site.pid_file().exists(),
        "a failed start left its pid file behind"
    );
}

#[test]
fn sigterm_stops_and_removes_the_pid_file() {
    let site = Site::new();
    let port = free_port();
    let conf = basic_conf(&site, port);
    let mut m = start(&site, &conf);
    let pid: i32 = std::fs::read_to_string(site.pid_file())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, m.pid());
    assert_eq!(get(addr(port), "localhost", "/").status, 200);
    m.signal(Signal::SIGTERM);
    assert!(m.wait_exit(10).success(), "stderr: {}", m.stderr());
    assert!(!site.pid_file().exists());
    assert!(
        std::net::TcpStream::connect(addr(port)).is_err(),
        "still listening after stop"
    );
}

#[test]
fn sigint_and_sigwinch_stop_too() {
    for sig in [Signal::SIGINT, Signal::SIGWINCH] {
        let site = Site::new();
        let port = free_port();
        let conf = basic_conf(&site, port);
        let mut m = start(&site, &conf);
        m.signal(sig);
        assert!(m.wait_exit(10).success(), "{sig}: {}", m.stderr());
        assert!(!site.pid_file().exists(), "{sig} left the pid file");
    }
}

#[test]
fn a_restart_rereads_the_configuration_and_keeps_the_socket() {
    for sig in [Signal::SIGHUP, Signal::SIGUSR1] {
        let site = Site::new();
        let port = free_port();
        let conf = basic_conf(&site, port);
        let mut m = start(&site, &conf);
        assert_eq!(get(addr(port), "localhost", "/moved").status, 404);
        // A client connects before the restart and is served after it (by
        // the old or the new configuration, whichever holds it): the
        // listening socket is never closed.
        let mut early = connect(addr(port));
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str("Redirect permanent /moved http://example.com/new\n");
        std::fs::write(&conf, text).unwrap();
        m.signal(sig);
        // The early client sends its request after the signal; a graceful
        // restart waits for it (one thread here), a hard one may close it.
        let _ =
            early.write_all(b"GET /moved HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let mut early = BufReader::new(early);
        if sig == Signal::SIGUSR1 {
            let resp = read_response(&mut early, false);
            assert!([301, 404].contains(&resp.status), "{sig}: {}", m.stderr());
        } else {
            // Only cleanly: an answer or end of stream, never garbage.
            let mut rest = Vec::new();
            let _ = std::io::Read::read_to_end(&mut early, &mut rest);
            assert!(
                rest.is_empty() || rest.starts_with(b"HTTP/1.1 "),
                "{sig}: {rest:?}"
            );
        }
        m.wait_log("resuming normal operations", 2);
        // An old child that was already woken for a connection still
        // serves it with the old configuration; new connections soon all
        // reach the new generation.
        let mut resp = get(addr(port), "localhost", "/moved");
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while resp.status != 301 && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
            resp = get(addr(port), "localhost", "/moved");
        }
        assert_eq!(resp.status, 301, "{sig}: {}", m.stderr());
        assert_eq!(resp.header("location"), Some("http://example.com/new"));
        assert_eq!(
            std::fs::read_to_string(site.pid_file()).unwrap().trim(),
            m.pid().to_string()
        );
    }
}

#[test]
fn a_restart_with_a_broken_configuration_keeps_serving_the_old_one() {
    let site = Site::new();
    let port = free_port();
    let conf = basic_conf(&site, port);
    let mut m = start(&site, &conf);
    let good = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("{good}\nNoSuchDirective on\n")).unwrap();
    m.signal(Signal::SIGHUP);
    m.wait_log("keeps the running configuration", 1);
    assert!(m.stderr().contains("NoSuchDirective"), "{}", m.stderr());
    assert_eq!(get(addr(port), "localhost", "/").status, 200);
}

#[test]
fn a_restart_can_move_to_a_new_port_and_release_the_old() {
    let site = Site::new();
    let (p1, p2) = (free_port(), free_port());
    let conf = basic_conf(&site, p1);
    let mut m = start(&site, &conf);
    let text = std::fs::read_to_string(&conf)
        .unwrap()
        .replace(&format!(":{p1}"), &format!(":{p2}"));
    std::fs::write(&conf, text).unwrap();
    m.signal(Signal::SIGUSR1);
    m.wait_log("resuming normal operations", 2);
    assert_eq!(get(addr(p2), "localhost", "/").status, 200);
    assert!(
        std::net::TcpStream::connect(addr(p1)).is_err(),
        "the old port still listens"
    );
}

#[test]
fn k_start_detaches_and_k_stop_ends_it() {
    let site = Site::new();
    let port = free_port();
    let conf = basic_conf(&site, port);
    // Detached, the server writes to its ErrorLog, not to our stderr.
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str(&format!(
        "ErrorLog {}/logs/error_log\n",
        site.root().display()
    ));
    std::fs::write(&conf, text).unwrap();
    let c = conf.to_str().unwrap();
    let (code, _, err) = run(&["-f", c, "-k", "start"]);
    assert_eq!(code, 0, "{err}");
    let pid: i32 = std::fs::read_to_string(site.pid_file())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Make sure it is stopped even if an assertion below fails.
    // The daemon made its own session (pgid = its pid): end the group, so
    // its children go too.
    struct Reap(i32);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(-self.0), Signal::SIGKILL);
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.0), Signal::SIGKILL);
        }
    }
    let _reap = Reap(pid);
    assert_eq!(get(addr(port), "localhost", "/").status, 200);
    let (code, _, err) = run(&["-f", c, "-k", "start"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("mpmd (pid {pid}) already running")),
        "{err}"
    );
    let (code, _, err) = run(&["-f", c, "-k", "stop"]);
    assert_eq!(code, 0, "{err}");
    for _ in 0..500 {
        if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err(),
        "still alive"
    );
    assert!(!site.pid_file().exists());
}

#[test]
fn k_stop_without_a_server_says_so_and_fails() {
    let site = Site::new();
    let conf = basic_conf(&site, free_port());
    let (code, _, err) = run(&["-f", conf.to_str().unwrap(), "-k", "stop"]);
    assert_eq!(code, 1);
    assert!(err.contains("mpmd is not running"), "{err}");
}

#[test]
fn a_stale_pid_file_is_reported_and_replaced() {
    let site = Site::new();
    let port = free_port();
    let conf = basic_conf(&site, port);
    std::fs::write(site.pid_file(), "99999999\n").unwrap();
    let (code, _, err) = run(&["-f", conf.to_str().unwrap(), "-k", "graceful-stop"]);
    assert_eq!(code, 1);
    assert!(err.contains("stale pid file"), "{err}");
    let m = start(&site, &conf);
    assert!(
        m.stderr().contains("removed stale pid file"),
        "{}",
        m.stderr()
    );
    assert_eq!(
        std::fs::read_to_string(site.pid_file()).unwrap().trim(),
        m.pid().to_string()
    );
}

#[test]
fn k_graceful_and_restart_signal_the_running_server() {
    let site = Site::new();
    let port = free_port();
    let conf = basic_conf(&site, port);
    let c = conf.to_str().unwrap().to_string();
    let mut m = start(&site, &conf);
    assert_eq!(run(&["-f", &c, "-k", "graceful"]).0, 0);
    m.wait_log("resuming normal operations", 2);
    assert_eq!(run(&["-f", &c, "-k", "restart"]).0, 0);
    m.wait_log("resuming normal operations", 3);
    assert_eq!(run(&["-f", &c, "-k", "graceful-stop"]).0, 0);
    assert!(m.wait_exit(10).success());
}

#[test]
fn signals_at_odd_times_never_kill_the_server() {
    // A burst of restarts while clients are served. A graceful restart
    // answers every request; a hard one (SIGHUP) may close the connections
    // it finds in flight (a forked strategy ends its children with
    // SIGTERM), but the server answers again at once and never dies.
    let site = Site::new();
    let port = free_port();
    let conf = basic_conf(&site, port);
    let mut m = start(&site, &conf);
    for i in 0..5 {
        let sig = if i % 2 == 0 {
            Signal::SIGHUP
        } else {
            Signal::SIGUSR1
        };
        m.signal(sig);
        if sig == Signal::SIGUSR1 {
            assert_eq!(
                get(addr(port), "localhost", "/").status,
                200,
                "{}",
                m.stderr()
            );
        } else {
            let until = std::time::Instant::now() + Duration::from_secs(5);
            loop {
                match try_get(addr(port), "/") {
                    Some(200) => break,
                    Some(other) => panic!("status {other} after {sig}; {}", m.stderr()),
                    None if std::time::Instant::now() < until => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    None => panic!("no answer within 5 s of {sig}; {}", m.stderr()),
                }
            }
        }
        // An answer may come from a child the restart has yet to end:
        // the next signal waits until this one was carried out.
        m.wait_log("resuming normal operations", i + 2);
    }
    m.signal(Signal::SIGTERM);
    assert!(m.wait_exit(10).success(), "{}", m.stderr());
}

#[test]
fn dash_x_serves_in_one_process() {
    let site = Site::new();
    let port = free_port();
    let conf = basic_conf(&site, port);
    let m = start_args(&site, &["-X", "-f", conf.to_str().unwrap()]);
    assert_eq!(get(addr(port), "localhost", "/").text(), "<h1>home</h1>");
    assert!(m.stderr().contains("(single MPM)"), "{}", m.stderr());
    let status = get(addr(port), "localhost", "/server-status?auto");
    // No status location configured: a plain 404, the server goes on.
    assert_eq!(status.status, 404);
}

#[test]
fn error_log_and_log_level_decide_what_is_written_where() {
    let site = Site::new();
    let port = free_port();
    let log = site.path("logs/error_log");
    let conf = basic_conf(&site, port);
    let text = std::fs::read_to_string(&conf)
        .unwrap()
        .replace("LogLevel info", "LogLevel warn");
    std::fs::write(&conf, format!("{text}ErrorLog {}\n", log.display())).unwrap();
    let mut m = spawn(site.root(), &["-f", conf.to_str().unwrap()]);
    // Warn level: the startup notices are not written; wait for the pid
    // file instead, then for an answer.
    for _ in 0..500 {
        if site.pid_file().exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(get(addr(port), "localhost", "/").status, 200);
    m.signal(Signal::SIGTERM);
    assert!(m.wait_exit(10).success());
    let written = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !written.contains("resuming normal operations"),
        "info written at warn: {written}"
    );
    assert!(
        m.stderr().is_empty(),
        "stderr used despite ErrorLog: {}",
        m.stderr()
    );

    // Info level, same file: the startup lines appear there, in Apache's
    // format, and still nothing on stderr.
    let text = std::fs::read_to_string(&conf)
        .unwrap()
        .replace("LogLevel warn", "LogLevel info");
    std::fs::write(&conf, text).unwrap();
    let mut m = spawn(site.root(), &["-f", conf.to_str().unwrap()]);
    for _ in 0..500 {
        if std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("resuming normal operations")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let written = std::fs::read_to_string(&log).unwrap_or_default();
    let line = written
        .lines()
        .find(|l| l.contains("resuming normal operations"))
        .unwrap_or_else(|| panic!("no startup line in the error log: {written}"));
    assert!(
        line.starts_with('[') && line.contains("] [core:notice] [pid "),
        "{line}"
    );
    m.signal(Signal::SIGTERM);
    assert!(m.wait_exit(10).success());
    assert!(
        m.stderr().is_empty(),
        "stderr used despite ErrorLog: {}",
        m.stderr()
    );
}

#[test]
fn ipv6_loopback_listens_when_the_system_has_it() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: no IPv6 loopback on this machine");
        return;
    }
    let site = Site::new();
    let port = free_port();
    site.write("htdocs/index.html", "six");
    let conf = site.config(&format!(
        "Listen [::1]:{port}\nDocumentRoot {}\n",
        site.docroot().display()
    ));
    let _m = start(&site, &conf);
    let mut s = std::net::TcpStream::connect(("::1", port)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut BufReader::new(s), false);
    assert_eq!(resp.text(), "six");
}
