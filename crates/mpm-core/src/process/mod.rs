//! Processes: how a strategy runs in processes and threads.
//!
//! - [`master`]: the master of the forking strategies (prefork, worker,
//!   event): it forks, reaps and replaces children, keeps the spares and
//!   turns commands into what children must do.
//! - [`spare`]: the spare regulator (Apache's idle-server maintenance) the
//!   master runs, and [`clamp`]: the MPM directives clamped with Apache's
//!   warnings before any of it starts.
//! - [`scoreboard`]: the shared-memory table of processes and workers the
//!   master regulates from and the status page reads.
//! - [`single`]: the one-process strategy behind `mpmd -X`.

pub mod clamp;
pub mod master;
pub mod scoreboard;
pub mod single;
pub mod spare;
