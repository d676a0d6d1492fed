//! One HTTP/2 connection's streams served on other threads: the
//! mechanism a strategy with a poller and a pool of threads uses (event's
//! loop; worker's connection thread), where the one-at-a-time driver
//! ([`super::serve_h2`]) is what a single thread uses (prefork, single).
//! One session code path ([`crate::h2::Session`]) under both.
//!
//! - [`H2Owner`] owns the connection: its socket and session. It never
//!   blocks: the poller tells it the socket's readiness
//!   ([`H2Owner::ready`]) and drives it ([`H2Owner::drive`]), which reads
//!   what came, decodes frames and HPACK, turns each complete request
//!   into a [`StreamJob`], frames the responses into the windows and
//!   writes what the socket takes. Its deadlines ([`H2Owner::deadline`])
//!   are the keep-alive, send and graceful-stop bounds; the poller calls
//!   [`H2Owner::on_deadline`] when one passes.
//! - [`StreamJob`] is one stream's request for a pool thread:
//!   [`StreamJob::run`] calls the [`Handler`](crate::Handler) exactly as
//!   for an HTTP/1.1 request (the same request, body `Read`, response),
//!   shows the stream on the thread's scoreboard slot (`HTTP/2.0` in its
//!   request line) and logs it. A job that [`StreamJob::answers_at_once`]
//!   (its handler promises the answer never blocks) may be run on the
//!   poller's own thread with [`StreamJob::run_at_once`], as event's loop
//!   answers such an HTTP/1.1 request itself.
//! - Between them, each stream has a channel (`link.rs`): its request
//!   body, which the owner fills as frames come and the handler reads
//!   (the client gets window back as the handler reads, so a stream holds
//!   at most `H2WindowSize` unread bytes); its response, which the
//!   handler's thread sends and the owner takes, bounded by
//!   `H2StreamMaxMemSize` (a handler that writes faster than the client
//!   reads waits, up to `Timeout`). Each part sent wakes the owner
//!   through the strategy's [`Wake`], once until the owner looks.
//!   RST_STREAM, GOAWAY and the connection's end cut the channel: the
//!   handler's reads and writes fail.
//!
//! A response body that needs no thread (bytes, a file range: what a
//! handler returned at once) goes to the owner whole and the handler's
//! thread is released at once; the owner sends it as the client's windows
//! open. So a client that reads one stream slowly holds no thread, only
//! that stream's bytes. A streamed body (a reader, a writer) is produced
//! on the handler's thread and waits for room as said.
//!
//! A request whose body is incomplete waits, as in the one-at-a-time
//! driver, until its body ends, or half a window of it is here, or the
//! client pauses 100 ms; so a stream the client ends (or resets) at once
//! is not answered before it does.
//!
//! # Driving it (a strategy's part)
//!
//! ```text
//! let owner = H2Owner::new(conn, protocol, early, upgraded, wake)?;  // wake: mark + wake the poller
//! register owner.connection() for readable (and writable)
//! loop (in the poller):
//!     on a socket event:   owner.ready(readable, writable)
//!     on a socket event, a wake, or wants_drive():
//!                          owner.drive(&mut scratch, now)
//!                          (or owner.drive_answering(..): the streams whose
//!                          answer never blocks answered on the poller's thread)
//!     on the deadline:     owner.on_deadline(now); owner.drive(..)
//!     after each drive:    for job in owner.take_jobs() { pool.push(job) }   // job.run(&ctx) there
//!                          if owner.is_done() { lingering close of owner.into_connection() }
//!                          else wait: readable always, writable if wants_write(),
//!                               until deadline()
//!     graceful stop:       owner.begin_stop(now); owner.drive(..)
//! ```
//!
//! The owner is `Send`: a poller may own many (event's loop) or one
//! (worker's connection thread, which polls its socket and a wake-up
//! eventfd).

mod job;
mod link;
mod owner;

pub use job::StreamJob;
pub use link::Wake;
pub use owner::H2Owner;

#[cfg(test)]
mod tests;
