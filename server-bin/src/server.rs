//! What `mpmd` does once the command line is read: check, signal, or run.

use std::sync::Arc;
use std::time::SystemTime;

use mpm::strategy::{Clamped, Control, Exit, Listeners, Master, Mpm, RunContext, Scoreboard};
use mpm::{MpmConfig, Phase};

use mpm_site::{Site, StatusInfo};

use crate::cli::{Args, Signal, USAGE};
use crate::config::dump::{self, VERSION};
use crate::config::{self, LoadOptions, ServerConfig};
use crate::detach::{daemonize, redirect_stderr_to_null};
use crate::pidfile::{self, PidFile, Running};
use crate::supervise::{self, Supervisor};
use crate::upgrade::{self, Binary};
use crate::{activation, http2, logging, remoteip, tls};

fn load(args: &Args) -> Result<ServerConfig, String> {
    let opts = LoadOptions {
        defines: args.defines.clone(),
        compiled_mpms: mpm::compiled(),
        before: args.before.clone(),
        after: args.after.clone(),
    };
    config::load(args.config.as_deref(), &opts).map_err(|e| e.to_string())
}

/// The user the children serve as when `mpmd` starts as root with no
/// `User` (Apache never serves as root either; its own default is uid -1).
const DEFAULT_USER: &str = "nobody";
/// Their group when there is no `Group` either, if the system has it
/// (Debian's); else the default user's own group.
const DEFAULT_GROUP: &str = "nogroup";

/// Started as root with no `User`: serve as [`DEFAULT_USER`] (and, with no
/// `Group`, [`DEFAULT_GROUP`] or that user's group), never as root. Returns
/// the notice to log when it chose for the configuration. An error when
/// the default user does not exist: the server will not serve as root, so
/// it does not start.
fn default_user(mpm: &mut MpmConfig) -> Result<Option<String>, String> {
    if !nix::unistd::geteuid().is_root() || mpm.user.is_some() {
        return Ok(None);
    }
    let user = match nix::unistd::User::from_name(DEFAULT_USER) {
        Ok(Some(user)) => user,
        _ => {
            return Err(format!(
                "mpmd was started as root with no User directive, and the unprivileged \
                 default user {DEFAULT_USER} does not exist: add `User name` (and `Group name`) \
                 for the account to serve as; mpmd never serves as root"
            ))
        }
    };
    mpm.user = Some(DEFAULT_USER.to_string());
    let group = match &mpm.group {
        Some(group) => format!("group {group}"),
        None => match nix::unistd::Group::from_name(DEFAULT_GROUP) {
            Ok(Some(g)) => {
                mpm.group = Some(DEFAULT_GROUP.to_string());
                format!("group {DEFAULT_GROUP} (gid {})", g.gid)
            }
            _ => format!("its own group (gid {})", user.gid),
        },
    };
    Ok(Some(format!(
        "started as root with no User directive: the server serves as user {DEFAULT_USER} \
         (uid {}) and {group}, never as root; set User and Group to choose",
        user.uid
    )))
}

fn strategy(args: &Args, cfg: &ServerConfig) -> Result<Box<dyn Mpm>, String> {
    let name = if args.single {
        "single"
    } else {
        cfg.mpm_name
            .as_deref()
            .unwrap_or_else(|| mpm::default_strategy())
    };
    mpm::by_name(name).ok_or_else(|| {
        format!(
            "the {name} MPM is not compiled into this mpmd; compiled in: {}",
            mpm::compiled().join(", ")
        )
    })
}

/// Run the command the arguments ask for. Started by a binary upgrade,
/// a failure is also reported to the previous master.
pub fn main(args: Args) -> Result<(), String> {
    // Before anything can change: the binary an upgrade starts again, and
    // the socket to the master that started this one, if one did.
    upgrade::remember_binary(Binary::at_start());
    let result = activation::take_upgrade_fd().and_then(|fd| {
        if let Some(fd) = fd {
            supervise::set_successor(upgrade::Successor::new(fd));
        }
        command(args)
    });
    if let Err(e) = &result {
        supervise::successor_failed(e);
    }
    result
}

fn command(args: Args) -> Result<(), String> {
    if args.help {
        print!("{USAGE}");
        return Ok(());
    }
    if args.version {
        println!("Server version: {VERSION}");
        return Ok(());
    }
    if args.list_compiled {
        print!("{}", dump::compiled_modules());
        return Ok(());
    }
    let cfg = load(&args)?;
    let mpm = strategy(&args, &cfg)?;
    let (_, mpm_warnings) = mpm.check_config(&cfg.mpm);
    if args.version_verbose {
        print!("{}", dump::version(mpm.info()));
        return Ok(());
    }
    if args.test || args.dump_modules || args.dump_vhosts {
        for w in cfg.warnings.iter().chain(&mpm_warnings) {
            eprintln!("mpmd: warning: {w}");
        }
        if args.dump_vhosts {
            print!("{}", dump::vhosts(&cfg, &args.defines));
        }
        if args.dump_modules {
            print!("{}", dump::loaded_modules(mpm.info()));
        }
        if args.test {
            // Every certificate and key is read and checked, as Apache's
            // -t does.
            let shared = mpm::tls::TlsShared::new().map_err(|e| e.to_string())?;
            tls::build(&cfg, &shared)?;
            eprintln!("Syntax OK");
        }
        return Ok(());
    }
    match args.signal {
        None => run(&args, cfg, mpm, false),
        Some(Signal::Start) => run(&args, cfg, mpm, true),
        Some(sig) => {
            let (nix_sig, starts) = match sig {
                Signal::Stop => (nix::sys::signal::Signal::SIGTERM, false),
                Signal::GracefulStop => (nix::sys::signal::Signal::SIGWINCH, false),
                Signal::Restart => (nix::sys::signal::Signal::SIGHUP, true),
                Signal::Graceful => (nix::sys::signal::Signal::SIGUSR1, true),
                Signal::Upgrade => return upgrade::request(&cfg.pid_file),
                Signal::Start => unreachable!("handled above"),
            };
            if starts && !matches!(pidfile::check(&cfg.pid_file), Running::Yes(_)) {
                eprintln!("mpmd: not running, trying to start");
                return run(&args, cfg, mpm, true);
            }
            pidfile::signal(&cfg.pid_file, nix_sig).map(|_| ())
        }
    }
}

/// Serve until stopped, restarting on SIGHUP/SIGUSR1.
fn run(
    args: &Args,
    mut cfg: ServerConfig,
    mut mpm: Box<dyn Mpm>,
    detach: bool,
) -> Result<(), String> {
    logging::init(cfg.log_level)?;
    for w in &cfg.warnings {
        log::warn!("{w}");
    }
    match pidfile::check(&cfg.pid_file) {
        Running::Yes(pid) => return Err(format!("mpmd (pid {pid}) already running")),
        Running::Stale(pid) => {
            log::warn!(
                "removed stale pid file {}{}",
                cfg.pid_file.display(),
                pid.map(|p| format!(" (pid {p} is gone)"))
                    .unwrap_or_default()
            );
            let _ = std::fs::remove_file(&cfg.pid_file);
        }
        Running::No => {}
    }
    // Chosen before anything starts, logged once the error log is open.
    let user_notice = default_user(&mut cfg.mpm)?;
    let (mut mpm_cfg, warnings) = mpm.check_config(&cfg.mpm);
    for w in &warnings {
        log::warn!("{w}");
    }
    // The session-ticket key, made once before any fork and kept across
    // restarts, so every child (and the next generation) shares it.
    let tls_shared = mpm::tls::TlsShared::new().map_err(|e| e.to_string())?;
    let tls_table = tls::build(&cfg, &tls_shared)?;
    // Bind before anything else, so a conflict is reported at once and
    // leaves nothing behind; sockets handed over (socket activation, or a
    // binary upgrade) are used for the addresses they are bound to.
    let upgrading = supervise::is_successor();
    let mut inherited = activation::take_sockets()?;
    // systemd's sockets (an upgrade's are the previous master's): they
    // must stay configured across restarts.
    let activated: Vec<(std::net::SocketAddr, String)> = if upgrading {
        Vec::new()
    } else {
        inherited
            .iter()
            .map(|s| (s.local, s.name.clone()))
            .collect()
    };
    let mut listeners = Listeners::bind_with(
        &cfg.listens,
        mpm_cfg.directives().listen_backlog,
        &mut inherited,
    )
    .map_err(|e| e.to_string())?;
    activation::leftovers(inherited, &cfg.listens, upgrading)?;
    listeners.set_accept_filters(cfg.accept_filters.clone());
    tls::apply(&tls_table, &mut listeners);
    http2::apply(&cfg, &mut listeners);
    remoteip::apply(&cfg, &mut listeners);
    // Started by an upgrade, the server is already detached.
    let ready = if detach && !upgrading {
        Some(daemonize()?)
    } else {
        None
    };
    logging::set_target(cfg.error_log.as_deref(), cfg.log_level)?;
    if ready.is_some() && cfg.error_log.is_some() {
        // Detached with an error log: let go of the terminal's stderr too.
        redirect_stderr_to_null();
    }
    if let Some(notice) = user_notice {
        log::warn!("{notice}");
    }
    let pid_file = Arc::new(parking_lot::Mutex::new(PidFile::write(&cfg.pid_file)?));
    for l in listeners.iter() {
        log::info!("listening on {} ({})", l.local, l.addr);
    }
    let scoreboard = board(args, mpm.as_ref(), &mpm_cfg, &cfg.mpm)?;
    // The children, whichever strategy started them: kept across restarts.
    let master = Master::new();
    let control = Control::new().map_err(|e| e.to_string())?;
    control.install_signals().map_err(|e| e.to_string())?;
    {
        // A graceful stop removes the pid file as soon as it begins.
        let pid_file = pid_file.clone();
        control.on_phase(move |p| {
            if p == Phase::Draining {
                pid_file.lock().remove();
            }
        });
    }
    let supervisor = Supervisor::install(&control, pid_file.clone(), cfg.pid_file.clone())?;
    if let Some(fd) = ready {
        let _ = nix::unistd::write(&fd, b"ok");
    }
    let started = SystemTime::now();
    // As Apache, the first generation is 1.
    let mut generation: u32 = 1;
    loop {
        scoreboard.set_generation(generation);
        scoreboard.set_restart_time(SystemTime::now());
        let (procs, threads) = mpm.scoreboard_shape(&mpm_cfg);
        scoreboard.set_shape_in_use(procs, threads);
        let info = Arc::new(StatusInfo {
            server_version: VERSION.to_string(),
            mpm: mpm.info(),
            built: env!("CARGO_PKG_VERSION").to_string(),
            started,
            server_name: cfg
                .site
                .main
                .server_name
                .clone()
                .unwrap_or_else(|| "localhost".into()),
        });
        let handler = Site::new(&cfg.site, scoreboard.clone(), info)
            .map_err(|e| e.to_string())?
            .with_overrides(cfg.htaccess.parser())
            .with_fcgid(&cfg.site, Arc::new(mpm_site::fcgid::FastCgi))
            .map_err(|e| format!("mod_fcgid: making the FastCGI process table: {e}"))?;
        supervisor.next_run(&listeners, &scoreboard, mpm.info().name);
        log::info!(
            "{VERSION} ({} MPM) configured -- resuming normal operations",
            mpm.info().name
        );
        let exit = mpm
            .run(RunContext {
                listeners: &listeners,
                factory: site_factory(Arc::new(handler)),
                protocol: Arc::new(cfg.protocol.clone()),
                mpm: &mpm_cfg,
                control: &control,
                scoreboard: &scoreboard,
                master: &master,
            })
            .map_err(|e| e.to_string())?;
        let how = match exit {
            Exit::Stop => {
                log::info!("shutting down");
                break;
            }
            Exit::Restart => "restart",
            Exit::GracefulRestart => "graceful restart",
        };
        log::info!("{how} requested: re-reading the configuration");
        supervisor.reloading();
        match reload(args, &mut listeners, &tls_shared, &activated) {
            Ok(new) => {
                let graceful = exit == Exit::GracefulRestart;
                let next = next_strategy(args, mpm, &new, &scoreboard, graceful);
                for w in new.warnings.iter().chain(&next.warnings) {
                    log::warn!("{w}");
                }
                mpm = next.mpm;
                mpm_cfg = next.clamped;
                if let Err(e) = logging::set_target(new.error_log.as_deref(), new.log_level) {
                    log::error!("{e}; keeping the previous error log");
                }
                cfg = new;
            }
            Err(e) => log::error!("{e}; the restart keeps the running configuration"),
        }
        generation = generation.wrapping_add(1);
    }
    Ok(())
}

/// The factory every child calls after `fork`: the one site, and this
/// child's balancer health-check thread (if a member has `hcmethod=`).
fn site_factory(site: Arc<Site>) -> mpm::HandlerFactory {
    Arc::new(move || {
        site.start_health_checks()
            .map_err(|e| format!("could not start the balancers' health-check thread: {e}"))?;
        Ok(site.clone())
    })
}

/// The scoreboard, made once at start. A forking strategy gets the largest
/// shape any compiled forking strategy needs under the starting directives
/// (`ServerLimit` and `ThreadLimit` are fixed at start, as in Apache), so a
/// restart may change the strategy while the old children still write
/// their slots; each generation then records its own shape in use. `-X`
/// never changes strategy: its own shape.
fn board(
    args: &Args,
    running: &dyn Mpm,
    clamped: &Clamped,
    directives: &MpmConfig,
) -> Result<Scoreboard, String> {
    let own = running.scoreboard_shape(clamped);
    if args.single || !running.info().forked {
        return Scoreboard::new(own.0, own.1).map_err(|e| e.to_string());
    }
    let (procs, threads) = mpm::compiled()
        .into_iter()
        .filter_map(mpm::by_name)
        .filter(|m| m.info().forked)
        .map(|m| m.scoreboard_shape(&m.check_config(directives).0))
        .fold(own, |(p, t), (q, u)| (p.max(q), t.max(u)));
    match Scoreboard::new(procs, threads) {
        Ok(board) => Ok(board),
        Err(e) if (procs, threads) != own => {
            log::warn!(
                "{e}; the scoreboard has the {} MPM's shape only, so changing the MPM will need a full stop",
                running.info().name
            );
            Scoreboard::new(own.0, own.1).map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// A strategy with the directives clamped by its rules, and the warnings
/// clamping gave.
struct Chosen {
    mpm: Box<dyn Mpm>,
    clamped: Clamped,
    warnings: Vec<String>,
}

/// The strategy the next generation runs, with its clamped directives and
/// their warnings: the one the re-read configuration loads
/// (`LoadModule mpm_…_module`, else the default) when it differs from the
/// running one and can take over; else the running one. The master keeps
/// the old strategy's children, which finish their connections (after a
/// graceful restart) while the new strategy's start. A switch that cannot
/// happen is one error line saying why, and the running strategy goes on.
/// `-X` never switches, nor does a strategy that serves in this process.
fn next_strategy(
    args: &Args,
    running: Box<dyn Mpm>,
    cfg: &ServerConfig,
    board: &Scoreboard,
    graceful: bool,
) -> Chosen {
    let from = running.info().name;
    let wanted = cfg
        .mpm_name
        .as_deref()
        .unwrap_or_else(|| mpm::default_strategy());
    if !args.single && wanted != from {
        let to = if running.info().forked {
            switch_to(wanted, &cfg.mpm, board)
        } else {
            // It dropped privileges in this process and sized the board
            // for itself: a forking MPM would run within one slot.
            Err(format!(
                "the {from} MPM serves in this process, with no children to hand over and a scoreboard of one slot; stop mpmd and start it again to run it"
            ))
        };
        match to {
            Ok(next) => {
                let old = if graceful {
                    "finish their connections and leave"
                } else {
                    "were stopped"
                };
                log::info!(
                    "switching from the {from} MPM to the {wanted} MPM: the {from} children {old}"
                );
                return next;
            }
            Err(why) => {
                log::error!(
                    "cannot switch to the {wanted} MPM: {why}; the {from} MPM keeps running"
                )
            }
        }
    }
    let (clamped, mut warnings, too_big) = fit(running.as_ref(), &cfg.mpm, board);
    if let Some(why) = too_big {
        // As Apache: the limits fixed at start hold until a full stop.
        warnings.push(format!(
            "{why}; the {from} MPM goes on within the scoreboard's slots"
        ));
    }
    Chosen {
        mpm: running,
        clamped,
        warnings,
    }
}

/// Strategy `name`, if it is compiled in, forks, and fits the scoreboard
/// made at start under `directives`; else why not.
fn switch_to(name: &str, directives: &MpmConfig, board: &Scoreboard) -> Result<Chosen, String> {
    let next = mpm::by_name(name).ok_or_else(|| {
        format!(
            "it is not compiled into this mpmd (compiled in: {})",
            mpm::compiled().join(", ")
        )
    })?;
    if !next.info().forked {
        return Err(
            "it serves in one process, without children to hand over to; stop mpmd and start it again to run it"
                .into(),
        );
    }
    match fit(next.as_ref(), directives, board) {
        (_, _, Some(why)) => Err(why),
        (clamped, warnings, None) => Ok(Chosen {
            mpm: next,
            clamped,
            warnings,
        }),
    }
}

/// `mpm`'s directives clamped by its rules within the scoreboard made at
/// start, whose `ServerLimit` × `ThreadLimit` are fixed until a full stop
/// (as in Apache): a limit the configuration leaves to the strategy's
/// default (prefork's 256 servers, `ThreadLimit` 64) is lowered to what
/// the board holds, with a warning; one the configuration sets beyond it is
/// why it does not fit (the third value). `ThreadLimit` has no "unset": a
/// `ThreadLimit 64` written out counts as the default.
fn fit(
    mpm: &dyn Mpm,
    directives: &MpmConfig,
    board: &Scoreboard,
) -> (Clamped, Vec<String>, Option<String>) {
    let (clamped, warnings) = mpm.check_config(directives);
    let (procs, threads) = mpm.scoreboard_shape(&clamped);
    let mut fitted = directives.clone();
    let mut lowered = Vec::new();
    if procs > board.procs() && directives.server_limit.is_none() {
        fitted.server_limit = Some(u32::try_from(board.procs()).unwrap_or(u32::MAX));
        lowered.push(format!("ServerLimit {}", board.procs()));
    }
    if threads > board.threads() && directives.thread_limit == MpmConfig::default().thread_limit {
        let over = u32::try_from(threads - board.threads()).unwrap_or(u32::MAX);
        fitted.thread_limit = fitted.thread_limit.saturating_sub(over).max(1);
        lowered.push(format!("ThreadLimit {}", fitted.thread_limit));
    }
    let (clamped, warnings) = if lowered.is_empty() {
        (clamped, warnings)
    } else {
        let (clamped, mut more) = mpm.check_config(&fitted);
        more.insert(
            0,
            format!(
                "the {} MPM runs with {}: the scoreboard made at start holds no more (stop and start mpmd to change it)",
                mpm.info().name,
                lowered.join(" and ")
            ),
        );
        (clamped, more)
    };
    let (procs, threads) = mpm.scoreboard_shape(&clamped);
    let too_big = (procs > board.procs() || threads > board.threads()).then(|| {
        format!(
            "it needs a scoreboard of {procs} processes of {threads} slots for its ServerLimit and ThreadLimit, \
             and the one made at start has {} of {} (both limits are fixed at start, as in Apache); \
             lower them, or stop mpmd and start it again",
            board.procs(),
            board.threads()
        )
    });
    (clamped, warnings, too_big)
}

/// Re-read the configuration and re-bind the listeners it names, keeping
/// the sockets still configured (a socket-activated one must stay
/// configured: `activated`). On any error nothing changes.
/// The TLS configurations are rebuilt from the certificate files as they
/// are now (a renewed certificate takes effect).
fn reload(
    args: &Args,
    listeners: &mut Listeners,
    tls_shared: &mpm::tls::TlsShared,
    activated: &[(std::net::SocketAddr, String)],
) -> Result<ServerConfig, String> {
    let mut new = load(args)?;
    activation::still_configured(activated, &new.listens)?;
    if let Some(notice) = default_user(&mut new.mpm)? {
        log::warn!("{notice}");
    }
    let tls_table = tls::build(&new, tls_shared)?;
    listeners
        .rebind(&new.listens, new.mpm.listen_backlog)
        .map_err(|e| e.to_string())?;
    listeners.set_accept_filters(new.accept_filters.clone());
    tls::apply(&tls_table, listeners);
    http2::apply(&new, listeners);
    remoteip::apply(&new, listeners);
    Ok(new)
}
