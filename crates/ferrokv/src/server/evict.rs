//! `maxmemory` eviction, as Redis 7.0's `performEvictions` (evict.c): before a command
//! runs, while the memory in use is above `maxmemory`, keys chosen by `maxmemory-policy`
//! are deleted until enough memory was given back, nothing more can be evicted (the
//! command may then be refused with -OOM), or the time budget set by
//! `maxmemory-eviction-tenacity` is spent (the background thread then goes on).
//!
//! **Measuring.** The memory in use is jemalloc's `stats.allocated` (INFO `used_memory`,
//! at most a millisecond old, see `memory::used_memory_recent`), plus the growth of the
//! allocator's overhead (resident minus allocated: fragmentation, metadata) past its idle
//! baseline (`memory::watch_heap`, every 50 ms, which first purges dirty pages): so the
//! resident set, not only the allocated bytes, stays
//! near `maxmemory`. What an eviction gives back is measured, not estimated: the evicting
//! thread's own jemalloc counters of bytes freed and allocated are read before and after
//! each key. Evicted keys leave their slab dense (`KeyTable::remove_compacting`), so
//! emptied slab chunks return to the allocator.
//!
//! **Choosing.** The LRU/LFU/TTL policies keep Redis's eviction pool: 16 candidates sorted
//! by score (idle seconds, 255 minus the LFU counter, or the inverse of the deadline).
//! Each round samples `maxmemory-samples` keys in every database that has keys (one key
//! from each of that many random shards: random slab slots probed, uniform among the keys
//! that qualify, then a walk when they all miss), inserts the better ones into the pool,
//! and evicts the best candidate that still exists. The random policies take a
//! random key of the next database in turn. Which shards hold keys (or keys with a TTL) is
//! listed per database and refreshed every 250 ms, so empty databases cost nothing; a
//! database with keys in most shards is sampled over all of them.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use rand::Rng;

use super::tracking::Own;
use super::Server;
use crate::storage::shard::Shard;
use crate::storage::table;

/// `maxmemory-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Refuse writes over the limit.
    NoEviction,
    /// Least recently used among all keys.
    AllkeysLru,
    /// Least frequently used among all keys.
    AllkeysLfu,
    /// Any key.
    AllkeysRandom,
    /// Least recently used among keys with a TTL.
    VolatileLru,
    /// Least frequently used among keys with a TTL.
    VolatileLfu,
    /// Any key with a TTL.
    VolatileRandom,
    /// The key with the nearest deadline.
    VolatileTtl,
}

impl Policy {
    /// The policy a `maxmemory-policy` value names (noeviction for anything else).
    pub fn from_name(name: &str) -> Policy {
        match name {
            "allkeys-lru" => Policy::AllkeysLru,
            "allkeys-lfu" => Policy::AllkeysLfu,
            "allkeys-random" => Policy::AllkeysRandom,
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            _ => Policy::NoEviction,
        }
    }

    fn code(self) -> u8 {
        self as u8
    }

    fn from_code(code: u8) -> Policy {
        [
            Policy::NoEviction,
            Policy::AllkeysLru,
            Policy::AllkeysLfu,
            Policy::AllkeysRandom,
            Policy::VolatileLru,
            Policy::VolatileLfu,
            Policy::VolatileRandom,
            Policy::VolatileTtl,
        ]
        .get(code as usize)
        .copied()
        .unwrap_or(Policy::NoEviction)
    }

    /// Only keys with a TTL may be evicted.
    pub fn volatile_only(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    fn random(self) -> bool {
        matches!(self, Policy::AllkeysRandom | Policy::VolatileRandom)
    }
}

static POLICY: AtomicU8 = AtomicU8::new(0);
static SAMPLES: AtomicU32 = AtomicU32::new(5);
static TENACITY: AtomicU32 = AtomicU32::new(10);

/// Apply `maxmemory-policy`, `maxmemory-samples` and `maxmemory-eviction-tenacity`
/// (called whenever the configuration changes).
pub fn configure(policy: &str, samples: i64, tenacity: i64) {
    POLICY.store(Policy::from_name(policy).code(), Relaxed);
    SAMPLES.store(samples.clamp(1, 64) as u32, Relaxed);
    TENACITY.store(tenacity.clamp(0, 100) as u32, Relaxed);
}

/// The current `maxmemory-policy`.
pub fn policy() -> Policy {
    Policy::from_code(POLICY.load(Relaxed))
}

/// How long one eviction call may run (Redis's `evictionTimeLimitUs`): 50 µs per step of
/// tenacity up to 10 (500 µs by default), then growing 15% a step, unlimited at 100.
pub fn time_limit() -> Option<Duration> {
    time_limit_for(TENACITY.load(Relaxed))
}

/// [`time_limit`] for a tenacity value.
fn time_limit_for(t: u32) -> Option<Duration> {
    if t <= 10 {
        return Some(Duration::from_micros(50 * t as u64));
    }
    if t < 100 {
        let us = 500.0 * 1.15f64.powi(t as i32 - 10);
        return Some(Duration::from_micros(us as u64));
    }
    None
}

/// What an eviction attempt ended with (Redis's EVICT_OK / EVICT_RUNNING / EVICT_FAIL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Memory is within the limit (or there is no limit).
    Ok,
    /// Over the limit, but the time budget ran out while keys were still being evicted:
    /// the background thread goes on; commands are not refused meanwhile.
    Running,
    /// Over the limit and nothing (more) can be evicted.
    Fail,
}

/// Candidates kept between rounds (Redis's EVPOOL_SIZE).
const POOL_SIZE: usize = 16;
/// How often the lists of populated shards are rebuilt.
const RELIST_EVERY: Duration = Duration::from_millis(250);
/// The soonest a list is rebuilt again when sampling found nothing to evict.
const RELIST_RETRY: Duration = Duration::from_millis(10);
/// How long memory must stay over the limit before the background thread evicts by
/// itself (not asked by a command that ran out of its time budget).
const IDLE_EVICT_AFTER: Duration = Duration::from_millis(500);
/// Slab slots walked from a random start to find one key.
const WALK: usize = 256;

/// One candidate of the pool.
struct Candidate {
    score: u64,
    db: usize,
    shard: usize,
    key: Box<[u8]>,
}

/// Which shards of each database hold keys (or keys with a TTL).
#[derive(Default)]
struct ShardLists {
    per_db: Vec<Vec<u16>>,
    volatile: bool,
    at: Option<Instant>,
    /// The last listing found a populated shard.
    found_any: bool,
}

#[derive(Default)]
struct State {
    pool: Vec<Candidate>,
    lists: ShardLists,
    /// The database the random policies take from next (Redis's `next_db`).
    next_db: usize,
    /// The policy the pool's scores were computed for.
    pool_policy: Option<Policy>,
}

/// The server's eviction state.
#[derive(Default)]
pub struct Evictor {
    state: Mutex<State>,
    /// Set while the background thread has eviction work (time budget exceeded).
    pending: Mutex<bool>,
    wake: Condvar,
    /// When memory first went over the limit without eviction catching up (monotonic
    /// ns, 0 = not over): INFO `current_eviction_exceeded_time`.
    exceeded_since_ns: AtomicU64,
    /// Total microseconds spent over the limit: INFO `total_eviction_exceeded_time`.
    exceeded_total_us: AtomicU64,
}

impl Evictor {
    /// INFO stats `current_eviction_exceeded_time` and `total_eviction_exceeded_time`, in
    /// milliseconds.
    pub fn exceeded_ms(&self) -> (u64, u64) {
        let since = self.exceeded_since_ns.load(Relaxed);
        let current_us = if since == 0 {
            0
        } else {
            crate::util::mono_ns().saturating_sub(since) / 1000
        };
        let total_us = self.exceeded_total_us.load(Relaxed) + current_us;
        (current_us / 1000, total_us / 1000)
    }

    /// Zero the counters (CONFIG RESETSTAT).
    pub fn reset_stats(&self) {
        self.exceeded_total_us.store(0, Relaxed);
        if self.exceeded_since_ns.load(Relaxed) != 0 {
            self.exceeded_since_ns
                .store(crate::util::mono_ns(), Relaxed);
        }
    }

    /// Ask the background thread for an eviction pass (CONFIG SET maxmemory inside a
    /// transaction, where this thread may hold shard locks).
    pub fn request(&self) {
        self.wake_background();
    }

    fn wake_background(&self) {
        *self.pending.lock() = true;
        self.wake.notify_one();
    }

    fn update_metrics(&self, outcome: Outcome) {
        let since = self.exceeded_since_ns.load(Relaxed);
        match outcome {
            Outcome::Ok => {
                if since != 0 && self.exceeded_since_ns.swap(0, Relaxed) != 0 {
                    let us = crate::util::mono_ns().saturating_sub(since) / 1000;
                    self.exceeded_total_us.fetch_add(us, Relaxed);
                }
            }
            Outcome::Running | Outcome::Fail => {
                if since == 0 {
                    let _ = self.exceeded_since_ns.compare_exchange(
                        0,
                        crate::util::mono_ns(),
                        Relaxed,
                        Relaxed,
                    );
                }
            }
        }
    }
}

/// Memory that does not count against `maxmemory` (Redis: replica output buffers and the
/// AOF buffer; ferrokv has no replicas, and its AOF buffer is handed to the writer thread
/// after every batch). INFO `mem_not_counted_for_evict`.
pub fn not_counted(_server: &Server) -> usize {
    0
}

/// Bytes over `maxmemory` now (0 when within it or without a limit).
fn excess(server: &Server) -> usize {
    let max = server.config.maxmemory();
    if max == 0 {
        return 0;
    }
    let used = crate::memory::used_memory_recent().saturating_sub(not_counted(server))
        + crate::memory::heap_excess();
    (used as u64).saturating_sub(max) as usize
}

/// True when `maxmemory` is set and memory is over it, and this server evicts: a
/// replica with `replica-ignore-maxmemory yes` (the default) leaves its keyspace to its
/// primary, whose DELs of evicted keys it receives, and refuses no command for memory
/// (Redis's `isSafeToPerformEvictions`).
pub fn over_limit(server: &Server) -> bool {
    excess(server) > 0 && !ignored_as_replica(server)
}

/// `replica-ignore-maxmemory` (set from the configuration by [`configure`]).
static REPLICA_IGNORES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Set `replica-ignore-maxmemory` (called whenever the configuration changes).
pub fn configure_replica(ignore: bool) {
    REPLICA_IGNORES.store(ignore, Relaxed);
}

/// A replica that ignores `maxmemory` (checked only once memory is over the limit: it
/// takes the replication state's lock).
fn ignored_as_replica(server: &Server) -> bool {
    REPLICA_IGNORES.load(Relaxed) && server.repl.is_replica()
}

/// Evict before a command (Redis's `performEvictions` from `processCommand`). `own`
/// is the client whose command triggered it: its invalidation messages for evicted keys
/// go into its output now, before the command's reply.
pub fn perform(server: &Server, own: Option<&mut Own<'_>>) -> Outcome {
    let outcome = evict_until_within(server, own);
    server.evictor.update_metrics(outcome);
    outcome
}

fn evict_until_within(server: &Server, own: Option<&mut Own<'_>>) -> Outcome {
    // Nothing is evicted while the data is loaded (the log holds what happened).
    if server.is_loading() || !over_limit(server) {
        return Outcome::Ok;
    }
    let policy = policy();
    if policy == Policy::NoEviction {
        return Outcome::Fail;
    }
    let evictor = &server.evictor;
    let mut state = evictor.state.lock();
    // Another thread may have evicted while this one waited for the pool.
    let to_free = excess(server);
    if to_free == 0 {
        return Outcome::Ok;
    }
    let own_id = own.as_ref().map_or(0, |o| o.id);
    let mut deferred: Vec<Option<Box<[u8]>>> = Vec::new();
    let limit = time_limit();
    let started = Instant::now();
    let mut freed: i64 = 0;
    let mut keys = 0u64;
    let outcome = loop {
        if freed >= to_free as i64 {
            break Outcome::Ok;
        }
        let before = crate::memory::thread_net_freed();
        let evicted = if policy.random() {
            evict_random(server, &mut state, policy, own_id, &mut deferred)
        } else {
            evict_from_pool(server, &mut state, policy, own_id, &mut deferred)
        };
        if !evicted {
            break Outcome::Fail;
        }
        freed += crate::memory::thread_net_freed().wrapping_sub(before);
        keys += 1;
        if keys.is_multiple_of(16) && limit.is_some_and(|l| started.elapsed() > l) {
            // The rest is the background thread's (Redis's evictionTimeProc).
            evictor.wake_background();
            break Outcome::Running;
        }
    };
    drop(state);
    crate::memory::note_freed(freed.max(0) as usize);
    if server.tracking.active() {
        match own {
            Some(own) => {
                if !deferred.is_empty() {
                    server.tracking.send_deferred(server, own, &deferred);
                }
                server.tracking.after_command(server, Some(own));
            }
            None => server.tracking.after_command(server, None),
        }
    }
    outcome
}

/// One key of a random policy: a random key (with a TTL for volatile-random) of the next
/// database that has one, in turn.
fn evict_random(
    server: &Server,
    state: &mut State,
    policy: Policy,
    own_id: u64,
    deferred: &mut Vec<Option<Box<[u8]>>>,
) -> bool {
    let volatile = policy.volatile_only();
    for attempt in 0..2 {
        relist_if_stale(server, state, volatile, attempt > 0);
        let ndb = state.lists.per_db.len();
        let mut rng = rand::thread_rng();
        for _ in 0..ndb {
            state.next_db = (state.next_db + 1) % ndb.max(1);
            let db = state.next_db;
            if state.lists.per_db.get(db).is_none_or(|l| l.is_empty()) {
                continue;
            }
            // A few shards: listed shards may have been emptied since the listing.
            for _ in 0..8 {
                let Some(shard_idx) = random_shard(&state.lists, db, &mut rng) else {
                    break;
                };
                let Some(m) = server.dbs.get(db).and_then(|d| d.shards.get(shard_idx)) else {
                    break;
                };
                let mut shard = m.lock();
                if shard.map.is_empty() || (volatile && shard.volatile == 0) {
                    continue;
                }
                let slots = shard.map.slots().max(1);
                let key: Option<Box<[u8]>> =
                    sample(&shard.map, &mut rng, volatile, slots).map(|s| s.key.into());
                if let Some(key) = key {
                    evict_locked(server, db, &mut shard, &key, own_id, deferred);
                    return true;
                }
            }
        }
    }
    false
}

/// One key of a pool policy: fill the pool from every database, then evict the best
/// candidate that still exists.
fn evict_from_pool(
    server: &Server,
    state: &mut State,
    policy: Policy,
    own_id: u64,
    deferred: &mut Vec<Option<Box<[u8]>>>,
) -> bool {
    let volatile = policy.volatile_only();
    if state.pool_policy != Some(policy) {
        // Scores of another policy (idle seconds against LFU counters) do not compare.
        state.pool.clear();
        state.pool_policy = Some(policy);
    }
    for attempt in 0..2 {
        relist_if_stale(server, state, volatile, attempt > 0);
        populate(server, state, policy);
        while let Some(c) = state.pool.pop() {
            let Some(m) = server.dbs.get(c.db).and_then(|d| d.shards.get(c.shard)) else {
                continue;
            };
            let mut shard = m.lock();
            let present = shard
                .map
                .get(&c.key)
                .is_some_and(|e| !volatile || e.expire_at() != 0);
            if present {
                evict_locked(server, c.db, &mut shard, &c.key, own_id, deferred);
                return true;
            }
        }
    }
    false
}

/// Sample every database into the pool (Redis's `evictionPoolPopulate`).
fn populate(server: &Server, state: &mut State, policy: Policy) {
    let volatile = policy.volatile_only();
    let samples = SAMPLES.load(Relaxed) as usize;
    let mut rng = rand::thread_rng();
    for db in 0..state.lists.per_db.len() {
        let mut taken = 0;
        let mut tries = 0;
        // One key per random shard (a shard holds few keys of a small dataset).
        while taken < samples && tries < samples * 4 {
            tries += 1;
            let Some(shard_idx) = random_shard(&state.lists, db, &mut rng) else {
                break;
            };
            let Some(m) = server.dbs.get(db).and_then(|d| d.shards.get(shard_idx)) else {
                break;
            };
            let shard = m.lock();
            if shard.map.is_empty() || (volatile && shard.volatile == 0) {
                continue;
            }
            let Some(s) = sample(&shard.map, &mut rng, volatile, WALK) else {
                continue;
            };
            taken += 1;
            let score = match policy {
                Policy::AllkeysLfu | Policy::VolatileLfu => 255 - table::lfu_counter_of(s.access),
                Policy::VolatileTtl => u64::MAX - s.expire_at,
                _ => table::idle_of(s.access),
            };
            pool_insert(&mut state.pool, score, db, shard_idx, s.key);
        }
    }
}

/// Random slab slots probed for a qualifying key before [`sample`] walks.
const PROBES: usize = 8;

/// One random key of a shard's table (with a TTL when `volatile`): a few random slots are
/// probed first, which picks uniformly among the qualifying keys; only when they all miss
/// (few keys qualify) does it walk from a random slot to the next qualifying one, at most
/// `walk` slots. The walk alone favours the keys that follow long runs of keys that do
/// not qualify (a TTL key written after many keys without one), which volatile-ttl's
/// choice showed: such keys were sampled, and evicted, far more often than their share.
fn sample<'a>(
    map: &'a table::KeyTable,
    rng: &mut impl Rng,
    volatile: bool,
    walk: usize,
) -> Option<table::Sampled<'a>> {
    let slots = map.slots().max(1);
    (0..PROBES)
        .find_map(|_| map.sample_from(rng.gen_range(0..slots), volatile, 1))
        .or_else(|| map.sample_from(rng.gen_range(0..slots), volatile, walk))
}

/// A random shard of `db` to sample: any of its shards when most of them held keys at
/// the last listing (keys come and go faster than the listing is renewed), else one of
/// the listed ones. None when the database had no keys.
fn random_shard(lists: &ShardLists, db: usize, rng: &mut impl Rng) -> Option<usize> {
    let list = lists.per_db.get(db).filter(|l| !l.is_empty())?;
    if list.len() >= crate::storage::db::SHARDS / 2 {
        return Some(rng.gen_range(0..crate::storage::db::SHARDS));
    }
    list.get(rng.gen_range(0..list.len())).map(|&s| s as usize)
}

/// Insert a sampled key into the pool, kept sorted by ascending score: when full, a key
/// scoring below every candidate is left out and the lowest candidate makes room.
fn pool_insert(pool: &mut Vec<Candidate>, score: u64, db: usize, shard: usize, key: &[u8]) {
    if pool.iter().any(|c| c.db == db && &*c.key == key) {
        return;
    }
    let at = pool.partition_point(|c| c.score < score);
    if pool.len() >= POOL_SIZE {
        if at == 0 {
            return;
        }
        pool.remove(0);
        pool.insert(
            at - 1,
            Candidate {
                score,
                db,
                shard,
                key: key.into(),
            },
        );
    } else {
        pool.insert(
            at,
            Candidate {
                score,
                db,
                shard,
                key: key.into(),
            },
        );
    }
}

/// Rebuild the lists of populated shards when they are older than [`RELIST_EVERY`], hold
/// the other kind (all keys / keys with a TTL), or on `force` (sampling found nothing):
/// at once if the last listing found keys (they were evicted since, or moved), else once
/// [`RELIST_RETRY`] has passed (nothing is evictable: don't relist on every command).
fn relist_if_stale(server: &Server, state: &mut State, volatile: bool, force: bool) {
    let lists = &mut state.lists;
    let age = lists.at.map(|t| t.elapsed());
    let stale = match age {
        None => true,
        Some(age) => {
            lists.volatile != volatile
                || lists.per_db.len() != server.dbs.len()
                || age >= RELIST_EVERY
                || (force && (lists.found_any || age >= RELIST_RETRY))
        }
    };
    if !stale {
        return;
    }
    lists.volatile = volatile;
    lists.at = Some(Instant::now());
    lists.per_db = server
        .dbs
        .iter()
        .map(|db| {
            db.shards
                .iter()
                .enumerate()
                .filter(|(_, m)| {
                    let s = m.lock();
                    if volatile {
                        s.volatile > 0
                    } else {
                        !s.map.is_empty()
                    }
                })
                .map(|(i, _)| i as u16)
                .collect()
        })
        .collect();
    lists.found_any = lists.per_db.iter().any(|l| !l.is_empty());
    // Candidates of the other kind may not qualify any more.
    state.pool.clear();
}

/// Delete `key` from the locked `shard` as an eviction: WATCH sees it, the AOF gets a
/// DEL (logged where it happened, like an expired key), `evicted` is published (class
/// e) and tracking clients are told, all under the shard lock so no client sees the key
/// gone before these; the value is freed after the lock is released.
fn evict_locked(
    server: &Server,
    db: usize,
    shard: &mut parking_lot::MutexGuard<'_, Shard>,
    key: &[u8],
    own_id: u64,
    deferred: &mut Vec<Option<Box<[u8]>>>,
) {
    // A running snapshot keeps the key as it was (copy-on-write, see storage::snapshot).
    crate::storage::snapshot::preserve(shard, key);
    let Some(entry) = shard.evict(key) else {
        return;
    };
    shard.touch_watched(key);
    let blocked = shard.has_blocked(key);
    // To the append-only file and the replicas, under the shard lock (in order with the
    // writes to this key), as the active expiry cycle does.
    crate::replication::propagate_deletions(server, db, &[key]);
    notify_evicted(server, db, key);
    if server.tracking.active() {
        // No client caused it: NOLOOP filters nothing.
        server
            .tracking
            .key_modified(server, key, 0, own_id, deferred);
    }
    server.stats.evicted_keys.fetch_add(1, Relaxed);
    if blocked {
        // A blocked XREADGROUP learns that its stream is gone, as after expiry; served
        // once the shard lock is free.
        parking_lot::MutexGuard::unlocked(shard, || {
            drop(entry);
            crate::commands::unblock::serve_after_expiry(server, db, vec![key.into()]);
        });
        return;
    }
    parking_lot::MutexGuard::unlocked(shard, || drop(entry));
}

/// Publish `evicted` (class e): no command runs, so it goes out directly.
fn notify_evicted(server: &Server, db: usize, key: &[u8]) {
    use super::notify::{class, publish_detached, wanted, Event};
    if !wanted(server.config.notify_flags(), class::EVICTED) {
        return;
    }
    publish_detached(
        server,
        &[Event {
            db,
            event: "evicted",
            key: key.into(),
        }],
    );
}

/// The background side (Redis's `evictionTimeProc` plus the periodic check): evicts while
/// memory is over the limit after a command ran out of its time budget, after CONFIG SET
/// maxmemory inside a transaction, or when the check every 50 ms has found memory over for
/// [`IDLE_EVICT_AFTER`] (clients idle: otherwise the next command evicts, as in Redis);
/// that check also watches the allocator's overhead (`memory::watch_heap`).
pub fn run_background(server: Arc<Server>) {
    let evictor = &server.evictor;
    // Since when the periodic check has found memory over the limit.
    let mut over_since: Option<Instant> = None;
    loop {
        let requested = {
            let mut pending = evictor.pending.lock();
            if !*pending {
                evictor
                    .wake
                    .wait_for(&mut pending, Duration::from_millis(50));
            }
            std::mem::take(&mut *pending)
        };
        if server.is_shutting_down() {
            return;
        }
        crate::memory::watch_heap(server.config.maxmemory() as usize);
        if !requested {
            // Over the limit is the next command's to fix, before it runs, as in Redis:
            // its client then learns of the evicted keys it tracks before its reply
            // (unit/tracking checks that order). Only memory that stays over while no
            // command comes (idle clients) is evicted from here.
            if !over_limit(&server) {
                over_since = None;
                continue;
            }
            let since = *over_since.get_or_insert_with(Instant::now);
            if since.elapsed() < IDLE_EVICT_AFTER {
                continue;
            }
        }
        over_since = None;
        while over_limit(&server) {
            if perform(&server, None) != Outcome::Running {
                break;
            }
            // Let commands (and their own evictions) in between the slices.
            std::thread::yield_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_keeps_the_best_candidates_in_order() {
        let mut pool = Vec::new();
        for (i, score) in [5u64, 1, 9, 3, 7].iter().enumerate() {
            pool_insert(&mut pool, *score, 0, i, format!("k{}", score).as_bytes());
        }
        pool_insert(&mut pool, 9, 0, 0, b"k9");
        let scores: Vec<u64> = pool.iter().map(|c| c.score).collect();
        assert_eq!(scores, vec![1, 3, 5, 7, 9], "sorted, no duplicate");
        for s in 10..30u64 {
            pool_insert(&mut pool, s, 1, 0, format!("x{}", s).as_bytes());
        }
        assert_eq!(pool.len(), POOL_SIZE);
        assert_eq!(pool.last().map(|c| c.score), Some(29));
        assert_eq!(pool.first().map(|c| c.score), Some(14));
        // Below every candidate of a full pool: left out.
        pool_insert(&mut pool, 0, 0, 0, b"low");
        assert!(pool.iter().all(|c| &*c.key != b"low"));
    }

    #[test]
    fn tenacity_budget_as_redis() {
        assert_eq!(time_limit_for(10), Some(Duration::from_micros(500)));
        assert_eq!(time_limit_for(0), Some(Duration::from_micros(0)));
        assert_eq!(time_limit_for(20), Some(Duration::from_micros(2022)));
        assert_eq!(time_limit_for(100), None);
        for name in [
            "noeviction",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
        ] {
            let p = Policy::from_name(name);
            assert_eq!(Policy::from_code(p.code()), p);
            assert_eq!(p.volatile_only(), name.starts_with("volatile"));
        }
        assert!(Policy::VolatileTtl.volatile_only() && !Policy::AllkeysLfu.volatile_only());
    }
}

#[cfg(test)]
mod choice_tests {
    use super::*;
    use crate::storage::shard::Entry;
    use crate::storage::value::{StrValue, Value};

    fn server_with(keys: &[(&str, Option<u8>)]) -> Server {
        let server = Server::new(crate::config::Config::defaults());
        // After the configuration (which sets LRU mode).
        crate::storage::table::configure_lfu(true, 10, 1);
        for (k, freq) in keys {
            let idx = crate::storage::db::shard_of(k.as_bytes());
            let mut shard = server.dbs[0].shards[idx].lock();
            shard.insert(
                k.as_bytes(),
                Entry::new(Value::Str(StrValue::from_bytes(b"v"))),
            );
            shard.map.restore_access(k.as_bytes(), None, *freq);
        }
        server
    }

    #[test]
    fn lfu_pool_evicts_the_least_frequent_first() {
        let mut keys: Vec<(String, Option<u8>)> =
            (0..300).map(|i| (format!("cold:{}", i), Some(5))).collect();
        keys.extend((0..30).map(|i| (format!("hot:{}", i), Some(20))));
        let refs: Vec<(&str, Option<u8>)> = keys.iter().map(|(k, f)| (k.as_str(), *f)).collect();
        let server = server_with(&refs);
        let mut state = State::default();
        let mut deferred = Vec::new();
        for _ in 0..200 {
            assert!(evict_from_pool(
                &server,
                &mut state,
                Policy::AllkeysLfu,
                0,
                &mut deferred
            ));
        }
        let hot_left = (0..30)
            .filter(|i| {
                let k = format!("hot:{}", i);
                let idx = crate::storage::db::shard_of(k.as_bytes());
                server.dbs[0].shards[idx]
                    .lock()
                    .map
                    .contains_key(k.as_bytes())
            })
            .count();
        crate::storage::table::configure_lfu(false, 10, 1);
        assert_eq!(
            hot_left, 30,
            "evicting 200 of 300 cold keys keeps the hot ones"
        );
    }
}
