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
//! Beside the table, in a mapping of its own made with the board, are the
//! lifetime [`Counters`] that Prometheus metrics read (requests by virtual
//! host, method and status class, durations, bytes, TLS handshakes). The
//! master makes the board once, before its first child, and keeps it
//! across every restart, so no counter drops while the master lives.
//!
//! The files: `slots.rs` what a slot holds and the seqlock (safe code);
//! `counters.rs` the lifetime counters (safe code); `shm.rs` the mappings,
//! the scoreboard's only `unsafe` code (the `mmap`/`munmap` pairs and
//! turning offsets of the mappings into references); this file the
//! [`Scoreboard`] handle and its snapshots.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::Error;

mod counters;
mod shm;
mod slots;

pub use counters::{
    Counters, CountersSnapshot, VhostCounts, VhostId, CLASS_LABELS, DURATION_BOUNDS_US,
    METHOD_LABELS, OTHER_VHOST, VHOST_CAP,
};
use shm::Mapping;
pub use shm::{Region, SharedAtomics};
use slots::{from_us, to_us, Header};
pub use slots::{ProcessSlot, WorkerSlot, WorkerState, CLIENT_LEN, REQUEST_LEN, VHOST_LEN};

/// The shared-memory scoreboard: a handle to the mapping, cheap to clone,
/// shared by every thread; made before the first `fork` so children share
/// it too.
#[derive(Clone)]
pub struct Scoreboard {
    map: Arc<Mapping>,
    counters: Arc<Counters>,
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
    /// The lifetime [`Counters`] start at zero.
    pub fn new(procs: usize, threads: usize) -> Result<Self, Error> {
        let slots = procs.saturating_mul(threads);
        let fail = |source: io::Error| Error::Scoreboard { slots, source };
        if procs == 0 || threads == 0 {
            return Err(fail(io::Error::new(
                io::ErrorKind::InvalidInput,
                "processes and threads per process must be at least 1",
            )));
        }
        let board = Scoreboard {
            map: Arc::new(Mapping::new(procs, threads).map_err(fail)?),
            counters: Arc::new(Counters {
                area: Region::new().map_err(fail)?,
            }),
        };
        board.set_restart_time(SystemTime::now());
        Ok(board)
    }

    /// The lifetime counters: requests by virtual host, method and status
    /// class, durations, bytes, TLS handshakes.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Process slots.
    pub fn procs(&self) -> usize {
        self.map.procs()
    }

    /// Worker slots per process.
    pub fn threads(&self) -> usize {
        self.map.threads()
    }

    fn header(&self) -> &Header {
        self.map.header()
    }

    /// The slot of process `p`. Panics if `p >= procs()` (a caller bug).
    pub fn process(&self, p: usize) -> &ProcessSlot {
        self.map.process(p)
    }

    /// The slot of worker `t` of process `p`. Panics if either index is
    /// out of range (a caller bug).
    pub fn worker(&self, p: usize, t: usize) -> &WorkerSlot {
        self.map.worker(p, t)
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

    /// Record the shape the running strategy uses (its
    /// [`Mpm::scoreboard_shape`](crate::Mpm::scoreboard_shape)), within
    /// the board's: the rows the status page shows, and the row each child
    /// started from now on takes ([`Scoreboard::prepare_process`]). A
    /// board made for several strategies (sized once for the largest
    /// shape, so the strategy can change on a restart while the old
    /// generation's children still write their slots) shows each
    /// strategy's shape, not the whole board. Until it is called, the
    /// whole board is in use.
    pub fn set_shape_in_use(&self, procs: usize, threads: usize) {
        let fit = |n: usize, max: usize| u32::try_from(n.clamp(1, max)).unwrap_or(u32::MAX);
        let (procs, threads) = (fit(procs, self.procs()), fit(threads, self.threads()));
        let h = self.header();
        h.procs_used.fetch_max(procs, Ordering::AcqRel);
        h.threads_used.fetch_max(threads, Ordering::AcqRel);
        h.procs_in_use.store(procs, Ordering::Release);
        h.threads_in_use.store(threads, Ordering::Release);
    }

    /// The lifetime totals of every worker slot any strategy used since
    /// the board was made (those of the shape in use, and those an earlier
    /// strategy's larger rows kept): what the status page's totals count,
    /// so they never go back after a change of strategy.
    ///
    /// On a board whose processes a master started, only the slots of the
    /// rows they used are read ([`ProcessSlot::widest`]): a board sized
    /// for prefork's 256 servers of event's 65 slots (5 MB) is not paged
    /// in whole by every child that answers the status page.
    pub fn totals(&self) -> Totals {
        let widest: Vec<usize> = (0..self.procs())
            .map(|p| (self.process(p).widest.load(Ordering::Acquire) as usize).min(self.threads()))
            .collect();
        let rows: Vec<usize> = if widest.iter().any(|&w| w > 0) {
            widest
        } else {
            // No master prepared a process (one-process strategies,
            // in-process loops): the shapes recorded, else the board.
            let h = self.header();
            let used = |n: u32, max: usize| match n as usize {
                0 => max,
                n => n.min(max),
            };
            let procs = used(h.procs_used.load(Ordering::Acquire), self.procs());
            let threads = used(h.threads_used.load(Ordering::Acquire), self.threads());
            (0..self.procs())
                .map(|p| if p < procs { threads } else { 0 })
                .collect()
        };
        let mut totals = Totals::default();
        for (p, &row) in rows.iter().enumerate() {
            for t in 0..row {
                let w = self.worker(p, t);
                totals.accesses += w.access_count();
                totals.bytes += w.bytes_served();
                totals.duration += w.total_duration();
            }
        }
        totals
    }

    /// True when a master started a process on this board
    /// ([`Scoreboard::prepare_process`]): then a row whose
    /// [`ProcessSlot::widest`] is 0 was never written.
    fn prepared(&self) -> bool {
        (0..self.procs()).any(|p| self.process(p).widest.load(Ordering::Acquire) > 0)
    }

    /// The shape in use ([`Scoreboard::set_shape_in_use`]): (processes,
    /// worker slots per process).
    pub fn shape_in_use(&self) -> (usize, usize) {
        let h = self.header();
        let in_use = |n: u32, max: usize| match n as usize {
            0 => max,
            n => n.min(max),
        };
        (
            in_use(h.procs_in_use.load(Ordering::Acquire), self.procs()),
            in_use(h.threads_in_use.load(Ordering::Acquire), self.threads()),
        )
    }

    /// The worker slots of process `p`'s row: those of the strategy that
    /// started the process (recorded by [`Scoreboard::prepare_process`]),
    /// else those of the shape in use. Panics if `p >= procs()`.
    pub fn row_len(&self, p: usize) -> usize {
        match self.process(p).workers.load(Ordering::Acquire) as usize {
            0 => self.shape_in_use().1,
            n => n.min(self.threads()),
        }
    }

    /// Ready slot `p` for a process about to start (the master, before it
    /// forks): the slot reset, the row of the shape in use recorded as the
    /// process's (and as the slot's widest, if wider than any before), and
    /// its first `starting` workers shown `S`.
    pub fn prepare_process(&self, p: usize, starting: usize) {
        self.reset_process(p);
        let row = self.shape_in_use().1;
        let row32 = u32::try_from(row).unwrap_or(u32::MAX);
        let slot = self.process(p);
        slot.workers.store(row32, Ordering::Release);
        slot.widest.fetch_max(row32, Ordering::AcqRel);
        for t in 0..starting.min(row) {
            self.worker(p, t).set_state(WorkerState::Starting);
        }
    }

    /// A dead process's slots back to empty: the process slot cleared,
    /// its workers `.` with no strings; the workers' lifetime counters
    /// (accesses, bytes, connections, durations) are kept, as Apache keeps
    /// per-slot access counts across child restarts. Only the process's
    /// own row ([`Scoreboard::row_len`]) is touched: a process writes no
    /// slot beyond it, and a board sized for several strategies keeps the
    /// pages of rows nobody uses untouched.
    pub fn reset_process(&self, p: usize) {
        let row = self.row_len(p);
        self.process(p).clear();
        for t in 0..row {
            self.worker(p, t).reset();
        }
    }

    /// A plain copy of the board, for the status page: the shape in use
    /// ([`Scoreboard::set_shape_in_use`]), and beyond it any process still
    /// alive (of an older generation, whose strategy had more process
    /// slots); each process with the worker slots of its own row
    /// ([`Scoreboard::row_len`]).
    pub fn snapshot(&self) -> Snapshot {
        let (procs_in_use, _) = self.shape_in_use();
        let shown = (procs_in_use..self.procs())
            .rev()
            .find(|&p| self.process(p).live_pid().is_some())
            .map_or(procs_in_use, |last| last + 1);
        let prepared = self.prepared();
        let processes = (0..shown)
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
                    // A row no process ever used is fresh memory: shown
                    // without paging it in.
                    workers: if prepared && slot.widest.load(Ordering::Acquire) == 0 {
                        vec![WorkerSnapshot::untouched(); self.row_len(p)]
                    } else {
                        (0..self.row_len(p))
                            .map(|t| WorkerSnapshot::of(self.worker(p, t)))
                            .collect()
                    },
                }
            })
            .collect();
        Snapshot {
            generation: self.generation(),
            restart_time: self.restart_time(),
            processes,
            totals: self.totals(),
        }
    }
}

/// Lifetime sums over worker slots ([`Scoreboard::totals`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Requests served.
    pub accesses: u64,
    /// Body bytes sent.
    pub bytes: u64,
    /// Time spent serving requests.
    pub duration: Duration,
}

/// A copy of the whole board at one moment (each slot read separately).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Configuration generation.
    pub generation: u32,
    /// When the server last (re)started.
    pub restart_time: SystemTime,
    /// Every process slot shown, in order, each with its workers.
    pub processes: Vec<ProcessSnapshot>,
    /// The lifetime totals of every slot used since the board was made.
    pub totals: Totals,
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
    /// What a slot never written reads as (fresh, all-zero memory).
    fn untouched() -> Self {
        WorkerSnapshot {
            state: WorkerState::from_u8(0),
            access_count: 0,
            child_access_count: 0,
            conn_access_count: 0,
            bytes_served: 0,
            conn_count: 0,
            client: String::new(),
            vhost: String::new(),
            request: String::new(),
            request_started: UNIX_EPOCH,
            last_duration: Duration::ZERO,
            total_duration: Duration::ZERO,
            last_used: UNIX_EPOCH,
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};

    #[test]
    fn a_row_never_used_is_shown_as_a_fresh_slot_reads() {
        let sb = Scoreboard::new(3, 2).expect("scoreboard");
        assert_eq!(
            WorkerSnapshot::untouched(),
            WorkerSnapshot::of(sb.worker(2, 1))
        );
        sb.set_shape_in_use(3, 2);
        sb.prepare_process(0, 2);
        let snap = sb.snapshot();
        assert_eq!(
            snap.processes[2].workers,
            vec![WorkerSnapshot::untouched(); 2]
        );
        assert_eq!(snap.processes[0].workers[0].state, WorkerState::Starting);
    }

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

    /// A board sized for several strategies: prefork ran first (8 servers
    /// of one slot), then worker (2 servers of 3 slots) while one prefork
    /// child, in slot 5, still finishes.
    #[test]
    fn after_a_change_of_strategy_each_process_shows_its_own_row_and_totals_are_kept() {
        let sb = Scoreboard::new(8, 4).expect("scoreboard");
        assert_eq!(
            sb.shape_in_use(),
            (8, 4),
            "the whole board before any shape"
        );
        sb.set_shape_in_use(8, 1);
        for p in [0, 5] {
            sb.prepare_process(p, 1);
            sb.process(p).start(100 + p as i32, 1);
            let w = sb.worker(p, 0);
            w.begin_request("127.0.0.1", "h", "GET / HTTP/1.1");
            w.end_request(10, Duration::from_millis(1));
        }
        sb.set_shape_in_use(2, 3);
        // Prefork's child 0 left and was reaped; child 5 finishes.
        sb.reset_process(0);
        sb.worker(5, 0).set_state(WorkerState::Graceful);
        sb.prepare_process(0, 3);
        sb.process(0).start(200, 2);
        let w = sb.worker(0, 2);
        w.begin_request("127.0.0.1", "h", "GET /w HTTP/1.1");
        w.end_request(5, Duration::from_millis(1));
        assert_eq!(sb.row_len(0), 3, "the worker child's row");
        assert_eq!(sb.row_len(5), 1, "the prefork child's row");
        assert_eq!(sb.row_len(1), 3, "an empty slot shows the shape in use");
        let snap = sb.snapshot();
        let rows: Vec<String> = snap
            .processes
            .iter()
            .map(|p| p.workers.iter().map(|w| w.state.letter()).collect())
            .collect();
        assert_eq!(
            rows,
            ["SSR", "...", "...", "...", "...", "G"],
            "rows up to the last live process, each its own length"
        );
        assert_eq!(
            (snap.totals.accesses, snap.totals.bytes),
            (3, 25),
            "totals of every slot used since the board was made"
        );
        sb.reset_process(5);
        assert_eq!(sb.snapshot().processes.len(), 2, "the old child left");
        assert_eq!(
            sb.totals().accesses,
            3,
            "a reaped slot keeps its count, as Apache's"
        );
        // A shape larger than the board is held within it.
        sb.set_shape_in_use(50, 50);
        assert_eq!(sb.shape_in_use(), (8, 4));
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
