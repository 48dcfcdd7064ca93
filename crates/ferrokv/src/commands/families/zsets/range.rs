//! The ZRANGE family (ZRANGE, ZRANGESTORE, ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE,
//! ZRANGEBYLEX, ZREVRANGEBYLEX), ZCOUNT, ZLEXCOUNT and ZREMRANGEBYRANK/SCORE/LEX, after
//! Redis's `zrangeGenericCommand` and `zremrangeGenericCommand`.
//!
//! Every range resolves to a span of ranks, read forward or backward.

use super::parse::{parse_lex_range, parse_score_range};
use super::{
    after_removal, read_zset, reply_pair, reply_range_header, store_result, write_zset, zset_limits,
};
use crate::commands::{arg_i64, CmdError, CmdResult, Ctx};
use crate::storage::zset::{LexRange, ScoreRange, ZSetValue};
use crate::util::eq_ic;

/// How the range's ends are read.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Not fixed by the command: ZRANGE's BYSCORE/BYLEX choose, else ranks.
    Auto,
    Rank,
    Score,
    Lex,
}

/// The parsed ends.
enum Ends {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// A parsed range request.
struct Request {
    ends: Ends,
    reverse: bool,
    withscores: bool,
    offset: i64,
    /// Negative: no limit.
    limit: i64,
}

/// Parse `key min max [options]` from `args[at]` (the key) as `zrangeGenericCommand` does:
/// options first, then the ends. `rev` is Some when the command fixes the direction.
fn parse_request(
    args: &[&[u8]],
    at: usize,
    store: bool,
    mut kind: Kind,
    mut rev: Option<bool>,
) -> Result<Request, CmdError> {
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = at + 3;
    while j < args.len() {
        let opt = args[j];
        let left = args.len() - j - 1;
        if !store && eq_ic(opt, "withscores") {
            withscores = true;
        } else if eq_ic(opt, "limit") && left >= 2 {
            offset = arg_i64(args[j + 1])?;
            limit = arg_i64(args[j + 2])?;
            j += 2;
        } else if rev.is_none() && eq_ic(opt, "rev") {
            rev = Some(true);
        } else if kind == Kind::Auto && eq_ic(opt, "bylex") {
            kind = Kind::Lex;
        } else if kind == Kind::Auto && eq_ic(opt, "byscore") {
            kind = Kind::Score;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let reverse = rev.unwrap_or(false);
    if kind == Kind::Auto {
        kind = Kind::Rank;
    }
    if limit != -1 && kind == Kind::Rank {
        return Err(CmdError::Static(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && kind == Kind::Lex {
        return Err(CmdError::Static(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    // Reverse score and lex ranges are written max first.
    let (mut lo, mut hi) = (args[at + 1], args[at + 2]);
    if reverse && kind != Kind::Rank {
        std::mem::swap(&mut lo, &mut hi);
    }
    let ends = match kind {
        Kind::Score => Ends::Score(parse_score_range(lo, hi)?),
        Kind::Lex => Ends::Lex(parse_lex_range(lo, hi)?),
        Kind::Rank | Kind::Auto => Ends::Rank(arg_i64(lo)?, arg_i64(hi)?),
    };
    Ok(Request {
        ends,
        reverse,
        withscores,
        offset,
        limit,
    })
}

/// Redis's rank normalization: the forward ranks `lo..hi` of `start..=end` (negative
/// indexes count from the end), None when empty.
fn rank_span(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    start = start.max(0);
    if start > end || start >= len {
        return None;
    }
    end = end.min(len - 1);
    Some((start as usize, end as usize + 1))
}

/// The forward ranks `lo..hi` the request selects in `z` (read backward when `reverse`).
fn select(z: &ZSetValue, req: &Request) -> (usize, usize) {
    let len = z.len();
    let (lo, hi) = match &req.ends {
        Ends::Rank(start, end) => {
            return match rank_span(*start, *end, len) {
                // Reverse ranks count from the top.
                Some((a, b)) if req.reverse => (len - b, len - a),
                Some(span) => span,
                None => (0, 0),
            };
        }
        Ends::Score(r) => z.score_range(r),
        Ends::Lex(r) => z.lex_range(r, req.reverse),
    };
    // LIMIT: a negative offset walks off the end (nothing), a negative count means all.
    if req.offset < 0 || lo >= hi {
        return (0, 0);
    }
    let offset = usize::try_from(req.offset).unwrap_or(usize::MAX);
    let take = usize::try_from(req.limit).unwrap_or(usize::MAX);
    if req.reverse {
        let top = hi.saturating_sub(offset);
        if top <= lo {
            return (0, 0);
        }
        (top.saturating_sub(take).max(lo), top)
    } else {
        let bottom = lo.saturating_add(offset);
        if bottom >= hi {
            return (0, 0);
        }
        (bottom, bottom.saturating_add(take).min(hi))
    }
}

/// Run a range command reading `args[at]`; with `dst`, store the result there instead of
/// replying with it (ZRANGESTORE).
fn range_generic(
    ctx: &mut Ctx,
    args: &[&[u8]],
    at: usize,
    dst: Option<&[u8]>,
    kind: Kind,
    rev: Option<bool>,
) -> CmdResult {
    let req = parse_request(args, at, dst.is_some(), kind, rev)?;
    let limits = zset_limits(ctx);
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let Some(dst) = dst else {
        let Some(z) = read_zset(&mut db, args[at], stats)? else {
            out.array(0);
            return Ok(());
        };
        let (lo, hi) = select(&z, &req);
        reply_range_header(out, hi - lo, req.withscores);
        z.for_range(lo, hi, req.reverse, &mut |m, s| {
            reply_pair(out, m, s, req.withscores)
        });
        return Ok(());
    };
    // ZRANGESTORE: the destination's encoding follows the known length (rank ranges) as
    // in Redis, then elements are added one by one.
    let stored = match read_zset(&mut db, args[at], stats)? {
        None => None,
        Some(z) => {
            let (lo, hi) = select(&z, &req);
            let hint = matches!(req.ends, Ends::Rank(..)).then_some(hi - lo);
            let mut result = ZSetValue::for_length_hint(hint, limits);
            z.for_range(lo, hi, req.reverse, &mut |m, s| {
                result.insert(m, s, limits);
            });
            Some(result)
        }
    };
    let n = store_result(&mut db, dst, stored, "zrangestore")?;
    out.int(n as i64);
    Ok(())
}

/// ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
pub fn zrange(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    range_generic(ctx, args, 1, None, Kind::Auto, None)
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
pub fn zrangestore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    range_generic(ctx, args, 2, Some(args[1]), Kind::Auto, None)
}

/// ZREVRANGE key start stop [WITHSCORES]
pub fn zrevrange(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    range_generic(ctx, args, 1, None, Kind::Rank, Some(true))
}

/// ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
pub fn zrangebyscore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    range_generic(ctx, args, 1, None, Kind::Score, Some(false))
}

/// ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
pub fn zrevrangebyscore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    range_generic(ctx, args, 1, None, Kind::Score, Some(true))
}

/// ZRANGEBYLEX key min max [LIMIT offset count]
pub fn zrangebylex(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    range_generic(ctx, args, 1, None, Kind::Lex, Some(false))
}

/// ZREVRANGEBYLEX key max min [LIMIT offset count]
pub fn zrevrangebylex(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    range_generic(ctx, args, 1, None, Kind::Lex, Some(true))
}

/// ZCOUNT key min max
pub fn zcount(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let range = parse_score_range(args[2], args[3])?;
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let n = read_zset(&mut db, args[1], stats)?.map_or(0, |z| {
        let (lo, hi) = z.score_range(&range);
        hi - lo
    });
    out.int(n as i64);
    Ok(())
}

/// ZLEXCOUNT key min max
pub fn zlexcount(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let range = parse_lex_range(args[2], args[3])?;
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let n = read_zset(&mut db, args[1], stats)?.map_or(0, |z| {
        let (lo, hi) = z.lex_range(&range, false);
        hi - lo
    });
    out.int(n as i64);
    Ok(())
}

/// ZREMRANGEBY*: the ends are parsed before the key is looked up.
fn remrange_generic(ctx: &mut Ctx, args: &[&[u8]], kind: Kind) -> CmdResult {
    let ends = match kind {
        Kind::Score => Ends::Score(parse_score_range(args[2], args[3])?),
        Kind::Lex => Ends::Lex(parse_lex_range(args[2], args[3])?),
        Kind::Rank | Kind::Auto => Ends::Rank(arg_i64(args[2])?, arg_i64(args[3])?),
    };
    let key = args[1];
    let mut db = ctx.db();
    let (removed, empty) = match write_zset(&mut db, key)? {
        None => (0, false),
        Some(mut z) => {
            let (lo, hi) = match &ends {
                Ends::Rank(start, end) => rank_span(*start, *end, z.len()).unwrap_or((0, 0)),
                Ends::Score(r) => z.score_range(r),
                Ends::Lex(r) => z.lex_range(r, false),
            };
            let n = z.remove_range(lo, hi);
            (n, z.is_empty())
        }
    };
    let event = match kind {
        Kind::Score => "zremrangebyscore",
        Kind::Lex => "zremrangebylex",
        Kind::Rank | Kind::Auto => "zremrangebyrank",
    };
    after_removal(&mut db, key, event, removed, empty)?;
    ctx.out.int(removed as i64);
    Ok(())
}

/// ZREMRANGEBYRANK key start stop
pub fn zremrangebyrank(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    remrange_generic(ctx, args, Kind::Rank)
}

/// ZREMRANGEBYSCORE key min max
pub fn zremrangebyscore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    remrange_generic(ctx, args, Kind::Score)
}

/// ZREMRANGEBYLEX key min max
pub fn zremrangebylex(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    remrange_generic(ctx, args, Kind::Lex)
}

#[cfg(test)]
mod tests {
    use super::rank_span;

    #[test]
    fn rank_spans_like_redis() {
        assert_eq!(rank_span(0, -1, 5), Some((0, 5)));
        assert_eq!(rank_span(-2, -1, 5), Some((3, 5)));
        assert_eq!(rank_span(-100, 1, 5), Some((0, 2)));
        assert_eq!(rank_span(2, 100, 5), Some((2, 5)));
        assert_eq!(rank_span(3, 2, 5), None);
        assert_eq!(rank_span(5, 10, 5), None);
        assert_eq!(rank_span(0, -1, 0), None);
        assert_eq!(rank_span(i64::MIN, i64::MAX, 3), Some((0, 3)));
    }
}
