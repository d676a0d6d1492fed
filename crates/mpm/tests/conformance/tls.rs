//! The conformance cases over TLS (rustls on both sides).

const TRANSPORT: crate::support::Transport = crate::support::Transport::Tls;
use super::STRATEGY;

#[path = "cases.rs"]
mod cases;
#[path = "tls_cases.rs"]
mod tls_cases;
