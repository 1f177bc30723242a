//! Timestamps and durations in Meilisearch's wire formats.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// RFC 3339 with nanoseconds, as Meilisearch prints `enqueuedAt` and friends.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("UTC timestamps always format")
}

/// ISO 8601 duration (`PT0.003892100S`), as Meilisearch prints a task's `duration`.
pub fn iso_duration(d: time::Duration) -> String {
    let total = d.whole_nanoseconds().max(0) as u128;
    let secs = total / 1_000_000_000;
    let nanos = total % 1_000_000_000;
    if secs >= 60 {
        let minutes = secs / 60;
        format!("PT{minutes}M{}.{nanos:09}S", secs % 60)
    } else {
        format!("PT{secs}.{nanos:09}S")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_meilisearch() {
        assert_eq!(iso_duration(time::Duration::nanoseconds(3_892_100)), "PT0.003892100S");
        assert_eq!(iso_duration(time::Duration::seconds(61)), "PT1M1.000000000S");
    }
}
