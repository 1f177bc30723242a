//! The one polling loop of the harness: look at a condition until it holds, fail with a message
//! once the deadline passes. Bounds only turn a hang into a failure; they are no speed claims.

use std::fmt::Display;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

/// When a wait gives up, and how often it looks in the meantime.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    bound: Duration,
    every: Duration,
}

impl Deadline {
    /// `bound` from now, looking every 50 ms (how often Meilisearch's SDKs poll a task).
    pub fn after(bound: Duration) -> Deadline {
        Deadline { at: Instant::now() + bound, bound, every: Duration::from_millis(50) }
    }

    /// The same deadline, looking every `every`.
    pub fn polling_every(self, every: Duration) -> Deadline {
        Deadline { every, ..self }
    }

    pub fn passed(&self) -> bool {
        Instant::now() > self.at
    }
}

/// What one look at a condition saw.
pub enum Progress<T> {
    /// The condition holds; the wait returns this.
    Done(T),
    /// Not yet: what was seen, for the failure message if the deadline passes.
    Waiting(String),
}

impl<T> From<Option<T>> for Progress<T> {
    fn from(seen: Option<T>) -> Progress<T> {
        seen.map_or_else(|| Progress::Waiting(String::new()), Progress::Done)
    }
}

/// Looks at `condition` until it is [`Progress::Done`]. An error from `condition` ends the
/// wait at once; a passed deadline fails with `message`, the bound and what the last look saw.
pub async fn wait_until<T>(
    deadline: Deadline,
    message: impl Display,
    mut condition: impl AsyncFnMut() -> Result<Progress<T>>,
) -> Result<T> {
    loop {
        let seen = match condition().await? {
            Progress::Done(value) => return Ok(value),
            Progress::Waiting(seen) => seen,
        };
        if deadline.passed() {
            let bound = deadline.bound;
            if seen.is_empty() {
                bail!("{message} (not within {bound:?})");
            }
            bail!("{message} (not within {bound:?}): {seen}");
        }
        tokio::time::sleep(deadline.every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wait_returns_what_the_condition_found_or_fails_with_the_message() {
        let mut looks = 0;
        let found = wait_until(Deadline::after(Duration::from_secs(5)).polling_every(Duration::from_millis(1)), "never", async || {
            looks += 1;
            Ok(if looks == 3 { Progress::Done(looks) } else { Progress::Waiting(format!("look {looks}")) })
        })
        .await
        .unwrap();
        assert_eq!(found, 3);
        let error =
            wait_until(Deadline::after(Duration::ZERO), "the sky did not fall", async || Ok(Progress::<()>::Waiting("blue".into())))
                .await
                .unwrap_err();
        assert_eq!(error.to_string(), "the sky did not fall (not within 0ns): blue");
    }
}
