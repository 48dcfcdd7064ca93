//! LuaBitOp (`bit`): 32-bit operations on Lua numbers, as Redis bundles it.

use mlua::{Lua, MultiValue, Table, Value};

use super::{at, lua_err};

/// LuaBitOp's number-to-bit conversion: add 2^52+2^51 and take the low 32 bits (so
/// numbers wrap modulo 2^32, fractions round to nearest).
fn tobit_f(n: f64) -> i32 {
    let b = n + 6_755_399_441_055_744.0;
    b.to_bits() as u32 as i32
}

fn arg(args: &MultiValue, i: usize, fname: &str) -> mlua::Result<i32> {
    match args.get(i) {
        Some(Value::Integer(v)) => Ok(tobit_f(*v as f64)),
        Some(Value::Number(v)) => Ok(tobit_f(*v)),
        Some(Value::String(s)) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .map(tobit_f)
            .ok_or_else(|| bad(i, fname, "number expected, got string")),
        Some(v) => Err(bad(
            i,
            fname,
            &format!("number expected, got {}", v.type_name()),
        )),
        None => Err(bad(i, fname, "number expected, got no value")),
    }
}

fn bad(i: usize, fname: &str, why: &str) -> mlua::Error {
    lua_err(format!("bad argument #{} to '{}' ({})", i + 1, fname, why))
}

fn unary(lua: &Lua, name: &'static str, f: fn(i32) -> i32) -> mlua::Result<mlua::Function> {
    lua.create_function(move |lua, args: MultiValue| Ok(f(at(lua, arg(&args, 0, name))?) as f64))
}

fn fold(lua: &Lua, name: &'static str, f: fn(i32, i32) -> i32) -> mlua::Result<mlua::Function> {
    lua.create_function(move |lua, args: MultiValue| {
        let mut acc = at(lua, arg(&args, 0, name))?;
        for i in 1..args.len() {
            acc = f(acc, at(lua, arg(&args, i, name))?);
        }
        Ok(acc as f64)
    })
}

fn shift(lua: &Lua, name: &'static str, f: fn(i32, u32) -> i32) -> mlua::Result<mlua::Function> {
    lua.create_function(move |lua, args: MultiValue| {
        let x = at(lua, arg(&args, 0, name))?;
        let n = at(lua, arg(&args, 1, name))? as u32 & 31;
        Ok(f(x, n) as f64)
    })
}

/// The `bit` table.
pub fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("tobit", unary(lua, "tobit", |x| x)?)?;
    t.raw_set("bnot", unary(lua, "bnot", |x| !x)?)?;
    t.raw_set("bswap", unary(lua, "bswap", |x| x.swap_bytes())?)?;
    t.raw_set("band", fold(lua, "band", |a, b| a & b)?)?;
    t.raw_set("bor", fold(lua, "bor", |a, b| a | b)?)?;
    t.raw_set("bxor", fold(lua, "bxor", |a, b| a ^ b)?)?;
    t.raw_set(
        "lshift",
        shift(lua, "lshift", |x, n| ((x as u32) << n) as i32)?,
    )?;
    t.raw_set(
        "rshift",
        shift(lua, "rshift", |x, n| ((x as u32) >> n) as i32)?,
    )?;
    t.raw_set("arshift", shift(lua, "arshift", |x, n| x >> n)?)?;
    t.raw_set(
        "rol",
        shift(lua, "rol", |x, n| (x as u32).rotate_left(n) as i32)?,
    )?;
    t.raw_set(
        "ror",
        shift(lua, "ror", |x, n| (x as u32).rotate_right(n) as i32)?,
    )?;
    t.raw_set(
        "tohex",
        lua.create_function(|lua, args: MultiValue| {
            let x = at(lua, arg(&args, 0, "tohex"))?;
            let n = if args.len() > 1 {
                at(lua, arg(&args, 1, "tohex"))?
            } else {
                8
            };
            let (upper, n) = if n < 0 { (true, -n) } else { (false, n) };
            let n = n.clamp(1, 8) as usize;
            let full = if upper {
                format!("{:08X}", x as u32)
            } else {
                format!("{:08x}", x as u32)
            };
            Ok(full[8 - n..].to_string())
        })?,
    )?;
    Ok(t)
}
