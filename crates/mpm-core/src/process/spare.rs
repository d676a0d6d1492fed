//! The spare regulator: Apache's idle-server maintenance as a pure
//! function of what the scoreboard shows, a clock value and its own state.
//!
//! Once a second (a *tick*) the master counts the idle units (idle
//! processes for prefork, idle threads for worker and event) and asks the
//! [`Regulator`] what to do:
//!
//! - fewer idle than `min_spare`: start `ramp` children, at most as many as
//!   the free slots under `MaxRequestWorkers`/`ServerLimit` allow; while
//!   the shortage lasts the ramp doubles each tick, 1, 2, 4 … up to
//!   [`MAX_SPAWN_RATE`] (32), and it goes back to 1 once satisfied. This
//!   answers a burst quickly without forking hundreds of processes for a
//!   blip;
//! - more idle than `max_spare`: retire **one** idle child per tick (the
//!   highest-numbered candidate, as Apache does), never a busy one: a
//!   child serving a request is not a spare;
//! - a shortage with no free slot: report it (once, until the condition
//!   clears) so the caller logs "server reached MaxRequestWorkers setting,
//!   consider raising the MaxRequestWorkers setting".
//!
//! Nothing here reads a clock, the scoreboard or a process table: the
//! master passes [`Counts`] and `now`, so the rules are tested tick by tick
//! with a fake clock.

use std::time::{Duration, Instant};

/// The ramp's ceiling, Apache's `MAX_SPAWN_RATE`.
pub const MAX_SPAWN_RATE: u32 = 32;

/// How often the regulator acts.
pub const TICK: Duration = Duration::from_secs(1);

/// The limits the regulator keeps, in the caller's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpareLimits {
    /// Start children while fewer units than this are idle.
    pub min_spare: u32,
    /// Retire a child while more units than this are idle.
    pub max_spare: u32,
}

/// What the scoreboard shows at a tick.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Idle units (ready or starting) of the current generation's children
    /// that have not been told to leave.
    pub idle: u32,
    /// Children that may still be started: before the generation's own
    /// children not told to leave reach `MaxRequestWorkers`, and within
    /// the scoreboard's free slots (a slot held by a leaving child is
    /// taken, though that child is not counted against the limit).
    pub free_slots: u32,
    /// Slots of children that could be retired: every worker idle (one
    /// process for prefork, all its threads for worker), not leaving; in
    /// increasing order.
    pub retirable: Vec<usize>,
}

/// What to do at this tick.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Children to start now.
    pub spawn: u32,
    /// The number of the idle child to tell to leave.
    pub retire: Option<usize>,
    /// True the first time a shortage meets a full server: log Apache's
    /// "server reached MaxRequestWorkers setting" warning.
    pub warn_limit: bool,
}

/// The regulator's state between ticks.
#[derive(Debug, Clone)]
pub struct Regulator {
    limits: SpareLimits,
    ramp: u32,
    warned: bool,
    next_tick: Option<Instant>,
}

impl Regulator {
    /// A regulator with ramp 1 that acts at its first [`Regulator::tick`].
    pub fn new(limits: SpareLimits) -> Self {
        Regulator {
            limits,
            ramp: 1,
            warned: false,
            next_tick: None,
        }
    }

    /// Change the limits (after a restart read a new configuration); the
    /// ramp and the warning state are kept.
    pub fn set_limits(&mut self, limits: SpareLimits) {
        self.limits = limits;
    }

    /// The number of children the next shortage would start.
    pub fn ramp(&self) -> u32 {
        self.ramp
    }

    /// Make the next tick due one [`TICK`] after `now` (a run that just
    /// started its children lets them start before judging the spares).
    pub fn defer(&mut self, now: Instant) {
        self.next_tick = Some(now + TICK);
    }

    /// When the next tick is due (`None` before the first).
    pub fn next_tick(&self) -> Option<Instant> {
        self.next_tick
    }

    /// Act when a tick is due at `now` (one [`TICK`] after the previous
    /// one); `None` when it is not yet time.
    pub fn tick(&mut self, now: Instant, counts: &Counts) -> Option<Decision> {
        if self.next_tick.is_some_and(|t| now < t) {
            return None;
        }
        self.next_tick = Some(now + TICK);
        Some(self.decide(counts))
    }

    /// Apache's rules for one tick, regardless of the clock.
    pub fn decide(&mut self, counts: &Counts) -> Decision {
        let mut d = Decision::default();
        if counts.idle > self.limits.max_spare {
            d.retire = counts.retirable.last().copied();
            self.ramp = 1;
            self.warned = false;
        } else if counts.idle < self.limits.min_spare {
            if counts.free_slots == 0 {
                if !self.warned {
                    d.warn_limit = true;
                    self.warned = true;
                }
                self.ramp = 1;
            } else {
                self.warned = false;
                d.spawn = self.ramp.min(counts.free_slots);
                self.ramp = (self.ramp * 2).min(MAX_SPAWN_RATE);
            }
        } else {
            self.ramp = 1;
            self.warned = false;
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(min: u32, max: u32) -> Regulator {
        Regulator::new(SpareLimits {
            min_spare: min,
            max_spare: max,
        })
    }

    fn counts(idle: u32, free: u32, retirable: &[usize]) -> Counts {
        Counts {
            idle,
            free_slots: free,
            retirable: retirable.to_vec(),
        }
    }

    #[test]
    fn a_lasting_shortage_ramps_1_2_4_8_16_32_32() {
        let mut r = reg(1000, 2000);
        let t0 = Instant::now();
        let mut spawned = Vec::new();
        for i in 0..7 {
            let d = r
                .tick(t0 + TICK * i, &counts(0, 10_000, &[]))
                .expect("a tick is due each second");
            spawned.push(d.spawn);
        }
        assert_eq!(spawned, vec![1, 2, 4, 8, 16, 32, 32]);
    }

    #[test]
    fn the_ramp_returns_to_1_once_satisfied() {
        let mut r = reg(5, 10);
        let t0 = Instant::now();
        assert_eq!(r.tick(t0, &counts(0, 100, &[])).unwrap().spawn, 1);
        assert_eq!(r.tick(t0 + TICK, &counts(1, 100, &[])).unwrap().spawn, 2);
        assert_eq!(
            r.tick(t0 + TICK * 2, &counts(3, 100, &[])).unwrap().spawn,
            4
        );
        // Satisfied: nothing to do, and the ramp is back to 1.
        let d = r.tick(t0 + TICK * 3, &counts(7, 100, &[])).unwrap();
        assert_eq!(d, Decision::default());
        assert_eq!(r.ramp(), 1);
        assert_eq!(
            r.tick(t0 + TICK * 4, &counts(2, 100, &[])).unwrap().spawn,
            1
        );
    }

    #[test]
    fn nothing_happens_between_ticks() {
        let mut r = reg(5, 10);
        let t0 = Instant::now();
        assert!(r.tick(t0, &counts(0, 100, &[])).is_some());
        assert_eq!(
            r.tick(t0 + Duration::from_millis(999), &counts(0, 100, &[])),
            None
        );
        assert!(r.tick(t0 + TICK, &counts(0, 100, &[])).is_some());
    }

    #[test]
    fn a_deferred_regulator_waits_one_tick() {
        let mut r = reg(5, 10);
        let t0 = Instant::now();
        r.defer(t0);
        assert_eq!(r.tick(t0, &counts(0, 100, &[])), None);
        assert!(r.tick(t0 + TICK, &counts(0, 100, &[])).is_some());
    }

    #[test]
    fn one_idle_child_is_retired_per_tick() {
        let mut r = reg(1, 2);
        let t0 = Instant::now();
        // 5 idle children in slots 0, 2, 3, 6, 7: the highest goes first,
        // one per tick, until only max_spare are idle.
        let mut idle = vec![0, 2, 3, 6, 7];
        let mut retired = Vec::new();
        for i in 0..5 {
            let d = r
                .tick(t0 + TICK * i, &counts(idle.len() as u32, 0, &idle))
                .unwrap();
            assert_eq!(d.spawn, 0);
            if let Some(slot) = d.retire {
                retired.push(slot);
                idle.retain(|s| *s != slot);
            }
        }
        assert_eq!(retired, vec![7, 6, 3]);
        assert_eq!(idle, vec![0, 2]);
    }

    #[test]
    fn a_busy_child_is_never_retired() {
        let mut r = reg(0, 1);
        // Three idle units, but the only children holding them also serve
        // (not retirable): nobody is named.
        let d = r.decide(&counts(3, 0, &[]));
        assert_eq!(d.retire, None);
        // One retirable child among busy ones: that one.
        let d = r.decide(&counts(3, 0, &[4]));
        assert_eq!(d.retire, Some(4));
    }

    #[test]
    fn spawns_stop_at_the_free_slots_and_warn_once() {
        let mut r = reg(10, 20);
        let t0 = Instant::now();
        let d = r.tick(t0, &counts(0, 3, &[])).unwrap();
        assert_eq!((d.spawn, d.warn_limit), (1, false));
        let d = r.tick(t0 + TICK, &counts(1, 2, &[])).unwrap();
        assert_eq!((d.spawn, d.warn_limit), (2, false));
        // Ramp 4, but only 0 slots left: nothing started, one warning.
        let d = r.tick(t0 + TICK * 2, &counts(3, 0, &[])).unwrap();
        assert_eq!((d.spawn, d.warn_limit), (0, true));
        let d = r.tick(t0 + TICK * 3, &counts(3, 0, &[])).unwrap();
        assert_eq!((d.spawn, d.warn_limit), (0, false), "warned twice");
        let d = r.tick(t0 + TICK * 4, &counts(3, 0, &[])).unwrap();
        assert!(!d.warn_limit, "warned a third time");
        // A slot frees: a spawn again (ramp back to 1); when the limit is
        // hit again later, it is reported again.
        let d = r.tick(t0 + TICK * 5, &counts(3, 1, &[])).unwrap();
        assert_eq!((d.spawn, d.warn_limit), (1, false));
        let d = r.tick(t0 + TICK * 6, &counts(4, 0, &[])).unwrap();
        assert!(d.warn_limit);
    }

    /// wrk's 50 keep-alive connections against Debian's prefork sizing
    /// (StartServers 5, MinSpareServers 5, MaxSpareServers 10,
    /// MaxRequestWorkers 150), tick by tick: a child holding a keep-alive
    /// connection is not idle, so the children grow as Apache's prefork
    /// does (`perform_idle_server_maintenance`: 1, 2, 4, 8, 16, 32 a
    /// second), 5 → 68, and then one idle child a second is retired until
    /// 10 are idle beside the 50 busy ones. Measured the same with both
    /// servers (benches/http/count-pw.sh, MEM=1: 69 processes each, the
    /// master included).
    #[test]
    fn fifty_keep_alive_clients_grow_5_children_to_68_as_apache_then_retire_one_a_second_to_60() {
        let mut r = reg(5, 10);
        let t0 = Instant::now();
        let clients = 50;
        let mut children: u32 = 5;
        let mut seen = vec![children];
        for i in 1..=20 {
            let busy = children.min(clients);
            let idle = children - busy;
            // The idle children are the highest-numbered ones.
            let retirable: Vec<usize> = (busy as usize..children as usize).collect();
            let d = r
                .tick(t0 + TICK * i, &counts(idle, 150 - children, &retirable))
                .expect("a tick each second");
            children += d.spawn;
            if d.retire.is_some() {
                children -= 1;
            }
            seen.push(children);
        }
        assert_eq!(
            seen,
            vec![5, 6, 8, 12, 20, 36, 68, 67, 66, 65, 64, 63, 62, 61, 60, 60, 60, 60, 60, 60, 60]
        );
    }

    #[test]
    fn a_ramp_larger_than_the_free_slots_is_cut_to_them() {
        let mut r = reg(100, 200);
        for _ in 0..5 {
            r.decide(&counts(0, 1000, &[]));
        }
        assert_eq!(r.ramp(), 32);
        assert_eq!(r.decide(&counts(0, 5, &[])).spawn, 5);
    }
}
