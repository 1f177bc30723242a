//! Compacting finished tasks (`finished.rs`, `Catalog::settle`) is a pure change of the fold:
//! a catalog that compacts and one that keeps every task open answer alike, at every step.

use super::test_history::*;
use super::*;
use miroir_schemas::task_log::ReplicaStatus;
use proptest::prelude::*;

fn open_catalog() -> Catalog {
    Catalog { keep_open: true, ..Catalog::new() }
}

/// The logs of `steps`, with the counts a node reports on every succeeded replica (so finished
/// document additions take the inline compact form).
fn logs_of(steps: &[Step]) -> Logs {
    let mut history = History::new();
    for step in steps {
        history.step(step);
    }
    for event in history.logs.events.iter_mut().filter(|event| event.status == ReplicaStatus::Succeeded) {
        event.counts.indexed_documents = Some(1);
    }
    history.logs
}

/// The summaries, with the details listings read (a swap's, an index update's).
fn summaries(catalog: &Catalog) -> Vec<String> {
    let read = |summary: TaskSummary| {
        let details = summary.details.filter(|_| matches!(summary.task_type, TaskType::IndexSwap | TaskType::IndexUpdate));
        format!("{:?}", TaskSummary { details, ..summary })
    };
    catalog.task_summaries().map(read).collect()
}

proptest! {
    /// Folding then compacting gives the same task views, summaries, cancelable tasks and
    /// deletion plans as folding alone, after every record of any history read at any pace.
    #[test]
    fn compacting_finished_tasks_changes_no_answer((steps, choices) in histories()) {
        let logs = logs_of(&steps);
        let (mut compacted, mut open) = (Catalog::new(), open_catalog());
        let records = logs.tasks.len() + logs.events.len() + logs.meta.len();
        let count = logs.tasks.len();
        let every: Vec<u64> = (0..count as u64).collect();
        for at in 0..records {
            let choice = [choices[at % choices.len()]];
            fold_interleaved(&mut compacted, &logs, &choice, 1);
            fold_interleaved(&mut open, &logs, &choice, 1);
            prop_assert_eq!(views(&compacted, count), views(&open, count));
            prop_assert_eq!(summaries(&compacted), summaries(&open));
            prop_assert_eq!(compacted.cancelable_tasks(&every), open.cancelable_tasks(&every));
            prop_assert_eq!(compacted.plan_deletion(every.clone(), NO_LIMIT), open.plan_deletion(every.clone(), NO_LIMIT));
            prop_assert_eq!(compacted.applied_renames(), open.applied_renames());
        }
        // Every finished task is compact once everything is folded.
        for (uid, task) in compacted.tasks.iter() {
            prop_assert!(matches!(task, KeptTask::Finished(_)) || !compacted.status(uid, task).is_finished(), "task {} left open", uid);
        }
    }
}

#[test]
fn a_finished_write_keeps_no_event_and_the_book_forgets_it() {
    let mut history = History::new();
    for step in [Step::Write, Step::Start(0), Step::Finish(0, false), Step::Write] {
        history.step(&step);
    }
    let catalog = &history.decider;
    assert!(matches!(catalog.tasks.get(2), Some(KeptTask::Finished(_))), "the finished write is compact");
    assert!(matches!(catalog.tasks.get(3), Some(KeptTask::Open(_))), "the enqueued one is not");
    // Two creations (no target: done at once), one finished write, one open write without
    // event; the cancelation book forgot that the finished write had started.
    assert!(!catalog.cancelations.started(2));
    assert_eq!(catalog.footprint(), 4 + 2, "tasks and the index names `a` and `b`");
}
