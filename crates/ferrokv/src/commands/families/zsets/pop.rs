//! ZPOPMIN, ZPOPMAX and ZMPOP, after Redis's `genericZpopCommand` and
//! `zmpopGenericCommand`. The blocking forms (BZPOPMIN, BZPOPMAX, BZMPOP) are written with
//! the other blocking commands and reuse [`parse_zmpop`] and [`generic_zpop`].

use super::write_zset;
use crate::commands::shared::pops::parse_zmpop;
use crate::commands::{arg_i64, CmdError, CmdResult, Ctx};

/// How [`generic_zpop`] replies.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PopReply {
    /// Start with the key the members came from (BZPOPMIN, ZMPOP, BZMPOP).
    pub emit_key: bool,
    /// Each member and score as a nested two-element array (ZMPOP, BZMPOP; ZPOPMIN with a
    /// count in RESP3), else flat.
    pub nested: bool,
    /// Null array (rather than an empty array) when no key holds a sorted set.
    pub nil_when_empty: bool,
}

/// Redis's `genericZpopCommand`: pop up to `count` members (None: one member, the form
/// without a COUNT argument) from the lowest (`max` false) or highest end of the first of
/// `keys` that exists, and reply:
///
/// * ZPOPMIN/ZPOPMAX: `[m, s, m, s...]` (flat), or in RESP3 with a count `[[m, s]...]`;
/// * BZPOPMIN/BZPOPMAX: `[key, m, s]` (`emit_key`, flat, one member);
/// * ZMPOP/BZMPOP: `[key, [[m, s]...]]` (`emit_key`, nested), null array when no key.
///
/// A key of another type before the first existing sorted set is WRONGTYPE. An emptied set
/// is deleted. The blocking commands call this once they found a non-empty set.
pub(crate) fn generic_zpop(
    ctx: &mut Ctx,
    keys: &[&[u8]],
    max: bool,
    count: Option<u64>,
    how: PopReply,
) -> CmdResult {
    let (mut db, out) = ctx.db_out();
    let mut found = None;
    for &key in keys {
        if write_zset(&mut db, key)?.is_some() {
            found = Some(key);
            break;
        }
    }
    let Some(key) = found else {
        if how.nil_when_empty {
            out.null_array();
        } else {
            out.array(0);
        }
        return Ok(());
    };
    if count == Some(0) {
        out.array(0);
        return Ok(());
    }
    let Some(mut z) = write_zset(&mut db, key)? else {
        return Err(CmdError::Internal("sorted set vanished"));
    };
    let n = usize::try_from(count.unwrap_or(1))
        .unwrap_or(usize::MAX)
        .min(z.len());
    match (how.emit_key, how.nested) {
        (false, false) => out.array(n * 2),
        (false, true) => out.array(n),
        (true, false) => {
            out.array(n * 2 + 1);
            out.bulk(key);
        }
        (true, true) => {
            out.array(2);
            out.bulk(key);
            out.array(n);
        }
    }
    for _ in 0..n {
        let Some((member, score)) = z.pop(max) else {
            break;
        };
        if how.nested {
            out.array(2);
        }
        out.bulk(&member);
        out.double(score);
    }
    let empty = z.is_empty();
    drop(z);
    let event = if max { "zpopmax" } else { "zpopmin" };
    if how.emit_key && how.nested {
        // ZMPOP/BZMPOP propagate as ZPOPMIN/ZPOPMAX with the count popped (Redis 7.0).
        let name: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
        db.log_as(&[name, key, n.to_string().as_bytes()]);
    }
    super::after_removal(&mut db, key, event, n, empty)
}

/// ZPOPMIN/ZPOPMAX key [count]
fn zpop_generic(ctx: &mut Ctx, args: &[&[u8]], max: bool) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match args.get(2) {
        None => None,
        Some(a) => Some(arg_i64(a).ok().and_then(|n| u64::try_from(n).ok()).ok_or(
            CmdError::Static("ERR value is out of range, must be positive"),
        )?),
    };
    let how = PopReply {
        emit_key: false,
        nested: ctx.out.resp3 && count.is_some(),
        nil_when_empty: false,
    };
    generic_zpop(ctx, &args[1..2], max, count, how)
}

/// ZPOPMIN key [count]
pub fn zpopmin(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    zpop_generic(ctx, args, false)
}

/// ZPOPMAX key [count]
pub fn zpopmax(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    zpop_generic(ctx, args, true)
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
pub fn zmpop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let p = parse_zmpop(args, 1)?;
    let keys = p.keys(args);
    let how = PopReply {
        emit_key: true,
        nested: true,
        nil_when_empty: true,
    };
    generic_zpop(ctx, &keys, p.max, Some(p.count), how)
}
