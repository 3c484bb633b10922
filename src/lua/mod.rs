//! The Lua state every upscript process runs in: standard libraries, a
//! `require` searcher for the embedded library, the embedded Fennel compiler
//! (inflated on first `require "fennel"`), and the native `upd.core` module.
use mlua::{Function, Lua, Result, Table, Value};

use crate::core::{binding, function};
use crate::embed;

// Lua C API: the chunk reader that loads the embedded compiler.
#[allow(unsafe_code)]
mod fennel;
// Lua C API: the allocator hook and the C functions over it.
#[allow(unsafe_code)]
pub mod memory;

/// A fresh state with everything a script may require.
#[allow(unsafe_code)]
pub fn new_state() -> Result<Lua> {
    // `unsafe_new` for the `debug` library: tracebacks need it.
    let lua = unsafe { Lua::unsafe_new() };
    memory::install(&lua)?;
    memory::register(&lua)?;
    let package: Table = lua.globals().get("package")?;
    let preload: Table = package.get("preload")?;
    preload.set("fennel", function(&lua, binding!(fennel::load))?)?;
    preload.set(
        "upd.core",
        function(
            &lua,
            binding!(|lua, ()| {
                let core = crate::core::module(lua)?;
                core.raw_set("memory-limit", memory::limit_function(lua)?)?;
                Ok(core)
            }),
        )?,
    )?;
    let loaders: Table = package.get("loaders")?;
    // Right after `package.preload`: the embedded library is found without
    // first trying ten paths on disk (cwd included) for each module, and a
    // stray `./upd.lua` cannot stand in for it. Fennel sources being edited
    // still win: the launcher puts fennel.path's searcher before this one.
    loaders.raw_insert(2, function(&lua, binding!(search_embedded))?)?;
    Ok(lua)
}

/// A `package.loaders` entry for the library compiled into the binary.
fn search_embedded(lua: &Lua, name: String) -> Result<Value> {
    match embed::module(&name) {
        Some(m) => {
            let src = m.source().map_err(mlua::Error::external)?;
            let chunk: Function = lua
                .load(&src[..])
                .set_name(format!("@{}", m.path))
                .into_function()?;
            Ok(Value::Function(chunk))
        }
        None => Ok(Value::String(
            lua.create_string(format!("\n\tno embedded module '{name}'"))?,
        )),
    }
}
