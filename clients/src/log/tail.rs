//! Following one partition forever: the loop every fold of the log (catalog, keys, cancelations)
//! shares.

use super::{Record, Topic, WriteLog};
use std::sync::Arc;
use std::time::Duration;

/// How many records one read asks for.
const BATCH: usize = 1000;
/// How long one read waits for a first record before returning an empty batch.
const WAIT: Duration = Duration::from_millis(500);
/// How long to wait before reopening the partition after the log failed.
const RETRY: Duration = Duration::from_millis(500);

/// Reads `topic`/`partition` from offset `from` on, forever, handing every non-empty batch to
/// `fold` in log order. When the log fails it reopens the partition after the last record folded,
/// so `fold` sees each record once.
pub async fn tail_partition(log: Arc<dyn WriteLog>, topic: Topic, partition: u32, from: u64, mut fold: impl FnMut(Vec<Record>) + Send) {
    let mut next = from;
    loop {
        let error = match log.read_partition(topic, partition, next).await {
            Ok(mut reader) => loop {
                match reader.next_batch(BATCH, WAIT).await {
                    Ok(records) => {
                        let Some(last) = records.last() else { continue };
                        next = last.position.offset + 1;
                        fold(records);
                    }
                    Err(error) => break error,
                }
            },
            Err(error) => error,
        };
        tracing::warn!(%error, ?topic, partition, "tailing the log failed; reopening");
        tokio::time::sleep(RETRY).await;
    }
}
