//! `ops` retention (docs/retention.md): on a timer, each `ops` partition is trimmed below what
//! every internal consumer group committed (the indexers', the CDC publishers'), keeping the
//! configured window of newest records for catch-up. A replica lagging behind the window is
//! rebuilt from a peer by its indexer when it returns.
//!
//! Two reconcilers trimming at once is safe: a trim point is computed from commits and end
//! offsets, which only grow, so each is still safe when the other applies it later; a trim
//! below the first kept record removes nothing.

pub mod policy;
pub mod task_log_policy;
pub mod task_logs;

use std::sync::Arc;
use std::time::{Duration, Instant};

use miroir_clients::log::{LogError, Topic, WriteLog};
use policy::{trim_point, EndSamples, PartitionView, RetentionWindow};

/// What the retention timer does.
#[derive(Debug, Clone)]
pub struct RetentionOptions {
    pub window: RetentionWindow,
    pub interval: Duration,
    /// Every consumer group of `ops` whose commits bound the trim.
    pub groups: Vec<String>,
}

/// Trims `ops` every `options.interval` until `stop` resolves. A failed pass (broker away, a
/// broker that refuses to delete records) is logged and tried again at the next tick.
pub async fn run_retention(log: Arc<dyn WriteLog>, options: RetentionOptions, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    let mut samples: Vec<EndSamples> = (0..log.config().ops_partitions).map(|_| EndSamples::default()).collect();
    loop {
        if let Err(error) = trim_pass(log.as_ref(), &options, &mut samples).await {
            tracing::warn!(%error, "ops retention pass failed; trying again at the next interval");
        }
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(options.interval) => {}
        }
    }
}

/// One pass over every `ops` partition.
pub async fn trim_pass(log: &dyn WriteLog, options: &RetentionOptions, samples: &mut [EndSamples]) -> Result<(), LogError> {
    let mut committed: Vec<Vec<u64>> = vec![Vec::new(); samples.len()];
    for group in &options.groups {
        for status in log.group_status(Topic::Ops, group).await? {
            if let Some(positions) = committed.get_mut(status.partition as usize) {
                positions.push(status.next_offset);
            }
        }
    }
    let now = Instant::now();
    for (partition, (samples, committed)) in samples.iter_mut().zip(committed).enumerate() {
        let partition = partition as u32;
        let end = log.end_offset(Topic::Ops, partition).await?;
        let first_kept = log.first_offset(Topic::Ops, partition).await?;
        samples.observe(now, end);
        let end_age_ago = options.window.age.and_then(|age| samples.end_before(now, age));
        let view = PartitionView { first_kept, end, committed, end_age_ago };
        let kept = match trim_point(&view, &options.window) {
            Some(before) => trim_recorded(log, Topic::Ops, partition, before).await?,
            None => first_kept,
        };
        metrics::gauge!("miroir_log_first_kept_offset", "topic" => Topic::Ops.name(), "partition" => partition.to_string())
            .set(kept as f64);
    }
    Ok(())
}

/// Trims `topic`/`partition` below `before`, logging and counting what went; returns the first
/// kept offset.
pub(crate) async fn trim_recorded(log: &dyn WriteLog, topic: Topic, partition: u32, before: u64) -> Result<u64, LogError> {
    let first_kept = log.first_offset(topic, partition).await?;
    if before <= first_kept {
        return Ok(first_kept);
    }
    let kept = log.trim(topic, partition, before).await?;
    let removed = kept.saturating_sub(first_kept);
    tracing::info!(topic = topic.name(), partition, before, removed, "log records trimmed");
    metrics::counter!("miroir_log_trimmed_records_total", "topic" => topic.name()).increment(removed);
    metrics::gauge!("miroir_log_first_kept_offset", "topic" => topic.name(), "partition" => partition.to_string()).set(kept as f64);
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use miroir_clients::log::{key_for_partition, LogConfig, MemoryLog, Position};

    #[tokio::test]
    async fn a_pass_trims_below_the_slowest_group_keeping_the_window() {
        let log = MemoryLog::new(LogConfig { ops_partitions: 2, ..LogConfig::for_tests("ret") }).unwrap();
        let key = key_for_partition(0, 2);
        for i in 0..100 {
            log.append(Topic::Ops, &key, &format!("op-{i}"), Bytes::from_static(b"{}")).await.unwrap();
        }
        let mut indexers = log.join_group(Topic::Ops, "indexers", "i").await.unwrap();
        let mut cdc = log.join_group(Topic::Ops, "cdc", "c").await.unwrap();
        indexers.commit(&[Position { partition: 0, offset: 79 }]).await.unwrap();
        cdc.commit(&[Position { partition: 0, offset: 59 }]).await.unwrap();
        let options = RetentionOptions {
            window: RetentionWindow { records: Some(30), age: None },
            interval: Duration::from_secs(1),
            groups: vec!["indexers".into(), "cdc".into()],
        };
        let mut samples: Vec<EndSamples> = (0..2).map(|_| EndSamples::default()).collect();
        trim_pass(&log, &options, &mut samples).await.unwrap();
        assert_eq!(log.first_offset(Topic::Ops, 0).await.unwrap(), 60, "CDC committed through 59");
        assert_eq!(log.first_offset(Topic::Ops, 1).await.unwrap(), 0, "an empty partition");
        cdc.commit(&[Position { partition: 0, offset: 99 }]).await.unwrap();
        indexers.commit(&[Position { partition: 0, offset: 99 }]).await.unwrap();
        trim_pass(&log, &options, &mut samples).await.unwrap();
        assert_eq!(log.first_offset(Topic::Ops, 0).await.unwrap(), 70, "the newest 30 records are kept");
    }
}
