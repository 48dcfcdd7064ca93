//! Server-wide counters reported by INFO.
//!
//! The counters written on every request ([`Counter`]) are striped: each thread adds to
//! its own cache line and readers sum the stripes. One shared atomic written by every
//! request makes its cache line move between cores on every request, which stops the
//! command path from scaling with threads (`cargo bench -p ferrokv --bench dispatch`).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering, Ordering::Relaxed};

/// How many copies of each striped counter there are (also the per-command statistics'
/// stripes, `server::observe::CommandStatsTable`). Threads take stripes round-robin, so
/// up to this many threads never share one.
pub const STRIPES: usize = 16;

/// The next stripe to hand out.
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

/// This thread's stripe, in `0..STRIPES` (handed out round-robin at its first use).
#[inline]
pub fn stripe() -> usize {
    thread_local! {
        static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    // `get` on a const-initialised Cell thread-local is one TLS load; the first use per
    // thread is out of line.
    let s = SLOT.get();
    if s < STRIPES {
        return s;
    }
    first_stripe(&SLOT)
}

/// Hand this thread its stripe (its first counter update).
#[cold]
#[inline(never)]
fn first_stripe(slot: &'static std::thread::LocalKey<Cell<usize>>) -> usize {
    let s = NEXT_STRIPE.fetch_add(1, Relaxed) % STRIPES;
    slot.set(s);
    s
}

/// One stripe: a cache line pair of its own (adjacent-line prefetchers pull lines in
/// pairs, so 64 bytes apart would still interfere).
#[derive(Default, Debug)]
#[repr(align(128))]
struct Padded(AtomicU64);

/// A counter that every thread adds to often, as one atomic per [`stripe`]: adding
/// touches only this thread's cache line, reading sums the stripes. The methods keep
/// `AtomicU64`'s names; orderings are ignored (everything is relaxed: INFO needs none).
/// Sums wrap, so a stripe may go "below zero" when another thread added what this one
/// subtracts.
#[derive(Default, Debug)]
pub struct Counter([Padded; STRIPES]);

impl Counter {
    /// This thread's stripe.
    #[inline]
    fn mine(&self) -> &AtomicU64 {
        // `stripe()` is below STRIPES already: the remainder is a mask that lets the
        // compiler drop the bounds check.
        &self.0[stripe() % STRIPES].0
    }

    /// Add `n`.
    #[inline]
    pub fn fetch_add(&self, n: u64, _: Ordering) {
        self.mine().fetch_add(n, Relaxed);
    }

    /// Add `n` to stripe `stripe` (a caller that counts several things per request reads
    /// [`stripe`] once).
    #[inline]
    pub fn add_in(&self, stripe: usize, n: u64) {
        self.0[stripe % STRIPES].0.fetch_add(n, Relaxed);
    }

    /// Subtract `n`.
    #[inline]
    pub fn fetch_sub(&self, n: u64, _: Ordering) {
        self.mine().fetch_sub(n, Relaxed);
    }

    /// The total of every stripe.
    pub fn load(&self, _: Ordering) -> u64 {
        self.0
            .iter()
            .fold(0u64, |sum, p| sum.wrapping_add(p.0.load(Relaxed)))
    }

    /// Set the total to `v` (CONFIG RESETSTAT, after a save). Adds racing with it may be
    /// lost, as with a plain atomic's load-then-store.
    pub fn store(&self, v: u64, _: Ordering) {
        for (i, p) in self.0.iter().enumerate() {
            p.0.store(if i == 0 { v } else { 0 }, Relaxed);
        }
    }
}

/// Counters shared by every worker thread (relaxed atomics: INFO needs no ordering).
#[derive(Default, Debug)]
pub struct Stats {
    /// Connections accepted since start.
    pub total_connections_received: AtomicU64,
    /// Commands processed since start.
    pub total_commands_processed: Counter,
    /// Connections refused (maxclients).
    pub rejected_connections: AtomicU64,
    /// Keys deleted because their TTL passed.
    pub expired_keys: AtomicU64,
    /// Keys deleted by `maxmemory` eviction.
    pub evicted_keys: AtomicU64,
    /// Key lookups that found the key.
    pub keyspace_hits: Counter,
    /// Key lookups that did not.
    pub keyspace_misses: Counter,
    /// Writes since the last save (`rdb_changes_since_last_save`).
    pub dirty: Counter,
    /// Bytes read from clients.
    pub net_input_bytes: Counter,
    /// Bytes written to clients.
    pub net_output_bytes: Counter,
    /// Error replies sent.
    pub total_error_replies: AtomicU64,
    /// Commands rejected before running (unknown, arity, auth...).
    pub rejected_calls: AtomicU64,
    /// Failed command executions.
    pub failed_calls: AtomicU64,
    /// Clients waiting in a blocking command (INFO clients `blocked_clients`): counted
    /// when the command registers its wait and uncounted when the wait ends, whoever
    /// ends it, as Redis counts (each `Waiter` holds the counter).
    pub blocked_clients: std::sync::Arc<AtomicU64>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_sums_every_threads_stripe() {
        let c = Counter::default();
        std::thread::scope(|s| {
            for _ in 0..(STRIPES + 3) {
                s.spawn(|| {
                    for _ in 0..1000 {
                        c.fetch_add(1, Relaxed);
                    }
                });
            }
        });
        assert_eq!(c.load(Relaxed), (STRIPES as u64 + 3) * 1000);
        // A subtraction on another thread than the additions: the sum wraps back.
        std::thread::scope(|s| {
            s.spawn(|| c.fetch_sub(500, Relaxed));
        });
        assert_eq!(c.load(Relaxed), (STRIPES as u64 + 3) * 1000 - 500);
        c.store(7, Relaxed);
        assert_eq!(c.load(Relaxed), 7);
    }

    #[test]
    fn threads_get_different_stripes() {
        let mine = stripe();
        assert_eq!(stripe(), mine, "a thread keeps its stripe");
        let others: Vec<usize> = (0..STRIPES - 1)
            .map(|_| std::thread::spawn(stripe).join().unwrap_or(mine))
            .collect();
        assert!(others.iter().all(|&s| s < STRIPES));
        // Handed out round-robin: consecutive new threads never share one.
        assert!(others.windows(2).all(|w| w[0] != w[1]), "{others:?}");
    }
}
