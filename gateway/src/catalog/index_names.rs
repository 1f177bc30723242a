//! Index uids of finished tasks, each stored once: a million tasks of a few indexes hold a few
//! names, and each task a 4-byte id. A name is dropped when the last task naming it is, so
//! what this holds follows the tasks kept.

use std::collections::HashMap;

/// An index uid held by [`IndexNames`], or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct IndexName(u32);

impl IndexName {
    pub(super) const NONE: IndexName = IndexName(u32::MAX);
}

#[derive(Debug, Clone, Default)]
pub(super) struct IndexNames {
    /// By id: the name and how many tasks hold it (`None`: a free id).
    names: Vec<Option<(Box<str>, u32)>>,
    ids: HashMap<Box<str>, u32>,
    free: Vec<u32>,
}

impl IndexNames {
    /// The id of `name` (`None`: [`IndexName::NONE`]), held once more.
    pub(super) fn hold(&mut self, name: Option<&str>) -> IndexName {
        let Some(name) = name else { return IndexName::NONE };
        if let Some(&id) = self.ids.get(name) {
            self.names[id as usize].as_mut().expect("an id in use").1 += 1;
            return IndexName(id);
        }
        let entry = Some((Box::from(name), 1));
        let id = match self.free.pop() {
            Some(id) => {
                self.names[id as usize] = entry;
                id
            }
            None => {
                self.names.push(entry);
                u32::try_from(self.names.len() - 1).expect("fewer than 2³² index names")
            }
        };
        self.ids.insert(Box::from(name), id);
        IndexName(id)
    }

    /// Drops one hold on `name`; the last one frees it.
    pub(super) fn release(&mut self, name: IndexName) {
        if name == IndexName::NONE {
            return;
        }
        let slot = &mut self.names[name.0 as usize];
        let (text, holds) = slot.as_mut().expect("an id in use");
        *holds -= 1;
        if *holds == 0 {
            self.ids.remove(&**text);
            *slot = None;
            self.free.push(name.0);
        }
    }

    pub(super) fn name(&self, name: IndexName) -> Option<&str> {
        if name == IndexName::NONE {
            return None;
        }
        Some(&self.names[name.0 as usize].as_ref().expect("an id in use").0)
    }

    /// How many distinct names are held.
    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_kept_once_while_held_and_dropped_with_its_last_hold() {
        let mut names = IndexNames::default();
        let books = names.hold(Some("books"));
        assert_eq!(names.hold(Some("books")), books);
        let movies = names.hold(Some("movies"));
        assert_eq!(names.hold(None), IndexName::NONE);
        assert_eq!((names.name(books), names.name(movies), names.name(IndexName::NONE)), (Some("books"), Some("movies"), None));
        names.release(books);
        assert_eq!(names.name(books), Some("books"), "still held once");
        names.release(books);
        names.release(IndexName::NONE);
        assert_eq!(names.len(), 1);
        let songs = names.hold(Some("songs"));
        assert_eq!(songs, books, "a freed id is reused");
        assert_eq!(names.name(songs), Some("songs"));
    }
}
