//! `struct` (Roberto Ierusalimschy's struct library, as Redis bundles it): `pack`,
//! `unpack` and `size` of binary records described by a format string.

use mlua::{Lua, MultiValue, Table, Value};

use super::{at, lua_err};

const MAX_INT_SIZE: usize = 32;
const NATIVE_ALIGN: usize = 8;

/// Format state: endianness and maximum alignment.
struct Header {
    little: bool,
    align: usize,
}

/// One parsed option: its letter and size argument.
struct Opt {
    code: u8,
    size: usize,
}

/// Digits after an option (the default when there are none).
fn getnum(fmt: &[u8], i: &mut usize, default: usize) -> mlua::Result<usize> {
    if !fmt.get(*i).is_some_and(|c| c.is_ascii_digit()) {
        return Ok(default);
    }
    let mut n: usize = 0;
    while let Some(c) = fmt.get(*i).filter(|c| c.is_ascii_digit()) {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add((c - b'0') as usize))
            .filter(|n| *n <= i32::MAX as usize)
            .ok_or_else(|| lua_err("integral size out of limits"))?;
        *i += 1;
    }
    Ok(n)
}

/// The next option that takes space (controlling options are applied to `h`).
fn next_opt(fmt: &[u8], i: &mut usize, h: &mut Header, fname: &str) -> mlua::Result<Option<Opt>> {
    while let Some(&c) = fmt.get(*i) {
        *i += 1;
        let size = match c {
            b' ' => continue,
            b'>' => {
                h.little = false;
                continue;
            }
            b'<' | b'=' => {
                h.little = true;
                continue;
            }
            b'!' => {
                h.align = getnum(fmt, i, NATIVE_ALIGN)?;
                continue;
            }
            b'x' | b'b' | b'B' => 1,
            b'h' | b'H' => 2,
            b'l' | b'L' | b'T' | b'd' => 8,
            b'f' => 4,
            b's' => 0,
            b'c' => getnum(fmt, i, 1)?,
            b'i' | b'I' => {
                let n = getnum(fmt, i, 4)?;
                if n > MAX_INT_SIZE {
                    return Err(lua_err(format!(
                        "integral size {} is larger than limit of {}",
                        n, MAX_INT_SIZE
                    )));
                }
                n
            }
            other => {
                return Err(bad(
                    0,
                    fname,
                    &format!("invalid format option '{}'", other as char),
                ))
            }
        };
        return Ok(Some(Opt { code: c, size }));
    }
    Ok(None)
}

/// Padding before an option of `size` at offset `len`.
fn to_align(len: usize, h: &Header, opt: &Opt) -> usize {
    let size = if opt.code == b'c' { 1 } else { opt.size };
    if size <= 1 || h.align <= 1 {
        return 0;
    }
    let align = size.min(h.align);
    if !align.is_power_of_two() {
        return 0;
    }
    (align - (len & (align - 1))) & (align - 1)
}

fn number_arg(args: &MultiValue, n: usize, fname: &str) -> mlua::Result<f64> {
    match args.get(n) {
        Some(Value::Integer(i)) => Ok(*i as f64),
        Some(Value::Number(f)) => Ok(*f),
        Some(Value::String(s)) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .ok_or_else(|| bad(n, fname, "number expected, got string")),
        other => Err(bad(
            n,
            fname,
            &format!(
                "number expected, got {}",
                other.map_or("no value", |v| v.type_name())
            ),
        )),
    }
}

fn string_arg(args: &MultiValue, n: usize, fname: &str) -> mlua::Result<Vec<u8>> {
    match args.get(n) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Integer(i)) => Ok(i.to_string().into_bytes()),
        Some(Value::Number(f)) => Ok(super::redis::lua_number_string(*f).into_bytes()),
        other => Err(bad(
            n,
            fname,
            &format!(
                "string expected, got {}",
                other.map_or("no value", |v| v.type_name())
            ),
        )),
    }
}

fn bad(n: usize, fname: &str, why: &str) -> mlua::Error {
    lua_err(format!("bad argument #{} to '{}' ({})", n + 1, fname, why))
}

fn put_int(out: &mut Vec<u8>, n: f64, little: bool, size: usize) {
    let v: u64 = if n < 0.0 { n as i64 as u64 } else { n as u64 };
    let mut bytes = vec![0u8; size];
    for (k, b) in bytes.iter_mut().enumerate() {
        *b = if k < 8 {
            (v >> (8 * k)) as u8
        } else if n < 0.0 {
            0xff
        } else {
            0
        };
    }
    if !little {
        bytes.reverse();
    }
    out.extend_from_slice(&bytes);
}

fn pack(args: &MultiValue) -> mlua::Result<Vec<u8>> {
    const FNAME: &str = "pack";
    let fmt = string_arg(args, 0, "pack")?;
    let mut h = Header {
        little: true,
        align: 1,
    };
    let mut out = Vec::new();
    let mut arg = 1;
    let mut i = 0;
    while let Some(opt) = next_opt(&fmt, &mut i, &mut h, FNAME)? {
        let pad = to_align(out.len(), &h, &opt);
        out.extend(std::iter::repeat_n(0u8, pad));
        match opt.code {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = number_arg(args, arg, "pack")?;
                put_int(&mut out, n, h.little, opt.size);
                arg += 1;
            }
            b'x' => out.push(0),
            b'f' => {
                let n = number_arg(args, arg, "pack")? as f32;
                let b = if h.little {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                };
                out.extend_from_slice(&b);
                arg += 1;
            }
            b'd' => {
                let n = number_arg(args, arg, "pack")?;
                let b = if h.little {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                };
                out.extend_from_slice(&b);
                arg += 1;
            }
            b'c' | b's' => {
                let s = string_arg(args, arg, "pack")?;
                let mut size = opt.size;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(bad(arg, "pack", "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt.code == b's' {
                    out.push(0);
                }
                arg += 1;
            }
            _ => {}
        }
    }
    Ok(out)
}

fn get_int(b: &[u8], little: bool, signed: bool) -> f64 {
    let mut v: u64 = 0;
    let size = b.len();
    for k in 0..size {
        let byte = if little { b[size - 1 - k] } else { b[k] };
        v = (v << 8) | byte as u64;
    }
    if signed && size > 0 && size < 8 {
        let shift = 64 - 8 * size as u32;
        ((v << shift) as i64 >> shift) as f64
    } else if signed {
        v as i64 as f64
    } else {
        v as f64
    }
}

fn unpack(lua: &Lua, args: &MultiValue) -> mlua::Result<MultiValue> {
    const FNAME: &str = "unpack";
    let fmt = string_arg(args, 0, "unpack")?;
    let data = string_arg(args, 1, "unpack")?;
    let start = match args.get(2) {
        None | Some(Value::Nil) => 1.0,
        Some(_) => number_arg(args, 2, "unpack")?,
    };
    let mut pos = (start as i64 - 1).max(0) as usize;
    if start < 1.0 {
        return Err(bad(2, "unpack", "offset must be 1 or greater"));
    }
    let mut h = Header {
        little: true,
        align: 1,
    };
    let mut out: Vec<Value> = Vec::new();
    let mut i = 0;
    while let Some(opt) = next_opt(&fmt, &mut i, &mut h, FNAME)? {
        pos += to_align(pos, &h, &opt);
        let mut size = opt.size;
        if opt.code == b'c' && size == 0 {
            size = match out.pop() {
                Some(Value::Number(n)) => n as usize,
                Some(Value::Integer(n)) => n as usize,
                _ => return Err(lua_err("format 'c0' needs a previous size")),
            };
        }
        if opt.code != b's' && pos.checked_add(size).is_none_or(|end| end > data.len()) {
            return Err(bad(1, "unpack", "data string too short"));
        }
        match opt.code {
            b'b' | b'h' | b'l' | b'i' => out.push(Value::Number(get_int(
                &data[pos..pos + size],
                h.little,
                true,
            ))),
            b'B' | b'H' | b'L' | b'T' | b'I' => out.push(Value::Number(get_int(
                &data[pos..pos + size],
                h.little,
                false,
            ))),
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&data[pos..pos + 4]);
                let f = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                out.push(Value::Number(f as f64));
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[pos..pos + 8]);
                let f = if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                out.push(Value::Number(f));
            }
            b'c' => out.push(Value::String(lua.create_string(&data[pos..pos + size])?)),
            b's' => {
                let rest = data.get(pos..).unwrap_or_default();
                let Some(end) = rest.iter().position(|&b| b == 0) else {
                    return Err(lua_err("unfinished string in data"));
                };
                out.push(Value::String(lua.create_string(&rest[..end])?));
                size = end + 1;
            }
            _ => {}
        }
        pos += size;
    }
    out.push(Value::Number((pos + 1) as f64));
    Ok(MultiValue::from_iter(out))
}

fn size(args: &MultiValue) -> mlua::Result<f64> {
    const FNAME: &str = "size";
    let fmt = string_arg(args, 0, "size")?;
    let mut h = Header {
        little: true,
        align: 1,
    };
    let mut pos = 0usize;
    let mut i = 0;
    while let Some(opt) = next_opt(&fmt, &mut i, &mut h, FNAME)? {
        pos += to_align(pos, &h, &opt);
        if opt.code == b's' || (opt.code == b'c' && opt.size == 0) {
            let name = if opt.code == b's' { "s" } else { "c0" };
            return Err(bad(
                0,
                "size",
                &format!("option '{}' has no fixed size", name),
            ));
        }
        pos += opt.size;
    }
    Ok(pos as f64)
}

/// The `struct` table.
pub fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            Ok(mlua::BString::from(at(lua, pack(&args))?))
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, args: MultiValue| at(lua, unpack(lua, &args)))?,
    )?;
    t.raw_set(
        "size",
        lua.create_function(|lua, args: MultiValue| at(lua, size(&args)))?,
    )?;
    Ok(t)
}
