//! Serve a directory as an Apache-like site, with `mpm-site`'s handlers:
//! static files with `ETag`s, conditional requests and byte ranges (sent
//! with `sendfile(2)` on plain TCP), `index.html` for directories,
//! mod_status's page at `/server-status` for local clients (`?auto` for
//! the machine-readable form), and an access log in the combined format.
//!
//! Run: `cargo run -p mpm-examples --example serve_dir -- [DIR [ADDR [LOG]]]`
//! (default: the repository's sample site on 127.0.0.1:8082, the access
//! log on standard output), then `curl -i http://127.0.0.1:8082/` and
//! `curl http://127.0.0.1:8082/server-status?auto`. SIGTERM or Ctrl-C
//! stops it.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use mpm::strategy::{Control, Exit, ListenAddr, Listeners, RunContext, Scoreboard};
use mpm::MpmConfig;
use mpm_site::pipeline::{DirConfig, HandlerName, Section, SectionKind};
use mpm_site::{CustomLog, Require, Site, SiteConfig, StatusInfo, VirtualHost};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../site").into());
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8082".into());
    let log = args.next().unwrap_or_else(|| "/dev/stdout".into());
    let root = Path::new(&dir)
        .canonicalize()
        .map_err(|e| format!("{dir}: {e}"))?;

    // What to serve: the directory, the status page, the access log.
    let mut site = VirtualHost::new(&root);
    let status_page = DirConfig {
        handler: Some(HandlerName::ServerStatus),
        require: Some(Require::Local),
        ..DirConfig::default()
    };
    site.sections
        .push(Section::new(SectionKind::Location("/server-status".into())).with(status_page));
    site.custom_logs.push(CustomLog::combined(&log));

    // The strategy (event, where compiled), and the scoreboard it fills
    // and the status page reads.
    let mut mpm = mpm::by_name(mpm::default_strategy()).ok_or("no strategy compiled in")?;
    let (mpm_config, warnings) = mpm.check_config(&MpmConfig::default());
    for w in warnings {
        eprintln!("warning: {w}");
    }
    let (procs, threads) = mpm.scoreboard_shape(&mpm_config);
    let scoreboard = Scoreboard::new(procs, threads)?;
    let status = StatusInfo {
        server_version: concat!("serve_dir/", env!("CARGO_PKG_VERSION")).into(),
        mpm: mpm.info(),
        built: env!("CARGO_PKG_VERSION").into(),
        started: SystemTime::now(),
        server_name: addr.clone(),
    };
    let handler = Site::new(&SiteConfig::new(site), scoreboard.clone(), Arc::new(status))?;

    let listen: ListenAddr = addr.parse()?;
    let listeners = Listeners::bind(&[listen], mpm_config.directives().listen_backlog)?;
    let control = Control::new()?;
    control.install_signals()?;
    eprintln!(
        "serving {} on http://{addr}/ with the {} strategy",
        root.display(),
        mpm.info().name
    );
    let factory = mpm::shared_factory(Arc::new(handler));
    // A restart (SIGHUP, SIGUSR1) runs the strategy again on the same
    // listeners, with the same master (a graceful restart's children
    // finish in it); a stop ends the program.
    let master = mpm::strategy::Master::new();
    while mpm.run(RunContext {
        listeners: &listeners,
        factory: factory.clone(),
        protocol: Arc::default(),
        mpm: &mpm_config,
        control: &control,
        scoreboard: &scoreboard,
        master: &master,
    })? != Exit::Stop
    {}
    Ok(())
}
