//! The write path end to end on NATS JetStream: gateway → `tasks`/`ops` log → indexer → 3
//! Meilisearch nodes (S = 7, RF = 2), all as separate processes, checked by reading every
//! node's node indexes (`index__rank-r`) directly.
//!
//! Needs the gateway, indexer and reconciler binaries of the same profile:
//! `cargo build --workspace --bins` first. Nodes are real Meilisearch. The placement check ingests
//! the whole corpus (63,666 documents in 10k batches; `MIROIR_E2E_QUICK=1` ingests 6,000 for a
//! fast local loop); the other scenarios ingest 6,000.
//!
//! A node outage is simulated with SIGSTOP / SIGCONT (the node hangs, keeping its data, as a
//! node behind a network partition does).

mod e2e_write_support;

use std::time::Duration;

use e2e_write_support::contents::assert_placed;
use e2e_write_support::corpus::{corpus, doc_id, ndjson};
use e2e_write_support::gateway::Answer;
use e2e_write_support::scenarios::{self, contents_of, create_index, documents_path, post_batches, CONVERGE_BOUND, INDEX};
use e2e_write_support::{E2eCluster, TASK_BOUND};
use miroir_integration::brokers::LogKind;
use miroir_integration::wait::{wait_until, Deadline, Progress};
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn ingest_places_every_document_on_exactly_its_replicas() {
    let cluster = E2eCluster::start(LogKind::Nats, 2).await;
    scenarios::ingest_and_check_placement(&cluster, INDEX).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deletes_and_partial_updates_reach_every_replica() {
    scenarios::deletes_and_partial_updates_reach_every_replica(&E2eCluster::start(LogKind::Nats, 2).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn indexer_killed_mid_ingest_loses_nothing() {
    scenarios::indexer_killed_mid_ingest_loses_nothing(&mut E2eCluster::start(LogKind::Nats, 2).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn node_stopped_during_ingest_catches_up() {
    scenarios::node_stopped_during_ingest_catches_up(&E2eCluster::start(LogKind::Nats, 2).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_writes_change_nothing_on_any_node() {
    scenarios::bad_writes_change_nothing_on_any_node(&E2eCluster::start(LogKind::Nats, 2).await).await;
}

/// Asserts a write was refused with `503` and a Meilisearch error object.
fn assert_refused(answer: &Answer, what: &str) {
    assert_eq!(answer.status, 503, "{what} while the log is down must be refused with 503, got {answer:?}");
    assert!(answer.is_meilisearch_error(), "{what}: the 503 body is not a Meilisearch error object: {}", answer.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn broker_crash_refuses_writes_with_503_then_writes_resume() {
    let mut cluster = E2eCluster::start(LogKind::Nats, 2).await;
    create_index(&cluster).await;
    let documents = corpus(1_500);
    let (before, after) = documents.split_at(1_000);
    let tasks = post_batches(&cluster, INDEX, before, 500).await;
    cluster.gateway.expect_succeeded(&tasks, TASK_BOUND).await;

    cluster.cluster.broker.nats().kill9();
    let add = cluster.gateway.ndjson(Method::POST, &documents_path(), ndjson(after)).await;
    assert_refused(&add, "adding documents");
    let delete = cluster.gateway.send(Method::DELETE, &format!("{}/{}", documents_path(), doc_id(&before[0])), None, None).await;
    assert_refused(&delete, "deleting a document");
    let settings =
        cluster.gateway.json(Method::PATCH, &format!("/indexes/{INDEX}/settings"), &json!({"sortableAttributes": ["name"]})).await;
    assert_refused(&settings, "updating settings");
    let create = cluster.gateway.json(Method::POST, "/indexes", &json!({"uid": "other"})).await;
    assert_refused(&create, "creating an index");

    cluster.cluster.broker.nats().restart().expect("restarting nats-server");
    // Clients retry on 503; every answer is a 503 until the gateway is reconnected, then a 202.
    let deadline = Deadline::after(CONVERGE_BOUND).polling_every(Duration::from_millis(200));
    let task = wait_until(deadline, "writes did not resume after the broker restarted", async || {
        let answer = cluster.gateway.ndjson(Method::POST, &documents_path(), ndjson(after)).await;
        if answer.status == 202 {
            return Ok(Progress::Done(answer.task_uid()));
        }
        assert_refused(&answer, "adding documents after the broker restarted");
        Ok(Progress::Waiting(format!("{answer:?}")))
    })
    .await
    .unwrap_or_else(|error| panic!("{error:#}"));
    assert!(task > *tasks.last().unwrap(), "task uids keep increasing across the crash: {task} after {tasks:?}");
    cluster.gateway.expect_succeeded(&[task], TASK_BOUND).await;
    cluster.cluster.miroir().check_alive().expect("every Miroir process runs");
    // Exactly what was acknowledged: the refused deletion did not happen, no index was created.
    assert_placed(&cluster.node_clients, &cluster.placement, INDEX, &contents_of(&documents)).await;
    assert_eq!(cluster.gateway.get("/indexes/other").await.status, 404);
}
