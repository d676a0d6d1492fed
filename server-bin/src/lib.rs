//! `mpmd`'s modules as a library, so the fuzz targets (`fuzz/`) and the
//! binary (`main.rs`) reach the same code. Not a stable API: embedders use
//! the `mpm` crate; this exists to keep `mpmd` one program with one set of
//! parsers, whatever drives them.
//!
//! - [`cli`]: the command line.
//! - [`server`]: loading, binding, running and reloading.
//! - [`config`]: Apache httpd's configuration syntax (its `lexer` is
//!   public for fuzzing).
//! - [`site`]: the request handler (its `uri_path` is public for fuzzing).

pub mod cli;
pub mod config;
mod dump;
mod logging;
mod pidfile;
pub mod server;
pub mod site;
mod status;
mod tls;
