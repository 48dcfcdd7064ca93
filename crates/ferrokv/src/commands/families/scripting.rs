//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT. The Lua engine lives in `crate::scripting`;
//! this file parses arguments and replies.
//!
//! Dispatch takes the script mutex before the declared keys' shards (see `dispatch::run`),
//! so a running script is the only locker in the server that waits for a shard while
//! holding others.

use crate::commands::shared::help::help_reply;
use crate::commands::shared::pops::keys_after_numkeys;
use crate::commands::{acl, flags, CmdError, CmdResult, Command, Ctx};
use crate::scripting::{engine, sha1_hex};

const EVAL_FLAGS: u32 =
    flags::NOSCRIPT | flags::STALE | flags::SKIP_MONITOR | flags::NO_MANDATORY_KEYS;

/// The scripting family's table.
pub static COMMANDS: &[Command] = &[
    Command::new("eval", -3, EVAL_FLAGS, eval)
        .keys_fn(eval_keys)
        .acl(acl::SCRIPTING),
    Command::new("evalsha", -3, EVAL_FLAGS, evalsha)
        .keys_fn(eval_keys)
        .acl(acl::SCRIPTING),
    Command::new("eval_ro", -3, EVAL_FLAGS | flags::READONLY, eval_ro)
        .keys_fn(eval_keys)
        .acl(acl::SCRIPTING),
    Command::new("evalsha_ro", -3, EVAL_FLAGS | flags::READONLY, evalsha_ro)
        .keys_fn(eval_keys)
        .acl(acl::SCRIPTING),
    Command::container("script", -2, 0).subcommands(&[
        Command::new("debug", 3, flags::NOSCRIPT, script_debug).acl(acl::SCRIPTING),
        Command::new("exists", -3, flags::NOSCRIPT, script_exists).acl(acl::SCRIPTING),
        Command::new("flush", -2, flags::NOSCRIPT, script_flush).acl(acl::SCRIPTING),
        Command::new("help", 2, flags::LOADING | flags::STALE, script_help).acl(acl::SCRIPTING),
        Command::new("kill", 2, flags::NOSCRIPT | flags::ALLOW_BUSY, script_kill)
            .acl(acl::SCRIPTING),
        Command::new("load", 3, flags::NOSCRIPT | flags::STALE, script_load).acl(acl::SCRIPTING),
    ]),
];

/// Key positions of EVAL-like commands: `numkeys` keys after the script.
fn eval_keys(args: &[&[u8]]) -> Vec<usize> {
    keys_after_numkeys(args, 2)
}

/// KEYS and ARGV from `script numkeys key... arg...`, with Redis's errors.
/// KEYS and ARGV of a script call.
type KeysArgs<'a> = (&'a [&'a [u8]], &'a [&'a [u8]]);

fn split_keys<'a>(args: &'a [&'a [u8]]) -> Result<KeysArgs<'a>, CmdError> {
    let n = args
        .get(2)
        .and_then(|a| crate::util::parse_canonical_i64(a))
        .ok_or(CmdError::NotInteger)?;
    if n < 0 {
        return Err(CmdError::Static("ERR Number of keys can't be negative"));
    }
    let rest = args.get(3..).unwrap_or_default();
    let n = n as usize;
    if n > rest.len() {
        return Err(CmdError::Static(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    Ok(rest.split_at(n))
}

fn eval_body(ctx: &mut Ctx, args: &[&[u8]], read_only: bool) -> CmdResult {
    let (keys, argv) = split_keys(args)?;
    let body = args.get(1).copied().unwrap_or_default();
    let sha = sha1_hex(body);
    // Like Redis, EVAL compiles before caching: a script that does not compile is not kept.
    engine::compile(ctx.server, &sha, body).map_err(CmdError::Msg)?;
    ctx.server.scripts.insert(&sha, body);
    run(ctx, &sha, Some(body), keys, argv, read_only)
}

fn evalsha_body(ctx: &mut Ctx, args: &[&[u8]], read_only: bool) -> CmdResult {
    let given = args.get(1).copied().unwrap_or_default();
    // Redis answers NOSCRIPT before parsing numkeys when the SHA cannot match.
    if given.len() != 40 {
        return Err(CmdError::Static(
            "NOSCRIPT No matching script. Please use EVAL.",
        ));
    }
    let (keys, argv) = split_keys(args)?;
    // Lowercased on the stack: this runs for every EVALSHA.
    let mut lower = [0u8; 40];
    for (to, from) in lower.iter_mut().zip(given) {
        *to = from.to_ascii_lowercase();
    }
    // The body is looked up only if the VM has not compiled the script (engine::run).
    let Ok(sha) = std::str::from_utf8(&lower) else {
        return Err(CmdError::Static(engine::NOSCRIPT));
    };
    run(ctx, sha, None, keys, argv, read_only)
}

fn run(
    ctx: &mut Ctx,
    sha: &str,
    body: Option<&[u8]>,
    keys: &[&[u8]],
    argv: &[&[u8]],
    read_only: bool,
) -> CmdResult {
    // Taken (again: reentrant) here so that every path into a script holds it.
    let _guard = ctx.server.scripts.run_lock.lock();
    engine::run(
        ctx,
        &engine::Script {
            sha,
            body,
            keys,
            args: argv,
            read_only,
        },
    )
}

fn eval(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    eval_body(ctx, args, false)
}

fn eval_ro(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    eval_body(ctx, args, true)
}

fn evalsha(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    evalsha_body(ctx, args, false)
}

fn evalsha_ro(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    evalsha_body(ctx, args, true)
}

fn script_load(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let body = args.get(2).copied().unwrap_or_default();
    let sha = sha1_hex(body);
    if ctx.server.scripts.get(&sha).is_none() {
        engine::compile(ctx.server, &sha, body).map_err(CmdError::Msg)?;
        ctx.server.scripts.insert(&sha, body);
    }
    ctx.out.bulk(sha.as_bytes());
    Ok(())
}

fn script_exists(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let shas = args.get(2..).unwrap_or_default();
    ctx.out.array(shas.len());
    for sha in shas {
        let found = ctx.server.scripts.exists(sha);
        ctx.out.int(found as i64);
    }
    Ok(())
}

fn script_flush(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    match args.get(2) {
        None => {}
        Some(a)
            if args.len() == 3
                && (a.eq_ignore_ascii_case(b"sync") || a.eq_ignore_ascii_case(b"async")) => {}
        Some(_) => {
            return Err(CmdError::Static(
                "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
            ))
        }
    }
    ctx.server.scripts.flush();
    ctx.out.ok();
    Ok(())
}

fn script_kill(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.server.scripts.kill_running(false)?;
    ctx.out.ok();
    Ok(())
}

fn script_debug(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let mode = args.get(2).copied().unwrap_or_default();
    if mode.eq_ignore_ascii_case(b"no") {
        ctx.out.ok();
        return Ok(());
    }
    if mode.eq_ignore_ascii_case(b"yes") || mode.eq_ignore_ascii_case(b"sync") {
        return Err(CmdError::Static(
            "ERR The Lua debugger is not supported by this server",
        ));
    }
    Err(CmdError::Static("ERR Use SCRIPT DEBUG YES/SYNC/NO"))
}

fn script_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    help_reply(
        ctx,
        "SCRIPT",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    );
    Ok(())
}
