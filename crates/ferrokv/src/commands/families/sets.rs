//! The set family: SADD, SREM, SMEMBERS, set algebra (SINTER/SUNION/SDIFF and their STORE
//! variants, SINTERCARD), SPOP, SRANDMEMBER, SMOVE, SSCAN.
//!
//! Values live in [`SetValue`] (intset or hashtable, see `storage/set.rs`); this file follows
//! Redis 7.0's `t_set.c` for argument checks, error order, reply shapes and the algorithms
//! whose choice is visible (result encodings, reply order of intset results).

use crate::storage::{ValueMut, ValueRef};
use rand::Rng;
use resp::ReplyWriter;

use crate::commands::shared::scan_args::{parse_cursor, parse_options};
use crate::commands::{acl, arg_i64, class, flags, CmdError, CmdResult, Command, Ctx};
use crate::stats::Stats;
use crate::storage::glob::glob_match;
use crate::storage::set::{Elem, SetLimits, SetValue};
use crate::storage::{DbView, Value};
use crate::util::{eq_ic, parse_canonical_i64};

/// The set family's table.
pub static COMMANDS: &[Command] = &[
    Command::new(
        "sadd",
        -3,
        flags::WRITE | flags::DENYOOM | flags::FAST,
        sadd,
    )
    .keys(1, 1, 1)
    .acl(acl::SET),
    Command::new("srem", -3, flags::WRITE | flags::FAST, srem)
        .keys(1, 1, 1)
        .acl(acl::SET),
    Command::new("smembers", 2, flags::READONLY, smembers)
        .keys(1, 1, 1)
        .acl(acl::SET),
    Command::new("sismember", 3, flags::READONLY | flags::FAST, sismember)
        .keys(1, 1, 1)
        .acl(acl::SET),
    Command::new("smismember", -3, flags::READONLY | flags::FAST, smismember)
        .keys(1, 1, 1)
        .acl(acl::SET),
    Command::new("scard", 2, flags::READONLY | flags::FAST, scard)
        .keys(1, 1, 1)
        .acl(acl::SET),
    Command::new("spop", -2, flags::WRITE | flags::FAST, spop)
        .keys(1, 1, 1)
        .acl(acl::SET),
    Command::new("srandmember", -2, flags::READONLY, srandmember)
        .keys(1, 1, 1)
        .acl(acl::SET),
    Command::new("smove", 4, flags::WRITE | flags::FAST, smove)
        .keys(1, 2, 1)
        .acl(acl::SET),
    Command::new("sinter", -2, flags::READONLY, sinter)
        .keys(1, -1, 1)
        .acl(acl::SET),
    Command::new("sintercard", -3, flags::READONLY, sintercard)
        .keys_fn(sintercard_keys)
        .acl(acl::SET),
    Command::new(
        "sinterstore",
        -3,
        flags::WRITE | flags::DENYOOM,
        sinterstore,
    )
    .keys(1, -1, 1)
    .acl(acl::SET),
    Command::new("sunion", -2, flags::READONLY, sunion)
        .keys(1, -1, 1)
        .acl(acl::SET),
    Command::new(
        "sunionstore",
        -3,
        flags::WRITE | flags::DENYOOM,
        sunionstore,
    )
    .keys(1, -1, 1)
    .acl(acl::SET),
    Command::new("sdiff", -2, flags::READONLY, sdiff)
        .keys(1, -1, 1)
        .acl(acl::SET),
    Command::new("sdiffstore", -3, flags::WRITE | flags::DENYOOM, sdiffstore)
        .keys(1, -1, 1)
        .acl(acl::SET),
    Command::new("sscan", -3, flags::READONLY, sscan)
        .keys(1, 1, 1)
        .acl(acl::SET),
];

/// Most elements SRANDMEMBER with a negative count may reply with (as HRANDFIELD). Redis
/// 7.0 has no limit (and exhausts memory building the reply); larger counts get `ERR value
/// is out of range` here instead.
const MAX_RANDOM_REPLY: u64 = 1 << 24;

/// Redis's SPOP_MOVE_STRATEGY_MUL: SPOP with a count builds a new set from the members
/// that stay when they are few compared to the ones popped.
const SPOP_MOVE_STRATEGY_MUL: u64 = 5;

/// Redis's SRANDMEMBER_SUB_STRATEGY_MUL: a count close to the size copies the set and
/// removes random members instead of drawing distinct ones.
const SRANDMEMBER_SUB_STRATEGY_MUL: u64 = 3;

/// Candidates of an intersection are filtered this many at a time, so SINTERCARD's LIMIT
/// stops early as Redis's element-by-element loop does.
const INTER_CHUNK: usize = 1024;

fn limits(ctx: &Ctx) -> SetLimits {
    SetLimits {
        max_intset_entries: ctx.server.config.set_max_intset_entries(),
    }
}

/// Look up a set for reading (counts a keyspace hit or miss): None when the key is missing.
fn read_set<'v>(
    db: &'v mut DbView<'_, '_>,
    key: &[u8],
    stats: &Stats,
) -> Result<Option<&'v mut SetValue>, CmdError> {
    let v = db.value(key)?;
    stats.hit(v.is_some());
    match v {
        None => Ok(None),
        Some(ValueMut::Set(s)) => Ok(Some(s)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Look up a set for writing (no hit/miss accounting): None when the key is missing.
fn write_set<'v>(
    db: &'v mut DbView<'_, '_>,
    key: &[u8],
) -> Result<Option<&'v mut SetValue>, CmdError> {
    match db.value(key)? {
        None => Ok(None),
        Some(ValueMut::Set(s)) => Ok(Some(s)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Reply with one member (integers of an intset formatted as Redis's
/// `addReplyBulkLongLong`).
fn reply_elem(out: &mut ReplyWriter, e: Elem<'_>) {
    match e {
        Elem::Int(n) => out.bulk_int(n),
        Elem::Bytes(b) => out.bulk(b),
    }
}

/// Redis's `getPositiveLongFromObjectOrReply`: an integer in 0..=i64::MAX, else `msg`
/// (also for a non-integer).
fn positive_arg(arg: &[u8], msg: &'static str) -> Result<u64, CmdError> {
    parse_canonical_i64(arg)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or(CmdError::Static(msg))
}

// ---------------------------------------------------------------------------------------
// SADD, SREM, SISMEMBER, SMISMEMBER, SCARD
// ---------------------------------------------------------------------------------------

fn sadd(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (key, members) = (args[1], &args[2..]);
    let limits = limits(ctx);
    let server = ctx.server;
    let mut db = ctx.db();
    let existing =
        write_set(&mut db, key)?.map(|s| members.iter().filter(|m| s.insert(m, limits)).count());
    let added = match existing {
        Some(added) => {
            if added > 0 {
                db.modified(key)?;
            }
            added
        }
        None => {
            let mut s = SetValue::new();
            let added = members.iter().filter(|m| s.insert(m, limits)).count();
            db.set(key, Value::Set(s))?;
            added
        }
    };
    server.stats.dirty((added as u64).saturating_sub(1));
    if added > 0 {
        ctx.notify(class::SET, "sadd", key);
    }
    ctx.out.int(added as i64);
    Ok(())
}

fn srem(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let key = args[1];
    let server = ctx.server;
    let mut db = ctx.db();
    let (deleted, empty) = match write_set(&mut db, key)? {
        None => (0u64, false),
        Some(s) => {
            let mut n = 0;
            for m in &args[2..] {
                if s.remove(m) {
                    n += 1;
                    if s.is_empty() {
                        break;
                    }
                }
            }
            (n, s.is_empty())
        }
    };
    if deleted > 0 {
        db.notify(class::SET, "srem", key);
        if empty {
            db.delete(key)?;
            db.notify(class::GENERIC, "del", key);
        } else {
            db.modified(key)?;
        }
        server.stats.dirty(deleted - 1);
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

fn sismember(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    let (mut db, out) = ctx.db_out();
    let found = read_set(&mut db, args[1], &server.stats)?.is_some_and(|s| s.contains(args[2]));
    out.int(found as i64);
    Ok(())
}

fn smismember(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    let (mut db, out) = ctx.db_out();
    let set = read_set(&mut db, args[1], &server.stats)?;
    let members = &args[2..];
    out.array(members.len());
    for m in members {
        let found = set.as_ref().is_some_and(|s| s.contains(m));
        out.int(found as i64);
    }
    Ok(())
}

fn scard(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    let (mut db, out) = ctx.db_out();
    let n = read_set(&mut db, args[1], &server.stats)?.map_or(0, |s| s.len());
    out.int(n as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// SMOVE
// ---------------------------------------------------------------------------------------

fn smove(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (src, dst, member) = (args[1], args[2], args[3]);
    let limits = limits(ctx);
    let (mut db, out) = ctx.db_out();
    // Both keys are looked up first; a missing source answers 0 whatever the destination
    // holds, then the source's type is checked, then the destination's.
    let src_is_set = db.read(src)?.map(|v| matches!(v, ValueRef::Set(_)));
    let dst_is_set = db.read(dst)?.map(|v| matches!(v, ValueRef::Set(_)));
    match (src_is_set, dst_is_set) {
        (None, _) => {
            out.int(0);
            return Ok(());
        }
        (Some(false), _) | (_, Some(false)) => return Err(CmdError::WrongType),
        _ => {}
    }
    // Redis looks each key up once: later lookups here must not count as accesses again
    // (OBJECT FREQ/IDLETIME).
    db.touch = false;
    if src == dst {
        let found = write_set(&mut db, src)?.is_some_and(|s| s.contains(member));
        out.int(found as i64);
        return Ok(());
    }
    let (removed, empty) = match write_set(&mut db, src)? {
        Some(s) => (s.remove(member), s.is_empty()),
        None => (false, false),
    };
    if !removed {
        out.int(0);
        return Ok(());
    }
    db.notify(class::SET, "srem", src);
    if empty {
        db.delete(src)?;
        db.notify(class::GENERIC, "del", src);
    } else {
        db.modified(src)?;
    }
    let added = match write_set(&mut db, dst)? {
        Some(s) => {
            let added = s.insert(member, limits);
            if added {
                db.modified(dst)?;
            }
            added
        }
        None => {
            let mut s = SetValue::new();
            s.insert(member, limits);
            db.set(dst, Value::Set(s))?;
            true
        }
    };
    // Redis notifies the destination only when the member was not already there.
    if added {
        db.notify(class::SET, "sadd", dst);
    }
    out.int(1);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// SPOP, SRANDMEMBER
// ---------------------------------------------------------------------------------------

fn spop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    match args.len() {
        2 => {}
        3 => return spop_count(ctx, args),
        _ => return Err(CmdError::Syntax),
    }
    let key = args[1];
    let mut rng = rand::thread_rng();
    let (mut db, out) = ctx.db_out();
    let popped = match write_set(&mut db, key)? {
        Some(s) => s.pop_random(&mut rng).map(|m| (m, s.is_empty())),
        None => None,
    };
    let Some((member, empty)) = popped else {
        out.null();
        return Ok(());
    };
    db.notify(class::SET, "spop", key);
    if empty {
        db.delete(key)?;
        db.notify(class::GENERIC, "del", key);
    } else {
        db.modified(key)?;
    }
    // The log gets the member that was picked, not the random pick.
    db.log_as(&[b"SREM", key, &member]);
    out.bulk(&member);
    Ok(())
}

/// SPOP key count, following Redis's `spopWithCountCommand` cases.
fn spop_count(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let count = positive_arg(args[2], "ERR value is out of range, must be positive")?;
    let key = args[1];
    let limits = limits(ctx);
    let server = ctx.server;
    let mut rng = rand::thread_rng();
    let (mut db, out) = ctx.db_out();
    let Some(size) = write_set(&mut db, key)?.map(|s| s.len() as u64) else {
        out.set(0);
        return Ok(());
    };
    if count == 0 {
        out.set(0);
        return Ok(());
    }

    // Case 1: all of it. Redis replies with SUNION of the key (a second lookup, a read
    // one, and a fresh set: an all-integer result comes out as a sorted intset) and
    // deletes the key.
    if count >= size {
        let mut all = SetValue::new();
        if let Some(s) = read_set(&mut db, key, &server.stats)? {
            for e in s.iter() {
                all.insert_elem(e, limits);
            }
        }
        db.delete(key)?;
        db.log_as(&[b"DEL", key]);
        db.notify(class::SET, "spop", key);
        db.notify(class::GENERIC, "del", key);
        server.stats.dirty(size - 1);
        out.set(all.len());
        all.iter().for_each(|e| reply_elem(out, e));
        return Ok(());
    }

    db.touch = false;
    let Some(s) = write_set(&mut db, key)? else {
        return Err(CmdError::Internal("set vanished during SPOP"));
    };
    out.set(count as usize);
    let remaining = size - count;
    // The log gets the members that were picked (SREM), not the random picks.
    let mut logged: Vec<Vec<u8>> = vec![b"SREM".to_vec(), key.to_vec()];
    if remaining.saturating_mul(SPOP_MOVE_STRATEGY_MUL) > count {
        // Case 2: few popped: remove them one by one.
        for _ in 0..count {
            if let Some(m) = s.pop_random(&mut rng) {
                out.bulk(&m);
                logged.push(m);
            }
        }
    } else {
        // Case 3: few left: move the survivors to a new set (whose encoding is chosen
        // afresh, so a hashtable of integers may become an intset) and reply with the rest.
        let mut kept = SetValue::new();
        for _ in 0..remaining {
            if let Some(m) = s.pop_random(&mut rng) {
                kept.insert(&m, limits);
            }
        }
        s.iter().for_each(|e| {
            reply_elem(out, e);
            logged.push(e.to_vec());
        });
        *s = kept;
    }
    db.modified(key)?;
    db.notify(class::SET, "spop", key);
    let db_index = db.db;
    db.locks.propagate_as(db_index, logged);
    server.stats.dirty(count - 1);
    Ok(())
}

fn srandmember(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    match args.len() {
        2 => {}
        3 => return srandmember_count(ctx, args),
        _ => return Err(CmdError::Syntax),
    }
    let server = ctx.server;
    let (mut db, out) = ctx.db_out();
    let set = read_set(&mut db, args[1], &server.stats)?;
    match set.and_then(|s| s.random(&mut rand::thread_rng())) {
        Some(e) => reply_elem(out, e),
        None => out.null(),
    }
    Ok(())
}

/// SRANDMEMBER key count, following Redis's `srandmemberWithCountCommand` cases.
fn srandmember_count(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let l = arg_i64(args[2])?;
    if l == i64::MIN {
        return Err(CmdError::Static(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let (count, unique) = (l.unsigned_abs(), l >= 0);
    let server = ctx.server;
    let (mut db, out) = ctx.db_out();
    let Some(s) = read_set(&mut db, args[1], &server.stats)? else {
        out.array(0);
        return Ok(());
    };
    if count == 0 {
        out.array(0);
        return Ok(());
    }
    let mut rng = rand::thread_rng();
    let size = s.len() as u64;

    // Case 1: repetitions allowed (negative count), or a single member.
    if !unique || count == 1 {
        if count > MAX_RANDOM_REPLY {
            return Err(CmdError::Static("ERR value is out of range"));
        }
        out.array(count as usize);
        for _ in 0..count {
            if let Some(e) = s.random(&mut rng) {
                reply_elem(out, e);
            }
        }
        return Ok(());
    }
    // Case 2: at least as many as the set holds: all of it, in its order.
    if count >= size {
        out.array(s.len());
        s.iter().for_each(|e| reply_elem(out, e));
        return Ok(());
    }
    let count = count as usize;
    let picked: Vec<Elem> = if (count as u64).saturating_mul(SRANDMEMBER_SUB_STRATEGY_MUL) > size {
        // Case 3: close to the size: drop random members from a copy.
        let mut all: Vec<Elem> = s.iter().collect();
        while all.len() > count {
            let i = rng.gen_range(0..all.len());
            all.swap_remove(i);
        }
        all
    } else {
        // Case 4: draw until `count` distinct members were seen.
        let mut seen = hashbrown::HashSet::with_capacity(count);
        let mut picked = Vec::with_capacity(count);
        while picked.len() < count {
            let Some(e) = s.random(&mut rng) else {
                break;
            };
            if seen.insert(e) {
                picked.push(e);
            }
        }
        picked
    };
    out.array(picked.len());
    picked.into_iter().for_each(|e| reply_elem(out, e));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Set algebra: SINTER, SINTERCARD, SINTERSTORE, SUNION(STORE), SDIFF(STORE), SMEMBERS
// ---------------------------------------------------------------------------------------

/// Look up every key in order as Redis's set-algebra commands do (read lookups, each
/// counted as a hit or miss): the size of each set, None for a missing key. The first key
/// of another type stops with WRONGTYPE.
fn lookup_sets(
    db: &mut DbView<'_, '_>,
    keys: &[&[u8]],
    stats: &Stats,
) -> Result<Vec<Option<usize>>, CmdError> {
    keys.iter()
        .map(|k| Ok(read_set(db, k, stats)?.map(|s| s.len())))
        .collect()
}

/// A copy of one set's members, in its order. The keyspace lends one value at a time, so
/// the set being walked is copied while the others are probed.
enum Snapshot {
    Ints(Vec<i64>),
    Bytes { data: Vec<u8>, ends: Vec<usize> },
}

impl Snapshot {
    fn of(s: &SetValue) -> Snapshot {
        if s.is_intset() {
            let ints = s
                .iter()
                .filter_map(|e| match e {
                    Elem::Int(x) => Some(x),
                    Elem::Bytes(_) => None,
                })
                .collect();
            return Snapshot::Ints(ints);
        }
        let mut data = Vec::new();
        let mut ends = Vec::with_capacity(s.len());
        s.for_each(|m| {
            data.extend_from_slice(m);
            ends.push(data.len());
        });
        Snapshot::Bytes { data, ends }
    }

    /// Copy of the set under `key` (empty when it is not a set).
    fn of_key(db: &mut DbView<'_, '_>, key: &[u8]) -> Result<Snapshot, CmdError> {
        Ok(match write_set(db, key)? {
            Some(s) => Snapshot::of(s),
            None => Snapshot::Ints(Vec::new()),
        })
    }

    fn len(&self) -> usize {
        match self {
            Snapshot::Ints(v) => v.len(),
            Snapshot::Bytes { ends, .. } => ends.len(),
        }
    }

    fn get(&self, i: usize) -> Option<Elem<'_>> {
        match self {
            Snapshot::Ints(v) => v.get(i).copied().map(Elem::Int),
            Snapshot::Bytes { data, ends } => {
                let start = if i == 0 { 0 } else { *ends.get(i - 1)? };
                data.get(start..*ends.get(i)?).map(Elem::Bytes)
            }
        }
    }
}

/// Keep the candidates (indices into `snap`) that every set under `others` contains.
fn retain_in_all(
    db: &mut DbView<'_, '_>,
    others: &[&[u8]],
    snap: &Snapshot,
    idx: &mut Vec<usize>,
) -> CmdResult {
    for key in others {
        if idx.is_empty() {
            break;
        }
        match write_set(db, key)? {
            Some(s) => idx.retain(|&i| snap.get(i).is_some_and(|e| s.contains_elem(e))),
            None => idx.clear(),
        }
    }
    Ok(())
}

/// Reply with `result` (a set) or store it under `dst`: an empty result deletes `dst`
/// (event `del`); a non-empty one replaces whatever `dst` held (dropping its TTL; event
/// `event`, the STORE command's name). Called with the command's own `touch` setting
/// restored.
fn reply_or_store(
    db: &mut DbView<'_, '_>,
    out: &mut ReplyWriter,
    dst: Option<&[u8]>,
    result: SetValue,
    event: &'static str,
) -> CmdResult {
    let Some(dst) = dst else {
        out.set(result.len());
        result.iter().for_each(|e| reply_elem(out, e));
        return Ok(());
    };
    if result.is_empty() {
        if db.delete(dst)? {
            db.notify(class::GENERIC, "del", dst);
        }
        out.int(0);
    } else {
        // Redis's setKey looks the destination up (an access of the old value, whose LFU
        // counter the new value inherits) before overwriting it.
        db.exists_for_write(dst)?;
        let n = result.len();
        db.set(dst, Value::Set(result))?;
        db.notify(class::SET, event, dst);
        out.int(n as i64);
    }
    Ok(())
}

/// What an intersection produces.
#[derive(Clone, Copy)]
enum InterMode<'a> {
    /// Reply with the members (SINTER, SMEMBERS).
    Reply,
    /// Store them under a key (SINTERSTORE).
    Store(&'a [u8]),
    /// Reply with their number, stopping at a limit when non-zero (SINTERCARD).
    Card(u64),
}

/// Redis's `sinterGenericCommand`: walk the smallest set (ties keep argument order, as
/// glibc's merge-sort `qsort` does) and keep the members every other set contains. The
/// reply lists them in the walked set's order; SINTERSTORE builds a fresh set (an intset
/// when the result allows).
fn sinter_generic(ctx: &mut Ctx, keys: &[&[u8]], mode: InterMode) -> CmdResult {
    let limits = limits(ctx);
    let server = ctx.server;
    let (mut db, out) = ctx.db_out();
    let sizes = lookup_sets(&mut db, keys, &server.stats)?;
    // Redis looks each key up once: the later lookups of this walk are not accesses.
    let touch = std::mem::replace(&mut db.touch, false);
    // A missing key is an empty set: the intersection is empty.
    let Some(sizes) = sizes.into_iter().collect::<Option<Vec<usize>>>() else {
        db.touch = touch;
        match mode {
            InterMode::Store(dst) => {
                return reply_or_store(&mut db, out, Some(dst), SetValue::new(), "sinterstore")
            }
            InterMode::Card(_) => out.int(0),
            InterMode::Reply => out.set(0),
        }
        return Ok(());
    };
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| sizes.get(i).copied().unwrap_or(0));
    let Some(&first) = order.first().and_then(|&i| keys.get(i)) else {
        return Err(CmdError::Internal("intersection without keys"));
    };
    // The walked set itself (repeated as another argument) is skipped, as in Redis.
    let others: Vec<&[u8]> = order
        .iter()
        .skip(1)
        .filter_map(|&i| keys.get(i).copied())
        .filter(|k| *k != first)
        .collect();
    let snap = Snapshot::of_key(&mut db, first)?;
    let limit = match mode {
        InterMode::Card(limit) if limit > 0 => usize::try_from(limit).unwrap_or(usize::MAX),
        _ => usize::MAX,
    };
    let mut kept: Vec<usize> = Vec::new();
    let mut start = 0;
    while start < snap.len() && kept.len() < limit {
        let end = snap.len().min(start + INTER_CHUNK);
        let mut idx: Vec<usize> = (start..end).collect();
        retain_in_all(&mut db, &others, &snap, &mut idx)?;
        kept.extend(idx);
        start = end;
    }
    match mode {
        InterMode::Card(_) => out.int(kept.len().min(limit) as i64),
        InterMode::Reply => {
            out.set(kept.len());
            for e in kept.iter().filter_map(|&i| snap.get(i)) {
                reply_elem(out, e);
            }
        }
        InterMode::Store(dst) => {
            let mut result = SetValue::new();
            for e in kept.iter().filter_map(|&i| snap.get(i)) {
                result.insert_elem(e, limits);
            }
            db.touch = touch;
            reply_or_store(&mut db, out, Some(dst), result, "sinterstore")?;
        }
    }
    Ok(())
}

/// SUNION or SDIFF.
#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Diff,
}

/// Redis's `sunionDiffGenericCommand`: the result is built as a fresh set (starting as an
/// intset, so an all-integer result small enough replies in ascending order), then replied
/// or stored.
fn sunion_diff(ctx: &mut Ctx, keys: &[&[u8]], dst: Option<&[u8]>, op: SetOp) -> CmdResult {
    let limits = limits(ctx);
    let server = ctx.server;
    let (mut db, out) = ctx.db_out();
    let sizes = lookup_sets(&mut db, keys, &server.stats)?;
    // Redis looks each key up once: the later lookups of this walk are not accesses.
    let touch = std::mem::replace(&mut db.touch, false);
    let result = match op {
        SetOp::Union => union_of(&mut db, keys, &sizes, limits)?,
        SetOp::Diff => diff_of(&mut db, keys, &sizes, limits)?,
    };
    db.touch = touch;
    let event = match op {
        SetOp::Union => "sunionstore",
        SetOp::Diff => "sdiffstore",
    };
    reply_or_store(&mut db, out, dst, result, event)
}

fn union_of(
    db: &mut DbView<'_, '_>,
    keys: &[&[u8]],
    sizes: &[Option<usize>],
    limits: SetLimits,
) -> Result<SetValue, CmdError> {
    let mut result = SetValue::new();
    for (key, _) in keys.iter().zip(sizes).filter(|(_, n)| n.is_some()) {
        if let Some(s) = write_set(db, key)? {
            for e in s.iter() {
                result.insert_elem(e, limits);
            }
        }
    }
    Ok(result)
}

/// The difference, with Redis's choice of algorithm: it decides the result's encoding
/// (algorithm 2 adds the whole first set before removing, so the result may stay a
/// hashtable where algorithm 1 would build an intset).
fn diff_of(
    db: &mut DbView<'_, '_>,
    keys: &[&[u8]],
    sizes: &[Option<usize>],
    limits: SetLimits,
) -> Result<SetValue, CmdError> {
    let mut result = SetValue::new();
    let (Some(&first), Some(&Some(first_size))) = (keys.first(), sizes.first()) else {
        return Ok(result);
    };
    let (mut algo_one, mut algo_two) = (0u64, 0u64);
    for n in sizes.iter().flatten() {
        algo_one = algo_one.saturating_add(first_size as u64);
        algo_two = algo_two.saturating_add(*n as u64);
    }
    // Algorithm 1 has better constant times: Redis gives it some advantage.
    algo_one /= 2;
    let rest = keys.iter().zip(sizes).skip(1).filter(|(_, n)| n.is_some());
    if algo_one <= algo_two {
        // Algorithm 1: members of the first set that no other set contains.
        let snap = Snapshot::of_key(db, first)?;
        let mut idx: Vec<usize> = (0..snap.len()).collect();
        for (key, _) in rest {
            if idx.is_empty() {
                break;
            }
            if *key == first {
                idx.clear();
                break;
            }
            if let Some(s) = write_set(db, key)? {
                idx.retain(|&i| snap.get(i).is_some_and(|e| !s.contains_elem(e)));
            }
        }
        for e in idx.iter().filter_map(|&i| snap.get(i)) {
            result.insert_elem(e, limits);
        }
    } else {
        // Algorithm 2: the first set, minus every member of the others.
        if let Some(s) = write_set(db, first)? {
            for e in s.iter() {
                result.insert_elem(e, limits);
            }
        }
        for (key, _) in rest {
            if result.is_empty() {
                break;
            }
            if let Some(s) = write_set(db, key)? {
                for e in s.iter() {
                    result.remove_elem(e);
                }
            }
        }
    }
    Ok(result)
}

fn smembers(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    sinter_generic(ctx, &args[1..2], InterMode::Reply)
}

fn sinter(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    sinter_generic(ctx, &args[1..], InterMode::Reply)
}

fn sinterstore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    sinter_generic(ctx, &args[2..], InterMode::Store(args[1]))
}

/// SINTERCARD's numkeys: an integer from 1 to the number of arguments after it.
fn sintercard_numkeys(args: &[&[u8]]) -> Result<usize, CmdError> {
    let n = args
        .get(1)
        .and_then(|a| parse_canonical_i64(a))
        .filter(|&n| n >= 1)
        .ok_or(CmdError::Static("ERR numkeys should be greater than 0"))?;
    let available = args.len().saturating_sub(2);
    match usize::try_from(n) {
        Ok(n) if n <= available => Ok(n),
        _ => Err(CmdError::Static(
            "ERR Number of keys can't be greater than number of args",
        )),
    }
}

/// SINTERCARD's key positions (for shard locking): none when numkeys is invalid (the
/// command then fails before touching a key).
fn sintercard_keys(args: &[&[u8]]) -> Vec<usize> {
    match sintercard_numkeys(args) {
        Ok(n) => (2..2 + n).collect(),
        Err(_) => Vec::new(),
    }
}

fn sintercard(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let numkeys = sintercard_numkeys(args)?;
    let mut limit = 0;
    let mut j = 2 + numkeys;
    while j < args.len() {
        if eq_ic(args[j], "limit") && j + 1 < args.len() {
            j += 1;
            limit = positive_arg(args[j], "ERR LIMIT can't be negative")?;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    sinter_generic(ctx, &args[2..2 + numkeys], InterMode::Card(limit))
}

fn sunion(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    sunion_diff(ctx, &args[1..], None, SetOp::Union)
}

fn sunionstore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    sunion_diff(ctx, &args[2..], Some(args[1]), SetOp::Union)
}

fn sdiff(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    sunion_diff(ctx, &args[1..], None, SetOp::Diff)
}

fn sdiffstore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    sunion_diff(ctx, &args[2..], Some(args[1]), SetOp::Diff)
}

// ---------------------------------------------------------------------------------------
// SSCAN
// ---------------------------------------------------------------------------------------

fn sscan(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let cursor = parse_cursor(args[2])?;
    let server = ctx.server;
    let (mut db, out) = ctx.db_out();
    let Some(s) = read_set(&mut db, args[1], &server.stats)? else {
        out.array(2);
        out.bulk(b"0");
        out.array(0);
        return Ok(());
    };
    // Options are parsed after the lookup, as in Redis.
    let opts = parse_options(args, 3, false)?;
    let mut found: Vec<Elem> = Vec::new();
    let mut next = s.scan(cursor, |e| found.push(e));
    // Redis's loop: at most COUNT*10 more buckets, until COUNT members were collected.
    let mut iterations = opts.count.saturating_mul(10);
    while next != 0 && iterations > 0 && found.len() < opts.count {
        iterations -= 1;
        next = s.scan(next, |e| found.push(e));
    }
    if let Some(p) = opts.pattern {
        found.retain(|e| e.with_bytes(|b| glob_match(p, b, false)));
    }
    out.array(2);
    // Redis replies with the unsigned cursor through a signed conversion.
    out.bulk_int(next as i64);
    out.array(found.len());
    found.into_iter().for_each(|e| reply_elem(out, e));
    Ok(())
}
