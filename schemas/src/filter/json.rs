//! The `filter` value of a request: a string, or an array whose elements are strings (ANDed)
//! or arrays of strings (ORed inside, ANDed together).

use serde_json::Value;

use super::ast::Filter;
use super::error::FilterError;

/// Parses a request's `filter` value. `Ok(None)` when it filters nothing (blank strings,
/// empty arrays). Types are checked for the whole value before any string is parsed, as
/// Meilisearch does, so a type error wins over a syntax error.
pub fn parse_json(value: &Value) -> Result<Option<Filter>, FilterError> {
    match value {
        Value::String(expression) => parse_one(expression),
        Value::Array(elements) => parse_array(elements),
        other => Err(invalid_type(&["String", "Array"], other)),
    }
}

/// One element of the array form, after type checking.
enum Element<'v> {
    Single(&'v str),
    AnyOf(Vec<&'v str>),
}

fn parse_array(elements: &[Value]) -> Result<Option<Filter>, FilterError> {
    let mut checked = Vec::with_capacity(elements.len());
    for element in elements {
        checked.push(match element {
            Value::String(s) => Element::Single(s),
            Value::Array(alternatives) => Element::AnyOf(
                alternatives.iter().map(|a| a.as_str().ok_or_else(|| invalid_type(&["String"], a))).collect::<Result<_, _>>()?,
            ),
            other => return Err(invalid_type(&["String", "[String]"], other)),
        });
    }

    let mut all_of = Vec::new();
    for element in checked {
        match element {
            Element::Single(expression) => all_of.extend(parse_one(expression)?),
            Element::AnyOf(expressions) => {
                let mut any_of = Vec::new();
                for expression in expressions {
                    any_of.extend(parse_one(expression)?);
                }
                all_of.extend(combine(any_of, Filter::Or));
            }
        }
    }
    Ok(combine(all_of, Filter::And))
}

/// None for no operand, the operand alone for one, `combine` of all of them otherwise.
fn combine(mut operands: Vec<Filter>, combine: fn(Vec<Filter>) -> Filter) -> Option<Filter> {
    match operands.len() {
        0 => None,
        1 => operands.pop(),
        _ => Some(combine(operands)),
    }
}

fn parse_one(expression: &str) -> Result<Option<Filter>, FilterError> {
    super::parse(expression).map_err(FilterError::Syntax)
}

fn invalid_type(expected: &'static [&'static str], found: &Value) -> FilterError {
    FilterError::InvalidType { expected, found: found.clone() }
}
