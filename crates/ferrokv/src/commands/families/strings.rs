//! The string family: SET/GET and their variants, multi-key forms, ranges, counters, LCS.
//! Bit commands live in `bitmaps.rs`. Semantics, reply shapes and error texts follow
//! Redis 7.0's `t_string.c`.

use crate::commands::shared::longdouble::LongDouble;
use crate::commands::{acl, arg_i64, class, flags, CmdError, CmdResult, Command, Ctx};
use crate::storage::table::IncrError;
use crate::storage::value::StackNum;
use crate::storage::{StrValue, Value};
use crate::storage::{ValueMut, ValueRef};
use crate::util::eq_ic;

/// The string family's table.
pub static COMMANDS: &[Command] = &[
    Command::new("get", 2, flags::READONLY | flags::FAST, get)
        .keys(1, 1, 1)
        .acl(acl::STRING),
    Command::new("set", -3, flags::WRITE | flags::DENYOOM, set)
        .keys(1, 1, 1)
        .acl(acl::STRING),
    Command::new("getdel", 2, flags::WRITE | flags::FAST, getdel)
        .keys(1, 1, 1)
        .acl(acl::STRING),
    Command::new("getex", -2, flags::WRITE | flags::FAST, getex)
        .keys(1, 1, 1)
        .acl(acl::STRING),
    Command::new(
        "getset",
        3,
        flags::WRITE | flags::DENYOOM | flags::FAST,
        getset,
    )
    .keys(1, 1, 1)
    .acl(acl::STRING),
    Command::new("mget", -2, flags::READONLY | flags::FAST, mget)
        .keys(1, -1, 1)
        .acl(acl::STRING),
    Command::new("mset", -3, flags::WRITE | flags::DENYOOM, mset)
        .keys(1, -1, 2)
        .acl(acl::STRING),
    Command::new("msetnx", -3, flags::WRITE | flags::DENYOOM, msetnx)
        .keys(1, -1, 2)
        .acl(acl::STRING),
    Command::new(
        "setnx",
        3,
        flags::WRITE | flags::DENYOOM | flags::FAST,
        setnx,
    )
    .keys(1, 1, 1)
    .acl(acl::STRING),
    Command::new("setex", 4, flags::WRITE | flags::DENYOOM, setex)
        .keys(1, 1, 1)
        .acl(acl::STRING),
    Command::new("psetex", 4, flags::WRITE | flags::DENYOOM, psetex)
        .keys(1, 1, 1)
        .acl(acl::STRING),
    Command::new(
        "append",
        3,
        flags::WRITE | flags::DENYOOM | flags::FAST,
        append,
    )
    .keys(1, 1, 1)
    .acl(acl::STRING),
    Command::new("strlen", 2, flags::READONLY | flags::FAST, strlen)
        .keys(1, 1, 1)
        .acl(acl::STRING),
    Command::new("getrange", 4, flags::READONLY, getrange)
        .keys(1, 1, 1)
        .acl(acl::STRING),
    Command::new("substr", 4, flags::READONLY, getrange)
        .keys(1, 1, 1)
        .acl(acl::STRING),
    Command::new("setrange", 4, flags::WRITE | flags::DENYOOM, setrange)
        .keys(1, 1, 1)
        .acl(acl::STRING),
    Command::new("incr", 2, flags::WRITE | flags::DENYOOM | flags::FAST, incr)
        .keys(1, 1, 1)
        .acl(acl::STRING),
    Command::new("decr", 2, flags::WRITE | flags::DENYOOM | flags::FAST, decr)
        .keys(1, 1, 1)
        .acl(acl::STRING),
    Command::new(
        "incrby",
        3,
        flags::WRITE | flags::DENYOOM | flags::FAST,
        incrby,
    )
    .keys(1, 1, 1)
    .acl(acl::STRING),
    Command::new(
        "decrby",
        3,
        flags::WRITE | flags::DENYOOM | flags::FAST,
        decrby,
    )
    .keys(1, 1, 1)
    .acl(acl::STRING),
    Command::new(
        "incrbyfloat",
        3,
        flags::WRITE | flags::DENYOOM | flags::FAST,
        incrbyfloat,
    )
    .keys(1, 1, 1)
    .acl(acl::STRING),
    Command::new("lcs", -3, flags::READONLY, lcs)
        .keys(1, 2, 1)
        .acl(acl::STRING),
];

/// `ERR string exceeds maximum allowed size (proto-max-bulk-len)` unless `size` fits
/// (Redis's `checkStringLength`).
pub fn check_string_length(ctx: &Ctx, size: u64) -> CmdResult {
    if size > ctx.server.config.proto_max_bulk_len() {
        return Err(CmdError::Static(
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        ));
    }
    Ok(())
}

/// Reply with the string under `key` (or null), as Redis's `getGenericCommand`: counts a
/// keyspace hit or miss, fails with WRONGTYPE on other types.
fn reply_current(ctx: &mut Ctx, key: &[u8]) -> CmdResult {
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    match db.read(key)? {
        None => {
            stats.hit(false);
            out.null();
        }
        Some(ValueRef::Str(s)) => {
            stats.hit(true);
            s.with_bytes(|b| out.bulk(b));
        }
        Some(_) => return Err(CmdError::WrongType),
    }
    Ok(())
}

fn get(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    reply_current(ctx, args[1])
}

/// Which expiry option was given (SET and GETEX).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExpireKind {
    /// EX seconds (relative).
    Ex,
    /// PX milliseconds (relative).
    Px,
    /// EXAT unix-seconds.
    ExAt,
    /// PXAT unix-milliseconds.
    PxAt,
}

/// Options of SET and GETEX (Redis's `parseExtendedStringArgumentsOrReply`).
#[derive(Default)]
struct ExtendedOpts<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    expire: Option<(ExpireKind, &'a [u8])>,
}

/// Parse SET (`is_set`) or GETEX options from `args[start..]`, with Redis's exact conflict
/// rules: any repeated-but-conflicting or unknown option is `ERR syntax error`.
fn parse_extended<'a>(
    args: &[&'a [u8]],
    start: usize,
    is_set: bool,
) -> Result<ExtendedOpts<'a>, CmdError> {
    let mut o = ExtendedOpts::default();
    let mut j = start;
    while let Some(&opt) = args.get(j) {
        let next = args.get(j + 1).copied();
        let has_expire =
            |o: &ExtendedOpts, except: ExpireKind| o.expire.is_some_and(|(k, _)| k != except);
        if eq_ic(opt, "nx") && !o.xx && is_set {
            o.nx = true;
        } else if eq_ic(opt, "xx") && !o.nx && is_set {
            o.xx = true;
        } else if eq_ic(opt, "get") && is_set {
            o.get = true;
        } else if eq_ic(opt, "keepttl") && !o.persist && o.expire.is_none() && is_set {
            o.keepttl = true;
        } else if eq_ic(opt, "persist") && !is_set && o.expire.is_none() && !o.keepttl {
            o.persist = true;
        } else if let (Some(kind), Some(value)) = (expire_option(opt), next) {
            if o.keepttl || o.persist || has_expire(&o, kind) {
                return Err(CmdError::Syntax);
            }
            o.expire = Some((kind, value));
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

fn expire_option(opt: &[u8]) -> Option<ExpireKind> {
    if eq_ic(opt, "ex") {
        Some(ExpireKind::Ex)
    } else if eq_ic(opt, "px") {
        Some(ExpireKind::Px)
    } else if eq_ic(opt, "exat") {
        Some(ExpireKind::ExAt)
    } else if eq_ic(opt, "pxat") {
        Some(ExpireKind::PxAt)
    } else {
        None
    }
}

/// The absolute deadline (Unix ms) of an expiry argument, as Redis's
/// `getExpireMillisecondsOrReply`: non-positive or overflowing values are
/// `ERR invalid expire time in '<cmd>' command`.
fn expire_deadline(arg: &[u8], kind: ExpireKind, now: u64) -> Result<u64, CmdError> {
    let mut ms = arg_i64(arg)?;
    let seconds = matches!(kind, ExpireKind::Ex | ExpireKind::ExAt);
    if ms <= 0 || (seconds && ms > i64::MAX / 1000) {
        return Err(CmdError::InvalidExpire);
    }
    if seconds {
        ms *= 1000;
    }
    if matches!(kind, ExpireKind::Ex | ExpireKind::Px) {
        // C's signed overflow wraps to a negative number here, which Redis then rejects.
        ms = ms.wrapping_add(now as i64);
    }
    if ms <= 0 {
        return Err(CmdError::InvalidExpire);
    }
    Ok(ms as u64)
}

fn set(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (key, val) = (args[1], args[2]);
    if args.len() == 3 {
        // The hot path: the bytes go straight into the key's record.
        ctx.db().set_str(key, val, 0)?;
        ctx.notify(class::STRING, "set", key);
        ctx.out.ok();
        return Ok(());
    }
    let opts = parse_extended(args, 3, true)?;
    let deadline = match opts.expire {
        Some((kind, arg)) => Some(expire_deadline(arg, kind, ctx.now)?),
        None => None,
    };
    set_generic(ctx, key, val, &opts, deadline, Reply::Ok)
}

/// What a SET-like command replies when it sets (and when NX/XX stop it).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reply {
    /// `+OK`, or null when NX/XX prevent the write.
    Ok,
    /// `:1`, or `:0` when NX prevents the write (SETNX).
    One,
}

/// Redis's `setGenericCommand` after option parsing.
fn set_generic(
    ctx: &mut Ctx,
    key: &[u8],
    val: &[u8],
    opts: &ExtendedOpts,
    deadline: Option<u64>,
    reply: Reply,
) -> CmdResult {
    if opts.get {
        reply_current(ctx, key)?;
    }
    let (mut db, out) = ctx.db_out();
    let found = db.exists(key)?;
    if (opts.nx && found) || (opts.xx && !found) {
        if !opts.get {
            match reply {
                Reply::Ok => out.null(),
                Reply::One => out.int(0),
            }
        }
        return Ok(());
    }
    match deadline {
        Some(expire_at) => {
            db.set_str(key, val, expire_at)?;
            // Logged with the absolute deadline, so a reload does not restart the TTL.
            db.log_as(&[
                b"SET",
                key,
                val,
                b"PXAT",
                crate::storage::value::itoa_stack(expire_at as i64).as_slice(),
            ]);
        }
        None if opts.keepttl => db.set_keep_ttl(key, Value::Str(StrValue::from_bytes(val)))?,
        None => db.set_str(key, val, 0)?,
    }
    db.notify(class::STRING, "set", key);
    if deadline.is_some() {
        db.notify(class::GENERIC, "expire", key);
    }
    if !opts.get {
        match reply {
            Reply::Ok => out.ok(),
            Reply::One => out.int(1),
        }
    }
    Ok(())
}

fn setnx(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let opts = ExtendedOpts {
        nx: true,
        ..Default::default()
    };
    set_generic(ctx, args[1], args[2], &opts, None, Reply::One)
}

fn setex(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    setex_generic(ctx, args, ExpireKind::Ex)
}

fn psetex(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    setex_generic(ctx, args, ExpireKind::Px)
}

fn setex_generic(ctx: &mut Ctx, args: &[&[u8]], kind: ExpireKind) -> CmdResult {
    let deadline = expire_deadline(args[2], kind, ctx.now)?;
    let opts = ExtendedOpts::default();
    set_generic(ctx, args[1], args[3], &opts, Some(deadline), Reply::Ok)
}

fn getdel(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    reply_current(ctx, args[1])?;
    if ctx.db().delete(args[1])? {
        // Propagated as DEL (Redis 7.0).
        ctx.db().log_as(&[b"DEL", args[1]]);
        ctx.notify(class::GENERIC, "del", args[1]);
    }
    Ok(())
}

fn getset(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    reply_current(ctx, args[1])?;
    ctx.db()
        .set(args[1], Value::Str(StrValue::from_bytes(args[2])))?;
    ctx.notify(class::STRING, "set", args[1]);
    Ok(())
}

fn getex(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let key = args[1];
    let opts = parse_extended(args, 2, false)?;
    let stats = &ctx.server.stats;
    let now = ctx.now;
    let (mut db, out) = ctx.db_out();
    let had_ttl = match db.get(key)? {
        None => {
            stats.hit(false);
            out.null();
            return Ok(());
        }
        Some(e) => {
            stats.hit(true);
            let Some(ValueRef::Str(s)) = e.value() else {
                return Err(CmdError::WrongType);
            };
            let deadline = match opts.expire {
                Some((kind, arg)) => Some((kind, expire_deadline(arg, kind, now)?)),
                None => None,
            };
            s.with_bytes(|b| out.bulk(b));
            let had_ttl = e.expire_at() != 0;
            match deadline {
                Some((ExpireKind::ExAt | ExpireKind::PxAt, at)) if at <= now => {
                    db.delete(key)?;
                    db.log_as(&[b"DEL", key]);
                    db.notify(class::GENERIC, "del", key);
                    return Ok(());
                }
                Some((_, at)) => {
                    db.set_expire(key, at)?;
                    db.log_as(&[
                        b"PEXPIREAT",
                        key,
                        crate::storage::value::itoa_stack(at as i64).as_slice(),
                    ]);
                    db.notify(class::GENERIC, "expire", key);
                    return Ok(());
                }
                None => had_ttl,
            }
        }
    };
    if opts.persist && had_ttl {
        db.set_expire(key, 0)?;
        db.log_as(&[b"PERSIST", key]);
        db.notify(class::GENERIC, "persist", key);
    }
    Ok(())
}

fn mget(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    out.array(args.len() - 1);
    for key in args.get(1..).unwrap_or_default() {
        match db.value(key)? {
            None => {
                stats.hit(false);
                out.null();
            }
            Some(ValueMut::Str(s)) => {
                stats.hit(true);
                s.with_bytes(|b| out.bulk(b));
            }
            Some(_) => {
                stats.hit(true);
                out.null();
            }
        }
    }
    Ok(())
}

fn mset(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    mset_generic(ctx, args, false)
}

fn msetnx(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    mset_generic(ctx, args, true)
}

fn mset_generic(ctx: &mut Ctx, args: &[&[u8]], nx: bool) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity);
    }
    let pairs = args.get(1..).unwrap_or_default();
    let (mut db, out) = ctx.db_out();
    if nx {
        for pair in pairs.chunks_exact(2) {
            if let [key, _] = pair {
                if db.exists(key)? {
                    out.int(0);
                    return Ok(());
                }
            }
        }
    }
    for pair in pairs.chunks_exact(2) {
        if let [key, value] = pair {
            db.set(key, Value::Str(StrValue::from_bytes(value)))?;
            db.notify(class::STRING, "set", key);
        }
    }
    if nx {
        out.int(1);
    } else {
        out.ok();
    }
    Ok(())
}

fn append(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (key, tail) = (args[1], args[2]);
    let max = ctx.server.config.proto_max_bulk_len();
    let (mut db, out) = ctx.db_out();
    let total = match db.get(key)? {
        None => {
            let v = StrValue::from_bytes(tail);
            let len = v.len();
            db.set(key, Value::Str(v))?;
            db.notify(class::STRING, "append", key);
            out.int(len as i64);
            return Ok(());
        }
        Some(e) => {
            let Some(ValueMut::Str(mut s)) = e.into_value_mut() else {
                return Err(CmdError::WrongType);
            };
            let total = s.len() as u64 + tail.len() as u64;
            if total > max {
                return Err(CmdError::Static(
                    "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
                ));
            }
            s.make_raw().extend_from_slice(tail);
            total
        }
    };
    db.modified(key)?;
    db.notify(class::STRING, "append", key);
    out.int(total as i64);
    Ok(())
}

fn strlen(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    match db.value(args[1])? {
        None => {
            stats.hit(false);
            out.int(0);
        }
        Some(ValueMut::Str(s)) => {
            stats.hit(true);
            out.int(s.len() as i64);
        }
        Some(_) => return Err(CmdError::WrongType),
    }
    Ok(())
}

/// GETRANGE and SUBSTR.
fn getrange(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let mut start = arg_i64(args[2])?;
    let mut end = arg_i64(args[3])?;
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    let s = match db.value(args[1])? {
        None => {
            stats.hit(false);
            out.bulk(b"");
            return Ok(());
        }
        Some(ValueMut::Str(s)) => {
            stats.hit(true);
            s
        }
        Some(_) => return Err(CmdError::WrongType),
    };
    let mut scratch = StackNum::default();
    let bytes = s.bytes(&mut scratch);
    let len = bytes.len() as i64;
    if start < 0 && end < 0 && start > end {
        out.bulk(b"");
        return Ok(());
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        out.bulk(b"");
    } else {
        out.bulk(bytes.get(start as usize..=end as usize).unwrap_or_default());
    }
    Ok(())
}

fn setrange(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (key, value) = (args[1], args[3]);
    let offset = arg_i64(args[2])?;
    if offset < 0 {
        return Err(CmdError::Static("ERR offset is out of range"));
    }
    let offset = offset as u64;
    let needed = offset + value.len() as u64;
    let max = ctx.server.config.proto_max_bulk_len();
    let (mut db, out) = ctx.db_out();
    let len = match db.get(key)? {
        None => {
            if value.is_empty() {
                out.int(0);
                return Ok(());
            }
            if needed > max {
                return Err(CmdError::Static(
                    "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
                ));
            }
            let mut data = vec![0u8; needed as usize];
            if let Some(dst) = data.get_mut(offset as usize..) {
                dst.copy_from_slice(value);
            }
            db.set(key, Value::Str(StrValue::raw(data)))?;
            db.notify(class::STRING, "setrange", key);
            out.int(needed as i64);
            return Ok(());
        }
        Some(e) => {
            let Some(ValueMut::Str(mut s)) = e.into_value_mut() else {
                return Err(CmdError::WrongType);
            };
            if value.is_empty() {
                out.int(s.len() as i64);
                return Ok(());
            }
            if needed > max {
                return Err(CmdError::Static(
                    "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
                ));
            }
            let data = s.make_raw();
            if data.len() < needed as usize {
                data.resize(needed as usize, 0);
            }
            if let Some(dst) = data.get_mut(offset as usize..needed as usize) {
                dst.copy_from_slice(value);
            }
            data.len()
        }
    };
    db.modified(key)?;
    db.notify(class::STRING, "setrange", key);
    out.int(len as i64);
    Ok(())
}

fn incr(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    incr_decr(ctx, args[1], 1)
}

fn decr(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    incr_decr(ctx, args[1], -1)
}

fn incrby(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let by = arg_i64(args[2])?;
    incr_decr(ctx, args[1], by)
}

fn decrby(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let by = arg_i64(args[2])?;
    if by == i64::MIN {
        return Err(CmdError::Static("ERR decrement would overflow"));
    }
    incr_decr(ctx, args[1], -by)
}

/// INCR/DECR/INCRBY/DECRBY: the result is always stored `int` encoded, in place when the
/// key exists (its TTL is kept).
fn incr_decr(ctx: &mut Ctx, key: &[u8], by: i64) -> CmdResult {
    let (mut db, out) = ctx.db_out();
    let (value, existed) = match db.get(key)? {
        Some(mut e) => {
            // An `int` record is added to in place (one slot lookup); anything else goes
            // through the value view, which checks the type.
            let sum = match e.incr_int_rec(by) {
                Some(sum) => sum,
                None => {
                    let Some(ValueMut::Str(mut s)) = e.into_value_mut() else {
                        return Err(CmdError::WrongType);
                    };
                    s.incr_by(by)
                }
            };
            let new = sum.map_err(|e| match e {
                IncrError::NotInteger => CmdError::NotInteger,
                IncrError::Overflow => CmdError::Overflow,
            })?;
            (new, true)
        }
        None => (by, false),
    };
    if existed {
        db.modified(key)?;
    } else {
        db.set(key, Value::Str(StrValue::Int(value)))?;
    }
    db.notify(class::STRING, "incrby", key);
    out.int(value);
    Ok(())
}

/// INCRBYFLOAT's sum: Redis adds in `long double` and refuses NaN or infinite results.
fn add_float(current: LongDouble, incr: LongDouble) -> Result<String, CmdError> {
    current
        .checked_add(incr)
        .filter(|v| !v.is_infinite())
        .map(LongDouble::to_human)
        .ok_or(CmdError::Static(
            "ERR increment would produce NaN or Infinity",
        ))
}

fn incrbyfloat(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (key, by) = (args[1], args[2]);
    let (mut db, out) = ctx.db_out();
    match db.get(key)? {
        None => {
            let incr = LongDouble::parse(by).ok_or(CmdError::NotFloat)?;
            let text = add_float(LongDouble::ZERO, incr)?;
            out.bulk(text.as_bytes());
            db.log_as(&[b"SET", key, text.as_bytes(), b"KEEPTTL"]);
            db.set(key, Value::Str(StrValue::string_object(text.into_bytes())))?;
        }
        Some(e) => {
            let Some(ValueMut::Str(mut s)) = e.into_value_mut() else {
                return Err(CmdError::WrongType);
            };
            let current = s.with_bytes(LongDouble::parse).ok_or(CmdError::NotFloat)?;
            let incr = LongDouble::parse(by).ok_or(CmdError::NotFloat)?;
            let text = add_float(current, incr)?;
            out.bulk(text.as_bytes());
            // Replaced in place: the key keeps its TTL, as with Redis's dbOverwrite.
            s.set(StrValue::string_object(text.clone().into_bytes()));
            db.modified(key)?;
            // The result, not the increment: float addition must not be redone on reload.
            db.log_as(&[b"SET", key, text.as_bytes(), b"KEEPTTL"]);
        }
    }
    db.notify(class::STRING, "incrbyfloat", key);
    Ok(())
}

/// LCS options.
#[derive(Default)]
struct LcsOpts {
    len: bool,
    idx: bool,
    with_match_len: bool,
    min_match_len: u64,
}

fn parse_lcs_opts(args: &[&[u8]]) -> Result<LcsOpts, CmdError> {
    let mut o = LcsOpts::default();
    let mut j = 3;
    while let Some(&opt) = args.get(j) {
        let more = j + 1 < args.len();
        if eq_ic(opt, "idx") {
            o.idx = true;
        } else if eq_ic(opt, "len") {
            o.len = true;
        } else if eq_ic(opt, "withmatchlen") {
            o.with_match_len = true;
        } else if eq_ic(opt, "minmatchlen") && more {
            o.min_match_len = arg_i64(crate::commands::arg(args, j + 1)?)?.max(0) as u64;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if o.idx && o.len {
        return Err(CmdError::Static(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    Ok(o)
}

/// A key's string for LCS: missing keys are empty strings; other types are an error.
fn lcs_input(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Vec<u8>>, CmdError> {
    let stats = &ctx.server.stats;
    match ctx.db().value(key)? {
        None => {
            stats.hit(false);
            Ok(Some(Vec::new()))
        }
        Some(ValueMut::Str(s)) => {
            stats.hit(true);
            Ok(Some(s.to_vec()))
        }
        Some(_) => {
            stats.hit(true);
            Ok(None)
        }
    }
}

fn lcs(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let a = lcs_input(ctx, args[1])?;
    let b = lcs_input(ctx, args[2])?;
    let (Some(a), Some(b)) = (a, b) else {
        return Err(CmdError::Static(
            "ERR The specified keys must contain string values",
        ));
    };
    let opts = parse_lcs_opts(args)?;
    if a.len() as u64 >= u32::MAX as u64 - 1 || b.len() as u64 >= u32::MAX as u64 - 1 {
        return Err(CmdError::Static("ERR String too long for LCS"));
    }
    let cells = (a.len() as u64 + 1) * (b.len() as u64 + 1);
    if cells * 4 > ctx.server.config.proto_max_bulk_len() {
        return Err(CmdError::Static(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let mut table: Vec<u32> = Vec::new();
    if table.try_reserve_exact(cells as usize).is_err() {
        return Err(CmdError::Static(
            "ERR Insufficient memory, failed allocating transient memory for LCS",
        ));
    }
    table.resize(cells as usize, 0);
    let width = b.len() + 1;
    lcs_fill(&a, &b, &mut table);
    let total = table.last().copied().unwrap_or(0);
    if opts.len {
        ctx.out.int(total as i64);
        return Ok(());
    }
    let walk = lcs_walk(&a, &b, &table, width, total as usize);
    let out = &mut *ctx.out;
    if !opts.idx {
        out.bulk(&walk.string);
        return Ok(());
    }
    let shown: Vec<&LcsRange> = walk
        .ranges
        .iter()
        .filter(|r| opts.min_match_len == 0 || r.len() >= opts.min_match_len)
        .collect();
    out.map(2);
    out.bulk(b"matches");
    out.array(shown.len());
    for r in shown {
        out.array(2 + opts.with_match_len as usize);
        out.array(2);
        out.int(r.a.0 as i64);
        out.int(r.a.1 as i64);
        out.array(2);
        out.int(r.b.0 as i64);
        out.int(r.b.1 as i64);
        if opts.with_match_len {
            out.int(r.len() as i64);
        }
    }
    out.bulk(b"len");
    out.int(total as i64);
    Ok(())
}

/// One matching range of LCS IDX: (start, end) in each string, inclusive.
struct LcsRange {
    a: (usize, usize),
    b: (usize, usize),
}

impl LcsRange {
    fn len(&self) -> u64 {
        (self.a.1 - self.a.0 + 1) as u64
    }
}

/// The LCS string and its ranges, from the end backwards, as Redis walks the table.
struct LcsWalk {
    string: Vec<u8>,
    ranges: Vec<LcsRange>,
}

/// Fill the dynamic programming table: row `i`, column `j` (rows of `b.len() + 1` cells)
/// holds the LCS length of `a[..i]` and `b[..j]`. Row 0 and column 0 stay zero.
fn lcs_fill(a: &[u8], b: &[u8], table: &mut [u32]) {
    let mut rows = table.chunks_exact_mut(b.len() + 1);
    let Some(mut prev) = rows.next() else {
        return;
    };
    for (row, &ca) in rows.zip(a) {
        let mut left = 0u32;
        for ((cell, &cb), above) in row.iter_mut().skip(1).zip(b).zip(prev.windows(2)) {
            let (diag, up) = match *above {
                [diag, up] => (diag, up),
                _ => (0, 0),
            };
            let v = if ca == cb { diag + 1 } else { up.max(left) };
            *cell = v;
            left = v;
        }
        prev = row;
    }
}

/// Walk the table back from the end as Redis does, collecting the LCS string and the
/// matching ranges (last match first).
fn lcs_walk(a: &[u8], b: &[u8], table: &[u32], width: usize, total: usize) -> LcsWalk {
    let cell = |i: usize, j: usize| table.get(i * width + j).copied().unwrap_or(0);
    let mut string = Vec::with_capacity(total);
    let mut ranges = Vec::new();
    let (mut i, mut j) = (a.len(), b.len());
    let mut current: Option<LcsRange> = None;
    while i > 0 && j > 0 {
        let mut emit = false;
        let ca = a.get(i - 1).copied();
        if ca.is_some() && ca == b.get(j - 1).copied() {
            string.extend(ca);
            match current.as_mut() {
                None => {
                    current = Some(LcsRange {
                        a: (i - 1, i - 1),
                        b: (j - 1, j - 1),
                    });
                }
                Some(r) if r.a.0 == i && r.b.0 == j => {
                    r.a.0 -= 1;
                    r.b.0 -= 1;
                }
                Some(_) => emit = true,
            }
            if current.as_ref().is_some_and(|r| r.a.0 == 0 || r.b.0 == 0) {
                emit = true;
            }
            i -= 1;
            j -= 1;
        } else {
            if cell(i - 1, j) > cell(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            if current.is_some() {
                emit = true;
            }
        }
        if emit {
            if let Some(r) = current.take() {
                ranges.push(r);
            }
        }
    }
    // Collected from the end backwards.
    string.reverse();
    LcsWalk { string, ranges }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str]) -> Result<ExtendedOpts<'static>, CmdError> {
        let owned: Vec<&'static [u8]> = args
            .iter()
            .map(|a| &*Box::leak(a.as_bytes().to_vec().into_boxed_slice()))
            .collect();
        let leaked: &'static [&'static [u8]] = Box::leak(owned.into_boxed_slice());
        parse_extended(leaked, 0, true)
    }

    #[test]
    fn set_option_conflicts() {
        assert!(opts(&["nx", "xx"]).is_err());
        assert!(opts(&["ex", "1", "px", "1"]).is_err());
        assert!(opts(&["keepttl", "ex", "1"]).is_err());
        assert!(opts(&["ex"]).is_err());
        assert!(opts(&["nx", "nx", "get", "get"]).is_ok());
        assert!(opts(&["ex", "1", "ex", "2"]).is_ok());
        assert!(opts(&["persist"]).is_err());
    }

    fn lcs_of(a: &[u8], b: &[u8]) -> (u32, LcsWalk) {
        let width = b.len() + 1;
        let mut table = vec![0u32; (a.len() + 1) * width];
        lcs_fill(a, b, &mut table);
        let total = table.last().copied().unwrap_or(0);
        (total, lcs_walk(a, b, &table, width, total as usize))
    }

    #[test]
    fn lcs_like_redis() {
        let (len, walk) = lcs_of(b"ohmytext", b"mynewtext");
        assert_eq!(len, 6);
        assert_eq!(walk.string, b"mytext");
        let ranges: Vec<_> = walk.ranges.iter().map(|r| (r.a, r.b)).collect();
        assert_eq!(ranges, vec![((4, 7), (5, 8)), ((2, 3), (0, 1))]);
        let (len, walk) = lcs_of(b"", b"abc");
        assert_eq!(len, 0);
        assert!(walk.string.is_empty() && walk.ranges.is_empty());
        assert_eq!(lcs_of(b"ABCBDAB", b"BDCABA").1.string, b"BDAB");
    }

    #[test]
    fn expire_validation() {
        assert_eq!(
            expire_deadline(b"0", ExpireKind::Ex, 1000),
            Err(CmdError::InvalidExpire)
        );
        assert_eq!(
            expire_deadline(b"9223372036854775807", ExpireKind::Ex, 1000),
            Err(CmdError::InvalidExpire)
        );
        assert_eq!(
            expire_deadline(b"9223372036854775807", ExpireKind::Px, 1000),
            Err(CmdError::InvalidExpire)
        );
        assert_eq!(expire_deadline(b"5", ExpireKind::Ex, 1000), Ok(6000));
        assert_eq!(expire_deadline(b"5", ExpireKind::PxAt, 1000), Ok(5));
        assert_eq!(
            expire_deadline(b"x", ExpireKind::Px, 1000),
            Err(CmdError::NotInteger)
        );
    }
}
