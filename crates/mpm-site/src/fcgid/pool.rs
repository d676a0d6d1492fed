//! The pool at work in a serving process: a request of a class takes an
//! idle process of that class from the shared process table, or
//! starts one when the limits allow ([`regulate::admit`]), or waits for
//! one up to `FcgidConnectTimeout`, then gets 503 and the error log one
//! [`NoProcess`] line.
//!
//! A process is started by the serving process whose request needed it
//! (by its manager thread, on the request's behalf: the process gets
//! `SIGTERM` when that thread, which lives as long as the serving
//! process, ends, so no FastCGI process outlives its starter however the
//! server stops; see [`ScriptCommand::spawn_with`]): it listens on a Unix
//! socket in the pool's directory, handed to it as its standard input
//! (the FastCGI convention, `FCGI_LISTENSOCK_FILENO`), and every serving
//! process may then take it for a request. Its starter keeps its
//! `Child`: the manager thread reaps it when it exits (one
//! that was not retired crashed: logged, its slot freed, and the next
//! request starts another), retires it after `FcgidMaxRequestsPerProcess`
//! requests, `FcgidIdleTimeout` idle or `FcgidProcessLifeTime` lived
//! ([`regulate::scan`], keeping `FcgidMinProcessesPerClass`), ends it
//! (`SIGTERM`, then `SIGKILL`) and reaps it. A process whose starter is
//! gone (a serving process that exited) is retired by any other.
//!
//! The request body is read whole before a process is taken (as
//! mod_fcgid does, so a slow client holds no FastCGI process): in memory
//! up to `FcgidMaxRequestInMem`, in an unlinked temporary file beyond,
//! refused with 413 beyond `FcgidMaxRequestLen`.
//!
//! How a request is written to a process and its answer read is the
//! [`Backend`]'s business (the FastCGI record protocol).

use std::io::{self, Cursor, Read, Seek, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use http::StatusCode;
use mpm_core::{Body, Response};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::config::FcgidConfig;
use super::regulate::{self, NoProcess, ProcState};
use super::table::{self, class_key, Slot, Table};
use crate::cgi::{read_head, CgiEnv, ReadHeadError, ResponseLimits};
use crate::pages::error_response;
use crate::script::ScriptCommand;

/// One request to a FastCGI process: what speaks the protocol.
pub trait Backend: Send + Sync + 'static {
    /// Send the request (`env` as `PARAMS`, `body` as `STDIN`) on `conn`,
    /// a new connection to the process, and give its `STDOUT` as a
    /// reader that ends at `END_REQUEST` (an error when the process broke
    /// off); `STDERR` goes to the error log under `name`.
    fn request(
        &self,
        conn: UnixStream,
        env: &CgiEnv,
        body: &mut dyn Read,
        name: &str,
    ) -> io::Result<Box<dyn Read + Send>>;
}

/// A class of processes: one program (with its wrapper), as mod_fcgid
/// keys them.
#[derive(Debug, Clone)]
pub struct Class {
    /// Its key in the table.
    pub key: u64,
    /// Its name (the program, and the wrapper's when there is one).
    pub name: String,
    /// How its processes start.
    pub command: ScriptCommand,
}

impl Class {
    /// The class of `command`, named `name`.
    pub fn new(name: String, command: ScriptCommand) -> Class {
        Class {
            key: class_key(&name),
            name,
            command,
        }
    }
}

/// A process this serving process started.
struct Owned {
    slot: usize,
    child: Child,
    socket: PathBuf,
    class: String,
    /// When it gets the next signal, and which, once retired.
    next: Option<(Instant, Signal)>,
}

/// How often the manager thread looks.
const TICK: Duration = Duration::from_millis(200);
/// How long a retired process has between `SIGTERM` and `SIGKILL`.
const KILL_AFTER: Duration = Duration::from_secs(3);
/// How often a request waiting for a process looks again.
const WAIT_STEP: Duration = Duration::from_millis(10);

/// A process for the manager thread to start: its command, the
/// listening socket for its standard input, where the `Child` goes.
struct Spawn {
    command: ScriptCommand,
    listener: UnixListener,
    reply: Sender<io::Result<Child>>,
}

/// The pool, as one serving process uses it.
pub struct Pool {
    cfg: FcgidConfig,
    table: Table,
    backend: Arc<dyn Backend>,
    owned: Arc<Mutex<Vec<Owned>>>,
    /// The socket directory (`FcgidIPCDir`, else one of this user's in the
    /// temporary directory), as text.
    socket_dir: String,
    manager: Once,
    /// Requests to start a process, to the manager thread.
    spawns: Mutex<Option<Sender<Spawn>>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("cfg", &self.cfg).finish()
    }
}

impl Pool {
    /// A pool with these settings; makes the shared table (call it before
    /// forking the serving processes).
    pub fn new(cfg: FcgidConfig, backend: Arc<dyn Backend>) -> io::Result<Pool> {
        let socket_dir = match &cfg.ipc_dir {
            Some(dir) => dir.clone(),
            None => std::env::temp_dir().join(format!("mpmd-fcgid-{}", nix::unistd::geteuid())),
        };
        let socket_dir = socket_dir
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        Ok(Pool {
            socket_dir,
            cfg,
            table: table::table()?,
            backend,
            owned: Arc::default(),
            manager: Once::new(),
            spawns: Mutex::new(None),
        })
    }

    /// The shared table (for the status page).
    pub fn table(&self) -> Table {
        self.table
    }

    /// Answer a request of `class` with environment `env` and `body`
    /// (`declared`: its `Content-Length`). A body without one (chunked)
    /// is read whole first, as every body is: its length then goes to the
    /// application as `CONTENT_LENGTH`, and `HTTP_TRANSFER_ENCODING` is
    /// left out (mod_fcgid's "dechunked request body"), so PHP reads it.
    pub fn handle(
        &self,
        class: &Class,
        env: &mut CgiEnv,
        body: &mut dyn Read,
        declared: Option<u64>,
    ) -> Response {
        if declared.is_some_and(|n| n > self.cfg.max_request_len) {
            return too_long(&class.name, self.cfg.max_request_len);
        }
        let (mut kept, length) = match self.keep_body(body) {
            Ok(Some(kept)) => kept,
            Ok(None) => return too_long(&class.name, self.cfg.max_request_len),
            // The engine answers for the body (413, 408, 400).
            Err(_) => return error_response(StatusCode::BAD_REQUEST),
        };
        if declared.is_none() && length > 0 {
            env.set("CONTENT_LENGTH", length.to_string().as_bytes());
            env.remove("HTTP_TRANSFER_ENCODING");
        }
        self.start_manager();
        let (slot, conn) = match self.acquire(class) {
            Ok(taken) => taken,
            Err(Some(no_process)) => {
                log::error!("{no_process}");
                return error_response(StatusCode::SERVICE_UNAVAILABLE);
            }
            Err(None) => return error_response(StatusCode::SERVICE_UNAVAILABLE),
        };
        let mut lease = self.lease(slot);
        let _ = conn.set_read_timeout(Some(self.cfg.io_timeout));
        let _ = conn.set_write_timeout(Some(self.cfg.io_timeout));
        let output = match self.backend.request(conn, env, &mut kept, &class.name) {
            Ok(output) => output,
            Err(e) => {
                lease.broken = true;
                return backend_error(&class.name, &e);
            }
        };
        let mut output = LeasedOutput {
            output,
            lease,
            ended: false,
        };
        let limits = ResponseLimits::default();
        let (head, start) = match read_head(&mut output, limits) {
            Ok(parsed) => parsed,
            Err(ReadHeadError::Io(e)) => return backend_error(&class.name, &e),
            Err(e) => {
                log::error!("mod_fcgid: bad response from {}: {e}", class.name);
                return error_response(StatusCode::BAD_GATEWAY);
            }
        };
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = head.status;
        *response.headers_mut() = head.headers;
        response.headers_mut().remove(http::header::CONTENT_LENGTH);
        *response.body_mut() =
            crate::cgi_script::body::spool(output, &class.name, start, head.content_length);
        response
    }

    /// The request body, read whole, and its length: in memory up to
    /// `FcgidMaxRequestInMem`, in a temporary file beyond; `None` past
    /// `FcgidMaxRequestLen`.
    fn keep_body(&self, body: &mut dyn Read) -> io::Result<Option<(Box<dyn Read + Send>, u64)>> {
        let max = self.cfg.max_request_len;
        let mut memory = Vec::new();
        let read = body
            .take(self.cfg.max_request_in_mem.min(max) + 1)
            .read_to_end(&mut memory)? as u64;
        if read <= self.cfg.max_request_in_mem.min(max) {
            return Ok(Some((Box::new(Cursor::new(memory)), read)));
        }
        if read > max {
            return Ok(None);
        }
        let mut file = tempfile::tempfile()?;
        file.write_all(&memory)?;
        let rest = io::copy(&mut body.take(max - read + 1), &mut file)?;
        if read + rest > max {
            return Ok(None);
        }
        file.rewind()?;
        Ok(Some((Box::new(file), read + rest)))
    }

    /// A process of `class` for one request: an idle one, a new one, or
    /// one that frees up within `FcgidConnectTimeout`. `Err(Some(_))`:
    /// the limits kept every process busy; `Err(None)`: none could be
    /// started or reached (logged).
    fn acquire(&self, class: &Class) -> Result<(Slot, UnixStream), Option<NoProcess>> {
        let started = Instant::now();
        let deadline = started + self.cfg.connect_timeout;
        loop {
            if let Some(slot) = self.table.take_idle(class.key) {
                match UnixStream::connect(self.socket_path(&slot)) {
                    Ok(conn) => return Ok((slot, conn)),
                    Err(e) => {
                        log::warn!(
                            "mod_fcgid: process {} of {} does not answer ({e}); retiring it",
                            slot.pid(),
                            class.name
                        );
                        slot.retire(false);
                        continue;
                    }
                }
            }
            let max_all = self.cfg.max_processes.min(table::MAX_PROCESSES as u32);
            let cfg = FcgidConfig {
                max_processes: max_all,
                ..self.cfg.clone()
            };
            // The count and the claim of a slot as one step (two requests
            // racing never both start the last process the limits allow).
            let (in_class, in_all, admitted) = {
                let _deciding = self.table.spawning();
                let (in_class, in_all) = self.table.counts(class.key);
                let admitted = regulate::admit(&cfg, in_class, in_all)
                    .map(|()| self.table.claim(class.key, &class.name, std::process::id()));
                (in_class, in_all, admitted)
            };
            match admitted {
                Ok(claimed) => match self.start(class, claimed) {
                    Ok(started) => return Ok(started),
                    Err(e) => {
                        log::error!("mod_fcgid: could not start {}: {e}", class.name);
                        return Err(None);
                    }
                },
                Err(limit) if Instant::now() >= deadline => {
                    return Err(Some(NoProcess {
                        class: class.name.clone(),
                        limit,
                        class_running: in_class,
                        total_running: in_all,
                        waited_ms: started.elapsed().as_millis() as u64,
                    }));
                }
                Err(_) => std::thread::sleep(WAIT_STEP),
            }
        }
    }

    fn lease(&self, slot: Slot) -> Lease {
        Lease {
            slot,
            serial: slot.serial(),
            table: self.table,
            max_requests: self.cfg.max_requests_per_process,
            broken: false,
        }
    }

    /// The pool's socket directory: `FcgidIPCDir`, else one of this
    /// user's own in the temporary directory; made 0700 if missing, and
    /// refused unless it is this user's and no one else may write in it.
    fn ipc_dir(&self) -> io::Result<PathBuf> {
        let dir = PathBuf::from(&self.socket_dir);
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("making the socket directory {}: {e}", dir.display()),
                ))
            }
        }
        let meta = std::fs::symlink_metadata(&dir)?;
        if !meta.is_dir()
            || meta.uid() != nix::unistd::geteuid().as_raw()
            || meta.permissions().mode() & 0o022 != 0
        {
            return Err(io::Error::other(format!(
                "the socket directory {} must be a directory of user {} that no one else may write in (set FcgidIPCDir)",
                dir.display(),
                nix::unistd::geteuid()
            )));
        }
        Ok(dir)
    }

    fn socket_path(&self, slot: &Slot) -> PathBuf {
        use std::fmt::Write as _;
        // Made once per request: the directory is known from the start,
        // the name is written into one buffer.
        let mut path = String::with_capacity(self.socket_dir.len() + 40);
        path.push_str(&self.socket_dir);
        let _ = write!(
            path,
            "/{}.{}.{}.sock",
            slot.owner(),
            slot.index,
            slot.serial()
        );
        PathBuf::from(path)
    }

    /// Start a process of `class` in the slot the caller claimed
    /// holding [`table::Table::spawning`] (`None`: the table was full),
    /// for the caller's request.
    fn start(&self, class: &Class, claimed: Option<Slot>) -> io::Result<(Slot, UnixStream)> {
        let slot = claimed.ok_or_else(|| io::Error::other("the FastCGI process table is full"))?;
        let started = (|| {
            self.ipc_dir()?;
            let socket = self.socket_path(&slot);
            let _ = std::fs::remove_file(&socket);
            let listener = UnixListener::bind(&socket)?;
            let conn = UnixStream::connect(&socket)?;
            let mut command = class.command.clone();
            for (name, value) in &self.cfg.initial_env {
                command.env.push((name.into(), value.into()));
            }
            let child = self.spawn(command, listener)?;
            Ok::<_, io::Error>((child, socket, conn))
        })();
        let (child, socket, conn) = match started {
            Ok(started) => started,
            Err(e) => {
                slot.free();
                return Err(e);
            }
        };
        slot.started(child.id());
        slot.start_busy();
        log::info!(
            "mod_fcgid: started process {} of {} (slot {})",
            child.id(),
            class.name,
            slot.index
        );
        self.owned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Owned {
                slot: slot.index,
                child,
                socket,
                class: class.name.clone(),
                next: None,
            });
        Ok((slot, conn))
    }

    /// Start `command` listening on `listener`, by the manager thread
    /// (or by this thread when there is none: then the process ends when
    /// this thread does).
    fn spawn(&self, command: ScriptCommand, listener: UnixListener) -> io::Result<Child> {
        let spawns = self
            .spawns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(spawns) = spawns else {
            return command.spawn_with(Stdio::from(OwnedFd::from(listener)), Stdio::inherit());
        };
        let (reply, child) = mpsc::channel();
        spawns
            .send(Spawn {
                command,
                listener,
                reply,
            })
            .map_err(|_| io::Error::other("the pool's manager thread is gone"))?;
        child
            .recv()
            .map_err(|_| io::Error::other("the pool's manager thread is gone"))?
    }

    /// Start this process's manager thread, once.
    fn start_manager(&self) {
        self.manager.call_once(|| {
            let owned = self.owned.clone();
            let table = self.table;
            let cfg = self.cfg.clone();
            let (spawns, jobs) = mpsc::channel();
            let started = std::thread::Builder::new()
                .name("fcgid-manager".into())
                .spawn(move || manager(&cfg, table, &owned, &jobs));
            match started {
                Ok(_) => {
                    *self.spawns.lock().unwrap_or_else(|p| p.into_inner()) = Some(spawns);
                }
                Err(e) => log::error!(
                    "mod_fcgid: could not start the manager thread: {e}; processes are not retired or reaped"
                ),
            }
        });
    }
}

impl Drop for Pool {
    /// The processes this pool started end with it (`SIGKILL`, reaped,
    /// their slots freed); those of other serving processes go on.
    fn drop(&mut self) {
        let mut owned = self.owned.lock().unwrap_or_else(|p| p.into_inner());
        for mut o in owned.drain(..) {
            let _ = o.child.kill();
            let _ = o.child.wait();
            let _ = std::fs::remove_file(&o.socket);
            self.table.slot(o.slot).free();
        }
    }
}

/// The manager thread: starts the processes requests ask for, and looks
/// at the pool every [`TICK`] until the pool is gone.
fn manager(
    cfg: &FcgidConfig,
    table: Table,
    owned: &Arc<Mutex<Vec<Owned>>>,
    jobs: &Receiver<Spawn>,
) {
    let mut looked = Instant::now();
    loop {
        match jobs.recv_timeout(TICK.saturating_sub(looked.elapsed())) {
            Ok(job) => {
                let child = job
                    .command
                    .spawn_with(Stdio::from(OwnedFd::from(job.listener)), Stdio::inherit());
                // The request gave up waiting: nobody will own it.
                if let Err(mpsc::SendError(Ok(mut child))) = job.reply.send(child) {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if looked.elapsed() >= TICK {
            // The pool is gone (it ended its processes).
            if Arc::strong_count(owned) == 1 {
                return;
            }
            manage(cfg, table, owned, table.now());
            looked = Instant::now();
        }
    }
}

/// One look by the manager of this serving process at `now` (the table's
/// clock): retire by the idle scan, retire processes whose starter is
/// gone, end retired processes of its own and reap those that exited.
fn manage(cfg: &FcgidConfig, table: Table, owned: &Mutex<Vec<Owned>>, now: Duration) {
    let me = std::process::id();
    let facts = table.facts();
    let mine: Vec<usize> = owned
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|o| o.slot)
        .collect();
    // The idle scan, over every process (the class minimum counts them
    // all), applied to this pool's own.
    let procs: Vec<_> = facts.iter().map(|f| f.0).collect();
    for (index, reason) in regulate::scan(cfg, &procs, now) {
        let slot = table.slot(index);
        if mine.contains(&index) && slot.retire(true) {
            log::info!(
                "mod_fcgid: retiring process {} ({} reached)",
                slot.pid(),
                reason.directive()
            );
        }
    }
    // Processes whose starter is gone (it exited): nobody can reap them,
    // so they are ended and their slots freed.
    for (f, info) in &facts {
        let orphan = info.owner != me
            && f.state != ProcState::Starting
            && kill(Pid::from_raw(info.owner as i32), None) == Err(nix::errno::Errno::ESRCH);
        if orphan {
            let slot = table.slot(f.slot);
            if slot.retire(false) || slot.retiring() {
                if info.pid != 0 {
                    let _ = kill(Pid::from_raw(info.pid as i32), Signal::SIGTERM);
                }
                slot.free();
            }
        }
    }
    let clock = Instant::now();
    let mut owned = owned.lock().unwrap_or_else(|p| p.into_inner());
    owned.retain_mut(|o| {
        let slot = table.slot(o.slot);
        match o.child.try_wait() {
            Ok(None) => {
                if slot.retiring() {
                    let (when, sig) = o.next.unwrap_or((clock, Signal::SIGTERM));
                    if clock >= when {
                        let _ = kill(Pid::from_raw(o.child.id() as i32), sig);
                        o.next = Some((clock + KILL_AFTER, Signal::SIGKILL));
                    } else {
                        o.next = Some((when, sig));
                    }
                }
                true
            }
            exited => {
                if !slot.retiring() {
                    match exited {
                        // A program that leaves by itself (php-cgi after
                        // PHP_FCGI_MAX_REQUESTS requests).
                        Ok(Some(status)) if status.success() => log::info!(
                            "mod_fcgid: process {} of {} exited by itself; a new one starts when a request needs it",
                            o.child.id(),
                            o.class
                        ),
                        _ => {
                            let how = match exited {
                                Ok(Some(status)) => status.to_string(),
                                _ => "could not be waited for".to_string(),
                            };
                            log::error!(
                                "mod_fcgid: process {} of {} crashed ({how}); a new one starts when a request needs it",
                                o.child.id(),
                                o.class
                            );
                        }
                    }
                }
                let _ = std::fs::remove_file(&o.socket);
                slot.free();
                false
            }
        }
    });
}

/// A process taken for one request: given back when dropped, idle again
/// or (after its last request, or broken) retired.
struct Lease {
    slot: Slot,
    serial: u64,
    table: Table,
    max_requests: u64,
    broken: bool,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.slot.serial() != self.serial {
            // Its process was reaped and the slot reused meanwhile.
            return;
        }
        if self.broken {
            self.slot.retire(false);
            return;
        }
        let served = self.slot.served(self.table.now());
        let cfg = FcgidConfig {
            max_requests_per_process: self.max_requests,
            ..FcgidConfig::default()
        };
        if regulate::after_request(&cfg, served).is_some() {
            self.slot.retire(false);
        } else {
            self.slot.release();
        }
    }
}

/// A process's answer, holding its lease until read to its end (a
/// process whose answer was not read to its end is retired: what it
/// still sends would meet the next request).
struct LeasedOutput {
    output: Box<dyn Read + Send>,
    lease: Lease,
    ended: bool,
}

impl Read for LeasedOutput {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.output.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.ended = true;
        }
        Ok(n)
    }
}

impl Drop for LeasedOutput {
    fn drop(&mut self) {
        self.lease.broken |= !self.ended;
    }
}

fn too_long(name: &str, max: u64) -> Response {
    log::error!("mod_fcgid: the request body for {name} is longer than FcgidMaxRequestLen {max}");
    error_response(StatusCode::PAYLOAD_TOO_LARGE)
}

fn backend_error(name: &str, e: &io::Error) -> Response {
    if matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    ) {
        log::error!("mod_fcgid: no answer from {name} within FcgidIOTimeout: {e}");
        return error_response(StatusCode::GATEWAY_TIMEOUT);
    }
    log::error!("mod_fcgid: error talking to {name}: {e}");
    error_response(StatusCode::BAD_GATEWAY)
}

#[cfg(test)]
mod tests;
