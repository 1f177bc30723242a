use super::*;
use crate::task_log::TaskType;
use proptest::prelude::*;
use time::macros::datetime;

const START: OffsetDateTime = datetime!(2030-01-01 0:00 UTC);

fn record(at_seconds: i64) -> TaskRecord {
    TaskRecord::new(TaskType::DocumentAdditionOrUpdate, Some("movies".into()), None, START + Duration::seconds(at_seconds))
}

fn claim(key: &str, digest: &str, window_seconds: u64) -> IdempotencyClaim {
    IdempotencyClaim { key: key.into(), request_digest: digest.into(), window_seconds }
}

/// One keyed record: (key, enqueuedAt in seconds, window in seconds).
type Keyed = (u8, i64, u64);

/// The rule stated plainly: a record is a repeat iff the latest first record of its key is
/// still reserved at the fold's clock (the latest `enqueuedAt` folded, this record's included).
fn reference(records: &[Keyed]) -> Vec<Claimed> {
    let mut firsts: BTreeMap<u8, i64> = BTreeMap::new();
    let mut clock = i64::MIN;
    records
        .iter()
        .map(|&(key, at, window)| {
            clock = clock.max(at);
            match firsts.get(&key) {
                Some(&expires_at) if expires_at > clock => Claimed::Repeat,
                _ => {
                    firsts.insert(key, at + window.min(MAX_WINDOW_SECONDS) as i64);
                    Claimed::First
                }
            }
        })
        .collect()
}

fn keyed() -> impl Strategy<Value = Vec<Keyed>> {
    // Few keys, clocks that go back a little (gateways' clocks differ), short windows.
    prop::collection::vec((0u8..4, 0i64..200, 0u64..60), 0..80)
        .prop_map(|records| records.into_iter().enumerate().map(|(i, (key, skew, window))| (key, i as i64 * 5 - skew, window)).collect())
}

proptest! {
    /// The fold decides as the plain rule does, keeps only live reservations, and a snapshot
    /// of the book read back decides the rest of the records the same way.
    #[test]
    fn the_fold_follows_the_rule(records in keyed(), cut in 0usize..80) {
        let expected = reference(&records);
        let mut book = IdempotencyBook::default();
        let mut decided = Vec::new();
        for (uid, &(key, at, window)) in records.iter().enumerate() {
            if uid == cut {
                let bytes = serde_json::to_vec(&book).unwrap();
                let restored: IdempotencyBook = serde_json::from_slice(&bytes).unwrap();
                prop_assert_eq!(&restored, &book);
                book = restored;
            }
            decided.push(book.claim(uid as u64, &claim(&key.to_string(), "d", window), &record(at)));
            let clock = book.clock.unwrap();
            prop_assert!(book.reservations.values().all(|r| r.expires_at > clock), "an expired reservation is kept");
            prop_assert_eq!(book.expiries.len(), book.len());
        }
        prop_assert_eq!(decided, expected);
    }
}

#[test]
fn a_repeat_within_the_window_gets_the_first_answer() {
    let mut book = IdempotencyBook::default();
    let mut first = record(0);
    first.custom_metadata = Some("batch-1".into());
    assert_eq!(book.claim(7, &claim("k", "a", 60), &first), Claimed::First);
    assert_eq!(book.claim(8, &claim("k", "b", 60), &record(59)), Claimed::Repeat);
    let reservation = book.reservation("k").unwrap();
    assert_eq!((reservation.task_uid, reservation.request_digest.as_str(), reservation.status()), (7, "a", 202));
    assert_eq!(reservation.summarized_task(), summarized_task_view(7, &first));
    // Another key is independent; at the window's end the key is free again.
    assert_eq!(book.claim(9, &claim("other", "a", 60), &record(59)), Claimed::First);
    assert_eq!(book.claim(10, &claim("k", "a", 60), &record(60)), Claimed::First);
    assert_eq!(book.reservation("k").unwrap().task_uid, 10);
}

#[test]
fn unkeyed_records_move_the_clock_and_free_memory() {
    let mut book = IdempotencyBook::default();
    book.claim(0, &claim("k", "a", 10), &record(0));
    assert_eq!(book.len(), 1);
    book.advance(START + Duration::seconds(10));
    assert!(book.is_empty());
}

#[test]
fn cancelations_and_deletions_were_answered_with_200() {
    let mut book = IdempotencyBook::default();
    let cancel = TaskRecord::new(TaskType::TaskCancelation, None, None, START);
    book.claim(3, &claim("k", "a", 10), &cancel);
    assert_eq!(book.reservation("k").unwrap().status(), 200);
}
