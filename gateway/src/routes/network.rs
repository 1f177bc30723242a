//! `/network` and `/network/control`, answered as a Meilisearch 1.50 Community Edition node
//! with the `network` feature on (the cluster has it on, see [`crate::features`]) and no
//! network configured: the cluster's topology is Miroir's own (`/_miroir/topology`), so it
//! cannot be declared part of a Meilisearch network.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use miroir_schemas::error::{Code, ResponseError};
use serde_json::{json, Value};

use crate::error::GatewayError;
use crate::routes::write::json_request;
use crate::settings::check::{coded, nullable, optional_string, At, Checked};
use crate::state::AppState;

/// `GET /network` of a node that never had a network (its version is the nil uuid).
pub fn empty_network() -> Value {
    json!({"self": null, "remotes": {}, "shards": {}, "leader": null, "version": "00000000-0000-0000-0000-000000000000"})
}

/// Reads a `PATCH /network` body as Meilisearch does (deserr, each field with its own error
/// code) and tells whether it would configure anything: a `self` or `leader`, or a remote or
/// shard entry. Removing entries (`null`) from the empty network configures nothing.
pub fn configures_a_network(body: &Value) -> Result<bool, ResponseError> {
    let read = At::root(Code::BadRequest).object(
        body,
        &[
            ("remotes", remotes),
            ("shards", shards),
            ("previousShards", shards),
            ("self", coded!(Code::InvalidNetworkSelf, optional_string)),
            ("leader", coded!(Code::InvalidNetworkLeader, optional_string)),
            ("previousRemotes", remotes),
        ],
        &[],
    )?;
    Ok(read.values().any(|value| match value {
        Value::String(_) => true,
        Value::Object(entries) => entries.values().any(|entry| !entry.is_null()),
        _ => false,
    }))
}

fn remotes(at: &At, value: &Value) -> Checked {
    nullable(&at.with_code(Code::InvalidNetworkRemotes), value, |at, v| at.map_of(v, |at, entry| nullable(at, entry, remote)))
}

fn remote(at: &At, value: &Value) -> Checked {
    let fields = at.object(
        value,
        &[
            ("url", coded!(Code::InvalidNetworkUrl, optional_string)),
            ("searchApiKey", coded!(Code::InvalidNetworkSearchApiKey, optional_string)),
            ("writeApiKey", coded!(Code::InvalidNetworkWriteApiKey, optional_string)),
        ],
        &[],
    )?;
    Ok(Value::Object(fields))
}

fn shards(at: &At, value: &Value) -> Checked {
    nullable(&at.with_code(Code::InvalidNetworkShards), value, |at, v| at.map_of(v, |at, entry| nullable(at, entry, shard_fields)))
}

fn shard_fields(at: &At, value: &Value) -> Checked {
    let remote_names: fn(&At, &Value) -> Checked =
        |at, v| nullable(&at.with_code(Code::InvalidNetworkRemotes), v, |at, v| at.string_set(v));
    let fields = at.object(value, &[("remotes", remote_names), ("addRemotes", remote_names), ("removeRemotes", remote_names)], &[])?;
    Ok(Value::Object(fields))
}

/// `GET /network`.
pub async fn get_network() -> Json<Value> {
    Json(empty_network())
}

/// `PATCH /network`: the body is checked as a node checks it; one that configures nothing gets
/// the (empty) network, any other is refused, since the cluster cannot join a network.
pub async fn patch_network(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Body) -> Result<Json<Value>, GatewayError> {
    let body = json_request(&state, &headers, body).await?;
    if configures_a_network(&body)? {
        return Err(GatewayError::meili(
            Code::BadRequest,
            "A Miroir cluster cannot be part of a Meilisearch network: Miroir places the shards on its nodes itself (see `GET /_miroir/topology`).",
        ));
    }
    Ok(Json(empty_network()))
}

/// The body of `POST /network/control` (Meilisearch's `NetworkChange`), read with serde as
/// Meilisearch reads it, so a malformed one gets the same "Json deserialize error".
mod control {
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)] // read for its errors only
    pub struct NetworkChange {
        origin: Origin,
        message: Message,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Origin {
        remote_name: String,
        task_uid: u32,
        #[serde(default)]
        network_version: uuid::Uuid,
    }

    /// Meilisearch's variant names, which serde's messages quote.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", tag = "type")]
    #[allow(dead_code, clippy::enum_variant_names)]
    enum Message {
        ExportNoIndexForRemote { remote: String },
        ImportFinishedForRemote { remote: String, successful: bool },
        StatusChangeForRemote { remote: String, status: Status },
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    enum Status {
        Available,
        Unavailable,
    }
}

/// `POST /network/control`: a Community Edition node reads the body, then answers that the
/// route needs the Enterprise Edition.
pub async fn network_control(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, GatewayError> {
    let bytes = crate::body::read_limited(body, state.payload_limit()).await?;
    crate::body::json_body(&headers, &bytes)?;
    serde_json::from_slice::<control::NetworkChange>(&bytes)
        .map_err(|error| ResponseError::new(Code::BadRequest, format!("Json deserialize error: {error}")))?;
    Err(GatewayError::meili(Code::RequiresEnterpriseEdition, "Meilisearch Enterprise Edition is required to call this route"))
}

#[cfg(test)]
mod tests;
