use super::*;
use miroir_schemas::placement::Placement;
use serde_json::json;

fn node(id: &str, group: &str) -> Node {
    Node { id: id.into(), url: format!("http://{id}:7700"), replica_group: group.into(), api_key: None }
}

fn launch(ids: &[&str]) -> Topology {
    Topology::new(1, 6, 2, ids.iter().map(|id| node(id, "g")).collect()).unwrap()
}

fn book(ids: &[&str]) -> TopologyBook {
    TopologyBook::new(Placement::new(launch(ids)), 2)
}

#[test]
fn an_added_node_takes_its_fair_share_exactly() {
    let book = book(&["a", "b", "c"]);
    let (next, plan) = plan(&book, &TopologyRequest::Add(node("d", "g")), true).unwrap();
    assert_eq!((next.version, next.shard_count, next.replication_factor, next.nodes.len()), (2, 6, 2, 4));
    assert_eq!((plan.version, plan.change, plan.node.as_str(), plan.dry_run), (2, "addNode", "d", true));
    assert_eq!(plan.ideal, 3.0, "6 shards × RF 2 over 4 nodes");
    let to_d: Vec<&ReplicaCopy> = plan.copies.iter().filter(|copy| copy.node == "d").collect();
    assert_eq!(to_d.len(), 3, "{plan:?}");
    assert_eq!(plan.moved, 3, "only d's share reaches a node that did not hold it");
    // Whatever d takes, the node that held that (shard, rank) before lets it go.
    for copy in to_d {
        assert!(plan.releases.iter().any(|release| release.shard == copy.shard && release.node != "d"), "{plan:?}");
    }
}

#[test]
fn a_drained_or_removed_node_gives_up_every_replica() {
    let book = book(&["a", "b", "c", "d"]);
    let held = book.newest().placement.shards_of_node("b").len();
    for request in [TopologyRequest::Drain("b".into()), TopologyRequest::Remove("b".into())] {
        let (next, plan) = plan(&book, &request, false).unwrap();
        assert_eq!(plan.ideal, held as f64);
        assert_eq!(plan.moved, held, "{request:?}: exactly b's replicas move");
        assert!(plan.copies.iter().all(|copy| copy.node != "b"));
        match request {
            TopologyRequest::Drain(_) => {
                assert!(next.draining.contains("b") && next.node("b").is_some());
                assert_eq!(plan.releases.iter().filter(|release| release.node == "b").count(), held, "a drained node is emptied");
            }
            _ => {
                assert!(next.node("b").is_none());
                assert!(plan.releases.iter().all(|release| release.node != "b"), "a removed node is left as it is");
            }
        }
    }
}

#[test]
fn refused_changes_say_why_in_meilisearchs_shape() {
    let book = book(&["a", "b"]);
    let refused = |request: TopologyRequest| plan(&book, &request, true).unwrap_err();
    assert_eq!(refused(TopologyRequest::Add(node("a", "g"))), PlanError::NodeExists("a".into()));
    assert_eq!(refused(TopologyRequest::Remove("z".into())), PlanError::NodeNotFound("z".into()));
    assert_eq!(refused(TopologyRequest::Drain("z".into())), PlanError::NodeNotFound("z".into()));

    let lonely = TopologyBook::new(Placement::new(Topology::new(1, 3, 1, vec![node("a", "g0"), node("b", "g1")]).unwrap()), 1);
    let last = plan(&lonely, &TopologyRequest::Remove("b".into()), true).unwrap_err();
    assert_eq!(last, PlanError::LastOfGroup { node: "b".into(), group: "g1".into() });
    let drained = plan(&lonely, &TopologyRequest::Drain("b".into()), true).unwrap_err();
    assert_eq!(drained, PlanError::Topology(TopologyError::GroupDrained("g1".into())));

    let error = PlanError::NodeNotFound("z".into()).response_error();
    assert_eq!((error.code.as_str(), error.error_type.as_str(), error.http_status), (NODE_NOT_FOUND_CODE, "invalid_request", 404));
    assert_eq!(error.message, "node `z` is not part of the topology.");
    assert_eq!(error.link, "https://docs.meilisearch.com/errors#topology_node_not_found");
    assert_eq!(last.response_error().http_status, 400);
    assert_eq!(last.response_error().code, INVALID_CODE);
}

#[test]
fn a_second_change_waits_for_the_first_move() {
    let mut book = book(&["a", "b", "c"]);
    let (next, _) = plan(&book, &TopologyRequest::Add(node("d", "g")), false).unwrap();
    book.apply(&TopologyChange::TopologyProposed { topology: next, at: OffsetDateTime::now_utc() });
    let error = plan(&book, &TopologyRequest::Drain("a".into()), true).unwrap_err();
    assert_eq!(error, PlanError::Proposal(ProposalError::MoveInProgress { current: 2 }));
    assert_eq!((error.response_error().code.as_str(), error.response_error().http_status), (IN_PROGRESS_CODE, 409));

    let view = move_view(&book);
    assert_eq!(view["version"], 2);
    assert_eq!(view["phase"], "copying");
    assert_eq!(view["copiedPartitions"], json!([]));
    assert_eq!(view["partitionsNotCopied"], json!([0, 1]));
    book.apply(&TopologyChange::ShardsCopied { version: 2, partition: 1, position: 7 });
    assert_eq!(move_view(&book)["copiedPartitions"], json!([1]));
    book.apply(&TopologyChange::ShardsCopied { version: 2, partition: 0, position: 9 });
    assert_eq!(move_view(&book)["phase"], "switched");
    for partition in 0..2 {
        book.apply(&TopologyChange::ShardsReleased { version: 2, partition, position: 20 });
    }
    assert_eq!(move_view(&book), Value::Null, "the move is complete");
    assert!(plan(&book, &TopologyRequest::Drain("a".into()), true).is_ok());
}

#[test]
fn add_bodies_are_checked() {
    let node = node_to_add(&json!({"id": "n4", "url": "http://10.0.0.4:7700", "replicaGroup": "g", "apiKey": "k"})).unwrap();
    assert_eq!((node.id.as_str(), node.replica_group.as_str(), node.api_key.as_deref()), ("n4", "g", Some("k")));
    assert_eq!(node_to_add(&json!({"id": "n4", "url": "https://n4", "replicaGroup": "g"})).unwrap().api_key, None);
    for refused in [
        json!([]),
        json!({"url": "http://n4", "replicaGroup": "g"}),
        json!({"id": "", "url": "http://n4", "replicaGroup": "g"}),
        json!({"id": "n4", "url": "n4:7700", "replicaGroup": "g"}),
        json!({"id": "n4", "url": "ftp://n4", "replicaGroup": "g"}),
        json!({"id": "n4", "url": "http://n4"}),
        json!({"id": "n4", "url": "http://n4", "replicaGroup": "g", "apiKey": 3}),
        json!({"id": "n4", "url": "http://n4", "replicaGroup": "g", "weight": 3}),
    ] {
        assert!(matches!(node_to_add(&refused), Err(PlanError::Body(_))), "{refused}");
    }
}

#[test]
fn each_copy_counts_its_shards_documents_over_every_index() {
    let book = book(&["a", "b", "c"]);
    let (_, plan) = plan(&book, &TopologyRequest::Add(node("d", "g")), true).unwrap();
    let copied: BTreeSet<u32> = plan.copies.iter().map(|copy| copy.shard).collect();
    // Two indexes; every copied shard holds 10 + shard documents in the first, 1 in the second.
    let counts = copied.iter().flat_map(|&shard| [(shard, Some(10 + u64::from(shard))), (shard, Some(1))]);
    let counted = plan.clone().with_documents(&documents_per_shard(counts));
    for copy in &counted.copies {
        assert_eq!(copy.documents, Some(11 + u64::from(copy.shard)), "{counted:?}");
    }
    let total: u64 = counted.copies.iter().map(|copy| 11 + u64::from(copy.shard)).sum();
    assert_eq!(counted.documents_to_copy, Some(total));

    // One index's count of one shard unread: that shard's copies and the total are unknown.
    let unread = *copied.first().unwrap();
    let counts = copied.iter().flat_map(|&shard| [(shard, Some(5)), (shard, if shard == unread { None } else { Some(1) })]);
    let partly = plan.clone().with_documents(&documents_per_shard(counts));
    for copy in &partly.copies {
        assert_eq!(copy.documents, if copy.shard == unread { None } else { Some(6) }, "{partly:?}");
    }
    assert_eq!(partly.documents_to_copy, None);
    let answer = serde_json::to_value(&partly).unwrap();
    assert!(answer["copies"].as_array().unwrap().iter().any(|copy| copy["documents"].is_null()), "{answer}");
    assert!(answer["documentsToCopy"].is_null());

    // No index: nothing to copy.
    let empty = plan.with_documents(&documents_per_shard([]));
    assert!(empty.copies.iter().all(|copy| copy.documents == Some(0)));
    assert_eq!(empty.documents_to_copy, Some(0));
}
