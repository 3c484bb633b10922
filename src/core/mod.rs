//! `upd.core`: the native primitives behind the Fennel module `upd`
//! (docs/api.md). Each file here binds one layer and adds its functions to
//! the one table.
use mlua::{Lua, Result, Table};

pub mod loop_api;
pub mod net_api;
pub mod tree_api;

/// Builds the `upd.core` table.
pub fn module(lua: &Lua) -> Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "embedded?",
        lua.create_function(|_, name: String| Ok(crate::embed::has_module(&name)))?,
    )?;
    t.set(
        "self-exe",
        lua.create_function(|_, ()| {
            Ok(std::fs::read_link("/proc/self/exe")
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default())
        })?,
    )?;
    t.set(
        "isatty",
        lua.create_function(|_, fd: i32| Ok(unsafe { libc::isatty(fd) } == 1))?,
    )?;
    tree_api::register(lua, &t)?;
    loop_api::register(lua, &t)?;
    net_api::register(lua, &t)?;
    Ok(t)
}
