use super::*;
use miroir_schemas::meta_log::topology_changes::TopologyChange;
use miroir_schemas::placement::Placement;
use miroir_schemas::topology::{Node, Topology};
use time::macros::datetime;

/// 4 shards, RF 2, two replica groups of two nodes.
fn book() -> TopologyBook {
    let node = |i: u32| Node { id: format!("n{i}"), url: format!("http://n{i}"), replica_group: format!("g{}", i % 2), api_key: None };
    TopologyBook::new(Placement::new(Topology::new(1, 4, 2, (0..4).map(node).collect()).unwrap()), 2)
}

const AT: OffsetDateTime = datetime!(2026-12-07 15:00:00.123456789 UTC);

#[test]
fn a_body_must_be_a_positive_shard_count() {
    assert_eq!(requested_shards(&json!({"shards": 12})), Ok(12));
    for body in [
        json!([]),
        json!({}),
        json!({"shards": 0}),
        json!({"shards": -1}),
        json!({"shards": 1.5}),
        json!({"shards": "12"}),
        json!({"shards": 5_000_000_000u64}),
        json!({"shards": 2, "force": true}),
    ] {
        let error = requested_shards(&body).unwrap_err();
        assert_eq!((error.code.as_str(), error.http_status), (INVALID_CODE, 400), "{body}");
    }
}

#[test]
fn a_plan_counts_replicas_and_sizes_per_document() {
    let plan = plan(&book(), "movies", 12, true).unwrap();
    assert_eq!((plan.from_shards, plan.to_shards, plan.replicas_per_document, plan.dry_run), (4, 12, 4, true));
    assert_eq!((plan.documents_to_copy, plan.extra_disk_bytes), (None, None));
    let sized = plan.clone().with_sizes(Some(&json!({"numberOfDocuments": 10, "rawDocumentDbSize": 1000})));
    assert_eq!((sized.documents_to_copy, sized.extra_disk_bytes), (Some(10), Some(4000)), "every replica holds a full copy");
    assert_eq!(plan.with_sizes(None).documents_to_copy, None);
}

#[test]
fn refusals_have_their_codes_and_statuses() {
    let mut book = book();
    let refusal = |book: &TopologyBook, shards| {
        let error = plan(book, "movies", shards, false).unwrap_err();
        (error.code, error.http_status)
    };
    assert_eq!(refusal(&book, 4), (INVALID_CODE.to_owned(), 400), "unchanged");
    assert_eq!(refusal(&book, 0), (INVALID_CODE.to_owned(), 400));
    // `x__rank-1` fits in 400 bytes, `x__s12-rank-1` does not.
    let long = "x".repeat(391);
    let error = plan(&book, &long, 12, false).unwrap_err();
    assert_eq!(error.code, INVALID_CODE, "{}", error.message);
    assert!(plan(&book, &"x".repeat(387), 12, false).is_ok());
    book.apply(&TopologyChange::ReshardProposed { index: "books".into(), shards: 8, at: AT });
    assert_eq!(refusal(&book, 12), (IN_PROGRESS_CODE.to_owned(), 409));
    let error = plan(&book, "movies", 12, false).unwrap_err();
    assert_eq!(error.message, "index `books` is being resharded to 8 shards; wait until it completes.");
    assert_eq!(error.link, "https://docs.meilisearch.com/errors#reshard_in_progress");
}

#[test]
fn the_barrier_dedup_id_names_the_proposal() {
    assert_eq!(barrier_dedup_id("movies", 12, AT), format!("reshard:movies:12:{}", AT.unix_timestamp_nanos()));
    assert_ne!(barrier_dedup_id("movies", 12, AT), barrier_dedup_id("movies", 12, AT + time::Duration::nanoseconds(1)));
}

#[test]
fn status_shows_the_reshard_and_the_resharded_indexes() {
    let mut book = book();
    let indexes = || ["books".to_owned(), "movies".to_owned()];
    assert_eq!(status_fields(&book, indexes()), (Value::Null, json!({})));
    book.apply(&TopologyChange::ReshardProposed { index: "movies".into(), shards: 12, at: AT });
    let (reshard, counts) = status_fields(&book, indexes());
    assert_eq!(
        reshard,
        json!({"index": "movies", "fromShards": 4, "toShards": 12, "phase": "building", "proposedAt": "2026-12-07T15:00:00.123456789Z"})
    );
    assert_eq!(counts, json!({}), "building: the index still has its launch layout");
    book.apply(&TopologyChange::ReshardSwitched { index: "movies".into(), shards: 12, position: 41 });
    let (reshard, counts) = status_fields(&book, indexes());
    assert_eq!((reshard["phase"].clone(), reshard["switchedAt"].clone()), (json!("switched"), json!(41)));
    assert_eq!(counts, json!({"movies": 12}));
    book.apply(&TopologyChange::ReshardReleased { index: "movies".into(), shards: 12, position: 50 });
    assert_eq!(status_fields(&book, indexes()), (Value::Null, json!({"movies": 12})));
}

#[test]
fn indexes_of_different_layouts_are_not_joined() {
    assert_eq!(same_layouts(4, [("a", Some(12)), ("b", Some(12))]), Ok(Some(12)));
    assert_eq!(same_layouts(4, []), Ok(None));
    let error = same_layouts(4, [("a", None), ("b", None), ("c", Some(12))]).unwrap_err();
    assert_eq!((error.code.as_str(), error.error_type.as_str(), error.http_status), (LAYOUTS_DIFFER_CODE, "invalid_request", 400));
    assert_eq!(error.message, "Indexes `a` and `c` have different shard counts (4 and 12); reshard one of them first.");
}
