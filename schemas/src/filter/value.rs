//! Values and field names: bare words, single- or double-quoted strings, and the escape
//! sequences inside them.

use std::sync::Arc;

use super::ast::{Token, TokenSpan};
use super::error::SyntaxErrorKind as K;
use super::scan::{expected_char, is_keyword, is_syntax_component, is_value_component, Fail, PResult, Parser};

/// A token before unescaping: where its text is, and whether a quote inside it was escaped.
struct RawToken {
    start: usize,
    end: usize,
    escaped_quote: Option<char>,
}

impl<'a> Parser<'a> {
    /// `value = WS* (word | 'quoted' | "quoted") WS*`, refusing geo functions used as values.
    pub(crate) fn value(&self, at: usize) -> PResult<Token> {
        let start = self.skip_while(at, char::is_whitespace);
        self.refuse_geo_as_value(start)?;

        let (after, raw) = match self.peek(start) {
            Some(quote @ ('\'' | '"')) => self.quoted(start, quote).map_err(|fail| match fail {
                // An unterminated quote is reported on the whole value.
                Fail::Hard(l) if expected_char(&l.kind).is_some() => {
                    Fail::Hard(self.located(K::MissingClosingDelimiter(expected_char(&l.kind).unwrap()), start, self.src.len()))
                }
                other => other,
            })?,
            _ => {
                let end = self.word_end(start);
                if end == start || is_keyword(&self.src[start..end]) {
                    let reserved_keyword = end > start;
                    let word_end = self.skip_while(start, |c| !is_syntax_component(c));
                    return Err(Fail::Soft(self.located(K::ExpectedValue { reserved_keyword }, start, word_end)));
                }
                (end, RawToken { start, end, escaped_quote: None })
            }
        };
        let after = self.ascii_space0(after);
        let token = self.unescape(&raw).map_err(|kind| match kind {
            Some(kind) => Fail::Soft(self.located(kind, raw.start, raw.end)),
            None => Fail::Incomplete,
        })?;
        Ok((after, token))
    }

    /// `_geoPoint`, `_geoDistance`, `_geo`, `_geoRadius` and `_geoBoundingBox` can never be
    /// values; Meilisearch stops with a dedicated message as soon as it sees one.
    fn refuse_geo_as_value(&self, at: usize) -> Result<(), Fail> {
        let rest = self.rest(at);
        let word = &self.src[at..self.word_end(at)];
        let kind = if rest.starts_with("_geoPoint") {
            K::ReservedGeo("_geoPoint")
        } else if rest.starts_with("_geoDistance") {
            K::ReservedGeo("_geoDistance")
        } else if word == "_geo" {
            K::ReservedGeo("_geo")
        } else if word == "_geoRadius" {
            K::MisusedGeoRadius
        } else if word == "_geoBoundingBox" {
            K::MisusedGeoBoundingBox
        } else {
            return Ok(());
        };
        Err(self.hard(kind, at))
    }

    /// A quoted string starting at the opening `quote`; returns the position after the
    /// closing quote. Failures are hard (`ExpectedChar` for a missing closing quote).
    fn quoted(&self, open: usize, quote: char) -> PResult<RawToken> {
        let start = open + quote.len_utf8();
        let mut escaped_quote = None;
        let mut chars = self.rest(start).char_indices();
        let mut end = self.src.len();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                end = start + i;
                break;
            }
            if c == '\\' {
                match chars.next() {
                    Some((_, next)) if next == quote => escaped_quote = Some(quote),
                    Some(_) => {}
                    None => return Err(self.hard(K::MalformedValue, start)),
                }
            }
        }
        let after = self.char(end, quote).map_err(Fail::cut)?;
        Ok((after, RawToken { start, end, escaped_quote }))
    }

    /// Resolves escapes: `\<quote>` inside a quoted string first, then the usual backslash
    /// sequences (`\n`, `\\`, `\u{…}`, `\x41`, octal). `Err(None)` means the text ended inside
    /// an escape sequence.
    fn unescape(&self, raw: &RawToken) -> Result<Token, Option<K>> {
        let text = &self.src[raw.start..raw.end];
        let text = match raw.escaped_quote {
            Some(q) => text.replace(&format!("\\{q}"), &q.to_string()),
            None => text.to_owned(),
        };
        let value = match unescaper::unescape(&text) {
            Ok(value) => value,
            Err(unescaper::Error::IncompleteStr(_)) => return Err(None),
            Err(unescaper::Error::ParseIntError { .. }) => return Err(Some(K::InvalidEscapedNumber)),
            Err(unescaper::Error::InvalidChar { .. }) => return Err(Some(K::MalformedValue)),
        };
        Ok(self.token(value, raw.start, raw.end))
    }

    pub(crate) fn token(&self, value: String, start: usize, end: usize) -> Token {
        Token::parsed(value, TokenSpan { source: Arc::from(self.src), start, end })
    }

    /// `vector_value = word-without-dots | 'quoted' | "quoted"` (no surrounding spaces).
    /// Escape errors are reported at the text after the value.
    pub(crate) fn vector_value(&self, at: usize) -> PResult<Token> {
        let (after, raw) = match self.peek(at) {
            Some(quote @ ('\'' | '"')) => self.quoted(at, quote)?,
            _ => {
                let end = self.skip_while(at, |c| is_value_component(c) && c != '.');
                if end == at {
                    return Err(self.soft(K::Internal("TakeWhile1"), at));
                }
                (end, RawToken { start: at, end, escaped_quote: None })
            }
        };
        let token = self.unescape(&raw).map_err(|kind| match kind {
            Some(kind) => self.soft(kind, after),
            None => Fail::Incomplete,
        })?;
        Ok((after, token))
    }

    /// A vector value that must be there: any failure becomes `kind` at `at`, except an
    /// unterminated quote.
    pub(crate) fn required_vector_value(&self, at: usize, kind: K) -> PResult<Token> {
        self.vector_value(at).map_err(|fail| match fail {
            Fail::Hard(l) if matches!(expected_char(&l.kind), Some('"' | '\'')) => self.hard(K::VectorFilterInvalidQuotes, at),
            _ => self.hard(kind, at),
        })
    }
}
