//! `_geoRadius(lat, lng, radius[, resolution])`, `_geoBoundingBox([lat, lng], [lat, lng])`,
//! `_geoPolygon([lat, lng], …)`, and the geo names that are not filters.
//!
//! Once the function name is read the filter is committed to it: any mistake after that is a
//! hard failure describing the expected form, located where the mistake was found.

use super::ast::{Filter, Token};
use super::error::SyntaxErrorKind as K;
use super::scan::{Fail, Located, PResult, Parser};

/// Byte range of one number as written.
type Span = (usize, usize);

impl<'a> Parser<'a> {
    pub(crate) fn geo_radius(&self, at: usize) -> PResult<Filter> {
        let start = self.ascii_space0(at);
        let pos = self.word_exact(start, "_geoRadius")?;
        let (end, args) = self.parenthesized_list(pos, Self::spaced_float, false).map_err(|fail| committed(fail, K::GeoRadius))?;
        if !(3..=4).contains(&args.len()) {
            return Err(self.hard(K::GeoRadiusArgumentCount(args.len()), end));
        }
        let filter = Filter::GeoRadius {
            lat: self.number(args[0]),
            lng: self.number(args[1]),
            radius: self.number(args[2]),
            resolution: args.get(3).map(|span| self.number(*span)),
        };
        Ok((end, filter))
    }

    pub(crate) fn geo_bounding_box(&self, at: usize) -> PResult<Filter> {
        let start = self.ascii_space0(at);
        let pos = self.word_exact(start, "_geoBoundingBox")?;
        let (end, points) = self.parenthesized_list(pos, Self::spaced_point, false).map_err(|fail| committed(fail, K::GeoBoundingBox))?;
        if points.len() != 2 {
            return Err(self.hard(K::GeoBoundingBox, end));
        }
        let points = self.pairs(&points, end)?;
        let filter = Filter::GeoBoundingBox { top_right: points[0].clone(), bottom_left: points[1].clone() };
        Ok((end, filter))
    }

    pub(crate) fn geo_polygon(&self, at: usize) -> PResult<Filter> {
        let start = self.ascii_space0(at);
        let pos = self.word_exact(start, "_geoPolygon")?;
        let (end, points) = self.parenthesized_list(pos, Self::spaced_point, true).map_err(|fail| committed(fail, K::GeoPolygon))?;
        if points.len() < 3 {
            let (s, e) = *points.last().and_then(|p| p.last()).expect("lists are never empty");
            return Err(Fail::Hard(self.located(K::GeoPolygonNotEnoughPoints(points.len()), s, e)));
        }
        let points = self.pairs(&points, end)?;
        Ok((end, Filter::GeoPolygon { points }))
    }

    /// `_geo(…)`, `_geoDistance…` and `_geoPoint…` are reserved names, not filters.
    pub(crate) fn reserved_geo_primary(&self, at: usize) -> PResult<Filter> {
        let start = self.ascii_space0(at);
        let rest = self.rest(start);
        let name = if self.word_exact(start, "_geo").is_ok() {
            "_geo"
        } else if rest.starts_with("_geoDistance") {
            "_geoDistance"
        } else if rest.starts_with("_geoPoint") {
            "_geoPoint"
        } else {
            return Err(self.soft(K::ReservedGeo("_geo"), at));
        };
        Err(self.hard(K::ReservedGeo(name), at))
    }

    /// Every point must have exactly two coordinates; the first offending point is reported
    /// at its first number.
    fn pairs(&self, points: &[Vec<Span>], end: usize) -> Result<Vec<[Token; 2]>, Fail> {
        if let Some(bad) = points.iter().find(|p| p.len() != 2) {
            let (s, e) = bad.first().copied().unwrap_or((end, self.src.len()));
            return Err(Fail::Hard(self.located(K::GeoCoordinatesNotPair(bad.len()), s, e)));
        }
        Ok(points.iter().map(|p| [self.number(p[0]), self.number(p[1])]).collect())
    }

    fn number(&self, (start, end): Span) -> Token {
        self.token(self.src[start..end].to_owned(), start, end)
    }

    /// `( item ("," item)* )`, optionally tolerating a trailing comma before `)`.
    fn parenthesized_list<T>(&self, at: usize, item: fn(&Self, usize) -> PResult<T>, trailing_comma: bool) -> PResult<Vec<T>> {
        let pos = self.char(at, '(')?;
        let (mut pos, items) = self.comma_separated(pos, item)?;
        if trailing_comma {
            if let Ok(next) = self.spaced_char(pos, ',') {
                pos = next;
            }
        }
        let end = self.char(pos, ')')?;
        Ok((end, items))
    }

    /// `item ("," item)*`: stops before a comma that is not followed by an item.
    fn comma_separated<T>(&self, at: usize, item: fn(&Self, usize) -> PResult<T>) -> PResult<Vec<T>> {
        let (mut pos, first) = item(self, at)?;
        let mut items = vec![first];
        while let Ok(after_comma) = self.tag(pos, ",") {
            match item(self, after_comma) {
                Ok((next, value)) => {
                    items.push(value);
                    pos = next;
                }
                Err(Fail::Soft(_)) => break,
                Err(fail) => return Err(fail),
            }
        }
        Ok((pos, items))
    }

    fn spaced_float(&self, at: usize) -> PResult<Span> {
        let (end, span) = self.float(self.ascii_space0(at))?;
        Ok((self.ascii_space0(end), span))
    }

    /// `WS* [ number ("," number)* ] WS*`
    fn spaced_point(&self, at: usize) -> PResult<Vec<Span>> {
        let pos = self.char(self.ascii_space0(at), '[')?;
        let (pos, numbers) = self.comma_separated(pos, Self::spaced_float)?;
        let end = self.char(pos, ']')?;
        Ok((self.ascii_space0(end), numbers))
    }
}

/// After a geo function name, every failure is hard and says what the function expects; it
/// keeps the place where the mistake was found.
fn committed(fail: Fail, kind: K) -> Fail {
    match fail {
        Fail::Soft(l) | Fail::Hard(l) => Fail::Hard(Located { kind, ..l }),
        Fail::Incomplete => Fail::Incomplete,
    }
}
