//! Conversion of a script's Lua return value into a RESP reply, as Redis 7.0's
//! `script_lua.c` does it. (The other direction, command replies into Lua values, is in
//! `call.rs`, on `redis.call`'s raw path.)

use mlua::{Table, Value};
use resp::ReplyWriter;

/// Nesting limit for both directions (Redis fails on Lua stack exhaustion instead).
const MAX_DEPTH: usize = 1000;

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
