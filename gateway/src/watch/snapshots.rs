//! Snapshots of the catalog at start-up and while running (design:
//! `docs/design-state-snapshots.md`): a gateway starts from the newest stored snapshot that
//! verifies and still fits the log, folding only what came after it, and falls back to an older
//! one or to the whole history, saying why; while running it writes a snapshot when it has
//! folded `--snapshot-every-tasks` records past the newest stored one, or anything at all when
//! no gateway stored one for a whole `--snapshot-interval-ms`.

use std::io::{Seek, SeekFrom};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use miroir_clients::cluster_config::LogArgs;
use miroir_clients::log::{LogError, Topic, WriteLog};
use miroir_clients::snapshots::{newest_first, open_snapshot_store, prune, SnapshotName, SnapshotStore};
use tokio::io::AsyncReadExt;
use tokio::task::JoinHandle;
use tokio_util::io::SyncIoBridge;

use super::CatalogHandle;
use crate::auth::{KeysService, KeysSnapshot};
use crate::catalog::{Catalog, ReadSnapshot, SnapshotCovers, SnapshotError, SnapshotHeader};

/// Hex digits of the body's SHA-256 a snapshot's name carries.
const NAME_DIGEST_CHARS: usize = 16;

/// When snapshots are written and how many are kept.
#[derive(Debug, Clone, Args)]
pub struct SnapshotArgs {
    /// Write a snapshot of the folded catalog once this many `tasks` records are folded past the
    /// newest stored one (0: this gateway writes none). On NATS and Kafka; a gateway on the
    /// in-memory log keeps none.
    #[arg(long, env = "MIROIR_SNAPSHOT_EVERY_TASKS", default_value_t = 100_000)]
    pub snapshot_every_tasks: u64,

    /// How often (ms) the gateway looks at the stored snapshots to decide whether to write one;
    /// it also writes one when it folded anything past the newest and no gateway stored a newer
    /// one during a whole interval.
    #[arg(long, env = "MIROIR_SNAPSHOT_INTERVAL_MS", default_value_t = 300_000)]
    pub snapshot_interval_ms: u64,

    /// Snapshots kept: the newest ones (older ones are deleted by the gateway that writes).
    #[arg(long, env = "MIROIR_SNAPSHOTS_KEPT", default_value_t = 3)]
    pub snapshots_kept: usize,

    /// Start by folding the whole history even when snapshots exist.
    #[arg(long, env = "MIROIR_IGNORE_SNAPSHOTS")]
    pub ignore_snapshots: bool,
}

impl Default for SnapshotArgs {
    fn default() -> Self {
        SnapshotArgs { snapshot_every_tasks: 100_000, snapshot_interval_ms: 300_000, snapshots_kept: 3, ignore_snapshots: false }
    }
}

/// The name a snapshot is stored under: the positions its header says it covers and a prefix
/// of its body's digest.
pub fn name_of(snapshot: &[u8]) -> Result<SnapshotName, SnapshotError> {
    name_of_header(&SnapshotHeader::read(snapshot)?.0)
}

/// [`name_of`] a snapshot whose header is `header`.
fn name_of_header(header: &SnapshotHeader) -> Result<SnapshotName, SnapshotError> {
    let SnapshotCovers { tasks, meta, task_events } = &header.covers;
    let digest = header.sha256.get(..NAME_DIGEST_CHARS).unwrap_or(&header.sha256);
    SnapshotName::new(*tasks, task_events.values().sum(), *meta, digest).map_err(|error| SnapshotError::NotASnapshot(error.to_string()))
}

/// Why a stored snapshot was not used.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("it is gone (deleted meanwhile)")]
    Missing,
    #[error("it cannot be read: {0}")]
    Unreadable(LogError),
    #[error(transparent)]
    Invalid(#[from] SnapshotError),
    #[error("its header covers other positions than its name says ({0})")]
    Mislabeled(SnapshotName),
    #[error("it covers {topic} up to {covered}, past the log's end {end} (a log that was reset?)")]
    BeyondTheLog { topic: &'static str, covered: u64, end: u64 },
    #[error("it covers {topic} up to {covered}, but the log was trimmed to {first_kept}: what lies between is gone")]
    BeforeTheLog { topic: &'static str, covered: u64, first_kept: u64 },
    #[error("the log's end cannot be read to check it: {0}")]
    LogUnavailable(LogError),
}

/// A snapshot loaded: its name, the catalog and the key set it holds (when it holds one).
pub struct Loaded {
    pub name: SnapshotName,
    pub catalog: Catalog,
    pub keys: Option<KeysSnapshot>,
}

/// Loads the newest stored snapshot that verifies and fits the log, logging why each newer one
/// was refused; `None` (logged) when there is none: fold the whole history.
pub async fn load_newest(store: &dyn SnapshotStore, log: &dyn WriteLog, task_limit: u64) -> Option<Loaded> {
    let names = match store.list().await {
        Ok(names) => newest_first(&names.iter().map(ToString::to_string).collect::<Vec<_>>()),
        Err(error) => {
            tracing::warn!(%error, "cannot list snapshots; folding the whole history");
            return None;
        }
    };
    for name in names {
        match load(store, log, &name, task_limit).await {
            Ok((catalog, keys)) => {
                tracing::info!(snapshot = %name, from_task = name.tasks, "starting from a snapshot; folding what came after it");
                return Some(Loaded { name, catalog, keys });
            }
            Err(reason) => tracing::warn!(snapshot = %name, %reason, "snapshot {name} refused: {reason}; trying an older one"),
        }
    }
    tracing::info!("no usable snapshot; folding the whole history");
    None
}

async fn load(
    store: &dyn SnapshotStore,
    log: &dyn WriteLog,
    name: &SnapshotName,
    task_limit: u64,
) -> Result<(Catalog, Option<KeysSnapshot>), Refusal> {
    let reader = store.open(name).await.map_err(Refusal::Unreadable)?.ok_or(Refusal::Missing)?;
    // Decoded as it arrives (the snapshot is never held whole), off the async workers (a large
    // catalog takes a while), on a thread that ends with the decode: the allocator keeps what
    // an idle pooled thread freed resident, and gives it back when the thread ends.
    let reader = SyncIoBridge::new(reader);
    let (decoded, decoding) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("snapshot-decode".into())
        .spawn(move || decoded.send(Catalog::read_snapshot(reader, task_limit)))
        .map_err(|error| Refusal::Unreadable(LogError::Broker(format!("cannot start the snapshot decoding: {error}"))))?;
    let ReadSnapshot { header, catalog, keys } =
        decoding.await.map_err(|_| Refusal::Unreadable(LogError::Broker("the snapshot decoding stopped".into())))??;
    let labeled = name_of_header(&header)?;
    if labeled != *name {
        return Err(Refusal::Mislabeled(labeled));
    }
    let covers = catalog.covers();
    let mut checks = vec![(Topic::Tasks, 0, covers.tasks), (Topic::Meta, 0, covers.meta)];
    checks.extend(keys.as_ref().map(|keys| (Topic::Meta, 0, keys.meta)));
    checks.extend(covers.task_events.iter().map(|(&partition, &next)| (Topic::TaskEvents, partition, next)));
    for (topic, partition, covered) in checks {
        let end = log.end_offset(topic, partition).await.map_err(Refusal::LogUnavailable)?;
        if covered > end {
            return Err(Refusal::BeyondTheLog { topic: topic.name(), covered, end });
        }
        let first_kept = log.first_offset(topic, partition).await.map_err(Refusal::LogUnavailable)?;
        if covered < first_kept {
            return Err(Refusal::BeforeTheLog { topic: topic.name(), covered, first_kept });
        }
    }
    Ok((catalog, keys))
}

/// The snapshot store a running gateway writes to, and where it started from.
pub struct Snapshots {
    store: Arc<dyn SnapshotStore>,
    started_from: Option<SnapshotName>,
    /// The key set of the snapshot started from, until the keys service takes it.
    keys: Option<KeysSnapshot>,
    args: SnapshotArgs,
}

impl SnapshotArgs {
    /// At start, before the watchers: opens the log backend's snapshot store and restores the
    /// catalog from the newest usable snapshot (unless `--ignore-snapshots`). `None` when the
    /// backend keeps no snapshots (memory) or its store cannot be opened: the gateway
    /// folds the whole history and writes none (logged).
    pub async fn restore(&self, log_args: &LogArgs, log: &dyn WriteLog, handle: &CatalogHandle, task_limit: u64) -> Option<Snapshots> {
        let store = match open_snapshot_store(log_args, &log_args.log_config()).await {
            Ok(Some(store)) => store,
            Ok(None) => {
                tracing::info!(backend = ?log_args.log_backend, "no snapshot store on this log backend; folding the whole history");
                return None;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot open the snapshot store; folding the whole history and writing no snapshot");
                return None;
            }
        };
        let (started_from, keys) = if self.ignore_snapshots {
            tracing::info!("--ignore-snapshots: folding the whole history");
            (None, None)
        } else {
            restore_newest(store.as_ref(), log, handle, task_limit).await.unzip()
        };
        Some(Snapshots { store, started_from, keys: keys.flatten(), args: self.clone() })
    }
}

impl Snapshots {
    /// The key set of the snapshot the gateway started from (for [`KeysService::start_from`]).
    pub fn take_keys(&mut self) -> Option<KeysSnapshot> {
        self.keys.take()
    }

    /// Starts writing snapshots of `handle`'s catalog and of `keys`' key set (after the
    /// watchers started).
    pub fn spawn_writer(self, handle: Arc<CatalogHandle>, keys: Option<KeysService>) -> JoinHandle<()> {
        spawn_writer(self.store, handle, self.args, self.started_from, keys)
    }
}

/// Restores `handle` from the newest usable snapshot (before the watchers start); returns its
/// name, or `None` when the catalog starts empty and folds everything.
pub async fn start_from_newest(
    store: &dyn SnapshotStore,
    log: &dyn WriteLog,
    handle: &CatalogHandle,
    task_limit: u64,
) -> Option<SnapshotName> {
    restore_newest(store, log, handle, task_limit).await.map(|(name, _)| name)
}

/// [`start_from_newest`], also returning the key set the snapshot holds (for the keys service).
pub async fn restore_newest(
    store: &dyn SnapshotStore,
    log: &dyn WriteLog,
    handle: &CatalogHandle,
    task_limit: u64,
) -> Option<(SnapshotName, Option<KeysSnapshot>)> {
    let Loaded { name, catalog, keys } = load_newest(store, log, task_limit).await?;
    handle.restore(catalog);
    Some((name, keys))
}

/// (`tasks`, summed `task-events`, `meta`) positions, as a snapshot name carries them.
type Positions = (u64, u64, u64);

fn positions_of(name: &SnapshotName) -> Positions {
    (name.tasks, name.task_events, name.meta)
}

/// Whether a gateway that folded up to `own` writes a snapshot now, the newest stored covering
/// `newest`: it must be ahead of it (never behind on any log), and either `every_tasks` records
/// ahead on `tasks` or the newest stored one has not changed for a whole interval.
fn is_due(own: Positions, newest: Option<Positions>, unchanged_for_an_interval: bool, every_tasks: u64) -> bool {
    let newest = newest.unwrap_or_default();
    let ahead = own != newest && own.0 >= newest.0 && own.1 >= newest.1 && own.2 >= newest.2;
    every_tasks > 0 && ahead && (own.0 >= newest.0.saturating_add(every_tasks) || unchanged_for_an_interval)
}

/// Writes snapshots of `handle`'s catalog (with `keys`' key set, when given) as [`SnapshotArgs`]
/// says, until aborted. `started_from` is the snapshot the gateway started from (the newest
/// stored one it has seen).
pub fn spawn_writer(
    store: Arc<dyn SnapshotStore>,
    handle: Arc<CatalogHandle>,
    args: SnapshotArgs,
    started_from: Option<SnapshotName>,
    keys: Option<KeysService>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_seen = started_from;
        loop {
            tokio::time::sleep(Duration::from_millis(args.snapshot_interval_ms)).await;
            match write_if_due(store.as_ref(), &handle, keys.as_ref(), &args, &mut last_seen).await {
                Ok(Some(name)) => tracing::info!(snapshot = %name, "wrote a snapshot of the catalog"),
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "cannot write a snapshot of the catalog; trying again later"),
            }
        }
    })
}

/// One look at the store: writes a snapshot when due; returns its name.
async fn write_if_due(
    store: &dyn SnapshotStore,
    handle: &Arc<CatalogHandle>,
    keys: Option<&KeysService>,
    args: &SnapshotArgs,
    last_seen: &mut Option<SnapshotName>,
) -> Result<Option<SnapshotName>, LogError> {
    let newest = store.list().await?.into_iter().max();
    let unchanged = newest == *last_seen;
    last_seen.clone_from(&newest);
    let own = handle.read(|catalog| {
        let covers = catalog.covers();
        (covers.tasks, covers.task_events.values().sum(), covers.meta)
    });
    if !is_due(own, newest.as_ref().map(positions_of), unchanged, args.snapshot_every_tasks) {
        return Ok(None);
    }
    // The key set at its own `meta` position (a copy of its records: keys are few).
    let keys = keys.map(|keys| KeysSnapshot::of(keys.ring()));
    // Serializing a large catalog takes a while: off the async workers, into a temporary file
    // (unlinked already: it goes away when closed, also on error), so the bytes are never held
    // whole; then the header line and the file into the store, a piece at a time.
    let reader = handle.clone();
    let (file, header) = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
        let mut file = tempfile::tempfile()?;
        let header = reader.read(|catalog| catalog.write_snapshot_body(keys.as_ref(), &mut file))?;
        file.seek(SeekFrom::Start(0))?;
        Ok((file, header))
    })
    .await
    .map_err(|error| LogError::Broker(format!("the snapshot serialization stopped: {error}")))?
    .map_err(|error| LogError::Broker(format!("cannot write the snapshot to a temporary file: {error}")))?;
    let name = name_of_header(&header).expect("a snapshot this build wrote has a readable header");
    let mut snapshot = std::io::Cursor::new(header.to_line()).chain(tokio::fs::File::from_std(file));
    store.put_reader(&name, &mut snapshot).await?;
    prune(store, &name, args.snapshots_kept).await?;
    *last_seen = Some(name.clone());
    Ok(Some(name))
}

#[cfg(test)]
mod tests;
