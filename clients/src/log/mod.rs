//! The write log: one trait, three implementations.
