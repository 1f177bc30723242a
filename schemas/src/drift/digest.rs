//! Digests that do not depend on how a node returns a document: object keys are hashed in
//! sorted order (node indexes holding different mixes of shards list fields in different
//! orders), and a bucket digest is a wrapping sum, so pages may arrive in any order.

use serde_json::Value;
use xxhash_rust::xxh3::xxh3_64;

/// Buckets of the document-id hash space a shard's documents are digested into. More buckets
/// re-read fewer documents when few differ; the digests cost 8 bytes each per replica.
pub const DEFAULT_BUCKETS: u32 = 256;

/// Separates the id from the document in a hashed entry (ids never contain it).
const SEPARATOR: u8 = 0xFF;

/// The bucket of a document id among `buckets`.
pub fn bucket_of(id: &str, buckets: u32) -> u32 {
    (xxh3_64(id.as_bytes()) % u64::from(buckets.max(1))) as u32
}

/// A hash of a document's content that ignores the order of object keys.
pub fn document_hash(document: &Value) -> u64 {
    let mut bytes = Vec::new();
    write_canonical(document, &mut bytes);
    xxh3_64(&bytes)
}

/// `value` as JSON with every object's keys sorted.
fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, key).expect("a string serializes");
                out.push(b':');
                write_canonical(&map[key], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar).expect("a JSON scalar serializes"),
    }
}

/// The entry of one document in its bucket's digest: its id and its content together, so a
/// changed document, a missing one and an extra one all change the digest.
pub fn entry_hash(id: &str, content_hash: u64) -> u64 {
    let mut bytes = Vec::with_capacity(id.len() + 9);
    bytes.extend_from_slice(id.as_bytes());
    bytes.push(SEPARATOR);
    bytes.extend_from_slice(&content_hash.to_le_bytes());
    xxh3_64(&bytes)
}

/// One replica's documents of a shard, folded into a digest per bucket, with their count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketDigests {
    digests: Vec<u64>,
    documents: u64,
}

impl BucketDigests {
    pub fn new(buckets: u32) -> BucketDigests {
        BucketDigests { digests: vec![0; buckets.max(1) as usize], documents: 0 }
    }

    /// Adds document `id` whose content hashes to `content_hash` ([`document_hash`]).
    pub fn add(&mut self, id: &str, content_hash: u64) {
        let bucket = bucket_of(id, self.digests.len() as u32) as usize;
        self.digests[bucket] = self.digests[bucket].wrapping_add(entry_hash(id, content_hash));
        self.documents += 1;
    }

    pub fn documents(&self) -> u64 {
        self.documents
    }

    pub fn buckets(&self) -> u32 {
        self.digests.len() as u32
    }
}

/// The buckets whose digests are not the same on every replica, in order. Replicas digested
/// with different bucket counts cannot be compared bucket by bucket: every bucket differs.
pub fn divergent_buckets(replicas: &[BucketDigests]) -> Vec<u32> {
    let Some(first) = replicas.first() else { return Vec::new() };
    if replicas.iter().any(|r| r.digests.len() != first.digests.len()) {
        return (0..first.buckets()).collect();
    }
    (0..first.digests.len()).filter(|&b| replicas.iter().any(|r| r.digests[b] != first.digests[b])).map(|b| b as u32).collect()
}
