//! The worker strategy through the real `mpmd`: children of
//! `ThreadsPerChild` threads, spare threads kept between limits, deaths
//! and replacements, restarts under load, `MaxConnectionsPerChild`,
//! keep-alive connections held by threads, and the status page.
//!
//! Every test runs with small numbers: 4 threads per child, `ThreadLimit`
//! 6 (so the scoreboard shows two unused `.` slots per child), at most 4
//! children (`ServerLimit 4`, `MaxRequestWorkers 16`).

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;

/// Threads per child in every test.
const TPC: usize = 4;
/// `ThreadLimit` in every test: the scoreboard's slots per child.
const THREAD_LIMIT: usize = 6;
/// `ServerLimit` in every test.
const SERVER_LIMIT: usize = 4;

/// A worker configuration on `port` with extra directives after the
/// common ones (a later directive overrides an earlier one).
fn conf(site: &Site, port: u16, extra: &str) -> std::path::PathBuf {
    site.write("htdocs/index.html", "<h1>home</h1>");
    site.config(&format!(
        "LoadModule mpm_worker_module modules/mod_mpm_worker.so\n\
         Listen 127.0.0.1:{port}\nServerName localhost\nDocumentRoot {}\n\
         <Location /server-status>\nSetHandler server-status\n</Location>\n\
         StartServers 2\nThreadsPerChild {TPC}\nThreadLimit {THREAD_LIMIT}\nServerLimit {SERVER_LIMIT}\n\
         MaxRequestWorkers 16\nMinSpareThreads 2\nMaxSpareThreads 8\n{extra}\n",
        site.docroot().display()
    ))
}

/// The `Scoreboard:` line of `/server-status?auto`.
fn board(port: u16) -> String {
    status_field(port, "Scoreboard")
}

/// A keep-alive connection that got its first response: it holds a worker
/// thread until `KeepAliveTimeout`.
fn held(port: u16) -> BufReader<TcpStream> {
    let mut s = connect(addr(port));
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false);
    assert_eq!(resp.status, 200, "a held connection got {}", resp.status);
    r
}

#[test]
fn children_run_threads_per_child_workers_and_the_board_has_a_slot_per_thread() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "");
    let m = start(&site, &c);
    assert!(
        wait_for(5.0, || children(m.pid()).len() == 2),
        "children of the master: {:?}; {}",
        children(m.pid()),
        m.stderr()
    );
    assert!(m.stderr().contains("(worker MPM)"), "{}", m.stderr());
    for kid in children(m.pid()) {
        assert!(
            wait_for(5.0, || threads_of(kid) > TPC),
            "child {kid} has {} threads, expected {TPC} workers and its main thread",
            threads_of(kid)
        );
    }
    // The board holds every slot, ServerLimit × ThreadLimit: each child's
    // 4 workers, then 2 unused `.`; the two unused process slots all `.`.
    // Wait until every worker has started.
    let mut b = String::new();
    assert!(
        wait_for(5.0, || {
            b = board(port);
            b.len() == SERVER_LIMIT * THREAD_LIMIT && !b.contains('S')
        }),
        "board {b:?}"
    );
    let auto = get(addr(port), "localhost", "/server-status?auto").text();
    assert!(auto.contains("ServerMPM: worker"), "{auto}");
    // The thread answering us is busy with our request; 7 wait.
    assert_eq!(b.matches(['R', 'W']).count(), 1, "{b}");
    assert_eq!(b.matches('_').count(), 2 * TPC - 1, "{b}");
    assert_eq!(
        b.matches('.').count(),
        SERVER_LIMIT * THREAD_LIMIT - 2 * TPC,
        "{b}"
    );
    for (i, child) in b.as_bytes().chunks(THREAD_LIMIT).enumerate() {
        assert_eq!(
            &child[TPC..],
            b"..",
            "slots above ThreadsPerChild of child {i} are used: {b}"
        );
    }
    // Within the spare limits (8 idle, MaxSpareThreads 8): nothing changes.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(children(m.pid()).len(), 2, "{}", m.stderr());
}

#[test]
fn held_connections_make_the_master_start_children_up_to_max_request_workers() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "KeepAliveTimeout 20");
    let mut m = start(&site, &c);
    assert!(wait_for(5.0, || children(m.pid()).len() == 2));
    // 12 keep-alive connections hold 12 threads: the first 8 at once, the
    // others as children are added (fewer than MinSpareThreads idle). A
    // child whose threads are all busy must not accept the 9th: it would
    // sit in that child's queue behind connections held for 20 s, and
    // this read would time out.
    let t = Instant::now();
    let mut conns: Vec<_> = (0..12).map(|_| held(port)).collect();
    assert!(
        children(m.pid()).len() >= 3,
        "12 connections served by {:?}",
        children(m.pid())
    );
    // 12 busy of 12 or 16 threads: a fourth child follows.
    assert!(
        wait_for(5.0, || children(m.pid()).len() == SERVER_LIMIT),
        "{:?} children {:?} after 12 held connections; {}",
        children(m.pid()),
        t.elapsed(),
        m.stderr()
    );
    // Every thread held: the limit is reported, once.
    conns.extend((0..4).map(|_| held(port)));
    m.wait_log("server reached MaxRequestWorkers setting", 1);
    assert_eq!(children(m.pid()).len(), SERVER_LIMIT, "beyond ServerLimit");
    // Every thread is held, so the status page needs one let go first:
    // 15 threads keep their connections, one answers.
    conns.pop();
    let b = board(port);
    assert_eq!(b.matches('K').count(), 15, "{b}");
    assert_eq!(b.matches(['R', 'W']).count(), 1, "{b}");
    // Let go: the connections close and are served again by any thread.
    drop(conns);
    assert!(
        wait_for(5.0, || try_get(addr(port), "/") == Some(200)),
        "{}",
        m.stderr()
    );
    assert_eq!(
        m.stderr()
            .matches("server reached MaxRequestWorkers setting")
            .count(),
        1,
        "{}",
        m.stderr()
    );
}

#[test]
fn idle_children_beyond_max_spare_threads_are_retired_one_a_second() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "StartServers 4");
    let m = start(&site, &c);
    assert!(wait_for(5.0, || children(m.pid()).len() == 4));
    // 16 idle threads, MaxSpareThreads 8: two children go, 8 stay idle.
    assert!(
        wait_for(6.0, || children(m.pid()).len() == 2),
        "{:?} children with MaxSpareThreads 8; {}",
        children(m.pid()),
        m.stderr()
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(children(m.pid()).len(), 2, "retired below MaxSpareThreads");
    assert_eq!(try_get(addr(port), "/"), Some(200));
}

#[test]
fn a_busy_child_is_not_retired() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "StartServers 4\nKeepAliveTimeout 20");
    let m = start(&site, &c);
    assert!(wait_for(5.0, || children(m.pid()).len() == 4));
    // One connection held by some child. 15 idle threads, MaxSpareThreads
    // 8: idle children are retired down to 2 (7 idle), and the busy one
    // is never among them (retiring it would close the connection now).
    let conn = held(port);
    assert!(
        wait_for(6.0, || children(m.pid()).len() == 2),
        "{:?} children; {}",
        children(m.pid()),
        m.stderr()
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(children(m.pid()).len(), 2, "{}", m.stderr());
    let b = board(port);
    assert_eq!(
        b.matches('K').count(),
        1,
        "the held connection is gone: {b}"
    );
    // The held connection still works.
    let mut r = conn;
    r.get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut r, false).status, 200);
}

#[test]
fn a_killed_child_is_replaced_and_costs_at_most_its_own_connection() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "");
    kill_a_child_under_load(&site, &c, port, 2);
}

#[test]
fn graceful_restarts_under_load_fail_no_request() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "");
    three_graceful_restarts_under_load_fail_no_request(&site, &c, port);
}

#[test]
fn a_hard_restart_answers_again_within_2_s() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "");
    hard_restarts_answer_within_2_s(&site, &c, port, 2);
}

#[test]
fn sigterm_stops_the_master_and_leaves_no_child() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "StartServers 3\nKeepAliveTimeout 20");
    let mut m = start(&site, &c);
    assert!(wait_for(5.0, || children(m.pid()).len() == 3));
    // A held keep-alive connection does not keep a child alive.
    let conn = held(port);
    let kids = children(m.pid());
    m.signal(Signal::SIGTERM);
    assert!(m.wait_exit(10).success(), "{}", m.stderr());
    assert!(
        wait_for(2.0, || kids.iter().all(|p| !alive(*p))),
        "children left after stop: {kids:?}"
    );
    assert!(!site.pid_file().exists());
    drop(conn);
}

#[test]
fn max_connections_per_child_replaces_children_without_failing_a_request() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "MaxConnectionsPerChild 10");
    max_connections_per_child_loses_nothing(&site, &c, port, 2);
}

#[test]
fn an_idle_keep_alive_connection_holds_its_thread_until_keep_alive_timeout() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "KeepAliveTimeout 1");
    let m = start(&site, &c);
    assert!(wait_for(5.0, || children(m.pid()).len() == 2));
    assert!(wait_for(5.0, || !board(port).contains('S')));
    let mut conn = held(port);
    let t = Instant::now();
    // (The thread turns K a moment after the client has its response.)
    let mut b = String::new();
    assert!(
        wait_for(0.5, || {
            b = board(port);
            b.matches('K').count() == 1
        }),
        "the held thread is not K: {b}"
    );
    // The server closes it after about a second of silence.
    conn.get_mut()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut rest = Vec::new();
    let n = conn.read_to_end(&mut rest);
    let closed_after = t.elapsed();
    assert!(
        matches!(n, Ok(0)),
        "expected a clean close, got {n:?} {rest:?}"
    );
    assert!(
        closed_after >= Duration::from_millis(700) && closed_after < Duration::from_secs(3),
        "closed after {closed_after:?} with KeepAliveTimeout 1"
    );
    // Its thread is waiting again: every worker `_` but the one serving us.
    let mut b = String::new();
    assert!(
        wait_for(2.0, || {
            b = board(port);
            !b.contains('K') && b.matches('_').count() == 2 * TPC - 1
        }),
        "{b}; {}",
        m.stderr()
    );
}

/// The voluntary context switches of `pid`'s main thread (its thread
/// of the same id) so far.
fn main_thread_wake_ups(pid: i32) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn idle_worker_threads_accept_their_connections_while_the_childs_main_thread_sleeps() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "");
    let m = start(&site, &c);
    let mut b = String::new();
    assert!(
        wait_for(5.0, || {
            b = board(port);
            children(m.pid()).len() == 2 && b.matches('_').count() == 2 * TPC - 1
        }),
        "children {:?}, board {b:?}; {}",
        children(m.pid()),
        m.stderr()
    );
    let kids = children(m.pid());
    let before: Vec<u64> = kids.iter().map(|k| main_thread_wake_ups(*k)).collect();
    const CONNECTIONS: u64 = 20;
    for i in 0..CONNECTIONS {
        let r = get(addr(port), "localhost", "/");
        assert_eq!(
            r.status,
            200,
            "connection {i} got {}; {}",
            r.status,
            m.stderr()
        );
    }
    let woke: u64 = kids
        .iter()
        .zip(&before)
        .map(|(k, b)| main_thread_wake_ups(*k).saturating_sub(*b))
        .sum();
    // The main thread only waits for the child to leave; the worker the
    // kernel wakes accepts and serves, with no hand-off between threads.
    assert!(
        woke < CONNECTIONS / 4,
        "the children's main threads woke {woke} times for {CONNECTIONS} connections: \
         they take connections and hand them to the workers"
    );
    assert_eq!(children(m.pid()), kids, "children changed; {}", m.stderr());
}

#[test]
fn conflicting_thread_directives_are_clamped_with_apaches_warnings_under_t() {
    let site = Site::new();
    let c = conf(
        &site,
        free_port(),
        "ThreadsPerChild 8\nMaxRequestWorkers 28\nMaxSpareThreads 3",
    );
    let (code, _, err) = run(&["-t", "-f", c.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for w in [
        "ThreadsPerChild of 8 exceeds ThreadLimit of 6 threads, decreasing to 6",
        "MaxRequestWorkers of 28 is not an integer multiple of ThreadsPerChild of 6, decreasing to nearest multiple 24, for a maximum of 4 servers",
        "MaxSpareThreads of 3 is below MinSpareThreads of 2 plus ThreadsPerChild of 6, increasing to 8",
    ] {
        assert!(err.contains(w), "missing {w:?} in:\n{err}");
    }
    assert!(err.contains("Syntax OK"), "{err}");
}

/// glibc's `malloc` arenas of process `pid` besides the main one: each is
/// an anonymous mapping that starts on a 64 MiB boundary (glibc's
/// `HEAP_MAX_SIZE`: an arena reserves 64 MiB and maps what it uses).
fn malloc_arenas(pid: i32) -> usize {
    const HEAP_MAX: u64 = 64 << 20;
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let start = f
                .first()
                .and_then(|r| r.split('-').next())
                .and_then(|s| u64::from_str_radix(s, 16).ok());
            f.len() == 5 && f[1].starts_with("rw") && start.is_some_and(|s| s % HEAP_MAX == 0)
        })
        .count()
}

/// A worker child's threads share at most one `malloc` arena per CPU
/// (`mpm_core::process::malloc`): glibc would give each thread that
/// allocates an arena of its own, up to eight per CPU, and each keeps
/// the most it ever held (after TLS bursts, 130 to 290 KiB each, most of
/// it free). With more CPUs than this test's threads the cap is not
/// reached either way and the test cannot fail.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn a_worker_childs_threads_share_at_most_one_malloc_arena_per_cpu() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let site = Site::new();
    let port = free_port();
    let c = conf(
        &site,
        port,
        &format!("ThreadsPerChild {THREAD_LIMIT}\nStartServers 1\nMinSpareThreads 1"),
    );
    let m = start(&site, &c);
    assert!(
        wait_for(5.0, || !children(m.pid()).is_empty()),
        "no child; {}",
        m.stderr()
    );
    // Every worker thread serves a connection (and allocates for it).
    let held: Vec<_> = (0..THREAD_LIMIT).map(|_| held(port)).collect();
    for kid in children(m.pid()) {
        let arenas = malloc_arenas(kid);
        assert!(
            arenas < cpus,
            "child {kid} has {arenas} malloc arenas besides the main one for {cpus} CPUs, \
             expected at most {}",
            cpus - 1
        );
    }
    drop(held);
}
