//! The first line of a catalog snapshot: what it is, which log positions it covers, and the
//! length and SHA-256 of the body that follows. It lives here, beside the store, because more
//! than the gateway reads it: the reconciler's retention of `tasks` and `task-events` trims
//! only below what every kept snapshot covers (docs/retention.md). The body is the gateway's
//! (`gateway/src/catalog/snapshot.rs`).

use std::collections::BTreeMap;
use std::io::{BufRead, Read};

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

/// A header line is a few hundred bytes (one position per `task-events` partition); a longer
/// first line is no header.
pub const HEADER_MAX_BYTES: usize = 64 * 1024;

impl SnapshotHeader {
    /// Splits a snapshot into its header and body and checks the header (not the body).
    pub fn read(bytes: &[u8]) -> Result<(SnapshotHeader, &[u8]), SnapshotError> {
        let end = bytes.iter().position(|&byte| byte == b'\n').ok_or_else(|| SnapshotError::NotASnapshot("no header line".into()))?;
        Ok((SnapshotHeader::parse(&bytes[..end])?, &bytes[end + 1..]))
    }

    /// Reads the header line from `reader` and checks it, leaving `reader` at the body's first byte.
    pub fn read_from(reader: &mut impl BufRead) -> Result<SnapshotHeader, SnapshotError> {
        let mut line = Vec::new();
        reader
            .take(HEADER_MAX_BYTES as u64)
            .read_until(b'\n', &mut line)
            .map_err(|error| SnapshotError::NotASnapshot(format!("reading the header line: {error}")))?;
        if line.pop() != Some(b'\n') {
            return Err(SnapshotError::NotASnapshot("no header line".into()));
        }
        SnapshotHeader::parse(&line)
    }

    /// The header line as written: JSON, then a newline.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).expect("the header serializes");
        line.push(b'\n');
        line
    }

    /// Whether `found_bytes` bytes hashing to `found_sha256` (hex) are the body this header
    /// describes: length first (a cut body), then digest.
    pub fn check_body(&self, found_bytes: u64, found_sha256: &str) -> Result<(), SnapshotError> {
        if found_bytes != self.body_bytes {
            return Err(SnapshotError::Truncated { expected: self.body_bytes, found: found_bytes });
        }
        if found_sha256 != self.sha256 {
            return Err(SnapshotError::ChecksumMismatch);
        }
        Ok(())
    }

    /// The header line without its newline, checked.
    fn parse(line: &[u8]) -> Result<SnapshotHeader, SnapshotError> {
        let header: SnapshotHeader = serde_json::from_slice(line).map_err(|error| SnapshotError::NotASnapshot(error.to_string()))?;
        if header.format != SNAPSHOT_FORMAT {
            return Err(SnapshotError::NotASnapshot(format!("format `{}`", header.format)));
        }
        if header.version != SNAPSHOT_VERSION {
            return Err(SnapshotError::UnsupportedVersion { found: header.version });
        }
        Ok(header)
    }
}
