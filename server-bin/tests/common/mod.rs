//! The real `mpmd` under test: started in its own process group on free
//! loopback ports with a configuration written to a temporary directory,
//! killed with its whole group on drop, even when the test fails.
#![allow(dead_code)]

use std::fs;
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The binary under test.
pub fn mpmd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_mpmd")
}

/// A port that was free a moment ago (the kernel hands out ports in a
/// rotating order, so a just-released one is not handed out again soon).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Start `mpmd` under strategy `mpm` (see [`mpm_directives`]) on `port`,
/// serving the site's document root, with `extra` directives after the
/// common ones.
pub fn start_mpm(site: &Site, mpm: &str, port: u16, extra: &str) -> Mpmd {
    let conf = mpm_config(site, mpm, port, extra);
    start(site, &conf)
}

/// Write the configuration [`start_mpm`] starts with (strategy `mpm` on
/// `port`, the site's document root, then `extra`) and return its path.
pub fn mpm_config(site: &Site, mpm: &str, port: u16, extra: &str) -> PathBuf {
    site.config(&format!(
        "{}Listen 127.0.0.1:{port}\nServerName localhost\nDocumentRoot {}\n{extra}\n",
        mpm_directives(mpm),
        site.docroot().display()
    ))
}

/// The directives that choose strategy `mpm` and make it small (`single`,
/// run with `-X`, has none).
pub fn mpm_directives(mpm: &str) -> &'static str {
    match mpm {
        "prefork" => "LoadModule mpm_prefork_module modules/mod_mpm_prefork.so\nStartServers 2\nMinSpareServers 1\nMaxSpareServers 4\n",
        "worker" => "LoadModule mpm_worker_module modules/mod_mpm_worker.so\nStartServers 2\nThreadsPerChild 4\nThreadLimit 4\nServerLimit 4\nMaxRequestWorkers 16\nMinSpareThreads 2\nMaxSpareThreads 8\n",
        "event" => "LoadModule mpm_event_module modules/mod_mpm_event.so\nStartServers 2\nThreadsPerChild 4\nThreadLimit 4\nServerLimit 4\nMaxRequestWorkers 16\nMinSpareThreads 2\nMaxSpareThreads 8\n",
        // One child of two threads: a connection that held a thread, or a
        // child that died, shows at once.
        "event-small" => "LoadModule mpm_event_module modules/mod_mpm_event.so\nStartServers 1\nServerLimit 1\nThreadsPerChild 2\nThreadLimit 2\nMaxRequestWorkers 2\nMinSpareThreads 1\nMaxSpareThreads 2\n",
        _ => "",
    }
}

/// A temporary server root with a document root and room for a config.
///
/// Everything the helpers make below it is readable by others (directories
/// 0755, files 0644), as a real server root is: started as root, `mpmd`
/// serves as an unprivileged user (`nobody` when no `User` is set), which
/// could not enter the 0700 directory `tempdir` makes.
pub struct Site {
    pub dir: tempfile::TempDir,
}

/// Set the permission bits of `path`.
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

impl Site {
    pub fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        set_mode(dir.path(), 0o755);
        let site = Site { dir };
        site.mkdir("htdocs");
        site.mkdir("logs");
        site
    }
    /// Make the directory `rel` below the server root (parents too), each
    /// readable by others; returns its path.
    pub fn mkdir(&self, rel: impl AsRef<Path>) -> PathBuf {
        let p = self.root().join(rel);
        fs::create_dir_all(&p).unwrap();
        for dir in p.ancestors().take_while(|d| d.starts_with(self.root())) {
            set_mode(dir, 0o755);
        }
        p
    }
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    pub fn docroot(&self) -> PathBuf {
        self.root().join("htdocs")
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }
    /// Write a file below the server root (parents made), readable by
    /// others.
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.root().join(rel);
        self.mkdir(p.parent().unwrap());
        fs::write(&p, content).unwrap();
        set_mode(&p, 0o644);
        p
    }
    /// Write `conf` (after a header that sets the pid file and log level)
    /// as `mpmd.conf` and return its path.
    pub fn config(&self, conf: &str) -> PathBuf {
        self.config_bytes(conf.as_bytes())
    }
    /// [`Site::config`] of bytes that need not be UTF-8.
    pub fn config_bytes(&self, conf: &[u8]) -> PathBuf {
        let mut text = format!(
            "ServerRoot {root}\nPidFile {root}/logs/mpmd.pid\nLogLevel info\n",
            root = self.root().display()
        )
        .into_bytes();
        text.extend_from_slice(conf);
        text.push(b'\n');
        self.write("mpmd.conf", text)
    }
    pub fn pid_file(&self) -> PathBuf {
        self.root().join("logs/mpmd.pid")
    }
}

/// A running `mpmd`; killed with its process group on drop.
pub struct Mpmd {
    pub child: Child,
    pub stderr_path: PathBuf,
    exited: Option<ExitStatus>,
}

/// Start `mpmd` with `args` (stderr to `<dir>/stderr.log`).
pub fn spawn(dir: &Path, args: &[&str]) -> Mpmd {
    spawn_with_nofile(dir, args, None)
}

/// Like [`spawn`], with the server's open-file limit (`ulimit -n`, the
/// soft `RLIMIT_NOFILE`) set to `nofile` when given; the hard limit stays.
pub fn spawn_with_nofile(dir: &Path, args: &[&str], nofile: Option<u64>) -> Mpmd {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let mut cmd = Command::new(mpmd_bin());
    cmd.args(args);
    if let Some(soft) = nofile {
        let soft = soft.min(hard);
        // SAFETY: the closure runs in the forked child before exec and
        // only makes the setrlimit system call, which is async-signal-safe;
        // it allocates nothing and touches no lock.
        unsafe {
            cmd.pre_exec(move || {
                setrlimit(Resource::RLIMIT_NOFILE, soft, hard).map_err(std::io::Error::from)
            });
        }
    }
    spawn_command(dir, cmd)
}

/// Start `cmd` (an `mpmd`, however the caller set it up: another binary,
/// environment, descriptors) as [`spawn`] does: stderr to a file in
/// `dir`, no stdin or stdout, in its own process group.
pub fn spawn_command(dir: &Path, mut cmd: Command) -> Mpmd {
    let stderr_path = dir.join(format!(
        "stderr-{}.log",
        std::process::id() as u64 * 1000 + next_seq()
    ));
    let err = fs::File::create(&stderr_path).unwrap();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .process_group(0);
    let child = cmd.spawn().expect("start mpmd");
    Mpmd {
        child,
        stderr_path,
        exited: None,
    }
}

fn next_seq() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// Start `mpmd -f conf` and wait until it serves.
pub fn start(site: &Site, conf: &Path) -> Mpmd {
    start_args(site, &["-f", conf.to_str().unwrap()])
}

/// Start `mpmd` with `args` and wait until it says it serves.
pub fn start_args(site: &Site, args: &[&str]) -> Mpmd {
    let mut m = spawn(site.root(), args);
    m.wait_log("resuming normal operations", 1);
    m
}

impl Mpmd {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Wait until stderr contains `needle` at least `count` times; fail
    /// with the log (and exit status) otherwise.
    pub fn wait_log(&mut self, needle: &str, count: usize) {
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            let log = self.stderr();
            if log.matches(needle).count() >= count {
                return;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                self.exited = Some(st);
                panic!("mpmd exited ({st}) before logging {needle:?}; stderr:\n{log}");
            }
            if Instant::now() > until {
                let pid = self.pid();
                let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                let sig: Vec<&str> = status
                    .lines()
                    .filter(|l| l.starts_with("Sig") || l.starts_with("Shd"))
                    .collect();
                let mut tasks = String::new();
                if let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) {
                    for t in dir.flatten() {
                        let wchan = fs::read_to_string(t.path().join("wchan")).unwrap_or_default();
                        let stat = fs::read_to_string(t.path().join("stat")).unwrap_or_default();
                        tasks.push_str(&format!(
                            "{} {wchan} {}\n",
                            t.file_name().to_string_lossy(),
                            stat.split(' ').nth(2).unwrap_or("")
                        ));
                    }
                }
                panic!("mpmd did not log {needle:?} (x{count}) within 15 s; {sig:?}\n{tasks}stderr:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.pid()), sig).expect("signal mpmd");
    }

    /// Wait for the process to exit (up to `secs`), returning its status.
    pub fn wait_exit(&mut self, secs: u64) -> ExitStatus {
        if let Some(st) = self.exited {
            return st;
        }
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                self.exited = Some(st);
                return st;
            }
            if Instant::now() > until {
                panic!(
                    "mpmd did not exit within {secs} s; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Mpmd {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let pid = self.pid();
            // The group we made for it (pgid = its pid), then itself.
            let _ = kill(Pid::from_raw(-pid), Signal::SIGKILL);
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// Run `mpmd` to completion (for `-t`, `-l`, `-k …`): (exit code, stdout,
/// stderr). Killed after 20 s.
pub fn run(args: &[&str]) -> (i32, String, String) {
    let mut child = Command::new(mpmd_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start mpmd");
    let until = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mpmd {args:?} did not finish within 20 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code().unwrap_or(-1), out, err)
}

/// `curl -sS --max-time 10 ARGS`: (exit code, stdout, stderr).
pub fn curl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("run curl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub use mpm::testing::{read_response, Resp};

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect to mpmd");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Send raw bytes on a new connection and read one response.
pub fn raw(addr: SocketAddr, bytes: &[u8]) -> Resp {
    let mut s = connect(addr);
    s.write_all(bytes).unwrap();
    read_response(&mut BufReader::new(s), bytes.starts_with(b"HEAD "))
}

/// `GET path` with a Host header, connection closed after.
pub fn get(addr: SocketAddr, host: &str, path: &str) -> Resp {
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// A connection to `to` from the loopback address `from` (127.0.0.2 …,
/// to be another client than 127.0.0.1), with `TCP_NODELAY` (each write
/// its own segment) and a 10 s read timeout.
pub fn connect_from(from: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    let local: SocketAddr = format!("{from}:0")
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    sock.bind(&local.into())?;
    sock.connect(&to.into())?;
    let s: TcpStream = sock.into();
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(s)
}

pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The pids whose parent is `master`, read from `/proc/*/stat`.
pub fn children(master: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid …; comm may hold spaces, so split after ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let state = f.next().unwrap_or("");
        let ppid: i32 = f.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if ppid == master && state != "Z" {
            out.push(pid);
        }
    }
    out.sort();
    out
}

/// The real user and group ids of `pid` (`Uid:` and `Gid:` of
/// `/proc/<pid>/status`).
pub fn ids_of(pid: i32) -> Option<(u32, u32)> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let id = |field: &str| -> Option<u32> {
        let line = status.lines().find(|l| l.starts_with(field))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Some((id("Uid:")?, id("Gid:")?))
}

/// Poll `cond` every 20 ms until it holds or `secs` pass.
pub fn wait_for(secs: f64, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs_f64(secs);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `GET path` on a new connection: the status, or `None` when the
/// connection failed or closed without a response.
pub fn try_get(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .ok()?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// The value of field `name` on `/server-status?auto` (asked on a new
/// connection), empty when the page has no such field.
pub fn status_field(port: u16, name: &str) -> String {
    let page = get(addr(port), "localhost", "/server-status?auto").text();
    let prefix = format!("{name}: ");
    page.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_default()
        .to_string()
}

/// The threads of process `pid` (`/proc/PID/task`).
pub fn threads_of(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// True while `pid` exists (a zombie counts).
pub fn alive(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_ok()
}

/// A client thread making requests in a loop (bounded in count and
/// time) and counting the ones that got no 200.
pub struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU32>,
    failed: Arc<AtomicU32>,
    thread: Option<JoinHandle<()>>,
}

impl Load {
    pub fn start(port: u16, max: u32) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU32::new(0));
        let failed = Arc::new(AtomicU32::new(0));
        let (s, o, f) = (stop.clone(), ok.clone(), failed.clone());
        let thread = std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(30);
            let mut n = 0;
            while !s.load(Ordering::Relaxed) && n < max && Instant::now() < until {
                n += 1;
                match try_get(addr(port), "/") {
                    Some(200) => o.fetch_add(1, Ordering::Relaxed),
                    _ => f.fetch_add(1, Ordering::Relaxed),
                };
            }
        });
        Load {
            stop,
            ok,
            failed,
            thread: Some(thread),
        }
    }

    pub fn ok(&self) -> u32 {
        self.ok.load(Ordering::Relaxed)
    }

    /// Stop (or let it finish) and return (ok, failed).
    pub fn finish(mut self) -> (u32, u32) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    /// Wait until the thread has made all its requests.
    pub fn join(mut self) -> (u32, u32) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Shared by the strategies' suites: start `conf`, keep a client making
/// requests, send SIGUSR1 three times (each restart logged), and require
/// that no request failed and that the first generation of children left.
pub fn three_graceful_restarts_under_load_fail_no_request(site: &Site, conf: &Path, port: u16) {
    let mut m = start(site, conf);
    let first = children(m.pid());
    let load = Load::start(port, 100_000);
    assert!(wait_for(5.0, || load.ok() >= 20), "no requests served");
    for i in 0..3 {
        let ok = load.ok();
        m.signal(Signal::SIGUSR1);
        m.wait_log("resuming normal operations", 2 + i);
        assert!(wait_for(5.0, || load.ok() >= ok + 30), "{}", m.stderr());
    }
    let (ok, failed) = load.finish();
    assert_eq!(failed, 0, "{failed} failed, {ok} ok; {}", m.stderr());
    assert!(
        wait_for(5.0, || first.iter().all(|p| !alive(*p))),
        "old children still alive: {first:?} of {:?}",
        children(m.pid())
    );
}

/// Shared by the strategies' suites: start `conf`, wait for `children`
/// children, SIGKILL one while a client makes requests, and require that it
/// is replaced within 1.5 s with its signal logged, and that at most one
/// request (the killed child's own connection) failed.
pub fn kill_a_child_under_load(site: &Site, conf: &Path, port: u16, count: usize) {
    let m = start(site, conf);
    assert!(wait_for(5.0, || children(m.pid()).len() == count));
    let before = children(m.pid());
    let load = Load::start(port, 100_000);
    assert!(wait_for(5.0, || load.ok() >= 20), "no requests served");
    let victim = before[0];
    kill(Pid::from_raw(victim), Signal::SIGKILL).unwrap();
    let t = Instant::now();
    assert!(
        wait_for(1.5, || {
            let now = children(m.pid());
            now.len() == count && !now.contains(&victim)
        }),
        "not replaced within 1.5 s: {:?}; {}",
        children(m.pid()),
        m.stderr()
    );
    assert!(t.elapsed() < Duration::from_millis(1500));
    let ok_at_kill = load.ok();
    assert!(wait_for(5.0, || load.ok() >= ok_at_kill + 50));
    let (ok, failed) = load.finish();
    assert!(
        failed <= 1,
        "{failed} failed requests (at most the killed child's own connection), {ok} ok"
    );
    assert!(
        m.stderr()
            .contains(&format!("child pid {victim} exit signal Killed (9)")),
        "{}",
        m.stderr()
    );
}

/// Shared by the strategies' suites: start `conf` (with
/// `MaxConnectionsPerChild 10` and `children` children at start), make 200
/// requests on 200 connections, and require that every one is answered,
/// that the first children left, and that others replaced them.
pub fn max_connections_per_child_loses_nothing(site: &Site, conf: &Path, port: u16, count: usize) {
    let m = start(site, conf);
    assert!(wait_for(5.0, || children(m.pid()).len() >= count));
    let first = children(m.pid());
    let (ok, failed) = Load::start(port, 200).join();
    assert_eq!((ok, failed), (200, 0), "{}", m.stderr());
    // 200 connections at 10 per child: 20 children at least, so none of
    // the first ones is left.
    assert!(
        wait_for(2.0, || first.iter().all(|p| !alive(*p))),
        "children {first:?} outlived MaxConnectionsPerChild 10"
    );
    // The last ones may have just left: replacements come at once.
    assert!(
        wait_for(2.0, || !children(m.pid()).is_empty()),
        "no child replaced the ones that left; {}",
        m.stderr()
    );
    assert_eq!(try_get(addr(port), "/"), Some(200));
}

/// Shared by the strategies' suites: start `conf` with `count` children,
/// send SIGHUP twice, and require an answer within 2 s of each, from new
/// children (the old ones are gone).
pub fn hard_restarts_answer_within_2_s(site: &Site, conf: &Path, port: u16, count: usize) {
    let mut m = start(site, conf);
    assert!(wait_for(5.0, || children(m.pid()).len() >= count));
    for i in 0..2 {
        let before = children(m.pid());
        let t = std::time::Instant::now();
        m.signal(nix::sys::signal::Signal::SIGHUP);
        m.wait_log("resuming normal operations", 2 + i);
        assert!(
            wait_for(2.0, || try_get(addr(port), "/") == Some(200)),
            "no answer within 2 s of SIGHUP; {}",
            m.stderr()
        );
        assert!(t.elapsed() < Duration::from_secs(3));
        assert!(
            before.iter().all(|p| !alive(*p)),
            "children {before:?} survived a restart"
        );
    }
}

/// A client socket with a small receive buffer, connected to `addr`: the
/// server cannot push much to it before the client reads.
pub fn small_window(addr: SocketAddr) -> TcpStream {
    use nix::sys::socket::{
        connect, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn,
    };
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    setsockopt(&fd, sockopt::RcvBuf, &4096).unwrap();
    let SocketAddr::V4(v4) = addr else {
        panic!("{addr} is not IPv4")
    };
    connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::from(v4)).unwrap();
    TcpStream::from(fd)
}

/// 10 MiB whose byte `i` is `i % 251` (a prime, so a shifted or dropped
/// block shows).
pub const BIG: usize = 10 * 1024 * 1024;

pub fn big_pattern() -> Vec<u8> {
    (0..BIG).map(|i| (i % 251) as u8).collect()
}

/// Read a whole `Connection: close` response from `s`: (head, body).
pub fn read_all(mut s: &TcpStream) -> (String, Vec<u8>) {
    let mut all = Vec::with_capacity(BIG + 1024);
    s.read_to_end(&mut all).expect("read the response");
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {} bytes", all.len()));
    let head = String::from_utf8_lossy(&all[..end]).into_owned();
    (head, all.split_off(end + 4))
}

/// Client threads making `GET path` requests until stopped (or 60 s):
/// `keep_alive` threads send up to 20 requests on a connection before
/// opening another, `fresh` threads open a new connection for each.
///
/// A request sent on a reused connection that the server had closed
/// (end of file or reset before any byte of an answer: the race every
/// keep-alive client meets when a server closes an idle connection) is
/// sent again on a new connection, as curl and browsers do (RFC 9112,
/// 9.3.1), and counted in `retried`; any other failure (refused, no
/// answer on a new connection, a status other than 200, a bad answer)
/// counts as failed, and the first ones are described.
pub struct MixedLoad {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU32>,
    retried: Arc<AtomicU32>,
    failures: Arc<std::sync::Mutex<Vec<String>>>,
    threads: Vec<JoinHandle<()>>,
}

/// What [`MixedLoad::finish`] counted.
#[derive(Debug)]
pub struct LoadReport {
    pub ok: u32,
    pub retried: u32,
    /// Descriptions of the failed requests.
    pub failures: Vec<String>,
}

impl MixedLoad {
    pub fn start(port: u16, path: &str, keep_alive: usize, fresh: usize) -> MixedLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU32::new(0));
        let retried = Arc::new(AtomicU32::new(0));
        let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").into_bytes();
        let threads = (0..keep_alive + fresh)
            .map(|i| {
                let per_conn = if i < keep_alive { 20 } else { 1 };
                let (stop, ok, retried, failures) =
                    (stop.clone(), ok.clone(), retried.clone(), failures.clone());
                let request = request.clone();
                std::thread::spawn(move || {
                    let until = Instant::now() + Duration::from_secs(60);
                    let mut conn: Option<Kept> = None;
                    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                        let reused = conn.is_some();
                        let outcome = match conn.take() {
                            Some((r, n)) => ask(r, n, &request),
                            None => match TcpStream::connect(addr(port)) {
                                Ok(s) => {
                                    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                                    ask(BufReader::new(s), 0, &request)
                                }
                                Err(e) => Err((false, format!("connect: {e}"))),
                            },
                        };
                        match outcome {
                            Ok(Some((r, n))) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                                if n < per_conn {
                                    conn = Some((r, n));
                                }
                            }
                            Ok(None) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            // Closed before any byte of an answer, on a
                            // reused connection: sent again on a new one.
                            Err((true, _)) if reused => {
                                retried.fetch_add(1, Ordering::Relaxed);
                            }
                            Err((_, what)) => {
                                let mut f = failures.lock().unwrap();
                                if f.len() < 20 {
                                    f.push(what);
                                } else {
                                    f.push(String::new());
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        MixedLoad {
            stop,
            ok,
            retried,
            failures,
            threads,
        }
    }

    pub fn ok(&self) -> u32 {
        self.ok.load(Ordering::Relaxed)
    }

    /// Stop every thread and return what they counted.
    pub fn finish(mut self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let failures = std::mem::take(&mut *self.failures.lock().unwrap());
        LoadReport {
            ok: self.ok.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            failures,
        }
    }
}

impl Drop for MixedLoad {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A kept-alive connection and the requests it has answered.
type Kept = (BufReader<TcpStream>, u32);

/// Why a request failed: whether nothing of an answer came (`true`), and
/// what went wrong.
type Failure = (bool, String);

/// Send `request` on `r`'s connection (which has answered `n` before) and
/// read a `200` with a `Content-Length` body: the connection back with its
/// count when it stays open, `None` when the answer closed it.
fn ask(mut r: BufReader<TcpStream>, n: u32, request: &[u8]) -> Result<Option<Kept>, Failure> {
    use std::io::BufRead;
    if let Err(e) = r.get_mut().write_all(request) {
        return Err((
            true,
            format!("request #{} on a connection: send: {e}", n + 1),
        ));
    }
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) if head.is_empty() => {
                return Err((
                    true,
                    format!("request #{}: closed without an answer", n + 1),
                ))
            }
            Err(e) if head.is_empty() => {
                return Err((true, format!("request #{}: no answer: {e}", n + 1)))
            }
            Ok(0) => return Err((false, format!("closed in the head: {head:?}"))),
            Err(e) => return Err((false, format!("{e} in the head: {head:?}"))),
            Ok(_) if line == "\r\n" => break,
            Ok(_) => head.push_str(&line),
        }
    }
    let lower = head.to_ascii_lowercase();
    if !lower.starts_with("http/1.1 200 ") {
        return Err((false, format!("answered {head:?}")));
    }
    let len = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .ok_or_else(|| (false, format!("no Content-Length in {head:?}")))?;
    let mut body = vec![0; len];
    r.read_exact(&mut body)
        .map_err(|e| (false, format!("body of {len} bytes: {e}")))?;
    if lower.contains("\r\nconnection: close") {
        return Ok(None);
    }
    Ok(Some((r, n + 1)))
}
