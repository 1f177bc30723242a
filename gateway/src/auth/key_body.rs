//! Validation of `POST /keys` and `PATCH /keys/{key}` bodies into `meta` log records, with
//! Meilisearch's exact errors. Fields are read in the body's own order and the first error
//! wins, then missing fields are reported in declaration order, as Meilisearch does.

use miroir_schemas::error::{Code, ResponseError};
use miroir_schemas::meta_log::{ApiKeyRecord, KeyChange};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::{format_description, time};
use time::{Date, OffsetDateTime, PrimitiveDateTime};
use uuid::Uuid;

use super::action::{Action, IndexScope};
use super::pattern::IndexPattern;
use crate::request_errors::{self as msg, Kind, Step};

const CREATE_FIELDS: &[&str] = &["description", "name", "uid", "actions", "indexes", "expiresAt"];
const PATCH_FIELDS: &[&str] = &["description", "name"];

fn err(code: Code, message: String) -> ResponseError {
    ResponseError::new(code, message)
}

fn at(field: &str) -> Vec<Step> {
    vec![Step::Key(field.to_owned())]
}

fn as_object(body: &Value) -> Result<&Map<String, Value>, ResponseError> {
    body.as_object().ok_or_else(|| err(Code::BadRequest, msg::incorrect_type(&[], &[Kind::Map], body)))
}

/// `null` → `None`, a string → `Some`, anything else is an error with `code`.
fn optional_string(field: &str, value: &Value, code: Code) -> Result<Option<String>, ResponseError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        other => Err(err(code, msg::incorrect_type(&at(field), &[Kind::String], other))),
    }
}

fn parse_uid(value: &Value) -> Result<Uuid, ResponseError> {
    let Value::String(s) = value else {
        return Err(err(Code::InvalidApiKeyUid, msg::incorrect_type(&at("uid"), &[Kind::String], value)));
    };
    Uuid::parse_str(s).map_err(|e| err(Code::InvalidApiKeyUid, msg::unexpected(&at("uid"), &e.to_string())))
}

/// An array of strings, each turned into a `T` by `parse` (which gets the item's location).
fn string_items<T>(
    field: &str,
    value: &Value,
    code: Code,
    parse: impl Fn(&str, &[Step]) -> Result<T, ResponseError>,
) -> Result<Vec<T>, ResponseError> {
    let items = value.as_array().ok_or_else(|| err(code, msg::incorrect_type(&at(field), &[Kind::Sequence], value)))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let location = [Step::Key(field.to_owned()), Step::Index(i)];
            match item {
                Value::String(text) => parse(text, &location),
                other => Err(err(code, msg::incorrect_type(&location, &[Kind::String], other))),
            }
        })
        .collect()
}

fn parse_actions(value: &Value) -> Result<Vec<Action>, ResponseError> {
    let code = Code::InvalidApiKeyActions;
    string_items("actions", value, code, |name, location| {
        Action::from_name(name).ok_or_else(|| err(code, msg::unknown_value(location, name, Action::NAMES)))
    })
}

fn parse_indexes(value: &Value) -> Result<Vec<IndexPattern>, ResponseError> {
    let code = Code::InvalidApiKeyIndexes;
    string_items("indexes", value, code, |pattern, location| {
        IndexPattern::parse(pattern).map_err(|e| err(code, msg::unexpected(location, &e.to_string())))
    })
}

/// `expiresAt`: `null`, or an RFC 3339 date-time, `YYYY-MM-DDTHH:MM:SS`, `YYYY-MM-DD HH:MM:SS`
/// or `YYYY-MM-DD` (the last three in UTC), strictly after `now`.
fn parse_expires_at(value: &Value, now: OffsetDateTime) -> Result<Option<OffsetDateTime>, ResponseError> {
    let code = Code::InvalidApiKeyExpiresAt;
    let Some(text) = optional_string("expiresAt", value, code)? else {
        return Ok(None);
    };
    let parsed = OffsetDateTime::parse(&text, &Rfc3339)
        .ok()
        .or_else(|| {
            PrimitiveDateTime::parse(
                &text,
                format_description!("[year repr:full base:calendar]-[month repr:numerical]-[day]T[hour]:[minute]:[second]"),
            )
            .ok()
            .map(PrimitiveDateTime::assume_utc)
        })
        .or_else(|| {
            PrimitiveDateTime::parse(
                &text,
                format_description!("[year repr:full base:calendar]-[month repr:numerical]-[day] [hour]:[minute]:[second]"),
            )
            .ok()
            .map(PrimitiveDateTime::assume_utc)
        })
        .or_else(|| {
            Date::parse(&text, format_description!("[year repr:full base:calendar]-[month repr:numerical]-[day]"))
                .ok()
                .map(|date| PrimitiveDateTime::new(date, time!(00:00)).assume_utc())
        });
    match parsed {
        Some(date) if date > now => Ok(Some(date)),
        _ => Err(err(
            code,
            // Meilisearch's message ends with a newline.
            msg::unexpected(
                &at("expiresAt"),
                &format!(
                    "`{text}` is not a valid date. It should follow the RFC 3339 format to represents a date or datetime in the future or specified as a null value. e.g. 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS'.\n"
                ),
            ),
        )),
    }
}

/// A validated `POST /keys` body, before the uniqueness check against the key set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub record: ApiKeyRecord,
}

/// Validates a create body. `fresh_uid` is used when the body names no `uid` (Meilisearch
/// draws a random v4); `now` is the creation time and the lower bound of `expiresAt`.
pub fn parse_create(body: &Value, fresh_uid: Uuid, now: OffsetDateTime) -> Result<NewKey, ResponseError> {
    let object = as_object(body)?;
    let (mut description, mut name, mut uid) = (None, None, fresh_uid);
    let (mut actions, mut indexes, mut expires_at) = (None, None, None);
    for (field, value) in object {
        match field.as_str() {
            "description" => description = optional_string(field, value, Code::InvalidApiKeyDescription)?,
            "name" => name = optional_string(field, value, Code::InvalidApiKeyName)?,
            "uid" => uid = parse_uid(value)?,
            "actions" => actions = Some(parse_actions(value)?),
            "indexes" => indexes = Some(parse_indexes(value)?),
            "expiresAt" => expires_at = Some(parse_expires_at(value, now)?),
            unknown => return Err(err(Code::BadRequest, msg::unknown_field(&[], unknown, CREATE_FIELDS))),
        }
    }
    let actions = actions.ok_or_else(|| err(Code::MissingApiKeyActions, msg::missing_field(&[], "actions")))?;
    let indexes = indexes.ok_or_else(|| err(Code::MissingApiKeyIndexes, msg::missing_field(&[], "indexes")))?;
    let expires_at = expires_at.ok_or_else(|| err(Code::MissingApiKeyExpiresAt, msg::missing_field(&[], "expiresAt")))?;

    check_index_scope(&actions, &indexes)?;

    Ok(NewKey {
        record: ApiKeyRecord {
            uid,
            name,
            description,
            actions: actions.iter().map(|a| a.name().to_owned()).collect(),
            indexes: indexes.iter().map(|p| p.as_str().to_owned()).collect(),
            expires_at,
            created_at: now,
            updated_at: now,
        },
    })
}

/// A key limited to some indexes may not hold a global-only action.
fn check_index_scope(actions: &[Action], indexes: &[IndexPattern]) -> Result<(), ResponseError> {
    let all_indexes = indexes.is_empty() || indexes.iter().any(IndexPattern::matches_all);
    if all_indexes {
        return Ok(());
    }
    match actions.iter().find(|a| a.index_scope() == IndexScope::DenyIndexScope) {
        // Meilisearch prints the action JSON-encoded, quotes included.
        Some(action) => {
            let quoted = Value::String(action.name().to_owned()).to_string();
            Err(err(
                Code::IndexScopedApiKeyWithGlobalAction,
                format!(
                    "cannot create index-scoped API key with global action `{quoted}`\n  - Hint: remove action `{quoted}` from the action list, or remove `indexes` to make the key global"
                ),
            ))
        }
        None => Ok(()),
    }
}

/// The fields a `PATCH /keys/{key}` body sets: absent → unchanged, `null` → cleared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPatch {
    pub name: Option<Option<String>>,
    pub description: Option<Option<String>>,
}

impl KeyPatch {
    /// The `meta` record applying this patch to key `uid` at `now`.
    pub fn into_change(self, uid: Uuid, now: OffsetDateTime) -> KeyChange {
        KeyChange::Update { uid, name: self.name, description: self.description, updated_at: now }
    }
}

/// Validates a patch body: only `name` and `description` may change.
pub fn parse_patch(body: &Value) -> Result<KeyPatch, ResponseError> {
    let object = as_object(body)?;
    let mut patch = KeyPatch::default();
    for (field, value) in object {
        match field.as_str() {
            "description" => patch.description = Some(optional_string(field, value, Code::InvalidApiKeyDescription)?),
            "name" => patch.name = Some(optional_string(field, value, Code::InvalidApiKeyName)?),
            other => {
                let code = match other {
                    "uid" => Code::ImmutableApiKeyUid,
                    "actions" => Code::ImmutableApiKeyActions,
                    "indexes" => Code::ImmutableApiKeyIndexes,
                    "expiresAt" => Code::ImmutableApiKeyExpiresAt,
                    "createdAt" => Code::ImmutableApiKeyCreatedAt,
                    "updatedAt" => Code::ImmutableApiKeyUpdatedAt,
                    unknown => return Err(err(Code::BadRequest, msg::unknown_field(&[], unknown, PATCH_FIELDS))),
                };
                return Err(err(code, msg::immutable_field(other, PATCH_FIELDS)));
            }
        }
    }
    Ok(patch)
}

#[cfg(test)]
mod tests;
