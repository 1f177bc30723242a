use super::*;
use miroir_schemas::envelope::{DocumentMethod, OpEnvelope};
use miroir_schemas::topology::{Node, Topology};
use proptest::prelude::*;
use serde_json::json;

fn placement(shards: u32) -> Arc<Placement> {
    let nodes =
        ["a", "b", "c"].iter().map(|id| Node { id: (*id).into(), url: format!("http://{id}"), replica_group: "g".into(), api_key: None });
    Arc::new(Placement::new(Topology::new(1, shards, 1, nodes.collect()).unwrap()))
}

/// The cluster of these tests has 4 shards.
fn layout_placement(layout: Option<u32>) -> Arc<Placement> {
    placement(layout.unwrap_or(4))
}

fn op(shard: u32, layout: Option<u32>, op: Op) -> PositionedOp {
    let mut envelope = OpEnvelope::new(7, Some("movies".into()), ShardId(shard), op);
    envelope.layout = layout;
    PositionedOp { partition: 0, position: 40, bytes: 1000, envelope, piece: false }
}

fn documents(ids: impl IntoIterator<Item = u32>) -> Op {
    let documents = ids.into_iter().map(|id| json!({"id": id, "title": format!("t{id}")}).as_object().unwrap().clone()).collect();
    Op::Documents { method: DocumentMethod::Replace, primary_key: "id".into(), documents }
}

#[test]
fn operations_in_their_layout_pass_and_others_are_split() {
    let old = placement(4);
    let ids: Vec<u32> = (0..200).filter(|id| old.shard_of(&id.to_string()) == ShardId(2)).collect();
    let source = op(2, None, documents(ids.clone()));
    let passed = route_ops(std::slice::from_ref(&source), |_| None, layout_placement);
    assert_eq!(passed, vec![source.clone()]);

    let new = placement(12);
    let routed = route_ops(std::slice::from_ref(&source), |_| Some(12), layout_placement);
    assert!(routed.len() > 1, "a shard of 4 spreads over several shards of 12");
    let mut seen = Vec::new();
    for piece in &routed {
        assert!(piece.piece);
        assert_eq!((piece.position, piece.envelope.layout, piece.envelope.task_uid), (40, Some(12), 7));
        let Op::Documents { documents, .. } = &piece.envelope.op else { panic!("{piece:?}") };
        for document in documents {
            let id = document["id"].to_string();
            assert_eq!(new.shard_of(&id), piece.envelope.shard);
            seen.push(document["id"].as_u64().unwrap() as u32);
        }
    }
    seen.sort();
    assert_eq!(seen, ids, "every document once, none lost");
}

#[test]
fn an_operation_for_every_shard_is_applied_once_per_new_shard_from_its_shard_0_copy() {
    let filter = Op::DeleteByFilter { filter: json!("year < 2000") };
    let first = route_ops(&[op(0, None, filter.clone())], |_| Some(12), layout_placement);
    assert_eq!(first.iter().map(|p| p.envelope.shard.0).collect::<Vec<_>>(), (0..12).collect::<Vec<_>>());
    assert!(first.iter().all(|p| p.envelope.op == filter && p.piece));
    assert!(route_ops(&[op(3, None, filter)], |_| Some(12), layout_placement).is_empty());
    // Back from a resharded layout to the launch one.
    let settings = Op::UpdateSettings { settings: Map::new() };
    assert_eq!(route_ops(&[op(0, Some(12), settings)], |_| None, layout_placement).len(), 4);
}

#[test]
fn deletions_by_id_follow_their_ids() {
    let new = placement(12);
    let ids: Vec<String> = (0..50).map(|i| format!("doc-{i}")).collect();
    let routed = route_ops(&[op(1, None, Op::DeleteDocuments { ids: ids.clone() })], |_| Some(12), layout_placement);
    let mut seen = Vec::new();
    for piece in routed {
        let Op::DeleteDocuments { ids } = piece.envelope.op else { panic!() };
        assert!(ids.iter().all(|id| new.shard_of(id) == piece.envelope.shard));
        seen.extend(ids);
    }
    seen.sort();
    let mut expected = ids;
    expected.sort();
    assert_eq!(seen, expected);
}

#[test]
fn barriers_pass_as_they_are() {
    let barrier = PositionedOp { partition: 0, position: 3, bytes: 10, envelope: OpEnvelope::reshard_barrier("movies", 12), piece: false };
    assert_eq!(route_ops(std::slice::from_ref(&barrier), |_| Some(12), layout_placement), vec![barrier]);
}

proptest! {
    /// Every document of a re-routed operation lands once, on its shard of the new layout.
    #[test]
    fn documents_are_partitioned_by_the_new_layout(ids in prop::collection::btree_set(0u32..100_000, 1..80), from in 1u32..20, to in 1u32..40) {
        prop_assume!(to != from);
        let source = op(0, Some(from), documents(ids.iter().copied()));
        let routed = route_ops(std::slice::from_ref(&source), |_| Some(to), layout_placement);
        let new = placement(to);
        let mut seen = Vec::new();
        for piece in &routed {
            let Op::Documents { documents, .. } = &piece.envelope.op else { panic!() };
            for document in documents {
                prop_assert_eq!(new.shard_of(&document["id"].to_string()), piece.envelope.shard);
                seen.push(document["id"].as_u64().unwrap() as u32);
            }
        }
        seen.sort();
        prop_assert_eq!(seen, ids.into_iter().collect::<Vec<_>>());
    }
}
