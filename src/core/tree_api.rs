//! (stub: being written) Lua bindings for the state tree.
use mlua::{Lua, Result, Table, Value};

/// Adds this layer's functions to `upd.core`.
pub fn register(_lua: &Lua, _t: &Table) -> Result<()> {
    Ok(())
}

/// A snapshot as the nested Lua table `upd.read` returns.
pub fn node_to_lua(_lua: &Lua, _node: &crate::tree::Node) -> Result<Value> {
    Ok(Value::Nil)
}
