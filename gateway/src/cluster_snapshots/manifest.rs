//! What a cluster snapshot recorded, as the JSON manifest the gateway writes next to its dumps
//! (`docs/snapshots.md`). Pure: the job in `cluster_snapshots.rs` gathers the facts.

use std::collections::BTreeMap;

use miroir_clients::node::TaskStatus;
use miroir_schemas::checkpoint_marker::Marker;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The newest Miroir node task of a node index that the node's snapshot holds: how far that
/// replica had got in its `ops` partition when the snapshot was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Covered {
    pub marker: Marker,
    pub node_task_uid: u64,
    /// Its status when read, just after the snapshot: a task still queued then is in the
    /// snapshot as queued, and the restored node runs it.
    pub status: TaskStatus,
}

impl Covered {
    /// The first position of the partition this replica may still miss once restored from the
    /// snapshot. Only a succeeded task, or a failed one that carried a single Miroir task (it
    /// failed for good), proves its last position applied; a failed merged request proves only
    /// what precedes its first position; a task queued in the snapshot may still fail on the
    /// node's side and be replayed; a canceled one proves nothing of its own.
    pub fn replay_from(&self) -> u64 {
        let Marker { last, merged_from, .. } = self.marker;
        match self.status {
            TaskStatus::Succeeded => last + 1,
            TaskStatus::Failed if merged_from.is_none() => last + 1,
            _ => merged_from.unwrap_or(last),
        }
    }
}

/// One node index in a node's snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIndexCheckpoint {
    pub node_index: String,
    /// `None`: no Miroir task in the snapshot (its replica replays its partition from the start).
    pub covered: Option<Covered>,
}

/// One node's snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSnapshot {
    pub node: String,
    /// The node's own `snapshotCreation` task.
    pub task_uid: u64,
    pub finished_at: Option<String>,
    pub indexes: Vec<NodeIndexCheckpoint>,
}

/// The oldest `ops` position, per partition, some restored replica still needs: the log must
/// hold each partition from there on for a restore to bring every replica up to date.
pub fn needed_log_positions(nodes: &[NodeSnapshot]) -> BTreeMap<u32, u64> {
    let mut needed: BTreeMap<u32, u64> = BTreeMap::new();
    for covered in nodes.iter().flat_map(|node| &node.indexes).filter_map(|index| index.covered.as_ref()) {
        let from = covered.replay_from();
        needed.entry(covered.marker.partition).and_modify(|p| *p = (*p).min(from)).or_insert(from);
    }
    needed
}

/// The manifest's file name in the dump directory.
pub fn file_name(task_uid: u64) -> String {
    format!("cluster-snapshot-{task_uid}.json")
}

/// The manifest: the task, when it ran, and per node its snapshot task and what each of its
/// node indexes covers.
pub fn manifest(task_uid: u64, taken_at: OffsetDateTime, shards: u32, replication_factor: u32, nodes: &[NodeSnapshot]) -> Value {
    let nodes_view: Vec<Value> = nodes
        .iter()
        .map(|node| {
            let indexes: Vec<Value> = node
                .indexes
                .iter()
                .map(|index| match &index.covered {
                    Some(covered) => json!({
                        "nodeIndex": index.node_index,
                        "partition": covered.marker.partition,
                        "lastPosition": covered.marker.last,
                        "replayFrom": covered.replay_from(),
                        "nodeTaskUid": covered.node_task_uid,
                        "nodeTaskStatus": covered.status.as_str(),
                    }),
                    None => json!({"nodeIndex": index.node_index, "partition": null, "lastPosition": null, "replayFrom": 0}),
                })
                .collect();
            json!({"node": node.node, "snapshotTaskUid": node.task_uid, "finishedAt": node.finished_at, "nodeIndexes": indexes})
        })
        .collect();
    let needed: serde_json::Map<String, Value> =
        needed_log_positions(nodes).into_iter().map(|(partition, from)| (partition.to_string(), from.into())).collect();
    json!({
        "taskUid": task_uid,
        "takenAt": taken_at.format(&Rfc3339).expect("dates format as RFC 3339"),
        "shards": shards,
        "replicationFactor": replication_factor,
        "nodes": nodes_view,
        "opsNeededFrom": needed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn covered(partition: u32, last: u64, merged_from: Option<u64>, status: TaskStatus) -> Option<Covered> {
        Some(Covered { marker: Marker { partition, last, merged_from }, node_task_uid: 4, status })
    }

    #[test]
    fn a_replica_replays_from_what_its_newest_task_does_not_prove_applied() {
        use TaskStatus::*;
        let from = |merged, status| covered(2, 40, merged, status).unwrap().replay_from();
        assert_eq!(from(None, Succeeded), 41);
        assert_eq!(from(Some(31), Succeeded), 41);
        assert_eq!(from(None, Failed), 41);
        assert_eq!(from(Some(31), Failed), 31);
        assert_eq!(from(None, Enqueued), 40);
        assert_eq!(from(Some(31), Processing), 31);
        assert_eq!(from(None, Canceled), 40);
    }

    #[test]
    fn the_log_must_hold_each_partition_from_its_most_behind_replica() {
        let node = |name: &str, indexes: Vec<NodeIndexCheckpoint>| NodeSnapshot {
            node: name.into(),
            task_uid: 9,
            finished_at: Some("2026-12-07T09:00:00Z".into()),
            indexes,
        };
        let index = |name: &str, covered: Option<Covered>| NodeIndexCheckpoint { node_index: name.into(), covered };
        let nodes = [
            node(
                "node-0",
                vec![
                    index("movies__rank-0", covered(1, 40, None, TaskStatus::Succeeded)),
                    index("books__rank-0", covered(3, 7, None, TaskStatus::Succeeded)),
                ],
            ),
            node("node-1", vec![index("movies__rank-0", covered(1, 35, None, TaskStatus::Succeeded)), index("empty__rank-0", None)]),
        ];
        assert_eq!(needed_log_positions(&nodes), BTreeMap::from([(1, 36), (3, 8)]));
        let written = manifest(12, datetime!(2026-12-07 09:00:01 UTC), 4, 1, &nodes);
        assert_eq!(written["opsNeededFrom"], json!({"1": 36, "3": 8}));
        assert_eq!(written["nodes"][1]["snapshotTaskUid"], 9);
        assert_eq!(
            written["nodes"][1]["nodeIndexes"],
            json!([
                {"nodeIndex": "movies__rank-0", "partition": 1, "lastPosition": 35, "replayFrom": 36, "nodeTaskUid": 4, "nodeTaskStatus": "succeeded"},
                {"nodeIndex": "empty__rank-0", "partition": null, "lastPosition": null, "replayFrom": 0},
            ])
        );
        assert_eq!(written["takenAt"], "2026-12-07T09:00:01Z");
    }
}
