//! Lua bindings for the state tree (docs/api.md "Publishing state"):
//! `publish`, `withdraw`, `read`, `list`, `root`, `mode`, `write-file`.
//! Expected failures (bad key, oversize value, disk full, a refused path)
//! return `nil, msg`; wrong argument types raise.
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use mlua::{Lua, LuaString, Result, Table, Value};

use crate::core::{add, function};
use crate::sys::fs as sfs;
use crate::tree::{self, key, Node, PublishOpts, Published, MAX_DEPTH, MAX_ENTRIES, MAX_VALUE};

/// Adds this layer's functions to `upd.core`.
pub fn register(lua: &Lua, t: &Table) -> Result<()> {
    add(
        lua,
        t,
        &[
            (
                "publish",
                binding!(
                    |lua, (name, tree, opts): (LuaString, Table, Option<Table>)| {
                        let name = match text("publish", "service name", &name) {
                            Ok(n) => n,
                            Err(m) => return failed(lua, m),
                        };
                        let private = match &opts {
                            Some(o) => !matches!(
                                o.get::<Value>("private")?,
                                Value::Nil | Value::Boolean(false)
                            ),
                            None => false,
                        };
                        let node = match lua_to_node(lua, &tree, &name) {
                            Ok(n) => n,
                            Err(Bad(msg)) => return failed(lua, msg),
                        };
                        match tree::publish(&tree::root(), &name, &node, &PublishOpts { private }) {
                            Ok(Published::New(_)) => Ok((Value::Boolean(true), Value::Nil)),
                            // Truthy, so `(assert (upd.publish ...))` holds.
                            Ok(Published::Unchanged(_)) => {
                                Ok((Value::String(lua.create_string("unchanged")?), Value::Nil))
                            }
                            Err(e) => failed(lua, e.to_string()),
                        }
                    },
                ),
            ),
            (
                "withdraw",
                binding!(|lua, name: LuaString| {
                    let name = match text("withdraw", "service name", &name) {
                        Ok(n) => n,
                        Err(m) => return failed(lua, m),
                    };
                    match tree::withdraw(&tree::root(), &name) {
                        Ok(_) => Ok((Value::Boolean(true), Value::Nil)),
                        Err(e) => failed(lua, e.to_string()),
                    }
                }),
            ),
            (
                "read",
                binding!(|lua, (name, path): (LuaString, Option<LuaString>)| {
                    let name = match text("read", "service name", &name) {
                        Ok(n) => n,
                        Err(m) => return failed(lua, m),
                    };
                    let path = match path.as_ref().map(|p| text("read", "path", p)) {
                        Some(Ok(p)) => p,
                        Some(Err(m)) => return failed(lua, m),
                        None => String::new(),
                    };
                    let keys = match key::split_path(&path) {
                        Ok(k) => k,
                        Err((k, e)) => {
                            return failed(
                                lua,
                                format!(
                                    "read {name}: bad key {k} in path {}: {e}",
                                    key::show(path.as_bytes())
                                ),
                            )
                        }
                    };
                    match tree::read_path(&tree::root(), &name, &keys) {
                        Ok(Some(node)) => Ok((node_to_lua(lua, &node)?, Value::Nil)),
                        Ok(None) => Ok((Value::Nil, Value::Nil)),
                        Err(e) => failed(lua, e.to_string()),
                    }
                }),
            ),
            (
                "list",
                binding!(|lua, ()| match tree::list(&tree::root()) {
                    Ok(names) => Ok((Value::Table(lua.create_sequence_from(names)?), Value::Nil)),
                    Err(e) => failed(lua, e.to_string()),
                }),
            ),
            (
                "root",
                binding!(|lua, ()| lua.create_string(tree::root().as_os_str().as_bytes())),
            ),
            (
                "check-name",
                binding!(|lua, name: LuaString| {
                    let b = name.as_bytes();
                    match key::validate_name(&b) {
                        Ok(()) => Ok((Value::Boolean(true), Value::Nil)),
                        Err(e) => failed(lua, format!("bad service name {}: {e}", key::show(&b))),
                    }
                }),
            ),
            (
                "check-key",
                binding!(|lua, k: LuaString| {
                    let b = k.as_bytes();
                    match key::validate_key(&b) {
                        Ok(()) => Ok((Value::Boolean(true), Value::Nil)),
                        Err(e) => failed(lua, format!("bad key {}: {e}", key::show(&b))),
                    }
                }),
            ),
            (
                "set-value",
                binding!(
                    |lua, (name, path, value): (LuaString, LuaString, LuaString)| {
                        set_value(lua, &name, &path, &value)
                    }
                ),
            ),
            (
                "owner",
                binding!(
                    |lua, name: String| match tree::owner(&tree::root(), &name) {
                        Ok(uid) => Ok((
                            uid.map_or(Value::Nil, |u| Value::Number(u.into())),
                            Value::Nil
                        )),
                        Err(e) => failed(lua, e.to_string()),
                    }
                ),
            ),
            (
                "claim",
                binding!(|lua,
                          (name, user, group, private): (
                    String,
                    Option<String>,
                    Option<String>,
                    Option<bool>
                )| {
                    // The ids the script will run as (ours when unnamed).
                    let ids =
                        crate::evloop::process::resolve_user(user.as_deref(), group.as_deref());
                    let (uid, gid) = match ids {
                        Ok((u, g)) => (
                            u.unwrap_or_else(sfs::geteuid),
                            g.unwrap_or_else(sfs::getegid),
                        ),
                        Err(m) => return failed(lua, m),
                    };
                    match tree::claim(&tree::root(), &name, uid, gid, private == Some(true)) {
                        Ok(()) => Ok((Value::Number(uid.into()), Value::Nil)),
                        Err(e) => failed(lua, e.to_string()),
                    }
                }),
            ),
            (
                "mode",
                // The permission bits of a file (following symlinks): enough
                // to tell a private tree (`.<name>/` is 0700) or a
                // credentials file readable by others.
                binding!(|lua, path: LuaString| {
                    let p = path.as_bytes();
                    match crate::sys::fs::cstr(&p).and_then(|c| crate::sys::fs::stat_path(&c)) {
                        Ok(m) => Ok((Value::Number(f64::from(m.perm)), Value::Nil)),
                        Err(e) => failed(
                            lua,
                            format!(
                                "{}: {}",
                                String::from_utf8_lossy(&p),
                                crate::sys::proc::error_text(&e)
                            ),
                        ),
                    }
                }),
            ),
            (
                "prepare-root",
                binding!(|lua, group: Option<String>| {
                    // The group named `group`, if /etc/group has it.
                    let gid = group.and_then(|g| {
                        let text = std::fs::read_to_string("/etc/group").unwrap_or_default();
                        crate::evloop::process::group_lookup(&text, &g)
                    });
                    match tree::prepare_root(&tree::root(), gid) {
                        Ok(m) => Ok((
                            m.publishers
                                .map_or(Value::Boolean(false), |g| Value::Number(g.into())),
                            Value::String(lua.create_string(m.notes)?),
                        )),
                        Err(e) => failed(lua, e.to_string()),
                    }
                }),
            ),
            (
                "lock-root",
                binding!(|lua, ()| match tree::lock_root(&tree::root()) {
                    Ok(fd) => {
                        // Held for the life of the process: the kernel
                        // releases it when we die, however we die.
                        std::mem::forget(fd);
                        Ok((Value::Number(sfs::geteuid().into()), Value::Nil))
                    }
                    Err(e) => failed(lua, e.to_string()),
                }),
            ),
            (
                "write-file",
                binding!(
                    |lua, (path, content, mode): (LuaString, LuaString, Option<u32>)| {
                        let p = path.as_bytes();
                        let path = Path::new(OsStr::from_bytes(&p));
                        match crate::sys::fs::write_file(
                            path,
                            &content.as_bytes(),
                            mode.unwrap_or(0o644),
                        ) {
                            Ok(()) => Ok((Value::Boolean(true), Value::Nil)),
                            Err(e) => failed(lua, format!("write-file {}: {e}", path.display())),
                        }
                    },
                ),
            ),
        ],
    )?;
    Ok(())
}

/// `(set-value name path value)`: one value of a tree changed (directories
/// made on the way), read and published under the service's lock, so that
/// concurrent changes of one tree never lose each other's; `true` or `nil, msg`.
fn set_value(
    lua: &Lua,
    name: &LuaString,
    path: &LuaString,
    value: &LuaString,
) -> Result<(Value, Value)> {
    let (name, path) = match (
        text("publish", "service name", name),
        text("set", "path", path),
    ) {
        (Ok(n), Ok(p)) => (n, p),
        (Err(m), _) | (_, Err(m)) => return failed(lua, m),
    };
    let keys = match key::split_path(&path) {
        Ok(k) if !k.is_empty() => k,
        Ok(_) => return failed(lua, format!("{name}: empty path")),
        Err((k, e)) => return failed(lua, format!("{name}/{path}: invalid key {k}: {e}")),
    };
    let value = value.as_bytes().to_vec();
    let mut set = |t: Option<Node>| {
        let mut t = t.unwrap_or_else(|| Node::Dir(BTreeMap::new()));
        tree::set_value(&mut t, &keys, value.clone(), &name)?;
        Ok(Some(t))
    };
    match tree::update(&tree::root(), &name, false, &mut set) {
        Ok(_) => Ok((Value::Boolean(true), Value::Nil)),
        Err(e) => failed(lua, e.to_string()),
    }
}

/// A service name or key path from Lua as UTF-8; a clear message otherwise
/// (a valid one is ASCII anyway, the tree layer checks the rest).
fn text(op: &str, what: &str, s: &LuaString) -> std::result::Result<String, String> {
    let b = s.as_bytes();
    match std::str::from_utf8(&b) {
        Ok(t) => Ok(t.to_owned()),
        Err(_) => Err(format!("{op}: bad {what} {}: not UTF-8", key::show(&b))),
    }
}

fn failed(lua: &Lua, msg: String) -> Result<(Value, Value)> {
    Ok((Value::Nil, Value::String(lua.create_string(msg)?)))
}

/// A refused tree: the message, already naming the service and key path.
pub struct Bad(pub String);

/// Converts the table a script publishes: strings as they are, numbers as
/// Lua prints them, booleans as `yes`/`no`, tables as directories (sequence
/// indices become `1`, `2`, ...). Anything else, or a key that is not a
/// valid key or positive integer, is refused with its key path.
pub fn lua_to_node(lua: &Lua, t: &Table, name: &str) -> std::result::Result<Node, Bad> {
    let mut path = Vec::new();
    let mut entries = 0;
    table_to_node(lua, t, name, &mut path, &mut entries)
}

fn table_to_node(
    lua: &Lua,
    t: &Table,
    name: &str,
    path: &mut Vec<String>,
    entries: &mut usize,
) -> std::result::Result<Node, Bad> {
    // "publish NAME: WHAT at PATH[: WHY]", the shape `tree::validate_tree` uses.
    let bad = |path: &[String], what: String, why: &str| {
        let sep = if why.is_empty() { "" } else { ": " };
        Bad(format!(
            "publish {name}: {what} at {}{sep}{why}",
            key::show_path(path)
        ))
    };
    if path.len() > MAX_DEPTH {
        return Err(Bad(format!(
            "publish {name}: tree nested deeper than {MAX_DEPTH} (a table containing itself?) at {}",
            key::show_path(&path[..MAX_DEPTH])
        )));
    }
    let mut map = BTreeMap::new();
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|e| Bad(format!("publish {name}: {e}")))?;
        let k = match k {
            Value::String(s) => {
                let b = s.as_bytes();
                match key::validate_key(&b) {
                    Ok(()) => String::from_utf8_lossy(&b).into_owned(),
                    Err(e) => {
                        return Err(bad(
                            path,
                            format!("bad key {}", key::show(&b)),
                            &e.to_string(),
                        ))
                    }
                }
            }
            Value::Integer(i) if i >= 1 => i.to_string(),
            Value::Number(n) if n >= 1.0 && n.fract() == 0.0 && n < 9.007_199_254_740_992e15 => {
                (n as i64).to_string()
            }
            Value::Integer(i) => {
                return Err(bad(
                    path,
                    format!("bad key {i}"),
                    "numeric keys must be positive integers",
                ))
            }
            Value::Number(n) => {
                return Err(bad(
                    path,
                    format!("bad key {n}"),
                    "numeric keys must be positive integers",
                ))
            }
            other => {
                return Err(bad(
                    path,
                    format!("bad key of type {}", other.type_name()),
                    "",
                ))
            }
        };
        *entries += 1;
        if *entries > MAX_ENTRIES {
            return Err(Bad(format!(
                "publish {name}: tree has more than {MAX_ENTRIES} entries"
            )));
        }
        path.push(k);
        let node = match v {
            Value::Table(sub) => table_to_node(lua, &sub, name, path, entries)?,
            Value::Boolean(b) => Node::Value(if b { b"yes".to_vec() } else { b"no".to_vec() }),
            Value::String(s) => {
                let b = s.as_bytes();
                if b.len() > MAX_VALUE {
                    return Err(Bad(format!(
                        "publish {name}: value at {} is {} bytes (max {MAX_VALUE})",
                        key::show_path(path),
                        b.len()
                    )));
                }
                Node::Value(b.to_vec())
            }
            n @ (Value::Integer(_) | Value::Number(_)) => match lua.coerce_string(n) {
                Ok(Some(s)) => Node::Value(s.as_bytes().to_vec()),
                _ => return Err(bad(path, "bad number".into(), "")),
            },
            other => {
                return Err(bad(
                    path,
                    format!("bad value of type {}", other.type_name()),
                    "",
                ))
            }
        };
        if map.contains_key(path.last().map(String::as_str).unwrap_or("")) {
            // `[1]` and `["1"]` in one table would be one file: refuse, not pick one.
            let k = path.pop().unwrap_or_default();
            return Err(bad(
                path,
                format!("duplicate key {}", key::show(k.as_bytes())),
                "both 1 and \"1\"-style keys",
            ));
        }
        let k = path.pop().unwrap_or_default();
        map.insert(k, node);
    }
    Ok(Node::Dir(map))
}

/// Keys Lua should see as integers: `1`, `2`, ... written canonically (no
/// sign, no leading zero, at most 15 digits so the double is exact). Then
/// `ipairs`, `#` and `(. t 1)` work on what was a sequence; a key like `01`
/// stays a string, so nothing read can collide.
fn index_key(k: &[u8]) -> Option<i64> {
    if k.is_empty() || k.len() > 15 || k[0] == b'0' || !k.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(k.iter().fold(0i64, |n, &d| n * 10 + (d - b'0') as i64))
}

const DIR_META: &str = "upd.tree.dir";

/// The metatable of every directory table `upd.read` returns: Fennel's
/// `tree.rdnss.1` means `tree.rdnss["1"]`, so a string index key missing
/// from the table is looked up (and assigned) as the integer key. One table
/// per Lua state, made on first use.
fn dir_meta(lua: &Lua) -> Result<Table> {
    if let Some(t) = lua.named_registry_value::<Option<Table>>(DIR_META)? {
        return Ok(t);
    }
    let meta = lua.create_table()?;
    meta.raw_set(
        "__index",
        function(
            lua,
            binding!(|_, (t, k): (Table, Value)| match &k {
                Value::String(s) => match index_key(&s.as_bytes()) {
                    Some(i) => t.raw_get::<Value>(i),
                    None => Ok(Value::Nil),
                },
                _ => Ok(Value::Nil),
            }),
        )?,
    )?;
    meta.raw_set(
        "__newindex",
        function(
            lua,
            binding!(|_, (t, k, v): (Table, Value, Value)| {
                let i = match &k {
                    Value::String(s) => index_key(&s.as_bytes()),
                    _ => None,
                };
                match i {
                    Some(i) => t.raw_set(i, v),
                    None => t.raw_set(k, v),
                }
            }),
        )?,
    )?;
    lua.set_named_registry_value(DIR_META, &meta)?;
    Ok(meta)
}

/// A snapshot as the nested Lua table `upd.read` returns: directories are
/// tables, values are strings; digit keys become integer keys (`index_key`),
/// also reachable as strings through the metatable (`dir_meta`).
pub fn node_to_lua(lua: &Lua, node: &crate::tree::Node) -> Result<Value> {
    match node {
        Node::Value(v) => Ok(Value::String(lua.create_string(v)?)),
        Node::Dir(_) => to_lua(lua, node, &dir_meta(lua)?),
    }
}

fn to_lua(lua: &Lua, node: &Node, meta: &Table) -> Result<Value> {
    match node {
        Node::Value(v) => Ok(Value::String(lua.create_string(v)?)),
        Node::Dir(m) => {
            let t = lua.create_table()?;
            for (k, n) in m {
                let v = to_lua(lua, n, meta)?;
                match index_key(k.as_bytes()) {
                    Some(i) => t.raw_set(i, v)?,
                    None => t.raw_set(k.as_str(), v)?,
                }
            }
            t.set_metatable(Some(meta.clone()))?;
            Ok(Value::Table(t))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one test here that sets UPD_ROOT (process-wide): the bindings read it at each call.
    #[test]
    fn bindings_on_disk() {
        let dir = std::env::temp_dir().join(format!("upd-treeapi-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::env::set_var("UPD_ROOT", &dir);
        let lua = Lua::new();
        let core = lua.create_table().unwrap();
        register(&lua, &core).unwrap();
        lua.globals().set("core", core).unwrap();
        lua.globals().set("dir", dir.to_str().unwrap()).unwrap();
        let r: mlua::Result<String> = lua
            .load(
                r#"
                assert(core.root() == dir)
                assert(core.read("eth0") == nil)
                assert(core.publish("eth0", {mtu = 1500, addresses = {{address = "10.0.0.1"}}}) == true)
                assert(core.publish("lan", {state = "up"}, {private = true}) == true)
                local root = core.root()
                assert(core.mode(root .. "/.lan") == 448 and core.mode(root .. "/.eth0") == 493)
                local none, msg = core.mode(root .. "/.nothing")
                assert(none == nil and msg == root .. "/.nothing: No such file or directory", msg)
                local t = core.read("eth0")
                assert(t.mtu == "1500" and t.addresses[1].address == "10.0.0.1")
                assert(core.read("eth0", "addresses/1/address") == "10.0.0.1")
                assert(core.read("eth0", "addresses/1").address == "10.0.0.1")
                assert(core.read("eth0", "nothing/here") == nil)
                assert(core.read("eth0", "mtu/below") == nil)
                local v, msg = core.read("eth0", "a/../b")
                assert(v == nil and msg:find("bad key", 1, true), msg)
                local l = core.list()
                assert(#l == 2 and l[1] == "eth0" and l[2] == "lan")
                local ok, err = core.publish("eth0", {["a/b"] = 1})
                assert(ok == nil and err:find('publish eth0: bad key "a/b" at top level', 1, true), err)
                assert(core.read("eth0", "mtu") == "1500")
                ok, err = core.publish(".x", {})
                assert(ok == nil and err:find("bad service name", 1, true), err)
                ok, err = core.publish("\255", {})
                assert(ok == nil and err == 'publish: bad service name "\\xff": not UTF-8', err)
                ok, err = core.read("eth0", "a\255")
                assert(ok == nil and err:find("not UTF-8", 1, true), err)
                assert(core.withdraw("eth0") == true)
                assert(core.read("eth0") == nil and #core.list() == 1)
                assert(core["write-file"](dir .. "/plain", "hello", 384) == true)
                ok, err = core["write-file"](dir .. "/missing/x", "hello")
                assert(ok == nil and err:find("write-file", 1, true), err)
                return "ok"
            "#,
            )
            .eval();
        assert_eq!(r.unwrap(), "ok");
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(dir.join("plain")).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(dir.join("plain")).unwrap(), b"hello");
        let m = std::fs::metadata(dir.join(".lan")).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o700);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn index_keys() {
        assert_eq!(index_key(b"1"), Some(1));
        assert_eq!(index_key(b"42"), Some(42));
        assert_eq!(index_key(b"999999999999999"), Some(999_999_999_999_999));
        assert_eq!(index_key(b"01"), None);
        assert_eq!(index_key(b"0"), None);
        assert_eq!(index_key(b"-1"), None);
        assert_eq!(index_key(b"1a"), None);
        assert_eq!(index_key(b""), None);
        assert_eq!(index_key(b"1234567890123456"), None);
    }

    #[test]
    fn conversion_both_ways() {
        let lua = Lua::new();
        let t: Table = lua
            .load(
                r#"return {mtu = 1500, up = true, down = false, ratio = 0.5, name = "eth0",
                             addresses = {{address = "10.0.0.1", length = 24}, {address = "::1"}},
                             empty = {}, [3] = "three", ["x:y"] = "z"}"#,
            )
            .eval()
            .unwrap();
        let node = lua_to_node(&lua, &t, "eth0").ok().unwrap();
        let v = |s: &str| Node::Value(s.as_bytes().to_vec());
        let Node::Dir(m) = &node else { panic!() };
        assert_eq!(m["mtu"], v("1500"));
        assert_eq!(m["up"], v("yes"));
        assert_eq!(m["down"], v("no"));
        assert_eq!(m["ratio"], v("0.5"));
        assert_eq!(m["3"], v("three"));
        assert_eq!(m["empty"], Node::Dir(BTreeMap::new()));
        assert_eq!(
            tree::lookup(&node, &["addresses", "2", "address"]),
            Some(&v("::1"))
        );
        let back = node_to_lua(&lua, &node).unwrap();
        lua.globals().set("t", back).unwrap();
        let ok: bool = lua
            .load(
                r#"return t.addresses[1].address == "10.0.0.1" and #t.addresses == 2
                         and t[3] == "three" and t.mtu == "1500" and t.up == "yes"
                         and next(t.empty) == nil and t["x:y"] == "z"
                         and t.addresses["2"].address == "::1" and t["3"] == "three"
                         and rawget(t, "3") == nil and t["03"] == nil"#,
            )
            .eval()
            .unwrap();
        assert!(ok);
        // Assigning through a string index replaces the integer key (what
        // `upd set` does to a tree it read), so publishing it back works.
        let again: Table = lua
            .load(r#"t.addresses["1"] = "x"; t["9"] = "nine"; return t"#)
            .eval()
            .unwrap();
        let node = lua_to_node(&lua, &again, "eth0").ok().unwrap();
        assert_eq!(tree::lookup(&node, &["addresses", "1"]), Some(&v("x")));
        assert_eq!(tree::lookup(&node, &["9"]), Some(&v("nine")));
        let n: i64 = lua
            .load("local n = 0 for _ in pairs(t.addresses) do n = n + 1 end return n")
            .eval()
            .unwrap();
        assert_eq!(n, 2, "no duplicate string key");
    }

    #[test]
    fn conversion_errors_name_the_path() {
        let lua = Lua::new();
        let err = |src: &str| {
            let t: Table = lua.load(src).eval().unwrap();
            match lua_to_node(&lua, &t, "eth0") {
                Ok(_) => String::from("accepted"),
                Err(Bad(m)) => m,
            }
        };
        assert_eq!(
            err(r#"return {addresses = {{["a/b"] = 1}}}"#),
            "publish eth0: bad key \"a/b\" at addresses/1: '/' not allowed (letters, digits, '.', '_', '-', ':')"
        );
        assert!(
            err(r#"return {[".."] = 1}"#).starts_with("publish eth0: bad key \"..\" at top level")
        );
        assert!(err(r#"return {a = {[1.5] = 1}}"#)
            .contains("bad key 1.5 at a: numeric keys must be positive integers"));
        assert!(err(r#"return {a = {[0] = 1}}"#).contains("bad key 0"));
        assert!(err(r#"return {a = {[true] = 1}}"#).contains("bad key of type boolean at a"));
        assert!(err(r#"return {a = {f = print}}"#).contains("bad value of type function at a/f"));
        assert!(err(r#"return {a = string.rep("x", 65537)}"#)
            .contains("value at a is 65537 bytes (max 65536)"));
        assert!(err(r#"local t = {} t.self = t return t"#).contains("nested deeper than 32"));
        assert!(
            err(r#"local t = {} for i = 1, 5000 do t[i] = i end return t"#)
                .contains("more than 4096 entries")
        );
        assert_eq!(err(r#"return {a = string.rep("x", 65536)}"#), "accepted");
        assert!(
            err(r#"return {a = {[1] = "x", ["1"] = "y"}}"#).contains("duplicate key \"1\" at a")
        );
    }
}
