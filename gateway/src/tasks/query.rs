//! The query string of `/tasks`, `/batches`, `POST /tasks/cancel` and `DELETE /tasks`, read
//! the way Meilisearch's `deserr` reads it, with its exact error objects.
//!
//! How Meilisearch reads it (so do we): the query string becomes a JSON map (a repeated name
//! keeps its first position and its last value), then parameters are checked in that order and
//! the first problem is the answer. Lists are comma-separated, empty items dropped, nothing
//! trimmed; `*` anywhere in a list means "no filter". A list item that fails is named
//! `param[i]` when the list has several items. Names of kinds and statuses ignore ASCII case.

use miroir_schemas::error::{Code, ResponseError};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime, Time};

use super::vocabulary::{canonical, KINDS, STATUSES};
use crate::request_errors::{query_param_unexpected, query_param_unknown};

/// `GET /tasks` and `GET /batches` parameters, in Meilisearch's declaration order (the order
/// "expected one of" lists them in).
pub const LIST_PARAMETERS: [&str; 15] = [
    "limit",
    "from",
    "reverse",
    "batchUids",
    "uids",
    "canceledBy",
    "types",
    "statuses",
    "indexUids",
    "afterEnqueuedAt",
    "beforeEnqueuedAt",
    "afterStartedAt",
    "beforeStartedAt",
    "afterFinishedAt",
    "beforeFinishedAt",
];

/// `POST /tasks/cancel` and `DELETE /tasks` parameters: the filters, without paging.
pub const FILTER_PARAMETERS: [&str; 12] = [
    "uids",
    "batchUids",
    "canceledBy",
    "types",
    "statuses",
    "indexUids",
    "afterEnqueuedAt",
    "beforeEnqueuedAt",
    "afterStartedAt",
    "beforeStartedAt",
    "afterFinishedAt",
    "beforeFinishedAt",
];

pub const DEFAULT_LIMIT: u32 = 20;

/// An open interval of time; an absent bound does not limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DateRange {
    pub after: Option<OffsetDateTime>,
    pub before: Option<OffsetDateTime>,
}

impl DateRange {
    pub fn is_unbounded(&self) -> bool {
        self.after.is_none() && self.before.is_none()
    }

    /// Whether `at` is strictly inside the bounds (Meilisearch excludes both ends).
    pub fn contains(&self, at: OffsetDateTime) -> bool {
        self.after.is_none_or(|after| at > after) && self.before.is_none_or(|before| at < before)
    }
}

/// Which tasks a request is about. `None` means "any" (parameter absent or `*`); `Some` of an
/// empty list (`uids=`) matches nothing, as in Meilisearch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskFilter {
    pub uids: Option<Vec<u64>>,
    pub batch_uids: Option<Vec<u64>>,
    pub canceled_by: Option<Vec<u64>>,
    pub types: Option<Vec<&'static str>>,
    pub statuses: Option<Vec<&'static str>>,
    pub index_uids: Option<Vec<String>>,
    pub enqueued: DateRange,
    pub started: DateRange,
    pub finished: DateRange,
}

/// Which page of the selection is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub limit: u32,
    /// Uid of the first task shown: newer ones (older ones with `reverse`) are skipped.
    pub from: Option<u32>,
    /// Oldest first.
    pub reverse: bool,
}

impl Default for Paging {
    fn default() -> Self {
        Paging { limit: DEFAULT_LIMIT, from: None, reverse: false }
    }
}

/// A checked query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskQuery {
    pub filter: TaskFilter,
    pub paging: Paging,
    /// Whether any filter parameter was given, even as `*` or empty: cancelation and deletion
    /// refuse a request without one.
    pub filtered: bool,
}

/// Reads a query string given as its `(name, value)` pairs in order, accepting `accepted`
/// ([`LIST_PARAMETERS`] or [`FILTER_PARAMETERS`]).
pub fn parse_query(pairs: &[(String, String)], accepted: &[&str]) -> Result<TaskQuery, ResponseError> {
    let mut query = TaskQuery::default();
    for (name, value) in as_json_map(pairs) {
        if !accepted.contains(&name) {
            return Err(ResponseError::new(Code::BadRequest, query_param_unknown(name, accepted)));
        }
        query.filtered |= FILTER_PARAMETERS.contains(&name);
        let filter = &mut query.filter;
        match name {
            "limit" => query.paging.limit = integer(name, value, Code::InvalidTaskLimit)?,
            "from" => query.paging.from = Some(integer(name, value, Code::InvalidTaskFrom)?),
            "reverse" => query.paging.reverse = boolean(name, value, Code::InvalidTaskReverse)?,
            "uids" => filter.uids = list(name, value, Code::InvalidTaskUids, uid_item)?,
            "batchUids" => filter.batch_uids = list(name, value, Code::InvalidBatchUids, uid_item)?,
            "canceledBy" => filter.canceled_by = list(name, value, Code::InvalidTaskCanceledBy, uid_item)?,
            "types" => filter.types = list(name, value, Code::InvalidTaskTypes, kind_item)?,
            "statuses" => filter.statuses = list(name, value, Code::InvalidTaskStatuses, status_item)?,
            "indexUids" => filter.index_uids = list(name, value, Code::InvalidIndexUid, index_uid_item)?,
            "afterEnqueuedAt" => filter.enqueued.after = date(name, value, Bound::After, Code::InvalidTaskAfterEnqueuedAt)?,
            "beforeEnqueuedAt" => filter.enqueued.before = date(name, value, Bound::Before, Code::InvalidTaskBeforeEnqueuedAt)?,
            "afterStartedAt" => filter.started.after = date(name, value, Bound::After, Code::InvalidTaskAfterStartedAt)?,
            "beforeStartedAt" => filter.started.before = date(name, value, Bound::Before, Code::InvalidTaskBeforeStartedAt)?,
            "afterFinishedAt" => filter.finished.after = date(name, value, Bound::After, Code::InvalidTaskAfterFinishedAt)?,
            "beforeFinishedAt" => filter.finished.before = date(name, value, Bound::Before, Code::InvalidTaskBeforeFinishedAt)?,
            _ => unreachable!("every accepted parameter is handled"),
        }
    }
    Ok(query)
}

/// The pairs as the JSON map Meilisearch builds from them: first position, last value.
fn as_json_map(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    let mut map: Vec<(&str, &str)> = Vec::with_capacity(pairs.len());
    for (name, value) in pairs {
        match map.iter_mut().find(|(seen, _)| seen == name) {
            Some(entry) => entry.1 = value,
            None => map.push((name, value)),
        }
    }
    map
}

fn integer(name: &str, value: &str, code: Code) -> Result<u32, ResponseError> {
    value.parse().map_err(|_| ResponseError::new(code, query_param_unexpected(name, &not_an_integer(value))))
}

fn not_an_integer(value: &str) -> String {
    format!("could not parse `{value}` as a positive integer")
}

fn boolean(name: &str, value: &str, code: Code) -> Result<bool, ResponseError> {
    value.parse().map_err(|_| {
        ResponseError::new(
            code,
            query_param_unexpected(name, &format!("could not parse `{value}` as a boolean, expected either `true` or `false`")),
        )
    })
}

/// A comma-separated list; `None` when it holds `*`.
fn list<T>(name: &str, value: &str, code: Code, item: fn(&str) -> Result<T, String>) -> Result<Option<Vec<T>>, ResponseError> {
    let items: Vec<&str> = value.split(',').filter(|item| !item.is_empty()).collect();
    let mut parsed = Vec::with_capacity(items.len());
    for (position, text) in items.iter().enumerate().filter(|(_, text)| **text != "*") {
        let message = match item(text) {
            Ok(value) => {
                parsed.push(value);
                continue;
            }
            Err(message) => message,
        };
        let location = if items.len() > 1 { format!("{name}[{position}]") } else { name.to_owned() };
        return Err(ResponseError::new(code, query_param_unexpected(&location, &message)));
    }
    Ok((!items.contains(&"*")).then_some(parsed))
}

/// Task and batch uids are Meilisearch's `u32`.
fn uid_item(text: &str) -> Result<u64, String> {
    text.parse::<u32>().map(u64::from).map_err(|_| not_an_integer(text))
}

fn kind_item(text: &str) -> Result<&'static str, String> {
    canonical(&KINDS, text).ok_or_else(|| format!("`{text}` is not a valid task type. Available types are {}.", quoted(&KINDS)))
}

fn status_item(text: &str) -> Result<&'static str, String> {
    canonical(&STATUSES, text).ok_or_else(|| format!("`{text}` is not a valid task status. Available statuses are {}.", quoted(&STATUSES)))
}

/// Meilisearch's own index uid rule (a filter naming an index Miroir could not hold is fine:
/// it matches nothing).
fn index_uid_item(text: &str) -> Result<String, String> {
    let valid = !text.is_empty() && text.len() <= 400 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(text.to_owned())
    } else {
        Err(format!("`{text}` is not a valid index uid. Index uid can be an integer or a string containing only alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes."))
    }
}

fn quoted(names: &[&str]) -> String {
    names.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
}

#[derive(Clone, Copy)]
enum Bound {
    After,
    Before,
}

/// A date bound; `*` is no bound. A bare day `YYYY-MM-DD` means its midnight (UTC) as an upper
/// bound and the next midnight as a lower bound, so `afterEnqueuedAt=2024-01-01` starts on
/// January 2nd, as in Meilisearch.
fn date(name: &str, value: &str, bound: Bound, code: Code) -> Result<Option<OffsetDateTime>, ResponseError> {
    if value == "*" {
        return Ok(None);
    }
    if let Ok(at) = OffsetDateTime::parse(value, &Rfc3339) {
        return Ok(Some(at));
    }
    let day = Date::parse(value, format_description!("[year repr:full base:calendar]-[month repr:numerical]-[day]"));
    match day {
        Ok(day) => {
            let midnight = day.with_time(Time::MIDNIGHT).assume_utc();
            Ok(Some(match bound {
                Bound::Before => midnight,
                Bound::After => midnight.checked_add(Duration::days(1)).unwrap_or(midnight),
            }))
        }
        Err(_) => Err(ResponseError::new(
            code,
            query_param_unexpected(
                name,
                &format!("`{value}` is an invalid date-time. It should follow the YYYY-MM-DD or RFC 3339 date-time format."),
            ),
        )),
    }
}

/// `GET /tasks/{uid}`'s uid.
pub fn path_task_uid(text: &str) -> Result<u64, ResponseError> {
    text.parse::<u32>().map(u64::from).map_err(|_| {
        ResponseError::new(Code::InvalidTaskUids, format!("Task uid `{text}` is invalid. It should only contain numeric characters."))
    })
}

/// `GET /batches/{uid}`'s uid.
pub fn path_batch_uid(text: &str) -> Result<u64, ResponseError> {
    text.parse::<u32>().map(u64::from).map_err(|_| {
        ResponseError::new(Code::InvalidBatchUids, format!("Batch uid `{text}` is invalid. It should only contain numeric characters."))
    })
}

/// What cancelation or deletion answers without any filter; `action` is `cancel` or `delete`.
pub fn missing_filters(action: &str) -> ResponseError {
    ResponseError::new(
        Code::MissingTaskFilters,
        format!("Query parameters to filter the tasks to {action} are missing. Available query parameters are: `uids`, `indexUids`, `statuses`, `types`, `canceledBy`, `beforeEnqueuedAt`, `afterEnqueuedAt`, `beforeStartedAt`, `afterStartedAt`, `beforeFinishedAt`, `afterFinishedAt`."),
    )
}

#[cfg(test)]
mod tests;
