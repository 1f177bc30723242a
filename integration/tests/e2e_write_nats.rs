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

/// A client that retries a write until the gateway acknowledges it: `503` (the log is down) and
/// refused connections (the gateway restarts) are retried, as the issue asks of clients. Returns
/// the acknowledged task uid. `bound` only turns a hang into a failure.
async fn write_until_acknowledged(gateway_url: String, method: Method, path: String, content_type: &str, body: Vec<u8>) -> u64 {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let url = format!("{gateway_url}{path}");
    let deadline = Deadline::after(Duration::from_secs(120)).polling_every(Duration::from_millis(200));
    wait_until(deadline, format!("{path} was never acknowledged"), async || {
        let sent = http
            .request(method.clone(), &url)
            .bearer_auth(e2e_write_support::MASTER_KEY)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body.clone())
            .send()
            .await;
        let Ok(response) = sent else { return Ok(Progress::Waiting("the gateway did not answer".into())) };
        let status = response.status().as_u16();
        let answer: serde_json::Value = response.json().await.unwrap_or_default();
        match status {
            202 => Ok(Progress::Done(answer["taskUid"].as_u64().expect("an acknowledged task has a uid"))),
            503 => Ok(Progress::Waiting(answer.to_string())),
            other => anyhow::bail!("{path}: unexpected {other}: {answer}"),
        }
    })
    .await
    .unwrap_or_else(|error| panic!("{error:#}"))
}

/// Every part killed -9 in turn under an ingest with deletions: nats-server (restarted after
/// 5 s), then the gateway, the indexer and the reconciler (each restarted, as `miroir-dev` and
/// orchestrators do). No Miroir process exits on its own while the log is away; a client that
/// retries refused writes loses nothing; every acknowledged document is on exactly its RF
/// replicas and no acknowledged deletion is undone.
#[tokio::test(flavor = "multi_thread")]
async fn the_log_and_every_process_killed_under_ingest_lose_nothing() {
    let mut cluster = E2eCluster::start(LogKind::Nats, 2).await;
    create_index(&cluster).await;
    let url = cluster.cluster.gateway_url().to_owned();
    let documents = corpus(3_000);
    let batches: Vec<&[e2e_write_support::corpus::Document]> = documents.chunks(300).collect();
    let mut acknowledged = Vec::new();
    let mut deleted: Vec<String> = Vec::new();
    for (round, batch) in batches.iter().enumerate() {
        match round {
            2 => {
                cluster.cluster.broker.nats().kill9();
                // Writes in the meantime are refused (503) and retried; nothing may exit.
                let write = write_until_acknowledged(url.clone(), Method::POST, documents_path(), "application/x-ndjson", ndjson(*batch));
                let outage = async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    cluster.cluster.miroir().check_alive().expect("no Miroir process exits while the log is away");
                    cluster.cluster.broker.nats().restart().expect("restarting nats-server");
                };
                let (uid, ()) = tokio::join!(write, outage);
                acknowledged.push(uid);
                cluster.cluster.miroir().check_alive().expect("no Miroir process exits while the log is away");
                continue;
            }
            4 => {
                cluster.cluster.miroir().gateway.kill9();
                cluster.cluster.miroir().gateway.restart().expect("restarting the gateway");
            }
            6 => {
                cluster.cluster.miroir().indexer.kill9();
                cluster.cluster.miroir().indexer.restart().expect("restarting the indexer");
            }
            8 => {
                cluster.cluster.miroir().reconciler.kill9();
                cluster.cluster.miroir().reconciler.restart().expect("restarting the reconciler");
            }
            _ => {}
        }
        acknowledged
            .push(write_until_acknowledged(url.clone(), Method::POST, documents_path(), "application/x-ndjson", ndjson(*batch)).await);
        if round % 3 == 1 {
            // Delete a few documents written one round before, so a replayed older write would show.
            let gone: Vec<String> = batches[round - 1][..20].iter().map(|d| doc_id(d).to_owned()).collect();
            let body = serde_json::to_vec(&gone).unwrap();
            let path = format!("{}/delete-batch", documents_path());
            acknowledged.push(write_until_acknowledged(url.clone(), Method::POST, path, "application/json", body).await);
            deleted.extend(gone);
        }
    }
    cluster.cluster.miroir().wait_healthy(Duration::from_secs(60)).await.expect("the gateway answers");
    cluster.gateway.expect_succeeded(&acknowledged, TASK_BOUND).await;
    cluster.cluster.miroir().check_alive().expect("every Miroir process runs");
    let mut expected = contents_of(&documents);
    for id in &deleted {
        expected.remove(id);
    }
    assert_placed(&cluster.node_clients, &cluster.placement, INDEX, &expected).await;
}
