//! Changing the MPM on a restart: `LoadModule mpm_<name>_module` changed,
//! then `SIGUSR1` (or `SIGHUP`), replaces the children with the new
//! strategy's while the old ones finish what they hold; the status page
//! follows. A switch that cannot happen keeps the running strategy and
//! says why in one line; `-X` never switches.

mod common;

use std::io::{Read, Write};
use std::path::PathBuf;

use common::*;
use nix::sys::signal::Signal;

/// A configuration of strategy `mpm` (the small shapes of
/// [`mpm_directives`]) on `port`, with the status page and `extra`
/// directives after the common ones; the home page is written the first
/// time only (a file rewritten under load would be answered short).
fn conf(site: &Site, port: u16, mpm: &str, extra: &str) -> PathBuf {
    if !site.docroot().join("index.html").exists() {
        site.write("htdocs/index.html", "<h1>home</h1>");
    }
    site.config(&format!(
        "{}Listen 127.0.0.1:{port}\nServerName localhost\nDocumentRoot {}\n\
         <Location /server-status>\nSetHandler server-status\n</Location>\n\
         KeepAliveTimeout 30\n{extra}\n",
        mpm_directives(mpm),
        site.docroot().display()
    ))
}

/// A configuration loading the one-process strategy (without `-X`).
fn single_conf(site: &Site, port: u16) -> PathBuf {
    site.config(&format!(
        "LoadModule mpm_single_module x\nListen 127.0.0.1:{port}\nServerName localhost\n\
         DocumentRoot {}\n<Location /server-status>\nSetHandler server-status\n</Location>\n",
        site.docroot().display()
    ))
}

/// The error lines of switches refused, in order.
fn refusals(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("cannot switch to the"))
        .collect()
}

/// The `ServerMPM` the status page names (on a new connection).
fn status_mpm(port: u16) -> String {
    status_field(port, "ServerMPM")
}

/// True when every child of `master` is of strategy `mpm`, told by its
/// threads: one for prefork, a listener or loop and workers for the
/// others.
fn children_are(master: i32, mpm: &str) -> bool {
    let kids = children(master);
    !kids.is_empty()
        && kids.iter().all(|&k| match mpm {
            "prefork" => threads_of(k) == 1,
            _ => threads_of(k) > 1,
        })
}

/// A download of the 10 MiB file through a small receive window, begun
/// and left unread: the child serving it is busy until the client reads.
fn begin_slow_download(port: u16) -> std::net::TcpStream {
    let s = small_window(addr(port));
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    (&s).write_all(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 1];
    (&s).read_exact(&mut first).expect("the download began");
    s
}

/// Read the rest of a download begun by [`begin_slow_download`] (its first
/// byte taken) and check every byte.
fn finish_slow_download(s: std::net::TcpStream, want: &[u8], what: &str) {
    let (head, body) = read_all(&s);
    let head = format!("H{head}");
    assert!(
        head.starts_with("HTTP/1.1 200 ") && body == want,
        "{what}: the download in flight during the switch ended with {} of {} bytes (head {head:?})",
        body.len(),
        want.len()
    );
}

#[test]
fn graceful_restarts_switch_prefork_to_worker_to_event_to_prefork_under_load_failing_no_request() {
    let site = Site::new();
    let port = free_port();
    let want = big_pattern();
    site.write("htdocs/big.bin", &want);
    let mut m = start(&site, &conf(&site, port, "prefork", ""));
    assert!(
        wait_for(10.0, || children_are(m.pid(), "prefork")),
        "no prefork children: {:?}; {}",
        children(m.pid()),
        m.stderr()
    );
    assert_eq!(status_mpm(port), "prefork");
    let load = MixedLoad::start(port, "/", 2, 2);
    assert!(wait_for(10.0, || load.ok() >= 50), "no requests served");
    let mut generation = 1;
    // Letters of the new strategy's board: ServerLimit rows of its own
    // length (worker and event: 4 servers of ThreadLimit 4, and one slot
    // more for event's loop; prefork: its default 256 servers of one).
    for (from, to, letters) in [
        ("prefork", "worker", 16),
        ("worker", "event", 20),
        ("event", "prefork", 256),
    ] {
        let old = children(m.pid());
        let slow = begin_slow_download(port);
        conf(&site, port, to, "");
        m.signal(Signal::SIGUSR1);
        generation += 1;
        m.wait_log("resuming normal operations", generation);
        assert!(
            m.stderr()
                .contains(&format!("switching from the {from} MPM to the {to} MPM")),
            "{}",
            m.stderr()
        );
        let mut named = String::new();
        assert!(
            wait_for(10.0, || {
                named = status_mpm(port);
                named == to
            }),
            "after switching from {from} to {to} the status page names {named:?}"
        );
        // The old child serving the download is still there: it finishes
        // the response before it leaves.
        assert!(
            old.iter().any(|&p| alive(p)),
            "every {from} child left with a download in flight: {old:?}"
        );
        // Both generations on the page: the old child (stopping) beside
        // the new ones, each numbered slot-generation.
        let html = get(addr(port), "localhost", "/server-status").text();
        let (old_gen, new_gen) = (generation - 1, generation);
        assert!(
            html.contains(&format!("-{old_gen}</b></td>"))
                && html.contains(&format!("-{new_gen}</b></td>"))
                && status_field(port, "Stopping") != "0",
            "while a {from} child finishes, the page does not show generations {old_gen} and {new_gen}:\n{html}"
        );
        let ok = load.ok();
        assert!(
            wait_for(10.0, || load.ok() >= ok + 50),
            "the load stalled after switching to {to}; {}",
            m.stderr()
        );
        finish_slow_download(slow, &want, &format!("{from} → {to}"));
        assert!(
            wait_for(10.0, || old.iter().all(|&p| !alive(p))),
            "{from} children {old:?} still alive after their download ended; children now {:?}",
            children(m.pid())
        );
        assert!(
            wait_for(10.0, || children_are(m.pid(), to)),
            "after switching to {to}, children {:?} with threads {:?}",
            children(m.pid()),
            children(m.pid())
                .iter()
                .map(|&k| threads_of(k))
                .collect::<Vec<_>>()
        );
        let mut board = String::new();
        assert!(
            wait_for(10.0, || {
                board = status_field(port, "Scoreboard");
                board.len() == letters && status_field(port, "Stopping") == "0"
            }),
            "after the {from} children left, the board is not {to}'s {letters} slots: {board}"
        );
    }
    let report = load.finish();
    assert!(
        report.failures.is_empty(),
        "{} requests failed ({} ok, {} retried on a new connection): {:?}; {}",
        report.failures.len(),
        report.ok,
        report.retried,
        report.failures,
        m.stderr()
    );
}

#[test]
fn a_hard_restart_switches_the_mpm_too() {
    let site = Site::new();
    let port = free_port();
    let mut m = start(&site, &conf(&site, port, "worker", ""));
    assert!(wait_for(10.0, || children_are(m.pid(), "worker")));
    let old = children(m.pid());
    conf(&site, port, "prefork", "");
    m.signal(Signal::SIGHUP);
    m.wait_log("resuming normal operations", 2);
    assert_eq!(status_mpm(port), "prefork", "{}", m.stderr());
    assert!(
        old.iter().all(|&p| !alive(p)),
        "worker children {old:?} outlived a hard restart"
    );
    assert!(
        wait_for(10.0, || children_are(m.pid(), "prefork")),
        "children {:?} after switching to prefork",
        children(m.pid())
    );
    assert_eq!(try_get(addr(port), "/"), Some(200));
}

#[test]
fn a_switch_that_cannot_happen_keeps_the_running_mpm_and_says_why_in_one_line() {
    let site = Site::new();
    let port = free_port();
    let limits = "ServerLimit 4\nMaxRequestWorkers 4\n";
    let mut m = start(&site, &conf(&site, port, "prefork", limits));
    assert!(wait_for(10.0, || children_are(m.pid(), "prefork")));
    // More process slots than the scoreboard made at start has.
    conf(
        &site,
        port,
        "worker",
        "ServerLimit 8\nMaxRequestWorkers 32\n",
    );
    m.signal(Signal::SIGUSR1);
    m.wait_log("resuming normal operations", 2);
    // The one-process strategy has no children to hand over to.
    single_conf(&site, port);
    m.signal(Signal::SIGUSR1);
    m.wait_log("resuming normal operations", 3);
    let log = m.stderr();
    let refused = refusals(&log);
    assert_eq!(refused.len(), 2, "{log}");
    assert!(
        refused[0].contains("the worker MPM")
            && refused[0].contains("8 processes")
            && refused[0].contains("the prefork MPM keeps running"),
        "{}",
        refused[0]
    );
    assert!(
        refused[1].contains("the single MPM")
            && refused[1].contains("the prefork MPM keeps running"),
        "{}",
        refused[1]
    );
    assert!(!log.contains("switching from"), "{log}");
    assert_eq!(status_mpm(port), "prefork");
    assert!(
        wait_for(10.0, || children_are(m.pid(), "prefork")),
        "children {:?}",
        children(m.pid())
    );
    assert_eq!(try_get(addr(port), "/"), Some(200));
}

#[test]
fn mpmd_x_never_switches() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "prefork", "");
    let mut m = start_args(&site, &["-X", "-f", c.to_str().unwrap()]);
    assert_eq!(status_mpm(port), "single");
    conf(&site, port, "worker", "");
    m.signal(Signal::SIGUSR1);
    m.wait_log("resuming normal operations", 2);
    assert_eq!(status_mpm(port), "single", "{}", m.stderr());
    assert!(children(m.pid()).is_empty(), "{:?}", children(m.pid()));
    assert!(!m.stderr().contains("switch"), "{}", m.stderr());
}

/// Every prefork child busy with a download when the switch comes, in the
/// slots the new strategy's `MaxRequestWorkers` alone would allow: the new
/// children start in the free slots beside them (`ServerLimit` above
/// `MaxRequestWorkers / ThreadsPerChild` is room for finishing children,
/// as in Apache's event MPM), so new clients are served while the old
/// children finish.
#[test]
fn new_children_start_beside_old_ones_that_hold_as_many_slots_as_the_new_mpm_may_run() {
    let site = Site::new();
    let port = free_port();
    let want = big_pattern();
    site.write("htdocs/big.bin", &want);
    let limits = "ServerLimit 8\nMaxRequestWorkers 4\n";
    let mut m = start(&site, &conf(&site, port, "prefork", limits));
    // One download per prefork child, up to MaxRequestWorkers.
    let downloads: Vec<_> = (0..4).map(|_| begin_slow_download(port)).collect();
    let old = children(m.pid());
    assert_eq!(old.len(), 4, "prefork children: {old:?}");
    // Event may run 16 / 4 = 4 children: as many as the old ones hold.
    conf(&site, port, "event", "ServerLimit 8\n");
    m.signal(Signal::SIGUSR1);
    m.wait_log("resuming normal operations", 2);
    assert_eq!(
        try_get(addr(port), "/"),
        Some(200),
        "no new child served while the old ones finish; children {:?}; {}",
        children(m.pid()),
        m.stderr()
    );
    assert_eq!(status_mpm(port), "event");
    assert!(
        old.iter().all(|&p| alive(p)),
        "an old child left with its download unfinished: {old:?}"
    );
    for (i, d) in downloads.into_iter().enumerate() {
        finish_slow_download(d, &want, &format!("download {i}"));
    }
    assert!(
        wait_for(10.0, || old.iter().all(|&p| !alive(p))),
        "prefork children {old:?} still alive after their downloads ended"
    );
    assert!(
        wait_for(10.0, || children_are(m.pid(), "event")),
        "children {:?} after switching to event",
        children(m.pid())
    );
}

/// The scoreboard mapping of process `pid`: (size, resident) in kB. The
/// shared anonymous mappings (`/dev/zero` in `smaps`) are the board and
/// the lifetime counters (under 1 MB); the board is the largest.
fn board_kb(pid: i32) -> Option<(u64, u64)> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
    let mut found: Vec<(u64, u64)> = Vec::new();
    let mut lines = smaps.lines();
    while let Some(line) = lines.next() {
        let head: Vec<&str> = line.split_whitespace().collect();
        if head.get(1) != Some(&"rw-s") || !line.contains("zero") {
            continue;
        }
        let (mut size, mut rss) = (None, None);
        for field in lines.by_ref() {
            let kb = || field.split_whitespace().nth(1)?.parse::<u64>().ok();
            if field.starts_with("Size:") {
                size = kb();
            } else if field.starts_with("Rss:") {
                rss = kb();
            }
            if size.is_some() && rss.is_some() {
                break;
            }
        }
        found.extend(size.zip(rss));
    }
    found.into_iter().max_by_key(|&(size, _)| size)
}

/// The board made at start holds the largest shape of every strategy
/// (prefork's 256 servers of event's 65 slots: 5 MB); the status page,
/// before and after a switch, reads the rows that were used, not the
/// whole board, so a child that answers it keeps the rest untouched.
#[test]
fn the_status_page_leaves_the_rows_nobody_used_untouched_before_and_after_a_switch() {
    let site = Site::new();
    let port = free_port();
    let mut m = start(&site, &conf(&site, port, "prefork", ""));
    assert!(wait_for(10.0, || children_are(m.pid(), "prefork")));
    // Prefork's page shows its 256 rows of one slot: a row no child used
    // is shown without reading it.
    for _ in 0..10 {
        assert_eq!(status_mpm(port), "prefork");
    }
    for pid in children(m.pid()) {
        let (size, rss) = board_kb(pid).expect("the scoreboard mapping in smaps");
        assert!(
            rss * 16 < size,
            "prefork child {pid} has {rss} kB of the {size} kB board resident"
        );
    }
    // Event's default ThreadLimit: rows of 65 slots.
    conf(&site, port, "event", "ThreadLimit 64\n");
    m.signal(Signal::SIGUSR1);
    m.wait_log("resuming normal operations", 2);
    assert!(
        wait_for(10.0, || children_are(m.pid(), "event")),
        "children {:?}",
        children(m.pid())
    );
    // Asked on new connections, so every child may answer some.
    for _ in 0..20 {
        assert_eq!(status_mpm(port), "event");
    }
    for pid in children(m.pid()) {
        let (size, rss) = board_kb(pid).expect("the scoreboard mapping in smaps");
        assert!(size > 4096, "a board of {size} kB, not the largest shape");
        assert!(
            rss * 4 < size,
            "child {pid} has {rss} kB of the {size} kB board resident"
        );
    }
}

/// `LoadModule mpm_single_module` (without `-X`) serves in the master
/// itself, on a scoreboard of one slot: a restart that loads a forking
/// MPM keeps it, saying why, rather than running that MPM within one slot.
#[test]
fn a_server_started_with_the_single_mpm_keeps_it_on_a_restart_that_loads_another() {
    let site = Site::new();
    let port = free_port();
    let mut m = start(&site, &single_conf(&site, port));
    assert_eq!(status_mpm(port), "single");
    conf(&site, port, "prefork", "");
    m.signal(Signal::SIGUSR1);
    m.wait_log("resuming normal operations", 2);
    let log = m.stderr();
    let refused = refusals(&log);
    assert!(
        refused.len() == 1
            && refused[0].contains("the prefork MPM")
            && refused[0].contains("the single MPM keeps running"),
        "{log}"
    );
    assert_eq!(status_mpm(port), "single", "{log}");
    assert!(children(m.pid()).is_empty(), "{:?}", children(m.pid()));
    assert_eq!(try_get(addr(port), "/"), Some(200));
}
