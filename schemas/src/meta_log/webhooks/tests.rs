use super::*;
use crate::envelope::{decode, encode};
use crate::meta_log::MetaEnvelope;
use proptest::prelude::*;

fn hook(url: &str, headers: &[(&str, &str)]) -> Webhook {
    Webhook { url: url.into(), headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
}

fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

#[test]
fn updates_merge_headers_as_meilisearch_patches_them() {
    let mut webhooks = Webhooks::default();
    assert_eq!(
        webhooks.apply(&WebhookChange::WebhookCreate { uuid: uuid(1), webhook: hook("http://a", &[("A", "1"), ("B", "2")]) }),
        WebhookApplied::Created(uuid(1))
    );
    let patch = WebhookChange::WebhookUpdate {
        uuid: uuid(1),
        url: None,
        clear_headers: false,
        headers: [("A".to_string(), None), ("C".to_string(), Some("3".to_string()))].into(),
    };
    assert_eq!(webhooks.apply(&patch), WebhookApplied::Updated(uuid(1)));
    assert_eq!(webhooks.get(&uuid(1)), Some(&hook("http://a", &[("B", "2"), ("C", "3")])));
    let clear = WebhookChange::WebhookUpdate { uuid: uuid(1), url: Some("http://b".into()), clear_headers: true, headers: BTreeMap::new() };
    assert_eq!(webhooks.apply(&clear), WebhookApplied::Updated(uuid(1)));
    assert_eq!(webhooks.get(&uuid(1)), Some(&hook("http://b", &[])));
    assert_eq!(webhooks.apply(&WebhookChange::WebhookDelete { uuid: uuid(1) }), WebhookApplied::Deleted(uuid(1)));
    assert_eq!(webhooks.apply(&WebhookChange::WebhookDelete { uuid: uuid(1) }), WebhookApplied::NotFound(uuid(1)));
    assert_eq!(webhooks.apply(&clear), WebhookApplied::NotFound(uuid(1)));
}

#[test]
fn limits_are_kept_by_the_fold() {
    let mut webhooks = Webhooks::default();
    for n in 0..MAX_WEBHOOKS as u128 {
        assert_eq!(
            webhooks.apply(&WebhookChange::WebhookCreate { uuid: uuid(n), webhook: hook("http://a", &[]) }),
            WebhookApplied::Created(uuid(n))
        );
    }
    let one_more = WebhookChange::WebhookCreate { uuid: uuid(99), webhook: hook("http://a", &[]) };
    assert_eq!(webhooks.apply(&one_more), WebhookApplied::TooManyWebhooks(uuid(99)));
    let again = WebhookChange::WebhookCreate { uuid: uuid(0), webhook: hook("http://other", &[]) };
    assert_eq!(webhooks.apply(&again), WebhookApplied::AlreadyExists(uuid(0)), "the first creation of a uuid wins");
    assert_eq!(webhooks.get(&uuid(0)).unwrap().url, "http://a");

    let many: BTreeMap<String, Option<String>> = (0..=MAX_HEADERS).map(|i| (format!("h{i}"), Some("v".into()))).collect();
    let too_many = WebhookChange::WebhookUpdate { uuid: uuid(0), url: None, clear_headers: false, headers: many };
    assert_eq!(webhooks.apply(&too_many), WebhookApplied::TooManyHeaders(uuid(0)));
    assert!(webhooks.get(&uuid(0)).unwrap().headers.is_empty(), "a refused update changes nothing");
}

#[test]
fn changes_travel_in_meta_envelopes() {
    let changes = [
        WebhookChange::WebhookCreate { uuid: uuid(1), webhook: hook("http://a", &[("Authorization", "Bearer x")]) },
        WebhookChange::WebhookUpdate { uuid: uuid(1), url: None, clear_headers: true, headers: [("X".to_string(), None)].into() },
        WebhookChange::WebhookUpdate { uuid: uuid(1), url: Some("http://b".into()), clear_headers: false, headers: BTreeMap::new() },
        WebhookChange::WebhookDelete { uuid: uuid(1) },
    ];
    for change in changes {
        let back: MetaEnvelope = decode(&encode(&MetaEnvelope::new(change.clone()))).unwrap();
        assert_eq!(back.webhook_change(), Some(change));
    }
}

fn any_change() -> impl Strategy<Value = WebhookChange> {
    let id = (0u128..24).prop_map(uuid);
    let headers = prop::collection::btree_map("[a-c]{1,2}", prop::option::of("[a-z]{0,3}"), 0..6);
    prop_oneof![
        (id.clone(), prop::collection::btree_map("[a-c]{1,2}", "[a-z]{0,3}", 0..4))
            .prop_map(|(uuid, headers)| WebhookChange::WebhookCreate { uuid, webhook: Webhook { url: "http://h".into(), headers } }),
        (id.clone(), prop::option::of("http://[a-z]{1,3}"), any::<bool>(), headers)
            .prop_map(|(uuid, url, clear_headers, headers)| WebhookChange::WebhookUpdate { uuid, url, clear_headers, headers }),
        id.prop_map(|uuid| WebhookChange::WebhookDelete { uuid }),
    ]
}

proptest! {
    /// Every gateway folding the same records reaches the same webhooks and verdicts, and no
    /// fold ever holds more webhooks than Meilisearch allows.
    #[test]
    fn the_fold_is_deterministic_and_bounded(changes in prop::collection::vec(any_change(), 0..80)) {
        let (mut a, mut b) = (Webhooks::default(), Webhooks::default());
        for change in &changes {
            let verdict = a.apply(change);
            prop_assert_eq!(&verdict, &b.apply(change));
            prop_assert!(a.len() <= MAX_WEBHOOKS);
            if let WebhookApplied::Updated(uuid) | WebhookApplied::Created(uuid) = verdict {
                prop_assert!(a.get(&uuid).unwrap().headers.len() <= MAX_HEADERS);
            }
        }
        prop_assert_eq!(a, b);
    }
}
