//! `redis.call` and `redis.pcall` as plain Lua C functions.
//!
//! They are the hot path of every script, so they bypass mlua's callback machinery (a
//! protected call per API operation, reference bookkeeping, `MultiValue` vectors) and work
//! in two phases that keep Lua's `longjmp` errors away from Rust values:
//!
//! 1. Rust only: read the arguments off the Lua stack (no Lua allocation: strings are
//!    borrowed in place, numbers formatted into Rust buffers), run the command, and keep
//!    its reply bytes (or the error text) in a Rust value.
//! 2. Lua only: one protected call of [`convert_outcome`] (a C function stored as the
//!    closure's upvalue, so no closure is allocated per call) turns the reply into Lua
//!    values. Every Lua allocation happens inside that protected call, so a memory error
//!    returns to phase 2 instead of jumping over Rust frames. The Rust value is dropped,
//!    and only then is an error raised with `lua_error` (for `redis.call`'s error replies
//!    and for a failed conversion): nothing that needs dropping is live at that point.

use std::ffi::{c_int, c_void};

use mlua::ffi::{self, lua_State};
use smallvec::SmallVec;

/// Nesting limit for replies (Redis fails on Lua stack exhaustion instead).
const MAX_DEPTH: usize = 1000;

/// What a command left for the conversion phase.
pub(super) enum Outcome {
    /// The command's reply, in the script's protocol.
    Reply(Vec<u8>),
    /// An error text with its code (a command's error reply, normalized as Redis does, or
    /// an error raised before the command ran), and whether it was already counted in
    /// INFO errorstats (every error of a command the script called or tried to call: the
    /// table then says so, and the script's reply does not count it again).
    Error(Vec<u8>, bool),
}

/// Build the `redis.call` (`raise` true) or `redis.pcall` C closure on the stack top of `l`,
/// with [`convert_outcome`] as its upvalue.
///
/// # Safety
/// `l` must be a valid Lua state with room for two values, inside a protected call
/// (`lua_pushcclosure` allocates).
pub(super) unsafe fn push_call_function(l: *mut lua_State, raise: bool) {
    ffi::lua_pushcfunction(l, convert_outcome);
    let f: ffi::lua_CFunction = if raise { redis_call } else { redis_pcall };
    ffi::lua_pushcclosure(l, f, 1);
}

/// `redis.call`: the command's reply, or its error raised as `{err=...}`.
unsafe extern "C-unwind" fn redis_call(l: *mut lua_State) -> c_int {
    call_from_lua(l, true)
}

/// `redis.pcall`: the command's reply, or its error returned as `{err=...}`.
unsafe extern "C-unwind" fn redis_pcall(l: *mut lua_State) -> c_int {
    call_from_lua(l, false)
}

/// The two phases (see the module documentation).
///
/// # Safety
/// Called by Lua as a C closure built by [`push_call_function`].
unsafe fn call_from_lua(l: *mut lua_State, raise: bool) -> c_int {
    // Phase 1: Rust only. A panic is caught here: it must not unwind into Lua's C frames.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: `l` is the state Lua called us with; the arguments are on its stack.
        unsafe { command_outcome(l) }
    }))
    .unwrap_or_else(|_| {
        tracing::error!("a command called from a script panicked");
        Outcome::Error(b"ERR internal error: the command failed".to_vec(), false)
    });
    // Phase 2: convert in a protected call. Lua gives a C function LUA_MINSTACK (20) free
    // slots, so these two pushes need no check (and do not allocate).
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    ffi::lua_pushlightuserdata(l, std::ptr::from_ref(&outcome).cast_mut().cast::<c_void>());
    let status = ffi::lua_pcall(l, 1, 2, 0);
    drop(outcome);
    if status != 0 {
        // A memory error while converting: its message is on the stack.
        ffi::lua_error(l);
    }
    let is_error = ffi::lua_toboolean(l, -1) != 0;
    ffi::lua_settop(l, -2);
    if raise && is_error {
        // Nothing with a destructor is live in this frame any more.
        ffi::lua_error(l);
    }
    1
}

/// Phase 1: run the command named by the Lua arguments of `l` for the running script.
///
/// # Safety
/// `l` must be the state of a running C function call (its arguments at 1..=top).
unsafe fn command_outcome(l: *mut lua_State) -> Outcome {
    let argc = ffi::lua_gettop(l);
    if argc <= 0 {
        return error(b"ERR Please specify at least one argument for this redis lib call");
    }
    // Numbers become text as mlua presents them: integral values in i64 range as
    // integers, the rest as Redis formats doubles.
    let mut numbers: SmallVec<[(c_int, Vec<u8>); 2]> = SmallVec::new();
    for i in 1..=argc {
        match ffi::lua_type(l, i) {
            ffi::LUA_TSTRING => {}
            ffi::LUA_TNUMBER => numbers.push((i, number_text(ffi::lua_tonumber(l, i)))),
            _ => return error(b"ERR Lua redis lib command arguments must be strings or integers"),
        }
    }
    let mut argv: SmallVec<[&[u8]; 8]> = SmallVec::with_capacity(argc as usize);
    for i in 1..=argc {
        if let Some((_, text)) = numbers.iter().find(|(at, _)| *at == i) {
            argv.push(text.as_slice());
            continue;
        }
        let mut len = 0usize;
        let ptr = ffi::lua_tolstring(l, i, &mut len);
        if ptr.is_null() {
            return error(b"ERR Lua redis lib command arguments must be strings or integers");
        }
        // SAFETY: a string value's bytes stay valid while the value is on the stack, and
        // the arguments stay there until this C function returns (after `argv` is gone).
        argv.push(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) });
    }
    match super::engine::run_script_command(&argv) {
        Ok(reply) if reply.starts_with(b"-") => {
            Outcome::Error(super::engine::normalize_error(&reply), true)
        }
        Ok(reply) => Outcome::Reply(reply),
        Err(text) => Outcome::Error(text.into_bytes(), true),
    }
}

/// An error raised before any command was looked up (not counted until the script's reply).
fn error(text: &[u8]) -> Outcome {
    Outcome::Error(text.to_vec(), false)
}

/// A Lua number as a command argument.
fn number_text(n: f64) -> Vec<u8> {
    // mlua's rule for Lua 5.1: a number within i64 range that differs from its truncation
    // by less than EPSILON is an integer.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if (-TWO_63..TWO_63).contains(&n) {
        let i = n as i64;
        if (n - i as f64).abs() < f64::EPSILON {
            return i.to_string().into_bytes();
        }
    }
    resp::format_double(n).into_bytes()
}

/// Phase 2, called through `lua_pcall` with the phase-1 [`Outcome`] as a light userdata:
/// returns the Lua value and whether it is an error.
unsafe extern "C-unwind" fn convert_outcome(l: *mut lua_State) -> c_int {
    let outcome = ffi::lua_touserdata(l, 1).cast::<Outcome>().cast_const();
    // SAFETY: `call_from_lua` passes a pointer to its `Outcome`, which lives until
    // `lua_pcall` returns; nothing else points to it.
    let Some(outcome) = (unsafe { outcome.as_ref() }) else {
        return 0;
    };
    match outcome {
        Outcome::Error(text, counted) => {
            push_error_table(l, text, *counted);
            ffi::lua_pushboolean(l, 1);
        }
        Outcome::Reply(reply) => {
            let mut pos = 0;
            if push_reply(l, reply, &mut pos, 0).is_err() {
                ffi::lua_settop(l, 1);
                push_error_table(l, b"ERR internal error: malformed reply", false);
                ffi::lua_pushboolean(l, 1);
            } else {
                ffi::lua_pushboolean(l, 0);
            }
        }
    }
    2
}

/// A reply that does not parse (never written by ferrokv's reply writer).
struct Malformed;

/// Redis's mark on an error table whose error was already counted in INFO errorstats.
pub(super) const COUNTED_MARK: &str = "ignore_error_stats_update";

/// `{err = text}`, with [`COUNTED_MARK`] when `counted`.
unsafe fn push_error_table(l: *mut lua_State, text: &[u8], counted: bool) {
    push_one_field(l, "err", |l| push_bytes(l, text));
    if counted {
        push_bytes(l, COUNTED_MARK.as_bytes());
        ffi::lua_pushboolean(l, 1);
        ffi::lua_rawset(l, -3);
    }
}

unsafe fn push_bytes(l: *mut lua_State, bytes: &[u8]) {
    ffi::lua_pushlstring(l, bytes.as_ptr().cast(), bytes.len());
}

/// A table with one field `name`, whose value `push_value` pushes.
unsafe fn push_one_field(l: *mut lua_State, name: &str, push_value: impl FnOnce(*mut lua_State)) {
    ffi::lua_createtable(l, 0, 1);
    push_bytes(l, name.as_bytes());
    push_value(l);
    ffi::lua_rawset(l, -3);
}

/// The line after the type byte at `*pos`, without CRLF.
fn line<'b>(buf: &'b [u8], pos: &mut usize) -> Result<&'b [u8], Malformed> {
    let rest = buf.get(*pos..).ok_or(Malformed)?;
    let end = rest
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or(Malformed)?;
    *pos += end + 2;
    rest.get(..end).ok_or(Malformed)
}

fn int_of(s: &[u8]) -> Result<i64, Malformed> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(Malformed)
}

fn bulk<'b>(buf: &'b [u8], pos: &mut usize, len: i64) -> Result<&'b [u8], Malformed> {
    let len = usize::try_from(len).map_err(|_| Malformed)?;
    let end = pos.checked_add(len).ok_or(Malformed)?;
    let data = buf.get(*pos..end).ok_or(Malformed)?;
    *pos = end.saturating_add(2);
    Ok(data)
}

fn parse_double(s: &[u8]) -> f64 {
    match s {
        b"inf" => f64::INFINITY,
        b"-inf" => f64::NEG_INFINITY,
        b"nan" | b"-nan" => f64::NAN,
        _ => std::str::from_utf8(s)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0),
    }
}

/// Push the RESP reply at `*pos` as the Lua value Redis 7.0 gives scripts: statuses and
/// errors as `{ok=...}`/`{err=...}`, nulls as `false` (RESP2) or `nil` (RESP3 null),
/// RESP3 maps, sets, doubles, big numbers and verbatim strings as one-field tables.
///
/// # Safety
/// `l` must be inside a protected call (pushes allocate).
unsafe fn push_reply(
    l: *mut lua_State,
    buf: &[u8],
    pos: &mut usize,
    depth: usize,
) -> Result<(), Malformed> {
    // Each level pushes at most five values (a verbatim string: the outer table, its key,
    // the inner table, a key and a value; a set or map: the outer table, its key, the
    // inner table, a key and a value); nested values check again at their own level.
    if depth > MAX_DEPTH || ffi::lua_checkstack(l, 6) == 0 {
        return Err(Malformed);
    }
    let ty = *buf.get(*pos).ok_or(Malformed)?;
    *pos += 1;
    let l_text = line(buf, pos)?;
    match ty {
        b'+' => push_one_field(l, "ok", |l| push_bytes(l, l_text)),
        // A command's error (counted when the command ran).
        b'-' => push_error_table(l, l_text, true),
        b':' => ffi::lua_pushnumber(l, int_of(l_text)? as f64),
        b'$' => {
            let n = int_of(l_text)?;
            if n < 0 {
                ffi::lua_pushboolean(l, 0);
            } else {
                push_bytes(l, bulk(buf, pos, n)?);
            }
        }
        b'*' => {
            let n = int_of(l_text)?;
            if n < 0 {
                ffi::lua_pushboolean(l, 0);
                return Ok(());
            }
            ffi::lua_createtable(l, c_int::try_from(n).unwrap_or(0), 0);
            for i in 0..n {
                push_reply(l, buf, pos, depth + 1)?;
                ffi::lua_rawseti_(l, -2, c_int::try_from(i + 1).map_err(|_| Malformed)?);
            }
        }
        b'~' => {
            let n = int_of(l_text)?;
            if n < 0 {
                ffi::lua_pushboolean(l, 0);
                return Ok(());
            }
            ffi::lua_createtable(l, 0, 1);
            push_bytes(l, b"set");
            ffi::lua_createtable(l, 0, c_int::try_from(n).unwrap_or(0));
            for _ in 0..n {
                push_reply(l, buf, pos, depth + 1)?;
                ffi::lua_pushboolean(l, 1);
                ffi::lua_rawset(l, -3);
            }
            ffi::lua_rawset(l, -3);
        }
        b'%' => {
            let n = int_of(l_text)?.max(0);
            ffi::lua_createtable(l, 0, 1);
            push_bytes(l, b"map");
            ffi::lua_createtable(l, 0, c_int::try_from(n).unwrap_or(0));
            for _ in 0..n {
                push_reply(l, buf, pos, depth + 1)?;
                push_reply(l, buf, pos, depth + 1)?;
                ffi::lua_rawset(l, -3);
            }
            ffi::lua_rawset(l, -3);
        }
        b'|' => {
            // Attributes are not exposed to scripts (as in Redis 7.0): skip the pairs and
            // convert the reply they annotate.
            let n = int_of(l_text)?.max(0);
            for _ in 0..n.saturating_mul(2) {
                push_reply(l, buf, pos, depth + 1)?;
                ffi::lua_settop(l, -2);
            }
            return push_reply(l, buf, pos, depth + 1);
        }
        b'_' => ffi::lua_pushnil(l),
        b'#' => ffi::lua_pushboolean(l, c_int::from(l_text == b"t")),
        b',' => {
            let d = parse_double(l_text);
            push_one_field(l, "double", |l| ffi::lua_pushnumber(l, d));
        }
        b'(' => push_one_field(l, "big_number", |l| push_bytes(l, l_text)),
        b'=' => {
            let n = int_of(l_text)?;
            let data = bulk(buf, pos, n)?;
            let (format, text) = match data.get(3) {
                Some(b':') => data.split_at(3),
                _ => (&b"txt"[..], data),
            };
            let text = text.strip_prefix(b":").unwrap_or(text);
            push_one_field(l, "verbatim_string", |l| {
                ffi::lua_createtable(l, 0, 2);
                push_bytes(l, b"format");
                push_bytes(l, format);
                ffi::lua_rawset(l, -3);
                push_bytes(l, b"string");
                push_bytes(l, text);
                ffi::lua_rawset(l, -3);
            });
        }
        _ => return Err(Malformed),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::{Lua, Table, Value};

    /// A bare VM with `rcall` (redis.call) and `rpcall` (redis.pcall) as globals.
    fn vm() -> Lua {
        let lua = Lua::new();
        for (name, raise) in [("rcall", true), ("rpcall", false)] {
            // SAFETY: inside exec_raw's protected call, which leaves the closure as result.
            let f: mlua::Function = unsafe {
                lua.exec_raw((), |l| push_call_function(l, raise))
                    .expect("closure")
            };
            lua.globals().set(name, f).expect("set");
        }
        lua
    }

    /// Convert `reply` as `redis.call` would, returning (value, is_error).
    fn convert(lua: &Lua, reply: &[u8]) -> (Value, bool) {
        let outcome = Outcome::Reply(reply.to_vec());
        let ptr = std::ptr::from_ref(&outcome).cast_mut().cast::<c_void>();
        // SAFETY: the converter runs in a protected call with the pointer to `outcome`,
        // which outlives it.
        unsafe {
            lua.exec_raw::<(Value, bool)>((), |l| {
                ffi::lua_pushcfunction(l, convert_outcome);
                ffi::lua_pushlightuserdata(l, ptr);
                ffi::lua_call(l, 1, 2);
            })
        }
        .expect("convert")
    }

    fn field(v: &Value, name: &str) -> Value {
        match v {
            Value::Table(t) => t.raw_get(name).expect("field"),
            other => panic!("not a table: {other:?}"),
        }
    }

    #[test]
    fn outside_a_script_call_raises_and_pcall_returns_the_error_table() {
        let lua = vm();
        let raised: Table = lua
            .load("local ok, e = pcall(rcall, 'ping'); assert(not ok); return e")
            .eval()
            .expect("eval");
        let err: String = raised.get("err").expect("err");
        assert_eq!(
            err,
            "ERR redis.call/pcall can only be called inside a script invocation"
        );
        let returned: Table = lua.load("return rpcall('ping')").eval().expect("rpcall");
        let err: String = returned.get("err").expect("err");
        assert!(err.starts_with("ERR redis.call/pcall"), "{err}");
    }

    #[test]
    fn arguments_other_than_strings_and_numbers_are_refused_before_running() {
        let lua = vm();
        let t: Table = lua.load("return rpcall('get', {})").eval().expect("eval");
        let err: String = t.get("err").expect("err");
        assert_eq!(
            err,
            "ERR Lua redis lib command arguments must be strings or integers"
        );
        let t: Table = lua.load("return rpcall()").eval().expect("eval");
        let err: String = t.get("err").expect("err");
        assert_eq!(
            err,
            "ERR Please specify at least one argument for this redis lib call"
        );
    }

    #[test]
    fn a_memory_error_while_converting_is_a_lua_error_not_a_crash() {
        let lua = vm();
        let f: mlua::Function = lua.globals().get("rpcall").expect("rpcall");
        // Room for nothing more: the error table cannot be allocated.
        lua.set_memory_limit(lua.used_memory() + 16).expect("limit");
        let r = f.call::<Value>("ping");
        assert!(r.is_err(), "expected a memory error, got {r:?}");
        lua.set_memory_limit(0).expect("limit");
        // The VM still works afterwards, and the stack is balanced.
        let t: Table = f.call("ping").expect("call");
        assert!(t.contains_key("err").expect("err"));
    }

    #[test]
    fn replies_convert_as_redis_gives_them_to_scripts() {
        let lua = vm();
        let (v, e) = convert(&lua, b"$3\r\nabc\r\n");
        assert!(!e);
        assert_eq!(v.as_str().map(|s| s.to_string()), Some("abc".into()));
        assert_eq!(convert(&lua, b"$-1\r\n").0, Value::Boolean(false));
        assert_eq!(convert(&lua, b"*-1\r\n").0, Value::Boolean(false));
        assert_eq!(convert(&lua, b"_\r\n").0, Value::Nil);
        assert_eq!(convert(&lua, b"#t\r\n").0, Value::Boolean(true));
        assert_eq!(convert(&lua, b":-7\r\n").0, Value::Integer(-7));
        let ok = convert(&lua, b"+OK\r\n").0;
        assert_eq!(
            field(&ok, "ok").as_str().map(|s| s.to_string()),
            Some("OK".into())
        );
        let nested_err = convert(&lua, b"*2\r\n-ERR x\r\n:1\r\n").0;
        let Value::Table(t) = &nested_err else {
            panic!("array expected")
        };
        let first: Value = t.raw_get(1).expect("1");
        assert_eq!(
            field(&first, "err").as_str().map(|s| s.to_string()),
            Some("ERR x".into())
        );
        // A command's error was counted when it ran: the table says so, as Redis's does.
        assert_eq!(field(&first, COUNTED_MARK), Value::Boolean(true));
        assert_eq!(t.raw_get::<i64>(2).expect("2"), 1);
        let map = convert(&lua, b"%1\r\n$1\r\nk\r\n,1.5\r\n").0;
        let inner = field(&map, "map");
        let d = match &inner {
            Value::Table(m) => m.raw_get::<Value>("k").expect("k"),
            _ => panic!("map"),
        };
        assert_eq!(field(&d, "double"), Value::Number(1.5));
        let set = convert(&lua, b"~1\r\n$1\r\na\r\n").0;
        match field(&set, "set") {
            Value::Table(s) => assert!(s.raw_get::<bool>("a").expect("a")),
            other => panic!("set: {other:?}"),
        }
        let verbatim = convert(&lua, b"=8\r\ntxt:abcd\r\n").0;
        let vt = field(&verbatim, "verbatim_string");
        assert_eq!(
            field(&vt, "string").as_str().map(|s| s.to_string()),
            Some("abcd".into())
        );
        // Attributes are skipped.
        assert_eq!(
            convert(&lua, b"|1\r\n+a\r\n+b\r\n:5\r\n").0,
            Value::Integer(5)
        );
        // A malformed reply is an error, never a crash.
        let (bad, is_err) = convert(&lua, b"*3\r\n:1\r\n");
        assert!(is_err);
        assert_eq!(
            field(&bad, "err").as_str().map(|s| s.to_string()),
            Some("ERR internal error: malformed reply".into())
        );
        // Deep nesting stops at the limit instead of exhausting the stack.
        let deep = "*1\r\n".repeat(MAX_DEPTH + 5) + ":1\r\n";
        assert!(convert(&lua, deep.as_bytes()).1);
    }

    #[test]
    fn numbers_become_arguments_as_mlua_presented_them() {
        assert_eq!(number_text(3.0), b"3");
        assert_eq!(number_text(-0.0), b"0");
        assert_eq!(number_text(1.5), resp::format_double(1.5).into_bytes());
        assert_eq!(number_text(1e300), resp::format_double(1e300).into_bytes());
    }
}
