//! Messages of JSON body and query parameter validation errors, worded as Meilisearch's
//! request deserializer (`deserr`) words them: "Invalid value type at `.actions`: expected an
//! array, but found a string: `\"search\"`", "Unknown field `foo`: did you mean `name`? expected
//! one of …", "Missing field `actions`".

use serde_json::Value;

/// A step of the path from the body's root to the value an error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Path from the body's root.
pub type Location = [Step];

/// The kinds a JSON value can have, in the order deserr sorts them in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Null,
    Boolean,
    Integer,
    NegativeInteger,
    Float,
    String,
    Sequence,
    Map,
}

pub fn kind_of(value: &Value) -> Kind {
    match value {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Boolean,
        Value::Number(n) if n.is_u64() => Kind::Integer,
        Value::Number(n) if n.is_i64() => Kind::NegativeInteger,
        Value::Number(_) => Kind::Float,
        Value::String(_) => Kind::String,
        Value::Array(_) => Kind::Sequence,
        Value::Object(_) => Kind::Map,
    }
}

fn single_description(kind: Kind) -> &'static str {
    match kind {
        Kind::Null => "null",
        Kind::Boolean => "a boolean",
        Kind::Integer => "a positive integer",
        Kind::NegativeInteger => "a negative integer",
        Kind::Float => "a number",
        Kind::String => "a string",
        Kind::Sequence => "an array",
        Kind::Map => "an object",
    }
}

/// "a string", "a string or null", "a boolean, a string, or an array": number kinds that come
/// together are merged into "a number" / "an integer".
pub fn kinds_description(kinds: &[Kind]) -> String {
    let mut kinds = kinds.to_vec();
    kinds.sort();
    kinds.dedup();
    if kinds.is_empty() {
        return "a different value".to_owned();
    }
    let mut parts = Vec::new();
    let mut rest = kinds.as_slice();
    while !rest.is_empty() {
        let (part, tail): (&str, &[Kind]) = match rest {
            [Kind::Integer | Kind::NegativeInteger, Kind::Float, tail @ ..] => ("a number", tail),
            [Kind::Integer, Kind::NegativeInteger, Kind::Float, tail @ ..] => ("a number", tail),
            [Kind::Integer, Kind::NegativeInteger, tail @ ..] => ("an integer", tail),
            [kind, tail @ ..] => (single_description(*kind), tail),
            [] => unreachable!("loop runs while rest is not empty"),
        };
        parts.push(part);
        rest = tail;
    }
    match parts.as_slice() {
        [one] => (*one).to_owned(),
        [first, second] => format!("{first} or {second}"),
        [init @ .., last] => format!("{}, or {last}", init.join(", ")),
        [] => unreachable!("kinds is not empty"),
    }
}

/// "null" or "a string: `\"x\"`".
pub fn value_description(value: &Value) -> String {
    match kind_of(value) {
        Kind::Null => "null".to_owned(),
        kind => format!("{}: `{}`", kinds_description(&[kind]), value),
    }
}

/// "` at `.actions[0]`" style suffix; empty at the root.
pub fn location_description(location: &Location, article: &str) -> String {
    if location.is_empty() {
        return String::new();
    }
    let mut path = String::new();
    for step in location {
        match step {
            Step::Key(key) => {
                path.push('.');
                path.push_str(key);
            }
            Step::Index(index) => path.push_str(&format!("[{index}]")),
        }
    }
    format!("{article} `{path}`")
}

/// "did you mean `name`? " when one accepted word is within the typo budget of `received`
/// (Damerau–Levenshtein, as deserr counts it), else "".
pub fn did_you_mean(received: &str, accepted: &[&str]) -> String {
    let allowed = match received.len() {
        0..=3 => return String::new(),
        4..=7 => 1,
        8..=12 => 2,
        13..=17 => 3,
        18..=24 => 4,
        _ => 5,
    };
    accepted
        .iter()
        .map(|word| (word, strsim::damerau_levenshtein(received, word)))
        .filter(|(_, distance)| *distance <= allowed)
        .min_by_key(|(_, distance)| *distance)
        .map(|(word, _)| format!("did you mean `{word}`? "))
        .unwrap_or_default()
}

fn quoted_list(words: &[&str]) -> String {
    words.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", ")
}

pub fn incorrect_type(location: &Location, accepted: &[Kind], actual: &Value) -> String {
    format!(
        "Invalid value type{}: expected {}, but found {}",
        location_description(location, " at"),
        kinds_description(accepted),
        value_description(actual)
    )
}

pub fn missing_field(location: &Location, field: &str) -> String {
    format!("Missing field `{field}`{}", location_description(location, " inside"))
}

pub fn unknown_field(location: &Location, key: &str, accepted: &[&str]) -> String {
    format!(
        "Unknown field `{key}`{}: {}expected one of {}",
        location_description(location, " inside"),
        did_you_mean(key, accepted),
        quoted_list(accepted)
    )
}

pub fn unknown_value(location: &Location, value: &str, accepted: &[&str]) -> String {
    format!(
        "Unknown value `{value}`{}: {}expected one of {}",
        location_description(location, " at"),
        did_you_mean(value, accepted),
        quoted_list(accepted)
    )
}

pub fn unexpected(location: &Location, message: &str) -> String {
    format!("Invalid value{}: {message}", location_description(location, " at"))
}

/// "Immutable field `uid`: expected one of `description`, `name`".
pub fn immutable_field(field: &str, accepted: &[&str]) -> String {
    format!("Immutable field `{field}`: expected one of {}", quoted_list(accepted))
}

/// Query parameter flavour: "Invalid value in parameter `offset`: could not parse …".
pub fn query_param_unexpected(param: &str, message: &str) -> String {
    format!("Invalid value in parameter `{param}`: {message}")
}

/// "Invalid value type for parameter `offset`: expected a string, but found multiple values".
pub fn query_param_repeated(param: &str) -> String {
    format!("Invalid value type for parameter `{param}`: expected a string, but found multiple values")
}

pub fn query_param_unknown(param: &str, accepted: &[&str]) -> String {
    format!("Unknown parameter `{param}`: {}expected one of {}", did_you_mean(param, accepted), quoted_list(accepted))
}

#[cfg(test)]
mod tests;
