//! Server-wide counters reported by INFO.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters shared by every worker thread (relaxed atomics: INFO needs no ordering).
#[derive(Default, Debug)]
pub struct Stats {
    /// Connections accepted since start.
    pub total_connections_received: AtomicU64,
    /// Commands processed since start.
    pub total_commands_processed: AtomicU64,
    /// Connections refused (maxclients).
    pub rejected_connections: AtomicU64,
    /// Keys deleted because their TTL passed.
    pub expired_keys: AtomicU64,
    /// Keys deleted by `maxmemory` eviction.
    pub evicted_keys: AtomicU64,
    /// Key lookups that found the key.
    pub keyspace_hits: AtomicU64,
    /// Key lookups that did not.
    pub keyspace_misses: AtomicU64,
    /// Writes since the last save (`rdb_changes_since_last_save`).
    pub dirty: AtomicU64,
    /// Bytes read from clients.
    pub net_input_bytes: AtomicU64,
    /// Bytes written to clients.
    pub net_output_bytes: AtomicU64,
    /// Error replies sent.
    pub total_error_replies: AtomicU64,
    /// Commands rejected before running (unknown, arity, auth...).
    pub rejected_calls: AtomicU64,
    /// Failed command executions.
    pub failed_calls: AtomicU64,
    /// Clients waiting in a blocking command (INFO clients `blocked_clients`).
    pub blocked_clients: AtomicU64,
    /// Connections closed for passing `client-query-buffer-limit` (Redis 7.2's INFO
    /// `client_query_buffer_limit_disconnections`; not in INFO, whose layout is 7.0's).
    pub query_buffer_limit_disconnections: AtomicU64,
    /// Connections closed for passing `client-output-buffer-limit` (7.2's
    /// `client_output_buffer_limit_disconnections`; not in INFO either).
    pub output_buffer_limit_disconnections: AtomicU64,
}

impl Stats {
    /// Count a key removed by expiry.
    #[inline]
    pub fn expired_key(&self, _key: &[u8]) {
        self.expired_keys.fetch_add(1, Relaxed);
    }

    /// Count `n` changes to the dataset.
    #[inline]
    pub fn dirty(&self, n: u64) {
        self.dirty.fetch_add(n, Relaxed);
    }

    /// Count a keyspace hit or miss.
    #[inline]
    pub fn hit(&self, found: bool) {
        if found {
            self.keyspace_hits.fetch_add(1, Relaxed);
        } else {
            self.keyspace_misses.fetch_add(1, Relaxed);
        }
    }
}
