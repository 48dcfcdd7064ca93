//! The list family: LPUSH/RPUSH(X), LPOP/RPOP, LLEN, LRANGE, LINDEX, LSET, LINSERT, LREM,
//! LTRIM, LPOS, LMOVE, RPOPLPUSH, LMPOP.
//!
//! Values live in [`ListValue`] (a quicklist, see `storage/list.rs`); this file follows
//! Redis 7.0's `t_list.c` for argument checks, error order, reply shapes and the dirty
//! counter (one per element pushed or popped, one per LSET/LINSERT/LMOVE).
//!
//! The blocking forms (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) are in `blocking.rs`; what
//! both need lives in `commands/shared/`: `pops.rs` (`LEFT|RIGHT`, the LMPOP shape and its
//! key finder) and `list_ops.rs` (typed lookup for writing and the whole LMOVE step).

use crate::commands::shared::list_ops::{move_element, pop_event, push_event, write_list};
use crate::commands::shared::pops::{mpop_key_positions, parse_end, parse_mpop};
use crate::commands::{
    acl, arg_i64, arg_in_range, class, flags, CmdError, CmdResult, Command, Ctx,
};
use crate::stats::Stats;
use crate::storage::list::{Elem, End, ListLimits, Needle};
use crate::storage::{DbView, ListEdit, ListRef, ListValue, Value, ValueRef};
use crate::util::eq_ic;
use resp::ReplyWriter;

/// The list family's table.
pub static COMMANDS: &[Command] = &[
    Command::new(
        "lpush",
        -3,
        flags::WRITE | flags::DENYOOM | flags::FAST,
        lpush,
    )
    .keys(1, 1, 1)
    .acl(acl::LIST),
    Command::new(
        "rpush",
        -3,
        flags::WRITE | flags::DENYOOM | flags::FAST,
        rpush,
    )
    .keys(1, 1, 1)
    .acl(acl::LIST),
    Command::new(
        "lpushx",
        -3,
        flags::WRITE | flags::DENYOOM | flags::FAST,
        lpushx,
    )
    .keys(1, 1, 1)
    .acl(acl::LIST),
    Command::new(
        "rpushx",
        -3,
        flags::WRITE | flags::DENYOOM | flags::FAST,
        rpushx,
    )
    .keys(1, 1, 1)
    .acl(acl::LIST),
    Command::new("lpop", -2, flags::WRITE | flags::FAST, lpop)
        .keys(1, 1, 1)
        .acl(acl::LIST),
    Command::new("rpop", -2, flags::WRITE | flags::FAST, rpop)
        .keys(1, 1, 1)
        .acl(acl::LIST),
    Command::new("llen", 2, flags::READONLY | flags::FAST, llen)
        .keys(1, 1, 1)
        .acl(acl::LIST),
    Command::new("lrange", 4, flags::READONLY, lrange)
        .keys(1, 1, 1)
        .acl(acl::LIST),
    Command::new("lindex", 3, flags::READONLY, lindex)
        .keys(1, 1, 1)
        .acl(acl::LIST),
    Command::new("lset", 4, flags::WRITE | flags::DENYOOM, lset)
        .keys(1, 1, 1)
        .acl(acl::LIST),
    Command::new("linsert", 5, flags::WRITE | flags::DENYOOM, linsert)
        .keys(1, 1, 1)
        .acl(acl::LIST),
    Command::new("lrem", 4, flags::WRITE, lrem)
        .keys(1, 1, 1)
        .acl(acl::LIST),
    Command::new("ltrim", 4, flags::WRITE, ltrim)
        .keys(1, 1, 1)
        .acl(acl::LIST),
    Command::new("lpos", -3, flags::READONLY, lpos)
        .keys(1, 1, 1)
        .acl(acl::LIST),
    Command::new("lmove", 5, flags::WRITE | flags::DENYOOM, lmove)
        .keys(1, 2, 1)
        .acl(acl::LIST),
    Command::new("rpoplpush", 3, flags::WRITE | flags::DENYOOM, rpoplpush)
        .keys(1, 2, 1)
        .acl(acl::LIST),
    Command::new("lmpop", -4, flags::WRITE, lmpop)
        .keys_fn(lmpop_keys)
        .acl(acl::LIST),
];

// ---------------------------------------------------------------------------------------
// Shared helpers (also used by the blocking list commands)
// ---------------------------------------------------------------------------------------

/// `LPOP key count` with a negative or non-numeric count.
const ERR_MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";
/// LSET past either end.
const ERR_INDEX_OUT_OF_RANGE: &str = "ERR index out of range";
const ERR_RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
const ERR_COUNT_NEGATIVE: &str = "ERR COUNT can't be negative";
const ERR_MAXLEN_NEGATIVE: &str = "ERR MAXLEN can't be negative";

/// Node limits for lists created or grown now (`list-max-listpack-size`).
fn list_limits(ctx: &Ctx) -> ListLimits {
    ListLimits {
        max_listpack_size: ctx.server.config.list_max_listpack_size(),
    }
}

/// Look up a list for reading: counts the keyspace hit or miss (as Redis, a key of the
/// wrong type is a hit) and checks the type. A small list is read in its record.
fn read_list<'v>(
    db: &'v mut DbView<'_, '_>,
    key: &[u8],
    stats: &Stats,
) -> Result<Option<ListRef<'v>>, CmdError> {
    match db.read(key)? {
        None => {
            stats.hit(false);
            Ok(None)
        }
        Some(ValueRef::List(l)) => {
            stats.hit(true);
            Ok(Some(l))
        }
        Some(_) => {
            stats.hit(true);
            Err(CmdError::WrongType)
        }
    }
}

/// Reply with one element as a bulk string.
fn reply_elem(out: &mut ReplyWriter, e: Elem<'_>) {
    match e {
        Elem::Str(s) => out.bulk(s),
        Elem::Int(n) => out.bulk_int(n),
    }
}

/// Signal a change of `key` to WATCHers without counting it in the dirty counter (for
/// commands whose dirty count Redis does not tie to each key they touch).
fn signal_quiet(db: &mut DbView<'_, '_>, key: &[u8]) -> Result<(), CmdError> {
    db.shard(key)?.touch_watched(key);
    db.locks.track_write(key, false);
    Ok(())
}

/// Pop from `list` at `end` and reply as LPOP/RPOP do: without a count, one bulk string
/// (null if the list is empty); with a count, an array of up to `count` elements in pop
/// order. Returns the number of elements popped; the caller then calls [`finish_pop`].
/// (LPOP's count 0 and missing-key replies are handled before, by the caller.) Inlined:
/// RPOP's hot path (out of line since its list became a `ListMut`, ~25 instructions).
#[inline(always)]
fn pop_reply(out: &mut ReplyWriter, list: &mut ListValue, end: End, count: Option<usize>) -> usize {
    match count {
        None => match list.pop(end) {
            Some(v) => {
                out.bulk(&v);
                1
            }
            None => {
                out.null();
                0
            }
        },
        Some(n) => {
            out.array(n.min(list.len()));
            list.pop_n(end, n, |e| reply_elem(out, e))
        }
    }
}

/// [`pop_reply`] on a list reached by [`DbView::list_edit`]: a small list in its record
/// is popped on the record's bytes, each element replied from there. Returns the number
/// popped and whether the list is now empty; the caller then calls [`finish_pop`].
#[inline(always)]
fn pop_edit_reply(
    out: &mut ReplyWriter,
    list: ListEdit<'_>,
    end: End,
    count: Option<usize>,
) -> (usize, bool) {
    match list {
        ListEdit::Packed(p) => {
            let n = match count {
                Some(n) => {
                    out.array(n.min(p.len()));
                    n
                }
                None => 1,
            };
            let (popped, left) = p.pop(end, n, |e| reply_elem(out, e));
            if popped == 0 && count.is_none() {
                out.null();
            }
            (popped, left == 0)
        }
        ListEdit::List(mut list) => {
            let popped = pop_reply(out, &mut list, end, count);
            (popped, list.is_empty())
        }
    }
}

/// After `popped` elements were popped from the list at `key`: delete the key if the list
/// is now empty, else signal the change (WATCH); counts `popped` changes as dirty.
/// After popping `popped` elements from `key`'s list (`empty`: none is left, so the key
/// goes): notify, delete or mark modified.
fn finish_pop(
    db: &mut DbView<'_, '_>,
    key: &[u8],
    end: End,
    (popped, empty): (usize, bool),
) -> CmdResult {
    if popped == 0 {
        return Ok(());
    }
    db.notify(class::LIST, pop_event(end), key);
    if empty {
        db.delete(key)?;
        db.notify(class::GENERIC, "del", key);
    } else {
        db.modified(key)?;
    }
    db.stats.dirty(popped as u64 - 1);
    Ok(())
}

fn lmpop_keys(args: &[&[u8]]) -> Vec<usize> {
    mpop_key_positions(args, 1)
}

// ---------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------

/// LPUSH/RPUSH/LPUSHX/RPUSHX (`xx`: only onto an existing list).
fn push_generic(ctx: &mut Ctx, args: &[&[u8]], end: End, xx: bool) -> CmdResult {
    let (key, items) = (args[1], &args[2..]);
    let limits = list_limits(ctx);
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    // The list view is dropped (a small list written back to its record) before the
    // key is signalled.
    let pushed = match db.list_edit(key)? {
        // A small list: its entries written into its record.
        Some(ListEdit::Packed(p)) => Some(p.push(end, items, limits)),
        Some(ListEdit::List(mut list)) => {
            items.iter().for_each(|it| list.push(end, it, limits));
            Some(list.len())
        }
        None => None,
    };
    let len = match pushed {
        Some(len) => {
            db.modified(key)?;
            len
        }
        None if xx => {
            out.int(0);
            return Ok(());
        }
        None => {
            let mut list = ListValue::new();
            items.iter().for_each(|it| list.push(end, it, limits));
            let len = list.len();
            db.set(key, Value::List(list))?;
            len
        }
    };
    stats.dirty(items.len().saturating_sub(1) as u64);
    db.notify(class::LIST, push_event(end), key);
    out.int(len as i64);
    Ok(())
}

fn lpush(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    push_generic(ctx, args, End::Left, false)
}

fn rpush(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    push_generic(ctx, args, End::Right, false)
}

fn lpushx(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    push_generic(ctx, args, End::Left, true)
}

fn rpushx(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    push_generic(ctx, args, End::Right, true)
}

/// LPOP/RPOP `key [count]`.
fn pop_generic(ctx: &mut Ctx, args: &[&[u8]], end: End) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::WrongArity);
    }
    let count = match args.get(2) {
        Some(a) => Some(arg_in_range(a, 0, i64::MAX, ERR_MUST_BE_POSITIVE)? as usize),
        None => None,
    };
    let key = args[1];
    let (mut db, out) = ctx.db_out();
    let Some(list) = db.list_edit(key)? else {
        if count.is_some() {
            out.null_array();
        } else {
            out.null();
        }
        return Ok(());
    };
    if count == Some(0) {
        out.array(0);
        return Ok(());
    }
    // Emptiness is known here, without looking the key up again.
    let popped = pop_edit_reply(out, list, end, count);
    finish_pop(&mut db, key, end, popped)
}

fn lpop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    pop_generic(ctx, args, End::Left)
}

fn rpop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    pop_generic(ctx, args, End::Right)
}

fn lmpop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let mpop = parse_mpop(args, 1)?;
    let keys = args.get(mpop.keys.clone()).unwrap_or_default();
    let (mut db, out) = ctx.db_out();
    for key in keys {
        let Some(list) = db.list_edit(key)? else {
            continue;
        };
        if list.is_empty() {
            continue;
        }
        out.array(2);
        out.bulk(key);
        let (popped, empty) = pop_edit_reply(out, list, mpop.end, Some(mpop.count));
        // Propagated as LPOP/RPOP with the number popped (Redis 7.0).
        let name: &[u8] = match mpop.end {
            End::Left => b"LPOP",
            End::Right => b"RPOP",
        };
        db.log_as(&[name, key, popped.to_string().as_bytes()]);
        return finish_pop(&mut db, key, mpop.end, (popped, empty));
    }
    out.null_array();
    Ok(())
}

fn llen(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let n = read_list(&mut db, args[1], stats)?.map_or(0, |l| l.len());
    out.int(n as i64);
    Ok(())
}

fn lrange(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let start = arg_i64(args[2])?;
    let stop = arg_i64(args[3])?;
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let Some(list) = read_list(&mut db, args[1], stats)? else {
        out.array(0);
        return Ok(());
    };
    match clamp_range(list.len(), start, stop) {
        Some((first, n)) => {
            out.array(n);
            list.iter_at(first, n, true)
                .for_each(|e| reply_elem(out, e));
        }
        None => out.array(0),
    }
    Ok(())
}

/// Redis's range normalization (LRANGE, LTRIM): negative indexes count from the tail;
/// Some((first position, number of elements)) or None for an empty range.
fn clamp_range(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    let stop = if stop < 0 { len + stop } else { stop };
    if start > stop || start >= len {
        return None;
    }
    let stop = stop.min(len - 1);
    Some((start as usize, (stop - start + 1) as usize))
}

fn ltrim(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let start = arg_i64(args[2])?;
    let stop = arg_i64(args[3])?;
    let key = args[1];
    let limits = list_limits(ctx);
    let (mut db, out) = ctx.db_out();
    let Some(mut list) = write_list(&mut db, key)? else {
        out.ok();
        return Ok(());
    };
    let len = list.len();
    let (ltrim, rtrim) = match clamp_range(len, start, stop) {
        Some((first, n)) => (first, len - first - n),
        None => (len, 0),
    };
    list.trim(ltrim, rtrim, limits);
    let empty = list.is_empty();
    drop(list);
    let removed = (ltrim + rtrim) as u64;
    // Redis signals (and notifies) the key even when nothing was trimmed, and counts one
    // change per element removed.
    db.notify(class::LIST, "ltrim", key);
    if empty {
        db.delete(key)?;
        db.notify(class::GENERIC, "del", key);
    } else if removed > 0 {
        db.modified(key)?;
    } else {
        signal_quiet(&mut db, key)?;
    }
    db.stats.dirty(removed.saturating_sub(1));
    out.ok();
    Ok(())
}

fn lindex(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let Some(list) = read_list(&mut db, args[1], stats)? else {
        out.null();
        return Ok(());
    };
    let index = arg_i64(args[2])?;
    match list.index(index).and_then(|i| list.get(i)) {
        Some(e) => reply_elem(out, e),
        None => out.null(),
    }
    Ok(())
}

fn lset(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let key = args[1];
    let limits = list_limits(ctx);
    let (mut db, out) = ctx.db_out();
    let mut list = write_list(&mut db, key)?.ok_or(CmdError::NoSuchKey)?;
    let index = arg_i64(args[2])?;
    let done = list
        .index(index)
        .is_some_and(|i| list.set(i, args[3], limits));
    drop(list);
    if !done {
        return Err(CmdError::Static(ERR_INDEX_OUT_OF_RANGE));
    }
    db.modified(key)?;
    db.notify(class::LIST, "lset", key);
    out.ok();
    Ok(())
}

fn linsert(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let after = if eq_ic(args[2], "after") {
        true
    } else if eq_ic(args[2], "before") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let key = args[1];
    let limits = list_limits(ctx);
    let (mut db, out) = ctx.db_out();
    let Some(mut list) = write_list(&mut db, key)? else {
        out.int(0);
        return Ok(());
    };
    if !list.insert(args[3], args[4], after, limits) {
        out.int(-1);
        return Ok(());
    }
    let len = list.len();
    drop(list);
    db.modified(key)?;
    db.notify(class::LIST, "linsert", key);
    out.int(len as i64);
    Ok(())
}

fn lrem(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let toremove = arg_i64(args[2])?;
    let key = args[1];
    let limits = list_limits(ctx);
    let (mut db, out) = ctx.db_out();
    let Some(mut list) = write_list(&mut db, key)? else {
        out.int(0);
        return Ok(());
    };
    // A negative count scans from the tail. Redis negates it in a C long, so i64::MIN stays
    // negative and never matches the number removed: everything goes, as with 0.
    let (max, from_tail) = match toremove {
        i64::MIN => (0, true),
        n if n < 0 => (n.unsigned_abs() as usize, true),
        n => (n as usize, false),
    };
    let removed = list.remove(args[3], max, from_tail, limits);
    let empty = list.is_empty();
    drop(list);
    if removed > 0 {
        db.notify(class::LIST, "lrem", key);
        if empty {
            db.delete(key)?;
            db.notify(class::GENERIC, "del", key);
        } else {
            db.modified(key)?;
        }
        db.stats.dirty(removed as u64 - 1);
    }
    out.int(removed as i64);
    Ok(())
}

/// LPOS's options.
struct LposOpts {
    rank: i64,
    /// -1 when COUNT was not given.
    count: i64,
    maxlen: i64,
}

fn parse_lpos(args: &[&[u8]]) -> Result<LposOpts, CmdError> {
    let mut o = LposOpts {
        rank: 1,
        count: -1,
        maxlen: 0,
    };
    let mut j = 3;
    while let Some(opt) = args.get(j) {
        let Some(&val) = args.get(j + 1) else {
            return Err(CmdError::Syntax);
        };
        if eq_ic(opt, "rank") {
            o.rank = arg_i64(val)?;
            if o.rank == 0 {
                return Err(CmdError::Static(ERR_RANK_ZERO));
            }
        } else if eq_ic(opt, "count") {
            o.count = arg_in_range(val, 0, i64::MAX, ERR_COUNT_NEGATIVE)?;
        } else if eq_ic(opt, "maxlen") {
            o.maxlen = arg_in_range(val, 0, i64::MAX, ERR_MAXLEN_NEGATIVE)?;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 2;
    }
    Ok(o)
}

fn lpos(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let LposOpts {
        mut rank,
        count,
        maxlen,
    } = parse_lpos(args)?;
    // A negative rank searches from the tail. Redis negates it in a C long: i64::MIN stays
    // negative, so every match qualifies; the wrapping arithmetic below keeps that.
    let forward = rank >= 0;
    if !forward {
        rank = rank.wrapping_neg();
    }
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let Some(list) = read_list(&mut db, args[1], stats)? else {
        if count != -1 {
            out.array(0);
        } else {
            out.null();
        }
        return Ok(());
    };
    let needle = Needle::new(args[2]);
    let len = list.len();
    let iter = if forward {
        list.iter()
    } else {
        list.iter_at(len.saturating_sub(1), len, false)
    };
    let (mut index, mut matches, mut matchindex) = (0i64, 0i64, -1i64);
    let mut found = Vec::new();
    for e in iter {
        if maxlen != 0 && index >= maxlen {
            break;
        }
        if e.matches(&needle) {
            matches += 1;
            matchindex = if forward {
                index
            } else {
                len as i64 - index - 1
            };
            if matches >= rank {
                if count == -1 {
                    break;
                }
                found.push(matchindex);
                if count != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= count {
                    break;
                }
            }
        }
        index += 1;
        matchindex = -1;
    }
    if count != -1 {
        out.array(found.len());
        found.into_iter().for_each(|i| out.int(i));
    } else if matchindex != -1 {
        out.int(matchindex);
    } else {
        out.null();
    }
    Ok(())
}

fn lmove(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let from = parse_end(args[3])?;
    let to = parse_end(args[4])?;
    lmove_generic(ctx, args[1], args[2], from, to)
}

fn rpoplpush(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    lmove_generic(ctx, args[1], args[2], End::Right, End::Left)
}

fn lmove_generic(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) -> CmdResult {
    let limits = list_limits(ctx);
    let (mut db, out) = ctx.db_out();
    match move_element(&mut db, src, dst, from, to, limits)? {
        Some(v) => out.bulk(&v),
        None => out.null(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_like_redis() {
        assert_eq!(clamp_range(10, 0, -1), Some((0, 10)));
        assert_eq!(clamp_range(10, -3, -1), Some((7, 3)));
        assert_eq!(clamp_range(10, 5, 2), None);
        assert_eq!(clamp_range(10, 10, 20), None);
        assert_eq!(clamp_range(10, i64::MIN, i64::MAX), Some((0, 10)));
        assert_eq!(clamp_range(0, 0, -1), None);
    }
}
