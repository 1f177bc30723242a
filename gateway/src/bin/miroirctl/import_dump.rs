//! `miroirctl import-dump <file>`: loads one Meilisearch node's dump (v6, `.dump`) into the
//! cluster through a gateway's ordinary API, so every document is routed to its shard through
//! the log as any write is (docs/dumps.md). The file is read twice, as a stream (never
//! unpacked, never whole in memory): first the small files (dump metadata, keys, each index's
//! metadata and settings), then each index's `documents.jsonl`, sent in NDJSON batches while
//! it is read.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};

/// Bytes of NDJSON per documents request (well under a gateway's default payload limit).
const BATCH_BYTES: usize = 4 * 1024 * 1024;
/// How long one task may take before the import gives up waiting.
const TASK_WAIT: Duration = Duration::from_secs(600);

/// What one index of the dump holds besides its documents.
#[derive(Default)]
struct IndexFiles {
    metadata: Option<Value>,
    settings: Option<Value>,
}

/// The small files of a dump.
#[derive(Default)]
struct SmallFiles {
    metadata: Option<Value>,
    keys: Vec<Value>,
    indexes: BTreeMap<String, IndexFiles>,
}

pub async fn run(url: &str, master_key: Option<&str>, file: &Path) -> anyhow::Result<()> {
    let gateway =
        Gateway { client: reqwest::Client::new(), url: url.trim_end_matches('/').to_owned(), master_key: master_key.map(str::to_owned) };
    let path = file.to_owned();
    let small = tokio::task::spawn_blocking(move || small_files(&path)).await??;
    let version = small.metadata.as_ref().and_then(|m| m["dumpVersion"].as_str()).unwrap_or_default().to_owned();
    if version != "V6" {
        bail!("{}: a dump of version `{version}`; only Meilisearch's v6 dumps (1.x) are imported", file.display());
    }
    for (uid, files) in &small.indexes {
        let primary_key = files.metadata.as_ref().map_or(Value::Null, |m| m["primaryKey"].clone());
        gateway.task(reqwest::Method::POST, "/indexes", json!({"uid": uid, "primaryKey": primary_key})).await?;
        if let Some(Value::Object(settings)) = &files.settings {
            // Only what differs from a new index's settings. A setting a new index does not
            // show belongs to an experimental feature the cluster has not enabled (`chat`,
            // `foreignKeys`): a node's dump always carries it and a node's import takes it, but
            // the API refuses it, so it is left out and named.
            let (status, defaults) = gateway.send(gateway.client.get(format!("{}/indexes/{uid}/settings", gateway.url))).await?;
            if status != 200 {
                bail!("the settings of the new index `{uid}`: {status} {defaults}");
            }
            let (shown, hidden): (Vec<_>, Vec<_>) = settings.iter().partition(|(name, _)| defaults.get(name.as_str()).is_some());
            if !hidden.is_empty() {
                let names: Vec<&str> = hidden.iter().map(|(name, _)| name.as_str()).collect();
                eprintln!("index `{uid}`: settings of features the cluster has not enabled are left out: {}", names.join(", "));
            }
            let changed: serde_json::Map<String, Value> = shown
                .into_iter()
                .filter(|(name, value)| defaults.get(name.as_str()) != Some(*value))
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect();
            if !changed.is_empty() {
                gateway.task(reqwest::Method::PATCH, &format!("/indexes/{uid}/settings"), Value::Object(changed)).await?;
            }
        }
        eprintln!("index `{uid}`: created with its settings");
    }
    for key in &small.keys {
        gateway.create_key(key).await?;
    }
    eprintln!("{} API keys imported", small.keys.len());

    let (sender, mut batches) = tokio::sync::mpsc::channel::<(String, String)>(1);
    let path = file.to_owned();
    let reader = tokio::task::spawn_blocking(move || {
        document_batches(&path, &mut |uid, body| sender.blocking_send((uid, body)).map_err(|_| anyhow!("the import stopped")))
    });
    let mut sent = Vec::new();
    while let Some((uid, body)) = batches.recv().await {
        sent.push(gateway.documents(&uid, body).await?);
    }
    reader.await??;
    for task in &sent {
        gateway.wait_succeeded(*task).await?;
    }
    eprintln!("{} document batches imported", sent.len());
    Ok(())
}

/// Calls every entry of the dump with its path inside the archive, in archive order.
fn for_each_entry(file: &Path, mut visit: impl FnMut(&str, &mut dyn Read) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let opened = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(opened));
    for entry in archive.entries().context("reading the dump as a gzipped tar")? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().trim_start_matches("./").to_owned();
        visit(&path, &mut entry)?;
    }
    Ok(())
}

/// `indexes/<uid>/<name>` → `uid`.
fn index_file(path: &str, name: &str) -> Option<String> {
    let uid = path.strip_prefix("indexes/")?.strip_suffix(name)?.strip_suffix('/')?;
    (!uid.is_empty() && !uid.contains('/')).then(|| uid.to_owned())
}

fn small_files(file: &Path) -> anyhow::Result<SmallFiles> {
    let mut small = SmallFiles::default();
    for_each_entry(file, |path, entry| {
        let json = |entry: &mut dyn Read| -> anyhow::Result<Value> { serde_json::from_reader(entry).with_context(|| path.to_owned()) };
        if path == "metadata.json" {
            small.metadata = Some(json(entry)?);
        } else if path == "keys.jsonl" {
            for line in BufReader::new(entry).lines() {
                let line = line?;
                if !line.trim().is_empty() {
                    small.keys.push(serde_json::from_str(&line).context("keys.jsonl")?);
                }
            }
        } else if let Some(uid) = index_file(path, "metadata.json") {
            small.indexes.entry(uid).or_default().metadata = Some(json(entry)?);
        } else if let Some(uid) = index_file(path, "settings.json") {
            small.indexes.entry(uid).or_default().settings = Some(json(entry)?);
        }
        Ok(())
    })?;
    Ok(small)
}

/// Reads every `documents.jsonl` and hands out NDJSON batches of at most about
/// [`BATCH_BYTES`], with their index.
fn document_batches(file: &Path, send: &mut dyn FnMut(String, String) -> anyhow::Result<()>) -> anyhow::Result<()> {
    for_each_entry(file, |path, entry| {
        let Some(uid) = index_file(path, "documents.jsonl") else { return Ok(()) };
        let mut batch = String::new();
        for line in BufReader::new(entry).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            batch.push_str(&line);
            batch.push('\n');
            if batch.len() >= BATCH_BYTES {
                send(uid.clone(), std::mem::take(&mut batch))?;
            }
        }
        if !batch.is_empty() {
            send(uid, batch)?;
        }
        Ok(())
    })
}

/// The gateway, called with the master key.
struct Gateway {
    client: reqwest::Client,
    url: String,
    master_key: Option<String>,
}

impl Gateway {
    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<(u16, Value)> {
        let request = match &self.master_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        };
        let response = request.send().await.with_context(|| format!("cannot reach the gateway at {}", self.url))?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Registers a task and waits until it succeeded.
    async fn task(&self, method: reqwest::Method, path: &str, body: Value) -> anyhow::Result<()> {
        let (status, answer) = self.send(self.client.request(method, format!("{}{path}", self.url)).json(&body)).await?;
        let Some(task) = answer["taskUid"].as_u64().filter(|_| status == 202) else { bail!("{path}: {status} {answer}") };
        self.wait_succeeded(task).await
    }

    async fn documents(&self, uid: &str, body: String) -> anyhow::Result<u64> {
        let request = self
            .client
            .post(format!("{}/indexes/{uid}/documents", self.url))
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
            .body(body);
        let (status, answer) = self.send(request).await?;
        answer["taskUid"].as_u64().filter(|_| status == 202).ok_or_else(|| anyhow!("documents of `{uid}`: {status} {answer}"))
    }

    /// `POST /keys` with the dumped key's uid (a node's key keeps its value when the cluster
    /// has the node's master key); a key already there is left as it is.
    async fn create_key(&self, key: &Value) -> anyhow::Result<()> {
        let body = json!({
            "uid": key["uid"], "name": key["name"], "description": key["description"],
            "actions": key["actions"], "indexes": key["indexes"], "expiresAt": key["expires_at"],
        });
        let (status, answer) = self.send(self.client.post(format!("{}/keys", self.url)).json(&body)).await?;
        match (status, answer["code"].as_str()) {
            (201, _) | (_, Some("api_key_already_exists")) => Ok(()),
            _ => bail!("key {}: {status} {answer}", key["uid"]),
        }
    }

    async fn wait_succeeded(&self, task: u64) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + TASK_WAIT;
        loop {
            let (_, view) = self.send(self.client.get(format!("{}/tasks/{task}", self.url))).await?;
            match view["status"].as_str() {
                Some("succeeded") => return Ok(()),
                Some("failed" | "canceled") => bail!("task {task} did not succeed: {view}"),
                _ if tokio::time::Instant::now() > deadline => bail!("task {task} not finished after {TASK_WAIT:?}: {view}"),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_files_are_found_by_their_path() {
        assert_eq!(index_file("indexes/movies/documents.jsonl", "documents.jsonl"), Some("movies".into()));
        assert_eq!(index_file("indexes/movies/settings.json", "documents.jsonl"), None);
        assert_eq!(index_file("indexes//documents.jsonl", "documents.jsonl"), None);
        assert_eq!(index_file("tasks/queue.jsonl", "documents.jsonl"), None);
    }
}
