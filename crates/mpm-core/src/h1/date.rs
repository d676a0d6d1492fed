//! The `Date` response header (RFC 9110 §6.6.1), formatted at most once a
//! second per thread.
use std::cell::Cell;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use httpdate::HttpDate;

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const DATE_LEN: usize = 29;

thread_local! {
    /// The second last formatted on this thread and its text.
    static CACHE: Cell<(u64, [u8; DATE_LEN])> = const { Cell::new((u64::MAX, [0; DATE_LEN])) };
}

/// The IMF-fixdate of the current second, e.g. `Sun, 06 Nov 1994 08:49:37
/// GMT`. Cached per thread: formatted again only when the second changes,
/// so a busy thread pays one clock read per response.
pub fn now() -> [u8; DATE_LEN] {
    let secs = crate::clock::unix_secs();
    CACHE
        .try_with(|cache| {
            let (cached_secs, text) = cache.get();
            if cached_secs == secs {
                return text;
            }
            let text = format_secs(secs);
            cache.set((secs, text));
            text
        })
        // The cache is gone while the thread exits: format without it.
        .unwrap_or_else(|_| format_secs(secs))
}

/// [`format`] of the second `secs` after the Unix epoch.
pub fn format_secs(secs: u64) -> [u8; DATE_LEN] {
    format(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Formats `t` (to the second) as an IMF-fixdate.
pub fn format(t: SystemTime) -> [u8; DATE_LEN] {
    let mut out = [b' '; DATE_LEN];
    // HttpDate always renders 29 bytes for years 1970..=9999; a clock past
    // that leaves the rest as spaces rather than panicking.
    let _ = write!(&mut out[..], "{}", HttpDate::from(t));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_rfc_example_date() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(&format(t), b"Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn now_is_a_parsable_date_close_to_the_clock() {
        let text = now();
        let s = std::str::from_utf8(&text).expect("date is ASCII");
        let parsed = httpdate::parse_http_date(s).expect("date parses back");
        let diff = SystemTime::now()
            .duration_since(parsed)
            .unwrap_or(Duration::ZERO);
        assert!(diff < Duration::from_secs(5), "date {s} is {diff:?} old");
        assert!(s.ends_with(" GMT"), "date {s} does not end in GMT");
    }

    #[test]
    fn now_is_stable_within_a_second_from_the_cache() {
        // Two calls within the same second return the same text; retry in
        // case the second turns between them.
        for _ in 0..3 {
            let before = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let (a, b) = (now(), now());
            let after = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs();
            if before == after {
                assert_eq!(a, b, "two dates within one second differ");
                return;
            }
        }
    }
}
