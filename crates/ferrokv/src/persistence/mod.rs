//! Persistence: Redis's RDB format (files, and the DUMP/RESTORE payloads built on it).

pub mod rdb;
