//! The store's one timestamp format: UTC, RFC 3339, microseconds, `Z` suffix. Fixed width,
//! so comparing the text compares the instants, on SQLite and Postgres alike.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// Formats an instant for storage.
pub fn format(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Now, formatted for storage.
pub fn now() -> String {
    format(Utc::now())
}

/// Parses a stored timestamp (or any RFC 3339 timestamp) into UTC.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Formats a calendar date for storage (`YYYY-MM-DD`).
pub fn format_date(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// Parses a `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_timestamps_sort_as_text_in_time_order() {
        let early = format(parse("2026-01-02T03:04:05Z").unwrap());
        let late = format(parse("2026-01-02T03:04:05.5+00:00").unwrap());
        assert_eq!(early, "2026-01-02T03:04:05.000000Z");
        assert!(early < late);
        assert_eq!(early.len(), late.len());
    }
}
