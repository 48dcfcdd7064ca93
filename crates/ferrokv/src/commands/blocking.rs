//! Blocking pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP.
//!
//! When a key already has data these behave like their non-blocking forms. Otherwise the
//! client is registered as a [`Waiter`] on every key (see `server/blocking.rs` for the
//! whole life of a wait) and its connection parks until a command that creates one of the
//! keys serves it through [`serve_ready`], the timeout passes, or CLIENT UNBLOCK / KILL
//! ends the wait. Inside MULTI/EXEC nothing blocks: an empty result is a timeout at once.

use std::sync::Arc;

use parking_lot::Mutex;

use super::dispatch::LockIds;
use super::lists::{list_limits, move_element, mpop_key_positions, parse_end, parse_mpop};
use super::longdouble::LongDouble;
use super::table::{argflags, doc, Arg, BeginSearch, FindKeys, KeySpec};
use super::zsets::{keys_after_numkeys, parse_zmpop};
use super::{acl, flags, CmdError, CmdResult, Command, Ctx};
use crate::server::blocking::{BlockOp, WaitState, Waiter};
use crate::server::Server;
use crate::storage::db::{lock_id, shard_of, DbView};
use crate::storage::list::{End, ListLimits};
use crate::storage::zset::ZSetValue;
use crate::storage::{LockSet, Value};
use resp::ReplyWriter;

/// The blocking commands' table.
pub static COMMANDS: &[Command] = &[
    Command {
        name: "blpop",
        arity: -3,
        flags: flags::WRITE | flags::NOSCRIPT | flags::BLOCKING,
        first_key: 1,
        last_key: -2,
        step: 1,
        acl: acl::LIST,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "access", "delete"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: -2, keystep: 1, limit: 0 },
            },
        ],
        group: "list",
        since: "2.0.0",
        summary: "Remove and get the first element in a list, or block until one is available",
        complexity: "O(N) where N is the number of provided keys.",
        history: &[("6.0.0", "`timeout` is interpreted as a double instead of an integer.")],
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                flags: argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
            Arg {
                name: "timeout",
                kind: "double",
                ..Arg::DEFAULT
            },
        ],
        handler: blpop,
        ..Command::DEFAULT
    },

    Command {
        name: "brpop",
        arity: -3,
        flags: flags::WRITE | flags::NOSCRIPT | flags::BLOCKING,
        first_key: 1,
        last_key: -2,
        step: 1,
        acl: acl::LIST,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "access", "delete"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: -2, keystep: 1, limit: 0 },
            },
        ],
        group: "list",
        since: "2.0.0",
        summary: "Remove and get the last element in a list, or block until one is available",
        complexity: "O(N) where N is the number of provided keys.",
        history: &[("6.0.0", "`timeout` is interpreted as a double instead of an integer.")],
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                flags: argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
            Arg {
                name: "timeout",
                kind: "double",
                ..Arg::DEFAULT
            },
        ],
        handler: brpop,
        ..Command::DEFAULT
    },

    Command {
        name: "blmove",
        arity: 6,
        flags: flags::WRITE | flags::DENYOOM | flags::NOSCRIPT | flags::BLOCKING,
        first_key: 1,
        last_key: 2,
        step: 1,
        acl: acl::LIST,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "access", "delete"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
            KeySpec {
                notes: None,
                flags: &["RW", "insert"],
                begin: BeginSearch::Index(2),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "list",
        since: "6.2.0",
        summary: "Pop an element from a list, push it to another list and return it; or block until one is available",
        complexity: "O(1)",
        args: &[
            Arg {
                name: "source",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "destination",
                kind: "key",
                key_spec_index: 1,
                ..Arg::DEFAULT
            },
            Arg {
                name: "wherefrom",
                kind: "oneof",
                args: &[
                    Arg {
                        name: "left",
                        kind: "pure-token",
                        token: Some("LEFT"),
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "right",
                        kind: "pure-token",
                        token: Some("RIGHT"),
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
            Arg {
                name: "whereto",
                kind: "oneof",
                args: &[
                    Arg {
                        name: "left",
                        kind: "pure-token",
                        token: Some("LEFT"),
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "right",
                        kind: "pure-token",
                        token: Some("RIGHT"),
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
            Arg {
                name: "timeout",
                kind: "double",
                ..Arg::DEFAULT
            },
        ],
        handler: blmove,
        ..Command::DEFAULT
    },

    Command {
        name: "brpoplpush",
        arity: 4,
        flags: flags::WRITE | flags::DENYOOM | flags::NOSCRIPT | flags::BLOCKING,
        first_key: 1,
        last_key: 2,
        step: 1,
        acl: acl::LIST,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "access", "delete"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
            KeySpec {
                notes: None,
                flags: &["RW", "insert"],
                begin: BeginSearch::Index(2),
                find: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
            },
        ],
        group: "list",
        since: "2.2.0",
        summary: "Pop an element from a list, push it to another list and return it; or block until one is available",
        complexity: "O(1)",
        doc_flags: doc::DEPRECATED,
        deprecated_since: "6.2.0",
        replaced_by: "`BLMOVE` with the `RIGHT` and `LEFT` arguments",
        history: &[("6.0.0", "`timeout` is interpreted as a double instead of an integer.")],
        args: &[
            Arg {
                name: "source",
                kind: "key",
                key_spec_index: 0,
                ..Arg::DEFAULT
            },
            Arg {
                name: "destination",
                kind: "key",
                key_spec_index: 1,
                ..Arg::DEFAULT
            },
            Arg {
                name: "timeout",
                kind: "double",
                ..Arg::DEFAULT
            },
        ],
        handler: brpoplpush,
        ..Command::DEFAULT
    },

    Command {
        name: "blmpop",
        arity: -5,
        flags: flags::WRITE | flags::BLOCKING,
        acl: acl::LIST,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "access", "delete"],
                begin: BeginSearch::Index(2),
                find: FindKeys::Keynum { keynumidx: 0, firstkey: 1, keystep: 1 },
            },
        ],
        group: "list",
        since: "7.0.0",
        summary: "Pop elements from a list, or block until one is available",
        complexity: "O(N+M) where N is the number of provided keys and M is the number of elements returned.",
        args: &[
            Arg {
                name: "timeout",
                kind: "double",
                ..Arg::DEFAULT
            },
            Arg {
                name: "numkeys",
                kind: "integer",
                ..Arg::DEFAULT
            },
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                flags: argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
            Arg {
                name: "where",
                kind: "oneof",
                args: &[
                    Arg {
                        name: "left",
                        kind: "pure-token",
                        token: Some("LEFT"),
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "right",
                        kind: "pure-token",
                        token: Some("RIGHT"),
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
            Arg {
                name: "count",
                kind: "integer",
                token: Some("COUNT"),
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
        ],
        keys_fn: Some(mpop_keys_at_2),
        handler: blmpop,
        ..Command::DEFAULT
    },

    Command {
        name: "bzpopmin",
        arity: -3,
        flags: flags::WRITE | flags::NOSCRIPT | flags::BLOCKING | flags::FAST,
        first_key: 1,
        last_key: -2,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "access", "delete"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: -2, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "5.0.0",
        summary: "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available",
        complexity: "O(log(N)) with N being the number of elements in the sorted set.",
        history: &[("6.0.0", "`timeout` is interpreted as a double instead of an integer.")],
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                flags: argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
            Arg {
                name: "timeout",
                kind: "double",
                ..Arg::DEFAULT
            },
        ],
        handler: bzpopmin,
        ..Command::DEFAULT
    },

    Command {
        name: "bzpopmax",
        arity: -3,
        flags: flags::WRITE | flags::NOSCRIPT | flags::BLOCKING | flags::FAST,
        first_key: 1,
        last_key: -2,
        step: 1,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "access", "delete"],
                begin: BeginSearch::Index(1),
                find: FindKeys::Range { lastkey: -2, keystep: 1, limit: 0 },
            },
        ],
        group: "sorted-set",
        since: "5.0.0",
        summary: "Remove and return the member with the highest score from one or more sorted sets, or block until one is available",
        complexity: "O(log(N)) with N being the number of elements in the sorted set.",
        history: &[("6.0.0", "`timeout` is interpreted as a double instead of an integer.")],
        args: &[
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                flags: argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
            Arg {
                name: "timeout",
                kind: "double",
                ..Arg::DEFAULT
            },
        ],
        handler: bzpopmax,
        ..Command::DEFAULT
    },

    Command {
        name: "bzmpop",
        arity: -5,
        flags: flags::WRITE | flags::BLOCKING,
        acl: acl::SORTEDSET,
        key_specs: &[
            KeySpec {
                notes: None,
                flags: &["RW", "access", "delete"],
                begin: BeginSearch::Index(2),
                find: FindKeys::Keynum { keynumidx: 0, firstkey: 1, keystep: 1 },
            },
        ],
        group: "sorted-set",
        since: "7.0.0",
        summary: "Remove and return members with scores in a sorted set or block until one is available",
        complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
        args: &[
            Arg {
                name: "timeout",
                kind: "double",
                ..Arg::DEFAULT
            },
            Arg {
                name: "numkeys",
                kind: "integer",
                ..Arg::DEFAULT
            },
            Arg {
                name: "key",
                kind: "key",
                key_spec_index: 0,
                flags: argflags::MULTIPLE,
                ..Arg::DEFAULT
            },
            Arg {
                name: "where",
                kind: "oneof",
                args: &[
                    Arg {
                        name: "min",
                        kind: "pure-token",
                        token: Some("MIN"),
                        ..Arg::DEFAULT
                    },
                    Arg {
                        name: "max",
                        kind: "pure-token",
                        token: Some("MAX"),
                        ..Arg::DEFAULT
                    },
                ],
                ..Arg::DEFAULT
            },
            Arg {
                name: "count",
                kind: "integer",
                token: Some("COUNT"),
                flags: argflags::OPTIONAL,
                ..Arg::DEFAULT
            },
        ],
        keys_fn: Some(zmpop_keys_at_2),
        handler: bzmpop,
        ..Command::DEFAULT
    },
];

// ---------------------------------------------------------------------------------------
// Arguments

/// Parse a timeout in seconds (Redis's `getTimeoutFromObjectOrReply`): a long double,
/// not negative, within range. Returns milliseconds, 0 = wait forever.
fn parse_timeout(arg: &[u8]) -> Result<u64, CmdError> {
    let secs = LongDouble::parse(arg)
        .ok_or(CmdError::Static(
            "ERR timeout is not a float or out of range",
        ))?
        .to_f64();
    // Redis 7.0 converts `ceill(secs * 1000)` to long long: values past its range wrap to
    // LLONG_MIN there and are reported as negative, as are infinities.
    let ms = (secs * 1000.0).ceil();
    if !(0.0..9_223_372_036_854_775_808.0).contains(&ms) {
        return Err(CmdError::Static("ERR timeout is negative"));
    }
    Ok(ms as u64)
}

/// Key positions of BLMPOP: `timeout numkeys key... LEFT|RIGHT [COUNT n]`.
fn mpop_keys_at_2(args: &[&[u8]]) -> Vec<usize> {
    mpop_key_positions(args, 2)
}

/// Key positions of BZMPOP: `timeout numkeys key... MIN|MAX [COUNT n]`.
fn zmpop_keys_at_2(args: &[&[u8]]) -> Vec<usize> {
    keys_after_numkeys(args, 2)
}

/// The list limits when no command context is at hand (serving waiters).
fn server_list_limits(server: &Server) -> ListLimits {
    ListLimits {
        max_listpack_size: server.config.list_max_listpack_size(),
    }
}

// ---------------------------------------------------------------------------------------
// Handlers

fn blpop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let op = BlockOp::ListPop {
        end: End::Left,
        count: None,
    };
    pop_or_block(ctx, args, 1, args.len() - 1, op)
}

fn brpop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let op = BlockOp::ListPop {
        end: End::Right,
        count: None,
    };
    pop_or_block(ctx, args, 1, args.len() - 1, op)
}

fn blmpop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let m = parse_mpop(args, 2)?;
    let op = BlockOp::ListPop {
        end: m.end,
        count: Some(m.count),
    };
    pop_or_block(ctx, args, m.keys.start, m.keys.end, op)
}

fn bzpopmin(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let op = BlockOp::ZPop {
        max: false,
        count: None,
    };
    pop_or_block(ctx, args, 1, args.len() - 1, op)
}

fn bzpopmax(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let op = BlockOp::ZPop {
        max: true,
        count: None,
    };
    pop_or_block(ctx, args, 1, args.len() - 1, op)
}

fn bzmpop(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let m = parse_zmpop(args, 2)?;
    let count = usize::try_from(m.count).unwrap_or(usize::MAX);
    let op = BlockOp::ZPop {
        max: m.max,
        count: Some(count),
    };
    pop_or_block(ctx, args, m.first_key, m.first_key + m.numkeys, op)
}

fn blmove(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let from = parse_end(args[3])?;
    let to = parse_end(args[4])?;
    move_or_block(ctx, args[1], args[2], from, to, args[5])
}

fn brpoplpush(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    move_or_block(ctx, args[1], args[2], End::Right, End::Left, args[3])
}

/// BLPOP/BRPOP/BLMPOP/BZPOPMIN/BZPOPMAX/BZMPOP: the timeout is the last argument, or the
/// first for the *MPOP forms (`op` has a count); keys are `args[keys_from..keys_to]`. The
/// first key with data is popped at once; a key of the wrong type before it is WRONGTYPE.
fn pop_or_block(
    ctx: &mut Ctx,
    args: &[&[u8]],
    keys_from: usize,
    keys_to: usize,
    op: BlockOp,
) -> CmdResult {
    let mpop = matches!(
        op,
        BlockOp::ListPop { count: Some(_), .. } | BlockOp::ZPop { count: Some(_), .. }
    );
    let timeout_at = if mpop { 1 } else { args.len() - 1 };
    let timeout = parse_timeout(args[timeout_at])?;
    let keys = args.get(keys_from..keys_to).unwrap_or_default();
    let (resp3, limits) = (ctx.out.resp3, list_limits(ctx));
    for key in keys {
        let (mut db, out) = ctx.db_out();
        if poppable(db.value(key)?.as_deref(), &op)? {
            let reply = serve_op(&mut db, key, &op, resp3, limits)?;
            out.raw(&reply);
            return Ok(());
        }
    }
    block_or_timeout(ctx, keys, op, timeout, true)
}

/// Whether `value` has something `op` can pop: `Ok(false)` when the key is missing (or
/// empty), WRONGTYPE when it holds another type.
fn poppable(value: Option<&Value>, op: &BlockOp) -> Result<bool, CmdError> {
    match (value, op.wants_list()) {
        (None, _) => Ok(false),
        (Some(Value::List(l)), true) => Ok(!l.is_empty()),
        (Some(Value::ZSet(z)), false) => Ok(!z.is_empty()),
        _ => Err(CmdError::WrongType),
    }
}

/// BLMOVE/BRPOPLPUSH: LMOVE at once when the source has data.
fn move_or_block(
    ctx: &mut Ctx,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
    timeout: &[u8],
) -> CmdResult {
    let timeout = parse_timeout(timeout)?;
    let op = BlockOp::ListMove {
        dst: dst.into(),
        from,
        to,
    };
    let (resp3, limits) = (ctx.out.resp3, list_limits(ctx));
    let (mut db, out) = ctx.db_out();
    match db.value(src)? {
        Some(Value::List(l)) if !l.is_empty() => {
            let reply = serve_op(&mut db, src, &op, resp3, limits)?;
            out.raw(&reply);
            Ok(())
        }
        Some(Value::List(_)) | None => block_or_timeout(ctx, &[src], op, timeout, false),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// No key had data: block, or inside EXEC reply as a timeout at once (Redis:
/// CLIENT_DENY_BLOCKING; BLMOVE then answers a null bulk, the others a null array).
fn block_or_timeout(
    ctx: &mut Ctx,
    keys: &[&[u8]],
    op: BlockOp,
    timeout_ms: u64,
    null_array: bool,
) -> CmdResult {
    if ctx.client.in_exec {
        if null_array {
            ctx.out.null_array();
        } else {
            ctx.out.null();
        }
        return Ok(());
    }
    let mut unique: Vec<Box<[u8]>> = Vec::with_capacity(keys.len());
    for k in keys {
        if !unique.iter().any(|u| **u == **k) {
            unique.push((*k).into());
        }
    }
    let db = ctx.client.db;
    let waiter = Arc::new(Waiter {
        client: ctx.client.handle.clone(),
        db,
        keys: unique,
        op,
        resp3: ctx.out.resp3,
        state: Mutex::new(WaitState::Waiting),
    });
    for key in &waiter.keys {
        let shard = ctx
            .locks
            .shard(db, shard_of(key))
            .ok_or(CmdError::Internal("key's shard is not locked"))?;
        shard
            .blocked
            .entry(key.clone())
            .or_default()
            .push_back(waiter.clone());
    }
    ctx.client.blocked = Some((waiter, timeout_ms));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Serving

/// Run `op` on the non-empty list or sorted set at `key` and return the reply bytes in the
/// waiter's protocol. The caller checked the type and that it is not empty. Deletes the key
/// when it becomes empty.
fn serve_op(
    db: &mut DbView<'_, '_>,
    key: &[u8],
    op: &BlockOp,
    resp3: bool,
    limits: ListLimits,
) -> Result<Vec<u8>, CmdError> {
    let mut out = ReplyWriter::new();
    out.resp3 = resp3;
    let log = logged_form(key, op);
    match op {
        BlockOp::ListPop { end, count } => {
            let items = pop_list(db, key, *end, count.unwrap_or(1))?;
            out.array(2);
            out.bulk(key);
            if count.is_some() {
                out.array(items.len());
                items.iter().for_each(|i| out.bulk(i));
            } else if let Some(i) = items.first() {
                out.bulk(i);
            }
        }
        BlockOp::ListMove { dst, from, to } => {
            match move_element(db, key, dst, *from, *to, limits)? {
                Some(item) => out.bulk(&item),
                None => out.null(),
            }
        }
        BlockOp::ZPop { max, count } => {
            let items = pop_zset(db, key, *max, count.unwrap_or(1))?;
            if count.is_some() {
                out.array(2);
                out.bulk(key);
                out.array(items.len());
                for (m, s) in &items {
                    out.array(2);
                    out.bulk(m);
                    out.double(*s);
                }
            } else if let Some((m, s)) = items.first() {
                out.array(3);
                out.bulk(key);
                out.bulk(m);
                out.double(*s);
            }
        }
    }
    let db_index = db.db;
    db.locks.propagate_as(db_index, log);
    Ok(out.buf)
}

/// What the append-only file gets for a blocking pop that was served: the non-blocking
/// command it amounted to (Redis propagates BLPOP as LPOP, BLMOVE as LMOVE...).
fn logged_form(key: &[u8], op: &BlockOp) -> Vec<Vec<u8>> {
    let end_word = |e: &End| match e {
        End::Left => b"LEFT".to_vec(),
        End::Right => b"RIGHT".to_vec(),
    };
    let mut cmd = match op {
        BlockOp::ListPop { end, .. } => vec![
            match end {
                End::Left => b"LPOP".to_vec(),
                End::Right => b"RPOP".to_vec(),
            },
            key.to_vec(),
        ],
        BlockOp::ListMove { dst, from, to } => {
            return vec![
                b"LMOVE".to_vec(),
                key.to_vec(),
                dst.to_vec(),
                end_word(from),
                end_word(to),
            ]
        }
        BlockOp::ZPop { max, .. } => vec![
            if *max {
                b"ZPOPMAX".to_vec()
            } else {
                b"ZPOPMIN".to_vec()
            },
            key.to_vec(),
        ],
    };
    if let BlockOp::ListPop { count: Some(n), .. } | BlockOp::ZPop { count: Some(n), .. } = op {
        cmd.push(n.to_string().into_bytes());
    }
    cmd
}

/// Pop up to `count` elements at `end`; deletes the key once empty.
fn pop_list(
    db: &mut DbView<'_, '_>,
    key: &[u8],
    end: End,
    count: usize,
) -> Result<Vec<Vec<u8>>, CmdError> {
    let (items, empty) = match db.value(key)? {
        Some(Value::List(l)) => {
            let n = count.min(l.len());
            let items: Vec<Vec<u8>> = (0..n).filter_map(|_| l.pop(end)).collect();
            (items, l.is_empty())
        }
        _ => return Ok(Vec::new()),
    };
    if empty {
        db.delete(key)?;
    } else {
        db.modified(key)?;
    }
    Ok(items)
}

/// Pop up to `count` members (lowest scores, or highest with `max`); deletes the key once
/// empty.
fn pop_zset(
    db: &mut DbView<'_, '_>,
    key: &[u8],
    max: bool,
    count: usize,
) -> Result<Vec<(Vec<u8>, f64)>, CmdError> {
    let (items, empty) = match db.value(key)? {
        Some(Value::ZSet(z)) => {
            let z: &mut ZSetValue = z;
            let n = count.min(z.len());
            let items: Vec<(Vec<u8>, f64)> = (0..n).filter_map(|_| z.pop(max)).collect();
            (items, z.is_empty())
        }
        _ => return Ok(Vec::new()),
    };
    if empty {
        db.delete(key)?;
    } else {
        db.modified(key)?;
    }
    Ok(items)
}

/// Serve the clients blocked on keys that the command holding `locks` gave values, first
/// come first served, before those locks are released. A served BLMOVE may create its
/// destination and so make more keys ready: the loop runs until none is left.
pub fn serve_ready<'s>(server: &'s Server, locks: &mut LockSet<'s>, now: u64) {
    while locks.has_ready() {
        for (db, key) in locks.take_ready() {
            serve_key(server, locks, db, &key, now);
        }
    }
}

/// Serve the waiters of one ready key while it has data.
fn serve_key<'s>(server: &'s Server, locks: &mut LockSet<'s>, db: usize, key: &[u8], now: u64) {
    let limits = server_list_limits(server);
    let shard_index = shard_of(key);
    let mut i = 0;
    loop {
        let Some(shard) = locks.shard(db, shard_index) else {
            return;
        };
        let Some(queue) = shard.blocked.get_mut(key) else {
            return;
        };
        let Some(waiter) = queue.get(i).cloned() else {
            if queue.is_empty() {
                shard.blocked.remove(key);
            }
            return;
        };
        if !waiter.is_waiting() {
            queue.remove(i);
            continue;
        }
        let mut view = DbView {
            locks: &mut *locks,
            db,
            now,
            stats: &server.stats,
            touch: true,
        };
        let Ok(value) = view.value(key) else {
            return;
        };
        match poppable(value.as_deref(), &waiter.op) {
            Ok(true) => {}
            // Gone (or emptied) again: nothing more to serve.
            Ok(false) => return,
            // A waiter of another type (a list waiter on a key that is now a sorted set):
            // it keeps waiting; later waiters may still want this type.
            Err(_) => {
                i += 1;
                continue;
            }
        }
        if let BlockOp::ListMove { dst, .. } = &waiter.op {
            if !view.locks.try_lock_extra(lock_id(db, shard_of(dst))) {
                // The destination's shard is busy: let the client run BLMOVE again itself.
                remove_from_queue(locks, db, key, &waiter);
                waiter.finish(WaitState::Retry);
                continue;
            }
        }
        let mut state = waiter.state.lock();
        if *state == WaitState::Waiting {
            let reply = match serve_op(&mut view, key, &waiter.op, waiter.resp3, limits) {
                Ok(bytes) => bytes,
                Err(e) => {
                    let mut w = ReplyWriter::new();
                    w.resp3 = waiter.resp3;
                    w.error(&e.message(""));
                    w.buf
                }
            };
            *state = WaitState::Served(reply);
            drop(state);
            waiter.client.wake.notify_one();
            // The pushing command's own log entry is already queued: the pop follows it.
            if let Some(cmds) = locks.rewrite.take() {
                locks.propagate.extend(cmds);
            }
            locks.changes = 0;
        } else {
            drop(state);
        }
        remove_from_queue(locks, db, key, &waiter);
    }
}

fn remove_from_queue(locks: &mut LockSet<'_>, db: usize, key: &[u8], waiter: &Arc<Waiter>) {
    if let Some(shard) = locks.shard(db, shard_of(key)) {
        if let Some(q) = shard.blocked.get_mut(key) {
            q.retain(|w| !Arc::ptr_eq(w, waiter));
            if q.is_empty() {
                shard.blocked.remove(key);
            }
        }
    }
}

/// Remove a finished waiter's registrations from all its keys (called by its connection
/// after the wait ended, whatever ended it).
pub fn unregister(server: &Server, waiter: &Arc<Waiter>) {
    let mut locks = LockSet::new(&server.dbs);
    let mut ids: LockIds = waiter
        .keys
        .iter()
        .map(|k| lock_id(waiter.db, shard_of(k)))
        .collect();
    locks.lock(&mut ids);
    for key in &waiter.keys {
        remove_from_queue(&mut locks, waiter.db, key, waiter);
    }
}
