//! Scenarios shared by the NATS and Kafka end-to-end files.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use super::contents::{assert_placed, merge_update, snapshot, wait_until_placed_on, Contents};
use super::corpus::{corpus, doc_id, ndjson, Document, CORPUS_SIZE};
use super::{E2eCluster, TASK_BOUND};
use miroir_integration::brokers::LogKind;
use miroir_integration::process::Signal;

/// The index the scenarios write to.
pub const INDEX: &str = "deb";
/// Bound on waiting for the nodes to converge: turns a hang into a failure.
pub const CONVERGE_BOUND: Duration = Duration::from_secs(180);

/// The documents a scenario ingests, and its batch size.
pub struct Slice {
    pub documents: Vec<Document>,
    pub batch_size: usize,
}

/// 6,000 documents in 1,000-document batches: what every scenario but the placement check
/// ingests (the whole corpus once is enough; real nodes index it in minutes on two cores).
pub fn small_slice() -> Slice {
    Slice { documents: corpus(6_000), batch_size: 1_000 }
}

/// The placement check's corpus. On NATS: all 63,666 documents in 10,000-document batches, or
/// the small slice with `MIROIR_E2E_QUICK=1`. On Kafka always the small slice: the test broker
/// (Tansu, in memory) serves fetches of a 70 MB topic at 100 % of both CPUs of a CI machine, so the
/// full corpus measures Tansu, not Miroir (users run Apache Kafka or Redpanda).
pub fn placement_slice(cluster: &E2eCluster) -> Slice {
    let quick = std::env::var("MIROIR_E2E_QUICK").is_ok_and(|v| v == "1");
    if quick || cluster.cluster.spec.log == LogKind::Kafka {
        small_slice()
    } else {
        Slice { documents: corpus(CORPUS_SIZE), batch_size: 10_000 }
    }
}

/// POSTs `documents` to `index` as NDJSON batches of `batch_size`, back to back; returns the
/// task uids in order.
pub async fn post_batches(cluster: &E2eCluster, index: &str, documents: &[Document], batch_size: usize) -> Vec<u64> {
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
pub async fn ingest_and_check_placement(cluster: &E2eCluster, index: &str) {
    let slice = placement_slice(cluster);
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

/// Creates `INDEX` with primary key `id` and `section` filterable, through the gateway.
pub async fn create_index(cluster: &E2eCluster) {
    let created = cluster.gateway.json(Method::POST, "/indexes", &json!({"uid": INDEX, "primaryKey": "id"})).await;
    let settings =
        cluster.gateway.json(Method::PATCH, &format!("/indexes/{INDEX}/settings"), &json!({"filterableAttributes": ["section"]})).await;
    cluster.gateway.expect_succeeded(&[created.task_uid(), settings.task_uid()], TASK_BOUND).await;
}

pub fn documents_path() -> String {
    format!("/indexes/{INDEX}/documents")
}

/// Deletes by id, by batch and by filter, clear-all and PUT partial updates reach every replica.
pub async fn deletes_and_partial_updates_reach_every_replica(cluster: &E2eCluster) {
    create_index(cluster).await;
    let documents = corpus(1_500);
    let tasks = post_batches(cluster, INDEX, &documents, 500).await;
    cluster.gateway.expect_succeeded(&tasks, TASK_BOUND).await;
    let mut expected = contents_of(&documents);
    assert_placed(&cluster.node_clients, &cluster.placement, INDEX, &expected).await;

    // PUT merges: the fields sent replace, the others stay; an unknown id is added as sent.
    let mut updates: Vec<Document> = documents
        .iter()
        .step_by(30)
        .map(|d| json!({"id": doc_id(d), "version": format!("{}+e2e", d["version"].as_str().unwrap()), "e2e_note": "updated"}))
        .map(|v| v.as_object().unwrap().clone())
        .collect();
    updates.push(json!({"id": "e2e-new-package", "name": "only-in-an-update"}).as_object().unwrap().clone());
    let update = cluster.gateway.ndjson(Method::PUT, &documents_path(), ndjson(&updates)).await;
    cluster.gateway.expect_succeeded(&[update.task_uid()], TASK_BOUND).await;
    for document in &updates {
        merge_update(&mut expected, doc_id(document), document);
    }
    let kept = &expected[doc_id(&documents[0])];
    assert_eq!((kept["e2e_note"].as_str(), kept["summary"].clone()), (Some("updated"), documents[0]["summary"].clone()));
    assert_placed(&cluster.node_clients, &cluster.placement, INDEX, &expected).await;

    // By id, by batch (with an id that does not exist), by filter.
    let one = doc_id(&documents[1]).to_owned();
    let by_id = cluster.gateway.send(Method::DELETE, &format!("{}/{one}", documents_path()), None, None).await;
    let batch_ids: Vec<String> = documents[100..120].iter().map(|d| doc_id(d).to_owned()).chain(["no-such-package".to_owned()]).collect();
    let by_batch = cluster.gateway.json(Method::POST, &format!("{}/delete-batch", documents_path()), &json!(batch_ids)).await;
    let by_filter =
        cluster.gateway.json(Method::POST, &format!("{}/delete", documents_path()), &json!({"filter": "section = games"})).await;
    let deletions = [by_id.task_uid(), by_batch.task_uid(), by_filter.task_uid()];
    cluster.gateway.expect_succeeded(&deletions, TASK_BOUND).await;
    expected.remove(&one);
    for id in &batch_ids {
        expected.remove(id);
    }
    let games: Vec<String> = expected.iter().filter(|(_, d)| d.get("section") == Some(&json!("games"))).map(|(id, _)| id.clone()).collect();
    assert!(!games.is_empty(), "the slice must hold documents the filter deletes");
    for id in &games {
        expected.remove(id);
    }
    // Details count each shard once, not once per replica.
    let deleted = |task: Value| task["details"]["deletedDocuments"].as_u64();
    assert_eq!(deleted(cluster.gateway.wait_task(deletions[0], TASK_BOUND).await), Some(1));
    assert_eq!(deleted(cluster.gateway.wait_task(deletions[1], TASK_BOUND).await), Some(20));
    assert_eq!(deleted(cluster.gateway.wait_task(deletions[2], TASK_BOUND).await), Some(games.len() as u64));
    assert_placed(&cluster.node_clients, &cluster.placement, INDEX, &expected).await;

    let clear = cluster.gateway.send(Method::DELETE, &documents_path(), None, None).await;
    cluster.gateway.expect_succeeded(&[clear.task_uid()], TASK_BOUND).await;
    assert_placed(&cluster.node_clients, &cluster.placement, INDEX, &Contents::new()).await;
}

/// kill -9 of the indexer with tasks in flight, more writes while none runs, a restart: the
/// nodes end exactly equal to what was written.
pub async fn indexer_killed_mid_ingest_loses_nothing(cluster: &mut E2eCluster) {
    create_index(cluster).await;
    let slice = small_slice();
    let (first, second) = slice.documents.split_at(slice.documents.len() / 2);
    let batch = slice.batch_size / 2;
    let mut tasks = post_batches(cluster, INDEX, first, batch).await;

    // Crash the indexer as soon as it has finished one task, with the rest still in flight.
    cluster.gateway.expect_succeeded(&tasks[..1], TASK_BOUND).await;
    cluster.cluster.miroir().indexer.kill9();
    let mut unfinished = 0;
    for uid in &tasks {
        if cluster.gateway.get(&format!("/tasks/{uid}")).await.body["status"] != "succeeded" {
            unfinished += 1;
        }
    }
    eprintln!("indexer killed with {unfinished} of {} tasks unfinished", tasks.len());

    // Written while no indexer runs: the rest, newer versions of already-applied documents, a deletion.
    tasks.extend(post_batches(cluster, INDEX, second, batch).await);
    let rewritten: Vec<Document> = first[..batch]
        .iter()
        .map(|d| {
            let mut newer = d.clone();
            newer.insert("version".into(), json!("rewritten-after-crash"));
            newer
        })
        .collect();
    tasks.extend(post_batches(cluster, INDEX, &rewritten, batch).await);
    let gone: Vec<&str> = first[batch..batch + 50].iter().map(doc_id).collect();
    tasks.push(cluster.gateway.json(Method::POST, &format!("{}/delete-batch", documents_path()), &json!(gone)).await.task_uid());

    cluster.cluster.miroir().indexer.restart().expect("restarting the indexer");
    cluster.gateway.expect_succeeded(&tasks, TASK_BOUND).await;
    cluster.cluster.miroir().check_alive().expect("every Miroir process runs");
    let mut expected = contents_of(slice.documents.iter().chain(&rewritten));
    for id in gone {
        expected.remove(id);
    }
    assert_placed(&cluster.node_clients, &cluster.placement, INDEX, &expected).await;
}

/// A node hangs (SIGSTOP) during an ingest: the others get everything, tasks wait for it, and
/// it catches up when it resumes.
pub async fn node_stopped_during_ingest_catches_up(cluster: &E2eCluster) {
    create_index(cluster).await;
    let documents = corpus(3_000);
    let (first, rest) = documents.split_at(500);
    let tasks = post_batches(cluster, INDEX, first, 500).await;
    cluster.gateway.expect_succeeded(&tasks, TASK_BOUND).await;

    const PAUSED: usize = 1;
    cluster.cluster.nodes.process(PAUSED).signal(Signal::Stop);
    let mut tasks = post_batches(cluster, INDEX, rest, 500).await;
    let gone: Vec<&str> = first[..40].iter().map(doc_id).collect();
    tasks.push(cluster.gateway.json(Method::POST, &format!("{}/delete-batch", documents_path()), &json!(gone)).await.task_uid());
    let mut expected = contents_of(&documents);
    for id in &gone {
        expected.remove(*id);
    }

    // The running replicas get everything while node-1 hangs …
    let running: Vec<_> = cluster.node_clients.iter().enumerate().filter(|(i, _)| *i != PAUSED).map(|(_, c)| c.clone()).collect();
    wait_until_placed_on(&running, &cluster.placement, INDEX, &expected, CONVERGE_BOUND).await;
    // … but a task is `succeeded` only once every replica of every shard it touched is.
    let last = cluster.gateway.get(&format!("/tasks/{}", tasks.last().unwrap())).await;
    assert_ne!(last.body["status"], "succeeded", "a task succeeded while a replica of its shards was stopped: {}", last.body);

    cluster.cluster.nodes.process(PAUSED).signal(Signal::Cont);
    cluster.gateway.expect_succeeded(&tasks, TASK_BOUND).await;
    assert_placed(&cluster.node_clients, &cluster.placement, INDEX, &expected).await;
}

/// A bad write: what is sent, and how Meilisearch refuses it.
struct BadWrite {
    name: &'static str,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    /// `Ok(code)`: the task fails with `code`; `Err((status, code))`: refused synchronously.
    refusal: Result<&'static str, (u16, &'static str)>,
}

fn bad_writes(valid: &[Document]) -> Vec<BadWrite> {
    let docs = documents_path();
    let mut with_bad_id = valid.to_vec();
    with_bad_id.push(json!({"id": "bad id with spaces", "name": "x"}).as_object().unwrap().clone());
    let bad = |name, method, path: &str, content_type, body: &[u8], refusal| BadWrite {
        name,
        method,
        path: path.to_owned(),
        content_type,
        body: body.to_vec(),
        refusal,
    };
    vec![
        bad("malformed JSON", Method::POST, &docs, Some("application/json"), b"[{\"id\": 1,", Err((400, "malformed_payload"))),
        bad(
            "malformed NDJSON",
            Method::POST,
            &docs,
            Some("application/x-ndjson"),
            b"{\"id\": \"a\"}\n{\"id\": ",
            Err((400, "malformed_payload")),
        ),
        bad("wrong content type", Method::POST, &docs, Some("text/plain"), b"id;name", Err((415, "invalid_content_type"))),
        bad("missing content type", Method::POST, &docs, None, b"[]", Err((415, "missing_content_type"))),
        bad("empty payload", Method::POST, &docs, Some("application/json"), b"", Err((400, "missing_payload"))),
        bad(
            "filter syntax error",
            Method::POST,
            &format!("{docs}/delete"),
            Some("application/json"),
            br#"{"filter": "section = "}"#,
            Err((400, "invalid_document_filter")),
        ),
        BadWrite {
            name: "valid documents with one invalid id",
            method: Method::POST,
            path: docs.clone(),
            content_type: Some("application/x-ndjson"),
            body: ndjson(&with_bad_id),
            refusal: Ok("invalid_document_id"),
        },
        bad(
            "document without the primary key",
            Method::POST,
            &docs,
            Some("application/json"),
            br#"[{"name": "no id here"}]"#,
            Ok("missing_document_id"),
        ),
        bad(
            "another primary key than the index's",
            Method::POST,
            &format!("{docs}?primaryKey=name"),
            Some("application/json"),
            br#"[{"id": "pk-clash", "name": "n"}]"#,
            Ok("index_primary_key_already_exists"),
        ),
        bad(
            "no primary key candidate in a new index",
            Method::POST,
            "/indexes/nocandidate/documents",
            Some("application/json"),
            br#"[{"name": "x"}]"#,
            Ok("index_primary_key_no_candidate_found"),
        ),
        bad(
            "two primary key candidates in a new index",
            Method::POST,
            "/indexes/ambiguous/documents",
            Some("application/json"),
            br#"[{"id": 1, "uid": 2}]"#,
            Ok("index_primary_key_multiple_candidates_found"),
        ),
        bad(
            "delete by a filter on a non-filterable field",
            Method::POST,
            &format!("{docs}/delete"),
            Some("application/json"),
            br#"{"filter": "version = '1'"}"#,
            Ok("invalid_document_filter"),
        ),
    ]
}

/// Every bad write is refused as Meilisearch refuses it and changes nothing on any node.
pub async fn bad_writes_change_nothing_on_any_node(cluster: &E2eCluster) {
    create_index(cluster).await;
    let documents = corpus(300);
    let tasks = post_batches(cluster, INDEX, &documents, 300).await;
    cluster.gateway.expect_succeeded(&tasks, TASK_BOUND).await;
    let before = snapshot(&cluster.node_clients).await;

    let mut failures = Vec::new();
    for write in bad_writes(&documents[..50]) {
        let answer = cluster.gateway.send(write.method.clone(), &write.path, write.content_type, Some(write.body.clone())).await;
        match write.refusal {
            Err((status, code)) => {
                if answer.status != status || answer.body["code"] != code || !answer.is_meilisearch_error() {
                    failures.push(format!("{}: expected {status} {code}, got {} {}", write.name, answer.status, answer.body));
                }
            }
            Ok(code) if answer.status == 202 => {
                let task = cluster.gateway.wait_task(answer.task_uid(), TASK_BOUND).await;
                let message = task["error"]["message"].as_str().unwrap_or_default();
                if task["status"] != "failed" || task["error"]["code"] != code {
                    failures.push(format!("{}: expected a task failed with {code}, got {task}", write.name));
                } else if message.contains("__rank-") || message.contains("_miroir_shard") {
                    failures.push(format!("{}: the error names a node index: {message}", write.name));
                }
            }
            Ok(code) => {
                failures.push(format!("{}: expected 202 and a task failed with {code}, got {} {}", write.name, answer.status, answer.body))
            }
        }
    }
    // Let anything wrongly sent to the nodes land before comparing: a good write to every shard
    // of the index after the bad ones is applied after them on every shard.
    let marker = cluster.gateway.json(Method::PATCH, &format!("/indexes/{INDEX}/settings"), &json!({"sortableAttributes": ["name"]})).await;
    cluster.gateway.expect_succeeded(&[marker.task_uid()], TASK_BOUND).await;
    let after = snapshot(&cluster.node_clients).await;
    let mut changed = Vec::new();
    for (node, indexes) in &after {
        for (uid, held) in indexes {
            // A failed first addition still creates its (empty) index, as on Meilisearch.
            let unchanged = before[node].get(uid).map_or(held.is_empty(), |was| was == held);
            if !unchanged {
                changed.push(format!("{node} {uid}: {} documents, {} before", held.len(), before[node].get(uid).map_or(0, |d| d.len())));
            }
        }
    }
    assert!(
        changed.is_empty() && failures.is_empty(),
        "bad writes changed nodes:\n{}\nwrong refusals:\n{}",
        changed.join("\n"),
        failures.join("\n")
    );
    // Meilisearch creates the index of a first addition that fails (the recorded transcript
    // deletes `ambiguous` after its addition failed), with no document in it.
    let created = cluster.gateway.get("/indexes/nocandidate").await;
    assert_eq!((created.status, created.body["primaryKey"].clone()), (200, Value::Null), "{created:?}");
}
