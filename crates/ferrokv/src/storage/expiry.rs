//! The active expiry cycle: reclaims expired keys that nobody reads, like Redis's
//! `activeExpireCycle`, one shard lock at a time so clients keep running.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::server::Server;
use crate::util::now_ms;

/// Set while this server replicates a primary: keys are not expired here (the primary
/// sends a DEL for each key it expires); reads of logically expired keys answer nothing.
static REPLICA_MODE: AtomicBool = AtomicBool::new(false);

/// Enter or leave replica mode (see [`replica_mode`]).
pub fn set_replica_mode(on: bool) {
    REPLICA_MODE.store(on, Ordering::Release);
}

/// True while this server replicates a primary and must keep expired keys.
#[inline]
pub fn replica_mode() -> bool {
    REPLICA_MODE.load(Ordering::Relaxed)
}

/// Called (with no lock held) with keys the cycle removed while clients were blocked on
/// them, so a blocked XREADGROUP learns that its stream is gone (the server passes
/// `commands::unblock::serve_after_expiry`; storage does not serve clients itself).
pub type WakeBlocked = fn(&Server, usize, Vec<Box<[u8]>>);

/// Run the active expiry cycle forever (on its own thread), `hz` times a second, spending
/// at most 25% of one core per second in each run and resuming where the last one stopped.
pub fn run_active_expire(server: Arc<Server>, wake: WakeBlocked) {
    let mut cursor = 0usize;
    loop {
        let hz = server.config.hz().clamp(1, 500);
        let period = Duration::from_millis(1000 / hz);
        std::thread::sleep(period);
        if server.is_shutting_down() {
            return;
        }
        super::table::tick_lru_clock();
        // Nothing expires while the log is replayed: the log holds the expiries that
        // happened, where they happened.
        if !server.config.active_expire_enabled() || server.is_loading() || replica_mode() {
            continue;
        }
        let budget = period / 4;
        let started = Instant::now();
        cursor = expire_cycle_waking(&server, cursor, budget, Some(wake));
        // The latency monitor's `expire-cycle` event (LATENCY LATEST/HISTORY), as Redis
        // records a slow active expiry cycle.
        let threshold_ms = server.config.latency_threshold_ms();
        let took_ms = started.elapsed().as_millis() as u64;
        if threshold_ms > 0 && took_ms >= threshold_ms as u64 {
            server.latency.lock().add("expire-cycle", took_ms);
        }
    }
}

/// One cycle: walk shards from `cursor` until every shard was visited or the time budget is
/// spent. Returns where the next cycle starts. Databases whose `may_have_volatile` hint is
/// clear are skipped whole.
pub fn expire_cycle(server: &Server, cursor: usize, budget: Duration) -> usize {
    expire_cycle_waking(server, cursor, budget, None)
}

/// [`expire_cycle`], handing the removed keys that clients were blocked on to `wake`.
pub fn expire_cycle_waking(
    server: &Server,
    mut cursor: usize,
    budget: Duration,
    wake: Option<WakeBlocked>,
) -> usize {
    let start = Instant::now();
    let total = server.dbs.len() * super::SHARDS;
    let mut visited = 0;
    while visited < total {
        let db_idx = cursor / super::SHARDS;
        let shard_idx = cursor % super::SHARDS;
        let Some(db) = server.dbs.get(db_idx) else {
            cursor = 0;
            visited += 1;
            continue;
        };
        if shard_idx == 0 {
            // Clear before the pass: a TTL set during the pass sets it again, and any shard
            // this pass finds volatile sets it again too.
            if !db.may_have_volatile.swap(false, Ordering::Relaxed) {
                visited += super::SHARDS;
                cursor = (cursor + super::SHARDS) % total;
                continue;
            }
        }
        visited += 1;
        cursor = (cursor + 1) % total;
        let Some(m) = db.shards.get(shard_idx) else {
            continue;
        };
        let mut shard = m.lock();
        if shard.volatile == 0 {
            continue;
        }
        // A running snapshot gets this shard before the cycle deletes from it.
        super::snapshot::capture(db_idx, &mut shard);
        let expired = shard.collect_expired(now_ms());
        let woken: Vec<Box<[u8]>> = expired
            .iter()
            .filter(|k| shard.has_blocked(k))
            .map(|k| Box::<[u8]>::from(&k[..]))
            .collect();
        if !expired.is_empty() {
            // Propagated under the shard lock, in order with the writes to these keys.
            let keys: Vec<&[u8]> = expired.iter().map(|k| &k[..]).collect();
            crate::replication::propagate_deletions(server, db_idx, &keys);
        }
        if shard.volatile > 0 {
            db.may_have_volatile.store(true, Ordering::Relaxed);
        }
        // Published under the shard lock, as commands publish under theirs: a command that
        // recreates one of these keys cannot get its events out before the `expired` ones.
        notify_expired(server, db_idx, &expired);
        let tracking = !expired.is_empty() && server.tracking.active();
        if tracking {
            // Invalidated under the shard lock too, so no reader can cache the key in
            // between; no client caused it (NOLOOP filters nothing).
            let mut deferred = Vec::new();
            for k in &expired {
                server.tracking.key_modified(server, k, 0, 0, &mut deferred);
            }
        }
        drop(shard);
        if tracking {
            server.tracking.after_command(server, None);
        }
        for k in &expired {
            server.stats.expired_key(k);
        }
        if let (Some(wake), false) = (wake, woken.is_empty()) {
            wake(server, db_idx, woken);
        }
        if start.elapsed() >= budget {
            // Resuming mid-database: keep the hint so the rest of it is visited.
            db.may_have_volatile.store(true, Ordering::Relaxed);
            break;
        }
    }
    cursor
}

/// Publish `expired` (class x) for keys the cycle reclaimed: no command runs here, so the
/// events go out directly (the Pub/Sub registry never takes a shard lock).
fn notify_expired(server: &Server, db: usize, keys: &[impl AsRef<[u8]>]) {
    use crate::server::notify::{class, publish_detached, wanted, Event};
    if keys.is_empty() || !wanted(server.config.notify_flags(), class::EXPIRED) {
        return;
    }
    let events: Vec<Event> = keys
        .iter()
        .map(|k| Event {
            db,
            event: "expired",
            key: k.as_ref().into(),
        })
        .collect();
    publish_detached(server, &events);
}
