//! Persistence: the append-only file (with group commit) and, with it, loading at start-up.

pub mod aof;
pub mod load;
pub mod rewrite;
