//! The snapshot store's contract on each real broker (`SnapshotStore`: put, put_reader, list,
//! get, open, head, delete, put_and_prune), with a snapshot several times the broker's message
//! limit so it is chunked.

use std::sync::Arc;

use bytes::Bytes;
use miroir_clients::log::LogConfig;
use miroir_clients::snapshots::{put_and_prune, KafkaSnapshotStore, NatsSnapshotStore, SnapshotName, SnapshotStore};
use miroir_integration::brokers::{Broker, LogKind};
use tokio::io::AsyncReadExt;

fn name(tasks: u64, digest: &str) -> SnapshotName {
    SnapshotName::new(tasks, tasks * 2, tasks / 2, digest).unwrap()
}

/// 3.5 MiB of bytes that differ from chunk to chunk, so a misplaced chunk shows.
fn big_snapshot() -> Bytes {
    (0..3_500_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<u8>>().into()
}

async fn open(kind: LogKind, broker: &Broker) -> Arc<dyn SnapshotStore> {
    let config = LogConfig::for_tests(format!("snapstore{}", std::process::id()));
    match kind {
        LogKind::Nats => Arc::new(NatsSnapshotStore::connect(broker.url(), &config).await.expect("the snapshot bucket")),
        LogKind::Kafka => Arc::new(KafkaSnapshotStore::connect(broker.url(), &config).await.expect("the snapshot topics")),
    }
}

fn sorted(mut names: Vec<SnapshotName>) -> Vec<SnapshotName> {
    names.sort();
    names
}

async fn the_contract_holds(kind: LogKind) {
    let broker = Broker::start(kind).expect("start the broker");
    let store = open(kind, &broker).await;
    assert_eq!(store.list().await.unwrap(), vec![]);
    assert_eq!(store.get(&name(1, "aa")).await.unwrap(), None);

    let big = big_snapshot();
    store.put(&name(1, "aa"), Bytes::from_static(b"one")).await.unwrap();
    store.put(&name(5, "bb"), big.clone()).await.unwrap();
    assert_eq!(sorted(store.list().await.unwrap()), vec![name(1, "aa"), name(5, "bb")]);
    assert_eq!(store.get(&name(5, "bb")).await.unwrap(), Some(big.clone()), "a chunked snapshot reads back whole");
    assert_eq!(store.get(&name(1, "aa")).await.unwrap(), Some(Bytes::from_static(b"one")));

    // A put replaces what the name held; a second store instance (another gateway) sees it.
    store.put(&name(1, "aa"), Bytes::from_static(b"uno")).await.unwrap();
    let other = open(kind, &broker).await;
    assert_eq!(other.get(&name(1, "aa")).await.unwrap(), Some(Bytes::from_static(b"uno")));

    store.delete(&name(5, "bb")).await.unwrap();
    store.delete(&name(5, "bb")).await.unwrap();
    assert_eq!(other.list().await.unwrap(), vec![name(1, "aa")]);
    assert_eq!(other.get(&name(5, "bb")).await.unwrap(), None);

    // Streamed in from a reader that gives uneven pieces, streamed out through `open`.
    let (front, back) = big.split_at(1_234_567);
    let mut pieces = std::io::Cursor::new(front).chain(std::io::Cursor::new(back));
    store.put_reader(&name(6, "dd"), &mut pieces).await.unwrap();
    let mut streamed = Vec::new();
    other.open(&name(6, "dd")).await.unwrap().expect("stored").read_to_end(&mut streamed).await.unwrap();
    assert!(streamed == big, "a snapshot streamed in reads back whole, streamed out");
    assert_eq!(other.head(&name(6, "dd"), 100).await.unwrap(), Some(big.slice(..100)));
    assert!(other.open(&name(5, "bb")).await.unwrap().is_none());
    store.delete(&name(6, "dd")).await.unwrap();

    for tasks in [3, 4] {
        put_and_prune(other.as_ref(), &name(tasks, "cc"), Bytes::from(tasks.to_string()), 2).await.unwrap();
    }
    assert_eq!(sorted(store.list().await.unwrap()), vec![name(3, "cc"), name(4, "cc")]);
    assert_eq!(store.get(&name(4, "cc")).await.unwrap(), Some(Bytes::from_static(b"4")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snapshot_store_contract_holds_on_nats() {
    the_contract_holds(LogKind::Nats).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snapshot_store_contract_holds_on_kafka() {
    the_contract_holds(LogKind::Kafka).await;
}
