//! The `redis` table's functions that do not need the running command context
//! (`redis.call`/`redis.pcall` are set by the engine for each run).

use mlua::{Lua, MultiValue, Table, Value};

use crate::scripting::engine::{error_reply_table, plain_error_table, set_script_resp};
use crate::scripting::raise;

/// The single string argument of `error_reply`/`status_reply`, if that is what was given.
fn single_string(args: &MultiValue) -> Option<Vec<u8>> {
    if args.len() != 1 {
        return None;
    }
    match args.front() {
        Some(Value::String(s)) => Some(s.as_bytes().to_vec()),
        _ => None,
    }
}

/// Lua's `tostring` for numbers and strings (what `lua_tolstring` accepts).
fn to_bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(i) => Some(i.to_string().into_bytes()),
        Value::Number(n) => Some(lua_number_string(*n).into_bytes()),
        _ => None,
    }
}

/// A number as Lua 5.1 prints it (`%.14g`).
pub fn lua_number_string(n: f64) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "inf" } else { "-inf" }.into();
    }
    if n == n.trunc() && n.abs() < 1e15 {
        return format!("{}", n as i64);
    }
    format_g(n, 14)
}

/// C's `%.<prec>g`.
pub fn format_g(d: f64, prec: usize) -> String {
    if d == 0.0 {
        return if d.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{:.*e}", prec.saturating_sub(1), d);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{}{:02}", mant, sign, exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, d)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Fill the `redis` table.
pub fn register(lua: &Lua, redis: &Table) -> mlua::Result<()> {
    redis.raw_set(
        "error_reply",
        lua.create_function(|lua, args: MultiValue| match single_string(&args) {
            Some(s) => error_reply_table(lua, &s),
            None => plain_error_table(lua, "wrong number or type of arguments"),
        })?,
    )?;
    redis.raw_set(
        "status_reply",
        lua.create_function(|lua, args: MultiValue| match single_string(&args) {
            Some(s) => {
                let t = lua.create_table()?;
                t.raw_set("ok", lua.create_string(&s)?)?;
                Ok(Value::Table(t))
            }
            None => plain_error_table(lua, "wrong number or type of arguments"),
        })?,
    )?;
    redis.raw_set(
        "sha1hex",
        lua.create_function(|_, args: MultiValue| {
            if args.len() != 1 {
                return Err(raise("ERR wrong number of arguments"));
            }
            let body = args.front().and_then(to_bytes).unwrap_or_default();
            Ok(crate::scripting::sha1_hex(&body))
        })?,
    )?;
    redis.raw_set(
        "log",
        lua.create_function(|_, args: MultiValue| {
            if args.len() < 2 {
                return Err(raise("ERR redis.log() requires two arguments or more."));
            }
            let level = match args.front() {
                Some(Value::Integer(i)) => *i,
                Some(Value::Number(n)) => *n as i64,
                _ => return Err(raise("ERR First argument must be a number (log level).")),
            };
            if !(0..=3).contains(&level) {
                return Err(raise("ERR Invalid debug level."));
            }
            let text: Vec<String> = args
                .iter()
                .skip(1)
                .filter_map(to_bytes)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .collect();
            let text = text.join(" ");
            match level {
                0 => tracing::debug!("{}", text),
                1 | 2 => tracing::info!("{}", text),
                _ => tracing::warn!("{}", text),
            }
            Ok(())
        })?,
    )?;
    redis.raw_set(
        "setresp",
        lua.create_function(|_, args: MultiValue| {
            if args.len() != 1 {
                return Err(raise("ERR redis.setresp() requires one argument."));
            }
            let v = match args.front() {
                Some(Value::Integer(i)) => *i,
                Some(Value::Number(n)) => *n as i64,
                _ => 0,
            };
            if v != 2 && v != 3 {
                return Err(raise("ERR RESP version must be 2 or 3."));
            }
            set_script_resp(v as u8);
            Ok(())
        })?,
    )?;
    redis.raw_set(
        "set_repl",
        lua.create_function(|_, args: MultiValue| {
            if args.len() != 1 {
                return Err(raise("ERR redis.set_repl() requires two arguments."));
            }
            let v = match args.front() {
                Some(Value::Integer(i)) => *i,
                Some(Value::Number(n)) => *n as i64,
                _ => -1,
            };
            if !(0..=3).contains(&v) {
                return Err(raise(
                    "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                ));
            }
            Ok(())
        })?,
    )?;
    redis.raw_set(
        "replicate_commands",
        lua.create_function(|_, _: MultiValue| Ok(true))?,
    )?;
    redis.raw_set(
        "breakpoint",
        lua.create_function(|_, _: MultiValue| Ok(false))?,
    )?;
    redis.raw_set("debug", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    redis.raw_set(
        "acl_check_cmd",
        lua.create_function(|_, args: MultiValue| {
            if args.is_empty() {
                return Err(raise(
                    "ERR Please specify at least one argument for this redis lib call",
                ));
            }
            let argv: Vec<Vec<u8>> = args.iter().filter_map(to_bytes).collect();
            let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
            let Ok((id, cmd)) = crate::commands::dispatch::resolve(&refs) else {
                return Err(raise("ERR Invalid command passed to redis.acl_check_cmd()"));
            };
            Ok(crate::scripting::engine::acl_allows(id, cmd, &refs))
        })?,
    )?;
    for (name, v) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
        ("REDIS_VERSION_NUM", 0x07_00_0f),
    ] {
        redis.raw_set(name, v)?;
    }
    redis.raw_set("REDIS_VERSION", "7.0.15")?;
    Ok(())
}
