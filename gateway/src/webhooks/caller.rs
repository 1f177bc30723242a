//! Calling the cluster's webhooks when tasks finish, as Meilisearch calls its own: a `POST` to
//! every webhook with the finished tasks' views as NDJSON, gzipped, with the webhook's headers.
//!
//! One gateway calls at a time: the one owning the only partition of the `tasks` log in the
//! consumer group `webhook-calls` (the log's own election; another gateway takes over when it
//! stops). It reads task records in order (a record's position is its task uid), delivers each
//! task once this gateway's catalog has it finished (one task per call: a Miroir batch is one
//! task), and commits the delivered prefix ([`Window`]), so a gateway taking over resumes where
//! delivery stood: at least once. A webhook that fails or does not answer within 30 seconds is
//! not called again for that task, as Meilisearch does not retry.

use std::time::Duration;

use miroir_clients::log::{GroupConsumer, LogError, Position, Topic};
use miroir_schemas::meta_log::webhooks::Webhook;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::delivery::{gzip, Window};
use crate::state::AppState;

/// The consumer group whose owner of `tasks` calls the webhooks.
pub const GROUP: &str = miroir_clients::log::WEBHOOK_CALLS_GROUP;
const BATCH: usize = 1000;
/// How often pending tasks are looked at again when no new task arrives.
const WAIT: Duration = Duration::from_millis(200);
const RETRY: Duration = Duration::from_secs(1);
/// Meilisearch's bound on one webhook call.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs for ever: joins the group, delivers while this gateway owns `tasks`, joins again after
/// any failure of the log.
pub async fn run(state: AppState) {
    let member = format!("gateway-{}", Uuid::new_v4());
    let client = reqwest::Client::builder().timeout(CALL_TIMEOUT).build().expect("an HTTP client");
    loop {
        let outcome = match state.log().join_group(Topic::Tasks, GROUP, &member).await {
            Ok(consumer) => deliver(&state, &client, consumer).await,
            Err(error) => Err(error),
        };
        if let Err(error) = outcome {
            tracing::warn!(%error, "webhook delivery paused; joining again");
        }
        tokio::time::sleep(RETRY).await;
    }
}

async fn deliver(state: &AppState, client: &reqwest::Client, mut consumer: Box<dyn GroupConsumer>) -> Result<(), LogError> {
    let mut window = Window::default();
    let mut committed = None;
    loop {
        let records = consumer.poll(BATCH, WAIT).await?;
        if consumer.assignment().is_empty() {
            // Another gateway delivers; if this one owns `tasks` again, it starts from the commit.
            window = Window::default();
            committed = None;
            continue;
        }
        records.iter().for_each(|record| window.read(record.position.offset));
        let (finished, no_task) = finished_tasks(state, &window);
        no_task.into_iter().for_each(|uid| window.delivered(uid));
        if !finished.is_empty() {
            let webhooks = match state.webhooks().all().await {
                Ok(webhooks) => webhooks,
                Err(error) => {
                    // `meta` cannot be read: deliver later rather than to an outdated list.
                    tracing::warn!(%error, "the webhooks are not known; delivery waits");
                    continue;
                }
            };
            for (uid, view) in finished {
                call_all(client, &webhooks, &view).await;
                window.delivered(uid);
            }
        }
        if let Some(upto) = window.committable().filter(|upto| committed < Some(*upto)) {
            consumer.commit(&[Position { partition: 0, offset: upto }]).await?;
            committed = Some(upto);
        }
    }
}

/// A finished task's uid and its view.
type FinishedTask = (u64, Map<String, Value>);

/// Of the pending records this gateway's catalog has folded: the tasks finished now (with their
/// views), and the records that are no task to deliver (a repeated keyed write, or a task
/// deleted since, which only a finished task can be).
fn finished_tasks(state: &AppState, window: &Window) -> (Vec<FinishedTask>, Vec<u64>) {
    state.catalog().read(|catalog| {
        let (mut finished, mut no_task) = (Vec::new(), Vec::new());
        for uid in window.pending().take_while(|&uid| uid < catalog.next_task_uid()) {
            match catalog.task_view(uid) {
                None => no_task.push(uid),
                Some(view) if matches!(view.get("status").and_then(Value::as_str), Some("succeeded" | "failed" | "canceled")) => {
                    finished.push((uid, view))
                }
                Some(_) => {}
            }
        }
        (finished, no_task)
    })
}

/// Posts one finished task to every webhook; failures are logged.
async fn call_all(client: &reqwest::Client, webhooks: &[(Uuid, Webhook)], view: &Map<String, Value>) {
    let mut ndjson = serde_json::to_vec(view).expect("a task view serializes");
    ndjson.push(b'\n');
    let body = gzip(&ndjson);
    for (uuid, webhook) in webhooks {
        let mut request =
            client.post(&webhook.url).header("Content-Encoding", "gzip").header("Content-Type", "application/x-ndjson").body(body.clone());
        for (name, value) in &webhook.headers {
            request = request.header(name, value);
        }
        match request.send().await {
            Ok(response) if !response.status().is_success() => {
                tracing::warn!(webhook = %uuid, status = %response.status(), "a webhook refused a finished task");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(webhook = %uuid, %error, "calling a webhook failed"),
        }
    }
}
