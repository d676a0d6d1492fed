//! What the loop keeps for each connection it holds: where the connection
//! is ([`State`]), its deadline on the timer wheel, and what its next read
//! must know; and the counts by state the status page shows.
//!
//! [`State`] is two words: what a state needs beyond that lives in
//! [`Held`] (the head being read) or in a box (the rare states), so a
//! change of state moves a tag and a pointer, not the hundreds of bytes of
//! a session.

use std::time::{Instant, SystemTime};

use mpm_core::deadline::read::ReadDeadline;
use mpm_core::h1::Session;
use mpm_core::serve::{After, PendingWrite, Tunnel};
use mpm_core::Connection;

/// Where a connection is.
pub(super) enum State {
    /// A TLS handshake under way (bounded by `Timeout` from the accept).
    Handshake,
    /// Reading a request head (none of it yet, or part of it in
    /// `Held::session`), since `Held::head`.
    Head,
    /// Between requests; no buffer.
    KeepAlive,
    /// An HTTP/2 connection, for the rest of its life: the loop owns its
    /// socket and session ([`mpm_core::serve::h2::H2Owner`], which holds
    /// the connection: `Held::conn` is `None`), its streams' requests go
    /// to workers and their responses come back through it. Counted as
    /// keep-alive while no stream is open (`Held::h2_idle`).
    H2(Box<mpm_core::serve::h2::H2Owner>),
    /// Lent to a worker.
    Worker,
    /// Finishing a response the socket would not take at once.
    Writing(Box<Writing>),
    /// Closing: our side is shut, reading what the client still sends.
    Linger,
    /// Joined to another socket after a `101`, registered under
    /// [`super::tunnel::peer_token`]; its deadline is the idle timeout.
    Tunnel(Box<Tunnel>),
}

/// A response being finished by the loop.
pub(super) struct Writing {
    pub(super) pending: PendingWrite,
    /// What comes once it is written.
    pub(super) after: After,
    /// Bytes of the next request already read.
    pub(super) session: Session,
}

/// When the head being read began, and its deadline's reckoning.
#[derive(Clone, Copy)]
pub(super) struct HeadTimes {
    pub(super) rd: ReadDeadline,
    /// When its last bytes came.
    pub(super) last: Instant,
    /// When it began (the request's time, for the access log).
    pub(super) started: SystemTime,
    /// The same instant, for durations.
    pub(super) clock: Instant,
}

/// One connection the loop holds (a lent one included), under its key
/// (its poll token and index in `Loop::conns`).
pub(super) struct Held {
    /// `None` while a worker has it.
    pub(super) conn: Option<Connection>,
    pub(super) state: State,
    /// In [`State::Head`]: the bytes of a head that did not come in one
    /// read, and its scan; the buffer's capacity counts against the
    /// child's budget (`Loop::head_bytes`). Empty, with no buffer, in
    /// every other state.
    pub(super) session: Session,
    /// In [`State::Head`]: its times.
    pub(super) head: HeadTimes,
    /// Requests answered on it so far.
    pub(super) served: u32,
    pub(super) deadline: Option<Instant>,
    /// The live wheel entry: its arm number and tick.
    pub(super) armed: Option<(u64, u64)>,
    /// Reading may find bytes that no new event will announce (sockets are
    /// edge-triggered): a readable event came while a worker had it or
    /// while a response was being finished, or the last read left some.
    /// Whoever takes it next reads before waiting.
    pub(super) may_read: bool,
    /// The last read of a head may have left bytes in the socket (it
    /// filled its buffer; a TLS layer reads records in chunks).
    pub(super) left_in_socket: bool,
    /// Its keep-alive turn, matched against the idle queue's entries.
    pub(super) keepalive_turn: u64,
    /// An HTTP/2 connection with no stream open (counted as keep-alive).
    pub(super) h2_idle: bool,
    /// In the poll set (`Loop::watch`).
    pub(super) watched: bool,
}

/// Connections by state, for the status page.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Counts {
    pub(super) keepalive: u32,
    pub(super) writing: u32,
    pub(super) closing: u32,
    /// Tunnels, each holding a second descriptor (its other socket).
    pub(super) tunnels: u32,
}
