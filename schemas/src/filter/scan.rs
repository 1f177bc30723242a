//! The parser's state, its two kinds of failure, and the character-level scanners the grammar
//! is built from.
//!
//! Meilisearch's parser distinguishes a *soft* failure (this alternative does not apply, try
//! the next one) from a *hard* failure (the input committed to this form and is wrong: stop
//! and report). Which of the two each step produces decides which message the user sees, so
//! every step here says explicitly which one it raises.

use super::error::{render, SyntaxError, SyntaxErrorKind};

/// Deepest nesting of `OR`/`AND`/`NOT`/parentheses the grammar accepts (Meilisearch's limit).
pub(crate) const MAX_DEPTH: usize = 150;

/// A failure at some place of the input.
#[derive(Debug)]
pub(crate) struct Located {
    pub kind: SyntaxErrorKind,
    pub start: usize,
    pub end: usize,
    /// Where the text shown after the columns starts (0, or the `_foreign` being parsed).
    pub extra_start: usize,
}

#[derive(Debug)]
pub(crate) enum Fail {
    Soft(Located),
    Hard(Located),
    /// An escape sequence was cut short; reported against the whole filter.
    Incomplete,
}

impl Fail {
    pub fn kind(&self) -> Option<&SyntaxErrorKind> {
        match self {
            Fail::Soft(l) | Fail::Hard(l) => Some(&l.kind),
            Fail::Incomplete => None,
        }
    }

    /// A soft failure becomes hard (the grammar committed before this step).
    pub fn cut(self) -> Fail {
        match self {
            Fail::Soft(l) => Fail::Hard(l),
            other => other,
        }
    }
}

pub(crate) type PResult<T> = Result<(usize, T), Fail>;

pub(crate) struct Parser<'a> {
    pub src: &'a str,
    /// Start of the text shown in error messages; moved while inside `_foreign(…)`.
    pub extra_start: usize,
}

impl<'a> Parser<'a> {
    pub fn new(src: &'a str) -> Self {
        Parser { src, extra_start: 0 }
    }

    pub fn located(&self, kind: SyntaxErrorKind, start: usize, end: usize) -> Located {
        Located { kind, start, end, extra_start: self.extra_start }
    }

    /// A soft failure whose context is the rest of the input from `at`.
    pub fn soft(&self, kind: SyntaxErrorKind, at: usize) -> Fail {
        Fail::Soft(self.located(kind, at, self.src.len()))
    }

    /// A hard failure whose context is the rest of the input from `at`.
    pub fn hard(&self, kind: SyntaxErrorKind, at: usize) -> Fail {
        Fail::Hard(self.located(kind, at, self.src.len()))
    }

    pub fn rest(&self, at: usize) -> &'a str {
        &self.src[at..]
    }

    pub fn peek(&self, at: usize) -> Option<char> {
        self.rest(at).chars().next()
    }

    /// Skips spaces, tabs, carriage returns and line feeds.
    pub fn ascii_space0(&self, at: usize) -> usize {
        self.skip_while(at, |c| matches!(c, ' ' | '\t' | '\r' | '\n'))
    }

    /// At least one space, tab, carriage return or line feed.
    pub fn ascii_space1(&self, at: usize) -> Result<usize, Fail> {
        let end = self.ascii_space0(at);
        if end == at {
            Err(self.soft(SyntaxErrorKind::Internal("MultiSpace"), at))
        } else {
            Ok(end)
        }
    }

    pub fn skip_while(&self, at: usize, keep: impl Fn(char) -> bool) -> usize {
        let rest = self.rest(at);
        at + rest.find(|c: char| !keep(c)).unwrap_or(rest.len())
    }

    /// The end of the text at `at` starting with `tag`.
    pub fn tag(&self, at: usize, tag: &str) -> Result<usize, Fail> {
        if self.rest(at).starts_with(tag) {
            Ok(at + tag.len())
        } else {
            Err(self.soft(SyntaxErrorKind::Internal("Tag"), at))
        }
    }

    pub fn char(&self, at: usize, c: char) -> Result<usize, Fail> {
        if self.peek(at) == Some(c) {
            Ok(at + c.len_utf8())
        } else {
            Err(self.soft(SyntaxErrorKind::ExpectedChar(c), at))
        }
    }

    /// The end of the word (letters, digits, `_`, `-`, `.`) starting at `at`.
    pub fn word_end(&self, at: usize) -> usize {
        self.skip_while(at, is_value_component)
    }

    /// A word that is exactly `word`.
    pub fn word_exact(&self, at: usize, word: &str) -> Result<usize, Fail> {
        let end = self.word_end(at);
        if end == at {
            return Err(self.soft(SyntaxErrorKind::Internal("TakeWhile1"), at));
        }
        if &self.src[at..end] == word {
            Ok(end)
        } else {
            Err(self.soft(SyntaxErrorKind::Internal("Tag"), end))
        }
    }

    /// `word` with optional surrounding spaces; returns the position after the spaces.
    pub fn spaced_word(&self, at: usize, word: &str) -> Result<usize, Fail> {
        let start = self.ascii_space0(at);
        let end = self.word_exact(start, word)?;
        Ok(self.ascii_space0(end))
    }

    /// `c` with optional surrounding spaces.
    pub fn spaced_char(&self, at: usize, c: char) -> Result<usize, Fail> {
        let start = self.ascii_space0(at);
        let end = self.char(start, c)?;
        Ok(self.ascii_space0(end))
    }

    /// A decimal number as written in geo filters: `[+-]? (digits (. digits?)? | . digits)
    /// ([eE] [+-]? digits)?`. Once an exponent marker is seen, digits must follow (hard).
    pub fn float(&self, at: usize) -> PResult<(usize, usize)> {
        let mut pos = at;
        if matches!(self.peek(pos), Some('+' | '-')) {
            pos += 1;
        }
        let digits_end = self.skip_while(pos, |c| c.is_ascii_digit());
        if digits_end > pos {
            pos = digits_end;
            if self.peek(pos) == Some('.') {
                pos = self.skip_while(pos + 1, |c| c.is_ascii_digit());
            }
        } else {
            let after_dot = self.char(pos, '.')?;
            let end = self.skip_while(after_dot, |c| c.is_ascii_digit());
            if end == after_dot {
                return Err(self.soft(SyntaxErrorKind::Internal("Digit"), after_dot));
            }
            pos = end;
        }
        if matches!(self.peek(pos), Some('e' | 'E')) {
            let mut exp = pos + 1;
            if matches!(self.peek(exp), Some('+' | '-')) {
                exp += 1;
            }
            let end = self.skip_while(exp, |c| c.is_ascii_digit());
            if end == exp {
                return Err(self.hard(SyntaxErrorKind::Internal("Digit"), exp));
            }
            pos = end;
        }
        Ok((pos, (at, pos)))
    }

    /// Turns a failure into the public error.
    pub fn finish(&self, fail: Fail) -> SyntaxError {
        let located = match fail {
            Fail::Soft(l) | Fail::Hard(l) => l,
            Fail::Incomplete => self.located(SyntaxErrorKind::Incomplete, 0, self.src.len()),
        };
        let message = render(&located.kind, self.src, located.start, located.end, located.extra_start);
        SyntaxError { kind: located.kind, message }
    }
}

/// The character a failed `char` step expected, if that is what `kind` records.
pub(crate) fn expected_char(kind: &SyntaxErrorKind) -> Option<char> {
    match kind {
        SyntaxErrorKind::ExpectedChar(c) => Some(*c),
        _ => None,
    }
}

pub(crate) fn is_value_component(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

pub(crate) fn is_syntax_component(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '=' | '<' | '>' | '!')
}

pub(crate) fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "AND"
            | "OR"
            | "IN"
            | "NOT"
            | "TO"
            | "EXISTS"
            | "IS"
            | "NULL"
            | "EMPTY"
            | "CONTAINS"
            | "STARTS"
            | "WITH"
            | "_geoRadius"
            | "_geoBoundingBox"
    )
}
