//! `cjson`: JSON encode/decode with lua-cjson's behaviour as bundled by Redis (numbers with
//! 14 significant digits, `/` escaped, `cjson.null`, sparse-array and depth checks).

use std::cell::Cell;

use mlua::{LightUserData, Lua, MultiValue, Table, Value};

use super::redis::format_g;
use super::{at, lua_err};

const MAX_DEPTH: usize = 1000;

thread_local! {
    /// `cjson.encode_max_depth` (per VM, as lua-cjson keeps it in its config).
    static ENCODE_DEPTH: Cell<usize> = const { Cell::new(MAX_DEPTH) };
    /// `cjson.decode_max_depth`.
    static DECODE_DEPTH: Cell<usize> = const { Cell::new(MAX_DEPTH) };
    /// `cjson.encode_invalid_numbers`: NaN and infinities allowed.
    static INVALID_NUMBERS: Cell<bool> = const { Cell::new(false) };
}

/// A depth setter (`encode_max_depth(n)`): returns the setting after the call.
fn depth_setter(
    lua: &Lua,
    cell: &'static std::thread::LocalKey<Cell<usize>>,
    name: &'static str,
) -> mlua::Result<mlua::Function> {
    lua.create_function(move |lua, args: MultiValue| {
        if let Some(v) = args.front() {
            let n = match v {
                Value::Integer(i) => *i as f64,
                Value::Number(n) => *n,
                _ => -1.0,
            };
            if !(1.0..=2_147_483_647.0).contains(&n) {
                return at(
                    lua,
                    Err(lua_err(format!(
                        "bad argument #1 to '{}' (expected integer between 1 and 2147483647)",
                        name
                    ))),
                );
            }
            cell.with(|c| c.set(n as usize));
        }
        Ok(cell.with(|c| c.get()) as f64)
    })
}

/// `cjson.null`.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// The `cjson` table.
pub fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "encode",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() != 1 {
                return at(
                    lua,
                    Err(lua_err("bad argument #1 to 'encode' (expected 1 argument)")),
                );
            }
            let mut out = Vec::new();
            at(
                lua,
                encode(args.front().unwrap_or(&Value::Nil), &mut out, 0),
            )?;
            Ok(mlua::BString::from(out))
        })?,
    )?;
    t.raw_set(
        "decode",
        lua.create_function(|lua, s: mlua::String| {
            let bytes = s.as_bytes();
            let mut p = Parser { s: &bytes, i: 0 };
            let v = at(lua, p.value(lua, 0))?;
            p.ws();
            if p.i < p.s.len() {
                return at(lua, Err(p.err("the end", p.token_name())));
            }
            Ok(v)
        })?,
    )?;
    t.raw_set("null", null())?;
    t.raw_set(
        "encode_max_depth",
        depth_setter(lua, &ENCODE_DEPTH, "encode_max_depth")?,
    )?;
    t.raw_set(
        "decode_max_depth",
        depth_setter(lua, &DECODE_DEPTH, "decode_max_depth")?,
    )?;
    t.raw_set(
        "encode_invalid_numbers",
        lua.create_function(|_, args: MultiValue| {
            if let Some(v) = args.front() {
                let on = match v {
                    Value::Boolean(b) => *b,
                    Value::String(s) => s.as_bytes().as_ref() == b"on",
                    _ => false,
                };
                INVALID_NUMBERS.with(|c| c.set(on));
            }
            Ok(INVALID_NUMBERS.with(|c| c.get()))
        })?,
    )?;
    for name in [
        "encode_keep_buffer",
        "encode_number_precision",
        "encode_sparse_array",
        "decode_invalid_numbers",
    ] {
        t.raw_set(name, lua.create_function(|_, args: MultiValue| Ok(args))?)?;
    }
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    Ok(t)
}

fn number(n: f64, out: &mut Vec<u8>) -> mlua::Result<()> {
    if !n.is_finite() {
        if !INVALID_NUMBERS.with(|c| c.get()) {
            return Err(lua_err("Cannot serialise number: must not be NaN or Inf"));
        }
        out.extend_from_slice(super::redis::lua_number_string(n).as_bytes());
        return Ok(());
    }
    if n == n.trunc() && n.abs() < 1e14 {
        out.extend_from_slice((n as i64).to_string().as_bytes());
    } else {
        out.extend_from_slice(format_g(n, 14).as_bytes());
    }
    Ok(())
}

fn string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{:04x}", b).as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn encode(v: &Value, out: &mut Vec<u8>, depth: usize) -> mlua::Result<()> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => number(*i as f64, out)?,
        Value::Number(n) => number(*n, out)?,
        Value::String(s) => string(&s.as_bytes(), out),
        Value::Table(t) => table_json(t, out, depth + 1)?,
        other => {
            return Err(lua_err(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            )))
        }
    }
    Ok(())
}

/// lua-cjson's array test: every key a positive integer; the array's length is the
/// largest key, refused when excessively sparse (more than 10 and over twice the count).
fn array_len(t: &Table) -> mlua::Result<Option<usize>> {
    let mut max = 0usize;
    let mut items = 0usize;
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair?;
        let n = match k {
            Value::Integer(i) if i >= 1 => i as usize,
            Value::Number(f) if f >= 1.0 && f == f.floor() => f as usize,
            _ => return Ok(None),
        };
        max = max.max(n);
        items += 1;
    }
    if max > 10 && max > items * 2 {
        return Err(lua_err("Cannot serialise table: excessively sparse array"));
    }
    Ok(Some(max))
}

fn table_json(t: &Table, out: &mut Vec<u8>, depth: usize) -> mlua::Result<()> {
    if depth > ENCODE_DEPTH.with(|c| c.get()) {
        return Err(lua_err(format!(
            "Cannot serialise, excessive nesting ({})",
            depth
        )));
    }
    match array_len(t)? {
        Some(n) if n > 0 => {
            out.push(b'[');
            for i in 1..=n {
                if i > 1 {
                    out.push(b',');
                }
                encode(&t.raw_get::<Value>(i)?, out, depth)?;
            }
            out.push(b']');
        }
        _ => {
            out.push(b'{');
            let mut first = true;
            for pair in t.clone().pairs::<Value, Value>() {
                let (k, v) = pair?;
                if !first {
                    out.push(b',');
                }
                first = false;
                match &k {
                    Value::String(s) => string(&s.as_bytes(), out),
                    Value::Integer(i) => {
                        out.push(b'"');
                        number(*i as f64, out)?;
                        out.push(b'"');
                    }
                    Value::Number(n) => {
                        out.push(b'"');
                        number(*n, out)?;
                        out.push(b'"');
                    }
                    other => {
                        return Err(lua_err(format!(
                            "Cannot serialise {}: table key must be a number or string",
                            other.type_name()
                        )))
                    }
                }
                out.push(b':');
                encode(&v, out, depth)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self
            .s
            .get(self.i)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.i += 1;
        }
    }

    fn token_name(&self) -> &'static str {
        match self.s.get(self.i) {
            None => "T_END",
            Some(b'{') => "T_OBJ_BEGIN",
            Some(b'}') => "T_OBJ_END",
            Some(b'[') => "T_ARR_BEGIN",
            Some(b']') => "T_ARR_END",
            Some(b',') => "T_COMMA",
            Some(b':') => "T_COLON",
            Some(b'"') => "T_STRING",
            Some(b'-' | b'0'..=b'9') => "T_NUMBER",
            Some(b't') if self.s[self.i..].starts_with(b"true") => "T_BOOLEAN",
            Some(b'f') if self.s[self.i..].starts_with(b"false") => "T_BOOLEAN",
            Some(b'n') if self.s[self.i..].starts_with(b"null") => "T_NULL",
            _ => "invalid token",
        }
    }

    fn err(&self, expected: &str, found: &str) -> mlua::Error {
        lua_err(format!(
            "Expected {} but found {} at character {}",
            expected,
            found,
            self.i + 1
        ))
    }

    fn value(&mut self, lua: &Lua, depth: usize) -> mlua::Result<Value> {
        self.ws();
        let opens = matches!(self.s.get(self.i), Some(b'{' | b'['));
        if opens && depth + 1 > DECODE_DEPTH.with(|c| c.get()) {
            return Err(lua_err(format!(
                "Found too many nested data structures ({}) at character {}",
                depth + 1,
                self.i + 1
            )));
        }
        match self.s.get(self.i) {
            Some(b'{') => self.object(lua, depth + 1),
            Some(b'[') => self.array(lua, depth + 1),
            Some(b'"') => Ok(Value::String(lua.create_string(self.string()?)?)),
            Some(b't') if self.s[self.i..].starts_with(b"true") => {
                self.i += 4;
                Ok(Value::Boolean(true))
            }
            Some(b'f') if self.s[self.i..].starts_with(b"false") => {
                self.i += 5;
                Ok(Value::Boolean(false))
            }
            Some(b'n') if self.s[self.i..].starts_with(b"null") => {
                self.i += 4;
                Ok(null())
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err("value", self.token_name())),
        }
    }

    fn number(&mut self) -> mlua::Result<Value> {
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|b| matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
        {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
        match text.parse::<f64>() {
            Ok(n) => Ok(Value::Number(n)),
            Err(_) => {
                self.i = start;
                Err(self.err("value", "invalid number"))
            }
        }
    }

    fn string(&mut self) -> mlua::Result<Vec<u8>> {
        let start = self.i;
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.s.get(self.i) else {
                self.i = start;
                return Err(self.err("value", "unexpected end of string"));
            };
            self.i += 1;
            match b {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        self.i = start;
                        return Err(self.err("value", "invalid escape code"));
                    };
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let cp = self.hex4().ok_or_else(|| {
                                lua_err(format!(
                                    "Expected value but found invalid unicode escape code at character {}",
                                    start + 1
                                ))
                            })?;
                            let mut cp = cp;
                            if (0xD800..0xDC00).contains(&cp)
                                && self.s.get(self.i..self.i + 2) == Some(b"\\u")
                            {
                                self.i += 2;
                                let lo = self.hex4().unwrap_or(0);
                                cp = 0x10000
                                    + ((cp - 0xD800) << 10)
                                    + (lo.wrapping_sub(0xDC00) & 0x3ff);
                            }
                            let c = char::from_u32(cp).unwrap_or('\u{fffd}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => {
                            self.i = start;
                            return Err(self.err("value", "invalid escape code"));
                        }
                    }
                }
                _ => out.push(b),
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        let v = u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
        self.i += 4;
        Some(v)
    }

    fn array(&mut self, lua: &Lua, depth: usize) -> mlua::Result<Value> {
        self.i += 1;
        let t = lua.create_table()?;
        self.ws();
        if self.s.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(Value::Table(t));
        }
        let mut n = 1;
        loop {
            let v = self.value(lua, depth)?;
            t.raw_set(n, v)?;
            n += 1;
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Table(t));
                }
                _ => return Err(self.err("comma or array end", self.token_name())),
            }
        }
    }

    fn object(&mut self, lua: &Lua, depth: usize) -> mlua::Result<Value> {
        self.i += 1;
        let t = lua.create_table()?;
        self.ws();
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Value::Table(t));
        }
        loop {
            self.ws();
            if self.s.get(self.i) != Some(&b'"') {
                return Err(self.err("object key string", self.token_name()));
            }
            let k = self.string()?;
            self.ws();
            if self.s.get(self.i) != Some(&b':') {
                return Err(self.err("colon", self.token_name()));
            }
            self.i += 1;
            let v = self.value(lua, depth)?;
            t.raw_set(lua.create_string(&k)?, v)?;
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Table(t));
                }
                _ => return Err(self.err("comma or object end", self.token_name())),
            }
        }
    }
}
