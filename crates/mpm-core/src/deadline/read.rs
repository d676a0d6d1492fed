//! `RequestReadTimeout` as mod_reqtimeout has it: a deadline for one stage
//! of reading a request (the head, or the body), stretched by the data
//! received up to a cap, so a slow but honest client gets through and a
//! slowloris client that trickles bytes is cut off.
//!
//! Pure: the caller passes the clock in, so blocking and event-driven
//! drivers share it and tests drive it without waiting.

use std::time::{Duration, Instant};

use crate::config::ReadStage;

/// The deadline of one read stage.
#[derive(Debug, Clone, Copy)]
pub struct ReadDeadline {
    start: Instant,
    stage: ReadStage,
    received: u64,
}

impl ReadDeadline {
    /// A stage starting at `now`.
    pub fn new(stage: ReadStage, now: Instant) -> Self {
        ReadDeadline {
            start: now,
            stage,
            received: 0,
        }
    }

    /// Note `n` more bytes received, which may push the deadline out.
    pub fn on_data(&mut self, n: usize) {
        self.received = self.received.saturating_add(n as u64);
    }

    /// When the stage must be done; `None` when the stage is disabled
    /// (`header=0`), in which case only the plain `Timeout` applies.
    pub fn deadline(&self) -> Option<Instant> {
        if self.stage.initial.is_zero() {
            return None;
        }
        let mut allowed = self.stage.initial;
        if self.stage.min_rate > 0 {
            let extra = Duration::from_secs(self.received / u64::from(self.stage.min_rate));
            allowed = allowed.saturating_add(extra);
        }
        if let Some(max) = self.stage.max {
            allowed = allowed.min(max.max(self.stage.initial));
        }
        Some(super::after(self.start, allowed))
    }

    /// How long a read may wait from `now`: the time to the deadline, but
    /// never more than `timeout` (the `Timeout` directive). Zero once the
    /// deadline has passed.
    pub fn wait_from(&self, now: Instant, timeout: Duration) -> Duration {
        match self.deadline() {
            Some(d) => d.saturating_duration_since(now).min(timeout),
            None => timeout,
        }
    }

    /// True once the deadline has passed.
    pub fn expired(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|d| now >= d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(initial: u64, max: Option<u64>, rate: u32) -> ReadStage {
        ReadStage {
            initial: Duration::from_secs(initial),
            max: max.map(Duration::from_secs),
            min_rate: rate,
        }
    }

    #[test]
    fn header_deadline_stretches_one_second_per_min_rate_bytes_up_to_the_cap() {
        let t0 = Instant::now();
        let mut d = ReadDeadline::new(stage(20, Some(40), 500), t0);
        assert_eq!(d.deadline(), Some(t0 + Duration::from_secs(20)));
        d.on_data(499);
        assert_eq!(d.deadline(), Some(t0 + Duration::from_secs(20)));
        d.on_data(1);
        assert_eq!(d.deadline(), Some(t0 + Duration::from_secs(21)));
        d.on_data(1_000_000);
        assert_eq!(d.deadline(), Some(t0 + Duration::from_secs(40)));
    }

    #[test]
    fn body_deadline_without_cap_keeps_stretching() {
        let t0 = Instant::now();
        let mut d = ReadDeadline::new(stage(20, None, 500), t0);
        d.on_data(500 * 100);
        assert_eq!(d.deadline(), Some(t0 + Duration::from_secs(120)));
    }

    #[test]
    fn disabled_stage_has_no_deadline_and_waits_the_plain_timeout() {
        let t0 = Instant::now();
        let d = ReadDeadline::new(stage(0, None, 0), t0);
        assert_eq!(d.deadline(), None);
        assert!(!d.expired(t0 + Duration::from_secs(3600)));
        assert_eq!(
            d.wait_from(t0, Duration::from_secs(60)),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn a_stage_of_duration_max_ends_a_year_away_instead_of_overflowing() {
        let t0 = Instant::now();
        let mut d = ReadDeadline::new(
            ReadStage {
                initial: Duration::MAX,
                max: None,
                min_rate: 1,
            },
            t0,
        );
        d.on_data(usize::MAX);
        assert_eq!(d.deadline(), Some(t0 + super::super::LONGEST_WAIT));
        assert!(!d.expired(t0 + Duration::from_secs(3600)));
    }

    #[test]
    fn wait_is_bounded_by_timeout_and_zero_after_expiry() {
        let t0 = Instant::now();
        let d = ReadDeadline::new(stage(20, Some(40), 500), t0);
        assert_eq!(
            d.wait_from(t0, Duration::from_secs(5)),
            Duration::from_secs(5)
        );
        assert_eq!(
            d.wait_from(t0 + Duration::from_secs(18), Duration::from_secs(60)),
            Duration::from_secs(2)
        );
        assert!(d.expired(t0 + Duration::from_secs(20)));
        assert_eq!(
            d.wait_from(t0 + Duration::from_secs(25), Duration::from_secs(60)),
            Duration::ZERO
        );
    }
}
