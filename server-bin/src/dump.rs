//! What `-l`, `-M`, `-V` and `-S` print.

use std::fmt::Write;

use mpm::MpmInfo;

use crate::config::{self, ServerConfig};

/// `-l`: `Compiled in modules:` and one file name per line, as httpd.
pub fn compiled_modules() -> String {
    let mut out = String::from("Compiled in modules:\n");
    for m in config::modules::compiled_modules(&mpm::compiled()) {
        let _ = writeln!(out, "  {}", m.file);
    }
    out
}

/// `-M`: `Loaded Modules:` with `name (static)` per module, the running
/// MPM only.
pub fn loaded_modules(running: MpmInfo) -> String {
    let mut out = String::from("Loaded Modules:\n");
    for m in config::modules::compiled_modules(&[running.name]) {
        let _ = writeln!(out, " {} (static)", m.id);
    }
    out
}

/// `-V`: version and build settings.
pub fn version(info: MpmInfo) -> String {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    format!(
        "Server version: {}\nServer built:   {} (cargo {})\nArchitecture:   {}-bit\nServer MPM:     {}\n  threaded:     {}\n    forked:     {}\nCompiled in MPMs: {}\n",
        crate::server::VERSION,
        env!("CARGO_PKG_VERSION"),
        if cfg!(debug_assertions) { "debug" } else { "release" },
        usize::BITS,
        info.name,
        yes_no(info.threaded),
        yes_no(info.forked),
        mpm::compiled().join(", "),
    )
}

/// `-S`: the configuration loader's description, then the `-D` names.
pub fn vhosts(cfg: &ServerConfig, defines: &[String]) -> String {
    let mut out = config::dump::describe(cfg);
    for d in defines {
        let _ = writeln!(out, "Define: {d}");
    }
    out
}
