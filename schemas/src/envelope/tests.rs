use super::*;
use crate::meta_log::{KeyChange, MetaEnvelope};
use crate::task_log::{TaskEvent, TaskRecord};
use crate::test_strategies::{meta_envelope, op_envelope, task_event, task_record};
use proptest::prelude::*;
use serde_json::json;

fn round_trips<T: LogRecord + PartialEq + std::fmt::Debug>(record: &T) -> Result<(), TestCaseError> {
    let bytes = encode(record);
    let back: T = decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, record);
    Ok(())
}

proptest! {
    #[test]
    fn op_envelopes_round_trip(envelope in op_envelope()) { round_trips(&envelope)?; }

    #[test]
    fn task_records_round_trip(record in task_record()) {
        // `http_status` is not on the wire: it comes back from the code.
        round_trips(&record)?;
    }

    #[test]
    fn task_events_round_trip(event in task_event()) { round_trips(&event)?; }

    #[test]
    fn meta_envelopes_round_trip(envelope in meta_envelope()) { round_trips(&envelope)?; }
}

#[test]
fn op_wire_shape() {
    let envelope = OpEnvelope::new(
        7,
        Some("movies".into()),
        ShardId(2),
        Op::Documents {
            method: DocumentMethod::Replace,
            primary_key: "id".into(),
            documents: vec![json!({"id": 1, "title": "Carol"}).as_object().unwrap().clone()],
        },
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&encode(&envelope)).unwrap(),
        json!({
            "schemaVersion": 1, "taskUid": 7, "indexUid": "movies", "shard": 2, "part": 0, "parts": 1,
            "op": {"type": "documents", "method": "replace", "primaryKey": "id",
                   "documents": [{"id": 1, "title": "Carol"}]}
        })
    );
    assert_eq!(envelope.dedup_id(), "7:shard-2:0");
    let clear = OpEnvelope::new(8, Some("movies".into()), ShardId(0), Op::ClearDocuments);
    assert_eq!(serde_json::to_value(&clear).unwrap()["op"], json!({"type": "clearDocuments"}));
}

#[test]
fn future_schema_versions_are_refused_by_name() {
    let mut value = serde_json::to_value(OpEnvelope::new(1, None, ShardId(0), Op::DeleteIndex)).unwrap();
    value["schemaVersion"] = json!(SCHEMA_VERSION + 1);
    // A newer writer may also have added fields or variants; the version check comes first.
    value["op"] = json!({"type": "somethingNew"});
    let err = decode::<OpEnvelope>(&serde_json::to_vec(&value).unwrap()).unwrap_err();
    match &err {
        DecodeError::UnsupportedVersion { kind, found, supported } => {
            assert_eq!((*kind, *found, *supported), ("OpEnvelope", u64::from(SCHEMA_VERSION) + 1, SCHEMA_VERSION));
        }
        other => panic!("expected UnsupportedVersion, got {other:?}"),
    }
    assert!(err.to_string().contains("upgrade"), "{err}");

    let zero = br#"{"schemaVersion":0,"change":{"type":"delete","uid":"00000000-0000-0000-0000-000000000000"}}"#;
    assert!(matches!(decode::<MetaEnvelope>(zero), Err(DecodeError::UnsupportedVersion { found: 0, .. })));
}

#[test]
fn missing_version_and_malformed_records_are_distinguished() {
    assert!(matches!(decode::<TaskEvent>(br#"{"taskUid":1}"#), Err(DecodeError::MissingVersion { kind: "TaskEvent", .. })));
    assert!(matches!(decode::<TaskEvent>(b"not json"), Err(DecodeError::MissingVersion { .. })));
    assert!(matches!(
        decode::<TaskRecord>(br#"{"schemaVersion":1,"type":"notAType"}"#),
        Err(DecodeError::Malformed { kind: "TaskRecord", .. })
    ));
}

#[test]
fn key_update_tells_cleared_from_untouched() {
    let uid = uuid::Uuid::nil();
    let cleared: MetaEnvelope = decode(
        br#"{"schemaVersion":1,"change":{"type":"update","uid":"00000000-0000-0000-0000-000000000000","name":null,"updatedAt":"2025-01-01T00:00:00Z"}}"#,
    )
    .unwrap();
    match cleared.key_change().expect("a key change") {
        KeyChange::Update { uid: u, name, description, .. } => {
            assert_eq!(u, uid);
            assert_eq!(name, Some(None));
            assert_eq!(description, None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_client_write_has_no_origin_on_the_wire_and_miroir_writes_name_theirs() {
    let mut envelope = OpEnvelope::new(3, Some("movies".into()), ShardId(0), Op::DeleteDocuments { ids: vec!["a".into()] });
    let wire = serde_json::from_slice::<Value>(&encode(&envelope)).unwrap();
    assert!(wire.get("origin").is_none(), "{wire}");
    envelope.origin = WriteOrigin::Ttl;
    let wire = serde_json::from_slice::<Value>(&encode(&envelope)).unwrap();
    assert_eq!(wire["origin"], "ttl");
    assert_eq!(decode::<OpEnvelope>(&encode(&envelope)).unwrap().origin, WriteOrigin::Ttl);
}
