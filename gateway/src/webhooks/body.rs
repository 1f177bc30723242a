//! The body of `POST /webhooks` and `PATCH /webhooks/{uuid}` (Meilisearch's `WebhookSettings`)
//! and the checks Meilisearch makes on the webhook it would store, with its messages. Pure.

use std::collections::BTreeMap;

use axum::http::{HeaderName, HeaderValue};
use miroir_schemas::error::{Code, ResponseError};
use miroir_schemas::meta_log::webhooks::{Webhook, MAX_HEADERS};
use serde_json::Value;
use uuid::Uuid;

use crate::request_errors::{immutable_field, unknown_field};
use crate::settings::check::At;

/// A field of the body: absent, `null` (reset) or set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Setting<T> {
    #[default]
    NotSet,
    Reset,
    Set(T),
}

/// What the body asks: a URL, and headers to set (`Some`) or remove (`None`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebhookSettings {
    pub url: Setting<String>,
    pub headers: Setting<BTreeMap<String, Option<String>>>,
}

const FIELDS: [&str; 2] = ["url", "headers"];

/// Reads the body as deserr reads it: fields in order, the first error wins; `uuid` and
/// `isEditable` are immutable fields with their own codes, other unknown fields `bad_request`.
pub fn parse_settings(body: &Value) -> Result<WebhookSettings, ResponseError> {
    let root = At::root(Code::BadRequest);
    let object = body.as_object().ok_or_else(|| root.wrong_type(&[crate::request_errors::Kind::Map], body))?;
    let mut settings = WebhookSettings::default();
    for (key, value) in object {
        match key.as_str() {
            "url" => {
                let at = root.key("url").with_code(Code::InvalidWebhookUrl);
                settings.url = match value {
                    Value::Null => Setting::Reset,
                    other => Setting::Set(at.string(other)?),
                };
            }
            "headers" => settings.headers = parse_headers(&root.key("headers").with_code(Code::InvalidWebhookHeaders), value)?,
            "uuid" => return Err(ResponseError::new(Code::ImmutableWebhookUuid, immutable_field(key, &FIELDS))),
            "isEditable" => return Err(ResponseError::new(Code::ImmutableWebhookIsEditable, immutable_field(key, &FIELDS))),
            _ => return Err(ResponseError::new(Code::BadRequest, unknown_field(&[], key, &FIELDS))),
        }
    }
    Ok(settings)
}

fn parse_headers(at: &At, value: &Value) -> Result<Setting<BTreeMap<String, Option<String>>>, ResponseError> {
    let object = match value {
        Value::Null => return Ok(Setting::Reset),
        Value::Object(object) => object,
        other => return Err(at.wrong_type(&[crate::request_errors::Kind::Map], other)),
    };
    let mut headers = BTreeMap::new();
    for (name, value) in object {
        let header = match value {
            Value::Null => None,
            other => Some(at.key(name).string(other)?),
        };
        headers.insert(name.clone(), header);
    }
    Ok(Setting::Set(headers))
}

pub fn too_many_headers(uuid: Uuid) -> ResponseError {
    ResponseError::new(
        Code::InvalidWebhookHeaders,
        format!("Too many headers for the webhook `{uuid}`. Please limit the number of headers to {MAX_HEADERS}. Hint: To remove an already defined header set its value to `null`"),
    )
}

fn missing_url(uuid: Uuid) -> ResponseError {
    ResponseError::new(Code::InvalidWebhookUrl, format!("The URL for the webhook `{uuid}` is missing."))
}

/// `POST /webhooks`'s first check, on the body alone: more than 200 headers.
pub fn check_new_header_count(uuid: Uuid, settings: &WebhookSettings) -> Result<(), ResponseError> {
    match &settings.headers {
        Setting::Set(headers) if headers.len() > MAX_HEADERS => Err(too_many_headers(uuid)),
        _ => Ok(()),
    }
}

/// The webhook `POST /webhooks` creates (after the webhook count is checked): a URL is needed,
/// a header set to `null` is kept empty, then [`check_webhook`].
pub fn new_webhook(uuid: Uuid, settings: WebhookSettings) -> Result<Webhook, ResponseError> {
    let Setting::Set(url) = settings.url else { return Err(missing_url(uuid)) };
    let headers = match settings.headers {
        Setting::Set(headers) => headers.into_iter().map(|(name, value)| (name, value.unwrap_or_default())).collect(),
        Setting::NotSet | Setting::Reset => BTreeMap::new(),
    };
    let webhook = Webhook { url, headers };
    check_webhook(uuid, &webhook)?;
    Ok(webhook)
}

/// The webhook `PATCH /webhooks/{uuid}` leaves: the URL replaced (a `null` URL is refused),
/// headers cleared by `headers: null` or merged (a `null` value removes one), then
/// [`check_webhook`].
pub fn patched_webhook(uuid: Uuid, old: &Webhook, settings: &WebhookSettings) -> Result<Webhook, ResponseError> {
    let url = match &settings.url {
        Setting::Set(url) => url.clone(),
        Setting::NotSet => old.url.clone(),
        Setting::Reset => return Err(missing_url(uuid)),
    };
    let mut headers = old.headers.clone();
    match &settings.headers {
        Setting::Set(changes) => {
            for (name, value) in changes {
                match value {
                    Some(value) => headers.insert(name.clone(), value.clone()),
                    None => headers.remove(name),
                };
            }
        }
        Setting::Reset => headers.clear(),
        Setting::NotSet => {}
    }
    if headers.len() > MAX_HEADERS {
        return Err(too_many_headers(uuid));
    }
    let webhook = Webhook { url, headers };
    check_webhook(uuid, &webhook)?;
    Ok(webhook)
}

/// Meilisearch's `check_changed`: a URL, at most 200 headers, valid header names and values,
/// then a URL that parses.
pub fn check_webhook(uuid: Uuid, webhook: &Webhook) -> Result<(), ResponseError> {
    if webhook.url.is_empty() {
        return Err(missing_url(uuid));
    }
    if webhook.headers.len() > MAX_HEADERS {
        return Err(too_many_headers(uuid));
    }
    for (name, value) in &webhook.headers {
        if let Err(error) = HeaderName::from_bytes(name.as_bytes()) {
            return Err(ResponseError::new(Code::InvalidWebhookHeaders, format!("Invalid header name `{name}`: {error}")));
        }
        if let Err(error) = HeaderValue::from_str(value) {
            return Err(ResponseError::new(Code::InvalidWebhookHeaders, format!("Invalid header value `{name}`: {error}")));
        }
    }
    if let Err(error) = reqwest::Url::parse(&webhook.url) {
        return Err(ResponseError::new(Code::InvalidWebhookUrl, format!("Invalid URL `{}`: {error}", webhook.url)));
    }
    Ok(())
}

/// A `{uuid}` path parameter, as Meilisearch parses it.
pub fn parse_uuid(param: &str) -> Result<Uuid, ResponseError> {
    param.parse::<Uuid>().map_err(|error| ResponseError::new(Code::InvalidWebhookUuid, format!("Invalid UUID: {error}")))
}

/// Meilisearch's webhook set from its command line has the nil uuid and cannot be changed
/// through the API (Miroir has none, but refuses the uuid the same way).
pub fn check_editable(uuid: Uuid) -> Result<(), ResponseError> {
    if uuid.is_nil() {
        return Err(ResponseError::new(
            Code::ImmutableWebhook,
            format!("Webhook `{uuid}` is immutable. The webhook defined from the command line cannot be modified using the API."),
        ));
    }
    Ok(())
}

pub fn not_found(uuid: Uuid) -> ResponseError {
    ResponseError::new(Code::WebhookNotFound, format!("Webhook `{uuid}` not found."))
}

pub fn too_many_webhooks() -> ResponseError {
    ResponseError::new(
        Code::InvalidWebhooks,
        format!(
            "Defining too many webhooks would crush the server. Please limit the number of webhooks to {max}. You may use a third-party proxy server to dispatch events to more than {max} endpoints.",
            max = miroir_schemas::meta_log::webhooks::MAX_WEBHOOKS
        ),
    )
}
