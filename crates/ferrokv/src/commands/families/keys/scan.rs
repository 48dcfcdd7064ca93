//! SCAN: cursor-based iteration over a database, one shard at a time.
//!
//! The cursor is the index of the next shard to read (0 starts and ends an iteration). Each
//! call reads whole shards, in ascending order, until it has examined at least COUNT keys
//! (a hint, as in Redis) or passed the last shard. A key's shard never changes, and each
//! shard is read entirely under its lock, so every key that exists for the whole iteration
//! is returned exactly once, however the shards' tables grow or shrink meanwhile; keys
//! added or removed during the iteration may or may not be returned.
//!
//! Locking: the command takes no locks up front and locks one shard at a time, so it never
//! holds more than the shard it reads. Inside EXEC (where other shards are already held)
//! a shard the transaction holds is read through its lock; any other shard is only
//! *tried*: if it is busy the call ends there and returns that shard as the cursor (shard 0
//! is then spelled 1024, as 0 would end the iteration), so a transaction never waits for a
//! lock out of order (no deadlock).

use crate::commands::shared::scan_args::{parse_cursor, parse_options, ScanOptions};
use crate::commands::{class, CmdResult, Ctx};
use crate::storage::glob::glob_match;
use crate::storage::{Shard, SHARDS};

/// The cursor that means "shard 0 again": returned when a call inside EXEC could not read
/// even the first shard (cursor 0 would end the iteration).
const RETRY_FIRST: usize = SHARDS;

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
pub fn scan(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let cursor = parse_cursor(args[1])?;
    let opts = parse_options(args, 2, true)?;
    let db = ctx.client.db;
    let mut keys: Vec<Box<[u8]>> = Vec::new();
    let mut reclaimed: Vec<Box<[u8]>> = Vec::new();
    let mut examined = 0usize;
    let mut next = match usize::try_from(cursor) {
        Ok(RETRY_FIRST) => 0,
        Ok(c) if c < SHARDS => c,
        // A cursor we never hand out: the iteration is over.
        _ => SHARDS,
    };
    let server = ctx.server;
    while next < SHARDS && examined < opts.count {
        let read = with_shard(ctx, db, next, |shard, now, stats| {
            let before = reclaimed.len();
            let n = scan_shard(shard, &opts, now, stats, (&mut keys, &mut reclaimed));
            // Propagated as DEL under the shard's lock (in order with writes to these
            // keys), outside any MULTI block, as Redis's lazy expiry during SCAN.
            let gone: Vec<&[u8]> = reclaimed.iter().skip(before).map(|k| &k[..]).collect();
            crate::replication::propagate_deletions(server, db, &gone);
            n
        });
        match read {
            Some(n) => examined += n,
            // Busy shard inside EXEC: stop here; the client resumes at this shard.
            None => break,
        }
        next += 1;
    }
    for key in &reclaimed {
        ctx.notify(class::EXPIRED, "expired", key);
        ctx.locks.track_write(key, true);
    }
    let cursor = match next {
        0 => RETRY_FIRST,
        n if n >= SHARDS => 0,
        n => n,
    };
    ctx.out.array(2);
    ctx.out.bulk_int(cursor as i64);
    ctx.out.array(keys.len());
    for key in &keys {
        ctx.out.bulk(key);
    }
    Ok(())
}

/// Run `f` on shard `idx` of database `db` under its lock: a lock this command already
/// holds (inside EXEC), else the shard's own mutex. Returns None when that mutex is busy
/// and blocking on it could deadlock (other locks are held).
fn with_shard<R>(
    ctx: &mut Ctx,
    db: usize,
    idx: usize,
    f: impl FnOnce(&mut Shard, u64, &crate::stats::Stats) -> R,
) -> Option<R> {
    let (now, stats) = (ctx.now, &ctx.server.stats);
    let mutex = ctx.server.dbs.get(db)?.shards.get(idx)?;
    if ctx.locks.is_empty() {
        // Nothing else held: blocking on one lock cannot deadlock.
        return Some(f(&mut mutex.lock(), now, stats));
    }
    if let Some(shard) = ctx.locks.shard(db, idx) {
        return Some(f(shard, now, stats));
    }
    let mut guard = mutex.try_lock()?;
    Some(f(&mut guard, now, stats))
}

/// A list of key names.
type Keys = Vec<Box<[u8]>>;

/// Read one shard: push its keys that pass the filters to `keys`, reclaim the expired ones
/// (as Redis's SCAN does) and push them to `reclaimed` (for their `expired` events).
/// Returns the number of keys examined.
fn scan_shard(
    shard: &mut Shard,
    opts: &ScanOptions,
    now: u64,
    stats: &crate::stats::Stats,
    (keys, reclaimed): (&mut Keys, &mut Keys),
) -> usize {
    let mut expired: Vec<Box<[u8]>> = Vec::new();
    for (key, entry) in shard.map.iter() {
        if let Some(p) = opts.pattern {
            if !glob_match(p, key, false) {
                continue;
            }
        }
        let is_expired = entry.is_expired(now);
        if let Some(t) = opts.type_name {
            // Redis looks the key up to get its type: a hit or a miss, and an expired key
            // has type "none".
            stats.hit(!is_expired);
            let name = if is_expired {
                "none"
            } else {
                entry.value().type_name()
            };
            if !t.eq_ignore_ascii_case(name.as_bytes()) {
                if is_expired {
                    expired.push(key.into());
                }
                continue;
            }
            if is_expired {
                // Reclaimed by the type lookup, then no longer "expired": returned.
                keys.push(key.into());
                expired.push(key.into());
                continue;
            }
        }
        if is_expired {
            expired.push(key.into());
        } else {
            keys.push(key.into());
        }
    }
    let examined = shard.map.len();
    if crate::storage::expiry::replica_mode() {
        // A replica skips logically expired keys but leaves them to its primary's DEL.
        return examined;
    }
    for key in &expired {
        shard.remove(key);
        shard.touch_watched_expired(key);
        stats.expired_key(key);
    }
    reclaimed.extend(expired);
    examined
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;

    #[test]
    fn cursor_parsing_like_strtoul() {
        assert_eq!(parse_cursor(b"0"), Ok(0));
        assert_eq!(parse_cursor(b""), Ok(0));
        assert_eq!(parse_cursor(b"+5"), Ok(5));
        assert_eq!(parse_cursor(b"007"), Ok(7));
        assert_eq!(parse_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"-0"), Ok(0));
        assert_eq!(parse_cursor(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"12\x00junk"), Ok(12));
        for bad in [
            &b"18446744073709551616"[..],
            b" 1",
            b"1 ",
            b"+",
            b"-",
            b"x",
            b"0x10",
            b"1.0",
        ] {
            assert!(parse_cursor(bad).is_err(), "{:?}", bad);
        }
    }
}
