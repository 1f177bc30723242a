//! What webhook delivery decides without I/O: which task records of the `tasks` log may be
//! committed as delivered, and the gzip body Meilisearch's webhooks receive. Pure.
//!
//! The caller walks the `tasks` log as a consumer group (positions are task uids), so the
//! group's committed position says "every task before this one was delivered". Tasks finish
//! out of order: a task is delivered as soon as it finishes, and the commit moves over the
//! delivered prefix only. A caller that takes over starts from the commit, so tasks delivered
//! after a still-running one are delivered again (at least once, as a webhook receiver retrying
//! a Meilisearch batch would see).

use std::collections::BTreeSet;

/// Task records read but not yet known delivered, and how far everything is delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    /// The first record read (the group's committed position when this caller started).
    start: Option<u64>,
    /// Every record before this one is delivered (or was no task).
    delivered_before: u64,
    /// Read and not delivered yet, by uid.
    pending: BTreeSet<u64>,
    /// Delivered, above the first pending one.
    done: BTreeSet<u64>,
}

impl Window {
    /// A record read from the log, in log order (a record read again is ignored).
    pub fn read(&mut self, uid: u64) {
        let start = *self.start.get_or_insert(uid);
        if start == uid && self.delivered_before < uid {
            self.delivered_before = uid;
        }
        if uid >= self.delivered_before && !self.done.contains(&uid) {
            self.pending.insert(uid);
        }
    }

    /// The records read and not delivered yet, oldest first.
    pub fn pending(&self) -> impl Iterator<Item = u64> + '_ {
        self.pending.iter().copied()
    }

    /// `uid` is delivered (or needs no delivery).
    pub fn delivered(&mut self, uid: u64) {
        if self.pending.remove(&uid) {
            self.done.insert(uid);
        }
        // Records are read in order, so the delivered ones just above the mark are contiguous.
        while self.done.first() == Some(&self.delivered_before) {
            self.done.pop_first();
            self.delivered_before += 1;
        }
    }

    /// The last record the group may commit (every record up to it delivered), if any was.
    pub fn committable(&self) -> Option<u64> {
        let start = self.start?;
        (self.delivered_before > start).then(|| self.delivered_before - 1)
    }
}

/// `bytes` as the gzip stream Meilisearch's receivers decode (`Content-Encoding: gzip`).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("writing to memory cannot fail");
    encoder.finish().expect("writing to memory cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What a receiver reads back from a [`gzip`] body.
    pub fn gunzip(stream: &[u8]) -> Vec<u8> {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(stream).read_to_end(&mut out).expect("a gzip stream");
        out
    }

    #[test]
    fn bodies_are_gzip_streams() {
        assert_eq!(&gzip(b"")[..3], &[0x1f, 0x8b, 8]);
        assert_eq!(gunzip(&gzip(b"")), b"");
        let ndjson = b"{\"uid\":1}\n{\"uid\":2}\n".repeat(5_000);
        let body = gzip(&ndjson);
        assert!(body.len() < ndjson.len() / 10, "compressed: {} bytes for {}", body.len(), ndjson.len());
        assert_eq!(gunzip(&body), ndjson);
    }

    #[test]
    fn the_commit_waits_for_a_running_task() {
        let mut window = Window::default();
        for uid in 5..9 {
            window.read(uid);
        }
        assert_eq!(window.committable(), None);
        window.delivered(6);
        window.delivered(7);
        assert_eq!(window.committable(), None, "task 5 still runs");
        window.delivered(5);
        assert_eq!(window.committable(), Some(7));
        assert_eq!(window.pending().collect::<Vec<_>>(), [8]);
        window.read(6);
        assert_eq!(window.pending().collect::<Vec<_>>(), [8], "a delivered record read again is not pending again");
    }

    proptest! {
        /// However tasks finish, the commit never passes an undelivered task and reaches the
        /// end once every task is delivered.
        #[test]
        fn commits_cover_only_delivered_prefixes(first in 0u64..100, count in 1u64..40, order in proptest::collection::vec(any::<prop::sample::Index>(), 0..60)) {
            let mut window = Window::default();
            let uids: Vec<u64> = (first..first + count).collect();
            uids.iter().for_each(|&uid| window.read(uid));
            let mut delivered = BTreeSet::new();
            for index in order {
                let uid = *index.get(&uids);
                window.delivered(uid);
                delivered.insert(uid);
                if let Some(upto) = window.committable() {
                    prop_assert!((first..=upto).all(|uid| delivered.contains(&uid)));
                }
            }
            uids.iter().for_each(|&uid| window.delivered(uid));
            prop_assert_eq!(window.committable(), Some(first + count - 1));
            prop_assert_eq!(window.pending().count(), 0);
        }
    }
}
