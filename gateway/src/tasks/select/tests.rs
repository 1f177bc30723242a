use super::*;
use crate::tasks::query::{parse_query, Paging, LIST_PARAMETERS};
use crate::tasks::vocabulary::{is_finished, KINDS, STATUSES};
use proptest::prelude::*;
use time::Duration;

const BASE: i64 = 1_800_000_000;

fn at(uid: u64, tenths: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(BASE + uid as i64).unwrap() + Duration::milliseconds(100 * tenths)
}

/// Task `uid`, enqueued at second `uid`, started 0.5 s later unless enqueued, finished 0.9 s
/// later when finished.
fn task(uid: u64, kind: &'static str, status: &'static str, indexes: &[&str]) -> TaskFacts {
    TaskFacts {
        uid,
        kind,
        status,
        indexes: indexes.iter().map(|s| s.to_string()).collect(),
        enqueued_at: at(uid, 0),
        started_at: (status != "enqueued").then(|| at(uid, 5)),
        finished_at: is_finished(status).then(|| at(uid, 9)),
        canceled_by: None,
    }
}

fn query(list: &[(&str, &str)]) -> TaskQuery {
    let pairs: Vec<(String, String)> = list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    parse_query(&pairs, &LIST_PARAMETERS).unwrap()
}

fn all(_: &TaskFacts) -> bool {
    true
}

fn transcript_like() -> Vec<TaskFacts> {
    (0..19).map(|uid| task(uid, "documentAdditionOrUpdate", if uid % 3 == 0 { "failed" } else { "succeeded" }, &["packages"])).collect()
}

#[test]
fn pages_go_newest_first_with_from_and_next() {
    let tasks = transcript_like();
    assert_eq!(page(&query(&[("limit", "3")]), &tasks, all), Page { uids: vec![18, 17, 16], total: 19, from: Some(18), next: Some(15) });
    let failed = page(&query(&[("statuses", "failed"), ("limit", "2"), ("from", "10")]), &tasks, all);
    assert_eq!(failed, Page { uids: vec![9, 6], total: 7, from: Some(9), next: Some(3) }, "total ignores `from`");
    let reverse = page(&query(&[("reverse", "true"), ("uids", "0,1,5"), ("from", "1")]), &tasks, all);
    assert_eq!(reverse, Page { uids: vec![1, 5], total: 3, from: Some(1), next: None });
    let nothing = page(&query(&[("limit", "0")]), &tasks, all);
    assert_eq!(nothing, Page { uids: vec![], total: 19, from: None, next: Some(18) });
    assert_eq!(page(&query(&[("uids", "")]), &tasks, all).total, 0);
}

#[test]
fn index_filters_drop_multi_index_kinds_but_count_them() {
    let tasks = vec![
        task(0, "indexCreation", "succeeded", &["a"]),
        task(1, "indexCreation", "succeeded", &["b"]),
        task(2, "indexSwap", "succeeded", &["a", "b"]),
        task(3, "taskDeletion", "succeeded", &[]),
        task(4, "indexUpdate", "succeeded", &["b", "c"]),
    ];
    let by_index = page(&query(&[("indexUids", "b")]), &tasks, all);
    assert_eq!(by_index, Page { uids: vec![4, 1], total: 3, from: Some(4), next: None });
    // Without an index filter every kind is listed.
    assert_eq!(page(&query(&[("types", "indexSwap,taskDeletion")]), &tasks, all).uids, vec![3, 2]);
    assert_eq!(matched(&query(&[("indexUids", "a,b")]).filter, &tasks, all), vec![0, 1, 4]);
}

#[test]
fn batch_and_cancel_filters() {
    let tasks = vec![
        task(0, "settingsUpdate", "succeeded", &["a"]),
        task(1, "settingsUpdate", "processing", &["a"]),
        task(2, "settingsUpdate", "enqueued", &["a"]),
    ];
    assert_eq!(page(&query(&[("batchUids", "0,1,2")]), &tasks, all).uids, vec![1, 0], "an enqueued task is in no batch");
    assert_eq!(page(&query(&[("canceledBy", "0,1,2")]), &tasks, all).total, 0, "Miroir cancels nothing");
    assert_eq!(page(&query(&[("canceledBy", "*")]), &tasks, all).total, 3);
    assert_eq!(page(&query(&[("statuses", "canceled")]), &tasks, all).total, 0);
}

#[test]
fn date_filters_need_the_date() {
    let tasks = vec![
        task(0, "settingsUpdate", "succeeded", &["a"]),
        task(1, "settingsUpdate", "processing", &["a"]),
        task(2, "settingsUpdate", "enqueued", &["a"]),
    ];
    let after = |param: &str| {
        let text = at(0, 0).format(&time::format_description::well_known::Rfc3339).unwrap();
        page(&query(&[(param, &text)]), &tasks, all).uids
    };
    assert_eq!(after("afterEnqueuedAt"), vec![2, 1], "the bound itself is excluded");
    assert_eq!(after("afterStartedAt"), vec![1, 0], "enqueued tasks have not started");
    assert_eq!(after("afterFinishedAt"), vec![0]);
    assert_eq!(after("beforeEnqueuedAt"), Vec::<u64>::new());
}

fn arbitrary_task(uid: u64) -> impl Strategy<Value = TaskFacts> {
    let kind = prop::sample::select(KINDS.to_vec());
    let status = prop::sample::select(STATUSES[..4].to_vec());
    let indexes = prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 0..3);
    (kind, status, indexes).prop_map(move |(kind, status, indexes)| task(uid, kind, status, &indexes))
}

fn arbitrary_tasks() -> impl Strategy<Value = Vec<TaskFacts>> {
    (0usize..30).prop_flat_map(|n| (0..n as u64).map(arbitrary_task).collect::<Vec<_>>())
}

fn arbitrary_filter() -> impl Strategy<Value = Vec<(String, String)>> {
    let options = vec![
        ("statuses", "failed"),
        ("statuses", "succeeded,processing"),
        ("indexUids", "a"),
        ("indexUids", "b,c"),
        ("types", "indexSwap,documentAdditionOrUpdate"),
        ("batchUids", "1,3,5,7,9,11"),
        ("afterStartedAt", "2027-01-15T08:00:05Z"),
    ];
    prop::sample::subsequence(options, 0..4).prop_map(|chosen| chosen.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
}

proptest! {
    /// Following `next` from the first page visits every selected task once, in order, and
    /// never more than `total`.
    #[test]
    fn paging_visits_the_selection_once(tasks in arbitrary_tasks(), filter in arbitrary_filter(), limit in 1u32..7, reverse: bool) {
        let mut base = parse_query(&filter, &LIST_PARAMETERS).unwrap();
        base.paging = Paging { limit, from: None, reverse };
        let mut expected: Vec<u64> = tasks.iter().filter(|t| base.filter.selects(t)).map(|t| t.uid).collect();
        if !reverse {
            expected.reverse();
        }
        let mut seen: Vec<u64> = Vec::new();
        let mut current = base.clone();
        loop {
            let shown = page(&current, &tasks, all);
            prop_assert!(shown.uids.len() <= limit as usize);
            prop_assert_eq!(shown.total, tasks.iter().filter(|t| base.filter.matches(t)).count() as u64);
            prop_assert_eq!(shown.from, shown.uids.first().copied());
            seen.extend(&shown.uids);
            match shown.next {
                Some(next) => current.paging.from = Some(next as u32),
                None => break,
            }
        }
        prop_assert!(seen.len() as u64 <= base_total(&base, &tasks));
        prop_assert_eq!(seen, expected);
    }

}

fn base_total(query: &TaskQuery, tasks: &[TaskFacts]) -> u64 {
    tasks.iter().filter(|t| query.filter.matches(t)).count() as u64
}

#[test]
fn tasks_the_caller_may_not_see_are_left_out_but_counted() {
    let tasks = vec![task(0, "indexCreation", "succeeded", &["a"]), task(1, "indexCreation", "succeeded", &["secret"])];
    let only_a = |task: &TaskFacts| task.indexes.iter().all(|index| index == "a");
    assert_eq!(page(&query(&[]), &tasks, only_a), Page { uids: vec![0], total: 2, from: Some(0), next: None });
    assert_eq!(matched(&query(&[("uids", "*")]).filter, &tasks, only_a), vec![0]);
}
