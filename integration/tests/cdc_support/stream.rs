//! Reading the `cdc` topic as a data team's consumer would: every partition from its start,
//! each record checked against the published JSON Schema, de-duplicated by `eventId`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use miroir_clients::log::{Topic, WriteLog};
use miroir_schemas::cdc::CdcEvent;
use serde_json::Value;

/// One stored `cdc` record.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub key: String,
    pub wire: Value,
    pub event: CdcEvent,
}

/// The published schema, as a data team would load it from `schemas/json/`.
pub fn published_schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/json/cdc-event.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("the CDC schema file")).expect("a JSON schema");
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

/// Every record of every `cdc` partition stored so far, in partition order, each validated
/// against `schema` (a record that does not validate fails the test).
pub async fn read_all(log: &Arc<dyn WriteLog>, schema: &jsonschema::Validator) -> Vec<Delivered> {
    let mut all = Vec::new();
    for partition in 0..log.config().partitions(Topic::Cdc) {
        let end = log.end_offset(Topic::Cdc, partition).await.expect("the cdc end offset");
        if end == 0 {
            continue;
        }
        let mut reader = log.read_partition(Topic::Cdc, partition, 0).await.expect("reading a cdc partition");
        let mut read = 0;
        while read < end {
            for record in reader.next_batch(1000, Duration::from_secs(5)).await.expect("a cdc batch") {
                read = record.position.offset + 1;
                let wire: Value = serde_json::from_slice(&record.payload).expect("a CDC record is JSON");
                let errors: Vec<String> = schema.iter_errors(&wire).map(|e| format!("{e} at {}", e.instance_path())).collect();
                assert!(errors.is_empty(), "a CDC event does not validate against its schema: {wire}\n{errors:#?}");
                let event: CdcEvent = serde_json::from_value(wire.clone()).expect("a CDC event");
                all.push(Delivered { key: record.key, wire, event });
            }
        }
    }
    all
}

/// The stream after de-duplication by `eventId`, per index in the order its partition holds
/// the first copy of each event. A repeated id must repeat the same event.
pub fn deduplicated(delivered: &[Delivered]) -> BTreeMap<String, Vec<CdcEvent>> {
    let mut first: HashMap<&str, &Delivered> = HashMap::new();
    let mut per_index: BTreeMap<String, Vec<CdcEvent>> = BTreeMap::new();
    for record in delivered {
        assert_eq!(record.key, record.event.index_uid, "a CDC record is keyed by its index");
        match first.get(record.event.event_id.as_str()) {
            Some(earlier) => assert_eq!(earlier.wire, record.wire, "two events share an id but differ"),
            None => {
                first.insert(&record.event.event_id, record);
                per_index.entry(record.key.clone()).or_default().push(record.event.clone());
            }
        }
    }
    per_index
}
