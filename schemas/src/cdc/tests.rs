use super::*;
use crate::details::IndexSwap;
use crate::envelope::{DocumentMethod, Op, OpEnvelope};
use crate::test_strategies::op_envelope;
use proptest::prelude::*;
use serde_json::json;
use std::collections::HashSet;

const REGENERATE: &str = "cargo run -p miroir-schemas --bin gen-json-schemas";

fn at() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
}

fn applied(first_shard: u32) -> AppliedTask {
    AppliedTask { finished_at: at(), first_shard: Some(ShardId(first_shard)) }
}

fn envelope(shard: u32, op: Op) -> OpEnvelope {
    OpEnvelope::new(12, Some("movies".into()), ShardId(shard), op)
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

fn committed_schema() -> jsonschema::Validator {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("json/cdc-event.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

#[test]
fn committed_json_schemas_match_the_types() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("json");
    for (name, generated) in json_schema_files() {
        let path = dir.join(name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} is missing or differs from what the CDC types generate; regenerate it with `{REGENERATE}` and commit it",
            path.display()
        );
    }
}

#[test]
fn event_wire_shape() {
    let documents = vec![object(json!({"id": 42, "title": "Carol"}))];
    let op = Op::Documents { method: DocumentMethod::Replace, primary_key: "id".into(), documents };
    let events = events_of(&envelope(1, op), 3, 99, &applied(0));
    assert_eq!(
        serde_json::to_value(&events).unwrap(),
        json!([{
            "schemaVersion": 2, "eventId": "3-99-0", "indexUid": "movies", "taskUid": 12, "origin": "client",
            "position": {"partition": 3, "offset": 99, "item": 0}, "appliedAt": "2023-11-14T22:13:20Z",
            "type": "documentUpserted", "shard": 1, "documentId": "42", "partial": false,
            "document": {"id": 42, "title": "Carol"}
        }])
    );
    let back: CdcEvent = serde_json::from_value(serde_json::to_value(&events[0]).unwrap()).unwrap();
    assert_eq!(back, events[0]);
}

#[test]
fn one_event_per_document_and_per_id_numbered_in_batch_order() {
    let documents = vec![object(json!({"id": "a", "n": 1})), object(json!({"id": "b"})), object(json!({"id": "a", "n": 2}))];
    let op = Op::Documents { method: DocumentMethod::Update, primary_key: "id".into(), documents };
    let events = events_of(&envelope(2, op), 0, 7, &applied(0));
    let seen: Vec<(String, u32, bool)> = events
        .iter()
        .map(|e| match &e.change {
            CdcChange::DocumentUpserted { document_id, partial, .. } => (document_id.clone(), e.position.item, *partial),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(seen, [("a".into(), 0, true), ("b".into(), 1, true), ("a".into(), 2, true)]);

    let deleted = events_of(&envelope(2, Op::DeleteDocuments { ids: vec!["x".into(), "7".into()] }), 0, 8, &applied(0));
    let changes: Vec<CdcChange> = deleted.into_iter().map(|e| e.change).collect();
    assert_eq!(
        changes,
        [
            CdcChange::DocumentDeleted { shard: ShardId(2), document_id: "x".into() },
            CdcChange::DocumentDeleted { shard: ShardId(2), document_id: "7".into() }
        ]
    );
}

#[test]
fn a_nested_primary_key_names_the_document() {
    let documents = vec![object(json!({"product": {"id": 5}}))];
    let op = Op::Documents { method: DocumentMethod::Replace, primary_key: "product.id".into(), documents };
    let events = events_of(&envelope(0, op), 0, 0, &applied(0));
    assert!(matches!(&events[0].change, CdcChange::DocumentUpserted { document_id, .. } if document_id == "5"));
}

#[test]
fn index_wide_operations_give_one_event_per_task_from_its_first_shard() {
    let ops = [
        Op::UpdateSettings { settings: object(json!({"rankingRules": null})) },
        Op::ResetSettings,
        Op::CreateIndex { primary_key: Some("id".into()) },
        Op::UpdateIndex { primary_key: None, new_index_uid: Some("films".into()) },
        Op::DeleteIndex,
    ];
    for op in ops {
        let per_shard: Vec<usize> = (0..4).map(|shard| events_of(&envelope(shard, op.clone()), 0, 5, &applied(1)).len()).collect();
        assert_eq!(per_shard, [0, 1, 0, 0], "{op:?}");
    }
    let reset = events_of(&envelope(1, Op::ResetSettings), 0, 5, &applied(1));
    assert_eq!(reset[0].change, CdcChange::SettingsChanged { settings: Map::new(), reset_all: true });
}

#[test]
fn range_deletions_give_one_event_per_shard() {
    let filter = json!("genre = horror");
    for shard in 0..3 {
        let by_filter = events_of(&envelope(shard, Op::DeleteByFilter { filter: filter.clone() }), 1, 4, &applied(0));
        let cleared = events_of(&envelope(shard, Op::ClearDocuments), 1, 5, &applied(0));
        let changes: Vec<CdcChange> = by_filter.into_iter().chain(cleared).map(|e| e.change).collect();
        assert_eq!(
            changes,
            [
                CdcChange::DocumentRangeDeleted { shard: ShardId(shard), range: DeletedRange::Filter(filter.clone()) },
                CdcChange::DocumentRangeDeleted { shard: ShardId(shard), range: DeletedRange::All }
            ]
        );
    }
}

/// An edition by function is applied per shard on the nodes (narrowed to the shard), so each
/// shard's record gives its own range event, with the client's function (not the wrapped one).
#[test]
fn editions_give_one_range_event_per_shard() {
    use crate::node_layout::edit_function::Wrapping;
    let context = json!({"v": 1}).as_object().cloned();
    for shard in 0..3 {
        let op = Op::EditDocuments {
            function: "doc.v = context.v".into(),
            filter: Some(json!("n > 1")),
            context: context.clone(),
            wrapping: Wrapping::Closure,
        };
        let changes: Vec<CdcChange> = events_of(&envelope(shard, op), 1, 6, &applied(0)).into_iter().map(|e| e.change).collect();
        assert_eq!(
            changes,
            [CdcChange::DocumentRangeEdited {
                shard: ShardId(shard),
                filter: Some(json!("n > 1")),
                function: "doc.v = context.v".into(),
                context: context.clone()
            }]
        );
    }
}

#[test]
fn a_swap_gives_each_index_its_own_event() {
    let swaps =
        vec![IndexSwap { indexes: ["a".into(), "b".into()], rename: false }, IndexSwap { indexes: ["c".into(), "d".into()], rename: true }];
    let swap = OpEnvelope::new(30, None, ShardId(0), Op::SwapIndexes { swaps });
    let events = events_of(&swap, 2, 11, &applied(0));
    let seen: Vec<(String, String, bool, String)> = events
        .iter()
        .map(|e| match &e.change {
            CdcChange::IndexSwapped { other_index_uid, rename } => {
                (e.index_uid.clone(), other_index_uid.clone(), *rename, e.event_id.clone())
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("a".into(), "b".into(), false, "2-11-0".into()),
            ("b".into(), "a".into(), false, "2-11-1".into()),
            ("c".into(), "d".into(), true, "2-11-2".into()),
            ("d".into(), "c".into(), true, "2-11-3".into())
        ]
    );
    assert!(events_of(&OpEnvelope { shard: ShardId(1), ..swap }, 2, 12, &applied(0)).is_empty());
}

#[test]
fn a_write_miroir_made_itself_says_so() {
    let mut ttl = envelope(0, Op::DeleteDocuments { ids: vec!["old".into()] });
    ttl.origin = crate::envelope::WriteOrigin::Ttl;
    let event = &events_of(&ttl, 0, 0, &applied(0))[0];
    assert_eq!(serde_json::to_value(event).unwrap()["origin"], "ttl");
}

#[test]
fn the_schema_names_every_event_type_and_refuses_a_misnamed_field() {
    let (_, text) = &json_schema_files()[0];
    for kind in [
        "documentUpserted",
        "documentDeleted",
        "documentRangeDeleted",
        "settingsChanged",
        "indexCreated",
        "indexUpdated",
        "indexDeleted",
        "indexSwapped",
    ] {
        assert!(text.contains(&format!("\"{kind}\"")), "{kind} missing from the schema");
    }
    let validator = committed_schema();
    let event = events_of(&envelope(0, Op::DeleteDocuments { ids: vec!["x".into()] }), 0, 0, &applied(0)).remove(0);
    let mut wire = serde_json::to_value(&event).unwrap();
    assert!(validator.is_valid(&wire), "{wire}");
    let id = wire.as_object_mut().unwrap().remove("documentId").unwrap();
    wire["document_id"] = id;
    assert!(!validator.is_valid(&wire), "a snake_case field must not pass: {wire}");
}

proptest! {
    /// Whatever the operation, its events validate against the committed schema, carry the
    /// record's position with items 0, 1, 2…, and their ids are distinct and derived from it.
    #[test]
    fn every_event_validates_and_ids_follow_positions(
        envelope in op_envelope(), partition in 0u32..16, offset in 0u64..1_000_000, first_shard in 0u32..4,
    ) {
        let events = events_of(&envelope, partition, offset, &AppliedTask { finished_at: at(), first_shard: Some(ShardId(first_shard)) });
        let validator = committed_schema();
        let mut ids = HashSet::new();
        for (item, event) in events.iter().enumerate() {
            let wire = serde_json::to_value(event).unwrap();
            let errors: Vec<String> = validator.iter_errors(&wire).map(|e| e.to_string()).collect();
            prop_assert!(errors.is_empty(), "{wire}: {errors:?}");
            prop_assert_eq!(event.position, CdcPosition { partition, offset, item: item as u32 });
            prop_assert_eq!(&event.event_id, &format!("{partition}-{offset}-{item}"));
            prop_assert!(ids.insert(event.event_id.clone()));
            prop_assert_eq!(event.origin, envelope.origin);
            prop_assert!(!event.index_uid.is_empty(), "every event names its index (the stream's key)");
        }
    }
}
