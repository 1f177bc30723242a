use super::*;
use proptest::prelude::*;
use time::macros::datetime;

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn list_query(list: &[(&str, &str)]) -> Result<TaskQuery, ResponseError> {
    parse_query(&pairs(list), &LIST_PARAMETERS)
}

fn error(list: &[(&str, &str)]) -> (String, String) {
    let error = list_query(list).unwrap_err();
    (error.code, error.message)
}

#[test]
fn transcript_invalid_status_filter() {
    assert_eq!(
        error(&[("statuses", "nope")]),
        (
            "invalid_task_statuses".into(),
            "Invalid value in parameter `statuses`: `nope` is not a valid task status. Available statuses are `enqueued`, `processing`, `succeeded`, `failed`, `canceled`.".into()
        )
    );
}

#[test]
fn invalid_type_lists_all_eighteen_kinds() {
    assert_eq!(
        error(&[("types", "documentAdditionOrUpdate,nope")]),
        (
            "invalid_task_types".into(),
            "Invalid value in parameter `types[1]`: `nope` is not a valid task type. Available types are `documentAdditionOrUpdate`, `documentEdition`, `documentDeletion`, `settingsUpdate`, `indexCreation`, `indexDeletion`, `indexUpdate`, `indexSwap`, `taskCancelation`, `taskDeletion`, `dumpCreation`, `snapshotCreation`, `export`, `upgradeDatabase`, `indexCompaction`, `networkTopologyChange`, `dsrUpdate`, `dsrClear`.".into()
        )
    );
}

/// A query, the error code it gets and the error message.
type Case = (&'static [(&'static str, &'static str)], &'static str, &'static str);

#[test]
fn every_parameter_error_is_meilisearchs() {
    let cases: [Case; 14] = [
        (&[("limit", "-1")], "invalid_task_limit", "Invalid value in parameter `limit`: could not parse `-1` as a positive integer"),
        (&[("from", "x")], "invalid_task_from", "Invalid value in parameter `from`: could not parse `x` as a positive integer"),
        (&[("reverse", "yes")], "invalid_task_reverse", "Invalid value in parameter `reverse`: could not parse `yes` as a boolean, expected either `true` or `false`"),
        (&[("uids", "a")], "invalid_task_uids", "Invalid value in parameter `uids`: could not parse `a` as a positive integer"),
        (&[("uids", "1,4294967296")], "invalid_task_uids", "Invalid value in parameter `uids[1]`: could not parse `4294967296` as a positive integer"),
        (&[("batchUids", "1,,x")], "invalid_batch_uids", "Invalid value in parameter `batchUids[1]`: could not parse `x` as a positive integer"),
        (&[("canceledBy", " 1")], "invalid_task_canceled_by", "Invalid value in parameter `canceledBy`: could not parse ` 1` as a positive integer"),
        (&[("indexUids", "ok,bad uid")], "invalid_index_uid", "Invalid value in parameter `indexUids[1]`: `bad uid` is not a valid index uid. Index uid can be an integer or a string containing only alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes."),
        (&[("afterEnqueuedAt", "x")], "invalid_task_after_enqueued_at", "Invalid value in parameter `afterEnqueuedAt`: `x` is an invalid date-time. It should follow the YYYY-MM-DD or RFC 3339 date-time format."),
        (&[("beforeEnqueuedAt", "2024-13-01")], "invalid_task_before_enqueued_at", "Invalid value in parameter `beforeEnqueuedAt`: `2024-13-01` is an invalid date-time. It should follow the YYYY-MM-DD or RFC 3339 date-time format."),
        (&[("afterStartedAt", "yesterday")], "invalid_task_after_started_at", "Invalid value in parameter `afterStartedAt`: `yesterday` is an invalid date-time. It should follow the YYYY-MM-DD or RFC 3339 date-time format."),
        (&[("beforeStartedAt", "1")], "invalid_task_before_started_at", "Invalid value in parameter `beforeStartedAt`: `1` is an invalid date-time. It should follow the YYYY-MM-DD or RFC 3339 date-time format."),
        (&[("afterFinishedAt", "2024-01-01T00:00:00")], "invalid_task_after_finished_at", "Invalid value in parameter `afterFinishedAt`: `2024-01-01T00:00:00` is an invalid date-time. It should follow the YYYY-MM-DD or RFC 3339 date-time format."),
        (&[("beforeFinishedAt", "")], "invalid_task_before_finished_at", "Invalid value in parameter `beforeFinishedAt`: `` is an invalid date-time. It should follow the YYYY-MM-DD or RFC 3339 date-time format."),
    ];
    for (query, code, message) in cases {
        assert_eq!(error(query), (code.to_owned(), message.to_owned()), "{query:?}");
    }
}

#[test]
fn unknown_parameters_name_the_accepted_ones_in_meilisearch_order() {
    assert_eq!(
        error(&[("limt", "1")]),
        (
            "bad_request".into(),
            "Unknown parameter `limt`: did you mean `limit`? expected one of `limit`, `from`, `reverse`, `batchUids`, `uids`, `canceledBy`, `types`, `statuses`, `indexUids`, `afterEnqueuedAt`, `beforeEnqueuedAt`, `afterStartedAt`, `beforeStartedAt`, `afterFinishedAt`, `beforeFinishedAt`".into()
        )
    );
    // Cancelation and deletion take no paging.
    let error = parse_query(&pairs(&[("limit", "1")]), &FILTER_PARAMETERS).unwrap_err();
    assert_eq!(error.code, "bad_request");
    assert!(
        error.message.starts_with("Unknown parameter `limit`: expected one of `uids`, `batchUids`, `canceledBy`,"),
        "{}",
        error.message
    );
}

#[test]
fn the_first_problem_in_query_order_is_reported() {
    assert_eq!(error(&[("statuses", "nope"), ("limt", "1")]).0, "invalid_task_statuses");
    assert_eq!(error(&[("limt", "1"), ("statuses", "nope")]).0, "bad_request");
    // A repeated parameter keeps its first position and its last value.
    assert_eq!(list_query(&[("limit", "x"), ("limit", "3")]).unwrap().paging.limit, 3);
    assert_eq!(error(&[("limit", "3"), ("statuses", "nope"), ("limit", "x")]).0, "invalid_task_limit");
}

#[test]
fn lists_stars_and_case() {
    let query = list_query(&[("statuses", "FAILED,succeeded"), ("types", "indexswap"), ("uids", "3,,1"), ("indexUids", "a,*")]).unwrap();
    assert_eq!(query.filter.statuses, Some(vec!["failed", "succeeded"]));
    assert_eq!(query.filter.types, Some(vec!["indexSwap"]));
    assert_eq!(query.filter.uids, Some(vec![3, 1]));
    assert_eq!(query.filter.index_uids, None, "`*` anywhere means every index");
    assert!(query.filtered);
    assert_eq!(list_query(&[("uids", "")]).unwrap().filter.uids, Some(vec![]), "an empty list matches nothing");
    assert_eq!(
        list_query(&[("limit", "0"), ("from", "5"), ("reverse", "true")]).unwrap().paging,
        Paging { limit: 0, from: Some(5), reverse: true }
    );
    assert!(!list_query(&[("limit", "3")]).unwrap().filtered);
    assert!(parse_query(&pairs(&[("uids", "*")]), &FILTER_PARAMETERS).unwrap().filtered, "`*` is a filter for cancel/delete");
}

#[test]
fn dates_follow_meilisearch() {
    let query = list_query(&[
        ("afterEnqueuedAt", "2024-01-01"),
        ("beforeEnqueuedAt", "2024-01-01"),
        ("afterStartedAt", "2024-02-03T04:05:06.5+01:00"),
        ("beforeFinishedAt", "*"),
    ])
    .unwrap();
    assert_eq!(query.filter.enqueued.after, Some(datetime!(2024-01-02 0:00 UTC)), "a bare day after means from the next day");
    assert_eq!(query.filter.enqueued.before, Some(datetime!(2024-01-01 0:00 UTC)));
    assert_eq!(query.filter.started.after, Some(datetime!(2024-02-03 4:05:06.5 +1)));
    assert_eq!(query.filter.finished, DateRange::default());
    assert!(query.filtered);
    let range = DateRange { after: Some(datetime!(2024-01-01 0:00 UTC)), before: Some(datetime!(2024-01-03 0:00 UTC)) };
    assert!(!range.contains(datetime!(2024-01-01 0:00 UTC)), "bounds are excluded");
    assert!(range.contains(datetime!(2024-01-02 0:00 UTC)));
    assert!(!range.contains(datetime!(2024-01-03 0:00 UTC)));
}

#[test]
fn path_uids_and_missing_filters() {
    assert_eq!(path_task_uid("12").unwrap(), 12);
    let bad = path_task_uid("abc").unwrap_err();
    assert_eq!(
        (bad.code.as_str(), bad.message.as_str()),
        ("invalid_task_uids", "Task uid `abc` is invalid. It should only contain numeric characters.")
    );
    let bad = path_batch_uid("-1").unwrap_err();
    assert_eq!(
        (bad.code.as_str(), bad.message.as_str()),
        ("invalid_batch_uids", "Batch uid `-1` is invalid. It should only contain numeric characters.")
    );
    let missing = missing_filters("cancel");
    assert_eq!(missing.code, "missing_task_filters");
    assert_eq!(missing.http_status, 400);
    assert_eq!(missing.message, "Query parameters to filter the tasks to cancel are missing. Available query parameters are: `uids`, `indexUids`, `statuses`, `types`, `canceledBy`, `beforeEnqueuedAt`, `afterEnqueuedAt`, `beforeStartedAt`, `afterStartedAt`, `beforeFinishedAt`, `afterFinishedAt`.");
}

proptest! {
    /// Any list of valid uids reads back as written, `*` turns it off, and an invalid item is
    /// reported at its position.
    #[test]
    fn uid_lists_round_trip(uids in prop::collection::vec(any::<u32>(), 1..6), bad_at in any::<prop::sample::Index>()) {
        let text = uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let query = list_query(&[("uids", &text)]).unwrap();
        prop_assert_eq!(query.filter.uids, Some(uids.iter().map(|&u| u64::from(u)).collect::<Vec<_>>()));
        prop_assert_eq!(list_query(&[("uids", &format!("{text},*"))]).unwrap().filter.uids, None);
        let mut items: Vec<String> = uids.iter().map(u32::to_string).collect();
        let position = bad_at.index(items.len());
        items[position] = "x".into();
        let (code, message) = error(&[("uids", &items.join(","))]);
        prop_assert_eq!(code, "invalid_task_uids");
        let location = if items.len() > 1 { format!("uids[{position}]") } else { "uids".to_owned() };
        prop_assert_eq!(message, format!("Invalid value in parameter `{location}`: could not parse `x` as a positive integer"));
    }

    /// Any RFC 3339 instant is read exactly.
    #[test]
    fn rfc3339_dates_are_exact(seconds in 0i64..4_000_000_000, nanos in 0u32..1_000_000_000) {
        let at = OffsetDateTime::from_unix_timestamp(seconds).unwrap().replace_nanosecond(nanos).unwrap();
        let text = at.format(&Rfc3339).unwrap();
        let query = list_query(&[("beforeStartedAt", &text)]).unwrap();
        prop_assert_eq!(query.filter.started.before, Some(at));
    }
}
