use super::*;
use miroir_schemas::details::IndexSwap;
use miroir_schemas::task_log::{ReplicaStatus, ShardTarget};
use miroir_schemas::topology::ShardId;
use proptest::prelude::*;
use serde_json::json;
use std::collections::BTreeSet;

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000 + seconds).unwrap()
}

fn record(task_type: TaskType, index: Option<&str>, details: Option<TaskDetails>, t: i64) -> TaskLogEntry {
    TaskLogEntry::new(TaskRecord::new(task_type, index.map(str::to_owned), details, at(t)))
}

fn create(index: &str, primary_key: Option<&str>, t: i64) -> TaskLogEntry {
    let details = TaskDetails::IndexInfo { primary_key: primary_key.map(str::to_owned), old_index_uid: None, new_index_uid: None };
    record(TaskType::IndexCreation, Some(index), Some(details), t)
}

fn delete(index: &str, t: i64) -> TaskLogEntry {
    record(TaskType::IndexDeletion, Some(index), Some(TaskDetails::ClearAll { deleted_documents: None }), t)
}

fn add_documents(index: &str, primary_key: &str, t: i64) -> TaskLogEntry {
    let details = TaskDetails::DocumentAdditionOrUpdate { received_documents: 1, indexed_documents: None };
    TaskLogEntry { primary_key: Some(primary_key.into()), ..record(TaskType::DocumentAdditionOrUpdate, Some(index), Some(details), t) }
}

fn fold(entries: Vec<TaskLogEntry>) -> Catalog {
    let mut catalog = Catalog::new();
    for (uid, entry) in entries.into_iter().enumerate() {
        catalog.apply_task(uid as u64, entry);
    }
    catalog
}

#[test]
fn a_second_creation_fails_like_meilisearch_even_when_two_gateways_raced() {
    let catalog = fold(vec![create("packages", Some("id"), 0), create("packages", None, 1)]);
    assert_eq!(catalog.index("packages").unwrap().primary_key.as_deref(), Some("id"));
    let second = catalog.task_view(1).unwrap();
    assert_eq!(second["status"], "failed");
    assert_eq!(
        Value::Object(second)["error"],
        json!({"message": "Index `packages` already exists.", "code": "index_already_exists",
               "type": "invalid_request", "link": "https://docs.meilisearch.com/errors#index_already_exists"})
    );
    // The first has no events yet and targets nothing: nothing to wait for.
    assert_eq!(catalog.task_view(0).unwrap()["status"], "succeeded");
}

#[test]
fn deleting_a_missing_index_fails_and_deleting_an_existing_one_removes_it() {
    let catalog = fold(vec![delete("nope", 0), create("a", None, 1), delete("a", 2)]);
    let failed = Value::Object(catalog.task_view(0).unwrap());
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["message"], "Index `nope` not found.");
    assert_eq!(failed["details"], json!({"deletedDocuments": 0}));
    assert!(catalog.index("a").is_none());
    assert_eq!(catalog.task_view(2).unwrap()["status"], "succeeded");
}

#[test]
fn documents_create_the_index_with_the_decided_primary_key() {
    let catalog =
        fold(vec![add_documents("movies", "movie_id", 5), add_documents("movies", "other", 6), add_documents("movies", "movie_id", 7)]);
    let movies = catalog.index("movies").unwrap();
    assert_eq!(movies.primary_key.as_deref(), Some("movie_id"));
    assert_eq!(movies.created_at, at(5));
    assert_eq!(movies.updated_at, at(7), "the failed addition does not touch the index");
    assert_eq!(catalog.task_view(1).unwrap()["error"]["code"], "index_primary_key_already_exists");
}

#[test]
fn a_failed_document_addition_only_creates_its_index() {
    // Meilisearch 1.50 (transcript: "ambiguous primary key", then "delete index" succeeds):
    // the addition fails, its index exists afterwards, without a primary key.
    let mut failing = add_documents("movies", "id", 0);
    failing.record.error = Some(ResponseError::new(Code::MissingDocumentId, "Document doesn't have a `id` attribute: `{}`."));
    let catalog = fold(vec![failing]);
    assert_eq!(catalog.index("movies").expect("the index exists").primary_key, None);
    assert_eq!(catalog.task_view(0).unwrap()["error"]["code"], "missing_document_id");
    // Any other failed task changes nothing.
    let mut failed_creation = create("books", Some("id"), 0);
    failed_creation.record.error = Some(ResponseError::new(Code::InvalidIndexUid, "invalid"));
    assert!(fold(vec![failed_creation]).index("books").is_none());
}

#[test]
fn primary_key_change_is_refused_once_documents_were_added() {
    let update = |t| {
        let details = TaskDetails::IndexInfo { primary_key: Some("name".into()), old_index_uid: None, new_index_uid: None };
        record(TaskType::IndexUpdate, Some("packages"), Some(details), t)
    };
    let empty = fold(vec![create("packages", Some("id"), 0), update(1)]);
    assert_eq!(empty.index("packages").unwrap().primary_key.as_deref(), Some("name"));
    let filled = fold(vec![create("packages", Some("id"), 0), add_documents("packages", "id", 1), update(2)]);
    assert_eq!(filled.task_view(2).unwrap()["error"]["message"], "Index `packages`: Index already has a primary key: `id`.");
}

#[test]
fn swaps_exchange_indexes_and_renames_move_them() {
    let swap = |pairs: Vec<([&str; 2], bool)>, t| {
        let swaps = pairs.into_iter().map(|([a, b], rename)| IndexSwap { indexes: [a.into(), b.into()], rename }).collect();
        record(TaskType::IndexSwap, None, Some(TaskDetails::IndexSwap { swaps }), t)
    };
    let catalog = fold(vec![
        create("a", Some("x"), 0),
        create("b", Some("y"), 1),
        swap(vec![(["a", "b"], false)], 2),
        swap(vec![(["a", "c"], true)], 3),
        swap(vec![(["zz", "yy"], false)], 4),
    ]);
    assert_eq!(catalog.index("b").unwrap().primary_key.as_deref(), Some("x"));
    assert_eq!(catalog.index("c").unwrap().primary_key.as_deref(), Some("y"));
    assert!(catalog.index("a").is_none());
    assert_eq!(catalog.task_view(4).unwrap()["error"]["message"], "Indexes `zz`, `yy` not found.");
}

#[test]
fn events_decide_status_whichever_topic_is_read_first() {
    let mut entry = create("movies", None, 0);
    entry.record.targets = vec![ShardTarget { shard: ShardId(0), replicas: vec!["n1".into()] }];
    let event = TaskEvent {
        schema_version: SCHEMA_VERSION,
        task_uid: 0,
        shard: ShardId(0),
        replica: "n1".into(),
        status: ReplicaStatus::Succeeded,
        error: None,
        counts: Default::default(),
        started_at: at(1),
        finished_at: at(2),
    };
    let mut events_first = Catalog::new();
    events_first.apply_event(event.clone());
    events_first.apply_task(0, entry.clone());
    let mut record_first = Catalog::new();
    record_first.apply_task(0, entry);
    assert_eq!(record_first.task_view(0).unwrap()["status"], "enqueued");
    record_first.apply_event(event);
    assert_eq!(events_first.task_view(0), record_first.task_view(0));
    assert_eq!(record_first.task_view(0).unwrap()["status"], "succeeded");
}

#[test]
fn log_entries_are_task_records_with_an_optional_primary_key() {
    let entry = add_documents("movies", "id", 0);
    let bytes = miroir_schemas::envelope::encode(&entry);
    let plain: TaskRecord = miroir_schemas::envelope::decode(&bytes).unwrap();
    assert_eq!(plain, entry.record);
    let back: TaskLogEntry = miroir_schemas::envelope::decode(&bytes).unwrap();
    assert_eq!(back, entry);
}

/// A random history of creations and deletions over a few names.
fn history() -> impl Strategy<Value = Vec<(bool, u8)>> {
    prop::collection::vec((any::<bool>(), 0u8..4), 0..40)
}

proptest! {
    /// The catalog's index set follows set semantics, a failed task changes nothing, and
    /// re-reading records already folded (a reconnect) changes nothing either.
    #[test]
    fn index_set_matches_a_model(ops in history()) {
        let entries: Vec<TaskLogEntry> = ops.iter().enumerate().map(|(t, &(is_create, name))| {
            let name = format!("i{name}");
            if is_create { create(&name, None, t as i64) } else { delete(&name, t as i64) }
        }).collect();
        let mut model = BTreeSet::new();
        let mut expected_status = Vec::new();
        for &(is_create, name) in &ops {
            let name = format!("i{name}");
            let ok = if is_create { model.insert(name) } else { model.remove(&name) };
            expected_status.push(if ok { "succeeded" } else { "failed" });
        }
        let mut catalog = fold(entries.clone());
        for (uid, entry) in entries.into_iter().enumerate() {
            catalog.apply_task(uid as u64, entry);
        }
        let names: BTreeSet<String> = catalog.indexes().map(|(uid, _)| uid.clone()).collect();
        prop_assert_eq!(names, model);
        for (uid, status) in expected_status.iter().enumerate() {
            prop_assert_eq!(&catalog.task_view(uid as u64).unwrap()["status"], status);
        }
    }
}
