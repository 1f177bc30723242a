//! Reading one JetStream partition stream from an offset, tailing it (ordered consumer).

use std::time::Duration;

use async_nats::jetstream::consumer::pull::{Ordered, OrderedConfig};
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::{self, Context};
use async_trait::async_trait;
use futures::StreamExt;

use super::nats::{stream_name, unavailable, KEY_HEADER};
use super::{LogConfig, LogError, PartitionReader, Position, Record, Topic};

/// An ordered (ack-less, self-healing) consumer on the partition's stream starting at `from`.
/// Offsets are stream sequences minus one: one stream per partition keeps them contiguous.
pub(crate) async fn open_ordered(js: &Context, config: &LogConfig, topic: Topic, partition: u32, from: u64) -> Result<Ordered, LogError> {
    let stream = js.get_stream(stream_name(config, topic, partition)).await.map_err(unavailable)?;
    let deliver_policy = match from {
        0 => DeliverPolicy::All,
        from => DeliverPolicy::ByStartSequence { start_sequence: from + 1 },
    };
    let consumer = stream.create_consumer(OrderedConfig { deliver_policy, ..Default::default() }).await.map_err(unavailable)?;
    consumer.messages().await.map_err(unavailable)
}

pub(crate) fn to_record(message: &jetstream::Message, partition: u32) -> Result<Record, LogError> {
    let info = message.info().map_err(|e| LogError::Broker(format!("message without JetStream info: {e}")))?;
    let header = |name: &str| message.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.as_str().to_owned()).unwrap_or_default();
    Ok(Record {
        position: Position { partition, offset: info.stream_sequence - 1 },
        key: header(KEY_HEADER),
        dedup_id: header("Nats-Msg-Id"),
        payload: message.payload.clone(),
    })
}

pub(crate) struct NatsReader {
    pub(crate) messages: Ordered,
    pub(crate) partition: u32,
    /// The offset the next record must have: an ordered consumer whose start was purged
    /// meanwhile starts at the oldest kept record instead, and that gap is refused.
    pub(crate) next: u64,
}

#[async_trait]
impl PartitionReader for NatsReader {
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>, LogError> {
        let mut out = Vec::new();
        // The first record may take up to `wait`; the rest only if already buffered (a zero
        // timeout still polls the stream once).
        let mut budget = wait;
        while out.len() < max {
            match tokio::time::timeout(budget, self.messages.next()).await {
                Ok(Some(Ok(message))) => {
                    let record = to_record(&message, self.partition)?;
                    if record.position.offset > self.next {
                        return Err(LogError::Trimmed { first_kept: record.position.offset });
                    }
                    self.next = record.position.offset + 1;
                    out.push(record);
                }
                Ok(Some(Err(e))) => return Err(unavailable(e)),
                Ok(None) => return Err(LogError::Unavailable("the partition stream ended".into())),
                Err(_) => break,
            }
            budget = Duration::ZERO;
        }
        Ok(out)
    }
}
