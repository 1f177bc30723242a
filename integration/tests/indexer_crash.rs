//! kill -9 of `miroir-indexer` in the middle of a stream of thousands of document writes (with
//! replacements, partial updates of the same ids and deletions, so a lost, doubled or stale
//! version would show), then a restart: every replica ends exactly equal to the model of what
//! was written, and every (task, shard, replica) has a succeeded event.

use anyhow::Result;
use miroir_clients::log::PartitionReader;
use miroir_integration::brokers::LogKind;
use miroir_integration::indexer_cluster::{event_counts, IndexerCluster, CONVERGE_TIMEOUT};
use miroir_integration::wait::{wait_until, Deadline, Progress};
use miroir_schemas::envelope::decode;
use miroir_schemas::task_log::TaskEvent;
use std::collections::BTreeSet;
use std::time::Duration;

/// Reads events until at least `wanted` distinct (task, shard, replica) keys were seen.
async fn wait_for_distinct_events(readers: &mut [Box<dyn PartitionReader>], wanted: usize) -> Result<usize> {
    let mut seen = BTreeSet::new();
    wait_until(Deadline::after(CONVERGE_TIMEOUT).polling_every(Duration::ZERO), format!("{wanted} events did not arrive"), async || {
        if seen.len() >= wanted {
            return Ok(Progress::Done(seen.len()));
        }
        for reader in readers.iter_mut() {
            for record in reader.next_batch(10_000, Duration::from_millis(50)).await? {
                let e: TaskEvent = decode(&record.payload)?;
                seen.insert((e.task_uid, e.shard, e.replica));
            }
        }
        Ok(Progress::Waiting(format!("only {} arrived", seen.len())))
    })
    .await
}

async fn kill9_mid_stream(backend: LogKind) -> Result<()> {
    let mut cluster = IndexerCluster::start(backend, 3, 4, 2).await?;
    cluster.create_index().await?;
    // 40 tasks × 100 documents over 1500 ids: every id written two or three times, a few deleted.
    cluster.write_stream(7, 40, 100, 1500, 6).await?;
    let total = cluster.expected_event_keys().len();

    // Readers opened and fetching before the indexer starts, so the kill lands mid-stream.
    let mut readers = cluster.event_readers().await?;
    for reader in &mut readers {
        assert!(reader.next_batch(1, Duration::from_millis(500)).await?.is_empty());
    }
    // Small polls: the stream takes many steps, so the kill lands between two of them even when
    // the event readers see events late (Kafka fetches).
    let mut first = cluster.spawn_indexer_polling("m1", 10)?;
    let seen = wait_for_distinct_events(&mut readers, total / 3).await?;
    first.check_alive()?;
    first.kill9();
    assert!(seen < total, "the stream was already done before the kill");

    // More writes while no indexer runs, then a new process (a new member name, as a new pod).
    cluster.write_stream(8, 20, 100, 1500, 5).await?;
    let mut second = cluster.spawn_indexer("m2")?;
    let events = cluster.wait_for_events(&mut [&mut second]).await?;
    event_counts(&events)?;
    cluster.assert_nodes_match_model().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_kill9_mid_stream_loses_and_doubles_nothing() -> Result<()> {
    kill9_mid_stream(LogKind::Nats).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_kill9_mid_stream_loses_and_doubles_nothing() -> Result<()> {
    kill9_mid_stream(LogKind::Kafka).await
}
