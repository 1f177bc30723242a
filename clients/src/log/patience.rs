//! Waiting out an unavailable log: the one backoff every start-up and every long-running loop
//! uses, so no Miroir process exits because the broker is away for a while. Only errors that can
//! go away by themselves are waited out; a refused name or an oversized record is a bug that a
//! retry would repeat forever.

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder, Retryable};

use super::LogError;

/// First pause after a failure; doubled after each further one.
const MIN_DELAY: Duration = Duration::from_millis(200);
/// Longest pause, so a returning broker is noticed within seconds.
const MAX_DELAY: Duration = Duration::from_secs(5);

/// Whether waiting can cure `error`: the broker is unreachable, timed out or refused for a
/// reason of its own (a restarting server, a leader election).
pub fn is_transient(error: &LogError) -> bool {
    matches!(error, LogError::Unavailable(_) | LogError::Broker(_))
}

fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default().with_min_delay(MIN_DELAY).with_max_delay(MAX_DELAY).with_jitter().without_max_times()
}

/// Runs `attempt` until it succeeds or fails with an error waiting cannot cure, pausing with
/// backoff after each transient failure and saying so (with `what`) in the log.
pub async fn retry_while_unavailable<T, Fut>(what: &str, attempt: impl FnMut() -> Fut) -> Result<T, LogError>
where
    Fut: Future<Output = Result<T, LogError>>,
{
    attempt
        .retry(backoff())
        .when(is_transient)
        .notify(|error, delay| tracing::warn!(%error, ?delay, "{what}: the log is unavailable; retrying"))
        .await
}

/// The pause after each failure of a loop that keeps running (consume, apply, publish): grows
/// while failures follow each other, starts again from the shortest after a success.
#[derive(Debug, Default)]
pub struct FailurePause {
    delays: Option<ExponentialBackoff>,
}

impl FailurePause {
    /// How long to wait after one more failure in a row.
    pub fn next_delay(&mut self) -> Duration {
        self.delays.get_or_insert_with(|| backoff().build()).next().unwrap_or(MAX_DELAY)
    }

    /// A step succeeded: the next failure pauses briefly again.
    pub fn reset(&mut self) {
        self.delays = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_waited_out_and_others_returned_at_once() {
        let calls = AtomicU32::new(0);
        let value = retry_while_unavailable("test", || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Err(LogError::Unavailable("down".into())),
                1 => Err(LogError::Broker("electing".into())),
                n => Ok(n),
            }
        })
        .await
        .unwrap();
        assert_eq!(value, 2);

        let calls = AtomicU32::new(0);
        let error = retry_while_unavailable("test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(LogError::Invalid("bad name".into()))
        })
        .await
        .unwrap_err();
        assert!(matches!(error, LogError::Invalid(_)));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a refusal is not retried");
    }

    #[test]
    fn pauses_grow_to_the_cap_and_start_again_after_a_success() {
        let mut pause = FailurePause::default();
        let first = pause.next_delay();
        let later: Vec<Duration> = (0..20).map(|_| pause.next_delay()).collect();
        assert!(first <= MIN_DELAY * 2, "{first:?}");
        assert!(later.iter().all(|d| *d <= MAX_DELAY * 2), "{later:?}");
        assert!(*later.last().unwrap() >= MAX_DELAY, "{later:?}");
        pause.reset();
        assert!(pause.next_delay() <= MIN_DELAY * 2);
    }
}
