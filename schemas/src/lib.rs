//! The data model every Miroir process shares. Pure: no I/O.
