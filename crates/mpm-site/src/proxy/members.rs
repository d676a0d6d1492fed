//! The balancer members' shared state: one table in its own anonymous
//! `MAP_SHARED` mapping ([`mpm_core::Region`]), made by the first
//! [`Site`](crate::Site) built in a process (in `mpmd`, the master,
//! before any child is forked) and kept for the life of the process, so
//! every child reads and writes the same slots.
//!
//! A slot belongs to one member, found by the key *balancer name +
//! member URL*: a graceful restart whose balancer keeps a member finds
//! its slot again, with its counters, its load-balancing status and its
//! error state; a member added gets a free slot; a member removed keeps
//! its slot (its old children may still write it) until the table is
//! full, when the slots of members no longer configured are taken back.
//!
//! Every field is an atomic integer (the table is one array of
//! `AtomicU64`, laid out here in safe code), so the children update the counters
//! without a lock; byrequests' and bybusyness' load-balancing status
//! (Apache's `lbstatus`) is changed under one short spin lock per table
//! (Apache takes the balancer's mutex for the same step), broken after a
//! bound so a child killed while holding it cannot stop the others.
//!
//! The busy counts start again from 0 at each (re)start, as Apache's
//! lbmethods reset them: a child killed in the middle of a request
//! (SIGKILL, a crash) leaves its member's count one too high only until
//! then (the old generation's requests still under way then end with a
//! count that does not go below 0).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use mpm_core::Region;

/// Members the table holds, over every balancer and restart.
pub const MAX_MEMBERS: usize = 1024;

/// The words of one member's slot, in order.
const KEY: usize = 0; // the hash of "balancer name + member URL"; 0: free
const LBSTATUS: usize = 1; // Apache's `lbstatus` (an i64), the credit
const BUSY: usize = 2; // requests being passed to the member now
const REQUESTS: usize = 3; // requests passed to it
const BYTES_TO: usize = 4; // request body bytes sent (Content-Length)
const BYTES_FROM: usize = 5; // response body bytes read
const ERROR_UNTIL: usize = 6; // in error until (ms of the table's clock)
const ERRORS: usize = 7; // times put in error
const HC_FAILED: usize = 8; // 1 while health checks hold the member out
const HC_RUN: usize = 9; // consecutive results against the state above
const HC_DUE: usize = 10; // when the next check is due (table clock, ms)
const HC_CHECKS: usize = 11; // health checks run
const WORDS: usize = 12;

/// The table: a lock word (0 free, else the holder's pid), then
/// [`MAX_MEMBERS`] slots of [`WORDS`] words; all atomic integers, laid
/// out in safe code over one shared array.
type Words = [AtomicU64; 1 + MAX_MEMBERS * WORDS];

/// The member table of a process (and of the children forked after it
/// was made).
pub struct MemberTable {
    words: &'static Words,
}

/// One member's state, shared by every child.
#[derive(Clone, Copy)]
pub struct MemberSlot {
    words: &'static [AtomicU64],
}

impl std::fmt::Debug for MemberSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberSlot")
            .field("counts", &self.counts())
            .finish()
    }
}

/// The mapping and the clock's origin: both made once, before any fork,
/// so every child reads the same slots and measures time from the same
/// `Instant` (`CLOCK_MONOTONIC`, one clock for the whole system).
static TABLE: OnceLock<(Region<Words>, Instant)> = OnceLock::new();
/// Serialises making the table (two threads of an embedder).
static MAKING: Mutex<()> = Mutex::new(());

fn made() -> std::io::Result<&'static (Region<Words>, Instant)> {
    if let Some(t) = TABLE.get() {
        return Ok(t);
    }
    let _making = MAKING.lock().unwrap_or_else(|p| p.into_inner());
    if TABLE.get().is_none() {
        let region = Region::<Words>::new()?;
        let _ = TABLE.set((region, Instant::now()));
    }
    TABLE
        .get()
        .ok_or_else(|| std::io::Error::other("the balancer member table was not made"))
}

/// The process's member table, made on first use.
pub fn table() -> std::io::Result<MemberTable> {
    Ok(MemberTable {
        words: made()?.0.get(),
    })
}

/// A member's key: FNV-1a of "balancer\0url" (never 0).
pub fn key(balancer: &str, url: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in balancer.bytes().chain([0]).chain(url.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h.max(1)
}

/// Milliseconds since the table was made (from 1), the same in every
/// process that shares it.
fn now_ms() -> u64 {
    match TABLE.get() {
        Some((_, origin)) => origin.elapsed().as_millis() as u64 + 1,
        None => 1,
    }
}

/// Held while the load-balancing status is changed.
pub struct TableLock<'a>(&'a AtomicU64);

impl Drop for TableLock<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::Release);
    }
}

impl MemberTable {
    /// Take the table's lock: spin, and after 50 ms take it over (its
    /// holder, which only ever holds it for a few instructions, died).
    pub fn lock(&self) -> TableLock<'_> {
        let word = &self.words[0];
        let me = u64::from(std::process::id()).max(1);
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            if word
                .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return TableLock(word);
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) {
                if start.elapsed() > Duration::from_millis(50) {
                    word.store(me, Ordering::Release);
                    return TableLock(word);
                }
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }

    fn slots(&self) -> impl Iterator<Item = MemberSlot> {
        self.words[1..]
            .chunks_exact(WORDS)
            .map(|words| MemberSlot { words })
    }

    /// The slot of `key` (its busy count reset), claimed if no slot has
    /// it; `live` says which keys the configuration still names (a full
    /// table takes back the others). `None` when the table is full of
    /// live members.
    pub fn claim(&self, key: u64, live: &dyn Fn(u64) -> bool) -> Option<MemberSlot> {
        let _held = self.lock();
        if let Some(slot) = self.slots().find(|s| s.get(KEY) == key) {
            slot.words[BUSY].store(0, Ordering::Relaxed);
            return Some(slot);
        }
        let free = self
            .slots()
            .find(|s| s.get(KEY) == 0)
            .or_else(|| self.slots().find(|s| !live(s.get(KEY))))?;
        for w in free.words {
            w.store(0, Ordering::Relaxed);
        }
        free.words[KEY].store(key, Ordering::Release);
        Some(free)
    }
}

/// What the manager page shows of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemberCounts {
    /// Requests passed.
    pub requests: u64,
    /// Being passed now.
    pub busy: u64,
    /// Request body bytes sent.
    pub bytes_to: u64,
    /// Response body bytes read.
    pub bytes_from: u64,
    /// Times put in error.
    pub errors: u64,
    /// The load-balancing status.
    pub lbstatus: i64,
    /// Health checks run.
    pub health_checks: u64,
}

impl MemberSlot {
    fn get(&self, word: usize) -> u64 {
        self.words[word].load(Ordering::Acquire)
    }

    fn add(&self, word: usize, n: u64) {
        self.words[word].fetch_add(n, Ordering::Relaxed);
    }

    /// The load-balancing status (under the table's lock).
    pub fn lbstatus(&self) -> i64 {
        self.get(LBSTATUS) as i64
    }

    /// Add `by` to the load-balancing status (under the table's lock).
    pub fn add_lbstatus(&self, by: i64) {
        // Two's complement: adding the bits of a negative i64 subtracts.
        self.add(LBSTATUS, by as u64);
    }

    /// Requests being passed now.
    pub fn busy(&self) -> u64 {
        self.get(BUSY)
    }

    /// A request starts: counted, and busy until [`done`](Self::done).
    pub fn start(&self, bytes_to: u64) {
        self.add(REQUESTS, 1);
        self.add(BUSY, 1);
        self.add(BYTES_TO, bytes_to);
    }

    /// `n` response bytes read from the member.
    pub fn read(&self, n: u64) {
        self.add(BYTES_FROM, n);
    }

    /// A request ended (its response passed on, or failed).
    pub fn done(&self) {
        let _ = self.words[BUSY].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
            Some(b.saturating_sub(1))
        });
    }

    /// How long the member stays in error, if it is.
    pub fn error_left(&self) -> Option<Duration> {
        let until = self.get(ERROR_UNTIL);
        let now = now_ms();
        (until > now).then(|| Duration::from_millis(until - now))
    }

    /// Put the member in error for `retry` (every child skips it).
    pub fn set_error(&self, retry: Duration) {
        let ms = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX).max(1);
        let until = now_ms().saturating_add(ms);
        self.words[ERROR_UNTIL].fetch_max(until, Ordering::AcqRel);
        self.add(ERRORS, 1);
    }

    /// Whether health checks hold the member out.
    pub fn hc_failed(&self) -> bool {
        self.get(HC_FAILED) != 0
    }

    /// Whether this process should run the member's next health check
    /// now: it is due, and no other process took it (one check per
    /// `interval` over every child).
    pub fn take_check(&self, interval: Duration) -> bool {
        let now = now_ms();
        let due = self.get(HC_DUE);
        let next = now.saturating_add(u64::try_from(interval.as_millis()).unwrap_or(u64::MAX));
        due <= now
            && self.words[HC_DUE]
                .compare_exchange(due, next, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    /// Record a health check's result: `fails` failures in a row take the
    /// member out, `passes` passes in a row bring it back. Returns the
    /// change, if any: `Some(true)` back in, `Some(false)` taken out.
    pub fn record_check(&self, passed: bool, passes: u32, fails: u32) -> Option<bool> {
        self.add(HC_CHECKS, 1);
        let failed = self.hc_failed();
        if passed != failed {
            // The result agrees with the state: the run against it ends.
            self.words[HC_RUN].store(0, Ordering::Relaxed);
            return None;
        }
        let run = self.words[HC_RUN].fetch_add(1, Ordering::AcqRel) + 1;
        let needed = u64::from(if failed { passes } else { fails }.max(1));
        if run < needed {
            return None;
        }
        self.words[HC_RUN].store(0, Ordering::Relaxed);
        self.words[HC_FAILED].store(u64::from(!passed), Ordering::Release);
        Some(passed)
    }

    /// The counters, for the manager page.
    pub fn counts(&self) -> MemberCounts {
        MemberCounts {
            requests: self.get(REQUESTS),
            busy: self.busy(),
            bytes_to: self.get(BYTES_TO),
            bytes_from: self.get(BYTES_FROM),
            errors: self.get(ERRORS),
            lbstatus: self.lbstatus(),
            health_checks: self.get(HC_CHECKS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_finds_its_slot_again_and_a_new_key_gets_a_fresh_one() {
        let table = table().unwrap();
        let a = key("members-test", "http://127.0.0.1:1");
        let slot = table.claim(a, &|_| true).unwrap();
        slot.start(10);
        let again = table.claim(a, &|_| true).unwrap();
        assert!(std::ptr::eq(slot.words, again.words));
        assert_eq!(again.counts().requests, 1);
        let b = table
            .claim(key("members-test", "http://127.0.0.1:2"), &|_| true)
            .unwrap();
        assert!(!std::ptr::eq(slot.words, b.words));
        assert_eq!(b.counts(), MemberCounts::default());
    }

    #[test]
    fn health_checks_take_a_member_out_after_fails_and_back_after_passes() {
        let slot = table()
            .unwrap()
            .claim(key("members-test", "http://127.0.0.1:4"), &|_| true)
            .unwrap();
        assert_eq!(slot.record_check(false, 2, 2), None);
        assert_eq!(slot.record_check(true, 2, 2), None, "a pass breaks the run");
        assert_eq!(slot.record_check(false, 2, 2), None);
        assert_eq!(slot.record_check(false, 2, 2), Some(false));
        assert!(slot.hc_failed());
        assert_eq!(slot.record_check(true, 2, 2), None);
        assert_eq!(slot.record_check(true, 2, 2), Some(true));
        assert!(!slot.hc_failed());
        assert!(slot.take_check(Duration::from_secs(60)));
        assert!(!slot.take_check(Duration::from_secs(60)), "taken twice");
    }

    #[test]
    fn an_error_lasts_for_retry() {
        let slot = table()
            .unwrap()
            .claim(key("members-test", "http://127.0.0.1:3"), &|_| true)
            .unwrap();
        assert!(slot.error_left().is_none());
        slot.set_error(Duration::from_secs(30));
        let left = slot.error_left().expect("in error");
        assert!(left > Duration::from_secs(29) && left <= Duration::from_secs(30));
    }
}
