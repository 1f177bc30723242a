//! Scenarios shared by the NATS and Kafka end-to-end files.

use reqwest::Method;

use super::contents::{assert_placed, Contents};
use super::corpus::{corpus, doc_id, ndjson, Document, CORPUS_SIZE};
use super::{Cluster, TASK_BOUND};

/// The corpus slice the tests ingest: 6,000 documents in 1,000-document batches, or with
/// `MIROIR_E2E_FULL=1` all 63,666 in 10,000-document batches.
pub struct Slice {
    pub documents: Vec<Document>,
    pub batch_size: usize,
}

pub fn slice() -> Slice {
    if std::env::var("MIROIR_E2E_FULL").is_ok_and(|v| v == "1") {
        Slice { documents: corpus(CORPUS_SIZE), batch_size: 10_000 }
    } else {
        Slice { documents: corpus(6_000), batch_size: 1_000 }
    }
}

/// POSTs `documents` to `index` as NDJSON batches of `batch_size`, back to back; returns the
/// task uids in order.
pub async fn post_batches(cluster: &Cluster, index: &str, documents: &[Document], batch_size: usize) -> Vec<u64> {
    let mut tasks = Vec::new();
    for batch in documents.chunks(batch_size) {
        let answer = cluster.gateway.ndjson(Method::POST, &format!("/indexes/{index}/documents"), ndjson(batch)).await;
        tasks.push(answer.task_uid());
    }
    tasks
}

/// What an index holds after `documents` were added (later versions replace earlier ones).
pub fn contents_of<'a>(documents: impl IntoIterator<Item = &'a Document>) -> Contents {
    documents.into_iter().map(|d| (doc_id(d).to_owned(), d.clone())).collect()
}

/// The core case: the slice goes in through the gateway (primary key inferred from the first
/// document, as a new index does), every task succeeds, and every document is on exactly the
/// replicas of its HRW shard.
pub async fn ingest_and_check_placement(cluster: &Cluster, index: &str) {
    let slice = slice();
    let tasks = post_batches(cluster, index, &slice.documents, slice.batch_size).await;
    assert!(tasks.windows(2).all(|w| w[0] < w[1]), "task uids must increase: {tasks:?}");
    cluster.gateway.expect_succeeded(&tasks, TASK_BOUND).await;
    for &uid in &tasks {
        let task = cluster.gateway.get(&format!("/tasks/{uid}")).await.body;
        let details = &task["details"];
        assert_eq!(details["receivedDocuments"], details["indexedDocuments"], "task {uid}: {task}");
    }
    let index_view = cluster.gateway.get(&format!("/indexes/{index}")).await;
    assert_eq!(index_view.status, 200, "{index_view:?}");
    assert_eq!(index_view.body["primaryKey"], "id", "the primary key is inferred from the first document");
    assert_placed(&cluster.node_clients, &cluster.placement, index, &contents_of(&slice.documents)).await;
}
