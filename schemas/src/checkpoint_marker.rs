//! The per-replica apply checkpoint's marker: every node task an indexer enqueues carries
//! `customMetadata = miroir:<ops partition>:<position of the last op>[:<first position>]`,
//! stored by Meilisearch atomically with the data it changes (ARCHITECTURE.md, "Where state
//! lives"). The indexers read it to resume a replica; a cluster snapshot reads it to record the
//! log positions each node's snapshot covers.

const PREFIX: &str = "miroir:";

/// What one node request covered, as written into its `customMetadata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub partition: u32,
    pub last: u64,
    /// Set when the request merged operations of several Miroir tasks.
    pub merged_from: Option<u64>,
}

impl Marker {
    pub fn single(partition: u32, last: u64) -> Marker {
        Marker { partition, last, merged_from: None }
    }

    pub fn encode(&self) -> String {
        match self.merged_from {
            Some(first) => format!("{PREFIX}{}:{}:{first}", self.partition, self.last),
            None => format!("{PREFIX}{}:{}", self.partition, self.last),
        }
    }

    /// Reads a marker; `None` for metadata Miroir did not write (a user's own task).
    pub fn parse(metadata: &str) -> Option<Marker> {
        let mut parts = metadata.strip_prefix(PREFIX)?.split(':');
        let partition = parts.next()?.parse().ok()?;
        let last = parts.next()?.parse().ok()?;
        let merged_from = match parts.next() {
            Some(first) => Some(first.parse().ok()?),
            None => None,
        };
        if parts.next().is_some() || merged_from.is_some_and(|first| first > last) {
            return None;
        }
        Some(Marker { partition, last, merged_from })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn markers_round_trip(partition in any::<u32>(), last in any::<u64>(), back in proptest::option::of(any::<u64>())) {
            let marker = Marker { partition, last, merged_from: back.map(|b| last.saturating_sub(b)) };
            prop_assert_eq!(Marker::parse(&marker.encode()), Some(marker));
        }
    }

    #[test]
    fn foreign_metadata_is_not_a_marker() {
        for bad in ["", "user stuff", "miroir:", "miroir:1", "miroir:1:x", "miroir:1:5:6", "miroir:1:5:2:1", "miroir:-1:5"] {
            assert_eq!(Marker::parse(bad), None, "{bad}");
        }
    }
}
