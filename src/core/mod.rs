//! `upd.core`: the native primitives behind the Fennel module `upd`
//! (docs/api.md). Each file here binds one layer and adds its functions to
//! the one table.
use mlua::{Lua, MultiValue, Result, Table};

/// The one type of every native function: mlua's call glue
/// (`Lua::create_function`) is then instantiated once, not once per binding
/// (a kilobyte or more each on MIPS). `binding!` makes one from a typed fn.
pub type Binding = fn(&Lua, MultiValue) -> Result<MultiValue>;

/// `binding!(f)`: `f: fn(&Lua, A) -> Result<R>` (a fn or a closure) as a
/// `Binding`. Arguments convert as `create_function` converts them, with the
/// same "bad argument #N" errors.
macro_rules! binding {
    ($f:expr $(,)?) => {{
        let b: $crate::core::Binding = |lua, args| {
            let f: fn(&mlua::Lua, _) -> mlua::Result<_> = $f;
            let args = mlua::FromLuaMulti::from_lua_args(args, 1, None, lua)?;
            mlua::IntoLuaMulti::into_lua_multi(f(lua, args)?, lua)
        };
        b
    }};
}
pub(crate) use binding;

/// The results `v`. These helpers are not generic: a tuple's
/// `into_lua_multi` is instantiated per type.
pub fn ok(v: mlua::Value) -> Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![v]))
}

/// The results `nil, msg`: an expected failure.
pub fn nil_msg(lua: &Lua, msg: &str) -> Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![
        mlua::Value::Nil,
        mlua::Value::String(lua.create_string(msg)?),
    ]))
}

/// A number for Lua (Lua 5.1 has doubles only).
pub fn number(n: u32) -> mlua::Value {
    mlua::Value::Number(f64::from(n))
}

/// A Lua function for a `Binding`.
pub fn function(lua: &Lua, f: Binding) -> Result<mlua::Function> {
    lua.create_function(f)
}

/// Adds named bindings to a table.
pub fn add(lua: &Lua, t: &Table, fns: &[(&str, Binding)]) -> Result<()> {
    for &(name, f) in fns {
        t.raw_set(name, function(lua, f)?)?;
    }
    Ok(())
}

pub mod loop_api;
pub mod net_api;
pub mod tree_api;

/// Builds the `upd.core` table.
pub fn module(lua: &Lua) -> Result<Table> {
    let t = lua.create_table()?;
    add(
        lua,
        &t,
        &[
            (
                "embedded?",
                binding!(|_, name: String| Ok(crate::embed::has_module(&name))),
            ),
            (
                "self-exe",
                binding!(|_, ()| {
                    Ok(std::fs::read_link("/proc/self/exe")
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default())
                }),
            ),
            (
                // Names the embedded compiler and modules (build.rs).
                "build-id",
                binding!(|_, ()| Ok(env!("UPD_BUILD_ID"))),
            ),
            (
                "isatty",
                binding!(|_, fd: i32| Ok(crate::sys::proc::is_terminal(fd))),
            ),
            (
                "log-dropped",
                binding!(|_, ()| Ok(f64::from(crate::evloop::log::dropped()))),
            ),
            (
                "fifo-write",
                binding!(|lua, (path, line): (String, mlua::LuaString)| {
                    match fifo_write(&path, &line.as_bytes()) {
                        Ok(()) => Ok((mlua::Value::Boolean(true), mlua::Value::Nil)),
                        Err(e) => {
                            Ok((mlua::Value::Nil, mlua::Value::String(lua.create_string(e)?)))
                        }
                    }
                }),
            ),
            (
                "private-dir",
                binding!(|lua, path: String| match private_dir(&path) {
                    Ok(()) => ok(mlua::Value::Boolean(true)),
                    Err(e) => nil_msg(lua, &e),
                }),
            ),
        ],
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

/// `upd.private-dir`: the directory `path`, made 0700 when
/// absent, is ours and nobody else may write in it (the firewall's rules
/// files); a symlink, another owner's directory or one that group or others
/// may write is refused (the message says why), and nothing is changed then.
fn private_dir(path: &str) -> std::result::Result<(), String> {
    use crate::sys::fs;
    let why = match fs::cstr(path.as_bytes()).and_then(|c| fs::dir_owner(&c, 0o700)) {
        Ok((uid, _)) if uid != crate::sys::proc::euid() => format!("owned by uid {uid}"),
        Ok((_, perm)) if perm & 0o022 != 0 => "group or others may write".into(),
        Ok(_) => return Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
            "not a directory (a symlink?)".into()
        }
        Err(e) => crate::sys::proc::error_text(&e),
    };
    Err(why)
}

#[cfg(test)]
mod tests {
    use super::private_dir;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn private_dir_made_0700_and_refused_when_not_ours() {
        let base = std::env::temp_dir().join(format!("upd-private-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir(&base).unwrap();
        let p = |n: &str| base.join(n).to_str().unwrap().to_string();
        private_dir(&p("work")).unwrap();
        assert_eq!(std::fs::metadata(p("work")).unwrap().mode() & 0o7777, 0o700);
        private_dir(&p("work")).unwrap();
        std::os::unix::fs::symlink(p("work"), p("link")).unwrap();
        assert!(private_dir(&p("link"))
            .unwrap_err()
            .contains("not a directory"));
        std::fs::create_dir(p("open")).unwrap();
        std::fs::set_permissions(p("open"), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(private_dir(&p("open"))
            .unwrap_err()
            .contains("group or others may write"));
        std::fs::write(p("file"), "x").unwrap();
        assert!(private_dir(&p("file")).is_err());
        if crate::sys::proc::euid() == 0 {
            std::fs::create_dir(p("theirs")).unwrap();
            std::os::unix::fs::chown(p("theirs"), Some(65534), None).unwrap();
            assert!(private_dir(&p("theirs"))
                .unwrap_err()
                .contains("owned by uid 65534"));
        }
        std::fs::remove_dir_all(&base).unwrap();
    }
}
