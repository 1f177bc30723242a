//! Evaluating a parsed filter (`miroir_schemas::filter::Filter`) against one document, and the
//! filterability check with Meilisearch's message.

use miroir_schemas::filter::{Condition, Filter, Token};
use serde_json::Value;

use super::documents::{path_exists, raw_values_at, values_at};
use super::settings::pattern_covers;
use super::tasks::Document;

/// `Attribute `x` is not filterable. …` (without the `Index `uid`: ` prefix some routes add),
/// followed by the position line of the offending token; `None` when every field is filterable.
pub fn unfilterable_message(filter: &Filter, patterns: &[String]) -> Option<String> {
    let field = filter
        .fields_in_check_order()
        .into_iter()
        .find(|f| !patterns.iter().any(|p| pattern_covers(p, f.value())))?;
    Some(field.error_message(&not_filterable_text(field.value(), patterns)))
}

fn not_filterable_text(field: &str, patterns: &[String]) -> String {
    if patterns.is_empty() {
        format!("Attribute `{field}` is not filterable. This index does not have configured filterable attributes.")
    } else {
        let mut sorted = patterns.to_vec();
        sorted.sort();
        let list = sorted.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ");
        format!("Attribute `{field}` is not filterable. Available filterable attribute patterns are: {list}.")
    }
}

/// Whether the document matches the filter.
pub fn matches(filter: &Filter, doc: &Document) -> bool {
    match filter {
        Filter::Not(inner) => !matches(inner, doc),
        Filter::And(all) => all.iter().all(|f| matches(f, doc)),
        Filter::Or(any) => any.iter().any(|f| matches(f, doc)),
        Filter::In { field, values } => values.iter().any(|v| equals_any(doc, field, v)),
        Filter::Condition { field, op } => condition(doc, field, op),
        Filter::GeoRadius { lat, lng, radius, .. } => {
            match (lat.finite_float(), lng.finite_float(), radius.finite_float(), geo_point(doc)) {
                (Some(lat), Some(lng), Some(radius), Some(point)) => {
                    haversine_meters([lat, lng], point) <= radius
                }
                _ => false,
            }
        }
        Filter::GeoBoundingBox { top_right, bottom_left } => {
            let coords = |t: &[Token; 2]| Some([t[0].finite_float()?, t[1].finite_float()?]);
            match (coords(top_right), coords(bottom_left), geo_point(doc)) {
                (Some(tr), Some(bl), Some([lat, lng])) => {
                    let lng_ok = if bl[1] <= tr[1] {
                        lng >= bl[1] && lng <= tr[1]
                    } else {
                        lng >= bl[1] || lng <= tr[1]
                    };
                    lat <= tr[0] && lat >= bl[0] && lng_ok
                }
                _ => false,
            }
        }
        // Not supported by the stand-in: nothing matches.
        Filter::GeoPolygon { .. } | Filter::VectorExists { .. } | Filter::Foreign { .. } => false,
    }
}

fn condition(doc: &Document, field: &Token, op: &Condition) -> bool {
    let path = field.value();
    let numbers = || values_at(doc, path).into_iter().filter_map(Value::as_f64);
    match op {
        Condition::Equal(v) => equals_any(doc, field, v),
        Condition::NotEqual(v) => !equals_any(doc, field, v),
        Condition::GreaterThan(v) => v.finite_float().is_some_and(|t| numbers().any(|n| n > t)),
        Condition::GreaterThanOrEqual(v) => v.finite_float().is_some_and(|t| numbers().any(|n| n >= t)),
        Condition::LowerThan(v) => v.finite_float().is_some_and(|t| numbers().any(|n| n < t)),
        Condition::LowerThanOrEqual(v) => v.finite_float().is_some_and(|t| numbers().any(|n| n <= t)),
        Condition::Between { from, to } => match (from.finite_float(), to.finite_float()) {
            (Some(a), Some(b)) => numbers().any(|n| n >= a && n <= b),
            _ => false,
        },
        Condition::Exists => path_exists(doc, path),
        Condition::Null => raw_values_at(doc, path).any(Value::is_null),
        Condition::Empty => raw_values_at(doc, path).any(|v| match v {
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        }),
        Condition::Contains(v) => strings(doc, path).any(|s| s.contains(&normalize(v.value()))),
        Condition::StartsWith(v) => strings(doc, path).any(|s| s.starts_with(&normalize(v.value()))),
    }
}

fn strings<'d>(doc: &'d Document, path: &str) -> impl Iterator<Item = String> + 'd {
    values_at(doc, path).into_iter().filter_map(|v| v.as_str().map(normalize))
}

/// Facet strings are compared lowercased and trimmed, as Meilisearch normalizes facet values.
pub fn normalize(s: &str) -> String {
    s.trim().to_lowercase()
}

fn equals_any(doc: &Document, field: &Token, value: &Token) -> bool {
    let number = value.finite_float();
    let text = normalize(value.value());
    values_at(doc, field.value()).into_iter().any(|v| match v {
        Value::Number(n) => number.is_some_and(|t| n.as_f64() == Some(t)),
        Value::String(s) => normalize(s) == text,
        Value::Bool(b) => text == if *b { "true" } else { "false" },
        _ => false,
    })
}

fn geo_point(doc: &Document) -> Option<[f64; 2]> {
    let geo = doc.get("_geo")?;
    let read = |v: &Value| v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
    Some([read(geo.get("lat")?)?, read(geo.get("lng")?)?])
}

/// Great-circle distance in meters (Meilisearch uses the same haversine formula).
pub fn haversine_meters(a: [f64; 2], b: [f64; 2]) -> f64 {
    const EARTH_RADIUS: f64 = 6_371_000.0;
    let (lat1, lat2) = (a[0].to_radians(), b[0].to_radians());
    let dlat = (b[0] - a[0]).to_radians();
    let dlng = (b[1] - a[1]).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlng / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS * h.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_schemas::filter::parse;
    use serde_json::json;

    fn doc(v: Value) -> Document {
        v.as_object().unwrap().clone()
    }

    fn check(filter: &str, d: &Document) -> bool {
        matches(&parse(filter).unwrap().unwrap(), d)
    }

    #[test]
    fn operators_follow_meilisearch_semantics() {
        let d = doc(json!({"genre": "Horror", "year": 2001, "tags": ["a", "b"], "empty": [], "nothing": null}));
        assert!(check("genre = horror", &d));
        assert!(check("genre != drama", &d));
        assert!(check("missing != x", &d));
        assert!(check("year > 2000 AND year <= 2001", &d));
        assert!(check("year 2000 TO 2001", &d));
        assert!(!check("year < 2001", &d));
        assert!(check("tags IN [c, b]", &d));
        assert!(check("tags NOT IN [c, d]", &d));
        assert!(check("empty IS EMPTY AND nothing IS NULL AND nothing EXISTS", &d));
        assert!(check("missing NOT EXISTS", &d));
        assert!(check("(genre = drama OR year = 2001) AND NOT tags = z", &d));
    }

    #[test]
    fn unfilterable_fields_are_reported_with_position() {
        let f = parse("version = '1'").unwrap().unwrap();
        let msg = unfilterable_message(&f, &["section".into(), "architecture".into()]).unwrap();
        assert_eq!(msg, "Attribute `version` is not filterable. Available filterable attribute patterns are: `architecture`, `section`.\n1:8 version = '1'");
        assert!(unfilterable_message(&f, &["version".into()]).is_none());
    }
}
