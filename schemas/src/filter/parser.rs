//! The filter grammar:
//!
//! ```text
//! filter     = or EOF
//! or         = and ("OR" and)*
//! and        = not ("AND" not)*
//! not        = "NOT" not | primary
//! primary    = "(" or ")" | geo | value "IN" [..] | value "NOT" "IN" [..]
//!            | value ("=" | "!=" | ">" | ">=" | "<" | "<=") value
//!            | value "IS" ["NOT"] ("NULL" | "EMPTY") | vectors | value ["NOT"] "EXISTS"
//!            | value value "TO" value | value ["NOT"] "CONTAINS" value
//!            | value ["NOT"] "STARTS WITH" value | "_foreign(" value "," or ")"
//! ```
//!
//! The alternatives of `primary` are tried in Meilisearch's order, because the order decides
//! which error a wrong filter gets.

use super::ast::{Condition, Filter, Token};
use super::error::SyntaxErrorKind as K;
use super::scan::{expected_char, Fail, PResult, Parser, MAX_DEPTH};

/// One alternative of `primary`: (parser, position, depth).
type Primary<'a> = for<'p> fn(&'p Parser<'a>, usize, usize) -> PResult<Filter>;

impl<'a> Parser<'a> {
    /// The whole input as one filter.
    pub(crate) fn filter(&self) -> Result<Filter, Fail> {
        let (end, filter) = self.or(0, 0)?;
        if end == self.src.len() {
            Ok(filter)
        } else {
            Err(self.soft(K::ExpectedEof, end))
        }
    }

    fn depth_guard(&self, at: usize, depth: usize) -> Result<(), Fail> {
        if depth > MAX_DEPTH {
            Err(self.soft(K::DepthLimitReached, at))
        } else {
            Ok(())
        }
    }

    pub(crate) fn or(&self, at: usize, depth: usize) -> PResult<Filter> {
        self.depth_guard(at, depth)?;
        self.chain(at, depth, "OR", Self::and, Filter::Or)
    }

    fn and(&self, at: usize, depth: usize) -> PResult<Filter> {
        self.depth_guard(at, depth)?;
        self.chain(at, depth, "AND", Self::not, Filter::And)
    }

    /// `operand (keyword operand)*`: once the keyword is read, an operand must follow.
    fn chain(
        &self,
        at: usize,
        depth: usize,
        keyword: &str,
        operand: fn(&Self, usize, usize) -> PResult<Filter>,
        combine: fn(Vec<Filter>) -> Filter,
    ) -> PResult<Filter> {
        let (mut pos, first) = operand(self, at, depth + 1)?;
        let mut operands = vec![first];
        while let Ok(after_keyword) = self.spaced_word(pos, keyword) {
            let (next, filter) = operand(self, after_keyword, depth + 1).map_err(Fail::cut)?;
            operands.push(filter);
            pos = next;
        }
        let filter = if operands.len() == 1 { operands.pop().unwrap() } else { combine(operands) };
        Ok((pos, filter))
    }

    /// `NOT` negates what follows; two `NOT`s cancel out.
    fn not(&self, at: usize, depth: usize) -> PResult<Filter> {
        self.depth_guard(at, depth)?;
        if let Ok(after) = self.spaced_word(at, "NOT") {
            let (end, inner) = self.not(after, depth + 1).map_err(Fail::cut)?;
            let negated = match inner {
                Filter::Not(inner) => *inner,
                other => Filter::Not(Box::new(other)),
            };
            return Ok((end, negated));
        }
        self.primary(at, depth + 1)
    }

    fn primary(&self, at: usize, depth: usize) -> PResult<Filter> {
        self.depth_guard(at, depth)?;
        let alternatives: [Primary<'a>; 22] = [
            Self::parenthesized,
            |p, at, _| p.geo_radius(at),
            |p, at, _| p.geo_bounding_box(at),
            |p, at, _| p.geo_polygon(at),
            |p, at, _| p.in_list(at),
            |p, at, _| p.not_in_list(at),
            |p, at, _| p.comparison(at),
            |p, at, _| p.keyword_condition(at, &["IS", "NULL"], |f| cond(f, Condition::Null)),
            |p, at, _| p.keyword_condition(at, &["IS", "NOT", "NULL"], |f| not(cond(f, Condition::Null))),
            |p, at, _| p.keyword_condition(at, &["IS", "EMPTY"], |f| cond(f, Condition::Empty)),
            |p, at, _| p.keyword_condition(at, &["IS", "NOT", "EMPTY"], |f| not(cond(f, Condition::Empty))),
            |p, at, _| p.vectors_exists(at),
            |p, at, _| p.exists(at),
            |p, at, _| p.keyword_condition(at, &["NOT", "EXISTS"], |f| not(cond(f, Condition::Exists))),
            |p, at, _| p.between(at),
            |p, at, _| p.word_condition(at, &["CONTAINS"], |f, w| cond(f, Condition::Contains(w))),
            |p, at, _| p.word_condition(at, &["NOT", "CONTAINS"], |f, w| not(cond(f, Condition::Contains(w)))),
            |p, at, _| p.word_condition(at, &["STARTS WITH"], |f, w| cond(f, Condition::StartsWith(w))),
            |p, at, _| p.word_condition(at, &["NOT", "STARTS WITH"], |f, w| not(cond(f, Condition::StartsWith(w)))),
            Self::foreign,
            |p, at, _| p.reserved_geo_primary(at),
            |p, at, _| p.reserved_keyword_as_field(at),
        ];
        for alternative in alternatives {
            match alternative(self, at, depth) {
                Err(Fail::Soft(_)) => continue,
                result => return result,
            }
        }
        Err(self.soft(K::InvalidPrimary, at))
    }

    /// `( expression )`; a missing `)` is reported on the whole parenthesized text.
    fn parenthesized(&self, at: usize, depth: usize) -> PResult<Filter> {
        let inside = self.spaced_char(at, '(')?;
        let (end, filter) = self.or(inside, depth + 1).map_err(Fail::cut)?;
        let after = self.spaced_char(end, ')').map_err(|fail| match fail.kind().and_then(expected_char) {
            Some(c) => self.hard(K::MissingClosingDelimiter(c), at),
            None => fail.cut(),
        })?;
        Ok((after, filter))
    }

    /// `value IN [a, b, …]`
    fn in_list(&self, at: usize) -> PResult<Filter> {
        let (pos, field) = self.value(at)?;
        let (end, values) = self.in_body(pos)?;
        Ok((end, Filter::In { field, values }))
    }

    /// `value NOT IN [a, b, …]`
    fn not_in_list(&self, at: usize) -> PResult<Filter> {
        let (pos, field) = self.value(at)?;
        let pos = self.word_exact(pos, "NOT")?;
        let (end, values) = self.in_body(pos)?;
        Ok((end, not(Filter::In { field, values })))
    }

    /// `IN [value, value, …]` with an optional trailing comma; everything after `IN` is
    /// committed.
    fn in_body(&self, at: usize) -> PResult<Vec<Token>> {
        let pos = self.spaced_word(at, "IN")?;
        let mut pos = self.tag(pos, "[").map_err(|_| self.hard(K::InOpeningBracket, pos))?;
        let mut values = Vec::new();
        match self.value(pos) {
            Ok((next, first)) => {
                values.push(first);
                pos = next;
                while let Ok(after_comma) = self.spaced_char(pos, ',') {
                    match self.value(after_comma) {
                        Ok((next, value)) => {
                            values.push(value);
                            pos = next;
                        }
                        Err(Fail::Soft(_)) => break,
                        Err(fail) => return Err(fail),
                    }
                }
                if let Ok(next) = self.spaced_char(pos, ',') {
                    pos = next;
                }
            }
            Err(Fail::Soft(_)) => {}
            Err(fail) => return Err(fail),
        }
        match self.spaced_char(pos, ']') {
            Ok(end) => Ok((end, values)),
            Err(_) if pos == self.src.len() => Err(self.hard(K::InClosingBracket, pos)),
            Err(_) => Err(self.hard(K::InExpectedValue, pos)),
        }
    }

    /// `value op value` with op one of `<=`, `>=`, `!=`, `<`, `>`, `=`.
    fn comparison(&self, at: usize) -> PResult<Filter> {
        let (pos, field) = self.value(at)?;
        type Operator = (&'static str, fn(Token) -> Condition);
        let operators: [Operator; 6] = [
            ("<=", Condition::LowerThanOrEqual),
            (">=", Condition::GreaterThanOrEqual),
            ("!=", Condition::NotEqual),
            ("<", Condition::LowerThan),
            (">", Condition::GreaterThan),
            ("=", Condition::Equal),
        ];
        let (after_op, make) = operators
            .iter()
            .find_map(|(op, make)| self.tag(pos, op).ok().map(|end| (end, make)))
            .ok_or_else(|| self.soft(K::Internal("Tag"), pos))?;
        let (end, value) = self.value(after_op).map_err(Fail::cut)?;
        Ok((end, cond(field, make(value))))
    }

    /// `value KW1 WS+ KW2 …`: keywords matched as text prefixes, separated by spaces.
    fn keywords(&self, at: usize, keywords: &[&str]) -> Result<usize, Fail> {
        let mut pos = at;
        for (i, keyword) in keywords.iter().enumerate() {
            if i > 0 {
                pos = self.ascii_space1(pos)?;
            }
            pos = self.tag(pos, keyword)?;
        }
        Ok(pos)
    }

    fn keyword_condition(&self, at: usize, keywords: &[&str], build: fn(Token) -> Filter) -> PResult<Filter> {
        let (pos, field) = self.value(at)?;
        let end = self.keywords(pos, keywords)?;
        Ok((end, build(field)))
    }

    /// `value KEYWORDS value`, committed once the keywords are read.
    fn word_condition(&self, at: usize, keywords: &[&str], build: fn(Token, Token) -> Filter) -> PResult<Filter> {
        let (pos, field) = self.value(at)?;
        let pos = self.keywords(pos, keywords)?;
        let (end, word) = self.value(pos).map_err(Fail::cut)?;
        Ok((end, build(field, word)))
    }

    /// `value EXISTS`
    fn exists(&self, at: usize) -> PResult<Filter> {
        self.keyword_condition(at, &["EXISTS"], |field| cond(field, Condition::Exists))
    }

    /// `value from TO WS+ to`
    fn between(&self, at: usize) -> PResult<Filter> {
        let (pos, field) = self.value(at)?;
        let (pos, from) = self.value(pos)?;
        let pos = self.tag(pos, "TO")?;
        let pos = self.ascii_space1(pos)?;
        let (end, to) = self.value(pos).map_err(Fail::cut)?;
        Ok((end, cond(field, Condition::Between { from, to })))
    }

    /// `_foreign(field, expression)`. Errors inside are reported as a foreign-filter error
    /// and show the text from `_foreign` on.
    fn foreign(&self, at: usize, depth: usize) -> PResult<Filter> {
        let start = self.ascii_space0(at);
        let params = self.word_exact(start, "_foreign")?;
        let inner = Parser { src: self.src, extra_start: at };
        inner.foreign_params(params, depth).map_err(|fail| match fail {
            Fail::Soft(l) | Fail::Hard(l) => Fail::Hard(super::scan::Located { kind: K::Foreign, ..l }),
            Fail::Incomplete => Fail::Incomplete,
        })
    }

    fn foreign_params(&self, at: usize, depth: usize) -> PResult<Filter> {
        let pos = self.char(at, '(')?;
        let pos = self.ascii_space0(pos);
        let (pos, field) = self.value(pos)?;
        let pos = self.spaced_char(pos, ',')?;
        let (pos, filter) = self.or(pos, depth)?;
        let pos = self.ascii_space0(pos);
        let end = self.char(pos, ')')?;
        Ok((end, Filter::Foreign { field, filter: Box::new(filter) }))
    }

    /// A field name that is a keyword (`AND = 8`) gets its own message rather than the
    /// generic one.
    fn reserved_keyword_as_field(&self, at: usize) -> PResult<Filter> {
        match self.comparison(at) {
            Err(Fail::Soft(l)) | Err(Fail::Hard(l)) if l.kind == (K::ExpectedValue { reserved_keyword: true }) => Err(Fail::Hard(l)),
            Err(Fail::Hard(l)) => Err(Fail::Soft(l)),
            other => other,
        }
    }
}

fn cond(field: Token, op: Condition) -> Filter {
    Filter::Condition { field, op }
}

fn not(filter: Filter) -> Filter {
    Filter::Not(Box::new(filter))
}
