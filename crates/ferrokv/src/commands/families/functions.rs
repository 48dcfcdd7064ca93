//! FCALL, FCALL_RO and FUNCTION (Redis 7.0 Functions). The library registry and the Lua
//! side live in `crate::scripting::functions`; calls run on the scripting engine exactly
//! as EVAL does (script thread, script mutex, lazy shard locking, BUSY/KILL).

use crate::commands::shared::help::help_reply;
use crate::commands::shared::pops::keys_after_numkeys;
use crate::commands::{acl, flags, CmdError, CmdResult, Command, Ctx};
use crate::scripting::engine::{self, script_flags};
use crate::scripting::functions;

const FCALL_FLAGS: u32 =
    flags::NOSCRIPT | flags::STALE | flags::SKIP_MONITOR | flags::NO_MANDATORY_KEYS;

/// The functions family's table.
pub static COMMANDS: &[Command] = &[
    Command::new("fcall", -3, FCALL_FLAGS, fcall)
        .keys_fn(fcall_keys)
        .acl(acl::SCRIPTING),
    Command::new("fcall_ro", -3, FCALL_FLAGS | flags::READONLY, fcall_ro)
        .keys_fn(fcall_keys)
        .acl(acl::SCRIPTING),
    Command::container("function", -2, 0).subcommands(&[
        Command::new("delete", 3, flags::WRITE | flags::NOSCRIPT, function_delete)
            .acl(acl::SCRIPTING),
        Command::new("dump", 2, flags::NOSCRIPT, function_dump).acl(acl::SCRIPTING),
        Command::new("flush", -2, flags::WRITE | flags::NOSCRIPT, function_flush)
            .acl(acl::SCRIPTING),
        Command::new("help", 2, flags::LOADING | flags::STALE, function_help).acl(acl::SCRIPTING),
        Command::new(
            "kill",
            2,
            flags::NOSCRIPT | flags::ALLOW_BUSY,
            function_kill,
        )
        .acl(acl::SCRIPTING),
        Command::new("list", -2, flags::NOSCRIPT, function_list).acl(acl::SCRIPTING),
        Command::new(
            "restore",
            -3,
            flags::WRITE | flags::DENYOOM | flags::NOSCRIPT,
            function_restore,
        )
        .acl(acl::SCRIPTING),
        Command::new(
            "stats",
            2,
            flags::NOSCRIPT | flags::ALLOW_BUSY,
            function_stats,
        )
        .acl(acl::SCRIPTING),
        Command::new(
            "load",
            -3,
            flags::WRITE | flags::DENYOOM | flags::NOSCRIPT,
            function_load,
        )
        .acl(acl::SCRIPTING),
    ]),
];

/// Key positions of FCALL: `numkeys` keys after the function name.
fn fcall_keys(args: &[&[u8]]) -> Vec<usize> {
    keys_after_numkeys(args, 2)
}

fn fcall_generic(ctx: &mut Ctx, args: &[&[u8]], read_only: bool) -> CmdResult {
    let name = args.get(1).copied().unwrap_or_default();
    let Some((lib, info)) = ctx.server.scripts.functions.find(name) else {
        return Err(CmdError::Static("ERR Function not found"));
    };
    let n = args
        .get(2)
        .and_then(|a| crate::util::parse_canonical_i64(a))
        .ok_or(CmdError::Static("ERR Bad number of keys provided"))?;
    let rest = args.get(3..).unwrap_or_default();
    if n > rest.len() as i64 {
        return Err(CmdError::Static(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if n < 0 {
        return Err(CmdError::Static("ERR Number of keys can't be negative"));
    }
    let (keys, argv) = rest.split_at(n as usize);
    let no_writes = info.flags & script_flags::NO_WRITES != 0;
    if read_only && !no_writes {
        return Err(CmdError::Static(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    // Taken (again: reentrant) here so that every path into a function holds it.
    let _guard = ctx.server.scripts.run_lock.lock();
    let scripts = &ctx.server.scripts;
    let command = args.iter().map(|a| a.to_vec()).collect();
    scripts.set_running_function(Some((info.name.clone(), command)));
    let allow_oom = info.flags & script_flags::ALLOW_OOM != 0;
    let r = engine::run_function(
        ctx,
        &lib,
        &info.name,
        keys,
        argv,
        read_only || no_writes,
        allow_oom,
    );
    ctx.server.scripts.set_running_function(None);
    r
}

fn fcall(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    fcall_generic(ctx, args, false)
}

fn fcall_ro(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    fcall_generic(ctx, args, true)
}

/// FUNCTION LOAD [REPLACE] code
fn function_load(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let mut replace = false;
    let mut pos = 2;
    while pos + 1 < args.len() {
        let opt = args.get(pos).copied().unwrap_or_default();
        pos += 1;
        if opt.eq_ignore_ascii_case(b"replace") {
            replace = true;
            continue;
        }
        return Err(CmdError::Msg(format!(
            "ERR Unknown option given: {}",
            String::from_utf8_lossy(opt)
        )));
    }
    let Some(code) = args.get(pos) else {
        return Err(CmdError::Static("ERR Function code is missing"));
    };
    let name = functions::load(ctx.server, code, replace).map_err(CmdError::Msg)?;
    // Logged to the AOF as given (a change to the dataset).
    ctx.locks.note_change();
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

/// FUNCTION FLUSH [ASYNC|SYNC]: every library goes at once (one registry lock).
fn function_flush(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Msg(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
            String::from_utf8_lossy(args.get(1).copied().unwrap_or_default())
        )));
    }
    if let Some(mode) = args.get(2) {
        if !mode.eq_ignore_ascii_case(b"sync") && !mode.eq_ignore_ascii_case(b"async") {
            return Err(CmdError::Static(
                "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
            ));
        }
    }
    ctx.server.scripts.functions.flush();
    ctx.locks.note_change();
    ctx.out.ok();
    Ok(())
}

/// FUNCTION DELETE library-name
fn function_delete(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let name = args.get(2).copied().unwrap_or_default();
    if !ctx.server.scripts.functions.delete(name) {
        return Err(CmdError::Static("ERR Library not found"));
    }
    ctx.locks.note_change();
    ctx.out.ok();
    Ok(())
}

/// FUNCTION LIST [WITHCODE] [LIBRARYNAME pattern]
fn function_list(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let mut with_code = false;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 2;
    while let Some(arg) = args.get(i) {
        i += 1;
        if !with_code && arg.eq_ignore_ascii_case(b"withcode") {
            with_code = true;
            continue;
        }
        if pattern.is_none() && arg.eq_ignore_ascii_case(b"libraryname") {
            let Some(p) = args.get(i) else {
                return Err(CmdError::Static("ERR library name argument was not given"));
            };
            pattern = Some(p);
            i += 1;
            continue;
        }
        return Err(CmdError::Msg(format!(
            "ERR Unknown argument {}",
            String::from_utf8_lossy(arg)
        )));
    }
    let libs: Vec<_> = ctx
        .server
        .scripts
        .functions
        .libraries()
        .into_iter()
        .filter(|l| {
            pattern.is_none_or(|p| crate::storage::glob::glob_match(p, l.name.as_bytes(), true))
        })
        .collect();
    ctx.out.array(libs.len());
    for lib in libs {
        write_library(ctx, &lib, with_code);
    }
    Ok(())
}

/// One library of FUNCTION LIST.
fn write_library(ctx: &mut Ctx, lib: &functions::Library, with_code: bool) {
    let out = &mut *ctx.out;
    out.map(if with_code { 4 } else { 3 });
    out.bulk(b"library_name");
    out.bulk(lib.name.as_bytes());
    out.bulk(b"engine");
    out.bulk(b"LUA");
    out.bulk(b"functions");
    out.array(lib.functions.len());
    for f in &lib.functions {
        out.map(3);
        out.bulk(b"name");
        out.bulk(f.name.as_bytes());
        out.bulk(b"description");
        match &f.description {
            Some(d) => out.bulk(d),
            None => out.null(),
        }
        out.bulk(b"flags");
        let names: Vec<&str> = script_flags::NAMES
            .iter()
            .filter(|(_, bit)| f.flags & bit != 0)
            .map(|(n, _)| *n)
            .collect();
        out.set(names.len());
        for n in names {
            out.simple(n);
        }
    }
    if with_code {
        out.bulk(b"library_code");
        out.bulk(&lib.code);
    }
}

/// FUNCTION STATS: the running function (null when none) and the engine's counts.
fn function_stats(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let scripts = &ctx.server.scripts;
    let running = scripts.running_function();
    let ms = scripts.running_ms();
    let (libraries, functions) = scripts.functions.counts();
    let out = &mut *ctx.out;
    out.map(2);
    out.bulk(b"running_script");
    match running {
        None => out.null(),
        Some((name, command)) => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(name.as_bytes());
            out.bulk(b"command");
            out.array(command.len());
            for a in &command {
                out.bulk(a);
            }
            out.bulk(b"duration_ms");
            out.int(ms as i64);
        }
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(libraries as i64);
    out.bulk(b"functions_count");
    out.int(functions as i64);
    Ok(())
}

/// FUNCTION KILL: as SCRIPT KILL, for a running function only.
fn function_kill(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.server.scripts.kill_running(true)?;
    ctx.out.ok();
    Ok(())
}

fn function_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    help_reply(
        ctx,
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    );
    Ok(())
}

/// FUNCTION DUMP: every library in Redis 7.0's payload format.
fn function_dump(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let codes = functions::codes(ctx.server);
    let refs: Vec<&[u8]> = codes.iter().map(|c| &c[..]).collect();
    let compression = ctx.server.config.get("rdbcompression") == "yes";
    let payload = crate::persistence::rdb::functions::function_dump_payload(&refs, compression);
    ctx.out.bulk(&payload);
    Ok(())
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]
fn function_restore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if args.len() > 4 {
        return Err(CmdError::Msg(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
            String::from_utf8_lossy(args.get(1).copied().unwrap_or_default())
        )));
    }
    let policy =
        match args.get(3) {
            None => functions::RestorePolicy::Append,
            Some(p) if p.eq_ignore_ascii_case(b"append") => functions::RestorePolicy::Append,
            Some(p) if p.eq_ignore_ascii_case(b"replace") => functions::RestorePolicy::Replace,
            Some(p) if p.eq_ignore_ascii_case(b"flush") => functions::RestorePolicy::Flush,
            Some(_) => return Err(CmdError::Static(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            )),
        };
    let payload = args.get(2).copied().unwrap_or_default();
    let codes = crate::persistence::rdb::functions::parse_function_payload(payload)
        .map_err(|e| CmdError::Msg(format!("ERR {}", e)))?;
    functions::restore(ctx.server, &codes, policy).map_err(CmdError::Msg)?;
    ctx.locks.note_change();
    ctx.out.ok();
    Ok(())
}
