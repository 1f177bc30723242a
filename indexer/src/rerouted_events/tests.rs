use super::*;
use miroir_schemas::error::{Code, ResponseError};

fn outcome(indexed: u64, failed: Option<&str>, at: i64) -> OpOutcome {
    OpOutcome {
        status: if failed.is_some() { ReplicaStatus::Failed } else { ReplicaStatus::Succeeded },
        error: failed.map(|m| ResponseError::new(Code::Internal, m)),
        counts: DetailCounts { indexed_documents: Some(indexed), ..DetailCounts::NONE },
        started_at: OffsetDateTime::from_unix_timestamp(at).unwrap(),
        finished_at: OffsetDateTime::from_unix_timestamp(at + 10).unwrap(),
    }
}

#[test]
fn pieces_sum_their_counts_and_the_first_failure_wins() {
    let (a, b, c) = (outcome(3, None, 100), outcome(4, Some("boom"), 90), outcome(5, Some("later"), 120));
    let all = combined(&[Some(&a), None, Some(&b), Some(&c)]).unwrap();
    assert_eq!(all.counts.indexed_documents, Some(12));
    assert_eq!(all.status, ReplicaStatus::Failed);
    assert_eq!(all.error.unwrap().message, "boom");
    assert_eq!((all.started_at.unix_timestamp(), all.finished_at.unix_timestamp()), (90, 130));
    assert_eq!(combined(&[Some(&a)]).unwrap(), a);
}

#[test]
fn pieces_all_applied_before_are_not_reported_again() {
    assert_eq!(combined(&[None, None]), None);
    assert_eq!(combined(&[]), None);
}
