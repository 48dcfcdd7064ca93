//! Persistence: the append-only file (with group commit), loading at start-up, forkless
//! rewrites, and Redis's RDB format (files, and the DUMP/RESTORE payloads built on it).

pub mod aof;
pub mod load;
pub mod rdb;
pub mod rewrite;
pub mod save;
pub mod spill;
