//! What a succeeded index swap does to the tasks before it. Meilisearch rewrites every earlier
//! task of either index so it names the other one (`indexUid`, and the pairs of earlier swaps'
//! details): after swapping `a` and `b`, the documents once added to `a` live in `b`, and so
//! does the task that added them. A rename (a swap with `rename: true`, or an index update
//! with a new uid) moves them the same way.

use std::collections::BTreeMap;

use super::select::TaskFacts;

/// A swap task that succeeded: its uid and its pairs, applied in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedSwap {
    pub uid: u64,
    pub pairs: Vec<(String, String)>,
}

/// Per task whose names changed: original index uid → the uid it reads as now.
pub type Renames = BTreeMap<u64, BTreeMap<String, String>>;

/// Rewrites `tasks`' indexes (any order) through the swaps, in swap uid order, each swap
/// touching only tasks enqueued before it; returns what each rewritten task's names became.
pub fn apply_swaps(tasks: &mut [TaskFacts], swaps: &[AppliedSwap]) -> Renames {
    let mut swaps: Vec<&AppliedSwap> = swaps.iter().collect();
    swaps.sort_by_key(|swap| swap.uid);
    let mut renames = Renames::new();
    for swap in swaps {
        for (lhs, rhs) in &swap.pairs {
            let exchange = |name: &str| {
                if name == lhs {
                    Some(rhs)
                } else if name == rhs {
                    Some(lhs)
                } else {
                    None
                }
            };
            for task in tasks.iter_mut().filter(|task| task.uid < swap.uid) {
                if !task.indexes.iter().any(|index| exchange(index).is_some()) {
                    continue;
                }
                let names = renames.entry(task.uid).or_insert_with(|| task.indexes.iter().map(|i| (i.clone(), i.clone())).collect());
                for current in names.values_mut() {
                    if let Some(other) = exchange(current) {
                        *current = other.clone();
                    }
                }
                for index in task.indexes.iter_mut() {
                    if let Some(other) = exchange(index) {
                        *index = other.clone();
                    }
                }
            }
        }
    }
    renames
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::OffsetDateTime;

    fn task(uid: u64, indexes: &[&str]) -> TaskFacts {
        TaskFacts {
            uid,
            kind: "documentAdditionOrUpdate",
            status: "succeeded",
            indexes: indexes.iter().map(|s| s.to_string()).collect(),
            enqueued_at: OffsetDateTime::UNIX_EPOCH,
            started_at: None,
            finished_at: None,
            canceled_by: None,
        }
    }

    fn swap(uid: u64, pairs: &[(&str, &str)]) -> AppliedSwap {
        AppliedSwap { uid, pairs: pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect() }
    }

    fn names(tasks: &[TaskFacts]) -> Vec<Vec<&str>> {
        tasks.iter().map(|t| t.indexes.iter().map(String::as_str).collect()).collect()
    }

    #[test]
    fn earlier_tasks_follow_their_documents() {
        let mut tasks = vec![task(0, &["a"]), task(1, &["b"]), task(2, &["c"]), task(3, &["a", "b"]), task(5, &["a"])];
        let renames = apply_swaps(&mut tasks, &[swap(4, &[("a", "b")])]);
        assert_eq!(names(&tasks), [vec!["b"], vec!["a"], vec!["c"], vec!["b", "a"], vec!["a"]]);
        assert_eq!(renames[&0], BTreeMap::from([("a".to_owned(), "b".to_owned())]));
        assert!(!renames.contains_key(&2) && !renames.contains_key(&5), "other indexes and later tasks keep their names");

        // A second swap composes with the first; a rename moves tasks the same way.
        let renames = apply_swaps(&mut tasks, &[swap(6, &[("b", "c")]), swap(7, &[("a", "z")])]);
        assert_eq!(names(&tasks), [vec!["c"], vec!["z"], vec!["b"], vec!["c", "z"], vec!["z"]]);
        assert_eq!(renames[&1], BTreeMap::from([("a".to_owned(), "z".to_owned())]));
    }

    proptest! {
        /// Swapping the same pair twice gives every task its names back.
        #[test]
        fn a_swap_twice_is_no_change(indexes in prop::collection::vec(prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 0..3), 0..12)) {
            let original: Vec<TaskFacts> = indexes.iter().enumerate().map(|(uid, names)| task(uid as u64, names)).collect();
            let mut tasks = original.clone();
            let renames = apply_swaps(&mut tasks, &[swap(100, &[("a", "b")]), swap(101, &[("a", "b")])]);
            prop_assert_eq!(&tasks, &original);
            for names in renames.values() {
                prop_assert!(names.iter().all(|(from, to)| from == to));
            }
        }
    }
}
