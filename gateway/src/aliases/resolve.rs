//! How a request naming an alias is served (pure): which index it is rewritten to, or why it is
//! refused. A name resolves once per request, against one view of the aliases, so a request is
//! answered wholly by the indexes the alias named at that moment.
//!
//! * A name that is an index is the index (an alias never shadows one, even after a race).
//! * `/indexes/{alias}/…` through a **one-index alias** is served as `/indexes/{index}/…`:
//!   searches, document reads, settings and stats, and document and settings writes (their
//!   tasks name the index). Index-level changes (`PATCH`/`DELETE /indexes/{alias}`) are
//!   refused: they would act on the index behind the name.
//! * Through a **several-index alias** only federated multi-search reads: each query naming it
//!   becomes one query per index. Anything else is refused with a clear error.
//! * No index can be created or renamed to an alias's name.

use axum::http::Method;
use miroir_schemas::error::{ErrorType, ResponseError};
use miroir_schemas::meta_log::aliases::Aliases;
use serde_json::{Map, Value};

use crate::error::miroir_error;

/// Writes or index-level changes through an alias that cannot take them.
pub const NOT_WRITABLE_CODE: &str = "alias_not_writable";
/// A request one index must answer, through an alias naming several.
pub const SEVERAL_INDEXES_CODE: &str = "alias_has_several_indexes";
/// An alias and an index would share a name.
pub const CONFLICT_CODE: &str = "alias_conflicts_with_index";

/// What the aliases and the catalog say right now, as resolution needs it.
pub struct AliasView<'a, F: Fn(&str) -> bool> {
    pub aliases: &'a Aliases,
    /// Whether a name is an index of the catalog.
    pub is_index: F,
}

impl<F: Fn(&str) -> bool> AliasView<'_, F> {
    /// The indexes `name` stands for when it is an alias (and not an index).
    pub fn targets(&self, name: &str) -> Option<&[String]> {
        match (self.is_index)(name) {
            true => None,
            false => self.aliases.get(name).map(|alias| alias.indexes.as_slice()),
        }
    }
}

/// What to do with a request whose path names an index.
#[derive(Debug, Clone, PartialEq)]
pub enum PathRoute {
    /// Not an alias: serve as is.
    Pass,
    /// Serve as this path (same query string), after checking the caller may use `index`.
    Rewrite {
        path: String,
        alias: String,
        index: String,
    },
    Refuse(ResponseError),
}

/// `/indexes/{name}` and the rest of the path after it (empty or starting with `/`).
pub fn index_segment(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/indexes/")?;
    let (name, tail) = rest.find('/').map_or((rest, ""), |slash| rest.split_at(slash));
    (!name.is_empty()).then_some((name, tail))
}

/// How a request on `path` is served (see the module documentation).
pub fn route_path<F: Fn(&str) -> bool>(method: &Method, path: &str, view: &AliasView<'_, F>) -> PathRoute {
    let Some((name, tail)) = index_segment(path) else { return PathRoute::Pass };
    let Some(targets) = view.targets(name) else { return PathRoute::Pass };
    let reading = crate::session::is_read(method, path);
    match targets {
        [index] if reading || !tail.is_empty() => {
            PathRoute::Rewrite { path: format!("/indexes/{index}{tail}"), alias: name.to_owned(), index: index.clone() }
        }
        [_] => PathRoute::Refuse(not_writable(&format!(
            "`{name}` is an alias: {method} /indexes/{name} would change the index behind it. Name the index itself."
        ))),
        _ if !reading => PathRoute::Refuse(not_writable(&format!(
            "`{name}` is an alias of several indexes ({}), which takes no writes. Write to one of the indexes.",
            quoted(targets)
        ))),
        _ => PathRoute::Refuse(several_indexes(name, targets)),
    }
}

/// The `/multi-search` body with every query naming an alias rewritten to its index (a
/// several-index alias in a federated search: one query per index), and the aliases named;
/// `Ok(None)` when no query names an alias. A query shape the handler would refuse is left
/// for it to refuse.
pub fn rewrite_multi_search<F: Fn(&str) -> bool>(
    body: &Value,
    view: &AliasView<'_, F>,
) -> Result<Option<(Value, Vec<String>)>, ResponseError> {
    let Some(queries) = body.get("queries").and_then(Value::as_array) else { return Ok(None) };
    let federated = body.get("federation").is_some_and(|federation| !federation.is_null());
    let mut named = Vec::new();
    let mut rewritten = Vec::with_capacity(queries.len());
    for query in queries {
        let Some((name, targets)) = query.get("indexUid").and_then(Value::as_str).and_then(|name| Some((name, view.targets(name)?))) else {
            rewritten.push(query.clone());
            continue;
        };
        if targets.len() > 1 && !federated {
            return Err(several_indexes(name, targets));
        }
        named.push(name.to_owned());
        rewritten.extend(targets.iter().map(|index| with_index(query, index)));
    }
    if named.is_empty() {
        return Ok(None);
    }
    let mut body = body.clone();
    body["queries"] = Value::Array(rewritten);
    Ok(Some((body, named)))
}

fn with_index(query: &Value, index: &str) -> Value {
    let mut query: Map<String, Value> = query.as_object().cloned().unwrap_or_default();
    query.insert("indexUid".to_owned(), Value::String(index.to_owned()));
    Value::Object(query)
}

/// The alias name a request would give an index, if any: `POST /indexes` `{uid}`, `PATCH
/// /indexes/{uid}` `{uid}` (a rename), `POST /swap-indexes` with `rename: true` (the second
/// name is the new one).
pub fn index_named_as_alias(method: &Method, path: &str, body: &Value, aliases: &Aliases) -> Option<String> {
    let is_alias = |name: &&str| aliases.get(name).is_some();
    let new_names: Vec<&str> = match (method, path) {
        (&Method::POST, "/indexes") => body.get("uid").and_then(Value::as_str).into_iter().collect(),
        (&Method::PATCH, _) if index_segment(path).is_some_and(|(_, tail)| tail.is_empty()) => {
            body.get("uid").and_then(Value::as_str).into_iter().collect()
        }
        (&Method::POST, "/swap-indexes") => body
            .as_array()
            .into_iter()
            .flatten()
            .filter(|swap| swap.get("rename").and_then(Value::as_bool) == Some(true))
            .filter_map(|swap| swap.get("indexes")?.get(1)?.as_str())
            .collect(),
        _ => Vec::new(),
    };
    new_names.into_iter().find(is_alias).map(str::to_owned)
}

/// Whether a request may give an index a new name ([`index_named_as_alias`] reads its body).
pub fn may_name_an_index(method: &Method, path: &str) -> bool {
    matches!((method, path), (&Method::POST, "/indexes") | (&Method::POST, "/swap-indexes"))
        || (*method == Method::PATCH && index_segment(path).is_some_and(|(_, tail)| tail.is_empty()))
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
}

fn not_writable(message: &str) -> ResponseError {
    miroir_error(NOT_WRITABLE_CODE, ErrorType::InvalidRequest, 400, message)
}

fn several_indexes(name: &str, targets: &[String]) -> ResponseError {
    miroir_error(
        SEVERAL_INDEXES_CODE,
        ErrorType::InvalidRequest,
        400,
        format!(
            "`{name}` is an alias of several indexes ({}): only a federated multi-search (`POST /multi-search` with `federation`) reads through it. Name one index here.",
            quoted(targets)
        ),
    )
}

/// An index cannot take an alias's name.
pub fn index_conflict(name: &str, aliases: &Aliases) -> ResponseError {
    let targets = aliases.get(name).map(|alias| quoted(&alias.indexes)).unwrap_or_default();
    miroir_error(
        CONFLICT_CODE,
        ErrorType::InvalidRequest,
        409,
        format!("`{name}` is an alias (of {targets}); an index cannot have an alias's name. Delete the alias first."),
    )
}

#[cfg(test)]
mod tests;
