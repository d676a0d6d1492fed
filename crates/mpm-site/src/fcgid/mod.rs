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

pub mod config;
pub mod pool;
pub mod regulate;
pub mod table;

pub use config::{FcgidConfig, Wrapper};
pub use pool::{Backend, Class, Pool};
