//! `cmsgpack`: MessagePack pack/unpack with lua-cmsgpack's behaviour as bundled by Redis
//! (integers in the smallest encoding, floats as float32 when exact, tables as arrays when
//! their keys are 1..n, nesting past 16 levels encoded as nil).

use mlua::{Lua, MultiValue, Table, Value};

use super::{at, lua_err};

const MAX_NESTING: usize = 16;

/// The `cmsgpack` table.
pub fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            if args.is_empty() {
                return at(
                    lua,
                    Err(lua_err(
                        "bad argument #0 to 'pack' (MessagePack pack needs input.)",
                    )),
                );
            }
            let mut out = Vec::new();
            for v in args.iter() {
                encode(v, &mut out, 0)?;
            }
            Ok(mlua::BString::from(out))
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, s: mlua::String| {
            let bytes = s.as_bytes();
            let mut pos = 0;
            let mut out = Vec::new();
            while pos < bytes.len() {
                out.push(at(lua, decode(lua, &bytes, &mut pos, 0))?);
            }
            Ok(MultiValue::from_iter(out))
        })?,
    )?;
    t.raw_set(
        "unpack_one",
        lua.create_function(|lua, (s, offset): (mlua::String, Option<i64>)| {
            unpack_limit(lua, &s.as_bytes(), 1, offset.unwrap_or(0))
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        lua.create_function(
            |lua, (s, limit, offset): (mlua::String, i64, Option<i64>)| {
                unpack_limit(lua, &s.as_bytes(), limit, offset.unwrap_or(0))
            },
        )?,
    )?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    Ok(t)
}

/// `unpack_one`/`unpack_limit`: the next offset (-1 at the end) followed by the objects.
fn unpack_limit(lua: &Lua, bytes: &[u8], limit: i64, offset: i64) -> mlua::Result<MultiValue> {
    if offset < 0 || limit < 0 {
        return at(
            lua,
            Err(lua_err(format!(
                "Invalid request to unpack with offset of {} and limit of {}.",
                offset, limit
            ))),
        );
    }
    let mut pos = usize::try_from(offset).unwrap_or(usize::MAX);
    if pos > bytes.len() {
        return at(lua, Err(lua_err("Start offset greater than input length.")));
    }
    let mut out = Vec::new();
    let mut n = 0;
    while pos < bytes.len() && (limit == 0 || n < limit) {
        out.push(at(lua, decode(lua, bytes, &mut pos, 0))?);
        n += 1;
    }
    let next = if pos >= bytes.len() { -1 } else { pos as i64 };
    let mut all = vec![Value::Integer(next)];
    all.extend(out);
    Ok(MultiValue::from_iter(all))
}

fn encode_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_number(n: f64, out: &mut Vec<u8>) {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    // lua-cmsgpack: integers when `(long long)n == n`, else float32 when exact.
    if (-TWO_63..TWO_63).contains(&n) && (n as i64) as f64 == n {
        encode_int(n as i64, out);
    } else if (n as f32) as f64 == n || n.is_nan() {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_len(len: usize, fix: u8, fix_max: usize, codes: [u8; 3], out: &mut Vec<u8>) {
    if len < fix_max {
        out.push(fix | len as u8);
    } else if codes[0] != 0 && len <= 0xff {
        out.extend_from_slice(&[codes[0], len as u8]);
    } else if len <= 0xffff {
        out.push(codes[1]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(codes[2]);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// lua-cmsgpack's `table_is_an_array`: keys exactly 1..n.
fn array_len(t: &Table) -> mlua::Result<Option<usize>> {
    let mut max = 0usize;
    let mut count = 0usize;
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair?;
        let n = match k {
            Value::Integer(i) if i >= 1 => i as usize,
            Value::Number(f) if f >= 1.0 && f == f.floor() => f as usize,
            _ => return Ok(None),
        };
        max = max.max(n);
        count += 1;
    }
    Ok((max == count).then_some(max))
}

fn encode(v: &Value, out: &mut Vec<u8>, depth: usize) -> mlua::Result<()> {
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_number(*i as f64, out),
        Value::Number(n) => encode_number(*n, out),
        Value::String(s) => {
            let b = s.as_bytes();
            encode_len(b.len(), 0xa0, 32, [0xd9, 0xda, 0xdb], out);
            out.extend_from_slice(&b);
        }
        Value::Table(t) if depth < MAX_NESTING => match array_len(t)? {
            Some(n) => {
                encode_len(n, 0x90, 16, [0, 0xdc, 0xdd], out);
                for i in 1..=n {
                    encode(&t.raw_get::<Value>(i)?, out, depth + 1)?;
                }
            }
            None => {
                // Counted first, then encoded pair by pair (holding every pair's Lua
                // reference at once would exhaust mlua's reference stack).
                let mut count = 0;
                for pair in t.clone().pairs::<Value, Value>() {
                    pair?;
                    count += 1;
                }
                encode_len(count, 0x80, 16, [0, 0xde, 0xdf], out);
                for pair in t.clone().pairs::<Value, Value>() {
                    let (k, v) = pair?;
                    encode(&k, out, depth + 1)?;
                    encode(&v, out, depth + 1)?;
                }
            }
        },
        _ => out.push(0xc0),
    }
    Ok(())
}

fn take<'a>(b: &'a [u8], pos: &mut usize, n: usize) -> mlua::Result<&'a [u8]> {
    let s = b
        .get(*pos..pos.saturating_add(n))
        .ok_or_else(|| lua_err("Missing bytes in input."))?;
    *pos += n;
    Ok(s)
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |acc, &x| (acc << 8) | x as u64)
}

fn decode(lua: &Lua, b: &[u8], pos: &mut usize, depth: usize) -> mlua::Result<Value> {
    if depth > 1000 {
        return Err(lua_err("Bad data format in input."));
    }
    let ty = take(b, pos, 1)?[0];
    Ok(match ty {
        0x00..=0x7f => Value::Number(ty as f64),
        0xe0..=0xff => Value::Number(ty as i8 as f64),
        0xc0 => Value::Nil,
        0xc2 => Value::Boolean(false),
        0xc3 => Value::Boolean(true),
        0xcc => Value::Number(be(take(b, pos, 1)?) as f64),
        0xcd => Value::Number(be(take(b, pos, 2)?) as f64),
        0xce => Value::Number(be(take(b, pos, 4)?) as f64),
        0xcf => Value::Number(be(take(b, pos, 8)?) as f64),
        0xd0 => Value::Number(be(take(b, pos, 1)?) as u8 as i8 as f64),
        0xd1 => Value::Number(be(take(b, pos, 2)?) as u16 as i16 as f64),
        0xd2 => Value::Number(be(take(b, pos, 4)?) as u32 as i32 as f64),
        0xd3 => Value::Number(be(take(b, pos, 8)?) as i64 as f64),
        0xca => Value::Number(f32::from_bits(be(take(b, pos, 4)?) as u32) as f64),
        0xcb => Value::Number(f64::from_bits(be(take(b, pos, 8)?))),
        0xa0..=0xbf => string(lua, b, pos, (ty & 0x1f) as usize)?,
        0xd9 | 0xc4 => {
            let n = be(take(b, pos, 1)?) as usize;
            string(lua, b, pos, n)?
        }
        0xda | 0xc5 => {
            let n = be(take(b, pos, 2)?) as usize;
            string(lua, b, pos, n)?
        }
        0xdb | 0xc6 => {
            let n = be(take(b, pos, 4)?) as usize;
            string(lua, b, pos, n)?
        }
        0x90..=0x9f => array(lua, b, pos, (ty & 0x0f) as usize, depth)?,
        0xdc => {
            let n = be(take(b, pos, 2)?) as usize;
            array(lua, b, pos, n, depth)?
        }
        0xdd => {
            let n = be(take(b, pos, 4)?) as usize;
            array(lua, b, pos, n, depth)?
        }
        0x80..=0x8f => map(lua, b, pos, (ty & 0x0f) as usize, depth)?,
        0xde => {
            let n = be(take(b, pos, 2)?) as usize;
            map(lua, b, pos, n, depth)?
        }
        0xdf => {
            let n = be(take(b, pos, 4)?) as usize;
            map(lua, b, pos, n, depth)?
        }
        _ => return Err(lua_err("Bad data format in input.")),
    })
}

fn string(lua: &Lua, b: &[u8], pos: &mut usize, n: usize) -> mlua::Result<Value> {
    Ok(Value::String(lua.create_string(take(b, pos, n)?)?))
}

fn array(lua: &Lua, b: &[u8], pos: &mut usize, n: usize, depth: usize) -> mlua::Result<Value> {
    if n > b.len().saturating_sub(*pos) {
        return Err(lua_err("Missing bytes in input."));
    }
    let t = lua.create_table()?;
    for i in 1..=n {
        t.raw_set(i, decode(lua, b, pos, depth + 1)?)?;
    }
    Ok(Value::Table(t))
}

fn map(lua: &Lua, b: &[u8], pos: &mut usize, n: usize, depth: usize) -> mlua::Result<Value> {
    if n > b.len().saturating_sub(*pos) {
        return Err(lua_err("Missing bytes in input."));
    }
    let t = lua.create_table()?;
    for _ in 0..n {
        let k = decode(lua, b, pos, depth + 1)?;
        let v = decode(lua, b, pos, depth + 1)?;
        if !k.is_nil() {
            t.raw_set(k, v)?;
        }
    }
    Ok(Value::Table(t))
}
