//! Miroir's consistency headers end to end on NATS, with real Meilisearch nodes and two
//! gateways on one log (docs/miroir-headers.md):
//! * `Miroir-Read-After-Task`: a write through one gateway followed at once by a read through
//!   the other with the write's task uid always sees the write; without the header it may not.
//! * `Miroir-Session`: writes through one gateway, each sending the previous answer's token,
//!   are all seen by reads at once through the other gateway with the last token.
//! * `Idempotency-Key`: concurrent retries of one write through both gateways make one task and
//!   one set of documents.

use miroir_integration::master_calls::{send, wait_healthy, wait_task};
use miroir_integration::recorded::{http_client, start_cluster, MASTER_KEY};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_after_a_task_see_it_and_keyed_retries_make_one_task() {
    let cluster = start_cluster(3, 3, 2).await;
    let (mut second, b) = cluster.spawn_gateway("gateway-b").expect("a second gateway");
    let client = http_client();
    let a = cluster.gateway_url().to_owned();
    wait_healthy(&client, &b).await;

    let (status, created) = send(client.post(format!("{a}/indexes")).json(&json!({"uid": "books", "primaryKey": "id"}))).await;
    assert_eq!(status, 202, "{created}");
    wait_task(&client, &a, created["taskUid"].as_u64().unwrap()).await;

    // Read-your-writes across gateways: each write through A is read at once through B.
    let (mut seen_without_header, rounds) = (0, 20);
    for round in 0..rounds {
        let word = format!("marker{round}x");
        let document = json!([{"id": round, "title": word}]);
        let (status, task) = send(client.post(format!("{a}/indexes/books/documents")).json(&document)).await;
        assert_eq!(status, 202, "{task}");
        let uid = task["taskUid"].to_string();
        let (_, plain) = send(client.get(format!("{b}/indexes/books/documents/{round}"))).await;
        seen_without_header += usize::from(plain["id"] == round);
        let after = |request: reqwest::RequestBuilder| request.header("Miroir-Read-After-Task", uid.clone());
        let (status, hits) = send(after(client.post(format!("{b}/indexes/books/search")).json(&json!({"q": word})))).await;
        assert_eq!(status, 200, "{hits}");
        let found = hits["hits"].as_array().is_some_and(|hits| hits.iter().any(|hit| hit["id"] == round));
        assert!(found, "round {round}: the search sees the write: {hits}");
        let (status, document) = send(after(client.get(format!("{b}/indexes/books/documents/{round}")))).await;
        assert_eq!((status, document["title"].as_str()), (200, Some(word.as_str())));
    }
    eprintln!("without the header, {seen_without_header} of {rounds} immediate reads saw the write");
    assert!(seen_without_header < rounds, "without the header some read ran before the write was applied");

    // Sessions: writes through A, each sending the token the previous answer gave, then reads
    // at once through B with the last token: every write of the session is seen.
    let mut token = String::new();
    let session_rounds = 5;
    for round in 0..session_rounds {
        let document = json!([{"id": round, "title": format!("session{round}x")}]);
        let mut write = client.post(format!("{a}/indexes/notes/documents")).json(&document).bearer_auth(MASTER_KEY);
        if !token.is_empty() {
            write = write.header("Miroir-Session", &token);
        }
        let response = write.send().await.expect("the gateway answers");
        assert_eq!(response.status().as_u16(), 202);
        token = response.headers()["Miroir-Session"].to_str().unwrap().to_owned();
    }
    for round in 0..session_rounds {
        let search = client.post(format!("{b}/indexes/notes/search")).header("Miroir-Session", &token);
        let (status, hits) = send(search.json(&json!({"q": format!("session{round}x")}))).await;
        assert_eq!(status, 200, "{hits}");
        assert!(
            hits["hits"].as_array().is_some_and(|hits| hits.iter().any(|hit| hit["id"] == round)),
            "session write {round} seen: {hits}"
        );
    }

    // Idempotency: 10 concurrent retries of one write, alternating gateways.
    let batch: Value = (100..150).map(|id| json!({"id": id, "title": "batch"})).collect();
    let retries = (0..10).map(|i| {
        let base = if i % 2 == 0 { a.clone() } else { b.clone() };
        let request = client.post(format!("{base}/indexes/books/documents")).header("Idempotency-Key", "batch-1").json(&batch);
        send(request)
    });
    let answers = futures::future::join_all(retries).await;
    assert!(answers.iter().all(|answer| answer == &answers[0] && answer.0 == 202), "{answers:?}");
    let uid = answers[0].1["taskUid"].as_u64().unwrap();
    assert_eq!(wait_task(&client, &a, uid).await["details"]["indexedDocuments"], 50);
    let (_, tasks) = send(client.get(format!("{b}/tasks?indexUids=books&types=documentAdditionOrUpdate&limit=1000"))).await;
    assert_eq!(tasks["total"], rounds + 1, "one task for the retried write: {tasks}");
    let (_, stats) = send(client.get(format!("{b}/indexes/books/stats"))).await;
    assert_eq!(stats["numberOfDocuments"], rounds + 50, "{stats}");
    second.check_alive().expect("the second gateway still runs");
}
