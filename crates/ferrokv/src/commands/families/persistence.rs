//! Persistence commands: BGREWRITEAOF, BGSAVE, SAVE.

use crate::commands::{flags, CmdError, CmdResult, Command, Ctx};
use crate::util::eq_ic;

/// The persistence commands' table.
pub static COMMANDS: &[Command] = &[
    Command::new(
        "bgrewriteaof",
        1,
        flags::ADMIN | flags::NOSCRIPT | flags::NO_ASYNC_LOADING,
        bgrewriteaof,
    ),
    Command::new(
        "bgsave",
        -1,
        flags::ADMIN | flags::NOSCRIPT | flags::NO_ASYNC_LOADING,
        bgsave,
    ),
    Command::new(
        "save",
        1,
        flags::ADMIN | flags::NOSCRIPT | flags::NO_ASYNC_LOADING | flags::NO_MULTI,
        save,
    ),
];

fn bgrewriteaof(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let server = ctx
        .server
        .arc()
        .ok_or(CmdError::Internal("server handle unavailable"))?;
    // Inside EXEC the rewrite is only scheduled, as Redis does: its start takes every
    // shard lock, and the transaction holds some of them.
    let started = if ctx.client.in_exec {
        crate::persistence::rewrite::schedule(&server).map_err(CmdError::msg)?;
        false
    } else {
        crate::persistence::rewrite::start(&server).map_err(CmdError::msg)?
    };
    ctx.out.simple(if started {
        "Background append only file rewriting started"
    } else {
        "Background append only file rewriting scheduled"
    });
    Ok(())
}

fn bgsave(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let schedule = match args.get(1) {
        None => false,
        Some(a) if eq_ic(a, "schedule") && args.len() == 2 => true,
        Some(_) => return Err(CmdError::Syntax),
    };
    let server = ctx
        .server
        .arc()
        .ok_or(CmdError::Internal("server handle unavailable"))?;
    // Inside EXEC a BGSAVE is only scheduled, as Redis does (see bgrewriteaof).
    let started = if ctx.client.in_exec {
        crate::persistence::save::schedule_bgsave(&server).map_err(CmdError::msg)?;
        false
    } else {
        crate::persistence::save::bgsave(&server, schedule).map_err(CmdError::msg)?
    };
    ctx.out.simple(if started {
        "Background saving started"
    } else {
        "Background saving scheduled"
    });
    Ok(())
}

fn save(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    crate::persistence::save::save_sync(ctx.server).map_err(CmdError::msg)?;
    ctx.out.ok();
    Ok(())
}
