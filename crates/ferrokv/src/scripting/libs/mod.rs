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
