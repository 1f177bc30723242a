//! Index settings updates, validated synchronously with Meilisearch 1.50's exact errors, and
//! turned into what a `settingsUpdate` task carries: the settings sent to every shard (a `null`
//! value resets that setting) and the `details` its task view shows. Pure.

pub mod check;
pub mod fields;
pub mod locales;
pub mod values;

use miroir_schemas::error::{Code, ResponseError};
use serde_json::{Map, Value};

use crate::features;
use crate::request_errors::{incorrect_type, unknown_field, Kind};
use check::At;
use fields::SettingField;

/// A checked update: the settings to apply (`null` resets) in declaration order.
pub type SettingsUpdate = Map<String, Value>;

/// `PATCH /indexes/{uid}/settings`: the whole settings object.
pub fn parse_settings(body: &Value) -> Result<SettingsUpdate, ResponseError> {
    let object = body.as_object().ok_or_else(|| ResponseError::new(Code::BadRequest, incorrect_type(&[], &[Kind::Map], body)))?;
    let mut update = Vec::with_capacity(object.len());
    for (key, value) in object {
        let field = fields::by_name(key).ok_or_else(|| ResponseError::new(Code::BadRequest, unknown_field(&[], key, &fields::names())))?;
        update.push((key.clone(), read_value(field, &At::root(field.code).key(key), value)?));
    }
    update.sort_by_key(|(key, _)| fields::order(key));
    let update: SettingsUpdate = update.into_iter().collect();
    check_semantics(&update)?;
    Ok(update)
}

/// `PUT`/`PATCH /indexes/{uid}/settings/{route}`: one setting's value (`null` resets it).
pub fn parse_one(field: &SettingField, body: &Value) -> Result<SettingsUpdate, ResponseError> {
    let value = read_value(field, &At::root(field.code), body)?;
    let update: SettingsUpdate = [(field.name.to_owned(), value)].into_iter().collect();
    check_semantics(&update)?;
    Ok(update)
}

/// `DELETE /indexes/{uid}/settings/{route}`.
pub fn reset_one(field: &SettingField) -> SettingsUpdate {
    [(field.name.to_owned(), Value::Null)].into_iter().collect()
}

/// `DELETE /indexes/{uid}/settings`: every setting reset.
pub fn reset_all() -> SettingsUpdate {
    fields::FIELDS.iter().map(|field| (field.name.to_owned(), Value::Null)).collect()
}

fn read_value(field: &SettingField, at: &At, value: &Value) -> Result<Value, ResponseError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    values::reader(field.name)(at, value)
}

/// What Meilisearch checks once the body is read: experimental features (as a node with none
/// enabled answers), then milli's own rules.
fn check_semantics(update: &SettingsUpdate) -> Result<(), ResponseError> {
    let set = |name: &str| update.get(name).is_some_and(|value| !value.is_null());
    if set("chat") {
        return Err(features::CHAT_COMPLETIONS.refuse("setting `chat` in the index settings"));
    }
    if set("foreignKeys") {
        return Err(features::FOREIGN_KEYS.refuse("setting `foreignKeys` in the index settings"));
    }
    if update.get("rankingRules").is_some_and(values::mixes_attribute_rules) {
        return Err(ResponseError::new(Code::InvalidSettingsRankingRules, values::MIXED_ATTRIBUTE_RULES));
    }
    Ok(())
}

/// The task's `details`: the update as sent, with a reset wildcard setting shown as `["*"]`
/// and embedder API keys hidden, as Meilisearch prints them.
pub fn details(update: &SettingsUpdate) -> Map<String, Value> {
    let mut details = update.clone();
    for wildcard in ["displayedAttributes", "searchableAttributes"] {
        if let Some(value @ Value::Null) = details.get_mut(wildcard) {
            *value = Value::from(vec!["*"]);
        }
    }
    if let Some(Value::Object(embedders)) = details.get_mut("embedders") {
        for embedder in embedders.values_mut() {
            if let Some(Value::String(key)) = embedder.get_mut("apiKey") {
                *key = hide_secret(key);
            }
        }
    }
    details
}

/// Meilisearch's redaction of a secret: a few leading characters kept, the rest `X…`.
pub fn hide_secret(secret: &str) -> String {
    let (kept, mask) = match secret.len() {
        0..=9 => (0, "XXX..."),
        10..=19 => (2, "XXXX..."),
        20..=29 => (3, "XXXXX..."),
        _ => (5, "XXXXXX..."),
    };
    let mut cut = kept;
    while !secret.is_char_boundary(cut) {
        cut += 1;
    }
    format!("{}{mask}", &secret[..cut])
}

#[cfg(test)]
mod tests;
