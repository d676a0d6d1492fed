//! The scoreboard's lifetime counters, for Prometheus metrics: requests by
//! virtual host, method and status class, a request-duration histogram,
//! bytes in and out, TLS handshakes and their failures.
//!
//! They live in a shared mapping of their own ([`Counters`]), made with
//! the board, once, by the master before its first child, and shared by
//! every child: they never drop, not when a child dies, not on a graceful
//! or hard restart (the master keeps its board across restarts). They do
//! not depend on the board's shape. Every field is an atomic integer, so
//! fresh zeroed memory is a board of zeros.
//!
//! Cheap on the request path: one [`Counters::record`] is five relaxed
//! `fetch_add`s in a cell no other thread is likely to touch, with no lock
//! and no allocation. Cells are striped: each thread takes one of
//! [`STRIPES`] stripes the first time it records (round robin over every
//! thread of every process, through a counter in the mapping), so threads
//! on different cores do not write the same cache line; a reader sums the
//! stripes.
//!
//! Cardinality is bounded: at most [`VHOST_CAP`] virtual-host names get a
//! cell of their own (claimed by name, so a host keeps its cell across
//! restarts); any further host is counted in the `other` cell. Methods are
//! the nine of RFC 9110 and RFC 5789 plus `other`; statuses are counted by
//! class.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

use http::{Method, StatusCode};

use super::slots::truncate_on_char;

/// Virtual-host names with a cell of their own; further hosts are counted
/// together as [`OTHER_VHOST`].
pub const VHOST_CAP: usize = 64;

/// The label of the cell that counts the hosts beyond [`VHOST_CAP`].
pub const OTHER_VHOST: &str = "other";

/// Bytes kept of a virtual host's name (longer names are cut on a
/// character boundary).
pub const VHOST_NAME_LEN: usize = 64;

/// Stripes of cells; a thread records in one of them.
pub const STRIPES: usize = 16;

/// The methods counted by name, in label order; any other is `other`.
const METHODS: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::CONNECT,
    Method::OPTIONS,
    Method::TRACE,
    Method::PATCH,
];

/// Method labels: the nine methods of RFC 9110 and RFC 5789, then `other`.
pub const METHOD_LABELS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "other",
];

/// Status-class labels; a status of 600 and above is `other`.
pub const CLASS_LABELS: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// Upper bounds of the duration histogram's buckets, in microseconds (a
/// last, `+Inf` bucket follows): 100 µs to 10 s, finer than Prometheus's
/// defaults at the low end, where a static file server's requests are.
pub const DURATION_BOUNDS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

const BUCKETS: usize = DURATION_BOUNDS_US.len() + 1;
const CELLS: usize = VHOST_CAP + 1;

/// Which cell a virtual host counts in: one of the named ones or `other`.
/// Got from [`Counters::vhost`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VhostId(usize);

impl VhostId {
    /// The cell of the hosts beyond the cap.
    pub const OTHER: VhostId = VhostId(VHOST_CAP);
}

/// One virtual host's counters in one stripe, on cache lines of its own.
#[repr(C, align(64))]
struct VhostCell {
    requests: [[AtomicU64; CLASS_LABELS.len()]; METHOD_LABELS.len()],
    /// Per bucket (not cumulative); the last is `+Inf`.
    buckets: [AtomicU64; BUCKETS],
    duration_us: AtomicU64,
    received: AtomicU64,
    sent: AtomicU64,
}

/// A claimed virtual-host name.
#[repr(C)]
struct NameCell {
    /// 0: free; 1: being written; 2: named.
    state: AtomicU32,
    len: AtomicU8,
    bytes: [AtomicU8; VHOST_NAME_LEN],
}

const FREE: u32 = 0;
const CLAIMING: u32 = 1;
const NAMED: u32 = 2;

/// Facts about the whole server, each on its own cache line.
#[repr(C, align(64))]
struct Global {
    /// Hands each recording thread its stripe, round robin.
    next_stripe: AtomicU32,
}

#[repr(C, align(64))]
struct Tls {
    handshakes: AtomicU64,
    failures: AtomicU64,
}

/// The whole region, laid out in the shared mapping.
#[repr(C)]
pub(super) struct CounterArea {
    global: Global,
    tls: Tls,
    names: [NameCell; VHOST_CAP],
    cells: [[VhostCell; CELLS]; STRIPES],
}

/// The lifetime counters (see the module doc): a reference into the
/// shared mapping, got from [`Scoreboard::counters`](super::Scoreboard::counters).
pub struct Counters {
    pub(super) area: super::shm::Region<CounterArea>,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters").finish_non_exhaustive()
    }
}

thread_local! {
    /// This thread's stripe, once chosen.
    static STRIPE: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The index of `method` in [`METHOD_LABELS`].
fn method_index(method: &Method) -> usize {
    METHODS
        .iter()
        .position(|m| m == method)
        .unwrap_or(METHODS.len())
}

/// The index of `status`'s class in [`CLASS_LABELS`].
fn class_index(status: StatusCode) -> usize {
    match status.as_u16() / 100 {
        c @ 1..=5 => usize::from(c - 1),
        _ => CLASS_LABELS.len() - 1,
    }
}

fn bucket_index(us: u64) -> usize {
    DURATION_BOUNDS_US
        .iter()
        .position(|&b| us <= b)
        .unwrap_or(DURATION_BOUNDS_US.len())
}

impl NameCell {
    fn name(&self) -> Option<String> {
        if self.state.load(Ordering::Acquire) != NAMED {
            return None;
        }
        let n = usize::from(self.len.load(Ordering::Relaxed)).min(VHOST_NAME_LEN);
        let bytes: Vec<u8> = self.bytes[..n]
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn is(&self, name: &str) -> bool {
        self.state.load(Ordering::Acquire) == NAMED
            && usize::from(self.len.load(Ordering::Relaxed)) == name.len()
            && self
                .bytes
                .iter()
                .zip(name.bytes())
                .all(|(c, b)| c.load(Ordering::Relaxed) == b)
    }
}

impl Counters {
    fn area(&self) -> &CounterArea {
        self.area.get()
    }

    /// The cell of the virtual host named `name` (its `ServerName`): the
    /// one it already has, else the first free one, else
    /// [`VhostId::OTHER`] once [`VHOST_CAP`] names have cells. Called when
    /// a handler is built (not per request); safe from any number of
    /// threads and processes at once.
    pub fn vhost(&self, name: &str) -> VhostId {
        let name = truncate_on_char(name, VHOST_NAME_LEN);
        let names = &self.area().names;
        for (i, cell) in names.iter().enumerate() {
            loop {
                if cell.is(name) {
                    return VhostId(i);
                }
                match cell.state.compare_exchange(
                    FREE,
                    CLAIMING,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        for (c, b) in cell.bytes.iter().zip(name.bytes()) {
                            c.store(b, Ordering::Relaxed);
                        }
                        // `name.len() <= VHOST_NAME_LEN <= 255`.
                        cell.len.store(name.len() as u8, Ordering::Relaxed);
                        cell.state.store(NAMED, Ordering::Release);
                        return VhostId(i);
                    }
                    // Another claimer is writing this cell: wait for its
                    // name (a claim is a few stores).
                    Err(CLAIMING) => std::hint::spin_loop(),
                    Err(_) => break,
                }
            }
        }
        VhostId::OTHER
    }

    /// This thread's stripe, chosen on its first call.
    fn stripe(&self) -> usize {
        STRIPE.with(|s| match s.get() {
            Some(i) => i,
            None => {
                let next = self
                    .area()
                    .global
                    .next_stripe
                    .fetch_add(1, Ordering::Relaxed);
                let i = next as usize % STRIPES;
                s.set(Some(i));
                i
            }
        })
    }

    /// Count one finished exchange of host `vhost`: its method, status,
    /// how long it took, the bytes received (request line, header fields
    /// and body as framed) and the body bytes sent.
    pub fn record(
        &self,
        vhost: VhostId,
        method: Option<&Method>,
        status: StatusCode,
        duration: Duration,
        received: u64,
        sent: u64,
    ) {
        let cell = &self.area().cells[self.stripe()][vhost.0.min(VHOST_CAP)];
        let m = method.map_or(METHODS.len(), method_index);
        let us = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        cell.requests[m][class_index(status)].fetch_add(1, Ordering::Relaxed);
        cell.buckets[bucket_index(us)].fetch_add(1, Ordering::Relaxed);
        cell.duration_us.fetch_add(us, Ordering::Relaxed);
        cell.received.fetch_add(received, Ordering::Relaxed);
        cell.sent.fetch_add(sent, Ordering::Relaxed);
    }

    /// Count a TLS handshake that completed (`true`) or failed (`false`:
    /// an error, plain HTTP on a TLS port, a timeout or a client gone).
    pub fn tls_handshake(&self, ok: bool) {
        let tls = &self.area().tls;
        let counter = if ok { &tls.handshakes } else { &tls.failures };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A plain copy of every counter, the stripes summed.
    pub fn snapshot(&self) -> CountersSnapshot {
        let area = self.area();
        let mut vhosts = Vec::new();
        for i in 0..CELLS {
            let name = match area.names.get(i) {
                Some(cell) => match cell.name() {
                    Some(name) => name,
                    None => continue,
                },
                None => OTHER_VHOST.to_string(),
            };
            let mut v = VhostCounts {
                name,
                ..VhostCounts::default()
            };
            for stripe in &area.cells {
                let c = &stripe[i];
                for (m, row) in c.requests.iter().enumerate() {
                    for (k, n) in row.iter().enumerate() {
                        v.requests[m][k] += n.load(Ordering::Relaxed);
                    }
                }
                for (b, n) in c.buckets.iter().enumerate() {
                    v.buckets[b] += n.load(Ordering::Relaxed);
                }
                v.duration += Duration::from_micros(c.duration_us.load(Ordering::Relaxed));
                v.received += c.received.load(Ordering::Relaxed);
                v.sent += c.sent.load(Ordering::Relaxed);
            }
            vhosts.push(v);
        }
        CountersSnapshot {
            vhosts,
            tls_handshakes: area.tls.handshakes.load(Ordering::Relaxed),
            tls_failures: area.tls.failures.load(Ordering::Relaxed),
        }
    }
}

/// A copy of the [`Counters`] at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountersSnapshot {
    /// Every named host in the order their cells were claimed, then
    /// [`OTHER_VHOST`].
    pub vhosts: Vec<VhostCounts>,
    /// TLS handshakes completed.
    pub tls_handshakes: u64,
    /// TLS handshakes that failed.
    pub tls_failures: u64,
}

/// One virtual host's counters, summed over the stripes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VhostCounts {
    /// Its name (`ServerName`), or [`OTHER_VHOST`].
    pub name: String,
    /// Requests by method (as [`METHOD_LABELS`]) and status class (as
    /// [`CLASS_LABELS`]).
    pub requests: [[u64; CLASS_LABELS.len()]; METHOD_LABELS.len()],
    /// Requests per duration bucket (not cumulative): one per
    /// [`DURATION_BOUNDS_US`] bound, then `+Inf`.
    pub buckets: [u64; BUCKETS],
    /// Sum of the requests' durations.
    pub duration: Duration,
    /// Bytes received.
    pub received: u64,
    /// Body bytes sent.
    pub sent: u64,
}

impl VhostCounts {
    /// Requests counted (the histogram's count).
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scoreboard;

    #[test]
    fn hosts_get_cells_by_name_up_to_the_cap_then_other() {
        let sb = Scoreboard::new(1, 1).expect("scoreboard");
        let c = sb.counters();
        let a = c.vhost("a.test");
        assert_eq!(c.vhost("a.test"), a, "a name claimed twice");
        let ids: Vec<VhostId> = (0..VHOST_CAP + 5)
            .map(|i| c.vhost(&format!("h{i}.test")))
            .collect();
        assert_eq!(ids.iter().filter(|&&id| id == VhostId::OTHER).count(), 6);
        assert_eq!(c.vhost("a.test"), a, "a claimed name lost its cell");
    }

    #[test]
    fn a_record_counts_method_class_bucket_and_bytes() {
        let sb = Scoreboard::new(1, 1).expect("scoreboard");
        let c = sb.counters();
        let h = c.vhost("h.test");
        c.record(
            h,
            Some(&Method::GET),
            StatusCode::OK,
            Duration::from_micros(300),
            80,
            13,
        );
        c.record(
            h,
            Some(&Method::from_bytes(b"BREW").unwrap()),
            StatusCode::NOT_IMPLEMENTED,
            Duration::from_secs(20),
            40,
            0,
        );
        c.record(
            VhostId::OTHER,
            None,
            StatusCode::BAD_REQUEST,
            Duration::ZERO,
            0,
            5,
        );
        let snap = c.snapshot();
        let h = &snap.vhosts[0];
        assert_eq!(h.name, "h.test");
        assert_eq!(h.requests[0][1], 1, "GET 2xx: {h:?}");
        assert_eq!(h.requests[9][4], 1, "other 5xx: {h:?}");
        assert_eq!(h.buckets[2], 1, "300 µs is in the 500 µs bucket");
        assert_eq!(h.buckets[BUCKETS - 1], 1, "20 s is in +Inf");
        assert_eq!((h.count(), h.received, h.sent), (2, 120, 13));
        assert_eq!(h.duration, Duration::from_micros(20_000_300));
        let other = snap.vhosts.last().unwrap();
        assert_eq!(other.name, OTHER_VHOST);
        assert_eq!(other.requests[9][3], 1);
    }

    #[test]
    fn every_thread_counts_whatever_its_stripe() {
        let sb = Scoreboard::new(1, 1).expect("scoreboard");
        let h = sb.counters().vhost("h.test");
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let sb = sb.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        sb.counters().record(
                            h,
                            Some(&Method::HEAD),
                            StatusCode::OK,
                            Duration::ZERO,
                            1,
                            0,
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("recording thread panicked");
        }
        sb.counters().tls_handshake(true);
        sb.counters().tls_handshake(false);
        let snap = sb.counters().snapshot();
        assert_eq!(snap.vhosts[0].requests[1][1], 4000);
        assert_eq!(snap.vhosts[0].received, 4000);
        assert_eq!((snap.tls_handshakes, snap.tls_failures), (1, 1));
    }

    #[test]
    fn a_forked_child_counts_where_the_parent_reads() {
        use nix::sys::wait::{waitpid, WaitStatus};
        use nix::unistd::{fork, ForkResult};
        let sb = Scoreboard::new(2, 1).expect("scoreboard");
        let h = sb.counters().vhost("h.test");
        // SAFETY: the child only touches atomics in the shared mappings and
        // its own thread-local stripe (a `const` initialiser: no
        // allocation), and leaves with `_exit`; it takes no lock and runs no
        // test-harness code, so the other threads of the test process do
        // not matter.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let c = sb.counters();
                c.record(
                    h,
                    Some(&Method::PUT),
                    StatusCode::CREATED,
                    Duration::ZERO,
                    9,
                    0,
                );
                c.tls_handshake(true);
                // SAFETY: `_exit` ends the child at once, without running
                // destructors or atexit handlers of the parent's copy.
                unsafe { libc::_exit(0) }
            }
            ForkResult::Parent { child } => {
                let status = waitpid(child, None).expect("waitpid");
                assert_eq!(status, WaitStatus::Exited(child, 0), "child failed");
                let snap = sb.counters().snapshot();
                assert_eq!(snap.vhosts[0].requests[3][1], 1, "PUT 2xx: {snap:?}");
                assert_eq!(snap.vhosts[0].received, 9);
                assert_eq!(snap.tls_handshakes, 1);
            }
        }
    }
}
