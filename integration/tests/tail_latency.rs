//! One replica slowed by a delay proxy (real Meilisearch nodes, NATS, 3 nodes at RF 3): searches
//! through a hedging gateway and through an adaptive one answer exactly what the healthy cluster
//! answered (same documents and totals, no hit twice), faster than the slow node, and the
//! gateways count their hedges and replica moves (docs/metrics.md).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use miroir_integration::bench_support::{counter_total, Target, GATEWAY_KEY};
use miroir_integration::brokers::LogKind;
use miroir_integration::cluster::Cluster;
use miroir_integration::nodes::free_port;
use serde_json::{json, Value};

/// What the slowed node's answers are held back by.
const DELAY: Duration = Duration::from_millis(300);

/// The searches compared: everything, and each of the seven tag words.
fn searches() -> Vec<Value> {
    let mut searches = vec![json!({"q": "", "limit": 100})];
    searches.extend((0..7).map(|k| json!({"q": format!("tagword{k}"), "limit": 100})));
    searches
}

/// `(ids sorted, estimatedTotalHits)` of a search answer, asserting no hit came twice.
fn summary(answer: &Value) -> (Vec<u64>, u64) {
    let ids: Vec<u64> = answer["hits"].as_array().expect("hits").iter().map(|hit| hit["id"].as_u64().expect("an id")).collect();
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "a hit came twice: {ids:?}");
    (unique.into_iter().collect(), answer["estimatedTotalHits"].as_u64().expect("a total"))
}

/// Runs every search `rounds` times through `target`, checks each answer against `expected`,
/// and returns the latencies.
async fn search_all(target: &Target, expected: &[(Vec<u64>, u64)], rounds: usize) -> Vec<Duration> {
    let mut latencies = Vec::new();
    for _ in 0..rounds {
        for (search, expected) in searches().iter().zip(expected) {
            let sent = Instant::now();
            let (status, answer) = target.search(search).await.expect("the gateway answers");
            latencies.push(sent.elapsed());
            assert_eq!(status, 200, "{answer}");
            assert_eq!(&summary(&answer), expected, "{search}");
        }
    }
    latencies
}

fn median(mut latencies: Vec<Duration>) -> Duration {
    latencies.sort();
    latencies[latencies.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slowed_replica_is_hedged_or_passed_over_and_answers_stay_whole() {
    // the cluster's gateway hedges every late call and never moves shards
    let cluster = Cluster::builder(LogKind::Nats)
        .nodes(3)
        .shards(3)
        .replication_factor(3)
        .master_key(GATEWAY_KEY)
        .slowed_node(2)
        .env("MIROIR_ADAPTIVE_REPLICAS", false)
        .env("MIROIR_HEDGE_BUDGET_PERCENT", 100)
        .start()
        .await
        .expect("a cluster");
    let hedging = Target::new(cluster.gateway_url(), GATEWAY_KEY, 1).unwrap();
    hedging.create_index().await.unwrap();
    let documents: Vec<Value> = (0..60).map(|id| json!({"id": id, "name": format!("package {id} tagword{}", id % 7)})).collect();
    let uid = hedging
        .enqueue(reqwest::Method::POST, "/indexes/packages/documents", "application/json", Value::from(documents).to_string())
        .await
        .unwrap();
    hedging.wait_succeeded(uid).await.unwrap();

    let mut healthy = Vec::new();
    for search in searches() {
        let (status, answer) = hedging.search(&search).await.unwrap();
        assert_eq!(status, 200, "{answer}");
        healthy.push(summary(&answer));
    }
    assert_eq!(healthy[0].1, 60);
    // what the gateway knows of the healthy nodes' latencies sets when it hedges
    search_all(&hedging, &healthy, 2).await;

    cluster.delay_proxy().set_delay(DELAY);
    let metrics = cluster.gateway_metrics_url().to_owned();
    let sent_before = counter_total(&metrics, "miroir_read_hedges_sent_total").await.unwrap();
    let won_before = counter_total(&metrics, "miroir_read_hedges_won_total").await.unwrap();
    let hedged = search_all(&hedging, &healthy, 2).await;
    let sent = counter_total(&metrics, "miroir_read_hedges_sent_total").await.unwrap() - sent_before;
    let won = counter_total(&metrics, "miroir_read_hedges_won_total").await.unwrap() - won_before;
    assert!(sent >= 1.0 && won >= 1.0, "hedges sent {sent}, won {won}");
    assert!(median(hedged.clone()) < DELAY, "the hedges answered before the slow node: {hedged:?}");

    // a gateway choosing replicas adaptively (no hedges) stops asking the slow node
    let adaptive_metrics = format!("127.0.0.1:{}", free_port().unwrap());
    let env = [
        ("MIROIR_ADAPTIVE_REPLICAS", "true".to_owned()),
        ("MIROIR_HEDGE_BUDGET_PERCENT", "0".to_owned()),
        ("MIROIR_GATEWAY_METRICS_LISTEN", adaptive_metrics.clone()),
    ];
    let (_adaptive_process, adaptive_url) = cluster.start_gateway_with("gateway-adaptive", &env).await.unwrap();
    let adaptive = Target::new(&adaptive_url, GATEWAY_KEY, 1).unwrap();
    // its first searches measure every node, the slow one included
    search_all(&adaptive, &healthy, 1).await;
    let passed_over = search_all(&adaptive, &healthy, 2).await;
    let moves = counter_total(&format!("http://{adaptive_metrics}"), "miroir_read_replica_moves_total").await.unwrap();
    assert!(moves >= 1.0, "replica moves {moves}");
    assert!(median(passed_over.clone()) < DELAY, "the slow node is passed over: {passed_over:?}");
}
