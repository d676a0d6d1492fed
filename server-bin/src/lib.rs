//! `mpmd`'s modules as a library, so the fuzz targets (`fuzz/`) and the
//! binary (`main.rs`) reach the same code. Not a stable API: embedders use
//! the `mpm` and `mpm_site` crates; this exists to keep `mpmd` one program
//! with one set of parsers, whatever drives them.
//!
//! - [`cli`]: the command line.
//! - [`server`]: loading, binding, running and reloading.
//! - [`config`]: Apache httpd's configuration syntax, read into the
//!   handlers' typed configuration and the server's own settings (its
//!   `lexer` is public for fuzzing).
//! - [`site`]: the request handlers, `mpm_site` (its `uri_path` and
//!   `conditional` are public for fuzzing).
//! - `tls`: which addresses speak TLS, with which certificate files;
//!   `http2`: which speak HTTP/2, and how (ALPN, prior knowledge,
//!   upgrade); `remoteip`: which read the PROXY protocol, from whom.
//! - `logging`: the error log; `pidfile`: the pid file; `detach`: leaving
//!   the terminal for `-k start`.
//! - `activation`: listening sockets handed over at start (systemd's
//!   socket activation, a binary upgrade); `upgrade`: the binary upgrade;
//!   `notify`: systemd's notify protocol; `supervise`: the master's ticker
//!   that drives the last two.

mod activation;
pub mod cli;
pub mod config;
mod detach;
mod http2;
mod logging;
mod notify;
mod pidfile;
mod remoteip;
pub mod server;
mod supervise;
mod tls;
pub mod tunables;
mod upgrade;

pub use mpm_site as site;
