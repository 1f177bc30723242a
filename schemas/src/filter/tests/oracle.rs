//! The tests' oracle: whether a document matches a filter, with Meilisearch's semantics: a value compares as a
//! number when it reads as one and always as a normalized (case-insensitive) string; an array
//! matches when any element matches; `!=` and `NOT` also match documents without the
//! attribute.
//!
//! Every attribute is treated as filterable with every operator allowed. Vector filters
//! (which need the node's embeddings) and `_foreign` filters match nothing here; an invalid
//! geo filter (bad latitude…) matches nothing rather than erroring.

use std::ops::Bound::{self, Excluded, Included, Unbounded};

use serde_json::{Map, Value};

use super::document_facets::Facets;
use crate::filter::{normalize_facet, Condition, Filter, Token};

/// Whether `document` is selected by `filter`.
pub fn matches(filter: &Filter, document: &Map<String, Value>) -> bool {
    match filter {
        Filter::Not(inner) => !matches(inner, document),
        Filter::And(children) => children.iter().all(|c| matches(c, document)),
        Filter::Or(children) => children.iter().any(|c| matches(c, document)),
        Filter::Condition { field, op } => condition(&Facets::of(document, field.value()), op),
        Filter::In { field, values } => {
            let facets = Facets::of(document, field.value());
            values.iter().any(|v| equal(&facets, v))
        }
        Filter::GeoRadius { lat, lng, radius, .. } => {
            let (Some(center), Some(radius)) = (point(lat, lng), radius.finite_float()) else {
                return false;
            };
            geo_point(document).is_some_and(|p| haversine_meters(center, p) <= radius + f64::EPSILON)
        }
        Filter::GeoBoundingBox { top_right, bottom_left } => {
            let (Some(top_right), Some(bottom_left)) = (point(&top_right[0], &top_right[1]), point(&bottom_left[0], &bottom_left[1]))
            else {
                return false;
            };
            geo_point(document).is_some_and(|p| in_bounding_box(p, top_right, bottom_left))
        }
        Filter::GeoPolygon { points } => {
            let Some(polygon) = points.iter().map(|[a, b]| point(a, b)).collect::<Option<Vec<_>>>() else {
                return false;
            };
            geo_point(document).is_some_and(|p| in_polygon(p, &polygon))
        }
        Filter::VectorExists { .. } | Filter::Foreign { .. } => false,
    }
}

fn condition(facets: &Facets, op: &Condition) -> bool {
    match op {
        Condition::Equal(v) => equal(facets, v),
        Condition::NotEqual(v) => !equal(facets, v),
        Condition::GreaterThan(v) => range(facets, Excluded(v), Unbounded),
        Condition::GreaterThanOrEqual(v) => range(facets, Included(v), Unbounded),
        Condition::LowerThan(v) => range(facets, Unbounded, Excluded(v)),
        Condition::LowerThanOrEqual(v) => range(facets, Unbounded, Included(v)),
        Condition::Between { from, to } => range(facets, Included(from), Included(to)),
        Condition::Exists => facets.exists,
        Condition::Null => facets.null,
        Condition::Empty => facets.empty,
        Condition::Contains(word) => {
            let word = normalize_facet(word.value());
            facets.strings.iter().any(|s| s.contains(&word))
        }
        Condition::StartsWith(prefix) => {
            let prefix = normalize_facet(prefix.value());
            if prefix.is_empty() {
                facets.exists
            } else {
                facets.strings.iter().any(|s| s.starts_with(&prefix))
            }
        }
    }
}

fn equal(facets: &Facets, value: &Token) -> bool {
    let normalized = normalize_facet(value.value());
    facets.strings.contains(&normalized) || value.finite_float().is_some_and(|n| facets.numbers.contains(&n))
}

/// Numbers compare numerically when the bounds read as numbers (both of them for `TO`);
/// strings always compare as normalized strings in byte order.
fn range(facets: &Facets, low: Bound<&Token>, high: Bound<&Token>) -> bool {
    let number = |b: Bound<&Token>| -> Option<Bound<f64>> {
        match b {
            Included(t) => t.finite_float().map(Included),
            Excluded(t) => t.finite_float().map(Excluded),
            Unbounded => Some(Unbounded),
        }
    };
    let numeric = number(low).zip(number(high));
    let in_numbers = numeric.is_some_and(|(lo, hi)| facets.numbers.iter().any(|n| within(n, &lo, &hi)));
    let string = |b: Bound<&Token>| b.map(|t| normalize_facet(t.value()));
    let (lo, hi) = (string(low), string(high));
    in_numbers || facets.strings.iter().any(|s| within(s, &lo, &hi))
}

fn within<T: PartialOrd>(value: &T, low: &Bound<T>, high: &Bound<T>) -> bool {
    let above = match low {
        Included(l) => value >= l,
        Excluded(l) => value > l,
        Unbounded => true,
    };
    let below = match high {
        Included(h) => value <= h,
        Excluded(h) => value < h,
        Unbounded => true,
    };
    above && below
}

/// A valid `[lat, lng]` from two tokens.
fn point(lat: &Token, lng: &Token) -> Option<[f64; 2]> {
    let (lat, lng) = (lat.finite_float()?, lng.finite_float()?);
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lng)).then_some([lat, lng])
}

/// The document's `_geo` point; coordinates may be numbers or numeric strings.
fn geo_point(document: &Map<String, Value>) -> Option<[f64; 2]> {
    let geo = document.get("_geo")?.as_object()?;
    let coordinate = |name: &str| match geo.get(name)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    Some([coordinate("lat")?, coordinate("lng")?])
}

fn haversine_meters([lat1, lng1]: [f64; 2], [lat2, lng2]: [f64; 2]) -> f64 {
    const EARTH_RADIUS_METERS: f64 = 6_371_008.8;
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let (dphi, dlambda) = ((lat2 - lat1).to_radians(), (lng2 - lng1).to_radians());
    let a = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_METERS * a.sqrt().asin()
}

/// Latitude between the two; longitude between them, or across the antimeridian when the
/// box's right edge is west of its left edge.
fn in_bounding_box([lat, lng]: [f64; 2], [top, right]: [f64; 2], [bottom, left]: [f64; 2]) -> bool {
    let lat_ok = bottom <= lat && lat <= top;
    let lng_ok = if left <= right { left <= lng && lng <= right } else { lng >= left || lng <= right };
    lat_ok && lng_ok
}

/// Even-odd rule on the (lat, lng) plane.
fn in_polygon([lat, lng]: [f64; 2], polygon: &[[f64; 2]]) -> bool {
    let mut inside = false;
    let mut j = polygon.len() - 1;
    for i in 0..polygon.len() {
        let ([yi, xi], [yj, xj]) = (polygon[i], polygon[j]);
        if (yi > lat) != (yj > lat) && lng < (xj - xi) * (lat - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::filter::parse;

    fn hit(filter: &str, doc: Value) -> bool {
        matches(&parse(filter).unwrap().unwrap(), doc.as_object().unwrap())
    }

    #[test]
    fn strings_are_case_insensitive_and_numbers_numeric() {
        assert!(hit("section = UTILS", json!({"section": "utils"})));
        assert!(hit("size = 12.0", json!({"size": 12})));
        assert!(!hit("size = 12", json!({"size": "12.0"})));
        assert!(hit("size > 100", json!({"size": 106})));
        assert!(!hit("size > 100", json!({"size": 99})));
        assert!(hit("ok = true", json!({"ok": true})));
        assert!(hit("name > b", json!({"name": "C"})), "strings compare in normalized order");
    }

    #[test]
    fn arrays_match_on_any_element_and_not_equal_covers_missing() {
        assert!(hit("tags = rust", json!({"tags": ["go", "Rust"]})));
        assert!(hit("tags IN [c, go]", json!({"tags": ["go"]})));
        assert!(hit("tags != rust", json!({"other": 1})));
        assert!(!hit("tags != rust", json!({"tags": ["rust", "go"]})));
        assert!(hit("size 1 TO 3", json!({"size": [0, 2]})));
    }

    #[test]
    fn exists_null_empty_contains_starts_with() {
        assert!(hit("a EXISTS", json!({"a": null})));
        assert!(hit("a IS NULL", json!({"a": null})));
        assert!(hit("a IS NOT NULL", json!({"a": 1})));
        assert!(hit("a IS EMPTY", json!({"a": []})));
        assert!(hit("a CONTAINS ELL", json!({"a": "hello"})));
        assert!(hit("a STARTS WITH He", json!({"a": "hello"})));
        assert!(!hit("a NOT STARTS WITH He", json!({"a": "hello"})));
    }

    #[test]
    fn geo_filters_use_the_geo_field() {
        let paris = json!({"_geo": {"lat": 48.8566, "lng": "2.3522"}});
        assert!(hit("_geoRadius(48.85, 2.35, 2000)", paris.clone()));
        assert!(!hit("_geoRadius(45.76, 4.83, 2000)", paris.clone()));
        assert!(hit("_geoBoundingBox([49, 3], [48, 2])", paris.clone()));
        assert!(hit("_geoPolygon([48, 2], [49, 2], [49, 3], [48, 3])", paris.clone()));
        assert!(!hit("_geoRadius(48.85, 2.35, 2000)", json!({"lat": 48.85})));
    }
}
