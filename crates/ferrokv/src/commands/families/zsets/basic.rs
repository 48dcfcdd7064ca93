//! ZADD, ZINCRBY, ZREM, ZSCORE, ZMSCORE, ZCARD, ZRANK, ZREVRANK.

use super::parse::parse_score;
use super::{after_removal, peek_zset, write_zset, zset_limits};
use crate::commands::{class, CmdError, CmdResult, Ctx};
use crate::storage::zset::{ZSetLimits, ZSetValue};
use crate::storage::{Value, ZSetEdit};
use crate::util::eq_ic;

/// ZADD's options.
#[derive(Clone, Copy, Default)]
struct ZaddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What adding one element did.
#[derive(Clone, Copy, PartialEq)]
enum Outcome {
    /// The member was new.
    Added,
    /// Its score changed.
    Updated,
    /// Processed without change (same score).
    Same,
    /// Skipped by NX, XX, GT or LT.
    Skipped,
}

/// `ERR resulting score is not a number (NaN)`
const NAN_SCORE: CmdError = CmdError::Static("ERR resulting score is not a number (NaN)");

/// What ZADD adds to: a set being created, or one of the keyspace, whose record (for a
/// small set) is read in place and changed in place or decoded only for a change: a
/// ZADD of an existing score decodes and writes nothing.
trait AddTarget {
    /// The score of `member`.
    fn score(&self, member: &[u8]) -> Option<f64>;
    /// Add the absent `member`.
    fn add(&mut self, member: &[u8], score: f64, limits: ZSetLimits);
    /// Give the existing `member` a different score.
    fn rescore(&mut self, member: &[u8], score: f64, limits: ZSetLimits);
}

impl AddTarget for ZSetValue {
    fn score(&self, member: &[u8]) -> Option<f64> {
        ZSetValue::score(self, member)
    }
    fn add(&mut self, member: &[u8], score: f64, limits: ZSetLimits) {
        self.insert(member, score, limits);
    }
    fn rescore(&mut self, member: &[u8], score: f64, limits: ZSetLimits) {
        self.insert(member, score, limits);
    }
}

impl AddTarget for ZSetEdit<'_> {
    #[inline]
    fn score(&self, member: &[u8]) -> Option<f64> {
        ZSetEdit::score(self, member)
    }
    fn add(&mut self, member: &[u8], score: f64, limits: ZSetLimits) {
        self.insert(member, score, limits);
    }
    fn rescore(&mut self, member: &[u8], score: f64, limits: ZSetLimits) {
        ZSetEdit::rescore(self, member, score, limits);
    }
}

/// Redis's `zsetAdd`: add or update one element; returns what happened and the new score.
fn add_one<Z: AddTarget>(
    z: &mut Z,
    member: &[u8],
    score: f64,
    f: ZaddFlags,
    limits: ZSetLimits,
) -> Result<(Outcome, f64), CmdError> {
    let Some(cur) = z.score(member) else {
        if f.xx {
            return Ok((Outcome::Skipped, score));
        }
        z.add(member, score, limits);
        return Ok((Outcome::Added, score));
    };
    if f.nx {
        return Ok((Outcome::Skipped, score));
    }
    let new = if f.incr { score + cur } else { score };
    if new.is_nan() {
        return Err(NAN_SCORE);
    }
    if (f.lt && new >= cur) || (f.gt && new <= cur) {
        return Ok((Outcome::Skipped, new));
    }
    #[allow(clippy::float_cmp)]
    if new == cur {
        return Ok((Outcome::Same, new));
    }
    z.rescore(member, new, limits);
    Ok((Outcome::Updated, new))
}

/// Counts of one ZADD.
#[derive(Default)]
struct Tally {
    added: usize,
    updated: usize,
    processed: usize,
    /// The last new score (the INCR reply).
    score: f64,
}

/// Apply the score/member pairs in order, stopping at the first NaN result (elements
/// already applied stay, as in Redis).
fn add_all<Z: AddTarget>(
    z: &mut Z,
    pairs: &[&[u8]],
    scores: &[f64],
    f: ZaddFlags,
    limits: ZSetLimits,
    t: &mut Tally,
) -> Result<(), CmdError> {
    for (pair, &score) in pairs.chunks_exact(2).zip(scores) {
        let (outcome, new) = add_one(z, pair[1], score, f, limits)?;
        match outcome {
            Outcome::Added => t.added += 1,
            Outcome::Updated => t.updated += 1,
            Outcome::Same | Outcome::Skipped => {}
        }
        if outcome != Outcome::Skipped {
            t.processed += 1;
            t.score = new;
        }
    }
    Ok(())
}

/// ZADD and ZINCRBY (Redis's `zaddGenericCommand`).
fn zadd_generic(ctx: &mut Ctx, args: &[&[u8]], mut f: ZaddFlags) -> CmdResult {
    let key = args[1];
    let mut at = 2;
    while let Some(opt) = args.get(at) {
        match () {
            _ if eq_ic(opt, "nx") => f.nx = true,
            _ if eq_ic(opt, "xx") => f.xx = true,
            _ if eq_ic(opt, "ch") => f.ch = true,
            _ if eq_ic(opt, "incr") => f.incr = true,
            _ if eq_ic(opt, "gt") => f.gt = true,
            _ if eq_ic(opt, "lt") => f.lt = true,
            _ => break,
        }
        at += 1;
    }
    let pairs = &args[at..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    if f.nx && f.xx {
        return Err(CmdError::Static(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(CmdError::Static(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && pairs.len() > 2 {
        return Err(CmdError::Static(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    // Every score is checked before anything changes.
    let scores = pairs
        .chunks_exact(2)
        .map(|p| parse_score(p[0]).ok_or(CmdError::NotFloat))
        .collect::<Result<Vec<f64>, _>>()?;
    let limits = zset_limits(ctx);
    let stats = &ctx.server.stats;
    let mut t = Tally::default();
    let mut db = ctx.db();
    // The view ends with this statement (it borrows `db`).
    let existing = db
        .zset(key)?
        .map(|mut z| add_all(&mut z, pairs, &scores, f, limits, &mut t));
    let result = match existing {
        Some(r) => {
            if t.added + t.updated > 0 {
                db.modified(key)?;
            }
            r
        }
        None if f.xx => Ok(()),
        None => {
            let mut z = ZSetValue::for_new_key(pairs[1].len(), limits);
            let r = add_all(&mut z, pairs, &scores, f, limits, &mut t);
            if !z.is_empty() {
                db.set(key, Value::ZSet(z))?;
            }
            r
        }
    };
    // Redis counts one change per element added or updated.
    stats.dirty((t.added + t.updated).saturating_sub(1) as u64);
    if t.added + t.updated > 0 {
        ctx.notify(class::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
    }
    result?;
    if f.incr {
        if t.processed > 0 {
            ctx.out.double(t.score);
        } else {
            ctx.out.null();
        }
    } else {
        let n = if f.ch { t.added + t.updated } else { t.added };
        ctx.out.int(n as i64);
    }
    Ok(())
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
pub fn zadd(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    zadd_generic(ctx, args, ZaddFlags::default())
}

/// ZINCRBY key increment member
pub fn zincrby(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    zadd_generic(
        ctx,
        args,
        ZaddFlags {
            incr: true,
            ..ZaddFlags::default()
        },
    )
}

/// ZREM key member [member ...]
pub fn zrem(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let key = args[1];
    let mut db = ctx.db();
    let (removed, empty) = match write_zset(&mut db, key)? {
        None => (0, false),
        Some(mut z) => {
            let mut n = 0;
            for m in &args[2..] {
                if z.remove(m) {
                    n += 1;
                }
                if z.is_empty() {
                    break;
                }
            }
            (n, z.is_empty())
        }
    };
    after_removal(&mut db, key, "zrem", removed, empty)?;
    ctx.out.int(removed as i64);
    Ok(())
}

/// ZSCORE key member
pub fn zscore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    match peek_zset(&mut db, args[1], stats)?.and_then(|z| z.score(args[2])) {
        Some(s) => out.double(s),
        None => out.null(),
    }
    Ok(())
}

/// ZMSCORE key member [member ...]
pub fn zmscore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let z = peek_zset(&mut db, args[1], stats)?;
    let members = &args[2..];
    out.array(members.len());
    for m in members {
        match z.as_ref().and_then(|z| z.score(m)) {
            Some(s) => out.double(s),
            None => out.null(),
        }
    }
    Ok(())
}

/// ZCARD key
pub fn zcard(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let n = peek_zset(&mut db, args[1], stats)?.map_or(0, |z| z.len());
    out.int(n as i64);
    Ok(())
}

fn rank_generic(ctx: &mut Ctx, args: &[&[u8]], reverse: bool) -> CmdResult {
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let rank = peek_zset(&mut db, args[1], stats)?.and_then(|z| {
        let r = z.rank(args[2])?;
        Some(if reverse { z.len() - 1 - r } else { r })
    });
    match rank {
        Some(r) => out.int(r as i64),
        None => out.null(),
    }
    Ok(())
}

/// ZRANK key member
pub fn zrank(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    rank_generic(ctx, args, false)
}

/// ZREVRANK key member
pub fn zrevrank(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    rank_generic(ctx, args, true)
}
