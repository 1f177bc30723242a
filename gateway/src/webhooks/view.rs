//! How a webhook is shown: its uuid, whether it may be edited, its URL and headers, with the
//! value of every `Authorization` header hidden as Meilisearch hides it. Pure.

use miroir_schemas::meta_log::webhooks::Webhook;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::settings::hide_secret;

/// An `Authorization` value as shown: a `Bearer ` prefix kept, the secret after it hidden.
pub fn redacted_authorization(value: &str) -> String {
    match value.strip_prefix("Bearer ") {
        Some(secret) => format!("Bearer {}", hide_secret(secret)),
        None => hide_secret(value),
    }
}

/// `{"uuid", "isEditable", "url", "headers"}`.
pub fn webhook_view(uuid: &Uuid, webhook: &Webhook) -> Value {
    let headers: Map<String, Value> = webhook
        .headers
        .iter()
        .map(|(name, value)| {
            let shown = if name.eq_ignore_ascii_case("authorization") { redacted_authorization(value) } else { value.clone() };
            (name.clone(), Value::String(shown))
        })
        .collect();
    json!({"uuid": uuid, "isEditable": !uuid.is_nil(), "url": webhook.url, "headers": headers})
}
