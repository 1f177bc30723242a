//! Index aliases end to end on NATS, with real Meilisearch nodes and two gateways on one log
//! (docs/aliases.md): an alias switched back and forth under concurrent search load through
//! both gateways; every answer comes wholly from the old or wholly from the new index. Then
//! `Miroir-Explain` through the alias (docs/miroir-headers.md) and `miroirctl alias`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use miroir_integration::master_calls::{send, wait_healthy, wait_task};
use miroir_integration::recorded::{http_client, start_cluster, MASTER_KEY};
use miroir_integration::wait::{wait_until, Deadline, Progress};
use serde_json::{json, Value};

/// Documents in each index: different counts, so a total tells the indexes apart too.
const OLD_DOCUMENTS: u64 = 30;
const NEW_DOCUMENTS: u64 = 20;

/// Creates `uid` holding `count` documents tagged `version`.
async fn index_with(client: &reqwest::Client, base: &str, uid: &str, version: &str, count: u64) {
    let documents: Vec<Value> = (0..count).map(|id| json!({"id": id, "version": version, "title": format!("item {id}")})).collect();
    let (status, task) = send(client.post(format!("{base}/indexes/{uid}/documents?primaryKey=id")).json(&documents)).await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(wait_task(client, base, task["taskUid"].as_u64().unwrap()).await["status"], "succeeded");
}

/// Which index an answer came from, if it came wholly from one: every hit's version and the
/// total agree.
fn answered_by(answer: &Value) -> Option<&'static str> {
    let hits = answer["hits"].as_array()?;
    let versions: Vec<&str> = hits.iter().filter_map(|hit| hit["version"].as_str()).collect();
    let total = answer["estimatedTotalHits"].as_u64()?;
    match (total, hits.len() as u64) {
        (OLD_DOCUMENTS, OLD_DOCUMENTS) if versions.iter().all(|version| *version == "old") => Some("old"),
        (NEW_DOCUMENTS, NEW_DOCUMENTS) if versions.iter().all(|version| *version == "new") => Some("new"),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_alias_switch_under_search_load_never_mixes_indexes() {
    let cluster = start_cluster(3, 3, 2).await;
    let (mut second, b) = cluster.spawn_gateway("gateway-b").expect("a second gateway");
    let client = http_client();
    let a = cluster.gateway_url().to_owned();
    wait_healthy(&client, &b).await;
    index_with(&client, &a, "products_old", "old", OLD_DOCUMENTS).await;
    index_with(&client, &a, "products_new", "new", NEW_DOCUMENTS).await;
    let set = |base: &str, index: &str| send(client.put(format!("{base}/_miroir/aliases/products")).json(&json!({"indexes": [index]})));
    assert_eq!(set(&a, "products_old").await.0, 200);

    // Searchers on both gateways, through the alias, until the switches are over.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let searchers: Vec<_> = (0..4)
        .map(|i| {
            let (client, stop, answered) = (client.clone(), stop.clone(), answered.clone());
            let base = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let search = client.post(format!("{base}/indexes/products/search")).json(&json!({"q": "item", "limit": 100}));
                    let (status, answer) = send(search).await;
                    assert_eq!(status, 200, "{answer}");
                    answers.push(answer);
                    answered.fetch_add(1, Ordering::Relaxed);
                }
                answers
            })
        })
        .collect();

    // Switch back and forth through alternating gateways; after each switch the gateway that
    // made it reads the new index at once.
    for round in 0..10 {
        let (base, index, version) = match round % 2 {
            0 => (&a, "products_new", "new"),
            _ => (&b, "products_old", "old"),
        };
        let (status, alias) = set(base, index).await;
        assert_eq!(status, 200, "{alias}");
        let (_, answer) = send(client.post(format!("{base}/indexes/products/search")).json(&json!({"q": "item", "limit": 100}))).await;
        assert_eq!(answered_by(&answer), Some(version), "round {round}: {answer}");
        // Let the searchers answer a few times on this side of the switch.
        let before = answered.load(Ordering::Relaxed);
        wait_until(Deadline::after(Duration::from_secs(30)), "the searchers answer", async || {
            let after = answered.load(Ordering::Relaxed);
            Ok(if after >= before + 8 { Progress::Done(()) } else { Progress::Waiting(format!("{} answers", after - before)) })
        })
        .await
        .unwrap();
    }
    stop.store(true, Ordering::Relaxed);

    let mut counts = [0usize; 2];
    for searcher in searchers {
        for answer in searcher.await.unwrap() {
            match answered_by(&answer) {
                Some("old") => counts[0] += 1,
                Some("new") => counts[1] += 1,
                _ => panic!("an answer mixes the indexes or is partial: {answer}"),
            }
        }
    }
    eprintln!("answers through the alias while it switched 10 times: {} from the old index, {} from the new", counts[0], counts[1]);
    assert!(counts[0] > 0 && counts[1] > 0, "searches saw both indexes: {counts:?}");

    // Miroir-Explain through the alias: the plan names the index it resolved to and sends
    // nothing; a run answers and shows its node calls.
    let explain =
        |mode: &str, body: Value| send(client.post(format!("{a}/indexes/products/search")).header("Miroir-Explain", mode).json(&body));
    let (status, plan) = explain("plan", json!({"q": "item", "filter": "id = 3"})).await;
    assert_eq!(status, 200, "{plan}");
    let plan = &plan["_miroirExplain"];
    assert_eq!((plan["mode"].as_str(), plan["index"].as_str()), (Some("plan"), Some("products_old")), "{plan}");
    assert_eq!(plan["shards"]["asked"].as_array().map(Vec::len), Some(1), "the primary-key filter narrows to one shard: {plan}");
    assert_eq!(plan["nodeRequests"].as_array().map(Vec::len), Some(1), "{plan}");
    let (status, run) = explain("run", json!({"q": "item", "limit": 100})).await;
    assert_eq!((status, answered_by(&run)), (200, Some("old")), "{run}");
    let calls = run["_miroirExplain"]["rounds"][0]["calls"].as_array().cloned().unwrap_or_default();
    assert!(!calls.is_empty() && calls.iter().all(|call| call["outcome"] == "answered"), "{run}");
    let (status, error) = explain("everything", json!({})).await;
    assert_eq!((status, error["code"].as_str()), (400, Some("invalid_explain")));

    // miroirctl alias: set (a switch), list as JSON, delete; then the name is no index's.
    let miroirctl = |args: &[&str]| {
        let output = std::process::Command::new(&cluster.binaries().miroirctl)
            .args(["--url", b.as_str(), "--master-key", MASTER_KEY])
            .args(args)
            .output()
            .expect("running miroirctl");
        assert!(output.status.success(), "miroirctl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let table = miroirctl(&["alias", "set", "products", "products_new"]);
    assert!(table.starts_with("ALIAS") && table.contains("products  products_new"), "{table}");
    let listed: Value = serde_json::from_str(&miroirctl(&["--json", "alias", "list"])).unwrap();
    assert_eq!(listed["results"][0]["indexes"], json!(["products_new"]));
    assert_eq!(miroirctl(&["alias", "delete", "products"]), "alias `products` deleted\n");
    let (status, error) = send(client.get(format!("{a}/indexes/products"))).await;
    assert_eq!((status, error["code"].as_str()), (404, Some("index_not_found")));
    second.check_alive().expect("the second gateway still runs");
}
