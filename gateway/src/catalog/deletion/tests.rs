use super::*;
use crate::catalog::test_history::*;
use crate::catalog::TaskLogEntry;
use miroir_schemas::task_log::ReplicaStatus;
use proptest::prelude::*;
use serde_json::{json, Value};

proptest! {
    /// Whatever pace each log is read at, every gateway ends with the same tasks kept, the same
    /// task objects (statuses, cancelations and deletion counts), the same retired renames and
    /// the same memory as the gateway that decided the deletions.
    #[test]
    fn every_gateway_deletes_the_same_tasks(steps in steps(), choices in prop::collection::vec(any::<u8>(), 1..64)) {
        let mut history = History::new();
        for step in &steps {
            history.step(step);
        }
        let count = history.logs.tasks.len();
        let mut replayed = Catalog::new();
        fold_interleaved(&mut replayed, &history.logs, &choices, usize::MAX);
        prop_assert_eq!(views(&replayed, count), views(&history.decider, count));
        prop_assert_eq!(replayed.retired_renames(), history.decider.retired_renames());
        prop_assert_eq!(replayed.footprint(), history.decider.footprint());
        // A deletion never removes an unfinished task, nor itself or a later task.
        for (uid, entry) in history.logs.tasks.iter().enumerate() {
            if let Some(plan) = &entry.deletes {
                prop_assert!(plan.tasks.iter().all(|deleted| deleted < uid as u64));
            }
        }
        for uid in 0..count as u64 {
            if let Some(view) = history.decider.task_view(uid) {
                prop_assert!(history.decider.tasks.contains(uid));
                prop_assert_ne!(view["status"].clone(), json!(null));
            }
        }
    }
}

#[test]
fn a_deletion_removes_the_named_tasks_still_kept_before_it_and_counts_them() {
    let mut history = History::new();
    for _ in 0..4 {
        history.step(&Step::Write);
    }
    // 2 and 3 finish (3 fails on one replica); 4 and 5 stay enqueued.
    for (choice, fails) in [(0, false), (1, true)] {
        history.step(&Step::Start(choice));
        history.step(&Step::Finish(choice, fails));
    }
    let plan = history.decider.plan_deletion([0, 2, 3, 4, 5], NO_LIMIT);
    assert_eq!(plan.tasks.iter().collect::<Vec<_>>(), [0, 2, 3], "enqueued tasks are never deleted");
    let first = history.task(deletion(6, plan.clone()));
    let view = Value::Object(history.decider.task_view(first).unwrap());
    assert_eq!(view["status"], "succeeded");
    assert_eq!(view["details"], json!({"matchedTasks": 3, "deletedTasks": 3, "originalFilter": "?uids=*"}));
    for uid in [0, 2, 3] {
        assert_eq!(history.decider.task_view(uid), None, "task {uid} is gone");
    }
    // The same plan again deletes nothing more; a plan naming the deletion's own uid or a
    // later one deletes neither.
    let again = history.task(deletion(7, plan));
    assert_eq!(history.decider.task_view(again).unwrap()["details"]["deletedTasks"], 0);
    let own = TaskDeletionPlan { tasks: UidRuns::from_sorted([1, 8, 9]), kept_renames: Vec::new(), meta_position: 0, automatic: false };
    let third = history.task(deletion(8, own));
    assert_eq!(history.decider.task_view(third).unwrap()["details"]["deletedTasks"], 1);
    assert!(history.decider.task_view(8).is_some());
    // An earlier deletion can be deleted.
    let plan = history.decider.plan_deletion([first, again], NO_LIMIT);
    let fourth = history.task(deletion(9, plan));
    assert_eq!(history.decider.task_view(fourth).unwrap()["details"]["deletedTasks"], 2);
    assert_eq!(history.decider.task_view(first), None);
}

#[test]
fn events_and_cancelation_records_of_deleted_tasks_leave_nothing_behind() {
    let mut history = History::new();
    history.step(&Step::Write); // 2
    history.step(&Step::Write); // 3
    history.step(&Step::Cancel(vec![1])); // 4 cancels 3
    history.step(&Step::Start(0));
    history.step(&Step::Finish(0, false));
    let plan = history.decider.plan_deletion(0..5, NO_LIMIT);
    assert_eq!(plan.tasks.iter().collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    history.task(deletion(5, plan));
    let catalog = &mut history.decider;
    assert_eq!(catalog.footprint(), 1, "only the deletion is left");
    // Late records about deleted tasks: an indexer announcing 2 again, a repeated cancelation
    // record, an event for 3 — all dropped.
    catalog.apply_task_change(&TaskChange::TasksStarted { tasks: vec![2] });
    catalog.apply_task_change(&TaskChange::TasksCanceled { cancelation_uid: 4, tasks: vec![3], at: at(4) });
    catalog.apply_event(event(3, "n0", ReplicaStatus::Succeeded));
    assert_eq!(catalog.footprint(), 1);
}

#[test]
fn a_gateway_behind_on_meta_counts_cancelations_as_the_decider_did() {
    // The decider folded 3's cancelation, so 3 was finished (canceled) and deleted; a gateway
    // that reads the deletion before the cancelation record still counts 3 as canceled by 4.
    let mut history = History::new();
    history.step(&Step::Write); // 2
    history.step(&Step::Write); // 3
    history.step(&Step::Cancel(vec![1])); // 4 cancels 3
    let plan = history.decider.plan_deletion([3], NO_LIMIT);
    history.task(deletion(5, plan));
    let mut behind = Catalog::new();
    for (uid, entry) in history.logs.tasks.iter().enumerate() {
        behind.apply_task(uid as u64, entry.clone());
    }
    assert!(behind.book_forgets.waiting.contains(&3), "3 is deleted; the book keeps it until meta is read as far as the decider had");
    behind.apply_task_change(&history.logs.meta[0]);
    behind.pass_meta(1);
    assert_eq!(behind.task_view(4), history.decider.task_view(4));
    assert_eq!(Value::Object(behind.task_view(4).unwrap())["details"]["canceledTasks"], 1);
    assert_eq!(behind.footprint(), history.decider.footprint());
}

#[test]
fn a_deleted_swap_keeps_renaming_the_tasks_before_it_until_none_is_left() {
    let mut history = History::new();
    history.step(&Step::Write); // 2, on `a`
    history.step(&Step::Swap); // 3
    history.step(&Step::Start(1));
    history.step(&Step::Finish(1, false));
    let plan = history.decider.plan_deletion([3], NO_LIMIT);
    assert_eq!(plan.kept_renames, [3]);
    history.task(deletion(4, plan));
    assert_eq!(history.decider.retired_renames(), [RetiredRename { uid: 3, pairs: vec![("a".into(), "b".into())] }]);
    // Once every task before the swap is gone, its names matter to no one.
    let plan = history.decider.plan_deletion([0, 1, 2], NO_LIMIT);
    assert_eq!(plan.tasks.iter().collect::<Vec<_>>(), [0, 1], "2 is still enqueued");
    history.task(deletion(5, plan));
    assert_eq!(history.decider.retired_renames().len(), 1, "2 predates the swap");
    history.step(&Step::Start(0));
    history.step(&Step::Finish(0, true));
    let plan = history.decider.plan_deletion([2], NO_LIMIT);
    history.task(deletion(6, plan));
    assert!(history.decider.retired_renames().is_empty());
}

#[test]
fn memory_follows_the_tasks_kept_not_the_log() {
    // 20,000 writes, each started and finished on both replicas; every 1,000 a deletion of
    // everything finished. The catalog never holds more than one round's worth.
    let mut history = History::new();
    let mut peak = 0;
    for round in 0..20 {
        for _ in 0..1_000 {
            let uid = history.next_uid();
            history.task(write(uid));
            history.meta(TaskChange::TasksStarted { tasks: vec![uid] });
            for replica in REPLICAS {
                history.decider.apply_event(event(uid, replica, ReplicaStatus::Succeeded));
            }
        }
        peak = peak.max(history.decider.footprint());
        let uid = history.next_uid();
        let plan = history.decider.plan_deletion(0..uid, NO_LIMIT);
        assert!(plan.tasks.encoded_len() < 40, "round {round}: consecutive tasks take one run");
        history.task(deletion(uid, plan));
        assert_eq!(history.decider.footprint(), 1, "round {round}: only the deletion is left");
    }
    // A kept task holds its record, two events and its start: 4 entries.
    assert!(peak <= 4 * 1_002 + 20, "{peak}");
    assert_eq!(history.decider.cancelations.len(), 0);
}

#[test]
fn plans_read_back_from_the_log() {
    let plan = TaskDeletionPlan { tasks: UidRuns::from_sorted([1, 2, 3, 7]), kept_renames: vec![7], meta_position: 12, automatic: true };
    let entry = deletion(9, plan);
    let text = String::from_utf8(miroir_schemas::envelope::encode(&entry)).unwrap();
    assert!(text.contains(r#""deletes":{"tasks":[1,3,3,1],"keptRenames":[7],"metaPosition":12,"automatic":true}"#), "{text}");
    let back: TaskLogEntry = miroir_schemas::envelope::decode(text.as_bytes()).unwrap();
    assert_eq!(back, entry);
    // Readers that know only task records ignore it.
    let plain: TaskRecord = miroir_schemas::envelope::decode(text.as_bytes()).unwrap();
    assert_eq!(plain, entry.record);
}
