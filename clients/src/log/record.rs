//! What goes into the log and what comes out.

use bytes::Bytes;

/// Where a record is stored: partition and offset (0-based, contiguous within a partition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    pub partition: u32,
    pub offset: u64,
}

/// A record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    /// Routing key: the same key always maps to the same partition (e.g. `movies/shard-3`).
    pub key: String,
    /// Idempotency id: appending the same id again within the dedup window stores nothing new.
    pub dedup_id: String,
    pub payload: Bytes,
}

impl NewRecord {
    pub fn new(key: impl Into<String>, dedup_id: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Self { key: key.into(), dedup_id: dedup_id.into(), payload: payload.into() }
    }
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub position: Position,
    pub key: String,
    pub dedup_id: String,
    pub payload: Bytes,
}

/// Where a consumer group stands on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPartition {
    pub partition: u32,
    /// The next offset the group will deliver (its committed position); 0 when nothing was
    /// committed yet.
    pub next_offset: u64,
    /// The member that owns the partition right now, when the backend can tell.
    pub owner: Option<String>,
}

impl GroupPartition {
    /// Records of the partition the group has not committed yet, given where it ends.
    pub fn lag(&self, end_offset: u64) -> u64 {
        end_offset.saturating_sub(self.next_offset)
    }
}
