//! Document payload parsing, primary key inference, id validation.
