//! Document TTL on the nodes (docs/ttl.md): an index with a TTL field gets each document's
//! expiry normalized into [`EXPIRY_FIELD`] (epoch milliseconds) as the gateway routes it, so
//! every replica stores the same value and one filter reads it whatever format the user wrote.
//! Reads AND [`unexpired_condition`] into their filter, so a document disappears at the moment
//! it expires; the reconciler's sweep deletes documents matching [`expired_condition`]. Pure.

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Each document's expiry on the nodes, in epoch milliseconds (a number), or `null` when its TTL
/// field holds no readable expiry. Same length as [`super::SHARD_FIELD`] so that node messages
/// printing either keep the user's positions alike.
pub const EXPIRY_FIELD: &str = "_miroir_until";

/// An expiry number below this is in seconds, from it on in milliseconds: 10^11 seconds is the
/// year 5138, 10^11 milliseconds is March 1973, so no date a user means is ambiguous.
pub const MILLISECONDS_FROM: f64 = 1e11;

/// The largest expiry kept, in milliseconds either side of the epoch (JavaScript's date range,
/// ±100,000,000 days); beyond it a value is no expiry. Also keeps every value an exact integer
/// in the nodes' `f64`.
pub const MAX_EXPIRY_MILLIS: i64 = 8_640_000_000_000_000;

/// A TTL field's value as epoch milliseconds:
/// * a number: seconds when its magnitude is below [`MILLISECONDS_FROM`], else milliseconds
///   (fractions kept to the millisecond, rounded down);
/// * a string: an RFC 3339 date-time (`2026-12-07T10:00:00Z`, any offset), or else the text of
///   a number (as CSV sends numbers), read as a number;
/// * anything else (`null`, booleans, arrays, objects, unreadable text, out of range): no expiry.
pub fn expiry_millis(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number_millis(number.as_f64()?),
        Value::String(text) => match OffsetDateTime::parse(text.trim(), &Rfc3339) {
            Ok(at) => i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok().filter(|ms| ms.abs() <= MAX_EXPIRY_MILLIS),
            Err(_) => number_millis(text.trim().parse::<f64>().ok()?),
        },
        _ => None,
    }
}

fn number_millis(number: f64) -> Option<i64> {
    if !number.is_finite() {
        return None;
    }
    let millis = if number.abs() < MILLISECONDS_FROM { number * 1000.0 } else { number };
    let millis = millis.floor();
    (millis.abs() <= MAX_EXPIRY_MILLIS as f64).then_some(millis as i64)
}

/// Adds [`EXPIRY_FIELD`] to a document of an index whose TTL field is `ttl_field`, when the
/// document has that field: its expiry, or `null` when it holds none (so a partial update that
/// clears the expiry clears Miroir's copy too). A document without the field is left alone: a
/// partial update that does not touch the expiry keeps the stored one, and a replaced document
/// without it has none.
pub fn add_expiry(document: &mut Map<String, Value>, ttl_field: &str) {
    if let Some(value) = document.get(ttl_field) {
        let expiry = expiry_millis(value).map_or(Value::Null, Value::from);
        document.insert(EXPIRY_FIELD.to_owned(), expiry);
    }
}

/// The condition a read of an index with TTL is ANDed with at `now_millis`: documents whose
/// expiry is later, or that have none. `NOT … <=` (not `>`) so that documents without the field
/// or with `null` match too (measured on Meilisearch 1.50: `NOT` is the complement).
pub fn unexpired_condition(now_millis: i64) -> String {
    format!("NOT {EXPIRY_FIELD} <= {now_millis}")
}

/// The documents a sweep deletes: expired at `until_millis`. Evaluated by the node when it
/// applies the deletion, so a document whose expiry was moved later meanwhile is kept.
pub fn expired_condition(until_millis: i64) -> String {
    format!("{EXPIRY_FIELD} <= {until_millis}")
}

/// A filter (string, array or `null`, as the client sent it) ANDed with
/// [`unexpired_condition`]: Meilisearch ANDs the elements of an array, and the condition goes
/// last so a node prints the client's part first in its errors.
pub fn with_unexpired(filter: &Value, now_millis: i64) -> Value {
    let condition = Value::String(unexpired_condition(now_millis));
    match filter {
        Value::Null => Value::Array(vec![condition]),
        Value::Array(parts) => Value::Array(parts.iter().cloned().chain([condition]).collect()),
        user => Value::Array(vec![user.clone(), condition]),
    }
}

/// Whether a document as a node stored it has expired at `now_millis`.
pub fn is_expired(document: &Map<String, Value>, now_millis: i64) -> bool {
    document.get(EXPIRY_FIELD).and_then(Value::as_i64).is_some_and(|until| until <= now_millis)
}

/// The current time in epoch milliseconds (what reads compare expiries with).
pub fn now_millis() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn the_formats_users_write() {
        let cases = [
            (json!(1_765_100_000), Some(1_765_100_000_000)),
            (json!(1_765_100_000_123_i64), Some(1_765_100_000_123)),
            (json!(1_765_100_000.5), Some(1_765_100_000_500)),
            (json!(99_999_999_999_i64), Some(99_999_999_999_000)),
            (json!(100_000_000_000_i64), Some(100_000_000_000)),
            (json!(0), Some(0)),
            (json!(-10), Some(-10_000)),
            (json!("2026-12-07T10:00:00Z"), Some(1_796_637_600_000)),
            (json!("2026-12-07T11:00:00.250+01:00"), Some(1_796_637_600_250)),
            (json!(" 1765100000 "), Some(1_765_100_000_000)),
            (json!("1765100000123"), Some(1_765_100_000_123)),
            (json!("2026-12-07"), None),
            (json!("tomorrow"), None),
            (json!(""), None),
            (json!(null), None),
            (json!(true), None),
            (json!([1]), None),
            (json!({"at": 1}), None),
            (json!(1e300), None),
            (json!("NaN"), None),
            (json!("inf"), None),
        ];
        for (value, expected) in cases {
            assert_eq!(expiry_millis(&value), expected, "{value}");
        }
    }

    #[test]
    fn documents_get_the_field_only_when_they_name_the_ttl_field() {
        let mut with = json!({"id": 1, "expiresAt": 1_765_100_000}).as_object().unwrap().clone();
        add_expiry(&mut with, "expiresAt");
        assert_eq!(with.get(EXPIRY_FIELD), Some(&json!(1_765_100_000_000_i64)));
        let mut cleared = json!({"id": 1, "expiresAt": null}).as_object().unwrap().clone();
        add_expiry(&mut cleared, "expiresAt");
        assert_eq!(cleared.get(EXPIRY_FIELD), Some(&Value::Null));
        let mut without = json!({"id": 1, "title": "x"}).as_object().unwrap().clone();
        add_expiry(&mut without, "expiresAt");
        assert!(!without.contains_key(EXPIRY_FIELD));
    }

    #[test]
    fn conditions_name_the_field_and_the_instant() {
        assert_eq!(unexpired_condition(42), "NOT _miroir_until <= 42");
        assert_eq!(expired_condition(42), "_miroir_until <= 42");
        assert_eq!(with_unexpired(&Value::Null, 5), json!(["NOT _miroir_until <= 5"]));
        assert_eq!(with_unexpired(&json!("a = 1"), 5), json!(["a = 1", "NOT _miroir_until <= 5"]));
        assert_eq!(
            with_unexpired(&json!(["a = 1", ["b = 2", "c = 3"]]), 5),
            json!(["a = 1", ["b = 2", "c = 3"], "NOT _miroir_until <= 5"])
        );
    }

    proptest! {
        /// Seconds and milliseconds name the same instant: an integer below 10^11 is seconds,
        /// and the same instant written in milliseconds (from 10^11 on) reads back equal.
        #[test]
        fn seconds_and_milliseconds_agree(seconds in 100_000_000i64..99_999_999_999) {
            let from_seconds = expiry_millis(&json!(seconds));
            prop_assert_eq!(from_seconds, Some(seconds * 1000));
            prop_assert_eq!(expiry_millis(&json!(seconds * 1000)), from_seconds);
            prop_assert_eq!(expiry_millis(&json!(seconds.to_string())), from_seconds);
        }

        /// An RFC 3339 date-time reads as the instant it names, whatever its offset.
        #[test]
        fn rfc3339_reads_as_its_instant(millis in -62_000_000_000_000i64..250_000_000_000_000, offset_minutes in -720i32..720) {
            let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).unwrap();
            let offset = time::UtcOffset::from_whole_seconds(offset_minutes * 60).unwrap();
            let text = at.to_offset(offset).format(&Rfc3339).unwrap();
            prop_assert_eq!(expiry_millis(&json!(text)), Some(millis));
        }

        /// Whatever a document holds, the expiry is a whole number of milliseconds in range or none,
        /// and a document is expired exactly when that expiry is at or before now.
        #[test]
        fn expiry_is_in_range_and_decides_expiration(number in any::<f64>(), now in -MAX_EXPIRY_MILLIS..MAX_EXPIRY_MILLIS) {
            let value = serde_json::Number::from_f64(number).map_or(Value::Null, Value::Number);
            let expiry = expiry_millis(&value);
            prop_assert!(expiry.is_none_or(|ms| ms.abs() <= MAX_EXPIRY_MILLIS));
            let mut document = Map::new();
            document.insert("at".into(), value);
            add_expiry(&mut document, "at");
            prop_assert_eq!(is_expired(&document, now), expiry.is_some_and(|ms| ms <= now));
        }

        /// The ANDed filter keeps every part of the client's filter, in order, then the condition.
        #[test]
        fn with_unexpired_keeps_the_clients_parts(parts in prop::collection::vec("[a-z]{1,5} = [0-9]{1,3}", 0..4), now in any::<i64>()) {
            let filter = match parts.len() {
                0 => Value::Null,
                1 => json!(parts[0]),
                _ => json!(parts),
            };
            let Value::Array(anded) = with_unexpired(&filter, now) else { panic!("an array") };
            prop_assert_eq!(anded.len(), parts.len() + 1);
            prop_assert_eq!(anded.last(), Some(&json!(unexpired_condition(now))));
            for (part, kept) in parts.iter().zip(&anded) {
                prop_assert_eq!(&json!(part), kept);
            }
        }
    }
}
