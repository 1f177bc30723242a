use super::*;
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c", "d", "e"]).prop_map(str::to_owned)
}

fn change() -> impl Strategy<Value = AliasChange> {
    prop_oneof![
        (name(), prop::collection::vec(name(), 1..3), 0i64..100).prop_map(|(name, indexes, at)| AliasChange::AliasSet {
            name,
            indexes,
            at: OffsetDateTime::from_unix_timestamp(at).unwrap()
        }),
        name().prop_map(|name| AliasChange::AliasDelete { name }),
    ]
}

proptest! {
    /// Whatever the changes, no alias names an alias (resolution is one step) and each alias
    /// holds what its last accepted set said; folding the same records gives the same state.
    #[test]
    fn aliases_never_chain_and_keep_their_last_accepted_set(changes in prop::collection::vec(change(), 0..30)) {
        let mut aliases = Aliases::default();
        let mut last_set: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for change in &changes {
            match (aliases.apply(change), change) {
                (AliasApplied::Set { name, alias }, AliasChange::AliasSet { indexes, .. }) => {
                    prop_assert_eq!(&alias.indexes, indexes);
                    last_set.insert(name, indexes.clone());
                }
                (AliasApplied::Deleted(name), _) => { prop_assert!(last_set.remove(&name).is_some()); }
                (AliasApplied::NotFound(name), _) => prop_assert!(!last_set.contains_key(&name)),
                (AliasApplied::TargetIsAlias { target, name }, _) => prop_assert!(last_set.contains_key(&target) || name == target),
                (AliasApplied::NameIsTarget { alias, name }, _) => prop_assert!(last_set[&alias].contains(&name)),
                (applied, change) => prop_assert!(false, "{applied:?} for {change:?}"),
            }
            for (name, alias) in aliases.iter() {
                prop_assert!(alias.indexes.iter().all(|target| aliases.get(target).is_none() && target != name));
            }
        }
        let held: BTreeMap<String, Vec<String>> = aliases.iter().map(|(name, alias)| (name.clone(), alias.indexes.clone())).collect();
        prop_assert_eq!(held, last_set);
        let mut again = Aliases::default();
        changes.iter().for_each(|change| { again.apply(change); });
        prop_assert_eq!(again, aliases);
    }
}

#[test]
fn a_switch_keeps_the_creation_date_and_records_round_trip() {
    let at = |seconds| OffsetDateTime::from_unix_timestamp(seconds).unwrap();
    let mut aliases = Aliases::default();
    aliases.apply(&AliasChange::AliasSet { name: "products".into(), indexes: vec!["products_v1".into()], at: at(10) });
    let switch = AliasChange::AliasSet { name: "products".into(), indexes: vec!["products_v2".into()], at: at(20) };
    let AliasApplied::Set { alias, .. } = aliases.apply(&switch) else { panic!("the switch is accepted") };
    assert_eq!((alias.created_at, alias.updated_at, alias.indexes), (at(10), at(20), vec!["products_v2".to_owned()]));
    let text = serde_json::to_string(&switch).unwrap();
    assert!(text.contains(r#""type":"aliasSet""#), "{text}");
    assert_eq!(serde_json::from_str::<AliasChange>(&text).unwrap(), switch);
}
