//! mod_fcgid: FastCGI programs the server starts and keeps itself, in a
//! pool of processes shared by every serving process.
//!
//! - [`config`]: the directives, typed ([`FcgidConfig`], [`Wrapper`]).
//! - [`regulate`]: the pool's rules as pure functions of the process
//!   table and a clock: may a class start one more process, is a process
//!   done after a request, which idle ones an idle scan retires; and the
//!   one error-log line when a request finds no process
//!   ([`regulate::NoProcess`]).
//! - [`table`]: the process table every serving process shares.
//! - [`pool`]: the pool at work in a serving process ([`Pool`]): take,
//!   start, wait for a process; the manager thread that retires, ends
//!   and reaps; the FastCGI exchange itself behind [`Backend`].
//! - [`client`]: [`FastCgi`], the [`Backend`] that speaks the FastCGI
//!   protocol ([`crate::fastcgi`]) to the processes.
//! - [`status`]: the processes on mod_status's page.
//! - [`handler`]: the `fcgid-script` handler of the request pipeline
//!   (`AddHandler fcgid-script .php` + `FcgidWrapper /usr/bin/php-cgi
//!   .php`, or `Options +ExecCGI` with `.fcgi` programs), registered by
//!   [`Site::with_fcgid`](crate::Site::with_fcgid) with the FastCGI
//!   client that speaks to the processes.

pub mod client;
pub mod config;
pub mod handler;
pub mod pool;
pub mod regulate;
pub mod status;
pub mod table;

#[cfg(test)]
pub(crate) mod testing;

pub use client::FastCgi;
pub use config::{FcgidConfig, Wrapper};
pub use handler::FcgidHandler;
pub use pool::{Backend, Class, Pool};
