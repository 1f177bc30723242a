//! Pure logic behind `/tasks` and `/batches`: the query vocabulary and its parsing with
//! Meilisearch's exact errors, which tasks a filter selects, which index uids swaps and
//! renames gave earlier tasks, and the batch object of a task (what a `taskDeletion` deletes
//! is the catalog's fold: `catalog/deletion.rs`). No I/O: the route handlers feed it the catalog.

pub mod batch_view;
pub mod query;
pub mod select;
pub mod swaps;
pub mod vocabulary;
