//! The keyspace (generic) family: DEL, UNLINK, EXISTS, TYPE, RENAME, RENAMENX, TOUCH,
//! RANDOMKEY, KEYS, SCAN, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, MOVE, COPY, OBJECT.
//!
//! Locking: single- and multi-key commands lock their keys' shards through the table;
//! whole-database commands use [`LockScope::Db`]; FLUSHALL uses [`LockScope::All`]; MOVE,
//! COPY (which may take `DB n`) and SWAPDB compute exactly the shards they touch in other
//! databases with [`LockScope::Custom`]. SCAN takes no
//! locks up front and locks one shard at a time (see `scan.rs`).

mod scan;

use crate::storage::KeyTable;
use rand::Rng;

use crate::commands::dispatch::LockIds;
use crate::commands::{acl, class, flags, CmdError, CmdResult, Command, Ctx, LockScope};
use crate::storage::db::{lock_id, shard_of};
use crate::storage::glob::glob_match;
use crate::storage::shard::touch_replaced;
use crate::storage::{Shard, StrRef, ValueRef, SHARDS};
use crate::util::eq_ic;

/// `ERR source and destination objects are the same` (MOVE, COPY).
const SAME_OBJECT: CmdError = CmdError::Static("ERR source and destination objects are the same");

/// Redis's OBJ_SHARED_REFCOUNT: the refcount OBJECT REFCOUNT reports for shared integers.
const SHARED_REFCOUNT: i64 = i32::MAX as i64;
/// Redis's OBJ_SHARED_INTEGERS: integers below this are shared objects.
const SHARED_INTEGERS: i64 = 10_000;

/// The keys family's table.
pub static COMMANDS: &[Command] = &[
    Command::new("del", -2, flags::WRITE, del)
        .keys(1, -1, 1)
        .acl(acl::KEYSPACE),
    Command::new("unlink", -2, flags::WRITE | flags::FAST, del)
        .keys(1, -1, 1)
        .acl(acl::KEYSPACE),
    Command::new("exists", -2, flags::READONLY | flags::FAST, exists)
        .keys(1, -1, 1)
        .acl(acl::KEYSPACE),
    Command::new("type", 2, flags::READONLY | flags::FAST, type_cmd)
        .keys(1, 1, 1)
        .acl(acl::KEYSPACE),
    Command::new("rename", 3, flags::WRITE, rename)
        .keys(1, 2, 1)
        .acl(acl::KEYSPACE),
    Command::new("renamenx", 3, flags::WRITE | flags::FAST, renamenx)
        .keys(1, 2, 1)
        .acl(acl::KEYSPACE),
    Command::new("touch", -2, flags::READONLY | flags::FAST, touch)
        .keys(1, -1, 1)
        .acl(acl::KEYSPACE),
    Command::new("randomkey", 1, flags::READONLY, randomkey)
        .acl(acl::KEYSPACE)
        .lock(LockScope::Db),
    Command::new("keys", 2, flags::READONLY, keys)
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .lock(LockScope::Db),
    Command::new("scan", -2, flags::READONLY, scan::scan)
        .acl(acl::KEYSPACE)
        // No locks up front: the handler locks one shard at a time.
        .lock(LockScope::Keys),
    Command::new("dbsize", 1, flags::READONLY | flags::FAST, dbsize)
        .acl(acl::KEYSPACE)
        .lock(LockScope::Db),
    Command::new("flushdb", -1, flags::WRITE, flushdb)
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .lock(LockScope::Db),
    Command::new("flushall", -1, flags::WRITE, flushall)
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .lock(LockScope::All),
    Command::new("swapdb", 3, flags::WRITE | flags::FAST, swapdb)
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .lock(LockScope::Custom(swapdb_locks)),
    Command::new("move", 3, flags::WRITE | flags::FAST, move_cmd)
        .keys(1, 1, 1)
        .acl(acl::KEYSPACE)
        .lock(LockScope::Custom(move_locks)),
    Command::new("copy", -3, flags::WRITE | flags::DENYOOM, copy)
        .keys(1, 2, 1)
        .acl(acl::KEYSPACE)
        // `DB n` may name any database and the scope is fixed per command, so COPY locks
        // everything (correct inside EXEC too, where locks cannot be added later).
        .lock(LockScope::Custom(copy_locks)),
    Command::container("object", -2, 0).subcommands(OBJECT_SUBCOMMANDS),
];

/// OBJECT's subcommands, by name (Redis's own order changes with its hash seed).
static OBJECT_SUBCOMMANDS: &[Command] = &[
    Command::new("encoding", 3, flags::READONLY, object_encoding)
        .keys(2, 2, 1)
        .acl(acl::KEYSPACE),
    Command::new("freq", 3, flags::READONLY, object_freq)
        .keys(2, 2, 1)
        .acl(acl::KEYSPACE),
    Command::new("help", 2, flags::LOADING | flags::STALE, object_help).acl(acl::KEYSPACE),
    Command::new("idletime", 3, flags::READONLY, object_idletime)
        .keys(2, 2, 1)
        .acl(acl::KEYSPACE),
    Command::new("refcount", 3, flags::READONLY, object_refcount)
        .keys(2, 2, 1)
        .acl(acl::KEYSPACE),
];

// ---------------------------------------------------------------------------------------
// Single- and multi-key commands.

/// DEL and UNLINK: values are freed inline either way (UNLINK's lazy freeing is an
/// implementation detail that clients cannot observe).
fn del(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let mut db = ctx.db();
    let mut deleted = 0;
    for key in &args[1..] {
        if db.delete(key)? {
            db.notify(class::GENERIC, "del", key);
            deleted += 1;
        }
    }
    ctx.out.int(deleted);
    Ok(())
}

/// EXISTS counts every argument that names a live key, duplicates included.
fn exists(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let stats = &ctx.server.stats;
    let mut db = ctx.db();
    let mut found = 0;
    for key in &args[1..] {
        let hit = db.exists(key)?;
        stats.hit(hit);
        found += i64::from(hit);
    }
    ctx.out.int(found);
    Ok(())
}

/// TOUCH: like EXISTS (we keep no access times to update).
fn touch(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    exists(ctx, args)
}

fn type_cmd(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let stats = &ctx.server.stats;
    let name = ctx.db().read(args[1])?.map(|v| v.type_name());
    stats.hit(name.is_some());
    ctx.out.simple(name.unwrap_or("none"));
    Ok(())
}

fn rename(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    rename_generic(ctx, args, false)
}

fn renamenx(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    rename_generic(ctx, args, true)
}

/// RENAME / RENAMENX, in Redis's order: the source must exist (even when both names are
/// the same), then the destination is checked, then the entry (with its TTL) moves.
fn rename_generic(ctx: &mut Ctx, args: &[&[u8]], nx: bool) -> CmdResult {
    let (src, dst) = (args[1], args[2]);
    let mut db = ctx.db();
    if !db.exists(src)? {
        return Err(CmdError::NoSuchKey);
    }
    if src == dst {
        reply_rename(ctx, nx, false);
        return Ok(());
    }
    // Looked up even without NX: an expired destination is reclaimed first, as in Redis.
    if db.exists(dst)? && nx {
        ctx.out.int(0);
        return Ok(());
    }
    // `take` signals the source and counts the one change RENAME makes.
    let entry = db
        .take(src)?
        .ok_or(CmdError::Internal("renamed key vanished"))?;
    db.insert_moved(dst, entry)?;
    db.notify(class::GENERIC, "rename_from", src);
    db.notify(class::GENERIC, "rename_to", dst);
    reply_rename(ctx, nx, true);
    Ok(())
}

fn reply_rename(ctx: &mut Ctx, nx: bool, renamed: bool) {
    if nx {
        ctx.out.int(i64::from(renamed));
    } else {
        ctx.out.ok();
    }
}

// ---------------------------------------------------------------------------------------
// Whole-database commands (LockScope::Db).

fn dbsize(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    // Like Redis, keys that expired but were not reclaimed yet still count.
    let n: usize = ctx.db().shards().map(|s| s.map.len()).sum();
    ctx.out.int(n as i64);
    Ok(())
}

fn keys(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let pattern = args[1];
    // A lone `*` matches every key, the empty one included (the matcher alone would not).
    let all = pattern == b"*";
    let now = ctx.now;
    // The count comes first in the reply: render the keys aside, then append them.
    let mut body = resp::ReplyWriter::default();
    let mut n = 0;
    for shard in ctx.db().shards() {
        for (key, entry) in shard.map.iter() {
            // Expired keys are skipped but not reclaimed, as Redis's KEYS does.
            if (all || glob_match(pattern, key, false)) && !entry.is_expired(now) {
                body.bulk(key);
                n += 1;
            }
        }
    }
    ctx.out.array(n);
    ctx.out.raw(&body.buf);
    Ok(())
}

/// RANDOMKEY on a replica, which deletes nothing (the primary's DEL does): a live key if
/// there is one; when every key has a deadline and they all passed, Redis returns one of
/// them after 100 tries, and so does this.
fn random_key_on_replica(
    db: &mut crate::storage::DbView<'_, '_>,
    now: u64,
    rng: &mut impl Rng,
) -> Option<Vec<u8>> {
    let total: usize = db.shards().map(|s| s.map.len()).sum();
    if total == 0 {
        return None;
    }
    let mut last = None;
    for _ in 0..100 {
        let mut pick = rng.gen_range(0..total);
        let shard = db.shards().find(|s| {
            if pick < s.map.len() {
                true
            } else {
                pick -= s.map.len();
                false
            }
        })?;
        let (key, entry) = shard.map.iter().nth(pick)?;
        if !entry.is_expired(now) {
            return Some(key.to_vec());
        }
        last = Some(key.to_vec());
    }
    // Not every key has a deadline: a key without one is live (Redis keeps drawing until
    // it meets one).
    let live = db.shards().find_map(|s| {
        s.map
            .iter()
            .find(|(_, e)| !e.is_expired(now))
            .map(|(k, _)| k.to_vec())
    });
    let all_volatile = db.shards().all(|s| s.volatile == s.map.len());
    live.or(if all_volatile { last } else { None })
}

fn randomkey(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let now = ctx.now;
    let stats = &ctx.server.stats;
    let mut rng = rand::thread_rng();
    let mut db = ctx.db();
    if crate::storage::expiry::replica_mode() {
        let key = random_key_on_replica(&mut db, now, &mut rng);
        match key {
            Some(k) => ctx.out.bulk(&k),
            None => ctx.out.null(),
        }
        return Ok(());
    }
    // Each round either finds a live key or empties one shard of its expired keys, so it
    // ends after at most SHARDS + 1 rounds.
    for _ in 0..=SHARDS {
        let total: usize = db.shards().map(|s| s.map.len()).sum();
        if total == 0 {
            break;
        }
        let mut pick = rng.gen_range(0..total);
        let Some(shard) = db.shards().find(|s| {
            if pick < s.map.len() {
                true
            } else {
                pick -= s.map.len();
                false
            }
        }) else {
            break;
        };
        let Some((key, entry)) = shard.map.iter().nth(pick) else {
            break;
        };
        if !entry.is_expired(now) {
            let key = key.to_vec();
            ctx.out.bulk(&key);
            return Ok(());
        }
        for k in shard.collect_expired(now) {
            stats.expired_key(&k);
            let dbi = db.db;
            // Reclaimed keys are propagated as DEL, as every lazy expiry.
            db.locks
                .propagate_now(dbi, vec![b"DEL".to_vec(), k.to_vec()]);
            db.notify(class::EXPIRED, "expired", &k);
        }
    }
    ctx.out.null();
    Ok(())
}

/// `[ASYNC|SYNC]` of FLUSHDB/FLUSHALL: true when the old data may be freed in the
/// background.
fn flush_mode(args: &[&[u8]]) -> Result<bool, CmdError> {
    match args {
        [_] => Ok(false),
        [_, mode] if eq_ic(mode, "sync") => Ok(false),
        [_, mode] if eq_ic(mode, "async") => Ok(true),
        _ => Err(CmdError::Syntax),
    }
}

/// Free emptied tables: in a background thread for ASYNC (and for big flushes, so the
/// locks are not held while freeing), inline otherwise.
fn free_tables(tables: Vec<KeyTable>, removed: usize, lazy: bool) {
    if removed > 0 && (lazy || removed > 64 * 1024) {
        let spawned = std::thread::Builder::new()
            .name("lazyfree".into())
            .spawn(move || drop(tables));
        // If no thread can be started the tables were dropped with the closure.
        let _ = spawned;
    }
}

fn flushdb(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let lazy = flush_mode(args)?;
    let now = ctx.now;
    let mut tables = Vec::new();
    let mut removed = 0;
    for shard in ctx.db().shards() {
        if shard.map.is_empty() && shard.watched.is_empty() {
            continue;
        }
        removed += shard.map.len();
        tables.push(shard.take_all(now));
    }
    signal_blocked_keys(ctx.locks, ctx.client.db);
    ctx.server.stats.dirty(removed as u64);
    ctx.locks.note_change();
    ctx.locks.track_flush();
    free_tables(tables, removed, lazy);
    ctx.out.ok();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Cross-database commands (LockScope::All).

fn flushall(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let lazy = flush_mode(args)?;
    let now = ctx.now;
    let mut tables = Vec::new();
    let mut removed = 0;
    for db in 0..ctx.locks.db_count() {
        for shard in ctx.locks.db_shards(db) {
            if shard.map.is_empty() && shard.watched.is_empty() {
                continue;
            }
            removed += shard.map.len();
            tables.push(shard.take_all(now));
        }
        signal_blocked_keys(ctx.locks, db);
    }
    // Redis counts the removed keys plus one for the flush itself.
    ctx.server.stats.dirty(removed as u64 + 1);
    ctx.locks.note_change();
    ctx.locks.track_flush();
    free_tables(tables, removed, lazy);
    ctx.out.ok();
    Ok(())
}

/// After a flush: every key of database `db` that clients are blocked on is looked at
/// again before the locks go (a blocked XREADGROUP learns that its stream is gone; the
/// other waiters keep waiting).
fn signal_blocked_keys(locks: &mut crate::storage::LockSet<'_>, db: usize) {
    let mut keys = Vec::new();
    for shard in locks.db_shards(db) {
        keys.extend(shard.blocked.keys().cloned());
    }
    for key in keys {
        locks.signal_ready(db, &key);
    }
}

/// A database index argument as Redis's `getIntFromObjectOrReply` reads it: an integer
/// within C `int` range, with `msg` (or the generic texts) as the error.
/// A database index argument if it names an existing database (for lock planning; the
/// handler reports the errors).
fn valid_db(arg: Option<&&[u8]>, db_count: usize) -> Option<usize> {
    let n = crate::util::parse_canonical_i64(arg?)?;
    (n >= 0 && (n as usize) < db_count).then_some(n as usize)
}

/// SWAPDB locks every shard of the two databases.
fn swapdb_locks(args: &[&[u8]], _db: usize, db_count: usize, ids: &mut LockIds) {
    for d in [
        valid_db(args.get(1), db_count),
        valid_db(args.get(2), db_count),
    ]
    .into_iter()
    .flatten()
    {
        ids.extend((0..SHARDS).map(|s| lock_id(d, s)));
    }
}

/// MOVE locks the key's shard in the source and in the target database.
fn move_locks(args: &[&[u8]], db: usize, db_count: usize, ids: &mut LockIds) {
    let Some(key) = args.get(1) else { return };
    ids.push(lock_id(db, shard_of(key)));
    if let Some(dst) = valid_db(args.get(2), db_count) {
        ids.push(lock_id(dst, shard_of(key)));
    }
}

/// COPY locks the source key's shard and the destination key's shard in the target
/// database (`DB n`, else the current one).
fn copy_locks(args: &[&[u8]], db: usize, db_count: usize, ids: &mut LockIds) {
    let (Some(src), Some(dst)) = (args.get(1), args.get(2)) else {
        return;
    };
    ids.push(lock_id(db, shard_of(src)));
    ids.push(lock_id(db, shard_of(dst)));
    let mut i = 3;
    while i < args.len() {
        if eq_ic(args[i], "db") {
            if let Some(d) = valid_db(args.get(i + 1), db_count) {
                ids.push(lock_id(d, shard_of(dst)));
            }
            i += 1;
        }
        i += 1;
    }
}

fn db_index_arg(arg: &[u8], msg: Option<&'static str>) -> Result<i64, CmdError> {
    let Some(n) = crate::util::parse_canonical_i64(arg) else {
        return Err(msg.map_or(CmdError::NotInteger, CmdError::Static));
    };
    if n < i64::from(i32::MIN) || n > i64::from(i32::MAX) {
        return Err(msg.map_or_else(
            || {
                CmdError::Static(
                    "ERR value is out of range, value must between -2147483648 and 2147483647",
                )
            },
            CmdError::Static,
        ));
    }
    Ok(n)
}

/// A database index that must name an existing database (`ERR DB index is out of range`).
fn existing_db(ctx: &Ctx, n: i64) -> Result<usize, CmdError> {
    usize::try_from(n)
        .ok()
        .filter(|&d| d < ctx.server.dbs.len())
        .ok_or(CmdError::DbIndexOutOfRange)
}

fn swapdb(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let a = db_index_arg(args[1], Some("ERR invalid first DB index"))?;
    let b = db_index_arg(args[2], Some("ERR invalid second DB index"))?;
    let (a, b) = (existing_db(ctx, a)?, existing_db(ctx, b)?);
    if a != b {
        for i in 0..SHARDS {
            swap_shards(ctx, a, b, i)?;
        }
        // Keys with a TTL changed database: let the active expiry cycle visit both.
        ctx.locks.note_volatile(a);
        ctx.locks.note_volatile(b);
    }
    ctx.server.stats.dirty(1);
    ctx.locks.note_change();
    ctx.out.ok();
    Ok(())
}

/// Swap shard `i` of databases `a` and `b`: the data moves, the WATCH registrations stay
/// with their database. A watcher is marked when its key exists on either side (Redis's
/// `touchAllWatchedKeysInDb(emptied, replaced_with)`).
fn swap_shards(ctx: &mut Ctx, a: usize, b: usize, i: usize) -> CmdResult {
    const UNLOCKED: CmdError = CmdError::Internal("shard is not locked");
    let now = ctx.now;
    // Both shards live in the same LockSet, so they are borrowed one after the other and
    // the tables travel through locals.
    let sa = ctx.locks.shard(a, i).ok_or(UNLOCKED)?;
    let (map_a, vol_a) = (std::mem::take(&mut sa.map), sa.volatile);
    let sb = ctx.locks.shard(b, i).ok_or(UNLOCKED)?;
    let (map_b, vol_b) = (std::mem::take(&mut sb.map), sb.volatile);
    touch_replaced(&mut sb.watched, &map_b, Some(&map_a), now);
    let ready_in_b = keys_ready_for_waiters(sb, &map_a, &map_b);
    let sa = ctx.locks.shard(a, i).ok_or(UNLOCKED)?;
    touch_replaced(&mut sa.watched, &map_a, Some(&map_b), now);
    let ready_in_a = keys_ready_for_waiters(sa, &map_b, &map_a);
    sa.map = map_b;
    sa.volatile = vol_b;
    let sb = ctx.locks.shard(b, i).ok_or(UNLOCKED)?;
    sb.map = map_a;
    sb.volatile = vol_a;
    // Clients blocked on a key that exists after the swap are served before the locks are
    // released, as after a push. An expired key is signalled too (Redis's
    // scanDatabaseForReadyKeys): serving finds it expired, deletes and propagates a DEL.
    for key in ready_in_a {
        ctx.locks.signal_ready(a, &key);
    }
    for key in ready_in_b {
        ctx.locks.signal_ready(b, &key);
    }
    Ok(())
}

/// The keys clients are blocked on in `shard` that `incoming` holds, not expired, and
/// those that `outgoing` (the shard's data before the swap) held (a blocked XREADGROUP
/// learns that its stream is gone).
fn keys_ready_for_waiters(
    shard: &Shard,
    incoming: &KeyTable,
    outgoing: &KeyTable,
) -> Vec<Box<[u8]>> {
    shard
        .blocked
        .keys()
        .filter(|k| incoming.contains_key(k) || outgoing.contains_key(k))
        .cloned()
        .collect()
}

fn move_cmd(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let key = args[1];
    let n = db_index_arg(args[2], None)?;
    let dst = existing_db(ctx, n)?;
    let src = ctx.client.db;
    if src == dst {
        return Err(SAME_OBJECT);
    }
    if !ctx.db().exists(key)? || ctx.db_at(dst).exists(key)? {
        ctx.out.int(0);
        return Ok(());
    }
    // `take` signals the source and counts the move as one change.
    let entry = ctx
        .db()
        .take(key)?
        .ok_or(CmdError::Internal("moved key vanished"))?;
    ctx.db_at(dst).insert_moved(key, entry)?;
    ctx.notify(class::GENERIC, "move_from", key);
    ctx.db_at(dst).notify(class::GENERIC, "move_to", key);
    ctx.out.int(1);
    Ok(())
}

fn copy(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (src_key, dst_key) = (args[1], args[2]);
    let src = ctx.client.db;
    let mut dst = src;
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        if eq_ic(args[i], "replace") {
            replace = true;
        } else if eq_ic(args[i], "db") && i + 1 < args.len() {
            let n = db_index_arg(args[i + 1], None)?;
            dst = existing_db(ctx, n)?;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if src == dst && src_key == dst_key {
        return Err(SAME_OBJECT);
    }
    let stats = &ctx.server.stats;
    let entry = ctx.db().get(src_key)?.and_then(|e| e.to_entry());
    stats.hit(entry.is_some());
    let Some(entry) = entry else {
        ctx.out.int(0);
        return Ok(());
    };
    let mut target = ctx.db_at(dst);
    let replaced = target.exists_for_write(dst_key)?;
    if replaced && !replace {
        ctx.out.int(0);
        return Ok(());
    }
    target.set_entry(dst_key, entry)?;
    if replaced {
        // Redis deletes the old key and adds the copy: a new key either way.
        target.notify(class::NEW, "new", dst_key);
    }
    target.notify(class::GENERIC, "copy_to", dst_key);
    ctx.out.int(1);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// OBJECT.

/// True when maxmemory-policy is an LFU one (`allkeys-lfu`, `volatile-lfu`).
fn lfu_policy(ctx: &Ctx) -> bool {
    ctx.server.config.get("maxmemory-policy").ends_with("-lfu")
}

/// Look up OBJECT's key (counting a hit or miss) and map its value; replies null and
/// returns None when the key does not exist.
fn object_lookup<R>(
    ctx: &mut Ctx,
    key: &[u8],
    f: impl FnOnce(ValueRef<'_>) -> R,
) -> Result<Option<R>, CmdError> {
    let stats = &ctx.server.stats;
    let found = ctx.db().read(key)?.map(f);
    stats.hit(found.is_some());
    if found.is_none() {
        ctx.out.null();
    }
    Ok(found)
}

fn object_encoding(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if let Some(enc) = object_lookup(ctx, args[2], |v| v.encoding())? {
        ctx.out.bulk(enc.as_bytes());
    }
    Ok(())
}

fn object_refcount(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    // Redis shares the objects of small non-negative integers unless a memory limit with
    // an LRU/LFU policy needs per-object access data.
    let policy = ctx.server.config.get("maxmemory-policy");
    let sharing = ctx.server.config.get("maxmemory") == "0"
        || !(policy.ends_with("-lru") || policy.ends_with("-lfu"));
    let refcount = object_lookup(ctx, args[2], |v| match v {
        ValueRef::Str(StrRef::Int(n)) if sharing && (0..SHARED_INTEGERS).contains(&n) => {
            SHARED_REFCOUNT
        }
        _ => 1,
    })?;
    if let Some(n) = refcount {
        ctx.out.int(n);
    }
    Ok(())
}

fn object_idletime(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if object_lookup(ctx, args[2], |_| ())?.is_some() {
        if lfu_policy(ctx) {
            return Err(CmdError::Static("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
        }
        let db = ctx.client.db;
        let idle = ctx
            .locks
            .shard(db, crate::storage::db::shard_of(args[2]))
            .and_then(|s| s.map.idle_seconds(args[2]))
            .unwrap_or(0);
        ctx.out.int(idle as i64);
    }
    Ok(())
}

fn object_freq(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if object_lookup(ctx, args[2], |_| ())?.is_some() {
        if !lfu_policy(ctx) {
            return Err(CmdError::Static("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
        }
        let db = ctx.client.db;
        let freq = ctx
            .locks
            .shard(db, crate::storage::db::shard_of(args[2]))
            .and_then(|s| s.map.lfu_frequency(args[2]))
            .unwrap_or(0);
        ctx.out.int(freq as i64);
    }
    Ok(())
}

fn object_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    const HELP: &[&str] = &[
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ];
    ctx.out.array(HELP.len());
    for line in HELP {
        ctx.out.simple(line);
    }
    Ok(())
}
