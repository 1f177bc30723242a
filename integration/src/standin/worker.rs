//! The background worker: applies enqueued tasks one at a time, in uid order.

use std::sync::Arc;

use serde_json::{json, Value};

use super::clock::now;
use super::documents::{document_id, infer_primary_key};
use super::filter_eval::{matches, unfilterable_message};
use super::settings::{apply_patch, View};
use super::store::{Index, Shared, Store};
use super::tasks::{Status, TaskKind};
use miroir_schemas::error::{Code, ResponseError};

/// Runs until the process ends, waking whenever a task is enqueued.
pub async fn run(shared: Arc<Shared>) {
    loop {
        while process_next(&shared) {
            // let the routes run between tasks, as Meilisearch's HTTP API does while it indexes
            tokio::task::yield_now().await;
        }
        shared.wake.notified().await;
    }
}

/// Processes the oldest enqueued task, if any. Returns whether one was processed.
pub fn process_next(shared: &Shared) -> bool {
    let mut store = shared.lock();
    let Some(position) = store.tasks.iter().position(|t| t.status == Status::Enqueued) else {
        return false;
    };
    let started = now();
    {
        let task = &mut store.tasks[position];
        task.status = Status::Processing;
        task.started_at = Some(started);
        task.batch_uid = Some(task.uid);
    }
    let task = store.tasks[position].clone();
    let outcome = apply(&mut store, task.index_uid.as_deref(), &task.kind);
    let finished = now();
    let task = &mut store.tasks[position];
    match outcome {
        Ok(details) => {
            task.status = Status::Succeeded;
            for (k, v) in details {
                task.details.insert(k, v);
            }
        }
        Err((error, details)) => {
            task.status = Status::Failed;
            task.error = Some(error);
            for (k, v) in details {
                task.details.insert(k, v);
            }
        }
    }
    task.finished_at = Some(finished);
    store.last_update = Some(finished);
    true
}

type Details = Vec<(String, Value)>;
type Outcome = Result<Details, (ResponseError, Details)>;

fn index_mut<'s>(store: &'s mut Store, uid: &str) -> Result<&'s mut Index, ResponseError> {
    store
        .indexes
        .get_mut(uid)
        .ok_or_else(|| ResponseError::new(Code::IndexNotFound, format!("Index `{uid}` not found.")))
}

fn apply(store: &mut Store, index_uid: Option<&str>, kind: &TaskKind) -> Outcome {
    let uid = index_uid.unwrap_or_default();
    let fail = |e: ResponseError, details: Details| Err((e, details));
    match kind {
        TaskKind::IndexCreation { primary_key } => {
            if store.indexes.contains_key(uid) {
                return fail(
                    ResponseError::new(Code::IndexAlreadyExists, format!("Index `{uid}` already exists.")),
                    vec![],
                );
            }
            store.indexes.insert(uid.to_owned(), Index::new(uid, primary_key.clone()));
            Ok(vec![])
        }
        TaskKind::IndexUpdate { primary_key } => {
            let index = index_mut(store, uid).map_err(|e| (e, vec![]))?;
            if let Some(pk) = primary_key {
                match &index.primary_key {
                    Some(existing) if !index.documents.is_empty() && existing != pk => {
                        return fail(
                            ResponseError::new(
                                Code::IndexPrimaryKeyAlreadyExists,
                                format!("Index `{uid}`: Index already has a primary key: `{existing}`."),
                            ),
                            vec![],
                        );
                    }
                    _ => index.primary_key = Some(pk.clone()),
                }
            }
            index.updated_at = now();
            Ok(vec![])
        }
        TaskKind::IndexDeletion => match store.indexes.remove(uid) {
            Some(index) => Ok(vec![("deletedDocuments".into(), json!(index.documents.len()))]),
            None => fail(
                ResponseError::new(Code::IndexNotFound, format!("Index `{uid}` not found.")),
                vec![("deletedDocuments".into(), json!(0))],
            ),
        },
        TaskKind::IndexSwap { swaps } => {
            let missing: Vec<&String> = swaps
                .iter()
                .flat_map(|s| {
                    let required: &[String] = if s.rename { &s.indexes[..1] } else { &s.indexes[..] };
                    required.iter()
                })
                .filter(|uid| !store.indexes.contains_key(*uid))
                .collect();
            if !missing.is_empty() {
                let list = missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ");
                let message = if missing.len() == 1 {
                    format!("Index {list} not found.")
                } else {
                    format!("Indexes {list} not found.")
                };
                return fail(ResponseError::new(Code::IndexNotFound, message), vec![]);
            }
            for swap in swaps {
                let [a, b] = &swap.indexes;
                let first = store.indexes.remove(a);
                let second = store.indexes.remove(b);
                if let Some(mut index) = first {
                    index.uid = b.clone();
                    store.indexes.insert(b.clone(), index);
                }
                if let Some(mut index) = second {
                    index.uid = a.clone();
                    store.indexes.insert(a.clone(), index);
                }
            }
            Ok(vec![])
        }
        TaskKind::DocumentAdditionOrUpdate { documents, primary_key, merge } => {
            add_documents(store, uid, documents, primary_key.as_deref(), *merge)
        }
        TaskKind::DocumentDeletion { ids } => {
            let index = index_mut(store, uid).map_err(|e| (e, vec![("deletedDocuments".into(), json!(0))]))?;
            let deleted = ids.iter().filter(|id| index.remove(id)).count();
            index.updated_at = now();
            Ok(vec![("deletedDocuments".into(), json!(deleted))])
        }
        TaskKind::DocumentDeletionByFilter { filter } => {
            let zero = || vec![("deletedDocuments".into(), json!(0))];
            let index = index_mut(store, uid).map_err(|e| (e, zero()))?;
            let parsed = miroir_schemas::filter::parse_json(filter)
                .map_err(|e| (e.to_response(Code::InvalidDocumentFilter), zero()))?;
            let Some(parsed) = parsed else {
                return Ok(zero());
            };
            let patterns = View(&index.settings).filterable_patterns();
            if let Some(message) = unfilterable_message(&parsed, &patterns) {
                return fail(
                    ResponseError::new(Code::InvalidDocumentFilter, format!("Index `{uid}`: {message}")),
                    zero(),
                );
            }
            let doomed: Vec<String> = index
                .ids
                .iter()
                .filter(|(_, internal)| index.documents.get(internal).is_some_and(|d| matches(&parsed, d)))
                .map(|(external, _)| external.clone())
                .collect();
            for id in &doomed {
                index.remove(id);
            }
            index.updated_at = now();
            Ok(vec![("deletedDocuments".into(), json!(doomed.len()))])
        }
        TaskKind::DocumentClear => {
            let index = index_mut(store, uid).map_err(|e| (e, vec![("deletedDocuments".into(), json!(0))]))?;
            let deleted = index.documents.len();
            index.documents.clear();
            index.ids.clear();
            index.generation = crate::standin::search::word_index::next_generation();
            index.updated_at = now();
            Ok(vec![("deletedDocuments".into(), json!(deleted))])
        }
        TaskKind::SettingsUpdate { patch } => {
            let index = store.indexes.entry(uid.to_owned()).or_insert_with(|| Index::new(uid, None));
            apply_patch(&mut index.settings, patch);
            index.updated_at = now();
            Ok(vec![])
        }
    }
}

fn add_documents(
    store: &mut Store,
    uid: &str,
    documents: &[super::tasks::Document],
    primary_key: Option<&str>,
    merge: bool,
) -> Outcome {
    let none_indexed = || vec![("indexedDocuments".into(), json!(0))];
    // Meilisearch creates the index before it looks at the documents, so it exists even when
    // the addition fails.
    let index = store.indexes.entry(uid.to_owned()).or_insert_with(|| Index::new(uid, None));
    let existing_pk = index.primary_key.clone();
    let pk = match (existing_pk, primary_key) {
        (Some(existing), Some(asked)) if existing != asked => {
            return Err((
                ResponseError::new(
                    Code::IndexPrimaryKeyAlreadyExists,
                    format!("Index `{uid}`: Index already has a primary key: `{existing}`."),
                ),
                none_indexed(),
            ))
        }
        (Some(existing), _) => existing,
        (None, Some(asked)) => asked.to_owned(),
        (None, None) => infer_primary_key(documents.first()).map_err(|e| (e, none_indexed()))?,
    };
    let mut identified = Vec::with_capacity(documents.len());
    for doc in documents {
        let id = document_id(doc, &pk).map_err(|e| (e, none_indexed()))?;
        identified.push((id, doc.clone()));
    }
    index.primary_key = Some(pk);
    for (id, doc) in identified {
        index.upsert(id, doc, merge);
    }
    index.updated_at = now();
    Ok(vec![("indexedDocuments".into(), json!(documents.len()))])
}
