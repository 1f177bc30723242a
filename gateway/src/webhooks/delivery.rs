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

/// `bytes` as a gzip stream Meilisearch's receivers decode (`Content-Encoding: gzip`), in
/// stored (uncompressed) deflate blocks: the format without a compressor.
pub fn gzip_stored(bytes: &[u8]) -> Vec<u8> {
    const MAX_BLOCK: usize = 65_535;
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut blocks = bytes.chunks(MAX_BLOCK).peekable();
    if blocks.peek().is_none() {
        out.extend([1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        let last = u8::from(blocks.peek().is_none());
        let len = block.len() as u16;
        out.push(last);
        out.extend(len.to_le_bytes());
        out.extend((!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend(crc32(bytes).to_le_bytes());
    out.extend((bytes.len() as u32).to_le_bytes());
    out
}

/// CRC-32 (IEEE 802.3), as gzip's trailer carries it.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reads back a stream [`gzip_stored`] wrote (stored blocks only).
    pub fn gunzip_stored(stream: &[u8]) -> Vec<u8> {
        assert_eq!(&stream[..3], &[0x1f, 0x8b, 8]);
        let mut at = 10;
        let mut out = Vec::new();
        loop {
            let last = stream[at] & 1 == 1;
            assert_eq!(stream[at] >> 1, 0, "a stored block");
            let len = u16::from_le_bytes([stream[at + 1], stream[at + 2]]);
            assert_eq!(!len, u16::from_le_bytes([stream[at + 3], stream[at + 4]]));
            out.extend_from_slice(&stream[at + 5..at + 5 + len as usize]);
            at += 5 + len as usize;
            if last {
                break;
            }
        }
        assert_eq!(u32::from_le_bytes(stream[at..at + 4].try_into().unwrap()), crc32(&out));
        assert_eq!(u32::from_le_bytes(stream[at + 4..at + 8].try_into().unwrap()), out.len() as u32);
        out
    }

    #[test]
    fn crc_and_stream_follow_the_format() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926, "the standard check value");
        // The empty stream as `gzip -n -1 < /dev/null` writes its payload: one empty final block.
        let empty = gzip_stored(b"");
        assert_eq!(&empty[10..15], &[1, 0, 0, 0xff, 0xff]);
        assert_eq!(gunzip_stored(&empty), b"");
        let big = vec![b'x'; 200_000];
        assert_eq!(gunzip_stored(&gzip_stored(&big)), big);
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
