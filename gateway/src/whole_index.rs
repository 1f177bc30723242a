//! Reading an index whole, page by page, through the document read path of
//! `documents/fetch` (one replica per shard, Miroir's `_miroir_*` fields left out): what a
//! dump writes and an export sends.

use miroir_schemas::error::{Code, ResponseError};
use serde_json::{json, Value};

use crate::state::AppState;

/// Documents read per page.
pub const PAGE: usize = 1000;

/// The index's documents from `offset` on, at most [`PAGE`], matching `filter` when given, with
/// `_vectors` when `vectors`. A shard no replica answers for is an error: a partial page would
/// silently lose its documents.
pub async fn document_page(
    state: &AppState,
    uid: &str,
    offset: usize,
    filter: Option<&Value>,
    vectors: bool,
) -> Result<Vec<Value>, ResponseError> {
    let mut request = json!({"offset": offset, "limit": PAGE, "retrieveVectors": vectors});
    if let Some(filter) = filter {
        request["filter"] = filter.clone();
    }
    let Value::Object(request) = request else { unreachable!("a JSON object literal") };
    let answer = state.reads().fetch_documents(uid, &request).await.map_err(|error| error.response_error())?;
    if !answer.missing_shards.is_empty() {
        let message = format!("shards {:?} of index `{uid}` have no replica answering", answer.missing_shards);
        return Err(ResponseError::new(Code::Internal, message));
    }
    Ok(answer.body.get("results").and_then(Value::as_array).cloned().unwrap_or_default())
}

/// Whether the index's settings set embedders: then its documents travel with their vectors
/// (`_vectors`, with `regenerate`), as in a node's dump or export.
pub fn has_embedders(settings: &Value) -> bool {
    settings.get("embedders").and_then(Value::as_object).is_some_and(|embedders| !embedders.is_empty())
}
