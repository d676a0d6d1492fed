//! The conformance cases over plain TCP.

const TRANSPORT: crate::support::Transport = crate::support::Transport::Plain;
use super::STRATEGY;

#[path = "cases.rs"]
mod cases;
