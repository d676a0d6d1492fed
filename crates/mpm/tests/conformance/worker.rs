//! The cases under worker threads in one process (`worker-threads`: the
//! blocking driver on a thread per connection, behind the accept gate).

const STRATEGY: crate::support::Strategy = crate::support::Strategy::WorkerThreads;

#[path = "plain.rs"]
mod plain;
#[path = "tls.rs"]
mod tls;
