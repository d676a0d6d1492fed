//! The cases through the event loop and its workers (the event strategy in
//! one process).

const STRATEGY: crate::support::Strategy = crate::support::Strategy::Event;

#[path = "plain.rs"]
mod plain;
#[path = "tls.rs"]
mod tls;
