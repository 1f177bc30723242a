//! Change-data-capture events the reconciler publishes on the `cdc` topic, one per applied
//! change, in log order per index × shard. Their JSON Schema is generated from these types into
//! `schemas/json/` (regenerate with `cargo run -p miroir-schemas --bin gen-json-schemas`), so
//! the data team can validate what they consume.

use crate::details::IndexSwap;
use crate::envelope::{DocumentMethod, Op};
use crate::topology::ShardId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// Version of the CDC event format; bumped on any change a consumer could notice.
pub const CDC_SCHEMA_VERSION: u32 = 1;

/// Where in Miroir's `ops` log the change was read, so a consumer can order and deduplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogPosition {
    /// The `ops` partition.
    pub partition: u32,
    /// The record's offset (Kafka) or stream sequence (JetStream) in that partition.
    pub offset: u64,
}

/// One change to one index (or, for a swap, to several).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CdcEvent {
    pub schema_version: u32,
    /// The Miroir task the change belongs to (`GET /tasks/{taskUid}`).
    pub task_uid: u64,
    /// The user's index; absent only for `indexesSwapped`, which names its indexes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_uid: Option<String>,
    /// The shard the change applies to; absent for index-wide changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardId>,
    pub position: LogPosition,
    /// When the change was applied on the nodes, RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", regex(pattern = r"^\d{4}-\d{2}-\d{2}T"))]
    pub applied_at: OffsetDateTime,
    pub change: CdcChange,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum CdcChange {
    /// Documents written. With `update`, each document holds only the fields that changed.
    DocumentsUpserted {
        method: DocumentMethod,
        primary_key: String,
        documents: Vec<Map<String, Value>>,
    },
    /// Documents deleted by id.
    DocumentsDeleted {
        ids: Vec<String>,
    },
    /// Documents matching a filter deleted (the filter as the user sent it).
    DocumentsDeletedByFilter {
        filter: Value,
    },
    /// Every document of the index deleted.
    DocumentsCleared,
    /// Settings changed: the settings sent (a `null` field was reset), or every setting reset.
    SettingsChanged {
        settings: Map<String, Value>,
        #[serde(default)]
        reset_all: bool,
    },
    IndexCreated {
        primary_key: Option<String>,
    },
    IndexUpdated {
        primary_key: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        new_index_uid: Option<String>,
    },
    IndexDeleted,
    IndexesSwapped {
        swaps: Vec<IndexSwap>,
    },
}

impl CdcChange {
    /// The change a consumer sees once an `ops` operation is applied. Kept as its own type,
    /// not `Op` itself, because this one is a published contract with its own version.
    pub fn from_op(op: &Op) -> CdcChange {
        match op.clone() {
            Op::Documents { method, primary_key, documents } => CdcChange::DocumentsUpserted { method, primary_key, documents },
            Op::DeleteDocuments { ids } => CdcChange::DocumentsDeleted { ids },
            Op::DeleteByFilter { filter } => CdcChange::DocumentsDeletedByFilter { filter },
            Op::ClearDocuments => CdcChange::DocumentsCleared,
            Op::UpdateSettings { settings } => CdcChange::SettingsChanged { settings, reset_all: false },
            Op::ResetSettings => CdcChange::SettingsChanged { settings: Map::new(), reset_all: true },
            Op::CreateIndex { primary_key } => CdcChange::IndexCreated { primary_key },
            Op::UpdateIndex { primary_key, new_index_uid } => CdcChange::IndexUpdated { primary_key, new_index_uid },
            Op::DeleteIndex => CdcChange::IndexDeleted,
            Op::SwapIndexes { swaps } => CdcChange::IndexesSwapped { swaps },
        }
    }
}

/// The JSON Schema files this crate publishes, as `(file name, pretty JSON + newline)`.
pub fn json_schema_files() -> Vec<(&'static str, String)> {
    let schema = schemars::schema_for!(CdcEvent);
    let text = serde_json::to_string_pretty(&schema).expect("a JSON Schema serializes") + "\n";
    vec![("cdc-event.schema.json", text)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const REGENERATE: &str = "cargo run -p miroir-schemas --bin gen-json-schemas";

    #[test]
    fn committed_json_schemas_match_the_types() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("json");
        for (name, generated) in json_schema_files() {
            let path = dir.join(name);
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == generated,
                "{} is missing or differs from what the CDC types generate; regenerate it with `{REGENERATE}` and commit it",
                path.display()
            );
        }
    }

    #[test]
    fn event_wire_shape() {
        let event = CdcEvent {
            schema_version: CDC_SCHEMA_VERSION,
            task_uid: 12,
            index_uid: Some("movies".into()),
            shard: Some(ShardId(1)),
            position: LogPosition { partition: 3, offset: 99 },
            applied_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            change: CdcChange::DocumentsDeleted { ids: vec!["a".into(), "42".into()] },
        };
        let wire = serde_json::to_value(&event).unwrap();
        assert_eq!(
            wire,
            json!({
                "schemaVersion": 1, "taskUid": 12, "indexUid": "movies", "shard": 1,
                "position": {"partition": 3, "offset": 99}, "appliedAt": "2023-11-14T22:13:20Z",
                "change": {"type": "documentsDeleted", "ids": ["a", "42"]}
            })
        );
        assert_eq!(serde_json::from_value::<CdcEvent>(wire).unwrap(), event);
    }

    #[test]
    fn ops_map_to_changes_of_the_same_kind() {
        let docs = vec![json!({"id": 1}).as_object().unwrap().clone()];
        let op = Op::Documents { method: DocumentMethod::Update, primary_key: "id".into(), documents: docs.clone() };
        assert_eq!(
            CdcChange::from_op(&op),
            CdcChange::DocumentsUpserted { method: DocumentMethod::Update, primary_key: "id".into(), documents: docs }
        );
        assert_eq!(CdcChange::from_op(&Op::ResetSettings), CdcChange::SettingsChanged { settings: Map::new(), reset_all: true });
        assert_eq!(CdcChange::from_op(&Op::DeleteIndex), CdcChange::IndexDeleted);
    }

    #[test]
    fn schema_names_every_change_type() {
        let (_, text) = &json_schema_files()[0];
        for kind in [
            "documentsUpserted",
            "documentsDeleted",
            "documentsDeletedByFilter",
            "documentsCleared",
            "settingsChanged",
            "indexCreated",
            "indexUpdated",
            "indexDeleted",
            "indexesSwapped",
        ] {
            assert!(text.contains(&format!("\"{kind}\"")), "{kind} missing from the schema");
        }
    }
}
