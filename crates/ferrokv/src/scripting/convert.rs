//! Conversions between RESP replies and Lua values, as Redis 7.0's `script_lua.c` does them.
//!
//! Command replies reach scripts as the bytes a command wrote (in the script's protocol,
//! `redis.setresp`), parsed here into Lua values; a script's return value is written to
//! the caller's reply writer.

use mlua::{Lua, Table, Value};
use resp::ReplyWriter;

/// Nesting limit for both directions (Redis fails on Lua stack exhaustion instead).
const MAX_DEPTH: usize = 1000;

/// Parse one RESP reply at the start of `buf` into a Lua value. Returns the value and the
/// bytes consumed. Errors become `{err=...}`, statuses `{ok=...}`.
pub fn reply_to_lua(lua: &Lua, buf: &[u8]) -> mlua::Result<Value> {
    let mut pos = 0;
    parse(lua, buf, &mut pos, 0)
}

fn malformed() -> mlua::Error {
    mlua::Error::RuntimeError("ERR internal error: malformed reply".into())
}

/// The line starting at `*pos` (after its type byte), without CRLF.
fn line<'b>(buf: &'b [u8], pos: &mut usize) -> mlua::Result<&'b [u8]> {
    let rest = buf.get(*pos..).ok_or_else(malformed)?;
    let end = rest
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or_else(malformed)?;
    *pos += end + 2;
    Ok(&rest[..end])
}

fn int_of(s: &[u8]) -> mlua::Result<i64> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(malformed)
}

fn bulk<'b>(buf: &'b [u8], pos: &mut usize, len: i64) -> mlua::Result<&'b [u8]> {
    let len = usize::try_from(len).map_err(|_| malformed())?;
    let end = pos.checked_add(len).ok_or_else(malformed)?;
    let data = buf.get(*pos..end).ok_or_else(malformed)?;
    *pos = end.saturating_add(2);
    Ok(data)
}

fn one_field(lua: &Lua, name: &str, v: impl mlua::IntoLua) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set(name, v)?;
    Ok(Value::Table(t))
}

fn parse(lua: &Lua, buf: &[u8], pos: &mut usize, depth: usize) -> mlua::Result<Value> {
    if depth > MAX_DEPTH {
        return Err(malformed());
    }
    let ty = *buf.get(*pos).ok_or_else(malformed)?;
    *pos += 1;
    let l = line(buf, pos)?;
    Ok(match ty {
        b'+' => one_field(lua, "ok", lua.create_string(l)?)?,
        b'-' => one_field(lua, "err", lua.create_string(l)?)?,
        b':' => Value::Number(int_of(l)? as f64),
        b'$' => {
            let n = int_of(l)?;
            if n < 0 {
                Value::Boolean(false)
            } else {
                Value::String(lua.create_string(bulk(buf, pos, n)?)?)
            }
        }
        b'*' | b'~' => {
            let n = int_of(l)?;
            if n < 0 {
                return Ok(Value::Boolean(false));
            }
            let t = lua.create_table()?;
            for i in 0..n {
                let v = parse(lua, buf, pos, depth + 1)?;
                if ty == b'*' {
                    t.raw_set(i + 1, v)?;
                } else {
                    t.raw_set(v, true)?;
                }
            }
            if ty == b'*' {
                Value::Table(t)
            } else {
                one_field(lua, "set", t)?
            }
        }
        b'%' => {
            let n = int_of(l)?;
            let t = lua.create_table()?;
            for _ in 0..n.max(0) {
                let k = parse(lua, buf, pos, depth + 1)?;
                let v = parse(lua, buf, pos, depth + 1)?;
                t.raw_set(k, v)?;
            }
            one_field(lua, "map", t)?
        }
        b'|' => {
            // Attributes are not exposed to scripts (as in Redis 7.0): skip the pairs and
            // convert the reply they annotate.
            let n = int_of(l)?;
            for _ in 0..n.max(0) * 2 {
                parse(lua, buf, pos, depth + 1)?;
            }
            return parse(lua, buf, pos, depth + 1);
        }
        b'_' => Value::Nil,
        b'#' => Value::Boolean(l == b"t"),
        b',' => {
            let d = parse_double(l);
            one_field(lua, "double", d)?
        }
        b'(' => one_field(lua, "big_number", lua.create_string(l)?)?,
        b'=' => {
            let n = int_of(l)?;
            let data = bulk(buf, pos, n)?;
            let (format, text) = if data.len() >= 4 && data.get(3) == Some(&b':') {
                data.split_at(3)
            } else {
                (&b"txt"[..], data)
            };
            let text = text.strip_prefix(b":").unwrap_or(text);
            let t = lua.create_table()?;
            t.raw_set("format", lua.create_string(format)?)?;
            t.raw_set("string", lua.create_string(text)?)?;
            one_field(lua, "verbatim_string", t)?
        }
        _ => return Err(malformed()),
    })
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

/// Number of key/value pairs of a table.
fn pair_count(t: &Table) -> mlua::Result<usize> {
    let mut n = 0;
    for pair in t.pairs::<Value, Value>() {
        pair?;
        n += 1;
    }
    Ok(n)
}

/// Write a script's return value (or a value inside it) as a reply. `script_resp` is the
/// protocol the script chose with `redis.setresp` (booleans differ).
pub fn lua_to_reply(
    v: &Value,
    out: &mut ReplyWriter,
    script_resp: u8,
    depth: usize,
) -> mlua::Result<()> {
    if depth > MAX_DEPTH {
        out.error("ERR reached lua stack limit");
        return Ok(());
    }
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if script_resp == 2 {
                if *b {
                    out.int(1);
                } else {
                    out.null();
                }
            } else {
                out.boolean(*b);
            }
        }
        Value::Integer(i) => out.int(*i),
        Value::Number(n) => out.int(number_to_i64(*n)),
        Value::Table(t) => table_to_reply(t, out, script_resp, depth)?,
        _ => out.null(),
    }
    Ok(())
}

fn table_to_reply(t: &Table, out: &mut ReplyWriter, resp: u8, depth: usize) -> mlua::Result<()> {
    if let Value::String(e) = t.raw_get::<Value>("err")? {
        let msg = one_line(&e.as_bytes());
        out.error(&msg);
        return Ok(());
    }
    if let Value::String(s) = t.raw_get::<Value>("ok")? {
        out.simple(&one_line(&s.as_bytes()));
        return Ok(());
    }
    match t.raw_get::<Value>("double")? {
        Value::Number(d) => {
            out.double(d);
            return Ok(());
        }
        Value::Integer(i) => {
            out.double(i as f64);
            return Ok(());
        }
        _ => {}
    }
    if let Value::String(s) = t.raw_get::<Value>("big_number")? {
        out.big_number(&one_line(&s.as_bytes()));
        return Ok(());
    }
    if let Value::Table(vt) = t.raw_get::<Value>("verbatim_string")? {
        if let (Value::String(f), Value::String(s)) = (
            vt.raw_get::<Value>("format")?,
            vt.raw_get::<Value>("string")?,
        ) {
            out.verbatim(&s.as_bytes(), &String::from_utf8_lossy(&f.as_bytes()));
            return Ok(());
        }
    }
    // Aggregates are counted first and then written element by element: holding every
    // element's Lua reference at once would exhaust mlua's reference stack on large ones.
    if let Value::Table(m) = t.raw_get::<Value>("map")? {
        out.map(pair_count(&m)?);
        for pair in m.pairs::<Value, Value>() {
            let (k, v) = pair?;
            lua_to_reply(&k, out, resp, depth + 1)?;
            lua_to_reply(&v, out, resp, depth + 1)?;
        }
        return Ok(());
    }
    if let Value::Table(set) = t.raw_get::<Value>("set")? {
        out.set(pair_count(&set)?);
        for pair in set.pairs::<Value, Value>() {
            let (k, _) = pair?;
            lua_to_reply(&k, out, resp, depth + 1)?;
        }
        return Ok(());
    }
    // An array: elements 1, 2, ... up to the first nil.
    let mut len = 0;
    while !t.raw_get::<Value>(len + 1)?.is_nil() {
        len += 1;
    }
    out.array(len);
    for i in 1..=len {
        lua_to_reply(&t.raw_get::<Value>(i)?, out, resp, depth + 1)?;
    }
    Ok(())
}
