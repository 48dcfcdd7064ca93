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

use super::{arg_i64, CmdError, CmdResult, Ctx};
use crate::storage::glob::glob_match;
use crate::storage::{Shard, SHARDS};
use crate::util::eq_ic;

/// The cursor that means "shard 0 again": returned when a call inside EXEC could not read
/// even the first shard (cursor 0 would end the iteration).
const RETRY_FIRST: usize = SHARDS;

/// Parse a SCAN cursor as Redis does (`strtoul` base 10, rejecting leading spaces and
/// trailing garbage): `+` and `-` are accepted (`-1` wraps around), the empty string is 0,
/// and the string ends at its first NUL byte as in C.
pub fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    const INVALID: CmdError = CmdError::Static("ERR invalid cursor");
    let s = arg.split(|&b| b == 0).next().unwrap_or_default();
    if s.is_empty() {
        return Ok(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return Err(INVALID);
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(INVALID);
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or(INVALID)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// SCAN's options.
pub struct ScanOptions<'a> {
    /// COUNT: how many entries to examine per call (a hint).
    pub count: usize,
    /// MATCH pattern, None when absent or a lone `*`.
    pub pattern: Option<&'a [u8]>,
    /// TYPE filter (compared case-insensitively with the type names).
    pub type_name: Option<&'a [u8]>,
}

/// Parse `[MATCH pattern] [COUNT count] [TYPE type]` starting at `args[first]`, in Redis's
/// order of checks. TYPE is accepted only when `allow_type` (SCAN, not HSCAN & co).
pub fn parse_options<'a>(
    args: &[&'a [u8]],
    first: usize,
    allow_type: bool,
) -> Result<ScanOptions<'a>, CmdError> {
    let mut opts = ScanOptions {
        count: 10,
        pattern: None,
        type_name: None,
    };
    let mut i = first;
    while i < args.len() {
        let has_value = i + 1 < args.len();
        let value = args.get(i + 1).copied().unwrap_or_default();
        if eq_ic(args[i], "count") && has_value {
            let n = arg_i64(value)?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            opts.count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if eq_ic(args[i], "match") && has_value {
            // `*` matches everything, so it disables the filter.
            opts.pattern = (value != b"*").then_some(value);
        } else if eq_ic(args[i], "type") && allow_type && has_value {
            opts.type_name = Some(value);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    Ok(opts)
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
pub fn scan(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let cursor = parse_cursor(args[1])?;
    let opts = parse_options(args, 2, true)?;
    let db = ctx.client.db;
    let mut keys: Vec<Box<[u8]>> = Vec::new();
    let mut examined = 0usize;
    let mut next = match usize::try_from(cursor) {
        Ok(RETRY_FIRST) => 0,
        Ok(c) if c < SHARDS => c,
        // A cursor we never hand out: the iteration is over.
        _ => SHARDS,
    };
    while next < SHARDS && examined < opts.count {
        let read = with_shard(ctx, db, next, |shard, now, stats| {
            scan_shard(shard, &opts, now, stats, &mut keys)
        });
        match read {
            Some(n) => examined += n,
            // Busy shard inside EXEC: stop here; the client resumes at this shard.
            None => break,
        }
        next += 1;
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

/// Read one shard: push its keys that pass the filters, reclaim the expired ones (as
/// Redis's SCAN does). Returns the number of keys examined.
fn scan_shard(
    shard: &mut Shard,
    opts: &ScanOptions,
    now: u64,
    stats: &crate::stats::Stats,
    keys: &mut Vec<Box<[u8]>>,
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
                entry.value.type_name()
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
    for key in &expired {
        shard.remove(key);
        shard.touch_watched_expired(key);
        stats.expired_key(key);
    }
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
