//! The expire family: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with NX|XX|GT|LT), TTL, PTTL,
//! EXPIRETIME, PEXPIRETIME, PERSIST. Follows Redis 7.0's `expire.c`.
//!
//! Deadlines are absolute Unix milliseconds in `Entry::expire_at` (0 = none); every check
//! of one command uses the command's clock `ctx.now`.

use crate::commands::{acl, arg_i64, class, flags, CmdError, CmdResult, Command, Ctx};

/// The expire family's table.
pub static COMMANDS: &[Command] = &[
    Command::new("expire", -3, flags::WRITE | flags::FAST, expire)
        .keys(1, 1, 1)
        .acl(acl::KEYSPACE),
    Command::new("pexpire", -3, flags::WRITE | flags::FAST, pexpire)
        .keys(1, 1, 1)
        .acl(acl::KEYSPACE),
    Command::new("expireat", -3, flags::WRITE | flags::FAST, expireat)
        .keys(1, 1, 1)
        .acl(acl::KEYSPACE),
    Command::new("pexpireat", -3, flags::WRITE | flags::FAST, pexpireat)
        .keys(1, 1, 1)
        .acl(acl::KEYSPACE),
    Command::new("ttl", 2, flags::READONLY | flags::FAST, ttl)
        .keys(1, 1, 1)
        .acl(acl::KEYSPACE),
    Command::new("pttl", 2, flags::READONLY | flags::FAST, pttl)
        .keys(1, 1, 1)
        .acl(acl::KEYSPACE),
    Command::new("expiretime", 2, flags::READONLY | flags::FAST, expiretime)
        .keys(1, 1, 1)
        .acl(acl::KEYSPACE),
    Command::new("pexpiretime", 2, flags::READONLY | flags::FAST, pexpiretime)
        .keys(1, 1, 1)
        .acl(acl::KEYSPACE),
    Command::new("persist", 2, flags::WRITE | flags::FAST, persist)
        .keys(1, 1, 1)
        .acl(acl::KEYSPACE),
];

/// The NX / XX / GT / LT conditions of the EXPIRE commands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Conditions {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl Conditions {
    /// Parse the options after the time (Redis's `parseExtendedExpireArgumentsOrReply`).
    fn parse(opts: &[&[u8]]) -> Result<Conditions, CmdError> {
        let mut c = Conditions::default();
        for opt in opts {
            match opt.to_ascii_lowercase().as_slice() {
                b"nx" => c.nx = true,
                b"xx" => c.xx = true,
                b"gt" => c.gt = true,
                b"lt" => c.lt = true,
                _ => {
                    // `%s` of a C string: the text stops at a NUL byte.
                    let end = opt.iter().position(|&b| b == 0).unwrap_or(opt.len());
                    return Err(CmdError::msg(format!(
                        "ERR Unsupported option {}",
                        String::from_utf8_lossy(&opt[..end])
                    )));
                }
            }
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(CmdError::Static(
                "ERR NX and XX, GT or LT options at the same time are not compatible",
            ));
        }
        if c.gt && c.lt {
            return Err(CmdError::Static(
                "ERR GT and LT options at the same time are not compatible",
            ));
        }
        Ok(c)
    }

    /// Whether a key whose deadline is `current` (None = no TTL, i.e. infinite) may get
    /// the deadline `when`.
    fn allow(&self, current: Option<i64>, when: i64) -> bool {
        if self.nx && current.is_some() {
            return false;
        }
        if self.xx && current.is_none() {
            return false;
        }
        if self.gt && current.is_none_or(|c| when <= c) {
            return false;
        }
        if self.lt && current.is_some_and(|c| when >= c) {
            return false;
        }
        true
    }
}

/// The absolute deadline in ms for `arg` in `unit_ms` units added to `base` (Redis's
/// overflow checks: `ERR invalid expire time in '<cmd>' command`).
fn deadline(arg: &[u8], seconds: bool, base: i64) -> Result<i64, CmdError> {
    let mut when = arg_i64(arg)?;
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return Err(CmdError::InvalidExpire);
        }
        when *= 1000;
    }
    if when > i64::MAX - base {
        return Err(CmdError::InvalidExpire);
    }
    Ok(when + base)
}

/// EXPIRE and friends: `relative` adds the command's clock, `seconds` scales by 1000.
fn expire_generic(ctx: &mut Ctx, args: &[&[u8]], relative: bool, seconds: bool) -> CmdResult {
    let key = args[1];
    let cond = Conditions::parse(&args[3..])?;
    let now = ctx.now as i64;
    let when = deadline(args[2], seconds, if relative { now } else { 0 })?;
    let mut db = ctx.db();
    let current = match db.get(key)? {
        None => {
            ctx.out.int(0);
            return Ok(());
        }
        Some(e) => (e.expire_at() != 0).then_some(e.expire_at() as i64),
    };
    if !cond.allow(current, when) {
        ctx.out.int(0);
        return Ok(());
    }
    if when <= now {
        // A deadline in the past deletes the key at once (Redis replies 1).
        db.delete(key)?;
        db.log_as(&[b"DEL", key]);
        db.notify(class::GENERIC, "del", key);
    } else {
        db.set_expire(key, when as u64)?;
        // Logged as an absolute deadline in ms, whatever form the command had.
        let at = crate::storage::value::itoa_stack(when);
        db.log_as(&[b"PEXPIREAT", key, at.clone().as_slice()]);
        db.notify(class::GENERIC, "expire", key);
    }
    ctx.out.int(1);
    Ok(())
}

fn expire(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, args, true, true)
}

fn pexpire(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, args, true, false)
}

fn expireat(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, args, false, true)
}

fn pexpireat(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, args, false, false)
}

/// TTL and friends: -2 for a missing key, -1 without a deadline, else the remaining time
/// (`absolute`: the deadline) in ms or rounded seconds.
fn ttl_generic(ctx: &mut Ctx, args: &[&[u8]], ms: bool, absolute: bool) -> CmdResult {
    let now = ctx.now as i64;
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let Some(e) = db.get(args[1])? else {
        stats.hit(false);
        out.int(-2);
        return Ok(());
    };
    stats.hit(true);
    if e.expire_at() == 0 {
        out.int(-1);
        return Ok(());
    }
    let at = e.expire_at() as i64;
    let ttl = if absolute { at } else { (at - now).max(0) };
    // Redis computes (ttl+500)/1000 without overflowing for the largest deadlines.
    out.int(if ms {
        ttl
    } else {
        ((ttl as i128 + 500) / 1000) as i64
    });
    Ok(())
}

fn ttl(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, args, false, false)
}

fn pttl(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, args, true, false)
}

fn expiretime(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, args, false, true)
}

fn pexpiretime(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, args, true, true)
}

fn persist(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let key = args[1];
    let mut db = ctx.db();
    let had_ttl = db.get(key)?.is_some_and(|e| e.expire_at() != 0);
    if had_ttl {
        db.set_expire(key, 0)?;
        db.notify(class::GENERIC, "persist", key);
    }
    ctx.out.int(had_ttl as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conds(opts: &[&str]) -> Result<Conditions, CmdError> {
        let v: Vec<&[u8]> = opts.iter().map(|s| s.as_bytes()).collect();
        Conditions::parse(&v)
    }

    #[test]
    fn option_rules() {
        assert!(conds(&["nx", "xx"]).is_err());
        assert!(conds(&["NX", "gt"]).is_err());
        assert!(conds(&["gt", "lt"]).is_err());
        assert!(conds(&["xx", "gt"]).is_ok());
        assert!(conds(&["gt", "gt"]).is_ok());
        assert_eq!(
            conds(&["foo"]).map_err(|e| e.message("expire").into_owned()),
            Err("ERR Unsupported option foo".to_string())
        );
    }

    #[test]
    fn gt_lt_treat_no_ttl_as_infinite() {
        let gt = conds(&["gt"]).unwrap_or_default();
        assert!(!gt.allow(None, 100));
        assert!(gt.allow(Some(50), 100));
        assert!(!gt.allow(Some(100), 100));
        let lt = conds(&["lt"]).unwrap_or_default();
        assert!(lt.allow(None, 100));
        assert!(lt.allow(Some(150), 100));
        assert!(!lt.allow(Some(100), 100));
    }

    #[test]
    fn deadline_overflow() {
        assert_eq!(deadline(b"10", true, 5), Ok(10_005));
        assert_eq!(
            deadline(b"9223372036854775", true, 0),
            Ok(9_223_372_036_854_775_000)
        );
        assert!(deadline(b"9223372036854775", true, 1000).is_err());
        assert!(deadline(b"9223372036854776", true, 0).is_err());
        assert!(deadline(b"-9223372036854776", true, 0).is_err());
        assert!(deadline(b"9223372036854775807", false, 1).is_err());
        assert!(deadline(b"x", false, 1).is_err());
    }
}
