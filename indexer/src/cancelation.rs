//! The indexer's side of task cancelation (`miroir_schemas::cancelation` has the rule): before
//! a task's operations reach any node for the first time, announce the task in `meta` and wait
//! until this process's fold of `meta` has passed the announcement; then drop the operations of
//! every task the fold says was canceled. The fold is the same for every indexer and every
//! replay, so all replicas of every shard get the same verdict.

use crate::request::PositionedOp;
use bytes::Bytes;
use miroir_clients::log::{tail_partition, LogError, Record, Topic, WriteLog};
use miroir_schemas::cancelation::CancelationBook;
use miroir_schemas::envelope::{decode, encode};
use miroir_schemas::meta_log::{MetaEnvelope, TaskChange};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long an announcement may take to come back through the fold before the step fails (and
/// is retried: nothing was sent to a node yet).
const FOLD_TIMEOUT: Duration = Duration::from_secs(30);

pub struct CancelGate {
    log: Arc<dyn WriteLog>,
    folded: Arc<Folded>,
    tailer: JoinHandle<()>,
}

#[derive(Default)]
struct Folded {
    book: Mutex<CancelationBook>,
    /// Offset of the next `meta` record to fold.
    next: watch::Sender<u64>,
}

impl Drop for CancelGate {
    fn drop(&mut self) {
        self.tailer.abort();
    }
}

impl CancelGate {
    /// Starts tailing `meta` from its beginning. Call inside a Tokio runtime.
    pub fn start(log: Arc<dyn WriteLog>) -> CancelGate {
        let folded = Arc::new(Folded::default());
        let (folding, from) = (folded.clone(), *folded.next.borrow());
        let tailer = tokio::spawn(tail_partition(log.clone(), Topic::Meta, 0, from, move |records| fold(&folding, &records)));
        CancelGate { log, folded, tailer }
    }

    /// `ops` without the operations of canceled tasks, once every task among them has a
    /// verdict. Tasks without one are announced first (one `meta` record for all of them).
    pub async fn admit(&self, ops: Vec<PositionedOp>) -> Result<Vec<PositionedOp>, LogError> {
        let undecided: BTreeSet<u64> = {
            let book = self.folded.book.lock().expect("cancelation book lock");
            ops.iter().map(|op| op.envelope.task_uid).filter(|&task| !book.decided(task)).collect()
        };
        if !undecided.is_empty() {
            let change = TaskChange::TasksStarted { tasks: undecided.into_iter().collect() };
            let dedup_id = format!("started:{}", uuid::Uuid::new_v4().simple());
            let payload = Bytes::from(encode(&MetaEnvelope::new(change)));
            let position = self.log.append(Topic::Meta, "tasks-started", &dedup_id, payload).await?;
            let mut next = self.folded.next.subscribe();
            let reached = tokio::time::timeout(FOLD_TIMEOUT, next.wait_for(|&next| next > position.offset)).await;
            if !matches!(reached, Ok(Ok(_))) {
                return Err(LogError::Unavailable(format!("meta was not folded up to {} in {FOLD_TIMEOUT:?}", position.offset)));
            }
        }
        let book = self.folded.book.lock().expect("cancelation book lock");
        let (kept, canceled): (Vec<PositionedOp>, Vec<PositionedOp>) =
            ops.into_iter().partition(|op| book.canceled(op.envelope.task_uid).is_none());
        for op in &canceled {
            tracing::debug!(task_uid = op.envelope.task_uid, position = op.position, "operation of a canceled task skipped");
        }
        Ok(kept)
    }
}

/// Folds `meta` records into the cancelation book, then publishes how far it has folded.
fn fold(folded: &Folded, records: &[Record]) {
    let Some(last) = records.last().map(|r| r.position.offset) else { return };
    {
        let mut book = folded.book.lock().expect("cancelation book lock");
        for record in records {
            match decode::<MetaEnvelope>(&record.payload) {
                Ok(envelope) => envelope.task_change().iter().for_each(|change| book.apply(change)),
                Err(error) => tracing::error!(offset = record.position.offset, %error, "unreadable meta record skipped"),
            }
        }
    }
    folded.next.send_replace(last + 1);
}
