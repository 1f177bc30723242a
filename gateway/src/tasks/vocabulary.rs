//! Task kinds and statuses as Meilisearch 1.50 names them, in its declaration order (which is
//! the order its error messages list them in), and how its scheduler treats each kind.

/// Every task kind Meilisearch 1.50 knows, in `enum Kind` order. Miroir produces only some of
/// them, but a filter may name any of them (and then matches nothing).
pub const KINDS: [&str; 18] = [
    "documentAdditionOrUpdate",
    "documentEdition",
    "documentDeletion",
    "settingsUpdate",
    "indexCreation",
    "indexDeletion",
    "indexUpdate",
    "indexSwap",
    "taskCancelation",
    "taskDeletion",
    "dumpCreation",
    "snapshotCreation",
    "export",
    "upgradeDatabase",
    "indexCompaction",
    "networkTopologyChange",
    "dsrUpdate",
    "dsrClear",
];

/// Every task status, in `enum Status` order.
pub const STATUSES: [&str; 5] = ["enqueued", "processing", "succeeded", "failed", "canceled"];

/// The statuses of a task that is done: only these can be deleted.
pub fn is_finished(status: &str) -> bool {
    matches!(status, "succeeded" | "failed" | "canceled")
}

/// The canonical spelling of `name` in `vocabulary`, matched ignoring ASCII case as
/// Meilisearch's `FromStr` for `Kind` and `Status` does.
pub fn canonical(vocabulary: &[&'static str], name: &str) -> Option<&'static str> {
    vocabulary.iter().copied().find(|known| known.eq_ignore_ascii_case(name))
}

/// Whether a kind concerns exactly one index (Meilisearch's `Kind::related_to_one_index`):
/// the others are left out of results whenever a request filters on `indexUids`.
pub fn related_to_one_index(kind: &str) -> bool {
    matches!(
        kind,
        "documentAdditionOrUpdate"
            | "documentEdition"
            | "documentDeletion"
            | "settingsUpdate"
            | "indexCreation"
            | "indexDeletion"
            | "indexUpdate"
            | "indexCompaction"
            | "dsrUpdate"
            | "dsrClear"
    )
}

/// The `batchStrategy` Meilisearch's scheduler writes for a batch holding only task `uid` of
/// `kind`. Kinds its autobatcher never batches with others get their fixed reason; kinds it
/// does batch get "batched all enqueued tasks" (the reason when nothing else was waiting,
/// which is what a one-task batch means).
pub fn batch_strategy(kind: &str, uid: u64) -> String {
    match kind {
        "indexCreation" | "indexUpdate" | "indexSwap" | "documentEdition" | "taskCancelation" | "indexCompaction" | "export"
        | "dumpCreation" => {
            format!("created batch containing only task with id {uid} of type `{kind}` that cannot be batched with any other task.")
        }
        "indexDeletion" => format!("stopped after task with id {uid} because it deletes the index"),
        "taskDeletion" | "snapshotCreation" | "upgradeDatabase" => {
            format!("stopped after the last task of type `{kind}` because they cannot be batched with tasks of any other type.")
        }
        _ => "batched all enqueued tasks".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_matched_ignoring_case() {
        assert_eq!(canonical(&KINDS, "DOCUMENTadditionOrUpdate"), Some("documentAdditionOrUpdate"));
        assert_eq!(canonical(&STATUSES, "Failed"), Some("failed"));
        assert_eq!(canonical(&STATUSES, " failed"), None, "no trimming, as Meilisearch");
        assert_eq!(canonical(&KINDS, "dsrclear"), Some("dsrClear"));
    }

    #[test]
    fn kinds_tied_to_one_index() {
        let unrelated: Vec<&str> = KINDS.iter().copied().filter(|k| !related_to_one_index(k)).collect();
        assert_eq!(
            unrelated,
            [
                "indexSwap",
                "taskCancelation",
                "taskDeletion",
                "dumpCreation",
                "snapshotCreation",
                "export",
                "upgradeDatabase",
                "networkTopologyChange"
            ]
        );
    }

    #[test]
    fn batch_strategies() {
        assert_eq!(batch_strategy("documentDeletion", 18), "batched all enqueued tasks");
        assert_eq!(
            batch_strategy("indexCreation", 0),
            "created batch containing only task with id 0 of type `indexCreation` that cannot be batched with any other task."
        );
        assert_eq!(batch_strategy("indexDeletion", 4), "stopped after task with id 4 because it deletes the index");
        assert_eq!(
            batch_strategy("taskDeletion", 9),
            "stopped after the last task of type `taskDeletion` because they cannot be batched with tasks of any other type."
        );
    }
}
