//! Processes: how a strategy runs in processes and threads.
//!
//! - [`master`]: the master of the forking strategies (prefork, worker,
//!   event): it forks, reaps and replaces children, keeps the spares and
//!   turns commands into what children must do.
//! - [`child`]: a child's life after `fork`, what the strategy's child body
//!   is handed, and the worker threads of a threaded child (worker, event).
//! - [`privileges`]: switching to `User` and `Group`, never serving as
//!   root (looked up once by the master, applied by each forked child;
//!   and `single`).
//! - [`malloc`]: the C allocator's arenas capped at the CPUs, before the
//!   first fork; its free pages given back when a prefork child or worker
//!   thread goes idle after a TLS connection ([`child::connection_ended`]).
//! - [`spare`]: the spare regulator (Apache's idle-server maintenance) the
//!   master runs.
//! - [`clamp`]: each strategy's MPM directives clamped once, with Apache's
//!   warnings, into the [`clamp::Clamped`] configuration a run takes.
//! - [`scoreboard`]: the shared-memory table of processes and workers that
//!   every strategy writes, the master regulates from and the status page
//!   reads, with the lifetime counters the metrics page reads.
//! - [`single`]: the one-process strategy behind `mpmd -X`.
//! - [`spawn`]: programs a serving process starts that must not outlive
//!   it (a FastCGI program's parent-death signal).

pub mod child;
pub mod clamp;
pub mod malloc;
pub mod master;
pub mod privileges;
pub mod scoreboard;
pub mod single;
pub mod spare;
pub mod spawn;
