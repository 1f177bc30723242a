//! `/batches` objects. Meilisearch groups compatible tasks into batches; Miroir has no
//! scheduler of its own, so each task that started is its own batch, with the task's uid as
//! the batch uid (the task view's `batchUid` says the same). Clients reading batches see
//! Meilisearch's shape: one task per batch, the task's details and timings, the stop reason
//! Meilisearch gives a batch of that kind alone. `progress` is always `null` (the nodes' own
//! progress is not relayed) and `progressTrace` is left out, as Meilisearch does when empty.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::select::TaskFacts;
use super::vocabulary::batch_strategy;

/// The batch of a started task, from its task view (`GET /tasks/{uid}`'s object) and facts;
/// `None` while the task is enqueued (an enqueued task is in no batch).
pub fn batch_view(task_view: &Map<String, Value>, task: &TaskFacts) -> Option<Value> {
    let uid = task.batch_uid()?;
    let field = |key: &str| task_view.get(key).cloned().unwrap_or(Value::Null);
    let indexes: BTreeSet<&str> = task.indexes.iter().map(String::as_str).collect();
    let index_uids: Map<String, Value> = indexes.into_iter().map(|index| (index.to_owned(), json!(1))).collect();
    Some(json!({
        "uid": uid,
        "progress": null,
        "details": task_view.get("details").cloned().unwrap_or_else(|| json!({})),
        "stats": {
            "totalNbTasks": 1,
            "status": {task.status: 1},
            "types": {task.kind: 1},
            "indexUids": index_uids,
        },
        "duration": field("duration"),
        "startedAt": field("startedAt"),
        "finishedAt": field("finishedAt"),
        "batchStrategy": batch_strategy(task.kind, task.uid),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn facts(started: bool) -> TaskFacts {
        TaskFacts {
            uid: 7,
            kind: "indexSwap",
            status: "succeeded",
            indexes: vec!["b".into(), "a".into(), "b".into()],
            enqueued_at: datetime!(2026-01-01 0:00 UTC),
            started_at: started.then_some(datetime!(2026-01-01 0:00:01 UTC)),
            finished_at: started.then_some(datetime!(2026-01-01 0:00:02 UTC)),
            canceled_by: None,
        }
    }

    #[test]
    fn a_started_task_is_a_batch_of_one() {
        let view = json!({"uid": 7, "details": {"swaps": []}, "duration": "PT1S", "startedAt": "s", "finishedAt": "f"});
        let batch = batch_view(view.as_object().unwrap(), &facts(true)).unwrap();
        assert_eq!(
            batch,
            json!({
                "uid": 7, "progress": null, "details": {"swaps": []},
                "stats": {"totalNbTasks": 1, "status": {"succeeded": 1}, "types": {"indexSwap": 1}, "indexUids": {"a": 1, "b": 1}},
                "duration": "PT1S", "startedAt": "s", "finishedAt": "f",
                "batchStrategy": "created batch containing only task with id 7 of type `indexSwap` that cannot be batched with any other task."
            })
        );
        let keys: Vec<&String> = batch.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["uid", "progress", "details", "stats", "duration", "startedAt", "finishedAt", "batchStrategy"]);
    }

    #[test]
    fn an_enqueued_task_is_in_no_batch() {
        assert_eq!(batch_view(&Map::new(), &facts(false)), None);
    }
}
