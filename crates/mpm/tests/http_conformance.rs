//! HTTP/1.1 conformance (RFC 9112) of the engine and its blocking driver,
//! through a real server on a loopback port: exact bytes in, framing
//! checked on the way out. Every case (`conformance/cases.rs`) runs twice:
//! over plain TCP (`plain::`) and over TLS (`tls::`), so TLS changes
//! nothing a client sees but the transport.

// The one file of cases is loaded twice on purpose, once per transport.
#![allow(clippy::duplicate_mod)]

mod support;

#[path = "conformance/plain.rs"]
mod plain;
#[path = "conformance/tls.rs"]
mod tls;
