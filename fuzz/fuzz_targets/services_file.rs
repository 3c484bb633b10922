//! The services file loader (`upd.config`'s load-string, in the real Lua state):
//! arbitrary text must give either a list of services or one `FILE:LINE:
//! message` line, never a Lua error escaping, never a crash.
#![no_main]
use libfuzzer_sys::fuzz_target;

thread_local! {
    static LUA: (mlua::Lua, mlua::Function) = {
        let lua = upd::lua::new_state().expect("lua state");
        let parse: mlua::Function = lua
            .load(
                "local c = require('upd.config')
                 local opts = {['module?'] = function() return true end,
                               ['file?'] = function() return false end}
                 return function(text, file) return c['load-string'](text, file, opts) end",
            )
            .call(())
            .expect("upd.config");
        (lua, parse)
    };
}

fuzz_target!(|data: &[u8]| {
    LUA.with(|(lua, parse)| {
        let text = lua.create_string(data).unwrap();
        let (services, msg): (mlua::Value, Option<mlua::LuaString>) = parse
            .call((text, "services.fnl"))
            .expect("load-string raised instead of returning nil, msg");
        match services {
            mlua::Value::Table(_) => assert!(msg.is_none()),
            mlua::Value::Nil => {
                // The parser may quote the offending bytes: compare bytes.
                let msg = msg.expect("nil without a message");
                let msg = msg.as_bytes();
                assert!(msg.starts_with(b"services.fnl:"));
                assert!(!msg.contains(&b'\n'), "more than one line");
            }
            other => panic!("load-string returned {other:?}"),
        }
        lua.gc_collect().ok();
    });
});
