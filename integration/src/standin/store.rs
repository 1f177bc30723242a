//! The stand-in's in-memory state: indexes with their documents and settings, the task log,
//! experimental features and API keys.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::{FairMutex, FairMutexGuard};

use serde_json::{json, Map, Value};
use time::OffsetDateTime;
use tokio::sync::Notify;

use super::clock::{now, rfc3339};
use super::search::word_index::{next_generation, WordIndexCache};
use super::settings;
use super::tasks::{Document, Status, Task, TaskKind};

#[derive(Debug, Clone)]
pub struct Index {
    pub uid: String,
    pub primary_key: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub settings: Map<String, Value>,
    /// Documents by internal id: the order Meilisearch lists documents in.
    pub documents: BTreeMap<u64, Document>,
    /// External id → internal id.
    pub ids: HashMap<String, u64>,
    next_internal: u64,
    /// Changes with every change of `documents` (see `search::word_index`).
    pub generation: u64,
    /// The word map of `documents`, built at the first keyword search of a generation.
    pub words: WordIndexCache,
}

impl Index {
    pub fn new(uid: &str, primary_key: Option<String>) -> Self {
        let at = now();
        Index {
            uid: uid.to_owned(),
            primary_key,
            created_at: at,
            updated_at: at,
            settings: settings::defaults(),
            documents: BTreeMap::new(),
            ids: HashMap::new(),
            next_internal: 0,
            generation: next_generation(),
            words: WordIndexCache::default(),
        }
    }

    /// `{uid, createdAt, updatedAt, primaryKey}`.
    pub fn view(&self) -> Value {
        json!({
            "uid": self.uid,
            "createdAt": rfc3339(self.created_at),
            "updatedAt": rfc3339(self.updated_at),
            "primaryKey": self.primary_key,
        })
    }

    /// Inserts or replaces (or, with `merge`, updates field by field) one document.
    pub fn upsert(&mut self, external: String, doc: Document, merge: bool) {
        self.generation = next_generation();
        match self.ids.get(&external) {
            Some(internal) => {
                let slot = self.documents.get_mut(internal).expect("ids and documents agree");
                if merge {
                    for (k, v) in doc {
                        slot.insert(k, v);
                    }
                } else {
                    *slot = doc;
                }
            }
            None => {
                let internal = self.next_internal;
                self.next_internal += 1;
                self.ids.insert(external, internal);
                self.documents.insert(internal, doc);
            }
        }
    }

    pub fn remove(&mut self, external: &str) -> bool {
        self.generation = next_generation();
        match self.ids.remove(external) {
            Some(internal) => self.documents.remove(&internal).is_some(),
            None => false,
        }
    }

    pub fn get(&self, external: &str) -> Option<&Document> {
        self.ids.get(external).and_then(|i| self.documents.get(i))
    }

    /// `GET /indexes/{uid}/stats`. Sizes are rough estimates (they are volatile in Meilisearch too).
    pub fn stats(&self) -> Value {
        let mut distribution = BTreeMap::<String, u64>::new();
        let mut raw_size = 0usize;
        for doc in self.documents.values() {
            raw_size += Value::Object(doc.clone()).to_string().len();
            for key in doc.keys().filter(|key| *key != super::vectors::VECTORS_FIELD) {
                *distribution.entry(key.clone()).or_default() += 1;
            }
        }
        let count = self.documents.len();
        json!({
            "numberOfDocuments": count,
            "rawDocumentDbSize": raw_size,
            "avgDocumentSize": if count == 0 { 0 } else { raw_size / count },
            "isIndexing": false,
            "numberOfEmbeddings": 0,
            "numberOfEmbeddedDocuments": 0,
            "fieldDistribution": distribution,
        })
    }
}

#[derive(Debug, Default)]
pub struct Store {
    pub indexes: BTreeMap<String, Index>,
    pub tasks: Vec<Task>,
    pub features: Map<String, Value>,
    pub keys: Vec<Value>,
    pub last_update: Option<OffsetDateTime>,
}

impl Store {
    /// Appends a task in `enqueued` state and returns it.
    pub fn enqueue(&mut self, index_uid: Option<String>, kind: TaskKind, custom_metadata: Option<String>) -> Task {
        let task = Task {
            uid: self.tasks.len() as u64,
            batch_uid: None,
            index_uid,
            status: Status::Enqueued,
            details: kind.enqueued_details(),
            kind,
            error: None,
            enqueued_at: now(),
            started_at: None,
            finished_at: None,
            custom_metadata,
        };
        self.tasks.push(task.clone());
        task
    }

    pub fn index(&self, uid: &str) -> Result<&Index, super::error::ApiError> {
        self.indexes.get(uid).ok_or_else(|| super::error::ApiError::index_not_found(uid))
    }
}

/// Everything the routes and the worker share.
pub struct Shared {
    /// Fair: Meilisearch answers its routes while it indexes, so a worker going from task to
    /// task must not keep the lock from a waiting request.
    store: FairMutex<Store>,
    /// Wakes the worker when a task is enqueued.
    pub wake: Notify,
    pub master_key: Option<String>,
}

impl Shared {
    pub fn new(master_key: Option<String>) -> Arc<Self> {
        let mut store = Store {
            features: default_features(),
            ..Store::default()
        };
        store.keys = super::keys::default_keys();
        Arc::new(Shared { store: FairMutex::new(store), wake: Notify::new(), master_key })
    }

    pub fn lock(&self) -> FairMutexGuard<'_, Store> {
        // (parking_lot does not poison: a panic while holding the lock does not take the node down)
        self.store.lock()
    }
}

fn default_features() -> Map<String, Value> {
    let value = json!({
        "metrics": false, "logsRoute": false, "editDocumentsByFunction": false,
        "containsFilter": false, "dynamicSearchRules": false, "network": false,
        "getTaskDocumentsRoute": false, "taskQueueCompactionRoute": false,
        "compositeEmbedders": false, "chatCompletions": false, "multimodal": false,
        "foreignKeys": false, "disableDocumentsFetchQueue": false, "legacySearch": false,
        "renderRoute": false
    });
    value.as_object().cloned().unwrap_or_default()
}
