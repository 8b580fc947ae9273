//! UTC calendar dates and times from Unix seconds, without a date-time crate: reports, labels,
//! changelogs and perf history need only these few formats.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, now.
pub fn now() -> u64 {
    seconds(SystemTime::now())
}

pub fn seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day) (Howard Hinnant's
/// `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// `2026-11-22`.
pub fn date(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `2026-11-22T21:40:00` (UTC, no zone designator: the form JUnit consumers accept).
pub fn datetime(secs: u64) -> String {
    let rem = secs % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}",
        date(secs as i64),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `2026-11-22T21:40:00Z` (RFC 3339).
pub fn rfc3339(secs: u64) -> String {
    format!("{}Z", datetime(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates_and_times() {
        assert_eq!(rfc3339(1_795_383_600), "2026-11-22T21:40:00Z");
        assert_eq!(datetime(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(-86_400), "1969-12-31");
    }
}
