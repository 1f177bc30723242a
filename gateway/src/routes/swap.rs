//! `POST /swap-indexes`: every shard swaps (or renames) its node indexes.

use std::collections::{BTreeSet, HashSet};

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use miroir_schemas::details::{IndexSwap, TaskDetails};
use miroir_schemas::envelope::Op;
use miroir_schemas::error::{Code, ResponseError};
use miroir_schemas::task_log::TaskType;
use serde_json::Value;

use crate::error::GatewayError;
use crate::params::{body_index_uid, QueryParams};
use crate::request_errors::{incorrect_type, missing_field, unknown_field, Kind, Step};
use crate::routes::write::{current_catalog, doomed, json_request, new_entry, submit, Accepted};
use crate::state::AppState;
use crate::topology_changes::reshard::same_layouts;

/// Reads the body `[{indexes: [a, b], rename?}]` with Meilisearch's checks and messages.
pub fn parse_swaps(body: &Value, replication_factor: u32) -> Result<Vec<IndexSwap>, ResponseError> {
    let items = body.as_array().ok_or_else(|| ResponseError::new(Code::BadRequest, incorrect_type(&[], &[Kind::Sequence], body)))?;
    let mut swaps = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = |key: &str| vec![Step::Index(i), Step::Key(key.into())];
        let object =
            item.as_object().ok_or_else(|| ResponseError::new(Code::BadRequest, incorrect_type(&[Step::Index(i)], &[Kind::Map], item)))?;
        if let Some(key) = object.keys().find(|key| !["indexes", "rename"].contains(&key.as_str())) {
            return Err(ResponseError::new(Code::BadRequest, unknown_field(&[Step::Index(i)], key, &["indexes", "rename"])));
        }
        let indexes = match object.get("indexes") {
            None => return Err(ResponseError::new(Code::MissingSwapIndexes, missing_field(&[Step::Index(i)], "indexes"))),
            Some(Value::Array(values)) => values,
            Some(other) => {
                return Err(ResponseError::new(Code::InvalidSwapIndexes, incorrect_type(&at("indexes"), &[Kind::Sequence], other)))
            }
        };
        let mut uids = Vec::with_capacity(indexes.len());
        for (j, value) in indexes.iter().enumerate() {
            let uid = value.as_str().ok_or_else(|| {
                let location = [Step::Index(i), Step::Key("indexes".into()), Step::Index(j)];
                ResponseError::new(Code::InvalidSwapIndexes, incorrect_type(&location, &[Kind::String], value))
            })?;
            body_index_uid(uid, &format!("[{i}].indexes[{j}]"), replication_factor)
                .map_err(|e| ResponseError::new(Code::InvalidSwapIndexes, e.message))?;
            uids.push(uid.to_owned());
        }
        let rename = match object.get("rename") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(rename)) => *rename,
            Some(other) => return Err(ResponseError::new(Code::InvalidSwapRename, incorrect_type(&at("rename"), &[Kind::Boolean], other))),
        };
        let pair: [String; 2] = uids.clone().try_into().map_err(|_| {
            let listed = uids.iter().map(|uid| format!("\"{uid}\"")).collect::<Vec<_>>().join(", ");
            ResponseError::new(
                Code::InvalidSwapIndexes,
                format!("Two indexes must be given for each swap. The list `[{listed}]` contains {} indexes.", uids.len()),
            )
        })?;
        swaps.push(IndexSwap { indexes: pair, rename });
    }
    check_duplicates(&swaps)?;
    Ok(swaps)
}

fn check_duplicates(swaps: &[IndexSwap]) -> Result<(), ResponseError> {
    let mut seen = HashSet::new();
    let duplicates: BTreeSet<&str> =
        swaps.iter().flat_map(|swap| swap.indexes.iter()).filter(|uid| !seen.insert(uid.as_str())).map(String::as_str).collect();
    let message = match duplicates.len() {
        0 => return Ok(()),
        1 => {
            format!("Indexes must be declared only once during a swap. `{}` was specified several times.", duplicates.first().expect("one"))
        }
        _ => format!(
            "Indexes must be declared only once during a swap. {} were specified several times.",
            duplicates.iter().map(|uid| format!("`{uid}`")).collect::<Vec<_>>().join(", ")
        ),
    };
    Err(ResponseError::new(Code::InvalidSwapDuplicateIndexFound, message))
}

/// `POST /swap-indexes`.
pub async fn swap_indexes(
    State(state): State<AppState>,
    auth: crate::auth::Auth,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Accepted, GatewayError> {
    let query = QueryParams(query);
    query.check(&["customMetadata"])?;
    let body = json_request(&state, &headers, body).await?;
    let swaps = parse_swaps(&body, state.topology().replication_factor)?;
    // Meilisearch refuses a swap naming any index the key may not use.
    auth.check_indexes(swaps.iter().flat_map(|swap| swap.indexes.iter().map(String::as_str)))?;
    current_catalog(&state, |_| ()).await?;
    // One operation swaps on every node index of one layout: every index named must have it.
    let uids: Vec<&str> = swaps.iter().flat_map(|swap| swap.indexes.iter().map(String::as_str)).collect();
    let service = state.topology_changes();
    let routing = service.routing(uids.first().copied().unwrap_or_default()).await?;
    let entry = new_entry(TaskType::IndexSwap, None, TaskDetails::IndexSwap { swaps: swaps.clone() }, &query);
    // (A swap Meilisearch fails, naming a missing index, fails as there.)
    if !doomed(&state, &entry) {
        let layouts: Vec<(&str, Option<u32>)> = service.read(|book| uids.iter().map(|uid| (*uid, book.layouts().layout(uid))).collect());
        same_layouts(state.topology().shard_count, layouts)?;
    }
    submit(&state, entry, routing.layout, routing.on_every_shard(Op::SwapIndexes { swaps })).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn swap_bodies_are_checked_like_meilisearch() {
        let swaps = parse_swaps(&json!([{"indexes": ["numeric", "inferred"]}]), 3).unwrap();
        assert_eq!(swaps, [IndexSwap { indexes: ["numeric".into(), "inferred".into()], rename: false }]);
        let wrong_length = parse_swaps(&json!([{"indexes": ["a"]}]), 3).unwrap_err();
        assert_eq!(wrong_length.code, "invalid_swap_indexes");
        assert_eq!(wrong_length.message, "Two indexes must be given for each swap. The list `[\"a\"]` contains 1 indexes.");
        let duplicate = parse_swaps(&json!([{"indexes": ["a", "b"]}, {"indexes": ["b", "c"], "rename": true}]), 3).unwrap_err();
        assert_eq!(duplicate.code, "invalid_swap_duplicate_index_found");
        assert_eq!(duplicate.message, "Indexes must be declared only once during a swap. `b` was specified several times.");
        let missing = parse_swaps(&json!([{}]), 3).unwrap_err();
        assert_eq!((missing.code.as_str(), missing.message.as_str()), ("missing_swap_indexes", "Missing field `indexes` inside `[0]`"));
    }
}
