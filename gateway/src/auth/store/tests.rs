use super::*;
use miroir_schemas::meta_log::ApiKeyRecord;
use proptest::prelude::*;
use time::macros::datetime;
use time::OffsetDateTime;

fn create(uid: u128, name: &str, at: OffsetDateTime) -> KeyChange {
    KeyChange::Create {
        key: ApiKeyRecord {
            uid: Uuid::from_u128(uid),
            name: Some(name.to_owned()),
            description: None,
            actions: vec!["search".into()],
            indexes: vec!["*".into()],
            expires_at: None,
            created_at: at,
            updated_at: at,
        },
    }
}

#[test]
fn fold_creates_updates_and_deletes() {
    let t0 = datetime!(2026-01-01 0:00 UTC);
    let mut store = KeyStore::new(Some("masterKey".into()));
    let uid = Uuid::from_u128(1);
    assert_eq!(store.apply(&create(1, "first", t0)), Applied::Created(uid));
    assert_eq!(store.apply(&create(1, "second", t0)), Applied::AlreadyExists(uid));
    assert_eq!(store.get(uid).unwrap().record.name.as_deref(), Some("first"), "the first create wins");

    let value = store.value_of(uid).unwrap();
    assert_eq!(store.find_by_value(&value).unwrap().uid(), uid);
    assert_eq!(store.find_by_value(&value.to_uppercase()).unwrap().uid(), uid);

    let t1 = t0 + time::Duration::minutes(1);
    let update = KeyChange::Update { uid, name: None, description: Some(Some("d".into())), updated_at: t1 };
    assert_eq!(store.apply(&update), Applied::Updated(uid));
    let key = store.get(uid).unwrap();
    assert_eq!((key.record.name.as_deref(), key.record.description.as_deref()), (Some("first"), Some("d")));
    assert_eq!((key.record.created_at, key.record.updated_at), (t0, t1));

    let clear = KeyChange::Update { uid, name: Some(None), description: None, updated_at: t1 };
    store.apply(&clear);
    assert_eq!(store.get(uid).unwrap().record.name, None);

    assert_eq!(store.apply(&KeyChange::Delete { uid }), Applied::Deleted(uid));
    assert!(store.find_by_value(&value).is_none() && store.is_empty());
    assert_eq!(store.apply(&KeyChange::Delete { uid }), Applied::NotFound(uid));
    assert_eq!(store.apply(&update), Applied::NotFound(uid));
}

#[test]
fn list_is_newest_first() {
    let t0 = datetime!(2026-01-01 0:00 UTC);
    let mut store = KeyStore::new(Some("masterKey".into()));
    for change in crate::auth::key::default_keys("masterKey", t0).into_iter().map(|key| KeyChange::Create { key }) {
        store.apply(&change);
    }
    let names: Vec<_> = store.list().iter().map(|k| k.record.name.clone().unwrap()).collect();
    assert_eq!(names, ["Default Search API Key", "Default Admin API Key", "Default Read-Only Admin API Key", "Default Chat API Key"]);
}

/// Any key change over four uids (shared with the key ring's tests).
pub(crate) fn any_change() -> impl Strategy<Value = KeyChange> {
    let t0 = datetime!(2026-01-01 0:00 UTC);
    prop_oneof![
        (0u128..4, "[a-z]{1,3}", 0i64..100).prop_map(move |(uid, name, s)| create(uid, &name, t0 + time::Duration::seconds(s))),
        (0u128..4, proptest::option::of(proptest::option::of("[a-z]{1,3}")), 0i64..100).prop_map(move |(uid, name, s)| {
            KeyChange::Update { uid: Uuid::from_u128(uid), name, description: None, updated_at: t0 + time::Duration::seconds(s) }
        }),
        (0u128..4).prop_map(|uid| KeyChange::Delete { uid: Uuid::from_u128(uid) }),
    ]
}

proptest! {
    /// Every gateway folding the same log gets the same keys, and a record read back from
    /// its JSON form folds the same way.
    #[test]
    fn fold_is_deterministic(changes in proptest::collection::vec(any_change(), 0..20)) {
        let mut a = KeyStore::new(Some("masterKey".into()));
        let mut b = KeyStore::new(Some("masterKey".into()));
        for change in &changes {
            let outcome_a = a.apply(change);
            let decoded: KeyChange = serde_json::from_str(&serde_json::to_string(change).unwrap()).unwrap();
            prop_assert_eq!(outcome_a, b.apply(&decoded));
        }
        let view = |s: &KeyStore| s.list().into_iter().map(|k| k.record.clone()).collect::<Vec<_>>();
        prop_assert_eq!(view(&a), view(&b));
        for key in a.list() {
            let value = a.value_of(key.uid()).unwrap();
            prop_assert_eq!(a.find_by_value(&value).map(|k| k.uid()), Some(key.uid()));
        }
    }
}
