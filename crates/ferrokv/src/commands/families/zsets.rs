//! The sorted set family: ZADD, ZRANGE and its variants, ZUNION/ZINTER/ZDIFF (and STORE),
//! ZPOPMIN/ZPOPMAX/ZMPOP, ZRANDMEMBER, ZSCAN and friends.
//!
//! BZPOPMIN/BZPOPMAX/BZMPOP are in `blocking.rs`; the ZMPOP shape and the `numkeys` key
//! finder they share with ZMPOP and ZUNION & co are in `commands/shared/pops.rs`.
//!
//! Values live in [`ZSetValue`] (listpack or skiplist, see `storage/zset.rs`); this module
//! follows Redis 7.0's `t_zset.c` for argument checks, error order and reply shapes. The
//! handlers are split by theme: `zsets/parse.rs` (Redis's number and range parsing),
//! `zsets/basic.rs` (ZADD, ZREM, ZSCORE...), `zsets/range.rs` (ZRANGE family, ZCOUNT,
//! ZREMRANGEBY*), `zsets/setops.rs` (ZUNION, ZINTER, ZDIFF, ZINTERCARD), `zsets/pop.rs`
//! (ZPOP*, ZMPOP) and `zsets/sample.rs` (ZRANDMEMBER, ZSCAN).

mod basic;
mod parse;
mod pop;
mod range;
mod sample;
mod setops;

use crate::commands::{acl, class, flags, CmdError, Command, Ctx};
use crate::stats::Stats;
use crate::storage::zset::{ZSetLimits, ZSetValue};
use crate::storage::{DbView, Value};
use crate::storage::{ValueMut, ZSetEdit, ZSetMut};
use resp::ReplyWriter;

use basic::{zadd, zcard, zincrby, zmscore, zrank, zrem, zrevrank, zscore};
use pop::{zmpop, zpopmax, zpopmin};
use range::{
    zcount, zlexcount, zrange, zrangebylex, zrangebyscore, zrangestore, zremrangebylex,
    zremrangebyrank, zremrangebyscore, zrevrange, zrevrangebylex, zrevrangebyscore,
};
use sample::{zrandmember, zscan};
use setops::{
    keys_numkeys_at_1, keys_store, zdiff, zdiffstore, zinter, zintercard, zinterstore, zunion,
    zunionstore,
};

/// The sorted set family's table.
pub static COMMANDS: &[Command] = &[
    Command::new(
        "zadd",
        -4,
        flags::WRITE | flags::DENYOOM | flags::FAST,
        zadd,
    )
    .keys(1, 1, 1)
    .acl(acl::SORTEDSET),
    Command::new("zrem", -3, flags::WRITE | flags::FAST, zrem)
        .keys(1, 1, 1)
        .acl(acl::SORTEDSET),
    Command::new("zscore", 3, flags::READONLY | flags::FAST, zscore)
        .keys(1, 1, 1)
        .acl(acl::SORTEDSET),
    Command::new("zmscore", -3, flags::READONLY | flags::FAST, zmscore)
        .keys(1, 1, 1)
        .acl(acl::SORTEDSET),
    Command::new(
        "zincrby",
        4,
        flags::WRITE | flags::DENYOOM | flags::FAST,
        zincrby,
    )
    .keys(1, 1, 1)
    .acl(acl::SORTEDSET),
    Command::new("zcard", 2, flags::READONLY | flags::FAST, zcard)
        .keys(1, 1, 1)
        .acl(acl::SORTEDSET),
    Command::new("zcount", 4, flags::READONLY | flags::FAST, zcount)
        .keys(1, 1, 1)
        .acl(acl::SORTEDSET),
    Command::new("zlexcount", 4, flags::READONLY | flags::FAST, zlexcount)
        .keys(1, 1, 1)
        .acl(acl::SORTEDSET),
    Command::new("zrange", -4, flags::READONLY, zrange)
        .keys(1, 1, 1)
        .acl(acl::SORTEDSET),
    Command::new(
        "zrangestore",
        -5,
        flags::WRITE | flags::DENYOOM,
        zrangestore,
    )
    .keys(1, 2, 1)
    .acl(acl::SORTEDSET),
    Command::new("zrevrange", -4, flags::READONLY, zrevrange)
        .keys(1, 1, 1)
        .acl(acl::SORTEDSET),
    Command::new("zrangebyscore", -4, flags::READONLY, zrangebyscore)
        .keys(1, 1, 1)
        .acl(acl::SORTEDSET),
    Command::new("zrevrangebyscore", -4, flags::READONLY, zrevrangebyscore)
        .keys(1, 1, 1)
        .acl(acl::SORTEDSET),
    Command::new("zrangebylex", -4, flags::READONLY, zrangebylex)
        .keys(1, 1, 1)
        .acl(acl::SORTEDSET),
    Command::new("zrevrangebylex", -4, flags::READONLY, zrevrangebylex)
        .keys(1, 1, 1)
        .acl(acl::SORTEDSET),
    Command::new("zrank", 3, flags::READONLY | flags::FAST, zrank)
        .keys(1, 1, 1)
        .acl(acl::SORTEDSET),
    Command::new("zrevrank", 3, flags::READONLY | flags::FAST, zrevrank)
        .keys(1, 1, 1)
        .acl(acl::SORTEDSET),
    Command::new("zpopmin", -2, flags::WRITE | flags::FAST, zpopmin)
        .keys(1, 1, 1)
        .acl(acl::SORTEDSET),
    Command::new("zpopmax", -2, flags::WRITE | flags::FAST, zpopmax)
        .keys(1, 1, 1)
        .acl(acl::SORTEDSET),
    Command::new("zmpop", -4, flags::WRITE, zmpop)
        .keys_fn(keys_numkeys_at_1)
        .acl(acl::SORTEDSET),
    Command::new("zrandmember", -2, flags::READONLY, zrandmember)
        .keys(1, 1, 1)
        .acl(acl::SORTEDSET),
    Command::new("zunion", -3, flags::READONLY, zunion)
        .keys_fn(keys_numkeys_at_1)
        .acl(acl::SORTEDSET),
    Command::new("zinter", -3, flags::READONLY, zinter)
        .keys_fn(keys_numkeys_at_1)
        .acl(acl::SORTEDSET),
    Command::new("zdiff", -3, flags::READONLY, zdiff)
        .keys_fn(keys_numkeys_at_1)
        .acl(acl::SORTEDSET),
    Command::new(
        "zunionstore",
        -4,
        flags::WRITE | flags::DENYOOM,
        zunionstore,
    )
    .keys(1, 1, 1)
    .keys_fn(keys_store)
    .acl(acl::SORTEDSET),
    Command::new(
        "zinterstore",
        -4,
        flags::WRITE | flags::DENYOOM,
        zinterstore,
    )
    .keys(1, 1, 1)
    .keys_fn(keys_store)
    .acl(acl::SORTEDSET),
    Command::new("zdiffstore", -4, flags::WRITE | flags::DENYOOM, zdiffstore)
        .keys(1, 1, 1)
        .keys_fn(keys_store)
        .acl(acl::SORTEDSET),
    Command::new("zintercard", -3, flags::READONLY, zintercard)
        .keys_fn(keys_numkeys_at_1)
        .acl(acl::SORTEDSET),
    Command::new("zremrangebyrank", 4, flags::WRITE, zremrangebyrank)
        .keys(1, 1, 1)
        .acl(acl::SORTEDSET),
    Command::new("zremrangebyscore", 4, flags::WRITE, zremrangebyscore)
        .keys(1, 1, 1)
        .acl(acl::SORTEDSET),
    Command::new("zremrangebylex", 4, flags::WRITE, zremrangebylex)
        .keys(1, 1, 1)
        .acl(acl::SORTEDSET),
    Command::new("zscan", -3, flags::READONLY, zscan)
        .keys(1, 1, 1)
        .acl(acl::SORTEDSET),
];

/// The encoding thresholds (`zset-max-listpack-entries`, `zset-max-listpack-value`), read
/// from the config at each command (both are CONFIG SET-able).
pub(crate) fn zset_limits(ctx: &Ctx) -> ZSetLimits {
    ZSetLimits {
        max_entries: ctx.server.config.zset_max_listpack_entries(),
        max_value: ctx.server.config.zset_max_listpack_value(),
    }
}

/// Look up a sorted set for reading: counts the keyspace hit or miss (as Redis, a key of
/// the wrong type is a hit) and checks the type. Inlined: out of line, the view (which
/// has drop glue) is returned through memory.
#[inline(always)]
fn read_zset<'v>(
    db: &'v mut DbView<'_, '_>,
    key: &[u8],
    stats: &Stats,
) -> Result<Option<ZSetMut<'v>>, CmdError> {
    match db.value(key)? {
        None => {
            stats.hit(false);
            Ok(None)
        }
        Some(ValueMut::ZSet(z)) => {
            stats.hit(true);
            Ok(Some(z))
        }
        Some(_) => {
            stats.hit(true);
            Err(CmdError::WrongType)
        }
    }
}

/// Look up a sorted set for writing (no hit/miss accounting): None when the key is missing.
/// Inlined, as [`read_zset`] (ZADD's path).
#[inline(always)]
fn write_zset<'v>(db: &'v mut DbView<'_, '_>, key: &[u8]) -> Result<Option<ZSetMut<'v>>, CmdError> {
    match db.value(key)? {
        None => Ok(None),
        Some(ValueMut::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// [`read_zset`] for the reads a set in its key's record answers from the record's
/// bytes (ZSCORE, ZMSCORE, ZCARD, ZRANK): the set is not decoded.
#[inline(always)]
fn peek_zset<'v>(
    db: &'v mut DbView<'_, '_>,
    key: &[u8],
    stats: &Stats,
) -> Result<Option<ZSetEdit<'v>>, CmdError> {
    match db.zset(key) {
        Ok(z) => {
            stats.hit(z.is_some());
            Ok(z)
        }
        Err(CmdError::WrongType) => {
            stats.hit(true);
            Err(CmdError::WrongType)
        }
        Err(e) => Err(e),
    }
}

/// After removing `removed` members from the set at `key` in place (by the command whose
/// keyspace event is `event`): notify it, delete the key when the set is empty, else signal
/// the change; the dirty counter grows by `removed` in total, as in Redis.
fn after_removal(
    db: &mut DbView<'_, '_>,
    key: &[u8],
    event: &'static str,
    removed: usize,
    empty: bool,
) -> Result<(), CmdError> {
    if removed == 0 {
        return Ok(());
    }
    db.notify(class::ZSET, event, key);
    if empty {
        db.delete(key)?;
        db.notify(class::GENERIC, "del", key);
    } else {
        db.modified(key)?;
    }
    db.stats.dirty(removed as u64 - 1);
    Ok(())
}

/// Store the result of a STORE command (ZRANGESTORE, ZUNIONSTORE...) under `dst`: a
/// non-empty set replaces it (event `event`), an empty one deletes it (`del`). Returns the
/// number of members stored.
fn store_result(
    db: &mut DbView<'_, '_>,
    dst: &[u8],
    result: Option<ZSetValue>,
    event: &'static str,
) -> Result<usize, CmdError> {
    match result.filter(|z| !z.is_empty()) {
        Some(z) => {
            let n = z.len();
            db.set(dst, Value::ZSet(z))?;
            db.notify(class::ZSET, event, dst);
            Ok(n)
        }
        None => {
            if db.delete(dst)? {
                db.notify(class::GENERIC, "del", dst);
            }
            Ok(0)
        }
    }
}

/// Reply with a range of (member, score) pairs the way ZRANGE does: an array of members,
/// with scores flat after each member in RESP2 and as `[member, score]` pairs in RESP3.
/// `n` is the number of pairs `fill` writes with [`reply_pair`].
fn reply_range_header(out: &mut ReplyWriter, n: usize, withscores: bool) {
    out.array(if withscores && !out.resp3 { n * 2 } else { n });
}

/// One element of a ZRANGE-style reply (see [`reply_range_header`]).
fn reply_pair(out: &mut ReplyWriter, member: &[u8], score: f64, withscores: bool) {
    if withscores && out.resp3 {
        out.array(2);
    }
    out.bulk(member);
    if withscores {
        out.double(score);
    }
}
