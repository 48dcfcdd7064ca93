//! ZRANDMEMBER (after Redis's `zrandmemberWithCountCommand`) and ZSCAN.

use rand::Rng;

use super::{read_zset, reply_pair, reply_range_header};
use crate::commands::shared::scan_args::{parse_cursor, parse_options};
use crate::commands::{arg_i64, CmdError, CmdResult, Ctx};
use crate::storage::glob::glob_match;
use crate::storage::zset::ZSetValue;
use crate::util::eq_ic;
use resp::ReplyWriter;

/// Most elements ZRANDMEMBER with a negative count may reply with. Redis 7.0 has no limit
/// (and exhausts memory building the reply); larger counts get `ERR value is out of range`
/// here instead.
const MAX_RANDOM_REPLY: u64 = 1 << 24;

/// ZRANDMEMBER key [count [WITHSCORES]]
pub fn zrandmember(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let Some(&count_arg) = args.get(2) else {
        let stats = &ctx.server.stats;
        let (mut db, out) = ctx.db_out();
        let z = read_zset(&mut db, args[1], stats)?;
        match z.as_deref().and_then(|z| z.random(&mut rand::thread_rng())) {
            Some((m, _)) => out.bulk(m),
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
    let withscores = match args.len() {
        3 => false,
        4 if eq_ic(args[3], "withscores") => true,
        _ => return Err(CmdError::Syntax),
    };
    if withscores && !(i64::MIN / 2..=i64::MAX / 2).contains(&l) {
        return Err(CmdError::Static("ERR value is out of range"));
    }
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let Some(z) = read_zset(&mut db, args[1], stats)? else {
        out.array(0);
        return Ok(());
    };
    random_with_count(&z, l, withscores, out)
}

/// The cases of Redis's `zrandmemberWithCountCommand`.
fn random_with_count(z: &ZSetValue, l: i64, withscores: bool, out: &mut ReplyWriter) -> CmdResult {
    let size = z.len();
    let (count, unique) = (l.unsigned_abs(), l >= 0);
    if count == 0 {
        out.array(0);
        return Ok(());
    }
    let mut rng = rand::thread_rng();
    // Case 1: repetitions allowed (negative count), or a single element.
    if !unique || count == 1 {
        if count > MAX_RANDOM_REPLY {
            return Err(CmdError::Static("ERR value is out of range"));
        }
        let count = count as usize;
        reply_range_header(out, count, withscores);
        let entries = z.is_listpack().then(|| z.entries());
        for _ in 0..count {
            let pick = match &entries {
                Some(e) => e.get(rng.gen_range(0..e.len().max(1))).copied(),
                None => z.random(&mut rng),
            };
            if let Some((m, s)) = pick {
                reply_pair(out, m, s, withscores);
            }
        }
        return Ok(());
    }
    // Case 2: at least as many as the set holds: all of it, highest score first (Redis
    // iterates sorted sets from the tail).
    if count >= size as u64 {
        reply_range_header(out, size, withscores);
        z.for_range(0, size, true, &mut |m, s| reply_pair(out, m, s, withscores));
        return Ok(());
    }
    // Cases 3 and 4: `count` distinct members (a listpack keeps its order, as Redis's
    // lpRandomPairsUnique does).
    let count = count as usize;
    reply_range_header(out, count, withscores);
    if z.is_listpack() || count * 3 > size {
        let mut picked = rand::seq::index::sample(&mut rng, size, count).into_vec();
        picked.sort_unstable();
        let entries = z.entries();
        for i in picked {
            if let Some(&(m, s)) = entries.get(i) {
                reply_pair(out, m, s, withscores);
            }
        }
        return Ok(());
    }
    let mut seen = hashbrown::HashSet::with_capacity(count);
    while seen.len() < count {
        let Some((m, s)) = z.random(&mut rng) else {
            break;
        };
        if seen.insert(m) {
            reply_pair(out, m, s, withscores);
        }
    }
    Ok(())
}

/// A score as ZSCAN shows it: a listpack stores integral scores up to 2^62 as integers
/// (Redis's `double2ll`) and returns them as such; anything else as `%.17g`.
fn scan_score(score: f64, listpack: bool) -> String {
    const LIMIT: f64 = 4_611_686_018_427_387_904.0;
    if listpack && score.fract() == 0.0 && (-LIMIT..=LIMIT).contains(&score) {
        return (score as i64).to_string();
    }
    resp::format_double(score)
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]
pub fn zscan(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let cursor = parse_cursor(args[2])?;
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let Some(z) = read_zset(&mut db, args[1], stats)? else {
        out.array(2);
        out.bulk(b"0");
        out.array(0);
        return Ok(());
    };
    // Options are parsed after the lookup, as in Redis.
    let opts = parse_options(args, 3, false)?;
    let mut found: Vec<(&[u8], f64)> = Vec::new();
    let next = z.scan(cursor, opts.count, &mut |m, s| found.push((m, s)));
    if let Some(p) = opts.pattern {
        found.retain(|(m, _)| glob_match(p, m, false));
    }
    let listpack = z.is_listpack();
    out.array(2);
    // Redis replies with the unsigned cursor through a signed conversion.
    out.bulk_int(next as i64);
    out.array(found.len() * 2);
    for (m, s) in found {
        out.bulk(m);
        out.bulk(scan_score(s, listpack).as_bytes());
    }
    Ok(())
}
