//! `cmsgpack` (to be completed).

use mlua::{Lua, Table};

/// The library table.
pub fn table(lua: &Lua) -> mlua::Result<Table> {
    lua.create_table()
}
