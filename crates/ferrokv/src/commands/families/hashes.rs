//! The hash family: HSET, HGET, HGETALL and friends, counters, HRANDFIELD, HSCAN.
//!
//! Values live in [`HashValue`] (listpack or hashtable, see `storage/hash.rs`); this file
//! follows Redis's `t_hash.c` for argument checks, error order and reply shapes.

use crate::storage::ValueMut;
use rand::Rng;

use crate::commands::shared::longdouble::LongDouble;
use crate::commands::{acl, arg_i64, class, flags, CmdError, CmdResult, Command, Ctx};
use crate::storage::hash::{HashLimits, HashValue};
use crate::storage::value::itoa_stack;
use crate::storage::{DbView, Value};
use crate::util::{eq_ic, parse_canonical_i64};
use resp::ReplyWriter;

/// The hash family's table.
pub static COMMANDS: &[Command] = &[
    Command::new(
        "hset",
        -4,
        flags::WRITE | flags::DENYOOM | flags::FAST,
        hset,
    )
    .keys(1, 1, 1)
    .acl(acl::HASH),
    Command::new(
        "hsetnx",
        4,
        flags::WRITE | flags::DENYOOM | flags::FAST,
        hsetnx,
    )
    .keys(1, 1, 1)
    .acl(acl::HASH),
    Command::new("hget", 3, flags::READONLY | flags::FAST, hget)
        .keys(1, 1, 1)
        .acl(acl::HASH),
    Command::new("hmget", -3, flags::READONLY | flags::FAST, hmget)
        .keys(1, 1, 1)
        .acl(acl::HASH),
    Command::new(
        "hmset",
        -4,
        flags::WRITE | flags::DENYOOM | flags::FAST,
        hmset,
    )
    .keys(1, 1, 1)
    .acl(acl::HASH),
    Command::new("hgetall", 2, flags::READONLY, hgetall)
        .keys(1, 1, 1)
        .acl(acl::HASH),
    Command::new("hkeys", 2, flags::READONLY, hkeys)
        .keys(1, 1, 1)
        .acl(acl::HASH),
    Command::new("hvals", 2, flags::READONLY, hvals)
        .keys(1, 1, 1)
        .acl(acl::HASH),
    Command::new("hlen", 2, flags::READONLY | flags::FAST, hlen)
        .keys(1, 1, 1)
        .acl(acl::HASH),
    Command::new("hexists", 3, flags::READONLY | flags::FAST, hexists)
        .keys(1, 1, 1)
        .acl(acl::HASH),
    Command::new("hdel", -3, flags::WRITE | flags::FAST, hdel)
        .keys(1, 1, 1)
        .acl(acl::HASH),
    Command::new(
        "hincrby",
        4,
        flags::WRITE | flags::DENYOOM | flags::FAST,
        hincrby,
    )
    .keys(1, 1, 1)
    .acl(acl::HASH),
    Command::new(
        "hincrbyfloat",
        4,
        flags::WRITE | flags::DENYOOM | flags::FAST,
        hincrbyfloat,
    )
    .keys(1, 1, 1)
    .acl(acl::HASH),
    Command::new("hstrlen", 3, flags::READONLY | flags::FAST, hstrlen)
        .keys(1, 1, 1)
        .acl(acl::HASH),
    Command::new("hrandfield", -2, flags::READONLY, hrandfield)
        .keys(1, 1, 1)
        .acl(acl::HASH),
    Command::new("hscan", -3, flags::READONLY, hscan)
        .keys(1, 1, 1)
        .acl(acl::HASH),
];

/// Most elements HRANDFIELD with a negative count may reply with. Redis 7.0 has no limit
/// (and would exhaust memory building the reply); larger counts get `ERR value is out of
/// range` here instead.
const MAX_RANDOM_REPLY: u64 = 1 << 24;

fn limits(ctx: &Ctx) -> HashLimits {
    HashLimits {
        max_entries: ctx.server.config.hash_max_listpack_entries(),
        max_value: ctx.server.config.hash_max_listpack_value(),
    }
}

/// Look up a hash for reading: counts the keyspace hit or miss (as Redis, a key of the
/// wrong type is a hit) and checks the type. Inlined: HGET's whole path is this lookup.
#[inline(always)]
fn read_hash<'v>(
    db: &'v mut DbView<'_, '_>,
    key: &[u8],
    stats: &crate::stats::Stats,
) -> Result<Option<&'v mut HashValue>, CmdError> {
    match db.value(key)? {
        None => {
            stats.hit(false);
            Ok(None)
        }
        Some(ValueMut::Hash(h)) => {
            stats.hit(true);
            Ok(Some(h))
        }
        Some(_) => {
            stats.hit(true);
            Err(CmdError::WrongType)
        }
    }
}

/// Look up a hash for writing (no hit/miss accounting): None when the key is missing.
fn write_hash<'v>(
    db: &'v mut DbView<'_, '_>,
    key: &[u8],
) -> Result<Option<&'v mut HashValue>, CmdError> {
    match db.value(key)? {
        None => Ok(None),
        Some(ValueMut::Hash(h)) => Ok(Some(h)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Set every pair of `pairs` (flat field/value list) in the hash at `key`, creating it if
/// needed. Returns the number of fields added.
fn set_pairs(ctx: &mut Ctx, key: &[u8], pairs: &[&[u8]]) -> Result<usize, CmdError> {
    let limits = limits(ctx);
    let stats = &ctx.server.stats;
    let mut db = ctx.db();
    let set_all = |h: &mut HashValue| {
        pairs
            .chunks_exact(2)
            .filter(|p| match p {
                [f, v] => h.set(f, v, limits),
                _ => false,
            })
            .count()
    };
    if let Some(h) = write_hash(&mut db, key)? {
        let added = set_all(h);
        db.modified(key)?;
        stats.dirty((pairs.len() / 2).saturating_sub(1) as u64);
        db.notify(class::HASH, "hset", key);
        return Ok(added);
    }
    let mut h = HashValue::for_pairs(pairs, limits);
    let added = set_all(&mut h);
    db.set(key, Value::Hash(h))?;
    stats.dirty((pairs.len() / 2).saturating_sub(1) as u64);
    db.notify(class::HASH, "hset", key);
    Ok(added)
}

fn hset(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity);
    }
    let added = set_pairs(ctx, args[1], &args[2..])?;
    ctx.out.int(added as i64);
    Ok(())
}

fn hmset(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity);
    }
    set_pairs(ctx, args[1], &args[2..])?;
    ctx.out.ok();
    Ok(())
}

fn hsetnx(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (key, field, value) = (args[1], args[2], args[3]);
    let limits = limits(ctx);
    let mut db = ctx.db();
    let added = match write_hash(&mut db, key)? {
        Some(h) if h.contains(field) => false,
        Some(h) => {
            h.set(field, value, limits);
            db.modified(key)?;
            true
        }
        None => {
            let mut h = HashValue::for_pairs(&args[2..4], limits);
            h.set(field, value, limits);
            db.set(key, Value::Hash(h))?;
            true
        }
    };
    if added {
        ctx.notify(class::HASH, "hset", key);
    }
    ctx.out.int(added as i64);
    Ok(())
}

fn hget(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    match read_hash(&mut db, args[1], stats)?.and_then(|h| h.get(args[2])) {
        Some(v) => out.bulk(v),
        None => out.null(),
    }
    Ok(())
}

fn hmget(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let h = read_hash(&mut db, args[1], stats)?;
    let fields = &args[2..];
    out.array(fields.len());
    for f in fields {
        match h.as_ref().and_then(|h| h.get(f)) {
            Some(v) => out.bulk(v),
            None => out.null(),
        }
    }
    Ok(())
}

/// What HGETALL/HKEYS/HVALS reply with.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    Both,
    Fields,
    Values,
}

fn get_all(ctx: &mut Ctx, args: &[&[u8]], part: Part) -> CmdResult {
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let h = read_hash(&mut db, args[1], stats)?;
    let len = h.as_ref().map_or(0, |h| h.len());
    if part == Part::Both {
        out.map(len);
    } else {
        out.array(len);
    }
    if let Some(h) = h {
        for (f, v) in h.iter() {
            if part != Part::Values {
                out.bulk(f);
            }
            if part != Part::Fields {
                out.bulk(v);
            }
        }
    }
    Ok(())
}

fn hgetall(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    get_all(ctx, args, Part::Both)
}

fn hkeys(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    get_all(ctx, args, Part::Fields)
}

fn hvals(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    get_all(ctx, args, Part::Values)
}

fn hlen(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let n = read_hash(&mut db, args[1], stats)?.map_or(0, |h| h.len());
    out.int(n as i64);
    Ok(())
}

fn hexists(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let found = read_hash(&mut db, args[1], stats)?.is_some_and(|h| h.contains(args[2]));
    out.int(found as i64);
    Ok(())
}

fn hstrlen(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let len = read_hash(&mut db, args[1], stats)?
        .and_then(|h| h.get(args[2]))
        .map_or(0, |v| v.len());
    out.int(len as i64);
    Ok(())
}

fn hdel(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let key = args[1];
    let stats = &ctx.server.stats;
    let mut db = ctx.db();
    let (deleted, empty) = match write_hash(&mut db, key)? {
        None => (0, false),
        Some(h) => {
            let mut n = 0;
            for f in &args[2..] {
                if h.remove(f) {
                    n += 1;
                    if h.is_empty() {
                        break;
                    }
                }
            }
            (n, h.is_empty())
        }
    };
    if deleted > 0 {
        db.notify(class::HASH, "hdel", key);
        if empty {
            db.delete(key)?;
            db.notify(class::GENERIC, "del", key);
        } else {
            db.modified(key)?;
        }
        stats.dirty(deleted - 1);
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

/// Read-modify-write one field (HINCRBY, HINCRBYFLOAT): `compute` gets the current value
/// (None when the field or the key is missing) and returns (reply, new value). The hash is
/// created when missing; nothing changes when `compute` fails.
fn update_field<T>(
    ctx: &mut Ctx,
    key: &[u8],
    field: &[u8],
    compute: impl FnOnce(Option<&[u8]>) -> Result<(T, Vec<u8>), CmdError>,
) -> Result<T, CmdError> {
    let limits = limits(ctx);
    let mut db = ctx.db();
    if let Some(h) = write_hash(&mut db, key)? {
        let (reply, new) = compute(h.get(field))?;
        h.set(field, &new, limits);
        db.modified(key)?;
        return Ok(reply);
    }
    let (reply, new) = compute(None)?;
    let mut h = HashValue::for_pairs(&[field, &new], limits);
    h.set(field, &new, limits);
    db.set(key, Value::Hash(h))?;
    Ok(reply)
}

fn hincrby(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let incr = arg_i64(args[3])?;
    let new = update_field(ctx, args[1], args[2], |cur| {
        let cur = match cur {
            None => 0,
            Some(v) => parse_canonical_i64(v)
                .ok_or(CmdError::Static("ERR hash value is not an integer"))?,
        };
        let new = cur.checked_add(incr).ok_or(CmdError::Overflow)?;
        Ok((new, itoa_stack(new).as_slice().to_vec()))
    })?;
    ctx.notify(class::HASH, "hincrby", args[1]);
    ctx.out.int(new);
    Ok(())
}

fn hincrbyfloat(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let incr = LongDouble::parse(args[3]).ok_or(CmdError::NotFloat)?;
    if incr.is_infinite() {
        return Err(CmdError::Static("ERR value is NaN or Infinity"));
    }
    let text = update_field(ctx, args[1], args[2], |cur| {
        let cur = match cur {
            None => LongDouble::ZERO,
            Some(v) => {
                LongDouble::parse(v).ok_or(CmdError::Static("ERR hash value is not a float"))?
            }
        };
        let sum = cur
            .checked_add(incr)
            .filter(|v| !v.is_infinite())
            .ok_or(CmdError::Static(
                "ERR increment would produce NaN or Infinity",
            ))?;
        let text = sum.to_human().into_bytes();
        Ok((text.clone(), text))
    })?;
    ctx.notify(class::HASH, "hincrbyfloat", args[1]);
    ctx.out.bulk(&text);
    // The result, not the increment: float addition must not be redone on reload.
    ctx.log_as(&[b"HSET", args[1], args[2], &text]);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// HRANDFIELD
// ---------------------------------------------------------------------------------------

fn hrandfield(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let Some(&count_arg) = args.get(2) else {
        let stats = &ctx.server.stats;
        let (mut db, out) = ctx.db_out();
        let h = read_hash(&mut db, args[1], stats)?;
        match h.and_then(|h| random_pair(h, &mut rand::thread_rng())) {
            Some((f, _)) => out.bulk(f),
            None => out.null(),
        }
        return Ok(());
    };
    let l = arg_i64(count_arg)?;
    if l == i64::MIN {
        return Err(CmdError::Static(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let withvalues = match args.len() {
        3 => false,
        4 if eq_ic(args[3], "withvalues") => true,
        _ => return Err(CmdError::Syntax),
    };
    if withvalues && !(-i64::MAX / 2..=i64::MAX / 2).contains(&l) {
        return Err(CmdError::Static("ERR value is out of range"));
    }
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let Some(h) = read_hash(&mut db, args[1], stats)? else {
        out.array(0);
        return Ok(());
    };
    random_with_count(h, l, withvalues, out)
}

/// A uniformly random pair of a non-empty hash.
fn random_pair<'h>(h: &'h HashValue, rng: &mut impl Rng) -> Option<(&'h [u8], &'h [u8])> {
    match h {
        HashValue::Listpack(l) => {
            let i = rng.gen_range(0..l.len().max(1));
            l.iter().nth(i)
        }
        HashValue::Table(t) => t.random(rng),
    }
}

/// Reply with one pair in HRANDFIELD's shape (nested pair in RESP3 with values).
fn reply_pair(out: &mut ReplyWriter, f: &[u8], v: &[u8], withvalues: bool) {
    if withvalues && out.resp3 {
        out.array(2);
    }
    out.bulk(f);
    if withvalues {
        out.bulk(v);
    }
}

/// HRANDFIELD with a count, following Redis's `hrandfieldWithCountCommand` cases.
fn random_with_count(h: &HashValue, l: i64, withvalues: bool, out: &mut ReplyWriter) -> CmdResult {
    let size = h.len() as u64;
    let (count, unique) = if l >= 0 {
        (l as u64, true)
    } else {
        (l.unsigned_abs(), false)
    };
    if count == 0 {
        out.array(0);
        return Ok(());
    }
    let flat = withvalues && !out.resp3;
    let mut rng = rand::thread_rng();

    // Case 1: negative count (repetitions allowed), or a single element.
    if !unique || count == 1 {
        if count > MAX_RANDOM_REPLY {
            return Err(CmdError::Static("ERR value is out of range"));
        }
        out.array(if flat {
            count as usize * 2
        } else {
            count as usize
        });
        match h {
            HashValue::Listpack(l) => {
                let pairs: Vec<(&[u8], &[u8])> = l.iter().collect();
                for _ in 0..count {
                    if let Some(&(f, v)) = pairs.get(rng.gen_range(0..pairs.len().max(1))) {
                        reply_pair(out, f, v, withvalues);
                    }
                }
            }
            HashValue::Table(t) => {
                for _ in 0..count {
                    if let Some((f, v)) = t.random(&mut rng) {
                        reply_pair(out, f, v, withvalues);
                    }
                }
            }
        }
        return Ok(());
    }

    let reply_size = count.min(size) as usize;
    out.array(if flat { reply_size * 2 } else { reply_size });
    // Case 2: at least as many as the hash holds: all of it, in its order.
    if count >= size {
        for (f, v) in h.iter() {
            reply_pair(out, f, v, withvalues);
        }
        return Ok(());
    }
    // Cases 3 and 4: distinct elements (a listpack keeps its order, as Redis's
    // lpRandomPairsUnique does).
    let count = count as usize;
    match h {
        HashValue::Listpack(l) => {
            let mut picked: Vec<usize> =
                rand::seq::index::sample(&mut rng, l.len(), count).into_vec();
            picked.sort_unstable();
            let mut next = picked.into_iter().peekable();
            for (i, (f, v)) in l.iter().enumerate() {
                if next.peek() == Some(&i) {
                    next.next();
                    reply_pair(out, f, v, withvalues);
                }
            }
        }
        HashValue::Table(t) => t.random_distinct(count, &mut rng, |f, v| {
            reply_pair(out, f, v, withvalues);
        }),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// HSCAN
// ---------------------------------------------------------------------------------------

fn hscan(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let cursor = crate::commands::shared::scan_args::parse_cursor(args[2])?;
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let Some(h) = read_hash(&mut db, args[1], stats)? else {
        out.array(2);
        out.bulk(b"0");
        out.array(0);
        return Ok(());
    };
    // Options are parsed after the lookup, as in Redis.
    let mut count: i64 = 10;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - i >= 2;
        if more && eq_ic(args[i], "count") {
            count = arg_i64(args[i + 1])?;
            if count < 1 {
                return Err(CmdError::Syntax);
            }
        } else if more && eq_ic(args[i], "match") {
            let p = args[i + 1];
            pattern = (p != b"*").then_some(p);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let mut found: Vec<(&[u8], &[u8])> = Vec::new();
    let next = match h {
        // A listpack is returned whole, with cursor 0.
        HashValue::Listpack(l) => {
            found.extend(l.iter());
            0
        }
        HashValue::Table(t) => {
            let mut cursor = cursor;
            let want = count.saturating_mul(2) as usize;
            let mut iterations = count.saturating_mul(20);
            loop {
                cursor = t.scan(cursor, |f, v| found.push((f, v)));
                iterations -= 1;
                if cursor == 0 || iterations <= 0 || found.len() * 2 >= want {
                    break;
                }
            }
            cursor
        }
    };
    if let Some(p) = pattern {
        found.retain(|(f, _)| crate::storage::glob::glob_match(p, f, false));
    }
    out.array(2);
    // Redis replies with the unsigned cursor through a signed conversion.
    out.bulk_int(next as i64);
    out.array(found.len() * 2);
    for (f, v) in found {
        out.bulk(f);
        out.bulk(v);
    }
    Ok(())
}
