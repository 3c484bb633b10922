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
        lua.create_function(|_, fd: i32| Ok(crate::sys::proc::is_terminal(fd)))?,
    )?;
    t.set(
        "fifo-write",
        lua.create_function(|lua, (path, line): (String, mlua::LuaString)| {
            match fifo_write(&path, &line.as_bytes()) {
                Ok(()) => Ok((mlua::Value::Boolean(true), mlua::Value::Nil)),
                Err(e) => Ok((mlua::Value::Nil, mlua::Value::String(lua.create_string(e)?))),
            }
        })?,
    )?;
    tree_api::register(lua, &t)?;
    loop_api::register(lua, &t)?;
    net_api::register(lua, &t)?;
    Ok(t)
}

/// Writes one line into a FIFO only if somebody reads it: a control command
/// to a supervisor that is not running fails at once instead of blocking.
fn fifo_write(path: &str, line: &[u8]) -> std::result::Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("{path}: {e}"))?;
    if !meta.file_type().is_fifo() {
        return Err(format!("{path}: not a FIFO"));
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENXIO) => format!("{path}: nobody is listening"),
            _ => format!("{path}: {e}"),
        })?;
    f.write_all(line).map_err(|e| format!("{path}: {e}"))
}
