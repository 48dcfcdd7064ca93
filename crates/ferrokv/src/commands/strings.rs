//! The string family: SET, GET and friends, counters, bitmaps.

use super::{acl, flags, CmdError, CmdResult, Command, Ctx};
use crate::storage::{StrValue, Value};

/// The string family's table.
pub static COMMANDS: &[Command] = &[
    Command {
        name: "get",
        arity: 2,
        flags: flags::READONLY | flags::FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::STRING,
        group: "string",
        summary: "Returns the string value of a key.",
        handler: get,
        ..Command::DEFAULT
    },
    Command {
        name: "set",
        arity: -3,
        flags: flags::WRITE | flags::DENYOOM,
        first_key: 1,
        last_key: 1,
        step: 1,
        acl: acl::STRING,
        group: "string",
        summary: "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        handler: set,
        ..Command::DEFAULT
    },
];

fn get(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let stats = &ctx.server.stats;
    let (mut db, out) = ctx.db_out();
    match db.value(args[1])? {
        None => {
            stats.hit(false);
            out.null();
        }
        Some(Value::Str(s)) => {
            stats.hit(true);
            s.with_bytes(|b| out.bulk(b));
        }
        Some(_) => return Err(CmdError::WrongType),
    }
    Ok(())
}

fn set(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if args.len() != 3 {
        return Err(CmdError::Syntax);
    }
    ctx.db()
        .set(args[1], Value::Str(StrValue::from_bytes(args[2])))?;
    ctx.out.ok();
    Ok(())
}
