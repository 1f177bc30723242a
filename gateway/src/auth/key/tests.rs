use super::*;
use proptest::prelude::*;
use time::macros::datetime;

/// Key values recorded from Meilisearch 1.50 with master key `masterKey`.
const TRANSCRIPT_KEYS: &[(&str, &str)] = &[
    ("4d3f60da-457a-4df9-8499-c018302c1d9c", "000865c09f452a1f8826ab3ce0516088eeb72bee84277ae757e30ff5f49c668d"),
    ("3b517368-316e-44b9-8bc6-298afb7661f8", "12b005deb60c1903a5768ff981b19059c73891d455b78ec9f444e72e9b147033"),
    ("1a6db69b-7b37-4de8-be52-d3724bd1e870", "420b2b022ff57c08286871368b31b6c7f07bfe9fa12ae6baa5b484bb197f9365"),
    ("2dc1ee50-df63-4f39-b60b-f95b4064da3b", "132c0cfd799f196e4a786f5237d44347b7c4ee1ce75e92f0443ff9d6fafc7e53"),
    ("6062abda-a5aa-4414-ac91-ecd7944c0f8d", "0d030b69eea2dde1af6e6b714146c4dc942d4b2725c173e5d132c60aad9782f5"),
];

fn record(actions: &[&str], indexes: &[&str], expires_at: Option<OffsetDateTime>) -> ApiKeyRecord {
    let now = datetime!(2026-01-01 0:00 UTC);
    ApiKeyRecord {
        uid: Uuid::from_u128(7),
        name: None,
        description: None,
        actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        indexes: indexes.iter().map(|i| (*i).to_owned()).collect(),
        expires_at,
        created_at: now,
        updated_at: now,
    }
}

#[test]
fn key_values_match_meilisearch() {
    for (uid, value) in TRANSCRIPT_KEYS {
        let uid = Uuid::parse_str(uid).unwrap();
        assert_eq!(key_value("masterKey", uid), *value);
        assert!(value_matches("masterKey", uid, value));
        assert!(value_matches("masterKey", uid, &value.to_uppercase()), "hex case does not matter");
        assert!(!value_matches("otherMasterKey", uid, value));
        assert!(!value_matches("masterKey", uid, "not hex"));
    }
}

#[test]
fn default_keys_are_meilisearch_defaults_with_stable_uids() {
    let now = datetime!(2026-01-01 0:00 UTC);
    let keys = default_keys("masterKey", now);
    let names: Vec<_> = keys.iter().map(|k| k.name.as_deref().unwrap()).collect();
    assert_eq!(names, ["Default Chat API Key", "Default Read-Only Admin API Key", "Default Admin API Key", "Default Search API Key"]);
    assert_eq!(keys[1].actions, ["*.get", "keys.get"]);
    assert!(keys.iter().all(|k| k.indexes == ["*"] && k.expires_at.is_none()));
    assert!(keys.windows(2).all(|w| w[0].created_at < w[1].created_at));
    for key in &keys {
        assert_eq!(key.uid.get_version_num(), 4);
    }
    let again = default_keys("masterKey", now + Duration::hours(1));
    assert!(keys.iter().zip(&again).all(|(a, b)| a.uid == b.uid), "same master key, same uids");
    let other = default_keys("anotherMasterKey", now);
    assert!(keys.iter().zip(&other).all(|(a, b)| a.uid != b.uid));
}

#[test]
fn grants_follow_index_scope_and_expiry() {
    let now = datetime!(2026-01-01 0:00 UTC);
    let scoped = ApiKey::from_record(record(&["search", "tasks.get", "documents.add"], &["movies*"], None));
    assert!(scoped.grants(Action::Search, Some("movies_fr"), now));
    assert!(!scoped.grants(Action::Search, Some("books"), now));
    assert!(scoped.grants(Action::Search, None, now), "multi-search checks indexes itself");
    assert!(scoped.grants(Action::TasksGet, None, now));
    assert!(!scoped.grants(Action::DocumentsAdd, None, now), "document writes need an index");
    assert!(!scoped.grants(Action::DocumentsGet, Some("movies"), now));

    let no_indexes = ApiKey::from_record(record(&["*"], &[], None));
    assert!(!no_indexes.grants(Action::Search, None, now) && !no_indexes.grants(Action::Version, None, now));

    let expiring = ApiKey::from_record(record(&["*"], &["*"], Some(now)));
    assert!(expiring.grants(Action::Version, None, now - Duration::seconds(1)));
    assert!(!expiring.grants(Action::Version, None, now), "expired at its expiresAt");

    let unknown = ApiKey::from_record(record(&["search", "future.action"], &["*"], None));
    assert_eq!(unknown.actions, [Action::Search]);
}

fn any_action() -> impl Strategy<Value = Action> {
    (0..Action::ALL.len()).prop_map(|i| Action::ALL[i])
}

proptest! {
    /// A key never authorizes an action its expanded set lacks, an index its patterns do not
    /// cover, or anything once expired.
    #[test]
    fn never_grants_beyond_the_key(
        held in proptest::collection::vec(any_action(), 0..4),
        patterns in proptest::collection::vec("(\\*|[ab]{1,2}\\*?)", 0..3),
        wanted in any_action(),
        index in proptest::option::of("[ab]{1,3}"),
        expiry_offset in proptest::option::of(-5i64..5),
    ) {
        let now = datetime!(2026-01-01 0:00 UTC);
        let names: Vec<&str> = held.iter().map(|a| a.name()).collect();
        let indexes: Vec<&str> = patterns.iter().map(String::as_str).collect();
        let expires_at = expiry_offset.map(|s| now + Duration::seconds(s));
        let key = ApiKey::from_record(record(&names, &indexes, expires_at));
        if key.grants(wanted, index.as_deref(), now) {
            prop_assert!(expand(&held).contains(&wanted));
            prop_assert!(expires_at.is_none_or(|e| now < e));
            if let Some(index) = &index {
                prop_assert!(patterns.iter().any(|p| IndexPattern::new_unchecked(p.clone()).matches(index)));
            } else {
                prop_assert!(patterns.iter().any(|p| p == "*") || wanted.index_scope() == super::super::action::IndexScope::RouteHandlerChecksIndex);
            }
        }
    }
}
