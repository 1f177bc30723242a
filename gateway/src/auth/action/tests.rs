use super::*;
use proptest::prelude::*;

/// Independent reading of Meilisearch's wildcard rules: `*` grants every action but `*.get`,
/// `*.get` grants the read actions, `x.*` grants the concrete `x.…` actions, anything else
/// grants itself.
fn reference_grants(held: &[Action], wanted: Action) -> bool {
    held.iter().any(|h| {
        let (held_name, wanted_name) = (h.name(), wanted.name());
        if held_name == "*" {
            wanted != Action::AllGet
        } else if held_name == "*.get" {
            wanted.is_read()
        } else if let Some(prefix) = held_name.strip_suffix('*') {
            wanted_name.starts_with(prefix) && !wanted_name.ends_with('*')
        } else {
            *h == wanted
        }
    })
}

fn any_action() -> impl Strategy<Value = Action> {
    (0..Action::ALL.len()).prop_map(|i| Action::ALL[i])
}

#[test]
fn names_round_trip_and_are_unique() {
    assert_eq!(Action::ALL.len(), 58);
    for (action, name) in Action::ALL.iter().zip(Action::NAMES) {
        assert_eq!(action.name(), *name);
        assert_eq!(Action::from_name(name), Some(*action));
    }
    let unique: BTreeSet<_> = Action::NAMES.iter().collect();
    assert_eq!(unique.len(), Action::NAMES.len());
    assert_eq!(Action::from_name("keys.*"), None, "Meilisearch has no keys.* action");
    assert_eq!(Action::from_name("Search"), None, "names are case-sensitive");
}

#[test]
fn wildcards_expand_as_meilisearch_stores_them() {
    let docs = expand(&[Action::DocumentsAll]);
    assert_eq!(docs, [Action::DocumentsAdd, Action::DocumentsGet, Action::DocumentsDelete].into_iter().collect());
    assert!(!docs.contains(&Action::DocumentsAll), "documents.* does not grant the documents.* route action");

    let all = expand(&[Action::All]);
    assert_eq!(all.len(), Action::ALL.len() - 1);
    assert!(all.contains(&Action::DocumentsAll) && !all.contains(&Action::AllGet));

    let reads = expand(&[Action::AllGet]);
    assert!(reads.contains(&Action::Search) && reads.contains(&Action::FieldsPost) && reads.contains(&Action::Export));
    assert!(!reads.contains(&Action::KeysGet), "*.get must not read keys");
    assert!(!reads.contains(&Action::ChatCompletions));

    let tasks = expand(&[Action::TasksAll]);
    assert!(tasks.contains(&Action::TasksCompact));
    let chats = expand(&[Action::ChatsAll]);
    assert!(!chats.contains(&Action::ChatsSettingsGet), "chats.* is not chatsSettings.*");
}

#[test]
fn global_actions_deny_index_scope() {
    for action in [Action::KeysGet, Action::Version, Action::MetricsGet, Action::TasksCompact, Action::Export] {
        assert_eq!(action.index_scope(), IndexScope::DenyIndexScope, "{action}");
    }
    for action in [Action::Search, Action::TasksGet, Action::StatsGet, Action::IndexesCreate, Action::IndexesSwap] {
        assert_eq!(action.index_scope(), IndexScope::RouteHandlerChecksIndex, "{action}");
    }
    assert_eq!(Action::DocumentsAdd.index_scope(), IndexScope::ControllerChecksIndex);
}

proptest! {
    #[test]
    fn expansion_agrees_with_the_reference(held in proptest::collection::vec(any_action(), 0..6), wanted in any_action()) {
        prop_assert_eq!(expand(&held).contains(&wanted), reference_grants(&held, wanted));
    }

    #[test]
    fn expansion_is_monotonic(a in proptest::collection::vec(any_action(), 0..5), b in proptest::collection::vec(any_action(), 0..5)) {
        let both: Vec<Action> = a.iter().chain(&b).copied().collect();
        let union: BTreeSet<Action> = expand(&a).union(&expand(&b)).copied().collect();
        prop_assert_eq!(expand(&both), union);
    }
}
