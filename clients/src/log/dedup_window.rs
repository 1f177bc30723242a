//! Remembers dedup ids for a time window (pure; the caller passes the clock).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Maps a dedup id to what its first append produced, for `window` after that append.
#[derive(Debug)]
pub(crate) struct DedupWindow<V> {
    window: Duration,
    entries: HashMap<String, (V, Instant)>,
    order: VecDeque<(Instant, String)>,
}

impl<V: Clone> DedupWindow<V> {
    pub(crate) fn new(window: Duration) -> Self {
        Self { window, entries: HashMap::new(), order: VecDeque::new() }
    }

    /// The value stored for `id` if it was seen within the window before `now`.
    pub(crate) fn get(&mut self, id: &str, now: Instant) -> Option<V> {
        self.expire(now);
        self.entries.get(id).map(|(v, _)| v.clone())
    }

    /// Remembers `id` → `value` from `now` on (replacing an earlier value).
    pub(crate) fn insert(&mut self, id: &str, value: V, now: Instant) {
        self.expire(now);
        self.entries.insert(id.to_owned(), (value, now));
        self.order.push_back((now, id.to_owned()));
    }

    pub(crate) fn remove(&mut self, id: &str) {
        self.entries.remove(id);
    }

    fn expire(&mut self, now: Instant) {
        while let Some((at, _)) = self.order.front() {
            if now.saturating_duration_since(*at) < self.window {
                break;
            }
            let (at, id) = self.order.pop_front().expect("front exists");
            // Only the entry this queue slot was pushed for: the id may have been re-inserted since.
            if self.entries.get(&id).is_some_and(|(_, inserted)| *inserted == at) {
                self.entries.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn ids_are_remembered_exactly_for_the_window(ids in proptest::collection::vec(0u8..20, 1..60), window_ms in 1u64..50) {
            let start = Instant::now();
            let window = Duration::from_millis(window_ms);
            let mut dedup = DedupWindow::new(window);
            let mut first_seen: HashMap<String, (Duration, usize)> = HashMap::new();
            for (step, id) in ids.iter().enumerate() {
                let now_offset = Duration::from_millis(step as u64);
                let now = start + now_offset;
                let id = id.to_string();
                let expected = first_seen
                    .get(&id)
                    .filter(|(at, _)| now_offset - *at < window)
                    .map(|(_, v)| *v);
                prop_assert_eq!(dedup.get(&id, now), expected);
                if expected.is_none() {
                    dedup.insert(&id, step, now);
                    first_seen.insert(id, (now_offset, step));
                }
            }
        }
    }
}
