//! `mpmd`: an Apache-compatible HTTP server on the mpm library.
//!
//! The binary is thin: it reads the command line and the configuration,
//! binds the listeners, builds the handler (virtual hosts, static files,
//! status page, logs) and hands everything to the chosen strategy. It never
//! touches a socket's bytes.

use std::process::ExitCode;

use mpmd::{cli, server, tunables};

fn main() -> ExitCode {
    // Before anything else: may start mpmd again (same pid) with glibc's
    // per-thread cache of free chunks kept small.
    tunables::apply();
    let args = match cli::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("mpmd: {e}");
            eprint!("{}", cli::USAGE);
            return ExitCode::from(1);
        }
    };
    match server::main(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mpmd: {e}");
            ExitCode::from(1)
        }
    }
}
