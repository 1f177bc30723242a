use super::*;
use crate::auth::store::tests::any_change;
use proptest::prelude::*;
use std::time::Duration;

fn records(changes: &[KeyChange]) -> Vec<(u64, Option<KeyChange>)> {
    changes.iter().cloned().enumerate().map(|(offset, change)| (offset as u64, Some(change))).collect()
}

fn listed(ring: &KeyRing) -> Vec<miroir_schemas::meta_log::ApiKeyRecord> {
    ring.read(|store| store.list().into_iter().map(|key| key.record.clone()).collect())
}

#[test]
fn unreadable_records_are_skipped_and_counted() {
    let ring = KeyRing::new(KeyStore::new(Some("masterKey".into())));
    let delete = KeyChange::Delete { uid: uuid::Uuid::from_u128(7) };
    ring.fold([(0, None), (1, Some(delete))]);
    assert_eq!(ring.next_offset(), 2);
    assert_eq!(ring.outcome(0), None);
    assert_eq!(ring.outcome(1), Some(Applied::NotFound(uuid::Uuid::from_u128(7))));
    assert_eq!(ring.outcome(2), None, "not folded yet");
}

#[tokio::test]
async fn waiters_wake_when_their_record_is_folded() {
    let ring = std::sync::Arc::new(KeyRing::new(KeyStore::new(None)));
    let waiter = {
        let ring = ring.clone();
        tokio::spawn(async move { ring.wait_folded(1, Duration::from_secs(30)).await })
    };
    ring.fold([(0, Some(KeyChange::Delete { uid: uuid::Uuid::nil() }))]);
    assert!(waiter.await.unwrap());
    assert!(!ring.wait_folded(2, Duration::from_millis(1)).await, "record 1 was never folded");
}

proptest! {
    /// However the watcher's batches fall, and even when a reconnecting reader delivers
    /// records again, the ring holds what folding the log once, in order, gives, and reports
    /// each record's own outcome.
    #[test]
    fn batches_and_replays_fold_like_the_log(
        changes in proptest::collection::vec(any_change(), 0..30),
        cuts in proptest::collection::vec(0usize..30, 0..6),
        replay_from in proptest::collection::vec(0usize..30, 0..6),
    ) {
        let mut reference = KeyStore::new(Some("masterKey".into()));
        let expected: Vec<Applied> = changes.iter().map(|change| reference.apply(change)).collect();

        let all = records(&changes);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(all.len())).collect();
        cuts.push(all.len());
        cuts.sort_unstable();
        let ring = KeyRing::new(KeyStore::new(Some("masterKey".into())));
        let mut start = 0;
        for (i, end) in cuts.into_iter().enumerate() {
            // A reader restarted at an earlier offset sends part of what was already folded.
            let from = replay_from.get(i).map_or(start, |r| (*r).min(start));
            ring.fold(all[from..end].iter().cloned());
            start = end;
        }

        prop_assert_eq!(ring.next_offset(), changes.len() as u64);
        let outcomes: Vec<Option<Applied>> = (0..changes.len() as u64).map(|o| ring.outcome(o)).collect();
        prop_assert_eq!(outcomes, expected.into_iter().map(Some).collect::<Vec<_>>());
        let reference_list: Vec<_> = reference.list().into_iter().map(|key| key.record.clone()).collect();
        prop_assert_eq!(listed(&ring), reference_list);
    }
}
