//! Persistence commands: BGREWRITEAOF, BGSAVE, SAVE.

use super::table::{argflags, Arg};
use super::{flags, CmdError, CmdResult, Command, Ctx};
use crate::util::eq_ic;

/// The persistence commands' table.
pub static COMMANDS: &[Command] = &[
    Command {
        name: "bgrewriteaof",
        arity: 1,
        flags: flags::ADMIN | flags::NOSCRIPT | flags::NO_ASYNC_LOADING,
        group: "server",
        since: "1.0.0",
        summary: "Asynchronously rewrite the append-only file",
        complexity: "O(1)",
        handler: bgrewriteaof,
        ..Command::DEFAULT
    },
    Command {
        name: "bgsave",
        arity: -1,
        flags: flags::ADMIN | flags::NOSCRIPT | flags::NO_ASYNC_LOADING,
        group: "server",
        since: "1.0.0",
        summary: "Asynchronously save the dataset to disk",
        complexity: "O(1)",
        history: &[("3.2.2", "Added the `SCHEDULE` option.")],
        args: &[Arg {
            name: "schedule",
            kind: "pure-token",
            token: Some("SCHEDULE"),
            since: Some("3.2.2"),
            flags: argflags::OPTIONAL,
            ..Arg::DEFAULT
        }],
        handler: bgsave,
        ..Command::DEFAULT
    },
    Command {
        name: "save",
        arity: 1,
        flags: flags::ADMIN | flags::NOSCRIPT | flags::NO_ASYNC_LOADING | flags::NO_MULTI,
        group: "server",
        since: "1.0.0",
        summary: "Synchronously save the dataset to disk",
        complexity: "O(N) where N is the total number of keys in all databases",
        handler: save,
        ..Command::DEFAULT
    },
];

fn bgrewriteaof(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let server = ctx
        .server
        .arc()
        .ok_or(CmdError::Internal("server handle unavailable"))?;
    let started = crate::persistence::rewrite::start(&server).map_err(CmdError::msg)?;
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
    let started = crate::persistence::save::bgsave(&server, schedule).map_err(CmdError::msg)?;
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
