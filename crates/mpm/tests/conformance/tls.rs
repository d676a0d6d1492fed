//! The conformance cases over TLS (rustls on both sides).

const TRANSPORT: crate::support::Transport = crate::support::Transport::Tls;

#[path = "cases.rs"]
mod cases;
