//! The pool's process table: one slot per FastCGI process, in one
//! anonymous `MAP_SHARED` mapping ([`mpm_core::Region`]) made by the
//! first [`Site`](crate::Site) built in a process (in `mpmd`, the master,
//! before any child is forked), so every serving process sees every
//! FastCGI process, as mod_fcgid's process manager's table is seen by
//! every child of Apache.
//!
//! Every word is an atomic integer; a slot changes hands by one
//! compare-and-swap of its state (free → starting by the process that
//! starts a program in it, idle → busy by the one that takes it for a
//! request, idle → retiring by the one that retires it), so no lock is
//! held, but for the start decision: counting the processes and claiming
//! a slot for a new one is one step under [`Table::spawning`]. The table's clock is milliseconds since the table was made
//! (`CLOCK_MONOTONIC`, the same origin in every process).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use mpm_core::Region;

use super::regulate::{ProcFacts, ProcState};

/// FastCGI processes the table holds; `FcgidMaxProcesses` is clamped to
/// it.
pub const MAX_PROCESSES: usize = 2048;

const STATE: usize = 0; // one of the `S_*` below
const CLASS: usize = 1; // the class's key
const PID: usize = 2; // the FastCGI process
const OWNER: usize = 3; // the serving process that started it
const STARTED: usize = 4; // table clock, ms
const LAST: usize = 5; // table clock, ms: last request finished
const REQUESTS: usize = 6; // requests served
const SERIAL: usize = 7; // which start of this slot (socket names)
const NAME: usize = 8; // 8 words: the last 64 bytes of the class's name
const NAME_WORDS: usize = 8;
const WORDS: usize = 16;

const S_FREE: u64 = 0;
const S_STARTING: u64 = 1;
const S_IDLE: u64 = 2;
const S_BUSY: u64 = 3;
const S_RETIRING: u64 = 4;

/// The word after the slots: the pid of the serving process deciding
/// whether to start a process (0: none), see [`Table::spawning`].
const SPAWN_LOCK: usize = MAX_PROCESSES * WORDS;

type Words = [AtomicU64; MAX_PROCESSES * WORDS + 1];

static TABLE: OnceLock<(Region<Words>, Instant)> = OnceLock::new();
static MAKING: Mutex<()> = Mutex::new(());

/// The process's table, made on first use (call it before forking so the
/// children share it).
pub fn table() -> std::io::Result<Table> {
    if TABLE.get().is_none() {
        let _making = MAKING.lock().unwrap_or_else(|p| p.into_inner());
        if TABLE.get().is_none() {
            let region = Region::<Words>::new()?;
            let _ = TABLE.set((region, Instant::now()));
        }
    }
    let (region, origin) = TABLE
        .get()
        .ok_or_else(|| std::io::Error::other("the FastCGI process table was not made"))?;
    Ok(Table {
        words: region.get(),
        origin: *origin,
    })
}

/// The process's table if a pool made it (the status page shows it
/// then), without making it.
pub fn existing() -> Option<Table> {
    let (region, origin) = TABLE.get()?;
    Some(Table {
        words: region.get(),
        origin: *origin,
    })
}

/// A view of the shared table.
#[derive(Clone, Copy)]
pub struct Table {
    words: &'static Words,
    origin: Instant,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("fcgid::Table")
    }
}

/// One process's slot.
#[derive(Clone, Copy)]
pub struct Slot {
    /// Its number.
    pub index: usize,
    words: &'static [AtomicU64],
}

/// A class's key: FNV-1a of its name, never 0.
pub fn class_key(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h.max(1)
}

fn state_of(word: u64) -> Option<ProcState> {
    match word {
        S_STARTING => Some(ProcState::Starting),
        S_IDLE => Some(ProcState::Idle),
        S_BUSY => Some(ProcState::Busy),
        S_RETIRING => Some(ProcState::Retiring),
        _ => None,
    }
}

impl Table {
    /// Milliseconds since the table was made: its clock.
    pub fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn ms(&self) -> u64 {
        self.now().as_millis() as u64
    }

    /// Slot `index`.
    pub fn slot(&self, index: usize) -> Slot {
        Slot {
            index,
            words: &self.words[index * WORDS..(index + 1) * WORDS],
        }
    }

    fn slots(&self, limit: usize) -> impl Iterator<Item = Slot> + '_ {
        (0..limit.min(MAX_PROCESSES)).map(|i| self.slot(i))
    }

    /// Processes in the table (not retiring), of class `key` and in all.
    pub fn counts(&self, key: u64) -> (u32, u32) {
        let (mut class, mut all) = (0, 0);
        for slot in self.slots(MAX_PROCESSES) {
            let state = slot.words[STATE].load(Ordering::Acquire);
            if matches!(state, S_STARTING | S_IDLE | S_BUSY) {
                all += 1;
                if slot.words[CLASS].load(Ordering::Acquire) == key {
                    class += 1;
                }
            }
        }
        (class, all)
    }

    /// Take an idle process of class `key` for a request (idle → busy).
    pub fn take_idle(&self, key: u64) -> Option<Slot> {
        for slot in self.slots(MAX_PROCESSES) {
            if slot.words[STATE].load(Ordering::Acquire) != S_IDLE
                || slot.words[CLASS].load(Ordering::Acquire) != key
            {
                continue;
            }
            if slot.cas(S_IDLE, S_BUSY) {
                if slot.words[CLASS].load(Ordering::Acquire) == key {
                    return Some(slot);
                }
                // Reused for another class between the two loads.
                slot.set_state(S_IDLE);
            }
        }
        None
    }

    /// Hold the table's start decision: while the guard lives, no other
    /// thread or serving process counts processes to start one, so the
    /// count a start is admitted on ([`Table::counts`]) and its
    /// [`Table::claim`] are one step, as mod_fcgid's process manager
    /// decides starts one at a time, and `FcgidMaxProcesses` holds
    /// however many requests race. It is held for a count and a claim
    /// (microseconds): a waiter yields, then sleeps a millisecond at a
    /// time; a holder that died holding it (its pid gone) is replaced.
    pub fn spawning(&self) -> SpawnGuard {
        let lock = &self.words[SPAWN_LOCK];
        let me = u64::from(std::process::id());
        let mut tries = 0u32;
        loop {
            match lock.compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return SpawnGuard { lock },
                Err(holder) => {
                    tries += 1;
                    if tries < 64 {
                        std::thread::yield_now();
                        continue;
                    }
                    if holder != me && !alive(holder) {
                        let _ =
                            lock.compare_exchange(holder, 0, Ordering::AcqRel, Ordering::Acquire);
                        continue;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }

    /// Claim a free slot (free → starting) for a process of class `key`
    /// named `name`, started by `owner`. The caller checked the limits,
    /// holding [`Table::spawning`].
    pub fn claim(&self, key: u64, name: &str, owner: u32) -> Option<Slot> {
        let now = self.ms();
        for slot in self.slots(MAX_PROCESSES) {
            if slot.words[STATE].load(Ordering::Acquire) != S_FREE || !slot.cas(S_FREE, S_STARTING)
            {
                continue;
            }
            let w = slot.words;
            w[CLASS].store(key, Ordering::Release);
            w[PID].store(0, Ordering::Release);
            w[OWNER].store(u64::from(owner), Ordering::Release);
            w[STARTED].store(now, Ordering::Release);
            w[LAST].store(now, Ordering::Release);
            w[REQUESTS].store(0, Ordering::Release);
            w[SERIAL].fetch_add(1, Ordering::AcqRel);
            let tail = &name.as_bytes()[name.len().saturating_sub(NAME_WORDS * 8)..];
            for (i, word) in w[NAME..NAME + NAME_WORDS].iter().enumerate() {
                let mut bytes = [0u8; 8];
                for (j, b) in bytes.iter_mut().enumerate() {
                    *b = tail.get(i * 8 + j).copied().unwrap_or(0);
                }
                word.store(u64::from_le_bytes(bytes), Ordering::Release);
            }
            return Some(slot);
        }
        None
    }

    /// Every process's facts, for the idle scan and the status page.
    pub fn facts(&self) -> Vec<(ProcFacts, ProcInfo)> {
        self.slots(MAX_PROCESSES)
            .filter_map(|slot| {
                let state = state_of(slot.words[STATE].load(Ordering::Acquire))?;
                let w = slot.words;
                Some((
                    ProcFacts {
                        slot: slot.index,
                        class: w[CLASS].load(Ordering::Acquire),
                        state,
                        started: Duration::from_millis(w[STARTED].load(Ordering::Acquire)),
                        last_active: Duration::from_millis(w[LAST].load(Ordering::Acquire)),
                        requests: w[REQUESTS].load(Ordering::Acquire),
                    },
                    ProcInfo {
                        pid: w[PID].load(Ordering::Acquire) as u32,
                        owner: w[OWNER].load(Ordering::Acquire) as u32,
                        name: slot.name(),
                    },
                ))
            })
            .collect()
    }
}

/// The start decision held ([`Table::spawning`]); let go on drop.
pub struct SpawnGuard {
    lock: &'static AtomicU64,
}

impl Drop for SpawnGuard {
    fn drop(&mut self) {
        self.lock.store(0, Ordering::Release);
    }
}

/// Whether the process `pid` still runs (a signal 0 finds it).
fn alive(pid: u64) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

/// What the status page shows of a process besides its facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    /// Its pid (0 while starting).
    pub pid: u32,
    /// The serving process that started it.
    pub owner: u32,
    /// The end of its class's name (64 bytes at most).
    pub name: String,
}

impl Slot {
    fn cas(&self, from: u64, to: u64) -> bool {
        self.words[STATE]
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn set_state(&self, state: u64) {
        self.words[STATE].store(state, Ordering::Release);
    }

    /// Its process started, with `pid`.
    pub fn started(&self, pid: u32) {
        self.words[PID].store(u64::from(pid), Ordering::Release);
    }

    /// Its process's pid (0 while starting).
    pub fn pid(&self) -> u32 {
        self.words[PID].load(Ordering::Acquire) as u32
    }

    /// The serving process that started it.
    pub fn owner(&self) -> u32 {
        self.words[OWNER].load(Ordering::Acquire) as u32
    }

    /// Which start of this slot it is (socket names differ per start).
    pub fn serial(&self) -> u64 {
        self.words[SERIAL].load(Ordering::Acquire)
    }

    /// A request ended on it at table time `now`: the requests served
    /// now.
    pub fn served(&self, now: Duration) -> u64 {
        self.words[LAST].store(now.as_millis() as u64, Ordering::Release);
        self.words[REQUESTS].fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Starting → busy: its process is up and serves the request of
    /// the one that started it.
    pub fn start_busy(&self) {
        self.cas(S_STARTING, S_BUSY);
    }

    /// Busy → idle.
    pub fn release(&self) {
        self.cas(S_BUSY, S_IDLE);
    }

    /// Busy or idle → retiring (true when this call did it).
    pub fn retire(&self, idle_only: bool) -> bool {
        self.cas(S_IDLE, S_RETIRING)
            || (!idle_only && self.cas(S_BUSY, S_RETIRING))
            || (!idle_only && self.cas(S_STARTING, S_RETIRING))
    }

    /// Whether it is being retired.
    pub fn retiring(&self) -> bool {
        self.words[STATE].load(Ordering::Acquire) == S_RETIRING
    }

    /// Its process is gone (reaped): the slot is free.
    pub fn free(&self) {
        self.set_state(S_FREE);
    }

    fn name(&self) -> String {
        let mut bytes = Vec::with_capacity(NAME_WORDS * 8);
        for word in &self.words[NAME..NAME + NAME_WORDS] {
            bytes.extend_from_slice(&word.load(Ordering::Acquire).to_le_bytes());
        }
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        String::from_utf8_lossy(&bytes[..end]).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sixteen threads race to start a process of one class whose limit
    /// is three, each counting and claiming under the start decision:
    /// exactly three slots are claimed (without it, several see two
    /// running and all claim).
    #[test]
    fn racing_starts_claim_no_more_slots_than_the_limit() {
        let t = table().unwrap();
        let key = class_key("racing_starts_claim_no_more_slots_than_the_limit");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(16));
        let claimed: Vec<Option<Slot>> = (0..16)
            .map(|_| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    let _deciding = t.spawning();
                    let (in_class, _) = t.counts(key);
                    (in_class < 3).then(|| t.claim(key, "racing", 1)).flatten()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        let slots: Vec<Slot> = claimed.into_iter().flatten().collect();
        assert_eq!(t.counts(key).0, 3, "processes of the class after the race");
        assert_eq!(slots.len(), 3, "slots claimed by 16 racing starts, limit 3");
        for slot in slots {
            slot.free();
        }
        assert_eq!(t.counts(key).0, 0);
    }
}
