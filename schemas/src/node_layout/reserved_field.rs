//! A client that names Miroir's shard field must get what one Meilisearch node would answer,
//! where no document has that field: "not filterable" (or "not sortable", …) unless the user's
//! own rules cover the name, and then nothing matches it. A node index, though, has the field
//! on every document and filterable by Miroir's rule, so a filter, facet, `distinct` or sort
//! naming it would reach the shards themselves (a delete by `_miroir_shard EXISTS` would empty
//! the index). So wherever a client names [`SHARD_FIELD`], the node is sent
//! [`SHARD_FIELD_STAND_IN`] instead: a field no document has and no Miroir rule covers, so the
//! node answers exactly as one node would for the shard field, and [`super::client_message`]
//! writes the name back. Pure.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::SHARD_FIELD;

/// What a node is asked in place of [`SHARD_FIELD`]. It has the same length, so the positions a
/// node prints under a filter error (`1:14 _miroir_unset = 1`) are the user's; it starts with
/// `_miroir_` like the field, so the user's patterns match both alike (`*`, `_*`, `_miroir*`); and
/// documents may not carry it ([`is_reserved_field`]).
pub const SHARD_FIELD_STAND_IN: &str = "_miroir_unset";

/// Top-level document fields a user may not write: Miroir's own namespace, as Meilisearch keeps
/// `_geo` and `_vectors`.
pub const RESERVED_FIELD_PREFIX: &str = "_miroir_";

/// Whether a document's top-level field `name` is Miroir's.
pub fn is_reserved_field(name: &str) -> bool {
    name.starts_with(RESERVED_FIELD_PREFIX)
}

/// An attribute name (or a nested path in it, `_miroir_shard.x`, or a sort rule,
/// `_miroir_shard:asc`) as a node must read it.
pub fn attribute_for_node(name: &str) -> Cow<'_, str> {
    match name.strip_prefix(SHARD_FIELD) {
        Some(rest) if rest.is_empty() || rest.starts_with(['.', ':']) => Cow::Owned(format!("{SHARD_FIELD_STAND_IN}{rest}")),
        _ => Cow::Borrowed(name),
    }
}

/// A request's `filter` (string, array of strings or arrays of strings, `null`) as a node must
/// read it: every condition on the shard field is about the stand-in. Values are untouched
/// (`title = _miroir_shard` stays), and a filter that does not parse goes as it is, so the node
/// reports its syntax error.
pub fn filter_for_node(filter: &Value) -> Value {
    if !mentions_shard_field(filter) {
        return filter.clone();
    }
    match filter {
        Value::String(expression) => Value::String(expression_for_node(expression)),
        Value::Array(elements) => Value::Array(elements.iter().map(filter_for_node).collect()),
        other => other.clone(),
    }
}

fn expression_for_node(expression: &str) -> String {
    let Ok(Some(filter)) = crate::filter::parse(expression) else {
        return expression.to_owned();
    };
    let mut out = expression.to_owned();
    for field in filter.fields_in_check_order() {
        let (Some(span), Cow::Owned(_)) = (field.span(), attribute_for_node(field.value())) else { continue };
        // The name as written (maybe quoted); the stand-in has the same byte length, so the
        // other fields' spans stay where they were.
        if let Some(at) = expression[span.start..span.end].find(SHARD_FIELD) {
            let start = span.start + at;
            out.replace_range(start..start + SHARD_FIELD.len(), SHARD_FIELD_STAND_IN);
        }
    }
    out
}

/// The parameters of a search, facet search or document read that name attributes, as a node
/// must read them: `filter`, `facets`, `sort`, `distinct`, `facetName`.
pub fn request_for_node(request: &Map<String, Value>) -> Cow<'_, Map<String, Value>> {
    // Every search passes here: most name no such field, and then nothing is copied.
    if !request.values().any(mentions_shard_field) {
        return Cow::Borrowed(request);
    }
    let names = |value: &Value| match value {
        Value::String(name) => Value::String(attribute_for_node(name).into_owned()),
        Value::Array(names) => Value::Array(
            names
                .iter()
                .map(|name| name.as_str().map_or_else(|| name.clone(), |n| Value::String(attribute_for_node(n).into_owned())))
                .collect(),
        ),
        other => other.clone(),
    };
    let mut rewritten: Option<Map<String, Value>> = None;
    for (parameter, value) in request {
        let for_node = match parameter.as_str() {
            "filter" => filter_for_node(value),
            "facets" | "sort" | "distinct" | "facetName" => names(value),
            _ => continue,
        };
        if &for_node != value {
            rewritten.get_or_insert_with(|| request.clone()).insert(parameter.clone(), for_node);
        }
    }
    rewritten.map_or(Cow::Borrowed(request), Cow::Owned)
}

/// A `/multi-search` body as the nodes must read it: every query as [`request_for_node`], and
/// the federation's `distinct` and `facetsByIndex` lists.
pub fn multi_search_for_node(body: &Map<String, Value>) -> Cow<'_, Map<String, Value>> {
    if !body.values().any(mentions_shard_field) {
        return Cow::Borrowed(body);
    }
    let mut rewritten = body.clone();
    if let Some(Value::Array(queries)) = rewritten.get_mut("queries") {
        for query in queries.iter_mut() {
            if let Value::Object(fields) = query {
                if let Cow::Owned(changed) = request_for_node(fields) {
                    *fields = changed;
                }
            }
        }
    }
    if let Some(Value::Object(federation)) = rewritten.get_mut("federation") {
        if let Some(Value::String(distinct)) = federation.get_mut("distinct") {
            *distinct = attribute_for_node(distinct).into_owned();
        }
        if let Some(Value::Object(by_index)) = federation.get_mut("facetsByIndex") {
            for facets in by_index.values_mut().filter_map(Value::as_array_mut) {
                for facet in facets.iter_mut() {
                    if let Value::String(name) = facet {
                        *name = attribute_for_node(name).into_owned();
                    }
                }
            }
        }
    }
    if &rewritten == body {
        Cow::Borrowed(body)
    } else {
        Cow::Owned(rewritten)
    }
}

/// Whether any string in `value` contains the shard field's name (a quick test, without
/// parsing or copying, before the exact rewrite).
fn mentions_shard_field(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains(SHARD_FIELD),
        Value::Array(items) => items.iter().any(mentions_shard_field),
        Value::Object(fields) => fields.values().any(mentions_shard_field),
        _ => false,
    }
}

/// A name a node gave back (a facet in a distribution) as the client wrote it.
pub fn attribute_for_client(name: &str) -> Cow<'_, str> {
    match name.strip_prefix(SHARD_FIELD_STAND_IN) {
        Some(rest) if rest.is_empty() || rest.starts_with('.') => Cow::Owned(format!("{SHARD_FIELD}{rest}")),
        _ => Cow::Borrowed(name),
    }
}
