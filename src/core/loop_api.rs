//! (stub: being written)
use mlua::{Lua, Result, Table};

/// Adds this layer's functions to `upd.core`.
pub fn register(_lua: &Lua, _t: &Table) -> Result<()> {
    Ok(())
}
