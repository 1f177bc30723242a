use super::*;
use proptest::prelude::*;
use serde_json::json;

fn ws(score: f64) -> ScoreValue {
    ScoreValue::WeightedScore(score)
}

fn sort(asc: bool, value: Value) -> ScoreValue {
    ScoreValue::Sort { asc, value }
}

#[test]
fn parses_the_node_wire_format() {
    let wire = json!([{"weightedScore": 1.0}, {"sort": {"asc": true, "value": "a"}},
        {"geoSort": {"asc": true, "distance": null}}, {"vectorSort": 0.5}]);
    let parsed: Vec<ScoreValue> = serde_json::from_value(wire.clone()).unwrap();
    assert_eq!(
        parsed,
        vec![ws(1.0), sort(true, json!("a")), ScoreValue::GeoSort { asc: true, distance: None }, ScoreValue::VectorSort(0.5)]
    );
    assert_eq!(serde_json::to_value(&parsed).unwrap(), wire);
}

#[test]
fn scores_within_epsilon_are_equal_then_the_next_group_decides() {
    let left = [ws(0.5), ws(0.9)];
    let right = [ws(0.5 + f64::EPSILON / 2.0), ws(0.1)];
    assert_eq!(compare_hits(&left, 0.0, &right, 1.0), Ordering::Greater);
}

#[test]
fn sort_values_null_last_numbers_before_strings_and_direction() {
    assert_eq!(compare_sort_values(true, &json!(1), &json!(2)), Ordering::Greater, "asc: smaller first");
    assert_eq!(compare_sort_values(false, &json!(1), &json!(2)), Ordering::Less, "desc: bigger first");
    assert_eq!(compare_sort_values(true, &json!("a"), &json!("b")), Ordering::Greater);
    for asc in [true, false] {
        assert_eq!(compare_sort_values(asc, &json!(null), &json!("z")), Ordering::Less, "null is worst");
        assert_eq!(compare_sort_values(asc, &json!(5), &json!("a")), Ordering::Greater, "numbers first");
        assert_eq!(compare_sort_values(asc, &json!(true), &json!(false)), Ordering::Equal);
    }
}

#[test]
fn geo_ascending_puts_the_nearest_first_and_missing_positions_last() {
    let geo = |asc, distance| ScoreValue::GeoSort { asc, distance };
    assert_eq!(compare_groups(&geo(true, Some(1.0)), &geo(true, Some(5.0))), Some(Ordering::Greater));
    assert_eq!(compare_groups(&geo(false, Some(1.0)), &geo(false, Some(5.0))), Some(Ordering::Less));
    assert_eq!(compare_groups(&geo(true, None), &geo(true, Some(5.0))), Some(Ordering::Less));
    assert_eq!(compare_groups(&geo(true, Some(1.0)), &geo(false, Some(1.0))), None);
}

#[test]
fn incomparable_groups_prefer_more_remaining_groups_then_global_score() {
    // different kinds at position 0: the side with more groups left wins
    let left = [ws(0.1), ws(0.1), ws(0.1)];
    let right = [sort(true, json!(1)), ws(1.0)];
    assert_eq!(compare_hits(&left, 0.0, &right, 1.0), Ordering::Greater);
    // same number left: the weighted global score decides
    let right = [sort(true, json!(1)), ws(1.0), ws(1.0)];
    assert_eq!(compare_hits(&left, 0.2, &right, 0.7), Ordering::Less);
    // opposite directions are incomparable too
    assert_eq!(compare_vectors(&[sort(true, json!(1))], &[sort(false, json!(1))]), None);
}

#[test]
fn the_longer_vector_wins_when_the_shorter_is_a_prefix() {
    assert_eq!(compare_hits(&[ws(0.5), ws(0.1)], 0.0, &[ws(0.5)], 1.0), Ordering::Greater);
}

/// Groups of one fixed kind per position, so every pair is comparable, with scores on a grid
/// coarser than `f64::EPSILON` (epsilon equality is not transitive by nature).
fn vectors_of_one_shape() -> impl Strategy<Value = Vec<Vec<ScoreValue>>> {
    let kinds = prop::collection::vec(0u8..5, 1..4);
    kinds.prop_flat_map(|kinds| {
        let vector = kinds
            .iter()
            .map(|kind| match kind {
                0 => (0u32..8).prop_map(|n| ws(n as f64 / 8.0)).boxed(),
                1 => (0u32..8).prop_map(|n| ScoreValue::VectorSort(n as f64 / 8.0)).boxed(),
                2 => sort_value().prop_map(|v| sort(true, v)).boxed(),
                3 => sort_value().prop_map(|v| sort(false, v)).boxed(),
                _ => prop::option::of(0u32..5).prop_map(|d| ScoreValue::GeoSort { asc: true, distance: d.map(f64::from) }).boxed(),
            })
            .collect::<Vec<_>>();
        prop::collection::vec(vector, 3)
    })
}

fn sort_value() -> impl Strategy<Value = Value> {
    prop_oneof![Just(Value::Null), (0i64..4).prop_map(Value::from), "[a-c]".prop_map(Value::from)]
}

fn any_vector() -> impl Strategy<Value = (Vec<ScoreValue>, f64)> {
    let group = prop_oneof![
        (0u32..4).prop_map(|n| ws(n as f64 / 4.0)),
        (0u32..4).prop_map(|n| ScoreValue::VectorSort(n as f64 / 4.0)),
        (any::<bool>(), sort_value()).prop_map(|(asc, v)| sort(asc, v)),
        (any::<bool>(), prop::option::of(0u32..3)).prop_map(|(asc, d)| ScoreValue::GeoSort { asc, distance: d.map(f64::from) }),
    ];
    (prop::collection::vec(group, 0..4), (0u32..4).prop_map(|n| n as f64 / 4.0))
}

proptest! {
    #[test]
    fn antisymmetric_on_any_vectors((a, ga) in any_vector(), (b, gb) in any_vector()) {
        prop_assert_eq!(compare_hits(&a, ga, &b, gb), compare_hits(&b, gb, &a, ga).reverse());
        prop_assert_eq!(compare_hits(&a, ga, &a, ga), Ordering::Equal);
    }

    #[test]
    fn a_total_preorder_on_vectors_of_one_shape(vectors in vectors_of_one_shape(), globals in prop::collection::vec(0u32..4, 3)) {
        let g: Vec<f64> = globals.iter().map(|n| *n as f64 / 4.0).collect();
        let cmp = |i: usize, j: usize| compare_hits(&vectors[i], g[i], &vectors[j], g[j]);
        for (i, j, k) in [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)] {
            if cmp(i, j) != Ordering::Less && cmp(j, k) != Ordering::Less {
                prop_assert_ne!(cmp(i, k), Ordering::Less, "transitivity of ≥ over {:?}", (i, j, k));
            }
            if cmp(i, j) == Ordering::Equal && cmp(j, k) == Ordering::Equal {
                prop_assert_eq!(cmp(i, k), Ordering::Equal);
            }
        }
    }
}
