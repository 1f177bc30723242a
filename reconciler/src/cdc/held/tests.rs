use super::*;
use miroir_schemas::cdc::AppliedTask;
use miroir_schemas::envelope::Op;
use miroir_schemas::topology::ShardId;
use proptest::prelude::*;
use std::collections::{BTreeSet, HashMap};
use time::OffsetDateTime;

/// One `ops` record: its key (index) and task; the record deletes a document named after its
/// offset, so each record gives exactly one event.
#[derive(Debug, Clone)]
struct Write {
    key: &'static str,
    task: u64,
}

fn envelope(op: &Write, offset: u64) -> OpEnvelope {
    OpEnvelope::new(op.task, Some(op.key.into()), ShardId(0), Op::DeleteDocuments { ids: vec![format!("doc{offset}")] })
}

fn applied() -> Verdict {
    Verdict::Applied(AppliedTask { finished_at: OffsetDateTime::UNIX_EPOCH, first_shard: Some(ShardId(0)) })
}

fn receive_all(held: &mut HeldOps, ops: &[Write], from: usize) {
    let now = Instant::now();
    for (offset, op) in ops.iter().enumerate().skip(from) {
        held.receive(0, offset as u64, op.key, Some(envelope(op, offset as u64)), 10, now);
    }
}

fn offsets(events: &[CdcEvent]) -> Vec<u64> {
    events.iter().map(|event| event.position.offset).collect()
}

fn ops_strategy() -> impl Strategy<Value = Vec<Write>> {
    prop::collection::vec((prop::sample::select(vec!["a", "b"]), 0u64..6).prop_map(|(key, task)| Write { key, task }), 0..30)
}

/// `None`: undecided.
fn verdicts_strategy() -> impl Strategy<Value = Vec<Option<u8>>> {
    prop::collection::vec(prop::option::of(0u8..3), 6)
}

fn verdict_of(verdicts: &[Option<u8>]) -> impl Fn(u64, ShardId) -> Option<Verdict> + '_ {
    |task, _| {
        verdicts[task as usize].map(|v| match v {
            0 => applied(),
            1 => Verdict::Failed,
            _ => Verdict::Canceled,
        })
    }
}

#[test]
fn an_undecided_task_holds_back_its_index_only_and_the_commit_stops_before_it() {
    let ops = [Write { key: "a", task: 0 }, Write { key: "b", task: 1 }, Write { key: "a", task: 2 }, Write { key: "b", task: 3 }];
    let mut held = HeldOps::new();
    receive_all(&mut held, &ops, 0);
    let undecided_1 = |task, _| (task != 1).then(applied);
    let release = held.release(undecided_1);
    assert_eq!(offsets(&release.events), [0, 2], "index b waits for task 1");
    assert_eq!(release.commits, [Position { partition: 0, offset: 0 }], "the commit stops before held offset 1");
    assert_eq!((held.len(), held.bytes()), (2, 20));

    let release = held.release(|task, _| (task != 3).then(applied).or(Some(Verdict::Failed)));
    assert_eq!(offsets(&release.events), [1]);
    assert_eq!(release.failed, 1);
    assert_eq!(release.commits, [Position { partition: 0, offset: 3 }]);
    assert!(held.is_empty() && held.oldest().is_none());
}

#[test]
fn the_first_commit_covers_a_released_prefix() {
    let ops = [Write { key: "a", task: 0 }, Write { key: "a", task: 1 }];
    let mut held = HeldOps::new();
    receive_all(&mut held, &ops, 0);
    let release = held.release(|task, _| (task == 0).then(applied));
    assert_eq!(release.commits, [Position { partition: 0, offset: 0 }]);
    assert_eq!(held.release(|task, _| (task == 0).then(applied)).commits, [], "nothing new to commit");
}

#[test]
fn an_unreadable_record_is_stepped_over_but_not_committed_past_a_held_one() {
    let mut held = HeldOps::new();
    let now = Instant::now();
    held.receive(0, 0, "a", Some(envelope(&Write { key: "a", task: 0 }, 0)), 10, now);
    held.receive(0, 1, "a", None, 10, now);
    assert!(held.release(|_, _| None).commits.is_empty());
    assert_eq!(held.release(|_, _| Some(applied())).commits, [Position { partition: 0, offset: 1 }]);
}

proptest! {
    /// Released events are those of applied tasks, per key a prefix of the key's records in
    /// log order that stops at the first undecided task; the commit never passes a held record;
    /// once every task is decided nothing stays held.
    #[test]
    fn release_keeps_log_order_per_key_and_never_commits_past_a_held_record(
        ops in ops_strategy(), verdicts in verdicts_strategy(),
    ) {
        let mut held = HeldOps::new();
        receive_all(&mut held, &ops, 0);
        let release = held.release(verdict_of(&verdicts));
        let mut expected = Vec::new();
        let mut blocked = BTreeSet::new();
        let mut first_held: Option<u64> = None;
        for (offset, op) in ops.iter().enumerate() {
            let offset = offset as u64;
            if blocked.contains(op.key) || verdicts[op.task as usize].is_none() {
                blocked.insert(op.key);
                first_held.get_or_insert(offset);
                continue;
            }
            if verdicts[op.task as usize] == Some(0) {
                expected.push((op.key, offset));
            }
        }
        let mut released: Vec<(&str, u64)> =
            release.events.iter().map(|e| (if e.index_uid == "a" { "a" } else { "b" }, e.position.offset)).collect();
        released.sort_by_key(|&(_, offset)| offset);
        prop_assert_eq!(released, expected.clone());
        for key in ["a", "b"] {
            let per_key: Vec<u64> = release.events.iter().filter(|e| e.index_uid == key).map(|e| e.position.offset).collect();
            prop_assert!(per_key.windows(2).all(|w| w[0] < w[1]), "{key}: {per_key:?}");
        }
        let committed = release.commits.first().map(|p| p.offset);
        match first_held {
            Some(first) => prop_assert_eq!(committed, first.checked_sub(1)),
            None => prop_assert_eq!(committed, ops.len().checked_sub(1).map(|n| n as u64)),
        }
        let rest = held.release(|_, _| Some(applied()));
        prop_assert!(held.is_empty());
        let all: BTreeSet<u64> = release.events.iter().chain(&rest.events).map(|e| e.position.offset).collect();
        prop_assert!(all.len() == release.events.len() + rest.events.len(), "no record released twice");
    }

    /// A partition read again from its commit (a new owner, a rejoin) loses nothing and, after
    /// de-duplication by event id, publishes what one uninterrupted pass publishes.
    #[test]
    fn reading_again_from_the_commit_loses_nothing(ops in ops_strategy(), verdicts in verdicts_strategy()) {
        let decided_at_last = |task: u64, shard| verdict_of(&verdicts)(task, shard).or(Some(applied()));
        let mut once = HeldOps::new();
        receive_all(&mut once, &ops, 0);
        let mut expected: Vec<(u64, String)> = once.release(decided_at_last).events.into_iter().map(|e| (e.position.offset, e.event_id)).collect();
        expected.sort();
        let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();

        let mut held = HeldOps::new();
        receive_all(&mut held, &ops, 0);
        let first = held.release(verdict_of(&verdicts));
        let restart_at = first.commits.first().map_or(0, |p| p.offset as usize + 1);
        receive_all(&mut held, &ops, restart_at);
        let second = held.release(decided_at_last);
        let mut seen = HashMap::new();
        for event in first.events.iter().chain(&second.events) {
            seen.entry(event.event_id.clone()).or_insert(event.position);
        }
        let mut published: Vec<(u64, String)> = seen.into_iter().map(|(id, position)| (position.offset, id)).collect();
        published.sort();
        let published: Vec<String> = published.into_iter().map(|(_, id)| id).collect();
        prop_assert_eq!(published, expected);
        prop_assert!(held.is_empty());
    }
}
