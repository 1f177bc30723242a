//! What the differential tests share: the corpus loaded whole into one node and, placed by
//! HRW straight through the node client, into 3-node clusters of several layouts, every node
//! index with the same settings ([`fixture`]); answers from both sides, compared up to ties
//! ([`compare`]); and seeded request generation ([`generate`]).

pub mod compare;
pub mod generate;

use std::time::Duration;

use bytes::Bytes;
use miroir_clients::node::{DocumentsMethod, NodeClient, NodeClientConfig, NodeError, TaskStatus, WriteParams};
use miroir_gateway::read::{ReadConfig, ReadError, ReadExecutor};
use miroir_integration::nodes::{find_meilisearch, MeiliNodes};
use miroir_schemas::node_layout::{node_index_uid, with_shard_rule, ReplicaRank, SHARD_FIELD};
use miroir_schemas::placement::Placement;
use miroir_schemas::topology::{Node, Topology};
use reqwest::Method;
use serde_json::{json, Value};

pub const MASTER_KEY: &str = "differentialMasterKey";
/// The single node's index; the clusters' are renamed to this before comparing.
pub const SINGLE: &str = "deb";

/// The user-provided embedder every index has (`_vectors.vec` on most documents).
pub const EMBEDDER: &str = "vec";

pub fn settings() -> Value {
    json!({
        "filterableAttributes": ["id", "section", "priority", "architecture", "tags", "installed_size_kb", "download_size"],
        "sortableAttributes": ["installed_size_kb", "name", "download_size"],
        "embedders": {EMBEDDER: {"source": "userProvided", "dimensions": 3}},
    })
}

/// A small embedding derived from the document (every 10th document opts out with
/// `_vectors.vec: null`, as a user may; Meilisearch refuses a document of a user-provided
/// embedder that gives no `_vectors` at all).
pub fn with_embedding(position: usize, mut document: Value) -> Value {
    if position % 10 == 9 {
        document["_vectors"] = json!({EMBEDDER: null});
    } else {
        let size = document["installed_size_kb"].as_u64().unwrap_or(0) as f64;
        let download = document["download_size"].as_u64().unwrap_or(0) as f64;
        let name = document["name"].as_str().map_or(0, str::len) as f64;
        let vector = [(size.ln_1p() * 7.0).sin(), (download.ln_1p() * 5.0).cos(), (name * 0.7).sin() + 0.1];
        document["_vectors"] = json!({EMBEDDER: vector});
    }
    document
}

/// `document` without `_vectors`, which a node shows only when asked.
pub fn without_vectors(document: &Value) -> Value {
    let mut document = document.clone();
    document.as_object_mut().unwrap().shift_remove("_vectors");
    document
}

/// The first `count` documents of the corpus, with embeddings.
pub fn corpus(count: usize) -> Vec<Value> {
    let documents = miroir_integration::corpus::corpus_documents(count).expect("reading the corpus");
    documents.into_iter().enumerate().map(|(position, document)| with_embedding(position, Value::Object(document))).collect()
}

pub fn ndjson(documents: &[&Value]) -> Bytes {
    let mut out = String::new();
    for document in documents {
        out.push_str(&document.to_string());
        out.push('\n');
    }
    Bytes::from(out)
}

pub fn client(id: &str, url: &str) -> NodeClient {
    NodeClient::new(NodeClientConfig::new(id, url, Some(MASTER_KEY.into()))).unwrap()
}

/// Creates `index` on `node` with `settings` and the documents; returns the task uids.
pub async fn load(node: &NodeClient, index: &str, settings: &Value, documents: &[&Value]) -> Vec<u64> {
    let params = WriteParams { primary_key: Some("id".into()), custom_metadata: None };
    let mut tasks = vec![node.create_index(index, Some("id")).await.unwrap().task_uid];
    tasks.push(node.update_settings(index, settings).await.unwrap().task_uid);
    for chunk in documents.chunks(1000) {
        tasks.push(node.add_documents_ndjson(index, DocumentsMethod::Replace, ndjson(chunk), &params).await.unwrap().task_uid);
    }
    tasks
}

pub async fn wait_all(node: &NodeClient, tasks: &[u64]) {
    for &task in tasks {
        // Only turns a hang into a failure: a node indexing the corpus while every other node and
        // test shares two cores can take minutes per task.
        let view = node.wait_for_task(task, Duration::from_millis(50), Duration::from_secs(900)).await.unwrap();
        assert_eq!(view.status, TaskStatus::Succeeded, "task {task}: {view:?}");
    }
}

pub fn topology(urls: &[String], shards: u32, rf: u32) -> Topology {
    grouped_topology(urls, shards, rf, 1)
}

/// The nodes of `urls` dealt round-robin into `groups` replica groups (each group holds every
/// shard, `rf` times).
pub fn grouped_topology(urls: &[String], shards: u32, rf: u32, groups: usize) -> Topology {
    let nodes = urls
        .iter()
        .enumerate()
        .map(|(i, url)| Node {
            id: format!("node-{i}"),
            url: url.clone(),
            replica_group: format!("g{}", i % groups),
            api_key: Some(MASTER_KEY.into()),
        })
        .collect();
    Topology::new(1, shards, rf, nodes).unwrap()
}

/// Loads `documents` into the cluster of `urls` as index `index`, placed by `topology` and
/// laid out as the indexer lays them out: on each node, one node index per replica rank
/// holding the shards the node holds at that rank, each document carrying its shard, the
/// filterable rule for the shard field first.
pub async fn load_cluster(clients: &[NodeClient], topology: &Topology, index: &str, documents: &[Value]) {
    let placement = Placement::new(topology.clone());
    let by_shard = placement.partition_by_shard(documents.iter(), |d| d["id"].as_str().unwrap());
    let mut node_settings = settings();
    node_settings["filterableAttributes"] = with_shard_rule(&node_settings["filterableAttributes"]);
    let mut pending: Vec<(usize, Vec<u64>)> = Vec::new();
    for (at, node) in topology.nodes.iter().enumerate() {
        for rank in (0..topology.replication_factor).map(ReplicaRank) {
            let shards = placement.shards_of_node_at(&node.id, rank);
            if shards.is_empty() {
                continue;
            }
            let held: Vec<Value> = shards
                .iter()
                .flat_map(|shard| by_shard.get(shard).into_iter().flatten().map(move |document| (shard, document)))
                .map(|(shard, document)| {
                    let mut document = (*document).clone();
                    document[SHARD_FIELD] = Value::String(shard.field_value());
                    document
                })
                .collect();
            let held: Vec<&Value> = held.iter().collect();
            let tasks = load(&clients[at], &node_index_uid(index, rank), &node_settings, &held).await;
            pending.push((at, tasks));
        }
    }
    for (at, tasks) in pending {
        wait_all(&clients[at], &tasks).await;
    }
}

pub async fn enable_network(node: &NodeClient) {
    node.request_json(Method::PATCH, "/experimental-features", &[], Some(&json!({"network": true}))).await.unwrap();
}

/// Generous time limits: this test is about answers, not speed, and shares two cores with
/// the nodes indexing (a killed node is refused at once, whatever the limits).
pub fn patient() -> ReadConfig {
    ReadConfig { deadline: Duration::from_secs(300), node_timeout: Duration::from_secs(120), ..ReadConfig::default() }
}

/// One cluster layout over the same 3 nodes: its index name, shard count, replication factor
/// and replica groups.
pub struct Layout {
    pub index: &'static str,
    pub shards: u32,
    pub rf: u32,
    pub groups: usize,
}

/// Every layout differential tests compare: S ∈ {1, 7, 12}, RF ∈ {1, 2}, one replica group, and
/// two groups (nodes 0 and 2, node 1) at S = 7.
pub const LAYOUTS: [Layout; 7] = [
    Layout { index: "deb_s1_rf1", shards: 1, rf: 1, groups: 1 },
    Layout { index: "deb_s1_rf2", shards: 1, rf: 2, groups: 1 },
    Layout { index: "deb_s7_rf1", shards: 7, rf: 1, groups: 1 },
    Layout { index: "deb_s7_rf2", shards: 7, rf: 2, groups: 1 },
    Layout { index: "deb_s12_rf1", shards: 12, rf: 1, groups: 1 },
    Layout { index: "deb_s12_rf2", shards: 12, rf: 2, groups: 1 },
    Layout { index: "deb_s7_groups2", shards: 7, rf: 1, groups: 2 },
];

/// The corpus on one node and, in every layout, on a 3-node cluster.
pub struct Fixture {
    pub _nodes: MeiliNodes,
    pub documents: Vec<Value>,
    pub single: NodeClient,
    pub clusters: Vec<(&'static str, ReadExecutor)>,
}

/// The first `documents` corpus documents on one node (index [`SINGLE`]) and on 3 more nodes
/// in each of `layouts`, placed by HRW straight through the node client.
pub async fn fixture(documents: usize, layouts: &[Layout]) -> Fixture {
    let binary = find_meilisearch().expect("the Meilisearch binary");
    let nodes = MeiliNodes::start_temp(&binary, 4, MASTER_KEY).await.unwrap();
    let documents = corpus(documents);
    let single = client("single", &nodes.urls()[0]);
    let cluster_urls = nodes.urls()[1..].to_vec();
    let clients: Vec<NodeClient> = cluster_urls.iter().enumerate().map(|(i, url)| client(&format!("node-{i}"), url)).collect();
    for node in &clients {
        enable_network(node).await;
    }
    let all: Vec<&Value> = documents.iter().collect();
    let single_tasks = load(&single, SINGLE, &settings(), &all).await;
    let mut clusters = Vec::new();
    for layout in layouts {
        let topology = grouped_topology(&cluster_urls, layout.shards, layout.rf, layout.groups);
        load_cluster(&clients, &topology, layout.index, &documents).await;
        clusters.push((layout.index, ReadExecutor::new(topology, patient()).unwrap()));
    }
    wait_all(&single, &single_tasks).await;
    Fixture { _nodes: nodes, documents, single, clusters }
}

/// Gateway warnings (a node failing a read) in the test output; `RUST_LOG` overrides.
pub fn init_logs() {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "miroir_gateway=warn".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

/// `Ok(body)` or `Err((status, error body))`, for either side.
pub type Answer = Result<Value, (u16, Value)>;

pub fn node_answer(result: Result<(u16, Value), NodeError>) -> Answer {
    match result {
        Ok((_, body)) => Ok(body),
        Err(NodeError::Meilisearch { error, .. }) => Err((error.http_status, serde_json::to_value(&error).unwrap())),
        Err(other) => panic!("single node failed: {other}"),
    }
}

pub fn read_answer(result: Result<miroir_gateway::read::ReadAnswer, ReadError>) -> Answer {
    match result {
        Ok(answer) => {
            assert!(answer.missing_shards.is_empty());
            Ok(answer.body)
        }
        Err(error) => {
            let object = error.response_error();
            Err((object.http_status, serde_json::to_value(&object).unwrap()))
        }
    }
}
