//! Deadlines made from configured durations, without overflow.
//!
//! `Instant + Duration` panics when the sum does not fit in an `Instant`,
//! and the durations a server waits come from its configuration: an
//! embedder's [`Timeouts`](crate::Timeouts) or `GracefulShutdownTimeout`,
//! or `mpmd`'s `Timeout 18446744073709551615`. Every deadline computed
//! from such a duration goes through [`after`], which treats a wait longer
//! than [`LONGEST_WAIT`] as that long.
//!
//! [`read`]: the deadline of reading a request head or body
//! (`RequestReadTimeout`), stretched by the data received.

use std::time::{Duration, Instant};

pub mod read;

/// The longest wait a deadline stands for: 365 days.
///
/// Why a year: no timeout a server means is longer (a client silent for a
/// year is gone; a graceful stop that waits a year waits "as long as the
/// requests last"), and it is far inside what an `Instant` holds on every
/// platform (Linux counts the monotonic clock in `i64` seconds), so
/// `now + LONGEST_WAIT` fits however long the machine has been up. `mpmd`
/// refuses configured durations beyond it, naming the file and line.
pub const LONGEST_WAIT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// `now + wait`, with `wait` capped at [`LONGEST_WAIT`]; never panics.
///
/// ```
/// use std::time::{Duration, Instant};
/// use mpm_core::deadline::{after, LONGEST_WAIT};
///
/// let now = Instant::now();
/// assert_eq!(after(now, Duration::from_secs(5)), now + Duration::from_secs(5));
/// assert_eq!(after(now, Duration::MAX), now + LONGEST_WAIT);
/// ```
pub fn after(now: Instant, wait: Duration) -> Instant {
    let mut wait = wait.min(LONGEST_WAIT);
    loop {
        if let Some(deadline) = now.checked_add(wait) {
            return deadline;
        }
        // Only where an `Instant` is narrower than a year from `now`:
        // halve until it fits (a zero wait always does).
        wait /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_within_a_year_is_added_as_it_is() {
        let now = Instant::now();
        assert_eq!(after(now, Duration::ZERO), now);
        assert_eq!(
            after(now, Duration::from_millis(1500)),
            now + Duration::from_millis(1500)
        );
        assert_eq!(after(now, LONGEST_WAIT), now + LONGEST_WAIT);
    }

    #[test]
    fn a_huge_wait_is_capped_at_a_year_instead_of_overflowing() {
        let now = Instant::now();
        assert!(
            now.checked_add(Duration::MAX).is_none(),
            "the sum this guards against must overflow"
        );
        for huge in [
            Duration::MAX,
            Duration::from_secs(u64::MAX),
            LONGEST_WAIT + Duration::from_nanos(1),
        ] {
            assert_eq!(after(now, huge), now + LONGEST_WAIT, "{huge:?}");
        }
    }
}
