//! Blocking pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP.
//!
//! When a key already has data these behave like their non-blocking forms. Otherwise the
//! client is registered as a [`Waiter`] on every key (see `server/blocking.rs` for the
//! whole life of a wait) and its connection parks until a command that creates one of the
//! keys serves it through `unblock::serve_ready`, the timeout passes, or CLIENT UNBLOCK / KILL
//! ends the wait. Inside MULTI/EXEC nothing blocks: an empty result is a timeout at once.

use crate::commands::shared::block::block_on_keys;
use crate::commands::shared::pops::{
    keys_after_numkeys, mpop_key_positions, parse_end, parse_mpop, parse_timeout, parse_zmpop,
};
use crate::commands::unblock::{poppable, serve_op, server_list_limits};
use crate::commands::{acl, flags, CmdError, CmdResult, Command, Ctx};
use crate::server::blocking::BlockOp;
use crate::storage::list::End;

/// The blocking commands' table.
pub static COMMANDS: &[Command] = &[
    Command::new(
        "blpop",
        -3,
        flags::WRITE | flags::NOSCRIPT | flags::BLOCKING,
        blpop,
    )
    .keys(1, -2, 1)
    .acl(acl::LIST),
    Command::new(
        "brpop",
        -3,
        flags::WRITE | flags::NOSCRIPT | flags::BLOCKING,
        brpop,
    )
    .keys(1, -2, 1)
    .acl(acl::LIST),
    Command::new(
        "blmove",
        6,
        flags::WRITE | flags::DENYOOM | flags::NOSCRIPT | flags::BLOCKING,
        blmove,
    )
    .keys(1, 2, 1)
    .acl(acl::LIST),
    Command::new(
        "brpoplpush",
        4,
        flags::WRITE | flags::DENYOOM | flags::NOSCRIPT | flags::BLOCKING,
        brpoplpush,
    )
    .keys(1, 2, 1)
    .acl(acl::LIST),
    Command::new("blmpop", -5, flags::WRITE | flags::BLOCKING, blmpop)
        .keys_fn(mpop_keys_at_2)
        .acl(acl::LIST),
    Command::new(
        "bzpopmin",
        -3,
        flags::WRITE | flags::NOSCRIPT | flags::BLOCKING | flags::FAST,
        bzpopmin,
    )
    .keys(1, -2, 1)
    .acl(acl::SORTEDSET),
    Command::new(
        "bzpopmax",
        -3,
        flags::WRITE | flags::NOSCRIPT | flags::BLOCKING | flags::FAST,
        bzpopmax,
    )
    .keys(1, -2, 1)
    .acl(acl::SORTEDSET),
    Command::new("bzmpop", -5, flags::WRITE | flags::BLOCKING, bzmpop)
        .keys_fn(zmpop_keys_at_2)
        .acl(acl::SORTEDSET),
];

// ---------------------------------------------------------------------------------------
// Arguments

/// Key positions of BLMPOP: `timeout numkeys key... LEFT|RIGHT [COUNT n]`.
fn mpop_keys_at_2(args: &[&[u8]]) -> Vec<usize> {
    mpop_key_positions(args, 2)
}

/// Key positions of BZMPOP: `timeout numkeys key... MIN|MAX [COUNT n]`.
fn zmpop_keys_at_2(args: &[&[u8]]) -> Vec<usize> {
    keys_after_numkeys(args, 2)
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
    let (resp3, limits) = (ctx.out.resp3, server_list_limits(ctx.server));
    for key in keys {
        let (mut db, out) = ctx.db_out();
        if poppable(db.read(key)?, &op)? {
            let reply = serve_op(&mut db, key, &op, resp3, limits)?;
            out.raw(&reply);
            return Ok(());
        }
    }
    block_or_timeout(ctx, keys, op, timeout, true)
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
    let (resp3, limits) = (ctx.out.resp3, server_list_limits(ctx.server));
    let (mut db, out) = ctx.db_out();
    // Some(true): a non-empty list (the view is dropped before serving).
    let ready = match db.list_edit(src) {
        Ok(Some(l)) => Some(!l.is_empty()),
        Ok(None) => Some(false),
        Err(CmdError::WrongType) => None,
        Err(e) => return Err(e),
    };
    match ready {
        Some(true) => {
            let reply = serve_op(&mut db, src, &op, resp3, limits)?;
            out.raw(&reply);
            Ok(())
        }
        Some(false) => block_or_timeout(ctx, &[src], op, timeout, false),
        None => Err(CmdError::WrongType),
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
    block_on_keys(ctx, unique, op, timeout_ms)
}
