//! The libraries Redis loads into its Lua VM beyond Lua's own: `redis`, `bit`, `cjson`,
//! `cmsgpack`, `struct` (small Rust implementations with Redis's behaviour).

pub mod bit;
pub mod cjson;
pub mod cmsgpack;
pub mod redis;
pub mod structlib;

use mlua::{Lua, Table};

/// Register `bit`, `cjson`, `cmsgpack` and `struct` in `globals`.
pub fn register(lua: &Lua, globals: &Table) -> mlua::Result<()> {
    globals.raw_set("bit", bit::table(lua)?)?;
    globals.raw_set("cjson", cjson::table(lua)?)?;
    globals.raw_set("cmsgpack", cmsgpack::table(lua)?)?;
    globals.raw_set("struct", structlib::table(lua)?)?;
    Ok(())
}

/// A plain Lua error (as `luaL_error` raises: a string; `ERR` is added if it ends the
/// script).
pub(crate) fn lua_err(msg: impl std::fmt::Display) -> mlua::Error {
    mlua::Error::RuntimeError(msg.to_string())
}

/// `luaL_error`'s position prefix (`user_script:1: `) for an error raised by a library
/// function: the first Lua frame that called it.
pub(crate) fn at<T>(lua: &Lua, r: mlua::Result<T>) -> mlua::Result<T> {
    r.map_err(|e| match e {
        mlua::Error::RuntimeError(m) => {
            mlua::Error::RuntimeError(format!("{}{}", position(lua), m))
        }
        other => other,
    })
}

/// `luaL_where(L, 1)`: the position of the function that called the library function,
/// when that is Lua code (nothing when it is a C function such as `pcall`).
fn position(lua: &Lua) -> String {
    let Some(d) = lua.inspect_stack(1) else {
        return String::new();
    };
    let src = d.source();
    let line = d.curr_line();
    if src.what == "C" || line <= 0 {
        return String::new();
    }
    let short = src.short_src.as_deref().unwrap_or("?").to_string();
    format!("{}:{}: ", short, line)
}
