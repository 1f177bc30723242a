//! Search planning and merging.
