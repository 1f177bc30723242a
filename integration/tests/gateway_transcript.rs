//! The whole cluster answers like one Meilisearch node: every exchange recorded from a real
//! Meilisearch 1.50 (`transcripts-v1.50.jsonl`) is replayed in order through the gateway of a
//! cluster (NATS, 3 Meilisearch nodes, S = 3, RF = 2, gateway + indexer + reconciler processes).
//!
//! Compared: the HTTP status; for errors `message`, `code`, `type` and `link` exactly; for other
//! bodies the shape (same keys recursively, same JSON types) minus the volatile fields the
//! reference README lists; for summarized and finished tasks also `status`, `type` and
//! `indexUid`, and for finished tasks the `error` object and the `details` values. Task uids
//! are the gateway's own: a recorded uid is mapped to the one the gateway returned for the same
//! write. Every difference is reported, not just the first.
//!
//! Needs the binaries of the same profile: `cargo build --workspace --bins`.

use std::collections::HashMap;
use std::time::Duration;

use miroir_integration::recorded::{http_client, is_finished, send_recorded, start_cluster, Reply};
use miroir_integration::wait::{wait_until, Deadline, Progress};
use serde_json::Value;

/// Values that change from run to run (reference README), plus `progressTrace`, whose keys are
/// the real engine's internal step names and timings.
const VOLATILE: &[&str] = &[
    "enqueuedAt",
    "startedAt",
    "finishedAt",
    "duration",
    "processingTimeMs",
    "createdAt",
    "updatedAt",
    "lastUpdate",
    "requestUid",
    "batchUid",
    "databaseSize",
    "usedDatabaseSize",
    "rawDocumentDbSize",
    "avgDocumentSize",
    "key",
    "progressTrace",
];

/// Exchanges sent (so later state matches the recording) but not compared, with the reason.
/// Keep this list as short as the gateway allows: a skipped exchange that matches is reported
/// on stderr so it can be removed.
const SKIPPED: &[(&str, &str)] = &[
    // A client's `Meili-Proxy-Search: true` asks for a proxy target's answer (hits carrying
    // `_federation.weightedScoreValues` and `extra_document`); the gateway merges proxied
    // answers itself but does not give one to a client.
    ("federated search as proxy", "the gateway does not answer as a proxy target (Meili-Proxy-Search from a client)"),
];

/// Bound on one task reaching a final status: turns a hang into a failure, not a speed claim.
const TASK_BOUND: Duration = Duration::from_secs(120);
const POLL_INTERVAL: Duration = Duration::from_millis(20);

const NODES: usize = 3;
const SHARDS: u32 = 3;
const REPLICATION_FACTOR: u32 = 2;

fn transcript() -> Vec<Value> {
    let text = std::fs::read_to_string(miroir_integration::locate::transcript_path()).expect("the recorded transcript is present");
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("a JSON exchange per line")).collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Differences in shape between a recorded and an answered body, as `path: problem`: keys
/// missing or unexpected (recursively, volatile keys aside), JSON types, empty vs non-empty
/// arrays. Values are not compared.
fn shape_diff(path: &str, recorded: &Value, answered: &Value, out: &mut Vec<String>) {
    match (recorded, answered) {
        (Value::Object(r), Value::Object(a)) => {
            for (key, rv) in r.iter().filter(|(k, _)| !VOLATILE.contains(&k.as_str())) {
                match a.get(key) {
                    None => out.push(format!("{path}.{key}: missing")),
                    Some(av) => shape_diff(&format!("{path}.{key}"), rv, av, out),
                }
            }
            for key in a.keys().filter(|k| !r.contains_key(*k) && !VOLATILE.contains(&k.as_str())) {
                out.push(format!("{path}.{key}: unexpected"));
            }
        }
        (Value::Array(r), Value::Array(a)) => {
            if r.is_empty() != a.is_empty() {
                out.push(format!("{path}: {} recorded elements, {} answered", r.len(), a.len()));
            }
            for (i, (rv, av)) in r.iter().zip(a).enumerate() {
                shape_diff(&format!("{path}[{i}]"), rv, av, out);
            }
        }
        (r, a) if kind(r) != kind(a) => out.push(format!("{path}: recorded {} {r}, answered {} {a}", kind(r), kind(a))),
        _ => {}
    }
}

/// Value differences of the named top-level fields.
fn field_diff(recorded: &Value, answered: &Value, fields: &[&str], out: &mut Vec<String>) {
    for field in fields {
        if recorded.get(*field) != answered.get(*field) {
            let show = |v: &Value| v.get(*field).map_or("<absent>".to_owned(), Value::to_string);
            out.push(format!("{field}: answered {}, recorded {}", show(answered), show(recorded)));
        }
    }
}

/// Every difference between a recorded exchange's answer and the gateway's.
fn compare(name: &str, recorded_status: u16, recorded: &Value, reply: &Reply) -> Vec<String> {
    let mut out = Vec::new();
    if reply.status != recorded_status {
        let body = if reply.body.is_null() { String::from_utf8_lossy(&reply.raw).into_owned() } else { reply.body.to_string() };
        out.push(format!("status {} (recorded {recorded_status}): {}", reply.status, truncate(&body)));
        return out;
    }
    if recorded_status >= 400 {
        field_diff(recorded, &reply.body, &["message", "code", "type", "link"], &mut out);
        return out;
    }
    shape_diff("", &without_tie_dependent_keys(recorded, &reply.body), &reply.body, &mut out);
    if !out.is_empty() {
        // The owner needs the answer itself to see why the shape differs.
        out.push(format!("answered body: {}", truncate(&reply.body.to_string())));
    }
    if recorded.get("taskUid").is_some() {
        field_diff(recorded, &reply.body, &["status", "type", "indexUid"], &mut out);
    }
    if name.ends_with("/ finished task") {
        field_diff(recorded, &reply.body, &["status", "type", "indexUid", "error", "details"], &mut out);
    }
    out
}

/// The recorded body, with `_matchesPosition` of each hit that is another document than the
/// answered hit at the same place replaced by the answered one. Hits with equal score vectors
/// may come in another order from a sharded index (ties break by shard, not by the single node's
/// internal ids; see the reference README), and which attributes match depends on the document.
fn without_tie_dependent_keys(recorded: &Value, answered: &Value) -> Value {
    let mut recorded = recorded.clone();
    let (Some(recorded_hits), Some(answered_hits)) = (recorded.get_mut("hits").and_then(Value::as_array_mut), answered["hits"].as_array())
    else {
        return recorded;
    };
    for (r, a) in recorded_hits.iter_mut().zip(answered_hits) {
        let other_document = r.get("id").is_some() && r.get("id") != a.get("id");
        if let (true, Some(r), Some(a)) = (other_document, r.as_object_mut(), a.get("_matchesPosition")) {
            if r.contains_key("_matchesPosition") {
                r.insert("_matchesPosition".into(), a.clone());
            }
        }
    }
    recorded
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(400) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// `path` with every recorded task uid (`/tasks/<uid>`, `uids=<a>,<b>`) replaced by the one the
/// gateway gave the same write; uids never handed out (e.g. `999999`) stay as they are.
fn map_task_uids(path: &str, uids: &HashMap<u64, u64>) -> String {
    let map = |text: &str| match text.parse::<u64>() {
        Ok(uid) => uids.get(&uid).map_or_else(|| text.to_owned(), u64::to_string),
        Err(_) => text.to_owned(),
    };
    let (route, query) = path.split_once('?').map_or((path, None), |(r, q)| (r, Some(q)));
    let route = match route.strip_prefix("/tasks/") {
        Some(uid) => format!("/tasks/{}", map(uid)),
        None => route.to_owned(),
    };
    let Some(query) = query else { return route };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("uids", list)) => format!("uids={}", list.split(',').map(map).collect::<Vec<_>>().join(",")),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{route}?{}", query.join("&"))
}

/// The recorded uid a `… / finished task` exchange reads.
fn recorded_task_uid(path: &str) -> Option<u64> {
    path.strip_prefix("/tasks/")?.parse().ok()
}

/// Reads the task until it is final, as the recording did. A gateway may not have folded a
/// just-acknowledged task yet, so `404` means "not seen yet" until the bound.
/// Past the bound, the last reply is compared as it is (and will differ from the recording).
async fn read_when_finished(client: &reqwest::Client, base: &str, request: &Value, path: &str) -> Reply {
    let mut last = None;
    let deadline = Deadline::after(TASK_BOUND).polling_every(POLL_INTERVAL);
    let finished = wait_until(deadline, "the task did not finish", async || {
        let reply = send_recorded(client, base, request, path).await;
        let pending = match reply.status {
            200 => !reply.body["status"].as_str().is_some_and(is_finished),
            404 => true,
            _ => false,
        };
        Ok(match pending {
            true => {
                last = Some(reply);
                Progress::Waiting(String::new())
            }
            false => Progress::Done(reply),
        })
    })
    .await;
    finished.unwrap_or_else(|_| last.expect("one reply was read"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_answers_every_recorded_exchange_like_one_meilisearch() {
    let cluster = start_cluster(NODES, SHARDS, REPLICATION_FACTOR).await;
    let client = http_client();
    let exchanges = transcript();
    assert!(exchanges.len() >= 100, "the transcript has {} exchanges", exchanges.len());
    let mut uids: HashMap<u64, u64> = HashMap::new();
    let mut failures = Vec::new();
    let mut passed = 0;
    for (i, exchange) in exchanges.iter().enumerate() {
        let name = exchange["name"].as_str().expect("a name");
        let request = &exchange["request"];
        let recorded_path = request["path"].as_str().expect("a path");
        let recorded_status = exchange["status"].as_u64().expect("a status") as u16;
        let recorded = &exchange["response"];
        let skipped = SKIPPED.iter().find(|(skipped, _)| *skipped == name);
        let reply = if name.ends_with("/ finished task") {
            let Some(uid) = recorded_task_uid(recorded_path).filter(|uid| uids.contains_key(uid)) else {
                if skipped.is_none() {
                    failures.push(format!("#{i} {name}: no task to read (the write before it was not answered with a task)"));
                }
                continue;
            };
            let path = format!("/tasks/{}", uids[&uid]);
            read_when_finished(&client, cluster.gateway_url(), request, &path).await
        } else {
            send_recorded(&client, cluster.gateway_url(), request, &map_task_uids(recorded_path, &uids)).await
        };
        if let (Some(recorded_uid), Some(answered_uid)) = (recorded["taskUid"].as_u64(), reply.body["taskUid"].as_u64()) {
            uids.insert(recorded_uid, answered_uid);
        }
        let differences = compare(name, recorded_status, recorded, &reply);
        match skipped {
            Some((_, reason)) if differences.is_empty() => {
                eprintln!("#{i} {name}: skipped ({reason}) but now matches: remove it from SKIPPED");
            }
            Some(_) => {}
            None if differences.is_empty() => passed += 1,
            None => failures.extend(differences.into_iter().map(|d| format!("#{i} {name}: {d}"))),
        }
    }
    eprintln!("{passed} of {} exchanges match, {} skipped", exchanges.len(), SKIPPED.len());
    assert!(
        failures.is_empty(),
        "{} differences from the recorded Meilisearch 1.50 (gateway output in {}):\n{}",
        failures.len(),
        cluster.log_dir().display(),
        failures.join("\n")
    );
}

/// Every skipped exchange exists in the transcript (a renamed exchange must not hide).
#[test]
fn skip_list_names_recorded_exchanges() {
    let names: Vec<String> = transcript().iter().map(|e| e["name"].as_str().unwrap().to_owned()).collect();
    for (skipped, reason) in SKIPPED {
        assert!(names.iter().any(|n| n == skipped), "SKIPPED names `{skipped}` ({reason}), which is not in the transcript");
        assert!(!reason.trim().is_empty(), "`{skipped}` is skipped without a reason");
    }
}

#[test]
fn matched_attributes_of_another_tied_document_are_not_a_difference() {
    let recorded =
        serde_json::json!({"hits": [{"id": "a", "_matchesPosition": {"tags": []}}, {"id": "b", "_matchesPosition": {"tags": []}}]});
    let answered =
        serde_json::json!({"hits": [{"id": "c", "_matchesPosition": {"summary": []}}, {"id": "b", "_matchesPosition": {"summary": []}}]});
    let mut out = Vec::new();
    shape_diff("", &without_tie_dependent_keys(&recorded, &answered), &answered, &mut out);
    // the same document with other matched attributes is still a difference
    assert_eq!(out, vec![".hits[1]._matchesPosition.tags: missing", ".hits[1]._matchesPosition.summary: unexpected"]);
}

#[test]
fn task_uids_in_paths_are_mapped() {
    let uids = HashMap::from([(0, 7), (1, 9), (5, 12)]);
    assert_eq!(map_task_uids("/tasks/5", &uids), "/tasks/12");
    assert_eq!(map_task_uids("/tasks/999999", &uids), "/tasks/999999");
    assert_eq!(map_task_uids("/tasks?uids=0,1&limit=3", &uids), "/tasks?uids=7,9&limit=3");
    assert_eq!(map_task_uids("/tasks?statuses=failed&limit=2", &uids), "/tasks?statuses=failed&limit=2");
    assert_eq!(map_task_uids("/indexes/packages/documents/5", &uids), "/indexes/packages/documents/5");
    assert_eq!(recorded_task_uid("/tasks/17"), Some(17));
    assert_eq!(recorded_task_uid("/tasks?limit=3"), None);
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Map;

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "[a-z]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z]{1,4}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    /// Replaces every leaf by another of the same JSON type.
    fn same_shape_other_values(v: &Value) -> Value {
        match v {
            Value::Bool(b) => Value::Bool(!b),
            Value::Number(n) => Value::from(n.as_i64().unwrap_or(0).wrapping_add(1)),
            Value::String(s) => Value::from(format!("{s}x")),
            Value::Array(a) => Value::Array(a.iter().map(same_shape_other_values).collect()),
            Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), same_shape_other_values(v))).collect()),
            Value::Null => Value::Null,
        }
    }

    proptest! {
        #[test]
        fn same_shape_is_no_difference(v in json()) {
            let mut out = Vec::new();
            shape_diff("", &v, &same_shape_other_values(&v), &mut out);
            prop_assert!(out.is_empty(), "{out:?}");
        }

        #[test]
        fn an_extra_or_missing_key_is_reported(v in json(), key in "[A-Z]{1,4}") {
            let recorded = serde_json::json!({"inner": v});
            let mut extended = recorded.clone();
            let mut inner = Map::new();
            inner.insert(key, Value::from(1));
            inner.insert("was".into(), v);
            extended["inner"] = Value::Object(inner);
            let mut out = Vec::new();
            shape_diff("", &recorded, &extended, &mut out);
            prop_assert!(!out.is_empty());
            out.clear();
            shape_diff("", &extended, &recorded, &mut out);
            prop_assert!(!out.is_empty());
        }

        #[test]
        fn a_changed_type_is_reported(v in json()) {
            let recorded = serde_json::json!({"a": [v.clone()]});
            let changed = serde_json::json!({"a": [if v.is_string() { Value::from(1) } else { Value::from("s") }]});
            let mut out = Vec::new();
            shape_diff("", &recorded, &changed, &mut out);
            prop_assert_eq!(out.len(), 1, "{:?}", out);
        }

        #[test]
        fn volatile_fields_are_ignored(v in json(), w in json()) {
            let mut out = Vec::new();
            shape_diff("", &serde_json::json!({"enqueuedAt": v, "ok": 1}), &serde_json::json!({"enqueuedAt": w, "ok": 2}), &mut out);
            shape_diff("", &serde_json::json!({"ok": 1}), &serde_json::json!({"processingTimeMs": w, "ok": 2}), &mut out);
            prop_assert!(out.is_empty(), "{out:?}");
        }
    }
}
