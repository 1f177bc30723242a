//! `_vectors[.embedder[.fragments.name | .userProvided | .documentTemplate | .regenerate]]
//! [NOT] EXISTS`. Once `_vectors.` is read, every mistake is a hard failure.

use super::ast::{Filter, VectorFilter};
use super::error::SyntaxErrorKind as K;
use super::scan::{Fail, Located, PResult, Parser};

impl<'a> Parser<'a> {
    pub(crate) fn vectors_exists(&self, at: usize) -> PResult<Filter> {
        let start = self.ascii_space0(at);
        let pos = self.tag(start, "_vectors")?;
        if let Ok(after_spaces) = self.ascii_space1(pos) {
            return self.vector_operation(after_spaces, Filter::VectorExists { embedder: None, filter: VectorFilter::None });
        }
        let pos = self.char(pos, '.')?;
        if self.rest(pos).starts_with(' ') {
            return Err(Fail::Hard(self.located(K::VectorFilterMissingEmbedder, pos, pos + 1)));
        }
        let (pos, embedder) = self.required_vector_value(pos, K::VectorFilterInvalidEmbedder)?;
        let (pos, filter) = self.vector_suffix(pos)?;

        if let Ok(after_point) = self.tag(pos, ".") {
            let previous = match filter {
                VectorFilter::Fragment(_) => Some("fragments"),
                VectorFilter::DocumentTemplate => Some("documentTemplate"),
                VectorFilter::UserProvided => Some("userProvided"),
                VectorFilter::Regenerate => Some("regenerate"),
                VectorFilter::None => None,
            };
            let (found, start, end) = match self.vector_value(after_point) {
                Ok((_, token)) => {
                    let span = token.span().expect("parsed tokens have a span");
                    (token.value().to_owned(), span.start, span.end)
                }
                Err(_) => (".".to_owned(), pos, after_point),
            };
            let kind = K::VectorFilterUnknownSuffix { previous, found };
            return Err(Fail::Hard(self.located(kind, start, end)));
        }

        let pos = self.ascii_space1(pos).map_err(|fail| match fail {
            Fail::Soft(l) | Fail::Hard(l) => Fail::Hard(Located { kind: K::VectorFilterLeftover, ..l }),
            Fail::Incomplete => Fail::Incomplete,
        })?;
        self.vector_operation(pos, Filter::VectorExists { embedder: Some(embedder), filter })
    }

    fn vector_suffix(&self, at: usize) -> PResult<VectorFilter> {
        if let Ok(pos) = self.tag(at, ".fragments") {
            let pos = self.tag(pos, ".").map_err(|_| self.hard(K::VectorFilterMissingFragment, pos))?;
            let (end, name) = self.required_vector_value(pos, K::VectorFilterInvalidFragment)?;
            return Ok((end, VectorFilter::Fragment(name)));
        }
        let fixed = [
            (".userProvided", VectorFilter::UserProvided),
            (".documentTemplate", VectorFilter::DocumentTemplate),
            (".regenerate", VectorFilter::Regenerate),
        ];
        for (suffix, filter) in fixed {
            if let Ok(end) = self.tag(at, suffix) {
                return Ok((end, filter));
            }
        }
        Ok((at, VectorFilter::None))
    }

    /// `EXISTS` or `NOT WS+ EXISTS` after a vector filter.
    fn vector_operation(&self, at: usize, exists: Filter) -> PResult<Filter> {
        if let Ok(end) = self.tag(at, "EXISTS") {
            return Ok((end, exists));
        }
        let not_exists = self.tag(at, "NOT").and_then(|pos| self.ascii_space1(pos)).and_then(|pos| self.tag(pos, "EXISTS"));
        match not_exists {
            Ok(end) => Ok((end, Filter::Not(Box::new(exists)))),
            Err(_) => Err(self.hard(K::VectorFilterOperation, at)),
        }
    }
}
