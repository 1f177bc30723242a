//! A minimal `/keys` API: the four default keys, creating keys, and action validation. Keys
//! created here are accepted by the stand-in's auth (with any action), which is enough for tests.

use serde_json::{json, Value};

use super::clock::{now, rfc3339};
use super::error::{ApiError, ApiResult};
use miroir_schemas::error::Code;

pub const ACTIONS: &[&str] = &[
    "*", "search", "documents.*", "documents.add", "documents.get", "documents.delete",
    "indexes.*", "indexes.create", "indexes.get", "indexes.update", "indexes.delete",
    "indexes.swap", "tasks.*", "tasks.cancel", "tasks.delete", "tasks.get", "settings.*",
    "settings.get", "settings.update", "stats.*", "stats.get", "metrics.*", "metrics.get",
    "dumps.*", "dumps.create", "snapshots.*", "snapshots.create", "version", "keys.create",
    "keys.get", "keys.update", "keys.delete", "experimental.get", "experimental.update",
    "export", "network.get", "network.update", "chatCompletions", "chats.*", "chats.get",
    "chats.delete", "chatsSettings.*", "chatsSettings.get", "chatsSettings.update", "*.get",
    "webhooks.get", "webhooks.update", "webhooks.delete", "webhooks.create", "webhooks.*",
    "indexes.compact", "fields.post", "tasks.compact", "dynamicSearchRules.get",
    "dynamicSearchRules.create", "dynamicSearchRules.update", "dynamicSearchRules.delete",
    "dynamicSearchRules.*",
];

fn random_key() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

fn key(name: Option<&str>, description: Option<&str>, uid: String, actions: Value, indexes: Value, expires_at: Value) -> Value {
    let at = rfc3339(now());
    json!({
        "name": name, "description": description, "key": random_key(), "uid": uid,
        "actions": actions, "indexes": indexes, "expiresAt": expires_at,
        "createdAt": at, "updatedAt": at,
    })
}

pub fn default_keys() -> Vec<Value> {
    let uid = || uuid::Uuid::new_v4().to_string();
    vec![
        key(Some("Default Search API Key"), Some("Use it to search from the frontend"), uid(), json!(["search"]), json!(["*"]), Value::Null),
        key(Some("Default Admin API Key"), Some("Use it for anything that is not a search operation. Caution! Do not expose it on a public frontend"), uid(), json!(["*"]), json!(["*"]), Value::Null),
        key(Some("Default Read-Only Admin API Key"), Some("Use it to read information across the whole database. Caution! Do not expose this key on a public frontend"), uid(), json!(["*.get", "keys.get"]), json!(["*"]), Value::Null),
        key(Some("Default Chat API Key"), Some("Use it to chat and search from the frontend"), uid(), json!(["chatCompletions", "search"]), json!(["*"]), Value::Null),
    ]
}

/// Validates a `POST /keys` body and builds the key.
pub fn create(body: &Value) -> ApiResult<Value> {
    const FIELDS: &[&str] = &["description", "name", "uid", "actions", "indexes", "expiresAt"];
    let Value::Object(fields) = body else {
        return Err(ApiError::new(Code::BadRequest, "Invalid value type: expected an object"));
    };
    if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::unknown_field(unknown, FIELDS));
    }
    let actions = fields.get("actions").ok_or_else(|| {
        ApiError::new(Code::MissingApiKeyActions, "Missing field `actions`")
    })?;
    let Value::Array(list) = actions else {
        return Err(ApiError::invalid_type(Code::InvalidApiKeyActions, "actions", "an array", actions));
    };
    for (i, action) in list.iter().enumerate() {
        match action.as_str() {
            Some(a) if ACTIONS.contains(&a) => {}
            _ => {
                let expected = ACTIONS.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ");
                let shown = action.as_str().map_or_else(|| action.to_string(), str::to_owned);
                return Err(ApiError::new(
                    Code::InvalidApiKeyActions,
                    format!("Unknown value `{shown}` at `.actions[{i}]`: expected one of {expected}"),
                ));
            }
        }
    }
    let indexes = fields.get("indexes").cloned().ok_or_else(|| {
        ApiError::new(Code::MissingApiKeyIndexes, "Missing field `indexes`")
    })?;
    let expires_at = fields.get("expiresAt").cloned().ok_or_else(|| {
        ApiError::new(Code::MissingApiKeyExpiresAt, "Missing field `expiresAt`")
    })?;
    let uid = fields
        .get("uid")
        .and_then(Value::as_str)
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    Ok(key(
        fields.get("name").and_then(Value::as_str),
        fields.get("description").and_then(Value::as_str),
        uid,
        actions.clone(),
        indexes,
        expires_at,
    ))
}
