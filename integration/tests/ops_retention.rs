//! `ops` retention end to end (docs/retention.md): with `--ops-retention-records` set, the
//! reconciler trims each `ops` partition below both consumer groups (indexers, CDC), keeping
//! the window; writes keep reaching every replica. Also measures the NATS store directory under
//! steady writes (printed; docs/benchmarks.md "ops retention").

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use miroir_clients::log::{partition_for_key, LogConfig, NatsLog, Topic, WriteLog};
use miroir_integration::brokers::LogKind;
use miroir_integration::cluster::Cluster;
use miroir_integration::disk::dir_bytes;
use miroir_integration::master_calls::{all_documents, send, wait_task};
use miroir_integration::recorded::MASTER_KEY;
use miroir_integration::wait::{wait_until, Deadline, Progress};
use miroir_schemas::envelope::ops_key;
use serde_json::{json, Value};

const INDEX: &str = "movies";
const WINDOW: u64 = 40;
const ROUNDS: usize = 8;
const TASKS_PER_ROUND: usize = 15;
const DOCS_PER_TASK: usize = 50;
/// Ids cycle through this space, so the index stops growing after the first rounds and only
/// the log could grow.
const ID_SPACE: usize = 600;

/// Bytes of the `ops` streams' directories and of every other stream's, under the NATS store.
fn stream_bytes(store: &Path, prefix: &str) -> (u64, u64) {
    let streams = store.join("jetstream").join("$G").join("streams");
    let ops = format!("{prefix}_ops_");
    let mut bytes = (0, 0);
    for entry in std::fs::read_dir(&streams).into_iter().flatten().flatten() {
        let size = dir_bytes(&entry.path());
        if entry.file_name().to_string_lossy().starts_with(&ops) {
            bytes.0 += size;
        } else {
            bytes.1 += size;
        }
    }
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_ops_are_trimmed_behind_every_consumer_keeping_the_window() -> Result<()> {
    let mut cluster = Cluster::builder(LogKind::Nats)
        .nodes(3)
        .shards(4)
        .replication_factor(2)
        .master_key(MASTER_KEY)
        .env("MIROIR_OPS_RETENTION_RECORDS", WINDOW)
        .env("MIROIR_OPS_RETENTION_INTERVAL_SECS", 1)
        .start()
        .await?;
    let client = reqwest::Client::new();
    let base = cluster.gateway_url().to_owned();
    let config = LogConfig::new(cluster.spec.topic_prefix.clone());
    let partition = partition_for_key(&ops_key(INDEX), config.ops_partitions);
    let log = NatsLog::connect(cluster.broker.url(), config).await?;
    let store = cluster.broker.nats().store_dir();

    let mut next_id = 0;
    let mut store_sizes = Vec::new();
    for round in 0..ROUNDS {
        let mut last = 0;
        for _ in 0..TASKS_PER_ROUND {
            let documents: Vec<Value> = (0..DOCS_PER_TASK)
                .map(|_| {
                    next_id = (next_id + 1) % ID_SPACE;
                    json!({ "id": next_id, "round": round, "text": "x".repeat(400) })
                })
                .collect();
            let (status, task) = send(client.post(format!("{base}/indexes/{INDEX}/documents?primaryKey=id")).json(&documents)).await;
            assert_eq!(status, 202, "{task}");
            last = task["taskUid"].as_u64().expect("a task uid");
        }
        let done = wait_task(&client, &base, last).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        // Both groups commit once the round is applied and published; the next passes trim.
        let end = log.end_offset(Topic::Ops, partition).await?;
        let first_kept = wait_until(Deadline::after(Duration::from_secs(60)), "ops was not trimmed to the window", async || {
            let first = log.first_offset(Topic::Ops, partition).await?;
            Ok(if first + WINDOW >= end && first > 0 {
                Progress::Done(first)
            } else {
                Progress::Waiting(format!("first kept {first}, end {end}"))
            })
        })
        .await?;
        assert_eq!(first_kept, end - WINDOW, "the newest {WINDOW} records are kept, no more");
        store_sizes.push((end, stream_bytes(&store, &cluster.spec.topic_prefix)));
    }
    let documents = all_documents(&client, &base, INDEX, "id").await;
    assert_eq!(documents.len(), ID_SPACE, "every id written is there");
    assert!(documents.iter().all(|d| d["round"] == json!(ROUNDS - 1) || d["round"] == json!(ROUNDS - 2)));
    let reconciler = cluster.process_output("reconciler");
    assert!(reconciler.contains("log records trimmed"), "{reconciler}");
    println!("after each round: (ops end offset, (bytes of the ops streams, bytes of every other stream)): {store_sizes:?}");
    // JetStream frees a file block once every message in it is purged, so the ops streams'
    // size is a sawtooth bounded by the window plus a block, not a line.
    assert!(store_sizes.windows(2).any(|w| w[1].1 .0 < w[0].1 .0), "the ops streams never shrank: {store_sizes:?}");
    Ok(())
}
