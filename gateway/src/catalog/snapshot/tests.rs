use super::*;
use crate::catalog::test_history::*;
use crate::catalog::DEFAULT_TASK_LIMIT;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// A history with a bit of everything: writes finished and not, a cancelation, a deletion
/// naming a swap, events and `meta` records still to be folded.
fn busy_history() -> History {
    let mut history = History::new();
    for step in [
        Step::Write,
        Step::Swap,
        Step::Write,
        Step::Start(0),
        Step::Finish(0, false),
        Step::Start(1),
        Step::Finish(1, false),
        Step::Cancel(vec![2]),
        Step::Delete(vec![1, 3]),
        Step::Write,
    ] {
        history.step(&step);
    }
    history
}

proptest! {
    /// A gateway that folds part of the logs at any pace, snapshots, restarts from the snapshot
    /// and folds the rest from the positions it covers ends exactly where a gateway that
    /// folded everything ends: same bytes of state, same task objects, same memory.
    #[test]
    fn a_restart_from_a_snapshot_ends_where_a_full_fold_ends((steps, choices) in histories(), cut in 0usize..200) {
        let mut history = History::new();
        for step in &steps {
            history.step(step);
        }
        let mut before = Catalog::new();
        fold_interleaved(&mut before, &history.logs, &choices, cut);
        let snapshot = before.snapshot();
        let mut after = Catalog::from_snapshot(&snapshot, DEFAULT_TASK_LIMIT).unwrap();
        prop_assert_eq!(after.snapshot(), snapshot, "a snapshot reads back to the same state");
        prop_assert_eq!(after.covers(), before.covers());
        fold_interleaved(&mut after, &history.logs, &choices, usize::MAX);
        prop_assert_eq!(after.snapshot(), history.decider.snapshot());
        let count = history.logs.tasks.len();
        prop_assert_eq!(views(&after, count), views(&history.decider, count));
        prop_assert_eq!(after.footprint(), history.decider.footprint());
    }
}

#[test]
fn the_header_says_what_the_snapshot_covers() {
    let history = busy_history();
    let snapshot = history.decider.snapshot();
    let (header, body) = SnapshotHeader::read(&snapshot).unwrap();
    assert_eq!((header.format.as_str(), header.version), (SNAPSHOT_FORMAT, SNAPSHOT_VERSION));
    let events = history.logs.events.len() as u64;
    assert_eq!(
        header.covers,
        SnapshotCovers { tasks: history.logs.tasks.len() as u64, meta: history.logs.meta.len() as u64, task_events: [(0, events)].into() }
    );
    assert_eq!(header.body_bytes, body.len() as u64);
    let restored = Catalog::from_snapshot(&snapshot, DEFAULT_TASK_LIMIT).unwrap();
    assert_eq!(views(&restored, 20), views(&history.decider, 20));
    assert_eq!(restored.index("b"), history.decider.index("b"));
}

#[test]
fn a_corrupt_snapshot_is_refused_with_its_reason() {
    let snapshot = busy_history().decider.snapshot();
    let header_end = snapshot.iter().position(|&byte| byte == b'\n').unwrap();
    let refused = |bytes: &[u8]| Catalog::from_snapshot(bytes, DEFAULT_TASK_LIMIT).err();

    let mut flipped = snapshot.clone();
    let last = flipped.len() - 2;
    flipped[last] ^= 0x01;
    assert_eq!(refused(&flipped), Some(SnapshotError::ChecksumMismatch));

    let body_bytes = (snapshot.len() - header_end - 1) as u64;
    assert_eq!(refused(&snapshot[..snapshot.len() - 7]), Some(SnapshotError::Truncated { expected: body_bytes, found: body_bytes - 7 }));

    let (mut header, _) = SnapshotHeader::read(&snapshot).unwrap();
    header.version = SNAPSHOT_VERSION + 1;
    let mut future = serde_json::to_vec(&header).unwrap();
    future.extend_from_slice(&snapshot[header_end..]);
    assert_eq!(refused(&future), Some(SnapshotError::UnsupportedVersion { found: SNAPSHOT_VERSION + 1 }));

    // A body that matches its checksum but is not a catalog (written by a broken writer).
    let body = br#"{"indexes":{}}"#;
    header.version = SNAPSHOT_VERSION;
    header.body_bytes = body.len() as u64;
    header.sha256 = hex::encode(Sha256::digest(body));
    let mut wrong = serde_json::to_vec(&header).unwrap();
    wrong.push(b'\n');
    wrong.extend_from_slice(body);
    assert!(matches!(refused(&wrong), Some(SnapshotError::Malformed(_))));

    assert!(matches!(refused(b"PK\x03\x04 not json\n{}"), Some(SnapshotError::NotASnapshot(_))));
    assert!(matches!(refused(b""), Some(SnapshotError::NotASnapshot(_))));
}

#[test]
fn the_key_set_rides_along_and_is_verified_with_the_rest() {
    let history = busy_history();
    let keys = KeysSnapshot {
        meta: 3,
        changes: 4,
        keys: crate::auth::default_keys("a-master-key-of-sixteen-bytes", time::OffsetDateTime::UNIX_EPOCH),
    };
    let snapshot = history.decider.snapshot_with_keys(Some(&keys));
    let (restored, restored_keys) = Catalog::from_snapshot_with_keys(&snapshot, DEFAULT_TASK_LIMIT).unwrap();
    assert_eq!(restored_keys, Some(keys));
    assert_eq!(restored.snapshot(), history.decider.snapshot(), "the catalog part is unchanged");
    assert_eq!(Catalog::from_snapshot_with_keys(&history.decider.snapshot(), DEFAULT_TASK_LIMIT).unwrap().1, None);
    let mut corrupt = snapshot.clone();
    let at = corrupt.len() - 10;
    corrupt[at] ^= 0x01;
    assert_eq!(Catalog::from_snapshot_with_keys(&corrupt, DEFAULT_TASK_LIMIT).err(), Some(SnapshotError::ChecksumMismatch));
}

#[test]
fn tasks_out_of_uid_order_are_refused() {
    let snapshot = busy_history().decider.snapshot();
    let (mut header, body) = SnapshotHeader::read(&snapshot).unwrap();
    let mut body: serde_json::Value = serde_json::from_slice(body).unwrap();
    body["tasks"].as_array_mut().unwrap().reverse();
    let body = serde_json::to_vec(&body).unwrap();
    header.body_bytes = body.len() as u64;
    header.sha256 = hex::encode(Sha256::digest(&body));
    let mut reordered = serde_json::to_vec(&header).unwrap();
    reordered.push(b'\n');
    reordered.extend_from_slice(&body);
    let refused = Catalog::from_snapshot(&reordered, DEFAULT_TASK_LIMIT).err();
    assert!(matches!(&refused, Some(SnapshotError::Malformed(reason)) if reason.contains("out of uid order")), "{refused:?}");
}

/// Gives at most `piece` bytes per read, then fails with an I/O error once `fail_after` bytes
/// were given (a connection lost midway).
struct Trickle<'b> {
    bytes: &'b [u8],
    piece: usize,
    fail_after: usize,
    given: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.given >= self.fail_after {
            return Err(io::Error::new(io::ErrorKind::ConnectionReset, "the store went away"));
        }
        let end = (self.given + self.piece.min(buf.len())).min(self.bytes.len()).min(self.fail_after);
        let given = end - self.given;
        buf[..given].copy_from_slice(&self.bytes[self.given..end]);
        self.given = end;
        Ok(given)
    }
}

fn trickle(bytes: &[u8], piece: usize) -> Trickle<'_> {
    Trickle { bytes, piece, fail_after: usize::MAX, given: 0 }
}

/// Takes at most `piece` bytes per write.
struct Sip {
    written: Vec<u8>,
    piece: usize,
}

impl Write for Sip {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let taken = buf.len().min(self.piece);
        self.written.extend_from_slice(&buf[..taken]);
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

proptest! {
    /// Written and read a few bytes at a time, a snapshot is byte for byte the one made whole
    /// in memory, and reads back to the same state.
    #[test]
    fn a_streamed_snapshot_is_the_whole_one(piece in 1usize..4096) {
        let catalog = busy_history().decider;
        let whole = catalog.snapshot();
        let mut sip = Sip { written: Vec::new(), piece };
        let header = catalog.write_snapshot_body(None, &mut sip).unwrap();
        let mut streamed = header.to_line();
        streamed.extend_from_slice(&sip.written);
        prop_assert_eq!(&streamed, &whole);
        let read = Catalog::read_snapshot(trickle(&whole, piece), DEFAULT_TASK_LIMIT).unwrap();
        prop_assert_eq!(&read.header, &SnapshotHeader::read(&whole).unwrap().0);
        prop_assert_eq!(read.catalog.snapshot(), whole);
    }

    /// A stream that fails anywhere in the body is refused as a cut body, never decoded.
    #[test]
    fn a_stream_failing_midway_is_refused_as_cut(piece in 1usize..4096, at in any::<prop::sample::Index>()) {
        let whole = busy_history().decider.snapshot();
        let body_start = whole.iter().position(|&byte| byte == b'\n').unwrap() + 1;
        let body_bytes = (whole.len() - body_start) as u64;
        let fail_after = body_start + at.index(whole.len() - body_start);
        let cut = Trickle { fail_after, ..trickle(&whole, piece) };
        let refused = Catalog::read_snapshot(cut, DEFAULT_TASK_LIMIT).err();
        prop_assert_eq!(refused, Some(SnapshotError::Truncated { expected: body_bytes, found: (fail_after - body_start) as u64 }));
    }
}

#[test]
fn a_body_longer_than_its_header_says_is_refused() {
    let whole = busy_history().decider.snapshot();
    let (header, _) = SnapshotHeader::read(&whole).unwrap();
    for extra in [&b"  "[..], b"{}", b"\n\n\n\n\n\n\n\n\n\n"] {
        let mut longer = whole.clone();
        longer.extend_from_slice(extra);
        let refused = Catalog::read_snapshot(trickle(&longer, 100), DEFAULT_TASK_LIMIT).err();
        assert_eq!(refused, Some(SnapshotError::Truncated { expected: header.body_bytes, found: header.body_bytes + extra.len() as u64 }));
    }
}

#[test]
fn a_header_line_longer_than_a_header_is_refused() {
    let mut long = vec![b' '; miroir_clients::snapshots::HEADER_MAX_BYTES];
    long.extend_from_slice(&busy_history().decider.snapshot());
    assert!(matches!(Catalog::read_snapshot(long.as_slice(), DEFAULT_TASK_LIMIT).err(), Some(SnapshotError::NotASnapshot(_))));
}
