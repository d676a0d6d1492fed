//! HTTP/1.1 conformance (RFC 9112) of the engine and its drivers, through
//! a real server on a loopback port: exact bytes in, framing checked on the
//! way out. Every case (`conformance/cases.rs`) runs six times: over
//! plain TCP (`plain::`) and over TLS (`tls::`), under the blocking driver
//! (`single::`), through the event loop (`event::`, the event strategy in
//! one process) and on worker threads (`worker::`, the worker strategy in
//! one process), so neither the transport nor the strategy changes
//! anything a client sees.

// The one file of cases is loaded twice on purpose, once per transport.
#![allow(clippy::duplicate_mod)]

mod support;

#[path = "conformance/event.rs"]
mod event;
#[path = "conformance/single.rs"]
mod single;
#[path = "conformance/worker.rs"]
mod worker;
