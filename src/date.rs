//! Calendar dates and UTC timestamps, for expiry dates of known failures and report times.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use std::fmt;
use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date(NaiveDate);

/// A text that is no `YYYY-MM-DD` date.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
#[error("`{0}` is not a date: write it as YYYY-MM-DD")]
pub struct NotADate(String);

impl Date {
    /// Parses `YYYY-MM-DD`, rejecting dates that do not exist (`2025-02-30`).
    pub fn parse(text: &str) -> Result<Self, NotADate> {
        // chrono also reads `2025-1-1` and `+12025-01-01`: the shape is checked first.
        let shaped = text.len() == 10
            && text.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                _ => b.is_ascii_digit(),
            });
        shaped
            .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
            .flatten()
            .map(Self)
            .ok_or_else(|| NotADate(text.to_owned()))
    }

    /// Today in UTC.
    pub fn today() -> Self {
        Self(DateTime::<Utc>::from(SystemTime::now()).date_naive())
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// `2025-03-01T12:34:56Z`.
pub fn rfc3339(time: SystemTime) -> String {
    DateTime::<Utc>::from(time).to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn parses_real_dates_only() {
        assert_eq!(Date::parse("2024-02-29").unwrap().to_string(), "2024-02-29");
        for bad in [
            "2023-02-29",
            "2025-13-01",
            "2025-1-01",
            "25-01-01",
            "2025-01-0x",
            "+2025-01-1",
            "",
        ] {
            assert!(
                Date::parse(bad)
                    .unwrap_err()
                    .to_string()
                    .contains("YYYY-MM-DD"),
                "{bad}"
            );
        }
        assert!(Date::parse("2025-01-31") > Date::parse("2025-01-30"));
        assert!(Date::parse("2025-02-01") > Date::parse("2025-01-31"));
    }

    #[test]
    fn formats_utc_timestamps() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap_day = UNIX_EPOCH + Duration::from_millis((951_782_400 + 3_723) * 1000 + 999);
        assert_eq!(rfc3339(leap_day), "2000-02-29T01:02:03Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(20_454 * 86_400)),
            "2026-01-01T00:00:00Z",
            "days since the epoch"
        );
    }
}
