//! Keeps [`TaskOutcomes`] current: tails `tasks`, every `task-events` partition and `meta` from
//! their first kept record, as a gateway does for its task views. Retention trims `tasks` and
//! `task-events` together, at a cut below every operation CDC has still to release
//! (`crate::retention::task_log_policy`), so the tasks whose records are gone are tasks CDC
//! will not be asked about again.

use super::outcomes::TaskOutcomes;
use miroir_clients::log::{retry_while_unavailable, tail_partition, LogError, Record, Topic, WriteLog};
use miroir_schemas::envelope::decode;
use miroir_schemas::meta_log::MetaEnvelope;
use miroir_schemas::task_log::{TaskEvent, TaskRecord};
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// The tailers; they stop when this is dropped.
pub struct Followers(Vec<JoinHandle<()>>);

impl Drop for Followers {
    fn drop(&mut self) {
        self.0.iter().for_each(JoinHandle::abort);
    }
}

/// Starts the tailers at each partition's first kept record.
pub async fn follow(log: Arc<dyn WriteLog>, outcomes: Arc<Mutex<TaskOutcomes>>) -> Result<Followers, LogError> {
    let first = |topic: Topic, partition: u32| {
        let log = log.clone();
        async move { retry_while_unavailable("reading where a log starts", || log.first_offset(topic, partition)).await }
    };
    let tasks_from = first(Topic::Tasks, 0).await?;
    outcomes.lock().expect("task outcomes lock").start_at(tasks_from);
    let fold = |outcomes: &Arc<Mutex<TaskOutcomes>>, apply: fn(&mut TaskOutcomes, &Record)| {
        let outcomes = outcomes.clone();
        move |records: Vec<Record>| {
            let mut outcomes = outcomes.lock().expect("task outcomes lock");
            records.iter().for_each(|record| apply(&mut outcomes, record));
        }
    };
    let mut tailers = vec![
        tokio::spawn(tail_partition(log.clone(), Topic::Tasks, 0, tasks_from, fold(&outcomes, fold_task_record))),
        tokio::spawn(tail_partition(log.clone(), Topic::Meta, 0, first(Topic::Meta, 0).await?, fold(&outcomes, fold_meta_record))),
    ];
    for partition in 0..log.config().partitions(Topic::TaskEvents) {
        let from = first(Topic::TaskEvents, partition).await?;
        tailers.push(tokio::spawn(tail_partition(log.clone(), Topic::TaskEvents, partition, from, fold(&outcomes, fold_event_record))));
    }
    Ok(Followers(tailers))
}

/// A `tasks` record; its offset is its task uid. Gateways write more fields than a
/// [`TaskRecord`] holds (the primary key decided, a deletion plan): they are not needed here.
fn fold_task_record(outcomes: &mut TaskOutcomes, record: &Record) {
    let uid = record.position.offset;
    match decode::<TaskRecord>(&record.payload) {
        Ok(task) => outcomes.apply_task(uid, task),
        Err(error) => {
            tracing::error!(uid, %error, "unreadable tasks record: its operations will never be published");
            outcomes.skip_task(uid);
        }
    }
}

fn fold_event_record(outcomes: &mut TaskOutcomes, record: &Record) {
    match decode::<TaskEvent>(&record.payload) {
        Ok(event) => outcomes.apply_event(event),
        Err(error) => tracing::error!(position = ?record.position, %error, "unreadable task-events record"),
    }
}

fn fold_meta_record(outcomes: &mut TaskOutcomes, record: &Record) {
    match decode::<MetaEnvelope>(&record.payload) {
        Ok(envelope) => envelope.task_change().iter().for_each(|change| outcomes.apply_change(change)),
        Err(error) => tracing::error!(position = ?record.position, %error, "unreadable meta record"),
    }
}
