//! Nothing internal reaches a client or a log: a representative workload (writes that succeed
//! and fail, searches and their errors, facet search, multi-search plain/federated/failing,
//! documents, tasks, batches, stats, keys, metrics, then two of three nodes down) goes through
//! the gateway of a cluster (NATS, 3 Meilisearch nodes, S = 3, RF = 2), and no response body or
//! header, and no line the gateway, indexer or reconciler wrote, may contain the nodes' API key,
//! a node URL or port, a node index name (`<index>__rank-<r>`) or Miroir's shard field.
//!
//! Needs the binaries of the same profile: `cargo build --workspace --bins`.

use std::time::Duration;

use miroir_integration::recorded::{http_client, is_finished, send_recorded, start_cluster, Reply};
use miroir_integration::wait::{wait_until, Deadline, Progress};
use serde_json::{json, Value};

/// Bound on one task reaching a final status: turns a hang into a failure, not a speed claim.
const TASK_BOUND: Duration = Duration::from_secs(120);

/// What must never be shown outside the cluster, each with what it is.
struct Secrets {
    needles: Vec<(String, String)>,
    ports: Vec<u16>,
}

impl Secrets {
    fn new(node_key: &str, node_urls: &[String]) -> Secrets {
        let mut needles = vec![
            (node_key.to_owned(), "the nodes' API key".to_owned()),
            ("__rank-".to_owned(), "a node index name".to_owned()),
            ("_miroir_shard".to_owned(), "Miroir's shard field".to_owned()),
            ("_miroir_until".to_owned(), "Miroir's TTL expiry field".to_owned()),
        ];
        let mut ports = Vec::new();
        for url in node_urls {
            needles.push((url.clone(), format!("node URL {url}")));
            let port = url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("node URLs end with a port");
            ports.push(port);
        }
        Secrets { needles, ports }
    }

    /// What `text` gives away: each secret found, once. A port counts as `host:<port>` (any
    /// host spelling: a name, an IPv4 address, `[…]`) not followed by another digit, so a JSON
    /// number such as `"size":41234` or a clock time does not match.
    fn found_in(&self, text: &str) -> Vec<String> {
        self.found_at(text).into_iter().map(|(what, _)| what).collect()
    }

    /// [`Secrets::found_in`] with the byte offset of each secret's first appearance.
    fn found_at(&self, text: &str) -> Vec<(String, usize)> {
        let mut found: Vec<(String, usize)> =
            self.needles.iter().filter_map(|(needle, what)| text.find(needle.as_str()).map(|at| (what.clone(), at))).collect();
        for port in &self.ports {
            let needle = format!(":{port}");
            let after_host = |at: usize| text[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == ']');
            let ends_there = |at: usize| !text[at + needle.len()..].starts_with(|c: char| c.is_ascii_digit());
            if let Some((at, _)) = text.match_indices(&needle).find(|(at, _)| after_host(*at) && ends_there(*at)) {
                found.push((format!("node port {port}"), at));
            }
        }
        found
    }
}

/// One request of the workload, in the recording's format (see `send_recorded`).
fn request(method: &str, path: &str, body: Option<Value>) -> Value {
    match body {
        None => json!({"method": method, "path": path}),
        Some(body) => json!({"method": method, "path": path, "headers": {"Content-Type": "application/json"}, "body": body}),
    }
}

fn ndjson_request(path: &str, lines: &str) -> Value {
    json!({"method": "POST", "path": path, "headers": {"Content-Type": "application/x-ndjson"}, "body": lines})
}

fn movies() -> Value {
    let genres = ["drama", "comedy", "horror"];
    Value::Array(
        (0..30)
            // Half of them expire in 2100: the index has a TTL field (docs/ttl.md).
            .map(|i| json!({"id": i, "title": format!("movie number {i}"), "genre": genres[i % 3], "year": 1990 + i, "overview": "a film about shards and nodes", "expiresAt": (i % 2 == 0).then_some(4_102_444_800_u64)}))
            .collect(),
    )
}

/// The writes, each expected to become a task.
fn writes() -> Vec<Value> {
    vec![
        request("PUT", "/_miroir/indexes/movies/ttl", Some(json!({"field": "expiresAt"}))),
        request("POST", "/indexes", Some(json!({"uid": "movies", "primaryKey": "id"}))),
        request(
            "PATCH",
            "/indexes/movies/settings",
            Some(json!({"filterableAttributes": ["genre", "year"], "sortableAttributes": ["year"]})),
        ),
        request("POST", "/indexes/movies/documents", Some(movies())),
        ndjson_request(
            "/indexes/movies/documents",
            "{\"id\": 100, \"title\": \"ndjson one\", \"genre\": \"drama\"}\n{\"id\": 101, \"title\": \"ndjson two\"}\n",
        ),
        // failed tasks: a bad id, a missing id, a filter on a non-filterable attribute (a node error)
        request("POST", "/indexes/movies/documents", Some(json!([{"id": "bad id!", "title": "x"}]))),
        request("POST", "/indexes/movies/documents", Some(json!([{"title": "no id"}]))),
        request("POST", "/indexes/movies/documents/delete", Some(json!({"filter": "title = 'x'"}))),
        request("DELETE", "/indexes/movies/documents/3", None),
        request("POST", "/indexes/movies/documents/delete-batch", Some(json!([4, 5]))),
        request("DELETE", "/indexes/missing", None),
        request("PATCH", "/indexes/movies/settings", Some(json!({"rankingRules": ["nonsense"]}))),
    ]
}

/// Reads and failing reads, with both nodes of the cluster up.
fn reads(task_uid: u64) -> Vec<Value> {
    vec![
        request("GET", "/health", None),
        request("GET", "/version", None),
        request("GET", "/indexes", None),
        request("GET", "/indexes/movies", None),
        request("GET", "/indexes/movies/settings", None),
        request("GET", "/indexes/movies/settings/filterable-attributes", None),
        request("POST", "/indexes/movies/search", Some(json!({"q": "movie", "limit": 5}))),
        request(
            "POST",
            "/indexes/movies/search",
            Some(
                json!({"q": "movie", "filter": "genre = drama", "sort": ["year:desc"], "facets": ["genre", "year"], "showRankingScore": true}),
            ),
        ),
        request("POST", "/indexes/movies/search", Some(json!({"q": "", "offset": 20, "limit": 20, "showRankingScoreDetails": true}))),
        request("POST", "/indexes/movies/search", Some(json!({"q": "movie", "filter": "genre = "}))),
        request("POST", "/indexes/movies/search", Some(json!({"q": "movie", "filter": "title = x"}))),
        request("POST", "/indexes/movies/search", Some(json!({"q": "movie", "sort": ["title:asc"]}))),
        request("POST", "/indexes/movies/search", Some(json!({"q": "movie", "facets": ["title"]}))),
        request("POST", "/indexes/movies/search", Some(json!({"q": "", "facets": ["*"], "attributesToHighlight": ["*"]}))),
        request("POST", "/indexes/movies/search", Some(json!({"q": "movie", "filter": "year > 'x' OR"}))),
        request("POST", "/indexes/movies/search", Some(json!({"q": "movie", "notAParam": 1}))),
        request("POST", "/indexes/missing/search", Some(json!({"q": "movie"}))),
        request("POST", "/indexes/movies/facet-search", Some(json!({"facetName": "genre", "facetQuery": "dr"}))),
        request("POST", "/indexes/movies/facet-search", Some(json!({"facetName": "title", "facetQuery": "m"}))),
        request(
            "POST",
            "/multi-search",
            Some(json!({"queries": [{"indexUid": "movies", "q": "movie"}, {"indexUid": "movies", "q": "two"}]})),
        ),
        request(
            "POST",
            "/multi-search",
            Some(
                json!({"federation": {"limit": 5, "facetsByIndex": {"movies": ["genre"]}}, "queries": [{"indexUid": "movies", "q": "movie"}, {"indexUid": "movies", "q": "ndjson"}]}),
            ),
        ),
        request(
            "POST",
            "/multi-search",
            Some(json!({"queries": [{"indexUid": "movies", "q": "movie"}, {"indexUid": "missing", "q": "x"}]})),
        ),
        request("POST", "/multi-search", Some(json!({"queries": [{"indexUid": "movies", "q": "movie", "filter": "title = x"}]}))),
        request(
            "POST",
            "/multi-search",
            Some(json!({"federation": {}, "queries": [{"indexUid": "movies", "q": "movie", "sort": ["title:asc"]}]})),
        ),
        request("GET", "/indexes/movies/documents/1", None),
        request("GET", "/indexes/movies/documents/404", None),
        request("GET", "/indexes/movies/documents?limit=3", None),
        request("POST", "/indexes/movies/documents/fetch", Some(json!({"filter": "genre = comedy", "limit": 3}))),
        request("POST", "/indexes/movies/documents/fetch", Some(json!({"filter": "title = x"}))),
        request("GET", "/indexes/movies/stats", None),
        request("GET", "/stats", None),
        request("GET", "/tasks?limit=50", None),
        request("GET", &format!("/tasks/{task_uid}"), None),
        request("GET", "/tasks?statuses=failed", None),
        request("GET", "/batches?limit=5", None),
        request("GET", "/keys", None),
        request("POST", "/keys", Some(json!({"actions": ["search"], "indexes": ["movies"], "expiresAt": null}))),
        request("GET", "/metrics", None),
    ]
}

/// Reads and a write while two of the three nodes are down, so some shards have no replica.
fn degraded() -> Vec<Value> {
    vec![
        request("POST", "/indexes/movies/search", Some(json!({"q": "movie"}))),
        request("POST", "/multi-search", Some(json!({"federation": {}, "queries": [{"indexUid": "movies", "q": "movie"}]}))),
        request("POST", "/indexes/movies/facet-search", Some(json!({"facetName": "genre"}))),
        request("GET", "/indexes/movies/documents/1", None),
        request("GET", "/indexes/movies/settings", None),
        request("GET", "/indexes/movies/stats", None),
        request("GET", "/stats", None),
        request("POST", "/indexes/movies/documents", Some(json!([{"id": 500, "title": "written while nodes are down"}]))),
        request("GET", "/metrics", None),
    ]
}

/// Waits for task `uid` to be final (a `404` means the gateway has not folded it yet).
async fn wait_task(client: &reqwest::Client, base: &str, uid: u64) -> Reply {
    let read = request("GET", &format!("/tasks/{uid}"), None);
    let deadline = Deadline::after(TASK_BOUND).polling_every(Duration::from_millis(20));
    wait_until(deadline, format!("task {uid} did not finish"), async || {
        let reply = send_recorded(client, base, &read, &format!("/tasks/{uid}")).await;
        let pending = reply.status == 404 || (reply.status == 200 && !reply.body["status"].as_str().is_some_and(is_finished));
        Ok(if pending { Progress::Waiting(reply.body.to_string()) } else { Progress::Done(reply) })
    })
    .await
    .unwrap()
}

/// Every secret a reply shows, as `what: where`.
fn leaks_in_reply(secrets: &Secrets, request: &Value, reply: &Reply) -> Vec<String> {
    let label = format!("{} {} → {}", request["method"].as_str().unwrap_or("?"), request["path"].as_str().unwrap_or("?"), reply.status);
    let body = String::from_utf8_lossy(&reply.raw);
    let mut out: Vec<String> =
        secrets.found_at(&body).into_iter().map(|(what, at)| format!("{label}: body shows {what}: …{}…", around(&body, at))).collect();
    for (name, value) in &reply.headers {
        out.extend(
            secrets.found_in(&format!("{name}: {value}")).into_iter().map(|what| format!("{label}: header `{name}: {value}` shows {what}")),
        );
    }
    out
}

/// Up to 150 bytes either side of byte `at` (widened to character boundaries).
fn around(text: &str, at: usize) -> &str {
    let mut start = at.saturating_sub(150);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + 150).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    &text[start..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_node_key_url_port_or_node_index_reaches_clients_or_logs() {
    let mut cluster = start_cluster(3, 3, 2).await;
    let secrets = Secrets::new(cluster.node_key(), cluster.nodes.urls());
    let client = http_client();
    let base = cluster.gateway_url().to_owned();
    let mut leaks = Vec::new();
    let mut sent = 0;

    let mut uids = Vec::new();
    for write in writes() {
        let reply = send_recorded(&client, &base, &write, write["path"].as_str().unwrap()).await;
        leaks.extend(leaks_in_reply(&secrets, &write, &reply));
        uids.extend(reply.body["taskUid"].as_u64());
        sent += 1;
    }
    assert!(uids.len() >= 8, "the writes should mostly be accepted as tasks; got {} task uids", uids.len());
    for &uid in &uids {
        let reply = wait_task(&client, &base, uid).await;
        leaks.extend(leaks_in_reply(&secrets, &request("GET", &format!("/tasks/{uid}"), None), &reply));
    }
    for read in reads(*uids.last().unwrap()) {
        let reply = send_recorded(&client, &base, &read, read["path"].as_str().unwrap()).await;
        leaks.extend(leaks_in_reply(&secrets, &read, &reply));
        sent += 1;
    }
    // The operations listener too: metrics labels and readiness name no node address.
    for path in ["/metrics", "/ready"] {
        let response = client.get(format!("{}{path}", cluster.gateway_metrics_url())).send().await.unwrap();
        let text = response.text().await.unwrap();
        leaks.extend(secrets.found_in(&text).into_iter().map(|what| format!("operations listener {path} shows {what}")));
        sent += 1;
    }
    // Two of three nodes down: with RF = 2 some shards have no replica left.
    cluster.nodes.kill(0);
    cluster.nodes.kill(1);
    for read in degraded() {
        let reply = send_recorded(&client, &base, &read, read["path"].as_str().unwrap()).await;
        leaks.extend(leaks_in_reply(&secrets, &read, &reply));
        sent += 1;
    }
    // Let the indexer try the dead nodes (what it logs then is checked too), then stop every
    // process so its output is complete.
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.miroir = None; // stops the gateway, indexer and reconciler
                           // Terminal colours off, so the reported lines read as plain text.
    let ansi = regex::Regex::new("\x1b\\[[0-9;]*m").unwrap();
    for process in ["gateway", "indexer", "reconciler"] {
        let output = cluster.process_output(process);
        assert!(!output.is_empty() || process == "reconciler", "{process} wrote nothing: is its output captured?");
        for line in ansi.replace_all(&output, "").lines() {
            leaks.extend(secrets.found_in(line).into_iter().map(|what| format!("{process} log shows {what}: {}", line.trim())));
        }
    }
    eprintln!("{sent} requests checked, {} task reads", uids.len());
    assert!(leaks.is_empty(), "{} leaks (process output in {}):\n{}", leaks.len(), cluster.log_dir().display(), leaks.join("\n"));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn secrets() -> Secrets {
        Secrets::new("node-secret-abc", &["http://127.0.0.1:41234".to_owned(), "http://127.0.0.1:41235".to_owned()])
    }

    #[test]
    fn each_kind_of_secret_is_found() {
        let s = secrets();
        assert_eq!(s.found_in("Index `movies__rank-1` not found"), vec!["a node index name"]);
        assert_eq!(s.found_in("{\"_miroir_shard\": \"·\"}"), vec!["Miroir's shard field"]);
        assert_eq!(s.found_in("{\"_miroir_until\": 1}"), vec!["Miroir's TTL expiry field"]);
        assert_eq!(s.found_in("Bearer node-secret-abc"), vec!["the nodes' API key"]);
        assert_eq!(s.found_in("error sending request for url (http://localhost:41235/search)"), vec!["node port 41235"]);
        assert_eq!(s.found_in("connect to http://127.0.0.1:41234/x failed").len(), 2, "URL and port");
        assert_eq!(s.found_in("[::1]:41234"), vec!["node port 41234"]);
        assert!(s.found_in("\"installed_size_kb\":41234,\"size\":41235 host:412345 12:41:23").is_empty());
    }

    proptest! {
        /// Text made of characters that cannot spell a secret is clean, and stays found wherever
        /// a secret is put into it.
        #[test]
        fn a_secret_is_found_anywhere(prefix in "[a-z {}\"0-9,.]{0,40}", suffix in "[a-z {}\",.]{0,40}", which in 0usize..4) {
            let s = secrets();
            let secret = ["node-secret-abc", "x__rank-0", "127.0.0.1:41234", "localhost:41235"][which];
            let clean = format!("{prefix}{suffix}");
            let dirty = format!("{prefix}{secret}{suffix}");
            prop_assert!(s.found_in(&clean).is_empty());
            prop_assert!(!s.found_in(&dirty).is_empty());
        }
    }
}
