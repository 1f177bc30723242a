//! Generators of filters, documents and values for the property tests.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::filter::{Condition, Filter, Token, VectorFilter};

/// Field names, including ones that need quoting (keywords, spaces, dots).
pub fn field() -> impl Strategy<Value = Token> {
    prop_oneof![Just("id"), Just("name"), Just("price"), Just("tags"), Just("a.b"), Just("AND"), Just("dog race"),].prop_map(Token::new)
}

/// Values, including quotes, backslashes, control characters and non-ASCII text.
pub fn value() -> impl Strategy<Value = Token> {
    prop_oneof!["[a-zA-Z0-9_-]{1,6}", "-?[0-9]{1,4}(\\.[0-9]{1,2})?", "[ a-zA-Z'\"\\\\\\n\\té]{0,8}", any::<String>(),].prop_map(Token::new)
}

fn number() -> impl Strategy<Value = Token> {
    "-?[0-9]{1,3}(\\.[0-9]{1,3})?".prop_map(Token::new)
}

fn condition() -> impl Strategy<Value = Condition> {
    prop_oneof![
        value().prop_map(Condition::Equal),
        value().prop_map(Condition::NotEqual),
        value().prop_map(Condition::GreaterThan),
        value().prop_map(Condition::GreaterThanOrEqual),
        value().prop_map(Condition::LowerThan),
        value().prop_map(Condition::LowerThanOrEqual),
        (value(), value()).prop_map(|(from, to)| Condition::Between { from, to }),
        Just(Condition::Exists),
        Just(Condition::Null),
        Just(Condition::Empty),
        value().prop_map(Condition::Contains),
        value().prop_map(Condition::StartsWith),
    ]
}

fn leaf() -> impl Strategy<Value = Filter> {
    prop_oneof![
        4 => (field(), condition()).prop_map(|(field, op)| Filter::Condition { field, op }),
        2 => (field(), prop::collection::vec(value(), 0..4)).prop_map(|(field, values)| Filter::In { field, values }),
        1 => (number(), number(), number(), prop::option::of(number()))
            .prop_map(|(lat, lng, radius, resolution)| Filter::GeoRadius { lat, lng, radius, resolution }),
        1 => (number(), number(), number(), number()).prop_map(|(a, b, c, d)| Filter::GeoBoundingBox {
            top_right: [a, b],
            bottom_left: [c, d],
        }),
        1 => prop::collection::vec((number(), number()).prop_map(|(a, b)| [a, b]), 3..5)
            .prop_map(|points| Filter::GeoPolygon { points }),
        1 => (prop::option::of(value()), prop::option::of(value())).prop_map(|(embedder, fragment)| {
            match (embedder, fragment) {
                (None, _) => Filter::VectorExists { embedder: None, filter: VectorFilter::None },
                (Some(e), Some(f)) => Filter::VectorExists { embedder: Some(e), filter: VectorFilter::Fragment(f) },
                (Some(e), None) => Filter::VectorExists { embedder: Some(e), filter: VectorFilter::UserProvided },
            }
        }),
    ]
}

/// Filters as the parser builds them: no `NOT NOT`, `AND`/`OR` of at least two operands.
pub fn filter() -> impl Strategy<Value = Filter> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|f| match f {
                Filter::Not(inner) => *inner,
                other => Filter::Not(Box::new(other)),
            }),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Filter::And),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Filter::Or),
            (field(), inner).prop_map(|(field, f)| Filter::Foreign { field, filter: Box::new(f) }),
        ]
    })
}

/// Ids with mixed case, and integers, so that case-insensitive matching is exercised.
pub fn id_value() -> impl Strategy<Value = Value> {
    prop_oneof!["[aAbB0-9_-]{1,4}".prop_map(Value::from), (-20i64..20).prop_map(Value::from),]
}

pub fn document() -> impl Strategy<Value = Map<String, Value>> {
    (id_value(), prop::option::of(id_value()), prop::collection::vec(id_value(), 0..3)).prop_map(|(id, name, tags)| {
        let mut doc = json!({"id": id, "tags": tags});
        if let Some(name) = name {
            doc["name"] = name;
        }
        doc.as_object().unwrap().clone()
    })
}

/// Filters over the fields of [`document`] whose values are often ids.
pub fn filter_on_documents() -> impl Strategy<Value = Filter> {
    let token = || prop_oneof![id_value().prop_map(|v| Token::new(v.as_str().map_or(v.to_string(), str::to_owned))), value()];
    let field = || prop_oneof![Just("id"), Just("name"), Just("tags")].prop_map(Token::new);
    let leaf = prop_oneof![
        (field(), token()).prop_map(|(field, v)| Filter::Condition { field, op: Condition::Equal(v) }),
        (field(), token()).prop_map(|(field, v)| Filter::Condition { field, op: Condition::NotEqual(v) }),
        (field(), token()).prop_map(|(field, v)| Filter::Condition { field, op: Condition::GreaterThan(v) }),
        (field(), prop::collection::vec(token(), 0..4)).prop_map(|(field, values)| Filter::In { field, values }),
        field().prop_map(|field| Filter::Condition { field, op: Condition::Exists }),
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|f| Filter::Not(Box::new(f))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Filter::And),
            prop::collection::vec(inner, 2..4).prop_map(Filter::Or),
        ]
    })
}
