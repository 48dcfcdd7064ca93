//! The `<COMMAND> HELP` reply shape, shared by every container command.

use crate::commands::Ctx;

/// Reply with a HELP text the way Redis's `addReplyHelp` does: a title line, the lines,
/// and the trailing HELP entry, each a status reply.
pub fn help_reply(ctx: &mut Ctx, cmd: &str, lines: &[&str]) {
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(&format!(
        "{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        cmd
    ));
    for l in lines {
        ctx.out.simple(l);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
}
