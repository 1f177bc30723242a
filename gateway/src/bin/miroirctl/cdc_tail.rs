//! `miroirctl cdc tail`: prints the change-data-capture events of the `cdc` log, one JSON
//! object per line, reading the log itself (NATS JetStream or Kafka, from the same `MIROIR_LOG_*`
//! environment as the other processes) — the gateway does not serve the stream.

use std::io::Write;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use miroir_clients::cluster_config::LogArgs;
use miroir_clients::log::{partition_for_key, PartitionReader, Record, Topic, WriteLog};
use serde_json::Value;

/// Records asked per read, and how long a read waits for new ones before the next partition.
const BATCH: usize = 500;
const WAIT: Duration = Duration::from_millis(200);

#[derive(Debug, Args)]
pub struct TailArgs {
    /// Only the events of this index (its partition of `cdc`).
    #[arg(long)]
    index: Option<String>,
    /// Where to start in each partition read: `start`, `end` (only new events), or an offset
    /// (the Kafka offset; the JetStream stream sequence − 1), e.g. the `offset` printed with
    /// `--positions`, plus one, to resume after it.
    #[arg(long, default_value = "end")]
    from: From,
    /// Stop once the events stored when the command started are printed, instead of following.
    #[arg(long)]
    stop_at_end: bool,
    /// Print `{"partition", "offset", "event"}` per line instead of the event alone.
    #[arg(long)]
    positions: bool,
    #[command(flatten)]
    log: LogArgs,
}

/// Where a tail starts in a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    Start,
    End,
    Offset(u64),
}

impl FromStr for From {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "start" => Ok(From::Start),
            "end" => Ok(From::End),
            offset => offset.parse().map(From::Offset).map_err(|_| format!("`{offset}` is not start, end or an offset")),
        }
    }
}

impl From {
    /// The first offset to read of a partition ending at `end`.
    fn first_offset(self, end: u64) -> u64 {
        match self {
            From::Start => 0,
            From::End => end,
            From::Offset(offset) => offset,
        }
    }
}

/// The partitions of `cdc` to read: the index's own, or all of them.
fn partitions(index: Option<&str>, count: u32) -> Vec<u32> {
    match index {
        Some(index) => vec![partition_for_key(index, count)],
        None => (0..count).collect(),
    }
}

/// The line printed for `record`, or `None` when it belongs to another index.
fn line(record: &Record, index: Option<&str>, positions: bool) -> Option<String> {
    if index.is_some_and(|index| record.key != index) {
        return None;
    }
    let event: Value = serde_json::from_slice(&record.payload)
        .unwrap_or_else(|error| serde_json::json!({"unreadable": error.to_string(), "key": record.key}));
    let shown = if positions {
        serde_json::json!({"partition": record.position.partition, "offset": record.position.offset, "event": event})
    } else {
        event
    };
    Some(shown.to_string())
}

struct Cursor {
    reader: Box<dyn PartitionReader>,
    next: u64,
    /// Where the partition ended when the tail started (for `--stop-at-end`).
    end: u64,
}

pub async fn tail(args: &TailArgs) -> anyhow::Result<()> {
    let log: Arc<dyn WriteLog> = args.log.open_log(args.log.log_config()).await?.into();
    let count = log.config().partitions(Topic::Cdc);
    let mut cursors = Vec::new();
    for partition in partitions(args.index.as_deref(), count) {
        let end = log.end_offset(Topic::Cdc, partition).await?;
        let next = args.from.first_offset(end);
        cursors.push(Cursor { reader: log.read_partition(Topic::Cdc, partition, next).await?, next, end });
    }
    let mut out = std::io::stdout().lock();
    loop {
        if args.stop_at_end && cursors.iter().all(|c| c.next >= c.end) {
            return Ok(());
        }
        for cursor in cursors.iter_mut().filter(|c| !args.stop_at_end || c.next < c.end) {
            for record in cursor.reader.next_batch(BATCH, WAIT).await? {
                cursor.next = record.position.offset + 1;
                if args.stop_at_end && record.position.offset >= cursor.end {
                    continue;
                }
                if let Some(line) = line(&record, args.index.as_deref(), args.positions) {
                    writeln!(out, "{line}")?;
                }
            }
            out.flush()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use miroir_clients::log::Position;

    fn record(key: &str, payload: &str) -> Record {
        Record {
            position: Position { partition: 2, offset: 7 },
            key: key.into(),
            dedup_id: "d".into(),
            payload: Bytes::from(payload.to_owned()),
        }
    }

    #[test]
    fn from_reads_start_end_and_offsets() {
        assert_eq!("start".parse::<From>().unwrap().first_offset(9), 0);
        assert_eq!("end".parse::<From>().unwrap().first_offset(9), 9);
        assert_eq!("4".parse::<From>().unwrap().first_offset(9), 4);
        assert!("later".parse::<From>().is_err());
    }

    #[test]
    fn an_index_reads_its_own_partition_and_only_its_events() {
        assert_eq!(partitions(Some("movies"), 4), vec![partition_for_key("movies", 4)]);
        assert_eq!(partitions(None, 4), vec![0, 1, 2, 3]);
        let event = r#"{"eventId":"0-1-0","indexUid":"movies"}"#;
        assert_eq!(line(&record("movies", event), Some("movies"), false).as_deref(), Some(event));
        assert_eq!(line(&record("books", event), Some("movies"), false), None);
        let positioned = line(&record("books", event), None, true).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&positioned).unwrap(),
            serde_json::json!({"partition": 2, "offset": 7, "event": {"eventId": "0-1-0", "indexUid": "movies"}})
        );
    }
}
