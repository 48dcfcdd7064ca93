//! ferrokv: a Redis-compatible in-memory data-structure server.
//!
//! Layout: [`config`] (parameters), [`server`] (threads, connections, clients),
//! [`commands`] (the command table and one module per family), [`storage`] (databases,
//! shards, values, expiry).

pub mod commands;
pub mod config;
pub mod memory;
pub mod persistence;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod stats;
pub mod storage;
pub mod util;
