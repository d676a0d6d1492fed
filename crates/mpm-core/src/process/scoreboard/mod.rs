//! The scoreboard: one shared-memory table of processes and workers.
//!
//! The master makes it once, before the first `fork`, with
//! `mmap(MAP_SHARED | MAP_ANONYMOUS)`, so every child inherits the same
//! pages. The region holds a header, one [`ProcessSlot`] per
//! process and `procs × threads` [`WorkerSlot`]s:
//!
//! ```text
//! | Header | ProcessSlot × procs | WorkerSlot × (procs × threads) |
//! ```
//!
//! Why this is sound across processes and threads:
//!
//! - every field is an atomic integer (`#[repr(C)]` structs of `AtomicU8`,
//!   `AtomicU32`, `AtomicI32`, `AtomicU64`), so concurrent reads and writes
//!   from any number of processes are data-race free, and all-zero bytes
//!   are a valid value of every field: fresh anonymous memory is an empty
//!   board (every worker `.`, every counter 0, every string empty);
//! - the strings of a worker (client, virtual host, request line) are
//!   arrays of `AtomicU8` guarded by a per-slot seqlock: the writer makes
//!   the sequence odd, writes, and makes it even again; a reader retries
//!   while the sequence is odd or changed under it, so it does not return
//!   a torn string; only when a writer holds the slot through every one of
//!   a bounded number of tries does it return what it read, so a writer
//!   killed half-way cannot hang the status page;
//! - each worker slot has one writer at a time: the worker that owns it,
//!   or the master resetting the slot after its process died.
//!
//! The `unsafe` code is the `mmap`/`munmap` pair and turning offsets of the
//! mapping into references; it is all in `Mapping` and the slot
//! accessors of `Scoreboard`.

use std::alloc::Layout;
use std::io;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicI32, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::mman::{mmap_anonymous, munmap, MapFlags, ProtFlags};

use crate::error::Error;

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
struct Header {
    /// Configuration generation (1 for the first configuration read).
    generation: AtomicU32,
    /// When the server (re)started, microseconds since the epoch.
    restart_us: AtomicU64,
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
        self.generation.store(generation, Ordering::Relaxed);
        self.quiescing.store(0, Ordering::Relaxed);
        self.accepting.store(0, Ordering::Relaxed);
        self.conns_total.store(0, Ordering::Relaxed);
        self.conns_writing.store(0, Ordering::Relaxed);
        self.conns_keepalive.store(0, Ordering::Relaxed);
        self.conns_closing.store(0, Ordering::Relaxed);
        self.connections_served.store(0, Ordering::Relaxed);
        self.started_secs
            .store(now_us() / 1_000_000, Ordering::Relaxed);
        self.pid.store(pid, Ordering::Release);
    }

    fn clear(&self) {
        self.pid.store(0, Ordering::Release);
        self.generation.store(0, Ordering::Relaxed);
        self.quiescing.store(0, Ordering::Relaxed);
        self.accepting.store(0, Ordering::Relaxed);
        self.conns_total.store(0, Ordering::Relaxed);
        self.conns_writing.store(0, Ordering::Relaxed);
        self.conns_keepalive.store(0, Ordering::Relaxed);
        self.conns_closing.store(0, Ordering::Relaxed);
        self.started_secs.store(0, Ordering::Relaxed);
        self.connections_served.store(0, Ordering::Relaxed);
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
    fn try_read_strings(
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

    fn read_strings(&self) -> (String, String, String) {
        match self.try_read_strings(READ_TRIES) {
            Ok(read) | Err(read) => read,
        }
    }

    /// Back to an empty slot of a dead process: state `.`, strings and
    /// per-process counters cleared; the slot's lifetime counters kept.
    fn reset(&self) {
        self.set_state(WorkerState::Dead);
        self.write_strings("", "", "");
        self.child_access_count.store(0, Ordering::Relaxed);
        self.conn_access_count.store(0, Ordering::Relaxed);
    }
}

/// Keep the longest prefix of `s` that fits `max` bytes and ends on a
/// character boundary.
fn truncate_on_char(s: &str, max: usize) -> &str {
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

fn now_us() -> u64 {
    to_us(SystemTime::now())
}

fn to_us(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn from_us(us: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(us)
}

/// The shared mapping; unmapped when the last [`Scoreboard`] handle of
/// this process goes.
struct Mapping {
    base: NonNull<u8>,
    len: NonZeroUsize,
    procs: usize,
    threads: usize,
    procs_offset: usize,
    workers_offset: usize,
}

// SAFETY: the mapping is plain shared memory that is only ever accessed
// through atomics (every field of the header and the slots is one), so
// handing the pointer to another thread, or sharing it between threads, is
// as sound as sharing those atomics.
unsafe impl Send for Mapping {}
// SAFETY: see `Send` above: all access is through atomics.
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly what `mmap` returned in
        // `Scoreboard::new`, the mapping is unmapped only here, once, and no
        // reference into it outlives `self` (every accessor borrows the
        // `Scoreboard` that keeps this `Arc<Mapping>` alive).
        if let Err(e) = unsafe { munmap(self.base.cast(), self.len.get()) } {
            log::warn!("could not unmap the scoreboard: {e}");
        }
    }
}

/// The shared-memory scoreboard: a handle to the mapping, cheap to clone,
/// shared by every thread; made before the first `fork` so children share
/// it too.
#[derive(Clone)]
pub struct Scoreboard {
    map: Arc<Mapping>,
}

impl std::fmt::Debug for Scoreboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scoreboard")
            .field("procs", &self.procs())
            .field("threads", &self.threads())
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl Scoreboard {
    /// Map an empty board for `procs` processes of `threads` workers each
    /// (both at least 1), with the restart time set to now.
    pub fn new(procs: usize, threads: usize) -> Result<Self, Error> {
        let slots = procs.saturating_mul(threads);
        let fail = |source: io::Error| Error::Scoreboard { slots, source };
        if procs == 0 || threads == 0 {
            return Err(fail(io::Error::new(
                io::ErrorKind::InvalidInput,
                "processes and threads per process must be at least 1",
            )));
        }
        let too_big = |_| {
            fail(io::Error::new(
                io::ErrorKind::InvalidInput,
                "too many slots",
            ))
        };
        let layout = Layout::new::<Header>();
        let (layout, procs_offset) = layout
            .extend(Layout::array::<ProcessSlot>(procs).map_err(too_big)?)
            .map_err(too_big)?;
        let (layout, workers_offset) = layout
            .extend(Layout::array::<WorkerSlot>(slots).map_err(too_big)?)
            .map_err(too_big)?;
        // Never zero: the header alone has a size.
        let len = NonZeroUsize::new(layout.size())
            .ok_or_else(|| fail(io::ErrorKind::InvalidInput.into()))?;
        // SAFETY: an anonymous mapping at an address of the kernel's choice
        // touches no existing memory. The kernel returns zeroed, page-aligned
        // memory (page alignment covers every slot's alignment, asserted
        // below), and all-zero bytes are a valid value of every field.
        let base = unsafe {
            mmap_anonymous(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
            )
        }
        .map_err(|e| fail(io::Error::from(e)))?;
        let board = Scoreboard {
            map: Arc::new(Mapping {
                base: base.cast(),
                len,
                procs,
                threads,
                procs_offset,
                workers_offset,
            }),
        };
        board.set_restart_time(SystemTime::now());
        Ok(board)
    }

    /// Process slots.
    pub fn procs(&self) -> usize {
        self.map.procs
    }

    /// Worker slots per process.
    pub fn threads(&self) -> usize {
        self.map.threads
    }

    fn header(&self) -> &Header {
        // SAFETY: the header is at offset 0 of a live, page-aligned mapping
        // at least `size_of::<Header>()` long; it is only accessed through
        // its atomics, valid for any bytes; the reference lives no longer
        // than `&self`, which keeps the mapping alive.
        unsafe { self.map.base.cast::<Header>().as_ref() }
    }

    /// The slot of process `p`. Panics if `p >= procs()` (a caller bug).
    pub fn process(&self, p: usize) -> &ProcessSlot {
        assert!(
            p < self.procs(),
            "process slot {p} out of range (the scoreboard has {})",
            self.procs()
        );
        // SAFETY: `procs_offset + p * size_of::<ProcessSlot>()` is inside
        // the array laid out by `Layout::extend` in `new` (p is checked
        // above), so it is in bounds and aligned; the slot is only accessed
        // through atomics, valid for any bytes; the reference lives no
        // longer than `&self`, which keeps the mapping alive.
        unsafe {
            let first = self
                .map
                .base
                .as_ptr()
                .add(self.map.procs_offset)
                .cast::<ProcessSlot>();
            &*first.add(p)
        }
    }

    /// The slot of worker `t` of process `p`. Panics if either index is
    /// out of range (a caller bug).
    pub fn worker(&self, p: usize, t: usize) -> &WorkerSlot {
        assert!(
            p < self.procs() && t < self.threads(),
            "worker slot {p}/{t} out of range (the scoreboard has {}×{})",
            self.procs(),
            self.threads()
        );
        let index = p * self.threads() + t;
        // SAFETY: `index < procs × threads` (checked above), so the slot is
        // inside the array laid out by `Layout::extend` in `new`, in bounds
        // and aligned; it is only accessed through atomics, valid for any
        // bytes; the reference lives no longer than `&self`, which keeps
        // the mapping alive.
        unsafe {
            let first = self
                .map
                .base
                .as_ptr()
                .add(self.map.workers_offset)
                .cast::<WorkerSlot>();
            &*first.add(index)
        }
    }

    /// The configuration generation (mod_status's
    /// `ParentServerConfigGeneration`).
    pub fn generation(&self) -> u32 {
        self.header().generation.load(Ordering::Acquire)
    }

    /// Set the configuration generation (the master, after reading it).
    pub fn set_generation(&self, g: u32) {
        self.header().generation.store(g, Ordering::Release);
    }

    /// When the server last (re)started.
    pub fn restart_time(&self) -> SystemTime {
        from_us(self.header().restart_us.load(Ordering::Acquire))
    }

    /// Note the time of a (re)start.
    pub fn set_restart_time(&self, t: SystemTime) {
        self.header().restart_us.store(to_us(t), Ordering::Release);
    }

    /// A dead process's slots back to empty: the process slot cleared,
    /// its workers `.` with no strings; the workers' lifetime counters
    /// (accesses, bytes, connections, durations) are kept, as Apache keeps
    /// per-slot access counts across child restarts.
    pub fn reset_process(&self, p: usize) {
        self.process(p).clear();
        for t in 0..self.threads() {
            self.worker(p, t).reset();
        }
    }

    /// A plain copy of the board, for the status page.
    pub fn snapshot(&self) -> Snapshot {
        let processes = (0..self.procs())
            .map(|p| {
                let slot = self.process(p);
                ProcessSnapshot {
                    pid: slot.pid.load(Ordering::Acquire),
                    generation: slot.generation.load(Ordering::Relaxed),
                    quiescing: slot.quiescing.load(Ordering::Relaxed) != 0,
                    accepting: slot.accepting.load(Ordering::Relaxed) != 0,
                    conns_total: slot.conns_total.load(Ordering::Relaxed),
                    conns_writing: slot.conns_writing.load(Ordering::Relaxed),
                    conns_keepalive: slot.conns_keepalive.load(Ordering::Relaxed),
                    conns_closing: slot.conns_closing.load(Ordering::Relaxed),
                    started: UNIX_EPOCH
                        + Duration::from_secs(slot.started_secs.load(Ordering::Relaxed)),
                    connections_served: slot.connections_served.load(Ordering::Relaxed),
                    workers: (0..self.threads())
                        .map(|t| WorkerSnapshot::of(self.worker(p, t)))
                        .collect(),
                }
            })
            .collect();
        Snapshot {
            generation: self.generation(),
            restart_time: self.restart_time(),
            processes,
        }
    }
}

/// A copy of the whole board at one moment (each slot read separately).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Configuration generation.
    pub generation: u32,
    /// When the server last (re)started.
    pub restart_time: SystemTime,
    /// Every process slot, in order, each with its workers.
    pub processes: Vec<ProcessSnapshot>,
}

impl Snapshot {
    /// Every worker slot, process by process.
    pub fn workers(&self) -> impl Iterator<Item = &WorkerSnapshot> {
        self.processes.iter().flat_map(|p| p.workers.iter())
    }
}

/// A copy of one [`ProcessSlot`], with its workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSnapshot {
    /// Process id, 0 for an empty slot.
    pub pid: i32,
    /// Configuration generation the process was started in.
    pub generation: u32,
    /// Told to leave, finishing its connections.
    pub quiescing: bool,
    /// Accepting new connections.
    pub accepting: bool,
    /// Connections held.
    pub conns_total: u32,
    /// Connections written asynchronously.
    pub conns_writing: u32,
    /// Idle keep-alive connections held by an event loop.
    pub conns_keepalive: u32,
    /// Connections being closed.
    pub conns_closing: u32,
    /// When the process started (`UNIX_EPOCH` if unknown).
    pub started: SystemTime,
    /// Connections accepted by the process.
    pub connections_served: u64,
    /// The process's worker slots, in order.
    pub workers: Vec<WorkerSnapshot>,
}

/// A copy of one [`WorkerSlot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSnapshot {
    /// State.
    pub state: WorkerState,
    /// Requests served by the slot (across process restarts).
    pub access_count: u64,
    /// Requests served since its process started.
    pub child_access_count: u64,
    /// Requests served on the current connection.
    pub conn_access_count: u64,
    /// Body bytes sent.
    pub bytes_served: u64,
    /// Connections handled.
    pub conn_count: u64,
    /// Client address of the current (or last) request.
    pub client: String,
    /// Virtual host of the current (or last) request.
    pub vhost: String,
    /// Current (or last) request line.
    pub request: String,
    /// When the current (or last) request started.
    pub request_started: SystemTime,
    /// Duration of the last request.
    pub last_duration: Duration,
    /// Sum of the durations of every request.
    pub total_duration: Duration,
    /// When the last request ended (`UNIX_EPOCH` if never).
    pub last_used: SystemTime,
}

impl WorkerSnapshot {
    fn of(slot: &WorkerSlot) -> Self {
        let (client, vhost, request) = slot.read_strings();
        WorkerSnapshot {
            state: slot.state(),
            access_count: slot.access_count(),
            child_access_count: slot.child_access_count(),
            conn_access_count: slot.conn_access_count(),
            bytes_served: slot.bytes_served(),
            conn_count: slot.conn_count(),
            client,
            vhost,
            request,
            request_started: slot.request_started(),
            last_duration: slot.last_duration(),
            total_duration: slot.total_duration(),
            last_used: slot.last_used(),
        }
    }
}

// Page alignment (at least 4096) of the mapping covers every part.
const _: () = assert!(std::mem::align_of::<Header>() <= 4096);
const _: () = assert!(std::mem::align_of::<ProcessSlot>() <= 4096);
const _: () = assert!(std::mem::align_of::<WorkerSlot>() <= 4096);

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};

    #[test]
    fn fresh_board_reads_as_all_dead_and_empty() {
        let sb = Scoreboard::new(3, 4).expect("scoreboard");
        let snap = sb.snapshot();
        assert_eq!(snap.processes.len(), 3);
        assert_eq!(snap.workers().count(), 12);
        for (i, w) in snap.workers().enumerate() {
            assert_eq!(w.state, WorkerState::Dead, "worker {i} is not `.`: {w:?}");
            assert_eq!(
                (w.access_count, w.bytes_served, w.conn_count),
                (0, 0, 0),
                "worker {i}: {w:?}"
            );
            assert!(
                w.client.is_empty() && w.vhost.is_empty() && w.request.is_empty(),
                "worker {i}: {w:?}"
            );
            assert_eq!(w.last_used, UNIX_EPOCH);
        }
        for p in &snap.processes {
            assert_eq!(p.pid, 0, "process slot not empty: {p:?}");
            assert!(!p.quiescing);
        }
        assert_eq!(snap.generation, 0);
    }

    #[test]
    fn zero_byte_means_dead_and_unknown_bytes_too() {
        assert_eq!(WorkerState::from_u8(0), WorkerState::Dead);
        assert_eq!(WorkerState::from_u8(b'x'), WorkerState::Dead);
        for s in WorkerState::ALL {
            assert_eq!(WorkerState::from_u8(s as u8), s);
            assert_eq!(s.letter() as u32, s as u8 as u32);
        }
    }

    #[test]
    fn busy_and_idle_follow_mod_status() {
        let busy: String = WorkerState::ALL
            .iter()
            .filter(|s| s.is_busy())
            .map(|s| s.letter())
            .collect();
        assert_eq!(busy, "RWKDCLG");
        let idle: String = WorkerState::ALL
            .iter()
            .filter(|s| s.is_idle())
            .map(|s| s.letter())
            .collect();
        assert_eq!(idle, "_");
    }

    #[test]
    fn empty_shape_is_refused() {
        let err = Scoreboard::new(0, 4).expect_err("0 processes accepted");
        assert!(matches!(err, Error::Scoreboard { .. }), "{err}");
        assert!(Scoreboard::new(2, 0).is_err());
        assert!(
            Scoreboard::new(usize::MAX, 2).is_err(),
            "an impossible size was accepted"
        );
    }

    #[test]
    fn request_is_recorded_and_counted() {
        let sb = Scoreboard::new(2, 2).expect("scoreboard");
        let w = sb.worker(1, 1);
        w.add_connection();
        w.begin_request("127.0.0.1", "localhost:8080", "GET / HTTP/1.1");
        assert_eq!(w.state(), WorkerState::Read);
        w.set_state(WorkerState::Write);
        w.end_request(1234, Duration::from_millis(7));
        w.begin_request("::1", "other:80", "HEAD /x HTTP/1.0");
        w.end_request(6, Duration::from_millis(3));
        assert_eq!(w.state(), WorkerState::Read);
        assert_eq!(w.access_count(), 2);
        assert_eq!(w.conn_access_count(), 2);
        assert_eq!(w.bytes_served(), 1240);
        assert_eq!(w.conn_count(), 1);
        assert_eq!(w.last_duration(), Duration::from_millis(3));
        assert_eq!(w.total_duration(), Duration::from_millis(10));
        assert_eq!(
            (w.client(), w.vhost(), w.request()),
            ("::1".into(), "other:80".into(), "HEAD /x HTTP/1.0".into())
        );
        assert!(w.last_used() > UNIX_EPOCH);
        w.add_connection();
        assert_eq!(w.conn_access_count(), 0);
        // Other slots are untouched.
        assert_eq!(sb.worker(1, 0).access_count(), 0);
        assert_eq!(sb.worker(0, 1).state(), WorkerState::Dead);
    }

    #[test]
    fn long_strings_are_cut_on_a_char_boundary() {
        let sb = Scoreboard::new(1, 1).expect("scoreboard");
        let w = sb.worker(0, 0);
        // 127 ASCII bytes then a 2-byte char straddling the 128-byte limit.
        let line = format!("GET /{}é HTTP/1.1", "a".repeat(122));
        w.begin_request(&"b".repeat(100), "h", &line);
        let req = w.request();
        assert_eq!(req.len(), 127, "request kept as {req:?}");
        assert_eq!(req, format!("GET /{}", "a".repeat(122)));
        assert_eq!(w.client(), "b".repeat(CLIENT_LEN));
        let emoji = "😀".repeat(20); // 80 bytes, 4 per char
        w.begin_request("c", &emoji, "x");
        assert_eq!(w.vhost(), "😀".repeat(16));
    }

    #[test]
    fn reset_process_clears_state_and_strings_and_keeps_slot_counters() {
        let sb = Scoreboard::new(2, 2).expect("scoreboard");
        sb.process(1).start(4242, 3);
        sb.process(1).quiescing.store(1, Ordering::Relaxed);
        let w = sb.worker(1, 0);
        w.begin_request("10.0.0.1", "h:80", "GET / HTTP/1.1");
        w.end_request(10, Duration::from_millis(1));
        sb.worker(0, 0).set_state(WorkerState::Ready);
        sb.reset_process(1);
        assert_eq!(sb.process(1).live_pid(), None);
        assert!(!sb.process(1).is_quiescing());
        assert_eq!(w.state(), WorkerState::Dead);
        assert_eq!(w.request(), "");
        assert_eq!(w.access_count(), 1, "slot access count was not kept");
        assert_eq!(w.bytes_served(), 10);
        assert_eq!(w.child_access_count(), 0);
        assert_eq!(
            sb.worker(0, 0).state(),
            WorkerState::Ready,
            "another process's slot changed"
        );
    }

    #[test]
    fn header_keeps_generation_and_restart_time() {
        let sb = Scoreboard::new(1, 1).expect("scoreboard");
        assert!(
            sb.restart_time() > UNIX_EPOCH,
            "new() did not note the start"
        );
        sb.set_generation(7);
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        sb.set_restart_time(t);
        let clone = sb.clone();
        drop(sb);
        assert_eq!(clone.generation(), 7);
        assert_eq!(clone.restart_time(), t);
    }

    #[test]
    fn a_forked_child_writes_what_the_parent_reads() {
        let sb = Scoreboard::new(2, 2).expect("scoreboard");
        // SAFETY: the child only touches atomics in the shared mapping,
        // reads the clock (`clock_gettime`), and leaves with `_exit`; it
        // allocates nothing, takes no lock and runs no test-harness code,
        // so the other threads of the test process do not matter.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let pid = std::process::id() as i32;
                sb.process(1).start(pid, 5);
                let w = sb.worker(1, 1);
                w.add_connection();
                w.begin_request("127.0.0.1", "localhost:8080", "GET /from-child HTTP/1.1");
                w.set_state(WorkerState::Write);
                w.end_request(512, Duration::from_millis(2));
                w.set_state(WorkerState::KeepAlive);
                // SAFETY: `_exit` ends the child at once, without running
                // destructors or atexit handlers of the parent's copy.
                unsafe { libc::_exit(0) }
            }
            ForkResult::Parent { child } => {
                let status = waitpid(child, None).expect("waitpid");
                assert_eq!(
                    status,
                    WaitStatus::Exited(child, 0),
                    "child did not exit cleanly"
                );
                assert_eq!(sb.process(1).live_pid(), Some(child.as_raw()));
                assert_eq!(sb.process(1).generation.load(Ordering::Relaxed), 5);
                let w = sb.worker(1, 1);
                assert_eq!(w.state(), WorkerState::KeepAlive);
                assert_eq!(w.access_count(), 1);
                assert_eq!(w.bytes_served(), 512);
                assert_eq!(w.conn_count(), 1);
                assert_eq!(w.client(), "127.0.0.1");
                assert_eq!(w.vhost(), "localhost:8080");
                assert_eq!(w.request(), "GET /from-child HTTP/1.1");
                assert_eq!(
                    sb.worker(1, 0).state(),
                    WorkerState::Dead,
                    "a neighbouring slot changed"
                );
            }
        }
    }

    #[test]
    fn a_reader_never_sees_a_torn_string() {
        use std::sync::atomic::AtomicBool;
        let sb = Scoreboard::new(1, 1).expect("scoreboard");
        let done = Arc::new(AtomicBool::new(false));
        let writer = {
            let (sb, done) = (sb.clone(), done.clone());
            std::thread::spawn(move || {
                let (a, b) = ("a".repeat(REQUEST_LEN), "b".repeat(REQUEST_LEN));
                let mut n = 0u64;
                while !done.load(Ordering::Relaxed) {
                    let s = if n & 1 == 0 { &a } else { &b };
                    sb.worker(0, 0).begin_request(s, s, s);
                    n += 1;
                    // A writer that never pauses starves a seqlock reader
                    // (it gives up after its tries, by design); a real
                    // worker writes once per request. Short pauses leave
                    // windows for whole reads while most reads still race
                    // a write.
                    if n.is_multiple_of(8) {
                        std::thread::sleep(Duration::from_micros(20));
                    }
                }
                n
            })
        };
        let w = sb.worker(0, 0);
        // Race only once the writer is running (on a loaded machine the
        // thread may start late).
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while w.request().is_empty() && std::time::Instant::now() < until {
            std::thread::yield_now();
        }
        let (mut whole, mut gave_up) = (0u32, 0u32);
        for _ in 0..5_000 {
            match w.try_read_strings(1_000) {
                Ok((client, vhost, request)) => {
                    for s in [&client, &vhost, &request] {
                        let first = s.bytes().next();
                        assert!(
                            s.bytes().all(|b| Some(b) == first),
                            "torn string read: {s:?}"
                        );
                    }
                    if !request.is_empty() {
                        assert_eq!(
                            client.as_bytes()[0],
                            request.as_bytes()[0],
                            "strings of two writes mixed"
                        );
                    }
                    whole += 1;
                }
                Err(_) => gave_up += 1,
            }
        }
        done.store(true, Ordering::Relaxed);
        let writes = writer.join().expect("writer panicked");
        assert!(writes > 0, "the writer never ran");
        assert!(whole > 0, "every read gave up ({gave_up})");
    }
}
