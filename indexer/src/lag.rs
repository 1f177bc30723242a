//! The consumer lag this indexer is responsible for: for every `ops` partition it owns, how many
//! records the group has not committed yet (`miroir_indexer_partition_lag`), refreshed on a
//! timer from the log itself (the group's committed positions and the partitions' ends), so a
//! stuck member shows a growing lag even while its own loop is blocked.

use std::sync::Arc;
use std::time::Duration;

use miroir_clients::log::{GroupPartition, Topic, WriteLog};

/// How often the lag is read from the log.
pub const LAG_INTERVAL: Duration = Duration::from_secs(10);

/// `(partition, lag)` for the partitions `member` owns; every other partition reads 0 here (its
/// owner reports it). Pure.
pub fn owned_lag(member: &str, partitions: &[GroupPartition], end_offsets: &[u64]) -> Vec<(u32, u64)> {
    partitions
        .iter()
        .zip(end_offsets)
        .map(|(partition, &end)| {
            let lag = if partition.owner.as_deref() == Some(member) { partition.lag(end) } else { 0 };
            (partition.partition, lag)
        })
        .collect()
}

/// Reports the lag every [`LAG_INTERVAL`] until the task is dropped; a log that does not answer
/// leaves the last values (and is retried at the next tick).
pub async fn report_lag_forever(log: Arc<dyn WriteLog>, group: String, member: String) {
    let mut ticks = tokio::time::interval(LAG_INTERVAL);
    loop {
        ticks.tick().await;
        let Ok(partitions) = log.group_status(Topic::Ops, &group).await else { continue };
        let mut ends = Vec::with_capacity(partitions.len());
        for partition in &partitions {
            match log.end_offset(Topic::Ops, partition.partition).await {
                Ok(end) => ends.push(end),
                Err(_) => break,
            }
        }
        if ends.len() != partitions.len() {
            continue;
        }
        for (partition, lag) in owned_lag(&member, &partitions, &ends) {
            metrics::gauge!("miroir_indexer_partition_lag", "partition" => partition.to_string()).set(lag as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_reports_the_lag_of_what_it_owns_only() {
        let partitions = [
            GroupPartition { partition: 0, next_offset: 4, owner: Some("me".into()) },
            GroupPartition { partition: 1, next_offset: 0, owner: Some("other".into()) },
            GroupPartition { partition: 2, next_offset: 9, owner: Some("me".into()) },
            GroupPartition { partition: 3, next_offset: 0, owner: None },
        ];
        assert_eq!(owned_lag("me", &partitions, &[10, 7, 9, 3]), vec![(0, 6), (1, 0), (2, 0), (3, 0)]);
    }
}
