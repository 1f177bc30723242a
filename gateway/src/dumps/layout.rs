//! The files of a Meilisearch v6 dump that Miroir writes, as Meilisearch 1.50 writes them
//! (`crates/dump/src/writer.rs`; checked by importing into a real node, `docs/dumps.md`).
//! Pure: the job in `dumps.rs` gathers the values, this module spells them.

use miroir_schemas::meta_log::ApiKeyRecord;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

use crate::catalog::IndexInfo;

/// The Meilisearch version whose dump format this is (`metadata.json`'s `dbVersion`).
pub const DB_VERSION: &str = "1.50.0";

/// A dump's uid as Meilisearch names it from the time it is created: `20261207-062250024`.
pub fn dump_uid(at: OffsetDateTime) -> String {
    let format = format_description!("[year][month][day]-[hour][minute][second][subsecond digits:3]");
    at.to_offset(time::UtcOffset::UTC).format(&format).expect("a UTC date formats")
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).expect("dates format as RFC 3339")
}

/// `metadata.json`.
pub fn dump_metadata(dumped_at: OffsetDateTime) -> Value {
    json!({"dumpVersion": "V6", "dbVersion": DB_VERSION, "dumpDate": rfc3339(dumped_at)})
}

/// `indexes/<uid>/metadata.json`.
pub fn index_metadata(uid: &str, index: &IndexInfo) -> Value {
    json!({
        "uid": uid,
        "primaryKey": index.primary_key,
        "createdAt": rfc3339(index.created_at),
        "updatedAt": rfc3339(index.updated_at),
    })
}

/// One line of `keys.jsonl`: the key without its value (a node derives it from the uid and
/// its master key, as Miroir does), field names in Meilisearch's stored (snake case) form.
pub fn key_line(key: &ApiKeyRecord) -> Value {
    json!({
        "description": key.description,
        "name": key.name,
        "uid": key.uid,
        "actions": key.actions,
        "indexes": key.indexes,
        "expires_at": key.expires_at.map(rfc3339),
        "created_at": rfc3339(key.created_at),
        "updated_at": rfc3339(key.updated_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn dump_uids_are_named_as_meilisearch_names_them() {
        // Seen on a real node: a dump created at 06:22:50.024 UTC.
        assert_eq!(dump_uid(datetime!(2026-12-07 06:22:50.024660 UTC)), "20261207-062250024");
        assert_eq!(dump_uid(datetime!(2026-01-02 03:04:05.000001 +02:00)), "20260102-010405000");
    }

    #[test]
    fn key_lines_use_the_stored_field_names() {
        let key = ApiKeyRecord {
            uid: uuid::Uuid::nil(),
            name: Some("ci".into()),
            description: None,
            actions: vec!["search".into()],
            indexes: vec!["movies".into()],
            expires_at: None,
            created_at: datetime!(2026-12-07 06:22:46 UTC),
            updated_at: datetime!(2026-12-07 06:22:47 UTC),
        };
        assert_eq!(
            key_line(&key),
            json!({"description": null, "name": "ci", "uid": "00000000-0000-0000-0000-000000000000", "actions": ["search"],
                "indexes": ["movies"], "expires_at": null, "created_at": "2026-12-07T06:22:46Z", "updated_at": "2026-12-07T06:22:47Z"})
        );
    }
}
