//! The one error type of the write log.

/// Why a log operation failed. Cloneable so one outcome can be shared by concurrent retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The broker is down, unreachable or did not answer in time. Nothing is known to be stored;
    /// the gateway answers 503.
    #[error("the log is unavailable: {0}")]
    Unavailable(String),
    /// The payload is bigger than the broker accepts; it was not stored (never truncated).
    #[error("a log record of {size} bytes exceeds the limit of {limit} bytes")]
    MessageTooLarge { size: usize, limit: usize },
    /// A name (prefix, group, member, key) or partition number the log cannot use.
    #[error("invalid log request: {0}")]
    Invalid(String),
    /// The records asked for were removed by retention: the partition now starts at
    /// `first_kept`. Never skipped silently: a reader that needs them must get their effect
    /// another way (an indexer copies the replica from a peer, docs/retention.md).
    #[error("the log no longer holds these records: the partition starts at {first_kept}")]
    Trimmed { first_kept: u64 },
    /// The broker refused the request for another reason.
    #[error("the log refused the request: {0}")]
    Broker(String),
}
