//! What the master does between commands for its service manager
//! ([`crate::notify`]) and for a binary upgrade ([`crate::upgrade`]): one
//! ticker ([`mpm::Control::on_tick`]) that runs on the master's own
//! thread each time its loop wakes, reading the scoreboard.
//!
//! `crate::server` calls it at three points: [`Supervisor::install`]
//! once the control channel and the pid file exist,
//! [`Supervisor::next_run`] before each run of the strategy (with the
//! listeners, scoreboard and strategy it runs with), and
//! [`Supervisor::reloading`] when a restart begins.
//!
//! "Serving" means what the issue asks for readiness: at least one child
//! of the current generation accepts (its scoreboard slot says so).

use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mpm::strategy::{Control, HandOver, Listeners, Scoreboard, WorkerState};
use mpm::{ControlHandle, Phase};
use parking_lot::Mutex;

use crate::notify::Notify;
use crate::pidfile::PidFile;
use crate::upgrade::{self, Binary, Failed, InFlight, Progress, Successor};

/// How often the ticker runs while something is about to happen
/// (children starting, an upgrade in flight).
const SOON: Duration = Duration::from_millis(50);

/// How often otherwise.
const IDLE: Duration = Duration::from_secs(1);

/// The least time between two `STATUS=` updates.
const STATUS_EVERY: Duration = Duration::from_secs(1);

/// The new master's end of an upgrade, taken from the environment at
/// start: failures before the ticker runs are reported through it.
static SUCCESSOR: Mutex<Option<Successor>> = parking_lot::const_mutex(None);

/// Keep the upgrade socket the previous master passed (see
/// [`crate::activation`]).
pub fn set_successor(s: Successor) {
    *SUCCESSOR.lock() = Some(s);
}

/// This process was started by a binary upgrade and does not serve yet.
pub fn is_successor() -> bool {
    SUCCESSOR.lock().is_some()
}

/// This process could not start: tell the previous master why, when
/// there is one waiting.
pub fn successor_failed(why: &str) {
    if let Some(s) = SUCCESSOR.lock().take() {
        s.failed(why);
    }
}

struct State {
    notify: Notify,
    /// The current run's (none before the first).
    scoreboard: Option<Scoreboard>,
    mpm_name: &'static str,
    /// The generation `READY=1` was sent for (0: none yet).
    announced: u32,
    binary: Binary,
    usr2: Arc<AtomicBool>,
    listener_fds: Vec<RawFd>,
    handover: Option<HandOver>,
    in_flight: Option<InFlight>,
    failed: Failed,
    /// The sockets are the new master's: say nothing more to systemd.
    handed_over: bool,
    pid_file: Arc<Mutex<PidFile>>,
    pid_path: PathBuf,
    control: ControlHandle,
    last_status: Option<(String, Instant)>,
}

/// The ticker's state, shared with the server's run loop.
pub struct Supervisor {
    state: Arc<Mutex<State>>,
}

/// How the current generation's children are doing.
#[derive(Debug, Default)]
struct Health {
    accepting: u32,
    busy: u32,
    idle: u32,
}

fn health(sb: &Scoreboard) -> Health {
    let g = sb.generation();
    let mut h = Health::default();
    for p in 0..sb.procs() {
        let slot = sb.process(p);
        if slot.live_pid().is_none()
            || slot.generation.load(Ordering::Acquire) != g
            || slot.is_quiescing()
            || slot.accepting.load(Ordering::Acquire) == 0
        {
            continue;
        }
        h.accepting += 1;
        for t in 0..sb.threads() {
            let s = sb.worker(p, t).state();
            if s.is_busy() {
                h.busy += 1;
            } else if s == WorkerState::Ready {
                h.idle += 1;
            }
        }
    }
    h
}

impl Supervisor {
    /// Start supervising: USR2 asks for an upgrade, the ticker runs in
    /// `control`'s loop, a stop tells the service manager.
    pub fn install(
        control: &Control,
        pid_file: Arc<Mutex<PidFile>>,
        pid_path: PathBuf,
    ) -> Result<Supervisor, String> {
        let usr2 = control
            .wake_on_signal(libc::SIGUSR2)
            .map_err(|e| e.to_string())?;
        let state = Arc::new(Mutex::new(State {
            notify: Notify::from_env(),
            scoreboard: None,
            mpm_name: "",
            announced: 0,
            binary: upgrade::binary(),
            usr2,
            listener_fds: Vec::new(),
            handover: None,
            in_flight: None,
            failed: Failed::default(),
            handed_over: false,
            pid_file,
            pid_path,
            control: control.handle(),
            last_status: None,
        }));
        let s = state.clone();
        control.on_tick(move || s.lock().tick());
        let s = state.clone();
        control.on_phase(move |p| {
            if p == Phase::Draining {
                let mut st = s.lock();
                if !st.handed_over {
                    st.notify.stopping();
                }
            }
        });
        Ok(Supervisor { state })
    }

    /// The strategy `mpm_name` is about to run with `listeners` (the
    /// sockets an upgrade hands over) and `scoreboard` (where readiness
    /// and health are read). Call before each run: a restart may change
    /// any of them.
    pub fn next_run(&self, listeners: &Listeners, scoreboard: &Scoreboard, mpm_name: &'static str) {
        let mut st = self.state.lock();
        st.listener_fds = listeners.iter().map(|l| l.socket.as_raw_fd()).collect();
        st.handover = Some(listeners.handover());
        st.scoreboard = Some(scoreboard.clone());
        st.mpm_name = mpm_name;
    }

    /// A restart or graceful restart begins: `RELOADING=1`; `READY=1`
    /// follows when the next generation serves.
    pub fn reloading(&self) {
        self.state.lock().notify.reloading();
    }
}

impl State {
    fn tick(&mut self) -> Duration {
        let now = Instant::now();
        self.failed.reap(now);
        let Some(scoreboard) = self.scoreboard.clone() else {
            return IDLE;
        };
        let h = health(&scoreboard);
        let serving = h.accepting > 0;
        let mut wait = IDLE;
        let generation = scoreboard.generation();
        if self.announced != generation && !self.handed_over {
            if serving && self.take_over() {
                let status = self.status_line(&h, generation);
                self.notify.ready(&status);
                self.last_status = Some((status, now));
                self.announced = generation;
            } else {
                wait = SOON;
            }
        }
        if self.usr2.swap(false, Ordering::SeqCst) {
            self.begin_upgrade();
        }
        if let Some(f) = self.in_flight.take() {
            match f.poll(now) {
                Progress::Waiting(f) => {
                    self.in_flight = Some(f);
                    wait = SOON;
                }
                Progress::Ready(f) => self.upgraded(f),
                Progress::Failed(why, pid, running) => {
                    self.upgrade_failed(&why, Some(pid));
                    if running {
                        self.failed.stop(pid);
                    }
                }
            }
        }
        if !self.failed.is_empty() {
            wait = wait.min(SOON);
        }
        if self.handed_over {
            return wait;
        }
        if let Some(w) = self.notify.watchdog(now, serving) {
            wait = wait.min(w);
        }
        if self.announced == generation {
            let status = self.status_line(&h, generation);
            let due = self.last_status.as_ref().is_none_or(|(last, at)| {
                *last != status && now.duration_since(*at) >= STATUS_EVERY
            });
            if due {
                self.notify.status(&status);
                self.last_status = Some((status, now));
            }
        }
        wait
    }

    fn status_line(&self, h: &Health, generation: u32) -> String {
        format!(
            "serving: {} {} process{} accepting, {} busy and {} idle workers, generation {generation}",
            h.accepting,
            self.mpm_name,
            if h.accepting == 1 { "" } else { "es" },
            h.busy,
            h.idle,
        )
    }

    /// This master serves: when it took over from a previous one, tell it
    /// and wait (a little) for its answer. True when done.
    fn take_over(&mut self) -> bool {
        let mut pending = SUCCESSOR.lock();
        let Some(s) = pending.as_mut() else {
            return true;
        };
        if !s.ready() {
            return false;
        }
        *pending = None;
        log::info!("took over the listening sockets from the previous master: serving");
        true
    }

    fn refuse(&self, why: &str) {
        log::error!("binary upgrade refused: {why}");
        upgrade::record(&self.pid_path, Err(&format!("refused: {why}")));
    }

    fn begin_upgrade(&mut self) {
        if let Some(f) = &self.in_flight {
            let why = format!(
                "an upgrade is already in flight (new master pid {}); send USR2 again once it is over",
                f.pid
            );
            return self.refuse(&why);
        }
        if SUCCESSOR.lock().is_some() {
            return self.refuse("this master is still taking over from the previous one");
        }
        if self.handed_over {
            return self.refuse("this master already handed its sockets over and is stopping");
        }
        if self.listener_fds.is_empty() {
            return self.refuse("no listening socket to hand over");
        }
        let oldbin = upgrade::oldbin_path(&self.pid_path);
        let renamed = self.pid_file.lock().rename(&oldbin);
        if let Err(e) = renamed {
            return self.upgrade_failed(&e, None);
        }
        log::info!(
            "binary upgrade: starting {} with {} listening socket{}",
            self.binary.exe().display(),
            self.listener_fds.len(),
            if self.listener_fds.len() == 1 {
                ""
            } else {
                "s"
            }
        );
        match upgrade::start(&self.binary, &self.listener_fds) {
            Ok(f) => self.in_flight = Some(f),
            Err(e) => self.upgrade_failed(&e, None),
        }
    }

    fn upgraded(&mut self, f: InFlight) {
        let pid = f.pid.as_raw();
        self.notify.main_pid(
            pid as u32,
            &format!("handed over to the new master, pid {pid}"),
        );
        if let Some(h) = &self.handover {
            h.hand_over();
        }
        self.handed_over = true;
        f.go();
        upgrade::record(&self.pid_path, Ok(pid));
        log::info!("binary upgrade: the new master (pid {pid}) serves; stopping gracefully");
        self.control.graceful_stop();
    }

    fn upgrade_failed(&mut self, why: &str, pid: Option<nix::unistd::Pid>) {
        let who = match pid {
            Some(p) => format!("the new mpmd (pid {p}) "),
            None => String::new(),
        };
        log::error!(
            "binary upgrade failed: {who}{why}; this master (pid {}) keeps serving",
            std::process::id()
        );
        let oldbin = upgrade::oldbin_path(&self.pid_path);
        let mut pid_file = self.pid_file.lock();
        if pid_file.path() == oldbin {
            if let Err(e) = pid_file.rename(&self.pid_path) {
                log::error!("{e}");
            }
        }
        drop(pid_file);
        upgrade::record(&self.pid_path, Err(why));
    }
}
