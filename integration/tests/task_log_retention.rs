//! `tasks` and `task-events` retention end to end on real nodes and NATS (docs/retention.md):
//! with `--task-log-retention-records` set and gateways writing snapshots, the reconciler trims
//! both logs below every kept snapshot, the webhook caller's commit and what CDC released,
//! keeping the window. Then:
//! * a gateway started afterwards (from a snapshot and the kept tail) answers `/tasks`,
//!   `/indexes` and `/keys` exactly as the gateway that saw everything, trimmed tasks included;
//! * a gateway told to ignore snapshots refuses to start, saying the log was trimmed, rather
//!   than serve a task store missing what was trimmed;
//! * a reconciler killed -9 and restarted on the trimmed logs goes on publishing CDC: every
//!   task's changes are in the stream exactly once, before and after the trims.

#[path = "cdc_support/stream.rs"]
mod stream;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use miroir_clients::log::{LogConfig, NatsLog, Topic, WriteLog};
use miroir_integration::brokers::LogKind;
use miroir_integration::cluster::Cluster;
use miroir_integration::master_calls::{call, get, send, wait_task};
use miroir_integration::recorded::MASTER_KEY;
use miroir_integration::wait::{wait_until, Deadline, Progress};
use reqwest::Method;
use serde_json::{json, Value};

const INDEX: &str = "books";
/// `tasks` records the reconciler keeps whatever else it could trim.
const WINDOW: u64 = 20;
const ROUNDS: usize = 5;
const TASKS_PER_ROUND: usize = 12;
const DOCS_PER_TASK: usize = 4;

struct Logs {
    log: Arc<dyn WriteLog>,
}

impl Logs {
    /// The `tasks` partition's (first kept, end) and every `task-events` partition's first kept.
    async fn kept(&self) -> Result<((u64, u64), Vec<u64>)> {
        let tasks = (self.log.first_offset(Topic::Tasks, 0).await?, self.log.end_offset(Topic::Tasks, 0).await?);
        let mut events = Vec::new();
        for partition in 0..self.log.config().partitions(Topic::TaskEvents) {
            events.push(self.log.first_offset(Topic::TaskEvents, partition).await?);
        }
        Ok((tasks, events))
    }
}

/// Writes one round of document additions; returns their task uids once all have succeeded.
async fn write_round(client: &reqwest::Client, base: &str, round: usize) -> Vec<u64> {
    let mut uids = Vec::new();
    for task in 0..TASKS_PER_ROUND {
        let documents: Vec<Value> =
            (0..DOCS_PER_TASK).map(|d| json!({ "id": (task * DOCS_PER_TASK + d) % 30, "round": round, "task": task })).collect();
        let (status, answer) = send(client.post(format!("{base}/indexes/{INDEX}/documents?primaryKey=id")).json(&documents)).await;
        assert_eq!(status, 202, "{answer}");
        uids.push(answer["taskUid"].as_u64().expect("a task uid"));
    }
    for uid in &uids {
        let done = wait_task(client, base, *uid).await;
        assert_eq!(done["status"], "succeeded", "{done}");
    }
    uids
}

/// What a client sees of the task store, the catalog and the keys.
async fn visible_state(client: &reqwest::Client, base: &str) -> Value {
    json!({
        "tasks": get(client, base, "/tasks?limit=1000").await,
        "oldestTasks": get(client, base, "/tasks?limit=5&from=4&reverse=true").await,
        "firstTask": get(client, base, "/tasks/0").await,
        "indexes": get(client, base, "/indexes").await,
        "keys": get(client, base, "/keys").await,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_task_logs_are_trimmed_and_every_reader_starts_from_what_is_kept() -> Result<()> {
    let mut cluster = Cluster::builder(LogKind::Nats)
        .nodes(2)
        .shards(2)
        .replication_factor(2)
        .master_key(MASTER_KEY)
        .topic_prefix("tlr")
        .env("MIROIR_SNAPSHOT_EVERY_TASKS", 5)
        .env("MIROIR_SNAPSHOT_INTERVAL_MS", 300)
        .env("MIROIR_SNAPSHOTS_KEPT", 2)
        .env("MIROIR_TASK_LOG_RETENTION_RECORDS", WINDOW)
        .env("MIROIR_TASK_LOG_RETENTION_GRACE_SECS", 1)
        .env("MIROIR_TASK_LOG_RETENTION_INTERVAL_SECS", 1)
        .env("MIROIR_OPS_RETENTION_RECORDS", 10)
        .env("MIROIR_OPS_RETENTION_INTERVAL_SECS", 1)
        .start()
        .await?;
    let client = reqwest::Client::new();
    let base = cluster.gateway_url().to_owned();
    let log: Arc<dyn WriteLog> = Arc::new(NatsLog::connect(cluster.broker.url(), LogConfig::new(cluster.spec.topic_prefix.clone())).await?);
    let logs = Logs { log: log.clone() };

    // Tasks that are no document write, so the trimmed ones are not all alike.
    let (status, key) =
        call(&client, &base, Method::POST, "/keys", Some(json!({"actions": ["search"], "indexes": [INDEX], "expiresAt": null}))).await;
    assert_eq!(status, 201, "{key}");
    let mut applied: BTreeMap<u64, usize> = BTreeMap::new();
    for round in 0..ROUNDS {
        applied.extend(write_round(&client, &base, round).await.into_iter().map(|uid| (uid, DOCS_PER_TASK)));
        if round == 1 {
            let (status, task) = call(&client, &base, Method::POST, "/tasks/cancel?uids=1", None).await;
            assert_eq!(status, 200, "Meilisearch answers a cancelation with 200: {task}");
            assert_eq!(wait_task(&client, &base, task["taskUid"].as_u64().unwrap()).await["status"], "succeeded");
        }
        let ((first, end), events) = wait_until(Deadline::after(Duration::from_secs(60)), "tasks was not trimmed", async || {
            let ((first, end), events) = logs.kept().await?;
            let trimmed = first + WINDOW + TASKS_PER_ROUND as u64 >= end;
            Ok(if end <= 2 * WINDOW || (trimmed && first > 0) {
                Progress::Done(((first, end), events))
            } else {
                Progress::Waiting(format!("tasks kept from {first} of {end}; task-events from {events:?}"))
            })
        })
        .await?;
        assert!(first == 0 || end - first >= WINDOW, "the newest {WINDOW} tasks records are kept (kept {first}..{end})");
        if first > 0 {
            assert!(events.iter().any(|&e| e > 0), "task-events is trimmed with tasks: {events:?}");
        }
        println!("round {round}: tasks kept from {first} of {end}; task-events from {events:?}");
    }
    let ((first, _), _) = logs.kept().await?;
    assert!(first > 2 * TASKS_PER_ROUND as u64, "the oldest rounds' task records are gone");
    assert!(cluster.process_output("reconciler").contains("log records trimmed"));

    // A gateway started now: from a snapshot and the kept tail.
    let before = visible_state(&client, &base).await;
    assert_eq!(before["firstTask"]["uid"], 0, "task 0, long trimmed from the log, is still in the task store: {}", before["firstTask"]);
    let (_late, late_url) = cluster.start_gateway_with("late-gateway", &[]).await?;
    wait_until(Deadline::after(Duration::from_secs(60)), "the late gateway answers differently", async || {
        let late = visible_state(&client, &late_url).await;
        Ok(if late == before { Progress::Done(()) } else { Progress::Waiting(format!("{late}\nvs\n{before}")) })
    })
    .await?;
    assert!(cluster.process_output("late-gateway").contains("starting from a snapshot"));

    // Without snapshots the trimmed history cannot be folded: the gateway says so and exits.
    let (mut blind, _) = cluster.spawn_gateway_with("blind-gateway", &[("MIROIR_IGNORE_SNAPSHOTS", "true".into())])?;
    let exit = wait_until(Deadline::after(Duration::from_secs(30)), "a gateway ignoring snapshots started on a trimmed log", async || {
        Ok(match blind.exited() {
            Some(status) => Progress::Done(status),
            None => Progress::Waiting("running".into()),
        })
    })
    .await?;
    assert!(!exit.success());
    let output = cluster.process_output("blind-gateway");
    assert!(output.contains("retention trimmed it"), "{output}");

    // The reconciler dies and restarts on the trimmed logs; CDC goes on.
    cluster.miroir().reconciler.kill9();
    cluster.miroir().reconciler.restart()?;
    applied.extend(write_round(&client, &base, ROUNDS).await.into_iter().map(|uid| (uid, DOCS_PER_TASK)));
    // The first write also created the index: one change more.
    *applied.get_mut(&0).expect("task 0 is a document write") += 1;
    let schema = stream::published_schema();
    let total: usize = applied.values().sum();
    let per_task = wait_until(Deadline::after(Duration::from_secs(90)), "the CDC stream is incomplete", async || {
        let delivered = stream::read_all(&log, &schema).await;
        let mut per_task: BTreeMap<u64, usize> = BTreeMap::new();
        stream::deduplicated(&delivered).values().flatten().for_each(|event| *per_task.entry(event.task_uid).or_default() += 1);
        let seen: usize = per_task.values().sum();
        Ok(if seen >= total { Progress::Done(per_task) } else { Progress::Waiting(format!("{seen} of {total} events")) })
    })
    .await?;
    assert_eq!(per_task, applied, "CDC events per task (left): one per document each task applied (right)");
    Ok(())
}
