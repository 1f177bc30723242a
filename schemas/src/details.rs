//! A task's `details`, typed per task kind, and their rendering as Meilisearch shows them.
//!
//! A count that is `None` is "not known yet": Meilisearch prints it as `null` while the task is
//! enqueued or processing, and fills it in when the task finishes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub mod byte_size;

/// One pair of an `indexSwap` task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IndexSwap {
    pub indexes: [String; 2],
    #[serde(default)]
    pub rename: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum TaskDetails {
    DocumentAdditionOrUpdate {
        received_documents: u64,
        indexed_documents: Option<u64>,
    },
    DocumentDeletion {
        provided_ids: u64,
        deleted_documents: Option<u64>,
    },
    DocumentDeletionByFilter {
        original_filter: String,
        deleted_documents: Option<u64>,
    },
    /// `POST /indexes/{uid}/documents/edit`. A node reports both counts as the number of
    /// documents the filter matched (edited, deleted and untouched alike), once it succeeded;
    /// a failed edition shows `editedDocuments: 0` and `deletedDocuments: null`.
    DocumentEdition {
        edited_documents: Option<u64>,
        deleted_documents: Option<u64>,
        /// The filter as sent, in JSON (`"\"n > 1\""`), or `None` without one.
        original_filter: Option<String>,
        context: Option<Map<String, Value>>,
        function: String,
    },
    /// Clearing documents and deleting an index both report this shape.
    ClearAll {
        deleted_documents: Option<u64>,
    },
    /// The settings as sent (already validated, secrets already hidden).
    SettingsUpdate {
        settings: Map<String, Value>,
    },
    IndexInfo {
        primary_key: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        old_index_uid: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        new_index_uid: Option<String>,
    },
    IndexSwap {
        swaps: Vec<IndexSwap>,
    },
    TaskCancelation {
        matched_tasks: u64,
        canceled_tasks: Option<u64>,
        original_filter: String,
    },
    TaskDeletion {
        matched_tasks: u64,
        deleted_tasks: Option<u64>,
        original_filter: String,
    },
    /// `POST /indexes/{uid}/compact`: the index's size before and after, in bytes, summed over
    /// the node indexes of one replica rank (one copy of the index, as one node holding it
    /// whole would report; see `DetailCounts::pre_compaction_bytes`). Unknown (and not shown)
    /// until the task succeeds, as on a node.
    IndexCompaction {
        pre_compaction_size: Option<u64>,
        post_compaction_size: Option<u64>,
    },
    /// `POST /dumps`: the dump's uid (its file is `<uid>.dump`), chosen when the task is
    /// registered and shown, as on a node, only once the task has finished.
    DumpCreation {
        planned_dump_uid: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dump_uid: Option<String>,
    },
    /// `POST /export`, as sent: the remote's URL, its API key already hidden (the key itself
    /// never reaches the log), the payload size in bytes, and per index pattern (in pattern
    /// order) its filter and `overrideSettings`.
    Export {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hidden_api_key: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payload_size: Option<u64>,
        indexes: Vec<ExportedIndexes>,
    },
}

/// One index pattern of an `export` task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedIndexes {
    pub pattern: String,
    pub filter: Option<Value>,
    pub override_settings: bool,
}

/// Per-replica counts an indexer reads from a finished node task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetailCounts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indexed_documents: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_documents: Option<u64>,
    /// A document edition's `editedDocuments` (what the node reports, booked on the first
    /// shard of the node request like [`DetailCounts::pre_compaction_bytes`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_documents: Option<u64>,
    /// A compaction's node index size before and after, in bytes, booked on the first shard
    /// of the node request (a node index holding several shards is compacted once), so the
    /// gateway's per-shard sum over one rank counts every node index of that rank once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_compaction_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_compaction_bytes: Option<u64>,
}

impl DetailCounts {
    /// Nothing counted.
    pub const NONE: DetailCounts = DetailCounts {
        indexed_documents: None,
        deleted_documents: None,
        edited_documents: None,
        pre_compaction_bytes: None,
        post_compaction_bytes: None,
    };
}

/// Adds another shard's counts; a count known on either side stays known.
impl std::ops::Add for DetailCounts {
    type Output = DetailCounts;
    fn add(self, other: DetailCounts) -> DetailCounts {
        let sum = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        DetailCounts {
            indexed_documents: sum(self.indexed_documents, other.indexed_documents),
            deleted_documents: sum(self.deleted_documents, other.deleted_documents),
            edited_documents: sum(self.edited_documents, other.edited_documents),
            pre_compaction_bytes: sum(self.pre_compaction_bytes, other.pre_compaction_bytes),
            post_compaction_bytes: sum(self.post_compaction_bytes, other.post_compaction_bytes),
        }
    }
}

impl TaskDetails {
    /// The details of the finished task: counts that were unknown become what the nodes
    /// reported (`counts`, already summed over shards), or 0 as Meilisearch reports for a
    /// task that did nothing or failed.
    pub fn finished(&self, counts: DetailCounts) -> TaskDetails {
        let or_zero = |reported: Option<u64>| Some(reported.unwrap_or(0));
        let mut done = self.clone();
        match &mut done {
            TaskDetails::DocumentAdditionOrUpdate { indexed_documents, .. } => *indexed_documents = or_zero(counts.indexed_documents),
            TaskDetails::DocumentDeletion { deleted_documents, .. }
            | TaskDetails::DocumentDeletionByFilter { deleted_documents, .. }
            | TaskDetails::ClearAll { deleted_documents } => *deleted_documents = or_zero(counts.deleted_documents),
            // A failed edition reports no counts: `editedDocuments: 0`, `deletedDocuments: null`.
            TaskDetails::DocumentEdition { edited_documents, deleted_documents, .. } => {
                *edited_documents = or_zero(counts.edited_documents);
                *deleted_documents = counts.deleted_documents;
            }
            TaskDetails::TaskCancelation { canceled_tasks, .. } => *canceled_tasks = Some(canceled_tasks.unwrap_or(0)),
            TaskDetails::TaskDeletion { deleted_tasks, .. } => *deleted_tasks = Some(deleted_tasks.unwrap_or(0)),
            // A failed compaction shows no sizes, as on a node.
            TaskDetails::IndexCompaction { pre_compaction_size, post_compaction_size } => {
                *pre_compaction_size = counts.pre_compaction_bytes;
                *post_compaction_size = counts.post_compaction_bytes;
            }
            // A node's finished export lists the matched indexes with their document counts;
            // a cluster's shows the patterns as sent (docs/export.md).
            TaskDetails::SettingsUpdate { .. }
            | TaskDetails::IndexInfo { .. }
            | TaskDetails::IndexSwap { .. }
            | TaskDetails::Export { .. } => {}
            TaskDetails::DumpCreation { planned_dump_uid, dump_uid } => *dump_uid = Some(planned_dump_uid.clone()),
        }
        done
    }

    /// The `details` object exactly as Meilisearch prints it (same keys, same order).
    pub fn to_view(&self) -> Map<String, Value> {
        let mut view = Map::new();
        let mut put = |key: &str, value: Value| {
            view.insert(key.to_owned(), value);
        };
        match self {
            TaskDetails::DocumentAdditionOrUpdate { received_documents, indexed_documents } => {
                put("receivedDocuments", (*received_documents).into());
                put("indexedDocuments", (*indexed_documents).into());
            }
            TaskDetails::DocumentDeletion { provided_ids, deleted_documents } => {
                put("providedIds", (*provided_ids).into());
                put("deletedDocuments", (*deleted_documents).into());
                put("originalFilter", Value::Null);
            }
            TaskDetails::DocumentDeletionByFilter { original_filter, deleted_documents } => {
                put("providedIds", 0.into());
                put("deletedDocuments", (*deleted_documents).into());
                put("originalFilter", original_filter.clone().into());
            }
            TaskDetails::ClearAll { deleted_documents } => put("deletedDocuments", (*deleted_documents).into()),
            TaskDetails::DocumentEdition { edited_documents, deleted_documents, original_filter, context, function } => {
                put("editedDocuments", (*edited_documents).into());
                put("deletedDocuments", (*deleted_documents).into());
                put("originalFilter", original_filter.clone().into());
                put("context", context.clone().map_or(Value::Null, Value::Object));
                put("function", function.clone().into());
            }
            TaskDetails::SettingsUpdate { settings } => {
                for (key, value) in settings {
                    put(key, value.clone());
                }
            }
            TaskDetails::IndexInfo { primary_key, old_index_uid, new_index_uid } => {
                put("primaryKey", primary_key.clone().into());
                if let Some(old) = old_index_uid {
                    put("oldIndexUid", old.clone().into());
                }
                if let Some(new) = new_index_uid {
                    put("newIndexUid", new.clone().into());
                }
            }
            TaskDetails::IndexSwap { swaps } => {
                put("swaps", serde_json::to_value(swaps).expect("swaps serialize"));
            }
            TaskDetails::TaskCancelation { matched_tasks, canceled_tasks, original_filter } => {
                put("matchedTasks", (*matched_tasks).into());
                put("canceledTasks", (*canceled_tasks).into());
                put("originalFilter", original_filter.clone().into());
            }
            TaskDetails::TaskDeletion { matched_tasks, deleted_tasks, original_filter } => {
                put("matchedTasks", (*matched_tasks).into());
                put("deletedTasks", (*deleted_tasks).into());
                put("originalFilter", original_filter.clone().into());
            }
            TaskDetails::IndexCompaction { pre_compaction_size, post_compaction_size } => {
                if let Some(bytes) = pre_compaction_size {
                    put("preCompactionSize", byte_size::to_text(*bytes).into());
                }
                if let Some(bytes) = post_compaction_size {
                    put("postCompactionSize", byte_size::to_text(*bytes).into());
                }
            }
            TaskDetails::DumpCreation { dump_uid, .. } => put("dumpUid", dump_uid.clone().into()),
            TaskDetails::Export { url, hidden_api_key, payload_size, indexes } => {
                put("url", url.clone().into());
                if let Some(key) = hidden_api_key {
                    put("apiKey", key.clone().into());
                }
                if let Some(bytes) = payload_size {
                    put("payloadSize", byte_size::to_text(*bytes).into());
                }
                let patterns: Map<String, Value> = indexes
                    .iter()
                    .map(|index| {
                        let mut settings = Map::new();
                        settings.insert("filter".into(), index.filter.clone().unwrap_or(Value::Null));
                        settings.insert("overrideSettings".into(), index.override_settings.into());
                        (index.pattern.clone(), Value::Object(settings))
                    })
                    .collect();
                put("indexes", Value::Object(patterns));
            }
        }
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Shapes watched on Meilisearch 1.50: while enqueued, once succeeded (both counts are the
    /// documents the filter matched, here summed over the shards of one rank), once failed.
    #[test]
    fn an_edition_shows_what_one_node_shows() {
        let enqueued = TaskDetails::DocumentEdition {
            edited_documents: None,
            deleted_documents: None,
            original_filter: Some("\"n >= 2\"".into()),
            context: json!({"min": 2}).as_object().cloned(),
            function: "doc.big = true".into(),
        };
        let view = |details: &TaskDetails| Value::Object(details.to_view());
        assert_eq!(
            view(&enqueued),
            json!({"editedDocuments": null, "deletedDocuments": null, "originalFilter": "\"n >= 2\"", "context": {"min": 2}, "function": "doc.big = true"})
        );
        let shard = |matched| DetailCounts { edited_documents: Some(matched), deleted_documents: Some(matched), ..DetailCounts::NONE };
        let succeeded = enqueued.finished(shard(2) + shard(0) + shard(1));
        assert_eq!(
            view(&succeeded),
            json!({"editedDocuments": 3, "deletedDocuments": 3, "originalFilter": "\"n >= 2\"", "context": {"min": 2}, "function": "doc.big = true"})
        );
        let failed = enqueued.finished(DetailCounts::default());
        assert_eq!(view(&failed)["editedDocuments"], json!(0));
        assert_eq!(view(&failed)["deletedDocuments"], Value::Null);
    }

    #[test]
    fn enqueued_and_finished_views_match_meilisearch() {
        let added = TaskDetails::DocumentAdditionOrUpdate { received_documents: 150, indexed_documents: None };
        assert_eq!(Value::Object(added.to_view()), json!({"receivedDocuments": 150, "indexedDocuments": null}));
        let done = added.finished(DetailCounts { indexed_documents: Some(150), deleted_documents: None, ..DetailCounts::NONE });
        assert_eq!(Value::Object(done.to_view()), json!({"receivedDocuments": 150, "indexedDocuments": 150}));

        let deleted = TaskDetails::DocumentDeletion { provided_ids: 1, deleted_documents: None }.finished(DetailCounts {
            indexed_documents: None,
            deleted_documents: Some(1),
            ..DetailCounts::NONE
        });
        let keys: Vec<String> = deleted.to_view().keys().cloned().collect();
        assert_eq!(keys, ["providedIds", "deletedDocuments", "originalFilter"]);
        assert_eq!(Value::Object(deleted.to_view()), json!({"providedIds": 1, "deletedDocuments": 1, "originalFilter": null}));

        let by_filter = TaskDetails::DocumentDeletionByFilter { original_filter: "\"version = '1'\"".into(), deleted_documents: None };
        assert_eq!(
            Value::Object(by_filter.finished(DetailCounts::default()).to_view()),
            json!({"providedIds": 0, "deletedDocuments": 0, "originalFilter": "\"version = '1'\""})
        );

        let swap = TaskDetails::IndexSwap { swaps: vec![IndexSwap { indexes: ["numeric".into(), "inferred".into()], rename: false }] };
        assert_eq!(Value::Object(swap.to_view()), json!({"swaps": [{"indexes": ["numeric", "inferred"], "rename": false}]}));
        let info = TaskDetails::IndexInfo { primary_key: None, old_index_uid: None, new_index_uid: None };
        assert_eq!(Value::Object(info.to_view()), json!({"primaryKey": null}));
    }

    #[test]
    fn a_compaction_shows_its_sizes_once_succeeded_as_a_node_writes_them() {
        let enqueued = TaskDetails::IndexCompaction { pre_compaction_size: None, post_compaction_size: None };
        assert_eq!(Value::Object(enqueued.to_view()), json!({}));
        // A failed compaction (a node reports no sizes) shows `{}` too, as on a node.
        assert_eq!(Value::Object(enqueued.finished(DetailCounts::NONE).to_view()), json!({}));
        let node_index =
            |pre, post| DetailCounts { pre_compaction_bytes: Some(pre), post_compaction_bytes: Some(post), ..DetailCounts::NONE };
        let summed = node_index(69_632, 45_056) + node_index(45_056, 45_056);
        let keys: Vec<String> = enqueued.finished(summed).to_view().keys().cloned().collect();
        assert_eq!(keys, ["preCompactionSize", "postCompactionSize"]);
        assert_eq!(
            Value::Object(enqueued.finished(summed).to_view()),
            json!({"preCompactionSize": "112 KiB", "postCompactionSize": "88 KiB"})
        );
    }

    #[test]
    fn an_export_shows_its_request_as_a_node_does() {
        let export = TaskDetails::Export {
            url: "http://127.0.0.1:17709".into(),
            hidden_api_key: Some("XXX...".into()),
            payload_size: Some(1500),
            indexes: vec![
                ExportedIndexes { pattern: "books".into(), filter: None, override_settings: true },
                ExportedIndexes { pattern: "mov*".into(), filter: Some(json!("g = x")), override_settings: false },
            ],
        };
        // Seen on a node: `"payloadSize": "1.5 KB"` is shown as `1.46484375 KiB`.
        let view = Value::Object(export.to_view());
        assert_eq!(
            view.to_string(),
            json!({"url": "http://127.0.0.1:17709", "apiKey": "XXX...", "payloadSize": "1.46484375 KiB",
                "indexes": {"books": {"filter": null, "overrideSettings": true}, "mov*": {"filter": "g = x", "overrideSettings": false}}})
            .to_string()
        );
        let bare = TaskDetails::Export { url: String::new(), hidden_api_key: None, payload_size: None, indexes: vec![] };
        assert_eq!(Value::Object(bare.to_view()), json!({"url": "", "indexes": {}}));
    }

    #[test]
    fn counts_add_up_and_stay_unknown_only_when_unknown_everywhere() {
        let a = DetailCounts { indexed_documents: Some(2), deleted_documents: None, ..DetailCounts::NONE };
        let b = DetailCounts { indexed_documents: Some(3), deleted_documents: None, ..DetailCounts::NONE };
        assert_eq!(a + b, DetailCounts { indexed_documents: Some(5), deleted_documents: None, ..DetailCounts::NONE });
        let c = DetailCounts { indexed_documents: None, deleted_documents: Some(1), ..DetailCounts::NONE };
        assert_eq!(a + c, DetailCounts { indexed_documents: Some(2), deleted_documents: Some(1), ..DetailCounts::NONE });
    }
}
