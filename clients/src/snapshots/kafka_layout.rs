//! How a snapshot is laid out on Kafka (pure): chunks in one topic, a manifest per snapshot in
//! another, and the fold of the manifest topic into the snapshots it still holds.
//!
//! A snapshot is written as chunks of at most the broker's message size, each keyed
//! `<write>/<index>` (`write` is unique per put, so two puts of one name never mix their
//! chunks, even after compaction), then one manifest record keyed by the snapshot's name naming
//! the write, the chunk count, the offsets the chunks lie between, the length and an XXH3-64 of
//! the whole. Deleting writes a tombstone (no payload) for the name. The newest record of a
//! name wins, as compaction keeps it. A reader assembles the chunks of the write its manifest
//! names and checks count, length and checksum: anything else is an error, never wrong bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::SnapshotName;
use crate::log::LogError;

/// The only manifest version this build writes and reads.
const MANIFEST_VERSION: u32 = 1;

/// What the manifest record of a snapshot says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    pub version: u32,
    /// Unique per put: the chunks' keys start with it.
    pub write: String,
    pub chunks: u32,
    /// Offsets of the first and last chunk in the chunk topic (others may lie between).
    pub first_offset: u64,
    pub last_offset: u64,
    pub bytes: u64,
    /// XXH3-64 of the whole snapshot, 16 lowercase hex digits.
    pub xxh3: String,
}

/// One record of the manifest topic, as read: a key and a payload, absent for a tombstone.
pub struct ManifestRecord<'r> {
    pub key: &'r str,
    pub payload: Option<&'r [u8]>,
}

impl Manifest {
    /// The manifest of the snapshot `summed` saw, written as `write` at
    /// `first_offset..=last_offset`.
    pub fn of(summed: &Summing, write: &str, chunks: u32, first_offset: u64, last_offset: u64) -> Manifest {
        Manifest {
            version: MANIFEST_VERSION,
            write: write.to_owned(),
            chunks,
            first_offset,
            last_offset,
            bytes: summed.bytes,
            xxh3: summed.checksum(),
        }
    }

    pub fn chunk_key(&self, index: u32) -> String {
        chunk_key(&self.write, index)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a manifest serializes")
    }

    /// Puts the chunks of this write (given as key → bytes, any order) back together, checking
    /// count, length and checksum.
    pub fn assemble(&self, name: &SnapshotName, chunks: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, LogError> {
        let corrupt = |why: String| LogError::Broker(format!("snapshot {name} on Kafka: {why}"));
        let mut whole = Vec::with_capacity(self.bytes as usize);
        for index in 0..self.chunks {
            let chunk =
                chunks.get(&self.chunk_key(index)).ok_or_else(|| corrupt(format!("chunk {index} of {} is missing", self.chunks)))?;
            whole.extend_from_slice(chunk);
        }
        if whole.len() as u64 != self.bytes {
            return Err(corrupt(format!("{} bytes where its manifest says {}", whole.len(), self.bytes)));
        }
        if Summing::of(&whole).checksum() != self.xxh3 {
            return Err(corrupt("its checksum differs from its manifest's".into()));
        }
        Ok(whole)
    }
}

pub fn chunk_key(write: &str, index: u32) -> String {
    format!("{write}/{index}")
}

/// The length and XXH3-64 of a snapshot, taken a piece at a time as it is written.
#[derive(Default)]
pub struct Summing {
    hasher: xxhash_rust::xxh3::Xxh3,
    bytes: u64,
}

impl Summing {
    pub fn of(snapshot: &[u8]) -> Summing {
        let mut summing = Summing::default();
        summing.update(snapshot);
        summing
    }

    pub fn update(&mut self, piece: &[u8]) {
        self.hasher.update(piece);
        self.bytes += piece.len() as u64;
    }

    /// 16 lowercase hex digits, as a manifest holds it.
    fn checksum(&self) -> String {
        format!("{:016x}", self.hasher.digest())
    }
}

/// The snapshots the manifest topic holds, read in log order: the last record of each name wins
/// (a tombstone removes it). Records whose key is no snapshot name, or whose manifest this build
/// cannot read, are skipped (the name is then not listed).
pub fn live_manifests<'r>(records: impl IntoIterator<Item = ManifestRecord<'r>>) -> BTreeMap<SnapshotName, Manifest> {
    let mut live = BTreeMap::new();
    for record in records {
        let Ok(name) = record.key.parse::<SnapshotName>() else { continue };
        let manifest = record
            .payload
            .and_then(|payload| serde_json::from_slice::<Manifest>(payload).ok())
            .filter(|manifest| manifest.version == MANIFEST_VERSION);
        match manifest {
            Some(manifest) => live.insert(name, manifest),
            None => live.remove(&name),
        };
    }
    live
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name(tasks: u64) -> SnapshotName {
        SnapshotName::new(tasks, 0, 0, "ab").unwrap()
    }

    /// `snapshot` cut as a put cuts it: pieces of `limit` bytes until a shorter one (which may
    /// be empty only as the first).
    fn chunks(snapshot: &[u8], limit: usize) -> Vec<&[u8]> {
        let mut pieces = Vec::new();
        let mut rest = snapshot;
        loop {
            let piece = &rest[..rest.len().min(limit)];
            rest = &rest[piece.len()..];
            if piece.is_empty() && !pieces.is_empty() {
                return pieces;
            }
            pieces.push(piece);
            if piece.len() < limit {
                return pieces;
            }
        }
    }

    fn stored(manifest: &Manifest, snapshot: &[u8], limit: usize) -> BTreeMap<String, Vec<u8>> {
        chunks(snapshot, limit).into_iter().enumerate().map(|(index, chunk)| (manifest.chunk_key(index as u32), chunk.to_vec())).collect()
    }

    proptest! {
        #[test]
        fn chunks_reassemble_to_the_snapshot(snapshot in proptest::collection::vec(any::<u8>(), 0..2000), limit in 1usize..300) {
            let pieces = chunks(&snapshot, limit);
            prop_assert!(pieces.iter().all(|piece| piece.len() <= limit));
            let manifest = Manifest::of(&Summing::of(&snapshot), "w1", pieces.len() as u32, 10, 20);
            prop_assert_eq!(manifest.assemble(&name(1), &stored(&manifest, &snapshot, limit)).unwrap(), snapshot);
        }

        /// A flipped byte, a missing chunk or another write's chunk is an error, never wrong bytes.
        #[test]
        fn damaged_chunks_are_refused(snapshot in proptest::collection::vec(any::<u8>(), 1..2000), limit in 1usize..300, at in any::<prop::sample::Index>()) {
            let pieces = chunks(&snapshot, limit);
            let manifest = Manifest::of(&Summing::of(&snapshot), "w1", pieces.len() as u32, 0, 0);
            let mut flipped = stored(&manifest, &snapshot, limit);
            let key = manifest.chunk_key(at.index(pieces.len()) as u32);
            flipped.get_mut(&key).unwrap()[0] ^= 0x20;
            prop_assert!(manifest.assemble(&name(1), &flipped).is_err());
            let mut missing = stored(&manifest, &snapshot, limit);
            missing.remove(&key);
            prop_assert!(manifest.assemble(&name(1), &missing).is_err());
            let other = Manifest { write: "w2".into(), ..manifest.clone() };
            prop_assert!(other.assemble(&name(1), &stored(&manifest, &snapshot, limit)).is_err());
        }
    }

    #[test]
    fn the_last_record_of_a_name_wins() {
        let (one, two) = (Manifest::of(&Summing::of(b"one"), "w1", 1, 0, 0), Manifest::of(&Summing::of(b"two"), "w2", 1, 1, 1));
        let (one_bytes, two_bytes) = (one.to_bytes(), two.to_bytes());
        let (first, second) = (name(1).to_string(), name(2).to_string());
        let records = vec![
            ManifestRecord { key: &first, payload: Some(&one_bytes) },
            ManifestRecord { key: &second, payload: Some(&one_bytes) },
            ManifestRecord { key: "not-a-snapshot", payload: Some(&one_bytes) },
            ManifestRecord { key: &second, payload: Some(&two_bytes) },
            ManifestRecord { key: &first, payload: None },
        ];
        assert_eq!(live_manifests(records), BTreeMap::from([(name(2), two)]));
    }

    #[test]
    fn an_unreadable_manifest_hides_its_name() {
        let good = Manifest::of(&Summing::of(b"one"), "w1", 1, 0, 0).to_bytes();
        let future = br#"{"version":2,"write":"w","chunks":1,"firstOffset":0,"lastOffset":0,"bytes":3,"xxh3":"0"}"#;
        let key = name(1).to_string();
        let records = vec![ManifestRecord { key: &key, payload: Some(&good) }, ManifestRecord { key: &key, payload: Some(future) }];
        assert!(live_manifests(records).is_empty());
    }
}
