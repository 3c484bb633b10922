//! The Lua state every upscript process runs in: standard libraries, a
//! `require` searcher for the embedded library, the embedded Fennel compiler
//! (inflated on first `require "fennel"`), and the native `upd.core` module.
use mlua::{Function, Lua, Result, Table, Value};

use crate::core::{binding, function};
use crate::embed;

/// A fresh state with everything a script may require.
pub fn new_state() -> Result<Lua> {
    // `unsafe_new` for the `debug` library: tracebacks need it.
    let lua = unsafe { Lua::unsafe_new() };
    let package: Table = lua.globals().get("package")?;
    let preload: Table = package.get("preload")?;
    preload.set("fennel", function(&lua, binding!(load_fennel))?)?;
    preload.set(
        "upd.core",
        function(&lua, binding!(|lua, ()| crate::core::module(lua)))?,
    )?;
    let loaders: Table = package.get("loaders")?;
    loaders.raw_push(function(&lua, binding!(search_embedded))?)?;
    Ok(lua)
}

/// `require "fennel"`: inflate and load the compiler. Only now does it cost
/// memory. The collector is stopped meanwhile: loading the compiler makes
/// almost no garbage, so collecting during it is wasted start-up time.
/// Also the `require` of the modules fennel.lua loads lazily (`name` says
/// which): one Rust function for all, as each costs code.
fn load_fennel(lua: &Lua, name: Value) -> Result<Value> {
    let lazy = name
        .as_string()
        .and_then(|n| embed::fennel_lazy(&n.to_str().ok()?));
    let (m, main) = match lazy {
        Some(m) => (m, None),
        None => {
            let preload: Table = lua.globals().get::<Table>("package")?.get("preload")?;
            let this: Value = preload.get("fennel")?;
            for lazy in embed::FENNEL_LAZY {
                preload.set(lazy.0, &this)?;
            }
            (embed::fennel_main(), Some(embed::FENNEL_MAIN_LEN as usize))
        }
    };
    let src = m.source().map_err(mlua::Error::external)?;
    let main = main.unwrap_or(src.len());
    // The built-in macros' sources, which the main chunk takes and clears.
    let mut at = main;
    for &(global, n) in embed::FENNEL_PIECES.iter().take_while(|_| main < src.len()) {
        let piece = lua.create_string(&src[at..at + n as usize])?;
        lua.globals().raw_set(global, piece)?;
        at += n as usize;
    }
    lua.gc_stop();
    let loaded = lua.load(&src[..main]).set_name("@fennel.lua").call(());
    lua.gc_restart();
    loaded
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
