//! `POST /dumps`: a dump of the whole cluster in Meilisearch's own (v6) format, which one
//! Meilisearch node imports with `--import-dump` (`docs/dumps.md`).
//!
//! The task is a task the gateway runs itself (`crate::gateway_task`): its `tasks` record is
//! registered through the log (so every gateway lists it), and the gateway that registered it
//! writes the dump in the background into its `--dump-dir`, then reports the outcome as the
//! pseudo-replica [`DUMP_WRITER`].
//!
//! Consistency: the job first catches up with the logs, so every task this gateway knew
//! finished before the dump started is in it; each index's documents are then read shard by
//! shard, page by page, through the same document read path as `documents/fetch` (one replica
//! per shard, Miroir's fields left out). Writes that land meanwhile may or may not be included
//! — the dump is not a point-in-time snapshot of the cluster.

mod layout;

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use miroir_schemas::details::TaskDetails;
use miroir_schemas::error::{Code, ResponseError};
use miroir_schemas::task_log::{TaskRecord, TaskType};
use miroir_schemas::tasks::summarized_task_view;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::auth::KeysService;
use crate::error::GatewayError;
use crate::gateway_task::{self, run_by, GatewayTask};
use crate::state::AppState;
use crate::whole_index;

/// `--dump-dir`'s default, as Meilisearch's.
pub const DEFAULT_DUMP_DIR: &str = "dumps/";
/// The replica a dump task waits for: the gateway writing the dump.
pub const DUMP_WRITER: &str = "miroir-dump-writer";
/// How long the job waits for this gateway to fold every log before reading.
const CATCH_UP: Duration = Duration::from_secs(10);

/// `POST /dumps`: registers a `dumpCreation` task and starts writing the dump; `202`.
pub async fn create(
    State(state): State<AppState>,
    State(keys): State<KeysService>,
) -> Result<(StatusCode, Json<Map<String, Value>>), GatewayError> {
    let now = OffsetDateTime::now_utc();
    let dump_uid = layout::dump_uid(now);
    let details = TaskDetails::DumpCreation { planned_dump_uid: dump_uid.clone(), dump_uid: None };
    let record = run_by(TaskRecord::new(TaskType::DumpCreation, None, Some(details), now), DUMP_WRITER);
    let task = gateway_task::register(&state, &record, DUMP_WRITER).await?;
    let task_uid = task.task_uid;
    tracing::info!(task_uid, %dump_uid, "dump task enqueued");
    tokio::spawn(run(state, keys, task, dump_uid));
    Ok((StatusCode::ACCEPTED, Json(summarized_task_view(task_uid, &record))))
}

/// Writes the dump, then reports how it ended.
async fn run(state: AppState, keys: KeysService, task: GatewayTask, dump_uid: String) {
    let started_at = OffsetDateTime::now_utc();
    let task_uid = task.task_uid;
    let outcome = match write_dump(&state, &keys, &dump_uid).await {
        Ok(documents) => {
            tracing::info!(task_uid, %dump_uid, documents, "dump written");
            Ok(())
        }
        Err(error) => {
            tracing::error!(task_uid, %dump_uid, %error, "dump failed");
            Err(ResponseError::new(Code::DumpProcessFailed, format!("Dump process failed: {error}.")))
        }
    };
    gateway_task::report(&state, &task, started_at, outcome).await;
}

/// What can stop a dump.
#[derive(Debug, thiserror::Error)]
enum DumpError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("reading the cluster: {0}")]
    Read(String),
}

impl From<GatewayError> for DumpError {
    fn from(error: GatewayError) -> Self {
        DumpError::Read(error.to_string())
    }
}

/// Writes `<dump dir>/<uid>.dump`; returns how many documents it holds. The files are staged
/// in a directory next to it and archived at the end, so a dump file is whole or absent.
async fn write_dump(state: &AppState, keys: &KeysService, dump_uid: &str) -> Result<u64, DumpError> {
    state.catalog().catch_up_everywhere(state.log(), CATCH_UP).await.map_err(|error| DumpError::Read(error.to_string()))?;
    keys.catch_up().await?;
    let dump_dir = state.dump_dir().to_path_buf();
    tokio::fs::create_dir_all(&dump_dir).await?;
    let staging = dump_dir.join(format!(".{dump_uid}.staging"));
    let result = stage(state, keys, &staging).await;
    let archived = match result {
        Ok(documents) => {
            let target = dump_dir.join(format!("{dump_uid}.dump"));
            let staged = staging.clone();
            match tokio::task::spawn_blocking(move || archive(&staged, &target)).await {
                Ok(archived) => archived.map(|()| documents).map_err(DumpError::Io),
                Err(panicked) => Err(DumpError::Io(std::io::Error::other(panicked))),
            }
        }
        Err(error) => Err(error),
    };
    let _ = tokio::fs::remove_dir_all(&staging).await;
    archived
}

/// Writes every file of the dump under `dir`.
async fn stage(state: &AppState, keys: &KeysService, dir: &Path) -> Result<u64, DumpError> {
    let _ = tokio::fs::remove_dir_all(dir).await;
    tokio::fs::create_dir_all(dir.join("tasks")).await?;
    write_json(&dir.join("metadata.json"), &layout::dump_metadata(OffsetDateTime::now_utc()))?;
    std::fs::write(dir.join("instance_uid.uuid"), uuid::Uuid::new_v4().hyphenated().to_string())?;
    // No task history: a node imports an empty queue (docs/dumps.md).
    std::fs::write(dir.join("tasks").join("queue.jsonl"), "")?;
    let key_lines: Vec<Value> = keys.ring().read(|store| store.list().into_iter().map(|key| layout::key_line(&key.record)).collect());
    write_lines(&dir.join("keys.jsonl"), key_lines.iter())?;

    let indexes: Vec<(String, crate::catalog::IndexInfo)> =
        state.catalog().read(|catalog| catalog.indexes().map(|(uid, info)| (uid.clone(), info.clone())).collect());
    let mut documents = 0;
    for (uid, info) in indexes {
        let index_dir = dir.join("indexes").join(&uid);
        tokio::fs::create_dir_all(&index_dir).await?;
        write_json(&index_dir.join("metadata.json"), &layout::index_metadata(&uid, &info))?;
        let settings = crate::routes::settings::read_settings(state, &uid, None).await?;
        write_json(&index_dir.join("settings.json"), &settings)?;
        let vectors = whole_index::has_embedders(&settings);
        documents += dump_documents(state, &uid, vectors, &index_dir.join("documents.jsonl")).await?;
    }
    Ok(documents)
}

/// Writes index `uid`'s documents, one per line, read page by page; returns how many.
async fn dump_documents(state: &AppState, uid: &str, vectors: bool, path: &Path) -> Result<u64, DumpError> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut offset = 0;
    loop {
        let page = whole_index::document_page(state, uid, offset, None, vectors).await.map_err(|error| DumpError::Read(error.message))?;
        for document in &page {
            serde_json::to_writer(&mut out, document).map_err(std::io::Error::other)?;
            out.write_all(b"\n")?;
        }
        offset += page.len();
        if page.len() < whole_index::PAGE {
            out.flush()?;
            return Ok(offset as u64);
        }
    }
}

fn write_json(path: &Path, value: &Value) -> std::io::Result<()> {
    std::fs::write(path, serde_json::to_vec(value).map_err(std::io::Error::other)?)
}

fn write_lines<'v>(path: &Path, lines: impl Iterator<Item = &'v Value>) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for line in lines {
        serde_json::to_writer(&mut out, line).map_err(std::io::Error::other)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Archives `staged` as a gzipped tar at `target` (written aside, then renamed into place).
fn archive(staged: &Path, target: &Path) -> std::io::Result<()> {
    let partial = target.with_extension("dump.partial");
    match write_archive(staged, &partial) {
        Ok(()) => std::fs::rename(&partial, target),
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            Err(error)
        }
    }
}

fn write_archive(staged: &Path, path: &Path) -> std::io::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::default()));
    builder.append_dir_all(".", staged)?;
    builder.into_inner()?.finish()?.sync_all()
}

#[cfg(test)]
mod tests;
