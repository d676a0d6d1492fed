//! `mpmd`: an Apache-compatible HTTP server on the mpm library.

mod config;
mod logging;
mod site;
mod status;

fn main() {}
