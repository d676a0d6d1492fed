//! Behind a real load balancer: HAProxy from the distribution in front of
//! two `mpmd`s on two loopback ports, with `send-proxy-v2` and
//! `option httpchk` against a health URL, the configuration the README's
//! operations section shows. A load client of the test's own (on
//! 127.0.0.2, keep-alive and new connections) drives requests through
//! HAProxy while each `mpmd` in turn goes through the operations steps;
//! no request may fail, and the access logs must show the client's
//! address, not HAProxy's.
//!
//! The steps are a list ([`STEPS`]): a graceful restart, a binary upgrade
//! (`mpmd -k upgrade`: a new master takes the listening sockets over), and
//! a change of strategy (`LoadModule mpm_…_module` changed, then a
//! graceful restart), each on one `mpmd` after the other. To show another
//! operation, add a function that takes a [`Backend`] and returns once its
//! new generation serves.
//!
//! HAProxy runs in the foreground (`-db`) in its own process group, with
//! its own configuration, ports and pid file in a temporary directory,
//! killed on drop; never as a system service. When no `haproxy` binary is
//! found the test says so loudly and passes (`.ci/run` installs it).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// Where the load client connects from: the address the logs must show.
const CLIENT: &str = "127.0.0.2";

/// An operation on one `mpmd`: returns once its new generation serves.
type Step = fn(&mut Backend);

/// The operations each `mpmd` goes through in turn, under load.
const STEPS: &[(&str, Step)] = &[
    ("graceful restart", graceful_restart),
    ("binary upgrade", binary_upgrade),
    ("strategy switch", strategy_switch),
];

/// One `mpmd` behind HAProxy.
struct Backend {
    site: Site,
    port: u16,
    /// The master the test started. After a binary upgrade it has left,
    /// and its successor (in its process group, writing the same stderr
    /// file) serves: [`Backend::master`] reads the pid file.
    server: Mpmd,
    /// The strategy the configuration loads.
    mpm: &'static str,
    /// `resuming normal operations` lines logged so far, by every master.
    generations: usize,
}

impl Backend {
    fn start(mpm: &'static str) -> Backend {
        let site = Site::new();
        site.write("htdocs/index.html", "home");
        site.write("htdocs/health", "ok");
        let port = free_port();
        let conf = write_config(&site, port, mpm);
        let server = start(&site, &conf);
        Backend {
            site,
            port,
            server,
            mpm,
            generations: 1,
        }
    }

    /// The serving master's pid, from the pid file.
    fn master(&self) -> i32 {
        std::fs::read_to_string(self.site.pid_file())
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or_else(|| panic!("no pid in {}", self.site.pid_file().display()))
    }

    /// Wait until the masters logged `resuming normal operations` once
    /// more (the started master may have left: its log file stays).
    fn next_generation(&mut self) {
        self.generations += 1;
        let want = self.generations;
        assert!(
            wait_for(20.0, || {
                self.server
                    .stderr()
                    .matches("resuming normal operations")
                    .count()
                    >= want
            }),
            "mpmd on port {} did not start generation {want}; stderr:\n{}",
            self.port,
            self.server.stderr()
        );
    }

    fn access_log(&self) -> String {
        std::fs::read_to_string(self.site.path("logs/access_log")).unwrap_or_default()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        // A successor from a binary upgrade is in the started master's
        // process group, which `Mpmd`'s drop kills; by pid too, in case.
        if let Ok(pid) = std::fs::read_to_string(self.site.pid_file()) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                if pid != self.server.pid() && pid > 0 {
                    let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
        }
    }
}

/// The backend's configuration, loading the `mpm` strategy.
fn write_config(site: &Site, port: u16, mpm: &str) -> PathBuf {
    site.config(&format!(
        "{}Listen 127.0.0.1:{port}\nServerName localhost\nDocumentRoot {}\n\
         RemoteIPProxyProtocol On\nRemoteIPTrustedProxy 127.0.0.1\n\
         LogFormat \"%a %{{c}}a %r %>s\" balanced\nCustomLog logs/access_log balanced\n",
        mpm_directives(mpm),
        site.docroot().display()
    ))
}

/// `mpmd -k graceful`'s signal; returns when the new generation serves.
fn graceful_restart(b: &mut Backend) {
    nix::sys::signal::kill(Pid::from_raw(b.master()), Signal::SIGUSR1).expect("signal mpmd");
    b.next_generation();
}

/// `mpmd -k upgrade`: the binary starts again and takes the listening
/// sockets over; `-k upgrade` returns once the new master serves, and the
/// old one then finishes its connections and leaves.
fn binary_upgrade(b: &mut Backend) {
    let old = b.master();
    let conf = b.site.path("mpmd.conf");
    let (code, _, err) = run(&["-f", conf.to_str().unwrap(), "-k", "upgrade"]);
    assert_eq!(
        code,
        0,
        "-k upgrade failed: {err}; stderr:\n{}",
        b.server.stderr()
    );
    let new = b.master();
    assert_ne!(new, old, "the pid file still names the old master");
    b.next_generation();
    // The started master is the test's child (reaped here: a zombie is
    // still "alive" to kill(0)); a later one is not.
    let started = b.server.pid();
    let child = &mut b.server.child;
    assert!(
        wait_for(20.0, || if old == started {
            matches!(child.try_wait(), Ok(Some(_)))
        } else {
            !alive(old)
        }),
        "the old master {old} did not leave after the upgrade; stderr:\n{}",
        b.server.stderr()
    );
}

/// A `LoadModule` change (event → worker, prefork → event) and a graceful
/// restart: the new strategy's children start beside the old ones.
fn strategy_switch(b: &mut Backend) {
    let next = match b.mpm {
        "event" => "worker",
        "worker" => "prefork",
        _ => "event",
    };
    let from = b.mpm;
    write_config(&b.site, b.port, next);
    b.mpm = next;
    graceful_restart(b);
    let log = b.server.stderr();
    assert!(
        log.contains(&format!("switching from the {from} MPM to the {next} MPM"))
            && log.contains(&format!(
                "({next} MPM) configured -- resuming normal operations"
            )),
        "the graceful restart did not switch {from} to {next}; stderr:\n{log}"
    );
}

/// The `haproxy` binary, if the machine has one.
fn haproxy_bin() -> Option<PathBuf> {
    let from_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("haproxy"));
    from_path
        .chain(["/usr/sbin/haproxy".into(), "/usr/local/sbin/haproxy".into()])
        .find(|p| p.is_file())
}

/// HAProxy in the foreground, in its own process group, killed with it
/// on drop.
struct HaProxy {
    child: Child,
    dir: tempfile::TempDir,
}

impl HaProxy {
    fn start(bin: &Path, front: u16, backends: &[&Backend]) -> HaProxy {
        let dir = tempfile::tempdir().unwrap();
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, b)| format!("    server mpmd{i} 127.0.0.1:{} check\n", b.port))
            .collect();
        let conf = haproxy_config(front, &servers);
        let file = dir.path().join("haproxy.cfg");
        std::fs::write(&file, conf).unwrap();
        let log = std::fs::File::create(dir.path().join("haproxy.log")).unwrap();
        let child = Command::new(bin)
            .arg("-db")
            .arg("-f")
            .arg(&file)
            .arg("-p")
            .arg(dir.path().join("haproxy.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start haproxy");
        HaProxy { child, dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("haproxy.log")).unwrap_or_default()
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// The configuration the README shows, on `front`, with `servers`.
fn haproxy_config(front: u16, servers: &str) -> String {
    format!(
        "global\n\
         \x20   maxconn 256\n\
         defaults\n\
         \x20   mode http\n\
         \x20   timeout connect 2s\n\
         \x20   timeout client 30s\n\
         \x20   timeout server 30s\n\
         \x20   retries 3\n\
         \x20   option redispatch\n\
         \x20   retry-on conn-failure empty-response response-timeout\n\
         frontend www\n\
         \x20   bind 127.0.0.1:{front}\n\
         \x20   default_backend mpmd\n\
         backend mpmd\n\
         \x20   balance roundrobin\n\
         \x20   option httpchk\n\
         \x20   http-check send meth GET uri /health ver HTTP/1.1 hdr Host localhost\n\
         \x20   http-check expect status 200\n\
         \x20   default-server send-proxy-v2 check inter 200ms fall 2 rise 1\n\
         {servers}"
    )
}

/// The status of one response read from `r`, or `None` when the
/// connection failed or the response was malformed (never panics: a load
/// thread counts failures).
fn read_status(r: &mut impl BufRead) -> Option<u16> {
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let status = line.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        if h == "\r\n" {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            if n.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(status)
}

fn connect_from_client(front: u16) -> Option<TcpStream> {
    connect_from(CLIENT, addr(front)).ok()
}

/// The test's load client: threads on keep-alive connections and
/// threads opening one connection per request, all from [`CLIENT`].
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU32>,
    failures: Arc<Mutex<Vec<String>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(front: u16) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU32::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..4)
            .map(|i| {
                let (stop, ok, failures) = (stop.clone(), ok.clone(), failures.clone());
                let keep_alive = i % 2 == 0;
                std::thread::spawn(move || {
                    let until = Instant::now() + Duration::from_secs(60);
                    let mut conn: Option<BufReader<TcpStream>> = None;
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                        n += 1;
                        let path = format!("/index.html?t{i}-{n}");
                        let result = (|| {
                            if conn.is_none() {
                                conn = Some(BufReader::new(connect_from_client(front)?));
                            }
                            let r = conn.as_mut()?;
                            let close = if keep_alive {
                                ""
                            } else {
                                "Connection: close\r\n"
                            };
                            let req =
                                format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{close}\r\n");
                            r.get_mut().write_all(req.as_bytes()).ok()?;
                            read_status(r)
                        })();
                        if !keep_alive || result != Some(200) {
                            conn = None;
                        }
                        match result {
                            Some(200) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            other => failures
                                .lock()
                                .unwrap()
                                .push(format!("GET {path}: {other:?}")),
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failures,
            threads,
        }
    }

    fn ok(&self) -> u32 {
        self.ok.load(Ordering::Relaxed)
    }

    /// Stop, and return the successes and the failures.
    fn finish(mut self) -> (u32, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let failures = std::mem::take(&mut *self.failures.lock().unwrap());
        (self.ok(), failures)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn behind_haproxy_operations_on_each_mpmd_fail_no_request_and_logs_show_the_client() {
    let Some(bin) = haproxy_bin() else {
        eprintln!(
            "\n\n*** SKIPPED: no haproxy binary (PATH, /usr/sbin); install it \
             (apt-get install haproxy, as .ci/run does) to run this test ***\n"
        );
        return;
    };
    let mut backends = [Backend::start("event"), Backend::start("prefork")];
    let front = free_port();
    let haproxy = HaProxy::start(&bin, front, &[&backends[0], &backends[1]]);
    // Ready: HAProxy answers, and its checks reached both servers.
    let ready = wait_for(15.0, || {
        backends
            .iter()
            .all(|b| b.access_log().contains("GET /health"))
            && connect_from_client(front).is_some_and(|s| {
                let mut r = BufReader::new(s);
                let req = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
                r.get_mut().write_all(req).is_ok() && read_status(&mut r) == Some(200)
            })
    });
    assert!(
        ready,
        "HAProxy did not come up in front of both servers; its log:\n{}",
        haproxy.log()
    );

    let load = Load::start(front);
    let served = |load: &Load, n: u32| {
        let before = load.ok();
        assert!(
            wait_for(10.0, || load.ok() >= before + n),
            "the load made no progress; HAProxy's log:\n{}",
            haproxy.log()
        );
    };
    served(&load, 50);
    for (name, step) in STEPS {
        for (i, b) in backends.iter_mut().enumerate() {
            step(b);
            eprintln!("{name} of mpmd{i} done");
            served(&load, 50);
        }
    }
    let (ok, failures) = load.finish();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed through HAProxy: {:?}\nHAProxy's log:\n{}",
        failures.len(),
        ok as usize + failures.len(),
        &failures[..failures.len().min(10)],
        haproxy.log()
    );

    for (i, b) in backends.iter().enumerate() {
        let log = b.access_log();
        let load_lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(" GET /index.html?t"))
            .collect();
        assert!(
            !load_lines.is_empty(),
            "mpmd{i} served none of the load:\n{log}"
        );
        let want = format!("{CLIENT} 127.0.0.1 ");
        let wrong: Vec<&&str> = load_lines
            .iter()
            .filter(|l| !l.starts_with(&want))
            .collect();
        assert!(
            wrong.is_empty(),
            "mpmd{i} logged {} requests without the client's address {CLIENT} (HAProxy's is 127.0.0.1), e.g. {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(3)]
        );
        // The health checks: a v2 LOCAL header, HAProxy's own address.
        assert!(
            log.lines()
                .any(|l| l.starts_with("127.0.0.1 127.0.0.1 GET /health ")),
            "mpmd{i} logged no health check from HAProxy:\n{log}"
        );
    }
}
