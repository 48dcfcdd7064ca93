//! ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD, after Redis's
//! `zunionInterDiffGenericCommand`. Sets are accepted as inputs (every member scores 1).
//!
//! The inputs are copied out of the keyspace first (the lookups borrow the database one key
//! at a time), in key order, checking types as Redis does before parsing the options.

use crate::storage::ValueMut;
use hashbrown::hash_map::Entry;
use hashbrown::HashMap;

use super::parse::parse_score;
use super::{reply_pair, reply_range_header, store_result, zset_limits};
use crate::commands::shared::pops::keys_after_numkeys;
use crate::commands::{arg_i64, CmdError, CmdResult, Ctx};
use crate::storage::zset::{cmp_entries, ZSetValue};
use crate::util::eq_ic;

/// Key positions of a command with `numkeys` at argument 1 (ZUNION, ZINTER, ZDIFF,
/// ZINTERCARD, ZMPOP): the keys that follow it, none when `numkeys` is invalid.
pub(crate) fn keys_numkeys_at_1(args: &[&[u8]]) -> Vec<usize> {
    keys_after_numkeys(args, 1)
}

/// Key positions of the STORE forms: the destination, then `numkeys` keys after argument 2.
pub fn keys_store(args: &[&[u8]]) -> Vec<usize> {
    let mut keys = vec![1];
    keys.extend(keys_after_numkeys(args, 2));
    keys
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// Redis's `zunionInterAggregate` (a sum that is NaN, as inf + -inf, becomes 0).
fn aggregate(target: &mut f64, value: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += value;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if value < *target {
                *target = value;
            }
        }
        Aggregate::Max => {
            if value > *target {
                *target = value;
            }
        }
    }
}

/// One input, copied: its key (to spot the same key given twice), its elements and weight.
struct Source<'a> {
    key: &'a [u8],
    elements: Vec<(Vec<u8>, f64)>,
    weight: f64,
}

impl Source<'_> {
    fn lookup_table(&self) -> HashMap<&[u8], f64> {
        self.elements
            .iter()
            .map(|(m, s)| (m.as_slice(), *s))
            .collect()
    }
}

/// Copy the inputs in key order; a key that is neither a zset nor a set is an error.
fn load_sources<'a>(ctx: &mut Ctx, keys: &[&'a [u8]]) -> Result<Vec<Source<'a>>, CmdError> {
    let stats = &ctx.server.stats;
    let mut db = ctx.db();
    let mut sources = Vec::with_capacity(keys.len());
    for &key in keys {
        let mut elements = Vec::new();
        match db.value(key)? {
            None => stats.hit(false),
            Some(ValueMut::ZSet(z)) => {
                stats.hit(true);
                elements.reserve(z.len());
                z.for_each(|m, s| elements.push((m.to_vec(), s)));
            }
            Some(ValueMut::Set(set)) => {
                stats.hit(true);
                elements.reserve(set.len());
                set.for_each(|m| elements.push((m.to_vec(), 1.0)));
            }
            Some(_) => {
                stats.hit(true);
                return Err(CmdError::WrongType);
            }
        }
        sources.push(Source {
            key,
            elements,
            weight: 1.0,
        });
    }
    Ok(sources)
}

/// Parsed trailing options.
struct Options {
    aggregate: Aggregate,
    withscores: bool,
    /// ZINTERCARD's LIMIT (0: none).
    limit: usize,
}

fn parse_options(
    args: &[&[u8]],
    mut j: usize,
    op: Op,
    store: bool,
    card_only: bool,
    sources: &mut [Source],
) -> Result<Options, CmdError> {
    let mut o = Options {
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let weighted = op != Op::Diff && !card_only;
    while j < args.len() {
        let remaining = args.len() - j;
        let opt = args[j];
        if weighted && remaining > sources.len() && eq_ic(opt, "weights") {
            j += 1;
            for src in sources.iter_mut() {
                src.weight = parse_score(args[j])
                    .ok_or(CmdError::Static("ERR weight value is not a float"))?;
                j += 1;
            }
        } else if weighted && remaining >= 2 && eq_ic(opt, "aggregate") {
            let how = args[j + 1];
            o.aggregate = match () {
                _ if eq_ic(how, "sum") => Aggregate::Sum,
                _ if eq_ic(how, "min") => Aggregate::Min,
                _ if eq_ic(how, "max") => Aggregate::Max,
                _ => return Err(CmdError::Syntax),
            };
            j += 2;
        } else if !store && !card_only && eq_ic(opt, "withscores") {
            o.withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && eq_ic(opt, "limit") {
            const NEGATIVE: CmdError = CmdError::Static("ERR LIMIT can't be negative");
            let n = arg_i64(args[j + 1]).map_err(|_| NEGATIVE)?;
            o.limit = usize::try_from(n).map_err(|_| NEGATIVE)?;
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(o)
}

/// The weighted score of an element (`weight * score`, NaN as 0 * inf becomes 0).
fn weighted(score: f64, weight: f64) -> f64 {
    let s = score * weight;
    if s.is_nan() {
        0.0
    } else {
        s
    }
}

fn union(sources: &[Source], how: Aggregate) -> Vec<(Vec<u8>, f64)> {
    let mut acc: HashMap<&[u8], f64> = HashMap::new();
    for src in sources {
        for (m, s) in &src.elements {
            let score = weighted(*s, src.weight);
            match acc.entry(m.as_slice()) {
                Entry::Vacant(v) => {
                    v.insert(score);
                }
                Entry::Occupied(mut o) => aggregate(o.get_mut(), score, how),
            }
        }
    }
    acc.into_iter().map(|(m, s)| (m.to_vec(), s)).collect()
}

/// The intersection (sources sorted smallest first); with `card_only`, only counted, up to
/// `limit` when non-zero.
fn inter(
    sources: &[Source],
    how: Aggregate,
    card_only: bool,
    limit: usize,
) -> (Vec<(Vec<u8>, f64)>, usize) {
    let Some((first, rest)) = sources.split_first() else {
        return (Vec::new(), 0);
    };
    let tables: Vec<Option<HashMap<&[u8], f64>>> = rest
        .iter()
        .map(|s| (s.key != first.key).then(|| s.lookup_table()))
        .collect();
    let mut out = Vec::new();
    let mut count = 0;
    'elements: for (m, s0) in &first.elements {
        let mut score = weighted(*s0, first.weight);
        for (src, table) in rest.iter().zip(&tables) {
            // The same key again: its own score (Redis compares the objects).
            let value = match table {
                None => *s0,
                Some(t) => match t.get(m.as_slice()) {
                    Some(v) => *v,
                    None => continue 'elements,
                },
            };
            aggregate(&mut score, value * src.weight, how);
        }
        count += 1;
        if card_only {
            if limit != 0 && count >= limit {
                break;
            }
        } else {
            out.push((m.clone(), score));
        }
    }
    (out, count)
}

fn diff(sources: &[Source]) -> Vec<(Vec<u8>, f64)> {
    let Some((first, rest)) = sources.split_first() else {
        return Vec::new();
    };
    // The first key given again removes everything.
    if rest.iter().any(|s| s.key == first.key) {
        return Vec::new();
    }
    let tables: Vec<HashMap<&[u8], f64>> = rest.iter().map(Source::lookup_table).collect();
    first
        .elements
        .iter()
        .filter(|(m, _)| !tables.iter().any(|t| t.contains_key(m.as_slice())))
        .cloned()
        .collect()
}

/// The shared implementation: `numkeys` at `args[at]`, results stored in `dst` when given.
fn setop_generic(
    ctx: &mut Ctx,
    args: &[&[u8]],
    dst: Option<&[u8]>,
    at: usize,
    op: Op,
    card_only: bool,
) -> CmdResult {
    let setnum = arg_i64(args[at])?;
    if setnum < 1 {
        return Err(CmdError::msg(format!(
            "ERR at least 1 input key is needed for '{}' command",
            ctx.name
        )));
    }
    let first = at + 1;
    if setnum > (args.len() - first) as i64 {
        return Err(CmdError::Syntax);
    }
    let setnum = setnum as usize;
    let mut sources = load_sources(ctx, &args[first..first + setnum])?;
    let opts = parse_options(
        args,
        first + setnum,
        op,
        dst.is_some(),
        card_only,
        &mut sources,
    )?;
    if op != Op::Diff {
        // Smallest first (a stable sort, as glibc's merge-sorting qsort).
        sources.sort_by_key(|s| s.elements.len());
    }
    let (mut result, count) = match op {
        Op::Union => (union(&sources, opts.aggregate), 0),
        Op::Inter => inter(&sources, opts.aggregate, card_only, opts.limit),
        Op::Diff => (diff(&sources), 0),
    };
    drop(sources);
    if card_only {
        ctx.out.int(count as i64);
        return Ok(());
    }
    result.sort_by(|a, b| cmp_entries(a.1, &a.0, b.1, &b.0));
    if let Some(dst) = dst {
        let limits = zset_limits(ctx);
        let event = match op {
            Op::Union => "zunionstore",
            Op::Inter => "zinterstore",
            Op::Diff => "zdiffstore",
        };
        let stored = ZSetValue::from_sorted(result, limits);
        let n = store_result(&mut ctx.db(), dst, Some(stored), event)?;
        ctx.out.int(n as i64);
        return Ok(());
    }
    reply_range_header(ctx.out, result.len(), opts.withscores);
    for (m, s) in &result {
        reply_pair(ctx.out, m, *s, opts.withscores);
    }
    Ok(())
}

/// ZUNION numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
pub fn zunion(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, args, None, 1, Op::Union, false)
}

/// ZINTER numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
pub fn zinter(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, args, None, 1, Op::Inter, false)
}

/// ZDIFF numkeys key [key ...] [WITHSCORES]
pub fn zdiff(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, args, None, 1, Op::Diff, false)
}

/// ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...]
pub fn zunionstore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, args, Some(args[1]), 2, Op::Union, false)
}

/// ZINTERSTORE destination numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...]
pub fn zinterstore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, args, Some(args[1]), 2, Op::Inter, false)
}

/// ZDIFFSTORE destination numkeys key [key ...]
pub fn zdiffstore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, args, Some(args[1]), 2, Op::Diff, false)
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn zintercard(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, args, None, 1, Op::Inter, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_positions() {
        let a: Vec<&[u8]> = vec![b"zunion", b"2", b"a", b"b", b"WEIGHTS", b"1", b"2"];
        assert_eq!(keys_numkeys_at_1(&a), vec![2, 3]);
        let a: Vec<&[u8]> = vec![b"zunionstore", b"d", b"3", b"a", b"b"];
        assert_eq!(keys_store(&a), vec![1, 3, 4]);
        let a: Vec<&[u8]> = vec![b"zunion", b"x", b"a"];
        assert!(keys_numkeys_at_1(&a).is_empty());
        let a: Vec<&[u8]> = vec![b"zunion", b"-1", b"a"];
        assert!(keys_numkeys_at_1(&a).is_empty());
        let a: Vec<&[u8]> = vec![b"zunion", b"9223372036854775807", b"a"];
        assert_eq!(keys_numkeys_at_1(&a), vec![2]);
    }

    #[test]
    fn sums_that_are_nan_become_zero() {
        let mut t = f64::INFINITY;
        aggregate(&mut t, f64::NEG_INFINITY, Aggregate::Sum);
        assert_eq!(t, 0.0);
        let mut t = 1.0;
        aggregate(&mut t, f64::NAN, Aggregate::Min);
        assert_eq!(t, 1.0);
        assert_eq!(weighted(f64::INFINITY, 0.0), 0.0);
    }
}
