//! Times as the logs and the status page print them, in UTC: a moment
//! split into calendar fields without the time zone database (which the
//! standard library does not read).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A moment split into UTC calendar fields (no time zone database needed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    /// The year (1970 or later).
    pub year: i64,
    /// 1–12.
    pub month: u32,
    /// 1–31.
    pub day: u32,
    /// 0–23.
    pub hour: u32,
    /// 0–59.
    pub minute: u32,
    /// 0–59.
    pub second: u32,
    /// 0–999999: the microseconds past `second`.
    pub micros: u32,
    /// 0 = Sunday … 6 = Saturday.
    pub weekday: u32,
}

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl UtcTime {
    /// Split `t` (times before 1970 count as 1970).
    pub fn of(t: SystemTime) -> UtcTime {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let secs = since.as_secs();
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        UtcTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
            micros: since.subsec_micros(),
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7) as u32,
        }
    }

    /// `Thu`.
    pub fn weekday_short(&self) -> &'static str {
        &WEEKDAYS[self.weekday as usize % 7][..3]
    }

    /// `Thursday`.
    pub fn weekday_long(&self) -> &'static str {
        WEEKDAYS[self.weekday as usize % 7]
    }

    /// `Nov`.
    pub fn month_short(&self) -> &'static str {
        MONTHS[(self.month as usize + 11) % 12]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_fields_of_known_moments() {
        let t = UNIX_EPOCH + Duration::new(1_795_681_288, 123_456_000);
        let u = UtcTime::of(t);
        assert_eq!(
            (u.year, u.month, u.day, u.hour, u.minute, u.second, u.micros),
            (2026, 11, 26, 8, 21, 28, 123_456)
        );
        assert_eq!((u.weekday_short(), u.month_short()), ("Thu", "Nov"));
        let leap = UtcTime::of(UNIX_EPOCH + Duration::from_secs(951_782_400)); // 2000-02-29
        assert_eq!(
            (leap.year, leap.month, leap.day, leap.weekday_long()),
            (2000, 2, 29, "Tuesday")
        );
        let epoch = UtcTime::of(UNIX_EPOCH);
        assert_eq!(
            (epoch.year, epoch.month, epoch.day, epoch.weekday_short()),
            (1970, 1, 1, "Thu")
        );
    }
}
