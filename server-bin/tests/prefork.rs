//! The prefork strategy through the real `mpmd`: children, their deaths
//! and replacements, restarts under load, `MaxConnectionsPerChild`,
//! `User`, spare regulation and the status page.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A prefork configuration on `port` with extra directives.
fn conf(site: &Site, port: u16, extra: &str) -> std::path::PathBuf {
    site.write("htdocs/index.html", "<h1>home</h1>");
    site.config(&format!(
        "LoadModule mpm_prefork_module modules/mod_mpm_prefork.so\n\
         Listen 127.0.0.1:{port}\nServerName localhost\nDocumentRoot {}\n\
         <Location /server-status>\nSetHandler server-status\n</Location>\n{extra}\n",
        site.docroot().display()
    ))
}

#[test]
fn start_servers_3_forks_3_children() {
    let site = Site::new();
    let port = free_port();
    let c = conf(
        &site,
        port,
        "StartServers 3\nMinSpareServers 1\nMaxSpareServers 10",
    );
    let m = start(&site, &c);
    assert!(
        wait_for(5.0, || children(m.pid()).len() == 3),
        "children of the master: {:?}; {}",
        children(m.pid()),
        m.stderr()
    );
    assert!(m.stderr().contains("(prefork MPM)"), "{}", m.stderr());
    assert_eq!(try_get(addr(port), "/"), Some(200));
    // The spares are within bounds: nothing more is started.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(children(m.pid()).len(), 3, "{}", m.stderr());
}

#[test]
fn a_killed_child_is_replaced_at_once_and_its_signal_logged() {
    let site = Site::new();
    let port = free_port();
    let c = conf(
        &site,
        port,
        "StartServers 3\nMinSpareServers 1\nMaxSpareServers 10",
    );
    kill_a_child_under_load(&site, &c, port, 3);
}

#[test]
fn graceful_restarts_under_load_fail_no_request() {
    let site = Site::new();
    let port = free_port();
    let c = conf(
        &site,
        port,
        "StartServers 3\nMinSpareServers 1\nMaxSpareServers 10",
    );
    three_graceful_restarts_under_load_fail_no_request(&site, &c, port);
}

#[test]
fn a_hard_restart_answers_again_within_2_s_twice_in_a_row() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "StartServers 2");
    hard_restarts_answer_within_2_s(&site, &c, port, 2);
}

#[test]
fn a_graceful_stop_removes_the_pid_file_at_once_and_finishes_the_request_in_flight() {
    let site = Site::new();
    let port = free_port();
    let c = conf(
        &site,
        port,
        "StartServers 2\nMinSpareServers 1\nMaxSpareServers 10",
    );
    let mut m = start(&site, &c);
    let kids = children(m.pid());
    // A slow client: half a request, then wait until a child reads it.
    let mut slow = connect(addr(port));
    slow.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    assert!(
        wait_for(5.0, || {
            let s = get(addr(port), "localhost", "/server-status?auto").text();
            s.lines()
                .find_map(|l| l.strip_prefix("Scoreboard: "))
                .is_some_and(|b| b.contains('R'))
        }),
        "no child reading the slow request"
    );
    m.signal(Signal::SIGWINCH);
    assert!(
        wait_for(1.0, || !site.pid_file().exists()),
        "the pid file is still there 1 s after SIGWINCH"
    );
    // The listeners are closed at once: a new client is refused, not left
    // waiting in a backlog that nobody will accept from.
    assert!(
        wait_for(1.0, || std::net::TcpStream::connect(addr(port)).is_err()),
        "new connections are still accepted 1 s after SIGWINCH"
    );
    slow.write_all(b"Connection: close\r\n\r\n").unwrap();
    let resp = read_response(&mut std::io::BufReader::new(slow), false);
    assert_eq!(resp.status, 200, "{}", m.stderr());
    assert_eq!(resp.text(), "<h1>home</h1>");
    assert!(m.wait_exit(10).success(), "{}", m.stderr());
    assert!(kids.iter().all(|p| !alive(*p)), "children left: {kids:?}");
}

#[test]
fn sigterm_stops_the_master_and_leaves_no_child() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "StartServers 4");
    let mut m = start(&site, &c);
    assert!(wait_for(5.0, || children(m.pid()).len() >= 4));
    let kids = children(m.pid());
    m.signal(Signal::SIGTERM);
    assert!(m.wait_exit(10).success(), "{}", m.stderr());
    assert!(
        wait_for(2.0, || kids.iter().all(|p| !alive(*p))),
        "children left after stop: {kids:?}"
    );
    assert!(!site.pid_file().exists());
}

#[test]
fn max_connections_per_child_replaces_children_without_failing_a_request() {
    let site = Site::new();
    let port = free_port();
    let c = conf(
        &site,
        port,
        "StartServers 2\nMinSpareServers 1\nMaxSpareServers 5\nMaxConnectionsPerChild 10",
    );
    max_connections_per_child_loses_nothing(&site, &c, port, 2);
}

#[test]
fn children_run_as_the_configured_user() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: `User` needs the tests to run as root");
        return;
    }
    let Ok(Some(nobody)) = nix::unistd::User::from_name("nobody") else {
        eprintln!("skipped: no user nobody on this system");
        return;
    };
    let site = Site::new();
    // Let the unprivileged children read the document root.
    use std::os::unix::fs::PermissionsExt;
    for d in [site.root().to_path_buf(), site.docroot()] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let port = free_port();
    let c = conf(&site, port, "StartServers 2\nUser nobody");
    let m = start(&site, &c);
    assert!(wait_for(5.0, || children(m.pid()).len() >= 2));
    assert_eq!(try_get(addr(port), "/"), Some(200), "{}", m.stderr());
    let uid_of = |pid: i32| ids_of(pid).map(|(uid, _)| uid);
    for kid in children(m.pid()) {
        assert_eq!(uid_of(kid), Some(nobody.uid.as_raw()), "child {kid}");
    }
    assert_eq!(uid_of(m.pid()), Some(0), "the master keeps its user");
}

/// An unknown `User` stops the server with an error that names it: the
/// master looks `User` up once, before it forks (as Apache reads it with
/// its configuration), so no child is started to fail.
#[test]
fn an_unknown_user_stops_the_server_before_any_child_with_an_error_naming_it() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: `User` is only applied when running as root");
        return;
    }
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "StartServers 2\nUser no-such-user-mpmd");
    let mut m = spawn(site.root(), &["-f", c.to_str().unwrap()]);
    let st = m.wait_exit(15);
    assert!(!st.success(), "mpmd exited with {st}; {}", m.stderr());
    let log = m.stderr();
    assert!(
        log.contains("looking up User and Group: User no-such-user-mpmd: no such user"),
        "{log}"
    );
    assert!(
        !log.contains("could not start"),
        "a child was started to fail: {log}"
    );
    assert!(!site.pid_file().exists());
}

#[test]
fn spares_grow_to_min_spare_servers_and_shrink_to_max_spare_servers() {
    let site = Site::new();
    let port = free_port();
    let c = conf(
        &site,
        port,
        "StartServers 1\nMinSpareServers 3\nMaxSpareServers 4",
    );
    let m = start(&site, &c);
    assert!(
        wait_for(3.5, || children(m.pid()).len() >= 3),
        "{:?} children after 3.5 s with MinSpareServers 3",
        children(m.pid())
    );
    drop(m);

    let site = Site::new();
    let port = free_port();
    let c = conf(
        &site,
        port,
        "StartServers 5\nMinSpareServers 1\nMaxSpareServers 2",
    );
    let m = start(&site, &c);
    assert!(wait_for(5.0, || children(m.pid()).len() == 5));
    // One idle child retired per second: 5 → 2 in about 3 s.
    assert!(
        wait_for(8.0, || children(m.pid()).len() == 2),
        "{:?} children with MaxSpareServers 2",
        children(m.pid())
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(children(m.pid()).len(), 2, "retired below MaxSpareServers");
}

#[test]
fn server_status_shows_the_processes_and_one_letter_per_slot() {
    let site = Site::new();
    let port = free_port();
    let c = conf(
        &site,
        port,
        "StartServers 3\nMinSpareServers 1\nMaxSpareServers 10\nServerLimit 5\nMaxRequestWorkers 5",
    );
    let m = start(&site, &c);
    assert!(wait_for(5.0, || children(m.pid()).len() == 3));
    // Wait until every child has reached its accept loop.
    let mut auto = String::new();
    let ready = wait_for(5.0, || {
        auto = get(addr(port), "localhost", "/server-status?auto").text();
        auto.lines()
            .find_map(|l| l.strip_prefix("Scoreboard: "))
            .is_some_and(|b| !b.contains('S'))
    });
    assert!(ready, "{auto}");
    let field = |name: &str| {
        auto.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(field("ServerMPM"), "prefork", "{auto}");
    assert_eq!(field("Processes"), "3", "{auto}");
    let board = field("Scoreboard");
    assert_eq!(board.len(), 5, "one letter per ServerLimit slot: {auto}");
    assert_eq!(board.matches('.').count(), 2, "{auto}");
    // The child answering us is busy with our request; the others wait.
    assert_eq!(board.matches(['R', 'W']).count(), 1, "{auto}");
    assert_eq!(board.matches('_').count(), 2, "{auto}");
}

#[test]
fn a_crash_loop_is_limited_to_one_start_a_second_with_one_warning() {
    let site = Site::new();
    let port = free_port();
    let c = conf(
        &site,
        port,
        "StartServers 1\nMinSpareServers 1\nMaxSpareServers 2",
    );
    let m = start(&site, &c);
    assert!(wait_for(5.0, || children(m.pid()).len() == 1));
    // Kill each child as soon as it appears: the first deaths are
    // replaced at once, then at most one start per second.
    let mut gaps = Vec::new();
    for _ in 0..8 {
        let kid = children(m.pid())[0];
        kill(Pid::from_raw(kid), Signal::SIGKILL).unwrap();
        let t = Instant::now();
        assert!(
            wait_for(3.0, || {
                let now = children(m.pid());
                now.len() == 1 && now[0] != kid
            }),
            "not replaced: {}",
            m.stderr()
        );
        gaps.push(t.elapsed());
    }
    let log = m.stderr();
    assert_eq!(
        log.matches("children are dying within 10 s of their start")
            .count(),
        1,
        "{log}"
    );
    assert!(
        gaps[..5].iter().all(|g| *g < Duration::from_millis(500)),
        "the first deaths were not replaced at once: {gaps:?}"
    );
    assert!(
        gaps[6..].iter().all(|g| *g >= Duration::from_millis(300)),
        "a crash loop was replaced at once: {gaps:?}"
    );
    assert_eq!(try_get(addr(port), "/"), Some(200));
}

#[test]
fn conflicting_directives_are_clamped_with_apaches_warnings_under_t() {
    let site = Site::new();
    let c = conf(
        &site,
        free_port(),
        "ServerLimit 10\nMaxRequestWorkers 50\nMinSpareServers 4\nMaxSpareServers 2",
    );
    let (code, _, err) = run(&["-t", "-f", c.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("MaxRequestWorkers of 50 exceeds ServerLimit value of 10 servers, decreasing MaxRequestWorkers to 10"),
        "{err}"
    );
    assert!(err.contains("MaxSpareServers of 2"), "{err}");
    assert!(err.contains("Syntax OK"), "{err}");
}

/// Alive and not a zombie.
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| r.split_whitespace().next() != Some("Z"))
        })
        .unwrap_or(false)
}

#[test]
fn children_leave_when_the_master_is_killed() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "StartServers 3");
    let mut m = start(&site, &c);
    assert!(wait_for(5.0, || children(m.pid()).len() >= 3));
    let kids = children(m.pid());
    m.signal(Signal::SIGKILL);
    m.wait_exit(5);
    // Their leave pipes' write ends were the master's alone: closed now.
    assert!(
        wait_for(3.0, || kids.iter().all(|p| !running(*p))),
        "orphaned children still running: {kids:?}"
    );
}

#[test]
fn ctrl_c_to_the_process_group_stops_through_the_master_without_killing_children_first() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "StartServers 3");
    let mut m = start(&site, &c);
    assert!(wait_for(5.0, || children(m.pid()).len() >= 3));
    let kids = children(m.pid());
    // What a terminal does on Ctrl-C: SIGINT to every process of the group
    // (the harness made mpmd the leader of its own group).
    kill(Pid::from_raw(-m.pid()), Signal::SIGINT).expect("signal the group");
    assert!(m.wait_exit(10).success(), "{}", m.stderr());
    assert!(
        wait_for(2.0, || kids.iter().all(|p| !alive(*p))),
        "children left: {kids:?}"
    );
    let log = m.stderr();
    assert!(
        !log.contains("exit signal"),
        "children died of the group signal instead of being stopped by the master:\n{log}"
    );
}

/// A kept connection to `port` after one answered request, for a test
/// that watches what the server does while it idles.
fn idle_keep_alive(port: u16) -> std::io::BufReader<std::net::TcpStream> {
    let mut c = connect(addr(port));
    c.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut r = std::io::BufReader::new(c);
    let resp = read_response(&mut r, false);
    assert_eq!(
        resp.status, 200,
        "the first request was answered {}",
        resp.status
    );
    r
}

/// Whether the connection behind `r` was closed by the server (end of
/// stream or reset) before its read timeout.
fn closed_by_server(r: &mut std::io::BufReader<std::net::TcpStream>) -> bool {
    use std::io::Read;
    let mut b = [0u8; 64];
    match r.read(&mut b) {
        Ok(0) => true,
        Ok(n) => panic!("the server sent {:?} on an idle connection", &b[..n]),
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// The system call a process is blocked in (`/proc/<pid>/syscall`'s first
/// field), `None` while it runs or when it is gone.
fn blocked_in(pid: i32) -> Option<i64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// As Apache's prefork children do, a child waits for the next request of
/// a keep-alive connection in the read itself (`recvfrom` bounded by a
/// receive timeout), not in a `poll` followed by the read: one system call
/// per request fewer.
#[test]
fn a_child_waits_for_the_next_keep_alive_request_in_a_read_not_a_poll() {
    let site = Site::new();
    let port = free_port();
    let c = conf(
        &site,
        port,
        "StartServers 1\nMinSpareServers 1\nMaxSpareServers 5\nKeepAliveTimeout 30",
    );
    let m = start(&site, &c);
    let mut r = idle_keep_alive(port);
    let recvfrom = nix::libc::SYS_recvfrom;
    let reading = || {
        children(m.pid())
            .into_iter()
            .any(|p| blocked_in(p) == Some(recvfrom))
    };
    assert!(
        wait_for(5.0, reading),
        "no child blocked in recvfrom ({recvfrom}) with an idle keep-alive connection; the children wait in {:?}",
        children(m.pid())
            .into_iter()
            .map(|p| (p, blocked_in(p)))
            .collect::<Vec<_>>()
    );
    // And the next request is read and answered from there.
    r.get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut r, false);
    assert_eq!(resp.status, 200, "{}", m.stderr());
    assert_eq!(resp.text(), "<h1>home</h1>");
}

/// The wait for the next request, read in slices, still ends at
/// `KeepAliveTimeout`, neither a slice early nor a slice late.
#[test]
fn an_idle_keep_alive_connection_closes_at_keep_alive_timeout() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "StartServers 1\nKeepAliveTimeout 2");
    let _m = start(&site, &c);
    let mut r = idle_keep_alive(port);
    let t = Instant::now();
    assert!(closed_by_server(&mut r), "not closed within 10 s");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_millis(3500),
        "closed after {took:?}, KeepAliveTimeout 2"
    );
}

/// A graceful restart closes an idle keep-alive connection of an old
/// child within a slice of its wait (a second; three allowed for a busy
/// machine), long before its `KeepAliveTimeout`, and the server answers
/// on a new connection.
#[test]
fn a_graceful_restart_closes_an_idle_keep_alive_connection_within_three_seconds() {
    let site = Site::new();
    let port = free_port();
    let c = conf(
        &site,
        port,
        "StartServers 2\nMinSpareServers 1\nMaxSpareServers 5\nKeepAliveTimeout 60",
    );
    let m = start(&site, &c);
    let mut r = idle_keep_alive(port);
    r.get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let t = Instant::now();
    m.signal(Signal::SIGUSR1);
    assert!(
        closed_by_server(&mut r),
        "the idle connection is still open 10 s after SIGUSR1; {}",
        m.stderr()
    );
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "closed {:?} after SIGUSR1, KeepAliveTimeout 60",
        t.elapsed()
    );
    assert!(
        wait_for(5.0, || try_get(addr(port), "/") == Some(200)),
        "no answer after the graceful restart; {}",
        m.stderr()
    );
}
