//! `miroirctl cdc tail` on real logs. On NATS, end to end: after writes through the gateway, the
//! tail of an index from the start prints one `documentUpserted` event per document the
//! reconciler published, one JSON object per line, and nothing of another index. On NATS and
//! Kafka, on a bare broker: records appended to `cdc` are printed as stored, filtered by index,
//! from `start`, `end` or an offset, with `--positions`.
//!
//! Needs the binaries of the same profile: `cargo build --workspace --bins`.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use miroir_clients::log::{partition_for_key, KafkaLog, LogConfig, NatsLog, Topic, WriteLog};
use miroir_integration::brokers::{Broker, LogKind};
use miroir_integration::cluster::Cluster;
use miroir_integration::locate::MiroirBinaries;
use miroir_integration::recorded::{http_client, MASTER_KEY};
use miroir_integration::wait::{wait_until, Deadline, Progress};
use serde_json::{json, Value};

/// The lines `miroirctl cdc tail --stop-at-end <args>` prints, parsed.
fn tail(mut command: Command, args: &[&str]) -> Vec<Value> {
    let output = command.args(["cdc", "tail", "--stop-at-end"]).args(args).output().expect("running miroirctl");
    assert!(output.status.success(), "miroirctl cdc tail {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().map(|line| serde_json::from_str(line).expect("one JSON object per line")).collect()
}

async fn create_and_write(cluster: &Cluster, index: &str, documents: Value) {
    let client = http_client();
    let create = json!({"uid": index, "primaryKey": "id"});
    for (path, body) in [("/indexes".to_owned(), create), (format!("/indexes/{index}/documents"), documents)] {
        let url = format!("{}{path}", cluster.gateway_url());
        let reply: Value = client.post(url).bearer_auth(MASTER_KEY).json(&body).send().await.unwrap().json().await.unwrap();
        assert!(reply["taskUid"].is_u64(), "{reply}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_what_the_reconciler_published_on_nats() {
    let cluster = Cluster::builder(LogKind::Nats).nodes(2).shards(2).master_key(MASTER_KEY).start().await.expect("starting the cluster");
    create_and_write(&cluster, "tailed", json!([{"id": 1, "title": "one"}, {"id": 2, "title": "two"}, {"id": 3, "title": "three"}])).await;
    create_and_write(&cluster, "other", json!([{"id": 9}])).await;
    let miroirctl = || cluster.spec.command(&cluster.binaries().miroirctl);

    let deadline = Deadline::after(Duration::from_secs(60)).polling_every(Duration::from_millis(200));
    let events = wait_until(deadline, "the tail never showed the three documents", async || {
        let events = tail(miroirctl(), &["--index", "tailed", "--from", "start"]);
        let upserted = events.iter().filter(|e| e["type"] == "documentUpserted").count();
        Ok(if upserted == 3 { Progress::Done(events) } else { Progress::Waiting(format!("{events:?}")) })
    })
    .await
    .unwrap();
    assert!(events.iter().all(|e| e["indexUid"] == "tailed"), "{events:?}");
    let ids: BTreeSet<&str> = events.iter().filter_map(|e| e["documentId"].as_str()).collect();
    assert_eq!(ids, BTreeSet::from(["1", "2", "3"]));
    assert!(events.iter().any(|e| e["document"] == json!({"id": 2, "title": "two"})), "{events:?}");
    assert_eq!(tail(miroirctl(), &["--index", "tailed", "--from", "end"]), Vec::<Value>::new());
}

/// Appends events of two indexes to `cdc` on a bare broker and tails them back.
async fn tail_reads_the_stored_records(kind: LogKind) {
    let broker = Broker::start(kind).expect("starting the broker");
    let prefix = format!("tail{}", uuid::Uuid::new_v4().simple());
    let config = LogConfig::new(prefix.clone());
    let log: Arc<dyn WriteLog> = match kind {
        LogKind::Nats => Arc::new(NatsLog::connect(broker.url(), config.clone()).await.expect("connect to NATS")),
        LogKind::Kafka => Arc::new(KafkaLog::connect(broker.url(), config.clone()).await.expect("connect to Kafka")),
    };
    let event = |index: &str, n: u32| json!({"eventId": format!("0-{n}-0"), "indexUid": index, "type": "documentDeleted", "documentId": n.to_string()});
    for (index, n) in [("movies", 0), ("books", 1), ("movies", 2), ("movies", 3)] {
        let payload = Bytes::from(event(index, n).to_string());
        log.append(Topic::Cdc, index, &format!("cdc:0-{n}-0"), payload).await.expect("appending to cdc");
    }
    let binaries = MiroirBinaries::beside_current_exe().expect("the built binaries");
    let miroirctl = || {
        let mut command = Command::new(&binaries.miroirctl);
        let backend = match kind {
            LogKind::Nats => "nats",
            LogKind::Kafka => "kafka",
        };
        command.env("MIROIR_LOG_BACKEND", backend).env("MIROIR_LOG_URL", broker.url()).env("MIROIR_TOPIC_PREFIX", &prefix);
        command
    };
    let movies = vec![event("movies", 0), event("movies", 2), event("movies", 3)];
    assert_eq!(tail(miroirctl(), &["--index", "movies", "--from", "start"]), movies);
    assert_eq!(tail(miroirctl(), &["--index", "movies", "--from", "end"]), Vec::<Value>::new());
    let partition = partition_for_key("movies", config.partitions(Topic::Cdc));
    let positioned = tail(miroirctl(), &["--index", "movies", "--from", "start", "--positions"]);
    let offsets: Vec<u64> = positioned.iter().map(|line| line["offset"].as_u64().unwrap()).collect();
    assert!(positioned.iter().all(|line| line["partition"] == partition), "{positioned:?}");
    let resumed = offsets[1].to_string();
    assert_eq!(tail(miroirctl(), &["--index", "movies", "--from", &resumed]), movies[1..].to_vec(), "resuming at an offset");
    let everything = tail(miroirctl(), &["--from", "start"]);
    assert_eq!(everything.len(), 4, "{everything:?}");
    assert!(everything.contains(&event("books", 1)), "{everything:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_reads_nats() {
    tail_reads_the_stored_records(LogKind::Nats).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_reads_kafka() {
    tail_reads_the_stored_records(LogKind::Kafka).await;
}
