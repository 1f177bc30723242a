//! An in-memory Meilisearch node for the indexer's own tests: indexes of documents, a task
//! queue processed at once (or, [`FakeNode::autobatching`], document requests batched until
//! one is waited for), `customMetadata` kept on tasks, a switch to take it down, and one to
//! hold the tasks of some node indexes unfinished (a node busy with a long task).

use crate::replica::ReplicaNode;
use crate::request::NodeRequest;
use async_trait::async_trait;
use miroir_clients::node::{NodeError, TaskStatus, TaskView};
use miroir_schemas::envelope::DocumentMethod;
use miroir_schemas::error::{Code, ResponseError};
use miroir_schemas::node_layout::SHARD_FIELD;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;

pub type Docs = BTreeMap<String, Map<String, Value>>;

#[derive(Default, Clone)]
struct State {
    indexes: BTreeMap<String, (Option<String>, Docs)>,
    /// `filterableAttributes` per index (absent: the default, `null`).
    filterable: BTreeMap<String, Value>,
    tasks: Vec<TaskView>,
    down: bool,
    /// Document requests queue up and run as one batch when a task is read.
    autobatching: bool,
    /// Enqueued document requests: (task uid, node index, request).
    queued: Vec<(u64, String, NodeRequest)>,
    /// Node indexes whose tasks a wait does not see finish until resumed (by uid prefix).
    stalled: Vec<String>,
}

pub struct FakeNode {
    id: String,
    state: Mutex<State>,
    resumed: tokio::sync::Notify,
}

impl FakeNode {
    pub fn new(id: &str) -> FakeNode {
        FakeNode { id: id.into(), state: Mutex::default(), resumed: tokio::sync::Notify::new() }
    }

    /// A node that batches document requests the way Meilisearch does when they queue up on an
    /// index behind a busy one (seen on the real 1.50 binary): they run together, and one invalid
    /// document fails every task of the batch, with nothing applied.
    pub fn autobatching(id: &str) -> FakeNode {
        let node = FakeNode::new(id);
        node.state.lock().unwrap().autobatching = true;
        node
    }

    /// Waits for tasks of node indexes whose uid starts with `prefix` hold until [`Self::resume`].
    pub fn stall(&self, prefix: &str) {
        self.state.lock().unwrap().stalled.push(prefix.to_owned());
    }

    pub fn resume(&self) {
        self.state.lock().unwrap().stalled.clear();
        self.resumed.notify_waiters();
    }

    pub fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    pub fn documents(&self, index: &str) -> Option<Docs> {
        self.state.lock().unwrap().indexes.get(index).map(|(_, d)| d.clone())
    }

    pub fn filterable(&self, index: &str) -> Option<Value> {
        self.state.lock().unwrap().filterable.get(index).cloned()
    }

    pub fn index_names(&self) -> Vec<String> {
        self.state.lock().unwrap().indexes.keys().cloned().collect()
    }

    /// Node tasks that changed something (markers and failures left out).
    pub fn tasks(&self) -> Vec<TaskView> {
        self.state.lock().unwrap().tasks.clone()
    }

    fn unavailable(&self) -> NodeError {
        NodeError::Timeout { node: self.id.clone() }
    }
}

/// Runs the queued document requests, consecutive ones of one index as one batch that succeeds
/// or fails whole.
fn run_queued(state: &mut State) {
    let queued = std::mem::take(&mut state.queued);
    for batch in queued.chunk_by(|a, b| a.1 == b.1) {
        let mut trial = state.clone();
        let mut first_error = None;
        let mut details = Vec::new();
        for (_, index, request) in batch {
            let (error, detail) = execute(&mut trial, index, request);
            first_error = first_error.or(error);
            details.push(detail);
        }
        if first_error.is_none() {
            state.indexes = trial.indexes;
        }
        for ((uid, _, _), detail) in batch.iter().zip(details) {
            let task = &mut state.tasks[*uid as usize];
            task.batch_uid = Some(batch[0].0);
            task.status = if first_error.is_some() { TaskStatus::Failed } else { TaskStatus::Succeeded };
            task.error.clone_from(&first_error);
            task.details = Some(detail);
            task.started_at = Some("2025-01-01T00:00:00Z".into());
            task.finished_at = task.started_at.clone();
        }
    }
}

fn err(code: Code, msg: String) -> Option<ResponseError> {
    Some(ResponseError::new(code, msg))
}

/// Applies a request to the model; returns `(error, details)`.
fn execute(state: &mut State, index: &str, request: &NodeRequest) -> (Option<ResponseError>, Value) {
    let missing = || Some(ResponseError::index_not_found(index));
    match request {
        NodeRequest::Documents { method, primary_key, ndjson, count } => {
            let mut parsed = Vec::new();
            for line in std::str::from_utf8(ndjson).unwrap().lines() {
                let doc: Map<String, Value> = serde_json::from_str(line).unwrap();
                let Some(id) = doc.get(primary_key).map(|v| v.as_str().map_or(v.to_string(), str::to_owned)) else {
                    let msg = format!("Document doesn't have a `{primary_key}` attribute: `{}`.", Value::Object(doc));
                    return (err(Code::MissingDocumentId, msg), json!({"receivedDocuments": count, "indexedDocuments": 0}));
                };
                parsed.push((id, doc));
            }
            let (_, docs) = state.indexes.entry(index.into()).or_insert((Some(primary_key.clone()), Docs::new()));
            for (id, doc) in parsed {
                match method {
                    DocumentMethod::Replace => {
                        docs.insert(id, doc);
                    }
                    DocumentMethod::Update => docs.entry(id).or_default().extend(doc),
                }
            }
            (None, json!({"receivedDocuments": count, "indexedDocuments": count}))
        }
        NodeRequest::DeleteIds(ids) => match state.indexes.get_mut(index) {
            None => (missing(), json!({"providedIds": ids.len(), "deletedDocuments": 0})),
            Some((_, docs)) => {
                let deleted = ids.iter().filter(|id| docs.remove(id.as_str().unwrap()).is_some()).count();
                (None, json!({"providedIds": ids.len(), "deletedDocuments": deleted}))
            }
        },
        NodeRequest::EditDocuments(_) => (err(Code::Internal, "function editions are not modelled by the fake node".into()), json!({})),
        NodeRequest::DeleteByFilter(filter) => {
            // Only what a clear becomes: the shard condition alone.
            let condition = filter.as_array().filter(|parts| parts.len() == 1).and_then(|parts| parts[0].as_str());
            let Some(value) = condition.and_then(|c| c.strip_prefix(&format!("{SHARD_FIELD} = \""))).and_then(|v| v.strip_suffix('"'))
            else {
                return (err(Code::Internal, "only shard conditions are modelled by the fake node".into()), json!({}));
            };
            match state.indexes.get_mut(index) {
                None => (missing(), json!({"deletedDocuments": 0})),
                Some((_, docs)) => {
                    let before = docs.len();
                    docs.retain(|_, doc| doc.get(SHARD_FIELD).and_then(Value::as_str) != Some(value));
                    (None, json!({"deletedDocuments": before - docs.len()}))
                }
            }
        }
        NodeRequest::CreateIndex { primary_key } => {
            if state.indexes.contains_key(index) {
                return (Some(ResponseError::index_already_exists(index)), json!({}));
            }
            state.indexes.insert(index.into(), (primary_key.clone(), Docs::new()));
            (None, json!({"primaryKey": primary_key}))
        }
        NodeRequest::DeleteIndex => match state.indexes.remove(index) {
            None => (missing(), json!({"deletedDocuments": 0})),
            Some((_, docs)) => (None, json!({"deletedDocuments": docs.len()})),
        },
        NodeRequest::UpdateSettings(_) | NodeRequest::ResetSettings | NodeRequest::UpdateIndex { .. } => {
            if !state.indexes.contains_key(index) {
                return (missing(), json!({}));
            }
            match request {
                NodeRequest::UpdateSettings(settings) => {
                    if let Some(filterable) = settings.get("filterableAttributes") {
                        state.filterable.insert(index.into(), filterable.clone());
                    }
                }
                NodeRequest::ResetSettings => {
                    state.filterable.remove(index);
                }
                _ => {}
            }
            (None, json!({}))
        }
        NodeRequest::Compact => match state.indexes.get(index) {
            None => (missing(), json!({})),
            // Sizes as a node writes them: 4 KiB a document before, half of it after.
            Some((_, docs)) => {
                let before = 4096 * (docs.len() as u64 + 1);
                let sizes = [before, before / 2].map(miroir_schemas::details::byte_size::to_text);
                (None, json!({"preCompactionSize": sizes[0], "postCompactionSize": sizes[1]}))
            }
        },
        NodeRequest::Swap(_) => (err(Code::Internal, "not modelled by the fake node".into()), json!({})),
    }
}

/// The node task `type` Meilisearch gives the request.
fn task_type(request: &NodeRequest) -> &'static str {
    match request {
        NodeRequest::Documents { .. } => "documentAdditionOrUpdate",
        NodeRequest::DeleteIds(_) | NodeRequest::DeleteByFilter(_) => "documentDeletion",
        NodeRequest::EditDocuments(_) => "documentEdition",
        NodeRequest::UpdateSettings(_) | NodeRequest::ResetSettings => "settingsUpdate",
        NodeRequest::CreateIndex { .. } => "indexCreation",
        NodeRequest::UpdateIndex { .. } => "indexUpdate",
        NodeRequest::DeleteIndex => "indexDeletion",
        NodeRequest::Compact => "indexCompaction",
        NodeRequest::Swap(_) => "indexSwap",
    }
}

#[async_trait]
impl ReplicaNode for FakeNode {
    fn id(&self) -> &str {
        &self.id
    }

    async fn send(&self, node_index: &str, request: &NodeRequest, metadata: Option<&str>) -> Result<u64, NodeError> {
        let mut state = self.state.lock().unwrap();
        if state.down {
            return Err(self.unavailable());
        }
        let uid = state.tasks.len() as u64;
        if state.autobatching && matches!(request, NodeRequest::Documents { .. } | NodeRequest::DeleteIds(_)) {
            let now = "2025-01-01T00:00:00Z".to_string();
            state.tasks.push(TaskView {
                uid,
                batch_uid: None,
                index_uid: Some(node_index.into()),
                status: TaskStatus::Enqueued,
                kind: task_type(request).into(),
                details: None,
                error: None,
                duration: None,
                enqueued_at: now,
                started_at: None,
                finished_at: None,
                custom_metadata: metadata.map(str::to_owned),
            });
            state.queued.push((uid, node_index.to_owned(), request.clone()));
            return Ok(uid);
        }
        run_queued(&mut state);
        let (error, details) = execute(&mut state, node_index, request);
        let now = "2025-01-01T00:00:00Z".to_string();
        state.tasks.push(TaskView {
            uid,
            batch_uid: Some(uid),
            index_uid: Some(node_index.into()),
            status: if error.is_some() { TaskStatus::Failed } else { TaskStatus::Succeeded },
            kind: task_type(request).into(),
            details: Some(details),
            error,
            duration: None,
            enqueued_at: now.clone(),
            started_at: Some(now.clone()),
            finished_at: Some(now),
            custom_metadata: metadata.map(str::to_owned),
        });
        Ok(uid)
    }

    async fn wait(&self, task_uid: u64) -> Result<TaskView, NodeError> {
        loop {
            // Registered before looking, so a resume in between is not missed.
            let resumed = self.resumed.notified();
            {
                let mut state = self.state.lock().unwrap();
                if state.down {
                    return Err(self.unavailable());
                }
                run_queued(&mut state);
                let task = &state.tasks[task_uid as usize];
                let index = task.index_uid.as_deref().unwrap_or_default();
                if !state.stalled.iter().any(|prefix| index.starts_with(prefix.as_str())) {
                    return Ok(task.clone());
                }
            }
            resumed.await;
        }
    }

    async fn tasks_of(&self, node_index: &str, from: Option<u64>) -> Result<(Vec<TaskView>, Option<u64>), NodeError> {
        let mut state = self.state.lock().unwrap();
        if state.down {
            return Err(self.unavailable());
        }
        run_queued(&mut state);
        let mut matching: Vec<TaskView> = state
            .tasks
            .iter()
            .rev()
            .filter(|t| t.index_uid.as_deref() == Some(node_index) && from.is_none_or(|f| t.uid <= f))
            .take(3)
            .cloned()
            .collect();
        let next = (matching.len() == 3).then(|| matching[2].uid.checked_sub(1)).flatten();
        matching.truncate(3);
        Ok((matching, next))
    }

    async fn healthy(&self) -> bool {
        !self.state.lock().unwrap().down
    }

    async fn filterable_attributes(&self, node_index: &str) -> Result<Value, NodeError> {
        let state = self.state.lock().unwrap();
        if state.down {
            return Err(self.unavailable());
        }
        Ok(state.filterable.get(node_index).cloned().unwrap_or(Value::Null))
    }
}
