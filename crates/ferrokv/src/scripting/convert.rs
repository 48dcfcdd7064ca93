//! A finished script's result as a RESP reply, as Redis 7.0's `script_lua.c` converts it:
//! the Lua value its protected call returned, or the error it failed with. (The other
//! direction, command replies into Lua values, is in `call.rs`.)
//!
//! These functions read the Lua stack through the C API. They run inside the protected
//! call that ran the script (see `engine::call_script`), so a Lua error raised by an API
//! call (only a memory error can be: strings are read in place, numbers as numbers) returns
//! to that protected call; they hold no Rust value that needs dropping across an API call.

use std::cell::RefCell;
use std::ffi::c_int;

use mlua::ffi::{self, lua_State};
use resp::ReplyWriter;

/// Nesting limit (Redis fails on Lua stack exhaustion instead).
const MAX_DEPTH: usize = 1000;

/// The errors in a script's reply (or its failure), for INFO errorstats and commandstats:
/// Redis counts an error once, where it arose.
#[derive(Debug, Default)]
pub(super) struct ReplyErrors {
    /// Texts not counted yet: errors the script made itself (`redis.error_reply`,
    /// `{err=...}`), counted when the reply is sent.
    pub fresh: Vec<String>,
    /// Errors counted already, when the command the script called failed or was refused
    /// (their tables carry [`super::call::COUNTED_MARK`]).
    pub counted: usize,
}

impl ReplyErrors {
    /// Whether the reply holds any error (the script's command then counts as failed).
    pub fn any(&self) -> bool {
        self.counted > 0 || !self.fresh.is_empty()
    }
}

thread_local! {
    /// What the conversion on this thread found, taken by the script's runner.
    static REPLY_ERRORS: RefCell<ReplyErrors> = RefCell::new(ReplyErrors::default());
}

/// The errors noted since the last call (and forget them).
pub(super) fn take_reply_errors() -> ReplyErrors {
    REPLY_ERRORS.with(|e| std::mem::take(&mut *e.borrow_mut()))
}

fn note_counted_error() {
    REPLY_ERRORS.with(|e| e.borrow_mut().counted += 1);
}

fn note_fresh_error(text: &str) {
    REPLY_ERRORS.with(|e| e.borrow_mut().fresh.push(text.to_string()));
}

/// A Lua number as C's `(long long)` cast does it on x86-64: truncation, and the
/// "integer indefinite" value for NaN and out-of-range numbers.
pub fn number_to_i64(n: f64) -> i64 {
    // 2^63 is exactly representable; every i64 lies in [-2^63, 2^63).
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if !(-TWO_63..TWO_63).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

/// Error and status texts may not contain CR or LF (Redis maps them to spaces).
fn one_line(s: &[u8]) -> String {
    String::from_utf8_lossy(s)
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

/// The bytes of the string at `idx`, if it is a string (numbers are not converted).
///
/// # Safety
/// `idx` must be a valid stack index of `l`; the slice lives while the value stays there.
unsafe fn string_at<'a>(l: *mut lua_State, idx: c_int) -> Option<&'a [u8]> {
    if ffi::lua_type(l, idx) != ffi::LUA_TSTRING {
        return None;
    }
    let mut len = 0usize;
    let ptr = ffi::lua_tolstring(l, idx, &mut len);
    if ptr.is_null() {
        return None;
    }
    // SAFETY: Lua strings are immutable and live while on the stack (caller's duty).
    Some(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// Push `t[name]` (raw) for the table at absolute index `t`.
unsafe fn push_field(l: *mut lua_State, t: c_int, name: &str) {
    ffi::lua_pushlstring(l, name.as_ptr().cast(), name.len());
    ffi::lua_rawget(l, t);
}

/// Write the value at absolute index `idx` as a reply. `script_resp` is the protocol the
/// script chose with `redis.setresp` (booleans differ).
///
/// # Safety
/// Inside a protected call; `idx` an absolute index of a value on the stack.
pub(super) unsafe fn write_value(
    l: *mut lua_State,
    idx: c_int,
    out: &mut ReplyWriter,
    script_resp: u8,
    depth: usize,
) {
    // Each level pushes at most four values (a table field, or a map's field, key and
    // value, or a verbatim string's field and its two parts); nested values check again.
    if depth > MAX_DEPTH || ffi::lua_checkstack(l, 6) == 0 {
        out.error("ERR reached lua stack limit");
        return;
    }
    match ffi::lua_type(l, idx) {
        ffi::LUA_TSTRING => out.bulk(string_at(l, idx).unwrap_or_default()),
        ffi::LUA_TBOOLEAN => {
            let b = ffi::lua_toboolean(l, idx) != 0;
            if script_resp == 2 {
                if b {
                    out.int(1);
                } else {
                    out.null();
                }
            } else {
                out.boolean(b);
            }
        }
        ffi::LUA_TNUMBER => out.int(number_to_i64(ffi::lua_tonumber(l, idx))),
        ffi::LUA_TTABLE => write_table(l, idx, out, script_resp, depth),
        _ => out.null(),
    }
}

/// A table: an error, status, double, big number or verbatim string table, a map or set
/// table, or else an array (elements 1, 2, ... up to the first nil).
unsafe fn write_table(l: *mut lua_State, t: c_int, out: &mut ReplyWriter, resp: u8, depth: usize) {
    let top = ffi::lua_gettop(l);
    if write_special(l, t, out, resp, depth) {
        ffi::lua_settop(l, top);
        return;
    }
    ffi::lua_settop(l, top);
    let mut len: c_int = 0;
    loop {
        ffi::lua_rawgeti_(l, t, len + 1);
        let nil = ffi::lua_type(l, -1) == ffi::LUA_TNIL;
        ffi::lua_settop(l, -2);
        if nil || len == c_int::MAX {
            break;
        }
        len += 1;
    }
    out.array(len as usize);
    for i in 1..=len {
        ffi::lua_rawgeti_(l, t, i);
        write_value(l, ffi::lua_gettop(l), out, resp, depth + 1);
        ffi::lua_settop(l, -2);
    }
}

/// The one-field tables Redis gives a meaning, checked in Redis's order. Leaves values on
/// the stack (the caller restores its top); false when `t` is none of them.
unsafe fn write_special(
    l: *mut lua_State,
    t: c_int,
    out: &mut ReplyWriter,
    resp: u8,
    depth: usize,
) -> bool {
    // Each field is popped again when it is not the one looked for, so that the stack
    // holds at most one field at a time (plus what a match needs).
    push_field(l, t, "err");
    if ffi::lua_type(l, -1) == ffi::LUA_TSTRING {
        // The Lua call first: no Rust value with a destructor is live across it.
        push_field(l, t, super::call::COUNTED_MARK);
        let counted = ffi::lua_toboolean(l, -1) != 0;
        let text = one_line(string_at(l, -2).unwrap_or_default());
        if counted {
            note_counted_error();
        } else {
            note_fresh_error(&text);
        }
        out.error(&text);
        return true;
    }
    ffi::lua_settop(l, -2);
    push_field(l, t, "ok");
    if let Some(s) = string_at(l, -1) {
        out.simple(&one_line(s));
        return true;
    }
    ffi::lua_settop(l, -2);
    push_field(l, t, "double");
    if ffi::lua_type(l, -1) == ffi::LUA_TNUMBER {
        out.double(ffi::lua_tonumber(l, -1));
        return true;
    }
    ffi::lua_settop(l, -2);
    push_field(l, t, "big_number");
    if let Some(s) = string_at(l, -1) {
        out.big_number(&one_line(s));
        return true;
    }
    ffi::lua_settop(l, -2);
    push_field(l, t, "verbatim_string");
    if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
        let vt = ffi::lua_gettop(l);
        push_field(l, vt, "format");
        push_field(l, vt, "string");
        if let (Some(f), Some(s)) = (string_at(l, -2), string_at(l, -1)) {
            out.verbatim(s, &String::from_utf8_lossy(f));
            return true;
        }
        ffi::lua_settop(l, vt);
    }
    ffi::lua_settop(l, -2);
    push_field(l, t, "map");
    if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
        let m = ffi::lua_gettop(l);
        out.map(pair_count(l, m));
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, m) != 0 {
            let top = ffi::lua_gettop(l);
            write_value(l, top - 1, out, resp, depth + 1);
            write_value(l, top, out, resp, depth + 1);
            ffi::lua_settop(l, top - 1);
        }
        return true;
    }
    ffi::lua_settop(l, -2);
    push_field(l, t, "set");
    if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
        let s = ffi::lua_gettop(l);
        out.set(pair_count(l, s));
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, s) != 0 {
            let top = ffi::lua_gettop(l);
            write_value(l, top - 1, out, resp, depth + 1);
            ffi::lua_settop(l, top - 1);
        }
        return true;
    }
    false
}

/// Number of key/value pairs of the table at absolute index `t`.
unsafe fn pair_count(l: *mut lua_State, t: c_int) -> usize {
    let mut n = 0;
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, t) != 0 {
        ffi::lua_settop(l, -2);
        n += 1;
    }
    n
}

/// The error reply of a failed script from the error value at absolute index `idx`: the
/// error's text, and where it was raised (`name` is the script's SHA1 or the function).
///
/// # Safety
/// Inside a protected call; `idx` an absolute index of a value on the stack.
pub(super) unsafe fn failure_text(l: *mut lua_State, idx: c_int, name: &str) -> String {
    match ffi::lua_type(l, idx) {
        ffi::LUA_TTABLE => {
            ffi::lua_checkstack(l, 4);
            let top = ffi::lua_gettop(l);
            // Every Lua call first (a number converts to a string in place, which may
            // allocate), then the text from the values left on the stack.
            push_field(l, idx, "err");
            push_field(l, idx, "source");
            push_field(l, idx, "line");
            push_field(l, idx, super::call::COUNTED_MARK);
            if ffi::lua_toboolean(l, top + 4) != 0 {
                note_counted_error();
            }
            let (err, source) = (top + 1, top + 2);
            for at in [err, source] {
                if ffi::lua_type(l, at) == ffi::LUA_TNUMBER {
                    ffi::lua_tolstring(l, at, std::ptr::null_mut());
                }
            }
            let line = match ffi::lua_type(l, top + 3) {
                ffi::LUA_TNUMBER => Some(number_to_i64(ffi::lua_tonumber(l, top + 3))),
                _ => None,
            };
            let text = error_location_text(string_at(l, err), string_at(l, source), line, name);
            ffi::lua_settop(l, top);
            text
        }
        ffi::LUA_TSTRING => format!(
            "ERR Error running script {}, {:.100}",
            name,
            String::from_utf8_lossy(string_at(l, idx).unwrap_or_default())
        ),
        _ => format!("ERR Error running script {}, execution failure", name),
    }
}

/// "msg script: name, on source:line." (or the message alone without a location).
fn error_location_text(
    err: Option<&[u8]>,
    source: Option<&[u8]>,
    line: Option<i64>,
    name: &str,
) -> String {
    let msg = err
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .unwrap_or_else(|| "ERR unknown error".into());
    let msg = msg.strip_prefix('-').unwrap_or(&msg);
    match (source, line) {
        (Some(s), Some(l)) => format!(
            "{} script: {}, on {}:{}.",
            msg,
            name,
            String::from_utf8_lossy(s),
            l
        ),
        _ => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::Lua;

    /// The reply `write_value` gives the value `expr` evaluates to.
    fn reply(expr: &str, resp: u8) -> Vec<u8> {
        let lua = Lua::new();
        let f = lua
            .load(format!("return {expr}"))
            .into_function()
            .expect("chunk");
        let mut out = ReplyWriter {
            buf: Vec::new(),
            resp3: resp == 3,
        };
        let out_ref = &mut out;
        // SAFETY: inside exec_raw's protected call; the value is at index 1 after the call.
        unsafe {
            lua.exec_raw::<()>(f, |l| {
                ffi::lua_call(l, 0, 1);
                write_value(l, 1, out_ref, resp, 0);
            })
        }
        .expect("exec");
        out.buf
    }

    #[test]
    fn values_convert_as_redis_replies() {
        assert_eq!(reply("'abc'", 2), b"$3\r\nabc\r\n");
        assert_eq!(reply("3.9", 2), b":3\r\n");
        assert_eq!(reply("true", 2), b":1\r\n");
        assert_eq!(reply("false", 2), b"$-1\r\n");
        assert_eq!(reply("false", 3), b"#f\r\n");
        assert_eq!(reply("nil", 2), b"$-1\r\n");
        assert_eq!(
            reply("{1, 'a', {2}}", 2),
            b"*3\r\n:1\r\n$1\r\na\r\n*1\r\n:2\r\n"
        );
        assert_eq!(reply("{1, nil, 3}", 2), b"*1\r\n:1\r\n");
        assert_eq!(reply("{err='x\\ny'}", 2), b"-x y\r\n");
        assert_eq!(reply("{ok='fine'}", 2), b"+fine\r\n");
        assert_eq!(reply("{map={a=1}}", 3), b"%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(reply("{set={a=true}}", 3), b"~1\r\n$1\r\na\r\n");
        assert_eq!(reply("{double=1.5}", 3), b",1.5\r\n");
        assert_eq!(
            reply("{verbatim_string={format='txt', string='hi'}}", 3),
            b"=6\r\ntxt:hi\r\n"
        );
        // Numbers as map keys are read as numbers (converting them in place would break
        // the traversal).
        assert_eq!(reply("{map={[1]='x'}}", 3), b"%1\r\n:1\r\n$1\r\nx\r\n");
    }

    #[test]
    fn deep_nesting_stops_at_the_limit() {
        let lua = Lua::new();
        let deep: mlua::Function = lua
            .load("local t = 1 for i = 1, 1100 do t = {t} end return t")
            .into_function()
            .expect("chunk");
        let mut out = ReplyWriter {
            buf: Vec::new(),
            resp3: false,
        };
        let out_ref = &mut out;
        // SAFETY: as in `reply`.
        unsafe {
            lua.exec_raw::<()>(deep, |l| {
                ffi::lua_call(l, 0, 1);
                write_value(l, 1, out_ref, 2, 0);
            })
        }
        .expect("exec");
        assert!(out.buf.ends_with(b"-ERR reached lua stack limit\r\n"));
    }

    #[test]
    fn failures_name_the_script_and_the_location() {
        assert_eq!(
            error_location_text(Some(b"-ERR boom"), Some(b"@user_script"), Some(3), "abc"),
            "ERR boom script: abc, on @user_script:3."
        );
        assert_eq!(
            error_location_text(None, None, None, "abc"),
            "ERR unknown error"
        );
    }
}
