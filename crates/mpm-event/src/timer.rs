//! The event loop's timeouts: a hashed timing wheel.
//!
//! Every connection the loop holds has one deadline (the keep-alive
//! timeout, the head deadline, the write `Timeout`, the end of a lingering
//! close). A deadline goes into the bucket of its tick; the loop empties the
//! buckets that time has passed. Adding a timer, and firing one, costs the
//! same whatever the number of connections, and a tick with nothing due
//! costs nothing. A deadline beyond the wheel's span waits in its last
//! bucket and is put back when that bucket fires.
//!
//! Timers are never removed: an entry carries the arm number it was made
//! with, and the owner ignores an entry whose number is no longer its own.
//! A deadline that moves later keeps its entry (it fires early, and the
//! owner arms it again for the rest), so a busy keep-alive connection adds
//! no entry per request.

use std::time::{Duration, Instant};

/// One armed timer: the owner's key and the arm number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Whose timer (the loop's connection key).
    pub key: usize,
    /// Which arming of it.
    pub id: u64,
}

/// A timing wheel of `buckets` ticks of `tick` each: one bucket of
/// entries per tick of its span.
#[derive(Debug)]
pub struct Wheel {
    origin: Instant,
    tick: Duration,
    buckets: Vec<Vec<Entry>>,
    /// The first tick not yet fired.
    cursor: u64,
    /// Entries in the wheel (stale ones included).
    len: usize,
    /// No entry sits in a tick before this one (a lower bound).
    earliest: u64,
}

impl Wheel {
    /// An empty wheel whose ticks count from `origin`.
    pub fn new(origin: Instant, tick: Duration, buckets: usize) -> Self {
        Wheel {
            origin,
            tick: tick.max(Duration::from_millis(1)),
            buckets: vec![Vec::new(); buckets.max(2)],
            cursor: 0,
            len: 0,
            earliest: u64::MAX,
        }
    }

    /// The tick `t` falls in.
    pub fn tick_of(&self, t: Instant) -> u64 {
        (t.saturating_duration_since(self.origin).as_nanos() / self.tick.as_nanos()) as u64
    }

    /// Entries held, stale ones included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Arm a timer for `deadline`; returns the tick it will fire at (at
    /// the end of that tick, so never early unless beyond the span).
    pub fn insert(&mut self, entry: Entry, deadline: Instant) -> u64 {
        let span = self.buckets.len() as u64;
        let tick = self
            .tick_of(deadline)
            .clamp(self.cursor, self.cursor + span - 1);
        self.buckets[(tick % span) as usize].push(entry);
        self.len += 1;
        self.earliest = self.earliest.min(tick);
        tick
    }

    /// Move every entry whose tick has ended by `now` into `out`.
    pub fn expire(&mut self, now: Instant, out: &mut Vec<Entry>) {
        let now_tick = self.tick_of(now);
        if now_tick <= self.cursor {
            return;
        }
        if self.len == 0 {
            self.cursor = now_tick;
            return;
        }
        let span = self.buckets.len() as u64;
        // Nothing sits before `earliest`; and past a whole turn every bucket
        // has been visited once.
        let from = self.cursor.max(self.earliest.min(now_tick));
        let to = now_tick.min(from + span);
        for t in from..to {
            let bucket = &mut self.buckets[(t % span) as usize];
            self.len -= bucket.len();
            out.append(bucket);
        }
        self.cursor = now_tick;
        if self.len == 0 {
            self.earliest = u64::MAX;
        } else if self.earliest < self.cursor {
            self.earliest = self.find_earliest();
        }
    }

    fn find_earliest(&self) -> u64 {
        let span = self.buckets.len() as u64;
        (self.cursor..self.cursor + span)
            .find(|t| !self.buckets[(t % span) as usize].is_empty())
            .unwrap_or(u64::MAX)
    }

    /// How long from `now` until the next entry is due; `None` when the
    /// wheel is empty.
    pub fn next_due(&self, now: Instant) -> Option<Duration> {
        if self.len == 0 {
            return None;
        }
        let tick = self.earliest.max(self.cursor);
        // The end of that tick, counted in nanoseconds: a `u32` count of
        // ticks would wrap after 2³² of them (500 days of 10 ms ticks)
        // and say every wait was over, a busy loop.
        let nanos = self.tick.as_nanos().saturating_mul(u128::from(tick) + 1);
        let end = self
            .origin
            .checked_add(Duration::from_nanos(
                u64::try_from(nanos).unwrap_or(u64::MAX),
            ))
            .unwrap_or(now + self.tick);
        Some(end.saturating_duration_since(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn fired(w: &mut Wheel, at: Instant) -> Vec<usize> {
        let mut out = Vec::new();
        w.expire(at, &mut out);
        out.iter().map(|e| e.key).collect()
    }

    #[test]
    fn a_timer_fires_after_its_deadline_and_not_before() {
        let t0 = Instant::now();
        let mut w = Wheel::new(t0, 10 * MS, 64);
        w.insert(Entry { key: 1, id: 1 }, t0 + 55 * MS);
        assert!(fired(&mut w, t0 + 50 * MS).is_empty());
        assert!(
            fired(&mut w, t0 + 59 * MS).is_empty(),
            "fired inside its tick"
        );
        assert_eq!(fired(&mut w, t0 + 60 * MS), vec![1]);
        assert!(w.is_empty());
        assert_eq!(w.next_due(t0), None);
    }

    #[test]
    fn timers_fire_in_tick_order_and_next_due_points_at_the_first() {
        let t0 = Instant::now();
        let mut w = Wheel::new(t0, 10 * MS, 64);
        w.insert(Entry { key: 2, id: 1 }, t0 + 200 * MS);
        w.insert(Entry { key: 1, id: 1 }, t0 + 100 * MS);
        assert_eq!(w.next_due(t0), Some(110 * MS));
        assert_eq!(fired(&mut w, t0 + 150 * MS), vec![1]);
        assert_eq!(w.next_due(t0 + 150 * MS), Some(60 * MS));
        assert_eq!(fired(&mut w, t0 + 300 * MS), vec![2]);
    }

    #[test]
    fn a_deadline_beyond_the_span_waits_in_the_last_slot() {
        let t0 = Instant::now();
        let mut w = Wheel::new(t0, 10 * MS, 8);
        let tick = w.insert(Entry { key: 7, id: 1 }, t0 + 10_000 * MS);
        assert_eq!(tick, 7, "clamped to the last bucket of the span");
        assert_eq!(fired(&mut w, t0 + 80 * MS), vec![7]);
    }

    #[test]
    fn a_deadline_already_past_fires_at_the_next_tick() {
        let t0 = Instant::now();
        let mut w = Wheel::new(t0, 10 * MS, 8);
        assert!(fired(&mut w, t0 + 35 * MS).is_empty());
        w.insert(Entry { key: 3, id: 1 }, t0);
        assert_eq!(w.next_due(t0 + 35 * MS), Some(5 * MS));
        assert_eq!(fired(&mut w, t0 + 40 * MS), vec![3]);
    }

    #[test]
    fn a_long_stall_fires_everything_due_once() {
        let t0 = Instant::now();
        let mut w = Wheel::new(t0, 10 * MS, 8);
        for k in 0..8 {
            w.insert(Entry { key: k, id: 1 }, t0 + (k as u32 * 10) * MS);
        }
        let mut got = fired(&mut w, t0 + 5000 * MS);
        got.sort();
        assert_eq!(got, (0..8).collect::<Vec<_>>());
        assert!(w.is_empty());
    }

    #[test]
    fn a_wheel_running_past_two_to_the_32_ticks_still_waits_for_its_next_tick() {
        let t0 = Instant::now();
        let mut w = Wheel::new(t0, MS, 64);
        // 2³² + 10 ticks of 1 ms after the wheel's origin (50 days).
        let late = t0 + MS * u32::MAX + 11 * MS;
        assert!(fired(&mut w, late).is_empty());
        w.insert(Entry { key: 1, id: 1 }, late + 30 * MS);
        let wait = w.next_due(late).expect("a timer is armed");
        assert!(
            wait > 20 * MS && wait <= 31 * MS,
            "the wait for a timer 30 ms away was {wait:?}"
        );
    }

    #[test]
    fn many_timers_cost_one_slot_visit_per_tick() {
        let t0 = Instant::now();
        let mut w = Wheel::new(t0, 10 * MS, 1024);
        for k in 0..10_000 {
            w.insert(Entry { key: k, id: 1 }, t0 + 5000 * MS);
        }
        assert_eq!(w.len(), 10_000);
        assert!(fired(&mut w, t0 + 4000 * MS).is_empty());
        assert_eq!(fired(&mut w, t0 + 5010 * MS).len(), 10_000);
    }
}
