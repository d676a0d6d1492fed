//! The wall clock as a count since the Unix epoch, read with one
//! `clock_gettime(CLOCK_REALTIME)`: what the scoreboard's times and the
//! `Date` cache need per request, without `SystemTime::duration_since`'s
//! checked subtraction (about 50 instructions a read, several reads a
//! request).

use nix::time::{clock_gettime, ClockId};

/// Microseconds since the Unix epoch; 0 for a clock before it (or, never
/// on Linux, a failed read).
pub(crate) fn unix_micros() -> u64 {
    match clock_gettime(ClockId::CLOCK_REALTIME) {
        Ok(t) => match u64::try_from(t.tv_sec()) {
            Ok(secs) => secs * 1_000_000 + (t.tv_nsec() as u64) / 1_000,
            Err(_) => 0,
        },
        Err(_) => 0,
    }
}

/// Whole seconds since the Unix epoch ([`unix_micros`]'s).
pub(crate) fn unix_secs() -> u64 {
    unix_micros() / 1_000_000
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use super::*;

    #[test]
    fn unix_micros_reads_the_clock_system_time_reads() {
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let us = unix_micros();
        let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        assert!(
            before.as_micros() as u64 <= us && us <= after.as_micros() as u64,
            "unix_micros said {us}, between {before:?} and {after:?}"
        );
    }
}
