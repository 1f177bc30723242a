//! `/indexes/{uid}/settings` and every `/indexes/{uid}/settings/{route}` sub-route of
//! Meilisearch 1.50. Updates are validated synchronously ([`validation`]) and enqueued as
//! one `settingsUpdate` task applied to every shard; reads come from one replica of `shard-0`
//! (every shard holds the same settings), node errors rewritten to the client's index name.
//!
//! Like Meilisearch, these routes read no query parameter (so take no `customMetadata`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use miroir_clients::node::{NodeClient, NodeClientConfig};
use miroir_schemas::details::TaskDetails;
use miroir_schemas::envelope::Op;
use miroir_schemas::error::ResponseError;
use miroir_schemas::node_layout::{layout_node_index_uid, without_shard_rule, ReplicaRank};
use miroir_schemas::task_log::TaskType;
use miroir_schemas::topology::ShardId;
use reqwest::Method as NodeMethod;
use serde_json::Value;

use crate::auth::Auth;
use crate::error::GatewayError;
use crate::params::{path_index_uid, QueryParams};
use crate::read::fanout::Failure;
use crate::read::rewrite::{client_error, ClientRequest};
use crate::read::ReadError;
use crate::routes::write::{created_first, current_catalog, json_request, new_entry, submit, submit_as_is, Accepted};
use crate::state::AppState;

use crate::settings::fields::{self, SettingField, UpdateVerb};
use crate::settings::{self as checks, SettingsUpdate};

/// The caller's credentials, as the auth middleware judged them.
type Caller = Auth;

/// Enqueues `update` for index `uid`; `reset_all` sends the nodes a plain settings reset.
async fn enqueue(state: &AppState, caller: &Caller, uid: &str, update: SettingsUpdate, reset_all: bool) -> Result<Accepted, GatewayError> {
    let exists = current_catalog(state, |catalog| catalog.index(uid).is_some()).await?;
    let details = TaskDetails::SettingsUpdate { settings: checks::details(&update) };
    let mut entry = new_entry(TaskType::SettingsUpdate, Some(uid), details, &QueryParams::default());
    if !exists && !caller.allow_index_creation(uid) {
        // As with documents, Meilisearch accepts the update and fails its task, creating
        // nothing, when the key may not create the index it names.
        entry.record.error = Some(ResponseError::index_not_found(uid));
        return submit_as_is(state, entry, None, Vec::new()).await;
    }
    let op = if reset_all { Op::ResetSettings } else { Op::UpdateSettings { settings: update } };
    let routing = state.topology_changes().routing(uid).await?;
    submit(state, entry, routing.layout, created_first(&routing, exists, None, routing.on_every_shard(op))).await
}

/// `PATCH /indexes/{uid}/settings`.
pub async fn update_all(
    State(state): State<AppState>,
    caller: Caller,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Accepted, GatewayError> {
    path_index_uid(&uid, state.topology().replication_factor)?;
    let body = json_request(&state, &headers, body).await?;
    let update = checks::parse_settings(&body)?;
    enqueue(&state, &caller, &uid, update, false).await
}

/// `DELETE /indexes/{uid}/settings`: every setting back to its default.
pub async fn reset_all(State(state): State<AppState>, caller: Caller, Path(uid): Path<String>) -> Result<Accepted, GatewayError> {
    path_index_uid(&uid, state.topology().replication_factor)?;
    enqueue(&state, &caller, &uid, checks::reset_all(), true).await
}

/// `PUT`/`PATCH` (whichever the setting uses) and `DELETE /indexes/{uid}/settings/{route}`.
/// An unknown sub-route is a bare `404` and another verb a bare `405`, as actix-web answers.
pub async fn update_one(
    State(state): State<AppState>,
    caller: Caller,
    Path((uid, route)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, GatewayError> {
    let Some(field) = fields::by_route(&route) else { return Ok(StatusCode::NOT_FOUND.into_response()) };
    let update = if method == Method::DELETE {
        path_index_uid(&uid, state.topology().replication_factor)?;
        checks::reset_one(field)
    } else {
        let expected = match field.verb {
            UpdateVerb::Put => Method::PUT,
            UpdateVerb::Patch => Method::PATCH,
        };
        if method != expected {
            return Ok(StatusCode::METHOD_NOT_ALLOWED.into_response());
        }
        path_index_uid(&uid, state.topology().replication_factor)?;
        let body = json_request(&state, &headers, body).await?;
        checks::parse_one(field, &body)?
    };
    Ok(enqueue(&state, &caller, &uid, update, false).await?.into_response())
}

/// `GET /indexes/{uid}/settings`.
pub async fn get_all(State(state): State<AppState>, Path(uid): Path<String>) -> Result<Json<Value>, GatewayError> {
    read_settings(&state, &uid, None).await.map(Json)
}

/// `GET /indexes/{uid}/settings/{route}`.
pub async fn get_one(State(state): State<AppState>, Path((uid, route)): Path<(String, String)>) -> Result<Response, GatewayError> {
    let Some(field) = fields::by_route(&route) else { return Ok(StatusCode::NOT_FOUND.into_response()) };
    Ok(Json(read_settings(&state, &uid, Some(field)).await?).into_response())
}

/// The settings as the user set them: Miroir's filterable rule for the shard field, which
/// every node index carries first, taken out.
fn user_settings(mut settings: Value, field: Option<&SettingField>) -> Value {
    match field {
        None => {
            if let Some(rules) = settings.get("filterableAttributes") {
                settings["filterableAttributes"] = without_shard_rule(rules);
            }
            settings
        }
        Some(field) if field.route == "filterable-attributes" => without_shard_rule(&settings),
        Some(_) => settings,
    }
}

/// Reads the settings (or one sub-route) of `uid` from a replica of `shard-0`: replicas are
/// tried in placement order until one answers; an error that is the user's (e.g. the index
/// is not created on the nodes yet) is returned at once with the client's index name.
pub(crate) async fn read_settings(state: &AppState, uid: &str, field: Option<&SettingField>) -> Result<Value, GatewayError> {
    path_index_uid(uid, state.topology().replication_factor)?;
    if current_catalog(state, |catalog| catalog.index(uid).is_none()).await? {
        return Err(ResponseError::index_not_found(uid).into());
    }
    // A replica without the index (its node came back empty) is passed over; when none has it,
    // the index is gone.
    let mut index_missing = None;
    // The placement reads use: during a topology change the new holders are read once copied.
    let layout = state.topology_changes().layout(uid);
    let (placement, _) = state.read_placement(layout);
    for node in placement.replicas(ShardId(0)) {
        let rank = placement.rank_of(ShardId(0), &node.id).unwrap_or(ReplicaRank(0));
        let node_index = layout_node_index_uid(uid, layout, rank);
        let path = match field {
            None => format!("/indexes/{node_index}/settings"),
            Some(field) => format!("/indexes/{node_index}/settings/{}", field.route),
        };
        let client = NodeClient::new(NodeClientConfig::new(node.id.clone(), node.url.clone(), node.api_key.clone()))
            .map_err(|error| GatewayError::Internal(error.to_string()))?;
        match client.request_json(NodeMethod::GET, &path, &[], None).await {
            Ok((_, settings)) => return Ok(user_settings(settings, field)),
            Err(error) => match Failure::from_node_error(error, |object| client_error(object, ClientRequest::SingleIndex, |_| None)) {
                Failure::User(object) => return Err(GatewayError::Meili(object)),
                Failure::Missing(object) => index_missing = Some(object),
                Failure::Node(reason) => tracing::warn!(node = %node.id, %reason, "settings read failed; trying another replica"),
            },
        }
    }
    match index_missing {
        Some(object) => Err(GatewayError::Meili(object)),
        None => Err(ReadError::ShardsUnavailable { index: uid.to_owned(), shards: vec![ShardId(0)] }.into()),
    }
}
