//! Persistence commands: BGREWRITEAOF.

use super::{flags, CmdError, CmdResult, Command, Ctx};

/// The persistence commands' table.
pub static COMMANDS: &[Command] = &[Command {
    name: "bgrewriteaof",
    arity: 1,
    flags: flags::ADMIN | flags::NOSCRIPT | flags::NO_ASYNC_LOADING,
    group: "server",
    since: "1.0.0",
    summary: "Asynchronously rewrite the append-only file",
    complexity: "O(1)",
    handler: bgrewriteaof,
    ..Command::DEFAULT
}];

fn bgrewriteaof(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let server = ctx
        .server
        .arc()
        .ok_or(CmdError::Internal("server handle unavailable"))?;
    crate::persistence::rewrite::start(&server).map_err(CmdError::msg)?;
    ctx.out
        .simple("Background append only file rewriting started");
    Ok(())
}
