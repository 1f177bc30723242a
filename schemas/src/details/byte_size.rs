//! Sizes as Meilisearch writes them in an `indexCompaction` task's details: the `byte-unit`
//! crate's `get_appropriate_unit(UnitType::Both)`, i.e. the largest unit, binary or decimal,
//! that is not above the size (`…, MiB, MB, KiB, KB`), with the value in Rust's shortest `f64`
//! form (`44 KiB`, `1 MB`, `1.430511474609375 MiB`, `512 B`). Indexers read the node's strings back into bytes, so a
//! cluster can sum its node indexes' sizes and write the sum the same way.

/// Units from the largest down, in the order `byte-unit` tries them.
const UNITS: [(&str, u64); 12] = [
    ("EiB", 1 << 60),
    ("EB", 1_000_000_000_000_000_000),
    ("PiB", 1 << 50),
    ("PB", 1_000_000_000_000_000),
    ("TiB", 1 << 40),
    ("TB", 1_000_000_000_000),
    ("GiB", 1 << 30),
    ("GB", 1_000_000_000),
    ("MiB", 1 << 20),
    ("MB", 1_000_000),
    ("KiB", 1 << 10),
    ("KB", 1_000),
];

/// `bytes` as Meilisearch writes a compaction size.
pub fn to_text(bytes: u64) -> String {
    match UNITS.iter().find(|(_, size)| bytes >= *size) {
        Some((unit, size)) => format!("{} {unit}", bytes as f64 / *size as f64),
        None => format!("{bytes} B"),
    }
}

/// The bytes a size written by [`to_text`] (or by a node) stands for; `None` when it is not
/// such a size.
pub fn from_text(text: &str) -> Option<u64> {
    let (value, unit) = text.trim().split_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let size = match unit {
        "B" => 1,
        unit => UNITS.iter().find(|(name, _)| *name == unit)?.1,
    };
    (value.is_finite() && value >= 0.0).then(|| (value * size as f64).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes_read_as_a_meilisearch_1_50_node_writes_them() {
        // Watched on the real binary: a compacted index of two documents.
        assert_eq!(to_text(45_056), "44 KiB");
        assert_eq!(to_text(69_632), "68 KiB");
        assert_eq!(from_text("44 KiB"), Some(45_056));
        // The largest unit not above the size, decimal ones included.
        assert_eq!(to_text(1_000_000), "1 MB");
        assert_eq!(to_text(1_500_000), "1.430511474609375 MiB");
        assert_eq!(to_text(1_048_576), "1 MiB");
        assert_eq!(to_text(1_023), "1.023 KB");
        assert_eq!(to_text(999), "999 B");
        assert_eq!(to_text(0), "0 B");
        assert_eq!(from_text("1.5 MB"), Some(1_500_000));
        for not_a_size in ["", "44", "44 kib", "x KiB", "-1 KB", "1 KiB extra"] {
            assert_eq!(from_text(not_a_size), None, "{not_a_size:?}");
        }
    }

    proptest! {
        /// Every size a node can report reads back to its bytes (up to a petabyte, f64's
        /// shortest form keeps every byte).
        #[test]
        fn a_written_size_reads_back(bytes in 0u64..(1 << 50)) {
            prop_assert_eq!(from_text(&to_text(bytes)), Some(bytes));
        }
    }
}
