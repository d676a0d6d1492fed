//! mod_fcgid through the real `mpmd`: its directives under their current
//! and legacy names (the operator's notes' `php.conf` passes `-t` and
//! serves), and `php-cgi` as a pool of FastCGI processes shared by every
//! child under event, prefork and worker: the PHP suite php-fpm's runs,
//! the pool's bound, recycling, a crashed process replaced, 503 when no
//! process frees up, 504 past `FcgidIOTimeout`, no process left running
//! when `mpmd` stops.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::php::{curl_i, lines, php_cgi_bin, php_pages, php_site, Gateway};
use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The operator's `php.conf`, as the notes give it.
const PHP_CONF: &str = "MaxRequestsPerProcess 1000
DefaultMaxClassProcessCount 120
IdleTimeout 60
MaxProcessCount 2000
IPCCommTimeout 40
IPCConnectTimeout 10
MaxRequestLen 10240000
";

#[test]
fn the_notes_php_conf_with_the_legacy_names_passes_the_syntax_check_without_a_warning() {
    let site = Site::new();
    site.write("php.conf", PHP_CONF);
    let conf = site.config(&format!(
        "Listen 127.0.0.1:1\nInclude {}\nAddHandler fcgid-script .php\nFcgidWrapper \"/usr/bin/php-cgi -d display_errors=0\" .php\nFcgidInitialEnv PHP_FCGI_MAX_REQUESTS 10000\nFcgidMinProcessesPerClass 0\nFcgidProcessLifeTime 3600\nFcgidMaxRequestInMem 65536\n",
        site.path("php.conf").display()
    ));
    let (code, out, err) = run(&["-t", "-f", conf.to_str().unwrap()]);
    assert_eq!(code, 0, "-t refused the notes' php.conf: {out}{err}");
    assert!(
        !err.contains("no module of mpmd provides"),
        "-t warned about fcgid-script as if nothing provided it:\n{err}"
    );
}

#[test]
fn a_bad_fcgid_value_is_refused_with_its_file_and_line() {
    let site = Site::new();
    for (line, message) in [
        ("MaxProcessCount 0", "MaxProcessCount must be at least 1"),
        (
            "FcgidIOTimeout soon",
            "FcgidIOTimeout takes a number of seconds",
        ),
        ("FcgidMaxRequestLen -1", "FcgidMaxRequestLen takes a number"),
        (
            "FcgidWrapper /usr/bin/php-cgi php",
            "'php' is not an .extension or 'virtual'",
        ),
        (
            "FcgidInitialEnv",
            "FcgidInitialEnv takes a variable's name and its value",
        ),
        (
            "<VirtualHost *:80>\nIdleTimeout 5\n</VirtualHost>",
            "IdleTimeout cannot occur within <VirtualHost>",
        ),
    ] {
        let conf = site.config(&format!("Listen 127.0.0.1:1\n{line}\n"));
        let (code, _out, err) = run(&["-t", "-f", conf.to_str().unwrap()]);
        let at = if line.starts_with('<') { 6 } else { 5 };
        let want = format!("{}:{at}: ", conf.display());
        assert!(
            code == 1 && err.contains(&want) && err.contains(message),
            "`{line}` should be refused at {want}…{message}; -t exited {code} saying:\n{err}"
        );
    }
}

/// The pages' site with the fcgid configuration of the suites: `.php`
/// through `php-cgi` as a pool of FastCGI processes (the PHP settings
/// php-fpm's suite gives its pool, on the wrapper's command line), and a
/// page that says which process answered. `extra` follows.
fn fcgid_site(mpm: &str, extra: &str) -> (Site, Mpmd, String) {
    let site = php_site();
    site.write("htdocs/app/pid.php", "<?php echo getmypid();");
    // The processes run as the serving user (nobody when the test is
    // root): their sessions directory is open to it.
    let sessions = site.mkdir("sessions");
    std::fs::set_permissions(&sessions, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let port = free_port();
    let server = start_mpm(
        &site,
        mpm,
        port,
        &format!(
            "AddHandler fcgid-script .php\n\
             FcgidWrapper \"{php} -d post_max_size=64M -d upload_max_filesize=64M -d memory_limit=256M -d output_buffering=0 -d display_errors=0 -d log_errors=1 -d session.save_path={sessions}\" .php\n\
             FcgidMaxRequestLen 67108864\n\
             <Directory {docroot}/app>\nOptions +ExecCGI\n</Directory>\n\
             <Location /server-status>\nSetHandler server-status\n</Location>\n{extra}\n",
            php = php_cgi_bin().display(),
            sessions = sessions.display(),
            docroot = site.docroot().display(),
        ),
    );
    (site, server, format!("http://127.0.0.1:{port}"))
}

/// The pid of the process that answered `pid.php`.
fn php_pid(base: &str) -> i32 {
    let (status, _, body) = curl_i(&[&format!("{base}/app/pid.php")]);
    assert_eq!(status, 200, "pid.php answered {status}: {body}");
    body.trim()
        .parse()
        .unwrap_or_else(|_| panic!("pid.php did not answer a pid: {body:?}"))
}

/// The php-cgi processes a test saw, killed when it ends (they run in
/// process groups of their own, which the server's guard does not reach
/// when the test fails before the server ended them).
struct Seen(Vec<i32>);

impl Drop for Seen {
    fn drop(&mut self) {
        for &pid in &self.0 {
            if running(pid) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

/// `/server-status?auto`'s text.
fn status_auto(base: &str) -> String {
    curl_i(&[&format!("{base}/server-status?auto")]).2
}

/// Whether `pid` is a running process (not gone, not a zombie).
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().to_string())
        })
        .is_some_and(|rest| !rest.starts_with('Z'))
}

/// The PHP suite through php-cgi processes of the pool under `mpm`; then
/// 24 requests, 8 at a time, served by processes shared by every child
/// (no more than `FcgidMaxProcesses` of them); then the server stops
/// (`graceful`: SIGWINCH, else SIGTERM) and leaves no php-cgi running.
fn fcgid_suite(mpm: &str, graceful: bool) {
    let (site, mut server, base) = fcgid_site(mpm, "FcgidMaxProcesses 3\n");
    php_pages(
        &site,
        &mut server,
        &base,
        &Gateway {
            php_message: "",
            names: php_cgi_bin().display().to_string(),
        },
    );

    // 3 rounds of 8 requests at once: at most FcgidMaxProcesses
    // processes serve each round, and the same processes serve the
    // rounds (unless one was replaced meanwhile).
    let mut distinct: Vec<i32> = Vec::new();
    let mut seen = Seen(Vec::new());
    for round in 0..3 {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let base = base.clone();
                std::thread::spawn(move || php_pid(&base))
            })
            .collect();
        let mut pids: Vec<i32> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        pids.sort();
        pids.dedup();
        assert!(
            pids.len() <= 3,
            "round {round}: 8 requests were served by {} php-cgi processes ({pids:?}) where FcgidMaxProcesses is 3; the log:\n{}",
            pids.len(),
            server.stderr()
        );
        seen.0.extend(&pids);
        distinct.extend(pids);
    }
    distinct.sort();
    distinct.dedup();
    assert!(
        distinct.len() <= 4,
        "24 requests were served by {} php-cgi processes ({distinct:?}): they were not kept for the next requests; the log:\n{}",
        distinct.len(),
        server.stderr()
    );
    let distinct: Vec<i32> = distinct.into_iter().filter(|&p| running(p)).collect();
    // The status page shows the pool's processes, each with its requests.
    let auto = status_auto(&base);
    let rows: Vec<&str> = auto
        .lines()
        .filter(|l| l.starts_with("FcgidProcess: "))
        .collect();
    assert!(
        !rows.is_empty()
            && rows.len() <= 3
            && distinct
                .iter()
                .all(|p| rows.iter().any(|r| r.contains(&format!(" {p} ")))),
        "/server-status does not show the processes {distinct:?}:\n{auto}"
    );
    let children = children(server.pid());
    for pid in &distinct {
        let parent = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .and_then(|(_, r)| r.split_whitespace().nth(1).map(String::from))
            })
            .and_then(|p| p.parse::<i32>().ok());
        assert!(
            parent.is_some_and(|p| children.contains(&p)),
            "php-cgi {pid} is not a child of one of mpmd's children {children:?} (its parent: {parent:?})"
        );
    }

    if graceful {
        server.signal(Signal::SIGWINCH);
    } else {
        server.signal(Signal::SIGTERM);
    }
    server.wait_exit(20);
    let left: Vec<i32> = distinct.iter().copied().filter(|&p| running(p)).collect();
    assert!(
        wait_for(10.0, || distinct.iter().all(|&p| !running(p))),
        "php-cgi processes {left:?} still run after mpmd stopped"
    );
}

#[test]
fn event_runs_the_php_suite_through_a_pool_of_php_cgi_processes() {
    fcgid_suite("event", true);
}

#[test]
fn prefork_runs_the_php_suite_through_a_pool_of_php_cgi_processes() {
    fcgid_suite("prefork", false);
}

#[test]
fn worker_runs_the_php_suite_through_a_pool_of_php_cgi_processes() {
    fcgid_suite("worker", true);
}

/// Under `mpm`, with one process allowed: recycled after
/// `FcgidMaxRequestsPerProcess` requests, replaced after a crash, a
/// request that finds it busy past `FcgidConnectTimeout` gets 503 and
/// one log line naming the class, the limit and the directive, and a
/// script that does not answer within `FcgidIOTimeout` gets 504.
fn fcgid_pool_limits(mpm: &str) {
    let (_site, mut server, base) = fcgid_site(
        mpm,
        "FcgidMaxProcesses 1\nFcgidMaxRequestsPerProcess 3\nFcgidConnectTimeout 1\nFcgidIOTimeout 3\n",
    );
    // Recycling: 9 requests, 3 processes of 3 requests each.
    let pids: Vec<i32> = (0..9).map(|_| php_pid(&base)).collect();
    let mut seen = Seen(pids.clone());
    for chunk in pids.chunks(3) {
        assert!(
            chunk.iter().all(|&p| p == chunk[0]),
            "a process did not serve its 3 requests: pids {pids:?}"
        );
    }
    assert!(
        pids[0] != pids[3] && pids[3] != pids[6],
        "a process served more than FcgidMaxRequestsPerProcess 3 requests: pids {pids:?}"
    );

    // A crash: the process is killed; the next request gets a new one.
    let first = php_pid(&base);
    seen.0.push(first);
    kill(Pid::from_raw(first), Signal::SIGKILL).unwrap();
    assert!(
        wait_for(10.0, || !running(first)),
        "php-cgi {first} did not die"
    );
    let mut next = 0;
    assert!(
        wait_for(10.0, || {
            let (status, _, body) = curl_i(&[&format!("{base}/app/pid.php")]);
            next = body.trim().parse().unwrap_or(0);
            status == 200 && next != 0
        }),
        "no page after php-cgi {first} crashed"
    );
    seen.0.push(next);
    assert_ne!(next, first, "the crashed process answered");
    // Logged: crashed (reaped first) or not answering (found first).
    let log = server.stderr();
    assert!(
        log.lines().any(|l| l.contains(&format!("process {first} "))
            && (l.contains("crashed") || l.contains("does not answer"))),
        "no error-log line says php-cgi {first} crashed:\n{log}"
    );

    // The one process busy: another request waits 1 s, then 503.
    let slow = {
        let base = base.clone();
        std::thread::spawn(move || curl_i(&[&format!("{base}/app/sleep.php?s=2")]).0)
    };
    assert!(
        wait_for(10.0, || status_auto(&base).contains(" Working ")),
        "the sleeping page's process never showed as Working on /server-status:\n{}",
        status_auto(&base)
    );
    let (status, _, _) = curl_i(&[&format!("{base}/app/pid.php")]);
    assert_eq!(
        status, 503,
        "a request finding the only process busy got {status}"
    );
    assert_eq!(slow.join().unwrap(), 200, "the sleeping page failed");
    server.wait_log(
        "FcgidMaxProcesses 1 reached (1 running in this class, 1 in all",
        1,
    );
    let log = server.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("FcgidMaxProcesses 1 reached"))
        .unwrap();
    assert!(
        line.contains(&php_cgi_bin().display().to_string())
            && line.contains("raise FcgidMaxProcesses"),
        "the log line does not name the class and the directive: {line}"
    );

    // Past FcgidIOTimeout: 504 within a little more than it.
    let started = Instant::now();
    let (status, _, _) = curl_i(&[&format!("{base}/app/sleep.php?s=6")]);
    assert_eq!(
        status, 504,
        "a script sleeping past FcgidIOTimeout 3 gave {status}"
    );
    assert!(started.elapsed() < Duration::from_secs(6));
    server.wait_log("within FcgidIOTimeout", 1);
}

#[test]
fn event_recycles_replaces_and_bounds_its_php_cgi_processes() {
    fcgid_pool_limits("event");
}

#[test]
fn prefork_recycles_replaces_and_bounds_its_php_cgi_processes() {
    fcgid_pool_limits("prefork");
}

#[test]
fn worker_recycles_replaces_and_bounds_its_php_cgi_processes() {
    fcgid_pool_limits("worker");
}

#[test]
fn the_notes_php_conf_serves_php_pages() {
    let site = Site::new();
    site.write("php.conf", PHP_CONF);
    let (_site, _server, base) = fcgid_site(
        "event",
        &format!("Include {}\n", site.path("php.conf").display()),
    );
    php_pid(&base);
}

/// A chunked request body (no `Content-Length`) is read whole before a
/// process is taken, as every body is, and reaches PHP with its length
/// as `CONTENT_LENGTH` (mod_fcgid's "dechunked request body"): PHP reads
/// no body without one.
#[test]
fn a_chunked_request_body_reaches_php_cgi_with_its_length_under_every_strategy() {
    for mpm in ["event", "prefork", "worker"] {
        let (_site, _server, base) = fcgid_site(mpm, "");
        let (status, _, body) = curl_i(&[
            "-H",
            "Transfer-Encoding: chunked",
            "-H",
            "Content-Type: application/x-www-form-urlencoded",
            "--data-binary",
            "a=1&b=two",
            &format!("{base}/app/post.php"),
        ]);
        assert_eq!(
            (status, body.as_str()),
            (200, "a=1\nb=two\n"),
            "{mpm}: PHP's $_POST for a chunked body"
        );
        let (status, _, body) = curl_i(&[
            "-H",
            "Transfer-Encoding: chunked",
            &format!("{base}/app/server.php"),
            "--data-binary",
            "x=1",
        ]);
        assert_eq!(status, 200, "{mpm}: {body}");
        let vars = lines(&body);
        assert_eq!(
            (
                vars.get("CONTENT_LENGTH").map(String::as_str),
                vars.get("HTTP_TRANSFER_ENCODING")
            ),
            (Some("3"), None),
            "{mpm}: $_SERVER for a chunked body of 3 bytes:\n{body}"
        );
    }
}

/// `CGIPassAuth On` where the script is gives php-cgi the client's
/// `Authorization` (PHP's `PHP_AUTH_USER`); elsewhere a password never
/// reaches it.
#[test]
fn cgi_pass_auth_gives_php_cgi_the_authorization_only_where_it_is_on() {
    for mpm in ["event", "prefork", "worker"] {
        let (site, _server, base) = fcgid_site(
            mpm,
            "<Location /app/server.php>\nCGIPassAuth On\n</Location>\n",
        );
        site.write(
            "htdocs/app/plain.php",
            std::fs::read(site.docroot().join("app/server.php")).unwrap(),
        );
        let vars = |page: &str| {
            let (status, _, body) = curl_i(&["-u", "user:pw", &format!("{base}/app/{page}")]);
            assert_eq!(status, 200, "{mpm}: {page}: {body}");
            lines(&body)
        };
        let on = vars("server.php");
        assert_eq!(
            (
                on.get("HTTP_AUTHORIZATION").map(String::as_str),
                on.get("PHP_AUTH_USER").map(String::as_str)
            ),
            (Some("Basic dXNlcjpwdw=="), Some("user")),
            "{mpm}: with CGIPassAuth On: {on:?}"
        );
        let off = vars("plain.php");
        assert_eq!(
            (off.get("HTTP_AUTHORIZATION"), off.get("PHP_AUTH_USER")),
            (None, None),
            "{mpm}: without CGIPassAuth: {off:?}"
        );
    }
}
