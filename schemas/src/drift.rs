//! Drift between the replicas of a shard (anti-entropy), pure. A verify pass (I/O in
//! `miroir_clients::drift`) reads every replica of a shard, folds its documents into
//! [`BucketDigests`] (one order-independent digest per bucket of the document-id hash space),
//! re-reads only the documents of the buckets whose digests differ, and lets [`plan`] decide,
//! document by document, which version the replicas agree on and what each replica needs.
//! Settings are compared the same way, top-level setting by setting. `docs/repair.md` explains
//! the rule.
//!
//! * [`digest`]: canonical document hashes, buckets, per-bucket digests.
//! * [`plan`]: the reference version of each document and setting (strict majority) and the
//!   repairs each replica needs.
//! * [`report`]: what a pass found and did, as `miroirctl verify` and the admin route show it.

pub mod digest;
pub mod plan;
pub mod report;

#[cfg(test)]
mod tests;
