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

/// A Lua error with Redis's generic code.
pub(crate) fn lua_err(msg: impl std::fmt::Display) -> mlua::Error {
    mlua::Error::RuntimeError(format!("ERR {}", msg))
}

/// `luaL_error`'s position prefix (`user_script:1: `) for an error raised by a library
/// function: the first Lua frame that called it.
pub(crate) fn at<T>(lua: &Lua, r: mlua::Result<T>) -> mlua::Result<T> {
    r.map_err(|e| match e {
        mlua::Error::RuntimeError(m) => {
            let body = m.strip_prefix("ERR ").unwrap_or(&m).to_string();
            mlua::Error::RuntimeError(format!("ERR {}{}", position(lua), body))
        }
        other => other,
    })
}

fn position(lua: &Lua) -> String {
    for level in 1..8 {
        let Some(d) = lua.inspect_stack(level) else {
            break;
        };
        let src = d.source();
        if src.what == "C" {
            continue;
        }
        let short = src.short_src.as_deref().unwrap_or("?").to_string();
        return format!("{}:{}: ", short, d.curr_line());
    }
    String::new()
}
