use super::*;
use proptest::prelude::*;

proptest! {
    /// Two requests share a digest only when every part is the same: the length prefixes keep
    /// bytes from moving between parts unnoticed.
    #[test]
    fn digests_differ_when_any_part_differs(
        a in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..6), 4),
        b in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..6), 4),
    ) {
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        let digest = |p: &[Vec<u8>]| request_digest(&text(&p[0]), &text(&p[1]), &p[2], &p[3]);
        let same = text(&a[0]) == text(&b[0]) && text(&a[1]) == text(&b[1]) && a[2] == b[2] && a[3] == b[3];
        prop_assert_eq!(digest(&a) == digest(&b), same);
    }
}

#[test]
fn moving_bytes_between_body_and_query_changes_the_digest() {
    let one = request_digest("POST", "/indexes/a/documents?x", b"application/json", b"[]");
    let two = request_digest("POST", "/indexes/a/documents?", b"application/json", b"x[]");
    assert_ne!(one, two);
    assert_eq!(one, request_digest("POST", "/indexes/a/documents?x", b"application/json", b"[]"));
}

#[test]
fn keys_are_visible_ascii_up_to_255_bytes() {
    for key in ["a", "0193d5a2-7c1e-7f3a-9b8e-2f1d4c5b6a7e", "order:42/retry", &"k".repeat(255)] {
        assert!(is_key(key), "{key}");
    }
    for key in ["", "a b", "é", "tab\there", &"k".repeat(256)] {
        assert!(!is_key(key), "{key:?}");
    }
}

#[test]
fn keys_are_scoped_by_the_api_key() {
    let uid = uuid::Uuid::nil();
    assert_eq!(scoped_key(None, "k"), "*/k");
    assert_eq!(scoped_key(Some(&AuthContext::Unrestricted), "k"), "*/k");
    assert_eq!(
        scoped_key(Some(&AuthContext::Key { key_uid: uid, key_indexes: Vec::new(), tenant: None, can_create_indexes: false }), "k"),
        format!("{uid}/k")
    );
}
