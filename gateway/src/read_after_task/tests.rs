use super::*;
use proptest::prelude::*;

fn status() -> impl Strategy<Value = Option<TaskStatus>> {
    prop::option::of(prop::sample::select(vec![
        TaskStatus::Enqueued,
        TaskStatus::Processing,
        TaskStatus::Succeeded,
        TaskStatus::Failed,
        TaskStatus::Canceled,
    ]))
}

proptest! {
    /// A read is served only after a finished task; "not found" only for a uid past the log's
    /// end or folded and not kept; anything else waits.
    #[test]
    fn reads_wait_for_exactly_the_unfinished(uid in 0u64..20, folded in 0u64..20, status in status(), end in prop::option::of(0u64..20)) {
        let end = end.map(|end| end.max(folded));
        let status = status.filter(|_| uid < folded);
        let got = progress(uid, folded, status, end);
        let expected = if uid < folded {
            match status {
                None => Progress::NotFound,
                Some(status) if status.is_finished() => Progress::Ready,
                Some(status) => Progress::Waiting(Some(status)),
            }
        } else if end.is_some_and(|end| uid >= end) {
            Progress::NotFound
        } else {
            Progress::Waiting(None)
        };
        prop_assert_eq!(got, expected);
    }
}

#[test]
fn errors_say_what_happened() {
    let error = timeout(5, Some(TaskStatus::Processing), Duration::from_millis(250));
    assert_eq!((error.code.as_str(), error.error_type.as_str(), error.http_status), ("read_after_task_timeout", "system", 503));
    assert_eq!(
        error.message,
        "Task `5` is not finished (`processing`) after 250 ms, so the read could not reflect it and was not served. Retry later."
    );
    let error = invalid_header("abc");
    assert_eq!((error.code.as_str(), error.http_status), ("invalid_read_after_task", 400));
}
