use super::*;

fn name(tasks: u64, digest: &str) -> SnapshotName {
    SnapshotName::new(tasks, tasks * 2, tasks / 2, digest).unwrap()
}

#[tokio::test]
async fn put_get_list_and_delete() {
    let store = MemorySnapshotStore::new();
    assert_eq!(store.list().await.unwrap(), vec![]);
    assert_eq!(store.get(&name(1, "aa")).await.unwrap(), None);
    store.put(&name(1, "aa"), Bytes::from_static(b"one")).await.unwrap();
    store.put(&name(5, "bb"), Bytes::from_static(b"five")).await.unwrap();
    assert_eq!(store.get(&name(5, "bb")).await.unwrap(), Some(Bytes::from_static(b"five")));
    assert_eq!(
        newest_first(&store.list().await.unwrap().iter().map(ToString::to_string).collect::<Vec<_>>()),
        vec![name(5, "bb"), name(1, "aa")]
    );
    store.delete(&name(5, "bb")).await.unwrap();
    store.delete(&name(5, "bb")).await.unwrap();
    assert_eq!(store.list().await.unwrap(), vec![name(1, "aa")]);
}

#[tokio::test]
async fn put_and_prune_keeps_the_newest() {
    let store = MemorySnapshotStore::new();
    for tasks in [1, 3, 4] {
        put_and_prune(&store, &name(tasks, "ab"), Bytes::from(tasks.to_string()), 2).await.unwrap();
    }
    let sorted = |mut names: Vec<SnapshotName>| {
        names.sort();
        names
    };
    assert_eq!(sorted(store.list().await.unwrap()), vec![name(3, "ab"), name(4, "ab")]);
    // A writer that is behind (it raced a faster one) stores its snapshot and deletes nothing
    // newer than it: the next writer that is ahead prunes it.
    assert_eq!(put_and_prune(&store, &name(2, "cd"), Bytes::from_static(b"late"), 2).await.unwrap(), vec![]);
    assert_eq!(sorted(store.list().await.unwrap()), vec![name(2, "cd"), name(3, "ab"), name(4, "ab")]);
    let deleted = put_and_prune(&store, &name(6, "ef"), Bytes::from_static(b"six"), 2).await.unwrap();
    assert_eq!(deleted, vec![name(3, "ab"), name(2, "cd")]);
    assert_eq!(sorted(store.list().await.unwrap()), vec![name(4, "ab"), name(6, "ef")]);
    assert_eq!(store.get(&name(6, "ef")).await.unwrap(), Some(Bytes::from_static(b"six")));
}

#[tokio::test]
async fn the_same_name_twice_is_stored_once() {
    let store = MemorySnapshotStore::new();
    for _ in 0..2 {
        put_and_prune(&store, &name(7, "ab"), Bytes::from_static(b"same"), 1).await.unwrap();
    }
    assert_eq!(store.list().await.unwrap(), vec![name(7, "ab")]);
}
