//! What the scoreboard holds: the header, one [`ProcessSlot`] per process
//! and one [`WorkerSlot`] per worker, each made only of atomics (so fresh
//! zeroed memory is an empty board), and the seqlock that keeps a worker's
//! strings whole for readers. Safe code: the memory they live in is
//! `shm.rs`'s.

use std::sync::atomic::{fence, AtomicI32, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Bytes kept of a client address (Apache keeps 32; an IPv6 address with a
/// zone fits in 64).
pub const CLIENT_LEN: usize = 64;
/// Bytes kept of a virtual host name (`name:port`).
pub const VHOST_LEN: usize = 64;
/// Bytes kept of a request line.
pub const REQUEST_LEN: usize = 128;

/// How many times a reader retries a string that is being written before
/// it returns what it read.
const READ_TRIES: u32 = 10_000;

/// What a worker is doing: the one-letter codes of Apache's mod_status.
///
/// Counting, as Apache 2.4's mod_status does: `R W K D C L G` are busy
/// (`G` is also counted as graceful), `_` is idle, and `.`, `S` and `I`
/// (a worker being cleaned up) are counted as neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum WorkerState {
    /// `.`: open slot with no current process (and the zero value).
    Dead = b'.',
    /// `S`: starting up.
    Starting = b'S',
    /// `_`: waiting for a connection.
    Ready = b'_',
    /// `R`: reading a request.
    Read = b'R',
    /// `W`: sending a reply (and running the handler).
    Write = b'W',
    /// `K`: keep-alive, waiting for the next request on a connection.
    KeepAlive = b'K',
    /// `D`: DNS lookup.
    Dns = b'D',
    /// `C`: closing a connection.
    Closing = b'C',
    /// `L`: logging.
    Logging = b'L',
    /// `G`: finishing its requests before leaving (graceful restart/stop).
    Graceful = b'G',
    /// `I`: idle cleanup of a worker that is leaving.
    Idle = b'I',
}

impl WorkerState {
    /// Every state, in the order of Apache's legend.
    pub const ALL: [WorkerState; 11] = [
        WorkerState::Ready,
        WorkerState::Starting,
        WorkerState::Read,
        WorkerState::Write,
        WorkerState::KeepAlive,
        WorkerState::Dns,
        WorkerState::Closing,
        WorkerState::Logging,
        WorkerState::Graceful,
        WorkerState::Idle,
        WorkerState::Dead,
    ];

    /// The mod_status letter (`_`, `R`, `.` …).
    pub fn letter(self) -> char {
        self as u8 as char
    }

    /// The state stored as `v`; 0 (fresh memory) and unknown bytes are
    /// [`WorkerState::Dead`].
    pub fn from_u8(v: u8) -> WorkerState {
        WorkerState::ALL
            .into_iter()
            .find(|s| *s as u8 == v)
            .unwrap_or(WorkerState::Dead)
    }

    /// Counted among mod_status's busy workers: `R W K D C L G`.
    pub fn is_busy(self) -> bool {
        matches!(
            self,
            WorkerState::Read
                | WorkerState::Write
                | WorkerState::KeepAlive
                | WorkerState::Dns
                | WorkerState::Closing
                | WorkerState::Logging
                | WorkerState::Graceful
        )
    }

    /// Counted among idle workers (spares): `_` only. `I` is a worker
    /// being cleaned up on its way out, so it is no spare (Apache counts it
    /// neither busy nor idle).
    pub fn is_idle(self) -> bool {
        self == WorkerState::Ready
    }

    /// Apache's legend text for this state (`Waiting for Connection`).
    pub fn description(self) -> &'static str {
        match self {
            WorkerState::Ready => "Waiting for Connection",
            WorkerState::Starting => "Starting up",
            WorkerState::Read => "Reading Request",
            WorkerState::Write => "Sending Reply",
            WorkerState::KeepAlive => "Keepalive (read)",
            WorkerState::Dns => "DNS Lookup",
            WorkerState::Closing => "Closing connection",
            WorkerState::Logging => "Logging",
            WorkerState::Graceful => "Gracefully finishing",
            WorkerState::Idle => "Idle cleanup of worker",
            WorkerState::Dead => "Open slot with no current process",
        }
    }
}

/// The start of the region: facts about the whole server.
#[repr(C)]
pub(super) struct Header {
    /// Configuration generation (1 for the first configuration read).
    pub(super) generation: AtomicU32,
    /// When the server (re)started, microseconds since the epoch.
    pub(super) restart_us: AtomicU64,
    /// Process slots the running strategy uses (its `ServerLimit`); 0:
    /// all of them.
    pub(super) procs_in_use: AtomicU32,
    /// Worker slots per process the running strategy uses (1 for
    /// prefork, `ThreadLimit` for worker, one more for event); 0: all.
    pub(super) threads_in_use: AtomicU32,
    /// The most process slots any strategy used since the board was made
    /// (where lifetime counters may be kept); 0: all.
    pub(super) procs_used: AtomicU32,
    /// The most worker slots per process any strategy used; 0: all.
    pub(super) threads_used: AtomicU32,
}

/// One process's facts, written by that process (and its master).
///
/// All fields are atomics, so any process may read them at any time.
#[repr(C)]
#[derive(Debug)]
pub struct ProcessSlot {
    /// The process id; 0 when the slot has no process.
    pub pid: AtomicI32,
    /// The configuration generation the process was started in.
    pub generation: AtomicU32,
    /// Non-zero when the process has been told to leave and finishes its
    /// connections (mod_status's "Stopping").
    pub quiescing: AtomicU8,
    /// Non-zero while the process accepts new connections.
    pub accepting: AtomicU8,
    /// Connections the process holds now.
    pub conns_total: AtomicU32,
    /// Of those, connections the event loop is writing asynchronously.
    pub conns_writing: AtomicU32,
    /// Of those, idle keep-alive connections held by the event loop.
    pub conns_keepalive: AtomicU32,
    /// Of those, connections being closed (lingering close).
    pub conns_closing: AtomicU32,
    /// When the process started, seconds since the epoch.
    pub started_secs: AtomicU64,
    /// Connections the process has accepted (for `MaxConnectionsPerChild`).
    pub connections_served: AtomicU64,
    /// Worker slots of its row the process uses: the row of the strategy
    /// that started it, which an older generation may have kept after a
    /// change of strategy; 0 when not recorded (the board's row in use).
    /// Set by the master before the fork; kept by [`ProcessSlot::start`].
    pub workers: AtomicU32,
    /// The widest row any process of this slot used since the board was
    /// made (the largest `workers`); never cleared, as the lifetime
    /// counters of those slots are kept: what [`super::Scoreboard::totals`]
    /// reads, so the rows nobody used stay untouched. 0: no process was
    /// started here by a master.
    pub widest: AtomicU32,
}

impl ProcessSlot {
    /// The process id, `None` when the slot is empty.
    pub fn live_pid(&self) -> Option<i32> {
        match self.pid.load(Ordering::Acquire) {
            0 => None,
            pid => Some(pid),
        }
    }

    /// Whether the process has been told to leave.
    pub fn is_quiescing(&self) -> bool {
        self.quiescing.load(Ordering::Acquire) != 0
    }

    /// Mark the slot as owned by `pid`, born in `generation`, now: called
    /// by the child itself (or the master right after `fork`).
    pub fn start(&self, pid: i32, generation: u32) {
        self.reset(generation, now_us() / 1_000_000);
        self.pid.store(pid, Ordering::Release);
    }

    /// Back to an empty slot (its process died).
    pub(super) fn clear(&self) {
        self.pid.store(0, Ordering::Release);
        self.reset(0, 0);
        self.workers.store(0, Ordering::Relaxed);
    }

    /// Every field but the pid as a new process (or none) starts it.
    fn reset(&self, generation: u32, started_secs: u64) {
        self.generation.store(generation, Ordering::Relaxed);
        self.quiescing.store(0, Ordering::Relaxed);
        self.accepting.store(0, Ordering::Relaxed);
        self.conns_total.store(0, Ordering::Relaxed);
        self.conns_writing.store(0, Ordering::Relaxed);
        self.conns_keepalive.store(0, Ordering::Relaxed);
        self.conns_closing.store(0, Ordering::Relaxed);
        self.connections_served.store(0, Ordering::Relaxed);
        self.started_secs.store(started_secs, Ordering::Relaxed);
    }
}

/// One worker's state, counters and current request.
///
/// Written by the worker that owns it; read by anyone (the master counting
/// spares, the status page).
#[repr(C)]
pub struct WorkerSlot {
    state: AtomicU8,
    client_len: AtomicU8,
    vhost_len: AtomicU8,
    request_len: AtomicU8,
    /// Seqlock over the three strings and their lengths: odd while written.
    seq: AtomicU32,
    /// Requests served by this slot, kept across process restarts.
    access_count: AtomicU64,
    /// Requests served by this slot since its process started.
    child_access_count: AtomicU64,
    /// Requests served on the current connection.
    conn_access_count: AtomicU64,
    /// Body bytes sent by this slot, kept across process restarts.
    bytes_served: AtomicU64,
    /// Connections handled by this slot.
    conn_count: AtomicU64,
    /// When the current (or last) request started, µs since the epoch.
    request_start_us: AtomicU64,
    /// When the last request ended, µs since the epoch (0: never).
    last_used_us: AtomicU64,
    /// How long the last request took, µs.
    last_duration_us: AtomicU64,
    /// Sum of all request durations of this slot, µs.
    total_duration_us: AtomicU64,
    client: [AtomicU8; CLIENT_LEN],
    vhost: [AtomicU8; VHOST_LEN],
    request: [AtomicU8; REQUEST_LEN],
}

// The string lengths are stored in an `AtomicU8`.
const _: () = assert!(CLIENT_LEN <= 255 && VHOST_LEN <= 255 && REQUEST_LEN <= 255);

impl std::fmt::Debug for WorkerSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerSlot")
            .field("state", &self.state())
            .field("access_count", &self.access_count())
            .field("request", &self.request())
            .finish_non_exhaustive()
    }
}

impl WorkerSlot {
    /// The current state.
    pub fn state(&self) -> WorkerState {
        WorkerState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Change the state.
    pub fn set_state(&self, s: WorkerState) {
        self.state.store(s as u8, Ordering::Release);
    }

    /// A request starts: state `R`, the client (`127.0.0.1`), virtual host
    /// (`localhost:8080`) and request line (`GET / HTTP/1.1`) recorded, each
    /// truncated to its field's size on a character boundary, and the start
    /// time noted. Does not allocate, so a forked child may call it.
    pub fn begin_request(&self, client: &str, vhost: &str, request_line: &str) {
        self.request_start_us.store(now_us(), Ordering::Relaxed);
        self.write_strings(client, vhost, request_line);
        self.set_state(WorkerState::Read);
    }

    /// A request ended: its access counts +1, `body_bytes` added to the
    /// bytes served, `duration` kept as the last request's and the slot
    /// marked as used now. The state is left to the caller.
    pub fn end_request(&self, body_bytes: u64, duration: Duration) {
        let us = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        self.access_count.fetch_add(1, Ordering::Relaxed);
        self.child_access_count.fetch_add(1, Ordering::Relaxed);
        self.conn_access_count.fetch_add(1, Ordering::Relaxed);
        self.bytes_served.fetch_add(body_bytes, Ordering::Relaxed);
        self.last_duration_us.store(us, Ordering::Relaxed);
        self.total_duration_us.fetch_add(us, Ordering::Relaxed);
        self.last_used_us.store(now_us(), Ordering::Release);
    }

    /// A new connection is handled by this worker: its connection count
    /// +1 and the per-connection request count back to 0.
    pub fn add_connection(&self) {
        self.conn_count.fetch_add(1, Ordering::Relaxed);
        self.conn_access_count.store(0, Ordering::Relaxed);
    }

    /// Requests served by this slot (kept across process restarts).
    pub fn access_count(&self) -> u64 {
        self.access_count.load(Ordering::Relaxed)
    }

    /// Requests served by this slot since its process started.
    pub fn child_access_count(&self) -> u64 {
        self.child_access_count.load(Ordering::Relaxed)
    }

    /// Requests served on the current connection.
    pub fn conn_access_count(&self) -> u64 {
        self.conn_access_count.load(Ordering::Relaxed)
    }

    /// Body bytes sent by this slot.
    pub fn bytes_served(&self) -> u64 {
        self.bytes_served.load(Ordering::Relaxed)
    }

    /// Connections handled by this slot.
    pub fn conn_count(&self) -> u64 {
        self.conn_count.load(Ordering::Relaxed)
    }

    /// How long the last request took.
    pub fn last_duration(&self) -> Duration {
        Duration::from_micros(self.last_duration_us.load(Ordering::Relaxed))
    }

    /// Sum of the durations of every request of this slot.
    pub fn total_duration(&self) -> Duration {
        Duration::from_micros(self.total_duration_us.load(Ordering::Relaxed))
    }

    /// When the last request ended (`UNIX_EPOCH` if never).
    pub fn last_used(&self) -> SystemTime {
        from_us(self.last_used_us.load(Ordering::Acquire))
    }

    /// When the current (or last) request started (`UNIX_EPOCH` if never).
    pub fn request_started(&self) -> SystemTime {
        from_us(self.request_start_us.load(Ordering::Relaxed))
    }

    /// The client address of the current (or last) request.
    pub fn client(&self) -> String {
        self.read_strings().0
    }

    /// The virtual host of the current (or last) request.
    pub fn vhost(&self) -> String {
        self.read_strings().1
    }

    /// The current (or last) request line.
    pub fn request(&self) -> String {
        self.read_strings().2
    }

    /// Write the three strings under the seqlock. One writer at a time
    /// (see the module doc).
    fn write_strings(&self, client: &str, vhost: &str, request: &str) {
        let seq = self.seq.load(Ordering::Relaxed);
        // Odd while writing. An odd value left by a writer that died
        // half-way is stepped over to the next odd one.
        let writing = if seq & 1 == 0 {
            seq.wrapping_add(1)
        } else {
            seq.wrapping_add(2)
        };
        self.seq.store(writing, Ordering::Relaxed);
        // Orders the odd sequence before the data writes below.
        fence(Ordering::Release);
        store_str(&self.client, &self.client_len, client);
        store_str(&self.vhost, &self.vhost_len, vhost);
        store_str(&self.request, &self.request_len, request);
        self.seq.store(writing.wrapping_add(1), Ordering::Release);
    }

    /// Read the three strings; `Err` with the last (possibly torn) read when
    /// every try met a writer.
    pub(super) fn try_read_strings(
        &self,
        tries: u32,
    ) -> Result<(String, String, String), (String, String, String)> {
        let mut last = (String::new(), String::new(), String::new());
        for attempt in 0..tries {
            let before = self.seq.load(Ordering::Acquire);
            if before & 1 == 0 {
                let client = load_bytes(&self.client, &self.client_len);
                let vhost = load_bytes(&self.vhost, &self.vhost_len);
                let request = load_bytes(&self.request, &self.request_len);
                // Orders the data reads above before the re-check.
                fence(Ordering::Acquire);
                let after = self.seq.load(Ordering::Relaxed);
                let read = (lossy(client), lossy(vhost), lossy(request));
                if before == after {
                    return Ok(read);
                }
                last = read;
            }
            if attempt % 64 == 63 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        Err(last)
    }

    pub(super) fn read_strings(&self) -> (String, String, String) {
        match self.try_read_strings(READ_TRIES) {
            Ok(read) | Err(read) => read,
        }
    }

    /// Back to an empty slot of a dead process: state `.`, strings and
    /// per-process counters cleared; the slot's lifetime counters kept.
    pub(super) fn reset(&self) {
        self.set_state(WorkerState::Dead);
        self.write_strings("", "", "");
        self.child_access_count.store(0, Ordering::Relaxed);
        self.conn_access_count.store(0, Ordering::Relaxed);
    }
}

/// Keep the longest prefix of `s` that fits `max` bytes and ends on a
/// character boundary.
pub(super) fn truncate_on_char(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn store_str(dst: &[AtomicU8], len: &AtomicU8, s: &str) {
    let s = truncate_on_char(s, dst.len());
    for (cell, b) in dst.iter().zip(s.bytes()) {
        cell.store(b, Ordering::Relaxed);
    }
    // `s.len() <= dst.len() <= 255` (asserted above).
    len.store(s.len() as u8, Ordering::Relaxed);
}

fn load_bytes(src: &[AtomicU8], len: &AtomicU8) -> Vec<u8> {
    let n = usize::from(len.load(Ordering::Relaxed)).min(src.len());
    src[..n].iter().map(|c| c.load(Ordering::Relaxed)).collect()
}

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

pub(super) fn now_us() -> u64 {
    crate::clock::unix_micros()
}

pub(super) fn to_us(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub(super) fn from_us(us: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(us)
}
