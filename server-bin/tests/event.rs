//! The event strategy through the real `mpmd`: a child's event loop holds
//! idle keep-alive connections, slow clients and slow readers without a
//! worker thread; signals under load; running out of descriptors;
//! pipelining; a killed child; `MaxConnectionsPerChild`.
//!
//! Every test runs with 4 threads per child. The heavy ones (thousands of
//! connections) take a lock so they do not run at the same time.

mod common;

use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;

/// Threads per child in every test.
const TPC: usize = 4;

/// Taken by the tests that hold hundreds or thousands of connections.
static HEAVY: Mutex<()> = Mutex::new(());

fn heavy() -> MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// An event configuration on `port` (two children of 4 threads, at most
/// four), with extra directives after the common ones (a later directive
/// overrides an earlier one).
fn conf(site: &Site, port: u16, extra: &str) -> PathBuf {
    site.write("htdocs/index.html", "<h1>home</h1>");
    site.config(&format!(
        "LoadModule mpm_event_module modules/mod_mpm_event.so\n\
         Listen 127.0.0.1:{port}\nServerName localhost\nDocumentRoot {}\n\
         <Location /server-status>\nSetHandler server-status\n</Location>\n\
         StartServers 2\nThreadsPerChild {TPC}\nThreadLimit {TPC}\nServerLimit 4\n\
         MaxRequestWorkers 16\nMinSpareThreads 2\nMaxSpareThreads 8\n{extra}\n",
        site.docroot().display()
    ))
}

/// One child of 4 threads and never more (`ServerLimit 1`).
fn one_child(site: &Site, port: u16, extra: &str) -> PathBuf {
    conf(
        site,
        port,
        &format!(
            "StartServers 1\nServerLimit 1\nMaxRequestWorkers {TPC}\nMinSpareThreads 1\n{extra}"
        ),
    )
}

/// `/server-status?auto`.
fn auto(port: u16) -> String {
    get(addr(port), "localhost", "/server-status?auto").text()
}

/// A numeric field of `?auto`; fails naming the field and the page.
fn field(auto: &str, name: &str) -> u64 {
    let prefix = format!("{name}: ");
    auto.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no numeric {name} in:\n{auto}"))
}

/// Raise this process's open-file soft limit to its hard limit (the
/// servers it starts inherit it) and return the new soft limit.
fn raise_nofile() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    hard
}

/// A line `name:  1234 kB` of `/proc/PID/status`, in KiB.
fn proc_status_kib(pid: i32, name: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim_start_matches(':').split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {name} for process {pid}"))
}

/// User plus system CPU time of `pid`, in clock ticks (`/proc/PID/stat`).
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    // After the comm: state(3) ppid(4) … utime(14) stime(15).
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

/// Clock ticks per second.
fn ticks_per_sec() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(t).unwrap_or(100).max(1)
}

/// The only child of a one-child server.
fn only_child(m: &Mpmd) -> i32 {
    let mut kids = Vec::new();
    assert!(
        wait_for(5.0, || {
            kids = children(m.pid());
            kids.len() == 1
        }),
        "expected one child, got {kids:?}; {}",
        m.stderr()
    );
    kids[0]
}

/// A keep-alive request on `s`, answered `status`.
fn request_on(s: &TcpStream, path: &str, status: u16) {
    let mut w = s;
    w.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .unwrap();
    let resp = read_response(&mut BufReader::with_capacity(1024, s), false);
    assert_eq!(resp.status, status, "GET {path} on a held connection");
    assert!(!resp.closes(), "the server closes a keep-alive connection");
}

/// A connection that got one response and is now idle in keep-alive.
fn idle_keep_alive(port: u16, path: &str, status: u16) -> TcpStream {
    let s = connect(addr(port));
    request_on(&s, path, status);
    s
}

/// Whether the server closed `s`: a non-blocking peek sees EOF (or a
/// reset, which is also reported).
fn closed(s: &TcpStream) -> Result<bool, std::io::Error> {
    s.set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    let r = match s.peek(&mut b) {
        Ok(0) => Ok(true),
        Ok(_) => Ok(false),
        Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    };
    s.set_nonblocking(false).unwrap();
    r
}

/// Where the first difference between `got` and `want` is.
fn first_difference(got: &[u8], want: &[u8]) -> Option<usize> {
    got.iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .or((got.len() != want.len()).then(|| got.len().min(want.len())))
}

// ----- holding connections without threads -------------------------------

#[test]
fn five_thousand_idle_keep_alive_connections_hold_no_worker_while_others_are_served() {
    let _heavy = heavy();
    const N: usize = 5000;
    let limit = raise_nofile();
    assert!(
        limit >= 2 * N as u64 + 200,
        "the hard open-file limit {limit} is too low for {N} connections on both ends"
    );
    let site = Site::new();
    let port = free_port();
    let c = one_child(&site, port, "KeepAliveTimeout 60\nListenBacklog 1024");
    let mut m = spawn_with_nofile(site.root(), &["-f", c.to_str().unwrap()], Some(12_000));
    m.wait_log("resuming normal operations", 1);
    let kid = only_child(&m);
    for _ in 0..20 {
        assert_eq!(try_get(addr(port), "/"), Some(200));
    }
    let rss_before = proc_status_kib(kid, "VmRSS");
    let t = Instant::now();
    let held: Vec<TcpStream> = (0..N).map(|_| idle_keep_alive(port, "/", 200)).collect();
    let opened = t.elapsed();
    // Others are served at once, by the same child and its 4 threads.
    let t = Instant::now();
    let answered = (0..100)
        .filter(|_| try_get(addr(port), "/") == Some(200))
        .count();
    assert_eq!(answered, 100, "{}", m.stderr());
    let others = t.elapsed();
    let mut page = String::new();
    assert!(
        wait_for(5.0, || {
            page = auto(port);
            field(&page, "ConnsAsyncKeepAlive") >= N as u64
        }),
        "{N} idle connections, status says:\n{page}"
    );
    assert!(field(&page, "ConnsTotal") >= N as u64, "{page}");
    assert_eq!(field(&page, "Processes"), 1, "{page}");
    // The status request itself is the one busy worker.
    assert!(field(&page, "BusyWorkers") <= 1, "{page}");
    assert!(field(&page, "IdleWorkers") >= TPC as u64 - 1, "{page}");
    let rss_after = proc_status_kib(kid, "VmRSS");
    let per_conn = rss_after.saturating_sub(rss_before) * 1024 / N as u64;
    eprintln!(
        "{N} idle keep-alive connections: opened in {opened:?}, 100 others served in {others:?}; \
         child RSS {rss_before} KiB -> {rss_after} KiB ({per_conn} bytes per connection)"
    );
    assert!(
        per_conn < 16 * 1024,
        "the child grew {per_conn} bytes per idle connection ({rss_before} -> {rss_after} KiB)"
    );
    // Every one is still open, and still answers.
    let gone: Vec<usize> = held
        .iter()
        .enumerate()
        .filter(|(_, s)| !matches!(closed(s), Ok(false)))
        .map(|(i, _)| i)
        .collect();
    assert!(
        gone.is_empty(),
        "{} of {N} idle connections were closed (first: {:?}); {}",
        gone.len(),
        &gone[..gone.len().min(10)],
        m.stderr()
    );
    for i in [0, N / 2, N - 1] {
        request_on(&held[i], "/", 200);
    }
}

#[test]
fn slowloris_heads_hold_no_worker_and_each_gets_408_at_the_header_deadline() {
    let _heavy = heavy();
    const N: usize = 500;
    raise_nofile();
    let site = Site::new();
    let port = free_port();
    let c = one_child(
        &site,
        port,
        "RequestReadTimeout header=2\nListenBacklog 1024",
    );
    let m = start(&site, &c);
    only_child(&m);
    // A head that never ends within the test: one byte every 300 ms.
    let head = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: the rest of this header never comes";
    struct Slow {
        s: TcpStream,
        at: Instant,
        sent: usize,
        got: Vec<u8>,
        eof: Option<Instant>,
        err: Option<std::io::Error>,
    }
    let mut slow: Vec<Slow> = (0..N)
        .map(|_| {
            let s = connect(addr(port));
            s.set_nonblocking(true).unwrap();
            Slow {
                s,
                at: Instant::now(),
                sent: 0,
                got: Vec::new(),
                eof: None,
                err: None,
            }
        })
        .collect();
    let normal = Load::start(port, 100_000);
    let t = Instant::now();
    let mut next_byte = t;
    let mut busy_seen = Vec::new();
    let mut buf = [0u8; 4096];
    while t.elapsed() < Duration::from_secs(8) && slow.iter().any(|c| c.eof.is_none()) {
        let now = Instant::now();
        let write = now >= next_byte;
        if write {
            next_byte += Duration::from_millis(300);
        }
        for c in slow
            .iter_mut()
            .filter(|c| c.eof.is_none() && c.err.is_none())
        {
            if write && c.sent < head.len() {
                match (&c.s).write(&head[c.sent..c.sent + 1]) {
                    Ok(n) => c.sent += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => c.err = Some(e),
                }
            }
            loop {
                match (&c.s).read(&mut buf) {
                    Ok(0) => {
                        c.eof = Some(Instant::now());
                        break;
                    }
                    Ok(n) => c.got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => {
                        c.err = Some(e);
                        break;
                    }
                }
            }
        }
        // While they are held (before the deadline), the status page
        // shows no worker busy for them: at most the status request and
        // the normal client's request.
        if t.elapsed() < Duration::from_millis(1500) {
            let page = auto(port);
            busy_seen.push(field(&page, "BusyWorkers"));
            assert!(
                field(&page, "ConnsTotal") >= N as u64,
                "the slow clients are not held:\n{page}"
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (ok, failed) = normal.finish();
    assert!(!busy_seen.is_empty());
    // The status request and the normal client's; a worker that sent the
    // previous page may still be finishing with it: never all 4 threads,
    // and mostly no more than 2.
    let low = busy_seen.iter().filter(|&&b| b <= 2).count();
    assert!(
        busy_seen.iter().all(|&b| b < TPC as u64) && low * 10 >= busy_seen.len() * 8,
        "busy workers while {N} slow heads were held: {busy_seen:?}"
    );
    assert_eq!(
        failed, 0,
        "the normal client failed {failed} times ({ok} ok)"
    );
    assert!(ok >= 10, "the normal client got only {ok} answers");
    let mut wrong = Vec::new();
    for (i, c) in slow.iter().enumerate() {
        let text = String::from_utf8_lossy(&c.got);
        let after = c.eof.map(|e| e - c.at);
        let fine = text.starts_with("HTTP/1.1 408 ")
            && c.err.is_none()
            && after.is_some_and(|a| {
                a >= Duration::from_millis(1900) && a <= Duration::from_millis(3500)
            });
        if !fine {
            wrong.push(format!(
                "#{i}: {:?} eof after {after:?} error {:?}",
                text.lines().next(),
                c.err
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {N} slow clients were not answered 408 then closed 2-3.5 s after connecting: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
}

#[test]
fn a_slow_reader_of_a_10_mib_file_holds_no_worker_and_gets_every_byte() {
    let site = Site::new();
    let port = free_port();
    let want = big_pattern();
    site.write("htdocs/big.bin", &want);
    let c = one_child(&site, port, "Timeout 20");
    let m = start(&site, &c);
    only_child(&m);
    let t = Instant::now();
    let s = small_window(addr(port));
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    (&s).write_all(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    // The client reads nothing: the loop finishes the response, no worker.
    let mut page = String::new();
    assert!(
        wait_for(5.0, || {
            page = auto(port);
            field(&page, "ConnsAsyncWriting") >= 1 && field(&page, "BusyWorkers") <= 1
        }),
        "a response the client does not read, status:\n{page}"
    );
    std::thread::sleep(Duration::from_millis(1000));
    let page = auto(port);
    assert!(field(&page, "ConnsAsyncWriting") >= 1, "{page}");
    assert!(field(&page, "BusyWorkers") <= 1, "{page}");
    // Now it reads everything.
    let (head, body) = read_all(&s);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-length: {BIG}")),
        "{head}"
    );
    assert_eq!(
        first_difference(&body, &want),
        None,
        "the body ({} bytes) differs from the 10 MiB file",
        body.len()
    );
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    let mut page = String::new();
    assert!(
        wait_for(3.0, || {
            page = auto(port);
            field(&page, "ConnsAsyncWriting") == 0
        }),
        "{page}"
    );
}

#[test]
fn the_status_page_shows_each_childs_connections_and_accepting() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "KeepAliveTimeout 20");
    let m = start(&site, &c);
    assert!(wait_for(5.0, || children(m.pid()).len() == 2));
    let _held: Vec<TcpStream> = (0..3).map(|_| idle_keep_alive(port, "/", 200)).collect();
    let mut page = String::new();
    assert!(
        wait_for(3.0, || {
            page = auto(port);
            field(&page, "ConnsAsyncKeepAlive") == 3
        }),
        "{page}"
    );
    assert!(page.contains("ServerMPM: event"), "{page}");
    // The sum row: 2 processes, none stopping, 4 connections (3 held and
    // ours), 1 busy (the loop's own slot, answering this GET itself), the
    // 8 workers idle, 0 writing, 3 keep-alive, 0 closing. (The slot that
    // sent the last page may still be finishing with its connection a
    // moment after the client has the page: ask again.)
    let sum = "<tr><td>Sum</td><td>2</td><td>0</td><td>4</td><td>&nbsp;</td>\
               <td>1</td><td>8</td><td>0</td><td>3</td><td>0</td></tr>";
    let mut html = String::new();
    assert!(
        wait_for(3.0, || {
            html = get(addr(port), "localhost", "/server-status").text();
            html.contains(sum)
        }),
        "no {sum:?} in:\n{html}"
    );
    for kid in children(m.pid()) {
        let row = format!("<td>{kid}</td><td>no</td>");
        assert!(
            html.contains(&row),
            "no row {row:?} for child {kid}:\n{html}"
        );
    }
    for th in [
        "<th>accepting</th>",
        "<th>keep-alive</th>",
        "<th>writing</th>",
        "<th>closing</th>",
    ] {
        assert!(html.contains(th), "no {th} in:\n{html}");
    }
    assert_eq!(html.matches("<td>yes</td>").count(), 2, "{html}");
}

// ----- signals ----------------------------------------------------------

#[test]
fn graceful_restarts_under_load_fail_no_request() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "");
    three_graceful_restarts_under_load_fail_no_request(&site, &c, port);
}

#[test]
fn a_graceful_restart_closes_idle_keep_alive_connections_with_eof_and_loses_no_request() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "KeepAliveTimeout 30");
    let mut m = start(&site, &c);
    assert!(wait_for(5.0, || children(m.pid()).len() == 2));
    let held: Vec<TcpStream> = (0..20).map(|_| idle_keep_alive(port, "/", 200)).collect();
    let load = Load::start(port, 100_000);
    assert!(wait_for(5.0, || load.ok() >= 20), "no requests served");
    m.signal(Signal::SIGUSR1);
    m.wait_log("resuming normal operations", 2);
    for (i, s) in held.iter().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut rest = Vec::new();
        let r = (&*s).read_to_end(&mut rest);
        assert!(
            matches!(r, Ok(0)),
            "idle connection #{i} after a graceful restart: {r:?} {rest:?} (want a clean EOF)"
        );
    }
    let ok = load.ok();
    assert!(wait_for(5.0, || load.ok() >= ok + 30), "{}", m.stderr());
    let (ok, failed) = load.finish();
    assert_eq!(failed, 0, "{failed} failed, {ok} ok; {}", m.stderr());
}

#[test]
fn a_hard_restart_answers_again_within_2_s() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "");
    hard_restarts_answer_within_2_s(&site, &c, port, 2);
}

#[test]
fn a_graceful_stop_finishes_a_half_read_head_and_a_slow_download_and_closes_idle_ones() {
    let site = Site::new();
    let port = free_port();
    let want = big_pattern();
    site.write("htdocs/big.bin", &want);
    let c = conf(&site, port, "KeepAliveTimeout 30\nTimeout 20");
    let mut m = start(&site, &c);
    assert!(wait_for(5.0, || children(m.pid()).len() == 2));
    let kids = children(m.pid());
    let idle = idle_keep_alive(port, "/", 200);
    // Half a head, held by a loop.
    let mut half = connect(addr(port));
    half.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    // A download the client does not read yet, finished by a loop.
    let slow = small_window(addr(port));
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    (&slow)
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    assert!(
        wait_for(5.0, || {
            page = auto(port);
            field(&page, "ConnsAsyncWriting") == 1 && field(&page, "ConnsTotal") >= 4
        }),
        "the half head and the download are not both held:\n{page}"
    );
    m.signal(Signal::SIGWINCH);
    // The idle one is closed politely.
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    let r = (&idle).read_to_end(&mut rest);
    assert!(matches!(r, Ok(0)), "idle connection: {r:?} {rest:?}");
    assert!(
        wait_for(1.0, || !site.pid_file().exists()),
        "the pid file is still there 1 s after SIGWINCH"
    );
    assert!(
        wait_for(1.0, || TcpStream::connect(addr(port)).is_err()),
        "new connections are still accepted 1 s after SIGWINCH"
    );
    std::thread::sleep(Duration::from_millis(500));
    // Both in-flight ones complete.
    half.write_all(b"\r\n").unwrap();
    let resp = read_response(&mut BufReader::new(&half), false);
    assert_eq!(resp.status, 200, "{}", m.stderr());
    assert_eq!(resp.text(), "<h1>home</h1>");
    let (head, body) = read_all(&slow);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert_eq!(
        first_difference(&body, &want),
        None,
        "the download ({} bytes) differs from the file",
        body.len()
    );
    assert!(m.wait_exit(10).success(), "{}", m.stderr());
    assert!(kids.iter().all(|p| !alive(*p)), "children left: {kids:?}");
}

#[test]
fn sigterm_stops_the_master_and_leaves_no_child() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "StartServers 3\nKeepAliveTimeout 20");
    let mut m = start(&site, &c);
    assert!(wait_for(5.0, || children(m.pid()).len() == 3));
    // Held keep-alive connections and half a head keep no child alive.
    let _held: Vec<TcpStream> = (0..5).map(|_| idle_keep_alive(port, "/", 200)).collect();
    let mut half = connect(addr(port));
    half.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let kids = children(m.pid());
    let t = Instant::now();
    m.signal(Signal::SIGTERM);
    assert!(m.wait_exit(10).success(), "{}", m.stderr());
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(
        wait_for(2.0, || kids.iter().all(|p| !alive(*p))),
        "children left after stop: {kids:?}"
    );
    assert!(!site.pid_file().exists());
}

// ----- running out of descriptors ----------------------------------------

/// Error-log lines at `error` or `warn` level.
fn complaints(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(":error]") || l.contains(":warn]"))
        .map(str::to_string)
        .collect()
}

/// `n` idle keep-alive connections (each answered `GET path` with
/// `status`), each opened once the loop holds the one before in
/// keep-alive: a worker hands a connection back after the client has its
/// response, so without the wait two could enter keep-alive out of order.
fn idle_in_order(port: u16, n: usize, path: &str, status: u16) -> Vec<TcpStream> {
    let mut idle = Vec::new();
    for i in 0..n {
        idle.push(idle_keep_alive(port, path, status));
        let mut page = String::new();
        assert!(
            wait_for(3.0, || {
                page = auto(port);
                field(&page, "ConnsAsyncKeepAlive") == i as u64 + 1
            }),
            "{} idle connections, status:\n{page}",
            i + 1
        );
    }
    idle
}

/// Open `count` connections that send nothing, one at a time, checking
/// after each that the closed ones among `idle` are its oldest (a prefix).
fn crowd_out(port: u16, idle: &[TcpStream], count: usize) -> Vec<TcpStream> {
    let mut crowd = Vec::new();
    for i in 0..count {
        crowd.push(connect(addr(port)));
        std::thread::sleep(Duration::from_millis(40));
        let state: Vec<bool> = idle
            .iter()
            .enumerate()
            .map(|(k, s)| {
                closed(s).unwrap_or_else(|e| panic!("idle connection #{k} was reset: {e}"))
            })
            .collect();
        let open_from = state.iter().position(|c| !c).unwrap_or(state.len());
        assert!(
            state[open_from..].iter().all(|c| !c),
            "after {} silent connections the closed idle ones are not the oldest: {state:?}",
            i + 1
        );
    }
    crowd
}

#[test]
fn emfile_under_a_low_ulimit_closes_the_oldest_idle_first_logs_once_and_recovers() {
    let site = Site::new();
    let port = free_port();
    // The silent connections below must be accepted (and take
    // descriptors) before they send: no TCP_DEFER_ACCEPT.
    let c = one_child(&site, port, "KeepAliveTimeout 30\nAcceptFilter http none");
    // A child holds about 16 descriptors of its own (stdio, log, listener,
    // pipes, epoll, waker), so 30 leaves room for about 14 connections:
    // fewer than the loop's own floor of 16, so `accept` does fail with
    // EMFILE.
    let mut m = spawn_with_nofile(site.root(), &["-f", c.to_str().unwrap()], Some(30));
    m.wait_log("resuming normal operations", 1);
    let kid = only_child(&m);
    assert_eq!(try_get(addr(port), "/"), Some(200), "{}", m.stderr());
    let before = complaints(&m.stderr()).len();
    // Idle keep-alive connections (answered 404: no file is opened).
    let idle = idle_in_order(port, 6, "/missing", 404);
    // Silent connections until every idle one was closed for them, and
    // more that cannot be taken at all.
    let crowd = crowd_out(port, &idle, 30);
    assert!(
        wait_for(3.0, || idle.iter().all(|s| closed(s).unwrap_or(true))),
        "idle keep-alive connections kept while descriptors ran out"
    );
    // Starved: no busy loop.
    let cpu = cpu_ticks(kid);
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(kid) - cpu;
    assert!(
        used * 1000 / ticks_per_sec() < 250,
        "the child used {used} ticks of CPU in 2 s while out of descriptors"
    );
    assert!(alive(kid) && alive(m.pid()), "{}", m.stderr());
    // What was logged while starved, checked last.
    let new = complaints(&m.stderr()).split_off(before);
    // The clients leave: new requests are served again.
    drop(crowd);
    assert!(
        wait_for(5.0, || try_get(addr(port), "/") == Some(200)),
        "not serving again after the clients left; {}",
        m.stderr()
    );
    for _ in 0..20 {
        assert_eq!(try_get(addr(port), "/"), Some(200), "{}", m.stderr());
    }
    assert_eq!(children(m.pid()), vec![kid], "{}", m.stderr());
    assert!(
        new.iter().any(|l| l.contains("Too many open files")),
        "{new:#?}"
    );
    assert_eq!(
        new.len(),
        1,
        "want the accept failure logged once while starved, got: {new:#?}"
    );
}

#[test]
fn beyond_the_descriptor_budget_under_ulimit_64_accepting_pauses_without_spinning_logs_once_and_recovers(
) {
    let site = Site::new();
    let port = free_port();
    // The silent connections below must be accepted (and take
    // descriptors) before they send: no TCP_DEFER_ACCEPT.
    let c = one_child(&site, port, "KeepAliveTimeout 30\nAcceptFilter http none");
    let mut m = spawn_with_nofile(site.root(), &["-f", c.to_str().unwrap()], Some(64));
    m.wait_log("resuming normal operations", 1);
    let kid = only_child(&m);
    assert_eq!(try_get(addr(port), "/"), Some(200), "{}", m.stderr());
    let before = complaints(&m.stderr()).len();
    let idle = idle_in_order(port, 6, "/", 200);
    // More silent connections than the child may hold under 64.
    let crowd = crowd_out(port, &idle, 60);
    assert!(
        wait_for(3.0, || idle.iter().all(|s| closed(s).unwrap_or(true))),
        "idle keep-alive connections kept while the descriptor budget ran out"
    );
    let cpu = cpu_ticks(kid);
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(kid) - cpu;
    assert!(
        used * 1000 / ticks_per_sec() < 250,
        "the child used {used} ticks of CPU in 2 s while out of descriptors"
    );
    assert!(alive(kid) && alive(m.pid()), "{}", m.stderr());
    let new = complaints(&m.stderr()).split_off(before);
    drop(crowd);
    assert!(
        wait_for(5.0, || try_get(addr(port), "/") == Some(200)),
        "not serving again after the clients left; {}",
        m.stderr()
    );
    for _ in 0..20 {
        assert_eq!(try_get(addr(port), "/"), Some(200), "{}", m.stderr());
    }
    assert_eq!(
        new.len(),
        1,
        "want one line saying accepting paused for lack of descriptors, got: {new:#?}"
    );
}

// ----- protocol through the loop ----------------------------------------

#[test]
fn ten_pipelined_requests_in_one_write_are_answered_in_order() {
    let site = Site::new();
    let port = free_port();
    for i in 0..10 {
        site.write(&format!("htdocs/p{i}.txt"), format!("page {i}"));
    }
    let c = conf(&site, port, "");
    let _m = start(&site, &c);
    let mut burst = String::new();
    for i in 0..10 {
        let close = if i == 9 { "Connection: close\r\n" } else { "" };
        burst.push_str(&format!(
            "GET /p{i}.txt HTTP/1.1\r\nHost: localhost\r\n{close}\r\n"
        ));
    }
    let mut s = connect(addr(port));
    s.write_all(burst.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    for i in 0..10 {
        let resp = read_response(&mut r, false);
        assert_eq!(resp.status, 200, "response {i}");
        assert_eq!(
            resp.text(),
            format!("page {i}"),
            "response {i} out of order"
        );
    }
    let mut rest = Vec::new();
    assert!(matches!(r.read_to_end(&mut rest), Ok(0)), "{rest:?}");
}

/// `threads` × `each` connections opened together, each sending a
/// `Connection: close` request for `/` as soon as it is open (the ones of
/// a thread all open before any is read), then read to the end, all within
/// 30 s: what the server did with those that did not get `200` and the
/// home page.
fn burst_of_closing_requests(port: u16, threads: usize, each: usize) -> Vec<String> {
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let until = Instant::now() + Duration::from_secs(30);
    let clients: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                let mut opened = Vec::new();
                let mut failed = Vec::new();
                for i in 0..each {
                    match TcpStream::connect(addr(port)) {
                        Ok(mut s) => match s.write_all(request) {
                            Ok(()) => opened.push((i, s)),
                            Err(e) => failed.push(format!("{t}/{i}: send failed: {e}")),
                        },
                        Err(e) => failed.push(format!("{t}/{i}: connect failed: {e}")),
                    }
                }
                for (i, mut s) in opened {
                    let left = until.saturating_duration_since(Instant::now());
                    s.set_read_timeout(Some(left.max(Duration::from_millis(10))))
                        .unwrap();
                    let mut got = Vec::new();
                    let read = s.read_to_end(&mut got);
                    let text = String::from_utf8_lossy(&got);
                    let ok = text.starts_with("HTTP/1.1 200 ") && text.ends_with("<h1>home</h1>");
                    if read.is_err() || !ok {
                        failed.push(format!(
                            "{t}/{i}: {} after {} bytes: {:?}",
                            read.err().map_or("closed".into(), |e| e.to_string()),
                            got.len(),
                            text.chars().take(80).collect::<String>()
                        ));
                    }
                }
                failed
            })
        })
        .collect();
    clients
        .into_iter()
        .flat_map(|c| {
            c.join()
                .unwrap_or_else(|_| vec!["a client thread panicked".into()])
        })
        .collect()
}

#[test]
fn a_burst_of_connections_to_three_children_is_all_served_with_and_without_accept_filter() {
    let _heavy = heavy();
    raise_nofile();
    // Each child takes one connection per listener event (the listener
    // is level-triggered: the rest are reported again), and a connection
    // is read at once when the listener waited for its data.
    for filter in ["data", "none"] {
        let site = Site::new();
        let port = free_port();
        let c = conf(
            &site,
            port,
            &format!(
                "StartServers 3\nServerLimit 3\nMaxRequestWorkers 12\nAcceptFilter http {filter}"
            ),
        );
        let m = start(&site, &c);
        let failed = burst_of_closing_requests(port, 8, 100);
        assert!(
            failed.is_empty(),
            "AcceptFilter http {filter}: {} of 800 connections opened at once were not \
             answered 200, e.g. {:#?}\n{}",
            failed.len(),
            &failed[..failed.len().min(5)],
            m.stderr()
        );
    }
}

#[test]
fn a_head_arriving_byte_by_byte_is_answered() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "RequestReadTimeout header=5");
    let _m = start(&site, &c);
    let mut s = connect(addr(port));
    s.set_nodelay(true).unwrap();
    let head = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    for b in head.iter() {
        s.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(15));
    }
    let resp = read_response(&mut BufReader::new(s), false);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "<h1>home</h1>");
}

#[test]
fn a_killed_child_is_replaced_and_costs_at_most_its_own_connection() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "");
    kill_a_child_under_load(&site, &c, port, 2);
}

#[test]
fn max_connections_per_child_replaces_children_without_failing_a_request() {
    let site = Site::new();
    let port = free_port();
    let c = conf(&site, port, "MaxConnectionsPerChild 10");
    max_connections_per_child_loses_nothing(&site, &c, port, 2);
}

// ----- unfinished request heads: memory and CPU ----------------------------

/// Summed resident memory of `pids`, in KiB.
fn rss_kib(pids: &[i32]) -> u64 {
    pids.iter().map(|&p| proc_status_kib(p, "VmRSS")).sum()
}

/// CPU time every thread of `pid` has used, in nanoseconds
/// (`/proc/PID/task/*/schedstat`, finer than clock ticks).
fn cpu_ns(pid: i32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Header lines of up to `size` bytes in all, each with 8,000 bytes of
/// value and at most 100 lines (the default `LimitRequestFieldSize` and
/// `LimitRequestFields`), the last one left open: a head that is valid so
/// far and never ends.
fn endless_head(size: usize) -> Vec<u8> {
    let mut head = b"GET / HTTP/1.1\r\nHost: localhost\r\n".to_vec();
    let mut i = 0;
    while head.len() + 8020 < size && i < 98 {
        head.extend_from_slice(format!("X-Pad-{i:02}: ").as_bytes());
        head.extend(std::iter::repeat_n(b'v', 8000));
        head.extend_from_slice(b"\r\n");
        i += 1;
    }
    head.extend_from_slice(b"X-Slow: ");
    head
}

/// Keep-alive clients making requests until told to stop: (answered with
/// 200, anything else). A connection the server closes after a response
/// (MaxKeepAliveRequests) is opened again; any other failure counts.
fn keep_alive_clients(
    port: u16,
    n: usize,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<std::thread::JoinHandle<(u32, Vec<String>)>> {
    use std::sync::atomic::Ordering;
    (0..n)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut ok, mut bad) = (0u32, Vec::new());
                let until = Instant::now() + Duration::from_secs(120);
                'conn: while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                    let s = connect(addr(port));
                    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    let mut r = BufReader::new(&s);
                    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                        if let Err(e) = (&s).write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                        {
                            bad.push(format!("write: {e}"));
                            continue 'conn;
                        }
                        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            read_response(&mut r, false)
                        }));
                        match read {
                            Ok(resp) if resp.status == 200 => {
                                ok += 1;
                                if resp.closes() {
                                    continue 'conn;
                                }
                            }
                            Ok(resp) => bad.push(format!("status {}", resp.status)),
                            Err(_) => {
                                bad.push("no whole response (see the panic above)".into());
                                continue 'conn;
                            }
                        }
                    }
                    break;
                }
                (ok, bad)
            })
        })
        .collect()
}

#[test]
fn a_thousand_endless_800_kb_heads_stay_within_the_childs_head_budget_and_keep_alive_clients_are_served(
) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let _heavy = heavy();
    const N: usize = 1000;
    const EACH: usize = 800 * 1024;
    raise_nofile();
    let site = Site::new();
    let port = free_port();
    // The default budget (8 MiB a child), stated for the reader.
    let c = conf(
        &site,
        port,
        "ListenBacklog 1024\nRequestReadTimeout header=60\nLimitRequestHeadMemory 8388608",
    );
    let mut m = spawn_with_nofile(site.root(), &["-f", c.to_str().unwrap()], Some(4_000));
    m.wait_log("resuming normal operations", 1);
    let mut kids = Vec::new();
    assert!(
        wait_for(10.0, || {
            kids = children(m.pid());
            kids.len() == 2
        }),
        "two children expected, found {kids:?}"
    );
    for _ in 0..20 {
        assert_eq!(try_get(addr(port), "/"), Some(200));
    }
    let before = rss_kib(&kids);
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let clients = keep_alive_clients(port, 2, &stop);

    let head = endless_head(EACH);
    struct Attacker {
        s: TcpStream,
        sent: usize,
        got: Vec<u8>,
        done: bool,
    }
    let mut att: Vec<Attacker> = (0..N)
        .map(|_| {
            let s = connect(addr(port));
            s.set_nonblocking(true).unwrap();
            Attacker {
                s,
                sent: 0,
                got: Vec::new(),
                done: false,
            }
        })
        .collect();
    let mut peak = before;
    let t = Instant::now();
    let mut buf = [0u8; 4096];
    // Until every head is sent and refused or held, and nothing has moved
    // for two seconds (the server has read what it will read).
    let mut moved = Instant::now();
    while t.elapsed() < Duration::from_secs(60) && moved.elapsed() < Duration::from_secs(2) {
        for a in att.iter_mut().filter(|a| !a.done) {
            if a.sent < head.len() {
                let end = (a.sent + 16 * 1024).min(head.len());
                match (&a.s).write(&head[a.sent..end]) {
                    Ok(n) => {
                        a.sent += n;
                        moved = Instant::now();
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => a.done = true,
                }
            }
            loop {
                match (&a.s).read(&mut buf) {
                    Ok(0) => {
                        a.done = true;
                        break;
                    }
                    Ok(n) => {
                        a.got.extend_from_slice(&buf[..n]);
                        moved = Instant::now();
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        a.done = true;
                        break;
                    }
                }
            }
        }
        peak = peak.max(rss_kib(&kids));
        std::thread::sleep(Duration::from_millis(1));
    }
    peak = peak.max(rss_kib(&kids));
    let refused = att
        .iter()
        .filter(|a| a.got.starts_with(b"HTTP/1.1 431"))
        .count();
    let holding = att
        .iter()
        .filter(|a| a.sent == head.len() && a.got.is_empty())
        .count();
    let sent_mib = att.iter().map(|a| a.sent).sum::<usize>() >> 20;
    eprintln!(
        "{N} endless heads: {sent_mib} MiB sent, {refused} refused with 431, {holding} held \
         whole; children's RSS {before} KiB -> peak {peak} KiB"
    );
    assert!(
        peak.saturating_sub(before) <= 128 * 1024,
        "the children grew by {} KiB (at most 128 MiB allowed): {before} -> {peak} KiB",
        peak - before
    );
    // What the budget holds at most: two children's 8 MiB, in heads of
    // 786 KB (buffers of 1 MiB), and the refused ones' bytes in flight.
    assert!(
        refused > 0 && holding <= 32,
        "{refused} heads refused and {holding} held whole, of {sent_mib} MiB sent: \
         the budget holds about 16"
    );
    // The keep-alive clients were served throughout, with no error.
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let (ok, bad) = c.join().expect("a keep-alive client panicked");
        assert!(ok > 0, "a keep-alive client got no answer");
        assert!(bad.is_empty(), "keep-alive clients saw: {bad:?}");
    }
    // The memory goes back once they leave.
    drop(att);
    let mut now = peak;
    assert!(
        wait_for(10.0, || {
            now = rss_kib(&kids);
            now <= before + 16 * 1024
        }),
        "10 s after the heads left the children still hold {now} KiB (before: {before} KiB)"
    );
    assert_eq!(try_get(addr(port), "/"), Some(200));
    m.wait_log("LimitRequestHeadMemory", 1);
}

#[test]
fn a_head_trickled_byte_by_byte_costs_no_more_cpu_after_800_kb_than_after_nothing() {
    let site = Site::new();
    let port = free_port();
    let c = one_child(&site, port, "RequestReadTimeout header=60");
    let m = start(&site, &c);
    let kid = only_child(&m);
    // The CPU the child spends on `bytes` more bytes of a head, sent one
    // at a time, after `prefix`.
    let trickle = |prefix: &[u8], bytes: usize| -> u64 {
        let s = connect(addr(port));
        s.set_nodelay(true).unwrap();
        (&s).write_all(prefix).unwrap();
        let before = cpu_ns(kid);
        for _ in 0..bytes {
            (&s).write_all(b"w").unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        let spent = cpu_ns(kid) - before;
        (&s).write_all(b"\r\n\r\n").unwrap();
        let resp = read_response(&mut BufReader::new(&s), false);
        assert_eq!(resp.status, 200, "the trickled head was not served");
        spent
    };
    let small = trickle(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ", 1000);
    let big = trickle(&endless_head(800 * 1024), 1000);
    eprintln!(
        "1000 one-byte reads of a head: {} ms of child CPU after 40 bytes, {} ms after 800 KB",
        small / 1_000_000,
        big / 1_000_000
    );
    // Rescanning the head from its first byte on each read would cost
    // 1000 × 800 KB, hundreds of times the small case.
    assert!(
        big <= 3 * small.max(5_000_000),
        "after 800 KB each byte costs more: {big} ns against {small} ns"
    );
}
