//! ZPOPMIN, ZPOPMAX and ZMPOP, after Redis's `genericZpopCommand` and
//! `zmpopGenericCommand`. The blocking forms (BZPOPMIN, BZPOPMAX, BZMPOP) are written with
//! the other blocking commands and reuse [`parse_zmpop`] and [`generic_zpop`].

use super::write_zset;
use crate::commands::{arg_i64, CmdError, CmdResult, Ctx};
use crate::util::eq_ic;

/// The arguments of ZMPOP / BZMPOP after `numkeys`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ZmpopArgs {
    /// Index in the argument vector of the first key.
    pub first_key: usize,
    /// Number of keys (at least 1).
    pub numkeys: usize,
    /// MAX (true) or MIN.
    pub max: bool,
    /// COUNT (1 when absent).
    pub count: u64,
}

impl ZmpopArgs {
    /// The keys, in order.
    pub fn keys<'a>(&self, args: &[&'a [u8]]) -> Vec<&'a [u8]> {
        args.iter()
            .skip(self.first_key)
            .take(self.numkeys)
            .copied()
            .collect()
    }
}

/// Parse `numkeys key [key ...] MIN|MAX [COUNT count]` with `numkeys` at `args[numkeys_at]`
/// (1 for ZMPOP; 2 for BZMPOP, whose timeout comes first and is the caller's to parse),
/// with Redis's checks and errors in Redis's order.
pub(crate) fn parse_zmpop(args: &[&[u8]], numkeys_at: usize) -> Result<ZmpopArgs, CmdError> {
    let numkeys = args
        .get(numkeys_at)
        .and_then(|a| arg_i64(a).ok())
        .filter(|&n| n >= 1)
        .ok_or(CmdError::Static("ERR numkeys should be greater than 0"))?;
    let first_key = numkeys_at + 1;
    let where_at = usize::try_from(numkeys)
        .ok()
        .and_then(|n| first_key.checked_add(n))
        .filter(|&w| w < args.len())
        .ok_or(CmdError::Syntax)?;
    let max = match args[where_at] {
        w if eq_ic(w, "min") => false,
        w if eq_ic(w, "max") => true,
        _ => return Err(CmdError::Syntax),
    };
    let mut count = None;
    let mut j = where_at + 1;
    while j < args.len() {
        let more = j + 1 < args.len();
        if count.is_none() && more && eq_ic(args[j], "count") {
            let n = arg_i64(args[j + 1])
                .ok()
                .filter(|&n| n >= 1)
                .ok_or(CmdError::Static("ERR count should be greater than 0"))?;
            count = Some(n as u64);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(ZmpopArgs {
        first_key,
        numkeys: where_at - first_key,
        max,
        count: count.unwrap_or(1),
    })
}

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
    let Some(z) = write_zset(&mut db, key)? else {
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
    super::after_removal(&mut db, key, n, empty)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<&[u8]> {
        s.split(' ').map(str::as_bytes).collect()
    }

    #[test]
    fn zmpop_arguments() {
        let p = parse_zmpop(&v("zmpop 2 a b MIN"), 1).unwrap();
        assert_eq!(
            p,
            ZmpopArgs {
                first_key: 2,
                numkeys: 2,
                max: false,
                count: 1
            }
        );
        assert_eq!(p.keys(&v("zmpop 2 a b MIN")), v("a b"));
        let p = parse_zmpop(&v("bzmpop 0.5 1 a max COUNT 7"), 2).unwrap();
        assert_eq!((p.first_key, p.numkeys, p.max, p.count), (3, 1, true, 7));
        let err = |s: &str| parse_zmpop(&v(s), 1).unwrap_err();
        let numkeys = CmdError::Static("ERR numkeys should be greater than 0");
        assert_eq!(err("zmpop 0 a min"), numkeys);
        assert_eq!(err("zmpop x a min"), numkeys);
        assert_eq!(err("zmpop 2 a min"), CmdError::Syntax);
        assert_eq!(err("zmpop 9223372036854775807 a min"), CmdError::Syntax);
        assert_eq!(err("zmpop 1 a mid"), CmdError::Syntax);
        assert_eq!(err("zmpop 1 a min count 1 count 2"), CmdError::Syntax);
        assert_eq!(err("zmpop 1 a min count"), CmdError::Syntax);
        assert_eq!(
            err("zmpop 1 a min count 0"),
            CmdError::Static("ERR count should be greater than 0")
        );
    }
}
