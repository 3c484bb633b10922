//! (stub: being written) Lua bindings for netlink: links, addresses, counters.
use mlua::{Lua, Result, Table};

/// Adds this layer's functions to `upd.core`.
pub fn register(_lua: &Lua, _t: &Table) -> Result<()> {
    Ok(())
}

/// A netlink event as the Lua table docs/api.md describes.
pub fn event_to_lua(lua: &Lua, _ev: &crate::netlink::Event) -> Result<Table> {
    lua.create_table()
}
