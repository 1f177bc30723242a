//! A snapshot of the folded catalog: its whole state and the log positions it covers, so a
//! gateway can start from it and fold only what came after (design, storage and fallback:
//! `docs/design-state-snapshots.md`). The key set rides along as an optional section.
//!
//! Bytes: one header line of JSON (format, version, positions covered, body length, SHA-256 of
//! the body), then the body, JSON. Every collection is written in key order, so the same state
//! always gives the same bytes. Both ways stream: the body is written a piece at a time (a
//! running gateway writes it to a temporary file, then the store), and read as it arrives,
//! decoded while it is hashed; the decoded state is kept only when format, version, length and
//! checksum all verify, and what is wrong is a [`SnapshotError`] (a corrupt snapshot is skipped,
//! never trusted).

use std::collections::BTreeMap;
use std::io::{self, BufReader, BufWriter, Read, Write};

use miroir_schemas::cancelation::CancelationBook;
use miroir_schemas::idempotency::IdempotencyBook;
use miroir_schemas::task_log::TaskEvent;

use serde::{Deserialize, Serialize};

use self::digest::{DigestingReader, DigestingWriter};
use super::cleanup::CleanupTrigger;
use super::deletion::{BookForgets, RetiredRename};
use super::finished::{FinishedTask, FinishedWire};
use super::index_names::IndexNames;
use super::task_table::{KeptTask, TaskTable};
use super::{Catalog, FoldedTask, Indexes};
use crate::auth::KeysSnapshot;
pub use miroir_clients::snapshots::{SnapshotCovers, SnapshotError, SnapshotHeader, SNAPSHOT_FORMAT, SNAPSHOT_VERSION};

/// The state, borrowed for writing.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BodyRef<'c> {
    indexes: &'c Indexes,
    tasks: TasksRef<'c>,
    early_events: &'c BTreeMap<u64, Vec<TaskEvent>>,
    cancelations: &'c CancelationBook,
    book_forgets: &'c BookForgets,
    retired_renames: &'c [RetiredRename],
    cleanup: &'c CleanupTrigger,
    idempotency: &'c IdempotencyBook,
    /// The key set, folded up to its own `meta` position (absent: the keys fold from 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    keys: Option<&'c KeysSnapshot>,
}

/// The state, owned when reading.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Body {
    indexes: Indexes,
    tasks: ReadTasks,
    early_events: BTreeMap<u64, Vec<TaskEvent>>,
    cancelations: CancelationBook,
    book_forgets: BookForgets,
    retired_renames: Vec<RetiredRename>,
    cleanup: CleanupTrigger,
    /// Absent from snapshots written before idempotency keys.
    #[serde(default)]
    idempotency: IdempotencyBook,
    #[serde(default)]
    keys: Option<KeysSnapshot>,
}

/// The kept tasks in uid order, each `[uid, {"open": …} | {"finished": […]}]`.
struct TasksRef<'c> {
    tasks: &'c TaskTable,
    names: &'c IndexNames,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum KeptRef<'c> {
    Open(&'c FoldedTask),
    Finished(FinishedWire<&'c str>),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
enum KeptWire {
    Open(Box<FoldedTask>),
    Finished(FinishedWire<String>),
}

impl Serialize for TasksRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.tasks.iter().map(|(uid, task)| {
            let task = match task {
                KeptTask::Open(open) => KeptRef::Open(open),
                KeptTask::Finished(finished) => KeptRef::Finished(finished.to_wire(self.names)),
            };
            (uid, task)
        }))
    }
}

/// The task table and the index names its finished tasks hold, read from a snapshot's tasks
/// one by one (a million tasks are never held twice).
struct ReadTasks {
    tasks: TaskTable,
    names: IndexNames,
}

impl<'de> Deserialize<'de> for ReadTasks {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Tasks;
        impl<'de> serde::de::Visitor<'de> for Tasks {
            type Value = ReadTasks;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("the kept tasks in uid order")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<ReadTasks, A::Error> {
                use serde::de::Error;
                let mut read = ReadTasks { tasks: TaskTable::default(), names: IndexNames::default() };
                while let Some((uid, task)) = seq.next_element::<(u64, KeptWire)>()? {
                    let task = match task {
                        KeptWire::Open(open) => KeptTask::Open(open),
                        KeptWire::Finished(finished) => KeptTask::Finished(
                            FinishedTask::from_wire(finished, &mut read.names)
                                .ok_or_else(|| A::Error::custom(format!("finished task {uid} holds neither or both detail forms")))?,
                        ),
                    };
                    if !read.tasks.push_in_order(uid, task) {
                        return Err(A::Error::custom(format!("task {uid} out of uid order")));
                    }
                }
                Ok(read)
            }
        }
        deserializer.deserialize_seq(Tasks)
    }
}

impl Catalog {
    /// The positions this catalog has folded up to.
    pub fn covers(&self) -> SnapshotCovers {
        SnapshotCovers { tasks: self.next_task_uid, meta: self.next_meta_position, task_events: self.next_event_positions.clone() }
    }

    /// The snapshot of this catalog: header line, then body.
    pub fn snapshot(&self) -> Vec<u8> {
        self.snapshot_with_keys(None)
    }

    /// The snapshot of this catalog and of the key set `keys` (verified with the rest), whole in
    /// memory (a running gateway streams it instead: [`Catalog::write_snapshot_body`]).
    pub fn snapshot_with_keys(&self, keys: Option<&KeysSnapshot>) -> Vec<u8> {
        let mut body = Vec::new();
        let header = self.write_snapshot_body(keys, &mut body).expect("writing to memory cannot fail");
        let mut bytes = header.to_line();
        bytes.extend_from_slice(&body);
        bytes
    }

    /// Writes the body of this catalog's snapshot (with the key set `keys`) to `out`, a piece at
    /// a time, and returns the header line that goes before it (its length and digest are known
    /// only once the body is written).
    pub fn write_snapshot_body(&self, keys: Option<&KeysSnapshot>, out: impl Write) -> io::Result<SnapshotHeader> {
        let body = BodyRef {
            indexes: &self.indexes,
            tasks: TasksRef { tasks: &self.tasks, names: &self.index_names },
            early_events: &self.early_events,
            cancelations: &self.cancelations,
            book_forgets: &self.book_forgets,
            retired_renames: &self.retired_renames,
            cleanup: &self.cleanup,
            idempotency: &self.idempotency,
            keys,
        };
        let mut out = BufWriter::with_capacity(IO_BUFFER_BYTES, DigestingWriter::new(out));
        serde_json::to_writer(&mut out, &body)?;
        let (body_bytes, sha256) = out.into_inner().map_err(io::IntoInnerError::into_error)?.finish();
        Ok(SnapshotHeader { format: SNAPSHOT_FORMAT.into(), version: SNAPSHOT_VERSION, covers: self.covers(), body_bytes, sha256 })
    }

    /// The catalog a snapshot holds, verified, keeping at most `task_limit` tasks from now on;
    /// folding resumes at [`Catalog::covers`].
    pub fn from_snapshot(bytes: &[u8], task_limit: u64) -> Result<Catalog, SnapshotError> {
        Catalog::from_snapshot_with_keys(bytes, task_limit).map(|(catalog, _)| catalog)
    }

    /// [`Catalog::from_snapshot`], with the key set the snapshot holds, if it holds one.
    pub fn from_snapshot_with_keys(bytes: &[u8], task_limit: u64) -> Result<(Catalog, Option<KeysSnapshot>), SnapshotError> {
        Catalog::read_snapshot(bytes, task_limit).map(|read| (read.catalog, read.keys))
    }

    /// Reads a snapshot from `reader` as it arrives (blocking: run it off the async workers),
    /// decoding the body while hashing it. The decoded state is returned only when the body's
    /// length and digest match the header at its end; otherwise it is dropped and the error is
    /// the one a whole read gives: a cut or overlong body is [`SnapshotError::Truncated`], other
    /// bytes are [`SnapshotError::ChecksumMismatch`], and only a body that verifies but does not
    /// decode is [`SnapshotError::Malformed`]. A reader that fails midway reads as a cut body.
    pub fn read_snapshot(reader: impl Read, task_limit: u64) -> Result<ReadSnapshot, SnapshotError> {
        let mut reader = BufReader::with_capacity(IO_BUFFER_BYTES, reader);
        let header = SnapshotHeader::read_from(&mut reader)?;
        let mut body = BufReader::with_capacity(IO_BUFFER_BYTES, DigestingReader::new(reader));
        let decoded: Result<Body, _> = serde_json::from_reader(&mut body);
        // What the decoder left unread (it stops at an error) still counts towards the length
        // and digest; a reader that fails here has nothing more to give.
        let _ = io::copy(&mut body, &mut io::sink());
        let (found_bytes, found_sha256) = body.into_inner().finish();
        header.check_body(found_bytes, &found_sha256)?;
        let body = decoded.map_err(|error| SnapshotError::Malformed(error.to_string()))?;
        let SnapshotCovers { tasks, meta, task_events } = header.covers.clone();
        let catalog = Catalog {
            indexes: body.indexes,
            tasks: body.tasks.tasks,
            index_names: body.tasks.names,
            early_events: body.early_events,
            next_task_uid: tasks,
            cancelations: body.cancelations,
            next_meta_position: meta,
            next_event_positions: task_events,
            book_forgets: body.book_forgets,
            retired_renames: body.retired_renames,
            task_limit,
            cleanup: body.cleanup,
            idempotency: body.idempotency,
            #[cfg(test)]
            keep_open: false,
        };
        Ok(ReadSnapshot { header, catalog, keys: body.keys })
    }
}

/// A snapshot read and verified: its header, the catalog and the key set it holds (if any).
pub struct ReadSnapshot {
    pub header: SnapshotHeader,
    pub catalog: Catalog,
    pub keys: Option<KeysSnapshot>,
}

/// Buffer between the JSON codec and the file or store: large enough that hashing and I/O see
/// big pieces, small beside the catalog.
const IO_BUFFER_BYTES: usize = 256 * 1024;

mod digest;

#[cfg(test)]
mod tests;
