//! The first line of a catalog snapshot: what it is, which log positions it covers, and the
//! length and SHA-256 of the body that follows. It lives here, beside the store, because more
//! than the gateway reads it: the reconciler's retention of `tasks` and `task-events` trims
//! only below what every kept snapshot covers (docs/retention.md). The body is the gateway's
//! (`gateway/src/catalog/snapshot.rs`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What the header's `format` says.
pub const SNAPSHOT_FORMAT: &str = "miroir-catalog-snapshot";
/// The body layout this build writes and reads (2: finished tasks in their compact form).
pub const SNAPSHOT_VERSION: u32 = 2;

/// The positions a snapshot covers: where each tailer resumes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotCovers {
    /// Next `tasks` position (= task uid) to fold.
    pub tasks: u64,
    /// Next `meta` position to fold.
    pub meta: u64,
    /// Per `task-events` partition, the next position to fold (absent: 0).
    pub task_events: BTreeMap<u32, u64>,
}

/// The first line of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotHeader {
    pub format: String,
    pub version: u32,
    pub covers: SnapshotCovers,
    pub body_bytes: u64,
    /// Hex SHA-256 of the body.
    pub sha256: String,
}

/// Why a snapshot was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("not a catalog snapshot: {0}")]
    NotASnapshot(String),
    #[error("snapshot version {found} is not readable by this build (it reads {SNAPSHOT_VERSION})")]
    UnsupportedVersion { found: u32 },
    #[error("snapshot body holds {found} bytes, its header says {expected}")]
    Truncated { expected: u64, found: u64 },
    #[error("snapshot body does not match its checksum")]
    ChecksumMismatch,
    #[error("snapshot body does not decode: {0}")]
    Malformed(String),
}

impl SnapshotHeader {
    /// Splits a snapshot into its header and body and checks the header (not the body).
    pub fn read(bytes: &[u8]) -> Result<(SnapshotHeader, &[u8]), SnapshotError> {
        let end = bytes.iter().position(|&byte| byte == b'\n').ok_or_else(|| SnapshotError::NotASnapshot("no header line".into()))?;
        let header: SnapshotHeader =
            serde_json::from_slice(&bytes[..end]).map_err(|error| SnapshotError::NotASnapshot(error.to_string()))?;
        if header.format != SNAPSHOT_FORMAT {
            return Err(SnapshotError::NotASnapshot(format!("format `{}`", header.format)));
        }
        if header.version != SNAPSHOT_VERSION {
            return Err(SnapshotError::UnsupportedVersion { found: header.version });
        }
        Ok((header, &bytes[end + 1..]))
    }
}
