use super::*;
use miroir_schemas::error::{Code, ResponseError};
use miroir_schemas::task_log::{ReplicaStatus, ShardTarget, TaskType};
use miroir_schemas::topology::ShardId;
use proptest::prelude::*;
use time::OffsetDateTime;

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000 + seconds).unwrap()
}

/// A document task on shards 1 and 3, each held by nodes `a` and `b`.
fn record() -> TaskRecord {
    let mut record = TaskRecord::new(TaskType::DocumentAdditionOrUpdate, Some("movies".into()), None, at(0));
    record.targets = [3, 1].map(|shard| ShardTarget { shard: ShardId(shard), replicas: vec!["a".into(), "b".into()] }).to_vec();
    record
}

fn event(task_uid: u64, shard: u32, replica: &str, status: ReplicaStatus, finished: i64) -> TaskEvent {
    TaskEvent {
        schema_version: 1,
        task_uid,
        shard: ShardId(shard),
        replica: replica.into(),
        status,
        error: (status == ReplicaStatus::Failed).then(|| ResponseError::new(Code::InvalidDocumentGeoField, "bad geo")),
        counts: Default::default(),
        started_at: at(1),
        finished_at: at(finished),
    }
}

fn all_replicas(task_uid: u64, failing: Option<(u32, &str)>) -> Vec<TaskEvent> {
    let mut events = Vec::new();
    for (i, (shard, replica)) in [(1, "a"), (1, "b"), (3, "a"), (3, "b")].into_iter().enumerate() {
        let status = if failing == Some((shard, replica)) { ReplicaStatus::Failed } else { ReplicaStatus::Succeeded };
        events.push(event(task_uid, shard, replica, status, 10 + i as i64));
    }
    events
}

#[test]
fn a_task_is_applied_once_every_replica_succeeded_at_its_last_finish() {
    let mut outcomes = TaskOutcomes::new();
    outcomes.apply_task(0, record());
    let events = all_replicas(0, None);
    for event in &events[..3] {
        outcomes.apply_event(event.clone());
        assert_eq!(outcomes.verdict(0, ShardId(1)), None, "a replica has not reported yet");
    }
    assert_eq!(outcomes.waiting(), 1);
    outcomes.apply_event(events[3].clone());
    let applied = Some(Verdict::Applied(AppliedTask { finished_at: at(13), first_shard: Some(ShardId(1)) }));
    assert_eq!([outcomes.verdict(0, ShardId(1)), outcomes.verdict(0, ShardId(3))], [applied, applied]);
    assert_eq!(outcomes.waiting(), 0);
}

#[test]
fn a_failed_replica_fails_its_shard_only_and_events_may_come_before_the_record() {
    let mut outcomes = TaskOutcomes::new();
    for event in all_replicas(0, Some((3, "b"))) {
        outcomes.apply_event(event);
    }
    assert_eq!(outcomes.verdict(0, ShardId(3)), None, "the record is not folded yet");
    outcomes.apply_task(0, record());
    assert_eq!(outcomes.verdict(0, ShardId(3)), Some(Verdict::Failed));
    // The gateway shows the task failed, but shard 1's replicas hold its changes.
    assert!(matches!(outcomes.verdict(0, ShardId(1)), Some(Verdict::Applied(_))));
}

#[test]
fn a_task_failed_when_enqueued_and_a_canceled_task_are_not_applied() {
    let mut outcomes = TaskOutcomes::new();
    let mut failed = record();
    failed.error = Some(ResponseError::new(Code::InvalidDocumentId, "bad id"));
    outcomes.apply_task(0, failed);
    outcomes.apply_task(1, record());
    outcomes.apply_change(&TaskChange::TasksCanceled { cancelation_uid: 2, tasks: vec![1], at: at(5) });
    for shard in [ShardId(1), ShardId(3)] {
        assert_eq!(outcomes.verdict(0, shard), Some(Verdict::Failed));
        assert_eq!(outcomes.verdict(1, shard), Some(Verdict::Canceled));
    }
}

#[test]
fn a_started_task_is_not_canceled_by_a_later_cancelation() {
    let mut outcomes = TaskOutcomes::new();
    outcomes.apply_task(0, record());
    outcomes.apply_change(&TaskChange::TasksStarted { tasks: vec![0] });
    outcomes.apply_change(&TaskChange::TasksCanceled { cancelation_uid: 1, tasks: vec![0], at: at(5) });
    assert_eq!(outcomes.verdict(0, ShardId(1)), None);
    all_replicas(0, None).into_iter().for_each(|event| outcomes.apply_event(event));
    assert!(matches!(outcomes.verdict(0, ShardId(1)), Some(Verdict::Applied(_))));
}

#[test]
fn events_of_skipped_or_other_tasks_are_not_kept() {
    let mut outcomes = TaskOutcomes::new();
    outcomes.skip_task(0);
    outcomes.apply_task(1, record());
    all_replicas(0, None).into_iter().for_each(|event| outcomes.apply_event(event));
    assert!(outcomes.early_events.is_empty() && outcomes.verdict(0, ShardId(1)).is_none());
    // A repeated event of a decided task changes nothing.
    all_replicas(1, Some((1, "a"))).into_iter().for_each(|event| outcomes.apply_event(event));
    all_replicas(1, None).into_iter().for_each(|event| outcomes.apply_event(event));
    assert_eq!(outcomes.verdict(1, ShardId(1)), Some(Verdict::Failed));
}

proptest! {
    /// Wherever the record falls among its events, nothing is decided before every replica
    /// reported (the gateway's task is not finished either); then a shard is applied iff none
    /// of its replicas failed.
    #[test]
    fn a_shard_is_applied_once_all_replicas_reported_and_none_of_its_own_failed(
        failing in prop::option::of((prop::sample::select(vec![1u32, 3]), prop::sample::select(vec!["a", "b"]))),
        order in Just((0..4).collect::<Vec<usize>>()).prop_shuffle(),
        record_after in 0usize..=4,
        reported in 0usize..=4,
    ) {
        let events = all_replicas(0, failing);
        let delivered: Vec<TaskEvent> = order.iter().take(reported).map(|&i| events[i].clone()).collect();
        let mut outcomes = TaskOutcomes::new();
        for (i, event) in delivered.iter().enumerate() {
            if i == record_after {
                outcomes.apply_task(0, record());
            }
            outcomes.apply_event(event.clone());
        }
        outcomes.apply_task(0, record());
        prop_assert_eq!(fold_task(0, &record(), &delivered).status.is_finished(), reported == 4);
        for shard in [1, 3] {
            let expected = (reported == 4).then(|| match failing {
                Some((failed, _)) if failed == shard => Verdict::Failed,
                _ => Verdict::Applied(AppliedTask { finished_at: at(13), first_shard: Some(ShardId(1)) }),
            });
            prop_assert_eq!(outcomes.verdict(0, ShardId(shard)), expected);
        }
    }
}

/// A record repeating an earlier one's idempotency key is no task: its gateway appended no
/// operations and no replica will report it, so it is not kept waiting.
#[test]
fn a_repeated_keyed_record_is_not_waited_for() {
    use miroir_schemas::task_log::IdempotencyClaim;
    let keyed = || {
        let mut record = record();
        record.idempotency = Some(IdempotencyClaim { key: "*/k".into(), request_digest: "d".into(), window_seconds: 60 });
        record
    };
    let mut outcomes = TaskOutcomes::new();
    outcomes.apply_task(0, keyed());
    outcomes.apply_task(1, keyed());
    assert_eq!(outcomes.waiting(), 1, "only the first record is a task");
    for event in all_replicas(0, None) {
        outcomes.apply_event(event);
    }
    assert_eq!(outcomes.waiting(), 0);
    assert_eq!(outcomes.verdict(1, ShardId(1)), None);
}
