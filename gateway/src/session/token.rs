//! The session token of `Miroir-Session` (pure): what a client has written, carried by the
//! client so that every gateway stays stateless.
//!
//! A token holds
//! * **positions**: how far a gateway that issued it had folded `tasks`, `meta` and each
//!   `task-events` partition. A gateway that has folded at least as far sees every task the
//!   issuer saw finished as finished too (the fold is the same everywhere and a finished task
//!   stays finished), and its reads never go back in time (monotonic reads);
//! * **pending** task uids: the session's writes not yet seen finished by the issuer;
//! * a **barrier** `[from, to)`, only when a client wrote more than [`MAX_PENDING`] tasks
//!   without a read in between: every task in that range must be finished (a superset of the
//!   session's oldest writes, so the token stays small and the promise holds).
//!
//! A read is served once its gateway has folded up to the positions and sees every pending task
//! finished; the answer then carries the same session with no pending task and the reader's
//! positions. Tokens of one session merge by taking the larger position of each log and the
//! union of the pending tasks, so a client that sent requests concurrently sends every token
//! it got back and loses nothing.
//!
//! Text form: `s1` then dot-separated parts, each omitted when empty: `t<tasks folded>`,
//! `m<meta folded>`, `e<partition>-<folded>_…` (task-events), `b<from>-<to>` (barrier),
//! `p<uid>_…` (pending). For
//! example `s1.t42.m7.e0-19_1-23.p40_41`. It has no comma, so several tokens fit one header.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;

/// Version prefix of the text form.
const VERSION: &str = "s1";
/// Most pending tasks a token carries. A client that writes more without reading in between
/// gets its oldest pending uids replaced by a barrier covering them (see
/// [`SessionToken::bounded`]): reads then wait for every task of that range.
pub const MAX_PENDING: usize = 256;

/// How many unfinished tasks [`SessionProgress::Waiting`] names.
const SHOWN_OPEN: usize = 5;

/// How far a gateway's catalog has folded each log it reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Positions {
    /// `tasks` records folded (= the next task uid).
    pub tasks: u64,
    /// `meta` records folded.
    pub meta: u64,
    /// Per `task-events` partition, records folded (absent: 0).
    pub events: BTreeMap<u32, u64>,
}

impl Positions {
    /// Whether a catalog folded up to `self` has folded at least everything `other` names.
    pub fn covers(&self, other: &Positions) -> bool {
        self.tasks >= other.tasks
            && self.meta >= other.meta
            && other.events.iter().all(|(partition, &next)| self.events.get(partition).copied().unwrap_or(0) >= next)
    }

    /// The smallest positions covering both.
    pub fn join(&self, other: &Positions) -> Positions {
        let mut events = self.events.clone();
        for (&partition, &next) in &other.events {
            let entry = events.entry(partition).or_default();
            *entry = (*entry).max(next);
        }
        events.retain(|_, next| *next > 0);
        Positions { tasks: self.tasks.max(other.tasks), meta: self.meta.max(other.meta), events }
    }
}

/// A session: see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionToken {
    pub positions: Positions,
    pub pending: BTreeSet<u64>,
    /// Every task with a uid in this range must be finished (see the module documentation).
    pub barrier: Option<Range<u64>>,
}

/// What a gateway's catalog says right now, as the session rules need it.
pub trait FoldedView {
    fn positions(&self) -> Positions;
    /// Whether task `uid` is finished here, or will never run: folded and then finished,
    /// deleted (only finished tasks are deleted) or no task at all.
    fn is_settled(&self, uid: u64) -> bool;
}

/// Where a read of a session stands on one gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionProgress {
    /// Everything the session wrote is visible here: serve, and hand the client this token.
    Ready(SessionToken),
    /// This gateway has not folded up to the session's positions yet.
    Behind,
    /// These session tasks (the first few) are not finished yet.
    Waiting(Vec<u64>),
}

impl SessionToken {
    /// The session that wrote task `uid`: a reader must fold `tasks` past it and see it finished.
    pub fn wrote(uid: u64) -> SessionToken {
        SessionToken { positions: Positions { tasks: uid + 1, ..Positions::default() }, pending: BTreeSet::from([uid]), barrier: None }
    }

    /// One session made of both (what either client request knew).
    pub fn merge(&self, other: &SessionToken) -> SessionToken {
        let pending = self.pending.union(&other.pending).copied().collect();
        let barrier = hull(self.barrier.clone(), other.barrier.clone());
        SessionToken { positions: self.positions.join(&other.positions), pending, barrier }.bounded()
    }

    /// The token with at most [`MAX_PENDING`] pending tasks: the oldest ones beyond it move into
    /// the barrier (the smallest range holding them and the previous barrier), so a reader
    /// waits for them and possibly for other clients' tasks in between, never for less.
    pub fn bounded(mut self) -> SessionToken {
        while self.pending.len() > MAX_PENDING {
            let oldest = self.pending.pop_first().expect("more than MAX_PENDING");
            self.barrier = hull(self.barrier.take(), Some(oldest..oldest + 1));
        }
        self
    }

    /// The tasks a reader must see finished: the pending ones and the barrier's.
    fn awaited(&self) -> impl Iterator<Item = u64> + '_ {
        self.pending.iter().copied().chain(self.barrier.clone().unwrap_or_default())
    }

    /// The same session as `view` can vouch for it: pending tasks it sees finished are dropped
    /// (the barrier too, once all its tasks are) and the positions raised to its own, which
    /// cover those tasks' completion.
    pub fn refreshed(&self, view: &impl FoldedView) -> SessionToken {
        let pending = self.pending.iter().copied().filter(|&uid| !view.is_settled(uid)).collect();
        let barrier = self.barrier.clone().filter(|range| !range.clone().all(|uid| view.is_settled(uid)));
        SessionToken { positions: self.positions.join(&view.positions()), pending, barrier }
    }

    /// Where a read of this session stands on a gateway whose catalog is `view`.
    pub fn progress(&self, view: &impl FoldedView) -> SessionProgress {
        if !view.positions().covers(&self.positions) {
            return SessionProgress::Behind;
        }
        let open: Vec<u64> = self.awaited().filter(|&uid| !view.is_settled(uid)).take(SHOWN_OPEN).collect();
        match open.is_empty() {
            true => SessionProgress::Ready(self.refreshed(view)),
            false => SessionProgress::Waiting(open),
        }
    }

    /// Parses one token's text form; `None` if it is not one.
    pub fn parse(text: &str) -> Option<SessionToken> {
        let mut parts = text.trim().split('.');
        if parts.next()? != VERSION {
            return None;
        }
        let mut token = SessionToken::default();
        let mut last_tag = None;
        for part in parts {
            let (tag, value) = part.split_at_checked(1)?;
            // Each part once, in the documented order: one text per token.
            let rank = "tmebp".find(tag)?;
            if last_tag.is_some_and(|last| last >= rank) || value.is_empty() {
                return None;
            }
            last_tag = Some(rank);
            match tag {
                "t" => token.positions.tasks = number(value)?,
                "m" => token.positions.meta = number(value)?,
                "e" => {
                    for pair in value.split('_') {
                        let (partition, next) = pair.split_once('-')?;
                        let next = number(next)?;
                        if next == 0 || token.positions.events.insert(number(partition)?, next).is_some() {
                            return None;
                        }
                    }
                }
                "b" => {
                    let (from, to) = value.split_once('-')?;
                    let (from, to) = (number(from)?, number(to)?);
                    token.barrier = Some(from..to).filter(|range| !range.is_empty());
                    token.barrier.as_ref()?;
                }
                _ => {
                    for uid in value.split('_') {
                        token.pending.insert(number(uid)?);
                    }
                }
            }
        }
        (token.pending.len() <= MAX_PENDING).then_some(token)
    }

    /// Parses and merges every token in a header value (tokens separated by commas or spaces,
    /// as HTTP joins repeated headers); `None` if one is not a token.
    pub fn parse_all<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<SessionToken> {
        let mut merged = SessionToken::default();
        for text in values.into_iter().flat_map(|value| value.split([',', ' '])).filter(|text| !text.trim().is_empty()) {
            merged = merged.merge(&SessionToken::parse(text)?);
        }
        Some(merged)
    }
}

/// The smallest range holding both (either may be absent).
fn hull(a: Option<Range<u64>>, b: Option<Range<u64>>) -> Option<Range<u64>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.start.min(b.start)..a.end.max(b.end)),
        (a, b) => a.or(b),
    }
}

/// A decimal number without sign or leading `+`.
fn number<T: std::str::FromStr>(text: &str) -> Option<T> {
    text.bytes().all(|byte| byte.is_ascii_digit()).then(|| text.parse().ok()).flatten()
}

impl fmt::Display for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn joined(items: impl Iterator<Item = String>) -> String {
            items.collect::<Vec<_>>().join("_")
        }
        f.write_str(VERSION)?;
        let Positions { tasks, meta, events } = &self.positions;
        if *tasks > 0 {
            write!(f, ".t{tasks}")?;
        }
        if *meta > 0 {
            write!(f, ".m{meta}")?;
        }
        let events: Vec<_> = events.iter().filter(|(_, &next)| next > 0).collect();
        if !events.is_empty() {
            write!(f, ".e{}", joined(events.into_iter().map(|(partition, next)| format!("{partition}-{next}"))))?;
        }
        if let Some(Range { start, end }) = &self.barrier {
            write!(f, ".b{start}-{end}")?;
        }
        if !self.pending.is_empty() {
            write!(f, ".p{}", joined(self.pending.iter().map(u64::to_string)))?;
        }
        Ok(())
    }
}
