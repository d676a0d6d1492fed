//! What `mpmd` does once the command line is read: check, signal, or run.

use std::sync::Arc;
use std::time::SystemTime;

use mpm::{Control, Exit, Listeners, Mpm, MpmConfig, Phase, RunContext, Scoreboard};

use mpm_site::{Site, StatusInfo};

use crate::cli::{Args, Signal, USAGE};
use crate::config::dump::{self, VERSION};
use crate::config::{self, LoadOptions, ServerConfig};
use crate::detach::{daemonize, redirect_stderr_to_null};
use crate::pidfile::{self, PidFile, Running};
use crate::{logging, remoteip, tls};

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

/// Run the command the arguments ask for.
pub fn main(args: Args) -> Result<(), String> {
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
            let shared = mpm::net::tls::TlsShared::new().map_err(|e| e.to_string())?;
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
    let tls_shared = mpm::net::tls::TlsShared::new().map_err(|e| e.to_string())?;
    let tls_table = tls::build(&cfg, &tls_shared)?;
    // Bind before anything else, so a conflict is reported at once and
    // leaves nothing behind.
    let mut listeners = Listeners::bind(&cfg.listens, mpm_cfg.directives().listen_backlog)
        .map_err(|e| e.to_string())?;
    tls::apply(&tls_table, &mut listeners);
    remoteip::apply(&cfg, &mut listeners);
    let ready = if detach { Some(daemonize()?) } else { None };
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
    let (procs, threads) = mpm.scoreboard_shape(&mpm_cfg);
    let scoreboard = Scoreboard::new(procs, threads).map_err(|e| e.to_string())?;
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
    if let Some(fd) = ready {
        let _ = nix::unistd::write(&fd, b"ok");
    }
    let started = SystemTime::now();
    // As Apache, the first generation is 1.
    let mut generation: u32 = 1;
    loop {
        scoreboard.set_generation(generation);
        scoreboard.set_restart_time(SystemTime::now());
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
        let handler = Site::new(&cfg.site, scoreboard.clone(), info).map_err(|e| e.to_string())?;
        log::info!(
            "{VERSION} ({} MPM) configured -- resuming normal operations",
            mpm.info().name
        );
        let exit = mpm
            .run(RunContext {
                listeners: &listeners,
                factory: mpm::shared_factory(Arc::new(handler)),
                protocol: Arc::new(cfg.protocol.clone()),
                mpm: &mpm_cfg,
                control: &control,
                scoreboard: &scoreboard,
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
        match reload(args, &mut listeners, &tls_shared) {
            Ok(new) => {
                if let Some(name) = &new.mpm_name {
                    if name != mpm.info().name && !args.single {
                        log::warn!(
                            "the configuration now loads the {name} MPM; the {} MPM keeps running until a full stop",
                            mpm.info().name
                        );
                    }
                }
                let (c, warnings) = mpm.check_config(&new.mpm);
                for w in new.warnings.iter().chain(&warnings) {
                    log::warn!("{w}");
                }
                mpm_cfg = c;
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

/// Re-read the configuration and re-bind the listeners it names, keeping
/// the sockets still configured. On any error nothing changes.
/// The TLS configurations are rebuilt from the certificate files as they
/// are now (a renewed certificate takes effect).
fn reload(
    args: &Args,
    listeners: &mut Listeners,
    tls_shared: &mpm::net::tls::TlsShared,
) -> Result<ServerConfig, String> {
    let mut new = load(args)?;
    if let Some(notice) = default_user(&mut new.mpm)? {
        log::warn!("{notice}");
    }
    let tls_table = tls::build(&new, tls_shared)?;
    listeners
        .rebind(&new.listens, new.mpm.listen_backlog)
        .map_err(|e| e.to_string())?;
    tls::apply(&tls_table, listeners);
    remoteip::apply(&new, listeners);
    Ok(new)
}
