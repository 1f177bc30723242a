//! Typed reading of one setting's JSON value, failing with the message Meilisearch's request
//! deserializer (deserr) gives and the setting's own error code. Each reader returns the value
//! normalized as Meilisearch keeps it (sets sorted and deduplicated, maps by key, object fields
//! in declaration order), so what reaches the nodes and the task details is what a node shows.

use std::collections::{BTreeMap, BTreeSet};

use miroir_schemas::error::{Code, ResponseError};
use serde_json::{Map, Value};

use crate::request_errors::{incorrect_type, missing_field, unexpected, unknown_field, unknown_value, Kind, Step};

/// Where a value sits and which code its errors carry.
#[derive(Debug, Clone)]
pub struct At {
    pub code: Code,
    pub path: Vec<Step>,
}

pub type Checked<T = Value> = Result<T, ResponseError>;

impl At {
    pub fn root(code: Code) -> At {
        At { code, path: Vec::new() }
    }

    pub fn key(&self, key: &str) -> At {
        let mut path = self.path.clone();
        path.push(Step::Key(key.to_owned()));
        At { code: self.code, path }
    }

    /// The same place, its errors carrying `code` (a field with its own error code).
    pub fn with_code(&self, code: Code) -> At {
        At { code, path: self.path.clone() }
    }

    pub fn index(&self, index: usize) -> At {
        let mut path = self.path.clone();
        path.push(Step::Index(index));
        At { code: self.code, path }
    }

    pub fn error(&self, message: String) -> ResponseError {
        ResponseError::new(self.code, message)
    }

    pub fn wrong_type(&self, accepted: &[Kind], found: &Value) -> ResponseError {
        self.error(incorrect_type(&self.path, accepted, found))
    }

    /// "Invalid value at `…`: {message}".
    pub fn invalid(&self, message: &str) -> ResponseError {
        self.error(unexpected(&self.path, message))
    }

    pub fn string(&self, value: &Value) -> Checked<String> {
        value.as_str().map(str::to_owned).ok_or_else(|| self.wrong_type(&[Kind::String], value))
    }

    pub fn boolean(&self, value: &Value) -> Checked {
        match value {
            Value::Bool(_) => Ok(value.clone()),
            other => Err(self.wrong_type(&[Kind::Boolean], other)),
        }
    }

    /// A non-negative integer no larger than `max`.
    pub fn unsigned(&self, value: &Value, max: u64) -> Checked<u64> {
        match value {
            Value::Number(number) => match number.as_u64() {
                Some(n) if n <= max => Ok(n),
                Some(n) => Err(self.invalid(&format!("value: `{n}` is too large to be deserialized, maximum value authorized is `{max}`"))),
                None => Err(self.wrong_type(&[Kind::Integer], value)),
            },
            other => Err(self.wrong_type(&[Kind::Integer], other)),
        }
    }

    /// A positive integer (`NonZeroUsize`).
    pub fn non_zero(&self, value: &Value) -> Checked<u64> {
        match self.unsigned(value, u64::MAX)? {
            0 => Err(self.invalid(&format!("a non-zero integer value lower than `{}` was expected, but found a zero", u64::MAX))),
            n => Ok(n),
        }
    }

    /// One of `accepted` (a unit enum spelled in camelCase).
    pub fn variant(&self, value: &Value, accepted: &[&str]) -> Checked {
        let text = self.string(value)?;
        if accepted.contains(&text.as_str()) {
            Ok(value.clone())
        } else {
            Err(self.error(unknown_value(&self.path, &text, accepted)))
        }
    }

    pub fn array<'v>(&self, value: &'v Value) -> Checked<&'v Vec<Value>> {
        value.as_array().ok_or_else(|| self.wrong_type(&[Kind::Sequence], value))
    }

    /// `Vec<String>`, order kept.
    pub fn string_list(&self, value: &Value) -> Checked<Vec<String>> {
        self.array(value)?.iter().enumerate().map(|(i, item)| self.index(i).string(item)).collect()
    }

    /// `BTreeSet<String>`: sorted, without repeats.
    pub fn string_set(&self, value: &Value) -> Checked {
        let set: BTreeSet<String> = self.string_list(value)?.into_iter().collect();
        Ok(Value::from(set.into_iter().collect::<Vec<_>>()))
    }

    /// `BTreeMap<String, T>`: keys sorted, each value read by `item`.
    pub fn map_of(&self, value: &Value, item: impl Fn(&At, &Value) -> Checked) -> Checked {
        let object = value.as_object().ok_or_else(|| self.wrong_type(&[Kind::Map], value))?;
        let mut sorted = BTreeMap::new();
        for (key, item_value) in object {
            sorted.insert(key.clone(), item(&self.key(key), item_value)?);
        }
        Ok(Value::Object(sorted.into_iter().collect()))
    }

    /// An object with the fields `fields` (declaration order), each read by its reader;
    /// unknown fields are refused when met, missing `required` ones after. The result lists
    /// the given fields in declaration order.
    pub fn object(&self, value: &Value, fields: &[(&str, Reader)], required: &[&str]) -> Checked<Map<String, Value>> {
        let object = value.as_object().ok_or_else(|| self.wrong_type(&[Kind::Map], value))?;
        let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
        let mut read: Vec<(usize, String, Value)> = Vec::with_capacity(object.len());
        for (key, item) in object {
            let Some(position) = names.iter().position(|name| name == key) else {
                return Err(self.error(unknown_field(&self.path, key, &names)));
            };
            read.push((position, key.clone(), (fields[position].1)(&self.key(key), item)?));
        }
        if let Some(missing) = required.iter().find(|name| !object.contains_key(**name)) {
            return Err(self.error(missing_field(&self.path, missing)));
        }
        read.sort_by_key(|(position, _, _)| *position);
        Ok(read.into_iter().map(|(_, key, value)| (key, value)).collect())
    }
}

/// Reads one field's value.
pub type Reader = fn(&At, &Value) -> Checked;

/// Wraps a reader so `null` passes (a `Setting<T>` field: `null` resets it).
pub fn nullable(at: &At, value: &Value, read: Reader) -> Checked {
    if value.is_null() {
        Ok(Value::Null)
    } else {
        read(at, value)
    }
}

/// A string, `null` passing.
pub fn optional_string(at: &At, value: &Value) -> Checked {
    nullable(at, value, |at, v| Ok(at.string(v)?.into()))
}

/// A boolean, `null` passing.
pub fn optional_boolean(at: &At, value: &Value) -> Checked {
    nullable(at, value, |at, v| at.boolean(v))
}

/// The reader `$read` for a field whose errors carry their own `$code`, as deserr gives each
/// field of a request its error code.
macro_rules! coded {
    ($code:expr, $read:expr) => {
        |at: &$crate::settings::check::At, value: &serde_json::Value| ($read)(&at.with_code($code), value)
    };
}
pub(crate) use coded;
