use super::token::{FoldedView, Positions, SessionProgress, SessionToken, MAX_PENDING};
use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// A cluster's history in the model: task `u` is recorded at `tasks` position `u` and finishes
/// with the event at `finish[u] = (partition, position)` of `task-events`.
#[derive(Debug, Clone)]
struct History {
    finish: Vec<(u32, u64)>,
}

/// One gateway's catalog in the model: folded up to `positions`.
struct ModelView<'a> {
    history: &'a History,
    positions: Positions,
}

impl FoldedView for ModelView<'_> {
    fn positions(&self) -> Positions {
        self.positions.clone()
    }

    fn is_settled(&self, uid: u64) -> bool {
        let Some(&(partition, at)) = self.history.finish.get(uid as usize) else { return false };
        uid < self.positions.tasks && self.positions.events.get(&partition).copied().unwrap_or(0) > at
    }
}

fn history() -> impl Strategy<Value = History> {
    prop::collection::vec((0u32..2, 0u64..8), 1..12).prop_map(|finish| History { finish })
}

fn positions() -> impl Strategy<Value = Positions> {
    (0u64..14, 0u64..4, 0u64..10, 0u64..10).prop_map(|(tasks, meta, e0, e1)| Positions {
        tasks,
        meta,
        events: [(0, e0), (1, e1)].into_iter().filter(|(_, next)| *next > 0).collect(),
    })
}

/// What a client does next: write a task through a gateway folded up to some positions, read
/// through one, or merge a token it kept from earlier (concurrent requests).
#[derive(Debug, Clone)]
enum Step {
    Write(usize, Positions),
    Read(Positions),
    MergeEarlier(usize),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        (0usize..12, positions()).prop_map(|(task, at)| Step::Write(task, at)),
        positions().prop_map(Step::Read),
        (0usize..8).prop_map(Step::MergeEarlier),
    ];
    prop::collection::vec(step, 1..24)
}

fn token() -> impl Strategy<Value = SessionToken> {
    (positions(), prop::collection::btree_set(0u64..1_000, 0..6), prop::option::of((0u64..50, 1u64..50)))
        .prop_map(|(positions, pending, barrier)| SessionToken { positions, pending, barrier: barrier.map(|(from, len)| from..from + len) })
}

proptest! {
    /// The promise: whenever a read is served, the gateway serving it sees every task the session
    /// wrote finished, and has folded at least as far as any gateway whose answer the client kept
    /// (monotonic reads), however tokens were refreshed, merged or kept.
    #[test]
    fn a_served_read_sees_every_write_of_the_session(history in history(), steps in steps()) {
        let mut token = SessionToken::default();
        let mut kept = vec![token.clone()];
        let mut written = Vec::new();
        for step in steps {
            match step {
                Step::Write(task, at) => {
                    let uid = (task % history.finish.len()) as u64;
                    written.push(uid);
                    token = token.merge(&SessionToken::wrote(uid)).refreshed(&ModelView { history: &history, positions: at });
                }
                Step::Read(at) => {
                    let view = ModelView { history: &history, positions: at.clone() };
                    if let SessionProgress::Ready(next) = token.progress(&view) {
                        for uid in &written {
                            prop_assert!(view.is_settled(*uid), "task {} not finished at {:?}", uid, at);
                        }
                        prop_assert!(at.covers(&token.positions));
                        token = next;
                    }
                }
                Step::MergeEarlier(back) => token = token.merge(&kept[kept.len().saturating_sub(back + 1)]),
            }
            kept.push(token.clone());
        }
        // A gateway that has folded everything serves the session.
        let everything = Positions { tasks: 100, meta: 100, events: BTreeMap::from([(0, 100), (1, 100)]) };
        let view = ModelView { history: &history, positions: everything.join(&token.positions) };
        prop_assert!(matches!(token.progress(&view), SessionProgress::Ready(ready) if ready.pending.is_empty() && ready.barrier.is_none()));
    }

    #[test]
    fn tokens_read_back_as_written(token in token()) {
        prop_assert_eq!(SessionToken::parse(&token.to_string()), Some(token.clone()));
        let text = format!("{token}, {}", SessionToken::wrote(7));
        prop_assert_eq!(SessionToken::parse_all([text.as_str()]), Some(token.merge(&SessionToken::wrote(7))));
    }

    /// Merging is a join: the order and repetition of tokens a client sends back do not matter.
    #[test]
    fn merging_is_commutative_associative_and_idempotent(a in token(), b in token(), c in token()) {
        prop_assert_eq!(a.merge(&b), b.merge(&a));
        prop_assert_eq!(a.merge(&b).merge(&c), a.merge(&b.merge(&c)));
        prop_assert_eq!(a.merge(&a), a.clone());
    }
}

/// A client writing more tasks than a token holds without reading keeps its promise: the
/// oldest writes move into a barrier, which the read waits for as well.
#[test]
fn a_long_run_of_writes_stays_small_and_still_waits_for_the_first() {
    let history = History { finish: (0..400).map(|uid| (0, uid)).collect() };
    let nowhere = Positions::default();
    let mut token = SessionToken::default();
    for uid in 0..400 {
        token = token.merge(&SessionToken::wrote(uid)).refreshed(&ModelView { history: &history, positions: nowhere.clone() });
    }
    assert_eq!(token.pending.len(), MAX_PENDING);
    assert_eq!(token.barrier, Some(0..144));
    assert!(token.to_string().len() < 2_000, "{}", token.to_string().len());
    let almost = Positions { tasks: 400, meta: 0, events: BTreeMap::from([(0, 399)]) };
    let view = ModelView { history: &history, positions: almost.clone() };
    assert_eq!(token.progress(&view), SessionProgress::Waiting(vec![399]));
    let first_missing = Positions { events: BTreeMap::from([(0, 400)]), ..almost };
    let mut history_first_late = history.clone();
    history_first_late.finish[0] = (1, 0);
    let view = ModelView { history: &history_first_late, positions: first_missing };
    assert_eq!(token.progress(&view), SessionProgress::Waiting(vec![0]), "the oldest write, held by the barrier, is awaited");
}

#[test]
fn malformed_tokens_are_refused() {
    for text in
        ["", "s2.t1", "s1.t", "s1.tx", "s1.m1.t2", "s1.t1.t1", "s1.e0", "s1.e0-0", "s1.e0-1_0-2", "s1.b3-3", "s1.p1__2", "s1.t+1", "x"]
    {
        assert_eq!(SessionToken::parse(text), None, "{text}");
    }
    assert_eq!(SessionToken::parse("s1"), Some(SessionToken::default()));
    let token = SessionToken::parse("s1.t42.m7.e0-19_1-23.b3-9.p40_41").unwrap();
    assert_eq!(token.to_string(), "s1.t42.m7.e0-19_1-23.b3-9.p40_41");
    assert_eq!(SessionToken::parse_all(["s1.t1", "s1.t2"]), SessionToken::parse("s1.t2"));
    assert_eq!(SessionToken::parse_all(["s1.t1, bad"]), None);
}

#[test]
fn reads_are_told_from_writes() {
    for (method, path) in [
        (Method::GET, "/indexes/movies/documents"),
        (Method::POST, "/indexes/movies/search"),
        (Method::POST, "/indexes/movies/facet-search"),
        (Method::POST, "/indexes/movies/similar"),
        (Method::POST, "/indexes/movies/documents/fetch"),
        (Method::POST, "/multi-search"),
    ] {
        assert!(is_read(&method, path), "{method} {path}");
    }
    for (method, path) in [
        (Method::POST, "/indexes/movies/documents"),
        (Method::PUT, "/indexes/movies/documents"),
        (Method::DELETE, "/indexes/movies"),
        (Method::POST, "/swap-indexes"),
        (Method::POST, "/tasks/cancel"),
        (Method::PATCH, "/indexes/movies/settings"),
    ] {
        assert!(!is_read(&method, path), "{method} {path}");
    }
}

#[test]
fn errors_say_what_happened() {
    let error = timeout(&SessionProgress::Waiting(vec![3, 5]), Duration::from_millis(200));
    assert_eq!((error.code.as_str(), error.http_status), ("read_after_session_timeout", 503));
    assert_eq!(
        error.message,
        "After 200 ms the session's tasks `3`, `5` are not finished, so the read could not reflect them and was not served. Retry later."
    );
    assert_eq!(invalid_session("x").code, "invalid_session");
}
