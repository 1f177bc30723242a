//! API keys and tenant tokens hold on every shard, through a real cluster: NATS, 3 Meilisearch
//! nodes, S = 3, RF = 2, gateway + indexer + reconciler processes. Documents of tenants A and
//! B are spread over every shard (checked on the nodes themselves); a tenant token for A signed
//! with a search-only key created through `/keys` sees A's documents and nothing of B's in
//! search, multi-search (plain and federated) and facet-search; an expired token, a key
//! without the action, a key scoped to another index are refused with Meilisearch's errors.
//!
//! Needs the binaries of the same profile: `cargo build --workspace --bins`.

use std::collections::BTreeSet;
use std::time::Duration;

use jsonwebtoken::{encode, EncodingKey, Header};
use miroir_integration::cluster::Cluster;
use miroir_integration::recorded::{http_client, is_finished, start_cluster, MASTER_KEY};
use miroir_integration::wait::{wait_until, Deadline, Progress};
use miroir_schemas::node_layout::{node_index_uid, ReplicaRank, SHARD_FIELD};
use miroir_schemas::topology::ShardId;
use serde_json::{json, Value};

const INDEX: &str = "tenants";
const SHARDS: u32 = 3;
const REPLICATION: u32 = 2;
/// Documents per tenant; ids `0..2*PER_TENANT`, even ids belong to A, odd ids to B.
const PER_TENANT: u64 = 30;
/// Bound on one task reaching a final status: turns a hang into a failure, not a speed claim.
const TASK_BOUND: Duration = Duration::from_secs(120);

fn invalid_api_key(message: &str) -> Value {
    json!({
        "message": message,
        "code": "invalid_api_key",
        "type": "auth",
        "link": "https://docs.meilisearch.com/errors#invalid_api_key"
    })
}

fn tenant_of(id: u64) -> &'static str {
    if id.is_multiple_of(2) {
        "A"
    } else {
        "B"
    }
}

fn documents() -> Vec<Value> {
    (0..2 * PER_TENANT)
        .map(|id| {
            let word = if tenant_of(id) == "A" { "alphaword" } else { "bravoword" };
            json!({"id": id, "tenant": tenant_of(id), "title": format!("{word} item {id}")})
        })
        .collect()
}

fn ids_of(tenant: &str) -> BTreeSet<u64> {
    (0..2 * PER_TENANT).filter(|&id| tenant_of(id) == tenant).collect()
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn call(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method.parse().unwrap(), format!("{}{path}", self.base)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Sends a write with the master key and waits for its task to succeed.
    async fn write_and_wait(&self, method: &str, path: &str, body: Value) {
        let (status, accepted) = self.call(method, path, MASTER_KEY, Some(body)).await;
        assert_eq!(status, 202, "{method} {path}: {accepted}");
        let task = self.finished_task(accepted["taskUid"].as_u64().expect("a task uid")).await;
        assert_eq!(task["status"], "succeeded", "{method} {path}: {task}");
    }

    /// Polls task `uid` until it reaches a final status.
    async fn finished_task(&self, uid: u64) -> Value {
        let deadline = Deadline::after(TASK_BOUND).polling_every(Duration::from_millis(20));
        wait_until(deadline, format!("task {uid} never finished"), async || {
            let (_, task) = self.call("GET", &format!("/tasks/{uid}"), MASTER_KEY, None).await;
            Ok(if is_finished(task["status"].as_str().unwrap_or("")) { Progress::Done(task) } else { Progress::Waiting(task.to_string()) })
        })
        .await
        .unwrap()
    }

    async fn create_key(&self, actions: &[&str], indexes: &[&str]) -> (String, String) {
        let body = json!({"actions": actions, "indexes": indexes, "expiresAt": null});
        let (status, view) = self.call("POST", "/keys", MASTER_KEY, Some(body)).await;
        assert_eq!(status, 201, "{view}");
        (view["key"].as_str().unwrap().to_owned(), view["uid"].as_str().unwrap().to_owned())
    }
}

/// A tenant token for `index` restricted to `filter`, signed with `key`.
fn tenant_token(key: &str, key_uid: &str, filter: &str, exp: i64) -> String {
    let claims = json!({"searchRules": {INDEX: {"filter": filter}}, "apiKeyUid": key_uid, "exp": exp});
    encode(&Header::default(), &claims, &EncodingKey::from_secret(key.as_bytes())).expect("signing a tenant token")
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn hit_ids(hits: &Value) -> BTreeSet<u64> {
    hits.as_array().unwrap_or_else(|| panic!("hits: {hits}")).iter().map(|hit| hit["id"].as_u64().unwrap()).collect()
}

/// How many of `tenant`'s documents each shard holds, read from the nodes themselves (the most
/// any replica of the shard reports): every node index of the index (one per replica rank),
/// narrowed to the shard.
async fn per_shard_counts(cluster: &Cluster, tenant: &str) -> Vec<u64> {
    let http = http_client();
    let mut counts = Vec::new();
    for shard in (0..SHARDS).map(ShardId) {
        let filter = json!([format!("tenant = {tenant}"), format!("{SHARD_FIELD} = \"{}\"", shard.field_value())]);
        let mut most = 0;
        for url in cluster.nodes.urls() {
            let mut on_node = 0;
            for rank in (0..REPLICATION).map(ReplicaRank) {
                let response = http
                    .post(format!("{url}/indexes/{}/search", node_index_uid(INDEX, rank)))
                    .bearer_auth(cluster.node_key())
                    .json(&json!({"filter": filter, "limit": 0}))
                    .send()
                    .await
                    .unwrap();
                if response.status().is_success() {
                    let body: Value = response.json().await.unwrap();
                    on_node += body["estimatedTotalHits"].as_u64().unwrap_or(0);
                }
            }
            most = most.max(on_node);
        }
        counts.push(most);
    }
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn tenant_tokens_and_keys_hold_on_every_shard() {
    let cluster = start_cluster(3, SHARDS, REPLICATION).await;
    let client = Client { http: http_client(), base: cluster.gateway_url().to_owned() };

    client.write_and_wait("POST", "/indexes", json!({"uid": INDEX, "primaryKey": "id"})).await;
    client.write_and_wait("PUT", &format!("/indexes/{INDEX}/settings/filterable-attributes"), json!(["tenant"])).await;
    client.write_and_wait("POST", &format!("/indexes/{INDEX}/documents"), json!(documents())).await;

    // Both tenants really are on every shard, so a filter missing on any shard would show.
    for tenant in ["A", "B"] {
        let counts = per_shard_counts(&cluster, tenant).await;
        assert!(counts.iter().all(|&n| n > 0), "tenant {tenant} is not on every shard: {counts:?}");
        assert_eq!(counts.iter().sum::<u64>(), PER_TENANT, "tenant {tenant} per shard: {counts:?}");
    }

    let (search_key, search_uid) = client.create_key(&["search"], &[INDEX]).await;
    let token = tenant_token(&search_key, &search_uid, "tenant = A", now() + 3600);
    let search = |body: Value, key: String| {
        let client = &client;
        async move { client.call("POST", &format!("/indexes/{INDEX}/search"), &key, Some(body)).await }
    };

    // A term only B's documents hold.
    let (status, found) = search(json!({"q": "bravoword"}), token.clone()).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["hits"], json!([]), "{found}");
    assert_eq!(found["estimatedTotalHits"], 0);
    // …which the key alone does find, so the empty answer is the token's doing.
    let (_, unrestricted) = search(json!({"q": "bravoword", "limit": 100}), search_key.clone()).await;
    assert_eq!(hit_ids(&unrestricted["hits"]), ids_of("B"));

    // Placeholder search: exactly A's documents, from every shard.
    let (status, found) = search(json!({"limit": 1000}), token.clone()).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(hit_ids(&found["hits"]), ids_of("A"));
    assert_eq!(found["estimatedTotalHits"], PER_TENANT);

    // The query's own filter is ANDed with the token's, never replaces it.
    let (status, found) = search(json!({"filter": "tenant = B", "limit": 1000}), token.clone()).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!((found["hits"].clone(), found["estimatedTotalHits"].clone()), (json!([]), json!(0)), "{found}");

    // Multi-search, plain and federated.
    let queries = json!([{"indexUid": INDEX, "limit": 1000}, {"indexUid": INDEX, "q": "bravoword"}]);
    let (status, multi) = client.call("POST", "/multi-search", &token, Some(json!({"queries": queries}))).await;
    assert_eq!(status, 200, "{multi}");
    assert_eq!(hit_ids(&multi["results"][0]["hits"]), ids_of("A"));
    assert_eq!(multi["results"][0]["estimatedTotalHits"], PER_TENANT);
    assert_eq!(multi["results"][1]["hits"], json!([]));
    let federated = json!({"federation": {"limit": 1000}, "queries": [{"indexUid": INDEX}, {"indexUid": INDEX, "q": "bravoword"}]});
    let (status, merged) = client.call("POST", "/multi-search", &token, Some(federated)).await;
    assert_eq!(status, 200, "{merged}");
    assert_eq!(hit_ids(&merged["hits"]), ids_of("A"));
    assert_eq!(merged["estimatedTotalHits"], PER_TENANT);

    // Facet search counts only A.
    let (status, facets) =
        client.call("POST", &format!("/indexes/{INDEX}/facet-search"), &token, Some(json!({"facetName": "tenant"}))).await;
    assert_eq!(status, 200, "{facets}");
    assert_eq!(facets["facetHits"], json!([{"value": "A", "count": PER_TENANT}]));

    // An expired token: Meilisearch's 403 naming the expiry.
    let exp = now() - 60;
    let expired = tenant_token(&search_key, &search_uid, "tenant = A", exp);
    let (status, error) = search(json!({}), expired).await;
    assert_eq!(status, 403, "{error}");
    let message = error["message"].as_str().unwrap_or_default().to_owned();
    let prefix = format!("Tenant token expired. Was valid up to `{exp}` and we're now `");
    assert!(message.starts_with(&prefix) && message.ends_with("`."), "{message}");
    assert_eq!(error, invalid_api_key(&message));

    // The search-only key reaches nothing else.
    let refused = invalid_api_key("The provided API key is invalid.");
    let (status, error) = client.call("POST", &format!("/indexes/{INDEX}/documents"), &search_key, Some(json!([{"id": 999}]))).await;
    assert_eq!((status, error), (403, refused.clone()), "adding documents");
    let (status, error) = client.call("GET", "/keys", &search_key, None).await;
    assert_eq!((status, error), (403, refused.clone()), "listing keys");
    let (status, error) =
        client.call("POST", "/keys", &search_key, Some(json!({"actions": ["*"], "indexes": ["*"], "expiresAt": null}))).await;
    assert_eq!((status, error), (403, refused.clone()), "creating a key");
    let (status, error) = client.call("GET", "/_miroir/topology", &search_key, None).await;
    assert_eq!((status, error), (403, refused.clone()), "Miroir's admin routes");
    // Nor can a token signed with it.
    let (status, error) = client.call("POST", &format!("/indexes/{INDEX}/documents"), &token, Some(json!([{"id": 999}]))).await;
    assert_eq!((status, error), (403, refused.clone()), "adding documents with a tenant token");

    // A key scoped to another index cannot search this one, nor can its tenant tokens.
    let (other_key, other_uid) = client.create_key(&["search"], &["other"]).await;
    let (status, error) = search(json!({}), other_key.clone()).await;
    let not_this_index = invalid_api_key(&format!("The API key cannot acces the index `{INDEX}`, authorized indexes are [\"other\"]."));
    assert_eq!((status, error), (403, not_this_index), "a key for another index");
    let other_token = tenant_token(&other_key, &other_uid, "tenant = A", now() + 3600);
    let (status, error) = search(json!({}), other_token).await;
    let key_not_for_index = invalid_api_key(&format!("The API key used to generate this tenant token cannot acces the index `{INDEX}`."));
    assert_eq!((status, error), (403, key_not_for_index), "a token of a key for another index");
    let (status, error) = client.call("POST", "/multi-search", &other_key, Some(json!({"queries": [{"indexUid": INDEX}]}))).await;
    assert_eq!((status, error), (403, invalid_api_key("Inside `.queries[0]`: The provided API key is invalid.")));

    // A key without `indexes.create` cannot create an index, explicitly (refused at once) or by
    // adding documents to a missing one (accepted, the task fails, nothing is created), as
    // Meilisearch answers; the same key still adds documents to an existing index.
    let (writer, _) = client.create_key(&["documents.add", "indexes.create", "tasks.get"], &[INDEX, "fresh"]).await;
    let (status, error) = client.call("POST", "/indexes", &writer, Some(json!({"uid": "elsewhere"}))).await;
    assert_eq!((status, error), (403, refused.clone()), "creating an index the key does not cover");
    let (no_create, _) = client.create_key(&["documents.add", "tasks.get"], &[INDEX, "fresh"]).await;
    let (status, accepted) = client.call("POST", "/indexes/fresh/documents", &no_create, Some(json!([{"id": 1}]))).await;
    assert_eq!(status, 202, "{accepted}");
    let task = client.finished_task(accepted["taskUid"].as_u64().unwrap()).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(
        task["error"],
        json!({"message": "Index `fresh` not found.", "code": "index_not_found", "type": "invalid_request",
               "link": "https://docs.meilisearch.com/errors#index_not_found"})
    );
    let (status, _) = client.call("GET", "/indexes/fresh", MASTER_KEY, None).await;
    assert_eq!(status, 404, "the failed addition created nothing");
    let (status, accepted) =
        client.call("POST", &format!("/indexes/{INDEX}/documents"), &no_create, Some(json!([{"id": 1000, "tenant": "A"}]))).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(client.finished_task(accepted["taskUid"].as_u64().unwrap()).await["status"], "succeeded");

    // Only the addition just above wrote: the index holds both tenants and that document.
    let (_, all) = search(json!({"limit": 1000}), MASTER_KEY.to_owned()).await;
    assert_eq!(all["estimatedTotalHits"], 2 * PER_TENANT + 1, "{all}");
}
