//! A copy of an index rebuilt from its change stream, as docs/cdc.md tells a data team to do.

use std::collections::BTreeMap;

use miroir_schemas::cdc::{CdcChange, CdcEvent, DeletedRange};
use miroir_schemas::topology::ShardId;
use serde_json::{Map, Value};

/// The documents of one index, by id, with the shard each lives in.
#[derive(Debug, Default)]
pub struct IndexCopy {
    pub documents: BTreeMap<String, (ShardId, Map<String, Value>)>,
    pub exists: bool,
}

/// Applies `events` (one index's de-duplicated stream, in order). `matches` evaluates a range
/// deletion's filter on a document (a real consumer would use its own filter engine).
pub fn rebuild(events: &[CdcEvent], matches: impl Fn(&Value, &Map<String, Value>) -> bool) -> IndexCopy {
    let mut copy = IndexCopy::default();
    for event in events {
        match &event.change {
            CdcChange::DocumentUpserted { shard, document_id, partial, document } => {
                copy.exists = true;
                let stored = copy.documents.entry(document_id.clone()).or_insert_with(|| (*shard, Map::new()));
                if !partial {
                    stored.1.clear();
                }
                // A partial update replaces the top-level fields it carries.
                stored.1.extend(document.clone());
            }
            CdcChange::DocumentDeleted { document_id, .. } => {
                copy.documents.remove(document_id);
            }
            CdcChange::DocumentRangeDeleted { shard, range } => copy.documents.retain(|_, (held, document)| {
                held != shard
                    || match range {
                        DeletedRange::All => false,
                        DeletedRange::Filter(filter) => !matches(filter, document),
                    }
            }),
            // Running a Rhai function needs a Rhai engine, which this consumer has not.
            CdcChange::DocumentRangeEdited { .. } => panic!("the CDC scenarios edit no documents by function"),
            CdcChange::IndexCreated { .. } => copy.exists = true,
            CdcChange::IndexDeleted => copy = IndexCopy::default(),
            CdcChange::SettingsChanged { .. } | CdcChange::IndexUpdated { .. } | CdcChange::IndexSwapped { .. } => {}
        }
    }
    copy
}
