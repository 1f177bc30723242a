//! The per-replica apply checkpoint, kept by Meilisearch itself: every node task the indexer
//! enqueues carries `customMetadata = miroir:<ops partition>:<position of the last op>`,
//! stored atomically with the data it changes. The newest such task of a node index says how
//! far that replica got, so nothing else needs to remember it.
//!
//! A request that merged operations of several Miroir tasks also names its first position
//! (`miroir:<p>:<last>:<first>`): if it fails, the indexer re-sends those operations one task
//! at a time, so a failed merged task only proves that the operations *before* it were applied.

use miroir_clients::node::{TaskStatus, TaskView};

pub use miroir_schemas::checkpoint_marker::Marker;

/// What a node task says about a replica's progress in one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// Not a Miroir task of this partition, or canceled: look at older tasks.
    Unrelated,
    /// Still queued on the node: its outcome decides, so wait for it and ask again.
    Pending { task_uid: u64 },
    /// Every operation up to and including this position is applied (or failed for good).
    /// `None`: nothing of this partition is applied yet.
    AppliedThrough(Option<u64>),
}

/// Reads one node task, newest first, as checkpoint evidence for `partition`.
pub fn evidence(task: &TaskView, partition: u32) -> Evidence {
    let Some(marker) = task.custom_metadata.as_deref().and_then(Marker::parse) else {
        return Evidence::Unrelated;
    };
    if marker.partition != partition {
        return Evidence::Unrelated;
    }
    match task.status {
        TaskStatus::Enqueued | TaskStatus::Processing => Evidence::Pending { task_uid: task.uid },
        TaskStatus::Canceled => Evidence::Unrelated,
        // A node-side failure changed nothing and is replayed: what is older decides.
        TaskStatus::Failed if task.error.as_ref().is_some_and(crate::apply::is_node_side) => Evidence::Unrelated,
        TaskStatus::Succeeded => Evidence::AppliedThrough(Some(marker.last)),
        // A failed single-task request failed for good (the node changed nothing and would fail
        // it again); a failed merged request is retried op by op, so only what precedes it counts.
        TaskStatus::Failed => match marker.merged_from {
            None => Evidence::AppliedThrough(Some(marker.last)),
            Some(first) => Evidence::AppliedThrough(first.checked_sub(1)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(status: TaskStatus, metadata: Option<&str>) -> TaskView {
        TaskView {
            uid: 9,
            batch_uid: None,
            index_uid: Some("m__rank-0".into()),
            status,
            kind: "documentAdditionOrUpdate".into(),
            details: None,
            error: None,
            duration: None,
            enqueued_at: "2025-01-01T00:00:00Z".into(),
            started_at: None,
            finished_at: None,
            custom_metadata: metadata.map(str::to_owned),
        }
    }

    #[test]
    fn evidence_by_status() {
        use TaskStatus::*;
        assert_eq!(evidence(&task(Succeeded, Some("miroir:2:40")), 2), Evidence::AppliedThrough(Some(40)));
        assert_eq!(evidence(&task(Succeeded, Some("miroir:3:40")), 2), Evidence::Unrelated);
        assert_eq!(evidence(&task(Succeeded, None), 2), Evidence::Unrelated);
        assert_eq!(evidence(&task(Canceled, Some("miroir:2:40")), 2), Evidence::Unrelated);
        assert_eq!(evidence(&task(Enqueued, Some("miroir:2:40")), 2), Evidence::Pending { task_uid: 9 });
        assert_eq!(evidence(&task(Processing, Some("miroir:2:40")), 2), Evidence::Pending { task_uid: 9 });
        assert_eq!(evidence(&task(Failed, Some("miroir:2:40")), 2), Evidence::AppliedThrough(Some(40)));
        assert_eq!(evidence(&task(Failed, Some("miroir:2:40:31")), 2), Evidence::AppliedThrough(Some(30)));
        assert_eq!(evidence(&task(Failed, Some("miroir:2:40:0")), 2), Evidence::AppliedThrough(None));
        let mut internal = task(Failed, Some("miroir:2:40"));
        internal.error = Some(miroir_schemas::error::ResponseError::new(miroir_schemas::error::Code::Internal, "disk"));
        assert_eq!(evidence(&internal, 2), Evidence::Unrelated);
    }
}
